//! The controller side of an OpenFlow 1.1 connection, as a state machine.
//!
//! `ExpectHello` → (HELLO, version negotiated) → `ExpectFeaturesReply` →
//! (FEATURES_REPLY, datapath id checked; in OpenFlow 1.3, `ExpectPortDesc` for the
//! ports) → (SET_CONFIG sent) → `Active` → `Closed`.
//!
//! With [`Config::versions`] allowing it, the session negotiates OpenFlow 1.3 and
//! translates at its edge ([`crate::openflow::of13`]): callers still encode and
//! decode OpenFlow 1.1, whatever the version on the wire.
//!
//! Inputs: bytes received, commands (`request`, `send_batch`, `close`) and `now`.
//! Outputs: bytes to write (`take_output`), events (`poll_event`) and the next
//! deadline (`poll_timeout`); call `handle_timeout` when it passes. Messages cross
//! this layer as encoded bytes: the session only rewrites transaction ids and reads
//! headers, so callers encode and decode with the codec on their side.

use bytes::{BufMut, BytesMut};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::openflow::error_msg::ErrorType;
use crate::openflow::header::{MsgType, HEADER_LEN, OFP11_VERSION};
use crate::openflow::of13::{self, OFP13_VERSION};
use crate::openflow::stats::StatsFlags;
use crate::openflow::switch::{ConfigFlags, FeaturesReply, SwitchConfig};
use crate::openflow::symmetric::{Echo, Empty, Hello, HelloElement};
use crate::openflow::types::Bytes;
use crate::openflow::{Framer, Message};

/// Session settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Idle time after which we probe the switch with ECHO_REQUEST.
    pub echo_interval: Duration,
    /// Time to wait for any traffic after a probe before giving up.
    pub echo_timeout: Duration,
    /// Time allowed from connection to `Active`.
    pub handshake_timeout: Duration,
    /// Datapath id the switch must report, if known.
    pub expected_datapath_id: Option<u64>,
    /// `miss_send_len` to set once connected. Open vSwitch sends no asynchronous
    /// message (PORT_STATUS, PACKET_IN, FLOW_REMOVED) to a service connection
    /// until the controller sets a non-zero one. `None`: leave the switch as is.
    pub miss_send_len: Option<u16>,
    /// Cap on the bytes of one request's gathered reply ([`MAX_REPLY_BYTES`]).
    pub max_reply_bytes: usize,
    /// Cap on the parts of one request's gathered reply ([`MAX_REPLY_PARTS`]).
    pub max_reply_parts: usize,
    /// Cap on the bytes waiting to be written ([`MAX_QUEUED_BYTES`]).
    pub max_queued_bytes: usize,
    /// Wire versions we may negotiate: OpenFlow 1.1 (0x02) and 1.3 (0x04). The
    /// highest one the switch also offers wins (OpenFlow 1.3.5 §7.5.1).
    pub versions: Vec<u8>,
}

/// Cap on the bytes of one request's multipart STATS reply gathered in memory:
/// 32 MiB (the sum of the parts' lengths, headers included), so that a switch that
/// never ends its reply costs less than 64 MB of memory in all.
///
/// A flow stats entry of Open vSwitch is about 130 to 300 bytes in OpenFlow 1.1
/// (an OXM match plus instructions and counters), so a dump of 100,000 flows is
/// 13 to 30 MiB: it fits; a bridge with far more flows needs a larger cap
/// (`Config::max_reply_bytes`). A reply that grows past the cap fails its request
/// at once with `OF_REPLY_TOO_LARGE` and closes the connection (see
/// [`CloseReason::ReplyTooLarge`]), freeing the parts.
pub const MAX_REPLY_BYTES: usize = 32 << 20;

/// Cap on the parts of one request's multipart STATS reply: 1,000,000.
///
/// Open vSwitch fills parts up to 64 KiB (a 100,000-flow dump is a few hundred
/// parts); a switch sending one flow per part still fits 1,000,000 flows. The cap
/// bounds the per-part bookkeeping a peer sending tiny parts could make us keep
/// (1,000,000 parts of 16 bytes are about 64 MB with their allocations).
pub const MAX_REPLY_PARTS: usize = 1_000_000;

pub use super::{MAX_QUEUED_BYTES, PEER_NOT_READING};

impl Default for Config {
    fn default() -> Self {
        Config {
            echo_interval: Duration::from_secs(5),
            echo_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            expected_datapath_id: None,
            miss_send_len: Some(0xffff),
            max_reply_bytes: MAX_REPLY_BYTES,
            max_reply_parts: MAX_REPLY_PARTS,
            max_queued_bytes: MAX_QUEUED_BYTES,
            versions: vec![OFP11_VERSION],
        }
    }
}

/// Identifies a command until its completion event.
pub type RequestId = u64;

/// What the switch said when the session became active.
#[derive(Clone, Debug)]
pub struct Connected {
    /// Datapath id.
    pub datapath_id: u64,
    /// Version negotiated on the wire (0x02 or 0x04); callers speak OpenFlow 1.1 either way.
    pub version: u8,
    /// The FEATURES_REPLY (ports included), in OpenFlow 1.1, for the caller to decode.
    pub features: Vec<u8>,
}

/// Why the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Both sides share no version we speak.
    VersionNegotiation(String),
    /// The switch is not the one expected.
    DatapathMismatch {
        /// Expected id.
        expected: u64,
        /// Reported id.
        actual: u64,
    },
    /// No HELLO/FEATURES_REPLY in time.
    HandshakeTimeout,
    /// The switch did not answer our probe.
    ProbeTimeout,
    /// The switch sent bytes that cannot be framed, or broke the protocol.
    Protocol(String),
    /// The first bytes were a TLS record: the port expects TLS and we spoke plain TCP.
    PeerExpectsTls,
    /// A multipart reply grew past [`Config::max_reply_bytes`] or
    /// [`Config::max_reply_parts`]. The request fails at once and the connection is
    /// closed rather than kept: OpenFlow 1.1 cannot stop a multipart reply, so the
    /// switch would go on streaming the rest (forever, if it is broken or hostile)
    /// and we would have to read and drop all of it; a reconnect resets both sides.
    ReplyTooLarge {
        /// Parts received for the request, the one over the cap included.
        parts: usize,
        /// Their bytes.
        bytes: usize,
        /// The byte cap.
        max_bytes: usize,
        /// The part cap.
        max_parts: usize,
    },
    /// The bytes waiting to be written to the switch passed
    /// [`Config::max_queued_bytes`]: the switch does not read what we send (while
    /// it may still be sending, e.g. a flood of echo requests we owe replies to).
    PeerNotReading {
        /// Bytes waiting when the session gave up.
        queued: usize,
        /// The cap.
        limit: usize,
    },
    /// The transport ended (set by the driver).
    Transport(String),
    /// `close()` was called.
    ByUser,
}

