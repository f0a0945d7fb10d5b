//! Two real stockd processes on one database: the no-oversell guarantee holds across replicas.

use std::{
    collections::HashMap,
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use rust_decimal::Decimal;
use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};
use tonic::{
    Code,
    transport::{Channel, Endpoint},
};

use crate::{
    fulfilment::consistency_on,
    orders::{futures_join_all, line, order, refusals},
    support::{TestApp, own_database_url},
};

/// A child process, killed and reaped when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `stockd serve` process and a channel to it.
pub(crate) struct Replica {
    _child: ChildGuard,
    pub(crate) channel: Channel,
}

pub(crate) async fn start_replica(url: &str) -> Replica {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_stockd"))
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("STOCKD_GRPC_ADDR", format!("127.0.0.1:{port}"))
            .env("STOCKD_MIGRATE_ON_START", "false")
            .env("STOCKD_AUTH_DISABLED", "true")
            .env("STOCKD_DB_MAX_CONNECTIONS", "8")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start stockd"),
    );
    let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}")).expect("endpoint");
    for _ in 0..200 {
        if let Ok(channel) = endpoint.connect().await {
            return Replica {
                _child: child,
                channel,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("stockd on port {port} did not start");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_processes_never_sell_more_than_fifty(pool: PgPool) {
    let url = own_database_url(&pool);
    let admin = TestApp::spawn(pool).await;
    admin.stock_items(&[("default", "HOT", "50")]).await;
    let replicas = [start_replica(&url).await, start_replica(&url).await];
    let calls = (0..200).map(|i| {
        let channel = replicas[i % 2].channel.clone();
        async move {
            pb::reservation_service_client::ReservationServiceClient::new(channel)
                .place_order(order(&format!("r-{i}"), vec![line("HOT", "1")]))
                .await
        }
    });
    let mut outcomes: HashMap<Code, usize> = HashMap::new();
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
    assert_eq!(outcomes.get(&Code::Ok), Some(&50));
    assert_eq!(outcomes.get(&Code::FailedPrecondition), Some(&150));
    assert_eq!(admin.salable("HOT").await.salable_qty, "0");
}

/// Places and ships orders in a loop until the server goes away.
async fn order_and_ship(channel: Channel, worker: usize) -> usize {
    let mut reservations =
        pb::reservation_service_client::ReservationServiceClient::new(channel.clone());
    let mut fulfilment = pb::fulfilment_service_client::FulfilmentServiceClient::new(channel);
    for i in 0.. {
        let id = format!("w{worker}-{i}");
        let qty = (1 + i % 3).to_string();
        if reservations
            .place_order(order(&id, vec![line("A", &qty), line("B", "1")]))
            .await
            .is_err()
        {
            return i;
        }
        let shipped = fulfilment
            .confirm_shipment(pb::ConfirmShipmentRequest {
                order_id: id.clone(),
                shipment_id: format!("ship-{id}"),
                lines: vec![
                    pb::SourceQuantityLine {
                        sku: "A".into(),
                        source_code: "default".into(),
                        quantity: qty,
                    },
                    pb::SourceQuantityLine {
                        sku: "B".into(),
                        source_code: "default".into(),
                        quantity: "1".into(),
                    },
                ],
            })
            .await;
        if shipped.is_err() {
            return i;
        }
    }
    unreachable!()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_killed_process_leaves_no_half_applied_shipment(pool: PgPool) {
    let url = own_database_url(&pool);
    let admin = TestApp::spawn(pool.clone()).await;
    admin
        .stock_items(&[("default", "A", "1000000"), ("default", "B", "1000000")])
        .await;
    let replica = start_replica(&url).await;
    let workers: Vec<_> = (0..8)
        .map(|k| tokio::spawn(order_and_ship(replica.channel.clone(), k)))
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    drop(replica); // SIGKILL, mid-stream
    let mut done = 0;
    for worker in workers {
        done += worker.await.expect("worker");
    }
    assert!(
        done > 0,
        "the stream was running when the process was killed"
    );

    let restarted = start_replica(&url).await;
    let (found, summary) = consistency_on(restarted.channel.clone(), false).await;
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(summary.differences, 0);
    for sku in ["A", "B"] {
        let (on_hand, shipped, on_lines): (Decimal, Decimal, Decimal) = sqlx::query_as(
            "SELECT (SELECT quantity FROM source_item WHERE source_code = 'default' AND sku = $1), \
                    (SELECT COALESCE(SUM(quantity), 0) FROM shipment_line WHERE sku = $1), \
                    (SELECT COALESCE(SUM(shipped), 0) FROM order_line WHERE sku = $1)",
        )
        .bind(sku)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            on_hand,
            Decimal::from(1_000_000) - shipped,
            "{sku}: source vs shipments"
        );
        assert_eq!(on_lines, shipped, "{sku}: order lines vs shipments");
    }
}
