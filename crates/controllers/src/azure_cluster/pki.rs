//! The cluster's PKI and admin kubeconfig (pure): what azop generates once per cluster and
//! keeps in Secrets with the names and keys Cluster API tools expect.
//!
//! - `<cluster>-ca`: the cluster CA (signs the API server's and kubelets' certificates and
//!   the admin kubeconfig); `<cluster>-etcd`: the etcd CA; `<cluster>-proxy`: the
//!   front-proxy CA; each `tls.crt` + `tls.key`.
//! - `<cluster>-sa`: the service-account signing key pair, `tls.crt` holding the *public*
//!   key (PEM `PUBLIC KEY`) and `tls.key` the private one, as Cluster API stores it.
//! - `<cluster>-kubeconfig`: key `value`, an admin kubeconfig for the API endpoint whose
//!   client certificate (CN `kubernetes-admin`, O `system:masters`, as Cluster API's) is
//!   signed by the cluster CA.
//!
//! Keys are ECDSA P-256 (what rcgen and ring generate; Kubernetes and kubeadm accept them,
//! and the kubeadm configuration says `encryptionAlgorithm: ECDSA-P256` so the certificates
//! kubeadm makes on the nodes match). CAs live ten years, kubeadm's default; the admin
//! client certificate one year, replaced when less than [`KUBECONFIG_RENEW_BEFORE`] is left.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// How long the CAs azop generates are valid (kubeadm's default for its CAs).
pub const CA_VALIDITY: time::Duration = time::Duration::days(3650);
/// How long the admin kubeconfig's client certificate is valid (kubeadm's for admin.conf).
pub const KUBECONFIG_VALIDITY: time::Duration = time::Duration::days(365);
/// The admin kubeconfig is replaced when its certificate has less than this left.
pub const KUBECONFIG_RENEW_BEFORE: time::Duration = time::Duration::days(30);

/// A certificate and its private key, PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertKey {
    pub cert: String,
    pub key: String,
}

/// Which of the cluster's Secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    ClusterCa,
    EtcdCa,
    FrontProxyCa,
    ServiceAccount,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [
        Purpose::ClusterCa,
        Purpose::EtcdCa,
        Purpose::FrontProxyCa,
        Purpose::ServiceAccount,
    ];

    /// The Secret's name suffix (Cluster API's).
    pub fn suffix(self) -> &'static str {
        match self {
            Purpose::ClusterCa => "ca",
            Purpose::EtcdCa => "etcd",
            Purpose::FrontProxyCa => "proxy",
            Purpose::ServiceAccount => "sa",
        }
    }

    pub fn secret_name(self, cluster: &str) -> String {
        format!("{cluster}-{}", self.suffix())
    }

    /// The CA's common name (kubeadm's).
    fn common_name(self) -> &'static str {
        match self {
            Purpose::ClusterCa => "kubernetes",
            Purpose::EtcdCa => "etcd-ca",
            Purpose::FrontProxyCa => "front-proxy-ca",
            Purpose::ServiceAccount => "service-accounts",
        }
    }
}

/// The name of the admin kubeconfig Secret (Cluster API's).
pub fn kubeconfig_secret_name(cluster: &str) -> String {
    format!("{cluster}-kubeconfig")
}

/// Everything the nodes need from azop's PKI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPki {
    pub ca: CertKey,
    pub etcd: CertKey,
    pub front_proxy: CertKey,
    /// `cert` is the public key (`PUBLIC KEY` PEM), `key` the private key.
    pub service_account: CertKey,
}

impl ClusterPki {
    pub fn get(&self, purpose: Purpose) -> &CertKey {
        match purpose {
            Purpose::ClusterCa => &self.ca,
            Purpose::EtcdCa => &self.etcd,
            Purpose::FrontProxyCa => &self.front_proxy,
            Purpose::ServiceAccount => &self.service_account,
        }
    }
}

