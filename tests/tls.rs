//! Integration tests for `xo_sdn_native::tls`.
//!
//! The test PKI is generated at test time with the `openssl` CLI (never hand-made), read
//! into memory, and its temp dir removed. Handshakes run in-process: a rustls server
//! that verifies client certificates against the pool CA (like OVS does) and our client
//! config, pumping bytes between the two in memory. The last tests run against a real
//! Open vSwitch started by `testing/sandbox.js` (they fail, not skip, when OVS is missing).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use rustls::pki_types::{ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
};
use rustls::{ProtocolVersion, SupportedProtocolVersion};
use xo_sdn_native::tls::{
    classify, classify_io, pem, sha256_fingerprint, ClientTls, HostAuth, TlsError, TlsOptions,
};

const TLS12: &SupportedProtocolVersion = &rustls::version::TLS12;
const TLS13: &SupportedProtocolVersion = &rustls::version::TLS13;
const BOTH: &[&SupportedProtocolVersion] = &[TLS13, TLS12];
const HOST_NAME: &str = "xcp-host-1";
const HOST_IP: &str = "127.0.0.1";

// ---------------------------------------------------------------------------------------
// Test PKI (openssl CLI)

/// A certificate and its key, PEM.
#[derive(Clone)]
struct Pair {
    cert: Vec<u8>,
    key: Vec<u8>,
}

struct Pki {
    ca: Pair,
    wrong_ca: Pair,
    /// Pool-CA-signed, EKU clientAuth, PKCS#8 RSA key.
    client: Pair,
    /// `client.key` converted to PKCS#1 (`RSA PRIVATE KEY`).
    client_key_pkcs1: Vec<u8>,
    /// Pool-CA-signed, P-256, SEC1 key (`EC PRIVATE KEY`).
    client_ec: Pair,
    /// Pool-CA-signed but EKU serverAuth only.
    client_server_eku: Pair,
    /// Pool-CA-signed, 2020-01-01 .. 2021-01-01.
    client_expired: Pair,
    /// Pool-CA-signed, 2099-12-31 .. 2100-12-31.
    client_not_yet_valid: Pair,
    /// Signed by `wrong_ca`.
    client_wrong_ca: Pair,
    /// Like xapi's gencert: RSA-2048, self-signed, CN=hostname, only a SAN, no basicConstraints.
    host: Pair,
    /// Another such self-signed host certificate (same names, different key).
    host_other: Pair,
    /// Pool-CA-signed host cert, EKU serverAuth, SAN DNS:xcp-host-1, IP:127.0.0.1.
    host_pool: Pair,
    /// Pool-CA-signed host cert, expired (2020-01-01 .. 2021-01-01).
    host_pool_expired: Pair,
    /// Pool-CA-signed, with only an ovs-pki style SAN `DNS:sc id:<uuid>`.
    host_pool_odd_name: Pair,
    /// `openssl req -x509` self-signed leaf: basicConstraints CA:TRUE.
    host_req_x509: Pair,
    /// `openssl x509 -fingerprint -sha256` output for `host`.
    host_openssl_fingerprint: String,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(make_pki)
}

struct Gen {
    dir: PathBuf,
    serial: AtomicU32,
}

