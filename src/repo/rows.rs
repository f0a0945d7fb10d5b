//! Row structs private to the repository, and their checked conversion into domain types:
//! a row that breaks an invariant becomes `RepoError::Corrupt`, never a panic.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::RepoError;
use crate::domain::{
    BackorderMode, GlobalSettings, ProductSettings, Quantity, Sku, SourceCode, SourceItem,
    SourceItemSettings, SourceItemStatus,
    source::{Address, Contact, GeoPoint, Source, SourceDetails},
};

#[derive(sqlx::FromRow)]
pub(super) struct SourceRow {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) enabled: bool,
    pub(super) description: String,
    pub(super) country: String,
    pub(super) region: String,
    pub(super) city: String,
    pub(super) postcode: String,
    pub(super) street: String,
    pub(super) latitude: Option<f64>,
    pub(super) longitude: Option<f64>,
    pub(super) contact_name: String,
    pub(super) contact_email: String,
    pub(super) contact_phone: String,
}

/// Columns of `source` in the order `SourceRow` reads them.
pub(super) const SOURCE_COLUMNS: &str = "code, name, enabled, description, country, region, city, \
     postcode, street, latitude, longitude, contact_name, contact_email, contact_phone";

impl TryFrom<SourceRow> for Source {
    type Error = RepoError;

    fn try_from(row: SourceRow) -> Result<Self, RepoError> {
        let location = match (row.latitude, row.longitude) {
            (Some(lat), Some(lon)) => Some(
                GeoPoint::new(lat, lon)
                    .map_err(|_| corrupt("source", &row.code, "coordinates out of range"))?,
            ),
            _ => None,
        };
        Ok(Source {
            code: source_code(&row.code)?,
            enabled: row.enabled,
            details: SourceDetails {
                name: row.name,
                description: row.description,
                address: Address {
                    country: row.country,
                    region: row.region,
                    city: row.city,
                    postcode: row.postcode,
                    street: row.street,
                },
                location,
                contact: Contact {
                    name: row.contact_name,
                    email: row.contact_email,
                    phone: row.contact_phone,
                },
            },
        })
    }
}

#[derive(Clone, sqlx::FromRow)]
pub(super) struct GlobalSettingsRow {
    pub(super) manage_stock: bool,
    pub(super) backorders: String,
    pub(super) out_of_stock_threshold: Decimal,
    pub(super) notify_stock_qty: Decimal,
    pub(super) stock_threshold_qty: Decimal,
    pub(super) min_sale_qty: Decimal,
    pub(super) max_sale_qty: Decimal,
    pub(super) qty_increments: Decimal,
}

impl TryFrom<GlobalSettingsRow> for GlobalSettings {
    type Error = RepoError;

