//! The traffic rule model, its validation from the JSON the JS side sends, and its
//! normalized JSON form.
//!
//! Validation is strict and precise: an unknown key, a value of the wrong JSON type
//! (`ERR_INVALID_ARG_TYPE`), a well-typed but wrong value (`ERR_INVALID_ARG_VALUE`)
//! and a number out of range (`ERR_OUT_OF_RANGE`) each get their own message,
//! starting with the field (`rule.vif.mac must be ...`). Everything that reaches
//! [`compile`](super::compile) is an OpenFlow 1.1 standard match (§A.2.3), but for
//! port ranges, which become masked ports in an OXM match: no IPv6.
//!
//! `null` is read as "absent" for every key (JS's `undefined` does not survive
//! JSON, `null` does).

use serde_json::{Number, Value};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::json::{Json, Object, Scalar};
use super::service::{self, Service, Transport};
use crate::parallel;
use crate::net::addr::{self, IpMask, MaskedIpError};
use crate::openflow::types::{MacAddr, Masked};

/// Wrong JSON type, or a required key missing.
pub const ERR_INVALID_ARG_TYPE: &str = "ERR_INVALID_ARG_TYPE";
/// Right type, wrong value.
pub const ERR_INVALID_ARG_VALUE: &str = "ERR_INVALID_ARG_VALUE";
/// A number outside its range.
pub const ERR_OUT_OF_RANGE: &str = "ERR_OUT_OF_RANGE";

/// The largest port number a VIF may have: below `OFPP_MAX` (0xffffff00), where
/// OpenFlow 1.1's reserved ports begin (§A.2.1).
pub const MAX_OFPORT: u32 = 0xffff_feff;
/// Longest `id`, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// A rule that failed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` or `ERR_OUT_OF_RANGE`.
    pub code: &'static str,
    /// Dotted path of the offending key (`vif.mac`, `port`, `vif.ips[1]`); empty for
    /// the rule itself.
    pub field: String,
    /// The whole message, starting with the field (`rule.vif.mac must be ...`).
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleError {}

impl RuleError {
    /// An error on `field`, shown as `{prefix}{field} {tail}` (`prefix` is `rule.`
    /// for rule fields).
    pub(crate) fn at(code: &'static str, prefix: &str, field: &str, tail: impl fmt::Display) -> Self {
        RuleError { code, field: field.to_owned(), message: format!("{prefix}{field} {tail}") }
    }
}

fn type_err(field: &str, tail: impl fmt::Display) -> RuleError {
    RuleError::at(ERR_INVALID_ARG_TYPE, "rule.", field, tail)
}
fn value_err(field: &str, tail: impl fmt::Display) -> RuleError {
    RuleError::at(ERR_INVALID_ARG_VALUE, "rule.", field, tail)
}
fn range_err(field: &str, tail: impl fmt::Display) -> RuleError {
    RuleError::at(ERR_OUT_OF_RANGE, "rule.", field, tail)
}

/// What a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One VIF.
    Vif(Vif),
    /// Every VIF of a VM.
    Vm {
        /// The VM's UUID (lower case).
        uuid: String,
    },
    /// Every VIF of a network.
    Network {
        /// The network's UUID (lower case).
        uuid: String,
    },
    /// Every VIF of the pool.
    Pool,
}

/// A VIF target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vif {
    /// The VIF's UUID (lower case).
    pub uuid: String,
    /// Its MAC (unicast).
    pub mac: MacAddr,
    /// The addresses it may send from (XAPI `ipv4_allowed` and `ipv6_allowed`), in
    /// the order given; empty = not locked.
    pub ips: Vec<IpAddr>,
    /// Its OpenFlow port, when the caller knows it.
    pub ofport: Option<u32>,
}

/// What traffic a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Everything.
    Any,
    /// IPv4 (`dl_type` 0x0800).
    Ip,
    /// ARP (`dl_type` 0x0806).
    Arp,
    /// ICMP over IPv4.
    Icmp,
    /// ICMPv6 (IPv6 only: `eth_type` 0x86dd, `ip_proto` 58, in an OXM match).
    Icmpv6,
    /// TCP over IPv4 (over IPv6 with an IPv6 `ipRange`).
    Tcp,
    /// UDP over IPv4 (over IPv6 with an IPv6 `ipRange`).
    Udp,
    /// A named service (fixed transport and ports).
    Service(&'static Service),
}

impl Protocol {
    /// The normalized name: `any`, `ip`, ..., or the service's name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Any => "any",
            Protocol::Ip => "ip",
            Protocol::Arp => "arp",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Service(s) => s.name,
        }
    }

    /// The transport of `tcp`/`udp`.
    pub fn transport(self) -> Option<Transport> {
        match self {
            Protocol::Tcp => Some(Transport::Tcp),
            Protocol::Udp => Some(Transport::Udp),
            _ => None,
        }
    }
}

/// A port or an inclusive range of them (`lo == hi` for one port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl PortRange {
    /// Number of ports. A rule makes one flow per masked block of them
    /// ([`PortRange::masked`]), not per port.
    pub fn len(self) -> usize {
        usize::from(self.hi - self.lo) + 1
    }

    /// Never empty; here for clippy's `len` convention.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The ports, in order.
    pub fn ports(self) -> impl Iterator<Item = u16> {
        self.lo..=self.hi
    }
}

/// An IPv4 or IPv6 prefix without host bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6. `/0` is any address of
    /// its family: `0.0.0.0/0` keeps a rule IPv4's and `::/0` makes it IPv6's, where
    /// no range at all covers both families.
    pub prefix: u8,
}

impl IpRange {
    /// An IPv4 prefix.
    pub const fn v4(addr: Ipv4Addr, prefix: u8) -> Self {
        IpRange { addr: IpAddr::V4(addr), prefix }
    }

    /// True for an IPv6 prefix: the rule matches IPv6 only (through an OXM match).
    pub fn is_ipv6(self) -> bool {
        self.addr.is_ipv6()
    }

    /// The canonical IPv4 match value: exact for /32, masked otherwise (§A.2.3);
    /// `None` for IPv6 and for `0.0.0.0/0` (no address field).
    pub fn ipv4_match(self) -> Option<Masked<Ipv4Addr>> {
        let IpAddr::V4(addr) = self.addr else { return None };
        if self.prefix == 0 {
            return None;
        }
        Some(if self.prefix >= 32 {
            Masked::exact(addr)
        } else {
            Masked { value: addr, mask: Some(Ipv4Addr::from(addr::ipv4_prefix_mask(self.prefix))) }
        })
    }

    /// The IPv6 match value and mask (`None` for /128, exact); `None` for IPv4 and
    /// for `::/0`, which matches any IPv6 address (no field at all).
    pub fn ipv6_match(self) -> Option<(Ipv6Addr, Option<Ipv6Addr>)> {
        let IpAddr::V6(addr) = self.addr else { return None };
        let mask = (self.prefix < 128).then(|| Ipv6Addr::from(addr::ipv6_prefix_mask(self.prefix)));
        (self.prefix > 0).then_some((addr, mask))
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which way the matched traffic flows, seen from the VIF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the VIF.
    From,
    /// Delivered to the VIF.
    To,
    /// Both.
    Both,
}

impl Direction {
    /// `from`, `to` or `both`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::From => "from",
            Direction::To => "to",
            Direction::Both => "both",
        }
    }

    /// Covers traffic sent by the VIF.
    pub fn includes_from(self) -> bool {
        matches!(self, Direction::From | Direction::Both)
    }

    /// Covers traffic delivered to the VIF.
    pub fn includes_to(self) -> bool {
        matches!(self, Direction::To | Direction::Both)
    }
}

/// Which side of the packet a rule's `port` names (`portSide`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortSide {
    /// The packet's destination port, whichever way it flows (the default).
    #[default]
    Destination,
    /// The VIF's own port: the source port of what it sends, the destination port
    /// of what it receives.
    Local,
    /// The remote side's port: the destination port of what the VIF sends, the
    /// source port of what it receives.
    Remote,
    /// Local or remote: one flow for each, local first.
    Either,
}

impl PortSide {
    /// `destination`, `local`, `remote` or `either`.
    pub fn name(self) -> &'static str {
        match self {
            PortSide::Destination => "destination",
            PortSide::Local => "local",
            PortSide::Remote => "remote",
            PortSide::Either => "either",
        }
    }

    /// Flows per masked port block, direction and endpoint: 2 for `either`, 1 otherwise.
    pub fn flows_per_block(self) -> usize {
        if self == PortSide::Either {
            2
        } else {
            1
        }
    }
}

/// A validated traffic rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The caller's id, kept as given.
    pub id: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// What it applies to.
    pub target: Target,
    /// Allow (output NORMAL) or drop.
    pub allow: bool,
    /// What it matches.
    pub protocol: Protocol,
    /// Port(s), only with tcp/udp: the destination port unless `port_side` says
    /// otherwise.
    pub port: Option<PortRange>,
    /// Which side of the packet `port` names; anything but `Destination` needs
    /// `port` and no `source_port` (what [`parse_rule`] lets through).
    pub port_side: PortSide,
    /// Source port(s), only with tcp/udp: the server side of a reply (a stateless
    /// firewall lets replies of a service back in by their source port).
    pub source_port: Option<PortRange>,
    /// ICMP type, only with icmp.
    pub icmp_type: Option<u8>,
    /// ICMP code, only with icmp.
    pub icmp_code: Option<u8>,
    /// The remote side's addresses; `None` = any.
    pub ip_range: Option<IpRange>,
    /// Which way.
    pub direction: Direction,
}

