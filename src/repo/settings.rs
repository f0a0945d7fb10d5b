//! The three levels of settings: load, let the domain merge and validate, save.

use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, PgConnection, PgExecutor};

use super::{
    Repo, RepoError,
    changes::Change,
    retry_conflicts,
    rows::{
        GlobalSettingsRow, PRODUCT_SETTINGS_COLUMNS, ProductSettingsRow, SOURCE_ITEM_COLUMNS,
        SourceItemRow, backorder_mode_name,
    },
    source_items::item_not_found,
};
use crate::{
    domain::{
        EffectiveItemSettings, EffectiveProductSettings, GlobalSettings, ProductSettings, Quantity,
        SettingField, Sku, SourceCode, SourceItem, SourceItemSettings, ValidationError,
        settings_patch::SettingsPatch,
    },
    validation::FieldViolation,
};

/// A product's stored overrides and what applies after resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductSettingsView {
    /// Overrides as stored.
    pub stored: ProductSettings,
    /// Values after product → global resolution.
    pub effective: EffectiveProductSettings,
}

/// A source item's stored overrides and what applies after resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceItemSettingsView {
    /// Overrides as stored.
    pub stored: SourceItemSettings,
    /// Values after source item → product → global resolution.
    pub effective: EffectiveItemSettings,
}

const GLOBAL_COLUMNS: &str = "manage_stock, backorders, out_of_stock_threshold, notify_stock_qty, \
     stock_threshold_qty, min_sale_qty, max_sale_qty, qty_increments";

impl Repo {
    /// Reads the global defaults.
    #[tracing::instrument(skip_all)]
    pub async fn global_settings(&self) -> Result<GlobalSettings, RepoError> {
        load_global(&self.pool, false).await
    }

    /// Changes global defaults.
    #[tracing::instrument(skip_all)]
    pub async fn update_global_settings(
        &self,
        patch: &SettingsPatch,
    ) -> Result<GlobalSettings, RepoError> {
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            let mut global = load_global(&mut *tx, true).await?;
            patch.apply_to_global(&mut global);
            crate::domain::validate_global(&global).map_err(invalid_settings)?;
            save_global(&mut tx, &global).await?;
            tx.commit().await?;
            self.changed(Change::Everything);
            Ok(global)
        })
        .await
    }

    /// Reads a product's settings; NOT_FOUND when the SKU is unknown.
    #[tracing::instrument(skip_all, fields(sku = %sku))]
    pub async fn product_settings(&self, sku: &Sku) -> Result<ProductSettingsView, RepoError> {
        let global = self.global_settings().await?;
        let stored = match load_product(&self.pool, sku, false).await? {
            Some(stored) => stored,
            None if self.sku_is_known(sku).await? => ProductSettings::default(),
            None => return Err(sku_not_found(sku)),
        };
        let effective = stored.resolve(&global);
        Ok(ProductSettingsView { stored, effective })
    }

    /// Sets and clears product-level overrides (the SKU need not have source items yet).
    #[tracing::instrument(skip_all, fields(sku = %sku))]
    pub async fn update_product_settings(
        &self,
        sku: &Sku,
        patch: &SettingsPatch,
    ) -> Result<ProductSettingsView, RepoError> {
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            let global = load_global(&mut *tx, false).await?;
            sqlx::query("INSERT INTO product_settings (sku) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(sku.as_str())
                .execute(&mut *tx)
                .await?;
            let mut stored = load_product(&mut *tx, sku, true).await?.unwrap_or_default();
            patch.apply_to_product(&mut stored);
            stored.validate().map_err(invalid_settings)?;
            save_product(&mut tx, sku, &stored).await?;
            tx.commit().await?;
            self.changed(Change::skus([sku]));
            let effective = stored.resolve(&global);
            Ok(ProductSettingsView { stored, effective })
        })
        .await
    }

    /// Reads a source item's settings.
    #[tracing::instrument(skip_all, fields(source = %source, sku = %sku))]
    pub async fn source_item_settings(
        &self,
        source: &SourceCode,
        sku: &Sku,
    ) -> Result<SourceItemSettingsView, RepoError> {
        let mut conn = self.pool.acquire().await?;
        let item = load_item(&mut conn, source, sku, false).await?;
        let product = effective_product(&mut conn, sku).await?;
        let effective = item.settings.resolve(&product);
        Ok(SourceItemSettingsView {
            stored: item.settings,
            effective,
        })
    }

    /// Sets and clears source-item-level overrides.
    #[tracing::instrument(skip_all, fields(source = %source, sku = %sku))]
    pub async fn update_source_item_settings(
        &self,
        source: &SourceCode,
        sku: &Sku,
        patch: &SettingsPatch,
    ) -> Result<SourceItemSettingsView, RepoError> {
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            let mut item = load_item(&mut tx, source, sku, true).await?;
            patch.apply_to_source_item(&mut item.settings);
            item.settings.validate().map_err(invalid_settings)?;
            save_item_settings(&mut tx, &item).await?;
            let product = effective_product(&mut tx, sku).await?;
            tx.commit().await?;
            self.changed(Change::skus([sku]));
            let effective = item.settings.resolve(&product);
            Ok(SourceItemSettingsView {
                stored: item.settings,
                effective,
            })
        })
        .await
    }
}

