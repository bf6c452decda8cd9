//! [`TlsError`], its stable codes, and [`classify`] for handshake failures.

use std::sync::Arc;

use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError, OtherError};

use super::der::format_time;
use super::pem::PemError;

/// Everything that can go wrong building a TLS client configuration or during a
/// handshake. [`TlsError::code`] gives the stable string the JS side sees as `err.code`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// `TLS_BAD_PEM`: a certificate, key or CA input is not usable PEM/DER.
    #[error(transparent)]
    BadPem(#[from] PemError),
    /// `TLS_KEY_MISMATCH`: the client private key is not the key of the client certificate.
    #[error("the client private key does not match the client certificate's public key")]
    KeyMismatch,
    /// `TLS_CLIENT_CERT_EXPIRED`: the client certificate's notAfter is in the past.
    #[error("the client certificate expired on {} (now {})", fmt_time(*not_after), fmt_time(*now))]
    ClientCertExpired {
        /// The certificate's notAfter.
        not_after: UnixTime,
        /// The time it was checked against.
        now: UnixTime,
    },
    /// `TLS_CLIENT_CERT_NOT_YET_VALID`: the client certificate's notBefore is in the future.
    #[error("the client certificate is not valid before {} (now {}); check the clock", fmt_time(*not_before), fmt_time(*now))]
    ClientCertNotYetValid {
        /// The certificate's notBefore.
        not_before: UnixTime,
        /// The time it was checked against.
        now: UnixTime,
    },
    /// `TLS_CLIENT_CERT_NOT_FROM_POOL_CA`: the client certificate does not verify, as a TLS
    /// client certificate, against the pool CA the hosts use to check it (wrong issuer,
    /// bad signature, or an extendedKeyUsage without clientAuth).
    #[error("the client certificate would be rejected by the hosts: {reason}")]
    ClientCertNotFromPoolCa {
        /// Why webpki rejected it.
        reason: String,
    },
    /// `TLS_UNKNOWN_ISSUER`: ([`super::HostAuth::Ca`]) the host certificate does not chain
    /// to the given CA. XCP-ng host certificates are self-signed: use `ServerCert` for them.
    #[error("the host certificate is not signed by the given CA (unknown issuer)")]
    UnknownIssuer,
    /// `TLS_HOST_CERT_MISMATCH`: the host presented a certificate other than the pinned one.
    #[error("the host presented certificate SHA-256 {presented}, expected {expected}")]
    HostCertMismatch {
        /// SHA-256 fingerprint of the pinned certificate (`AB:CD:...`).
        expected: String,
        /// SHA-256 fingerprint of the presented leaf certificate.
        presented: String,
    },
    /// `TLS_HOST_CERT_EXPIRED`: the host certificate (or one in its chain) has expired.
    #[error("the host certificate has expired{}", expired_detail(not_after, now))]
    HostCertExpired {
        /// The certificate's notAfter, when known.
        not_after: Option<UnixTime>,
        /// The time it was checked against, when known.
        now: Option<UnixTime>,
    },
    /// `TLS_HOST_CERT_EXPIRED` as well: the host certificate is not valid yet (its notBefore
    /// is in the future: usually a clock problem on one side).
    #[error(
        "the host certificate is not valid yet{}; check the clocks",
        not_yet_detail(not_before, now)
    )]
    HostCertNotYetValid {
        /// The certificate's notBefore, when known.
        not_before: Option<UnixTime>,
        /// The time it was checked against, when known.
        now: Option<UnixTime>,
    },
    /// `TLS_HOST_NAME_MISMATCH`: ([`super::HostAuth::Ca`]) the host certificate is not
    /// valid for the address or name used to connect.
    #[error("the host certificate is not valid for {expected:?} (it names {presented:?})")]
    HostNameMismatch {
        /// The name or IP we connected to.
        expected: String,
        /// The names in the certificate, when known.
        presented: Vec<String>,
    },
    /// `TLS_CLIENT_CERT_REJECTED`: the host sent an alert about our client certificate
    /// (e.g. `unknown_ca`: the pool's SDN CA on the host is not the one that signed it).
    /// With TLS 1.3 this arrives on the first read *after* the handshake completed.
    #[error("the host rejected the client certificate (alert {alert})")]
    ClientCertRejected {
        /// The alert, e.g. `UnknownCA`, `BadCertificate`, `CertificateRequired`.
        alert: String,
    },
    /// `TLS_NO_SHARED_CIPHER`: no protocol version, cipher suite, group or signature
    /// scheme in common (e.g. a TLS 1.2 server offering only RSA key exchange, which
    /// rustls does not implement).
    #[error("no TLS version or cipher suite in common with the host: {0}")]
    NoSharedCipher(rustls::Error),
    /// `TLS_HANDSHAKE_FAILED`: any other handshake failure.
    #[error("TLS handshake failed: {0}")]
    HandshakeFailed(rustls::Error),
    /// `TLS_INVALID_CONFIG`: an argument is malformed (fingerprint string, server name, ...).
    #[error("invalid TLS configuration: {0}")]
    InvalidConfig(String),
}

