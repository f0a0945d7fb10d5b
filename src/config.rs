//! Command line and environment: one typed struct per subcommand, parsed once in `main`.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    domain::HoldPolicy,
    repo::{
        AvailabilityCacheConfig, DEFAULT_HOLD_POLICY, DEFAULT_ORDER_BATCH_MIN_WAITING,
        DEFAULT_ORDER_BATCHES, OrderBatching,
    },
};

/// Where the gRPC server listens unless told otherwise.
pub const DEFAULT_GRPC_ADDR: &str = "0.0.0.0:50051";
/// Connections per process; PostgreSQL's default `max_connections` is 100, shared by replicas.
pub const DEFAULT_DB_MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a pooled connection before answering UNAVAILABLE.
pub const DEFAULT_DB_ACQUIRE_TIMEOUT_SECS: u64 = 5;
/// How long in-flight requests may run after SIGTERM; Kubernetes' grace period must exceed it.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD_SECS: u64 = 20;
/// How long stockd keeps serving after SIGTERM while reporting NOT_SERVING, before it stops
/// accepting: the time load balancers take to stop sending it calls. Kubernetes removes a
/// terminating pod from its EndpointSlices as SIGTERM is sent, but kube-proxy, ingress
/// controllers and DNS (CoreDNS answers with a 5 s TTL) apply that a few seconds later.
pub const DEFAULT_SHUTDOWN_DELAY_SECS: u64 = 5;

/// How long an availability answer may be reused when no change notice ends it first: the bound
/// on how long a write made outside stockd stays unseen (decision 0006).
pub const DEFAULT_AVAILABILITY_CACHE_MS: u64 = 60_000;
/// Most (stock, SKU) entries the availability cache keeps when the configuration says nothing.
pub const DEFAULT_AVAILABILITY_CACHE_SKUS: u64 = 200_000;
/// The availability cache as a deployment without settings runs it, so that whatever embeds the
/// service (tests included) runs what production runs.
pub const DEPLOYED_AVAILABILITY_CACHE: AvailabilityCacheConfig = AvailabilityCacheConfig {
    ttl: Duration::from_millis(DEFAULT_AVAILABILITY_CACHE_MS),
    max_skus: DEFAULT_AVAILABILITY_CACHE_SKUS,
};

/// Seconds between checks of the tokens file and TLS certificate for a new version. A Secret
/// volume takes up to a minute or two to show a changed Secret, so a few seconds more is nothing.
pub const DEFAULT_RELOAD_INTERVAL_SECS: u64 = 5;

/// How often expired holds are deleted and closed orders' ledger rows compacted. Expiry itself
/// never waits for this: an expired hold stops counting at once.
pub const DEFAULT_SWEEP_INTERVAL_SECS: u64 = 30;

/// How many days the history of source-item quantities (and adjustments' idempotency keys) is
/// kept before the sweeper removes it.
pub const DEFAULT_HISTORY_RETENTION_DAYS: u32 = 90;

/// stockd: salable quantity, source-level backorders and reservations over PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "stockd", version, about)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, env = "STOCKD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of the one binary, so a container image needs nothing else.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API (migrating the database first unless told not to).
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseConfig),
    /// Load the small demo catalogue (idempotent) and exit.
    DemoData(DatabaseConfig),
    /// Ask a running stockd for its health; exit 0 only when SERVING.
    HealthCheck(HealthCheckConfig),
    /// Print the SHA-256 of a token read from standard input, for the tokens file.
    HashToken,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// How to reach PostgreSQL.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL, e.g. postgres://user:pass@host:5432/stockd.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
    /// Pool size of this process.
    #[arg(long, env = "STOCKD_DB_MAX_CONNECTIONS", default_value_t = DEFAULT_DB_MAX_CONNECTIONS)]
    pub db_max_connections: u32,
    /// Seconds a request waits for a pooled connection.
    #[arg(long, env = "STOCKD_DB_ACQUIRE_TIMEOUT", default_value_t = DEFAULT_DB_ACQUIRE_TIMEOUT_SECS)]
    pub db_acquire_timeout_secs: u64,
}

