//! Availability: load what one stock knows about a batch of SKUs, let the domain answer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use super::{
    Repo, RepoError,
    availability_cache::{AvailabilityCache, SkuEntry},
    rows::{PRODUCT_SETTINGS_COLUMNS, ProductSettingsRow},
    settings::load_global,
    snapshot::query_snapshot,
    stocks::{channel_not_found, stock_not_found},
};
use crate::domain::{
    self, CartId, GlobalSettings, LinkedSourceItem, ProductSettings, Quantity, QuantityCheck,
    SalableQuantity, SalesChannel, Sku, StockId, StockSku, Violation, check_quantity,
    salable_quantity,
};

/// A line a cart holds or an order reserved, as the caller is told.
#[derive(Debug, Clone, PartialEq)]
pub struct ReservedLine {
    /// The product.
    pub sku: Sku,
    /// Units held or ordered.
    pub quantity: Decimal,
    /// Units beyond on-hand.
    pub backordered: Decimal,
    /// Backorder notice and "Only X left".
    pub notices: Vec<Violation>,
}

/// Which stock a question is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StockScope {
    /// A stock by id.
    Stock(StockId),
    /// The stock a sales channel sells from.
    Channel(SalesChannel),
}

/// Everything one stock knows about a batch of SKUs, read in one go.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    pub(super) global: GlobalSettings,
    pub(super) products: HashMap<String, ProductSettings>,
    pub(super) items: HashMap<String, Vec<LinkedSourceItem>>,
    pub(super) reserved: HashMap<String, Decimal>,
    /// When the first live hold counted in `reserved` expires, for SKUs with holds: the answer
    /// changes then without any write.
    pub(super) hold_expiries: HashMap<String, DateTime<Utc>>,
}

impl Snapshot {
    /// A snapshot of no SKUs: only the defaults.
    pub(super) fn with_global(global: GlobalSettings) -> Self {
        Snapshot {
            global,
            ..Snapshot::default()
        }
    }

    /// The domain's view of one SKU; `no_settings` stands in for a product without overrides.
    pub(super) fn view<'a>(
        &'a self,
        sku: &'a Sku,
        no_settings: &'a ProductSettings,
    ) -> StockSku<'a> {
        StockSku {
            sku,
            global: &self.global,
            product: self.products.get(sku.as_str()).unwrap_or(no_settings),
            items: self.items.get(sku.as_str()).map_or(&[], Vec::as_slice),
            reserved: self.reserved.get(sku.as_str()).copied().unwrap_or_default(),
        }
    }
}

impl Repo {
    /// The stock id behind a scope; NOT_FOUND for an unknown stock or channel.
    pub async fn resolve_stock(&self, scope: &StockScope) -> Result<StockId, RepoError> {
        match scope {
            StockScope::Stock(id) => self.ensure_stock(*id).await,
            StockScope::Channel(channel) => self.stock_of_channel(channel).await,
        }
    }

    /// Salable quantity of each SKU in the scope's stock, in request order, with the stock id.
    /// With the availability cache on, an answer may lag a write by the time its change notice
    /// takes to arrive (this replica's own writes: not at all).
    #[tracing::instrument(skip_all, fields(skus = skus.len()))]
    pub async fn salable_quantities(
        &self,
        scope: &StockScope,
        skus: &[Sku],
    ) -> Result<(StockId, Vec<SalableQuantity>), RepoError> {
        if let Some(cache) = &self.availability_cache {
            if cache.is_live() {
                return self.cached_salable_quantities(cache, scope, skus).await;
            }
            cache.count(0, skus.len());
        }
        let names: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let (stock, snapshot) = self
            .read_anywhere(0, |pool| self.scoped_snapshot(pool, scope, &names, None))
            .await?;
        let no_settings = ProductSettings::default();
        let salable = skus
            .iter()
            .map(|sku| salable_quantity(&snapshot.view(sku, &no_settings)))
            .collect();
        Ok((stock, salable))
    }

    /// Answers fresh entries from the cache and reads only the rest, in one query.
    async fn cached_salable_quantities(
        &self,
        cache: &AvailabilityCache,
        scope: &StockScope,
        skus: &[Sku],
    ) -> Result<(StockId, Vec<SalableQuantity>), RepoError> {
        let now = self.clock.now();
        let known = cache.scope(scope, now);
        let mut entries: Vec<Option<SkuEntry>> = match &known {
            Some(known) => skus
                .iter()
                .map(|s| cache.sku(known.stock, s, now))
                .collect(),
            None => vec![None; skus.len()],
        };
        let misses: Vec<&Sku> = skus
            .iter()
            .zip(&entries)
            .filter(|(_, entry)| entry.is_none())
            .map(|(sku, _)| sku)
            .collect();
        cache.count(skus.len() - misses.len(), misses.len());
        let scope_entry = match known {
            Some(known) if misses.is_empty() => known,
            _ => {
                let names: Vec<&str> = misses.iter().map(|s| s.as_str()).collect();
                let ticket = cache.ticket();
                // A read replica must have replayed every change this cache has heard of for
                // these SKUs, or it could refill an entry with what the change replaced.
                let changed_at = cache.changed_at(&misses);
                let (stock, snapshot) = self
                    .read_anywhere(changed_at, |pool| {
                        self.scoped_snapshot(pool, scope, &names, None)
                    })
                    .await?;
                let (scope_entry, loaded) =
                    cache.remember(scope, stock, &snapshot, &misses, now, ticket);
                let mut loaded = loaded.into_iter();
                for slot in entries.iter_mut().filter(|slot| slot.is_none()) {
                    *slot = loaded.next();
                }
                scope_entry
            }
        };
        let salable = entries
            .into_iter()
            .map(|entry| entry.map(|entry| entry.salable))
            .collect::<Option<_>>()
            .ok_or_else(|| RepoError::Corrupt("availability cache left a SKU unread".into()))?;
        Ok((scope_entry.stock, salable))
    }

