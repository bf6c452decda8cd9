//! Stateful security groups: Open vSwitch connection tracking in the two stages.
//!
//! Each VIF in a group has its own conntrack zone, so two VMs' connections never
//! mix. In each stage, an IP packet (v4 or v6) of the VIF (sent by it in the egress stage,
//! delivered to it in the ingress stage) is first sent through the tracker in its
//! zone and comes back to the same table (`ct(zone=Z,table=T)`): from then on its
//! `ct_zone` is the VIF's, which is what the flows of the verdict match.
//!
//! ```text
//!  9900 - slot  ct_zone=Z,+new-inv+trk and a permission   -> ct(commit,zone=Z), on
//!  9800         ARP, the DHCP and DHCPv6 clients, IPv6
//!               neighbour and router discovery (not tracked;
//!               what the VIF sends of them too, whatever
//!               its egress)                                -> on
//!  9700         ct_zone=Z,+est-inv+trk / +rel-inv+trk       -> on
//!               (open egress) ct_zone=Z,+new-inv+trk, from each of the
//!               VIF's addresses, IPv4 or IPv6 (any IPv4 and IPv6 when it
//!               has none, as XAPI's lock)                  -> ct(commit,zone=Z), on
//!  9200         ct_zone=Z, anything else of the VIF         -> drop
//!  9150         ip / ipv6 of the VIF, not yet tracked in Z  -> ct(zone=Z,table=T)
//! ```
//!
//! "On" is `goto_table` to the ingress stage in the egress stage, delivery (NORMAL)
//! in the ingress stage. Replies of a connection either side opened are
//! established there and pass without any declared reply permission; a packet
//! that only looks like a reply (an allowed source port, a forged ACK) is new or
//! invalid in the zone and is dropped; whatever was tracked in the zone and no
//! flow above took is dropped at 9200, so a tracked packet never goes round again.
//! A packet between two VIFs of one bridge is tracked in the sender's zone, then
//! in the receiver's. IPv4 and IPv6 are tracked; ARP, the DHCP client and
//! neighbour discovery stay stateless (the base flows, above the tracking), other
//! traffic meets the default deny.

use std::net::IpAddr;

use crate::control::PriorityBand;
use crate::openflow::action::Action;
use crate::openflow::flow::FlowMod;
use crate::openflow::flow_match::Match;
use crate::openflow::instruction::Instruction;
use crate::openflow::nx_action::{Ct, CtZone, NxAction, CT_COMMIT, CT_RECIRC_NONE};
use crate::openflow::nxm::{ct_state, Dialect, Field, MatchField, Value};
use crate::openflow::types::{MacAddr, Masked, PortNo};
use crate::rules::compile::{add_flow, with_fields, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6};

/// The stage a flow belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// What the VIF sends, in the controller's table; on = `goto_table` to the next.
    Egress,
    /// What is delivered to the VIF, in the next table; on = NORMAL.
    Ingress,
}

fn ct(zone: u16, flags: u16, recirc_table: u8) -> Action {
    Action::from(NxAction::Ct(Ct { flags, zone: CtZone::Immediate(zone), recirc_table, alg: 0, actions: Vec::new() }))
}

/// What an allowed packet does next in `stage` of the pipeline starting at `table_id`,
/// after `first` (the commit, when there is one).
fn on(stage: Stage, table_id: u8, first: Vec<Action>) -> Vec<Instruction> {
    match stage {
        Stage::Egress => {
            let mut out = Vec::new();
            if !first.is_empty() {
                out.push(Instruction::ApplyActions { actions: first });
            }
            out.push(Instruction::GotoTable { table_id: table_id + 1 });
            out
        }
        Stage::Ingress => {
            let mut actions = first;
            actions.push(Action::Output { port: PortNo::NORMAL, max_len: 0 });
            vec![Instruction::ApplyActions { actions }]
        }
    }
}

fn state(value: u32, mask: u32) -> MatchField {
    MatchField::Known { field: Field::CtState, dialect: Dialect::Oxm, value: Value::U32(value), mask: Some(Value::U32(mask)) }
}

fn zone_field(zone: u16) -> MatchField {
    MatchField::exact(Field::CtZone, Dialect::Oxm, Value::U16(zone))
}

/// `+new-inv+trk`: the first packet of a connection the tracker accepts.
fn new_connection() -> MatchField {
    state(ct_state::NEW | ct_state::TRACKED, ct_state::NEW | ct_state::INVALID | ct_state::TRACKED)
}