/// A fresh key pair or CA for `purpose`, valid from `now`.
pub fn generate(purpose: Purpose, now: OffsetDateTime) -> Result<CertKey, String> {
    let key = rcgen::KeyPair::generate()
        .map_err(|e| format!("generate the {} key: {e}", purpose.suffix()))?;
    if purpose == Purpose::ServiceAccount {
        return Ok(CertKey {
            cert: key.public_key_pem(),
            key: key.serialize_pem(),
        });
    }
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, purpose.common_name());
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + CA_VALIDITY;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("self-sign the {} CA: {e}", purpose.suffix()))?;
    Ok(CertKey {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// `sha256:<hex>` of the CA certificate's SubjectPublicKeyInfo: what `kubeadm join
/// --discovery-token-ca-cert-hash` pins.
pub fn ca_cert_hash(ca_pem: &str) -> Result<String, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes())
        .map_err(|e| format!("the cluster CA is not PEM: {e}"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| format!("the cluster CA is not X.509: {e}"))?;
    let digest = Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    Ok(format!("sha256:{}", hex(&digest)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An admin client certificate signed by `ca`, valid from `now`.
pub fn admin_client(ca: &CertKey, now: OffsetDateTime) -> Result<CertKey, String> {
    let ca_key = rcgen::KeyPair::from_pem(&ca.key)
        .map_err(|e| format!("the cluster CA key does not parse: {e}"))?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca.cert, ca_key)
        .map_err(|e| format!("the cluster CA certificate does not parse: {e}"))?;
    let key =
        rcgen::KeyPair::generate().map_err(|e| format!("generate the admin client key: {e}"))?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kubernetes-admin");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:masters");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + KUBECONFIG_VALIDITY;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| format!("sign the admin client certificate: {e}"))?;
    Ok(CertKey {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The admin kubeconfig for `https://host:port`, trusting `ca_pem`, with `client`.
pub fn kubeconfig(cluster: &str, server: &str, ca_pem: &str, client: &CertKey) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let user = format!("{cluster}-admin");
    let context = format!("{user}@{cluster}");
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": server,
            "certificate-authority-data": b64(ca_pem),
        }}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(&client.cert),
            "client-key-data": b64(&client.key),
        }}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    });
    // JSON is YAML; serde_yaml renders it the way kubectl writes kubeconfigs.
    serde_yaml::to_string(&doc).unwrap_or_else(|_| doc.to_string())
}

/// The server URL of an endpoint (IPv6 hosts in brackets).
pub fn server_url(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    }
}

/// Whether the kubeconfig in the Secret must be (re)written: missing, unreadable, for
/// another server, signed by another CA, or its client certificate expiring within
/// [`KUBECONFIG_RENEW_BEFORE`]. Pure.
pub fn kubeconfig_stale(
    current: Option<&str>,
    server: &str,
    ca_pem: &str,
    now: OffsetDateTime,
) -> bool {
    let Some(text) = current else { return true };
    let Ok(doc) = serde_yaml::from_str::<serde_json::Value>(text) else {
        return true;
    };
    let cluster = doc.pointer("/clusters/0/cluster");
    let same_server = cluster
        .and_then(|c| c.get("server"))
        .and_then(|s| s.as_str())
        == Some(server);
    let same_ca = cluster
        .and_then(|c| c.get("certificate-authority-data"))
        .and_then(|s| s.as_str())
        .and_then(decode)
        .is_some_and(|pem| pem.trim() == ca_pem.trim());
    let not_after = doc
        .pointer("/users/0/user/client-certificate-data")
        .and_then(|s| s.as_str())
        .and_then(decode)
        .and_then(|pem| not_after(&pem).ok());
    !(same_server && same_ca && not_after.is_some_and(|t| t - now > KUBECONFIG_RENEW_BEFORE))
}

fn decode(b64: &str) -> Option<String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// notAfter of the first certificate in `pem`.
pub fn not_after(pem: &str) -> Result<OffsetDateTime, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("certificate PEM does not parse: {e}"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| format!("certificate is not valid X.509: {e}"))?;
    Ok(cert.validity().not_after.to_datetime())
}

