//! The entries of a flow table's desired state as the JS controller sends them
//! (`NativeFlowTable.putMany`): a JSON array, each entry one of
//! - `{ cookie, priority, rule, endpoints }`: a rule (normalized JSON) to compile;
//! - `{ cookie, priority, id, endpoints }`: rule `id` of the controller's
//!   [`RuleList`], compiled from what the list holds (not sent, parsed and checked
//!   again); `cookie` must be its current one;
//! - `{ cookie, flows }`: FLOW_MOD ADDs encoded back to back (what no rule compiles
//!   to, e.g. the rewrites of an elastic IP).
//!
//! Cookies are `"0x…"` hex strings of our namespace (`rules::cookie`). Every entry
//! is checked before anything is returned, so a bad one changes nothing.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::openflow::types::hex_decode;
use crate::openflow::FlowMod;
use crate::rules::compile::Endpoint;
use crate::rules::rule::{ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE};
use crate::rules::table::{decode_flow_mods, Tables};
use crate::rules::{compile, cookie, parse_endpoints, parse_rule, RuleError};

use super::list::RuleList;

fn refused(code: &'static str, message: String) -> RuleError {
    RuleError { code, field: String::new(), message }
}

/// An entry's fields, still as JSON text: each is read only by the branch that
/// needs it, and nothing is built for what is not read (10,000 entries of a bulk
/// add would otherwise be 10,000 maps).
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    cookie: Option<&'a RawValue>,
    #[serde(borrow)]
    priority: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    rule: Option<&'a RawValue>,
    #[serde(borrow)]
    endpoints: Option<&'a RawValue>,
    #[serde(borrow)]
    flows: Option<&'a RawValue>,
}

fn text_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()
}

fn value_of(raw: &RawValue) -> Result<Value, RuleError> {
    serde_json::from_str(raw.get()).map_err(|e| refused(ERR_INVALID_ARG_VALUE, e.to_string()))
}

/// Each entry's cookie and flows, in order (entries of one cookie are not united
/// here: `FlowTable::put_all` does it). `list` is where `id` entries are looked up;
/// without it they are refused.
pub fn compile_entries(
    json: &str,
    tables: impl Into<Tables>,
    list: Option<&RuleList>,
) -> Result<Vec<(u64, Vec<FlowMod>)>, RuleError> {
    let tables = tables.into();
    let table_id = tables.first();
    let elements: Vec<&RawValue> = serde_json::from_str(json)
        .map_err(|e| refused(ERR_INVALID_ARG_VALUE, format!("entries is not a JSON array: {e}")))?;
    // The rules of one VIF share one endpoint list: its text is read once.
    let mut endpoints_by_text: HashMap<&str, Vec<Endpoint>> = HashMap::new();
    let mut compiled = Vec::with_capacity(elements.len());
    for (i, raw) in elements.into_iter().enumerate() {
        let obj: Fields<'_> = match serde_json::from_str(raw.get()) {
            Ok(fields) => fields,
            Err(_) if !raw.get().starts_with('{') => {
                return Err(refused(ERR_INVALID_ARG_TYPE, format!("entries[{i}] must be an object")));
            }
            Err(e) => return Err(refused(ERR_INVALID_ARG_VALUE, format!("entries[{i}]: {e}"))),
        };
        let missing = |name: &str| refused(ERR_INVALID_ARG_TYPE, format!("entries[{i}].{name} is missing"));
        let c = obj
            .cookie
            .ok_or_else(|| missing("cookie"))?;
        let c = text_of(c)
            .and_then(|t| u64::from_str_radix(t.strip_prefix("0x")?, 16).ok())
            .filter(|c| cookie::parse(*c).is_some())
            .ok_or_else(|| {
                refused(ERR_INVALID_ARG_VALUE, format!("entries[{i}].cookie must be a rule cookie as \"0x…\" hex"))
            })?;
        if let Some(flows) = obj.flows {
            let others = [("priority", obj.priority), ("rule", obj.rule), ("id", obj.id), ("endpoints", obj.endpoints)];
            if let Some((k, _)) = others.into_iter().find(|(_, v)| v.is_some()) {
                let msg = format!("entries[{i}] has both flows and {k}: raw flows are an entry of their own");
                return Err(refused(ERR_INVALID_ARG_VALUE, msg));
            }
            let bytes = text_of(flows).as_deref().and_then(hex_decode).ok_or_else(|| {
                refused(ERR_INVALID_ARG_VALUE, format!("entries[{i}].flows must be a string of hex digits"))
            })?;
            let flows = decode_flow_mods(&bytes, c, tables)
                .map_err(|why| refused(ERR_INVALID_ARG_VALUE, format!("entries[{i}].{why}")))?;
            compiled.push((c, flows));
            continue;
        }
        let priority = serde_json::from_str::<u64>(obj.priority.ok_or_else(|| missing("priority"))?.get())
            .ok()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p >= 1)
            .ok_or_else(|| refused(ERR_OUT_OF_RANGE, format!("entries[{i}].priority must be 1 to 65535")))?;
        let endpoints_raw = obj.endpoints.ok_or_else(|| missing("endpoints"))?.get();
        if !endpoints_by_text.contains_key(endpoints_raw) {
            let parsed = parse_endpoints(&value_of(obj.endpoints.expect("checked above"))?)?;
            endpoints_by_text.insert(endpoints_raw, parsed);
        }
        let endpoints = &endpoints_by_text[endpoints_raw];
        let flows = match obj.id {
            Some(id) => {
                let state = text_of(id).and_then(|id| list?.get(&id)).ok_or_else(|| {
                    refused(ERR_INVALID_ARG_VALUE, format!("entries[{i}].id names no rule of the list"))
                })?;
                if state.cookie() != c {
                    let msg = format!("entries[{i}].cookie is not the current cookie of rule {}", state.id());
                    return Err(refused(ERR_INVALID_ARG_VALUE, msg));
                }
                compile(state.rule(), endpoints, priority, c, table_id)
            }
            None => compile(&parse_rule(&value_of(obj.rule.ok_or_else(|| missing("rule"))?)?)?, endpoints, priority, c, table_id),
        };
        compiled.push((c, flows));
    }
    Ok(compiled)
}

