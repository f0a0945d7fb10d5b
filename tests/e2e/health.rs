//! Health and reflection, as probes and grpcurl see them.

use sqlx::PgPool;
use stockd::repo::MIGRATOR;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::TestApp;

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_service_reports_serving(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in [
        "",
        "stockd.v1.AvailabilityService",
        "stockd.v1.SourceService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service}");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn readiness_turns_not_serving_when_shutdown_starts(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "stockd.v1.AvailabilityService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap().status();
    assert_eq!(first, ServingStatus::Serving);
    let stopping = tokio::spawn(app.stop());
    let next = watch.message().await.unwrap().unwrap().status();
    assert_eq!(next, ServingStatus::NotServing);
    drop(watch);
    stopping.await.unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn reflection_lists_every_stockd_service(pool: PgPool) {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = TestApp::spawn(pool).await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        stream.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for name in stockd::grpc::SERVICE_NAMES {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
}
