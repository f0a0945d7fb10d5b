//! Readiness: the health service answers SERVING only while the database answers and the
//! server is not draining. A background monitor checks the database on a connection of its own
//! (so a busy pool is never mistaken for a dead database) and flips the status both ways; the
//! process itself keeps running through a database outage.

use std::{sync::Arc, time::Duration};

use sqlx::{Connection, PgConnection, PgPool};
use tokio::{sync::Mutex, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{grpc, observability::Metrics};

/// How often the database is checked unless told otherwise, in milliseconds.
pub const DEFAULT_DB_CHECK_INTERVAL_MS: u64 = 2000;
/// How long one check may take before the database counts as unreachable, in milliseconds.
pub const DEFAULT_DB_CHECK_TIMEOUT_MS: u64 = 1000;

/// A health name that reports SERVING for as long as the process runs, database or not: for
/// liveness probes, which must not restart a pod because its database is away.
pub const LIVENESS_SERVICE: &str = "liveness";

/// How the database is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbCheck {
    /// Time between checks.
    pub interval: Duration,
    /// Time one check may take.
    pub timeout: Duration,
}

impl Default for DbCheck {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(DEFAULT_DB_CHECK_INTERVAL_MS),
            timeout: Duration::from_millis(DEFAULT_DB_CHECK_TIMEOUT_MS),
        }
    }
}

/// What decides the serving status; changed only under the lock, so a late database check can
/// never report SERVING after draining began.
#[derive(Debug)]
struct State {
    database_up: bool,
    draining: bool,
    /// What the health service says now; `None` before the first decision.
    serving: Option<bool>,
}

/// The health service's serving status, from the database's reachability and draining.
#[derive(Debug)]
pub struct Readiness {
    reporter: HealthReporter,
    state: Mutex<State>,
    metrics: Option<Metrics>,
}

impl Readiness {
    /// Takes over `reporter`; nothing is reported until the first database check.
    pub fn new(reporter: HealthReporter, metrics: Option<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            reporter,
            state: Mutex::new(State {
                database_up: false,
                draining: false,
                serving: None,
            }),
            metrics,
        })
    }

    /// Records the outcome of a database check.
    pub async fn set_database_up(&self, up: bool) {
        let mut state = self.state.lock().await;
        if let Some(metrics) = &self.metrics {
            metrics.database_up(up);
        }
        state.database_up = up;
        self.publish(&mut state).await;
    }

    /// Reports NOT_SERVING from now on (shutdown has begun).
    pub async fn drain(&self) {
        let mut state = self.state.lock().await;
        state.draining = true;
        self.publish(&mut state).await;
    }

    async fn publish(&self, state: &mut State) {
        let serving = state.database_up && !state.draining;
        if state.serving == Some(serving) {
            return;
        }
        if state.serving.is_none() {
            self.reporter
                .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
                .await;
        }
        grpc::set_health(&self.reporter, serving).await;
        if let Some(metrics) = &self.metrics {
            metrics.ready(serving);
        }
        match (state.serving, serving) {
            (None, _) => {}
            (Some(_), true) => tracing::info!("ready again: SERVING"),
            (Some(_), false) if state.draining => {}
            (Some(_), false) => tracing::warn!("database unreachable: NOT_SERVING"),
        }
        state.serving = Some(serving);
    }
}

/// A running database monitor; `stop` ends it and closes its connection.
#[derive(Debug)]
pub struct Monitor {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Stops checking and waits for the task to end.
    pub async fn stop(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "database monitor ended abnormally");
        }
    }
}

/// Checks the database once now, reports it, then keeps checking every `check.interval`, on a
/// connection of its own to wherever `pool` connects (which moves when the primary does).
pub async fn start(readiness: Arc<Readiness>, pool: PgPool, check: DbCheck) -> Monitor {
    let mut probe = Probe {
        pool,
        timeout: check.timeout,
        connection: None,
        up: true,
    };
    readiness.set_database_up(probe.check().await).await;
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(check.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                _ = ticks.tick() => {
                    let up = tokio::select! {
                        () = token.cancelled() => break,
                        up = probe.check() => up,
                    };
                    readiness.set_database_up(up).await;
                }
            }
        }
        probe.close().await;
    });
    Monitor { cancel, task }
}

/// One connection, kept between checks and replaced when it breaks.
struct Probe {
    pool: PgPool,
    timeout: Duration,
    connection: Option<PgConnection>,
    /// The last outcome, so a failure is logged once per outage.
    up: bool,
}

impl Probe {
    async fn check(&mut self) -> bool {
        let failure = match tokio::time::timeout(self.timeout, self.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!("no answer within {} ms", self.timeout.as_millis())),
        };
        if let Some(error) = &failure {
            // A broken or stuck connection is not reused.
            self.connection = None;
            if self.up {
                tracing::warn!(%error, "database check failed");
            }
        }
        self.up = failure.is_none();
        self.up
    }

    async fn ping(&mut self) -> Result<(), sqlx::Error> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self
                .connection
                .insert(PgConnection::connect_with(&self.pool.connect_options()).await?),
        };
        sqlx::query("SELECT 1").execute(&mut *connection).await?;
        Ok(())
    }

    async fn close(&mut self) {
        if let Some(connection) = self.connection.take() {
            let _ = tokio::time::timeout(self.timeout, connection.close()).await;
        }
    }
}