impl Gen {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn openssl(&self, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .env("OPENSSL_CONF", "/dev/null")
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run the openssl CLI (needed to generate the test PKI): {e}")
            });
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn write(&self, name: &str, contents: &str) -> String {
        std::fs::write(self.dir.join(name), contents).unwrap();
        self.path(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }

    fn pair(&self, base: &str) -> Pair {
        Pair {
            cert: self.read(&format!("{base}-cert.pem")),
            key: self.read(&format!("{base}-key.pem")),
        }
    }

    fn next_serial(&self) -> String {
        format!(
            "0x{:x}",
            0x1000 + self.serial.fetch_add(1, Ordering::Relaxed)
        )
    }

    #[rustfmt::skip]
    fn ca(&self, base: &str, subj: &str) {
        self.openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
            "-keyout", &self.path(&format!("{base}-key.pem")), "-out", &self.path(&format!("{base}-cert.pem")),
            "-subj", subj,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    /// New key + CSR. `key_alg` is `rsa:2048` or `ec` (P-256).
    fn csr(&self, base: &str, subj: &str, key_alg: &str) {
        let (csr, key) = (
            self.path(&format!("{base}.csr")),
            self.path(&format!("{base}-key.pem")),
        );
        let mut args = vec!["req", "-new", "-newkey", key_alg];
        if key_alg == "ec" {
            args.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
        }
        args.extend([
            "-nodes", "-sha256", "-keyout", &key, "-out", &csr, "-subj", subj,
        ]);
        self.openssl(&args);
    }

    /// Signs `base.csr` with `ca` (`x509 -req`, 10 years), extensions `ext` lines.
    #[rustfmt::skip]
    fn sign(&self, base: &str, ca: &str, ext: &[&str]) {
        let extfile = self.write(&format!("{base}.ext"), &(ext.join("\n") + "\n"));
        self.openssl(&[
            "x509", "-req", "-in", &self.path(&format!("{base}.csr")),
            "-CA", &self.path(&format!("{ca}-cert.pem")), "-CAkey", &self.path(&format!("{ca}-key.pem")),
            "-set_serial", &self.next_serial(), "-days", "3650", "-sha256", "-extfile", &extfile,
            "-out", &self.path(&format!("{base}-cert.pem")),
        ]);
    }

    /// Signs `base.csr` with `ca` and explicit dates (OpenSSL 3.0's `x509 -req` cannot
    /// set notBefore, `openssl ca` can). Dates as `YYYYMMDDHHMMSSZ`.
    #[rustfmt::skip]
    fn sign_dated(&self, base: &str, ca: &str, ext: &[&str], start: &str, end: &str) {
        let db = self.dir.join(format!("cadb-{base}"));
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("index.txt"), "").unwrap();
        let db = db.to_string_lossy().into_owned();
        let cnf = format!(
            "[ca]\ndefault_ca = test\n\
             [test]\ndatabase = {db}/index.txt\nnew_certs_dir = {db}\nserial = {db}/serial\n\
             default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\n\
             [any]\ncommonName = supplied\norganizationName = optional\n\
             [exts]\n{}\n",
            ext.join("\n")
        );
        let cnf = self.write(&format!("{base}-ca.cnf"), &cnf);
        self.openssl(&[
            "ca", "-batch", "-config", &cnf, "-notext", "-rand_serial",
            "-cert", &self.path(&format!("{ca}-cert.pem")), "-keyfile", &self.path(&format!("{ca}-key.pem")),
            "-startdate", start, "-enddate", end, "-extensions", "exts",
            "-in", &self.path(&format!("{base}.csr")), "-out", &self.path(&format!("{base}-cert.pem")),
        ]);
    }

    /// Self-signed like xapi's gencert (`req -new` + `x509 -req -signkey`): RSA-2048,
    /// CN=hostname, only a subjectAltName (DNS + IP), no basicConstraints/SKID/AKID.
    #[rustfmt::skip]
    fn xapi_host(&self, base: &str) {
        self.csr(base, &format!("/CN={HOST_NAME}"), "rsa:2048");
        let ext = format!(
            "subjectAltName=DNS:{HOST_NAME},IP:{HOST_IP}\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n"
        );
        let extfile = self.write(&format!("{base}.ext"), &ext);
        self.openssl(&[
            "x509", "-req", "-in", &self.path(&format!("{base}.csr")),
            "-signkey", &self.path(&format!("{base}-key.pem")),
            "-set_serial", &self.next_serial(), "-days", "3650", "-sha256", "-extfile", &extfile,
            "-out", &self.path(&format!("{base}-cert.pem")),
        ]);
    }

    /// `openssl req -x509` self-signed leaf (adds basicConstraints CA:TRUE).
    #[rustfmt::skip]
    fn req_x509_leaf(&self, base: &str) {
        self.openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
            "-keyout", &self.path(&format!("{base}-key.pem")), "-out", &self.path(&format!("{base}-cert.pem")),
            "-subj", &format!("/CN={HOST_NAME}"),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", &format!("subjectAltName=DNS:{HOST_NAME},IP:{HOST_IP}"),
        ]);
    }
}

fn make_pki() -> Pki {
    let dir = std::env::temp_dir().join(format!("xo-sdn-tls-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let g = Gen {
        dir: dir.clone(),
        serial: AtomicU32::new(1),
    };

    g.ca("ca", "/O=Test Pool/CN=test-sdn-ca");
    g.ca("wrong-ca", "/O=Some Other Org/CN=wrong-ca");
    let client_ext = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=clientAuth",
    ];
    let san = format!("subjectAltName=DNS:{HOST_NAME},IP:{HOST_IP}");
    let server_ext = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        &san,
    ];

    g.csr("client", "/O=Test Pool/CN=sdn-controller", "rsa:2048");
    g.sign("client", "ca", &client_ext);
    g.openssl(&[
        "rsa",
        "-in",
        &g.path("client-key.pem"),
        "-traditional",
        "-out",
        &g.path("client-key-pkcs1.pem"),
    ]);

    g.csr("client-ec", "/O=Test Pool/CN=sdn-controller-ec", "ec");
    g.sign(
        "client-ec",
        "ca",
        &[
            "basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=clientAuth",
        ],
    );
    g.openssl(&[
        "ec",
        "-in",
        &g.path("client-ec-key.pem"),
        "-out",
        &g.path("client-ec-key-sec1.pem"),
    ]);

    g.csr(
        "client-server-eku",
        "/O=Test Pool/CN=sdn-controller-server-eku",
        "rsa:2048",
    );
    g.sign(
        "client-server-eku",
        "ca",
        &["basicConstraints=CA:FALSE", "extendedKeyUsage=serverAuth"],
    );

    g.csr(
        "client-expired",
        "/O=Test Pool/CN=sdn-controller-expired",
        "rsa:2048",
    );
    g.sign_dated(
        "client-expired",
        "ca",
        &client_ext,
        "20200101000000Z",
        "20210101000000Z",
    );
    g.csr(
        "client-notyet",
        "/O=Test Pool/CN=sdn-controller-notyet",
        "rsa:2048",
    );
    g.sign_dated(
        "client-notyet",
        "ca",
        &client_ext,
        "20991231000000Z",
        "21001231000000Z",
    );

    g.csr(
        "client-wrongca",
        "/O=Some Other Org/CN=sdn-controller-wrongca",
        "rsa:2048",
    );
    g.sign("client-wrongca", "wrong-ca", &client_ext);

    g.xapi_host("host");
    g.xapi_host("host-other");

    g.csr("host-pool", &format!("/CN={HOST_NAME}"), "rsa:2048");
    g.sign("host-pool", "ca", &server_ext);
    g.csr("host-pool-expired", &format!("/CN={HOST_NAME}"), "rsa:2048");
    g.sign_dated(
        "host-pool-expired",
        "ca",
        &server_ext,
        "20200101000000Z",
        "20210101000000Z",
    );
    g.csr(
        "host-pool-odd",
        "/CN=sc id:0a1b2c3d-0000-4000-8000-000000000001",
        "rsa:2048",
    );
    g.sign(
        "host-pool-odd",
        "ca",
        &["subjectAltName=DNS:sc id:0a1b2c3d-0000-4000-8000-000000000001"],
    );

    g.req_x509_leaf("host-x509");
    let fp = g.openssl(&[
        "x509",
        "-in",
        &g.path("host-cert.pem"),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);

    let pki = Pki {
        ca: g.pair("ca"),
        wrong_ca: g.pair("wrong-ca"),
        client: g.pair("client"),
        client_key_pkcs1: g.read("client-key-pkcs1.pem"),
        client_ec: Pair {
            cert: g.read("client-ec-cert.pem"),
            key: g.read("client-ec-key-sec1.pem"),
        },
        client_server_eku: g.pair("client-server-eku"),
        client_expired: g.pair("client-expired"),
        client_not_yet_valid: g.pair("client-notyet"),
        client_wrong_ca: g.pair("client-wrongca"),
        host: g.pair("host"),
        host_other: g.pair("host-other"),
        host_pool: g.pair("host-pool"),
        host_pool_expired: g.pair("host-pool-expired"),
        host_pool_odd_name: g.pair("host-pool-odd"),
        host_req_x509: g.pair("host-x509"),
        host_openssl_fingerprint: fp.trim().to_owned(),
    };
    std::fs::remove_dir_all(&dir).unwrap();
    pki
}

