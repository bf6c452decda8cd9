//! `NativeOvsdbSession`: the sans-I/O OVSDB session and its replica, driven from
//! JS over any byte stream (the rustls `NativeStream`, or `node:tls`). Values cross
//! as JSON text; replica changes come out as row events in natural notation
//! (uuid → string, set → array, map → object) for the JS side to index.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use napi::bindgen_prelude::{Buffer, BufferSlice};
use napi_derive::napi;
use serde_json::{json, Value};

use super::convert::{ms, ms_until};
use super::errors::{err, guard, Code};
use super::stream::{NativeChunk, NativeStream};
use crate::ovsdb::error::{CloseReason, RequestError};
use crate::ovsdb::notation;
use crate::ovsdb::replica::{Replica, RowEventKind};
use crate::ovsdb::schema::DatabaseSchema;
use crate::ovsdb::session::{Config, Event, OvsdbSession};

/// Options of a session.
#[napi(object)]
pub struct NativeOvsdbOptions {
    pub echo_interval_ms: Option<u32>,
    pub echo_timeout_ms: Option<u32>,
    pub request_timeout_ms: Option<u32>,
}

/// One event for the JS driver.
#[napi(object)]
pub struct NativeOvsdbEvent {
    /// `completed`, `rows`, `locked`, `stolen`, `notification`, `resync`, `closed`.
    pub kind: String,
    /// Command id (`completed`).
    pub id: Option<i64>,
    /// JSON text: the result (`completed` ok), error details (`completed` failed),
    /// row changes (`rows`), the lock name, the notification.
    pub json: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

fn event(kind: &str) -> NativeOvsdbEvent {
    NativeOvsdbEvent { kind: kind.into(), id: None, json: None, code: None, message: None }
}

/// The session, its replica, and the ids of monitor requests in flight.
#[napi]
pub struct NativeOvsdbSession {
    session: RefCell<OvsdbSession>,
    replica: RefCell<Replica>,
    timeout: Duration,
}

/// A session for a connection that was just established.
#[napi(js_name = "__createOvsdbSession")]
pub fn create_ovsdb_session(options: NativeOvsdbOptions) -> napi::Result<NativeOvsdbSession, Code> {
    guard(|| {
        let config = Config {
            echo_interval: ms(options.echo_interval_ms, 5_000),
            echo_timeout: ms(options.echo_timeout_ms, 5_000),
            request_timeout: ms(options.request_timeout_ms, 30_000),
            ..Config::default()
        };
        let timeout = config.request_timeout;
        Ok(NativeOvsdbSession {
            session: RefCell::new(OvsdbSession::new(config, Instant::now())),
            replica: RefCell::new(Replica::new()),
            timeout,
        })
    })
}

fn parse(json: &str, what: &str) -> Result<Value, napi::Error<Code>> {
    serde_json::from_str(json).map_err(|e| err("ERR_INVALID_ARG_VALUE", format!("{what} is not valid JSON: {e}")))
}

fn request_failure(e: &RequestError) -> NativeOvsdbEvent {
    let details = match e {
        RequestError::Transact(t) => Some(json!({
            "index": t.index,
            "operation": t.operation,
            "error": t.error.to_string(),
            "details": t.details,
        })),
        RequestError::Rpc(r) => Some(r.to_json()),
        _ => None,
    };
    NativeOvsdbEvent {
        code: Some(e.code().into()),
        message: Some(e.to_string()),
        json: details.map(|d| d.to_string()),
        ..event("completed")
    }
}

/// A row in natural notation. With the schema, a one-element set stays an array
/// (without it, a set of one uuid cannot be told from a uuid).
fn natural_row(schema: Option<&DatabaseSchema>, table: &str, row: &Option<serde_json::Map<String, Value>>) -> Value {
    let Some(r) = row else { return Value::Null };
    let table = schema.and_then(|s| s.table(table).ok());
    Value::Object(
        r.iter()
            .map(|(k, v)| {
                let typed =
                    table.and_then(|t| t.column(k).ok()).and_then(|c| notation::to_natural_typed(v, &c.ty).ok());
                (k.clone(), typed.unwrap_or_else(|| notation::to_natural(v)))
            })
            .collect(),
    )
}

#[napi]
impl NativeOvsdbSession {
    /// Feeds received bytes.
    #[napi]
    pub fn receive(&self, bytes: BufferSlice) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                self.session.borrow_mut().receive(&bytes, Instant::now());
            })
        })
    }

    /// Feeds the bytes of a `NativeStream` read (during its 'data' event), without
    /// making a JS Buffer of them: they are freed as soon as they are split.
    #[napi]
    pub fn receive_chunk(&self, chunk: &NativeChunk) -> napi::Result<(), Code> {
        guard(|| {
            if let Some(bytes) = chunk.take() {
                self.session.borrow_mut().receive(&bytes, Instant::now());
            }
            Ok(())
        })
    }

    /// Bytes to write, if any.
    #[napi]
    pub fn take_output(&self) -> napi::Result<Option<Buffer>, Code> {
        guard(|| Ok(self.session.borrow_mut().take_output().map(Buffer::from)))
    }

    /// Moves the output, if any, into the write queue of `stream` without a copy
    /// and without a JS Buffer; with no stream (the connection is gone) drops it.
    /// False when the stream is closed or its queue is over the cap (it then
    /// closes with `PEER_NOT_READING`); true otherwise.
    #[napi]
    pub fn send_output(&self, stream: Option<&NativeStream>) -> napi::Result<bool, Code> {
        guard(|| {
            let out = self.session.borrow_mut().take_output();
            Ok(match (out, stream) {
                (Some(out), Some(stream)) => stream.queue(out),
                (Some(_), None) => false,
                (None, _) => true,
            })
        })
    }

    /// Bytes written to the transport and still waiting in it (for a `node:tls`
    /// socket, `writableLength`): they count against the 16 MiB write cap, past
    /// which the session closes with `PEER_NOT_READING`.
    #[napi]
    pub fn set_unsent(&self, bytes: f64) -> napi::Result<(), Code> {
        guard(|| {
            let n = if bytes.is_finite() && bytes > 0.0 { bytes as usize } else { 0 };
            self.session.borrow_mut().set_unsent(n);
            Ok(())
        })
    }

    /// Bytes the session holds for the transport (output not taken plus `setUnsent`).
    #[napi]
    pub fn queued_bytes(&self) -> napi::Result<f64, Code> {
        guard(|| Ok(self.session.borrow().queued_bytes() as f64))
    }

    /// Milliseconds until `handleTimeout` is due, or null.
    #[napi]
    pub fn poll_timeout_ms(&self) -> napi::Result<Option<f64>, Code> {
        guard(|| {
            Ok({
                ms_until(self.session.borrow().poll_timeout())
            })
        })
    }

    /// Expires what is due.
    #[napi]
    pub fn handle_timeout(&self) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                self.session.borrow_mut().handle_timeout(Instant::now());
            })
        })
    }

    /// Ends the session (`transportError`: the connection was lost; `code`: the
    /// transport's code, so that `PEER_NOT_READING` from the stream fails the
    /// pending commands with that code rather than `CHANNEL_CLOSED`).
    #[napi]
    pub fn close(&self, transport_error: Option<String>, code: Option<String>) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                let reason = match (transport_error, code.as_deref()) {
                    (Some(why), Some(crate::session::PEER_NOT_READING)) => CloseReason::PeerNotReading(why),
                    (Some(why), _) => CloseReason::Transport(why),
                    (None, _) => CloseReason::ByUser,
                };
                self.session.borrow_mut().close(reason);
            })
        })
    }

    /// Any JSON-RPC method; `params` is JSON text. Returns the command id.
    #[napi]
    pub fn call(&self, method: String, params: String, timeout_ms: Option<u32>) -> napi::Result<i64, Code> {
        guard(|| {
            let params = parse(&params, "params")?;
            let timeout = timeout_ms.map_or(self.timeout, |t| Duration::from_millis(t.into()));
            self.session
                .borrow_mut()
                .call(&method, params, timeout, Instant::now())
                .map(|id| id as i64)
                .map_err(|e| err(e.code(), e))
        })
    }

    /// `transact` with every operation's result checked. `ops` is JSON text; with
    /// `natural`, values are natural JSON, converted and checked by the schema.
    #[napi]
    pub fn transact(&self, db: String, ops: String, timeout_ms: Option<u32>, natural: Option<bool>) -> napi::Result<i64, Code> {
        guard(|| {
            let ops = match parse(&ops, "operations")? {
                Value::Array(a) => a,
                _ => return Err(err("ERR_INVALID_ARG_TYPE", "operations must be an array")),
            };
            let ops = if natural == Some(true) {
                let replica = self.replica.borrow();
                let schema = replica.schema().ok_or_else(|| err("OVSDB_NO_SCHEMA", "the schema is not loaded yet"))?;
                crate::ovsdb::natural::ops_from_natural(schema, &ops)
                    .map_err(|e| err(e.code(), format!("{}: {}", e.location, e.message)))?
            } else {
                ops
            };
            let timeout = timeout_ms.map_or(self.timeout, |t| Duration::from_millis(t.into()));
            self.session
                .borrow_mut()
                .transact_with_timeout(&db, ops, timeout, Instant::now())
                .map(|id| id as i64)
                .map_err(|e| err(e.code(), e))
        })
    }

    /// `monitor` (or `monitor_cond` when `cond`) of `requests` (JSON text); the
    /// replica is filled from its reply.
    #[napi]
    pub fn monitor(&self, db: String, monitor_id: String, requests: String, cond: bool) -> napi::Result<i64, Code> {
        guard(|| {
            let id = parse(&monitor_id, "monitor id")?;
            let req = parse(&requests, "monitor requests")?;
            let mut s = self.session.borrow_mut();
            let r = if cond {
                s.monitor_cond(&db, id, req, Instant::now())
            } else {
                s.monitor(&db, id, req, Instant::now())
            };
            r.map(|id| id as i64).map_err(|e| err(e.code(), e))
        })
    }

    /// Cancels a pending request (RFC 7047 §4.1.4); it completes with `OVSDB_CANCELED`.
    #[napi]
    pub fn cancel(&self, id: i64) -> napi::Result<(), Code> {
        guard(|| {
            let id = u64::try_from(id).map_err(|_| err("ERR_OUT_OF_RANGE", "bad request id"))?;
            self.session.borrow_mut().cancel(id).map_err(|e| err(e.code(), e))
        })
    }

    /// `monitor_cond_since` (ovsdb-server(7) §4.1.15) from the replica's last
    /// transaction id: after a reconnect the server sends only what changed.
    #[napi]
    pub fn monitor_since(&self, db: String, monitor_id: String, requests: String) -> napi::Result<i64, Code> {
        guard(|| {
            let id = parse(&monitor_id, "monitor id")?;
            let req = parse(&requests, "monitor requests")?;
            let last = self.replica.borrow().last_txn_id().map(str::to_owned);
            self.session
                .borrow_mut()
                .monitor_cond_since(&db, id, req, last.as_deref(), Instant::now())
                .map(|id| id as i64)
                .map_err(|e| err(e.code(), e))
        })
    }

    /// Starts a fresh protocol session for a new connection; the replica stays, so
    /// the next monitor reply brings it up to date with only the real differences.
    #[napi]
    pub fn restart(&self) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                let config = self.session.borrow().config().clone();
                *self.session.borrow_mut() = OvsdbSession::new(config, Instant::now());
            })
        })
    }

    /// Gives the replica the schema (from `get_schema`), so it applies `update2`
    /// differences by column type.
    #[napi]
    pub fn set_schema(&self, schema: String) -> napi::Result<(), Code> {
        guard(|| {
            let v = parse(&schema, "schema")?;
            let schema = DatabaseSchema::parse(&v).map_err(|e| err(e.code(), e))?;
            self.replica.borrow_mut().set_schema(schema);
            Ok(())
        })
    }

    /// Forgets every replicated row (before resubscribing after a reconnect).
    #[napi]
    pub fn clear_replica(&self) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                self.replica.borrow_mut().clear();
            })
        })
    }

    /// Events since the last call. Monitor updates are applied to the replica
    /// here and come out as `rows` events.
    #[napi]
    pub fn poll_events(&self) -> napi::Result<Vec<NativeOvsdbEvent>, Code> {
        guard(|| {
            Ok({
                let mut out = Vec::new();
                let mut s = self.session.borrow_mut();
                while let Some(ev) = s.poll_event() {
                    match ev {
                        Event::Completed { id, result } => out.push(match result {
                            Ok(v) => NativeOvsdbEvent {
                                id: Some(id as i64),
                                json: Some(v.to_string()),
                                ..event("completed")
                            },
                            Err(e) => NativeOvsdbEvent { id: Some(id as i64), ..request_failure(&e) },
                        }),
                        Event::Update(update) => match {
                            // A statement of its own: the mutable borrow ends before the rows are read.
                            let applied = self.replica.borrow_mut().apply(&update);
                            applied
                        } {
                            Ok(changes) => {
                                let replica = self.replica.borrow();
                                let schema = replica.schema();
                                if changes.is_empty() {
                                    continue;
                                }
                                let rows: Vec<Value> = changes
                                    .iter()
                                    .map(|c| {
                                        json!({
                                            "table": c.table,
                                            "uuid": c.uuid,
                                            "kind": match c.kind {
                                                RowEventKind::Insert => "insert",
                                                RowEventKind::Modify => "modify",
                                                RowEventKind::Delete => "delete",
                                            },
                                            "old": natural_row(schema, &c.table, &c.old),
                                            "new": natural_row(schema, &c.table, &c.new),
                                        })
                                    })
                                    .collect();
                                out.push(NativeOvsdbEvent {
                                    json: Some(Value::Array(rows).to_string()),
                                    ..event("rows")
                                });
                            }
                            Err(e) => out.push(NativeOvsdbEvent {
                                code: Some(e.code().into()),
                                message: Some(e.to_string()),
                                ..event("resync")
                            }),
                        },
                        Event::Locked(name) => out
                            .push(NativeOvsdbEvent { json: Some(Value::String(name).to_string()), ..event("locked") }),
                        Event::Stolen(name) => out
                            .push(NativeOvsdbEvent { json: Some(Value::String(name).to_string()), ..event("stolen") }),
                        Event::MonitorCanceled(id) => {
                            out.push(NativeOvsdbEvent { json: Some(id.to_string()), ..event("monitor_canceled") })
                        }
                        Event::Notification { method, params } => out.push(NativeOvsdbEvent {
                            json: Some(json!({ "method": method, "params": params }).to_string()),
                            ..event("notification")
                        }),
                        Event::Closed(reason) => out.push(NativeOvsdbEvent {
                            code: Some(reason.code().into()),
                            message: Some(reason.to_string()),
                            ..event("closed")
                        }),
                    }
                }
                out
            })
        })
    }
}
