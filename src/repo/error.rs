//! What can go wrong below the gRPC layer, classified for the caller.

use crate::{
    domain::{LineRefusal, stock_count::StaleCount},
    validation::FieldViolation,
};

/// PostgreSQL error codes we act on (https://www.postgresql.org/docs/15/errcodes-appendix.html).
pub mod pg_codes {
    /// unique_violation: a key that must be new already exists.
    pub const UNIQUE_VIOLATION: &str = "23505";
    /// foreign_key_violation: a referenced row is missing.
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    /// serialization_failure: the transaction lost a race and may simply be run again.
    pub const SERIALIZATION_FAILURE: &str = "40001";
    /// deadlock_detected: as above, PostgreSQL chose this transaction as the victim.
    pub const DEADLOCK_DETECTED: &str = "40P01";
    /// read_only_sql_transaction: we reached a standby; another attempt may reach the primary.
    pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
    /// admin_shutdown: the server is going away.
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    /// cannot_connect_now: the server is starting or recovering.
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
}

/// Errors of the repository layer; `grpc::status` turns each into one gRPC status.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The resource the request is about does not exist.
    #[error("{kind} {name} not found")]
    NotFound {
        /// Resource type, e.g. "source".
        kind: &'static str,
        /// Its name or key.
        name: String,
    },
    /// The resource to create exists already.
    #[error("{kind} {name} already exists")]
    AlreadyExists {
        /// Resource type.
        kind: &'static str,
        /// Its name or key.
        name: String,
    },
    /// The request is malformed in a way only the stored data reveals (e.g. an unknown source in a batch).
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// The request is valid but the current state forbids it; retrying will not help.
    #[error("{message}")]
    FailedPrecondition {
        /// Stable reason code for machines.
        reason: &'static str,
        /// Lowercase explanation.
        message: String,
    },
    /// Lines of an order, hold or cancellation that the current stock or order refuses;
    /// nothing was changed.
    #[error("{} line(s) refused", .0.len())]
    Refused(Vec<LineRefusal>),
    /// The database cannot be reached now; the same call may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The transaction kept losing races after our own retries.
    #[error("transaction aborted by a concurrent change")]
    Aborted(#[source] sqlx::Error),
    /// Anything else the database said.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Orders already queued have waited too long for this caller's deadline, so it would not
    /// be answered in time; it was not placed and may be retried.
    #[error(
        "too many orders are waiting: the oldest has waited {} ms, too long for the call's deadline; the order was not placed",
        .waited.as_millis()
    )]
    Overloaded {
        /// How long the oldest waiting order had waited.
        waited: std::time::Duration,
    },
    /// Items of a compare-and-set write whose stored quantity is not the one the caller expected;
    /// nothing was written, and the caller should read again and redo its change.
    #[error("{} source item(s) changed since they were read", .0.len())]
    StaleCounts(Vec<StaleCount>),
    /// A stored row breaks an invariant the schema should have kept.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl RepoError {
    /// True when running the whole transaction again may succeed.
    pub fn is_retryable_conflict(&self) -> bool {
        matches!(self, RepoError::Aborted(_))
    }

    /// The same failure for another caller of a batch that failed as a whole: the kind and
    /// the text are kept, the database's own error is not (it cannot be copied).
    pub(crate) fn for_another_caller(&self) -> RepoError {
        let cause = || sqlx::Error::Protocol(self.to_string());
        match self {
            RepoError::NotFound { kind, name } => RepoError::NotFound {
                kind,
                name: name.clone(),
            },
            RepoError::AlreadyExists { kind, name } => RepoError::AlreadyExists {
                kind,
                name: name.clone(),
            },
            RepoError::Invalid(violations) => RepoError::Invalid(violations.clone()),
            RepoError::FailedPrecondition { reason, message } => RepoError::FailedPrecondition {
                reason,
                message: message.clone(),
            },
            RepoError::Refused(refusals) => RepoError::Refused(refusals.clone()),
            RepoError::Unavailable(_) => RepoError::Unavailable(cause()),
            RepoError::Aborted(_) => RepoError::Aborted(cause()),
            RepoError::Database(_) => RepoError::Database(cause()),
            RepoError::Overloaded { waited } => RepoError::Overloaded { waited: *waited },
            RepoError::StaleCounts(stale) => RepoError::StaleCounts(stale.clone()),
            RepoError::Corrupt(text) => RepoError::Corrupt(text.clone()),
        }
    }

    /// The single invalid field, for checks that find one problem.
    pub fn invalid(field: impl Into<String>, description: impl std::fmt::Display) -> Self {
        RepoError::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<sqlx::Error> for RepoError {
    fn from(error: sqlx::Error) -> Self {
        let classified = classify(error);
        if matches!(classified, RepoError::Unavailable(_)) {
            // A lost connection or a read-only server may mean the primary moved.
            super::failover::report_trouble();
        }
        classified
    }
}

/// The kind of failure a database error is, for the caller.
fn classify(error: sqlx::Error) -> RepoError {
    match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => RepoError::Unavailable(error),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(pg_codes::SERIALIZATION_FAILURE | pg_codes::DEADLOCK_DETECTED) => {
                RepoError::Aborted(error)
            }
            Some(
                pg_codes::READ_ONLY_SQL_TRANSACTION
                | pg_codes::ADMIN_SHUTDOWN
                | pg_codes::CANNOT_CONNECT_NOW,
            ) => RepoError::Unavailable(error),
            Some(code) if code.starts_with("08") => RepoError::Unavailable(error),
            _ => RepoError::Database(error),
        },
        _ => RepoError::Database(error),
    }
}

/// True when `error` is PostgreSQL's `code` (e.g. a unique violation the caller expects).
pub fn is_pg_code(error: &sqlx::Error, code: &str) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(code))
}