// ---------------------------------------------------------------------------------------
// Helpers

fn at(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

fn opts(client: &Pair, pool_ca: Option<&Pair>) -> TlsOptions {
    TlsOptions {
        client_cert: client.cert.clone(),
        client_key: client.key.clone(),
        pool_ca: pool_ca.map(|ca| ca.cert.clone()),
        now: UnixTime::now(),
    }
}

fn client_tls(client: &Pair) -> ClientTls {
    ClientTls::new(opts(client, Some(&pki().ca))).unwrap()
}

fn build_err(o: TlsOptions) -> TlsError {
    ClientTls::new(o).expect_err("ClientTls::new should fail")
}

/// A rustls server like OVS's `pssl:`: serves `host`, requires a client cert from the pool CA.
fn server(host: &Pair, versions: &[&'static SupportedProtocolVersion]) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in pem::load_certs(&pki().ca.cert, "pool CA").unwrap() {
        roots.add(ca).unwrap();
    }
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(
            pem::load_certs(&host.cert, "host cert").unwrap(),
            pem::load_private_key(&host.key, "host key").unwrap(),
        )
        .unwrap();
    Arc::new(config)
}

struct Outcome {
    client: Result<(), rustls::Error>,
    server: Result<(), rustls::Error>,
    version: Option<ProtocolVersion>,
}

impl Outcome {
    /// The client-side outcome: "ok" or the classified code.
    fn code(&self) -> &'static str {
        match &self.client {
            Ok(()) => "ok",
            Err(e) => classify(e).code(),
        }
    }
}

/// Moves all pending TLS records from `from` to `to`; records `to`'s first error.
fn transfer(
    from: &mut Connection,
    to: &mut Connection,
    to_err: &mut Option<rustls::Error>,
) -> usize {
    let mut buf = Vec::new();
    while from.wants_write() {
        if from.write_tls(&mut buf).unwrap() == 0 {
            break;
        }
    }
    let mut rd = &buf[..];
    while to_err.is_none() && !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
        if let Err(e) = to.process_new_packets() {
            *to_err = Some(e);
        }
    }
    buf.len()
}

fn pump(
    c: &mut Connection,
    s: &mut Connection,
    ce: &mut Option<rustls::Error>,
    se: &mut Option<rustls::Error>,
) {
    for _ in 0..100 {
        let moved = transfer(c, s, se) + transfer(s, c, ce);
        if moved == 0 {
            return;
        }
    }
    panic!("handshake did not settle");
}

/// Runs a handshake in memory, then a ping/pong of application data (which also surfaces
/// a TLS 1.3 server's post-handshake rejection of the client certificate).
fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>, name: &str) -> Outcome {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut c = Connection::Client(ClientConnection::new(client, name).unwrap());
    let mut s = Connection::Server(ServerConnection::new(server).unwrap());
    let (mut ce, mut se) = (None, None);
    pump(&mut c, &mut s, &mut ce, &mut se);
    if ce.is_none() && se.is_none() {
        assert!(!c.is_handshaking() && !s.is_handshaking());
        c.writer().write_all(b"ping").unwrap();
        pump(&mut c, &mut s, &mut ce, &mut se);
        if ce.is_none() && se.is_none() {
            let mut buf = [0u8; 4];
            s.reader().read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
            s.writer().write_all(b"pong").unwrap();
            pump(&mut c, &mut s, &mut ce, &mut se);
            if ce.is_none() {
                c.reader().read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"pong");
            }
        }
    }
    Outcome {
        client: ce.map_or(Ok(()), Err),
        server: se.map_or(Ok(()), Err),
        version: c.protocol_version(),
    }
}