impl CloseReason {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CloseReason::VersionNegotiation(_) => "OF_VERSION_NEGOTIATION_FAILED",
            CloseReason::DatapathMismatch { .. } => "OF_DATAPATH_MISMATCH",
            CloseReason::HandshakeTimeout => "OF_HANDSHAKE_TIMEOUT",
            CloseReason::ProbeTimeout => "OF_ECHO_TIMEOUT",
            CloseReason::Protocol(_) => "OF_PROTOCOL_ERROR",
            CloseReason::PeerExpectsTls => "OF_PEER_EXPECTS_TLS",
            CloseReason::ReplyTooLarge { .. } => "OF_REPLY_TOO_LARGE",
            CloseReason::PeerNotReading { .. } => PEER_NOT_READING,
            CloseReason::Transport(_) => "CHANNEL_CLOSED",
            CloseReason::ByUser => "CHANNEL_CLOSED",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::VersionNegotiation(s) => write!(f, "version negotiation failed: {s}"),
            CloseReason::DatapathMismatch { expected, actual } => {
                write!(f, "datapath id is {actual:#018x}, expected {expected:#018x}")
            }
            CloseReason::HandshakeTimeout => f.write_str("handshake timed out"),
            CloseReason::ProbeTimeout => f.write_str("switch did not answer the echo probe"),
            CloseReason::Protocol(s) => write!(f, "protocol error: {s}"),
            CloseReason::PeerExpectsTls => f.write_str("the switch answered with TLS: this port expects TLS (give a TlsConfig)"),
            CloseReason::ReplyTooLarge { parts, bytes, max_bytes, max_parts } => write!(
                f,
                "the switch's multipart reply passed the cap of {max_bytes} bytes or {max_parts} parts ({parts} parts, {bytes} bytes so far): connection closed"
            ),
            CloseReason::PeerNotReading { queued, limit } => write!(
                f,
                "the switch does not read what we send: {queued} bytes waiting, over the {limit}-byte cap: connection closed"
            ),
            CloseReason::Transport(s) => write!(f, "connection lost: {s}"),
            CloseReason::ByUser => f.write_str("channel closed"),
        }
    }
}

/// An error one message of a batch drew from the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchError {
    /// Position of the message in the batch.
    pub index: u32,
    /// Its transaction id on the wire.
    pub xid: u32,
    /// The OFPT_ERROR as received.
    pub error: Vec<u8>,
}

/// A command's successful result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The reply, or the parts of a multipart STATS reply, as received.
    Reply(Vec<Vec<u8>>),
    /// The barrier after a batch came back: every message was processed. Messages
    /// listed in `errors` were refused; the others were applied.
    Batch {
        /// Messages in the batch.
        count: u32,
        /// Transaction id of the first (they are consecutive).
        first_xid: u32,
        /// Refusals.
        errors: Vec<BatchError>,
    },
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// No answer in time.
    Timeout,
    /// The session ended first.
    Closed(CloseReason),
    /// Not connected yet, or not any more.
    NotConnected,
    /// The switch answered with OFPT_ERROR (as received).
    Switch(Vec<u8>),
    /// The bytes given are not well-formed messages.
    Invalid(String),
}

impl RequestError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::Timeout => "OF_TIMEOUT",
            RequestError::Closed(r) => r.code(),
            RequestError::NotConnected => "CHANNEL_NOT_CONNECTED",
            RequestError::Switch(_) => "OF_SWITCH_ERROR",
            RequestError::Invalid(_) => "ERR_INVALID_ARG_VALUE",
        }
    }
}

/// Something the caller must know about.
#[derive(Clone, Debug)]
pub enum Event {
    /// The handshake finished.
    Connected(Connected),
    /// A command finished.
    Completed {
        /// Which.
        id: RequestId,
        /// How.
        result: Result<Completion, RequestError>,
    },
    /// A message the switch sent on its own (PORT_STATUS, FLOW_REMOVED, PACKET_IN,
    /// an ERROR for no pending command, ...), as received.
    Async(Vec<u8>),
    /// The session ended; every pending command has completed with an error.
    Closed(CloseReason),
}

#[derive(Debug)]
enum State {
    ExpectHello,
    ExpectFeaturesReply { xid: u32 },
    /// OpenFlow 1.3: the FEATURES_REPLY came; its ports come by PORT_DESC.
    ExpectPortDesc { xid: u32, features: Vec<u8>, parts: Vec<Vec<u8>> },
    Active,
    Closed,
}

#[derive(Debug)]
enum Pending {
    /// `bytes`: the sum of the lengths of `parts`.
    Single { id: RequestId, deadline: Instant, parts: Vec<Vec<u8>>, bytes: usize },
    Barrier { id: RequestId, deadline: Instant, first_xid: u32, count: u32, errors: Vec<BatchError> },
}

impl Pending {
    fn deadline(&self) -> Instant {
        match self {
            Pending::Single { deadline, .. } | Pending::Barrier { deadline, .. } => *deadline,
        }
    }
}

/// One OpenFlow 1.1 controller connection.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    framer: Framer,
    out: BytesMut,
    events: VecDeque<Event>,
    next_xid: u32,
    next_id: RequestId,
    pending: HashMap<u32, Pending>,
    deadlines: BTreeSet<(Instant, u32)>,
    /// Batches in flight: (first xid, count, barrier xid), to attribute errors.
    batches: Vec<(u32, u32, u32)>,
    handshake_deadline: Instant,
    last_rx: Instant,
    probe_sent: Option<Instant>,
    /// Bytes the driver took from `out` and has not started writing (`set_unsent`).
    unsent: usize,
    /// Why the session ended, once it has.
    close_reason: Option<CloseReason>,
    /// The version on the wire: OpenFlow 1.1 until a HELLO settles it.
    version: u8,
}

/// Largest input we accept from the caller in one batch (bytes), so one call
/// cannot make the session buffer without bound.
pub const MAX_BATCH_BYTES: usize = 256 << 20;

impl Session {
    /// A session for a connection that was just established; queues our HELLO.
    pub fn new(config: Config, now: Instant) -> Session {
        let mut s = Session {
            handshake_deadline: now + config.handshake_timeout,
            config,
            state: State::ExpectHello,
            framer: Framer::new(),
            out: BytesMut::with_capacity(4096),
            events: VecDeque::new(),
            next_xid: 1,
            next_id: 1,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            batches: Vec::new(),
            last_rx: now,
            probe_sent: None,
            unsent: 0,
            close_reason: None,
            version: OFP11_VERSION,
        };
        let xid = s.alloc_xids(1);
        // OpenFlow 1.1 alone: its plain HELLO. With 1.3, the highest version in the
        // header and every version offered in a bitmap (OpenFlow 1.3.5 §7.5.1).
        let offered: Vec<u8> = s.config.versions.iter().copied().filter(|v| [OFP11_VERSION, OFP13_VERSION].contains(v)).collect();
        let hello = match offered.iter().max() {
            Some(&top) if top > OFP11_VERSION => {
                let bitmap = offered.iter().fold(0u32, |b, v| b | 1 << v);
                Hello { xid, version: top, elements: vec![HelloElement::VersionBitmap { bitmaps: vec![bitmap] }] }
            }
            _ => Hello { xid, version: OFP11_VERSION, elements: Vec::new() },
        };
        s.queue(&Message::Hello(hello));
        s
    }

    /// The version negotiated on the wire (OpenFlow 1.1 before the switch's HELLO).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// True once the handshake is done and until the session ends.
    pub fn is_active(&self) -> bool {
        matches!(self.state, State::Active)
    }

