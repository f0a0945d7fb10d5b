//! An opt-in cache of what GetSalableQuantities reads, kept current by change notification.
//!
//! Listing and product pages ask for salable quantities on every view; PostgreSQL then answers a
//! SKU once per change instead of once per view. Every write through stockd drops the entries of
//! the SKUs it touched on this replica before it answers, and tells the other replicas through
//! PostgreSQL (`changes.rs`); an entry also ends when a cart hold it counted expires, and after
//! the time to live at the latest, which bounds what a write made outside stockd can leave stale.
//! While a replica is not listening for changes it reads PostgreSQL as if the cache were off.
//! Nothing that reserves reads it: PlaceOrder, SetCartHolds and CheckQuantities always read under
//! the rules of docs/reservations.md. Freshness is judged against the repository's clock, so tests
//! move time instead of sleeping.

use std::{
    collections::HashSet,
    hash::{Hash, Hasher},
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration as StdDuration,
};

use chrono::{DateTime, Duration, Utc};
use compact_str::CompactString;
use quick_cache::{DefaultHashBuilder, Equivalent, sync::Cache};

use super::{
    availability::{Snapshot, StockScope},
    changes::Change,
    read_replicas::monotonic_nanos,
};
use crate::domain::{ProductSettings, SalableQuantity, Sku, StockId, salable_quantity};

/// How long answers may be reused at most, and how many SKUs are kept at most.
#[derive(Debug, Clone, Copy)]
pub struct AvailabilityCacheConfig {
    /// Longest an entry lives without a change notice; bounds staleness from writes made outside
    /// stockd.
    pub ttl: StdDuration,
    /// Most (stock, SKU) entries kept; the coldest go first when it is full.
    pub max_skus: u64,
}

/// What the cache has done since the replica started, for the metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvailabilityCacheStats {
    /// Whether other replicas' change notices are being heard (entries are served only then).
    pub listening: bool,
    /// (stock, SKU) entries held now.
    pub entries: u64,
    /// SKUs answered from an entry.
    pub served: u64,
    /// SKUs read from PostgreSQL by GetSalableQuantities (misses, and every SKU while not
    /// listening).
    pub read: u64,
}

/// A change to more SKUs than this drops everything: cheaper than dropping each one.
const MAX_SKUS_PER_CHANGE: usize = 10_000;

/// SKUs share this many change stripes: a read is not kept when any SKU of its stripe changed
/// meanwhile, which costs a miss now and then and needs no memory per SKU.
const CHANGE_STRIPES: usize = 4_096;

/// A stored (stock, SKU) key. The SKU is kept inline when short (24 bytes, which most SKUs
/// are), so comparing a key does not chase a pointer into another cache line.
type StoredKey = (StockId, CompactString);

/// A (stock, SKU) key borrowed from a request, so a lookup allocates nothing.
#[derive(Debug, Clone, Copy)]
struct SkuKey<'a>(StockId, &'a str);

impl Hash for SkuKey<'_> {
    // The same hash as the stored key: a CompactString hashes like the str it holds.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl Equivalent<StoredKey> for SkuKey<'_> {
    fn equivalent(&self, key: &StoredKey) -> bool {
        self.0 == key.0 && self.1 == key.1.as_str()
    }
}

/// The stock a scope resolved to.
#[derive(Debug)]
pub(super) struct ScopeEntry {
    valid_until: DateTime<Utc>,
    pub(super) stock: StockId,
}

/// A SKU's salable quantity in one stock, as computed when it was read. The answer is kept
/// rather than what it was computed from: a hit then costs a lookup and a copy, and an entry
/// holds a few hundred bytes however many sources stock the SKU.
#[derive(Debug, Clone)]
pub(super) struct SkuEntry {
    valid_until: DateTime<Utc>,
    pub(super) salable: SalableQuantity,
}

/// Taken before a read: what the read returns is kept only if nothing it covers changed since.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadTicket(u64);

