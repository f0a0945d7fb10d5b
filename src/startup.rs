//! Wiring: build the server on a listener and pool handed in, so tests use port 0 and a
//! database of their own; run it until a shutdown signal, then drain.

use std::{future::Future, net::SocketAddr, path::PathBuf, pin::Pin, sync::Arc, time::Duration};

use anyhow::Context;
use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Server, server::TcpIncoming};

use crate::{
    auth::{
        layer::{AuthLayer, LiveTokens},
        tokens::TokenTable,
    },
    clock::{SharedClock, SystemClock},
    config::{
        DEFAULT_HISTORY_RETENTION_DAYS, DEFAULT_RELOAD_INTERVAL_SECS, DEFAULT_SWEEP_INTERVAL_SECS,
        ServeConfig,
    },
    domain::HoldPolicy,
    grpc::{self, observe::ObserveLayer},
    observability::{self, Metrics},
    readiness::{self, DbCheck, Readiness},
    reload::{self, Reload, ReloadTrigger, Watched},
    repo::{self, AvailabilityCacheConfig, DEFAULT_HOLD_POLICY, OrderBatching, Repo},
    sweeper, tls,
};

/// A bound, ready-to-run stockd.
pub struct Application {
    listener: TcpListener,
    pool: PgPool,
    clock: SharedClock,
    hold_policy: HoldPolicy,
    availability_cache: AvailabilityCacheConfig,
    order_batching: OrderBatching,
    sweep_interval: Duration,
    history_retention: Option<Duration>,
    grace_period: Duration,
    shutdown_delay: Duration,
    tokens: Option<LiveTokens>,
    metrics_listener: Option<TcpListener>,
    db_check: DbCheck,
    tls: Option<ServedTls>,
    watched: Vec<Box<dyn Reload>>,
    reload_interval: Duration,
    reload_trigger: Option<ReloadTrigger>,
    read_replicas: Vec<PgPool>,
    read_replica_max_lag: Duration,
}

/// A PEM certificate chain and private key to serve gRPC over TLS, and the plaintext listener
/// for health probes (the kubelet's gRPC probes do not speak TLS).
#[derive(Debug)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: Vec<u8>,
    /// PEM private key.
    pub key: Vec<u8>,
    /// Where `grpc.health.v1` is also served in plaintext, if anywhere.
    pub plaintext_health: Option<TcpListener>,
}

/// The certificate in force, swapped on reload, and the plaintext health listener.
struct ServedTls {
    certs: Arc<ArcSwap<CertifiedKey>>,
    plaintext_health: Option<TcpListener>,
}

impl Application {
    /// Assembles the service on an already bound listener and a migrated pool, with the
    /// defaults a deployment runs (the availability cache on, orders in batches).
    pub fn build(pool: PgPool, listener: TcpListener, grace_period: Duration) -> Self {
        Self {
            listener,
            pool,
            clock: std::sync::Arc::new(SystemClock),
            hold_policy: DEFAULT_HOLD_POLICY,
            availability_cache: crate::config::DEPLOYED_AVAILABILITY_CACHE,
            order_batching: OrderBatching::default(),
            sweep_interval: Duration::from_secs(DEFAULT_SWEEP_INTERVAL_SECS),
            history_retention: Some(Duration::from_secs(
                u64::from(DEFAULT_HISTORY_RETENTION_DAYS) * 86_400,
            )),
            grace_period,
            shutdown_delay: Duration::ZERO,
            tokens: None,
            metrics_listener: None,
            db_check: DbCheck::default(),
            tls: None,
            read_replicas: Vec::new(),
            read_replica_max_lag: repo::DEFAULT_READ_REPLICA_MAX_LAG,
            watched: Vec::new(),
            reload_interval: Duration::from_secs(DEFAULT_RELOAD_INTERVAL_SECS),
            reload_trigger: None,
        }
    }

    /// Sends reads that feed no decision to these standbys while they are within `max_lag` of
    /// the primary (docs/decisions/0012-read-replicas.md).
    pub fn with_read_replicas(mut self, standbys: Vec<PgPool>, max_lag: Duration) -> Self {
        self.read_replicas = standbys;
        self.read_replica_max_lag = max_lag;
        self
    }

