//! OFPT_FLOW_MOD (OpenFlow 1.1.0 §A.3.4.1) and OFPT_FLOW_REMOVED (§A.4.2).

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::codec::{DecodeResult, Reader};
use super::flow_match::Match;
use super::instruction::Instruction;
use super::types::{flags, open_enum, u64_field, GroupNo, PortNo, NO_BUFFER};

/// `OFP_DEFAULT_PRIORITY`.
pub const DEFAULT_PRIORITY: u16 = 0x8000;

open_enum! {
    /// `enum ofp_flow_mod_command`.
    pub struct FlowModCommand(u8) {
        ADD = 0 => "add",
        MODIFY = 1 => "modify",
        MODIFY_STRICT = 2 => "modify_strict",
        DELETE = 3 => "delete",
        DELETE_STRICT = 4 => "delete_strict",
    }
}

flags! {
    /// `enum ofp_flow_mod_flags` (OF1.1 defines two).
    pub struct FlowModFlags(u16) {
        SEND_FLOW_REM = 1 => "send_flow_rem",
        CHECK_OVERLAP = 2 => "check_overlap",
    }
}

open_enum! {
    /// `enum ofp_flow_removed_reason`.
    pub struct FlowRemovedReason(u8) {
        IDLE_TIMEOUT = 0 => "idle_timeout",
        HARD_TIMEOUT = 1 => "hard_timeout",
        DELETE = 2 => "delete",
        GROUP_DELETE = 3 => "group_delete",
    }
}

fn default_priority() -> u16 {
    DEFAULT_PRIORITY
}
fn no_buffer() -> u32 {
    NO_BUFFER
}
fn any_port() -> PortNo {
    PortNo::ANY
}
fn any_group() -> GroupNo {
    GroupNo::ANY
}

/// A flow table modification. Every field but `match`/`instructions` has the spec's
/// default when omitted from JS: command `'add'`, priority 0x8000, no buffer,
/// out_port/out_group `'any'`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowMod {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Opaque controller-issued identifier.
    #[serde(with = "u64_field", default)]
    pub cookie: u64,
    /// For modify/delete: cookie bits that must match (0 = any).
    #[serde(with = "u64_field", default)]
    pub cookie_mask: u64,
    /// Table (0xff = all, for deletes).
    #[serde(default)]
    pub table_id: u8,
    /// Command.
    #[serde(default)]
    pub command: FlowModCommand,
    /// Idle timeout in seconds (0 = none).
    #[serde(default)]
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    #[serde(default)]
    pub hard_timeout: u16,
    /// Priority.
    #[serde(default = "default_priority")]
    pub priority: u16,
    /// Buffered packet to apply to, or 0xffffffff.
    #[serde(default = "no_buffer")]
    pub buffer_id: u32,
    /// For deletes: only flows that output to this port.
    #[serde(default = "any_port")]
    pub out_port: PortNo,
    /// For deletes: only flows that output to this group.
    #[serde(default = "any_group")]
    pub out_group: GroupNo,
    /// Flags.
    #[serde(default)]
    pub flags: FlowModFlags,
    /// The match.
    #[serde(rename = "match", default)]
    pub flow_match: Match,
    /// Instructions; none means drop.
    #[serde(default)]
    pub instructions: Vec<Instruction>,
}

impl Default for FlowMod {
    fn default() -> Self {
        FlowMod {
            xid: 0,
            cookie: 0,
            cookie_mask: 0,
            table_id: 0,
            command: FlowModCommand::ADD,
            idle_timeout: 0,
            hard_timeout: 0,
            priority: DEFAULT_PRIORITY,
            buffer_id: NO_BUFFER,
            out_port: PortNo::ANY,
            out_group: GroupNo::ANY,
            flags: FlowModFlags::default(),
            flow_match: Match::default(),
            instructions: Vec::new(),
        }
    }
}

impl FlowMod {
    /// Decodes the body after the header.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        let table_id = r.u8()?;
        let command = FlowModCommand(r.u8()?);
        let idle_timeout = r.u16()?;
        let hard_timeout = r.u16()?;
        let priority = r.u16()?;
        let buffer_id = r.u32()?;
        let out_port = PortNo(r.u32()?);
        let out_group = GroupNo(r.u32()?);
        let flags = FlowModFlags(r.u16()?);
        r.skip(2)?;
        let flow_match = Match::decode(r)?;
        let instructions = Instruction::decode_list(r)?;
        Ok(FlowMod {
            xid,
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            flow_match,
            instructions,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64(self.cookie);
        out.put_u64(self.cookie_mask);
        out.put_u8(self.table_id);
        out.put_u8(self.command.0);
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u16(self.priority);
        out.put_u32(self.buffer_id);
        out.put_u32(self.out_port.0);
        out.put_u32(self.out_group.0);
        out.put_u16(self.flags.0);
        out.put_u16(0);
        self.flow_match.encode(out);
        Instruction::encode_list(&self.instructions, out);
    }
}

/// A flow was removed (idle/hard timeout, delete).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowRemoved {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Cookie of the removed flow.
    #[serde(with = "u64_field")]
    pub cookie: u64,
    /// Its priority.
    pub priority: u16,
    /// Why it went.
    pub reason: FlowRemovedReason,
    /// Its table.
    pub table_id: u8,
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Its idle timeout.
    pub idle_timeout: u16,
    /// Its hard timeout. OF1.1 has padding here; OF1.2 put the hard timeout in it,
    /// and Open vSwitch fills it in OF1.1 too.
    #[serde(default)]
    pub hard_timeout: u16,
    /// Packets matched.
    #[serde(with = "u64_field")]
    pub packet_count: u64,
    /// Bytes matched.
    #[serde(with = "u64_field")]
    pub byte_count: u64,
    /// Its match.
    #[serde(rename = "match", default)]
    pub flow_match: Match,
}

impl FlowRemoved {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let cookie = r.u64()?;
        let priority = r.u16()?;
        let reason = FlowRemovedReason(r.u8()?);
        let table_id = r.u8()?;
        let duration_sec = r.u32()?;
        let duration_nsec = r.u32()?;
        let idle_timeout = r.u16()?;
        let hard_timeout = r.u16()?;
        let packet_count = r.u64()?;
        let byte_count = r.u64()?;
        let flow_match = Match::decode(r)?;
        Ok(FlowRemoved {
            hard_timeout,
            xid,
            cookie,
            priority,
            reason,
            table_id,
            duration_sec,
            duration_nsec,
            idle_timeout,
            packet_count,
            byte_count,
            flow_match,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64(self.cookie);
        out.put_u16(self.priority);
        out.put_u8(self.reason.0);
        out.put_u8(self.table_id);
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u64(self.packet_count);
        out.put_u64(self.byte_count);
        self.flow_match.encode(out);
    }
}
