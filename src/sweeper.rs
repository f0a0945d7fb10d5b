//! The background sweeper: deletes expired cart holds and closed orders' ledger rows in batches,
//! and source-item history past its retention. Correctness never depends on it (expired holds
//! already stop counting); it keeps tables small.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{observability::Metrics, repo::Repo};

/// Rows deleted per statement, so a pass never holds locks for long.
pub const BATCH: u32 = 1000;

/// A running sweeper; `stop` ends it between passes.
#[derive(Debug)]
pub struct Sweeper {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Starts sweeping every `interval`, removing history older than `history_retention` (`None`:
/// never), and counting what it compacts in `metrics` when given.
pub fn spawn(
    repo: Repo,
    interval: Duration,
    history_retention: Option<Duration>,
    metrics: Option<Metrics>,
) -> Sweeper {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                _ = ticks.tick() => {
                    sweep(&repo, &token, metrics.as_ref()).await;
                    if let Some(keep) = history_retention {
                        prune_history(&repo, &token, keep, metrics.as_ref()).await;
                    }
                }
            }
        }
    });
    Sweeper { cancel, task }
}

/// Repeats full batches until there is nothing left or shutdown begins.
async fn sweep(repo: &Repo, token: &CancellationToken, metrics: Option<&Metrics>) {
    loop {
        match repo.compact(BATCH).await {
            Ok(done) => {
                if let Some(metrics) = metrics {
                    metrics.compaction(&done);
                }
                if done.expired_holds > 0 || done.orders > 0 {
                    tracing::debug!(
                        expired_holds = done.expired_holds,
                        ledger_rows = done.ledger_rows,
                        "compacted"
                    );
                }
                let full =
                    done.expired_holds >= u64::from(BATCH) || done.ledger_rows >= u64::from(BATCH);
                if !full || token.is_cancelled() {
                    return;
                }
            }
            Err(error) => {
                if let Some(metrics) = metrics {
                    metrics.sweep_failed();
                }
                tracing::warn!(%error, "sweeper pass failed; retrying at the next tick");
                return;
            }
        }
    }
}

/// Removes history past its retention, batch after batch, until none is left or shutdown begins.
async fn prune_history(
    repo: &Repo,
    token: &CancellationToken,
    keep: Duration,
    metrics: Option<&Metrics>,
) {
    loop {
        match repo.prune_history(keep, BATCH).await {
            Ok((changes, adjustments)) => {
                if changes > 0 || adjustments > 0 {
                    tracing::debug!(changes, adjustments, "pruned source item history");
                }
                let full = changes >= u64::from(BATCH) || adjustments >= u64::from(BATCH);
                if !full || token.is_cancelled() {
                    return;
                }
            }
            Err(error) => {
                if let Some(metrics) = metrics {
                    metrics.sweep_failed();
                }
                tracing::warn!(%error, "pruning history failed; retrying at the next tick");
                return;
            }
        }
    }
}

impl Sweeper {
    /// Stops after the current statement and waits for the task to end.
    pub async fn stop(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "sweeper task ended abnormally");
        }
    }
}
