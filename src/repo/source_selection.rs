//! Source selection and the low-stock report: reads that help fulfilment decide.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::{
    Repo, RepoError,
    availability::load_products,
    orders::load_order_lines,
    rows::{backorder_mode, quantity, sku as parse_sku, source_code},
    settings::load_global,
};
use crate::domain::{
    OrderId, ProductSettings, Sku, SourceCode, SourceItemSettings, StockId,
    plan::room,
    source::GeoPoint,
    source_selection::{Algorithm, Candidate, Suggestion, suggest},
};

#[derive(sqlx::FromRow)]
struct CandidateRow {
    source_code: String,
    sku: String,
    quantity: Decimal,
    backorders: Option<String>,
    out_of_stock_threshold: Option<Decimal>,
    priority: i32,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// A source item below its effective notify quantity.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LowStockItem {
    /// The source.
    pub source_code: String,
    /// The product.
    pub sku: String,
    /// What it holds.
    pub quantity: Decimal,
    /// The effective notify-below quantity.
    pub notify_stock_qty: Decimal,
}

impl Repo {
    /// The open quantities of an order's lines, and its stock; NOT_FOUND when unknown.
    pub async fn open_lines(
        &self,
        order_id: &OrderId,
    ) -> Result<(StockId, Vec<(Sku, Decimal)>), RepoError> {
        let order = self.order(order_id).await?;
        let mut conn = self.pool.acquire().await?;
        let lines = load_order_lines(&mut conn, order_id)
            .await?
            .into_iter()
            .filter(|l| l.open() > Decimal::ZERO)
            .map(|l| {
                let open = l.open();
                (l.sku, open)
            })
            .collect();
        Ok((order.stock, lines))
    }

    /// Suggests which sources of `stock` should ship `lines` (DOMAIN §5), from the sources in
    /// `only` when the caller is limited to some (DOMAIN §7): the plan is theirs alone.
    #[tracing::instrument(skip_all, fields(stock = stock.get(), lines = lines.len()))]
    pub async fn suggest_sources(
        &self,
        stock: StockId,
        lines: &[(Sku, Decimal)],
        algorithm: Algorithm,
        destination: Option<GeoPoint>,
        only: Option<&[String]>,
    ) -> Result<Suggestion, RepoError> {
        let skus: Vec<&str> = lines.iter().map(|(s, _)| s.as_str()).collect();
        let mut conn = self.pool.acquire().await?;
        let global = load_global(&mut *conn, false).await?;
        let products = load_products(&mut conn, &skus).await?;
        let rows = sqlx::query_as::<_, CandidateRow>(
            "SELECT si.source_code, si.sku, si.quantity, si.backorders, si.out_of_stock_threshold, \
             l.priority, s.latitude, s.longitude \
             FROM source_item si \
             JOIN stock_source_link l ON l.source_code = si.source_code AND l.stock_id = $1 \
             JOIN source s ON s.code = si.source_code AND s.enabled \
             WHERE si.sku = ANY($2) AND si.status = 'IN_STOCK' \
               AND ($3::text[] IS NULL OR si.source_code = ANY($3))",
        )
        .bind(stock.get())
        .bind(&skus)
        .bind(only)
        .fetch_all(&mut *conn)
        .await?;
        let no_settings = ProductSettings::default();
        let unmanaged: BTreeSet<Sku> = lines
            .iter()
            .map(|(sku, _)| sku)
            .filter(|sku| {
                let product = products.get(sku.as_str()).unwrap_or(&no_settings);
                !product.resolve(&global).manage_stock
            })
            .cloned()
            .collect();
        let mut candidates: BTreeMap<Sku, Vec<Candidate>> = BTreeMap::new();
        for row in rows {
            let sku = parse_sku(&row.sku)?;
            let product = products
                .get(row.sku.as_str())
                .unwrap_or(&no_settings)
                .resolve(&global);
            let settings = SourceItemSettings {
                backorders: row.backorders.as_deref().map(backorder_mode).transpose()?,
                out_of_stock_threshold: row.out_of_stock_threshold.map(quantity).transpose()?,
                ..SourceItemSettings::default()
            }
            .resolve(&product);
            let location = match (row.latitude, row.longitude) {
                (Some(lat), Some(lon)) => GeoPoint::new(lat, lon).ok(),
                _ => None,
            };
            candidates.entry(sku).or_default().push(Candidate {
                source: source_code(&row.source_code)?,
                priority: u32::try_from(row.priority).unwrap_or(u32::MAX),
                location,
                on_hand: row.quantity,
                room: room(
                    settings.backorders,
                    settings.out_of_stock_threshold.get(),
                    row.quantity,
                ),
            });
        }
        Ok(suggest(
            algorithm,
            lines,
            &candidates,
            &unmanaged,
            destination,
        ))
    }

    /// Source items below their effective notify quantity, by (source, SKU), after `after`.
    #[tracing::instrument(skip_all)]
    pub async fn low_stock(
        &self,
        source: Option<&SourceCode>,
        after: Option<(String, String)>,
        limit: u32,
        only: Option<&[String]>,
    ) -> Result<Vec<LowStockItem>, RepoError> {
        let (after_source, after_sku) = after.unwrap_or_default();
        let (after_source, after_sku) = (after_source.as_str(), after_sku.as_str());
        self.read_anywhere(0, |pool| async move {
            Ok(sqlx::query_as::<_, LowStockItem>(
                "SELECT si.source_code, si.sku, si.quantity, \
                   COALESCE(si.notify_stock_qty, p.notify_stock_qty, g.notify_stock_qty) AS notify_stock_qty \
                 FROM source_item si \
                 CROSS JOIN global_settings g \
                 LEFT JOIN product_settings p ON p.sku = si.sku \
                 WHERE ($1::text IS NULL OR si.source_code = $1) \
                   AND ($5::text[] IS NULL OR si.source_code = ANY($5)) \
                   AND (si.source_code, si.sku) > ($2, $3) \
                   AND COALESCE(p.manage_stock, g.manage_stock) \
                   AND si.quantity < COALESCE(si.notify_stock_qty, p.notify_stock_qty, g.notify_stock_qty) \
                 ORDER BY si.source_code, si.sku LIMIT $4",
            )
            .bind(source.map(SourceCode::as_str))
            .bind(after_source)
            .bind(after_sku)
            .bind(i64::from(limit))
            .bind(only)
            .fetch_all(&pool)
            .await?)
        })
        .await
    }
}
