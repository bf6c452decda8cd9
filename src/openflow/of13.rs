//! OpenFlow 1.3 on the wire, OpenFlow 1.1 above it.
//!
//! A session that negotiated OpenFlow 1.3 translates at its edge: what the layers
//! above encode as OpenFlow 1.1 leaves as the OpenFlow 1.3 message Open vSwitch
//! expects ([`to_of13`]), and what the switch sends is read back into OpenFlow 1.1
//! ([`from_of13`]). Everything above the session (codec, rule tables, reconcile,
//! JS) keeps one version. The two versions share most layouts (OpenFlow 1.3.5 §7
//! against 1.1.0 §A); what differs, and is translated here:
//! - matches: OpenFlow 1.3 has only OXM (§7.2.2). A standard match becomes the OXM
//!   fields Open vSwitch reads from it (`ofputil_match_from_ofp11_match`: network
//!   fields only under an IPv4 or ARP `dl_type`, ports only under TCP, UDP or ICMP),
//!   in `nx_put_raw`'s order; an OXM match goes as it is;
//! - actions: SET_DL_SRC to SET_TP_DST and SET_MPLS_LABEL/TC are gone; SET_FIELD
//!   (§7.2.5) does their work, and comes back as them in dumps;
//! - FEATURES_REPLY has no ports (§7.3.1): the session reads them with a PORT_DESC
//!   multipart and [`features_reply_of11`] builds the OF1.1 reply;
//! - PACKET_IN carries a match (the input port) and a cookie (§7.4.1);
//! - FLOW_REMOVED has a hard timeout, flow stats entries flags, port, queue and
//!   group stats durations (§7.3.5).
//!
//! What has no translation is refused with the reason, never sent half-translated:
//! matches and actions on fields the OXM model here does not type (IP DSCP/ECN,
//! MPLS, SCTP ports) and messages only a switch sends. Table stats replies, whose
//! OpenFlow 1.3 form carries none of OpenFlow 1.1's table features, stay in their
//! OpenFlow 1.3 form (the layers above see a message of another version).

use bytes::BytesMut;

use super::action::Action;
use super::flow_match::{Match, MATCH_TYPE_OXM, VID_ANY, VID_NONE};
use super::header::{MsgType, HEADER_LEN, OFP11_VERSION};
use super::instruction::Instruction;
use super::nxm::{Dialect, Field, MatchField, NxmMatch, Value};
// An `ofp_port` has one layout in both versions.
use super::port::PORT_LEN;
use super::stats::{StatsReplyBody, StatsRequestBody};
use super::types::{Bytes, MacAddr};
use super::Message;

/// The wire version of OpenFlow 1.3.
pub const OFP13_VERSION: u8 = 0x04;

/// `OFPAT_SET_FIELD` (OpenFlow 1.3.5 §7.2.5).
const SET_FIELD: u16 = 25;
/// `OFPMP_PORT_DESC`.
const PORT_DESC: u16 = 13;
/// `OFPVID_PRESENT`: the VLAN_VID bit that says a tag is there.
const VID_PRESENT: u16 = 0x1000;

const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;

/// Why a message cannot cross between the versions.
pub type Refusal = String;

fn with_version(frame: &[u8], version: u8) -> Vec<u8> {
    let mut out = frame.to_vec();
    if let Some(v) = out.first_mut() {
        *v = version;
    }
    out
}

fn encode_as(message: &Message, version: u8) -> Result<Vec<u8>, Refusal> {
    let mut out = BytesMut::new();
    message.encode(&mut out).map_err(|e| e.to_string())?;
    let mut out = out.to_vec();
    out[0] = version;
    Ok(out)
}

