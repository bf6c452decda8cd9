//! Memory caps of the connection drivers against fake peers on 127.0.0.1 (no Open
//! vSwitch): a switch that streams a multipart reply without end, peers that flood
//! echo requests and never read, a peer that never reads while we close, and an
//! ovsdb-server that sends a JSON value that never closes.
//!
//! Each test asserts the error code only the cap produces (request timeouts are
//! set far beyond the tests' own deadlines) and, where the driver exposes them,
//! the buffered byte counts; wall-clock bounds are generous upper bounds only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use xo_sdn_native::driver::openflow::{open, ChannelEvent, ChannelHandle, ChannelOptions};
use xo_sdn_native::driver::stream::{open_stream, StreamEvent, StreamHandle, MAX_READ_AHEAD_BYTES};
use xo_sdn_native::driver::{MAX_QUEUED_BYTES, PEER_NOT_READING};
use xo_sdn_native::openflow::switch::FeaturesReply;
use xo_sdn_native::openflow::{Message, MsgType};
use xo_sdn_native::ovsdb::framing::MAX_MESSAGE_BYTES;
use xo_sdn_native::ovsdb::{CloseReason as OvsdbCloseReason, Config as OvsdbConfig, Event as OvsdbEvent, OvsdbSession};
use xo_sdn_native::session::openflow::{Config, MAX_REPLY_BYTES};

/// Far beyond any deadline below: a request that fails did not time out.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Generous bound for "at once" (the caps fire in well under a second on loopback).
const PROMPTLY: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// A fake OpenFlow 1.1 switch

fn of_message(msg_type: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + body.len()).expect("message fits in 64 KiB");
    let mut m = vec![2, msg_type];
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Reads one whole OpenFlow message: (type, xid, length).
async fn read_message(s: &mut TcpStream) -> std::io::Result<(u8, u32, usize)> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).await?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut body = vec![0u8; len.saturating_sub(8)];
    s.read_exact(&mut body).await?;
    Ok((h[1], u32::from_be_bytes([h[4], h[5], h[6], h[7]]), len))
}

/// Bytes read from `s` until its end (or 30 s without any).
async fn read_to_end_counting(s: &mut TcpStream) -> usize {
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        total += n;
    }
    total
}

/// Accepts one connection and answers the controller's handshake.
async fn switch_handshake(listener: &TcpListener) -> TcpStream {
    let (mut s, _) = listener.accept().await.expect("accept");
    s.write_all(&of_message(MsgType::HELLO.0, 1, &[])).await.expect("hello");
    loop {
        let (t, xid, _) = read_message(&mut s).await.expect("handshake");
        if t == MsgType::FEATURES_REQUEST.0 {
            let reply = Message::FeaturesReply(FeaturesReply {
                xid,
                datapath_id: 0xabc,
                n_buffers: 0,
                n_tables: 254,
                capabilities: Default::default(),
                reserved: 0,
                ports: vec![],
            });
            s.write_all(&reply.to_bytes().expect("encode")).await.expect("features");
            return s;
        }
    }
}

