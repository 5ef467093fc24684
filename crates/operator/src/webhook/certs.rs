//! The webhook's serving certificate.
//!
//! Self-managed (default): a CA and a serving certificate in a Secret (`ca.crt`, `tls.crt`,
//! `tls.key`, `ca.key`), shared by every replica; the first replica to find it missing or
//! close to expiry writes a new pair (creation and replacement are guarded by the API server,
//! so racing replicas converge on one). On rotation `ca.crt` holds the new CA followed by the
//! previous one, so replicas still serving the old certificate stay trusted until they reload.
//! Every replica keeps the MutatingWebhookConfiguration's caBundle equal to `ca.crt`.
//!
//! cert-manager mode (`--webhook-cert-dir`): `tls.crt`/`tls.key` are read from the directory
//! and re-read when they change; cert-manager's cainjector keeps the caBundle.

use std::sync::{Arc, RwLock};

use anyhow::{Context as _, Result, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

/// How long what azop generates is valid, and when it is replaced.
pub const CA_VALIDITY: time::Duration = time::Duration::days(5 * 365);
pub const SERVING_VALIDITY: time::Duration = time::Duration::days(365);
/// Replace the pair when the serving certificate has less than this left: far more than the
/// longest check interval, so a replica never serves an expired certificate.
pub const ROTATE_BEFORE: time::Duration = time::Duration::days(30);

/// PEM texts of one generation of certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Material {
    /// Every CA the API server must trust (newest first).
    pub ca_bundle: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
}

