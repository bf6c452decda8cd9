//! The engine: commands in, per-switch batches out.
//!
//! Every command is validated before it changes anything, then applied at once to
//! the rule list and to the desired flows of the switches it concerns. Nothing is
//! sent by a command: the driver asks [`Engine::poll_batch`] for work, sends each
//! batch (adds, barrier, deletes, barrier) and reports with
//! [`Engine::batch_done`]. A switch has at most one batch in flight; whatever
//! commands arrive meanwhile are merged into its next batch (group commit), which
//! is computed from state (desired vs installed), not replayed from a queue: a
//! command undone by a later one costs nothing, and an update followed by a
//! delete leaves nothing of either generation.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::bands::PriorityBand;
use super::error::EngineError;
use super::list::{Placement, RuleList, RuleState};
#[cfg(test)]
use super::numbers::stable_number;
use super::numbers::RuleId;
use super::patch::merge_patch;
use super::switch::Switch;
use super::topology::{endpoints, HostTopology, Interface, SwitchId};
use crate::openflow::flow::FlowMod;
use crate::rules::compile::compile;
use crate::rules::rule::Rule;
use crate::rules::table::FlowTable;

/// What the driver sends to one switch: `adds`, a barrier, then (once the adds are
/// confirmed) `deletes`, a barrier; then [`Engine::batch_done`]. If the adds fail,
/// the deletes must not be sent. A batch may be empty (commands that cancelled out
/// on this switch): confirm it without sending anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The host.
    pub host: String,
    /// The bridge.
    pub bridge: String,
    /// What [`Engine::batch_done`] is told.
    pub id: u64,
    /// Every command up to this sequence number (see [`Receipt::seq`]) is in
    /// this batch, for this switch.
    pub through: u64,
    /// ADD FLOW_MODs.
    pub adds: Vec<FlowMod>,
    /// DELETE (cookie exact, empty match) and DELETE_STRICT (cookie exact)
    /// FLOW_MODs.
    pub deletes: Vec<FlowMod>,
}

impl Batch {
    /// The switch it is for.
    pub fn switch(&self) -> SwitchId {
        SwitchId::new(self.host.clone(), self.bridge.clone())
    }
}

/// What an accepted command changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Its sequence number: it is in force on a switch once a batch for that
    /// switch with `through >= seq` is confirmed.
    pub seq: u64,
    /// The switches whose desired flows it changed (the ones to wait for).
    pub switches: Vec<SwitchId>,
}

/// Where a switch stands, for read-back and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchStatus {
    /// The batch on its way, if any.
    pub in_flight: Option<u64>,
    /// There is work a batch has not covered yet (commands, or a repair).
    pub pending: bool,
    /// A batch failed: nothing is sent until [`Engine::retry`] or [`Engine::switch_lost`].
    pub parked: bool,
    /// The engine knows exactly what the switch holds (no failed batch since the
    /// last confirmed one).
    pub exact: bool,
    /// The last command a confirmed batch covered.
    pub confirmed: u64,
}

/// The policy engine: the ordered rule list, where each rule lands, and the
/// batches that keep every switch equal to it. Sans-I/O.
#[derive(Clone, Debug)]
pub struct Engine {
    list: RuleList,
    table_id: u8,
    topology: BTreeMap<String, HostTopology>,
    switches: BTreeMap<SwitchId, Switch>,
    /// Sequence number of the last accepted command.
    seq: u64,
    /// Id of the last batch made.
    last_batch: u64,
    /// Batch id -> its switch.
    in_flight: HashMap<u64, SwitchId>,
}

impl Engine {
    /// An engine with no rules and no topology; rules take priorities in `band`,
    /// flows go to OpenFlow table `table_id`.
    pub fn new(band: PriorityBand, table_id: u8) -> Self {
        Engine {
            list: RuleList::new(band),
            table_id,
            topology: BTreeMap::new(),
            switches: BTreeMap::new(),
            seq: 0,
            last_batch: 0,
            in_flight: HashMap::new(),
        }
    }

    // ---- reading ----

