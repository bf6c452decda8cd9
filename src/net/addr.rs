//! Addresses: the value types ([`MacAddr`], [`Masked`]) and the one grammar for
//! address text given to the API: Ethernet (MAC) addresses, IPv4 addresses, and
//! IPv4 with a prefix length or a netmask.
//!
//! | what         | accepted                                                         |
//! |--------------|------------------------------------------------------------------|
//! | MAC          | six groups of exactly two hex digits joined by `:`, any case     |
//! | masked MAC   | `mac` or `mac/mac`, both through the MAC parser                   |
//! | IPv4         | `std`'s `Ipv4Addr::from_str`: dotted quad, decimal, no leading zeros |
//! | masked IPv4  | `a.b.c.d`, `a.b.c.d/n` (n = 0..=32, decimal, no leading zero) or `a.b.c.d/m.m.m.m` |
//!
//! Nothing else: no `-` separators, no one-digit MAC groups, no whitespace, no
//! signs. Every API input path reads addresses here: the codec's objects (the
//! `FromStr` impls below, which `openflow::types`' serde forms call, and the tape
//! fast path in `tape::fast`), rule and endpoint validation (`rules::rule`), and
//! the ARP and rate-limit bindings (`node::net`). Callers keep their own error
//! messages and codes.
//!
//! Layering: `net` is the bottom of the crate and uses nothing else of it, so the
//! address types live here, with their text forms (`Display`, `FromStr`).
//! `openflow::types` re-exports them (`openflow::types::MacAddr` is this
//! [`MacAddr`]) and adds what belongs to the codec: their serde forms (strings,
//! sent as data by the tape). `openflow` may use `net`, never the reverse
//! (`tests/layering.rs`). The callers are the codec, the rules, the tape and the
//! packet helpers, not only OpenFlow. Inputs are bytes (`&str` works too) so the
//! tape fast path reads the JS strings in place, without an allocation (IPv4
//! checks UTF-8, then `std`).
//!
//! The one exception is flow text (`parseFlow`, `ovs-ofctl` syntax): it reads
//! what `ovs-ofctl` reads, more leniently, through the wrappers
//! `openflow::text::lex::{ofctl_mac, ofctl_ipv4, ofctl_ipv4_masked}`, which
//! normalise the text and then call these parsers (their tests compare the two
//! grammars, input by input).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

// ---------------------------------------------------------------------------------
// Types

/// An Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// All-ones address (also the exact-match mask).
    pub const BROADCAST: Self = Self([0xff; 6]);
    /// All-zeros.
    pub const ZERO: Self = Self([0; 6]);

    /// Bitwise NOT (OF1.1 wire masks are wildcard masks).
    #[allow(clippy::should_implement_trait)] // an inherent method: callers need no `use std::ops::Not`
    pub fn not(self) -> Self {
        let mut o = self.0;
        for b in &mut o {
            *b = !*b;
        }
        Self(o)
    }
}

impl MacAddr {
    /// The link-local address an interface with this MAC forms by itself: fe80::/64
    /// and the modified EUI-64 interface identifier (RFC 4291 §2.5.1 and Appendix
    /// A: the universal/local bit, 0x02 of the first byte, inverted, and ff:fe
    /// inserted between the third and fourth bytes), as SLAAC does (RFC 4862 §5.3)
    /// unless the guest uses stable privacy identifiers (RFC 7217) instead.
    pub fn eui64_link_local(self) -> Ipv6Addr {
        let [a, b, c, d, e, f] = self.0;
        Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, a ^ 0x02, b, c, 0xff, 0xfe, d, e, f])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By table, not six `{:02x}`: every rule and flow of a batch writes its MAC.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b':'; 17];
        for (i, byte) in self.0.iter().enumerate() {
            text[3 * i] = HEX[usize::from(byte >> 4)];
            text[3 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
        // ASCII hex digits and colons only.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC or IP address that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{text}'")]
pub struct AddrParseError {
    /// Kind of value.
    pub what: &'static str,
    /// The text given.
    pub text: String,
}

/// The API's MAC grammar ([`parse_mac`]): `aa:bb:cc:dd:ee:ff`, two hex digits
/// per byte, any case.
impl FromStr for MacAddr {
    type Err = AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_mac(s).ok_or_else(|| AddrParseError { what: "MAC address", text: s.to_owned() })
    }
}

/// A value with an optional mask, where mask bits set to 1 must match (the OVS
/// convention; the OF1.1 wire inverts it). `mask: None` means exact match.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Masked<T> {
    /// The value.
    pub value: T,
    /// Bits that matter; `None` for all of them.
    pub mask: Option<T>,
}

impl<T> Masked<T> {
    /// Exact match.
    pub fn exact(value: T) -> Self {
        Self { value, mask: None }
    }
}

