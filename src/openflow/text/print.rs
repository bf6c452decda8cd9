//! Printing, as `ovs-ofctl -O OpenFlow11 dump-flows` does: flows, matches,
//! instructions and actions (the Nicira extension actions the parser writes
//! included).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::lex::{port16_text, port_text, OFPP_MAX16};
use super::{
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST, ETH_TYPE_RARP, IPPROTO_ICMP,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, NO_METER, NXAST_CONTROLLER, NXAST_CONTROLLER2, NXAST_DEC_TTL_CNT_IDS,
    NXAST_NOTE, NXAST_POP_QUEUE, NXAST_REG_LOAD, NXAST_RESUBMIT, NXAST_RESUBMIT_TABLE, NX_VENDOR, REASONS,
    REASON_ACTION, VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK,
};
use crate::openflow::action::Action;
use crate::openflow::flow::{FlowMod, DEFAULT_PRIORITY};
use crate::openflow::flow_match::{Match, VID_ANY, VID_NONE};
use crate::openflow::instruction::Instruction;
use crate::openflow::stats::FlowStats;
use crate::openflow::nxm::NxmMatch;
use crate::openflow::types::{prefix_len, MacAddr, Masked, PortNo};

/// The line `ovs-ofctl -O OpenFlow11 dump-flows` prints for one flow (without the
/// leading space): `cookie=0x0, duration=1.5s, table=0, n_packets=0, n_bytes=0,
/// priority=65527,tcp,in_port=4,... actions=drop`.
pub fn format_flow_stats(fs: &FlowStats) -> String {
    let mut s = String::new();
    let _ = write!(s, "cookie={:#x}, duration=", fs.cookie);
    write_duration(&mut s, fs.duration_sec, fs.duration_nsec);
    let _ = write!(s, ", table={}, ", fs.table_id);
    write_counter(&mut s, "n_packets", fs.packet_count);
    write_counter(&mut s, "n_bytes", fs.byte_count);
    write_timeouts(&mut s, fs.idle_timeout, fs.hard_timeout);
    write_match_and_actions(&mut s, &fs.flow_match, fs.priority, &fs.instructions);
    s
}

/// The line `ovs-ofctl -O OpenFlow11 dump-flows --no-stats` would print for this flow
/// once installed: cookie if non-zero, table if non-zero, timeouts, priority if not
/// the default, match, actions. (OF1.1 flow stats carry no flags, so `send_flow_rem`
/// and `check_overlap` do not appear, as in dump-flows.)
pub fn format_flow_mod(fm: &FlowMod) -> String {
    let mut s = String::new();
    if fm.cookie != 0 {
        let _ = write!(s, "cookie={:#x}, ", fm.cookie);
    }
    if fm.table_id != 0 {
        let _ = write!(s, "table={}, ", fm.table_id);
    }
    write_timeouts(&mut s, fm.idle_timeout, fm.hard_timeout);
    write_match_and_actions(&mut s, &fm.flow_match, fm.priority, &fm.instructions);
    s
}

/// The match the way ovs-ofctl prints it (`tcp,in_port=4,nw_src=10.0.0.0/8,...`);
/// empty for a match-all. Fields whose prerequisites are missing are left out, as
/// OVS ignores them when it reads an OF1.1 match.
pub fn format_match(m: &Match) -> String {
    let mut s = String::new();
    write_match(&mut s, m, DEFAULT_PRIORITY);
    s
}

/// The instructions the way ovs-ofctl prints them after `actions=`: the apply-actions
/// list, then `clear_actions`, `write_actions(...)`, `write_metadata:V/M`,
/// `goto_table:N`; `drop` when there is nothing.
pub fn format_instructions(instructions: &[Instruction]) -> String {
    let rank = |i: &Instruction| match i {
        Instruction::ApplyActions { .. } => 1,
        Instruction::ClearActions => 2,
        Instruction::WriteActions { .. } => 3,
        Instruction::WriteMetadata { .. } => 4,
        Instruction::GotoTable { .. } => 5,
        Instruction::Experimenter { .. } | Instruction::Unknown { .. } => 6,
    };
    let mut sorted: Vec<&Instruction> = instructions.iter().collect();
    sorted.sort_by_key(|i| rank(i));
    let mut parts = Vec::new();
    for i in sorted {
        match i {
            Instruction::ApplyActions { actions } => parts.extend(actions.iter().map(format_action)),
            Instruction::ClearActions => parts.push("clear_actions".to_owned()),
            Instruction::WriteActions { actions } => parts.push(format!("write_actions({})", format_actions(actions))),
            Instruction::WriteMetadata { metadata, metadata_mask } => {
                let mut p = format!("write_metadata:{}", c_hex(*metadata));
                if *metadata_mask != u64::MAX {
                    let _ = write!(p, "/{}", c_hex(*metadata_mask));
                }
                parts.push(p);
            }
            Instruction::GotoTable { table_id } => parts.push(format!("goto_table:{table_id}")),
            Instruction::Experimenter { experimenter, data } => {
                parts.push(format!("experimenter_instruction({experimenter:#x},{})", dotted_hex(&data.0)))
            }
            Instruction::Unknown { instruction_type, data } => {
                parts.push(format!("instruction({instruction_type},{})", dotted_hex(&data.0)))
            }
        }
    }
    if parts.is_empty() {
        "drop".to_owned()
    } else {
        parts.join(",")
    }
}

