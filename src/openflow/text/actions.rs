//! Actions and instructions: parsing them (OVS `ofpact`s), checking them against the
//! match (`ofpacts_check`), and encoding them as OF1.1 instructions, Nicira
//! extension actions included.

use std::net::Ipv4Addr;

use super::error::{bad, not11, Result, TextError};
use super::lex::{
    c_u64, decimal, field_int, hex_bytes, int_arg, next_kv, next_kv_raw, ofctl_ipv4, ofctl_mac, parse_port,
    parse_table, valid_output_port, OFPP11_OFFSET, OFPP_MAX16,
};
use super::matching::{field_beyond_of11, field_by_name};
use super::{
    ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, NO_METER,
    NXAST_CONTROLLER, NXAST_CONTROLLER2, NXAST_DEC_TTL_CNT_IDS, NXAST_NOTE, NXAST_POP_QUEUE, NXAST_REG_LOAD,
    NXAST_RESUBMIT_TABLE, NX_VENDOR, REASONS, REASON_ACTION, VLAN_VID_MASK,
};
use crate::openflow::action::Action;
use crate::openflow::instruction::Instruction;
use crate::openflow::types::{Bytes, MacAddr, PortNo};

/// The largest action list ovs-ofctl builds ("input too big").
const MAX_ACTIONS_LEN: usize = 65535 - 136;

/// One parsed action (OVS `ofpact`), before the checks that depend on the match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Act {
    Output {
        port: u32,
        max_len: u16,
    },
    Controller {
        max_len: u16,
        id: u16,
        reason: u8,
        userdata: Option<Vec<u8>>,
        pause: bool,
        meter: u32,
    },
    Enqueue {
        port: u32,
        queue: u32,
    },
    Group(u32),
    /// `push_if_needed`: `mod_vlan_vid` (pushes a tag when the flow has none).
    SetVlanVid {
        vid: u16,
        push_if_needed: bool,
        set_field: bool,
    },
    SetVlanPcp {
        pcp: u8,
        push_if_needed: bool,
        set_field: bool,
    },
    StripVlan,
    PushVlan(u16),
    SetDlSrc(MacAddr),
    SetDlDst(MacAddr),
    SetNwSrc(Ipv4Addr, bool),
    SetNwDst(Ipv4Addr, bool),
    SetNwTos(u8, bool),
    SetNwEcn(u8, bool),
    SetNwTtl(u8),
    SetTpSrc(u16, Option<u8>),
    SetTpDst(u16, Option<u8>),
    DecTtl(Option<Vec<u16>>),
    SetMplsLabel(u32),
    SetMplsTc(u8),
    SetMplsTtl(u8),
    DecMplsTtl,
    PushMpls(u16),
    PopMpls(u16),
    SetQueue(u32),
    PopQueue,
    Note(Vec<u8>),
    Resubmit {
        port: u16,
        table: u8,
    },
    RegLoad {
        reg: u8,
        ofs: u8,
        n_bits: u8,
        value: u64,
    },
}

/// A parsed top-level item: an action (part of apply_actions) or an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Item {
    Act(String, Act),
    ClearActions,
    WriteActions(String, Vec<Item>),
    WriteMetadata(u64, u64),
    GotoTable(String, u8),
}

impl Item {
    /// Instruction rank in the order OVS requires (`enum ovs_instruction_type`).
    fn rank(&self) -> u8 {
        match self {
            Item::Act(..) => 1,
            Item::ClearActions => 2,
            Item::WriteActions(..) => 3,
            Item::WriteMetadata(..) => 4,
            Item::GotoTable(..) => 5,
        }
    }
}

const RANK_NAMES: [&str; 6] =
    ["meter", "apply_actions", "clear_actions", "write_actions", "write_metadata", "goto_table"];

/// OVS action names that are valid in ovs-ofctl but not implemented here (mostly
/// Nicira extensions) and the reason given.
fn unsupported_action(name: &str) -> Option<(&'static str, bool)> {
    // (reason, is it an OF1.1 impossibility)
    Some(match name {
        "meter" => ("meters need OpenFlow 1.3+", true),
        "copy_ttl_in" | "copy_ttl_out" => ("ovs-ofctl has no copy_ttl_in/copy_ttl_out action", false),
        "output_reg" | "bundle" | "bundle_load" | "move" | "push" | "pop" | "dec_nsh_ttl" | "delete_field"
        | "encap" | "decap" | "set_tunnel" | "set_tunnel64" | "fin_timeout" | "learn" | "conjunction" | "multipath"
        | "exit" | "sample" | "unroll_xlate" | "ct" | "ct_clear" | "nat" | "output_trunc" | "clone"
        | "check_pkt_larger" | "debug_recirc" | "debug_slow" => {
            ("this Nicira extension action is not implemented by this parser", false)
        }
        _ => return None,
    })
}

