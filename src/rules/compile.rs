//! Rule → OpenFlow 1.1 FLOW_MODs (§A.3.4.1) for the VIFs of one bridge.
//!
//! One flow per endpoint, direction and clause (a service has several clauses, a
//! port range one per masked block of [`PortRange::masked`]):
//!
//! * `from` (sent by the VIF): `in_port=ofport, dl_src=mac` + protocol fields +
//!   `nw_dst=ipRange` + `tp_dst=port` (+ `tp_src=sourcePort`);
//! * `to` (delivered to the VIF): `dl_dst=mac` + protocol fields + `nw_src=ipRange`
//!   + `tp_dst=port`.
//!
//! That is `portSide` `destination`, the default. `local` (the VIF's own port) puts
//! `port` in `tp_src` on `from` flows; `remote` (the other side's) puts it in
//! `tp_src` on `to` flows; `either` makes both flows per block, local first.
//!
//! Address families: a rule with an IPv4 range (`0.0.0.0/0` included), `icmp` or
//! `arp` is IPv4's; one with an IPv6 range or `icmpv6` IPv6's; `ip`, `tcp`, `udp` and
//! services without a range are both: each IPv4 flow gets an IPv6 twin (`eth_type`
//! 0x86dd, always an OXM match, since OF1.1 reads no L3/L4 field under IPv6).
//! `any` has no ethertype and covers everything at once.
//!
//! A single port (and an exact block of a range) is OF1.1's standard match, as
//! ever. A block of several ports has no form there (§A.2.3 has no port masks):
//! its flow carries an `OFPMT_OXM` match with a masked `tcp_dst`/`udp_dst`, which
//! Open vSwitch accepts in an OF1.1 FLOW_MOD and dumps back as NXM; the reconcile
//! keys both the same ([`super::table::MatchKey`]). 1000–2000 is 8 flows, any
//! range at most 30.
//!
//! An allow outputs to NORMAL; a deny has no instructions, which drops (§A.2.4;
//! also what `ovs-ofctl` sends for `actions=drop`, so the two compare equal byte
//! for byte). Every value is in the canonical form OVS echoes back in a dump:
//! exact fields without masks, /32 as exact, prerequisites (`dl_type`, `nw_proto`)
//! always present.
//!
//! XAPI's VIF-locking flows (priorities 4000–8000, below ours) drop packets whose
//! source MAC/IP the VIF may not use. An allow above them must not widen what they
//! let through, so an allow `from` a VIF with allowed addresses also matches
//! `nw_src` on each of them (ARP: the sender address), and "any" becomes one IP and
//! one ARP flow per address. A deny is never narrowed that way.
//!
//! Neighbour discovery: a *deny* of protocol `ip` covers IPv6, whose ARP is ICMPv6
//! (RFC 4861), while ARP itself, not being IP, stays open. So each IPv6 clause of
//! such a rule gets carve-outs one priority above it (`P + 1`, which the rule list
//! keeps free for it, `control::list`), same cookie, action NORMAL: ICMPv6 types 133
//! (router solicitation), 135 and 136 (neighbour solicitation and advertisement)
//! sent by the VIF, and 134 (router advertisement), 135 and 136 delivered to it,
//! with the clause's IPv6 range. Not 134 sent by the VIF: a VM advertising routes
//! is the rogue-RA case. Under a lock with IPv6 addresses, what the VIF sends is
//! carried from each of them, from its EUI-64 link-local address, and RS and NS
//! from `::` ([`nd_sources_beyond_lock`], as security groups do); a lock with IPv4
//! addresses only makes none (XAPI drops the VIF's IPv6). `any` (which drops ARP
//! too) and `icmpv6` (which names ICMPv6) get none.

use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::port_mask::MaskedPort;
#[cfg(doc)]
use super::rule::PortRange;
use super::rule::{
    kind, unicast_mac, vif_ip, Direction, IpRange, PortSide, Protocol, Rule, RuleError, ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE, MAX_OFPORT,
};
use crate::openflow::action::Action;
use crate::openflow::flow::{FlowMod, FlowModCommand, FlowModFlags};
use crate::openflow::flow_match::{Match, VID_ANY, VID_NONE};
use crate::openflow::instruction::Instruction;
use crate::openflow::nxm::{Dialect, Field, MatchField, NxmMatch, Value as NxValue};
use crate::openflow::types::{GroupNo, MacAddr, Masked, PortNo, NO_BUFFER};

/// Ethertype of IPv4.
pub const ETH_TYPE_IP: u16 = 0x0800;
/// Ethertype of ARP.
pub const ETH_TYPE_ARP: u16 = 0x0806;
/// Ethertype of IPv6.
pub const ETH_TYPE_IPV6: u16 = 0x86dd;
/// IP protocol number (IPv6 next header) of ICMPv6.
pub const IP_PROTO_ICMPV6: u8 = 58;
/// IP protocol number of ICMP.
pub const IP_PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
const IP_PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
const IP_PROTO_UDP: u8 = 17;

/// A VIF as seen on one bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Its OpenFlow port on the bridge.
    pub ofport: u32,
    /// Its MAC.
    pub mac: MacAddr,
    /// The IPv4 addresses it may use (XAPI `ipv4_allowed`); empty, with `ipv6`
    /// empty too, = not locked.
    pub ips: Vec<Ipv4Addr>,
    /// The IPv6 addresses it may use (XAPI `ipv6_allowed`).
    pub ipv6: Vec<Ipv6Addr>,
}

impl Endpoint {
    /// The endpoint of port `ofport` for a VIF with `mac` that may send from `ips`
    /// (both families, as a rule's or a group's `vif.ips` lists them).
    pub fn locked(ofport: u32, mac: MacAddr, ips: &[IpAddr]) -> Self {
        let mut e = Endpoint { ofport, mac, ips: Vec::new(), ipv6: Vec::new() };
        for ip in ips {
            match ip {
                IpAddr::V4(v4) => e.ips.push(*v4),
                IpAddr::V6(v6) => e.ipv6.push(*v6),
            }
        }
        e
    }
}

/// Reads `[{ ofport, mac, ips? }]`; errors name `endpoints[i].field`.
pub fn parse_endpoints(v: &Value) -> Result<Vec<Endpoint>, RuleError> {
    let err = |code, field: &str, tail: String| RuleError::at(code, "", field, tail);
    let list = v
        .as_array()
        .ok_or_else(|| err(ERR_INVALID_ARG_TYPE, "endpoints", format!("must be an array, got {}", kind(v))))?;
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let at = |f: &str| format!("endpoints[{i}]{f}");
            let obj = e.as_object().ok_or_else(|| {
                err(
                    ERR_INVALID_ARG_TYPE,
                    &at(""),
                    format!("must be an object {{ ofport, mac, ips? }}, got {}", kind(e)),
                )
            })?;
            if let Some(k) = obj.keys().find(|k| !["ofport", "mac", "ips"].contains(&k.as_str())) {
                return Err(err(
                    ERR_INVALID_ARG_VALUE,
                    &at(&format!(".{k}")),
                    "is not an endpoint field (fields: ofport, mac, ips)".into(),
                ));
            }
            let field = at(".ofport");
            let ofport = match obj.get("ofport").map(super::rule::integer) {
                None => return Err(err(ERR_INVALID_ARG_TYPE, &field, "is required".into())),
                Some(Ok(n)) if (1..=i128::from(MAX_OFPORT)).contains(&n) => n as u32,
                Some(Ok(n)) => {
                    return Err(err(ERR_OUT_OF_RANGE, &field, format!("must be 1 to {MAX_OFPORT}, got {n}")))
                }
                Some(Err(_)) => return Err(err(ERR_INVALID_ARG_TYPE, &field, "must be an integer".into())),
            };
            let mac = obj.get("mac").ok_or_else(|| err(ERR_INVALID_ARG_TYPE, &at(".mac"), "is required".into()))?;
            let mac = unicast_mac("", &at(".mac"), mac)?;
            let ips: Vec<IpAddr> = match obj.get("ips").filter(|v| !v.is_null()) {
                None => Vec::new(),
                Some(Value::Array(ips)) => ips
                    .iter()
                    .enumerate()
                    .map(|(j, ip)| vif_ip("", &at(&format!(".ips[{j}]")), ip))
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(err(
                        ERR_INVALID_ARG_TYPE,
                        &at(".ips"),
                        format!("must be an array, got {}", kind(other)),
                    ))
                }
            };
            Ok(Endpoint::locked(ofport, mac, &ips))
        })
        .collect()
}

/// The protocol part of one flow: what `tcp`/`udp`/`icmp`/... fix in the match.
/// `tp_src`/`tp_dst` are the ICMP(v6) type and code for ICMP (always exact). An
/// IPv6 clause (`dl_type` 0x86dd) also carries the rule's IPv6 range as the field
/// of the remote side (`ipv6_dst` sent by the VIF, `ipv6_src` delivered to it): the
/// IPv4 range goes in the standard match's `nw_*`, which IPv6 has no use of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Clause {
    dl_type: Option<u16>,
    nw_proto: Option<u8>,
    tp_src: Option<MaskedPort>,
    tp_dst: Option<MaskedPort>,
    ipv6_remote: Option<(Field, Ipv6Addr, Option<Ipv6Addr>)>,
}

const ANY: Clause = Clause { dl_type: None, nw_proto: None, tp_src: None, tp_dst: None, ipv6_remote: None };
const IP: Clause = Clause { dl_type: Some(ETH_TYPE_IP), ..ANY };
const ARP: Clause = Clause { dl_type: Some(ETH_TYPE_ARP), ..ANY };

impl Clause {
    fn is_ipv6(&self) -> bool {
        self.dl_type == Some(ETH_TYPE_IPV6)
    }
}

