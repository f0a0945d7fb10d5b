//! Adjustments: source-item quantities changed by a delta with a reason, all or nothing, exactly
//! once per idempotency key (docs/stock-counts.md).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::{
    Repo, RepoError, changes::Change, history, retry_conflicts, source_items::lock_quantities,
};
use crate::domain::{
    Sku, SourceCode,
    stock_count::{ChangeReason, Delta, IdempotencyKey, adjustment_fingerprint, apply_deltas},
};

/// An AdjustSourceItems call.
#[derive(Debug, Clone)]
pub struct AdjustmentRequest {
    /// Makes the call safe to retry.
    pub key: IdempotencyKey,
    /// Why; one of the adjustment reasons.
    pub reason: ChangeReason,
    /// Free text kept in the history.
    pub note: String,
    /// The changes; each (source, SKU) once.
    pub deltas: Vec<Delta>,
}

/// An item's quantity after an adjustment.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjustedItem {
    /// Where.
    pub source: SourceCode,
    /// What.
    pub sku: Sku,
    /// The quantity right after the adjustment.
    pub quantity_after: Decimal,
}

/// The answer to an adjustment.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    /// True when an identical earlier call had already applied it.
    pub replayed: bool,
    /// Each item's quantity after, in request order.
    pub items: Vec<AdjustedItem>,
}

type Quantities = HashMap<(String, String), Decimal>;

impl Repo {
    /// Applies every delta or none; a retry with the same key and content answers the first
    /// result before anything else is checked, other content under the key is ALREADY_EXISTS.
    #[tracing::instrument(skip_all, fields(key = req.key.as_str(), items = req.deltas.len()))]
    pub async fn adjust_source_items(
        &self,
        req: &AdjustmentRequest,
    ) -> Result<Adjusted, RepoError> {
        let print = adjustment_fingerprint(req.reason, &req.note, &req.deltas);
        let (replayed, after) = retry_conflicts(|| async {
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            if let Some(stored) = claim(&mut tx, &req.key, &print, now).await? {
                return Ok((true, stored));
            }
            let after = apply(&mut tx, req, now).await?;
            tx.commit().await?;
            Ok((false, after))
        })
        .await?;
        if !replayed {
            self.changed(Change::skus(req.deltas.iter().map(|d| &d.sku)));
        }
        let items = req
            .deltas
            .iter()
            .map(|d| {
                let key = (d.source.to_string(), d.sku.to_string());
                let quantity_after = after.get(&key).copied().ok_or_else(|| {
                    RepoError::Corrupt(format!(
                        "adjustment {} lacks {}/{}",
                        req.key.as_str(),
                        key.0,
                        key.1
                    ))
                })?;
                Ok(AdjustedItem {
                    source: d.source.clone(),
                    sku: d.sku.clone(),
                    quantity_after,
                })
            })
            .collect::<Result<_, RepoError>>()?;
        Ok(Adjusted { replayed, items })
    }
}

/// Records the key for this request; a concurrent copy waits here for the first to finish.
/// Returns the stored answer when an identical request already applied it.
async fn claim(
    conn: &mut PgConnection,
    key: &IdempotencyKey,
    print: &str,
    now: DateTime<Utc>,
) -> Result<Option<Quantities>, RepoError> {
    let inserted = sqlx::query(
        "INSERT INTO source_item_adjustment (idempotency_key, fingerprint, created_at) \
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(key.as_str())
    .bind(print)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    let (stored_print, sources, skus, after): (String, Vec<String>, Vec<String>, Vec<Decimal>) =
        sqlx::query_as(
            "SELECT fingerprint, source_codes, skus, quantities_after \
             FROM source_item_adjustment WHERE idempotency_key = $1",
        )
        .bind(key.as_str())
        .fetch_one(conn)
        .await?;
    if stored_print != print {
        return Err(RepoError::AlreadyExists {
            kind: "adjustment",
            name: key.as_str().to_owned(),
        });
    }
    Ok(Some(sources.into_iter().zip(skus).zip(after).collect()))
}

/// Locks the items in key order, lets the domain judge every delta, then writes the quantities
/// after (the history triggers record each change with the reason set here) and the answer.
async fn apply(
    conn: &mut PgConnection,
    req: &AdjustmentRequest,
    now: DateTime<Utc>,
) -> Result<Quantities, RepoError> {
    let deltas = &req.deltas;
    let mut order: Vec<usize> = (0..deltas.len()).collect();
    order.sort_by(|&a, &b| {
        (&deltas[a].source, &deltas[a].sku).cmp(&(&deltas[b].source, &deltas[b].sku))
    });
    let sources: Vec<&str> = order.iter().map(|&i| deltas[i].source.as_str()).collect();
    let skus: Vec<&str> = order.iter().map(|&i| deltas[i].sku.as_str()).collect();
    let locked = lock_quantities(conn, &sources, &skus).await?;
    let current: Vec<Option<Decimal>> = deltas
        .iter()
        .map(|d| {
            locked
                .get(&(d.source.to_string(), d.sku.to_string()))
                .copied()
        })
        .collect();
    let after = apply_deltas(deltas, &current).map_err(RepoError::Refused)?;
    let quantities: Vec<Decimal> = order.iter().map(|&i| after[i]).collect();
    let after: Quantities = deltas
        .iter()
        .zip(after)
        .map(|(d, q)| ((d.source.to_string(), d.sku.to_string()), q))
        .collect();
    history::record(conn, req.reason, req.key.as_str(), &req.note, now).await?;
    sqlx::query(
        "UPDATE source_item si SET quantity = d.q, updated_at = now() \
         FROM unnest($1::text[], $2::text[], $3::numeric[]) AS d(src, sku, q) \
         WHERE si.source_code = d.src AND si.sku = d.sku",
    )
    .bind(&sources)
    .bind(&skus)
    .bind(&quantities)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE source_item_adjustment \
         SET source_codes = $2, skus = $3, quantities_after = $4 WHERE idempotency_key = $1",
    )
    .bind(req.key.as_str())
    .bind(&sources)
    .bind(&skus)
    .bind(&quantities)
    .execute(conn)
    .await?;
    Ok(after)
}
