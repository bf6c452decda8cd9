//! The translation against Open vSwitch's own encoder: every vector `ovs-ofctl`
//! sent in OpenFlow 1.1 (`tests/vectors/openflow/`) must become what it sends for
//! the same command in OpenFlow 1.3 (`tests/vectors/openflow13/`, the same script
//! with `--openflow 13`), and what ovs-vswitchd answered in 1.3 must read as its
//! 1.1 answer.

use std::collections::BTreeMap;

use super::*;
use crate::openflow::stats::StatsReply;
use crate::openflow::types::hex_decode;

const FLOW_MODS_11: &str = include_str!("../../../tests/vectors/openflow/flow_mods.tsv");
const FLOW_MODS_13: &str = include_str!("../../../tests/vectors/openflow13/flow_mods.tsv");
const SWITCH_11: &str = include_str!("../../../tests/vectors/openflow/switch_msgs.tsv");
const SWITCH_13: &str = include_str!("../../../tests/vectors/openflow13/switch_msgs.tsv");

/// Rows of a vectors file: the first two columns as the key, the bytes of the next.
fn rows(tsv: &str, key_columns: usize) -> BTreeMap<String, Vec<u8>> {
    tsv.lines()
        .skip(1)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[..key_columns].join("\t"), hex_decode(cols[key_columns]).expect("hex"))
        })
        .collect()
}

fn without_xid(mut frame: Vec<u8>) -> Vec<u8> {
    frame[4..8].fill(0);
    frame
}

/// The flows the translation refuses, and why: fields and actions the OXM model
/// here does not type.
fn refused_for_a_stated_reason(flow: &str, why: &str) -> bool {
    let reasons = [
        ("nw_tos", "nw_tos has no oxm field"),
        ("mod_nw_tos", "set_nw_tos has no set_field"),
        ("mod_nw_ecn", "set_nw_ecn has no set_field"),
        ("mpls", "mpls"),
        ("sctp", "sctp"),
    ];
    let why = why.to_lowercase();
    reasons.iter().any(|(token, reason)| flow.contains(token) && why.contains(reason))
}

