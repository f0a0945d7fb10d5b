//! Reload without restart: the tokens file and the TLS certificate and key are read again when
//! their content changes, checked every few seconds, and on SIGHUP. Content, not modification
//! times, decides: a Kubernetes Secret volume swaps a symlink, which leaves the old file's time
//! as it was. A new version that does not load leaves the one in force untouched and is logged
//! once with the reason.

use std::{path::PathBuf, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use tokio::{sync::Notify, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::observability::Metrics;

/// Asks for every watched file to be loaded again now, changed or not: SIGHUP in the binary, a
/// direct call in tests.
#[derive(Debug, Clone, Default)]
pub struct ReloadTrigger(Arc<Notify>);

impl ReloadTrigger {
    /// A trigger nothing has pulled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reloads at the next chance; pulls before the watcher runs are kept, not lost.
    pub fn reload(&self) {
        self.0.notify_one();
    }
}

/// A trigger pulled by every SIGHUP the process receives from now on.
#[cfg(unix)]
pub fn on_sighup() -> std::io::Result<ReloadTrigger> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    let trigger = ReloadTrigger::new();
    let pull = trigger.clone();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!(
                signal = "SIGHUP",
                "reloading the tokens file and TLS certificate"
            );
            pull.reload();
        }
    });
    Ok(trigger)
}

/// Files whose content feeds a value in force, and how to load it.
pub struct Watched<T> {
    what: &'static str,
    paths: Vec<PathBuf>,
    /// Digest of the content last loaded or refused, so each version is tried once.
    seen: [u8; 32],
    load: Box<dyn Fn() -> Result<T, String> + Send>,
    describe: fn(&T) -> String,
    live: Arc<ArcSwap<T>>,
}

impl<T: Send + Sync + 'static> Watched<T> {
    /// Loads from `paths` now (at start a file that does not load is an error for the caller)
    /// and keeps them for [`spawn`] to watch. `what` names them in logs and metrics.
    pub fn start(
        what: &'static str,
        paths: Vec<PathBuf>,
        load: impl Fn() -> Result<T, String> + Send + 'static,
        describe: fn(&T) -> String,
    ) -> Result<Self, String> {
        // The digest is taken first: a change racing the load is then seen as a change.
        let seen = digest(&paths);
        let value = load()?;
        tracing::info!(what, detail = %describe(&value), "loaded");
        Ok(Self {
            what,
            paths,
            seen,
            load: Box::new(load),
            describe,
            live: Arc::new(ArcSwap::from_pointee(value)),
        })
    }

    /// The value in force, swapped whole at each reload.
    pub fn live(&self) -> Arc<ArcSwap<T>> {
        self.live.clone()
    }
}

/// One watched set of files, whatever it feeds.
pub trait Reload: Send {
    /// Loads the files again if their content changed, or whatever it is when `force`d.
    fn check(&mut self, force: bool, metrics: Option<&Metrics>);
}

impl<T: Send + Sync + 'static> Reload for Watched<T> {
    fn check(&mut self, force: bool, metrics: Option<&Metrics>) {
        let now = digest(&self.paths);
        if now == self.seen && !force {
            return;
        }
        self.seen = now;
        let what = self.what;
        let reloaded = match (self.load)() {
            Ok(value) => {
                tracing::info!(what, detail = %(self.describe)(&value), "reloaded");
                self.live.store(Arc::new(value));
                true
            }
            Err(reason) => {
                tracing::warn!(what, %reason, "refused a new version; the one in force stays");
                false
            }
        };
        if let Some(metrics) = metrics {
            metrics.config_reload(what, reloaded);
        }
    }
}

/// A digest of the files' content, read errors included (a file missing halfway through a swap
/// is a version of its own, refused once).
fn digest(paths: &[PathBuf]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for path in paths {
        match std::fs::read(path) {
            Ok(bytes) => {
                hasher.update(b"ok");
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(&bytes);
            }
            Err(error) => hasher.update(format!("err {:?}", error.kind())),
        }
    }
    hasher.finalize().into()
}

/// The running watcher; `stop` ends it.
#[derive(Debug)]
pub struct Reloader {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Reloader {
    /// Stops watching and waits for a check under way to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Checks `watched` every `interval` (zero: never by itself) and whenever `trigger` is pulled;
/// `None` when there is nothing to watch.
pub fn spawn(
    watched: Vec<Box<dyn Reload>>,
    interval: Duration,
    trigger: Option<ReloadTrigger>,
    metrics: Option<Metrics>,
) -> Option<Reloader> {
    if watched.is_empty() {
        return None;
    }
    let stop = CancellationToken::new();
    let task = tokio::spawn(watch(watched, interval, trigger, metrics, stop.clone()));
    Some(Reloader { stop, task })
}

async fn watch(
    mut watched: Vec<Box<dyn Reload>>,
    interval: Duration,
    trigger: Option<ReloadTrigger>,
    metrics: Option<Metrics>,
    stop: CancellationToken,
) {
    let mut ticks = (!interval.is_zero()).then(|| {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    loop {
        let force = tokio::select! {
            () = stop.cancelled() => return,
            _ = tick(&mut ticks) => false,
            () = pulled(&trigger) => true,
        };
        let metrics = metrics.clone();
        // Reading files blocks; a Secret volume is fast, a network filesystem may not be.
        let checked = tokio::task::spawn_blocking(move || {
            for files in &mut watched {
                files.check(force, metrics.as_ref());
            }
            watched
        })
        .await;
        match checked {
            Ok(back) => watched = back,
            Err(error) => {
                tracing::error!(%error, "reloading failed; files are no longer watched");
                return;
            }
        }
    }
}

async fn tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn pulled(trigger: &Option<ReloadTrigger>) {
    match trigger {
        Some(trigger) => trigger.0.notified().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(path: &std::path::Path) -> Result<u32, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        text.trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a number"))
    }

    #[test]
    fn each_version_is_loaded_once_and_a_bad_one_leaves_the_last_good_one() {
        let dir = std::env::temp_dir().join(format!("stockd-reload-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n");
        std::fs::write(&path, "1").unwrap();
        let file = path.clone();
        let mut watched = Watched::start(
            "n",
            vec![path.clone()],
            move || number(&file),
            u32::to_string,
        )
        .unwrap();
        let live = watched.live();
        let metrics = Metrics::new();
        let count = |outcome: &str| {
            let text = metrics.render();
            let label = format!("stockd_config_reloads_total{{what=\"n\",outcome=\"{outcome}\"}} ");
            text.lines()
                .find_map(|line| line.strip_prefix(&label)?.parse::<u32>().ok())
                .unwrap_or(0)
        };

        watched.check(false, Some(&metrics));
        assert_eq!((count("reloaded"), count("refused")), (0, 0), "unchanged");

        std::fs::write(&path, "2").unwrap();
        watched.check(false, Some(&metrics));
        assert_eq!(**live.load(), 2);

        std::fs::write(&path, "two").unwrap();
        watched.check(false, Some(&metrics));
        watched.check(false, Some(&metrics));
        assert_eq!(**live.load(), 2, "the last good version stays");
        assert_eq!(count("refused"), 1, "a bad version is tried once");

        watched.check(true, Some(&metrics));
        assert_eq!(count("refused"), 2, "unless forced");

        std::fs::remove_file(&path).unwrap();
        watched.check(false, Some(&metrics));
        assert_eq!(count("refused"), 3, "a missing file is refused too");
        assert_eq!(**live.load(), 2);
        assert_eq!(count("reloaded"), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
