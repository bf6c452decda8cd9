//! Elastic-IP bindings: the pools and internal ranges parsed once, then one call
//! per operation (a lease, a saved state's check, one host's flows). The flows
//! leave encoded, as the `{ cookie, flows: Buffer }` items the controller takes;
//! the JS facade keeps the leases, events and I/O (js/elastic-ips.js).

use std::net::Ipv4Addr;

use napi::bindgen_prelude::{BigInt, Buffer};
use napi_derive::napi;

use super::errors::{err, from_encode, guard, JsError};
use crate::net::addr::{parse_ipv4, parse_mac};
use crate::policy::elastic_ips::{priorities, Association, EipError, ElasticIps, Groups, Interface};
use crate::rules::cookie::{rule_cookie, MAX_RULE_NUMBER};
use crate::rules::rule::MAX_OFPORT;
use crate::rules::{encode_flow_mods, parse_rule};

fn eip_error(e: EipError) -> JsError {
    err(e.code, e.message)
}

/// The three priorities of the elastic IPs (from the band table).
#[napi(object)]
pub struct NativeElasticIpPriorities {
    pub arp: u32,
    pub internal: u32,
    pub nat: u32,
}

#[napi]
pub fn elastic_ip_priorities() -> NativeElasticIpPriorities {
    let p = priorities();
    NativeElasticIpPriorities { arp: p.arp.into(), internal: p.internal.into(), nat: p.nat.into() }
}

/// An address leased: the address and its pool (`a.b.c.d/n`).
#[napi(object)]
pub struct NativeLease {
    pub public_ip: String,
    pub pool: String,
}

/// The VIF of an association, as the facade checked it.
#[napi(object)]
pub struct NativeElasticIpVif {
    pub uuid: String,
    pub mac: String,
    pub ip: String,
}

/// A rule the security groups derive for the VIF: its priority and normalized JSON.
#[napi(object)]
pub struct NativeDerivedRule {
    pub priority: u32,
    pub spec: String,
}

/// The VIF's security groups (`SecurityGroups#rulesOf`).
#[napi(object)]
pub struct NativeGroupRules {
    pub egress_restricted: bool,
    pub rules: Vec<NativeDerivedRule>,
    /// The groups track connections: their two stages judge the private side.
    pub stateful: Option<bool>,
}

/// An address associated with a VIF.
#[napi(object)]
pub struct NativeAssociation {
    pub public_ip: String,
    /// Its rule number (the controller's), for the cookie.
    pub number: f64,
    pub generation: u32,
    pub vif: NativeElasticIpVif,
    pub groups: Option<NativeGroupRules>,
}

/// An interface of a bridge of the host.
#[napi(object)]
pub struct NativeBridgeInterface {
    pub bridge: String,
    pub name: String,
    pub ofport: f64,
    pub vif_uuid: Option<String>,
}

/// An associated address placed on a bridge: the provider item, and who answers ARP.
#[napi(object)]
pub struct NativePlacement {
    pub bridge: String,
    pub public_ip: String,
    /// The VIF's MAC: the answer to ARP requests for `publicIp` on this bridge.
    pub mac: String,
    pub cookie: BigInt,
    /// The FLOW_MODs, back to back.
    pub flows: Buffer,
}

#[napi]
pub struct NativeElasticIps {
    inner: ElasticIps,
}

#[napi]
impl NativeElasticIps {
    /// Errors name `options.pools[i]` / `options.internal[i]`.
    #[napi(constructor)]
    pub fn new(pools: Vec<String>, internal: Vec<String>) -> Result<Self, JsError> {
        guard(|| Ok(NativeElasticIps { inner: ElasticIps::new(&pools, &internal).map_err(eip_error)? }))
    }

    /// The next free address of `pool` (or of any pool), `leased` being taken.
    /// `SDN_EIP_POOL_NOT_FOUND`, `SDN_EIP_POOL_EXHAUSTED`.
    #[napi]
    pub fn lease(&self, pool: Option<String>, leased: Vec<String>) -> Result<NativeLease, JsError> {
        guard(|| {
            // Leases come from this object: what does not parse was never one.
            let taken: std::collections::HashSet<Ipv4Addr> = leased.iter().filter_map(parse_ipv4).collect();
            let (ip, pool) = self.inner.lease(pool.as_deref(), |ip| taken.contains(&ip)).map_err(eip_error)?;
            Ok(NativeLease { public_ip: ip.to_string(), pool: pool.to_string() })
        })
    }

    /// Checks the addresses of a saved state: each a plain IPv4 address in a
    /// pool. Errors name `state.addresses[i].ip`.
    #[napi]
    pub fn check_leased(&self, ips: Vec<String>) -> Result<(), JsError> {
        guard(|| {
            for (i, ip) in ips.iter().enumerate() {
                self.inner.check_leased(ip, &format!("state.addresses[{i}].ip")).map_err(eip_error)?;
            }
            Ok(())
        })
    }

