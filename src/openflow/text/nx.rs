//! Flow text for the Nicira extensions (issue 14): the NXM/OXM match fields OF1.1's
//! standard match cannot carry (`ct_state=+trk+est-rel`, `ct_zone=5`, `ct_mark`,
//! `reg0..15`, `ipv6_src=2001:db8::/32`, `icmp6,icmp_type=135`, `nd_target`, `nd_sll`,
//! `nd_tll`, `tcp_flags=+syn-ack`, `tp_dst=0x400/0xfc00`, ARP fields) and the `ct(...)`,
//! `nat(...)`, `resubmit`, `load` actions, parsed the way `ovs-ofctl add-flow` reads them
//! (`man ovs-fields`, `man ovs-actions`) and printed the way `dump-flows` prints them
//! (OVS `match_format`, `format_CT`, `format_NAT`).
//!
//! [`parse_nx_flow`] builds an [`NxFlow`]; [`NxFlow::to_flow_mod`] gives the OF1.1
//! FLOW_MOD with an `OFPMT_OXM` match (the bytes `ovs-ofctl -O OpenFlow13` sends, with
//! version 2) and [`NxFlow::to_nx_flow_mod`] the `NXT_FLOW_MOD` of
//! `ovs-ofctl -O OpenFlow10 -F nxm`. [`format_nx_flow`] prints.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::TextError;
use super::lex::{c_u64, decimal, next_kv, ofctl_mac, parse_port, port16_text, port_text};
use crate::openflow::action::Action;
use crate::openflow::flow::{FlowMod, FlowModCommand, FlowModFlags, DEFAULT_PRIORITY};
use crate::openflow::instruction::Instruction;
use crate::openflow::nx_action::{nat_flags, Ct, CtZone, Nat, NxAction, Subfield, CT_COMMIT, CT_FORCE, CT_RECIRC_NONE};
use crate::openflow::nx_flow_mod::{NxFlowMod, Of10Action, OF10_VERSION};
use crate::openflow::nxm::{ct_state, Dialect, Field, MatchField, NxmMatch, Value};
use crate::openflow::types::{GroupNo, MacAddr, PortNo, NO_BUFFER};

type Result<T> = std::result::Result<T, TextError>;

fn bad(token: &str, reason: impl Into<String>) -> TextError {
    TextError::BadValue { token: token.to_owned(), reason: reason.into() }
}

/// A flow in ovs-ofctl syntax, dialect-independent: the match as (field, value, mask)
/// and the actions as OF1.1 [`Action`]s (Nicira ones inside `Experimenter`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NxFlow {
    /// `cookie=`.
    pub cookie: u64,
    /// `table=`.
    pub table_id: u8,
    /// `priority=`.
    pub priority: u16,
    /// `idle_timeout=`.
    pub idle_timeout: u16,
    /// `hard_timeout=`.
    pub hard_timeout: u16,
    /// Match fields (exact when the mask is `None`); the dialect is chosen at encoding.
    pub fields: Vec<(Field, Value, Option<Value>)>,
    /// Actions; empty = drop.
    pub actions: Vec<Action>,
}

impl NxFlow {
    /// The match in `dialect`, in OVS's canonical order. `dl_vlan` is `vlan_tci` in NXM
    /// and `vlan_vid` in OXM, as ovs-ofctl writes it.
    pub fn nx_match(&self, dialect: Dialect) -> NxmMatch {
        let mut fields = Vec::new();
        for (f, v, m) in &self.fields {
            let (f, v, m) = match (f, dialect) {
                (Field::VlanVid, Dialect::Nxm) => (Field::VlanTci, Value::U16(vid16(v)), Some(Value::U16(0x1fff))),
                (Field::InPort, Dialect::Oxm) => (Field::InPort, Value::U32(in_port32(v)), *m),
                (Field::InPort, Dialect::Nxm) => (Field::InPort, Value::U16(in_port16(v)), *m),
                _ => (*f, *v, *m),
            };
            fields.push(MatchField::Known { field: f, dialect, value: v, mask: m });
        }
        let mut nm = NxmMatch { fields };
        nm.canonicalize();
        nm
    }

    /// The OF1.1 FLOW_MOD (command ADD) with an `OFPMT_OXM` match and one
    /// `apply_actions` instruction (none for `drop`).
    pub fn to_flow_mod(&self, xid: u32) -> FlowMod {
        FlowMod {
            xid,
            cookie: self.cookie,
            cookie_mask: 0,
            table_id: self.table_id,
            command: FlowModCommand::ADD,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            priority: self.priority,
            buffer_id: NO_BUFFER,
            out_port: PortNo::ANY,
            out_group: GroupNo::ANY,
            flags: FlowModFlags::default(),
            flow_match: self.nx_match(Dialect::Oxm).to_match(),
            instructions: if self.actions.is_empty() {
                Vec::new()
            } else {
                vec![Instruction::ApplyActions { actions: self.actions.clone() }]
            },
        }
    }

    /// The `NXT_FLOW_MOD` (command ADD, table id in the command's high byte).
    pub fn to_nx_flow_mod(&self, xid: u32) -> NxFlowMod {
        let actions = self
            .actions
            .iter()
            .map(|a| match a {
                Action::Output { port, max_len } => Of10Action::Output { port: port16(port.0), max_len: *max_len },
                other => match other.nicira() {
                    Some(Ok(nx)) => Of10Action::Nicira(nx),
                    _ => Of10Action::Other { action_type: other.wire_type(), data: Default::default() },
                },
            })
            .collect();
        NxFlowMod {
            version: OF10_VERSION,
            xid,
            cookie: self.cookie,
            command: FlowModCommand::ADD,
            table_id: self.table_id,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            priority: self.priority,
            buffer_id: NO_BUFFER,
            out_port: 0xffff,
            flags: 0,
            nx_match: self.nx_match(Dialect::Nxm),
            actions,
        }
    }
}

