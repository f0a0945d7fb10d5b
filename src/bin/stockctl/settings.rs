//! `stockctl settings get|set` on the three levels: global, product and source item.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use stockd::grpc::pb;

use crate::{client::Clients, output::Output};

/// `stockctl settings …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SettingsCommand {
    /// Reads stored and effective settings.
    #[command(subcommand)]
    Get(Level),
    /// Sets `FIELD=VALUE` pairs; `FIELD=` returns a product or item setting to "use default".
    #[command(subcommand)]
    Set(LevelWithValues),
}

/// Where settings live.
#[derive(Debug, Subcommand)]
pub(crate) enum Level {
    /// The global defaults.
    Global,
    /// A product's overrides.
    Product { sku: String },
    /// A source item's overrides.
    Item { source_code: String, sku: String },
}

/// Where settings live, and what to change there.
#[derive(Debug, Subcommand)]
pub(crate) enum LevelWithValues {
    /// The global defaults.
    Global { values: Vec<String> },
    /// A product's overrides.
    Product { sku: String, values: Vec<String> },
    /// A source item's overrides.
    Item {
        source_code: String,
        sku: String,
        values: Vec<String>,
    },
}

/// Runs `settings get` or `settings set`; both print the settings afterwards.
pub(crate) async fn run(
    clients: &Clients,
    out: Output,
    command: &SettingsCommand,
) -> anyhow::Result<u8> {
    let mut client = clients.settings();
    let shown = match command {
        SettingsCommand::Get(Level::Global) => {
            let global = client
                .get_global_settings(pb::GetGlobalSettingsRequest {})
                .await
                .context("GetGlobalSettings")?;
            pair(None, Some(&global.into_inner()))
        }
        SettingsCommand::Get(Level::Product { sku }) => {
            let s = client
                .get_product_settings(pb::GetProductSettingsRequest { sku: sku.clone() })
                .await
                .context("GetProductSettings")?
                .into_inner();
            pair(s.stored.as_ref(), s.effective.as_ref())
        }
        SettingsCommand::Get(Level::Item { source_code, sku }) => {
            let s = client
                .get_source_item_settings(pb::GetSourceItemSettingsRequest {
                    source_code: source_code.clone(),
                    sku: sku.clone(),
                })
                .await
                .context("GetSourceItemSettings")?
                .into_inner();
            pair(s.stored.as_ref(), s.effective.as_ref())
        }
        SettingsCommand::Set(LevelWithValues::Global { values }) => {
            let (set, clear) = parse_values(values)?;
            if !clear.is_empty() {
                bail!("global settings have no default to return to; give each a value");
            }
            let global = client
                .update_global_settings(pb::UpdateGlobalSettingsRequest { set: Some(set) })
                .await
                .context("UpdateGlobalSettings")?;
            pair(None, Some(&global.into_inner()))
        }
        SettingsCommand::Set(LevelWithValues::Product { sku, values }) => {
            let (set, clear) = parse_values(values)?;
            let s = client
                .update_product_settings(pb::UpdateProductSettingsRequest {
                    sku: sku.clone(),
                    set: Some(set),
                    clear,
                })
                .await
                .context("UpdateProductSettings")?
                .into_inner();
            pair(s.stored.as_ref(), s.effective.as_ref())
        }
        SettingsCommand::Set(LevelWithValues::Item {
            source_code,
            sku,
            values,
        }) => {
            let (set, clear) = parse_values(values)?;
            let s = client
                .update_source_item_settings(pb::UpdateSourceItemSettingsRequest {
                    source_code: source_code.clone(),
                    sku: sku.clone(),
                    set: Some(set),
                    clear,
                })
                .await
                .context("UpdateSourceItemSettings")?
                .into_inner();
            pair(s.stored.as_ref(), s.effective.as_ref())
        }
    };
    out.list(&["setting", "stored", "effective"], &shown);
    Ok(0)
}