/// A permission's flow (compiled for the VIF in `stage`) made stateful: it takes
/// only new connections tracked in the VIF's zone, and commits what it allows.
/// ARP flows (a permission for all protocols under the VIF's address lock) stay as
/// they are: ARP is not tracked. An allowed flow without an ethertype (all
/// protocols) is narrowed to IPv4 (IPv6 permissions have their own): the same
/// number of flows lands as the budget counted.
pub(super) fn permission(mut f: FlowMod, zone: u16, stage: Stage, table_id: u8) -> FlowMod {
    if f.flow_match.dl_type == Some(ETH_TYPE_ARP) || f.instructions.is_empty() {
        return f;
    }
    let m = Match { dl_type: Some(f.flow_match.dl_type.unwrap_or(ETH_TYPE_IP)), ..f.flow_match };
    f.flow_match = with_fields(m, vec![zone_field(zone), new_connection()]);
    f.instructions = on(stage, table_id, vec![ct(zone, CT_COMMIT, CT_RECIRC_NONE)]);
    f
}

/// The flows that track a VIF's IP traffic in its zone, in both stages
/// (`table_id` and the next), with `cookie`. `open_egress`: no group restricts
/// what it sends, so every new connection from its addresses (`ips`, of either
/// family; any source when it has none) is committed; otherwise its permissions
/// decide. The same sources as a stateless allow of what it sends.
pub(super) fn vif_flows(
    ofport: u32,
    mac: MacAddr,
    ips: &[IpAddr],
    zone: u16,
    open_egress: bool,
    table_id: u8,
    cookie: u64,
) -> Vec<FlowMod> {
    let tracked = PriorityBand::SECURITY_GROUP_TRACKED.min();
    let mut out = Vec::new();
    for (stage, table, of_vif) in [
        (
            Stage::Egress,
            table_id,
            Match { in_port: Some(PortNo(ofport)), dl_src: Some(Masked::exact(mac)), ..Match::default() },
        ),
        (Stage::Ingress, table_id + 1, Match { dl_dst: Some(Masked::exact(mac)), ..Match::default() }),
    ] {
        let flow = |priority: u16, m: Match, instructions| add_flow(table, priority, cookie, m, instructions);
        let in_zone = |extra: Vec<MatchField>| {
            let mut fields = vec![zone_field(zone)];
            fields.extend(extra);
            with_fields(of_vif.clone(), fields)
        };
        for family in [ETH_TYPE_IP, ETH_TYPE_IPV6] {
            out.push(flow(
                PriorityBand::SECURITY_GROUP_TRACK.min(),
                Match { dl_type: Some(family), ..of_vif.clone() },
                vec![Instruction::ApplyActions { actions: vec![ct(zone, 0, table)] }],
            ));
        }
        let trk_inv = ct_state::INVALID | ct_state::TRACKED;
        for bit in [ct_state::ESTABLISHED, ct_state::RELATED] {
            out.push(flow(tracked, in_zone(vec![state(bit | ct_state::TRACKED, bit | trk_inv)]), on(stage, table_id, Vec::new())));
        }
        if stage == Stage::Egress && open_egress {
            // From its addresses, as XAPI's lock: IPv4 ones, IPv6 ones (a family it has
            // no address of commits nothing); with none, anything of either family.
            let mut sources: Vec<Match> = ips
                .iter()
                .map(|ip| match ip {
                    IpAddr::V4(v4) => {
                        Match { dl_type: Some(ETH_TYPE_IP), nw_src: Some(Masked::exact(*v4)), ..of_vif.clone() }
                    }
                    IpAddr::V6(v6) => {
                        let src = MatchField::exact(Field::Ipv6Src, Dialect::Oxm, Value::Ipv6(*v6));
                        with_fields(Match { dl_type: Some(ETH_TYPE_IPV6), ..of_vif.clone() }, vec![src])
                    }
                })
                .collect();
            if ips.is_empty() {
                sources = [ETH_TYPE_IP, ETH_TYPE_IPV6].map(|t| Match { dl_type: Some(t), ..of_vif.clone() }).to_vec();
            }
            for m in sources {
                let commit = on(stage, table_id, vec![ct(zone, CT_COMMIT, CT_RECIRC_NONE)]);
                out.push(flow(tracked, with_fields(m, vec![zone_field(zone), new_connection()]), commit));
            }
        }
        out.push(flow(PriorityBand::SECURITY_GROUP_ZONE_DENY.min(), in_zone(Vec::new()), Vec::new()));
    }
    out
}

