//! `NativeRuleList`: the controller's ordered rule list (`control::RuleList`) for
//! `js/sdn-controller.js`. The list decides ids, rule numbers, generations and
//! priorities; the JS controller keeps a mirror of what it decided (in the same
//! order) for its I/O, and never computes a priority or a generation itself.
//!
//! Every mutating call answers with a [`NativePlacement`]: the rules whose
//! priority, generation or cookie it set, from index `start` in list order.

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, BigInt, BigUint64Array, Either, Float64Array, Uint32Array};
use napi::{Env, Task};
use napi_derive::napi;
use serde_json::Value;

use super::convert::JsonText;
use super::errors::{err, guard, JsError};
use super::rules::{normalized_text, rule_error, rule_of};
use crate::control::list::SavedRule;
use crate::control::{random_rule_ids, EngineError, Placement, PriorityBand, RuleId, RuleList, RuleState};
use crate::openflow::types::hex_encode_into;
use crate::rules::{parse_rule, parse_rules_then, Rule, Target};

fn engine_error(e: EngineError) -> JsError {
    err(e.code(), e)
}


fn u8_of(n: u32, what: &str) -> Result<u8, JsError> {
    u8::try_from(n).map_err(|_| err("ERR_OUT_OF_RANGE", format!("{what} must be 0 to 255, got {n}")))
}

/// Rules checked in one call (`validateRules`), for `NativeRuleList.appendMany`:
/// parsed once, never again. A rule given without an `id` gets a new one here, so
/// the ids never cross the boundary a second time.
#[napi]
pub struct NativeRuleBatch {
    rules: Option<Vec<(RuleId, Rule)>>,
    /// The rules as appended (shared with the list), for `json`.
    appended: Vec<Arc<Rule>>,
    ids: Vec<String>,
    targets: String,
    target_of: Vec<u32>,
}

#[napi]
impl NativeRuleBatch {
    /// The normalized rules without their ids, a JSON array in the order given:
    /// the controller keeps a rule's id beside its fields, never among them.
    ///
    /// Written when asked (the controller reads it only if it needs a rule's fields
    /// it has no other way to read), as the rules were given, whatever the list
    /// did with them since.
    #[napi(getter)]
    pub fn json(&self) -> Result<String, JsError> {
        guard(|| {
            let rules: Vec<&Rule> = match &self.rules {
                Some(rules) => rules.iter().map(|(_, r)| r).collect(),
                None => self.appended.iter().map(|r| &**r).collect(),
            };
            let mut text = Vec::with_capacity(200 * rules.len() + 2);
            text.push(b'[');
            for (i, rule) in rules.into_iter().enumerate() {
                if i > 0 {
                    text.push(b',');
                }
                rule.write_json_without_id(&mut text).map_err(|e| err("ERR_INVALID_ARG_VALUE", e.to_string()))?;
            }
            text.push(b']');
            // serde_json writes UTF-8 only.
            String::from_utf8(text).map_err(|e| err("ERR_INVALID_ARG_VALUE", e.to_string()))
        })
    }

    /// Each rule's id (the one given, or the one drawn here), in the order given.
    #[napi(getter)]
    pub fn ids(&self) -> Vec<String> {
        self.ids.clone()
    }

    /// The distinct targets of the rules (`{ vif }`, `{ vm }`, `{ network }` or
    /// `{ pool }` as in `json`), a JSON array: where 10,000 rules land is resolved
    /// from these, before their whole text is read.
    #[napi(getter)]
    pub fn targets(&self) -> String {
        self.targets.clone()
    }

    /// Each rule's target, as an index in `targets`.
    #[napi(getter)]
    pub fn target_of(&self) -> Uint32Array {
        Uint32Array::new(self.target_of.clone())
    }
}