fn run(
    auth: &HostAuth,
    name: &str,
    host: &Pair,
    server_versions: &[&'static SupportedProtocolVersion],
) -> Outcome {
    let config = client_tls(&pki().client).config_for(auth, name).unwrap();
    handshake(config, server(host, server_versions), name)
}

fn assert_code(outcome: &Outcome, code: &str) {
    assert_eq!(
        outcome.code(),
        code,
        "client: {:?} / server: {:?}",
        outcome
            .client
            .as_ref()
            .err()
            .map(|e| (e, classify(e).to_string())),
        outcome.server
    );
}

fn leaf_der(pem_bytes: &[u8]) -> Vec<u8> {
    pem::load_certs(pem_bytes, "cert").unwrap()[0].to_vec()
}

// ---------------------------------------------------------------------------------------
// ClientTls::new

#[test]
fn client_identity_loads_in_every_key_format() {
    let p = pki();
    assert!(ClientTls::new(opts(&p.client, Some(&p.ca))).is_ok());
    assert!(ClientTls::new(opts(&p.client, None)).is_ok());
    assert!(String::from_utf8_lossy(&p.client_key_pkcs1).contains("BEGIN RSA PRIVATE KEY"));
    let pkcs1 = Pair {
        cert: p.client.cert.clone(),
        key: p.client_key_pkcs1.clone(),
    };
    assert!(ClientTls::new(opts(&pkcs1, Some(&p.ca))).is_ok());
    assert!(String::from_utf8_lossy(&p.client_ec.key).contains("BEGIN EC PRIVATE KEY"));
    let tls = ClientTls::new(opts(&p.client_ec, Some(&p.ca))).unwrap();
    assert_eq!(
        tls.client_cert_fingerprint(),
        sha256_fingerprint(&leaf_der(&p.client_ec.cert))
    );
    // key and cert in one PEM (like xapi-ssl.pem), given as both inputs
    let mut combined = p.client.key.clone();
    combined.extend_from_slice(&p.client.cert);
    let both = Pair {
        cert: combined.clone(),
        key: combined,
    };
    assert!(ClientTls::new(opts(&both, Some(&p.ca))).is_ok());
}

#[test]
fn key_must_match_certificate() {
    let p = pki();
    let wrong = Pair {
        cert: p.client.cert.clone(),
        key: p.host.key.clone(),
    };
    assert_eq!(build_err(opts(&wrong, None)).code(), "TLS_KEY_MISMATCH");
    let wrong_kind = Pair {
        cert: p.client.cert.clone(),
        key: p.client_ec.key.clone(),
    };
    assert_eq!(
        build_err(opts(&wrong_kind, None)).code(),
        "TLS_KEY_MISMATCH"
    );
}

#[test]
fn client_cert_validity_is_checked_against_now() {
    let p = pki();
    let err = build_err(opts(&p.client_expired, Some(&p.ca)));
    assert_eq!(err.code(), "TLS_CLIENT_CERT_EXPIRED");
    assert!(err.to_string().contains("2021-01-01T00:00:00Z"), "{err}");
    let err = build_err(opts(&p.client_not_yet_valid, Some(&p.ca)));
    assert_eq!(err.code(), "TLS_CLIENT_CERT_NOT_YET_VALID");
    assert!(err.to_string().contains("2099-12-31T00:00:00Z"), "{err}");

    // `now` is injected: inside the validity period the same certificates are fine,
    // and the boundaries are inclusive (notBefore <= now <= notAfter).
    let jan_2020 = 1_577_836_800;
    let jan_2021 = 1_609_459_200;
    for (now, code) in [
        (jan_2020 - 1, "TLS_CLIENT_CERT_NOT_YET_VALID"),
        (jan_2020, "ok"),
        (jan_2021, "ok"),
        (jan_2021 + 1, "TLS_CLIENT_CERT_EXPIRED"),
    ] {
        let o = TlsOptions {
            now: at(now),
            ..opts(&p.client_expired, Some(&p.ca))
        };
        let got = ClientTls::new(o).map_or_else(|e| e.code(), |_| "ok");
        assert_eq!(got, code, "now = {now}");
    }
    let tls = ClientTls::new(TlsOptions {
        now: at(jan_2020 + 10),
        ..opts(&p.client_expired, None)
    })
    .unwrap();
    assert_eq!(tls.client_cert_not_after(), at(jan_2021));
}

#[test]
fn client_cert_must_come_from_the_pool_ca() {
    let p = pki();
    let err = build_err(opts(&p.client_wrong_ca, Some(&p.ca)));
    assert_eq!(err.code(), "TLS_CLIENT_CERT_NOT_FROM_POOL_CA");
    assert!(
        err.to_string().contains("not signed by the pool CA"),
        "{err}"
    );
    // the right CA for that cert is fine
    assert!(ClientTls::new(opts(&p.client_wrong_ca, Some(&p.wrong_ca))).is_ok());
    // signed by the pool CA but not usable for client auth
    let err = build_err(opts(&p.client_server_eku, Some(&p.ca)));
    assert_eq!(err.code(), "TLS_CLIENT_CERT_NOT_FROM_POOL_CA");
    assert!(err.to_string().contains("clientAuth"), "{err}");
}

#[test]
fn bad_pem_inputs() {
    let p = pki();
    let cases: Vec<(&str, TlsOptions)> = vec![
        (
            "garbage cert",
            TlsOptions {
                client_cert: b"not a certificate".to_vec(),
                ..opts(&p.client, None)
            },
        ),
        (
            "empty cert",
            TlsOptions {
                client_cert: Vec::new(),
                ..opts(&p.client, None)
            },
        ),
        (
            "key as cert",
            TlsOptions {
                client_cert: p.client.key.clone(),
                ..opts(&p.client, None)
            },
        ),
        (
            "cert as key",
            TlsOptions {
                client_key: p.client.cert.clone(),
                ..opts(&p.client, None)
            },
        ),
        (
            "empty key",
            TlsOptions {
                client_key: Vec::new(),
                ..opts(&p.client, None)
            },
        ),
        (
            "DER cert",
            TlsOptions {
                client_cert: leaf_der(&p.client.cert),
                ..opts(&p.client, None)
            },
        ),
        (
            "garbage pool CA",
            TlsOptions {
                pool_ca: Some(
                    b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".to_vec(),
                ),
                ..opts(&p.client, None)
            },
        ),
        (
            "key as pool CA",
            TlsOptions {
                pool_ca: Some(p.ca.key.clone()),
                ..opts(&p.client, None)
            },
        ),
    ];
    for (what, o) in cases {
        let err = build_err(o);
        assert_eq!(err.code(), "TLS_BAD_PEM", "{what}: {err}");
    }
    let err = build_err(TlsOptions {
        client_cert: p.client.key.clone(),
        ..opts(&p.client, None)
    });
    assert!(
        err.to_string()
            .contains("expected a PEM block of type CERTIFICATE, found PRIVATE KEY"),
        "{err}"
    );

    let tls = client_tls(&p.client);
    for auth in [
        HostAuth::ServerCert(b"garbage".to_vec()),
        HostAuth::ServerCert(p.host.key.clone()),
        HostAuth::Ca { ca: Vec::new() },
    ] {
        assert_eq!(
            tls.config_for(&auth, HOST_IP).unwrap_err().code(),
            "TLS_BAD_PEM",
            "{auth:?}"
        );
    }
    let err = tls
        .config_for(&HostAuth::Insecure, "not a valid name!")
        .unwrap_err();
    assert_eq!(err.code(), "TLS_INVALID_CONFIG");
}

#[test]
fn config_shape() {
    let tls = client_tls(&pki().client);
    let config = tls
        .config_for(&HostAuth::ServerCert(pki().host.cert.clone()), HOST_IP)
        .unwrap();
    assert!(config.alpn_protocols.is_empty());
    assert!(config.client_auth_cert_resolver.has_certs());
    let suites = |p: &rustls::crypto::CryptoProvider| {
        p.cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        suites(config.crypto_provider()),
        suites(&rustls::crypto::ring::default_provider())
    );
}

// ---------------------------------------------------------------------------------------
// Handshakes: HostAuth::ServerCert / Fingerprint

#[test]
fn server_cert_match_over_tls13_and_tls12() {
    let p = pki();
    let auth = HostAuth::ServerCert(p.host.cert.clone());
    for (versions, expected) in [
        (&[TLS13][..], ProtocolVersion::TLSv1_3),
        (&[TLS12][..], ProtocolVersion::TLSv1_2),
    ] {
        for name in [HOST_IP, HOST_NAME, "any-name.example"] {
            let o = run(&auth, name, &p.host, versions);
            assert_code(&o, "ok");
            assert_eq!(o.version, Some(expected));
        }
    }
}

#[test]
fn server_cert_accepts_a_whole_xapi_ssl_pem() {
    let p = pki();
    let mut xapi_ssl = p.host.key.clone();
    xapi_ssl.extend_from_slice(&p.host.cert);
    assert_code(
        &run(&HostAuth::ServerCert(xapi_ssl), HOST_IP, &p.host, BOTH),
        "ok",
    );
}

#[test]
fn server_cert_mismatch() {
    let p = pki();
    let o = run(
        &HostAuth::ServerCert(p.host.cert.clone()),
        HOST_IP,
        &p.host_other,
        BOTH,
    );
    assert_code(&o, "TLS_HOST_CERT_MISMATCH");
    let msg = classify(o.client.as_ref().unwrap_err()).to_string();
    assert!(
        msg.contains(&sha256_fingerprint(&leaf_der(&p.host_other.cert))),
        "{msg}"
    );
    assert!(o.server.is_err(), "the server should see our alert");
    // a CA-signed certificate is not the pinned one either
    assert_code(
        &run(
            &HostAuth::ServerCert(p.host.cert.clone()),
            HOST_IP,
            &p.host_pool,
            BOTH,
        ),
        "TLS_HOST_CERT_MISMATCH",
    );
}

#[test]
fn server_cert_expiry_is_still_checked() {
    let p = pki();
    let o = run(
        &HostAuth::ServerCert(p.host_pool_expired.cert.clone()),
        HOST_IP,
        &p.host_pool_expired,
        BOTH,
    );
    assert_code(&o, "TLS_HOST_CERT_EXPIRED");
    let msg = classify(o.client.as_ref().unwrap_err()).to_string();
    assert!(msg.contains("2021-01-01T00:00:00Z"), "{msg}");
    let fp: [u8; 32] =
        ring::digest::digest(&ring::digest::SHA256, &leaf_der(&p.host_pool_expired.cert))
            .as_ref()
            .try_into()
            .unwrap();
    assert_code(
        &run(
            &HostAuth::Fingerprint(fp),
            HOST_IP,
            &p.host_pool_expired,
            BOTH,
        ),
        "TLS_HOST_CERT_EXPIRED",
    );
}

#[test]
fn server_cert_pin_works_for_a_req_x509_leaf() {
    // webpki would reject this leaf in a chain (CaUsedAsEndEntity); pinned, it is fine.
    let p = pki();
    assert_code(
        &run(
            &HostAuth::ServerCert(p.host_req_x509.cert.clone()),
            HOST_IP,
            &p.host_req_x509,
            BOTH,
        ),
        "ok",
    );
}

#[test]
fn fingerprint_match_and_mismatch() {
    let p = pki();
    let fp = sha256_fingerprint(&leaf_der(&p.host.cert));
    assert_eq!(
        p.host_openssl_fingerprint,
        format!("sha256 Fingerprint={fp}"),
        "same form as openssl"
    );
    let auth = HostAuth::fingerprint_from_str(&p.host_openssl_fingerprint).unwrap();
    assert_eq!(
        auth,
        HostAuth::fingerprint_from_str(&fp.replace(':', "").to_lowercase()).unwrap()
    );
    for versions in [&[TLS13][..], &[TLS12][..]] {
        assert_code(&run(&auth, HOST_IP, &p.host, versions), "ok");
        assert_code(
            &run(&auth, HOST_IP, &p.host_other, versions),
            "TLS_HOST_CERT_MISMATCH",
        );
    }
}

#[test]
fn pinned_cert_without_its_private_key_is_rejected() {
    // An impersonator can copy the host's certificate but not its key: the handshake
    // signature is verified with the pinned certificate's public key.
    let p = pki();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let other_key = provider
        .key_provider
        .load_private_key(pem::load_private_key(&p.host_other.key, "key").unwrap())
        .unwrap();
    let forged =
        rustls::sign::CertifiedKey::new(pem::load_certs(&p.host.cert, "cert").unwrap(), other_key);
    let mut roots = RootCertStore::empty();
    roots
        .add(pem::load_certs(&p.ca.cert, "ca").unwrap().remove(0))
        .unwrap();
    let fp = HostAuth::fingerprint_from_str(&sha256_fingerprint(&leaf_der(&p.host.cert))).unwrap();
    for versions in [&[TLS13][..], &[TLS12][..]] {
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap()
            .with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots.clone()),
                    provider.clone(),
                )
                .build()
                .unwrap(),
            )
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
                forged.clone(),
            )));
        let server = Arc::new(server);
        for auth in [HostAuth::ServerCert(p.host.cert.clone()), fp.clone()] {
            let config = client_tls(&p.client).config_for(&auth, HOST_IP).unwrap();
            let o = handshake(config, server.clone(), HOST_IP);
            assert_code(&o, "TLS_HANDSHAKE_FAILED");
            assert!(
                matches!(
                    o.client,
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::BadSignature
                    ))
                ),
                "{:?}",
                o.client
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Handshakes: HostAuth::Ca / Insecure

