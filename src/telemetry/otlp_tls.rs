//! TLS to an `https://` collector: the server is verified against the system's trust store, or
//! against the CA certificates of `OTEL_EXPORTER_OTLP_CERTIFICATE` alone; a client certificate
//! is presented when the collector asks for one (mutual TLS).

use std::path::Path;

use anyhow::Context;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use super::OtlpExport;

/// The TLS settings for `otlp`'s collector; `None` for a plaintext `http://` endpoint. Files
/// that hold no certificate or key are refused here, at start, rather than failing every export.
pub(super) fn client_config(otlp: &OtlpExport) -> anyhow::Result<Option<ClientTlsConfig>> {
    if !otlp.endpoint.starts_with("https://") {
        return Ok(None);
    }
    let tls = match &otlp.certificate {
        Some(path) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(certificates(
            path,
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        )?)),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    Ok(Some(match &otlp.client_identity {
        Some((cert, key)) => tls.identity(Identity::from_pem(
            certificates(cert, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")?,
            private_key(key)?,
        )),
        None => tls,
    }))
}

/// The PEM file at `path`, which must hold at least one certificate.
fn certificates(path: &Path, setting: &str) -> anyhow::Result<Vec<u8>> {
    let pem = read(path, setting)?;
    let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match parsed {
        Ok(certs) if !certs.is_empty() => Ok(pem),
        Ok(_) => anyhow::bail!("{setting} {} holds no PEM certificate", path.display()),
        Err(error) => anyhow::bail!("{setting} {}: {error}", path.display()),
    }
}

/// The PEM file at `path`, which must hold a private key.
fn private_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    let setting = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
    let pem = read(path, setting)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("{setting} {} holds no PEM private key", path.display()))?;
    Ok(pem)
}

fn read(path: &Path, setting: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {setting} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn otlp_with_ca(pem: &str) -> (OtlpExport, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("stockd-otlp-ca-{}.pem", fastrand::u64(..)));
        std::fs::write(&path, pem).unwrap();
        let otlp = OtlpExport {
            endpoint: "https://otel-collector:4317".into(),
            certificate: Some(path.clone()),
            ..OtlpExport::default()
        };
        (otlp, path)
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused_with_its_setting_named() {
        let (otlp, path) = otlp_with_ca("not a certificate\n");
        let error = client_config(&otlp).unwrap_err().to_string();
        std::fs::remove_file(path).unwrap();
        assert!(error.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{error}");
        assert!(error.contains("holds no PEM certificate"), "{error}");
    }

    #[test]
    fn a_missing_ca_file_is_refused_with_its_setting_named() {
        let (otlp, path) = otlp_with_ca("");
        std::fs::remove_file(path).unwrap();
        let error = format!("{:#}", client_config(&otlp).unwrap_err());
        assert!(
            error.contains("reading OTEL_EXPORTER_OTLP_CERTIFICATE"),
            "{error}"
        );
    }

    #[test]
    fn a_plaintext_endpoint_has_no_tls() {
        let otlp = OtlpExport {
            endpoint: "http://otel-collector:4317".into(),
            ..OtlpExport::default()
        };
        assert!(client_config(&otlp).unwrap().is_none());
    }
}
