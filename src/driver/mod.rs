//! Tokio drivers: one task per connection owns the socket and a sans-I/O session
//! from `session/`, and talks to its handle through channels. The only module that
//! imports tokio's networking.

#![forbid(unsafe_code)]

pub mod io;
pub mod openflow;
pub mod stream;

use std::fmt;
use std::time::Duration;

/// How long a graceful close may spend flushing what is queued (and, for a byte
/// stream, reading to the peer's end) before the connection is cut: 1 s. After it,
/// the tasks are aborted and the socket and queues dropped, so a peer that stops
/// reading cannot hold a closed connection (and its memory) open.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

pub use crate::session::{MAX_QUEUED_BYTES, PEER_NOT_READING};

/// A failure a caller sees, with a stable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelError {
    /// Stable code (`CONNECTION_REFUSED`, `TLS_UNKNOWN_ISSUER`, `OF_TIMEOUT`, ...).
    pub code: &'static str,
    /// Human-readable detail.
    pub message: String,
    /// The switch's OFPT_ERROR, when the switch refused the request.
    pub switch_error: Option<Vec<u8>>,
}

impl ChannelError {
    /// An error with a code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ChannelError { code, message: message.into(), switch_error: None }
    }
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ChannelError {}
