//! The ledger's consistency check and repair (DOMAIN §4): every (order, SKU) whose live
//! reservations differ from −(ordered − shipped − canceled), every materialised total that
//! differs from its ledger, and every (stock, SKU) whose copy of its source items or of its
//! product's settings differs from them (decisions 0008 and 0009). It streams: each query is one
//! snapshot read row by row, and differences leave through a bounded channel, so memory stays
//! flat however large the store.

use rust_decimal::Decimal;
use sqlx::PgConnection;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use super::{
    Repo, RepoError,
    changes::changed_skus,
    ledger::{self, Entry, Event},
    orders::lock_order,
    retry_conflicts,
};
use crate::domain::{OrderId, StockId};

/// One inconsistency found.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// An order's live reservations for a SKU are not what its lines say.
    Order {
        /// The order.
        order_id: String,
        /// Its stock.
        stock_id: i32,
        /// The product.
        sku: String,
        /// −(ordered − shipped − canceled).
        expected: Decimal,
        /// Σ of the order's ledger rows for the SKU.
        actual: Decimal,
        /// True when a compensation was appended.
        repaired: bool,
    },
    /// A (stock, SKU) total is not the sum of its ledger.
    Total {
        /// The stock.
        stock_id: i32,
        /// The product.
        sku: String,
        /// The materialised total.
        total: Decimal,
        /// Σ of the ledger rows.
        ledger: Decimal,
        /// True when the total was reset to the ledger.
        repaired: bool,
    },
    /// A (stock, SKU) row's copy of the linked source items is not what the source items say.
    SourceItemCopy {
        /// The stock.
        stock_id: i32,
        /// The product.
        sku: String,
        /// True when the copy was written again.
        repaired: bool,
    },
    /// A (stock, SKU) row's copy of the product's settings is not what the settings say.
    ProductSettingsCopy {
        /// The stock.
        stock_id: i32,
        /// The product.
        sku: String,
        /// True when the copy was written again.
        repaired: bool,
    },
}

/// Which copy in a (stock, SKU) row a difference is about.
#[derive(Debug, Clone, Copy)]
enum CopyKind {
    SourceItems,
    ProductSettings,
}

impl CopyKind {
    /// Every (stock, SKU) whose copy differs.
    fn differences(self) -> &'static str {
        match self {
            CopyKind::SourceItems => COPY_DIFFERENCES,
            CopyKind::ProductSettings => PRODUCT_COPY_DIFFERENCES,
        }
    }

    /// Whether one pair's copy differs, asked again under its lock.
    fn differs(self) -> &'static str {
        match self {
            CopyKind::SourceItems => COPY_DIFFERS,
            CopyKind::ProductSettings => PRODUCT_COPY_DIFFERS,
        }
    }

    /// The difference to report for one pair.
    fn difference(self, stock_id: i32, sku: String, repaired: bool) -> Difference {
        match self {
            CopyKind::SourceItems => Difference::SourceItemCopy {
                stock_id,
                sku,
                repaired,
            },
            CopyKind::ProductSettings => Difference::ProductSettingsCopy {
                stock_id,
                sku,
                repaired,
            },
        }
    }
}

/// What a run found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsistencySummary {
    /// Differences reported.
    pub differences: u64,
    /// Differences repaired.
    pub repaired: u64,
}

/// The object id of compensations the repair appends.
pub const REPAIR_OBJECT_ID: &str = "consistency-repair";

#[derive(sqlx::FromRow)]
struct OrderRow {
    order_id: String,
    stock_id: i32,
    sku: String,
    expected: Decimal,
    actual: Decimal,
}

#[derive(sqlx::FromRow)]
struct TotalRow {
    stock_id: i32,
    sku: String,
    total: Decimal,
    ledger: Decimal,
}

const ORDER_DIFFERENCES: &str = "SELECT l.order_id, o.stock_id, l.sku, \
       CASE WHEN l.reserved THEN -(l.ordered - l.shipped - l.canceled) ELSE 0 END AS expected, \
       COALESCE(r.actual, 0) AS actual \
     FROM order_line l \
     JOIN sales_order o ON o.order_id = l.order_id \
     LEFT JOIN (SELECT order_id, sku, SUM(quantity) AS actual FROM reservation \
                GROUP BY order_id, sku) r ON r.order_id = l.order_id AND r.sku = l.sku \
     WHERE NOT o.compacted \
       AND CASE WHEN l.reserved THEN -(l.ordered - l.shipped - l.canceled) ELSE 0 END \
           <> COALESCE(r.actual, 0)";

const TOTAL_DIFFERENCES: &str = "SELECT t.stock_id, t.sku, t.reserved AS total, \
       COALESCE(r.ledger, 0) AS ledger \
     FROM stock_sku t \
     LEFT JOIN (SELECT stock_id, sku, SUM(quantity) AS ledger FROM reservation \
                GROUP BY stock_id, sku) r ON r.stock_id = t.stock_id AND r.sku = t.sku \
     WHERE t.reserved <> COALESCE(r.ledger, 0)";