    /// True once ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Commands in flight.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// Tells the session how many bytes it produced are still waiting in the
    /// driver: taken with [`Session::take_output`] but not yet handed to the
    /// socket, not counting a write in progress. They count against
    /// [`Config::max_queued_bytes`]. Drivers that write synchronously never call it.
    pub fn set_unsent(&mut self, bytes: usize) {
        self.unsent = bytes;
    }

    /// Bytes waiting to be written: output not taken yet plus [`Session::set_unsent`].
    pub fn queued_bytes(&self) -> usize {
        self.out.len().saturating_add(self.unsent)
    }

    /// Bytes of the reply parts gathered for pending requests.
    pub fn gathered_reply_bytes(&self) -> usize {
        self.pending.values().map(|p| if let Pending::Single { bytes, .. } = p { *bytes } else { 0 }).sum()
    }

    /// Checked before any output is added: true if there is room. When the queue
    /// already holds more than the cap, closes with `PeerNotReading` (releasing the
    /// output) and returns false.
    fn room_for_output(&mut self) -> bool {
        let queued = self.queued_bytes();
        if queued <= self.config.max_queued_bytes {
            return true;
        }
        // The peer reads nothing: what is queued will never be delivered.
        self.out = BytesMut::new();
        self.close(CloseReason::PeerNotReading { queued, limit: self.config.max_queued_bytes });
        false
    }

    /// The error a command gets when the output check just closed the session.
    fn closed_error(&self) -> RequestError {
        match &self.close_reason {
            Some(r) => RequestError::Closed(r.clone()),
            None => RequestError::NotConnected,
        }
    }

    /// Queues a message the session builds (HELLO, ECHO, FEATURES_REQUEST,
    /// SET_CONFIG, BARRIER, ERROR: one layout in both versions), in the wire version.
    fn queue(&mut self, m: &Message) {
        let start = self.out.len();
        // Messages built here are small and always encodable.
        if m.encode(&mut self.out).is_err() {
            debug_assert!(false, "internal message failed to encode");
        }
        if self.version == OFP13_VERSION && !matches!(m, Message::Hello(_)) {
            if let Some(v) = self.out.get_mut(start) {
                *v = OFP13_VERSION;
            }
        }
    }

