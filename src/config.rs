//! Command line and environment: one typed struct per subcommand, parsed once in `main`.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::{domain::HoldPolicy, repo::DEFAULT_HOLD_POLICY};

/// Where the gRPC server listens unless told otherwise.
pub const DEFAULT_GRPC_ADDR: &str = "0.0.0.0:50051";
/// Connections per process; PostgreSQL's default `max_connections` is 100, shared by replicas.
pub const DEFAULT_DB_MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a pooled connection before answering UNAVAILABLE.
pub const DEFAULT_DB_ACQUIRE_TIMEOUT_SECS: u64 = 5;
/// How long in-flight requests may run after SIGTERM; Kubernetes' grace period must exceed it.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD_SECS: u64 = 20;

/// How often expired holds are deleted and closed orders' ledger rows compacted. Expiry itself
/// never waits for this: an expired hold stops counting at once.
pub const DEFAULT_SWEEP_INTERVAL_SECS: u64 = 30;

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
    Serve(ServeConfig),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseConfig),
    /// Load the small demo catalogue (idempotent) and exit.
    DemoData(DatabaseConfig),
    /// Ask a running stockd for its health; exit 0 only when SERVING.
    HealthCheck(HealthCheckConfig),
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
    /// Apply pending migrations at start (off when a deployment job runs `stockd migrate`).
    #[arg(long, env = "STOCKD_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
    /// Seconds a cart hold lives when the caller gives no time to live.
    #[arg(long, env = "STOCKD_HOLD_TTL_DEFAULT", default_value_t = DEFAULT_HOLD_POLICY.default_ttl_secs)]
    pub hold_ttl_default_secs: u32,
    /// The longest time to live, in seconds, a caller may ask for a cart hold.
    #[arg(long, env = "STOCKD_HOLD_TTL_MAX", default_value_t = DEFAULT_HOLD_POLICY.max_ttl_secs)]
    pub hold_ttl_max_secs: u32,
    /// Seconds between passes of the sweeper that deletes expired holds and compacts the ledger.
    #[arg(long, env = "STOCKD_SWEEP_INTERVAL", default_value_t = DEFAULT_SWEEP_INTERVAL_SECS)]
    pub sweep_interval_secs: u64,
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

    /// The sweeper's period.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs.max(1))
    }

    /// The shutdown grace period as a duration.
    pub fn shutdown_grace_period(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_period_secs)
    }

    /// Cross-field checks clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.database.db_max_connections == 0 {
            return Err("STOCKD_DB_MAX_CONNECTIONS must be at least 1".into());
        }
        Ok(())
    }
}