fn vid16(v: &Value) -> u16 {
    0x1000 | (v.as_u64() as u16 & 0x0fff)
}
fn port16(p: u32) -> u16 {
    if p >= 0xffff_ff00 {
        (p - 0xffff_0000) as u16
    } else {
        p as u16
    }
}
fn in_port16(v: &Value) -> u16 {
    port16(v.as_u64() as u32)
}
fn in_port32(v: &Value) -> u32 {
    let p = v.as_u64() as u32;
    if (0xff00..=0xffff).contains(&p) {
        p + 0xffff_0000
    } else {
        p
    }
}

// ---------------------------------------------------------------------------------
// Parsing

const TCP_FLAGS: [(u16, &str); 9] = [
    (0x001, "fin"),
    (0x002, "syn"),
    (0x004, "rst"),
    (0x008, "psh"),
    (0x010, "ack"),
    (0x020, "urg"),
    (0x040, "ece"),
    (0x080, "cwr"),
    (0x100, "ns"),
];

/// `+a-b` flag syntax (`parse_flags` with a mask): returns (value, mask).
fn parse_flags(token: &str, s: &str, names: &[(u32, &str)]) -> Result<(u32, u32)> {
    let (mut value, mut mask) = (0, 0);
    let mut rest = s;
    while !rest.is_empty() {
        let set = match rest.as_bytes()[0] {
            b'+' => true,
            b'-' => false,
            _ => return Err(bad(token, "flags must be written +name or -name")),
        };
        rest = &rest[1..];
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let name = &rest[..end];
        let (bit, _) =
            names.iter().find(|(_, n)| *n == name).ok_or_else(|| bad(token, format!("unknown flag '{name}'")))?;
        mask |= bit;
        if set {
            value |= bit;
        }
        rest = &rest[end..];
    }
    Ok((value, mask))
}

fn int_masked(token: &str, s: &str, max: u64) -> Result<(u64, Option<u64>)> {
    let (v, m) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let v = c_u64(v).filter(|v| *v <= max).ok_or_else(|| bad(token, "not a number that fits the field"))?;
    let m = match m {
        Some(m) => Some(c_u64(m).filter(|m| *m <= max).ok_or_else(|| bad(token, "bad mask"))?),
        None => None,
    };
    Ok((m.map_or(v, |m| v & m), m.filter(|m| *m != max)))
}

fn ipv4_masked(token: &str, s: &str) -> Result<(Ipv4Addr, Option<Ipv4Addr>)> {
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let a: Ipv4Addr = a.parse().map_err(|_| bad(token, "not an IPv4 address"))?;
    let mask = match m {
        None => return Ok((a, None)),
        Some(m) => match m.parse::<u32>() {
            Ok(n) if n <= 32 => crate::net::addr::ipv4_prefix_mask(n as u8),
            Ok(_) => return Err(bad(token, "prefix over 32")),
            Err(_) => u32::from(m.parse::<Ipv4Addr>().map_err(|_| bad(token, "bad mask"))?),
        },
    };
    let v = Ipv4Addr::from(u32::from(a) & mask);
    Ok((v, (mask != u32::MAX).then_some(Ipv4Addr::from(mask))))
}

fn ipv6_masked(token: &str, s: &str) -> Result<(Ipv6Addr, Option<Ipv6Addr>)> {
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let a: Ipv6Addr = a.parse().map_err(|_| bad(token, "not an IPv6 address"))?;
    let mask = match m {
        None => return Ok((a, None)),
        Some(m) => match m.parse::<u32>() {
            Ok(n) if n <= 128 => crate::net::addr::ipv6_prefix_mask(n as u8),
            Ok(_) => return Err(bad(token, "prefix over 128")),
            Err(_) => u128::from(m.parse::<Ipv6Addr>().map_err(|_| bad(token, "bad mask"))?),
        },
    };
    let v = Ipv6Addr::from(u128::from(a) & mask);
    Ok((v, (mask != u128::MAX).then_some(Ipv6Addr::from(mask))))
}

fn mac_masked(token: &str, s: &str) -> Result<(MacAddr, Option<MacAddr>)> {
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let a = ofctl_mac(a).ok_or_else(|| bad(token, "not an Ethernet address"))?;
    match m {
        None => Ok((a, None)),
        Some(m) => {
            let m = ofctl_mac(m).ok_or_else(|| bad(token, "bad mask"))?;
            let mut v = a.0;
            for (b, k) in v.iter_mut().zip(m.0) {
                *b &= k;
            }
            Ok((MacAddr(v), (m != MacAddr::BROADCAST).then_some(m)))
        }
    }
}

