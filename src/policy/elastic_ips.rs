//! Elastic IPs (EC2-style) as OpenFlow 1.1 flows: a public address leased from a
//! pool, associated with one VIF, translated on the VIF's bridge. Sans-I/O: pools,
//! leases, the VIF and its security groups' rules in, FLOW_MODs out; no socket,
//! clock, tokio or napi here (the controller installs what this computes).
//!
//! On the VIF's bridge, in the controller's table, in the band of [`PriorityBand::ELASTIC_IPS`]:
//!
//! ```text
//!  arp (9990)       ARP request for the public address -> controller. OpenFlow 1.1
//!                   cannot build an ARP reply in the switch: the controller answers
//!                   with the VIF's MAC by PACKET_OUT (crate::net::arp builds it).
//!  internal (9985)  sent by the VIF to an internal range: unchanged, NORMAL.
//!  nat (9980)       to the public address: destination rewritten to the VIF's
//!                   private address and MAC, output to its port; sent by the VIF
//!                   from its private address: source rewritten to the public one,
//!                   then NORMAL.
//! ```
//!
//! With security groups, the groups decide on the private side: each of their
//! allowed IP flows (compiled by [`crate::rules::compile`] for the VIF) gets a
//! translated twin, and what no twin matches falls to the groups' default deny.
//! Inbound twins match the public address as destination; outbound twins (only
//! when the groups restrict egress; otherwise everything the VIF sends is
//! translated) keep the private source and rewrite it, except towards internal
//! ranges. Twins are made from the compiled [`FlowMod`] values, so they match
//! exactly what the groups' own flows match.

use std::fmt;
use std::net::Ipv4Addr;

use crate::control::PriorityBand;
use crate::net::addr::{ipv4_prefix_mask, parse_ipv4, parse_ipv4_masked, prefix_len, IpMask, MaskedIpError};
use crate::openflow::action::Action;
use crate::openflow::flow::FlowMod;
use crate::openflow::flow_match::Match;
use crate::openflow::instruction::Instruction;
use crate::openflow::types::{MacAddr, Masked, PortNo};
use crate::rules::compile::{add_flow, compile, with_oxm_resynced, Endpoint, ETH_TYPE_ARP, ETH_TYPE_IP};
use crate::rules::{MatchKey, Rule};

/// Wrong type, or a required value missing.
pub const ERR_INVALID_ARG_TYPE: &str = "ERR_INVALID_ARG_TYPE";
/// Right type, wrong value.
pub const ERR_INVALID_ARG_VALUE: &str = "ERR_INVALID_ARG_VALUE";
/// A number outside its range.
pub const ERR_OUT_OF_RANGE: &str = "ERR_OUT_OF_RANGE";
/// `lease` was given a pool that is not one of the configured pools.
pub const SDN_EIP_POOL_NOT_FOUND: &str = "SDN_EIP_POOL_NOT_FOUND";
/// Every address of the pools asked for is leased.
pub const SDN_EIP_POOL_EXHAUSTED: &str = "SDN_EIP_POOL_EXHAUSTED";

/// ARP requests sent to the controller carry this much of the packet: an ARP
/// request with one VLAN tag is 46 bytes, so the whole frame always fits.
pub const ARP_TO_CONTROLLER_MAX_LEN: u16 = 128;
/// Opcode of an ARP request (`nw_proto` holds the low 8 bits of the opcode in OF1.1).
const ARP_OP_REQUEST: u8 = 1;

/// An error with a stable code; the message starts with the field it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EipError {
    /// `ERR_INVALID_ARG_*`, `ERR_OUT_OF_RANGE` or `SDN_EIP_*`.
    pub code: &'static str,
    /// What is wrong, naming the field.
    pub message: String,
}

impl EipError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        EipError { code, message: message.into() }
    }
}

impl fmt::Display for EipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EipError {}

/// The three priorities of the elastic IPs, from their band in the one band table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priorities {
    /// ARP requests for a public address, to the controller (the top of the band).
    pub arp: u16,
    /// Traffic of the VIF to an internal range, untranslated (the middle).
    pub internal: u16,
    /// The translations (the bottom): below `internal`, which must win.
    pub nat: u16,
}

/// The priorities of [`PriorityBand::ELASTIC_IPS`] (9990, 9985, 9980).
pub fn priorities() -> Priorities {
    let band = PriorityBand::ELASTIC_IPS;
    Priorities { arp: band.max(), internal: band.min() + (band.max() - band.min()) / 2, nat: band.min() }
}

/// Where stateful groups' elastic IPs translate what a VIF sends: in the ingress
/// stage of the groups (the table after the controller's), below every ingress
/// verdict (the deny of a VIF in a group is 9100, the way to it 9050), above
/// the stage's default (0).
pub fn stage_priorities() -> StagePriorities {
    StagePriorities { internal: 9015, nat: 9010 }
}

/// See [`stage_priorities`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StagePriorities {
    /// Traffic of the VIF to an internal range, untranslated.
    pub internal: u16,
    /// The translation of its source address; below `internal`, which must win.
    pub nat: u16,
}

/// An IPv4 prefix without host bits: an address pool or an internal range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: Ipv4Addr,
    len: u8,
}

