//! `ovs-ofctl` flow syntax: parsing must give the bytes ovs-ofctl 3.1 sends, printing
//! must give the line `dump-flows` prints. The vectors were recorded from a real
//! ovs-vswitchd (scripts/capture-vectors.py); they must exist, or these tests fail.

use std::path::PathBuf;

use xo_sdn_native::openflow::flow::FlowModCommand;
use xo_sdn_native::openflow::stats::FlowStats;
use xo_sdn_native::openflow::text::{format_flow_mod, format_flow_stats, format_instructions, format_match, parse_flow, TextError};
use xo_sdn_native::openflow::types::{hex_decode, hex_encode};
use xo_sdn_native::openflow::{Instruction, Message};

fn vector_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/openflow").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} is required: {e}", path.display()))
}

/// Data rows (comment lines and the header skipped), split on tabs.
fn rows(text: &str) -> Vec<Vec<&str>> {
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).skip(1).map(|l| l.split('\t').collect()).collect()
}

fn command(name: &str) -> FlowModCommand {
    match name {
        "add-flow" => FlowModCommand::ADD,
        "mod-flows" => FlowModCommand::MODIFY,
        "mod-flows --strict" => FlowModCommand::MODIFY_STRICT,
        "del-flows" => FlowModCommand::DELETE,
        "del-flows --strict" => FlowModCommand::DELETE_STRICT,
        other => panic!("unknown command column {other:?}"),
    }
}

fn encode_with_xid(fm: xo_sdn_native::openflow::FlowMod, xid: u32) -> String {
    let mut fm = fm;
    fm.xid = xid;
    hex_encode(&Message::FlowMod(fm).to_bytes().expect("encodes"))
}

