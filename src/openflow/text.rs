//! Open vSwitch's `ovs-ofctl` flow syntax for OpenFlow 1.1: parsing into a
//! [`FlowMod`] and printing the way `dump-flows` does.
//!
//! [`parse_flow`] reads what `ovs-ofctl -O OpenFlow11 add-flow|mod-flows|del-flows`
//! accepts (`man ovs-ofctl` "Flow Syntax", `man ovs-fields`, `man ovs-actions`) and
//! builds the FlowMod that ovs-ofctl 3.1 would send, byte for byte once encoded: same
//! defaults (priority 0x8000, no buffer, out_port/out_group ANY, table 0 when none or
//! 255 is given, because OF1.1 has no "all tables"), same cookie rules, the same host
//! bits cleared under masks, `mod_vlan_vid` pushing a tag when the match does not
//! guarantee one, the action list becoming one `apply_actions` instruction followed by
//! `clear_actions`, `write_actions`, `write_metadata`, `goto_table` (the only order
//! OVS accepts), and the Nicira extension actions ovs-ofctl uses in OF1.1 (`resubmit`,
//! `note`, `load` into registers, `enqueue`, `dec_ttl(ids)`, `controller(...)`).
//!
//! It is deliberately stricter than ovs-ofctl where ovs-ofctl silently sends something
//! other than what was written: a field whose prerequisite is missing (`tp_dst=80`
//! without `tcp`: ovs-ofctl sends it and the switch drops the field, widening the flow),
//! values that do not fit the field (`dl_vlan=5000`, `dl_vlan_pcp=9`, `nw_tos=5`,
//! `tp_dst=70000`), ECN matches (the OF1.1 match has no ECN bits), and repeated or
//! contradictory fields (`tcp,udp`). Everything OF1.1 cannot express (IPv6 fields,
//! port ranges, registers, arbitrary `vlan_tci` masks, ...) is refused with
//! [`TextError::NotInOpenFlow11`], as ovs-ofctl refuses it with "none of the usable
//! flow formats".
//!
//! The printers ([`format_flow_stats`], [`format_flow_mod`], [`format_match`],
//! [`format_instructions`]) produce the line `ovs-ofctl -O OpenFlow11 dump-flows`
//! prints for the same flow: the match is read the way OVS reads an OF1.1 match (fields
//! whose prerequisites are absent are ignored), then printed in OVS's field order with
//! its shorthands (`tcp`, `arp`, ...), and the actions in OVS's names (`NORMAL`,
//! `CONTROLLER:65535`, `set_vlan_vid:10`, `write_actions(...)`, ...).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::action::Action;
use super::flow::{FlowMod, FlowModCommand, FlowModFlags, DEFAULT_PRIORITY};
use super::flow_match::{Match, VID_ANY, VID_NONE};
use super::instruction::Instruction;
use super::stats::FlowStats;
use super::types::{Bytes, GroupNo, MacAddr, Masked, MaskedU64, PortNo, NO_BUFFER};
use crate::net::addr;

/// Why a flow in `ovs-ofctl` syntax was refused. Every variant names the offending
/// token (see [`TextError::token`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A match field or keyword that ovs-ofctl does not know either.
    #[error("unknown field or keyword '{token}'")]
    UnknownField {
        /// The keyword.
        token: String,
    },
    /// An action that ovs-ofctl does not know either.
    #[error("unknown action '{token}'")]
    UnknownAction {
        /// The action name.
        token: String,
    },
    /// A value that does not parse or does not fit its field.
    #[error("'{token}': {reason}")]
    BadValue {
        /// The `key=value` or `action:arg` text.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A match field given without the match that makes it meaningful
    /// (`tp_dst` without `tcp`/`udp`/`sctp`, `nw_src` without `ip`/`arp`, ...).
    #[error("'{token}' requires a match on {requires}")]
    MissingPrerequisite {
        /// The field.
        token: String,
        /// The shorthand or field it needs.
        requires: String,
    },
    /// An action that needs a match the flow does not have (`mod_nw_src` without
    /// `ip`, `pop_vlan` without `dl_vlan`, ...): OF1.1 cannot carry it, ovs-ofctl says
    /// "none of the usable flow formats (OpenFlow10,NXM)".
    #[error("action '{token}' requires {requires}")]
    InconsistentAction {
        /// The action.
        token: String,
        /// What the match (or the actions before it) must establish.
        requires: String,
    },
    /// Valid ovs-ofctl syntax that the OpenFlow 1.1 standard match or actions cannot
    /// express (IPv6 fields, port ranges, registers, meters, ...).
    #[error("'{token}' cannot be expressed in OpenFlow 1.1: {reason}")]
    NotInOpenFlow11 {
        /// The field, keyword or action.
        token: String,
        /// Why.
        reason: String,
    },
    /// Valid ovs-ofctl syntax this parser does not implement (Nicira extensions such
    /// as `learn`, `ct`, `output_reg`, ...).
    #[error("'{token}' is not supported: {reason}")]
    Unsupported {
        /// The field, keyword or action.
        token: String,
        /// Why, or what to use instead.
        reason: String,
    },
    /// A field given twice (directly or through an alias: `dl_src` and `eth_src`).
    #[error("'{token}' is given more than once")]
    Duplicate {
        /// The second occurrence.
        token: String,
    },
    /// Two tokens that set the same field to different values (`tcp,udp`).
    #[error("'{token}' contradicts '{other}'")]
    Conflict {
        /// The later token.
        token: String,
        /// The earlier one.
        other: String,
    },
    /// A keyword that exists but not for this command (`out_port` on add-flow,
    /// `priority` on a non-strict delete, `actions` on a delete, a cookie value to set
    /// on a delete, a cookie mask on add-flow, ...).
    #[error("'{token}' is not allowed here: {reason}")]
    NotAllowed {
        /// The keyword.
        token: String,
        /// Why.
        reason: String,
    },
    /// add-flow and mod-flows need `actions=`.
    #[error("'actions=' is missing: add-flow and mod-flows need actions (use actions=drop to drop)")]
    MissingActions,
    /// Instructions out of the order OpenFlow 1.1 and OVS require, repeated, nested
    /// where they cannot be, or `drop` mixed with other actions.
    #[error("'{token}': {reason}")]
    BadInstructions {
        /// The instruction or action.
        token: String,
        /// What is wrong.
        reason: String,
    },
}

