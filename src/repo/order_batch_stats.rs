//! What group commit has done, for operators: how many orders a batch takes on average and how
//! often a batch fails and its orders are placed one by one (each alone is much slower), and how
//! many orders were dropped because their caller left before a batch took them or refused
//! because it would have left first, and how many batches ran long enough to count as stuck.

use std::sync::atomic::{AtomicU64, Ordering};

/// Totals since start, as the metrics endpoint reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderBatchStats {
    /// Batches decided and committed in one transaction.
    pub committed: u64,
    /// Orders those batches judged (placed, refused or answered as replays).
    pub committed_orders: u64,
    /// Batches that failed, whose orders were then placed one by one.
    pub fell_back: u64,
    /// Orders of those batches.
    pub fell_back_orders: u64,
    /// Orders dropped unplaced because their caller cancelled or timed out while they waited.
    pub abandoned_orders: u64,
    /// Orders refused at once because the queue was longer than their caller's deadline.
    pub shed_orders: u64,
    /// Batches that ran long enough to count as stuck (a lock held elsewhere, a slow commit),
    /// counted when they end.
    pub stuck_batches: u64,
}

/// The running counts, shared by every clone of the repository.
#[derive(Debug, Default)]
pub(super) struct OrderBatchCounters {
    committed: AtomicU64,
    committed_orders: AtomicU64,
    fell_back: AtomicU64,
    fell_back_orders: AtomicU64,
    abandoned_orders: AtomicU64,
    shed_orders: AtomicU64,
    stuck_batches: AtomicU64,
}

impl OrderBatchCounters {
    /// Counts a batch of `orders` committed in one transaction.
    pub(super) fn committed(&self, orders: usize) {
        self.committed.fetch_add(1, Ordering::Relaxed);
        self.committed_orders
            .fetch_add(count(orders), Ordering::Relaxed);
    }

    /// Counts a batch of `orders` that failed and went the single-order way.
    pub(super) fn fell_back(&self, orders: usize) {
        self.fell_back.fetch_add(1, Ordering::Relaxed);
        self.fell_back_orders
            .fetch_add(count(orders), Ordering::Relaxed);
    }

    /// Counts `orders` dropped because their callers left while they waited.
    pub(super) fn abandoned(&self, orders: usize) {
        if orders > 0 {
            self.abandoned_orders
                .fetch_add(count(orders), Ordering::Relaxed);
        }
    }

    /// Counts one order refused because its caller's deadline would pass in the queue.
    pub(super) fn shed(&self) {
        self.shed_orders.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one batch that ended after it had counted as stuck.
    pub(super) fn stuck(&self) {
        self.stuck_batches.fetch_add(1, Ordering::Relaxed);
    }

    /// The totals so far.
    pub(super) fn stats(&self) -> OrderBatchStats {
        OrderBatchStats {
            committed: self.committed.load(Ordering::Relaxed),
            committed_orders: self.committed_orders.load(Ordering::Relaxed),
            fell_back: self.fell_back.load(Ordering::Relaxed),
            fell_back_orders: self.fell_back_orders.load(Ordering::Relaxed),
            abandoned_orders: self.abandoned_orders.load(Ordering::Relaxed),
            shed_orders: self.shed_orders.load(Ordering::Relaxed),
            stuck_batches: self.stuck_batches.load(Ordering::Relaxed),
        }
    }
}

fn count(orders: usize) -> u64 {
    u64::try_from(orders).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_and_their_orders_are_counted_by_outcome() {
        let counters = OrderBatchCounters::default();
        counters.committed(3);
        counters.committed(1);
        counters.fell_back(5);
        counters.abandoned(0);
        counters.abandoned(2);
        counters.shed();
        counters.stuck();
        counters.stuck();
        assert_eq!(
            counters.stats(),
            OrderBatchStats {
                committed: 2,
                committed_orders: 4,
                fell_back: 1,
                fell_back_orders: 5,
                abandoned_orders: 2,
                shed_orders: 1,
                stuck_batches: 2,
            }
        );
    }
}