#[derive(sqlx::FromRow)]
struct CopyRow {
    stock_id: i32,
    sku: String,
}

/// A row `t`'s copy against what the source items say, `c` (the row may be missing).
macro_rules! copy_differs {
    () => {
        "(t.item_sources, t.item_quantities, t.item_statuses, t.item_backorders, \
          t.item_thresholds, t.item_notify_qtys, t.item_restock_dates, t.item_restock_qtys) \
         IS DISTINCT FROM (c.sources, c.quantities, c.statuses, c.backorders, c.thresholds, \
          c.notify_qtys, c.restock_dates, c.restock_qtys)"
    };
}

/// Every (stock, SKU) with a totals row or a linked source item whose copy differs.
const COPY_DIFFERENCES: &str = concat!(
    "SELECT k.stock_id, k.sku \
     FROM (SELECT stock_id, sku FROM stock_sku \
           UNION \
           SELECT l.stock_id, si.sku FROM source_item si \
           JOIN stock_source_link l ON l.source_code = si.source_code) k \
     LEFT JOIN stock_sku t ON t.stock_id = k.stock_id AND t.sku = k.sku \
     CROSS JOIN LATERAL linked_source_items(k.stock_id, k.sku) c WHERE ",
    copy_differs!()
);

/// The same comparison for one pair, made under its lock before a repair.
const COPY_DIFFERS: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM linked_source_items($1, $2) c \
     LEFT JOIN stock_sku t ON t.stock_id = $1 AND t.sku = $2 WHERE ",
    copy_differs!(),
    ")"
);

/// A row `t`'s copy of the product's settings against the settings, `p` (which may be missing:
/// a product without settings has NULLs in every copy).
macro_rules! product_copy_differs {
    () => {
        "(t.product_manage_stock, t.product_backorders, t.product_out_of_stock_threshold, \
          t.product_notify_stock_qty, t.product_stock_threshold_qty, t.product_min_sale_qty, \
          t.product_max_sale_qty, t.product_qty_increments, t.product_is_qty_decimal) \
         IS DISTINCT FROM (p.manage_stock, p.backorders, p.out_of_stock_threshold, \
          p.notify_stock_qty, p.stock_threshold_qty, p.min_sale_qty, p.max_sale_qty, \
          p.qty_increments, p.is_qty_decimal)"
    };
}

/// Every (stock, SKU) row whose copy of the product's settings differs. A missing row is no
/// difference: availability then reads the settings themselves.
const PRODUCT_COPY_DIFFERENCES: &str = concat!(
    "SELECT t.stock_id, t.sku FROM stock_sku t \
     LEFT JOIN product_settings p ON p.sku = t.sku WHERE ",
    product_copy_differs!()
);

/// The same comparison for one pair, made under its lock before a repair.
const PRODUCT_COPY_DIFFERS: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM stock_sku t \
     LEFT JOIN product_settings p ON p.sku = t.sku WHERE t.stock_id = $1 AND t.sku = $2 AND ",
    product_copy_differs!(),
    ")"
);

impl Repo {
    /// Sends every difference to `out` as it is found; with `repair`, appends a
    /// MANUAL_COMPENSATION for each order difference and resets each wrong total, each after
    /// checking again under the same locks the writers take.
    #[tracing::instrument(skip_all, fields(repair))]
    pub async fn check_consistency(
        &self,
        repair: bool,
        out: mpsc::Sender<Difference>,
    ) -> Result<ConsistencySummary, RepoError> {
        let mut summary = ConsistencySummary::default();
        let mut conn = self.pool.acquire().await?;
        let mut rows = sqlx::query_as::<_, OrderRow>(ORDER_DIFFERENCES).fetch(&mut *conn);
        while let Some(row) = rows.next().await {
            let row = row?;
            let repaired = repair && self.repair_order(&row.order_id, &row.sku).await?;
            summary.count(repaired);
            let difference = Difference::Order {
                order_id: row.order_id,
                stock_id: row.stock_id,
                sku: row.sku,
                expected: row.expected,
                actual: row.actual,
                repaired,
            };
            if out.send(difference).await.is_err() {
                return Ok(summary);
            }
        }
        drop(rows);
        let mut rows = sqlx::query_as::<_, TotalRow>(TOTAL_DIFFERENCES).fetch(&mut *conn);
        while let Some(row) = rows.next().await {
            let row = row?;
            let repaired = repair && self.repair_total(row.stock_id, &row.sku).await?;
            summary.count(repaired);
            let difference = Difference::Total {
                stock_id: row.stock_id,
                sku: row.sku,
                total: row.total,
                ledger: row.ledger,
                repaired,
            };
            if out.send(difference).await.is_err() {
                return Ok(summary);
            }
        }
        drop(rows);
        for kind in [CopyKind::SourceItems, CopyKind::ProductSettings] {
            let mut rows = sqlx::query_as::<_, CopyRow>(kind.differences()).fetch(&mut *conn);
            while let Some(row) = rows.next().await {
                let row = row?;
                let repaired = repair && self.repair_copy(kind, row.stock_id, &row.sku).await?;
                summary.count(repaired);
                if out
                    .send(kind.difference(row.stock_id, row.sku, repaired))
                    .await
                    .is_err()
                {
                    return Ok(summary);
                }
            }
        }
        Ok(summary)
    }