/// Everything `stockd serve` needs.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// Address of the gRPC listener.
    #[arg(long, env = "STOCKD_GRPC_ADDR", default_value = DEFAULT_GRPC_ADDR)]
    pub grpc_addr: SocketAddr,
    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "STOCKD_SHUTDOWN_GRACE_PERIOD", default_value_t = DEFAULT_SHUTDOWN_GRACE_PERIOD_SECS)]
    pub shutdown_grace_period_secs: u64,
    /// Seconds stockd keeps serving after SIGTERM or SIGINT, reporting NOT_SERVING, before it
    /// stops accepting and drains (load balancers need that long to stop sending calls).
    #[arg(long, env = "STOCKD_SHUTDOWN_DELAY", default_value_t = DEFAULT_SHUTDOWN_DELAY_SECS)]
    pub shutdown_delay_secs: u64,
    /// Apply pending migrations at start (off when a deployment job runs `stockd migrate`).
    #[arg(long, env = "STOCKD_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
    /// Milliseconds a GetSalableQuantities answer may be reused unless a change notice ends it
    /// sooner (0: off, every call reads PostgreSQL). Reservations and CheckQuantities never use it.
    #[arg(long, env = "STOCKD_AVAILABILITY_CACHE_MS", default_value_t = DEFAULT_AVAILABILITY_CACHE_MS)]
    pub availability_cache_ms: u64,
    /// Most (stock, SKU) entries the availability cache keeps.
    #[arg(
        long,
        env = "STOCKD_AVAILABILITY_CACHE_SKUS",
        default_value_t = DEFAULT_AVAILABILITY_CACHE_SKUS
    )]
    pub availability_cache_skus: u64,
    /// PlaceOrder batches that may run at once, each on its own pooled connection. More suit a
    /// database server with more cores; fewer, larger batches commit more orders per second on a
    /// small one.
    #[arg(long, env = "STOCKD_ORDER_BATCHES", default_value_t = DEFAULT_ORDER_BATCHES)]
    pub order_batches: usize,
    /// Orders that must be waiting before a PlaceOrder batch starts beside a running one; fewer
    /// wait for the running batch to finish. Larger batches cost the database less per order.
    #[arg(long, env = "STOCKD_ORDER_BATCH_MIN_WAITING", default_value_t = DEFAULT_ORDER_BATCH_MIN_WAITING)]
    pub order_batch_min_waiting: usize,
    /// Threads that run calls; absent, one per core the process may use (a container's CPU limit
    /// counts). Fewer switch less on a machine whose cores PostgreSQL shares.
    #[arg(long, env = "STOCKD_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,
    /// Seconds a cart hold lives when the caller gives no time to live.
    #[arg(long, env = "STOCKD_HOLD_TTL_DEFAULT", default_value_t = DEFAULT_HOLD_POLICY.default_ttl_secs)]
    pub hold_ttl_default_secs: u32,
    /// The longest time to live, in seconds, a caller may ask for a cart hold.
    #[arg(long, env = "STOCKD_HOLD_TTL_MAX", default_value_t = DEFAULT_HOLD_POLICY.max_ttl_secs)]
    pub hold_ttl_max_secs: u32,
    /// Seconds between passes of the sweeper that deletes expired holds and compacts the ledger.
    #[arg(long, env = "STOCKD_SWEEP_INTERVAL", default_value_t = DEFAULT_SWEEP_INTERVAL_SECS)]
    pub sweep_interval_secs: u64,
    /// Days the sweeper keeps the history of source-item quantities and adjustments' keys
    /// (0: forever).
    #[arg(long, env = "STOCKD_HISTORY_RETENTION_DAYS", default_value_t = DEFAULT_HISTORY_RETENTION_DAYS)]
    pub history_retention_days: u32,
    /// Seconds between checks of the tokens file and the TLS certificate and key for new content,
    /// which is then loaded without a restart (0: only on SIGHUP).
    #[arg(long, env = "STOCKD_RELOAD_INTERVAL", default_value_t = DEFAULT_RELOAD_INTERVAL_SECS)]
    pub reload_interval_secs: u64,
    /// Who may call.
    #[command(flatten)]
    pub auth: AuthConfig,
    /// Optional TLS.
    #[command(flatten)]
    pub tls: TlsConfig,
    /// Traces, metrics and the database readiness check.
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    /// Standbys that answer reads which feed no decision.
    #[command(flatten)]
    pub read_replicas: ReadReplicaConfig,
}

