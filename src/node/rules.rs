//! Traffic-rule bindings: rule validation, the cookie namespace, the service list,
//! and `NativeFlowTable` (the desired flows of one bridge and their
//! reconciliation). Rules and endpoints cross as JSON text, FLOW_MODs and stats
//! replies as encoded OpenFlow messages (the channel sends and receives them).

use std::collections::HashMap;

use napi::bindgen_prelude::{BigInt, BigUint64Array, Buffer, Either, Uint32Array};
use napi_derive::napi;
use serde_json::Value;

use super::errors::{err, from_decode, from_encode, guard, JsError};
use crate::openflow::stats::StatsReplyBody;
use crate::openflow::Message;
use super::rule_list::NativeRuleList;
use crate::control::entries::{compile_entries, compile_listed};
use crate::control::RuleList;
use crate::rules::table::{dump_all_request, dump_request, encode_flow_mods, Tables};
use crate::rules::{cookie, flow_count, parse_endpoints, rule_from_json, service, FlowTable, Json, Rule, RuleError};

pub(super) fn rule_error(e: RuleError) -> JsError {
    err(e.code, e.message)
}

fn parse_json<'a, T: serde::Deserialize<'a>>(text: &'a str, what: &str) -> Result<T, JsError> {
    serde_json::from_str(text).map_err(|e| err("ERR_INVALID_ARG_VALUE", format!("{what} is not valid JSON: {e}")))
}

