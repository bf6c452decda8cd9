//! TLS client configuration for talking to Open vSwitch on XCP-ng hosts (sans-I/O:
//! no sockets, no tokio, no clock; `now` is passed in).
//!
//! # Trust model
//!
//! OVS on an XCP-ng host listens with `pssl:` (ovsdb-server on 6640, ovs-vswitchd's
//! OpenFlow on 6653) and *requires* a client certificate signed by the pool's SDN CA
//! (`/etc/stunnel/certs/sdn-controller-ca.pem`). So two different things are checked:
//!
//! * **Our client certificate**, by the host, against the pool CA. [`ClientTls::new`]
//!   checks ahead of time what the host will check: key matches certificate, validity
//!   period, and (when `pool_ca` is given) that it verifies as a TLS client certificate
//!   against that CA. Every config offers this certificate (mTLS, always).
//! * **The host**, by us, per host, with a [`HostAuth`] that must be chosen explicitly.
//!   The host's certificate (`/etc/xensource/xapi-ssl.pem`, made by xapi's gencert) is
//!   **self-signed, not signed by the pool CA**, so verifying it against the pool CA
//!   fails with `TLS_UNKNOWN_ISSUER`. Use [`HostAuth::ServerCert`] with what XAPI's
//!   `host.get_server_certificate` returns, or a SHA-256 pin ([`HostAuth::Fingerprint`]).
//!   [`HostAuth::Ca`] is for hosts whose certificates really are CA-signed.
//!   [`HostAuth::Insecure`] disables verification; it is never a default and the caller
//!   must log a warning every time a connection uses it (see [`HostAuth::is_insecure`]).
//!
//! Every [`rustls::ClientConfig`] built here: the *ring* provider passed explicitly,
//! TLS 1.3 and 1.2, no ALPN, the client certificate always offered, and one of the
//! verifiers below. The name given to [`ClientTls::config_for`] is the one checked
//! (`HostAuth::Ca`); the name later passed to `ClientConnection::new`/`TlsConnector::connect`
//! only sets SNI (none for IP addresses), so pass the same one.
//!
//! # Errors
//!
//! [`TlsError::code`] gives stable codes. Build-time errors come straight from
//! [`ClientTls::new`]/[`ClientTls::config_for`]; handshake errors come out of rustls
//! (or tokio-rustls as an `io::Error`) and are mapped with [`classify`]/[`classify_io`].
//! With TLS 1.3 the client finishes its handshake before the host has checked the client
//! certificate: a rejection (`TLS_CLIENT_CERT_REJECTED`) arrives as an alert on the
//! first *read*, so the driver must classify read errors too, not only the handshake.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod der;
mod error;
pub mod pem;
mod verify;

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};

pub use error::{classify, classify_io, TlsError};
pub use pem::PemError;

use der::CertInfo;
use verify::{CaVerifier, InsecureVerifier, Pin, PinnedVerifier};

/// Inputs of [`ClientTls::new`]. PEM inputs are file *contents* (string or Buffer bytes).
#[derive(Clone)]
pub struct TlsOptions {
    /// The controller's client certificate, PEM, leaf first, then any intermediates.
    pub client_cert: Vec<u8>,
    /// Its private key, PEM: PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted.
    pub client_key: Vec<u8>,
    /// The pool's SDN CA (PEM) the hosts verify the client certificate against. When
    /// given, a client certificate the hosts would reject fails here, before connecting.
    pub pool_ca: Option<Vec<u8>>,
    /// The time to check the client certificate's validity against (injected for tests;
    /// normally `UnixTime::now()`).
    pub now: UnixTime,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field(
                "client_cert",
                &format_args!("{} bytes", self.client_cert.len()),
            )
            .field("client_key", &"<redacted>")
            .field(
                "pool_ca",
                &self
                    .pool_ca
                    .as_ref()
                    .map(|ca| format!("{} bytes", ca.len())),
            )
            .field("now", &self.now)
            .finish()
    }
}

/// How to authenticate one host. There is no default: the caller chooses per host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAuth {
    /// The host's own certificate (PEM), as XAPI's `host.get_server_certificate` returns
    /// it. The presented leaf must be byte-identical to the first certificate in this PEM
    /// (other blocks, such as the key in a whole `xapi-ssl.pem`, are ignored); it is the
    /// trust anchor for that host, its validity period is enforced
    /// (`TLS_HOST_CERT_EXPIRED`), and the handshake signature is verified with its key.
    /// Another certificate: `TLS_HOST_CERT_MISMATCH`.
    ServerCert(Vec<u8>),
    /// SHA-256 of the DER leaf certificate (see [`HostAuth::fingerprint_from_str`] and
    /// [`sha256_fingerprint`]). Checked like `ServerCert`: validity period enforced,
    /// handshake signature verified; another certificate: `TLS_HOST_CERT_MISMATCH`.
    Fingerprint([u8; 32]),
    /// Standard webpki chain verification (serverAuth) against this CA (PEM, one or more
    /// certificates). The name given to [`ClientTls::config_for`] is checked when the
    /// leaf's subjectAltName has a usable entry (a valid DNS name or an IP address);
    /// when it has none (no SAN, or only odd names like ovs-pki's `DNS:sc id:<uuid>`),
    /// only the chain is verified, so *any* certificate from that CA is accepted for
    /// this host. Errors: `TLS_UNKNOWN_ISSUER`, `TLS_HOST_CERT_EXPIRED`,
    /// `TLS_HOST_NAME_MISMATCH`.
    Ca {
        /// The CA certificate(s), PEM.
        ca: Vec<u8>,
    },
    /// No verification of the host at all (certificate and handshake signature are not
    /// checked): anyone on the path can impersonate the host. Only this explicit variant
    /// does this; the caller must log a warning each time a connection uses it.
    Insecure,
}