    /// Serves gRPC over TLS with this certificate for good (and health in plaintext on its own
    /// listener, if given); the certificate and key must go together.
    pub fn with_tls(mut self, tls: Tls) -> anyhow::Result<Self> {
        let certs = tls::certified_key(&tls.cert, &tls.key).map_err(anyhow::Error::msg)?;
        self.tls = Some(ServedTls {
            certs: Arc::new(ArcSwap::from_pointee(certs)),
            plaintext_health: tls.plaintext_health,
        });
        Ok(self)
    }

    /// Serves gRPC over TLS with the certificate and key read from these files now, and again
    /// whenever they change or the reload trigger is pulled.
    pub fn with_tls_files(
        mut self,
        cert: PathBuf,
        key: PathBuf,
        plaintext_health: Option<TcpListener>,
    ) -> anyhow::Result<Self> {
        let paths = vec![cert.clone(), key.clone()];
        let load = move || tls::load_files(&cert, &key);
        let watched = Watched::start("tls", paths, load, |certs| {
            format!("certificate {}", tls::leaf_fingerprint(certs))
        })
        .map_err(anyhow::Error::msg)?;
        self.tls = Some(ServedTls {
            certs: watched.live(),
            plaintext_health,
        });
        self.watched.push(Box::new(watched));
        Ok(self)
    }

    /// Requires a bearer token from this table on every call but health and reflection.
    pub fn with_tokens(mut self, tokens: TokenTable) -> Self {
        self.tokens = Some(Arc::new(ArcSwap::from_pointee(tokens)));
        self
    }

    /// Requires a bearer token from the tokens file at `path`, read now and again whenever it
    /// changes or the reload trigger is pulled.
    pub fn with_tokens_file(mut self, path: PathBuf) -> anyhow::Result<Self> {
        let paths = vec![path.clone()];
        let watched = Watched::start(
            "tokens",
            paths,
            move || TokenTable::load(&path),
            |table| format!("{} tokens", table.len()),
        )
        .map_err(anyhow::Error::msg)?;
        self.tokens = Some(watched.live());
        self.watched.push(Box::new(watched));
        Ok(self)
    }

