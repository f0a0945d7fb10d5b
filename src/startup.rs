//! Wiring: build the server on a listener and pool handed in, so tests use port 0 and a
//! database of their own; run it until a shutdown signal, then drain.

use std::{future::Future, net::SocketAddr, time::Duration};

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::{
    config::ServeConfig,
    grpc,
    repo::{self, Repo},
};

/// A bound, ready-to-run stockd.
pub struct Application {
    listener: TcpListener,
    repo: Repo,
    grace_period: Duration,
}

impl Application {
    /// Assembles the service on an already bound listener and a migrated pool.
    pub fn build(pool: PgPool, listener: TcpListener, grace_period: Duration) -> Self {
        Self {
            listener,
            repo: Repo::new(pool),
            grace_period,
        }
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then reports NOT_SERVING, stops accepting and gives
    /// in-flight calls the grace period before closing the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (reporter, health) = tonic_health::server::health_reporter();
        grpc::set_health(&reporter, true).await;
        let routes = grpc::routes(self.repo.clone(), health).context("building reflection")?;
        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let server = Server::builder()
            .trace_fn(|request| tracing::info_span!("rpc", rpc.method = %request.uri().path()))
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), async {
                let _ = drain_rx.await;
            });
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => return result.context("gRPC server failed"),
            () = shutdown => {}
        }
        grpc::set_health(&reporter, false).await;
        let _ = drain_tx.send(());
        match tokio::time::timeout(self.grace_period, &mut server).await {
            Ok(result) => result.context("gRPC server failed while draining")?,
            Err(_) => tracing::warn!(
                grace_period_secs = self.grace_period.as_secs(),
                "in-flight requests did not finish within the grace period"
            ),
        }
        self.repo.pool().close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// `stockd serve`: connect, migrate if asked, bind and serve until SIGTERM or SIGINT.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let pool = repo::connect(&config.database).context("reading DATABASE_URL")?;
    if config.migrate_on_start {
        repo::MIGRATOR
            .run(&pool)
            .await
            .context("migrating the database")?;
    }
    let listener = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("binding {}", config.grpc_addr))?;
    let app = Application::build(pool, listener, config.shutdown_grace_period());
    tracing::info!(
        addr = %app.local_addr()?,
        version = env!("CARGO_PKG_VERSION"),
        "stockd serving gRPC"
    );
    app.run_until(crate::shutdown::signal()).await
}
