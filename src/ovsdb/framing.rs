//! Splits a byte stream into JSON texts.
//!
//! RFC 7047 §4 runs JSON-RPC directly over a stream socket with no length prefix
//! and no delimiter: each message is one JSON object, and the next starts where it
//! ends (whitespace in between is allowed). So message boundaries are found by
//! tracking the nesting depth of `{`/`[` outside of strings.
//!
//! The scanner is incremental and runs as bytes are pushed: the depth, "inside a
//! string" and "after a backslash" states survive between [`JsonFramer::push`]
//! calls, each byte is looked at once, and the buffer grows by doubling, so a
//! message that arrives in many small chunks costs linear time. Bytes are split anywhere, including
//! inside a multi-byte UTF-8 character (every structural byte is ASCII and never
//! appears inside one) and inside an escape sequence. The framer only finds the
//! boundaries; the JSON inside is validated by the parser afterwards
//! ([`crate::ovsdb::jsonrpc`]).
//!
//! A top-level value must be an object or an array: a bare number has no
//! terminating byte, and OVSDB never sends one. Anything else between messages
//! is an error, as is a message larger than the cap. The cap is enforced while
//! pushing: the still-incomplete message is never buffered past it (peak memory
//! is the cap, not the cap plus whatever one read brought), and its bytes are
//! freed as soon as it fails.
//!
//! A message that grows past [`LARGE_MESSAGE_BYTES`] moves out of the heap into a
//! [`MappedBuf`] of its own: it grows without copying and its pages go back to the
//! system the moment it fails or has been parsed, whatever state malloc is in
//! (see [`crate::mapped_buf`] for why malloc would keep them).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::mapped_buf::MappedBuf;

/// Default cap on one message: 32 MiB. The largest OVSDB messages are the initial
/// contents of a monitor on a big database (a few MiB per 10k rows; an XCP-ng host's
/// Open_vSwitch database is far smaller); the cap keeps a peer that never closes its
/// braces from making us buffer without bound, and its cost under 64 MB in all.
pub const MAX_MESSAGE_BYTES: usize = 32 << 20;

/// A message larger than this (1 MiB) is assembled in a mapping of its own, not on
/// the heap. Such messages are rare (a monitor's initial contents on a big
/// database, a hostile peer); below it, the heap is cheaper.
pub const LARGE_MESSAGE_BYTES: usize = 1 << 20;

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
    /// The complete messages not returned yet that are on the heap, then the
    /// message being assembled unless it is in `large`. Whitespace between messages
    /// is never stored.
    buf: BytesMut,
    /// The complete messages not returned yet, in order.
    complete: VecDeque<Complete>,
    /// The message being assembled once it passed [`LARGE_MESSAGE_BYTES`].
    large: Option<MappedBuf>,
    /// Bytes of the message being assembled (at the end of `buf`, or in `large`);
    /// 0 between messages.
    partial: usize,
    /// Nesting depth; 0 between messages.
    depth: u32,
    in_string: bool,
    escaped: bool,
    limit: usize,
    /// Bytes of the stream pushed so far.
    offset: u64,
    /// Set once the stream cannot be split any more; returned after the complete
    /// messages that came before the bad byte.
    failed: Option<FramingError>,
}