impl TlsError {
    /// The stable error code, e.g. `TLS_HOST_CERT_MISMATCH`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadPem(_) => "TLS_BAD_PEM",
            Self::KeyMismatch => "TLS_KEY_MISMATCH",
            Self::ClientCertExpired { .. } => "TLS_CLIENT_CERT_EXPIRED",
            Self::ClientCertNotYetValid { .. } => "TLS_CLIENT_CERT_NOT_YET_VALID",
            Self::ClientCertNotFromPoolCa { .. } => "TLS_CLIENT_CERT_NOT_FROM_POOL_CA",
            Self::UnknownIssuer => "TLS_UNKNOWN_ISSUER",
            Self::HostCertMismatch { .. } => "TLS_HOST_CERT_MISMATCH",
            Self::HostCertExpired { .. } | Self::HostCertNotYetValid { .. } => {
                "TLS_HOST_CERT_EXPIRED"
            }
            Self::HostNameMismatch { .. } => "TLS_HOST_NAME_MISMATCH",
            Self::ClientCertRejected { .. } => "TLS_CLIENT_CERT_REJECTED",
            Self::NoSharedCipher(_) => "TLS_NO_SHARED_CIPHER",
            Self::HandshakeFailed(_) => "TLS_HANDSHAKE_FAILED",
            Self::InvalidConfig(_) => "TLS_INVALID_CONFIG",
        }
    }

    /// Wraps this error so a certificate verifier can return it through rustls and
    /// [`classify`] gets it back unchanged.
    pub(crate) fn into_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(self))))
    }
}

/// Maps a rustls handshake error to a [`TlsError`].
///
/// | rustls error | result |
/// |---|---|
/// | `InvalidCertificate(Other(..))` carrying a [`TlsError`] from this module's verifiers | that error (`TLS_HOST_CERT_MISMATCH`, ...) |
/// | `InvalidCertificate(Expired*)` / `(NotValidYet*)` | `TLS_HOST_CERT_EXPIRED` |
/// | `InvalidCertificate(UnknownIssuer)` | `TLS_UNKNOWN_ISSUER` |
/// | `InvalidCertificate(NotValidForName*)` | `TLS_HOST_NAME_MISMATCH` |
/// | `AlertReceived(bad_certificate, unsupported_certificate, certificate_revoked, certificate_expired, certificate_unknown, unknown_ca, access_denied, certificate_required)` | `TLS_CLIENT_CERT_REJECTED` |
/// | `AlertReceived(handshake_failure, insufficient_security, protocol_version)`, `PeerIncompatible(..)` | `TLS_NO_SHARED_CIPHER` |
/// | anything else | `TLS_HANDSHAKE_FAILED` |
///
/// Only the server can send alerts to us, so a received certificate alert is always
/// about our client certificate. Caveat: OpenSSL servers speaking TLS 1.2 answer a
/// *missing* client certificate with `handshake_failure` (TLS 1.3: `certificate_required`);
/// this module always sends one, so that case does not arise.
pub fn classify(err: &rustls::Error) -> TlsError {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(cert_err) => match cert_err {
            CertificateError::Other(OtherError(inner)) => match inner.downcast_ref::<TlsError>() {
                Some(ours) => ours.clone(),
                None => TlsError::HandshakeFailed(err.clone()),
            },
            CertificateError::Expired => TlsError::HostCertExpired {
                not_after: None,
                now: None,
            },
            CertificateError::ExpiredContext { time, not_after } => TlsError::HostCertExpired {
                not_after: Some(*not_after),
                now: Some(*time),
            },
            CertificateError::NotValidYet => TlsError::HostCertNotYetValid {
                not_before: None,
                now: None,
            },
            CertificateError::NotValidYetContext { time, not_before } => {
                TlsError::HostCertNotYetValid {
                    not_before: Some(*not_before),
                    now: Some(*time),
                }
            }
            CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
            CertificateError::NotValidForName => TlsError::HostNameMismatch {
                expected: String::new(),
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => TlsError::HostNameMismatch {
                expected: expected.to_str().into_owned(),
                presented: presented.clone(),
            },
            _ => TlsError::HandshakeFailed(err.clone()),
        },
        E::AlertReceived(alert) => match alert {
            AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateRequired => TlsError::ClientCertRejected {
                alert: format!("{alert:?}"),
            },
            AlertDescription::HandshakeFailure
            | AlertDescription::InsufficientSecurity
            | AlertDescription::ProtocolVersion => TlsError::NoSharedCipher(err.clone()),
            _ => TlsError::HandshakeFailed(err.clone()),
        },
        E::PeerIncompatible(_) => TlsError::NoSharedCipher(err.clone()),
        _ => TlsError::HandshakeFailed(err.clone()),
    }
}

