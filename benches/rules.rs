//! Where the time of one `putMany` of 10,000 rules goes, without the N-API layer:
//! reading the entries' JSON, checking each rule, compiling, the table's diff and
//! the encoding of the FLOW_MODs to send. Same entries as `bench/rules.bench.js`
//! sends for its 10,000 rules over 100 VIFs.
//!
//! Run: `cargo bench --no-default-features --bench rules`.

use std::time::Instant;

use bytes::BytesMut;
use xo_sdn_native::openflow::stats::{FlowStats, StatsReply, StatsReplyBody};
use xo_sdn_native::openflow::{FlowMod, Message};

use xo_sdn_native::rules::cookie::rule_cookie;
use xo_sdn_native::rules::json::for_each_element;
use xo_sdn_native::rules::table::encode_flow_mods;
use xo_sdn_native::control::entries::compile_entries;
use xo_sdn_native::control::{random_rule_ids, PriorityBand, RuleId, RuleList};
use xo_sdn_native::rules::{compile, parse_endpoints, parse_rule, parse_rules, FlowTable};

const RULES: usize = 10_000;
const ROUNDS: usize = 7;

/// Rule `k` of the 10,000: 100 VIFs, a port each hundred rules, both directions,
/// IPv4 (`ipRange` 0.0.0.0/0: one flow per rule, as bench/rules.bench.js; a rule
/// without an address family covers IPv6 too).
fn rule_json(k: usize) -> String {
    format!(
        r#"{{"vif":{{"uuid":"00000000-0000-0000-0000-{:012}","mac":"02:00:00:00:00:01"}},"allow":false,"protocol":"tcp","port":{},"ipRange":"0.0.0.0/0","direction":"{}"}}"#,
        k % 100,
        1000 + k / 100,
        if k % 2 == 1 { "to" } else { "from" }
    )
}

