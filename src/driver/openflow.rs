//! One tokio task per OpenFlow channel: owns the stream and a `session::openflow`
//! state machine, serves commands from the handle, forwards events, and reconnects
//! with jittered backoff after a loss.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::io::{connect, Stream, TlsTarget};
use super::{ChannelError, CLOSE_FLUSH_TIMEOUT};
use crate::session::openflow::{CloseReason, Completion, Config, Connected, Event, RequestError, RequestId, Session};
use crate::session::reconnect::Backoff;

/// Everything a channel needs to connect.
#[derive(Clone)]
pub struct ChannelOptions {
    /// Host name or address.
    pub host: String,
    /// OpenFlow port (6653 on XCP-ng).
    pub port: u16,
    /// TLS, or plain TCP when `None`.
    pub tls: Option<TlsTarget>,
    /// Session settings (probes, expected datapath id).
    pub session: Config,
    /// TCP and TLS deadline.
    pub connect_timeout: Duration,
    /// Deadline of each request.
    pub request_timeout: Duration,
    /// Reconnect after a loss, or not.
    pub reconnect: Option<Backoff>,
}

/// What the channel tells its owner.
#[derive(Debug)]
pub enum ChannelEvent {
    /// Connected again after a loss.
    Reconnected(Connected),
    /// The connection was lost (pending requests have failed); reconnecting if enabled.
    Disconnected(ChannelError),
    /// A message the switch sent on its own (raw bytes).
    Async(Vec<u8>),
    /// Closed for good (by `close`, or a loss with reconnect disabled).
    Closed,
}

type Reply = oneshot::Sender<Result<Completion, ChannelError>>;

enum Command {
    Request { bytes: Vec<u8>, timeout: Option<Duration>, reply: Reply },
    Batch { bytes: Vec<u8>, timeout: Option<Duration>, reply: Reply },
    Close { done: oneshot::Sender<()> },
}

/// The owner's side: cheap to clone, every call is a message to the task.
#[derive(Clone)]
pub struct ChannelHandle {
    tx: mpsc::UnboundedSender<Command>,
}

fn closed() -> ChannelError {
    ChannelError::new("CHANNEL_CLOSED", "the channel is closed")
}

impl ChannelHandle {
    /// Sends one encoded message and resolves with its reply (all parts of a
    /// multipart reply).
    pub async fn request(&self, bytes: Vec<u8>, timeout: Option<Duration>) -> Result<Vec<Vec<u8>>, ChannelError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Request { bytes, timeout, reply }).map_err(|_| closed())?;
        match rx.await.map_err(|_| closed())?? {
            Completion::Reply(parts) => Ok(parts),
            Completion::Batch { .. } => Err(ChannelError::new("ERR_INTERNAL", "batch completion for a request")),
        }
    }

    /// Sends encoded messages followed by a barrier; resolves when the barrier
    /// reply arrives, with the switch's refusals.
    pub async fn send_batch(&self, bytes: Vec<u8>, timeout: Option<Duration>) -> Result<Completion, ChannelError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Batch { bytes, timeout, reply }).map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Closes gracefully; idempotent. What is queued is flushed for at most
    /// [`CLOSE_FLUSH_TIMEOUT`], then the writer is aborted: when this returns, the
    /// socket and the queues are dropped.
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Command::Close { done }).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Connects, and on success spawns the task that owns the connection. Events go
/// to `on_event` from the task (never on the caller's thread).
pub async fn open(
    options: ChannelOptions,
    on_event: impl Fn(ChannelEvent) + Send + Sync + 'static,
) -> Result<(ChannelHandle, Connected), ChannelError> {
    let (stream, session, connected) = establish(&options).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(options, stream, session, rx, on_event));
    Ok((ChannelHandle { tx }, connected))
}

