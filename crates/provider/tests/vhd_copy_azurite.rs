//! The VHD copy against a real Azurite (3.35, x-ms-version pinned): a page blob is copied
//! server-side, progress read back, the length verified, and abort after completion reported.
#![allow(clippy::unwrap_used)]

use azop_provider::vhd_copy::{BlobAuth, BlobClient, CopyStatus, CopyVerdict, verdict};
use azop_provider::{AzureError, SecretString};
use azop_testenv::Azurite;

#[tokio::test]
async fn a_page_blob_is_copied_and_verified() {
    let azurite = Azurite::start().await.unwrap();
    let account = azurite.account("devstoreaccount1").unwrap().clone();
    let endpoint = url::Url::parse(&azurite.blob_endpoint(&account.name)).unwrap();
    let client = BlobClient::new(
        endpoint.clone(),
        BlobAuth::SharedKey {
            account: account.name.clone(),
            key: SecretString::new(account.key.clone()),
        },
    )
    .unwrap();

    // A tiny "VHD": 1 MiB of data + a 512-byte footer, as a page blob.
    let length: u64 = 1024 * 1024 + 512;
    client.create_container("source").await.unwrap();
    client.create_container("vhds").await.unwrap();
    client.create_container("vhds").await.unwrap(); // idempotent
    client
        .create_page_blob("source", "base.vhd", length)
        .await
        .unwrap();
    let pattern: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    client
        .put_pages("source", "base.vhd", 0, pattern)
        .await
        .unwrap();
    client
        .put_pages("source", "base.vhd", length - 512, vec![0xc0; 512])
        .await
        .unwrap();

    let source = endpoint
        .join(&format!(
            "{}/source/base.vhd",
            endpoint.path().trim_matches('/')
        ))
        .unwrap();
    let source = url::Url::parse(&format!(
        "{}/source/base.vhd",
        azurite.blob_endpoint(&account.name)
    ))
    .unwrap_or(source);
    let started = client
        .start_copy("vhds", "base.vhd", &source, None)
        .await
        .unwrap();
    assert!(
        matches!(started.status, CopyStatus::Pending | CopyStatus::Success),
        "{started:?}"
    );
    let copy_id = started.copy_id.clone().unwrap();

    let progress = client.copy_progress("vhds", "base.vhd").await.unwrap();
    assert_eq!(
        progress.status,
        CopyStatus::Success,
        "Azurite copies at once"
    );
    assert_eq!(progress.copy_id.as_deref(), Some(copy_id.as_str()));
    assert_eq!(progress.total_bytes, length);
    assert_eq!(progress.bytes_copied, length);
    assert_eq!(
        verdict(&progress, Some(length)),
        CopyVerdict::Verified { length }
    );
    assert!(matches!(
        verdict(&progress, Some(length + 512)),
        CopyVerdict::Failed(_)
    ));

    // Aborting a finished copy is refused by the service, with its code.
    let err = client
        .abort_copy("vhds", "base.vhd", &copy_id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoPendingCopyOperation"), "{err:?}");

    // A blob that never received a copy has no copy status.
    client
        .create_page_blob("vhds", "empty.vhd", 512)
        .await
        .unwrap();
    assert!(client.copy_progress("vhds", "empty.vhd").await.is_err());

    // A private source in another account without SAS cannot be read: CannotVerifyCopySource.
    let other = azurite.account("azopsource").unwrap().clone();
    let other_client = BlobClient::new(
        url::Url::parse(&azurite.blob_endpoint(&other.name)).unwrap(),
        BlobAuth::SharedKey {
            account: other.name.clone(),
            key: SecretString::new(other.key.clone()),
        },
    )
    .unwrap();
    other_client.create_container("private").await.unwrap();
    other_client
        .create_page_blob("private", "x.vhd", 512)
        .await
        .unwrap();
    let private_src = url::Url::parse(&format!(
        "{}/private/x.vhd",
        azurite.blob_endpoint(&other.name)
    ))
    .unwrap();
    let err = client
        .start_copy("vhds", "x.vhd", &private_src, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("CannotVerifyCopySource"), "{err:?}");

    // A wrong account key is an auth failure, and the key never shows in the error.
    let bad = BlobClient::new(
        endpoint,
        BlobAuth::SharedKey {
            account: account.name.clone(),
            key: SecretString::new("d3Jvbmcta2V5LXdyb25nLWtleQ=="),
        },
    )
    .unwrap();
    let err = bad.copy_progress("vhds", "base.vhd").await.unwrap_err();
    assert!(matches!(err, AzureError::Auth { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("d3Jvbmcta2V5"));
}
