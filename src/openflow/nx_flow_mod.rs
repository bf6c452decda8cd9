//! `NXT_FLOW_MOD`: Open vSwitch's flow_mod with an NXM match (OVS
//! `include/openflow/nicira-ext.h`, `struct nx_flow_mod`; `lib/ofp-flow.c`). It is a
//! Nicira vendor message (`OFPT_VENDOR` 4 in OpenFlow 1.0, vendor 0x00002320, subtype 13),
//! what `ovs-ofctl -O OpenFlow10 -F nxm add-flow` sends:
//!
//! ```text
//! ofp_header (8) | vendor (4) | subtype=13 (4)
//! cookie (8) | command (2) | idle_timeout (2) | hard_timeout (2) | priority (2)
//! buffer_id (4) | out_port (2) | flags (2) | match_len (2) | pad (6)
//! nx_match (match_len, then zeros to a multiple of 8) | OpenFlow 1.0 actions
//! ```
//!
//! With `NXT_FLOW_MOD_TABLE_ID` enabled (ovs-ofctl does it whenever `table=` is given),
//! the high byte of `command` is the table id; this type always splits it that way.
//! The actions are OpenFlow 1.0 ones ([`Of10Action`]): `output` is 8 bytes there.

use bytes::{BufMut, BytesMut};

use super::codec::{pad_to_8, patch_len16, DecodeError, DecodeResult, Reader};
use super::error_msg::ErrorType;
use super::flow::FlowModCommand;
use super::nx_action::{NxAction, NX_VENDOR};
use super::nxm::NxmMatch;
use super::types::Bytes;

/// `OFP10_VERSION`.
pub const OF10_VERSION: u8 = 0x01;
/// `OFPT_VENDOR` (OpenFlow 1.0), `OFPT_EXPERIMENTER` later.
pub const MSG_VENDOR: u8 = 4;
/// `NXT_FLOW_MOD`.
pub const NXT_FLOW_MOD: u32 = 13;
/// Size of everything before the match (`sizeof(struct nx_flow_mod)` + headers).
pub const NX_FLOW_MOD_LEN: usize = 48;

/// An OpenFlow 1.0 action (`struct ofp_action_header`, OpenFlow 1.0.0 §5.2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Of10Action {
    /// `OFPAT10_OUTPUT` (0), 8 bytes.
    Output {
        /// 16-bit port (0xfffa = NORMAL, 0xfffd = CONTROLLER, ...).
        port: u16,
        /// Bytes to the controller.
        max_len: u16,
    },
    /// A Nicira vendor action.
    Nicira(NxAction),
    /// Anything else: its type and the bytes after the 4-byte type/length.
    Other {
        /// Wire type.
        action_type: u16,
        /// Body.
        data: Bytes,
    },
}

fn bad(code: u16, detail: impl Into<String>) -> DecodeError {
    DecodeError::new(ErrorType::BAD_REQUEST, code, "nx_flow_mod", detail)
}

impl Of10Action {
    /// Decodes a list filling `r`.
    pub fn decode_list(r: &mut Reader<'_>) -> DecodeResult<Vec<Of10Action>> {
        let mut out = Vec::new();
        while !r.is_empty() {
            let mut hdr = *r;
            let t = hdr.u16()?;
            let len = usize::from(hdr.u16()?);
            if len < 8 || len % 8 != 0 || len > r.remaining() {
                return Err(DecodeError::new(
                    ErrorType::BAD_ACTION,
                    1,
                    "ofp10_action",
                    format!("action type {t} has bad length {len} ({} bytes left)", r.remaining()),
                ));
            }
            let mut b = r.sub(len, "ofp10_action")?;
            b.skip(4)?;
            let a = match t {
                0 if len == 8 => Of10Action::Output { port: b.u16()?, max_len: b.u16()? },
                0xffff if b.rest().get(..4) == Some(&NX_VENDOR.to_be_bytes()[..]) => {
                    b.skip(4)?;
                    Of10Action::Nicira(NxAction::decode_body(b.rest())?)
                }
                _ => Of10Action::Other { action_type: t, data: Bytes(b.rest().to_vec()) },
            };
            out.push(a);
        }
        Ok(out)
    }

    /// Encodes one action.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        match self {
            Of10Action::Output { port, max_len } => {
                out.put_u16(0);
                out.put_u16(8);
                out.put_u16(*port);
                out.put_u16(*max_len);
            }
            Of10Action::Nicira(a) => {
                out.put_u16(0xffff);
                out.put_u16(0);
                out.put_u32(NX_VENDOR);
                out.put_slice(&a.body_bytes());
            }
            Of10Action::Other { action_type, data } => {
                out.put_u16(*action_type);
                out.put_u16(0);
                out.put_slice(&data.0);
            }
        }
        pad_to_8(out, start);
        patch_len16(out, start, start + 2);
    }
}

