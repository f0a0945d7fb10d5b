//! A replica replaced under continuous calls. A TCP load balancer in front of the replicas plays
//! kube-proxy and the endpoints controller: it sends each new connection to the next replica
//! whose health says SERVING. With a shutdown delay the stopping replica leaves the rotation
//! before it stops accepting, so no call is refused and none is lost.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use sqlx::{PgPool, postgres::PgPoolOptions};
use stockd::{grpc::pb, repo::MIGRATOR, startup::Application};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::{eventually, stock};

/// How long a stopping replica serves on; longer than the balancer takes to notice.
const DELAY: Duration = Duration::from_millis(1500);
/// How often the balancer asks each replica's health, as a readiness probe would.
const PROBE_PERIOD: Duration = Duration::from_millis(100);

/// One stockd on a pool of its own (the pool closes when it stops).
struct Replica {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    async fn start(pool: &PgPool, delay: Duration) -> Replica {
        let own = PgPoolOptions::new()
            .max_connections(4)
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            Application::build(own, listener, Duration::from_secs(5)).with_shutdown_delay(delay);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Replica {
            addr,
            stop: Some(stop),
            server,
        }
    }

    /// Sends the shutdown signal (SIGTERM's equivalent) without waiting.
    fn terminate(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A round-robin TCP balancer over the replicas whose health answers SERVING.
struct Balancer {
    addr: SocketAddr,
    ready: Arc<Mutex<Vec<SocketAddr>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Balancer {
    async fn start() -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ready = Arc::new(Mutex::new(Vec::<SocketAddr>::new()));
        let rotation = ready.clone();
        let accepting = tokio::spawn(async move {
            let mut next = 0usize;
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                let target = {
                    let ready = rotation.lock().unwrap();
                    next += 1;
                    ready.get(next % ready.len().max(1)).copied()
                };
                tokio::spawn(async move {
                    // No ready replica, or one that refuses: the caller sees the connection drop.
                    let Some(target) = target else { return };
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Balancer {
            addr,
            ready,
            tasks: vec![accepting],
        }
    }

    /// Probes `replica` from now on, keeping it in the rotation exactly while it is SERVING.
    fn follow(&mut self, replica: SocketAddr) {
        let ready = self.ready.clone();
        self.tasks.push(tokio::spawn(async move {
            let channel = Endpoint::from_shared(format!("http://{replica}"))
                .unwrap()
                .connect_lazy();
            let mut health = HealthClient::new(channel);
            loop {
                let serving = health
                    .check(HealthCheckRequest::default())
                    .await
                    .is_ok_and(|answer| answer.into_inner().status() == ServingStatus::Serving);
                {
                    let mut ready = ready.lock().unwrap();
                    ready.retain(|addr| *addr != replica);
                    if serving {
                        ready.push(replica);
                    }
                }
                tokio::time::sleep(PROBE_PERIOD).await;
            }
        }));
    }

    fn in_rotation(&self, replica: SocketAddr) -> bool {
        self.ready.lock().unwrap().contains(&replica)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Callers on connections of their own, each alternating a read and a write until told to stop;
/// every answer is kept.
struct Load {
    running: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    callers: Vec<JoinHandle<(Vec<String>, Vec<tonic::Status>)>>,
}

impl Load {
    async fn start(addr: SocketAddr, callers: usize) -> Load {
        let running = Arc::new(AtomicBool::new(true));
        let answered = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for caller in 0..callers {
            // One channel per caller: one HTTP/2 connection, held to one replica as a real
            // client's is, until the replica says GOAWAY.
            let channel = Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            handles.push(tokio::spawn(call_until_stopped(
                channel,
                caller,
                running.clone(),
                answered.clone(),
            )));
        }
        Load {
            running,
            answered,
            callers: handles,
        }
    }

    async fn calls_pass(&self, calls: usize) {
        let target = self.answered.load(Ordering::SeqCst) + calls;
        eventually("calls to go through", || async {
            (self.answered.load(Ordering::SeqCst) >= target).then_some(())
        })
        .await;
    }

    /// Stops the callers; the sources they created, and every failure.
    async fn finish(self) -> (Vec<String>, Vec<tonic::Status>) {
        self.running.store(false, Ordering::SeqCst);
        let (mut created, mut failures) = (Vec::new(), Vec::new());
        for caller in self.callers {
            let (codes, failed) = caller.await.unwrap();
            created.extend(codes);
            failures.extend(failed);
        }
        (created, failures)
    }
}

async fn call_until_stopped(
    channel: Channel,
    caller: usize,
    running: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) -> (Vec<String>, Vec<tonic::Status>) {
    let mut sources = pb::source_service_client::SourceServiceClient::new(channel.clone());
    let mut availability = pb::availability_service_client::AvailabilityServiceClient::new(channel);
    let (mut created, mut failures) = (Vec::new(), Vec::new());
    let mut call = 0;
    while running.load(Ordering::SeqCst) {
        call += 1;
        let code = format!("c{caller}-{call}");
        let write = sources
            .create_source(pb::CreateSourceRequest {
                source: Some(pb::Source {
                    code: code.clone(),
                    name: code.clone(),
                    ..Default::default()
                }),
            })
            .await
            .map(|_| created.push(code));
        let read = availability
            .get_salable_quantities(pb::GetSalableQuantitiesRequest {
                scope: Some(stock(1)),
                skus: vec!["A".into()],
            })
            .await
            .map(drop);
        failures.extend([write, read].into_iter().filter_map(Result::err));
        answered.fetch_add(2, Ordering::SeqCst);
    }
    (created, failures)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_replica_replaced_under_load_refuses_and_loses_no_call(pool: PgPool) {
    // Arrange: two replicas behind the balancer, callers spread over both.
    let mut balancer = Balancer::start().await;
    let mut old = Replica::start(&pool, DELAY).await;
    let other = Replica::start(&pool, DELAY).await;
    for replica in [old.addr, other.addr] {
        balancer.follow(replica);
    }
    eventually("both replicas in rotation", || async {
        (balancer.in_rotation(old.addr) && balancer.in_rotation(other.addr)).then_some(())
    })
    .await;
    let load = Load::start(balancer.addr, 6).await;
    load.calls_pass(60).await;

    // Act: a replacement joins, then the old replica is told to stop (SIGTERM).
    let new = Replica::start(&pool, DELAY).await;
    balancer.follow(new.addr);
    eventually("the replacement in rotation", || async {
        balancer.in_rotation(new.addr).then_some(())
    })
    .await;
    old.terminate();

    // Assert: out of the rotation at once, yet still accepting and serving new connections.
    eventually("the old replica out of rotation", || async {
        (!balancer.in_rotation(old.addr)).then_some(())
    })
    .await;
    let direct = Endpoint::from_shared(format!("http://{}", old.addr))
        .unwrap()
        .connect()
        .await
        .expect("the old replica still accepts during its shutdown delay");
    pb::availability_service_client::AvailabilityServiceClient::new(direct)
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(stock(1)),
            skus: vec!["A".into()],
        })
        .await
        .expect("the old replica still serves during its shutdown delay");
    old.server.await.unwrap().unwrap();
    load.calls_pass(60).await;
    let (created, failures) = load.finish().await;

    // Assert: every call answered OK, and every acknowledged write is in the database.
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    let stored: Vec<String> = sqlx::query_scalar("SELECT code FROM source WHERE code LIKE 'c%'")
        .fetch_all(&pool)
        .await
        .unwrap();
    let (mut created, mut stored) = (created, stored);
    created.sort();
    stored.sort();
    assert_eq!(created, stored, "every acknowledged source is stored");
    assert!(created.len() >= 60, "{} writes", created.len());
    drop(balancer);
    let mut rest = [other, new];
    rest.iter_mut().for_each(Replica::terminate);
    for replica in rest {
        replica.server.await.unwrap().unwrap();
    }
}
