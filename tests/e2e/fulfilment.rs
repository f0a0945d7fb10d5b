//! FulfilmentService over gRPC: the MSI lifecycles, backordered shipments, concurrency, retries,
//! source selection, low stock and the consistency check.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::{
    orders::{futures_join_all, line, order, refusals},
    support::{TestApp, bad_fields, not_found},
};

const ALLOW: i32 = pb::BackorderMode::Allow as i32;

pub(crate) fn ship_line(sku: &str, source: &str, qty: &str) -> pb::SourceQuantityLine {
    pb::SourceQuantityLine {
        sku: sku.into(),
        source_code: source.into(),
        quantity: qty.into(),
    }
}

pub(crate) fn shipment(
    order: &str,
    id: &str,
    lines: Vec<pb::SourceQuantityLine>,
) -> pb::ConfirmShipmentRequest {
    pb::ConfirmShipmentRequest {
        order_id: order.into(),
        shipment_id: id.into(),
        lines,
    }
}

pub(crate) async fn place(app: &TestApp, id: &str, lines: Vec<pb::QuantityLine>) {
    app.reservations()
        .place_order(order(id, lines))
        .await
        .expect("place order");
}

pub(crate) async fn on_hand(app: &TestApp, source: &str, sku: &str) -> String {
    app.items()
        .get_source_item(pb::GetSourceItemRequest {
            source_code: source.into(),
            sku: sku.into(),
        })
        .await
        .expect("source item")
        .into_inner()
        .quantity
}

