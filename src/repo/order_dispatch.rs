//! Forms the group-commit batches of PlaceOrder and runs a few of them at once.
//!
//! Batches in flight never share a SKU. An order whose SKUs overlap a running batch waits for the
//! next batch, and so does every later order that shares a SKU with a waiting one, so orders of a
//! SKU are still judged in arrival order. Orders of one hot SKU therefore pile up while its batch
//! commits and go together in the next one (the group commit), while orders over unrelated SKUs
//! commit side by side instead of queueing behind each other. Because this process's batches never
//! wait for each other's row locks, a small catalogue, where concurrent orders often share a SKU,
//! does not turn parallel batches into a convoy.
//!
//! An order whose caller has gone (it cancelled, or its deadline passed) while the order waited
//! is dropped when the next batch is formed, not placed: under overload, work for answers nobody
//! reads would only lengthen the queue for the callers still waiting, and the retries of the
//! callers who gave up would pile on top. The caller was told nothing, so its retry with the same
//! order id places the order then (docs/reservations.md).
//!
//! A caller that sent a deadline is refused at once when the oldest order its own would wait
//! behind has already waited half the time that deadline leaves: its order would wait about as
//! long, and then needs its own batch and the way back, so it would likely be answered after its
//! caller gave up. Refusing it keeps the queue short enough that the orders in it are answered in
//! time. A batch stuck on a SKU locked elsewhere (another replica, an operator's transaction)
//! makes only that SKU's orders wait and be refused (`running_batches.rs`).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

use super::{
    Repo, RepoError,
    order_batch::{Job, MAX_BATCH},
    running_batches::{Busy, RunningBatches},
};

/// Batches in flight at once when the configuration says nothing; each holds one pool connection
/// while it runs. Two keep PostgreSQL busy while a batch waits for its commit, and on a small
/// server they reserve more lines per second than four (BENCHMARKS.md): fewer, larger batches
/// contend less for the same cores.
pub const DEFAULT_ORDER_BATCHES: usize = 2;

/// Orders that must be waiting before a batch starts beside a running one, when the
/// configuration says nothing. Every batch costs PostgreSQL a fixed share of work whatever its
/// size, so starting one for each order that arrives while another runs spends the database on
/// tiny batches; waiting for eight gave about a third more lines per second at 16 callers and a
/// tenth more at 64 on the benchmark machine (BENCHMARKS.md).
pub const DEFAULT_ORDER_BATCH_MIN_WAITING: usize = 8;

/// How the dispatcher forms batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBatching {
    /// Batches that may run at once, each on one pooled connection (at least one).
    pub in_flight: usize,
    /// Orders that must be waiting before a batch starts while another runs; with no batch
    /// running, one waiting order is enough (at least one).
    pub min_waiting: usize,
}

impl Default for OrderBatching {
    fn default() -> Self {
        Self {
            in_flight: DEFAULT_ORDER_BATCHES,
            min_waiting: DEFAULT_ORDER_BATCH_MIN_WAITING,
        }
    }
}

impl OrderBatching {
    /// Whether another batch may start now, with `running` in flight and `waiting` orders
    /// queued. Stuck batches ([`RunningBatches`]) do not hold back a batch beside them until
    /// enough orders wait: the threshold bets that a running batch ends within milliseconds.
    fn may_start(&self, running: &RunningBatches, now: Instant, waiting: usize) -> bool {
        running.len() == 0
            || (running.len() < self.in_flight
                && (waiting >= self.min_waiting || running.all_stuck(now)))
    }

    /// When waiting orders too few for the threshold may start a batch anyway, because every
    /// running batch will by then be stuck; `None` when nothing is to wait for, or when that
    /// moment was `seen` already (the running batches have not changed since, and looking again
    /// would start nothing new).
    fn stuck_at(
        &self,
        running: &RunningBatches,
        waiting: usize,
        seen: Option<Instant>,
    ) -> Option<Instant> {
        let youngest = running.youngest()?;
        (running.len() < self.in_flight && waiting > 0 && waiting < self.min_waiting)
            .then(|| youngest + running.stuck_after())
            .filter(|at| Some(*at) != seen)
    }
}

