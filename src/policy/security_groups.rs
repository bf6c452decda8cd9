//! EC2-style security groups on OpenFlow 1.1, stateless by necessity.
//!
//! A security group is a named set of permissions (protocol, port range, CIDR or
//! source group), inbound (ingress) and outbound (egress). A VIF in at least one
//! group gets default-deny ingress; egress is allowed unless none of its groups
//! keeps the default "all traffic to 0.0.0.0/0" egress permission, as in EC2. The
//! union of the groups' permissions decides.
//!
//! OpenFlow 1.1 has no connection tracking, so "stateless" is made usable:
//! * an inbound permission also lets its replies out (inbound TCP 22 from
//!   10.10.1.0/24 => outbound from source port 22 to 10.10.1.0/24), when egress is
//!   restricted;
//! * an outbound permission with ports also lets its replies in (outbound TCP 443
//!   to 0.0.0.0/0 => inbound from source port 443), since ingress is default-deny;
//!   the default "all traffic" egress permission opens no return path (it would
//!   open everything): declare the services a VM uses as a client to get replies;
//! * ARP and the DHCP client keep working, and, for a VIF whose groups let some
//!   IPv6 through, neighbour and router discovery and the DHCPv6 client; a VIF
//!   traffic rule (higher priorities) can still block them explicitly;
//! * a VIF's `ips` (IPv4 and IPv6) are what its groups' members stand for in a
//!   `sourceGroup`, and what it may send from, family by family, as XAPI's lock
//!   (with IPv6 ones, its neighbour discovery may also come from `::` and from
//!   its EUI-64 link-local address).
//!
//! Rules per VIF, from the band table ([`PriorityBand`]), below the ordered traffic
//! rules and above XAPI's VIF locking:
//!
//! ```text
//!  9900 - slot  the permissions of the VIF's group in that slot (and their replies)
//!  9800         ARP, the DHCP client (ND, the DHCPv6 client), both ways
//!  9100         default deny: everything delivered to the VIF; everything it
//!               sends when egress is restricted
//!  9050         delivered to the VIF: on to the ingress stage
//! ```
//!
//! in two stages, so that a packet between two VIFs of one bridge meets both the
//! sender's egress verdict and the receiver's ingress verdict: what a VIF sends is
//! judged in the controller's table and, when allowed, goes on (`goto_table`) to
//! the next one, which judges what is delivered to a VIF and delivers the rest at
//! priority 0 (`compile_staged`).
//!
//! One cookie per group (all its VIFs, on every host) and one for the base rules,
//! so one push updates a group everywhere.
//!
//! There is one derivation, [`SecurityGroups::derive_group`]: the flows sent to a
//! switch are its rules compiled by [`compile`], and a group's flow budget is the
//! same rules counted by [`flow_count`], so the count checked before anything is
//! sent is the number of flows that land.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::control::PriorityBand;
use crate::net::addr::{self, IpMask, MaskedIpError};
use crate::openflow::flow::FlowMod;
use crate::openflow::types::MacAddr;
use crate::openflow::action::Action;
use crate::openflow::flow_match::Match;
use crate::openflow::instruction::Instruction;
use crate::openflow::types::{Masked, PortNo};
use crate::openflow::nxm::{Dialect, Field, MatchField, Value as NxValue};
use crate::rules::compile::{
    add_flow, compile, flow_count, nd_sources_beyond_lock, with_fields, Endpoint, ETH_TYPE_IPV6,
};
use crate::rules::cookie;
use crate::rules::rule::{
    self, Direction, IpRange, PortRange, PortSide, Protocol as RuleProtocol, Rule, RuleError, Target, Vif as RuleVif,
    ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE, MAX_OFPORT,
};

/// The version of [`SecurityGroups::export_state_json`]'s format (saved state files).
pub const STATE_VERSION: i128 = 1;
/// The flow budget of a group per VIF when the caller sets none.
pub const DEFAULT_FLOW_BUDGET: usize = 1024;

/// A derived rule's range, IPv4 whatever it is: a permission's CIDR is IPv4 (EC2's
/// 0.0.0.0/0 is every IPv4 address) and so are ARP and the DHCP client, while a
/// rule without a range would cover IPv6 too. `0.0.0.0/0` says so for protocols
/// that have both families; the others are IPv4's already.
fn ipv4_only(protocol: RuleProtocol, range: Option<IpRange>) -> Option<IpRange> {
    let both_families = matches!(protocol, RuleProtocol::Ip | RuleProtocol::Tcp | RuleProtocol::Udp);
    range.or_else(|| both_families.then_some(IpRange::v4(Ipv4Addr::UNSPECIFIED, 0)))
}

/// At most this many groups per VIF: one priority per group slot in the band.
pub fn max_groups_per_vif() -> usize {
    PriorityBand::SECURITY_GROUP_PERMISSIONS.capacity()
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/// A refused operation. Every refusal happens before the state changes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SgError {
    /// A malformed argument: `code` is `ERR_INVALID_ARG_TYPE`,
    /// `ERR_INVALID_ARG_VALUE` or `ERR_OUT_OF_RANGE`; the message starts with the
    /// field (`ingress[2].fromPort ...`).
    #[error("{message}")]
    InvalidArgument {
        /// Node's argument code.
        code: &'static str,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A group with this name (or id) exists.
    #[error("a security group named {name:?} exists")]
    Exists {
        /// The name.
        name: String,
    },
    /// No group has this name or id.
    #[error("no security group {reference:?}")]
    NotFound {
        /// The name or id asked for.
        reference: String,
    },
    /// A group VIFs are in cannot be deleted.
    #[error("security group {group} is attached to {members} VIF(s): detach it first")]
    Attached {
        /// The group's name.
        group: String,
        /// How many VIFs are in it.
        members: usize,
    },
    /// A group another group names as `sourceGroup` cannot be deleted.
    #[error("security group {by} refers to {group} as sourceGroup")]
    Referenced {
        /// The group's name.
        group: String,
        /// The name of the group that refers to it.
        by: String,
    },
    /// The permission is there already (or given twice).
    #[error("security group {group} already has this {side} permission: {permission}")]
    Duplicate {
        /// The group's name.
        group: String,
        /// Ingress or egress.
        side: Side,
        /// The permission, normalized JSON.
        permission: String,
    },
    /// Revoking a permission the group does not have.
    #[error("security group {group} has no such {side} permission: {permission}")]
    PermissionNotFound {
        /// The group's name.
        group: String,
        /// Ingress or egress.
        side: Side,
        /// The permission, normalized JSON.
        permission: String,
    },
    /// Detaching a VIF that is in no group.
    #[error("VIF {uuid} is in no security group")]
    NotAttached {
        /// The VIF's UUID.
        uuid: String,
    },
    /// A group would cost more flows on one VIF than the budget allows.
    #[error(
        "security group {group} would cost {flows} flows per VIF, over the budget of {budget}: a port range \
         costs one flow per masked block of ports (1000-2000: 8), and as much again for its replies{detail}; \
         narrow the ranges or raise flowBudget"
    )]
    FlowBudget {
        /// The group's name.
        group: String,
        /// Its flows on its costliest VIF.
        flows: usize,
        /// The budget.
        budget: usize,
        /// What else multiplies the flows (source addresses), or empty.
        detail: String,
    },
}

impl SgError {
    /// The stable code the JS layer puts in `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            SgError::InvalidArgument { code, .. } => code,
            SgError::Exists { .. } => "SDN_SG_EXISTS",
            SgError::NotFound { .. } => "SDN_SG_NOT_FOUND",
            SgError::Attached { .. } | SgError::Referenced { .. } => "SDN_SG_IN_USE",
            SgError::Duplicate { .. } => "SDN_SG_DUPLICATE",
            SgError::PermissionNotFound { .. } => "SDN_SG_PERMISSION_NOT_FOUND",
            SgError::NotAttached { .. } => "SDN_SG_NOT_ATTACHED",
            SgError::FlowBudget { .. } => "SDN_FLOW_BUDGET",
        }
    }
}

impl From<RuleError> for SgError {
    fn from(e: RuleError) -> Self {
        SgError::InvalidArgument { code: e.code, message: e.message }
    }
}