/// Checks rules (a JSON array) in one call; an error names the index
/// (`rules[3]: rule.port must be ...`).
#[napi]
pub fn validate_rules(json: String) -> Result<NativeRuleBatch, JsError> {
    guard(|| {
        // An id given with a rule is numbered on the threads that check a large batch.
        let checked = parse_rules_then(&json, |mut rule| {
            let given = rule.id.take().map(RuleId::new);
            (rule, given)
        })
        .map_err(rule_error)?;
        let mut drawn = RuleId::many(random_rule_ids(checked.iter().filter(|(_, given)| given.is_none()).count())).into_iter();
        let mut with_ids = Vec::with_capacity(checked.len());
        // Rules share their targets (100 VIFs for 10,000 rules): each distinct one is written once.
        let mut targets: Vec<u8> = vec![b'['];
        let mut target_index: HashMap<Target, u32> = HashMap::new();
        let mut target_of = Vec::with_capacity(checked.len());
        for (mut rule, given) in checked {
            let index = match target_index.get(&rule.target) {
                Some(&index) => index,
                None => {
                    let index = target_index.len() as u32;
                    if index > 0 {
                        targets.push(b',');
                    }
                    rule.write_target_json(&mut targets).map_err(|e| err("ERR_INVALID_ARG_VALUE", e.to_string()))?;
                    target_index.insert(rule.target.clone(), index);
                    index
                }
            };
            target_of.push(index);
            let id = given.or_else(|| drawn.next()).ok_or_else(|| err("ERR_NATIVE", "a rule was left without an id"))?;
            rule.id = Some(id.as_str().to_owned());
            with_ids.push((id, rule));
        }
        targets.push(b']');
        // serde_json writes UTF-8 only.
        let targets = String::from_utf8(targets).map_err(|e| err("ERR_INVALID_ARG_VALUE", e.to_string()))?;
        let ids = with_ids.iter().map(|(id, _)| id.as_str().to_owned()).collect();
        Ok(NativeRuleBatch { rules: Some(with_ids), appended: Vec::new(), ids, targets, target_of })
    })
}

const USED_BATCH: &str = "this batch of rules was appended already";

/// The views of `rules` as one JSON array (see `viewsJson`).
fn write_views(rules: &[RuleState]) -> Result<String, JsError> {
    let failed = |e: serde_json::Error| err("ERR_INVALID_ARG_VALUE", e.to_string());
    let mut out = Vec::with_capacity(240 * rules.len() + 2);
    out.push(b'[');
    let mut rule = Vec::with_capacity(240);
    for (i, r) in rules.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        serde_json::to_writer(&mut out, r.id()).map_err(failed)?;
        rule.clear();
        r.rule().write_json(&mut rule).map_err(failed)?;
        // The rule's fields, between its braces (a rule always has some).
        if let Some(fields) = rule.strip_prefix(b"{").and_then(|f| f.strip_suffix(b"}")).filter(|f| !f.is_empty()) {
            out.push(b',');
            out.extend_from_slice(fields);
        }
        out.extend_from_slice(b",\"priority\":");
        push_decimal(&mut out, u64::from(r.priority()));
        out.extend_from_slice(b",\"cookie\":\"0x");
        hex_encode_into(&r.cookie().to_be_bytes(), &mut out);
        out.push(b'"');
        if let Some(host) = r.host() {
            out.extend_from_slice(b",\"host\":");
            serde_json::to_writer(&mut out, host).map_err(failed)?;
        }
        out.push(b'}');
    }
    out.push(b']');
    // serde_json writes UTF-8 only.
    String::from_utf8(out).map_err(|e| err("ERR_INVALID_ARG_VALUE", e.to_string()))
}

/// Rules copied from a list (`viewsCopy`), for their views to be written on a
/// thread of libuv's pool: the controller asks for the views of a batch as soon
/// as it is placed, and reads them once the switches are sent their flows.
#[napi]
pub struct NativeViewsCopy {
    rules: Vec<RuleState>,
}

#[napi]
impl NativeViewsCopy {
    /// `viewsJson` of the copied rules, written off the JS thread (once: the copy
    /// is handed to the work). Rejects only on an internal error; a caller then
    /// asks `viewsJson`, which names it with its code.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn json(&mut self) -> AsyncTask<ViewsLater> {
        AsyncTask::new(ViewsLater { rules: std::mem::take(&mut self.rules) })
    }
}

/// `NativeViewsCopy.json`'s work.
pub struct ViewsLater {
    rules: Vec<RuleState>,
}

impl Task for ViewsLater {
    type Output = String;
    type JsValue = JsonText;

    fn compute(&mut self) -> napi::Result<String> {
        // A panic must not unwind into libuv; a failure rejects, and the caller asks
        // viewsJson instead, whose error has its code.
        guard(|| write_views(&self.rules)).map_err(|e| napi::Error::new(napi::Status::GenericFailure, e.reason))
    }

    fn resolve(&mut self, _: Env, text: String) -> napi::Result<JsonText> {
        Ok(JsonText(text))
    }
}