/// Which changes happened when, counted on one sequence.
#[derive(Debug)]
struct Changes {
    sequence: AtomicU64,
    everything_at: AtomicU64,
    /// The last change to any SKU of each stripe.
    stripes: Vec<AtomicU64>,
    /// When each stripe last changed, and everything last did (`monotonic_nanos`): a read
    /// replica must have caught up past them before its reads may be kept.
    stripe_times: Vec<AtomicU64>,
    everything_time: AtomicU64,
    hasher: DefaultHashBuilder,
    /// Whether change notices from other replicas are arriving.
    listening: AtomicBool,
    /// Every stock that has had entries, so a SKU's change reaches all of them.
    stocks: RwLock<HashSet<StockId>>,
}

impl Changes {
    fn stripe(&self, sku: &Sku) -> &AtomicU64 {
        &self.stripes[self.stripe_index(sku)]
    }

    fn stripe_time(&self, sku: &Sku) -> &AtomicU64 {
        &self.stripe_times[self.stripe_index(sku)]
    }

    fn stripe_index(&self, sku: &Sku) -> usize {
        let hash = self.hasher.hash_one(sku.as_str());
        // The modulo keeps the index below the stripe count, so it fits in usize.
        (hash % CHANGE_STRIPES as u64) as usize
    }
}

/// The cache itself: scopes and SKUs, each entry valid until a change, a hold expiry or the TTL.
#[derive(Debug, Clone)]
pub(super) struct AvailabilityCache {
    ttl: Duration,
    scopes: Arc<Cache<StockScope, Arc<ScopeEntry>>>,
    skus: Arc<Cache<StoredKey, SkuEntry>>,
    changes: Arc<Changes>,
    served: Arc<AtomicU64>,
    read: Arc<AtomicU64>,
}