impl Cidr {
    /// Reads `a.b.c.d` (a /32) or `a.b.c.d/n` with the crate's one IPv4 grammar
    /// ([`parse_ipv4_masked`]), surrounding spaces ignored. Host bits, a netmask
    /// instead of a prefix length, and IPv6 are refused. Errors start with `what`.
    pub fn parse(text: &str, what: &str) -> Result<Cidr, EipError> {
        let text = text.trim();
        if text.contains(':') {
            return Err(EipError::new(
                ERR_INVALID_ARG_VALUE,
                format!("{what}: IPv6 ({text}) is not supported: OpenFlow 1.1 matches IPv4 only"),
            ));
        }
        let bad = || {
            EipError::new(ERR_INVALID_ARG_VALUE, format!("{what}: '{text}' is not an IPv4 address or CIDR (a.b.c.d/n)"))
        };
        let (addr, len) = match parse_ipv4_masked(text) {
            Ok((addr, None)) => (addr, 32),
            Ok((addr, Some(IpMask::Prefix(len)))) => (addr, len),
            Ok((_, Some(IpMask::Netmask(_)))) | Err(MaskedIpError::Address | MaskedIpError::Mask) => return Err(bad()),
            Err(MaskedIpError::PrefixOutOfRange) => {
                return Err(EipError::new(
                    ERR_OUT_OF_RANGE,
                    format!("{what}: '{text}': the prefix length must be 0 to 32"),
                ))
            }
        };
        let cidr = Cidr::containing(addr, len);
        if cidr.network != addr {
            return Err(EipError::new(
                ERR_INVALID_ARG_VALUE,
                format!("{what}: '{text}' has host bits set: the network is {cidr}"),
            ));
        }
        Ok(cidr)
    }

    /// The prefix of length `len` (at most 32) that holds `addr`.
    pub fn containing(addr: Ipv4Addr, len: u8) -> Cidr {
        let len = len.min(32);
        Cidr { network: Ipv4Addr::from(u32::from(addr) & ipv4_prefix_mask(len)), len }
    }

    /// The prefix a match value stands for; `None` for a mask that is not a prefix
    /// (the rule compiler never makes one).
    pub fn of_masked(m: Masked<Ipv4Addr>) -> Option<Cidr> {
        let len = match m.mask {
            None => 32,
            Some(mask) => u8::try_from(prefix_len(mask)?).ok()?,
        };
        Some(Cidr::containing(m.value, len))
    }

    /// The canonical match value (exact for a /32), as the rule compiler writes it.
    pub fn to_masked(self) -> Masked<Ipv4Addr> {
        if self.len >= 32 {
            Masked::exact(self.network)
        } else {
            Masked { value: self.network, mask: Some(Ipv4Addr::from(ipv4_prefix_mask(self.len))) }
        }
    }

    /// The network address.
    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(self) -> u8 {
        self.len
    }

    /// True when `addr` is in the prefix.
    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & ipv4_prefix_mask(self.len) == u32::from(self.network)
    }

    /// True when every address of `self` is in `outer`.
    pub fn within(self, outer: Cidr) -> bool {
        self.len >= outer.len && outer.contains(self.network)
    }

    /// The addresses a pool leases, lowest first: all of them in a /31 or /32,
    /// otherwise all but the network and broadcast addresses.
    pub fn leasable(self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network);
        let last = first | !ipv4_prefix_mask(self.len);
        let (first, last) = if self.len >= 31 { (first, last) } else { (first + 1, last - 1) };
        (first..=last).map(Ipv4Addr::from)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}


/// What the elastic IPs are configured with: where addresses are leased from, and
/// which destinations the VIFs reach untranslated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElasticIps {
    pools: Vec<Cidr>,
    internal: Vec<Cidr>,
}

/// A VIF an address is associated with, as seen on one bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatVif {
    /// Its MAC.
    pub mac: MacAddr,
    /// Its private IPv4 address.
    pub ip: Ipv4Addr,
    /// Its OpenFlow port on the bridge.
    pub ofport: u32,
}

/// The security groups of a VIF, as the rules they derive for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Groups {
    /// True when no group lets all traffic out: the VIF's outbound traffic is then
    /// only what the groups' rules allow.
    pub egress_restricted: bool,
    /// The derived rules with their priorities (denies are ignored here: a twin is
    /// made only of what is allowed).
    pub rules: Vec<(u16, Rule)>,
    /// The groups track connections (see [`ElasticIps::flows`]): no twins then.
    pub stateful: bool,
}

/// An associated address placed on a bridge: its flows, and where ARP for it is
/// answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement<'a> {
    /// The bridge.
    pub bridge: &'a str,
    /// Index of the association in the caller's list.
    pub association: usize,
    /// The flows (command ADD, the table asked for, cookie of the association).
    pub flows: Vec<FlowMod>,
}

/// One address associated with a VIF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Association {
    /// The public address.
    pub public_ip: Ipv4Addr,
    /// The cookie its flows carry.
    pub cookie: u64,
    /// The VIF's UUID (lower case, as the interfaces carry it).
    pub vif_uuid: String,
    /// The VIF's MAC.
    pub mac: MacAddr,
    /// The VIF's private address.
    pub private_ip: Ipv4Addr,
    /// Its security groups, if it is in any.
    pub groups: Option<Groups>,
}

/// An interface of a bridge of the host, as OVSDB describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface<'a> {
    /// The bridge it is on.
    pub bridge: &'a str,
    /// Its name (`vif3.0`, `tap3.0`).
    pub name: &'a str,
    /// Its OpenFlow port.
    pub ofport: u32,
    /// The VIF it belongs to, if any.
    pub vif_uuid: Option<&'a str>,
}

