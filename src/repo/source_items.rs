//! Source items in PostgreSQL: batch writes, reads and listings.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, PgConnection};

use super::{
    Repo, RepoError,
    changes::Change,
    history, retry_conflicts,
    rows::{SOURCE_ITEM_COLUMNS, SourceItemRow, status_name},
    sources::reject_unknown_sources,
};
use crate::domain::{
    Quantity, Sku, SourceCode, SourceItem, SourceItemStatus,
    stock_count::{ChangeReason, stale_counts},
};

/// The part of a source item that an import writes.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceItemWrite {
    /// Where the stock sits.
    pub source: SourceCode,
    /// What it is.
    pub sku: Sku,
    /// How many, never below zero when written by a merchant.
    pub quantity: Quantity,
    /// The merchant's on-sale flag.
    pub status: SourceItemStatus,
}

/// What a listing of source items is about.
#[derive(Debug, Clone)]
pub enum SourceItemFilter {
    /// Every source item of one SKU, ordered by source.
    Sku(Sku),
    /// Every source item of one source, ordered by SKU.
    Source(SourceCode),
}

impl Repo {
    /// Creates or updates quantity and status of a batch, all or nothing.
    pub async fn upsert_source_items(
        &self,
        items: &[SourceItemWrite],
    ) -> Result<Vec<SourceItem>, RepoError> {
        self.upsert_source_items_expecting(items, &[]).await
    }

    /// Like [`Repo::upsert_source_items`], with compare-and-set: `expected[i]`, when given, must
    /// be item `i`'s stored quantity, or nothing is written and every differing item is named
    /// (an item that does not exist differs from every expectation).
    #[tracing::instrument(skip_all, fields(items = items.len()))]
    pub async fn upsert_source_items_expecting(
        &self,
        items: &[SourceItemWrite],
        expected: &[Option<Quantity>],
    ) -> Result<Vec<SourceItem>, RepoError> {
        let mut order: Vec<usize> = (0..items.len()).collect();
        // Rows are locked in key order, so two overlapping batches never deadlock.
        order.sort_by(|&a, &b| key(&items[a]).cmp(&key(&items[b])));
        let sources: Vec<&str> = order.iter().map(|&i| items[i].source.as_str()).collect();
        let skus: Vec<&str> = order.iter().map(|&i| items[i].sku.as_str()).collect();
        let quantities: Vec<Decimal> = order.iter().map(|&i| items[i].quantity.get()).collect();
        let statuses: Vec<&str> = order
            .iter()
            .map(|&i| status_name(items[i].status))
            .collect();
        let checked: Vec<(usize, &SourceCode, &Sku, Decimal)> = expected
            .iter()
            .zip(items)
            .enumerate()
            .filter_map(|(i, (e, item))| e.map(|e| (i, &item.source, &item.sku, e.get())))
            .collect();
        // Triggers copy the written items into their totals rows in every stock that links their
        // source, creating missing rows (migrations 0005 and 0006), and record the changes in the
        // items' history (migration 0009).
        let sql = format!(
            "INSERT INTO source_item (source_code, sku, quantity, status) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[]) \
             ON CONFLICT (source_code, sku) DO UPDATE \
             SET quantity = EXCLUDED.quantity, status = EXCLUDED.status, updated_at = now() \
             RETURNING {SOURCE_ITEM_COLUMNS}"
        );
        let rows = retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            let requested: Vec<&str> = items.iter().map(|i| i.source.as_str()).collect();
            reject_unknown_sources(&mut tx, &requested, |i| format!("items[{i}].source_code"))
                .await?;
            if !checked.is_empty() {
                // Every item of the batch, so this lock and the write's take them in one order.
                let current = lock_quantities(&mut tx, &sources, &skus).await?;
                let stale = stale_counts(checked.iter().copied(), &current);
                if !stale.is_empty() {
                    return Err(RepoError::StaleCounts(stale));
                }
            }
            history::record(&mut tx, ChangeReason::Upsert, "", "", self.clock.now()).await?;
            let rows = sqlx::query_as::<_, SourceItemRow>(AssertSqlSafe(sql.as_str()))
                .bind(&sources)
                .bind(&skus)
                .bind(&quantities)
                .bind(&statuses)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            self.changed(Change::skus(items.iter().map(|i| &i.sku)));
            Ok(rows)
        })
        .await?;
        in_request_order(
            rows,
            items.iter().map(|i| (i.source.as_str(), i.sku.as_str())),
        )
    }

    /// Deletes a batch, all or nothing; absent items are skipped so retries are harmless.
    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    pub async fn delete_source_items(&self, keys: &[(SourceCode, Sku)]) -> Result<u64, RepoError> {
        let mut sorted: Vec<&(SourceCode, Sku)> = keys.iter().collect();
        sorted.sort();
        let sources: Vec<&str> = sorted.iter().map(|(s, _)| s.as_str()).collect();
        let skus: Vec<&str> = sorted.iter().map(|(_, k)| k.as_str()).collect();
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            let requested: Vec<&str> = keys.iter().map(|(s, _)| s.as_str()).collect();
            reject_unknown_sources(&mut tx, &requested, |i| format!("keys[{i}].source_code")).await?;
            history::record(&mut tx, ChangeReason::Delete, "", "", self.clock.now()).await?;
            let deleted = sqlx::query(
                "DELETE FROM source_item si USING unnest($1::text[], $2::text[]) AS k(source_code, sku) \
                 WHERE si.source_code = k.source_code AND si.sku = k.sku",
            )
            .bind(&sources)
            .bind(&skus)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            self.changed(Change::skus(keys.iter().map(|(_, sku)| sku)));
            Ok(deleted)
        })
        .await
    }

    /// Reads one source item.
    #[tracing::instrument(skip_all, fields(source = %source, sku = %sku))]
    pub async fn get_source_item(
        &self,
        source: &SourceCode,
        sku: &Sku,
    ) -> Result<SourceItem, RepoError> {
        let sql = format!(
            "SELECT {SOURCE_ITEM_COLUMNS} FROM source_item WHERE source_code = $1 AND sku = $2"
        );
        sqlx::query_as::<_, SourceItemRow>(AssertSqlSafe(sql))
            .bind(source.as_str())
            .bind(sku.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| item_not_found(source, sku))?
            .try_into()
    }

    /// Lists the source items of one SKU or one source, after the given key.
    #[tracing::instrument(skip_all)]
    pub async fn list_source_items(
        &self,
        filter: &SourceItemFilter,
        after: Option<&str>,
        limit: u32,
        only: Option<&[String]>,
    ) -> Result<Vec<SourceItem>, RepoError> {
        let (sql, value) = match filter {
            SourceItemFilter::Sku(sku) => (
                format!(
                    "SELECT {SOURCE_ITEM_COLUMNS} FROM source_item WHERE sku = $1 \
                     AND ($2::text IS NULL OR source_code > $2) \
                     AND ($4::text[] IS NULL OR source_code = ANY($4)) ORDER BY source_code LIMIT $3"
                ),
                sku.as_str(),
            ),
            SourceItemFilter::Source(source) => (
                format!(
                    "SELECT {SOURCE_ITEM_COLUMNS} FROM source_item WHERE source_code = $1 \
                     AND ($2::text IS NULL OR sku > $2) \
                     AND ($4::text[] IS NULL OR source_code = ANY($4)) ORDER BY sku LIMIT $3"
                ),
                source.as_str(),
            ),
        };
        let rows = self
            .read_anywhere(0, |pool| {
                let sql = sql.clone();
                async move {
                    Ok(sqlx::query_as::<_, SourceItemRow>(AssertSqlSafe(sql))
                        .bind(value)
                        .bind(after)
                        .bind(i64::from(limit))
                        .bind(only)
                        .fetch_all(&pool)
                        .await?)
                }
            })
            .await?;
        // The primary tells an unknown SKU or source from one a lagging replica lacks.
        if rows.is_empty() && after.is_none() {
            self.ensure_filter_target(filter).await?;
        }
        rows.into_iter().map(SourceItem::try_from).collect()
    }

    /// An empty first page is NOT_FOUND when the SKU or source is unknown altogether.
    async fn ensure_filter_target(&self, filter: &SourceItemFilter) -> Result<(), RepoError> {
        match filter {
            SourceItemFilter::Source(source) => self.get_source(source).await.map(|_| ()),
            SourceItemFilter::Sku(sku) => {
                if self.sku_is_known(sku).await? {
                    Ok(())
                } else {
                    Err(RepoError::NotFound {
                        kind: "sku",
                        name: sku.to_string(),
                    })
                }
            }
        }
    }

    /// A SKU is known once it has a source item or product settings.
    pub async fn sku_is_known(&self, sku: &Sku) -> Result<bool, RepoError> {
        Ok(sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM source_item WHERE sku = $1) \
             OR EXISTS (SELECT 1 FROM product_settings WHERE sku = $1)",
        )
        .bind(sku.as_str())
        .fetch_one(&self.pool)
        .await?)
    }
}

