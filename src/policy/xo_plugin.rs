//! The flows XO's traffic-rules plugin (`sdncontroller.py`, the host plugin of
//! XO's traffic rules) builds for a rule, as the `ovs-ofctl` text it hands
//! `ovs-ofctl add-flow`/`del-flows`, in its field order. XO's traffic-rules engine
//! drives this crate in the plugin's stead (js/xo-adapters.js); the text goes to the
//! controller's `putForeignFlows`/`deleteForeignFlows`, which read it with the
//! crate's flow-text parser, so the switch gets what the plugin's flows would give.
//!
//! Per direction: a VIF rule (with a MAC) is one flow on the MAC; a network rule is
//! one flow per port of the network (`in_port`) and one per uplink of its bridge
//! (`in_port`, and `dl_vlan` = the network's tag, or 0xffff: untagged), none when the
//! network has no port on the host. `to` is traffic towards the range
//! (`dl_src=mac, nw_dst, tp_dst`), `from` traffic from it (`dl_dst=mac, nw_src,
//! tp_src`).

use std::fmt::{self, Write as _};

use crate::net::addr::{parse_ipv4_masked, IpMask};
use crate::openflow::types::MacAddr;

/// Right type, wrong value.
pub const ERR_INVALID_ARG_VALUE: &str = "ERR_INVALID_ARG_VALUE";
/// A number outside its range.
pub const ERR_OUT_OF_RANGE: &str = "ERR_OUT_OF_RANGE";

/// An input the plugin would refuse, with a stable code; the message names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    /// `ERR_INVALID_ARG_VALUE` or `ERR_OUT_OF_RANGE`.
    pub code: &'static str,
    /// What is wrong, starting with the field.
    pub message: String,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

/// `dl_vlan` of a packet without an 802.1Q header (OFP_VLAN_NONE).
pub const VLAN_NONE: u16 = 0xffff;

/// The protocols the plugin accepts, by their `ovs-ofctl` shorthand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginProtocol {
    /// `tcp`
    Tcp,
    /// `udp`
    Udp,
    /// `icmp` (a port is the ICMP type or code)
    Icmp,
    /// `ip`
    Ip,
    /// `arp`
    Arp,
}

impl PluginProtocol {
    /// Every protocol, in the plugin's order.
    pub const ALL: [PluginProtocol; 5] =
        [PluginProtocol::Tcp, PluginProtocol::Udp, PluginProtocol::Icmp, PluginProtocol::Ip, PluginProtocol::Arp];

    /// The shorthand (`tcp`).
    pub fn name(self) -> &'static str {
        match self {
            PluginProtocol::Tcp => "tcp",
            PluginProtocol::Udp => "udp",
            PluginProtocol::Icmp => "icmp",
            PluginProtocol::Ip => "ip",
            PluginProtocol::Arp => "arp",
        }
    }

    /// The protocol named `name` (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// True when a rule of this protocol may name a port.
    pub fn has_ports(self) -> bool {
        matches!(self, PluginProtocol::Tcp | PluginProtocol::Udp | PluginProtocol::Icmp)
    }
}

/// An address range as the plugin takes it: `a.b.c.d` or `a.b.c.d/n`, host bits
/// allowed (ovs-ofctl masks them), kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRange(String);

