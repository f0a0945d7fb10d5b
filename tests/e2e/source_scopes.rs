//! Source scopes wherever a source is named or shown (DOMAIN §7): a caller limited to some
//! sources ships, takes returns, plans, lists low stock and reads fulfilment plans only there,
//! while aggregate numbers stay whole.

use sqlx::PgPool;
use stockd::{
    auth::tokens::{TokenTable, hash_token},
    grpc::pb,
    repo::MIGRATOR,
};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

use crate::{
    auth::with_token,
    fulfilment::{on_hand, place, ship_line, shipment},
    orders::line,
    support::{TestApp, stock},
};

/// `t-ops` is the token of the bug report; `t-ship` a fulfilment-only caller with a scope.
fn tokens() -> TokenTable {
    let text = format!(
        "{} admin,fulfilment sources=east name=east-ops\n{} fulfilment sources=east name=east-shipper\n{} admin,fulfilment name=head-office\n",
        hash_token("t-ops"),
        hash_token("t-ship"),
        hash_token("t-all"),
    );
    TokenTable::parse(&text).unwrap()
}

/// A secured server, and an open one on the same database for setting up: east and west are
/// linked to stock 1 after the default source.
async fn spawn(pool: PgPool, items: &[(&str, &str, &str)]) -> (TestApp, TestApp) {
    let open = TestApp::spawn(pool.clone()).await;
    open.create_source("east").await;
    open.create_source("west").await;
    open.link(1, &[("east", 2), ("west", 3)]).await;
    open.stock_items(items).await;
    let secured = TestApp::spawn_with_tokens(pool, tokens()).await;
    (secured, open)
}

fn fulfilment(app: &TestApp) -> pb::fulfilment_service_client::FulfilmentServiceClient<Channel> {
    pb::fulfilment_service_client::FulfilmentServiceClient::new(app.channel.clone())
}

/// Asserts PERMISSION_DENIED for sources outside the scope; returns (field, source), sorted.
fn outside(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "SOURCE_NOT_IN_SCOPE");
    let mut named: Vec<_> = info.metadata.into_iter().collect();
    named.sort();
    named
}

