//! What the telemetry tests observe stockd with: an OTLP trace collector in this process (plain
//! or over TLS), and a real `stockd serve` process whose log lines are kept.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
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
use stockd::grpc::pb;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{
    Request, Response, Status,
    transport::{Certificate, Channel, Endpoint, Identity, Server, ServerTlsConfig},
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

    /// Serves OTLP/gRPC over TLS on a free local port, as `identity`; with `client_ca`, only to
    /// clients whose certificate that CA signed.
    pub(crate) async fn start_tls(
        identity: Identity,
        client_ca: Option<Certificate>,
    ) -> (SocketAddr, Collector) {
        let mut tls = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = client_ca {
            tls = tls.client_ca_root(ca);
        }
        Self::serve(Server::builder().tls_config(tls).unwrap()).await
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

/// Calls GetSource on `channel` as a caller whose span `parent` of trace `trace_id` (both hex)
/// is current.
pub(crate) async fn get_source_in_trace(channel: Channel, trace_id: &str, parent: &str) {
    let mut request = tonic::Request::new(pb::GetSourceRequest {
        code: "default".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent}-01").parse().unwrap(),
    );
    pb::source_service_client::SourceServiceClient::new(channel)
        .get_source(request)
        .await
        .unwrap();
}

/// A CA of the test's own and what it signed, as PEM.
pub(crate) struct TestCa {
    pub ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// A fresh CA.
    pub(crate) fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate and its key, as PEM, for `names` (host names or IP addresses), signed by
    /// this CA.
    pub(crate) fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A directory of PEM files for a test, removed when dropped.
pub(crate) struct PemFiles(PathBuf);

impl PemFiles {
    /// A fresh directory under the system's temporary directory.
    pub(crate) fn new() -> PemFiles {
        let dir = std::env::temp_dir().join(format!(
            "stockd-pem-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        PemFiles(dir)
    }

    /// Writes `pem` to `name` in the directory and returns its path.
    pub(crate) fn write(&self, name: &str, pem: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