impl TextError {
    /// A stable SCREAMING_SNAKE code for the JS layer (`err.code`).
    pub fn code(&self) -> &'static str {
        match self {
            TextError::UnknownField { .. } => "FLOW_UNKNOWN_FIELD",
            TextError::UnknownAction { .. } => "FLOW_UNKNOWN_ACTION",
            TextError::BadValue { .. } => "FLOW_BAD_VALUE",
            TextError::MissingPrerequisite { .. } => "FLOW_MISSING_PREREQUISITE",
            TextError::InconsistentAction { .. } => "FLOW_INCONSISTENT_ACTION",
            TextError::NotInOpenFlow11 { .. } => "FLOW_NOT_IN_OF11",
            TextError::Unsupported { .. } => "FLOW_UNSUPPORTED",
            TextError::Duplicate { .. } => "FLOW_DUPLICATE_FIELD",
            TextError::Conflict { .. } => "FLOW_CONFLICT",
            TextError::NotAllowed { .. } => "FLOW_NOT_ALLOWED",
            TextError::MissingActions => "FLOW_MISSING_ACTIONS",
            TextError::BadInstructions { .. } => "FLOW_BAD_INSTRUCTIONS",
        }
    }

    /// The offending token (`None` only for [`TextError::MissingActions`]).
    pub fn token(&self) -> Option<&str> {
        match self {
            TextError::UnknownField { token }
            | TextError::UnknownAction { token }
            | TextError::BadValue { token, .. }
            | TextError::MissingPrerequisite { token, .. }
            | TextError::InconsistentAction { token, .. }
            | TextError::NotInOpenFlow11 { token, .. }
            | TextError::Unsupported { token, .. }
            | TextError::Duplicate { token }
            | TextError::Conflict { token, .. }
            | TextError::NotAllowed { token, .. }
            | TextError::BadInstructions { token, .. } => Some(token),
            TextError::MissingActions => None,
        }
    }
}

type Result<T> = std::result::Result<T, TextError>;

fn bad(token: impl Into<String>, reason: impl Into<String>) -> TextError {
    TextError::BadValue { token: token.into(), reason: reason.into() }
}

fn not11(token: impl Into<String>, reason: impl Into<String>) -> TextError {
    TextError::NotInOpenFlow11 { token: token.into(), reason: reason.into() }
}

fn token_of(key: &str, value: &str) -> String {
    if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}={value}")
    }
}

// ---------------------------------------------------------------------------------
// Constants

const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
const ETH_TYPE_RARP: u16 = 0x8035;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const ETH_TYPE_MPLS: u16 = 0x8847;
const ETH_TYPE_MPLS_MCAST: u16 = 0x8848;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;

const VLAN_CFI: u16 = 0x1000;
const VLAN_VID_MASK: u16 = 0x0fff;
const VLAN_PCP_MASK: u16 = 0xe000;

/// The Nicira experimenter id.
const NX_VENDOR: u32 = 0x0000_2320;
const NXAST_RESUBMIT: u16 = 1;
const NXAST_POP_QUEUE: u16 = 5;
const NXAST_REG_LOAD: u16 = 7;
const NXAST_NOTE: u16 = 8;
const NXAST_RESUBMIT_TABLE: u16 = 14;
const NXAST_CONTROLLER: u16 = 20;
const NXAST_DEC_TTL_CNT_IDS: u16 = 21;
const NXAST_CONTROLLER2: u16 = 37;

/// `OFPR_ACTION`, the default packet-in reason of a controller action.
const REASON_ACTION: u8 = 1;
/// Packet-in reasons as ovs-ofctl names them (`enum ofp_packet_in_reason`).
const REASONS: [&str; 6] = ["no_match", "action", "invalid_ttl", "action_set", "group", "packet_out"];
/// "No meter" in NXAST_CONTROLLER2.
const NO_METER: u32 = u32::MAX;

/// The largest action list ovs-ofctl builds ("input too big").
const MAX_ACTIONS_LEN: usize = 65535 - 136;

// ---------------------------------------------------------------------------------
// Lexing: OVS's key/value splitting and C-style numbers

/// Splits the next `key`, `key=value`, `key:value` or `key(value)` off `s`, the way
/// `ofputil_parse_key_value` does: separators are commas and white space, a value
/// after `=` or `:` runs to the next separator outside parentheses, a value after `(`
/// runs to the matching `)`.
fn next_kv<'a>(s: &mut &'a str) -> Option<(&'a str, &'a str)> {
    next_kv_raw(s).map(|(k, v, _)| (k, v))
}

/// [`next_kv`], also returning the whole `key...value` text as written (for errors).
fn next_kv_raw<'a>(s: &mut &'a str) -> Option<(&'a str, &'a str, &'a str)> {
    let st = s.trim_start_matches([',', ' ', '\t', '\r', '\n']);
    if st.is_empty() {
        *s = st;
        return None;
    }
    let b = st.as_bytes();
    let key_len = b.iter().position(|c| b":=(, \t\r\n".contains(c)).unwrap_or(b.len());
    let key = &st[..key_len];
    let delim = b.get(key_len).copied();
    let after = if delim.is_some() { &st[key_len + 1..] } else { "" };
    let value_delims: &[u8] = match delim {
        Some(b':') | Some(b'=') => b", \t\r\n",
        Some(b'(') => b")",
        _ => {
            *s = after;
            return Some((key, "", key));
        }
    };
    let ab = after.as_bytes();
    let mut vlen = value_len(ab, value_delims);
    if delim == Some(b'(') && ab.get(vlen..vlen + 3) == Some(b")->".as_slice()) {
        vlen += value_len(&ab[vlen..], b", \t\r\n");
    }
    let value = &after[..vlen];
    let closing = usize::from(delim == Some(b'(') && vlen < after.len());
    let raw = &st[..key_len + 1 + vlen + closing];
    *s = if vlen < after.len() { &after[vlen + 1..] } else { "" };
    Some((key, value, raw))
}

/// Length of a value up to one of `delims`, skipping over balanced parentheses.
fn value_len(s: &[u8], delims: &[u8]) -> usize {
    let mut n = 0;
    while n < s.len() && !delims.contains(&s[n]) {
        if s[n] == b'(' {
            let mut level = 0i32;
            loop {
                match s.get(n) {
                    None => return n,
                    Some(b'(') => level += 1,
                    Some(b')') => level -= 1,
                    Some(_) => {}
                }
                n += 1;
                if level <= 0 {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// An unsigned number as C's `strtoull(s, NULL, 0)` reads it when it must consume
/// everything: `0x` hexadecimal, a leading `0` for octal, decimal otherwise; a leading
/// `-` negates modulo 2^64 (so `-1` is all ones, as in `cookie=0x1/-1`).
fn c_u64(s: &str) -> Option<u64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = c_digits(t)?;
    Some(if neg { v.wrapping_neg() } else { v })
}

fn c_digits(t: &str) -> Option<u64> {
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(h, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        if !t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    }
}

/// `str_to_int` (C `strtol`, base 0) limited to `0..=max`, as ovs-ofctl reads
/// priorities, timeouts, VLAN ids and most action arguments.
fn c_int(s: &str, max: u64) -> Option<u64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = c_digits(t)?;
    if neg && v != 0 {
        return None;
    }
    (v <= max).then_some(v)
}

fn int_arg(token: &str, s: &str, what: &str, max: u64) -> Result<u64> {
    c_int(s, max).ok_or_else(|| bad(token, format!("invalid {what} \"{s}\" (expected 0 to {max})")))
}

/// A plain decimal number (ports, tables and groups are read in base 10).
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A match-field integer of `width` bytes as `parse_int_string` reads it: `0x` and
/// any number of hex digits (leading zeros free), otherwise a C number.
fn field_int(s: &str, width: u32) -> Option<u64> {
    let max = if width >= 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        let digits: String = h.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let sig = digits.trim_start_matches('0');
        if sig.len() > 2 * width as usize {
            return None;
        }
        if sig.is_empty() {
            return Some(0);
        }
        return u64::from_str_radix(sig, 16).ok();
    }
    c_u64(s).filter(|v| *v <= max)
}

/// Hex bytes as `ofpbuf_put_hex` reads them: pairs of hex digits, optionally
/// separated by periods or white space.
fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b" .\t\r\n".contains(&b[i]) {
            i += 1;
        }
        if i == b.len() {
            return Some(out);
        }
        let pair = b.get(i..i + 2)?;
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
    }
}

