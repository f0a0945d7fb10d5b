//! Stock counts over gRPC: a sync that would overwrite a shipment is ABORTED, adjustments by delta
//! are atomic and safe to retry, and every quantity change is kept in the history with its
//! reason, caller and reference, paginated and source-scoped.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;
use stockd::{
    auth::tokens::{TokenTable, hash_token},
    clock::ManualClock,
    grpc::pb,
    repo::MIGRATOR,
    startup::Application,
};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::{
    orders::{line, order, refusals},
    support::{TestApp, bad_fields, eventually, item},
};

const RECEIVED: i32 = pb::AdjustmentReason::Received as i32;
const DAMAGED: i32 = pb::AdjustmentReason::Damaged as i32;

fn delta(source: &str, sku: &str, delta: &str) -> pb::SourceItemDelta {
    pb::SourceItemDelta {
        source_code: source.into(),
        sku: sku.into(),
        delta: delta.into(),
    }
}

fn adjustment(
    key: &str,
    reason: i32,
    note: &str,
    lines: Vec<pb::SourceItemDelta>,
) -> pb::AdjustSourceItemsRequest {
    pb::AdjustSourceItemsRequest {
        idempotency_key: key.into(),
        reason,
        note: note.into(),
        lines,
    }
}

fn expecting(source: &str, sku: &str, quantity: &str, expected: &str) -> pb::SourceItem {
    pb::SourceItem {
        expected_quantity: Some(expected.into()),
        ..item(source, sku, quantity)
    }
}

fn ship(order: &str, id: &str, sku: &str, qty: &str) -> pb::ConfirmShipmentRequest {
    pb::ConfirmShipmentRequest {
        order_id: order.into(),
        shipment_id: id.into(),
        lines: vec![pb::SourceQuantityLine {
            sku: sku.into(),
            source_code: "default".into(),
            quantity: qty.into(),
        }],
    }
}

fn give_back(order: &str, id: &str, sku: &str, qty: &str) -> pb::ReturnItemsRequest {
    pb::ReturnItemsRequest {
        order_id: order.into(),
        return_id: id.into(),
        lines: vec![pb::ReturnLine {
            sku: sku.into(),
            source_code: "default".into(),
            quantity: qty.into(),
            back_to_stock: true,
        }],
    }
}

fn history_of(
    source: &str,
    sku: &str,
    page_size: i32,
    token: &str,
) -> pb::ListSourceItemHistoryRequest {
    pb::ListSourceItemHistoryRequest {
        source_code: source.into(),
        sku: sku.into(),
        page_size,
        page_token: token.into(),
    }
}

fn fulfilment(
    app: &TestApp,
) -> pb::fulfilment_service_client::FulfilmentServiceClient<tonic::transport::Channel> {
    pb::fulfilment_service_client::FulfilmentServiceClient::new(app.channel.clone())
}

