//! A real stockd on 127.0.0.1:0 over a database of the test's own, and typed clients for it.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use stockd::{
    auth::tokens::TokenTable,
    clock::{SharedClock, SystemClock},
    domain::HoldPolicy,
    grpc::pb,
    startup::Application,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    Code, Status,
    transport::{Channel, Endpoint},
};
use tonic_types::StatusExt;

pub(crate) use pb::{
    availability_service_client::AvailabilityServiceClient,
    reservation_service_client::ReservationServiceClient,
    settings_service_client::SettingsServiceClient,
    source_item_service_client::SourceItemServiceClient,
    source_service_client::SourceServiceClient, stock_service_client::StockServiceClient,
};

/// A running server and a channel to it; dropping it does not wait, `stop` drains.
pub(crate) struct TestApp {
    pub channel: Channel,
    /// The server's address as a URL, for clients started as processes.
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts the real application on a free port.
    pub(crate) async fn spawn(pool: PgPool) -> TestApp {
        Self::spawn_with_clock(pool, Arc::new(SystemClock)).await
    }

    /// Starts the application with a clock the test controls.
    pub(crate) async fn spawn_with_clock(pool: PgPool, clock: SharedClock) -> TestApp {
        Self::start(pool, clock, None).await
    }

    /// Starts the application requiring tokens from `tokens`.
    pub(crate) async fn spawn_with_tokens(pool: PgPool, tokens: TokenTable) -> TestApp {
        Self::start(pool, Arc::new(SystemClock), Some(tokens)).await
    }

    async fn start(pool: PgPool, clock: SharedClock, tokens: Option<TokenTable>) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut app = Application::build(pool, listener, Duration::from_secs(5))
            .with_clock(clock)
            .with_hold_policy(HoldPolicy {
                default_ttl_secs: 600,
                max_ttl_secs: 3600,
            });
        if let Some(tokens) = tokens {
            app = app.with_tokens(tokens);
        }
        Self::spawn_app(app).await
    }

    /// Sends the shutdown signal and waits for the drain to finish.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("join").expect("clean shutdown");
        }
    }

    pub(crate) fn sources(&self) -> SourceServiceClient<Channel> {
        SourceServiceClient::new(self.channel.clone())
    }

    pub(crate) fn stocks(&self) -> StockServiceClient<Channel> {
        StockServiceClient::new(self.channel.clone())
    }

    pub(crate) fn items(&self) -> SourceItemServiceClient<Channel> {
        SourceItemServiceClient::new(self.channel.clone())
    }

    pub(crate) fn settings(&self) -> SettingsServiceClient<Channel> {
        SettingsServiceClient::new(self.channel.clone())
    }

    pub(crate) fn availability(&self) -> AvailabilityServiceClient<Channel> {
        AvailabilityServiceClient::new(self.channel.clone())
    }

    pub(crate) fn reservations(&self) -> ReservationServiceClient<Channel> {
        ReservationServiceClient::new(self.channel.clone())
    }

    /// Creates an enabled source with just a name.
    pub(crate) async fn create_source(&self, code: &str) -> pb::Source {
        self.sources()
            .create_source(pb::CreateSourceRequest {
                source: Some(pb::Source {
                    code: code.into(),
                    name: format!("Source {code}"),
                    enabled: None,
                    ..Default::default()
                }),
            })
            .await
            .expect("create source")
            .into_inner()
    }

    /// Links sources to a stock with the given priorities.
    pub(crate) async fn link(&self, stock_id: i32, links: &[(&str, u32)]) {
        self.stocks()
            .link_sources(pb::LinkSourcesRequest {
                stock_id,
                links: links
                    .iter()
                    .map(|(code, priority)| pb::SourceLink {
                        source_code: (*code).into(),
                        priority: *priority,
                    })
                    .collect(),
            })
            .await
            .expect("link sources");
    }

    /// Upserts in-stock source items of (source, sku, quantity).
    pub(crate) async fn stock_items(&self, items: &[(&str, &str, &str)]) {
        self.items()
            .upsert_source_items(pb::UpsertSourceItemsRequest {
                items: items.iter().map(|(s, k, q)| item(s, k, q)).collect(),
            })
            .await
            .expect("upsert items");
    }

    /// Keeps a source item's quantity but takes it off sale (status OUT_OF_STOCK).
    pub(crate) async fn take_off_sale(&self, source: &str, sku: &str, quantity: &str) {
        let mut off_sale = item(source, sku, quantity);
        off_sale.status = pb::SourceItemStatus::OutOfStock as i32;
        self.items()
            .upsert_source_items(pb::UpsertSourceItemsRequest {
                items: vec![off_sale],
            })
            .await
            .expect("take off sale");
    }

    /// Sets source-item-level settings.
    pub(crate) async fn item_settings(&self, source: &str, sku: &str, set: pb::SettingValues) {
        self.settings()
            .update_source_item_settings(pb::UpdateSourceItemSettingsRequest {
                source_code: source.into(),
                sku: sku.into(),
                set: Some(set),
                clear: vec![],
            })
            .await
            .expect("item settings");
    }

    /// Sets product-level settings.
    pub(crate) async fn product_settings(&self, sku: &str, set: pb::SettingValues) {
        self.settings()
            .update_product_settings(pb::UpdateProductSettingsRequest {
                sku: sku.into(),
                set: Some(set),
                clear: vec![],
            })
            .await
            .expect("product settings");
    }

    /// The salable quantity of one SKU in stock 1.
    pub(crate) async fn salable(&self, sku: &str) -> pb::SalableQuantity {
        self.availability()
            .get_salable_quantities(pb::GetSalableQuantitiesRequest {
                scope: Some(stock(1)),
                skus: vec![sku.into()],
            })
            .await
            .expect("salable")
            .into_inner()
            .items
            .remove(0)
    }
}

