//! The certificate and key in force, and the rustls configuration that serves them.

use std::{path::Path, sync::Arc};

use arc_swap::ArcSwap;
use rustls::{
    ServerConfig,
    crypto::{CryptoProvider, ring},
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use sha2::{Digest, Sha256};

/// The certificate chain and key new connections are served with; replaced whole on reload,
/// while connections already open keep the one they started with.
#[derive(Debug)]
pub struct CertSlot(Arc<ArcSwap<CertifiedKey>>);

impl CertSlot {
    /// Serves whatever `live` holds at each handshake.
    pub fn new(live: Arc<ArcSwap<CertifiedKey>>) -> Arc<Self> {
        Arc::new(Self(live))
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// The crypto of the TLS stack tonic's `tls-ring` feature already builds.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// Parses a PEM certificate chain and private key, checking that the key belongs to the first
/// certificate; errors say which file is wrong.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate file is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("the certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the key file holds no PEM private key: {e}"))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| format!("the certificate and key do not go together: {e}"))
}

/// A short SHA-256 of the leaf certificate, for logs: which certificate is in force.
pub fn leaf_fingerprint(key: &CertifiedKey) -> String {
    let leaf = key.cert.first().map(|c| c.as_ref()).unwrap_or_default();
    Sha256::digest(leaf)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// TLS 1.2 and 1.3 with the certificate from `slot`, speaking HTTP/2 only (gRPC clients ask for
/// `h2` by ALPN, and some refuse a server that does not answer with it).
pub fn server_config(slot: Arc<CertSlot>) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(slot);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Reads and parses the certificate and key files, at start and at each reload.
pub fn load_files(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let read =
        |path: &Path| std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()));
    certified_key(&read(cert)?, &read(key)?)
}