pub(super) fn parse_actions(text: &str, allow_instructions: bool, depth: u32) -> Result<Vec<Item>> {
    if depth > 4 {
        return Err(TextError::BadInstructions { token: text.to_owned(), reason: "actions nested too deeply".into() });
    }
    let mut items: Vec<Item> = Vec::new();
    let mut drop_token: Option<String> = None;
    let mut rest = text;
    while let Some((key, value, raw)) = next_kv_raw(&mut rest) {
        let token = raw.to_owned();
        let lkey = key.to_ascii_lowercase();
        let act = |a: Act| Item::Act(token.clone(), a);
        let item = match lkey.as_str() {
            "drop" => {
                drop_token = Some(token.clone());
                continue;
            }
            "apply_actions" => {
                return Err(TextError::BadInstructions {
                    token,
                    reason: "apply_actions is the default instruction: list the actions directly".into(),
                })
            }
            "output" => act(parse_output(&token, value)?),
            "controller" => act(parse_controller(&token, value)?),
            "enqueue" => act(parse_enqueue(&token, value)?),
            "group" => act(Act::Group(u32_arg(&token, value)?)),
            "set_vlan_vid" | "mod_vlan_vid" => {
                let vid = int_arg(&token, value, "VLAN VID", 0xffff)?;
                if vid > u64::from(VLAN_VID_MASK) {
                    return Err(bad(token, "not a valid VLAN VID (0 to 4095)"));
                }
                act(Act::SetVlanVid { vid: vid as u16, push_if_needed: lkey == "mod_vlan_vid", set_field: false })
            }
            "set_vlan_pcp" | "mod_vlan_pcp" => {
                let pcp = int_arg(&token, value, "VLAN PCP", 255)?;
                if pcp > 7 {
                    return Err(bad(token, "not a valid VLAN PCP (0 to 7)"));
                }
                act(Act::SetVlanPcp { pcp: pcp as u8, push_if_needed: lkey == "mod_vlan_pcp", set_field: false })
            }
            "strip_vlan" | "pop_vlan" => act(Act::StripVlan),
            "push_vlan" => {
                let t = int_arg(&token, value, "ethertype", 0xffff)? as u16;
                if t != 0x8100 && t != 0x88a8 {
                    return Err(bad(token, "not a valid VLAN ethertype (0x8100 or 0x88a8)"));
                }
                act(Act::PushVlan(t))
            }
            "mod_dl_src" | "mod_dl_dst" => {
                let mac = ofctl_mac(value).ok_or_else(|| bad(&token, "invalid MAC address"))?;
                act(if lkey == "mod_dl_src" { Act::SetDlSrc(mac) } else { Act::SetDlDst(mac) })
            }
            "mod_nw_src" | "mod_nw_dst" => {
                let ip = ofctl_ipv4(value).ok_or_else(|| bad(&token, "could not convert to IP address"))?;
                act(if lkey == "mod_nw_src" { Act::SetNwSrc(ip, false) } else { Act::SetNwDst(ip, false) })
            }
            "mod_nw_tos" => {
                let tos = int_arg(&token, value, "TOS", 255)?;
                if tos & 3 != 0 {
                    return Err(bad(token, "not a valid TOS (the low 2 ECN bits must be 0)"));
                }
                act(Act::SetNwTos(tos as u8, false))
            }
            "mod_nw_ecn" => {
                let ecn = int_arg(&token, value, "ECN", 255)?;
                if ecn > 3 {
                    return Err(bad(token, "not a valid ECN (0 to 3)"));
                }
                act(Act::SetNwEcn(ecn as u8, false))
            }
            "mod_nw_ttl" | "set_nw_ttl" => act(Act::SetNwTtl(int_arg(&token, value, "TTL", 255)? as u8)),
            "mod_tp_src" => act(Act::SetTpSrc(int_arg(&token, value, "source port", 65535)? as u16, None)),
            "mod_tp_dst" => act(Act::SetTpDst(int_arg(&token, value, "destination port", 65535)? as u16, None)),
            "dec_ttl" => act(parse_dec_ttl(&token, value)?),
            "set_mpls_label" => {
                let l = u32_arg(&token, value)?;
                if l > 0xfffff {
                    return Err(bad(token, "not a valid MPLS label (0 to 1048575)"));
                }
                act(Act::SetMplsLabel(l))
            }
            "set_mpls_tc" => {
                let tc = int_arg(&token, value, "MPLS TC", 255)?;
                if tc > 7 {
                    return Err(bad(token, "not a valid MPLS TC (0 to 7)"));
                }
                act(Act::SetMplsTc(tc as u8))
            }
            "set_mpls_ttl" => act(Act::SetMplsTtl(int_arg(&token, value, "MPLS TTL", 255)? as u8)),
            "dec_mpls_ttl" => act(Act::DecMplsTtl),
            "push_mpls" => {
                let t = int_arg(&token, value, "push_mpls", 0xffff)? as u16;
                if t != ETH_TYPE_MPLS && t != ETH_TYPE_MPLS_MCAST {
                    return Err(bad(token, "push_mpls takes an MPLS ethertype (0x8847 or 0x8848)"));
                }
                act(Act::PushMpls(t))
            }
            "pop_mpls" => act(Act::PopMpls(int_arg(&token, value, "pop_mpls", 0xffff)? as u16)),
            "set_queue" => act(Act::SetQueue(u32_arg(&token, value)?)),
            "pop_queue" => act(Act::PopQueue),
            "note" => {
                let data = hex_bytes(value).ok_or_else(|| bad(&token, "bad hex digit in note"))?;
                act(Act::Note(data))
            }
            "resubmit" => act(parse_resubmit(&token, value)?),
            "load" => act(parse_load(&token, value)?),
            "set_field" => act(parse_set_field(&token, value)?),
            "clear_actions" => Item::ClearActions,
            "write_actions" => {
                let nested = parse_actions(value, false, depth + 1)?;
                Item::WriteActions(token.clone(), nested)
            }
            "write_metadata" => {
                let (v, m) = match value.split_once('/') {
                    Some((v, m)) => (v, Some(m)),
                    None => (value, None),
                };
                let num = |s: &str| c_u64(s).ok_or_else(|| bad(&token, "invalid numeric format"));
                let m = match m {
                    Some(m) => num(m)?,
                    None => u64::MAX,
                };
                Item::WriteMetadata(num(v)?, m)
            }
            "goto_table" => {
                let t = parse_table(value).ok_or_else(|| bad(&token, "unknown table"))?;
                Item::GotoTable(token.clone(), t)
            }
            _ => {
                if let Some((why, of11)) = unsupported_action(&lkey) {
                    return Err(if of11 {
                        not11(token, why)
                    } else {
                        TextError::Unsupported { token: key.to_owned(), reason: why.into() }
                    });
                }
                match parse_port(key) {
                    // A bare port: output with max_len 0 (even to CONTROLLER).
                    Some(port) if value.is_empty() => {
                        if !valid_output_port(port) {
                            return Err(bad(token, "not a valid output port"));
                        }
                        act(Act::Output { port, max_len: 0 })
                    }
                    _ => return Err(TextError::UnknownAction { token: key.to_owned() }),
                }
            }
        };
        // ofpacts_verify: instruction order and where instructions may appear.
        let rank = item.rank();
        if rank != 1 && !allow_instructions {
            return Err(TextError::BadInstructions {
                token: item_token(&item, &token),
                reason: format!("{} instruction not allowed here", RANK_NAMES[usize::from(rank)]),
            });
        }
        if let Some(prev) = items.last() {
            let p = prev.rank();
            if (p == 1 && rank < p) || (p != 1 && rank <= p) {
                let reason = if rank == p {
                    format!("duplicate {} instruction not allowed", RANK_NAMES[usize::from(rank)])
                } else {
                    format!(
                        "invalid instruction ordering: {} must appear before {}",
                        RANK_NAMES[usize::from(rank)],
                        RANK_NAMES[usize::from(p)]
                    )
                };
                return Err(TextError::BadInstructions { token: item_token(&item, &token), reason });
            }
        }
        items.push(item);
    }
    if let (Some(token), false) = (drop_token, items.is_empty()) {
        return Err(TextError::BadInstructions {
            token,
            reason: "\"drop\" must not be accompanied by any other action or instruction".into(),
        });
    }
    Ok(items)
}

