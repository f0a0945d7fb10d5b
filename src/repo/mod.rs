//! PostgreSQL persistence. Each function loads what it needs, lets `crate::domain` decide, and
//! saves, inside one transaction when it writes.

pub mod adjustments;
pub mod availability;
mod availability_cache;
mod changes;
pub mod consistency;
pub mod error;
mod failover;
pub mod fulfilment;
pub mod history;
pub mod holds;
mod ledger;
mod order_batch;
mod order_batch_stats;
mod order_dispatch;
pub mod orders;
mod page_token_key;
mod read_replicas;
mod rows;
mod running_batches;
pub mod settings;
mod snapshot;
pub mod source_items;
pub mod source_selection;
pub mod sources;
pub mod stocks;
pub mod targets;

use std::{future::Future, time::Duration};

use secrecy::ExposeSecret;
use sqlx::{
    Connection, PgConnection, PgPool,
    migrate::Migrator,
    pool::PoolConnectionMetadata,
    postgres::{PgConnectOptions, PgPoolOptions},
};

pub use availability_cache::{AvailabilityCacheConfig, AvailabilityCacheStats};
use changes::Change;
pub use error::RepoError;
pub use order_batch_stats::OrderBatchStats;
pub use order_dispatch::{DEFAULT_ORDER_BATCH_MIN_WAITING, DEFAULT_ORDER_BATCHES, OrderBatching};
pub use read_replicas::{DEFAULT_READ_REPLICA_MAX_LAG, ReadReplicaStats, ReadRoutingStats};

use crate::{
    clock::{SharedClock, SystemClock},
    config::DatabaseConfig,
    domain::HoldPolicy,
};

/// The schema, embedded in the binary so `stockd migrate` needs no files.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How many times a transaction that lost a race (40001/40P01) is run before answering ABORTED.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 4;

/// Cart holds live 15 minutes unless the caller says otherwise, and at most a day.
pub const DEFAULT_HOLD_POLICY: HoldPolicy = HoldPolicy {
    default_ttl_secs: 900,
    max_ttl_secs: 86_400,
};

/// Handle to the database, cloned into every gRPC service.
#[derive(Debug, Clone)]
pub struct Repo {
    pool: PgPool,
    clock: SharedClock,
    hold_policy: HoldPolicy,
    /// Group commit for PlaceOrder, when turned on.
    orders: Option<order_dispatch::OrderBatcher>,
    /// What group commit has done, shared by every clone (the dispatcher runs on one).
    batch_counters: std::sync::Arc<order_batch_stats::OrderBatchCounters>,
    /// Reuse of GetSalableQuantities answers, when turned on.
    availability_cache: Option<availability_cache::AvailabilityCache>,
    /// Tells other replicas what this one's writes changed, once started.
    publisher: Option<changes::Publisher>,
    /// The page-token key, once read; shared by every clone.
    page_token_key: std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<[u8]>>>,
    /// Standbys that may answer reads which feed no decision, when configured.
    read_replicas: Option<read_replicas::ReadReplicas>,
}

impl Repo {
    /// Wraps a pool that is already connected and migrated, with the system clock.
    pub fn new(pool: PgPool) -> Self {
        Self::with_clock(pool, std::sync::Arc::new(SystemClock), DEFAULT_HOLD_POLICY)
    }

    /// Wraps a pool with the clock that decides hold expiry and the hold time-to-live policy.
    pub fn with_clock(pool: PgPool, clock: SharedClock, hold_policy: HoldPolicy) -> Self {
        Self {
            pool,
            clock,
            hold_policy,
            orders: None,
            batch_counters: std::sync::Arc::default(),
            availability_cache: None,
            publisher: None,
            page_token_key: std::sync::Arc::default(),
            read_replicas: None,
        }
    }

    /// Lets GetSalableQuantities reuse what it read for up to the configured time to live
    /// (a zero time to live leaves it off).
    pub fn with_availability_cache(mut self, config: AvailabilityCacheConfig) -> Self {
        self.availability_cache = availability_cache::AvailabilityCache::new(config);
        self
    }

