//! The ProxyConfig's checks (pure): the spec rules, the noProxy entries, the trusted CA
//! bundle, and at most one default per namespace. Each becomes one condition.

use std::net::IpAddr;

use azop_api::Validate;
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use kube::ResourceExt;

use crate::conditions::{Cond, Status};

pub const SPEC_VALID: &str = "SpecValid";
pub const TRUSTED_CA_VALID: &str = "TrustedCAValid";
pub const DEFAULT_UNIQUE: &str = "DefaultUnique";

/// `SpecValid`: the schema/CEL rules (the same `Validate` the CRD enforces, for servers
/// without CEL) plus the noProxy entry grammar, which the schema only checks loosely.
pub fn spec(p: &ProxyConfig) -> Cond {
    let mut problems = Vec::new();
    if let Err(e) = p.validate() {
        problems.push(e.to_string());
    }
    if let Err(e) = no_proxy_entries(&p.spec.no_proxy) {
        problems.push(e);
    }
    if problems.is_empty() {
        Cond::new(SPEC_VALID, Status::True, "Valid", "the settings are valid")
    } else {
        Cond::new(
            SPEC_VALID,
            Status::False,
            "InvalidSpec",
            problems.join("; "),
        )
    }
}

/// Every noProxy entry must be something the common clients (curl, Go, Python, containerd)
/// understand: `*`, an IP, a CIDR, or a host / domain suffix (`.corp.example`,
/// `*.corp.example`) with an optional `:port`. Anything else is silently ignored by those
/// clients, so traffic the user meant to keep direct would go to the proxy.
pub fn no_proxy_entries(entries: &[String]) -> Result<(), String> {
    let bad: Vec<String> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| !no_proxy_entry_ok(e))
        .map(|(i, e)| format!("spec.noProxy[{i}] {e:?}"))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not understood: use a host (example.com), a domain suffix (.example.com), an IP, a CIDR (10.0.0.0/8) or *",
            bad.join(", ")
        ))
    }
}

fn no_proxy_entry_ok(entry: &str) -> bool {
    let e = entry.trim();
    if e == "*" {
        return true;
    }
    if e.parse::<IpAddr>().is_ok() || e.parse::<ipnet::IpNet>().is_ok() {
        return true;
    }
    // [v6]:port
    if let Some(rest) = e.strip_prefix('[') {
        return rest
            .split_once("]:")
            .is_some_and(|(ip, port)| ip.parse::<IpAddr>().is_ok() && port_ok(port));
    }
    let host = match e.rsplit_once(':') {
        Some((h, port)) => {
            if !port_ok(port) {
                return false;
            }
            h
        }
        None => e,
    };
    let host = host
        .strip_prefix("*.")
        .or_else(|| host.strip_prefix('.'))
        .unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && (host.parse::<IpAddr>().is_ok()
            || host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }))
}

fn port_ok(port: &str) -> bool {
    port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// A parsed trust bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaBundle {
    /// The bundle normalised: each certificate re-encoded as PEM, nothing else.
    pub pem: String,
    pub certificates: usize,
    /// The earliest notAfter among the certificates (Unix seconds).
    pub earliest_expiry: i64,
}

/// Parses a PEM bundle: at least one certificate, every block a CERTIFICATE that parses as
/// X.509 — a private key pasted by mistake is refused rather than distributed to every pod.
pub fn ca_bundle(pem: &str) -> Result<CaBundle, String> {
    let mut out = String::new();
    let mut certificates = 0;
    let mut earliest = i64::MAX;
    for (i, block) in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).enumerate() {
        let block = block.map_err(|e| format!("PEM block {} does not parse: {e}", i + 1))?;
        if block.label != "CERTIFICATE" {
            return Err(format!(
                "PEM block {} is a {}, not a CERTIFICATE: the bundle must hold only certificates",
                i + 1,
                block.label
            ));
        }
        let cert = block
            .parse_x509()
            .map_err(|e| format!("certificate {} is not valid X.509: {e}", i + 1))?;
        earliest = earliest.min(cert.validity().not_after.timestamp());
        certificates += 1;
        out.push_str(&pem_encode(&block.contents));
    }
    if certificates == 0 {
        return Err("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)".into());
    }
    Ok(CaBundle {
        pem: out,
        certificates,
        earliest_expiry: earliest,
    })
}

fn pem_encode(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// What reading the trusted CA's source gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaSource {
    /// `spec.trustedCA` is not set.
    NotSet,
    /// The Secret or ConfigMap, or its key, is missing.
    Missing(String),
    /// The PEM text found.
    Found(String),
}

/// `TrustedCAValid`, and the parsed bundle when there is one.
pub fn trusted_ca(source: &CaSource, now_unix: i64) -> (Cond, Option<CaBundle>) {
    match source {
        CaSource::NotSet => (
            Cond::new(TRUSTED_CA_VALID, Status::True, "NotSet", "no trusted CA"),
            None,
        ),
        CaSource::Missing(what) => (
            Cond::new(
                TRUSTED_CA_VALID,
                Status::False,
                "MissingReference",
                what.clone(),
            ),
            None,
        ),
        CaSource::Found(pem) => match ca_bundle(pem) {
            Ok(b) if b.earliest_expiry < now_unix => (
                Cond::new(
                    TRUSTED_CA_VALID,
                    Status::False,
                    "Expired",
                    format!(
                        "a certificate of the bundle expired at {}",
                        show_time(b.earliest_expiry)
                    ),
                ),
                None,
            ),
            Ok(b) => (
                Cond::new(
                    TRUSTED_CA_VALID,
                    Status::True,
                    "Valid",
                    format!(
                        "{} certificate(s); the first expires at {}",
                        b.certificates,
                        show_time(b.earliest_expiry)
                    ),
                ),
                Some(b),
            ),
            Err(e) => (
                Cond::new(TRUSTED_CA_VALID, Status::False, "InvalidCA", e),
                None,
            ),
        },
    }
}

