//! The ordered rule list: ids, numbers, generations and priorities.
//!
//! One list; the first rule has the highest priority, and the first rule that
//! matches a packet decides. Each rule owns two priorities of the band, its own
//! `P` and `P + 1` above it, where its exceptions go (a `deny ip` keeps IPv6
//! neighbour discovery there, see `rules::compile`); so two rules never tie
//! (OpenFlow leaves the winner of a tie undefined), and a rule's exceptions sit
//! between it and the rule above:
//!
//! * appending takes the last priority minus two (`max - 1` for the first rule),
//!   so a batch takes `last - 2 - 2i`;
//! * inserting takes the floor of the midpoint of the usable slots between its
//!   neighbours: from the priority below `+ 2` (`min` below the end) to the
//!   priority above `- 2` (`max - 1` above position 0), so both keep their `P + 1`;
//! * when there is no usable slot: the whole list is spread again,
//!   `step = max(2, min(16, floor(priorities / (n + 1))))`, rule `i` at
//!   `max - 1 - i * step` (its `P + 1` stays inside the band), and every rule gets a
//!   new generation (its flows move to new priorities, and the new ones must be
//!   installed before the old ones go);
//! * `reorder` spreads the list again the same way, and so does `restore` of a
//!   saved state whose priorities leave a rule no free `P + 1` (a state written
//!   when a rule took one priority: consecutive priorities).
//!
//! A band of `c` priorities holds `floor(c / 2)` rules. A rule's generation starts
//! at 0 and goes up by one (mod 256) on every update and every respread: its cookie
//! changes, so the flows of the previous form can be deleted by exact cookie once
//! the new ones are in.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::bands::PriorityBand;
use super::error::EngineError;
use super::numbers::{is_rule_owner, rule_owner, NumberRegistry, RuleId};
use crate::rules::cookie::rule_cookie;
use crate::rules::rule::{Rule, MAX_ID_CHARS};

/// One rule of the list and what the controller chose for it (read-only: only
/// the list makes and changes them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleState {
    id: String,
    // Shared with the batch it came in, which writes its rules' text only if asked.
    rule: Arc<Rule>,
    number: u64,
    generation: u8,
    priority: u16,
    host: Option<String>,
}

impl RuleState {
    /// The caller's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The validated rule (its own `id` field is always `None`: [`id`](Self::id) is the one).
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// [`rule`](Self::rule), shared: it stays what it is when the list replaces it.
    pub fn shared_rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    /// Its rule number, derived from the id ([`stable_number`](super::numbers::stable_number) of `rule:<id>`).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Its generation, the cookie's 8 bits above the number.
    pub fn generation(&self) -> u8 {
        self.generation
    }

    /// Its priority, unique in the list.
    pub fn priority(&self) -> u16 {
        self.priority
    }

    /// The one host it is restricted to, if any.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The cookie its flows carry now.
    pub fn cookie(&self) -> u64 {
        // Only the list makes a RuleState, with a number from `stable_number`
        // (40 bits, never 0), so it always fits.
        rule_cookie(self.number, self.generation).expect("rule numbers are 1..=2^40-1 by construction")
    }

    fn next_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }
}

/// A rule as a saved state holds it (`exportState()`): what it was given then.
#[derive(Clone, Debug)]
pub struct SavedRule {
    /// Its id.
    pub id: String,
    /// The rule.
    pub rule: Rule,
    /// Its rule number (what its flows' cookies carry).
    pub number: u64,
    /// Its generation.
    pub generation: u8,
    /// Its priority.
    pub priority: u16,
    /// The one host it is restricted to, if any.
    pub host: Option<String>,
}

/// How a new rule found its priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Between its neighbours (or after the last): no other rule changed.
    Slotted,
    /// No room: the whole list was spread again, every rule has a new priority and
    /// a new generation.
    Respread,
}

/// The ordered list of rules in one priority band.
#[derive(Clone, Debug)]
pub struct RuleList {
    band: PriorityBand,
    rules: Vec<RuleState>,
    /// Where each id is in `rules`: a lookup by id (every update, delete, reorder
    /// and compile of a rule) must not walk a list of 10,000.
    positions: HashMap<String, usize>,
    numbers: NumberRegistry,
}

/// Checks a rule id as the JS validator does, and that `rule.id` (if set) agrees.
fn check_id(id: &str, own: Option<&str>) -> Result<(), EngineError> {
    let chars = id.chars().count();
    if chars == 0 {
        return Err(EngineError::InvalidId { reason: "rule id must not be empty".into() });
    }
    if chars > MAX_ID_CHARS {
        return Err(EngineError::InvalidId {
            reason: format!("rule id must be at most {MAX_ID_CHARS} characters, got {chars}"),
        });
    }
    match own {
        Some(own) if own != id => Err(EngineError::InvalidId {
            reason: format!("rule.id {own:?} differs from the id it is added under, {id:?}"),
        }),
        _ => Ok(()),
    }
}