/// The address families (IPv4, IPv6) a rule's clauses are compiled for: the
/// family of its `ipRange` (`0.0.0.0/0` and `::/0` name one); without one, `ip`,
/// `tcp`, `udp` and services are both, the IPv6 twin of each clause after it;
/// `any` matches every ethertype at once, ARP and ICMP are IPv4's, ICMPv6 IPv6's.
fn families(rule: &Rule) -> (bool, bool) {
    match (rule.ip_range, rule.protocol) {
        (Some(r), _) => (!r.is_ipv6(), r.is_ipv6()),
        (None, Protocol::Icmpv6) => (false, true),
        (None, Protocol::Ip | Protocol::Tcp | Protocol::Udp | Protocol::Service(_)) => (true, true),
        (None, Protocol::Any | Protocol::Arp | Protocol::Icmp) => (true, false),
    }
}

/// A transport port field of the match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tp {
    Src,
    Dst,
}

/// The fields `port` goes in, one flow per block each, for traffic sent by the VIF
/// (`Direction::From`) or delivered to it (`Direction::To`).
fn port_fields(side: PortSide, way: Direction) -> &'static [Tp] {
    let from = way == Direction::From;
    match side {
        PortSide::Destination => &[Tp::Dst],
        PortSide::Local if from => &[Tp::Src],
        PortSide::Local => &[Tp::Dst],
        PortSide::Remote if from => &[Tp::Dst],
        PortSide::Remote => &[Tp::Src],
        PortSide::Either if from => &[Tp::Src, Tp::Dst],
        PortSide::Either => &[Tp::Dst, Tp::Src],
    }
}

/// One clause per (family, protocol, port block, port field, source port block) the
/// rule covers, for traffic going `way` (`From` or `To`): its IPv4 clauses, then
/// their IPv6 twins.
fn clauses(rule: &Rule, way: Direction) -> Vec<Clause> {
    let (ipv4, ipv6) = families(rule);
    let mut out = if ipv4 { ipv4_clauses(rule, way) } else { Vec::new() };
    if ipv6 {
        let side = if way == Direction::From { Field::Ipv6Dst } else { Field::Ipv6Src };
        let remote = rule.ip_range.and_then(IpRange::ipv6_match).map(|(value, mask)| (side, value, mask));
        let twin = |c: Clause| Clause { dl_type: Some(ETH_TYPE_IPV6), ipv6_remote: remote, ..c };
        let exact = |n: Option<u8>| n.map(|n| MaskedPort::exact(u16::from(n)));
        match rule.protocol {
            Protocol::Icmpv6 => out.push(twin(Clause {
                nw_proto: Some(IP_PROTO_ICMPV6),
                tp_src: exact(rule.icmp_type),
                tp_dst: exact(rule.icmp_code),
                ..ANY
            })),
            _ => out.extend(ipv4_clauses(rule, way).into_iter().map(twin)),
        }
    }
    out
}

/// The clauses of [`clauses`] as IPv4 has them (the IPv6 twins differ in `dl_type`).
fn ipv4_clauses(rule: &Rule, way: Direction) -> Vec<Clause> {
    let l4 = |proto: u8, port: Option<MaskedPort>| Clause { nw_proto: Some(proto), tp_dst: port, ..IP };
    let exact = |n: Option<u8>| n.map(|n| MaskedPort::exact(u16::from(n)));
    match rule.protocol {
        Protocol::Any => vec![ANY],
        Protocol::Ip => vec![IP],
        Protocol::Arp => vec![ARP],
        Protocol::Icmpv6 => Vec::new(), // IPv6 only: see clauses
        Protocol::Icmp => vec![Clause {
            nw_proto: Some(IP_PROTO_ICMP),
            tp_src: exact(rule.icmp_type),
            tp_dst: exact(rule.icmp_code),
            ..IP
        }],
        Protocol::Tcp | Protocol::Udp => {
            let proto = rule.protocol.transport().map_or(0, |t| t.ip_proto());
            let ports: Vec<Option<MaskedPort>> =
                rule.port.map_or(vec![None], |r| r.masked().into_iter().map(Some).collect());
            let src: Vec<Option<MaskedPort>> =
                rule.source_port.map_or(vec![None], |r| r.masked().into_iter().map(Some).collect());
            let mut out = Vec::new();
            for p in &ports {
                for f in port_fields(rule.port_side, way) {
                    for s in &src {
                        out.push(match f {
                            Tp::Dst => Clause { tp_src: *s, ..l4(proto, *p) },
                            // Never with a sourcePort: parse_rule refuses the two together.
                            Tp::Src => Clause { tp_src: *p, ..l4(proto, None) },
                        });
                    }
                }
            }
            out
        }
        Protocol::Service(s) => s.clauses.iter().map(|(t, p)| l4(t.ip_proto(), Some(MaskedPort::exact(*p)))).collect(),
    }
}

/// Addresses without repeats, in order.
fn unique<T: Copy + PartialEq>(list: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(list.len());
    for ip in list {
        if !out.contains(ip) {
            out.push(*ip);
        }
    }
    out
}

/// True when flows `from` this endpoint carry its source addresses: it is locked
/// (addresses of either family), and a family it has no address of sends nothing.
fn locks_source(rule: &Rule, e: &Endpoint) -> bool {
    rule.allow && is_locked(e)
}

/// True when XAPI locks what the endpoint sends to its addresses (of either family).
fn is_locked(e: &Endpoint) -> bool {
    !(e.ips.is_empty() && e.ipv6.is_empty())
}

/// ICMPv6 neighbour discovery (RFC 4861 §4) a VIF sends: router solicitation (133),
/// neighbour solicitation (135) and advertisement (136). Router advertisements
/// (134) from a VM are the rogue-RA case.
pub const ND_SENT: [u8; 3] = [133, 135, 136];
/// ICMPv6 neighbour discovery a VIF receives: router advertisement (134),
/// neighbour solicitation (135) and advertisement (136).
pub const ND_RECEIVED: [u8; 3] = [134, 135, 136];