// Addresses: ovs-ofctl's leniency, here only. Every other API input reads
// addresses with the strict grammar of `crate::net::addr`; flow text reads what
// `ovs-ofctl` reads, by normalising its looser forms and handing them to the
// strict parsers.

/// An Ethernet address as `ovs-ofctl` reads one: six groups of **one or two** hex
/// digits (any case) joined by `:`, as OVS's `ETH_ADDR_SCAN_FMT`
/// (`"%"SCNx8":%"SCNx8":..."`, lib/packets.h) scans them, so `a:b:c:d:e:f` is
/// `0a:0b:0c:0d:0e:0f`. Each group is padded to two digits, then read by
/// [`addr::parse_mac`]. Flow text only.
pub(crate) fn ofctl_mac(s: &str) -> Option<MacAddr> {
    let mut norm = [b':'; 17];
    let mut parts = s.split(':');
    for i in 0..6 {
        let p = parts.next()?.as_bytes();
        let at = i * 3;
        match *p {
            [lo] => norm[at..at + 2].copy_from_slice(&[b'0', lo]),
            [hi, lo] => norm[at..at + 2].copy_from_slice(&[hi, lo]),
            _ => return None,
        }
    }
    if parts.next().is_some() {
        return None;
    }
    addr::parse_mac(norm)
}

/// An IPv4 address as `ovs-ofctl` reads one: four groups of one to three
/// decimal digits joined by `.`, each 0..=255, as OVS's `IP_SCAN_FMT`
/// (`"%"SCNu8".%"SCNu8"..."`, lib/packets.h) scans them: leading zeros are
/// decimal, not octal, so `010.0.0.1` is `10.0.0.1`. Leading zeros are dropped,
/// then the text is read by [`addr::parse_ipv4`]. Flow text only.
pub(crate) fn ofctl_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut norm = String::with_capacity(15);
    let mut parts = s.split('.');
    for i in 0..4 {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if i > 0 {
            norm.push('.');
        }
        let trimmed = p.trim_start_matches('0');
        norm.push_str(if trimmed.is_empty() { "0" } else { trimmed });
    }
    if parts.next().is_some() {
        return None;
    }
    addr::parse_ipv4(norm)
}

/// `a.b.c.d`, `a.b.c.d/N` or `a.b.c.d/m.m.m.m` as `ovs-ofctl` reads them
/// (`ip_parse_masked`): the dotted parts through [`ofctl_ipv4`], `N` any
/// decimal digits (leading zeros allowed) up to 32. As (value, mask). Flow
/// text only.
pub(crate) fn ofctl_ipv4_masked(s: &str) -> Option<(u32, u32)> {
    match s.split_once('/') {
        None => Some((ofctl_ipv4(s)?.into(), u32::MAX)),
        Some((v, m)) => {
            let value = u32::from(ofctl_ipv4(v)?);
            if m.contains('.') {
                return Some((value, ofctl_ipv4(m)?.into()));
            }
            let p = decimal(m).filter(|p| *p <= 32)?;
            Some((value, u32::MAX.checked_shl(32 - p as u32).unwrap_or(0)))
        }
    }
}

// ---------------------------------------------------------------------------------
// Ports, tables, groups

/// Reserved OpenFlow 1.0 port numbers and their names, as ovs-ofctl reads and prints
/// them (OF1.1 adds 0xffff0000).
const RESERVED_PORTS: [(u16, &str); 9] = [
    (0xfff8, "IN_PORT"),
    (0xfff9, "TABLE"),
    (0xfffa, "NORMAL"),
    (0xfffb, "FLOOD"),
    (0xfffc, "ALL"),
    (0xfffd, "CONTROLLER"),
    (0xfffe, "LOCAL"),
    (0xffff, "ANY"),
    (0xfff7, "UNSET"),
];
/// `OFPP_MAX` in the 16-bit space: physical ports are below it.
const OFPP_MAX16: u32 = 0xff00;
/// OF1.1 reserved ports are the 16-bit ones plus this.
const OFPP11_OFFSET: u32 = 0xffff_0000;

/// A port as `ofputil_port_from_string` reads it, returned as an OF1.1 port number:
/// a decimal number (0xff00-0xffff are the OF1.0 reserved numbers, 0xffffff00 and
/// up the OF1.1 ones) or a reserved name in any case (`NONE` is `ANY`).
fn parse_port(s: &str) -> Option<u32> {
    if let Some(n) = decimal(s) {
        return match n {
            n if n < u64::from(OFPP_MAX16) => Some(n as u32),
            n if n <= 0xffff => Some(n as u32 + OFPP11_OFFSET),
            n if n < 0xffff_ff00 => None,
            n => u32::try_from(n).ok(),
        };
    }
    if s.eq_ignore_ascii_case("none") {
        return Some(PortNo::ANY.0);
    }
    RESERVED_PORTS
        .iter()
        .find(|(_, name)| s.eq_ignore_ascii_case(name))
        .map(|(p, _)| u32::from(*p) + OFPP11_OFFSET)
}

/// True for ports an output action may name (`ofpact_check_output_port`).
fn valid_output_port(p: u32) -> bool {
    p < OFPP_MAX16 || (0xffff_fff8..=0xffff_fffe).contains(&p)
}

/// How ovs-ofctl prints an OF1.1 port: reserved ports by name, others as numbers.
fn port_text(p: u32) -> String {
    let p16 = if p < OFPP_MAX16 {
        Some(p as u16)
    } else if p >= 0xffff_ff00 {
        Some((p - OFPP11_OFFSET) as u16)
    } else {
        None
    };
    match p16 {
        Some(v) => port16_text(v),
        None => p.to_string(),
    }
}

fn port16_text(v: u16) -> String {
    match RESERVED_PORTS.iter().find(|(p, _)| *p == v) {
        Some((_, name)) => (*name).to_owned(),
        None => v.to_string(),
    }
}

fn parse_table(s: &str) -> Option<u8> {
    decimal(s).and_then(|t| u8::try_from(t).ok())
}

fn parse_group(s: &str) -> Option<u32> {
    if s.eq_ignore_ascii_case("any") {
        Some(GroupNo::ANY.0)
    } else if s.eq_ignore_ascii_case("all") {
        Some(GroupNo::ALL.0)
    } else {
        decimal(s).and_then(|g| u32::try_from(g).ok())
    }
}

// ---------------------------------------------------------------------------------
// Match fields

/// The match fields ovs-ofctl knows that OF1.1 can carry, after aliasing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    InPort,
    EthSrc,
    EthDst,
    EthType,
    VlanTci,
    DlVlan,
    VlanVid,
    VlanPcp,
    MplsLabel,
    MplsTc,
    Ipv4Src,
    Ipv4Dst,
    IpProto,
    IpDscp,
    IpDscpShifted,
    ArpOp,
    ArpSpa,
    ArpTpa,
    TpSrc,
    TpDst,
    TcpSrc,
    TcpDst,
    UdpSrc,
    UdpDst,
    SctpSrc,
    SctpDst,
    IcmpType,
    IcmpCode,
    Metadata,
}

