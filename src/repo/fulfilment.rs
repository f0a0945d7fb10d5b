//! Shipments and returns: source quantities, the ledger and the order lines change together, in
//! one transaction, exactly once per shipment or return id.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::{
    Repo, RepoError,
    availability::load_products,
    changes::Change,
    ledger::{self, Entry, Event},
    orders::{OrderView, close_if_complete, load_order_lines, lock_order},
    retry_conflicts,
    settings::load_global,
};
use crate::domain::{
    OrderId, OrderLine, ProductSettings, ReturnId, ShipmentId, Sku, SourceItemSettings, StockId,
    fulfilment::{
        Draw, HeldItem, LineFacts, SourceFacts, SourceLine, check_against_order, judge_lines,
        judge_return, judge_shipment,
    },
    order::{escape, fingerprint_of},
};

/// What fulfilment confirms.
#[derive(Debug, Clone)]
pub struct ShipmentRequest {
    /// The order shipped.
    pub order_id: OrderId,
    /// Idempotency key.
    pub shipment_id: ShipmentId,
    /// SKU, source and quantity; each (SKU, source) once.
    pub lines: Vec<SourceLine>,
}

/// A line of a return, and whether the units go back on the shelf.
#[derive(Debug, Clone)]
pub struct ReturnLine {
    /// SKU, source and quantity.
    pub line: SourceLine,
    /// True: the source's quantity rises; false: the units are written off.
    pub back_to_stock: bool,
}

/// Shipped units coming back.
#[derive(Debug, Clone)]
pub struct ReturnRequest {
    /// The order.
    pub order_id: OrderId,
    /// Idempotency key.
    pub return_id: ReturnId,
    /// The lines; each (SKU, source) once.
    pub lines: Vec<ReturnLine>,
}

/// The answer to a shipment or a return.
#[derive(Debug, Clone, PartialEq)]
pub struct Fulfilled {
    /// True when an identical earlier request had already done it.
    pub replayed: bool,
    /// The order afterwards.
    pub order: OrderView,
}

impl Repo {
    /// Deducts each line from its source, compensates the order's reservation and records the
    /// shipment, or refuses naming every failing line and changes nothing.
    #[tracing::instrument(skip_all, fields(order = %req.order_id, shipment = %req.shipment_id))]
    pub async fn confirm_shipment(&self, req: &ShipmentRequest) -> Result<Fulfilled, RepoError> {
        let print = fingerprint_of(
            &[req.order_id.as_str()],
            req.lines.iter().map(|l| source_line_text(l, "")),
        );
        let replayed = retry_conflicts(|| async {
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            let claim = Claim {
                table: "shipment",
                key: "shipment_id",
                kind: "shipment",
                id: req.shipment_id.as_str(),
            };
            let (stock, replayed) = claim.take(&mut tx, &req.order_id, &print, now).await?;
            if replayed {
                return Ok(true);
            }
            ship(&mut tx, stock, req, now).await?;
            tx.commit().await?;
            Ok(false)
        })
        .await?;
        if !replayed {
            self.changed(Change::skus(req.lines.iter().map(|l| &l.sku)));
        }
        Ok(Fulfilled {
            replayed,
            order: self.order(&req.order_id).await?,
        })
    }

    /// Takes shipped units back onto their sources, or writes them off.
    #[tracing::instrument(skip_all, fields(order = %req.order_id, r#return = %req.return_id))]
    pub async fn return_items(&self, req: &ReturnRequest) -> Result<Fulfilled, RepoError> {
        let print = fingerprint_of(
            &[req.order_id.as_str()],
            req.lines.iter().map(|l| {
                source_line_text(
                    &l.line,
                    if l.back_to_stock {
                        "restock"
                    } else {
                        "write-off"
                    },
                )
            }),
        );
        let replayed = retry_conflicts(|| async {
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            let claim = Claim {
                table: "order_return",
                key: "return_id",
                kind: "return",
                id: req.return_id.as_str(),
            };
            let (stock, replayed) = claim.take(&mut tx, &req.order_id, &print, now).await?;
            if replayed {
                return Ok(true);
            }
            take_back(&mut tx, stock, req, now).await?;
            tx.commit().await?;
            Ok(false)
        })
        .await?;
        if !replayed {
            self.changed(Change::skus(req.lines.iter().map(|l| &l.line.sku)));
        }
        Ok(Fulfilled {
            replayed,
            order: self.order(&req.order_id).await?,
        })
    }
}

