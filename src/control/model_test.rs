//! Model-based test of the engine: random interleavings of commands, topology
//! changes, lost switches and batch deliveries (some late, some failing part-way),
//! checked against a reference model and simulated Open vSwitch tables.
//!
//! The reference model is a plain ordered `Vec` of `(id, rule, host)`: no
//! priorities, no generations, no cookies. What a switch should hold is computed
//! from it by compiling each rule for the interfaces it targets (its own endpoint
//! selection, written here again) at an arbitrary priority, and compared on what
//! does not depend on the engine's choices: per rule, the set of (match, actions);
//! the relative order of the rules' priorities; one cookie per rule carrying the
//! rule's number (SHA-256 of `rule:<id>`, computed here again).
//!
//! Checked at every step:
//! * the engine's desired flows equal the model's (so every command means what
//!   the model says, e.g. a patch merges into the rule as it is then);
//! * no gap: a flow of a rule expected at the last quiescent point and expected
//!   ever since (same rule, same interface, switch not lost) is on the switch,
//!   under that rule's number, unless the new order shadows it (a rule above it
//!   with an identical match holds the key);
//! * the foreign flow (XAPI's, cookie 0x1) is never touched.
//!
//! Checked at every quiescent point (no batch in flight, none due): the switch
//! holds exactly the model's flows, one generation per rule, in the model's order,
//! in the band; a deleted rule has nothing left.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use ring::digest::{digest, SHA256};
use serde_json::{json, Map, Value};

use super::bands::PriorityBand;
use super::engine::{Batch, Engine};
use super::topology::{HostTopology, Interface};
use crate::openflow::flow::{FlowMod, FlowModCommand};
use crate::openflow::instruction::Instruction;
use crate::rules::compile::{compile, Endpoint};
use crate::rules::rule::{parse_rule, Rule, Target};
use crate::rules::table::MatchKey;

// ---- randomness ----

/// xorshift64: small, deterministic, good enough to shuffle test steps.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Never 0 (a fixed point), and seeds 1, 2, 3 far apart.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---- the world: 2 hosts x 1 bridge, 4 VIFs on 2 VMs, 2 networks ----

const HOSTS: [&str; 2] = ["h1", "h2"];
const BRIDGE: &str = "xenbr0";
const IDS: [&str; 10] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"];
const FOREIGN_COOKIE: u64 = 1;
const FOREIGN_PRIORITY: u16 = 4000;

fn uuid(n: u32) -> String {
    format!("00000000-0000-0000-0000-{n:012x}")
}

fn vif_uuid(i: usize) -> String {
    uuid(0x100 + i as u32)
}

fn vif_mac(i: usize) -> String {
    format!("02:00:00:00:00:{:02x}", i + 1)
}

fn vm_uuid(i: usize) -> String {
    uuid(0x200 + (i / 2) as u32) // VIFs 0, 1 on one VM; 2, 3 on the other
}

fn net_uuid(n: usize) -> String {
    uuid(0x300 + n as u32)
}

/// The rule number of `id`, independently of `control::numbers`.
fn number_of(id: &str) -> u64 {
    let d = digest(&SHA256, format!("rule:{id}").as_bytes());
    let b = d.as_ref();
    let n = u64::from_be_bytes([0, 0, 0, b[0], b[1], b[2], b[3], b[4]]);
    if n == 0 {
        1
    } else {
        n
    }
}

