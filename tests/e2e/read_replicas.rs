//! Read replicas on real streaming standbys: reads that feed no decision go to a caught-up
//! standby, a standby behind the bound or stopped is skipped, and writes and checks stay on the
//! primary (docs/decisions/0012-read-replicas.md).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use stockd::{
    grpc::pb,
    repo::{AvailabilityCacheConfig, MIGRATOR},
    startup::Application,
};
use tokio::net::TcpListener;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    pg_cluster::Cluster,
    support::{TestApp, eventually, stock},
    telemetry::{sample, scrape},
};

/// A primary, one standby of it, and stockd reading from both.
struct Setup {
    primary: Cluster,
    standby: Cluster,
    app: TestApp,
    metrics: SocketAddr,
}

const CACHE_OFF: AvailabilityCacheConfig = AvailabilityCacheConfig {
    ttl: Duration::ZERO,
    max_skus: 1,
};

async fn setup(max_lag: Duration, cache: AvailabilityCacheConfig) -> Setup {
    let primary = Cluster::primary().await;
    let pool = primary.pool();
    MIGRATOR.run(&pool).await.unwrap();
    let standby = Cluster::standby_of(&primary).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = metrics_listener.local_addr().unwrap();
    let app = Application::build(pool, listener, Duration::from_secs(5))
        .with_availability_cache(cache)
        .with_metrics_listener(metrics_listener)
        .with_read_replicas(vec![standby.pool()], max_lag);
    let app = TestApp::spawn_app(app).await;
    Setup {
        primary,
        standby,
        app,
        metrics,
    }
}

impl Setup {
    async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        sample(&scrape(self.metrics).await, name, labels)
    }

    async fn replica_reads(&self) -> f64 {
        let labels = [("target", "replica")];
        self.metric("stockd_routed_reads_total", &labels)
            .await
            .unwrap_or(0.0)
    }

    /// Waits until the standby counts as caught up with everything committed before `since`.
    async fn caught_up_since(&self, since: Instant) {
        eventually("the standby to catch up", || async {
            let lag = self.metric("stockd_read_replica_lag_seconds", &[]).await?;
            let healthy = self.metric("stockd_read_replicas_healthy", &[]).await?;
            (healthy == 1.0 && lag + 0.01 < since.elapsed().as_secs_f64()).then_some(())
        })
        .await;
    }

    async fn healthy_replicas(&self) -> f64 {
        self.metric("stockd_read_replicas_healthy", &[])
            .await
            .unwrap()
    }
}

async fn salable(app: &TestApp, sku: &str) -> String {
    app.salable(sku).await.salable_qty
}

