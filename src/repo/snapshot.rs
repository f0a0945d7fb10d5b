//! One query for everything a stock knows about a batch of SKUs.
//!
//! Availability is the hottest read: every storefront page asks it. Reading the stock, the global
//! defaults, the products, the linked source items and the live reservations separately cost five
//! round trips per call; this reads them in one, one row per requested SKU.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::{
    RepoError,
    availability::{Snapshot, StockScope},
    rows::{GlobalSettingsRow, ProductSettingsRow, SourceItemRow},
    stocks::stock_id,
};
use crate::domain::{CartId, LinkedSourceItem, ProductSettings, SourceItem, StockId};

/// The stock (by id, or by sales channel) drives the join: no stock, no rows. Source items and
/// the product's settings come from the copy in the SKU's totals row (migrations 0005 to 0008,
/// decisions 0008 and 0009): kept by triggers, so a SKU is one row to read however many sources
/// stock it. Only a SKU without a row in this stock (one with settings in a stock created after
/// them) has its settings looked up; the lookup's condition on the missing row makes PostgreSQL
/// skip it for every other SKU. Every per-SKU read
/// is a lateral subquery parameterised by the SKU (the `LIMIT 1` keeps the
/// planner from flattening the product lookup into a join), so each stays an index lookup whatever
/// the statistics say: with fresh statistics the planner otherwise hashes the whole product table
/// for every call (measured: availability at half the rate after an `ANALYZE`). The stock's links
/// (priority, source enabled) are read once and sent with the first requested SKU only; joining
/// them to every source item scanned both small tables once per item, a fifth of the query's cost.
const SNAPSHOT_SQL: &str = "\
WITH st AS ( \
  SELECT id FROM stock WHERE id = $1 \
  UNION ALL \
  SELECT stock_id FROM sales_channel WHERE type = $2 AND code = $3 \
  LIMIT 1 \
) \
SELECT st.id AS stock_id, k.sku, \
  g.manage_stock, g.backorders, g.out_of_stock_threshold, g.notify_stock_qty, \
  g.stock_threshold_qty, g.min_sale_qty, g.max_sale_qty, g.qty_increments, \
  COALESCE(t.product_manage_stock, p.manage_stock) AS p_manage_stock, \
  COALESCE(t.product_backorders, p.backorders) AS p_backorders, \
  COALESCE(t.product_out_of_stock_threshold, p.out_of_stock_threshold) \
    AS p_out_of_stock_threshold, \
  COALESCE(t.product_notify_stock_qty, p.notify_stock_qty) AS p_notify_stock_qty, \
  COALESCE(t.product_stock_threshold_qty, p.stock_threshold_qty) AS p_stock_threshold_qty, \
  COALESCE(t.product_min_sale_qty, p.min_sale_qty) AS p_min_sale_qty, \
  COALESCE(t.product_max_sale_qty, p.max_sale_qty) AS p_max_sale_qty, \
  COALESCE(t.product_qty_increments, p.qty_increments) AS p_qty_increments, \
  COALESCE(t.product_is_qty_decimal, p.is_qty_decimal) AS p_is_qty_decimal, \
  COALESCE(t.reserved, 0) - COALESCE(hl.held, 0) AS reserved, hl.next_hold_expiry, \
  t.item_sources AS source_codes, t.item_quantities AS quantities, t.item_statuses AS statuses, \
  t.item_backorders, t.item_thresholds AS thresholds, t.item_notify_qtys AS notify_qtys, \
  t.item_restock_dates AS restock_dates, t.item_restock_qtys AS restock_qtys, \
  CASE WHEN k.ord = 1 THEN lk.link_codes END AS link_codes, \
  CASE WHEN k.ord = 1 THEN lk.link_priorities END AS link_priorities, \
  CASE WHEN k.ord = 1 THEN lk.link_enabled END AS link_enabled \
FROM st \
CROSS JOIN LATERAL ( \
  SELECT array_agg(l.source_code) AS link_codes, array_agg(l.priority) AS link_priorities, \
    array_agg(s.enabled) AS link_enabled \
  FROM stock_source_link l JOIN source s ON s.code = l.source_code WHERE l.stock_id = st.id \
) lk \
CROSS JOIN global_settings g \
CROSS JOIN unnest($4::text[]) WITH ORDINALITY AS k(sku, ord) \
LEFT JOIN LATERAL ( \
  SELECT * FROM stock_sku r WHERE r.stock_id = st.id AND r.sku = k.sku LIMIT 1 \
) t ON true \
LEFT JOIN LATERAL ( \
  SELECT * FROM product_settings ps WHERE t.stock_id IS NULL AND ps.sku = k.sku LIMIT 1 \
) p ON true \
LEFT JOIN LATERAL ( \
  SELECT SUM(h.quantity) AS held, MIN(h.expires_at) AS next_hold_expiry FROM cart_hold h \
  WHERE h.stock_id = st.id AND h.sku = k.sku AND h.expires_at > $5 \
    AND h.cart_id IS DISTINCT FROM $6 \
) hl ON true";

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    stock_id: i32,
    sku: String,
    #[sqlx(flatten)]
    global: GlobalSettingsRow,
    p_manage_stock: Option<bool>,
    p_backorders: Option<String>,
    p_out_of_stock_threshold: Option<Decimal>,
    p_notify_stock_qty: Option<Decimal>,
    p_stock_threshold_qty: Option<Decimal>,
    p_min_sale_qty: Option<Decimal>,
    p_max_sale_qty: Option<Decimal>,
    p_qty_increments: Option<Decimal>,
    p_is_qty_decimal: Option<bool>,
    reserved: Decimal,
    next_hold_expiry: Option<DateTime<Utc>>,
    source_codes: Option<Vec<String>>,
    quantities: Option<Vec<Decimal>>,
    statuses: Option<Vec<String>>,
    item_backorders: Option<Vec<Option<String>>>,
    thresholds: Option<Vec<Option<Decimal>>>,
    notify_qtys: Option<Vec<Option<Decimal>>>,
    restock_dates: Option<Vec<Option<NaiveDate>>>,
    restock_qtys: Option<Vec<Option<Decimal>>>,
    link_codes: Option<Vec<String>>,
    link_priorities: Option<Vec<i32>>,
    link_enabled: Option<Vec<bool>>,
}