#[test]
fn every_flow_mod_becomes_what_ovs_ofctl_sends_in_openflow_1_3_or_is_refused_for_its_reason() {
    let of11 = rows(FLOW_MODS_11, 2);
    let of13 = rows(FLOW_MODS_13, 2);
    let (mut same, mut refused) = (0, Vec::new());
    for (key, bytes) in &of11 {
        let mut want = of13[key].clone();
        // `del-flows` of all tables (no `table=`, or 255): ovs-ofctl sends table 0 in
        // OpenFlow 1.1 (Open vSwitch refuses OFPTT_ALL there) and OFPTT_ALL in 1.3;
        // the message we translate keeps the table it names.
        if key.starts_with("del-flows") && want[24] == 0xff && bytes[24] == 0 {
            want[24] = 0;
        }
        let want = &want;
        match to_of13(bytes) {
            Ok(got) => {
                assert_eq!(hex(&without_xid(got)), hex(&without_xid(want.clone())), "{key}");
                same += 1;
            }
            Err(why) => {
                assert!(refused_for_a_stated_reason(key, &why), "{key}: refused: {why}");
                refused.push(key.clone());
            }
        }
    }
    // DSCP/ECN and MPLS matches and set actions: 7 flows.
    assert_eq!((same, refused.len()), (121, 7), "refused: {refused:?}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_requests_of_a_session_become_ovs_ofctls_openflow_1_3_requests() {
    let of11 = rows(SWITCH_11, 1);
    let of13 = rows(SWITCH_13, 1);
    let mut checked = Vec::new();
    // The session writes its HELLO itself.
    for (name, bytes) in of11.iter().filter(|(n, _)| n.starts_with("req.") && !n.starts_with("req.hello")) {
        let Some(want) = of13.get(name) else { continue };
        // Features, config, echo, barrier, flow/aggregate/port/queue/group stats,
        // group, port and flow mods, packet outs, queue config.
        let got = to_of13(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex(&without_xid(got)), hex(&without_xid(want.clone())), "{name}");
        checked.push(name.as_str());
    }
    for must in ["req.features_request", "req.barrier_request", "req.stats.flow", "req.stats.flow.match", "req.packet_out", "req.group_mod.add.all"] {
        assert!(checked.contains(&must), "{must} not checked: {checked:?}");
    }
}

#[test]
fn a_switch_message_is_refused_and_an_openflow_1_3_one_goes_as_it_is() {
    let of11 = rows(SWITCH_11, 1);
    assert!(to_of13(&of11["rep.features_reply"]).unwrap_err().contains("the switch's to send"));
    let of13 = rows(SWITCH_13, 1);
    assert_eq!(to_of13(&of13["req.barrier_request"]).unwrap(), of13["req.barrier_request"]);
    // NXT_FLOW_MOD's actions would be read as the connection's version.
    let nx_flow_mod = [2, 4, 0, 16, 0, 0, 0, 1, 0, 0, 0x23, 0x20, 0, 0, 0, 13];
    assert!(to_of13(&nx_flow_mod).unwrap_err().contains("NXT_FLOW_MOD"));
    let nx_role = [2, 4, 0, 16, 0, 0, 0, 1, 0, 0, 0x23, 0x20, 0, 0, 0, 10];
    assert_eq!(to_of13(&nx_role).unwrap()[0], OFP13_VERSION);
}

/// A match's typed fields whatever carried them (OF1.1's standard match, NXM or OXM
/// headers: Open vSwitch dumps OpenFlow 1.1 flows with NXM ones), in a stable order.
fn fields(m: &Match) -> Vec<String> {
    // A standard match as its OXM fields; integers by value (in_port is 16 bits in NXM).
    let shown = |v: &Value| match v {
        Value::U8(_) | Value::U16(_) | Value::U32(_) | Value::U64(_) => v.as_u64().to_string(),
        other => format!("{other:?}"),
    };
    let typed = oxm_match(m).expect("a translatable match").nxm().expect("OXM").expect("a match");
    let mut out: Vec<String> = typed
        .fields
        .iter()
        .map(|f| match f {
            MatchField::Known { field, value, mask, .. } => format!("{field:?}={}/{:?}", shown(value), mask.as_ref().map(shown)),
            other => format!("{other:?}"),
        })
        .collect();
    out.sort();
    out
}

fn decode11(frame: &[u8]) -> Message {
    assert_eq!(frame[0], OFP11_VERSION);
    Message::decode(frame).unwrap_or_else(|e| panic!("{}: {e}", hex(frame)))
}

#[test]
fn the_features_of_openflow_1_3_with_its_port_desc_read_as_openflow_1_1s_features_reply() {
    let (of11, of13) = (rows(SWITCH_11, 1), rows(SWITCH_13, 1));
    let built = features_reply_of11(&of13["rep.features_reply"], &[of13["rep.stats.port_desc"].clone()]).unwrap();
    let (Message::FeaturesReply(got), Message::FeaturesReply(want)) = (decode11(&built), decode11(&of11["rep.features_reply"])) else {
        panic!("not features replies")
    };
    assert_eq!((got.datapath_id, got.n_buffers, got.n_tables), (want.datapath_id, want.n_buffers, want.n_tables));
    let ports = |f: &crate::openflow::switch::FeaturesReply| {
        f.ports.iter().map(|p| (p.port_no, p.hw_addr, p.name.clone())).collect::<Vec<_>>()
    };
    assert_eq!(ports(&got), ports(&want));
    assert!(is_port_desc_reply(&of13["rep.stats.port_desc"]));
    assert_eq!(hex(&without_xid(port_desc_request())), hex(&without_xid(of13["req.stats.port_desc"].clone())));
}

#[test]
fn a_packet_in_of_openflow_1_3_reads_as_openflow_1_1s() {
    let (of11, of13) = (rows(SWITCH_11, 1), rows(SWITCH_13, 1));
    for name in ["async.packet_in.action", "async.packet_in.action.max_len64"] {
        let (Message::PacketIn(got), Message::PacketIn(want)) = (decode11(&from_of13(&of13[name]).unwrap()), decode11(&of11[name])) else {
            panic!("{name}: not packet-ins")
        };
        assert_eq!((got.in_port, got.total_len, got.reason, got.table_id), (want.in_port, want.total_len, want.reason, want.table_id), "{name}");
        assert_eq!(got.data, want.data, "{name}");
    }
}

#[test]
fn stats_replies_of_openflow_1_3_read_as_openflow_1_1s() {
    let (of11, of13) = (rows(SWITCH_11, 1), rows(SWITCH_13, 1));
    let reply = |frame: &[u8]| match decode11(frame) {
        Message::StatsReply(r) => r,
        other => panic!("not a stats reply: {other:?}"),
    };
    for name in ["rep.stats.desc", "rep.stats.flow", "rep.stats.flow.match", "rep.stats.aggregate", "rep.stats.port", "rep.stats.port.1", "rep.stats.queue", "rep.stats.group", "rep.stats.group.1", "rep.stats.group_desc"] {
        let got: StatsReply = reply(&from_of13(&of13[name]).unwrap_or_else(|e| panic!("{name}: {e}")));
        let want = reply(&of11[name]);
        // Counters and durations move between two recordings; the shape must not.
        match (&got.body, &want.body) {
            (StatsReplyBody::Flow { flows: a }, StatsReplyBody::Flow { flows: b }) => {
                let key = |f: &crate::openflow::stats::FlowStats| (f.table_id, f.priority, f.cookie, fields(&f.flow_match), f.instructions.clone());
                assert_eq!(a.iter().map(key).collect::<Vec<_>>(), b.iter().map(key).collect::<Vec<_>>(), "{name}");
            }
            (StatsReplyBody::Port { ports: a }, StatsReplyBody::Port { ports: b }) => {
                assert_eq!(a.iter().map(|p| p.port_no).collect::<Vec<_>>(), b.iter().map(|p| p.port_no).collect::<Vec<_>>(), "{name}");
            }
            (StatsReplyBody::Group { groups: a }, StatsReplyBody::Group { groups: b }) => {
                let key = |g: &crate::openflow::stats::GroupStats| (g.group_id, g.bucket_stats.len());
                assert_eq!(a.iter().map(key).collect::<Vec<_>>(), b.iter().map(key).collect::<Vec<_>>(), "{name}");
            }
            (a, b) => assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b), "{name}"),
        }
        if name == "rep.stats.group_desc" {
            assert_eq!(got.body, want.body, "{name}: the group descriptions, actions read back as OpenFlow 1.1's");
        }
    }
    // Table stats have no OpenFlow 1.1 form: they stay as they came.
    assert_eq!(from_of13(&of13["rep.stats.table"]).unwrap(), of13["rep.stats.table"]);
}