fn item_token(item: &Item, token: &str) -> String {
    match item {
        Item::ClearActions => "clear_actions".into(),
        Item::WriteActions(..) => "write_actions".into(),
        _ => token.to_owned(),
    }
}

fn u32_arg(token: &str, s: &str) -> Result<u32> {
    if s.is_empty() {
        return Err(bad(token, "missing required numeric argument"));
    }
    c_u64(s).and_then(|v| u32::try_from(v).ok()).ok_or_else(|| bad(token, format!("invalid numeric format {s}")))
}

fn parse_output(token: &str, arg: &str) -> Result<Act> {
    if arg.contains("port") && arg.contains("max_len") {
        return Err(TextError::Unsupported { token: token.into(), reason: "output_trunc is not implemented".into() });
    }
    if arg.contains('[') {
        return Err(TextError::Unsupported {
            token: token.into(),
            reason: "output to a register is not implemented".into(),
        });
    }
    let port = parse_port(arg).ok_or_else(|| bad(token, "output to unknown port"))?;
    if !valid_output_port(port) {
        return Err(bad(token, "not a valid output port"));
    }
    let max_len = if port == PortNo::CONTROLLER.0 { u16::MAX } else { 0 };
    Ok(Act::Output { port, max_len })
}

fn parse_controller(token: &str, arg: &str) -> Result<Act> {
    let mut max_len = u16::MAX;
    let mut id = 0u16;
    let mut reason = REASON_ACTION;
    let mut userdata = None;
    let mut pause = false;
    let mut meter = NO_METER;
    if arg.is_empty() {
    } else if arg.bytes().all(|b| b.is_ascii_digit()) {
        max_len = int_arg(token, arg, "max_len", 65535)? as u16;
    } else {
        let mut rest = arg;
        while let Some((k, v)) = next_kv(&mut rest) {
            match k {
                "reason" => {
                    let r = REASONS
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(v))
                        .ok_or_else(|| bad(token, format!("unknown reason \"{v}\"")))?;
                    reason = r as u8;
                }
                "max_len" => max_len = int_arg(token, v, "max_len", 65535)? as u16,
                "id" => id = int_arg(token, v, "id", 65535)? as u16,
                "userdata" => {
                    userdata = Some(hex_bytes(v).ok_or_else(|| bad(token, "bad hex digit in controller userdata"))?)
                }
                "pause" => pause = true,
                "meter_id" => meter = u32_arg(token, v)?,
                _ => return Err(bad(token, format!("unknown key \"{k}\" parsing controller action"))),
            }
        }
    }
    if reason == REASON_ACTION && id == 0 && userdata.is_none() && !pause && meter == NO_METER {
        return Ok(Act::Output { port: PortNo::CONTROLLER.0, max_len });
    }
    Ok(Act::Controller { max_len, id, reason, userdata, pause, meter })
}