/// The handle the repository sends orders to.
#[derive(Debug, Clone)]
pub(super) struct OrderBatcher {
    jobs: mpsc::Sender<Job>,
}

impl OrderBatcher {
    /// Starts the dispatcher with the given rules; it ends when the last handle is dropped and
    /// its batches are done.
    pub(super) fn start(repo: Repo, rules: OrderBatching) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(dispatch(repo, queue, rules));
        Self { jobs }
    }

    /// Queues an order; gives it back when the dispatcher is gone (the caller then places it
    /// as a batch of its own).
    pub(super) async fn submit(&self, job: Job) -> Result<(), Job> {
        self.jobs.send(job).await.map_err(|returned| returned.0)
    }
}

async fn dispatch(repo: Repo, mut queue: mpsc::Receiver<Job>, rules: OrderBatching) {
    let (done_tx, mut done) = mpsc::unbounded_channel::<u64>();
    let mut waiting = Waiting::default();
    let mut running = RunningBatches::default();
    // The moment the running batches were last found stuck: looked at once, since a scan that
    // starts nothing would otherwise wake the loop again at once for as long as they stay stuck.
    let mut stuck_seen: Option<Instant> = None;
    let mut open = true;
    while open || running.len() > 0 {
        // Scanning the whole queue is needed only when SKUs were released, a new order is free
        // to go, the queue just reached the threshold for a batch beside a running one, or the
        // running ones have turned out stuck; an order that must wait costs a few set lookups,
        // not a rescan.
        let mut scan = false;
        let stuck_at = rules.stuck_at(&running, waiting.queue.len(), stuck_seen);
        // Built only when armed: most turns of the loop have nothing stuck to wait for, and a
        // timer for each of them would be work on every order's way through.
        let stuck = async {
            match stuck_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            job = queue.recv(), if open => match job {
                Some(job) => {
                    if let Some(job) = admit(job, &waiting, &running, &repo) {
                        scan |= waiting.push_counted(job, &running, rules.min_waiting);
                    }
                }
                None => open = false,
            },
            Some(batch) = done.recv(), if running.len() > 0 => {
                if running.end(batch, Instant::now()) {
                    repo.batch_counters.stuck();
                }
                scan = true;
            }
            () = stuck, if stuck_at.is_some() => {
                stuck_seen = stuck_at;
                scan = true;
            }
        }
        while let Ok(job) = queue.try_recv() {
            if let Some(job) = admit(job, &waiting, &running, &repo) {
                scan |= waiting.push_counted(job, &running, rules.min_waiting);
            }
        }
        while scan && rules.may_start(&running, Instant::now(), waiting.queue.len()) {
            let (batch, abandoned) = waiting.take_batch(&running, |job| job.reply.is_closed());
            repo.batch_counters.abandoned(abandoned);
            if batch.is_empty() {
                break;
            }
            let (jobs, skus): (Vec<Job>, Vec<Vec<String>>) = batch.into_iter().unzip();
            let skus: Vec<String> = skus.into_iter().flatten().collect();
            let number = running.start(Instant::now(), skus);
            let (repo, done_tx) = (repo.clone(), done_tx.clone());
            tokio::spawn(async move {
                repo.run_batch(jobs).await;
                let _ = done_tx.send(number);
            });
        }
    }
}

