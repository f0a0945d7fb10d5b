//! One tower layer around every route: a server span per call, whose parent is the caller's W3C
//! `traceparent`, and the call's count and latency by method and final gRPC status.
//!
//! The status of a call is known only when its response ends: tonic sends `grpc-status` in the
//! headers of a trailers-only response (most errors) and in the trailers otherwise (every success,
//! every streaming call). So a call finishes when headers carrying a status come back, else when
//! the trailers pass through the wrapped response body, or when that body is dropped first (the
//! caller cancelled). Either way it is counted before the status leaves the server.

use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TraceId},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use prost::Message;
use tonic::Code;
use tower::{Layer, Service};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::observability::Metrics;

/// The label of calls to paths no service declares, so callers cannot grow the label set.
const UNKNOWN: &str = "unknown";

/// Adds spans and, when `metrics` is given, metrics to every call.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Every `/package.Service/Method` served: ours, health and reflection.
    methods: HashSet<String>,
    metrics: Option<Metrics>,
}

impl ObserveLayer {
    /// Observes the routes of [`super::routes`]; without `metrics` only spans are made.
    pub fn new(metrics: Option<Metrics>) -> Self {
        let descriptor_sets = [
            super::pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ];
        let mut methods = HashSet::new();
        for encoded in descriptor_sets {
            let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else {
                continue;
            };
            for file in set.file {
                let package = file.package();
                for service in &file.service {
                    for method in &service.method {
                        methods.insert(format!("/{package}.{}/{}", service.name(), method.name()));
                    }
                }
            }
        }
        Self {
            shared: Arc::new(Shared { methods, metrics }),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`ObserveLayer`] makes.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Observe<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let call = self.shared.start(request.uri().path(), request.headers());
        let inner = {
            let _entered = call.span.enter();
            self.inner.call(request)
        };
        ObservedFuture {
            inner,
            call: Some(call),
        }
    }
}

impl Shared {
    fn start(&self, path: &str, headers: &HeaderMap) -> Call {
        let (service, method) = match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
            Some((service, method)) if self.methods.contains(path) => {
                (service.to_owned(), method.to_owned())
            }
            _ => (UNKNOWN.to_owned(), UNKNOWN.to_owned()),
        };
        // Probes call health every few seconds; tracing them would drown real traces.
        let span = if service == "grpc.health.v1.Health" || service.starts_with("grpc.reflection.")
        {
            Span::none()
        } else {
            server_span(&service, &method, headers)
        };
        Call {
            span,
            service,
            method,
            started: Instant::now(),
            code: None,
            metrics: self.metrics.clone(),
        }
    }
}

/// The span of one call, a child of the caller's trace when it sent `traceparent`.
fn server_span(service: &str, method: &str, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(
        "rpc",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        // Fails only when no OpenTelemetry layer is installed: then there is nothing to join.
        let _ = span.set_parent(parent);
    }
    // With OpenTelemetry on, logs carry the trace id so they can be joined with the trace.
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    span
}

/// Reads W3C trace context from HTTP/2 headers (gRPC metadata).
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// A call in flight; dropping it records the outcome.
struct Call {
    span: Span,
    service: String,
    method: String,
    started: Instant,
    /// The final status, once known.
    code: Option<Code>,
    metrics: Option<Metrics>,
}

impl Call {
    fn finish(mut self, code: Code) {
        self.code = Some(code);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // No status and no end of body: the caller went away (or the connection did).
        let code = self.code.unwrap_or(Code::Cancelled);
        self.span.record("rpc.grpc.status_code", code as i32);
        if is_server_error(code) {
            self.span.record("otel.status_code", "ERROR");
        }
        if let Some(metrics) = &self.metrics {
            metrics.grpc_call(&self.service, &self.method, code, self.started.elapsed());
        }
    }
}

/// The codes OpenTelemetry's conventions count as a server span's error; the rest are the
/// caller's mistakes or normal refusals.
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    value.parse::<i32>().ok().map(Code::from)
}

pin_project_lite::pin_project! {
    /// The inner service's future, inside the call's span.
    pub struct ObservedFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, ResBody, E> Future for ObservedFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<ObservedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.call.as_ref() {
            Some(call) => {
                let _entered = call.span.enter();
                ready!(this.inner.poll(cx))
            }
            None => ready!(this.inner.poll(cx)),
        };
        let mut call = this.call.take();
        match result {
            Ok(response) => {
                // `grpc-status` in the headers makes a trailers-only response: the call is over.
                if let Some(code) = grpc_status(response.headers())
                    && let Some(call) = call.take()
                {
                    call.finish(code);
                }
                Poll::Ready(Ok(response.map(|inner| ObservedBody { inner, call })))
            }
            Err(error) => {
                if let Some(call) = call {
                    call.finish(Code::Unknown);
                }
                Poll::Ready(Err(error))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that finishes its call when the status goes by.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = match this.call.as_ref() {
            Some(call) => {
                let _entered = call.span.enter();
                ready!(this.inner.poll_frame(cx))
            }
            None => ready!(this.inner.poll_frame(cx)),
        };
        match &polled {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(call) = this.call.take()
                {
                    let code = grpc_status(trailers).unwrap_or(Code::Unknown);
                    call.finish(code);
                }
            }
            Some(Err(_)) => {
                if let Some(call) = this.call.take() {
                    call.finish(Code::Unknown);
                }
            }
            // The body ended without trailers: not a well-formed gRPC response.
            None => {
                if let Some(call) = this.call.take() {
                    call.finish(Code::Unknown);
                }
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
