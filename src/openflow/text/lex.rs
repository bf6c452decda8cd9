//! Lexing: OVS's key/value splitting, C-style numbers and hex, ovs-ofctl's lenient
//! Ethernet and IPv4 forms, and port, table and group names.

use std::net::Ipv4Addr;

use super::error::{bad, Result};
use crate::net::addr;
use crate::openflow::types::{GroupNo, MacAddr, PortNo};

// ---------------------------------------------------------------------------------
// Lexing: OVS's key/value splitting and C-style numbers

/// Splits the next `key`, `key=value`, `key:value` or `key(value)` off `s`, the way
/// `ofputil_parse_key_value` does: separators are commas and white space, a value
/// after `=` or `:` runs to the next separator outside parentheses, a value after `(`
/// runs to the matching `)`.
pub(super) fn next_kv<'a>(s: &mut &'a str) -> Option<(&'a str, &'a str)> {
    next_kv_raw(s).map(|(k, v, _)| (k, v))
}

/// [`next_kv`], also returning the whole `key...value` text as written (for errors).
pub(super) fn next_kv_raw<'a>(s: &mut &'a str) -> Option<(&'a str, &'a str, &'a str)> {
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
pub(super) fn c_u64(s: &str) -> Option<u64> {
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

pub(super) fn int_arg(token: &str, s: &str, what: &str, max: u64) -> Result<u64> {
    c_int(s, max).ok_or_else(|| bad(token, format!("invalid {what} \"{s}\" (expected 0 to {max})")))
}

/// A plain decimal number (ports, tables and groups are read in base 10).
pub(super) fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A match-field integer of `width` bytes as `parse_int_string` reads it: `0x` and
/// any number of hex digits (leading zeros free), otherwise a C number.
pub(super) fn field_int(s: &str, width: u32) -> Option<u64> {
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
pub(super) fn hex_bytes(s: &str) -> Option<Vec<u8>> {
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
            Some((value, crate::net::addr::ipv4_prefix_mask(p as u8)))
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
pub(super) const OFPP_MAX16: u32 = 0xff00;
/// OF1.1 reserved ports are the 16-bit ones plus this.
pub(super) const OFPP11_OFFSET: u32 = 0xffff_0000;

/// A port as `ofputil_port_from_string` reads it, returned as an OF1.1 port number:
/// a decimal number (0xff00-0xffff are the OF1.0 reserved numbers, 0xffffff00 and
/// up the OF1.1 ones) or a reserved name in any case (`NONE` is `ANY`).
pub(super) fn parse_port(s: &str) -> Option<u32> {
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
    RESERVED_PORTS.iter().find(|(_, name)| s.eq_ignore_ascii_case(name)).map(|(p, _)| u32::from(*p) + OFPP11_OFFSET)
}

/// True for ports an output action may name (`ofpact_check_output_port`).
pub(super) fn valid_output_port(p: u32) -> bool {
    p < OFPP_MAX16 || (0xffff_fff8..=0xffff_fffe).contains(&p)
}

/// How ovs-ofctl prints an OF1.1 port: reserved ports by name, others as numbers.
pub(super) fn port_text(p: u32) -> String {
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

pub(super) fn port16_text(v: u16) -> String {
    match RESERVED_PORTS.iter().find(|(p, _)| *p == v) {
        Some((_, name)) => (*name).to_owned(),
        None => v.to_string(),
    }
}

pub(super) fn parse_table(s: &str) -> Option<u8> {
    decimal(s).and_then(|t| u8::try_from(t).ok())
}

pub(super) fn parse_group(s: &str) -> Option<u32> {
    if s.eq_ignore_ascii_case("any") {
        Some(GroupNo::ANY.0)
    } else if s.eq_ignore_ascii_case("all") {
        Some(GroupNo::ALL.0)
    } else {
        decimal(s).and_then(|g| u32::try_from(g).ok())
    }
}

#[cfg(test)]
mod tests {
    //! ovs-ofctl's lenient address forms next to the API's strict grammar
    //! (`crate::net::addr`), input by input.

    use super::*;
    use crate::net::addr::{
        parse_ipv4, parse_ipv4_masked, parse_mac, parse_masked_ipv4, IpMask, Masked, MaskedIpError,
    };

    const MAC_A: [u8; 6] = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];

    // Rows: input, strict result, flow-text result.
    type Mac = Option<[u8; 6]>;
    type MacRow = (&'static str, Mac, Mac);
    type Ip = Option<[u8; 4]>;
    type IpRow = (&'static str, Ip, Ip);
    type Strict = std::result::Result<(&'static str, Option<IpMask>), MaskedIpError>;
    type MaskedIpRow = (&'static str, Strict, Option<(u32, u32)>);

    /// Inputs × MAC parsers: the strict one (every API input) and flow text's.
    /// `Some(bytes)` accepted as those bytes, `None` refused.
    #[test]
    fn mac_table() {
        #[rustfmt::skip]
        let table: &[MacRow] = &[
            // input                   strict        flow text (ofctl_mac)
            ("aa:bb:cc:dd:ee:ff",      Some(MAC_A),  Some(MAC_A)),
            ("AA:BB:CC:DD:EE:FF",      Some(MAC_A),  Some(MAC_A)),
            ("aa:BB:cc:DD:ee:Ff",      Some(MAC_A),  Some(MAC_A)),
            ("00:00:00:00:00:00",      Some([0; 6]), Some([0; 6])),
            ("a:b:c:d:e:f",            None,         Some([0xa, 0xb, 0xc, 0xd, 0xe, 0xf])),
            ("0:1:2:3:4:5",            None,         Some([0, 1, 2, 3, 4, 5])),
            ("aa:b:cc:d:ee:f",         None,         Some([0xaa, 0xb, 0xcc, 0xd, 0xee, 0xf])),
            ("aa:bb-cc:dd-ee:ff",      None,         None),
            ("aa-bb-cc-dd-ee-ff",      None,         None),
            ("aa.bb.cc.dd.ee.ff",      None,         None),
            ("aabb.ccdd.eeff",         None,         None),
            ("aabbccddeeff",           None,         None),
            ("aa:bb:cc:dd:ee",         None,         None),
            ("aa:bb:cc:dd:ee:ff:00",   None,         None),
            ("aa:bb:cc:dd:ee:",        None,         None),
            ("aa:bb:cc:dd:ee:ff:",     None,         None),
            (":aa:bb:cc:dd:ee:ff",     None,         None),
            ("aa::cc:dd:ee:ff",        None,         None),
            ("aaa:bb:cc:dd:ee:ff",     None,         None),
            ("aa:bb:cc:dd:ee:fff",     None,         None),
            ("0aa:bb:cc:dd:ee:ff",     None,         None),
            ("aa:bb:cc:dd:ee:fg",      None,         None),
            ("0xa:bb:cc:dd:ee:ff",     None,         None),
            ("+a:bb:cc:dd:ee:ff",      None,         None),
            (" aa:bb:cc:dd:ee:ff",     None,         None),
            ("aa:bb:cc:dd:ee:ff ",     None,         None),
            ("aa: bb:cc:dd:ee:ff",     None,         None),
            ("aa:bb:cc:dd:ee:ff\n",    None,         None),
            ("é:bb:cc:dd:ee:ff",       None,         None),
            ("",                       None,         None),
        ];
        for &(input, strict, ofctl) in table {
            assert_eq!(parse_mac(input).map(|m| m.0), strict, "strict {input:?}");
            assert_eq!(ofctl_mac(input).map(|m| m.0), ofctl, "flow text {input:?}");
        }
    }

    /// Inputs × IPv4 parsers: the strict one (`std`'s) and flow text's.
    #[test]
    fn ipv4_table() {
        #[rustfmt::skip]
        let table: &[IpRow] = &[
            // input               strict              flow text (ofctl_ipv4)
            ("10.0.0.1",           Some([10, 0, 0, 1]),       Some([10, 0, 0, 1])),
            ("0.0.0.0",            Some([0, 0, 0, 0]),        Some([0, 0, 0, 0])),
            ("255.255.255.255",    Some([255; 4]),            Some([255; 4])),
            ("010.0.0.1",          None,                      Some([10, 0, 0, 1])),
            ("10.000.0.01",        None,                      Some([10, 0, 0, 1])),
            ("00.0.0.0",           None,                      Some([0, 0, 0, 0])),
            ("0010.0.0.1",         None,                      None),
            ("256.0.0.1",          None,                      None),
            ("10.0.0.256",         None,                      None),
            ("10.0.0",             None,                      None),
            ("10.0.0.1.",          None,                      None),
            ("10.0.0.1.2",         None,                      None),
            ("10..0.1",            None,                      None),
            (".10.0.0.1",          None,                      None),
            (" 10.0.0.1",          None,                      None),
            ("10.0.0.1 ",          None,                      None),
            ("10.0.0.1\n",         None,                      None),
            ("+10.0.0.1",          None,                      None),
            ("10.0.0.-1",          None,                      None),
            ("0x0a.0.0.1",         None,                      None),
            ("10.0.0.1/32",        None,                      None),
            ("167772161",          None,                      None),
            ("::1",                None,                      None),
            ("١٠.0.0.1",           None,                      None),
            ("",                   None,                      None),
        ];
        for &(input, strict, ofctl) in table {
            assert_eq!(parse_ipv4(input).map(|a| a.octets()), strict, "strict {input:?}");
            assert_eq!(input.parse::<Ipv4Addr>().ok().map(|a| a.octets()), strict, "std {input:?}");
            assert_eq!(ofctl_ipv4(input).map(|a| a.octets()), ofctl, "flow text {input:?}");
        }
    }

    /// Inputs × masked IPv4 parsers. Strict results as written (prefix or
    /// netmask); flow text's as (value, mask) integers.
    #[test]
    fn masked_ipv4_table() {
        use IpMask::{Netmask, Prefix};
        use MaskedIpError::{Address, Mask, PrefixOutOfRange};
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        #[rustfmt::skip]
        let table: &[MaskedIpRow] = &[
            // input                    strict                                          flow text (ofctl_ipv4_masked)
            ("10.0.0.0/8",              Ok(("10.0.0.0", Some(Prefix(8)))),              Some((0x0a00_0000, 0xff00_0000))),
            ("10.0.0.1",                Ok(("10.0.0.1", None)),                         Some((0x0a00_0001, u32::MAX))),
            ("10.0.0.1/32",             Ok(("10.0.0.1", Some(Prefix(32)))),             Some((0x0a00_0001, u32::MAX))),
            ("0.0.0.0/0",               Ok(("0.0.0.0", Some(Prefix(0)))),               Some((0, 0))),
            ("10.0.0.0/255.0.255.0",    Ok(("10.0.0.0", Some(Netmask(ip("255.0.255.0"))))), Some((0x0a00_0000, 0xff00_ff00))),
            ("10.0.0.0/33",             Err(PrefixOutOfRange),                          None),
            ("10.0.0.0/100",            Err(PrefixOutOfRange),                          None),
            ("10.0.0.0/99999999999999999999", Err(PrefixOutOfRange),                    None),
            ("10.0.0.0/08",             Err(Mask),                                      Some((0x0a00_0000, 0xff00_0000))),
            ("10.0.0.0/+8",             Err(Mask),                                      None),
            ("10.0.0.0/-1",             Err(Mask),                                      None),
            ("10.0.0.0/",               Err(Mask),                                      None),
            ("10.0.0.0/8/8",            Err(Mask),                                      None),
            ("10.0.0.0/ 8",             Err(Mask),                                      None),
            ("10.0.0.0/8 ",             Err(Mask),                                      None),
            ("10.0.0.0/255.0.0",        Err(Mask),                                      None),
            ("10.0.0.0/255.000.0.0",    Err(Mask),                                      Some((0x0a00_0000, 0xff00_0000))),
            ("010.0.0.0/8",             Err(Address),                                   Some((0x0a00_0000, 0xff00_0000))),
            (" 10.0.0.1",               Err(Address),                                   None),
            ("10.0.0.1 /8",             Err(Address),                                   None),
            ("10.0.300.0/24",           Err(Address),                                   None),
            ("/8",                      Err(Address),                                   None),
            ("fe80::/64",               Err(Address),                                   None),
            ("",                        Err(Address),                                   None),
        ];
        for (input, strict, ofctl) in table {
            let want = strict.map(|(a, m)| (ip(a), m));
            assert_eq!(parse_ipv4_masked(input), want, "strict {input:?}");
            let want_masked = want
                .ok()
                .map(|(value, m)| Masked { value, mask: m.map(IpMask::netmask).filter(|m| u32::from(*m) != u32::MAX) });
            assert_eq!(parse_masked_ipv4(input), want_masked, "strict masked {input:?}");
            assert_eq!(&ofctl_ipv4_masked(input), ofctl, "flow text {input:?}");
        }
    }
}
