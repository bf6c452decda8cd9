//! `NativeOpenFlowSession`: the sans-I/O OpenFlow session for drivers written in
//! JS (a `node:tls` socket, when rustls cannot talk to a host). Synchronous, on the
//! JS thread; the caller moves bytes and calls `handleTimeout` when due.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use napi::bindgen_prelude::{BigInt, Buffer, BufferSlice};
use napi_derive::napi;

use super::convert::ms_until;
use super::errors::{err, guard, Code};
use super::openflow::NativeChannelOptions;
use crate::session::openflow::{CloseReason, Completion, Event, RequestError, Session};

/// One event for the JS driver.
#[napi(object)]
pub struct NativeSessionEvent {
    /// `connected`, `completed`, `message` or `closed`.
    pub kind: String,
    /// Command id (`completed`).
    pub id: Option<i64>,
    /// Features (`connected`) or the message (`message`).
    pub payload: Option<Buffer>,
    /// Datapath id (`connected`).
    pub datapath_id: Option<BigInt>,
    /// The version on the wire, `'1.1'` or `'1.3'` (`connected`).
    pub version: Option<String>,
    /// Reply parts (`completed` request).
    pub parts: Option<Vec<Buffer>>,
    /// Batch size and refusals (`completed` batch).
    pub count: Option<u32>,
    pub first_xid: Option<u32>,
    pub errors: Option<Vec<super::openflow::NativeBatchError>>,
    /// The switch's OFPT_ERROR (`completed` request refused).
    pub switch_error: Option<Buffer>,
    /// Failure (`completed` with an error, `closed`).
    pub code: Option<String>,
    pub message: Option<String>,
}

impl NativeSessionEvent {
    fn new(kind: &str) -> Self {
        NativeSessionEvent {
            kind: kind.into(),
            id: None,
            payload: None,
            datapath_id: None,
            version: None,
            parts: None,
            count: None,
            first_xid: None,
            errors: None,
            switch_error: None,
            code: None,
            message: None,
        }
    }
}

/// The sans-I/O session, driven from JS.
#[napi]
pub struct NativeOpenFlowSession {
    inner: RefCell<Session>,
}

/// Creates a session for a connection that was just established; its HELLO is
/// queued (`takeOutput`).
#[napi(js_name = "__createOpenFlowSession")]
pub fn create_openflow_session(options: NativeChannelOptions) -> napi::Result<NativeOpenFlowSession, Code> {
    guard(|| {
        let config = super::openflow::session_config(&options)?;
        Ok(NativeOpenFlowSession { inner: RefCell::new(Session::new(config, Instant::now())) })
    })
}

fn request_error(e: &RequestError) -> (String, String) {
    let message = match e {
        RequestError::Timeout => "no reply from the switch in time".to_owned(),
        RequestError::Closed(r) => r.to_string(),
        RequestError::NotConnected => "the channel is not connected".to_owned(),
        RequestError::Switch(_) => "the switch refused the request".to_owned(),
        RequestError::Invalid(s) => s.clone(),
    };
    (e.code().to_owned(), message)
}