fn random_rule(rng: &mut Rng) -> Value {
    let mut r = Map::new();
    match rng.below(4) {
        0 => {
            let i = rng.below(4);
            // Usually the VIF's own MAC; sometimes another, as a caller may give.
            let mac = if rng.percent(80) { vif_mac(i) } else { "02:00:00:00:00:77".into() };
            let mut vif = json!({ "uuid": vif_uuid(i), "mac": mac });
            if rng.percent(30) {
                vif["ips"] = json!([format!("10.0.0.{}", i + 1)]);
            }
            r.insert("vif".into(), vif);
        }
        1 => {
            r.insert("vm".into(), json!({ "uuid": vm_uuid(2 * rng.below(2)) }));
        }
        2 => {
            r.insert("network".into(), json!({ "uuid": net_uuid(rng.below(2)) }));
        }
        _ => {
            r.insert("pool".into(), json!(true));
        }
    }
    r.insert("allow".into(), json!(rng.percent(50)));
    match rng.below(7) {
        0 => {}
        1 => {
            r.insert("protocol".into(), json!("tcp"));
            r.insert("port".into(), rng.pick(&[json!(22), json!(80), json!([1000, 1001])]).clone());
        }
        2 => {
            r.insert("protocol".into(), json!("udp"));
            r.insert("port".into(), json!(53));
        }
        3 => {
            r.insert("protocol".into(), json!("icmp"));
            if rng.percent(50) {
                r.insert("icmpType".into(), json!(8));
            }
        }
        4 => {
            r.insert("protocol".into(), json!("ip"));
            // Without a range, a deny has its ND carve-outs one priority above it.
            if rng.percent(50) {
                r.insert("ipRange".into(), json!("10.1.0.0/16"));
            }
        }
        5 => {
            r.insert("protocol".into(), json!("arp"));
        }
        _ => {
            r.insert("protocol".into(), json!("ssh"));
        }
    }
    r.insert("direction".into(), rng.pick(&[json!("from"), json!("to"), json!("both")]).clone());
    Value::Object(r)
}

/// A patch: a few keys, some invalid for some rules (a port on icmp...), some
/// removing a key (null), some replacing the target.
fn random_patch(rng: &mut Rng) -> Value {
    let choices = [
        ("port", json!(443)),
        ("port", Value::Null),
        ("protocol", json!("udp")),
        ("protocol", json!("tcp")),
        ("protocol", Value::Null),
        ("ipRange", json!("192.168.0.0/24")),
        ("ipRange", Value::Null),
        ("direction", json!("both")),
        ("direction", json!("from")),
        ("allow", json!(true)),
        ("allow", json!(false)),
        ("description", json!("patched")),
        ("network", json!({ "uuid": net_uuid(1) })),
        ("pool", json!(true)),
    ];
    let mut p = Map::new();
    for _ in 0..1 + rng.below(2) {
        let (k, v) = rng.pick(&choices);
        p.insert((*k).to_owned(), v.clone());
    }
    Value::Object(p)
}

fn random_topology(rng: &mut Rng) -> Vec<Interface> {
    let mut ports: Vec<u32> = (1..=10).collect();
    for i in (1..ports.len()).rev() {
        ports.swap(i, rng.below(i + 1));
    }
    let networks = match rng.below(3) {
        0 => vec![net_uuid(0)],
        1 => vec![net_uuid(1)],
        _ => vec![net_uuid(0), net_uuid(1)],
    };
    let mut out = Vec::new();
    for i in 0..4 {
        if rng.percent(30) {
            continue;
        }
        let mac = if rng.percent(90) { vif_mac(i).parse().ok() } else { None };
        let iface = |ofport| Interface {
            ofport,
            mac,
            vif_uuid: vif_uuid(i),
            vm_uuid: Some(vm_uuid(i)),
            networks: networks.clone(),
        };
        out.push(iface(ports.pop().unwrap_or(99)));
        if rng.percent(25) {
            out.push(iface(ports.pop().unwrap_or(98))); // the tap of an HVM guest
        }
    }
    out
}

// ---- the reference model ----

/// A flow as the model compares it: match and actions, not priority nor cookie.
type Sig = (MatchKey, String);

fn sig_of(m: &crate::openflow::flow_match::Match, instructions: &[Instruction]) -> Sig {
    (MatchKey::of(m), format!("{instructions:?}"))
}

#[derive(Clone, Debug)]
struct ModelRule {
    id: String,
    rule: Rule,
    host: Option<String>,
}

struct Model {
    rules: Vec<ModelRule>,
    capacity: usize,
    topology: BTreeMap<String, Vec<Interface>>,
}