type Events = Arc<Mutex<Vec<(String, Option<&'static str>)>>>;

async fn channel(port: u16) -> (ChannelHandle, Events, mpsc::UnboundedReceiver<()>) {
    let events: Events = Arc::default();
    let (closed_tx, closed_rx) = mpsc::unbounded_channel();
    let sink = events.clone();
    let options = ChannelOptions {
        host: "127.0.0.1".into(),
        port,
        tls: None,
        // Our own probe out of the way: only the caps may end the connection.
        session: Config { echo_interval: Duration::from_secs(600), ..Config::default() },
        connect_timeout: Duration::from_secs(10),
        request_timeout: REQUEST_TIMEOUT,
        reconnect: None,
    };
    let (handle, connected) = open(options, move |ev| {
        let entry = match ev {
            ChannelEvent::Disconnected(e) => ("disconnected".to_owned(), Some(e.code)),
            ChannelEvent::Closed => ("closed".to_owned(), None),
            ChannelEvent::Reconnected(_) => ("reconnected".to_owned(), None),
            ChannelEvent::Async(_) => return,
        };
        let closed = entry.0 == "closed";
        sink.lock().unwrap().push(entry);
        if closed {
            let _ = closed_tx.send(());
        }
    })
    .await
    .expect("connect to the fake switch");
    assert_eq!(connected.datapath_id, 0xabc);
    (handle, events, closed_rx)
}

fn flow_stats_request() -> Vec<u8> {
    // ofp_stats_request (type OFPST_FLOW) + ofp_flow_stats_request: the session only
    // reads the header, the fake switch nothing at all.
    let mut body = vec![0u8, 1, 0, 0, 0, 0, 0, 0];
    body.resize(8 + 120, 0);
    of_message(MsgType::STATS_REQUEST.0, 0, &body)
}

fn barrier() -> Vec<u8> {
    of_message(MsgType::BARRIER_REQUEST.0, 0, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openflow_a_stats_reply_streamed_without_end_fails_with_the_cap_code() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent_by_peer = sent.clone();
    let peer = tokio::spawn(async move {
        let mut s = switch_handshake(&listener).await;
        let xid = loop {
            let (t, xid, _) = read_message(&mut s).await.expect("request");
            if t == MsgType::STATS_REQUEST.0 {
                break xid;
            }
        };
        // OFPST_FLOW parts of 64 KiB with OFPSF_REPLY_MORE, forever.
        let mut body = vec![0u8, 1, 0, 1, 0, 0, 0, 0];
        body.resize(usize::from(u16::MAX) - 8, 0);
        let part = of_message(MsgType::STATS_REPLY.0, xid, &body);
        while s.write_all(&part).await.is_ok() {
            sent_by_peer.fetch_add(part.len(), std::sync::atomic::Ordering::Relaxed);
        }
    });
    let (handle, events, mut closed) = channel(port).await;
    let t0 = Instant::now();
    let err = handle.request(flow_stats_request(), None).await.expect_err("a reply without end cannot succeed");
    assert_eq!(err.code, "OF_REPLY_TOO_LARGE", "{err:?}");
    assert!(t0.elapsed() < PROMPTLY, "took {:?}", t0.elapsed());
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent >= MAX_REPLY_BYTES, "failed after only {sent} bytes");
    tokio::time::timeout(PROMPTLY, closed.recv()).await.expect("closed event");
    assert_eq!(
        *events.lock().unwrap(),
        vec![("disconnected".to_owned(), Some("OF_REPLY_TOO_LARGE")), ("closed".to_owned(), None)]
    );
    // The connection is gone: the switch's writes fail and it stops.
    tokio::time::timeout(PROMPTLY, peer).await.expect("the switch saw the connection close").unwrap();
    tokio::time::timeout(PROMPTLY, handle.close()).await.expect("close() returns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openflow_a_peer_flooding_echo_requests_without_reading_is_cut_with_peer_not_reading() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = tokio::spawn(async move {
        let mut s = switch_handshake(&listener).await;
        // Once the controller's request is in, never reads again.
        while read_message(&mut s).await.expect("request").0 != MsgType::BARRIER_REQUEST.0 {}
        let ping = of_message(MsgType::ECHO_REQUEST.0, 7, &vec![0x55; 60_000]);
        let mut flood = Vec::new();
        for _ in 0..16 {
            flood.extend_from_slice(&ping);
        }
        let mut sent = 0usize;
        while s.write_all(&flood).await.is_ok() {
            sent += flood.len();
        }
        sent
    });
    let (handle, events, mut closed) = channel(port).await;
    let t0 = Instant::now();
    let err = tokio::time::timeout(PROMPTLY, handle.request(barrier(), None))
        .await
        .expect("the flood must end the connection")
        .expect_err("the switch never answers");
    assert_eq!(err.code, PEER_NOT_READING, "{err:?}");
    assert!(t0.elapsed() < PROMPTLY);
    tokio::time::timeout(PROMPTLY, closed.recv()).await.expect("closed event");
    assert_eq!(*events.lock().unwrap(), vec![("disconnected".to_owned(), Some(PEER_NOT_READING)), ("closed".to_owned(), None)]);
    let t1 = Instant::now();
    tokio::time::timeout(PROMPTLY, handle.close()).await.expect("close() returns");
    assert!(t1.elapsed() < PROMPTLY);
    // The socket is really dropped: the flooding peer's writes fail.
    let sent = tokio::time::timeout(PROMPTLY, peer).await.expect("the peer saw the connection close").unwrap();
    assert!(sent > MAX_QUEUED_BYTES, "cut after only {sent} bytes of echo requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openflow_close_with_a_peer_that_reads_nothing_aborts_the_writer_promptly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let peer = tokio::spawn(async move {
        let mut s = switch_handshake(&listener).await;
        // Reads nothing until the controller has closed, then all there is.
        let _ = go_rx.await;
        read_to_end_counting(&mut s).await
    });
    let (handle, events, _closed) = channel(port).await;
    // A 64 MiB batch of barriers: far more than the socket buffers hold.
    let one = barrier();
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * (8 << 20)).collect();
    let batch_len = batch.len();
    // The batch is queued (its first poll sends the command) before close().
    let pending = handle.send_batch(batch, None);
    tokio::pin!(pending);
    tokio::select! {
        r = &mut pending => panic!("a peer that reads nothing cannot answer: {r:?}"),
        _ = tokio::time::sleep(Duration::from_millis(300)) => {}
    }
    let t0 = Instant::now();
    tokio::time::timeout(PROMPTLY, handle.close()).await.expect("close() returns");
    assert!(t0.elapsed() < PROMPTLY, "{:?}", t0.elapsed());
    assert_eq!(pending.await.expect_err("batch").code, "CHANNEL_CLOSED");
    assert_eq!(*events.lock().unwrap(), vec![("closed".to_owned(), None)]);
    // The writer was aborted, not left running: the peer gets what the kernel
    // buffers held, then the end, never the whole batch.
    go_tx.send(()).unwrap();
    let total = tokio::time::timeout(Duration::from_secs(60), peer).await.expect("the peer saw the end").unwrap();
    assert!(total < batch_len, "the whole batch ({total} bytes) was written after close()");
}