    /// Writes a (stock, SKU) row's copies again, if the one found differing still differs.
    async fn repair_copy(
        &self,
        kind: CopyKind,
        stock_id: i32,
        sku: &str,
    ) -> Result<bool, RepoError> {
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            // Only an existing row is locked: a missing one is created by the copy function,
            // which waits for any other transaction creating it.
            sqlx::query("SELECT 1 FROM stock_sku WHERE stock_id = $1 AND sku = $2 FOR UPDATE")
                .bind(stock_id)
                .bind(sku)
                .execute(&mut *tx)
                .await?;
            let differs: bool = sqlx::query_scalar(kind.differs())
                .bind(stock_id)
                .bind(sku)
                .fetch_one(&mut *tx)
                .await?;
            if !differs {
                return Ok(false);
            }
            sqlx::query("SELECT copy_source_items(ARRAY[$1::int], ARRAY[$2::text])")
                .bind(stock_id)
                .bind(sku)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            self.changed(changed_skus([sku]));
            tracing::warn!(stock = stock_id, sku, ?kind, "wrote a stale copy again");
            Ok(true)
        })
        .await
    }

    /// Appends the compensation that makes the order's rows match its lines, if they still differ.
    async fn repair_order(&self, order_id: &str, sku: &str) -> Result<bool, RepoError> {
        let order = OrderId::parse(order_id)
            .map_err(|e| RepoError::Corrupt(format!("order id {order_id:?}: {e}")))?;
        retry_conflicts(|| async {
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            let stock = lock_order(&mut tx, &order).await?;
            ledger::lock_totals(&mut tx, stock, &[sku]).await?;
            let gap = order_gap(&mut tx, order_id, sku).await?;
            if gap.is_zero() {
                return Ok(false);
            }
            let entries = [Entry { sku, quantity: gap }];
            ledger::append(
                &mut tx,
                stock,
                Event::ManualCompensation,
                order_id,
                REPAIR_OBJECT_ID,
                &entries,
                now,
            )
            .await?;
            tx.commit().await?;
            self.changed(changed_skus([sku]));
            tracing::warn!(order = order_id, sku, %gap, "appended a manual compensation");
            Ok(true)
        })
        .await
    }

    /// Resets a total to the sum of its ledger, if they still differ.
    async fn repair_total(&self, stock_id: i32, sku: &str) -> Result<bool, RepoError> {
        let stock = StockId::new(i64::from(stock_id))
            .map_err(|_| RepoError::Corrupt(format!("stock id {stock_id}")))?;
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            ledger::lock_totals(&mut tx, stock, &[sku]).await?;
            let changed = sqlx::query(
                "UPDATE stock_sku t SET reserved = COALESCE( \
                   (SELECT SUM(quantity) FROM reservation r \
                    WHERE r.stock_id = t.stock_id AND r.sku = t.sku), 0) \
                 WHERE t.stock_id = $1 AND t.sku = $2 AND t.reserved IS DISTINCT FROM COALESCE( \
                   (SELECT SUM(quantity) FROM reservation r \
                    WHERE r.stock_id = t.stock_id AND r.sku = t.sku), 0)",
            )
            .bind(stock_id)
            .bind(sku)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            if changed > 0 {
                self.changed(changed_skus([sku]));
                tracing::warn!(
                    stock = stock_id,
                    sku,
                    "reset a reservation total to its ledger"
                );
            }
            Ok(changed > 0)
        })
        .await
    }
}

impl ConsistencySummary {
    fn count(&mut self, repaired: bool) {
        self.differences += 1;
        if repaired {
            self.repaired += 1;
        }
    }
}

/// expected − actual for one (order, SKU), read under the order's lock.
async fn order_gap(
    conn: &mut PgConnection,
    order_id: &str,
    sku: &str,
) -> Result<Decimal, RepoError> {
    let gap: Option<Decimal> = sqlx::query_scalar(
        "SELECT CASE WHEN l.reserved THEN -(l.ordered - l.shipped - l.canceled) ELSE 0 END \
           - COALESCE((SELECT SUM(quantity) FROM reservation r \
                       WHERE r.order_id = l.order_id AND r.sku = l.sku), 0) \
         FROM order_line l WHERE l.order_id = $1 AND l.sku = $2",
    )
    .bind(order_id)
    .bind(sku)
    .fetch_optional(conn)
    .await?;
    Ok(gap.unwrap_or_default())
}
