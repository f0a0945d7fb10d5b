//! The connection to stockd: address, bearer token and TLS, shared by every command.

use anyhow::Context;
use clap::Args;
use stockd::grpc::pb::{
    availability_service_client::AvailabilityServiceClient,
    fulfilment_service_client::FulfilmentServiceClient,
    reservation_service_client::ReservationServiceClient,
    settings_service_client::SettingsServiceClient,
    source_item_service_client::SourceItemServiceClient,
    source_service_client::SourceServiceClient,
};
use tonic::{
    Request, Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};

/// Where stockd listens and how to sign in; flags win over the environment.
#[derive(Debug, Clone, Args)]
pub(crate) struct Connection {
    /// gRPC address of stockd; https:// turns TLS on.
    #[arg(
        long,
        env = "STOCKCTL_ADDR",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    addr: String,
    /// Bearer token sent with every call; absent for a stockd without authentication.
    #[arg(long, env = "STOCKCTL_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// PEM file of the CA that signed stockd's certificate (https:// only).
    #[arg(long, env = "STOCKCTL_CA_FILE", global = true)]
    ca_file: Option<std::path::PathBuf>,
}

/// A channel that adds the caller's token to every call.
pub(crate) type Conn = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` when a token is given.
#[derive(Debug, Clone)]
pub(crate) struct Bearer(Option<AsciiMetadataValue>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Typed clients over one HTTP/2 connection.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    channel: Channel,
    bearer: Bearer,
}

impl Connection {
    /// Connects, so that a wrong address fails before any work starts.
    pub(crate) async fn connect(&self) -> anyhow::Result<Clients> {
        let mut endpoint = Endpoint::from_shared(self.addr.clone())
            .with_context(|| format!("bad address {:?}", self.addr))?;
        if self.addr.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_enabled_roots();
            if let Some(path) = &self.ca_file {
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read CA file {}", path.display()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        let bearer = match self.token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .context("the token holds characters a header cannot carry")?,
            ),
            None => None,
        };
        Ok(Clients {
            channel,
            bearer: Bearer(bearer),
        })
    }
}

impl Clients {
    fn conn(&self) -> Conn {
        InterceptedService::new(self.channel.clone(), self.bearer.clone())
    }

    /// SourceItemService.
    pub(crate) fn items(&self) -> SourceItemServiceClient<Conn> {
        SourceItemServiceClient::new(self.conn())
    }

    /// SourceService.
    pub(crate) fn sources(&self) -> SourceServiceClient<Conn> {
        SourceServiceClient::new(self.conn())
    }

    /// SettingsService.
    pub(crate) fn settings(&self) -> SettingsServiceClient<Conn> {
        SettingsServiceClient::new(self.conn())
    }

    /// AvailabilityService.
    pub(crate) fn availability(&self) -> AvailabilityServiceClient<Conn> {
        AvailabilityServiceClient::new(self.conn())
    }

    /// ReservationService.
    pub(crate) fn reservations(&self) -> ReservationServiceClient<Conn> {
        ReservationServiceClient::new(self.conn())
    }

    /// FulfilmentService.
    pub(crate) fn fulfilment(&self) -> FulfilmentServiceClient<Conn> {
        FulfilmentServiceClient::new(self.conn())
    }

    /// Every source code stockd knows, to check a file's sources before writing.
    pub(crate) async fn source_codes(&self) -> Result<std::collections::HashSet<String>, Status> {
        let mut codes = std::collections::HashSet::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .sources()
                .list_sources(stockd::grpc::pb::ListSourcesRequest {
                    page_size: 1000,
                    page_token,
                })
                .await?
                .into_inner();
            codes.extend(page.sources.into_iter().map(|s| s.code));
            if page.next_page_token.is_empty() {
                return Ok(codes);
            }
            page_token = page.next_page_token;
        }
    }
}
