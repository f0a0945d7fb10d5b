//! The machinery every load scenario shares: pacing, per-kind statistics and the progress display.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::{
    sync::mpsc::{UnboundedReceiver, unbounded_channel},
    task::JoinHandle,
};

use crate::{
    LoadShape,
    answer::{Answer, code_name},
    report,
};

/// When a caller sends its next call.
pub(crate) struct Pacer {
    /// The instants this caller's calls are due, from the [`Metronome`]; `None` sends as fast as
    /// the answers come back.
    slots: Option<UnboundedReceiver<Instant>>,
    /// How late, in microseconds, open-loop calls left against their due time: the load
    /// generator's own delay, which their latency includes.
    lateness: Option<Arc<Mutex<Histogram<u64>>>>,
    deadline: Instant,
}

impl Pacer {
    /// A caller that sends its next call as soon as the previous one is answered.
    fn closed_loop(deadline: Instant) -> Self {
        Self {
            slots: None,
            lateness: None,
            deadline,
        }
    }

    /// Waits for the next slot and returns the time the call is due (the latency clock starts
    /// there, so a slow answer also charges the calls it delayed); `None` once the run is over.
    pub(crate) async fn next(&mut self) -> Option<Instant> {
        let now = Instant::now();
        if now >= self.deadline {
            return None;
        }
        match &mut self.slots {
            None => Some(now),
            // A caller that fell behind does not catch up after the end: its missed slots are
            // dropped, and the calls it did send carry the delay in their latency.
            Some(slots) => {
                let due = slots.recv().await?;
                let now = Instant::now();
                if now >= self.deadline {
                    return None;
                }
                if let Some(lateness) = &self.lateness
                    && let Ok(mut lateness) = lateness.lock()
                {
                    let micros = u64::try_from((now - due).as_micros()).unwrap_or(u64::MAX);
                    lateness.saturating_record(micros.max(1));
                }
                Some(due)
            }
        }
    }
}

/// Releases an open-loop run's calls at their scheduled instants from its own thread. Tokio's
/// timer rounds every deadline up to the next millisecond: pacing with it added up to a
/// millisecond of the load generator's own lateness to every measured latency and released each
/// millisecond's calls in one burst. A thread sleeping until each instant is late by tens of
/// microseconds instead.
struct Metronome;

impl Metronome {
    /// Starts releasing `rate` calls per second from `start` until `deadline`, call `k` to caller
    /// `k % callers` (so each caller's schedule is staggered evenly against the others'), and
    /// returns each caller's pacer.
    fn start(
        rate: f64,
        callers: usize,
        start: Instant,
        deadline: Instant,
        lateness: &Arc<Mutex<Histogram<u64>>>,
    ) -> Vec<Pacer> {
        let (senders, pacers): (Vec<_>, Vec<_>) = (0..callers)
            .map(|_| {
                let (tx, rx) = unbounded_channel();
                (
                    tx,
                    Pacer {
                        slots: Some(rx),
                        lateness: Some(Arc::clone(lateness)),
                        deadline,
                    },
                )
            })
            .unzip();
        // At most a million calls a second: a faster schedule than any run can keep would only
        // pile up slots in memory.
        let interval = Duration::from_secs_f64(1.0 / rate).max(Duration::from_micros(1));
        std::thread::spawn(move || {
            let mut due = start;
            let mut k = 0usize;
            while due < deadline {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                // A caller that has gone away (its task ended with an error) just misses its
                // slots; the others keep theirs.
                let _ = senders[k % senders.len()].send(due);
                k += 1;
                due += interval;
            }
        });
        pacers
    }
}

/// The rate an open-loop run keeps; `None` (closed loop) without one, or with zero or an infinite
/// one, which are no schedule at all.
pub(crate) fn scheduled_rate(shape: &LoadShape) -> Option<f64> {
    shape.rate.filter(|rate| rate.is_finite() && *rate > 0.0)
}

/// One pacer per caller for `shape`: released by a [`Metronome`] with a rate (recording how late
/// the calls left in `lateness`), closed-loop without.
fn pacers(
    shape: &LoadShape,
    start: Instant,
    deadline: Instant,
    lateness: &Arc<Mutex<Histogram<u64>>>,
) -> Vec<Pacer> {
    match scheduled_rate(shape) {
        Some(rate) => Metronome::start(rate, shape.clients.max(1), start, deadline, lateness),
        None => (0..shape.clients)
            .map(|_| Pacer::closed_loop(deadline))
            .collect(),
    }
}

/// What happened to the calls of one kind (availability, order, shipment…).
pub(crate) struct KindStats {
    /// Latency of every answered call, in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Calls that did what they asked.
    pub(crate) done: u64,
    /// Units the successful calls moved (SKUs answered, lines reserved…).
    pub(crate) units: u64,
    /// Definite refusals by reason.
    pub(crate) refused: BTreeMap<String, u64>,
    /// Other failures by gRPC code.
    pub(crate) errors: BTreeMap<String, u64>,
    /// Open loop, whole run only: how late calls left against their due time.
    pub(crate) send_lateness: Option<Histogram<u64>>,
}