/// Where a rule lands, as the README says it, written again for the model.
fn model_endpoints(rule: &Rule, interfaces: &[Interface]) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for i in interfaces {
        match &rule.target {
            Target::Vif(v) if v.uuid == i.vif_uuid => {
                out.push(Endpoint::locked(i.ofport, v.mac, &v.ips))
            }
            Target::Vif(_) => {}
            target => {
                let hit = match target {
                    Target::Vm { uuid } => i.vm_uuid.as_ref() == Some(uuid),
                    Target::Network { uuid } => i.networks.contains(uuid),
                    _ => true,
                };
                if let (true, Some(mac)) = (hit, i.mac) {
                    out.push(Endpoint { ofport: i.ofport, mac, ips: vec![], ipv6: vec![] });
                }
            }
        }
    }
    out
}

impl Model {
    fn find(&self, id: &str) -> Option<usize> {
        self.rules.iter().position(|r| r.id == id)
    }

    /// Per switch (host), per rule id: the (match, actions) it should have there,
    /// in list order.
    fn expected(&self, host: &str) -> Vec<(String, BTreeSet<Sig>)> {
        let interfaces = self.topology.get(host).map_or(&[][..], Vec::as_slice);
        let mut out = Vec::new();
        for r in &self.rules {
            if r.host.as_deref().is_some_and(|h| h != host) {
                continue;
            }
            let eps = model_endpoints(&r.rule, interfaces);
            if eps.is_empty() {
                continue;
            }
            let sigs = compile(&r.rule, &eps, 1, 0, 0).iter().map(|f| sig_of(&f.flow_match, &f.instructions)).collect();
            out.push((r.id.clone(), sigs));
        }
        out
    }

    fn merge(&self, id: &str, patch: &Value) -> Result<Rule, &'static str> {
        let i = self.find(id).ok_or("SDN_RULE_NOT_FOUND")?;
        let p = patch.as_object().ok_or("ERR_INVALID_ARG_TYPE")?;
        if p.contains_key("id") && p["id"] != json!(id) {
            return Err("ERR_INVALID_ARG_VALUE");
        }
        let Value::Object(mut rule) = self.rules[i].rule.to_json() else { unreachable!() };
        let targets = ["vif", "vm", "network", "pool"];
        if targets.iter().any(|t| p.get(*t).is_some_and(|v| !v.is_null())) {
            rule.retain(|k, _| !targets.contains(&k.as_str()));
        }
        for (k, v) in p {
            match v {
                Value::Null => {
                    rule.remove(k);
                }
                v => {
                    rule.insert(k.clone(), v.clone());
                }
            }
        }
        rule.remove("id");
        parse_rule(&Value::Object(rule)).map_err(|e| e.code)
    }
}

// ---- Open vSwitch, simulated ----

#[derive(Clone, Debug)]
struct SimFlow {
    cookie: u64,
    sig: Sig,
}

/// One bridge's table 0 with OVS's FLOW_MOD semantics for what the engine sends.
#[derive(Default)]
struct SimSwitch {
    flows: BTreeMap<(u8, u16, MatchKey), SimFlow>,
}

impl SimSwitch {
    fn new() -> Self {
        let mut s = SimSwitch::default();
        s.flows.insert(
            (0, FOREIGN_PRIORITY, MatchKey::default()),
            SimFlow { cookie: FOREIGN_COOKIE, sig: (MatchKey::default(), "xapi".into()) },
        );
        s
    }

    fn apply(&mut self, fm: &FlowMod) {
        let key = (fm.table_id, fm.priority, MatchKey::of(&fm.flow_match));
        let selected = |c: u64| c & fm.cookie_mask == fm.cookie & fm.cookie_mask;
        match fm.command {
            // ADD replaces a flow with the same table, priority and match, cookie included.
            FlowModCommand::ADD => {
                self.flows.insert(key, SimFlow { cookie: fm.cookie, sig: sig_of(&fm.flow_match, &fm.instructions) });
            }
            FlowModCommand::DELETE => {
                assert_eq!(
                    MatchKey::of(&fm.flow_match),
                    MatchKey::default(),
                    "the sim deletes non-strict by cookie only"
                );
                self.flows.retain(|k, f| !((fm.table_id == 0xff || k.0 == fm.table_id) && selected(f.cookie)));
            }
            FlowModCommand::DELETE_STRICT => {
                if self.flows.get(&key).is_some_and(|f| selected(f.cookie)) {
                    self.flows.remove(&key);
                }
            }
            other => panic!("the engine sent {other:?}"),
        }
    }
}

