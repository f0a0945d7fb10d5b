//! Group commit for PlaceOrder: orders that arrive while a transaction is running wait for the
//! next one, and a whole batch is checked and reserved in one transaction with one commit.
//!
//! A flash sale is limited by commits on one hot row (one fsync each); here a batch of orders
//! for that SKU costs one lock, one snapshot, one statement that writes everything and one commit.
//! `order_dispatch` decides which orders form a batch and how many batches run at once. The
//! rules stay those of a single order: the batch locks the totals of all its SKUs in SKU order
//! first, then judges the orders one after another in arrival order against a running tally, so
//! each order sees exactly what it would have seen alone after the ones before it.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;

use super::{
    Repo, RepoError,
    availability::{ReservedLine, Snapshot, load_snapshot, reserved_lines},
    changes::Change,
    ledger::{self, Event},
    orders::{OrderRequest, PlacedOrder},
    stocks::{channel_not_found, stock_id},
};
use crate::domain::{
    CartId, LineRefusal, ProductSettings, QuantityCheck, SalesChannel, StockId, check_quantity,
};

/// Most orders judged in one transaction.
pub(super) const MAX_BATCH: usize = 256;

/// One caller waiting for its order.
pub(super) struct Job {
    pub(super) request: OrderRequest,
    pub(super) print: String,
    pub(super) reply: oneshot::Sender<Result<PlacedOrder, RepoError>>,
    /// When the order was submitted, to tell how long the queue makes orders wait.
    pub(super) queued_at: std::time::Instant,
    /// When its caller stops waiting, if it said.
    pub(super) deadline: Option<std::time::Instant>,
}

/// What the batch decided for one job.
enum Outcome {
    Placed(Vec<ReservedLine>),
    Refused(Vec<LineRefusal>),
    /// The order id exists already (or twice in this batch): answer from the stored order.
    Replay,
}

impl Repo {
    /// Places a batch of orders: one transaction per stock, or each alone if that fails. The
    /// whole batch runs on one connection: every hand-out from the pool costs a round trip to
    /// check the connection when it comes back.
    pub(super) async fn run_batch(&self, batch: Vec<Job>) {
        let resolved = async {
            let mut conn = self.pool.acquire().await?;
            let stocks = stocks_of_channels(&mut conn, &batch).await?;
            Ok::<_, RepoError>((conn, stocks))
        };
        let (mut conn, stocks) = match resolved.await {
            Ok(resolved) => resolved,
            Err(error) => {
                tracing::debug!(%error, "resolving the batch's channels failed; placing alone");
                self.batch_counters.fell_back(batch.len());
                for job in batch {
                    let result = self.place_alone(&job).await;
                    let _ = job.reply.send(result);
                }
                return;
            }
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
            match self
                .decide_batch_retrying_replays(&mut conn, stock, &jobs)
                .await
            {
                Ok(outcomes) => {
                    self.batch_counters.committed(jobs.len());
                    self.answer(stock, jobs, outcomes).await;
                }
                Err(error) => {
                    // Nothing was committed: each order goes the single-order way, which
                    // retries conflicts and reports its own errors.
                    tracing::debug!(%error, orders = jobs.len(), "order batch failed; placing alone");
                    self.batch_counters.fell_back(jobs.len());
                    for job in jobs {
                        let result = self
                            .place_order_alone(&job.request, stock, &job.print)
                            .await;
                        let _ = job.reply.send(result);
                    }
                }
            }
        }
    }

    async fn place_alone(&self, job: &Job) -> Result<PlacedOrder, RepoError> {
        let stock = self.stock_of_channel(&job.request.channel).await?;
        self.place_order_alone(&job.request, stock, &job.print)
            .await
    }

