//! Connecting: TCP, then TLS with deadlines, with failures mapped to stable codes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use super::ChannelError;

/// A connected byte stream (plain TCP or TLS).
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// How to secure a connection.
#[derive(Clone)]
pub struct TlsTarget {
    /// Client configuration (client certificate, host verification).
    pub config: Arc<ClientConfig>,
    /// Name the host is verified against (IP or DNS).
    pub server_name: ServerName<'static>,
}

/// Opens TCP to `host:port` within `timeout`, then TLS when `tls` is given.
pub async fn connect(host: &str, port: u16, tls: Option<&TlsTarget>, timeout: Duration) -> Result<Box<dyn Stream>, ChannelError> {
    let addr = format!("{host}:{port}");
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Err(_) => return Err(ChannelError::new("CONNECT_TIMEOUT", format!("no TCP connection to {addr} within {timeout:?}"))),
        Ok(Err(e)) => return Err(io_error(&addr, &e)),
        Ok(Ok(s)) => s,
    };
    // Flow mods are small and latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else { return Ok(Box::new(tcp)) };
    let connector = TlsConnector::from(tls.config.clone());
    match tokio::time::timeout(timeout, connector.connect(tls.server_name.clone(), tcp)).await {
        Err(_) => Err(ChannelError::new("TLS_HANDSHAKE_TIMEOUT", format!("TLS handshake with {addr} did not finish within {timeout:?} (is the port plain TCP?)"))),
        Ok(Err(e)) => Err(tls_error(&addr, &e)),
        Ok(Ok(s)) => Ok(Box::new(s)),
    }
}

fn io_error(addr: &str, e: &io::Error) -> ChannelError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ChannelError::new("CONNECTION_REFUSED", format!("{addr} refused the connection")),
        io::ErrorKind::TimedOut => ChannelError::new("CONNECT_TIMEOUT", format!("connecting to {addr} timed out")),
        _ => ChannelError::new("CONNECTION_FAILED", format!("connecting to {addr}: {e}")),
    }
}

/// Maps a failed handshake to a code; the TLS layer knows the rustls specifics.
fn tls_error(addr: &str, e: &io::Error) -> ChannelError {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<tokio_rustls::rustls::Error>());
    match inner {
        // The peer's first bytes were not a TLS record: most likely a plain-TCP
        // listener (an OVS ptcp: port answers with its OpenFlow HELLO).
        Some(tokio_rustls::rustls::Error::InvalidMessage(m)) => ChannelError::new(
            "TLS_PEER_NOT_TLS",
            format!("{addr} does not speak TLS (a plain-TCP port?): {m:?}"),
        ),
        Some(rustls_err) => {
            let t = crate::tls::classify(rustls_err);
            ChannelError::new(t.code(), format!("TLS handshake with {addr} failed: {t}"))
        }
        None => match e.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => ChannelError::new(
                "TLS_HANDSHAKE_FAILED",
                format!("{addr} closed the connection during the TLS handshake (plain TCP port, or our certificate refused): {e}"),
            ),
            _ => ChannelError::new("TLS_HANDSHAKE_FAILED", format!("TLS handshake with {addr} failed: {e}")),
        },
    }
}
