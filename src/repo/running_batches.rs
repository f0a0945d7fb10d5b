//! The PlaceOrder batches in flight, and which of them are stuck.
//!
//! A batch is stuck when it has run far longer than batches have lately been taking: it waits for
//! a row lock held elsewhere (another replica's batch, an operator's transaction) or for a commit
//! the disk is slow to flush. The dispatcher then stops letting it hold up what does not depend on
//! it: a batch beside it may start without the usual threshold of waiting orders, and orders
//! queued behind its SKUs stop counting in how long a new order of other SKUs would wait. Under
//! plain overload every batch is slow, none is stuck, and nothing changes.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

/// A batch has run for at least this long before it can count as stuck, whatever batches have
/// been taking. A batch of a dozen orders takes a few milliseconds on the benchmark machine, but
/// a slow commit can take tens: counting those as stuck starts small batches that cost the
/// database more per order. The waits this is for, a lock held by an operator's transaction or
/// by a replica that lost its network, last seconds.
pub(super) const STUCK_AFTER_AT_LEAST: Duration = Duration::from_millis(100);

/// A batch counts as stuck once it has run this many times as long as batches have lately
/// been taking (and [`STUCK_AFTER_AT_LEAST`]).
const STUCK_AFTER_TYPICAL_TIMES: u32 = 8;

/// The weight of the latest batch in the smoothed duration of batches (1/n).
const SMOOTHING: u32 = 8;

/// One batch in flight.
#[derive(Debug)]
struct Batch {
    number: u64,
    started: Instant,
    skus: Vec<String>,
}

/// Whether a SKU is in a batch in flight, so an order naming it must wait.
pub(super) trait Busy {
    /// True while a batch in flight holds `sku`.
    fn is_busy(&self, sku: &str) -> bool;
}

impl Busy for HashSet<String> {
    fn is_busy(&self, sku: &str) -> bool {
        self.contains(sku)
    }
}

/// The batches in flight, the SKUs each holds, and how long batches have lately been taking.
#[derive(Debug, Default)]
pub(super) struct RunningBatches {
    batches: Vec<Batch>,
    /// Which batch holds each SKU in flight (batches in flight never share one).
    held: HashMap<String, u64>,
    next: u64,
    /// Smoothed duration of the batches that ended; `None` until one has.
    typical: Option<Duration>,
}

impl RunningBatches {
    /// How many batches are in flight.
    pub(super) fn len(&self) -> usize {
        self.batches.len()
    }

    /// Records a batch over `skus` started `at`, and returns its number.
    pub(super) fn start(&mut self, at: Instant, skus: Vec<String>) -> u64 {
        self.next += 1;
        self.held
            .extend(skus.iter().map(|sku| (sku.clone(), self.next)));
        self.batches.push(Batch {
            number: self.next,
            started: at,
            skus,
        });
        self.next
    }

    /// Forgets a batch that ended `at`, frees its SKUs and learns from how long it took; true
    /// when it had run long enough to count as stuck.
    pub(super) fn end(&mut self, number: u64, at: Instant) -> bool {
        let Some(i) = self.batches.iter().position(|b| b.number == number) else {
            return false;
        };
        let batch = self.batches.swap_remove(i);
        let ran = at.saturating_duration_since(batch.started);
        let was_stuck = ran >= self.stuck_after();
        for sku in &batch.skus {
            self.held.remove(sku);
        }
        // A stuck batch's duration is counted only up to twice the limit, so one long lock wait
        // does not make the next stuck batch look normal; a database that stays slow still moves
        // the typical duration up within a few batches.
        let took = ran.min(self.stuck_after().saturating_mul(2));
        self.typical = Some(match self.typical {
            None => took,
            Some(typical) => (typical * (SMOOTHING - 1) + took) / SMOOTHING,
        });
        was_stuck
    }

    /// How long a batch may run before it counts as stuck.
    pub(super) fn stuck_after(&self) -> Duration {
        self.typical.map_or(STUCK_AFTER_AT_LEAST, |typical| {
            typical
                .saturating_mul(STUCK_AFTER_TYPICAL_TIMES)
                .max(STUCK_AFTER_AT_LEAST)
        })
    }

    /// When the youngest batch in flight started.
    pub(super) fn youngest(&self) -> Option<Instant> {
        self.batches.iter().map(|b| b.started).max()
    }

    /// Whether every batch in flight is stuck at `now` (false when none runs).
    pub(super) fn all_stuck(&self, now: Instant) -> bool {
        self.youngest()
            .is_some_and(|at| now.saturating_duration_since(at) >= self.stuck_after())
    }

