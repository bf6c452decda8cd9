//! Any tape, as if written by the JS side: reading a message never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xo_sdn_native::openflow::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok((m, _)) = xo_sdn_native::tape::from_tape::<Message>(data) {
        let _ = m.to_bytes();
    }
});
