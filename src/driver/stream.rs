//! A byte stream (TCP or rustls TLS) handed to a protocol driver written elsewhere
//! (JS): reads are pushed to a callback, writes are queued to a writer task. This
//! is how sessions driven from JS use the rustls transport.
//!
//! Three tasks per stream: a reader, a writer, and a supervisor that owns both and
//! reports the end exactly once, as the last event. Both directions are bounded:
//! - the write queue is capped at [`MAX_QUEUED_BYTES`]: once it holds more than
//!   that, the next write cuts the connection with [`PEER_NOT_READING`] (a peer that
//!   reads nothing, e.g. one that floods us with echo requests we answer);
//! - the reader stops reading while the owner has more than
//!   [`MAX_READ_AHEAD_BYTES`] of received data it has not handled yet (each
//!   [`StreamEvent::Data`] carries a [`ReadAck`] to drop when done), so a peer that
//!   sends faster than the owner (JS) handles is slowed down by TCP instead of
//!   filling an event queue.
//!
//! [`StreamHandle::close`] flushes for at most [`CLOSE_FLUSH_TIMEOUT`]; after it,
//! or after any failure, both tasks are aborted, so when the `Closed` event arrives
//! the socket and the queue are gone.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::io::{connect, Stream, TlsTarget};
use super::{ChannelError, CLOSE_FLUSH_TIMEOUT, MAX_QUEUED_BYTES, PEER_NOT_READING};

/// Received data handed to the owner and not handled yet, at most: 1 MiB (16 reads).
/// Past it the reader waits for [`ReadAck`]s.
pub const MAX_READ_AHEAD_BYTES: usize = 1 << 20;

/// What the reader reports.
#[derive(Debug)]
pub enum StreamEvent {
    /// Bytes received. Drop the [`ReadAck`] once they are handled: the reader
    /// stops while more than [`MAX_READ_AHEAD_BYTES`] are unacknowledged.
    Data(Vec<u8>, ReadAck),
    /// The stream ended: `None` on a clean EOF or after `close`, else the error.
    /// Always the last event; the socket and the write queue are dropped by then.
    Closed(Option<ChannelError>),
}

const OPEN: u8 = 0;
const ENDING: u8 = 1;
const OVERFLOW: u8 = 2;
const CUT: u8 = 3;

/// State shared by the handle and the tasks.
struct Shared {
    /// Bytes queued to the writer and not yet being written.
    queued: AtomicUsize,
    /// The cap on `queued`.
    limit: usize,
    /// `OPEN`, `ENDING` (close requested), `OVERFLOW` (the peer does not read) or
    /// `CUT` (abort requested).
    state: AtomicU8,
    /// Wakes the supervisor when `state` changes.
    wake: Notify,
    /// Bytes delivered as `Data` whose `ReadAck` is not dropped yet.
    unacked: AtomicUsize,
    /// Wakes the reader when an ack comes.
    acked: Notify,
}

/// Acknowledges a [`StreamEvent::Data`] when dropped.
#[derive(Debug)]
pub struct ReadAck {
    shared: Arc<Shared>,
    len: usize,
}

impl Drop for ReadAck {
    fn drop(&mut self) {
        self.shared.unacked.fetch_sub(self.len, Ordering::AcqRel);
        self.shared.acked.notify_one();
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("queued", &self.queued).field("unacked", &self.unacked).finish_non_exhaustive()
    }
}

/// The owner's handle: write or close.
#[derive(Clone)]
pub struct StreamHandle {
    tx: mpsc::UnboundedSender<Option<Vec<u8>>>,
    shared: Arc<Shared>,
}

impl StreamHandle {
    /// Queues bytes; false when the stream is gone, or when this write found the
    /// queue over its cap (the stream is then being cut with `PEER_NOT_READING`).
    pub fn write(&self, bytes: Vec<u8>) -> bool {
        if self.shared.state.load(Ordering::Acquire) != OPEN {
            return false;
        }
        // Checked before adding: one write larger than the cap still goes out when
        // the queue has room; nothing goes behind a full one.
        let queued = self.shared.queued.load(Ordering::Acquire);
        if queued > self.shared.limit {
            if self.shared.state.compare_exchange(OPEN, OVERFLOW, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                self.shared.wake.notify_one();
            }
            return false;
        }
        let len = bytes.len();
        self.shared.queued.fetch_add(len, Ordering::AcqRel);
        if self.tx.send(Some(bytes)).is_err() {
            // The stream ended meanwhile.
            self.shared.queued.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Bytes queued and not yet being written.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Bytes received and delivered whose [`ReadAck`] is not dropped yet.
    pub fn unacked(&self) -> usize {
        self.shared.unacked.load(Ordering::Acquire)
    }

    /// Flushes what is queued and shuts the stream down, within
    /// [`CLOSE_FLUSH_TIMEOUT`]; then the `Closed` event comes.
    pub fn close(&self) {
        if self.shared.state.compare_exchange(OPEN, ENDING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            let _ = self.tx.send(None);
            self.shared.wake.notify_one();
        }
    }

    /// Drops the stream at once: nothing more is read or written, nothing queued is
    /// flushed. For a peer that broke the protocol (a message past its cap, no echo
    /// answer): reading it to its end, as `close` does, would keep taking in
    /// whatever it still sends. Then the `Closed(None)` event comes.
    pub fn abort(&self) {
        if self.shared.state.swap(CUT, Ordering::AcqRel) != CUT {
            self.shared.wake.notify_one();
        }
    }
}

/// Connects and spawns the reader, writer and supervisor tasks.
pub async fn open_stream(
    host: &str,
    port: u16,
    tls: Option<&TlsTarget>,
    timeout: std::time::Duration,
    on_event: impl Fn(StreamEvent) + Send + Sync + 'static,
) -> Result<StreamHandle, ChannelError> {
    let stream = connect(host, port, tls, timeout).await?;
    Ok(spawn_stream(stream, MAX_QUEUED_BYTES, on_event))
}

/// Runs an established stream with a write cap of `limit` bytes.
pub fn spawn_stream(
    stream: Box<dyn Stream>,
    limit: usize,
    on_event: impl Fn(StreamEvent) + Send + Sync + 'static,
) -> StreamHandle {
    let (reader, writer) = tokio::io::split(stream);
    let (tx, rx) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        limit,
        state: AtomicU8::new(OPEN),
        wake: Notify::new(),
        unacked: AtomicUsize::new(0),
        acked: Notify::new(),
    });
    let on_event = Arc::new(on_event);
    let reader = tokio::spawn(read_loop(reader, shared.clone(), on_event.clone()));
    let writer = tokio::spawn(write_loop(writer, rx, shared.clone()));
    tokio::spawn(supervise(reader, writer, shared.clone(), on_event));
    StreamHandle { tx, shared }
}