impl ElasticIps {
    /// Reads the pools (at least one) and the internal ranges; errors name
    /// `options.pools[i]` / `options.internal[i]`.
    pub fn new(pools: &[impl AsRef<str>], internal: &[impl AsRef<str>]) -> Result<Self, EipError> {
        if pools.is_empty() {
            return Err(EipError::new(ERR_INVALID_ARG_TYPE, "options.pools must be a non-empty array of CIDRs"));
        }
        Ok(ElasticIps { pools: cidrs(pools, "options.pools")?, internal: cidrs(internal, "options.internal")? })
    }

    /// The pools, as configured.
    pub fn pools(&self) -> &[Cidr] {
        &self.pools
    }

    /// The internal ranges, as configured.
    pub fn internal(&self) -> &[Cidr] {
        &self.internal
    }

    /// The next address to lease: the lowest one not `leased` in `pool` (its text
    /// as configured, `a.b.c.d` standing for `a.b.c.d/32`), or in the first pool
    /// that has one. Returns it with its pool.
    pub fn lease(&self, pool: Option<&str>, leased: impl Fn(Ipv4Addr) -> bool) -> Result<(Ipv4Addr, Cidr), EipError> {
        let pools: Vec<Cidr> = match pool {
            None => self.pools.clone(),
            Some(name) => {
                let chosen: Vec<Cidr> = self
                    .pools
                    .iter()
                    .copied()
                    .filter(|p| {
                        let text = p.to_string();
                        text == name || text.strip_suffix("/32") == Some(name)
                    })
                    .collect();
                if chosen.is_empty() {
                    return Err(EipError::new(SDN_EIP_POOL_NOT_FOUND, format!("no address pool {name}")));
                }
                chosen
            }
        };
        for p in &pools {
            if let Some(ip) = p.leasable().find(|ip| !leased(*ip)) {
                return Ok((ip, *p));
            }
        }
        let names: Vec<String> = pools.iter().map(Cidr::to_string).collect();
        Err(EipError::new(SDN_EIP_POOL_EXHAUSTED, format!("no free address in {}", names.join(", "))))
    }

    /// Checks a leased address read back from a saved state: a plain IPv4 address
    /// in one of the pools. Errors name `what`.
    pub fn check_leased(&self, text: &str, what: &str) -> Result<Ipv4Addr, EipError> {
        let ip = parse_ipv4(text).ok_or_else(|| {
            EipError::new(ERR_INVALID_ARG_VALUE, format!("{what}: '{text}' is not an IPv4 address (a.b.c.d)"))
        })?;
        if !self.pools.iter().any(|p| p.contains(ip)) {
            return Err(EipError::new(ERR_INVALID_ARG_VALUE, format!("{what}: {text} is in none of the pools")));
        }
        Ok(ip)
    }

