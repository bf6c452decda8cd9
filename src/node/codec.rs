//! OpenFlow codec bindings over the value tape (see `src/tape`). The JS facade
//! (`js/codec.js`) owns the tape buffers and builds the objects.

use bytes::BytesMut;
use napi::bindgen_prelude::{Buffer, BufferSlice};
use napi_derive::napi;
use serde::Serialize;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

use super::errors::{err, from_decode, from_encode, guard, Code};
use super::errors::from_tape as tape_error;
use crate::openflow::{Framer, Message};
use crate::tape::{atoms, from_tape, key_names, message_from_tape, message_to_tape, to_tape, with_message_from_tape};

thread_local! {
    static SCRATCH: RefCell<(BytesMut, Vec<u8>)> = RefCell::new((BytesMut::with_capacity(1 << 16), Vec::with_capacity(1 << 12)));
}

/// Copies `src` into `out` and returns its length, or returns `-len` when `out` is
/// too small (the caller grows it and asks again).
fn deliver(src: &[u8], out: &mut [u8]) -> i64 {
    match out.get_mut(..src.len()) {
        Some(dst) => {
            dst.copy_from_slice(src);
            src.len() as i64
        }
        None => -(src.len() as i64),
    }
}

/// Names of the tape's atoms (object keys, recurring strings) from id `from` on.
#[napi(js_name = "__keyNames")]
pub fn key_names_js(from: u32) -> Vec<String> {
    key_names(from as usize)
}

/// The tape's object shapes from id `from` on, flattened: key count, then that
/// many atom ids, then the next shape.
#[napi(js_name = "__shapes")]
pub fn shapes_js(from: u32) -> Vec<u32> {
    atoms::shape_list(from as usize)
}

/// The JS side's private I/O buffer (`js/tape.js`), registered once instead of
/// being passed on every call: a `Buffer` argument costs a call about 100 ns
/// (`napi_get_buffer_info` and the handles it needs), several times the cost of
/// the call itself. The token names the registration; a call made with another
/// token (a second copy of the JS module registered since) gets [`IO_STALE`] and
/// registers again. JS never lets this buffer escape, so it cannot be detached
/// or resized behind our back.
struct Io {
    token: u32,
    buf: Buffer,
}

thread_local! {
    static IO: RefCell<Option<Io>> = const { RefCell::new(None) };
}

static NEXT_IO_TOKEN: AtomicU32 = AtomicU32::new(1);

/// Returned when the token is not the current registration.
const IO_STALE: i64 = -(1 << 48);

/// Registers `buf` as this thread's I/O buffer; returns its token.
#[napi(js_name = "__ioRegister")]
pub fn io_register(buf: Buffer) -> u32 {
    let token = NEXT_IO_TOKEN.fetch_add(1, Ordering::Relaxed);
    IO.with(|io| *io.borrow_mut() = Some(Io { token, buf }));
    token
}

fn with_io(token: u32, f: impl FnOnce(&mut [u8]) -> napi::Result<i64, Code>) -> napi::Result<i64, Code> {
    IO.with(|io| {
        let mut io = io.borrow_mut();
        match io.as_mut() {
            Some(io) if io.token == token => f(&mut io.buf),
            _ => Ok(IO_STALE),
        }
    })
}

/// Encodes `count` messages read from the tape in `io[..tapeLen]`, back to back,
/// into `io` from offset 0. Returns the byte length, minus the needed length when
/// `io` is too small (the tape is then left intact), or `IO_STALE`. Either every
/// message is encoded or none is.
#[napi(js_name = "__encodeIo")]
pub fn encode_io(token: u32, tape_len: u32, count: u32) -> napi::Result<i64, Code> {
    guard(|| with_io(token, |io| encode_tape_inner(io, tape_len, count)))
}

fn encode_tape_inner(io: &mut [u8], tape_len: u32, count: u32) -> napi::Result<i64, Code> {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let buf = &mut s.0;
        buf.clear();
        {
            let tape = io.get(..tape_len as usize).ok_or_else(|| err("ERR_INTERNAL_TAPE", "tape length out of bounds"))?;
            let mut pos = 0;
            for i in 0..count {
                let rest = tape.get(pos..).unwrap_or_default();
                let (encoded, used) = with_message_from_tape(rest, |m| m.encode(buf)).map_err(|e| {
                    let e = if count > 1 { e.at_index(i) } else { e };
                    tape_error(e)
                })?;
                pos += used;
                encoded.map_err(from_encode)?;
            }
        }
        Ok(deliver(buf, io))
    })
}