/// An OpenFlow 1.1 message (as the layers above encode it) in the OpenFlow 1.3
/// form. A message already of version 1.3 goes as it is.
pub fn to_of13(frame: &[u8]) -> Result<Vec<u8>, Refusal> {
    let (version, msg_type) = match frame {
        [v, t, ..] => (*v, MsgType(*t)),
        _ => return Err("not an OpenFlow message".into()),
    };
    if version == OFP13_VERSION {
        return Ok(frame.to_vec());
    }
    if version != OFP11_VERSION {
        return Err(format!("an OpenFlow message of version {version:#04x} is neither 1.1 nor 1.3"));
    }
    // NXT_FLOW_MOD (Nicira subtype 13) carries its actions in the connection's version:
    // OpenFlow 1.0-style ones would be misread as 1.3's.
    if msg_type == MsgType::EXPERIMENTER && frame.get(8..16) == Some(&[0, 0, 0x23, 0x20, 0, 0, 0, 13][..]) {
        return Err("NXT_FLOW_MOD carries actions of its connection's version: send an OpenFlow 1.1 FLOW_MOD with an OXM match".into());
    }
    match msg_type {
        MsgType::ECHO_REQUEST
        | MsgType::ECHO_REPLY
        | MsgType::EXPERIMENTER
        | MsgType::FEATURES_REQUEST
        | MsgType::GET_CONFIG_REQUEST
        | MsgType::SET_CONFIG
        | MsgType::PORT_MOD
        | MsgType::TABLE_MOD
        | MsgType::BARRIER_REQUEST
        | MsgType::QUEUE_GET_CONFIG_REQUEST => Ok(with_version(frame, OFP13_VERSION)),
        MsgType::FLOW_MOD | MsgType::PACKET_OUT | MsgType::GROUP_MOD | MsgType::STATS_REQUEST => {
            let message = match Message::decode(frame).map_err(|e| e.to_string())? {
                Message::FlowMod(mut fm) => {
                    fm.instructions = instructions_to_of13(&fm.instructions, &fm.flow_match)?;
                    fm.flow_match = oxm_match(&fm.flow_match)?;
                    Message::FlowMod(fm)
                }
                Message::PacketOut(mut po) => {
                    po.actions = actions_to_of13(&po.actions, &Match::default())?;
                    Message::PacketOut(po)
                }
                Message::GroupMod(mut gm) => {
                    for b in &mut gm.buckets {
                        b.actions = actions_to_of13(&b.actions, &Match::default())?;
                    }
                    Message::GroupMod(gm)
                }
                Message::StatsRequest(mut sr) => {
                    if let StatsRequestBody::Flow(f) | StatsRequestBody::Aggregate(f) = &mut sr.body {
                        f.flow_match = oxm_match(&f.flow_match)?;
                    }
                    Message::StatsRequest(sr)
                }
                other => other,
            };
            encode_as(&message, OFP13_VERSION)
        }
        other => Err(format!("a {} message is the switch's to send, not the controller's", other.name().unwrap_or("unknown"))),
    }
}

/// An OpenFlow 1.3 message from the switch in the OpenFlow 1.1 form the layers
/// above read. Messages without an OpenFlow 1.1 form (table stats, anything
/// unknown) come back unchanged, still of version 1.3.
pub fn from_of13(frame: &[u8]) -> Result<Vec<u8>, Refusal> {
    let msg_type = match frame {
        [OFP13_VERSION, t, ..] if frame.len() >= HEADER_LEN => MsgType(*t),
        _ => return Ok(frame.to_vec()),
    };
    match msg_type {
        MsgType::ERROR => Ok(error_of11(frame)),
        MsgType::PACKET_IN => packet_in_of11(frame),
        MsgType::FLOW_REMOVED => {
            // ofp_flow_removed: hard_timeout at 30..32 is pad in OpenFlow 1.1.
            let mut out = with_version(frame, OFP11_VERSION);
            if let Some(hard) = out.get_mut(30..32) {
                hard.fill(0);
            }
            Ok(out)
        }
        MsgType::STATS_REPLY => stats_reply_of11(frame),
        MsgType::HELLO
        | MsgType::ECHO_REQUEST
        | MsgType::ECHO_REPLY
        | MsgType::EXPERIMENTER
        | MsgType::GET_CONFIG_REPLY
        | MsgType::PORT_STATUS
        | MsgType::BARRIER_REPLY
        | MsgType::QUEUE_GET_CONFIG_REPLY => Ok(with_version(frame, OFP11_VERSION)),
        _ => Ok(frame.to_vec()),
    }
}