// ---- the harness ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Sent,
    AddsDone,
}

struct Flight {
    batch: Batch,
    phase: Phase,
}

struct Harness {
    seed: u64,
    step: usize,
    rng: Rng,
    engine: Engine,
    model: Model,
    sims: BTreeMap<String, SimSwitch>,
    flights: Vec<Flight>,
    /// Per (host, rule id): flows expected since the last quiescent point without
    /// interruption (see the module doc).
    stable: BTreeMap<(String, String), BTreeSet<Sig>>,
    band: PriorityBand,
    trace: Vec<String>,
    quiescent_checks: usize,
    refused: usize,
}

impl Harness {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        // In rules: a rule takes two priorities (its own and the one above, for its
        // exceptions), so the band has twice as many.
        let capacity = *rng.pick(&[6u16, 10, 40, 12500]);
        let band = if capacity == 12500 {
            PriorityBand::RULES_DEFAULT
        } else {
            PriorityBand::for_rules(20000, 20000 + 2 * capacity - 1).expect("a valid band")
        };
        let mut h = Harness {
            seed,
            step: 0,
            rng,
            engine: Engine::new(band, 0),
            model: Model { rules: Vec::new(), capacity: usize::from(capacity), topology: BTreeMap::new() },
            sims: HOSTS.iter().map(|h| ((*h).to_owned(), SimSwitch::new())).collect(),
            flights: Vec::new(),
            stable: BTreeMap::new(),
            band,
            trace: Vec::new(),
            quiescent_checks: 0,
            refused: 0,
        };
        for host in HOSTS {
            let t = random_topology(&mut h.rng);
            h.set_topology(host, t);
        }
        h
    }

    fn fail(&self, what: String) -> ! {
        let mut s = format!("seed {} step {}: {what}\nlast actions:\n", self.seed, self.step);
        for t in self.trace.iter().rev().take(25).rev() {
            let _ = writeln!(s, "  {t}");
        }
        panic!("{s}");
    }

    fn log(&mut self, what: String) {
        self.trace.push(what);
    }

    /// The model result and the engine result of one command must agree.
    fn agree(&mut self, what: &str, model: Result<(), &'static str>, engine: Result<(), &'static str>) -> bool {
        self.log(format!("{what} -> {engine:?}"));
        if model != engine {
            self.fail(format!("{what}: model says {model:?}, engine says {engine:?}"));
        }
        if model.is_err() {
            self.refused += 1;
        }
        model.is_ok()
    }

    fn set_topology(&mut self, host: &str, interfaces: Vec<Interface>) {
        let ports: Vec<String> = interfaces.iter().map(|i| format!("{}:{}", &i.vif_uuid[33..], i.ofport)).collect();
        self.log(format!("set_topology {host} [{}]", ports.join(" ")));
        self.model.topology.insert(host.to_owned(), interfaces.clone());
        let t: HostTopology = BTreeMap::from([(BRIDGE.to_owned(), interfaces)]);
        self.engine.set_topology(host, t);
    }

    // ---- one random command ----

    /// A rule id: mostly one that exists (`existing`) or one that does not, so
    /// that most commands are accepted and some are refused.
    fn some_id(&mut self, existing: bool) -> String {
        let pool: Vec<&str> = IDS.iter().copied().filter(|id| self.model.find(id).is_some() == existing).collect();
        if pool.is_empty() || self.rng.percent(15) {
            (*self.rng.pick(&IDS)).to_owned()
        } else {
            (*self.rng.pick(&pool)).to_owned()
        }
    }

    fn command(&mut self) {
        match self.rng.below(100) {
            0..=21 => {
                let id = self.some_id(false);
                let value = random_rule(&mut self.rng);
                let rule = parse_rule(&value).expect("generated rules are valid");
                let len = self.model.rules.len();
                let position = if self.rng.percent(50) { None } else { Some(self.rng.below(len + 2)) };
                let host = if self.rng.percent(75) { None } else { Some((*self.rng.pick(&HOSTS)).to_owned()) };
                let model = if position.is_some_and(|p| p > len) {
                    Err("ERR_OUT_OF_RANGE")
                } else if self.model.find(&id).is_some() {
                    Err("SDN_RULE_EXISTS")
                } else if len + 1 > self.model.capacity {
                    Err("SDN_TOO_MANY_RULES")
                } else {
                    Ok(())
                };
                let engine = self.engine.add(&id, rule.clone(), position, host.clone()).map(drop).map_err(|e| e.code());
                if self.agree(&format!("add {id} at {position:?} on {host:?}: {value}"), model, engine) {
                    let at = position.unwrap_or(len);
                    self.model.rules.insert(at, ModelRule { id, rule, host });
                }
            }
            22..=27 => {
                let n = 1 + self.rng.below(3);
                let batch: Vec<(String, Rule)> = (0..n)
                    .map(|_| {
                        let id = self.some_id(false);
                        let rule = parse_rule(&random_rule(&mut self.rng)).expect("generated rules are valid");
                        (id, rule)
                    })
                    .collect();
                let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
                let distinct: BTreeSet<&str> = ids.iter().copied().collect();
                let model = if distinct.len() != ids.len() || ids.iter().any(|id| self.model.find(id).is_some()) {
                    Err("SDN_RULE_EXISTS")
                } else if self.model.rules.len() + n > self.model.capacity {
                    Err("SDN_TOO_MANY_RULES")
                } else {
                    Ok(())
                };
                let what = format!("add_many {ids:?}");
                let engine = self.engine.add_many(batch.clone(), None).map(drop).map_err(|e| e.code());
                if self.agree(&what, model, engine) {
                    self.model.rules.extend(batch.into_iter().map(|(id, rule)| ModelRule { id, rule, host: None }));
                }
            }
            28..=37 => {
                let id = self.some_id(true);
                let value = random_rule(&mut self.rng);
                let rule = parse_rule(&value).expect("generated rules are valid");
                let model = self.model.find(&id).map(drop).ok_or("SDN_RULE_NOT_FOUND");
                let engine = self.engine.update(&id, rule.clone()).map(drop).map_err(|e| e.code());
                if self.agree(&format!("update {id}: {value}"), model, engine) {
                    if let Some(i) = self.model.find(&id) {
                        self.model.rules[i].rule = rule;
                    }
                }
            }
            38..=57 => {
                let id = self.some_id(true);
                let patch = random_patch(&mut self.rng);
                let merged = self.model.merge(&id, &patch);
                let engine = self.engine.patch(&id, &patch).map(drop).map_err(|e| e.code());
                if self.agree(&format!("patch {id}: {patch}"), merged.as_ref().map(drop).map_err(|e| *e), engine) {
                    if let (Some(i), Ok(rule)) = (self.model.find(&id), merged) {
                        self.model.rules[i].rule = rule;
                    }
                }
            }
            58..=67 => {
                let id = self.some_id(true);
                let model = self.model.find(&id).map(drop).ok_or("SDN_RULE_NOT_FOUND");
                let engine = self.engine.delete(&id).map(drop).map_err(|e| e.code());
                if self.agree(&format!("delete {id}"), model, engine) {
                    self.model.rules.retain(|r| r.id != id);
                }
            }
            68..=76 => {
                let mut ids: Vec<String> = self.model.rules.iter().map(|r| r.id.clone()).collect();
                for i in (1..ids.len()).rev() {
                    ids.swap(i, self.rng.below(i + 1));
                }
                if self.rng.percent(15) {
                    // Usually not a permutation: one missing, one twice, or a stranger.
                    match self.rng.below(3) {
                        0 => drop(ids.pop()),
                        1 => ids.push(ids.first().cloned().unwrap_or_else(|| "r0".into())),
                        _ => ids.push("stranger".into()),
                    }
                }
                let mut given = ids.clone();
                given.sort();
                let mut all: Vec<String> = self.model.rules.iter().map(|r| r.id.clone()).collect();
                all.sort();
                let model = if given == all { Ok(()) } else { Err("ERR_INVALID_ARG_VALUE") };
                let engine = self.engine.reorder(&ids).map(drop).map_err(|e| e.code());
                if self.agree(&format!("reorder {ids:?}"), model, engine) {
                    let old = std::mem::take(&mut self.model.rules);
                    self.model.rules = ids.iter().filter_map(|id| old.iter().find(|r| &r.id == id).cloned()).collect();
                }
            }
            77..=94 => {
                let host = *self.rng.pick(&HOSTS);
                let t = random_topology(&mut self.rng);
                self.set_topology(host, t);
            }
            _ => {
                let host = *self.rng.pick(&HOSTS);
                self.log(format!("switch_lost {host}"));
                self.sims.insert(host.to_owned(), SimSwitch::new());
                self.engine.switch_lost(host, BRIDGE);
                // What the switch held is gone: nothing of it can be required any more.
                self.stable.retain(|(h, _), _| h != host);
            }
        }
        // Only what stays expected stays required.
        let expected = self.expected_all();
        self.stable.retain(|key, sigs| {
            let now = expected.get(key);
            sigs.retain(|s| now.is_some_and(|n| n.contains(s)));
            !sigs.is_empty()
        });
    }

    fn expected_all(&self) -> BTreeMap<(String, String), BTreeSet<Sig>> {
        let mut out = BTreeMap::new();
        for host in HOSTS {
            for (id, sigs) in self.model.expected(host) {
                out.insert((host.to_owned(), id), sigs);
            }
        }
        out
    }

    // ---- the driver ----

    fn poll(&mut self) {
        if let Some(b) = self.engine.poll_batch() {
            if self.flights.iter().any(|f| f.batch.switch() == b.switch()) {
                self.fail(format!("batch {} for {} while another is in flight there", b.id, b.switch()));
            }
            self.log(format!(
                "poll -> batch {} for {} ({} adds, {} deletes)",
                b.id,
                b.host,
                b.adds.len(),
                b.deletes.len()
            ));
            self.flights.push(Flight { batch: b, phase: Phase::Sent });
        }
    }

    /// Moves one batch on: its adds land, or its deletes land and it is confirmed;
    /// or (`may_fail`, sometimes) a part of the current phase lands and it fails.
    fn advance(&mut self, index: usize, may_fail: bool) {
        let flight = &self.flights[index];
        let (id, host, phase) = (flight.batch.id, flight.batch.host.clone(), flight.phase);
        let mods = match phase {
            Phase::Sent => flight.batch.adds.clone(),
            Phase::AddsDone => flight.batch.deletes.clone(),
        };
        let fails = may_fail && self.rng.percent(12);
        let landed = if fails { self.rng.below(mods.len() + 1) } else { mods.len() };
        self.log(format!(
            "batch {id} {phase:?}: {landed}/{} land{}",
            mods.len(),
            if fails { ", then it fails" } else { "" }
        ));
        let sim = self.sims.get_mut(&host).expect("a simulated switch per host");
        for fm in &mods[..landed] {
            sim.apply(fm);
        }
        let outcome = match (fails, phase) {
            (true, _) => Some(false),
            (false, Phase::Sent) => {
                self.flights[index].phase = Phase::AddsDone;
                None
            }
            (false, Phase::AddsDone) => Some(true),
        };
        if let Some(ok) = outcome {
            self.flights.remove(index);
            if let Err(e) = self.engine.batch_done(id, ok) {
                self.fail(format!("batch_done({id}) refused: {e}"));
            }
        }
    }

    fn retry_one(&mut self) {
        let host = *self.rng.pick(&HOSTS);
        if self.engine.retry(host, BRIDGE) {
            self.log(format!("retry {host}"));
        }
    }

    /// Delivers everything, without failures, until the engine is settled.
    fn drain(&mut self) {
        for _ in 0..50 {
            if self.flights.is_empty() && self.engine.settled() {
                return;
            }
            for host in HOSTS {
                if self.engine.retry(host, BRIDGE) {
                    self.log(format!("retry {host}"));
                }
            }
            self.poll();
            self.poll();
            while !self.flights.is_empty() {
                self.advance(0, false);
                self.check_step();
            }
        }
        self.fail("the engine does not settle".into());
    }

    // ---- checks ----

    /// The rule id of each of our cookies, from the model's ids.
    fn owners(&self) -> HashMap<u64, String> {
        self.model.rules.iter().map(|r| (number_of(&r.id), r.id.clone())).collect()
    }

    fn check_step(&mut self) {
        let owners = self.owners();
        for host in HOSTS {
            // The engine's desired flows are the model's.
            let mut desired: BTreeMap<String, BTreeSet<Sig>> = BTreeMap::new();
            for f in self.engine.desired(host, BRIDGE) {
                let n = f.cookie & crate::rules::cookie::MAX_RULE_NUMBER;
                let Some(id) = owners.get(&n) else {
                    self.fail(format!("{host}: desired flow of cookie {:#x}, no rule has that number", f.cookie))
                };
                desired.entry(id.clone()).or_default().insert(sig_of(&f.flow_match, &f.instructions));
            }
            let expected: BTreeMap<String, BTreeSet<Sig>> = self.model.expected(host).into_iter().collect();
            if desired != expected {
                self.fail(format!("{host}: engine desired {desired:#?}\nmodel expects {expected:#?}"));
            }
            let sim = &self.sims[host];
            if !sim.flows.values().any(|f| f.cookie == FOREIGN_COOKIE) {
                self.fail(format!("{host}: XAPI's flow is gone"));
            }
            // No gap: every flow required since the last quiescent point is there,
            // under its rule's number, or shadowed by a rule above it in the new order.
            let order: Vec<String> = self.model.rules.iter().map(|r| r.id.clone()).collect();
            for ((h, id), sigs) in &self.stable {
                if h != host {
                    continue;
                }
                let number = number_of(id);
                let rank = order.iter().position(|x| x == id);
                for s in sigs {
                    let present = sim.flows.values().any(|f| {
                        f.cookie & crate::rules::cookie::MAX_RULE_NUMBER == number
                            && f.cookie != FOREIGN_COOKIE
                            && &f.sig == s
                    });
                    let shadowed = sim.flows.values().any(|f| {
                        f.sig.0 == s.0
                            && owners
                                .get(&(f.cookie & crate::rules::cookie::MAX_RULE_NUMBER))
                                .and_then(|o| order.iter().position(|x| x == o))
                                .zip(rank)
                                .is_some_and(|(above, me)| above < me)
                    });
                    if !present && !shadowed {
                        self.fail(format!(
                            "{host}: gap: rule {id} lost its flow {s:?} before the next quiescent point"
                        ));
                    }
                }
            }
        }
    }

    /// No batch in flight or due: every switch holds exactly what the model says.
    fn check_quiescent(&mut self) {
        self.quiescent_checks += 1;
        let owners = self.owners();
        let band = self.band;
        for host in HOSTS {
            let sim = &self.sims[host];
            // Per rule on the switch: its cookies, priorities and flows.
            let mut cookies: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
            let mut priorities: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
            let mut held: BTreeMap<String, BTreeSet<Sig>> = BTreeMap::new();
            for ((_, priority, _), f) in &sim.flows {
                if f.cookie == FOREIGN_COOKIE {
                    continue;
                }
                let Some(id) = owners.get(&(f.cookie & crate::rules::cookie::MAX_RULE_NUMBER)) else {
                    self.fail(format!("{host}: flow of cookie {:#x} left, no rule has its number (deleted?)", f.cookie))
                };
                if !band.range().contains(priority) {
                    self.fail(format!("{host}: rule {id} at priority {priority}, outside the band"));
                }
                cookies.entry(id.clone()).or_default().insert(f.cookie);
                priorities.entry(id.clone()).or_default().insert(*priority);
                held.entry(id.clone()).or_default().insert(f.sig.clone());
            }
            for (id, c) in &cookies {
                if c.len() != 1 {
                    self.fail(format!("{host}: rule {id} has {} generations: {c:x?}", c.len()));
                }
            }
            let expected = self.model.expected(host);
            let expected_map: BTreeMap<String, BTreeSet<Sig>> = expected.iter().cloned().collect();
            if held != expected_map {
                self.fail(format!("{host}: the switch holds {held:#?}\nthe model expects {expected_map:#?}"));
            }
            // The model's order is the priorities' order.
            for pair in expected.windows(2) {
                let (upper, lower) = (&pair[0].0, &pair[1].0);
                let low_of_upper = priorities[upper].iter().min();
                let high_of_lower = priorities[lower].iter().max();
                if low_of_upper <= high_of_lower {
                    self.fail(format!(
                        "{host}: {upper} (priorities {:?}) is not above {lower} ({:?})",
                        priorities[upper], priorities[lower]
                    ));
                }
            }
        }
        // From here on, all of it is required until it stops being expected.
        self.stable = self.expected_all();
    }

    fn run(mut self, steps: usize) -> (usize, usize) {
        self.check_step();
        for step in 0..steps {
            self.step = step;
            match self.rng.below(100) {
                0..=44 => self.command(),
                45..=64 => self.poll(),
                65..=92 => {
                    if !self.flights.is_empty() {
                        let i = self.rng.below(self.flights.len());
                        self.advance(i, true);
                    }
                }
                93..=96 => self.retry_one(),
                _ => self.drain(),
            }
            self.check_step();
            if self.flights.is_empty() && self.engine.settled() {
                self.check_quiescent();
            }
        }
        self.step = steps;
        self.drain();
        self.check_quiescent();
        (self.quiescent_checks, self.refused)
    }
}

