//! Cart holds: a cart reserves its lines for a while. A hold counts until its `expires_at`,
//! decided against the service clock, so it stops counting the instant it expires; the sweeper
//! only tidies up. Compaction also lives here: it removes what can no longer change any number.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::{
    Repo, RepoError,
    availability::{ReservedLine, check_lines, load_snapshot, reserved_lines},
    changes::{Change, changed_skus},
    ledger, retry_conflicts,
};
use crate::domain::{CartId, Quantity, Sku, StockId};

/// A cart's new set of holds.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    /// The cart.
    pub cart: CartId,
    /// The stock its channel sells from.
    pub stock: StockId,
    /// SKU and quantity, each SKU once; empty releases the cart.
    pub lines: Vec<(Sku, Quantity)>,
    /// Seconds the holds live, already checked against the policy.
    pub ttl_secs: u32,
}

/// A cart's holds after a change.
#[derive(Debug, Clone, PartialEq)]
pub struct CartHolds {
    /// When they stop counting; `None` when the cart holds nothing.
    pub expires_at: Option<DateTime<Utc>>,
    /// In request order.
    pub lines: Vec<ReservedLine>,
}

/// Who holds a SKU.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    /// False for a cart, true for an order.
    pub is_order: bool,
    /// Cart id or order id.
    pub id: String,
    /// Held quantity, or the order's open quantity.
    pub quantity: Decimal,
    /// When a cart's hold expires.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What one compaction pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Expired cart holds deleted.
    pub expired_holds: u64,
    /// Ledger rows of closed orders deleted.
    pub ledger_rows: u64,
    /// Closed orders whose rows were deleted.
    pub orders: u64,
}