    /// Where the associated addresses go on one host: for each association (in
    /// order) and each of its VIF's interfaces (in order; `tap` interfaces, the
    /// emulated NIC of an HVM guest without PV drivers, are left out: the guest
    /// uses one or the other), the flows of [`ElasticIps::flows`] on that bridge.
    pub fn place<'a>(&self, associations: &[Association], interfaces: &[Interface<'a>], table_id: u8) -> Vec<Placement<'a>> {
        let mut out = Vec::new();
        for (i, a) in associations.iter().enumerate() {
            for iface in interfaces {
                if iface.vif_uuid != Some(a.vif_uuid.as_str()) || iface.name.starts_with("tap") {
                    continue;
                }
                let vif = NatVif { mac: a.mac, ip: a.private_ip, ofport: iface.ofport };
                let flows = self.flows(a.public_ip, &vif, a.groups.as_ref(), a.cookie, table_id);
                out.push(Placement { bridge: iface.bridge, association: i, flows });
            }
        }
        out
    }

    /// The flows that put `public_ip` in force for `vif` (see the module doc), all
    /// with `cookie`, in table `table_id` (the controller's, where its rules and
    /// security groups are).
    pub fn flows(&self, public_ip: Ipv4Addr, vif: &NatVif, groups: Option<&Groups>, cookie: u64, table_id: u8) -> Vec<FlowMod> {
        let pr = priorities();
        let flow = |priority, flow_match, actions| flow_mod(table_id, priority, cookie, flow_match, actions);
        let to_vif = || {
            vec![
                Action::SetDlDst { dl_addr: vif.mac },
                Action::SetNwDst { nw_addr: vif.ip },
                Action::Output { port: PortNo(vif.ofport), max_len: 0 },
            ]
        };
        let from_vif = || vec![Action::SetNwSrc { nw_addr: public_ip }, normal()];
        let public = Some(Masked::exact(public_ip));
        let mut out = vec![flow(
            pr.arp,
            Match { dl_type: Some(ETH_TYPE_ARP), nw_proto: Some(ARP_OP_REQUEST), nw_dst: public, ..Match::default() },
            vec![Action::Output { port: PortNo::CONTROLLER, max_len: ARP_TO_CONTROLLER_MAX_LEN }],
        )];
        let sent = Match {
            in_port: Some(PortNo(vif.ofport)),
            dl_src: Some(Masked::exact(vif.mac)),
            dl_type: Some(ETH_TYPE_IP),
            nw_src: Some(Masked::exact(vif.ip)),
            ..Match::default()
        };
        let translate_all_sent = |out: &mut Vec<FlowMod>| {
            out.push(flow(pr.nat, sent.clone(), from_vif()));
            for k in &self.internal {
                out.push(flow(pr.internal, Match { nw_dst: Some(k.to_masked()), ..sent.clone() }, vec![normal()]));
            }
        };
        let Some(groups) = groups else {
            out.push(flow(pr.nat, Match { dl_type: Some(ETH_TYPE_IP), nw_dst: public, ..Match::default() }, to_vif()));
            translate_all_sent(&mut out);
            return out;
        };
        if groups.stateful {
            // The groups judge and track the private side in their two stages: what comes
            // to the public address is translated, then judged as delivered to the VIF
            // (the next table); what the VIF sends is judged and tracked first, then
            // translated on its way out, below every ingress verdict of that stage so
            // that a VIF in a group on this bridge still judges what reaches it.
            let next = table_id + 1;
            let to_private = vec![Action::SetDlDst { dl_addr: vif.mac }, Action::SetNwDst { nw_addr: vif.ip }];
            out.push(add_flow(
                table_id,
                pr.nat,
                cookie,
                Match { dl_type: Some(ETH_TYPE_IP), nw_dst: public, ..Match::default() },
                vec![Instruction::ApplyActions { actions: to_private }, Instruction::GotoTable { table_id: next }],
            ));
            let stage = stage_priorities();
            out.push(flow_mod(next, stage.nat, cookie, sent.clone(), from_vif()));
            for k in &self.internal {
                let m = Match { nw_dst: Some(k.to_masked()), ..sent.clone() };
                out.push(flow_mod(next, stage.internal, cookie, m, vec![normal()]));
            }
            return out;
        }
        // Outbound open (no group restricts egress): translate everything the VIF sends.
        if !groups.egress_restricted {
            translate_all_sent(&mut out);
        }
        for allowed in self.allowed_flows(groups, vif) {
            let m = allowed.flow_match;
            if m.dl_type != Some(ETH_TYPE_IP) {
                continue; // ARP: answered by the controller, never translated
            }
            if m.in_port.is_none() {
                // Delivered to the VIF: the same packets, sent to the public address.
                out.push(flow(pr.nat, with_oxm_resynced(Match { nw_dst: public, ..m }), to_vif()));
                continue;
            }
            if !groups.egress_restricted {
                continue; // already translated wholesale above
            }
            let twin = with_oxm_resynced(Match { nw_src: Some(Masked::exact(vif.ip)), ..m });
            let dst = twin.nw_dst.and_then(Cidr::of_masked);
            let mut covered = false;
            for k in &self.internal {
                let (inside, holds) = match dst {
                    None => (false, true),
                    Some(d) => (d.within(*k), k.within(d)),
                };
                if !inside && !holds {
                    continue; // disjoint ranges
                }
                let narrower = if inside { dst.unwrap_or(*k) } else { *k };
                out.push(flow(
                    pr.internal,
                    with_oxm_resynced(Match { nw_dst: Some(narrower.to_masked()), ..twin.clone() }),
                    vec![normal()],
                ));
                covered |= inside;
            }
            if !covered {
                out.push(flow(pr.nat, twin, from_vif()));
            }
        }
        out
    }

    /// The groups' allow rules compiled for `vif` alone (with its private address,
    /// as the groups' own flows are), one flow per priority and match as a switch
    /// holds them, ordered by both (so twins come out in a stable order).
    fn allowed_flows(&self, groups: &Groups, vif: &NatVif) -> Vec<FlowMod> {
        let endpoint = [Endpoint { ofport: vif.ofport, mac: vif.mac, ips: vec![vif.ip], ipv6: Vec::new() }];
        let mut flows: Vec<(u16, MatchKey, FlowMod)> = groups
            .rules
            .iter()
            .filter(|(_, r)| r.allow)
            .flat_map(|(priority, rule)| compile(rule, &endpoint, *priority, 0, 0))
            .map(|fm| (fm.priority, MatchKey::of(&fm.flow_match), fm))
            .collect();
        flows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        flows.dedup_by(|later, earlier| (later.0, &later.1) == (earlier.0, &earlier.1));
        flows.into_iter().map(|(_, _, fm)| fm).collect()
    }
}

/// Each of `list` read by [`Cidr::parse`], errors naming `{name}[i]`.
fn cidrs(list: &[impl AsRef<str>], name: &str) -> Result<Vec<Cidr>, EipError> {
    list.iter().enumerate().map(|(i, text)| Cidr::parse(text.as_ref(), &format!("{name}[{i}]"))).collect()
}

fn normal() -> Action {
    Action::Output { port: PortNo::NORMAL, max_len: 0 }
}