async fn on_hand(app: &TestApp, sku: &str) -> String {
    app.items()
        .get_source_item(pb::GetSourceItemRequest {
            source_code: "default".into(),
            sku: sku.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .quantity
}

/// Upserts `items` without a token.
async fn sync(app: &TestApp, items: Vec<pb::SourceItem>) -> Result<(), Status> {
    app.items()
        .upsert_source_items(pb::UpsertSourceItemsRequest { items })
        .await
        .map(drop)
}

/// Adjusts without a token.
async fn adjust(
    app: &TestApp,
    request: pb::AdjustSourceItemsRequest,
) -> Result<pb::AdjustSourceItemsResponse, Status> {
    app.items()
        .adjust_source_items(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Places an order of `qty` units of `sku` and ships them from the default source.
async fn place_and_ship(app: &TestApp, sku: &str, qty: &str) {
    app.reservations()
        .place_order(order("o-1", vec![line(sku, qty)]))
        .await
        .unwrap();
    fulfilment(app)
        .confirm_shipment(ship("o-1", "ship-1", sku, qty))
        .await
        .unwrap();
}

/// Every change of (default, `sku`), newest first, as (reason, before, after, caller, reference).
async fn changes(
    app: &TestApp,
    sku: &str,
) -> Vec<(String, Option<String>, Option<String>, String, String)> {
    app.items()
        .list_source_item_history(history_of("default", sku, 0, ""))
        .await
        .unwrap()
        .into_inner()
        .changes
        .into_iter()
        .map(|c| {
            (
                c.reason,
                c.quantity_before,
                c.quantity_after,
                c.caller,
                c.reference,
            )
        })
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_sync_with_a_stale_expected_quantity_is_aborted_naming_the_current_quantity(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10"), ("default", "B", "4")])
        .await;
    place_and_ship(&app, "A", "3").await;

    // The warehouse read 10 before the shipment and now counts 12 after a delivery of 2.
    let status = sync(
        &app,
        vec![
            expecting("default", "B", "9", "4"),
            expecting("default", "A", "12", "10"),
        ],
    )
    .await
    .unwrap_err();

    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "QUANTITY_CHANGED");
    assert_eq!(info.metadata.get("items[1]").map(String::as_str), Some("7"));
    assert_eq!(info.metadata.len(), 1);
    let failure = status
        .get_details_precondition_failure()
        .expect("PreconditionFailure");
    let subjects: Vec<&str> = failure
        .violations
        .iter()
        .map(|v| v.subject.as_str())
        .collect();
    assert_eq!(subjects, ["items[1]"]);
    assert!(
        failure.violations[0]
            .description
            .contains("current quantity is 7")
    );
    assert_eq!(
        on_hand(&app, "A").await,
        "7",
        "the shipment's deduction survives"
    );
    assert_eq!(
        on_hand(&app, "B").await,
        "4",
        "nothing of the call was written"
    );

    // Read again, redo: the sync now carries the shipment's deduction.
    sync(&app, vec![expecting("default", "A", "9", "7")])
        .await
        .unwrap();
    assert_eq!(on_hand(&app, "A").await, "9");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_expected_quantity_of_an_item_that_does_not_exist_is_aborted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    let status = sync(&app, vec![expecting("default", "NEW", "5", "0")])
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Aborted);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.metadata.get("items[0]").map(String::as_str), Some(""));
    let bad = sync(&app, vec![expecting("default", "NEW", "5", "many")])
        .await
        .unwrap_err();
    assert_eq!(bad_fields(bad), ["items[0].expected_quantity"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_adjustment_after_a_shipment_keeps_both(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    place_and_ship(&app, "A", "3").await;

    let adjusted = adjust(
        &app,
        adjustment("po-1", RECEIVED, "", vec![delta("default", "A", "40")]),
    )
    .await
    .unwrap();

    assert_eq!(adjusted.items[0].quantity_after, "47");
    assert!(!adjusted.replayed);
    assert_eq!(on_hand(&app, "A").await, "47");
    assert_eq!(app.salable("A").await.salable_qty, "47");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_retried_adjustment_is_replayed_and_other_content_under_its_key_is_already_exists(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10"), ("default", "B", "5")])
        .await;
    let first = adjustment(
        "count-1",
        DAMAGED,
        "wet pallet",
        vec![delta("default", "A", "-2"), delta("default", "B", "-5")],
    );
    let answer = adjust(&app, first.clone()).await.unwrap();

    // The items have changed since, and B would now go below zero: a retry is still the first
    // answer, because the stored answer is checked before anything else.
    app.stock_items(&[("default", "A", "1")]).await;
    let mut reordered = first.clone();
    reordered.lines.reverse();
    let retry = adjust(&app, reordered).await.unwrap();
    let other = adjust(
        &app,
        adjustment(
            "count-1",
            DAMAGED,
            "wet pallet",
            vec![delta("default", "A", "-3")],
        ),
    )
    .await
    .unwrap_err();

    let after: Vec<&str> = answer
        .items
        .iter()
        .map(|i| i.quantity_after.as_str())
        .collect();
    assert_eq!(after, ["8", "0"]);
    assert!(retry.replayed);
    let replayed: Vec<(&str, &str)> = retry
        .items
        .iter()
        .map(|i| (i.sku.as_str(), i.quantity_after.as_str()))
        .collect();
    assert_eq!(replayed, [("B", "0"), ("A", "8")], "in the retry's order");
    assert_eq!(on_hand(&app, "A").await, "1", "a replay changes nothing");
    assert_eq!(other.code(), Code::AlreadyExists, "{other:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_adjustment_with_a_bad_item_changes_nothing_and_leaves_its_key_free(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10"), ("default", "B", "1")])
        .await;

    let status = adjust(
        &app,
        adjustment(
            "k",
            DAMAGED,
            "",
            vec![
                delta("default", "A", "-2"),
                delta("default", "B", "-2"),
                delta("default", "NONE", "-1"),
            ],
        ),
    )
    .await
    .unwrap_err();

    assert_eq!(
        refusals(&status),
        [
            ("lines[1]".to_owned(), "QTY_BELOW_ZERO".to_owned()),
            ("lines[2]".to_owned(), "SOURCE_ITEM_NOT_FOUND".to_owned()),
        ]
    );
    assert_eq!(on_hand(&app, "A").await, "10");
    assert_eq!(on_hand(&app, "B").await, "1");
    let fixed = adjust(
        &app,
        adjustment("k", DAMAGED, "", vec![delta("default", "A", "-2")]),
    )
    .await
    .unwrap();
    assert!(!fixed.replayed);
    assert_eq!(on_hand(&app, "A").await, "8");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_malformed_adjustment_names_every_bad_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    let status = adjust(
        &app,
        adjustment(
            "",
            0,
            "bell\u{7}",
            vec![
                delta("default", "A", "0"),
                delta("default", "A", "1"),
                delta("bad code", "B", "x"),
            ],
        ),
    )
    .await
    .unwrap_err();

    let mut fields = bad_fields(status);
    fields.sort();
    assert_eq!(
        fields,
        [
            "idempotency_key",
            "lines[0].delta",
            "lines[1]",
            "lines[2].delta",
            "lines[2].source_code",
            "note",
            "reason",
        ]
    );
}

fn tokens() -> TokenTable {
    let text = format!(
        "{} admin name=ops\n{} checkout name=shop\n{} fulfilment name=warehouse\n{} admin sources=east name=east-manager\n",
        hash_token("t-ops"),
        hash_token("t-shop"),
        hash_token("t-warehouse"),
        hash_token("t-east"),
    );
    TokenTable::parse(&text).unwrap()
}

fn as_caller<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn ops<T>(message: T) -> Request<T> {
    as_caller(message, "t-ops")
}

fn east<T>(message: T) -> Request<T> {
    as_caller(message, "t-east")
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn history_keeps_every_change_with_its_reason_caller_and_reference(pool: PgPool) {
    let app = TestApp::spawn_with_tokens(pool, tokens()).await;
    let items = || app.items();
    items()
        .upsert_source_items(as_caller(
            pb::UpsertSourceItemsRequest {
                items: vec![item("default", "A", "10")],
            },
            "t-ops",
        ))
        .await
        .unwrap();
    items()
        .adjust_source_items(as_caller(
            adjustment("po-7", RECEIVED, "PO 7", vec![delta("default", "A", "5")]),
            "t-ops",
        ))
        .await
        .unwrap();
    app.reservations()
        .place_order(as_caller(order("o-1", vec![line("A", "4")]), "t-shop"))
        .await
        .unwrap();
    fulfilment(&app)
        .confirm_shipment(as_caller(ship("o-1", "ship-1", "A", "4"), "t-warehouse"))
        .await
        .unwrap();
    fulfilment(&app)
        .return_items(as_caller(
            give_back("o-1", "ret-1", "A", "1"),
            "t-warehouse",
        ))
        .await
        .unwrap();
    items()
        .upsert_source_items(as_caller(
            pb::UpsertSourceItemsRequest {
                items: vec![item("default", "A", "20")],
            },
            "t-ops",
        ))
        .await
        .unwrap();

    let history = items()
        .list_source_item_history(as_caller(history_of("default", "A", 0, ""), "t-ops"))
        .await
        .unwrap()
        .into_inner()
        .changes;

    let rows: Vec<_> = history
        .iter()
        .map(|c| {
            (
                c.reason.as_str(),
                c.quantity_before.as_deref(),
                c.quantity_after.as_deref(),
                c.caller.as_str(),
                c.reference.as_str(),
                c.note.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("UPSERT", Some("12"), Some("20"), "ops", "", ""),
            ("RETURN", Some("11"), Some("12"), "warehouse", "ret-1", ""),
            (
                "SHIPMENT",
                Some("15"),
                Some("11"),
                "warehouse",
                "ship-1",
                ""
            ),
            ("RECEIVED", Some("10"), Some("15"), "ops", "po-7", "PO 7"),
            ("UPSERT", None, Some("10"), "ops", "", ""),
        ]
    );
    let changed_at = history[0].changed_at.as_ref().unwrap().seconds;
    assert!(
        (Utc::now().timestamp() - changed_at).abs() < 60,
        "{changed_at}"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn without_authentication_history_names_the_caller_anonymous(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "3")]).await;
    app.items()
        .delete_source_items(pb::DeleteSourceItemsRequest {
            keys: vec![pb::SourceItemKey {
                source_code: "default".into(),
                sku: "A".into(),
            }],
        })
        .await
        .unwrap();

    assert_eq!(
        changes(&app, "A").await,
        [
            (
                "DELETE".to_owned(),
                Some("3".to_owned()),
                None,
                "anonymous".to_owned(),
                String::new()
            ),
            (
                "UPSERT".to_owned(),
                None,
                Some("3".to_owned()),
                "anonymous".to_owned(),
                String::new()
            ),
        ]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn history_pages_newest_first_and_shows_a_scoped_admin_only_their_sources(pool: PgPool) {
    let app = TestApp::spawn_with_tokens(pool, tokens()).await;
    let sources = pb::source_service_client::SourceServiceClient::new(app.channel.clone());
    for code in ["east", "west"] {
        sources
            .clone()
            .create_source(ops(pb::CreateSourceRequest {
                source: Some(pb::Source {
                    code: code.into(),
                    name: code.into(),
                    ..Default::default()
                }),
            }))
            .await
            .unwrap();
    }
    for qty in ["1", "2", "3", "4", "5"] {
        app.items()
            .upsert_source_items(ops(pb::UpsertSourceItemsRequest {
                items: vec![item("east", "A", qty), item("west", "A", qty)],
            }))
            .await
            .unwrap();
    }

    // Pages of two, newest first, until a short page.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .items()
            .list_source_item_history(ops(history_of("east", "A", 2, &token)))
            .await
            .unwrap()
            .into_inner();
        seen.extend(
            page.changes
                .iter()
                .map(|c| c.quantity_after.clone().unwrap()),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["5", "4", "3", "2", "1"]);
    let first = app
        .items()
        .list_source_item_history(ops(history_of("east", "A", 2, "")))
        .await
        .unwrap()
        .into_inner();
    let foreign = app
        .items()
        .list_source_item_history(ops(history_of("west", "A", 2, &first.next_page_token)))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(foreign), ["page_token"]);

    // The east manager sees east only, and may not read or adjust west.
    let by_sku = app
        .items()
        .list_source_item_history(east(history_of("", "A", 0, "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_sku.changes.len(), 5);
    assert!(by_sku.changes.iter().all(|c| c.source_code == "east"));
    let by_all = app
        .items()
        .list_source_item_history(ops(history_of("", "A", 0, "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_all.changes.len(), 10);
    let denied = app
        .items()
        .list_source_item_history(east(history_of("west", "", 0, "")))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = app
        .items()
        .adjust_source_items(east(adjustment(
            "e-1",
            RECEIVED,
            "",
            vec![delta("west", "A", "1")],
        )))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    app.items()
        .adjust_source_items(east(adjustment(
            "e-2",
            RECEIVED,
            "",
            vec![delta("east", "A", "1")],
        )))
        .await
        .unwrap();
    let by_source = app
        .items()
        .list_source_item_history(east(history_of("east", "", 0, "")))
        .await
        .unwrap()
        .into_inner();
    let reasons: Vec<&str> = by_source
        .changes
        .iter()
        .map(|c| c.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        ["RECEIVED", "UPSERT", "UPSERT", "UPSERT", "UPSERT", "UPSERT"]
    );
    assert_eq!(by_source.changes[0].caller, "east-manager");
    let none: Status = app
        .items()
        .list_source_item_history(ops(history_of("", "", 0, "")))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(none), ["source_code"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_sweeper_removes_history_older_than_the_retention_period(pool: PgPool) {
    let clock = ManualClock::new(Utc::now());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build(pool, listener, Duration::from_secs(5))
        .with_clock(Arc::new(clock.clone()))
        .with_sweep_interval(Duration::from_millis(50))
        .with_history_retention(Some(Duration::from_secs(86_400)));
    let app = TestApp::spawn_app(app).await;
    app.stock_items(&[("default", "A", "1")]).await;
    adjust(
        &app,
        adjustment("old", RECEIVED, "", vec![delta("default", "A", "1")]),
    )
    .await
    .unwrap();
    clock.advance(chrono::Duration::hours(30));
    app.stock_items(&[("default", "A", "5")]).await;

    let left = eventually("old history pruned", || async {
        let left = changes(&app, "A").await;
        (left.len() == 1).then_some(left)
    })
    .await;

    assert_eq!(left[0].2.as_deref(), Some("5"));
    let retry = adjust(
        &app,
        adjustment("old", RECEIVED, "", vec![delta("default", "A", "1")]),
    )
    .await
    .unwrap();
    assert!(!retry.replayed, "the key went with its history");
}