impl AvailabilityCache {
    /// An empty cache, not yet listening; `None` when the time to live is zero (caching off).
    pub(super) fn new(config: AvailabilityCacheConfig) -> Option<Self> {
        let ttl = Duration::from_std(config.ttl).ok()?;
        if ttl <= Duration::zero() {
            return None;
        }
        Some(Self {
            ttl,
            scopes: Arc::new(Cache::new(1_000)),
            skus: Arc::new(Cache::new(
                usize::try_from(config.max_skus)
                    .unwrap_or(usize::MAX)
                    .max(1),
            )),
            changes: Arc::new(Changes {
                sequence: AtomicU64::new(0),
                everything_at: AtomicU64::new(0),
                stripes: (0..CHANGE_STRIPES).map(|_| AtomicU64::new(0)).collect(),
                stripe_times: (0..CHANGE_STRIPES).map(|_| AtomicU64::new(0)).collect(),
                everything_time: AtomicU64::new(0),
                hasher: DefaultHashBuilder::default(),
                listening: AtomicBool::new(false),
                stocks: RwLock::new(HashSet::new()),
            }),
            served: Arc::new(AtomicU64::new(0)),
            read: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Counts SKUs of one call: answered from entries, and read from PostgreSQL.
    pub(super) fn count(&self, served: usize, read: usize) {
        // usize → u64 never truncates on the platforms stockd builds for.
        self.served.fetch_add(served as u64, Ordering::Relaxed);
        self.read.fetch_add(read as u64, Ordering::Relaxed);
    }

    /// What the cache holds and has done so far.
    pub(super) fn stats(&self) -> AvailabilityCacheStats {
        AvailabilityCacheStats {
            listening: self.is_live(),
            // usize → u64 as above.
            entries: self.skus.len() as u64,
            served: self.served.load(Ordering::Relaxed),
            read: self.read.load(Ordering::Relaxed),
        }
    }

    /// Whether entries may be served: only while other replicas' changes are being heard.
    pub(super) fn is_live(&self) -> bool {
        self.changes.listening.load(Ordering::SeqCst)
    }

    /// Records whether change notices are arriving; either way everything read so far is dropped,
    /// since notices may have been missed.
    pub(super) fn set_listening(&self, listening: bool) {
        self.apply(&Change::Everything);
        self.changes.listening.store(listening, Ordering::SeqCst);
    }

    /// Drops the entries a change makes wrong, and any read in flight that covers them.
    pub(super) fn apply(&self, change: &Change) {
        // The time goes first: a ticket that counts this change must also see when it came.
        let now = monotonic_nanos();
        match change {
            Change::Skus(skus) if skus.len() <= MAX_SKUS_PER_CHANGE => {
                for sku in skus {
                    self.changes
                        .stripe_time(sku)
                        .fetch_max(now, Ordering::SeqCst);
                }
                self.drop_skus(skus);
            }
            _ => {
                self.changes
                    .everything_time
                    .fetch_max(now, Ordering::SeqCst);
                let at = self.next_sequence();
                self.changes.everything_at.store(at, Ordering::SeqCst);
                self.scopes.clear();
                self.skus.clear();
            }
        }
    }

    fn drop_skus(&self, skus: &[Sku]) {
        let at = self.next_sequence();
        let stocks = self.known_stocks();
        for sku in skus {
            self.changes.stripe(sku).fetch_max(at, Ordering::SeqCst);
            for stock in &stocks {
                self.skus.remove(&SkuKey(*stock, sku.as_str()));
            }
        }
    }

    /// Taken before reading PostgreSQL, handed to `remember` with what was read.
    pub(super) fn ticket(&self) -> ReadTicket {
        ReadTicket(self.changes.sequence.load(Ordering::SeqCst))
    }

    /// When the last change this cache has heard of that covers `skus` or their scope arrived
    /// (`monotonic_nanos`; 0: none). Every such change was committed by then.
    pub(super) fn changed_at(&self, skus: &[&Sku]) -> u64 {
        skus.iter()
            .map(|sku| self.changes.stripe_time(sku).load(Ordering::SeqCst))
            .fold(
                self.changes.everything_time.load(Ordering::SeqCst),
                u64::max,
            )
    }

    /// The scope's stock and defaults, if still valid at `now`.
    pub(super) fn scope(&self, scope: &StockScope, now: DateTime<Utc>) -> Option<Arc<ScopeEntry>> {
        self.scopes
            .get(scope)
            .filter(|entry| now < entry.valid_until)
    }

    /// A SKU's entry in a stock, if still valid at `now`.
    pub(super) fn sku(&self, stock: StockId, sku: &Sku, now: DateTime<Utc>) -> Option<SkuEntry> {
        self.skus
            .get(&SkuKey(stock, sku.as_str()))
            .filter(|entry| now < entry.valid_until)
    }

    /// Keeps what a snapshot read at `now` (after `ticket`) says about the scope and `skus`,
    /// unless a change covering them arrived meanwhile, and returns it either way: the read was
    /// true when it was made. Each SKU's answer is computed from the snapshot alone, so it never
    /// mixes defaults and source items read at different times.
    pub(super) fn remember(
        &self,
        scope: &StockScope,
        stock: StockId,
        snapshot: &Snapshot,
        skus: &[&Sku],
        now: DateTime<Utc>,
        ticket: ReadTicket,
    ) -> (Arc<ScopeEntry>, Vec<SkuEntry>) {
        self.note_stock(stock);
        let expires = now + self.ttl;
        let no_settings = ProductSettings::default();
        let entries = skus
            .iter()
            .map(|sku| {
                let entry = SkuEntry {
                    valid_until: snapshot
                        .hold_expiries
                        .get(sku.as_str())
                        .map_or(expires, |hold| expires.min(*hold)),
                    salable: salable_quantity(&snapshot.view(sku, &no_settings)),
                };
                self.keep_sku(stock, sku, &entry, ticket);
                entry
            })
            .collect();
        let scope_entry = Arc::new(ScopeEntry {
            valid_until: expires,
            stock,
        });
        self.scopes.insert(scope.clone(), Arc::clone(&scope_entry));
        if self.changed_since(None, ticket) {
            self.scopes.remove(scope);
        }
        (scope_entry, entries)
    }

    /// Inserts, then looks for a change: a change that lands between the two still removes it.
    fn keep_sku(&self, stock: StockId, sku: &Sku, entry: &SkuEntry, ticket: ReadTicket) {
        self.skus
            .insert((stock, CompactString::from(sku.as_str())), entry.clone());
        if self.changed_since(Some(sku), ticket) {
            self.skus.remove(&SkuKey(stock, sku.as_str()));
        }
    }

    fn changed_since(&self, sku: Option<&Sku>, ticket: ReadTicket) -> bool {
        let sku_at = sku.map_or(0, |sku| self.changes.stripe(sku).load(Ordering::SeqCst));
        sku_at.max(self.changes.everything_at.load(Ordering::SeqCst)) > ticket.0
    }

    fn next_sequence(&self) -> u64 {
        self.changes.sequence.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn note_stock(&self, stock: StockId) {
        let known = self
            .changes
            .stocks
            .read()
            .is_ok_and(|stocks| stocks.contains(&stock));
        if !known && let Ok(mut stocks) = self.changes.stocks.write() {
            stocks.insert(stock);
        }
    }

    fn known_stocks(&self) -> Vec<StockId> {
        self.changes
            .stocks
            .read()
            .map(|stocks| stocks.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn cache(ttl_secs: u64) -> AvailabilityCache {
        let cache = AvailabilityCache::new(AvailabilityCacheConfig {
            ttl: StdDuration::from_secs(ttl_secs),
            max_skus: 100,
        })
        .unwrap();
        cache.set_listening(true);
        cache
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn stock() -> StockId {
        StockId::new(1).unwrap()
    }

    fn read(cache: &AvailabilityCache, skus: &[&Sku], snapshot: Snapshot, ticket: ReadTicket) {
        let scope = StockScope::Stock(stock());
        let _ = cache.remember(&scope, stock(), &snapshot, skus, t0(), ticket);
    }

    #[test]
    fn a_zero_time_to_live_turns_the_cache_off() {
        assert!(
            AvailabilityCache::new(AvailabilityCacheConfig {
                ttl: StdDuration::ZERO,
                max_skus: 1,
            })
            .is_none()
        );
    }

    #[test]
    fn entries_live_until_the_time_to_live() {
        let cache = cache(60);
        let a = sku("A");
        read(&cache, &[&a], Snapshot::default(), cache.ticket());
        assert!(
            cache
                .sku(stock(), &a, t0() + Duration::seconds(59))
                .is_some()
        );
        assert!(
            cache
                .sku(stock(), &a, t0() + Duration::seconds(60))
                .is_none()
        );
    }

    #[test]
    fn an_entry_ends_when_the_first_hold_it_counts_expires() {
        let cache = cache(3_600);
        let a = sku("A");
        let mut snapshot = Snapshot::default();
        snapshot
            .hold_expiries
            .insert("A".into(), t0() + Duration::seconds(90));
        read(&cache, &[&a], snapshot, cache.ticket());
        assert!(
            cache
                .sku(stock(), &a, t0() + Duration::seconds(89))
                .is_some()
        );
        assert!(
            cache
                .sku(stock(), &a, t0() + Duration::seconds(90))
                .is_none()
        );
    }

    #[test]
    fn an_entry_holds_the_answer_its_snapshot_gives() {
        let cache = cache(60);
        let (a, b) = (sku("A"), sku("B"));
        let mut snapshot = Snapshot::default();
        snapshot
            .reserved
            .insert("A".into(), rust_decimal::Decimal::from(-3));
        snapshot.products.insert(
            "B".into(),
            ProductSettings {
                manage_stock: Some(false),
                ..ProductSettings::default()
            },
        );
        let expected: Vec<SalableQuantity> = [&a, &b]
            .iter()
            .map(|s| salable_quantity(&snapshot.view(s, &ProductSettings::default())))
            .collect();
        assert_ne!(expected[0], expected[1]);
        let scope = StockScope::Stock(stock());
        let (_, returned) =
            cache.remember(&scope, stock(), &snapshot, &[&a, &b], t0(), cache.ticket());
        let returned: Vec<SalableQuantity> = returned.into_iter().map(|e| e.salable).collect();
        assert_eq!(returned, expected);
        for (s, want) in [&a, &b].into_iter().zip(&expected) {
            assert_eq!(&cache.sku(stock(), s, t0()).unwrap().salable, want);
        }
    }

    #[test]
    fn skus_too_long_to_keep_inline_are_found_too() {
        let cache = cache(60);
        let long = sku(&"L".repeat(64));
        read(&cache, &[&long], Snapshot::default(), cache.ticket());
        assert!(cache.sku(stock(), &long, t0()).is_some());
        cache.apply(&Change::Skus(vec![long.clone()]));
        assert!(cache.sku(stock(), &long, t0()).is_none());
    }

    #[test]
    fn a_change_drops_only_its_skus() {
        let cache = cache(60);
        let (a, b) = (sku("A"), sku("B"));
        read(&cache, &[&a, &b], Snapshot::default(), cache.ticket());
        cache.apply(&Change::Skus(vec![a.clone()]));
        assert!(cache.sku(stock(), &a, t0()).is_none());
        assert!(cache.sku(stock(), &b, t0()).is_some());
    }

    #[test]
    fn a_read_that_a_change_overtook_is_not_kept() {
        let cache = cache(60);
        let (a, b) = (sku("A"), sku("B"));
        let ticket = cache.ticket();
        cache.apply(&Change::Skus(vec![a.clone()]));
        read(&cache, &[&a, &b], Snapshot::default(), ticket);
        assert!(cache.sku(stock(), &a, t0()).is_none(), "A changed mid-read");
        assert!(cache.sku(stock(), &b, t0()).is_some());
        read(&cache, &[&a], Snapshot::default(), cache.ticket());
        assert!(
            cache.sku(stock(), &a, t0()).is_some(),
            "read after the change"
        );
    }

    #[test]
    fn a_change_to_everything_drops_scopes_skus_and_reads_in_flight() {
        let cache = cache(60);
        let a = sku("A");
        let scope = StockScope::Stock(stock());
        read(&cache, &[&a], Snapshot::default(), cache.ticket());
        let ticket = cache.ticket();
        cache.apply(&Change::Everything);
        assert!(cache.scope(&scope, t0()).is_none());
        assert!(cache.sku(stock(), &a, t0()).is_none());
        read(&cache, &[&a], Snapshot::default(), ticket);
        assert!(cache.scope(&scope, t0()).is_none());
        assert!(cache.sku(stock(), &a, t0()).is_none());
    }

    #[test]
    fn huge_changes_drop_everything() {
        let cache = cache(60);
        let a = sku("A");
        read(&cache, &[&a], Snapshot::default(), cache.ticket());
        let many = (0..=MAX_SKUS_PER_CHANGE)
            .map(|i| sku(&format!("X{i}")))
            .collect();
        cache.apply(&Change::Skus(many));
        assert!(cache.sku(stock(), &a, t0()).is_none());
    }

    #[test]
    fn a_change_is_dated_for_its_skus_and_a_change_to_everything_for_all() {
        let cache = cache(60);
        let (a, b) = (sku("A"), sku("B"));
        let before = monotonic_nanos();
        cache.apply(&Change::Skus(vec![a.clone()]));
        let a_changed = cache.changed_at(&[&a]);
        assert!(a_changed >= before);
        assert!(cache.changed_at(&[&b]) < before, "B did not change");
        assert_eq!(cache.changed_at(&[&a, &b]), a_changed);
        cache.apply(&Change::Everything);
        assert!(cache.changed_at(&[&b]) > a_changed);
    }

    #[test]
    fn stats_count_served_and_read_skus() {
        let cache = cache(60);
        let a = sku("A");
        read(&cache, &[&a], Snapshot::default(), cache.ticket());
        cache.count(49, 1);
        cache.count(50, 0);
        assert_eq!(
            cache.stats(),
            AvailabilityCacheStats {
                listening: true,
                entries: 1,
                served: 99,
                read: 1,
            }
        );
    }

    #[test]
    fn the_cache_is_live_only_while_listening() {
        let cache = cache(60);
        let a = sku("A");
        read(&cache, &[&a], Snapshot::default(), cache.ticket());
        cache.set_listening(false);
        assert!(!cache.is_live());
        assert!(
            cache.sku(stock(), &a, t0()).is_none(),
            "notices may be missed"
        );
    }
}
