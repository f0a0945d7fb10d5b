//! The TLS listener: accepts TCP connections, runs each handshake on its own task (a slow client
//! never holds up the others) and hands tonic the connections that completed one.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use rustls::ServerConfig;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::{JoinHandle, JoinSet},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::Stream;

/// How long a client may take over its handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Connections past their TLS handshake. Dropping it, as tonic does when it stops accepting,
/// closes the listening socket and abandons the handshakes under way.
#[derive(Debug)]
pub struct TlsIncoming {
    ready: mpsc::Receiver<TlsStream<TcpStream>>,
    acceptor: JoinHandle<()>,
}

impl TlsIncoming {
    /// Serves TLS with `config` on `listener`.
    pub fn new(listener: TcpListener, config: ServerConfig) -> Self {
        let (ready_tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let acceptor = tokio::spawn(accept(listener, acceptor, ready_tx));
        Self { ready, acceptor }
    }
}

impl Stream for TlsIncoming {
    type Item = Result<TlsStream<TcpStream>, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.ready.poll_recv(cx).map(|stream| stream.map(Ok))
    }
}

impl Drop for TlsIncoming {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<TlsStream<TcpStream>>,
) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    handshakes.spawn(handshake(tcp, acceptor.clone(), ready.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = handshakes.join_next() => {}
        }
    }
}

async fn handshake(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<TlsStream<TcpStream>>,
) {
    // Small gRPC frames wait for Nagle's algorithm otherwise (see startup.rs).
    let _ = tcp.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => {
            let _ = ready.send(tls).await;
        }
        // The client's doing (a plaintext client, an untrusted certificate, a port scan).
        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}
