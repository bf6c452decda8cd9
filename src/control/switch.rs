//! One switch's state in the engine: what it should hold, what it holds as far as
//! the engine knows, and the batch on its way to it.
//!
//! The engine never queues FLOW_MODs. It keeps two tables per switch and computes
//! a batch from their difference when the switch is free:
//!
//! * `desired`: the flows every rule that lands here compiles to, per cookie;
//! * `installed`: the flows the switch holds, exactly when `exact`, otherwise a
//!   superset (every flow that may be there, after a failed batch).
//!
//! While `installed` is exact, a batch only looks at the cookies whose desired
//! flows changed since the previous batch was made (`dirty`): its cost follows the
//! change, not the number of rules. After a failure it looks at everything.
//!
//! A batch is "ADD what `desired` has and the switch may lack; barrier; DELETE what
//! the switch may have and `desired` lacks; barrier". The adds go first, so a rule
//! whose flows change (an update, a respread, a new generation) always has its new
//! flows in before its old ones go: make-before-break by construction, whatever
//! commands were merged into the batch. Once a batch is confirmed the switch holds
//! exactly the `desired` of when the batch was made: the adds put every desired
//! flow in (an ADD with the same match and priority replaces a flow whatever its
//! cookie, and no two desired flows share both), the deletes take out everything
//! else that may be there (by exact cookie, so never a desired flow).
//!
//! Within the adds, order matters where an ADD lands on the key (priority and
//! match) of a flow of *another* rule: it replaces that flow, cookie included
//! (a respread can give rule A the old priority of rule B, and two rules can have
//! identical matches). Until B's own new flows are in, B has no flow there. So the
//! adds of B go before those of A ([`order_adds`]), and if the batch fails between
//! them (the driver stops at the first error), B is not left without its flows.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use crate::openflow::flow::FlowMod;
use crate::rules::cookie::MAX_RULE_NUMBER;
use crate::rules::table::{FlowTable, MatchKey};

/// A batch on its way to the switch.
#[derive(Clone, Debug)]
pub(crate) struct InFlight {
    /// The batch id.
    pub id: u64,
    /// The desired flows of every cookie the batch covers, when it was made (none:
    /// the cookie is deleted): what the switch holds for them once it is confirmed.
    pub changes: Vec<(u64, Vec<FlowMod>)>,
    /// The switch lost its flows while the batch was on its way: whatever the
    /// outcome, the engine no longer knows exactly what is there.
    pub lost_meanwhile: bool,
}

/// What one batch sends, and what the switch then holds.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// ADDs, sent first.
    pub adds: Vec<FlowMod>,
    /// DELETEs (by exact cookie) and DELETE_STRICTs (cookie exact), sent after the
    /// adds are confirmed.
    pub deletes: Vec<FlowMod>,
    /// See [`InFlight::changes`].
    pub changes: Vec<(u64, Vec<FlowMod>)>,
}

/// One switch (a bridge of a host).
#[derive(Clone, Debug)]
pub(crate) struct Switch {
    table_id: u8,
    /// What it should hold.
    desired: FlowTable,
    /// What it holds: exactly when `exact`, else a superset.
    installed: FlowTable,
    /// `installed` by key: the cookies that may hold a flow there.
    slots: HashMap<SlotKey, BTreeSet<u64>>,
    /// `installed` is exactly what the switch holds (not just a superset).
    exact: bool,
    /// Cookies whose desired flows changed since the last batch was made.
    dirty: BTreeSet<u64>,
    /// The batch on its way, at most one.
    pub in_flight: Option<InFlight>,
    /// The last command (sequence number) that changed `desired` here.
    pub changed: u64,
    /// The last command covered by a batch made for this switch.
    pub covered: u64,
    /// The last command covered by a confirmed batch.
    pub confirmed: u64,
    /// A failed batch or a lost switch: the next batch is due even if `desired`
    /// has not changed.
    pub needs_repair: bool,
    /// A batch failed: no batch until the driver says the switch may be tried again.
    pub parked: bool,
}

/// Where a flow sits in the table: what an ADD with the same key replaces.
type SlotKey = (u8, u16, MatchKey);

fn slot(fm: &FlowMod) -> SlotKey {
    (fm.table_id, fm.priority, MatchKey::of(&fm.flow_match))
}

