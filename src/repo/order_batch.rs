//! Group commit for PlaceOrder: orders that arrive while a transaction is running wait for the
//! next one, and a whole batch is checked and reserved in one transaction with one commit.
//!
//! A flash sale is limited by commits on one hot row (one fsync each); here a batch of orders
//! for that SKU costs one lock, one snapshot, one statement that writes everything and one commit.
//! `order_dispatch` decides which orders form a batch and how many batches run at once. The
//! rules stay those of a single order: the batch locks the totals of all its SKUs in SKU order
//! first, then judges the orders one after another in arrival order against a running tally, so
//! each order sees exactly what it would have seen alone after the ones before it.

//! The one write path of PlaceOrder: a batch of orders (one, when an order is alone) checked and
//! reserved in one transaction with one commit.
//!
//! A flash sale is limited by commits on one hot row (one fsync each); here a batch of orders
//! for that SKU costs one lock, one snapshot, one statement that writes everything and one commit.
//! `order_dispatch` decides which orders form a batch and how many batches run at once. What each
//! order gets is decided by `domain::decide_orders`: the stored answer first, then the running
//! tally in arrival order. This file only loads its inputs under the SKUs' locks and writes its
//! result.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    time::{Duration, Instant},
};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection, Postgres, pool::PoolConnection};
use tokio::sync::oneshot;

use super::{
    MAX_TRANSACTION_ATTEMPTS, Repo, RepoError,
    availability::{load_snapshot, reserved_lines},
    changes::Change,
    ledger::{self, Event},
    orders::{OrderRequest, PlacedOrder},
    stocks::{channel_not_found, stock_id},
};
use crate::domain::{
    CartHolds, CartId, OrderDecision, OrderToDecide, ProductSettings, QuantityCheck, SalesChannel,
    StockId, decide_orders,
};

/// Most orders judged in one transaction.
pub(super) const MAX_BATCH: usize = 256;

/// The least time a batch waits for a connection, however long its orders queued: enough for a
/// live database to hand one out, short enough that an outage is answered promptly.
const MIN_ACQUIRE_WAIT: Duration = Duration::from_millis(100);

/// One caller waiting for its order.
pub(super) struct Job {
    pub(super) request: OrderRequest,
    pub(super) print: String,
    pub(super) reply: oneshot::Sender<Result<PlacedOrder, RepoError>>,
    /// When the order was submitted, to tell how long the queue makes orders wait.
    pub(super) queued_at: Instant,
    /// When its caller stops waiting, if it said.
    pub(super) deadline: Option<Instant>,
}

impl Repo {
    /// Places a batch of orders: one transaction per stock. If a batch fails for a reason other
    /// than an outage, its orders are placed one by one the same way, so one bad order cannot
    /// fail the others.
    pub(super) async fn run_batch(&self, batch: Vec<Job>) {
        let mut conn = match self.acquire_for(&batch).await {
            Ok(conn) => conn,
            Err(error) => return answer_all(batch, &error),
        };
        let stocks = match stocks_of_channels(&mut conn, &batch).await {
            Ok(stocks) => stocks,
            Err(error) => return answer_all(batch, &error),
        };
        let mut by_stock: HashMap<StockId, Vec<Job>> = HashMap::new();
        for job in batch {
            match stocks.get(&job.request.channel) {
                Some(stock) => by_stock.entry(*stock).or_default().push(job),
                None => {
                    let _ = job.reply.send(Err(channel_not_found(&job.request.channel)));
                }
            }
        }
        for (stock, jobs) in by_stock {
            match self.decide_retrying(&mut conn, stock, &jobs).await {
                Ok(decisions) => {
                    self.batch_counters.committed(jobs.len());
                    self.answer(stock, jobs, decisions).await;
                }
                Err(error) if jobs.len() == 1 || matches!(error, RepoError::Unavailable(_)) => {
                    answer_all(jobs, &error);
                }
                Err(error) => {
                    tracing::debug!(%error, orders = jobs.len(), "order batch failed; placing one by one");
                    self.batch_counters.fell_back(jobs.len());
                    for job in jobs {
                        let result = self
                            .decide_retrying(&mut conn, stock, std::slice::from_ref(&job))
                            .await;
                        match result {
                            Ok(decisions) => self.answer(stock, vec![job], decisions).await,
                            Err(error) => answer_all(vec![job], &error),
                        }
                    }
                }
            }
        }
    }