/// Parses a flow for `add-flow` in ovs-ofctl syntax with the Nicira match fields and
/// actions. Fields are checked against their prerequisites (`tp_dst` needs `tcp`/`udp`,
/// `icmp_type` needs `icmp`/`icmp6`, `nd_*` need `icmp6`, ...), since without them
/// ovs-ofctl would send something other than what was written.
pub fn parse_nx_flow(text: &str) -> Result<NxFlow> {
    let (match_text, actions_text) = match text.find("actions=") {
        Some(i) => (&text[..i], &text[i + "actions=".len()..]),
        None => return Err(TextError::UnknownField { token: "actions".to_owned() }),
    };
    let mut flow = NxFlow {
        cookie: 0,
        table_id: 0,
        priority: DEFAULT_PRIORITY,
        idle_timeout: 0,
        hard_timeout: 0,
        fields: Vec::new(),
        actions: Vec::new(),
    };
    let mut eth_type: Option<u16> = None;
    let mut proto: Option<u8> = None;
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut s = match_text;
    while let Some((k, v)) = next_kv(&mut s) {
        let shorthand = match k {
            "ip" => Some((0x0800, None)),
            "ipv6" => Some((0x86dd, None)),
            "arp" => Some((0x0806, None)),
            "tcp" => Some((0x0800, Some(6))),
            "udp" => Some((0x0800, Some(17))),
            "icmp" => Some((0x0800, Some(1))),
            "tcp6" => Some((0x86dd, Some(6))),
            "udp6" => Some((0x86dd, Some(17))),
            "icmp6" => Some((0x86dd, Some(58))),
            _ => None,
        };
        if let Some((t, p)) = shorthand {
            eth_type = Some(t);
            proto = p.or(proto);
            continue;
        }
        let tok = format!("{k}={v}");
        match k {
            "priority" => flow.priority = num(&tok, v, 0xffff)? as u16,
            "table" => flow.table_id = num(&tok, v, 0xfe)? as u8,
            "cookie" => flow.cookie = c_u64(v).ok_or_else(|| bad(&tok, "bad cookie"))?,
            "idle_timeout" => flow.idle_timeout = num(&tok, v, 0xffff)? as u16,
            "hard_timeout" => flow.hard_timeout = num(&tok, v, 0xffff)? as u16,
            "dl_type" | "eth_type" => eth_type = Some(num(&tok, v, 0xffff)? as u16),
            "nw_proto" | "ip_proto" => proto = Some(num(&tok, v, 0xff)? as u8),
            _ => pending.push((k.to_owned(), v.to_owned())),
        }
    }
    if let Some(t) = eth_type {
        flow.fields.push((Field::EthType, Value::U16(t), None));
    }
    if let Some(p) = proto {
        if !matches!(eth_type, Some(0x0800 | 0x86dd)) {
            return Err(TextError::MissingPrerequisite {
                token: "nw_proto".to_owned(),
                requires: "ip or ipv6".to_owned(),
            });
        }
        flow.fields.push((Field::IpProto, Value::U8(p), None));
    }
    let need = |tok: &str, ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(TextError::MissingPrerequisite { token: tok.to_owned(), requires: what.to_owned() })
        }
    };
    let ip4 = eth_type == Some(0x0800);
    let ip6 = eth_type == Some(0x86dd);
    let arp = eth_type == Some(0x0806);
    for (k, v) in &pending {
        let tok = format!("{k}={v}");
        let (field, value, mask) = match k.as_str() {
            "in_port" => {
                let p = parse_port(v).ok_or_else(|| bad(&tok, "bad port"))?;
                (Field::InPort, Value::U32(p), None)
            }
            "dl_src" | "eth_src" | "dl_dst" | "eth_dst" | "arp_sha" | "arp_tha" | "nd_sll" | "nd_tll" => {
                let (a, m) = mac_masked(&tok, v)?;
                let f = match k.as_str() {
                    "dl_src" | "eth_src" => Field::EthSrc,
                    "dl_dst" | "eth_dst" => Field::EthDst,
                    "arp_sha" => Field::ArpSha,
                    "arp_tha" => Field::ArpTha,
                    "nd_sll" => Field::NdSll,
                    _ => Field::NdTll,
                };
                match f {
                    Field::ArpSha | Field::ArpTha => need(&tok, arp, "arp")?,
                    Field::NdSll => need(&tok, ip6 && proto == Some(58), "icmp6,icmp_type=135")?,
                    Field::NdTll => need(&tok, ip6 && proto == Some(58), "icmp6,icmp_type=136")?,
                    _ => {}
                }
                (f, Value::Mac(a), m.map(Value::Mac))
            }
            "dl_vlan" => {
                let vid = num(&tok, v, 0x0fff)?;
                (Field::VlanVid, Value::U16(0x1000 | vid as u16), None)
            }
            "nw_src" | "nw_dst" | "ip_src" | "ip_dst" | "arp_spa" | "arp_tpa" => {
                let (a, m) = ipv4_masked(&tok, v)?;
                let src = matches!(k.as_str(), "nw_src" | "ip_src" | "arp_spa");
                let f = if arp {
                    if src {
                        Field::ArpSpa
                    } else {
                        Field::ArpTpa
                    }
                } else {
                    need(&tok, ip4, "ip")?;
                    if src {
                        Field::Ipv4Src
                    } else {
                        Field::Ipv4Dst
                    }
                };
                if k.starts_with("arp") {
                    need(&tok, arp, "arp")?;
                }
                (f, Value::Ipv4(a), m.map(Value::Ipv4))
            }
            "ipv6_src" | "ipv6_dst" | "nd_target" => {
                let (a, m) = ipv6_masked(&tok, v)?;
                let f = match k.as_str() {
                    "ipv6_src" => Field::Ipv6Src,
                    "ipv6_dst" => Field::Ipv6Dst,
                    _ => Field::NdTarget,
                };
                need(&tok, ip6, "ipv6")?;
                if f == Field::NdTarget {
                    need(&tok, proto == Some(58), "icmp6")?;
                }
                (f, Value::Ipv6(a), m.map(Value::Ipv6))
            }
            "tp_src" | "tp_dst" | "tcp_src" | "tcp_dst" | "udp_src" | "udp_dst" => {
                let (n, m) = int_masked(&tok, v, 0xffff)?;
                let src = k.ends_with("src");
                let f = match (proto, src) {
                    (Some(6), true) => Field::TcpSrc,
                    (Some(6), false) => Field::TcpDst,
                    (Some(17), true) => Field::UdpSrc,
                    (Some(17), false) => Field::UdpDst,
                    _ => return Err(TextError::MissingPrerequisite { token: tok, requires: "tcp or udp".to_owned() }),
                };
                (f, Value::U16(n as u16), m.map(|m| Value::U16(m as u16)))
            }
            "tcp_flags" => {
                need(&tok, proto == Some(6), "tcp")?;
                let names: Vec<(u32, &str)> = TCP_FLAGS.iter().map(|(b, n)| (u32::from(*b), *n)).collect();
                let (v, m) = if v.starts_with(['+', '-']) {
                    let (v, m) = parse_flags(&tok, v, &names)?;
                    (u64::from(v), Some(u64::from(m)))
                } else {
                    int_masked(&tok, v, 0x0fff)?
                };
                (Field::TcpFlags, Value::U16(v as u16), m.filter(|m| *m != 0x0fff).map(|m| Value::U16(m as u16)))
            }
            "icmp_type" | "icmp_code" | "icmpv6_type" | "icmpv6_code" => {
                let n = num(&tok, v, 0xff)? as u8;
                let ty = k.ends_with("type");
                let f = match (proto, ip6, ty) {
                    (Some(1), false, true) => Field::Icmpv4Type,
                    (Some(1), false, false) => Field::Icmpv4Code,
                    (Some(58), true, true) => Field::Icmpv6Type,
                    (Some(58), true, false) => Field::Icmpv6Code,
                    _ => {
                        return Err(TextError::MissingPrerequisite { token: tok, requires: "icmp or icmp6".to_owned() })
                    }
                };
                (f, Value::U8(n), None)
            }
            "arp_op" => {
                need(&tok, arp, "arp")?;
                (Field::ArpOp, Value::U16(num(&tok, v, 0xffff)? as u16), None)
            }
            "ct_state" => {
                let names: Vec<(u32, &str)> = ct_state::NAMES.to_vec();
                let (v, m) = if v.starts_with(['+', '-']) {
                    parse_flags(&tok, v, &names)?
                } else {
                    let (v, m) = int_masked(&tok, v, u64::from(u32::MAX))?;
                    (v as u32, m.map_or(u32::MAX, |m| m as u32))
                };
                (Field::CtState, Value::U32(v), (m != u32::MAX).then_some(Value::U32(m)))
            }
            "metadata" => {
                let (v, m) = int_masked(&tok, v, u64::MAX)?;
                (Field::Metadata, Value::U64(v), m.map(Value::U64))
            }
            "ct_zone" => (Field::CtZone, Value::U16(num(&tok, v, 0xffff)? as u16), None),
            "ct_mark" => {
                let (v, m) = int_masked(&tok, v, u64::from(u32::MAX))?;
                (Field::CtMark, Value::U32(v as u32), m.map(|m| Value::U32(m as u32)))
            }
            r if r.starts_with("reg") => {
                let i: u8 = r[3..]
                    .parse()
                    .ok()
                    .filter(|i| *i < 16)
                    .ok_or_else(|| TextError::UnknownField { token: r.to_owned() })?;
                let (v, m) = int_masked(&tok, v, u64::from(u32::MAX))?;
                (Field::Reg(i), Value::U32(v as u32), m.map(|m| Value::U32(m as u32)))
            }
            _ => return Err(TextError::UnknownField { token: k.clone() }),
        };
        if flow.fields.iter().any(|(f, _, _)| *f == field) {
            return Err(bad(&tok, "field given twice"));
        }
        flow.fields.push((field, value, mask));
    }
    flow.actions = parse_nx_actions(actions_text.trim())?;
    Ok(flow)
}

