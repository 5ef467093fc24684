//! Certificates and keys for one environment: a CA, the API server's serving certificate
//! (127.0.0.1 and localhost) and the service-account signing key. All ECDSA P-256, fresh per run.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// PEM material written into the state directory.
pub struct Pki {
    /// CA certificate (trusted by clients).
    pub ca_cert_pem: String,
    /// CA certificate, DER.
    pub ca_cert_der: Vec<u8>,
    /// Serving certificate for 127.0.0.1 / localhost.
    pub serving_cert_pem: String,
    /// Serving key (PKCS#8).
    pub serving_key_pem: String,
    /// Service-account signing key (PKCS#8).
    pub sa_key_pem: String,
    /// Service-account public key.
    pub sa_pub_pem: String,
}

fn pki(what: &'static str) -> impl FnOnce(rcgen::Error) -> Error {
    move |source| Error::Pki { what, source }
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "azop-testenv");
    dn
}

/// Generates a fresh CA, serving certificate and service-account key.
pub fn generate() -> Result<Pki> {
    let ca_key = KeyPair::generate().map_err(pki("CA key"))?;
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(pki("CA parameters"))?;
    ca_params.distinguished_name = name("azop-testenv CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(pki("CA certificate"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate().map_err(pki("serving key"))?;
    let mut params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .map_err(pki("serving certificate parameters"))?;
    params.distinguished_name = name("kube-apiserver");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = params
        .signed_by(&serving_key, &issuer)
        .map_err(pki("serving certificate"))?;

    let sa_key = KeyPair::generate().map_err(pki("service-account key"))?;

    Ok(Pki {
        ca_cert_pem: ca_cert.pem(),
        ca_cert_der: ca_cert.der().to_vec(),
        serving_cert_pem: serving_cert.pem(),
        serving_key_pem: serving_key.serialize_pem(),
        sa_pub_pem: sa_key.public_key_pem(),
        sa_key_pem: sa_key.serialize_pem(),
    })
}