/// Whether a stored pair is usable as `purpose`: the certificate (or public key) and key
/// parse, and a CA is still valid. A Secret that fails this is reported, never replaced:
/// replacing a CA would cut every node off.
pub fn check(purpose: Purpose, pair: &CertKey, now: OffsetDateTime) -> Result<(), String> {
    rcgen::KeyPair::from_pem(&pair.key).map_err(|e| format!("tls.key does not parse: {e}"))?;
    if purpose == Purpose::ServiceAccount {
        if !pair.cert.contains("BEGIN PUBLIC KEY") {
            return Err("tls.crt must hold the PEM public key".into());
        }
        return Ok(());
    }
    let expiry = not_after(&pair.cert).map_err(|e| format!("tls.crt: {e}"))?;
    if expiry <= now {
        return Err(format!("tls.crt expired at {expiry}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")
    }

    #[test]
    fn each_purpose_has_cluster_apis_secret_name() {
        let names: Vec<_> = Purpose::ALL.iter().map(|p| p.secret_name("prod")).collect();
        assert_eq!(names, ["prod-ca", "prod-etcd", "prod-proxy", "prod-sa"]);
        assert_eq!(kubeconfig_secret_name("prod"), "prod-kubeconfig");
    }

    #[test]
    fn a_ca_is_a_ca_and_the_sa_pair_is_a_bare_key() {
        for p in Purpose::ALL {
            let pair = generate(p, now()).expect("generate");
            check(p, &pair, now()).expect("usable");
        }
        let sa = generate(Purpose::ServiceAccount, now()).expect("sa");
        assert!(
            sa.cert.starts_with("-----BEGIN PUBLIC KEY-----"),
            "{}",
            sa.cert
        );
        let ca = generate(Purpose::ClusterCa, now()).expect("ca");
        let (_, block) = x509_parser::pem::parse_x509_pem(ca.cert.as_bytes()).expect("pem");
        let cert = block.parse_x509().expect("x509");
        assert!(cert.is_ca());
        assert_eq!(
            cert.subject().to_string(),
            "CN=kubernetes",
            "kubeadm's CA name"
        );
        assert_eq!(not_after(&ca.cert).expect("expiry"), now() + CA_VALIDITY);
    }

    #[test]
    fn the_ca_hash_is_the_sha256_of_the_public_key_info() {
        let ca = generate(Purpose::ClusterCa, now()).expect("ca");
        let h = ca_cert_hash(&ca.cert).expect("hash");
        assert!(h.starts_with("sha256:") && h.len() == 7 + 64, "{h}");
        let other = generate(Purpose::ClusterCa, now()).expect("ca");
        assert_ne!(h, ca_cert_hash(&other.cert).expect("hash"));
    }

    #[test]
    fn the_kubeconfig_is_fresh_until_its_certificate_nears_expiry() {
        let ca = generate(Purpose::ClusterCa, now()).expect("ca");
        let client = admin_client(&ca, now()).expect("client");
        let server = server_url("20.50.0.5", 6443);
        let k = kubeconfig("prod", &server, &ca.cert, &client);
        assert!(!kubeconfig_stale(Some(&k), &server, &ca.cert, now()));
        let late = now() + KUBECONFIG_VALIDITY - KUBECONFIG_RENEW_BEFORE + time::Duration::hours(1);
        assert!(kubeconfig_stale(Some(&k), &server, &ca.cert, late));
        assert!(kubeconfig_stale(
            Some(&k),
            "https://20.50.0.6:6443",
            &ca.cert,
            now()
        ));
        let other = generate(Purpose::ClusterCa, now()).expect("ca");
        assert!(kubeconfig_stale(Some(&k), &server, &other.cert, now()));
        assert!(kubeconfig_stale(None, &server, &ca.cert, now()));
        assert!(kubeconfig_stale(Some("{"), &server, &ca.cert, now()));
    }

    #[test]
    fn a_broken_or_expired_pair_is_reported() {
        let ca = generate(Purpose::ClusterCa, now()).expect("ca");
        let broken = CertKey {
            cert: ca.cert.clone(),
            key: "nope".into(),
        };
        assert!(check(Purpose::ClusterCa, &broken, now()).is_err());
        let e = check(
            Purpose::ClusterCa,
            &ca,
            now() + CA_VALIDITY + time::Duration::days(1),
        )
        .expect_err("expired");
        assert!(e.contains("expired"), "{e}");
        assert_eq!(server_url("fd00::1", 6443), "https://[fd00::1]:6443");
    }
}
