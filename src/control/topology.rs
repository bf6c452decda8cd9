//! Where a rule lands: the VIF interfaces of each switch, as the OVSDB replica of
//! a host reports them, and which of them a rule's target covers.

use std::collections::BTreeMap;
use std::fmt;

use crate::openflow::types::MacAddr;
use crate::rules::compile::Endpoint;
use crate::rules::rule::{Rule, Target};

/// One switch: a bridge of a host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwitchId {
    /// The host's id (XO: `host.$ref`).
    pub host: String,
    /// The bridge's name.
    pub bridge: String,
}

impl SwitchId {
    /// `bridge` of `host`.
    pub fn new(host: impl Into<String>, bridge: impl Into<String>) -> Self {
        SwitchId { host: host.into(), bridge: bridge.into() }
    }
}

impl fmt::Display for SwitchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on host {}", self.bridge, self.host)
    }
}

/// A VIF's interface on a bridge (`ovsdb-client.js` `vifInterfaces()`). An HVM
/// guest has two, `vif` and `tap`, with one VIF uuid: both are covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Its OpenFlow port on the bridge.
    pub ofport: u32,
    /// `external_ids:attached-mac`, when set.
    pub mac: Option<MacAddr>,
    /// `external_ids:xs-vif-uuid` (lower case).
    pub vif_uuid: String,
    /// `external_ids:xs-vm-uuid` (lower case), when set.
    pub vm_uuid: Option<String>,
    /// The networks of its bridge (`Bridge.external_ids:xs-network-uuids`, lower case).
    pub networks: Vec<String>,
}

/// The interfaces of every bridge of one host.
pub type HostTopology = BTreeMap<String, Vec<Interface>>;

/// The endpoints `rule` has among `interfaces` (one bridge), in their order. A VIF
/// target uses the rule's own MAC and addresses (what the caller said the VIF may
/// use); the others take each interface's MAC, and skip interfaces without one.
pub fn endpoints(rule: &Rule, interfaces: &[Interface]) -> Vec<Endpoint> {
    let by_interface = |pick: &dyn Fn(&Interface) -> bool| {
        interfaces
            .iter()
            .filter(|i| pick(i))
            .filter_map(|i| i.mac.map(|mac| Endpoint { ofport: i.ofport, mac, ips: Vec::new(), ipv6: Vec::new() }))
            .collect()
    };
    match &rule.target {
        Target::Vif(vif) => interfaces
            .iter()
            .filter(|i| i.vif_uuid == vif.uuid)
            .map(|i| Endpoint::locked(i.ofport, vif.mac, &vif.ips))
            .collect(),
        Target::Vm { uuid } => by_interface(&|i| i.vm_uuid.as_deref() == Some(uuid.as_str())),
        Target::Network { uuid } => by_interface(&|i| i.networks.iter().any(|n| n == uuid)),
        Target::Pool => by_interface(&|_| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rule::parse_rule;
    use serde_json::json;

    /// A UUID named by a number.
    fn u(n: u32) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    fn iface(ofport: u32, mac: Option<&str>, vif: u32, vm: u32) -> Interface {
        Interface {
            ofport,
            mac: mac.map(|m| m.parse().unwrap()),
            vif_uuid: u(vif),
            vm_uuid: Some(u(vm)),
            networks: vec![u(100)],
        }
    }

    fn rule(target: serde_json::Value) -> Rule {
        let mut v = json!({ "allow": false, "direction": "to" });
        for (k, x) in target.as_object().unwrap() {
            v[k] = x.clone();
        }
        parse_rule(&v).unwrap()
    }

    #[test]
    fn each_target_picks_its_interfaces() {
        let list = [
            iface(1, Some("02:00:00:00:00:01"), 1, 11),
            iface(2, Some("02:00:00:00:00:01"), 1, 11), // the tap of VIF 1
            iface(3, None, 2, 11),                      // no MAC yet
            iface(4, Some("02:00:00:00:00:04"), 4, 12),
        ];
        let ports = |r: &Rule| endpoints(r, &list).iter().map(|e| e.ofport).collect::<Vec<_>>();
        let vif = rule(json!({ "vif": { "uuid": u(1), "mac": "02:00:00:00:00:99", "ips": ["10.0.0.1"] } }));
        let eps = endpoints(&vif, &list);
        assert_eq!(eps.iter().map(|e| e.ofport).collect::<Vec<_>>(), vec![1, 2], "vif and tap");
        assert!(
            eps.iter().all(|e| e.mac.to_string() == "02:00:00:00:00:99" && e.ips.len() == 1),
            "the rule's MAC and ips"
        );
        let v2 = rule(json!({ "vif": { "uuid": u(2), "mac": "02:00:00:00:00:02" } }));
        assert_eq!(ports(&v2), vec![3], "a VIF rule brings its own MAC");
        assert_eq!(ports(&rule(json!({ "vm": { "uuid": u(11) } }))), vec![1, 2], "without a MAC, skipped");
        assert_eq!(ports(&rule(json!({ "network": { "uuid": u(100) } }))), vec![1, 2, 4]);
        assert_eq!(ports(&rule(json!({ "network": { "uuid": u(101) } }))), Vec::<u32>::new());
        assert_eq!(ports(&rule(json!({ "pool": true }))), vec![1, 2, 4]);
    }
}