fn parse_enqueue(token: &str, arg: &str) -> Result<Act> {
    // strtok_r(arg, ":q,"), then the rest.
    let syntax = || bad(token, "\"enqueue\" syntax is \"enqueue:PORT:QUEUE\" or \"enqueue(PORT,QUEUE)\"");
    let a = arg.trim_start_matches([':', 'q', ',']);
    let end = a.find([':', 'q', ',']).ok_or_else(syntax)?;
    let (port, queue) = (&a[..end], &a[end + 1..]);
    if port.is_empty() || queue.is_empty() {
        return Err(syntax());
    }
    let port = parse_port(port).ok_or_else(|| bad(token, "enqueue to unknown port"))?;
    if !(port < OFPP_MAX16 || port == PortNo::IN_PORT.0 || port == PortNo::LOCAL.0) {
        return Err(bad(token, "not a valid enqueue port"));
    }
    Ok(Act::Enqueue { port, queue: u32_arg(token, queue)? })
}

fn parse_dec_ttl(token: &str, arg: &str) -> Result<Act> {
    if arg.is_empty() {
        return Ok(Act::DecTtl(None));
    }
    let mut ids = Vec::new();
    for id in arg.split([',', ' ']).filter(|s| !s.is_empty()) {
        let v = decimal(id)
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| bad(token, format!("invalid controller id \"{id}\"")))?;
        ids.push(v);
    }
    if ids.is_empty() {
        return Err(bad(token, "dec_ttl: expected at least one controller id"));
    }
    Ok(Act::DecTtl(Some(ids)))
}

fn parse_resubmit(token: &str, arg: &str) -> Result<Act> {
    let mut parts = arg.splitn(3, ',');
    let port_s = parts.next().unwrap_or("");
    let table_s = parts.next().unwrap_or("");
    if let Some(ct) = parts.next() {
        if !ct.is_empty() {
            return Err(TextError::Unsupported {
                token: token.into(),
                reason: "resubmit with ct is not implemented".into(),
            });
        }
    }
    let port = if port_s.is_empty() {
        0xfff8
    } else {
        let p = parse_port(port_s).ok_or_else(|| bad(token, "resubmit to unknown port"))?;
        if p >= OFPP_MAX16 {
            (p - OFPP11_OFFSET) as u16
        } else {
            p as u16
        }
    };
    let table = if table_s.is_empty() {
        0xff
    } else {
        parse_table(table_s).ok_or_else(|| bad(token, "resubmit to unknown table"))?
    };
    if port == 0xfff8 && table == 0xff {
        return Err(bad(token, "at least one \"in_port\" or \"table\" must be specified on resubmit"));
    }
    Ok(Act::Resubmit { port, table })
}

/// `NXM_NX_REGn[...]` or `regn[...]`: (register, offset, bits).
fn parse_reg_subfield(token: &str, s: &str) -> Result<(u8, u8, u8)> {
    let name_len = s.find(['[', '-']).unwrap_or(s.len());
    let name = &s[..name_len];
    let reg = name
        .strip_prefix("NXM_NX_REG")
        .or_else(|| name.strip_prefix("reg"))
        .and_then(decimal)
        .filter(|r| *r < 16)
        .ok_or_else(|| TextError::Unsupported {
            token: token.into(),
            reason: format!("load into '{name}' is not implemented (only registers NXM_NX_REG0..15)"),
        })? as u8;
    let range = &s[name_len..];
    let (start, end) = if range.is_empty() || range == "[]" {
        (0, 31)
    } else {
        let inner = range
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or_else(|| bad(token, "syntax error expecting [] or [<bit>] or [<start>..<end>]"))?;
        let num = |x: &str| decimal(x).ok_or_else(|| bad(token, "syntax error in bit range"));
        match inner.split_once("..") {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let a = num(inner)?;
                (a, a)
            }
        }
    };
    if start > end || end > 31 {
        return Err(bad(token, "bit range outside the 32-bit register"));
    }
    Ok((reg, start as u8, (end - start + 1) as u8))
}