/// TCP + TLS + OpenFlow handshake.
async fn establish(options: &ChannelOptions) -> Result<(Box<dyn Stream>, Session, Connected), ChannelError> {
    let mut stream = connect(&options.host, options.port, options.tls.as_ref(), options.connect_timeout).await?;
    let mut session = Session::new(options.session.clone(), Instant::now());
    // Writes are bounded too: a switch that reads nothing must not hang connect().
    let deadline = Instant::now() + options.session.handshake_timeout;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if let Some(out) = session.take_output() {
            write_by(&mut stream, &out, deadline, "writing the handshake").await?;
        }
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Connected(c) => {
                    // Push the SET_CONFIG queued with the transition before handing over.
                    if let Some(out) = session.take_output() {
                        write_by(&mut stream, &out, deadline, "configuring the switch").await?;
                    }
                    return Ok((stream, session, c));
                }
                Event::Closed(reason) => return Err(ChannelError::new(reason.code(), reason.to_string())),
                _ => {}
            }
        }
        let deadline = session.poll_timeout().unwrap_or_else(|| Instant::now() + options.connect_timeout);
        tokio::select! {
            n = stream.read(&mut buf) => match n {
                Ok(0) => return Err(ChannelError::new("OF_CLOSED_BEFORE_HELLO", format!(
                    "{}:{} closed the connection before the switch's OpenFlow HELLO (a TLS port reached without tls? a bridge whose controller is not listening here?)",
                    options.host, options.port))),
                Ok(n) => session.receive(buf.get(..n).unwrap_or_default(), Instant::now()),
                Err(e) => return Err(transport("reading the handshake", &e)),
            },
            _ = tokio::time::sleep_until(deadline.into()) => session.handle_timeout(Instant::now()),
        }
    }
}

/// Writes and flushes `bytes` before `deadline` (the handshake's).
async fn write_by(stream: &mut Box<dyn Stream>, bytes: &[u8], deadline: Instant, what: &str) -> Result<(), ChannelError> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match tokio::time::timeout_at(deadline.into(), write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(transport(what, &e)),
        Err(_) => Err(ChannelError::new(
            CloseReason::HandshakeTimeout.code(),
            format!("the switch did not read our handshake in time ({what})"),
        )),
    }
}

fn transport(what: &str, e: &std::io::Error) -> ChannelError {
    // With TLS 1.3 the host checks our certificate after the handshake looks done
    // to us: its refusal arrives as an alert on the first read.
    if let Some(t) = crate::tls::classify_io(e) {
        return ChannelError::new(t.code(), format!("TLS failure while {what}: {t}"));
    }
    ChannelError::new("CHANNEL_CLOSED", format!("connection lost while {what}: {e}"))
}

fn to_error(e: RequestError) -> ChannelError {
    let code = e.code();
    match e {
        RequestError::Switch(bytes) => {
            let name = match crate::openflow::Message::decode(&bytes) {
                Ok(crate::openflow::Message::Error(m)) => m.ovs_name(),
                _ => "an error".into(),
            };
            ChannelError { code, message: format!("the switch answered {name}"), switch_error: Some(bytes) }
        }
        RequestError::Timeout => ChannelError::new(code, "no reply from the switch in time"),
        RequestError::Closed(r) => ChannelError::new(code, r.to_string()),
        RequestError::NotConnected => ChannelError::new(code, "the channel is not connected (reconnecting)"),
        RequestError::Invalid(s) => ChannelError::new(code, s),
    }
}

/// What ended one connection.
enum Outcome {
    /// `close()`: stop for good.
    Closed(oneshot::Sender<()>),
    /// The handle was dropped.
    Abandoned,
    /// Lost; maybe reconnect.
    Lost(ChannelError),
}

