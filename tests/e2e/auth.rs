//! Authentication and authorization over gRPC: the role × RPC matrix, missing, expired and forged
//! tokens, open health and reflection, and source-scoped admins.

use sqlx::PgPool;
use stockd::{
    auth::tokens::{TokenTable, hash_token},
    grpc::pb,
    repo::MIGRATOR,
};
use tonic::{Code, Request, Status};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    orders::{line, order},
    support::{TestApp, stock},
};

const ROLES: [&str; 4] = ["storefront", "checkout", "fulfilment", "admin"];

fn tokens() -> TokenTable {
    let text = format!(
        "{} storefront\n{} checkout\n{} fulfilment\n{} admin\n{} admin sources=east name=east-manager\n{} admin expires=2020-01-01T00:00:00Z\n",
        hash_token("t-storefront"),
        hash_token("t-checkout"),
        hash_token("t-fulfilment"),
        hash_token("t-admin"),
        hash_token("t-east"),
        hash_token("t-old"),
    );
    TokenTable::parse(&text).unwrap()
}

pub(crate) fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    request
}

/// Starts a server with tokens, and one without on the same database for setting up data.
async fn spawn(pool: PgPool) -> (TestApp, TestApp) {
    let open = TestApp::spawn(pool.clone()).await;
    open.create_source("east").await;
    open.create_source("west").await;
    open.link(1, &[("east", 2), ("west", 3)]).await;
    open.stock_items(&[
        ("east", "A", "10"),
        ("west", "A", "10"),
        ("default", "A", "10"),
    ])
    .await;
    let secured = TestApp::spawn_with_tokens(pool, tokens()).await;
    (secured, open)
}