fn type_err(message: impl Into<String>) -> SgError {
    SgError::InvalidArgument { code: ERR_INVALID_ARG_TYPE, message: message.into() }
}
fn value_err(message: impl Into<String>) -> SgError {
    SgError::InvalidArgument { code: ERR_INVALID_ARG_VALUE, message: message.into() }
}
fn range_err(message: impl Into<String>) -> SgError {
    SgError::InvalidArgument { code: ERR_OUT_OF_RANGE, message: message.into() }
}

// ---------------------------------------------------------------------------
// permissions
// ---------------------------------------------------------------------------

/// Inbound or outbound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Traffic delivered to the VIF.
    Ingress,
    /// Traffic the VIF sends.
    Egress,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Ingress => "ingress",
            Side::Egress => "egress",
        })
    }
}

/// An inclusive transport port range, `0..=65535`, `from <= to` (EC2 allows port 0
/// in a range; it matches nothing alone, since no flow can match port 0 here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpan {
    /// First port.
    pub from: u16,
    /// Last port.
    pub to: u16,
}

impl PortSpan {
    /// 0-65535 (or 1-65535) is every port: no port match at all.
    fn is_every_port(self) -> bool {
        self.from <= 1 && self.to == u16::MAX
    }

    /// The range as a rule takes it (one rule, compiled to masked blocks), port 0
    /// left out: `None` for 0–0.
    fn port_range(self) -> Option<PortRange> {
        let lo = self.from.max(1);
        (lo <= self.to).then_some(PortRange { lo, hi: self.to })
    }
}

/// What a permission matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionProtocol {
    /// TCP on a port range.
    Tcp(PortSpan),
    /// UDP on a port range.
    Udp(PortSpan),
    /// ICMP: EC2's `fromPort` is the type, `toPort` the code; `None` is any (-1).
    Icmp {
        /// ICMP type.
        icmp_type: Option<u8>,
        /// ICMP code.
        icmp_code: Option<u8>,
    },
    /// ICMPv6 (EC2's `icmpv6`, with an IPv6 CIDR), type and code as for ICMP.
    Icmpv6 {
        /// ICMPv6 type.
        icmp_type: Option<u8>,
        /// ICMPv6 code.
        icmp_code: Option<u8>,
    },
    /// Every IP packet of the CIDR's family (EC2's protocol -1).
    All,
}

impl PermissionProtocol {
    fn name(self) -> &'static str {
        match self {
            PermissionProtocol::Tcp(_) => "tcp",
            PermissionProtocol::Udp(_) => "udp",
            PermissionProtocol::Icmp { .. } => "icmp",
            PermissionProtocol::Icmpv6 { .. } => "icmpv6",
            PermissionProtocol::All => "all",
        }
    }
}

/// An IPv4 or IPv6 prefix without host bits; prefix 0 is any address of its family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// 0.0.0.0/0.
    pub const ANY: Cidr = Cidr { addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), prefix: 0 };

    /// True for an IPv6 CIDR: its permission's rules are IPv6's.
    pub fn is_ipv6(self) -> bool {
        self.addr.is_ipv6()
    }

    /// The rule's `ipRange`: `None` for any IPv4 address (see [`ipv4_only`]); an
    /// IPv6 CIDR always, `::/0` included, as it is what makes the rule IPv6's.
    fn ip_range(self) -> Option<IpRange> {
        (self.prefix > 0 || self.is_ipv6()).then_some(IpRange { addr: self.addr, prefix: self.prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Where the other side of a permission is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An address range.
    Cidr(Cidr),
    /// The addresses of the VIFs of a group: its id once stored, the name or id
    /// as given until then.
    Group(String),
}

/// A permission, checked and normalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// What it matches.
    pub protocol: PermissionProtocol,
    /// Who is on the other side.
    pub source: Source,
}

const PERMISSION_FIELDS: [&str; 5] = ["protocol", "fromPort", "toPort", "cidr", "sourceGroup"];

impl Permission {
    /// EC2's default egress permission: all traffic to 0.0.0.0/0.
    pub const fn all_traffic() -> Permission {
        Permission { protocol: PermissionProtocol::All, source: Source::Cidr(Cidr::ANY) }
    }

    /// True when it names an IPv6 CIDR (its rules are IPv6's).
    pub fn is_ipv6(&self) -> bool {
        matches!(self.source, Source::Cidr(c) if c.is_ipv6())
    }

    /// True for "all traffic to/from 0.0.0.0/0": as egress, it leaves egress open.
    pub fn is_all_traffic(&self) -> bool {
        *self == Permission::all_traffic()
    }

    /// Reads a permission as the API takes it; errors start with `at`
    /// (`ingress[2]`). `protocol` -1 is `all`; a bare `0.0.0.0` is any address.
    pub fn parse(v: &Value, at: &str) -> Result<Permission, SgError> {
        let Some(obj) = v.as_object() else {
            return Err(type_err(format!(
                "{at} must be an object {{ protocol, fromPort, toPort, cidr | sourceGroup }}"
            )));
        };
        if let Some(k) = obj.keys().find(|k| !PERMISSION_FIELDS.contains(&k.as_str())) {
            return Err(value_err(format!("{at}.{k} is not a permission field ({})", PERMISSION_FIELDS.join(", "))));
        }
        let given = obj.get("protocol");
        let name = match given {
            Some(Value::String(s)) if s == "-1" => "all".to_owned(),
            Some(Value::String(s)) => s.to_lowercase(),
            Some(n @ Value::Number(_)) if matches!(rule::integer(n), Ok(-1)) => "all".to_owned(),
            _ => return Err(type_err(format!("{at}.protocol must be tcp, udp, icmp, icmpv6 or all (-1)"))),
        };
        let span = || -> Result<PortSpan, SgError> {
            let port = |k: &str| match obj.get(k).map(rule::integer) {
                Some(Ok(n)) if (0..=65535).contains(&n) => Ok(n as u16),
                Some(Ok(n)) => Err(range_err(format!("{at}.{k} must be 0..65535, got {n}"))),
                _ => Err(type_err(format!("{at}.{k} must be an integer port for {name}"))),
            };
            let (from, to) = (port("fromPort")?, port("toPort")?);
            if from > to {
                return Err(value_err(format!("{at}: fromPort {from} is above toPort {to}")));
            }
            Ok(PortSpan { from, to })
        };
        let protocol = match name.as_str() {
            "tcp" => PermissionProtocol::Tcp(span()?),
            "udp" => PermissionProtocol::Udp(span()?),
            "icmp" | "icmpv6" => {
                let icmp = |k: &str, what: &str| match obj.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => match rule::integer(v) {
                        Ok(-1) => Ok(None),
                        Ok(n @ 0..=255) => Ok(Some(n as u8)),
                        _ => Err(range_err(format!("{at}.{k} is the ICMP {what}: -1..255"))),
                    },
                };
                let (icmp_type, icmp_code) = (icmp("fromPort", "type")?, icmp("toPort", "code")?);
                if name == "icmp" {
                    PermissionProtocol::Icmp { icmp_type, icmp_code }
                } else {
                    PermissionProtocol::Icmpv6 { icmp_type, icmp_code }
                }
            }
            "all" => {
                if obj.contains_key("fromPort") || obj.contains_key("toPort") {
                    return Err(value_err(format!("{at}: ports need protocol tcp or udp")));
                }
                PermissionProtocol::All
            }
            _ => {
                let shown = given.map(Value::to_string).unwrap_or_default();
                return Err(value_err(format!("{at}.protocol must be tcp, udp, icmp, icmpv6 or all (-1), got {shown}")));
            }
        };
        let source = match (obj.get("cidr"), obj.get("sourceGroup")) {
            (Some(c), None) => Source::Cidr(parse_cidr(c, &format!("{at}.cidr"))?),
            (None, Some(Value::String(g))) if !g.is_empty() => Source::Group(g.clone()),
            (None, Some(_)) => return Err(type_err(format!("{at}.sourceGroup must be a group name or id"))),
            _ => return Err(value_err(format!("{at} needs exactly one of cidr and sourceGroup"))),
        };
        // ICMP is IPv4's and ICMPv6 IPv6's; a sourceGroup stands for its members' IPv4
        // and IPv6 addresses (ICMP for the first, ICMPv6 for the others).
        match (protocol, &source) {
            (PermissionProtocol::Icmp { .. }, Source::Cidr(c)) if c.is_ipv6() => {
                return Err(value_err(format!("{at}: protocol icmp is IPv4's; use icmpv6 with an IPv6 cidr")))
            }
            (PermissionProtocol::Icmpv6 { .. }, Source::Cidr(c)) if !c.is_ipv6() => {
                return Err(value_err(format!("{at}: protocol icmpv6 needs an IPv6 cidr (like ::/0) or a sourceGroup")))
            }
            _ => {}
        }
        Ok(Permission { protocol, source })
    }

    /// The normalized JSON, keys in the order the API has always written them:
    /// `{ protocol, fromPort?, toPort?, cidr | sourceGroup }`.
    pub fn write_json(&self, out: &mut String) {
        let _ = write!(out, "{{\"protocol\":\"{}\"", self.protocol.name());
        match self.protocol {
            PermissionProtocol::Tcp(s) | PermissionProtocol::Udp(s) => {
                let _ = write!(out, ",\"fromPort\":{},\"toPort\":{}", s.from, s.to);
            }
            PermissionProtocol::Icmp { icmp_type, icmp_code } | PermissionProtocol::Icmpv6 { icmp_type, icmp_code } => {
                if let Some(t) = icmp_type {
                    let _ = write!(out, ",\"fromPort\":{t}");
                }
                if let Some(c) = icmp_code {
                    let _ = write!(out, ",\"toPort\":{c}");
                }
            }
            PermissionProtocol::All => {}
        }
        match &self.source {
            Source::Cidr(c) => {
                let _ = write!(out, ",\"cidr\":\"{c}\"");
            }
            Source::Group(g) => {
                out.push_str(",\"sourceGroup\":");
                json_string(out, g);
            }
        }
        out.push('}');
    }

    fn json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }

    /// The rule parts matching the permission's own traffic.
    fn matches(&self) -> Vec<Clause> {
        match self.protocol {
            PermissionProtocol::All => vec![Clause::of(RuleProtocol::Ip)],
            PermissionProtocol::Icmp { icmp_type, icmp_code } => {
                vec![Clause { icmp_type, icmp_code, ..Clause::of(RuleProtocol::Icmp) }]
            }
            PermissionProtocol::Icmpv6 { icmp_type, icmp_code } => {
                vec![Clause { icmp_type, icmp_code, ..Clause::of(RuleProtocol::Icmpv6) }]
            }
            PermissionProtocol::Tcp(_) | PermissionProtocol::Udp(_) => {
                self.by_port(|clause, port| Clause { port: Some(port), ..clause })
            }
        }
    }

    /// The rule parts matching its replies, stateless: the same service as source
    /// port, or any ICMP/IP back.
    fn replies(&self) -> Vec<Clause> {
        match self.protocol {
            PermissionProtocol::All => vec![Clause::of(RuleProtocol::Ip)],
            PermissionProtocol::Icmp { .. } => vec![Clause::of(RuleProtocol::Icmp)],
            PermissionProtocol::Icmpv6 { .. } => vec![Clause::of(RuleProtocol::Icmpv6)],
            PermissionProtocol::Tcp(_) | PermissionProtocol::Udp(_) => {
                self.by_port(|clause, port| Clause { source_port: Some(port), ..clause })
            }
        }
    }

    /// A TCP/UDP permission's clauses: one with no port match when it opens every
    /// port, else one with its range, `on_port` placing it.
    fn by_port(&self, on_port: impl Fn(Clause, PortRange) -> Clause) -> Vec<Clause> {
        let (protocol, span) = match self.protocol {
            PermissionProtocol::Tcp(span) => (RuleProtocol::Tcp, span),
            PermissionProtocol::Udp(span) => (RuleProtocol::Udp, span),
            _ => return Vec::new(),
        };
        if span.is_every_port() {
            return vec![Clause::of(protocol)];
        }
        span.port_range().map(|port| on_port(Clause::of(protocol), port)).into_iter().collect()
    }
}

