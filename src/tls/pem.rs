//! PEM loading for certificates and private keys, with precise errors.
//!
//! Inputs are the contents of a PEM file (a JS string or Buffer), never a path. Blocks
//! of other types are ignored when the wanted type is present, so a combined
//! key+certificate file like XCP-ng's `/etc/xensource/xapi-ssl.pem` can be given as
//! either the certificate or the key. Bad input never panics.

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};

use super::der::CertInfo;

/// Why PEM input was rejected. Every variant maps to the code `TLS_BAD_PEM`.
///
/// `what` names the input (`"client certificate"`, `"pool CA"`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// The input holds no `-----BEGIN ...-----` block at all (empty, garbage, or raw DER).
    #[error("{what}: no PEM block found{}", if *looks_like_der { " (this looks like binary DER; PEM text is expected)" } else { "" })]
    NoPemBlock {
        /// The input that was being read.
        what: &'static str,
        /// The input starts like a DER SEQUENCE.
        looks_like_der: bool,
    },
    /// PEM blocks were found, but none of the expected type.
    #[error("{what}: expected a PEM block of type {expected}, found {found}")]
    WrongBlockType {
        /// The input that was being read.
        what: &'static str,
        /// The wanted block type(s), e.g. `CERTIFICATE`.
        expected: &'static str,
        /// The block types found, comma-separated.
        found: String,
    },
    /// A block is malformed (missing END line, bad base64, ...).
    #[error("{what}: malformed PEM: {detail}")]
    Syntax {
        /// The input that was being read.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A block decoded, but its DER contents are not a valid object of its type.
    #[error("{what}: PEM block #{index} does not contain valid DER: {detail}")]
    BadDer {
        /// The input that was being read.
        what: &'static str,
        /// 1-based index of the block among the blocks of the wanted type.
        index: usize,
        /// What is wrong.
        detail: String,
    },
    /// The key is encrypted; only unencrypted keys are supported.
    #[error("{what}: encrypted private keys are not supported; decrypt it first (openssl pkey -in KEY -out PLAIN)")]
    EncryptedKey {
        /// The input that was being read.
        what: &'static str,
    },
    /// More than one private key: which one is meant is ambiguous.
    #[error("{what}: {count} private keys found, expected exactly one")]
    MultipleKeys {
        /// The input that was being read.
        what: &'static str,
        /// How many keys were found.
        count: usize,
    },
}

/// Loads one or more certificates (leaf first, then any chain) from PEM `CERTIFICATE`
/// blocks, checking each is a structurally valid X.509 certificate.
pub fn load_certs(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let mut certs = Vec::new();
    for (kind, der) in sections(pem, what)? {
        if kind == SectionKind::Certificate {
            CertInfo::parse(&der).map_err(|e| PemError::BadDer {
                what,
                index: certs.len() + 1,
                detail: e.to_string(),
            })?;
            certs.push(CertificateDer::from(der));
        }
    }
    if certs.is_empty() {
        return Err(missing(pem, what, "CERTIFICATE"));
    }
    Ok(certs)
}

/// Loads exactly one private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 RSA (`RSA PRIVATE KEY`)
/// or SEC1 EC (`EC PRIVATE KEY`). Only the DER framing is checked here; whether the
/// crypto provider can use the key is checked by [`super::ClientTls::new`].
pub fn load_private_key(
    pem: &[u8],
    what: &'static str,
) -> Result<PrivateKeyDer<'static>, PemError> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(PemError::EncryptedKey { what });
    }
    let mut keys = Vec::new();
    for (kind, der) in sections(pem, what)? {
        let key = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
            _ => continue,
        };
        keys.push(key);
    }
    match keys.len() {
        0 if labels(pem).iter().any(|l| l == "ENCRYPTED PRIVATE KEY") => {
            Err(PemError::EncryptedKey { what })
        }
        0 => Err(missing(
            pem,
            what,
            "PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY",
        )),
        1 => {
            let key = keys.remove(0);
            if !is_one_sequence(key.secret_der()) {
                return Err(PemError::BadDer {
                    what,
                    index: 1,
                    detail: "not a DER SEQUENCE".into(),
                });
            }
            Ok(key)
        }
        count => Err(PemError::MultipleKeys { what, count }),
    }
}

/// All recognised sections, in order. Sections with labels rustls does not know are
/// skipped by the parser (they still show up in [`labels`] for error messages).
fn sections(pem: &[u8], what: &'static str) -> Result<Vec<(SectionKind, Vec<u8>)>, PemError> {
    <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| PemError::Syntax {
            what,
            detail: e.to_string(),
        })
}

fn missing(pem: &[u8], what: &'static str, expected: &'static str) -> PemError {
    let found = labels(pem);
    if found.is_empty() {
        PemError::NoPemBlock {
            what,
            looks_like_der: pem.first() == Some(&0x30),
        }
    } else {
        PemError::WrongBlockType {
            what,
            expected,
            found: found.join(", "),
        }
    }
}

