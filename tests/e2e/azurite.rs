//! Azurite: a page blob (a VHD's shape) copied across storage accounts with Copy Blob.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use azop_e2e::blob::{BlobClient, BlobError};
use azop_testenv::{Azurite, Check, wait_for};
use rand::RngCore;

const MIB: usize = 1024 * 1024;

fn client(az: &Azurite, account: &str) -> anyhow::Result<BlobClient> {
    let a = az
        .account(account)
        .with_context(|| format!("account {account}"))?;
    Ok(BlobClient::new(az.endpoint(), &a.name, &a.key)?)
}

#[tokio::test]
async fn page_blob_is_copied_across_accounts() -> anyhow::Result<()> {
    let az = Azurite::start().await?;
    let src = client(&az, "azopsource")?;
    let dst = client(&az, "azoptarget")?;
    src.create_container("images").await?;
    dst.create_container("vhds").await?;

    // A VHD's shape: N × 1 MiB of disk plus a 512-byte footer.
    let size = 3 * MIB + 512;
    let mut data = vec![0u8; size];
    rand::rng().fill_bytes(&mut data);
    src.create_page_blob("images", "base.vhd", size as u64)
        .await?;
    for (i, chunk) in data.chunks(MIB).enumerate() {
        src.put_page("images", "base.vhd", (i * MIB) as u64, chunk.to_vec())
            .await?;
    }
    let props = src.properties("images", "base.vhd").await?;
    ensure!(
        props.blob_type == "PageBlob" && props.length == size as u64,
        "source: {props:?}"
    );

    // Across accounts the source must be authorised, as on Azure: without a SAS → 403.
    let bare = src.url("images/base.vhd");
    match dst.start_copy("vhds", "denied.vhd", &bare).await {
        Err(BlobError::Status { status, body, .. }) => {
            ensure!(status.as_u16() == 403, "expected 403, got {status}: {body}");
            ensure!(
                body.contains("CannotVerifyCopySource"),
                "unexpected error body: {body}"
            );
        }
        other => anyhow::bail!("copy without SAS should be refused, got {other:?}"),
    }

    let source = format!("{bare}?{}", src.account_sas("r"));
    let first = dst.start_copy("vhds", "copy.vhd", &source).await?;
    ensure!(
        first == "pending" || first == "success",
        "copy status {first}"
    );
    let status = wait_for(
        "copy of base.vhd to finish",
        Duration::from_secs(30),
        || async {
            match dst.properties("vhds", "copy.vhd").await {
                Ok(p) => match p.copy_status.as_deref() {
                    Some("pending") | None => Check::Pending(format!(
                        "status {:?}, progress {:?}",
                        p.copy_status, p.copy_progress
                    )),
                    Some(s) => Check::Done(s.to_string()),
                },
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;
    ensure!(status == "success", "copy ended with {status}");

    let props = dst.properties("vhds", "copy.vhd").await?;
    ensure!(
        props.blob_type == "PageBlob" && props.length == size as u64,
        "copy: {props:?}"
    );
    let copied = dst.get("vhds", "copy.vhd").await?;
    ensure!(
        copied.len() == data.len(),
        "length {} != {}",
        copied.len(),
        data.len()
    );
    ensure!(copied == data, "copied bytes differ from the source");
    Ok(())
}

#[tokio::test]
async fn shared_key_with_the_wrong_key_is_refused() -> anyhow::Result<()> {
    let az = Azurite::start().await?;
    let other_key = &az.account("azoptarget").context("account")?.key;
    let wrong = BlobClient::new(az.endpoint(), "azopsource", other_key)?;
    match wrong.create_container("nope").await {
        Err(BlobError::Status { status, .. }) => {
            ensure!(status.as_u16() == 403, "expected 403, got {status}")
        }
        other => anyhow::bail!("expected 403, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn azurite_stops_and_cleans_up_on_drop() -> anyhow::Result<()> {
    let az = Azurite::start().await?;
    let pid = az.pid().context("pid")?;
    let dir = az.dir().to_path_buf();
    ensure!(dir.join("azurite.json").exists(), "azurite.json missing");
    drop(az);
    ensure!(
        !azop_testenv::process::is_running(pid),
        "azurite {pid} still running after drop"
    );
    ensure!(!dir.exists(), "{} not removed", dir.display());
    Ok(())
}
