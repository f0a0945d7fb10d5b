//! A short-lived, opt-in cache of what GetSalableQuantities reads, for storefront listings.
//!
//! Listing and product pages ask for salable quantities on every view, mostly of the same
//! products, and can live with an answer a second or two old; PostgreSQL then answers each SKU
//! once per time to live instead of once per view. Nothing that reserves reads it: PlaceOrder,
//! SetCartHolds and CheckQuantities always read under the rules of docs/reservations.md. Entries
//! are judged fresh against the repository's clock (so tests move time instead of sleeping) and
//! are never invalidated early, on this replica or another: the time to live is the whole
//! staleness bound, the same on every replica.

use std::{sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use moka::sync::Cache;
use rust_decimal::Decimal;

use super::availability::{Snapshot, StockScope};
use crate::domain::{GlobalSettings, LinkedSourceItem, ProductSettings, Sku, StockId, StockSku};

/// How long answers may be reused, and how many SKUs are kept at most.
#[derive(Debug, Clone, Copy)]
pub struct AvailabilityCacheConfig {
    /// Oldest answer that may be served.
    pub ttl: StdDuration,
    /// Most (stock, SKU) entries kept; the least recently used go first.
    pub max_skus: u64,
}

/// The stock a scope resolved to, with the defaults read at the same time.
#[derive(Debug)]
pub(super) struct ScopeEntry {
    loaded_at: DateTime<Utc>,
    pub(super) stock: StockId,
    pub(super) global: GlobalSettings,
}

/// What one stock knew about one SKU when it was read.
#[derive(Debug)]
pub(super) struct SkuEntry {
    loaded_at: DateTime<Utc>,
    product: ProductSettings,
    items: Vec<LinkedSourceItem>,
    reserved: Decimal,
}

impl SkuEntry {
    /// The domain's view of the SKU under `global`.
    pub(super) fn view<'a>(&'a self, sku: &'a Sku, global: &'a GlobalSettings) -> StockSku<'a> {
        StockSku {
            sku,
            global,
            product: &self.product,
            items: &self.items,
            reserved: self.reserved,
        }
    }
}

/// The cache itself: scopes and SKUs, each entry fresh for the time to live.
#[derive(Debug, Clone)]
pub(super) struct AvailabilityCache {
    ttl: Duration,
    scopes: Cache<StockScope, Arc<ScopeEntry>>,
    skus: Cache<(StockId, Sku), Arc<SkuEntry>>,
}

impl AvailabilityCache {
    /// An empty cache; `None` when the time to live is zero (caching off).
    pub(super) fn new(config: AvailabilityCacheConfig) -> Option<Self> {
        let ttl = Duration::from_std(config.ttl).ok()?;
        if ttl <= Duration::zero() {
            return None;
        }
        Some(Self {
            ttl,
            scopes: Cache::builder()
                .max_capacity(1_000)
                .time_to_live(config.ttl)
                .build(),
            skus: Cache::builder()
                .max_capacity(config.max_skus)
                .time_to_live(config.ttl)
                .build(),
        })
    }

    /// The scope's stock and defaults, if read less than a time to live ago.
    pub(super) fn scope(&self, scope: &StockScope, now: DateTime<Utc>) -> Option<Arc<ScopeEntry>> {
        self.scopes
            .get(scope)
            .filter(|entry| self.fresh(entry.loaded_at, now))
    }

    /// A SKU's entry in a stock, if read less than a time to live ago.
    pub(super) fn sku(
        &self,
        stock: StockId,
        sku: &Sku,
        now: DateTime<Utc>,
    ) -> Option<Arc<SkuEntry>> {
        self.skus
            .get(&(stock, sku.clone()))
            .filter(|entry| self.fresh(entry.loaded_at, now))
    }

    /// Keeps what a snapshot read at `now` says about the scope and `skus`, and returns it.
    pub(super) fn remember(
        &self,
        scope: &StockScope,
        stock: StockId,
        mut snapshot: Snapshot,
        skus: &[&Sku],
        now: DateTime<Utc>,
    ) -> (Arc<ScopeEntry>, Vec<Arc<SkuEntry>>) {
        let entries = skus
            .iter()
            .map(|sku| {
                let key = sku.as_str();
                let entry = Arc::new(SkuEntry {
                    loaded_at: now,
                    product: snapshot.products.remove(key).unwrap_or_default(),
                    items: snapshot.items.remove(key).unwrap_or_default(),
                    reserved: snapshot.reserved.get(key).copied().unwrap_or_default(),
                });
                self.skus
                    .insert((stock, (*sku).clone()), Arc::clone(&entry));
                entry
            })
            .collect();
        let scope_entry = Arc::new(ScopeEntry {
            loaded_at: now,
            stock,
            global: snapshot.global,
        });
        self.scopes.insert(scope.clone(), Arc::clone(&scope_entry));
        (scope_entry, entries)
    }

    fn fresh(&self, loaded_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - loaded_at < self.ttl
    }
}