/// A CIDR through the crate's address grammar ([`addr::parse_ipv4_masked`], or
/// [`addr::parse_ipv6_prefixed`] for IPv6); surrounding spaces ignored, host bits
/// refused, a bare `0.0.0.0` is any address (EC2 writes it so). Errors start with
/// `at` (`ingress[0].cidr`).
fn parse_cidr(v: &Value, at: &str) -> Result<Cidr, SgError> {
    let Some(s) = v.as_str() else { return Err(type_err(format!("{at} must be an IPv4 or IPv6 CIDR string"))) };
    let text = s.trim();
    if text == "0.0.0.0" {
        return Ok(Cidr::ANY);
    }
    if text.contains(':') {
        let (addr, prefix) = match addr::parse_ipv6_prefixed(text) {
            Ok((a, p)) => (a, p.unwrap_or(128)),
            Err(MaskedIpError::PrefixOutOfRange) => {
                return Err(range_err(format!("{at}: '{text}': the prefix length must be 0 to 128")))
            }
            Err(_) => return Err(value_err(format!("{at}: '{text}' is not an IPv6 address or CIDR (2001:db8::/32)"))),
        };
        let network = Ipv6Addr::from(u128::from(addr) & addr::ipv6_prefix_mask(prefix));
        if network != addr {
            return Err(value_err(format!("{at}: '{text}' has host bits set: the network is {network}/{prefix}")));
        }
        return Ok(Cidr { addr: IpAddr::V6(addr), prefix });
    }
    let bad = || value_err(format!("{at}: '{text}' is not an IPv4 address or CIDR (a.b.c.d/n)"));
    let (addr, prefix) = match addr::parse_ipv4_masked(text) {
        Ok((a, None)) => (a, 32),
        Ok((a, Some(IpMask::Prefix(p)))) => (a, p),
        Ok((_, Some(IpMask::Netmask(_)))) | Err(MaskedIpError::Address | MaskedIpError::Mask) => return Err(bad()),
        Err(MaskedIpError::PrefixOutOfRange) => {
            return Err(range_err(format!("{at}: '{text}': the prefix length must be 0 to 32")))
        }
    };
    let network = Ipv4Addr::from(u32::from(addr) & addr::ipv4_prefix_mask(prefix));
    if network != addr {
        return Err(value_err(format!("{at}: '{text}' has host bits set: the network is {network}/{prefix}")));
    }
    Ok(Cidr { addr: IpAddr::V4(addr), prefix })
}

/// The protocol part of a derived rule.
#[derive(Clone, Copy, Debug)]
struct Clause {
    protocol: RuleProtocol,
    port: Option<PortRange>,
    source_port: Option<PortRange>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
}

impl Clause {
    const fn of(protocol: RuleProtocol) -> Clause {
        Clause { protocol, port: None, source_port: None, icmp_type: None, icmp_code: None }
    }
}

// ---------------------------------------------------------------------------
// groups, VIFs, attachments
// ---------------------------------------------------------------------------

/// A security group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// `sg-` and its number in hex; stable across restarts.
    pub id: String,
    /// Unique name, its identity for the caller.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Its rule number (from the controller's registry), hence its cookie.
    pub number: u64,
    /// Inbound permissions, in the order given.
    pub ingress: Vec<Permission>,
    /// Outbound permissions, in the order given.
    pub egress: Vec<Permission>,
    cookie: u64,
}

