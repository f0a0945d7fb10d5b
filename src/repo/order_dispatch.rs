//! Forms the group-commit batches of PlaceOrder and runs a few of them at once.
//!
//! Batches in flight never share a SKU. An order whose SKUs overlap a running batch waits for the
//! next batch, and so does every later order that shares a SKU with a waiting one, so orders of a
//! SKU are still judged in arrival order. Orders of one hot SKU therefore pile up while its batch
//! commits and go together in the next one (the group commit), while orders over unrelated SKUs
//! commit side by side instead of queueing behind each other. Because this process's batches never
//! wait for each other's row locks, a small catalogue, where concurrent orders often share a SKU,
//! does not turn parallel batches into a convoy.

use std::collections::{HashSet, VecDeque};

use tokio::sync::{mpsc, oneshot};

use super::{
    Repo, RepoError,
    order_batch::{Job, MAX_BATCH},
    orders::PlacedOrder,
};

/// Batches in flight at once; each holds one pool connection while it runs.
const IN_FLIGHT: usize = 4;

/// The handle the repository sends orders to.
#[derive(Debug, Clone)]
pub(super) struct OrderBatcher {
    jobs: mpsc::Sender<Job>,
}

impl OrderBatcher {
    /// Starts the dispatcher; it ends when the last handle is dropped and its batches are done.
    pub(super) fn start(repo: Repo) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(dispatch(repo, queue));
        Self { jobs }
    }

    /// Queues an order; `None` when the dispatcher is gone (the caller then places it alone).
    pub(super) async fn submit(
        &self,
        job: Job,
    ) -> Option<oneshot::Receiver<Result<PlacedOrder, RepoError>>> {
        let (tx, rx) = oneshot::channel();
        let job = Job { reply: tx, ..job };
        self.jobs.send(job).await.ok().map(|()| rx)
    }
}

async fn dispatch(repo: Repo, mut queue: mpsc::Receiver<Job>) {
    let (done_tx, mut done) = mpsc::unbounded_channel::<Vec<String>>();
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut in_flight = 0usize;
    let mut open = true;
    while open || in_flight > 0 {
        tokio::select! {
            job = queue.recv(), if open => match job {
                Some(job) => pending.push_back(job),
                None => open = false,
            },
            Some(skus) = done.recv(), if in_flight > 0 => {
                in_flight -= 1;
                for sku in skus {
                    busy.remove(&sku);
                }
            }
        }
        while let Ok(job) = queue.try_recv() {
            pending.push_back(job);
        }
        while in_flight < IN_FLIGHT {
            let batch = take_batch(&mut pending, &busy, |job: &Job| skus_of(job));
            if batch.is_empty() {
                break;
            }
            let skus: Vec<String> = batch.iter().flat_map(skus_of).collect();
            busy.extend(skus.iter().cloned());
            in_flight += 1;
            let (repo, done_tx) = (repo.clone(), done_tx.clone());
            tokio::spawn(async move {
                repo.run_batch(batch).await;
                let _ = done_tx.send(skus);
            });
        }
    }
}

fn skus_of(job: &Job) -> Vec<String> {
    job.request
        .lines
        .iter()
        .map(|(sku, _)| sku.as_str().to_owned())
        .collect()
}

/// Takes, in arrival order, up to MAX_BATCH pending items that share no SKU with `busy` nor with
/// an earlier item left waiting; the rest stay pending in their order.
fn take_batch<T>(
    pending: &mut VecDeque<T>,
    busy: &HashSet<String>,
    skus: impl Fn(&T) -> Vec<String>,
) -> Vec<T> {
    let mut blocked: HashSet<String> = HashSet::new();
    let mut batch = Vec::new();
    let mut waiting = VecDeque::with_capacity(pending.len());
    while let Some(item) = pending.pop_front() {
        let names = skus(&item);
        let free = names
            .iter()
            .all(|s| !busy.contains(s) && !blocked.contains(s));
        if free && batch.len() < MAX_BATCH {
            batch.push(item);
        } else {
            blocked.extend(names);
            waiting.push_back(item);
        }
    }
    *pending = waiting;
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(pending: &[&[&str]], busy: &[&str]) -> (Vec<usize>, Vec<usize>) {
        let mut queue: VecDeque<(usize, Vec<String>)> = pending
            .iter()
            .enumerate()
            .map(|(i, skus)| (i, skus.iter().map(|s| (*s).to_owned()).collect()))
            .collect();
        let busy: HashSet<String> = busy.iter().map(|s| (*s).to_owned()).collect();
        let batch = take_batch(&mut queue, &busy, |(_, skus)| skus.clone());
        (
            batch.into_iter().map(|(i, _)| i).collect(),
            queue.into_iter().map(|(i, _)| i).collect(),
        )
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
}
