//! What the telemetry tests observe stockd with: an OTLP trace collector in this process (plain
//! or over TLS), and a real `stockd serve` process whose log lines are kept.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::Span,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{
    Request, Response, Status,
    transport::{Channel, Endpoint, Server},
};

use crate::support::eventually;

/// A collector's trace endpoint in this process: it keeps every span with its service name.
#[derive(Clone, Default)]
pub(crate) struct Collector {
    pub spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut kept = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|value| match value {
                    Value::StringValue(name) => name.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    kept.push((service.clone(), span));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Serves OTLP/gRPC in plaintext on a free local port.
    pub(crate) async fn start() -> (SocketAddr, Collector) {
        Self::serve(Server::builder()).await
    }

    async fn serve(mut server: Server) -> (SocketAddr, Collector) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Collector::default();
        tokio::spawn(
            server
                .add_service(TraceServiceServer::new(collector.clone()))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        (addr, collector)
    }

    /// The spans of one trace received so far.
    pub(crate) fn spans_of_trace(&self, trace_id: &[u8]) -> Vec<(String, Span)> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|(_, span)| span.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// The names of the spans received so far that began a trace.
    pub(crate) fn root_span_names(&self) -> Vec<String> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|(_, span)| span.parent_span_id.is_empty())
            .map(|(_, span)| span.name.clone())
            .collect()
    }
}

/// A hex trace or span id as the bytes OTLP carries.
pub(crate) fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A `stockd serve` process, as the chart runs it, with its standard error kept line by line.
pub(crate) struct StockdProcess {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl StockdProcess {
    /// Starts `stockd serve` on a free port against `database_url`, without authentication,
    /// with `env` on top; waits until it accepts connections.
    pub(crate) async fn start(
        database_url: &str,
        env: &[(&str, &str)],
    ) -> (StockdProcess, Channel) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_stockd"));
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("STOCKD_GRPC_ADDR", format!("127.0.0.1:{port}"))
            .env("STOCKD_MIGRATE_ON_START", "false")
            .env("STOCKD_AUTH_DISABLED", "true")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_SERVICE_NAME")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let process = StockdProcess { child, log };
        let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
        let channel = eventually("stockd to accept connections", || {
            let endpoint = endpoint.clone();
            async move { endpoint.connect().await.ok() }
        })
        .await;
        (process, channel)
    }

    /// The lines it wrote to standard error so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM, as Kubernetes does, and waits for the exit.
    pub(crate) async fn stop(mut self) -> ExitStatus {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(signalled.success());
        eventually("stockd to exit", || {
            let exit = self.child.try_wait().unwrap();
            async move { exit }
        })
        .await
    }
}

impl Drop for StockdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