    /// The flows of the associated addresses on one host, in table `tableId` (the
    /// controller's): per association and interface of its VIF, one item. Errors
    /// name `associations[i].…` or `interfaces[i].…`.
    #[napi]
    pub fn place(
        &self,
        associations: Vec<NativeAssociation>,
        interfaces: Vec<NativeBridgeInterface>,
        table_id: u32,
    ) -> Result<Vec<NativePlacement>, JsError> {
        guard(|| {
            let table_id = u8::try_from(table_id)
                .ok()
                .filter(|t| *t <= 254)
                .ok_or_else(|| err("ERR_OUT_OF_RANGE", format!("tableId must be 0 to 254, got {table_id}")))?;
            let list: Vec<Association> =
                associations.iter().enumerate().map(|(i, a)| association(i, a)).collect::<Result<_, _>>()?;
            let mut ifaces = Vec::with_capacity(interfaces.len());
            for (i, iface) in interfaces.iter().enumerate() {
                let vif_uuid = iface.vif_uuid.as_deref();
                // Only the interfaces of associated VIFs are used: a bad port elsewhere is not ours to refuse.
                if !list.iter().any(|a| Some(a.vif_uuid.as_str()) == vif_uuid) {
                    continue;
                }
                let ofport = iface.ofport;
                if ofport.fract() != 0.0 || !(1.0..=f64::from(MAX_OFPORT)).contains(&ofport) {
                    let msg = format!("interfaces[{i}].ofport must be 1 to {MAX_OFPORT}, got {ofport}");
                    return Err(err("ERR_OUT_OF_RANGE", msg));
                }
                ifaces.push(Interface { bridge: &iface.bridge, name: &iface.name, ofport: ofport as u32, vif_uuid });
            }
            self.inner
                .place(&list, &ifaces, table_id)
                .into_iter()
                .map(|p| {
                    let a = &list[p.association];
                    Ok(NativePlacement {
                        bridge: p.bridge.to_owned(),
                        public_ip: a.public_ip.to_string(),
                        mac: a.mac.to_string(),
                        cookie: BigInt::from(a.cookie),
                        flows: encode_flow_mods(&p.flows).map_err(from_encode)?.into(),
                    })
                })
                .collect()
        })
    }
}

/// One association read; errors name `associations[i].field`.
fn association(i: usize, a: &NativeAssociation) -> Result<Association, JsError> {
    let at = |field: &str| format!("associations[{i}].{field}");
    let bad = |field: &str, what: &str, got: &str| {
        err("ERR_INVALID_ARG_VALUE", format!("{} must be {what}, got '{got}'", at(field)))
    };
    let public_ip = parse_ipv4(&a.public_ip).ok_or_else(|| bad("publicIp", "an IPv4 address", &a.public_ip))?;
    let private_ip = parse_ipv4(&a.vif.ip).ok_or_else(|| bad("vif.ip", "an IPv4 address", &a.vif.ip))?;
    let mac = parse_mac(&a.vif.mac).ok_or_else(|| bad("vif.mac", "a MAC address", &a.vif.mac))?;
    let number = a.number;
    if number.fract() != 0.0 || !(1.0..=MAX_RULE_NUMBER as f64).contains(&number) {
        return Err(err(
            "ERR_OUT_OF_RANGE",
            format!("{} must be an integer 1 to {MAX_RULE_NUMBER}, got {number}", at("number")),
        ));
    }
    let generation = u8::try_from(a.generation)
        .map_err(|_| err("ERR_OUT_OF_RANGE", format!("{} must be 0 to 255, got {}", at("generation"), a.generation)))?;
    let cookie = rule_cookie(number as u64, generation)
        .ok_or_else(|| err("ERR_OUT_OF_RANGE", format!("{} has no cookie", at("number"))))?;
    let groups = match &a.groups {
        None => None,
        Some(g) => {
            let mut rules = Vec::with_capacity(g.rules.len());
            for (j, r) in g.rules.iter().enumerate() {
                let field = at(&format!("groups.rules[{j}]"));
                let priority = u16::try_from(r.priority).map_err(|_| {
                    err("ERR_OUT_OF_RANGE", format!("{field}.priority must be 0 to 65535, got {}", r.priority))
                })?;
                let spec = serde_json::from_str(&r.spec)
                    .map_err(|e| err("ERR_INVALID_ARG_VALUE", format!("{field}.spec is not valid JSON: {e}")))?;
                let rule = parse_rule(&spec).map_err(|e| err(e.code, format!("{field}.spec: {}", e.message)))?;
                rules.push((priority, rule));
            }
            Some(Groups { egress_restricted: g.egress_restricted, rules, stateful: g.stateful.unwrap_or(false) })
        }
    };
    Ok(Association { public_ip, cookie, vif_uuid: a.vif.uuid.clone(), mac, private_ip, groups })
}