fn show_time(unix: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| unix.to_string())
}

/// `DefaultUnique`: a second `default: true` in the namespace is a condition on every one of
/// them (each names the others), never a silent pick.
pub fn default_unique(p: &ProxyConfig, all: &[impl std::ops::Deref<Target = ProxyConfig>]) -> Cond {
    if !p.spec.default {
        return Cond::new(
            DEFAULT_UNIQUE,
            Status::True,
            "NotDefault",
            "not the namespace default",
        );
    }
    let ns = p.namespace().unwrap_or_default();
    let others: Vec<String> = super::resolve::defaults_in(&ns, all)
        .into_iter()
        .map(|o| o.name_any())
        .filter(|n| *n != p.name_any())
        .collect();
    if others.is_empty() {
        Cond::new(
            DEFAULT_UNIQUE,
            Status::True,
            "NamespaceDefault",
            format!("the default of namespace {ns}"),
        )
    } else {
        Cond::new(
            DEFAULT_UNIQUE,
            Status::False,
            "MultipleDefaults",
            format!(
                "namespace {ns} has other default ProxyConfigs too ({}): consumers without proxyConfigRef get none until only one is default",
                others.join(", ")
            ),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proxy_config::resolve::tests::proxy;

    pub(crate) fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("sign").pem()
    }

    #[test]
    fn no_proxy_grammar() {
        for ok in [
            "*",
            "10.0.0.0/8",
            "fd00::/8",
            "127.0.0.1",
            "::1",
            "example.com",
            ".example.com",
            "*.example.com",
            "host:8080",
            "[::1]:443",
            "localhost",
        ] {
            assert!(no_proxy_entry_ok(ok), "{ok} should be accepted");
        }
        for bad in [
            "http://example.com",
            "exa mple.com",
            "-bad.com",
            "host:0",
            "host:99999",
            "a..b",
            "10.0.0.0/33",
            "",
        ] {
            assert!(!no_proxy_entry_ok(bad), "{bad} should be refused");
        }
        let err = no_proxy_entries(&["ok.com".into(), "http://x".into()]).expect_err("bad");
        assert!(err.contains("spec.noProxy[1] \"http://x\""), "{err}");
    }

    #[test]
    fn a_ca_bundle_parses_and_reports_its_expiry() {
        let pem = format!("{}\n{}", ca_pem(), ca_pem());
        let b = ca_bundle(&pem).expect("parses");
        assert_eq!(b.certificates, 2);
        assert!(b.earliest_expiry > 0);
        let (obs, parsed) = trusted_ca(&CaSource::Found(pem), 0);
        assert_eq!(obs.status, Status::True);
        assert!(parsed.is_some());
        // Past the expiry: refused.
        let (obs, _) = trusted_ca(&CaSource::Found(ca_pem()), i64::MAX - 1);
        assert_eq!(
            (obs.status, obs.reason.as_str()),
            (Status::False, "Expired")
        );
    }

    #[test]
    fn non_certificates_are_refused() {
        assert!(ca_bundle("hello").is_err());
        let key = rcgen::KeyPair::generate().expect("key").serialize_pem();
        let err = ca_bundle(&format!("{}{key}", ca_pem())).expect_err("key in bundle");
        assert!(err.contains("PRIVATE KEY"), "{err}");
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(ca_bundle(garbage).is_err());
        let (obs, _) = trusted_ca(&CaSource::Found("nope".into()), 0);
        assert_eq!(obs.reason, "InvalidCA");
        let (obs, _) = trusted_ca(&CaSource::Missing("Secret ns/ca not found".into()), 0);
        assert_eq!(obs.reason, "MissingReference");
    }

    #[test]
    fn two_defaults_mark_both() {
        let all: Vec<std::sync::Arc<ProxyConfig>> = vec![
            proxy("a", "one", true).into(),
            proxy("a", "two", true).into(),
            proxy("a", "three", false).into(),
            proxy("b", "four", true).into(),
        ];
        let one = default_unique(&all[0], &all);
        let two = default_unique(&all[1], &all);
        assert_eq!(one.status, Status::False);
        assert!(one.message.contains("(two)"), "{}", one.message);
        assert_eq!(two.status, Status::False);
        assert!(two.message.contains("(one)"));
        assert_eq!(default_unique(&all[2], &all).status, Status::True);
        assert_eq!(default_unique(&all[3], &all).reason, "NamespaceDefault");
    }

    #[test]
    fn spec_errors_are_collected() {
        let mut p = proxy("a", "p", false);
        p.spec.no_proxy.push("bad entry".into());
        p.spec.http_proxy = Some("http://h/path".into());
        let obs = spec(&p);
        assert_eq!(obs.status, Status::False);
        assert!(obs.message.contains("spec.httpProxy"), "{}", obs.message);
        assert!(obs.message.contains("bad entry"), "{}", obs.message);
        assert_eq!(spec(&proxy("a", "p", false)).status, Status::True);
    }
}
