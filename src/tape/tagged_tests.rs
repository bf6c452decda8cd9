//! `tagged_enum!` (`crate::openflow::tagged`) against serde's own
//! `#[serde(tag = "type")]`: a copy of the `Action` and `Instruction` definitions
//! as they were derived, fed the same random objects through the tape. Same values; errors of the same kind
//! (messages may now name the field inside the action, which serde's buffered
//! path could not).

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

use crate::openflow::types::{u64_field, Bytes, MacAddr, PortNo};
use crate::openflow::{Action, Instruction};
use crate::tape::fast::tests::{write_js_tape, Rng, J};
use crate::tape::from_tape;

fn all_ones() -> u64 {
    u64::MAX
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
enum RefAction {
    Output {
        port: PortNo,
        #[serde(default)]
        max_len: u16,
    },
    SetVlanVid {
        vlan_vid: u16,
    },
    SetVlanPcp {
        vlan_pcp: u8,
    },
    SetDlSrc {
        dl_addr: MacAddr,
    },
    SetDlDst {
        dl_addr: MacAddr,
    },
    SetNwSrc {
        nw_addr: Ipv4Addr,
    },
    SetNwDst {
        nw_addr: Ipv4Addr,
    },
    SetNwTos {
        nw_tos: u8,
    },
    SetNwEcn {
        nw_ecn: u8,
    },
    SetTpSrc {
        tp_port: u16,
    },
    SetTpDst {
        tp_port: u16,
    },
    CopyTtlOut,
    CopyTtlIn,
    SetMplsLabel {
        mpls_label: u32,
    },
    SetMplsTc {
        mpls_tc: u8,
    },
    SetMplsTtl {
        mpls_ttl: u8,
    },
    DecMplsTtl,
    PushVlan {
        ethertype: u16,
    },
    PopVlan,
    PushMpls {
        ethertype: u16,
    },
    PopMpls {
        ethertype: u16,
    },
    SetQueue {
        queue_id: u32,
    },
    Group {
        group_id: u32,
    },
    SetNwTtl {
        nw_ttl: u8,
    },
    DecNwTtl,
    Experimenter {
        experimenter: u32,
        #[serde(default)]
        data: Bytes,
    },
    Unknown {
        action_type: u16,
        #[serde(default)]
        data: Bytes,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
enum RefInstruction {
    GotoTable {
        table_id: u8,
    },
    WriteMetadata {
        #[serde(with = "u64_field")]
        metadata: u64,
        #[serde(with = "u64_field", default = "all_ones")]
        metadata_mask: u64,
    },
    WriteActions {
        #[serde(default)]
        actions: Vec<RefAction>,
    },
    ApplyActions {
        #[serde(default)]
        actions: Vec<RefAction>,
    },
    ClearActions,
    Experimenter {
        experimenter: u32,
        #[serde(default)]
        data: Bytes,
    },
    Unknown {
        instruction_type: u16,
        #[serde(default)]
        data: Bytes,
    },
}

const TAGS: &[&str] = &[
    "output",
    "set_vlan_vid",
    "set_dl_src",
    "set_nw_dst",
    "copy_ttl_out",
    "pop_vlan",
    "group",
    "experimenter",
    "unknown",
    "set_mpls_label",
    "push_vlan",
    "teleport",
    "",
    "goto_table",
    "write_metadata",
    "apply_actions",
    "write_actions",
    "clear_actions",
];
const KEYS: &[&str] = &[
    "port",
    "maxLen",
    "vlanVid",
    "dlAddr",
    "nwAddr",
    "groupId",
    "experimenter",
    "data",
    "actionType",
    "mplsLabel",
    "ethertype",
    "tableId",
    "metadata",
    "metadataMask",
    "actions",
    "instructionType",
    "bogus",
];

fn value(rng: &mut Rng, depth: u32) -> J {
    match rng.below(if depth > 1 { 11 } else { 13 }) {
        0 => J::Null,
        1 => J::Bool(rng.chance(2)),
        2 | 3 => J::U32(rng.below(70_000) as u32),
        4 => J::U32(u32::MAX),
        5 => J::F64([-1.0, 1.5, 5e9, -0.5][rng.below(4) as usize]),
        6 => J::Big(rng.next() >> rng.below(64)),
        7 => {
            J::Str(["normal", "any", "ae:f7:4b:84:6c:8b", "10.0.0.1", "zz", "0x10", "7"][rng.below(7) as usize].into())
        }
        8 => J::Bytes(vec![1, 2, 3]),
        9 => J::Str(String::new()),
        10 => J::Arr(vec![]),
        _ => J::Arr((0..rng.below(3)).map(|_| object(rng, depth + 1)).collect()),
    }
}

fn object(rng: &mut Rng, depth: u32) -> J {
    let mut fields = Vec::new();
    if !rng.chance(10) {
        let tag = TAGS[rng.below(TAGS.len() as u64) as usize];
        fields.push(("type".to_owned(), if rng.chance(15) { J::U32(5) } else { J::Str(tag.into()) }));
    }
    for _ in 0..rng.below(4) {
        let k = KEYS[rng.below(KEYS.len() as u64) as usize];
        if !fields.iter().any(|(f, _)| f == k) {
            fields.push((k.to_owned(), value(rng, depth)));
        }
    }
    if rng.chance(20) {
        return value(rng, depth);
    }
    J::Obj(fields)
}

/// A numeric `type`, or an array where a tagged object belongs (`top`, or an
/// element of an array).
fn quirk(j: &J, tagged_here: bool) -> bool {
    match j {
        J::Obj(f) => matches!(f.first(), Some((k, J::U32(_))) if k == "type") || f.iter().any(|(_, v)| quirk(v, false)),
        J::Arr(a) => tagged_here || a.iter().any(|v| quirk(v, true)),
        _ => false,
    }
}

fn same<A: Serialize, B: Serialize>(
    mine: Result<(A, usize), crate::tape::TapeError>,
    serde: Result<(B, usize), crate::tape::TapeError>,
    j: &J,
) -> bool {
    match (mine, serde) {
        (Ok((a, n)), Ok((b, m))) => {
            assert_eq!(serde_json::to_value(&a).unwrap(), serde_json::to_value(&b).unwrap(), "{j:?}");
            assert_eq!(n, m, "{j:?}");
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.kind, b.kind, "{j:?}: {a} / {b}");
            false
        }
        (a, b) => panic!("{j:?}: macro {:?} vs serde {:?}", a.map(|_| ()), b.map(|_| ())),
    }
}

#[test]
fn tagged_enums_read_like_serde_tag() {
    let mut rng = Rng(0x7a99_ed00_0000_0003);
    let mut ok = [0; 2];
    let mut skipped = 0;
    for i in 0..30_000 {
        let j = object(&mut rng, 0);
        let mut t = Vec::new();
        write_js_tape(&j, &mut t, &mut || false);
        // Two deliberate differences. serde took a number for `type` as the
        // variant's index (`{ type: 0, port: 1 }` was an output action), and an
        // array as `[tag, field, field...]`; the macro wants an object with the
        // name, and says so with ERR_INVALID_ARG_TYPE (serde's errors on those
        // were ERR_INVALID_ARG_VALUE, when it did not accept them).
        if quirk(&j, true) {
            skipped += 1;
            continue;
        }
        if i % 2 == 0 {
            ok[0] += u32::from(same(from_tape::<Action>(&t), from_tape::<RefAction>(&t), &j));
        } else {
            ok[1] += u32::from(same(from_tape::<Instruction>(&t), from_tape::<RefInstruction>(&t), &j));
        }
    }
    assert!(ok.iter().all(|n| *n > 300), "too few valid inputs: {ok:?}");
    assert!(skipped < 15_000, "{skipped}");
}
