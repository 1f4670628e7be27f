//! TLS for `sslmode` `require`, `verify-ca` and `verify-full` with rustls,
//! as libpq checks certificates.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::errors::TlsError;
use super::pgpass::home_dir;
use super::{ConnParams, SslMode};

impl ConnParams {
    /// The rustls configuration for the `sslmode`, or None for plain
    /// connections.
    pub(super) fn tls_config(&self) -> Result<Option<rustls::ClientConfig>, TlsError> {
        let mode = self.effective_sslmode();
        if mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        // libpq: `require` verifies the chain when a root certificate file
        // exists; otherwise it (and `prefer`, `allow`) only encrypts.
        let root_file = self.root_cert_source();
        let verify = match mode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::CaOnly,
            SslMode::Require if root_file.is_some() => Verify::CaOnly,
            _ => Verify::Nothing,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?;
        let builder = match verify {
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification { algorithms })),
            Verify::Full | Verify::CaOnly => {
                let roots = load_roots(root_file.as_deref())?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(TlsError::Verifier)?;
                if verify == Verify::Full {
                    builder.with_webpki_verifier(webpki)
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly { inner: webpki }))
                }
            }
        };
        let config = match (&self.sslcert, &self.sslkey) {
            (Some(cert), Some(key)) => {
                let certs = CertificateDer::pem_file_iter(cert)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|source| TlsError::ReadCert {
                        path: cert.clone(),
                        source,
                    })?;
                let key =
                    PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::ReadKey {
                        path: key.clone(),
                        source,
                    })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(TlsError::ClientCert)?
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(TlsError::CertWithoutKey);
            }
            (None, None) => builder.with_no_client_auth(),
        };
        Ok(Some(config))
    }

    /// The root certificates to verify against: `sslrootcert` (a file, or
    /// `system`), else `~/.postgresql/root.crt` when it exists.
    pub(super) fn root_cert_source(&self) -> Option<String> {
        if let Some(root) = &self.sslrootcert {
            return Some(root.clone());
        }
        let default = home_dir()?.join(".postgresql/root.crt");
        default
            .exists()
            .then(|| default.to_string_lossy().into_owned())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verify {
    Nothing,
    CaOnly,
    Full,
}

/// Root store from a PEM file, or the system's roots for `system` or when no
/// file is named.
pub(super) fn load_roots(source: Option<&str>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match source {
        Some(path) if path != "system" => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|source| TlsError::ReadRoots {
                    path: path.to_owned(),
                    source,
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsError::NoRoots {
                    path: path.to_owned(),
                });
            }
        }
        _ => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(TlsError::NoSystemRoots);
            }
        }
    }
    Ok(roots)
}

/// `sslmode=prefer/require` without a root file: encrypt, verify nothing
/// (libpq does the same). The handshake signature is still checked.
#[derive(Debug)]
pub(super) struct NoVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the host
/// name is not checked.
#[derive(Debug)]
pub(super) struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_root_file_is_named_with_its_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let err = load_roots(Some(path)).unwrap_err();
        assert_eq!(
            crate::error::chain(&err).to_string(),
            format!(
                "could not read root certificate file \"{path}\": I/O error: Is a directory (os error 21)"
            )
        );
        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "").unwrap();
        let empty = empty.to_str().unwrap();
        assert_eq!(
            load_roots(Some(empty)).unwrap_err().to_string(),
            format!("root certificate file \"{empty}\" holds no usable certificate")
        );
    }
}