/// Reads a stock's view of `skus` at `now` in one query; `None` when the stock or channel is
/// unknown. Holds of `cart` are left out of the reservations (they are available to that cart).
pub(super) async fn query_snapshot(
    conn: &mut PgConnection,
    scope: &StockScope,
    skus: &[&str],
    now: DateTime<Utc>,
    cart: Option<&CartId>,
) -> Result<Option<(StockId, Snapshot)>, RepoError> {
    let (stock, channel) = match scope {
        StockScope::Stock(id) => (Some(id.get()), None),
        StockScope::Channel(channel) => (None, Some(channel)),
    };
    let rows = sqlx::query_as::<_, SnapshotRow>(SNAPSHOT_SQL)
        .bind(stock)
        .bind(channel.map(|c| c.kind()))
        .bind(channel.map(|c| c.code()))
        .bind(skus)
        .bind(now)
        .bind(cart.map(CartId::as_str))
        .fetch_all(conn)
        .await?;
    assemble(rows)
}

fn assemble(mut rows: Vec<SnapshotRow>) -> Result<Option<(StockId, Snapshot)>, RepoError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let stock = stock_id(first.stock_id)?;
    let mut snapshot = Snapshot::with_global(first.global.clone().try_into()?);
    let links = stock_links(&mut rows)?;
    for mut row in rows {
        let items = linked_items(&mut row, &links)?;
        let (sku, product) = product_row(&mut row).into_domain()?;
        let key = sku.as_str().to_owned();
        if product != ProductSettings::default() {
            snapshot.products.insert(key.clone(), product);
        }
        if !items.is_empty() {
            snapshot.items.insert(key.clone(), items);
        }
        if let Some(expiry) = row.next_hold_expiry {
            snapshot.hold_expiries.insert(key.clone(), expiry);
        }
        if !row.reserved.is_zero() {
            snapshot.reserved.insert(key, row.reserved);
        }
    }
    Ok(Some((stock, snapshot)))
}

fn product_row(row: &mut SnapshotRow) -> ProductSettingsRow {
    ProductSettingsRow {
        sku: std::mem::take(&mut row.sku),
        manage_stock: row.p_manage_stock,
        backorders: row.p_backorders.take(),
        out_of_stock_threshold: row.p_out_of_stock_threshold,
        notify_stock_qty: row.p_notify_stock_qty,
        stock_threshold_qty: row.p_stock_threshold_qty,
        min_sale_qty: row.p_min_sale_qty,
        max_sale_qty: row.p_max_sale_qty,
        qty_increments: row.p_qty_increments,
        is_qty_decimal: row.p_is_qty_decimal,
    }
}