impl KindStats {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: report::histogram()?,
            done: 0,
            units: 0,
            refused: BTreeMap::new(),
            errors: BTreeMap::new(),
            send_lateness: None,
        })
    }

    /// Every call of this kind, whatever its answer.
    pub(crate) fn calls(&self) -> u64 {
        self.done + self.refused.values().sum::<u64>() + self.error_count()
    }

    /// Calls that failed without a definite refusal.
    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn merge(&mut self, other: &KindStats) -> anyhow::Result<()> {
        self.latency.add(&other.latency)?;
        self.done += other.done;
        self.units += other.units;
        for (reason, n) in &other.refused {
            *self.refused.entry(reason.clone()).or_default() += n;
        }
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        Ok(())
    }
}

/// One caller's (or, merged, the whole run's) statistics per kind of call.
#[derive(Default)]
pub(crate) struct Stats {
    kinds: BTreeMap<&'static str, KindStats>,
    /// Open loop only: how late calls left against their due time (the generator's own delay).
    pub(crate) send_lateness: Option<Histogram<u64>>,
}

impl Stats {
    /// Records one answer that took from `due` until now; `units` counts only when it is done.
    pub(crate) fn record(
        &mut self,
        kind: &'static str,
        due: Instant,
        answer: &Answer,
        units: u64,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let micros = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
        let stats = match self.kinds.entry(kind) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(KindStats::new()?),
        };
        stats.latency.saturating_record(micros.max(1));
        match answer {
            Answer::Done => {
                stats.done += 1;
                stats.units += units;
            }
            Answer::Refused(reason) => *stats.refused.entry(reason.clone()).or_default() += 1,
            Answer::Error(code) => {
                *stats.errors.entry(code_name(*code)).or_default() += 1;
                progress.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        progress.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Adds another caller's statistics.
    pub(crate) fn merge(&mut self, other: Stats) -> anyhow::Result<()> {
        for (kind, theirs) in other.kinds {
            match self.kinds.get_mut(kind) {
                Some(ours) => ours.merge(&theirs)?,
                None => {
                    self.kinds.insert(kind, theirs);
                }
            }
        }
        Ok(())
    }

    /// One kind's statistics, if any call of it was made.
    pub(crate) fn kind(&self, kind: &str) -> Option<&KindStats> {
        self.kinds.get(kind)
    }

    /// Every kind merged into one.
    pub(crate) fn total(&self) -> anyhow::Result<KindStats> {
        let mut total = KindStats::new()?;
        for stats in self.kinds.values() {
            total.merge(stats)?;
        }
        total.send_lateness.clone_from(&self.send_lateness);
        Ok(total)
    }
}

/// Calls so far, shared by the callers and shown on stderr once a second.
pub(crate) struct Progress {
    calls: AtomicU64,
    errors: AtomicU64,
}

/// Stops the progress display when dropped.
pub(crate) struct ProgressDisplay(Option<JoinHandle<()>>);

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl Progress {
    /// Counts `calls` more calls outside [`Stats::record`].
    pub(crate) fn add(&self, calls: u64) {
        self.calls.fetch_add(calls, Ordering::Relaxed);
    }

    /// Starts counting, and unless `quiet`, prints `label: …` to stderr every second.
    pub(crate) fn start(label: String, quiet: bool) -> (Arc<Self>, ProgressDisplay) {
        let progress = Arc::new(Self {
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
        if quiet {
            return (progress, ProgressDisplay(None));
        }
        let shown = Arc::clone(&progress);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.tick().await;
            let mut last = 0;
            loop {
                ticks.tick().await;
                let calls = shown.calls.load(Ordering::Relaxed);
                let errors = shown.errors.load(Ordering::Relaxed);
                eprintln!(
                    "  {label}: {:>3.0}s {calls} calls, {}/s, {errors} errors",
                    started.elapsed().as_secs_f64(),
                    calls - last,
                );
                last = calls;
            }
        });
        (progress, ProgressDisplay(Some(task)))
    }
}

/// Runs `shape.clients` callers until `shape.duration` is over and merges their statistics.
/// `caller(i, channel, pacer, progress)` is caller `i`'s loop. Returns the statistics and the time
/// from the start until the last caller finished.
pub(crate) async fn run_callers<F, Fut>(
    shape: &LoadShape,
    label: String,
    connections: &crate::Connections,
    caller: F,
) -> anyhow::Result<(Stats, Duration)>
where
    F: Fn(usize, crate::Ch, Pacer, Arc<Progress>) -> Fut,
    Fut: Future<Output = anyhow::Result<Stats>> + Send + 'static,
{
    let (progress, display) = Progress::start(label, shape.quiet);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(shape.duration);
    let lateness = Arc::new(Mutex::new(report::histogram()?));
    let mut tasks = Vec::with_capacity(shape.clients);
    for (i, pacer) in pacers(shape, started, deadline, &lateness)
        .into_iter()
        .enumerate()
    {
        let task = caller(i, connections.for_caller(i), pacer, Arc::clone(&progress));
        tasks.push(tokio::spawn(task));
    }
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(task.await??)?;
    }
    let elapsed = started.elapsed();
    drop(display);
    if scheduled_rate(shape).is_some() {
        let lateness = lateness
            .lock()
            .map_err(|_| anyhow::anyhow!("a caller panicked while recording its lateness"))?;
        stats.send_lateness = Some(lateness.clone());
    }
    Ok((stats, elapsed))
}