    fn try_from(row: GlobalSettingsRow) -> Result<Self, RepoError> {
        Ok(GlobalSettings {
            manage_stock: row.manage_stock,
            backorders: backorder_mode(&row.backorders)?,
            out_of_stock_threshold: quantity(row.out_of_stock_threshold)?,
            notify_stock_qty: quantity(row.notify_stock_qty)?,
            stock_threshold_qty: quantity(row.stock_threshold_qty)?,
            min_sale_qty: quantity(row.min_sale_qty)?,
            max_sale_qty: quantity(row.max_sale_qty)?,
            qty_increments: quantity(row.qty_increments)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ProductSettingsRow {
    pub(super) sku: String,
    pub(super) manage_stock: Option<bool>,
    pub(super) backorders: Option<String>,
    pub(super) out_of_stock_threshold: Option<Decimal>,
    pub(super) notify_stock_qty: Option<Decimal>,
    pub(super) stock_threshold_qty: Option<Decimal>,
    pub(super) min_sale_qty: Option<Decimal>,
    pub(super) max_sale_qty: Option<Decimal>,
    pub(super) qty_increments: Option<Decimal>,
    pub(super) is_qty_decimal: Option<bool>,
}

/// Columns of `product_settings` in the order `ProductSettingsRow` reads them.
pub(super) const PRODUCT_SETTINGS_COLUMNS: &str = "sku, manage_stock, backorders, \
     out_of_stock_threshold, notify_stock_qty, stock_threshold_qty, min_sale_qty, max_sale_qty, \
     qty_increments, is_qty_decimal";

impl ProductSettingsRow {
    pub(super) fn into_domain(self) -> Result<(Sku, ProductSettings), RepoError> {
        let settings = ProductSettings {
            manage_stock: self.manage_stock,
            backorders: self.backorders.as_deref().map(backorder_mode).transpose()?,
            out_of_stock_threshold: optional_quantity(self.out_of_stock_threshold)?,
            notify_stock_qty: optional_quantity(self.notify_stock_qty)?,
            stock_threshold_qty: optional_quantity(self.stock_threshold_qty)?,
            min_sale_qty: optional_quantity(self.min_sale_qty)?,
            max_sale_qty: optional_quantity(self.max_sale_qty)?,
            qty_increments: optional_quantity(self.qty_increments)?,
            is_qty_decimal: self.is_qty_decimal,
        };
        Ok((sku(&self.sku)?, settings))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SourceItemRow {
    pub(super) source_code: String,
    pub(super) sku: String,
    pub(super) quantity: Decimal,
    pub(super) status: String,
    pub(super) backorders: Option<String>,
    pub(super) out_of_stock_threshold: Option<Decimal>,
    pub(super) notify_stock_qty: Option<Decimal>,
    pub(super) restock_date: Option<NaiveDate>,
    pub(super) restock_qty: Option<Decimal>,
}

/// Columns of `source_item` in the order `SourceItemRow` reads them (prefix with an alias if needed).
pub(super) const SOURCE_ITEM_COLUMNS: &str = "source_code, sku, quantity, status, backorders, \
     out_of_stock_threshold, notify_stock_qty, restock_date, restock_qty";

impl TryFrom<SourceItemRow> for SourceItem {
    type Error = RepoError;

    fn try_from(row: SourceItemRow) -> Result<Self, RepoError> {
        Ok(SourceItem {
            source: source_code(&row.source_code)?,
            sku: sku(&row.sku)?,
            quantity: quantity(row.quantity)?,
            status: status(&row.status)?,
            settings: SourceItemSettings {
                backorders: row.backorders.as_deref().map(backorder_mode).transpose()?,
                out_of_stock_threshold: optional_quantity(row.out_of_stock_threshold)?,
                notify_stock_qty: optional_quantity(row.notify_stock_qty)?,
                restock_date: row.restock_date,
                restock_qty: optional_quantity(row.restock_qty)?,
            },
        })
    }
}

/// The stored spelling of a backorder mode.
pub(super) fn backorder_mode_name(mode: BackorderMode) -> &'static str {
    match mode {
        BackorderMode::No => "NO",
        BackorderMode::Allow => "ALLOW",
        BackorderMode::AllowNotify => "ALLOW_NOTIFY",
    }
}

/// The stored spelling of a source item status.
pub(super) fn status_name(status: SourceItemStatus) -> &'static str {
    match status {
        SourceItemStatus::InStock => "IN_STOCK",
        SourceItemStatus::OutOfStock => "OUT_OF_STOCK",
    }
}

pub(super) fn backorder_mode(value: &str) -> Result<BackorderMode, RepoError> {
    match value {
        "NO" => Ok(BackorderMode::No),
        "ALLOW" => Ok(BackorderMode::Allow),
        "ALLOW_NOTIFY" => Ok(BackorderMode::AllowNotify),
        other => Err(RepoError::Corrupt(format!(
            "unknown backorder mode {other}"
        ))),
    }
}

fn status(value: &str) -> Result<SourceItemStatus, RepoError> {
    match value {
        "IN_STOCK" => Ok(SourceItemStatus::InStock),
        "OUT_OF_STOCK" => Ok(SourceItemStatus::OutOfStock),
        other => Err(RepoError::Corrupt(format!(
            "unknown source item status {other}"
        ))),
    }
}

pub(super) fn quantity(value: Decimal) -> Result<Quantity, RepoError> {
    Quantity::from_decimal(value).map_err(|e| RepoError::Corrupt(format!("quantity {value}: {e}")))
}

fn optional_quantity(value: Option<Decimal>) -> Result<Option<Quantity>, RepoError> {
    value.map(quantity).transpose()
}

pub(super) fn sku(value: &str) -> Result<Sku, RepoError> {
    Sku::parse(value).map_err(|e| RepoError::Corrupt(format!("sku {value:?}: {e}")))
}

pub(super) fn source_code(value: &str) -> Result<SourceCode, RepoError> {
    SourceCode::parse(value).map_err(|e| RepoError::Corrupt(format!("source code {value:?}: {e}")))
}

fn corrupt(kind: &str, name: &str, what: &str) -> RepoError {
    RepoError::Corrupt(format!("{kind} {name}: {what}"))
}