fn num(tok: &str, s: &str, max: u64) -> Result<u64> {
    c_u64(s).filter(|v| *v <= max).ok_or_else(|| bad(tok, format!("not a number up to {max}")))
}

/// Splits an action list on top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out.into_iter().map(str::trim).filter(|a| !a.is_empty()).collect()
}

/// Parses `FIELD[]`, `FIELD[n]`, `FIELD[a..b]`.
fn parse_subfield(tok: &str, s: &str) -> Result<Subfield> {
    let (name, range) = s.split_once('[').ok_or_else(|| bad(tok, "expected FIELD[...]"))?;
    let range = range.strip_suffix(']').ok_or_else(|| bad(tok, "missing ']'"))?;
    let (field, dialect) = Field::from_nxm_name(name).ok_or_else(|| bad(tok, format!("unknown field {name}")))?;
    let header = field.header(dialect).ok_or_else(|| bad(tok, "field has no header"))?;
    let width = u16::try_from(field.kind(dialect).width() * 8).unwrap_or(0);
    let (ofs, end) = if range.is_empty() {
        (0, width.saturating_sub(1))
    } else if let Some((a, b)) = range.split_once("..") {
        (decimal(a).ok_or_else(|| bad(tok, "bad bit"))? as u16, decimal(b).ok_or_else(|| bad(tok, "bad bit"))? as u16)
    } else {
        let n = decimal(range).ok_or_else(|| bad(tok, "bad bit"))? as u16;
        (n, n)
    };
    if end < ofs || end >= width {
        return Err(bad(tok, "bit range outside the field"));
    }
    Ok(Subfield { field: header, ofs, n_bits: end - ofs + 1 })
}

