//! TLS from a certificate and key, with health also served in plaintext for the kubelet.

use std::time::Duration;

use sqlx::PgPool;
use stockd::{
    grpc::pb,
    repo::MIGRATOR,
    startup::{Application, Tls},
};
use tokio::net::TcpListener;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::support::stock;

#[sqlx::test(migrator = "MIGRATOR")]
async fn grpc_is_served_over_tls_and_health_also_in_plaintext(pool: PgPool) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health_addr = health_listener.local_addr().unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Application::build(pool, listener, Duration::from_secs(5))
        .with_tls(Tls {
            cert: cert.pem().into_bytes(),
            key: signing_key.serialize_pem().into_bytes(),
            plaintext_health: Some(health_listener),
        })
        .unwrap();
    let server = tokio::spawn(app.run_until(std::future::pending::<()>()));

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(cert.pem()))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let answer = pb::availability_service_client::AvailabilityServiceClient::new(channel)
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(stock(1)),
            skus: vec!["A".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.items.len(), 1);

    // The main port refuses plaintext gRPC.
    let plain = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => pb::availability_service_client::AvailabilityServiceClient::new(channel)
            .get_salable_quantities(pb::GetSalableQuantitiesRequest {
                scope: Some(stock(1)),
                skus: vec!["A".into()],
            })
            .await
            .is_err(),
    };
    assert!(refused);

    // Probes reach health in plaintext on their own port.
    let probe = Endpoint::from_shared(format!("http://{health_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(probe)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, 1, "SERVING");
    server.abort();
}