impl fmt::Display for Masked<MacAddr> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mask {
            None => write!(f, "{}", self.value),
            Some(m) => write!(f, "{}/{}", self.value, m),
        }
    }
}

/// `mac` or `mac/mac` ([`parse_masked_mac`]).
impl FromStr for Masked<MacAddr> {
    type Err = AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_masked_mac(s).ok_or_else(|| AddrParseError { what: "MAC address", text: s.to_owned() })
    }
}

/// Prefix length of a contiguous IPv4 netmask.
pub fn prefix_len(mask: Ipv4Addr) -> Option<u32> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones)
}

impl fmt::Display for Masked<Ipv4Addr> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mask {
            None => write!(f, "{}", self.value),
            Some(m) => match prefix_len(m) {
                Some(32) => write!(f, "{}", self.value),
                Some(p) => write!(f, "{}/{}", self.value, p),
                None => write!(f, "{}/{}", self.value, m),
            },
        }
    }
}

/// `a.b.c.d`, `a.b.c.d/n` or `a.b.c.d/m.m.m.m` ([`parse_masked_ipv4`]).
impl FromStr for Masked<Ipv4Addr> {
    type Err = AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_masked_ipv4(s).ok_or_else(|| AddrParseError { what: "IPv4 address", text: s.to_owned() })
    }
}

// ---------------------------------------------------------------------------------
// Parsers

/// The mask part of a masked IPv4 address, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpMask {
    /// `/n`, n in 0..=32.
    Prefix(u8),
    /// `/m.m.m.m` (any bits, not necessarily contiguous).
    Netmask(Ipv4Addr),
}

/// The netmask of an IPv4 prefix length (`8` is `0xff000000`; 32 and more, all ones).
pub fn ipv4_prefix_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0)
}

/// The mask of an IPv6 prefix length (128 and more, all ones).
pub fn ipv6_prefix_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0)
}

impl IpMask {
    /// The mask as an address (`/8` is `255.0.0.0`).
    pub fn netmask(self) -> Ipv4Addr {
        match self {
            IpMask::Prefix(p) => Ipv4Addr::from(ipv4_prefix_mask(p)),
            IpMask::Netmask(m) => m,
        }
    }
}

/// Why a masked IPv4 address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskedIpError {
    /// The address part is not an address (IPv4, or IPv6 for [`parse_ipv6_prefixed`]).
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
fn parse_prefix_len(s: &[u8]) -> Result<u8, MaskedIpError> {
    parse_prefix_up_to(s, 32)
}

/// A prefix length as [`parse_prefix_len`] reads one, at most `max` (32 or 128).
fn parse_prefix_up_to(s: &[u8], max: u8) -> Result<u8, MaskedIpError> {
    let well_formed = !s.is_empty() && s.iter().all(u8::is_ascii_digit) && (s.len() == 1 || s[0] != b'0');
    if !well_formed {
        return Err(MaskedIpError::Mask);
    }
    if s.len() > 3 {
        return Err(MaskedIpError::PrefixOutOfRange);
    }
    let p = s.iter().fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
    u8::try_from(p).ok().filter(|p| *p <= max).ok_or(MaskedIpError::PrefixOutOfRange)
}

/// `addr` and what follows its `/`, if there is one.
fn split_mask(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|c| *c == b'/') {
        None => (s, None),
        Some(i) => (&s[..i], Some(&s[i + 1..])),
    }
}

/// An IPv6 address, exactly as `std` reads one (`Ipv6Addr::from_str`: no zone id,
/// no brackets, no spaces).
pub fn parse_ipv6(s: impl AsRef<[u8]>) -> Option<Ipv6Addr> {
    std::str::from_utf8(s.as_ref()).ok()?.parse().ok()
}

/// `addr` or `addr/n` for IPv6, as written: the address through [`parse_ipv6`] and
/// the prefix length (`None` without a `/`), decimal without a leading zero, at
/// most 128. No netmask form (IPv6 has none). Host bits are not checked.
pub fn parse_ipv6_prefixed(s: impl AsRef<[u8]>) -> Result<(Ipv6Addr, Option<u8>), MaskedIpError> {
    let (v, m) = split_mask(s.as_ref());
    let value = parse_ipv6(v).ok_or(MaskedIpError::Address)?;
    let prefix = m.map(|m| parse_prefix_up_to(m, 128)).transpose()?;
    Ok((value, prefix))
}