#[napi]
impl NativeOpenFlowSession {
    /// Feeds received bytes.
    #[napi]
    pub fn receive(&self, bytes: BufferSlice) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                self.inner.borrow_mut().receive(&bytes, Instant::now());
            })
        })
    }

    /// Bytes to write, if any.
    #[napi]
    pub fn take_output(&self) -> napi::Result<Option<Buffer>, Code> {
        guard(|| Ok(self.inner.borrow_mut().take_output().map(|b| b.to_vec().into())))
    }

    /// Bytes the JS socket holds and has not written yet (its `writableLength`): they
    /// count against the session's write cap with its own output, so a peer that does
    /// not read is cut (`PEER_NOT_READING`) over `node:tls` too.
    #[napi]
    pub fn set_unsent(&self, bytes: f64) -> napi::Result<(), Code> {
        guard(|| {
            let n = if bytes.is_finite() && bytes > 0.0 { bytes as usize } else { 0 };
            self.inner.borrow_mut().set_unsent(n);
            Ok(())
        })
    }

    /// Milliseconds until `handleTimeout` is due (0 = now), or null.
    #[napi]
    pub fn poll_timeout_ms(&self) -> napi::Result<Option<f64>, Code> {
        guard(|| {
            Ok({
                ms_until(self.inner.borrow().poll_timeout())
            })
        })
    }

    /// Expires what is due.
    #[napi]
    pub fn handle_timeout(&self) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                self.inner.borrow_mut().handle_timeout(Instant::now());
            })
        })
    }

    /// One encoded message; returns the command id.
    #[napi]
    pub fn request(&self, message: BufferSlice, timeout_ms: u32) -> napi::Result<i64, Code> {
        guard(|| {
            let r = self.inner.borrow_mut().request(&message, Duration::from_millis(timeout_ms.into()), Instant::now());
            r.map(|id| id as i64).map_err(|e| {
                let (_, message) = request_error(&e);
                err(e.code(), message)
            })
        })
    }

    /// Encoded messages back to back, then a barrier; returns the command id.
    #[napi]
    pub fn send_batch(&self, messages: BufferSlice, timeout_ms: u32) -> napi::Result<i64, Code> {
        guard(|| {
            let r =
                self.inner.borrow_mut().send_batch(&messages, Duration::from_millis(timeout_ms.into()), Instant::now());
            r.map(|id| id as i64).map_err(|e| {
                let (_, message) = request_error(&e);
                err(e.code(), message)
            })
        })
    }

    /// Ends the session; `transportError` says the connection was lost (else: closed by the user).
    #[napi]
    pub fn close(&self, transport_error: Option<String>) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                let reason = match transport_error {
                    Some(why) => CloseReason::Transport(why),
                    None => CloseReason::ByUser,
                };
                self.inner.borrow_mut().close(reason);
            })
        })
    }

    /// True once the handshake is done and until the session ends.
    #[napi(getter)]
    pub fn active(&self) -> bool {
        self.inner.borrow().is_active()
    }

    /// Events since the last call.
    #[napi]
    pub fn poll_events(&self) -> napi::Result<Vec<NativeSessionEvent>, Code> {
        guard(|| {
            Ok({
                let mut out = Vec::new();
                let mut s = self.inner.borrow_mut();
                while let Some(ev) = s.poll_event() {
                    out.push(match ev {
                        Event::Connected(c) => NativeSessionEvent {
                            datapath_id: Some(BigInt::from(c.datapath_id)),
                            version: Some(super::openflow::version_name(c.version).into()),
                            payload: Some(c.features.into()),
                            ..NativeSessionEvent::new("connected")
                        },
                        Event::Async(bytes) => {
                            NativeSessionEvent { payload: Some(bytes.into()), ..NativeSessionEvent::new("message") }
                        }
                        Event::Closed(reason) => NativeSessionEvent {
                            code: Some(reason.code().into()),
                            message: Some(reason.to_string()),
                            ..NativeSessionEvent::new("closed")
                        },
                        Event::Completed { id, result } => {
                            let base =
                                NativeSessionEvent { id: Some(id as i64), ..NativeSessionEvent::new("completed") };
                            match result {
                                Ok(Completion::Reply(parts)) => NativeSessionEvent {
                                    parts: Some(parts.into_iter().map(Buffer::from).collect()),
                                    ..base
                                },
                                Ok(Completion::Batch { count, first_xid, errors }) => NativeSessionEvent {
                                    count: Some(count),
                                    first_xid: Some(first_xid),
                                    errors: Some(
                                        errors
                                            .into_iter()
                                            .map(|e| super::openflow::NativeBatchError {
                                                index: e.index,
                                                xid: e.xid,
                                                error: e.error.into(),
                                            })
                                            .collect(),
                                    ),
                                    ..base
                                },
                                Err(RequestError::Switch(bytes)) => {
                                    NativeSessionEvent { switch_error: Some(bytes.into()), ..base }
                                }
                                Err(e) => {
                                    let (code, message) = request_error(&e);
                                    NativeSessionEvent { code: Some(code), message: Some(message), ..base }
                                }
                            }
                        }
                    });
                }
                out
            })
        })
    }
}

/// The reconnect delay in milliseconds before attempt `attempt` (0-based), from the one
/// backoff of the crate (`session::reconnect::Backoff`): `minMs * 2^attempt` capped at
/// `maxMs`, scaled into [50%, 100%] by `random` in [0, 1). JS drivers and the
/// controller's host retry use it, so every retry in the addon backs off alike.
#[napi]
pub fn backoff_delay_ms(min_ms: u32, max_ms: u32, attempt: u32, random: f64) -> f64 {
    let backoff = crate::session::reconnect::Backoff {
        min: Duration::from_millis(min_ms.into()),
        max: Duration::from_millis(max_ms.max(min_ms).into()),
    };
    backoff.delay(attempt, if random.is_finite() { random } else { 0.0 }).as_secs_f64() * 1000.0
}
