//! The server certificate verifiers behind [`super::HostAuth`]. Every rejection is either a standard rustls
//! `CertificateError` or a [`TlsError`] wrapped with `into_rustls`, so
//! [`super::classify`] maps it without guessing.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

use super::der::CertInfo;
use super::{sha256, sha256_fingerprint, TlsError};

/// What a pinned verifier compares the presented leaf with.
#[derive(Debug)]
pub(crate) enum Pin {
    /// Byte-identical DER, with its validity parsed once up front.
    Cert {
        der: CertificateDer<'static>,
        info: CertInfo,
    },
    /// SHA-256 of the DER.
    Sha256([u8; 32]),
}

/// `HostAuth::ServerCert` and `HostAuth::Fingerprint`: the pinned certificate is the
/// trust anchor; its validity period is still enforced and the handshake signature is
/// verified with its public key.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pub(crate) pin: Pin,
    pub(crate) algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let parsed;
        let info = match &self.pin {
            Pin::Cert { der, info } => {
                if end_entity.as_ref() != der.as_ref() {
                    return Err(mismatch(&sha256(der), end_entity));
                }
                info
            }
            Pin::Sha256(pin) => {
                if sha256(end_entity) != *pin {
                    return Err(mismatch(pin, end_entity));
                }
                parsed = CertInfo::parse(end_entity)
                    .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
                &parsed
            }
        };
        check_validity(info, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

fn mismatch(expected: &[u8; 32], presented: &CertificateDer<'_>) -> Error {
    TlsError::HostCertMismatch {
        expected: super::hex_colon(expected),
        presented: sha256_fingerprint(presented),
    }
    .into_rustls()
}

/// Same rule as webpki: valid when notBefore <= now <= notAfter.
fn check_validity(info: &CertInfo, now: UnixTime) -> Result<(), Error> {
    let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let time = |s: i64| {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(s).unwrap_or(0),
        ))
    };
    if secs > info.not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: time(info.not_after),
        }
        .into());
    }
    if secs < info.not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: time(info.not_before),
        }
        .into());
    }
    Ok(())
}

/// `HostAuth::Ca`: webpki chain verification (serverAuth) against the given roots,
/// plus the name check when the leaf has a usable subjectAltName.
#[derive(Debug)]
pub(crate) struct CaVerifier {
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) algs: WebPkiSupportedAlgorithms,
    /// The name given to `config_for`; the name passed to the connection is only SNI.
    pub(crate) name: ServerName<'static>,
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        // Fail closed: if our walker cannot read the SAN, do the name check anyway.
        let check_name = CertInfo::parse(end_entity).map_or(true, |info| info.has_usable_name());
        if check_name {
            verify_server_name(&cert, &self.name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `HostAuth::Insecure`: accepts any certificate and any handshake signature.
#[derive(Debug)]
pub(crate) struct InsecureVerifier {
    pub(crate) algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for InsecureVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