impl Group {
    fn side(&self, side: Side) -> &Vec<Permission> {
        match side {
            Side::Ingress => &self.ingress,
            Side::Egress => &self.egress,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut Vec<Permission> {
        match side {
            Side::Ingress => &mut self.ingress,
            Side::Egress => &mut self.egress,
        }
    }

    /// Keeps egress open for its VIFs.
    fn opens_egress(&self) -> bool {
        self.egress.iter().any(Permission::is_all_traffic)
    }

    fn refers_to(&self, id: &str) -> bool {
        self.ingress.iter().chain(&self.egress).any(|p| matches!(&p.source, Source::Group(g) if g == id))
    }
}

/// A VIF as the groups know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vif {
    /// UUID, lower case.
    pub uuid: String,
    /// Unicast MAC.
    pub mac: MacAddr,
    /// Its addresses, IPv4 and IPv6 (XAPI's `ipv4_allowed` and `ipv6_allowed`),
    /// without repeats: the addresses of its groups' members for `sourceGroup`, and
    /// what it may send from (with some, a family it has none of sends nothing).
    pub ips: Vec<IpAddr>,
}

impl Vif {
    /// Reads `{ uuid, mac, ips? }` (other keys are ignored: callers pass XO's VIF
    /// objects); errors start with `at`.
    pub fn parse(v: &Value, at: &str) -> Result<Vif, SgError> {
        let Some(obj) = v.as_object() else {
            return Err(type_err(format!("{at} must be an object {{ uuid, mac, ips? }}, got {}", rule::kind(v))));
        };
        let present = |k: &str| obj.get(k).filter(|v| !v.is_null());
        let uuid = match present("uuid") {
            None => return Err(type_err(format!("{at}.uuid is required"))),
            Some(Value::String(s)) => rule::parse_uuid(s).ok_or_else(|| {
                value_err(format!("{at}.uuid must be a UUID like 01234567-89ab-cdef-0123-456789abcdef, got {s:?}"))
            })?,
            Some(other) => return Err(type_err(format!("{at}.uuid must be a string, got {}", rule::kind(other)))),
        };
        let mac = present("mac").ok_or_else(|| type_err(format!("{at}.mac is required")))?;
        let mac = rule::unicast_mac("", &format!("{at}.mac"), mac)?;
        let mut ips = Vec::new();
        match present("ips") {
            None => {}
            Some(Value::Array(list)) => {
                for (i, ip) in list.iter().enumerate() {
                    let ip = rule::vif_ip("", &format!("{at}.ips[{i}]"), ip)?;
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
            }
            Some(other) => {
                return Err(type_err(format!("{at}.ips must be an array of IP addresses, got {}", rule::kind(other))))
            }
        }
        Ok(Vif { uuid, mac, ips })
    }

    fn write_json(&self, out: &mut String) {
        let _ = write!(out, "{{\"uuid\":\"{}\",\"mac\":\"{}\",\"ips\":[", self.uuid, self.mac);
        for (i, ip) in self.ips.iter().enumerate() {
            let _ = write!(out, "{}\"{ip}\"", if i == 0 { "" } else { "," });
        }
        out.push_str("]}");
    }

    /// The endpoint on `ofport`, locked to its addresses.
    fn endpoint(&self, ofport: u32) -> Endpoint {
        Endpoint::locked(ofport, self.mac, &self.ips)
    }

    /// The rule target: the VIF by UUID and MAC (addresses go with the endpoint).
    fn target(&self) -> Target {
        Target::Vif(RuleVif { uuid: self.uuid.clone(), mac: self.mac, ips: Vec::new(), ofport: None })
    }
}

/// The groups of one VIF, in slot order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The VIF.
    pub vif: Vif,
    /// Group ids; slot `s` gets priority `9900 - s`.
    pub groups: Vec<String>,
    /// Its connection-tracking zone (stateful groups): 1 or more, no other VIF's.
    /// Kept for as long as the VIF is in a group, and saved with the state, so its
    /// tracked connections survive a restart.
    pub zone: u16,
}

/// A rule derived for a VIF: which cookie it goes under, at what priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedRule {
    /// The group's cookie, or the base cookie (ARP, DHCP, deny).
    pub cookie: u64,
    /// From the band table.
    pub priority: u16,
    /// The rule.
    pub rule: Rule,
    /// Where what the VIF sends under it may come from.
    pub sender: Sender,
}

/// The source addresses a derived rule lets a VIF send from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// Its `ips`, family by family, as XAPI's lock (any address without `ips`).
    Ips,
    /// Any address: the DHCP client sends from 0.0.0.0 before it has one.
    Any,
    /// This IPv6 prefix only, whatever its `ips`: the DHCPv6 client's link-local
    /// addresses ([`LINK_LOCAL`]), and the neighbour discovery a lock would drop
    /// (from `::` and from the VIF's own link-local address, `derive_base`).
    Ipv6(Ipv6Addr, u8),
}

/// What a VIF's groups make ([`SecurityGroups::rules_of`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VifRules {
    /// None of its groups keeps egress open.
    pub egress_restricted: bool,
    /// Its rules, groups first (by slot), then the base rules.
    pub rules: Vec<DerivedRule>,
}

/// The flows of one cookie on one bridge ([`SecurityGroups::flows`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeFlows {
    /// The bridge.
    pub bridge: String,
    /// A group's cookie or the base cookie.
    pub cookie: u64,
    /// FLOW_MOD ADDs, compiled by [`compile`].
    pub flows: Vec<FlowMod>,
}

/// The VIF interfaces of one bridge: `(vif uuid, ofport)`, as OVSDB reports them.
pub type BridgeInterfaces = (String, Vec<(String, i64)>);

/// The member addresses of every group, each once, in attachment order: what a
/// `sourceGroup` permission names.
struct MemberAddresses<'a>(HashMap<&'a str, Vec<IpRange>>);

impl<'a> MemberAddresses<'a> {
    fn of(attachments: &'a [Attachment]) -> Self {
        let mut by_group: HashMap<&str, (Vec<IpRange>, HashSet<IpAddr>)> = HashMap::new();
        for a in attachments {
            for g in &a.groups {
                let (list, seen) = by_group.entry(g.as_str()).or_default();
                for ip in &a.vif.ips {
                    if seen.insert(*ip) {
                        // One address: /32 or /128, which makes the rule of its family.
                        let prefix = if ip.is_ipv6() { 128 } else { 32 };
                        list.push(IpRange { addr: *ip, prefix });
                    }
                }
            }
        }
        MemberAddresses(by_group.into_iter().map(|(k, (list, _))| (k, list)).collect())
    }

    /// The address ranges a permission names: its CIDR (`None` = any), or the
    /// addresses of the source group's members (none: no rule), IPv4 and IPv6 ones,
    /// but only those of its family for `icmp` (IPv4) and `icmpv6` (IPv6).
    fn of_permission(&self, p: &Permission) -> Vec<Option<IpRange>> {
        match &p.source {
            Source::Cidr(c) => vec![c.ip_range()],
            Source::Group(id) => {
                let family = |r: &&IpRange| match p.protocol {
                    PermissionProtocol::Icmp { .. } => !r.is_ipv6(),
                    PermissionProtocol::Icmpv6 { .. } => r.is_ipv6(),
                    _ => true,
                };
                self.0.get(id.as_str()).map_or_else(Vec::new, |l| l.iter().filter(family).copied().map(Some).collect())
            }
        }
    }
}

/// fe80::/10, where the DHCPv6 client sends from and its server or relay answers from.
const LINK_LOCAL: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10);
/// All_DHCP_Relay_Agents_and_Servers (RFC 8415), where a DHCPv6 client sends.
const DHCPV6_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// A derived rule compiled into the two stages of the pipeline (see
/// [`PriorityBand`]'s module doc): what the VIF sends is judged in `table_id` and,
/// when allowed, goes on to the receiver's ingress verdict in `table_id + 1`
/// instead of being delivered; what is delivered to it is judged there.
///
/// With a conntrack `zone` (stateful groups), a permission's flows take new
/// connections tracked in that zone and commit them (`conntrack::permission`).
fn compile_staged(d: &DerivedRule, endpoints: &[Endpoint], table_id: u8, zone: Option<u16>) -> Vec<FlowMod> {
    let part = |direction: Direction| Rule { direction, ..d.rule.clone() };
    let tracked = |f: FlowMod, stage| match zone {
        Some(z)
            if d.rule.allow
                && d.sender == Sender::Ips
                && d.priority >= PriorityBand::SECURITY_GROUP_PERMISSIONS.min() =>
        {
            conntrack::permission(f, z, stage, table_id)
        }
        _ => f,
    };
    let mut flows = Vec::new();
    if d.rule.direction.includes_from() {
        for mut f in compile(&part(Direction::From), endpoints, d.priority, d.cookie, table_id) {
            if let (Sender::Ipv6(from, prefix), Some(ETH_TYPE_IPV6)) = (d.sender, f.flow_match.dl_type) {
                // Compiled without the lock, its IPv6 still comes from this prefix only.
                let mask = (prefix < 128).then(|| NxValue::Ipv6(Ipv6Addr::from(addr::ipv6_prefix_mask(prefix))));
                let value = NxValue::Ipv6(from);
                let src = MatchField::Known { field: Field::Ipv6Src, dialect: Dialect::Oxm, value, mask };
                f.flow_match = with_fields(f.flow_match, vec![src]);
            }
            if d.rule.allow {
                f.instructions = vec![Instruction::GotoTable { table_id: table_id + 1 }];
            }
            flows.push(tracked(f, Stage::Egress));
        }
    }
    if d.rule.direction.includes_to() {
        let delivered = compile(&part(Direction::To), endpoints, d.priority, d.cookie, table_id + 1);
        flows.extend(delivered.into_iter().map(|f| tracked(f, Stage::Ingress)));
    }
    flows
}

