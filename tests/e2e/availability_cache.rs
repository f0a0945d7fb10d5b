//! The opt-in availability cache: GetSalableQuantities reuses answers until a change notice, a
//! counted hold's expiry or the time to live ends them, while reservations and CheckQuantities
//! keep reading what is true now.

use std::{sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use sqlx::PgPool;
use stockd::{
    clock::ManualClock,
    grpc::pb,
    repo::{AvailabilityCacheConfig, MIGRATOR},
    startup::Application,
};
use tokio::net::TcpListener;

use crate::{
    orders::{line, order},
    support::{TestApp, channel, eventually, not_found, own_database_url, stock},
    telemetry::{sample, scrape},
};

/// A cached replica with a manual clock, and the database to write behind its back.
async fn spawn_cached(pool: &PgPool, ttl_secs: u64) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap());
    let app = build(pool, Some(ttl_secs), clock.clone()).await;
    wait_until_cached(&app, pool).await;
    (app, clock)
}

/// A replica on its own connection pool (the caller's pool stays open for direct SQL).
async fn build(pool: &PgPool, ttl_secs: Option<u64>, clock: ManualClock) -> TestApp {
    build_with_metrics(pool, ttl_secs, clock, None).await
}

/// As `build`, serving metrics on `metrics` when given.
async fn build_with_metrics(
    pool: &PgPool,
    ttl_secs: Option<u64>,
    clock: ManualClock,
    metrics: Option<TcpListener>,
) -> TestApp {
    let own = PgPool::connect(&own_database_url(pool)).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut app =
        Application::build(own, listener, Duration::from_secs(5)).with_clock(Arc::new(clock));
    if let Some(metrics) = metrics {
        app = app.with_metrics_listener(metrics);
    }
    // `None` turns the cache off: such a replica reads PostgreSQL on every call, the reference
    // the cached replica's answers are compared with.
    app = app.with_availability_cache(AvailabilityCacheConfig {
        ttl: Duration::from_secs(ttl_secs.unwrap_or(0)),
        max_skus: 1_000,
    });
    TestApp::spawn_app(app).await
}

/// Changes a source item behind stockd's back: no change notice is sent.
async fn set_quantity_directly(pool: &PgPool, sku: &str, quantity: i32) {
    sqlx::query("UPDATE source_item SET quantity = $2 WHERE sku = $1")
        .bind(sku)
        .bind(rust_decimal::Decimal::from(quantity))
        .execute(pool)
        .await
        .unwrap();
}

/// The cache serves only once it listens for change notices; until then answers are read fresh.
/// Waits until a change made behind stockd's back stays unseen, i.e. answers come from the cache.
async fn wait_until_cached(app: &TestApp, pool: &PgPool) {
    app.stock_items(&[("default", "PROBE", "1")]).await;
    let mut quantity = 1;
    eventually("the availability cache to listen", || {
        quantity += 1;
        async move {
            let _ = app.salable("PROBE").await;
            set_quantity_directly(pool, "PROBE", quantity).await;
            (app.salable("PROBE").await.salable_qty != quantity.to_string()).then_some(())
        }
    })
    .await;
}