/// [`classify`] for an `io::Error` from a TLS stream (tokio-rustls wraps rustls errors
/// as `io::Error`s with kind `InvalidData`). `None` when it does not wrap a rustls error
/// (a plain socket error such as a reset or EOF).
pub fn classify_io(err: &std::io::Error) -> Option<TlsError> {
    let inner = err.get_ref()?;
    if let Some(rustls_err) = inner.downcast_ref::<rustls::Error>() {
        return Some(classify(rustls_err));
    }
    inner.downcast_ref::<TlsError>().cloned()
}

fn fmt_time(t: UnixTime) -> String {
    format_time(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
}

fn expired_detail(not_after: &Option<UnixTime>, now: &Option<UnixTime>) -> String {
    match (not_after, now) {
        (Some(a), Some(n)) => format!(" on {} (now {})", fmt_time(*a), fmt_time(*n)),
        _ => String::new(),
    }
}

fn not_yet_detail(not_before: &Option<UnixTime>, now: &Option<UnixTime>) -> String {
    match (not_before, now) {
        (Some(b), Some(n)) => format!(" before {} (now {})", fmt_time(*b), fmt_time(*n)),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{Error, PeerIncompatible, PeerMisbehaved};

    #[test]
    fn our_errors_round_trip_through_rustls() {
        let ours = TlsError::HostCertMismatch {
            expected: "AA".into(),
            presented: "BB".into(),
        };
        let back = classify(&ours.clone().into_rustls());
        assert_eq!(back.code(), "TLS_HOST_CERT_MISMATCH");
        assert_eq!(back.to_string(), ours.to_string());
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, ours.into_rustls());
        assert_eq!(classify_io(&io).unwrap().code(), "TLS_HOST_CERT_MISMATCH");
        assert!(classify_io(&std::io::Error::from(std::io::ErrorKind::ConnectionReset)).is_none());
    }

    #[test]
    fn maps_standard_errors() {
        let t = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_609_459_200));
        let cases: Vec<(Error, &str)> = vec![
            (CertificateError::UnknownIssuer.into(), "TLS_UNKNOWN_ISSUER"),
            (CertificateError::Expired.into(), "TLS_HOST_CERT_EXPIRED"),
            (
                CertificateError::ExpiredContext {
                    time: t,
                    not_after: t,
                }
                .into(),
                "TLS_HOST_CERT_EXPIRED",
            ),
            (
                CertificateError::NotValidYet.into(),
                "TLS_HOST_CERT_EXPIRED",
            ),
            (
                CertificateError::NotValidForName.into(),
                "TLS_HOST_NAME_MISMATCH",
            ),
            (
                CertificateError::BadSignature.into(),
                "TLS_HANDSHAKE_FAILED",
            ),
            (
                Error::AlertReceived(AlertDescription::UnknownCA),
                "TLS_CLIENT_CERT_REJECTED",
            ),
            (
                Error::AlertReceived(AlertDescription::BadCertificate),
                "TLS_CLIENT_CERT_REJECTED",
            ),
            (
                Error::AlertReceived(AlertDescription::CertificateRequired),
                "TLS_CLIENT_CERT_REJECTED",
            ),
            (
                Error::AlertReceived(AlertDescription::CertificateExpired),
                "TLS_CLIENT_CERT_REJECTED",
            ),
            (
                Error::AlertReceived(AlertDescription::HandshakeFailure),
                "TLS_NO_SHARED_CIPHER",
            ),
            (
                Error::AlertReceived(AlertDescription::ProtocolVersion),
                "TLS_NO_SHARED_CIPHER",
            ),
            (
                Error::AlertReceived(AlertDescription::InsufficientSecurity),
                "TLS_NO_SHARED_CIPHER",
            ),
            (
                Error::AlertReceived(AlertDescription::DecryptError),
                "TLS_HANDSHAKE_FAILED",
            ),
            (
                PeerIncompatible::NoCipherSuitesInCommon.into(),
                "TLS_NO_SHARED_CIPHER",
            ),
            (
                PeerMisbehaved::MissingKeyShare.into(),
                "TLS_HANDSHAKE_FAILED",
            ),
            (Error::DecryptError, "TLS_HANDSHAKE_FAILED"),
        ];
        for (err, code) in cases {
            assert_eq!(classify(&err).code(), code, "{err:?}");
        }
        let msg = classify(
            &CertificateError::ExpiredContext {
                time: t,
                not_after: t,
            }
            .into(),
        )
        .to_string();
        assert!(msg.contains("2021-01-01T00:00:00Z"), "{msg}");
    }
}