/// Rules of `list` named by their current cookies, each with an endpoint set,
/// compiled without any JSON per rule (`NativeFlowTable.putListed`, the bulk path
/// of `compile_entries`' `id` entries): `cookies[i]` must be the current cookie of
/// a rule (one computed before the rule changed is refused), which lands on the
/// endpoints `endpoint_sets[endpoint_of[i]]`, JSON arrays read once each. The
/// priority is the list's.
pub fn compile_listed(
    list: &RuleList,
    cookies: &[u64],
    endpoint_sets: &[String],
    endpoint_of: &[u32],
    table_id: u8,
) -> Result<Vec<(u64, Vec<FlowMod>)>, RuleError> {
    if endpoint_of.len() != cookies.len() {
        let msg = format!(
            "cookies and endpointOf must have one element per rule, got {} and {}",
            cookies.len(),
            endpoint_of.len()
        );
        return Err(refused(ERR_INVALID_ARG_VALUE, msg));
    }
    let sets = endpoint_sets
        .iter()
        .enumerate()
        .map(|(k, text)| {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| refused(ERR_INVALID_ARG_VALUE, format!("endpointSets[{k}] is not valid JSON: {e}")))?;
            parse_endpoints(&v)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut compiled = Vec::with_capacity(cookies.len());
    for (i, &cookie) in cookies.iter().enumerate() {
        let state = list.by_cookie(cookie).ok_or_else(|| {
            refused(ERR_INVALID_ARG_VALUE, format!("cookies[{i}] (0x{cookie:016x}) is the current cookie of no rule of the list"))
        })?;
        let endpoints = sets.get(endpoint_of[i] as usize).ok_or_else(|| {
            refused(ERR_OUT_OF_RANGE, format!("endpointOf[{i}] must be below {}", sets.len()))
        })?;
        compiled.push((cookie, compile(state.rule(), endpoints, state.priority(), cookie, table_id)));
    }
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::PriorityBand;
    use crate::rules::table::encode_flow_mods;
    use serde_json::json;

    const RULE: &str = r#"{"vif":{"uuid":"00000000-0000-0000-0000-000000000001","mac":"02:00:00:00:00:01"},"allow":false,"protocol":"tcp","port":22,"direction":"to"}"#;
    const ENDPOINTS: &str = r#"[{"ofport":1,"mac":"02:00:00:00:00:01","ips":[]}]"#;

    fn list() -> RuleList {
        let mut l = RuleList::new(PriorityBand::RULES_DEFAULT);
        l.insert("ssh", parse_rule(&serde_json::from_str(RULE).unwrap()).unwrap(), None, None).unwrap();
        l
    }

    /// The `putManyFrom` entry naming rule `ssh` of `l`, and its cookie and priority.
    fn ssh_by_id(l: &RuleList) -> (String, u64, u16) {
        let r = l.get("ssh").unwrap();
        let (c, p) = (r.cookie(), r.priority());
        (format!(r#"[{{"cookie":"0x{c:x}","priority":{p},"id":"ssh","endpoints":{ENDPOINTS}}}]"#), c, p)
    }

    #[test]
    fn a_rule_named_by_id_compiles_as_the_same_rule_sent_whole() {
        let l = list();
        let (by_id, c, p) = ssh_by_id(&l);
        let whole = format!(r#"[{{"cookie":"0x{c:x}","priority":{p},"rule":{RULE},"endpoints":{ENDPOINTS}}}]"#);
        let a = compile_entries(&by_id, 0, Some(&l)).unwrap();
        let b = compile_entries(&whole, 0, None).unwrap();
        assert_eq!(a, b);
        assert!(!a[0].1.is_empty());
        assert_eq!(encode_flow_mods(&a[0].1).unwrap(), encode_flow_mods(&b[0].1).unwrap());
    }

    #[test]
    fn listed_rules_compile_as_their_id_entries() {
        let l = list();
        let (by_id, c, _) = ssh_by_id(&l);
        let listed = compile_listed(&l, &[c], &[ENDPOINTS.into()], &[0], 0).unwrap();
        assert_eq!(listed, compile_entries(&by_id, 0, Some(&l)).unwrap());
        assert!(!listed[0].1.is_empty());
    }

    #[test]
    fn a_listed_rule_is_refused_for_an_old_cookie_an_unknown_one_or_a_missing_set() {
        let mut l = list();
        let old = l.get("ssh").unwrap().cookie();
        let sets = [ENDPOINTS.to_owned()];
        let unknown = crate::rules::cookie::rule_cookie(12345, 0).unwrap();
        for cookie in [unknown, 0x77, old ^ 1] {
            let e = compile_listed(&l, &[cookie], &sets, &[0], 0).unwrap_err();
            assert!(e.message.contains("cookies[0]") && e.message.contains("no rule"), "{e}");
        }
        let e = compile_listed(&l, &[old], &sets, &[1], 0).unwrap_err();
        assert_eq!(e.code, ERR_OUT_OF_RANGE, "{e}");
        let e = compile_listed(&l, &[old], &sets, &[], 0).unwrap_err();
        assert_eq!(e.code, ERR_INVALID_ARG_VALUE, "{e}");
        let e = compile_listed(&l, &[old], &["[{}]".into()], &[0], 0).unwrap_err();
        assert_eq!(e.code, ERR_INVALID_ARG_TYPE, "{e}");
        l.update("ssh", parse_rule(&serde_json::from_str(RULE).unwrap()).unwrap()).unwrap();
        let e = compile_listed(&l, &[old], &sets, &[0], 0).unwrap_err();
        assert!(e.message.contains("no rule"), "an old generation: {e}");
        assert!(compile_listed(&l, &[l.get("ssh").unwrap().cookie()], &sets, &[0], 0).is_ok());
    }

    #[test]
    fn an_id_entry_is_refused_without_the_list_for_another_rule_or_an_old_cookie() {
        let mut l = list();
        let old = l.get("ssh").unwrap().cookie();
        let entry = |id: &str, c: u64| format!(r#"[{{"cookie":"0x{c:x}","priority":100,"id":"{id}","endpoints":{ENDPOINTS}}}]"#);
        let message = |r: Result<_, RuleError>| r.unwrap_err().message;
        assert!(message(compile_entries(&entry("ssh", old), 0, None)).contains("names no rule"));
        assert!(message(compile_entries(&entry("nope", old), 0, Some(&l))).contains("names no rule"));
        l.update("ssh", parse_rule(&serde_json::from_str(RULE).unwrap()).unwrap()).unwrap();
        let e = compile_entries(&entry("ssh", old), 0, Some(&l)).unwrap_err();
        assert_eq!((e.code, e.message.contains("not the current cookie")), (ERR_INVALID_ARG_VALUE, true), "{e}");
        let raw = json!([{ "cookie": format!("0x{old:x}"), "flows": "00", "id": "ssh" }]).to_string();
        assert!(message(compile_entries(&raw, 0, Some(&l))).contains("has both flows and id"));
    }
}
