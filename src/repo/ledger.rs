//! The reservation ledger and its per-(stock, SKU) totals, always written together.
//!
//! Lock order: a transaction that changes reservations first locks the totals rows of its SKUs,
//! in SKU order, with one statement, then creates the rows that were missing. Every writer does
//! the same, so overlapping multi-line orders wait for each other instead of deadlocking (a rare
//! deadlock among first-time SKUs is retried like any lost race).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::RepoError;
use crate::domain::StockId;

/// Events of the ledger (DOMAIN §4), as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// An order reserved its lines.
    OrderPlaced,
    /// The open rest of a line was canceled.
    OrderCanceled,
    /// Units left a source; the reservation is compensated.
    ShipmentCreated,
    /// Shipped units came back (no quantity: the reservation was already compensated).
    Returned,
    /// An operator's repair of an inconsistency.
    ManualCompensation,
}

impl Event {
    /// The stored spelling of the event.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Event::OrderPlaced => "ORDER_PLACED",
            Event::OrderCanceled => "ORDER_CANCELED",
            Event::ShipmentCreated => "SHIPMENT_CREATED",
            Event::Returned => "RETURNED",
            Event::ManualCompensation => "MANUAL_COMPENSATION",
        }
    }
}

/// One ledger row to append.
#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    /// The product.
    pub(crate) sku: &'a str,
    /// Signed: negative reserves, positive compensates.
    pub(crate) quantity: Decimal,
}

/// Locks the totals rows of `skus` (creating missing ones) in SKU order; the caller then holds
/// the right to change reservations of these SKUs until it commits. Rows usually exist, so they
/// are locked first and only missing ones are inserted: one round trip on the hot path.
pub(crate) async fn lock_totals(
    conn: &mut PgConnection,
    stock: StockId,
    skus: &[&str],
) -> Result<(), RepoError> {
    let mut sorted: Vec<&str> = skus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let locked: Vec<String> = sqlx::query_scalar(
        "SELECT sku FROM stock_sku WHERE stock_id = $1 AND sku = ANY($2) \
         ORDER BY sku FOR UPDATE",
    )
    .bind(stock.get())
    .bind(&sorted)
    .fetch_all(&mut *conn)
    .await?;
    if locked.len() == sorted.len() {
        return Ok(());
    }
    let locked: HashSet<&str> = locked.iter().map(String::as_str).collect();
    let missing: Vec<&str> = sorted
        .into_iter()
        .filter(|sku| !locked.contains(sku))
        .collect();
    // A row this transaction inserts is its own until commit; one another transaction inserted
    // meanwhile is waited for by the conflict and then locked like the others. The copy function
    // fills a new row's copies (migration 0008), so a SKU with product settings but no source
    // items in this stock gets its settings in the row too.
    let stocks = vec![stock.get(); missing.len()];
    sqlx::query("SELECT copy_source_items($1, $2)")
        .bind(&stocks)
        .bind(&missing)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Locks the totals rows of `skus` that exist, in SKU order, and returns their SKUs; creates
/// none. For orders: a SKU without a row has no source item in the stock, so it is refused, and
/// a refused order must leave nothing behind.
pub(crate) async fn lock_existing_totals(
    conn: &mut PgConnection,
    stock: StockId,
    skus: &[&str],
) -> Result<HashSet<String>, RepoError> {
    let locked: Vec<String> = sqlx::query_scalar(
        "SELECT sku FROM stock_sku WHERE stock_id = $1 AND sku = ANY($2) \
         ORDER BY sku FOR UPDATE",
    )
    .bind(stock.get())
    .bind(skus)
    .fetch_all(&mut *conn)
    .await?;
    Ok(locked.into_iter().collect())
}

/// Appends ledger rows for one event and moves the totals by the same amounts. The totals rows
/// must already be locked by [`lock_totals`].
pub(crate) async fn append(
    conn: &mut PgConnection,
    stock: StockId,
    event: Event,
    order_id: &str,
    object_id: &str,
    entries: &[Entry<'_>],
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    if entries.is_empty() {
        return Ok(());
    }
    let skus: Vec<&str> = entries.iter().map(|e| e.sku).collect();
    let quantities: Vec<Decimal> = entries.iter().map(|e| e.quantity).collect();
    sqlx::query(
        "INSERT INTO reservation (stock_id, sku, quantity, event, order_id, object_id, created_at) \
         SELECT $1, s, q, $4, $5, $6, $7 FROM unnest($2::text[], $3::numeric[]) AS e(s, q)",
    )
    .bind(stock.get())
    .bind(&skus)
    .bind(&quantities)
    .bind(event.name())
    .bind(order_id)
    .bind(object_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE stock_sku t SET reserved = t.reserved + d.q \
         FROM (SELECT s, SUM(q) AS q FROM unnest($2::text[], $3::numeric[]) AS e(s, q) GROUP BY s) d \
         WHERE t.stock_id = $1 AND t.sku = d.s",
    )
    .bind(stock.get())
    .bind(&skus)
    .bind(&quantities)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