fn parse_load(token: &str, arg: &str) -> Result<Act> {
    let (value, dst) = arg.split_once("->").ok_or_else(|| bad(token, "missing '->'"))?;
    let (reg, ofs, n_bits) = parse_reg_subfield(token, dst)?;
    let v = field_int(value, 4).ok_or_else(|| bad(token, "cannot parse integer value"))?;
    if n_bits < 32 && v >> n_bits != 0 {
        return Err(bad(token, format!("value {v:#x} does not fit into {n_bits} bits")));
    }
    Ok(Act::RegLoad { reg, ofs, n_bits, value: v })
}

/// `set_field:VALUE->FIELD` for the fields OF1.1 has set actions for.
fn parse_set_field(token: &str, arg: &str) -> Result<Act> {
    let (value, field) = arg.split_once("->").ok_or_else(|| bad(token, "missing '->'"))?;
    if value.contains('/') {
        return Err(not11(token, "OpenFlow 1.1 set actions cannot be masked"));
    }
    let int = |width: u32, max: u64| -> Result<u64> {
        field_int(value, width)
            .filter(|v| *v <= max)
            .ok_or_else(|| bad(token, format!("{value} is not a valid value for field {field}")))
    };
    Ok(match field {
        "eth_src" | "dl_src" => Act::SetDlSrc(ofctl_mac(value).ok_or_else(|| bad(token, "invalid Ethernet address"))?),
        "eth_dst" | "dl_dst" => Act::SetDlDst(ofctl_mac(value).ok_or_else(|| bad(token, "invalid Ethernet address"))?),
        "ip_src" | "nw_src" => Act::SetNwSrc(ofctl_ipv4(value).ok_or_else(|| bad(token, "invalid IP address"))?, true),
        "ip_dst" | "nw_dst" => Act::SetNwDst(ofctl_ipv4(value).ok_or_else(|| bad(token, "invalid IP address"))?, true),
        "nw_tos" => {
            let v = int(1, 0xfc)?;
            if v & 3 != 0 {
                return Err(bad(token, "nw_tos takes DSCP bits only (low 2 bits 0)"));
            }
            Act::SetNwTos(v as u8, true)
        }
        "ip_dscp" => Act::SetNwTos((int(1, 63)? as u8) << 2, true),
        "nw_ecn" | "ip_ecn" => Act::SetNwEcn(int(1, 3)? as u8, true),
        "tcp_src" | "tp_src" => Act::SetTpSrc(int(2, 0xffff)? as u16, Some(IPPROTO_TCP)),
        "tcp_dst" | "tp_dst" => Act::SetTpDst(int(2, 0xffff)? as u16, Some(IPPROTO_TCP)),
        "udp_src" => Act::SetTpSrc(int(2, 0xffff)? as u16, Some(IPPROTO_UDP)),
        "udp_dst" => Act::SetTpDst(int(2, 0xffff)? as u16, Some(IPPROTO_UDP)),
        "vlan_vid" => {
            Act::SetVlanVid { vid: int(2, 0x1fff)? as u16 & VLAN_VID_MASK, push_if_needed: false, set_field: true }
        }
        "vlan_pcp" | "dl_vlan_pcp" => Act::SetVlanPcp { pcp: int(1, 7)? as u8, push_if_needed: false, set_field: true },
        _ => {
            return Err(
                if field_by_name(field).is_some() || field_beyond_of11(field).is_some() || field == "vlan_tci" {
                    TextError::Unsupported {
                        token: token.into(),
                        reason: format!("set_field to '{field}' has no OpenFlow 1.1 action and is not implemented"),
                    }
                } else {
                    bad(token, format!("{field} is not a valid field name"))
                },
            )
        }
    })
}

/// What the action checks know of the packet (`ofpacts_check`'s view of the flow):
/// the matched ethertype and IP protocol (0 if wildcarded) and which of the two VLAN
/// headers OVS tracks are present.
#[derive(Clone, Copy, Debug)]
pub(super) struct FlowState {
    pub(super) dl_type: u16,
    pub(super) nw_proto: u8,
    pub(super) vlans: [bool; 2],
}

pub(super) struct CheckCtx {
    /// The flow's table (255 when none was given).
    pub(super) table: u8,
}

