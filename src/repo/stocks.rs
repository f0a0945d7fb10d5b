//! Stocks, their source links and the sales channels they serve.

use std::collections::HashMap;

use sqlx::{PgConnection, PgExecutor};

use super::{
    Repo, RepoError, changes::Change, retry_conflicts, rows::source_code,
    sources::reject_unknown_sources,
};
use crate::domain::{
    SalesChannel, StockId,
    stock::{SourceLink, Stock},
};

#[derive(sqlx::FromRow)]
struct StockRow {
    id: i32,
    name: String,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    stock_id: i32,
    source_code: String,
    priority: i32,
}

#[derive(sqlx::FromRow)]
struct ChannelRow {
    stock_id: i32,
    r#type: String,
    code: String,
}

impl Repo {
    /// Creates an empty stock with the next free id.
    #[tracing::instrument(skip_all)]
    pub async fn create_stock(&self, name: &str) -> Result<Stock, RepoError> {
        let row = sqlx::query_as::<_, StockRow>(
            "INSERT INTO stock (name) VALUES ($1) RETURNING id, name",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(Stock {
            id: stock_id(row.id)?,
            name: row.name,
            links: Vec::new(),
            sales_channels: Vec::new(),
        })
    }

    /// Reads a stock with its links and channels.
    #[tracing::instrument(skip_all, fields(stock = id.get()))]
    pub async fn get_stock(&self, id: StockId) -> Result<Stock, RepoError> {
        let mut conn = self.pool.acquire().await?;
        load_stock(&mut conn, id).await
    }

    /// Lists stocks by id, after the given one.
    #[tracing::instrument(skip_all)]
    pub async fn list_stocks(
        &self,
        after: Option<i32>,
        limit: u32,
    ) -> Result<Vec<Stock>, RepoError> {
        self.read_anywhere(0, |pool| async move {
            let mut conn = pool.acquire().await?;
            let rows = sqlx::query_as::<_, StockRow>(
                "SELECT id, name FROM stock WHERE $1::int IS NULL OR id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
            assemble(&mut conn, rows).await
        })
        .await
    }

    /// Links sources or changes their priorities; every source must exist.
    #[tracing::instrument(skip_all, fields(stock = id.get(), links = links.len()))]
    pub async fn link_sources(
        &self,
        id: StockId,
        links: &[SourceLink],
    ) -> Result<Stock, RepoError> {
        let mut sorted: Vec<&SourceLink> = links.iter().collect();
        // A fixed order keeps concurrent link requests from deadlocking on each other's rows.
        sorted.sort_by(|a, b| a.source.cmp(&b.source));
        let codes: Vec<&str> = sorted.iter().map(|l| l.source.as_str()).collect();
        let priorities: Vec<i32> = sorted
            .iter()
            .map(|l| i32::try_from(l.priority).unwrap_or(i32::MAX))
            .collect();
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            lock_stock(&mut tx, id).await?;
            let requested: Vec<&str> = links.iter().map(|l| l.source.as_str()).collect();
            reject_unknown_sources(&mut tx, &requested, |i| format!("links[{i}].source_code"))
                .await?;
            lock_sources(&mut tx, &codes).await?;
            sqlx::query(
                "INSERT INTO stock_source_link (stock_id, source_code, priority) \
                 SELECT $1, c, p FROM unnest($2::text[], $3::int[]) AS t(c, p) \
                 ON CONFLICT (stock_id, source_code) DO UPDATE SET priority = EXCLUDED.priority",
            )
            .bind(id.get())
            .bind(&codes)
            .bind(&priorities)
            .execute(&mut *tx)
            .await?;
            let stock = load_stock(&mut tx, id).await?;
            tx.commit().await?;
            self.changed(Change::Everything);
            Ok(stock)
        })
        .await
    }

    /// Removes links; a source that is not linked is left alone, so retries are harmless.
    #[tracing::instrument(skip_all, fields(stock = id.get(), sources = codes.len()))]
    pub async fn unlink_sources(&self, id: StockId, codes: &[&str]) -> Result<Stock, RepoError> {
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            lock_stock(&mut tx, id).await?;
            reject_unknown_sources(&mut tx, codes, |i| format!("source_codes[{i}]")).await?;
            lock_sources(&mut tx, codes).await?;
            sqlx::query(
                "DELETE FROM stock_source_link WHERE stock_id = $1 AND source_code = ANY($2)",
            )
            .bind(id.get())
            .bind(codes)
            .execute(&mut *tx)
            .await?;
            let stock = load_stock(&mut tx, id).await?;
            tx.commit().await?;
            self.changed(Change::Everything);
            Ok(stock)
        })
        .await
    }

    /// Points each channel at this stock, moving it from any other.
    #[tracing::instrument(skip_all, fields(stock = id.get(), channels = channels.len()))]
    pub async fn assign_sales_channels(
        &self,
        id: StockId,
        channels: &[SalesChannel],
    ) -> Result<Stock, RepoError> {
        let mut sorted: Vec<&SalesChannel> = channels.iter().collect();
        sorted.sort_by(|a, b| (a.kind(), a.code()).cmp(&(b.kind(), b.code())));
        let kinds: Vec<&str> = sorted.iter().map(|c| c.kind()).collect();
        let codes: Vec<&str> = sorted.iter().map(|c| c.code()).collect();
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            lock_stock(&mut tx, id).await?;
            sqlx::query(
                "INSERT INTO sales_channel (type, code, stock_id) \
                 SELECT t, c, $1 FROM unnest($2::text[], $3::text[]) AS x(t, c) \
                 ON CONFLICT (type, code) DO UPDATE SET stock_id = EXCLUDED.stock_id",
            )
            .bind(id.get())
            .bind(&kinds)
            .bind(&codes)
            .execute(&mut *tx)
            .await?;
            let stock = load_stock(&mut tx, id).await?;
            tx.commit().await?;
            self.changed(Change::Everything);
            Ok(stock)
        })
        .await
    }

    /// The stock a sales channel sells from.
    #[tracing::instrument(skip_all, fields(channel = %channel))]
    pub async fn stock_of_channel(&self, channel: &SalesChannel) -> Result<StockId, RepoError> {
        let id = sqlx::query_scalar::<_, i32>(
            "SELECT stock_id FROM sales_channel WHERE type = $1 AND code = $2",
        )
        .bind(channel.kind())
        .bind(channel.code())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| channel_not_found(channel))?;
        stock_id(id)
    }

    /// Checks that a stock exists.
    #[tracing::instrument(skip_all, fields(stock = id.get()))]
    pub async fn ensure_stock(&self, id: StockId) -> Result<StockId, RepoError> {
        let found = sqlx::query_scalar::<_, i32>("SELECT id FROM stock WHERE id = $1")
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await?;
        found.map(|_| id).ok_or_else(|| stock_not_found(id))
    }
}

