//! Wiring: build the server on a listener and pool handed in, so tests use port 0 and a
//! database of their own; run it until a shutdown signal, then drain.

use std::{future::Future, net::SocketAddr, time::Duration};

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::{
    clock::{SharedClock, SystemClock},
    config::{DEFAULT_SWEEP_INTERVAL_SECS, ServeConfig},
    domain::HoldPolicy,
    grpc,
    repo::{self, DEFAULT_HOLD_POLICY, Repo},
    sweeper,
};

/// A bound, ready-to-run stockd.
pub struct Application {
    listener: TcpListener,
    pool: PgPool,
    clock: SharedClock,
    hold_policy: HoldPolicy,
    sweep_interval: Duration,
    grace_period: Duration,
}

impl Application {
    /// Assembles the service on an already bound listener and a migrated pool.
    pub fn build(pool: PgPool, listener: TcpListener, grace_period: Duration) -> Self {
        Self {
            listener,
            pool,
            clock: std::sync::Arc::new(SystemClock),
            hold_policy: DEFAULT_HOLD_POLICY,
            sweep_interval: Duration::from_secs(DEFAULT_SWEEP_INTERVAL_SECS),
            grace_period,
        }
    }

    /// Uses `clock` for hold expiry (tests move a manual clock instead of sleeping).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the cart hold time-to-live rules.
    pub fn with_hold_policy(mut self, policy: HoldPolicy) -> Self {
        self.hold_policy = policy;
        self
    }

    /// Sets how often the sweeper runs.
    pub fn with_sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then reports NOT_SERVING, stops accepting and gives
    /// in-flight calls the grace period before closing the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let repo = Repo::with_clock(self.pool, self.clock, self.hold_policy);
        let (reporter, health) = tonic_health::server::health_reporter();
        grpc::set_health(&reporter, true).await;
        let routes = grpc::routes(repo.clone(), health).context("building reflection")?;
        let sweeping = sweeper::spawn(repo.clone(), self.sweep_interval);
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
        sweeping.stop().await;
        repo.pool().close().await;
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
    let policy = config.hold_policy().map_err(anyhow::Error::msg)?;
    let app = Application::build(pool, listener, config.shutdown_grace_period())
        .with_hold_policy(policy)
        .with_sweep_interval(config.sweep_interval());
    tracing::info!(
        addr = %app.local_addr()?,
        version = env!("CARGO_PKG_VERSION"),
        "stockd serving gRPC"
    );
    app.run_until(crate::shutdown::signal()).await
}
