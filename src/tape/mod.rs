//! A compact value tape that carries serde data across the N-API boundary.
//!
//! Building a JS object through N-API costs one native call per property, which
//! would dominate the cost of decoding a 136-byte FLOW_MOD. Instead the Rust side
//! writes a flat tape into a buffer the JS side owns, and `js/tape.js` turns it into
//! plain objects with V8's fast paths (and the reverse for encoding). Object keys
//! travel as small integers interned once per process.
//!
//! Tape grammar (little-endian):
//! `value := NULL | TRUE | FALSE | U32 u32 | F64 f64 | BIGINT u64 | STR u16 len bytes
//!         | BYTES u32 len bytes | ARRAY u32 n value* | OBJECT u16 n (key value)*`
//! `key    := u16 id` (Rust to JS: id from [`key_names`]) or `u8 len bytes` (JS to Rust).

#![forbid(unsafe_code)]

mod de;
mod ser;

pub use de::{from_tape, TapeError, TapeErrorKind};
pub use ser::{key_names, to_tape};

/// Tape opcodes.
pub mod op {
    #![allow(missing_docs)]
    pub const NULL: u8 = 0;
    pub const TRUE: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const U32: u8 = 3;
    pub const F64: u8 = 4;
    pub const BIGINT: u8 = 5;
    pub const STR: u8 = 6;
    pub const BYTES: u8 = 7;
    pub const ARRAY: u8 = 8;
    pub const OBJECT: u8 = 9;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::types::hex_decode;
    use crate::openflow::Message;

    #[test]
    fn message_round_trips_through_a_tape() {
        let bytes = hex_decode("020e00880000000600000000000000000000000000000000000000000000fff7ffffffffffffffffffffffff00000000000000580000000400000356aef74b846c8b000000000000000000000000ffffffffffff0000000008000006c0a805f200000000c0a8053700000000000013c400000000000000000000000000000000ffffffffffffffff").unwrap();
        let m = Message::decode(&bytes).unwrap();
        let mut tape = Vec::new();
        to_tape(&m, &mut tape).unwrap();
        assert!(!key_names(0).is_empty());
    }
}
