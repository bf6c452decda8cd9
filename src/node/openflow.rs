//! `NativeOpenFlowChannel`: the JS handle of a `driver::openflow` channel. Messages
//! cross as encoded bytes (the JS facade encodes and decodes with the codec), so
//! this layer only converts options, results and errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::{BigInt, Buffer, Either};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;

use super::convert::ms;
use super::errors::{err, Code};
use super::tls::{host_tls, HostTlsOptions, TlsConfig};
use crate::driver::openflow::{open, ChannelEvent, ChannelHandle, ChannelOptions};
use crate::driver::ChannelError;
use crate::openflow::header::OFP11_VERSION;
use crate::openflow::of13::OFP13_VERSION;
use crate::session::openflow::{Completion, Config};

/// `'1.1'` or `'1.3'`, as the JS options name versions.
pub(super) fn version_name(wire: u8) -> &'static str {
    if wire == OFP13_VERSION {
        "1.3"
    } else {
        "1.1"
    }
}
use crate::session::reconnect::Backoff;

/// Options of a channel (see the JS `OpenFlowChannel` for their documentation).
#[napi(object)]
pub struct NativeChannelOptions {
    pub host: String,
    pub port: u32,
    pub expected_datapath_id: Option<BigInt>,
    pub echo_interval_ms: Option<u32>,
    pub echo_timeout_ms: Option<u32>,
    pub connect_timeout_ms: Option<u32>,
    pub request_timeout_ms: Option<u32>,
    pub reconnect: Option<bool>,
    pub reconnect_min_ms: Option<u32>,
    pub reconnect_max_ms: Option<u32>,
    pub miss_send_len: Option<u32>,
    pub versions: Option<Vec<String>>,
}

/// A failed async call. napi's async methods only reject with napi's own status
/// codes, so failures resolve as this object and the JS facade throws it with its
/// stable `code`.
#[napi(object)]
pub struct NativeFailure {
    pub failed: bool,
    pub code: String,
    pub message: String,
}

type Outcome<T> = napi::Result<Either<T, NativeFailure>>;

fn outcome<T>(r: Result<T, napi::Error<Code>>) -> Outcome<T> {
    Ok(match r {
        Ok(v) => Either::A(v),
        Err(e) => Either::B(NativeFailure { failed: true, code: e.status.0.to_owned(), message: e.reason.clone() }),
    })
}

/// Result of `connect`.
#[napi(object)]
pub struct NativeConnected {
    pub datapath_id: BigInt,
    /// The version on the wire, `'1.1'` or `'1.3'` (messages cross as OpenFlow 1.1 either way).
    pub version: String,
    /// The FEATURES_REPLY (ports included), in OpenFlow 1.1 whatever the version on the wire.
    pub features: Buffer,
}

/// Result of `request`: the reply parts, or the switch's OFPT_ERROR.
#[napi(object)]
pub struct NativeReply {
    pub parts: Vec<Buffer>,
    pub switch_error: Option<Buffer>,
}

/// A refusal inside a batch.
#[napi(object)]
pub struct NativeBatchError {
    pub index: u32,
    pub xid: u32,
    pub error: Buffer,
}

/// Result of `sendBatch`.
#[napi(object)]
pub struct NativeBatchResult {
    pub count: u32,
    pub first_xid: u32,
    pub errors: Vec<NativeBatchError>,
}

/// (kind, payload, code, message), delivered on the JS thread.
type EventArgs = (String, Option<Buffer>, Option<String>, Option<String>);
/// Strong (keeps Node's event loop alive while the channel is open); released by
/// `close()` and when the driver task ends.
type EventFn = ThreadsafeFunction<EventArgs, (), EventArgs, Status, false, false>;

fn channel_error(e: ChannelError) -> napi::Error<Code> {
    err(e.code, e.message)
}

/// The native half of `OpenFlowChannel`.
#[napi]
pub struct NativeOpenFlowChannel {
    options: ChannelOptions,
    on_event: Mutex<Option<Arc<EventFn>>>,
    handle: Arc<Mutex<Option<ChannelHandle>>>,
}

/// Validates the options and makes a channel (a function rather than a
/// constructor so that errors keep their `code`).
#[napi(js_name = "__createOpenFlowChannel")]
pub fn create_openflow_channel(
    options: NativeChannelOptions,
    tls: Option<&TlsConfig>,
    host_options: Option<HostTlsOptions>,
    on_event: EventFn,
) -> napi::Result<NativeOpenFlowChannel, Code> {
    super::errors::guard(|| NativeOpenFlowChannel::new(options, tls, host_options, on_event))
}

/// The session settings of channel options, checked (a datapath id must be an
/// unsigned 64-bit BigInt; missSendLen 0 means "leave the switch's setting").
pub(super) fn session_config(options: &NativeChannelOptions) -> napi::Result<Config, Code> {
    let expected_datapath_id = match &options.expected_datapath_id {
        None => None,
        Some(b) => {
            let (signed, v, lossless) = b.get_u64();
            if signed || !lossless {
                return Err(err("ERR_OUT_OF_RANGE", "expectedDatapathId must be an unsigned 64-bit BigInt"));
            }
            Some(v)
        }
    };
    let miss_send_len = match options.miss_send_len {
        None => Some(0xffff),
        Some(0) => None,
        Some(n) => Some(u16::try_from(n).map_err(|_| err("ERR_OUT_OF_RANGE", "missSendLen must be at most 65535"))?),
    };
    let versions = match &options.versions {
        // OpenFlow 1.3 where the bridge allows it (XO's bridges offer only OpenFlow11).
        None => vec![OFP11_VERSION, OFP13_VERSION],
        Some(list) => {
            let wire = |v: &String| match v.as_str() {
                "1.1" => Some(OFP11_VERSION),
                "1.3" => Some(OFP13_VERSION),
                _ => None,
            };
            let parsed: Option<Vec<u8>> = list.iter().map(wire).collect();
            match parsed {
                Some(v) if !v.is_empty() => v,
                _ => return Err(err("ERR_INVALID_ARG_VALUE", "options.versions must list '1.1', '1.3' or both")),
            }
        }
    };
    Ok(Config {
        echo_interval: ms(options.echo_interval_ms, 5_000),
        versions,
        echo_timeout: ms(options.echo_timeout_ms, 5_000),
        handshake_timeout: ms(options.connect_timeout_ms, 10_000),
        expected_datapath_id,
        miss_send_len,
        ..Config::default()
    })
}