    /// A connection for the batch, waited for no longer than the pool's acquire timeout counted
    /// from when its oldest order queued, nor past any caller's deadline: while the database is
    /// unreachable, orders queued behind a batch that waits for a connection are answered about
    /// when that batch is, not one timeout after another.
    async fn acquire_for(&self, batch: &[Job]) -> Result<PoolConnection<Postgres>, RepoError> {
        let now = Instant::now();
        let timeout = self.pool.options().get_acquire_timeout();
        let until = batch
            .iter()
            .flat_map(|job| [Some(job.queued_at + timeout), job.deadline])
            .flatten()
            .min()
            .unwrap_or(now + timeout);
        let wait = until.saturating_duration_since(now).max(MIN_ACQUIRE_WAIT);
        match tokio::time::timeout(wait, self.pool.acquire()).await {
            Ok(conn) => Ok(conn?),
            Err(_) => Err(RepoError::Unavailable(sqlx::Error::PoolTimedOut)),
        }
    }

    async fn answer(&self, stock: StockId, jobs: Vec<Job>, decisions: Vec<OrderDecision>) {
        let mut answers: Vec<Option<Result<PlacedOrder, RepoError>>> =
            Vec::with_capacity(jobs.len());
        for (job, decision) in jobs.iter().zip(decisions) {
            let answer = match decision {
                OrderDecision::Place(checks) => Ok(PlacedOrder {
                    order_id: job.request.order_id.clone(),
                    stock,
                    lines: reserved_lines(&job.request.lines, checks),
                    replayed: false,
                }),
                OrderDecision::Refuse(refusals) => Err(RepoError::Refused(refusals)),
                OrderDecision::Replay => self.replay_order(&job.request.order_id, &job.print).await,
                OrderDecision::Conflict => Err(RepoError::AlreadyExists {
                    kind: "order",
                    name: job.request.order_id.to_string(),
                }),
                OrderDecision::CopyOf(first) => {
                    copy_of(answers.get(first).and_then(Option::as_ref))
                }
            };
            answers.push(Some(answer));
        }
        for (job, answer) in jobs.into_iter().zip(answers) {
            if let Some(answer) = answer {
                let _ = job.reply.send(answer);
            }
        }
    }

    /// Decides and writes one stock's orders, again when the write finds order ids that another
    /// transaction stored meanwhile (they are then answered from the store) or a race was lost.
    async fn decide_retrying(
        &self,
        conn: &mut PgConnection,
        stock: StockId,
        jobs: &[Job],
    ) -> Result<Vec<OrderDecision>, RepoError> {
        let mut tries = 1;
        loop {
            match self.decide_batch(conn, stock, jobs).await {
                Ok(Some(decisions)) => return Ok(decisions),
                Ok(None) if tries < MAX_TRANSACTION_ATTEMPTS => {}
                Ok(None) => {
                    return Err(RepoError::Corrupt(
                        "order ids kept appearing while the batch ran".into(),
                    ));
                }
                Err(error) if error.is_retryable_conflict() && tries < MAX_TRANSACTION_ATTEMPTS => {
                    tracing::debug!(tries, %error, "retrying order batch");
                    // Back off a little so the winner can commit before we race again.
                    tokio::time::sleep(Duration::from_millis(2 << tries)).await;
                }
                Err(error) => return Err(error),
            }
            tries += 1;
        }
    }