async fn read_loop(
    mut reader: ReadHalf<Box<dyn Stream>>,
    shared: Arc<Shared>,
    on_event: Arc<impl Fn(StreamEvent)>,
) -> Option<ChannelError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // The owner is behind: let TCP hold the peer back. (An ack between the
        // check and the wait leaves a permit, so it is not missed.)
        while shared.unacked.load(Ordering::Acquire) >= MAX_READ_AHEAD_BYTES {
            shared.acked.notified().await;
        }
        match reader.read(&mut buf).await {
            Ok(0) => return None,
            Ok(n) => {
                shared.unacked.fetch_add(n, Ordering::AcqRel);
                let ack = ReadAck { shared: shared.clone(), len: n };
                on_event(StreamEvent::Data(buf.get(..n).unwrap_or_default().to_vec(), ack));
            }
            Err(e) => return Some(io_error("connection lost", &e)),
        }
    }
}

/// Writes until the queue ends (`None`, or every handle dropped), then flushes and
/// shuts down.
async fn write_loop(
    mut writer: WriteHalf<Box<dyn Stream>>,
    mut rx: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    while let Some(Some(bytes)) = rx.recv().await {
        shared.queued.fetch_sub(bytes.len(), Ordering::AcqRel);
        writer.write_all(&bytes).await?;
        if rx.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await?;
    writer.shutdown().await
}

fn io_error(what: &str, e: &std::io::Error) -> ChannelError {
    match crate::tls::classify_io(e) {
        Some(t) => ChannelError::new(t.code(), t.to_string()),
        None => ChannelError::new("CHANNEL_CLOSED", format!("{what}: {e}")),
    }
}

/// Waits for the end of the stream, whatever it is, then aborts both tasks, waits
/// until they are gone (they own the socket halves and the queue) and reports it.
async fn supervise(
    mut reader: JoinHandle<Option<ChannelError>>,
    mut writer: JoinHandle<std::io::Result<()>>,
    shared: Arc<Shared>,
    on_event: Arc<impl Fn(StreamEvent)>,
) {
    let (mut reader_done, mut writer_done) = (false, false);
    // Set once a graceful end starts: past it, the stream is cut.
    let mut deadline: Option<Instant> = None;
    let result = loop {
        let until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = &mut reader => {
                reader_done = true;
                break r.unwrap_or_else(|_| Some(ChannelError::new("CHANNEL_CLOSED", "the reader stopped")));
            }
            w = &mut writer, if !writer_done => {
                writer_done = true;
                match w {
                    // Flushed and shut down (close, or every handle dropped): read to
                    // the peer's end, within the deadline.
                    Ok(Ok(())) => { deadline.get_or_insert_with(|| Instant::now() + CLOSE_FLUSH_TIMEOUT); }
                    Ok(Err(e)) => break Some(io_error("connection lost while writing", &e)),
                    Err(_) => break Some(ChannelError::new("CHANNEL_CLOSED", "the writer stopped")),
                }
            }
            _ = shared.wake.notified() => match shared.state.load(Ordering::Acquire) {
                OVERFLOW => {
                    let queued = shared.queued.load(Ordering::Acquire);
                    break Some(ChannelError::new(PEER_NOT_READING, format!(
                        "the peer does not read what we send: {queued} bytes waiting, over the {}-byte cap: connection closed",
                        shared.limit
                    )));
                }
                ENDING => { deadline.get_or_insert_with(|| Instant::now() + CLOSE_FLUSH_TIMEOUT); }
                CUT => break None,
                _ => {}
            },
            _ = until => break None,
        }
    };
    // Stop whatever still runs, and wait until it is dropped.
    if !reader_done {
        reader.abort();
        let _ = reader.await;
    }
    if !writer_done {
        writer.abort();
        let _ = writer.await;
    }
    // The queue went with the writer.
    shared.queued.store(0, Ordering::Release);
    // Nothing can be written any more (an abort keeps its CUT).
    let _ = shared.state.compare_exchange(OPEN, ENDING, Ordering::AcqRel, Ordering::Acquire);
    on_event(StreamEvent::Closed(result));
}
