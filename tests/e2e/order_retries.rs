//! Retries and copies of PlaceOrder are answered from what is stored before the stock is looked
//! at: a placed order stays placed after a sell-out, and copies of a refused order are refused
//! alike, on one server or on two processes.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};
use tonic::{Code, transport::Channel};

use crate::{
    orders::{futures_join_all, line, order, refusals},
    replicas::start_replica,
    support::{ReservationServiceClient, TestApp, own_database_url},
};

/// Every copy's outcome, sent round-robin to the servers: its refusals with their messages, or
/// "placed".
async fn copies(
    servers: &[&Channel],
    request: &pb::PlaceOrderRequest,
    count: usize,
) -> Vec<String> {
    let calls = (0..count).map(|i| {
        let mut client = ReservationServiceClient::new(servers[i % servers.len()].clone());
        let request = request.clone();
        async move { client.place_order(request).await }
    });
    futures_join_all(calls)
        .await
        .into_iter()
        .map(|result| match result {
            Ok(_) => "placed".to_owned(),
            Err(status) => format!("{:?} {}", refusals(&status), status.message()),
        })
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_placed_order_retried_after_a_sell_out_is_replayed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "HOT", "3")]).await;
    let placed = app
        .reservations()
        .place_order(order("sold-1", vec![line("HOT", "3")]))
        .await
        .unwrap()
        .into_inner();
    assert!(!placed.replayed);
    assert!(!app.salable("HOT").await.is_salable);

    let retry = app
        .reservations()
        .place_order(order("sold-1", vec![line("HOT", "3")]))
        .await
        .unwrap()
        .into_inner();

    assert!(retry.replayed);
    assert_eq!(retry.lines, placed.lines);
    let other = app
        .reservations()
        .place_order(order("sold-1", vec![line("HOT", "2")]))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::AlreadyExists, "{other:?}");
    let order = app
        .reservations()
        .get_order(pb::GetOrderRequest {
            order_id: "sold-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(order.status(), pb::OrderStatus::Open);
    assert_eq!(app.salable("HOT").await.salable_qty, "0");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_copies_of_an_order_that_does_not_fit_are_all_refused_alike(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "HOT", "1")]).await;
    let request = order("too-big", vec![line("HOT", "5")]);

    let outcomes = copies(&[&app.channel], &request, 64).await;

    assert!(outcomes[0].contains("NOT_ENOUGH_QTY"), "{}", outcomes[0]);
    assert!(outcomes.iter().all(|o| o == &outcomes[0]), "{outcomes:#?}");
    assert_eq!(app.salable("HOT").await.salable_qty, "1");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sold_out_replays_and_refused_copies_agree_across_two_processes(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.stock_items(&[("default", "HOT", "4")]).await;
    let url = own_database_url(&pool);
    let (one, two) = (start_replica(&url).await, start_replica(&url).await);
    let (one, two) = (&one.channel, &two.channel);
    let fits = order("fits", vec![line("HOT", "4")]);
    let placed = copies(&[one, two], &fits, 32).await;
    assert!(placed.iter().all(|o| o == "placed"), "{placed:#?}");

    let sold_out = copies(&[two, one], &fits, 32).await;
    let too_big = copies(&[one, two], &order("too-big", vec![line("HOT", "1")]), 32).await;

    assert!(sold_out.iter().all(|o| o == "placed"), "{sold_out:#?}");
    assert!(too_big[0].contains("NOT_ENOUGH_QTY"), "{}", too_big[0]);
    assert!(too_big.iter().all(|o| o == &too_big[0]), "{too_big:#?}");
    let ledger: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservation WHERE order_id = 'fits'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(ledger, 1, "placed once");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refused_order_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.stock_items(&[("default", "KNOWN", "1")]).await;
    let tables = || async {
        let rows: (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM stock_sku), \
             (SELECT count(*) FROM sales_order), (SELECT count(*) FROM reservation)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        rows
    };
    let before = tables().await;

    let refused = app
        .reservations()
        .place_order(order(
            "unknown-skus",
            vec![line("NOPE-1", "1"), line("NOPE-2", "1"), line("KNOWN", "2")],
        ))
        .await
        .unwrap_err();

    assert_eq!(
        refusals(&refused),
        [
            (
                "lines[0]".to_owned(),
                "SKU_NOT_ASSIGNED_TO_STOCK".to_owned()
            ),
            (
                "lines[1]".to_owned(),
                "SKU_NOT_ASSIGNED_TO_STOCK".to_owned()
            ),
            ("lines[2]".to_owned(), "NOT_ENOUGH_QTY".to_owned()),
        ]
    );
    assert_eq!(tables().await, before);
}
