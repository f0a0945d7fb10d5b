//! Shipments and returns only where the order's stock sells from (DOMAIN §4): a source of another
//! stock or a disabled one is refused line by line, unmanaged products move no quantity, an
//! out-of-stock status still ships, and a stored shipment or return id answers before any check.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};
use tonic::Code;

use crate::{
    fulfilment::{client, on_hand, place, ship_line, shipment},
    orders::{line, refusals},
    support::TestApp,
};

fn give_back(
    order: &str,
    id: &str,
    source: &str,
    qty: &str,
    back_to_stock: bool,
) -> pb::ReturnItemsRequest {
    pb::ReturnItemsRequest {
        order_id: order.into(),
        return_id: id.into(),
        lines: vec![pb::ReturnLine {
            sku: "A".into(),
            source_code: source.into(),
            quantity: qty.into(),
            back_to_stock,
        }],
    }
}

async fn set_enabled(app: &TestApp, code: &str, enabled: bool) {
    app.sources()
        .set_source_enabled(pb::SetSourceEnabledRequest {
            code: code.into(),
            enabled,
        })
        .await
        .expect("enable or disable source");
}

/// Stock 2 sells from source `second` only, through channel website/second.
async fn second_stock(app: &TestApp) {
    app.create_source("second").await;
    app.stocks()
        .create_stock(pb::CreateStockRequest {
            name: "Second".into(),
        })
        .await
        .expect("create stock");
    app.link(2, &[("second", 1)]).await;
    app.stocks()
        .assign_sales_channels(pb::AssignSalesChannelsRequest {
            stock_id: 2,
            sales_channels: vec![pb::SalesChannel {
                r#type: "website".into(),
                code: "second".into(),
            }],
        })
        .await
        .expect("assign channel");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_source_of_another_stock_cannot_ship_the_units_that_stock_reserved(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    second_stock(&app).await;
    app.stock_items(&[("default", "A", "1"), ("second", "A", "1")])
        .await;
    place(&app, "o-1", vec![line("A", "1")]).await;
    app.reservations()
        .place_order(pb::PlaceOrderRequest {
            order_id: "o-2".into(),
            sales_channel: Some(pb::SalesChannel {
                r#type: "website".into(),
                code: "second".into(),
            }),
            lines: vec![line("A", "1")],
            cart_id: String::new(),
        })
        .await
        .expect("stock 2 order");

    let status = client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "second", "1")]))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "SOURCE_NOT_IN_STOCK".into())]
    );
    assert_eq!(on_hand(&app, "second", "A").await, "1", "nothing moved");
    client(&app)
        .confirm_shipment(shipment("o-2", "s-2", vec![ship_line("A", "second", "1")]))
        .await
        .expect("stock 2's order ships the unit it reserved");
    client(&app)
        .confirm_shipment(shipment("o-1", "s-3", vec![ship_line("A", "default", "1")]))
        .await
        .expect("stock 1's order ships from its own source");
    let status = client(&app)
        .return_items(give_back("o-1", "r-1", "second", "1", true))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "SOURCE_NOT_IN_STOCK".into())]
    );
    assert_eq!(on_hand(&app, "second", "A").await, "0");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_disabled_source_is_refused_per_line_but_stored_ids_still_answer(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("east").await;
    app.link(1, &[("east", 2)]).await;
    app.stock_items(&[
        ("default", "A", "5"),
        ("east", "A", "5"),
        ("east", "B", "5"),
    ])
    .await;
    place(&app, "o-1", vec![line("A", "3"), line("B", "1")]).await;
    let first = shipment("o-1", "s-1", vec![ship_line("A", "east", "1")]);
    client(&app).confirm_shipment(first.clone()).await.unwrap();
    client(&app)
        .return_items(give_back("o-1", "r-1", "east", "1", true))
        .await
        .unwrap();
    client(&app)
        .confirm_shipment(shipment("o-1", "s-2", vec![ship_line("A", "default", "1")]))
        .await
        .unwrap();
    set_enabled(&app, "east", false).await;

    // Retries are answered from what was stored, whatever the source's state now.
    let again = client(&app).confirm_shipment(first).await.unwrap();
    assert!(again.into_inner().replayed);
    let again = client(&app)
        .return_items(give_back("o-1", "r-1", "east", "1", true))
        .await
        .unwrap();
    assert!(again.into_inner().replayed);
    assert_eq!(on_hand(&app, "east", "A").await, "5", "nothing moved twice");
    // The same ids with other content are ALREADY_EXISTS, however the state would judge them.
    let other = shipment("o-1", "s-1", vec![ship_line("A", "east", "2")]);
    let status = client(&app).confirm_shipment(other).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let other = give_back("o-1", "r-1", "default", "1", false);
    let status = client(&app).return_items(other).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);

    // New requests: the disabled source's line is named, the good line is not.
    let status = client(&app)
        .confirm_shipment(shipment(
            "o-1",
            "s-3",
            vec![ship_line("A", "default", "1"), ship_line("B", "east", "1")],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[1]".into(), "SOURCE_DISABLED".into())]
    );
    let status = client(&app)
        .return_items(give_back("o-1", "r-2", "east", "1", true))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "SOURCE_DISABLED".into())]
    );
    client(&app)
        .return_items(give_back("o-1", "r-3", "east", "1", false))
        .await
        .expect("a write-off needs no source");
    assert_eq!(on_hand(&app, "east", "A").await, "5");
    assert_eq!(on_hand(&app, "default", "A").await, "4");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_out_of_stock_status_stops_selling_not_shipping(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "5")]).await;
    place(&app, "o-1", vec![line("A", "2")]).await;
    app.take_off_sale("default", "A", "5").await;
    client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("A", "default", "2")]))
        .await
        .expect("ships");
    assert_eq!(on_hand(&app, "default", "A").await, "3");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unmanaged_products_ship_and_come_back_without_moving_any_quantity(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "U", "0"), ("default", "G", "1")])
        .await;
    app.product_settings(
        "U",
        pb::SettingValues {
            manage_stock: Some(false),
            ..Default::default()
        },
    )
    .await;
    place(&app, "o-1", vec![line("U", "5")]).await;
    let plan = client(&app)
        .suggest_sources(pb::SuggestSourcesRequest {
            subject: Some(pb::suggest_sources_request::Subject::OrderId("o-1".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(plan.shippable);
    let planned = &plan.lines[0];
    assert!(planned.nothing_to_deduct && planned.picks.is_empty());
    assert_eq!(planned.shortage, "0");
    client(&app)
        .confirm_shipment(shipment("o-1", "s-1", vec![ship_line("U", "default", "5")]))
        .await
        .expect("no shortage refuses an unmanaged line");
    assert_eq!(on_hand(&app, "default", "U").await, "0", "nothing deducted");
    let back = pb::ReturnItemsRequest {
        order_id: "o-1".into(),
        return_id: "r-1".into(),
        lines: vec![pb::ReturnLine {
            sku: "U".into(),
            source_code: "default".into(),
            quantity: "2".into(),
            back_to_stock: true,
        }],
    };
    client(&app).return_items(back).await.unwrap();
    assert_eq!(
        on_hand(&app, "default", "U").await,
        "0",
        "nothing restocked"
    );

    // The global default turns stock management off just the same.
    app.settings()
        .update_global_settings(pb::UpdateGlobalSettingsRequest {
            set: Some(pb::SettingValues {
                manage_stock: Some(false),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    place(&app, "o-2", vec![line("G", "3")]).await;
    client(&app)
        .confirm_shipment(shipment("o-2", "s-2", vec![ship_line("G", "default", "3")]))
        .await
        .expect("ships");
    assert_eq!(on_hand(&app, "default", "G").await, "1");
}
