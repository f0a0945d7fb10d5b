//! The history of source-item quantities. Triggers on `source_item` write it (migration 0009), so
//! no path can forget a change; this module tells them why, for whom and when, and reads and
//! prunes what they wrote.

use std::future::Future;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, PgConnection};

use super::{Repo, RepoError};
use crate::domain::{ReturnId, ShipmentId, Sku, SourceCode, stock_count::ChangeReason};

tokio::task_local! {
    /// The authenticated caller of the request this task serves; the auth layer sets it.
    static CALLER: String;
}

/// Who history names when no authenticated caller is known (authentication is off).
pub const ANONYMOUS: &str = "anonymous";

/// Runs `work` as `caller`, so that history names them for every change it makes. The auth
/// layer wraps each call in it; the name travels with the task instead of through every
/// repository signature.
pub fn acting_as<F: Future>(caller: String, work: F) -> impl Future<Output = F::Output> {
    CALLER.scope(caller, work)
}

fn caller() -> String {
    CALLER
        .try_with(Clone::clone)
        .unwrap_or_else(|_| ANONYMOUS.to_owned())
}

/// Tells the history triggers why the rest of this transaction changes quantities: the reason,
/// the caller, a reference (idempotency key, shipment or return id), a note and the time. The
/// settings are transaction-local, so they end with it and never leak to a pooled connection's
/// next user.
pub(super) async fn record(
    conn: &mut PgConnection,
    reason: ChangeReason,
    reference: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    sqlx::query(
        "SELECT set_config('stockd.change_reason', $1, true), \
                set_config('stockd.change_caller', $2, true), \
                set_config('stockd.change_reference', $3, true), \
                set_config('stockd.change_note', $4, true), \
                set_config('stockd.change_time', $5, true)",
    )
    .bind(reason.as_str())
    .bind(caller())
    .bind(reference)
    .bind(note)
    .bind(now.to_rfc3339())
    .execute(conn)
    .await?;
    Ok(())
}

/// [`record`] for a shipment's deductions.
pub(super) async fn for_shipment(
    conn: &mut PgConnection,
    id: &ShipmentId,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    record(conn, ChangeReason::Shipment, id.as_str(), "", now).await
}

/// [`record`] for a return's units going back on the shelf.
pub(super) async fn for_return(
    conn: &mut PgConnection,
    id: &ReturnId,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    record(conn, ChangeReason::Return, id.as_str(), "", now).await
}

/// Whose history a listing shows.
#[derive(Debug, Clone)]
pub enum HistoryFilter {
    /// One source item.
    Item(SourceCode, Sku),
    /// Every item of one source.
    Source(SourceCode),
    /// Every item of one SKU.
    Sku(Sku),
}

/// One change of a source item's quantity.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct QuantityChange {
    /// Increases with every change; the newest has the largest.
    pub id: i64,
    /// The item's source.
    pub source_code: String,
    /// The item's SKU.
    pub sku: String,
    /// `None`: the change created the item.
    pub quantity_before: Option<Decimal>,
    /// `None`: the change deleted the item.
    pub quantity_after: Option<Decimal>,
    /// An adjustment's reason, UPSERT, DELETE, SHIPMENT, RETURN, or UNRECORDED (outside stockd).
    pub reason: String,
    /// The adjustment's note.
    pub note: String,
    /// Who: the token's name, `anonymous`, or `db:<role>` outside stockd.
    pub caller: String,
    /// The idempotency key, shipment id or return id.
    pub reference: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

impl Repo {
    /// Lists changes newest first, those older than `before` (an id) when given, within the
    /// sources `only` names when given.
    #[tracing::instrument(skip_all)]
    pub async fn list_source_item_history(
        &self,
        filter: &HistoryFilter,
        before: Option<i64>,
        limit: u32,
        only: Option<&[String]>,
    ) -> Result<Vec<QuantityChange>, RepoError> {
        let (condition, source, sku) = match filter {
            HistoryFilter::Item(source, sku) => (
                "sku = $2 AND source_code = $1",
                Some(source.as_str()),
                Some(sku.as_str()),
            ),
            HistoryFilter::Source(source) => ("source_code = $1", Some(source.as_str()), None),
            HistoryFilter::Sku(sku) => ("sku = $2", None, Some(sku.as_str())),
        };
        let sql = format!(
            "SELECT id, source_code, sku, quantity_before, quantity_after, reason, note, caller, \
                    reference, changed_at \
             FROM source_item_history \
             WHERE {condition} AND ($3::bigint IS NULL OR id < $3) \
               AND ($5::text[] IS NULL OR source_code = ANY($5)) \
             ORDER BY id DESC LIMIT $4"
        );
        Ok(sqlx::query_as::<_, QuantityChange>(AssertSqlSafe(sql))
            .bind(source)
            .bind(sku)
            .bind(before)
            .bind(i64::from(limit))
            .bind(only)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Deletes up to `batch` history rows and kept adjustment answers older than `keep` by the
    /// repository's clock; returns how many of each went. Below the exported level, like the
    /// sweeper's other passes: each would otherwise be a trace of its own.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn prune_history(
        &self,
        keep: std::time::Duration,
        batch: u32,
    ) -> Result<(u64, u64), RepoError> {
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let cutoff = self
            .clock
            .now()
            .checked_sub_signed(keep)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let changes = self
            .delete_older("source_item_history", "id", "changed_at", cutoff, batch)
            .await?;
        let adjustments = self
            .delete_older(
                "source_item_adjustment",
                "idempotency_key",
                "created_at",
                cutoff,
                batch,
            )
            .await?;
        Ok((changes, adjustments))
    }

    /// Deletes up to `batch` rows of `table` whose `time` is before `cutoff`, oldest first.
    async fn delete_older(
        &self,
        table: &str,
        key: &str,
        time: &str,
        cutoff: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, RepoError> {
        let sql = format!(
            "DELETE FROM {table} WHERE {key} IN ( \
               SELECT {key} FROM {table} WHERE {time} < $1 \
               ORDER BY {time} LIMIT $2 FOR UPDATE SKIP LOCKED)"
        );
        Ok(sqlx::query(AssertSqlSafe(sql))
            .bind(cutoff)
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