/// `rule` as the list stores it: without its own id.
fn stored(mut rule: Rule) -> Arc<Rule> {
    rule.id = None;
    Arc::new(rule)
}

impl RuleList {
    /// An empty list in `band`.
    pub fn new(band: PriorityBand) -> Self {
        RuleList { band, rules: Vec::new(), positions: HashMap::new(), numbers: NumberRegistry::default() }
    }

    /// The band.
    pub fn band(&self) -> PriorityBand {
        self.band
    }

    /// The rules, first = highest priority.
    pub fn rules(&self) -> &[RuleState] {
        &self.rules
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True without rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule with `id`.
    pub fn get(&self, id: &str) -> Option<&RuleState> {
        self.positions.get(id).map(|&i| &self.rules[i])
    }

    /// The rule whose current cookie is `cookie` (found by the number it carries).
    pub fn by_cookie(&self, cookie: u64) -> Option<&RuleState> {
        let (number, _) = crate::rules::cookie::parse(cookie)?;
        let id = self.numbers.holder(number)?.strip_prefix("rule:")?;
        self.get(id).filter(|state| state.cookie() == cookie)
    }

    fn index_of(&self, id: &str) -> Result<usize, EngineError> {
        self.positions.get(id).copied().ok_or_else(|| EngineError::RuleNotFound { id: id.to_owned() })
    }

    /// Records the positions of the rules from `start` on (after they moved).
    fn index_from(&mut self, start: usize) {
        for (i, r) in self.rules.iter().enumerate().skip(start) {
            match self.positions.get_mut(r.id.as_str()) {
                Some(p) => *p = i,
                None => {
                    self.positions.insert(r.id.clone(), i);
                }
            }
        }
    }

    /// Who holds which number.
    pub fn numbers(&self) -> &NumberRegistry {
        &self.numbers
    }

    /// Reserves a number for a provider (see [`NumberRegistry::reserve`]).
    pub fn reserve_number(&mut self, owner: &str, number: u64) -> Result<(), EngineError> {
        if owner.starts_with("rule:") {
            return Err(EngineError::InvalidId { reason: format!("{owner:?}: 'rule:' names a rule's own number") });
        }
        self.numbers.reserve(owner, number)
    }

    /// Refuses new rules `ids` when an id exists, repeats, or its number is held
    /// (by anyone, or by an earlier id of the same list).
    fn check_new<'a>(&self, ids: impl ExactSizeIterator<Item = &'a RuleId>) -> Result<(), EngineError> {
        let mut given = HashSet::with_capacity(ids.len());
        let mut taken: HashMap<u64, &str> = HashMap::with_capacity(ids.len()); // within this list
        for rule_id in ids {
            let (id, number) = (rule_id.as_str(), rule_id.number());
            // A rule holds its number under its own name: that is how it exists.
            let holder = self.numbers.holder(number);
            if holder.is_some_and(|h| is_rule_owner(h, id)) || !given.insert(id) {
                return Err(EngineError::RuleExists { id: id.to_owned() });
            }
            if let Some(holder) = holder {
                return Err(EngineError::RuleIdCollision { owner: rule_owner(id), number, holder: holder.to_owned() });
            }
            if let Some(earlier) = taken.insert(number, id) {
                return Err(EngineError::RuleIdCollision { owner: rule_owner(id), number, holder: rule_owner(earlier) });
            }
        }
        Ok(())
    }

    fn check_room(&self, wanted: usize) -> Result<(), EngineError> {
        if wanted > self.band.rule_capacity() {
            return Err(self.too_many(wanted));
        }
        Ok(())
    }

    fn too_many(&self, wanted: usize) -> EngineError {
        EngineError::TooManyRules {
            min: self.band.min(),
            max: self.band.max(),
            capacity: self.band.rule_capacity(),
            wanted,
        }
    }

