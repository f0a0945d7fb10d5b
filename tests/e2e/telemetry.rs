//! Telemetry as on-call sees it: spans reach an OTLP collector inside the caller's trace, and the
//! metrics endpoint counts calls by method and status.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use chrono::Utc;

use opentelemetry_proto::tonic::{common::v1::any_value::Value, trace::v1::span::SpanKind};
use sqlx::PgPool;
use stockd::{
    clock::ManualClock,
    grpc::pb,
    repo::MIGRATOR,
    startup::Application,
    telemetry::{self, OtlpExport},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_stream::StreamExt;
use tonic::{Code, Request};
use tracing_subscriber::prelude::*;

use crate::{
    collector::{Collector, StockdProcess, get_source_in_trace, hex},
    orders::{line, order},
    support::{TestApp, eventually, own_database_url},
};

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_call_with_traceparent_is_exported_as_a_child_of_the_callers_span(pool: PgPool) {
    // Arrange: a collector, and this test's spans exported to it (the subscriber is this
    // thread's, and the test runtime runs the server on this thread).
    let (addr, collector) = Collector::start().await;
    let provider = telemetry::otlp_tracer_provider(&OtlpExport {
        endpoint: format!("http://{addr}"),
        service_name: Some("stockd-under-test".into()),
        ..OtlpExport::default()
    })
    .unwrap();
    let _subscriber = tracing_subscriber::registry()
        .with(telemetry::otel_layer(&provider))
        .set_default();
    let app = TestApp::spawn(pool).await;
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
    const ORDER_CALLER_SPAN_ID: &str = "00f067aa0ba902b8";

    // Act: one call inside the caller's trace, one without any.
    let mut request = Request::new(pb::GetSourceRequest {
        code: "default".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01")
            .parse()
            .unwrap(),
    );
    app.sources().get_source(request).await.unwrap();
    app.sources()
        .get_source(pb::GetSourceRequest {
            code: "default".into(),
        })
        .await
        .unwrap();
    // And an order, with a deadline, from another span of the same trace.
    app.stock_items(&[("default", "MUG", "1")]).await;
    let mut placing = Request::new(order("traced-1", vec![line("MUG", "1")]));
    placing.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{ORDER_CALLER_SPAN_ID}-01")
            .parse()
            .unwrap(),
    );
    placing.set_timeout(Duration::from_secs(10));
    app.reservations().place_order(placing).await.unwrap();
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .unwrap();

    // Assert: the server span joined the caller's trace under the caller's span.
    let trace_id = hex(TRACE_ID);
    let spans = eventually("the server span in the collector", || {
        let spans = collector.spans_of_trace(&trace_id);
        async move { (!spans.is_empty()).then_some(spans) }
    })
    .await;
    let (service, span) = spans
        .iter()
        .find(|(_, span)| span.parent_span_id == hex(CALLER_SPAN_ID))
        .unwrap_or_else(|| panic!("no span has the caller's span as parent: {spans:?}"));
    assert_eq!(service, "stockd-under-test");
    assert_eq!(span.name, "stockd.v1.SourceService/GetSource");
    assert_eq!(span.kind, SpanKind::Server as i32);
    let status_code = span
        .attributes
        .iter()
        .find(|kv| kv.key == "rpc.grpc.status_code")
        .and_then(|kv| kv.value.as_ref()?.value.clone());
    assert_eq!(status_code, Some(Value::IntValue(0)), "{span:?}");
    // The repository's work on the order is a child of its server span.
    let spans = eventually("the order's spans in the collector", || {
        let spans = collector.spans_of_trace(&trace_id);
        async move {
            let server = spans.iter().find(|(_, span)| {
                span.name == "stockd.v1.ReservationService/PlaceOrder"
                    && span.parent_span_id == hex(ORDER_CALLER_SPAN_ID)
            })?;
            let repo = spans.iter().find(|(_, span)| span.name == "place_order")?;
            Some((server.1.span_id.clone(), repo.1.parent_span_id.clone()))
        }
    })
    .await;
    assert_eq!(
        spans.0, spans.1,
        "place_order is not under the PlaceOrder span"
    );
    // The call without traceparent started a trace of its own.
    let all = collector.spans.lock().unwrap().clone();
    assert!(
        all.iter()
            .any(|(_, span)| span.trace_id != trace_id && span.parent_span_id.is_empty()),
        "{all:?}"
    );
    app.stop().await;
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_stockd_process_flushes_its_spans_when_it_stops(pool: PgPool) {
    // Arrange: a real `stockd serve` exporting to the collector, as the chart configures it.
    let (collector_addr, collector) = Collector::start().await;
    let endpoint = format!("http://{collector_addr}");
    let (stockd, channel) = StockdProcess::start(
        &own_database_url(&pool),
        // Quiet logs must not silence traces.
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

    // Act: one traced call, then SIGTERM well before the exporter's 5-second batch delay.
    get_source_in_trace(channel, TRACE_ID, "b7ad6b7169203331").await;
    let exit = stockd.stop().await;

    // Assert: a clean exit, and the span was exported on the way out, as service "stockd".
    assert!(exit.success(), "{exit:?}");
    let spans = collector.spans_of_trace(&hex(TRACE_ID));
    let (service, span) = spans
        .iter()
        .find(|(_, span)| span.name == "stockd.v1.SourceService/GetSource")
        .unwrap_or_else(|| panic!("the server span was not flushed before exit: {spans:?}"));
    assert_eq!(service, "stockd");
    assert_eq!(span.parent_span_id, hex("b7ad6b7169203331"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn with_otlp_export_on_the_log_line_after_a_postgresql_notice_is_kept(pool: PgPool) {
    // Arrange: a database already migrated, so that migrating at start draws a NOTICE from
    // PostgreSQL ("relation already exists, skipping") just before stockd warns that
    // authentication is off.
    let (collector_addr, _collector) = Collector::start().await;
    let endpoint = format!("http://{collector_addr}");

    // Act
    let (stockd, _channel) = StockdProcess::start(
        &own_database_url(&pool),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("STOCKD_MIGRATE_ON_START", "true"),
        ],
    )
    .await;

    // Assert: every line of the start is there, the warning included.
    let log = eventually("the serving line", || {
        let log = stockd.log();
        let serving = log.iter().any(|line| line.contains("stockd serving gRPC"));
        async move { serving.then_some(log) }
    })
    .await;
    let text = log.join("\n");
    assert!(text.contains("exporting traces over OTLP"), "{text}");
    assert!(text.contains("authentication is off"), "{text}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_sweepers_passes_start_no_traces(pool: PgPool) {
    // Arrange: spans exported to a collector, a sweeper every 20 ms, and a hold that expires.
    let (addr, collector) = Collector::start().await;
    let provider = telemetry::otlp_tracer_provider(&OtlpExport {
        endpoint: format!("http://{addr}"),
        ..OtlpExport::default()
    })
    .unwrap();
    let _subscriber = tracing_subscriber::registry()
        .with(telemetry::otel_layer(&provider))
        .set_default();
    let clock = ManualClock::new(Utc::now());
    let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics_listener.local_addr().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = TestApp::spawn_app(
        Application::build(pool, listener, Duration::from_secs(5))
            .with_clock(Arc::new(clock.clone()))
            .with_sweep_interval(Duration::from_millis(20))
            .with_metrics_listener(metrics_listener),
    )
    .await;
    app.stock_items(&[("default", "MUG", "5")]).await;
    app.reservations()
        .set_cart_holds(pb::SetCartHoldsRequest {
            cart_id: "cart-1".into(),
            scope: Some(crate::support::stock(1)),
            lines: vec![line("MUG", "1")],
            ttl_seconds: 60,
        })
        .await
        .unwrap();

    // Act: the hold expires and the sweeper deletes it, among idle passes.
    clock.advance(chrono::Duration::seconds(61));
    eventually("the sweeper to delete the expired hold", || async {
        let text = scrape(metrics_addr).await;
        (sample(&text, "stockd_holds_expired_total", &[]) == Some(1.0)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .unwrap();

    // Assert: the calls began traces, the sweeper's passes none.
    let roots = collector.root_span_names();
    assert!(
        roots.contains(&"stockd.v1.ReservationService/SetCartHolds".to_owned()),
        "{roots:?}"
    );
    assert!(
        roots.iter().all(|name| name.starts_with("stockd.v1.")),
        "{roots:?}"
    );
    app.stop().await;
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .unwrap();
}

/// GETs `/metrics` over plain HTTP/1.1 and returns the body.
pub(crate) async fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: stockd\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    body.to_owned()
}

/// The value of the sample of `name` whose labels include `labels`, if any.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (label_text, value) = match rest.strip_prefix('{') {
            Some(rest) => rest.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let found: HashMap<&str, &str> = label_text
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key, value.trim_matches('"')))
            .collect();
        labels
            .iter()
            .all(|(key, value)| found.get(key) == Some(value))
            .then(|| value.trim().parse().unwrap())
    })
}

fn grpc_calls(text: &str, service: &str, method: &str, code: &str) -> Option<f64> {
    sample(
        text,
        "stockd_grpc_requests_total",
        &[("service", service), ("method", method), ("code", code)],
    )
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_metrics_endpoint_counts_calls_by_method_and_status(pool: PgPool) {
    // Arrange
    let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics_listener.local_addr().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = TestApp::spawn_app(
        Application::build(pool, listener, Duration::from_secs(5))
            .with_metrics_listener(metrics_listener),
    )
    .await;
    app.stock_items(&[("default", "MUG", "1")]).await;

    // Act: an order that fits, one that is refused, a lookup that fails, a streaming call.
    let mut reservations = app.reservations();
    reservations
        .place_order(order("m-1", vec![line("MUG", "1")]))
        .await
        .unwrap();
    let refused = reservations
        .place_order(order("m-2", vec![line("MUG", "5")]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let missing = app
        .sources()
        .get_source(pb::GetSourceRequest {
            code: "nowhere".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let mut reports =
        pb::fulfilment_service_client::FulfilmentServiceClient::new(app.channel.clone())
            .check_consistency(pb::CheckConsistencyRequest { repair: false })
            .await
            .unwrap()
            .into_inner();
    while let Some(report) = reports.next().await {
        report.unwrap();
    }
    let text = scrape(metrics_addr).await;

    // Assert: each call under its method and status, unary and streaming alike.
    let reservation = "stockd.v1.ReservationService";
    assert_eq!(
        grpc_calls(&text, reservation, "PlaceOrder", "OK"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        grpc_calls(&text, reservation, "PlaceOrder", "FAILED_PRECONDITION"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        grpc_calls(&text, "stockd.v1.SourceService", "GetSource", "NOT_FOUND"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        grpc_calls(
            &text,
            "stockd.v1.SourceItemService",
            "UpsertSourceItems",
            "OK"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        grpc_calls(
            &text,
            "stockd.v1.FulfilmentService",
            "CheckConsistency",
            "OK"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "stockd_grpc_request_duration_seconds_count",
            &[("method", "PlaceOrder"), ("code", "FAILED_PRECONDITION")]
        ),
        Some(1.0),
        "{text}"
    );
    for (outcome, count) in [("accepted", 1.0), ("refused", 1.0)] {
        assert_eq!(
            sample(
                &text,
                "stockd_reservations_total",
                &[("operation", "place_order"), ("outcome", outcome)]
            ),
            Some(count),
            "{text}"
        );
    }
    // Each order went alone into its own batch, refused or not; none fell back, none was
    // abandoned by its caller.
    assert_eq!(
        sample(&text, "stockd_orders_abandoned_total", &[]),
        Some(0.0),
        "{text}"
    );
    for (outcome, count) in [("committed", 2.0), ("fell_back", 0.0)] {
        for name in [
            "stockd_order_batches_total",
            "stockd_order_batch_orders_total",
        ] {
            assert_eq!(
                sample(&text, name, &[("outcome", outcome)]),
                Some(count),
                "{name} {outcome}: {text}"
            );
        }
    }
    assert!(
        sample(&text, "stockd_db_pool_connections", &[]).unwrap() >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "stockd_db_pool_max_connections", &[]).unwrap() >= 1.0,
        "{text}"
    );
    assert_eq!(sample(&text, "stockd_ready", &[]), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "stockd_database_up", &[]),
        Some(1.0),
        "{text}"
    );
    app.stop().await;
}