/// Decodes the one whole message in `io[..len]` into a tape written at the start
/// of `io`. Returns the tape length, minus the needed length when `io` is too
/// small, or `IO_STALE`.
#[napi(js_name = "__decodeIo")]
pub fn decode_io(token: u32, len: u32) -> napi::Result<i64, Code> {
    guard(|| {
        with_io(token, |io| {
            let bytes = io.get(..len as usize).ok_or_else(|| err("ERR_INTERNAL_TAPE", "message length out of bounds"))?;
            let m = Message::decode(bytes).map_err(from_decode)?;
            SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                let tape = &mut s.1;
                tape.clear();
                message_to_tape(&m, tape).map_err(|e| err("ERR_NATIVE", e))?;
                Ok(deliver(tape, io))
            })
        })
    })
}

/// Decodes one whole message from `bytes` into a tape in `out` (the path for
/// inputs too long for the I/O buffer, which are never valid messages). Returns
/// the tape length, or minus the needed length when `out` is too small.
#[napi(js_name = "__decodeTape")]
pub fn decode_tape(bytes: BufferSlice, mut out: BufferSlice) -> napi::Result<i64, Code> {
    guard(|| {
        let m = Message::decode(&bytes).map_err(from_decode)?;
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let tape = &mut s.1;
            tape.clear();
            message_to_tape(&m, tape).map_err(|e| err("ERR_NATIVE", e))?;
            Ok(deliver(tape, &mut out))
        })
    })
}

/// A message the framer delimited but the codec could not decode. The stream
/// stays usable; the entry says what was wrong and keeps the bytes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvalidMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    xid: u32,
    version: u8,
    msg_type: u8,
    code: String,
    message: String,
    #[serde(with = "serde_bytes_slice")]
    data: &'a [u8],
}

mod serde_bytes_slice {
    pub fn serialize<S: serde::Serializer>(b: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
}

/// Incremental decoder for a byte stream from a switch: push chunks of any size,
/// get every whole message out.
#[napi(js_name = "NativeFrameDecoder")]
pub struct FrameDecoder {
    framer: RefCell<Framer>,
    pending: RefCell<Vec<u8>>,
    broken: RefCell<Option<String>>,
}

#[napi]
impl FrameDecoder {
    #[napi(constructor)]
    pub fn new() -> Self {
        FrameDecoder { framer: RefCell::new(Framer::new()), pending: RefCell::new(Vec::new()), broken: RefCell::new(None) }
    }

    /// Appends `chunk` and writes every whole message as one tape array into `out`.
    /// Returns the tape length, or minus the needed length (then call `drain`).
    #[napi]
    pub fn push(&self, chunk: BufferSlice, mut out: BufferSlice) -> napi::Result<i64, Code> {
        guard(|| self.push_inner(&chunk, &mut out))
    }

    /// Delivers a tape that did not fit in the last `push`.
    #[napi]
    pub fn drain(&self, mut out: BufferSlice) -> i64 {
        let mut tape = self.pending.borrow_mut();
        let n = deliver(&tape, &mut out);
        if n >= 0 {
            tape.clear();
        }
        n
    }