    /// Sets how often files read at start are checked for a new version (zero: only when the
    /// reload trigger is pulled).
    pub fn with_reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self
    }

    /// Reloads files read at start whenever `trigger` is pulled (SIGHUP in the binary).
    pub fn with_reload_trigger(mut self, trigger: ReloadTrigger) -> Self {
        self.reload_trigger = Some(trigger);
        self
    }

    /// Keeps serving for `delay` after the shutdown signal, reporting NOT_SERVING, before it
    /// stops accepting (none without it: nothing routes calls to an embedded server).
    pub fn with_shutdown_delay(mut self, delay: Duration) -> Self {
        self.shutdown_delay = delay;
        self
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

    /// Lets GetSalableQuantities reuse answers for up to `config.ttl` (zero: off).
    pub fn with_availability_cache(mut self, config: AvailabilityCacheConfig) -> Self {
        self.availability_cache = config;
        self
    }

    /// Sets how PlaceOrder batches form: how many run at once (each holds a pooled connection)
    /// and how many orders must wait before one starts beside another.
    pub fn with_order_batching(mut self, rules: OrderBatching) -> Self {
        self.order_batching = rules;
        self
    }

    /// Sets how often the sweeper runs.
    pub fn with_sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// Lets the sweeper remove source-item history older than `keep` (`None`: keep it forever;
    /// 90 days unless set).
    pub fn with_history_retention(mut self, keep: Option<Duration>) -> Self {
        self.history_retention = keep;
        self
    }

    /// Serves Prometheus metrics at `/metrics` on `listener` (no metrics are kept without it).
    pub fn with_metrics_listener(mut self, listener: TcpListener) -> Self {
        self.metrics_listener = Some(listener);
        self
    }

    /// Sets how often, and how patiently, readiness checks the database.
    pub fn with_db_check(mut self, check: DbCheck) -> Self {
        self.db_check = check;
        self
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then reports NOT_SERVING, serves on through the
    /// shutdown delay, stops accepting and gives in-flight calls the grace period before closing
    /// the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let notices = tokio_util::sync::CancellationToken::new();
        let repo = Repo::with_clock(self.pool, self.clock.clone(), self.hold_policy)
            .with_availability_cache(self.availability_cache)
            .with_change_notices(notices.clone())
            .with_read_replicas(
                self.read_replicas,
                self.read_replica_max_lag,
                notices.clone(),
            )
            .with_order_batching(self.order_batching);
        let metrics = self.metrics_listener.as_ref().map(|_| Metrics::new());
        let (reporter, health) = tonic_health::server::health_reporter();
        let readiness = Readiness::new(reporter, metrics.clone());
        let monitor = readiness::start(readiness.clone(), repo.pool().clone(), self.db_check).await;
        let plain_health = health.clone();
        let routes = grpc::routes(repo.clone(), health).context("building reflection")?;
        let sweeping = sweeper::spawn(
            repo.clone(),
            self.sweep_interval,
            self.history_retention,
            metrics.clone(),
        );
        let endpoint = (self.metrics_listener.zip(metrics.clone()))
            .map(|(listener, metrics)| observability::serve(listener, metrics, repo.clone()));
        let reloader = reload::spawn(
            self.watched,
            self.reload_interval,
            self.reload_trigger,
            metrics.clone(),
        );
        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let drained = async {
            let _ = drain_rx.await;
        };
        let router = Server::builder()
            .layer(ObserveLayer::new(metrics))
            .layer(AuthLayer::new(self.tokens, self.clock.clone()))
            .add_routes(routes);
        let mut probes = None;
        let mut server: ServerFuture = match self.tls {
            Some(served) => {
                let config = tls::server_config(tls::CertSlot::new(served.certs))
                    .map_err(anyhow::Error::msg)
                    .context("configuring TLS")?;
                probes = served
                    .plaintext_health
                    .map(|listener| health_only(listener, plain_health));
                let incoming = tls::TlsIncoming::new(self.listener, config);
                Box::pin(router.serve_with_incoming_shutdown(incoming, drained))
            }
            // Small gRPC frames wait for Nagle's algorithm otherwise: measured 16x fewer
            // availability answers per second at 4 callers (BENCHMARKS.md).
            None => Box::pin(router.serve_with_incoming_shutdown(
                TcpIncoming::from(self.listener).with_nodelay(Some(true)),
                drained,
            )),
        };
        tokio::select! {
            result = &mut server => return result.context("gRPC server failed"),
            () = shutdown => {}
        }
        readiness.drain().await;
        wind_down(server, self.shutdown_delay, drain_tx, self.grace_period).await?;
        if let Some(probes) = probes {
            probes.stop().await;
        }
        if let Some(reloader) = reloader {
            reloader.stop().await;
        }
        sweeping.stop().await;
        notices.cancel();
        monitor.stop().await;
        if let Some(endpoint) = endpoint {
            endpoint.stop().await;
        }
        repo.pool().close().await;
        repo.close_read_replicas().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The gRPC server, plaintext or TLS, until it has drained.
type ServerFuture = Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>>;

/// After the shutdown signal, with NOT_SERVING reported: serves on through `delay`, then tells
/// the server to `drain` (stop accepting, GOAWAY) and gives in-flight calls up to `grace`.
async fn wind_down(
    mut server: ServerFuture,
    delay: Duration,
    drain: tokio::sync::oneshot::Sender<()>,
    grace: Duration,
) -> anyhow::Result<()> {
    if !delay.is_zero() {
        tracing::info!(
            delay_secs = delay.as_secs_f64(),
            "NOT_SERVING; serving on until load balancers stop sending calls"
        );
        tokio::select! {
            result = &mut server => return result.context("gRPC server failed"),
            () = tokio::time::sleep(delay) => {}
        }
    }
    tracing::info!("no longer accepting connections; draining in-flight calls");
    let _ = drain.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result.context("gRPC server failed while draining"),
        Err(_) => {
            tracing::warn!(
                grace_period_secs = grace.as_secs(),
                "in-flight requests did not finish within the grace period"
            );
            Ok(())
        }
    }
}

/// A plaintext server with nothing but `grpc.health.v1`, beside a TLS main port.
struct HealthOnly {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn health_only(
    listener: TcpListener,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
) -> HealthOnly {
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let served = Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), token.cancelled())
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the plaintext health server failed");
        }
    });
    HealthOnly { stop, task }
}