fn rule_number(cookie: u64) -> u64 {
    cookie & MAX_RULE_NUMBER
}

/// `adds` grouped by rule number, the groups in an order where a rule whose ADD
/// replaces a flow of another rule (a flow `slots` says may be at that key) comes
/// after that other rule's own adds. Among the rules free to go, and to break a
/// cycle (two rules swapping priorities with identical matches, which only a
/// reorder does), the one with the highest priority goes first: the first rule of
/// the new order then wins while the other's flows are replaced.
fn order_adds(adds: Vec<FlowMod>, slots: &HashMap<SlotKey, BTreeSet<u64>>) -> Vec<FlowMod> {
    // Rule number -> its adds, in the order given; and its highest priority.
    let mut groups: BTreeMap<u64, Vec<FlowMod>> = BTreeMap::new();
    let mut top: BTreeMap<u64, u16> = BTreeMap::new();
    // "before -> after" edges between rule numbers, and how many each waits for.
    let mut after: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for fm in &adds {
        let n = rule_number(fm.cookie);
        let t = top.entry(n).or_insert(fm.priority);
        *t = (*t).max(fm.priority);
    }
    for fm in &adds {
        let n = rule_number(fm.cookie);
        for &replaced in slots.get(&slot(fm)).into_iter().flatten() {
            let m = rule_number(replaced);
            if m != n && top.contains_key(&m) {
                after.entry(m).or_default().insert(n);
            }
        }
    }
    let adds_len = adds.len();
    for fm in adds {
        groups.entry(rule_number(fm.cookie)).or_default().push(fm);
    }
    let mut waiting: BTreeMap<u64, usize> = top.keys().map(|&n| (n, 0)).collect();
    for targets in after.values() {
        for t in targets {
            if let Some(w) = waiting.get_mut(t) {
                *w += 1;
            }
        }
    }
    // Highest priority first; between equals, the lower number (any fixed order).
    let rank = |n: u64| (top.get(&n).copied().unwrap_or(0), Reverse(n));
    let mut free: BinaryHeap<((u16, Reverse<u64>), u64)> =
        waiting.iter().filter(|(_, &w)| w == 0).map(|(&n, _)| (rank(n), n)).collect();
    let mut out = Vec::with_capacity(adds_len);
    while !waiting.is_empty() {
        let n = match free.pop() {
            Some((_, n)) if waiting.contains_key(&n) => n,
            Some(_) => continue, // already taken to break a cycle
            // Nothing free, rules left: a cycle, broken at the highest rule.
            None => match waiting.keys().copied().max_by_key(|&n| rank(n)) {
                Some(n) => n,
                None => break,
            },
        };
        waiting.remove(&n);
        for &t in after.get(&n).into_iter().flatten() {
            if let Some(w) = waiting.get_mut(&t) {
                *w = w.saturating_sub(1);
                if *w == 0 {
                    free.push((rank(t), t));
                }
            }
        }
        out.extend(groups.remove(&n).unwrap_or_default());
    }
    out
}

impl Switch {
    /// A switch known to hold none of our flows yet.
    pub fn new(table_id: u8) -> Self {
        Switch {
            table_id,
            desired: FlowTable::new(table_id),
            installed: FlowTable::new(table_id),
            slots: HashMap::new(),
            exact: true,
            dirty: BTreeSet::new(),
            in_flight: None,
            changed: 0,
            covered: 0,
            confirmed: 0,
            needs_repair: false,
            parked: false,
        }
    }

    /// What it should hold.
    pub fn desired(&self) -> &FlowTable {
        &self.desired
    }

    /// True when the engine knows exactly what it holds.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// Makes `flows` the desired flows of `cookie` (the caller never passes none).
    pub fn want(&mut self, cookie: u64, flows: Vec<FlowMod>) {
        self.desired.put(cookie, flows);
        self.dirty.insert(cookie);
    }

    /// `cookie` is no longer desired here; false if it was not.
    pub fn unwant(&mut self, cookie: u64) -> bool {
        let was = !self.desired.remove(cookie).is_empty();
        if was {
            self.dirty.insert(cookie);
        }
        was
    }