/// The labels of all `-----BEGIN <label>-----` lines.
fn labels(pem: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(pem)
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("-----BEGIN ")?
                .strip_suffix("-----")
        })
        .map(str::to_owned)
        .collect()
}

/// True when `der` is exactly one DER SEQUENCE TLV (framing only).
fn is_one_sequence(der: &[u8]) -> bool {
    let Some((&0x30, rest)) = der.split_first() else {
        return false;
    };
    let Some((&first, rest)) = rest.split_first() else {
        return false;
    };
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return false;
        }
        let (len_bytes, body) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        return len == body.len();
    };
    len == rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(label: &str, body: &str) -> String {
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    #[test]
    fn empty_and_garbage_have_no_block() {
        for input in [&b""[..], b"hello world\n", b"\x30\x82\x01\x00garbage"] {
            let err = load_certs(input, "client certificate").unwrap_err();
            assert!(matches!(err, PemError::NoPemBlock { .. }), "{err}");
        }
        let err = load_certs(b"\x30\x82\x01\x00", "x").unwrap_err();
        assert!(err.to_string().contains("binary DER"), "{err}");
        assert!(matches!(
            load_private_key(b"", "k"),
            Err(PemError::NoPemBlock { .. })
        ));
    }

    #[test]
    fn wrong_block_type_names_what_was_found() {
        // "MAAA" = 30 00 00: base64 is fine, the type is wrong.
        let key = block("PRIVATE KEY", "MAA=");
        let err = load_certs(key.as_bytes(), "client certificate").unwrap_err();
        assert_eq!(
            err,
            PemError::WrongBlockType {
                what: "client certificate",
                expected: "CERTIFICATE",
                found: "PRIVATE KEY".into()
            }
        );
        let cert = block("CERTIFICATE", "MAA=");
        let err = load_private_key(cert.as_bytes(), "client key").unwrap_err();
        assert!(matches!(err, PemError::WrongBlockType { found, .. } if found == "CERTIFICATE"));
        let pgp = block("PGP PUBLIC KEY BLOCK", "MAA=");
        let err = load_certs(pgp.as_bytes(), "pool CA").unwrap_err();
        assert!(
            matches!(err, PemError::WrongBlockType { found, .. } if found == "PGP PUBLIC KEY BLOCK")
        );
    }

    #[test]
    fn bad_der_and_bad_syntax() {
        let err = load_certs(block("CERTIFICATE", "MAA=").as_bytes(), "c").unwrap_err();
        assert!(matches!(err, PemError::BadDer { index: 1, .. }), "{err}");
        let err = load_certs(block("CERTIFICATE", "!!!not base64!!!").as_bytes(), "c").unwrap_err();
        assert!(matches!(err, PemError::Syntax { .. }), "{err}");
        let err = load_certs(b"-----BEGIN CERTIFICATE-----\nMAA=\n", "c").unwrap_err();
        assert!(matches!(err, PemError::Syntax { .. }), "{err}");
        let err = load_private_key(block("PRIVATE KEY", "AQID").as_bytes(), "k").unwrap_err();
        assert!(matches!(err, PemError::BadDer { .. }), "{err}");
    }

    #[test]
    fn keys_of_each_kind_and_ambiguity() {
        let k = load_private_key(block("RSA PRIVATE KEY", "MAA=").as_bytes(), "k").unwrap();
        assert!(matches!(k, PrivateKeyDer::Pkcs1(_)));
        let k = load_private_key(block("EC PRIVATE KEY", "MAA=").as_bytes(), "k").unwrap();
        assert!(matches!(k, PrivateKeyDer::Sec1(_)));
        let both = block("PRIVATE KEY", "MAA=") + &block("CERTIFICATE", "MAA=");
        assert!(matches!(
            load_private_key(both.as_bytes(), "k").unwrap(),
            PrivateKeyDer::Pkcs8(_)
        ));
        let two = block("PRIVATE KEY", "MAA=") + &block("RSA PRIVATE KEY", "MAA=");
        assert_eq!(
            load_private_key(two.as_bytes(), "k").unwrap_err(),
            PemError::MultipleKeys {
                what: "k",
                count: 2
            }
        );
        let enc = block("ENCRYPTED PRIVATE KEY", "MAA=");
        assert!(matches!(
            load_private_key(enc.as_bytes(), "k"),
            Err(PemError::EncryptedKey { .. })
        ));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMAA=\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            load_private_key(legacy.as_bytes(), "k"),
            Err(PemError::EncryptedKey { .. })
        ));
    }

    #[test]
    fn sequence_framing() {
        assert!(is_one_sequence(&[0x30, 0x00]));
        assert!(is_one_sequence(&[0x30, 0x81, 0x01, 0x05]));
        assert!(!is_one_sequence(&[0x30, 0x01]));
        assert!(!is_one_sequence(&[0x30, 0x00, 0x00]));
        assert!(!is_one_sequence(&[0x30, 0x80]));
        assert!(!is_one_sequence(&[0x02, 0x00]));
        assert!(!is_one_sequence(&[]));
    }
}