async fn salable_by_channel(app: &TestApp, skus: &[&str]) -> Vec<String> {
    app.availability()
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(channel("website", "base")),
            skus: skus.iter().map(|s| (*s).into()).collect(),
        })
        .await
        .unwrap()
        .into_inner()
        .items
        .into_iter()
        .map(|i| i.salable_qty)
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn own_writes_show_at_once_and_writes_behind_its_back_after_the_time_to_live(pool: PgPool) {
    let (app, clock) = spawn_cached(&pool, 60).await;
    app.stock_items(&[("default", "LIST", "10")]).await;
    assert_eq!(app.salable("LIST").await.salable_qty, "10");

    app.reservations()
        .place_order(order("cached-1", vec![line("LIST", "3")]))
        .await
        .unwrap();
    assert_eq!(
        app.salable("LIST").await.salable_qty,
        "7",
        "a replica reads its own writes"
    );

    set_quantity_directly(&pool, "LIST", 20).await;
    clock.advance(chrono::Duration::seconds(59));
    assert_eq!(
        app.salable("LIST").await.salable_qty,
        "7",
        "a write outside stockd sends no notice: the listing may lag it for the time to live"
    );
    let check = app
        .availability()
        .check_quantities(pb::CheckQuantitiesRequest {
            scope: Some(stock(1)),
            lines: vec![line("LIST", "17")],
            cart_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        check.lines[0].is_salable,
        "CheckQuantities reads what is true now"
    );

    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(app.salable("LIST").await.salable_qty, "17");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_neighbours_writes_reach_the_cache_by_change_notice(pool: PgPool) {
    let (cached, _clock) = spawn_cached(&pool, 3_600).await;
    let writer = build(&pool, None, ManualClock::new(Utc::now())).await;
    writer.stock_items(&[("default", "N", "10")]).await;
    // The writer reads uncached: the cached replica must come to agree with it.
    let agree = |expected: &'static str| {
        let (cached, writer) = (&cached, &writer);
        async move {
            assert_eq!(writer.salable("N").await.salable_qty, expected);
            eventually(
                &format!("the cached replica to show {expected}"),
                || async { (cached.salable("N").await.salable_qty == expected).then_some(()) },
            )
            .await;
        }
    };
    agree("10").await;

    writer
        .reservations()
        .place_order(order("neighbour-1", vec![line("N", "4")]))
        .await
        .unwrap();
    agree("6").await;

    writer
        .reservations()
        .set_cart_holds(pb::SetCartHoldsRequest {
            cart_id: "cart-n".into(),
            scope: Some(stock(1)),
            lines: vec![line("N", "2")],
            ttl_seconds: 600,
        })
        .await
        .unwrap();
    agree("4").await;
    writer
        .reservations()
        .release_cart_holds(pb::ReleaseCartHoldsRequest {
            cart_id: "cart-n".into(),
        })
        .await
        .unwrap();
    agree("6").await;

    writer
        .sources()
        .set_source_enabled(pb::SetSourceEnabledRequest {
            code: "default".into(),
            enabled: false,
        })
        .await
        .unwrap();
    // No source left: nothing on hand, and the order still reserves its 4.
    agree("-4").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_answer_that_counts_a_hold_ends_when_the_hold_expires(pool: PgPool) {
    let (app, clock) = spawn_cached(&pool, 3_600).await;
    app.stock_items(&[("default", "H", "10")]).await;
    app.reservations()
        .set_cart_holds(pb::SetCartHoldsRequest {
            cart_id: "cart-h".into(),
            scope: Some(stock(1)),
            lines: vec![line("H", "2")],
            ttl_seconds: 120,
        })
        .await
        .unwrap();
    assert_eq!(app.salable("H").await.salable_qty, "8");
    clock.advance(chrono::Duration::seconds(119));
    assert_eq!(app.salable("H").await.salable_qty, "8");
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        app.salable("H").await.salable_qty,
        "10",
        "an expired hold stops counting though nothing was written"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_batch_mixes_cached_and_fresh_skus_in_request_order(pool: PgPool) {
    let (app, clock) = spawn_cached(&pool, 60).await;
    app.stock_items(&[("default", "A", "1"), ("default", "B", "2")])
        .await;
    assert_eq!(salable_by_channel(&app, &["A"]).await, ["1"]);
    set_quantity_directly(&pool, "A", 5).await;
    app.stock_items(&[("default", "C", "3")]).await;
    clock.advance(chrono::Duration::seconds(30));
    assert_eq!(
        salable_by_channel(&app, &["C", "A", "B", "UNKNOWN"]).await,
        ["3", "1", "2", "0"],
        "A comes from the cache, the others are read now"
    );
    clock.advance(chrono::Duration::seconds(30));
    assert_eq!(salable_by_channel(&app, &["A", "C"]).await, ["5", "3"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unknown_scopes_are_still_not_found(pool: PgPool) {
    let (app, _clock) = spawn_cached(&pool, 60).await;
    for _ in 0..2 {
        let status = app
            .availability()
            .get_salable_quantities(pb::GetSalableQuantitiesRequest {
                scope: Some(stock(42)),
                skus: vec!["A".into()],
            })
            .await
            .unwrap_err();
        assert_eq!(not_found(status), ("stock".into(), "42".into()));
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_metrics_endpoint_shows_the_cache_at_work(pool: PgPool) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap());
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    let app = build_with_metrics(&pool, Some(60), clock, Some(metrics)).await;
    wait_until_cached(&app, &pool).await;
    app.stock_items(&[("default", "M", "5")]).await;
    let skus = |text: &str, source: &str| {
        sample(
            text,
            "stockd_availability_cache_skus_total",
            &[("source", source)],
        )
        .unwrap()
    };
    let before = scrape(metrics_addr).await;
    assert_eq!(app.salable("M").await.salable_qty, "5");
    assert_eq!(app.salable("M").await.salable_qty, "5");
    let after = scrape(metrics_addr).await;

    assert_eq!(
        sample(&after, "stockd_availability_cache_listening", &[]),
        Some(1.0)
    );
    assert!(sample(&after, "stockd_availability_cache_entries", &[]).unwrap() >= 1.0);
    assert_eq!(skus(&after, "database") - skus(&before, "database"), 1.0);
    assert_eq!(skus(&after, "cache") - skus(&before, "cache"), 1.0);
}