const RULE_FIELDS: &[&str] = &[
    "id",
    "description",
    "vif",
    "vm",
    "network",
    "pool",
    "allow",
    "protocol",
    "port",
    "portSide",
    "sourcePort",
    "icmpType",
    "icmpCode",
    "ipRange",
    "direction",
];
const TARGETS: [&str; 4] = ["vif", "vm", "network", "pool"];

/// `RULE_FIELDS.contains(k)`, compiled to a few comparisons (asked of every key of
/// every rule).
fn is_rule_field(k: &str) -> bool {
    matches!(
        k,
        "id" | "description"
            | "vif"
            | "vm"
            | "network"
            | "pool"
            | "allow"
            | "protocol"
            | "port"
            | "portSide"
            | "sourcePort"
            | "icmpType"
            | "icmpCode"
            | "ipRange"
            | "direction"
    )
}

/// `a string`, `a number`... for messages.
pub(crate) fn kind(v: &impl Scalar) -> &'static str {
    v.kind()
}

/// A present, non-null key.
fn get<'a, 'j>(obj: &'a Object<'j>, key: &str) -> Option<&'a Json<'j>> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Why a JSON value is not an integer.
pub(crate) enum NotInteger {
    /// Not a number at all.
    WrongType,
    /// A number with a fraction (or beyond any integer).
    Fraction,
}