fn source_line_text(line: &SourceLine, extra: &str) -> String {
    format!(
        "{}@{}={}{extra}",
        escape(line.sku.as_str()),
        line.source,
        line.quantity
    )
}

/// The idempotency key of a shipment or return, recorded in `table` with the request's print.
struct Claim<'a> {
    table: &'static str,
    key: &'static str,
    kind: &'static str,
    id: &'a str,
}

impl Claim<'_> {
    /// Locks the order and records the id for this request. Returns the order's stock, and true
    /// when an identical request already did the work; the same id with anything else is
    /// ALREADY_EXISTS.
    async fn take(
        &self,
        conn: &mut PgConnection,
        order_id: &OrderId,
        print: &str,
        now: DateTime<Utc>,
    ) -> Result<(StockId, bool), RepoError> {
        let stock = lock_order(conn, order_id).await?;
        let (table, key) = (self.table, self.key);
        let insert = format!(
            "INSERT INTO {table} ({key}, order_id, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        );
        let inserted = sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(self.id)
            .bind(order_id.as_str())
            .bind(print)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if inserted == 1 {
            return Ok((stock, false));
        }
        let select = format!("SELECT order_id, fingerprint FROM {table} WHERE {key} = $1");
        let (stored_order, stored_print): (String, String) =
            sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(self.id)
                .fetch_one(conn)
                .await?;
        if stored_order == order_id.as_str() && stored_print == print {
            Ok((stock, true))
        } else {
            Err(RepoError::AlreadyExists {
                kind: self.kind,
                name: self.id.to_owned(),
            })
        }
    }
}

#[derive(sqlx::FromRow)]
struct LockedItem {
    source_code: String,
    sku: String,
    quantity: Decimal,
    backorders: Option<String>,
    out_of_stock_threshold: Option<Decimal>,
}

/// Locks the source items of `lines` in (source, SKU) order, as every shipment and return does,
/// and shares their sources' rows: writing the items later copies them into totals rows, which a
/// link change of the source (which takes the source row exclusively first) also writes, so the
/// source lock must come before the totals rows this transaction locks next.
async fn lock_items(
    conn: &mut PgConnection,
    lines: &[&SourceLine],
) -> Result<HashMap<(String, String), LockedItem>, RepoError> {
    let sources: Vec<&str> = lines.iter().map(|l| l.source.as_str()).collect();
    let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
    let rows = sqlx::query_as::<_, LockedItem>(
        "SELECT si.source_code, si.sku, si.quantity, si.backorders, si.out_of_stock_threshold \
         FROM source_item si JOIN unnest($1::text[], $2::text[]) AS k(src, sku) \
           ON si.source_code = k.src AND si.sku = k.sku \
         JOIN source s ON s.code = si.source_code \
         ORDER BY si.source_code, si.sku FOR UPDATE OF si FOR KEY SHARE OF s",
    )
    .bind(&sources)
    .bind(&skus)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.source_code.clone(), r.sku.clone()), r))
        .collect())
}

/// What the lines of a shipment or return are judged on (DOMAIN §4), loaded under locks.
struct Facts {
    items: HashMap<(String, String), HeldItem>,
    sources: HashMap<String, SourceFacts>,
    managed: HashMap<String, bool>,
}