pub(super) fn rule_of(text: &str) -> Result<Rule, JsError> {
    rule_from_json(&parse_json::<Json<'_>>(text, "rule")?).map_err(rule_error)
}

/// A checked rule's normalized JSON (what `validateRule` answers).
pub(super) fn normalized_text(rule: &Rule) -> Result<String, JsError> {
    let mut text = Vec::with_capacity(200);
    rule.write_json(&mut text).map_err(|e| err("ERR_INVALID_ARG_VALUE", e.to_string()))?;
    // serde_json writes UTF-8 only.
    String::from_utf8(text).map_err(|e| err("ERR_INVALID_ARG_VALUE", e.to_string()))
}

fn endpoints_of(text: &str) -> Result<Vec<crate::rules::Endpoint>, JsError> {
    parse_endpoints(&parse_json::<Value>(text, "endpoints")?).map_err(rule_error)
}

/// An unsigned 64-bit BigInt.
fn u64_of(b: &BigInt, what: &str) -> Result<u64, JsError> {
    match b.words.split_first() {
        Some((low, high)) if !b.sign_bit && high.iter().all(|w| *w == 0) => Ok(*low),
        _ => Err(err("ERR_OUT_OF_RANGE", format!("{what} must be an unsigned 64-bit BigInt"))),
    }
}

/// Checks a rule and returns its normalized JSON. Throws `ERR_INVALID_ARG_TYPE`,
/// `ERR_INVALID_ARG_VALUE` or `ERR_OUT_OF_RANGE` with a message naming the field.
#[napi]
pub fn validate_rule(json: String) -> Result<String, JsError> {
    guard(|| normalized_text(&rule_of(&json)?))
}

/// `NAMESPACE | generation << 40 | ruleNumber` (ruleNumber 1..2^40-1, generation 0..255).
#[napi]
pub fn rule_cookie(rule_number: Either<BigInt, f64>, generation: u32) -> Result<BigInt, JsError> {
    guard(|| {
        let n = match &rule_number {
            Either::A(b) => u64_of(b, "ruleNumber")?,
            Either::B(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= 9_007_199_254_740_991.0 => *f as u64,
            Either::B(f) => return Err(err("ERR_INVALID_ARG_TYPE", format!("ruleNumber must be an integer, got {f}"))),
        };
        let g = u8::try_from(generation)
            .map_err(|_| err("ERR_OUT_OF_RANGE", format!("generation must be 0 to 255, got {generation}")))?;
        cookie::rule_cookie(n, g).map(BigInt::from).ok_or_else(|| {
            err("ERR_OUT_OF_RANGE", format!("ruleNumber must be 1 to {}, got {n}", cookie::MAX_RULE_NUMBER))
        })
    })
}

/// The parts of one of our cookies.
#[napi(object)]
pub struct NativeCookieParts {
    pub rule_number: i64,
    pub generation: u32,
}

/// `{ ruleNumber, generation }` of one of our cookies, `null` for anyone else's.
#[napi]
pub fn parse_cookie(cookie: BigInt) -> Result<Option<NativeCookieParts>, JsError> {
    guard(|| {
        let Ok(c) = u64_of(&cookie, "cookie") else { return Ok(None) };
        Ok(cookie::parse(c).map(|(n, g)| NativeCookieParts { rule_number: n as i64, generation: u32::from(g) }))
    })
}

/// The namespace constants.
#[napi(object)]
pub struct NativeCookieNamespace {
    /// The tag: a dump with `cookie: value, cookieMask: mask` returns only our flows.
    pub value: BigInt,
    pub mask: BigInt,
    /// Selects one rule across generations.
    pub rule_mask: BigInt,
}

#[napi]
pub fn cookie_namespace() -> NativeCookieNamespace {
    NativeCookieNamespace {
        value: BigInt::from(cookie::NAMESPACE),
        mask: BigInt::from(cookie::NAMESPACE_MASK),
        rule_mask: BigInt::from(cookie::RULE_MASK),
    }
}

/// JSON `[{ name, clauses: [{ protocol, port }] }]`.
#[napi]
pub fn list_services() -> String {
    service::services_json().to_string()
}

/// FLOW_MODs to send: back-to-back encoded messages (xid 0) and their count.
#[napi(object)]
pub struct NativeFlowDelta {
    pub add: Buffer,
    pub delete: Buffer,
    pub add_count: u32,
    pub delete_count: u32,
    /// For `putMany`: the ADDs of each cookie, the cookies in the order they first
    /// appear in the entries (what a caller needs to count each rule's flows
    /// without reading the buffer back). Empty for the other calls.
    pub add_counts: Vec<u32>,
}

/// One cookie's flows on the switch.
#[napi(object)]
pub struct NativeRuleReport {
    pub cookie: BigInt,
    pub expected: u32,
    pub present: u32,
    pub missing: u32,
    pub packets: BigInt,
    pub bytes: BigInt,
}

/// Flows of our namespace the switch has but nobody wants.
#[napi(object)]
pub struct NativeExtraFlows {
    pub cookie: BigInt,
    pub count: u32,
}

/// Result of `reconcile`: send `delete` first, then `add`.
#[napi(object)]
pub struct NativeReconcile {
    pub add: Buffer,
    pub delete: Buffer,
    pub add_count: u32,
    pub delete_count: u32,
    pub rules: Vec<NativeRuleReport>,
    pub extra: Vec<NativeExtraFlows>,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn delta(add: &[crate::openflow::FlowMod], delete: &[crate::openflow::FlowMod]) -> Result<NativeFlowDelta, JsError> {
    Ok(NativeFlowDelta {
        add: encode_flow_mods(add).map_err(from_encode)?.into(),
        delete: encode_flow_mods(delete).map_err(from_encode)?.into(),
        add_count: count(add.len()),
        delete_count: count(delete.len()),
        add_counts: Vec::new(),
    })
}

/// The desired flows of one bridge, per rule cookie.
#[napi]
pub struct NativeFlowTable {
    table: FlowTable,
}

#[napi]
impl NativeFlowTable {
    /// `tableId` 0..253 (254 is OVS's hidden table, 255 means "all").
    /// Flows in `tableId` and the `tableCount - 1` tables after it (default 1: a
    /// pipeline of stages keeps all its flows in one table object).
    #[napi(constructor)]
    pub fn new(table_id: u32, table_count: Option<u32>) -> Result<Self, JsError> {
        guard(|| {
            let t = u8::try_from(table_id)
                .ok()
                .filter(|t| *t < 254)
                .ok_or_else(|| err("ERR_OUT_OF_RANGE", format!("tableId must be 0 to 253, got {table_id}")))?;
            let count = table_count.unwrap_or(1);
            let tables = u8::try_from(count).ok().and_then(|n| Tables::new(t, n)).ok_or_else(|| {
                err("ERR_OUT_OF_RANGE", format!("tableCount must be 1 to {}, got {count}", 254 - u32::from(t)))
            })?;
            Ok(NativeFlowTable { table: FlowTable::spanning(tables) })
        })
    }

    /// Makes many cookies' flows the desired state in one call (one JSON parse, one pair of buffers).
    /// Entries are `{ cookie: "0x…", priority, rule, endpoints }` (a rule to
    /// compile) or `{ cookie: "0x…", flows: "<hex>" }` (FLOW_MOD ADDs encoded back
    /// to back, e.g. NAT rewrites no rule compiles to). All the entries of one
    /// cookie are united and become its whole desired set: an entry left out of the
    /// call is dropped from its cookie. All entries are checked before the table
    /// changes, so a bad one leaves it as it was.
    #[napi]
    pub fn put_many(&mut self, entries_json: String) -> Result<NativeFlowDelta, JsError> {
        guard(|| self.put_entries(&entries_json, None))
    }

    /// `putMany` where an entry may name a rule of `list` instead of carrying it:
    /// `{ cookie, priority, id, endpoints }`. The rule is read from the list, not
    /// sent, parsed and checked again; `cookie` must be its current cookie (an
    /// entry computed before the rule changed is refused, `ERR_INVALID_ARG_VALUE`).
    #[napi]
    pub fn put_many_from(&mut self, list: &NativeRuleList, entries_json: String) -> Result<NativeFlowDelta, JsError> {
        guard(|| self.put_entries(&entries_json, Some(list.list())))
    }

    /// `putManyFrom` of rules of `list` with nothing per rule in JSON nor in strings
    /// (the bulk path: 10,000 rules of an `addRules`): the rule whose current cookie
    /// is `cookies[i]`, on the endpoints `endpointSets[endpointOf[i]]` (JSON arrays,
    /// each read once), at the priority the list gives it. `addCounts` as in
    /// `putManyFrom`.
    #[napi]
    pub fn put_listed(
        &mut self,
        list: &NativeRuleList,
        cookies: BigUint64Array,
        endpoint_sets: Vec<String>,
        endpoint_of: Uint32Array,
    ) -> Result<NativeFlowDelta, JsError> {
        guard(|| {
            let table_id = self.table.tables().first();
            let compiled = compile_listed(list.list(), &cookies, &endpoint_sets, &endpoint_of, table_id)
                .map_err(rule_error)?;
            self.put_compiled(compiled)
        })
    }

    /// Forgets `cookie`; the DELETEs that remove its flows (one per table the
    /// table owns, back to back), or `null` if unknown.
    #[napi]
    pub fn remove(&mut self, cookie: BigInt) -> Result<Option<Buffer>, JsError> {
        guard(|| {
            let c = u64_of(&cookie, "cookie")?;
            match self.table.remove(c) {
                deletes if deletes.is_empty() => Ok(None),
                deletes => Ok(Some(encode_flow_mods(&deletes).map_err(from_encode)?.into())),
            }
        })
    }

    /// The number of flows `put` would make (for budgets), without keeping them.
    #[napi]
    pub fn flow_count(&self, rule_json: String, endpoints_json: String) -> Result<u32, JsError> {
        guard(|| Ok(count(flow_count(&rule_of(&rule_json)?, &endpoints_of(&endpoints_json)?))))
    }

    /// Desired flows.
    #[napi]
    pub fn len(&self) -> u32 {
        count(self.table.len())
    }

    /// Forgets everything (the switch is not touched).
    #[napi]
    pub fn clear(&mut self) {
        self.table.clear();
    }

    /// The FLOW stats request for our flows in this table (xid 0).
    #[napi]
    pub fn dump_request(&self) -> Result<Buffer, JsError> {
        guard(|| Ok(dump_request(self.table.tables()).to_bytes().map_err(from_encode)?.into()))
    }

    /// Compares the desired flows with the switch's, given the STATS_REPLY parts of
    /// the `dumpRequest()` answer.
    #[napi]
    pub fn reconcile(&self, parts: Vec<Buffer>) -> Result<NativeReconcile, JsError> {
        guard(|| report(&self.table.reconcile(&dumped_flows(&parts)?)))
    }

    /// The FLOW stats request for every flow in this table, ours and others' (xid 0).
    #[napi]
    pub fn dump_all_request(&self) -> Result<Buffer, JsError> {
        guard(|| Ok(dump_all_request(self.table.tables()).to_bytes().map_err(from_encode)?.into()))
    }

    /// `reconcile` of the `dumpAllRequest()` answer, which also records the flows of
    /// others: one dump serves both (see `withoutForeign`). With `withReports` false,
    /// `rules` is left empty: a sync needs the counts and the FLOW_MODs, and 10,000
    /// reports took longer to become JS objects (about 25 ms) than the rest of it.
    #[napi]
    pub fn reconcile_all(&mut self, parts: Vec<Buffer>, with_reports: Option<bool>) -> Result<NativeReconcile, JsError> {
        guard(|| {
            let dumped = dumped_flows(&parts)?;
            self.table.set_foreign(&dumped);
            let mut r = self.table.reconcile(&dumped);
            if with_reports == Some(false) {
                r.per_cookie.clear();
            }
            report(&r)
        })
    }

    /// The priorities the flows of others use (as of the last `reconcileAll`).
    #[napi]
    pub fn foreign_priorities(&self) -> Vec<u32> {
        self.table.foreign_priorities().map(u32::from).collect()
    }

    /// `bytes` (messages back to back) without the FLOW_MOD ADDs that would replace a
    /// flow of others (same table, priority and match): `null` when there is none,
    /// else what to send and the refused flows as ovs-ofctl text (`priority=…,<match>`).
    #[napi]
    pub fn without_foreign(&self, bytes: Buffer) -> Result<Option<NativeForeignFilter>, JsError> {
        guard(|| {
            let priorities: std::collections::HashSet<u16> = self.table.foreign_priorities().collect();
            let mut kept = Vec::new();
            let mut refused = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let len = bytes.get(at + 2..at + 4).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                if len < 8 || at + len > bytes.len() {
                    return Err(err("ERR_INVALID_ARG_VALUE", format!("bytes: a message at offset {at} has a bad length")));
                }
                let one = &bytes[at..at + len];
                at += len;
                // OF1.1 FLOW_MOD (type 14): command at byte 25, priority at 30 (§A.3.4.1);
                // only an ADD at a priority of theirs is worth decoding.
                let candidate = one[1] == 14 && len > 31 && one[25] == 0 && priorities.contains(&u16::from_be_bytes([one[30], one[31]]));
                if candidate {
                    if let Ok(Message::FlowMod(fm)) = Message::decode(one) {
                        if self.table.is_foreign(&fm) {
                            refused.push(flow_key_text(&fm));
                            continue;
                        }
                    }
                }
                kept.extend_from_slice(one);
            }
            Ok((!refused.is_empty()).then(|| NativeForeignFilter { kept: kept.into(), refused }))
        })
    }
}

impl NativeFlowTable {
    fn put_entries(&mut self, entries_json: &str, list: Option<&RuleList>) -> Result<NativeFlowDelta, JsError> {
        let compiled = compile_entries(entries_json, self.table.tables(), list).map_err(rule_error)?;
        self.put_compiled(compiled)
    }

    /// Makes `compiled` the desired flows of its cookies; `add_counts` per cookie in
    /// the order they first appear.
    fn put_compiled(&mut self, compiled: Vec<(u64, Vec<crate::openflow::FlowMod>)>) -> Result<NativeFlowDelta, JsError> {
        let mut order: Vec<u64> = Vec::with_capacity(compiled.len());
        let mut added: HashMap<u64, u32> = HashMap::with_capacity(compiled.len());
        for (cookie, _) in &compiled {
            if added.insert(*cookie, 0).is_none() {
                order.push(*cookie);
            }
        }
        let d = self.table.put_all(compiled);
        for fm in &d.add {
            *added.entry(fm.cookie).or_default() += 1;
        }
        let mut out = delta(&d.add, &d.delete)?;
        out.add_counts = order.iter().map(|c| added[c]).collect();
        Ok(out)
    }
}

/// What `withoutForeign` keeps and refuses.
#[napi(object)]
pub struct NativeForeignFilter {
    pub kept: Buffer,
    pub refused: Vec<String>,
}

/// A flow's identity as ovs-ofctl writes it: `priority=…,<match>` (a masked port
/// printed from the OXM match, as `dump-flows` prints it).
fn flow_key_text(fm: &crate::openflow::FlowMod) -> String {
    let bare = crate::openflow::FlowMod {
        priority: fm.priority,
        flow_match: fm.flow_match.clone(),
        ..crate::openflow::FlowMod::default()
    };
    let text = crate::openflow::text::format_flow_mod(&bare);
    text.split(" actions=").next().unwrap_or_default().trim().to_owned()
}

/// The flow stats of a dump's STATS_REPLY parts.
fn dumped_flows(parts: &[Buffer]) -> Result<Vec<crate::openflow::stats::FlowStats>, JsError> {
    let mut dumped = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let m = Message::decode(part).map_err(|e| {
            let mut js = from_decode(e);
            js.reason = format!("parts[{i}]: {}", js.reason);
            js
        })?;
        match m {
            Message::StatsReply(r) => match r.body {
                StatsReplyBody::Flow { flows } => dumped.extend(flows),
                _ => return Err(not_flow_stats(i, "a stats reply of another kind")),
            },
            other => return Err(not_flow_stats(i, other.header_type().1.name().unwrap_or("an unknown message"))),
        }
    }
    Ok(dumped)
}

fn report(r: &crate::rules::table::Reconcile) -> Result<NativeReconcile, JsError> {
    let d = delta(&r.add, &r.delete)?;
    Ok(NativeReconcile {
        add: d.add,
        delete: d.delete,
        add_count: d.add_count,
        delete_count: d.delete_count,
        rules: r
            .per_cookie
            .iter()
            .map(|c| NativeRuleReport {
                cookie: BigInt::from(c.cookie),
                expected: count(c.expected),
                present: count(c.present),
                missing: count(c.missing),
                packets: BigInt::from(c.packets),
                bytes: BigInt::from(c.bytes),
            })
            .collect(),
        extra: r.extra.iter().map(|(c, n)| NativeExtraFlows { cookie: BigInt::from(*c), count: count(*n) }).collect(),
    })
}

fn not_flow_stats(i: usize, what: &str) -> JsError {
    err("ERR_INVALID_ARG_VALUE", format!("parts[{i}] must be a flow stats reply, got {what}"))
}

/// One priority band, `min..=max`.
#[napi(object)]
pub struct NativeBand {
    pub min: u32,
    pub max: u32,
}

/// The one band table of table 0 (`control::bands`): the JS modules take their
/// priorities from here, so the bands cannot drift apart or overlap.
#[napi(object)]
pub struct NativeBands {
    /// The ordered traffic rules (default).
    pub rules: NativeBand,
    /// XO's bands, for `priorities: 'xo'`.
    pub xo: NativeBand,
    /// XAPI's VIF-locking flows (not ours: every band of ours stays above).
    pub xapi_vif_locking: NativeBand,
    pub elastic_ips: NativeBand,
    pub security_group_permissions: NativeBand,
    pub security_group_basics: NativeBand,
    pub security_group_deny: NativeBand,
    /// Delivered to a VIF in a group: on to its ingress verdict (the next table).
    pub security_group_ingress: NativeBand,
}

#[napi]
pub fn priority_bands() -> NativeBands {
    use crate::control::PriorityBand as B;
    let band = |b: B| NativeBand { min: b.min().into(), max: b.max().into() };
    NativeBands {
        rules: band(B::RULES_DEFAULT),
        xo: band(B::XO),
        xapi_vif_locking: band(B::XAPI_VIF_LOCKING),
        elastic_ips: band(B::ELASTIC_IPS),
        security_group_permissions: band(B::SECURITY_GROUP_PERMISSIONS),
        security_group_basics: band(B::SECURITY_GROUP_BASICS),
        security_group_deny: band(B::SECURITY_GROUP_DENY),
        security_group_ingress: band(B::SECURITY_GROUP_INGRESS),
    }
}