impl HealthOnly {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// `stockd serve`: connect, migrate if asked, bind and serve until SIGTERM or SIGINT. `tokens`
/// is the tokens file, read before anything started (none: authentication is off).
pub async fn serve(config: ServeConfig, tokens: Option<TokenTable>) -> anyhow::Result<()> {
    let pool = repo::connect(&config.database).context("reading DATABASE_URL")?;
    if config.migrate_on_start {
        migrate(&pool).await?;
    }
    let listener = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("binding {}", config.grpc_addr))?;
    let policy = config.hold_policy().map_err(anyhow::Error::msg)?;
    match &tokens {
        Some(tokens) => tracing::info!(tokens = tokens.len(), "authentication on"),
        None => tracing::warn!("authentication is off (STOCKD_AUTH_DISABLED=true)"),
    }
    let mut app = Application::build(pool, listener, config.shutdown_grace_period())
        .with_shutdown_delay(config.shutdown_delay())
        .with_reload_interval(config.reload_interval())
        .with_hold_policy(policy)
        .with_availability_cache(config.availability_cache())
        .with_order_batching(config.order_batching())
        .with_sweep_interval(config.sweep_interval())
        .with_history_retention(config.history_retention())
        .with_db_check(config.telemetry.db_check())
        .with_read_replicas(read_replicas(&config)?, config.read_replicas.max_lag());
    if let Some(addr) = config.telemetry.metrics_addr {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics address {addr}"))?;
        tracing::info!(addr = %listener.local_addr()?, "serving Prometheus metrics at /metrics");
        app = app.with_metrics_listener(listener);
    }
    #[cfg(unix)]
    {
        app = app.with_reload_trigger(reload::on_sighup().context("listening for SIGHUP")?);
    }
    // The tokens were read and checked before start (exit 64 on a bad file); from here on the
    // file is watched, and a bad new version keeps the last good one.
    if tokens.is_some()
        && let Some(path) = &config.auth.auth_tokens_file
    {
        app = app.with_tokens_file(path.clone())?;
    }
    app = with_tls_from(app, &config).await?;
    tracing::info!(
        addr = %app.local_addr()?,
        version = env!("CARGO_PKG_VERSION"),
        "stockd serving gRPC"
    );
    app.run_until(crate::shutdown::signal()).await
}

/// A lazily connecting pool per read replica, with the primary's pool settings.
fn read_replicas(config: &ServeConfig) -> anyhow::Result<Vec<PgPool>> {
    let urls = config.read_replicas.urls();
    if !urls.is_empty() {
        tracing::info!(
            replicas = urls.len(),
            "reads that feed no decision may use replicas"
        );
    }
    urls.into_iter()
        .enumerate()
        .map(|(i, url)| {
            let database = crate::config::DatabaseConfig {
                database_url: url,
                // A replica that stops answering holds a read up for this long before the
                // primary answers it instead.
                db_acquire_timeout_secs: config.database.db_acquire_timeout_secs.min(1),
                ..config.database.clone()
            };
            repo::connect(&database)
                .with_context(|| format!("reading STOCKD_READ_DATABASE_URL (URL {})", i + 1))
        })
        .collect()
}

/// Serves TLS from the configured certificate and key files, with the plaintext health port,
/// when they are set.
async fn with_tls_from(app: Application, config: &ServeConfig) -> anyhow::Result<Application> {
    let (Some(cert), Some(key)) = (&config.tls.tls_cert, &config.tls.tls_key) else {
        return Ok(app);
    };
    let plaintext_health = match config.tls.plaintext_health_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the plaintext health address {addr}"))?,
        ),
        None => None,
    };
    tracing::info!("serving gRPC over TLS");
    app.with_tls_files(cert.clone(), key.clone(), plaintext_health)
}

/// Applies pending migrations; a failure names the server it tried, so a refused certificate or
/// an unreachable host reads as such.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    repo::MIGRATOR.run(pool).await.with_context(|| {
        let target = repo::targets::describe(&pool.connect_options());
        format!("migrating the database at {target}")
    })
}
