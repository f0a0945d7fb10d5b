//! Reservations in the repository: a property test of random holds, orders, cancels and time,
//! and compaction that never changes a salable quantity.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{Duration, TimeZone, Utc};
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, TestRunner},
};
use rust_decimal::Decimal;
use sqlx::PgPool;
use stockd::{
    clock::ManualClock,
    domain::{
        BackorderMode, CancellationId, CartId, HoldPolicy, OrderId, Quantity, SalesChannel, Sku,
        SourceCode, SourceItemStatus, StockId,
        settings_patch::{SettingValues, SettingsPatch},
    },
    repo::{
        MIGRATOR, OrderBatching, Repo, RepoError,
        availability::StockScope,
        holds::HoldRequest,
        orders::{CancelRequest, OrderRequest},
        source_items::SourceItemWrite,
    },
};

#[derive(Debug, Clone)]
enum Op {
    Hold { cart: u8, qty: u8 },
    Release { cart: u8 },
    Order { cart: Option<u8>, qty: u8 },
    Cancel { order: usize, qty: Option<u8> },
    Wait { secs: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, 1u8..7).prop_map(|(cart, qty)| Op::Hold { cart, qty }),
        (0u8..3).prop_map(|cart| Op::Release { cart }),
        (prop::option::of(0u8..3), 1u8..7).prop_map(|(cart, qty)| Op::Order { cart, qty }),
        (0usize..8, prop::option::of(1u8..4)).prop_map(|(order, qty)| Op::Cancel { order, qty }),
        (1u16..400).prop_map(|secs| Op::Wait { secs }),
    ]
}

/// One SKU: on hand, and the product's backorder mode and threshold.
#[derive(Debug, Clone)]
struct Product {
    on_hand: u8,
    backorders: bool,
    threshold: i8,
}

fn product() -> impl Strategy<Value = Product> {
    (0u8..15, any::<bool>(), -10i8..3).prop_map(|(on_hand, backorders, threshold)| Product {
        on_hand,
        backorders,
        threshold,
    })
}

/// What the service should hold, computed without it.
#[derive(Debug, Default)]
struct Model {
    /// Open quantity per order id.
    orders: Vec<(String, i64)>,
    /// cart → (quantity, expiry in seconds of model time).
    holds: BTreeMap<u8, (i64, i64)>,
    now: i64,
}

impl Model {
    /// The DOMAIN §3 contribution of the single source, and whether it is unlimited.
    fn contribution(p: &Product) -> (i64, bool) {
        let (q, m) = (i64::from(p.on_hand), i64::from(p.threshold));
        match (p.backorders, m < 0) {
            (false, _) => (q - m.max(0), false),
            (true, true) => (q - m, false),
            (true, false) => (q - m, true),
        }
    }

    fn live_holds(&self, except: Option<u8>) -> i64 {
        self.holds
            .iter()
            .filter(|(cart, (_, expiry))| *expiry > self.now && Some(**cart) != except)
            .map(|(_, (qty, _))| qty)
            .sum()
    }

    fn salable(&self, p: &Product, except: Option<u8>) -> i64 {
        let open: i64 = self.orders.iter().map(|(_, q)| q).sum();
        Self::contribution(p).0 - open - self.live_holds(except)
    }

    fn fits(&self, p: &Product, qty: i64, cart: Option<u8>) -> bool {
        Self::contribution(p).1 || self.salable(p, cart) >= qty
    }
}

const TTL: i64 = 600;

async fn run_case(repo: &Repo, clock: &ManualClock, case: usize, p: &Product, ops: &[Op]) {
    let sku = Sku::parse(&format!("P{case}")).unwrap();
    let qty = |n: i64| Quantity::from_decimal(Decimal::from(n)).unwrap();
    repo.upsert_source_items(&[SourceItemWrite {
        source: SourceCode::default_source(),
        sku: sku.clone(),
        quantity: qty(p.on_hand.into()),
        status: SourceItemStatus::InStock,
    }])
    .await
    .unwrap();
    let patch = SettingsPatch {
        set: SettingValues {
            backorders: Some(if p.backorders {
                BackorderMode::Allow
            } else {
                BackorderMode::No
            }),
            out_of_stock_threshold: Some(qty(p.threshold.into())),
            ..SettingValues::default()
        },
        clear: vec![],
    };
    repo.update_product_settings(&sku, &patch).await.unwrap();
    let cart_id = |c: u8| CartId::parse(&format!("case{case}-cart{c}")).unwrap();
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let context = format!("case {case} {p:?} step {step} {op:?} {model:?}");
        match op {
            Op::Hold { cart, qty: n } => {
                let n = i64::from(*n);
                let result = repo
                    .set_cart_holds(&HoldRequest {
                        cart: cart_id(*cart),
                        stock: StockId::DEFAULT,
                        lines: vec![(sku.clone(), qty(n))],
                        ttl_secs: TTL as u32,
                    })
                    .await;
                let expected = model.fits(p, n, Some(*cart));
                assert_eq!(result.is_ok(), expected, "{context}: {result:?}");
                if expected {
                    model.holds.insert(*cart, (n, model.now + TTL));
                }
            }
            Op::Release { cart } => {
                repo.release_cart_holds(&cart_id(*cart)).await.unwrap();
                model.holds.remove(cart);
            }
            Op::Order { cart, qty: n } => {
                let n = i64::from(*n);
                let id = format!("case{case}-order{step}");
                let result = repo
                    .place_order(&OrderRequest {
                        order_id: OrderId::parse(&id).unwrap(),
                        channel: SalesChannel::default_website(),
                        cart: cart.map(cart_id),
                        lines: vec![(sku.clone(), qty(n))],
                    })
                    .await;
                let expected = model.fits(p, n, *cart);
                assert_eq!(result.is_ok(), expected, "{context}: {result:?}");
                if expected {
                    model.orders.push((id, n));
                    if let Some(cart) = cart {
                        model.holds.remove(cart);
                    }
                } else {
                    assert!(matches!(result, Err(RepoError::Refused(_))), "{context}");
                }
            }
            Op::Cancel { order, qty: n } => {
                let Some((id, open)) = model.orders.get_mut(*order) else {
                    continue;
                };
                let want = n.map_or(*open, i64::from);
                let result = repo
                    .cancel_order(&CancelRequest {
                        order_id: OrderId::parse(id).unwrap(),
                        cancellation_id: CancellationId::parse(&format!("s{step}")).unwrap(),
                        lines: n
                            .map(|_| vec![(sku.clone(), qty(want))])
                            .unwrap_or_default(),
                    })
                    .await;
                assert_eq!(result.is_ok(), want <= *open, "{context}: {result:?}");
                if want <= *open {
                    *open -= want;
                }
            }
            Op::Wait { secs } => {
                clock.advance(Duration::seconds((*secs).into()));
                model.now += i64::from(*secs);
            }
        }
        let salable = repo
            .salable_quantities(
                &StockScope::Stock(StockId::DEFAULT),
                std::slice::from_ref(&sku),
            )
            .await
            .unwrap()
            .1
            .remove(0);
        assert_eq!(
            salable.salable_qty,
            Decimal::from(model.salable(p, None)),
            "{context}"
        );
        let (limit, unlimited) = Model::contribution(p);
        if !unlimited {
            // Reservations never take more than the limit allows (a threshold above on-hand
            // makes salable negative with nothing reserved; then nothing may be reserved).
            let reserved = limit - model.salable(p, None);
            assert!(
                reserved <= limit.max(0),
                "past the backorder limit: {context}"
            );
        }
    }
}