/// 200 seeds x 60 steps (each seed ends with a drain and a final check).
#[test]
fn the_engine_keeps_switches_equal_to_the_model_without_gaps() {
    let mut quiescent = 0;
    let mut refused = 0;
    for seed in 1..=200 {
        let (q, r) = Harness::new(seed).run(60);
        quiescent += q;
        refused += r;
    }
    // The test must exercise what it claims: many quiescent comparisons, and
    // refused commands too.
    assert!(quiescent > 2000, "only {quiescent} quiescent points");
    assert!(refused > 200, "only {refused} refused commands");
}

/// The simulated switch itself behaves as Open vSwitch does for what it is fed.
#[test]
fn the_simulated_switch_applies_flow_mods_as_ovs_does() {
    use crate::openflow::text::parse_flow;
    let flow = |t: &str, cookie: u64| {
        let mut f = parse_flow(t, FlowModCommand::ADD).unwrap();
        f.cookie = cookie;
        f
    };
    let mut s = SimSwitch::new();
    s.apply(&flow("priority=10,in_port=1 actions=drop", 0xa));
    s.apply(&flow("priority=11,in_port=1 actions=drop", 0xa));
    s.apply(&flow("priority=10,in_port=1 actions=normal", 0xb)); // replaces, cookie included
    assert_eq!(s.flows.len(), 3);
    let at10 = s.flows.iter().find(|(k, _)| k.1 == 10).map(|(_, f)| f.cookie);
    assert_eq!(at10, Some(0xb));
    let del = FlowMod { command: FlowModCommand::DELETE, cookie: 0xa, cookie_mask: u64::MAX, ..FlowMod::default() };
    s.apply(&del);
    assert_eq!(s.flows.len(), 2, "only cookie 0xa's remaining flow went");
    let mut strict = flow("priority=10,in_port=1 actions=drop", 0xc);
    strict.command = FlowModCommand::DELETE_STRICT;
    strict.cookie_mask = u64::MAX;
    s.apply(&strict);
    assert_eq!(s.flows.len(), 2, "another cookie: kept");
    strict.cookie = 0xb;
    s.apply(&strict);
    assert_eq!(s.flows.len(), 1, "XAPI's flow is left");
}