#[test]
fn ca_with_a_pool_signed_host_cert() {
    let p = pki();
    let auth = HostAuth::Ca {
        ca: p.ca.cert.clone(),
    };
    for versions in [&[TLS13][..], &[TLS12][..]] {
        assert_code(&run(&auth, HOST_IP, &p.host_pool, versions), "ok");
        assert_code(&run(&auth, HOST_NAME, &p.host_pool, versions), "ok");
    }
}

#[test]
fn ca_with_the_self_signed_xapi_cert_is_unknown_issuer() {
    let p = pki();
    let o = run(
        &HostAuth::Ca {
            ca: p.ca.cert.clone(),
        },
        HOST_IP,
        &p.host,
        BOTH,
    );
    assert_code(&o, "TLS_UNKNOWN_ISSUER");
    assert_code(
        &run(
            &HostAuth::Ca {
                ca: p.wrong_ca.cert.clone(),
            },
            HOST_IP,
            &p.host_pool,
            BOTH,
        ),
        "TLS_UNKNOWN_ISSUER",
    );
}

#[test]
fn ca_with_a_wrong_name() {
    let p = pki();
    let auth = HostAuth::Ca {
        ca: p.ca.cert.clone(),
    };
    for name in ["127.0.0.2", "xcp-host-2"] {
        let o = run(&auth, name, &p.host_pool, BOTH);
        assert_code(&o, "TLS_HOST_NAME_MISMATCH");
        let err = classify(o.client.as_ref().unwrap_err());
        assert!(
            matches!(&err, TlsError::HostNameMismatch { expected, .. } if expected == name),
            "{err:?}"
        );
    }
}