/// An action list; `drop` when empty.
fn format_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        "drop".to_owned()
    } else {
        actions.iter().map(format_action).collect::<Vec<_>>().join(",")
    }
}

/// C's `%#x`: `0` for zero, `0x...` otherwise.
fn c_hex(v: u64) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        format!("{v:#x}")
    }
}

/// Bytes as `format_hex_arg` prints them: `01.02.03`.
fn dotted_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(".")
}

/// `ofp_print_duration`: whole seconds, milliseconds when exact, else as many
/// nanosecond digits as needed.
fn write_duration(s: &mut String, sec: u32, nsec: u32) {
    let _ = write!(s, "{sec}");
    if nsec > 0 {
        if nsec.is_multiple_of(1_000_000) {
            let _ = write!(s, ".{:03}", nsec / 1_000_000);
        } else {
            let digits = format!("{nsec:09}");
            let _ = write!(s, ".{}", digits.trim_end_matches('0'));
        }
    }
    s.push('s');
}

fn write_counter(s: &mut String, name: &str, v: u64) {
    if v == u64::MAX {
        let _ = write!(s, "{name}=?, ");
    } else {
        let _ = write!(s, "{name}={v}, ");
    }
}

fn write_timeouts(s: &mut String, idle: u16, hard: u16) {
    if idle != 0 {
        let _ = write!(s, "idle_timeout={idle}, ");
    }
    if hard != 0 {
        let _ = write!(s, "hard_timeout={hard}, ");
    }
}

fn write_match_and_actions(s: &mut String, m: &Match, priority: u16, instructions: &[Instruction]) {
    let before = s.len();
    write_match(s, m, priority);
    if s.len() != before {
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_instructions(instructions));
}

fn write_ip(parts: &mut Vec<String>, name: &str, f: &Option<Masked<Ipv4Addr>>) {
    let Some(f) = f else { return };
    let mask = f.mask.map_or(u32::MAX, u32::from);
    if mask == 0 {
        return;
    }
    let value = Ipv4Addr::from(u32::from(f.value) & mask);
    let text = if mask == u32::MAX {
        value.to_string()
    } else {
        match prefix_len(Ipv4Addr::from(mask)) {
            Some(ones) => format!("{value}/{ones}"),
            None => format!("{value}/{}", Ipv4Addr::from(mask)),
        }
    };
    parts.push(format!("{name}={text}"));
}

fn write_mac(parts: &mut Vec<String>, name: &str, f: &Option<Masked<MacAddr>>) {
    let Some(f) = f else { return };
    let mask = f.mask.unwrap_or(MacAddr::BROADCAST);
    if mask == MacAddr::ZERO {
        return;
    }
    let mut v = f.value.0;
    for (b, m) in v.iter_mut().zip(mask.0) {
        *b &= m;
    }
    if mask == MacAddr::BROADCAST {
        parts.push(format!("{name}={}", MacAddr(v)));
    } else {
        parts.push(format!("{name}={}/{mask}", MacAddr(v)));
    }
}

