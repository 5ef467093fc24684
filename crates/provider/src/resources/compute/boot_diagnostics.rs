//! A VM's boot diagnostics: `retrieveBootDiagnosticsData` (a POST action that answers SAS
//! URIs of the serial console log and the screenshot, in the storage Azure manages for boot
//! diagnostics) and the serial log's tail. azop turns boot diagnostics on for every VM it
//! creates ([`super::virtual_machine`]) and reads the log of a machine that does not join.

use super::API_VERSION;
use super::virtual_machine::{VirtualMachine, VirtualMachineKey};
use crate::arm::{ArmRequest, ArmSession};
use crate::error::AzureError;
use crate::resources::ArmResource;
use azure_core::Method;
use serde::Deserialize;

/// Longest serial log read (the tail is what counts; a VM's console can grow large).
const MAX_LOG_BYTES: usize = 4 * 1024 * 1024;

/// What `retrieveBootDiagnosticsData` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootDiagnosticsUris {
    pub serial_console_log_blob_uri: Option<String>,
    pub console_screenshot_blob_uri: Option<String>,
}

/// SAS URIs of VM `key`'s boot diagnostics, valid for `minutes` (1–1440).
pub async fn retrieve(
    session: &ArmSession,
    key: &VirtualMachineKey,
    minutes: u32,
) -> Result<BootDiagnosticsUris, AzureError> {
    let path = format!(
        "{}/retrieveBootDiagnosticsData",
        VirtualMachine::path(session.subscription_id(), key)
    );
    let mut url = session.url(&path, API_VERSION)?;
    url.query_pairs_mut().append_pair(
        "sasUriExpirationTimeInMinutes",
        &minutes.clamp(1, 1440).to_string(),
    );
    let resp = session
        .send(ArmRequest {
            method: Method::Post,
            url,
            body: None,
            headers: vec![("content-length".into(), "0".into())],
        })
        .await?;
    if !resp.is_success() {
        return Err(resp.to_error());
    }
    resp.parse("the boot diagnostics URIs")
}

/// The serial console log behind a SAS URI, the last `MAX_LOG_BYTES` of it. The URI carries
/// its own authorization: it is fetched without ARM's bearer token.
pub async fn serial_log(uri: &str) -> Result<String, AzureError> {
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| AzureError::config(format!("failed to build an http client: {e}")))?;
    let where_ = uri.split('?').next().unwrap_or(uri).to_string();
    let resp = http.get(uri).send().await.map_err(|e| {
        AzureError::transient(
            "SerialLogUnreadable",
            format!("failed to read the serial console log {where_}: {e}"),
        )
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(AzureError::transient(
            "SerialLogUnreadable",
            format!("reading the serial console log {where_} answered {status}"),
        ));
    }
    let bytes = resp.bytes().await.map_err(|e| {
        AzureError::transient(
            "SerialLogUnreadable",
            format!("failed to read the serial console log {where_}: {e}"),
        )
    })?;
    let start = bytes.len().saturating_sub(MAX_LOG_BYTES);
    Ok(String::from_utf8_lossy(&bytes[start..]).into_owned())
}

/// The last `lines` lines of a serial log that say something, at most `max_chars`
/// characters, without terminal escapes (systemd colours its status lines) or carriage
/// returns. Pure.
pub fn tail(log: &str, lines: usize, max_chars: usize) -> String {
    let clean = strip_escapes(log);
    let kept: Vec<&str> = clean
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut out = kept[kept.len().saturating_sub(lines)..].join("\n");
    if out.chars().count() > max_chars {
        let skip = out.chars().count() - max_chars;
        out = format!("…{}", out.chars().skip(skip + 1).collect::<String>());
    }
    out
}

/// Removes ANSI escape sequences (`ESC [ … letter`) and other control characters but
/// newlines and tabs.
fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_control() && c != '\n' && c != '\t' {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines_without_colours() {
        let log = "boot\r\n[  OK  ] Started \u{1b}[0;1;39mkubelet\u{1b}[0m.\r\n\r\nc-w-0 login: \r\nazop: kubeadm join failed\r\n";
        assert_eq!(
            tail(log, 2, 1000),
            "c-w-0 login:\nazop: kubeadm join failed"
        );
        assert_eq!(
            tail(log, 10, 1000).lines().nth(1),
            Some("[  OK  ] Started kubelet.")
        );
    }

    #[test]
    fn a_long_tail_is_cut_at_the_front() {
        let log = "x".repeat(50) + "\nthe end";
        let t = tail(&log, 5, 20);
        assert!(t.starts_with('…') && t.ends_with("the end"), "{t}");
        assert_eq!(t.chars().count(), 20);
    }

    #[test]
    fn the_action_answer_is_read() {
        let v: BootDiagnosticsUris = serde_json::from_value(serde_json::json!({
            "consoleScreenshotBlobUri": "https://a/b.bmp?sig=1",
            "serialConsoleLogBlobUri": "https://a/b.log?sig=2"
        }))
        .unwrap_or_default();
        assert_eq!(
            v.serial_console_log_blob_uri.as_deref(),
            Some("https://a/b.log?sig=2")
        );
    }
}
