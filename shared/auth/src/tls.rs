//! TLS for the connections a service (or staffctl) makes to another: the CA that signs the
//! servers' certificates and, where the server requires client certificates (mTLS), this
//! client's certificate and key. `https://` URLs use it; `http://` URLs stay plaintext (the
//! launcher on loopback).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// PEM files; all optional. `PS_CLIENT_TLS__CA_FILE`, `PS_CLIENT_TLS__CERT_FILE`,
/// `PS_CLIENT_TLS__KEY_FILE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientTlsSettings {
    /// The CA the servers' certificates are checked against (required for `https://`).
    pub ca_file: Option<PathBuf>,
    /// This client's certificate, for servers that require one.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// Why TLS for a connection or listener could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The URL cannot be an endpoint.
    #[error("{0} is not a valid address")]
    Url(String),
    /// A PEM file could not be read.
    #[error("reading {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// An `https://` URL without a CA file to check the server against.
    #[error("{0} is https: a CA file is required (client_tls.ca_file, PS_CLIENT_TLS__CA_FILE)")]
    NoCa(String),
    /// Only one of a client certificate and its key is configured.
    #[error("a client certificate needs both cert_file and key_file")]
    HalfIdentity,
    /// The TLS library refused the configuration, or the settings contradict each other.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Makes ring rustls's process-wide provider (the build links both ring and aws-lc-rs through
/// its dependencies, and then rustls will not choose); first call wins, later ones do nothing.
pub fn use_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads a PEM file for TLS configuration.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

impl ClientTlsSettings {
    /// tonic's client TLS configuration for `url`'s host, or `None` for plaintext.
    pub fn for_url(&self, url: &str) -> Result<Option<ClientTlsConfig>, TlsError> {
        if !url.starts_with("https://") {
            return Ok(None);
        }
        use_ring_provider();
        let ca = self
            .ca_file
            .as_deref()
            .ok_or_else(|| TlsError::NoCa(url.to_owned()))?;
        let mut config =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem(ca)?));
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
            }
            (None, None) => {}
            _ => return Err(TlsError::HalfIdentity),
        }
        Ok(Some(config))
    }
}

/// An endpoint for `url` with TLS when it is `https://`, and the connect and request timeouts
/// the product's own clients use.
pub fn endpoint(url: &str, tls: &ClientTlsSettings) -> Result<Endpoint, TlsError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|_| TlsError::Url(url.to_owned()))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    match tls.for_url(url)? {
        Some(config) => endpoint
            .tls_config(config)
            .map_err(|e| TlsError::Config(e.to_string())),
        None => Ok(endpoint),
    }
}
