//! Keeping the pool on the primary when DATABASE_URL names several servers (or asks for
//! `target_session_attrs=read-write`): stockd writes, so a standby is of no use to it.
//!
//! A task finds the server that is not in recovery, points the pool at it and watches it on a
//! connection of its own. When that server stops answering, or takes no writes any more, or a call
//! reports a lost connection or a read-only server, the task looks again, among every server
//! listed, until one accepts writes. Connections opened before the pool took the new primary
//! are dropped as they come back to the pool, so none keeps writing to a demoted server.
//! Meanwhile calls fail with UNAVAILABLE, as during any outage, and succeed once the pool
//! reaches the new primary.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{
    Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::{sync::Notify, task::JoinSet};

use super::targets::describe;

/// How often the primary is asked whether it still is one, when nothing gives cause sooner.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Longest a server may take to connect and answer before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between searches that found no primary (a promotion takes a moment).
const SEARCH_AGAIN_AFTER: Duration = Duration::from_millis(250);
/// Least time between two checks, however many calls report trouble meanwhile.
const MIN_CHECK_GAP: Duration = Duration::from_millis(100);

/// Calls that lost their connection or met a read-only server, across the process; each
/// follower checks its primary when told.
static TROUBLE: Notify = Notify::const_new();

/// Called where database errors are classified: a lost connection or a read-only server may
/// mean the primary moved, and the followers should look now rather than at their next check.
pub(crate) fn report_trouble() {
    TROUBLE.notify_waiters();
}

/// What a server said when asked: a connection to it and whether it refuses writes, or why not.
type Answer = Result<(PgConnection, bool), String>;

/// The servers, and since when the pool's primary has been its primary.
#[derive(Debug)]
pub(crate) struct Failover {
    hosts: Vec<PgConnectOptions>,
    started: Instant,
    /// Microseconds from `started` to the moment the pool last took a primary.
    taken_at_micros: AtomicU64,
    /// A new connection met a server that takes no writes: look now.
    look_now: Notify,
}