#[test]
fn ca_with_only_odd_names_verifies_the_chain_only() {
    let p = pki();
    let auth = HostAuth::Ca {
        ca: p.ca.cert.clone(),
    };
    assert_code(&run(&auth, HOST_IP, &p.host_pool_odd_name, BOTH), "ok");
    assert_code(
        &run(&auth, "whatever.example", &p.host_pool_odd_name, BOTH),
        "ok",
    );
    assert_code(
        &run(
            &HostAuth::Ca {
                ca: p.wrong_ca.cert.clone(),
            },
            HOST_IP,
            &p.host_pool_odd_name,
            BOTH,
        ),
        "TLS_UNKNOWN_ISSUER",
    );
}

#[test]
fn ca_with_an_expired_host_cert() {
    let p = pki();
    assert_code(
        &run(
            &HostAuth::Ca {
                ca: p.ca.cert.clone(),
            },
            HOST_IP,
            &p.host_pool_expired,
            BOTH,
        ),
        "TLS_HOST_CERT_EXPIRED",
    );
}

#[test]
fn insecure_accepts_anything_but_only_when_asked() {
    let p = pki();
    assert!(HostAuth::Insecure.is_insecure());
    for host in [
        &p.host,
        &p.host_other,
        &p.host_pool_expired,
        &p.host_req_x509,
    ] {
        assert_code(&run(&HostAuth::Insecure, "10.9.8.7", host, BOTH), "ok");
    }
}

