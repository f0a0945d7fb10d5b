//! Orders while the database is unreachable: every waiting caller is answered UNAVAILABLE within
//! the pool's acquire timeout (plus a second), not one timeout after another, and orders are
//! placed again by themselves once the database is back.

use std::time::{Duration, Instant};

use sqlx::{PgPool, postgres::PgPoolOptions};
use stockd::{repo::MIGRATOR, startup::Application};
use tokio::net::TcpListener;
use tonic::{Code, IntoRequest};

use crate::{
    orders::{futures_join_all, line, order},
    proxy::Proxy,
    support::{TestApp, eventually},
};

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

#[sqlx::test(migrator = "MIGRATOR")]
async fn waiting_orders_are_answered_unavailable_within_the_acquire_timeout(pool: PgPool) {
    // Arrange: stockd reaches its database only through the proxy.
    let mut proxy = Proxy::to_database(&pool).await;
    let app_pool = PgPoolOptions::new()
        .max_connections(6)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(proxy.connect_options(&pool));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = TestApp::spawn_app(Application::build(
        app_pool,
        listener,
        Duration::from_secs(5),
    ))
    .await;
    app.stock_items(&[("default", "HOT", "100")]).await;

    // Act: the database goes away; six callers arrive a quarter second apart, one of them with
    // a deadline shorter than the acquire timeout.
    proxy.stop().await;
    let calls = (0..6u64).map(|i| {
        let mut client = app.reservations();
        async move {
            tokio::time::sleep(Duration::from_millis(250 * i)).await;
            let mut request = order(&format!("down-{i}"), vec![line("HOT", "1")]).into_request();
            if i == 5 {
                request.set_timeout(Duration::from_secs(1));
            }
            let started = Instant::now();
            let result = client.place_order(request).await;
            (
                i,
                started.elapsed(),
                result.map(|_| ()).map_err(|s| s.code()),
            )
        }
    });
    let answers = futures_join_all(calls).await;

    // Assert: each was answered in time, and none was placed.
    for (i, took, result) in &answers {
        // The caller with a deadline is answered before it, or its client gives up at it.
        let expected: &[Code] = if *i == 5 {
            &[Code::Unavailable, Code::DeadlineExceeded]
        } else {
            &[Code::Unavailable]
        };
        assert!(
            result.is_err_and(|code| expected.contains(&code)),
            "caller {i}: {result:?}"
        );
        let limit = if *i == 5 {
            Duration::from_millis(1500)
        } else {
            ACQUIRE_TIMEOUT + Duration::from_secs(1)
        };
        assert!(took <= &limit, "caller {i} waited {took:?}: {answers:?}");
    }

    // Act 2: the database comes back on the same address; Assert 2: orders are placed again.
    proxy.resume().await;
    eventually("orders placed again", || {
        let mut client = app.reservations();
        async move {
            client
                .place_order(order("after", vec![line("HOT", "1")]))
                .await
                .ok()
        }
    })
    .await;
    let ledger: i64 = sqlx::query_scalar("SELECT count(*) FROM sales_order")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(ledger, 1, "only the order after the outage");
    app.stop().await;
    proxy.stop().await;
}