/// A fresh CA and a serving certificate for `dns_names` (IP addresses are accepted too),
/// signed by it. `previous_ca` (still valid) is kept in the bundle after the new CA.
pub fn generate(
    dns_names: &[String],
    now: OffsetDateTime,
    previous_ca: Option<&str>,
) -> Result<Material> {
    let ca_key = rcgen::KeyPair::generate().context("generate the webhook CA key")?;
    let mut ca = rcgen::CertificateParams::default();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "azop webhook CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    ca.not_before = now - time::Duration::minutes(5);
    ca.not_after = now + CA_VALIDITY;
    let ca_cert = ca
        .self_signed(&ca_key)
        .context("self-sign the webhook CA")?;
    let issuer = rcgen::Issuer::new(ca, &ca_key);

    let key = rcgen::KeyPair::generate().context("generate the serving key")?;
    let mut leaf =
        rcgen::CertificateParams::new(dns_names.to_vec()).context("serving certificate names")?;
    leaf.distinguished_name.push(
        rcgen::DnType::CommonName,
        dns_names
            .first()
            .cloned()
            .unwrap_or_else(|| "azop-webhook".into()),
    );
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now - time::Duration::minutes(5);
    leaf.not_after = now + SERVING_VALIDITY;
    let cert = leaf
        .signed_by(&key, &issuer)
        .context("sign the serving certificate")?;

    let mut ca_bundle = ca_cert.pem();
    if let Some(prev) = previous_ca {
        // Only the previous generation's newest CA: the bundle does not grow forever.
        if let Some(first) = first_certificate_pem(prev)
            && expiry(&first).is_ok_and(|t| t > now)
        {
            ca_bundle.push_str(&first);
        }
    }
    Ok(Material {
        ca_bundle,
        ca_key: ca_key.serialize_pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn first_certificate_pem(bundle: &str) -> Option<String> {
    let end = "-----END CERTIFICATE-----";
    let start = bundle.find("-----BEGIN CERTIFICATE-----")?;
    let stop = bundle[start..].find(end)? + start + end.len();
    Some(format!("{}\n", &bundle[start..stop]))
}

/// notAfter of the first certificate in `pem`.
pub fn expiry(pem: &str) -> Result<OffsetDateTime> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("certificate PEM does not parse: {e}"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| anyhow::anyhow!("certificate is not valid X.509: {e}"))?;
    Ok(cert.validity().not_after.to_datetime())
}

/// The DNS names (and IPs) the serving certificate covers.
fn names_of(pem: &str) -> Result<Vec<String>> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("certificate PEM does not parse: {e}"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| anyhow::anyhow!("certificate is not valid X.509: {e}"))?;
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => out.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        out.push(std::net::Ipv4Addr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        out.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Whether `m` must be replaced: unreadable, expiring within [`ROTATE_BEFORE`], or not
/// covering every name wanted (the chart's Service name changed).
pub fn needs_rotation(m: &Material, wanted: &[String], now: OffsetDateTime) -> bool {
    let Ok(not_after) = expiry(&m.cert) else {
        return true;
    };
    if not_after - now < ROTATE_BEFORE {
        return true;
    }
    let Ok(ca_not_after) = expiry(&m.ca_bundle) else {
        return true;
    };
    if ca_not_after < not_after {
        return true;
    }
    match names_of(&m.cert) {
        Ok(have) => wanted.iter().any(|w| !have.contains(w)),
        Err(_) => true,
    }
}

fn material_from_secret(s: &Secret) -> Option<Material> {
    let data = s.data.as_ref()?;
    let get = |k: &str| {
        data.get(k)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    Some(Material {
        ca_bundle: get("ca.crt")?,
        ca_key: get("ca.key")?,
        cert: get("tls.crt")?,
        key: get("tls.key")?,
    })
}

fn secret_of(name: &str, m: &Material, resource_version: Option<String>) -> Secret {
    let b = |s: &str| ByteString(s.as_bytes().to_vec());
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            resource_version,
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_string(),
                    "azop".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(
            [
                ("ca.crt".to_string(), b(&m.ca_bundle)),
                ("ca.key".to_string(), b(&m.ca_key)),
                ("tls.crt".to_string(), b(&m.cert)),
                ("tls.key".to_string(), b(&m.key)),
            ]
            .into(),
        ),
        ..Secret::default()
    }
}

/// Returns the Secret's material, writing a new generation first when it is missing or due.
/// Racing replicas: a create that finds the Secret (409) or a replace that finds it changed
/// (409) re-reads it and takes what the winner wrote.
pub async fn ensure_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    dns_names: &[String],
) -> Result<Material> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..3 {
        let now = OffsetDateTime::now_utc();
        let current = api
            .get_opt(name)
            .await
            .with_context(|| format!("read Secret {namespace}/{name}"))?;
        match current {
            None => {
                let m = generate(dns_names, now, None)?;
                match api
                    .create(&PostParams::default(), &secret_of(name, &m, None))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(secret = %format!("{namespace}/{name}"), "generated the webhook certificate");
                        return Ok(m);
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => {
                        return Err(e).with_context(|| format!("create Secret {namespace}/{name}"));
                    }
                }
            }
            Some(s) => {
                let existing = material_from_secret(&s);
                if let Some(m) = &existing
                    && !needs_rotation(m, dns_names, now)
                {
                    return Ok(m.clone());
                }
                let previous = existing.as_ref().map(|m| m.ca_bundle.as_str());
                let m = generate(dns_names, now, previous)?;
                let new = secret_of(name, &m, s.metadata.resource_version.clone());
                match api.replace(name, &PostParams::default(), &new).await {
                    Ok(_) => {
                        tracing::info!(secret = %format!("{namespace}/{name}"), "rotated the webhook certificate");
                        return Ok(m);
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("replace Secret {namespace}/{name}"));
                    }
                }
            }
        }
    }
    bail!("Secret {namespace}/{name} kept changing while azop tried to write it")
}