/// One representative call per access rule; `token` goes in the metadata.
async fn call(app: &TestApp, rpc: &str, token: &str) -> Result<(), Status> {
    let ch = app.channel.clone();
    match rpc {
        "GetSalableQuantities" => {
            pb::availability_service_client::AvailabilityServiceClient::new(ch)
                .get_salable_quantities(with_token(
                    pb::GetSalableQuantitiesRequest {
                        scope: Some(stock(1)),
                        skus: vec!["A".into()],
                    },
                    token,
                ))
                .await
                .map(drop)
        }
        "PlaceOrder" => pb::reservation_service_client::ReservationServiceClient::new(ch)
            .place_order(with_token(
                order(&format!("o-{token}"), vec![line("A", "1")]),
                token,
            ))
            .await
            .map(drop),
        "GetOrder" => pb::reservation_service_client::ReservationServiceClient::new(ch)
            .get_order(with_token(
                pb::GetOrderRequest {
                    order_id: "none".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "ConfirmShipment" => pb::fulfilment_service_client::FulfilmentServiceClient::new(ch)
            .confirm_shipment(with_token(
                pb::ConfirmShipmentRequest {
                    order_id: "none".into(),
                    shipment_id: "s".into(),
                    lines: vec![pb::SourceQuantityLine {
                        sku: "A".into(),
                        source_code: "east".into(),
                        quantity: "1".into(),
                    }],
                },
                token,
            ))
            .await
            .map(drop),
        "CheckConsistency" => pb::fulfilment_service_client::FulfilmentServiceClient::new(ch)
            .check_consistency(with_token(
                pb::CheckConsistencyRequest { repair: false },
                token,
            ))
            .await
            .map(drop),
        "ListSources" => pb::source_service_client::SourceServiceClient::new(ch)
            .list_sources(with_token(pb::ListSourcesRequest::default(), token))
            .await
            .map(drop),
        "UpdateGlobalSettings" => pb::settings_service_client::SettingsServiceClient::new(ch)
            .update_global_settings(with_token(
                pb::UpdateGlobalSettingsRequest { set: None },
                token,
            ))
            .await
            .map(drop),
        other => panic!("no call for {other}"),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_role_reaches_exactly_its_rpcs(pool: PgPool) {
    let (app, _open) = spawn(pool).await;
    let matrix: [(&str, &[&str]); 7] = [
        ("GetSalableQuantities", &ROLES),
        ("PlaceOrder", &["checkout"]),
        ("GetOrder", &["checkout", "fulfilment", "admin"]),
        ("ConfirmShipment", &["fulfilment"]),
        ("CheckConsistency", &["admin"]),
        ("ListSources", &["admin"]),
        ("UpdateGlobalSettings", &["admin"]),
    ];
    for (rpc, allowed) in matrix {
        for role in ROLES {
            let result = call(&app, rpc, &format!("t-{role}")).await;
            let code = result.as_ref().err().map(Status::code);
            if allowed.contains(&role) {
                assert!(
                    !matches!(code, Some(Code::PermissionDenied | Code::Unauthenticated)),
                    "{role} should reach {rpc}: {result:?}"
                );
            } else {
                assert_eq!(
                    code,
                    Some(Code::PermissionDenied),
                    "{role} must not reach {rpc}"
                );
            }
        }
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn missing_expired_and_forged_tokens_are_unauthenticated(pool: PgPool) {
    let (app, _open) = spawn(pool).await;
    let missing =
        pb::availability_service_client::AvailabilityServiceClient::new(app.channel.clone())
            .get_salable_quantities(pb::GetSalableQuantitiesRequest {
                scope: Some(stock(1)),
                skus: vec!["A".into()],
            })
            .await
            .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    for token in ["t-old", "forged", "t-admin "] {
        let status = call(&app, "GetSalableQuantities", token).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
    }
    assert!(call(&app, "GetSalableQuantities", "t-admin").await.is_ok());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn health_and_reflection_need_no_token(pool: PgPool) {
    let (app, _open) = spawn(pool).await;
    let health = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(app.channel.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    assert!(replies.message().await.unwrap().is_some());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_source_scoped_admin_sees_and_changes_only_their_sources(pool: PgPool) {
    let (app, _open) = spawn(pool).await;
    let ch = || app.channel.clone();
    let items = || pb::source_item_service_client::SourceItemServiceClient::new(ch());
    let settings = || pb::settings_service_client::SettingsServiceClient::new(ch());
    let sources = || pb::source_service_client::SourceServiceClient::new(ch());

    // Reads: own source yes, another no; listings show only their sources.
    let get = |source: &str| {
        with_token(
            pb::GetSourceItemRequest {
                source_code: source.into(),
                sku: "A".into(),
            },
            "t-east",
        )
    };
    assert!(items().get_source_item(get("east")).await.is_ok());
    let denied = items().get_source_item(get("west")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let listed = items()
        .list_source_items(with_token(
            pb::ListSourceItemsRequest {
                filter: Some(pb::list_source_items_request::Filter::Sku("A".into())),
                ..Default::default()
            },
            "t-east",
        ))
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<_> = listed
        .items
        .iter()
        .map(|i| i.source_code.as_str())
        .collect();
    assert_eq!(codes, ["east"]);
    let listed = sources()
        .list_sources(with_token(pb::ListSourcesRequest::default(), "t-east"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.sources.len(), 1);
    let read_settings = settings()
        .get_source_item_settings(with_token(
            pb::GetSourceItemSettingsRequest {
                source_code: "west".into(),
                sku: "A".into(),
            },
            "t-east",
        ))
        .await
        .unwrap_err();
    assert_eq!(read_settings.code(), Code::PermissionDenied);

    // Writes: a batch touching another source is refused whole.
    let batch = |sources: &[&str]| {
        with_token(
            pb::UpsertSourceItemsRequest {
                items: sources
                    .iter()
                    .map(|s| crate::support::item(s, "A", "99"))
                    .collect(),
            },
            "t-east",
        )
    };
    let refused = items()
        .upsert_source_items(batch(&["east", "west"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let admin_view = items()
        .get_source_item(with_token(
            pb::GetSourceItemRequest {
                source_code: "east".into(),
                sku: "A".into(),
            },
            "t-admin",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(admin_view.quantity, "10", "nothing changed");
    items().upsert_source_items(batch(&["east"])).await.unwrap();
    let change = |source: &str| {
        with_token(
            pb::UpdateSourceItemSettingsRequest {
                source_code: source.into(),
                sku: "A".into(),
                set: Some(pb::SettingValues {
                    backorders: Some(pb::BackorderMode::Allow as i32),
                    ..Default::default()
                }),
                clear: vec![],
            },
            "t-east",
        )
    };
    assert!(
        settings()
            .update_source_item_settings(change("east"))
            .await
            .is_ok()
    );
    let refused = settings()
        .update_source_item_settings(change("west"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let global = settings()
        .update_global_settings(with_token(
            pb::UpdateGlobalSettingsRequest { set: None },
            "t-east",
        ))
        .await
        .unwrap_err();
    assert_eq!(global.code(), Code::PermissionDenied);
}