impl HostAuth {
    /// Parses a SHA-256 fingerprint: 64 hex digits, either plain or as 32 colon-separated
    /// pairs (`AB:CD:...`, as `openssl x509 -fingerprint -sha256` prints; its
    /// `sha256 Fingerprint=` prefix is accepted). Case-insensitive.
    pub fn fingerprint_from_str(s: &str) -> Result<HostAuth, TlsError> {
        let bad = || TlsError::InvalidConfig(format!("not a SHA-256 fingerprint: {s:?}"));
        let mut hex = s.trim();
        if let Some((prefix, rest)) = hex.split_once('=') {
            if !prefix.to_ascii_lowercase().contains("fingerprint") {
                return Err(bad());
            }
            hex = rest.trim();
        }
        let digits: String = if hex.contains(':') {
            let pairs: Vec<&str> = hex.split(':').collect();
            if pairs.len() != 32 || pairs.iter().any(|p| p.len() != 2) {
                return Err(bad());
            }
            pairs.concat()
        } else {
            hex.to_owned()
        };
        if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(HostAuth::Fingerprint(out))
    }

    /// True for [`HostAuth::Insecure`]: the caller logs a warning for each connection.
    pub fn is_insecure(&self) -> bool {
        matches!(self, HostAuth::Insecure)
    }
}

/// The controller's TLS identity, checked once; hands out a [`ClientConfig`] per host.
pub struct ClientTls {
    provider: Arc<CryptoProvider>,
    certified_key: Arc<CertifiedKey>,
    client_cert_info: CertInfo,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("client_cert_sha256", &self.client_cert_fingerprint())
            .field(
                "client_cert_not_after",
                &der::format_time(self.client_cert_info.not_after),
            )
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Loads and checks the client identity: PEM parsing (`TLS_BAD_PEM`), key matches
    /// the certificate (`TLS_KEY_MISMATCH`), validity period against `now`
    /// (`TLS_CLIENT_CERT_EXPIRED`, `TLS_CLIENT_CERT_NOT_YET_VALID`), and, with
    /// `pool_ca`, chain + clientAuth usage against it (`TLS_CLIENT_CERT_NOT_FROM_POOL_CA`).
    pub fn new(opts: TlsOptions) -> Result<ClientTls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = pem::load_certs(&opts.client_cert, "client certificate")?;
        let key = pem::load_private_key(&opts.client_key, "client private key")?;
        let signing_key =
            provider
                .key_provider
                .load_private_key(key)
                .map_err(|e| PemError::BadDer {
                    what: "client private key",
                    index: 1,
                    detail: format!("unusable key: {e}"),
                })?;
        let certified_key = CertifiedKey::new(chain.clone(), signing_key);
        match certified_key.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => return Err(TlsError::KeyMismatch),
            Err(e) => {
                return Err(PemError::BadDer {
                    what: "client certificate",
                    index: 1,
                    detail: e.to_string(),
                }
                .into())
            }
        }

        // load_certs never returns an empty chain; no panic path if that ever changes
        let (leaf, intermediates) = chain.split_first().ok_or(PemError::NoPemBlock {
            what: "client certificate",
            looks_like_der: false,
        })?;
        let info = CertInfo::parse(leaf).map_err(|e| PemError::BadDer {
            what: "client certificate",
            index: 1,
            detail: e.to_string(),
        })?;
        let now_secs = i64::try_from(opts.now.as_secs()).unwrap_or(i64::MAX);
        if now_secs > info.not_after {
            return Err(TlsError::ClientCertExpired {
                not_after: unix(info.not_after),
                now: opts.now,
            });
        }
        if now_secs < info.not_before {
            return Err(TlsError::ClientCertNotYetValid {
                not_before: unix(info.not_before),
                now: opts.now,
            });
        }

        if let Some(pool_ca) = &opts.pool_ca {
            let roots = root_store(pool_ca, "pool CA")?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| TlsError::InvalidConfig(format!("pool CA: {e}")))?;
            verifier
                .verify_client_cert(leaf, intermediates, opts.now)
                .map_err(|e| TlsError::ClientCertNotFromPoolCa {
                    reason: pool_ca_reason(&e),
                })?;
        }

        Ok(ClientTls {
            provider,
            certified_key: Arc::new(certified_key),
            client_cert_info: info,
        })
    }

    /// A client config for one host, TLS 1.3 and 1.2. `server_name` is the IP address or
    /// DNS name used to connect; it is checked by [`HostAuth::Ca`] (see the module docs).
    /// Errors: `TLS_BAD_PEM` (host cert/CA), `TLS_INVALID_CONFIG` (server name).
    pub fn config_for(
        &self,
        auth: &HostAuth,
        server_name: &str,
    ) -> Result<Arc<ClientConfig>, TlsError> {
        self.config_for_versions(
            auth,
            server_name,
            &[&rustls::version::TLS13, &rustls::version::TLS12],
        )
    }

    /// [`ClientTls::config_for`] restricted to the given protocol versions (e.g. only
    /// `&[&rustls::version::TLS12]` to mimic an older peer in tests).
    pub fn config_for_versions(
        &self,
        auth: &HostAuth,
        server_name: &str,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| TlsError::InvalidConfig(format!("server name {server_name:?}: {e}")))?;
        let algs = self.provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match auth {
            HostAuth::ServerCert(pem_bytes) => {
                let der = pem::load_certs(pem_bytes, "host certificate")?.swap_remove(0);
                let bad = |detail: String| PemError::BadDer {
                    what: "host certificate",
                    index: 1,
                    detail,
                };
                let info = CertInfo::parse(&der).map_err(|e| bad(e.to_string()))?;
                // Signature verification parses it with webpki: fail now rather than mid-handshake.
                ParsedCertificate::try_from(&der).map_err(|e| bad(e.to_string()))?;
                Arc::new(PinnedVerifier {
                    pin: Pin::Cert { der, info },
                    algs,
                })
            }
            HostAuth::Fingerprint(pin) => Arc::new(PinnedVerifier {
                pin: Pin::Sha256(*pin),
                algs,
            }),
            HostAuth::Ca { ca } => Arc::new(CaVerifier {
                roots: Arc::new(root_store(ca, "host CA")?),
                algs,
                name,
            }),
            HostAuth::Insecure => Arc::new(InsecureVerifier { algs }),
        };
        let config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::InvalidConfig(format!("protocol versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            // Always offers the one client certificate: OVS's `pssl:` requires it.
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(
                &self.certified_key,
            ))));
        debug_assert!(config.alpn_protocols.is_empty());
        Ok(Arc::new(config))
    }

    /// SHA-256 fingerprint of the client certificate (`AB:CD:...`), for logs.
    pub fn client_cert_fingerprint(&self) -> String {
        self.certified_key
            .end_entity_cert()
            .map(|c| sha256_fingerprint(c))
            .unwrap_or_default()
    }

    /// The client certificate's notAfter, to warn before it expires.
    pub fn client_cert_not_after(&self) -> UnixTime {
        unix(self.client_cert_info.not_after)
    }
}

