//! Any byte stream, cut at fuzzer-chosen points: the framer and decoder never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xo_sdn_native::openflow::{Framer, Message};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else { return };
    let step = usize::from(cut).max(1);
    let mut f = Framer::new();
    for chunk in stream.chunks(step) {
        f.push(chunk);
        loop {
            match f.next_frame() {
                Ok(Some(frame)) => {
                    let _ = Message::decode(&frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