/// Writes `n` in decimal, without `core::fmt`.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// What a command set, for the rules `start..start + priorities.length`.
#[napi(object)]
pub struct NativePlacement {
    /// Index of the first rule described.
    pub start: u32,
    /// The whole list was spread again: every rule has a new priority and generation.
    pub respread: bool,
    // Arrays for a few rules, typed arrays for many (see `placement`).
    pub priorities: Either<Vec<u32>, Uint32Array>,
    pub generations: Either<Vec<u32>, Uint32Array>,
    /// Rule numbers (40 bits: exact as JS numbers).
    pub numbers: Either<Vec<f64>, Float64Array>,
    pub cookies: Either<Vec<BigInt>, BigUint64Array>,
}

/// From how many rules a placement crosses as typed arrays: one copy each, where an
/// Array of 10,000 takes 10,000 element stores (and as many BigInts), but four
/// ArrayBuffers cost more than the Arrays of a single insert or update.
const TYPED_FROM: usize = 64;

/// `few()` (Arrays) for fewer than [`TYPED_FROM`] rules, `many()` (typed arrays) from there.
fn sized<A, B>(n: usize, few: impl FnOnce() -> A, many: impl FnOnce() -> B) -> Either<A, B> {
    if n < TYPED_FROM {
        Either::A(few())
    } else {
        Either::B(many())
    }
}

/// The rules `range` describe, or all of them after a respread.
fn placement(rules: &[RuleState], range: std::ops::Range<usize>, respread: bool) -> NativePlacement {
    let (start, rules) = if respread { (0, rules) } else { (range.start, &rules[range]) };
    let n = rules.len();
    let priorities = || rules.iter().map(|r| u32::from(r.priority()));
    let generations = || rules.iter().map(|r| u32::from(r.generation()));
    let numbers = || rules.iter().map(|r| r.number() as f64);
    NativePlacement {
        start: start as u32,
        respread,
        priorities: sized(n, || priorities().collect(), || Uint32Array::new(priorities().collect())),
        generations: sized(n, || generations().collect(), || Uint32Array::new(generations().collect())),
        numbers: sized(n, || numbers().collect(), || Float64Array::new(numbers().collect())),
        cookies: sized(
            n,
            || rules.iter().map(|r| BigInt::from(r.cookie())).collect(),
            || BigUint64Array::new(rules.iter().map(|r| r.cookie()).collect()),
        ),
    }
}

/// The ordered traffic rules of one controller, in one priority band.
#[napi]
pub struct NativeRuleList {
    list: RuleList,
    /// The last rule `validate` parsed, with the text it answered (see `take_rule`).
    staged: Option<(String, Rule)>,
}

impl NativeRuleList {
    /// The list itself, for the flow tables that compile its rules.
    pub(crate) fn list(&self) -> &RuleList {
        &self.list
    }

    /// The rules `start..start + count`.
    fn views_range(&self, start: u32, count: u32) -> Result<&[RuleState], JsError> {
        let rules = self.list.rules();
        let (start, end) = (start as usize, start as usize + count as usize);
        rules
            .get(start..end)
            .ok_or_else(|| err("ERR_OUT_OF_RANGE", format!("rules {start}..{end} are past the list's {}", rules.len())))
    }

    /// The rule of normalized text `text`: the one `validate` parsed when it answered
    /// this text (a command's next call, in the usual case), else read again.
    fn take_rule(&mut self, text: &str) -> Result<Rule, JsError> {
        match self.staged.take() {
            Some((staged, rule)) if staged == text => Ok(rule),
            _ => rule_of(text),
        }
    }
}

#[napi]
impl NativeRuleList {
    /// Rules take priorities in `min..=max` (above XAPI's VIF locking; `ERR_OUT_OF_RANGE` otherwise).
    #[napi(constructor)]
    pub fn new(min: u32, max: u32) -> Result<Self, JsError> {
        guard(|| {
            let p = |n: u32| {
                u16::try_from(n).map_err(|_| err("ERR_OUT_OF_RANGE", format!("priorities must be 1 to 65535, got {n}")))
            };
            let band = PriorityBand::for_rules(p(min)?, p(max)?).map_err(engine_error)?;
            Ok(NativeRuleList { list: RuleList::new(band), staged: None })
        })
    }

    #[napi(getter)]
    pub fn length(&self) -> u32 {
        self.list.len() as u32
    }

    /// `validateRule` (the normalized JSON of a checked rule), remembering the rule:
    /// an `insert` or `update` of the text it answers takes the rule as parsed here
    /// instead of parsing the text a second time.
    #[napi]
    pub fn validate(&mut self, json: String) -> Result<String, JsError> {
        guard(|| {
            let rule = rule_of(&json)?;
            let text = normalized_text(&rule)?;
            self.staged = Some((text.clone(), rule));
            Ok(text)
        })
    }

