//! Any bytes through the Nicira decoders (NXM/OXM match TLVs, NXT_FLOW_MOD, Nicira action
//! bodies): never a panic; a decoded match re-encodes to the input exactly, a decoded
//! NXT_FLOW_MOD re-encodes to bytes that decode to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xo_sdn_native::openflow::nx_action::NxAction;
use xo_sdn_native::openflow::nx_flow_mod::NxFlowMod;
use xo_sdn_native::openflow::nxm::NxmMatch;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = NxmMatch::decode(data) {
        assert_eq!(m.to_bytes(), data);
    }
    if let Ok(fm) = NxFlowMod::decode(data) {
        let again = NxFlowMod::decode(&fm.to_bytes()).expect("our own encoding decodes");
        assert_eq!(again, fm);
    }
    let _ = NxAction::decode_body(data);
});