    /// The rules, first = highest priority.
    pub fn rules(&self) -> &[RuleState] {
        self.list.rules()
    }

    /// The rule `id`.
    pub fn rule(&self, id: &str) -> Option<&RuleState> {
        self.list.get(id)
    }

    /// The priority band of the rules.
    pub fn band(&self) -> PriorityBand {
        self.list.band()
    }

    /// The flows `bridge` of `host` should hold, in cookie order; empty for a
    /// switch the engine does not know.
    pub fn desired(&self, host: &str, bridge: &str) -> Vec<FlowMod> {
        let Some(sw) = self.switches.get(&SwitchId::new(host, bridge)) else { return Vec::new() };
        let desired = sw.desired();
        desired.cookies().into_iter().flat_map(|c| desired.flows(c).cloned().collect::<Vec<_>>()).collect()
    }

    /// Where a switch stands; `None` for one the engine does not know.
    pub fn status(&self, host: &str, bridge: &str) -> Option<SwitchStatus> {
        self.switches.get(&SwitchId::new(host, bridge)).map(|sw| SwitchStatus {
            in_flight: sw.in_flight.as_ref().map(|f| f.id),
            pending: sw.has_work(),
            parked: sw.parked,
            exact: sw.is_exact(),
            confirmed: sw.confirmed,
        })
    }

    /// The switches the engine knows.
    pub fn switches(&self) -> impl Iterator<Item = &SwitchId> {
        self.switches.keys()
    }

    /// True when no batch is in flight and no switch has work left (commands not
    /// sent, a repair due, a parked switch waiting): every switch holds its
    /// desired flows.
    pub fn settled(&self) -> bool {
        self.switches.values().all(|sw| sw.in_flight.is_none() && !sw.has_work())
    }

    // ---- rule commands ----

    /// Adds rule `id` at `position` (default: last, the lowest priority),
    /// restricted to `host` if given. Refused: an invalid or existing id
    /// (`SDN_RULE_EXISTS`), an id whose number is held (`SDN_RULE_ID_COLLISION`), a
    /// position past the end, a full band (`SDN_TOO_MANY_RULES`).
    pub fn add(
        &mut self,
        id: &str,
        rule: Rule,
        position: Option<usize>,
        host: Option<String>,
    ) -> Result<Receipt, EngineError> {
        let index = position.unwrap_or(self.list.len());
        let placement = self.list.insert(id, rule, position, host)?;
        Ok(self.after_placement(placement, index..index + 1))
    }

    /// Appends rules in the order given, all or none, restricted to `host` if given.
    pub fn add_many(&mut self, rules: Vec<(String, Rule)>, host: Option<String>) -> Result<Receipt, EngineError> {
        let first = self.list.len();
        let placement = self.list.append_many(rules.into_iter().map(|(id, rule)| (RuleId::new(id), rule)).collect(), host)?;
        Ok(self.after_placement(placement, first..self.list.len()))
    }

    /// Replaces rule `id` (same priority, next generation): on each switch its new
    /// flows are installed before the old generation is deleted.
    pub fn update(&mut self, id: &str, rule: Rule) -> Result<Receipt, EngineError> {
        let before = self.list.update(id, rule)?;
        let seq = self.next_seq();
        let mut touched = self.unplace(before.cookie(), seq);
        if let Some(index) = self.list.rules().iter().position(|r| r.id() == id) {
            touched.extend(self.place(index, seq));
        }
        Ok(self.receipt(seq, touched))
    }

    /// Merges `patch` into rule `id` as it is now (keys replace, `null` removes, a
    /// target replaces the target) and updates it with the result.
    pub fn patch(&mut self, id: &str, patch: &Value) -> Result<Receipt, EngineError> {
        let current = self.list.get(id).ok_or_else(|| EngineError::RuleNotFound { id: id.to_owned() })?;
        let merged = merge_patch(id, current.rule(), patch)?;
        self.update(id, merged)
    }