    /// Which batches are stuck at `now`: at most as many as may run at once.
    pub(super) fn stuck(&self, now: Instant) -> Vec<u64> {
        let limit = self.stuck_after();
        self.batches
            .iter()
            .filter(|b| now.saturating_duration_since(b.started) >= limit)
            .map(|b| b.number)
            .collect()
    }

    /// Whether `sku` is held by one of the `stuck` batches.
    pub(super) fn is_held_by(&self, sku: &str, stuck: &[u64]) -> bool {
        self.held.get(sku).is_some_and(|n| stuck.contains(n))
    }
}

impl Busy for RunningBatches {
    fn is_busy(&self, sku: &str) -> bool {
        self.held.contains_key(sku)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn skus(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn before_any_batch_ends_a_batch_is_stuck_after_the_floor() {
        let t0 = Instant::now();
        let mut running = RunningBatches::default();
        assert!(!running.all_stuck(t0), "nothing runs");
        running.start(t0, skus(&["A"]));
        assert_eq!(running.stuck_after(), STUCK_AFTER_AT_LEAST);
        assert!(!running.all_stuck(t0 + STUCK_AFTER_AT_LEAST - ms(1)));
        assert!(running.all_stuck(t0 + STUCK_AFTER_AT_LEAST));
    }

    #[test]
    fn slow_batches_raise_the_limit_so_plain_overload_is_not_stuck() {
        let t0 = Instant::now();
        let mut running = RunningBatches::default();
        let mut at = t0;
        for _ in 0..40 {
            let n = running.start(at, skus(&["A"]));
            at += ms(80);
            running.end(n, at);
        }
        assert!(
            running.stuck_after() >= ms(600),
            "{:?}",
            running.stuck_after()
        );
        running.start(at, skus(&["A"]));
        assert!(
            !running.all_stuck(at + ms(200)),
            "a batch as slow as the others is not stuck"
        );
        assert!(running.all_stuck(at + ms(700)));
    }

    #[test]
    fn fast_batches_keep_the_floor() {
        let t0 = Instant::now();
        let mut running = RunningBatches::default();
        let n = running.start(t0, skus(&["A"]));
        running.end(n, t0 + ms(2));
        assert_eq!(running.stuck_after(), STUCK_AFTER_AT_LEAST);
    }

    #[test]
    fn one_long_lock_wait_does_not_hide_the_next() {
        let t0 = Instant::now();
        let mut running = RunningBatches::default();
        let n = running.start(t0, skus(&["A"]));
        running.end(n, t0 + ms(5));
        let n = running.start(t0 + ms(10), skus(&["A"]));
        let after = t0 + Duration::from_secs(10);
        running.end(n, after);
        running.start(after, skus(&["A"]));
        assert!(
            running.all_stuck(after + ms(300)),
            "counted up to twice the limit, so the next one is stuck within {:?}",
            running.stuck_after()
        );
    }

    #[test]
    fn only_the_stuck_batches_skus_are_stuck() {
        let t0 = Instant::now();
        let mut running = RunningBatches::default();
        let old = running.start(t0, skus(&["HOT", "A"]));
        running.start(t0 + ms(90), skus(&["B"]));
        let now = t0 + ms(105);
        let stuck = running.stuck(now);
        assert_eq!(stuck, [old]);
        assert!(running.is_held_by("HOT", &stuck));
        assert!(running.is_held_by("A", &stuck));
        assert!(!running.is_held_by("B", &stuck), "busy, but not stuck yet");
        assert!(running.is_busy("B"));
        assert!(
            !running.all_stuck(now),
            "the younger batch is not stuck yet"
        );
        assert_eq!(running.youngest(), Some(t0 + ms(90)));
    }

    #[test]
    fn an_ended_batch_frees_its_skus_and_is_forgotten() {
        let t0 = Instant::now();
        let mut running = RunningBatches::default();
        let first = running.start(t0, skus(&["A", "B"]));
        let second = running.start(t0, skus(&["C"]));
        assert!(
            !running.end(first, t0 + ms(3)),
            "a quick batch was not stuck"
        );
        assert_eq!(running.len(), 1);
        assert!(!running.is_busy("A") && !running.is_busy("B"));
        assert!(running.is_busy("C"));
        assert!(!running.end(first, t0 + ms(4)));
        assert_eq!(running.len(), 1, "an unknown batch changes nothing");
        assert!(
            running.end(second, t0 + Duration::from_secs(2)),
            "a batch that waited two seconds was stuck"
        );
        assert_eq!(running.len(), 0);
        assert!(!running.is_busy("C"));
    }
}