/// `a.b.c.d`, `a.b.c.d/n` or `a.b.c.d/m.m.m.m`, as written: the address and
/// the mask (`None` without a `/`). Both dotted parts go through
/// [`parse_ipv4`]. Host bits are not checked (callers that care do).
pub fn parse_ipv4_masked(s: impl AsRef<[u8]>) -> Result<(Ipv4Addr, Option<IpMask>), MaskedIpError> {
    let (v, m) = split_mask(s.as_ref());
    let value = parse_ipv4(v).ok_or(MaskedIpError::Address)?;
    let mask = match m {
        None => None,
        Some(m) if m.contains(&b'.') => Some(IpMask::Netmask(parse_ipv4(m).ok_or(MaskedIpError::Mask)?)),
        Some(m) => Some(IpMask::Prefix(parse_prefix_len(m)?)),
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

    const MAC_A: [u8; 6] = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];

    /// The text forms: `FromStr` is the strict grammar, `Display` prints as OVS
    /// does (a prefix length for a contiguous netmask, nothing for `/32`).
    #[test]
    fn masks_print_like_ovs() {
        let m: Masked<Ipv4Addr> = "10.0.0.0/8".parse().unwrap();
        assert_eq!(m.to_string(), "10.0.0.0/8");
        let m: Masked<Ipv4Addr> = "10.0.0.0/255.0.255.0".parse().unwrap();
        assert_eq!(m.to_string(), "10.0.0.0/255.0.255.0");
        let m: Masked<Ipv4Addr> = "10.0.0.1/32".parse().unwrap();
        assert_eq!(m.mask, None);
        assert_eq!(m.to_string(), "10.0.0.1");
        assert!("10.0.0.0/33".parse::<Masked<Ipv4Addr>>().is_err());
        let m: Masked<MacAddr> = "01:00:00:00:00:00/01:00:00:00:00:00".parse().unwrap();
        assert_eq!(m.to_string(), "01:00:00:00:00:00/01:00:00:00:00:00");
        assert!("01:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("01:00:00:00:00:00:00".parse::<MacAddr>().is_err());
        for bad in ["aa:bb-cc:dd-ee:ff", "aa-bb-cc-dd-ee-ff", "a:b:c:d:e:f", " aa:bb:cc:dd:ee:ff"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
            assert!(bad.parse::<Masked<MacAddr>>().is_err(), "{bad}");
        }
        assert_eq!("AA:BB:CC:DD:EE:FF".parse::<MacAddr>().unwrap().to_string(), "aa:bb:cc:dd:ee:ff");
        for bad in ["010.0.0.1", " 10.0.0.1", "10.0.0.0/08", "10.0.0.0/+8", "10.0.0.0/255.0.0"] {
            assert!(bad.parse::<Masked<Ipv4Addr>>().is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_netmasks_and_mac_helpers() {
        let e = "aa-bb-cc-dd-ee-ff".parse::<MacAddr>().unwrap_err();
        assert_eq!(e.to_string(), "invalid MAC address 'aa-bb-cc-dd-ee-ff'");
        let e = "10.0.0.0/33".parse::<Masked<Ipv4Addr>>().unwrap_err();
        assert_eq!(e, AddrParseError { what: "IPv4 address", text: "10.0.0.0/33".to_owned() });
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(prefix_len(ip("0.0.0.0")), Some(0));
        assert_eq!(prefix_len(ip("255.255.255.0")), Some(24));
        assert_eq!(prefix_len(ip("255.255.255.255")), Some(32));
        assert_eq!(prefix_len(ip("255.0.255.0")), None);
        assert_eq!(prefix_len(ip("0.0.0.1")), None);
        assert_eq!(MacAddr::BROADCAST.not(), MacAddr::ZERO);
        assert_eq!(MacAddr(MAC_A).not(), MacAddr([0x55, 0x44, 0x33, 0x22, 0x11, 0x00]));
        assert_eq!(format!("{:?}", MacAddr(MAC_A)), "aa:bb:cc:dd:ee:ff");
        assert_eq!(Masked::exact(MacAddr::ZERO).to_string(), "00:00:00:00:00:00");
    }

    /// RFC 4291 Appendix A's construction, on a universal MAC (the bit set) and a
    /// locally administered one (the bit cleared), as Linux forms them.
    #[test]
    fn eui64_link_local_flips_the_universal_local_bit() {
        let ll = |mac: &str| mac.parse::<MacAddr>().unwrap().eui64_link_local().to_string();
        assert_eq!(ll("52:54:00:12:34:56"), "fe80::5054:ff:fe12:3456");
        assert_eq!(ll("00:16:3e:aa:bb:cc"), "fe80::216:3eff:feaa:bbcc");
        assert_eq!(ll("02:00:00:00:00:01"), "fe80::ff:fe00:1");
        assert_eq!(ll("ff:ff:ff:ff:ff:ff"), "fe80::fdff:ffff:feff:ffff");
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