/// The `putMany` entries of the 10,000 rules, each on its VIF's port.
fn entries() -> String {
    let items: Vec<String> = (0..RULES)
        .map(|k| {
            format!(
                r#"{{"cookie":"0x{:016x}","priority":{},"rule":{},"endpoints":[{{"ofport":{},"mac":"02:00:00:00:00:01","ips":[]}}]}}"#,
                rule_cookie(k as u64 + 1, 0).expect("a rule number"),
                30000 - k,
                rule_json(k),
                k % 100 + 1
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// The flow-stats reply of a table holding `flows`, in parts of at most 64 KiB.
fn dump_parts(flows: &[FlowMod]) -> Vec<Vec<u8>> {
    let stats: Vec<FlowStats> = flows
        .iter()
        .map(|fm| FlowStats {
            table_id: fm.table_id,
            duration_sec: 1,
            duration_nsec: 0,
            priority: fm.priority,
            idle_timeout: 0,
            hard_timeout: 0,
            cookie: fm.cookie,
            packet_count: 0,
            byte_count: 0,
            flow_match: fm.flow_match.clone(),
            instructions: fm.instructions.clone(),
        })
        .collect();
    stats
        .chunks(400)
        .map(|chunk| {
            let reply = StatsReply { xid: 1, flags: Default::default(), body: StatsReplyBody::Flow { flows: chunk.to_vec() } };
            let mut out = BytesMut::new();
            Message::StatsReply(reply).encode(&mut out).unwrap();
            out.to_vec()
        })
        .collect()
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// `validateRules` of the same 10,000 rules: check, normalize, give each an id.
fn validate() {
    let text = format!("[{}]", (0..RULES).map(rule_json).collect::<Vec<_>>().join(","));
    let mut rows = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let parsed = parse_rules(&text).unwrap();
        let check = ms(t);
        let t = Instant::now();
        let json: Vec<Vec<u8>> = parsed
            .iter()
            .map(|r| {
                let mut text = Vec::new();
                r.write_json(&mut text).unwrap();
                text
            })
            .collect();
        let normalize = ms(t);
        let t = Instant::now();
        let ids = random_rule_ids(parsed.len());
        let identify = ms(t);
        std::hint::black_box((json, ids));
        rows.push([check, normalize, identify]);
    }
    rows.sort_by(|a, b| a.iter().sum::<f64>().total_cmp(&b.iter().sum::<f64>()));
    let [check, normalize, identify] = rows[ROUNDS / 2];
    println!("validateRules of {RULES} rules (median of {ROUNDS}): check {check:.1} ms, normalize {normalize:.1} ms, ids {identify:.1} ms");
}

/// The `putManyFrom` entries of the same rules named by id in `list` (what the
/// controller sends for the rules of its list).
fn id_entries(list: &RuleList) -> String {
    let items: Vec<String> = list
        .rules()
        .iter()
        .enumerate()
        .map(|(k, r)| {
            format!(
                r#"{{"cookie":"0x{:016x}","priority":{},"id":"{}","endpoints":[{{"ofport":{},"mac":"02:00:00:00:00:01","ips":[]}}]}}"#,
                r.cookie(),
                r.priority(),
                r.id(),
                k % 100 + 1
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn main() {
    validate();
    let text = entries();
    let mut list = RuleList::new(PriorityBand::RULES_DEFAULT);
    let rules = parse_rules(&format!("[{}]", (0..RULES).map(rule_json).collect::<Vec<_>>().join(","))).unwrap();
    list.append_many(random_rule_ids(RULES).into_iter().map(RuleId::new).zip(rules).collect(), None).unwrap();
    let by_id = id_entries(&list);
    let mut rows = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(compile_entries(&by_id, 0, Some(&list)).unwrap());
        let named = ms(t);
        let t = Instant::now();
        std::hint::black_box(compile_entries(&text, 0, None).unwrap());
        let whole = ms(t);
        rows.push([named, whole]);
    }
    rows.sort_by(|a, b| a.iter().sum::<f64>().total_cmp(&b.iter().sum::<f64>()));
    let [named, whole] = rows[ROUNDS / 2];
    println!("compile_entries of {RULES} (median of {ROUNDS}): named by id {named:.1} ms, carried whole {whole:.1} ms");
    let mut rows = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut parsed = Vec::with_capacity(RULES);
        for_each_element(&text, |_, e: serde_json::Value| {
            let cookie = u64::from_str_radix(e["cookie"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
            let priority = e["priority"].as_u64().unwrap() as u16;
            parsed.push((cookie, priority, parse_rule(&e["rule"]).unwrap(), parse_endpoints(&e["endpoints"]).unwrap()));
            Ok::<(), ()>(())
        })
        .unwrap();
        let read = ms(t);
        let t = Instant::now();
        let compiled: Vec<_> = parsed.iter().map(|(c, p, r, e)| (*c, compile(r, e, *p, *c, 0))).collect();
        let compiling = ms(t);
        let t = Instant::now();
        let mut table = FlowTable::new(0);
        let delta = table.put_all(compiled);
        let diff = ms(t);
        let t = Instant::now();
        let bytes = encode_flow_mods(&delta.add).unwrap();
        let encode = ms(t);
        assert_eq!(delta.add.len(), RULES);
        std::hint::black_box(bytes);

        // A sync with nothing to do: the switch's whole-table dump (as OVS splits
        // it, at most 64 KiB a part) decoded, then reconciled.
        let parts = dump_parts(&delta.add);
        let t = Instant::now();
        let mut dumped = Vec::new();
        for part in &parts {
            match Message::decode(part).unwrap() {
                Message::StatsReply(StatsReply { body: StatsReplyBody::Flow { flows }, .. }) => dumped.extend(flows),
                other => panic!("not a flow stats reply: {other:?}"),
            }
        }
        let decode = ms(t);
        let t = Instant::now();
        table.set_foreign(&dumped);
        let r = table.reconcile(&dumped);
        let reconcile = ms(t);
        assert!(r.add.is_empty() && r.delete.is_empty(), "{} to add, {} to delete", r.add.len(), r.delete.len());
        rows.push([read, compiling, diff, encode, decode, reconcile]);
    }
    rows.sort_by(|a, b| a.iter().sum::<f64>().total_cmp(&b.iter().sum::<f64>()));
    let [read, compiling, diff, encode, decode, reconcile] = rows[ROUNDS / 2];
    println!(
        "putMany of {RULES} rules (median of {ROUNDS}): read+check {read:.1} ms, compile {compiling:.1} ms, diff {diff:.1} ms, encode {encode:.1} ms, total {:.1} ms",
        read + compiling + diff + encode
    );
    println!("sync of the same {RULES}, nothing to do: decode the dump {decode:.1} ms, reconcile {reconcile:.1} ms");
}
