//! OpenFlow 1.1 actions (OpenFlow 1.1.0 §A.2.5, `enum ofp_action_type`): each is
//! TLV-encoded with a 16-bit type and a length that is a multiple of 8.

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use std::net::Ipv4Addr;

use super::codec::{pad_to_8, patch_len16, DecodeError, DecodeResult, Reader};
use super::error_msg::ErrorType;
use super::types::{Bytes, MacAddr, PortNo};

/// `OFPAT_EXPERIMENTER`.
pub const ACTION_EXPERIMENTER: u16 = 0xffff;

/// One action. In JS: `{ type: 'output', port: 'normal', maxLen: 0 }`, `{ type: 'group',
/// groupId: 5 }`, ... Unknown action types decode to `{ type: 'unknown', actionType, data }`.
///
/// `Deserialize` is below ([`tagged_enum!`](crate::openflow::tagged)): it reads `type`
/// first instead of buffering the object as `#[serde(tag)]` does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Action {
    /// `OFPAT_OUTPUT` (0): output to a port; `maxLen` bytes to the controller.
    Output {
        /// Output port.
        port: PortNo,
        /// Bytes to send when `port` is the controller.
        #[serde(default)]
        max_len: u16,
    },
    /// `OFPAT_SET_VLAN_VID` (1).
    SetVlanVid {
        /// VLAN id.
        vlan_vid: u16,
    },
    /// `OFPAT_SET_VLAN_PCP` (2).
    SetVlanPcp {
        /// VLAN priority.
        vlan_pcp: u8,
    },
    /// `OFPAT_SET_DL_SRC` (3).
    SetDlSrc {
        /// New Ethernet source.
        dl_addr: MacAddr,
    },
    /// `OFPAT_SET_DL_DST` (4).
    SetDlDst {
        /// New Ethernet destination.
        dl_addr: MacAddr,
    },
    /// `OFPAT_SET_NW_SRC` (5).
    SetNwSrc {
        /// New IPv4 source.
        nw_addr: Ipv4Addr,
    },
    /// `OFPAT_SET_NW_DST` (6).
    SetNwDst {
        /// New IPv4 destination.
        nw_addr: Ipv4Addr,
    },
    /// `OFPAT_SET_NW_TOS` (7).
    SetNwTos {
        /// New ToS (DSCP in the upper 6 bits).
        nw_tos: u8,
    },
    /// `OFPAT_SET_NW_ECN` (8).
    SetNwEcn {
        /// New ECN bits.
        nw_ecn: u8,
    },
    /// `OFPAT_SET_TP_SRC` (9).
    SetTpSrc {
        /// New transport source port.
        tp_port: u16,
    },
    /// `OFPAT_SET_TP_DST` (10).
    SetTpDst {
        /// New transport destination port.
        tp_port: u16,
    },
    /// `OFPAT_COPY_TTL_OUT` (11).
    CopyTtlOut,
    /// `OFPAT_COPY_TTL_IN` (12).
    CopyTtlIn,
    /// `OFPAT_SET_MPLS_LABEL` (13).
    SetMplsLabel {
        /// New label.
        mpls_label: u32,
    },
    /// `OFPAT_SET_MPLS_TC` (14).
    SetMplsTc {
        /// New traffic class.
        mpls_tc: u8,
    },
    /// `OFPAT_SET_MPLS_TTL` (15).
    SetMplsTtl {
        /// New TTL.
        mpls_ttl: u8,
    },
    /// `OFPAT_DEC_MPLS_TTL` (16).
    DecMplsTtl,
    /// `OFPAT_PUSH_VLAN` (17).
    PushVlan {
        /// Ethertype of the new tag (0x8100 or 0x88a8).
        ethertype: u16,
    },
    /// `OFPAT_POP_VLAN` (18).
    PopVlan,
    /// `OFPAT_PUSH_MPLS` (19).
    PushMpls {
        /// 0x8847 or 0x8848.
        ethertype: u16,
    },
    /// `OFPAT_POP_MPLS` (20).
    PopMpls {
        /// Ethertype of the payload.
        ethertype: u16,
    },
    /// `OFPAT_SET_QUEUE` (21).
    SetQueue {
        /// Queue id.
        queue_id: u32,
    },
    /// `OFPAT_GROUP` (22).
    Group {
        /// Group id.
        group_id: u32,
    },
    /// `OFPAT_SET_NW_TTL` (23).
    SetNwTtl {
        /// New IP TTL.
        nw_ttl: u8,
    },
    /// `OFPAT_DEC_NW_TTL` (24).
    DecNwTtl,
    /// `OFPAT_EXPERIMENTER` (0xffff).
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Body after the experimenter id, padding included.
        #[serde(default)]
        data: Bytes,
    },
    /// An action type this codec does not know; its body is kept as is.
    Unknown {
        /// Wire type.
        action_type: u16,
        /// Body after the 4-byte type/length.
        #[serde(default)]
        data: Bytes,
    },
}

