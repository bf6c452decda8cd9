//! `TlsConfig` (the controller's identity: client certificate, key, pool CA) and
//! the per-host verification options of a connection.

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;
use tokio_rustls::rustls::pki_types::{ServerName, UnixTime};

use super::errors::{err, Code};
use crate::driver::io::TlsTarget;
use crate::tls::{ClientTls, HostAuth, TlsError, TlsOptions};

/// PEM given as a string or a Buffer.
pub type Pem = Either<String, Buffer>;

fn pem_bytes(p: &Pem) -> Vec<u8> {
    match p {
        Either::A(s) => s.as_bytes().to_vec(),
        Either::B(b) => b.to_vec(),
    }
}

fn tls_error(e: TlsError) -> napi::Error<Code> {
    err(e.code(), e)
}

/// Options of `new TlsConfig()`.
#[napi(object)]
pub struct TlsConfigOptions {
    /// The controller's certificate (PEM), signed by the pool's SDN CA.
    pub client_cert: Pem,
    /// Its private key (PEM).
    pub client_key: Pem,
    /// The pool's SDN CA (PEM): checked to sign `clientCert` before any connection.
    pub pool_ca: Option<Pem>,
}

/// The controller's TLS identity, shared by every connection.
#[napi]
pub struct TlsConfig {
    inner: Arc<ClientTls>,
}

/// Loads and checks the identity: bad PEM, a key that does not match, an expired
/// or not-yet-valid certificate, or one the pool CA did not sign, throw with a
/// `TLS_*` code. (A function rather than a constructor so errors keep their code.)
#[napi(js_name = "__createTlsConfig")]
pub fn create_tls_config(options: TlsConfigOptions) -> napi::Result<TlsConfig, Code> {
    super::errors::guard(|| TlsConfig::new(options))
}

impl TlsConfig {
    fn new(options: TlsConfigOptions) -> napi::Result<Self, Code> {
        let opts = TlsOptions {
            client_cert: pem_bytes(&options.client_cert),
            client_key: pem_bytes(&options.client_key),
            pool_ca: options.pool_ca.as_ref().map(pem_bytes),
            now: UnixTime::now(),
        };
        Ok(TlsConfig { inner: Arc::new(ClientTls::new(opts).map_err(tls_error)?) })
    }
}

#[napi]
impl TlsConfig {
    /// SHA-256 fingerprint of the client certificate (`AB:CD:...`).
    #[napi(getter)]
    pub fn client_cert_fingerprint(&self) -> String {
        self.inner.client_cert_fingerprint()
    }
}

/// How one host is authenticated; exactly one of these must be given.
#[napi(object)]
pub struct HostTlsOptions {
    /// The host's certificate (XAPI `host.get_server_certificate`), the anchor for that host.
    pub server_cert: Option<String>,
    /// SHA-256 pin of the host's certificate.
    pub fingerprint: Option<String>,
    /// A CA that signs the host's certificate.
    pub ca: Option<String>,
    /// No verification at all (the JS facade warns each time).
    pub insecure: Option<bool>,
    /// Name to verify with `ca` (default: the host address).
    pub server_name: Option<String>,
}

/// Builds the TLS target of one connection.
pub fn host_tls(tls: &TlsConfig, host: Option<&HostTlsOptions>, address: &str) -> napi::Result<TlsTarget, Code> {
    let none = HostTlsOptions { server_cert: None, fingerprint: None, ca: None, insecure: None, server_name: None };
    let h = host.unwrap_or(&none);
    let given = [h.server_cert.is_some(), h.fingerprint.is_some(), h.ca.is_some(), h.insecure == Some(true)];
    let auth = match given.iter().filter(|g| **g).count() {
        0 => {
            return Err(err(
                "TLS_HOST_AUTH_REQUIRED",
                "say how to authenticate the host: serverCert (XAPI host.get_server_certificate), fingerprint, ca, or insecure: true",
            ))
        }
        1 => {
            if let Some(c) = &h.server_cert {
                HostAuth::ServerCert(c.as_bytes().to_vec())
            } else if let Some(f) = &h.fingerprint {
                HostAuth::fingerprint_from_str(f).map_err(tls_error)?
            } else if let Some(ca) = &h.ca {
                HostAuth::Ca { ca: ca.as_bytes().to_vec() }
            } else {
                HostAuth::Insecure
            }
        }
        _ => return Err(err("ERR_INVALID_ARG_VALUE", "give only one of serverCert, fingerprint, ca, insecure")),
    };
    let name = h.server_name.clone().unwrap_or_else(|| address.to_owned());
    let config = tls.inner.config_for(&auth, &name).map_err(tls_error)?;
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| err("ERR_INVALID_ARG_VALUE", format!("'{name}' is neither an IP address nor a DNS name")))?;
    Ok(TlsTarget { config, server_name })
}