async fn ledger(app: &TestApp, order: &str) -> Vec<(String, String)> {
    app.reservations()
        .list_order_reservations(pb::ListOrderReservationsRequest {
            order_id: order.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reservations
        .into_iter()
        .map(|r| (r.event, r.quantity))
        .collect()
}

/// Runs the consistency check and returns (differences reported, summary).
async fn consistency(
    app: &TestApp,
    repair: bool,
) -> (Vec<pb::ConsistencyReport>, pb::ConsistencySummary) {
    consistency_on(app.channel.clone(), repair).await
}

/// Runs the consistency check on any server and returns (differences reported, summary).
pub(crate) async fn consistency_on(
    channel: tonic::transport::Channel,
    repair: bool,
) -> (Vec<pb::ConsistencyReport>, pb::ConsistencySummary) {
    let mut stream = pb::fulfilment_service_client::FulfilmentServiceClient::new(channel)
        .check_consistency(pb::CheckConsistencyRequest { repair })
        .await
        .unwrap()
        .into_inner();
    let mut found = Vec::new();
    while let Some(report) = stream.next().await {
        let report = report.unwrap();
        if let Some(pb::consistency_report::Report::Summary(summary)) = report.report {
            return (found, summary);
        }
        found.push(report);
    }
    panic!("the stream ended without a summary");
}

pub(crate) fn client(
    app: &TestApp,
) -> pb::fulfilment_service_client::FulfilmentServiceClient<tonic::transport::Channel> {
    pb::fulfilment_service_client::FulfilmentServiceClient::new(app.channel.clone())
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn shipping_everything_leaves_salable_unchanged_and_closes_the_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    place(&app, "o-1", vec![line("A", "4")]).await;
    assert_eq!(app.salable("A").await.salable_qty, "6");
    let done = client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "default", "4")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        app.salable("A").await.salable_qty,
        "6",
        "salable unchanged by the shipment"
    );
    assert_eq!(on_hand(&app, "default", "A").await, "6");
    let order = done.order.unwrap();
    assert_eq!(order.status, pb::OrderStatus::Closed as i32);
    assert_eq!(order.lines[0].shipped, "4");
    assert_eq!(
        ledger(&app, "o-1").await,
        [
            ("ORDER_PLACED".into(), "-4".into()),
            ("SHIPMENT_CREATED".into(), "4".into())
        ]
    );
    // Retried three times: nothing more happens.
    for _ in 0..3 {
        let again = client(&app)
            .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "default", "4")]))
            .await
            .unwrap()
            .into_inner();
        assert!(again.replayed);
    }
    assert_eq!(on_hand(&app, "default", "A").await, "6");
    let status = client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "default", "3")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn order_five_ship_two_cancel_the_rest(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    place(&app, "o-1", vec![line("A", "5")]).await;
    client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "default", "2")]))
        .await
        .unwrap();
    let canceled = app
        .reservations()
        .cancel_order(pb::CancelOrderRequest {
            order_id: "o-1".into(),
            cancellation_id: "c-1".into(),
            lines: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(canceled.canceled[0].quantity, "3");
    assert_eq!(
        ledger(&app, "o-1").await,
        [
            ("ORDER_PLACED".into(), "-5".into()),
            ("SHIPMENT_CREATED".into(), "2".into()),
            ("ORDER_CANCELED".into(), "3".into())
        ]
    );
    assert_eq!(app.salable("A").await.salable_qty, "8");
    assert_eq!(on_hand(&app, "default", "A").await, "8");
    let status = client(&app)
        .confirm_shipment(shipment("o-1", "s-2", vec![ship_line("A", "default", "1")]))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "QTY_EXCEEDS_OPEN".into())]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn returns_restock_or_write_off_never_more_than_shipped(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    place(&app, "o-1", vec![line("A", "3")]).await;
    client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "default", "3")]))
        .await
        .unwrap();
    let back = |id: &str, qty: &str, back_to_stock: bool| pb::ReturnItemsRequest {
        order_id: "o-1".into(),
        return_id: id.into(),
        lines: vec![pb::ReturnLine {
            sku: "A".into(),
            source_code: "default".into(),
            quantity: qty.into(),
            back_to_stock,
        }],
    };
    for _ in 0..2 {
        client(&app)
            .return_items(back("r-1", "2", true))
            .await
            .unwrap();
    }
    assert_eq!(
        on_hand(&app, "default", "A").await,
        "9",
        "two back on the shelf, once"
    );
    assert_eq!(app.salable("A").await.salable_qty, "9");
    client(&app)
        .return_items(back("r-2", "1", false))
        .await
        .unwrap();
    assert_eq!(on_hand(&app, "default", "A").await, "9", "written off");
    let status = client(&app)
        .return_items(back("r-3", "1", true))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "QTY_EXCEEDS_SHIPPED".into())]
    );
    let order = app
        .reservations()
        .get_order(pb::GetOrderRequest {
            order_id: "o-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(order.lines[0].returned, "3");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_backordered_order_ships_from_a_backorderable_source_only(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("drop").await;
    app.link(1, &[("drop", 2)]).await;
    app.stock_items(&[("default", "A", "0"), ("drop", "A", "0")])
        .await;
    app.item_settings(
        "drop",
        "A",
        pb::SettingValues {
            backorders: Some(ALLOW),
            out_of_stock_threshold: Some("-5".into()),
            ..Default::default()
        },
    )
    .await;
    place(&app, "o-1", vec![line("A", "3")]).await;
    let status = client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "default", "3")]))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "BACKORDERS_NOT_ALLOWED".into())]
    );
    assert_eq!(on_hand(&app, "default", "A").await, "0", "nothing changed");
    client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "drop", "3")]))
        .await
        .unwrap();
    assert_eq!(on_hand(&app, "drop", "A").await, "-3");
    assert_eq!(app.salable("A").await.salable_qty, "2");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_shipments_never_take_a_source_past_its_limit(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("drop").await;
    app.link(1, &[("drop", 2)]).await;
    app.stock_items(&[("default", "A", "10"), ("drop", "A", "0")])
        .await;
    app.item_settings(
        "drop",
        "A",
        pb::SettingValues {
            backorders: Some(ALLOW),
            out_of_stock_threshold: Some("-5".into()),
            ..Default::default()
        },
    )
    .await;
    for i in 0..10 {
        place(&app, &format!("o-{i}"), vec![line("A", "1")]).await;
    }
    let results = futures_join_all((0..10).map(|i| {
        let mut client = client(&app);
        async move {
            client
                .confirm_shipment(shipment(
                    &format!("o-{i}"),
                    &format!("s-{i}"),
                    vec![ship_line("A", "drop", "1")],
                ))
                .await
        }
    }))
    .await;
    let shipped = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(shipped, 5);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(
            refusals(refused),
            [("lines[0]".into(), "BELOW_BACKORDER_LIMIT".into())]
        );
    }
    assert_eq!(on_hand(&app, "drop", "A").await, "-5");
    let (found, summary) = consistency(&app, false).await;
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(summary.differences, 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_shipments_are_refused_with_a_reason_and_change_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    place(&app, "o-1", vec![line("A", "2")]).await;
    let status = client(&app)
        .confirm_shipment(shipment(
            "nope",
            "s-1",
            vec![ship_line("A", "default", "1")],
        ))
        .await
        .unwrap_err();
    assert_eq!(not_found(status), ("order".into(), "nope".into()));
    let status = client(&app)
        .confirm_shipment(shipment(
            "o-1",
            "s-1",
            vec![
                ship_line("A", "elsewhere", "1"),
                ship_line("B", "default", "1"),
            ],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[1]".into(), "SKU_NOT_ON_ORDER".into())]
    );
    let status = client(&app)
        .confirm_shipment(shipment(
            "o-1",
            "s-1",
            vec![ship_line("A", "elsewhere", "1")],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "SOURCE_ITEM_NOT_FOUND".into())]
    );
    let status = client(&app)
        .confirm_shipment(shipment(
            "o-1",
            "",
            vec![
                ship_line("A", "default", "0"),
                ship_line("A", "default", "1"),
            ],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(status),
        ["shipment_id", "lines[1]", "lines[0].quantity"]
    );
    assert_eq!(on_hand(&app, "default", "A").await, "10");
    assert_eq!(app.salable("A").await.salable_qty, "8");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sources_are_suggested_for_an_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("far").await;
    app.link(1, &[("far", 2)]).await;
    app.stock_items(&[("default", "A", "1"), ("far", "A", "5"), ("far", "B", "5")])
        .await;
    place(&app, "o-1", vec![line("A", "2"), line("B", "1")]).await;
    let suggest = |algorithm: pb::SelectionAlgorithm| pb::SuggestSourcesRequest {
        subject: Some(pb::suggest_sources_request::Subject::OrderId("o-1".into())),
        algorithm: algorithm as i32,
        destination: None,
    };
    let by_priority = client(&app)
        .suggest_sources(suggest(pb::SelectionAlgorithm::Priority))
        .await
        .unwrap()
        .into_inner();
    assert!(by_priority.shippable);
    let picks: Vec<_> = by_priority.lines[0]
        .picks
        .iter()
        .map(|p| (p.source_code.as_str(), p.deduct.as_str()))
        .collect();
    assert_eq!(picks, [("default", "1"), ("far", "1")]);
    let fewest = client(&app)
        .suggest_sources(suggest(pb::SelectionAlgorithm::FewestSources))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fewest.lines[0].picks[0].source_code, "far");
    assert_eq!(fewest.lines[0].picks.len(), 1);
    let status = client(&app)
        .suggest_sources(suggest(pb::SelectionAlgorithm::Distance))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["destination"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn low_stock_lists_items_below_their_effective_notify_quantity(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[
        ("default", "A", "0"),
        ("default", "B", "5"),
        ("default", "C", "3"),
    ])
    .await;
    app.item_settings(
        "default",
        "C",
        pb::SettingValues {
            notify_stock_qty: Some("4".into()),
            ..Default::default()
        },
    )
    .await;
    let page = client(&app)
        .list_low_stock(pb::ListLowStockRequest {
            source_code: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let skus: Vec<_> = page
        .items
        .iter()
        .map(|i| (i.sku.as_str(), i.notify_stock_qty.as_str()))
        .collect();
    assert_eq!(skus, [("A", "1"), ("C", "4")]);
    let status = client(&app)
        .list_low_stock(pb::ListLowStockRequest {
            source_code: "nowhere".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status).0, "source");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_consistency_check_finds_and_repairs_a_broken_ledger(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.stock_items(&[("default", "A", "10")]).await;
    place(&app, "o-1", vec![line("A", "4")]).await;
    let (found, summary) = consistency(&app, false).await;
    assert!(found.is_empty());
    assert_eq!(summary.differences, 0);
    // Simulate the damage MSI's repair tool exists for: a lost ledger row.
    sqlx::query("DELETE FROM reservation WHERE order_id = 'o-1'")
        .execute(&pool)
        .await
        .unwrap();
    let (found, summary) = consistency(&app, false).await;
    assert_eq!(summary.differences, 2, "{found:?}");
    let (_, summary) = consistency(&app, true).await;
    assert_eq!((summary.differences, summary.repaired), (2, 2));
    let (found, summary) = consistency(&app, false).await;
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(summary.differences, 0);
    assert_eq!(app.salable("A").await.salable_qty, "6");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_consistency_check_finds_and_repairs_a_stale_copy_of_product_settings(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.stock_items(&[("default", "A", "0")]).await;
    app.product_settings(
        "A",
        pb::SettingValues {
            backorders: Some(pb::BackorderMode::Allow as i32),
            ..Default::default()
        },
    )
    .await;
    assert!(app.salable("A").await.is_salable);
    // Damage only a write behind the triggers' back could do: the copy forgets the backorders.
    let damage = "UPDATE stock_sku SET product_backorders = NULL WHERE sku = 'A'";
    let found = the_repaired_difference_after(&app, &pool, damage).await;
    assert!(matches!(
        &found,
        Some(pb::consistency_report::Report::ProductSettingsCopy(d))
            if d.sku == "A" && d.stock_id == 1 && !d.repaired
    ));
    assert!(app.salable("A").await.is_salable);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_consistency_check_finds_and_repairs_a_stale_copy_of_source_items(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.stock_items(&[("default", "A", "10")]).await;
    // Damage only a write behind the triggers' back could do: the copy says 3, the item 10.
    let damage = "UPDATE stock_sku SET item_quantities = '{3}' WHERE sku = 'A'";
    let found = the_repaired_difference_after(&app, &pool, damage).await;
    assert!(matches!(
        &found,
        Some(pb::consistency_report::Report::SourceItemCopy(d))
            if d.sku == "A" && d.stock_id == 1 && !d.repaired
    ));
    assert_eq!(app.salable("A").await.salable_qty, "10");
}

/// Checks the store is consistent, damages it with `damage`, checks the check then finds exactly
/// one difference and that a repair clears it; returns that difference as first reported.
async fn the_repaired_difference_after(
    app: &TestApp,
    pool: &PgPool,
    damage: &'static str,
) -> Option<pb::consistency_report::Report> {
    assert_eq!(consistency(app, false).await.1.differences, 0);
    sqlx::query(damage).execute(pool).await.unwrap();
    let (found, summary) = consistency(app, false).await;
    assert_eq!(summary.differences, 1, "{found:?}");
    let (_, summary) = consistency(app, true).await;
    assert_eq!((summary.differences, summary.repaired), (1, 1));
    assert_eq!(consistency(app, false).await.1.differences, 0);
    found.into_iter().next().and_then(|r| r.report)
}