/// Read replicas: streaming standbys of the primary (docs/operations.md, "Read replicas").
#[derive(Debug, Clone, Args)]
pub struct ReadReplicaConfig {
    /// PostgreSQL URL of a streaming standby; repeat the flag, or separate URLs with commas or
    /// spaces (a comma inside one URL's host list stays part of it).
    #[arg(
        long = "read-database-url",
        env = "STOCKD_READ_DATABASE_URL",
        hide_env_values = true
    )]
    pub read_database_urls: Vec<SecretString>,
    /// Milliseconds a standby may be behind the primary and still serve reads.
    #[arg(
        long,
        env = "STOCKD_READ_REPLICA_MAX_LAG_MS",
        default_value_t = DEFAULT_READ_REPLICA_MAX_LAG_MS
    )]
    pub read_replica_max_lag_ms: u64,
}

/// How far behind a standby may be unless configured: 1 second.
pub const DEFAULT_READ_REPLICA_MAX_LAG_MS: u64 = 1_000;

impl ReadReplicaConfig {
    /// Each standby's URL, the lists split apart.
    pub fn urls(&self) -> Vec<SecretString> {
        self.read_database_urls
            .iter()
            .flat_map(|list| split_urls(list.expose_secret()))
            .map(SecretString::from)
            .collect()
    }

    /// The lag bound as a duration.
    pub fn max_lag(&self) -> Duration {
        Duration::from_millis(self.read_replica_max_lag_ms)
    }

    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.read_replica_max_lag_ms == 0 {
            return Err("STOCKD_READ_REPLICA_MAX_LAG_MS must be at least 1".into());
        }
        Ok(())
    }
}

/// Splits a list of URLs at spaces, and at commas that start another `postgres://` or
/// `postgresql://` URL, so that a multi-host URL (`postgres://a:5432,b:5432/db`) stays whole.
fn split_urls(list: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for word in list.split_whitespace() {
        let mut current = String::new();
        for piece in word.split(',').filter(|piece| !piece.is_empty()) {
            let starts_url = piece.starts_with("postgres://") || piece.starts_with("postgresql://");
            if starts_url && !current.is_empty() {
                urls.push(std::mem::take(&mut current));
            } else if !current.is_empty() {
                current.push(',');
            }
            current.push_str(piece);
        }
        if !current.is_empty() {
            urls.push(current);
        }
    }
    urls
}

/// TLS from a certificate and key; without them gRPC is plaintext (TLS then belongs to the
/// platform: a mesh or the ingress).
#[derive(Debug, Clone, Args)]
pub struct TlsConfig {
    /// PEM certificate chain.
    #[arg(long, env = "STOCKD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key.
    #[arg(long, env = "STOCKD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// With TLS, also serve grpc.health.v1 in plaintext here, for the kubelet's probes.
    #[arg(long, env = "STOCKD_PLAINTEXT_HEALTH_ADDR")]
    pub plaintext_health_addr: Option<SocketAddr>,
}

/// Authentication: a tokens file, or an explicit choice to run without (docs/security.md).
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// File of token hashes with their roles and sources (see `stockd hash-token`).
    #[arg(long, env = "STOCKD_AUTH_TOKENS_FILE")]
    pub auth_tokens_file: Option<std::path::PathBuf>,
    /// Serve without authentication (local development only).
    #[arg(long, env = "STOCKD_AUTH_DISABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub auth_disabled: bool,
}

/// Traces, metrics and readiness (docs/operations.md).
#[derive(Debug, Clone, Args)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector to export traces to: `http://` in plaintext, `https://` over TLS;
    /// unset: no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// PEM CA certificates that verify an `https://` collector instead of the system's roots.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_CERTIFICATE")]
    pub otlp_certificate: Option<std::path::PathBuf>,
    /// PEM client certificate chain for an `https://` collector that asks for one (mutual TLS).
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        requires = "otlp_client_key"
    )]
    pub otlp_client_certificate: Option<std::path::PathBuf>,
    /// PEM private key of that client certificate.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        requires = "otlp_client_certificate"
    )]
    pub otlp_client_key: Option<std::path::PathBuf>,
    /// `service.name` of exported traces [default: stockd].
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub otel_service_name: Option<String>,
    /// Address of the Prometheus endpoint (`GET /metrics`); unset: no metrics.
    #[arg(long, env = "STOCKD_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Milliseconds between database checks of readiness.
    #[arg(long, env = "STOCKD_DB_CHECK_INTERVAL", default_value_t = crate::readiness::DEFAULT_DB_CHECK_INTERVAL_MS)]
    pub db_check_interval_ms: u64,
    /// Milliseconds one database check may take before the database counts as unreachable.
    #[arg(long, env = "STOCKD_DB_CHECK_TIMEOUT", default_value_t = crate::readiness::DEFAULT_DB_CHECK_TIMEOUT_MS)]
    pub db_check_timeout_ms: u64,
}