/// The integer in `v` (a whole `f64` such as `1e3` counts).
pub(crate) fn integer(v: &impl Scalar) -> Result<i128, NotInteger> {
    let Some(n) = v.as_number() else { return Err(NotInteger::WrongType) };
    if let Some(u) = n.as_u64() {
        return Ok(i128::from(u));
    }
    if let Some(i) = n.as_i64() {
        return Ok(i128::from(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e30 => Ok(f as i128),
        _ => Err(NotInteger::Fraction),
    }
}

/// An integer in `lo..=hi`, with the three kinds of mistakes told apart.
fn int_in(field: &str, v: &Json<'_>, lo: i128, hi: i128) -> Result<i128, RuleError> {
    match integer(v) {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        Ok(n) => Err(range_err(field, format_args!("must be {lo} to {hi}, got {n}"))),
        Err(NotInteger::WrongType) => Err(type_err(field, format_args!("must be an integer, got {}", kind(v)))),
        Err(NotInteger::Fraction) => Err(type_err(
            field,
            format_args!("must be an integer, got {}", v.as_number().map_or_else(String::new, Number::to_string)),
        )),
    }
}

fn string<'a>(field: &str, v: &'a Json<'_>) -> Result<&'a str, RuleError> {
    v.as_str().ok_or_else(|| type_err(field, format_args!("must be a string, got {}", kind(v))))
}

/// Checks that `obj` has only `allowed` keys.
fn only_keys(obj: &Object<'_>, parent: &str, allowed: &[&str]) -> Result<(), RuleError> {
    // The first in key order, as when objects were read into sorted maps.
    match obj.keys().filter(|k| !allowed.contains(k)).min() {
        None => Ok(()),
        Some(k) => Err(value_err(
            &format!("{parent}.{k}"),
            format_args!("is not a field of rule.{parent} (fields: {})", allowed.join(", ")),
        )),
    }
}

/// A UUID `8-4-4-4-12` hex digits, lower-cased.
pub(crate) fn parse_uuid(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let ok = b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| if matches!(i, 8 | 13 | 18 | 23) { c == b'-' } else { c.is_ascii_hexdigit() });
    ok.then(|| s.to_ascii_lowercase())
}

/// Checks a MAC a VIF can have: the API's MAC grammar ([`addr::parse_mac`]:
/// `aa:bb:cc:dd:ee:ff`, any case), unicast, not all-zero. Messages read
/// `{prefix}{field} ...` (`rule.vif.mac ...`, `endpoints[0].mac ...`).
pub(crate) fn unicast_mac(prefix: &str, field: &str, v: &impl Scalar) -> Result<MacAddr, RuleError> {
    let s = v.as_str().ok_or_else(|| {
        RuleError::at(ERR_INVALID_ARG_TYPE, prefix, field, format_args!("must be a string, got {}", kind(v)))
    })?;
    let bad = |tail: String| RuleError::at(ERR_INVALID_ARG_VALUE, prefix, field, tail);
    let mac =
        addr::parse_mac(s).ok_or_else(|| bad(format!("must be a MAC address like aa:bb:cc:dd:ee:ff, got {s:?}")))?;
    if mac == MacAddr::ZERO {
        return Err(bad(format!("{mac} is the all-zero address; a VIF has a unicast MAC")));
    }
    if mac.0[0] & 1 != 0 {
        return Err(bad(format!(
            "{mac} is a multicast address (low bit of the first byte set); a VIF has a unicast MAC"
        )));
    }
    Ok(mac)
}

/// One plain IPv4 address (no mask), as a VIF's allowed address
/// ([`addr::parse_ipv4`]).
pub(crate) fn plain_ipv4(prefix: &str, field: &str, v: &impl Scalar) -> Result<Ipv4Addr, RuleError> {
    let s = v.as_str().ok_or_else(|| {
        RuleError::at(ERR_INVALID_ARG_TYPE, prefix, field, format_args!("must be a string, got {}", kind(v)))
    })?;
    let bad = |tail: String| RuleError::at(ERR_INVALID_ARG_VALUE, prefix, field, tail);
    if s.contains('/') {
        return Err(bad(format!("must be a single IPv4 address without a /prefix, got {s:?}")));
    }
    addr::parse_ipv4(s).ok_or_else(|| bad(format!("must be an IPv4 address like 192.168.1.10, got {s:?}")))
}

/// One of the addresses a VIF may send from (XAPI's `ipv4_allowed` and
/// `ipv6_allowed`): a plain IPv4 address ([`plain_ipv4`]) or, when it has a colon,
/// an IPv6 one as `std` reads it that a VIF can send from (not `::`, not multicast).
pub(crate) fn vif_ip(prefix: &str, field: &str, v: &impl Scalar) -> Result<IpAddr, RuleError> {
    let Some(text) = v.as_str().filter(|s| s.contains(':')) else {
        return plain_ipv4(prefix, field, v).map(IpAddr::V4);
    };
    let bad = |tail: String| RuleError::at(ERR_INVALID_ARG_VALUE, prefix, field, tail);
    match addr::parse_ipv6(text) {
        Some(ip) if ip.is_unspecified() || ip.is_multicast() => {
            Err(bad(format!("must be a unicast address a VIF sends from, got {text:?}")))
        }
        Some(ip) => Ok(IpAddr::V6(ip)),
        None => Err(bad(format!("must be an IPv4 or IPv6 address like 2001:db8::5, got {text:?}"))),
    }
}

fn uuid_field(field: &str, obj: &Object<'_>) -> Result<String, RuleError> {
    // The field's name is written only for an error: 10,000 rules of a batch have none.
    let f = || format!("{field}.uuid");
    let v = get(obj, "uuid").ok_or_else(|| type_err(&f(), "is required"))?;
    let s = v.as_str().ok_or_else(|| type_err(&f(), format_args!("must be a string, got {}", kind(v))))?;
    parse_uuid(s).ok_or_else(|| {
        value_err(&f(), format_args!("must be a UUID like 01234567-89ab-cdef-0123-456789abcdef, got {s:?}"))
    })
}

fn parse_vif(v: &Json<'_>) -> Result<Target, RuleError> {
    let obj = v.as_object().ok_or_else(|| {
        type_err("vif", format_args!("must be an object {{ uuid, mac, ips?, ofport? }}, got {}", kind(v)))
    })?;
    only_keys(obj, "vif", &["uuid", "mac", "ips", "ofport"])?;
    let uuid = uuid_field("vif", obj)?;
    let mac = get(obj, "mac").ok_or_else(|| type_err("vif.mac", "is required"))?;
    let mac = unicast_mac("rule.", "vif.mac", mac)?;
    let mut ips = Vec::new();
    if let Some(list) = get(obj, "ips") {
        let list = list.as_array().ok_or_else(|| {
            type_err("vif.ips", format_args!("must be an array of IP addresses, got {}", kind(list)))
        })?;
        for (i, ip) in list.iter().enumerate() {
            let ip = vif_ip("rule.", &format!("vif.ips[{i}]"), ip)?;
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    let ofport = match get(obj, "ofport") {
        None => None,
        Some(p) => Some(int_in("vif.ofport", p, 1, i128::from(MAX_OFPORT))? as u32),
    };
    Ok(Target::Vif(Vif { uuid, mac, ips, ofport }))
}

fn parse_target(obj: &Object<'_>) -> Result<Target, RuleError> {
    let given: Vec<&str> = TARGETS.iter().copied().filter(|t| get(obj, t).is_some()).collect();
    let (first, second) = match given[..] {
        [] => return Err(type_err("vif", "is missing: a rule needs a target: vif, vm, network or pool")),
        [one] => (one, None),
        [one, two, ..] => (one, Some(two)),
    };
    if let Some(second) = second {
        return Err(value_err(
            second,
            format_args!("cannot be given with rule.{first}: a rule has exactly one target (vif, vm, network or pool)"),
        ));
    }
    let v = get(obj, first).unwrap_or(&Json::Null);
    match first {
        "vif" => parse_vif(v),
        "pool" => match v {
            Json::Bool(true) => Ok(Target::Pool),
            Json::Bool(false) => Err(value_err("pool", "must be true to target the whole pool, got false")),
            other => Err(type_err("pool", format_args!("must be true, got {}", kind(other)))),
        },
        name => {
            let inner = v
                .as_object()
                .ok_or_else(|| type_err(name, format_args!("must be an object {{ uuid }}, got {}", kind(v))))?;
            only_keys(inner, name, &["uuid"])?;
            let uuid = uuid_field(name, inner)?;
            Ok(if name == "vm" { Target::Vm { uuid } } else { Target::Network { uuid } })
        }
    }
}

fn parse_protocol(v: Option<&Json<'_>>) -> Result<Protocol, RuleError> {
    let Some(v) = v else { return Ok(Protocol::Any) };
    let s = string("protocol", v)?;
    let lower = s.trim().to_ascii_lowercase();
    Ok(match lower.as_str() {
        "" | "any" | "all" => Protocol::Any,
        "ip" => Protocol::Ip,
        "arp" => Protocol::Arp,
        "icmp" => Protocol::Icmp,
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "icmpv6" | "icmp6" => Protocol::Icmpv6,
        "ipv6" | "ip6" => {
            return Err(value_err(
                "protocol",
                format_args!("{s:?} is not a protocol here: give protocol ip with an IPv6 ipRange (like 2001:db8::/32)"),
            ))
        }
        name => match service::lookup(name) {
            Some(svc) => Protocol::Service(svc),
            None => {
                return Err(value_err(
                    "protocol",
                    format_args!(
                        "{s:?} is unknown: use ip, arp, icmp, icmpv6, tcp, udp, any, or a service name (services are listed in README.md)"
                    ),
                ))
            }
        },
    })
}

/// One bound of a port range.
fn port_number(field: &str, v: &Json<'_>) -> Result<u16, RuleError> {
    int_in(field, v, 1, 65535).map(|p| p as u16)
}

fn port_text(field: &str, s: &str) -> Result<PortRange, RuleError> {
    let bad = || value_err(field, format_args!("must be a port or a range like \"1000-1010\", got {s:?}"));
    let num = |t: &str| -> Result<u16, RuleError> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match t.parse::<u32>() {
            Ok(n @ 1..=65535) => Ok(n as u16),
            _ => Err(range_err(field, format_args!("ports must be 1 to 65535, got {t} in {s:?}"))),
        }
    };
    match s.split_once('-') {
        None => num(s).map(|p| PortRange { lo: p, hi: p }),
        Some((a, b)) => Ok(PortRange { lo: num(a)?, hi: num(b)? }),
    }
}

fn parse_port(field: &str, v: &Json<'_>) -> Result<PortRange, RuleError> {
    let range = match v {
        Json::Number(_) => {
            let p = port_number(field, v)?;
            PortRange { lo: p, hi: p }
        }
        Json::String(s) => port_text(field, s)?,
        Json::Array(items) => match &items[..] {
            [lo, hi] => PortRange {
                lo: port_number(&format!("{field}[0]"), lo)?,
                hi: port_number(&format!("{field}[1]"), hi)?,
            },
            _ => {
                return Err(value_err(
                    field,
                    format_args!("as an array must be [lo, hi], got {} elements", items.len()),
                ))
            }
        },
        other => {
            return Err(type_err(
                field,
                format_args!("must be a port number, a range \"lo-hi\" or [lo, hi], got {}", kind(other)),
            ))
        }
    };
    if range.lo > range.hi {
        return Err(value_err(
            field,
            format_args!("range {}-{} is reversed: the first port must not exceed the second", range.lo, range.hi),
        ));
    }
    Ok(range)
}

/// `ipRange`: `""` (any address), `a.b.c.d` or `a.b.c.d/n` through
/// [`addr::parse_ipv4_masked`], or an IPv6 address or CIDR through
/// [`addr::parse_ipv6_prefixed`]; host bits clear; a netmask is refused.
fn parse_ip_range(v: &Json<'_>) -> Result<Option<IpRange>, RuleError> {
    let s = string("ipRange", v)?;
    if s.is_empty() {
        return Ok(None);
    }
    if s.contains(':') {
        return parse_ipv6_range(s);
    }
    let bad = || value_err("ipRange", format_args!("must be an IPv4 address or CIDR like 10.0.0.0/8, got {s:?}"));
    let netmask = || {
        value_err(
            "ipRange",
            format_args!("{s:?} gives a netmask; give a prefix length 0 to 32 instead (like 10.0.0.0/8)"),
        )
    };
    if s.split_once('/').is_some_and(|(_, m)| m.contains('.')) {
        return Err(netmask());
    }
    let (addr, prefix) = match addr::parse_ipv4_masked(s) {
        Ok((a, None)) => (a, 32),
        Ok((a, Some(IpMask::Prefix(p)))) => (a, p),
        Ok((_, Some(IpMask::Netmask(_)))) => return Err(netmask()),
        Err(MaskedIpError::PrefixOutOfRange) => {
            let p = s.split_once('/').map_or("", |(_, p)| p);
            return Err(range_err("ipRange", format_args!("prefix length must be 0 to 32, got /{p}")));
        }
        Err(MaskedIpError::Address | MaskedIpError::Mask) => return Err(bad()),
    };
    let mask = addr::ipv4_prefix_mask(prefix);
    if u32::from(addr) & !mask != 0 {
        let net = Ipv4Addr::from(u32::from(addr) & mask);
        return Err(value_err("ipRange", format_args!("{s} has host bits set; did you mean {net}/{prefix}?")));
    }
    Ok(Some(IpRange::v4(addr, prefix)))
}

/// The IPv6 part of [`parse_ip_range`]: `2001:db8::/32`, `fe80::1` (a /128).
fn parse_ipv6_range(s: &str) -> Result<Option<IpRange>, RuleError> {
    let (addr, prefix) = match addr::parse_ipv6_prefixed(s) {
        Ok((a, p)) => (a, p.unwrap_or(128)),
        Err(MaskedIpError::PrefixOutOfRange) => {
            let p = s.split_once('/').map_or("", |(_, p)| p);
            return Err(range_err("ipRange", format_args!("prefix length must be 0 to 128 for IPv6, got /{p}")));
        }
        Err(MaskedIpError::Address | MaskedIpError::Mask) => {
            return Err(value_err(
                "ipRange",
                format_args!("must be an IPv6 address or CIDR like 2001:db8::/32, got {s:?}"),
            ))
        }
    };
    let mask = addr::ipv6_prefix_mask(prefix);
    if u128::from(addr) & !mask != 0 {
        let net = Ipv6Addr::from(u128::from(addr) & mask);
        return Err(value_err("ipRange", format_args!("{s} has host bits set; did you mean {net}/{prefix}?")));
    }
    Ok(Some(IpRange { addr: IpAddr::V6(addr), prefix }))
}

fn parse_direction(v: Option<&Json<'_>>) -> Result<Direction, RuleError> {
    let v = v.ok_or_else(|| type_err("direction", "is required: from, to or both"))?;
    let s = string("direction", v)?;
    match s.trim().to_ascii_lowercase().as_str() {
        "from" => Ok(Direction::From),
        "to" => Ok(Direction::To),
        "both" | "from/to" | "to/from" => Ok(Direction::Both),
        _ => Err(value_err(
            "direction",
            format_args!("must be from, to or both (from/to and to/from also mean both), got {s:?}"),
        )),
    }
}

/// `portSide`, checked against the rule's `protocol`, `port` and `sourcePort`.
fn parse_port_side(
    v: Option<&Json<'_>>,
    protocol: Protocol,
    port: Option<PortRange>,
    source_port: Option<PortRange>,
) -> Result<PortSide, RuleError> {
    let Some(v) = v else { return Ok(PortSide::Destination) };
    let s = string("portSide", v)?;
    let side = match s.trim().to_ascii_lowercase().as_str() {
        "destination" => PortSide::Destination,
        "local" => PortSide::Local,
        "remote" => PortSide::Remote,
        "either" => PortSide::Either,
        _ => {
            return Err(value_err("portSide", format_args!("must be destination, local, remote or either, got {s:?}")))
        }
    };
    match protocol {
        Protocol::Tcp | Protocol::Udp => {}
        Protocol::Service(svc) => {
            return Err(value_err(
                "portSide",
                format_args!(
                    "needs protocol tcp or udp with a port, not service {:?} (a service fixes its own ports)",
                    svc.name
                ),
            ))
        }
        other => {
            return Err(value_err(
                "portSide",
                format_args!("needs protocol tcp or udp with a port, not {}", other.name()),
            ))
        }
    }
    if port.is_none() {
        return Err(value_err("portSide", "needs port: it says which side of the packet rule.port matches"));
    }
    if side != PortSide::Destination && source_port.is_some() {
        return Err(value_err(
            "portSide",
            format_args!(
                "{} cannot be combined with sourcePort: only portSide destination (the default) can, since \
                 sourcePort already takes the packet's source port",
                side.name()
            ),
        ));
    }
    Ok(side)
}

fn text_field(obj: &Object<'_>, field: &str, max: usize) -> Result<Option<String>, RuleError> {
    let Some(v) = get(obj, field) else { return Ok(None) };
    let s = string(field, v)?;
    let n = s.chars().count();
    if field == "id" && n == 0 {
        return Err(value_err(field, "must not be empty (omit it instead)"));
    }
    if n > max {
        return Err(value_err(field, format_args!("must be at most {max} characters, got {n}")));
    }
    Ok(Some(s.to_owned()))
}

fn icmp_field(
    obj: &Object<'_>,
    field: &str,
    protocol: Protocol,
    carried_in: &str,
) -> Result<Option<u8>, RuleError> {
    let Some(v) = get(obj, field) else { return Ok(None) };
    let n = int_in(field, v, 0, 255)? as u8;
    if !matches!(protocol, Protocol::Icmp | Protocol::Icmpv6) {
        return Err(value_err(
            field,
            format_args!(
                "needs protocol icmp or icmpv6, not {} (OpenFlow 1.1 matches it in {carried_in})",
                protocol.name()
            ),
        ));
    }
    Ok(Some(n))
}

/// Validates a JSON array of rules, each parsed and checked as it is read
/// ([`super::json`]); the error of rule `i` says `rules[i]: ...`.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RuleError> {
    parse_rules_then(text, |rule| rule)
}

/// [`parse_rules`], each rule handed to `then(rule)` once checked. A large batch is
/// read in parts on a few threads ([`crate::parallel`]), `then` too (so it must
/// only compute); a batch with a mistake is read again as a whole, which names
/// the first mistake as it always has.
pub fn parse_rules_then<T: Send>(text: &str, then: impl Fn(Rule) -> T + Sync) -> Result<Vec<T>, RuleError> {
    let threads = parallel::threads_for_text(text.len());
    if let Some(all) = (threads > 1).then(|| read_in_parts(text, threads, &then)).flatten() {
        return Ok(all);
    }
    let mut rules = Vec::new();
    super::json::for_each_element(text, |i, v: Json<'_>| {
        let rule = rule_from_json(&v).map_err(|mut e| {
            e.message = format!("rules[{i}]: {}", e.message);
            e
        })?;
        rules.push(then(rule));
        Ok(())
    })
    .map_err(|e| {
        e.unwrap_or_else(|e| RuleError {
            code: ERR_INVALID_ARG_VALUE,
            field: String::new(),
            message: format!("rules must be a JSON array of rules: {e}"),
        })
    })?;
    Ok(rules)
}

