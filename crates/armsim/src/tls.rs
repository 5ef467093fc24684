//! A self-signed certificate for `--tls` (localhost, 127.0.0.1 and the address the simulator is
//! bound to), written as PEM so clients can trust it (REQUESTS_CA_BUNDLE, reqwest
//! `add_root_certificate`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to generate the self-signed certificate")]
    Generate(#[source] rcgen::Error),
    #[error("failed to build the TLS server configuration")]
    Config(#[source] rustls::Error),
    #[error("failed to write the certificate to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub struct SelfSigned {
    pub cert_pem: String,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// `bound`: the IP the listener is bound to, named too when it is another one (a test reaching
/// the simulator at 127.0.0.2, which NO_PROXY's 127.0.0.1 does not cover, through a proxy).
pub fn self_signed(bound: std::net::IpAddr) -> Result<SelfSigned, TlsError> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !bound.is_unspecified() && !names.contains(&bound.to_string()) {
        names.push(bound.to_string());
    }
    let certified = rcgen::generate_simple_self_signed(names).map_err(TlsError::Generate)?;
    let cert_pem = certified.cert.pem();
    let cert_der = certified.cert.der().clone();
    let key_der =
        rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(SelfSigned {
        cert_pem,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    })
}

pub fn write_pem(path: &Path, pem: &str) -> Result<(), TlsError> {
    std::fs::write(path, pem).map_err(|source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    })
}
