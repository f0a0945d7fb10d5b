//! Readiness follows the database: NOT_SERVING while it cannot be reached, SERVING again when it
//! returns, without a restart. The shared PostgreSQL keeps running; the outage is a TCP proxy
//! between stockd and PostgreSQL that the test stops and starts again on the same port.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgPoolOptions};
use stockd::{readiness::DbCheck, repo::MIGRATOR, startup::Application};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    proxy::Proxy,
    support::{TestApp, eventually},
};

async fn status(health: &mut HealthClient<Channel>, service: &str) -> ServingStatus {
    health
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

/// Waits until both the server as a whole and a stockd service report `wanted`.
async fn becomes(health: &HealthClient<Channel>, wanted: ServingStatus) {
    eventually(&format!("health {wanted:?}"), || {
        let mut health = health.clone();
        async move {
            let whole = status(&mut health, "").await;
            let service = status(&mut health, "stockd.v1.ReservationService").await;
            (whole == wanted && service == wanted).then_some(())
        }
    })
    .await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn readiness_follows_the_database_down_and_back_up(pool: PgPool) {
    // Arrange: stockd reaches this test's database only through the proxy.
    let mut proxy = Proxy::to_database(&pool).await;
    let app_pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(proxy.connect_options(&pool));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = TestApp::spawn_app(
        Application::build(app_pool, listener, Duration::from_secs(5)).with_db_check(DbCheck {
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
        }),
    )
    .await;
    let mut health = HealthClient::new(app.channel.clone());
    assert_eq!(status(&mut health, "").await, ServingStatus::Serving);
    app.create_source("before").await;

    // Act 1: the database becomes unreachable.
    proxy.stop().await;

    // Assert 1: not ready, yet alive, and calls that need the database fail without hanging.
    becomes(&health, ServingStatus::NotServing).await;
    assert_eq!(
        status(&mut health, stockd::readiness::LIVENESS_SERVICE).await,
        ServingStatus::Serving
    );
    let refused = app
        .sources()
        .get_source(stockd::grpc::pb::GetSourceRequest {
            code: "before".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    // Act 2: the database comes back on the same address.
    proxy.resume().await;

    // Assert 2: ready again by itself, and the pool serves calls again.
    becomes(&health, ServingStatus::Serving).await;
    app.create_source("after").await;
    app.stop().await;
    proxy.stop().await;
}