#[test]
fn errors_read_as_openflow_1_1_with_their_offending_request() {
    let (of11, of13) = (rows(SWITCH_11, 1), rows(SWITCH_13, 1));
    let error = |frame: &[u8]| match decode11(frame) {
        Message::Error(e) => e,
        other => panic!("not an error: {other:?}"),
    };
    for name in ["rep.error.bad_type", "rep.error.bad_stat", "rep.error.bad_flow_mod_command", "rep.error.bad_out_group", "rep.error.table254_eperm"] {
        let got = error(&from_of13(&of13[name]).unwrap());
        let want = error(&of11[name]);
        assert_eq!(got.ovs_name(), want.ovs_name(), "{name}");
        let offending = got.offending();
        assert_eq!(offending.first(), Some(&OFP11_VERSION), "{name}: the offending request reads as OpenFlow 1.1");
    }
}

#[test]
fn a_flow_removed_and_the_synchronous_replies_read_as_openflow_1_1s() {
    let (of11, of13) = (rows(SWITCH_11, 1), rows(SWITCH_13, 1));
    for name in ["async.flow_removed.hard_timeout", "rep.barrier_reply", "rep.echo_reply", "rep.get_config_reply", "async.port_status.add"] {
        let got = decode11(&from_of13(&of13[name]).unwrap());
        let want = decode11(&of11[name]);
        assert_eq!(std::mem::discriminant(&got), std::mem::discriminant(&want), "{name}");
        if let (Message::FlowRemoved(a), Message::FlowRemoved(b)) = (&got, &want) {
            assert_eq!((a.cookie, a.priority, a.reason), (b.cookie, b.priority, b.reason), "{name}");
            assert_eq!(fields(&a.flow_match), fields(&b.flow_match), "{name}");
        }
    }
}