    /// One transaction for every order of one stock in the batch; `None` when the write found
    /// an order id stored meanwhile, and nothing was committed.
    async fn decide_batch(
        &self,
        conn: &mut PgConnection,
        stock: StockId,
        jobs: &[Job],
    ) -> Result<Option<Vec<OrderDecision>>, RepoError> {
        let now = self.clock.now();
        let mut tx = conn.begin().await?;
        let skus: BTreeSet<&str> = jobs
            .iter()
            .flat_map(|j| j.request.lines.iter().map(|(s, _)| s.as_str()))
            .collect();
        let skus: Vec<&str> = skus.into_iter().collect();
        let locked = ledger::lock_existing_totals(&mut tx, stock, &skus).await?;
        // Looked up under the SKUs' locks: a copy of one of these orders that another batch (on
        // any replica) placed is committed by now, since it held the same locks.
        let stored = stored_orders(&mut tx, jobs).await?;
        let mut snapshot = load_snapshot(&mut tx, stock, &skus, now, None).await?;
        // A SKU whose totals row did not exist has no source item in this stock, unless one
        // committed after the lock: without the row's lock it must not be sold from.
        snapshot.items.retain(|sku, _| locked.contains(sku));
        snapshot.reserved.retain(|sku, _| locked.contains(sku));
        let held = cart_holds(&mut tx, stock, jobs, &skus, now).await?;
        let no_settings = ProductSettings::default();
        let orders: Vec<OrderToDecide<'_>> = jobs
            .iter()
            .map(|j| OrderToDecide {
                order_id: &j.request.order_id,
                fingerprint: &j.print,
                cart: j.request.cart.as_ref(),
                lines: &j.request.lines,
            })
            .collect();
        let stored_prints: HashMap<&str, &str> = stored
            .iter()
            .map(|(id, print)| (id.as_str(), print.as_str()))
            .collect();
        let decisions = decide_orders(&orders, &stored_prints, held, |sku| {
            snapshot.view(sku, &no_settings)
        });
        if !decisions
            .iter()
            .any(|d| matches!(d, OrderDecision::Place(_)))
        {
            // Refusals and retries write nothing.
            tx.rollback().await?;
            return Ok(Some(decisions));
        }
        let written = write_placed(&mut tx, stock, jobs, &decisions, now).await?;
        if written.existing {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        let ordered = jobs
            .iter()
            .zip(&decisions)
            .filter(|(_, d)| matches!(d, OrderDecision::Place(_)))
            .flat_map(|(j, _)| j.request.lines.iter().map(|(sku, _)| sku));
        self.changed(Change::skus(ordered).and_stored(&written.released));
        Ok(Some(decisions))
    }
}

/// The answer of a copy of an order the batch answered already: a placed order as a replay, a
/// refusal alike.
fn copy_of(first: Option<&Result<PlacedOrder, RepoError>>) -> Result<PlacedOrder, RepoError> {
    match first {
        Some(Ok(placed)) => Ok(PlacedOrder {
            replayed: true,
            ..placed.clone()
        }),
        Some(Err(RepoError::Refused(refusals))) => Err(RepoError::Refused(refusals.clone())),
        Some(Err(RepoError::AlreadyExists { kind, name })) => Err(RepoError::AlreadyExists {
            kind,
            name: name.clone(),
        }),
        _ => Err(RepoError::Corrupt(
            "a copy of an order without an answer".into(),
        )),
    }
}

/// Answers every job with the same failure (nothing of theirs was committed).
fn answer_all(jobs: Vec<Job>, error: &RepoError) {
    tracing::debug!(%error, orders = jobs.len(), "order batch not placed");
    for job in jobs {
        let _ = job.reply.send(Err(error.for_another_caller()));
    }
}

/// The stored fingerprints of the batch's order ids that exist already.
async fn stored_orders(
    conn: &mut PgConnection,
    jobs: &[Job],
) -> Result<HashMap<String, String>, RepoError> {
    let ids: Vec<&str> = jobs.iter().map(|j| j.request.order_id.as_str()).collect();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT order_id, fingerprint FROM sales_order WHERE order_id = ANY($1)")
            .bind(&ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The stock of every channel named in the batch, in one query.
async fn stocks_of_channels(
    conn: &mut PgConnection,
    batch: &[Job],
) -> Result<HashMap<SalesChannel, StockId>, RepoError> {
    let kinds: Vec<&str> = batch.iter().map(|j| j.request.channel.kind()).collect();
    let codes: Vec<&str> = batch.iter().map(|j| j.request.channel.code()).collect();
    let rows: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT DISTINCT c.type, c.code, c.stock_id FROM sales_channel c \
         JOIN unnest($1::text[], $2::text[]) AS k(t, c2) ON c.type = k.t AND c.code = k.c2",
    )
    .bind(&kinds)
    .bind(&codes)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(kind, code, id)| {
            let channel = SalesChannel::parse(&kind, &code)
                .map_err(|_| RepoError::Corrupt(format!("sales channel {kind}/{code}")))?;
            Ok((channel, stock_id(id)?))
        })
        .collect()
}

/// Unexpired holds of the batch's carts on the batch's SKUs, per cart and SKU (as positive
/// quantities: what each cart gets back when it orders).
async fn cart_holds(
    conn: &mut PgConnection,
    stock: StockId,
    jobs: &[Job],
    skus: &[&str],
    now: DateTime<Utc>,
) -> Result<CartHolds, RepoError> {
    let carts: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j.request.cart.as_ref().map(CartId::as_str))
        .collect();
    if carts.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, Decimal)> = sqlx::query_as(
        "SELECT cart_id, sku, quantity FROM cart_hold \
         WHERE cart_id = ANY($1) AND stock_id = $2 AND sku = ANY($3) AND expires_at > $4",
    )
    .bind(&carts)
    .bind(stock.get())
    .bind(skus)
    .bind(now)
    .fetch_all(conn)
    .await?;
    let mut held = CartHolds::new();
    for (cart, sku, qty) in rows {
        let cart =
            CartId::parse(&cart).map_err(|e| RepoError::Corrupt(format!("cart {cart:?}: {e}")))?;
        held.entry(cart).or_default().insert(sku, qty);
    }
    Ok(held)
}

