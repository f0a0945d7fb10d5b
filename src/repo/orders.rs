//! Orders: place (all lines or none, never overselling), cancel, read. Every write is safe to
//! retry: the order id, or the cancellation id, is the idempotency key, and the stored answer of
//! the first request is the answer to every identical retry.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::{
    Repo, RepoError,
    availability::ReservedLine,
    changes::Change,
    ledger::{self, Entry, Event},
    order_batch::Job,
    retry_conflicts,
    rows::sku,
};
use crate::domain::{
    CancellationId, CartId, LineNotices, OrderId, OrderLine, Quantity, Restock, SalesChannel, Sku,
    StockId,
    order::{cancel_quantities, fingerprint, is_complete},
};

/// What checkout asks for.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// Idempotency key.
    pub order_id: OrderId,
    /// Where the order was placed; decides the stock.
    pub channel: SalesChannel,
    /// The cart whose holds the order consumes.
    pub cart: Option<CartId>,
    /// SKU and quantity, each SKU once.
    pub lines: Vec<(Sku, Quantity)>,
}

/// The answer to PlaceOrder.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOrder {
    /// The order.
    pub order_id: OrderId,
    /// The stock it reserved in.
    pub stock: StockId,
    /// In request order.
    pub lines: Vec<ReservedLine>,
    /// True when an identical earlier request had already placed it.
    pub replayed: bool,
}

/// An order as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderView {
    /// The order.
    pub order_id: OrderId,
    /// Its stock.
    pub stock: StockId,
    /// Where it was placed.
    pub channel: SalesChannel,
    /// True once every line is shipped or canceled.
    pub closed: bool,
    /// Its lines in request order.
    pub lines: Vec<OrderLine>,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
}

/// What fulfilment or the storefront cancels.
#[derive(Debug, Clone)]
pub struct CancelRequest {
    /// The order.
    pub order_id: OrderId,
    /// Idempotency key of this cancellation.
    pub cancellation_id: CancellationId,
    /// Quantities per SKU; empty cancels everything still open.
    pub lines: Vec<(Sku, Quantity)>,
}

/// The answer to CancelOrder.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    /// What this cancellation canceled, per SKU.
    pub canceled: Vec<(Sku, Decimal)>,
    /// True when an identical earlier request had already done it.
    pub replayed: bool,
    /// The order afterwards.
    pub order: OrderView,
}

/// One ledger row, for reading.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LedgerRow {
    /// Position in the ledger.
    pub id: i64,
    /// The stock.
    pub stock_id: i32,
    /// The product.
    pub sku: String,
    /// Signed quantity.
    pub quantity: Decimal,
    /// ORDER_PLACED, ORDER_CANCELED, …
    pub event: String,
    /// The order, cancellation or shipment behind it.
    pub object_id: String,
    /// When it was appended.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OrderLineRow {
    sku: String,
    ordered: Decimal,
    backordered: Decimal,
    shipped: Decimal,
    canceled: Decimal,
    returned: Decimal,
    reserved: bool,
    backorder_notice: bool,
    restock_date: Option<NaiveDate>,
    restock_qty: Option<Decimal>,
    only_x_left: Option<Decimal>,
}

impl OrderLineRow {
    fn line(&self) -> Result<OrderLine, RepoError> {
        Ok(OrderLine {
            sku: sku(&self.sku)?,
            ordered: self.ordered,
            backordered: self.backordered,
            shipped: self.shipped,
            canceled: self.canceled,
            returned: self.returned,
            reserved: self.reserved,
        })
    }

    fn placed(&self) -> Result<ReservedLine, RepoError> {
        let facts = LineNotices {
            backorder_notice: self.backorder_notice,
            restock: self.restock_date.map(|date| Restock {
                date,
                qty: self.restock_qty,
            }),
            only_x_left: self.only_x_left,
        };
        Ok(ReservedLine {
            sku: sku(&self.sku)?,
            quantity: self.ordered,
            backordered: self.backordered,
            notices: facts.messages(self.backordered),
        })
    }
}