/// Random sequences drawn with proptest's generators; each case uses its own SKU and carts.
#[sqlx::test(migrator = "MIGRATOR")]
async fn random_holds_orders_cancels_and_time_keep_salable_exact(pool: PgPool) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap());
    let policy = HoldPolicy {
        default_ttl_secs: TTL as u32,
        max_ttl_secs: 3600,
    };
    // As production runs it: orders in batches, availability answered from the cache.
    let stop = tokio_util::sync::CancellationToken::new();
    let repo = Repo::with_clock(pool, Arc::new(clock.clone()), policy)
        .with_availability_cache(stockd::config::DEPLOYED_AVAILABILITY_CACHE)
        .with_change_notices(stop.clone())
        .with_order_batching(OrderBatching::default());
    let mut runner = TestRunner::new(Config::default());
    let strategy = (product(), prop::collection::vec(op(), 1..25));
    for case in 0..40 {
        let (p, ops) = strategy.new_tree(&mut runner).unwrap().current();
        run_case(&repo, &clock, case, &p, &ops).await;
    }
    stop.cancel();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn compaction_removes_history_without_changing_salable_quantities(pool: PgPool) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap());
    let repo = Repo::with_clock(
        pool.clone(),
        Arc::new(clock.clone()),
        stockd::repo::DEFAULT_HOLD_POLICY,
    );
    let p = Product {
        on_hand: 10,
        backorders: false,
        threshold: 0,
    };
    run_case(&repo, &clock, 0, &p, &[]).await;
    let sku = Sku::parse("P0").unwrap();
    let q = |n: i64| Quantity::from_decimal(Decimal::from(n)).unwrap();
    for i in 0..5 {
        let order_id = OrderId::parse(&format!("o{i}")).unwrap();
        repo.place_order(&OrderRequest {
            order_id: order_id.clone(),
            channel: SalesChannel::default_website(),
            cart: None,
            lines: vec![(sku.clone(), q(1))],
        })
        .await
        .unwrap();
        if i < 3 {
            repo.cancel_order(&CancelRequest {
                order_id,
                cancellation_id: CancellationId::parse("all").unwrap(),
                lines: vec![],
            })
            .await
            .unwrap();
        }
    }
    repo.set_cart_holds(&HoldRequest {
        cart: CartId::parse("c").unwrap(),
        stock: StockId::DEFAULT,
        lines: vec![(sku.clone(), q(1))],
        ttl_secs: 60,
    })
    .await
    .unwrap();
    clock.advance(Duration::seconds(61));
    let salable = || async {
        repo.salable_quantities(
            &StockScope::Stock(StockId::DEFAULT),
            std::slice::from_ref(&sku),
        )
        .await
        .unwrap()
        .1
        .remove(0)
        .salable_qty
    };
    let before = salable().await;
    assert_eq!(before, Decimal::from(8));
    let done = repo.compact(2).await.unwrap();
    assert_eq!(
        (done.expired_holds, done.orders, done.ledger_rows),
        (1, 2, 4)
    );
    let done = repo.compact(100).await.unwrap();
    assert_eq!(
        (done.expired_holds, done.orders, done.ledger_rows),
        (0, 1, 2),
        "3 closed orders, 2 rows each, removed whole"
    );
    let done = repo.compact(100).await.unwrap();
    assert_eq!((done.orders, done.ledger_rows), (0, 0));
    assert_eq!(salable().await, before);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM reservation")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 2, "the open orders keep their rows");
}