/// Writes every placed order of the batch in one statement.
async fn write_placed(
    conn: &mut PgConnection,
    stock: StockId,
    jobs: &[Job],
    decisions: &[OrderDecision],
    now: DateTime<Utc>,
) -> Result<Written, RepoError> {
    let mut rows = OrderRows::default();
    for (job, decision) in jobs.iter().zip(decisions) {
        if let OrderDecision::Place(checks) = decision {
            rows.add(job, checks);
        }
    }
    if rows.orders.is_empty() {
        return Ok(Written::default());
    }
    let carts: Vec<&str> = rows.carts.iter().filter_map(|c| c.as_deref()).collect();
    // One statement: the orders, their lines, their ledger rows, the totals and the consumed
    // holds. Lines go only with orders the insert actually wrote, so an existing order id cannot
    // collide with its stored lines; any existing id makes the caller roll the whole batch back.
    let written: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "WITH o AS ( \
           INSERT INTO sales_order (order_id, stock_id, channel_type, channel_code, cart_id, \
             fingerprint, created_at) \
           SELECT o, $1, t, c, k, f, $7 FROM unnest($2::text[], $3::text[], $4::text[], \
             $5::text[], $6::text[]) AS x(o, t, c, k, f) \
           ON CONFLICT (order_id) DO NOTHING RETURNING order_id \
         ), lines AS ( \
           SELECT * FROM unnest($8::text[], $9::text[], $10::int[], $11::numeric[], \
             $12::numeric[], $13::bool[], $14::bool[], $15::date[], $16::numeric[], \
             $17::numeric[]) AS x(order_id, sku, position, ordered, backordered, reserved, \
             backorder_notice, restock_date, restock_qty, only_x_left) \
         ), l AS ( \
           INSERT INTO order_line (order_id, sku, position, ordered, backordered, reserved, \
             backorder_notice, restock_date, restock_qty, only_x_left) \
           SELECT * FROM lines WHERE order_id IN (SELECT order_id FROM o) \
         ), r AS ( \
           INSERT INTO reservation (stock_id, sku, quantity, event, order_id, object_id, \
             created_at) \
           SELECT $1, sku, -ordered, $18, order_id, order_id, $7 FROM lines WHERE reserved \
         ), t AS ( \
           UPDATE stock_sku t SET reserved = t.reserved - d.q \
           FROM (SELECT sku, SUM(ordered) AS q FROM lines WHERE reserved GROUP BY sku) d \
           WHERE t.stock_id = $1 AND t.sku = d.sku \
         ), h AS ( \
           DELETE FROM cart_hold WHERE cart_id = ANY($19) RETURNING sku \
         ) \
         SELECT order_id, NULL AS sku FROM o UNION ALL SELECT NULL, sku FROM h",
    )
    .bind(stock.get())
    .bind(&rows.orders)
    .bind(&rows.kinds)
    .bind(&rows.codes)
    .bind(&rows.carts)
    .bind(&rows.prints)
    .bind(now)
    .bind(&rows.line_orders)
    .bind(&rows.skus)
    .bind(&rows.positions)
    .bind(&rows.ordered)
    .bind(&rows.backordered)
    .bind(&rows.reserved)
    .bind(&rows.notify)
    .bind(&rows.restock_date)
    .bind(&rows.restock_qty)
    .bind(&rows.only_x_left)
    .bind(Event::OrderPlaced.name())
    .bind(&carts)
    .fetch_all(&mut *conn)
    .await?;
    let (inserted, released): (Vec<_>, Vec<_>) = written.into_iter().unzip();
    let inserted: HashSet<String> = inserted.into_iter().flatten().collect();
    let released = released.into_iter().flatten().collect();
    let existing = rows.orders.iter().any(|o| !inserted.contains(o));
    Ok(Written { existing, released })
}