fn parse_nx_actions(s: &str) -> Result<Vec<Action>> {
    let mut out = Vec::new();
    for a in split_top(s) {
        let lower = a.to_ascii_lowercase();
        let act = if lower == "drop" {
            continue;
        } else if lower == "normal" {
            Action::Output { port: PortNo(0xffff_fffa), max_len: 0 }
        } else if let Some(p) = lower.strip_prefix("output:") {
            let port = parse_port(p).ok_or_else(|| bad(a, "bad port"))?;
            Action::Output { port: PortNo(port), max_len: 0 }
        } else if let Some(p) = a.strip_prefix("resubmit:") {
            let port = parse_port(p).ok_or_else(|| bad(a, "bad port"))?;
            NxAction::ResubmitTable { in_port: port16(port), table: 0xff }.into()
        } else if let Some(args) = a.strip_prefix("resubmit(").and_then(|r| r.strip_suffix(')')) {
            let (p, t) = args.split_once(',').unwrap_or((args, ""));
            let in_port = if p.is_empty() { 0xfff8 } else { port16(parse_port(p).ok_or_else(|| bad(a, "bad port"))?) };
            let table = if t.is_empty() { 0xff } else { num(a, t, 0xfe)? as u8 };
            NxAction::ResubmitTable { in_port, table }.into()
        } else if let Some(rest) = a.strip_prefix("load:") {
            let (v, dst) = rest.split_once("->").ok_or_else(|| bad(a, "expected load:VALUE->DST"))?;
            let value = c_u64(v).ok_or_else(|| bad(a, "bad value"))?;
            let dst = parse_subfield(a, dst)?;
            if dst.n_bits < 64 && value >> dst.n_bits != 0 {
                return Err(bad(a, "value does not fit the destination"));
            }
            NxAction::RegLoad { dst, value }.into()
        } else if let Some(args) = a.strip_prefix("ct(").and_then(|r| r.strip_suffix(')')) {
            parse_ct(a, args)?.into()
        } else if a == "ct" {
            parse_ct(a, "")?.into()
        } else {
            return Err(TextError::UnknownAction { token: a.to_owned() });
        };
        out.push(act);
    }
    Ok(out)
}

fn parse_ct(tok: &str, args: &str) -> Result<NxAction> {
    let mut ct = Ct { flags: 0, zone: CtZone::Immediate(0), recirc_table: CT_RECIRC_NONE, alg: 0, actions: Vec::new() };
    let mut nat = None;
    let mut exec = Vec::new();
    for arg in split_top(args) {
        // `key`, `key=value` or `key(value)`, whichever delimiter comes first.
        let (k, v, paren) = match arg.find(['=', '(']) {
            Some(i) if arg.as_bytes().get(i) == Some(&b'(') => {
                (&arg[..i], arg[i + 1..].strip_suffix(')').ok_or_else(|| bad(tok, "missing ')'"))?, true)
            }
            Some(i) => (&arg[..i], &arg[i + 1..], false),
            None => (arg, "", false),
        };
        match k {
            "commit" => ct.flags |= CT_COMMIT,
            "force" => ct.flags |= CT_FORCE,
            "table" => ct.recirc_table = num(tok, v, 0xfe)? as u8,
            "zone" => {
                ct.zone = match c_u64(v) {
                    Some(z) if z <= 0xffff => CtZone::Immediate(z as u16),
                    _ => {
                        let sf = parse_subfield(tok, v)?;
                        if sf.n_bits != 16 {
                            return Err(bad(tok, "a zone subfield must be 16 bits"));
                        }
                        CtZone::Field(sf)
                    }
                }
            }
            "alg" => {
                ct.alg = match v {
                    "ftp" => 21,
                    "tftp" => 69,
                    n => num(tok, n, 0xffff)? as u16,
                }
            }
            "nat" => nat = Some(parse_nat(tok, if paren { v } else { "" })?),
            "exec" => exec = parse_nx_actions(v)?,
            _ => return Err(bad(tok, format!("unknown ct argument '{k}'"))),
        }
    }
    if let Some(n) = nat {
        ct.actions.push(NxAction::Nat(n).into());
    }
    ct.actions.extend(exec);
    Ok(NxAction::Ct(ct))
}