impl Facts {
    /// Resolves each SKU's `manage_stock`, locks the items of the managed lines that `may_move`
    /// (only those can change quantity), then reads the sources: after the locks, so a link change
    /// or a disable that committed first is seen.
    async fn load(
        conn: &mut PgConnection,
        stock: StockId,
        lines: &[&SourceLine],
        may_move: impl Fn(usize) -> bool,
    ) -> Result<Facts, RepoError> {
        let global = load_global(&mut *conn, false).await?;
        let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
        let products = load_products(conn, &skus).await?;
        let no_settings = ProductSettings::default();
        let resolved = |sku: &str| products.get(sku).unwrap_or(&no_settings).resolve(&global);
        let managed: HashMap<String, bool> = skus
            .iter()
            .map(|sku| (sku.to_string(), resolved(sku).manage_stock))
            .collect();
        let locked: Vec<&SourceLine> = lines
            .iter()
            .enumerate()
            .filter(|(i, l)| may_move(*i) && managed.get(l.sku.as_str()) != Some(&false))
            .map(|(_, l)| *l)
            .collect();
        let mut items = HashMap::new();
        for (key, item) in lock_items(conn, &locked).await? {
            let settings = item_settings(&item)?.resolve(&resolved(&item.sku));
            let on_hand = item.quantity;
            items.insert(key, HeldItem { on_hand, settings });
        }
        let sources = source_facts(conn, stock, lines).await?;
        Ok(Facts {
            items,
            sources,
            managed,
        })
    }

    fn of(&self, line: &SourceLine) -> LineFacts<'_> {
        LineFacts {
            source: self.sources.get(line.source.as_str()).copied(),
            manage_stock: self.managed.get(line.sku.as_str()).copied().unwrap_or(true),
            item: self
                .items
                .get(&(line.source.to_string(), line.sku.to_string())),
        }
    }
}

/// Whether each named source exists, is linked to `stock` and is enabled.
async fn source_facts(
    conn: &mut PgConnection,
    stock: StockId,
    lines: &[&SourceLine],
) -> Result<HashMap<String, SourceFacts>, RepoError> {
    let codes: Vec<&str> = lines.iter().map(|l| l.source.as_str()).collect();
    let rows: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT s.code, s.enabled, EXISTS (SELECT 1 FROM stock_source_link l \
           WHERE l.stock_id = $1 AND l.source_code = s.code) \
         FROM source s WHERE s.code = ANY($2)",
    )
    .bind(stock.get())
    .bind(&codes)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(code, enabled, linked)| (code, SourceFacts { linked, enabled }))
        .collect())
}

async fn ship(
    conn: &mut PgConnection,
    stock: StockId,
    req: &ShipmentRequest,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    let mut lines = order_lines(conn, &req.order_id).await?;
    let totals = check_against_order(&lines, &req.lines, Draw::Open).map_err(RepoError::Refused)?;
    let all: Vec<&SourceLine> = req.lines.iter().collect();
    let known = Facts::load(conn, stock, &all, |_| true).await?;
    let moving = judge_lines(&req.lines, |_, line| judge_shipment(line, known.of(line)))
        .map_err(RepoError::Refused)?;
    let moved: Vec<SourceLine> = moving.iter().map(|&i| req.lines[i].clone()).collect();
    let skus: Vec<&str> = req.lines.iter().map(|l| l.sku.as_str()).collect();
    let refs: Vec<&SourceLine> = moved.iter().collect();
    lock_rows_of_move(conn, stock, &skus, &refs).await?;
    super::history::for_shipment(conn, &req.shipment_id, now).await?;
    move_stock(conn, &moved, Decimal::NEGATIVE_ONE).await?;
    let entries = compensations(&lines, &totals);
    let locked: Vec<&str> = entries.iter().map(|e| e.sku).collect();
    ledger::lock_totals(conn, stock, &locked).await?;
    let (order_id, shipment_id) = (req.order_id.as_str(), req.shipment_id.as_str());
    ledger::append(
        conn,
        stock,
        Event::ShipmentCreated,
        order_id,
        shipment_id,
        &entries,
        now,
    )
    .await?;
    add_to_lines(conn, order_id, "shipped", &totals).await?;
    record_lines(
        conn,
        "shipment_line",
        "shipment_id",
        shipment_id,
        &req.lines,
        None,
    )
    .await?;
    for line in &mut lines {
        line.shipped += totals.get(&line.sku).copied().unwrap_or_default();
    }
    close_if_complete(conn, &req.order_id, &lines, now).await
}