/// How a source is linked to the stock: its priority and whether the source is enabled.
type Links = HashMap<String, (i32, bool)>;

/// The stock's links, which the query sends once (on the first requested SKU's row) rather than
/// joining them to every source item of every SKU.
fn stock_links(rows: &mut [SnapshotRow]) -> Result<Links, RepoError> {
    let Some(row) = rows.iter_mut().find(|row| row.link_codes.is_some()) else {
        return Ok(Links::new());
    };
    let codes = row.link_codes.take().unwrap_or_default();
    let n = codes.len();
    let priorities = column(row.link_priorities.take(), n, "link priority")?;
    let enabled = column(row.link_enabled.take(), n, "source enabled")?;
    Ok(codes.into_iter().zip(priorities.zip(enabled)).collect())
}

/// Zips the parallel arrays back into linked source items.
fn linked_items(row: &mut SnapshotRow, links: &Links) -> Result<Vec<LinkedSourceItem>, RepoError> {
    let codes = row.source_codes.take().unwrap_or_default();
    let n = codes.len();
    let mut quantities = column(row.quantities.take(), n, "quantity")?;
    let mut statuses = column(row.statuses.take(), n, "status")?;
    let mut backorders = overrides(row.item_backorders.take(), n, "backorders")?;
    let mut thresholds = overrides(row.thresholds.take(), n, "out_of_stock_threshold")?;
    let mut notify = overrides(row.notify_qtys.take(), n, "notify_stock_qty")?;
    let mut dates = overrides(row.restock_dates.take(), n, "restock_date")?;
    let mut restock = overrides(row.restock_qtys.take(), n, "restock_qty")?;
    codes
        .into_iter()
        .map(|source_code| {
            let &(priority, source_enabled) = links.get(&source_code).ok_or_else(|| {
                RepoError::Corrupt(format!("source item of unlinked source {source_code}"))
            })?;
            let item = SourceItemRow {
                source_code,
                sku: row.sku.clone(),
                quantity: next(&mut quantities)?,
                status: next(&mut statuses)?,
                backorders: next(&mut backorders)?,
                out_of_stock_threshold: next(&mut thresholds)?,
                notify_stock_qty: next(&mut notify)?,
                restock_date: next(&mut dates)?,
                restock_qty: next(&mut restock)?,
            };
            Ok(LinkedSourceItem {
                item: SourceItem::try_from(item)?,
                priority: u32::try_from(priority)
                    .map_err(|_| RepoError::Corrupt(format!("link priority {priority}")))?,
                source_enabled,
            })
        })
        .collect()
}

/// One parallel array, checked to have a value for each of the `n` items.
fn column<T>(
    values: Option<Vec<T>>,
    n: usize,
    name: &str,
) -> Result<std::vec::IntoIter<T>, RepoError> {
    let values = values.unwrap_or_default();
    if values.len() == n {
        Ok(values.into_iter())
    } else {
        Err(RepoError::Corrupt(format!(
            "source item column {name} has {} values for {n} items",
            values.len()
        )))
    }
}

/// One parallel array of overrides; the copy stores none when no item overrides the setting
/// (migration 0007), which means "use the default" for each of the `n` items.
fn overrides<T>(
    values: Option<Vec<Option<T>>>,
    n: usize,
    name: &str,
) -> Result<std::vec::IntoIter<Option<T>>, RepoError> {
    match values {
        None => Ok(std::iter::repeat_with(|| None)
            .take(n)
            .collect::<Vec<_>>()
            .into_iter()),
        values => column(values, n, name),
    }
}

fn next<T>(values: &mut std::vec::IntoIter<T>) -> Result<T, RepoError> {
    values
        .next()
        .ok_or_else(|| RepoError::Corrupt("source item columns of unequal length".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_overrides_mean_the_default_for_every_item() {
        let values: Vec<Option<i32>> = overrides(None, 2, "backorders").unwrap().collect();
        assert_eq!(values, vec![None, None]);
        let err = overrides(Some(vec![Some(1)]), 2, "backorders").unwrap_err();
        assert!(err.to_string().contains("backorders"), "{err}");
    }

    #[test]
    fn a_short_column_is_reported_not_truncated() {
        let err = column(Some(vec![1, 2]), 3, "quantity").unwrap_err();
        assert!(err.to_string().contains("quantity"), "{err}");
    }
}