    /// Inserts a rule at `position` (default: last, the lowest priority); refuses
    /// (changing nothing) an invalid or existing id, a number collision, a position
    /// past the end, or a full band.
    pub fn insert(
        &mut self,
        id: &str,
        rule: Rule,
        position: Option<usize>,
        host: Option<String>,
    ) -> Result<Placement, EngineError> {
        check_id(id, rule.id.as_deref())?;
        let n = self.rules.len();
        let index = position.unwrap_or(n);
        if index > n {
            return Err(EngineError::PositionOutOfRange { position: index, len: n });
        }
        let new = RuleId::from(id);
        self.check_new(std::iter::once(&new))?;
        let number = new.number();
        self.check_room(n + 1)?;

        let (min, max) = (i32::from(self.band.min()), i32::from(self.band.max()));
        // The usable slots: P + 1 below the rule above (below max + 1 at the top), and
        // above the P + 1 of the rule below (at least min at the end).
        let highest = (if index > 0 { i32::from(self.rules[index - 1].priority) } else { max + 1 }) - 2;
        let lowest = if index < n { i32::from(self.rules[index].priority) + 2 } else { min };
        let slot = (lowest <= highest).then(|| if index == n { highest } else { (lowest + highest).div_euclid(2) });
        self.numbers.take(rule_owner(id), number);
        self.rules.insert(
            index,
            RuleState {
                id: id.to_owned(),
                rule: stored(rule),
                number,
                generation: 0,
                // A slot lies inside the band, its P + 1 too; without one, the
                // respread below assigns it.
                priority: slot.map_or(0, |p| p as u16),
                host,
            },
        );
        self.index_from(index);
        match slot {
            Some(_) => Ok(Placement::Slotted),
            None => {
                self.respread();
                Ok(Placement::Respread)
            }
        }
    }

    /// Appends rules in the order given, all or none: each takes the priority
    /// two below the previous one; when the tail of the band has no room for all of
    /// them but the band does, the list is spread again.
    ///
    /// (js/sdn-controller.js `addRules` refuses `SDN_TOO_MANY_RULES` in that case,
    /// telling the caller to reorder; spreading is what a single add does, so the
    /// engine does it for a batch too.)
    pub fn append_many(&mut self, rules: Vec<(RuleId, Rule)>, host: Option<String>) -> Result<Placement, EngineError> {
        for (id, rule) in &rules {
            check_id(id.as_str(), rule.id.as_deref())?;
        }
        self.check_new(rules.iter().map(|(id, _)| id))?;
        let n = self.rules.len();
        self.check_room(n + rules.len())?;
        let last = self.rules.last().map_or(i32::from(self.band.max()) + 1, |r| i32::from(r.priority));
        let room = last - 2 * rules.len() as i32 >= i32::from(self.band.min());
        // Grown once for the batch, not rehashed as 10,000 entries arrive.
        self.numbers.make_room(rules.len());
        self.positions.reserve(rules.len());
        self.rules.reserve(rules.len());
        for (i, (id, rule)) in rules.into_iter().enumerate() {
            let number = id.number();
            let id = id.into_string();
            self.numbers.take(rule_owner(&id), number);
            let priority = if room { (last - 2 - 2 * i as i32) as u16 } else { 0 };
            self.positions.insert(id.clone(), self.rules.len());
            self.rules.push(RuleState { id, rule: stored(rule), number, generation: 0, priority, host: host.clone() });
        }
        if room {
            Ok(Placement::Slotted)
        } else {
            self.respread();
            Ok(Placement::Respread)
        }
    }

    /// Replaces the rule `id` (same priority, next generation); returns its state
    /// before the update.
    pub fn update(&mut self, id: &str, rule: Rule) -> Result<RuleState, EngineError> {
        let i = self.index_of(id)?;
        check_id(id, rule.id.as_deref())?;
        let entry = &mut self.rules[i];
        let before = entry.clone();
        entry.rule = stored(rule);
        entry.next_generation();
        Ok(before)
    }

    /// Removes the rule `id` and frees its number; returns it.
    pub fn remove(&mut self, id: &str) -> Result<RuleState, EngineError> {
        let i = self.index_of(id)?;
        let entry = self.rules.remove(i);
        self.positions.remove(entry.id.as_str());
        self.index_from(i);
        self.numbers.release(entry.number);
        Ok(entry)
    }

