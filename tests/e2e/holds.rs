//! Cart holds over gRPC: they count until they expire (time injected, no sleeps), a cart's own
//! holds are available to it, and orders consume them.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use sqlx::PgPool;
use stockd::{clock::ManualClock, grpc::pb, repo::MIGRATOR};

use crate::{
    orders::{line, order, refusals},
    support::{TestApp, bad_fields, not_found, stock},
};

fn holds(cart: &str, lines: Vec<pb::QuantityLine>, ttl_seconds: u32) -> pb::SetCartHoldsRequest {
    pb::SetCartHoldsRequest {
        cart_id: cart.into(),
        scope: Some(stock(1)),
        lines,
        ttl_seconds,
    }
}

async fn spawn_with_manual_clock(pool: PgPool) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap());
    let app = TestApp::spawn_with_clock(pool, Arc::new(clock.clone())).await;
    (app, clock)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_hold_stops_counting_the_instant_it_expires(pool: PgPool) {
    let (app, clock) = spawn_with_manual_clock(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    let held = app
        .reservations()
        .set_cart_holds(holds("cart-1", vec![line("A", "4")], 60))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.expires_at.unwrap().seconds, clock_secs(&clock) + 60);
    assert_eq!(app.salable("A").await.salable_qty, "6");
    clock.advance(Duration::seconds(59));
    assert_eq!(app.salable("A").await.salable_qty, "6");
    clock.advance(Duration::seconds(1));
    assert_eq!(
        app.salable("A").await.salable_qty,
        "10",
        "expired at 60 s, no sweeper ran"
    );
    let status = app
        .reservations()
        .extend_cart_holds(pb::ExtendCartHoldsRequest {
            cart_id: "cart-1".into(),
            ttl_seconds: 60,
        })
        .await
        .unwrap_err();
    assert_eq!(
        not_found(status).0,
        "cart holds",
        "an expired hold cannot be revived"
    );
}

fn clock_secs(clock: &ManualClock) -> i64 {
    use stockd::clock::Clock;
    clock.now().timestamp()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn holds_are_replaced_extended_and_released(pool: PgPool) {
    let (app, clock) = spawn_with_manual_clock(pool).await;
    app.stock_items(&[("default", "A", "10"), ("default", "B", "10")])
        .await;
    let mut client = app.reservations();
    client
        .set_cart_holds(holds("cart-1", vec![line("A", "4"), line("B", "1")], 0))
        .await
        .unwrap();
    // Replace: A goes from 4 to 9 (its own 4 are available to it), B is dropped.
    client
        .set_cart_holds(holds("cart-1", vec![line("A", "9")], 0))
        .await
        .unwrap();
    assert_eq!(app.salable("A").await.salable_qty, "1");
    assert_eq!(app.salable("B").await.salable_qty, "10");
    clock.advance(Duration::seconds(590));
    let extended = client
        .extend_cart_holds(pb::ExtendCartHoldsRequest {
            cart_id: "cart-1".into(),
            ttl_seconds: 120,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(extended.holds, 1);
    clock.advance(Duration::seconds(100));
    assert_eq!(
        app.salable("A").await.salable_qty,
        "1",
        "extended past the default 600 s"
    );
    for expected in [1, 0, 0] {
        let released = client
            .release_cart_holds(pb::ReleaseCartHoldsRequest {
                cart_id: "cart-1".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(released.released, expected);
    }
    assert_eq!(app.salable("A").await.salable_qty, "10");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_carts_own_holds_are_available_to_it_and_its_order_consumes_them(pool: PgPool) {
    let (app, _clock) = spawn_with_manual_clock(pool).await;
    app.stock_items(&[("default", "A", "5")]).await;
    let mut client = app.reservations();
    client
        .set_cart_holds(holds("mine", vec![line("A", "5")], 0))
        .await
        .unwrap();
    let status = client
        .set_cart_holds(holds("theirs", vec![line("A", "1")], 0))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "NOT_ENOUGH_QTY".into())]
    );
    let check = |cart: &str| pb::CheckQuantitiesRequest {
        scope: Some(stock(1)),
        lines: vec![line("A", "5")],
        cart_id: cart.into(),
    };
    let mut availability = app.availability();
    let mine = availability
        .check_quantities(check("mine"))
        .await
        .unwrap()
        .into_inner();
    assert!(mine.lines[0].is_salable);
    let anyone = availability
        .check_quantities(check(""))
        .await
        .unwrap()
        .into_inner();
    assert!(!anyone.lines[0].is_salable);

    let status = client
        .place_order(order("o-theirs", vec![line("A", "1")]))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "NOT_ENOUGH_QTY".into())]
    );
    let mut mine = order("o-mine", vec![line("A", "5")]);
    mine.cart_id = "mine".into();
    client.place_order(mine).await.unwrap();
    assert_eq!(
        app.salable("A").await.salable_qty,
        "0",
        "the order replaced the hold"
    );
    let holders = client
        .list_sku_holders(pb::ListSkuHoldersRequest {
            scope: Some(stock(1)),
            sku: "A".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .holders;
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].kind, pb::HolderKind::Order as i32);
    assert_eq!(
        (holders[0].id.as_str(), holders[0].quantity.as_str()),
        ("o-mine", "5")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn holders_list_carts_then_orders_across_pages(pool: PgPool) {
    let (app, _clock) = spawn_with_manual_clock(pool).await;
    app.stock_items(&[("default", "A", "100")]).await;
    let mut client = app.reservations();
    for cart in ["c-2", "c-1"] {
        client
            .set_cart_holds(holds(cart, vec![line("A", "1")], 0))
            .await
            .unwrap();
    }
    client
        .place_order(order("o-1", vec![line("A", "3")]))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_sku_holders(pb::ListSkuHoldersRequest {
                scope: Some(stock(1)),
                sku: "A".into(),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(
            page.holders
                .into_iter()
                .map(|h| (h.id, h.expires_at.is_some())),
        );
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            ("c-1".into(), true),
            ("c-2".into(), true),
            ("o-1".into(), false)
        ]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_hold_requests_change_nothing(pool: PgPool) {
    let (app, _clock) = spawn_with_manual_clock(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    let status = app
        .reservations()
        .set_cart_holds(holds("", vec![line("A", "0")], 3601))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(status),
        ["cart_id", "lines[0].quantity", "ttl_seconds"]
    );
    let status = app
        .reservations()
        .extend_cart_holds(pb::ExtendCartHoldsRequest {
            cart_id: "nobody".into(),
            ttl_seconds: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status), ("cart holds".into(), "nobody".into()));
    let mut request = holds("c", vec![line("A", "1")], 0);
    request.scope = Some(stock(99));
    let status = app
        .reservations()
        .set_cart_holds(request)
        .await
        .unwrap_err();
    assert_eq!(not_found(status).0, "stock");
    assert_eq!(app.salable("A").await.salable_qty, "10");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn setting_the_same_holds_again_in_sequence_or_concurrently_holds_once(pool: PgPool) {
    let (app, _clock) = spawn_with_manual_clock(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    for _ in 0..3 {
        app.reservations()
            .set_cart_holds(holds("cart-1", vec![line("A", "3")], 0))
            .await
            .unwrap();
    }
    assert_eq!(app.salable("A").await.salable_qty, "7");
    let results = crate::orders::futures_join_all((0..3).map(|_| {
        let mut client = app.reservations();
        async move {
            client
                .set_cart_holds(holds("cart-2", vec![line("A", "4")], 0))
                .await
        }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(app.salable("A").await.salable_qty, "3");
}
