//! Nicira extensions (issue 14) against the vectors recorded from Open vSwitch 3.1 by
//! `scripts/capture-nx-vectors.py` (`tests/vectors/nicira/`): NXM/OXM matches, the ct,
//! nat, resubmit and load actions, `NXT_FLOW_MOD`, OF1.1 FLOW_MODs and flow stats with an
//! `OFPMT_OXM` match. Every hex string there was produced by OVS, never by this codec.

mod common;

use common::Rng;
use std::path::PathBuf;

use xo_sdn_native::openflow::instruction::Instruction;
use xo_sdn_native::openflow::nx_action::{Ct, NxAction};
use xo_sdn_native::openflow::nx_flow_mod::{NxFlowMod, Of10Action};
use xo_sdn_native::openflow::nxm::{Field, MatchField, NxmMatch};
use xo_sdn_native::openflow::stats::StatsReplyBody;
use xo_sdn_native::openflow::types::hex_decode;
use xo_sdn_native::openflow::{Action, Message};

fn vector_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/nicira").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} is required: {e}", path.display()))
}

/// Data rows (comment lines and the header skipped), split on tabs.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .skip(1)
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

struct Row {
    flow: String,
    of13: Vec<u8>,
    nxt: Vec<u8>,
    dumped: String,
}

fn flows() -> Vec<Row> {
    let rows: Vec<Row> = rows(&vector_file("flows.tsv"))
        .into_iter()
        .map(|r| Row {
            flow: r[0].clone(),
            of13: hex_decode(&r[1]).expect("hex"),
            nxt: hex_decode(&r[2]).expect("hex"),
            dumped: r[3].clone(),
        })
        .collect();
    assert!(rows.len() >= 25, "flows.tsv has only {} rows", rows.len());
    rows
}

/// The OF1.3 FLOW_MOD as the OF1.1 FLOW_MOD it is byte for byte (the layouts are
/// identical; `capture-nx-vectors.py` replayed exactly these bytes to the switch).
fn as_of11(of13: &[u8]) -> Vec<u8> {
    let mut b = of13.to_vec();
    b[0] = 0x02;
    b
}

fn assert_typed_match(m: &NxmMatch, what: &str) {
    for f in &m.fields {
        assert!(matches!(f, MatchField::Known { .. }), "{what}: untyped field {f:?}");
    }
}

fn assert_typed_actions(actions: &[Action], what: &str) {
    for a in actions {
        if let Some(nx) = a.nicira() {
            let nx = nx.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(!matches!(nx, NxAction::Unknown { .. }), "{what}: untyped {nx:?}");
            if let NxAction::Ct(Ct { actions, .. }) = &nx {
                assert_typed_actions(actions, what);
            }
        }
    }
}

/// (field, value, mask) of every field, whatever its dialect. VLAN is left out: NXM says
/// `vlan_tci=0x100a/0x1fff` where OXM says `vlan_vid=0x100a`.
fn meaning(m: &NxmMatch) -> Vec<(Field, u64, Option<u64>)> {
    m.fields
        .iter()
        .filter_map(|f| match f {
            MatchField::Known { field, value, mask, .. } => Some((*field, value.as_u64(), mask.map(|m| m.as_u64()))),
            MatchField::Unknown { .. } => None,
        })
        .filter(|(f, _, _)| !matches!(f, Field::VlanTci | Field::VlanVid))
        .collect()
}