/// `ofpacts_check`: `strict` is false inside write_actions, where OVS cannot check the
/// consistency of an action set and only hard errors count.
pub(super) fn check_items(items: &[Item], st: &mut FlowState, ctx: &CheckCtx, strict: bool) -> Result<()> {
    let saved = *st;
    let r = check_items_inner(items, st, ctx, strict);
    *st = saved;
    r
}

fn check_items_inner(items: &[Item], st: &mut FlowState, ctx: &CheckCtx, strict: bool) -> Result<()> {
    let inconsistent = |token: &str, requires: &str| -> Result<()> {
        if strict {
            Err(TextError::InconsistentAction { token: token.to_owned(), requires: requires.to_owned() })
        } else {
            Ok(())
        }
    };
    let is_ip = |st: &FlowState| st.dl_type == ETH_TYPE_IP || st.dl_type == ETH_TYPE_IPV6;
    let is_mpls = |st: &FlowState| st.dl_type == ETH_TYPE_MPLS || st.dl_type == ETH_TYPE_MPLS_MCAST;
    for item in items {
        match item {
            Item::WriteActions(_, nested) => check_items(nested, st, ctx, false)?,
            Item::GotoTable(token, t) => {
                if ctx.table != 0xff && *t <= ctx.table {
                    return Err(TextError::BadInstructions {
                        token: token.clone(),
                        reason: format!("goto_table must go to a table after the flow's table {}", ctx.table),
                    });
                }
            }
            Item::ClearActions | Item::WriteMetadata(..) => {}
            Item::Act(token, a) => match a {
                Act::SetVlanVid { push_if_needed, set_field, .. }
                | Act::SetVlanPcp { push_if_needed, set_field, .. } => {
                    if !st.vlans[0] {
                        if *set_field {
                            return Err(TextError::InconsistentAction {
                                token: token.clone(),
                                requires: "a VLAN header (match dl_vlan or push_vlan first)".into(),
                            });
                        }
                        if !push_if_needed {
                            inconsistent(token, "a VLAN header (match dl_vlan, push_vlan first, or use mod_vlan_vid)")?;
                        }
                    }
                    st.vlans[0] = true;
                }
                Act::StripVlan => {
                    if !st.vlans[0] {
                        inconsistent(token, "a VLAN header (match dl_vlan or push_vlan first)")?;
                    }
                    st.vlans = [st.vlans[1], false];
                }
                Act::PushVlan(_) => {
                    if st.vlans[1] {
                        return Err(bad(token, "at most two VLAN headers are supported"));
                    }
                    st.vlans = [true, st.vlans[0]];
                }
                Act::SetNwSrc(_, sf) | Act::SetNwDst(_, sf) => {
                    if st.dl_type != ETH_TYPE_IP {
                        if *sf {
                            return Err(TextError::InconsistentAction {
                                token: token.clone(),
                                requires: "a match on ip".into(),
                            });
                        }
                        inconsistent(token, "a match on ip")?;
                    }
                }
                Act::SetNwTos(_, sf) | Act::SetNwEcn(_, sf) => {
                    if !is_ip(st) {
                        if *sf {
                            return Err(TextError::InconsistentAction {
                                token: token.clone(),
                                requires: "a match on ip".into(),
                            });
                        }
                        inconsistent(token, "a match on ip")?;
                    }
                }
                Act::SetNwTtl(_) | Act::DecTtl(_) => {
                    if !is_ip(st) {
                        inconsistent(token, "a match on ip")?;
                    }
                }
                Act::SetTpSrc(_, proto) | Act::SetTpDst(_, proto) => match proto {
                    Some(p) => {
                        if !(is_ip(st) && st.nw_proto == *p) {
                            let name = if *p == IPPROTO_TCP { "tcp" } else { "udp" };
                            return Err(TextError::InconsistentAction {
                                token: token.clone(),
                                requires: format!("a match on {name}"),
                            });
                        }
                    }
                    None => {
                        if !(is_ip(st) && matches!(st.nw_proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)) {
                            inconsistent(token, "a match on tcp, udp or sctp")?;
                        }
                    }
                },
                Act::SetMplsLabel(_) | Act::SetMplsTc(_) | Act::SetMplsTtl(_) | Act::DecMplsTtl => {
                    if !is_mpls(st) {
                        inconsistent(token, "a match on mpls (or push_mpls first)")?;
                    }
                }
                Act::PushMpls(t) => {
                    st.dl_type = *t;
                    st.nw_proto = 0;
                }
                Act::PopMpls(t) => {
                    if !is_mpls(st) {
                        inconsistent(token, "a match on mpls")?;
                    }
                    st.dl_type = *t;
                }
                Act::Output { .. }
                | Act::Controller { .. }
                | Act::Enqueue { .. }
                | Act::Group(_)
                | Act::SetDlSrc(_)
                | Act::SetDlDst(_)
                | Act::SetQueue(_)
                | Act::PopQueue
                | Act::Note(_)
                | Act::Resubmit { .. }
                | Act::RegLoad { .. } => {}
            },
        }
    }
    Ok(())
}