/// The rules of `text` read in up to `parts` parts, each on a thread of its own
/// ([`super::json::split_array`]), or `None` if it has fewer parts or a part does
/// not read (not JSON, or a mistake in a rule).
fn read_in_parts<T: Send>(text: &str, parts: usize, then: &(impl Fn(Rule) -> T + Sync)) -> Option<Vec<T>> {
    let runs = super::json::split_array(text, parts).filter(|runs| runs.len() > 1)?;
    let read = parallel::map_in_parallel(&runs, runs.len(), |_, run| {
        let mut part = Vec::new();
        super::json::for_each_element(&format!("[{run}]"), |_, v: Json<'_>| {
            part.push(then(rule_from_json(&v)?));
            Ok::<(), RuleError>(())
        })
        .ok()?;
        Some(part)
    })?;
    Some(read.into_iter().flatten().collect())
}

/// Validates a rule given as a `serde_json::Value` ([`rule_from_json`]).
pub fn parse_rule(v: &Value) -> Result<Rule, RuleError> {
    rule_from_json(&Json::from(v))
}

/// Validates a rule as sent from JS.
pub fn rule_from_json(v: &Json<'_>) -> Result<Rule, RuleError> {
    let obj = v.as_object().ok_or_else(|| RuleError {
        code: ERR_INVALID_ARG_TYPE,
        field: String::new(),
        message: format!("rule must be an object, got {}", kind(v)),
    })?;
    for key in ["priority", "cookie"] {
        if obj.contains_key(key) {
            return Err(value_err(key, "is set by the controller, not by the rule"));
        }
    }
    // The first in key order, as when rules were read into sorted maps.
    if let Some(k) = obj.keys().filter(|k| !is_rule_field(k)).min() {
        return Err(value_err(k, format_args!("is not a rule field (fields: {})", RULE_FIELDS.join(", "))));
    }
    let target = parse_target(obj)?;
    let allow = match get(obj, "allow") {
        None => return Err(type_err("allow", "is required: true to allow the traffic, false to drop it")),
        Some(Json::Bool(b)) => *b,
        Some(other) => return Err(type_err("allow", format_args!("must be a boolean, got {}", kind(other)))),
    };
    let protocol = parse_protocol(get(obj, "protocol"))?;
    let port = match get(obj, "port") {
        None => None,
        Some(p) => {
            let range = parse_port("port", p)?;
            match protocol {
                Protocol::Tcp | Protocol::Udp => Some(range),
                Protocol::Service(s) => {
                    let ports: Vec<String> = s.clauses.iter().map(|(t, p)| format!("{}/{p}", t.name())).collect();
                    return Err(value_err(
                        "port",
                        format_args!(
                            "cannot be given with service {:?}: it fixes its own ports ({})",
                            s.name,
                            ports.join(", ")
                        ),
                    ));
                }
                other => {
                    return Err(value_err(
                        "port",
                        format_args!(
                            "needs protocol tcp or udp (or a service, which fixes its own ports), not {}; \
                             for icmp use icmpType/icmpCode",
                            other.name()
                        ),
                    ))
                }
            }
        }
    };
    let source_port = match get(obj, "sourcePort") {
        None => None,
        Some(p) => {
            let range = parse_port("sourcePort", p)?;
            if !matches!(protocol, Protocol::Tcp | Protocol::Udp) {
                return Err(value_err(
                    "sourcePort",
                    format_args!("needs protocol tcp or udp, not {}", protocol.name()),
                ));
            }
            Some(range)
        }
    };
    let port_side = parse_port_side(get(obj, "portSide"), protocol, port, source_port)?;
    let icmp_type = icmp_field(obj, "icmpType", protocol, "tp_src")?;
    let icmp_code = icmp_field(obj, "icmpCode", protocol, "tp_dst")?;
    let ip_range = match get(obj, "ipRange") {
        None => None,
        Some(r) => parse_ip_range(r)?,
    };
    // `any` has no ethertype, hence no family: 0.0.0.0/0 with it is no range at all.
    let ip_range = ip_range.filter(|r| !(protocol == Protocol::Any && *r == IpRange::v4(Ipv4Addr::UNSPECIFIED, 0)));
    if ip_range.is_some() && protocol == Protocol::Any {
        return Err(value_err("ipRange", "needs a protocol: ip, arp, icmp, icmpv6, tcp, udp or a service"));
    }
    // One address family per rule: ARP and ICMP are IPv4's, ICMPv6 is IPv6's.
    match (ip_range.map(IpRange::is_ipv6), protocol) {
        (Some(true), Protocol::Arp | Protocol::Icmp) => {
            return Err(value_err(
                "ipRange",
                format_args!("is IPv6 but protocol {} is IPv4 only (icmpv6 is ICMP for IPv6)", protocol.name()),
            ))
        }
        (Some(false), Protocol::Icmpv6) => {
            return Err(value_err("ipRange", "is IPv4 but protocol icmpv6 is IPv6 only (give an IPv6 range)"))
        }
        _ => {}
    }
    let direction = parse_direction(get(obj, "direction"))?;
    let id = text_field(obj, "id", MAX_ID_CHARS)?;
    let description = text_field(obj, "description", MAX_DESCRIPTION_CHARS)?;
    Ok(Rule {
        id,
        description,
        target,
        allow,
        protocol,
        port,
        port_side,
        source_port,
        icmp_type,
        icmp_code,
        ip_range,
        direction,
    })
}

impl Rule {
    /// The normalized form: lower-case names and UUIDs, `:`-separated lower-case
    /// MAC, `port` as a number or `[lo, hi]`, `portSide` lower case (omitted when
    /// `destination`, the default), `ipRange` always `a.b.c.d/n` (omitted when
    /// any), `direction` one of `from`/`to`/`both`. [`parse_rule`] accepts it back
    /// unchanged.
    pub fn to_json(&self) -> Value {
        // Plain fields and string keys: serializing cannot fail.
        serde_json::to_value(self.normalized()).unwrap_or_default()
    }

    /// [`Rule::to_json`]'s text, written without building the map (what the validator
    /// answers for each of 10,000 rules).
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &self.normalized())
    }

    /// [`Rule::write_json`] without the `id` field (a list keeps the id beside the rule).
    pub fn write_json_without_id(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &Text { id: None, ..self.normalized() })
    }

    /// The target part of [`Rule::write_json`]'s text alone (`vif`, `vm`, `network`
    /// or `pool`, written the same way): what decides where the rule lands, which
    /// rules of one VIF share.
    pub fn write_target_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &self.target_text())
    }

    fn target_text(&self) -> TargetText<'_> {
        let mut t = TargetText { network: None, pool: None, vif: None, vm: None };
        match &self.target {
            Target::Vif(v) => {
                t.vif = Some(VifText { ips: &v.ips, mac: &v.mac, ofport: v.ofport, uuid: &v.uuid })
            }
            Target::Vm { uuid } => t.vm = Some(UuidText { uuid }),
            Target::Network { uuid } => t.network = Some(UuidText { uuid }),
            Target::Pool => t.pool = Some(true),
        }
        t
    }

    fn normalized(&self) -> Text<'_> {
        let ports = |p: PortRange| if p.lo == p.hi { Ports::One(p.lo) } else { Ports::Range([p.lo, p.hi]) };
        let TargetText { network, pool, vif, vm } = self.target_text();
        Text {
            allow: self.allow,
            description: self.description.as_deref(),
            direction: self.direction.name(),
            icmp_code: self.icmp_code,
            icmp_type: self.icmp_type,
            id: self.id.as_deref(),
            ip_range: self.ip_range,
            network,
            pool,
            port: self.port.map(ports),
            port_side: (self.port_side != PortSide::Destination).then(|| self.port_side.name()),
            protocol: self.protocol.name(),
            source_port: self.source_port.map(ports),
            vif,
            vm,
        }
    }
}

/// An `ipRange` as its text (`a.b.c.d/n`), written straight into the output.
fn range_text<S: serde::Serializer>(range: &Option<IpRange>, s: S) -> Result<S::Ok, S::Error> {
    match range {
        Some(r) => s.collect_str(r),
        None => s.serialize_none(),
    }
}

#[derive(serde::Serialize)]
struct UuidText<'a> {
    uuid: &'a str,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Ports {
    One(u16),
    Range([u16; 2]),
}

// Addresses are written as they are serialized (no String of their own per rule):
// a MAC by `MacAddr`'s Serialize, an IP by std's (its Display), a range by Display.
#[derive(serde::Serialize)]
struct VifText<'a> {
    #[serde(skip_serializing_if = "<[IpAddr]>::is_empty")]
    ips: &'a [IpAddr],
    mac: &'a MacAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    ofport: Option<u32>,
    uuid: &'a str,
}

