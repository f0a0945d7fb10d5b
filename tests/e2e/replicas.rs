//! Two real stockd processes on one database: the no-oversell guarantee holds across replicas.

use std::{
    collections::HashMap,
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};
use tonic::{
    Code,
    transport::{Channel, Endpoint},
};

use crate::{
    orders::{futures_join_all, line, order, refusals},
    support::TestApp,
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
struct Replica {
    _child: ChildGuard,
    channel: Channel,
}

/// The URL of the test's own database: the suite's server with the database sqlx::test created.
fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set by scripts/test.sh");
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server);
    let database = pool
        .connect_options()
        .get_database()
        .expect("test database name")
        .to_owned();
    format!("{server}/{database}")
}

async fn start_replica(url: &str) -> Replica {
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
    let url = database_url(&pool);
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