/// Sets `caBundle` of every webhook in the configuration to `bundle`, if it differs. A
/// missing configuration is not an error (the chart may not have created it yet, or the
/// webhook is registered by hand): the next check retries.
pub async fn keep_ca_bundle(client: &kube::Client, config: &str, bundle: &str) -> Result<bool> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let Some(mwc) = api
        .get_opt(config)
        .await
        .with_context(|| format!("read MutatingWebhookConfiguration {config}"))?
    else {
        tracing::debug!(
            config,
            "MutatingWebhookConfiguration not found; caBundle not set"
        );
        return Ok(false);
    };
    let want = ByteString(bundle.as_bytes().to_vec());
    let mut ops = Vec::new();
    for (i, w) in mwc.webhooks.iter().flatten().enumerate() {
        if w.client_config.ca_bundle.as_ref() != Some(&want) {
            // test the name at the index: a concurrent edit reordering the list fails the
            // patch instead of writing the bundle into the wrong entry.
            ops.push(serde_json::json!({"op": "test", "path": format!("/webhooks/{i}/name"), "value": w.name}));
            ops.push(serde_json::json!({"op": "add", "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": want}));
        }
    }
    if ops.is_empty() {
        return Ok(false);
    }
    let patch: json_patch::Patch =
        serde_json::from_value(serde_json::Value::Array(ops)).context("build caBundle patch")?;
    api.patch(config, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .with_context(|| format!("patch caBundle of MutatingWebhookConfiguration {config}"))?;
    tracing::info!(config, "updated the webhook caBundle");
    Ok(true)
}

/// The serving certificate, swappable while connections are being accepted.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<Arc<Self>> {
        Ok(Arc::new(CertResolver {
            current: RwLock::new(certified_key(cert_pem, key_pem)?),
        }))
    }

    /// Installs a new certificate; new handshakes use it at once.
    pub fn set(&self, cert_pem: &str, key_pem: &str) -> Result<()> {
        let k = certified_key(cert_pem, key_pem)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = k;
        Ok(())
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn certified_key(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .context("serving certificate PEM")?;
    if certs.is_empty() {
        bail!("no certificate in the serving certificate PEM");
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("serving key PEM")?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .context("unsupported serving key type")?;
    Ok(Arc::new(CertifiedKey::new(certs, signing)))
}

/// The TLS acceptor over `resolver`.
pub fn acceptor(resolver: Arc<CertResolver>) -> Result<tokio_rustls::TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["azop-webhook.azop-system.svc".into(), "127.0.0.1".into()]
    }

    #[test]
    fn generated_material_is_fresh_and_serves() {
        let now = OffsetDateTime::now_utc();
        let m = generate(&names(), now, None).expect("generate");
        assert!(!needs_rotation(&m, &names(), now));
        assert_eq!(names_of(&m.cert).expect("names"), names());
        CertResolver::new(&m.cert, &m.key).expect("usable by rustls");
    }

    #[test]
    fn rotation_is_due_near_expiry_or_for_new_names() {
        let now = OffsetDateTime::now_utc();
        let m = generate(&names(), now, None).expect("generate");
        let later = now + SERVING_VALIDITY - ROTATE_BEFORE + time::Duration::hours(1);
        assert!(needs_rotation(&m, &names(), later));
        assert!(!needs_rotation(
            &m,
            &names(),
            later - time::Duration::hours(2)
        ));
        let mut more = names();
        more.push("azop-webhook.other.svc".into());
        assert!(needs_rotation(&m, &more, now));
        let broken = Material {
            cert: "junk".into(),
            ..m
        };
        assert!(needs_rotation(&broken, &names(), now));
    }

    #[test]
    fn a_rotated_bundle_keeps_the_previous_ca_once() {
        let now = OffsetDateTime::now_utc();
        let first = generate(&names(), now, None).expect("first");
        let second = generate(&names(), now, Some(&first.ca_bundle)).expect("second");
        assert_eq!(second.ca_bundle.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(second.ca_bundle.ends_with(&first.ca_bundle));
        let third = generate(&names(), now, Some(&second.ca_bundle)).expect("third");
        assert_eq!(third.ca_bundle.matches("BEGIN CERTIFICATE").count(), 2);
    }
}
