//! What a session may send: everything (the operator), or reads only (`azop plan`, the
//! `kubectl azop` plugin).
//!
//! A read-only session is enforced where every request leaves: the ARM pipeline's last
//! policy ([`crate::arm::ArmTransport`]) and the blob data plane's client
//! ([`crate::vhd_copy::BlobClient`]) ask [`Access::allows`] before sending and refuse a write
//! with [`crate::AzureError::WriteRefused`], unsent. So a plan cannot write to Azure whatever
//! code path it takes — a step's `put`, a sweep, a poll — not because each caller remembers
//! not to.
//!
//! Reads are `GET` and `HEAD`, and the few `POST` actions that only read: `listKeys` (the
//! VHD copy is observed on the data plane, which needs the account key) and
//! `checkNameAvailability` (a storage account's globally unique name). Nothing else: a `POST`
//! of any other action, `PUT`, `PATCH` and `DELETE` are writes.

/// What a session may send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Access {
    /// Reads and writes: the operator.
    #[default]
    ReadWrite,
    /// Reads only: every write is refused before it is sent.
    ReadOnly,
}

/// `POST` actions (the last path segment, case-insensitive) that only read.
pub const READ_ACTIONS: &[&str] = &["listKeys", "checkNameAvailability"];

impl Access {
    /// Whether a request with `method` on `path` may be sent. Pure.
    pub fn allows(self, method: &str, path: &str) -> bool {
        self == Access::ReadWrite || is_read(method, path)
    }
}

/// A request that changes nothing: `GET`, `HEAD`, or a `POST` of a read action. Pure.
pub fn is_read(method: &str, path: &str) -> bool {
    if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return true;
    }
    if !method.eq_ignore_ascii_case("POST") {
        return false;
    }
    let action = path
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    READ_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_session_lets_reads_through_and_nothing_else() {
        let acct =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a";
        let table = [
            ("GET", acct, true),
            ("get", acct, true),
            ("HEAD", "/azop-vhds/base.vhd", true),
            ("POST", &format!("{acct}/listKeys") as &str, true),
            ("POST", &format!("{acct}/LISTKEYS/") as &str, true),
            (
                "POST",
                "/subscriptions/s/providers/Microsoft.Storage/checkNameAvailability",
                true,
            ),
            ("POST", &format!("{acct}/regenerateKey") as &str, false),
            (
                "POST",
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c/listClusterAdminCredential",
                false,
            ),
            ("PUT", acct, false),
            ("PATCH", acct, false),
            ("DELETE", acct, false),
            // A read action's name as a resource name is still a PUT.
            ("PUT", "/subscriptions/s/resourceGroups/listKeys", false),
        ];
        for (method, path, read) in table {
            assert_eq!(
                Access::ReadOnly.allows(method, path),
                read,
                "{method} {path}"
            );
            assert!(Access::ReadWrite.allows(method, path), "{method} {path}");
        }
    }
}