crate::openflow::tagged::tagged_enum! {
    Action {
        "output" => fields Output {
            port: PortNo,
            #[serde(default)]
            max_len: u16,
        },
        "set_vlan_vid" => fields SetVlanVid { vlan_vid: u16 },
        "set_vlan_pcp" => fields SetVlanPcp { vlan_pcp: u8 },
        "set_dl_src" => fields SetDlSrc { dl_addr: MacAddr },
        "set_dl_dst" => fields SetDlDst { dl_addr: MacAddr },
        "set_nw_src" => fields SetNwSrc { nw_addr: Ipv4Addr },
        "set_nw_dst" => fields SetNwDst { nw_addr: Ipv4Addr },
        "set_nw_tos" => fields SetNwTos { nw_tos: u8 },
        "set_nw_ecn" => fields SetNwEcn { nw_ecn: u8 },
        "set_tp_src" => fields SetTpSrc { tp_port: u16 },
        "set_tp_dst" => fields SetTpDst { tp_port: u16 },
        "copy_ttl_out" => unit CopyTtlOut (),
        "copy_ttl_in" => unit CopyTtlIn (),
        "set_mpls_label" => fields SetMplsLabel { mpls_label: u32 },
        "set_mpls_tc" => fields SetMplsTc { mpls_tc: u8 },
        "set_mpls_ttl" => fields SetMplsTtl { mpls_ttl: u8 },
        "dec_mpls_ttl" => unit DecMplsTtl (),
        "push_vlan" => fields PushVlan { ethertype: u16 },
        "pop_vlan" => unit PopVlan (),
        "push_mpls" => fields PushMpls { ethertype: u16 },
        "pop_mpls" => fields PopMpls { ethertype: u16 },
        "set_queue" => fields SetQueue { queue_id: u32 },
        "group" => fields Group { group_id: u32 },
        "set_nw_ttl" => fields SetNwTtl { nw_ttl: u8 },
        "dec_nw_ttl" => unit DecNwTtl (),
        "experimenter" => fields Experimenter {
            experimenter: u32,
            #[serde(default)]
            data: Bytes,
        },
        "unknown" => fields Unknown {
            action_type: u16,
            #[serde(default)]
            data: Bytes,
        },
    }
}

fn bad_action(code: u16, detail: impl Into<String>) -> DecodeError {
    DecodeError::new(ErrorType::BAD_ACTION, code, "ofp_action", detail)
}