/// Returns `job` to be queued, or answers it at once with [`RepoError::Overloaded`] when the
/// queue is too slow for its caller's deadline ([`QUEUE_SHARE_OF_DEADLINE`]).
fn admit(job: Job, waiting: &Waiting<Job>, running: &RunningBatches, repo: &Repo) -> Option<Job> {
    let Some(deadline) = job.deadline else {
        return Some(job);
    };
    let now = Instant::now();
    let stuck = running.stuck(now);
    // The new order's SKUs matter only for orders held by a stuck batch.
    let skus: Vec<&str> = if stuck.is_empty() {
        Vec::new()
    } else {
        job.request.lines.iter().map(|(s, _)| s.as_str()).collect()
    };
    let held = |sku: &str| running.is_held_by(sku, &stuck);
    let Some(oldest) =
        waiting.oldest_ahead(&skus, stuck.is_empty(), held, |job| !job.reply.is_closed())
    else {
        return Some(job);
    };
    let waited = now.saturating_duration_since(oldest.queued_at);
    if !would_be_late(now, deadline, waited) {
        return Some(job);
    }
    repo.batch_counters.shed();
    let _ = job.reply.send(Err(RepoError::Overloaded { waited }));
    None
}

/// An order is admitted only while the queue's wait is under this share (1/n) of the time its
/// caller allows; the rest is for its own batch, the answer's way back and a queue that grows
/// while it waits. Admitting up to the whole deadline (n = 1) had orders decided at its edge and
/// most of their answers arrive too late (BENCHMARKS.md, "Overload").
const QUEUE_SHARE_OF_DEADLINE: u32 = 2;

/// Whether an order due by `deadline` should be refused now that the oldest waiting order has
/// waited `waited`.
fn would_be_late(now: Instant, deadline: Instant, waited: Duration) -> bool {
    too_late(
        now,
        deadline,
        waited.saturating_mul(QUEUE_SHARE_OF_DEADLINE),
    )
}

/// Whether an order due by `deadline` misses it if it is decided `takes` after `now`.
fn too_late(now: Instant, deadline: Instant, takes: Duration) -> bool {
    now.checked_add(takes).is_none_or(|done| done >= deadline)
}

/// Orders not yet in a batch, in arrival order, each with its SKUs, and how many of them name
/// each SKU.
struct Waiting<T> {
    queue: VecDeque<(T, Vec<String>)>,
    skus: HashMap<String, usize>,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            skus: HashMap::new(),
        }
    }
}

impl Waiting<Job> {
    /// Queues an order; true when it could go at once or it makes the queue `threshold` long.
    fn push_counted(&mut self, job: Job, busy: &impl Busy, threshold: usize) -> bool {
        self.push(job, busy) || self.reached(threshold)
    }

    /// Queues an order; true when it could go at once (no SKU busy or named by a waiting order).
    fn push(&mut self, job: Job, busy: &impl Busy) -> bool {
        let skus = job
            .request
            .lines
            .iter()
            .map(|(sku, _)| sku.as_str().to_owned())
            .collect();
        self.push_item(job, skus, busy)
    }
}

impl<T> Waiting<T> {
    /// The longest-waiting `live` order that a new order over `skus` would wait behind. Orders
    /// held back by SKUs of a stuck batch (`held`), directly or behind another such order, wait
    /// for that batch, not for the queue: they count only when the new order follows them
    /// through shared SKUs, directly or by a chain of later waiting orders. With `none_stuck`
    /// that is simply the first live order, found without looking further.
    fn oldest_ahead(
        &self,
        skus: &[&str],
        none_stuck: bool,
        held: impl Fn(&str) -> bool,
        live: impl Fn(&T) -> bool,
    ) -> Option<&T> {
        let first = if none_stuck {
            self.queue.iter().position(|(item, _)| live(item))
        } else {
            self.first_not_held(&held, &live)
        };
        // Nothing waits longer than the first order in the queue, and with nothing stuck no
        // order the new one follows comes before the first live one.
        let followed = match first {
            Some(0) => None,
            _ if none_stuck => None,
            _ => self.first_followed(skus, &live),
        };
        match (first, followed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|i| &self.queue[i].0)
    }

