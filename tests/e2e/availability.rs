//! AvailabilityService over gRPC: the worked examples of docs/domain.md and every error.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};

use crate::support::{TestApp, bad_fields, channel, not_found, stock};

const ALLOW: i32 = pb::BackorderMode::Allow as i32;
const ALLOW_NOTIFY: i32 = pb::BackorderMode::AllowNotify as i32;

fn line(sku: &str, quantity: &str) -> pb::QuantityLine {
    pb::QuantityLine {
        sku: sku.into(),
        quantity: quantity.into(),
    }
}

async fn check(app: &TestApp, lines: Vec<pb::QuantityLine>) -> Vec<pb::LineCheck> {
    app.availability()
        .check_quantities(pb::CheckQuantitiesRequest {
            scope: Some(stock(1)),
            lines,
            cart_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .lines
}

/// The MSI documentation's example: 25 on hand, backorders allowed down to −50.
async fn msi_example(app: &TestApp) {
    app.stock_items(&[("default", "MSI", "25")]).await;
    app.product_settings(
        "MSI",
        pb::SettingValues {
            backorders: Some(ALLOW),
            out_of_stock_threshold: Some("-50".into()),
            ..Default::default()
        },
    )
    .await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_msi_example_sells_75(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    msi_example(&app).await;
    let salable = app.salable("MSI").await;
    assert_eq!(salable.salable_qty, "75");
    assert!(salable.is_salable && salable.assigned && salable.manage_stock);
    assert!(!salable.unlimited);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_order_of_30_with_25_on_hand_backorders_5(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    msi_example(&app).await;
    let lines = check(&app, vec![line("MSI", "30")]).await;
    assert!(lines[0].is_salable);
    assert_eq!(lines[0].backordered_qty, "5");
    assert!(lines[0].notices.is_empty(), "ALLOW does not notify");
    let plan: Vec<_> = lines[0]
        .plan
        .iter()
        .map(|p| {
            (
                p.source_code.as_str(),
                p.from_on_hand.as_str(),
                p.backordered.as_str(),
            )
        })
        .collect();
    assert_eq!(plan, [("default", "25", "5")]);
    let too_many = check(&app, vec![line("MSI", "76")]).await;
    assert!(!too_many[0].is_salable);
    assert_eq!(too_many[0].errors[0].code, "NOT_ENOUGH_QTY");
    assert_eq!(too_many[0].errors[0].text, "Not enough items for sale");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_source_level_backorder_counts_only_while_it_is_set(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("b").await;
    app.link(1, &[("b", 2)]).await;
    app.stock_items(&[("default", "SKU", "5"), ("b", "SKU", "0")])
        .await;
    app.item_settings(
        "b",
        "SKU",
        pb::SettingValues {
            backorders: Some(ALLOW),
            out_of_stock_threshold: Some("-10".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.salable("SKU").await.salable_qty, "15");
    app.settings()
        .update_source_item_settings(pb::UpdateSourceItemSettingsRequest {
            source_code: "b".into(),
            sku: "SKU".into(),
            set: None,
            clear: vec![pb::SettingField::Backorders as i32],
        })
        .await
        .unwrap();
    assert_eq!(app.salable("SKU").await.salable_qty, "5");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn disabled_sources_and_out_of_stock_items_do_not_count(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("east").await;
    app.link(1, &[("east", 2)]).await;
    app.stock_items(&[("default", "SKU", "5"), ("east", "SKU", "7")])
        .await;
    assert_eq!(app.salable("SKU").await.salable_qty, "12");
    app.sources()
        .set_source_enabled(pb::SetSourceEnabledRequest {
            code: "east".into(),
            enabled: false,
        })
        .await
        .unwrap();
    assert_eq!(app.salable("SKU").await.salable_qty, "5");
    app.take_off_sale("default", "SKU", "5").await;
    let salable = app.salable("SKU").await;
    assert!(!salable.is_salable);
    let lines = check(&app, vec![line("SKU", "1")]).await;
    assert_eq!(lines[0].errors[0].code, "NO_SOURCE_ITEM_IN_STOCK");
}

/// (SKU, salable quantity, assigned) of each of `skus` in stock 1, in order.
async fn in_stock_one(app: &TestApp, skus: &[&str]) -> Vec<(String, String, bool)> {
    let request = pb::GetSalableQuantitiesRequest {
        scope: Some(stock(1)),
        skus: skus.iter().map(|s| (*s).to_owned()).collect(),
    };
    let items = app.availability().get_salable_quantities(request).await;
    items
        .unwrap()
        .into_inner()
        .items
        .into_iter()
        .map(|i| (i.sku, i.salable_qty, i.assigned))
        .collect()
}

fn row(sku: &str, qty: &str, assigned: bool) -> (String, String, bool) {
    (sku.to_owned(), qty.to_owned(), assigned)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn only_sources_the_stock_links_count_for_every_sku_of_a_batch(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("east").await;
    app.create_source("west").await;
    app.link(1, &[("east", 2)]).await;
    app.stock_items(&[
        ("default", "B", "2"),
        ("east", "B", "3"),
        ("west", "B", "40"),
        ("west", "C", "50"),
        ("east", "D", "7"),
    ])
    .await;
    let skus = ["UNKNOWN", "B", "C", "D"];
    // West is not linked: its items neither count nor assign the SKU to the stock.
    assert_eq!(
        in_stock_one(&app, &skus).await,
        [
            row("UNKNOWN", "0", false),
            row("B", "5", true),
            row("C", "0", false),
            row("D", "7", true)
        ]
    );
    app.link(1, &[("west", 3)]).await;
    assert_eq!(
        in_stock_one(&app, &skus).await,
        [
            row("UNKNOWN", "0", false),
            row("B", "45", true),
            row("C", "50", true),
            row("D", "7", true)
        ]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_batch_answers_every_sku_in_order_including_unknown_ones(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "3"), ("default", "B", "0")])
        .await;
    let items = app
        .availability()
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(channel("website", "base")),
            skus: vec!["B".into(), "UNKNOWN".into(), "A".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    let summary: Vec<_> = items
        .iter()
        .map(|i| {
            (
                i.sku.as_str(),
                i.salable_qty.as_str(),
                i.is_salable,
                i.assigned,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("B", "0", false, true),
            ("UNKNOWN", "0", false, false),
            ("A", "3", true, true)
        ]
    );
    let lines = check(&app, vec![line("UNKNOWN", "1")]).await;
    assert_eq!(lines[0].errors[0].code, "SKU_NOT_ASSIGNED_TO_STOCK");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn only_x_left_and_the_backorder_notice_reach_the_storefront(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "MUG", "4")]).await;
    app.product_settings(
        "MUG",
        pb::SettingValues {
            backorders: Some(ALLOW_NOTIFY),
            out_of_stock_threshold: Some("-10".into()),
            stock_threshold_qty: Some("20".into()),
            ..Default::default()
        },
    )
    .await;
    let salable = app.salable("MUG").await;
    assert_eq!(salable.only_x_left.as_deref(), Some("14"));
    let lines = check(&app, vec![line("MUG", "6")]).await;
    let codes: Vec<_> = lines[0].notices.iter().map(|n| n.code.as_str()).collect();
    assert!(codes.contains(&"BACKORDER_NOTICE"), "{codes:?}");
    assert!(codes.contains(&"ONLY_X_LEFT"), "{codes:?}");
    let notice = lines[0]
        .notices
        .iter()
        .find(|n| n.code == "BACKORDER_NOTICE")
        .unwrap();
    assert!(
        notice.text.contains("back order the remaining 2"),
        "{}",
        notice.text
    );
    assert_eq!(
        notice.params.get("backordered_qty").map(String::as_str),
        Some("2")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_failed_quantity_rule_is_reported_in_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "BOX", "100")]).await;
    app.product_settings(
        "BOX",
        pb::SettingValues {
            min_sale_qty: Some("4".into()),
            max_sale_qty: Some("10".into()),
            qty_increments: Some("2".into()),
            ..Default::default()
        },
    )
    .await;
    // One SKU appears once per request, so each quantity is its own call.
    let mut lines = Vec::new();
    for qty in ["3.5", "11", "6"] {
        lines.extend(check(&app, vec![line("BOX", qty)]).await);
    }
    let codes =
        |i: usize| -> Vec<&str> { lines[i].errors.iter().map(|e| e.code.as_str()).collect() };
    assert_eq!(
        codes(0),
        ["MIN_SALE_QTY", "QTY_INCREMENTS", "QTY_NOT_DECIMAL"]
    );
    assert_eq!(codes(1), ["MAX_SALE_QTY", "QTY_INCREMENTS"]);
    assert!(codes(2).is_empty());
    assert!(!lines[0].is_salable && !lines[1].is_salable && lines[2].is_salable);
    assert_eq!(lines[0].errors[0].text, "The fewest you may purchase is 4.");
    assert_eq!(
        lines[0].errors[1].text,
        "You can buy this product only in quantities of 2 at a time."
    );
    assert_eq!(
        lines[1].errors[0].text,
        "The requested qty exceeds the maximum qty allowed in shopping cart"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unknown_stocks_and_channels_are_not_found(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .availability()
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(stock(42)),
            skus: vec!["A".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status), ("stock".into(), "42".into()));
    let status = app
        .availability()
        .check_quantities(pb::CheckQuantitiesRequest {
            scope: Some(channel("website", "nowhere")),
            lines: vec![line("A", "1")],
            cart_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status).0, "sales channel");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn malformed_availability_requests_name_every_bad_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .availability()
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: None,
            skus: vec!["A".into(), "A".into(), String::new()],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["scope", "skus[1]", "skus[2]"]);
    let too_many: Vec<String> = (0..1001).map(|i| format!("S{i}")).collect();
    let status = app
        .availability()
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(stock(1)),
            skus: too_many,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["skus"]);
    let status = app
        .availability()
        .check_quantities(pb::CheckQuantitiesRequest {
            scope: Some(stock(0)),
            lines: vec![
                line("A", "0"),
                line("B", "-1"),
                line("C", "1.23456"),
                line("D", "x"),
            ],
            cart_id: " bad".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(status),
        [
            "scope.stock_id",
            "lines[0].quantity",
            "lines[1].quantity",
            "lines[2].quantity",
            "lines[3].quantity",
            "cart_id"
        ]
    );
}
