//! SourceItemService over gRPC.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};

use crate::support::{TestApp, bad_fields, item, not_found};

fn key(source: &str, sku: &str) -> pb::SourceItemKey {
    pb::SourceItemKey {
        source_code: source.into(),
        sku: sku.into(),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn upsert_creates_then_replaces_quantity_and_status(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "SKU-1", "10.5")]).await;
    let mut replaced = item("default", "SKU-1", "7");
    replaced.status = pb::SourceItemStatus::OutOfStock as i32;
    let stored = app
        .items()
        .upsert_source_items(pb::UpsertSourceItemsRequest {
            items: vec![replaced],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.items[0].quantity, "7");
    let read = app
        .items()
        .get_source_item(pb::GetSourceItemRequest {
            source_code: "default".into(),
            sku: "SKU-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.quantity, "7");
    assert_eq!(read.status, pb::SourceItemStatus::OutOfStock as i32);
    assert_eq!(read.settings, Some(pb::SettingValues::default()));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn upsert_keeps_source_level_settings(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "SKU-1", "1")]).await;
    app.item_settings(
        "default",
        "SKU-1",
        pb::SettingValues {
            out_of_stock_threshold: Some("-5".into()),
            ..Default::default()
        },
    )
    .await;
    app.stock_items(&[("default", "SKU-1", "2")]).await;
    let read = app
        .items()
        .get_source_item(pb::GetSourceItemRequest {
            source_code: "default".into(),
            sku: "SKU-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.settings.unwrap().out_of_stock_threshold.as_deref(),
        Some("-5")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_batch_with_any_bad_item_changes_nothing_and_names_every_bad_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let long_sku = "x".repeat(65);
    let mut no_status = item("default", "OK-2", "1");
    no_status.status = 0;
    let items = vec![
        item("default", "OK-1", "1"),
        item("default", &long_sku, "-1"),
        item("default", "OK-1", "2"),
        item("default", "P", "1.00001"),
        no_status,
    ];
    let status = app
        .items()
        .upsert_source_items(pb::UpsertSourceItemsRequest { items })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(status),
        [
            "items[2]",
            "items[1].sku",
            "items[1].quantity",
            "items[3].quantity",
            "items[4].status"
        ]
    );
    let listed = app
        .items()
        .list_source_items(pb::ListSourceItemsRequest {
            filter: Some(pb::list_source_items_request::Filter::SourceCode(
                "default".into(),
            )),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.items.is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_item_of_an_unknown_source_fails_the_whole_batch(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .items()
        .upsert_source_items(pb::UpsertSourceItemsRequest {
            items: vec![item("default", "A", "1"), item("ghost", "A", "1")],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["items[1].source_code"]);
    let status = app
        .items()
        .get_source_item(pb::GetSourceItemRequest {
            source_code: "default".into(),
            sku: "A".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        not_found(status),
        ("source item".into(), "default/A".into())
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn batches_are_limited_to_a_thousand_items(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let items: Vec<_> = (0..1001)
        .map(|i| item("default", &format!("S{i}"), "1"))
        .collect();
    let status = app
        .items()
        .upsert_source_items(pb::UpsertSourceItemsRequest { items })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["items"]);
    let thousand: Vec<_> = (0..1000)
        .map(|i| item("default", &format!("S{i}"), "1"))
        .collect();
    let stored = app
        .items()
        .upsert_source_items(pb::UpsertSourceItemsRequest { items: thousand })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.items.len(), 1000);
    assert_eq!(
        stored.items[999].sku, "S999",
        "answers come in request order"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn delete_removes_items_and_a_retry_is_harmless(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "1"), ("default", "B", "1")])
        .await;
    let delete = || pb::DeleteSourceItemsRequest {
        keys: vec![key("default", "A")],
    };
    let first = app
        .items()
        .delete_source_items(delete())
        .await
        .unwrap()
        .into_inner();
    let second = app
        .items()
        .delete_source_items(delete())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.deleted, second.deleted), (1, 0));
    let status = app
        .items()
        .delete_source_items(pb::DeleteSourceItemsRequest {
            keys: vec![key("default", "B"), key("ghost", "B"), key("default", "B")],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["keys[2]"]);
    let status = app
        .items()
        .delete_source_items(pb::DeleteSourceItemsRequest {
            keys: vec![key("default", "B"), key("ghost", "B")],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["keys[1].source_code"]);
    let b = app
        .items()
        .get_source_item(pb::GetSourceItemRequest {
            source_code: "default".into(),
            sku: "B".into(),
        })
        .await;
    assert!(b.is_ok(), "the failed batch deleted nothing");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn items_list_by_sku_and_by_source_with_pages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("east").await;
    app.stock_items(&[
        ("default", "A", "1"),
        ("default", "B", "2"),
        ("default", "C", "3"),
        ("east", "A", "4"),
    ])
    .await;
    let by_sku = app
        .items()
        .list_source_items(pb::ListSourceItemsRequest {
            filter: Some(pb::list_source_items_request::Filter::Sku("A".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let sources: Vec<_> = by_sku
        .items
        .iter()
        .map(|i| i.source_code.as_str())
        .collect();
    assert_eq!(sources, ["default", "east"]);
    let mut skus = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .items()
            .list_source_items(pb::ListSourceItemsRequest {
                filter: Some(pb::list_source_items_request::Filter::SourceCode(
                    "default".into(),
                )),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        skus.extend(page.items.into_iter().map(|i| i.sku));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(skus, ["A", "B", "C"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn listing_an_unknown_sku_or_source_is_not_found(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .items()
        .list_source_items(pb::ListSourceItemsRequest {
            filter: Some(pb::list_source_items_request::Filter::Sku("NOPE".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status), ("sku".into(), "NOPE".into()));
    let status = app
        .items()
        .list_source_items(pb::ListSourceItemsRequest {
            filter: Some(pb::list_source_items_request::Filter::SourceCode(
                "ghost".into(),
            )),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status).0, "source");
    let status = app
        .items()
        .list_source_items(pb::ListSourceItemsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["filter"]);
}
