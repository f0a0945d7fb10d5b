//! SettingsService over gRPC: set, clear back to "use default", read stored and effective.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};

use crate::support::{TestApp, bad_fields, not_found};

const ALLOW: i32 = pb::BackorderMode::Allow as i32;
const NO: i32 = pb::BackorderMode::No as i32;

#[sqlx::test(migrator = "MIGRATOR")]
async fn global_defaults_are_msi_defaults_and_can_change(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let global = app
        .settings()
        .get_global_settings(pb::GetGlobalSettingsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(global.manage_stock, Some(true));
    assert_eq!(global.backorders, Some(NO));
    assert_eq!(global.max_sale_qty.as_deref(), Some("10000"));
    assert_eq!(global.notify_stock_qty.as_deref(), Some("1"));
    let changed = app
        .settings()
        .update_global_settings(pb::UpdateGlobalSettingsRequest {
            set: Some(pb::SettingValues {
                backorders: Some(ALLOW),
                out_of_stock_threshold: Some("-3".into()),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.backorders, Some(ALLOW));
    assert_eq!(changed.out_of_stock_threshold.as_deref(), Some("-3"));
    assert_eq!(changed.min_sale_qty.as_deref(), Some("1"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn product_values_override_global_until_cleared(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.product_settings(
        "SKU-1",
        pb::SettingValues {
            backorders: Some(ALLOW),
            min_sale_qty: Some("2".into()),
            ..Default::default()
        },
    )
    .await;
    let read = app
        .settings()
        .get_product_settings(pb::GetProductSettingsRequest {
            sku: "SKU-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.stored.as_ref().unwrap().backorders, Some(ALLOW));
    assert_eq!(read.stored.as_ref().unwrap().max_sale_qty, None);
    assert_eq!(
        read.effective.as_ref().unwrap().min_sale_qty.as_deref(),
        Some("2")
    );
    assert_eq!(
        read.effective.as_ref().unwrap().max_sale_qty.as_deref(),
        Some("10000")
    );
    let cleared = app
        .settings()
        .update_product_settings(pb::UpdateProductSettingsRequest {
            sku: "SKU-1".into(),
            set: None,
            clear: vec![pb::SettingField::Backorders as i32],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cleared.stored.unwrap().backorders, None);
    assert_eq!(cleared.effective.unwrap().backorders, Some(NO));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn source_item_values_resolve_through_product_to_global(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "SKU-1", "0")]).await;
    app.product_settings(
        "SKU-1",
        pb::SettingValues {
            notify_stock_qty: Some("4".into()),
            ..Default::default()
        },
    )
    .await;
    let updated = app
        .settings()
        .update_source_item_settings(pb::UpdateSourceItemSettingsRequest {
            source_code: "default".into(),
            sku: "SKU-1".into(),
            set: Some(pb::SettingValues {
                backorders: Some(ALLOW),
                out_of_stock_threshold: Some("-10".into()),
                restock_date: Some("2026-12-01".into()),
                restock_qty: Some("40".into()),
                ..Default::default()
            }),
            clear: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let effective = updated.effective.unwrap();
    assert_eq!(effective.backorders, Some(ALLOW));
    assert_eq!(
        effective.notify_stock_qty.as_deref(),
        Some("4"),
        "from the product"
    );
    assert_eq!(effective.restock_date.as_deref(), Some("2026-12-01"));
    let read = app
        .settings()
        .get_source_item_settings(pb::GetSourceItemSettingsRequest {
            source_code: "default".into(),
            sku: "SKU-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.stored.unwrap().out_of_stock_threshold.as_deref(),
        Some("-10")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn settings_of_another_level_or_bad_values_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "SKU-1", "0")]).await;
    let status = app
        .settings()
        .update_source_item_settings(pb::UpdateSourceItemSettingsRequest {
            source_code: "default".into(),
            sku: "SKU-1".into(),
            set: Some(pb::SettingValues {
                min_sale_qty: Some("1".into()),
                restock_date: Some("tomorrow".into()),
                restock_qty: Some("-1".into()),
                backorders: Some(99),
                ..Default::default()
            }),
            clear: vec![pb::SettingField::IsQtyDecimal as i32, 0],
        })
        .await
        .unwrap_err();
    let fields = bad_fields(status);
    for expected in [
        "set.backorders",
        "set.restock_date",
        "set.min_sale_qty",
        "clear[0]",
        "clear[1]",
    ] {
        assert!(
            fields.contains(&expected.to_string()),
            "{expected} missing from {fields:?}"
        );
    }
    let status = app
        .settings()
        .update_product_settings(pb::UpdateProductSettingsRequest {
            sku: "SKU-1".into(),
            set: Some(pb::SettingValues {
                min_sale_qty: Some("5".into()),
                max_sale_qty: Some("2".into()),
                ..Default::default()
            }),
            clear: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["set.max_sale_qty"]);
    let status = app
        .settings()
        .update_global_settings(pb::UpdateGlobalSettingsRequest {
            set: Some(pb::SettingValues {
                restock_qty: Some("1".into()),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["set.restock_qty"]);
    let global = app
        .settings()
        .get_global_settings(pb::GetGlobalSettingsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(global.min_sale_qty.as_deref(), Some("1"), "nothing changed");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unknown_products_and_source_items_are_not_found(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .settings()
        .get_product_settings(pb::GetProductSettingsRequest { sku: "NOPE".into() })
        .await
        .unwrap_err();
    assert_eq!(not_found(status), ("sku".into(), "NOPE".into()));
    let status = app
        .settings()
        .update_source_item_settings(pb::UpdateSourceItemSettingsRequest {
            source_code: "default".into(),
            sku: "NOPE".into(),
            set: Some(pb::SettingValues::default()),
            clear: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status).0, "source item");
}
