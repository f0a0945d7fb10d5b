//! Structured logs on stderr, filtered by `RUST_LOG`, and, when an OTLP endpoint is configured,
//! the same spans exported as OpenTelemetry traces over OTLP/gRPC, in plaintext or over TLS.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use opentelemetry::{Key, trace::TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing::{Subscriber, level_filters::LevelFilter};
use tracing_subscriber::{
    EnvFilter, Layer, filter::Targets, fmt, prelude::*, registry::LookupSpan,
};

use crate::config::LogFormat;

mod fresh_filter;
mod otlp_tls;

use fresh_filter::FreshFilter;

/// What is logged when `RUST_LOG` is unset.
pub const DEFAULT_LOG_FILTER: &str = "stockd=info,warn";

/// The service name traces carry unless `OTEL_SERVICE_NAME` (or `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`) says otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "stockd";

/// How long shutdown waits for the last spans to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and as whom to export traces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpExport {
    /// OTLP/gRPC endpoint of a collector, `http://otel-collector:4317` or, over TLS,
    /// `https://otel-collector:4317`.
    pub endpoint: String,
    /// `service.name` of the exported spans; `None` for [`DEFAULT_SERVICE_NAME`].
    pub service_name: Option<String>,
    /// PEM CA certificates that alone verify an `https://` collector; `None` trusts the system's
    /// roots.
    pub certificate: Option<PathBuf>,
    /// PEM certificate chain and key shown to an `https://` collector that asks for one.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// Keeps the trace exporter alive; [`TelemetryGuard::shutdown`] flushes it.
#[derive(Debug)]
#[must_use = "dropping the guard without shutdown loses the last spans"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Exports the spans still buffered and stops the exporter. Call it outside async code but
    /// while the Tokio runtime is still alive: the exporter's connection runs on it.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            tracing::warn!(%error, "could not flush the last spans");
        }
    }
}

/// Installs the global subscriber; call once, before anything logs, inside a Tokio runtime
/// context when `otlp` is given (the exporter's gRPC channel is spawned on it).
pub fn init(format: LogFormat, otlp: Option<&OtlpExport>) -> anyhow::Result<TelemetryGuard> {
    // RUST_LOG filters the logs only: quieter logs must not thin out the traces.
    let filter = FreshFilter(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)),
    );
    let provider = otlp.map(otlp_tracer_provider).transpose()?;
    let registry = tracing_subscriber::registry().with(provider.as_ref().map(otel_layer));
    match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
    }
    .context("installing the log subscriber")?;
    if let Some(otlp) = otlp {
        tracing::info!(endpoint = %otlp.endpoint, "exporting traces over OTLP");
    }
    Ok(TelemetryGuard { provider })
}

/// A tracer provider that batches spans to `otlp.endpoint` over gRPC (TLS for `https://`,
/// verified as [`OtlpExport`] says). The sampler follows
/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (default: parent-based, always on) and the
/// resource `OTEL_RESOURCE_ATTRIBUTES`. Must be called inside a Tokio runtime context.
pub fn otlp_tracer_provider(otlp: &OtlpExport) -> anyhow::Result<SdkTracerProvider> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(otlp.endpoint.clone());
    if let Some(tls) = otlp_tls::client_config(otlp)? {
        exporter = exporter.with_tls_config(tls);
    }
    let exporter = exporter
        .build()
        .with_context(|| format!("building the OTLP exporter for {}", otlp.endpoint))?;
    let service_name = match &otlp.service_name {
        Some(name) => name.clone(),
        None => {
            let detected = Resource::builder().build();
            match detected.get(&Key::from_static_str("service.name")) {
                Some(name) if !name.as_str().starts_with("unknown_service") => name.to_string(),
                _ => DEFAULT_SERVICE_NAME.to_owned(),
            }
        }
    };
    Ok(SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .with_batch_exporter(exporter)
        .build())
}

/// The layer that turns `tracing` spans into OpenTelemetry spans of `provider`: stockd's spans
/// from INFO up (one per call, one per repository operation), other crates' warnings and errors
/// as span events, and nothing of the transport crates, so exporting never traces itself.
/// `RUST_LOG` does not apply to it.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let transport = [
        "h2",
        "hyper",
        "hyper_util",
        "tonic",
        "tower",
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry_otlp",
    ];
    let targets = Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("stockd", LevelFilter::INFO)
        .with_targets(transport.map(|target| (target, LevelFilter::OFF)));
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("stockd"))
        .with_filter(FreshFilter(targets))
}