    /// The position of the first live order not `held` back by a stuck batch, directly or
    /// behind an earlier order that is.
    fn first_not_held(
        &self,
        held: &impl Fn(&str) -> bool,
        live: &impl Fn(&T) -> bool,
    ) -> Option<usize> {
        let mut behind: HashSet<&str> = HashSet::new();
        for (i, (item, item_skus)) in self.queue.iter().enumerate() {
            if !live(item) {
                continue;
            }
            if !item_skus
                .iter()
                .any(|s| held(s) || behind.contains(s.as_str()))
            {
                return Some(i);
            }
            behind.extend(item_skus.iter().map(String::as_str));
        }
        None
    }

    /// The position of the first live order that a new order over `skus` would follow: walking
    /// back from the newest, every order sharing a SKU with the new order or with an order
    /// already followed is followed too.
    fn first_followed(&self, skus: &[&str], live: &impl Fn(&T) -> bool) -> Option<usize> {
        // A new order seldom names a waiting order's SKU over a large catalogue, and then no
        // chain starts: skip the walk.
        if !skus.iter().any(|s| self.skus.contains_key(*s)) {
            return None;
        }
        let mut followed: HashSet<&str> = skus.iter().copied().collect();
        let mut first = None;
        for (i, (item, item_skus)) in self.queue.iter().enumerate().rev() {
            if live(item) && item_skus.iter().any(|s| followed.contains(s.as_str())) {
                followed.extend(item_skus.iter().map(String::as_str));
                first = Some(i);
            }
        }
        first
    }

    /// Whether the queue is exactly `threshold` long: the moment a batch beside a running one
    /// may start, even if the newest order itself must wait.
    fn reached(&self, threshold: usize) -> bool {
        self.queue.len() == threshold
    }

    fn push_item(&mut self, item: T, skus: Vec<String>, busy: &impl Busy) -> bool {
        let free = skus
            .iter()
            .all(|s| !busy.is_busy(s) && !self.skus.contains_key(s));
        for sku in &skus {
            *self.skus.entry(sku.clone()).or_default() += 1;
        }
        self.queue.push_back((item, skus));
        free
    }