    /// Puts the rules in the order of `ids`, a permutation of every id, and
    /// spreads them again (every rule gets a new priority and generation).
    pub fn reorder(&mut self, ids: &[String]) -> Result<(), EngineError> {
        if ids.len() != self.rules.len() {
            return Err(EngineError::InvalidReorder {
                reason: format!("{} ids given for {} rules", ids.len(), self.rules.len()),
            });
        }
        let mut seen = HashSet::new();
        let mut order = Vec::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(id.as_str()) {
                return Err(EngineError::InvalidReorder { reason: format!("{id} is listed twice") });
            }
            let i = self.index_of(id).map_err(|_| EngineError::InvalidReorder { reason: format!("no rule {id}") })?;
            order.push(i);
        }
        let mut old: Vec<Option<RuleState>> = std::mem::take(&mut self.rules).into_iter().map(Some).collect();
        // Every index once (checked above), so every take finds its rule.
        self.rules = order.into_iter().filter_map(|i| old[i].take()).collect();
        self.index_from(0);
        self.respread();
        Ok(())
    }

    /// Checks, changing nothing, that rules `ids` could be added now: valid ids, none
    /// existing or repeated, no number held, room in the band. A caller checks before
    /// its I/O and adds after it (the add checks again).
    pub fn check_new_ids<'a>(&self, ids: impl ExactSizeIterator<Item = &'a RuleId> + Clone) -> Result<(), EngineError> {
        for id in ids.clone() {
            check_id(id.as_str(), None)?;
        }
        let count = ids.len();
        self.check_new(ids)?;
        self.check_room(self.rules.len() + count)
    }

    /// Where rule `id` is in the list.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index_of(id).ok()
    }

    /// Gives rule `id` the generation a switch already holds (adoption at first
    /// contact: a rule this process has not installed anywhere yet may take it, so
    /// its flows stay untouched). Its priority does not change.
    pub fn set_generation(&mut self, id: &str, generation: u8) -> Result<&RuleState, EngineError> {
        let i = self.index_of(id)?;
        self.rules[i].generation = generation;
        Ok(&self.rules[i])
    }

    /// Replaces every rule by `rules` (a saved state, in order), all or none: ids
    /// valid and distinct, numbers valid, distinct and not held by a provider,
    /// priorities inside the band, no more rules than the band holds. Providers'
    /// reservations stay. The error names the index of the first offending rule.
    ///
    /// Priorities that leave a rule no free `P + 1` (not decreasing by at least two
    /// from `max - 1` down: a state saved when a rule took one priority) are spread
    /// again, as a respread does: new priorities and generations
    /// ([`Placement::Respread`]); the caller then replaces the rules' flows.
    pub fn restore(&mut self, rules: Vec<SavedRule>) -> Result<Placement, (usize, EngineError)> {
        let capacity = self.band.rule_capacity();
        if rules.len() > capacity {
            return Err((capacity, self.too_many(rules.len())));
        }
        let mut numbers = self.numbers.clone();
        numbers.retain(|owner| !owner.starts_with("rule:"));
        let mut ids = HashSet::new();
        let mut restored = Vec::with_capacity(rules.len());
        for (i, saved) in rules.into_iter().enumerate() {
            let fail = |e: EngineError| (i, e);
            check_id(&saved.id, saved.rule.id.as_deref()).map_err(fail)?;
            if rule_cookie(saved.number, saved.generation).is_none() {
                return Err(fail(EngineError::InvalidNumber {
                    number: saved.number,
                    max: crate::rules::cookie::MAX_RULE_NUMBER,
                }));
            }
            if !self.band.range().contains(&saved.priority) {
                return Err(fail(EngineError::InvalidBand {
                    reason: format!(
                        "priority {} is outside the priority band {}-{}",
                        saved.priority,
                        self.band.min(),
                        self.band.max()
                    ),
                }));
            }
            let owner = rule_owner(&saved.id);
            if !ids.insert(saved.id.clone()) {
                return Err(fail(EngineError::RuleExists { id: saved.id }));
            }
            numbers.check(&owner, saved.number).map_err(fail)?;
            numbers.take(owner, saved.number);
            restored.push(RuleState {
                id: saved.id,
                rule: stored(saved.rule),
                number: saved.number,
                generation: saved.generation,
                priority: saved.priority,
                host: saved.host,
            });
        }
        // Each rule's P + 1 free: inside the band, and below the rule above it.
        let mut above = u32::from(self.band.max()) + 1;
        let spaced = restored.iter().all(|r| {
            let p = u32::from(r.priority);
            let free = p + 2 <= above;
            above = p;
            free
        });
        self.rules = restored;
        self.positions.clear();
        self.index_from(0);
        self.numbers = numbers;
        if spaced {
            Ok(Placement::Slotted)
        } else {
            self.respread();
            Ok(Placement::Respread)
        }
    }

    /// Spreads the priorities evenly from the top (gaps keep later inserts cheap),
    /// two at least apart and from `max - 1` down, so that every rule keeps its
    /// `P + 1` inside the band; every rule gets a new generation. The caller checked
    /// the band holds them (`rule_capacity`): with `n <= priorities / 2`, the last
    /// rule's `max - 1 - (n - 1) * step` is never below `min`.
    fn respread(&mut self) {
        let n = self.rules.len();
        let step = (self.band.capacity() / (n + 1)).clamp(2, 16);
        let top = usize::from(self.band.max()) - 1;
        for (i, r) in self.rules.iter_mut().enumerate() {
            r.priority = (top - i * step) as u16;
            r.next_generation();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rule::parse_rule;
    use crate::control::numbers::stable_number;
    use serde_json::json;

    fn rule() -> Rule {
        parse_rule(&json!({ "pool": true, "allow": false, "protocol": "tcp", "port": 22, "direction": "to" })).unwrap()
    }

    fn priorities(l: &RuleList) -> Vec<u16> {
        l.rules().iter().map(|r| r.priority).collect()
    }

    fn generations(l: &RuleList) -> Vec<u8> {
        l.rules().iter().map(|r| r.generation).collect()
    }

    fn ids(l: &RuleList) -> Vec<&str> {
        l.rules().iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn every_rule_is_found_by_its_id_whatever_moved_it() {
        let indexed = |l: &RuleList| {
            assert_eq!(l.positions.len(), l.len());
            for (i, r) in l.rules().iter().enumerate() {
                assert_eq!(l.index_of(&r.id), Ok(i), "{}", r.id);
            }
        };
        let mut l = RuleList::new(PriorityBand::for_rules(10000, 10020).unwrap());
        let batch = (0..4).map(|i| (format!("b{i}").into(), rule())).collect();
        l.append_many(batch, None).unwrap();
        l.insert("front", rule(), Some(0), None).unwrap();
        l.insert("middle", rule(), Some(3), None).unwrap(); // may respread
        indexed(&l);
        l.remove("b0").unwrap();
        l.remove("b3").unwrap();
        indexed(&l);
        assert_eq!(l.get("b0"), None);
        l.reorder(&["b2", "middle", "b1", "front"].map(String::from)).unwrap();
        indexed(&l);
        let saved = l
            .rules()
            .iter()
            .rev()
            .map(|r| SavedRule {
                id: r.id.clone(),
                rule: Rule::clone(&r.rule),
                number: r.number,
                generation: r.generation,
                priority: r.priority,
                host: None,
            })
            .collect();
        assert_eq!(l.restore(saved), Ok(Placement::Respread), "reversed: increasing priorities");
        assert_eq!(ids(&l), ["front", "b1", "middle", "b2"]);
        indexed(&l);
    }

    #[test]
    fn appending_takes_the_priority_two_below_leaving_each_rule_the_one_above() {
        let mut l = RuleList::new(PriorityBand::RULES_DEFAULT);
        for id in ["a", "b", "c"] {
            assert_eq!(l.insert(id, rule(), None, None), Ok(Placement::Slotted));
        }
        // The first at max - 1: its P + 1 is the band's max.
        assert_eq!(priorities(&l), vec![34998, 34996, 34994]);
        assert_eq!(generations(&l), vec![0, 0, 0]);
        assert_eq!(l.append_many(vec![("d".into(), rule()), ("e".into(), rule())], None), Ok(Placement::Slotted));
        assert_eq!(priorities(&l), vec![34998, 34996, 34994, 34992, 34990], "last - 2 - 2i");
    }

    #[test]
    fn inserting_takes_the_floor_of_the_midpoint() {
        let mut l = RuleList::new(PriorityBand::RULES_DEFAULT);
        l.insert("a", rule(), None, None).unwrap(); // 34998
        l.insert("top", rule(), Some(0), None).unwrap(); // slots up to 35000 (max + 1) - 2, from 34998 + 2: none
        assert_eq!((priorities(&l), generations(&l)), (vec![34998, 34982], vec![1, 1]), "respread, step 16");
        l.insert("mid", rule(), Some(1), None).unwrap(); // floor((34984 + 34996) / 2)
        assert_eq!(priorities(&l), vec![34998, 34990, 34982]);
        l.insert("low", rule(), Some(3), None).unwrap(); // appending at an explicit position: last - 2
        assert_eq!(priorities(&l), vec![34998, 34990, 34982, 34980]);
        assert_eq!(generations(&l), vec![1, 0, 1, 0], "only a respread changes generations");
        l.insert("one", rule(), Some(1), None).unwrap(); // one usable slot left each side: 34994 of 34992-34996
        l.insert("two", rule(), Some(1), None).unwrap(); // 34996 exactly: 34998 keeps 34999, 34994 keeps 34995
        assert_eq!(priorities(&l), vec![34998, 34996, 34994, 34990, 34982, 34980]);
        assert_eq!(generations(&l), vec![1, 0, 0, 0, 1, 0]);
        l.insert("under", rule(), Some(5), None).unwrap(); // between 34982 and 34980: no room
        assert_eq!(ids(&l), vec!["top", "two", "one", "mid", "a", "under", "low"]);
        assert_eq!(priorities(&l), vec![34998, 34982, 34966, 34950, 34934, 34918, 34902]);
        assert_eq!(generations(&l), vec![2, 1, 1, 1, 2, 1, 1], "every rule got a new generation");
        // Every rule's P + 1 is free: no other rule there, inside the band.
        let p = priorities(&l);
        assert!(p[0] < 34999 && p.windows(2).all(|w| w[1] + 1 < w[0]), "{p:?}");
    }

    #[test]
    fn a_respread_uses_a_smaller_step_in_a_small_band_and_a_full_band_refuses() {
        let band = PriorityBand::for_rules(10000, 10009).unwrap(); // 10 priorities: 5 rules
        let mut l = RuleList::new(band);
        l.insert("a", rule(), None, None).unwrap();
        l.insert("b", rule(), Some(0), None).unwrap(); // no room above a: step floor(10 / 3) = 3
        assert_eq!(priorities(&l), vec![10008, 10005]);
        for id in ["c", "d"] {
            l.insert(id, rule(), None, None).unwrap();
        }
        assert_eq!(priorities(&l), vec![10008, 10005, 10003, 10001]);
        assert_eq!(l.insert("e", rule(), None, None), Ok(Placement::Respread), "no 9999: spread again");
        // floor(10 / 6) = 1, at least 2: the whole band, every P + 1 in it.
        assert_eq!(priorities(&l), vec![10008, 10006, 10004, 10002, 10000]);
        let before = l.rules().to_vec();
        let e = l.insert("f", rule(), Some(2), None).unwrap_err();
        assert_eq!(e.code(), "SDN_TOO_MANY_RULES");
        let e = l.append_many(vec![("f".into(), rule())], None).unwrap_err();
        assert_eq!(e.code(), "SDN_TOO_MANY_RULES");
        assert_eq!(l.rules(), &before[..], "a refused insert changes nothing");
        assert!(l.numbers().holder(stable_number("rule:f")).is_none(), "nor holds a number");
    }

    #[test]
    fn a_batch_without_room_at_the_tail_spreads_the_list() {
        let band = PriorityBand::for_rules(10000, 10019).unwrap(); // 20 priorities: 10 rules
        let mut l = RuleList::new(band);
        l.insert("a", rule(), None, None).unwrap(); // 10018
        l.insert("b", rule(), Some(1), None).unwrap(); // 10016
        l.update("b", rule()).unwrap();
        // Fill the tail of the band.
        l.append_many((0..7).map(|i| (format!("t{i}").into(), rule())).collect(), None).unwrap();
        assert_eq!(l.rules().last().map(|r| r.priority), Some(10002));
        assert_eq!(
            l.append_many(vec![("x".into(), rule()), ("y".into(), rule())], None),
            Err(EngineError::TooManyRules { min: 10000, max: 10019, capacity: 10, wanted: 11 })
        );
        l.remove("t3").unwrap();
        l.remove("t4").unwrap(); // 7 rules, the tail still ends at 10002
        assert_eq!(l.append_many(vec![("x".into(), rule()), ("y".into(), rule())], None), Ok(Placement::Respread));
        assert_eq!(priorities(&l), (0..9).map(|i| 10018 - 2 * i).collect::<Vec<_>>(), "step floor(20 / 10) = 2");
        assert_eq!(l.get("b").map(|r| r.generation), Some(2), "updated once, spread once");
        assert_eq!(l.get("y").map(|r| r.generation), Some(1), "new rules spread too");
    }

    #[test]
    fn update_bumps_the_generation_and_wraps() {
        let mut l = RuleList::new(PriorityBand::RULES_DEFAULT);
        l.insert("a", rule(), None, None).unwrap();
        let c0 = l.get("a").unwrap().cookie();
        let before = l.update("a", rule()).unwrap();
        assert_eq!((before.generation, before.cookie()), (0, c0));
        let after = l.get("a").unwrap();
        assert_eq!((after.generation, after.priority), (1, 34998));
        assert_eq!(after.cookie(), c0 | 1 << 40);
        for _ in 0..255 {
            l.update("a", rule()).unwrap();
        }
        assert_eq!(l.get("a").unwrap().generation, 0, "mod 256");
        assert_eq!(l.update("zz", rule()).unwrap_err().code(), "SDN_RULE_NOT_FOUND");
    }

    #[test]
    fn ids_are_checked_and_numbers_held_once() {
        let mut l = RuleList::new(PriorityBand::RULES_DEFAULT);
        assert_eq!(l.insert("", rule(), None, None).unwrap_err().code(), "ERR_INVALID_ARG_VALUE");
        assert_eq!(l.insert(&"x".repeat(129), rule(), None, None).unwrap_err().code(), "ERR_INVALID_ARG_VALUE");
        let mut other = rule();
        other.id = Some("b".into());
        assert_eq!(l.insert("a", other.clone(), None, None).unwrap_err().code(), "ERR_INVALID_ARG_VALUE");
        other.id = Some("a".into());
        l.insert("a", other, None, None).unwrap();
        assert_eq!(l.get("a").unwrap().rule.id, None, "the list keeps the id once");
        assert_eq!(l.insert("a", rule(), None, None).unwrap_err().code(), "SDN_RULE_EXISTS");
        assert_eq!(l.insert("b", rule(), Some(2), None).unwrap_err().code(), "ERR_OUT_OF_RANGE");
        let e = l.append_many(vec![("c".into(), rule()), ("c".into(), rule())], None).unwrap_err();
        assert_eq!(e.code(), "SDN_RULE_EXISTS", "an id twice in one batch");
        assert_eq!(l.len(), 1);

        // A provider's number: the rule whose id maps to it is refused, in both forms.
        l.reserve_number("provider:sg", stable_number("rule:sip")).unwrap();
        assert_eq!(l.insert("sip", rule(), None, None).unwrap_err().code(), "SDN_RULE_ID_COLLISION");
        let e = l.append_many(vec![("ok".into(), rule()), ("sip".into(), rule())], None).unwrap_err();
        assert_eq!(e.code(), "SDN_RULE_ID_COLLISION");
        assert_eq!(ids(&l), vec!["a"], "all or none");
        assert_eq!(l.reserve_number("rule:x", 5).unwrap_err().code(), "ERR_INVALID_ARG_VALUE");

        // A deleted rule frees its number: the id can come back.
        l.remove("a").unwrap();
        l.insert("a", rule(), None, None).unwrap();
        assert_eq!(l.get("a").map(|r| r.generation), Some(0));
    }

    #[test]
    fn reorder_takes_a_permutation_and_spreads() {
        let mut l = RuleList::new(PriorityBand::RULES_DEFAULT);
        for id in ["a", "b", "c"] {
            l.insert(id, rule(), None, None).unwrap();
        }
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        for bad in [s(&["a", "b"]), s(&["a", "b", "b"]), s(&["a", "b", "z"])] {
            assert_eq!(l.reorder(&bad).unwrap_err().code(), "ERR_INVALID_ARG_VALUE", "{bad:?}");
        }
        assert_eq!(priorities(&l), vec![34998, 34996, 34994], "refused: nothing changed");
        l.reorder(&s(&["c", "a", "b"])).unwrap();
        assert_eq!(ids(&l), vec!["c", "a", "b"]);
        assert_eq!(priorities(&l), vec![34998, 34982, 34966]);
        assert_eq!(generations(&l), vec![1, 1, 1]);
    }

    #[test]
    fn check_new_ids_refuses_what_an_add_would_and_changes_nothing() {
        let mut l = RuleList::new(PriorityBand::for_rules(10000, 10005).unwrap()); // 3 rules
        l.insert("a", rule(), None, None).unwrap();
        let ids = |ids: &[&str]| ids.iter().map(|&id| RuleId::from(id)).collect::<Vec<_>>();
        assert_eq!(l.check_new_ids(ids(&["b", "c"]).iter()), Ok(()));
        let codes = |given: &[&str]| l.check_new_ids(ids(given).iter()).unwrap_err().code();
        assert_eq!(codes(&["a"]), "SDN_RULE_EXISTS");
        assert_eq!(codes(&["b", "b"]), "SDN_RULE_EXISTS");
        assert_eq!(codes(&["b", "c", "d"]), "SDN_TOO_MANY_RULES");
        assert_eq!(codes(&[""]), "ERR_INVALID_ARG_VALUE");
        assert!(l.numbers().holder(stable_number("rule:b")).is_none());
    }

    #[test]
    fn a_batch_of_ten_thousand_is_checked_in_linear_time() {
        // (It was quadratic: 50 ms for 10,000 ids.) Not a timing assertion: the
        // batch must simply be accepted, every id with its own number.
        let mut l = RuleList::new(PriorityBand::RULES_DEFAULT);
        let batch: Vec<(RuleId, Rule)> = (0..10_000).map(|i| (format!("r{i}").into(), rule())).collect();
        l.append_many(batch, None).unwrap();
        assert_eq!(l.len(), 10_000);
        assert_eq!(l.rules().iter().map(|r| r.number).collect::<HashSet<_>>().len(), 10_000);
    }

    #[test]
    fn set_generation_changes_the_cookie_only() {
        let mut l = RuleList::new(PriorityBand::RULES_DEFAULT);
        l.insert("a", rule(), None, None).unwrap();
        let before = l.get("a").unwrap().clone();
        let after = l.set_generation("a", 7).unwrap().clone();
        assert_eq!((after.generation, after.priority, after.number), (7, before.priority, before.number));
        assert_eq!(after.cookie(), before.cookie() | 7 << 40);
        assert_eq!(l.set_generation("z", 1).unwrap_err().code(), "SDN_RULE_NOT_FOUND");
    }

    #[test]
    fn restore_takes_a_saved_state_whole_or_not_at_all() {
        let band = PriorityBand::for_rules(10000, 10009).unwrap();
        let mut l = RuleList::new(band);
        l.reserve_number("provider:sg", 77).unwrap();
        l.insert("old", rule(), None, None).unwrap();
        let saved = |id: &str, number: u64, priority: u16| SavedRule {
            id: id.into(),
            rule: rule(),
            number,
            generation: 3,
            priority,
            host: None,
        };
        let good = vec![saved("x", 7, 10005), saved("y", 8, 10001)];
        let refused = [
            (vec![saved("x", 7, 10005), saved("y", 7, 10004)], 1, "SDN_RULE_ID_COLLISION"),
            (vec![saved("x", 7, 10005), saved("x", 8, 10004)], 1, "SDN_RULE_EXISTS"),
            (vec![saved("x", 77, 10005)], 0, "SDN_RULE_ID_COLLISION"), // the provider's
            (vec![saved("x", 0, 10005)], 0, "ERR_OUT_OF_RANGE"),
            (vec![saved("x", 7, 10010)], 0, "ERR_OUT_OF_RANGE"),
        ];
        for (state, index, code) in refused {
            let (i, e) = l.restore(state).unwrap_err();
            assert_eq!((i, e.code()), (index, code));
            assert_eq!(ids(&l), vec!["old"], "nothing changed");
        }
        let too_many = (0..6).map(|i| saved(&format!("r{i}"), 10 + i, 10008 - 2 * i as u16)).collect();
        let (i, e) = l.restore(too_many).unwrap_err();
        assert_eq!((i, e), (5, EngineError::TooManyRules { min: 10000, max: 10009, capacity: 5, wanted: 6 }));
        assert_eq!(ids(&l), vec!["old"], "nothing changed");
        assert_eq!(l.restore(good), Ok(Placement::Slotted), "each P + 1 free: kept as saved");
        assert_eq!(ids(&l), vec!["x", "y"]);
        assert_eq!((priorities(&l), generations(&l)), (vec![10005, 10001], vec![3, 3]));
        assert_eq!(l.numbers().holder(7), Some("rule:x"));
        assert_eq!(l.numbers().holder(77), Some("provider:sg"), "providers keep theirs");
        assert_eq!(l.numbers().holder(stable_number("rule:old")), None, "the old rules' numbers are free");
    }

    /// A state saved when a rule took one priority (consecutive, the first at max):
    /// no rule has a free P + 1, so the list is spread again as a respread does, new
    /// priorities and generations; one whose priorities leave each its P + 1 is kept.
    #[test]
    fn restoring_an_old_consecutive_state_spreads_it_once() {
        let band = PriorityBand::for_rules(10000, 10009).unwrap();
        let saved = |id: &str, number: u64, generation: u8, priority: u16| SavedRule {
            id: id.into(),
            rule: rule(),
            number,
            generation,
            priority,
            host: None,
        };
        let mut l = RuleList::new(band);
        let old = vec![saved("x", 7, 3, 10009), saved("y", 8, 255, 10008), saved("z", 9, 0, 10007)];
        assert_eq!(l.restore(old), Ok(Placement::Respread));
        assert_eq!(ids(&l), vec!["x", "y", "z"], "in the saved order");
        // step floor(10 / 4) = 2, from max - 1.
        assert_eq!((priorities(&l), generations(&l)), (vec![10008, 10006, 10004], vec![4, 0, 1]));
        assert_eq!(l.rules().iter().map(|r| r.number).collect::<Vec<_>>(), vec![7, 8, 9], "numbers kept");
        // What the list now holds restores as it is (a later restart).
        let now: Vec<SavedRule> = l.rules().iter().map(|r| saved(&r.id, r.number, r.generation, r.priority)).collect();
        assert_eq!(l.restore(now), Ok(Placement::Slotted));
        assert_eq!((priorities(&l), generations(&l)), (vec![10008, 10006, 10004], vec![4, 0, 1]));
        // The first at max, or a rule just below the one above it, or out of order: spread.
        for state in [
            vec![saved("x", 7, 0, 10009)],
            vec![saved("x", 7, 0, 10008), saved("y", 8, 0, 10007)],
            vec![saved("x", 7, 0, 10001), saved("y", 8, 0, 10005)],
        ] {
            let n = state.len();
            assert_eq!(l.restore(state), Ok(Placement::Respread));
            assert_eq!(generations(&l), vec![1; n]);
            let p = priorities(&l);
            assert!(p[0] == 10008 && p.windows(2).all(|w| w[1] + 1 < w[0]), "{p:?}");
        }
        // A full old state of this band's size cannot be spread: refused, as before for more.
        let full = (0..6).map(|i| saved(&format!("r{i}"), 10 + i, 0, 10009 - i as u16)).collect();
        assert_eq!(l.restore(full).unwrap_err().1.code(), "SDN_TOO_MANY_RULES");
    }
}
