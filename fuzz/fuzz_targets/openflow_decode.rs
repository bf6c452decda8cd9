//! Any bytes: decode never panics; a decoded message re-encodes to a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xo_sdn_native::openflow::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        if let Ok(bytes) = m.to_bytes() {
            let again = Message::decode(&bytes).expect("our own encoding decodes");
            assert_eq!(again.to_bytes().expect("re-encodes"), bytes);
        }
    }
});