fn field_by_name(name: &str) -> Option<Field> {
    use Field::*;
    Some(match name {
        "in_port" | "in_port_oxm" => InPort,
        "eth_src" | "dl_src" => EthSrc,
        "eth_dst" | "dl_dst" => EthDst,
        "eth_type" | "dl_type" => EthType,
        "vlan_tci" => VlanTci,
        "dl_vlan" => DlVlan,
        "vlan_vid" => VlanVid,
        "dl_vlan_pcp" | "vlan_pcp" => VlanPcp,
        "mpls_label" => MplsLabel,
        "mpls_tc" => MplsTc,
        "ip_src" | "nw_src" => Ipv4Src,
        "ip_dst" | "nw_dst" => Ipv4Dst,
        "nw_proto" | "ip_proto" => IpProto,
        "nw_tos" => IpDscp,
        "ip_dscp" => IpDscpShifted,
        "arp_op" => ArpOp,
        "arp_spa" => ArpSpa,
        "arp_tpa" => ArpTpa,
        "tp_src" => TpSrc,
        "tp_dst" => TpDst,
        "tcp_src" => TcpSrc,
        "tcp_dst" => TcpDst,
        "udp_src" => UdpSrc,
        "udp_dst" => UdpDst,
        "sctp_src" => SctpSrc,
        "sctp_dst" => SctpDst,
        "icmp_type" => IcmpType,
        "icmp_code" => IcmpCode,
        "metadata" => Metadata,
        _ => return None,
    })
}

/// Match fields ovs-ofctl knows but only NXM/OXM (OF1.2+) can carry.
fn field_beyond_of11(name: &str) -> Option<&'static str> {
    let nxm_only = [
        ("nw_ecn", "the OF1.1 match has no ECN bits"),
        ("ip_ecn", "the OF1.1 match has no ECN bits"),
        ("nw_ttl", "the OF1.1 match has no TTL"),
        ("ip_frag", "the OF1.1 match has no fragment bits"),
        ("nw_frag", "the OF1.1 match has no fragment bits"),
        ("arp_sha", "the OF1.1 match has no ARP hardware addresses"),
        ("arp_tha", "the OF1.1 match has no ARP hardware addresses"),
        ("tcp_flags", "the OF1.1 match has no TCP flags"),
        ("mpls_bos", "the OF1.1 match has no MPLS BoS bit"),
        ("mpls_ttl", "the OF1.1 match has no MPLS TTL"),
        ("pkt_mark", "packet marks need NXM"),
        ("skb_priority", "skb_priority cannot be matched"),
        ("actset_output", "actset_output needs OF1.3"),
        ("conj_id", "conjunctive matches need NXM"),
        ("dp_hash", "dp_hash needs NXM"),
        ("recirc_id", "recirc_id needs NXM"),
        ("packet_type", "packet_type needs OF1.5"),
        ("tunnel_id", "tunnel metadata needs NXM"),
    ];
    if let Some((_, why)) = nxm_only.iter().find(|(n, _)| *n == name) {
        return Some(why);
    }
    let prefixes = [
        ("ipv6_", "IPv6 fields need NXM or OXM"),
        ("nd_", "IPv6 neighbor discovery fields need NXM or OXM"),
        ("icmpv6_", "ICMPv6 fields need NXM or OXM"),
        ("tun_", "tunnel metadata needs NXM"),
        ("ct_", "connection tracking fields need NXM"),
        ("nsh_", "NSH fields need NXM"),
        ("reg", "registers need NXM"),
        ("xreg", "registers need NXM"),
        ("xxreg", "registers need NXM"),
        ("dl_vlan1", "a second VLAN header needs NXM"),
    ];
    prefixes.iter().find(|(p, _)| name.starts_with(p)).map(|(_, why)| *why)
}

/// Protocol shorthands (`ofp_parse_protocol`): ethertype and IP protocol.
fn protocol_by_name(name: &str) -> Option<(u16, Option<u8>, bool)> {
    // (dl_type, nw_proto, expressible in OF1.1)
    Some(match name {
        "ip" | "ipv4" | "ip4" => (ETH_TYPE_IP, None, true),
        "arp" => (ETH_TYPE_ARP, None, true),
        "rarp" => (ETH_TYPE_RARP, None, true),
        "icmp" => (ETH_TYPE_IP, Some(IPPROTO_ICMP), true),
        "tcp" => (ETH_TYPE_IP, Some(IPPROTO_TCP), true),
        "udp" => (ETH_TYPE_IP, Some(IPPROTO_UDP), true),
        "sctp" => (ETH_TYPE_IP, Some(IPPROTO_SCTP), true),
        "ipv6" | "ip6" => (ETH_TYPE_IPV6, None, true),
        "icmp6" => (ETH_TYPE_IPV6, Some(58), false),
        "tcp6" => (ETH_TYPE_IPV6, Some(IPPROTO_TCP), false),
        "udp6" => (ETH_TYPE_IPV6, Some(IPPROTO_UDP), false),
        "sctp6" => (ETH_TYPE_IPV6, Some(IPPROTO_SCTP), false),
        "mpls" => (ETH_TYPE_MPLS, None, true),
        "mplsm" => (ETH_TYPE_MPLS_MCAST, None, true),
        _ => return None,
    })
}

/// A value and the token that set it (for conflict messages).
#[derive(Clone, Debug)]
struct Set<T> {
    value: T,
    token: String,
}

/// The match as OVS holds it while parsing (`struct match`): values under masks in
/// which 1 bits must match, the VLAN as one TCI. Converted to the OF1.1 match at the
/// end exactly as `ofputil_match_to_ofp11_match` does.
#[derive(Default)]
struct MatchBuilder {
    in_port: Option<u32>,
    dl_src: Option<(MacAddr, MacAddr)>,
    dl_dst: Option<(MacAddr, MacAddr)>,
    dl_type: Option<Set<u16>>,
    tci: u16,
    tci_mask: u16,
    nw_src: Option<(u32, u32)>,
    nw_dst: Option<(u32, u32)>,
    nw_proto: Option<Set<u8>>,
    nw_tos: Option<u8>,
    tp_src: Option<u16>,
    tp_dst: Option<u16>,
    mpls_label: Option<u32>,
    mpls_tc: Option<u8>,
    metadata: Option<(u64, u64)>,
    /// Fields set explicitly (not wildcarded), with the token, for prerequisites.
    given: Vec<(Field, String)>,
    /// Slots already named, for duplicate detection.
    slots: Vec<&'static str>,
}

fn slots_of(f: Field) -> &'static [&'static str] {
    use Field::*;
    match f {
        InPort => &["in_port"],
        EthSrc => &["dl_src"],
        EthDst => &["dl_dst"],
        EthType => &["dl_type"],
        VlanTci => &["vlan_vid", "vlan_pcp"],
        DlVlan | VlanVid => &["vlan_vid"],
        VlanPcp => &["vlan_pcp"],
        MplsLabel => &["mpls_label"],
        MplsTc => &["mpls_tc"],
        Ipv4Src | ArpSpa => &["nw_src"],
        Ipv4Dst | ArpTpa => &["nw_dst"],
        IpProto | ArpOp => &["nw_proto"],
        IpDscp | IpDscpShifted => &["nw_tos"],
        TpSrc | TcpSrc | UdpSrc | SctpSrc | IcmpType => &["tp_src"],
        TpDst | TcpDst | UdpDst | SctpDst | IcmpCode => &["tp_dst"],
        Metadata => &["metadata"],
    }
}