/// Reads the single row of global settings.
pub(super) async fn load_global<'e>(
    db: impl PgExecutor<'e>,
    for_update: bool,
) -> Result<GlobalSettings, RepoError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {GLOBAL_COLUMNS} FROM global_settings{lock}");
    sqlx::query_as::<_, GlobalSettingsRow>(AssertSqlSafe(sql))
        .fetch_one(db)
        .await?
        .try_into()
}

async fn save_global(conn: &mut PgConnection, g: &GlobalSettings) -> Result<(), RepoError> {
    sqlx::query(
        "UPDATE global_settings SET manage_stock = $1, backorders = $2, \
         out_of_stock_threshold = $3, notify_stock_qty = $4, stock_threshold_qty = $5, \
         min_sale_qty = $6, max_sale_qty = $7, qty_increments = $8, updated_at = now()",
    )
    .bind(g.manage_stock)
    .bind(backorder_mode_name(g.backorders))
    .bind(g.out_of_stock_threshold.get())
    .bind(g.notify_stock_qty.get())
    .bind(g.stock_threshold_qty.get())
    .bind(g.min_sale_qty.get())
    .bind(g.max_sale_qty.get())
    .bind(g.qty_increments.get())
    .execute(conn)
    .await?;
    Ok(())
}

async fn load_product<'e>(
    db: impl PgExecutor<'e>,
    sku: &Sku,
    for_update: bool,
) -> Result<Option<ProductSettings>, RepoError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql =
        format!("SELECT {PRODUCT_SETTINGS_COLUMNS} FROM product_settings WHERE sku = $1{lock}");
    let row = sqlx::query_as::<_, ProductSettingsRow>(AssertSqlSafe(sql))
        .bind(sku.as_str())
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| r.into_domain()).transpose()?.map(|(_, s)| s))
}

async fn save_product(
    conn: &mut PgConnection,
    sku: &Sku,
    p: &ProductSettings,
) -> Result<(), RepoError> {
    sqlx::query(
        "UPDATE product_settings SET manage_stock = $2, backorders = $3, \
         out_of_stock_threshold = $4, notify_stock_qty = $5, stock_threshold_qty = $6, \
         min_sale_qty = $7, max_sale_qty = $8, qty_increments = $9, is_qty_decimal = $10, \
         updated_at = now() WHERE sku = $1",
    )
    .bind(sku.as_str())
    .bind(p.manage_stock)
    .bind(p.backorders.map(backorder_mode_name))
    .bind(decimal(p.out_of_stock_threshold))
    .bind(decimal(p.notify_stock_qty))
    .bind(decimal(p.stock_threshold_qty))
    .bind(decimal(p.min_sale_qty))
    .bind(decimal(p.max_sale_qty))
    .bind(decimal(p.qty_increments))
    .bind(p.is_qty_decimal)
    .execute(conn)
    .await?;
    Ok(())
}

async fn effective_product(
    conn: &mut PgConnection,
    sku: &Sku,
) -> Result<EffectiveProductSettings, RepoError> {
    let global = load_global(&mut *conn, false).await?;
    let stored = load_product(&mut *conn, sku, false)
        .await?
        .unwrap_or_default();
    Ok(stored.resolve(&global))
}

async fn load_item(
    conn: &mut PgConnection,
    source: &SourceCode,
    sku: &Sku,
    for_update: bool,
) -> Result<SourceItem, RepoError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT {SOURCE_ITEM_COLUMNS} FROM source_item WHERE source_code = $1 AND sku = $2{lock}"
    );
    sqlx::query_as::<_, SourceItemRow>(AssertSqlSafe(sql))
        .bind(source.as_str())
        .bind(sku.as_str())
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| item_not_found(source, sku))?
        .try_into()
}

async fn save_item_settings(conn: &mut PgConnection, item: &SourceItem) -> Result<(), RepoError> {
    let s = &item.settings;
    sqlx::query(
        "UPDATE source_item SET backorders = $3, out_of_stock_threshold = $4, \
         notify_stock_qty = $5, restock_date = $6, restock_qty = $7, updated_at = now() \
         WHERE source_code = $1 AND sku = $2",
    )
    .bind(item.source.as_str())
    .bind(item.sku.as_str())
    .bind(s.backorders.map(backorder_mode_name))
    .bind(decimal(s.out_of_stock_threshold))
    .bind(decimal(s.notify_stock_qty))
    .bind(s.restock_date)
    .bind(decimal(s.restock_qty))
    .execute(conn)
    .await?;
    Ok(())
}

fn decimal(value: Option<Quantity>) -> Option<Decimal> {
    value.map(Quantity::get)
}

fn invalid_settings(errors: Vec<(SettingField, ValidationError)>) -> RepoError {
    RepoError::Invalid(
        errors
            .into_iter()
            .map(|(field, error)| FieldViolation::new(format!("set.{}", field.name()), error))
            .collect(),
    )
}

fn sku_not_found(sku: &Sku) -> RepoError {
    RepoError::NotFound {
        kind: "sku",
        name: sku.to_string(),
    }
}