/// An ADD, as the rule compiler makes them.
fn flow_mod(table_id: u8, priority: u16, cookie: u64, flow_match: Match, actions: Vec<Action>) -> FlowMod {
    add_flow(table_id, priority, cookie, flow_match, vec![Instruction::ApplyActions { actions }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::flow::FlowModCommand;
    use crate::openflow::text::{format_flow_mod, parse_flow};
    use crate::rules::cookie::rule_cookie;
    use crate::rules::rule::PortRange;
    use crate::rules::{encode_flow_mods, parse_rule};
    use serde_json::{json, Value};

    const COOKIE: u64 = 0x5d4e_0000_0000_0007;

    fn config(internal: &[&str]) -> ElasticIps {
        ElasticIps::new(&["203.0.113.0/28"], internal).unwrap_or_else(|e| panic!("{e}"))
    }

    fn vif() -> NatVif {
        NatVif { mac: "02:00:00:00:00:01".parse().unwrap(), ip: "10.0.0.1".parse().unwrap(), ofport: 4 }
    }

    /// Flows as `ovs-ofctl dump-flows` prints them.
    fn texts(flows: &[FlowMod]) -> Vec<String> {
        flows.iter().map(format_flow_mod).collect()
    }

    /// Flows written as `ovs-ofctl add-flow` reads them (cookie [`COOKIE`]), printed
    /// back: what [`texts`] gives for the same flows.
    fn ofctl(lines: &[&str]) -> Vec<String> {
        let flows: Vec<FlowMod> = lines
            .iter()
            .map(|t| {
                parse_flow(&format!("cookie={COOKIE:#x},{t}"), FlowModCommand::ADD)
                    .unwrap_or_else(|e| panic!("{t}: {e}"))
            })
            .collect();
        texts(&flows)
    }

    fn groups(egress_restricted: bool, rules: &[(u16, Value)]) -> Groups {
        let rules = rules.iter().map(|(p, r)| (*p, parse_rule(r).unwrap_or_else(|e| panic!("{e}")))).collect();
        Groups { egress_restricted, rules, stateful: false }
    }

    #[test]
    fn with_stateful_groups_the_translation_goes_round_their_two_stages() {
        let eip = config(&["10.0.0.0/8"]);
        let stateful = Groups { stateful: true, ..groups(true, &[(9900, rule(true, "to", "tcp", Some(80), "0.0.0.0/0"))]) };
        let public: Ipv4Addr = "203.0.113.5".parse().unwrap();
        let flows = eip.flows(public, &vif(), Some(&stateful), COOKIE, 0);
        assert_eq!(texts(&flows), ofctl(&[
            "priority=9990,arp,arp_tpa=203.0.113.5,arp_op=1,actions=CONTROLLER:128",
            // Translated in, then judged (and tracked) as delivered to the VIF: no twins.
            "priority=9980,ip,nw_dst=203.0.113.5,actions=mod_dl_dst:02:00:00:00:00:01,mod_nw_dst:10.0.0.1,goto_table:1",
            // Judged and tracked as sent, then translated out, below the stage's verdicts.
            "table=1,priority=9010,ip,in_port=4,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1,actions=mod_nw_src:203.0.113.5,NORMAL",
            "table=1,priority=9015,ip,in_port=4,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1,nw_dst=10.0.0.0/8,actions=NORMAL",
        ]));
        assert!(stage_priorities().nat > 0 && stage_priorities().internal < PriorityBand::SECURITY_GROUP_INGRESS.min());
    }

    fn rule(allow: bool, direction: &str, protocol: &str, port: Option<u16>, ip_range: &str) -> Value {
        let mut r = serde_json::json!({
            "vif": { "uuid": "00000000-0000-4000-8000-000000000001", "mac": "02:00:00:00:00:01" },
            "allow": allow, "protocol": protocol, "ipRange": ip_range, "direction": direction,
        });
        if let Some(p) = port {
            r["port"] = p.into();
        }
        r
    }

    #[test]
    fn priorities_come_from_the_band_table() {
        assert_eq!(priorities(), Priorities { arp: 9990, internal: 9985, nat: 9980 });
        let band = PriorityBand::ELASTIC_IPS;
        let p = priorities();
        assert!(band.range().contains(&p.arp) && band.range().contains(&p.internal) && band.range().contains(&p.nat));
        assert!(p.arp > p.internal && p.internal > p.nat, "internal traffic must win over translation");
    }

    #[test]
    fn cidrs_are_read_by_the_one_grammar_and_named_in_errors() {
        let c = Cidr::parse(" 203.0.113.0/28 ", "options.pools[0]").unwrap();
        assert_eq!((c.to_string(), c.prefix_len()), ("203.0.113.0/28".to_owned(), 28));
        assert_eq!(Cidr::parse("198.51.100.7", "x").unwrap().to_string(), "198.51.100.7/32");
        let cases = [
            (
                "10.0.0.1/24",
                ERR_INVALID_ARG_VALUE,
                "options.pools[1]: '10.0.0.1/24' has host bits set: the network is 10.0.0.0/24",
            ),
            ("10.0.0.0/33", ERR_OUT_OF_RANGE, "options.pools[1]: '10.0.0.0/33': the prefix length must be 0 to 32"),
            (
                "10.0.0.0/255.0.0.0",
                ERR_INVALID_ARG_VALUE,
                "options.pools[1]: '10.0.0.0/255.0.0.0' is not an IPv4 address or CIDR (a.b.c.d/n)",
            ),
            (
                "010.0.0.0/8",
                ERR_INVALID_ARG_VALUE,
                "options.pools[1]: '010.0.0.0/8' is not an IPv4 address or CIDR (a.b.c.d/n)",
            ),
            (
                "2001:db8::/32",
                ERR_INVALID_ARG_VALUE,
                "options.pools[1]: IPv6 (2001:db8::/32) is not supported: OpenFlow 1.1 matches IPv4 only",
            ),
        ];
        for (text, code, message) in cases {
            let e = Cidr::parse(text, "options.pools[1]").unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (code, message), "{text}");
        }
        let e = ElasticIps::new(&["203.0.113.0/28"], &["10.0.0.0/8", "nope"]).unwrap_err();
        assert_eq!(e.message, "options.internal[1]: 'nope' is not an IPv4 address or CIDR (a.b.c.d/n)");
        let none: [&str; 0] = [];
        assert_eq!(ElasticIps::new(&none, &none).unwrap_err().code, ERR_INVALID_ARG_TYPE);
    }

    #[test]
    fn within_and_contains() {
        let c = |t: &str| Cidr::parse(t, "c").unwrap();
        assert!(c("10.1.0.0/16").within(c("10.0.0.0/8")));
        assert!(c("10.0.0.0/8").within(c("10.0.0.0/8")));
        assert!(!c("10.0.0.0/8").within(c("10.1.0.0/16")));
        assert!(!c("11.0.0.0/16").within(c("10.0.0.0/8")));
        assert!(c("10.0.0.0/8").within(c("0.0.0.0/0")));
        assert!(c("0.0.0.0/0").contains("255.255.255.255".parse().unwrap()));
        assert!(!c("203.0.113.0/28").contains("203.0.113.16".parse().unwrap()));
        let exact = Masked::exact("10.0.0.1".parse().unwrap());
        assert_eq!(Cidr::of_masked(exact), Some(c("10.0.0.1")));
        assert_eq!(c("10.0.0.1").to_masked(), exact);
        assert_eq!(Cidr::of_masked(c("10.0.0.0/8").to_masked()), Some(c("10.0.0.0/8")));
        let holes = Masked { value: "10.0.0.0".parse().unwrap(), mask: Some("255.0.255.0".parse().unwrap()) };
        assert_eq!(Cidr::of_masked(holes), None);
    }

    #[test]
    fn leases_skip_network_and_broadcast_except_in_tiny_pools() {
        let ips = |t: &str| Cidr::parse(t, "p").unwrap().leasable().map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(ips("203.0.113.0/30"), ["203.0.113.1", "203.0.113.2"]);
        assert_eq!(ips("203.0.113.0/31"), ["203.0.113.0", "203.0.113.1"]);
        assert_eq!(ips("203.0.113.9"), ["203.0.113.9"]);
        assert_eq!(Cidr::parse("203.0.113.0/28", "p").unwrap().leasable().count(), 14);
        assert_eq!(Cidr::parse("0.0.0.0/0", "p").unwrap().leasable().next(), Some(Ipv4Addr::new(0, 0, 0, 1)));
    }

    #[test]
    fn lease_takes_the_lowest_free_address_of_the_pool_asked_for() {
        let e = ElasticIps::new(&["203.0.113.0/30", "198.51.100.7"], &[] as &[&str]).unwrap();
        let taken = |list: &'static [&str]| move |ip: Ipv4Addr| list.iter().any(|t| t.parse::<Ipv4Addr>() == Ok(ip));
        let got = |r: Result<(Ipv4Addr, Cidr), EipError>| r.map(|(ip, p)| (ip.to_string(), p.to_string()));
        assert_eq!(got(e.lease(None, taken(&[]))), Ok(("203.0.113.1".into(), "203.0.113.0/30".into())));
        assert_eq!(got(e.lease(None, taken(&["203.0.113.1"]))), Ok(("203.0.113.2".into(), "203.0.113.0/30".into())));
        let full = taken(&["203.0.113.1", "203.0.113.2"]);
        assert_eq!(got(e.lease(None, full)), Ok(("198.51.100.7".into(), "198.51.100.7/32".into())));
        // A /32 pool is named with or without its /32.
        assert_eq!(
            got(e.lease(Some("198.51.100.7"), taken(&[]))),
            Ok(("198.51.100.7".into(), "198.51.100.7/32".into()))
        );
        assert_eq!(got(e.lease(Some("198.51.100.7/32"), taken(&[]))).map(|r| r.0), Ok("198.51.100.7".into()));
        let err = e.lease(Some("203.0.113.0/30"), taken(&["203.0.113.1", "203.0.113.2"])).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (SDN_EIP_POOL_EXHAUSTED, "no free address in 203.0.113.0/30"));
        let err = e.lease(None, taken(&["203.0.113.1", "203.0.113.2", "198.51.100.7"])).unwrap_err();
        assert_eq!(err.message, "no free address in 203.0.113.0/30, 198.51.100.7/32");
        let err = e.lease(Some("203.0.113.0/29"), taken(&[])).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (SDN_EIP_POOL_NOT_FOUND, "no address pool 203.0.113.0/29"));
    }

    #[test]
    fn a_saved_lease_is_a_plain_address_in_a_pool() {
        let e = config(&[]);
        assert_eq!(e.check_leased("203.0.113.5", "a"), Ok(Ipv4Addr::new(203, 0, 113, 5)));
        let err = e.check_leased("203.0.113.16", "state.addresses[2].ip").unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (ERR_INVALID_ARG_VALUE, "state.addresses[2].ip: 203.0.113.16 is in none of the pools")
        );
        for bad in ["203.0.113.0/29", "203.0.113.05", "", "x"] {
            assert_eq!(e.check_leased(bad, "ip").unwrap_err().code, ERR_INVALID_ARG_VALUE, "{bad:?}");
        }
    }

    /// Without security groups: ARP up, inbound rewritten to the VIF, outbound
    /// rewritten to the public address except towards internal ranges.
    #[test]
    fn without_groups_everything_is_translated_but_internal_traffic() {
        let flows = config(&["10.0.0.0/8"]).flows("203.0.113.1".parse().unwrap(), &vif(), None, COOKIE, 0);
        let want = ofctl(&[
            "priority=9990,arp,arp_op=1,arp_tpa=203.0.113.1,actions=controller:128",
            "priority=9980,ip,nw_dst=203.0.113.1,actions=mod_dl_dst:02:00:00:00:00:01,mod_nw_dst:10.0.0.1,output:4",
            "priority=9980,ip,in_port=4,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1,actions=mod_nw_src:203.0.113.1,normal",
            "priority=9985,ip,in_port=4,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1,nw_dst=10.0.0.0/8,actions=normal",
        ]);
        assert_eq!(texts(&flows), want);
    }

    /// Egress restricted: an allowed destination inside an internal range stays
    /// untranslated (no NAT twin), one that holds an internal range gets both.
    #[test]
    fn restricted_egress_twins_split_on_internal_ranges() {
        let g = groups(
            true,
            &[
                (9900, rule(true, "from", "tcp", Some(5432), "10.1.0.0/16")),
                (9900, rule(true, "from", "tcp", Some(25), "172.16.0.0/12")),
                (9900, rule(true, "from", "tcp", Some(443), "192.0.2.0/24")),
                (9899, rule(false, "from", "tcp", Some(22), "")),
                (9899, rule(true, "to", "tcp", Some(80), "")),
            ],
        );
        let flows =
            config(&["10.0.0.0/8", "172.16.5.0/24"]).flows("203.0.113.1".parse().unwrap(), &vif(), Some(&g), COOKIE, 0);
        let out = "in_port=4,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1";
        let want = ofctl(&[
            "priority=9990,arp,arp_op=1,arp_tpa=203.0.113.1,actions=controller:128",
            // The groups' flows in priority order: the allow at 9899 first.
            "priority=9980,tcp,dl_dst=02:00:00:00:00:01,nw_dst=203.0.113.1,tp_dst=80,\
             actions=mod_dl_dst:02:00:00:00:00:01,mod_nw_dst:10.0.0.1,output:4",
            &format!("priority=9985,tcp,{out},nw_dst=10.1.0.0/16,tp_dst=5432,actions=normal"),
            &format!("priority=9985,tcp,{out},nw_dst=172.16.5.0/24,tp_dst=25,actions=normal"),
            &format!("priority=9980,tcp,{out},nw_dst=172.16.0.0/12,tp_dst=25,actions=mod_nw_src:203.0.113.1,normal"),
            &format!("priority=9980,tcp,{out},nw_dst=192.0.2.0/24,tp_dst=443,actions=mod_nw_src:203.0.113.1,normal"),
        ]);
        assert_eq!(texts(&flows), want);
    }

    /// Egress open: everything sent is translated once, and the groups' outbound
    /// flows get no twin; a deny never gets one.
    #[test]
    fn open_egress_translates_all_sent_traffic_once() {
        let g = groups(true, &[]);
        let restricted = config(&[]).flows("203.0.113.1".parse().unwrap(), &vif(), Some(&g), COOKIE, 0);
        assert_eq!(restricted.len(), 1, "restricted egress and no rule: only ARP goes up, nothing is translated");
        let g = groups(
            false,
            &[(9900, rule(true, "from", "udp", Some(53), "")), (9900, rule(false, "to", "tcp", Some(22), ""))],
        );
        let flows = config(&[]).flows("203.0.113.1".parse().unwrap(), &vif(), Some(&g), COOKIE, 0);
        let want = ofctl(&[
            "priority=9990,arp,arp_op=1,arp_tpa=203.0.113.1,actions=controller:128",
            "priority=9980,ip,in_port=4,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1,actions=mod_nw_src:203.0.113.1,normal",
        ]);
        assert_eq!(texts(&flows), want);
    }

    #[test]
    fn placed_on_every_bridge_of_the_vif_but_its_tap_in_the_table_asked_for() {
        let a = Association {
            public_ip: "203.0.113.1".parse().unwrap(),
            cookie: COOKIE,
            vif_uuid: "v1".into(),
            mac: vif().mac,
            private_ip: vif().ip,
            groups: None,
        };
        let iface = |bridge, name, ofport, vif_uuid| Interface { bridge, name, ofport, vif_uuid };
        let ifaces = [
            iface("xenbr0", "tap1.0", 9, Some("v1")),
            iface("xenbr0", "vif1.0", 4, Some("v1")),
            iface("xenbr0", "vif2.0", 5, Some("v2")),
            iface("xenbr0", "eth0", 1, None),
            iface("xapi1", "vif1.1", 6, Some("v1")),
        ];
        let placed = config(&[]).place(std::slice::from_ref(&a), &ifaces, 7);
        let at: Vec<(&str, u32)> = placed
            .iter()
            .map(|p| (p.bridge, p.flows.iter().find_map(|f| f.flow_match.in_port).map_or(0, |p| p.0)))
            .collect();
        assert_eq!(at, [("xenbr0", 4), ("xapi1", 6)]);
        assert!(placed.iter().all(|p| p.association == 0 && p.flows.iter().all(|f| f.cookie == COOKIE && f.table_id == 7)));
    }

    /// `rule` split into one rule per port of its `port` and `sourcePort` ranges.
    fn one_rule_per_port(rule: Rule) -> Vec<Rule> {
        let ports = |r: Option<PortRange>| {
            r.map_or(vec![None], |r| r.ports().map(|p| Some(PortRange { lo: p, hi: p })).collect())
        };
        let mut out = Vec::new();
        for port in ports(rule.port) {
            for source_port in ports(rule.source_port) {
                out.push(Rule { port, source_port, ..rule.clone() });
            }
        }
        out
    }

    /// A group's port range is masked blocks: each twin keeps its block's mask in the
    /// OXM match and carries the public address (inbound) or the private one and the
    /// internal range (outbound) there too, not only in the OF1.1 fields (the OXM
    /// match is what is sent).
    #[test]
    fn masked_ranges_get_masked_twins() {
        let ranged = |direction, protocol, port: Value, ip_range| {
            let mut r = rule(true, direction, protocol, None, ip_range);
            r["port"] = port;
            r
        };
        let g = groups(
            true,
            &[
                (9900, ranged("to", "udp", json!("5000-5001"), "")),
                (9900, ranged("from", "tcp", json!([8000, 8003]), "10.1.0.0/16")),
            ],
        );
        let flows = config(&["10.0.0.0/8"]).flows("203.0.113.1".parse().unwrap(), &vif(), Some(&g), COOKIE, 0);
        // The match as ovs-ofctl sends it (OXM), the actions as OF1.1 text reads them.
        let nx = |m: &str, actions: &str| FlowMod {
            instructions: parse_flow(&format!("ip,actions={actions}"), FlowModCommand::ADD).unwrap().instructions,
            ..crate::openflow::text::parse_nx_flow(&format!("cookie={COOKIE:#x},{m},actions=drop"))
                .unwrap_or_else(|e| panic!("{m}: {e}"))
                .to_flow_mod(0)
        };
        assert_eq!(
            flows[1..],
            [
                nx(
                    "priority=9980,udp,dl_dst=02:00:00:00:00:01,nw_dst=203.0.113.1,tp_dst=0x1388/0xfffe",
                    "mod_dl_dst:02:00:00:00:00:01,mod_nw_dst:10.0.0.1,output:4"
                ),
                nx(
                    "priority=9985,tcp,in_port=4,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1,nw_dst=10.1.0.0/16,\
                     tp_dst=0x1f40/0xfffc",
                    "normal"
                ),
            ]
        );
        let arp = ofctl(&["priority=9990,arp,arp_op=1,arp_tpa=203.0.113.1,actions=controller:128"]);
        assert_eq!(texts(&flows[..1]), arp);
    }

    /// The bytes the JS implementation (js/elastic-ips.js before this module) gave
    /// for the same inputs: `scripts/elastic-ips-vectors.js` wrote them.
    #[test]
    fn same_bytes_as_the_js_implementation_it_replaced() {
        let vectors: Value = serde_json::from_str(include_str!("../../tests/vectors/elastic_ips.json")).unwrap();
        let vectors = vectors.as_array().unwrap();
        assert_eq!(vectors.len(), 4);
        for v in vectors {
            let name = v["name"].as_str().unwrap();
            let strs =
                |k: &str| v[k].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect::<Vec<_>>();
            let eip = ElasticIps::new(&strs("pools"), &strs("internal")).unwrap();
            let groups = v["groups"].as_object().map(|g| Groups {
                stateful: false,
                egress_restricted: g["egressRestricted"].as_bool().unwrap(),
                rules: g["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| {
                        let spec: Value = serde_json::from_str(r["spec"].as_str().unwrap()).unwrap();
                        let priority = r["priority"].as_u64().unwrap() as u16;
                        // The JS compiled a port range one flow per port; a rule per port gives
                        // those flows (a range is masked blocks now: see masked_ranges_get_masked_twins).
                        one_rule_per_port(parse_rule(&spec).unwrap()).into_iter().map(move |r| (priority, r))
                    })
                    .collect(),
            });
            let number = v["number"].as_u64().unwrap();
            let a = Association {
                public_ip: v["publicIp"].as_str().unwrap().parse().unwrap(),
                cookie: rule_cookie(number, v["generation"].as_u64().unwrap() as u8).unwrap(),
                vif_uuid: v["vif"]["uuid"].as_str().unwrap().to_owned(),
                mac: v["vif"]["mac"].as_str().unwrap().parse().unwrap(),
                private_ip: v["vif"]["ip"].as_str().unwrap().parse().unwrap(),
                groups,
            };
            let ifaces: Vec<Interface> = v["interfaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| Interface {
                    bridge: i["bridge"].as_str().unwrap(),
                    name: i["name"].as_str().unwrap(),
                    ofport: i["ofport"].as_u64().unwrap() as u32,
                    vif_uuid: i["vifUuid"].as_str(),
                })
                .collect();
            let placed = eip.place(std::slice::from_ref(&a), &ifaces, 0);
            let got: Vec<(String, String, String)> = placed
                .iter()
                .map(|p| {
                    let hex: String = encode_flow_mods(&p.flows).unwrap().iter().map(|b| format!("{b:02x}")).collect();
                    (p.bridge.to_owned(), format!("{:#x}", a.cookie), hex)
                })
                .collect();
            let want: Vec<(String, String, String)> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    let s = |k: &str| i[k].as_str().unwrap().to_owned();
                    (s("bridge"), s("cookie"), s("flows"))
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