/// Sets a field a shorthand and an explicit field may both give (`tcp,nw_proto=6`):
/// the same value twice is fine, two different ones conflict.
fn set_once<T: PartialEq>(slot: &mut Option<Set<T>>, v: T, token: &str) -> Result<()> {
    if let Some(old) = slot {
        if old.value != v {
            return Err(TextError::Conflict { token: token.to_owned(), other: old.token.clone() });
        }
        return Ok(());
    }
    *slot = Some(Set { value: v, token: token.to_owned() });
    Ok(())
}

impl MatchBuilder {
    fn set_dl_type(&mut self, v: u16, token: &str) -> Result<()> {
        set_once(&mut self.dl_type, v, token)
    }

    fn set_nw_proto(&mut self, v: u8, token: &str) -> Result<()> {
        set_once(&mut self.nw_proto, v, token)
    }

    /// `ip`, `tcp`, ...
    fn protocol(&mut self, name: &str, value: &str) -> Result<()> {
        let token = token_of(name, value);
        let Some((dl_type, nw_proto, of11)) = protocol_by_name(name) else {
            return Err(TextError::UnknownField { token: name.to_owned() });
        };
        if !value.is_empty() {
            return Err(bad(token, format!("the shorthand '{name}' takes no value")));
        }
        if !of11 {
            return Err(not11(token, "L3/L4 matches within IPv6 need NXM or OXM"));
        }
        self.set_dl_type(dl_type, name)?;
        if let Some(p) = nw_proto {
            self.set_nw_proto(p, name)?;
        }
        Ok(())
    }

    /// `name=value` for a known field.
    fn field(&mut self, f: Field, name: &str, value: &str) -> Result<()> {
        let token = token_of(name, value);
        for slot in slots_of(f) {
            if self.slots.contains(slot) {
                return Err(TextError::Duplicate { token });
            }
        }
        self.slots.extend_from_slice(slots_of(f));
        // ovs-ofctl: an empty value matches on nothing ("0/0"); "*" wildcards.
        let value = if value.is_empty() { "0/0" } else { value };
        if value == "*" {
            return Ok(());
        }
        use Field::*;
        match f {
            InPort => {
                let p = parse_port(value).ok_or_else(|| bad(&token, "invalid or unknown port"))?;
                self.in_port = Some(p);
            }
            EthSrc | EthDst => {
                let (v, m) = match value.split_once('/') {
                    None => (ofctl_mac(value), Some(MacAddr::BROADCAST)),
                    Some((v, m)) => (ofctl_mac(v), ofctl_mac(m)),
                };
                let (Some(v), Some(m)) = (v, m) else {
                    return Err(bad(&token, "invalid Ethernet address"));
                };
                let slot = if f == EthSrc { &mut self.dl_src } else { &mut self.dl_dst };
                if m == MacAddr::ZERO {
                    *slot = None;
                    return Ok(());
                }
                let mut masked = v.0;
                for (b, mb) in masked.iter_mut().zip(m.0) {
                    *b &= mb;
                }
                *slot = Some((MacAddr(masked), m));
            }
            Ipv4Src | Ipv4Dst | ArpSpa | ArpTpa => {
                let (v, m) = ofctl_ipv4_masked(value).ok_or_else(|| bad(&token, "invalid IPv4 address or mask"))?;
                let slot = if matches!(f, Ipv4Src | ArpSpa) { &mut self.nw_src } else { &mut self.nw_dst };
                if m == 0 {
                    *slot = None;
                    return Ok(());
                }
                *slot = Some((v & m, m));
            }
            Metadata => {
                let (v, m) = int_masked(&token, value, 8)?;
                if m == 0 {
                    self.metadata = None;
                    return Ok(());
                }
                self.metadata = Some((v & m, m));
            }
            _ => {
                let width = match f {
                    EthType | VlanTci | DlVlan | VlanVid | ArpOp | TpSrc | TpDst | TcpSrc | TcpDst | UdpSrc
                    | UdpDst | SctpSrc | SctpDst => 2,
                    MplsLabel => 4,
                    _ => 1,
                };
                let (v, m) = int_masked(&token, value, width)?;
                let ones = if width >= 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
                if m == 0 {
                    return self.wildcard(f);
                }
                if m != ones {
                    return Err(match f {
                        VlanTci => not11(&token, "an arbitrary vlan_tci mask needs NXM or OXM (use dl_vlan/dl_vlan_pcp)"),
                        TpSrc | TpDst | TcpSrc | TcpDst | UdpSrc | UdpDst | SctpSrc | SctpDst => {
                            not11(&token, "port masks (ranges) need NXM or OXM")
                        }
                        _ => bad(&token, format!("{name} cannot be masked")),
                    });
                }
                self.exact(f, name, &token, v)?;
            }
        }
        self.given.push((f, token_of(name, value)));
        Ok(())
    }

    fn wildcard(&mut self, f: Field) -> Result<()> {
        use Field::*;
        match f {
            EthType => self.dl_type = None,
            VlanTci => {
                self.tci = 0;
                self.tci_mask = 0;
            }
            DlVlan | VlanVid => {
                self.tci &= !(VLAN_VID_MASK | VLAN_CFI);
                self.tci_mask &= !(VLAN_VID_MASK | VLAN_CFI);
            }
            VlanPcp => {
                self.tci &= !VLAN_PCP_MASK;
                self.tci_mask &= !VLAN_PCP_MASK;
            }
            MplsLabel => self.mpls_label = None,
            MplsTc => self.mpls_tc = None,
            IpProto | ArpOp => self.nw_proto = None,
            IpDscp | IpDscpShifted => self.nw_tos = None,
            TpSrc | TcpSrc | UdpSrc | SctpSrc | IcmpType => self.tp_src = None,
            TpDst | TcpDst | UdpDst | SctpDst | IcmpCode => self.tp_dst = None,
            _ => {}
        }
        Ok(())
    }