/// Serialises changes to one stock's links and channels. `NO KEY UPDATE`, not `UPDATE`: order
/// batches hold totals rows while their foreign keys take a key-share lock on the stock, and a
/// link's trigger rewrites totals rows (migration 0005), so the stronger lock could deadlock.
async fn lock_stock(conn: &mut PgConnection, id: StockId) -> Result<(), RepoError> {
    sqlx::query_scalar::<_, i32>("SELECT id FROM stock WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id.get())
        .fetch_optional(conn)
        .await?
        .map(|_| ())
        .ok_or_else(|| stock_not_found(id))
}

/// Takes the sources' rows exclusively, in code order, before a link changes: it waits for
/// writers of their items and holds new ones off, so the link's copies of source items miss
/// nothing (migration 0006), and two link calls never deadlock upgrading a shared lock.
async fn lock_sources(conn: &mut PgConnection, codes: &[&str]) -> Result<(), RepoError> {
    sqlx::query("SELECT 1 FROM source WHERE code = ANY($1) ORDER BY code FOR UPDATE")
        .bind(codes)
        .execute(conn)
        .await?;
    Ok(())
}

async fn load_stock(conn: &mut PgConnection, id: StockId) -> Result<Stock, RepoError> {
    let row = sqlx::query_as::<_, StockRow>("SELECT id, name FROM stock WHERE id = $1")
        .bind(id.get())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| stock_not_found(id))?;
    let mut stocks = assemble(conn, vec![row]).await?;
    stocks.pop().ok_or_else(|| stock_not_found(id))
}

/// Adds links and channels to stock rows, with two queries whatever the number of stocks.
async fn assemble(conn: &mut PgConnection, rows: Vec<StockRow>) -> Result<Vec<Stock>, RepoError> {
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let links = sqlx::query_as::<_, LinkRow>(
        "SELECT stock_id, source_code, priority FROM stock_source_link WHERE stock_id = ANY($1) \
         ORDER BY stock_id, priority, source_code",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let channels = channels_of(&mut *conn, &ids).await?;
    let mut by_stock: HashMap<i32, Vec<SourceLink>> = HashMap::new();
    for link in links {
        by_stock.entry(link.stock_id).or_default().push(SourceLink {
            source: source_code(&link.source_code)?,
            priority: u32::try_from(link.priority)
                .map_err(|_| RepoError::Corrupt(format!("link priority {}", link.priority)))?,
        });
    }
    let mut channels_by_stock: HashMap<i32, Vec<SalesChannel>> = HashMap::new();
    for channel in channels {
        let parsed = SalesChannel::parse(&channel.r#type, &channel.code).map_err(|_| {
            RepoError::Corrupt(format!("sales channel {}/{}", channel.r#type, channel.code))
        })?;
        channels_by_stock
            .entry(channel.stock_id)
            .or_default()
            .push(parsed);
    }
    rows.into_iter()
        .map(|row| {
            Ok(Stock {
                id: stock_id(row.id)?,
                name: row.name,
                links: by_stock.remove(&row.id).unwrap_or_default(),
                sales_channels: channels_by_stock.remove(&row.id).unwrap_or_default(),
            })
        })
        .collect()
}

async fn channels_of<'e>(
    db: impl PgExecutor<'e>,
    ids: &[i32],
) -> Result<Vec<ChannelRow>, RepoError> {
    Ok(sqlx::query_as::<_, ChannelRow>(
        "SELECT stock_id, type, code FROM sales_channel WHERE stock_id = ANY($1) ORDER BY type, code",
    )
    .bind(ids)
    .fetch_all(db)
    .await?)
}

/// A stored stock id, checked.
pub(super) fn stock_id(id: i32) -> Result<StockId, RepoError> {
    StockId::new(i64::from(id)).map_err(|_| RepoError::Corrupt(format!("stock id {id}")))
}

/// NOT_FOUND for a stock.
pub(super) fn stock_not_found(id: StockId) -> RepoError {
    RepoError::NotFound {
        kind: "stock",
        name: id.get().to_string(),
    }
}

/// NOT_FOUND for a sales channel.
pub(super) fn channel_not_found(channel: &SalesChannel) -> RepoError {
    RepoError::NotFound {
        kind: "sales channel",
        name: channel.to_string(),
    }
}
