//! The opt-in availability cache: GetSalableQuantities may reuse an answer for exactly its time
//! to live, while reservations and CheckQuantities keep reading what is true now.

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
    support::{TestApp, channel, not_found, stock},
};

async fn spawn_cached(pool: PgPool) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build(pool, listener, Duration::from_secs(5))
        .with_clock(Arc::new(clock.clone()))
        .with_availability_cache(AvailabilityCacheConfig {
            ttl: Duration::from_secs(60),
            max_skus: 1_000,
        });
    (TestApp::spawn_app(app).await, clock)
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
async fn a_cached_answer_lives_exactly_its_time_to_live(pool: PgPool) {
    let (app, clock) = spawn_cached(pool).await;
    app.stock_items(&[("default", "LIST", "10")]).await;
    assert_eq!(app.salable("LIST").await.salable_qty, "10");

    app.reservations()
        .place_order(order("cached-1", vec![line("LIST", "3")]))
        .await
        .unwrap();
    clock.advance(chrono::Duration::seconds(59));
    assert_eq!(
        app.salable("LIST").await.salable_qty,
        "10",
        "within the time to live the listing may show the earlier answer"
    );
    let check = app
        .availability()
        .check_quantities(pb::CheckQuantitiesRequest {
            scope: Some(stock(1)),
            lines: vec![line("LIST", "8")],
            cart_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !check.lines[0].is_salable,
        "CheckQuantities reads what is true now"
    );

    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(app.salable("LIST").await.salable_qty, "7");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_batch_mixes_cached_and_fresh_skus_in_request_order(pool: PgPool) {
    let (app, clock) = spawn_cached(pool).await;
    app.stock_items(&[("default", "A", "1"), ("default", "B", "2")])
        .await;
    assert_eq!(salable_by_channel(&app, &["A"]).await, ["1"]);
    app.stock_items(&[("default", "A", "5"), ("default", "C", "3")])
        .await;
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
    let (app, _clock) = spawn_cached(pool).await;
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