    /// A caller's OpenFlow 1.1 message in the wire version.
    fn wire_form<'a>(&self, message: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, RequestError> {
        if self.version != OFP13_VERSION {
            return Ok(std::borrow::Cow::Borrowed(message));
        }
        of13::to_of13(message)
            .map(std::borrow::Cow::Owned)
            .map_err(|why| RequestError::Invalid(format!("cannot be sent over OpenFlow 1.3: {why}")))
    }

    /// Reserves `n` consecutive transaction ids (never 0, never wrapping inside a
    /// batch) and returns the first.
    fn alloc_xids(&mut self, n: u32) -> u32 {
        if self.next_xid.checked_add(n).is_none() {
            self.next_xid = 1;
        }
        let first = self.next_xid;
        self.next_xid += n;
        first
    }

    fn register(&mut self, xid: u32, p: Pending) {
        self.deadlines.insert((p.deadline(), xid));
        self.pending.insert(xid, p);
    }

    fn unregister(&mut self, xid: u32) -> Option<Pending> {
        let p = self.pending.remove(&xid)?;
        self.deadlines.remove(&(p.deadline(), xid));
        if let Pending::Barrier { .. } = p {
            self.batches.retain(|b| b.2 != xid);
        }
        Some(p)
    }

    fn complete(&mut self, id: RequestId, result: Result<Completion, RequestError>) {
        self.events.push_back(Event::Completed { id, result });
    }

    fn new_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends one message and waits for its reply (matched by xid; multipart STATS
    /// replies are gathered). `message` is one encoded message; its xid is replaced.
    pub fn request(&mut self, message: &[u8], timeout: Duration, now: Instant) -> Result<RequestId, RequestError> {
        if !self.is_active() {
            return Err(RequestError::NotConnected);
        }
        let len = frame_len(message, 0)?;
        if len != message.len() {
            return Err(RequestError::Invalid("request must be exactly one message".into()));
        }
        let message = self.wire_form(message)?;
        let message = &message[..];
        if !self.room_for_output() {
            return Err(self.closed_error());
        }
        let xid = self.alloc_xids(1);
        let start = self.out.len();
        self.out.put_slice(message);
        patch_xid(&mut self.out, start, xid);
        let id = self.new_id();
        self.register(xid, Pending::Single { id, deadline: now + timeout, parts: Vec::new(), bytes: 0 });
        Ok(id)
    }

    /// Sends `messages` (encoded back to back) followed by one BARRIER_REQUEST and
    /// completes when the barrier reply arrives, listing the messages the switch
    /// refused. Transaction ids are replaced with consecutive ones.
    pub fn send_batch(&mut self, messages: &[u8], timeout: Duration, now: Instant) -> Result<RequestId, RequestError> {
        if !self.is_active() {
            return Err(RequestError::NotConnected);
        }
        if messages.len() > MAX_BATCH_BYTES {
            return Err(RequestError::Invalid(format!("batch of {} bytes exceeds {MAX_BATCH_BYTES}", messages.len())));
        }
        // Validate framing first: nothing is sent unless every message is whole.
        let mut count = 0u32;
        let mut pos = 0;
        while pos < messages.len() {
            pos += frame_len(messages, pos)?;
            count += 1;
        }
        // In OpenFlow 1.3, every message translated (or none sent): one for one, so
        // the index of a refusal is the caller's.
        let translated;
        let messages = if self.version == OFP13_VERSION {
            let mut out = Vec::with_capacity(messages.len() + messages.len() / 4);
            let (mut pos, mut index) = (0, 0);
            while pos < messages.len() {
                let len = frame_len(messages, pos)?;
                let one = self.wire_form(&messages[pos..pos + len]).map_err(|e| match e {
                    RequestError::Invalid(why) => RequestError::Invalid(format!("message {index} of the batch {why}")),
                    other => other,
                })?;
                out.extend_from_slice(&one);
                pos += len;
                index += 1;
            }
            if out.len() > MAX_BATCH_BYTES {
                return Err(RequestError::Invalid(format!("batch of {} bytes exceeds {MAX_BATCH_BYTES}", out.len())));
            }
            translated = out;
            &translated[..]
        } else {
            messages
        };
        if !self.room_for_output() {
            return Err(self.closed_error());
        }
        let first_xid = self.alloc_xids(count + 1);
        let barrier_xid = first_xid + count;
        self.out.reserve(messages.len() + HEADER_LEN);
        let base = self.out.len();
        self.out.put_slice(messages);
        let mut pos = 0;
        let mut xid = first_xid;
        while pos < messages.len() {
            let len = frame_len(messages, pos)?;
            patch_xid(&mut self.out, base + pos, xid);
            xid += 1;
            pos += len;
        }
        self.queue(&Message::BarrierRequest(Empty { xid: barrier_xid }));
        let id = self.new_id();
        self.batches.push((first_xid, count, barrier_xid));
        self.register(barrier_xid, Pending::Barrier { id, deadline: now + timeout, first_xid, count, errors: Vec::new() });
        Ok(id)
    }

    /// Ends the session: pending commands fail with `reason`.
    pub fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        self.close_reason = Some(reason.clone());
        let xids: Vec<u32> = self.pending.keys().copied().collect();
        for xid in xids {
            if let Some(p) = self.unregister(xid) {
                let id = match p {
                    Pending::Single { id, .. } | Pending::Barrier { id, .. } => id,
                };
                self.complete(id, Err(RequestError::Closed(reason.clone())));
            }
        }
        self.events.push_back(Event::Closed(reason));
    }

    /// Bytes to write to the transport, if any.
    pub fn take_output(&mut self) -> Option<BytesMut> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split())
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = match self.state {
            State::Closed => return None,
            State::ExpectHello | State::ExpectFeaturesReply { .. } | State::ExpectPortDesc { .. } => {
                Some(self.handshake_deadline)
            }
            State::Active => Some(match self.probe_sent {
                Some(sent) => sent + self.config.echo_timeout,
                None => self.last_rx + self.config.echo_interval,
            }),
        };
        if let Some(&(d, _)) = self.deadlines.iter().next() {
            next = Some(next.map_or(d, |n| n.min(d)));
        }
        next
    }

    /// Expires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => return,
            State::ExpectHello | State::ExpectFeaturesReply { .. } | State::ExpectPortDesc { .. } => {
                if now >= self.handshake_deadline {
                    self.close(CloseReason::HandshakeTimeout);
                    return;
                }
            }
            State::Active => match self.probe_sent {
                Some(sent) if now >= sent + self.config.echo_timeout => {
                    self.close(CloseReason::ProbeTimeout);
                    return;
                }
                None if now >= self.last_rx + self.config.echo_interval => {
                    if !self.room_for_output() {
                        return;
                    }
                    let xid = self.alloc_xids(1);
                    self.queue(&Message::EchoRequest(Echo { xid, data: Bytes(Vec::new()) }));
                    self.probe_sent = Some(now);
                }
                _ => {}
            },
        }
        while let Some(&(d, xid)) = self.deadlines.iter().next() {
            if d > now {
                break;
            }
            if let Some(p) = self.unregister(xid) {
                let id = match p {
                    Pending::Single { id, .. } | Pending::Barrier { id, .. } => id,
                };
                self.complete(id, Err(RequestError::Timeout));
            }
        }
    }

    /// Feeds bytes received from the switch.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        if self.is_closed() {
            return;
        }
        // A TLS record header (alert 0x15 or handshake 0x16, version 3.x) where the
        // HELLO should be: we spoke plain TCP to a TLS port.
        if matches!(self.state, State::ExpectHello) && self.framer.buffered() == 0 {
            if let [0x15 | 0x16, 0x03, ..] = bytes {
                self.close(CloseReason::PeerExpectsTls);
                return;
            }
        }
        self.framer.push(bytes);
        loop {
            match self.framer.next_frame() {
                Ok(Some(frame)) => {
                    self.last_rx = now;
                    self.probe_sent = None;
                    self.handle_message(&frame);
                    if self.is_closed() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    self.close(CloseReason::Protocol(e.to_string()));
                    return;
                }
            }
        }
    }

    fn handle_message(&mut self, frame: &[u8]) {
        let (version, msg_type, xid) = match frame {
            [v, t, _, _, a, b, c, d, ..] => (*v, MsgType(*t), u32::from_be_bytes([*a, *b, *c, *d])),
            _ => return,
        };
        match self.state {
            State::ExpectHello => self.on_hello(frame, msg_type),
            State::ExpectPortDesc { xid: want, .. } => {
                if xid == want && of13::is_port_desc_reply(frame) {
                    self.on_port_desc(frame);
                } else if msg_type == MsgType::ECHO_REQUEST {
                    self.echo_reply(frame, xid);
                } else if msg_type == MsgType::ERROR {
                    self.close(CloseReason::Protocol(format!("switch refused the port description: {}", describe_error(frame))));
                }
            }
            State::ExpectFeaturesReply { xid: want } => {
                if msg_type == MsgType::FEATURES_REPLY && xid == want {
                    self.on_features(frame);
                } else if msg_type == MsgType::ECHO_REQUEST {
                    self.echo_reply(frame, xid);
                } else if msg_type == MsgType::ERROR {
                    self.close(CloseReason::Protocol(format!("switch refused the handshake: {}", describe_error(frame))));
                }
                // Anything else before the handshake ends is ignored, as OVS's rconn does.
            }
            State::Active if version == OFP13_VERSION && self.version == OFP13_VERSION => {
                // Read as OpenFlow 1.1; what has no such form (table stats) or does not
                // translate goes on as it came, still matched to its request by xid.
                match of13::from_of13(frame) {
                    Ok(translated) => self.on_active(&translated, msg_type, xid),
                    Err(_) => self.on_active(frame, msg_type, xid),
                }
            }
            State::Active => {
                if version != OFP11_VERSION {
                    self.events.push_back(Event::Async(frame.to_vec()));
                    return;
                }
                self.on_active(frame, msg_type, xid)
            }
            State::Closed => {}
        }
    }

    fn on_hello(&mut self, frame: &[u8], msg_type: MsgType) {
        if msg_type != MsgType::HELLO {
            self.close(CloseReason::Protocol(format!("expected HELLO, got message type {}", msg_type.0)));
            return;
        }
        let hello = match Message::decode(frame) {
            Ok(Message::Hello(h)) => h,
            Ok(_) => return,
            Err(e) => {
                self.close(CloseReason::Protocol(format!("bad HELLO: {e}")));
                return;
            }
        };
        // OpenFlow 1.3.1 §6.3.1: with bitmaps, the highest version in both; without,
        // the smaller of the two header versions.
        let versions = hello.versions();
        let ours = self.config.versions.iter().copied().filter(|v| [OFP11_VERSION, OFP13_VERSION].contains(v));
        let Some(version) = ours.filter(|v| versions.contains(v)).max() else {
            let xid = self.alloc_xids(1);
            let ours: Vec<&str> = [(OFP11_VERSION, "1.1 (0x02)"), (OFP13_VERSION, "1.3 (0x04)")]
                .into_iter()
                .filter(|(v, _)| self.config.versions.contains(v))
                .map(|(_, name)| name)
                .collect();
            let text = format!(
                "we speak OpenFlow {}; the switch offers {versions:?} (add OpenFlow11 to Bridge.protocols)",
                ours.join(" and ")
            );
            self.queue(&Message::Error(crate::openflow::error_msg::ErrorMsg {
                xid,
                error_type: ErrorType::HELLO_FAILED,
                code: crate::openflow::error_msg::ErrorCode(0),
                data: Bytes(text.clone().into_bytes()),
            }));
            self.close(CloseReason::VersionNegotiation(text));
            return;
        };
        self.version = version;
        let xid = self.alloc_xids(1);
        self.queue(&Message::FeaturesRequest(Empty { xid }));
        self.state = State::ExpectFeaturesReply { xid };
    }

    fn on_features(&mut self, frame: &[u8]) {
        // OpenFlow 1.3: read without its ports, which the PORT_DESC reply brings.
        let of11;
        let readable = if self.version == OFP13_VERSION {
            of11 = match of13::features_reply_of11(frame, &[]) {
                Ok(f) => f,
                Err(why) => return self.close(CloseReason::Protocol(format!("bad FEATURES_REPLY: {why}"))),
            };
            &of11[..]
        } else {
            frame
        };
        let features: FeaturesReply = match Message::decode(readable) {
            Ok(Message::FeaturesReply(f)) => f,
            Ok(_) => return,
            Err(e) => {
                self.close(CloseReason::Protocol(format!("bad FEATURES_REPLY: {e}")));
                return;
            }
        };
        if let Some(expected) = self.config.expected_datapath_id {
            if expected != features.datapath_id {
                self.close(CloseReason::DatapathMismatch { expected, actual: features.datapath_id });
                return;
            }
        }
        if self.version == OFP13_VERSION {
            let xid = self.alloc_xids(1);
            let start = self.out.len();
            self.out.put_slice(&of13::port_desc_request());
            patch_xid(&mut self.out, start, xid);
            self.state = State::ExpectPortDesc { xid, features: frame.to_vec(), parts: Vec::new() };
            return;
        }
        self.activate(features.datapath_id, frame.to_vec());
    }

    /// A part of the PORT_DESC reply; with the last, the session becomes active.
    fn on_port_desc(&mut self, frame: &[u8]) {
        let State::ExpectPortDesc { parts, .. } = &mut self.state else { return };
        let bytes = parts.iter().map(Vec::len).sum::<usize>() + frame.len();
        if parts.len() >= self.config.max_reply_parts || bytes > self.config.max_reply_bytes {
            return self.close(CloseReason::Protocol("the port description never ends".into()));
        }
        parts.push(frame.to_vec());
        if stats_reply_more(frame) {
            return;
        }
        let State::ExpectPortDesc { features, parts, .. } = std::mem::replace(&mut self.state, State::ExpectHello) else {
            return;
        };
        let built = match of13::features_reply_of11(&features, &parts) {
            Ok(f) => f,
            Err(why) => return self.close(CloseReason::Protocol(format!("bad PORT_DESC reply: {why}"))),
        };
        let datapath_id = match Message::decode(&built) {
            Ok(Message::FeaturesReply(f)) => f.datapath_id,
            _ => return self.close(CloseReason::Protocol("bad FEATURES_REPLY".into())),
        };
        self.activate(datapath_id, built);
    }

    fn activate(&mut self, datapath_id: u64, features: Vec<u8>) {
        if let Some(miss_send_len) = self.config.miss_send_len {
            let xid = self.alloc_xids(1);
            self.queue(&Message::SetConfig(SwitchConfig { xid, flags: ConfigFlags(0), miss_send_len }));
        }
        self.state = State::Active;
        self.events.push_back(Event::Connected(Connected { datapath_id, version: self.version, features }));
    }

    fn echo_reply(&mut self, frame: &[u8], xid: u32) {
        // A peer that floods us with echo requests and reads nothing would make us
        // queue replies without end.
        if !self.room_for_output() {
            return;
        }
        // OpenFlow 1.1.0 §A.5.3: the reply carries the request's xid and payload.
        let data = frame.get(HEADER_LEN..).unwrap_or_default().to_vec();
        self.queue(&Message::EchoReply(Echo { xid, data: Bytes(data) }));
    }

    fn on_active(&mut self, frame: &[u8], msg_type: MsgType, xid: u32) {
        match msg_type {
            MsgType::ECHO_REQUEST => return self.echo_reply(frame, xid),
            MsgType::ECHO_REPLY if !self.pending.contains_key(&xid) => return,
            MsgType::ERROR => {
                if let Some(&(first, _, barrier)) = self.batches.iter().find(|(f, n, _)| xid >= *f && xid < f + n) {
                    if let Some(Pending::Barrier { errors, .. }) = self.pending.get_mut(&barrier) {
                        errors.push(BatchError { index: xid - first, xid, error: frame.to_vec() });
                    }
                    return;
                }
                if let Some(p) = self.unregister(xid) {
                    let id = match p {
                        Pending::Single { id, .. } | Pending::Barrier { id, .. } => id,
                    };
                    return self.complete(id, Err(RequestError::Switch(frame.to_vec())));
                }
                return self.events.push_back(Event::Async(frame.to_vec()));
            }
            _ => {}
        }
        match self.pending.get_mut(&xid) {
            Some(Pending::Single { parts, bytes, .. }) => {
                *bytes = bytes.saturating_add(frame.len());
                if *bytes > self.config.max_reply_bytes || parts.len() >= self.config.max_reply_parts {
                    let reason = CloseReason::ReplyTooLarge {
                        parts: parts.len() + 1,
                        bytes: *bytes,
                        max_bytes: self.config.max_reply_bytes,
                        max_parts: self.config.max_reply_parts,
                    };
                    // Fails this request (and any other pending) and frees the parts.
                    return self.close(reason);
                }
                parts.push(frame.to_vec());
                let more = msg_type == MsgType::STATS_REPLY && stats_reply_more(frame);
                if !more {
                    if let Some(Pending::Single { id, parts, .. }) = self.unregister(xid) {
                        self.complete(id, Ok(Completion::Reply(parts)));
                    }
                }
            }
            Some(Pending::Barrier { .. }) if msg_type == MsgType::BARRIER_REPLY => {
                if let Some(Pending::Barrier { id, first_xid, count, errors, .. }) = self.unregister(xid) {
                    self.complete(id, Ok(Completion::Batch { count, first_xid, errors }));
                }
            }
            _ => self.events.push_back(Event::Async(frame.to_vec())),
        }
    }
}