impl TelemetryConfig {
    /// Where to export traces, when an endpoint is set (an empty variable counts as unset).
    pub fn otlp(&self) -> Option<crate::telemetry::OtlpExport> {
        let endpoint = self
            .otlp_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())?;
        Some(crate::telemetry::OtlpExport {
            endpoint: endpoint.trim().to_owned(),
            service_name: self.otel_service_name.clone().filter(|n| !n.is_empty()),
            certificate: self.otlp_certificate.clone(),
            client_identity: self
                .otlp_client_certificate
                .clone()
                .zip(self.otlp_client_key.clone()),
        })
    }

    /// The readiness check's timing.
    pub fn db_check(&self) -> crate::readiness::DbCheck {
        crate::readiness::DbCheck {
            interval: Duration::from_millis(self.db_check_interval_ms),
            timeout: Duration::from_millis(self.db_check_timeout_ms),
        }
    }

    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.db_check_interval_ms == 0 || self.db_check_timeout_ms == 0 {
            return Err(
                "STOCKD_DB_CHECK_INTERVAL and STOCKD_DB_CHECK_TIMEOUT must be at least 1".into(),
            );
        }
        let Some(otlp) = self.otlp() else {
            return Ok(());
        };
        let uri = otlp.endpoint.parse::<http::Uri>().ok();
        let scheme = uri.as_ref().and_then(http::Uri::scheme_str);
        let host = uri.as_ref().and_then(http::Uri::host);
        if !matches!(scheme, Some("http" | "https")) || host.is_none_or(str::is_empty) {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT ({}) must be a gRPC URL such as \
                 http://otel-collector:4317, or https://… for TLS",
                otlp.endpoint
            ));
        }
        if scheme == Some("http") && (otlp.certificate.is_some() || otlp.client_identity.is_some())
        {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE apply to \
                 TLS only: the endpoint {} is plaintext; use https://",
                otlp.endpoint
            ));
        }
        Ok(())
    }
}

/// Target of `stockd health-check`.
#[derive(Debug, Clone, Args)]
pub struct HealthCheckConfig {
    /// gRPC address of the stockd to ask.
    #[arg(
        long,
        env = "STOCKD_HEALTH_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub addr: String,
    /// Health service name; empty asks about the process as a whole.
    #[arg(long, default_value = "")]
    pub service: String,
}

impl DatabaseConfig {
    /// The acquire timeout as a duration.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs)
    }
}

impl ServeConfig {
    /// The cart hold time-to-live rules; a default above the maximum is a configuration error.
    pub fn hold_policy(&self) -> Result<HoldPolicy, String> {
        if self.hold_ttl_default_secs == 0 || self.hold_ttl_default_secs > self.hold_ttl_max_secs {
            return Err(format!(
                "STOCKD_HOLD_TTL_DEFAULT ({}) must be between 1 and STOCKD_HOLD_TTL_MAX ({})",
                self.hold_ttl_default_secs, self.hold_ttl_max_secs
            ));
        }
        Ok(HoldPolicy {
            default_ttl_secs: self.hold_ttl_default_secs,
            max_ttl_secs: self.hold_ttl_max_secs,
        })
    }

    /// The availability cache's time to live and size.
    pub fn availability_cache(&self) -> AvailabilityCacheConfig {
        AvailabilityCacheConfig {
            ttl: Duration::from_millis(self.availability_cache_ms),
            max_skus: self.availability_cache_skus,
        }
    }