// ---------------------------------------------------------------------------------------
// Handshakes: failures caused by the server

#[test]
fn server_rejects_a_client_cert_from_another_ca() {
    let p = pki();
    // pool_ca omitted on purpose: with it, ClientTls::new already refuses this cert
    let tls = ClientTls::new(opts(&p.client_wrong_ca, None)).unwrap();
    let auth = HostAuth::ServerCert(p.host.cert.clone());
    for versions in [&[TLS13][..], &[TLS12][..]] {
        let o = handshake(
            tls.config_for(&auth, HOST_IP).unwrap(),
            server(&p.host, versions),
            HOST_IP,
        );
        assert_code(&o, "TLS_CLIENT_CERT_REJECTED");
        assert!(
            matches!(
                o.server,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{:?}",
            o.server
        );
    }
}

#[test]
fn ec_client_cert_handshake() {
    let p = pki();
    let tls = client_tls(&p.client_ec);
    let o = handshake(
        tls.config_for(&HostAuth::ServerCert(p.host.cert.clone()), HOST_IP)
            .unwrap(),
        server(&p.host, BOTH),
        HOST_IP,
    );
    assert_code(&o, "ok");
}

#[test]
fn no_shared_protocol_version() {
    // rustls cannot be a TLS 1.2 server with only non-ECDHE suites (it implements no RSA
    // key exchange), so version disjointness stands in for "no shared cipher" here; the
    // real RSA-key-exchange-only case runs against OVS in `ovs_xcpng83_ovsdb_has_no_shared_cipher`.
    let p = pki();
    let tls = client_tls(&p.client);
    let auth = HostAuth::ServerCert(p.host.cert.clone());
    let tls12_only = tls.config_for_versions(&auth, HOST_IP, &[TLS12]).unwrap();
    assert_code(
        &handshake(tls12_only, server(&p.host, &[TLS13]), HOST_IP),
        "TLS_NO_SHARED_CIPHER",
    );
    let tls13_only = tls.config_for_versions(&auth, HOST_IP, &[TLS13]).unwrap();
    assert_code(
        &handshake(tls13_only, server(&p.host, &[TLS12]), HOST_IP),
        "TLS_NO_SHARED_CIPHER",
    );
}

// ---------------------------------------------------------------------------------------
// Real Open vSwitch (testing/sandbox.js)

/// A running `node testing/sandbox.js start` process; it stops when its stdin closes (drop).
struct Sandbox {
    child: Child,
    info: serde_json::Value,
}

impl Sandbox {
    fn start(args: &[&str]) -> Sandbox {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testing/sandbox.js");
        let mut child = Command::new("node")
            .arg(&script)
            .arg("start")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `node {}` (node is needed for the OVS sandbox): {e}",
                    script.display()
                )
            });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            sink.lock().unwrap().push_str(&s);
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(90)).unwrap_or_default();
        let info: serde_json::Value = match serde_json::from_str(line.trim()) {
            Ok(info) => info,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the OVS sandbox did not start (Open vSwitch is required for this test; install it with \
                     `node testing/sandbox.js ensure` or `apt-get install openvswitch-switch`).\nstdout: {line:?}\nstderr: {}",
                    stderr.lock().unwrap()
                );
            }
        };
        Sandbox { child, info }
    }

    fn str(&self, pointer: &str) -> String {
        self.info
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("sandbox JSON lacks {pointer}: {}", self.info))
            .to_owned()
    }

    fn port(&self, which: &str) -> u16 {
        let p = format!("/hosts/0/ports/{which}");
        self.info
            .pointer(&p)
            .and_then(|v| v.as_u64())
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or_else(|| panic!("no {p}"))
    }

    fn file(&self, pointer: &str) -> Vec<u8> {
        std::fs::read(self.str(pointer)).unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod ovs {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;

    pub(super) const OFP11_HELLO: [u8; 8] = [0x02, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01];

    /// Connects, sends an OpenFlow 1.1 HELLO and returns the switch's first message.
    pub(super) async fn openflow_hello(
        config: Arc<ClientConfig>,
        ip: &str,
        port: u16,
    ) -> Result<Vec<u8>, TlsError> {
        let io =
            |e: std::io::Error| classify_io(&e).unwrap_or_else(|| panic!("not a TLS error: {e}"));
        let tcp = TcpStream::connect((ip, port)).await.unwrap();
        let name = ServerName::try_from(ip.to_owned()).unwrap();
        let mut tls = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(io)?;
        tls.write_all(&OFP11_HELLO).await.map_err(io)?;
        tls.flush().await.map_err(io)?;
        let mut msg = vec![0u8; 8];
        tls.read_exact(&mut msg).await.map_err(io)?;
        let len = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
        assert!(len >= 8, "bad OpenFlow length {len}");
        msg.resize(len, 0);
        tls.read_exact(&mut msg[8..]).await.map_err(io)?;
        Ok(msg)
    }

    /// Connects to ovsdb-server and runs `list_dbs`.
    pub(super) async fn ovsdb_list_dbs(
        config: Arc<ClientConfig>,
        ip: &str,
        port: u16,
    ) -> Result<String, TlsError> {
        let io =
            |e: std::io::Error| classify_io(&e).unwrap_or_else(|| panic!("not a TLS error: {e}"));
        let tcp = TcpStream::connect((ip, port)).await.unwrap();
        let name = ServerName::try_from(ip.to_owned()).unwrap();
        let mut tls = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(io)?;
        tls.write_all(br#"{"method":"list_dbs","params":[],"id":1}"#)
            .await
            .map_err(io)?;
        let mut buf = vec![0u8; 4096];
        let n = tls.read(&mut buf).await.map_err(io)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    pub(super) fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), f)
                .await
                .expect("timed out")
        })
    }
}