    /// Removes rule `id`; its cookie is deleted wherever it may be.
    pub fn delete(&mut self, id: &str) -> Result<Receipt, EngineError> {
        let removed = self.list.remove(id)?;
        let seq = self.next_seq();
        let touched = self.unplace(removed.cookie(), seq);
        Ok(self.receipt(seq, touched))
    }

    /// Puts the rules in the order of `ids` (a permutation of every id, first =
    /// highest priority); every rule moves to a new priority and generation.
    pub fn reorder(&mut self, ids: &[String]) -> Result<Receipt, EngineError> {
        self.list.reorder(ids)?;
        let seq = self.next_seq();
        let touched = self.rebuild_all(seq);
        Ok(self.receipt(seq, touched))
    }

    /// Reserves rule number `number` for `owner` (a provider's key, not `rule:...`):
    /// no rule id mapping to it will be accepted.
    pub fn reserve_number(&mut self, owner: &str, number: u64) -> Result<(), EngineError> {
        self.list.reserve_number(owner, number)
    }

    // ---- topology and switch events ----

    /// The VIF interfaces of every bridge of `host` now (after a plug, unplug,
    /// migration, ofport change): the flows of its switches follow. A bridge no
    /// longer listed keeps its switch, which then should hold none of our flows.
    pub fn set_topology(&mut self, host: &str, bridges: HostTopology) -> Receipt {
        let seq = self.next_seq();
        for bridge in bridges.keys() {
            self.switches.entry(SwitchId::new(host, bridge.clone())).or_insert_with(|| Switch::new(self.table_id));
        }
        self.topology.insert(host.to_owned(), bridges);
        let ids: Vec<SwitchId> = self.switches.keys().filter(|s| s.host == host).cloned().collect();
        let touched = ids.into_iter().filter(|sid| self.rebuild(sid, seq)).collect();
        self.receipt(seq, touched)
    }

    /// Forgets `host`: its topology and switches (a batch in flight there is
    /// forgotten too, and [`batch_done`](Self::batch_done) refuses its id). Its
    /// flows stay on its switches.
    pub fn forget_host(&mut self, host: &str) {
        self.topology.remove(host);
        self.switches.retain(|sid, _| sid.host != host);
        self.in_flight.retain(|_, sid| sid.host != host);
    }

    /// The switch restarted (or was reset) and holds none of our flows: its next
    /// batch re-sends every desired flow. Call it when its channel comes back.
    pub fn switch_lost(&mut self, host: &str, bridge: &str) -> Receipt {
        let seq = self.next_seq();
        let sid = SwitchId::new(host, bridge);
        let table_id = self.table_id;
        let sw = self.switches.entry(sid.clone()).or_insert_with(|| Switch::new(table_id));
        sw.lost();
        sw.changed = seq;
        self.receipt(seq, vec![sid])
    }

    /// After a failed batch the switch is parked; this lets its repair batch go
    /// (the driver's backoff elapsed). False when it was not parked.
    pub fn retry(&mut self, host: &str, bridge: &str) -> bool {
        match self.switches.get_mut(&SwitchId::new(host, bridge)) {
            Some(sw) if sw.parked => {
                sw.parked = false;
                true
            }
            _ => false,
        }
    }

    // ---- batches ----

    /// The next batch to send, for a switch with work and no batch in flight.
    pub fn poll_batch(&mut self) -> Option<Batch> {
        let (sid, sw) = self.switches.iter_mut().find(|(_, sw)| sw.is_ready())?;
        let plan = sw.plan();
        self.last_batch += 1;
        let id = self.last_batch;
        sw.send(id, plan.changes, self.seq);
        self.in_flight.insert(id, sid.clone());
        Some(Batch {
            host: sid.host.clone(),
            bridge: sid.bridge.clone(),
            id,
            through: self.seq,
            adds: plan.adds,
            deletes: plan.deletes,
        })
    }