/// What a batch's write found and did beyond the orders themselves.
#[derive(Default)]
struct Written {
    /// Some order id existed already (then the caller must not commit).
    existing: bool,
    /// SKUs of the cart holds the orders consumed, lines or not.
    released: Vec<String>,
}

/// Column arrays for the bulk inserts.
#[derive(Default)]
struct OrderRows {
    orders: Vec<String>,
    kinds: Vec<String>,
    codes: Vec<String>,
    carts: Vec<Option<String>>,
    prints: Vec<String>,
    line_orders: Vec<String>,
    skus: Vec<String>,
    positions: Vec<i32>,
    ordered: Vec<Decimal>,
    backordered: Vec<Decimal>,
    reserved: Vec<bool>,
    notify: Vec<bool>,
    restock_date: Vec<Option<NaiveDate>>,
    restock_qty: Vec<Option<Decimal>>,
    only_x_left: Vec<Option<Decimal>>,
}

impl OrderRows {
    fn add(&mut self, job: &Job, checks: &[QuantityCheck]) {
        let r = &job.request;
        self.orders.push(r.order_id.to_string());
        self.kinds.push(r.channel.kind().to_owned());
        self.codes.push(r.channel.code().to_owned());
        self.carts.push(r.cart.as_ref().map(|c| c.to_string()));
        self.prints.push(job.print.clone());
        for (position, ((sku, qty), check)) in r.lines.iter().zip(checks).enumerate() {
            let facts = &check.notice_facts;
            self.line_orders.push(r.order_id.to_string());
            self.skus.push(sku.to_string());
            self.positions
                .push(i32::try_from(position).unwrap_or(i32::MAX));
            self.ordered.push(qty.get());
            self.backordered.push(check.backordered_qty);
            self.reserved.push(check.salable.manage_stock);
            self.notify.push(facts.backorder_notice);
            self.restock_date
                .push(facts.restock.as_ref().map(|x| x.date));
            self.restock_qty
                .push(facts.restock.as_ref().and_then(|x| x.qty));
            self.only_x_left.push(facts.only_x_left);
        }
    }
}