    /// Bytes held that do not yet make a whole message.
    #[napi(getter)]
    pub fn buffered(&self) -> u32 {
        self.framer.borrow().buffered() as u32
    }
}

impl FrameDecoder {
    fn push_inner(&self, chunk: &[u8], out: &mut [u8]) -> napi::Result<i64, Code> {
        if let Some(why) = self.broken.borrow().as_ref() {
            return Err(err("OFP_BAD_FRAME", why));
        }
        let mut framer = self.framer.borrow_mut();
        framer.push(chunk);
        let mut messages = Vec::new();
        let mut invalid = Vec::new();
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => match Message::decode(&frame) {
                    Ok(m) => messages.push(Ok(m)),
                    Err(e) => {
                        invalid.push((e, frame));
                        messages.push(Err(invalid.len() - 1));
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    let why = e.to_string();
                    *self.broken.borrow_mut() = Some(why.clone());
                    return Err(err("OFP_BAD_FRAME", why));
                }
            }
        }
        let mut tape = self.pending.borrow_mut();
        tape.clear();
        tape.push(crate::tape::op::ARRAY);
        tape.extend_from_slice(&(messages.len() as u32).to_le_bytes());
        for m in &messages {
            let r = match m {
                Ok(m) => message_to_tape(m, &mut tape),
                Err(i) => {
                    let (e, frame) = &invalid[*i];
                    let xid = frame.get(4..8).map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]));
                    to_tape(
                        &InvalidMessage {
                            kind: "invalid",
                            xid,
                            version: frame.first().copied().unwrap_or(0),
                            msg_type: frame.get(1).copied().unwrap_or(0),
                            code: e.code_str(),
                            message: e.to_string(),
                            data: frame,
                        },
                        &mut tape,
                    )
                }
            };
            r.map_err(|e| err("ERR_NATIVE", e))?;
        }
        let n = deliver(&tape, out);
        if n >= 0 {
            tape.clear();
        }
        Ok(n)
    }
}

/// Panics inside the addon. Exists so a test can prove that a panic becomes a JS
/// error instead of killing the process (xo-server would die with it). Only in
/// builds with the `test-hooks` feature: never in a release or packaged binary.
#[cfg(feature = "test-hooks")]
#[napi(js_name = "__panicForTest")]
pub fn panic_for_test() -> napi::Result<(), Code> {
    guard(|| panic!("deliberate panic for the boundary test"))
}

/// Parses `ovs-ofctl` flow text into a FLOW_MOD, written as a tape into `out`.
/// `command` is a flow_mod command name (`add`, `delete`, ...).
#[napi(js_name = "__parseFlowTape")]
pub fn parse_flow_tape(text: String, command: String, mut out: BufferSlice, extensions: Option<bool>) -> napi::Result<i64, Code> {
    guard(|| {
        use crate::openflow::text::{parse_flow, parse_nx_flow, TextError};
        let command = crate::openflow::FlowModCommand::from_name(&command)
            .ok_or_else(|| err("ERR_INVALID_ARG_VALUE", format!("unknown flow_mod command '{command}'")))?;
        let fm = match parse_flow(&text, command) {
            // What OF1.1's match cannot say, said with the Nicira extensions (an OXM
            // match in the OF1.1 FLOW_MOD, which Open vSwitch accepts): asked for only.
            Err(TextError::NotInOpenFlow11 { .. } | TextError::Unsupported { .. })
                if extensions == Some(true) && command == crate::openflow::FlowModCommand::ADD =>
            {
                parse_nx_flow(&text).map_err(|e| err(e.code(), e))?.to_flow_mod(0)
            }
            Err(e @ (TextError::NotInOpenFlow11 { .. } | TextError::Unsupported { .. })) if extensions == Some(true) => {
                return Err(err(e.code(), format!("{e} (the Nicira extensions are read for command 'add' only)")));
            }
            r => r.map_err(|e| err(e.code(), e))?,
        };
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let tape = &mut s.1;
            tape.clear();
            message_to_tape(&Message::FlowMod(fm), tape).map_err(|e| err("ERR_NATIVE", e))?;
            Ok(deliver(tape, &mut out))
        })
    })
}

/// Prints a flow_mod, or a flow stats entry, read from a tape, the way
/// `ovs-ofctl -O OpenFlow11 dump-flows` does.
#[napi(js_name = "__formatFlowTape")]
pub fn format_flow_tape(tape: BufferSlice, tape_len: u32, is_flow_mod: bool) -> napi::Result<String, Code> {
    guard(|| {
        let tape = tape.get(..tape_len as usize).ok_or_else(|| err("ERR_INTERNAL_TAPE", "tape length out of bounds"))?;
        if is_flow_mod {
            let (m, _) = message_from_tape(tape).map_err(tape_error)?;
            match m {
                Message::FlowMod(fm) => Ok(crate::openflow::text::format_flow_mod(&fm)),
                _ => Err(err("ERR_INVALID_ARG_VALUE", "expected a flow_mod")),
            }
        } else {
            let (fs, _): (crate::openflow::stats::FlowStats, usize) = from_tape(tape).map_err(tape_error)?;
            Ok(crate::openflow::text::format_flow_stats(&fs))
        }
    })
}

