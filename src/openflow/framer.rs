//! Splits a byte stream into OpenFlow messages, whatever the chunking: a message
//! split across reads, or many messages in one read.

use bytes::{Buf, BytesMut};

use super::codec::DecodeError;
use super::header::HEADER_LEN;

/// Incremental message splitter. Feed it chunks; take whole messages out.
#[derive(Default, Debug)]
pub struct Framer {
    buf: BytesMut,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes held that do not yet make a whole message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, if one is buffered. A length under the header size
    /// can never be valid and is an error: the stream cannot be resynchronised, so
    /// the caller must drop the connection.
    pub fn next_frame(&mut self) -> Result<Option<BytesMut>, DecodeError> {
        let Some(len_bytes) = self.buf.get(2..4) else { return Ok(None) };
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < HEADER_LEN {
            return Err(DecodeError::bad_len(
                "stream framing",
                format!("message length {len} is shorter than the 8-byte header; the stream is corrupt"),
            ));
        }
        if self.buf.len() < len {
            self.buf.reserve(len - self.buf.len());
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(len)))
    }

    /// Drops everything buffered (after a reconnect).
    pub fn clear(&mut self) {
        self.buf.advance(self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_merges() {
        let a = [2u8, 0, 0, 8, 0, 0, 0, 1];
        let b = [2u8, 2, 0, 10, 0, 0, 0, 2, 0xaa, 0xbb];
        let mut all = a.to_vec();
        all.extend_from_slice(&b);
        for split in 0..all.len() {
            let mut f = Framer::new();
            let mut got = Vec::new();
            f.push(&all[..split]);
            while let Some(m) = f.next_frame().unwrap() {
                got.push(m.to_vec());
            }
            f.push(&all[split..]);
            while let Some(m) = f.next_frame().unwrap() {
                got.push(m.to_vec());
            }
            assert_eq!(got, vec![a.to_vec(), b.to_vec()], "split at {split}");
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn rejects_impossible_length() {
        let mut f = Framer::new();
        f.push(&[2, 0, 0, 4, 0, 0, 0, 0]);
        assert!(f.next_frame().is_err());
    }
}