async fn listed_quantity(app: &TestApp, sku: &str) -> String {
    let items = app
        .items()
        .list_source_items(pb::ListSourceItemsRequest {
            filter: Some(pb::list_source_items_request::Filter::Sku(sku.into())),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    items[0].quantity.clone()
}

async fn can_sell(app: &TestApp, sku: &str, quantity: &str) -> bool {
    let checked = app
        .availability()
        .check_quantities(pb::CheckQuantitiesRequest {
            scope: Some(stock(1)),
            lines: vec![pb::QuantityLine {
                sku: sku.into(),
                quantity: quantity.into(),
            }],
            cart_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    checked.lines[0].is_salable
}

async fn serving(app: &TestApp) -> ServingStatus {
    let mut health = HealthClient::new(app.channel.clone());
    let answer = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    answer.into_inner().status()
}

/// Sets a quantity behind stockd's back, on the primary: no change notice, so only the
/// server a read goes to decides what it sees.
async fn set_quantity_on_primary(primary: &Cluster, sku: &str, quantity: u32) {
    primary
        .execute(&format!(
            "UPDATE source_item SET quantity = {quantity} WHERE sku = '{sku}'"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_a_caught_up_replica_while_checks_and_writes_stay_on_the_primary() {
    // Arrange: the standby holds 5, then stops replaying; the primary moves on to 9.
    let setup = setup(Duration::from_secs(3), CACHE_OFF).await;
    let app = &setup.app;
    app.stock_items(&[("default", "A", "5")]).await;
    setup.caught_up_since(Instant::now()).await;
    setup.standby.execute("SELECT pg_wal_replay_pause()").await;
    set_quantity_on_primary(&setup.primary, "A", 9).await;

    // Act
    let listed = salable(app, "A").await;
    let in_list = listed_quantity(app, "A").await;
    let checked = can_sell(app, "A", "7").await;
    let placed = app
        .reservations()
        .place_order(pb::PlaceOrderRequest {
            order_id: "o-1".into(),
            sales_channel: Some(pb::SalesChannel {
                r#type: "website".into(),
                code: "base".into(),
            }),
            cart_id: String::new(),
            lines: vec![pb::QuantityLine {
                sku: "A".into(),
                quantity: "7".into(),
            }],
        })
        .await;

    // Assert: the reads saw the standby's 5; the check and the order saw the primary's 9, and
    // the order was written there (a standby refuses writes).
    assert_eq!(listed, "5");
    assert_eq!(in_list, "5");
    assert!(checked, "CheckQuantities reads the primary");
    assert!(placed.is_ok(), "{placed:?}");
    assert!(setup.replica_reads().await >= 2.0);
    assert_eq!(setup.healthy_replicas().await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_behind_the_bound_is_skipped_and_the_primary_answers_fresh() {
    // Arrange
    let setup = setup(Duration::from_millis(200), CACHE_OFF).await;
    let app = &setup.app;
    app.stock_items(&[("default", "A", "5")]).await;
    setup.caught_up_since(Instant::now()).await;
    let reads_before = setup.replica_reads().await;
    assert_eq!(salable(app, "A").await, "5");
    assert_eq!(setup.replica_reads().await, reads_before + 1.0);

    // Act: the standby stops replaying while the primary changes.
    setup.standby.execute("SELECT pg_wal_replay_pause()").await;
    set_quantity_on_primary(&setup.primary, "A", 9).await;

    // Assert: within the bound reads turn to the primary, and stay there.
    eventually("reads to turn to the primary", || async {
        (salable(app, "A").await == "9").then_some(())
    })
    .await;
    assert_eq!(setup.healthy_replicas().await, 0.0);
    let skipped_from = setup.replica_reads().await;
    for _ in 0..5 {
        assert_eq!(salable(app, "A").await, "9");
    }
    assert_eq!(setup.replica_reads().await, skipped_from);

    // And once it replays again it serves again.
    setup.standby.execute("SELECT pg_wal_replay_resume()").await;
    setup.caught_up_since(Instant::now()).await;
    assert_eq!(salable(app, "A").await, "9");
    assert_eq!(setup.replica_reads().await, skipped_from + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_replica_is_skipped_and_stockd_keeps_serving() {
    // Arrange
    let setup = setup(Duration::from_secs(1), CACHE_OFF).await;
    app_with_a_read(&setup).await;

    // Act
    let Setup {
        primary,
        standby,
        app,
        metrics,
    } = setup;
    let _stopped = standby.stop().await;

    // Assert: reads keep working at once (a failed replica read is answered by the primary),
    // the standby counts as unhealthy, and readiness does not care.
    for _ in 0..5 {
        assert_eq!(salable(&app, "A").await, "5");
        assert_eq!(listed_quantity(&app, "A").await, "5");
    }
    eventually("the standby to count as down", || async {
        let healthy = sample(&scrape(metrics).await, "stockd_read_replicas_healthy", &[]);
        (healthy == Some(0.0)).then_some(())
    })
    .await;
    assert_eq!(serving(&app).await, ServingStatus::Serving);
    app.stock_items(&[("default", "A", "6")]).await;
    assert_eq!(salable(&app, "A").await, "6");
    drop(primary);
}

async fn app_with_a_read(setup: &Setup) {
    setup.app.stock_items(&[("default", "A", "5")]).await;
    setup.caught_up_since(Instant::now()).await;
    assert_eq!(salable(&setup.app, "A").await, "5");
    assert_eq!(setup.replica_reads().await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_refills_from_a_replica_only_after_it_replayed_the_change() {
    // Arrange: the cache on, two SKUs stocked through stockd, the standby caught up, then
    // paused.
    let setup = setup(
        Duration::from_secs(3),
        stockd::config::DEPLOYED_AVAILABILITY_CACHE,
    )
    .await;
    let app = &setup.app;
    app.stock_items(&[("default", "A", "5"), ("default", "B", "5")])
        .await;
    setup.caught_up_since(Instant::now()).await;
    setup.standby.execute("SELECT pg_wal_replay_pause()").await;

    // Act: A changes through stockd (its change reaches the cache); B behind its back.
    app.stock_items(&[("default", "A", "8")]).await;
    set_quantity_on_primary(&setup.primary, "B", 9).await;
    let a = salable(app, "A").await;
    let b = salable(app, "B").await;

    // Assert: A's change had not been replayed, so the primary answered (and the cache keeps
    // 8, not the standby's 5); B had no change the cache knew of, so the standby answered.
    assert_eq!(a, "8");
    assert_eq!(b, "5", "B was read from the standby");
    assert_eq!(salable(app, "A").await, "8");
}