/// Turns the checked items into OF1.1 instructions the way
/// `ofpacts_put_openflow_instructions` does.
pub(super) fn encode_items(items: &[Item], mut st: FlowState) -> Result<Vec<Instruction>> {
    let mut out = Vec::new();
    let mut apply = Vec::new();
    let mut in_apply = false;
    for item in items {
        match item {
            Item::Act(_, a) => {
                in_apply = true;
                encode_act(a, &mut st, &mut apply);
            }
            other => {
                if in_apply {
                    out.push(Instruction::ApplyActions { actions: std::mem::take(&mut apply) });
                    in_apply = false;
                }
                match other {
                    Item::ClearActions => out.push(Instruction::ClearActions),
                    // ovs-ofctl sends no instruction for an empty write_actions().
                    Item::WriteActions(_, nested) if nested.is_empty() => {}
                    Item::WriteActions(_, nested) => {
                        let mut nst = st;
                        let mut actions = Vec::new();
                        for n in nested {
                            if let Item::Act(_, a) = n {
                                encode_act(a, &mut nst, &mut actions);
                            }
                        }
                        out.push(Instruction::WriteActions { actions });
                    }
                    Item::WriteMetadata(v, m) => {
                        out.push(Instruction::WriteMetadata { metadata: *v, metadata_mask: *m })
                    }
                    Item::GotoTable(_, t) => out.push(Instruction::GotoTable { table_id: *t }),
                    Item::Act(..) => {}
                }
            }
        }
    }
    if in_apply {
        out.push(Instruction::ApplyActions { actions: apply });
    }
    let len: usize = out.iter().map(instruction_len).sum();
    if len > MAX_ACTIONS_LEN {
        return Err(TextError::BadInstructions { token: "actions".into(), reason: "input too big".into() });
    }
    Ok(out)
}

fn instruction_len(i: &Instruction) -> usize {
    match i {
        Instruction::ApplyActions { actions } | Instruction::WriteActions { actions } => {
            8 + actions.iter().map(action_len).sum::<usize>()
        }
        Instruction::WriteMetadata { .. } => 24,
        _ => 8,
    }
}

fn action_len(a: &Action) -> usize {
    match a {
        Action::Output { .. } | Action::SetDlSrc { .. } | Action::SetDlDst { .. } => 16,
        Action::Experimenter { data, .. } => 8 + data.0.len(),
        _ => 8,
    }
}

/// A Nicira extension action: `subtype` then `body`, padded to a multiple of 8 bytes
/// including the 8-byte type/len/vendor header.
fn nx(subtype: u16, body: &[u8]) -> Action {
    let mut data = subtype.to_be_bytes().to_vec();
    data.extend_from_slice(body);
    while !(8 + data.len()).is_multiple_of(8) {
        data.push(0);
    }
    Action::Experimenter { experimenter: NX_VENDOR, data: Bytes(data) }
}

/// An NXAST_CONTROLLER2 property (`ofpprop_put`): type, length, value, padding to 8.
fn nx_prop(out: &mut Vec<u8>, t: u16, value: &[u8]) {
    out.extend_from_slice(&t.to_be_bytes());
    out.extend_from_slice(&((4 + value.len()) as u16).to_be_bytes());
    out.extend_from_slice(value);
    // Pad to 8 relative to the action: 8-byte header + 2-byte subtype precede `out`.
    while !(out.len() + 10).is_multiple_of(8) {
        out.push(0);
    }
}