/// Locks, in (stock, SKU) order, the existing totals rows a move of `moved` items touches: those
/// of every stock linking their sources, whose copies the trigger rewrites, and the order stock's
/// rows of `skus`. Taken later, the order's own rows would come after the trigger's for a source
/// its stock does not link, against the order every other writer locks in.
async fn lock_rows_of_move(
    conn: &mut PgConnection,
    stock: StockId,
    skus: &[&str],
    moved: &[&SourceLine],
) -> Result<(), RepoError> {
    let sources: Vec<&str> = moved.iter().map(|l| l.source.as_str()).collect();
    let moved_skus: Vec<&str> = moved.iter().map(|l| l.sku.as_str()).collect();
    sqlx::query(
        "SELECT 1 FROM stock_sku t \
         JOIN (SELECT l.stock_id, k.sku FROM unnest($2::text[], $3::text[]) AS k(src, sku) \
               JOIN stock_source_link l ON l.source_code = k.src \
               UNION SELECT $1, s FROM unnest($4::text[]) AS s) x \
           ON t.stock_id = x.stock_id AND t.sku = x.sku \
         ORDER BY t.stock_id, t.sku FOR UPDATE OF t",
    )
    .bind(stock.get())
    .bind(&sources)
    .bind(&moved_skus)
    .bind(skus)
    .execute(conn)
    .await?;
    Ok(())
}

async fn take_back(
    conn: &mut PgConnection,
    stock: StockId,
    req: &ReturnRequest,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    let lines = order_lines(conn, &req.order_id).await?;
    let plain: Vec<SourceLine> = req.lines.iter().map(|l| l.line.clone()).collect();
    let totals = check_against_order(&lines, &plain, Draw::Shipped).map_err(RepoError::Refused)?;
    let flags: Vec<bool> = req.lines.iter().map(|l| l.back_to_stock).collect();
    let all: Vec<&SourceLine> = plain.iter().collect();
    let known = Facts::load(conn, stock, &all, |i| flags[i]).await?;
    let moving = judge_lines(&plain, |i, line| {
        judge_return(line, flags[i], known.of(line))
    })
    .map_err(RepoError::Refused)?;
    let back: Vec<SourceLine> = moving.iter().map(|&i| plain[i].clone()).collect();
    let returned: Vec<&str> = totals.keys().map(Sku::as_str).collect();
    let refs: Vec<&SourceLine> = back.iter().collect();
    lock_rows_of_move(conn, stock, &returned, &refs).await?;
    super::history::for_return(conn, &req.return_id, now).await?;
    move_stock(conn, &back, Decimal::ONE).await?;
    // RETURNED rows carry no quantity (DOMAIN §4): they record the event for the audit trail.
    let entries: Vec<Entry<'_>> = totals
        .keys()
        .map(|sku| Entry {
            sku: sku.as_str(),
            quantity: Decimal::ZERO,
        })
        .collect();
    let locked: Vec<&str> = entries.iter().map(|e| e.sku).collect();
    ledger::lock_totals(conn, stock, &locked).await?;
    let (order_id, return_id) = (req.order_id.as_str(), req.return_id.as_str());
    ledger::append(
        conn,
        stock,
        Event::Returned,
        order_id,
        return_id,
        &entries,
        now,
    )
    .await?;
    add_to_lines(conn, order_id, "returned", &totals).await?;
    record_lines(
        conn,
        "order_return_line",
        "return_id",
        return_id,
        &plain,
        Some(&flags),
    )
    .await
}

