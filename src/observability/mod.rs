//! Prometheus metrics: what stockd counts, and the HTTP endpoint that serves them.
//!
//! Each [`Application`](crate::startup::Application) owns its registry (no process-wide recorder),
//! so several servers in one process, as in the tests, never mix their numbers. Metric names and
//! labels are listed in `docs/operations.md`; the constants below are the source of truth.

mod endpoint;

use std::{sync::Arc, time::Duration};

use ::metrics::{Key, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use sqlx::PgPool;

pub use endpoint::{MetricsEndpoint, serve};

use crate::repo::{AvailabilityCacheStats, OrderBatchStats, ReadRoutingStats, holds::Compaction};

/// gRPC calls answered, by `service`, `method` and `code` (the gRPC status name, e.g. `OK`).
pub const GRPC_REQUESTS: &str = "stockd_grpc_requests_total";
/// Seconds from a call's arrival to its final status, by `service`, `method` and `code`.
pub const GRPC_DURATION: &str = "stockd_grpc_request_duration_seconds";
/// PlaceOrder and SetCartHolds outcomes, by `operation` (`place_order`, `set_cart_holds`) and
/// `outcome` (`accepted`, `refused` for FAILED_PRECONDITION, `failed` for any other error).
pub const RESERVATIONS: &str = "stockd_reservations_total";
/// Expired cart holds deleted by the sweeper.
pub const HOLDS_EXPIRED: &str = "stockd_holds_expired_total";
/// Closed orders whose ledger rows the sweeper compacted.
pub const COMPACTED_ORDERS: &str = "stockd_compacted_orders_total";
/// Ledger rows of closed orders the sweeper deleted.
pub const COMPACTED_LEDGER_ROWS: &str = "stockd_compacted_ledger_rows_total";
/// Sweeper passes that failed (they are retried at the next tick).
pub const SWEEP_FAILURES: &str = "stockd_sweep_failures_total";
/// PlaceOrder group-commit batches, by `outcome` (`committed`, `fell_back` when the batch failed
/// and its orders were placed one by one).
pub const ORDER_BATCHES: &str = "stockd_order_batches_total";
/// Orders those batches held, by the same `outcome`: divided by the batches, the batch size.
pub const ORDER_BATCH_ORDERS: &str = "stockd_order_batch_orders_total";
/// PlaceOrder calls dropped unplaced because the caller cancelled or timed out while the order
/// waited for a batch: a rising rate means callers give up before the database keeps up.
pub const ORDERS_ABANDONED: &str = "stockd_orders_abandoned_total";
/// PlaceOrder calls refused at once (UNAVAILABLE) because the orders already queued had waited
/// half the time the call's deadline left: the server is shedding load.
pub const ORDERS_SHED: &str = "stockd_orders_shed_total";
/// PlaceOrder batches that ran long enough to count as stuck (eight times the recent typical
/// duration, and at least 100 ms), counted when they end: a lock held elsewhere or slow commits.
pub const ORDER_BATCHES_STUCK: &str = "stockd_order_batches_stuck_total";
/// Open connections in the pool, sampled at each scrape.
pub const POOL_CONNECTIONS: &str = "stockd_db_pool_connections";
/// Idle connections in the pool, sampled at each scrape.
pub const POOL_IDLE: &str = "stockd_db_pool_idle_connections";
/// The pool's maximum size.
pub const POOL_MAX: &str = "stockd_db_pool_max_connections";
/// 1 while the readiness monitor reaches the database, else 0.
pub const DATABASE_UP: &str = "stockd_database_up";
/// 1 while the health service reports SERVING, else 0 (database down or draining).
pub const READY: &str = "stockd_ready";
/// Always 1; the `version` label carries the build.
pub const BUILD_INFO: &str = "stockd_build_info";
/// 1 while the availability cache hears change notices (and serves entries), else 0.
pub const CACHE_LISTENING: &str = "stockd_availability_cache_listening";
/// (stock, SKU) entries the availability cache holds.
pub const CACHE_ENTRIES: &str = "stockd_availability_cache_entries";
/// GetSalableQuantities SKUs by `source`: `cache` (answered from an entry) or `database`.
pub const CACHE_SKUS: &str = "stockd_availability_cache_skus_total";
/// Read replicas that may serve reads now (reachable, a standby, within the lag bound).
pub const READ_REPLICAS_HEALTHY: &str = "stockd_read_replicas_healthy";
/// 1 while the read replica named by `replica` (`host:port`) may serve reads, else 0.
pub const READ_REPLICA_HEALTHY: &str = "stockd_read_replica_healthy";
/// Seconds the read replica named by `replica` is behind the primary, as last checked.
pub const READ_REPLICA_LAG: &str = "stockd_read_replica_lag_seconds";
/// Reads that may use a replica (GetSalableQuantities, the List RPCs), by `target`: `primary`,
/// or `replica` with the `replica` label naming which.
pub const ROUTED_READS: &str = "stockd_routed_reads_total";

/// Reloads of files read at start, by `what` (`tokens`, `tls`) and `outcome` (`reloaded`, or
/// `refused` when the new version did not load and the one in force stayed).
pub const CONFIG_RELOADS: &str = "stockd_config_reloads_total";

/// Latency buckets in seconds: a cached read takes about a millisecond, a contended order tens.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// A registry of stockd's metrics; cheap to clone, shared by the gRPC layer, the sweeper, the
/// readiness monitor and the endpoint.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with stockd's descriptions and histogram buckets.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(GRPC_DURATION.into()), &LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            // The bucket list is a non-empty constant, the only thing that can be refused.
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let metrics = Self {
            recorder: Arc::new(recorder),
            handle,
        };
        metrics.describe();
        metrics
            .gauge(
                BUILD_INFO,
                vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
            )
            .set(1.0);
        metrics
    }

    fn describe(&self) {
        let counters = [
            (
                GRPC_REQUESTS,
                "gRPC calls answered, by service, method and status code.",
            ),
            (
                RESERVATIONS,
                "PlaceOrder and SetCartHolds outcomes: accepted, refused, failed.",
            ),
            (HOLDS_EXPIRED, "Expired cart holds deleted by the sweeper."),
            (
                COMPACTED_ORDERS,
                "Closed orders whose ledger rows were compacted.",
            ),
            (
                COMPACTED_LEDGER_ROWS,
                "Ledger rows of closed orders deleted.",
            ),
            (SWEEP_FAILURES, "Sweeper passes that failed."),
            (
                ORDER_BATCHES,
                "PlaceOrder batches committed together or fallen back to single orders.",
            ),
            (
                ORDER_BATCH_ORDERS,
                "Orders in PlaceOrder batches, by the batch's outcome.",
            ),
            (
                ORDERS_ABANDONED,
                "Orders dropped unplaced because their caller left while they waited for a batch.",
            ),
            (
                ORDERS_SHED,
                "Orders refused at once because the queue was too slow for their caller's deadline.",
            ),
            (
                ORDER_BATCHES_STUCK,
                "PlaceOrder batches that ran long enough to count as stuck, counted when they end.",
            ),
            (
                CACHE_SKUS,
                "GetSalableQuantities SKUs answered from the availability cache or the database.",
            ),
            (
                ROUTED_READS,
                "Reads that may use a read replica, by the server that answered them.",
            ),
            (
                CONFIG_RELOADS,
                "Reloads of the tokens file or TLS certificate, reloaded or refused.",
            ),
        ];
        for (name, help) in counters {
            self.recorder
                .describe_counter(name.into(), None, SharedString::const_str(help));
        }
        let gauges = [
            (POOL_CONNECTIONS, "Open connections in the database pool."),
            (POOL_IDLE, "Idle connections in the database pool."),
            (POOL_MAX, "Maximum size of the database pool."),
            (
                DATABASE_UP,
                "1 while the database answers the readiness check.",
            ),
            (READY, "1 while the health service reports SERVING."),
            (BUILD_INFO, "Always 1; the version label names the build."),
            (
                CACHE_LISTENING,
                "1 while the availability cache hears change notices and serves entries.",
            ),
            (CACHE_ENTRIES, "Entries the availability cache holds."),
            (
                READ_REPLICAS_HEALTHY,
                "Read replicas that may serve reads now.",
            ),
            (
                READ_REPLICA_HEALTHY,
                "1 while this read replica may serve reads.",
            ),
            (
                READ_REPLICA_LAG,
                "Seconds this read replica is behind the primary.",
            ),
        ];
        for (name, help) in gauges {
            self.recorder
                .describe_gauge(name.into(), None, SharedString::const_str(help));
        }
        self.recorder.describe_histogram(
            GRPC_DURATION.into(),
            Some(Unit::Seconds),
            SharedString::const_str("Seconds from a call's arrival to its final status."),
        );
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> ::metrics::Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> ::metrics::Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    /// Counts one finished gRPC call and its latency.
    pub fn grpc_call(&self, service: &str, method: &str, code: tonic::Code, elapsed: Duration) {
        let labels = || {
            vec![
                Label::new("service", service.to_owned()),
                Label::new("method", method.to_owned()),
                Label::new("code", code_name(code)),
            ]
        };
        self.counter(GRPC_REQUESTS, labels()).increment(1);
        self.recorder
            .register_histogram(&Key::from_parts(GRPC_DURATION, labels()), &METADATA)
            .record(elapsed.as_secs_f64());
        let operation = match (service, method) {
            ("stockd.v1.ReservationService", "PlaceOrder") => "place_order",
            ("stockd.v1.ReservationService", "SetCartHolds") => "set_cart_holds",
            _ => return,
        };
        let outcome = match code {
            tonic::Code::Ok => "accepted",
            tonic::Code::FailedPrecondition => "refused",
            _ => "failed",
        };
        self.counter(
            RESERVATIONS,
            vec![
                Label::new("operation", operation),
                Label::new("outcome", outcome),
            ],
        )
        .increment(1);
    }

    /// Counts what one sweeper pass removed.
    pub fn compaction(&self, done: &Compaction) {
        self.counter(HOLDS_EXPIRED, vec![])
            .increment(done.expired_holds);
        self.counter(COMPACTED_ORDERS, vec![])
            .increment(done.orders);
        self.counter(COMPACTED_LEDGER_ROWS, vec![])
            .increment(done.ledger_rows);
    }

    /// Counts a failed sweeper pass.
    pub fn sweep_failed(&self) {
        self.counter(SWEEP_FAILURES, vec![]).increment(1);
    }

    /// Records whether the database answered the last readiness check.
    pub fn database_up(&self, up: bool) {
        self.gauge(DATABASE_UP, vec![]).set(f64::from(u8::from(up)));
    }

    /// Records whether the health service reports SERVING.
    pub fn ready(&self, ready: bool) {
        self.gauge(READY, vec![]).set(f64::from(u8::from(ready)));
    }

    /// Samples the pool's size and idle connections.
    pub fn sample_pool(&self, pool: &PgPool) {
        self.gauge(POOL_CONNECTIONS, vec![])
            .set(f64::from(pool.size()));
        // usize → f64: pool sizes are far below 2^52.
        self.gauge(POOL_IDLE, vec![]).set(pool.num_idle() as f64);
        self.gauge(POOL_MAX, vec![])
            .set(f64::from(pool.options().get_max_connections()));
    }

    /// Samples what PlaceOrder's group commit has done.
    pub fn sample_order_batches(&self, stats: &OrderBatchStats) {
        let outcomes = [
            ("committed", stats.committed, stats.committed_orders),
            ("fell_back", stats.fell_back, stats.fell_back_orders),
        ];
        for (outcome, batches, orders) in outcomes {
            self.counter(ORDER_BATCHES, vec![Label::new("outcome", outcome)])
                .absolute(batches);
            self.counter(ORDER_BATCH_ORDERS, vec![Label::new("outcome", outcome)])
                .absolute(orders);
        }
        self.counter(ORDERS_ABANDONED, vec![])
            .absolute(stats.abandoned_orders);
        self.counter(ORDERS_SHED, vec![])
            .absolute(stats.shed_orders);
        self.counter(ORDER_BATCHES_STUCK, vec![])
            .absolute(stats.stuck_batches);
    }

    /// Samples the availability cache, when it is on.
    pub fn sample_availability_cache(&self, stats: &AvailabilityCacheStats) {
        self.gauge(CACHE_LISTENING, vec![])
            .set(f64::from(u8::from(stats.listening)));
        // u64 → f64: entry counts are far below 2^52.
        self.gauge(CACHE_ENTRIES, vec![]).set(stats.entries as f64);
        self.counter(CACHE_SKUS, vec![Label::new("source", "cache")])
            .absolute(stats.served);
        self.counter(CACHE_SKUS, vec![Label::new("source", "database")])
            .absolute(stats.read);
    }

    /// Samples the read replicas' state and where routed reads went.
    pub fn sample_read_routing(&self, stats: &ReadRoutingStats) {
        self.counter(ROUTED_READS, vec![Label::new("target", "primary")])
            .absolute(stats.primary_reads);
        let healthy = stats.replicas.iter().filter(|r| r.healthy).count();
        // usize → f64: replica counts are tiny.
        self.gauge(READ_REPLICAS_HEALTHY, vec![])
            .set(healthy as f64);
        for replica in &stats.replicas {
            let name = || vec![Label::new("replica", replica.name.clone())];
            self.gauge(READ_REPLICA_HEALTHY, name())
                .set(f64::from(u8::from(replica.healthy)));
            if let Some(lag) = replica.lag {
                self.gauge(READ_REPLICA_LAG, name()).set(lag.as_secs_f64());
            }
            let target = [Label::new("target", "replica")].into_iter();
            self.counter(ROUTED_READS, target.chain(name()).collect())
                .absolute(replica.reads);
        }
    }

    /// Counts one reload of `what`, done or refused.
    pub fn config_reload(&self, what: &'static str, reloaded: bool) {
        let outcome = if reloaded { "reloaded" } else { "refused" };
        self.counter(
            CONFIG_RELOADS,
            vec![Label::new("what", what), Label::new("outcome", outcome)],
        )
        .increment(1);
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// The canonical name of a gRPC status code, as in `grpc-status` documentation (`NOT_FOUND`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