/// What is delivered to the VIF with `mac` goes to its ingress verdict, unless
/// the sender's egress verdict (above) took it.
fn to_ingress_verdict(mac: MacAddr, table_id: u8, cookie: u64) -> FlowMod {
    let m = Match { dl_dst: Some(Masked::exact(mac)), ..Match::default() };
    add_flow(table_id, PriorityBand::SECURITY_GROUP_INGRESS.min(), cookie, m, vec![Instruction::GotoTable {
        table_id: table_id + 1,
    }])
}

/// The ingress stage delivers what no verdict there is about (a packet allowed out
/// to a VIF in no group, a broadcast): OpenFlow 1.1 would send a miss to the controller.
fn stage_default(table: u8, cookie: u64) -> FlowMod {
    add_flow(table, 0, cookie, Match::default(), vec![Instruction::ApplyActions {
        actions: vec![Action::Output { port: PortNo::NORMAL, max_len: 0 }],
    }])
}

/// Security groups and the VIFs in them: the whole state, sans-I/O. Every
/// operation checks everything before it changes anything.
#[derive(Clone, Debug)]
pub struct SecurityGroups {
    groups: Vec<Group>,
    attachments: Vec<Attachment>,
    /// VIF uuid -> index in `attachments`.
    by_vif: HashMap<String, usize>,
    base_number: u64,
    base_cookie: u64,
    flow_budget: usize,
    /// Stateful groups (connection tracking, see `conntrack`).
    stateful: bool,
}

/// The cookie of rule number `number` (generation 0), the number checked.
fn cookie_of(number: u64, what: &str) -> Result<u64, SgError> {
    cookie::rule_cookie(number, 0)
        .ok_or_else(|| range_err(format!("{what} must be 1 to {}, got {number}", cookie::MAX_RULE_NUMBER)))
}

/// A JSON integer in `1..=cookie::MAX_RULE_NUMBER`, or `None`.
fn rule_number(v: Option<&Value>) -> Option<u64> {
    let n = rule::integer(v?).ok()?;
    (1..=i128::from(cookie::MAX_RULE_NUMBER)).contains(&n).then_some(n as u64)
}