impl NativeOpenFlowChannel {
    fn new(
        options: NativeChannelOptions,
        tls: Option<&TlsConfig>,
        host_options: Option<HostTlsOptions>,
        on_event: EventFn,
    ) -> napi::Result<Self, Code> {
        let port = u16::try_from(options.port).map_err(|_| err("ERR_OUT_OF_RANGE", format!("port {} is not a TCP port", options.port)))?;
        let session = session_config(&options)?;
        let tls = match tls {
            Some(t) => Some(host_tls(t, host_options.as_ref(), &options.host)?),
            None => None,
        };
        let reconnect = (options.reconnect != Some(false)).then(|| Backoff {
            min: ms(options.reconnect_min_ms, 200),
            max: ms(options.reconnect_max_ms, 30_000),
        });
        Ok(NativeOpenFlowChannel {
            options: ChannelOptions {
                host: options.host,
                port,
                tls,
                session,
                connect_timeout: ms(options.connect_timeout_ms, 10_000),
                request_timeout: ms(options.request_timeout_ms, 30_000),
                reconnect,
            },
            on_event: Mutex::new(Some(Arc::new(on_event))),
            handle: Arc::new(Mutex::new(None)),
        })
    }
}

#[napi]
impl NativeOpenFlowChannel {
    /// Connects (TCP, TLS, HELLO, FEATURES). Rejects with a stable code.
    #[napi]
    pub async fn connect(&self) -> Outcome<NativeConnected> {
        if self.current().is_some() {
            return outcome(Err(err("CHANNEL_ALREADY_CONNECTED", "connect() was already called; close() first")));
        }
        let Some(tsfn) = self.on_event.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return outcome(Err(err("CHANNEL_CLOSED", "the channel was closed")));
        };
        let (handle, connected) = match open(self.options.clone(), move |ev| deliver(&tsfn, ev)).await {
            Ok(v) => v,
            Err(e) => return outcome(Err(channel_error(e))),
        };
        *self.handle.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        outcome(Ok(NativeConnected {
            datapath_id: BigInt::from(connected.datapath_id),
            version: version_name(connected.version).into(),
            features: connected.features.into(),
        }))
    }

    /// One message, its reply.
    #[napi]
    pub async fn request(&self, message: Buffer, timeout_ms: Option<u32>) -> Outcome<NativeReply> {
        let Some(handle) = self.current() else { return outcome(Err(not_connected())) };
        outcome(match handle.request(message.to_vec(), timeout_ms.map(|t| Duration::from_millis(t.into()))).await {
            Ok(parts) => Ok(NativeReply { parts: parts.into_iter().map(Buffer::from).collect(), switch_error: None }),
            Err(ChannelError { switch_error: Some(e), .. }) => Ok(NativeReply { parts: Vec::new(), switch_error: Some(e.into()) }),
            Err(e) => Err(channel_error(e)),
        })
    }

    /// Messages back to back, then a barrier.
    #[napi]
    pub async fn send_batch(&self, messages: Buffer, timeout_ms: Option<u32>) -> Outcome<NativeBatchResult> {
        let Some(handle) = self.current() else { return outcome(Err(not_connected())) };
        outcome(match handle.send_batch(messages.to_vec(), timeout_ms.map(|t| Duration::from_millis(t.into()))).await {
            Ok(Completion::Batch { count, first_xid, errors }) => Ok(NativeBatchResult {
                count,
                first_xid,
                errors: errors
                    .into_iter()
                    .map(|e| NativeBatchError { index: e.index, xid: e.xid, error: e.error.into() })
                    .collect(),
            }),
            Ok(Completion::Reply(_)) => Err(err("ERR_INTERNAL", "reply completion for a batch")),
            Err(e) => Err(channel_error(e)),
        })
    }

    /// Graceful, idempotent.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            h.close().await;
        }
        self.on_event.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok(())
    }
}

impl NativeOpenFlowChannel {
    fn current(&self) -> Option<ChannelHandle> {
        self.handle.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn not_connected() -> napi::Error<Code> {
    err("CHANNEL_NOT_CONNECTED", "connect() first (or the channel was closed)")
}

fn deliver(tsfn: &EventFn, ev: ChannelEvent) {
    let ended = matches!(ev, ChannelEvent::Disconnected(_) | ChannelEvent::Closed);
    let args: EventArgs = match ev {
        ChannelEvent::Async(bytes) => ("message".into(), Some(bytes.into()), None, None),
        ChannelEvent::Disconnected(e) => ("disconnected".into(), None, Some(e.code.into()), Some(e.message)),
        ChannelEvent::Reconnected(c) => ("reconnected".into(), Some(c.features.into()), None, None),
        ChannelEvent::Closed => ("closed".into(), None, None, None),
    };
    if ended {
        // A connection ended: what it held is freed now.
        super::memory::trim_after_close();
    }
    tsfn.call(args, ThreadsafeFunctionCallMode::NonBlocking);
}