impl Action {
    /// Decodes a list of actions filling `r`.
    pub fn decode_list(r: &mut Reader<'_>) -> DecodeResult<Vec<Action>> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Action::decode(r)?);
        }
        Ok(out)
    }

    /// Decodes one action.
    ///
    /// §A.2.5: "len: Length of action, including this header. This is the length
    /// of action, including any padding to make it 64-bit aligned."
    pub fn decode(r: &mut Reader<'_>) -> DecodeResult<Action> {
        let mut hdr = *r;
        let t = hdr.u16()?;
        let len = hdr.u16()?;
        if usize::from(len) < 8 || len % 8 != 0 || usize::from(len) > r.remaining() {
            return Err(bad_action(1, format!("action type {t} has bad length {len} ({} bytes left)", r.remaining())));
        }
        let mut b = r.sub(usize::from(len), "ofp_action")?;
        b.skip(4)?;
        let fixed = |want: u16| {
            if len == want {
                Ok(())
            } else {
                Err(bad_action(1, format!("action type {t} must be {want} bytes, not {len}")))
            }
        };
        let a = match t {
            0 => {
                fixed(16)?;
                let port = PortNo(b.u32()?);
                let max_len = b.u16()?;
                Action::Output { port, max_len }
            }
            1 => {
                fixed(8)?;
                Action::SetVlanVid { vlan_vid: b.u16()? }
            }
            2 => {
                fixed(8)?;
                Action::SetVlanPcp { vlan_pcp: b.u8()? }
            }
            3 | 4 => {
                fixed(16)?;
                let dl_addr = MacAddr(b.array()?);
                if t == 3 {
                    Action::SetDlSrc { dl_addr }
                } else {
                    Action::SetDlDst { dl_addr }
                }
            }
            5 | 6 => {
                fixed(8)?;
                let nw_addr = Ipv4Addr::from(b.u32()?);
                if t == 5 {
                    Action::SetNwSrc { nw_addr }
                } else {
                    Action::SetNwDst { nw_addr }
                }
            }
            7 => {
                fixed(8)?;
                Action::SetNwTos { nw_tos: b.u8()? }
            }
            8 => {
                fixed(8)?;
                Action::SetNwEcn { nw_ecn: b.u8()? }
            }
            9 | 10 => {
                fixed(8)?;
                let tp_port = b.u16()?;
                if t == 9 {
                    Action::SetTpSrc { tp_port }
                } else {
                    Action::SetTpDst { tp_port }
                }
            }
            11 => {
                fixed(8)?;
                Action::CopyTtlOut
            }
            12 => {
                fixed(8)?;
                Action::CopyTtlIn
            }
            13 => {
                fixed(8)?;
                Action::SetMplsLabel { mpls_label: b.u32()? }
            }
            14 => {
                fixed(8)?;
                Action::SetMplsTc { mpls_tc: b.u8()? }
            }
            15 => {
                fixed(8)?;
                Action::SetMplsTtl { mpls_ttl: b.u8()? }
            }
            16 => {
                fixed(8)?;
                Action::DecMplsTtl
            }
            17 => {
                fixed(8)?;
                Action::PushVlan { ethertype: b.u16()? }
            }
            18 => {
                fixed(8)?;
                Action::PopVlan
            }
            19 => {
                fixed(8)?;
                Action::PushMpls { ethertype: b.u16()? }
            }
            20 => {
                fixed(8)?;
                Action::PopMpls { ethertype: b.u16()? }
            }
            21 => {
                fixed(8)?;
                Action::SetQueue { queue_id: b.u32()? }
            }
            22 => {
                fixed(8)?;
                Action::Group { group_id: b.u32()? }
            }
            23 => {
                fixed(8)?;
                Action::SetNwTtl { nw_ttl: b.u8()? }
            }
            24 => {
                fixed(8)?;
                Action::DecNwTtl
            }
            ACTION_EXPERIMENTER => {
                // The experimenter id overlays the 4 pad bytes of the generic header.
                let mut e = Reader::new(hdr.rest(), "ofp_action_experimenter");
                let experimenter = e.u32()?;
                let data = e.take(usize::from(len) - 8)?;
                Action::Experimenter { experimenter, data: Bytes(data.to_vec()) }
            }
            other => {
                let data = Reader::new(hdr.rest(), "ofp_action").take(usize::from(len) - 4)?;
                Action::Unknown { action_type: other, data: Bytes(data.to_vec()) }
            }
        };
        Ok(a)
    }

    /// Wire type number.
    pub fn wire_type(&self) -> u16 {
        match self {
            Action::Output { .. } => 0,
            Action::SetVlanVid { .. } => 1,
            Action::SetVlanPcp { .. } => 2,
            Action::SetDlSrc { .. } => 3,
            Action::SetDlDst { .. } => 4,
            Action::SetNwSrc { .. } => 5,
            Action::SetNwDst { .. } => 6,
            Action::SetNwTos { .. } => 7,
            Action::SetNwEcn { .. } => 8,
            Action::SetTpSrc { .. } => 9,
            Action::SetTpDst { .. } => 10,
            Action::CopyTtlOut => 11,
            Action::CopyTtlIn => 12,
            Action::SetMplsLabel { .. } => 13,
            Action::SetMplsTc { .. } => 14,
            Action::SetMplsTtl { .. } => 15,
            Action::DecMplsTtl => 16,
            Action::PushVlan { .. } => 17,
            Action::PopVlan => 18,
            Action::PushMpls { .. } => 19,
            Action::PopMpls { .. } => 20,
            Action::SetQueue { .. } => 21,
            Action::Group { .. } => 22,
            Action::SetNwTtl { .. } => 23,
            Action::DecNwTtl => 24,
            Action::Experimenter { .. } => ACTION_EXPERIMENTER,
            Action::Unknown { action_type, .. } => *action_type,
        }
    }

    /// Encodes a list of actions.
    pub fn encode_list(actions: &[Action], out: &mut BytesMut) {
        for a in actions {
            a.encode(out);
        }
    }

    /// Encodes one action, padding it to a multiple of 8 bytes.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u16(self.wire_type());
        out.put_u16(0);
        match self {
            Action::Output { port, max_len } => {
                out.put_u32(port.0);
                out.put_u16(*max_len);
            }
            Action::SetVlanVid { vlan_vid } => out.put_u16(*vlan_vid),
            Action::SetVlanPcp { vlan_pcp: v }
            | Action::SetNwTos { nw_tos: v }
            | Action::SetNwEcn { nw_ecn: v }
            | Action::SetMplsTc { mpls_tc: v }
            | Action::SetMplsTtl { mpls_ttl: v }
            | Action::SetNwTtl { nw_ttl: v } => out.put_u8(*v),
            Action::SetDlSrc { dl_addr } | Action::SetDlDst { dl_addr } => out.put_slice(&dl_addr.0),
            Action::SetNwSrc { nw_addr } | Action::SetNwDst { nw_addr } => out.put_u32(u32::from(*nw_addr)),
            Action::SetTpSrc { tp_port } | Action::SetTpDst { tp_port } => out.put_u16(*tp_port),
            Action::SetMplsLabel { mpls_label: v } | Action::SetQueue { queue_id: v } | Action::Group { group_id: v } => {
                out.put_u32(*v)
            }
            Action::PushVlan { ethertype } | Action::PushMpls { ethertype } | Action::PopMpls { ethertype } => {
                out.put_u16(*ethertype)
            }
            Action::CopyTtlOut | Action::CopyTtlIn | Action::DecMplsTtl | Action::PopVlan | Action::DecNwTtl => {}
            Action::Experimenter { experimenter, data } => {
                out.put_u32(*experimenter);
                out.put_slice(&data.0);
            }
            Action::Unknown { data, .. } => out.put_slice(&data.0),
        }
        // Fixed-size actions are at least 8 bytes: generic header plus padding.
        let min = if matches!(self, Action::Unknown { .. }) { 4 } else { 8 };
        if out.len() - start < min {
            out.put_bytes(0, min - (out.len() - start));
        }
        pad_to_8(out, start);
        patch_len16(out, start, start + 2);
    }
}