    /// The outcome of batch `id`: `ok` once both barriers were confirmed. A failed
    /// batch leaves the switch unknown (some of it may have landed): it is parked
    /// until [`retry`](Self::retry), and its next batch re-sends every desired
    /// flow and deletes every flow of ours that may be there.
    pub fn batch_done(&mut self, id: u64, ok: bool) -> Result<(), EngineError> {
        let sid = self.in_flight.remove(&id).ok_or(EngineError::UnknownBatch { id })?;
        if let Some(sw) = self.switches.get_mut(&sid) {
            sw.done(ok);
        }
        Ok(())
    }

    // ---- internals ----

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn receipt(&self, seq: u64, mut switches: Vec<SwitchId>) -> Receipt {
        switches.sort();
        switches.dedup();
        Receipt { seq, switches }
    }

    /// After an insert: the new rules (at `indices`) placed, or the whole list
    /// spread again.
    fn after_placement(&mut self, placement: Placement, indices: std::ops::Range<usize>) -> Receipt {
        let seq = self.next_seq();
        let touched = match placement {
            Placement::Slotted => indices.flat_map(|i| self.place(i, seq)).collect(),
            Placement::Respread => self.rebuild_all(seq),
        };
        self.receipt(seq, touched)
    }

    /// The flows `rule` compiles to on `sid`, or none when it does not land there.
    fn flows_on(&self, rule: &RuleState, sid: &SwitchId) -> Option<Vec<FlowMod>> {
        if rule.host().is_some_and(|h| h != sid.host) {
            return None;
        }
        let interfaces: &[Interface] =
            self.topology.get(&sid.host).and_then(|t| t.get(&sid.bridge)).map_or(&[], Vec::as_slice);
        let eps = endpoints(rule.rule(), interfaces);
        let cookie = rule.cookie();
        (!eps.is_empty()).then(|| compile(rule.rule(), &eps, rule.priority(), cookie, self.table_id))
    }

    /// Puts the current cookie of the rule at `index` on every switch where it lands.
    fn place(&mut self, index: usize, seq: u64) -> Vec<SwitchId> {
        let Some(rule) = self.list.rules().get(index) else { return Vec::new() };
        let placed: Vec<(SwitchId, Vec<FlowMod>)> =
            self.switches.keys().filter_map(|sid| self.flows_on(rule, sid).map(|flows| (sid.clone(), flows))).collect();
        let cookie = rule.cookie();
        let mut touched = Vec::with_capacity(placed.len());
        for (sid, flows) in placed {
            if let Some(sw) = self.switches.get_mut(&sid) {
                sw.want(cookie, flows);
                sw.changed = seq;
                touched.push(sid);
            }
        }
        touched
    }

    /// Takes `cookie` out of every switch's desired flows.
    fn unplace(&mut self, cookie: u64, seq: u64) -> Vec<SwitchId> {
        let mut touched = Vec::new();
        for (sid, sw) in &mut self.switches {
            if sw.unwant(cookie) {
                sw.changed = seq;
                touched.push(sid.clone());
            }
        }
        touched
    }

    /// Recomputes the desired flows of `sid` from every rule; true when they changed.
    fn rebuild(&mut self, sid: &SwitchId, seq: u64) -> bool {
        let mut desired = FlowTable::new(self.table_id);
        for rule in self.list.rules() {
            if let Some(flows) = self.flows_on(rule, sid) {
                desired.put(rule.cookie(), flows);
            }
        }
        let Some(sw) = self.switches.get_mut(sid) else { return false };
        if !sw.replace_desired(desired) {
            return false;
        }
        sw.changed = seq;
        true
    }