/// The setting names, as `FIELD=VALUE` takes them and tables show them.
const NAMES: [&str; 11] = [
    "manage_stock",
    "backorders",
    "out_of_stock_threshold",
    "notify_stock_qty",
    "stock_threshold_qty",
    "min_sale_qty",
    "max_sale_qty",
    "qty_increments",
    "is_qty_decimal",
    "restock_date",
    "restock_qty",
];

/// One row per setting: the stored override (empty: use default) and the value that applies.
fn pair(stored: Option<&pb::SettingValues>, effective: Option<&pb::SettingValues>) -> Vec<Value> {
    let stored = stored.map(values);
    let effective = effective.map(values);
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let pick = |v: &Option<Vec<Option<String>>>| v.as_ref().and_then(|v| v[i].clone());
            json!({"setting": name, "stored": pick(&stored), "effective": pick(&effective)})
        })
        .filter(|row| !(row["stored"].is_null() && row["effective"].is_null()))
        .collect()
}

fn values(s: &pb::SettingValues) -> Vec<Option<String>> {
    let mode = s.backorders.map(|m| {
        pb::BackorderMode::try_from(m).map_or("unknown".to_owned(), |m| backorder_name(m).into())
    });
    vec![
        s.manage_stock.map(|b| b.to_string()),
        mode,
        s.out_of_stock_threshold.clone(),
        s.notify_stock_qty.clone(),
        s.stock_threshold_qty.clone(),
        s.min_sale_qty.clone(),
        s.max_sale_qty.clone(),
        s.qty_increments.clone(),
        s.is_qty_decimal.map(|b| b.to_string()),
        s.restock_date.clone(),
        s.restock_qty.clone(),
    ]
}

fn backorder_name(mode: pb::BackorderMode) -> &'static str {
    match mode {
        pb::BackorderMode::Allow => "allow",
        pb::BackorderMode::AllowNotify => "allow_notify",
        _ => "no",
    }
}

/// Reads `FIELD=VALUE` pairs into values to set and fields to clear.
fn parse_values(pairs: &[String]) -> anyhow::Result<(pb::SettingValues, Vec<i32>)> {
    let mut set = pb::SettingValues::default();
    let mut clear = Vec::new();
    if pairs.is_empty() {
        bail!(
            "give at least one FIELD=VALUE; fields: {}",
            NAMES.join(", ")
        );
    }
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("{pair:?} is not FIELD=VALUE");
        };
        let field = field_of(name)?;
        if value.is_empty() {
            clear.push(field as i32);
            continue;
        }
        put(&mut set, field, value).with_context(|| format!("{name}={value}"))?;
    }
    Ok((set, clear))
}

fn field_of(name: &str) -> anyhow::Result<pb::SettingField> {
    match NAMES.iter().position(|n| *n == name) {
        Some(i) => Ok(pb::SettingField::try_from(i as i32 + 1)?),
        None => bail!("unknown setting {name:?}; fields: {}", NAMES.join(", ")),
    }
}

fn put(set: &mut pb::SettingValues, field: pb::SettingField, value: &str) -> anyhow::Result<()> {
    use pb::SettingField as F;
    let text = Some(value.to_owned());
    match field {
        F::ManageStock => set.manage_stock = Some(value.parse()?),
        F::IsQtyDecimal => set.is_qty_decimal = Some(value.parse()?),
        F::Backorders => {
            let mode = match value {
                "0" | "no" => pb::BackorderMode::No,
                "1" | "allow" => pb::BackorderMode::Allow,
                "2" | "allow_notify" => pb::BackorderMode::AllowNotify,
                _ => bail!("backorders is no (0), allow (1) or allow_notify (2)"),
            };
            set.backorders = Some(mode as i32);
        }
        F::OutOfStockThreshold => set.out_of_stock_threshold = text,
        F::NotifyStockQty => set.notify_stock_qty = text,
        F::StockThresholdQty => set.stock_threshold_qty = text,
        F::MinSaleQty => set.min_sale_qty = text,
        F::MaxSaleQty => set.max_sale_qty = text,
        F::QtyIncrements => set.qty_increments = text,
        F::RestockDate => set.restock_date = text,
        F::RestockQty => set.restock_qty = text,
        F::Unspecified => bail!("no such setting"),
    }
    Ok(())
}
