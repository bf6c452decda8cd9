//! `NativeSecurityGroups`: the security groups of `js/security-groups.js`
//! (`policy::security_groups`). The JS facade keeps the public API, the rule
//! numbers (the controller's registry), persistence and pushes; every group,
//! permission, attachment, rule and flow is decided here.
//!
//! One call per operation: arguments cross as JSON text, views and state come back
//! as JSON text, flows as one encoded buffer per (bridge, cookie). Nothing crosses
//! per rule or per flow.

use napi::bindgen_prelude::{BigInt, Buffer};
use napi_derive::napi;
use serde_json::Value;

use super::errors::{err, from_encode, guard, JsError};
use crate::policy::security_groups::{BridgeInterfaces, SecurityGroups, SgError, Side};
use crate::rules::table::encode_flow_mods;

fn sg_error(e: SgError) -> JsError {
    err(e.code(), e)
}

fn json_of(text: &str, what: &str) -> Result<Value, JsError> {
    serde_json::from_str(text).map_err(|e| err("ERR_INVALID_ARG_VALUE", format!("{what} is not valid JSON: {e}")))
}

fn side_of(side: &str) -> Result<Side, JsError> {
    match side {
        "ingress" => Ok(Side::Ingress),
        "egress" => Ok(Side::Egress),
        _ => Err(err("ERR_INVALID_ARG_VALUE", format!("side must be ingress or egress, got {side:?}"))),
    }
}

/// A rule number from JS (an integer below 2^53); the core checks its range.
fn number_of(n: f64, what: &str) -> Result<u64, JsError> {
    if n.fract() != 0.0 || !(1.0..=9_007_199_254_740_991.0).contains(&n) {
        return Err(err("ERR_OUT_OF_RANGE", format!("{what} must be a positive integer, got {n}")));
    }
    Ok(n as u64)
}

/// The flows of one cookie on one bridge: FLOW_MOD ADDs encoded back to back
/// (xid 0), ready to be a provider item `{ cookie, flows }`.
#[napi(object)]
pub struct NativeSecurityGroupFlows {
    pub bridge: String,
    pub cookie: BigInt,
    pub flows: Buffer,
}

/// Security groups and the VIFs attached to them.
#[napi]
pub struct NativeSecurityGroups {
    core: SecurityGroups,
}

#[napi]
impl NativeSecurityGroups {
    /// Base rules (ARP, DHCP, deny) under rule number `baseNumber`; each group may
    /// cost at most `flowBudget` flows per VIF; `stateful`: connection tracking.
    #[napi(constructor)]
    pub fn new(base_number: f64, flow_budget: u32, stateful: Option<bool>) -> Result<Self, JsError> {
        guard(|| {
            let core =
                SecurityGroups::new(number_of(base_number, "baseNumber")?, flow_budget as usize).map_err(sg_error)?;
            Ok(NativeSecurityGroups { core: core.with_stateful(stateful.unwrap_or(false)) })
        })
    }

    /// Creates a group under rule number `number`; its view `{ id, name,
    /// description, ingress, egress }` as JSON. Throws `SDN_SG_EXISTS`.
    #[napi]
    pub fn create_group(&mut self, name: String, description: String, number: f64) -> Result<String, JsError> {
        guard(|| {
            let number = number_of(number, "number")?;
            let g = self.core.create_group(&name, &description, number).map_err(sg_error)?.clone();
            Ok(self.core.view_json(&g))
        })
    }

    /// Deletes a group (name or id) no VIF is in and no group refers to.
    #[napi]
    pub fn delete_group(&mut self, group: String) -> Result<(), JsError> {
        guard(|| self.core.delete_group(&group).map(drop).map_err(sg_error))
    }

    /// Adds permissions (`permissionsJson`: one or an array) to `side` (`ingress`
    /// or `egress`) of a group, within the flow budget; the group's view as JSON.
    #[napi]
    pub fn authorize(&mut self, group: String, side: String, permissions_json: String) -> Result<String, JsError> {
        guard(|| {
            let (side, list) = (side_of(&side)?, json_of(&permissions_json, "permissions")?);
            let g = self.core.authorize(&group, side, &list).map_err(sg_error)?.clone();
            Ok(self.core.view_json(&g))
        })
    }