    /// Whether each line can be sold in the scope's stock, in request order, with the stock id;
    /// a cart's own holds count as available to it.
    #[tracing::instrument(skip_all, fields(lines = lines.len()))]
    pub async fn check_quantities(
        &self,
        scope: &StockScope,
        lines: &[(Sku, Quantity)],
        cart: Option<&CartId>,
    ) -> Result<(StockId, Vec<QuantityCheck>), RepoError> {
        let skus: Vec<&str> = lines.iter().map(|(sku, _)| sku.as_str()).collect();
        let (stock, snapshot) = self
            .scoped_snapshot(self.pool.clone(), scope, &skus, cart)
            .await?;
        let no_settings = ProductSettings::default();
        let checks = lines
            .iter()
            .map(|(sku, qty)| check_quantity(&snapshot.view(sku, &no_settings), *qty))
            .collect();
        Ok((stock, checks))
    }

    /// The scope's stock and its view of `skus`, read from `pool` (the primary, or a read
    /// replica for reads that feed no decision).
    async fn scoped_snapshot(
        &self,
        pool: PgPool,
        scope: &StockScope,
        skus: &[&str],
        cart: Option<&CartId>,
    ) -> Result<(StockId, Snapshot), RepoError> {
        if skus.is_empty() {
            let stock = self.resolve_stock(scope).await?;
            let global = load_global(&pool, false).await?;
            return Ok((stock, Snapshot::with_global(global)));
        }
        let mut conn = pool.acquire().await?;
        match query_snapshot(&mut conn, scope, skus, self.clock.now(), cart).await? {
            Some(found) => Ok(found),
            None => Err(scope_not_found(scope)),
        }
    }
}

fn scope_not_found(scope: &StockScope) -> RepoError {
    match scope {
        StockScope::Stock(id) => stock_not_found(*id),
        StockScope::Channel(channel) => channel_not_found(channel),
    }
}

/// Checks every line against a snapshot; all pass, or RepoError::Refused names every failure.
pub(super) fn check_lines(
    snapshot: &Snapshot,
    lines: &[(Sku, Quantity)],
) -> Result<Vec<QuantityCheck>, RepoError> {
    let no_settings = ProductSettings::default();
    domain::check_lines(lines, |sku| snapshot.view(sku, &no_settings)).map_err(RepoError::Refused)
}

/// What the caller is told about lines that were reserved.
pub(super) fn reserved_lines(
    lines: &[(Sku, Quantity)],
    checks: Vec<QuantityCheck>,
) -> Vec<ReservedLine> {
    lines
        .iter()
        .zip(checks)
        .map(|((sku, qty), check)| ReservedLine {
            sku: sku.clone(),
            quantity: qty.get(),
            backordered: check.backordered_qty,
            notices: check.notices,
        })
        .collect()
}

/// Reads a stock's view of `skus` at `now`; holds of `cart` are left out of the reservations
/// (they are available to that cart). Inside a transaction that has locked the SKUs' totals, the
/// answer cannot change before commit.
pub(super) async fn load_snapshot(
    conn: &mut PgConnection,
    stock: StockId,
    skus: &[&str],
    now: DateTime<Utc>,
    cart: Option<&CartId>,
) -> Result<Snapshot, RepoError> {
    if skus.is_empty() {
        return Ok(Snapshot::with_global(load_global(&mut *conn, false).await?));
    }
    match query_snapshot(conn, &StockScope::Stock(stock), skus, now, cart).await? {
        Some((_, snapshot)) => Ok(snapshot),
        None => Err(stock_not_found(stock)),
    }
}

pub(super) async fn load_products(
    conn: &mut PgConnection,
    skus: &[&str],
) -> Result<HashMap<String, ProductSettings>, RepoError> {
    let sql =
        format!("SELECT {PRODUCT_SETTINGS_COLUMNS} FROM product_settings WHERE sku = ANY($1)");
    let rows = sqlx::query_as::<_, ProductSettingsRow>(AssertSqlSafe(sql))
        .bind(skus)
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            row.into_domain()
                .map(|(sku, s)| (sku.as_str().to_owned(), s))
        })
        .collect()
}
