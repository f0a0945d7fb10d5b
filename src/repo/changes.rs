//! Change notices between replicas: which SKUs' availability a committed write changed.
//!
//! A replica that caches availability must hear about every write, including those made by its
//! neighbours behind the same load balancer. Each write's SKUs are published after its commit with
//! PostgreSQL's NOTIFY, coalesced so a busy replica sends one notice per few writes; every replica
//! with the cache on LISTENs and drops what the notices name. A listener that loses its connection
//! cannot know what it missed, so it drops everything and serves uncached until it listens again.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::availability_cache::AvailabilityCache;
use crate::domain::Sku;

/// The PostgreSQL notification channel the replicas share.
pub(super) const CHANNEL: &str = "stockd_availability";

/// The line that means "everything may have changed" (not a valid SKU: SKUs are trimmed).
const EVERYTHING: &str = " *";

/// PostgreSQL refuses payloads of 8,000 bytes or more.
const MAX_PAYLOAD_BYTES: usize = 7_900;

/// Most changes folded into one publication.
const MAX_COALESCED: usize = 1_024;

/// Wait before listening again after the connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// What a committed write changed, as far as availability is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// These SKUs, in every stock.
    Skus(Vec<Sku>),
    /// Settings, sources, links or channels: anything may answer differently.
    Everything,
}

impl Change {
    /// A change to the given SKUs.
    pub(crate) fn skus<'a>(skus: impl IntoIterator<Item = &'a Sku>) -> Self {
        Change::Skus(skus.into_iter().cloned().collect())
    }

    /// This change plus SKUs read back from PostgreSQL (consumed or released cart holds).
    pub(super) fn and_stored(self, stored: &[String]) -> Self {
        match (self, changed_skus(stored.iter().map(String::as_str))) {
            (Change::Skus(mut skus), Change::Skus(more)) => {
                skus.extend(more);
                Change::Skus(skus)
            }
            _ => Change::Everything,
        }
    }
}

/// A change to SKUs read back as text (from PostgreSQL or a notice); one that does not parse
/// widens the change to everything rather than being lost.
pub(super) fn changed_skus<'a>(skus: impl IntoIterator<Item = &'a str>) -> Change {
    skus.into_iter()
        .map(Sku::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_or(Change::Everything, Change::Skus)
}

/// Which replica published a notice: a replica has applied its own changes before it publishes
/// them, and skips its own notices when they come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin(String);

impl Origin {
    /// A name no other running replica has.
    pub(super) fn new() -> Self {
        use std::hash::{BuildHasher, Hash, Hasher};
        // The standard library seeds each hasher from the operating system's randomness.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        std::process::id().hash(&mut hasher);
        std::time::SystemTime::now().hash(&mut hasher);
        Self(format!("{:016x}", hasher.finish()))
    }
}

/// Hands changes to the task that publishes them; never waits.
#[derive(Debug, Clone)]
pub(super) struct Publisher {
    queue: mpsc::UnboundedSender<Change>,
}

impl Publisher {
    /// Starts publishing on `pool`, as `origin`, until `stop`.
    pub(super) fn start(pool: PgPool, origin: Origin, stop: CancellationToken) -> Self {
        let (queue, changes) = mpsc::unbounded_channel();
        tokio::spawn(publish_until(pool, origin, changes, stop));
        Self { queue }
    }

    /// Queues a change for the other replicas.
    pub(super) fn publish(&self, change: Change) {
        // Only a stopped service has no publisher task, and then nobody is left to tell.
        let _ = self.queue.send(change);
    }
}

async fn publish_until(
    pool: PgPool,
    origin: Origin,
    mut changes: mpsc::UnboundedReceiver<Change>,
    stop: CancellationToken,
) {
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            received = changes.recv_many(&mut batch, MAX_COALESCED) => if received == 0 { return },
        }
        let payloads = encode(&origin, std::mem::take(&mut batch));
        if let Err(error) = notify(&pool, &payloads).await {
            // The other replicas' entries then live out their time to live.
            tracing::warn!(%error, "could not publish availability changes");
        }
    }
}

/// One statement, committed without waiting for the disk: a notice that is lost in a crash
/// costs nothing, since listeners that lose their connection drop everything anyway.
async fn notify(pool: &PgPool, payloads: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, payload) \
         FROM unnest($2::text[]) AS payload",
    )
    .bind(CHANNEL)
    .bind(payloads)
    .execute(pool)
    .await
    .map(drop)
}