/// The actions of a flow's apply_actions instructions, in order.
fn apply_actions(instructions: &[Instruction]) -> Vec<Action> {
    instructions
        .iter()
        .flat_map(|i| match i {
            Instruction::ApplyActions { actions } => actions.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// Every OF1.3-recorded FLOW_MOD, as OF1.1: decodes, its OXM match and Nicira actions are
/// fully typed, and both re-encode byte for byte.
#[test]
fn oxm_flow_mods_decode_typed_and_reencode_exactly() {
    for row in flows() {
        let bytes = as_of11(&row.of13);
        let Message::FlowMod(fm) = Message::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", row.flow)) else {
            panic!("{}: not a FLOW_MOD", row.flow)
        };
        let oxm = fm.flow_match.oxm.as_ref().unwrap_or_else(|| panic!("{}: no OXM match", row.flow));
        let m = NxmMatch::decode(&oxm.0).unwrap_or_else(|e| panic!("{}: {e}", row.flow));
        assert_typed_match(&m, &row.flow);
        assert_eq!(m.to_bytes(), oxm.0, "{}", row.flow);
        let mut canon = m.clone();
        canon.canonicalize();
        assert_eq!(canon, m, "{}: OVS's order is not our canonical order", row.flow);
        assert_eq!(m.to_match().oxm, fm.flow_match.oxm, "{}", row.flow);
        assert_typed_actions(&apply_actions(&fm.instructions), &row.flow);
        assert_eq!(Message::FlowMod(fm).to_bytes().unwrap(), bytes, "{}", row.flow);
    }
}

/// Every `NXT_FLOW_MOD` ovs-ofctl sent decodes fully typed and re-encodes byte for byte;
/// its match says the same as the OXM one (same fields, values and masks).
#[test]
fn nxt_flow_mods_decode_typed_and_reencode_exactly() {
    for row in flows() {
        let fm = NxFlowMod::decode(&row.nxt).unwrap_or_else(|e| panic!("{}: {e}", row.flow));
        assert_typed_match(&fm.nx_match, &row.flow);
        for a in &fm.actions {
            match a {
                Of10Action::Nicira(NxAction::Unknown { .. }) | Of10Action::Other { .. } => {
                    panic!("{}: untyped action {a:?}", row.flow)
                }
                Of10Action::Nicira(NxAction::Ct(ct)) => assert_typed_actions(&ct.actions, &row.flow),
                _ => {}
            }
        }
        assert_eq!(fm.to_bytes(), row.nxt, "{}", row.flow);
        let mut canon = fm.nx_match.clone();
        canon.canonicalize();
        assert_eq!(canon, fm.nx_match, "{}: OVS's NXM order is not our canonical order", row.flow);

        let Message::FlowMod(of11) = Message::decode(&as_of11(&row.of13)).unwrap() else { panic!() };
        let oxm = NxmMatch::decode(&of11.flow_match.oxm.unwrap().0).unwrap();
        assert_eq!(meaning(&fm.nx_match), meaning(&oxm), "{}", row.flow);
    }
}

/// OF1.1 with an OXM match: ovs-vswitchd accepted every replayed FLOW_MOD, and the OF1.1
/// flow stats reply it sent for the flow (OXM match inside) decodes, re-encodes byte for
/// byte, and carries the same match TLVs as the FLOW_MOD.
#[test]
fn of11_oxm_flow_mods_accepted_and_their_flow_stats_decode() {
    let by_flow: std::collections::HashMap<String, Vec<u8>> = flows().into_iter().map(|r| (r.flow, r.of13)).collect();
    let rows = rows(&vector_file("of11_oxm.tsv"));
    assert!(rows.len() >= 25);
    let mut accepted = 0;
    for r in &rows {
        let (flow, fm_hex, result, reply_hex) = (&r[0], &r[1], &r[2], &r[3]);
        let fm_bytes = hex_decode(fm_hex).unwrap();
        assert_eq!(fm_bytes, as_of11(&by_flow[flow]), "{flow}: the replayed bytes are not OVS's");
        if result != "accepted" {
            continue;
        }
        accepted += 1;
        let reply = hex_decode(reply_hex).unwrap();
        let msg = Message::decode(&reply).unwrap_or_else(|e| panic!("{flow}: stats reply: {e}"));
        assert_eq!(msg.to_bytes().unwrap(), reply, "{flow}");
        let Message::StatsReply(sr) = msg else { panic!("{flow}: not a stats reply") };
        let StatsReplyBody::Flow { flows } = sr.body else { panic!("{flow}: not flow stats") };
        assert_eq!(flows.len(), 1, "{flow}");
        let got = NxmMatch::decode(&flows[0].flow_match.oxm.as_ref().expect("OXM match").0).unwrap();
        assert_typed_match(&got, flow);
        let Message::FlowMod(fm) = Message::decode(&fm_bytes).unwrap() else { panic!() };
        let sent = NxmMatch::decode(&fm.flow_match.oxm.unwrap().0).unwrap();
        // OVS 3.1 answers an OF1.1 flow stats request with NXM headers (class 0/1), not the
        // OXM ones of the FLOW_MOD: same fields, values and masks.
        assert_eq!(meaning(&got), meaning(&sent), "{flow}: the switch reports another match");
    }
    assert!(accepted >= 25, "only {accepted} accepted");
}

// ---------------------------------------------------------------------------------------
// No panic on truncated or mangled input (seeded like tests/openflow_fuzz.rs)

fn exercise(bytes: &[u8]) {
    if let Ok(fm) = NxFlowMod::decode(bytes) {
        // A successful decode re-encodes to something that decodes the same.
        assert_eq!(NxFlowMod::decode(&fm.to_bytes()).as_ref(), Ok(&fm));
    }
    for start in [16usize, 48, 56] {
        if let Some(tail) = bytes.get(start..) {
            if let Ok(m) = NxmMatch::decode(tail) {
                assert_eq!(m.to_bytes(), tail, "NxmMatch must round-trip exactly");
            }
            let _ = NxAction::decode_body(tail);
        }
    }
    // The OF1.1 path (FLOW_MOD and flow stats with an OXM match): no panic.
    let _ = Message::decode(bytes);
}

#[test]
fn truncated_and_mangled_inputs_never_panic() {
    let mut seeds = Vec::new();
    for r in flows() {
        seeds.push(as_of11(&r.of13));
        seeds.push(r.nxt);
    }
    for r in rows(&vector_file("of11_oxm.tsv")) {
        seeds.extend(hex_decode(&r[3]));
    }
    for s in &seeds {
        for n in 0..s.len() {
            exercise(&s[..n]);
        }
    }
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..20_000 {
        let mut b = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len());
            match rng.below(3) {
                0 => b[i] = rng.next() as u8,
                1 => b[i] ^= 1 << rng.below(8),
                _ => b.truncate(i.max(8)),
            }
        }
        // keep the header length honest half the time so the body parsers are reached
        if rng.below(2) == 0 && b.len() >= 4 {
            let len = (b.len() as u16).to_be_bytes();
            b[2] = len[0];
            b[3] = len[1];
        }
        exercise(&b);
    }
}

