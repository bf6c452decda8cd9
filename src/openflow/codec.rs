//! Bounds-checked reading and length-patched writing of OpenFlow wire data.
//!
//! Every read goes through [`Reader`], which never indexes a slice by hand and turns a
//! short buffer into a [`DecodeError`] carrying the OpenFlow error a switch would send
//! back (`OFPBRC_BAD_LEN` and friends), in the manner of OVS's `ofperr`.

use bytes::{BufMut, BytesMut};
use std::fmt;

use super::error_msg::{ErrorCode, ErrorType};

/// Why some bytes could not be decoded. Carries the OpenFlow (type, code) pair that
/// describes the fault, plus static context for humans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// OpenFlow error type a switch would report for this fault.
    pub error_type: ErrorType,
    /// OpenFlow error code within `error_type`.
    pub code: ErrorCode,
    /// What was being decoded.
    pub context: &'static str,
    /// Detail (offending value, lengths).
    pub detail: String,
}

impl DecodeError {
    pub(crate) fn new(error_type: ErrorType, code: u16, context: &'static str, detail: impl Into<String>) -> Self {
        Self { error_type, code: ErrorCode(code), context, detail: detail.into() }
    }

    /// `OFPBRC_BAD_LEN`: a length field disagrees with the data.
    pub(crate) fn bad_len(context: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::BAD_REQUEST, 6, context, detail)
    }

    /// Stable error code string for JS (`OFP_BAD_REQUEST_BAD_LEN`, ...).
    pub fn code_str(&self) -> String {
        format!("OFP_{}_{}", self.error_type.name_upper(), self.code_name_upper())
    }

    fn code_name_upper(&self) -> String {
        match self.code.name(self.error_type) {
            Some(n) => n.to_ascii_uppercase(),
            None => format!("{}", self.code.0),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.detail)?;
        write!(f, " ({})", self.code_str())
    }
}

impl std::error::Error for DecodeError {}

/// Result of decoding.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// A cursor over a byte slice whose reads are all bounds-checked.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
    context: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `context` names the structure for error messages.
    pub fn new(buf: &'a [u8], context: &'static str) -> Self {
        Self { buf, context }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The rest of the bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Takes `n` bytes or fails with `OFPBRC_BAD_LEN`.
    pub fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(DecodeError::bad_len(
                self.context,
                format!("needs {n} more bytes, {} left", self.buf.len()),
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Takes everything that is left.
    pub fn take_rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// A child reader over the next `n` bytes (a length-prefixed body).
    pub fn sub(&mut self, n: usize, context: &'static str) -> DecodeResult<Reader<'a>> {
        Ok(Reader::new(self.take(n)?, context))
    }

    /// Fixed-size array.
    pub fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Skips padding.
    pub fn skip(&mut self, n: usize) -> DecodeResult<()> {
        self.take(n).map(|_| ())
    }

    /// u8.
    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Big-endian u16.
    pub fn u16(&mut self) -> DecodeResult<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Big-endian u32.
    pub fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Big-endian u64.
    pub fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A fixed-width NUL-padded string field (port names, descriptions).
    pub fn fixed_str(&mut self, n: usize) -> DecodeResult<String> {
        let raw = self.take(n)?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let text = raw.get(..end).unwrap_or_default();
        Ok(String::from_utf8_lossy(text).into_owned())
    }

    /// Reads a big-endian u16 length that counts itself and `already` preceding bytes,
    /// checks it against what is left and its alignment, and returns the body length.
    pub fn checked_len(&self, len: u16, header: usize, align: usize, what: &'static str) -> DecodeResult<usize> {
        let len = usize::from(len);
        if len < header || (align > 1 && len % align != 0) {
            return Err(DecodeError::bad_len(what, format!("length {len} is invalid")));
        }
        if len - header > self.remaining() {
            return Err(DecodeError::bad_len(
                what,
                format!("length {len} runs past the end ({} bytes left)", self.remaining() + header),
            ));
        }
        Ok(len - header)
    }
}

/// Writes a fixed-width NUL-padded string, truncating to leave room for a terminator
/// when the text is too long.
pub fn put_fixed_str(out: &mut BytesMut, s: &str, n: usize) {
    let bytes = s.as_bytes();
    let len = bytes.len().min(n.saturating_sub(1));
    out.put_slice(bytes.get(..len).unwrap_or_default());
    out.put_bytes(0, n - len);
}

/// Back-patches a u16 length at `at` with the number of bytes written since `at - offset`.
pub fn patch_len16(out: &mut BytesMut, start: usize, at: usize) {
    let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

/// Pads with zeros to the next multiple of 8 counted from `start`.
pub fn pad_to_8(out: &mut BytesMut, start: usize) {
    let len = out.len() - start;
    out.put_bytes(0, (8 - len % 8) % 8);
}
