//! PACKET_IN (OpenFlow 1.1.0 §A.4.1) and PACKET_OUT (§A.3.7).

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::action::Action;
use super::codec::{DecodeResult, Reader};
use super::types::{open_enum, Bytes, PortNo, NO_BUFFER};

open_enum! {
    /// `enum ofp_packet_in_reason`.
    pub struct PacketInReason(u8) {
        NO_MATCH = 0 => "no_match",
        ACTION = 1 => "action",
    }
}

/// A packet sent to the controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PacketIn {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Buffer id, or 0xffffffff when not buffered.
    #[serde(default = "no_buffer")]
    pub buffer_id: u32,
    /// Port the packet came in on.
    pub in_port: PortNo,
    /// Physical port it came in on.
    pub in_phy_port: PortNo,
    /// Full length of the frame.
    pub total_len: u16,
    /// Why it was sent.
    pub reason: PacketInReason,
    /// Table that was looked up.
    #[serde(default)]
    pub table_id: u8,
    /// The frame (possibly truncated to `miss_send_len`/`max_len`).
    #[serde(default)]
    pub data: Bytes,
}

fn no_buffer() -> u32 {
    NO_BUFFER
}

impl PacketIn {
    /// Decodes the body. §A.4.1: the 16 bytes of fields are followed directly by
    /// the frame.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(PacketIn {
            xid,
            buffer_id: r.u32()?,
            in_port: PortNo(r.u32()?),
            in_phy_port: PortNo(r.u32()?),
            total_len: r.u16()?,
            reason: PacketInReason(r.u8()?),
            table_id: r.u8()?,
            data: Bytes(r.take_rest().to_vec()),
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.buffer_id);
        out.put_u32(self.in_port.0);
        out.put_u32(self.in_phy_port.0);
        out.put_u16(self.total_len);
        out.put_u8(self.reason.0);
        out.put_u8(self.table_id);
        out.put_slice(&self.data.0);
    }
}

/// Sends a packet out of the switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PacketOut {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Buffered packet, or 0xffffffff to send `data`.
    #[serde(default = "no_buffer")]
    pub buffer_id: u32,
    /// Input port to pretend (`'controller'` usually).
    #[serde(default = "controller_port")]
    pub in_port: PortNo,
    /// Actions to apply.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// The frame, when not buffered.
    #[serde(default)]
    pub data: Bytes,
}

fn controller_port() -> PortNo {
    PortNo::CONTROLLER
}

impl PacketOut {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let buffer_id = r.u32()?;
        let in_port = PortNo(r.u32()?);
        let actions_len = r.u16()?;
        r.skip(6)?;
        let mut actions_r = r.sub(usize::from(actions_len), "ofp_packet_out actions")?;
        let actions = Action::decode_list(&mut actions_r)?;
        Ok(PacketOut { xid, buffer_id, in_port, actions, data: Bytes(r.take_rest().to_vec()) })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.buffer_id);
        out.put_u32(self.in_port.0);
        let len_at = out.len();
        out.put_u16(0);
        out.put_bytes(0, 6);
        let start = out.len();
        Action::encode_list(&self.actions, out);
        let actions_len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
        if let Some(slot) = out.get_mut(len_at..len_at + 2) {
            slot.copy_from_slice(&actions_len.to_be_bytes());
        }
        out.put_slice(&self.data.0);
    }
}