    /// Takes, in arrival order, up to MAX_BATCH orders that share no SKU with `busy` nor with an
    /// earlier order left waiting; the rest keep their order. Orders whose caller is `gone` are
    /// dropped instead and only counted, so they hold up no later order of their SKUs either.
    fn take_batch(
        &mut self,
        busy: &impl Busy,
        gone: impl Fn(&T) -> bool,
    ) -> (Vec<(T, Vec<String>)>, usize) {
        let mut batch = Vec::new();
        let mut abandoned = 0;
        let mut left = VecDeque::with_capacity(self.queue.len());
        self.skus.clear();
        while let Some((item, skus)) = self.queue.pop_front() {
            if gone(&item) {
                abandoned += 1;
                continue;
            }
            let free = skus
                .iter()
                .all(|s| !busy.is_busy(s) && !self.skus.contains_key(s));
            if free && batch.len() < MAX_BATCH {
                batch.push((item, skus));
            } else {
                for sku in &skus {
                    *self.skus.entry(sku.clone()).or_default() += 1;
                }
                left.push_back((item, skus));
            }
        }
        self.queue = left;
        (batch, abandoned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(pending: &[&[&str]], busy: &[&str]) -> (Vec<usize>, Vec<usize>) {
        let busy: HashSet<String> = busy.iter().map(|s| (*s).to_owned()).collect();
        let mut waiting = Waiting::default();
        for (i, skus) in pending.iter().enumerate() {
            waiting.push_item(i, skus.iter().map(|s| (*s).to_owned()).collect(), &busy);
        }
        let (batch, abandoned) = waiting.take_batch(&busy, |_| false);
        assert_eq!(abandoned, 0);
        (
            batch.into_iter().map(|(i, _)| i).collect(),
            waiting.queue.into_iter().map(|(i, _)| i).collect(),
        )
    }

    #[test]
    fn a_batch_starts_at_once_when_none_runs_and_beside_one_only_when_enough_wait() {
        let rules = OrderBatching {
            in_flight: 2,
            min_waiting: 8,
        };
        let t0 = Instant::now();
        let now = t0 + Duration::from_millis(1);
        let mut running = RunningBatches::default();
        assert!(rules.may_start(&running, now, 1));
        running.start(t0, vec!["A".into()]);
        assert!(!rules.may_start(&running, now, 7));
        assert!(rules.may_start(&running, now, 8));
        running.start(t0, vec!["B".into()]);
        assert!(
            !rules.may_start(&running, now, 100),
            "never more than in_flight"
        );
        let eager = OrderBatching {
            in_flight: 3,
            min_waiting: 1,
        };
        assert!(eager.may_start(&running, now, 1));
    }

    #[test]
    fn a_stuck_batch_no_longer_makes_a_few_waiting_orders_wait_for_more() {
        let rules = OrderBatching {
            in_flight: 2,
            min_waiting: 8,
        };
        let t0 = Instant::now();
        let mut running = RunningBatches::default();
        running.start(t0, vec!["A".into()]);
        let stuck = t0 + running.stuck_after();
        assert!(!rules.may_start(&running, stuck - Duration::from_millis(1), 1));
        assert!(rules.may_start(&running, stuck, 1));
        running.start(t0, vec!["B".into()]);
        assert!(
            !rules.may_start(&running, stuck + Duration::from_secs(1), 100),
            "still never more than in_flight"
        );
    }

    #[test]
    fn the_dispatcher_looks_again_when_its_running_batches_turn_stuck() {
        let rules = OrderBatching {
            in_flight: 2,
            min_waiting: 8,
        };
        let t0 = Instant::now();
        let mut running = RunningBatches::default();
        assert_eq!(rules.stuck_at(&running, 1, None), None, "nothing runs");
        let first = running.start(t0, vec!["A".into()]);
        let second = running.start(t0 + Duration::from_millis(5), vec!["B".into()]);
        assert_eq!(rules.stuck_at(&running, 1, None), None, "no slot free");
        running.end(first, t0 + Duration::from_millis(6));
        let stuck = t0 + Duration::from_millis(5) + running.stuck_after();
        assert_eq!(rules.stuck_at(&running, 1, None), Some(stuck));
        assert_eq!(rules.stuck_at(&running, 0, None), None, "nobody waits");
        assert_eq!(
            rules.stuck_at(&running, 8, None),
            None,
            "enough wait already"
        );
        assert_eq!(
            rules.stuck_at(&running, 1, Some(stuck)),
            None,
            "looked at once, not again and again while the same batch stays stuck"
        );
        let third = t0 + Duration::from_millis(30);
        running.start(third, vec!["C".into()]);
        running.end(second, third);
        assert_eq!(
            rules.stuck_at(&running, 1, Some(stuck)),
            Some(third + running.stuck_after()),
            "a new batch may turn stuck in its turn"
        );
    }

    #[test]
    fn the_order_that_fills_the_queue_to_the_threshold_asks_for_a_scan_even_if_it_waits() {
        let busy: HashSet<String> = ["HOT".to_owned()].into();
        let mut waiting = Waiting::default();
        assert!(waiting.push_item(0, vec!["A".into()], &busy));
        assert!(!waiting.reached(2));
        assert!(!waiting.push_item(1, vec!["HOT".into()], &busy));
        assert!(waiting.reached(2), "A may now go beside the running batch");
        let batch: Vec<usize> = waiting
            .take_batch(&busy, |_| false)
            .0
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            batch,
            [0],
            "only the free order goes; the one on HOT keeps waiting"
        );
        assert_eq!(waiting.queue.len(), 1);
    }

    #[test]
    fn a_new_order_says_whether_it_could_go_at_once() {
        let busy: HashSet<String> = ["HOT".to_owned()].into();
        let mut waiting = Waiting::default();
        assert!(!waiting.push_item(0, vec!["HOT".into()], &busy));
        assert!(!waiting.push_item(1, vec!["A".into(), "HOT".into()], &busy));
        assert!(
            !waiting.push_item(2, vec!["A".into()], &busy),
            "A is named by a waiting order"
        );
        assert!(waiting.push_item(3, vec!["B".into()], &busy));
    }

    #[test]
    fn orders_of_one_sku_all_go_together_when_it_is_free() {
        assert_eq!(
            take(&[&["HOT"], &["HOT"], &["HOT"]], &[]),
            (vec![0, 1, 2], vec![])
        );
    }

    #[test]
    fn orders_touching_a_running_batch_wait_and_the_rest_go() {
        assert_eq!(
            take(&[&["A", "HOT"], &["B"], &["HOT"], &["C"]], &["HOT"]),
            (vec![1, 3], vec![0, 2])
        );
    }

    #[test]
    fn a_later_order_never_overtakes_a_waiting_one_on_a_shared_sku() {
        // 0 waits for the running batch on A; 1 shares B with 0, so it waits too; 2 is free.
        assert_eq!(
            take(&[&["A", "B"], &["B"], &["C"]], &["A"]),
            (vec![2], vec![0, 1])
        );
    }

    #[test]
    fn a_batch_stops_at_its_size_and_keeps_the_order_of_the_rest() {
        let many: Vec<&[&str]> = (0..MAX_BATCH + 3).map(|_| &["X"][..]).collect();
        let (batch, rest) = take(&many, &[]);
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(rest, vec![MAX_BATCH, MAX_BATCH + 1, MAX_BATCH + 2]);
    }

    #[test]
    fn orders_whose_caller_has_gone_are_dropped_and_hold_up_no_later_order() {
        // 0 and 2 were abandoned: 1 shares HOT only with 0 and goes; 3 waits behind 1 no longer,
        // because 1 is in the batch; 4 is named by nobody else.
        let busy = HashSet::new();
        let mut waiting = Waiting::default();
        for (i, skus) in [["HOT"], ["HOT"], ["A"], ["HOT"], ["B"]].iter().enumerate() {
            waiting.push_item(i, skus.iter().map(|s| (*s).to_owned()).collect(), &busy);
        }
        let (batch, abandoned) = waiting.take_batch(&busy, |i| *i == 0 || *i == 2);
        let batch: Vec<usize> = batch.into_iter().map(|(i, _)| i).collect();
        assert_eq!(abandoned, 2);
        assert_eq!(batch, [1, 3, 4], "the orders left, in arrival order");
        assert!(waiting.queue.is_empty(), "nothing abandoned stays queued");
    }

    #[test]
    fn an_abandoned_order_is_dropped_even_while_its_sku_is_busy() {
        let busy: HashSet<String> = ["HOT".to_owned()].into();
        let mut waiting = Waiting::default();
        waiting.push_item(0, vec!["HOT".into()], &busy);
        waiting.push_item(1, vec!["HOT".into()], &busy);
        let (batch, abandoned) = waiting.take_batch(&busy, |i| *i == 0);
        assert!(batch.is_empty());
        assert_eq!(abandoned, 1);
        let left: Vec<usize> = waiting.queue.iter().map(|(i, _)| *i).collect();
        assert_eq!(left, [1]);
    }

    /// The oldest order ahead of a new one over `skus` while the batches holding `stuck` are
    /// stuck.
    fn ahead<'a>(
        waiting: &'a Waiting<usize>,
        skus: &[&str],
        stuck: &HashSet<&str>,
        live: impl Fn(&usize) -> bool,
    ) -> Option<&'a usize> {
        waiting.oldest_ahead(skus, stuck.is_empty(), |s| stuck.contains(s), live)
    }

    /// Queues orders over the given SKUs, numbered from 0.
    fn queued(orders: &[&[&str]], busy: &HashSet<String>) -> Waiting<usize> {
        let mut waiting = Waiting::default();
        for (i, skus) in orders.iter().enumerate() {
            waiting.push_item(i, skus.iter().map(|s| (*s).to_owned()).collect(), busy);
        }
        waiting
    }

    #[test]
    fn the_oldest_waiting_order_skips_those_whose_caller_has_gone() {
        let busy = HashSet::new();
        let none = HashSet::new();
        assert_eq!(
            ahead(&Waiting::<usize>::default(), &["X"], &none, |_| true),
            None
        );
        let waiting = queued(&[&["S0"], &["S1"], &["S2"]], &busy);
        assert_eq!(ahead(&waiting, &["X"], &none, |i| *i != 0), Some(&1));
    }

    #[test]
    fn with_nothing_stuck_every_order_is_ahead_of_a_new_one() {
        // 0 waits for a running batch on HOT that is not stuck: it goes when that batch ends,
        // as a new order would, so its wait is the queue's.
        let busy: HashSet<String> = ["HOT".to_owned()].into();
        let waiting = queued(&[&["HOT"], &["B"]], &busy);
        assert_eq!(ahead(&waiting, &["C"], &HashSet::new(), |_| true), Some(&0));
    }

    #[test]
    fn orders_held_back_by_a_stuck_batch_are_not_ahead_of_orders_of_other_skus() {
        // 0 and 1 wait for HOT, whose batch is stuck; 2 waits behind 1 on B.
        let stuck = HashSet::from(["HOT"]);
        let busy: HashSet<String> = ["HOT".to_owned()].into();
        let waiting = queued(&[&["HOT"], &["HOT", "B"], &["B"]], &busy);
        assert_eq!(ahead(&waiting, &["C"], &stuck, |_| true), None);
        assert_eq!(ahead(&waiting, &["HOT"], &stuck, |_| true), Some(&0));
        assert_eq!(
            ahead(&waiting, &["B"], &stuck, |_| true),
            Some(&0),
            "a new B order waits behind 1, and 1 behind 0 for HOT"
        );
    }

    #[test]
    fn a_new_order_follows_a_chain_of_waiting_orders_back_to_the_oldest() {
        // 0 waits for the stuck HOT; 1 shares HOT and A; 2 shares A and C. A new order over C
        // waits for 2, 2 for 1 and 1 for 0.
        let stuck = HashSet::from(["HOT"]);
        let busy: HashSet<String> = ["HOT".to_owned()].into();
        let waiting = queued(&[&["HOT"], &["HOT", "A"], &["A", "C"]], &busy);
        assert_eq!(ahead(&waiting, &["C"], &stuck, |_| true), Some(&0));
        assert_eq!(
            ahead(&waiting, &["C"], &stuck, |i| *i != 0),
            Some(&1),
            "a gone order is dropped, not waited for"
        );
    }

    #[test]
    fn orders_not_held_by_a_stuck_batch_are_ahead_of_every_new_order() {
        // 1 is held back by nothing stuck: a new order over any SKU waits at least as long.
        let stuck = HashSet::from(["HOT"]);
        let busy: HashSet<String> = ["HOT".to_owned()].into();
        let waiting = queued(&[&["HOT"], &["D"], &["HOT"]], &busy);
        assert_eq!(ahead(&waiting, &["C"], &stuck, |_| true), Some(&1));
        assert_eq!(ahead(&waiting, &["HOT"], &stuck, |_| true), Some(&0));
    }

    #[test]
    fn an_order_is_too_late_when_it_would_be_decided_at_or_after_its_deadline() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        assert!(!too_late(now, now + ms(200), ms(199)));
        assert!(too_late(now, now + ms(200), ms(200)));
        assert!(too_late(now, now + ms(100), ms(300)));
        assert!(
            too_late(now, now, Duration::ZERO),
            "a deadline already passed"
        );
        assert!(too_late(now, now + ms(1), Duration::MAX), "no overflow");
    }

    #[test]
    fn an_order_is_refused_once_the_queue_has_waited_half_its_deadline() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        assert!(!would_be_late(now, now + ms(200), ms(99)));
        assert!(would_be_late(now, now + ms(200), ms(100)));
        assert!(!would_be_late(now, now + ms(200), Duration::ZERO));
        assert!(
            would_be_late(now, now + ms(1), Duration::MAX),
            "no overflow"
        );
    }
}