    fn exact(&mut self, f: Field, name: &str, token: &str, v: u64) -> Result<()> {
        use Field::*;
        let out_of_range = |what: &str| bad(token, format!("{what} is out of range for {name}"));
        match f {
            EthType => self.set_dl_type(v as u16, token)?,
            VlanTci => {
                let v = v as u16;
                if v & VLAN_CFI == 0 && v != 0 {
                    return Err(bad(token, "a vlan_tci without the 0x1000 (CFI/present) bit can only be 0 (no tag)"));
                }
                self.tci = v;
                self.tci_mask = 0xffff;
            }
            DlVlan => {
                // 0xffff is OFP10_VLAN_NONE: no tag.
                if v == 0xffff {
                    self.tci = 0;
                    self.tci_mask = 0xffff;
                } else if v > u64::from(VLAN_VID_MASK) {
                    return Err(out_of_range(&v.to_string()));
                } else {
                    self.tci = (self.tci & !VLAN_VID_MASK) | VLAN_CFI | v as u16;
                    self.tci_mask |= VLAN_VID_MASK | VLAN_CFI;
                }
            }
            VlanVid => {
                // OF1.2 semantics: 0x1000 is "tag present", 0 is "no tag".
                let v = v as u16;
                if v > VLAN_CFI | VLAN_VID_MASK {
                    return Err(out_of_range(&v.to_string()));
                }
                if v & VLAN_CFI == 0 && v != 0 {
                    return Err(bad(token, "vlan_vid needs the 0x1000 (present) bit, or 0 for no tag"));
                }
                let m = VLAN_VID_MASK | VLAN_CFI;
                self.tci = (self.tci & !m) | v;
                self.tci_mask = m | (self.tci_mask & VLAN_PCP_MASK);
            }
            VlanPcp => {
                if v > 7 {
                    return Err(out_of_range(&v.to_string()));
                }
                self.tci = (self.tci & !VLAN_PCP_MASK) | ((v as u16) << 13) | VLAN_CFI;
                self.tci_mask |= VLAN_CFI | VLAN_PCP_MASK;
            }
            MplsLabel => {
                if v > 0xfffff {
                    return Err(out_of_range(&v.to_string()));
                }
                self.mpls_label = Some(v as u32);
            }
            MplsTc => {
                if v > 7 {
                    return Err(out_of_range(&v.to_string()));
                }
                self.mpls_tc = Some(v as u8);
            }
            IpProto => self.set_nw_proto(v as u8, token)?,
            ArpOp => {
                if v > 0xff {
                    return Err(bad(token, "OF1.1 matches only the low 8 bits of the ARP opcode"));
                }
                self.set_nw_proto(v as u8, token)?;
            }
            IpDscp => {
                if v & 3 != 0 {
                    return Err(bad(token, "nw_tos matches the DSCP bits only: the low 2 (ECN) bits must be 0"));
                }
                self.nw_tos = Some(v as u8);
            }
            IpDscpShifted => {
                if v > 63 {
                    return Err(out_of_range(&v.to_string()));
                }
                self.nw_tos = Some((v as u8) << 2);
            }
            TpSrc | TcpSrc | UdpSrc | SctpSrc => self.tp_src = Some(v as u16),
            TpDst | TcpDst | UdpDst | SctpDst => self.tp_dst = Some(v as u16),
            IcmpType => self.tp_src = Some(v as u16),
            IcmpCode => self.tp_dst = Some(v as u16),
            InPort | EthSrc | EthDst | Ipv4Src | Ipv4Dst | ArpSpa | ArpTpa | Metadata => {}
        }
        Ok(())
    }

    fn dl_type(&self) -> Option<u16> {
        self.dl_type.as_ref().map(|s| s.value)
    }

    fn nw_proto(&self) -> Option<u8> {
        self.nw_proto.as_ref().map(|s| s.value)
    }

