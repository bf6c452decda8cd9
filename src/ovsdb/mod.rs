//! OVSDB client core (RFC 7047, with the ovsdb-server(7) extensions
//! `monitor_cond`, `monitor_cond_since`, `update2` and `update3`).
//!
//! Sans-I/O like [`crate::session`]: bytes and `now: Instant` in; bytes, events
//! and the next deadline out. Nothing here opens a socket, reads a clock, spawns
//! or sleeps; a driver owns the transport (TCP or TLS) and the timers.
//!
//! - [`framing`] splits the byte stream into JSON texts (no length prefix on the
//!   wire), with a size cap.
//! - [`jsonrpc`] is JSON-RPC **1.0** as RFC 7047 §4 uses it (not 2.0): requests
//!   `{method, params, id}`, responses `{result, error, id}` with both members,
//!   notifications with `id: null`, and requests in both directions (`echo`).
//! - [`session`] is one connection: ids, pending requests, timeouts, echo
//!   replies and probes, transaction result checking, notification dispatch.
//! - [`monitor`] builds monitor requests and carries their updates.
//! - [`replica`] keeps the monitored tables in memory and reports row events.
//! - [`schema`] and [`notation`] convert between OVSDB notation and natural JSON
//!   and check values against column types.
//! - [`error`] has the RFC 7047 error strings as typed errors with stable codes.
//!
//! A driver's loop: write `take_output()`, feed reads to `receive`, call
//! `handle_timeout` at `poll_timeout()`, and drain `poll_event()`, applying each
//! [`session::Event::Update`] to a [`replica::Replica`].

#![forbid(unsafe_code)]

pub mod error;
pub mod framing;
pub mod jsonrpc;
pub mod monitor;
pub mod natural;
pub mod notation;
pub mod replica;
pub mod schema;
pub mod session;

pub use error::{CloseReason, ErrorKind, RequestError, RpcError, TransactError};
pub use monitor::{MonitorRequest, MonitorUpdate, UpdateFormat};
pub use replica::{Replica, Row, RowEvent, RowEventKind};
pub use schema::DatabaseSchema;
pub use session::{Config, Event, OvsdbSession, RequestId};