async fn run(
    options: ChannelOptions,
    stream: Box<dyn Stream>,
    mut session: Session,
    mut rx: mpsc::UnboundedReceiver<Command>,
    on_event: impl Fn(ChannelEvent) + Send + Sync + 'static,
) {
    let mut waiting: HashMap<RequestId, Reply> = HashMap::new();
    let mut stream = Some(stream);
    loop {
        let Some(current) = stream.take() else { return };
        let outcome = serve(&options, current, &mut session, &mut rx, &mut waiting, &on_event).await;
        let lost = match outcome {
            Outcome::Closed(done) => {
                // The socket and the writer are gone already (serve); the session's
                // buffers go before the caller hears that the channel is closed.
                drop(session);
                on_event(ChannelEvent::Closed);
                let _ = done.send(());
                return;
            }
            Outcome::Abandoned => return,
            Outcome::Lost(e) => e,
        };
        session.close(CloseReason::Transport(lost.message.clone()));
        drain_events(&mut session, &mut waiting, &on_event);
        for (_, reply) in waiting.drain() {
            let _ = reply.send(Err(lost.clone()));
        }
        // Commands queued before the loss was seen were made on a connected channel:
        // they end with the loss, like those already sent, not as "not connected".
        let mut closing = None;
        while let Ok(cmd) = rx.try_recv() {
            match cmd {
                Command::Close { done } => {
                    closing = Some(done);
                    break;
                }
                Command::Request { reply, .. } | Command::Batch { reply, .. } => {
                    let _ = reply.send(Err(lost.clone()));
                }
            }
        }
        on_event(ChannelEvent::Disconnected(lost));
        if let Some(done) = closing {
            on_event(ChannelEvent::Closed);
            let _ = done.send(());
            return;
        }
        let Some(backoff) = options.reconnect else {
            on_event(ChannelEvent::Closed);
            return;
        };
        // Reconnect until it works or the owner closes; commands meanwhile fail fast.
        let mut attempt = 0u32;
        loop {
            let delay = backoff.delay(attempt, jitter());
            attempt = attempt.saturating_add(1);
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            let mut stop = None;
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    cmd = rx.recv() => match cmd {
                        None => return,
                        Some(Command::Close { done }) => { stop = Some(done); break }
                        Some(Command::Request { reply, .. }) | Some(Command::Batch { reply, .. }) => {
                            let _ = reply.send(Err(to_error(RequestError::NotConnected)));
                        }
                    },
                }
            }
            if let Some(done) = stop {
                on_event(ChannelEvent::Closed);
                let _ = done.send(());
                return;
            }
            match establish(&options).await {
                Ok((s, sess, connected)) => {
                    stream = Some(s);
                    session = sess;
                    on_event(ChannelEvent::Reconnected(connected));
                    break;
                }
                Err(_) => continue,
            }
        }
    }
}

