//! A compact value tape that carries serde data across the N-API boundary.
//!
//! Building a JS object through N-API costs one native call per property, which
//! would dominate the cost of decoding a 136-byte FLOW_MOD. Instead the Rust side
//! writes a flat tape into a buffer the JS side owns, and `js/tape.js` turns it into
//! plain objects with V8's fast paths (and the reverse for encoding). Object keys
//! travel as small integers interned once per process.
//!
//! Tape grammar (little-endian):
//! `value := NULL | TRUE | FALSE | U32 u32 | F64 f64 | BIGINT u64 | BIG_ZERO | BIG_ONES
//!         | STR u16 len bytes | ASCII u8 len bytes | ATOM u16 id | NAME u8 len bytes (JS to Rust)
//!         | BYTES u32 len bytes | ARRAY u32 n value*
//!         | SHAPE u16 id value*              (Rust to JS: keys from the shape table)
//!         | OBJECT u16 n (key value)*`       (JS to Rust; Rust to JS only if the shape table is full)
//! `key    := u16 id` (an atom, see [`atoms`]), or from JS also `0xffff u8 len bytes`
//! for a key it has no id for yet.
//!
//! Atoms and shapes live in global append-only tables ([`atoms`]); the JS side
//! fetches new entries with `__keyNames(from)` / `__shapes(from)` when it meets an
//! id it does not know, so a steady-state call is still one N-API crossing.
//!
//! Besides the generic serde path: `fast` reads and writes FLOW_MODs without
//! serde (same bytes, same values, checked by differential tests), and [`tagged`]
//! reads internally tagged enums (`{ type: 'output', ... }`) without buffering.

#![forbid(unsafe_code)]

pub mod atoms;
mod de;
mod fast;
mod ser;
#[cfg(test)]
mod tagged_tests;

pub use crate::openflow::types::{serialize_data_str, DATA_STR};
pub use de::{from_tape, message_from_tape, with_message_from_tape, TapeError, TapeErrorKind};
pub use ser::{key_names, message_to_tape, to_tape};

/// Key id meaning "the key follows inline".
pub const INLINE_KEY: u16 = 0xffff;

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
    pub const ATOM: u8 = 10;
    pub const SHAPE: u8 = 11;
    pub const ASCII: u8 = 12;
    pub const BIG_ZERO: u8 = 13;
    pub const BIG_ONES: u8 = 14;
    /// JS to Rust: `u8 len bytes`, a name (lowercase identifier) JS has no atom
    /// id for yet; Rust interns it (see [`super::atoms::learn_name`]).
    pub const NAME: u8 = 15;
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
