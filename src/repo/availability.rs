//! Availability: load what one stock knows about a batch of SKUs, let the domain answer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, PgConnection};

use super::{
    Repo, RepoError,
    rows::{PRODUCT_SETTINGS_COLUMNS, ProductSettingsRow, SourceItemRow},
    settings::load_global,
};
use crate::domain::{
    CartId, GlobalSettings, LineRefusal, LinkedSourceItem, ProductSettings, Quantity,
    QuantityCheck, SalableQuantity, SalesChannel, Sku, StockId, StockSku, Violation,
    check_quantity, salable_quantity,
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
#[derive(Debug, Clone)]
pub enum StockScope {
    /// A stock by id.
    Stock(StockId),
    /// The stock a sales channel sells from.
    Channel(SalesChannel),
}

/// Everything one stock knows about a batch of SKUs, read in one go.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    global: GlobalSettings,
    products: HashMap<String, ProductSettings>,
    items: HashMap<String, Vec<LinkedSourceItem>>,
    reserved: HashMap<String, Decimal>,
}

#[derive(sqlx::FromRow)]
struct LinkedItemRow {
    #[sqlx(flatten)]
    item: SourceItemRow,
    priority: i32,
    source_enabled: bool,
}

impl Snapshot {
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

    /// Salable quantity of each SKU in one stock, in request order.
    #[tracing::instrument(skip_all, fields(stock = stock.get(), skus = skus.len()))]
    pub async fn salable_quantities(
        &self,
        stock: StockId,
        skus: &[Sku],
    ) -> Result<Vec<SalableQuantity>, RepoError> {
        let snapshot = self.snapshot(stock, skus).await?;
        let no_settings = ProductSettings::default();
        Ok(skus
            .iter()
            .map(|sku| salable_quantity(&snapshot.view(sku, &no_settings)))
            .collect())
    }

    /// Whether each line can be sold in one stock, in request order; a cart's own holds count
    /// as available to it.
    #[tracing::instrument(skip_all, fields(stock = stock.get(), lines = lines.len()))]
    pub async fn check_quantities(
        &self,
        stock: StockId,
        lines: &[(Sku, Quantity)],
        cart: Option<&CartId>,
    ) -> Result<Vec<QuantityCheck>, RepoError> {
        let skus: Vec<&str> = lines.iter().map(|(sku, _)| sku.as_str()).collect();
        let mut conn = self.pool.acquire().await?;
        let snapshot = load_snapshot(&mut conn, stock, &skus, self.clock.now(), cart).await?;
        let no_settings = ProductSettings::default();
        Ok(lines
            .iter()
            .map(|(sku, qty)| check_quantity(&snapshot.view(sku, &no_settings), *qty))
            .collect())
    }

    async fn snapshot(&self, stock: StockId, skus: &[Sku]) -> Result<Snapshot, RepoError> {
        let names: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let mut conn = self.pool.acquire().await?;
        load_snapshot(&mut conn, stock, &names, self.clock.now(), None).await
    }
}

/// Checks every line against a snapshot; all pass, or RepoError::Refused names every failure.
pub(super) fn check_lines(
    snapshot: &Snapshot,
    lines: &[(Sku, Quantity)],
) -> Result<Vec<QuantityCheck>, RepoError> {
    let no_settings = ProductSettings::default();
    let mut refusals = Vec::new();
    let mut checks = Vec::with_capacity(lines.len());
    for (i, (sku, qty)) in lines.iter().enumerate() {
        let check = check_quantity(&snapshot.view(sku, &no_settings), *qty);
        refusals.extend(
            check
                .violations
                .iter()
                .map(|v| LineRefusal::rule(i, sku, v.code, v.message())),
        );
        checks.push(check);
    }
    if refusals.is_empty() {
        Ok(checks)
    } else {
        Err(RepoError::Refused(refusals))
    }
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
    Ok(Snapshot {
        global: load_global(&mut *conn, false).await?,
        products: load_products(conn, skus).await?,
        items: load_linked_items(conn, stock, skus).await?,
        reserved: load_reserved(conn, stock, skus, now, cart).await?,
    })
}

/// Live reservations per SKU: the ledger total, minus unexpired holds of other carts.
async fn load_reserved(
    conn: &mut PgConnection,
    stock: StockId,
    skus: &[&str],
    now: DateTime<Utc>,
    cart: Option<&CartId>,
) -> Result<HashMap<String, Decimal>, RepoError> {
    let rows: Vec<(String, Decimal)> = sqlx::query_as(
        "SELECT sku, SUM(q) FROM ( \
           SELECT sku, reserved AS q FROM stock_sku_reservation \
           WHERE stock_id = $1 AND sku = ANY($2) \
           UNION ALL \
           SELECT sku, -quantity FROM cart_hold \
           WHERE stock_id = $1 AND sku = ANY($2) AND expires_at > $3 \
             AND cart_id IS DISTINCT FROM $4 \
         ) r GROUP BY sku",
    )
    .bind(stock.get())
    .bind(skus)
    .bind(now)
    .bind(cart.map(CartId::as_str))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
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

async fn load_linked_items(
    conn: &mut PgConnection,
    stock: StockId,
    skus: &[&str],
) -> Result<HashMap<String, Vec<LinkedSourceItem>>, RepoError> {
    let rows = sqlx::query_as::<_, LinkedItemRow>(
        // The CTE pins the plan to the SKU index: with stale statistics after a bulk import the
        // planner otherwise scans every item of a source (measured: 1 s instead of 1 ms).
        "WITH si AS MATERIALIZED (SELECT * FROM source_item WHERE sku = ANY($2)) \
         SELECT si.source_code, si.sku, si.quantity, si.status, si.backorders, \
         si.out_of_stock_threshold, si.notify_stock_qty, si.restock_date, si.restock_qty, \
         l.priority, s.enabled AS source_enabled \
         FROM si \
         JOIN stock_source_link l ON l.source_code = si.source_code AND l.stock_id = $1 \
         JOIN source s ON s.code = si.source_code",
    )
    .bind(stock.get())
    .bind(skus)
    .fetch_all(conn)
    .await?;
    let mut items: HashMap<String, Vec<LinkedSourceItem>> = HashMap::new();
    for row in rows {
        let priority = u32::try_from(row.priority)
            .map_err(|_| RepoError::Corrupt(format!("link priority {}", row.priority)))?;
        let item = crate::domain::SourceItem::try_from(row.item)?;
        items
            .entry(item.sku.as_str().to_owned())
            .or_default()
            .push(LinkedSourceItem {
                item,
                priority,
                source_enabled: row.source_enabled,
            });
    }
    Ok(items)
}
