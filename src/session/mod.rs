//! Protocol sessions as pure state machines (sans-I/O): bytes and `now` in, bytes,
//! events and the next deadline out. The tokio drivers in `driver/` own the sockets
//! and the clock; tests drive these by hand.
//!
//! Memory caps shared by every connection (OpenFlow and OVSDB alike):
//! [`MAX_QUEUED_BYTES`] bounds what waits to be written to a peer, and a peer that
//! lets it fill is dropped with [`PEER_NOT_READING`].

#![forbid(unsafe_code)]

pub mod openflow;
pub mod reconnect;

/// Cap on the bytes waiting to be written to one peer: 16 MiB.
///
/// Counted: output a session produced that its driver has not taken yet, plus what
/// the driver holds for the socket but has not started writing (the write in
/// progress is not counted, so one large batch being written does not count against
/// what follows it). The check is made *before* output is added: once the queue
/// holds more than the cap, the next output (an echo reply we owe the peer, our own
/// probe, a request, a batch) closes the connection with [`PEER_NOT_READING`] and
/// releases the queue. So a single command larger than the cap (a batch of up to
/// `openflow::MAX_BATCH_BYTES`, a 64 MiB OVSDB transaction) is still sent when the
/// queue has room, and a peer that floods us with echo requests while reading
/// nothing can make us hold at most this cap plus one reply.
///
/// 16 MiB is about 100,000 OpenFlow flow mods or several seconds of a slow WAN link;
/// a healthy switch or ovsdb-server reads far faster than we write.
pub const MAX_QUEUED_BYTES: usize = 16 << 20;

/// Code of a connection closed because the peer stopped reading: its queue passed
/// [`MAX_QUEUED_BYTES`]. Shared by OpenFlow channels and OVSDB streams.
pub const PEER_NOT_READING: &str = "PEER_NOT_READING";
