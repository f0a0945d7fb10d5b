//! A TCP proxy to PostgreSQL for outage tests: stopping it closes its port and every
//! connection through it, while the shared PostgreSQL keeps running for the other tests.

use sqlx::{PgPool, postgres::PgConnectOptions};
use tokio::{
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};

/// A TCP proxy to PostgreSQL; stopping it closes its port and every connection through it.
pub(crate) struct Proxy {
    port: u16,
    upstream: (String, u16),
    running: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy to the database behind `pool`.
    pub(crate) async fn to_database(pool: &PgPool) -> Proxy {
        let direct = pool.connect_options();
        Proxy::start((direct.get_host().to_owned(), direct.get_port())).await
    }

    /// The options of `pool` with the proxy in the way.
    pub(crate) fn connect_options(&self, pool: &PgPool) -> PgConnectOptions {
        (*pool.connect_options())
            .clone()
            .host("127.0.0.1")
            .port(self.port)
    }

    pub(crate) async fn start(upstream: (String, u16)) -> Proxy {
        let mut proxy = Proxy {
            port: 0,
            upstream,
            running: None,
        };
        proxy.resume().await;
        proxy
    }

    /// Listens again, on the port of the first start.
    pub(crate) async fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.port = listener.local_addr().unwrap().port();
        let upstream = self.upstream.clone();
        self.running = Some(tokio::spawn(async move {
            // Owned by this task: aborting it drops every connection.
            let mut connections = JoinSet::new();
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// Closes the port and cuts every connection: to stockd, the database is gone.
    pub(crate) async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }
}
