//! The effective `noProxy` list of a ProxyConfig.

/// Entries every effective noProxy list contains: the Azure instance metadata service and wire
/// server (without them nodes and pods cannot start), loopback, and in-cluster names.
pub const ALWAYS_NO_PROXY: &[&str] = &[
    "169.254.169.254",
    "168.63.129.16",
    "localhost",
    "127.0.0.1",
    ".svc",
    ".cluster.local",
];

/// The noProxy list a cluster gets: the user's entries first, in their order, then
/// [`ALWAYS_NO_PROXY`], then the cluster's own CIDRs (VNet, subnets, pods, services). Entries
/// are trimmed, empty ones dropped, and duplicates removed (case-insensitively, keeping the
/// first), so the result is stable and does not churn when nothing changed.
pub fn effective_no_proxy<S: AsRef<str>, C: AsRef<str>>(
    user: &[S],
    cluster_cidrs: &[C],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let candidates = user
        .iter()
        .map(|s| s.as_ref())
        .chain(ALWAYS_NO_PROXY.iter().copied())
        .chain(cluster_cidrs.iter().map(|s| s.as_ref()));
    for entry in candidates {
        let entry = entry.trim();
        if entry.is_empty() || out.iter().any(|e| e.eq_ignore_ascii_case(entry)) {
            continue;
        }
        out.push(entry.to_string());
    }
    out
}

/// [`effective_no_proxy`] joined with commas, as the `NO_PROXY` variable wants it.
pub fn no_proxy_env<S: AsRef<str>, C: AsRef<str>>(user: &[S], cluster_cidrs: &[C]) -> String {
    effective_no_proxy(user, cluster_cidrs).join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_entries_are_added_after_user_entries() {
        let got = effective_no_proxy(&["corp.example.com"], &["10.0.0.0/8"]);
        assert_eq!(
            got,
            vec![
                "corp.example.com",
                "169.254.169.254",
                "168.63.129.16",
                "localhost",
                "127.0.0.1",
                ".svc",
                ".cluster.local",
                "10.0.0.0/8"
            ]
        );
    }

    #[test]
    fn duplicates_and_blanks_are_dropped_keeping_first() {
        let got = effective_no_proxy(
            &[" LOCALHOST ", "", "10.0.0.0/8"],
            &["10.0.0.0/8", "10.96.0.0/12"],
        );
        assert_eq!(got[0], "LOCALHOST");
        assert_eq!(got[1], "10.0.0.0/8");
        assert_eq!(
            got.iter()
                .filter(|e| e.eq_ignore_ascii_case("localhost"))
                .count(),
            1
        );
        assert_eq!(got.last().map(String::as_str), Some("10.96.0.0/12"));
        assert_eq!(got.len(), 2 + 5 + 1);
    }

    #[test]
    fn env_form_is_comma_joined() {
        let empty: [&str; 0] = [];
        assert_eq!(
            no_proxy_env(&empty, &empty),
            "169.254.169.254,168.63.129.16,localhost,127.0.0.1,.svc,.cluster.local"
        );
    }
}