/// Length of the message starting at `pos`, checked against the buffer.
fn frame_len(buf: &[u8], pos: usize) -> Result<usize, RequestError> {
    let len = buf
        .get(pos + 2..pos + 4)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or_else(|| RequestError::Invalid(format!("truncated message header at byte {pos}")))?;
    if len < HEADER_LEN || pos + len > buf.len() {
        return Err(RequestError::Invalid(format!("message at byte {pos} has impossible length {len}")));
    }
    Ok(len)
}

fn patch_xid(out: &mut BytesMut, start: usize, xid: u32) {
    if let Some(slot) = out.get_mut(start + 4..start + 8) {
        slot.copy_from_slice(&xid.to_be_bytes());
    }
}

/// `OFPSF_REPLY_MORE` in a STATS_REPLY header (type at 8..10, flags at 10..12).
fn stats_reply_more(frame: &[u8]) -> bool {
    frame.get(10..12).is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & StatsFlags::REPLY_MORE.0 != 0)
}

fn describe_error(frame: &[u8]) -> String {
    match Message::decode(frame) {
        Ok(Message::Error(e)) => e.ovs_name(),
        _ => "an undecodable error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::stats::{StatsReply, StatsReplyBody};

    fn enc(m: Message) -> Vec<u8> {
        m.to_bytes().unwrap()
    }

    fn out_messages(s: &mut Session) -> Vec<Message> {
        let mut f = Framer::new();
        if let Some(b) = s.take_output() {
            f.push(&b);
        }
        let mut v = Vec::new();
        while let Some(fr) = f.next_frame().unwrap() {
            v.push(Message::decode(&fr).unwrap());
        }
        v
    }

    fn ovs_hello() -> Vec<u8> {
        // What OVS sends: an OF1.3 header with a version bitmap of 1.1 and 1.3.
        crate::openflow::types::hex_decode("04000010000000010001000800000014").unwrap()
    }

    fn features(xid: u32, dpid: u64) -> Vec<u8> {
        enc(Message::FeaturesReply(FeaturesReply {
            xid,
            datapath_id: dpid,
            n_buffers: 0,
            n_tables: 254,
            capabilities: Default::default(),
            reserved: 0,
            ports: vec![],
        }))
    }

    fn active(now: Instant) -> Session {
        let mut s = Session::new(Config::default(), now);
        let out = out_messages(&mut s);
        assert!(matches!(out[0], Message::Hello(_)));
        s.receive(&ovs_hello(), now);
        let out = out_messages(&mut s);
        let Message::FeaturesRequest(Empty { xid }) = out[0] else { panic!("{out:?}") };
        s.receive(&features(xid, 0xabc), now);
        assert!(s.is_active());
        assert!(matches!(s.poll_event(), Some(Event::Connected(Connected { datapath_id: 0xabc, .. }))));
        let out = out_messages(&mut s);
        assert!(matches!(out[0], Message::SetConfig(SwitchConfig { miss_send_len: 0xffff, .. })));
        s
    }

    #[test]
    fn handshake_with_ovs_hello_negotiates_of11() {
        active(Instant::now());
    }

    /// Frames of the OpenFlow 1.3 vectors recorded from Open vSwitch.
    fn of13_vector(name: &str) -> Vec<u8> {
        let tsv = include_str!("../../tests/vectors/openflow13/switch_msgs.tsv");
        let row = tsv.lines().find(|l| l.split('\t').next() == Some(name)).expect(name);
        crate::openflow::types::hex_decode(row.split('\t').nth(1).expect(name)).expect(name)
    }

    fn with_xid(mut frame: Vec<u8>, xid: u32) -> Vec<u8> {
        frame[4..8].copy_from_slice(&xid.to_be_bytes());
        frame
    }

    /// Raw frames of what the session wrote.
    fn out_frames(s: &mut Session) -> Vec<Vec<u8>> {
        let mut f = Framer::new();
        if let Some(b) = s.take_output() {
            f.push(&b);
        }
        std::iter::from_fn(|| f.next_frame().unwrap().map(|b| b.to_vec())).collect()
    }

    /// A session offering 1.1 and 1.3, through the handshake with Open vSwitch's
    /// own OpenFlow 1.3 FEATURES_REPLY and PORT_DESC reply.
    fn active_of13(now: Instant) -> Session {
        let mut s = Session::new(Config { versions: vec![OFP11_VERSION, OFP13_VERSION], ..Config::default() }, now);
        let hello = out_frames(&mut s).remove(0);
        // Version 1.3 in the header, 1.1 and 1.3 in the bitmap (bits 2 and 4).
        assert_eq!(hello, [4, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x14]);
        s.receive(&ovs_hello(), now);
        assert_eq!(s.version(), OFP13_VERSION);
        let request = out_frames(&mut s).remove(0);
        assert_eq!(request[..2], [OFP13_VERSION, MsgType::FEATURES_REQUEST.0]);
        let xid = u32::from_be_bytes([request[4], request[5], request[6], request[7]]);
        s.receive(&with_xid(of13_vector("rep.features_reply"), xid), now);
        assert!(!s.is_active(), "waits for the ports");
        let request = out_frames(&mut s).remove(0);
        assert!(crate::openflow::of13::is_port_desc_reply(&[&[4, 19][..], &request[2..]].concat()), "a PORT_DESC request");
        let xid = u32::from_be_bytes([request[4], request[5], request[6], request[7]]);
        s.receive(&with_xid(of13_vector("rep.stats.port_desc"), xid), now);
        assert!(s.is_active());
        let Some(Event::Connected(c)) = s.poll_event() else { panic!("not connected") };
        assert_eq!(c.version, OFP13_VERSION);
        let Ok(Message::FeaturesReply(f)) = Message::decode(&c.features) else { panic!("features in OpenFlow 1.1") };
        assert!(f.ports.iter().any(|p| p.name == "vif1.0"), "{:?}", f.ports);
        let set_config = out_frames(&mut s).remove(0);
        assert_eq!(set_config[..2], [OFP13_VERSION, MsgType::SET_CONFIG.0]);
        s
    }

    #[test]
    fn negotiates_openflow_1_3_when_offered_and_reads_the_ports_by_port_desc() {
        active_of13(Instant::now());
    }

    #[test]
    fn offering_1_3_to_a_switch_of_1_1_only_settles_on_1_1() {
        let now = Instant::now();
        let mut s = Session::new(Config { versions: vec![OFP11_VERSION, OFP13_VERSION], ..Config::default() }, now);
        s.take_output();
        // An OpenFlow 1.1 HELLO without a bitmap: Bridge.protocols=OpenFlow11.
        s.receive(&enc(Message::Hello(Hello { xid: 1, version: OFP11_VERSION, elements: vec![] })), now);
        assert_eq!(s.version(), OFP11_VERSION);
        let Message::FeaturesRequest(Empty { xid }) = out_messages(&mut s)[0] else { panic!() };
        s.receive(&features(xid, 7), now);
        assert!(matches!(s.poll_event(), Some(Event::Connected(Connected { version: OFP11_VERSION, .. }))));
    }

    #[test]
    fn in_openflow_1_3_a_batch_of_openflow_1_1_goes_translated_and_its_refusals_keep_their_index() {
        let now = Instant::now();
        let mut s = active_of13(now);
        let flow_mods = include_str!("../../tests/vectors/openflow/flow_mods.tsv");
        let hex = |flow: &str| {
            let row = flow_mods.lines().find(|l| l.split('\t').nth(1) == Some(flow)).expect(flow);
            crate::openflow::types::hex_decode(row.split('\t').nth(2).unwrap()).unwrap()
        };
        let fm = hex("priority=100,in_port=1 actions=NORMAL");
        let batch = [fm.clone(), fm.clone()].concat();
        let id = s.send_batch(&batch, Duration::from_secs(1), now).unwrap();
        let out = out_frames(&mut s);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|f| f[0] == OFP13_VERSION));
        let xid = |f: &[u8]| u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
        assert_eq!((xid(&out[1]), xid(&out[2])), (xid(&out[0]) + 1, xid(&out[0]) + 2));
        assert_eq!(out[0][..2], [OFP13_VERSION, MsgType::FLOW_MOD.0]);
        assert_eq!(out[2][..2], [OFP13_VERSION, MsgType::BARRIER_REQUEST.0]);
        // The switch refuses the second one; the error carries our 1.3 request.
        let mut error = of13_vector("rep.error.bad_out_group");
        error[4..8].copy_from_slice(&xid(&out[1]).to_be_bytes());
        s.receive(&error, now);
        let mut barrier = of13_vector("rep.barrier_reply");
        barrier[4..8].copy_from_slice(&xid(&out[2]).to_be_bytes());
        s.receive(&barrier, now);
        let Some(Event::Completed { id: done, result: Ok(Completion::Batch { count: 2, errors, .. }) }) = s.poll_event() else { panic!() };
        assert_eq!(done, id);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].index, 1);
        let Ok(Message::Error(e)) = Message::decode(&errors[0].error) else { panic!("an OpenFlow 1.1 error") };
        assert_eq!(e.ovs_name(), "OFPBAC_BAD_OUT_GROUP");
        // What cannot be translated is refused before anything is sent.
        let tos = hex("ip,nw_tos=32 actions=normal");
        let refused = s.send_batch(&[fm, tos].concat(), Duration::from_secs(1), now).unwrap_err();
        assert!(matches!(&refused, RequestError::Invalid(why) if why.contains("message 1 of the batch")), "{refused:?}");
        assert!(s.take_output().is_none());
    }

    #[test]
    fn refuses_a_switch_without_of11() {
        let now = Instant::now();
        let mut s = Session::new(Config::default(), now);
        s.take_output();
        // OF1.3-only bitmap (bit 4).
        s.receive(&crate::openflow::types::hex_decode("04000010000000010001000800000010").unwrap(), now);
        assert!(s.is_closed());
        let out = out_messages(&mut s);
        assert!(matches!(&out[0], Message::Error(e) if e.error_type == ErrorType::HELLO_FAILED));
        assert!(matches!(s.poll_event(), Some(Event::Closed(CloseReason::VersionNegotiation(_)))));
    }

    #[test]
    fn wrong_datapath_closes() {
        let now = Instant::now();
        let mut s = Session::new(Config { expected_datapath_id: Some(1), ..Config::default() }, now);
        s.take_output();
        s.receive(&ovs_hello(), now);
        let Message::FeaturesRequest(Empty { xid }) = out_messages(&mut s)[0] else { panic!() };
        s.receive(&features(xid, 2), now);
        assert!(matches!(s.poll_event(), Some(Event::Closed(CloseReason::DatapathMismatch { expected: 1, actual: 2 }))));
    }

    #[test]
    fn answers_echo_and_probes_when_idle() {
        let t0 = Instant::now();
        let mut s = active(t0);
        s.receive(&enc(Message::EchoRequest(Echo { xid: 0, data: Bytes(b"hi".to_vec()) })), t0);
        assert_eq!(out_messages(&mut s), vec![Message::EchoReply(Echo { xid: 0, data: Bytes(b"hi".to_vec()) })]);
        let t1 = s.poll_timeout().unwrap();
        assert_eq!(t1, t0 + Duration::from_secs(5));
        s.handle_timeout(t1);
        let Message::EchoRequest(probe) = &out_messages(&mut s)[0] else { panic!() };
        s.receive(&enc(Message::EchoReply(Echo { xid: probe.xid, data: Bytes(vec![]) })), t1);
        assert!(s.is_active());
        let t2 = s.poll_timeout().unwrap();
        s.handle_timeout(t2);
        out_messages(&mut s);
        s.handle_timeout(t2 + Duration::from_secs(5));
        assert!(matches!(s.poll_event(), Some(Event::Closed(CloseReason::ProbeTimeout))));
    }

    #[test]
    fn batch_reports_errors_by_index_then_completes_at_the_barrier() {
        let now = Instant::now();
        let mut s = active(now);
        let fm = enc(Message::BarrierRequest(Empty { xid: 0 })); // any message will do
        let mut batch = Vec::new();
        for _ in 0..3 {
            batch.extend_from_slice(&fm);
        }
        let id = s.send_batch(&batch, Duration::from_secs(1), now).unwrap();
        let out = out_messages(&mut s);
        assert_eq!(out.len(), 4);
        let xids: Vec<u32> = out.iter().map(Message::xid).collect();
        assert_eq!(xids[1], xids[0] + 1);
        let err = enc(Message::Error(crate::openflow::error_msg::ErrorMsg {
            xid: xids[1],
            error_type: ErrorType::BAD_ACTION,
            code: crate::openflow::error_msg::ErrorCode(9),
            data: Bytes(vec![]),
        }));
        s.receive(&err, now);
        s.receive(&enc(Message::BarrierReply(Empty { xid: xids[3] })), now);
        match s.poll_event() {
            Some(Event::Completed { id: got, result: Ok(Completion::Batch { count: 3, errors, .. }) }) => {
                assert_eq!(got, id);
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].index, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gathers_multipart_replies_and_times_out_and_fails_pending_on_close() {
        let now = Instant::now();
        let mut s = active(now);
        let req = enc(Message::BarrierRequest(Empty { xid: 0 }));
        let id = s.request(&req, Duration::from_secs(2), now).unwrap();
        let xid = out_messages(&mut s)[0].xid();
        let part = |more: bool| {
            enc(Message::StatsReply(StatsReply {
                xid,
                flags: StatsFlags(u16::from(more)),
                body: StatsReplyBody::Flow { flows: vec![] },
            }))
        };
        s.receive(&part(true), now);
        assert!(s.poll_event().is_none());
        s.receive(&part(false), now);
        assert!(matches!(s.poll_event(), Some(Event::Completed { id: i, result: Ok(Completion::Reply(p)) }) if i == id && p.len() == 2));

        let id2 = s.request(&req, Duration::from_secs(2), now).unwrap();
        s.handle_timeout(now + Duration::from_secs(2));
        assert!(matches!(s.poll_event(), Some(Event::Completed { id, result: Err(RequestError::Timeout) }) if id == id2));

        let id3 = s.request(&req, Duration::from_secs(2), now).unwrap();
        s.close(CloseReason::Transport("eof".into()));
        assert!(matches!(s.poll_event(), Some(Event::Completed { id, result: Err(RequestError::Closed(_)) }) if id == id3));
        assert!(matches!(s.poll_event(), Some(Event::Closed(_))));
        assert_eq!(s.request(&req, Duration::from_secs(1), now), Err(RequestError::NotConnected));
    }

    fn flow(i: u32) -> crate::openflow::stats::FlowStats {
        use crate::openflow::instruction::Instruction;
        crate::openflow::stats::FlowStats {
            table_id: 0,
            duration_sec: i,
            duration_nsec: 0,
            priority: 100,
            idle_timeout: 0,
            hard_timeout: 0,
            cookie: u64::from(i),
            packet_count: 0,
            byte_count: 0,
            flow_match: Default::default(),
            instructions: vec![Instruction::WriteMetadata { metadata: u64::from(i), metadata_mask: !0 }, Instruction::GotoTable { table_id: 1 }],
        }
    }

    fn stats_part(xid: u32, more: bool, flows: Vec<crate::openflow::stats::FlowStats>) -> Vec<u8> {
        enc(Message::StatsReply(StatsReply { xid, flags: StatsFlags(u16::from(more)), body: StatsReplyBody::Flow { flows } }))
    }

    /// A stats request in flight; returns (session, request id, its xid).
    fn dumping(config: Config, now: Instant) -> (Session, RequestId, u32) {
        let mut s = active_with(config, now);
        let req = enc(Message::BarrierRequest(Empty { xid: 0 })); // any message will do
        let id = s.request(&req, Duration::from_secs(30), now).unwrap();
        let xid = out_messages(&mut s)[0].xid();
        (s, id, xid)
    }

    fn active_with(config: Config, now: Instant) -> Session {
        let mut s = Session::new(config, now);
        s.take_output();
        s.receive(&ovs_hello(), now);
        let Message::FeaturesRequest(Empty { xid }) = out_messages(&mut s)[0] else { panic!() };
        s.receive(&features(xid, 0xabc), now);
        assert!(s.is_active());
        assert!(matches!(s.poll_event(), Some(Event::Connected(_))));
        s.take_output();
        s
    }

    #[test]
    fn default_caps_hold_a_dump_of_100000_flows() {
        let now = Instant::now();
        let (mut s, id, xid) = dumping(Config::default(), now);
        // Parts filled up to 64 KiB, as Open vSwitch does.
        let one = stats_part(xid, true, vec![flow(0)]).len() - 16;
        let per_part = (usize::from(u16::MAX) - 16) / one;
        let total = 100_000u32;
        let mut sent = 0u32;
        let mut bytes = 0;
        while sent < total {
            let n = (total - sent).min(per_part as u32);
            let part = stats_part(xid, sent + n < total, (sent..sent + n).map(flow).collect());
            bytes += part.len();
            s.receive(&part, now);
            sent += n;
        }
        assert!(bytes < MAX_REPLY_BYTES, "100,000 flows are {bytes} bytes");
        match s.poll_event() {
            Some(Event::Completed { id: got, result: Ok(Completion::Reply(parts)) }) => {
                assert_eq!(got, id);
                assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), bytes);
            }
            other => panic!("{other:?}"),
        }
        assert!(s.is_active());
    }

    #[test]
    fn a_reply_past_the_byte_cap_fails_its_request_at_once_and_frees_the_parts() {
        let now = Instant::now();
        let config = Config { max_reply_bytes: 1 << 20, ..Config::default() };
        let (mut s, id, xid) = dumping(config, now);
        let other = s.send_batch(&enc(Message::BarrierRequest(Empty { xid: 0 })), Duration::from_secs(30), now).unwrap();
        let part = stats_part(xid, true, (0..300).map(flow).collect());
        let mut fed = 0usize;
        // A switch that streams MORE-flagged parts without end.
        while s.is_active() {
            s.receive(&part, now);
            fed += part.len();
            assert!(s.gathered_reply_bytes() <= 1 << 20);
            assert!(fed < 2 << 20, "cap not enforced");
        }
        assert_eq!(s.gathered_reply_bytes(), 0);
        assert_eq!(s.pending_count(), 0);
        let mut failed = Vec::new();
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Completed { id, result: Err(e) } => failed.push((id, e.code())),
                Event::Closed(r) => {
                    assert!(matches!(r, CloseReason::ReplyTooLarge { max_bytes: 0x10_0000, bytes, .. } if bytes > 1 << 20), "{r:?}");
                    assert_eq!(r.code(), "OF_REPLY_TOO_LARGE");
                }
                ev => panic!("{ev:?}"),
            }
        }
        failed.sort_unstable();
        assert_eq!(failed, vec![(id, "OF_REPLY_TOO_LARGE"), (other, "OF_REPLY_TOO_LARGE")]);
        // Later parts with that xid are ignored: the session is closed.
        s.receive(&part, now);
        assert!(s.poll_event().is_none());
        assert_eq!(s.close_reason().map(CloseReason::code), Some("OF_REPLY_TOO_LARGE"));
    }

    #[test]
    fn a_reply_of_too_many_tiny_parts_fails_at_the_part_cap() {
        let now = Instant::now();
        let config = Config { max_reply_parts: 1000, ..Config::default() };
        let (mut s, id, xid) = dumping(config, now);
        let part = stats_part(xid, true, vec![]);
        assert_eq!(part.len(), 16);
        for _ in 0..1000 {
            s.receive(&part, now);
        }
        assert!(s.is_active());
        assert!(s.poll_event().is_none());
        s.receive(&part, now);
        assert!(s.is_closed());
        assert!(matches!(
            s.poll_event(),
            Some(Event::Completed { id: got, result: Err(RequestError::Closed(CloseReason::ReplyTooLarge { parts: 1001, bytes: 16016, .. })) }) if got == id
        ));
    }

    #[test]
    fn echo_flood_without_draining_closes_with_peer_not_reading() {
        let now = Instant::now();
        let mut s = active(now);
        let id = s.request(&enc(Message::BarrierRequest(Empty { xid: 0 })), Duration::from_secs(30), now).unwrap();
        let ping = enc(Message::EchoRequest(Echo { xid: 7, data: Bytes(vec![0x55; 60_000]) }));
        let mut max_queued = 0;
        let mut n = 0;
        // Many requests per read, and the output never taken (the peer reads nothing).
        let mut read = Vec::new();
        for _ in 0..4 {
            read.extend_from_slice(&ping);
        }
        while s.is_active() {
            s.receive(&read, now);
            max_queued = max_queued.max(s.queued_bytes());
            n += 4;
            assert!(n < 1000, "cap not enforced");
        }
        assert!(max_queued <= MAX_QUEUED_BYTES + ping.len(), "{max_queued}");
        assert!(max_queued > MAX_QUEUED_BYTES - ping.len());
        assert_eq!(s.queued_bytes(), 0, "the queue is released");
        assert!(s.take_output().is_none());
        assert!(matches!(
            s.poll_event(),
            Some(Event::Completed { id: got, result: Err(e @ RequestError::Closed(CloseReason::PeerNotReading { .. })) }) if got == id && e.code() == "PEER_NOT_READING"
        ));
        assert!(matches!(s.poll_event(), Some(Event::Closed(CloseReason::PeerNotReading { limit: MAX_QUEUED_BYTES, .. }))));
    }

    #[test]
    fn the_driver_backlog_counts_and_one_large_batch_still_goes_out() {
        let now = Instant::now();
        let mut s = active(now);
        let fm = enc(Message::BarrierRequest(Empty { xid: 0 }));
        // A batch larger than the cap, on an empty queue: sent.
        let big: Vec<u8> = fm.iter().copied().cycle().take(fm.len() * ((MAX_QUEUED_BYTES / fm.len()) + 10)).collect();
        let id = s.send_batch(&big, Duration::from_secs(30), now).unwrap();
        let out = s.take_output().unwrap();
        assert!(out.len() > MAX_QUEUED_BYTES);
        // The driver is writing it (a write in progress is not counted): echo
        // replies and requests still go out.
        s.set_unsent(0);
        s.receive(&enc(Message::EchoRequest(Echo { xid: 1, data: Bytes(vec![]) })), now);
        assert!(s.take_output().is_some());
        let small = s.request(&fm, Duration::from_secs(30), now).unwrap();
        // Then the driver reports more than the cap waiting behind it: the next
        // output closes the session; the command that found the queue full fails.
        s.set_unsent(MAX_QUEUED_BYTES + 1);
        let r = s.request(&fm, Duration::from_secs(30), now);
        assert!(matches!(&r, Err(e @ RequestError::Closed(CloseReason::PeerNotReading { .. })) if e.code() == PEER_NOT_READING), "{r:?}");
        let mut failed: Vec<RequestId> = std::iter::from_fn(|| s.poll_event())
            .filter_map(|e| match e {
                Event::Completed { id, result: Err(RequestError::Closed(CloseReason::PeerNotReading { .. })) } => Some(id),
                _ => None,
            })
            .collect();
        failed.sort_unstable();
        assert_eq!(failed, vec![id, small]);
    }

    #[test]
    fn malformed_batches_are_refused_before_anything_is_sent() {
        let now = Instant::now();
        let mut s = active(now);
        assert!(matches!(s.send_batch(&[2, 0, 0, 9, 0, 0, 0, 0], Duration::from_secs(1), now), Err(RequestError::Invalid(_))));
        assert!(s.take_output().is_none());
    }
}