    /// Prerequisites, checked once every field is known (order does not matter).
    fn check_prerequisites(&self) -> Result<()> {
        use Field::*;
        let dl = self.dl_type();
        let proto = self.nw_proto();
        let ip = dl == Some(ETH_TYPE_IP);
        let arp = matches!(dl, Some(ETH_TYPE_ARP) | Some(ETH_TYPE_RARP));
        let v6 = dl == Some(ETH_TYPE_IPV6);
        let need = |token: &str, requires: &str| TextError::MissingPrerequisite {
            token: token.to_owned(),
            requires: requires.to_owned(),
        };
        for (f, token) in &self.given {
            match f {
                Ipv4Src | Ipv4Dst if !(ip || arp) => return Err(need(token, "ip or arp")),
                ArpSpa | ArpTpa | ArpOp if !arp => return Err(need(token, "arp")),
                IpProto | IpDscp | IpDscpShifted if v6 => {
                    return Err(not11(token, "L3 matches within IPv6 need NXM or OXM"))
                }
                IpProto if !(ip || arp) => return Err(need(token, "ip or arp")),
                IpDscp | IpDscpShifted if !ip => return Err(need(token, "ip")),
                TpSrc | TpDst | TcpSrc | TcpDst | UdpSrc | UdpDst | SctpSrc | SctpDst | IcmpType | IcmpCode
                    if v6 =>
                {
                    return Err(not11(token, "L4 matches within IPv6 need NXM or OXM"))
                }
                TpSrc | TpDst
                    if !(ip && matches!(proto, Some(IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_ICMP))) =>
                {
                    return Err(need(token, "tcp, udp or sctp"))
                }
                TcpSrc | TcpDst if !(ip && proto == Some(IPPROTO_TCP)) => return Err(need(token, "tcp")),
                UdpSrc | UdpDst if !(ip && proto == Some(IPPROTO_UDP)) => return Err(need(token, "udp")),
                SctpSrc | SctpDst if !(ip && proto == Some(IPPROTO_SCTP)) => return Err(need(token, "sctp")),
                IcmpType | IcmpCode if !(ip && proto == Some(IPPROTO_ICMP)) => return Err(need(token, "icmp")),
                MplsLabel | MplsTc if !matches!(dl, Some(ETH_TYPE_MPLS) | Some(ETH_TYPE_MPLS_MCAST)) => {
                    return Err(need(token, "mpls or mplsm"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `ofputil_match_to_ofp11_match`.
    fn to_match(&self) -> Match {
        let (dl_vlan, dl_vlan_pcp) = if self.tci_mask == 0 {
            (None, None)
        } else if self.tci_mask & VLAN_CFI != 0 && self.tci & VLAN_CFI == 0 {
            (Some(VID_NONE), None)
        } else {
            let vid = if self.tci_mask & VLAN_VID_MASK == 0 { VID_ANY } else { self.tci & VLAN_VID_MASK };
            let pcp = (self.tci_mask & VLAN_PCP_MASK != 0).then_some((self.tci >> 13) as u8);
            (Some(vid), pcp)
        };
        let mac = |f: &Option<(MacAddr, MacAddr)>| {
            f.map(|(v, m)| Masked { value: v, mask: (m != MacAddr::BROADCAST).then_some(m) })
        };
        let ip = |f: &Option<(u32, u32)>| {
            f.map(|(v, m)| Masked { value: Ipv4Addr::from(v), mask: (m != u32::MAX).then_some(Ipv4Addr::from(m)) })
        };
        Match {
            in_port: self.in_port.map(PortNo),
            dl_src: mac(&self.dl_src),
            dl_dst: mac(&self.dl_dst),
            dl_vlan,
            dl_vlan_pcp,
            dl_type: self.dl_type(),
            nw_tos: self.nw_tos,
            nw_proto: self.nw_proto(),
            nw_src: ip(&self.nw_src),
            nw_dst: ip(&self.nw_dst),
            tp_src: self.tp_src,
            tp_dst: self.tp_dst,
            mpls_label: self.mpls_label,
            mpls_tc: self.mpls_tc,
            metadata: self.metadata.map(|(v, m)| MaskedU64 { value: v, mask: (m != u64::MAX).then_some(m) }),
            ..Match::default()
        }
    }

    /// What the action checks see of the flow (`cp->match->flow`).
    fn flow_state(&self) -> FlowState {
        FlowState {
            dl_type: self.dl_type().unwrap_or(0),
            nw_proto: self.nw_proto().unwrap_or(0),
            vlans: [self.tci & VLAN_CFI != 0, false],
        }
    }
}

/// `value[/mask]` of an integer field of `width` bytes.
fn int_masked(token: &str, value: &str, width: u32) -> Result<(u64, u64)> {
    let ones = if width >= 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    let (v, m) = match value.split_once('/') {
        None => (value, None),
        Some((v, m)) => (v, Some(m)),
    };
    let too_big = || bad(token, format!("value too large (or not a number) for a {width}-byte field"));
    let v = field_int(v, width).ok_or_else(too_big)?;
    let m = match m {
        None => ones,
        Some(m) => field_int(m, width).ok_or_else(too_big)?,
    };
    Ok((v, m))
}

// ---------------------------------------------------------------------------------
// Flow parsing

/// Keywords each command accepts (`parse_ofp_str__`).
struct Allowed {
    actions: bool,
    timeouts: bool,
    priority: bool,
    flags: bool,
    out_port: bool,
}

/// Parses a flow in `ovs-ofctl` syntax for `command` (add, modify, modify_strict,
/// delete, delete_strict) into the FlowMod ovs-ofctl 3.1 sends with `-O OpenFlow11`.
///
/// `encode(parse_flow(text))` is byte-identical to what `ovs-ofctl -O OpenFlow11
/// add-flow` / `mod-flows [--strict]` / `del-flows [--strict]` puts on the wire
/// (xid aside). Never panics; every refusal names the offending token.
pub fn parse_flow(text: &str, command: FlowModCommand) -> Result<FlowMod> {
    let allowed = match command {
        FlowModCommand::ADD | FlowModCommand::MODIFY | FlowModCommand::MODIFY_STRICT => {
            Allowed { actions: true, timeouts: true, priority: true, flags: true, out_port: false }
        }
        FlowModCommand::DELETE => {
            Allowed { actions: false, timeouts: false, priority: false, flags: false, out_port: true }
        }
        FlowModCommand::DELETE_STRICT => {
            Allowed { actions: false, timeouts: false, priority: true, flags: false, out_port: true }
        }
        other => return Err(bad(format!("{other:?}"), "not a flow_mod command")),
    };
    let is_add = command == FlowModCommand::ADD;
    let is_modify = matches!(command, FlowModCommand::MODIFY | FlowModCommand::MODIFY_STRICT);

    // ofp_extract_actions: everything after the first "action...=" is actions.
    let (mut rest, actions_text) = if allowed.actions {
        let idx = text.find("action").ok_or(TextError::MissingActions)?;
        let after = &text[idx + "action".len()..];
        let eq = after.find('=').ok_or(TextError::MissingActions)?;
        (&text[..idx], Some(&after[eq + 1..]))
    } else {
        (text, None)
    };

    let mut fm = FlowMod { command, ..FlowMod::default() };
    let mut mb = MatchBuilder::default();
    let mut table: Option<u8> = None;
    let mut new_cookie: Option<u64> = None;
    let mut cookie_match: Option<(u64, u64)> = None;
    let mut seen: Vec<&str> = Vec::new();

    while let Some((key, value, raw)) = next_kv_raw(&mut rest) {
        let token = raw.to_owned();
        if protocol_by_name(key).is_some() {
            mb.protocol(key, value)?;
            continue;
        }
        if let Some(f) = field_by_name(key) {
            mb.field(f, key, value)?;
            continue;
        }
        let not_here = |reason: &str| TextError::NotAllowed { token: token.clone(), reason: reason.to_owned() };
        match key {
            "eth" => continue,
            "no_readonly_table" | "allow_hidden_fields" => continue,
            "send_flow_rem" | "check_overlap" => {
                if !allowed.flags {
                    return Err(not_here("flags apply to add-flow and mod-flows only"));
                }
                if !value.is_empty() {
                    return Err(bad(token, format!("'{key}' takes no value")));
                }
                let bit = if key == "send_flow_rem" { FlowModFlags::SEND_FLOW_REM } else { FlowModFlags::CHECK_OVERLAP };
                fm.flags = FlowModFlags(fm.flags.0 | bit.0);
                continue;
            }
            "reset_counts" => return Err(not11(token, "reset_counts needs OpenFlow 1.2+")),
            "no_packet_counts" | "no_byte_counts" => return Err(not11(token, "needs OpenFlow 1.3+")),
            "importance" => return Err(not11(token, "flow importance needs OpenFlow 1.4+")),
            _ => {}
        }
        if let Some(why) = field_beyond_of11(key) {
            return Err(not11(token, why));
        }
        if key.contains('[') {
            return Err(not11(token, "subfield matches need NXM or OXM"));
        }
        let keyword = match key {
            "table" | "out_port" | "out_group" | "priority" | "idle_timeout" | "hard_timeout" | "cookie"
            | "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => key,
            "actions" | "action" if !allowed.actions => {
                return Err(TextError::NotAllowed { token: key.to_owned(), reason: "deletes take no actions".into() })
            }
            _ => return Err(TextError::UnknownField { token: key.to_owned() }),
        };
        if value.is_empty() {
            return Err(bad(token, format!("field {key} missing value")));
        }
        if seen.contains(&keyword) {
            return Err(TextError::Duplicate { token });
        }
        seen.push(keyword);
        match keyword {
            "table" => {
                let t = parse_table(value).ok_or_else(|| bad(&token, "unknown table (expected 0 to 255)"))?;
                table = Some(t);
            }
            "out_port" | "out_group" if !allowed.out_port => {
                return Err(not_here("out_port and out_group apply to del-flows only"))
            }
            "out_port" => {
                let p = parse_port(value).ok_or_else(|| bad(&token, "not a valid OpenFlow port"))?;
                fm.out_port = PortNo(p);
            }
            "out_group" => {
                let g = parse_group(value).ok_or_else(|| bad(&token, "not a valid OpenFlow group"))?;
                fm.out_group = GroupNo(g);
            }
            "priority" if !allowed.priority => {
                return Err(not_here("a non-strict delete matches every priority"))
            }
            "priority" => fm.priority = int_arg(&token, value, "priority", 65535)? as u16,
            "idle_timeout" | "hard_timeout" if !allowed.timeouts => {
                return Err(not_here("timeouts apply to add-flow and mod-flows only"))
            }
            "idle_timeout" => fm.idle_timeout = int_arg(&token, value, "idle_timeout", 65535)? as u16,
            "hard_timeout" => fm.hard_timeout = int_arg(&token, value, "hard_timeout", 65535)? as u16,
            "cookie" => match value.split_once('/') {
                Some((v, m)) => {
                    if is_add {
                        return Err(not_here("flow additions cannot use a cookie mask"));
                    }
                    let v = c_u64(v).ok_or_else(|| bad(&token, "invalid numeric format"))?;
                    let m = c_u64(m).ok_or_else(|| bad(&token, "invalid numeric format"))?;
                    cookie_match = Some((v, m));
                }
                None => {
                    if !(is_add || is_modify) {
                        return Err(not_here(&format!(
                            "cannot set a cookie on a delete (to match on a cookie, give a mask: cookie={value}/-1)"
                        )));
                    }
                    new_cookie = Some(c_u64(value).ok_or_else(|| bad(&token, "invalid numeric format"))?);
                }
            },
            // dump-flows output fed back in: ignored, as ovs-ofctl does.
            _ => {}
        }
    }
    mb.check_prerequisites()?;
    fm.flow_match = mb.to_match();

    // Cookie (ofputil_encode_flow_mod for OFPUTIL_P_OF11_STD).
    let (cookie, cookie_mask) = cookie_match.unwrap_or((0, 0));
    fm.cookie_mask = cookie_mask;
    fm.cookie = if is_add || (is_modify && cookie_mask == 0) {
        match new_cookie {
            // A modify without a mask "adds if absent": OVS turns an all-ones (=
            // "unchanged") new cookie into 0.
            Some(u64::MAX) if is_modify => 0,
            Some(c) => c,
            None => 0,
        }
    } else {
        cookie & cookie_mask
    };
    // OF1.1 has no "all tables": ovs-ofctl sends table 0 for 255 and for none.
    fm.table_id = match table {
        Some(t) if t != 0xff => t,
        _ => 0,
    };
    fm.buffer_id = NO_BUFFER;

    if let Some(actions_text) = actions_text {
        let items = parse_actions(actions_text, true, 0)?;
        let mut state = mb.flow_state();
        let ctx = CheckCtx { table: table.unwrap_or(0xff) };
        check_items(&items, &mut state, &ctx, true)?;
        fm.instructions = encode_items(&items, mb.flow_state())?;
    }
    Ok(fm)
}

// ---------------------------------------------------------------------------------
// Actions and instructions

/// One parsed action (OVS `ofpact`), before the checks that depend on the match.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Act {
    Output { port: u32, max_len: u16 },
    Controller { max_len: u16, id: u16, reason: u8, userdata: Option<Vec<u8>>, pause: bool, meter: u32 },
    Enqueue { port: u32, queue: u32 },
    Group(u32),
    /// `push_if_needed`: `mod_vlan_vid` (pushes a tag when the flow has none).
    SetVlanVid { vid: u16, push_if_needed: bool, set_field: bool },
    SetVlanPcp { pcp: u8, push_if_needed: bool, set_field: bool },
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
    Resubmit { port: u16, table: u8 },
    RegLoad { reg: u8, ofs: u8, n_bits: u8, value: u64 },
}

/// A parsed top-level item: an action (part of apply_actions) or an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
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

const RANK_NAMES: [&str; 6] = ["meter", "apply_actions", "clear_actions", "write_actions", "write_metadata", "goto_table"];

/// OVS action names that are valid in ovs-ofctl but not implemented here (mostly
/// Nicira extensions) and the reason given.
fn unsupported_action(name: &str) -> Option<(&'static str, bool)> {
    // (reason, is it an OF1.1 impossibility)
    Some(match name {
        "meter" => ("meters need OpenFlow 1.3+", true),
        "copy_ttl_in" | "copy_ttl_out" => ("ovs-ofctl has no copy_ttl_in/copy_ttl_out action", false),
        "output_reg" | "bundle" | "bundle_load" | "move" | "push" | "pop" | "dec_nsh_ttl" | "delete_field"
        | "encap" | "decap" | "set_tunnel" | "set_tunnel64" | "fin_timeout" | "learn" | "conjunction"
        | "multipath" | "exit" | "sample" | "unroll_xlate" | "ct" | "ct_clear" | "nat" | "output_trunc" | "clone"
        | "check_pkt_larger" | "debug_recirc" | "debug_slow" => {
            ("this Nicira extension action is not implemented by this parser", false)
        }
        _ => return None,
    })
}

fn parse_actions(text: &str, allow_instructions: bool, depth: u32) -> Result<Vec<Item>> {
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
    c_u64(s)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad(token, format!("invalid numeric format {s}")))
}

fn parse_output(token: &str, arg: &str) -> Result<Act> {
    if arg.contains("port") && arg.contains("max_len") {
        return Err(TextError::Unsupported { token: token.into(), reason: "output_trunc is not implemented".into() });
    }
    if arg.contains('[') {
        return Err(TextError::Unsupported { token: token.into(), reason: "output to a register is not implemented".into() });
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
            return Err(TextError::Unsupported { token: token.into(), reason: "resubmit with ct is not implemented".into() });
        }
    }
    let port = if port_s.is_empty() {
        0xfff8
    } else {
        let p = parse_port(port_s).ok_or_else(|| bad(token, "resubmit to unknown port"))?;
        if p >= OFPP_MAX16 { (p - OFPP11_OFFSET) as u16 } else { p as u16 }
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
            return Err(if field_by_name(field).is_some() || field_beyond_of11(field).is_some() || field == "vlan_tci" {
                TextError::Unsupported {
                    token: token.into(),
                    reason: format!("set_field to '{field}' has no OpenFlow 1.1 action and is not implemented"),
                }
            } else {
                bad(token, format!("{field} is not a valid field name"))
            })
        }
    })
}

/// What the action checks know of the packet (`ofpacts_check`'s view of the flow):
/// the matched ethertype and IP protocol (0 if wildcarded) and which of the two VLAN
/// headers OVS tracks are present.
#[derive(Clone, Copy, Debug)]
struct FlowState {
    dl_type: u16,
    nw_proto: u8,
    vlans: [bool; 2],
}

struct CheckCtx {
    /// The flow's table (255 when none was given).
    table: u8,
}

/// `ofpacts_check`: `strict` is false inside write_actions, where OVS cannot check the
/// consistency of an action set and only hard errors count.
fn check_items(items: &[Item], st: &mut FlowState, ctx: &CheckCtx, strict: bool) -> Result<()> {
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
                Act::SetVlanVid { push_if_needed, set_field, .. } | Act::SetVlanPcp { push_if_needed, set_field, .. } => {
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
                            return Err(TextError::InconsistentAction { token: token.clone(), requires: "a match on ip".into() });
                        }
                        inconsistent(token, "a match on ip")?;
                    }
                }
                Act::SetNwTos(_, sf) | Act::SetNwEcn(_, sf) => {
                    if !is_ip(st) {
                        if *sf {
                            return Err(TextError::InconsistentAction { token: token.clone(), requires: "a match on ip".into() });
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
fn encode_items(items: &[Item], mut st: FlowState) -> Result<Vec<Instruction>> {
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
                    Item::WriteMetadata(v, m) => out.push(Instruction::WriteMetadata { metadata: *v, metadata_mask: *m }),
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

// ---------------------------------------------------------------------------------
// Printing, as `ovs-ofctl -O OpenFlow11 dump-flows` does

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
    let ones = mask.leading_ones();
    let text = if mask == u32::MAX {
        value.to_string()
    } else if mask.checked_shl(ones).unwrap_or(0) == 0 {
        format!("{value}/{ones}")
    } else {
        format!("{value}/{}", Ipv4Addr::from(mask))
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
            let (mut tci, mut mask) =
                if v == VID_ANY { (VLAN_CFI, VLAN_CFI) } else { (VLAN_CFI | (v & VLAN_VID_MASK), VLAN_CFI | VLAN_VID_MASK) };
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
        NXAST_CONTROLLER => {
            format_controller(be16(body, 0)?, be16(body, 2)?, *body.get(4)?, &[], false, NO_METER)
        }
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