fn encode_act(a: &Act, st: &mut FlowState, out: &mut Vec<Action>) {
    match a {
        Act::Output { port, max_len } => out.push(Action::Output { port: PortNo(*port), max_len: *max_len }),
        Act::Controller { max_len, id, reason, userdata, pause, meter } => {
            if userdata.is_some() || *pause || *meter != NO_METER {
                // NXAST_CONTROLLER2: 6 pad bytes then properties.
                let mut body = vec![0u8; 6];
                // ofpprop_put_u16 writes a 4-byte value: the u16, then 2 zero bytes.
                if *max_len != u16::MAX {
                    let [a, b] = max_len.to_be_bytes();
                    nx_prop(&mut body, 0, &[a, b, 0, 0]);
                }
                if *id != 0 {
                    let [a, b] = id.to_be_bytes();
                    nx_prop(&mut body, 1, &[a, b, 0, 0]);
                }
                if *reason != REASON_ACTION {
                    nx_prop(&mut body, 2, &[*reason]);
                }
                if let Some(u) = userdata.as_ref().filter(|u| !u.is_empty()) {
                    nx_prop(&mut body, 3, u);
                }
                if *pause {
                    nx_prop(&mut body, 4, &[]);
                }
                if *meter != NO_METER {
                    nx_prop(&mut body, 5, &meter.to_be_bytes());
                }
                out.push(nx(NXAST_CONTROLLER2, &body));
            } else {
                let mut body = Vec::with_capacity(6);
                body.extend_from_slice(&max_len.to_be_bytes());
                body.extend_from_slice(&id.to_be_bytes());
                body.push(*reason);
                body.push(0);
                out.push(nx(NXAST_CONTROLLER, &body));
            }
        }
        Act::Enqueue { port, queue } => {
            out.push(Action::SetQueue { queue_id: *queue });
            out.push(Action::Output { port: PortNo(*port), max_len: u16::MAX });
            out.push(nx(NXAST_POP_QUEUE, &[0; 6]));
        }
        Act::Group(g) => out.push(Action::Group { group_id: *g }),
        Act::SetVlanVid { vid, push_if_needed, .. } => {
            if *push_if_needed && !st.vlans[0] {
                out.push(Action::PushVlan { ethertype: 0x8100 });
            }
            st.vlans[0] = true;
            out.push(Action::SetVlanVid { vlan_vid: *vid });
        }
        Act::SetVlanPcp { pcp, push_if_needed, .. } => {
            if *push_if_needed && !st.vlans[0] {
                out.push(Action::PushVlan { ethertype: 0x8100 });
            }
            st.vlans[0] = true;
            out.push(Action::SetVlanPcp { vlan_pcp: *pcp });
        }
        Act::StripVlan => {
            st.vlans = [st.vlans[1], false];
            out.push(Action::PopVlan);
        }
        Act::PushVlan(t) => {
            st.vlans = [true, st.vlans[0]];
            out.push(Action::PushVlan { ethertype: *t });
        }
        Act::SetDlSrc(m) => out.push(Action::SetDlSrc { dl_addr: *m }),
        Act::SetDlDst(m) => out.push(Action::SetDlDst { dl_addr: *m }),
        Act::SetNwSrc(ip, _) => out.push(Action::SetNwSrc { nw_addr: *ip }),
        Act::SetNwDst(ip, _) => out.push(Action::SetNwDst { nw_addr: *ip }),
        Act::SetNwTos(t, _) => out.push(Action::SetNwTos { nw_tos: *t }),
        Act::SetNwEcn(e, _) => out.push(Action::SetNwEcn { nw_ecn: *e }),
        Act::SetNwTtl(t) => out.push(Action::SetNwTtl { nw_ttl: *t }),
        Act::SetTpSrc(p, _) => out.push(Action::SetTpSrc { tp_port: *p }),
        Act::SetTpDst(p, _) => out.push(Action::SetTpDst { tp_port: *p }),
        Act::DecTtl(None) => out.push(Action::DecNwTtl),
        Act::DecTtl(Some(ids)) => {
            let mut body = (ids.len() as u16).to_be_bytes().to_vec();
            body.extend_from_slice(&[0; 4]);
            for id in ids {
                body.extend_from_slice(&id.to_be_bytes());
            }
            out.push(nx(NXAST_DEC_TTL_CNT_IDS, &body));
        }
        Act::SetMplsLabel(l) => out.push(Action::SetMplsLabel { mpls_label: *l }),
        Act::SetMplsTc(t) => out.push(Action::SetMplsTc { mpls_tc: *t }),
        Act::SetMplsTtl(t) => out.push(Action::SetMplsTtl { mpls_ttl: *t }),
        Act::DecMplsTtl => out.push(Action::DecMplsTtl),
        Act::PushMpls(t) => {
            st.dl_type = *t;
            st.nw_proto = 0;
            out.push(Action::PushMpls { ethertype: *t });
        }
        Act::PopMpls(t) => {
            st.dl_type = *t;
            out.push(Action::PopMpls { ethertype: *t });
        }
        Act::SetQueue(q) => out.push(Action::SetQueue { queue_id: *q }),
        Act::PopQueue => out.push(nx(NXAST_POP_QUEUE, &[0; 6])),
        Act::Note(data) => {
            let mut body = data.clone();
            // nx_action_note has 6 bytes of note in its fixed part.
            while body.len() < 6 {
                body.push(0);
            }
            out.push(nx(NXAST_NOTE, &body));
        }
        Act::Resubmit { port, table } => {
            // ovs-ofctl always sends the table form (table 255 = "this table").
            let mut body = port.to_be_bytes().to_vec();
            body.push(*table);
            body.extend_from_slice(&[0; 3]);
            out.push(nx(NXAST_RESUBMIT_TABLE, &body));
        }
        Act::RegLoad { reg, ofs, n_bits, value } => {
            let ofs_nbits = (u16::from(*ofs) << 6) | u16::from(n_bits - 1);
            let header = 0x0001_0000u32 | (u32::from(*reg) << 9) | 4;
            let mut body = ofs_nbits.to_be_bytes().to_vec();
            body.extend_from_slice(&header.to_be_bytes());
            body.extend_from_slice(&value.to_be_bytes());
            out.push(nx(NXAST_REG_LOAD, &body));
        }
    }
}