    /// Removes permissions from `side` of a group; the group's view as JSON.
    #[napi]
    pub fn revoke(&mut self, group: String, side: String, permissions_json: String) -> Result<String, JsError> {
        guard(|| {
            let (side, list) = (side_of(&side)?, json_of(&permissions_json, "permissions")?);
            let g = self.core.revoke(&group, side, &list).map_err(sg_error)?.clone();
            Ok(self.core.view_json(&g))
        })
    }

    /// Sets the groups (`groupsJson`, names or ids) of one VIF or an array of them
    /// (`vifsJson`, `{ uuid, mac, ips? }`), within the flow budget.
    #[napi]
    pub fn attach(&mut self, vifs_json: String, groups_json: String) -> Result<(), JsError> {
        guard(|| {
            let (vifs, groups) = (json_of(&vifs_json, "vifs")?, json_of(&groups_json, "groups")?);
            self.core.attach(&vifs, &groups).map_err(sg_error)
        })
    }

    /// Removes groups (`groupsJson`; all when absent) from VIF `uuid` (lower case).
    #[napi]
    pub fn detach(&mut self, uuid: String, groups_json: Option<String>) -> Result<(), JsError> {
        guard(|| {
            let groups = groups_json.as_deref().map(|t| json_of(t, "groups")).transpose()?;
            self.core.detach(&uuid, groups.as_ref()).map_err(sg_error)
        })
    }

    /// Every group with its members, JSON.
    #[napi]
    pub fn describe(&self) -> String {
        self.core.describe_json()
    }

    /// The state for the state file, JSON (format version 1).
    #[napi]
    pub fn export_state(&self) -> String {
        self.core.export_state_json()
    }

    /// Replaces everything with a saved state (JSON); the rule numbers it holds,
    /// groups' then the base number, for the controller to reserve.
    #[napi]
    pub fn import_state(&mut self, state_json: String) -> Result<Vec<f64>, JsError> {
        guard(|| {
            let state = json_of(&state_json, "state")?;
            let numbers = self.core.import_state(&state).map_err(sg_error)?;
            Ok(numbers.into_iter().map(|n| n as f64).collect())
        })
    }

    /// What a VIF's groups make, JSON `{ egressRestricted, rules: [{ priority,
    /// spec }] }` (`spec`: the rule's normalized JSON, as `validateRule` gives it),
    /// or `null` when it is in no group.
    #[napi]
    pub fn rules_of(&self, uuid: String) -> Option<String> {
        let r = self.core.rules_of(&uuid)?;
        let rules: Vec<Value> = r
            .rules
            .iter()
            .map(|d| serde_json::json!({ "priority": d.priority, "spec": d.rule.to_json().to_string() }))
            .collect();
        let stateful = self.core.is_stateful();
        Some(serde_json::json!({ "egressRestricted": r.egress_restricted, "rules": rules, "stateful": stateful }).to_string())
    }

    /// The flows of the attached VIFs among `interfacesJson` (`[[bridge, [[vifUuid,
    /// ofport], ...]], ...]`), compiled for table `tableId`: one entry per bridge
    /// and cookie.
    #[napi]
    pub fn flows(&self, interfaces_json: String, table_id: u32) -> Result<Vec<NativeSecurityGroupFlows>, JsError> {
        guard(|| {
            let bridges: Vec<BridgeInterfaces> = serde_json::from_str(&interfaces_json).map_err(|e| {
                err("ERR_INVALID_ARG_VALUE", format!("interfaces must be [[bridge, [[vifUuid, ofport]]]]: {e}"))
            })?;
            let table_id = u8::try_from(table_id)
                .ok()
                .filter(|t| *t < 253)
                .ok_or_else(|| err("ERR_OUT_OF_RANGE", format!("tableId must be 0 to 252 (ingress verdicts go to tableId + 1), got {table_id}")))?;
            let out = self.core.flows(&bridges, table_id).map_err(sg_error)?;
            out.into_iter()
                .map(|b| {
                    Ok(NativeSecurityGroupFlows {
                        flows: encode_flow_mods(&b.flows).map_err(from_encode)?.into(),
                        bridge: b.bridge,
                        cookie: BigInt::from(b.cookie),
                    })
                })
                .collect()
        })
    }
}
