//! Writing checked rows to stockd: upserts with their settings, or keyed adjustments.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use stockd::grpc::pb;
use tokio::task::JoinSet;

use crate::{
    client::Clients,
    columns::Column,
    row::{Row, RowError, canonical},
};

/// Settings calls in flight at once; settings have no batch RPC.
const SETTINGS_CONCURRENCY: usize = 16;

/// The adjustment reasons of `--reason`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Reason {
    Received,
    Damaged,
    Shrinkage,
    Promotion,
    Correction,
    Other,
}

impl Reason {
    fn to_pb(self) -> pb::AdjustmentReason {
        match self {
            Reason::Received => pb::AdjustmentReason::Received,
            Reason::Damaged => pb::AdjustmentReason::Damaged,
            Reason::Shrinkage => pb::AdjustmentReason::Shrinkage,
            Reason::Promotion => pb::AdjustmentReason::Promotion,
            Reason::Correction => pb::AdjustmentReason::Correction,
            Reason::Other => pb::AdjustmentReason::Other,
        }
    }
}

/// What an import wrote, for its summary.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) batches: u64,
    pub(crate) rows: u64,
    pub(crate) settings_updated: u64,
    pub(crate) replayed_batches: u64,
    pub(crate) zero_deltas: u64,
}

impl Totals {
    /// The summary printed at the end of a real import.
    pub(crate) fn summary(&self, errors: &[RowError], elapsed: Duration) -> serde_json::Value {
        let secs = elapsed.as_secs_f64();
        json!({
            "rows_written": self.rows,
            "batches": self.batches,
            "replayed_batches": self.replayed_batches,
            "settings_updated": self.settings_updated,
            "zero_deltas_skipped": self.zero_deltas,
            "bad_rows_skipped": errors.len(),
            "seconds": (secs * 100.0).round() / 100.0,
            "rows_per_second": if secs > 0.0 { (self.rows as f64 / secs).round() } else { 0.0 },
        })
    }
}

/// Upserts quantity and status, then updates the settings that differ from the file's.
pub(crate) async fn write_set(
    clients: &Clients,
    rows: Vec<Row>,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let items = rows
        .iter()
        .map(|row| pb::SourceItem {
            source_code: row.source_code.clone(),
            sku: row.sku.clone(),
            quantity: row.quantity.clone(),
            status: row.status as i32,
            settings: None,
            expected_quantity: None,
        })
        .collect();
    let stored = clients
        .items()
        .upsert_source_items(pb::UpsertSourceItemsRequest { items })
        .await
        .with_context(|| format!("batch {} failed", totals.batches + 1))?
        .into_inner()
        .items;
    totals.batches += 1;
    totals.rows += rows.len() as u64;
    let updates: Vec<_> = rows
        .iter()
        .zip(&stored)
        .filter_map(|(row, item)| settings_update(row, item.settings.as_ref()))
        .collect();
    totals.settings_updated += updates.len() as u64;
    update_settings(clients, updates).await
}

/// The settings call a row needs, when its stored settings differ from the file's cells.
fn settings_update(
    row: &Row,
    stored: Option<&pb::SettingValues>,
) -> Option<pb::UpdateSourceItemSettingsRequest> {
    let empty = pb::SettingValues::default();
    let stored = stored.unwrap_or(&empty);
    let mut request = pb::UpdateSourceItemSettingsRequest {
        source_code: row.source_code.clone(),
        sku: row.sku.clone(),
        set: Some(pb::SettingValues::default()),
        clear: Vec::new(),
    };
    let mut differs = false;
    for (column, wanted) in &row.settings {
        if stored_cell(stored, *column) == *wanted {
            continue;
        }
        differs = true;
        match (wanted, column.setting_field()) {
            (None, Some(field)) => request.clear.push(field as i32),
            (Some(value), _) => {
                if let Some(set) = request.set.as_mut() {
                    put(set, *column, value);
                }
            }
            (None, None) => {}
        }
    }
    differs.then_some(request)
}

