//! Read replicas: streaming standbys that answer reads which feed no decision, while they are
//! close enough behind the primary (docs/decisions/0012-read-replicas.md).
//!
//! Lag is judged by WAL position, not by replay timestamps (which stand still while the primary
//! is idle and make a caught-up standby look stale). A sampler records the primary's WAL position
//! with the time the sample began; a checker per standby reads its replayed position and notes
//! the newest sample it has reached. A standby that has replayed a sample begun at `t` shows every
//! commit acknowledged before `t`, so `now - t` bounds how stale a read from it can be.

use std::{
    collections::VecDeque,
    future::Future,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{Connection, PgConnection, PgPool, postgres::PgConnectOptions};
use tokio_util::sync::CancellationToken;

use super::{Repo, RepoError};

/// How far behind the primary a standby may be and still serve reads, unless configured.
pub const DEFAULT_READ_REPLICA_MAX_LAG: Duration = Duration::from_millis(1_000);

/// Longest a sample or a standby check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Most primary samples kept: older ones only matter to a standby already too far behind.
const MAX_SAMPLES: usize = 4_096;

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// A monotonic instant as nanoseconds since the process's first use of it (never 0), so it fits
/// an atomic.
pub(super) fn monotonic_nanos() -> u64 {
    u64::try_from(EPOCH.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// One standby and what its checker last found.
#[derive(Debug)]
struct Standby {
    name: String,
    pool: PgPool,
    /// Answered its last check, as a standby.
    reachable: AtomicBool,
    /// When the newest primary sample it had replayed began (`monotonic_nanos`); 0: none yet.
    caught_up_at: AtomicU64,
    reads: AtomicU64,
}

impl Standby {
    fn lag_nanos(&self, now: u64) -> Option<u64> {
        let at = self.caught_up_at.load(Ordering::SeqCst);
        (at != 0).then(|| now.saturating_sub(at))
    }

    /// Whether reads may go to it at `now`: its last check answered, as a standby, and it is
    /// within the bound.
    fn healthy(&self, now: u64, max_lag_nanos: u64) -> bool {
        self.reachable.load(Ordering::SeqCst)
            && self.lag_nanos(now).is_some_and(|lag| lag <= max_lag_nanos)
    }
}

#[derive(Debug)]
struct Shared {
    standbys: Vec<Standby>,
    /// (when the sample began, the primary's WAL position), oldest first.
    samples: Mutex<VecDeque<(u64, u64)>>,
    max_lag_nanos: u64,
    next: AtomicUsize,
    primary_reads: AtomicU64,
}

/// The standbys reads may go to, shared by every clone of the repository.
#[derive(Debug, Clone)]
pub(crate) struct ReadReplicas(Arc<Shared>);

/// One read replica as the metrics endpoint shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadReplicaStats {
    /// `host:port` of the standby.
    pub name: String,
    /// Whether reads may go to it now.
    pub healthy: bool,
    /// How far behind the primary it was at its last check; `None` before it first caught up.
    pub lag: Option<Duration>,
    /// Reads it has answered.
    pub reads: u64,
}

/// Where routed reads went, for the metrics endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRoutingStats {
    /// Routed reads the primary answered (no standby was healthy, or one failed mid-read).
    pub primary_reads: u64,
    /// Each standby, in configuration order.
    pub replicas: Vec<ReadReplicaStats>,
}

impl ReadReplicas {
    /// Starts checking `standbys` against the primary of `primary` until `stop`; reads use a
    /// standby only once its checker has seen it caught up.
    pub(crate) fn start(
        primary: &PgPool,
        standbys: Vec<PgPool>,
        max_lag: Duration,
        stop: CancellationToken,
    ) -> Self {
        let shared = Arc::new(Shared {
            standbys: standbys
                .into_iter()
                .map(|pool| Standby {
                    name: name_of(pool.connect_options().as_ref()),
                    pool,
                    reachable: AtomicBool::new(false),
                    caught_up_at: AtomicU64::new(0),
                    reads: AtomicU64::new(0),
                })
                .collect(),
            samples: Mutex::new(VecDeque::new()),
            max_lag_nanos: u64::try_from(max_lag.as_nanos()).unwrap_or(u64::MAX),
            next: AtomicUsize::new(0),
            primary_reads: AtomicU64::new(0),
        });
        let interval = check_interval(max_lag);
        let options = (*primary.connect_options()).clone();
        tokio::spawn(sample_primary(
            Arc::clone(&shared),
            options,
            interval,
            stop.clone(),
        ));
        for index in 0..shared.standbys.len() {
            tokio::spawn(check_standby(
                Arc::clone(&shared),
                index,
                interval,
                stop.clone(),
            ));
        }
        Self(shared)
    }

    /// A healthy standby that has replayed a primary sample begun after `after` (0: any), taking
    /// turns between them.
    fn pick(&self, after: u64) -> Option<&Standby> {
        let standbys = &self.0.standbys;
        let now = monotonic_nanos();
        let start = self.0.next.fetch_add(1, Ordering::Relaxed);
        (0..standbys.len())
            .map(|i| &standbys[(start + i) % standbys.len()])
            .find(|standby| {
                standby.healthy(now, self.0.max_lag_nanos)
                    && standby.caught_up_at.load(Ordering::SeqCst) > after
            })
    }

    /// Where routed reads went, and each standby's state now.
    fn stats(&self) -> ReadRoutingStats {
        let now = monotonic_nanos();
        let replicas = self
            .0
            .standbys
            .iter()
            .map(|standby| ReadReplicaStats {
                name: standby.name.clone(),
                healthy: standby.healthy(now, self.0.max_lag_nanos),
                lag: standby.lag_nanos(now).map(Duration::from_nanos),
                reads: standby.reads.load(Ordering::Relaxed),
            })
            .collect();
        ReadRoutingStats {
            primary_reads: self.0.primary_reads.load(Ordering::Relaxed),
            replicas,
        }
    }

    /// Closes every standby's pool.
    async fn close(&self) {
        for standby in &self.0.standbys {
            standby.pool.close().await;
        }
    }
}

impl Repo {
    /// Lets reads that feed no decision go to `standbys` while they are within `max_lag` of the
    /// primary, checking them until `stop` (no standbys: every read stays on the primary).
    pub fn with_read_replicas(
        mut self,
        standbys: Vec<PgPool>,
        max_lag: Duration,
        stop: CancellationToken,
    ) -> Self {
        if !standbys.is_empty() {
            self.read_replicas = Some(ReadReplicas::start(&self.pool, standbys, max_lag, stop));
        }
        self
    }

    /// Where routed reads went and each read replica's state; `None` without read replicas.
    pub fn read_routing_stats(&self) -> Option<ReadRoutingStats> {
        self.read_replicas.as_ref().map(ReadReplicas::stats)
    }

    /// Closes the read replicas' pools, at shutdown.
    pub async fn close_read_replicas(&self) {
        if let Some(replicas) = &self.read_replicas {
            replicas.close().await;
        }
    }

    /// Runs `read` on a healthy read replica when there is one, else on the primary. `after` is
    /// a `monotonic_nanos` instant the replica must have caught up past (0: none). A replica
    /// that fails the read is passed over and the primary answers instead; so does a NOT_FOUND,
    /// which may only mean the replica has not replayed the write that created the thing yet.
    /// Any other client's mistake (invalid, refused) is the answer whoever found it.
    pub(super) async fn read_anywhere<T, F, Fut>(&self, after: u64, read: F) -> Result<T, RepoError>
    where
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = Result<T, RepoError>>,
    {
        if let Some(replicas) = &self.read_replicas {
            if let Some(standby) = replicas.pick(after) {
                match read(standby.pool.clone()).await {
                    Ok(answer) => {
                        standby.reads.fetch_add(1, Ordering::Relaxed);
                        return Ok(answer);
                    }
                    Err(error) if !falls_back(&error) => return Err(error),
                    Err(RepoError::NotFound { .. }) => {}
                    Err(error) => {
                        if matches!(error, RepoError::Unavailable(_)) {
                            standby.reachable.store(false, Ordering::SeqCst);
                        }
                        tracing::warn!(replica = %standby.name, %error,
                            "a read replica failed a read; the primary answers it");
                    }
                }
            }
            replicas.0.primary_reads.fetch_add(1, Ordering::Relaxed);
        }
        read(self.pool.clone()).await
    }
}

/// Answers the primary may give differently: the replica's own failures, and NOT_FOUND.
fn falls_back(error: &RepoError) -> bool {
    matches!(
        error,
        RepoError::Unavailable(_)
            | RepoError::Aborted(_)
            | RepoError::Database(_)
            | RepoError::NotFound { .. }
    )
}

/// A standby's name in logs and metrics: where it is, never who connects.
fn name_of(options: &PgConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}

/// Checks often enough that a caught-up standby never looks older than a quarter of the bound.
fn check_interval(max_lag: Duration) -> Duration {
    (max_lag / 4).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

/// Records the primary's WAL position every `interval`, on a connection of its own.
async fn sample_primary(
    shared: Arc<Shared>,
    options: PgConnectOptions,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut conn: Option<PgConnection> = None;
    let mut failing = false;
    while !stop.is_cancelled() {
        let began = monotonic_nanos();
        let sampled = tokio::time::timeout(CHECK_TIMEOUT, primary_lsn(&mut conn, &options)).await;
        match sampled {
            Ok(Ok(lsn)) => {
                failing = false;
                if let Ok(mut samples) = shared.samples.lock() {
                    samples.push_back((began, lsn));
                    prune(&mut samples, began.saturating_sub(shared.max_lag_nanos));
                }
            }
            failed => {
                conn = None;
                if !failing {
                    let error =
                        failed.map_or_else(|_| "timed out".to_owned(), |e| format!("{e:?}"));
                    tracing::warn!(%error, "cannot read the primary's WAL position; \
                        read replicas go stale until it answers");
                }
                failing = true;
            }
        }
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Drops samples begun before `before`, keeping the newest of them: a standby that reached only
/// that one is still known to have caught up then.
fn prune(samples: &mut VecDeque<(u64, u64)>, before: u64) {
    while samples.len() > MAX_SAMPLES
        || (samples.len() > 1 && samples.get(1).is_some_and(|(at, _)| *at < before))
    {
        samples.pop_front();
    }
}

async fn primary_lsn(
    conn: &mut Option<PgConnection>,
    options: &PgConnectOptions,
) -> Result<u64, sqlx::Error> {
    let conn = connected(conn, options).await?;
    let lsn: i64 = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
        .fetch_one(conn)
        .await?;
    Ok(lsn.unsigned_abs())
}

async fn connected<'c>(
    conn: &'c mut Option<PgConnection>,
    options: &PgConnectOptions,
) -> Result<&'c mut PgConnection, sqlx::Error> {
    if conn.is_none() {
        *conn = Some(PgConnection::connect_with(options).await?);
    }
    conn.as_mut()
        .ok_or_else(|| sqlx::Error::Protocol("no connection".into()))
}

/// What a standby check found.
#[derive(Debug)]
enum Found {
    /// A standby that has replayed up to this WAL position.
    Replayed(u64),
    /// A server out of recovery: promoted, or never a standby.
    NotAStandby,
}

/// Reads one standby's replayed WAL position every `interval`, on a connection of its own, and
/// notes the newest primary sample it has reached.
async fn check_standby(
    shared: Arc<Shared>,
    index: usize,
    interval: Duration,
    stop: CancellationToken,
) {
    let Some(standby) = shared.standbys.get(index) else {
        return;
    };
    let options = (*standby.pool.connect_options()).clone();
    let mut conn: Option<PgConnection> = None;
    let mut was_reachable = None;
    while !stop.is_cancelled() {
        let checked = tokio::time::timeout(CHECK_TIMEOUT, replayed(&mut conn, &options)).await;
        let problem = match checked {
            Ok(Ok(Found::Replayed(lsn))) => {
                note_caught_up(&shared, standby, lsn);
                None
            }
            Ok(Ok(Found::NotAStandby)) => Some("it is not in recovery".to_owned()),
            Ok(Err(error)) => Some(format!("it is unreachable: {error}")),
            Err(_) => Some("its check timed out".to_owned()),
        };
        let reachable = problem.is_none();
        if !reachable {
            conn = None;
        }
        match (&problem, was_reachable) {
            (Some(problem), None | Some(true)) => {
                tracing::warn!(replica = %standby.name, "reads skip a read replica: {problem}");
            }
            (None, None | Some(false)) => {
                tracing::info!(replica = %standby.name, "a read replica answers");
            }
            _ => {}
        }
        was_reachable = Some(reachable);
        standby.reachable.store(reachable, Ordering::SeqCst);
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

async fn replayed(
    conn: &mut Option<PgConnection>,
    options: &PgConnectOptions,
) -> Result<Found, sqlx::Error> {
    let conn = connected(conn, options).await?;
    let (in_recovery, lsn): (bool, Option<i64>) = sqlx::query_as(
        "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint",
    )
    .fetch_one(conn)
    .await?;
    Ok(match (in_recovery, lsn) {
        (true, Some(lsn)) => Found::Replayed(lsn.unsigned_abs()),
        _ => Found::NotAStandby,
    })
}

/// Moves the standby's catch-up time to the newest sample at or below its replayed position.
fn note_caught_up(shared: &Shared, standby: &Standby, replayed: u64) {
    let reached = (shared.samples.lock().ok()).and_then(|samples| reached(&samples, replayed));
    if let Some(at) = reached {
        standby.caught_up_at.fetch_max(at, Ordering::SeqCst);
    }
}

/// When the newest sample at or below `replayed` began, if any.
fn reached(samples: &VecDeque<(u64, u64)>, replayed: u64) -> Option<u64> {
    samples
        .iter()
        .rev()
        .find(|(_, lsn)| *lsn <= replayed)
        .map(|(at, _)| *at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_run_four_times_per_bound_within_limits() {
        assert_eq!(
            check_interval(Duration::from_secs(1)),
            Duration::from_millis(250)
        );
        assert_eq!(
            check_interval(Duration::from_millis(10)),
            Duration::from_millis(20)
        );
        assert_eq!(
            check_interval(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn pruning_keeps_the_newest_sample_older_than_the_bound() {
        let mut samples: VecDeque<(u64, u64)> = [(10, 1), (20, 2), (30, 3)].into();
        prune(&mut samples, 25);
        assert_eq!(samples, VecDeque::from([(20, 2), (30, 3)]));
        prune(&mut samples, 100);
        assert_eq!(samples, VecDeque::from([(30, 3)]));
    }

    #[test]
    fn a_standby_has_caught_up_with_the_newest_sample_it_has_replayed() {
        // An idle primary repeats its position: a standby there has caught up with the newest.
        let idle: VecDeque<(u64, u64)> = [(10, 500), (20, 500), (30, 500)].into();
        assert_eq!(reached(&idle, 500), Some(30));
        let busy: VecDeque<(u64, u64)> = [(10, 100), (20, 200), (30, 300)].into();
        assert_eq!(reached(&busy, 250), Some(20));
        assert_eq!(reached(&busy, 300), Some(30));
        assert_eq!(reached(&busy, 99), None, "behind every sample kept");
    }

    #[test]
    fn monotonic_instants_are_never_zero() {
        assert!(monotonic_nanos() > 0);
    }
}
