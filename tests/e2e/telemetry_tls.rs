//! Traces exported over TLS: to an `https://` collector whose certificate a CA of the test's own
//! signed, given to stockd as `OTEL_EXPORTER_OTLP_CERTIFICATE`, and to a collector that asks for
//! a client certificate.

use opentelemetry_sdk::trace::SdkTracerProvider;
use sqlx::PgPool;
use stockd::{
    repo::MIGRATOR,
    telemetry::{self, OtlpExport},
};
use tonic::transport::{Certificate, Identity};
use tracing_subscriber::prelude::*;

use crate::{
    collector::{Collector, PemFiles, StockdProcess, TestCa, get_source_in_trace, hex},
    support::own_database_url,
};

/// Records one span the exporter takes (stockd's target, INFO) and exports it at once, off the
/// runtime's thread, which the exporter's channel needs meanwhile.
async fn export_one_span(provider: &SdkTracerProvider) {
    {
        let _subscriber = tracing_subscriber::registry()
            .with(telemetry::otel_layer(provider))
            .set_default();
        tracing::info_span!(target: "stockd::test", "exported").in_scope(|| {});
    }
    let flushing = provider.clone();
    // An export that fails leaves the collector empty; the assertions say which was expected.
    let _ = tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap();
}

/// Stops the exporter off the runtime's thread, which its channel needs meanwhile.
async fn shut_down(provider: SdkTracerProvider) {
    let _ = tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn spans_reach_an_https_collector_verified_by_the_given_ca_only() {
    // Arrange: a collector on 127.0.0.1 with a certificate of the test's CA, and another CA.
    let ca = TestCa::new("collector CA");
    let (cert, key) = ca.issue(&["127.0.0.1"]);
    let (addr, collector) = Collector::start_tls(Identity::from_pem(cert, key), None).await;
    let files = PemFiles::new();
    let export = |ca_pem: &str| OtlpExport {
        endpoint: format!("https://{addr}"),
        certificate: Some(files.write("ca.pem", ca_pem)),
        ..OtlpExport::default()
    };

    // Act and assert: an exporter that trusts another CA delivers nothing.
    let stranger =
        telemetry::otlp_tracer_provider(&export(&TestCa::new("other CA").ca_pem)).unwrap();
    export_one_span(&stranger).await;
    shut_down(stranger).await;
    assert!(collector.root_span_names().is_empty());

    // Act and assert: one that trusts the collector's CA delivers the span.
    let trusting = telemetry::otlp_tracer_provider(&export(&ca.ca_pem)).unwrap();
    export_one_span(&trusting).await;
    shut_down(trusting).await;
    assert_eq!(collector.root_span_names(), ["exported"]);
}

#[tokio::test]
async fn a_collector_that_asks_for_a_client_certificate_gets_spans_from_stockds() {
    // Arrange: a collector that admits clients whose certificate the clients' CA signed.
    let server_ca = TestCa::new("collector CA");
    let client_ca = TestCa::new("clients' CA");
    let (cert, key) = server_ca.issue(&["127.0.0.1"]);
    let (addr, collector) = Collector::start_tls(
        Identity::from_pem(cert, key),
        Some(Certificate::from_pem(&client_ca.ca_pem)),
    )
    .await;
    let files = PemFiles::new();
    let (client_cert, client_key) = client_ca.issue(&["stockd"]);
    let anonymous = OtlpExport {
        endpoint: format!("https://{addr}"),
        certificate: Some(files.write("ca.pem", &server_ca.ca_pem)),
        ..OtlpExport::default()
    };
    let identified = OtlpExport {
        client_identity: Some((
            files.write("client.pem", &client_cert),
            files.write("client.key", &client_key),
        )),
        ..anonymous.clone()
    };

    // Act and assert: without a client certificate nothing gets through; with one, the span.
    let provider = telemetry::otlp_tracer_provider(&anonymous).unwrap();
    export_one_span(&provider).await;
    shut_down(provider).await;
    assert!(collector.root_span_names().is_empty());
    let provider = telemetry::otlp_tracer_provider(&identified).unwrap();
    export_one_span(&provider).await;
    shut_down(provider).await;
    assert_eq!(collector.root_span_names(), ["exported"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_stockd_process_exports_to_an_https_endpoint_with_the_ca_of_its_settings(pool: PgPool) {
    // Arrange: `stockd serve` as the chart runs it with otel.endpoint https://… and the CA
    // mounted from a Secret.
    let ca = TestCa::new("collector CA");
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let (addr, collector) = Collector::start_tls(Identity::from_pem(cert, key), None).await;
    let files = PemFiles::new();
    let ca_file = files.write("ca.pem", &ca.ca_pem);
    let endpoint = format!("https://{addr}");
    let (stockd, channel) = StockdProcess::start(
        &own_database_url(&pool),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.to_str().unwrap()),
        ],
    )
    .await;
    const TRACE_ID: &str = "5bf92f3577b34da6a3ce929d0e0e4736";

    // Act: one traced call, then SIGTERM, which flushes the spans.
    get_source_in_trace(channel, TRACE_ID, "b7ad6b7169203331").await;
    let exit = stockd.stop().await;

    // Assert: the call's span came over TLS.
    assert!(exit.success(), "{exit:?}");
    let spans = collector.spans_of_trace(&hex(TRACE_ID));
    assert!(
        spans
            .iter()
            .any(|(_, span)| span.name == "stockd.v1.SourceService/GetSource"),
        "{spans:?}"
    );
}