    /// Makes `desired` the whole desired state; false if nothing changed.
    pub fn replace_desired(&mut self, desired: FlowTable) -> bool {
        let cookies: BTreeSet<u64> = self.desired.cookies().into_iter().chain(desired.cookies()).collect();
        let mut changed = false;
        for c in cookies {
            // A desired cookie always has flows: equal flows, equal presence.
            if !self.desired.flows(c).eq(desired.flows(c)) {
                self.dirty.insert(c);
                changed = true;
            }
        }
        self.desired = desired;
        changed
    }

    /// Something to send, and the switch free to take it.
    pub fn is_ready(&self) -> bool {
        self.in_flight.is_none() && !self.parked && self.has_work()
    }

    /// Commands not yet covered by a batch, or a repair due.
    pub fn has_work(&self) -> bool {
        self.changed > self.covered || self.needs_repair
    }

    /// The batch that brings the switch from `installed` to `desired`.
    pub fn plan(&self) -> Plan {
        let cookies: BTreeSet<u64> = if self.exact {
            self.dirty.clone()
        } else {
            self.desired.cookies().into_iter().chain(self.installed.cookies()).collect()
        };
        let mut adds = Vec::new();
        let mut deletes = Vec::new();
        let mut changes = Vec::with_capacity(cookies.len());
        for cookie in cookies {
            let want: Vec<FlowMod> = self.desired.flows(cookie).cloned().collect();
            // This cookie's part of `installed`, to diff against.
            let mut have = FlowTable::new(self.table_id);
            let held: Vec<FlowMod> = self.installed.flows(cookie).cloned().collect();
            if !held.is_empty() {
                have.put(cookie, held);
            }
            if want.is_empty() {
                deletes.extend(have.remove(cookie));
            } else {
                let delta = have.put(cookie, want.clone());
                // Not exact: a flow `installed` lists may be missing; send them
                // all (an ADD of a flow that is there changes nothing).
                adds.extend(if self.exact { delta.add } else { want.clone() });
                deletes.extend(delta.delete);
            }
            changes.push((cookie, want));
        }
        Plan { adds: order_adds(adds, &self.slots), deletes, changes }
    }

    /// Batch `id` left for the switch, covering commands up to `through`.
    pub fn send(&mut self, id: u64, changes: Vec<(u64, Vec<FlowMod>)>, through: u64) {
        self.in_flight = Some(InFlight { id, changes, lost_meanwhile: false });
        self.dirty.clear();
        self.covered = through;
        self.needs_repair = false;
    }

    /// Sets what the switch may hold under `cookie` (`flows`, empty for nothing).
    fn set_installed(&mut self, cookie: u64, flows: Vec<FlowMod>) {
        for fm in self.installed.flows(cookie) {
            let key = slot(fm);
            if let Some(set) = self.slots.get_mut(&key) {
                set.remove(&cookie);
                if set.is_empty() {
                    self.slots.remove(&key);
                }
            }
        }
        if flows.is_empty() {
            self.installed.remove(cookie);
            return;
        }
        self.installed.put(cookie, flows);
        for fm in self.installed.flows(cookie) {
            self.slots.entry(slot(fm)).or_default().insert(cookie);
        }
    }

    /// The batch in flight was confirmed (`ok`) or failed.
    pub fn done(&mut self, ok: bool) {
        let Some(flight) = self.in_flight.take() else { return };
        if ok && !flight.lost_meanwhile {
            for (cookie, flows) in flight.changes {
                self.set_installed(cookie, flows);
            }
            // Exact again: an exact switch had only its changed cookies to fix, an
            // inexact one got every cookie it might hold.
            self.exact = true;
            self.confirmed = self.covered;
            return;
        }
        // Some of the batch may have landed, some not: the switch holds at most
        // what it held plus what the batch added.
        for (cookie, flows) in flight.changes {
            if !flows.is_empty() {
                let both = self.installed.flows(cookie).cloned().chain(flows).collect();
                self.set_installed(cookie, both);
            }
        }
        self.exact = false;
        self.needs_repair = true;
        // A failure means the switch cannot be reached for now; after a loss it
        // answered (it restarted), so the repair may go at once.
        self.parked = !ok;
    }