    /// Refuses (changing nothing) ids that could not be added now: invalid,
    /// existing, repeated, a number held by another owner, or no room in the band.
    #[napi]
    pub fn check_new(&self, ids: Vec<String>) -> Result<(), JsError> {
        guard(|| {
            let ids: Vec<RuleId> = ids.into_iter().map(RuleId::new).collect();
            self.list.check_new_ids(ids.iter()).map_err(engine_error)
        })
    }

    /// `checkNew` for the ids of `batch`, without sending them again.
    #[napi]
    pub fn check_batch(&self, batch: &NativeRuleBatch) -> Result<(), JsError> {
        guard(|| {
            let Some(rules) = &batch.rules else {
                return Err(err("ERR_INVALID_ARG_VALUE", USED_BATCH));
            };
            self.list.check_new_ids(rules.iter().map(|(id, _)| id)).map_err(engine_error)
        })
    }

    /// Inserts rule `id` (normalized JSON, as `validateRule` returns it) at
    /// `position` (default: last), restricted to `host` if given.
    #[napi]
    pub fn insert(
        &mut self,
        id: String,
        rule_json: String,
        position: Option<u32>,
        host: Option<String>,
    ) -> Result<NativePlacement, JsError> {
        guard(|| {
            let rule = self.take_rule(&rule_json)?;
            let index = position.map_or(self.list.len(), |p| p as usize);
            let placed = self.list.insert(&id, rule, position.map(|p| p as usize), host).map_err(engine_error)?;
            let respread = placed == Placement::Respread;
            Ok(placement(self.list.rules(), index..index + 1, respread))
        })
    }

    /// Appends the rules of `batch` in their order (with the ids it gave them), all
    /// or none. A batch is used once.
    #[napi]
    pub fn append_many(&mut self, batch: &mut NativeRuleBatch, host: Option<String>) -> Result<NativePlacement, JsError> {
        guard(|| {
            let Some(rules) = batch.rules.take() else {
                return Err(err("ERR_INVALID_ARG_VALUE", USED_BATCH));
            };
            let first = self.list.len();
            let placed = self.list.append_many(rules, host).map_err(engine_error)?;
            batch.appended = self.list.rules()[first..].iter().map(|r| Arc::clone(r.shared_rule())).collect();
            Ok(placement(self.list.rules(), first..self.list.len(), placed == Placement::Respread))
        })
    }

    /// Replaces rule `id` by `ruleJson`: same priority, next generation.
    #[napi]
    pub fn update(&mut self, id: String, rule_json: String) -> Result<NativePlacement, JsError> {
        guard(|| {
            let rule = self.take_rule(&rule_json)?;
            self.list.update(&id, rule).map_err(engine_error)?;
            let index = self.list.position(&id).unwrap_or_default();
            Ok(placement(self.list.rules(), index..index + 1, false))
        })
    }

    /// The rules `start..start + count` as the controller hands them out:
    /// `{ id, ...rule, priority, cookie: "0x" + 16 hex digits, host? }`, a JSON
    /// array, so that a batch of 10,000 becomes the caller's objects in one
    /// `JSON.parse` (nothing shared with the controller's own).
    #[napi(ts_return_type = "string")]
    pub fn views_json(&self, start: u32, count: u32) -> Result<JsonText, JsError> {
        guard(|| write_views(self.views_range(start, count)?).map(JsonText))
    }

    /// A copy of the rules `start..start + count` as they are now, whose views
    /// `NativeViewsCopy.json()` writes off the JS thread (the list itself stays
    /// free for any call meanwhile).
    #[napi]
    pub fn views_copy(&self, start: u32, count: u32) -> Result<NativeViewsCopy, JsError> {
        guard(|| Ok(NativeViewsCopy { rules: self.views_range(start, count)?.to_vec() }))
    }

    /// Removes rule `id` and frees its number.
    #[napi]
    pub fn remove(&mut self, id: String) -> Result<(), JsError> {
        guard(|| self.list.remove(&id).map(drop).map_err(engine_error))
    }

    /// Puts the rules in the order of `ids` (every id once) and spreads them again.
    #[napi]
    pub fn reorder(&mut self, ids: Vec<String>) -> Result<NativePlacement, JsError> {
        guard(|| {
            self.list.reorder(&ids).map_err(engine_error)?;
            Ok(placement(self.list.rules(), 0..0, true))
        })
    }