#[test]
fn ovs_openflow_over_tls_with_the_hosts_own_certificate() {
    let sb = Sandbox::start(&["--hosts", "1"]);
    let ip = sb.str("/hosts/0/ip");
    let port = sb.port("openflowSsl");
    let ca = sb.file("/pki/ca/certPath");
    let host_cert = sb.file("/hosts/0/certs/server/certPath");
    let identity = |client: &str, pool_ca: Option<&Vec<u8>>| {
        ClientTls::new(TlsOptions {
            client_cert: sb.file(&format!("/pki/{client}/certPath")),
            client_key: sb.file(&format!("/pki/{client}/keyPath")),
            pool_ca: pool_ca.cloned(),
            now: UnixTime::now(),
        })
    };
    let tls = identity("client", Some(&ca)).unwrap();

    // ServerCert = the host's xapi-ssl.pem certificate (here the whole key+cert file)
    let auth = HostAuth::ServerCert(sb.file("/hosts/0/certs/server/pemPath"));
    let hello = ovs::block_on(ovs::openflow_hello(
        tls.config_for(&auth, &ip).unwrap(),
        &ip,
        port,
    ))
    .unwrap();
    assert_eq!(
        (hello[0], hello[1]),
        (0x04, 0x00),
        "expected OVS's HELLO, got {hello:02x?}"
    );

    // the same host pinned by fingerprint
    let auth = HostAuth::fingerprint_from_str(&sha256_fingerprint(&leaf_der(&host_cert))).unwrap();
    let hello = ovs::block_on(ovs::openflow_hello(
        tls.config_for(&auth, &ip).unwrap(),
        &ip,
        port,
    ))
    .unwrap();
    assert_eq!((hello[0], hello[1]), (0x04, 0x00));

    // pitfall 1: the host cert is self-signed, so the pool CA does not verify it
    let err = ovs::block_on(ovs::openflow_hello(
        tls.config_for(&HostAuth::Ca { ca: ca.clone() }, &ip)
            .unwrap(),
        &ip,
        port,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "TLS_UNKNOWN_ISSUER", "{err}");

    // a pinned certificate of some other host
    let err = ovs::block_on(ovs::openflow_hello(
        tls.config_for(&HostAuth::ServerCert(pki().host.cert.clone()), &ip)
            .unwrap(),
        &ip,
        port,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "TLS_HOST_CERT_MISMATCH", "{err}");

    // a client cert from another CA: caught at build time with pool_ca, and rejected by OVS
    // (OpenSSL's alert, after the TLS 1.3 handshake) without it
    assert_eq!(
        identity("clientWrongCa", Some(&ca)).unwrap_err().code(),
        "TLS_CLIENT_CERT_NOT_FROM_POOL_CA"
    );
    let wrong = identity("clientWrongCa", None).unwrap();
    let auth = HostAuth::ServerCert(host_cert.clone());
    let err = ovs::block_on(ovs::openflow_hello(
        wrong.config_for(&auth, &ip).unwrap(),
        &ip,
        port,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "TLS_CLIENT_CERT_REJECTED", "{err}");

    // ovsdb-server's pssl: port, same trust
    let reply = ovs::block_on(ovs::ovsdb_list_dbs(
        tls.config_for(&auth, &ip).unwrap(),
        &ip,
        sb.port("ovsdbSsl"),
    ))
    .unwrap();
    assert!(reply.contains("Open_vSwitch"), "{reply}");
}

#[test]
fn ovs_xcpng83_ovsdb_has_no_shared_cipher() {
    // XCP-ng 8.3's ovsdb-server profile: TLS 1.2 with RSA key exchange only, which rustls
    // does not implement. This is the real-world TLS_NO_SHARED_CIPHER.
    let sb = Sandbox::start(&["--hosts", "1", "--profile", "xcpng-8.3"]);
    let ip = sb.str("/hosts/0/ip");
    let tls = ClientTls::new(TlsOptions {
        client_cert: sb.file("/pki/client/certPath"),
        client_key: sb.file("/pki/client/keyPath"),
        pool_ca: Some(sb.file("/pki/ca/certPath")),
        now: UnixTime::now(),
    })
    .unwrap();
    let auth = HostAuth::ServerCert(sb.file("/hosts/0/certs/server/certPath"));
    let err = ovs::block_on(ovs::ovsdb_list_dbs(
        tls.config_for(&auth, &ip).unwrap(),
        &ip,
        sb.port("ovsdbSsl"),
    ))
    .unwrap_err();
    assert_eq!(err.code(), "TLS_NO_SHARED_CIPHER", "{err}");
    // ovs-vswitchd in that profile keeps OVS's defaults
    let hello = ovs::block_on(ovs::openflow_hello(
        tls.config_for(&auth, &ip).unwrap(),
        &ip,
        sb.port("openflowSsl"),
    ))
    .unwrap();
    assert_eq!((hello[0], hello[1]), (0x04, 0x00));
}