    async fn answer(&self, stock: StockId, jobs: Vec<Job>, outcomes: Vec<Outcome>) {
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let result = match outcome {
                Outcome::Placed(lines) => Ok(PlacedOrder {
                    order_id: job.request.order_id.clone(),
                    stock,
                    lines,
                    replayed: false,
                }),
                Outcome::Refused(refusals) => Err(RepoError::Refused(refusals)),
                Outcome::Replay => self.replay_order(&job.request.order_id, &job.print).await,
            };
            let _ = job.reply.send(result);
        }
    }

    /// Decides a batch; if some of its order ids turn out to exist already (a retry of an order
    /// placed earlier), decides it once more treating those as replays.
    async fn decide_batch_retrying_replays(
        &self,
        conn: &mut PgConnection,
        stock: StockId,
        jobs: &[Job],
    ) -> Result<Vec<Outcome>, RepoError> {
        match self
            .decide_batch(conn, stock, jobs, &HashSet::new())
            .await?
        {
            Ok(outcomes) => Ok(outcomes),
            Err(existing) => match self.decide_batch(conn, stock, jobs, &existing).await? {
                Ok(outcomes) => Ok(outcomes),
                Err(_) => Err(RepoError::Corrupt(
                    "order ids kept appearing while the batch ran".into(),
                )),
            },
        }
    }

    /// One transaction for every order of one stock in the batch. Order ids in `existing` are
    /// answered from the stored order. Existing orders are found by the insert itself (no lookup
    /// beforehand, whose plan would depend on table statistics); if any turns up, nothing is
    /// committed and their ids come back as `Err`.
    async fn decide_batch(
        &self,
        conn: &mut PgConnection,
        stock: StockId,
        jobs: &[Job],
        existing: &HashSet<String>,
    ) -> Result<Result<Vec<Outcome>, HashSet<String>>, RepoError> {
        let now = self.clock.now();
        let mut tx = conn.begin().await?;
        let skus: BTreeSet<&str> = jobs
            .iter()
            .flat_map(|j| j.request.lines.iter().map(|(s, _)| s.as_str()))
            .collect();
        let skus: Vec<&str> = skus.into_iter().collect();
        ledger::lock_totals(&mut tx, stock, &skus).await?;
        let snapshot = load_snapshot(&mut tx, stock, &skus, now, None).await?;
        let mut held = cart_holds(&mut tx, stock, jobs, &skus, now).await?;
        let mut tally = Tally::default();
        let mut seen = HashSet::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut placed = Vec::with_capacity(jobs.len());
        for job in jobs {
            let id = job.request.order_id.as_str();
            if existing.contains(id) || !seen.insert(id) {
                outcomes.push(Outcome::Replay);
                placed.push(None);
                continue;
            }
            let (outcome, checks) = tally.judge(&snapshot, &job.request, &mut held);
            outcomes.push(outcome);
            placed.push(checks);
        }
        let written = write_placed(&mut tx, stock, jobs, &placed, now).await?;
        if !written.existing.is_empty() {
            tx.rollback().await?;
            return Ok(Err(written.existing));
        }
        tx.commit().await?;
        let ordered = jobs
            .iter()
            .flat_map(|j| j.request.lines.iter().map(|(sku, _)| sku));
        self.changed(Change::skus(ordered).and_stored(&written.released));
        Ok(Ok(outcomes))
    }
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

/// Reservations the batch has made so far.
#[derive(Default)]
struct Tally {
    /// Change of live reservations per SKU since the snapshot (negative: reserved).
    delta: HashMap<String, Decimal>,
}

impl Tally {
    /// Judges one order as if it were alone, after the orders before it in the batch.
    fn judge(
        &mut self,
        snapshot: &Snapshot,
        request: &OrderRequest,
        held: &mut HashMap<CartId, HashMap<String, Decimal>>,
    ) -> (Outcome, Option<Vec<QuantityCheck>>) {
        let no_settings = ProductSettings::default();
        let own = request.cart.as_ref().and_then(|c| held.get(c));
        let mut refusals = Vec::new();
        let mut checks = Vec::with_capacity(request.lines.len());
        for (i, (sku, qty)) in request.lines.iter().enumerate() {
            let mut view = snapshot.view(sku, &no_settings);
            view.reserved += self.delta.get(sku.as_str()).copied().unwrap_or_default();
            // The cart's own holds are available to it.
            view.reserved += own
                .and_then(|h| h.get(sku.as_str()))
                .copied()
                .unwrap_or_default();
            let check = check_quantity(&view, *qty);
            refusals.extend(
                check
                    .violations
                    .iter()
                    .map(|v| LineRefusal::rule(i, sku, v.code, v.message())),
            );
            checks.push(check);
        }
        if !refusals.is_empty() {
            return (Outcome::Refused(refusals), None);
        }
        if let Some(cart) = &request.cart
            && let Some(holds) = held.remove(cart)
        {
            // The order consumes its cart's holds: they stop counting for the orders after it.
            for (sku, qty) in holds {
                *self.delta.entry(sku).or_default() += qty;
            }
        }
        for ((sku, qty), check) in request.lines.iter().zip(&checks) {
            if check.salable.manage_stock {
                *self.delta.entry(sku.to_string()).or_default() -= qty.get();
            }
        }
        let lines = reserved_lines(&request.lines, checks.clone());
        (Outcome::Placed(lines), Some(checks))
    }
}

/// Unexpired holds of the batch's carts on the batch's SKUs, per cart and SKU (as positive
/// quantities: what each cart gets back when it orders).
async fn cart_holds(
    conn: &mut PgConnection,
    stock: StockId,
    jobs: &[Job],
    skus: &[&str],
    now: DateTime<Utc>,
) -> Result<HashMap<CartId, HashMap<String, Decimal>>, RepoError> {
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
    let mut held: HashMap<CartId, HashMap<String, Decimal>> = HashMap::new();
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
    placed: &[Option<Vec<QuantityCheck>>],
    now: DateTime<Utc>,
) -> Result<Written, RepoError> {
    let mut rows = OrderRows::default();
    for (job, checks) in jobs.iter().zip(placed) {
        if let Some(checks) = checks {
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
           UPDATE stock_sku_reservation t SET reserved = t.reserved - d.q \
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
    let existing = rows
        .orders
        .into_iter()
        .filter(|o| !inserted.contains(o))
        .collect();
    Ok(Written { existing, released })
}

/// What a batch's write found and did beyond the orders themselves.
#[derive(Default)]
struct Written {
    /// Order ids that existed already (then the caller must not commit).
    existing: HashSet<String>,
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