/// An in-stock source item message.
pub(crate) fn item(source: &str, sku: &str, quantity: &str) -> pb::SourceItem {
    pb::SourceItem {
        source_code: source.into(),
        sku: sku.into(),
        quantity: quantity.into(),
        status: pb::SourceItemStatus::InStock as i32,
        settings: None,
        expected_quantity: None,
    }
}

/// A scope naming a stock by id.
pub(crate) fn stock(id: i32) -> pb::StockScope {
    pb::StockScope {
        scope: Some(pb::stock_scope::Scope::StockId(id)),
    }
}

/// A scope naming a sales channel.
pub(crate) fn channel(kind: &str, code: &str) -> pb::StockScope {
    pb::StockScope {
        scope: Some(pb::stock_scope::Scope::SalesChannel(pb::SalesChannel {
            r#type: kind.into(),
            code: code.into(),
        })),
    }
}

/// Asserts INVALID_ARGUMENT and returns the violated field paths, in order.
pub(crate) fn bad_fields(status: Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries BadRequest details");
    bad.field_violations.into_iter().map(|v| v.field).collect()
}

/// Asserts NOT_FOUND and returns (resource type, name).
pub(crate) fn not_found(status: Status) -> (String, String) {
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let info = status
        .get_details_resource_info()
        .expect("NOT_FOUND carries ResourceInfo");
    (info.resource_type, info.resource_name)
}

impl TestApp {
    /// Starts an application the test assembled itself (metrics listener, database checks…).
    pub(crate) async fn spawn_app(app: Application) -> TestApp {
        let addr = app.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        TestApp {
            channel,
            url: format!("http://{addr}"),
            shutdown: Some(tx),
            server: Some(server),
        }
    }
}

/// Polls `probe` until it answers `Some`; fails the test if that takes longer than 30 seconds.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The URL of the test's own database, for a stockd process: the suite's server (DATABASE_URL)
/// with the database sqlx::test created.
pub(crate) fn own_database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set by scripts/test.sh");
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server);
    let database = pool
        .connect_options()
        .get_database()
        .expect("test database name")
        .to_owned();
    format!("{server}/{database}")
}
