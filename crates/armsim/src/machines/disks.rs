//! Guests' disks. An image's VHD is read once from the blob the image names (Azurite, the
//! bytes a StorageBinding copied there) into a local file; each OS disk is a copy-on-write
//! qcow2 over it, grown to the disk's size, as Azure makes a managed disk from an image.

use crate::config::BlobService;
use crate::types::blob_data::{rfc1123_now, shared_key};
use std::path::Path;

/// The blob API version spoken to Azurite (the data plane's, as in `blob_data`).
const VERSION: &str = "2024-11-04";
/// Bytes per ranged read.
const CHUNK: u64 = 4 * 1024 * 1024;

/// Where `blob_uri` lives: the account (with its key) and the path, when the simulator's
/// Azurite serves it.
fn locate<'a>(blob: &'a BlobService, blob_uri: &str) -> Result<(&'a str, &'a str, String), String> {
    let u = url::Url::parse(blob_uri).map_err(|e| format!("bad blob URI {blob_uri}: {e}"))?;
    let base = url::Url::parse(&blob.endpoint)
        .map_err(|e| format!("bad blob endpoint {}: {e}", blob.endpoint))?;
    if u.host_str() != base.host_str() || u.port_or_known_default() != base.port_or_known_default()
    {
        return Err(format!(
            "{blob_uri} is not served by the simulator's blob service ({}): no bytes to boot",
            blob.endpoint
        ));
    }
    let path = u.path().to_string();
    let account = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let (name, key) = blob
        .pool
        .iter()
        .find(|(n, _)| n == account)
        .ok_or_else(|| format!("{blob_uri}: account {account} is not one of the simulator's"))?;
    Ok((name.as_str(), key.as_str(), path))
}

async fn get(
    client: &reqwest::Client,
    blob: &BlobService,
    account: &str,
    key: &str,
    path: &str,
    query: &[(&str, &str)],
    range: Option<(u64, u64)>,
) -> Result<reqwest::Response, String> {
    let date = rfc1123_now();
    let range_value = range.map(|(a, b)| format!("bytes={a}-{b}"));
    let mut headers: Vec<(&str, &str)> = vec![("x-ms-date", &date), ("x-ms-version", VERSION)];
    if let Some(r) = &range_value {
        headers.push(("x-ms-range", r));
    }
    let (sig, qs) = shared_key(account, key, "GET", path, &headers, query)?;
    let url = if qs.is_empty() {
        format!("{}{path}", blob.endpoint)
    } else {
        format!("{}{path}?{qs}", blob.endpoint)
    };
    let mut req = client
        .get(&url)
        .header("Authorization", format!("SharedKey {account}:{sig}"));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("GET {url}: {status} {body:.300}"));
    }
    Ok(resp)
}

/// `(start, end)` (inclusive) of each `<PageRange>` in a Get Page Ranges answer.
pub fn page_ranges(xml: &str) -> Vec<(u64, u64)> {
    let field = |s: &str, tag: &str| -> Option<u64> {
        let open = format!("<{tag}>");
        let a = s.find(&open)? + open.len();
        let b = s[a..].find(&format!("</{tag}>"))? + a;
        s[a..b].trim().parse().ok()
    };
    xml.split("<PageRange>")
        .skip(1)
        .filter_map(|r| Some((field(r, "Start")?, field(r, "End")?)))
        .collect()
}

/// Reads the page blob `blob_uri` into `dest` (sparse: only the written pages are fetched)
/// and checks it is a VHD (its footer's `conectix` cookie). Returns its size in bytes.
pub async fn fetch_vhd(blob: &BlobService, blob_uri: &str, dest: &Path) -> Result<u64, String> {
    use std::os::unix::fs::FileExt;
    let (account, key, path) = locate(blob, blob_uri)?;
    let client = reqwest::Client::new();
    let resp = get(
        &client,
        blob,
        account,
        key,
        &path,
        &[("comp", "pagelist")],
        None,
    )
    .await?;
    let size: u64 = resp
        .headers()
        .get("x-ms-blob-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{blob_uri}: no x-ms-blob-content-length (not a page blob?)"))?;
    let xml = resp.text().await.map_err(|e| format!("{blob_uri}: {e}"))?;
    let partial = dest.with_extension("partial");
    // Read back too: the footer is checked at the end.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    file.set_len(size)
        .map_err(|e| format!("cannot size {}: {e}", partial.display()))?;
    for (start, end) in page_ranges(&xml) {
        let mut at = start;
        while at <= end {
            let last = (at + CHUNK - 1).min(end);
            let bytes = get(&client, blob, account, key, &path, &[], Some((at, last)))
                .await?
                .bytes()
                .await
                .map_err(|e| format!("{blob_uri}: {e}"))?;
            if bytes.len() as u64 != last - at + 1 {
                return Err(format!(
                    "{blob_uri}: asked for bytes {at}-{last}, got {}",
                    bytes.len()
                ));
            }
            file.write_all_at(&bytes, at)
                .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
            at = last + 1;
        }
    }
    let mut footer = [0u8; 8];
    if size < 512 {
        return Err(format!("{blob_uri} is {size} bytes: not a VHD"));
    }
    file.read_exact_at(&mut footer, size - 512)
        .map_err(|e| format!("cannot read back {}: {e}", partial.display()))?;
    if &footer != b"conectix" {
        return Err(format!(
            "{blob_uri} is not a VHD (no footer): Azure would not boot it either"
        ));
    }
    drop(file);
    std::fs::rename(&partial, dest)
        .map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
    Ok(size)
}

/// A qcow2 over the image's VHD, `size_gb` large (never smaller than the image).
pub async fn overlay(
    qemu_img: &Path,
    base: &Path,
    disk: &Path,
    size_gb: u64,
) -> Result<(), String> {
    let out = tokio::process::Command::new(qemu_img)
        .arg("create")
        .args(["-q", "-f", "qcow2", "-F", "vpc", "-b"])
        .arg(base)
        .arg(disk)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", qemu_img.display()))?;
    if !out.status.success() {
        return Err(format!(
            "qemu-img create: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // Grown to the OS disk's size (cloud-init's growpart takes the root partition there);
    // a size below the image's is refused by qemu-img and the image's size stays.
    let _ = tokio::process::Command::new(qemu_img)
        .arg("resize")
        .args(["-q", "-f", "qcow2"])
        .arg(disk)
        .arg(format!("{size_gb}G"))
        .output()
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_ranges_are_read_from_the_answer() {
        let xml = "<?xml version=\"1.0\"?><PageList><PageRange><Start>0</Start><End>1048575</End></PageRange><PageRange><Start>4194304</Start><End>4194815</End></PageRange></PageList>";
        assert_eq!(
            page_ranges(xml),
            vec![(0, 1_048_575), (4_194_304, 4_194_815)]
        );
        assert!(page_ranges("<PageList/>").is_empty());
    }

    #[test]
    fn only_the_simulators_blob_service_is_read() {
        let b = BlobService {
            endpoint: "http://127.0.0.1:10000".into(),
            pool: vec![("acct".into(), "a2V5".into())],
        };
        assert!(locate(&b, "http://127.0.0.1:10000/acct/vhds/node.vhd").is_ok());
        assert!(locate(&b, "https://x.blob.core.windows.net/vhds/node.vhd").is_err());
        assert!(locate(&b, "http://127.0.0.1:10000/other/vhds/node.vhd").is_err());
    }
}