impl PluginRange {
    /// Checks `text` with the crate's one IPv4 grammar ([`parse_ipv4_masked`]); a
    /// netmask instead of a prefix length is refused, as XO refuses it.
    pub fn parse(text: &str, what: &str) -> Result<Self, PluginError> {
        match parse_ipv4_masked(text) {
            Ok((_, None | Some(IpMask::Prefix(_)))) => Ok(PluginRange(text.to_owned())),
            _ => Err(PluginError {
                code: ERR_INVALID_ARG_VALUE,
                message: format!("{what} must be an IPv4 address or CIDR, got {text}"),
            }),
        }
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A rule as the plugin reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRule {
    /// What it matches.
    pub protocol: PluginProtocol,
    /// Traffic towards `ip_range`.
    pub to: bool,
    /// Traffic from `ip_range`.
    pub from: bool,
    /// The VIF's MAC (a VIF rule), or none (a network rule).
    pub mac: Option<MacAddr>,
    /// The remote addresses; none = any.
    pub ip_range: Option<PluginRange>,
    /// The port (tcp, udp) or ICMP type/code (icmp).
    pub port: Option<u16>,
    /// Allow (NORMAL) or drop.
    pub allow: bool,
}

/// Where a network's flows go on one host (read from OVSDB by the caller).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// The network's VLAN tag on its bridge, if any.
    pub vlan: Option<u16>,
    /// The OpenFlow ports of the network's ports (VIFs, tunnels).
    pub ofports: Vec<u32>,
    /// The OpenFlow ports of the bridge's uplinks (NICs, bond members, tunnels).
    pub uplinks: Vec<u32>,
}

/// The plugin's flows for `rule` on a host, in its order: `to` flows first, then
/// `from`; with ` actions=normal|drop` when `actions` (for an add), without for a
/// delete by match.
pub fn flow_texts(rule: &PluginRule, topo: &Topology, actions: bool) -> Vec<String> {
    let build = |to: bool, ofport: Option<u32>, uplink: bool| {
        let mut t = rule.protocol.name().to_owned();
        if uplink {
            let _ = write!(t, ",dl_vlan={}", topo.vlan.unwrap_or(VLAN_NONE));
        }
        if let Some(o) = ofport {
            let _ = write!(t, ",in_port={o}");
        }
        if let Some(mac) = rule.mac {
            let _ = write!(t, ",{}={mac}", if to { "dl_src" } else { "dl_dst" });
        }
        if let Some(range) = &rule.ip_range {
            let _ = write!(t, ",{}={}", if to { "nw_dst" } else { "nw_src" }, range.as_str());
        }
        if let Some(port) = rule.port {
            let _ = write!(t, ",{}={port}", if to { "tp_dst" } else { "tp_src" });
        }
        if actions {
            t.push_str(if rule.allow { " actions=normal" } else { " actions=drop" });
        }
        t
    };
    let mut out = Vec::new();
    for to in [true, false] {
        if !(if to { rule.to } else { rule.from }) {
            continue;
        }
        if rule.mac.is_some() {
            out.push(build(to, None, false));
        } else if !topo.ofports.is_empty() {
            out.extend(topo.ofports.iter().map(|o| build(to, Some(*o), false)));
            out.extend(topo.uplinks.iter().map(|u| build(to, Some(*u), true)));
        }
    }
    out
}

/// A port number given as a JS number: an integer `0..=max`; errors name `what`.
pub fn integer_in(v: f64, max: u32, what: &str) -> Result<u32, PluginError> {
    if v.fract() == 0.0 && (0.0..=f64::from(max)).contains(&v) {
        Ok(v as u32)
    } else {
        Err(PluginError { code: ERR_OUT_OF_RANGE, message: format!("{what} must be an integer 0 to {max}, got {v}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::flow::FlowModCommand;
    use crate::openflow::text::{format_match, parse_flow};

    fn rule(
        protocol: &str,
        mac: Option<&str>,
        range: Option<&str>,
        port: Option<u16>,
        dirs: (bool, bool),
    ) -> PluginRule {
        PluginRule {
            protocol: PluginProtocol::from_name(protocol).unwrap(),
            to: dirs.0,
            from: dirs.1,
            mac: mac.map(|m| m.parse().unwrap()),
            ip_range: range.map(|r| PluginRange::parse(r, "rule.ipRange").unwrap()),
            port,
            allow: true,
        }
    }

    /// The cases of __test__/xo-adapters.test.js, which the JS implementation gave.
    #[test]
    fn a_vif_rule_is_one_flow_per_direction_on_the_mac() {
        let r = rule("tcp", Some("AA:BB:CC:DD:EE:FF"), Some("10.0.0.0/24"), Some(22), (true, true));
        let topo = Topology { vlan: Some(100), ofports: vec![7], uplinks: vec![3, 30] };
        assert_eq!(
            flow_texts(&r, &topo, true),
            [
                "tcp,dl_src=aa:bb:cc:dd:ee:ff,nw_dst=10.0.0.0/24,tp_dst=22 actions=normal",
                "tcp,dl_dst=aa:bb:cc:dd:ee:ff,nw_src=10.0.0.0/24,tp_src=22 actions=normal",
            ]
        );
    }

    #[test]
    fn a_network_rule_is_one_flow_per_port_and_uplink() {
        let r = PluginRule { allow: false, ..rule("udp", None, Some("192.0.2.0/24"), Some(53), (true, false)) };
        let tagged = Topology { vlan: Some(100), ofports: vec![7], uplinks: vec![3, 30] };
        assert_eq!(
            flow_texts(&r, &tagged, true),
            [
                "udp,in_port=7,nw_dst=192.0.2.0/24,tp_dst=53 actions=drop",
                "udp,dl_vlan=100,in_port=3,nw_dst=192.0.2.0/24,tp_dst=53 actions=drop",
                "udp,dl_vlan=100,in_port=30,nw_dst=192.0.2.0/24,tp_dst=53 actions=drop",
            ]
        );
        let untagged = Topology { vlan: None, ofports: vec![1, 2], uplinks: vec![3, 30] };
        let r = rule("ip", None, Some("10.0.0.1"), None, (false, true));
        assert_eq!(
            flow_texts(&r, &untagged, false),
            [
                "ip,in_port=1,nw_src=10.0.0.1",
                "ip,in_port=2,nw_src=10.0.0.1",
                "ip,dl_vlan=65535,in_port=3,nw_src=10.0.0.1",
                "ip,dl_vlan=65535,in_port=30,nw_src=10.0.0.1",
            ]
        );
        // No port of the network on this host: nothing (the plugin's error '4').
        let r = rule("udp", None, Some("192.0.2.0/24"), Some(53), (true, true));
        assert!(flow_texts(&r, &Topology { vlan: None, ofports: vec![], uplinks: vec![3] }, true).is_empty());
    }

    /// Every text is flow syntax the controller reads (the crate's ovs-ofctl
    /// parser), with the fields the plugin meant; a range with host bits is
    /// masked there, as ovs-ofctl masks it.
    #[test]
    fn the_texts_read_back_as_the_matches_the_plugin_meant() {
        let topo = Topology { vlan: Some(100), ofports: vec![7], uplinks: vec![3] };
        let r = rule("icmp", None, Some("10.0.0.1/24"), Some(8), (true, true));
        let matches: Vec<String> = flow_texts(&r, &topo, true)
            .iter()
            .map(|t| {
                format_match(&parse_flow(t, FlowModCommand::ADD).unwrap_or_else(|e| panic!("{t}: {e}")).flow_match)
            })
            .collect();
        assert_eq!(
            matches,
            [
                "icmp,in_port=7,nw_dst=10.0.0.0/24,icmp_code=8",
                "icmp,in_port=3,dl_vlan=100,nw_dst=10.0.0.0/24,icmp_code=8",
                "icmp,in_port=7,nw_src=10.0.0.0/24,icmp_type=8",
                "icmp,in_port=3,dl_vlan=100,nw_src=10.0.0.0/24,icmp_type=8",
            ]
        );
        let arp = rule("arp", Some("02:00:00:00:00:01"), None, None, (true, false));
        let fm = parse_flow(&flow_texts(&arp, &topo, true)[0], FlowModCommand::ADD).unwrap();
        assert_eq!(format_match(&fm.flow_match), "arp,dl_src=02:00:00:00:00:01");
    }

    #[test]
    fn ranges_and_protocols_as_the_plugin_takes_them() {
        assert_eq!(PluginProtocol::from_name("TCP"), Some(PluginProtocol::Tcp));
        assert_eq!(PluginProtocol::from_name("sctp"), None);
        assert!(PluginProtocol::Icmp.has_ports() && !PluginProtocol::Arp.has_ports());
        assert_eq!(PluginRange::parse("10.0.0.1/24", "r").map(|r| r.as_str().to_owned()), Ok("10.0.0.1/24".to_owned()));
        for bad in ["10.0.0.0/255.0.0.0", "10.0.0.0/33", "10.0.300.1/24", "", "::1"] {
            let e = PluginRange::parse(bad, "rule.ipRange").unwrap_err();
            assert_eq!(e.message, format!("rule.ipRange must be an IPv4 address or CIDR, got {bad}"));
        }
        assert_eq!(integer_in(4095.0, 4095, "vlan"), Ok(4095));
        assert_eq!(integer_in(-1.0, 4095, "vlan").unwrap_err().message, "vlan must be an integer 0 to 4095, got -1");
        assert_eq!(integer_in(1.5, 9, "p").unwrap_err().code, ERR_OUT_OF_RANGE);
    }
}