    /// Publishes what this replica's writes change and, with the cache on, listens for what the
    /// others' do, until `stop`. Without it the cache is never used.
    pub fn with_change_notices(mut self, stop: tokio_util::sync::CancellationToken) -> Self {
        let origin = changes::Origin::new();
        self.publisher = Some(changes::Publisher::start(
            self.pool.clone(),
            origin.clone(),
            stop.clone(),
        ));
        if let Some(cache) = &self.availability_cache {
            changes::listen(self.pool.clone(), origin, cache.clone(), stop);
        }
        self
    }

    /// Called after a write commits: drops this replica's entries at once (it reads its own
    /// writes) and tells the others.
    pub(crate) fn changed(&self, change: Change) {
        if let Some(cache) = &self.availability_cache {
            cache.apply(&change);
        }
        if let Some(publisher) = &self.publisher {
            publisher.publish(change);
        }
    }

    /// Places orders in batches: those arriving during a transaction share the next one, with
    /// batches over distinct SKUs running side by side as `rules` allow.
    pub fn with_order_batching(mut self, rules: OrderBatching) -> Self {
        self.orders = Some(order_dispatch::OrderBatcher::start(self.clone(), rules));
        self
    }

    /// What group commit has done so far; all zero while it is off.
    pub fn order_batch_stats(&self) -> OrderBatchStats {
        self.batch_counters.stats()
    }

    /// What the availability cache holds and has done; `None` when it is off.
    pub fn availability_cache_stats(&self) -> Option<AvailabilityCacheStats> {
        self.availability_cache.as_ref().map(|cache| cache.stats())
    }

    /// The time-to-live rules of cart holds.
    pub fn hold_policy(&self) -> HoldPolicy {
        self.hold_policy
    }

    /// The pool, for health checks and shutdown.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Opens a lazily connecting pool, so the process starts even while the database is down. With
/// several servers in DATABASE_URL (or `target_session_attrs=read-write`) the pool follows the
/// primary among them, which needs a Tokio runtime.
pub fn connect(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    let targets = targets::Targets::parse(config.database_url.expose_secret())?;
    let hosts: Vec<PgConnectOptions> = targets.hosts.into_iter().map(session_settings).collect();
    let options = PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(config.acquire_timeout())
        .test_before_acquire(false);
    if targets.find_primary {
        return failover::Failover::start(hosts, options);
    }
    let Some(host) = hosts.into_iter().next() else {
        return Err(sqlx::Error::Configuration(
            "DATABASE_URL names no server".into(),
        ));
    };
    Ok(options
        .before_acquire(|connection, meta| Box::pin(ping_if_idle(connection, meta)))
        .connect_lazy_with(host))
}

/// What every session of the service is told when it opens.
fn session_settings(options: PgConnectOptions) -> PgConnectOptions {
    // Every statement is prepared once per connection and looks rows up by key, so a plan made
    // for one set of parameters serves all; PostgreSQL would otherwise plan the array-driven
    // statements afresh on every call (nearly a third of its CPU in checkout, BENCHMARKS.md).
    options
        .application_name("stockd")
        .options([("plan_cache_mode", "force_generic_plan")])
}

/// Checks a pooled connection on its way out only when it sat idle for a while.
async fn ping_if_idle(
    connection: &mut PgConnection,
    meta: PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for >= PING_AFTER_IDLE {
        connection.ping().await?;
    }
    Ok(true)
}

/// How long a pooled connection may sit idle before it is checked with a round trip on its way
/// out. Checking every hand-out cost a round trip per call; a connection used moments ago is
/// alive, and one that died since fails one statement, then the check on its release drops it.
const PING_AFTER_IDLE: Duration = Duration::from_millis(500);

/// Runs `attempt` again when it lost a race, a bounded number of times.
pub(crate) async fn retry_conflicts<T, F, Fut>(mut attempt: F) -> Result<T, RepoError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RepoError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if error.is_retryable_conflict() && tries < MAX_TRANSACTION_ATTEMPTS => {
                tracing::debug!(tries, %error, "retrying transaction");
                // Back off a little so the winner can commit before we race again.
                tokio::time::sleep(Duration::from_millis(2 << tries)).await;
                tries += 1;
            }
            result => return result,
        }
    }
}