/// An `NXT_FLOW_MOD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NxFlowMod {
    /// Header version (0x01 as ovs-ofctl sends it).
    pub version: u8,
    /// Transaction id.
    pub xid: u32,
    /// Cookie.
    pub cookie: u64,
    /// Command (low byte of `command`).
    pub command: FlowModCommand,
    /// Table (high byte of `command`, `NXT_FLOW_MOD_TABLE_ID`).
    pub table_id: u8,
    /// Idle timeout.
    pub idle_timeout: u16,
    /// Hard timeout.
    pub hard_timeout: u16,
    /// Priority.
    pub priority: u16,
    /// Buffer id (0xffffffff = none).
    pub buffer_id: u32,
    /// Out port for deletes (0xffff = none).
    pub out_port: u16,
    /// `OFPFF_*` flags.
    pub flags: u16,
    /// The match.
    pub nx_match: NxmMatch,
    /// The actions.
    pub actions: Vec<Of10Action>,
}

impl NxFlowMod {
    /// Decodes a whole message, header included. The header length must equal `buf`'s.
    pub fn decode(buf: &[u8]) -> DecodeResult<NxFlowMod> {
        let mut r = Reader::new(buf, "nx_flow_mod");
        let version = r.u8()?;
        let t = r.u8()?;
        let len = usize::from(r.u16()?);
        let xid = r.u32()?;
        if t != MSG_VENDOR {
            return Err(bad(1, format!("message type {t} is not OFPT_VENDOR")));
        }
        if len != buf.len() || len < NX_FLOW_MOD_LEN {
            return Err(DecodeError::bad_len("nx_flow_mod", format!("length {len}, {} bytes", buf.len())));
        }
        let vendor = r.u32()?;
        let subtype = r.u32()?;
        if vendor != NX_VENDOR || subtype != NXT_FLOW_MOD {
            return Err(bad(3, format!("vendor 0x{vendor:08x} subtype {subtype} is not NXT_FLOW_MOD")));
        }
        let cookie = r.u64()?;
        let command = r.u16()?;
        let idle_timeout = r.u16()?;
        let hard_timeout = r.u16()?;
        let priority = r.u16()?;
        let buffer_id = r.u32()?;
        let out_port = r.u16()?;
        let flags = r.u16()?;
        let match_len = usize::from(r.u16()?);
        r.skip(6)?;
        let padded = match_len.div_ceil(8) * 8;
        if padded > r.remaining() {
            return Err(DecodeError::bad_len("nx_flow_mod", format!("match_len {match_len} runs past the end")));
        }
        let mut m = r.sub(padded, "nx_match")?;
        let nx_match = NxmMatch::decode(m.take(match_len)?)?;
        if m.rest().iter().any(|b| *b != 0) {
            return Err(DecodeError::new(ErrorType::BAD_MATCH, 1, "nx_match", "non-zero padding after the match"));
        }
        let actions = Of10Action::decode_list(&mut r)?;
        Ok(NxFlowMod {
            version,
            xid,
            cookie,
            command: FlowModCommand(command.to_be_bytes()[1]),
            table_id: command.to_be_bytes()[0],
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            flags,
            nx_match,
            actions,
        })
    }

    /// Encodes the whole message.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u8(self.version);
        out.put_u8(MSG_VENDOR);
        out.put_u16(0);
        out.put_u32(self.xid);
        out.put_u32(NX_VENDOR);
        out.put_u32(NXT_FLOW_MOD);
        out.put_u64(self.cookie);
        out.put_u16(u16::from_be_bytes([self.table_id, self.command.0]));
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u16(self.priority);
        out.put_u32(self.buffer_id);
        out.put_u16(self.out_port);
        out.put_u16(self.flags);
        let match_len_at = out.len();
        out.put_u16(0);
        out.put_bytes(0, 6);
        let m = out.len();
        self.nx_match.encode(out);
        let match_len = u16::try_from(out.len() - m).unwrap_or(u16::MAX);
        if let Some(slot) = out.get_mut(match_len_at..match_len_at + 2) {
            slot.copy_from_slice(&match_len.to_be_bytes());
        }
        pad_to_8(out, m);
        for a in &self.actions {
            a.encode(out);
        }
        patch_len16(out, start, start + 2);
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::types::hex_decode;

    #[test]
    fn recorded_nxt_flow_mod_round_trips() {
        // table=1,priority=90,ct_state=+trk+new,tcp,tp_dst=22 actions=ct(commit,zone=5,table=2)
        let hex = "010400680000000a000023200000000d0000000000000000010000000000005affffffffffff0000001d\
                   00000000000000000602080000000c01060000140200160001d3080000002100000021000000\
                   ffff00180000232000230001000000000005020000000000";
        let bytes = hex_decode(hex).unwrap();
        let fm = NxFlowMod::decode(&bytes).unwrap();
        assert_eq!((fm.table_id, fm.command, fm.priority), (1, FlowModCommand::ADD, 90));
        assert_eq!(fm.nx_match.fields.len(), 4);
        assert_eq!(fm.to_bytes(), bytes);
        for n in 0..bytes.len() {
            assert!(NxFlowMod::decode(&bytes[..n]).is_err());
        }
    }
}
