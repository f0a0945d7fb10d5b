//! An order whose caller gives up while it waits for a batch is not placed, so an overloaded
//! service spends the database only on callers still waiting, and the caller's retry places it.

use std::time::Duration;

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR, startup::Application};
use tokio::net::TcpListener;
use tonic::Code;

use crate::{
    orders::{line, order},
    support::{TestApp, eventually},
    telemetry::{sample, scrape},
};

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_order_whose_caller_left_while_it_waited_is_not_placed_and_its_retry_is(pool: PgPool) {
    // Arrange: a stockd with metrics, ten mugs, and the mugs' totals row locked from outside, so
    // the first order's batch blocks on it and the next order of mugs has to wait.
    let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics_listener.local_addr().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = TestApp::spawn_app(
        Application::build(pool.clone(), listener, Duration::from_secs(5))
            .with_metrics_listener(metrics_listener),
    )
    .await;
    app.stock_items(&[("default", "MUG", "10")]).await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM stock_sku_reservation WHERE sku = 'MUG' FOR UPDATE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut first = app.reservations();
    let first = tokio::spawn(async move {
        first
            .place_order(order("first", vec![line("MUG", "1")]))
            .await
    });

    eventually("the first order's batch to wait for the lock", || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;

    // Act: the second caller gives up while its order waits behind the blocked batch.
    let mut gone = app.reservations();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        gone.place_order(order("gone", vec![line("MUG", "1")])),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the order cannot be answered while MUG is locked"
    );
    eventually("the server to see the caller leave", || async {
        let text = scrape(metrics_addr).await;
        let cancelled = sample(
            &text,
            "stockd_grpc_requests_total",
            &[("method", "PlaceOrder"), ("code", "CANCELLED")],
        );
        (cancelled == Some(1.0)).then_some(())
    })
    .await;
    lock.rollback().await.unwrap();
    first.await.unwrap().unwrap();
    // Orders of one SKU are judged in arrival order: once a later one is answered, the
    // abandoned one has been either placed or dropped.
    app.reservations()
        .place_order(order("later", vec![line("MUG", "1")]))
        .await
        .unwrap();

    // Assert: dropped, counted, and placed by its retry.
    let lookup = app
        .reservations()
        .get_order(pb::GetOrderRequest {
            order_id: "gone".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound, "{lookup:?}");
    assert_eq!(app.salable("MUG").await.salable_qty, "8");
    let text = scrape(metrics_addr).await;
    assert_eq!(
        sample(&text, "stockd_orders_abandoned_total", &[]),
        Some(1.0),
        "{text}"
    );
    app.reservations()
        .place_order(order("gone", vec![line("MUG", "1")]))
        .await
        .unwrap();
    assert_eq!(app.salable("MUG").await.salable_qty, "7");
}
