//! One OVSDB client connection as a sans-I/O state machine.
//!
//! Inputs: bytes received ([`OvsdbSession::receive`]), commands ([`OvsdbSession::call`]
//! and the helpers), [`OvsdbSession::close`], and `now`. Outputs: bytes to write
//! ([`OvsdbSession::take_output`]), events ([`OvsdbSession::poll_event`]) and the
//! next deadline ([`OvsdbSession::poll_timeout`]); call
//! [`OvsdbSession::handle_timeout`] when it passes. The session is created on an
//! established connection (TCP, or TLS already handshaken) and is usable at once:
//! OVSDB has no handshake.
//!
//! Every command returns a [`RequestId`] that exactly one
//! [`Event::Completed`] later completes, with the reply or why there is none. A
//! request is reported successful only when the server said so:
//! - `transact` completes with `Ok(results)` only when every operation and the
//!   commit succeeded (RFC 7047 §4.1.3); otherwise with
//!   [`RequestError::Transact`] naming the failed operation's index;
//! - a monitor's initial contents arrive as an [`Event::Update`] just before its
//!   `Completed`, so a driver feeds every `Update` to its
//!   [`crate::ovsdb::replica::Replica`] and nothing else;
//! - a timeout or a closed session leaves the outcome unknown, and says so.
//!
//! The session answers the server's `echo` requests (RFC 7047 §4.1.11), and
//! probes the server itself after `echo_interval` without receiving anything; if
//! nothing arrives within `echo_timeout` of the probe it closes with
//! [`CloseReason::ProbeTimeout`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use super::error::{CloseReason, RequestError, RpcError, TransactError};
use super::framing::{FramingError, JsonFramer, MAX_MESSAGE_BYTES};
use crate::session::MAX_QUEUED_BYTES;
use super::jsonrpc::Message;
use super::monitor::{snapshot_tables, MonitorUpdate, UpdateFormat, ZERO_TXN_ID};
use super::notation;

/// Session settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Idle time (nothing received) after which we send an `echo` probe.
    /// `Duration::ZERO` disables probing.
    pub echo_interval: Duration,
    /// Time to wait for any traffic after a probe before closing.
    pub echo_timeout: Duration,
    /// Timeout of the helper commands (`call` takes its own).
    pub request_timeout: Duration,
    /// Largest message accepted from the server (see [`MAX_MESSAGE_BYTES`]).
    pub max_message_bytes: usize,
    /// Cap on the bytes waiting to be written (see [`MAX_QUEUED_BYTES`]): output
    /// not taken yet plus what the driver reports with
    /// [`OvsdbSession::set_unsent`]. Output added while it is passed closes the
    /// session with [`CloseReason::PeerNotReading`].
    pub max_queued_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            echo_interval: Duration::from_secs(5),
            echo_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_queued_bytes: MAX_QUEUED_BYTES,
        }
    }
}

/// Identifies a command until its completion. Also the JSON-RPC id on the wire.
pub type RequestId = u64;

/// The JSON-RPC id of our inactivity probes.
const PROBE_ID: &str = "echo";

/// Something the caller must know about.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A command finished. For `transact`, `Ok` holds the result array (one entry
    /// per operation). For the monitor helpers, `Ok` holds `{}` (or, for
    /// `monitor_cond_since`, `{"found": bool, "last_txn_id": string}`): the rows
    /// came in the [`Event::Update`] just before.
    Completed {
        /// Which command.
        id: RequestId,
        /// How it ended.
        result: Result<Value, RequestError>,
    },
    /// Changes to monitored tables: a monitor's initial contents, or an
    /// `update`/`update2`/`update3` notification.
    Update(MonitorUpdate),
    /// `locked` notification (RFC 7047 §4.1.9): a lock we asked for is ours now.
    Locked(String),
    /// `stolen` notification (RFC 7047 §4.1.10): another client took our lock.
    Stolen(String),
    /// `monitor_canceled` notification (ovsdb-server(7) §4.1.7): the server
    /// dropped a monitor (its database was removed).
    MonitorCanceled(Value),
    /// Any other notification, as received.
    Notification {
        /// Method.
        method: String,
        /// Params.
        params: Value,
    },
    /// The session ended; every pending command has completed with an error first.
    Closed(CloseReason),
}

#[derive(Debug)]
enum Kind {
    /// Reply passed through as is (errors become [`RequestError::Rpc`]).
    Plain,
    /// Every operation's result is checked; `ops` holds each operation's `op` name.
    Transact { ops: Vec<Option<String>> },
    /// A monitor: its reply becomes an [`Event::Update`].
    Monitor { monitor_id: Value, format: UpdateFormat, since: bool, tables: Vec<String> },
}

#[derive(Debug)]
struct Pending {
    kind: Kind,
    deadline: Instant,
}

/// One OVSDB client connection.
#[derive(Debug)]
pub struct OvsdbSession {
    config: Config,
    closed: bool,
    framer: JsonFramer,
    out: Vec<u8>,
    events: VecDeque<Event>,
    next_id: RequestId,
    pending: HashMap<RequestId, Pending>,
    deadlines: BTreeSet<(Instant, RequestId)>,
    last_rx: Instant,
    /// When our outstanding probe was sent (cleared by any traffic).
    probe: Option<Instant>,
    received_any: bool,
    /// Bytes the driver took from `out` and has not started writing.
    unsent: usize,
}

