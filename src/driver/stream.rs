//! A byte stream (TCP or rustls TLS) handed to a protocol driver written elsewhere
//! (JS): reads are pushed to a callback, writes are queued to a writer task. This
//! is how sessions driven from JS use the rustls transport.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::io::{connect, TlsTarget};
use super::ChannelError;

/// What the reader reports.
#[derive(Debug)]
pub enum StreamEvent {
    /// Bytes received.
    Data(Vec<u8>),
    /// The stream ended: `None` on a clean EOF, else the error.
    Closed(Option<ChannelError>),
}

/// The owner's handle: write or close.
#[derive(Clone)]
pub struct StreamHandle {
    tx: mpsc::UnboundedSender<Option<Vec<u8>>>,
}

impl StreamHandle {
    /// Queues bytes; false when the stream is gone.
    pub fn write(&self, bytes: Vec<u8>) -> bool {
        self.tx.send(Some(bytes)).is_ok()
    }

    /// Flushes what is queued and shuts the stream down.
    pub fn close(&self) {
        let _ = self.tx.send(None);
    }
}

/// Connects and spawns the reader and writer tasks.
pub async fn open_stream(
    host: &str,
    port: u16,
    tls: Option<&TlsTarget>,
    timeout: std::time::Duration,
    on_event: impl Fn(StreamEvent) + Send + Sync + 'static,
) -> Result<StreamHandle, ChannelError> {
    let stream = connect(host, port, tls, timeout).await?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
    tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            let Some(bytes) = item else { break };
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
            if rx.is_empty() && writer.flush().await.is_err() {
                return;
            }
        }
        let _ = writer.flush().await;
        let _ = writer.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return on_event(StreamEvent::Closed(None)),
                Ok(n) => on_event(StreamEvent::Data(buf.get(..n).unwrap_or_default().to_vec())),
                Err(e) => {
                    let err = match crate::tls::classify_io(&e) {
                        Some(t) => ChannelError::new(t.code(), t.to_string()),
                        None => ChannelError::new("CHANNEL_CLOSED", format!("connection lost: {e}")),
                    };
                    return on_event(StreamEvent::Closed(Some(err)));
                }
            }
        }
    });
    Ok(StreamHandle { tx })
}
