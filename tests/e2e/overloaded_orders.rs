//! PlaceOrder when orders queue up: an order whose caller gives up while it waits is not placed,
//! and an order whose deadline the queue would outlast is refused at once, so an overloaded
//! service spends the database only on callers it can still answer in time.

use std::{net::SocketAddr, time::Duration};

use sqlx::{PgPool, Postgres, Transaction};
use stockd::{grpc::pb, repo::MIGRATOR, startup::Application};
use tokio::{net::TcpListener, task::JoinHandle};
use tonic::{Code, Response, Status};
use tonic_types::StatusExt;

use crate::{
    orders::{line, order},
    support::{TestApp, eventually},
    telemetry::{sample, scrape},
};

type Placed = Result<Response<pb::PlaceOrderResponse>, Status>;

/// A stockd with ten mugs whose totals row is locked from outside: the order `first` is in a
/// batch that blocks on the lock, so every later order of mugs has to wait in the queue.
struct BlockedMugs {
    app: TestApp,
    metrics: SocketAddr,
    lock: Transaction<'static, Postgres>,
    first: JoinHandle<Placed>,
}

impl BlockedMugs {
    async fn start(pool: PgPool) -> Self {
        let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = metrics_listener.local_addr().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = TestApp::spawn_app(
            Application::build(pool.clone(), listener, Duration::from_secs(5))
                .with_metrics_listener(metrics_listener),
        )
        .await;
        app.stock_items(&[("default", "MUG", "10")]).await;
        let mut lock = pool.begin().await.unwrap();
        sqlx::query("SELECT 1 FROM stock_sku WHERE sku = 'MUG' FOR UPDATE")
            .execute(&mut *lock)
            .await
            .unwrap();
        let first = spawn_order(&app, "first");
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
        Self {
            app,
            metrics,
            lock,
            first,
        }
    }

    /// Lets the first batch go and waits for its answer.
    async fn release(self) -> (TestApp, SocketAddr) {
        self.lock.rollback().await.unwrap();
        self.first.await.unwrap().unwrap();
        (self.app, self.metrics)
    }
}

/// Places a one-mug order in the background.
fn spawn_order(app: &TestApp, id: &str) -> JoinHandle<Placed> {
    let mut client = app.reservations();
    let request = order(id, vec![line("MUG", "1")]);
    tokio::spawn(async move { client.place_order(request).await })
}

/// Asserts that `order_id` was never placed, that MUG's salable quantity is `salable`, and that
/// the metric `dropped` (the way the order was dropped) counts exactly one order.
async fn assert_dropped(
    app: &TestApp,
    metrics: SocketAddr,
    order_id: &str,
    salable: &str,
    dropped: &str,
) {
    let lookup = app
        .reservations()
        .get_order(pb::GetOrderRequest {
            order_id: order_id.into(),
        })
        .await;
    assert!(
        matches!(&lookup, Err(status) if status.code() == Code::NotFound),
        "{order_id} was placed: {lookup:?}"
    );
    assert_eq!(app.salable("MUG").await.salable_qty, salable);
    assert_eq!(sample(&scrape(metrics).await, dropped, &[]), Some(1.0));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_order_whose_caller_left_while_it_waited_is_not_placed_and_its_retry_is(pool: PgPool) {
    // Arrange
    let blocked = BlockedMugs::start(pool).await;

    // Act: the second caller gives up while its order waits behind the blocked batch.
    let mut gone = blocked.app.reservations();
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
        let text = scrape(blocked.metrics).await;
        let cancelled = sample(
            &text,
            "stockd_grpc_requests_total",
            &[("method", "PlaceOrder"), ("code", "CANCELLED")],
        );
        (cancelled == Some(1.0)).then_some(())
    })
    .await;
    let (app, metrics) = blocked.release().await;
    // Orders of one SKU are judged in arrival order: once a later one is answered, the
    // abandoned one has been either placed or dropped.
    app.reservations()
        .place_order(order("later", vec![line("MUG", "1")]))
        .await
        .unwrap();

    // Assert: dropped, counted, and placed by its retry.
    assert_dropped(&app, metrics, "gone", "8", "stockd_orders_abandoned_total").await;
    app.reservations()
        .place_order(order("gone", vec![line("MUG", "1")]))
        .await
        .unwrap();
    assert_eq!(app.salable("MUG").await.salable_qty, "7");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_order_whose_deadline_the_queue_would_outlast_is_refused_at_once(pool: PgPool) {
    // Arrange: an order without a deadline has waited in the queue for 300 ms.
    let blocked = BlockedMugs::start(pool).await;
    let patient = spawn_order(&blocked.app, "patient");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act: one caller allows 100 ms, another 30 s.
    let mut hurried = tonic::Request::new(order("hurried", vec![line("MUG", "1")]));
    hurried.set_timeout(Duration::from_millis(100));
    let refused = blocked
        .app
        .reservations()
        .place_order(hurried)
        .await
        .unwrap_err();
    let mut relaxed = tonic::Request::new(order("relaxed", vec![line("MUG", "1")]));
    relaxed.set_timeout(Duration::from_secs(30));
    let mut client = blocked.app.reservations();
    let relaxed = tokio::spawn(async move { client.place_order(relaxed).await });

    // Assert: the hurried order is refused as retryable, not placed and counted; the others
    // are placed once the batch goes.
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let details = refused.get_error_details();
    assert!(details.retry_info().is_some(), "{details:?}");
    assert_eq!(
        details.error_info().map(|info| info.reason.as_str()),
        Some("OVERLOADED")
    );
    let (app, metrics) = blocked.release().await;
    patient.await.unwrap().unwrap();
    relaxed.await.unwrap().unwrap();
    assert_dropped(&app, metrics, "hurried", "7", "stockd_orders_shed_total").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_sku_locked_elsewhere_neither_refuses_nor_holds_up_orders_of_other_skus(pool: PgPool) {
    // Arrange: mugs are locked from outside and an order of mugs has waited 300 ms behind the
    // stuck batch; pens are free.
    let blocked = BlockedMugs::start(pool).await;
    blocked.app.stock_items(&[("default", "PEN", "5")]).await;
    let patient = spawn_order(&blocked.app, "patient");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act: an order of pens and one of mugs, each allowing 400 ms.
    let mut pens = tonic::Request::new(order("pens", vec![line("PEN", "1")]));
    pens.set_timeout(Duration::from_millis(400));
    let pens = blocked.app.reservations().place_order(pens).await;
    let mut mugs = tonic::Request::new(order("mugs", vec![line("MUG", "1")]));
    mugs.set_timeout(Duration::from_millis(400));
    let mugs = blocked.app.reservations().place_order(mugs).await;

    // Assert: the pens are placed while the mugs are still locked; the mugs, which would wait
    // behind the patient order, are refused.
    let pens = pens.expect("the pen order goes beside the stuck batch");
    assert_eq!(pens.into_inner().order_id, "pens");
    assert_eq!(blocked.app.salable("PEN").await.salable_qty, "4");
    let refused = mugs.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let (app, metrics) = blocked.release().await;
    patient.await.unwrap().unwrap();
    assert_dropped(&app, metrics, "mugs", "8", "stockd_orders_shed_total").await;
    assert_eq!(
        sample(
            &scrape(metrics).await,
            "stockd_order_batches_stuck_total",
            &[]
        ),
        Some(1.0),
        "the batch that waited for the lock"
    );
}