impl OvsdbSession {
    /// A session on a connection that was just established.
    pub fn new(config: Config, now: Instant) -> OvsdbSession {
        OvsdbSession {
            framer: JsonFramer::with_limit(config.max_message_bytes),
            config,
            closed: false,
            out: Vec::new(),
            events: VecDeque::new(),
            next_id: 1,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            last_rx: now,
            probe: None,
            received_any: false,
            unsent: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True once ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Commands in flight.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Tells the session how many bytes it produced are still waiting in the
    /// driver: taken with [`OvsdbSession::take_output`] but not yet handed to the
    /// socket, not counting a write in progress. They count against
    /// [`Config::max_queued_bytes`].
    pub fn set_unsent(&mut self, bytes: usize) {
        self.unsent = bytes;
    }

    /// Bytes waiting to be written: output not taken yet plus [`OvsdbSession::set_unsent`].
    pub fn queued_bytes(&self) -> usize {
        self.out.len().saturating_add(self.unsent)
    }

    /// Bytes received and not yet handed out as messages (at most about
    /// [`Config::max_message_bytes`]).
    pub fn buffered_input(&self) -> usize {
        self.framer.buffered()
    }

    /// Checked before output is added. When the queue already holds more than
    /// the cap, closes with `PeerNotReading` (releasing the output) and returns
    /// the reason.
    fn room_for_output(&mut self) -> Result<(), CloseReason> {
        let queued = self.queued_bytes();
        let limit = self.config.max_queued_bytes;
        if queued <= limit {
            return Ok(());
        }
        self.out = Vec::new();
        let reason = CloseReason::PeerNotReading(format!(
            "ovsdb-server does not read what we send: {queued} bytes waiting, over the {limit}-byte cap"
        ));
        self.close(reason.clone());
        Err(reason)
    }

    // ---------------------------------------------------------------------------
    // Commands

    /// Sends a request and completes with its `result` (or its `error` as
    /// [`RequestError::Rpc`]), or [`RequestError::Timeout`] after `timeout`.
    pub fn call(&mut self, method: &str, params: Value, timeout: Duration, now: Instant) -> Result<RequestId, RequestError> {
        self.send_request(method, params, Kind::Plain, timeout, now)
    }

    /// `list_dbs` (RFC 7047 §4.1.1): completes with an array of database names.
    pub fn list_dbs(&mut self, now: Instant) -> Result<RequestId, RequestError> {
        self.send_request("list_dbs", json!([]), Kind::Plain, self.config.request_timeout, now)
    }

    /// `get_schema` (RFC 7047 §4.1.2): completes with the schema, for
    /// [`crate::ovsdb::schema::DatabaseSchema::parse`].
    pub fn get_schema(&mut self, db: &str, now: Instant) -> Result<RequestId, RequestError> {
        self.send_request("get_schema", json!([db]), Kind::Plain, self.config.request_timeout, now)
    }

    /// `transact` (RFC 7047 §4.1.3) with the default request timeout.
    pub fn transact(&mut self, db: &str, ops: Vec<Value>, now: Instant) -> Result<RequestId, RequestError> {
        self.transact_with_timeout(db, ops, self.config.request_timeout, now)
    }

    /// `transact`: completes with `Ok(results)`, one per operation, only if every
    /// operation and the commit succeeded; otherwise with
    /// [`RequestError::Transact`] (nothing was applied). Each operation must be an
    /// object with an `op` string.
    pub fn transact_with_timeout(&mut self, db: &str, ops: Vec<Value>, timeout: Duration, now: Instant) -> Result<RequestId, RequestError> {
        let mut names = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match op.get("op") {
                Some(Value::String(s)) if op.is_object() => names.push(Some(s.clone())),
                _ => return Err(RequestError::Invalid(format!("operation {i} is not an object with an \"op\" string: {op}"))),
            }
        }
        let mut params = Vec::with_capacity(ops.len() + 1);
        params.push(Value::String(db.to_owned()));
        params.extend(ops);
        self.send_request("transact", Value::Array(params), Kind::Transact { ops: names }, timeout, now)
    }

    /// `cancel` (RFC 7047 §4.1.4) of a pending request, which completes at once
    /// with [`RequestError::Canceled`]. `cancel` is a notification, and although
    /// the RFC says the server answers the canceled request with a `"canceled"`
    /// error, ovsdb-server drops it without any answer: so the session stops
    /// waiting now, and drops a late reply like any reply after a timeout. Only a
    /// request blocked in the server (a transaction with a `wait`) is really
    /// stopped; another one may already have been executed.
    pub fn cancel(&mut self, id: RequestId) -> Result<(), RequestError> {
        if self.closed {
            return Err(RequestError::NotConnected);
        }
        if self.unregister(id).is_none() {
            return Err(RequestError::Invalid(format!("no pending request {id}")));
        }
        self.complete(id, Err(RequestError::Canceled));
        if self.room_for_output().is_err() {
            return Ok(());
        }
        Message::notification("cancel", json!([id])).write_to(&mut self.out);
        Ok(())
    }

    /// `monitor` (RFC 7047 §4.1.5): `requests` maps table names to
    /// `<monitor-request>`s (see [`crate::ovsdb::monitor::monitor_requests`]).
    /// Updates come as [`UpdateFormat::Update`].
    pub fn monitor(&mut self, db: &str, monitor_id: Value, requests: Value, now: Instant) -> Result<RequestId, RequestError> {
        self.send_monitor("monitor", db, monitor_id, requests, None, UpdateFormat::Update, now)
    }

    /// `monitor_cond` (ovsdb-server(7) §4.1.12): like `monitor`, with `where`
    /// conditions; updates come as [`UpdateFormat::Update2`].
    pub fn monitor_cond(&mut self, db: &str, monitor_id: Value, requests: Value, now: Instant) -> Result<RequestId, RequestError> {
        self.send_monitor("monitor_cond", db, monitor_id, requests, None, UpdateFormat::Update2, now)
    }

    /// `monitor_cond_since` (ovsdb-server(7) §4.1.15): only the changes after
    /// `last_txn_id` (from [`crate::ovsdb::replica::Replica::last_txn_id`]) if the
    /// server still has them, everything otherwise (the reply's update then resets
    /// the monitored tables).
    pub fn monitor_cond_since(
        &mut self,
        db: &str,
        monitor_id: Value,
        requests: Value,
        last_txn_id: Option<&str>,
        now: Instant,
    ) -> Result<RequestId, RequestError> {
        let txn = last_txn_id.unwrap_or(ZERO_TXN_ID);
        if !notation::is_uuid(txn) {
            return Err(RequestError::Invalid(format!("last_txn_id {txn:?} is not a UUID")));
        }
        self.send_monitor("monitor_cond_since", db, monitor_id, requests, Some(txn), UpdateFormat::Update2, now)
    }

    /// `monitor_cancel` (RFC 7047 §4.1.7).
    pub fn monitor_cancel(&mut self, monitor_id: Value, now: Instant) -> Result<RequestId, RequestError> {
        self.send_request("monitor_cancel", json!([monitor_id]), Kind::Plain, self.config.request_timeout, now)
    }

    /// `lock` (RFC 7047 §4.1.8): completes with `{"locked": bool}`; if false,
    /// [`Event::Locked`] follows when the lock is granted.
    pub fn lock(&mut self, name: &str, now: Instant) -> Result<RequestId, RequestError> {
        check_lock_name(name)?;
        self.send_request("lock", json!([name]), Kind::Plain, self.config.request_timeout, now)
    }

    /// `steal` (RFC 7047 §4.1.8): completes with `{"locked": true}`.
    pub fn steal(&mut self, name: &str, now: Instant) -> Result<RequestId, RequestError> {
        check_lock_name(name)?;
        self.send_request("steal", json!([name]), Kind::Plain, self.config.request_timeout, now)
    }

    /// `unlock` (RFC 7047 §4.1.8): completes with `{}`.
    pub fn unlock(&mut self, name: &str, now: Instant) -> Result<RequestId, RequestError> {
        check_lock_name(name)?;
        self.send_request("unlock", json!([name]), Kind::Plain, self.config.request_timeout, now)
    }

    /// `echo` (RFC 7047 §4.1.11): completes with the params echoed.
    pub fn echo(&mut self, now: Instant) -> Result<RequestId, RequestError> {
        self.send_request("echo", json!(["xo-sdn"]), Kind::Plain, self.config.request_timeout, now)
    }

    /// Ends the session: pending commands complete with `Closed(reason)`, then
    /// [`Event::Closed`]. Idempotent.
    pub fn close(&mut self, reason: CloseReason) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.probe = None;
        let mut ids: Vec<RequestId> = self.pending.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if self.unregister(id).is_some() {
                self.complete(id, Err(RequestError::Closed(reason.clone())));
            }
        }
        self.events.push_back(Event::Closed(reason));
    }

    // ---------------------------------------------------------------------------
    // Outputs

    /// Bytes to write to the transport, if any.
    pub fn take_output(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            return None;
        }
        let mut out = std::mem::take(&mut self.out);
        // Serializing grows the buffer by doubling, so up to half of it is slack that
        // would wait in the driver's write queue with the bytes: against a server
        // that floods echo requests and reads nothing, a 16 MiB queue of replies held
        // about 32 MiB. Shrinking a malloc block frees its tail in place.
        out.shrink_to_fit();
        Some(out)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`OvsdbSession::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let probe = match self.probe {
            Some(sent) => Some(sent + self.config.echo_timeout),
            None if self.config.echo_interval.is_zero() => None,
            None => Some(self.last_rx + self.config.echo_interval),
        };
        let request = self.deadlines.iter().next().map(|(d, _)| *d);
        match (probe, request) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires what is due at `now`: probes, then request timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        match self.probe {
            Some(sent) if now >= sent + self.config.echo_timeout => {
                self.close(CloseReason::ProbeTimeout);
                return;
            }
            None if !self.config.echo_interval.is_zero() && now >= self.last_rx + self.config.echo_interval => {
                if self.room_for_output().is_err() {
                    return;
                }
                // Like OVS's own probes, id "echo": never one of our numeric ids.
                Message::request("echo", json!([]), json!(PROBE_ID)).write_to(&mut self.out);
                self.probe = Some(now);
            }
            _ => {}
        }
        while let Some(&(d, id)) = self.deadlines.iter().next() {
            if d > now {
                break;
            }
            if self.unregister(id).is_some() {
                self.complete(id, Err(RequestError::Timeout));
            }
        }
    }

    // ---------------------------------------------------------------------------
    // Input

    /// Feeds bytes received from the server.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        if self.closed || bytes.is_empty() {
            return;
        }
        // A TLS record header (alert 0x15 or handshake 0x16, version 3.x) first: we
        // spoke plain TCP to an `ssl:` port.
        if !self.received_any {
            self.received_any = true;
            if let [0x15 | 0x16, 0x03, ..] = bytes {
                self.close(CloseReason::Protocol("the server answered with TLS: this port expects a TLS connection".into()));
                return;
            }
        }
        // Any traffic shows the server is alive (a big reply may take a while).
        self.last_rx = now;
        self.probe = None;
        self.framer.push(bytes);
        loop {
            match self.framer.next_text() {
                Ok(Some(text)) => match Message::parse(&text) {
                    Ok(m) => self.handle_message(m),
                    Err(e) => self.close(CloseReason::Protocol(e.to_string())),
                },
                Ok(None) => return,
                Err(FramingError::TooLarge { limit }) => self.close(CloseReason::MessageTooLarge { limit }),
                Err(e) => self.close(CloseReason::Protocol(e.to_string())),
            }
            if self.closed {
                return;
            }
        }
    }

    fn handle_message(&mut self, m: Message) {
        match m {
            Message::Request { method, params, id } => {
                // A server that floods us with requests and reads nothing would
                // make us queue replies without end.
                if self.room_for_output().is_err() {
                    return;
                }
                let reply = if method == "echo" {
                    // RFC 7047 §4.1.11: the reply's result is the request's params.
                    Message::reply(id, params)
                } else {
                    Message::error_reply(id, json!({"error": "unknown method", "details": format!("client does not implement {method}")}))
                };
                reply.write_to(&mut self.out);
            }
            Message::Notification { method, params } => self.on_notification(method, params),
            Message::Response { result, error, id } => {
                // Replies to our probes (id "echo") and replies after their request
                // timed out are dropped.
                let Some(id) = id.as_u64() else { return };
                let Some(p) = self.unregister(id) else { return };
                if !error.is_null() {
                    return self.complete(id, Err(RequestError::Rpc(RpcError::from_json(&error))));
                }
                match p.kind {
                    Kind::Plain => self.complete(id, Ok(result)),
                    Kind::Transact { ops } => {
                        let r = check_transact(&ops, result);
                        self.complete(id, r)
                    }
                    Kind::Monitor { monitor_id, format, since, tables } => self.on_monitor_reply(id, monitor_id, format, since, tables, result),
                }
            }
        }
    }

    fn on_notification(&mut self, method: String, params: Value) {
        let args = params.as_array().map(Vec::as_slice).unwrap_or_default();
        let event = match (method.as_str(), args) {
            ("update", [mid, updates]) => Some(update_event(mid, UpdateFormat::Update, None, updates)),
            ("update2", [mid, updates]) => Some(update_event(mid, UpdateFormat::Update2, None, updates)),
            ("update3", [mid, Value::String(txn), updates]) => Some(update_event(mid, UpdateFormat::Update2, Some(txn.clone()), updates)),
            ("update" | "update2" | "update3", _) => None,
            ("locked", [Value::String(name)]) => Some(Event::Locked(name.clone())),
            ("stolen", [Value::String(name)]) => Some(Event::Stolen(name.clone())),
            ("locked" | "stolen", _) => None,
            ("monitor_canceled", [mid]) => Some(Event::MonitorCanceled(mid.clone())),
            _ => Some(Event::Notification { method: method.clone(), params: params.clone() }),
        };
        match event {
            Some(e) => self.events.push_back(e),
            // A malformed update would leave the replica silently wrong: better to
            // drop the connection and resynchronize.
            None => self.close(CloseReason::Protocol(format!("malformed \"{method}\" notification: {params}"))),
        }
    }

    fn on_monitor_reply(&mut self, id: RequestId, monitor_id: Value, format: UpdateFormat, since: bool, tables: Vec<String>, result: Value) {
        let (updates, last_txn_id, found) = if since {
            // ovsdb-server(7) §4.1.15: [<found>, <last-txn-id>, <table-updates2>].
            match result {
                Value::Array(a) => match <[Value; 3]>::try_from(a) {
                    Ok([Value::Bool(found), Value::String(txn), updates @ Value::Object(_)]) => (updates, Some(txn), Some(found)),
                    Ok(other) => return self.complete(id, Err(RequestError::BadReply(format!("monitor_cond_since reply {}", Value::Array(other.to_vec()))))),
                    Err(a) => return self.complete(id, Err(RequestError::BadReply(format!("monitor_cond_since reply {}", Value::Array(a))))),
                },
                other => return self.complete(id, Err(RequestError::BadReply(format!("monitor_cond_since reply {other}")))),
            }
        } else {
            match result {
                updates @ Value::Object(_) => (updates, None, None),
                other => return self.complete(id, Err(RequestError::BadReply(format!("monitor reply is not an object: {other}")))),
            }
        };
        let summary = match found {
            Some(found) => json!({"found": found, "last_txn_id": last_txn_id}),
            None => json!({}),
        };
        self.events.push_back(Event::Update(MonitorUpdate {
            monitor_id,
            format,
            updates,
            last_txn_id,
            // With `found`, the reply holds only the changes since our last
            // transaction: nothing is reset.
            reset_tables: if found == Some(true) { Vec::new() } else { tables },
            reply_to: Some(id),
        }));
        self.complete(id, Ok(summary));
    }

    // ---------------------------------------------------------------------------
    // Internals

    #[allow(clippy::too_many_arguments)]
    fn send_monitor(
        &mut self,
        method: &str,
        db: &str,
        monitor_id: Value,
        requests: Value,
        since: Option<&str>,
        format: UpdateFormat,
        now: Instant,
    ) -> Result<RequestId, RequestError> {
        let tables = snapshot_tables(&requests).map_err(RequestError::Invalid)?;
        let mut params = vec![Value::String(db.to_owned()), monitor_id.clone(), requests];
        if let Some(txn) = since {
            params.push(Value::String(txn.to_owned()));
        }
        let kind = Kind::Monitor { monitor_id, format, since: since.is_some(), tables };
        self.send_request(method, Value::Array(params), kind, self.config.request_timeout, now)
    }

    fn send_request(&mut self, method: &str, params: Value, kind: Kind, timeout: Duration, now: Instant) -> Result<RequestId, RequestError> {
        if self.closed {
            return Err(RequestError::NotConnected);
        }
        self.room_for_output().map_err(RequestError::Closed)?;
        let id = self.new_id();
        Message::request(method, params, json!(id)).write_to(&mut self.out);
        let deadline = now + timeout;
        self.deadlines.insert((deadline, id));
        self.pending.insert(id, Pending { kind, deadline });
        Ok(id)
    }

    fn new_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn unregister(&mut self, id: RequestId) -> Option<Pending> {
        let p = self.pending.remove(&id)?;
        self.deadlines.remove(&(p.deadline, id));
        Some(p)
    }

    fn complete(&mut self, id: RequestId, result: Result<Value, RequestError>) {
        self.events.push_back(Event::Completed { id, result });
    }
}

/// RFC 7047 §4.1.8: a lock name is an `<id>`.
fn check_lock_name(name: &str) -> Result<(), RequestError> {
    if notation::is_id(name) {
        Ok(())
    } else {
        Err(RequestError::Invalid(format!("lock name {name:?} is not an <id> ([a-zA-Z_][a-zA-Z0-9_]*)")))
    }
}

fn update_event(mid: &Value, format: UpdateFormat, last_txn_id: Option<String>, updates: &Value) -> Event {
    Event::Update(MonitorUpdate {
        monitor_id: mid.clone(),
        format,
        updates: updates.clone(),
        last_txn_id,
        reset_tables: Vec::new(),
        reply_to: None,
    })
}

/// RFC 7047 §4.1.3: "the response is always a JSON-RPC response with null "error"
/// and a "result" member that is an array with the same number of elements as
/// "params"", where an element with an "error" member is the operation that
/// failed, nulls follow it (not attempted), and "if all of the operations
/// succeed, but the results cannot be committed, then "result" will have one more
/// element than "params", with the additional element being an <error>".
fn check_transact(ops: &[Option<String>], result: Value) -> Result<Value, RequestError> {
    let Value::Array(results) = result else {
        return Err(RequestError::BadReply(format!("transact result is not an array: {result}")));
    };
    // The first error wins, wherever it is (a short array with an error still
    // tells which operation failed).
    for (index, r) in results.iter().enumerate() {
        if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
            let rpc = RpcError::from_json(&json!({"error": e, "details": r.get("details"), "syntax": r.get("syntax")}));
            return Err(RequestError::Transact(TransactError {
                index,
                operation: ops.get(index).cloned().flatten(),
                error: rpc.error,
                details: rpc.details,
                syntax: rpc.syntax,
            }));
        }
    }
    if results.len() != ops.len() {
        return Err(RequestError::BadReply(format!("transact sent {} operations, got {} results without an error", ops.len(), results.len())));
    }
    if let Some((i, r)) = results.iter().enumerate().find(|(_, r)| !r.is_object()) {
        return Err(RequestError::BadReply(format!("result {i} of transact is {r} without a prior error")));
    }
    Ok(Value::Array(results))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::error::ErrorKind;

    const SEC: Duration = Duration::from_secs(1);

    fn sent(s: &mut OvsdbSession) -> Vec<Value> {
        let mut f = JsonFramer::new();
        if let Some(b) = s.take_output() {
            f.push(&b);
        }
        let mut v = Vec::new();
        while let Some(t) = f.next_text().unwrap() {
            v.push(serde_json::from_slice(&t).unwrap());
        }
        v
    }

    fn feed(s: &mut OvsdbSession, v: Value, now: Instant) {
        s.receive(v.to_string().as_bytes(), now);
    }

    fn events(s: &mut OvsdbSession) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn completed(s: &mut OvsdbSession) -> (RequestId, Result<Value, RequestError>) {
        match s.poll_event() {
            Some(Event::Completed { id, result }) => (id, result),
            other => panic!("expected Completed, got {other:?}"),
        }
    }

    #[test]
    fn answers_the_servers_echo_and_refuses_other_methods() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        feed(&mut s, json!({"method": "echo", "params": ["hi", 1], "id": "echo"}), t0);
        feed(&mut s, json!({"method": "frobnicate", "params": [], "id": 9}), t0);
        let out = sent(&mut s);
        assert_eq!(out[0], json!({"result": ["hi", 1], "error": null, "id": "echo"}));
        assert_eq!(out[1]["id"], json!(9));
        assert_eq!(out[1]["error"]["error"], json!("unknown method"));
        assert!(events(&mut s).is_empty());
        assert!(!s.is_closed());
    }

    #[test]
    fn output_is_handed_over_without_the_slack_of_its_growth() {
        // What waits in a write queue is the bytes only, not up to as much again.
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        feed(&mut s, json!({"method": "echo", "params": ["x".repeat(60_000)], "id": "echo"}), t0);
        let out = s.take_output().unwrap();
        assert!(out.len() > 60_000);
        assert_eq!(out.capacity(), out.len());
    }

    #[test]
    fn probes_when_idle_and_closes_when_unanswered() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config { echo_interval: 5 * SEC, echo_timeout: 3 * SEC, request_timeout: 60 * SEC, ..Config::default() }, t0);
        assert_eq!(s.poll_timeout(), Some(t0 + 5 * SEC));
        s.handle_timeout(t0 + 4 * SEC);
        assert!(s.take_output().is_none());
        s.handle_timeout(t0 + 5 * SEC);
        assert_eq!(sent(&mut s), vec![json!({"method": "echo", "params": [], "id": "echo"})]);
        assert_eq!(s.poll_timeout(), Some(t0 + 8 * SEC));
        // The reply (any traffic) clears the probe; the reply itself is no event.
        feed(&mut s, json!({"id": "echo", "result": [], "error": null}), t0 + 6 * SEC);
        assert!(events(&mut s).is_empty());
        assert_eq!(s.poll_timeout(), Some(t0 + 11 * SEC));
        // Probe again, no answer: pending requests fail, then Closed.
        let id = s.list_dbs(t0 + 6 * SEC).unwrap();
        s.handle_timeout(t0 + 11 * SEC);
        assert_eq!(sent(&mut s).len(), 2);
        s.handle_timeout(t0 + 14 * SEC - Duration::from_millis(1));
        assert!(!s.is_closed());
        s.handle_timeout(t0 + 14 * SEC);
        assert_eq!(completed(&mut s), (id, Err(RequestError::Closed(CloseReason::ProbeTimeout))));
        assert_eq!(s.poll_event(), Some(Event::Closed(CloseReason::ProbeTimeout)));
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.list_dbs(t0).unwrap_err(), RequestError::NotConnected);
        assert_eq!(RequestError::Closed(CloseReason::ProbeTimeout).code(), "OVSDB_ECHO_TIMEOUT");
    }

    #[test]
    fn probing_can_be_disabled() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config { echo_interval: Duration::ZERO, ..Config::default() }, t0);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(t0 + 3600 * SEC);
        assert!(s.take_output().is_none() && !s.is_closed());
    }

    #[test]
    fn matches_replies_by_id_in_any_order() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let a = s.list_dbs(t0).unwrap();
        let b = s.get_schema("Open_vSwitch", t0).unwrap();
        let c = s.call("get_server_id", Value::Null, SEC, t0).unwrap();
        let out = sent(&mut s);
        assert_eq!(out[0], json!({"method": "list_dbs", "params": [], "id": a}));
        assert_eq!(out[1], json!({"method": "get_schema", "params": ["Open_vSwitch"], "id": b}));
        assert_eq!(out[2]["params"], Value::Null);
        feed(&mut s, json!({"id": b, "result": null, "error": {"error": "unknown database", "details": "x"}}), t0);
        feed(&mut s, json!({"id": 999, "result": 1, "error": null}), t0);
        feed(&mut s, json!({"id": a, "result": ["Open_vSwitch", "_Server"], "error": null}), t0);
        let (id, r) = completed(&mut s);
        assert_eq!(id, b);
        let Err(RequestError::Rpc(e)) = r else { panic!("{r:?}") };
        assert_eq!((e.code(), e.error), ("OVSDB_UNKNOWN_DATABASE", ErrorKind::UnknownDatabase));
        assert_eq!(completed(&mut s), (a, Ok(json!(["Open_vSwitch", "_Server"]))));
        assert_eq!(s.pending_count(), 1);
        // c times out; its late reply is dropped.
        assert_eq!(s.poll_timeout(), Some(t0 + SEC));
        s.handle_timeout(t0 + SEC);
        assert_eq!(completed(&mut s), (c, Err(RequestError::Timeout)));
        feed(&mut s, json!({"id": c, "result": "late", "error": null}), t0 + 2 * SEC);
        assert!(s.poll_event().is_none());
        assert_eq!(RequestError::Timeout.code(), "OVSDB_TIMEOUT");
    }

    fn transact_reply(result: Value) -> Result<Value, RequestError> {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let ops = vec![
            json!({"op": "insert", "table": "QoS", "row": {"type": "linux-htb"}}),
            json!({"op": "insert", "table": "Bridge", "row": {"name": "x", "fail_mode": "bogus"}}),
        ];
        let id = s.transact("Open_vSwitch", ops, t0).unwrap();
        let out = sent(&mut s);
        assert_eq!(out[0]["method"], json!("transact"));
        assert_eq!(out[0]["params"][0], json!("Open_vSwitch"));
        assert_eq!(out[0]["params"].as_array().unwrap().len(), 3);
        feed(&mut s, json!({"id": id, "result": result, "error": null}), t0);
        let (got, r) = completed(&mut s);
        assert_eq!(got, id);
        r
    }

    #[test]
    fn transact_errors_are_attributed_to_the_operation() {
        // What ovsdb-server 3.1 answers (captured).
        let r = transact_reply(json!([
            {"uuid": ["uuid", "aa51b2d8-55b1-4b44-953a-8aad7944232d"]},
            {"details": "bogus is not one of the allowed values ([secure, standalone])", "error": "constraint violation"}
        ]));
        let Err(RequestError::Transact(e)) = r else { panic!("{r:?}") };
        assert_eq!(e.index, 1);
        assert_eq!(e.operation.as_deref(), Some("insert"));
        assert_eq!(e.error, ErrorKind::ConstraintViolation);
        assert!(e.details.unwrap().contains("bogus"));

        // Error first, then a null for the operation not attempted.
        let r = transact_reply(json!([{"error": "referential integrity violation"}, null]));
        assert!(matches!(r, Err(RequestError::Transact(TransactError { index: 0, error: ErrorKind::ReferentialIntegrityViolation, .. }))), "{r:?}");

        // Every operation succeeded, the commit did not: one extra result.
        let r = transact_reply(json!([{"uuid": ["uuid", "aa51b2d8-55b1-4b44-953a-8aad7944232d"]}, {"uuid": ["uuid", "d799413e-4de7-4de1-bb06-f7af02241a69"]}, {"error": "constraint violation", "details": "index"}]));
        let Err(RequestError::Transact(e)) = r else { panic!("{r:?}") };
        assert_eq!((e.index, e.operation.as_deref()), (2, None));
        assert!(e.to_string().starts_with("commit failed"), "{e}");

        // Success.
        let ok = json!([{"uuid": ["uuid", "aa51b2d8-55b1-4b44-953a-8aad7944232d"]}, {"uuid": ["uuid", "d799413e-4de7-4de1-bb06-f7af02241a69"]}]);
        assert_eq!(transact_reply(ok.clone()), Ok(ok));

        // Never reported as done without the server saying so.
        for bad in [json!([{}]), json!([{}, null]), json!({}), json!([{}, {}, {}]), json!(null)] {
            let r = transact_reply(bad.clone());
            assert!(matches!(r, Err(RequestError::BadReply(_))), "{bad} -> {r:?}");
        }
    }

    #[test]
    fn transact_checks_its_arguments_before_sending() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let r = s.transact("db", vec![json!({"op": "comment", "comment": "x"}), json!({"table": "T"})], t0);
        assert!(matches!(r, Err(RequestError::Invalid(m)) if m.contains("operation 1")));
        assert!(s.take_output().is_none());
        assert!(matches!(s.monitor("db", json!(1), json!(["Bridge"]), t0), Err(RequestError::Invalid(_))));
        assert!(matches!(s.monitor_cond_since("db", json!(1), json!({}), Some("nope"), t0), Err(RequestError::Invalid(_))));
        assert!(s.take_output().is_none());
        assert_eq!(s.pending_count(), 0);
    }

    #[test]
    fn monitor_replies_become_updates_then_completions() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let reqs = json!({"Bridge": [{"columns": ["name"]}], "Port": {"select": {"initial": false}}});
        let m1 = s.monitor("Open_vSwitch", json!("m1"), reqs.clone(), t0).unwrap();
        let m2 = s.monitor_cond_since("Open_vSwitch", json!(["m", 2]), reqs.clone(), None, t0).unwrap();
        let out = sent(&mut s);
        assert_eq!(out[0]["params"], json!(["Open_vSwitch", "m1", reqs]));
        assert_eq!(out[1]["params"][3], json!(ZERO_TXN_ID));
        let rows = json!({"Bridge": {"aa51b2d8-55b1-4b44-953a-8aad7944232d": {"new": {"name": "br0"}}}});
        feed(&mut s, json!({"id": m1, "result": rows, "error": null}), t0);
        let ev = events(&mut s);
        assert_eq!(ev.len(), 2);
        let Event::Update(u) = &ev[0] else { panic!("{ev:?}") };
        assert_eq!((u.format, &u.monitor_id, &u.updates, u.reply_to), (UpdateFormat::Update, &json!("m1"), &rows, Some(m1)));
        assert_eq!(u.reset_tables, vec!["Bridge".to_owned()]);
        assert_eq!(ev[1], Event::Completed { id: m1, result: Ok(json!({})) });

        let txn = "d799413e-4de7-4de1-bb06-f7af02241a69";
        feed(&mut s, json!({"id": m2, "result": [true, txn, {}], "error": null}), t0);
        let ev = events(&mut s);
        let Event::Update(u) = &ev[0] else { panic!("{ev:?}") };
        assert_eq!((u.format, u.last_txn_id.as_deref(), u.reset_tables.len()), (UpdateFormat::Update2, Some(txn), 0));
        assert_eq!(ev[1], Event::Completed { id: m2, result: Ok(json!({"found": true, "last_txn_id": txn})) });

        // A reply of the wrong shape is not a success.
        let m3 = s.monitor_cond("Open_vSwitch", json!("m3"), reqs, t0).unwrap();
        feed(&mut s, json!({"id": m3, "result": [], "error": null}), t0);
        assert!(matches!(completed(&mut s), (id, Err(RequestError::BadReply(_))) if id == m3));
    }

    #[test]
    fn dispatches_notifications() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let u = json!({"Interface": {"aa51b2d8-55b1-4b44-953a-8aad7944232d": {"modify": {"mtu": 1500}}}});
        feed(&mut s, json!({"method": "update", "params": ["m1", u], "id": null}), t0);
        feed(&mut s, json!({"method": "update2", "params": ["m2", u], "id": null}), t0);
        feed(&mut s, json!({"method": "update3", "params": ["m3", "t9", u], "id": null}), t0);
        feed(&mut s, json!({"method": "locked", "params": ["l"], "id": null}), t0);
        feed(&mut s, json!({"method": "stolen", "params": ["l"], "id": null}), t0);
        feed(&mut s, json!({"method": "monitor_canceled", "params": ["m1"], "id": null}), t0);
        feed(&mut s, json!({"method": "something_new", "params": [1], "id": null}), t0);
        let ev = events(&mut s);
        let formats: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Update(u) => Some((u.monitor_id.clone(), u.format, u.last_txn_id.clone(), u.reply_to)),
                _ => None,
            })
            .collect();
        assert_eq!(
            formats,
            vec![
                (json!("m1"), UpdateFormat::Update, None, None),
                (json!("m2"), UpdateFormat::Update2, None, None),
                (json!("m3"), UpdateFormat::Update2, Some("t9".into()), None)
            ]
        );
        assert_eq!(&ev[3..5], &[Event::Locked("l".into()), Event::Stolen("l".into())]);
        assert_eq!(ev[5], Event::MonitorCanceled(json!("m1")));
        assert_eq!(ev[6], Event::Notification { method: "something_new".into(), params: json!([1]) });
        // A malformed update closes: the replica cannot follow.
        feed(&mut s, json!({"method": "update2", "params": ["m2"], "id": null}), t0);
        assert!(matches!(s.poll_event(), Some(Event::Closed(CloseReason::Protocol(m))) if m.contains("update2")));
    }

    #[test]
    fn requests_split_across_reads_and_batched_in_one() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let a = s.echo(t0).unwrap();
        let b = s.echo(t0).unwrap();
        let text = format!(
            "{}\n{}",
            json!({"id": a, "result": ["é😀{"], "error": null}),
            json!({"id": b, "result": ["}\"]"], "error": null})
        );
        let bytes = text.as_bytes();
        for chunk in bytes.chunks(3) {
            s.receive(chunk, t0);
        }
        assert_eq!(completed(&mut s), (a, Ok(json!(["é😀{"]))));
        assert_eq!(completed(&mut s), (b, Ok(json!(["}\"]"]))));
    }

    #[test]
    fn garbage_or_oversized_input_closes_with_a_protocol_error() {
        let t0 = Instant::now();
        for bad in [&b"HTTP/1.1 400 Bad Request\r\n"[..], b"{\"id\":1,]", b"[1,2]", b"\x16\x03\x01\x00\x05"] {
            let mut s = OvsdbSession::new(Config::default(), t0);
            let id = s.list_dbs(t0).unwrap();
            s.receive(bad, t0);
            assert!(matches!(completed(&mut s), (i, Err(RequestError::Closed(CloseReason::Protocol(_)))) if i == id), "{bad:?}");
            assert!(matches!(s.poll_event(), Some(Event::Closed(CloseReason::Protocol(_)))));
            s.receive(b"{}", t0); // ignored once closed
            assert!(s.poll_event().is_none());
        }
        let mut s = OvsdbSession::new(Config::default(), t0);
        s.receive(b"\x15\x03\x03\x00\x02\x02\x28", t0);
        assert!(matches!(s.poll_event(), Some(Event::Closed(CloseReason::Protocol(m))) if m.contains("expects a TLS")));
        let mut s = OvsdbSession::new(Config { max_message_bytes: 100, ..Config::default() }, t0);
        s.receive(format!("{{\"method\":\"x\",\"params\":[\"{}\"]}}", "a".repeat(200)).as_bytes(), t0);
        let Some(Event::Closed(reason)) = s.poll_event() else { panic!() };
        assert_eq!(reason, CloseReason::MessageTooLarge { limit: 100 });
        assert_eq!(reason.code(), "OVSDB_MESSAGE_TOO_LARGE");
    }

    #[test]
    fn echo_flood_without_draining_closes_with_peer_not_reading() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let id = s.list_dbs(t0).unwrap();
        let ping = json!({"method": "echo", "params": ["x".repeat(60_000)], "id": "echo"}).to_string();
        let read = ping.repeat(4);
        let mut max_queued = 0;
        let mut n = 0;
        while !s.is_closed() {
            s.receive(read.as_bytes(), t0);
            max_queued = max_queued.max(s.queued_bytes());
            n += 1;
            assert!(n < 1000, "cap not enforced");
        }
        assert!(max_queued <= MAX_QUEUED_BYTES + ping.len() + 64, "{max_queued}");
        assert!(max_queued > MAX_QUEUED_BYTES - ping.len());
        assert_eq!(s.queued_bytes(), 0, "the queue is released");
        assert!(s.take_output().is_none());
        let (got, r) = completed(&mut s);
        assert_eq!(got, id);
        assert_eq!(r.unwrap_err().code(), "PEER_NOT_READING");
        assert!(matches!(s.poll_event(), Some(Event::Closed(CloseReason::PeerNotReading(m))) if m.contains("over the 16777216-byte cap")));
    }

    #[test]
    fn the_driver_backlog_counts_and_one_large_transaction_still_goes_out() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let big = json!({"op": "comment", "comment": "c".repeat(MAX_QUEUED_BYTES + 1000)});
        let a = s.transact("Open_vSwitch", vec![big], t0).unwrap();
        assert!(s.queued_bytes() > MAX_QUEUED_BYTES);
        assert!(s.take_output().is_some());
        // The driver is writing it (a write in progress is not counted).
        s.set_unsent(0);
        let b = s.echo(t0).unwrap();
        feed(&mut s, json!({"method": "echo", "params": [], "id": "echo"}), t0);
        assert_eq!(sent(&mut s).len(), 2);
        // More than the cap waits behind it: the next output closes.
        s.set_unsent(MAX_QUEUED_BYTES + 1);
        let r = s.list_dbs(t0);
        assert!(matches!(&r, Err(e @ RequestError::Closed(CloseReason::PeerNotReading(_))) if e.code() == "PEER_NOT_READING"), "{r:?}");
        let failed: Vec<_> = events(&mut s)
            .into_iter()
            .filter_map(|e| match e {
                Event::Completed { id, result: Err(e) } => Some((id, e.code())),
                _ => None,
            })
            .collect();
        assert_eq!(failed, vec![(a, "PEER_NOT_READING"), (b, "PEER_NOT_READING")]);
    }

    #[test]
    fn an_unclosed_huge_value_closes_at_the_cap_and_frees_it() {
        let t0 = Instant::now();
        let limit = 4 << 20;
        let mut s = OvsdbSession::new(Config { max_message_bytes: limit, ..Config::default() }, t0);
        let id = s.list_dbs(t0).unwrap();
        s.receive(b"{\"id\":0,\"result\":[\"", t0);
        let chunk = vec![b'z'; 64 << 10];
        let mut max_buffered = 0;
        let mut pushed = 0;
        while !s.is_closed() {
            s.receive(&chunk, t0);
            pushed += chunk.len();
            max_buffered = max_buffered.max(s.buffered_input());
            assert!(pushed < 2 * limit, "cap not enforced");
        }
        assert!(max_buffered <= limit, "{max_buffered}");
        assert!(pushed <= limit + chunk.len());
        assert_eq!(s.buffered_input(), 0);
        let (got, r) = completed(&mut s);
        assert_eq!(got, id);
        assert_eq!(r.unwrap_err().code(), "OVSDB_MESSAGE_TOO_LARGE");
        assert_eq!(s.poll_event(), Some(Event::Closed(CloseReason::MessageTooLarge { limit })));
    }

    #[test]
    fn cancel_lock_and_close() {
        let t0 = Instant::now();
        let mut s = OvsdbSession::new(Config::default(), t0);
        let w = s.transact("Open_vSwitch", vec![json!({"op": "wait", "table": "Bridge", "timeout": 60000, "where": [], "columns": ["name"], "until": "==", "rows": []})], t0).unwrap();
        s.cancel(w).unwrap();
        assert!(matches!(s.cancel(12345), Err(RequestError::Invalid(_))));
        assert!(matches!(s.cancel(w), Err(RequestError::Invalid(_))));
        let out = sent(&mut s);
        assert_eq!(out[1], json!({"method": "cancel", "params": [w], "id": null}));
        assert_eq!(completed(&mut s), (w, Err(RequestError::Canceled)));
        // An RFC-style "canceled" reply, or any late reply, is dropped.
        feed(&mut s, json!({"id": w, "result": null, "error": {"error": "canceled"}}), t0);
        assert!(s.poll_event().is_none());
        assert_eq!(RequestError::Canceled.code(), "OVSDB_CANCELED");

        let l = s.lock("xo_sdn", t0).unwrap();
        let st = s.steal("xo_sdn", t0).unwrap();
        let u = s.unlock("xo_sdn", t0).unwrap();
        let mc = s.monitor_cancel(json!("m1"), t0).unwrap();
        assert!(matches!(s.lock("xo-sdn", t0), Err(RequestError::Invalid(_))));
        let methods: Vec<_> = sent(&mut s).iter().map(|m| (m["method"].clone(), m["params"].clone())).collect();
        assert_eq!(
            methods,
            vec![
                (json!("lock"), json!(["xo_sdn"])),
                (json!("steal"), json!(["xo_sdn"])),
                (json!("unlock"), json!(["xo_sdn"])),
                (json!("monitor_cancel"), json!(["m1"]))
            ]
        );
        s.close(CloseReason::ByUser);
        s.close(CloseReason::ByUser);
        let ev = events(&mut s);
        let ids: Vec<_> = ev.iter().filter_map(|e| if let Event::Completed { id, result: Err(RequestError::Closed(CloseReason::ByUser)) } = e { Some(*id) } else { None }).collect();
        assert_eq!(ids, vec![l, st, u, mc]);
        assert_eq!(ev.last(), Some(&Event::Closed(CloseReason::ByUser)));
        assert_eq!(ev.len(), 5);
        assert_eq!(s.cancel(l), Err(RequestError::NotConnected));
    }
}
