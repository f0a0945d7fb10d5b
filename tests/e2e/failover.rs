//! Failover: stockd with a multi-host DATABASE_URL over a primary and its synchronous streaming
//! standby finds the primary by itself, keeps placing orders through a crash of the primary
//! and the promotion of the standby, and loses no order it acknowledged.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::PgPool;
use stockd::{repo, startup::Application};
use tokio::net::TcpListener;
use tonic::{Code, IntoRequest, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    orders::{futures_join_all, line, order},
    support::{ReservationServiceClient, TestApp, eventually},
    support_pg::{Cluster, stockd_database},
};

/// Callers placing orders side by side.
const CALLERS: usize = 4;

/// What a caller saw of one order.
#[derive(Debug)]
struct Outcome {
    order_id: String,
    answered_at: Instant,
    result: Result<(), Code>,
}

/// Places orders one after another until `stop`, each with a fresh id.
async fn place_orders(
    mut client: ReservationServiceClient<Channel>,
    caller: usize,
    acknowledged: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let order_id = format!("c{caller}-{n}");
        let mut request = order(&order_id, vec![line("FAILOVER", "1")]).into_request();
        request.set_timeout(Duration::from_secs(5));
        let result = client.place_order(request).await;
        if result.is_ok() {
            acknowledged.fetch_add(1, Ordering::Relaxed);
        }
        outcomes.push(Outcome {
            order_id,
            answered_at: Instant::now(),
            result: result.map(|_| ()).map_err(|status| status.code()),
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_resume_on_the_promoted_standby_and_none_acknowledged_is_lost() {
    // Arrange: a primary, and a standby that every commit waits for.
    let primary = Cluster::start_new();
    primary.psql("postgres", "CREATE DATABASE stockd");
    let standby = primary.standby();
    primary.psql(
        "postgres",
        "ALTER SYSTEM SET synchronous_standby_names = '*'",
    );
    primary.psql("postgres", "SELECT pg_reload_conf()");
    eventually("synchronous replication", || async {
        let state = primary.psql("postgres", "SELECT sync_state FROM pg_stat_replication");
        (state == "sync").then_some(())
    })
    .await;
    // The standby comes first: stockd must find the primary by itself.
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/stockd?target_session_attrs=read-write",
        standby.port(),
        primary.port()
    );
    let mut config = stockd_database(&url);
    config.db_acquire_timeout_secs = 2;
    let pool = repo::connect(&config).unwrap();
    stockd::startup::migrate(&pool).await.unwrap();
    assert_eq!(pool.connect_options().get_port(), primary.port());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = TestApp::spawn_app(Application::build(
        pool.clone(),
        listener,
        Duration::from_secs(5),
    ))
    .await;
    app.stock_items(&[("default", "FAILOVER", "1000000")]).await;

    // Act: orders flow; the primary crashes and the standby is promoted.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let callers = (0..CALLERS).map(|caller| {
        place_orders(
            app.reservations(),
            caller,
            acknowledged.clone(),
            stop.clone(),
        )
    });
    let failover = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let crashed_at = Instant::now();
        tokio::task::block_in_place(|| {
            primary.stop_immediately();
            standby.promote();
        });
        let promoted_at = Instant::now();
        // Until orders have flowed again for a while, or for longer than the test allows.
        let before = acknowledged.load(Ordering::Relaxed);
        while acknowledged.load(Ordering::Relaxed) < before + 40
            && promoted_at.elapsed() < Duration::from_secs(11)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.store(true, Ordering::Relaxed);
        (crashed_at, promoted_at)
    };
    let (outcomes, (crashed_at, promoted_at)) = tokio::join!(futures_join_all(callers), failover);
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();

    // Assert: the only failures were UNAVAILABLE, retryable, never INTERNAL.
    let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    assert!(
        failures.iter().all(|o| o.result == Err(Code::Unavailable)),
        "{failures:?}"
    );
    // Orders were placed before the crash, and again within 10 s of the promotion.
    let acknowledged: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
    assert!(acknowledged.iter().any(|o| o.answered_at < crashed_at));
    let resumed = acknowledged
        .iter()
        .filter(|o| o.answered_at > promoted_at)
        .map(|o| o.answered_at - promoted_at)
        .min()
        .expect("orders succeed again after the promotion");
    assert!(
        resumed <= Duration::from_secs(10),
        "resumed after {resumed:?}"
    );
    assert_eq!(pool.connect_options().get_port(), standby.port());
    // Every acknowledged order is in the promoted database.
    let stored: HashSet<String> = standby
        .psql("stockd", "SELECT order_id FROM sales_order")
        .lines()
        .map(str::to_owned)
        .collect();
    let lost: Vec<&str> = acknowledged
        .iter()
        .map(|o| o.order_id.as_str())
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    // Readiness follows the pool to the new primary.
    eventually("SERVING again", || async {
        let health = HealthClient::new(app.channel.clone())
            .check(HealthCheckRequest::default())
            .await
            .ok()?;
        (health.into_inner().status == ServingStatus::Serving as i32).then_some(())
    })
    .await;
    eprintln!(
        "{} orders acknowledged, {} refused UNAVAILABLE, placed again {resumed:?} after the promotion",
        acknowledged.len(),
        failures.len()
    );
    app.stop().await;
}

/// The server each of `count` connections held at once from `pool` is on.
async fn ports_handed_out(pool: &PgPool, count: usize) -> Vec<i32> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..count {
        let mut connection = pool.acquire().await.unwrap();
        let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        ports.push(port);
        held.push(connection);
    }
    ports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_a_fenced_primary_are_dropped_once_the_standby_is_promoted() {
    // Arrange: the pool holds idle connections to the primary.
    let primary = Cluster::start_new();
    let standby = primary.standby();
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres",
        primary.port(),
        standby.port()
    );
    let pool = repo::connect(&stockd_database(&url)).unwrap();
    let before = ports_handed_out(&pool, 3).await;
    assert_eq!(before, [i32::from(primary.port()); 3]);

    // Act: the old primary is fenced but keeps running (its sessions stay open); the standby
    // is promoted.
    primary.psql(
        "postgres",
        "ALTER SYSTEM SET default_transaction_read_only = on",
    );
    primary.psql("postgres", "SELECT pg_reload_conf()");
    tokio::task::block_in_place(|| standby.promote());

    // Assert: the pool moves, and hands out no connection to the old primary after that.
    eventually("the pool to follow the promoted standby", || async {
        (pool.connect_options().get_port() == standby.port()).then_some(())
    })
    .await;
    let after = ports_handed_out(&pool, 3).await;
    assert_eq!(after, [i32::from(standby.port()); 3]);
    pool.close().await;
}