/// Folds changes into as few payloads as fit: the origin, then one SKU per line.
pub(super) fn encode(origin: &Origin, changes: Vec<Change>) -> Vec<String> {
    let mut skus = Vec::new();
    for change in changes {
        match change {
            Change::Everything => return vec![format!("{}\n{EVERYTHING}", origin.0)],
            Change::Skus(more) => skus.extend(more),
        }
    }
    skus.sort_unstable();
    skus.dedup();
    let mut payloads: Vec<String> = Vec::new();
    for sku in skus {
        match payloads.last_mut() {
            Some(last) if last.len() + 1 + sku.as_str().len() <= MAX_PAYLOAD_BYTES => {
                last.push('\n');
                last.push_str(sku.as_str());
            }
            _ => payloads.push(format!("{}\n{}", origin.0, sku.as_str())),
        }
    }
    payloads
}

/// Reads a payload back with its origin; anything unreadable counts as a change to everything
/// from nobody in particular.
pub(super) fn decode(payload: &str) -> (Option<Origin>, Change) {
    let Some((origin, lines)) = payload.split_once('\n') else {
        return (None, Change::Everything);
    };
    let origin = Some(Origin(origin.to_owned()));
    if lines == EVERYTHING {
        return (origin, Change::Everything);
    }
    (origin, changed_skus(lines.split('\n')))
}

/// Listens until `stop`, applying other replicas' notices to `cache`; the cache is live only
/// meanwhile.
pub(super) fn listen(
    pool: PgPool,
    origin: Origin,
    cache: AvailabilityCache,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                error = listen_once(&pool, &origin, &cache) => {
                    tracing::warn!(%error, "not listening for availability changes; reading uncached");
                }
            }
            cache.set_listening(false);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(RELISTEN_AFTER) => {}
            }
        }
        cache.set_listening(false);
    });
}

async fn listen_once(pool: &PgPool, origin: &Origin, cache: &AvailabilityCache) -> sqlx::Error {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(error) => return error,
    };
    if let Err(error) = listener.listen(CHANNEL).await {
        return error;
    }
    cache.set_listening(true);
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) => match decode(notice.payload()) {
                (Some(from), _) if from == *origin => {}
                (_, change) => cache.apply(&change),
            },
            // Reconnected already: whatever was published meanwhile is lost.
            Ok(None) => cache.set_listening(true),
            Err(error) => return error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn origin() -> Origin {
        Origin("a1".into())
    }

    #[test]
    fn changes_fold_into_one_payload_without_repeats() {
        let payloads = encode(
            &origin(),
            vec![
                Change::Skus(vec![sku("B"), sku("A")]),
                Change::Skus(vec![sku("A")]),
            ],
        );
        assert_eq!(payloads, vec!["a1\nA\nB".to_owned()]);
        assert_eq!(
            decode(&payloads[0]),
            (Some(origin()), Change::Skus(vec![sku("A"), sku("B")]))
        );
    }

    #[test]
    fn a_change_to_everything_wins() {
        let payloads = encode(
            &origin(),
            vec![Change::Skus(vec![sku("A")]), Change::Everything],
        );
        assert_eq!(payloads.len(), 1);
        assert_eq!(decode(&payloads[0]), (Some(origin()), Change::Everything));
    }

    #[test]
    fn long_lists_split_below_the_payload_limit_each_with_its_origin() {
        let skus: Vec<Sku> = (0..1_000).map(|i| sku(&format!("SKU-{i:058}"))).collect();
        let payloads = encode(&origin(), vec![Change::Skus(skus.clone())]);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD_BYTES));
        let back: Vec<Sku> = payloads
            .iter()
            .flat_map(|p| match decode(p) {
                (Some(from), Change::Skus(skus)) if from == origin() => skus,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let mut expected = skus;
        expected.sort_unstable();
        assert_eq!(back, expected);
    }

    #[test]
    fn unreadable_payloads_drop_everything() {
        assert_eq!(decode(""), (None, Change::Everything));
        assert_eq!(decode("a1"), (None, Change::Everything));
        assert_eq!(decode("a1\nA\n\nB").1, Change::Everything);
    }

    #[test]
    fn skus_with_spaces_and_stars_survive() {
        let odd = vec![sku("* b"), sku("a *")];
        let payloads = encode(&origin(), vec![Change::Skus(odd.clone())]);
        assert_eq!(decode(&payloads[0]).1, Change::Skus(odd));
    }

    #[test]
    fn stored_skus_join_a_change_and_unreadable_ones_widen_it() {
        let change = Change::skus([&sku("A")]).and_stored(&["B".to_owned()]);
        assert_eq!(change, Change::Skus(vec![sku("A"), sku("B")]));
        let change = Change::skus([&sku("A")]).and_stored(&[String::new()]);
        assert_eq!(change, Change::Everything);
    }

    #[test]
    fn replicas_get_different_origins() {
        assert_ne!(Origin::new(), Origin::new());
    }
}