    /// The sweeper's period.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs.max(1))
    }

    /// How long history is kept; `None` keeps it forever.
    pub fn history_retention(&self) -> Option<Duration> {
        (self.history_retention_days > 0)
            .then(|| Duration::from_secs(u64::from(self.history_retention_days) * 86_400))
    }

    /// How PlaceOrder batches form, from the two batch settings.
    pub fn order_batching(&self) -> OrderBatching {
        OrderBatching {
            in_flight: self.order_batches,
            min_waiting: self.order_batch_min_waiting,
        }
    }

    /// The shutdown grace period as a duration.
    pub fn shutdown_grace_period(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_period_secs)
    }

    /// The reload check's period; zero checks only on SIGHUP.
    pub fn reload_interval(&self) -> Duration {
        Duration::from_secs(self.reload_interval_secs)
    }

    /// The shutdown delay as a duration.
    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }

    /// Cross-field checks clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        self.telemetry.validate()?;
        self.read_replicas.validate()?;
        if self.database.db_max_connections == 0 {
            return Err("STOCKD_DB_MAX_CONNECTIONS must be at least 1".into());
        }
        if self.order_batches == 0 {
            return Err("STOCKD_ORDER_BATCHES must be at least 1".into());
        }
        if self.order_batch_min_waiting == 0 {
            return Err("STOCKD_ORDER_BATCH_MIN_WAITING must be at least 1".into());
        }
        // The cache's listener keeps one pooled connection for itself.
        if self.availability_cache_ms > 0 && self.database.db_max_connections < 2 {
            return Err(
                "the availability cache (STOCKD_AVAILABILITY_CACHE_MS, on by default) needs \
                 STOCKD_DB_MAX_CONNECTIONS of at least 2; or set STOCKD_AVAILABILITY_CACHE_MS=0"
                    .into(),
            );
        }
        match (&self.auth.auth_tokens_file, self.auth.auth_disabled) {
            (None, false) => Err(
                "set STOCKD_AUTH_TOKENS_FILE, or STOCKD_AUTH_DISABLED=true to \
                 serve without authentication"
                    .into(),
            ),
            (Some(_), true) => Err(
                "STOCKD_AUTH_TOKENS_FILE and STOCKD_AUTH_DISABLED=true contradict each other"
                    .into(),
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeConfig {
        let base = [
            "stockd",
            "serve",
            "--database-url",
            "postgres://localhost/stockd",
            "--auth-disabled",
            "true",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(args)).unwrap();
        match cli.command {
            Command::Serve(config) => *config,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn the_availability_cache_needs_a_second_pooled_connection() {
        let cache_on = ["--availability-cache-ms", "60000"];
        let one = serve(&[&cache_on[..], &["--db-max-connections", "1"]].concat());
        assert!(one.validate().unwrap_err().contains("at least 2"));
        let two = serve(&[&cache_on[..], &["--db-max-connections", "2"]].concat());
        assert_eq!(two.validate(), Ok(()));
        let by_default = serve(&["--db-max-connections", "1"]);
        assert!(by_default.validate().unwrap_err().contains("at least 2"));
        let off = serve(&["--db-max-connections", "1", "--availability-cache-ms", "0"]);
        assert_eq!(off.validate(), Ok(()));
    }

    #[test]
    fn otlp_endpoints_are_http_or_https_urls_and_certificates_need_https() {
        let endpoint = |url: &str| serve(&["--otlp-endpoint", url]).validate();
        assert_eq!(endpoint("http://otel-collector:4317"), Ok(()));
        assert_eq!(endpoint("https://otel-collector:4317"), Ok(()));
        for wrong in [
            "otel-collector:4317",
            "grpc://otel-collector:4317",
            "https://",
        ] {
            assert!(endpoint(wrong).unwrap_err().contains("gRPC URL"), "{wrong}");
        }
        let ca = ["--otlp-certificate", "/etc/otel/ca.crt"];
        let over_tls = serve(&[&["--otlp-endpoint", "https://c:4317"], &ca[..]].concat());
        assert_eq!(over_tls.validate(), Ok(()));
        assert_eq!(
            over_tls.telemetry.otlp().unwrap().certificate,
            Some("/etc/otel/ca.crt".into())
        );
        let plaintext = serve(&[&["--otlp-endpoint", "http://c:4317"], &ca[..]].concat());
        assert!(plaintext.validate().unwrap_err().contains("TLS only"));
    }

    #[test]
    fn an_otlp_client_certificate_comes_with_its_key() {
        let base = [
            "stockd",
            "serve",
            "--database-url",
            "postgres://localhost/stockd",
            "--otlp-endpoint",
            "https://c:4317",
        ];
        let alone = base.iter().chain(&["--otlp-client-certificate", "/c.crt"]);
        assert!(Cli::try_parse_from(alone).is_err());
        let both = serve(&[
            "--otlp-endpoint",
            "https://c:4317",
            "--otlp-client-certificate",
            "/c.crt",
            "--otlp-client-key",
            "/c.key",
        ]);
        assert_eq!(
            both.telemetry.otlp().unwrap().client_identity,
            Some(("/c.crt".into(), "/c.key".into()))
        );
    }

    #[test]
    fn shutdown_serves_on_for_five_seconds_unless_told_otherwise() {
        assert_eq!(serve(&[]).shutdown_delay(), Duration::from_secs(5));
        let none = serve(&["--shutdown-delay-secs", "0"]);
        assert_eq!(none.shutdown_delay(), Duration::ZERO);
    }

    #[test]
    fn the_availability_cache_is_on_for_a_minute_unless_turned_off() {
        let default = serve(&[]).availability_cache();
        assert_eq!(default.ttl, Duration::from_secs(60));
        assert_eq!(default.max_skus, 200_000);
        let off = serve(&["--availability-cache-ms", "0"]).availability_cache();
        assert_eq!(off.ttl, Duration::ZERO);
    }

    #[test]
    fn history_is_kept_ninety_days_unless_set_and_zero_keeps_it_forever() {
        assert_eq!(
            serve(&[]).history_retention(),
            Some(Duration::from_secs(90 * 86_400))
        );
        let week = serve(&["--history-retention-days", "7"]);
        assert_eq!(
            week.history_retention(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            serve(&["--history-retention-days", "0"]).history_retention(),
            None
        );
    }

    #[test]
    fn order_batches_default_to_two_and_cannot_be_zero() {
        assert_eq!(serve(&[]).order_batches, 2);
        let none = serve(&["--order-batches", "0"]);
        assert!(
            none.validate()
                .unwrap_err()
                .contains("STOCKD_ORDER_BATCHES")
        );
        assert_eq!(serve(&["--order-batches", "8"]).validate(), Ok(()));
    }

    #[test]
    fn order_batches_wait_for_eight_orders_before_running_side_by_side() {
        let default = serve(&[]);
        assert_eq!(
            default.order_batching(),
            OrderBatching {
                in_flight: 2,
                min_waiting: 8
            }
        );
        let zero = serve(&["--order-batch-min-waiting", "0"]);
        assert!(
            zero.validate()
                .unwrap_err()
                .contains("STOCKD_ORDER_BATCH_MIN_WAITING")
        );
        let eager = serve(&["--order-batch-min-waiting", "1", "--order-batches", "3"]);
        assert_eq!(eager.validate(), Ok(()));
        assert_eq!(eager.order_batching().min_waiting, 1);
        assert_eq!(eager.order_batching().in_flight, 3);
    }

    fn urls(config: &ServeConfig) -> Vec<String> {
        let urls = config.read_replicas.urls();
        urls.iter().map(|u| u.expose_secret().to_owned()).collect()
    }

    #[test]
    fn read_replica_urls_split_at_spaces_and_at_commas_before_a_scheme() {
        assert!(urls(&serve(&[])).is_empty());
        let listed = serve(&[
            "--read-database-url",
            "postgres://a/db,postgresql://b:1,c:2/db  postgres://d/db,",
            "--read-database-url",
            "postgres://e/db",
        ]);
        assert_eq!(
            urls(&listed),
            [
                "postgres://a/db",
                "postgresql://b:1,c:2/db",
                "postgres://d/db",
                "postgres://e/db"
            ]
        );
    }

    #[test]
    fn read_replicas_may_lag_a_second_by_default_and_not_zero() {
        assert_eq!(serve(&[]).read_replicas.max_lag(), Duration::from_secs(1));
        let zero = serve(&["--read-replica-max-lag-ms", "0"]);
        assert!(
            zero.validate()
                .unwrap_err()
                .contains("STOCKD_READ_REPLICA_MAX_LAG_MS")
        );
    }

    #[test]
    fn worker_threads_follow_the_cores_unless_set_and_cannot_be_zero() {
        assert_eq!(serve(&[]).worker_threads, None);
        assert_eq!(serve(&["--worker-threads", "1"]).worker_threads, Some(1));
        let zero = [
            "stockd",
            "serve",
            "--database-url",
            "postgres://localhost/stockd",
            "--worker-threads",
            "0",
        ];
        let error = Cli::try_parse_from(zero).unwrap_err();
        assert!(error.to_string().contains("worker-threads"), "{error}");
    }
}