/// Where a VIF locked to IPv6 addresses also sends neighbour discovery from, and
/// which types: a lock lists global addresses, but a host resolves its router from
/// its link-local address, and checks a new address (duplicate address detection,
/// RFC 4862 §5.4) or solicits before it has one from `::` (RFC 4861 §4.1, §4.3),
/// which creates no neighbour cache entry (§6.2.6, §7.2.3). So RS and NS from `::`,
/// and RS, NS and NA from the VIF's own EUI-64 `link_local` address, as Neutron
/// does, not from any of fe80::/10: it cannot speak for another's.
pub fn nd_sources_beyond_lock(link_local: Ipv6Addr) -> [(Ipv6Addr, &'static [u8]); 2] {
    [(Ipv6Addr::UNSPECIFIED, &[133, 135]), (link_local, &ND_SENT)]
}

/// True when `rule` keeps IPv6 neighbour discovery open above its IPv6 clauses: a
/// deny of protocol `ip` (see the module doc).
fn keeps_nd(rule: &Rule) -> bool {
    !rule.allow && rule.protocol == Protocol::Ip
}

/// The ND carve-out of IPv6 clause `c` for ICMPv6 type `icmp_type`: the clause
/// (its range) with `ip_proto` 58 and that type.
fn nd_clause(c: &Clause, icmp_type: u8) -> Clause {
    Clause { nw_proto: Some(IP_PROTO_ICMPV6), tp_src: Some(MaskedPort::exact(u16::from(icmp_type))), ..*c }
}

/// The sources carve-out `icmp_type` sent by a locked endpoint carries: each IPv6
/// address of the lock, then those of [`nd_sources_beyond_lock`] for that type,
/// without repeats (none when the lock lists no IPv6 address).
fn nd_senders(e: &Endpoint, icmp_type: u8) -> Vec<Ipv6Addr> {
    let mut out = unique(&e.ipv6);
    if out.is_empty() {
        return out;
    }
    for (from, types) in nd_sources_beyond_lock(e.mac.eui64_link_local()) {
        if types.contains(&icmp_type) && !out.contains(&from) {
            out.push(from);
        }
    }
    out
}

/// The number of carve-outs [`compile`] makes for `e`: `from` and `to` are the
/// rule's clauses of each way.
fn nd_count(e: &Endpoint, from: &[Clause], to: &[Clause]) -> usize {
    let from_ipv6 = from.iter().filter(|c| c.is_ipv6()).count();
    let to_ipv6 = to.iter().filter(|c| c.is_ipv6()).count();
    let sent: usize = if is_locked(e) { ND_SENT.iter().map(|&t| nd_senders(e, t).len()).sum() } else { ND_SENT.len() };
    from_ipv6 * sent + to_ipv6 * ND_RECEIVED.len()
}

/// The number of flows [`compile`] makes, without making them (for budgets): the
/// same clauses, counted the way compile multiplies them.
pub fn flow_count(rule: &Rule, endpoints: &[Endpoint]) -> usize {
    let from = if rule.direction.includes_from() { clauses(rule, Direction::From) } else { Vec::new() };
    let to_clauses = if rule.direction.includes_to() { clauses(rule, Direction::To) } else { Vec::new() };
    let to = to_clauses.len();
    let from_ipv6 = from.iter().filter(|c| c.is_ipv6()).count();
    endpoints
        .iter()
        .map(|e| {
            let (ips, ipv6) = (unique(&e.ips).len(), unique(&e.ipv6).len());
            let sent = match locks_source(rule, e) {
                _ if !rule.direction.includes_from() => 0,
                false => from.len(),
                true if rule.protocol == Protocol::Any => 2 * ips + ipv6,
                // Locked: each clause once per address of its family (see compile).
                true => (from.len() - from_ipv6) * ips + from_ipv6 * ipv6,
            };
            let nd = if keeps_nd(rule) { nd_count(e, &from, &to_clauses) } else { 0 };
            sent + to + nd
        })
        .sum()
}

/// An ADD of one flow as every policy sends them: no timeouts, no flags, no buffer,
/// cookie exact.
pub fn add_flow(table_id: u8, priority: u16, cookie: u64, flow_match: Match, instructions: Vec<Instruction>) -> FlowMod {
    FlowMod {
        xid: 0,
        cookie,
        cookie_mask: 0,
        table_id,
        command: FlowModCommand::ADD,
        idle_timeout: 0,
        hard_timeout: 0,
        priority,
        buffer_id: NO_BUFFER,
        out_port: PortNo::ANY,
        out_group: GroupNo::ANY,
        flags: FlowModFlags::default(),
        flow_match,
        instructions,
    }
}

/// The FLOW_MODs (command ADD, no timeouts, no flags) that put `rule` in force for
/// `endpoints` at `priority` in table `table_id`, all with `cookie`; a deny of `ip`
/// also has its neighbour-discovery carve-outs at `priority + 1` (see the module doc).
pub fn compile(rule: &Rule, endpoints: &[Endpoint], priority: u16, cookie: u64, table_id: u8) -> Vec<FlowMod> {
    // Built per flow that takes it: a deny (most of a bulk add) has no instruction to allocate.
    let normal = || vec![Instruction::ApplyActions { actions: vec![Action::Output { port: PortNo::NORMAL, max_len: 0 }] }];
    let instructions = if rule.allow { normal() } else { Vec::new() };
    let flow = |m: Match| add_flow(table_id, priority, cookie, m, instructions.clone());
    // The rule list keeps P + 1 free for them (a band ends at 65535 at most).
    let exception = |m: Match| add_flow(table_id, priority.saturating_add(1), cookie, m, normal());
    let nd = keeps_nd(rule);
    let range = rule.ip_range.and_then(IpRange::ipv4_match);
    let from_clauses = if rule.direction.includes_from() { clauses(rule, Direction::From) } else { Vec::new() };
    let to_clauses = if rule.direction.includes_to() { clauses(rule, Direction::To) } else { Vec::new() };
    // Sized from the clauses at hand (flow_count would derive them again): the
    // exceptions of a locked source, rare, grow it.
    let mut out = Vec::with_capacity(endpoints.len() * (from_clauses.len() + to_clauses.len()));
    for e in endpoints {
        let (ips, ipv6) = (unique(&e.ips), unique(&e.ipv6));
        if rule.direction.includes_from() {
            let base = Match {
                in_port: Some(PortNo(e.ofport)),
                dl_src: Some(Masked::exact(e.mac)),
                nw_dst: range,
                ..Match::default()
            };
            for c in &from_clauses {
                if !locks_source(rule, e) {
                    out.push(flow(with_clause(&base, c)));
                    continue;
                }
                if c.is_ipv6() {
                    // Once per IPv6 address of the lock; none when it lists IPv4 ones only (an
                    // IPv6 allow above it would let any IPv6 source through: XAPI decides).
                    for ip in &ipv6 {
                        out.push(flow(from_ipv6(&base, c, *ip)));
                    }
                    continue;
                }
                // Any protocol under a source lock: what XAPI lets through is IP and ARP,
                // and IPv6 from its IPv6 addresses.
                let locked: &[Clause] =
                    if rule.protocol == Protocol::Any { &[IP, ARP] } else { std::slice::from_ref(c) };
                for ip in &ips {
                    let from_ip = Match { nw_src: Some(Masked::exact(*ip)), ..base.clone() };
                    for lc in locked {
                        out.push(flow(with_clause(&from_ip, lc)));
                    }
                }
                if rule.protocol == Protocol::Any {
                    let any_ipv6 = Clause { dl_type: Some(ETH_TYPE_IPV6), ..ANY };
                    for ip in &ipv6 {
                        out.push(flow(from_ipv6(&base, &any_ipv6, *ip)));
                    }
                }
            }
            for c in from_clauses.iter().filter(|c| nd && c.is_ipv6()) {
                for t in ND_SENT {
                    if !is_locked(e) {
                        out.push(exception(ipv6_match(&base, &nd_clause(c, t))));
                        continue;
                    }
                    for ip in nd_senders(e, t) {
                        out.push(exception(from_ipv6(&base, &nd_clause(c, t), ip)));
                    }
                }
            }
        }
        if rule.direction.includes_to() {
            let base = Match { dl_dst: Some(Masked::exact(e.mac)), nw_src: range, ..Match::default() };
            for c in &to_clauses {
                out.push(flow(with_clause(&base, c)));
            }
            for c in to_clauses.iter().filter(|c| nd && c.is_ipv6()) {
                for t in ND_RECEIVED {
                    out.push(exception(ipv6_match(&base, &nd_clause(c, t))));
                }
            }
        }
    }
    debug_assert_eq!(out.len(), flow_count(rule, endpoints));
    out
}

/// An IPv6 clause sent by a VIF locked to `ip`: its match with `ipv6_src` too.
fn from_ipv6(base: &Match, c: &Clause, ip: Ipv6Addr) -> Match {
    with_fields(ipv6_match(base, c), vec![MatchField::exact(Field::Ipv6Src, Dialect::Oxm, NxValue::Ipv6(ip))])
}

/// `base` with the clause's fields: OF1.1's standard match when its ports are
/// exact, else the same fields as an OXM match with the masked ports. An IPv6
/// clause is always an OXM match (OF1.1 reads no L3 field under IPv6).
fn with_clause(base: &Match, c: &Clause) -> Match {
    if c.is_ipv6() {
        return ipv6_match(base, c);
    }
    let exact = |p: Option<MaskedPort>| p.filter(|p| p.is_exact()).map(|p| p.value);
    let standard = Match {
        dl_type: c.dl_type,
        nw_proto: c.nw_proto,
        tp_src: exact(c.tp_src),
        tp_dst: exact(c.tp_dst),
        ..base.clone()
    };
    let (src, dst) = match c.nw_proto {
        Some(IP_PROTO_UDP) => (Field::UdpSrc, Field::UdpDst),
        _ => (Field::TcpSrc, Field::TcpDst),
    };
    let masked: Vec<MatchField> = [(src, c.tp_src), (dst, c.tp_dst)]
        .into_iter()
        .filter_map(|(field, p)| {
            let p = p.filter(|p| !p.is_exact())?;
            let (value, mask) = (NxValue::U16(p.value), Some(NxValue::U16(p.mask)));
            Some(MatchField::Known { field, dialect: Dialect::Oxm, value, mask })
        })
        .collect();
    if masked.is_empty() {
        standard
    } else {
        oxm_match(&standard, masked)
    }
}

/// The OXM match of an IPv6 clause: `base`'s port and MAC, `eth_type` 0x86dd,
/// the remote IPv6 range, `ip_proto`, and TCP/UDP ports (masked or exact) or the
/// ICMPv6 type and code.
fn ipv6_match(base: &Match, c: &Clause) -> Match {
    let field = |field, value, mask| MatchField::Known { field, dialect: Dialect::Oxm, value, mask };
    let standard = Match {
        in_port: base.in_port,
        dl_src: base.dl_src,
        dl_dst: base.dl_dst,
        dl_type: c.dl_type,
        nw_proto: c.nw_proto,
        ..Match::default()
    };
    let mut beyond = Vec::new();
    if let Some((f, value, mask)) = c.ipv6_remote {
        beyond.push(field(f, NxValue::Ipv6(value), mask.map(NxValue::Ipv6)));
    }
    let ports = match c.nw_proto {
        Some(IP_PROTO_ICMPV6) => Some((Field::Icmpv6Type, Field::Icmpv6Code)),
        Some(IP_PROTO_TCP) => Some((Field::TcpSrc, Field::TcpDst)),
        Some(IP_PROTO_UDP) => Some((Field::UdpSrc, Field::UdpDst)),
        _ => None,
    };
    if let Some((fs, fd)) = ports {
        let icmp = c.nw_proto == Some(IP_PROTO_ICMPV6);
        for (f, p) in [(fs, c.tp_src), (fd, c.tp_dst)] {
            let Some(p) = p else { continue };
            let (value, mask) = if icmp {
                // ICMPv6 type and code are 8 bits, exact (the rule parser caps them at 255).
                (NxValue::U8(u8::try_from(p.value).unwrap_or(u8::MAX)), None)
            } else {
                (NxValue::U16(p.value), (!p.is_exact()).then_some(NxValue::U16(p.mask)))
            };
            beyond.push(field(f, value, mask));
        }
    }
    oxm_match(&standard, beyond)
}

/// The OXM match (`OFPMT_OXM`) of what the OF1.1 fields of `m` say, plus `beyond`:
/// fields OF1.1 cannot hold (a masked port...). Canonical order, as ovs-ofctl sends.
/// The fields a compiled or translated flow uses are converted: in_port, MACs,
/// VLAN, dl_type, nw_proto (the opcode under ARP), IPv4 or ARP addresses, exact
/// TCP/UDP ports or ICMP type and code, metadata; never set by [`compile`], ToS
/// and MPLS have no typed OXM field here and are left out.
pub fn oxm_match(m: &Match, beyond: Vec<MatchField>) -> Match {
    let field = |field, value, mask| MatchField::Known { field, dialect: Dialect::Oxm, value, mask };
    let arp = m.dl_type == Some(ETH_TYPE_ARP);
    let mut fields = Vec::new();
    if let Some(p) = m.in_port {
        fields.push(field(Field::InPort, NxValue::U32(p.0), None));
    }
    for (f, mac) in [(Field::EthSrc, &m.dl_src), (Field::EthDst, &m.dl_dst)] {
        if let Some(mac) = mac {
            fields.push(field(f, NxValue::Mac(mac.value), mac.mask.map(NxValue::Mac)));
        }
    }
    // OXM_OF_VLAN_VID: OFPVID_PRESENT (0x1000) marks a tag (OpenFlow 1.3.5 §7.2.2.6).
    match m.dl_vlan {
        None => {}
        Some(VID_NONE) => fields.push(field(Field::VlanVid, NxValue::U16(0), None)),
        Some(VID_ANY) => fields.push(field(Field::VlanVid, NxValue::U16(0x1000), Some(NxValue::U16(0x1000)))),
        Some(vid) => fields.push(field(Field::VlanVid, NxValue::U16(0x1000 | (vid & 0x0fff)), None)),
    }
    if let Some(pcp) = m.dl_vlan_pcp {
        fields.push(field(Field::VlanPcp, NxValue::U8(pcp), None));
    }
    if let Some(t) = m.dl_type {
        fields.push(field(Field::EthType, NxValue::U16(t), None));
    }
    if let Some(p) = m.nw_proto {
        let op = field(Field::ArpOp, NxValue::U16(u16::from(p)), None);
        fields.push(if arp { op } else { field(Field::IpProto, NxValue::U8(p), None) });
    }
    let (src, dst) = if arp { (Field::ArpSpa, Field::ArpTpa) } else { (Field::Ipv4Src, Field::Ipv4Dst) };
    for (f, a) in [(src, &m.nw_src), (dst, &m.nw_dst)] {
        if let Some(a) = a {
            fields.push(field(f, NxValue::Ipv4(a.value), a.mask.map(NxValue::Ipv4)));
        }
    }
    let ports = match m.nw_proto {
        Some(IP_PROTO_ICMP) => Some((Field::Icmpv4Type, Field::Icmpv4Code)),
        Some(IP_PROTO_TCP) => Some((Field::TcpSrc, Field::TcpDst)),
        Some(IP_PROTO_UDP) => Some((Field::UdpSrc, Field::UdpDst)),
        _ => None,
    };
    if let (Some((fs, fd)), false) = (ports, arp) {
        let icmp = m.nw_proto == Some(IP_PROTO_ICMP);
        for (f, p) in [(fs, m.tp_src), (fd, m.tp_dst)] {
            if let Some(p) = p {
                // ICMP type and code are 8 bits (OF1.1 carries them in the 16-bit ports).
                fields.push(field(f, if icmp { NxValue::U8(p as u8) } else { NxValue::U16(p) }, None));
            }
        }
    }
    if let Some(md) = m.metadata {
        fields.push(field(Field::Metadata, NxValue::U64(md.value), md.mask.map(NxValue::U64)));
    }
    fields.extend(beyond);
    let mut nxm = NxmMatch { fields };
    nxm.canonicalize();
    nxm.to_match()
}

/// `m` after a change to its OF1.1 fields (an elastic IP's twin of a compiled
/// flow): a match carried as OXM (masked ports) gets that match rebuilt from the
/// changed fields and the ones OF1.1 cannot hold, which would otherwise still be
/// sent as they were before the change. A standard match is returned as it is.
pub fn with_oxm_resynced(m: Match) -> Match {
    if m.oxm.is_none() {
        return m;
    }
    with_fields(m, Vec::new())
}

/// `m` with `extra` fields OF1.1 cannot hold (`ct_state`, `ct_zone`...) added to
/// those it carries already: an OXM match of both.
pub fn with_fields(m: Match, extra: Vec<MatchField>) -> Match {
    let mut beyond: Vec<MatchField> = match m.nxm() {
        Some(Ok(nxm)) => nxm
            .fields
            .into_iter()
            .filter(|f| match f {
                MatchField::Known { field, mask, .. } => !super::table::in_of11_fields(*field, mask.is_some()),
                MatchField::Unknown { .. } => true,
            })
            .collect(),
        _ => Vec::new(),
    };
    beyond.extend(extra);
    oxm_match(&Match { oxm: None, ..m }, beyond)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::text::parse_flow;
    use crate::rules::rule::parse_rule;
    use serde_json::json;

    const VIF: &str = "00000000-0000-0000-0000-000000000004";

    fn rule(v: Value) -> Rule {
        parse_rule(&v).unwrap_or_else(|e| panic!("{e}"))
    }

    fn endpoint(ofport: u32, mac: &str, ips: &[&str]) -> Endpoint {
        Endpoint {
            ofport,
            mac: mac.parse().unwrap(),
            ips: ips.iter().filter(|s| !s.contains(':')).map(|s| s.parse().unwrap()).collect(),
            ipv6: ips.iter().filter(|s| s.contains(':')).map(|s| s.parse().unwrap()).collect(),
        }
    }

    fn text(t: &str) -> FlowMod {
        parse_flow(t, FlowModCommand::ADD).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    /// A flow with a masked port, as `parseFlow(t, { extensions: true })` reads it: the
    /// OF1.1 FLOW_MOD with the OXM match ovs-ofctl sends.
    fn nx_text(t: &str) -> FlowMod {
        crate::openflow::text::parse_nx_flow(t).unwrap_or_else(|e| panic!("{t}: {e}")).to_flow_mod(0)
    }

    #[test]
    fn seed_deny_equals_what_ovs_ofctl_sends() {
        let r = rule(json!({ "vif": { "uuid": VIF, "mac": "ae:f7:4b:84:6c:8b" }, "allow": false, "protocol": "tcp",
                              "port": 5060, "ipRange": "192.168.5.55", "direction": "from" }));
        let eps = [endpoint(4, "ae:f7:4b:84:6c:8b", &["192.168.5.242"])];
        let flows = compile(&r, &eps, 65527, 0x5d4e_0000_0000_0001, 0);
        let want = text(
            "priority=65527,cookie=0x5d4e000000000001,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,\
             nw_dst=192.168.5.55,tp_dst=5060,actions=drop",
        );
        assert_eq!(flows, vec![want.clone()], "a deny is not narrowed to the VIF's addresses");
        let bytes = crate::openflow::Message::FlowMod(flows[0].clone()).to_bytes().unwrap();
        assert_eq!(bytes, crate::openflow::Message::FlowMod(want).to_bytes().unwrap());
    }

    #[test]
    fn source_port_matches_the_reply_of_a_service() {
        // Inbound SSH from 10.10.1.0/24 answered: the reply leaves the VIF from port 22.
        let r = rule(json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:04" }, "allow": true, "protocol": "tcp",
                              "sourcePort": 22, "ipRange": "10.10.1.0/24", "direction": "from" }));
        let flows = compile(&r, &[endpoint(4, "02:00:00:00:00:04", &[])], 100, 7, 0);
        assert_eq!(
            flows,
            vec![text("priority=100,cookie=7,tcp,in_port=4,dl_src=02:00:00:00:00:04,nw_dst=10.10.1.0/24,tp_src=22,actions=normal")]
        );
        let both = rule(json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:04" }, "allow": true, "protocol": "udp",
                                 "port": [53, 54], "sourcePort": [1000, 1002], "direction": "to" }));
        // 2 ports × the source blocks 1000-1001 and 1002, IPv4 and IPv6 (no range).
        assert_eq!(compile(&both, &[endpoint(4, "02:00:00:00:00:04", &[])], 100, 7, 0).len(), 8);
        assert_eq!(flow_count(&both, &[endpoint(4, "02:00:00:00:00:04", &[])]), 8);
        let e =
            parse_rule(&json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:04" }, "allow": true, "protocol": "icmp",
                                     "sourcePort": 22, "direction": "to" }))
            .unwrap_err();
        assert_eq!((e.code, e.field.as_str()), ("ERR_INVALID_ARG_VALUE", "sourcePort"));
    }

    #[test]
    fn sip_service_is_the_seed_port() {
        let r = rule(json!({ "vif": { "uuid": VIF, "mac": "ae:f7:4b:84:6c:8b" }, "allow": false, "protocol": "SIP",
                              "ipRange": "192.168.5.55/32", "direction": "from" }));
        let flows = compile(&r, &[endpoint(4, "ae:f7:4b:84:6c:8b", &[])], 100, 7, 0);
        assert_eq!(
            flows,
            vec![text("priority=100,cookie=7,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_dst=192.168.5.55,tp_dst=5060,actions=drop")]
        );
    }

    #[test]
    fn udp_allow_both_ways_with_a_range() {
        let r = rule(json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:01" }, "allow": true, "protocol": "udp",
                              "port": 1212, "ipRange": "12.0.0.0/12", "direction": "from/to" }));
        let eps = [endpoint(3, "02:00:00:00:00:01", &[])];
        let flows = compile(&r, &eps, 200, 9, 0);
        assert_eq!(
            flows,
            vec![
                text("priority=200,cookie=9,udp,in_port=3,dl_src=02:00:00:00:00:01,nw_dst=12.0.0.0/12,tp_dst=1212,actions=normal"),
                text("priority=200,cookie=9,udp,dl_dst=02:00:00:00:00:01,nw_src=12.0.0.0/12,tp_dst=1212,actions=normal"),
            ]
        );
        assert_eq!(flow_count(&r, &eps), 2);
    }

    #[test]
    fn allow_from_is_locked_to_the_vifs_addresses() {
        let r = rule(json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:01" }, "allow": true, "protocol": "udp",
                              "port": 1212, "ipRange": "12.0.0.0/12", "direction": "both" }));
        let eps = [endpoint(3, "02:00:00:00:00:01", &["10.0.0.5", "10.0.0.6", "10.0.0.5"])];
        let flows = compile(&r, &eps, 200, 9, 0);
        let from = "priority=200,cookie=9,udp,in_port=3,dl_src=02:00:00:00:00:01,nw_dst=12.0.0.0/12,tp_dst=1212";
        assert_eq!(
            flows,
            vec![
                text(&format!("{from},nw_src=10.0.0.5,actions=normal")),
                text(&format!("{from},nw_src=10.0.0.6,actions=normal")),
                text(
                    "priority=200,cookie=9,udp,dl_dst=02:00:00:00:00:01,nw_src=12.0.0.0/12,tp_dst=1212,actions=normal"
                ),
            ]
        );
        assert_eq!(flow_count(&r, &eps), 3);
    }

    #[test]
    fn allow_any_under_a_lock_is_ip_and_arp_per_address() {
        let r = rule(json!({ "pool": true, "allow": true, "direction": "from" }));
        let eps = [endpoint(5, "02:00:00:00:00:05", &["10.0.0.5", "10.0.0.6"])];
        let flows = compile(&r, &eps, 10, 1, 0);
        let p = "priority=10,cookie=1,in_port=5,dl_src=02:00:00:00:00:05";
        assert_eq!(
            flows,
            vec![
                text(&format!("{p},ip,nw_src=10.0.0.5,actions=normal")),
                text(&format!("{p},arp,arp_spa=10.0.0.5,actions=normal")),
                text(&format!("{p},ip,nw_src=10.0.0.6,actions=normal")),
                text(&format!("{p},arp,arp_spa=10.0.0.6,actions=normal")),
            ]
        );
        let deny = rule(json!({ "pool": true, "allow": false, "direction": "from" }));
        assert_eq!(compile(&deny, &eps, 10, 1, 0), vec![text(&format!("{p},actions=drop"))]);
    }

    #[test]
    fn protocols() {
        let eps = [endpoint(2, "02:00:00:00:00:02", &[])];
        let all = |v: Value| {
            let mut base = json!({ "network": { "uuid": VIF }, "allow": false, "direction": "to" });
            for (k, x) in v.as_object().unwrap() {
                base[k] = x.clone();
            }
            compile(&rule(base), &eps, 5, 3, 0)
        };
        let one = |v: Value| {
            let flows = all(v);
            assert_eq!(flows.len(), 1);
            flows.into_iter().next().unwrap()
        };
        let p = "priority=5,cookie=3,dl_dst=02:00:00:00:00:02";
        assert_eq!(one(json!({})), text(&format!("{p},actions=drop")));
        assert_eq!(one(json!({ "protocol": "ip", "ipRange": "0.0.0.0/0" })), text(&format!("{p},ip,actions=drop")));
        // No range: both families, the IPv6 twin after (then the 3 ND carve-outs of a
        // deny of ip, see a_deny_of_ip_keeps_neighbour_discovery_one_priority_above).
        let ip = all(json!({ "protocol": "ip" }));
        assert_eq!(ip[..2], [text(&format!("{p},ip,actions=drop")), nx_text(&format!("{p},ipv6,actions=drop"))]);
        assert_eq!(ip.len(), 2 + 3);
        assert_eq!(
            all(json!({ "protocol": "tcp" })),
            [text(&format!("{p},tcp,actions=drop")), nx_text(&format!("{p},tcp6,actions=drop"))]
        );
        assert_eq!(
            all(json!({ "protocol": "udp", "port": 53 })),
            [text(&format!("{p},udp,tp_dst=53,actions=drop")), nx_text(&format!("{p},udp6,tp_dst=53,actions=drop"))]
        );
        assert_eq!(
            one(json!({ "protocol": "arp", "ipRange": "10.0.0.0/8" })),
            text(&format!("{p},arp,arp_spa=10.0.0.0/8,actions=drop"))
        );
        assert_eq!(one(json!({ "protocol": "icmp" })), text(&format!("{p},icmp,actions=drop")));
        assert_eq!(
            one(json!({ "protocol": "icmp", "icmpType": 8, "icmpCode": 0 })),
            text(&format!("{p},icmp,icmp_type=8,icmp_code=0,actions=drop"))
        );
        assert_eq!(one(json!({ "protocol": "tcp", "ipRange": "0.0.0.0/0" })), text(&format!("{p},tcp,actions=drop")));
    }

    #[test]
    fn services_make_one_flow_per_clause() {
        let r = rule(json!({ "vm": { "uuid": VIF }, "allow": false, "protocol": "dns", "direction": "to" }));
        let flows = compile(&r, &[endpoint(2, "02:00:00:00:00:02", &[])], 5, 3, 0);
        let p = "priority=5,cookie=3,dl_dst=02:00:00:00:00:02";
        assert_eq!(
            flows,
            vec![
                text(&format!("{p},udp,tp_dst=53,actions=drop")),
                text(&format!("{p},tcp,tp_dst=53,actions=drop")),
                nx_text(&format!("{p},udp6,tp_dst=53,actions=drop")),
                nx_text(&format!("{p},tcp6,tp_dst=53,actions=drop")),
            ]
        );
    }

    #[test]
    fn port_ranges_compile_to_one_flow_per_masked_block() {
        let r = rule(json!({ "vm": { "uuid": VIF }, "allow": true, "protocol": "tcp", "port": "1000-1010",
                              "ipRange": "0.0.0.0/0", "direction": "both" }));
        let eps = [endpoint(2, "02:00:00:00:00:02", &["10.0.0.2"]), endpoint(7, "02:00:00:00:00:07", &[])];
        let flows = compile(&r, &eps, 5, 3, 4);
        // 1000-1007, 1008-1009, 1010: two masked blocks and an exact port, per direction and endpoint.
        assert_eq!(flows.len(), 3 * 2 * 2);
        assert_eq!(flow_count(&r, &eps), flows.len());
        assert!(flows.iter().all(|f| f.table_id == 4 && f.cookie == 3 && f.priority == 5));
        let from = "priority=5,cookie=3,table=4,tcp,in_port=2,dl_src=02:00:00:00:00:02,nw_src=10.0.0.2";
        assert_eq!(
            flows[..3],
            [
                nx_text(&format!("{from},tp_dst=0x3e8/0xfff8,actions=normal")),
                nx_text(&format!("{from},tp_dst=0x3f0/0xfffe,actions=normal")),
                text(&format!("{from},tp_dst=1010,actions=normal")),
            ]
        );
        // The exact port keeps the standard match; the blocks are OXM matches.
        assert_eq!(flows.iter().filter(|f| f.flow_match.oxm.is_some()).count(), 2 * 2 * 2);
        let udp = rule(json!({ "pool": true, "allow": false, "protocol": "udp", "port": [1, 65535],
                                "ipRange": "0.0.0.0/0", "direction": "both" }));
        assert_eq!(compile(&udp, &eps, 5, 3, 0).len(), 16 * 2 * 2, "1-65535: the 16 blocks 1, 2-3, ..., 32768-65535");
        assert_eq!(flow_count(&udp, &eps), 16 * 2 * 2);
    }

    /// The range: 8 flows per direction for a deny on one VIF, and the
    /// flows match exactly the ports 1000-2000 (checked port by port on the match).
    #[test]
    fn the_range_1000_to_2000_is_eight_flows_per_direction() {
        let r = rule(json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:01" }, "allow": false, "protocol": "tcp",
                              "port": "1000-2000", "direction": "both" }));
        let eps = [endpoint(3, "02:00:00:00:00:01", &["10.0.0.5"])];
        let flows = compile(&r, &eps, 100, 7, 0);
        // No range: IPv4 and IPv6, 8 blocks each, per direction.
        assert_eq!(flows.len(), 32);
        assert_eq!(flow_count(&r, &eps), 32);
        #[rustfmt::skip]
        let blocks = ["0x3e8/0xfff8", "0x3f0/0xfff0", "0x400/0xfe00", "0x600/0xff00", "0x700/0xff80", "0x780/0xffc0",
                      "0x7c0/0xfff0", "2000"];
        let from = "priority=100,cookie=7,tcp,in_port=3,dl_src=02:00:00:00:00:01";
        let to = "priority=100,cookie=7,tcp,dl_dst=02:00:00:00:00:01";
        let want: Vec<FlowMod> = [from, &from.replace("tcp", "tcp6"), to, &to.replace("tcp", "tcp6")]
            .iter()
            .flat_map(|base| {
                blocks.iter().map(move |b| {
                    // The exact 2000 is a standard match, the blocks and IPv6 OXM ones.
                    let t = format!("{base},tp_dst={b},actions=drop");
                    if b.contains('/') || base.contains("tcp6") {
                        nx_text(&t)
                    } else {
                        text(&t)
                    }
                })
            })
            .collect();
        assert_eq!(flows, want);
        // What each flow matches, port by port: the masked TLV of the OXM match, or tp_dst.
        let covers = |f: &FlowMod, port: u16| match f.flow_match.nxm() {
            Some(Ok(m)) => match m.find(Field::TcpDst) {
                Some((NxValue::U16(v), Some(NxValue::U16(mask)))) => port & mask == v,
                other => panic!("{other:?}"),
            },
            _ => f.flow_match.tp_dst == Some(port),
        };
        for port in 0..=u16::MAX {
            let n = flows[..8].iter().filter(|f| covers(f, port)).count();
            assert_eq!(n, usize::from((1000..=2000).contains(&port)), "port {port}");
        }
        // A flow of each kind round-trips through the codec.
        for f in [&flows[0], &flows[7]] {
            let bytes = crate::openflow::Message::FlowMod(f.clone()).to_bytes().unwrap();
            let back = crate::openflow::Message::decode(&bytes);
            assert!(matches!(back, Ok(crate::openflow::Message::FlowMod(g)) if g == *f));
        }
    }

    #[test]
    fn masked_source_ports_and_either_side_multiply_blocks() {
        let eps = [endpoint(1, "02:00:00:00:00:01", &[])];
        let both = rule(json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:01" }, "allow": true, "protocol": "udp",
                                 "port": [53, 54], "sourcePort": "1024-2047", "ipRange": "0.0.0.0/0", "direction": "to" }));
        let flows = compile(&both, &eps, 100, 7, 0);
        let to = "priority=100,cookie=7,udp,dl_dst=02:00:00:00:00:01,tp_src=0x400/0xfc00";
        assert_eq!(
            flows,
            vec![
                nx_text(&format!("{to},tp_dst=53,actions=normal")),
                nx_text(&format!("{to},tp_dst=54,actions=normal")),
            ]
        );
        assert_eq!(flow_count(&both, &eps), 2);
        let either = rule(json!({ "pool": true, "allow": false, "protocol": "tcp", "port": "1000-2000",
                                  "portSide": "either", "ipRange": "0.0.0.0/0", "direction": "from" }));
        assert_eq!(compile(&either, &eps, 100, 7, 0).len(), 16);
        assert_eq!(flow_count(&either, &eps), 16);
    }

    /// An IPv6 range makes the rule IPv6's: OXM matches with `eth_type` 0x86dd, the
    /// range on the remote side, ports masked or exact; the same FLOW_MODs as
    /// `ovs-ofctl -O OpenFlow13` would send for the text.
    #[test]
    fn an_ipv6_range_compiles_to_ipv6_oxm_flows() {
        let eps = [endpoint(3, "02:00:00:00:00:01", &[])];
        let r = rule(json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:01" }, "allow": false, "protocol": "tcp",
                              "port": 22, "ipRange": "2001:db8::/32", "direction": "both" }));
        assert_eq!(
            compile(&r, &eps, 100, 7, 0),
            vec![
                nx_text("priority=100,cookie=7,tcp6,in_port=3,dl_src=02:00:00:00:00:01,ipv6_dst=2001:db8::/32,tp_dst=22,actions=drop"),
                nx_text("priority=100,cookie=7,tcp6,dl_dst=02:00:00:00:00:01,ipv6_src=2001:db8::/32,tp_dst=22,actions=drop"),
            ]
        );
        assert_eq!(flow_count(&r, &eps), 2);
        let range = rule(json!({ "pool": true, "allow": true, "protocol": "udp", "port": "1000-2000",
                                  "ipRange": "fd00::1", "direction": "to" }));
        let flows = compile(&range, &eps, 100, 7, 0);
        assert_eq!(flows.len(), 8);
        assert_eq!(
            flows[0],
            nx_text("priority=100,cookie=7,udp6,dl_dst=02:00:00:00:00:01,ipv6_src=fd00::1,tp_dst=0x3e8/0xfff8,actions=normal")
        );
        assert_eq!(
            flows[7],
            nx_text("priority=100,cookie=7,udp6,dl_dst=02:00:00:00:00:01,ipv6_src=fd00::1,tp_dst=2000,actions=normal")
        );
        let ip = rule(json!({ "pool": true, "allow": false, "protocol": "ip", "ipRange": "2001:db8::/32",
                               "direction": "from" }));
        let nd = |t: u8| {
            nx_text(&format!(
                "priority=101,cookie=7,icmp6,in_port=3,dl_src=02:00:00:00:00:01,ipv6_dst=2001:db8::/32,icmp_type={t},actions=normal"
            ))
        };
        assert_eq!(
            compile(&ip, &eps, 100, 7, 0),
            vec![
                nx_text(
                    "priority=100,cookie=7,ipv6,in_port=3,dl_src=02:00:00:00:00:01,ipv6_dst=2001:db8::/32,actions=drop"
                ),
                nd(133),
                nd(135),
                nd(136),
            ],
            "the ND carve-outs keep the range: exactly the ND part of what the rule drops"
        );
        assert_eq!(flow_count(&ip, &eps), 4);
        // ::/0: every IPv6 address, no address field.
        let all =
            rule(json!({ "pool": true, "allow": false, "protocol": "ssh", "ipRange": "::/0", "direction": "to" }));
        assert_eq!(
            compile(&all, &eps, 100, 7, 0),
            vec![nx_text("priority=100,cookie=7,tcp6,dl_dst=02:00:00:00:00:01,tp_dst=22,actions=drop")]
        );
    }

    #[test]
    fn icmpv6_with_its_type_and_code() {
        let eps = [endpoint(3, "02:00:00:00:00:01", &[])];
        let r = rule(json!({ "pool": true, "allow": false, "protocol": "icmpv6", "icmpType": 128, "icmpCode": 0,
                              "direction": "to" }));
        assert_eq!(
            compile(&r, &eps, 100, 7, 0),
            vec![nx_text("priority=100,cookie=7,icmp6,dl_dst=02:00:00:00:00:01,icmp_type=128,icmp_code=0,actions=drop")]
        );
        let any = rule(json!({ "pool": true, "allow": false, "protocol": "ICMPv6", "ipRange": "fe80::/10",
                                "direction": "from" }));
        assert_eq!(
            compile(&any, &eps, 100, 7, 0),
            vec![nx_text("priority=100,cookie=7,icmp6,in_port=3,dl_src=02:00:00:00:00:01,ipv6_dst=fe80::/10,actions=drop")]
        );
        assert_eq!(any.to_json()["protocol"], json!("icmpv6"));
    }

    /// XAPI's locking lists the VIF's IPv4 addresses: an IPv6 allow from a locked VIF
    /// makes no flow (it would let any IPv6 source past the locking); a deny does.
    #[test]
    fn an_ipv6_allow_from_a_locked_vif_makes_no_flow() {
        let locked = [endpoint(3, "02:00:00:00:00:01", &["10.0.0.1"])];
        let r = |allow: bool| {
            rule(json!({ "pool": true, "allow": allow, "protocol": "tcp", "port": 22, "ipRange": "2001:db8::/32",
                         "direction": "both" }))
        };
        let allow = compile(&r(true), &locked, 100, 7, 0);
        let to = "priority=100,cookie=7,tcp6,dl_dst=02:00:00:00:00:01,ipv6_src=2001:db8::/32,tp_dst=22";
        assert_eq!(allow, vec![nx_text(&format!("{to},actions=normal"))]);
        assert_eq!(flow_count(&r(true), &locked), 1);
        assert_eq!(compile(&r(false), &locked, 100, 7, 0).len(), 2);
        assert_eq!(flow_count(&r(false), &locked), 2);
    }

    /// A VIF locked to IPv6 addresses too (security groups' `ips`): an IPv6 allow
    /// from it is one flow per IPv6 address, `ipv6_src` each; any protocol adds plain
    /// IPv6 from each; a family it has no address of sends nothing.
    #[test]
    fn an_ipv6_allow_from_a_vif_locked_to_ipv6_addresses_is_one_flow_per_address() {
        let eps = [endpoint(3, "02:00:00:00:00:01", &["10.0.0.1", "2001:db8::1", "2001:db8::2"])];
        let ssh = rule(json!({ "pool": true, "allow": true, "protocol": "tcp", "port": 22, "direction": "from" }));
        let p = "priority=100,cookie=7,in_port=3,dl_src=02:00:00:00:00:01";
        assert_eq!(compile(&ssh, &eps, 100, 7, 0), vec![
            text(&format!("{p},tcp,nw_src=10.0.0.1,tp_dst=22,actions=normal")),
            nx_text(&format!("{p},tcp6,ipv6_src=2001:db8::1,tp_dst=22,actions=normal")),
            nx_text(&format!("{p},tcp6,ipv6_src=2001:db8::2,tp_dst=22,actions=normal")),
        ]);
        assert_eq!(flow_count(&ssh, &eps), 3);
        let any = rule(json!({ "pool": true, "allow": true, "direction": "from" }));
        assert_eq!(compile(&any, &eps, 100, 7, 0), vec![
            text(&format!("{p},ip,nw_src=10.0.0.1,actions=normal")),
            text(&format!("{p},arp,arp_spa=10.0.0.1,actions=normal")),
            nx_text(&format!("{p},ipv6,ipv6_src=2001:db8::1,actions=normal")),
            nx_text(&format!("{p},ipv6,ipv6_src=2001:db8::2,actions=normal")),
        ]);
        assert_eq!(flow_count(&any, &eps), 4);
        let v6_only = [endpoint(3, "02:00:00:00:00:01", &["2001:db8::1"])];
        assert_eq!(compile(&ssh, &v6_only, 100, 7, 0).len(), 1, "no IPv4 from a VIF locked to IPv6 addresses only");
        assert_eq!(flow_count(&ssh, &v6_only), 1);
    }

    /// A deny of `ip` drops IPv6, whose ARP is ICMPv6: each IPv6 clause gets the ND
    /// carve-outs one priority above it, action NORMAL, same cookie and table: RS, NS
    /// and NA sent by the VIF (not RA), RA, NS and NA delivered to it.
    #[test]
    fn a_deny_of_ip_keeps_neighbour_discovery_one_priority_above() {
        let eps = [endpoint(3, "02:00:00:00:00:01", &[])];
        let r = rule(json!({ "pool": true, "allow": false, "protocol": "ip", "direction": "both" }));
        let flows = compile(&r, &eps, 100, 7, 2);
        let from = "cookie=7,table=2,in_port=3,dl_src=02:00:00:00:00:01";
        let to = "cookie=7,table=2,dl_dst=02:00:00:00:00:01";
        let nd = |side: &str, t: u8| nx_text(&format!("priority=101,{side},icmp6,icmp_type={t},actions=normal"));
        assert_eq!(
            flows,
            vec![
                text(&format!("priority=100,{from},ip,actions=drop")),
                nx_text(&format!("priority=100,{from},ipv6,actions=drop")),
                nd(from, 133),
                nd(from, 135),
                nd(from, 136),
                text(&format!("priority=100,{to},ip,actions=drop")),
                nx_text(&format!("priority=100,{to},ipv6,actions=drop")),
                nd(to, 134),
                nd(to, 135),
                nd(to, 136),
            ]
        );
        assert_eq!(flow_count(&r, &eps), 10);
        let allow_ip = rule(json!({ "pool": true, "allow": true, "protocol": "ip", "direction": "both" }));
        let allow = compile(&allow_ip, &eps, 100, 7, 2);
        assert_eq!(flows[2].instructions, allow[0].instructions, "NORMAL, as an allow");

        // Only a deny of ip, and only its IPv6 clauses: `any` drops ARP too, a rule
        // naming icmpv6 means it, an IPv4 range has no IPv6 clause.
        for v in [
            json!({ "pool": true, "allow": false, "direction": "both" }),
            json!({ "pool": true, "allow": false, "protocol": "icmpv6", "direction": "both" }),
            json!({ "pool": true, "allow": false, "protocol": "ip", "ipRange": "0.0.0.0/0", "direction": "both" }),
            json!({ "pool": true, "allow": false, "protocol": "tcp", "direction": "both" }),
            json!({ "pool": true, "allow": true, "protocol": "ip", "direction": "both" }),
        ] {
            let r = rule(v.clone());
            let flows = compile(&r, &eps, 100, 7, 0);
            assert!(flows.iter().all(|f| f.priority == 100), "{v}");
            assert_eq!(flow_count(&r, &eps), flows.len(), "{v}");
        }
        // An IPv6 range on a `to` rule: on the remote side, as the rule's own flow.
        let r =
            rule(json!({ "pool": true, "allow": false, "protocol": "ip", "ipRange": "fd00::/8", "direction": "to" }));
        assert_eq!(
            compile(&r, &eps, 100, 7, 0)[1..],
            [134, 135, 136].map(|t| nx_text(&format!(
                "priority=101,cookie=7,icmp6,dl_dst=02:00:00:00:00:01,ipv6_src=fd00::/8,icmp_type={t},actions=normal"
            )))
        );
    }

    /// XAPI's lock stays in force under the carve-outs: what a VIF locked to IPv6
    /// addresses sends is carried from each of them, from its EUI-64 link-local
    /// address, and RS/NS from `::` (duplicate address detection); a lock of IPv4
    /// addresses only makes no IPv6 carve-out (XAPI drops its IPv6).
    #[test]
    fn the_nd_carve_outs_of_a_locked_vif_carry_its_sources() {
        let r = rule(json!({ "pool": true, "allow": false, "protocol": "ip", "direction": "both" }));
        // 02:00:00:00:00:01: fe80::ff:fe00:1.
        let eps = [endpoint(3, "02:00:00:00:00:01", &["10.0.0.1", "2001:db8::1", "2001:db8::2"])];
        let flows = compile(&r, &eps, 100, 7, 0);
        let from = "priority=101,cookie=7,icmp6,in_port=3,dl_src=02:00:00:00:00:01";
        let nd = |t: u8, src: &str| nx_text(&format!("{from},ipv6_src={src},icmp_type={t},actions=normal"));
        let mut want = vec![];
        for t in [133, 135] {
            for src in ["2001:db8::1", "2001:db8::2", "::", "fe80::ff:fe00:1"] {
                want.push(nd(t, src));
            }
        }
        for src in ["2001:db8::1", "2001:db8::2", "fe80::ff:fe00:1"] {
            want.push(nd(136, src));
        }
        assert_eq!(flows[2..13], want[..], "the deny itself is not narrowed: ip and ipv6 drops first");
        assert_eq!(flows[13..].iter().filter(|f| f.priority == 101).count(), 3, "RA, NS, NA to it, any source");
        assert_eq!(flows.len(), 2 + 11 + 2 + 3);
        assert_eq!(flow_count(&r, &eps), flows.len());
        // A lock that lists the link-local address already: once.
        let ll = [endpoint(3, "02:00:00:00:00:01", &["fe80::ff:fe00:1"])];
        let flows = compile(&r, &ll, 100, 7, 0);
        let sent: Vec<_> = flows.iter().filter(|f| f.priority == 101 && f.flow_match.in_port.is_some()).collect();
        assert_eq!(sent.len(), 2 + 2 + 1);
        assert_eq!(flow_count(&r, &ll), flows.len());
        // IPv4 only: none sent by it, the deny's own drops stay.
        let v4 = [endpoint(3, "02:00:00:00:00:01", &["10.0.0.1"])];
        let flows = compile(&r, &v4, 100, 7, 0);
        assert!(flows.iter().filter(|f| f.priority == 101).all(|f| f.flow_match.in_port.is_none()));
        assert_eq!((flows.len(), flow_count(&r, &v4)), (2 + 2 + 3, 7));
    }

    #[test]
    fn flow_count_agrees_with_compile_for_ipv6() {
        let eps = [
            endpoint(1, "02:00:00:00:00:01", &[]),
            endpoint(2, "02:00:00:00:00:02", &["10.0.0.2", "10.0.0.3"]),
            endpoint(3, "02:00:00:00:00:03", &["10.0.0.4", "2001:db8::4", "2001:db8::5"]),
        ];
        for (protocol, extra) in [
            ("ip", json!({})),
            ("tcp", json!({ "port": "1000-2000" })),
            ("udp", json!({ "port": 53, "sourcePort": [1024, 2047] })),
            ("tcp", json!({ "port": [20, 21], "portSide": "either" })),
            ("icmpv6", json!({ "icmpType": 135 })),
            ("ssh", json!({})),
        ] {
            for direction in ["from", "to", "both"] {
                for allow in [true, false] {
                    let mut v = json!({ "pool": true, "allow": allow, "protocol": protocol, "ipRange": "2001:db8::/48",
                                        "direction": direction });
                    for (k, x) in extra.as_object().unwrap() {
                        v[k] = x.clone();
                    }
                    let r = rule(v);
                    let flows = compile(&r, &eps, 1, 1, 0);
                    assert_eq!(flow_count(&r, &eps), flows.len(), "{protocol} {extra} {direction} {allow}");
                    let ipv6 = flows.iter().all(|f| f.flow_match.dl_type == Some(ETH_TYPE_IPV6));
                    assert!(ipv6, "{protocol} {direction}");
                    assert!(!flows.is_empty(), "{protocol} {direction}");
                }
            }
        }
    }

    #[test]
    fn flow_count_agrees_with_compile() {
        let eps = [
            endpoint(1, "02:00:00:00:00:01", &[]),
            endpoint(2, "02:00:00:00:00:02", &["10.0.0.2", "10.0.0.3", "10.0.0.2"]),
            endpoint(3, "02:00:00:00:00:03", &["10.0.0.4", "2001:db8::4", "2001:db8::5", "2001:db8::4"]),
            endpoint(4, "02:00:00:00:00:04", &["2001:db8::6"]),
            // Its own EUI-64 link-local address in the lock (a deny of ip: once).
            endpoint(5, "02:00:00:00:00:05", &["fe80::ff:fe00:5", "2001:db8::5"]),
        ];
        for protocol in ["any", "ip", "arp", "icmp", "icmpv6", "tcp", "udp", "dns", "dhcp", "ssh"] {
            for direction in ["from", "to", "both"] {
                for allow in [true, false] {
                    let r = rule(json!({ "pool": true, "allow": allow, "protocol": protocol, "direction": direction }));
                    assert_eq!(
                        flow_count(&r, &eps),
                        compile(&r, &eps, 1, 1, 0).len(),
                        "{protocol} {direction} {allow}"
                    );
                    assert_eq!(flow_count(&r, &[]), 0);
                }
            }
        }
    }

    /// The seed rule with `portSide: side` (omitted when `None`), direction both.
    fn seed_with_side(side: Option<&str>) -> Rule {
        let mut v = json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:01" }, "allow": false, "protocol": "tcp",
                            "port": 5060, "ipRange": "192.168.5.55", "direction": "both" });
        if let Some(side) = side {
            v["portSide"] = json!(side);
        }
        rule(v)
    }

    const FROM_1: &str = "priority=100,cookie=7,tcp,in_port=1,dl_src=02:00:00:00:00:01,nw_dst=192.168.5.55";
    const TO_1: &str = "priority=100,cookie=7,tcp,dl_dst=02:00:00:00:00:01,nw_src=192.168.5.55";

    #[test]
    fn port_side_local_is_the_vifs_own_port() {
        let eps = [endpoint(1, "02:00:00:00:00:01", &[])];
        let r = seed_with_side(Some("local"));
        assert_eq!(
            compile(&r, &eps, 100, 7, 0),
            vec![
                text("priority=100,cookie=7,tcp,in_port=1,dl_src=02:00:00:00:00:01,nw_dst=192.168.5.55,tp_src=5060 actions=drop"),
                text("priority=100,cookie=7,tcp,dl_dst=02:00:00:00:00:01,nw_src=192.168.5.55,tp_dst=5060 actions=drop"),
            ]
        );
        assert_eq!(flow_count(&r, &eps), 2);
    }

    #[test]
    fn port_side_remote_is_the_other_sides_port() {
        let eps = [endpoint(1, "02:00:00:00:00:01", &[])];
        let r = seed_with_side(Some("remote"));
        assert_eq!(
            compile(&r, &eps, 100, 7, 0),
            vec![
                text(&format!("{FROM_1},tp_dst=5060 actions=drop")),
                text(&format!("{TO_1},tp_src=5060 actions=drop")),
            ]
        );
        assert_eq!(flow_count(&r, &eps), 2);
    }

    #[test]
    fn port_side_either_is_local_then_remote() {
        let eps = [endpoint(1, "02:00:00:00:00:01", &[])];
        let r = seed_with_side(Some("either"));
        assert_eq!(
            compile(&r, &eps, 100, 7, 0),
            vec![
                text(&format!("{FROM_1},tp_src=5060 actions=drop")),
                text(&format!("{FROM_1},tp_dst=5060 actions=drop")),
                text(&format!("{TO_1},tp_dst=5060 actions=drop")),
                text(&format!("{TO_1},tp_src=5060 actions=drop")),
            ]
        );
        assert_eq!(flow_count(&r, &eps), 4);
        // A range: two flows per block, block by block (53 and 54 are exact blocks: 53 is odd).
        let range = rule(json!({ "pool": true, "allow": false, "protocol": "udp", "port": [53, 54],
                                 "portSide": "either", "ipRange": "0.0.0.0/0", "direction": "from" }));
        let ports: Vec<(Option<u16>, Option<u16>)> =
            compile(&range, &eps, 100, 7, 0).iter().map(|f| (f.flow_match.tp_src, f.flow_match.tp_dst)).collect();
        assert_eq!(ports, vec![(Some(53), None), (None, Some(53)), (Some(54), None), (None, Some(54))]);
    }

    #[test]
    fn port_side_destination_is_the_default() {
        let eps = [endpoint(1, "02:00:00:00:00:01", &[])];
        let explicit = seed_with_side(Some("destination"));
        let omitted = seed_with_side(None);
        assert_eq!(explicit, omitted);
        assert!(explicit.to_json().get("portSide").is_none());
        let flows = compile(&explicit, &eps, 100, 7, 0);
        assert_eq!(flows, compile(&omitted, &eps, 100, 7, 0));
        assert_eq!(
            flows,
            vec![
                text(&format!("{FROM_1},tp_dst=5060 actions=drop")),
                text(&format!("{TO_1},tp_dst=5060 actions=drop")),
            ]
        );
    }

    #[test]
    fn port_side_under_a_source_lock() {
        // An allow from a VIF with allowed addresses: each from flow once per address.
        let r = rule(json!({ "vif": { "uuid": VIF, "mac": "02:00:00:00:00:01" }, "allow": true, "protocol": "tcp",
                              "port": 5060, "ipRange": "192.168.5.55", "direction": "both", "portSide": "either" }));
        let eps = [endpoint(1, "02:00:00:00:00:01", &["10.0.0.5", "10.0.0.6", "10.0.0.5"])];
        assert_eq!(
            compile(&r, &eps, 100, 7, 0),
            vec![
                text(&format!("{FROM_1},tp_src=5060,nw_src=10.0.0.5 actions=normal")),
                text(&format!("{FROM_1},tp_src=5060,nw_src=10.0.0.6 actions=normal")),
                text(&format!("{FROM_1},tp_dst=5060,nw_src=10.0.0.5 actions=normal")),
                text(&format!("{FROM_1},tp_dst=5060,nw_src=10.0.0.6 actions=normal")),
                text(&format!("{TO_1},tp_dst=5060 actions=normal")),
                text(&format!("{TO_1},tp_src=5060 actions=normal")),
            ]
        );
        assert_eq!(flow_count(&r, &eps), 6);
    }

    #[test]
    fn flow_count_agrees_with_compile_for_every_port_side() {
        let eps = [
            endpoint(1, "02:00:00:00:00:01", &[]),
            endpoint(2, "02:00:00:00:00:02", &["10.0.0.2", "10.0.0.3", "10.0.0.2"]),
        ];
        for side in ["destination", "local", "remote", "either"] {
            for direction in ["from", "to", "both"] {
                for allow in [true, false] {
                    for (protocol, port) in
                        [("tcp", json!(22)), ("udp", json!([1000, 1003])), ("tcp", json!("999-2001"))]
                    {
                        let r = rule(json!({ "vm": { "uuid": VIF }, "allow": allow, "protocol": protocol,
                                             "port": port, "portSide": side, "ipRange": "0.0.0.0/0",
                                             "direction": direction }));
                        let flows = compile(&r, &eps, 1, 1, 0);
                        let what = format!("{side} {direction} {allow} {protocol} {port}");
                        assert_eq!(flow_count(&r, &eps), flows.len(), "{what}");
                        let ports = r.port.map_or(1, |p| p.masked().len()) * if side == "either" { 2 } else { 1 };
                        let from = if allow { 1 + 2 } else { 2 }; // endpoint 2 has two addresses when locked
                        let want = ports
                            * (if direction != "to" { from } else { 0 } + if direction != "from" { 2 } else { 0 });
                        assert_eq!(flows.len(), want, "{what}");
                        assert_eq!(flow_count(&r, &[]), 0);
                    }
                }
            }
        }
    }

    #[test]
    fn endpoints_are_validated() {
        let ok = parse_endpoints(&json!([{ "ofport": 4, "mac": "AE:F7:4B:84:6C:8B", "ips": ["10.0.0.1"] },
                                         { "ofport": 5, "mac": "02:00:00:00:00:05" }]))
        .unwrap();
        assert_eq!(ok[0], endpoint(4, "ae:f7:4b:84:6c:8b", &["10.0.0.1"]));
        assert!(ok[1].ips.is_empty());
        #[rustfmt::skip]
        let cases = [
            (json!({}), ERR_INVALID_ARG_TYPE, "endpoints", "endpoints must be an array, got an object"),
            (json!([1]), ERR_INVALID_ARG_TYPE, "endpoints[0]", "endpoints[0] must be an object"),
            (json!([{ "mac": "02:00:00:00:00:01" }]), ERR_INVALID_ARG_TYPE, "endpoints[0].ofport", "endpoints[0].ofport is required"),
            (json!([{ "ofport": 0, "mac": "02:00:00:00:00:01" }]), ERR_OUT_OF_RANGE, "endpoints[0].ofport", "endpoints[0].ofport must be 1 to"),
            (json!([{ "ofport": "1", "mac": "02:00:00:00:00:01" }]), ERR_INVALID_ARG_TYPE, "endpoints[0].ofport", "endpoints[0].ofport must be an integer"),
            (json!([{ "ofport": 1 }]), ERR_INVALID_ARG_TYPE, "endpoints[0].mac", "endpoints[0].mac is required"),
            (json!([{ "ofport": 1, "mac": "ff:ff:ff:ff:ff:ff" }]), ERR_INVALID_ARG_VALUE, "endpoints[0].mac", "endpoints[0].mac ff:ff:ff:ff:ff:ff is a multicast"),
            (json!([{ "ofport": 1, "mac": "02:00:00:00:00:01", "ips": "x" }]), ERR_INVALID_ARG_TYPE, "endpoints[0].ips", "endpoints[0].ips must be an array"),
            (json!([{ "ofport": 1, "mac": "02:00:00:00:00:01", "ips": ["1.2.3"] }]), ERR_INVALID_ARG_VALUE, "endpoints[0].ips[0]", "endpoints[0].ips[0] must be an IPv4 address"),
            (json!([{ "ofport": 1, "mac": "02:00:00:00:00:01", "uuid": "x" }]), ERR_INVALID_ARG_VALUE, "endpoints[0].uuid", "endpoints[0].uuid is not an endpoint field"),
        ];
        for (v, code, field, msg) in cases {
            let e = parse_endpoints(&v).expect_err(&v.to_string());
            assert_eq!((e.code, e.field.as_str()), (code, field), "{e}");
            assert!(e.message.starts_with(msg), "{}", e.message);
        }
    }

    /// Endpoints read `mac` and `ips[j]` with the API's one grammar
    /// (`net::addr`): what the strict parsers refuse is refused here.
    #[test]
    fn endpoint_addresses_refuse_what_the_strict_parsers_refuse() {
        use crate::net::addr::{parse_ipv4, parse_mac};
        let one = |mac: &str, ips: &[&str]| parse_endpoints(&json!([{ "ofport": 1, "mac": mac, "ips": ips }]));
        assert_eq!(one("AE:f7:4B:84:6c:8B", &[]).unwrap()[0].mac.to_string(), "ae:f7:4b:84:6c:8b");
        for bad in
            ["aa:bb-cc:dd-ee:ff", "02-00-00-00-00-01", "2:0:0:0:0:1", " 02:00:00:00:00:01", "02:00:00:00:00:01\n", ""]
        {
            assert_eq!(parse_mac(bad), None, "{bad:?}");
            let e = one(bad, &[]).expect_err(bad);
            assert_eq!((e.code, e.field.as_str()), (ERR_INVALID_ARG_VALUE, "endpoints[0].mac"), "{bad:?}: {e}");
            assert!(e.message.starts_with("endpoints[0].mac must be a MAC address like aa:bb:cc:dd:ee:ff"), "{e}");
        }
        for bad in ["010.0.0.1", " 10.0.0.1", "10.0.0.1 ", "10.0.0.1/32", "10.0.0.256", ""] {
            assert_eq!(parse_ipv4(bad), None, "{bad:?}");
            let e = one("02:00:00:00:00:01", &["10.0.0.2", bad]).expect_err(bad);
            assert_eq!((e.code, e.field.as_str()), (ERR_INVALID_ARG_VALUE, "endpoints[0].ips[1]"), "{bad:?}: {e}");
        }
    }
}
