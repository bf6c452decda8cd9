//! The one grammar for address text given to the API: Ethernet (MAC) addresses,
//! IPv4 addresses, and IPv4 with a prefix length or a netmask.
//!
//! | what         | accepted                                                         |
//! |--------------|------------------------------------------------------------------|
//! | MAC          | six groups of exactly two hex digits joined by `:`, any case     |
//! | masked MAC   | `mac` or `mac/mac`, both through the MAC parser                   |
//! | IPv4         | `std`'s `Ipv4Addr::from_str`: dotted quad, decimal, no leading zeros |
//! | masked IPv4  | `a.b.c.d`, `a.b.c.d/n` (n = 0..=32, decimal, no leading zero) or `a.b.c.d/m.m.m.m` |
//!
//! Nothing else: no `-` separators, no one-digit MAC groups, no whitespace, no
//! signs. Every API input path reads addresses here: the codec's objects (serde's
//! `FromStr` of [`MacAddr`], `Masked<MacAddr>`, `Masked<Ipv4Addr>` in
//! `openflow::types`, and the tape fast path in `tape::fast`), rule and endpoint
//! validation (`rules::rule`), and the ARP and rate-limit bindings
//! (`node::net`). Callers keep their own error messages and codes.
//!
//! Why a module of its own under `net` rather than `openflow/types.rs`: the
//! callers are the codec, the rules, the tape and the packet helpers, not only
//! OpenFlow; `types.rs` is the serde value-type file and now only calls in
//! here. Inputs are bytes (`&str` works too) so the tape fast path reads the
//! JS strings in place, without an allocation (IPv4 checks UTF-8, then `std`).
//!
//! The one exception is flow text (`parseFlow`, `ovs-ofctl` syntax): it reads
//! what `ovs-ofctl` reads, more leniently, through the wrappers
//! `openflow::text::{ofctl_mac, ofctl_ipv4, ofctl_ipv4_masked}`, which normalise
//! the text and then call these parsers.

use std::net::Ipv4Addr;

use crate::openflow::types::{MacAddr, Masked};

/// The mask part of a masked IPv4 address, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpMask {
    /// `/n`, n in 0..=32.
    Prefix(u8),
    /// `/m.m.m.m` (any bits, not necessarily contiguous).
    Netmask(Ipv4Addr),
}

impl IpMask {
    /// The mask as an address (`/8` is `255.0.0.0`).
    pub fn netmask(self) -> Ipv4Addr {
        match self {
            IpMask::Prefix(p) => Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0)),
            IpMask::Netmask(m) => m,
        }
    }
}

/// Why a masked IPv4 address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskedIpError {
    /// The address part is not an IPv4 address.
    Address,
    /// The mask part is neither a prefix length nor a dotted netmask.
    Mask,
    /// A well-formed decimal prefix length above 32.
    PrefixOutOfRange,
}

#[inline]
fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A MAC address: `hh:hh:hh:hh:hh:hh` exactly, hex digits in any case.
pub fn parse_mac(s: impl AsRef<[u8]>) -> Option<MacAddr> {
    let s = s.as_ref();
    if s.len() != 17 {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, b) in m.iter_mut().enumerate() {
        let p = i * 3;
        if i < 5 && s[p + 2] != b':' {
            return None;
        }
        *b = hex(s[p])? << 4 | hex(s[p + 1])?;
    }
    Some(MacAddr(m))
}

/// `mac` or `mac/mac` (bits set in the mask must match); an all-ones mask is an
/// exact match (`mask: None`).
pub fn parse_masked_mac(s: impl AsRef<[u8]>) -> Option<Masked<MacAddr>> {
    let s = s.as_ref();
    match s.iter().position(|c| *c == b'/') {
        None => parse_mac(s).map(Masked::exact),
        Some(i) => {
            let value = parse_mac(&s[..i])?;
            let mask = parse_mac(&s[i + 1..])?;
            Some(Masked { value, mask: (mask != MacAddr::BROADCAST).then_some(mask) })
        }
    }
}

/// An IPv4 address, exactly as `std` reads one (`Ipv4Addr::from_str`).
pub fn parse_ipv4(s: impl AsRef<[u8]>) -> Option<Ipv4Addr> {
    std::str::from_utf8(s.as_ref()).ok()?.parse().ok()
}

/// A prefix length: `0`, or 1 or more decimal digits without a leading zero,
/// at most 32.
fn prefix_len(s: &[u8]) -> Result<u8, MaskedIpError> {
    let well_formed = !s.is_empty() && s.iter().all(u8::is_ascii_digit) && (s.len() == 1 || s[0] != b'0');
    if !well_formed {
        return Err(MaskedIpError::Mask);
    }
    if s.len() > 2 {
        return Err(MaskedIpError::PrefixOutOfRange);
    }
    let p = s.iter().fold(0u8, |a, d| a * 10 + (d - b'0'));
    if p > 32 {
        return Err(MaskedIpError::PrefixOutOfRange);
    }
    Ok(p)
}