impl Repo {
    /// Replaces a cart's holds, all lines or none. The cart's previous holds are available to
    /// it, so changing a quantity never fights the cart's own hold.
    #[tracing::instrument(skip_all, fields(cart = %req.cart, lines = req.lines.len()))]
    pub async fn set_cart_holds(&self, req: &HoldRequest) -> Result<CartHolds, RepoError> {
        retry_conflicts(|| async {
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            let skus: Vec<&str> = req.lines.iter().map(|(s, _)| s.as_str()).collect();
            let mut lines = Vec::new();
            if !skus.is_empty() {
                ledger::lock_totals(&mut tx, req.stock, &skus).await?;
                let snapshot =
                    load_snapshot(&mut tx, req.stock, &skus, now, Some(&req.cart)).await?;
                let checks = check_lines(&snapshot, &req.lines)?;
                lines = reserved_lines(&req.lines, checks);
            }
            let released: Vec<String> =
                sqlx::query_scalar("DELETE FROM cart_hold WHERE cart_id = $1 RETURNING sku")
                    .bind(req.cart.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            let expires_at = (!lines.is_empty()).then(|| now + Duration::seconds(req.ttl_secs.into()));
            if let Some(expires_at) = expires_at {
                let quantities: Vec<Decimal> = lines.iter().map(|l| l.quantity).collect();
                sqlx::query(
                    "INSERT INTO cart_hold (cart_id, stock_id, sku, quantity, expires_at, created_at) \
                     SELECT $1, $2, s, q, $5, $6 FROM unnest($3::text[], $4::numeric[]) AS h(s, q)",
                )
                .bind(req.cart.as_str())
                .bind(req.stock.get())
                .bind(&skus)
                .bind(&quantities)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            self.changed(Change::skus(req.lines.iter().map(|(sku, _)| sku)).and_stored(&released));
            Ok(CartHolds { expires_at, lines })
        })
        .await
    }

    /// Gives a cart's unexpired holds a new expiry; NOT_FOUND when it has none. No change notice:
    /// a cached answer that counts a hold ends at that hold's old expiry anyway and is read again.
    #[tracing::instrument(skip_all, fields(cart = %cart))]
    pub async fn extend_cart_holds(
        &self,
        cart: &CartId,
        ttl_secs: u32,
    ) -> Result<(DateTime<Utc>, u64), RepoError> {
        let now = self.clock.now();
        let expires_at = now + Duration::seconds(ttl_secs.into());
        let extended = sqlx::query(
            "UPDATE cart_hold SET expires_at = $2 WHERE cart_id = $1 AND expires_at > $3",
        )
        .bind(cart.as_str())
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if extended == 0 {
            return Err(RepoError::NotFound {
                kind: "cart holds",
                name: cart.to_string(),
            });
        }
        Ok((expires_at, extended))
    }

    /// Drops a cart's holds; the number removed (0 on a retry).
    #[tracing::instrument(skip_all, fields(cart = %cart))]
    pub async fn release_cart_holds(&self, cart: &CartId) -> Result<u64, RepoError> {
        let released: Vec<String> =
            sqlx::query_scalar("DELETE FROM cart_hold WHERE cart_id = $1 RETURNING sku")
                .bind(cart.as_str())
                .fetch_all(&self.pool)
                .await?;
        if !released.is_empty() {
            self.changed(changed_skus(released.iter().map(String::as_str)));
        }
        Ok(released.len() as u64)
    }

    /// Unexpired cart holds, then open orders, of a SKU in a stock, after `after` (kind, id).
    #[tracing::instrument(skip_all, fields(stock = stock.get(), sku = %sku))]
    pub async fn sku_holders(
        &self,
        stock: StockId,
        sku: &Sku,
        after: Option<(bool, String)>,
        limit: u32,
    ) -> Result<Vec<Holder>, RepoError> {
        let (after_kind, after_id) = match after {
            Some((is_order, id)) => (i32::from(is_order), id),
            None => (-1, String::new()),
        };
        let now = self.clock.now();
        let after_id = after_id.as_str();
        let rows: Vec<(i32, String, Decimal, Option<DateTime<Utc>>)> = self
            .read_anywhere(0, |pool| async move {
                Ok(sqlx::query_as(
                    "SELECT kind, id, qty, expires_at FROM ( \
                       SELECT 0 AS kind, cart_id AS id, quantity AS qty, expires_at FROM cart_hold \
                       WHERE stock_id = $1 AND sku = $2 AND expires_at > $3 \
                       UNION ALL \
                       SELECT 1, l.order_id, l.ordered - l.shipped - l.canceled, NULL \
                       FROM order_line l JOIN sales_order o ON o.order_id = l.order_id \
                       WHERE o.stock_id = $1 AND l.sku = $2 AND o.status = 'OPEN' AND l.reserved \
                         AND l.ordered - l.shipped - l.canceled > 0 \
                     ) h WHERE (kind, id) > ($4, $5) ORDER BY kind, id LIMIT $6",
                )
                .bind(stock.get())
                .bind(sku.as_str())
                .bind(now)
                .bind(after_kind)
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(&pool)
                .await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(kind, id, quantity, expires_at)| Holder {
                is_order: kind == 1,
                id,
                quantity,
                expires_at,
            })
            .collect())
    }

    /// Deletes up to `batch` expired holds and the ledger rows of up to `batch` closed orders. Neither
    /// changes a salable quantity: expired holds no longer count, and a closed order's rows net
    /// to zero per SKU while the totals stay as they are. Its span is DEBUG, below what is
    /// exported: the sweeper calls it every few seconds outside any call, and each would start a
    /// trace of its own (docs/operations.md, "Traces").
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn compact(&self, batch: u32) -> Result<Compaction, RepoError> {
        let expired_holds = sqlx::query(
            "DELETE FROM cart_hold WHERE ctid = ANY(ARRAY( \
               SELECT ctid FROM cart_hold WHERE expires_at <= $1 LIMIT $2))",
        )
        .bind(self.clock.now())
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?
        .rows_affected();
        // Whole orders at a time: a closed order's rows net to zero only all together, so a
        // concurrent consistency check never sees half of an order's history.
        let (orders, ledger_rows): (i64, i64) = sqlx::query_as(
            "WITH picked AS ( \
               UPDATE sales_order SET compacted = true WHERE order_id IN ( \
                 SELECT order_id FROM sales_order \
                 WHERE status = 'CLOSED' AND NOT compacted LIMIT $1) \
               RETURNING order_id), \
             deleted AS ( \
               DELETE FROM reservation r USING picked p WHERE r.order_id = p.order_id \
               RETURNING 1) \
             SELECT (SELECT count(*) FROM picked), (SELECT count(*) FROM deleted)",
        )
        .bind(i64::from(batch))
        .fetch_one(&self.pool)
        .await?;
        Ok(Compaction {
            expired_holds,
            ledger_rows: u64::try_from(ledger_rows).unwrap_or_default(),
            orders: u64::try_from(orders).unwrap_or_default(),
        })
    }
}
