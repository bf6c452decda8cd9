//! The flows of XO's traffic-rules plugin for one rule on one host, as the
//! `ovs-ofctl` text `putForeignFlows`/`deleteForeignFlows` take (see
//! `crate::policy::xo_plugin`). One call per rule and host.

use napi_derive::napi;

use super::errors::{err, guard, JsError};
use crate::net::addr::parse_mac;
use crate::policy::xo_plugin::{
    flow_texts, integer_in, PluginError, PluginProtocol, PluginRange, PluginRule, Topology,
};
use crate::rules::rule::MAX_OFPORT;

fn plugin_error(e: PluginError) -> JsError {
    err(e.code, e.message)
}

/// A rule as js/xo-adapters.js `pluginRule` checked it.
#[napi(object)]
pub struct NativePluginRule {
    pub protocol: String,
    pub to: bool,
    pub from: bool,
    pub mac: Option<String>,
    pub ip_range: Option<String>,
    pub port: Option<f64>,
    /// Needed with `actions` (an add); a delete by match has none.
    pub allow: Option<bool>,
}

/// Where a network's flows go on the host (js/xo-adapters.js `networkTopology`).
#[napi(object)]
pub struct NativePluginTopology {
    pub vlan: Option<f64>,
    pub ofports: Vec<f64>,
    pub uplinks: Vec<f64>,
}

/// The plugin's flows, with ` actions=normal|drop` when `actions`. Errors name
/// `rule.*` or `topology.*`.
#[napi]
pub fn xo_plugin_flows(
    rule: NativePluginRule,
    topology: NativePluginTopology,
    actions: bool,
) -> Result<Vec<String>, JsError> {
    guard(|| {
        let protocol = PluginProtocol::from_name(&rule.protocol).ok_or_else(|| {
            let names: Vec<&str> = PluginProtocol::ALL.iter().map(|p| p.name()).collect();
            let msg = format!("rule.protocol must be one of {} (any case), got {}", names.join(", "), rule.protocol);
            err("ERR_INVALID_ARG_VALUE", msg)
        })?;
        let mac = match rule.mac.as_deref().filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => Some(
                parse_mac(m)
                    .ok_or_else(|| err("ERR_INVALID_ARG_VALUE", format!("rule.mac must be a MAC address, got {m}")))?,
            ),
        };
        let ip_range = match rule.ip_range.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(PluginRange::parse(r, "rule.ipRange").map_err(plugin_error)?),
        };
        let port = match rule.port {
            None => None,
            Some(p) => {
                let p = integer_in(p, 65535, "rule.port").map_err(plugin_error)? as u16;
                if !protocol.has_ports() {
                    let msg = format!("rule.port needs protocol tcp, udp or icmp, not {}", protocol.name());
                    return Err(err("ERR_INVALID_ARG_VALUE", msg));
                }
                Some(p)
            }
        };
        let vlan = match topology.vlan {
            None => None,
            Some(v) => Some(integer_in(v, 4095, "topology.vlan").map_err(plugin_error)? as u16),
        };
        let ports = |list: &[f64], name: &str| -> Result<Vec<u32>, JsError> {
            list.iter()
                .enumerate()
                .map(|(i, o)| integer_in(*o, MAX_OFPORT, &format!("topology.{name}[{i}]")).map_err(plugin_error))
                .collect()
        };
        let topo = Topology {
            vlan,
            ofports: ports(&topology.ofports, "ofports")?,
            uplinks: ports(&topology.uplinks, "uplinks")?,
        };
        let r = PluginRule {
            protocol,
            to: rule.to,
            from: rule.from,
            mac,
            ip_range,
            port,
            allow: rule.allow.unwrap_or(false),
        };
        Ok(flow_texts(&r, &topo, actions))
    })
}