/// A stored setting as the file would write it.
pub(crate) fn stored_cell(stored: &pb::SettingValues, column: Column) -> Option<String> {
    let decimal = |v: &Option<String>| {
        v.as_deref()
            .map(|t| canonical(t, false).unwrap_or(t.into()))
    };
    match column {
        Column::Backorders => stored.backorders.map(|mode| {
            match pb::BackorderMode::try_from(mode) {
                Ok(pb::BackorderMode::Allow) => "1",
                Ok(pb::BackorderMode::AllowNotify) => "2",
                _ => "0",
            }
            .to_owned()
        }),
        Column::OutOfStockThreshold => decimal(&stored.out_of_stock_threshold),
        Column::NotifyStockQty => decimal(&stored.notify_stock_qty),
        Column::RestockDate => stored.restock_date.clone(),
        Column::RestockQty => decimal(&stored.restock_qty),
        _ => None,
    }
}

fn put(set: &mut pb::SettingValues, column: Column, value: &str) {
    match column {
        Column::Backorders => {
            let mode = match value {
                "1" => pb::BackorderMode::Allow,
                "2" => pb::BackorderMode::AllowNotify,
                _ => pb::BackorderMode::No,
            };
            set.backorders = Some(mode as i32);
        }
        Column::OutOfStockThreshold => set.out_of_stock_threshold = Some(value.into()),
        Column::NotifyStockQty => set.notify_stock_qty = Some(value.into()),
        Column::RestockDate => set.restock_date = Some(value.into()),
        Column::RestockQty => set.restock_qty = Some(value.into()),
        _ => {}
    }
}

async fn update_settings(
    clients: &Clients,
    updates: Vec<pb::UpdateSourceItemSettingsRequest>,
) -> anyhow::Result<()> {
    let mut running = JoinSet::new();
    for update in updates {
        if running.len() >= SETTINGS_CONCURRENCY {
            joined(running.join_next().await)?;
        }
        let mut client = clients.settings();
        running.spawn(async move {
            let what = format!("settings of {} at {}", update.sku, update.source_code);
            client
                .update_source_item_settings(update)
                .await
                .map(|_| ())
                .with_context(|| format!("{what} failed"))
        });
    }
    while let Some(done) = running.join_next().await {
        joined(Some(done))?;
    }
    Ok(())
}

fn joined(done: Option<Result<anyhow::Result<()>, tokio::task::JoinError>>) -> anyhow::Result<()> {
    match done {
        Some(result) => result.context("a settings call did not finish")?,
        None => Ok(()),
    }
}

/// One batch of deltas and the key that makes it apply once.
pub(crate) struct AdjustBatch {
    pub(crate) key: String,
    pub(crate) reason: Reason,
    pub(crate) note: String,
    pub(crate) rows: Vec<Row>,
}

/// Applies a batch of deltas exactly once: a re-run replays the batch's first answer.
pub(crate) async fn write_adjust(
    clients: &Clients,
    batch: AdjustBatch,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let count = batch.rows.len() as u64;
    let lines: Vec<_> = batch
        .rows
        .into_iter()
        .filter(|row| row.quantity != "0")
        .map(|row| pb::SourceItemDelta {
            source_code: row.source_code,
            sku: row.sku,
            delta: row.quantity,
        })
        .collect();
    totals.batches += 1;
    totals.zero_deltas += count - lines.len() as u64;
    if lines.is_empty() {
        return Ok(());
    }
    totals.rows += lines.len() as u64;
    let answer = clients
        .items()
        .adjust_source_items(pb::AdjustSourceItemsRequest {
            idempotency_key: batch.key.clone(),
            reason: batch.reason.to_pb() as i32,
            note: batch.note,
            lines,
        })
        .await
        .with_context(|| format!("batch {} ({}) failed", totals.batches, batch.key))?
        .into_inner();
    if answer.replayed {
        totals.replayed_batches += 1;
    }
    Ok(())
}