    /// Gives rule `id` a generation a switch holds (adoption); its new cookie.
    #[napi]
    pub fn set_generation(&mut self, id: String, generation: u32) -> Result<BigInt, JsError> {
        guard(|| {
            let g = u8_of(generation, "generation")?;
            Ok(BigInt::from(self.list.set_generation(&id, g).map_err(engine_error)?.cookie()))
        })
    }

    /// Who holds rule number `number` (`rule:<id>`, `provider:<key>`), or null.
    #[napi]
    pub fn holder(&self, number: f64) -> Option<String> {
        (number.fract() == 0.0 && number >= 0.0)
            .then(|| self.list.numbers().holder(number as u64).map(str::to_owned))
            .flatten()
    }

    /// Reserves the stable number of `owner` (a provider's key, not `rule:…`);
    /// refuses one held by another owner (`SDN_RULE_ID_COLLISION`). Returns it.
    #[napi]
    pub fn reserve_stable(&mut self, owner: String) -> Result<f64, JsError> {
        guard(|| {
            let number = crate::control::stable_number(&owner);
            self.list.reserve_number(&owner, number).map_err(engine_error)?;
            Ok(number as f64)
        })
    }

    /// Reserves `number` for `owner` (a provider's key, not `rule:…`).
    #[napi]
    pub fn reserve(&mut self, owner: String, number: f64) -> Result<(), JsError> {
        guard(|| {
            if number.fract() != 0.0 || number < 0.0 {
                return Err(err("ERR_INVALID_ARG_TYPE", format!("a rule number is an integer, got {number}")));
            }
            self.list.reserve_number(&owner, number as u64).map_err(engine_error)
        })
    }

    /// Replaces every rule by a saved state's (`[{ id, rule, number, generation,
    /// priority, host? }]` as JSON, in order), all or none; providers' numbers stay.
    /// The error names `state.rules[i]`. Describes every rule; `respread` when their
    /// priorities left a rule no free `P + 1` and the list was spread again.
    #[napi]
    pub fn restore(&mut self, rules_json: String) -> Result<NativePlacement, JsError> {
        guard(|| {
            let Value::Array(values) = serde_json::from_str(&rules_json)
                .map_err(|e| err("ERR_INVALID_ARG_VALUE", format!("state is not valid JSON: {e}")))?
            else {
                return Err(err("ERR_INVALID_ARG_TYPE", "state.rules must be an array"));
            };
            let mut saved = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                let at = |code: &'static str, what: String| err(code, format!("state.rules[{i}] {what}"));
                let field = |name: &str| v.get(name).and_then(Value::as_u64);
                let (Some(id), Some(number), Some(generation), Some(priority)) =
                    (v.get("id").and_then(Value::as_str), field("number"), field("generation"), field("priority"))
                else {
                    return Err(at("ERR_INVALID_ARG_VALUE", "is not a rule of exportState()".into()));
                };
                let rule = parse_rule(v.get("rule").unwrap_or(&Value::Null))
                    .map_err(|e| at(e.code, format!("is not a valid rule: {}", e.message)))?;
                let host = match v.get("host") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(h)) => Some(h.clone()),
                    Some(_) => return Err(at("ERR_INVALID_ARG_VALUE", "has a host that is not a host id".into())),
                };
                let generation = u8::try_from(generation)
                    .map_err(|_| at("ERR_INVALID_ARG_VALUE", "has no valid number/generation".into()))?;
                let priority = u16::try_from(priority)
                    .map_err(|_| at("ERR_OUT_OF_RANGE", "priority is outside the priority band".into()))?;
                saved.push(SavedRule { id: id.to_owned(), rule, number, generation, priority, host });
            }
            let placed = self.list.restore(saved).map_err(|(i, e)| {
                let code = match e {
                    EngineError::InvalidBand { .. } => "ERR_OUT_OF_RANGE",
                    EngineError::TooManyRules { .. } => e.code(),
                    _ => "ERR_INVALID_ARG_VALUE",
                };
                err(code, format!("state.rules[{i}]: {e}"))
            })?;
            // Every rule, and whether they were spread again (an old state: new priorities
            // and generations, so their flows are to be replaced).
            let n = self.list.len();
            Ok(placement(self.list.rules(), 0..n, placed == Placement::Respread))
        })
    }

    /// The ids in list order (for tests and read-back).
    #[napi]
    pub fn ids(&self) -> Vec<String> {
        self.list.rules().iter().map(|r| r.id().to_owned()).collect()
    }
}