/// `match_format` over the match as OVS reads an OF1.1 match
/// (`ofputil_match_from_ofp11_match`).
fn write_match(s: &mut String, m: &Match, priority: u16) {
    let mut parts: Vec<String> = Vec::new();
    if priority != DEFAULT_PRIORITY {
        parts.push(format!("priority={priority}"));
    }
    // An NXM/OXM match with fields OF1.1 cannot express (ct_state, registers, IPv6,
    // masked ports, ...): print it from its TLVs, as OVS does (text/nx.rs).
    if let Some(nxm) = m.oxm.as_ref().and_then(|b| NxmMatch::decode(&b.0).ok()).filter(super::nx::beyond_of11) {
        let text = super::nx::format_nxm_match(&nxm);
        if !text.is_empty() {
            parts.push(text);
        }
        s.push_str(&parts.join(","));
        return;
    }
    let dl_type = m.dl_type;
    let ipv4 = dl_type == Some(ETH_TYPE_IP);
    let arp = matches!(dl_type, Some(ETH_TYPE_ARP) | Some(ETH_TYPE_RARP));
    let nw_proto = if ipv4 || arp { m.nw_proto } else { None };

    let mut skip_type = false;
    let mut skip_proto = false;
    if let Some(t) = dl_type {
        let short = match t {
            ETH_TYPE_IP => match nw_proto {
                Some(IPPROTO_ICMP) => Some("icmp"),
                Some(IPPROTO_TCP) => Some("tcp"),
                Some(IPPROTO_UDP) => Some("udp"),
                Some(IPPROTO_SCTP) => Some("sctp"),
                _ => Some("ip"),
            },
            ETH_TYPE_IPV6 => Some("ipv6"),
            ETH_TYPE_ARP => Some("arp"),
            ETH_TYPE_RARP => Some("rarp"),
            ETH_TYPE_MPLS => Some("mpls"),
            ETH_TYPE_MPLS_MCAST => Some("mplsm"),
            _ => None,
        };
        if let Some(short) = short {
            skip_type = true;
            skip_proto = short != "ip" && t == ETH_TYPE_IP;
            parts.push(short.to_owned());
        }
    }
    if let Some(md) = m.metadata {
        let mask = md.mask.unwrap_or(u64::MAX);
        if mask != 0 {
            let mut p = format!("metadata={}", c_hex(md.value & mask));
            if mask != u64::MAX {
                let _ = write!(p, "/{}", c_hex(mask));
            }
            parts.push(p);
        }
    }
    if let Some(p) = m.in_port {
        parts.push(format!("in_port={}", port_text(p.0)));
    }
    match m.dl_vlan {
        None => {}
        // Read back from OVS (which reports OF1.1 flows with an OXM match), "no tag"
        // is vlan_vid=0 under the VID+CFI mask.
        Some(VID_NONE) => parts.push("vlan_tci=0x0000/0x1fff".to_owned()),
        Some(v) => {
            let (mut tci, mut mask) = if v == VID_ANY {
                (VLAN_CFI, VLAN_CFI)
            } else {
                (VLAN_CFI | (v & VLAN_VID_MASK), VLAN_CFI | VLAN_VID_MASK)
            };
            if let Some(p) = m.dl_vlan_pcp {
                tci |= u16::from(p & 7) << 13;
                mask |= VLAN_PCP_MASK;
            }
            let vid_mask = mask & VLAN_VID_MASK;
            let pcp_mask = mask & VLAN_PCP_MASK;
            if (vid_mask == 0 || vid_mask == VLAN_VID_MASK)
                && (pcp_mask == 0 || pcp_mask == VLAN_PCP_MASK)
                && (vid_mask != 0 || pcp_mask != 0)
            {
                if vid_mask != 0 {
                    parts.push(format!("dl_vlan={}", tci & VLAN_VID_MASK));
                }
                if pcp_mask != 0 {
                    parts.push(format!("dl_vlan_pcp={}", tci >> 13));
                }
            } else if mask == 0xffff {
                parts.push(format!("vlan_tci={tci:#06x}"));
            } else {
                parts.push(format!("vlan_tci={tci:#06x}/{mask:#06x}"));
            }
        }
    }
    write_mac(&mut parts, "dl_src", &m.dl_src);
    write_mac(&mut parts, "dl_dst", &m.dl_dst);
    if !skip_type {
        if let Some(t) = dl_type {
            parts.push(format!("dl_type={t:#06x}"));
        }
    }
    if ipv4 || arp {
        let (src, dst) = if arp { ("arp_spa", "arp_tpa") } else { ("nw_src", "nw_dst") };
        write_ip(&mut parts, src, &m.nw_src);
        write_ip(&mut parts, dst, &m.nw_dst);
    }
    if !skip_proto {
        if let Some(p) = nw_proto {
            parts.push(if arp { format!("arp_op={p}") } else { format!("nw_proto={p}") });
        }
    }
    if ipv4 {
        if let Some(t) = m.nw_tos {
            parts.push(format!("nw_tos={}", t & 0xfc));
        }
    }
    if matches!(dl_type, Some(ETH_TYPE_MPLS) | Some(ETH_TYPE_MPLS_MCAST)) {
        if let Some(l) = m.mpls_label {
            parts.push(format!("mpls_label={l}"));
        }
        if let Some(tc) = m.mpls_tc {
            parts.push(format!("mpls_tc={tc}"));
        }
    }
    if ipv4 {
        match nw_proto {
            Some(IPPROTO_ICMP) => {
                if let Some(t) = m.tp_src.filter(|t| *t < 0x100) {
                    parts.push(format!("icmp_type={t}"));
                }
                if let Some(c) = m.tp_dst.filter(|c| *c < 0x100) {
                    parts.push(format!("icmp_code={c}"));
                }
            }
            Some(IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP) => {
                if let Some(p) = m.tp_src {
                    parts.push(format!("tp_src={p}"));
                }
                if let Some(p) = m.tp_dst {
                    parts.push(format!("tp_dst={p}"));
                }
            }
            _ => {}
        }
    }
    s.push_str(&parts.join(","));
}