fn jitter() -> f64 {
    // Not cryptographic: spreads reconnects of many channels.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

fn drain_events(session: &mut Session, waiting: &mut HashMap<RequestId, Reply>, on_event: &impl Fn(ChannelEvent)) {
    while let Some(ev) = session.poll_event() {
        match ev {
            Event::Completed { id, result } => {
                if let Some(reply) = waiting.remove(&id) {
                    let _ = reply.send(result.map_err(to_error));
                }
            }
            Event::Async(bytes) => on_event(ChannelEvent::Async(bytes)),
            Event::Connected(_) | Event::Closed(_) => {}
        }
    }
}

/// Writes what the session produces, in its own task so that a slow peer never
/// stops us from reading (a switch blocked on its own writes would deadlock us).
/// `unsent` counts the bytes queued to it and not yet being written; the session
/// holds them against its cap ([`crate::session::MAX_QUEUED_BYTES`]).
async fn write_loop(
    mut writer: tokio::io::WriteHalf<Box<dyn Stream>>,
    mut rx: mpsc::UnboundedReceiver<bytes::BytesMut>,
    failed: oneshot::Sender<std::io::Error>,
    unsent: Arc<AtomicUsize>,
) {
    while let Some(buf) = rx.recv().await {
        unsent.fetch_sub(buf.len(), Ordering::Relaxed);
        let r = async {
            writer.write_all(&buf).await?;
            if rx.is_empty() {
                writer.flush().await?;
            }
            Ok::<(), std::io::Error>(())
        }
        .await;
        if let Err(e) = r {
            let _ = failed.send(e);
            return;
        }
    }
    // The sender is gone: the connection is being closed gracefully.
    let _ = writer.flush().await;
    let _ = writer.shutdown().await;
}

async fn serve(
    options: &ChannelOptions,
    stream: Box<dyn Stream>,
    session: &mut Session,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    waiting: &mut HashMap<RequestId, Reply>,
    on_event: &impl Fn(ChannelEvent),
) -> Outcome {
    let (mut reader, writer) = tokio::io::split(stream);
    let (wtx, wrx) = mpsc::unbounded_channel();
    let (failed_tx, mut failed) = oneshot::channel();
    let unsent = Arc::new(AtomicUsize::new(0));
    let mut writer_task = tokio::spawn(write_loop(writer, wrx, failed_tx, unsent.clone()));
    let mut rbuf = vec![0u8; 256 * 1024];
    let outcome = loop {
        if let Some(out) = session.take_output() {
            unsent.fetch_add(out.len(), Ordering::Relaxed);
            let _ = wtx.send(out);
        }
        drain_events(session, waiting, on_event);
        if session.is_closed() {
            // The session ended itself: probe timeout, protocol error, a reply past
            // its cap, a peer that does not read. Its reason is the loss's code.
            let e = match session.close_reason() {
                Some(r) => ChannelError::new(r.code(), r.to_string()),
                None => ChannelError::new("CHANNEL_CLOSED", "the session ended"),
            };
            break Outcome::Lost(e);
        }
        let deadline = session.poll_timeout().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            n = reader.read(&mut rbuf) => match n {
                Ok(0) => break Outcome::Lost(ChannelError::new("CHANNEL_CLOSED", format!("{}:{} closed the connection", options.host, options.port))),
                Ok(n) => {
                    // Every input may make the session add output (here: echo
                    // replies); it holds the writer's backlog against its cap.
                    session.set_unsent(unsent.load(Ordering::Relaxed));
                    session.receive(rbuf.get(..n).unwrap_or_default(), Instant::now());
                }
                Err(e) => break Outcome::Lost(transport("reading", &e)),
            },
            e = &mut failed => {
                let e = e.unwrap_or_else(|_| std::io::Error::other("writer stopped"));
                break Outcome::Lost(transport("writing", &e));
            }
            cmd = rx.recv() => match cmd {
                None => break Outcome::Abandoned,
                Some(Command::Close { done }) => {
                    session.close(CloseReason::ByUser);
                    drain_events(session, waiting, on_event);
                    break Outcome::Closed(done);
                }
                Some(Command::Request { bytes, timeout, reply }) => {
                    session.set_unsent(unsent.load(Ordering::Relaxed));
                    match session.request(&bytes, timeout.unwrap_or(options.request_timeout), Instant::now()) {
                        Ok(id) => { waiting.insert(id, reply); }
                        Err(e) => { let _ = reply.send(Err(to_error(e))); }
                    }
                }
                Some(Command::Batch { bytes, timeout, reply }) => {
                    session.set_unsent(unsent.load(Ordering::Relaxed));
                    match session.send_batch(&bytes, timeout.unwrap_or(options.request_timeout), Instant::now()) {
                        Ok(id) => { waiting.insert(id, reply); }
                        Err(e) => { let _ = reply.send(Err(to_error(e))); }
                    }
                }
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                session.set_unsent(unsent.load(Ordering::Relaxed));
                session.handle_timeout(Instant::now());
            }
        }
    };
    // Graceful close: the writer drains what is queued, then shuts down, within
    // CLOSE_FLUSH_TIMEOUT. On a loss, or past the deadline, it is aborted; either
    // way it is awaited, so that when this returns the write half, the writer's
    // queue and (with the read half, dropped here) the socket are gone.
    drop(wtx);
    let flushed = match outcome {
        Outcome::Closed(_) => tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, &mut writer_task).await.is_ok(),
        _ => false,
    };
    if !flushed {
        writer_task.abort();
        let _ = writer_task.await;
    }
    drop(reader);
    outcome
}