// ---------------------------------------------------------------------------------------
// Flow text: parse gives OVS's bytes, print gives OVS's dump-flows line

use xo_sdn_native::openflow::text::{format_nx_flow, parse_nx_flow};

fn xid_of(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[4..8].try_into().unwrap())
}

/// The flow text, parsed, encodes to the OF1.1/OXM FLOW_MOD (= ovs-ofctl -O OpenFlow13's
/// bytes with version 2) and to the NXT_FLOW_MOD ovs-ofctl -F nxm sent, byte for byte.
#[test]
fn text_parses_to_ovs_bytes() {
    let mut failures = Vec::new();
    for row in flows() {
        let flow = match parse_nx_flow(&row.flow) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{}: refused: {e}", row.flow));
                continue;
            }
        };
        let want = as_of11(&row.of13);
        let got = Message::FlowMod(flow.to_flow_mod(xid_of(&want))).to_bytes().unwrap();
        if got != want {
            failures.push(format!(
                "{} (OXM)\n   want {}\n    got {}",
                row.flow,
                xo_sdn_native::openflow::types::hex_encode(&want),
                xo_sdn_native::openflow::types::hex_encode(&got)
            ));
        }
        let got = flow.to_nx_flow_mod(xid_of(&row.nxt)).to_bytes();
        if got != row.nxt {
            failures.push(format!(
                "{} (NXT)\n   want {}\n    got {}",
                row.flow,
                xo_sdn_native::openflow::types::hex_encode(&row.nxt),
                xo_sdn_native::openflow::types::hex_encode(&got)
            ));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The decoded OVS bytes print as `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` printed
/// the flow (from the OXM FLOW_MOD and from the NXT_FLOW_MOD alike).
#[test]
fn decoded_flows_print_as_ovs_dump_flows() {
    let mut failures = Vec::new();
    for row in flows() {
        let Message::FlowMod(fm) = Message::decode(&as_of11(&row.of13)).unwrap() else { panic!() };
        let m = NxmMatch::decode(&fm.flow_match.oxm.as_ref().unwrap().0).unwrap();
        let got = format_nx_flow(fm.cookie, fm.table_id, fm.priority, &m, &apply_actions(&fm.instructions));
        if got != row.dumped {
            failures.push(format!("{} (OXM)\n   want {}\n    got {got}", row.flow, row.dumped));
        }
        let nx = NxFlowMod::decode(&row.nxt).unwrap();
        let actions: Vec<Action> = nx
            .actions
            .iter()
            .map(|a| match a {
                Of10Action::Output { port, max_len } => Action::Output {
                    port: xo_sdn_native::openflow::PortNo(if *port >= 0xff00 {
                        u32::from(*port) + 0xffff_0000
                    } else {
                        u32::from(*port)
                    }),
                    max_len: *max_len,
                },
                Of10Action::Nicira(n) => Action::from(n.clone()),
                Of10Action::Other { .. } => panic!("untyped"),
            })
            .collect();
        let got = format_nx_flow(nx.cookie, nx.table_id, nx.priority, &nx.nx_match, &actions);
        if got != row.dumped {
            failures.push(format!("{} (NXT)\n   want {}\n    got {got}", row.flow, row.dumped));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The OF1.1 flow stats replies print as `ovs-ofctl -O OpenFlow11 dump-flows` printed them.
#[test]
fn of11_flow_stats_print_as_ovs_dump_flows() {
    let mut failures = Vec::new();
    for r in rows(&vector_file("of11_oxm.tsv")) {
        if r[2] != "accepted" {
            continue;
        }
        let Message::StatsReply(sr) = Message::decode(&hex_decode(&r[3]).unwrap()).unwrap() else { panic!() };
        let StatsReplyBody::Flow { flows } = sr.body else { panic!() };
        let fs = &flows[0];
        let m = NxmMatch::decode(&fs.flow_match.oxm.as_ref().unwrap().0).unwrap();
        let actions = apply_actions(&fs.instructions);
        let got = format_nx_flow(fs.cookie, fs.table_id, fs.priority, &m, &actions);
        if got != r[4] {
            failures.push(format!("{}\n   want {}\n    got {got}", r[0], r[4]));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The live check of our own encoder (`scripts/capture-nx-vectors.py --ours`): OF1.1
/// FLOW_MODs with an OXM match that `parse_nx_flow` + `to_flow_mod` built, sent as they
/// were to ovs-vswitchd 3.1. Today's encoder still builds exactly those bytes, the switch
/// accepted every one, its flow stats reply carries the same match, and what
/// `ovs-ofctl -O OpenFlow11 dump-flows` printed for it is what we print.
#[test]
fn our_of11_flow_mods_were_accepted_and_read_back_as_meant() {
    let rows = rows(&vector_file("ours_of11.tsv"));
    assert!(rows.len() >= 25, "ours_of11.tsv has only {} rows", rows.len());
    let mut failures = Vec::new();
    for r in &rows {
        let (flow, hex, result, reply_hex, dumped) = (&r[0], &r[1], &r[2], &r[3], &r[4]);
        let ours = hex_decode(hex).unwrap();
        let parsed = parse_nx_flow(flow).unwrap_or_else(|e| panic!("{flow}: {e}"));
        let now = Message::FlowMod(parsed.to_flow_mod(xid_of(&ours))).to_bytes().unwrap();
        assert_eq!(now, ours, "{flow}: the encoder changed since the live check; re-run --ours");
        assert_eq!(result, "accepted", "{flow}");
        let reply = hex_decode(reply_hex).unwrap();
        let msg = Message::decode(&reply).unwrap();
        assert_eq!(msg.to_bytes().unwrap(), reply, "{flow}");
        let Message::StatsReply(sr) = msg else { panic!() };
        let StatsReplyBody::Flow { flows } = sr.body else { panic!() };
        let fs = &flows[0];
        let got = NxmMatch::decode(&fs.flow_match.oxm.as_ref().unwrap().0).unwrap();
        let sent = parsed.nx_match(xo_sdn_native::openflow::nxm::Dialect::Oxm);
        assert_eq!(meaning(&got), meaning(&sent), "{flow}: the switch stored another match");
        let actions = apply_actions(&fs.instructions);
        assert_eq!(actions, parsed.actions, "{flow}: the switch stored other actions");
        let text = format_nx_flow(fs.cookie, fs.table_id, fs.priority, &got, &actions);
        if &text != dumped {
            failures.push(format!("{flow}\n   want {dumped}\n    got {text}"));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// What dump-flows printed parses back to the same bytes as the flow it came from (the
/// printer's output is valid input, as ovs-ofctl's is).
#[test]
fn dumped_text_parses_back_to_the_same_flow() {
    for row in flows() {
        let a = parse_nx_flow(&row.flow).unwrap();
        let b = parse_nx_flow(&row.dumped).unwrap_or_else(|e| panic!("{}: {e}", row.dumped));
        assert_eq!(
            Message::FlowMod(b.to_flow_mod(6)).to_bytes().unwrap(),
            Message::FlowMod(a.to_flow_mod(6)).to_bytes().unwrap(),
            "{}",
            row.dumped
        );
    }
}

/// The OF1.1 printers the dump path already uses (`format_flow_mod`, `format_flow_stats`)
/// print an OXM match with fields beyond OF1.1 from its TLVs, as OVS does.
#[test]
fn of11_printers_show_nicira_matches() {
    use xo_sdn_native::openflow::text::{format_flow_mod, format_flow_stats};
    for row in flows() {
        let Message::FlowMod(fm) = Message::decode(&as_of11(&row.of13)).unwrap() else { panic!() };
        assert_eq!(format_flow_mod(&fm), row.dumped, "{}", row.flow);
    }
    for r in rows(&vector_file("ours_of11.tsv")) {
        let Message::StatsReply(sr) = Message::decode(&hex_decode(&r[3]).unwrap()).unwrap() else { panic!() };
        let StatsReplyBody::Flow { flows } = sr.body else { panic!() };
        let line = format_flow_stats(&flows[0]);
        // `cookie=.., duration=.., table=.., n_packets=0, n_bytes=0, ` then the --no-stats tail.
        let tail = r[4].rsplit(", ").next().unwrap();
        assert!(line.ends_with(tail), "{}\n   want ...{tail}\n    got {line}", r[0]);
    }
}

/// Flow text that is wrong in every way: refused with an error, never a panic; and a
/// few refusals that matter (prerequisites OVS would otherwise silently drop).
#[test]
fn bad_flow_text_is_refused_without_panic() {
    for (flow, why) in [
        ("tp_dst=22 actions=drop", "requires"),
        ("ip,icmp_type=135 actions=drop", "requires"),
        ("ipv6,nd_target=fe80::1 actions=drop", "requires"),
        ("ip,ipv6_src=2001:db8::/32 actions=drop", "requires"),
        ("udp,tcp_flags=+syn actions=drop", "requires"),
        ("ct_state=+bogus actions=drop", "unknown flag"),
        ("reg16=1 actions=drop", "unknown field"),
        ("ip actions=ct(zone=NXM_NX_REG0[0..7])", "16 bits"),
        ("actions=load:0x10000->NXM_NX_REG0[0..15]", "does not fit"),
        ("actions=frobnicate", "unknown action"),
        ("ip", "actions"),
    ] {
        let e = parse_nx_flow(flow).expect_err(flow).to_string();
        assert!(e.contains(why), "{flow}: {e}");
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds: Vec<String> = flows().into_iter().map(|r| r.flow).collect();
    let alphabet = b"()[],=:+-./0123456789abcdefx>_ \xc3\xa9";
    for _ in 0..20_000 {
        let mut b = seeds[rng.below(seeds.len())].clone().into_bytes();
        for _ in 0..1 + rng.below(4) {
            if b.is_empty() {
                break;
            }
            let i = rng.below(b.len());
            match rng.below(3) {
                0 => b[i] = alphabet[rng.below(alphabet.len())],
                1 => {
                    b.remove(i);
                }
                _ => b.truncate(i),
            }
        }
        let text = String::from_utf8_lossy(&b);
        if let Ok(f) = parse_nx_flow(&text) {
            let _ = Message::FlowMod(f.to_flow_mod(1)).to_bytes();
            let _ = f.to_nx_flow_mod(1).to_bytes();
        }
    }
}
