//! PlaceOrder and CancelOrder over gRPC: no overselling under concurrency, safe retries, and
//! every refusal named.

use std::{collections::HashMap, time::Duration};

use sqlx::PgPool;
use stockd::{
    grpc::pb,
    repo::{MIGRATOR, OrderBatching},
    startup::Application,
};
use tokio::net::TcpListener;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{TestApp, bad_fields, not_found};

const ALLOW: i32 = pb::BackorderMode::Allow as i32;

pub(crate) fn line(sku: &str, quantity: &str) -> pb::QuantityLine {
    pb::QuantityLine {
        sku: sku.into(),
        quantity: quantity.into(),
    }
}

pub(crate) fn website() -> Option<pb::SalesChannel> {
    Some(pb::SalesChannel {
        r#type: "website".into(),
        code: "base".into(),
    })
}

pub(crate) fn order(id: &str, lines: Vec<pb::QuantityLine>) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        order_id: id.into(),
        sales_channel: website(),
        lines,
        cart_id: String::new(),
    }
}

/// Asserts FAILED_PRECONDITION and returns each refused line's (subject, reason code).
pub(crate) fn refusals(status: &tonic::Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let failure = status
        .get_details_precondition_failure()
        .expect("refusals carry PreconditionFailure");
    failure
        .violations
        .into_iter()
        .map(|v| (v.subject, v.r#type))
        .collect()
}

/// Places `count` one-unit orders of `sku` at once and counts the outcomes by status code.
async fn flash_sale(app: &TestApp, sku: &str, count: usize) -> HashMap<Code, usize> {
    let calls = (0..count).map(|i| {
        let mut client = app.reservations();
        let request = order(&format!("flash-{i}"), vec![line(sku, "1")]);
        async move { client.place_order(request).await }
    });
    let mut outcomes = HashMap::new();
    for result in futures_join_all(calls).await {
        let code = match result {
            Ok(_) => Code::Ok,
            Err(status) => {
                assert_eq!(
                    refusals(&status),
                    [("lines[0]".into(), "NOT_ENOUGH_QTY".into())]
                );
                status.code()
            }
        };
        *outcomes.entry(code).or_default() += 1;
    }
    outcomes
}

/// Runs every future concurrently on the runtime and collects the results in order.
pub(crate) async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_hundred_buyers_of_fifty_units_get_exactly_fifty(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "HOT", "50")]).await;
    let outcomes = flash_sale(&app, "HOT", 200).await;
    assert_eq!(outcomes.get(&Code::Ok), Some(&50));
    assert_eq!(outcomes.get(&Code::FailedPrecondition), Some(&150));
    let salable = app.salable("HOT").await;
    assert_eq!(salable.salable_qty, "0");
    assert!(!salable.is_salable);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn backorders_down_to_minus_twenty_sell_exactly_seventy(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "HOT", "50")]).await;
    app.product_settings(
        "HOT",
        pb::SettingValues {
            backorders: Some(ALLOW),
            out_of_stock_threshold: Some("-20".into()),
            ..Default::default()
        },
    )
    .await;
    let outcomes = flash_sale(&app, "HOT", 200).await;
    assert_eq!(outcomes.get(&Code::Ok), Some(&70));
    assert_eq!(app.salable("HOT").await.salable_qty, "0");
    let backordered: usize = futures_join_all((0..200).map(|i| {
        let mut client = app.reservations();
        async move {
            client
                .get_order(pb::GetOrderRequest {
                    order_id: format!("flash-{i}"),
                })
                .await
        }
    }))
    .await
    .into_iter()
    .filter_map(Result::ok)
    .filter(|o| o.get_ref().lines[0].backordered == "1")
    .count();
    assert_eq!(
        backordered, 20,
        "the 20 units below zero are recorded as backordered"
    );
}