/// Locks the existing items of the (source, SKU) pairs in key order, the order every writer of
/// source items takes them in, and reads their quantities.
pub(super) async fn lock_quantities(
    conn: &mut PgConnection,
    sources: &[&str],
    skus: &[&str],
) -> Result<HashMap<(String, String), Decimal>, RepoError> {
    let rows: Vec<(String, String, Decimal)> = sqlx::query_as(
        "SELECT si.source_code, si.sku, si.quantity \
         FROM source_item si JOIN unnest($1::text[], $2::text[]) AS k(src, sku) \
           ON si.source_code = k.src AND si.sku = k.sku \
         ORDER BY si.source_code, si.sku FOR UPDATE OF si",
    )
    .bind(sources)
    .bind(skus)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(source, sku, quantity)| ((source, sku), quantity))
        .collect())
}

fn key(item: &SourceItemWrite) -> (&str, &str) {
    (item.source.as_str(), item.sku.as_str())
}

/// The error for a source item that does not exist.
pub(super) fn item_not_found(source: &SourceCode, sku: &Sku) -> RepoError {
    RepoError::NotFound {
        kind: "source item",
        name: format!("{source}/{sku}"),
    }
}

fn in_request_order<'a>(
    rows: Vec<SourceItemRow>,
    keys: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<SourceItem>, RepoError> {
    let mut by_key: HashMap<(String, String), SourceItemRow> = rows
        .into_iter()
        .map(|row| ((row.source_code.clone(), row.sku.clone()), row))
        .collect();
    keys.map(|(source, sku)| {
        by_key
            .remove(&(source.to_owned(), sku.to_owned()))
            .ok_or_else(|| RepoError::Corrupt(format!("upsert returned no row for {source}/{sku}")))
            .and_then(SourceItem::try_from)
    })
    .collect()
}
