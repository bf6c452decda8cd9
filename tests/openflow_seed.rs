//! The seed flow and OVS's OF1.3 hello, byte-for-byte.

use xo_sdn_native::openflow::types::hex_decode;
use xo_sdn_native::openflow::Message;

/// `ovs-ofctl -O OpenFlow11 add-flow br0 'priority=65527,tcp,in_port=4,dl_src=ae:f7:4b:84:6c:8b,
/// nw_src=192.168.5.242,nw_dst=192.168.5.55,tp_dst=5060,actions=drop'`, recorded from the wire.
const SEED: &str = "020e00880000000600000000000000000000000000000000000000000000fff7ffffffffffffffffffffffff00000000000000580000000400000356aef74b846c8b000000000000000000000000ffffffffffff0000000008000006c0a805f200000000c0a8053700000000000013c400000000000000000000000000000000ffffffffffffffff";

#[test]
fn seed_flow_round_trips() {
    let bytes = hex_decode(SEED).unwrap();
    let m = Message::decode(&bytes).unwrap();
    let Message::FlowMod(fm) = &m else { panic!("not a flow_mod: {m:?}") };
    assert_eq!(fm.priority, 65527);
    assert_eq!(fm.flow_match.in_port.map(|p| p.0), Some(4));
    assert_eq!(fm.flow_match.tp_dst, Some(5060));
    assert_eq!(fm.flow_match.dl_src.unwrap().to_string(), "ae:f7:4b:84:6c:8b");
    assert_eq!(fm.flow_match.nw_dst.unwrap().to_string(), "192.168.5.55");
    assert!(fm.instructions.is_empty());
    assert_eq!(m.to_bytes().unwrap(), bytes);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["type"], "flow_mod");
    assert_eq!(json["match"]["dlSrc"], "ae:f7:4b:84:6c:8b");
    let back: Message = serde_json::from_value(json).unwrap();
    assert_eq!(back, m);
}

#[test]
fn ovs_hello_with_bitmap_gives_versions() {
    let bytes = hex_decode("04000010000000010001000800000014").unwrap();
    let m = Message::decode(&bytes).unwrap();
    let Message::Hello(h) = &m else { panic!("{m:?}") };
    assert_eq!(h.version, 4);
    assert_eq!(h.versions(), vec![2, 4]);
    assert_eq!(m.to_bytes().unwrap(), bytes);
}
