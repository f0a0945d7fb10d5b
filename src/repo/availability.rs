//! Availability: load what one stock knows about a batch of SKUs, let the domain answer.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, PgConnection};

use super::{
    Repo, RepoError,
    rows::{PRODUCT_SETTINGS_COLUMNS, ProductSettingsRow, SourceItemRow},
    settings::load_global,
};
use crate::domain::{
    GlobalSettings, LinkedSourceItem, ProductSettings, Quantity, QuantityCheck, SalableQuantity,
    SalesChannel, Sku, StockId, StockSku, check_quantity, salable_quantity,
};

/// Which stock a question is about.
#[derive(Debug, Clone)]
pub enum StockScope {
    /// A stock by id.
    Stock(StockId),
    /// The stock a sales channel sells from.
    Channel(SalesChannel),
}

/// Everything one stock knows about a batch of SKUs, read in one go.
#[derive(Debug, Default)]
struct Snapshot {
    global: GlobalSettings,
    products: HashMap<String, ProductSettings>,
    items: HashMap<String, Vec<LinkedSourceItem>>,
    reserved: HashMap<String, Decimal>,
}

#[derive(sqlx::FromRow)]
struct LinkedItemRow {
    #[sqlx(flatten)]
    item: SourceItemRow,
    priority: i32,
    source_enabled: bool,
}

impl Snapshot {
    fn view<'a>(&'a self, sku: &'a Sku, no_settings: &'a ProductSettings) -> StockSku<'a> {
        StockSku {
            sku,
            global: &self.global,
            product: self.products.get(sku.as_str()).unwrap_or(no_settings),
            items: self.items.get(sku.as_str()).map_or(&[], Vec::as_slice),
            reserved: self.reserved.get(sku.as_str()).copied().unwrap_or_default(),
        }
    }
}

impl Repo {
    /// The stock id behind a scope; NOT_FOUND for an unknown stock or channel.
    pub async fn resolve_stock(&self, scope: &StockScope) -> Result<StockId, RepoError> {
        match scope {
            StockScope::Stock(id) => self.ensure_stock(*id).await,
            StockScope::Channel(channel) => self.stock_of_channel(channel).await,
        }
    }

    /// Salable quantity of each SKU in one stock, in request order.
    #[tracing::instrument(skip_all, fields(stock = stock.get(), skus = skus.len()))]
    pub async fn salable_quantities(
        &self,
        stock: StockId,
        skus: &[Sku],
    ) -> Result<Vec<SalableQuantity>, RepoError> {
        let snapshot = self.snapshot(stock, skus).await?;
        let no_settings = ProductSettings::default();
        Ok(skus
            .iter()
            .map(|sku| salable_quantity(&snapshot.view(sku, &no_settings)))
            .collect())
    }

    /// Whether each line can be sold in one stock, in request order.
    #[tracing::instrument(skip_all, fields(stock = stock.get(), lines = lines.len()))]
    pub async fn check_quantities(
        &self,
        stock: StockId,
        lines: &[(Sku, Quantity)],
    ) -> Result<Vec<QuantityCheck>, RepoError> {
        let skus: Vec<Sku> = lines.iter().map(|(sku, _)| sku.clone()).collect();
        let snapshot = self.snapshot(stock, &skus).await?;
        let no_settings = ProductSettings::default();
        Ok(lines
            .iter()
            .map(|(sku, qty)| check_quantity(&snapshot.view(sku, &no_settings), *qty))
            .collect())
    }

    async fn snapshot(&self, stock: StockId, skus: &[Sku]) -> Result<Snapshot, RepoError> {
        let names: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let mut conn = self.pool.acquire().await?;
        Ok(Snapshot {
            global: load_global(&mut *conn, false).await?,
            products: load_products(&mut conn, &names).await?,
            items: load_linked_items(&mut conn, stock, &names).await?,
            reserved: HashMap::new(),
        })
    }
}

async fn load_products(
    conn: &mut PgConnection,
    skus: &[&str],
) -> Result<HashMap<String, ProductSettings>, RepoError> {
    let sql =
        format!("SELECT {PRODUCT_SETTINGS_COLUMNS} FROM product_settings WHERE sku = ANY($1)");
    let rows = sqlx::query_as::<_, ProductSettingsRow>(AssertSqlSafe(sql))
        .bind(skus)
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            row.into_domain()
                .map(|(sku, s)| (sku.as_str().to_owned(), s))
        })
        .collect()
}

async fn load_linked_items(
    conn: &mut PgConnection,
    stock: StockId,
    skus: &[&str],
) -> Result<HashMap<String, Vec<LinkedSourceItem>>, RepoError> {
    let rows = sqlx::query_as::<_, LinkedItemRow>(
        "SELECT si.source_code, si.sku, si.quantity, si.status, si.backorders, \
         si.out_of_stock_threshold, si.notify_stock_qty, si.restock_date, si.restock_qty, \
         l.priority, s.enabled AS source_enabled \
         FROM source_item si \
         JOIN stock_source_link l ON l.source_code = si.source_code AND l.stock_id = $1 \
         JOIN source s ON s.code = si.source_code \
         WHERE si.sku = ANY($2)",
    )
    .bind(stock.get())
    .bind(skus)
    .fetch_all(conn)
    .await?;
    let mut items: HashMap<String, Vec<LinkedSourceItem>> = HashMap::new();
    for row in rows {
        let priority = u32::try_from(row.priority)
            .map_err(|_| RepoError::Corrupt(format!("link priority {}", row.priority)))?;
        let item = crate::domain::SourceItem::try_from(row.item)?;
        items
            .entry(item.sku.as_str().to_owned())
            .or_default()
            .push(LinkedSourceItem {
                item,
                priority,
                source_enabled: row.source_enabled,
            });
    }
    Ok(items)
}