/// SHA-256 of a DER certificate in openssl's form: upper-case hex pairs joined by `:`.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    hex_colon(&sha256(der))
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

pub(crate) fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn unix(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(secs).unwrap_or(0),
    ))
}

fn root_store(pem_bytes: &[u8], what: &'static str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in pem::load_certs(pem_bytes, what)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| PemError::BadDer {
            what,
            index: i + 1,
            detail: format!("not usable as a trust anchor: {e}"),
        })?;
    }
    Ok(roots)
}

fn pool_ca_reason(err: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "it is not signed by the pool CA".into()
        }
        rustls::Error::InvalidCertificate(C::BadSignature) => {
            "its signature does not verify with the pool CA".into()
        }
        rustls::Error::InvalidCertificate(C::InvalidPurpose | C::InvalidPurposeContext { .. }) => {
            "it is not allowed for TLS client authentication (extendedKeyUsage lacks clientAuth)"
                .into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_formats() {
        let fp = sha256_fingerprint(b"abc");
        assert_eq!(
            fp,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        let expected = HostAuth::Fingerprint(sha256(b"abc"));
        assert_eq!(HostAuth::fingerprint_from_str(&fp).unwrap(), expected);
        assert_eq!(
            HostAuth::fingerprint_from_str(&fp.to_lowercase()).unwrap(),
            expected
        );
        assert_eq!(
            HostAuth::fingerprint_from_str(&fp.replace(':', "")).unwrap(),
            expected
        );
        assert_eq!(
            HostAuth::fingerprint_from_str(&format!("sha256 Fingerprint={fp}\n")).unwrap(),
            expected
        );
        for bad in [
            "",
            "AB",
            &fp[3..],
            &fp.replace("BA:78", "BA7:8"),
            &fp.replace('B', "G"),
            &format!("x={fp}"),
        ] {
            let err = HostAuth::fingerprint_from_str(bad).unwrap_err();
            assert_eq!(err.code(), "TLS_INVALID_CONFIG", "{bad:?}");
        }
        assert!(HostAuth::Insecure.is_insecure());
        assert!(!expected.is_insecure());
    }

    #[test]
    fn options_debug_redacts_the_key() {
        let opts = TlsOptions {
            client_cert: b"cert".to_vec(),
            client_key: b"SECRET".to_vec(),
            pool_ca: None,
            now: UnixTime::now(),
        };
        assert!(!format!("{opts:?}").contains("SECRET"));
    }
}