/// One action as `dump-flows` prints it (for text/nx.rs).
pub(super) fn format_action_text(a: &Action) -> String {
    format_action(a)
}

/// One action the way OVS prints it after decoding OF1.1.
fn format_action(a: &Action) -> String {
    match a {
        Action::Output { port, max_len } => {
            let p = port.0;
            if p == PortNo::CONTROLLER.0 {
                format!("CONTROLLER:{max_len}")
            } else if p < OFPP_MAX16 {
                format!("output:{p}")
            } else if p >= 0xffff_ff00 {
                port_text(p)
            } else {
                format!("output:{p}")
            }
        }
        Action::SetVlanVid { vlan_vid } => format!("set_vlan_vid:{vlan_vid}"),
        Action::SetVlanPcp { vlan_pcp } => format!("set_vlan_pcp:{vlan_pcp}"),
        Action::SetDlSrc { dl_addr } => format!("mod_dl_src:{dl_addr}"),
        Action::SetDlDst { dl_addr } => format!("mod_dl_dst:{dl_addr}"),
        Action::SetNwSrc { nw_addr } => format!("mod_nw_src:{nw_addr}"),
        Action::SetNwDst { nw_addr } => format!("mod_nw_dst:{nw_addr}"),
        Action::SetNwTos { nw_tos } => format!("mod_nw_tos:{nw_tos}"),
        Action::SetNwEcn { nw_ecn } => format!("mod_nw_ecn:{nw_ecn}"),
        Action::SetTpSrc { tp_port } => format!("mod_tp_src:{tp_port}"),
        Action::SetTpDst { tp_port } => format!("mod_tp_dst:{tp_port}"),
        Action::CopyTtlOut => "copy_ttl_out".to_owned(),
        Action::CopyTtlIn => "copy_ttl_in".to_owned(),
        Action::SetMplsLabel { mpls_label } => format!("set_mpls_label({mpls_label})"),
        Action::SetMplsTc { mpls_tc } => format!("set_mpls_tc({mpls_tc})"),
        Action::SetMplsTtl { mpls_ttl } => format!("set_mpls_ttl({mpls_ttl})"),
        Action::DecMplsTtl => "dec_mpls_ttl".to_owned(),
        Action::PushVlan { ethertype } => format!("push_vlan:{}", c_hex(u64::from(*ethertype))),
        Action::PopVlan => "pop_vlan".to_owned(),
        Action::PushMpls { ethertype } => format!("push_mpls:{ethertype:#06x}"),
        Action::PopMpls { ethertype } => format!("pop_mpls:{ethertype:#06x}"),
        Action::SetQueue { queue_id } => format!("set_queue:{queue_id}"),
        Action::Group { group_id } => format!("group:{group_id}"),
        Action::SetNwTtl { nw_ttl } => format!("mod_nw_ttl:{nw_ttl}"),
        Action::DecNwTtl => "dec_ttl".to_owned(),
        Action::Experimenter { experimenter, data } => {
            // ct, nat and loads into any field: the typed Nicira printer (text/nx.rs).
            if let Some(Ok(nx)) = a.nicira() {
                if let Some(text) = super::nx::format_nx_action(&nx) {
                    return text;
                }
            }
            if *experimenter == NX_VENDOR {
                if let Some(text) = format_nx(&data.0) {
                    return text;
                }
            }
            format!("experimenter({experimenter:#x},{})", dotted_hex(&data.0))
        }
        Action::Unknown { action_type, data } => format!("action({action_type},{})", dotted_hex(&data.0)),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The Nicira extension actions this module writes, printed as OVS does; `None` for
/// other subtypes or malformed bodies.
fn format_nx(data: &[u8]) -> Option<String> {
    let subtype = be16(data, 0)?;
    let body = data.get(2..)?;
    Some(match subtype {
        NXAST_RESUBMIT => format_resubmit(be16(body, 0)?, 0xff),
        NXAST_RESUBMIT_TABLE => format_resubmit(be16(body, 0)?, *body.get(2)?),
        NXAST_POP_QUEUE => "pop_queue".to_owned(),
        NXAST_NOTE => format!("note:{}", dotted_hex(body)),
        NXAST_REG_LOAD => {
            let ofs_nbits = be16(body, 0)?;
            let header = be32(body, 2)?;
            let value = be64(body, 6)?;
            let (ofs, n_bits) = (ofs_nbits >> 6, (ofs_nbits & 0x3f) + 1);
            if header >> 16 != 1 || header & 0xff != 4 || (header >> 9) & 0x7f >= 16 {
                return None;
            }
            let reg = (header >> 9) & 0x7f;
            let range = if ofs == 0 && n_bits == 32 {
                "[]".to_owned()
            } else if n_bits == 1 {
                format!("[{ofs}]")
            } else {
                format!("[{ofs}..{}]", ofs + n_bits - 1)
            };
            format!("load:{}->NXM_NX_REG{reg}{range}", c_hex(value))
        }
        NXAST_CONTROLLER => format_controller(be16(body, 0)?, be16(body, 2)?, *body.get(4)?, &[], false, NO_METER),
        NXAST_DEC_TTL_CNT_IDS => {
            let n = usize::from(be16(body, 0)?);
            let ids: Option<Vec<String>> = (0..n).map(|i| be16(body, 6 + 2 * i).map(|v| v.to_string())).collect();
            format!("dec_ttl({})", ids?.join(","))
        }
        NXAST_CONTROLLER2 => {
            let (mut max_len, mut id, mut reason, mut userdata, mut pause, mut meter) =
                (u16::MAX, 0u16, REASON_ACTION, Vec::new(), false, NO_METER);
            let mut props = body.get(6..)?;
            while props.len() >= 4 {
                let t = be16(props, 0)?;
                let len = usize::from(be16(props, 2)?);
                let value = props.get(4..len)?;
                match t {
                    0 => max_len = be16(value, 0)?,
                    1 => id = be16(value, 0)?,
                    2 => reason = *value.first()?,
                    3 => userdata = value.to_vec(),
                    4 => pause = true,
                    5 => meter = be32(value, 0)?,
                    _ => return None,
                }
                let padded = len.div_ceil(8) * 8;
                props = props.get(padded.max(8)..).unwrap_or(&[]);
            }
            format_controller(max_len, id, reason, &userdata, pause, meter)
        }
        _ => return None,
    })
}

fn format_resubmit(port: u16, table: u8) -> String {
    if port != 0xfff8 && table == 0xff {
        return format!("resubmit:{}", port16_text(port));
    }
    let mut s = "resubmit(".to_owned();
    if port != 0xfff8 {
        s.push_str(&port16_text(port));
    }
    s.push(',');
    if table != 0xff {
        let _ = write!(s, "{table}");
    }
    s.push(')');
    s
}

fn format_controller(max_len: u16, id: u16, reason: u8, userdata: &[u8], pause: bool, meter: u32) -> String {
    if reason == REASON_ACTION && id == 0 && userdata.is_empty() && !pause && meter == NO_METER {
        return format!("CONTROLLER:{max_len}");
    }
    let mut parts = Vec::new();
    if reason != REASON_ACTION {
        let name = REASONS.get(usize::from(reason)).map_or_else(|| reason.to_string(), |n| (*n).to_owned());
        parts.push(format!("reason={name}"));
    }
    if max_len != u16::MAX {
        parts.push(format!("max_len={max_len}"));
    }
    if id != 0 {
        parts.push(format!("id={id}"));
    }
    if !userdata.is_empty() {
        parts.push(format!("userdata={}", dotted_hex(userdata)));
    }
    if pause {
        parts.push("pause".to_owned());
    }
    if meter != NO_METER {
        parts.push(format!("meter_id={meter}"));
    }
    format!("controller({})", parts.join(","))
}
