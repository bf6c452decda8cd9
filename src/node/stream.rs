//! `NativeStream`: a TCP or rustls TLS connection for protocol drivers written in
//! JS. Events: ('data', NativeChunk) and ('close', null, code, message).
//!
//! Received bytes and the bytes to send never become JS Buffers: a read arrives as
//! a [`NativeChunk`] that a native session consumes (`NativeOvsdbSession.receiveChunk`),
//! and a session's output goes straight into the write queue
//! (`NativeOvsdbSession.sendOutput`). A Buffer made from Rust memory is freed only
//! when V8 collects it, and V8 let tens of MiB of them wait: against an OVSDB server
//! flooding echo requests, Node's external memory (the reads and replies that had
//! crossed into JS) was up +32 to +43 MiB at the peak (2026-12-05).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::BufferSlice;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;

use super::errors::{err, guard, Code};
use super::openflow::NativeFailure;
use super::tls::{host_tls, HostTlsOptions, TlsConfig};
use crate::driver::io::TlsTarget;
use crate::driver::stream::{open_stream, StreamEvent, StreamHandle};

type EventArgs = (String, Option<NativeChunk>, Option<String>, Option<String>);
/// Strong (keeps Node's event loop alive while the stream is open); released when
/// the stream ends, so a closed stream never holds the process.
type EventFn = ThreadsafeFunction<EventArgs, (), EventArgs, Status, false, false>;

/// The bytes of one read. Readable during its 'data' event only: what the handler
/// has not consumed is freed when it returns, not when V8 collects the chunk.
#[napi]
pub struct NativeChunk {
    bytes: Arc<Mutex<Option<Vec<u8>>>>,
}

impl NativeChunk {
    /// The bytes, once (`None` after the first take or after the event).
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        self.bytes.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A byte stream whose reads arrive as events.
#[napi]
pub struct NativeStream {
    host: String,
    port: u16,
    tls: Option<TlsTarget>,
    timeout: Duration,
    on_event: Mutex<Option<Arc<EventFn>>>,
    handle: Arc<Mutex<Option<StreamHandle>>>,
}

/// Validates and prepares a stream (connect with `connect()`).
#[napi(js_name = "__createStream")]
pub fn create_stream(
    host: String,
    port: u32,
    connect_timeout_ms: Option<u32>,
    tls: Option<&TlsConfig>,
    host_options: Option<HostTlsOptions>,
    on_event: EventFn,
) -> napi::Result<NativeStream, Code> {
    guard(|| {
        let port =
            u16::try_from(port).map_err(|_| err("ERR_OUT_OF_RANGE", format!("port {port} is not a TCP port")))?;
        let tls = match tls {
            Some(t) => Some(host_tls(t, host_options.as_ref(), &host)?),
            None => None,
        };
        Ok(NativeStream {
            host,
            port,
            tls,
            timeout: Duration::from_millis(connect_timeout_ms.map_or(10_000, u64::from)),
            on_event: Mutex::new(Some(Arc::new(on_event))),
            handle: Arc::new(Mutex::new(None)),
        })
    })
}

#[napi]
impl NativeStream {
    /// Connects; resolves `null` or a failure object (`{ failed, code, message }`).
    #[napi]
    pub async fn connect(&self) -> napi::Result<Option<NativeFailure>> {
        let Some(tsfn) = self.on_event.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return Ok(Some(NativeFailure {
                failed: true,
                code: "CHANNEL_CLOSED".into(),
                message: "the stream was ended".into(),
            }));
        };
        let r = open_stream(&self.host, self.port, self.tls.as_ref(), self.timeout, move |ev| {
            let args: EventArgs = match ev {
                StreamEvent::Data(b, ack) => {
                    let bytes = Arc::new(Mutex::new(Some(b)));
                    let args = ("data".into(), Some(NativeChunk { bytes: bytes.clone() }), None, None);
                    // When the JS handler has returned (or the call is dropped), the
                    // bytes it left go and the ack with them: the reader stays at
                    // most 1 MiB ahead of JS.
                    tsfn.call_with_return_value(args, ThreadsafeFunctionCallMode::NonBlocking, move |_, _| {
                        drop(bytes.lock().unwrap_or_else(|e| e.into_inner()).take());
                        drop(ack);
                        Ok(())
                    });
                    return;
                }
                StreamEvent::Closed(None) => ("close".into(), None, None, None),
                StreamEvent::Closed(Some(e)) => ("close".into(), None, Some(e.code.into()), Some(e.message)),
            };
            // Closed: whatever the connection held is freed now.
            super::memory::trim_after_close();
            tsfn.call(args, ThreadsafeFunctionCallMode::NonBlocking);
        })
        .await;
        match r {
            Ok(h) => {
                *self.handle.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
                Ok(None)
            }
            Err(e) => {
                self.on_event.lock().unwrap_or_else(|e| e.into_inner()).take();
                Ok(Some(NativeFailure { failed: true, code: e.code.into(), message: e.message }))
            }
        }
    }

    /// Queues bytes; false when the stream is closed, or when its write queue is
    /// over the cap (16 MiB): the stream is then cut and ends with a 'close' event
    /// of code `PEER_NOT_READING`.
    #[napi]
    pub fn write(&self, bytes: BufferSlice) -> napi::Result<bool, Code> {
        guard(|| Ok(self.queue(bytes.to_vec())))
    }

    /// Hands `bytes` to the writer as they are (no copy): false as for `write`.
    pub(crate) fn queue(&self, bytes: Vec<u8>) -> bool {
        match self.handle.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(h) => h.write(bytes),
            None => false,
        }
    }

    /// Flushes and shuts down; past 1 s the connection is cut. With `abort`, cuts it
    /// at once (a peer that broke the protocol: nothing more of it is read). The
    /// 'close' event follows, once the socket and the queue are dropped.
    #[napi]
    pub fn end(&self, abort: Option<bool>) -> napi::Result<(), Code> {
        guard(|| {
            Ok({
                if let Some(h) = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    if abort == Some(true) {
                        h.abort();
                    } else {
                        h.close();
                    }
                }
                // The reader task keeps its own reference until the stream's end is read.
                self.on_event.lock().unwrap_or_else(|e| e.into_inner()).take();
            })
        })
    }
}