fn parse_nat(tok: &str, args: &str) -> Result<Nat> {
    let mut n = Nat::default();
    for arg in split_top(args) {
        match arg.split_once('=') {
            Some((dir @ ("src" | "dst"), range)) => {
                n.flags |= if dir == "src" { nat_flags::SRC } else { nat_flags::DST };
                let (addrs, ports) = match range.rsplit_once(':') {
                    Some((a, p)) if !a.contains(':') || a.ends_with(']') => (a, Some(p)),
                    _ => (range, None),
                };
                let (lo, hi) = addrs.split_once('-').map_or((addrs, None), |(a, b)| (a, Some(b)));
                let v6 = |s: &str| s.trim_start_matches('[').trim_end_matches(']').parse::<Ipv6Addr>();
                if let Ok(a) = lo.parse::<Ipv4Addr>() {
                    n.ipv4_min = Some(a);
                    n.ipv4_max = hi.map(|h| h.parse().map_err(|_| bad(tok, "bad address"))).transpose()?;
                } else {
                    n.ipv6_min = Some(v6(lo).map_err(|_| bad(tok, "bad address"))?);
                    n.ipv6_max = hi.map(|h| v6(h).map_err(|_| bad(tok, "bad address"))).transpose()?;
                }
                if let Some(p) = ports {
                    let (lo, hi) = p.split_once('-').map_or((p, None), |(a, b)| (a, Some(b)));
                    n.proto_min = Some(num(tok, lo, 0xffff)? as u16);
                    n.proto_max = hi.map(|h| num(tok, h, 0xffff).map(|v| v as u16)).transpose()?;
                }
            }
            None if arg == "persistent" => n.flags |= nat_flags::PERSISTENT,
            None if arg == "hash" => n.flags |= nat_flags::PROTO_HASH,
            None if arg == "random" => n.flags |= nat_flags::PROTO_RANDOM,
            _ => return Err(bad(tok, format!("unknown nat argument '{arg}'"))),
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------
// Printing

/// A flow as `ovs-ofctl dump-flows --no-stats` prints it: `cookie=`, `table=`, then
/// `priority=` and the match, then `actions=`.
pub fn format_nx_flow(cookie: u64, table_id: u8, priority: u16, m: &NxmMatch, actions: &[Action]) -> String {
    let mut s = String::new();
    if cookie != 0 {
        let _ = write!(s, "cookie={cookie:#x}, ");
    }
    if table_id != 0 {
        let _ = write!(s, "table={table_id}, ");
    }
    let mut parts = Vec::new();
    if priority != DEFAULT_PRIORITY {
        parts.push(format!("priority={priority}"));
    }
    let matched = format_nxm_match(m);
    if !matched.is_empty() {
        parts.push(matched);
    }
    if !parts.is_empty() {
        s.push_str(&parts.join(","));
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_nx_actions(actions));
    s
}

fn get(m: &NxmMatch, f: Field) -> Option<(Value, Option<Value>)> {
    m.find(f)
}

fn hex_masked(v: u64, m: Option<Value>) -> String {
    match m {
        Some(m) => format!("{v:#x}/{:#x}", m.as_u64()),
        None => format!("{v:#x}"),
    }
}

fn flags_text(v: u64, m: u64, names: &[(u32, &str)]) -> String {
    names
        .iter()
        .filter(|(b, _)| m & u64::from(*b) != 0)
        .map(|(b, n)| format!("{}{n}", if v & u64::from(*b) != 0 { '+' } else { '-' }))
        .collect()
}

fn ipv4_text(v: Value, m: Option<Value>) -> String {
    let Value::Ipv4(a) = v else { return String::new() };
    match m {
        Some(Value::Ipv4(mask)) => {
            let mb = u32::from(mask);
            if mb.leading_ones() + mb.trailing_zeros() == 32 {
                format!("{a}/{}", mb.leading_ones())
            } else {
                format!("{a}/{mask}")
            }
        }
        _ => a.to_string(),
    }
}

fn ipv6_text(v: Value, m: Option<Value>) -> String {
    let Value::Ipv6(a) = v else { return String::new() };
    match m {
        Some(Value::Ipv6(mask)) => {
            let mb = u128::from(mask);
            if mb.leading_ones() + mb.trailing_zeros() == 128 {
                format!("{a}/{}", mb.leading_ones())
            } else {
                format!("{a}/{mask}")
            }
        }
        _ => a.to_string(),
    }
}

fn mac_text(v: Value, m: Option<Value>) -> String {
    match (v, m) {
        (Value::Mac(a), Some(Value::Mac(mask))) => format!("{a}/{mask}"),
        (Value::Mac(a), _) => a.to_string(),
        _ => String::new(),
    }
}

/// The match as `match_format` prints it: ct fields, registers, the protocol shorthand,
/// then L2, L3 and L4 fields.
pub fn format_nxm_match(m: &NxmMatch) -> String {
    let mut p: Vec<String> = Vec::new();
    if let Some((v, mask)) = get(m, Field::CtState) {
        let names: Vec<(u32, &str)> = ct_state::NAMES.to_vec();
        p.push(format!(
            "ct_state={}",
            flags_text(v.as_u64(), mask.map_or(u64::from(u32::MAX), |m| m.as_u64()), &names)
        ));
    }
    if let Some((v, _)) = get(m, Field::CtZone) {
        p.push(format!("ct_zone={}", v.as_u64()));
    }
    if let Some((v, mask)) = get(m, Field::CtMark) {
        p.push(format!("ct_mark={}", hex_masked(v.as_u64(), mask)));
    }
    let eth = get(m, Field::EthType).map(|(v, _)| v.as_u64() as u16);
    let proto = get(m, Field::IpProto).map(|(v, _)| v.as_u64() as u8);
    let shorthand = match (eth, proto) {
        (Some(0x0800), Some(6)) => Some("tcp"),
        (Some(0x0800), Some(17)) => Some("udp"),
        (Some(0x0800), Some(1)) => Some("icmp"),
        (Some(0x86dd), Some(6)) => Some("tcp6"),
        (Some(0x86dd), Some(17)) => Some("udp6"),
        (Some(0x86dd), Some(58)) => Some("icmp6"),
        (Some(0x0800), _) => Some("ip"),
        (Some(0x86dd), _) => Some("ipv6"),
        (Some(0x0806), _) => Some("arp"),
        _ => None,
    };
    let proto_in_shorthand = shorthand.is_some_and(|s| !matches!(s, "ip" | "ipv6" | "arp"));
    if let Some(s) = shorthand {
        p.push(s.to_owned());
    }
    // Registers come after the shorthand (`ip,reg6=0x7`), before in_port.
    for i in 0..16 {
        if let Some((v, mask)) = get(m, Field::Reg(i)) {
            p.push(format!("reg{i}={}", hex_masked(v.as_u64(), mask)));
        }
    }
    if let Some((v, mask)) = get(m, Field::Metadata) {
        p.push(format!("metadata={}", hex_masked(v.as_u64(), mask)));
    }
    if let Some((v, _)) = get(m, Field::InPort) {
        let n = v.as_u64();
        p.push(format!(
            "in_port={}",
            if matches!(v, Value::U16(_)) { port16_text(n as u16) } else { port_text(n as u32) }
        ));
    }
    if let Some((v, mask)) = get(m, Field::VlanVid).or_else(|| get(m, Field::VlanTci)) {
        let tci = v.as_u64() as u16;
        let mask = mask.map_or(0xffff, |m| m.as_u64() as u16);
        if tci & 0x1000 != 0 && mask & 0x1fff == 0x1fff {
            p.push(format!("dl_vlan={}", tci & 0x0fff));
        } else {
            p.push(format!("vlan_tci={tci:#06x}/{mask:#06x}"));
        }
    }
    for (f, name) in [(Field::EthSrc, "dl_src"), (Field::EthDst, "dl_dst")] {
        if let Some((v, mask)) = get(m, f) {
            p.push(format!("{name}={}", mac_text(v, mask)));
        }
    }
    if eth.is_some() && shorthand.is_none() {
        p.push(format!("dl_type={:#06x}", eth.unwrap_or(0)));
    }
    for (f, name) in
        [(Field::Ipv4Src, "nw_src"), (Field::Ipv4Dst, "nw_dst"), (Field::ArpSpa, "arp_spa"), (Field::ArpTpa, "arp_tpa")]
    {
        if let Some((v, mask)) = get(m, f) {
            p.push(format!("{name}={}", ipv4_text(v, mask)));
        }
    }
    for (f, name) in [(Field::Ipv6Src, "ipv6_src"), (Field::Ipv6Dst, "ipv6_dst")] {
        if let Some((v, mask)) = get(m, f) {
            p.push(format!("{name}={}", ipv6_text(v, mask)));
        }
    }
    if let Some((v, _)) = get(m, Field::ArpOp) {
        p.push(format!("arp_op={}", v.as_u64()));
    }
    if let (Some(pr), false) = (proto, proto_in_shorthand) {
        p.push(format!("nw_proto={pr}"));
    }
    for (f, name) in [(Field::ArpSha, "arp_sha"), (Field::ArpTha, "arp_tha")] {
        if let Some((v, mask)) = get(m, f) {
            p.push(format!("{name}={}", mac_text(v, mask)));
        }
    }
    for (f, name) in [
        (Field::Icmpv4Type, "icmp_type"),
        (Field::Icmpv4Code, "icmp_code"),
        (Field::Icmpv6Type, "icmp_type"),
        (Field::Icmpv6Code, "icmp_code"),
    ] {
        if let Some((v, _)) = get(m, f) {
            p.push(format!("{name}={}", v.as_u64()));
        }
    }
    if let Some((v, mask)) = get(m, Field::NdTarget) {
        p.push(format!("nd_target={}", ipv6_text(v, mask)));
    }
    for (f, name) in [(Field::NdSll, "nd_sll"), (Field::NdTll, "nd_tll")] {
        if let Some((v, mask)) = get(m, f) {
            p.push(format!("{name}={}", mac_text(v, mask)));
        }
    }
    for (fs, name) in [([Field::TcpSrc, Field::UdpSrc], "tp_src"), ([Field::TcpDst, Field::UdpDst], "tp_dst")] {
        if let Some((v, mask)) = get(m, fs[0]).or_else(|| get(m, fs[1])) {
            let text = match mask {
                Some(mask) => format!("{:#x}/{:#x}", v.as_u64(), mask.as_u64()),
                None => v.as_u64().to_string(),
            };
            p.push(format!("{name}={text}"));
        }
    }
    if let Some((v, mask)) = get(m, Field::TcpFlags) {
        let names: Vec<(u32, &str)> = TCP_FLAGS.iter().map(|(b, n)| (u32::from(*b), *n)).collect();
        let mask = mask.map_or(0x0fff, |m| m.as_u64());
        p.push(format!("tcp_flags={}", flags_text(v.as_u64(), mask, &names)));
    }
    p.join(",")
}

/// True when `m` has a field the OF1.1 standard match cannot express (connection
/// tracking, registers, IPv6/ICMPv6/ND, TCP flags, ARP hardware addresses, masked
/// transport ports) or that is not typed here: then only its TLVs tell what it matches.
pub(super) fn beyond_of11(m: &NxmMatch) -> bool {
    m.fields.iter().any(|f| match f {
        MatchField::Known { field, value, mask, .. } => match field {
            Field::TcpSrc | Field::TcpDst | Field::UdpSrc | Field::UdpDst => mask.is_some(),
            // OF1.1 reads no L3/L4 fields under IPv6 (`ofputil_match_from_ofp11_match`).
            Field::EthType => value.as_u64() == 0x86dd,
            Field::CtState
            | Field::CtZone
            | Field::CtMark
            | Field::Reg(_)
            | Field::Ipv6Src
            | Field::Ipv6Dst
            | Field::Icmpv6Type
            | Field::Icmpv6Code
            | Field::NdTarget
            | Field::NdSll
            | Field::NdTll
            | Field::TcpFlags
            | Field::ArpSha
            | Field::ArpTha => true,
            _ => false,
        },
        MatchField::Unknown { .. } => false,
    })
}

/// The actions as `dump-flows` prints them; `drop` when empty.
pub fn format_nx_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "drop".to_owned();
    }
    actions.iter().map(format_one).collect::<Vec<_>>().join(",")
}

fn format_one(a: &Action) -> String {
    match a.nicira() {
        Some(Ok(nx)) => format_nx_action(&nx).unwrap_or_else(|| super::print::format_action_text(a)),
        _ => super::print::format_action_text(a),
    }
}

fn subfield_text(sf: &Subfield) -> String {
    let Some((f, d)) = Field::from_header(sf.field) else {
        let end = (u32::from(sf.ofs) + u32::from(sf.n_bits)).saturating_sub(1);
        return format!("{:#x}[{}..{end}]", sf.field.0, sf.ofs);
    };
    let name = f.nxm_name(d).unwrap_or_default();
    let width = f.kind(d).width() * 8;
    if sf.ofs == 0 && usize::from(sf.n_bits) == width {
        format!("{name}[]")
    } else if sf.n_bits == 1 {
        format!("{name}[{}]", sf.ofs)
    } else {
        format!("{name}[{}..{}]", sf.ofs, (u32::from(sf.ofs) + u32::from(sf.n_bits)).saturating_sub(1))
    }
}

/// The Nicira actions typed in [`NxAction`], printed as OVS does (`format_CT`,
/// `format_NAT`, `format_RESUBMIT`, `format_SET_FIELD` for loads).
pub(super) fn format_nx_action(nx: &NxAction) -> Option<String> {
    Some(match nx {
        NxAction::RegLoad { dst, value } => {
            let v = if *value == 0 { "0".to_owned() } else { format!("{value:#x}") };
            format!("load:{v}->{}", subfield_text(dst))
        }
        NxAction::Ct(ct) => {
            let mut s = "ct(".to_owned();
            if ct.flags & CT_COMMIT != 0 {
                s.push_str("commit,");
            }
            if ct.flags & CT_FORCE != 0 {
                s.push_str("force,");
            }
            if ct.recirc_table != CT_RECIRC_NONE {
                let _ = write!(s, "table={},", ct.recirc_table);
            }
            match ct.zone {
                CtZone::Field(sf) => {
                    let _ = write!(s, "zone={},", subfield_text(&sf));
                }
                CtZone::Immediate(0) => {}
                CtZone::Immediate(z) => {
                    let _ = write!(s, "zone={z},");
                }
            }
            let mut rest: &[Action] = &ct.actions;
            if let Some(Some(Ok(NxAction::Nat(n)))) = rest.first().map(Action::nicira) {
                s.push_str(&format_nat(&n));
                s.push(',');
                rest = &rest[1..];
            }
            if !rest.is_empty() {
                let _ = write!(s, "exec({}),", format_nx_actions(rest));
            }
            match ct.alg {
                0 => {}
                21 => s.push_str("alg=ftp,"),
                69 => s.push_str("alg=tftp,"),
                n => {
                    let _ = write!(s, "alg={n},");
                }
            }
            if s.ends_with(',') {
                s.pop();
            }
            s.push(')');
            s
        }
        NxAction::Nat(n) => format_nat(n),
        _ => return None,
    })
}

fn format_nat(n: &Nat) -> String {
    let mut s = "nat".to_owned();
    if n.flags & (nat_flags::SRC | nat_flags::DST) == 0 {
        return s;
    }
    let _ = write!(s, "({}=", if n.flags & nat_flags::SRC != 0 { "src" } else { "dst" });
    if let Some(a) = n.ipv4_min {
        let _ = write!(s, "{a}");
        if let Some(b) = n.ipv4_max.filter(|b| *b != a) {
            let _ = write!(s, "-{b}");
        }
    } else if let Some(a) = n.ipv6_min {
        // Brackets only when a port follows (OVS 3.1 prints `nat(src=2001:db8::1)`).
        let (l, r) = if n.proto_min.is_some_and(|p| p != 0) { ("[", "]") } else { ("", "") };
        let _ = write!(s, "{l}{a}");
        if let Some(b) = n.ipv6_max.filter(|b| *b != a) {
            let _ = write!(s, "-{b}");
        }
        s.push_str(r);
    }
    if let Some(p) = n.proto_min.filter(|p| *p != 0) {
        let _ = write!(s, ":{p}");
        if let Some(q) = n.proto_max.filter(|q| *q != p) {
            let _ = write!(s, "-{q}");
        }
    }
    s.push(',');
    if n.flags & nat_flags::PERSISTENT != 0 {
        s.push_str("persistent,");
    }
    if n.flags & nat_flags::PROTO_HASH != 0 {
        s.push_str("hash,");
    }
    if n.flags & nat_flags::PROTO_RANDOM != 0 {
        s.push_str("random,");
    }
    s.pop();
    s.push(')');
    s
}