/// The OFPMP_PORT_DESC request that lists the ports an OpenFlow 1.3
/// FEATURES_REPLY no longer carries (xid 0: the session sets it).
pub fn port_desc_request() -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&[OFP13_VERSION, MsgType::STATS_REQUEST.0, 0, 16, 0, 0, 0, 0]);
    out.extend_from_slice(&PORT_DESC.to_be_bytes());
    out.extend_from_slice(&[0; 6]); // flags, pad
    out
}

/// Whether `frame` is a part of an OFPMP_PORT_DESC reply.
pub fn is_port_desc_reply(frame: &[u8]) -> bool {
    frame.len() >= 16 && frame[0] == OFP13_VERSION && frame[1] == MsgType::STATS_REPLY.0 && frame[8..10] == PORT_DESC.to_be_bytes()
}

/// The OpenFlow 1.1 FEATURES_REPLY for an OpenFlow 1.3 one and the parts of its
/// PORT_DESC reply: the same fields (the 1.3 auxiliary id, always 0 on a main
/// connection, falls in 1.1's padding), then the ports, which have one layout in
/// both versions.
pub fn features_reply_of11(features: &[u8], port_desc: &[Vec<u8>]) -> Result<Vec<u8>, Refusal> {
    const FIXED: usize = HEADER_LEN + 24;
    if features.len() < FIXED {
        return Err(format!("an OpenFlow 1.3 FEATURES_REPLY is {FIXED} bytes, got {}", features.len()));
    }
    let mut out = with_version(&features[..FIXED], OFP11_VERSION);
    out[HEADER_LEN + 13..HEADER_LEN + 16].fill(0);
    for part in port_desc {
        let ports = part.get(16..).unwrap_or_default();
        if ports.len() % PORT_LEN != 0 {
            return Err(format!("a PORT_DESC reply part holds {} bytes of ports, not whole 64-byte ports", ports.len()));
        }
        out.extend_from_slice(ports);
    }
    let len = u16::try_from(out.len()).map_err(|_| "the ports do not fit one OpenFlow 1.1 FEATURES_REPLY".to_owned())?;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

// ---- matches ----

fn oxm(field: Field, value: Value, mask: Option<Value>) -> MatchField {
    MatchField::Known { field, dialect: Dialect::Oxm, value, mask }
}

/// `m` as an OXM match: an OXM match as it is; a standard one as the fields Open
/// vSwitch reads from it, in `nx_put_raw` order.
pub fn oxm_match(m: &Match) -> Result<Match, Refusal> {
    if m.oxm.is_some() {
        return Ok(m.clone());
    }
    let mut fields = Vec::new();
    if let Some(p) = m.in_port {
        fields.push(oxm(Field::InPort, Value::U32(p.0), None));
    }
    // A masked value keeps only the bits of its mask, as Open vSwitch reads an OpenFlow
    // 1.1 match (10.1.2.3 under /16 is 10.1.0.0/16); OXM refuses other bits set
    // (OFPBMC_BAD_WILDCARDS). An all-zero mask wildcards the field.
    for (field, f) in [(Field::EthSrc, &m.dl_src), (Field::EthDst, &m.dl_dst)] {
        if let Some(mac) = f {
            if mac.mask != Some(MacAddr::ZERO) {
                let value = mac.mask.map_or(mac.value, |k| MacAddr(std::array::from_fn(|i| mac.value.0[i] & k.0[i])));
                fields.push(oxm(field, Value::Mac(value), mac.mask.map(Value::Mac)));
            }
        }
    }
    if let Some(t) = m.dl_type {
        fields.push(oxm(Field::EthType, Value::U16(t), None));
    }
    match m.dl_vlan {
        None => {}
        Some(VID_NONE) => fields.push(oxm(Field::VlanVid, Value::U16(0), None)),
        Some(vid) => {
            fields.push(match vid {
                VID_ANY => oxm(Field::VlanVid, Value::U16(VID_PRESENT), Some(Value::U16(VID_PRESENT))),
                vid if vid < 0x1000 => oxm(Field::VlanVid, Value::U16(VID_PRESENT | vid), None),
                vid => return Err(format!("dl_vlan {vid} is not a VLAN id")),
            });
            // The priority of a tagged packet only.
            if let Some(pcp) = m.dl_vlan_pcp {
                fields.push(oxm(Field::VlanPcp, Value::U8(pcp), None));
            }
        }
    }
    let ipv4 = m.dl_type == Some(ETH_TYPE_IP);
    let arp = m.dl_type == Some(ETH_TYPE_ARP);
    if ipv4 || arp {
        let (src, dst) = if arp { (Field::ArpSpa, Field::ArpTpa) } else { (Field::Ipv4Src, Field::Ipv4Dst) };
        for (field, f) in [(src, &m.nw_src), (dst, &m.nw_dst)] {
            if let Some(ip) = f {
                if ip.mask != Some(std::net::Ipv4Addr::UNSPECIFIED) {
                    let value = ip.mask.map_or(ip.value, |k| ip.value & k);
                    fields.push(oxm(field, Value::Ipv4(value), ip.mask.map(Value::Ipv4)));
                }
            }
        }
        if ipv4 && m.nw_tos.is_some() {
            return Err("nw_tos has no OXM field here (IP_DSCP)".into());
        }
        if let Some(proto) = m.nw_proto {
            fields.push(if arp {
                oxm(Field::ArpOp, Value::U16(u16::from(proto)), None)
            } else {
                oxm(Field::IpProto, Value::U8(proto), None)
            });
        }
    }
    if ipv4 {
        let ports = match m.nw_proto {
            Some(IPPROTO_TCP) => Some((Field::TcpSrc, Field::TcpDst)),
            Some(IPPROTO_UDP) => Some((Field::UdpSrc, Field::UdpDst)),
            Some(IPPROTO_ICMP) => Some((Field::Icmpv4Type, Field::Icmpv4Code)),
            Some(IPPROTO_SCTP) if m.tp_src.is_some() || m.tp_dst.is_some() => {
                return Err("SCTP ports have no OXM field here".into());
            }
            // OpenFlow 1.1 says to ignore the ports of other protocols.
            _ => None,
        };
        for (field, port) in ports.map_or_else(Vec::new, |(src, dst)| vec![(src, m.tp_src), (dst, m.tp_dst)]) {
            let Some(port) = port else { continue };
            fields.push(match field {
                Field::Icmpv4Type | Field::Icmpv4Code => {
                    let v = u8::try_from(port).map_err(|_| format!("ICMP type or code {port} is over 255"))?;
                    oxm(field, Value::U8(v), None)
                }
                _ => oxm(field, Value::U16(port), None),
            });
        }
    }
    if m.mpls_label.is_some() || m.mpls_tc.is_some() {
        return Err("MPLS fields have no OXM field here".into());
    }
    if let Some(md) = m.metadata {
        if md.mask != Some(0) {
            let value = md.mask.map_or(md.value, |k| md.value & k);
            fields.push(oxm(Field::Metadata, Value::U64(value), md.mask.map(Value::U64)));
        }
    }
    let mut nxm = NxmMatch { fields };
    nxm.canonicalize();
    Ok(Match { oxm: Some(Bytes(nxm.to_bytes())), ..m.clone() })
}

/// The IP protocol a flow's match settles, if any.
fn ip_proto(m: &Match) -> Option<u8> {
    if let Some(Ok(nxm)) = m.nxm() {
        return match nxm.find(Field::IpProto) {
            Some((Value::U8(p), None)) => Some(p),
            _ => None,
        };
    }
    m.nw_proto.filter(|_| m.dl_type == Some(ETH_TYPE_IP))
}

// ---- actions ----

/// An `ofp_action_set_field` for `field` (no mask), padded to 8 bytes.
fn set_field(field: Field, value: Value) -> Action {
    let mut tlv = BytesMut::new();
    oxm(field, value, None).encode(&mut tlv);
    let padded = (4 + tlv.len()).div_ceil(8) * 8;
    tlv.resize(padded - 4, 0);
    Action::Unknown { action_type: SET_FIELD, data: Bytes(tlv.to_vec()) }
}

fn actions_to_of13(actions: &[Action], m: &Match) -> Result<Vec<Action>, Refusal> {
    actions
        .iter()
        .map(|a| {
            Ok(match a {
                Action::SetDlSrc { dl_addr } => set_field(Field::EthSrc, Value::Mac(*dl_addr)),
                Action::SetDlDst { dl_addr } => set_field(Field::EthDst, Value::Mac(*dl_addr)),
                Action::SetNwSrc { nw_addr } => set_field(Field::Ipv4Src, Value::Ipv4(*nw_addr)),
                Action::SetNwDst { nw_addr } => set_field(Field::Ipv4Dst, Value::Ipv4(*nw_addr)),
                Action::SetVlanVid { vlan_vid } => set_field(Field::VlanVid, Value::U16(VID_PRESENT | vlan_vid)),
                Action::SetVlanPcp { vlan_pcp } => set_field(Field::VlanPcp, Value::U8(*vlan_pcp)),
                Action::SetTpSrc { tp_port } | Action::SetTpDst { tp_port } => {
                    let src = matches!(a, Action::SetTpSrc { .. });
                    let field = match (ip_proto(m), src) {
                        (Some(IPPROTO_TCP), true) => Field::TcpSrc,
                        (Some(IPPROTO_TCP), false) => Field::TcpDst,
                        (Some(IPPROTO_UDP), true) => Field::UdpSrc,
                        (Some(IPPROTO_UDP), false) => Field::UdpDst,
                        _ => return Err("set_tp_src/set_tp_dst need a TCP or UDP match in OpenFlow 1.3".into()),
                    };
                    set_field(field, Value::U16(*tp_port))
                }
                Action::SetNwTos { .. } => return Err("set_nw_tos has no SET_FIELD here".into()),
                Action::SetNwEcn { .. } => return Err("set_nw_ecn has no SET_FIELD here".into()),
                Action::SetMplsLabel { .. } => return Err("set_mpls_label has no SET_FIELD here".into()),
                Action::SetMplsTc { .. } => return Err("set_mpls_tc has no SET_FIELD here".into()),
                other => other.clone(),
            })
        })
        .collect()
}

fn instructions_to_of13(instructions: &[Instruction], m: &Match) -> Result<Vec<Instruction>, Refusal> {
    instructions
        .iter()
        .map(|i| {
            Ok(match i {
                Instruction::ApplyActions { actions } => Instruction::ApplyActions { actions: actions_to_of13(actions, m)? },
                Instruction::WriteActions { actions } => Instruction::WriteActions { actions: actions_to_of13(actions, m)? },
                other => other.clone(),
            })
        })
        .collect()
}

/// A SET_FIELD as the OpenFlow 1.1 action that does the same, where one exists.
fn action_of11(a: &Action) -> Action {
    let Action::Unknown { action_type: SET_FIELD, data } = a else { return a.clone() };
    let mut r = super::codec::Reader::new(&data.0, "set_field");
    let Ok(MatchField::Known { field, value, mask: None, .. }) = MatchField::decode(&mut r) else { return a.clone() };
    match (field, value) {
        (Field::EthSrc, Value::Mac(dl_addr)) => Action::SetDlSrc { dl_addr },
        (Field::EthDst, Value::Mac(dl_addr)) => Action::SetDlDst { dl_addr },
        (Field::Ipv4Src, Value::Ipv4(nw_addr)) => Action::SetNwSrc { nw_addr },
        (Field::Ipv4Dst, Value::Ipv4(nw_addr)) => Action::SetNwDst { nw_addr },
        (Field::TcpSrc | Field::UdpSrc, Value::U16(tp_port)) => Action::SetTpSrc { tp_port },
        (Field::TcpDst | Field::UdpDst, Value::U16(tp_port)) => Action::SetTpDst { tp_port },
        (Field::VlanVid, Value::U16(vid)) if vid & VID_PRESENT != 0 => Action::SetVlanVid { vlan_vid: vid & 0x0fff },
        (Field::VlanPcp, Value::U8(vlan_pcp)) => Action::SetVlanPcp { vlan_pcp },
        _ => a.clone(),
    }
}

fn instructions_of11(instructions: &mut [Instruction]) {
    for i in instructions {
        if let Instruction::ApplyActions { actions } | Instruction::WriteActions { actions } = i {
            for a in actions.iter_mut() {
                *a = action_of11(a);
            }
        }
    }
}

// ---- switch messages ----

/// `NX_VENDOR_ID`: Open vSwitch's own extensions.
const NX_VENDOR_ID: u32 = 0x0000_2320;
/// `NXET_VENDOR`, OpenFlow 1.0 and 1.1's type for extension errors.
const NXET_VENDOR: u16 = 0xb0c2;

/// Open vSwitch's extension errors: their OpenFlow 1.2+ experimenter code, and
/// their OpenFlow 1.0-1.1 (type, code) (`lib/ofp-errors.h`, "NX1.0-1.1(t,c),
/// NX1.2+(n)"), for the ones the controller names.
const NX_ERRORS: [(u16, (u16, u16)); 2] = [
    (42, (1, 265)), // NXBAC_CT_DATAPATH_SUPPORT
    (43, (1, 264)), // NXBMC_CT_DATAPATH_SUPPORT
];

/// An ERROR in OpenFlow 1.1's form. Its offending message (the data, after an
/// experimenter error's id) is the OpenFlow 1.3 form we sent: read as OpenFlow 1.1
/// where it has that header. An extension error of Open vSwitch the table above
/// knows becomes its NXET_VENDOR form, as a 1.1 session receives it.
fn error_of11(frame: &[u8]) -> Vec<u8> {
    let mut out = with_version(frame, OFP11_VERSION);
    let experimenter = out.get(8..10) == Some(&[0xff, 0xff]);
    let offending = HEADER_LEN + 4 + if experimenter { 4 } else { 0 };
    if out.get(offending) == Some(&OFP13_VERSION) {
        out[offending] = OFP11_VERSION;
    }
    let nx = experimenter && out.get(12..16) == Some(&NX_VENDOR_ID.to_be_bytes()[..]);
    if let Some(&(_, (t, c))) = NX_ERRORS.iter().find(|(n, _)| nx && out.get(10..12) == Some(&n.to_be_bytes()[..])) {
        // ofp_error_msg { NXET_VENDOR, 0 } then nx_vendor_error { vendor, type, code }, then the request.
        let mut nx = Vec::with_capacity(out.len() + 4);
        nx.extend_from_slice(&out[..HEADER_LEN]);
        nx.extend_from_slice(&NXET_VENDOR.to_be_bytes());
        nx.extend_from_slice(&[0, 0]);
        nx.extend_from_slice(&NX_VENDOR_ID.to_be_bytes());
        nx.extend_from_slice(&t.to_be_bytes());
        nx.extend_from_slice(&c.to_be_bytes());
        nx.extend_from_slice(&out[16..]);
        if let Ok(len) = u16::try_from(nx.len()) {
            nx[2..4].copy_from_slice(&len.to_be_bytes());
            return nx;
        }
    }
    out
}

/// `ofp_packet_in` 1.3 (buffer_id, total_len, reason, table_id, cookie, match, 2
/// bytes of pad, frame) as 1.1's (buffer_id, in_port, in_phy_port, total_len,
/// reason, table_id, frame).
fn packet_in_of11(frame: &[u8]) -> Result<Vec<u8>, Refusal> {
    let bad = |why: &str| format!("an OpenFlow 1.3 PACKET_IN {why}");
    let body = &frame[HEADER_LEN..];
    if body.len() < 20 {
        return Err(bad("is too short"));
    }
    let (fixed, rest) = body.split_at(16);
    let match_type = u16::from_be_bytes([rest[0], rest[1]]);
    let match_len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
    if match_type != MATCH_TYPE_OXM || match_len < 4 {
        return Err(bad("has no OXM match"));
    }
    let padded = match_len.div_ceil(8) * 8;
    let data = rest.get(padded + 2..).ok_or_else(|| bad("ends inside its match"))?;
    let nxm = NxmMatch::decode(&rest[4..match_len]).map_err(|e| bad(&e.to_string()))?;
    let in_port = match nxm.find(Field::InPort) {
        Some((Value::U32(p), _)) => p,
        _ => return Err(bad("does not say its input port")),
    };
    // OXM_OF_IN_PHY_PORT (class 0x8000, field 1) is not typed: the input port stands for it.
    let mut out = Vec::with_capacity(HEADER_LEN + 16 + data.len());
    out.extend_from_slice(&frame[..HEADER_LEN]);
    out[0] = OFP11_VERSION;
    out.extend_from_slice(&fixed[0..4]); // buffer_id
    out.extend_from_slice(&in_port.to_be_bytes());
    out.extend_from_slice(&in_port.to_be_bytes());
    out.extend_from_slice(&fixed[4..8]); // total_len, reason, table_id
    out.extend_from_slice(data);
    let len = u16::try_from(out.len()).map_err(|_| bad("is too long"))?;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Removes `cut` bytes at `at` in each length-prefixed entry of a stats body,
/// fixing each entry's length (port, queue and group stats lost their duration
/// fields going back to OpenFlow 1.1). `min`: the smallest entry.
fn cut_entries(body: &[u8], min: usize, at: usize, cut: usize, length_prefixed: bool) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity(body.len());
    let mut pos = 0;
    while pos < body.len() {
        let len = if length_prefixed {
            usize::from(u16::from_be_bytes([body[pos], *body.get(pos + 1).ok_or("a stats entry is cut")?]))
        } else {
            min
        };
        if len < min || pos + len > body.len() {
            return Err(format!("a stats entry of {len} bytes does not fit its reply"));
        }
        let entry = &body[pos..pos + len];
        let start = out.len();
        out.extend_from_slice(&entry[..at]);
        out.extend_from_slice(&entry[at + cut..]);
        if length_prefixed {
            let new = u16::try_from(len - cut).unwrap_or(0);
            out[start..start + 2].copy_from_slice(&new.to_be_bytes());
        }
        pos += len;
    }
    Ok(out)
}

fn stats_reply_of11(frame: &[u8]) -> Result<Vec<u8>, Refusal> {
    if frame.len() < 16 {
        return Err("an OpenFlow 1.3 multipart reply is too short".into());
    }
    let stats_type = u16::from_be_bytes([frame[8], frame[9]]);
    let body = &frame[16..];
    let cut = match stats_type {
        // desc, aggregate, experimenter: one layout.
        0 | 2 | 0xffff => None,
        1 | 7 => {
            // Flows (flags at 18..20 of each entry are pad in 1.1) and group
            // descriptions: their actions go back to OpenFlow 1.1's.
            let mut copy = with_version(frame, OFP11_VERSION);
            if stats_type == 1 {
                let mut pos = 16;
                while pos + 20 <= copy.len() {
                    let len = usize::from(u16::from_be_bytes([copy[pos], copy[pos + 1]]));
                    copy[pos + 18..pos + 20].fill(0);
                    if len == 0 {
                        break;
                    }
                    pos += len;
                }
            }
            let mut m = Message::decode(&copy).map_err(|e| e.to_string())?;
            if let Message::StatsReply(r) = &mut m {
                match &mut r.body {
                    StatsReplyBody::Flow { flows } => flows.iter_mut().for_each(|f| instructions_of11(&mut f.instructions)),
                    StatsReplyBody::GroupDesc { groups } => {
                        for g in groups {
                            for b in &mut g.buckets {
                                b.actions = b.actions.iter().map(action_of11).collect();
                            }
                        }
                    }
                    _ => {}
                }
            }
            return encode_as(&m, OFP11_VERSION);
        }
        4 => Some(cut_entries(body, 112, 104, 8, false)?),
        5 => Some(cut_entries(body, 40, 32, 8, false)?),
        6 => Some(cut_entries(body, 40, 32, 8, true)?),
        _ => return Ok(frame.to_vec()),
    };
    let mut out = with_version(&frame[..16], OFP11_VERSION);
    out.extend_from_slice(cut.as_deref().unwrap_or(body));
    let len = u16::try_from(out.len()).map_err(|_| "a multipart reply grew past 64 KiB".to_owned())?;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests;