    fn rebuild_all(&mut self, seq: u64) -> Vec<SwitchId> {
        let ids: Vec<SwitchId> = self.switches.keys().cloned().collect();
        ids.into_iter().filter(|sid| self.rebuild(sid, seq)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::flow::FlowModCommand;
    use crate::openflow::text::{format_flow_mod, format_match};
    use crate::rules::rule::parse_rule;
    use serde_json::json;

    const VIF: &str = "00000000-0000-0000-0000-000000000001";
    const VM: &str = "00000000-0000-0000-0000-0000000000a1";
    const NET: &str = "00000000-0000-0000-0000-0000000000b1";
    const MAC: &str = "ae:f7:4b:84:6c:8b";

    fn seed() -> Rule {
        parse_rule(&json!({ "vif": { "uuid": VIF, "mac": MAC }, "allow": false, "protocol": "SIP",
                             "ipRange": "192.168.5.55", "direction": "from" }))
        .unwrap()
    }

    /// IPv4 only (0.0.0.0/0): one flow per VIF, whatever the engine does with it.
    fn pool(port: u16) -> Rule {
        parse_rule(&json!({ "pool": true, "allow": true, "protocol": "tcp", "port": port, "ipRange": "0.0.0.0/0",
                            "direction": "to" }))
        .unwrap()
    }

    fn iface(ofport: u32) -> Interface {
        Interface {
            ofport,
            mac: Some(MAC.parse().unwrap()),
            vif_uuid: VIF.into(),
            vm_uuid: Some(VM.into()),
            networks: vec![NET.into()],
        }
    }

    fn topo(interfaces: Vec<Interface>) -> HostTopology {
        BTreeMap::from([("xenbr0".to_owned(), interfaces)])
    }

    fn engine() -> Engine {
        let mut e = Engine::new(PriorityBand::RULES_DEFAULT, 0);
        e.set_topology("h1", topo(vec![iface(4)]));
        e.set_topology("h2", topo(vec![]));
        e
    }

    /// `add <flow>` / `delete cookie=C/MASK <match>` lines, to compare batches as text.
    fn lines(mods: &[FlowMod]) -> Vec<String> {
        mods.iter()
            .map(|m| match m.command {
                FlowModCommand::ADD => format!("add {}", format_flow_mod(m)),
                FlowModCommand::DELETE_STRICT => {
                    format!(
                        "delete_strict cookie={:#x}/{:#x} priority={},{}",
                        m.cookie,
                        m.cookie_mask,
                        m.priority,
                        format_match(&m.flow_match)
                    )
                }
                c => format!(
                    "{} cookie={:#x}/{:#x} {}",
                    c.name().unwrap_or("?"),
                    m.cookie,
                    m.cookie_mask,
                    format_match(&m.flow_match)
                ),
            })
            .map(|l| l.trim_end().to_owned())
            .collect()
    }

    /// Sends every batch there is and confirms it; returns them.
    fn drain(e: &mut Engine) -> Vec<Batch> {
        let mut out = Vec::new();
        while let Some(b) = e.poll_batch() {
            e.batch_done(b.id, true).unwrap();
            out.push(b);
        }
        out
    }

    fn cookie(e: &Engine, id: &str) -> u64 {
        e.rule(id).unwrap().cookie()
    }

    #[test]
    fn the_seed_rule_lands_on_the_host_of_its_vif_as_in_the_readme() {
        let mut e = engine();
        let r = e.add("sip", seed(), None, None).unwrap();
        assert_eq!(r.switches, vec![SwitchId::new("h1", "xenbr0")], "h2 has no such VIF");
        let c = cookie(&e, "sip");
        assert_eq!(c, 0x5d4e_0000_0000_0000 | 0x97_a397_949f);
        let b = e.poll_batch().unwrap();
        assert_eq!((b.host.as_str(), b.bridge.as_str(), b.through), ("h1", "xenbr0", r.seq));
        assert_eq!(
            lines(&b.adds),
            vec![format!(
                "add cookie={c:#x}, priority=34998,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_dst=192.168.5.55,tp_dst=5060 actions=drop"
            )]
        );
        assert!(b.deletes.is_empty());
        assert_eq!(e.poll_batch(), None, "one batch in flight per switch, none due elsewhere");
        assert!(!e.settled());
        e.batch_done(b.id, true).unwrap();
        assert!(e.settled());
        assert_eq!(e.status("h1", "xenbr0").map(|s| (s.confirmed, s.exact)), Some((r.seq, true)));
        assert_eq!(e.batch_done(b.id, true).unwrap_err().code(), "ERR_INVALID_ARG_VALUE", "confirmed twice");
        assert_eq!(lines(&e.desired("h1", "xenbr0")), lines(&b.adds));
    }

    #[test]
    fn an_update_adds_the_new_generation_before_deleting_the_old_one() {
        let mut e = engine();
        e.add("sip", seed(), None, None).unwrap();
        drain(&mut e);
        let old = cookie(&e, "sip");
        e.patch("sip", &json!({ "protocol": "sip-tls" })).unwrap();
        let new = cookie(&e, "sip");
        assert_eq!(new, old + (1 << 40), "next generation");
        let b = e.poll_batch().unwrap();
        assert_eq!(b.adds.len(), 1);
        assert_eq!((b.adds[0].cookie, b.adds[0].flow_match.tp_dst), (new, Some(5061)));
        assert_eq!(lines(&b.deletes), vec![format!("delete cookie={old:#x}/0xffffffffffffffff")], "by exact cookie");
    }

    #[test]
    fn commands_during_a_batch_merge_into_the_next_one() {
        let mut e = engine();
        e.add("sip", seed(), None, None).unwrap();
        let first = e.poll_batch().unwrap();
        let g0 = first.adds[0].cookie;
        // Two patches while the add is on its way: the second merges into the first.
        e.patch("sip", &json!({ "protocol": "tcp", "port": 80 })).unwrap();
        let last = e.patch("sip", &json!({ "ipRange": null })).unwrap();
        assert_eq!(e.poll_batch(), None, "the switch is busy");
        e.batch_done(first.id, true).unwrap();
        let next = e.poll_batch().unwrap();
        assert_eq!(next.through, last.seq);
        let c = cookie(&e, "sip");
        let from = "in_port=4,dl_src=ae:f7:4b:84:6c:8b,tp_dst=80 actions=drop";
        assert_eq!(
            lines(&next.adds),
            vec![
                format!("add cookie={c:#x}, priority=34998,tcp,{from}"),
                format!("add cookie={c:#x}, priority=34998,tcp6,{from}"),
            ],
            "port 80 from the first patch, no range after the second: IPv4 and IPv6"
        );
        assert_eq!(next.deletes.iter().map(|d| d.cookie).collect::<Vec<_>>(), vec![g0], "generation 1 never sent");
        e.batch_done(next.id, true).unwrap();
        assert!(e.settled());
    }

    #[test]
    fn an_update_then_a_delete_leaves_nothing_of_either_generation() {
        let mut e = engine();
        e.add("sip", seed(), None, None).unwrap();
        let first = e.poll_batch().unwrap();
        e.update("sip", pool(22)).unwrap();
        e.delete("sip").unwrap();
        e.batch_done(first.id, true).unwrap();
        let next = e.poll_batch().unwrap();
        assert!(next.adds.is_empty());
        assert_eq!(next.deletes.iter().map(|d| d.cookie).collect::<Vec<_>>(), vec![first.adds[0].cookie]);
        e.batch_done(next.id, true).unwrap();
        assert!(e.settled() && e.desired("h1", "xenbr0").is_empty());

        // Added and deleted before any batch: an empty batch confirms the commands.
        let r = e.add("x", pool(22), None, None).unwrap();
        e.delete("x").unwrap();
        let b = e.poll_batch().unwrap();
        assert!(b.adds.is_empty() && b.deletes.is_empty() && b.through > r.seq);
        e.batch_done(b.id, true).unwrap();
        assert_eq!(e.delete("x").unwrap_err().code(), "SDN_RULE_NOT_FOUND");
    }

    #[test]
    fn a_failed_batch_parks_the_switch_then_repairs_it_whatever_landed() {
        let mut e = engine();
        e.add("a", pool(22), None, None).unwrap();
        drain(&mut e);
        let a0 = cookie(&e, "a");
        e.add("b", pool(80), None, None).unwrap();
        e.update("a", pool(23)).unwrap();
        let b = e.poll_batch().unwrap();
        assert_eq!(b.adds.len(), 2, "a gen 1 and b");
        e.batch_done(b.id, false).unwrap();
        let s = e.status("h1", "xenbr0").unwrap();
        assert!(s.parked && s.pending && !s.exact);
        assert_eq!(e.poll_batch(), None, "parked until retry");
        assert!(!e.settled());
        assert!(e.retry("h1", "xenbr0"));
        assert!(!e.retry("h1", "xenbr0"), "once");
        let repair = e.poll_batch().unwrap();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(sorted(lines(&repair.adds)), sorted(lines(&e.desired("h1", "xenbr0"))), "every desired flow again");
        assert_eq!(repair.deletes.iter().map(|d| d.cookie).collect::<Vec<_>>(), vec![a0], "and whatever may be left");
        e.batch_done(repair.id, true).unwrap();
        assert!(e.settled() && e.status("h1", "xenbr0").unwrap().exact);
        // Back to exact: the next command sends only its difference.
        e.delete("b").unwrap();
        let b = e.poll_batch().unwrap();
        assert_eq!((b.adds.len(), b.deletes.len()), (0, 1));
    }

    #[test]
    fn a_lost_switch_gets_everything_again() {
        let mut e = engine();
        e.add("a", pool(22), None, None).unwrap();
        e.add("b", pool(80), None, None).unwrap();
        drain(&mut e);
        e.switch_lost("h1", "xenbr0");
        let b = e.poll_batch().unwrap();
        assert_eq!((b.adds.len(), b.deletes.len()), (2, 0), "it is empty: nothing to delete");
        // Lost again while that batch is on its way: whatever it reports, repair.
        e.switch_lost("h1", "xenbr0");
        e.batch_done(b.id, true).unwrap();
        let again = e.poll_batch().unwrap();
        assert_eq!(again.adds.len(), 2);
        e.batch_done(again.id, true).unwrap();
        assert!(e.settled());

        // A host forgotten with a batch on its way: the batch is forgotten too.
        e.add("c", pool(81), None, None).unwrap();
        let b = e.poll_batch().unwrap();
        e.forget_host("h1");
        assert_eq!(e.batch_done(b.id, true).unwrap_err().code(), "ERR_INVALID_ARG_VALUE");
        assert!(e.settled() && e.status("h1", "xenbr0").is_none());
        assert!(e.switches().all(|s| s.host == "h2"));
    }

    #[test]
    fn flows_follow_plugs_migrations_ofports_and_host_restrictions() {
        let mut e = engine();
        let vm = parse_rule(&json!({ "vm": { "uuid": VM }, "allow": false, "direction": "from" })).unwrap();
        e.add("vm", vm, None, None).unwrap();
        drain(&mut e);
        let c = cookie(&e, "vm");
        let ports = |e: &Engine, h: &str| {
            e.desired(h, "xenbr0").iter().map(|f| f.flow_match.in_port.map(|p| p.0)).collect::<Vec<_>>()
        };
        assert_eq!(ports(&e, "h1"), vec![Some(4)]);

        // The tap appears (HVM guest): one more flow, same cookie.
        let r = e.set_topology("h1", topo(vec![iface(4), iface(5)]));
        assert_eq!(r.switches, vec![SwitchId::new("h1", "xenbr0")]);
        let b = drain(&mut e);
        assert_eq!((b.len(), b[0].adds.len(), b[0].deletes.len()), (1, 1, 0));
        assert_eq!(b[0].adds[0].cookie, c);

        // The same topology again: nothing changes, no batch.
        assert!(e.set_topology("h1", topo(vec![iface(4), iface(5)])).switches.is_empty());
        assert_eq!(e.poll_batch(), None);

        // Migration to h2 with new ofports: h2 gets the flows, h1 loses them.
        e.set_topology("h2", topo(vec![iface(7)]));
        e.set_topology("h1", topo(vec![]));
        let b = drain(&mut e);
        let by_host = |h: &str| b.iter().find(|x| x.host == h).unwrap();
        assert_eq!(lines(&by_host("h2").adds).len(), 1);
        assert_eq!(by_host("h1").deletes.iter().map(|d| d.cookie).collect::<Vec<_>>(), vec![c]);
        assert_eq!(ports(&e, "h2"), vec![Some(7)]);

        // An ofport change on the same host: the flow moves under the same cookie
        // (one add, one strict delete of the old port's flow).
        e.set_topology("h2", topo(vec![iface(8)]));
        let b = drain(&mut e);
        assert_eq!(b[0].adds[0].flow_match.in_port.map(|p| p.0), Some(8));
        assert_eq!(
            (b[0].deletes[0].command, b[0].deletes[0].flow_match.in_port.map(|p| p.0)),
            (FlowModCommand::DELETE_STRICT, Some(7))
        );

        // A rule restricted to h1 does not land on h2, where the VIF is.
        let r = e.add("only-h1", pool(22), None, Some("h1".into())).unwrap();
        assert!(r.switches.is_empty());
        e.set_topology("h1", topo(vec![iface(9)]));
        assert_eq!(e.desired("h1", "xenbr0").iter().filter(|f| f.cookie == cookie(&e, "only-h1")).count(), 1);
        assert!(e.desired("h2", "xenbr0").iter().all(|f| f.cookie != cookie(&e, "only-h1")));
    }

    #[test]
    fn a_respread_rewrites_every_rule_make_before_break() {
        let mut e = engine();
        e.add("a", pool(22), None, None).unwrap();
        drain(&mut e);
        let a0 = cookie(&e, "a");
        e.add("b", pool(80), Some(0), None).unwrap(); // above a at 34998: no room
        assert_eq!(
            e.rules().iter().map(|r| (r.priority(), r.generation())).collect::<Vec<_>>(),
            vec![(34998, 1), (34982, 1)]
        );
        let b = e.poll_batch().unwrap();
        assert_eq!(b.adds.len(), 2, "both rules at their new priorities");
        assert_eq!(b.deletes.iter().map(|d| d.cookie).collect::<Vec<_>>(), vec![a0], "then a's old generation");
    }

    #[test]
    fn refused_commands_change_nothing() {
        let mut e = engine();
        e.add("a", pool(22), None, None).unwrap();
        drain(&mut e);
        let before = (e.rules().to_vec(), e.desired("h1", "xenbr0"));
        let refused = [
            e.add("a", pool(1), None, None).unwrap_err(),
            e.add("b", pool(1), Some(5), None).unwrap_err(),
            e.update("zz", pool(1)).unwrap_err(),
            e.patch("a", &json!({ "protocol": "icmp" })).unwrap_err(),
            e.patch("a", &json!("port")).unwrap_err(),
            e.delete("zz").unwrap_err(),
            e.reorder(&["a".into(), "a".into()]).unwrap_err(),
            e.add_many(vec![("c".into(), pool(1)), ("a".into(), pool(2))], None).unwrap_err(),
        ];
        let codes: Vec<&str> = refused.iter().map(EngineError::code).collect();
        assert_eq!(
            codes,
            [
                "SDN_RULE_EXISTS",
                "ERR_OUT_OF_RANGE",
                "SDN_RULE_NOT_FOUND",
                "ERR_INVALID_ARG_VALUE",
                "ERR_INVALID_ARG_TYPE",
                "SDN_RULE_NOT_FOUND",
                "ERR_INVALID_ARG_VALUE",
                "SDN_RULE_EXISTS"
            ]
        );
        assert_eq!((e.rules().to_vec(), e.desired("h1", "xenbr0")), before);
        assert_eq!(e.poll_batch(), None, "and nothing to send");
        let mut full = Engine::new(PriorityBand::for_rules(10000, 10001).unwrap(), 0); // one rule
        full.add("a", pool(22), None, None).unwrap();
        assert_eq!(full.add("b", pool(22), Some(0), None).unwrap_err().code(), "SDN_TOO_MANY_RULES");
        full.reserve_number("provider:sg", stable_number("rule:b")).unwrap();
        full.delete("a").unwrap();
        assert_eq!(full.add("b", pool(22), None, None).unwrap_err().code(), "SDN_RULE_ID_COLLISION");
    }
}