/// A rule's normalized form, fields in the sorted order a `serde_json` map prints them
/// (so [`Rule::write_json`] and [`Rule::to_json`] give one text; a test holds them equal).
#[derive(serde::Serialize)]
struct Text<'a> {
    allow: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    direction: &'static str,
    #[serde(rename = "icmpCode", skip_serializing_if = "Option::is_none")]
    icmp_code: Option<u8>,
    #[serde(rename = "icmpType", skip_serializing_if = "Option::is_none")]
    icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "ipRange", skip_serializing_if = "Option::is_none", serialize_with = "range_text")]
    ip_range: Option<IpRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<UuidText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<Ports>,
    #[serde(rename = "portSide", skip_serializing_if = "Option::is_none")]
    port_side: Option<&'static str>,
    protocol: &'static str,
    #[serde(rename = "sourcePort", skip_serializing_if = "Option::is_none")]
    source_port: Option<Ports>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vif: Option<VifText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vm: Option<UuidText<'a>>,
}

/// [`Text`]'s target fields alone, in its order.
#[derive(serde::Serialize)]
struct TargetText<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<UuidText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vif: Option<VifText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vm: Option<UuidText<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A batch large enough to be checked on several threads: every rule field in
    /// turn, with and without ids.
    fn large_batch() -> Vec<Value> {
        (0..3 * crate::parallel::PARALLEL_FROM)
            .map(|k| {
                let mut r = json!({
                    "vif": { "uuid": format!("00000000-0000-0000-0000-{:012}", k % 97), "mac": "02:00:00:00:00:01" },
                    "allow": k % 3 == 0, "direction": (["from", "to", "both"][k % 3]),
                });
                match k % 5 {
                    0 => r["protocol"] = json!("tcp"),
                    1 => r["port"] = json!(1000 + k),
                    2 => {
                        r["ipRange"] = json!("10.0.0.0/8");
                        r["protocol"] = json!("icmp");
                    }
                    3 => r["description"] = json!(format!("rule \"{k}\", [x]")),
                    _ => r["id"] = json!(format!("r{k}")),
                }
                if k % 5 == 1 {
                    r["protocol"] = json!("udp");
                }
                r
            })
            .collect()
    }

    #[test]
    fn a_large_batch_reads_as_one_thread_reads_it() {
        let batch = large_batch();
        let text = serde_json::to_string(&batch).unwrap();
        let one_by_one: Vec<Rule> = batch.iter().map(|r| parse_rule(r).unwrap()).collect();
        let read = parse_rules(&text).unwrap();
        assert_eq!(read, one_by_one);
        // In parts, whatever the cores of the machine running the test.
        for parts in [2, 3, 4] {
            assert_eq!(read_in_parts(&text, parts, &|rule| rule).as_ref(), Some(&one_by_one), "{parts}");
        }
    }

    #[test]
    fn a_mistake_in_a_large_batch_is_named_as_one_thread_names_it() {
        let batch = large_batch();
        let n = batch.len();
        for (at, mistake) in [(0, json!({ "allow": true })), (n / 2, json!("x")), (n - 1, json!({ "vif": 1, "allow": true }))] {
            let mut broken = batch.clone();
            broken[at] = mistake.clone();
            // A second mistake, later (on another thread), must not be the one named.
            if at + 1 < n {
                broken[n - 1] = json!(null);
            }
            let text = serde_json::to_string(&broken).unwrap();
            assert_eq!(read_in_parts(&text, 2, &|rule| rule), None, "a part with a mistake does not read");
            let e = parse_rules(&text).unwrap_err();
            let alone = parse_rule(&mistake).unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (alone.code, format!("rules[{at}]: {}", alone.message).as_str()));
        }
        // Malformed JSON: serde_json's own message, with the position in the whole text.
        let text = serde_json::to_string(&batch).unwrap();
        let cut = format!("{}]", &text[..text.len() - 40]);
        let e = parse_rules(&cut).unwrap_err();
        assert!(e.message.starts_with("rules must be a JSON array of rules: ") && e.message.contains("column"), "{}", e.message);
    }

    /// write_json must be to_json's text byte for byte (its fields in the sorted order
    /// of to_json's map): the validator answers with one, the list and compiler were
    /// proven on the other.
    #[test]
    fn write_json_is_to_json_text_for_every_kind_of_rule() {
        let targets = [
            json!({ "vif": { "uuid": "00000000-0000-0000-0000-00000000000A", "mac": "02:00:00:00:00:01" } }),
            json!({ "vif": { "uuid": "00000000-0000-0000-0000-000000000001", "mac": "02-00-00-00-00-0F", "ips": ["10.0.0.2", "10.0.0.1"], "ofport": 7 } }),
            json!({ "vm": { "uuid": "00000000-0000-0000-0000-000000000002" } }),
            json!({ "network": { "uuid": "00000000-0000-0000-0000-000000000003" } }),
            json!({ "pool": true }),
        ];
        let shapes = [
            json!({ "protocol": "tcp", "port": 22 }),
            json!({ "protocol": "udp", "port": [1000, 1003], "portSide": "remote" }),
            json!({ "protocol": "tcp", "port": 80, "sourcePort": [1024, 1030] }),
            json!({ "protocol": "tcp", "port": "5060", "portSide": "either" }),
            json!({ "protocol": "icmp", "icmpType": 8, "icmpCode": 0 }),
            json!({ "protocol": "sip" }),
            json!({ "protocol": "arp" }),
            json!({ "protocol": "ip", "ipRange": "10.1.2.3/8" }),
            json!({ "protocol": "any" }),
            json!({ "protocol": "udp", "ipRange": "192.168.5.55" }),
        ];
        let extras = [json!({}), json!({ "id": "r-1", "description": "caf\u{e9} \"quoted\" \\ line\nbreak" })];
        let mut seen = 0;
        for t in &targets {
            for shape in &shapes {
                for extra in &extras {
                    for (allow, direction) in [(true, "from"), (false, "to"), (false, "both"), (true, "from/to")] {
                        let mut v = json!({ "allow": allow, "direction": direction });
                        for part in [t, shape, extra] {
                            for (k, x) in part.as_object().unwrap() {
                                v[k] = x.clone();
                            }
                        }
                        let Ok(rule) = parse_rule(&v) else { continue };
                        let mut text = Vec::new();
                        rule.write_json(&mut text).unwrap();
                        assert_eq!(String::from_utf8(text).unwrap(), rule.to_json().to_string(), "{v}");
                        // The target text is the target fields of the whole, as written there.
                        let mut target = Vec::new();
                        rule.write_target_json(&mut target).unwrap();
                        let whole = rule.to_json();
                        let mut only = serde_json::Map::new();
                        for k in ["network", "pool", "vif", "vm"] {
                            if let Some(x) = whole.get(k) {
                                only.insert(k.to_owned(), x.clone());
                            }
                        }
                        assert_eq!(String::from_utf8(target).unwrap(), Value::Object(only).to_string(), "{v}");
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen >= 250, "only {seen} rules were valid");
    }

    const UUID: &str = "00000000-0000-0000-0000-000000000001";

    fn base() -> Value {
        json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01" }, "allow": true, "direction": "from" })
    }

    /// `base()` with `patch` merged in (a `null` in the patch removes the key).
    fn with(patch: Value) -> Value {
        let mut v = base();
        for (k, x) in patch.as_object().unwrap() {
            if x.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = x.clone();
            }
        }
        v
    }

    fn ok(v: Value) -> Rule {
        parse_rule(&v).unwrap_or_else(|e| panic!("{v} refused: {e}"))
    }

    #[test]
    fn every_mistake_has_its_own_code_field_and_message() {
        let long_id = "x".repeat(129);
        let long_desc = "d".repeat(1025);
        #[rustfmt::skip]
        let cases: Vec<(Value, &str, &str, &str)> = vec![
            (json!([1]), ERR_INVALID_ARG_TYPE, "", "rule must be an object, got an array"),
            (with(json!({ "name": "x" })), ERR_INVALID_ARG_VALUE, "name", "rule.name is not a rule field"),
            (with(json!({ "priority": 5 })), ERR_INVALID_ARG_VALUE, "priority", "rule.priority is set by the controller"),
            (with(json!({ "cookie": 5 })), ERR_INVALID_ARG_VALUE, "cookie", "rule.cookie is set by the controller"),
            (with(json!({ "vif": null })), ERR_INVALID_ARG_TYPE, "vif", "rule.vif is missing: a rule needs a target: vif, vm, network or pool"),
            (with(json!({ "vm": { "uuid": UUID } })), ERR_INVALID_ARG_VALUE, "vm", "rule.vm cannot be given with rule.vif"),
            (with(json!({ "vif": "x" })), ERR_INVALID_ARG_TYPE, "vif", "rule.vif must be an object { uuid, mac, ips?, ofport? }, got a string"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "name": "eth0" } })), ERR_INVALID_ARG_VALUE, "vif.name", "rule.vif.name is not a field of rule.vif (fields: uuid, mac, ips, ofport)"),
            (with(json!({ "vif": { "mac": "02:00:00:00:00:01" } })), ERR_INVALID_ARG_TYPE, "vif.uuid", "rule.vif.uuid is required"),
            (with(json!({ "vif": { "uuid": 1, "mac": "02:00:00:00:00:01" } })), ERR_INVALID_ARG_TYPE, "vif.uuid", "rule.vif.uuid must be a string, got a number"),
            (with(json!({ "vif": { "uuid": "0000-1", "mac": "02:00:00:00:00:01" } })), ERR_INVALID_ARG_VALUE, "vif.uuid", "rule.vif.uuid must be a UUID like"),
            (with(json!({ "vif": { "uuid": UUID } })), ERR_INVALID_ARG_TYPE, "vif.mac", "rule.vif.mac is required"),
            (with(json!({ "vif": { "uuid": UUID, "mac": 2 } })), ERR_INVALID_ARG_TYPE, "vif.mac", "rule.vif.mac must be a string, got a number"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "zz" } })), ERR_INVALID_ARG_VALUE, "vif.mac", "rule.vif.mac must be a MAC address like aa:bb:cc:dd:ee:ff, got \"zz\""),
            (with(json!({ "vif": { "uuid": UUID, "mac": "01:00:5e:00:00:01" } })), ERR_INVALID_ARG_VALUE, "vif.mac", "rule.vif.mac 01:00:5e:00:00:01 is a multicast address"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "00:00:00:00:00:00" } })), ERR_INVALID_ARG_VALUE, "vif.mac", "rule.vif.mac 00:00:00:00:00:00 is the all-zero address"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ips": "10.0.0.1" } })), ERR_INVALID_ARG_TYPE, "vif.ips", "rule.vif.ips must be an array of IP addresses, got a string"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ips": ["10.0.0.1", 7] } })), ERR_INVALID_ARG_TYPE, "vif.ips[1]", "rule.vif.ips[1] must be a string, got a number"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ips": ["10.0.0.0/24"] } })), ERR_INVALID_ARG_VALUE, "vif.ips[0]", "rule.vif.ips[0] must be a single IPv4 address without a /prefix"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ips": ["::"] } })), ERR_INVALID_ARG_VALUE, "vif.ips[0]", "rule.vif.ips[0] must be a unicast address a VIF sends from, got \"::\""),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ips": ["ff02::1"] } })), ERR_INVALID_ARG_VALUE, "vif.ips[0]", "rule.vif.ips[0] must be a unicast address a VIF sends from, got \"ff02::1\""),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ips": ["2001:db8::/64"] } })), ERR_INVALID_ARG_VALUE, "vif.ips[0]", "rule.vif.ips[0] must be an IPv4 or IPv6 address like 2001:db8::5, got \"2001:db8::/64\""),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ips": ["10.0.0.256"] } })), ERR_INVALID_ARG_VALUE, "vif.ips[0]", "rule.vif.ips[0] must be an IPv4 address like 192.168.1.10"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ofport": "4" } })), ERR_INVALID_ARG_TYPE, "vif.ofport", "rule.vif.ofport must be an integer, got a string"),
            (with(json!({ "vif": { "uuid": UUID, "mac": "02:00:00:00:00:01", "ofport": 0 } })), ERR_OUT_OF_RANGE, "vif.ofport", "rule.vif.ofport must be 1 to 4294967039, got 0"),
            (json!({ "vm": 3, "allow": true, "direction": "to" }), ERR_INVALID_ARG_TYPE, "vm", "rule.vm must be an object { uuid }, got a number"),
            (json!({ "vm": { "uuid": UUID, "name": "x" }, "allow": true, "direction": "to" }), ERR_INVALID_ARG_VALUE, "vm.name", "rule.vm.name is not a field of rule.vm (fields: uuid)"),
            (json!({ "network": { "uuid": "nope" }, "allow": true, "direction": "to" }), ERR_INVALID_ARG_VALUE, "network.uuid", "rule.network.uuid must be a UUID like"),
            (json!({ "pool": false, "allow": true, "direction": "to" }), ERR_INVALID_ARG_VALUE, "pool", "rule.pool must be true to target the whole pool, got false"),
            (json!({ "pool": "yes", "allow": true, "direction": "to" }), ERR_INVALID_ARG_TYPE, "pool", "rule.pool must be true, got a string"),
            (with(json!({ "allow": null })), ERR_INVALID_ARG_TYPE, "allow", "rule.allow is required: true to allow the traffic, false to drop it"),
            (with(json!({ "allow": "yes" })), ERR_INVALID_ARG_TYPE, "allow", "rule.allow must be a boolean, got a string"),
            (with(json!({ "protocol": 6 })), ERR_INVALID_ARG_TYPE, "protocol", "rule.protocol must be a string, got a number"),
            (with(json!({ "protocol": "IPv6" })), ERR_INVALID_ARG_VALUE, "protocol", "rule.protocol \"IPv6\" is not a protocol here: give protocol ip with an IPv6 ipRange"),
            (with(json!({ "protocol": "gopher" })), ERR_INVALID_ARG_VALUE, "protocol", "rule.protocol \"gopher\" is unknown: use ip, arp, icmp, icmpv6, tcp, udp, any, or a service name (services are listed in README.md)"),
            (with(json!({ "port": 80 })), ERR_INVALID_ARG_VALUE, "port", "rule.port needs protocol tcp or udp (or a service, which fixes its own ports), not any"),
            (with(json!({ "protocol": "icmp", "port": 80 })), ERR_INVALID_ARG_VALUE, "port", "rule.port needs protocol tcp or udp (or a service, which fixes its own ports), not icmp; for icmp use icmpType/icmpCode"),
            (with(json!({ "protocol": "sip", "port": 5060 })), ERR_INVALID_ARG_VALUE, "port", "rule.port cannot be given with service \"sip\": it fixes its own ports (tcp/5060)"),
            (with(json!({ "protocol": "tcp", "port": true })), ERR_INVALID_ARG_TYPE, "port", "rule.port must be a port number, a range \"lo-hi\" or [lo, hi], got a boolean"),
            (with(json!({ "protocol": "tcp", "port": 1.5 })), ERR_INVALID_ARG_TYPE, "port", "rule.port must be an integer, got 1.5"),
            (with(json!({ "protocol": "tcp", "port": 0 })), ERR_OUT_OF_RANGE, "port", "rule.port must be 1 to 65535, got 0"),
            (with(json!({ "protocol": "tcp", "port": 70000 })), ERR_OUT_OF_RANGE, "port", "rule.port must be 1 to 65535, got 70000"),
            (with(json!({ "protocol": "tcp", "port": "http" })), ERR_INVALID_ARG_VALUE, "port", "rule.port must be a port or a range like \"1000-1010\", got \"http\""),
            (with(json!({ "protocol": "tcp", "port": "0-10" })), ERR_OUT_OF_RANGE, "port", "rule.port ports must be 1 to 65535, got 0 in \"0-10\""),
            (with(json!({ "protocol": "tcp", "port": "1010-1000" })), ERR_INVALID_ARG_VALUE, "port", "rule.port range 1010-1000 is reversed"),
            (with(json!({ "protocol": "tcp", "port": [1] })), ERR_INVALID_ARG_VALUE, "port", "rule.port as an array must be [lo, hi], got 1 elements"),
            (with(json!({ "protocol": "tcp", "port": ["a", 2] })), ERR_INVALID_ARG_TYPE, "port[0]", "rule.port[0] must be an integer, got a string"),
            (with(json!({ "protocol": "icmp", "icmpType": "8" })), ERR_INVALID_ARG_TYPE, "icmpType", "rule.icmpType must be an integer, got a string"),
            (with(json!({ "protocol": "icmp", "icmpType": 256 })), ERR_OUT_OF_RANGE, "icmpType", "rule.icmpType must be 0 to 255, got 256"),
            (with(json!({ "protocol": "tcp", "icmpType": 8 })), ERR_INVALID_ARG_VALUE, "icmpType", "rule.icmpType needs protocol icmp or icmpv6, not tcp (OpenFlow 1.1 matches it in tp_src)"),
            (with(json!({ "icmpCode": 0 })), ERR_INVALID_ARG_VALUE, "icmpCode", "rule.icmpCode needs protocol icmp or icmpv6, not any (OpenFlow 1.1 matches it in tp_dst)"),
            (with(json!({ "protocol": "icmpv6", "icmpCode": -1 })), ERR_OUT_OF_RANGE, "icmpCode", "rule.icmpCode must be 0 to 255, got -1"),
            (with(json!({ "protocol": "ip", "ipRange": 10 })), ERR_INVALID_ARG_TYPE, "ipRange", "rule.ipRange must be a string, got a number"),
            (with(json!({ "protocol": "ip", "ipRange": "10.0.0" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange must be an IPv4 address or CIDR like 10.0.0.0/8, got \"10.0.0\""),
            (with(json!({ "protocol": "ip", "ipRange": "10.0.0.0/33" })), ERR_OUT_OF_RANGE, "ipRange", "rule.ipRange prefix length must be 0 to 32, got /33"),
            (with(json!({ "protocol": "ip", "ipRange": "10.0.0.0/255.0.0.0" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange \"10.0.0.0/255.0.0.0\" gives a netmask"),
            (with(json!({ "protocol": "ip", "ipRange": "10.0.0.1/24" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange 10.0.0.1/24 has host bits set; did you mean 10.0.0.0/24?"),
            (with(json!({ "protocol": "ip", "ipRange": "fd00::1/8" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange fd00::1/8 has host bits set; did you mean fd00::/8?"),
            (with(json!({ "protocol": "ip", "ipRange": "2001:db8::/129" })), ERR_OUT_OF_RANGE, "ipRange", "rule.ipRange prefix length must be 0 to 128 for IPv6, got /129"),
            (with(json!({ "protocol": "ip", "ipRange": "2001:db8::g/32" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange must be an IPv6 address or CIDR like 2001:db8::/32, got \"2001:db8::g/32\""),
            (with(json!({ "protocol": "icmp", "ipRange": "2001:db8::/32" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange is IPv6 but protocol icmp is IPv4 only"),
            (with(json!({ "protocol": "arp", "ipRange": "fe80::1" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange is IPv6 but protocol arp is IPv4 only"),
            (with(json!({ "protocol": "icmpv6", "ipRange": "10.0.0.0/8" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange is IPv4 but protocol icmpv6 is IPv6 only"),
            (with(json!({ "ipRange": "10.0.0.0/8" })), ERR_INVALID_ARG_VALUE, "ipRange", "rule.ipRange needs a protocol: ip, arp, icmp, icmpv6, tcp, udp or a service"),
            (with(json!({ "direction": null })), ERR_INVALID_ARG_TYPE, "direction", "rule.direction is required: from, to or both"),
            (with(json!({ "direction": 1 })), ERR_INVALID_ARG_TYPE, "direction", "rule.direction must be a string, got a number"),
            (with(json!({ "direction": "in" })), ERR_INVALID_ARG_VALUE, "direction", "rule.direction must be from, to or both (from/to and to/from also mean both), got \"in\""),
            (with(json!({ "id": 7 })), ERR_INVALID_ARG_TYPE, "id", "rule.id must be a string, got a number"),
            (with(json!({ "id": "" })), ERR_INVALID_ARG_VALUE, "id", "rule.id must not be empty (omit it instead)"),
            (with(json!({ "id": long_id })), ERR_INVALID_ARG_VALUE, "id", "rule.id must be at most 128 characters, got 129"),
            (with(json!({ "description": ["x"] })), ERR_INVALID_ARG_TYPE, "description", "rule.description must be a string, got an array"),
            (with(json!({ "description": long_desc })), ERR_INVALID_ARG_VALUE, "description", "rule.description must be at most 1024 characters, got 1025"),
        ];
        assert!(cases.len() >= 40);
        let mut messages = std::collections::HashSet::new();
        for (input, code, field, message) in &cases {
            let e = parse_rule(input).expect_err(&format!("{input} should be refused"));
            // The batch path reads the text itself: the same refusal, named by index.
            let batch = parse_rules(&format!("[{input}]")).expect_err("refused in a batch too");
            assert_eq!((batch.code, batch.message.as_str()), (e.code, format!("rules[0]: {}", e.message).as_str()));
            assert_eq!((e.code, e.field.as_str()), (*code, *field), "{input}: {e}");
            assert!(e.message.starts_with(message), "{input}:\n  got  {}\n  want {message}...", e.message);
            let path = if field.is_empty() { "rule".to_owned() } else { format!("rule.{field}") };
            assert!(e.message.starts_with(&path), "{} does not start with its field", e.message);
            assert!(messages.insert(e.message.clone()), "message given twice: {}", e.message);
        }
    }

    #[test]
    fn normalizes() {
        let r = ok(json!({
            "id": "r1", "description": "no SIP",
            "vif": { "uuid": "ABCDEF01-2345-6789-ABCD-EF0123456789", "mac": "AE:F7:4B:84:6C:8B",
                     "ips": ["192.168.5.242", "192.168.5.242", "10.0.0.1"], "ofport": 4 },
            "allow": false, "protocol": " TCP ", "port": "1000-1010", "ipRange": "12.0.0.0/12", "direction": "To/From",
        }));
        assert_eq!(
            r.to_json(),
            json!({
                "id": "r1", "description": "no SIP",
                "vif": { "uuid": "abcdef01-2345-6789-abcd-ef0123456789", "mac": "ae:f7:4b:84:6c:8b",
                         "ips": ["192.168.5.242", "10.0.0.1"], "ofport": 4 },
                "allow": false, "protocol": "tcp", "port": [1000, 1010], "ipRange": "12.0.0.0/12", "direction": "both",
            })
        );
        assert_eq!(parse_rule(&r.to_json()), Ok(r), "the normalized form reads back the same");
    }

    /// What a state file keeps of a rule's address family reads back as it was.
    #[test]
    fn address_families_read_back_from_the_normalized_form() {
        for (given, protocol, want) in [
            ("2001:DB8::/32", "tcp", Some("2001:db8::/32")),
            ("::/0", "ip", Some("::/0")),
            ("fe80::1", "icmpv6", Some("fe80::1/128")),
            ("0.0.0.0/0", "udp", Some("0.0.0.0/0")),
            ("", "ssh", None),
        ] {
            let r = ok(with(json!({ "protocol": protocol, "ipRange": given })));
            assert_eq!(r.to_json().get("ipRange").and_then(Value::as_str), want, "{given}");
            assert_eq!(parse_rule(&r.to_json()), Ok(r), "{given}");
        }
    }

    #[test]
    fn normalizes_the_small_forms() {
        let r = ok(with(json!({ "protocol": "", "ipRange": "" })));
        assert_eq!(r.protocol, Protocol::Any);
        assert_eq!(r.ip_range, None);
        assert!(r.to_json().get("ipRange").is_none());
        assert_eq!(ok(with(json!({ "protocol": "ALL" }))).protocol, Protocol::Any);
        assert_eq!(ok(with(json!({ "protocol": "any", "ipRange": "0.0.0.0/0" }))).ip_range, None, "/0 is any");
        let r = ok(with(json!({ "protocol": "udp", "port": [53, 53], "ipRange": "10.1.2.3" })));
        assert_eq!(r.to_json()["port"], json!(53));
        assert_eq!(r.to_json()["ipRange"], json!("10.1.2.3/32"));
        assert_eq!(ok(with(json!({ "protocol": "tcp", "port": "443" }))).port, Some(PortRange { lo: 443, hi: 443 }));
        assert_eq!(ok(with(json!({ "protocol": "tcp", "port": 8e1 }))).port, Some(PortRange { lo: 80, hi: 80 }));
        assert_eq!(ok(with(json!({ "direction": "FROM/TO" }))).direction, Direction::Both);
        let pool = ok(json!({ "pool": true, "allow": false, "direction": "to", "vm": null }));
        assert_eq!(pool.to_json(), json!({ "pool": true, "allow": false, "protocol": "any", "direction": "to" }));
        let net = ok(json!({ "network": { "uuid": UUID }, "allow": true, "direction": "both" }));
        assert_eq!(net.target, Target::Network { uuid: UUID.into() });
        let vm = ok(json!({ "vm": { "uuid": UUID }, "allow": true, "direction": "both", "protocol": "icmp",
                            "icmpType": 8, "icmpCode": 0 }));
        assert_eq!((vm.icmp_type, vm.icmp_code), (Some(8), Some(0)));
        assert_eq!(parse_rule(&vm.to_json()), Ok(vm));
    }

    #[test]
    fn services_by_name() {
        let r = ok(with(json!({ "protocol": "SIP" })));
        assert_eq!(r.protocol.name(), "sip");
        assert_eq!(r.to_json()["protocol"], json!("sip"));
        assert_eq!(ok(with(json!({ "protocol": "https", "ipRange": "10.0.0.0/8" }))).protocol.name(), "https");
    }

    #[test]
    fn any_port_range_is_accepted_since_ranges_compile_to_masked_blocks() {
        let every = ok(with(json!({ "protocol": "tcp", "port": [1, 65535], "sourcePort": "1-65535" })));
        assert_eq!(every.port, Some(PortRange { lo: 1, hi: 65535 }));
        assert_eq!(every.source_port.map(PortRange::len), Some(65535));
        let either = ok(with(json!({ "protocol": "udp", "port": "1000-2000", "portSide": "either" })));
        assert_eq!((either.port.map(PortRange::len), either.port_side), (Some(1001), PortSide::Either));
    }

    #[test]
    fn port_side_refusals_have_their_code_and_field() {
        let tcp = |patch: Value| {
            let mut v = with(json!({ "protocol": "tcp", "port": 5060 }));
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        #[rustfmt::skip]
        let cases: Vec<(Value, &str, &str, &str)> = vec![
            (tcp(json!({ "portSide": 1 })), ERR_INVALID_ARG_TYPE, "portSide", "rule.portSide must be a string, got a number"),
            (tcp(json!({ "portSide": true })), ERR_INVALID_ARG_TYPE, "portSide", "rule.portSide must be a string, got a boolean"),
            (tcp(json!({ "portSide": "inbound" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide must be destination, local, remote or either, got \"inbound\""),
            (tcp(json!({ "portSide": "" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide must be destination, local, remote or either, got \"\""),
            (with(json!({ "portSide": "local" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide needs protocol tcp or udp with a port, not any"),
            (with(json!({ "protocol": "ip", "portSide": "destination" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide needs protocol tcp or udp with a port, not ip"),
            (with(json!({ "protocol": "arp", "portSide": "remote" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide needs protocol tcp or udp with a port, not arp"),
            (with(json!({ "protocol": "icmp", "icmpType": 8, "portSide": "remote" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide needs protocol tcp or udp with a port, not icmp"),
            (with(json!({ "protocol": "sip", "portSide": "either" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide needs protocol tcp or udp with a port, not service \"sip\""),
            (with(json!({ "protocol": "tcp", "portSide": "local" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide needs port"),
            (with(json!({ "protocol": "udp", "sourcePort": 53, "portSide": "remote" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide needs port"),
            (tcp(json!({ "sourcePort": 1000, "portSide": "local" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide local cannot be combined with sourcePort"),
            (tcp(json!({ "sourcePort": 1000, "portSide": "Either" })), ERR_INVALID_ARG_VALUE, "portSide", "rule.portSide either cannot be combined with sourcePort"),
        ];
        for (input, code, field, message) in &cases {
            let e = parse_rule(input).expect_err(&format!("{input} should be refused"));
            // The batch path reads the text itself: the same refusal, named by index.
            let batch = parse_rules(&format!("[{input}]")).expect_err("refused in a batch too");
            assert_eq!((batch.code, batch.message.as_str()), (e.code, format!("rules[0]: {}", e.message).as_str()));
            assert_eq!((e.code, e.field.as_str()), (*code, *field), "{input}: {e}");
            assert!(e.message.starts_with(message), "{input}:\n  got  {}\n  want {message}...", e.message);
        }
        // What is let through next to the refusals.
        assert_eq!(ok(tcp(json!({ "port": [1000, 1128], "portSide": "either" }))).port.map(PortRange::len), Some(129));
        assert_eq!(ok(tcp(json!({ "port": [1, 65535], "portSide": "remote" }))).port.map(PortRange::len), Some(65535));
        let dst = ok(tcp(json!({ "sourcePort": 1000, "portSide": "destination" })));
        assert_eq!((dst.port_side, dst.source_port), (PortSide::Destination, Some(PortRange { lo: 1000, hi: 1000 })));
        assert_eq!(ok(tcp(json!({ "portSide": null }))).port_side, PortSide::Destination, "null is absent");
    }

    #[test]
    fn port_side_normalizes_and_reads_back() {
        let plain = ok(with(json!({ "protocol": "tcp", "port": 5060 })));
        let explicit = ok(with(json!({ "protocol": "tcp", "port": 5060, "portSide": "Destination" })));
        assert_eq!(explicit, plain, "destination is the default");
        assert_eq!(plain.port_side, PortSide::Destination);
        assert!(explicit.to_json().get("portSide").is_none(), "destination is not written");
        for (given, side) in [
            ("LOCAL", PortSide::Local),
            (" remote ", PortSide::Remote),
            ("Either", PortSide::Either),
            ("destination", PortSide::Destination),
        ] {
            let r = ok(with(json!({ "protocol": "udp", "port": [1000, 1010], "portSide": given })));
            assert_eq!(r.port_side, side, "{given:?}");
            let j = r.to_json();
            let want = (side != PortSide::Destination).then(|| json!(side.name()));
            assert_eq!(j.get("portSide").cloned(), want, "{given:?}");
            assert_eq!(parse_rule(&j), Ok(r), "{given:?} reads back the same");
        }
    }

    /// Rule validation reads `vif.mac`, `vif.ips[i]` and `ipRange` with the
    /// API's one grammar (`net::addr`): everything the strict parsers refuse is
    /// refused here, with the field's own code and message.
    #[test]
    fn address_fields_refuse_what_the_strict_parsers_refuse() {
        let vif = |mac: &str, ips: Value| json!({ "vif": { "uuid": UUID, "mac": mac, "ips": ips } });
        let mac_of = |r: &Rule| match &r.target {
            Target::Vif(v) => v.mac,
            other => panic!("{other:?}"),
        };
        // Accepted: upper or mixed case, normalised.
        for given in ["AE:F7:4B:84:6C:8B", "ae:F7:4b:84:6C:8b", "ae:f7:4b:84:6c:8b"] {
            let r = ok(with(vif(given, json!([]))));
            assert_eq!(mac_of(&r).to_string(), "ae:f7:4b:84:6c:8b", "{given}");
        }
        for bad in [
            "aa:bb-cc:dd-ee:ff",
            "ae-f7-4b-84-6c-8b",
            "a:b:c:d:e:f",
            "2:0:0:0:0:1",
            " ae:f7:4b:84:6c:8b",
            "ae:f7:4b:84:6c:8b ",
            "ae:f7:4b:84:6c",
            "ae:f7:4b:84:6c:8b:00",
            "a:f7:4b:84:6c:8bb",
            "ae:f7:4b:84:6c:8g",
            "aef7.4b84.6c8b",
            "",
            "é",
        ] {
            assert_eq!(addr::parse_mac(bad), None, "{bad:?}");
            let e = parse_rule(&with(vif(bad, json!([])))).expect_err(bad);
            assert_eq!((e.code, e.field.as_str()), (ERR_INVALID_ARG_VALUE, "vif.mac"), "{bad:?}: {e}");
            let want = format!("rule.vif.mac must be a MAC address like aa:bb:cc:dd:ee:ff, got {bad:?}");
            assert_eq!(e.message, want);
        }
        assert!(matches!(&ok(with(vif("02:00:00:00:00:01", json!(["10.0.0.1"])))).target,
            Target::Vif(v) if v.ips == [Ipv4Addr::new(10, 0, 0, 1)]));
        for bad in
            ["010.0.0.1", " 10.0.0.1", "10.0.0.1 ", "10.0.0.01", "10.0.0", "10.0.0.256", "+10.0.0.1", "167772161", ""]
        {
            assert_eq!(addr::parse_ipv4(bad), None, "{bad:?}");
            let e = parse_rule(&with(vif("02:00:00:00:00:01", json!([bad])))).expect_err(bad);
            assert_eq!((e.code, e.field.as_str()), (ERR_INVALID_ARG_VALUE, "vif.ips[0]"), "{bad:?}: {e}");
            assert_eq!(e.message, format!("rule.vif.ips[0] must be an IPv4 address like 192.168.1.10, got {bad:?}"));
        }
        let range = |r: &str| json!({ "protocol": "ip", "ipRange": r });
        for (given, want) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3", "10.1.2.3/32"),
            ("10.1.2.3/32", "10.1.2.3/32"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("2001:DB8:0:0::/64", "2001:db8::/64"),
            ("fe80::1", "fe80::1/128"),
            ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"),
        ] {
            assert_eq!(ok(with(range(given))).ip_range.map(|r| r.to_string()).as_deref(), Some(want), "{given}");
        }
        // /0 is any address of its family: it keeps the rule to IPv4 (no range: both families).
        let any4 = ok(with(range("0.0.0.0/0"))).ip_range.expect("0.0.0.0/0 keeps the rule IPv4's");
        assert_eq!((any4.to_string().as_str(), any4.is_ipv6(), any4.ipv4_match()), ("0.0.0.0/0", false, None));
        let any6 = ok(with(range("::/0"))).ip_range.expect("::/0 makes the rule IPv6's");
        assert_eq!((any6.to_string().as_str(), any6.is_ipv6(), any6.ipv6_match()), ("::/0", true, None));
        // IPv6 goes through std's one strict grammar, the prefix through the IPv4 one's.
        #[rustfmt::skip]
        let bad_ipv6 = ["2001:db8::/032", "2001:db8:: /32", " ::1", "::1 ", "[::1]", "fe80::1%eth0", "2001:db8::/",
                        "2001:db8::/+32", ":::/8", "1:2:3:4:5:6:7:8:9"];
        for bad in bad_ipv6 {
            let e = parse_rule(&with(range(bad))).expect_err(bad);
            assert_eq!((e.code, e.field.as_str()), (ERR_INVALID_ARG_VALUE, "ipRange"), "{bad:?}: {e}");
        }
        for bad in [
            "010.0.0.0/8",
            " 10.0.0.1",
            "10.0.0.1 ",
            " ",
            "10.0.0.0 /8",
            "10.0.0.0/ 8",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "10.0.0.0/8/8",
            "/8",
        ] {
            assert!(addr::parse_ipv4_masked(bad).is_err(), "{bad:?}");
            let e = parse_rule(&with(range(bad))).expect_err(bad);
            assert_eq!((e.code, e.field.as_str()), (ERR_INVALID_ARG_VALUE, "ipRange"), "{bad:?}: {e}");
            let want = format!("rule.ipRange must be an IPv4 address or CIDR like 10.0.0.0/8, got {bad:?}");
            assert_eq!(e.message, want);
        }
        for bad in ["10.0.0.0/33", "10.0.0.0/100"] {
            assert_eq!(addr::parse_ipv4_masked(bad), Err(MaskedIpError::PrefixOutOfRange), "{bad:?}");
            let e = parse_rule(&with(range(bad))).expect_err(bad);
            assert_eq!((e.code, e.field.as_str()), (ERR_OUT_OF_RANGE, "ipRange"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn parse_rules_checks_each_rule_and_names_the_index() {
        let ok = r#"[{"pool":true,"allow":false,"direction":"to"},{"network":{"uuid":"00000000-0000-0000-0000-0000000000b1"},"allow":true,"direction":"from"}]"#;
        let rules = parse_rules(ok).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1], parse_rule(&serde_json::from_str::<Value>(ok).unwrap()[1]).unwrap());
        let e =
            parse_rules(r#"[{"pool":true,"allow":false,"direction":"to"},{"pool":true,"allow":1,"direction":"to"}]"#)
                .unwrap_err();
        assert!(e.message.starts_with("rules[1]: rule.allow"), "{e}");
        for bad in ["{}", "[", "[,", "[] x", ""] {
            assert_eq!(parse_rules(bad).unwrap_err().code, ERR_INVALID_ARG_VALUE, "{bad}");
        }
        assert_eq!(parse_rules("[7]").unwrap_err().code, ERR_INVALID_ARG_TYPE);
        assert!(parse_rules("[]").unwrap().is_empty());
    }

    #[test]
    fn the_rule_field_test_knows_exactly_the_rule_fields() {
        for k in RULE_FIELDS {
            assert!(is_rule_field(k), "{k}");
        }
        for k in ["", "Id", "ports", "vif ", "uuid", "mac", "cookie", "priority"] {
            assert!(!is_rule_field(k), "{k}");
        }
    }

    #[test]
    fn a_uuid_is_8_4_4_4_12_hex_digits() {
        assert_eq!(parse_uuid("01234567-89AB-cdef-0123-456789ABCDEF").as_deref(), Some("01234567-89ab-cdef-0123-456789abcdef"));
        for bad in ["", "01234567-89ab-cdef-0123-456789abcde", "01234567-89ab-cdef-0123-456789abcdeff", "0123456-789ab-cdef-0123-456789abcdef", "01234567_89ab_cdef_0123_456789abcdef", "0123456g-89ab-cdef-0123-456789abcdef", "01234567-89ab-cdef-0123-456789abcdé"] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
    }
}