/// Places 60 one-unit orders over distinct SKUs at once, two batches allowed in flight and the
/// second starting once `min_waiting` orders wait: every order must be placed, whether or not
/// enough wait to start a batch beside the running one.
async fn sixty_orders_at_once_are_all_placed(pool: PgPool, min_waiting: usize) {
    let rules = OrderBatching {
        in_flight: 2,
        min_waiting,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let app = Application::build(pool, listener, Duration::from_secs(5)).with_order_batching(rules);
    let app = TestApp::spawn_app(app).await;
    let skus: Vec<String> = (0..60).map(|i| format!("ONE-{i}")).collect();
    let items: Vec<(&str, &str, &str)> =
        skus.iter().map(|s| ("default", s.as_str(), "1")).collect();
    app.stock_items(&items).await;
    let calls = skus.iter().map(|sku| {
        let mut client = app.reservations();
        let request = order(&format!("order-{sku}"), vec![line(sku, "1")]);
        async move { client.place_order(request).await }
    });
    for result in futures_join_all(calls).await {
        assert!(result.is_ok(), "{result:?}");
    }
    for sku in &skus {
        assert_eq!(app.salable(sku).await.salable_qty, "0", "{sku}");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn orders_too_few_to_start_a_batch_beside_the_running_one_are_placed_after_it(pool: PgPool) {
    sixty_orders_at_once_are_all_placed(pool, 1_000).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn orders_start_batches_side_by_side_as_soon_as_one_waits_when_so_configured(pool: PgPool) {
    sixty_orders_at_once_are_all_placed(pool, 1).await;
}

/// Orders over overlapping sets of SKUs, some listing them in reverse, run in parallel batches:
/// none may deadlock into an error, and no SKU may sell more than it has.
#[sqlx::test(migrator = "MIGRATOR")]
async fn overlapping_multi_line_orders_never_oversell_any_sku(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let skus: Vec<String> = (0..8).map(|i| format!("MULTI-{i}")).collect();
    let items: Vec<(&str, &str, &str)> =
        skus.iter().map(|s| ("default", s.as_str(), "20")).collect();
    app.stock_items(&items).await;
    let orders: Vec<Vec<String>> = (0..240usize)
        .map(|i| {
            let width = 2 + i % 2;
            let mut picked: Vec<String> = (0..width)
                .map(|k| skus[(i * 3 + k * 5) % skus.len()].clone())
                .collect();
            picked.dedup();
            if i % 3 == 0 {
                picked.reverse();
            }
            picked
        })
        .collect();
    let calls = orders.iter().enumerate().map(|(i, picked)| {
        let mut client = app.reservations();
        let request = order(
            &format!("multi-{i}"),
            picked.iter().map(|sku| line(sku, "1")).collect(),
        );
        async move { client.place_order(request).await }
    });
    let mut sold: HashMap<String, u32> = HashMap::new();
    for (result, picked) in futures_join_all(calls).await.into_iter().zip(&orders) {
        match result {
            Ok(_) => picked
                .iter()
                .for_each(|sku| *sold.entry(sku.clone()).or_default() += 1),
            Err(status) => assert!(
                refusals(&status)
                    .iter()
                    .all(|(_, code)| code == "NOT_ENOUGH_QTY"),
                "{status:?}"
            ),
        }
    }
    for sku in &skus {
        let count = sold.get(sku).copied().unwrap_or_default();
        assert!(count <= 20, "{sku} sold {count} of 20");
        let salable = app.salable(sku).await.salable_qty;
        assert_eq!(salable, (20 - count).to_string(), "{sku}");
    }
    assert!(sold.values().sum::<u32>() > 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_multi_line_order_reserves_all_or_nothing_and_names_every_failing_line(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "5"), ("default", "B", "1")])
        .await;
    let status = app
        .reservations()
        .place_order(order(
            "o-1",
            vec![
                line("A", "2"),
                line("B", "3"),
                line("NOPE", "1"),
                line("A2", "1.5"),
            ],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [
            ("lines[1]".into(), "NOT_ENOUGH_QTY".into()),
            ("lines[2]".into(), "SKU_NOT_ASSIGNED_TO_STOCK".into()),
            ("lines[3]".into(), "QTY_NOT_DECIMAL".into()),
            ("lines[3]".into(), "SKU_NOT_ASSIGNED_TO_STOCK".into()),
        ]
    );
    assert_eq!(
        app.salable("A").await.salable_qty,
        "5",
        "nothing was reserved"
    );
    let status = app
        .reservations()
        .get_order(pb::GetOrderRequest {
            order_id: "o-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status), ("order".into(), "o-1".into()));
    // The same id can be used once stock allows it: a refusal stores nothing.
    let placed = app
        .reservations()
        .place_order(order("o-1", vec![line("A", "2"), line("B", "1")]))
        .await
        .unwrap()
        .into_inner();
    assert!(!placed.replayed);
    assert_eq!(app.salable("A").await.salable_qty, "3");
    assert_eq!(app.salable("B").await.salable_qty, "0");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_order_replayed_in_sequence_and_concurrently_reserves_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    let request = order("o-7", vec![line("A", "3")]);
    let first = app
        .reservations()
        .place_order(request.clone())
        .await
        .unwrap()
        .into_inner();
    for _ in 0..3 {
        let again = app
            .reservations()
            .place_order(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(again.replayed);
        assert_eq!(again.lines, first.lines);
    }
    let concurrent = futures_join_all((0..3).map(|i| {
        let mut client = app.reservations();
        let request = order("o-8", vec![line("A", "2")]);
        async move { (i, client.place_order(request).await) }
    }))
    .await;
    let fresh = concurrent
        .iter()
        .filter(|(_, r)| !r.as_ref().unwrap().get_ref().replayed)
        .count();
    assert_eq!(
        fresh, 1,
        "exactly one of the concurrent copies placed the order"
    );
    assert_eq!(app.salable("A").await.salable_qty, "5");
    let rows = app
        .reservations()
        .list_order_reservations(pb::ListOrderReservationsRequest {
            order_id: "o-8".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reservations;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].quantity.as_str(), rows[0].event.as_str()),
        ("-2", "ORDER_PLACED")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_same_order_id_with_other_content_already_exists(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    app.reservations()
        .place_order(order("o-1", vec![line("A", "1")]))
        .await
        .unwrap();
    let status = app
        .reservations()
        .place_order(order("o-1", vec![line("A", "2")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(app.salable("A").await.salable_qty, "9");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn cancel_compensates_only_what_is_open_and_is_safe_to_retry(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10"), ("default", "B", "10")])
        .await;
    app.reservations()
        .place_order(order("o-1", vec![line("A", "5"), line("B", "2")]))
        .await
        .unwrap();
    let cancel = |id: &str, lines: Vec<pb::CancelLine>| pb::CancelOrderRequest {
        order_id: "o-1".into(),
        cancellation_id: id.into(),
        lines,
    };
    let part = vec![pb::CancelLine {
        sku: "A".into(),
        quantity: "2".into(),
    }];
    for attempt in 0..3 {
        let done = app
            .reservations()
            .cancel_order(cancel("c-1", part.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(done.replayed, attempt > 0);
        assert_eq!(done.canceled, part);
    }
    assert_eq!(app.salable("A").await.salable_qty, "7");

    let too_much = vec![pb::CancelLine {
        sku: "A".into(),
        quantity: "4".into(),
    }];
    let status = app
        .reservations()
        .cancel_order(cancel("c-2", too_much))
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "QTY_EXCEEDS_OPEN".into())]
    );
    let status = app
        .reservations()
        .cancel_order(cancel("c-1", vec![]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "same id, other content");

    let rest = app
        .reservations()
        .cancel_order(cancel("c-3", vec![]))
        .await
        .unwrap()
        .into_inner();
    let order = rest.order.unwrap();
    assert_eq!(order.status, pb::OrderStatus::Closed as i32);
    assert_eq!(
        rest.canceled
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity.as_str()))
            .collect::<Vec<_>>(),
        [("A", "3"), ("B", "2")]
    );
    assert_eq!(app.salable("A").await.salable_qty, "10");
    assert_eq!(app.salable("B").await.salable_qty, "10");
    let rows = app
        .reservations()
        .list_order_reservations(pb::ListOrderReservationsRequest {
            order_id: "o-1".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rows.reservations.len(), 2);
    assert!(!rows.next_page_token.is_empty());
    let next = app
        .reservations()
        .list_order_reservations(pb::ListOrderReservationsRequest {
            order_id: "o-1".into(),
            page_size: 10,
            page_token: rows.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next.reservations.len(),
        3,
        "placed A, B; canceled A twice, B once"
    );
    let total: rust_decimal::Decimal = rows
        .reservations
        .iter()
        .chain(&next.reservations)
        .map(|r| r.quantity.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert!(total.is_zero(), "a closed order's ledger nets to zero");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_copies_of_a_cancellation_compensate_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    app.reservations()
        .place_order(order("o-1", vec![line("A", "6")]))
        .await
        .unwrap();
    let results = futures_join_all((0..3).map(|_| {
        let mut client = app.reservations();
        async move {
            client
                .cancel_order(pb::CancelOrderRequest {
                    order_id: "o-1".into(),
                    cancellation_id: "c-1".into(),
                    lines: vec![pb::CancelLine {
                        sku: "A".into(),
                        quantity: "4".into(),
                    }],
                })
                .await
        }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(app.salable("A").await.salable_qty, "8");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_orders_and_cancellations_change_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "A", "10")]).await;
    let status = app
        .reservations()
        .place_order(pb::PlaceOrderRequest {
            order_id: String::new(),
            sales_channel: None,
            lines: vec![line("A", "0"), line("A", "-1")],
            cart_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(status),
        [
            "order_id",
            "sales_channel",
            "lines[1].sku",
            "lines[0].quantity",
            "lines[1].quantity"
        ]
    );
    let status = app
        .reservations()
        .place_order(order("o-1", vec![]))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["lines"]);
    let mut unknown = order("o-1", vec![line("A", "1")]);
    unknown.sales_channel = Some(pb::SalesChannel {
        r#type: "website".into(),
        code: "nowhere".into(),
    });
    let status = app.reservations().place_order(unknown).await.unwrap_err();
    assert_eq!(not_found(status).0, "sales channel");
    let status = app
        .reservations()
        .cancel_order(pb::CancelOrderRequest {
            order_id: "missing".into(),
            cancellation_id: "c".into(),
            lines: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status), ("order".into(), "missing".into()));
    app.reservations()
        .place_order(order("o-2", vec![line("A", "1")]))
        .await
        .unwrap();
    let status = app
        .reservations()
        .cancel_order(pb::CancelOrderRequest {
            order_id: "o-2".into(),
            cancellation_id: "c".into(),
            lines: vec![pb::CancelLine {
                sku: "ZZZ".into(),
                quantity: "1".into(),
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(
        refusals(&status),
        [("lines[0]".into(), "SKU_NOT_ON_ORDER".into())]
    );
    assert_eq!(app.salable("A").await.salable_qty, "9");
}