const LINE_COLUMNS: &str = "sku, ordered, backordered, shipped, canceled, returned, reserved, \
     backorder_notice, restock_date, restock_qty, only_x_left";

impl Repo {
    /// Reserves every line of an order in its channel's stock, or refuses naming every failing
    /// line. Availability is checked and reserved under the lock of each SKU's total, so
    /// concurrent orders (on any number of replicas) never sell more than is salable.
    pub async fn place_order(&self, req: &OrderRequest) -> Result<PlacedOrder, RepoError> {
        self.place_order_within(req, None).await
    }

    /// Places an order for a caller that waits at most `time_left`: refused at once with
    /// [`RepoError::Overloaded`], and not placed, when the orders already queued have waited half
    /// of that (an overloaded server then serves the callers it can answer in time).
    #[tracing::instrument(
        name = "place_order",
        skip_all,
        fields(order = %req.order_id, lines = req.lines.len())
    )]
    pub async fn place_order_within(
        &self,
        req: &OrderRequest,
        time_left: Option<std::time::Duration>,
    ) -> Result<PlacedOrder, RepoError> {
        let cart = req.cart.as_ref().map_or("", CartId::as_str);
        let print = fingerprint(
            &[req.channel.kind(), req.channel.code(), cart],
            req.lines.iter().map(|(s, q)| (s, *q)),
        );
        let (reply, answer) = tokio::sync::oneshot::channel();
        let now = std::time::Instant::now();
        let job = Job {
            request: req.clone(),
            print,
            reply,
            queued_at: now,
            deadline: time_left.and_then(|left| now.checked_add(left)),
        };
        let alone = match &self.orders {
            Some(batcher) => batcher.submit(job).await.err(),
            None => Some(job),
        };
        if let Some(job) = alone {
            // Without a dispatcher an order is a batch of one: there is one write path.
            self.run_batch(vec![job]).await;
        }
        answer.await.unwrap_or_else(|_| Err(dispatcher_gone()))
    }

    pub(super) async fn replay_order(
        &self,
        order_id: &OrderId,
        print: &str,
    ) -> Result<PlacedOrder, RepoError> {
        let (stored, stock_id): (String, i32) =
            sqlx::query_as("SELECT fingerprint, stock_id FROM sales_order WHERE order_id = $1")
                .bind(order_id.as_str())
                .fetch_one(&self.pool)
                .await?;
        if stored != print {
            return Err(RepoError::AlreadyExists {
                kind: "order",
                name: order_id.to_string(),
            });
        }
        let mut conn = self.pool.acquire().await?;
        let lines = load_lines(&mut conn, order_id)
            .await?
            .iter()
            .map(OrderLineRow::placed)
            .collect::<Result<_, _>>()?;
        Ok(PlacedOrder {
            order_id: order_id.clone(),
            stock: stock_id_of(stock_id)?,
            lines,
            replayed: true,
        })
    }

    /// Cancels the open rest of an order, or the given quantities, compensating the ledger.
    #[tracing::instrument(skip_all, fields(order = %req.order_id, cancellation = %req.cancellation_id))]
    pub async fn cancel_order(&self, req: &CancelRequest) -> Result<Cancellation, RepoError> {
        let print = fingerprint(&[], req.lines.iter().map(|(s, q)| (s, *q)));
        retry_conflicts(|| async {
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            let stock = lock_order(&mut tx, &req.order_id).await?;
            let inserted = sqlx::query(
                "INSERT INTO order_cancellation (order_id, cancellation_id, fingerprint, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(req.order_id.as_str())
            .bind(req.cancellation_id.as_str())
            .bind(&print)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                let canceled = replay_cancellation(&mut tx, req, &print).await?;
                tx.rollback().await?;
                let order = self.order(&req.order_id).await?;
                return Ok(Cancellation {
                    canceled,
                    replayed: true,
                    order,
                });
            }
            let canceled = apply_cancellation(&mut tx, stock, req, now).await?;
            tx.commit().await?;
            self.changed(Change::skus(canceled.iter().map(|(sku, _)| sku)));
            let order = self.order(&req.order_id).await?;
            Ok(Cancellation {
                canceled,
                replayed: false,
                order,
            })
        })
        .await
    }

    /// An order and its lines; NOT_FOUND when unknown.
    #[tracing::instrument(skip_all, fields(order = %order_id))]
    pub async fn order(&self, order_id: &OrderId) -> Result<OrderView, RepoError> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<(i32, String, String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT stock_id, channel_type, channel_code, status, created_at \
             FROM sales_order WHERE order_id = $1",
        )
        .bind(order_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let (stock_id, kind, code, status, created_at) =
            row.ok_or_else(|| order_not_found(order_id))?;
        let lines = load_lines(&mut conn, order_id)
            .await?
            .iter()
            .map(OrderLineRow::line)
            .collect::<Result<_, _>>()?;
        Ok(OrderView {
            order_id: order_id.clone(),
            stock: stock_id_of(stock_id)?,
            channel: SalesChannel::parse(&kind, &code)
                .map_err(|_| RepoError::Corrupt(format!("sales channel {kind}/{code}")))?,
            closed: status == "CLOSED",
            lines,
            created_at,
        })
    }

    /// Ledger rows of an order after `after`, oldest first; NOT_FOUND for an unknown order.
    #[tracing::instrument(skip_all, fields(order = %order_id))]
    pub async fn order_reservations(
        &self,
        order_id: &OrderId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LedgerRow>, RepoError> {
        self.read_anywhere(0, |pool| async move {
            let known: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM sales_order WHERE order_id = $1")
                    .bind(order_id.as_str())
                    .fetch_optional(&pool)
                    .await?;
            known.ok_or_else(|| order_not_found(order_id))?;
            Ok(sqlx::query_as::<_, LedgerRow>(
                "SELECT id, stock_id, sku, quantity, event, object_id, created_at FROM reservation \
                 WHERE order_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(order_id.as_str())
            .bind(after.unwrap_or(0))
            .bind(i64::from(limit))
            .fetch_all(&pool)
            .await?)
        })
        .await
    }
}

/// Locks an order's row so its lines change one request at a time; NOT_FOUND when unknown.
pub(super) async fn lock_order(
    conn: &mut PgConnection,
    order_id: &OrderId,
) -> Result<StockId, RepoError> {
    let stock: Option<i32> =
        sqlx::query_scalar("SELECT stock_id FROM sales_order WHERE order_id = $1 FOR UPDATE")
            .bind(order_id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    stock_id_of(stock.ok_or_else(|| order_not_found(order_id))?)
}

/// An order's lines as the domain sees them, in request order.
pub(super) async fn load_order_lines(
    conn: &mut PgConnection,
    order_id: &OrderId,
) -> Result<Vec<OrderLine>, RepoError> {
    load_lines(conn, order_id)
        .await?
        .iter()
        .map(OrderLineRow::line)
        .collect()
}

async fn apply_cancellation(
    conn: &mut PgConnection,
    stock: StockId,
    req: &CancelRequest,
    now: DateTime<Utc>,
) -> Result<Vec<(Sku, Decimal)>, RepoError> {
    let mut lines = load_order_lines(conn, &req.order_id).await?;
    let canceled = cancel_quantities(&lines, &req.lines).map_err(RepoError::Refused)?;
    let entries: Vec<Entry<'_>> = canceled
        .iter()
        .filter(|(sku, _)| lines.iter().any(|l| &l.sku == sku && l.reserved))
        .map(|(sku, qty)| Entry {
            sku: sku.as_str(),
            quantity: *qty,
        })
        .collect();
    let skus: Vec<&str> = entries.iter().map(|e| e.sku).collect();
    if !skus.is_empty() {
        ledger::lock_totals(conn, stock, &skus).await?;
    }
    let (order_id, cancellation_id) = (req.order_id.as_str(), req.cancellation_id.as_str());
    ledger::append(
        conn,
        stock,
        Event::OrderCanceled,
        order_id,
        cancellation_id,
        &entries,
        now,
    )
    .await?;
    let all_skus: Vec<&str> = canceled.iter().map(|(s, _)| s.as_str()).collect();
    let quantities: Vec<Decimal> = canceled.iter().map(|(_, q)| *q).collect();
    sqlx::query(
        "UPDATE order_line l SET canceled = l.canceled + c.q \
         FROM unnest($2::text[], $3::numeric[]) AS c(s, q) WHERE l.order_id = $1 AND l.sku = c.s",
    )
    .bind(order_id)
    .bind(&all_skus)
    .bind(&quantities)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO order_cancellation_line (order_id, cancellation_id, sku, quantity) \
         SELECT $1, $2, s, q FROM unnest($3::text[], $4::numeric[]) AS c(s, q)",
    )
    .bind(order_id)
    .bind(cancellation_id)
    .bind(&all_skus)
    .bind(&quantities)
    .execute(&mut *conn)
    .await?;
    for line in &mut lines {
        if let Some((_, qty)) = canceled.iter().find(|(s, _)| s == &line.sku) {
            line.canceled += *qty;
        }
    }
    close_if_complete(conn, &req.order_id, &lines, now).await?;
    Ok(canceled)
}

/// Marks an order closed once every line is shipped or canceled; its ledger rows then net to
/// zero per SKU and compaction may remove them.
pub(super) async fn close_if_complete(
    conn: &mut PgConnection,
    order_id: &OrderId,
    lines: &[OrderLine],
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    if is_complete(lines) {
        sqlx::query(
            "UPDATE sales_order SET status = 'CLOSED', closed_at = $2 \
             WHERE order_id = $1 AND status = 'OPEN'",
        )
        .bind(order_id.as_str())
        .bind(now)
        .execute(conn)
        .await?;
    }
    Ok(())
}

async fn replay_cancellation(
    conn: &mut PgConnection,
    req: &CancelRequest,
    print: &str,
) -> Result<Vec<(Sku, Decimal)>, RepoError> {
    let stored: String = sqlx::query_scalar(
        "SELECT fingerprint FROM order_cancellation WHERE order_id = $1 AND cancellation_id = $2",
    )
    .bind(req.order_id.as_str())
    .bind(req.cancellation_id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    if stored != print {
        return Err(RepoError::AlreadyExists {
            kind: "cancellation",
            name: format!("{}/{}", req.order_id, req.cancellation_id),
        });
    }
    let rows: Vec<(String, Decimal)> = sqlx::query_as(
        "SELECT sku, quantity FROM order_cancellation_line \
         WHERE order_id = $1 AND cancellation_id = $2 ORDER BY sku",
    )
    .bind(req.order_id.as_str())
    .bind(req.cancellation_id.as_str())
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(|(s, q)| Ok((sku(&s)?, q))).collect()
}

async fn load_lines(
    conn: &mut PgConnection,
    order_id: &OrderId,
) -> Result<Vec<OrderLineRow>, RepoError> {
    let sql =
        format!("SELECT {LINE_COLUMNS} FROM order_line WHERE order_id = $1 ORDER BY position");
    Ok(sqlx::query_as::<_, OrderLineRow>(sqlx::AssertSqlSafe(sql))
        .bind(order_id.as_str())
        .fetch_all(conn)
        .await?)
}

fn stock_id_of(id: i32) -> Result<StockId, RepoError> {
    StockId::new(i64::from(id)).map_err(|_| RepoError::Corrupt(format!("stock id {id}")))
}

/// The dispatcher ended (the process is shutting down): the order was not placed.
fn dispatcher_gone() -> RepoError {
    RepoError::Unavailable(sqlx::Error::PoolClosed)
}

fn order_not_found(order_id: &OrderId) -> RepoError {
    RepoError::NotFound {
        kind: "order",
        name: order_id.to_string(),
    }
}
