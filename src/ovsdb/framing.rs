//! Splits a byte stream into JSON texts.
//!
//! RFC 7047 §4 runs JSON-RPC directly over a stream socket with no length prefix
//! and no delimiter: each message is one JSON object, and the next starts where it
//! ends (whitespace in between is allowed). So message boundaries are found by
//! tracking the nesting depth of `{`/`[` outside of strings.
//!
//! The scanner is incremental: the depth, "inside a string" and "after a
//! backslash" states survive between [`JsonFramer::push`] calls, and each byte is
//! looked at once, so a message that arrives in many small chunks costs linear
//! time. Bytes are split anywhere, including inside a multi-byte UTF-8 character
//! (every structural byte is ASCII and never appears inside one) and inside an
//! escape sequence. The framer only finds the boundaries; the JSON inside is
//! validated by the parser afterwards ([`crate::ovsdb::jsonrpc`]).
//!
//! A top-level value must be an object or an array: a bare number has no
//! terminating byte, and OVSDB never sends one. Anything else between messages
//! is an error, as is a message larger than the cap.

use bytes::{Buf, Bytes, BytesMut};

/// Default cap on one message: 64 MiB. The largest OVSDB messages are the initial
/// contents of a monitor on a big database (a few MiB per 10k rows); the cap keeps
/// a peer that never closes its braces from making us buffer without bound.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Why the stream cannot be split.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// One message exceeds the cap.
    #[error("JSON message exceeds {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// A byte that cannot start a JSON object or array where a message should begin.
    #[error("unexpected byte 0x{byte:02x} at stream offset {offset}: a message must be a JSON object or array")]
    Unexpected {
        /// The byte.
        byte: u8,
        /// Offset from the start of the stream.
        offset: u64,
    },
    /// Nesting deeper than any OVSDB message (and than the parser accepts).
    #[error("JSON nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: u32,
    },
}

/// Deepest nesting accepted. OVSDB messages nest about 8 deep (a condition inside
/// an operation inside params); serde_json's own parser stops at 128.
pub const MAX_DEPTH: u32 = 128;

/// Incremental JSON text splitter.
#[derive(Debug)]
pub struct JsonFramer {
    /// Unconsumed bytes: the message being assembled starts at 0 (leading
    /// whitespace is dropped as it is scanned).
    buf: BytesMut,
    /// How far `buf` has been scanned.
    scanned: usize,
    /// Nesting depth at `scanned`; 0 between messages.
    depth: u32,
    in_string: bool,
    escaped: bool,
    limit: usize,
    /// Bytes of the stream dropped or handed out before `buf[0]`.
    consumed: u64,
    failed: Option<FramingError>,
}

impl Default for JsonFramer {
    fn default() -> Self {
        JsonFramer::new()
    }
}

impl JsonFramer {
    /// A framer with the default cap, [`MAX_MESSAGE_BYTES`].
    pub fn new() -> JsonFramer {
        JsonFramer::with_limit(MAX_MESSAGE_BYTES)
    }

    /// A framer that refuses messages longer than `limit` bytes.
    pub fn with_limit(limit: usize) -> JsonFramer {
        JsonFramer {
            buf: BytesMut::new(),
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            limit,
            consumed: 0,
            failed: None,
        }
    }