    /// The switch restarted and holds none of our flows: every desired flow is due.
    pub fn lost(&mut self) {
        self.installed = FlowTable::new(self.table_id);
        self.slots.clear();
        self.exact = true;
        self.dirty = self.desired.cookies().into_iter().collect();
        self.needs_repair = true;
        self.parked = false;
        if let Some(flight) = &mut self.in_flight {
            flight.lost_meanwhile = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::flow::FlowModCommand;
    use crate::openflow::text::parse_flow;
    use crate::rules::cookie::rule_cookie;

    fn flow(number: u64, generation: u8, priority: u16) -> (u64, FlowMod) {
        let cookie = rule_cookie(number, generation).unwrap();
        let mut fm = parse_flow(&format!("priority={priority},in_port=1 actions=drop"), FlowModCommand::ADD).unwrap();
        fm.cookie = cookie;
        (cookie, fm)
    }

    fn numbers(adds: &[FlowMod]) -> Vec<u64> {
        adds.iter().map(|f| rule_number(f.cookie)).collect()
    }

    /// A switch that holds `installed` (confirmed) and wants `desired`:
    /// `(rule number, priority)` pairs, generation 0 installed, 1 desired.
    fn switch(installed: &[(u64, u16)], desired: &[(u64, u16)]) -> Switch {
        let mut sw = Switch::new(0);
        for &(n, p) in installed {
            let (c, f) = flow(n, 0, p);
            sw.want(c, vec![f]);
        }
        let plan = sw.plan();
        sw.send(1, plan.changes, 1);
        sw.done(true);
        for &(n, p) in installed {
            sw.unwant(flow(n, 0, p).0);
        }
        for &(n, p) in desired {
            let (c, f) = flow(n, 1, p);
            sw.want(c, vec![f]);
        }
        sw
    }

    #[test]
    fn an_add_that_replaces_another_rules_flow_waits_for_that_rules_own_adds() {
        // Identical matches. Rule 5's add replaces rule 4's flow at 50, and rule 4
        // moves to rule 6's key at 60: 6 first, then 4, then 5, whatever their
        // priorities (by priority alone it would be 4, 5, 6).
        let sw = switch(&[(4, 50), (6, 60)], &[(5, 50), (4, 60), (6, 40)]);
        let plan = sw.plan();
        assert_eq!(numbers(&plan.adds), vec![6, 4, 5]);
        assert_eq!(plan.deletes.len(), 2, "then the old generations of 4 and 6");
        // Rules 1 and 2 swap priorities: each add replaces the other's flow, a
        // cycle; the rule at the top of the new order goes first.
        assert_eq!(numbers(&switch(&[(1, 100), (2, 90)], &[(1, 90), (2, 100)]).plan().adds), vec![2, 1]);
        // Nothing replaced: highest priority first.
        assert_eq!(numbers(&switch(&[], &[(7, 10), (8, 30), (9, 20)]).plan().adds), vec![8, 9, 7]);
    }

    #[test]
    fn an_exact_switch_plans_only_what_changed_and_a_failed_one_everything() {
        let mut sw = switch(&[(1, 100), (2, 90), (3, 80)], &[]);
        // The switch now holds 1, 2 and 3 at generation 0; `switch` unwanted them all.
        for n in [1, 2, 3] {
            let (c, f) = flow(n, 0, 110 - 10 * n as u16);
            sw.want(c, vec![f]);
        }
        let plan = sw.plan();
        assert!(plan.adds.is_empty() && plan.deletes.is_empty(), "wanted back as they are: nothing to do");
        sw.send(2, plan.changes, 2);
        sw.done(true);
        let (c4, f4) = flow(4, 0, 70);
        sw.want(c4, vec![f4]);
        let plan = sw.plan();
        assert_eq!(
            (numbers(&plan.adds), plan.deletes.len(), plan.changes.len()),
            (vec![4], 0, 1),
            "only rule 4 looked at"
        );
        sw.send(3, plan.changes, 3);
        sw.done(false);
        assert!(!sw.is_exact() && sw.parked && sw.has_work());
        let plan = sw.plan();
        assert_eq!(numbers(&plan.adds), vec![1, 2, 3, 4], "everything again");
        sw.send(4, plan.changes, 4);
        sw.done(true);
        assert!(sw.is_exact());
        sw.lost();
        assert_eq!(numbers(&sw.plan().adds), vec![1, 2, 3, 4], "a lost switch gets everything again");
    }
}