#[test]
fn flow_mods_match_ovs_ofctl_bytes() {
    let text = vector_file("flow_mods.tsv");
    let rows = rows(&text);
    assert!(rows.len() >= 100, "flow_mods.tsv has only {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let [cmd, flow, hex] = row[..] else { panic!("bad row {row:?}") };
        let want = hex_decode(hex).expect("hex");
        let xid = u32::from_be_bytes(want[4..8].try_into().unwrap());
        match parse_flow(flow, command(cmd)) {
            Ok(fm) => {
                let got = encode_with_xid(fm, xid);
                if got != hex {
                    failures.push(format!("{cmd} {flow}\n   want {hex}\n    got {got}"));
                }
            }
            Err(e) => failures.push(format!("{cmd} {flow}\n   refused: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

#[test]
fn flows_ovs_ofctl_refuses_are_refused() {
    let text = vector_file("flow_mods.tsv");
    let mut n = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# refused: ") else { continue };
        let Some((what, why)) = rest.split_once(" -> ") else { continue };
        if !why.starts_with("ovs-ofctl:") {
            continue; // the switch refused it, not ovs-ofctl: it parses.
        }
        let (cmd, flow) = what.split_once(' ').unwrap();
        let r = parse_flow(flow, command(cmd));
        assert!(r.is_err(), "{flow}: ovs-ofctl refuses it ({why}) but we parsed {r:?}");
        n += 1;
    }
    assert!(n >= 10, "only {n} refusal notes");
}

#[test]
fn dump_flows_lines_match_ovs() {
    let text = vector_file("dump_flows.tsv");
    let rows = rows(&text);
    assert!(rows.len() >= 90, "dump_flows.tsv has only {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let [flow, dumped] = row[..] else { panic!("bad row {row:?}") };
        match parse_flow(flow, FlowModCommand::ADD) {
            Ok(fm) => {
                let got = format_flow_mod(&fm);
                if got != dumped {
                    failures.push(format!("{flow}\n   want {dumped}\n    got {got}"));
                }
            }
            Err(e) => failures.push(format!("{flow}\n   refused: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

/// The recorded bytes, decoded by the codec, print as dump-flows prints them.
#[test]
fn decoded_flow_mods_print_like_dump_flows() {
    let dumps = vector_file("dump_flows.tsv");
    let dumped: std::collections::HashMap<&str, &str> =
        rows(&dumps).into_iter().map(|r| (r[0], r[1])).collect();
    let mods = vector_file("flow_mods.tsv");
    let mut checked = 0;
    for row in rows(&mods) {
        let [cmd, flow, hex] = row[..] else { continue };
        let Some(line) = dumped.get(flow) else { continue };
        if cmd != "add-flow" {
            continue;
        }
        let Message::FlowMod(fm) = Message::decode(&hex_decode(hex).unwrap()).unwrap() else { panic!() };
        assert_eq!(format_flow_mod(&fm), *line, "{flow}");
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} rows checked");
}

/// What dump-flows prints parses back to a flow that prints the same (where OF1.1
/// can express it: `vlan_tci=0x0000/0x1fff` cannot be sent back over OF1.1).
#[test]
fn dumped_lines_parse_back() {
    let text = vector_file("dump_flows.tsv");
    let mut n = 0;
    for row in rows(&text) {
        let dumped = row[1];
        match parse_flow(dumped, FlowModCommand::ADD) {
            Ok(fm) => {
                assert_eq!(format_flow_mod(&fm), dumped);
                n += 1;
            }
            Err(TextError::NotInOpenFlow11 { .. }) if dumped.contains("vlan_tci=") => {}
            Err(e) => panic!("{dumped}: {e}"),
        }
    }
    assert!(n >= 90);
}

#[test]
fn flow_stats_line() {
    let fm = parse_flow(
        "priority=65527,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_dst=5060 actions=drop",
        FlowModCommand::ADD,
    )
    .unwrap();
    let mut fs = FlowStats {
        table_id: 0,
        duration_sec: 1,
        duration_nsec: 500_000_000,
        priority: fm.priority,
        idle_timeout: 0,
        hard_timeout: 0,
        cookie: 0,
        packet_count: 0,
        byte_count: 0,
        flow_match: fm.flow_match.clone(),
        instructions: fm.instructions.clone(),
    };
    assert_eq!(
        format_flow_stats(&fs),
        "cookie=0x0, duration=1.500s, table=0, n_packets=0, n_bytes=0, priority=65527,tcp,in_port=4,\
         dl_src=ae:f7:4b:84:6c:8b,nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_dst=5060 actions=drop"
    );
    fs.duration_nsec = 0;
    fs.cookie = 0x12;
    fs.table_id = 3;
    fs.idle_timeout = 10;
    fs.packet_count = 7;
    fs.byte_count = u64::MAX;
    fs.flow_match = Default::default();
    fs.priority = 0x8000;
    fs.instructions = vec![Instruction::GotoTable { table_id: 4 }];
    assert_eq!(
        format_flow_stats(&fs),
        "cookie=0x12, duration=1s, table=3, n_packets=7, n_bytes=?, idle_timeout=10, actions=goto_table:4"
    );
    fs.duration_nsec = 1_500;
    assert!(format_flow_stats(&fs).contains("duration=1.0000015s"));
}

#[test]
fn match_and_instruction_printers() {
    let fm = parse_flow("arp,arp_op=2,arp_tpa=10.0.0.0/8 actions=write_actions(drop)", FlowModCommand::ADD).unwrap();
    assert_eq!(format_match(&fm.flow_match), "arp,arp_tpa=10.0.0.0/8,arp_op=2");
    // ovs-ofctl sends nothing for an empty write_actions(); one read from the wire prints so.
    assert!(fm.instructions.is_empty());
    assert_eq!(format_instructions(&[Instruction::WriteActions { actions: vec![] }]), "write_actions(drop)");
    assert_eq!(format_instructions(&[]), "drop");
    assert_eq!(format_match(&Default::default()), "");
    // OVS prints instructions in their canonical order, whatever the wire order.
    let ins = vec![Instruction::GotoTable { table_id: 2 }, Instruction::ClearActions];
    assert_eq!(format_instructions(&ins), "clear_actions,goto_table:2");
}

#[test]
fn command_specific_fields() {
    // del-flows: no priority unless strict, out_port/out_group, table 255 = table 0 in OF1.1.
    let fm = parse_flow("table=255,out_port=LOCAL,out_group=all", FlowModCommand::DELETE).unwrap();
    assert_eq!(fm.table_id, 0);
    assert_eq!(fm.out_port.0, 0xffff_fffe);
    assert_eq!(fm.out_group.0, 0xffff_fffc);
    assert_eq!(fm.priority, 0x8000);
    // mod-flows: a cookie without mask is the new cookie; with one, a match.
    let fm = parse_flow("cookie=0x10 actions=drop", FlowModCommand::MODIFY).unwrap();
    assert_eq!((fm.cookie, fm.cookie_mask), (0x10, 0));
    let fm = parse_flow("cookie=0x1f/0xf0 actions=drop", FlowModCommand::MODIFY_STRICT).unwrap();
    assert_eq!((fm.cookie, fm.cookie_mask), (0x10, 0xf0));
    // C number syntax: octal, negative masks.
    let fm = parse_flow("priority=010,cookie=5/-1", FlowModCommand::DELETE_STRICT).unwrap();
    assert_eq!((fm.priority, fm.cookie_mask), (8, u64::MAX));
    // mod_vlan_vid pushes a tag only when the match does not guarantee one.
    let fm = parse_flow("dl_vlan_pcp=1 actions=mod_vlan_vid:3", FlowModCommand::ADD).unwrap();
    assert_eq!(format_instructions(&fm.instructions), "set_vlan_vid:3");
    let fm = parse_flow("actions=mod_vlan_vid:3,mod_vlan_pcp:2", FlowModCommand::ADD).unwrap();
    assert_eq!(format_instructions(&fm.instructions), "push_vlan:0x8100,set_vlan_vid:3,set_vlan_pcp:2");
    // dump-flows output feeds back: stats fields are ignored.
    let fm = parse_flow(
        "cookie=0x0, duration=1.5s, table=0, n_packets=3, n_bytes=4, priority=7,ip actions=drop",
        FlowModCommand::ADD,
    )
    .unwrap();
    assert_eq!(format_flow_mod(&fm), "priority=7,ip actions=drop");
}

/// Every refusal names the offending token.
#[test]
fn errors_name_the_token() {
    use FlowModCommand as C;
    let cases: &[(&str, FlowModCommand, &str)] = &[
        ("foo=1 actions=drop", C::ADD, "foo"),
        ("ip actions=frobnicate", C::ADD, "frobnicate"),
        ("tp_dst=80 actions=drop", C::ADD, "tp_dst=80"),
        ("udp,tcp_dst=80 actions=drop", C::ADD, "tcp_dst=80"),
        ("nw_src=10.0.0.1 actions=drop", C::ADD, "nw_src=10.0.0.1"),
        ("icmp_type=3 actions=drop", C::ADD, "icmp_type=3"),
        ("mpls_label=5 actions=drop", C::ADD, "mpls_label=5"),
        ("ipv6,ipv6_src=::1 actions=drop", C::ADD, "ipv6_src=::1"),
        ("tcp6 actions=drop", C::ADD, "tcp6"),
        ("tcp,tp_dst=0x100/0xff00 actions=drop", C::ADD, "tp_dst=0x100/0xff00"),
        ("vlan_tci=0x1000/0x1000 actions=drop", C::ADD, "vlan_tci=0x1000/0x1000"),
        ("reg0=1 actions=drop", C::ADD, "reg0=1"),
        ("ip,nw_ttl=5 actions=drop", C::ADD, "nw_ttl=5"),
        ("dl_src=02:00:00:00:00:01,eth_src=02:00:00:00:00:02 actions=drop", C::ADD, "eth_src=02:00:00:00:00:02"),
        ("tcp,udp actions=drop", C::ADD, "udp"),
        ("dl_vlan=5000 actions=drop", C::ADD, "dl_vlan=5000"),
        ("dl_vlan_pcp=9 actions=drop", C::ADD, "dl_vlan_pcp=9"),
        ("ip,nw_tos=5 actions=drop", C::ADD, "nw_tos=5"),
        ("tcp,tp_dst=70000 actions=drop", C::ADD, "tp_dst=70000"),
        ("dl_dst=01:02:03 actions=drop", C::ADD, "dl_dst=01:02:03"),
        ("ip,nw_src=10.0.0.1/33 actions=drop", C::ADD, "nw_src=10.0.0.1/33"),
        ("in_port=70000 actions=drop", C::ADD, "in_port=70000"),
        ("priority=65536 actions=drop", C::ADD, "priority=65536"),
        ("cookie=1/1 actions=drop", C::ADD, "cookie=1/1"),
        ("cookie=1", C::DELETE, "cookie=1"),
        ("priority=5", C::DELETE, "priority=5"),
        ("out_port=1 actions=drop", C::ADD, "out_port=1"),
        ("ip", C::MODIFY, ""),
        ("actions=output", C::DELETE, "actions"),
        ("actions=output:70000", C::ADD, "output:70000"),
        ("actions=mod_vlan_vid:4096", C::ADD, "mod_vlan_vid:4096"),
        ("actions=mod_nw_src:10.0.0.1", C::ADD, "mod_nw_src:10.0.0.1"),
        ("actions=strip_vlan,output:1", C::ADD, "strip_vlan"),
        ("actions=set_mpls_label:5", C::ADD, "set_mpls_label:5"),
        ("actions=goto_table:1,output:1", C::ADD, "output:1"),
        ("actions=goto_table:1,goto_table:2", C::ADD, "goto_table:2"),
        ("actions=drop,output:1", C::ADD, "drop"),
        ("actions=write_actions(goto_table:1)", C::ADD, "goto_table:1"),
        ("table=2,actions=goto_table:1", C::ADD, "goto_table:1"),
        ("actions=meter:1", C::ADD, "meter:1"),
        ("actions=copy_ttl_in", C::ADD, "copy_ttl_in"),
        ("actions=learn(table=1)", C::ADD, "learn"),
        ("actions=apply_actions(output:1)", C::ADD, "apply_actions(output:1)"),
        ("reset_counts actions=drop", C::ADD, "reset_counts"),
        ("importance=5 actions=drop", C::ADD, "importance=5"),
        ("ip,actions=set_field:1->tcp_src", C::ADD, "set_field:1->tcp_src"),
        ("actions=push_vlan:0x0800", C::ADD, "push_vlan:0x0800"),
        ("actions=controller(reason=bogus)", C::ADD, "controller(reason=bogus)"),
        ("actions=note:0g", C::ADD, "note:0g"),
        ("table=256,actions=drop", C::ADD, "table=256"),
        ("send_flow_rem", C::DELETE, "send_flow_rem"),
    ];
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for (flow, cmd, token) in cases {
        let err = match parse_flow(flow, *cmd) {
            Ok(fm) => {
                failures.push(format!("{flow:?} ({cmd:?}) parsed: {fm:?}"));
                continue;
            }
            Err(e) => e,
        };
        if token.is_empty() {
            if err != TextError::MissingActions {
                failures.push(format!("{flow:?}: {err:?}"));
            }
            continue;
        }
        if err.token() != Some(*token) || !err.to_string().contains(token) {
            failures.push(format!("{flow:?}: want token {token:?}, got {:?}: {err}", err.token()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(parse_flow("ip actions=drop", FlowModCommand::ADD).is_ok());
    assert!(matches!(parse_flow("ip", FlowModCommand::ADD), Err(TextError::MissingActions)));
}

/// Arbitrary input never panics.
#[test]
fn no_panics_on_junk() {
    let pieces = [
        "ip", "tcp", ",", " ", "=", ":", "(", ")", "actions=", "dl_vlan=", "0x", "/", "->", "é", "write_actions(",
        "output:", "controller(", "note:", "load:", "NXM_NX_REG0[", "..", "]", "-1", "99999999999999999999", "in_port",
        "resubmit(", "enqueue:", "dec_ttl(", "cookie=", "nw_src=1.2.3.4/", "set_field:", "\u{0}", "metadata=0x",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let mut s = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = (seed % 8) as usize;
        let mut x = seed;
        for _ in 0..=n {
            s.push_str(pieces[(x % pieces.len() as u64) as usize]);
            x /= pieces.len() as u64;
        }
        for cmd in [FlowModCommand::ADD, FlowModCommand::DELETE, FlowModCommand::MODIFY_STRICT] {
            if let Ok(fm) = parse_flow(&s, cmd) {
                let _ = format_flow_mod(&fm);
                Message::FlowMod(fm).to_bytes().expect("a parsed flow encodes");
            }
        }
    }
}