fn give_back(source: &str, back_to_stock: bool) -> pb::ReturnItemsRequest {
    pb::ReturnItemsRequest {
        order_id: "o-1".into(),
        return_id: format!("r-{source}-{back_to_stock}"),
        lines: vec![pb::ReturnLine {
            sku: "A".into(),
            source_code: source.into(),
            quantity: "1".into(),
            back_to_stock,
        }],
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_scoped_caller_ships_and_takes_returns_only_at_its_own_sources(pool: PgPool) {
    let items = [
        ("default", "A", "10"),
        ("east", "A", "10"),
        ("west", "A", "10"),
    ];
    let (app, open) = spawn(pool, &items).await;
    place(&open, "o-1", vec![line("A", "4")]).await;
    for token in ["t-ops", "t-ship"] {
        let west = shipment("o-1", "s-w", vec![ship_line("A", "west", "1")]);
        let status = fulfilment(&app)
            .confirm_shipment(with_token(west, token))
            .await
            .unwrap_err();
        assert_eq!(
            outside(&status),
            [("lines[0].source_code".into(), "west".into())]
        );
        let mixed = shipment(
            "o-1",
            "s-m",
            vec![ship_line("A", "east", "1"), ship_line("A", "west", "1")],
        );
        let status = fulfilment(&app)
            .confirm_shipment(with_token(mixed, token))
            .await
            .unwrap_err();
        assert_eq!(
            outside(&status),
            [("lines[1].source_code".into(), "west".into())]
        );
    }
    assert_eq!(on_hand(&open, "west", "A").await, "10", "nothing moved");
    let east = shipment("o-1", "s-e", vec![ship_line("A", "east", "2")]);
    fulfilment(&app)
        .confirm_shipment(with_token(east, "t-ship"))
        .await
        .expect("own source");
    for back_to_stock in [true, false] {
        let status = fulfilment(&app)
            .return_items(with_token(give_back("west", back_to_stock), "t-ops"))
            .await
            .unwrap_err();
        assert_eq!(outside(&status).len(), 1, "{back_to_stock}");
    }
    fulfilment(&app)
        .return_items(with_token(give_back("east", true), "t-ops"))
        .await
        .expect("own source");
    assert_eq!(on_hand(&open, "east", "A").await, "9");
    // The admin checks give the same details.
    let status = pb::source_item_service_client::SourceItemServiceClient::new(app.channel.clone())
        .get_source_item(with_token(
            pb::GetSourceItemRequest {
                source_code: "west".into(),
                sku: "A".into(),
            },
            "t-ops",
        ))
        .await
        .unwrap_err();
    assert_eq!(outside(&status), [("source_code".into(), "west".into())]);
}

/// (source, deduct) of each pick of the first line.
fn picks(answer: &pb::SuggestSourcesResponse) -> Vec<(String, String)> {
    answer.lines[0]
        .picks
        .iter()
        .map(|p| (p.source_code.clone(), p.deduct.clone()))
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_scoped_caller_plans_shipments_from_its_own_sources_only(pool: PgPool) {
    let items = [
        ("default", "A", "10"),
        ("east", "A", "3"),
        ("west", "A", "10"),
    ];
    let (app, open) = spawn(pool, &items).await;
    place(&open, "o-1", vec![line("A", "5")]).await;
    let for_order = || pb::SuggestSourcesRequest {
        subject: Some(pb::suggest_sources_request::Subject::OrderId("o-1".into())),
        ..Default::default()
    };
    let whole = fulfilment(&app)
        .suggest_sources(with_token(for_order(), "t-all"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(picks(&whole), [("default".into(), "5".into())]);
    let scoped = fulfilment(&app)
        .suggest_sources(with_token(for_order(), "t-ops"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(picks(&scoped), [("east".into(), "3".into())]);
    assert_eq!(scoped.lines[0].shortage, "2");
    assert!(!scoped.shippable, "east alone cannot ship five");
    let lines = pb::SuggestSourcesRequest {
        subject: Some(pb::suggest_sources_request::Subject::Lines(
            pb::LinesToShip {
                scope: Some(stock(1)),
                lines: vec![line("A", "2")],
            },
        )),
        ..Default::default()
    };
    let scoped = fulfilment(&app)
        .suggest_sources(with_token(lines, "t-ship"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(picks(&scoped), [("east".into(), "2".into())]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn low_stock_and_fulfilment_plans_show_a_scoped_caller_only_its_sources(pool: PgPool) {
    let items = [
        ("default", "A", "10"),
        ("east", "A", "10"),
        ("west", "A", "10"),
        ("east", "B", "0"),
        ("west", "B", "0"),
    ];
    let (app, open) = spawn(pool, &items).await;
    open.item_settings(
        "west",
        "A",
        pb::SettingValues {
            restock_date: Some("2030-01-01".into()),
            ..Default::default()
        },
    )
    .await;
    let low = fulfilment(&app)
        .list_low_stock(with_token(pb::ListLowStockRequest::default(), "t-ship"))
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<_> = low.items.iter().map(|i| i.source_code.as_str()).collect();
    assert_eq!(listed, ["east"]);
    let west_only = pb::ListLowStockRequest {
        source_code: "west".into(),
        ..Default::default()
    };
    let status = fulfilment(&app)
        .list_low_stock(with_token(west_only, "t-ship"))
        .await
        .unwrap_err();
    assert_eq!(outside(&status), [("source_code".into(), "west".into())]);

    let check = |token: &str| {
        let request = pb::CheckQuantitiesRequest {
            scope: Some(stock(1)),
            lines: vec![line("A", "25")],
            cart_id: String::new(),
        };
        let mut client =
            pb::availability_service_client::AvailabilityServiceClient::new(app.channel.clone());
        let request = with_token(request, token);
        async move { client.check_quantities(request).await.unwrap().into_inner() }
    };
    let whole = check("t-all").await.lines.remove(0);
    let scoped = check("t-ops").await.lines.remove(0);
    let sources = |l: &pb::LineCheck| -> Vec<String> {
        l.plan.iter().map(|p| p.source_code.clone()).collect()
    };
    assert_eq!(sources(&whole), ["default", "east", "west"]);
    assert!(whole.plan[2].restock.is_some());
    assert_eq!(sources(&scoped), ["east"]);
    assert_eq!(scoped.plan[0].from_on_hand, "10");
    assert_eq!(
        (
            scoped.is_salable,
            scoped.salable.as_ref().unwrap().salable_qty.as_str()
        ),
        (true, "30"),
        "the aggregate stays whole"
    );
    assert_eq!(scoped.salable, whole.salable);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn admin_batches_name_every_source_outside_the_scope_and_stocks_show_only_its_links(
    pool: PgPool,
) {
    let (app, open) = spawn(pool, &[("east", "A", "1"), ("west", "A", "1")]).await;
    let items = pb::UpsertSourceItemsRequest {
        items: ["east", "west", "default"]
            .iter()
            .map(|source| crate::support::item(source, "A", "9"))
            .collect(),
    };
    let status = pb::source_item_service_client::SourceItemServiceClient::new(app.channel.clone())
        .upsert_source_items(with_token(items, "t-ops"))
        .await
        .unwrap_err();
    assert_eq!(
        outside(&status),
        [
            ("items[1].source_code".into(), "west".into()),
            ("items[2].source_code".into(), "default".into())
        ]
    );
    assert_eq!(on_hand(&open, "east", "A").await, "1", "refused whole");
    let stock = pb::stock_service_client::StockServiceClient::new(app.channel.clone())
        .get_stock(with_token(pb::GetStockRequest { stock_id: 1 }, "t-ops"))
        .await
        .unwrap()
        .into_inner();
    let linked: Vec<_> = stock.links.iter().map(|l| l.source_code.as_str()).collect();
    assert_eq!(linked, ["east"]);
    let listed = pb::stock_service_client::StockServiceClient::new(app.channel.clone())
        .list_stocks(with_token(pb::ListStocksRequest::default(), "t-all"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.stocks[0].links.len(),
        3,
        "an unscoped admin sees every link"
    );
}