impl Failover {
    /// A pool that connects to the primary among `hosts` only, and the task that follows it
    /// until the pool is closed. Needs a Tokio runtime.
    pub(crate) fn start(
        hosts: Vec<PgConnectOptions>,
        options: PgPoolOptions,
    ) -> Result<PgPool, sqlx::Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            sqlx::Error::Configuration("following the primary needs a Tokio runtime".into())
        })?;
        let Some(first) = hosts.first().cloned() else {
            return Err(sqlx::Error::Configuration(
                "DATABASE_URL names no server".into(),
            ));
        };
        let failover = Arc::new(Failover {
            hosts,
            started: Instant::now(),
            taken_at_micros: AtomicU64::new(0),
            look_now: Notify::new(),
        });
        let pool = failover.clone().hooks(options).connect_lazy_with(first);
        runtime.spawn(failover.follow(pool.clone()));
        Ok(pool)
    }

    /// Rejects new connections to a server that takes no writes, and drops stale ones on their way out of the pool
    /// or back into it.
    fn hooks(self: Arc<Self>, options: PgPoolOptions) -> PgPoolOptions {
        let on_acquire = self.clone();
        let on_release = self.clone();
        options
            .after_connect(move |connection, _| {
                let failover = self.clone();
                Box::pin(async move {
                    if refuses_writes(connection).await? {
                        failover.look_now.notify_one();
                        return Err(sqlx::Error::Io(std::io::Error::other(
                            "reached a server that takes no writes; looking for the primary",
                        )));
                    }
                    Ok(())
                })
            })
            .before_acquire(move |connection, meta| {
                let stale = on_acquire.is_stale(meta.age);
                Box::pin(async move {
                    if stale {
                        return Ok(false);
                    }
                    super::ping_if_idle(connection, meta).await
                })
            })
            .after_release(move |_, meta| {
                let keep = !on_release.is_stale(meta.age);
                Box::pin(async move { Ok(keep) })
            })
    }

    /// True for a connection `age` old, opened before the pool took its current primary.
    fn is_stale(&self, age: Duration) -> bool {
        let taken_at = Duration::from_micros(self.taken_at_micros.load(Ordering::Relaxed));
        age > self.started.elapsed().saturating_sub(taken_at)
    }

    /// From now on, every open connection is stale.
    fn mark_taken(&self) {
        let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.taken_at_micros.store(now, Ordering::Relaxed);
    }

    /// Finds the primary, points the pool at it, watches it, and looks again when it is lost;
    /// until the pool is closed.
    async fn follow(self: Arc<Self>, pool: PgPool) {
        let closed = pool.close_event();
        tokio::select! {
            () = closed => {}
            () = self.keep_to_primary(&pool) => {}
        }
    }

    async fn keep_to_primary(&self, pool: &PgPool) {
        loop {
            let (index, connection) = self.find().await;
            self.take(pool, index);
            let lost = self.watch(connection).await;
            tracing::warn!(
                server = %describe(&self.hosts[index]),
                cause = %lost,
                "lost the primary; looking for it among the servers of DATABASE_URL"
            );
        }
    }

    /// Points new connections at `hosts[index]` and marks every older one stale.
    fn take(&self, pool: &PgPool, index: usize) {
        pool.set_connect_options(self.hosts[index].clone());
        self.mark_taken();
        tracing::info!(server = %describe(&self.hosts[index]), "connected to the primary");
    }

    /// Asks every server at once, again and again, until one accepts writes; the first listed
    /// of those wins. Returns its index and the connection that asked.
    async fn find(&self) -> (usize, PgConnection) {
        let mut told = false;
        loop {
            let mut answers = self.ask_all().await;
            let is_primary = |answer: &Answer| matches!(answer, Ok((_, false)));
            if answers.iter().filter(|a| is_primary(a)).count() > 1 {
                tracing::warn!(
                    servers = %self.summary(&answers),
                    "more than one server accepts writes; using the first listed"
                );
            }
            if let Some(index) = answers.iter().position(is_primary)
                && let Ok((connection, _)) = answers.remove(index)
            {
                close_all(answers).await;
                return (index, connection);
            }
            if !told {
                tracing::warn!(
                    servers = %self.summary(&answers),
                    "no server of DATABASE_URL accepts writes; looking again"
                );
                told = true;
            }
            close_all(answers).await;
            tokio::time::sleep(SEARCH_AGAIN_AFTER).await;
        }
    }

    /// Each server's answer, in the order of `hosts`.
    async fn ask_all(&self) -> Vec<Answer> {
        let mut asking = JoinSet::new();
        for (index, options) in self.hosts.iter().enumerate() {
            let options = options.clone();
            asking.spawn(async move { (index, ask(&options).await) });
        }
        let mut answers: Vec<_> = (0..self.hosts.len())
            .map(|_| Err("no answer".to_owned()))
            .collect();
        while let Some(joined) = asking.join_next().await {
            if let Ok((index, answer)) = joined {
                answers[index] = answer;
            }
        }
        answers
    }

    fn summary(&self, answers: &[Answer]) -> String {
        let states = self.hosts.iter().zip(answers).map(|(host, answer)| {
            let state = match answer {
                Ok((_, false)) => "primary".to_owned(),
                Ok((_, true)) => "read-only".to_owned(),
                Err(error) => error.clone(),
            };
            format!("{}: {state}", describe(host))
        });
        states.collect::<Vec<_>>().join("; ")
    }

    /// Checks the primary on its connection until it is lost; returns why.
    async fn watch(&self, mut connection: PgConnection) -> String {
        loop {
            tokio::select! {
                () = tokio::time::sleep(CHECK_INTERVAL) => {}
                () = self.look_now.notified() => {}
                () = TROUBLE.notified() => {}
            }
            match tokio::time::timeout(PROBE_TIMEOUT, refuses_writes(&mut connection)).await {
                Ok(Ok(false)) => {}
                Ok(Ok(true)) => {
                    let _ = connection.close().await;
                    return "it takes no writes now".to_owned();
                }
                Ok(Err(error)) => return error.to_string(),
                Err(_) => return format!("no answer within {} ms", PROBE_TIMEOUT.as_millis()),
            }
            tokio::time::sleep(MIN_CHECK_GAP).await;
        }
    }
}

/// Connects to one server and asks whether it takes writes.
async fn ask(options: &PgConnectOptions) -> Answer {
    let asked = async {
        let mut connection = PgConnection::connect_with(options).await?;
        let read_only = refuses_writes(&mut connection).await?;
        Ok::<_, sqlx::Error>((connection, read_only))
    };
    match tokio::time::timeout(PROBE_TIMEOUT, asked).await {
        Ok(answer) => answer.map_err(|error| error.to_string()),
        Err(_) => Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
    }
}

/// True for a server that takes no writes: a standby, or one fenced with
/// `default_transaction_read_only` (as libpq's `read-write` judges it).
async fn refuses_writes(connection: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT pg_is_in_recovery() OR current_setting('default_transaction_read_only')::bool",
    )
    .fetch_one(connection)
    .await
}

/// Closes the connections of the servers not taken, politely and without waiting long.
async fn close_all(answers: Vec<Answer>) {
    for (connection, _) in answers.into_iter().flatten() {
        let _ = tokio::time::timeout(PROBE_TIMEOUT, connection.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_the_primary_was_taken_are_stale() {
        let failover = Failover {
            hosts: vec![],
            started: Instant::now() - Duration::from_secs(60),
            taken_at_micros: AtomicU64::new(0),
            look_now: Notify::new(),
        };
        assert!(!failover.is_stale(Duration::from_secs(30)));
        failover.mark_taken();
        assert!(failover.is_stale(Duration::from_secs(30)));
        assert!(!failover.is_stale(Duration::ZERO));
    }
}