fn json_string(out: &mut String, s: &str) {
    // A str always serializes.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

impl SecurityGroups {
    /// No group; base rules (ARP, DHCP, deny) under `base_number`'s cookie; each
    /// group may cost at most `flow_budget` flows per VIF.
    pub fn new(base_number: u64, flow_budget: usize) -> Result<Self, SgError> {
        if flow_budget < 1 {
            return Err(range_err("options.flowBudget must be a positive integer"));
        }
        Ok(SecurityGroups {
            groups: Vec::new(),
            attachments: Vec::new(),
            by_vif: HashMap::new(),
            base_number,
            base_cookie: cookie_of(base_number, "baseNumber")?,
            flow_budget,
            stateful: false,
        })
    }

    /// The same, stateful or not (see the `conntrack` module): set once, before
    /// anything is attached.
    pub fn with_stateful(self, stateful: bool) -> Self {
        SecurityGroups { stateful, ..self }
    }

    /// Whether the groups are stateful.
    pub fn is_stateful(&self) -> bool {
        self.stateful
    }

    /// The lowest zone no attachment has.
    fn free_zone(&self) -> Result<u16, SgError> {
        let used: HashSet<u16> = self.attachments.iter().map(|a| a.zone).collect();
        (1..=u16::MAX)
            .find(|z| !used.contains(z))
            .ok_or_else(|| range_err(format!("at most {} VIFs may be in groups", u16::MAX)))
    }

    /// The groups, in creation order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The attachments, in the order VIFs were first attached.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// The base rules' rule number.
    pub fn base_number(&self) -> u64 {
        self.base_number
    }

    fn group_index(&self, reference: &str) -> Result<usize, SgError> {
        self.groups
            .iter()
            .position(|g| g.id == reference)
            .or_else(|| self.groups.iter().position(|g| g.name == reference))
            .ok_or_else(|| SgError::NotFound { reference: reference.to_owned() })
    }

    /// The group a JSON value names (a name or an id).
    fn group_ref(&self, v: &Value) -> Result<usize, SgError> {
        match v {
            Value::String(s) => self.group_index(s),
            _ => Err(type_err("a security group is given by its name or id")),
        }
    }

    /// The VIFs (uuids) in group `id`.
    fn members(&self, id: &str) -> Vec<&str> {
        self.attachments.iter().filter(|a| a.groups.iter().any(|g| g == id)).map(|a| a.vif.uuid.as_str()).collect()
    }

    fn reindex(&mut self) {
        self.by_vif = self.attachments.iter().enumerate().map(|(i, a)| (a.vif.uuid.clone(), i)).collect();
    }

    /// Runs `change`, then the budget check; a refusal of either leaves the state
    /// as it was.
    fn transaction<T>(&mut self, change: impl FnOnce(&mut Self) -> Result<T, SgError>) -> Result<T, SgError> {
        let before = self.clone();
        let outcome = change(self).and_then(|t| self.check_budget(&before).map(|()| t));
        if outcome.is_err() {
            *self = before;
        }
        outcome
    }

    // ---- groups ----

    /// Creates a group under rule number `number` (the controller's, stable for a
    /// name). As in EC2 it starts with one egress permission: all traffic to
    /// 0.0.0.0/0. Name and description are checked by the caller.
    pub fn create_group(&mut self, name: &str, description: &str, number: u64) -> Result<&Group, SgError> {
        let id = format!("sg-{number:08x}");
        if self.groups.iter().any(|g| g.name == name || g.id == id) {
            return Err(SgError::Exists { name: name.to_owned() });
        }
        let cookie = cookie_of(number, "number")?;
        self.groups.push(Group {
            id,
            name: name.to_owned(),
            description: description.to_owned(),
            number,
            ingress: Vec::new(),
            egress: vec![Permission::all_traffic()],
            cookie,
        });
        Ok(&self.groups[self.groups.len() - 1])
    }

    /// Deletes a group no VIF is in and no other group names as `sourceGroup`.
    pub fn delete_group(&mut self, reference: &str) -> Result<Group, SgError> {
        let i = self.group_index(reference)?;
        let g = &self.groups[i];
        let members = self.members(&g.id).len();
        if members > 0 {
            return Err(SgError::Attached { group: g.name.clone(), members });
        }
        if let Some(other) = self.groups.iter().find(|o| o.id != g.id && o.refers_to(&g.id)) {
            return Err(SgError::Referenced { group: g.name.clone(), by: other.name.clone() });
        }
        Ok(self.groups.remove(i))
    }

    /// Reads a permission or a list of them (`where` is `side`, or `side[i]`), and
    /// resolves each `sourceGroup` to a group id.
    fn permission_list(&self, permissions: &Value, side: Side) -> Result<Vec<Permission>, SgError> {
        let mut list = match permissions {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(value_err("give at least one permission"));
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Permission::parse(p, &format!("{side}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?
            }
            one => vec![Permission::parse(one, &side.to_string())?],
        };
        for p in &mut list {
            if let Source::Group(reference) = &p.source {
                let id = self.groups[self.group_index(reference)?].id.clone();
                p.source = Source::Group(id);
            }
        }
        Ok(list)
    }

    /// Adds permissions to a group (each new, none twice), within the flow budget.
    pub fn authorize(&mut self, reference: &str, side: Side, permissions: &Value) -> Result<&Group, SgError> {
        let i = self.group_index(reference)?;
        let list = self.permission_list(permissions, side)?;
        let g = &self.groups[i];
        for (k, p) in list.iter().enumerate() {
            if g.side(side).contains(p) || list[..k].contains(p) {
                return Err(SgError::Duplicate { group: g.name.clone(), side, permission: p.json() });
            }
        }
        self.transaction(|sg| {
            sg.groups[i].side_mut(side).extend(list);
            Ok(())
        })?;
        Ok(&self.groups[i])
    }

    /// Removes permissions from a group (each must be there). Revoking the
    /// all-traffic egress restricts egress, which may cost more flows: the budget
    /// counts that case already (see [`Self::group_cost`]).
    pub fn revoke(&mut self, reference: &str, side: Side, permissions: &Value) -> Result<&Group, SgError> {
        let i = self.group_index(reference)?;
        let list = self.permission_list(permissions, side)?;
        let g = &mut self.groups[i];
        if let Some(p) = list.iter().find(|p| !g.side(side).contains(p)) {
            return Err(SgError::PermissionNotFound { group: g.name.clone(), side, permission: p.json() });
        }
        g.side_mut(side).retain(|q| !list.contains(q));
        Ok(&self.groups[i])
    }

    // ---- VIFs ----

    /// Sets the groups of one VIF (`{ uuid, mac, ips? }`) or of several (an array
    /// of them): every VIF and group is checked first, then the flow budget.
    pub fn attach(&mut self, vifs: &Value, groups: &Value) -> Result<(), SgError> {
        let vifs = match vifs {
            Value::Array(list) => {
                list.iter().enumerate().map(|(i, v)| Vif::parse(v, &format!("vifs[{i}]"))).collect::<Result<_, _>>()?
            }
            one => vec![Vif::parse(one, "vif")?],
        };
        let refs = match groups.as_array() {
            Some(list) if !list.is_empty() => list,
            _ => return Err(type_err("groups must be a non-empty array of group names or ids")),
        };
        let max = max_groups_per_vif();
        if refs.len() > max {
            return Err(range_err(format!("a VIF may be in at most {max} groups")));
        }
        let mut ids: Vec<String> = Vec::with_capacity(refs.len());
        for r in refs {
            let id = &self.groups[self.group_ref(r)?].id;
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        self.transaction(|sg| {
            for vif in vifs {
                match sg.by_vif.get(&vif.uuid) {
                    Some(&i) => {
                        let zone = sg.attachments[i].zone;
                        sg.attachments[i] = Attachment { vif, groups: ids.clone(), zone };
                    }
                    None => {
                        let zone = sg.free_zone()?;
                        sg.by_vif.insert(vif.uuid.clone(), sg.attachments.len());
                        sg.attachments.push(Attachment { vif, groups: ids.clone(), zone });
                    }
                }
            }
            Ok(())
        })
    }

    /// Removes groups from a VIF (all of them with `None`, a list of names or ids
    /// otherwise): a VIF in no group is not filtered.
    pub fn detach(&mut self, uuid: &str, groups: Option<&Value>) -> Result<(), SgError> {
        let i = *self.by_vif.get(uuid).ok_or_else(|| SgError::NotAttached { uuid: uuid.to_owned() })?;
        let keep = match groups {
            None => Vec::new(),
            Some(refs) => {
                let refs = refs.as_array().ok_or_else(|| type_err("groups must be an array of group names or ids"))?;
                let ids: Vec<&str> = refs
                    .iter()
                    .map(|r| self.group_ref(r).map(|g| self.groups[g].id.as_str()))
                    .collect::<Result<_, _>>()?;
                self.attachments[i].groups.iter().filter(|g| !ids.contains(&g.as_str())).cloned().collect()
            }
        };
        if keep.is_empty() {
            self.attachments.remove(i);
            self.reindex();
        } else {
            self.attachments[i].groups = keep;
        }
        Ok(())
    }

    // ---- the one derivation ----

    /// The rules group `g` makes on a VIF (target `target`) at `priority`: its
    /// permissions, and (stateless) their replies. `restricted`: no group of the
    /// VIF keeps egress open, so what it sends is checked too.
    fn derive_group(
        g: &Group,
        priority: u16,
        target: &Target,
        restricted: bool,
        stateful: bool,
        sources: &MemberAddresses<'_>,
        out: &mut Vec<DerivedRule>,
    ) {
        let mut add = |c: &Clause, ip_range: Option<IpRange>, direction: Direction| {
            out.push(DerivedRule {
                cookie: g.cookie,
                priority,
                rule: Rule {
                    id: None,
                    description: None,
                    target: target.clone(),
                    allow: true,
                    protocol: c.protocol,
                    port: c.port,
                    port_side: PortSide::Destination,
                    source_port: c.source_port,
                    icmp_type: c.icmp_type,
                    icmp_code: c.icmp_code,
                    ip_range: ipv4_only(c.protocol, ip_range),
                    direction,
                },
                sender: Sender::Ips,
            })
        };
        // Stateful, connection tracking lets replies back: no reply rules.
        let replies_of = |p: &Permission| if stateful { Vec::new() } else { p.replies() };
        for p in &g.ingress {
            let (matches, replies) = (p.matches(), replies_of(p));
            for range in sources.of_permission(p) {
                for c in &matches {
                    add(c, range, Direction::To);
                }
                if restricted {
                    for c in &replies {
                        add(c, range, Direction::From);
                    }
                }
            }
        }
        for p in &g.egress {
            if p.is_all_traffic() {
                continue; // no rule: egress is open, and it opens no return path
            }
            let (matches, replies) = (p.matches(), replies_of(p));
            for range in sources.of_permission(p) {
                if restricted {
                    for c in &matches {
                        add(c, range, Direction::From);
                    }
                }
                for c in &replies {
                    add(c, range, Direction::To);
                }
            }
        }
    }

    /// The base rules of a VIF: ARP and the DHCP client, then default deny.
    /// `own_link_local`: the link-local address of a VIF with IPv6 `ips`, which it
    /// may send neighbour discovery from besides them.
    fn derive_base(
        &self,
        target: &Target,
        restricted: bool,
        ipv6: bool,
        own_link_local: Option<Ipv6Addr>,
        out: &mut Vec<DerivedRule>,
    ) {
        let range = |(addr, prefix): (Ipv6Addr, u8)| Some(IpRange { addr: IpAddr::V6(addr), prefix });
        let both_if_restricted = if restricted { Direction::Both } else { Direction::To };
        // What the VIF sends of its IP basics needs a flow when egress is restricted, and
        // when it is tracked: the open egress commits only new connections from its ips,
        // so a DHCP discover from 0.0.0.0, a solicit or ND from a link-local address (not
        // connections, or from no address of the lock) would fall to the zone's drop.
        let sends = restricted || self.stateful;
        let both_if_sent = if sends { Direction::Both } else { Direction::To };
        let basics = PriorityBand::SECURITY_GROUP_BASICS.min();
        let rule =
            |allow: bool, protocol: RuleProtocol, port: Option<u16>, source_port: Option<u16>, direction: Direction| {
                Rule {
                    id: None,
                    description: None,
                    target: target.clone(),
                    allow,
                    protocol,
                    port: port.map(|p| PortRange { lo: p, hi: p }),
                    port_side: PortSide::Destination,
                    source_port: source_port.map(|p| PortRange { lo: p, hi: p }),
                    icmp_type: None,
                    icmp_code: None,
                    ip_range: ipv4_only(protocol, None),
                    direction,
                }
            };
        let mut add =
            |priority, rule, sender| out.push(DerivedRule { cookie: self.base_cookie, priority, rule, sender });
        add(basics, rule(true, RuleProtocol::Arp, None, None, both_if_restricted), Sender::Ips);
        add(basics, rule(true, RuleProtocol::Udp, Some(68), Some(67), Direction::To), Sender::Ips);
        if sends {
            add(basics, rule(true, RuleProtocol::Udp, Some(67), Some(68), Direction::From), Sender::Any);
        }
        // IPv6's ARP: neighbour and router discovery (ICMPv6 133-136, router
        // advertisements included), and its DHCP client, for a VIF whose groups let
        // some IPv6 in or out, so those permissions can be used at all.
        if ipv6 {
            for icmp_type in [133, 134, 135, 136] {
                let nd = rule(true, RuleProtocol::Icmpv6, None, None, both_if_sent);
                add(basics, Rule { icmp_type: Some(icmp_type), ..nd }, Sender::Ips);
            }
            // A lock lists global addresses: ND from `::` and from the VIF's own
            // EUI-64 link-local address too (see nd_sources_beyond_lock).
            if let Some(link_local) = own_link_local.filter(|_| sends) {
                let nd = |icmp_type| Rule {
                    icmp_type: Some(icmp_type),
                    ..rule(true, RuleProtocol::Icmpv6, None, None, Direction::From)
                };
                for (from, types) in nd_sources_beyond_lock(link_local) {
                    for &icmp_type in types {
                        add(basics, nd(icmp_type), Sender::Ipv6(from, 128));
                    }
                }
            }
            let reply = rule(true, RuleProtocol::Udp, Some(546), Some(547), Direction::To);
            add(basics, Rule { ip_range: range(LINK_LOCAL), ..reply }, Sender::Ips);
            if sends {
                // From its link-local address, which no lock lists (see compile_staged).
                let solicit = rule(true, RuleProtocol::Udp, Some(547), Some(546), Direction::From);
                let (from, prefix) = LINK_LOCAL;
                add(basics, Rule { ip_range: range((DHCPV6_SERVERS, 128)), ..solicit }, Sender::Ipv6(from, prefix));
            }
        }
        let deny = PriorityBand::SECURITY_GROUP_DENY.min();
        add(deny, rule(false, RuleProtocol::Any, None, None, both_if_restricted), Sender::Ips);
    }

    /// Every rule of an attached VIF: its groups by slot, then the base rules.
    fn derive_vif(&self, a: &Attachment, sources: &MemberAddresses<'_>) -> VifRules {
        let groups: Vec<&Group> = a.groups.iter().filter_map(|id| self.groups.iter().find(|g| &g.id == id)).collect();
        let restricted = !groups.iter().any(|g| g.opens_egress());
        let target = a.vif.target();
        let top = PriorityBand::SECURITY_GROUP_PERMISSIONS.max();
        let mut rules = Vec::new();
        for (slot, g) in groups.iter().enumerate() {
            // At most max_groups_per_vif() slots (attach checks it), all in the band.
            let priority = top.saturating_sub(slot as u16).max(PriorityBand::SECURITY_GROUP_PERMISSIONS.min());
            Self::derive_group(g, priority, &target, restricted, self.stateful, sources, &mut rules);
        }
        // Some IPv6 let in or out: an IPv6 permission, or a sourceGroup with IPv6 members.
        let ipv6 = rules.iter().any(|d| d.rule.ip_range.is_some_and(IpRange::is_ipv6));
        // A VIF locked to IPv6 addresses (none: it sends no IPv6, or it is not locked).
        let own_link_local = a.vif.ips.iter().any(IpAddr::is_ipv6).then(|| a.vif.mac.eui64_link_local());
        self.derive_base(&target, restricted, ipv6, own_link_local, &mut rules);
        VifRules { egress_restricted: restricted, rules }
    }

    /// What a VIF's groups make, or `None` when it is in no group.
    pub fn rules_of(&self, uuid: &str) -> Option<VifRules> {
        let a = &self.attachments[*self.by_vif.get(uuid)?];
        Some(self.derive_vif(a, &MemberAddresses::of(&self.attachments)))
    }

    /// The flows of every attached VIF among `bridges`, compiled for table
    /// `table_id`: per bridge, one entry per cookie (the order cookies first
    /// appear). Interfaces of VIFs in no group are skipped.
    pub fn flows(&self, bridges: &[BridgeInterfaces], table_id: u8) -> Result<Vec<BridgeFlows>, SgError> {
        let mut out: Vec<BridgeFlows> = Vec::new();
        if self.attachments.is_empty() {
            return Ok(out);
        }
        let sources = MemberAddresses::of(&self.attachments);
        for (bridge, interfaces) in bridges {
            let first = out.len();
            for (uuid, ofport) in interfaces {
                let Some(&i) = self.by_vif.get(uuid) else { continue };
                let a = &self.attachments[i];
                let ofport = u32::try_from(*ofport).ok().filter(|p| (1..=MAX_OFPORT).contains(p)).ok_or_else(|| {
                    range_err(format!(
                        "interfaces: the ofport of VIF {uuid} on {bridge} must be 1 to {MAX_OFPORT}, got {ofport}"
                    ))
                })?;
                let locked = [a.vif.endpoint(ofport)];
                let unlocked = [Endpoint { ofport, mac: a.vif.mac, ips: Vec::new(), ipv6: Vec::new() }];
                let first_vif = first == out.len();
                let mut push = |cookie: u64, flows: Vec<FlowMod>| match out[first..].iter_mut().find(|b| b.cookie == cookie) {
                    Some(b) => b.flows.extend(flows),
                    None => out.push(BridgeFlows { bridge: bridge.clone(), cookie, flows }),
                };
                if first_vif {
                    // Before any goto_table to it (the base cookie's flows go first).
                    push(self.base_cookie, vec![stage_default(table_id + 1, self.base_cookie)]);
                }
                let derived = self.derive_vif(a, &sources);
                let zone = self.stateful.then_some(a.zone);
                for d in &derived.rules {
                    let endpoints = if d.sender == Sender::Ips { &locked } else { &unlocked };
                    push(d.cookie, compile_staged(d, endpoints, table_id, zone));
                }
                let mut base = vec![to_ingress_verdict(a.vif.mac, table_id, self.base_cookie)];
                if let Some(zone) = zone {
                    let open = !derived.egress_restricted;
                    base.extend(conntrack::vif_flows(ofport, a.vif.mac, &a.vif.ips, zone, open, table_id, self.base_cookie));
                }
                push(self.base_cookie, base);
            }
        }
        Ok(out)
    }

    // ---- the flow budget ----

    /// The flows group `g` costs on one VIF with `ipv4` IPv4 and `ipv6` IPv6
    /// addresses (none of either: a VIF without `ips`, not locked) when egress is
    /// restricted (the worst case: replies of inbound permissions too): the rules
    /// of [`Self::derive_group`] counted by [`flow_count`], which is exactly what
    /// [`compile`] makes of them.
    pub fn group_cost(&self, g: &Group, ipv4: usize, ipv6: usize) -> usize {
        self.group_cost_with(g, (ipv4, ipv6), &MemberAddresses::of(&self.attachments))
    }

    fn group_cost_with(&self, g: &Group, (ipv4, ipv6): (usize, usize), sources: &MemberAddresses<'_>) -> usize {
        let probe = Vif { uuid: String::new(), mac: MacAddr([2, 0, 0, 0, 0, 1]), ips: Vec::new() };
        let endpoint = [Endpoint {
            ofport: 1,
            mac: probe.mac,
            ips: (1..=ipv4).map(|n| Ipv4Addr::from(n as u32)).collect(),
            ipv6: (1..=ipv6).map(|n| Ipv6Addr::from(n as u128)).collect(),
        }];
        let mut rules = Vec::new();
        let top = PriorityBand::SECURITY_GROUP_PERMISSIONS.max();
        Self::derive_group(g, top, &probe.target(), true, self.stateful, sources, &mut rules);
        rules.iter().map(|d| flow_count(&d.rule, &endpoint)).sum()
    }

    /// Each group's worst cost per VIF, and the addresses of the VIF it is on: the
    /// cost on each of its members' address counts (IPv4, IPv6), where more
    /// addresses of a family never cost less (XAPI's locking makes an allow of what
    /// the VIF sends one flow per address of its family), so only the members no
    /// other has as many addresses of both families as are counted, and a member
    /// without `ips` (which gets what a lock would leave out of a family it has no
    /// address of); on a VIF without `ips` when it has no member.
    fn costs(&self) -> Vec<(usize, usize)> {
        let sources = MemberAddresses::of(&self.attachments);
        let mut profiles: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for a in &self.attachments {
            let ipv6 = a.vif.ips.iter().filter(|ip| ip.is_ipv6()).count();
            let p = (a.vif.ips.len() - ipv6, ipv6);
            for g in &a.groups {
                let list = profiles.entry(g.as_str()).or_default();
                // (0, 0) is unlocked, not "fewer": it is never dominated.
                let dominated = |q: &(usize, usize)| q.0 >= p.0 && q.1 >= p.1 && (p != (0, 0) || *q == p);
                if !list.iter().any(dominated) {
                    list.retain(|q| !(p.0 >= q.0 && p.1 >= q.1 && *q != (0, 0)));
                    list.push(p);
                }
            }
        }
        self.groups
            .iter()
            .map(|g| {
                let none = [(0, 0)];
                let list = profiles.get(g.id.as_str()).map_or(&none[..], Vec::as_slice);
                list.iter()
                    .map(|&p| (self.group_cost_with(g, p, &sources), p.0 + p.1))
                    .max()
                    .unwrap_or((0, 0))
            })
            .collect()
    }

    /// Refuses a change that makes a group cost more than the budget. A group
    /// already over it (a smaller budget than when it was built) does not block
    /// changes that do not make it costlier.
    fn check_budget(&self, before: &SecurityGroups) -> Result<(), SgError> {
        let old: HashMap<&str, usize> =
            before.groups.iter().zip(before.costs()).map(|(g, (flows, _))| (g.id.as_str(), flows)).collect();
        for (g, (flows, addresses)) in self.groups.iter().zip(self.costs()) {
            if flows > self.flow_budget && flows > old.get(g.id.as_str()).copied().unwrap_or(0) {
                let detail = if addresses > 1 {
                    format!(", and what a VIF sends is allowed once per address of the VIF ({addresses} on its member with the most)")
                } else {
                    String::new()
                };
                return Err(SgError::FlowBudget { group: g.name.clone(), flows, budget: self.flow_budget, detail });
            }
        }
        Ok(())
    }

    // ---- views and state ----

    fn write_view(&self, g: &Group, out: &mut String, number: bool, members: bool) {
        out.push_str("{\"id\":");
        json_string(out, &g.id);
        out.push_str(",\"name\":");
        json_string(out, &g.name);
        out.push_str(",\"description\":");
        json_string(out, &g.description);
        if number {
            let _ = write!(out, ",\"number\":{}", g.number);
        }
        for (key, list) in [("ingress", &g.ingress), ("egress", &g.egress)] {
            let _ = write!(out, ",\"{key}\":[");
            for (i, p) in list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                p.write_json(out);
            }
            out.push(']');
        }
        if members {
            out.push_str(",\"members\":[");
            for (i, m) in self.members(&g.id).iter().enumerate() {
                let _ = write!(out, "{}\"{m}\"", if i == 0 { "" } else { "," });
            }
            out.push(']');
        }
        out.push('}');
    }

    /// `{ id, name, description, ingress, egress }` of a group, JSON.
    pub fn view_json(&self, g: &Group) -> String {
        let mut out = String::new();
        self.write_view(g, &mut out, false, false);
        out
    }

    /// Every group with its members (VIF uuids), JSON.
    pub fn describe_json(&self) -> String {
        let mut out = String::from("[");
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.write_view(g, &mut out, false, true);
        }
        out.push(']');
        out
    }

    /// The state as saved in the controller's state file (format version 1:
    /// `{ version, stateful, baseNumber, groups: [{ id, name, description, number,
    /// ingress, egress }], attachments: [{ vif: { uuid, mac, ips }, zone, groups }] }`).
    /// `stateful` says which mode the groups were installed in, so a restart keeps it
    /// (a state without it was written before groups could be stateful: stateless).
    pub fn export_state_json(&self) -> String {
        let mut out = format!(
            "{{\"version\":{STATE_VERSION},\"stateful\":{},\"baseNumber\":{},\"groups\":[",
            self.stateful, self.base_number
        );
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.write_view(g, &mut out, true, false);
        }
        out.push_str("],\"attachments\":[");
        for (i, a) in self.attachments.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"vif\":");
            a.vif.write_json(&mut out);
            let _ = write!(out, ",\"zone\":{},\"groups\":[", a.zone);
            for (j, g) in a.groups.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                json_string(&mut out, g);
            }
            out.push_str("]}");
        }
        out.push_str("]}");
        out
    }

    /// Replaces the groups and attachments with a saved state (of this version or
    /// an earlier one: the format has not changed since version 1). Nothing changes
    /// when it is refused. The budget is not checked: a saved state is restored
    /// as it was. Returns the rule numbers it holds (groups', then the base
    /// number), for the controller to reserve.
    pub fn import_state(&mut self, state: &Value) -> Result<Vec<u64>, SgError> {
        let not_state = |what: String| value_err(format!("state must come from exportState(): {what}"));
        let obj = state
            .as_object()
            .filter(|o| o.get("version").and_then(|v| rule::integer(v).ok()) == Some(STATE_VERSION))
            .ok_or_else(|| value_err(format!("state must come from exportState() (version {STATE_VERSION})")))?;
        let (Some(Value::Array(groups)), Some(Value::Array(attachments))) = (obj.get("groups"), obj.get("attachments"))
        else {
            return Err(not_state("groups and attachments must be arrays".into()));
        };
        let text = |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        let mut parsed: Vec<Group> = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let shape = || not_state(format!("groups[{i}] is not a group"));
            let o = g.as_object().ok_or_else(shape)?;
            let (Some(id), Some(name), Some(description)) = (text(o, "id"), text(o, "name"), text(o, "description"))
            else {
                return Err(shape());
            };
            let number = match o.get("number").map(rule::integer) {
                Some(Ok(n)) if n >= 1 => rule_number(o.get("number")).ok_or_else(|| {
                    range_err(format!("state: groups[{i}].number must be 1 to {}, got {n}", cookie::MAX_RULE_NUMBER))
                })?,
                _ => return Err(shape()),
            };
            let (Some(Value::Array(ingress)), Some(Value::Array(egress))) = (o.get("ingress"), o.get("egress")) else {
                return Err(shape());
            };
            let read = |list: &Vec<Value>, side: &str| {
                list.iter()
                    .enumerate()
                    .map(|(j, p)| Permission::parse(p, &format!("{name}.{side}[{j}]")))
                    .collect::<Result<Vec<_>, _>>()
            };
            let group = Group {
                ingress: read(ingress, "ingress")?,
                egress: read(egress, "egress")?,
                cookie: cookie_of(number, "number")?,
                id,
                name,
                description,
                number,
            };
            // As a Map keyed by id: a repeated id replaces, in place.
            match parsed.iter_mut().find(|p| p.id == group.id) {
                Some(p) => *p = group,
                None => parsed.push(group),
            }
        }
        for (i, a) in attachments.iter().enumerate() {
            let ok = a.as_object().is_some_and(|o| {
                o.get("vif").is_some_and(Value::is_object) && o.get("groups").is_some_and(Value::is_array)
            });
            if !ok {
                return Err(not_state(format!("attachments[{i}] is not an attachment")));
            }
        }
        let mut restored = SecurityGroups { groups: parsed, ..SecurityGroups::new(1, self.flow_budget)? };
        restored.stateful = self.stateful;
        for (i, a) in attachments.iter().enumerate() {
            let ids = a["groups"].as_array().map(Vec::as_slice).unwrap_or_default();
            let known = ids.iter().all(|id| id.as_str().is_some_and(|id| restored.groups.iter().any(|g| g.id == id)));
            if !known {
                return Err(value_err(format!("state attaches VIF {} to an unknown group", a["vif"]["uuid"])));
            }
            let vif = Vif::parse(&a["vif"], &format!("state.attachments[{i}].vif"))?;
            let groups = ids.iter().filter_map(Value::as_str).map(str::to_owned).collect();
            // A zone the state gives (version 1 states of before stateful groups have
            // none) is kept; 0 until the others are known, then the lowest free one.
            let zone = a.get("zone").and_then(Value::as_u64).and_then(|z| u16::try_from(z).ok()).unwrap_or(0);
            let a = Attachment { vif, groups, zone };
            match restored.by_vif.get(&a.vif.uuid) {
                Some(&k) => restored.attachments[k] = a,
                None => {
                    restored.by_vif.insert(a.vif.uuid.clone(), restored.attachments.len());
                    restored.attachments.push(a);
                }
            }
        }
        let mut seen = HashSet::new();
        for a in &mut restored.attachments {
            if !seen.insert(a.zone) {
                a.zone = 0; // given twice: the later one gets a new zone
            }
        }
        for k in 0..restored.attachments.len() {
            if restored.attachments[k].zone == 0 {
                restored.attachments[k].zone = restored.free_zone()?;
            }
        }
        let base_number = match obj.get("baseNumber").map(rule::integer) {
            Some(Ok(n)) if n >= 1 => rule_number(obj.get("baseNumber")).ok_or_else(|| {
                range_err(format!("state.baseNumber must be 1 to {}, got {n}", cookie::MAX_RULE_NUMBER))
            })?,
            _ => return Err(value_err("state.baseNumber is missing")),
        };
        restored.base_number = base_number;
        restored.base_cookie = cookie_of(base_number, "state.baseNumber")?;
        let mut numbers: Vec<u64> = restored.groups.iter().map(|g| g.number).collect();
        numbers.push(base_number);
        *self = restored;
        Ok(numbers)
    }
}

mod conntrack;
use conntrack::Stage;

#[cfg(test)]
mod tests;