/// A complete message waiting for [`JsonFramer::next_text`].
#[derive(Debug)]
enum Complete {
    /// The next `len` bytes of `buf`.
    Buffered(usize),
    /// A large message, out of its mapping.
    Large(Bytes),
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
            complete: VecDeque::new(),
            large: None,
            partial: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            limit,
            offset: 0,
            failed: None,
        }
    }

    /// Appends received bytes. Call [`JsonFramer::next_text`] until it returns `None`.
    ///
    /// The bytes are scanned here: an error (a message past the cap, a byte that
    /// cannot start a message, nesting too deep) stops the framer at that byte,
    /// drops the incomplete message at once and ignores everything after it.
    pub fn push(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() && self.failed.is_none() {
            if self.depth == 0 {
                i = self.between_messages(bytes, i);
            } else {
                i = self.in_message(bytes, i);
            }
        }
        self.offset += bytes.len() as u64;
    }

    /// Skips whitespace from `bytes[i]`; at the first byte of a message, opens it.
    fn between_messages(&mut self, bytes: &[u8], mut i: usize) -> usize {
        while let Some(&b) = bytes.get(i) {
            match b {
                // RFC 8259 §2: insignificant whitespace.
                b' ' | b'\t' | b'\n' | b'\r' => i += 1,
                b'{' | b'[' => {
                    self.depth = 1;
                    self.partial = 1;
                    self.append(&bytes[i..=i]);
                    return i + 1;
                }
                _ => {
                    self.fail(FramingError::Unexpected { byte: b, offset: self.offset + i as u64 });
                    return bytes.len();
                }
            }
        }
        i
    }

    /// Scans `bytes[i..]` inside a message, up to its end, the end of `bytes` or
    /// the cap, whichever comes first, and stores what belongs to the message.
    fn in_message(&mut self, bytes: &[u8], i: usize) -> usize {
        // The message may take `room` more bytes; past them it is too large.
        let room = self.limit.saturating_sub(self.partial);
        let stop = bytes.len().min(i.saturating_add(room));
        let mut end = None;
        for (j, &b) in bytes.iter().enumerate().take(stop).skip(i) {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        self.fail(FramingError::TooDeep { limit: MAX_DEPTH });
                        return bytes.len();
                    }
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        end = Some(j + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        if let Some(end) = end {
            self.append_to_message(&bytes[i..end]);
            let message = match self.large.take() {
                Some(large) => Complete::Large(large.into_bytes()),
                None => Complete::Buffered(self.partial + (end - i)),
            };
            self.complete.push_back(message);
            self.partial = 0;
            return end;
        }
        if stop < bytes.len() {
            // The message already has `limit` bytes, is not over, and more come.
            self.fail(FramingError::TooLarge { limit: self.limit });
            return bytes.len();
        }
        self.append_to_message(&bytes[i..stop]);
        self.partial += stop - i;
        stop
    }

    /// Appends to the message being assembled (`partial` bytes so far), moving it
    /// into a mapping of its own when it passes [`LARGE_MESSAGE_BYTES`].
    fn append_to_message(&mut self, bytes: &[u8]) {
        if self.large.is_none() && self.partial + bytes.len() > LARGE_MESSAGE_BYTES {
            let mut large = MappedBuf::new(self.limit);
            let held = self.buf.len() - self.partial;
            large.extend_from_slice(&self.buf[held..]);
            // The heap block grew for this message: keep only what the complete
            // messages before it need (usually nothing).
            self.buf = BytesMut::from(&self.buf[..held]);
            self.large = Some(large);
        }
        match &mut self.large {
            Some(large) => large.extend_from_slice(bytes),
            None => self.append(bytes),
        }
    }

    /// Bytes of the complete messages at the front of `buf`.
    fn buffered_complete(&self) -> usize {
        self.complete.iter().map(|c| if let Complete::Buffered(len) = c { *len } else { 0 }).sum()
    }

    fn append(&mut self, bytes: &[u8]) {
        let need = self.buf.len() + bytes.len();
        if need > self.buf.capacity() {
            // Grow by doubling (each byte is copied O(1) times overall), but never
            // past what the complete messages and one message at the cap need:
            // `BytesMut::reserve` would double past the cap.
            let held = self.buffered_complete();
            let most = held.saturating_add(self.limit).max(need);
            let target = need.max(self.buf.len().saturating_mul(2)).max(4096).min(most);
            let mut grown = BytesMut::with_capacity(target);
            grown.extend_from_slice(&self.buf);
            self.buf = grown;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes allocated for the buffers (at least [`JsonFramer::buffered`]).
    pub fn capacity(&self) -> usize {
        self.buf.capacity() + self.large.as_ref().map_or(0, MappedBuf::capacity) + self.large_complete()
    }

    /// Bytes of the large complete messages not returned yet.
    fn large_complete(&self) -> usize {
        self.complete.iter().map(|c| if let Complete::Large(b) = c { b.len() } else { 0 }).sum()
    }

    fn fail(&mut self, e: FramingError) {
        // The incomplete message will never be used: free it now. Complete ones
        // are still handed out, then the error.
        self.large = None;
        let held = self.buffered_complete();
        if held == 0 {
            self.buf = BytesMut::new();
        } else {
            self.buf.truncate(held);
        }
        self.partial = 0;
        self.depth = 0;
        self.failed = Some(e);
    }

    /// Bytes buffered and not yet returned (complete messages and a partial one).
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.large.as_ref().map_or(0, MappedBuf::len) + self.large_complete()
    }

    /// The next complete JSON text, if one is buffered. After an error the framer
    /// stays failed: the stream has no way to resynchronize.
    pub fn next_text(&mut self) -> Result<Option<Bytes>, FramingError> {
        match self.complete.pop_front() {
            Some(Complete::Buffered(len)) => return Ok(Some(self.buf.split_to(len).freeze())),
            Some(Complete::Large(bytes)) => return Ok(Some(bytes)),
            None => {}
        }
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(None),
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
    fn an_unclosed_value_fails_at_the_cap_without_buffering_past_it() {
        let limit = 1 << 20;
        let mut f = JsonFramer::with_limit(limit);
        // Two whole messages first, then a value that never closes, in 64 KiB reads.
        f.push(b"{\"id\":1} [2]\n{\"method\":\"x\",\"params\":[\"");
        let chunk = vec![b'a'; 64 << 10];
        let (mut max_len, mut max_cap, mut pushed) = (0, 0, 0);
        let mut got = Vec::new();
        let err = loop {
            f.push(&chunk);
            pushed += chunk.len();
            max_len = max_len.max(f.buffered());
            max_cap = max_cap.max(f.capacity());
            match all(&mut f) {
                Ok(v) => got.extend(v),
                Err(e) => break e,
            }
            assert!(pushed < 2 * limit, "cap not enforced");
        };
        assert_eq!(err, FramingError::TooLarge { limit });
        assert_eq!(got, vec!["{\"id\":1}", "[2]"]);
        // It failed with the read that crossed the cap, and never held more than it.
        let prefix = b"{\"method\":\"x\",\"params\":[\"".len();
        assert!(pushed + prefix > limit && pushed + prefix <= limit + chunk.len(), "{pushed}");
        assert!(max_len <= limit + 16, "{max_len}");
        assert!(max_cap <= limit + 16, "{max_cap}");
        // The partial message is freed at once; later bytes are ignored.
        assert_eq!((f.buffered(), f.capacity()), (0, 0));
        f.push(b"{}");
        assert_eq!(f.next_text(), Err(FramingError::TooLarge { limit }));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn complete_messages_before_an_oversized_one_in_the_same_read_are_kept() {
        let mut f = JsonFramer::with_limit(10);
        f.push(b"[1] {\"a\":\"0123456789\"} [2]");
        assert_eq!(f.next_text().unwrap().as_deref(), Some(&b"[1]"[..]));
        assert_eq!(f.next_text(), Err(FramingError::TooLarge { limit: 10 }));
        assert_eq!(f.buffered(), 0);
        // Exactly at the cap, split across reads at every point.
        let msg = b"{\"a\":\"xx\"}";
        assert_eq!(msg.len(), 10);
        for i in 0..=msg.len() {
            let mut f = JsonFramer::with_limit(10);
            f.push(&msg[..i]);
            f.push(&msg[i..]);
            f.push(b" ");
            assert_eq!(f.next_text().unwrap().as_deref(), Some(&msg[..]), "split at {i}");
            f.push(b"{\"a\":\"xx\"");
            assert_eq!(f.buffered(), 9);
            f.push(b" ");
            assert_eq!(f.next_text(), Ok(None));
            f.push(b"}");
            assert_eq!(f.next_text(), Err(FramingError::TooLarge { limit: 10 }), "split at {i}");
        }
    }

    #[test]
    fn many_messages_in_tiny_reads_stay_linear() {
        // 200,000 messages pushed 7 bytes at a time, with messages taken as they come.
        let one = b"{\"id\":1,\"result\":[\"}\"],\"error\":null}\n";
        let stream: Vec<u8> = one.iter().copied().cycle().take(one.len() * 200_000).collect();
        let mut f = JsonFramer::new();
        let t = std::time::Instant::now();
        let mut n = 0;
        for c in stream.chunks(7) {
            f.push(c);
            while let Some(text) = f.next_text().unwrap() {
                assert_eq!(text.len(), one.len() - 1);
                n += 1;
            }
        }
        assert_eq!(n, 200_000);
        assert_eq!(f.buffered(), 0);
        assert!(t.elapsed() < std::time::Duration::from_secs(20));
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

    /// Bytes mapped by this test's thread (0 outside Linux, where nothing is mapped).
    fn mapped() -> usize {
        crate::mapped_buf::mapped_by_this_thread()
    }

    #[test]
    fn a_large_message_is_assembled_in_its_own_mapping_and_unmapped_once_dropped() {
        let linux = cfg!(target_os = "linux");
        // A small message, one just past the threshold in 64 KiB reads, a small one
        // in the same read as its end, and one exactly at the threshold (heap).
        let large = format!("{{\"a\":\"{}\"}}", "y".repeat(LARGE_MESSAGE_BYTES + 3 * 65_536));
        let at_threshold = format!("[\"{}\"]", "z".repeat(LARGE_MESSAGE_BYTES - 4));
        assert_eq!(at_threshold.len(), LARGE_MESSAGE_BYTES);
        let mut stream = format!("{{\"id\":1}} {large} [2]").into_bytes();
        stream.extend_from_slice(at_threshold.as_bytes());
        let mut f = JsonFramer::new();
        let mut got = Vec::new();
        let mut max_heap = 0;
        for c in stream.chunks(65_536) {
            f.push(c);
            max_heap = max_heap.max(f.buf.capacity());
            if f.large.is_some() {
                assert_eq!(mapped() > 0, linux);
            }
            while let Some(t) = f.next_text().unwrap() {
                got.push(t);
            }
        }
        assert_eq!(got.len(), 4);
        assert_eq!(&got[0][..], b"{\"id\":1}");
        assert!(got[1] == large.as_bytes());
        assert_eq!(&got[2][..], b"[2]");
        assert!(got[3] == at_threshold.as_bytes());
        // The heap never held the large message past the threshold (doubling: 2x).
        assert!(max_heap <= 2 * LARGE_MESSAGE_BYTES, "{max_heap}");
        // Its mapping was shrunk to its bytes and lives as long as they do.
        assert_eq!(mapped(), if linux { large.len() } else { 0 });
        got.remove(1);
        assert_eq!(mapped(), 0);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn an_unclosed_large_value_is_unmapped_at_the_cap() {
        let limit = 8 << 20;
        let mut f = JsonFramer::with_limit(limit);
        f.push(b"[1] {\"method\":\"x\",\"params\":[\"");
        let chunk = vec![b'a'; 64 << 10];
        let (mut max_cap, mut max_mapped) = (0, 0);
        let mut pushed = 0;
        while f.failed.is_none() {
            f.push(&chunk);
            pushed += chunk.len();
            max_cap = max_cap.max(f.capacity());
            max_mapped = max_mapped.max(mapped());
            assert!(pushed <= limit + chunk.len(), "cap not enforced");
        }
        // The complete message before it still comes out, then the error.
        assert_eq!(f.next_text().unwrap().as_deref(), Some(&b"[1]"[..]));
        assert_eq!(f.next_text(), Err(FramingError::TooLarge { limit }));
        // Mapped up to the cap, never past it, and unmapped at the error.
        assert!(max_cap <= limit + 4096, "{max_cap}");
        assert_eq!(max_mapped, if cfg!(target_os = "linux") { limit } else { 0 });
        assert_eq!(mapped(), 0);
        assert_eq!((f.buffered(), f.capacity()), (0, 0));
    }

    #[test]
    fn mismatched_brackets_are_left_to_the_parser() {
        let mut f = JsonFramer::new();
        f.push(b"{]");
        let t = f.next_text().unwrap().unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&t).is_err());
    }
}