    /// Appends received bytes. Call [`JsonFramer::next_text`] until it returns `None`.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered and not yet returned (a partial message).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete JSON text, if one is buffered. After an error the framer
    /// stays failed: the stream has no way to resynchronize.
    pub fn next_text(&mut self) -> Result<Option<Bytes>, FramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.scan() {
            Ok(Some(end)) => {
                let text = self.buf.split_to(end).freeze();
                self.consumed += end as u64;
                self.scanned = 0;
                Ok(Some(text))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = BytesMut::new();
                Err(e)
            }
        }
    }

    /// Scans new bytes; returns the end of a complete message at the front of `buf`.
    fn scan(&mut self) -> Result<Option<usize>, FramingError> {
        // Whitespace before a message is dropped once the scan is done.
        let mut skip = 0;
        let mut end = None;
        for (i, &b) in self.buf.iter().enumerate().skip(self.scanned) {
            if self.depth == 0 {
                match b {
                    // RFC 8259 §2: insignificant whitespace.
                    b' ' | b'\t' | b'\n' | b'\r' => {
                        skip = i + 1;
                        continue;
                    }
                    b'{' | b'[' => self.depth = 1,
                    _ => return Err(FramingError::Unexpected { byte: b, offset: self.consumed + i as u64 }),
                }
            } else if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => {
                        self.depth += 1;
                        if self.depth > MAX_DEPTH {
                            return Err(FramingError::TooDeep { limit: MAX_DEPTH });
                        }
                    }
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            end = Some(i + 1);
                        }
                    }
                    _ => {}
                }
            }
            if i + 1 - skip > self.limit {
                return Err(FramingError::TooLarge { limit: self.limit });
            }
            if end.is_some() {
                break;
            }
        }
        self.buf.advance(skip);
        self.consumed += skip as u64;
        match end {
            Some(e) => Ok(Some(e - skip)),
            None => {
                self.scanned = self.buf.len();
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut JsonFramer) -> Result<Vec<String>, FramingError> {
        let mut v = Vec::new();
        while let Some(t) = f.next_text()? {
            v.push(String::from_utf8(t.to_vec()).expect("framer split inside a character"));
        }
        Ok(v)
    }

    const STREAM: &str = concat!(
        "{\"id\":1,\"method\":\"echo\",\"params\":[\"héllo wörld 😀 ☃\"]}",
        "\n  \r\n\t",
        "{\"s\":\"braces } ] { [ and \\\" quotes \\\\\",\"t\":\"\\\\\",\"u\":\"\\u00e9\\\"}\",\"n\":[[],{},[{}]]}",
        "[1,2,\"]\"]",
        "{\"k\":\"\u{1F600}}\"}"
    );

    fn expected() -> Vec<String> {
        let mut out = Vec::new();
        let mut de = serde_json::Deserializer::from_str(STREAM).into_iter::<serde_json::Value>();
        for v in &mut de {
            out.push(v.unwrap());
        }
        out.into_iter().map(|v| v.to_string()).collect()
    }

    fn reparse(texts: &[String]) -> Vec<String> {
        texts.iter().map(|t| serde_json::from_str::<serde_json::Value>(t).unwrap().to_string()).collect()
    }

    #[test]
    fn whole_stream_in_one_push() {
        let mut f = JsonFramer::new();
        f.push(STREAM.as_bytes());
        let got = all(&mut f).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(reparse(&got), expected());
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn every_split_point_and_every_pair_of_split_points() {
        let bytes = STREAM.as_bytes();
        let want = expected();
        for i in 0..=bytes.len() {
            let mut f = JsonFramer::new();
            let mut got = Vec::new();
            f.push(&bytes[..i]);
            got.extend(all(&mut f).unwrap());
            f.push(&bytes[i..]);
            got.extend(all(&mut f).unwrap());
            assert_eq!(reparse(&got), want, "split at {i}");
        }
        // Three pieces: every (i, j).
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut f = JsonFramer::new();
                let mut got = Vec::new();
                for part in [&bytes[..i], &bytes[i..j], &bytes[j..]] {
                    f.push(part);
                    got.extend(all(&mut f).unwrap());
                }
                assert_eq!(got.len(), want.len(), "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let mut f = JsonFramer::new();
        let mut got = Vec::new();
        for b in STREAM.as_bytes() {
            f.push(std::slice::from_ref(b));
            got.extend(all(&mut f).unwrap());
        }
        assert_eq!(reparse(&got), expected());
    }

    #[test]
    fn huge_value_in_small_chunks_is_linear_and_capped() {
        // 8 MiB string in 4 KiB chunks: quadratic rescanning would take minutes.
        let big = format!("{{\"a\":\"{}\"}}", "x{[\\\"".repeat(2 << 20));
        let mut f = JsonFramer::new();
        let mut got = Vec::new();
        let t = std::time::Instant::now();
        for c in big.as_bytes().chunks(4096) {
            f.push(c);
            got.extend(all(&mut f).unwrap());
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), big.len());

        let mut f = JsonFramer::with_limit(1000);
        f.push(format!(" \n{{\"a\":\"{}\"}}", "x".repeat(992)).as_bytes());
        assert_eq!(all(&mut f).unwrap().len(), 1); // exactly 1000 bytes, after whitespace
        let mut g = JsonFramer::with_limit(1000);
        g.push(format!("{{\"a\":\"{}\"}}", "x".repeat(993)).as_bytes());
        assert_eq!(g.next_text(), Err(FramingError::TooLarge { limit: 1000 }));
        for c in big.as_bytes().chunks(300) {
            f.push(c);
            if let Err(e) = all(&mut f) {
                assert_eq!(e, FramingError::TooLarge { limit: 1000 });
                assert!(f.buffered() <= 1300);
                return;
            }
        }
        panic!("cap not enforced");
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bad in [&b"hello"[..], b"42", b"\"str\"", b"}", b"]", b"{}x", b"\x00", b"\xff{"] {
            let mut f = JsonFramer::new();
            f.push(bad);
            let r = all(&mut f);
            assert!(r.is_err(), "{bad:?} -> {r:?}");
            // Stays failed.
            f.push(b"{}");
            assert!(f.next_text().is_err());
        }
        let mut f = JsonFramer::new();
        f.push(b"{} \n x");
        assert_eq!(f.next_text().unwrap().as_deref(), Some(&b"{}"[..]));
        assert_eq!(f.next_text(), Err(FramingError::Unexpected { byte: b'x', offset: 5 }));

        let mut f = JsonFramer::new();
        f.push("[".repeat(200).as_bytes());
        assert_eq!(f.next_text(), Err(FramingError::TooDeep { limit: MAX_DEPTH }));

        // Pseudo-random bytes never panic.
        let alphabet = b"{}[]\"\\ ax\xc3\xa9";
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut f = JsonFramer::with_limit(64);
            let mut chunk = Vec::new();
            for _ in 0..50 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                chunk.push(alphabet[(x >> 16) as usize % alphabet.len()]);
            }
            f.push(&chunk);
            while let Ok(Some(_)) = f.next_text() {}
        }
    }

    #[test]
    fn mismatched_brackets_are_left_to_the_parser() {
        let mut f = JsonFramer::new();
        f.push(b"{]");
        let t = f.next_text().unwrap().unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&t).is_err());
    }
}