/// `a.b.c.d`, `a.b.c.d/n` or `a.b.c.d/m.m.m.m`, as written: the address and
/// the mask (`None` without a `/`). Both dotted parts go through
/// [`parse_ipv4`]. Host bits are not checked (callers that care do).
pub fn parse_ipv4_masked(s: impl AsRef<[u8]>) -> Result<(Ipv4Addr, Option<IpMask>), MaskedIpError> {
    let s = s.as_ref();
    let (v, m) = match s.iter().position(|c| *c == b'/') {
        None => (s, None),
        Some(i) => (&s[..i], Some(&s[i + 1..])),
    };
    let value = parse_ipv4(v).ok_or(MaskedIpError::Address)?;
    let mask = match m {
        None => None,
        Some(m) if m.contains(&b'.') => Some(IpMask::Netmask(parse_ipv4(m).ok_or(MaskedIpError::Mask)?)),
        Some(m) => Some(IpMask::Prefix(prefix_len(m)?)),
    };
    Ok((value, mask))
}

/// [`parse_ipv4_masked`] as a match value: `/32` and `/255.255.255.255` are an
/// exact match (`mask: None`).
pub fn parse_masked_ipv4(s: impl AsRef<[u8]>) -> Option<Masked<Ipv4Addr>> {
    let (value, mask) = parse_ipv4_masked(s).ok()?;
    let mask = mask.map(IpMask::netmask).filter(|m| u32::from(*m) != u32::MAX);
    Some(Masked { value, mask })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::text::{ofctl_ipv4, ofctl_ipv4_masked, ofctl_mac};

    const MAC_A: [u8; 6] = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];

    // Rows: input, strict result, flow-text result.
    type Mac = Option<[u8; 6]>;
    type MacRow = (&'static str, Mac, Mac);
    type Ip = Option<[u8; 4]>;
    type IpRow = (&'static str, Ip, Ip);
    type Strict = Result<(&'static str, Option<IpMask>), MaskedIpError>;
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

    #[test]
    fn masked_mac_table() {
        let m = |a: [u8; 6], mask: Option<[u8; 6]>| Some(Masked { value: MacAddr(a), mask: mask.map(MacAddr) });
        #[rustfmt::skip]
        let table: &[(&str, Option<Masked<MacAddr>>)] = &[
            ("aa:bb:cc:dd:ee:ff",                       m(MAC_A, None)),
            ("AA:BB:CC:DD:EE:FF/ff:ff:ff:ff:ff:ff",     m(MAC_A, None)),
            ("01:00:00:00:00:00/01:00:00:00:00:00",     m([1, 0, 0, 0, 0, 0], Some([1, 0, 0, 0, 0, 0]))),
            ("aa:bb:cc:dd:ee:ff/FF:FF:FF:00:00:00",     m(MAC_A, Some([0xff, 0xff, 0xff, 0, 0, 0]))),
            ("aa:bb:cc:dd:ee:ff/",                      None),
            ("/ff:ff:ff:00:00:00",                      None),
            ("aa:bb:cc:dd:ee:ff/ff:ff:ff:0:0:0",        None),
            ("a:b:c:d:e:f/ff:ff:ff:ff:ff:ff",           None),
            ("aa:bb-cc:dd-ee:ff/ff:ff:ff:ff:ff:ff",     None),
            ("aa:bb:cc:dd:ee:ff/ff:ff:ff:ff:ff:ff/",    None),
            ("aa:bb:cc:dd:ee:ff /ff:ff:ff:ff:ff:ff",    None),
            ("aa:bb:cc:dd:ee:ff/24",                    None),
        ];
        for (input, want) in table {
            assert_eq!(&parse_masked_mac(input), want, "{input:?}");
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

    /// Random text near the grammar: the byte parsers agree with their
    /// definitions (std for IPv4; a split-and-check MAC reading).
    #[test]
    fn parsers_match_their_definitions_on_random_text() {
        let mut x = 0x5eed_add7_0000_0001u64;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        const PIECES: &[&str] = &[
            "0", "1", "9", "00", "01", "10", "99", "100", "255", "256", "0000", "a", "F", "ae", "fF", "g", "+1", "-",
            ":", ".", "/", " ", "", "32", "33", "8", "é",
        ];
        let definition_mac = |s: &str| -> Option<[u8; 6]> {
            let parts: Vec<&str> = s.split(':').collect();
            let ok = parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
            ok.then(|| std::array::from_fn(|i| u8::from_str_radix(parts[i], 16).unwrap()))
        };
        let mut accepted = [0u32; 2];
        for i in 0..100_000 {
            let n = (next() % 3 + if i % 2 == 0 { 5 } else { 3 }) as usize;
            let sep = if i % 2 == 0 { ":" } else { "." };
            let s = (0..n)
                .map(|_| match next() % 4 {
                    0 if i % 2 == 0 => format!("{:02x}", next() as u8),
                    1 if i % 2 == 0 => format!("{:02X}", next() as u8),
                    0 | 1 => (next() as u8).to_string(),
                    _ => PIECES[(next() % PIECES.len() as u64) as usize].to_owned(),
                })
                .collect::<Vec<_>>()
                .join(sep);
            let mac = parse_mac(&s).map(|m| m.0);
            assert_eq!(mac, definition_mac(&s), "{s:?}");
            let ip4 = parse_ipv4(&s);
            assert_eq!(ip4, s.parse::<Ipv4Addr>().ok(), "{s:?}");
            accepted[0] += u32::from(mac.is_some());
            accepted[1] += u32::from(ip4.is_some());
        }
        assert!(accepted.iter().all(|n| *n > 1000), "{accepted:?}");
    }
}
