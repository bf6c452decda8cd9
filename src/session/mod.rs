//! Protocol sessions as pure state machines (sans-I/O): bytes and `now` in, bytes,
//! events and the next deadline out. The tokio drivers in `driver/` own the sockets
//! and the clock; tests drive these by hand.

#![forbid(unsafe_code)]

pub mod openflow;
pub mod reconnect;