#[test]
fn a_standard_match_becomes_the_oxm_fields_open_vswitch_reads_from_it() {
    use crate::openflow::types::{Masked, PortNo};
    let m = Match {
        in_port: Some(PortNo(2)),
        dl_src: Some(Masked::exact(MacAddr([2, 0, 0, 0, 0, 2]))),
        dl_type: Some(0x0800),
        nw_proto: Some(6),
        nw_dst: Some(Masked { value: "10.0.0.0".parse().unwrap(), mask: Some("255.0.0.0".parse().unwrap()) }),
        tp_dst: Some(22),
        ..Match::default()
    };
    let nxm = oxm_match(&m).unwrap().nxm().unwrap().unwrap();
    let fields: Vec<Field> = nxm.fields.iter().filter_map(MatchField::field).collect();
    assert_eq!(fields, [Field::InPort, Field::EthSrc, Field::EthType, Field::Ipv4Dst, Field::IpProto, Field::TcpDst]);
    // Ports of a protocol without them are ignored, as OpenFlow 1.1 says; no dl_type, no network fields.
    let gre = Match { dl_type: Some(0x0800), nw_proto: Some(47), tp_dst: Some(22), ..Match::default() };
    assert_eq!(oxm_match(&gre).unwrap().nxm().unwrap().unwrap().fields.len(), 2);
    let bare = Match { nw_proto: Some(6), tp_dst: Some(22), ..Match::default() };
    assert!(oxm_match(&bare).unwrap().nxm().unwrap().unwrap().fields.is_empty());
    assert!(oxm_match(&Match { dl_vlan: Some(5000), ..Match::default() }).unwrap_err().contains("VLAN"));
    // XO 1.4 sends 10.1.2.3 under a /16 wildcard: Open vSwitch reads 10.1.0.0/16 in
    // OpenFlow 1.1, and refuses the host bits in OXM (OFPBMC_BAD_WILDCARDS).
    let xo = Match { dl_type: Some(0x0800), nw_src: Some(Masked { value: "10.1.2.3".parse().unwrap(), mask: Some("255.255.0.0".parse().unwrap()) }), ..Match::default() };
    let nxm = oxm_match(&xo).unwrap().nxm().unwrap().unwrap();
    let ten_one = (Value::Ipv4("10.1.0.0".parse().unwrap()), Some(Value::Ipv4("255.255.0.0".parse().unwrap())));
    assert_eq!(nxm.find(Field::Ipv4Src), Some(ten_one));
    let mac = Match { dl_dst: Some(Masked { value: MacAddr([3, 0, 0, 0, 0, 9]), mask: Some(MacAddr([1, 0, 0, 0, 0, 0])) }), ..Match::default() };
    let nxm = oxm_match(&mac).unwrap().nxm().unwrap().unwrap();
    assert_eq!(nxm.find(Field::EthDst), Some((Value::Mac(MacAddr([1, 0, 0, 0, 0, 0])), Some(Value::Mac(MacAddr([1, 0, 0, 0, 0, 0]))))));
}

#[test]
fn set_tp_needs_the_protocol_its_flow_matches() {
    let a = [Action::SetTpDst { tp_port: 80 }];
    assert!(actions_to_of13(&a, &Match::default()).unwrap_err().contains("TCP or UDP"));
    let udp = Match { dl_type: Some(0x0800), nw_proto: Some(17), ..Match::default() };
    let [set] = &actions_to_of13(&a, &udp).unwrap()[..] else { panic!() };
    assert_eq!(action_of11(set), a[0]);
}

#[test]
fn garbage_from_the_switch_never_panics() {
    let of13 = rows(SWITCH_13, 1);
    for bytes in of13.values() {
        for cut in [0, 1, 7, 8, 9, 12, 16, 17, 20, 30, bytes.len().saturating_sub(1)] {
            let mut b = bytes[..cut.min(bytes.len())].to_vec();
            if b.len() >= 4 {
                let len = u16::try_from(b.len()).unwrap();
                b[2..4].copy_from_slice(&len.to_be_bytes());
            }
            let _ = from_of13(&b);
            let _ = to_of13(&b);
        }
    }
    let _ = features_reply_of11(&[4, 6, 0, 8, 0, 0, 0, 0], &[vec![1, 2, 3]]);
}

#[test]
fn open_vswitchs_conntrack_refusal_reads_as_the_nxet_vendor_error_of_openflow_1_1() {
    // NXBAC_CT_DATAPATH_SUPPORT as OpenFlow 1.3 carries it: OFPET_EXPERIMENTER, code 42,
    // NX_VENDOR_ID, then the start of the refused FLOW_MOD.
    let frame = [&[4, 1, 0, 24, 0, 0, 0, 9, 0xff, 0xff, 0, 42, 0, 0, 0x23, 0x20][..], &[4, 14, 0, 0xa8, 0, 0, 0, 9]].concat();
    let Message::Error(e) = decode11(&from_of13(&frame).unwrap()) else { panic!("not an error") };
    assert_eq!(e.ovs_name(), "NXBAC_CT_DATAPATH_SUPPORT");
    assert_eq!(e.offending(), &[2, 14, 0, 0xa8, 0, 0, 0, 9], "the FLOW_MOD, read as OpenFlow 1.1");
    // An extension error not in the table keeps its experimenter form.
    let other = [&frame[..10], &[0, 99], &frame[12..]].concat();
    assert_eq!(from_of13(&other).unwrap()[8..12], [0xff, 0xff, 0, 99]);
}