/// Flows [`vif_flows`] makes for a VIF with `ips` addresses.
#[cfg(test)]
pub(super) fn vif_flow_count(ips: usize, open_egress: bool) -> usize {
    10 + if open_egress { if ips == 0 { 2 } else { ips } } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::text::format_flow_mod;

    fn texts(flows: &[FlowMod]) -> Vec<String> {
        flows.iter().map(format_flow_mod).collect()
    }

    #[test]
    fn a_vif_is_tracked_in_its_zone_in_both_stages() {
        let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        let flows = vif_flows(3, mac, &["10.0.0.1".parse().unwrap()], 7, true, 0, 0);
        let dual = texts(&vif_flows(3, mac, &["10.0.0.1".parse().unwrap(), "2001:db8::5".parse().unwrap()], 7, true, 0, 0));
        assert_eq!(dual.len(), vif_flow_count(2, true));
        let commits: Vec<&String> = dual.iter().filter(|t| t.contains("commit")).collect();
        assert_eq!(commits, [
            "priority=9700,ct_state=+new-inv+trk,ct_zone=7,ip,in_port=3,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1 actions=ct(commit,zone=7),goto_table:1",
            "priority=9700,ct_state=+new-inv+trk,ct_zone=7,ipv6,in_port=3,dl_src=02:00:00:00:00:01,ipv6_src=2001:db8::5 actions=ct(commit,zone=7),goto_table:1",
        ], "from each address of either family");
        assert_eq!(flows.len(), vif_flow_count(1, true));
        assert_eq!(texts(&flows), [
            "priority=9150,ip,in_port=3,dl_src=02:00:00:00:00:01 actions=ct(table=0,zone=7)",
            "priority=9150,ipv6,in_port=3,dl_src=02:00:00:00:00:01 actions=ct(table=0,zone=7)",
            "priority=9700,ct_state=+est-inv+trk,ct_zone=7,in_port=3,dl_src=02:00:00:00:00:01 actions=goto_table:1",
            "priority=9700,ct_state=+rel-inv+trk,ct_zone=7,in_port=3,dl_src=02:00:00:00:00:01 actions=goto_table:1",
            "priority=9700,ct_state=+new-inv+trk,ct_zone=7,ip,in_port=3,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1 actions=ct(commit,zone=7),goto_table:1",
            "priority=9200,ct_zone=7,in_port=3,dl_src=02:00:00:00:00:01 actions=drop",
            "table=1, priority=9150,ip,dl_dst=02:00:00:00:00:01 actions=ct(table=1,zone=7)",
            "table=1, priority=9150,ipv6,dl_dst=02:00:00:00:00:01 actions=ct(table=1,zone=7)",
            "table=1, priority=9700,ct_state=+est-inv+trk,ct_zone=7,dl_dst=02:00:00:00:00:01 actions=NORMAL",
            "table=1, priority=9700,ct_state=+rel-inv+trk,ct_zone=7,dl_dst=02:00:00:00:00:01 actions=NORMAL",
            "table=1, priority=9200,ct_zone=7,dl_dst=02:00:00:00:00:01 actions=drop",
        ]);
        // Restricted egress: the permissions commit, nothing else does.
        let restricted = vif_flows(3, mac, &[], 7, false, 0, 0);
        assert_eq!(restricted.len(), vif_flow_count(0, false));
        assert!(!texts(&restricted).iter().any(|t| t.contains("commit")));
        // Open egress without addresses: any new connection, IPv4 or IPv6.
        let unlocked = texts(&vif_flows(3, mac, &[], 7, true, 0, 0));
        assert_eq!(unlocked.len(), vif_flow_count(0, true));
        let commits: Vec<&String> = unlocked.iter().filter(|t| t.contains("commit")).collect();
        assert_eq!(commits, [
            "priority=9700,ct_state=+new-inv+trk,ct_zone=7,ip,in_port=3,dl_src=02:00:00:00:00:01 actions=ct(commit,zone=7),goto_table:1",
            "priority=9700,ct_state=+new-inv+trk,ct_zone=7,ipv6,in_port=3,dl_src=02:00:00:00:00:01 actions=ct(commit,zone=7),goto_table:1",
        ]);
    }
}