async fn order_lines(
    conn: &mut PgConnection,
    order_id: &OrderId,
) -> Result<Vec<OrderLine>, RepoError> {
    load_order_lines(conn, order_id).await
}

fn item_settings(item: &LockedItem) -> Result<SourceItemSettings, RepoError> {
    Ok(SourceItemSettings {
        backorders: item
            .backorders
            .as_deref()
            .map(super::rows::backorder_mode)
            .transpose()?,
        out_of_stock_threshold: item
            .out_of_stock_threshold
            .map(super::rows::quantity)
            .transpose()?,
        ..Default::default()
    })
}

/// Reserved lines get a compensation equal to what ships; unmanaged ones reserved nothing.
fn compensations<'a>(lines: &[OrderLine], totals: &'a BTreeMap<Sku, Decimal>) -> Vec<Entry<'a>> {
    totals
        .iter()
        .filter(|(sku, _)| lines.iter().any(|l| &l.sku == *sku && l.reserved))
        .map(|(sku, qty)| Entry {
            sku: sku.as_str(),
            quantity: *qty,
        })
        .collect()
}

async fn move_stock(
    conn: &mut PgConnection,
    lines: &[SourceLine],
    sign: Decimal,
) -> Result<(), RepoError> {
    if lines.is_empty() {
        return Ok(());
    }
    let sources: Vec<&str> = lines.iter().map(|l| l.source.as_str()).collect();
    let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
    let deltas: Vec<Decimal> = lines.iter().map(|l| sign * l.quantity.get()).collect();
    sqlx::query(
        "UPDATE source_item si SET quantity = si.quantity + d.q, updated_at = now() \
         FROM unnest($1::text[], $2::text[], $3::numeric[]) AS d(src, sku, q) \
         WHERE si.source_code = d.src AND si.sku = d.sku",
    )
    .bind(&sources)
    .bind(&skus)
    .bind(&deltas)
    .execute(conn)
    .await?;
    Ok(())
}

async fn add_to_lines(
    conn: &mut PgConnection,
    order_id: &str,
    column: &str,
    totals: &BTreeMap<Sku, Decimal>,
) -> Result<(), RepoError> {
    let skus: Vec<&str> = totals.keys().map(Sku::as_str).collect();
    let quantities: Vec<Decimal> = totals.values().copied().collect();
    let sql = format!(
        "UPDATE order_line l SET {column} = l.{column} + d.q \
         FROM unnest($2::text[], $3::numeric[]) AS d(s, q) WHERE l.order_id = $1 AND l.sku = d.s"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .bind(&skus)
        .bind(&quantities)
        .execute(conn)
        .await?;
    Ok(())
}

async fn record_lines(
    conn: &mut PgConnection,
    table: &str,
    key: &str,
    id: &str,
    lines: &[SourceLine],
    back_to_stock: Option<&[bool]>,
) -> Result<(), RepoError> {
    let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
    let sources: Vec<&str> = lines.iter().map(|l| l.source.as_str()).collect();
    let quantities: Vec<Decimal> = lines.iter().map(|l| l.quantity.get()).collect();
    let sql = match back_to_stock {
        None => format!(
            "INSERT INTO {table} ({key}, sku, source_code, quantity) \
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::numeric[])"
        ),
        Some(_) => format!(
            "INSERT INTO {table} ({key}, sku, source_code, quantity, back_to_stock) \
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::numeric[], $5::bool[])"
        ),
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(&skus)
        .bind(&sources)
        .bind(&quantities);
    if let Some(flags) = back_to_stock {
        query = query.bind(flags);
    }
    query.execute(conn).await?;
    Ok(())
}