// ---------------------------------------------------------------------------------------
// OVSDB over the native byte stream, driven as js/ovsdb-client.js does

async fn ovsdb_stream(port: u16) -> (StreamHandle, mpsc::UnboundedReceiver<StreamEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = open_stream("127.0.0.1", port, None, Duration::from_secs(10), move |ev| {
        let _ = tx.send(ev);
    })
    .await
    .expect("connect to the fake ovsdb-server");
    (handle, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovsdb_an_unclosed_huge_json_value_fails_at_the_frame_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = s.read(&mut buf).await; // the list_dbs request
        // A 100 MiB string that never ends.
        let _ = s.write_all(b"{\"id\":1,\"result\":[\"").await;
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // Keep the connection open: only the cap may end it.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let (handle, mut rx) = ovsdb_stream(port).await;
    let mut session = OvsdbSession::new(OvsdbConfig { echo_interval: Duration::ZERO, request_timeout: REQUEST_TIMEOUT, ..OvsdbConfig::default() }, Instant::now());
    let id = session.list_dbs(Instant::now()).unwrap();
    assert!(handle.write(session.take_output().unwrap()));
    let t0 = Instant::now();
    let mut max_buffered = 0;
    let mut received = 0usize;
    while !session.is_closed() {
        match tokio::time::timeout(PROMPTLY, rx.recv()).await.expect("the cap must fire") {
            Some(StreamEvent::Data(b, _ack)) => {
                assert!(handle.unacked() <= MAX_READ_AHEAD_BYTES + (64 << 10));
                received += b.len();
                session.receive(&b, Instant::now());
                max_buffered = max_buffered.max(session.buffered_input());
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(t0.elapsed() < PROMPTLY);
    assert!(max_buffered <= MAX_MESSAGE_BYTES, "{max_buffered} bytes buffered");
    assert!(received > MAX_MESSAGE_BYTES);
    assert_eq!(session.buffered_input(), 0, "the partial value is freed");
    let mut events = std::iter::from_fn(|| session.poll_event());
    match events.next() {
        Some(OvsdbEvent::Completed { id: got, result: Err(e) }) => {
            assert_eq!(got, id);
            assert_eq!(e.code(), "OVSDB_MESSAGE_TOO_LARGE");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events.next(), Some(OvsdbEvent::Closed(OvsdbCloseReason::MessageTooLarge { limit: MAX_MESSAGE_BYTES })));
    // The client then cuts the stream, as ovsdb-client.js does after a session
    // error: nothing more of the peer is read (a graceful close would read it for
    // up to a second, tens of MiB here), only what was already delivered.
    handle.abort();
    let mut after_abort = 0usize;
    let end = tokio::time::timeout(PROMPTLY, async {
        loop {
            match rx.recv().await {
                Some(StreamEvent::Closed(e)) => return e,
                Some(StreamEvent::Data(b, _)) => after_abort += b.len(),
                None => panic!("no Closed event"),
            }
        }
    })
    .await
    .expect("the stream ends");
    assert!(end.is_none(), "{end:?}");
    assert!(after_abort < 8 << 20, "{after_abort} bytes read after the abort");
    assert!(!handle.write(b"{}".to_vec()));
    // The socket is gone: the peer's writes fail instead of waiting for its 60 s.
    tokio::time::timeout(PROMPTLY, peer).await.expect("the peer saw the connection end").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovsdb_a_server_flooding_echo_requests_without_reading_is_cut_with_peer_not_reading() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let ping = format!("{{\"method\":\"echo\",\"params\":[\"{}\"],\"id\":\"echo\"}}", "x".repeat(60_000)).repeat(16);
        let mut sent = 0usize;
        while s.write_all(ping.as_bytes()).await.is_ok() {
            sent += ping.len();
        }
        sent
    });
    let (handle, mut rx) = ovsdb_stream(port).await;
    let mut session = OvsdbSession::new(OvsdbConfig { echo_interval: Duration::ZERO, ..OvsdbConfig::default() }, Instant::now());
    let t0 = Instant::now();
    let mut max_queued = 0;
    let mut max_write = 0;
    let mut max_unacked = 0;
    let end = loop {
        match tokio::time::timeout(PROMPTLY, rx.recv()).await.expect("the flood must end the stream") {
            Some(StreamEvent::Data(b, _ack)) => {
                max_unacked = max_unacked.max(handle.unacked());
                session.receive(&b, Instant::now());
                if let Some(out) = session.take_output() {
                    max_write = max_write.max(out.len());
                    handle.write(out);
                }
                max_queued = max_queued.max(handle.queued());
            }
            Some(StreamEvent::Closed(e)) => break e,
            None => panic!("no Closed event"),
        }
    };
    assert!(t0.elapsed() < PROMPTLY);
    let end = end.expect("an error");
    assert_eq!(end.code, PEER_NOT_READING, "{end:?}");
    assert!(max_queued <= MAX_QUEUED_BYTES + max_write, "{max_queued} bytes queued");
    // The reader never ran more than its read-ahead in front of us.
    assert!(max_unacked <= MAX_READ_AHEAD_BYTES + (64 << 10), "{max_unacked} bytes read ahead");
    assert_eq!(handle.queued(), 0, "the queue is released");
    assert!(!handle.write(b"{}".to_vec()));
    let sent = tokio::time::timeout(PROMPTLY, peer).await.expect("the peer saw the connection close").unwrap();
    assert!(sent > MAX_QUEUED_BYTES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovsdb_close_with_a_peer_that_reads_nothing_ends_within_the_flush_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let _ = go_rx.await;
        read_to_end_counting(&mut s).await
    });
    let (handle, mut rx) = ovsdb_stream(port).await;
    // One 64 MiB transaction: allowed (the queue was empty), and far more than the
    // socket buffers hold.
    let big = vec![b' '; 64 << 20];
    assert!(handle.write(big));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    handle.close();
    let end = tokio::time::timeout(PROMPTLY, rx.recv()).await.expect("the stream ends");
    assert!(matches!(end, Some(StreamEvent::Closed(None))), "{end:?}");
    assert!(t0.elapsed() < PROMPTLY, "{:?}", t0.elapsed());
    assert_eq!(handle.queued(), 0);
    go_tx.send(()).unwrap();
    let total = tokio::time::timeout(Duration::from_secs(60), peer).await.expect("the peer saw the end").unwrap();
    assert!(total < 64 << 20, "the whole write ({total} bytes) went out after close()");
}
