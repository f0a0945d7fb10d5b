//! The metrics endpoint: plain HTTP/1.1 on a listener of its own, `GET /metrics` only.

use std::convert::Infallible;

use hyper::{Method, Request, Response, StatusCode, body::Incoming, header, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, task::JoinHandle, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::repo::Repo;

/// The Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A running metrics endpoint; `stop` closes the listener and open scrapes.
#[derive(Debug)]
pub struct MetricsEndpoint {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Stops accepting scrapes and waits for the endpoint to end.
    pub async fn stop(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "metrics endpoint ended abnormally");
        }
    }
}

/// Serves `metrics` at `/metrics` on `listener`, sampling the pool and the availability cache at
/// each scrape.
pub fn serve(listener: TcpListener, metrics: Metrics, repo: Repo) -> MetricsEndpoint {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let metrics = metrics.clone();
                        let repo = repo.clone();
                        let service = service_fn(move |request| {
                            let response = respond(&request, &metrics, &repo);
                            async move { Ok::<_, Infallible>(response) }
                        });
                        connections.spawn(async move {
                            let connection = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service);
                            if let Err(error) = connection.await {
                                tracing::debug!(%error, "metrics connection ended");
                            }
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "metrics endpoint cannot accept");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
            }
        }
        // Dropping the set aborts scrapes still open (keep-alive connections).
        connections.shutdown().await;
    });
    MetricsEndpoint { cancel, task }
}

fn respond(request: &Request<Incoming>, metrics: &Metrics, repo: &Repo) -> Response<String> {
    let status = match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            metrics.sample_pool(repo.pool());
            metrics.sample_order_batches(&repo.order_batch_stats());
            if let Some(stats) = repo.availability_cache_stats() {
                metrics.sample_availability_cache(&stats);
            }
            if let Some(stats) = repo.read_routing_stats() {
                metrics.sample_read_routing(&stats);
            }
            let mut response = Response::new(metrics.render());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(CONTENT_TYPE),
            );
            return response;
        }
        (_, "/metrics") => StatusCode::METHOD_NOT_ALLOWED,
        _ => StatusCode::NOT_FOUND,
    };
    let mut response = Response::new(String::new());
    *response.status_mut() = status;
    response
}
