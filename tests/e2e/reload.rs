//! The tokens file and the TLS certificate reload without a restart, from files laid out as the
//! kubelet lays out a Secret volume; a new version that does not load leaves the old one in force.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use sqlx::PgPool;
use stockd::{
    auth::tokens::hash_token, grpc::pb, reload::ReloadTrigger, repo::MIGRATOR, startup::Application,
};
use tokio::net::TcpListener;
use tonic::{
    Code,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};

use crate::{
    auth::with_token,
    support::{TestApp, eventually, stock},
    telemetry::{sample, scrape},
};

/// How often the tests' servers look at their files.
const POLL: Duration = Duration::from_millis(100);

/// A directory laid out as a Secret volume: each file is a symlink through `..data`, which points
/// at the directory of the current version and is replaced in one rename.
struct SecretVolume {
    dir: PathBuf,
    version: u32,
}

impl SecretVolume {
    fn new(test: &str, files: &[(&str, &[u8])]) -> SecretVolume {
        let dir = std::env::temp_dir().join(format!("stockd-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut volume = SecretVolume { dir, version: 0 };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(Path::new("..data").join(name), volume.path(name)).unwrap();
        }
        volume
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a new version beside the old one and swaps `..data` to it at once.
    fn update(&mut self, files: &[(&str, &[u8])]) {
        self.version += 1;
        let version = format!("..v{}", self.version);
        std::fs::create_dir(self.dir.join(&version)).unwrap();
        for (name, content) in files {
            let file = self.dir.join(&version).join(name);
            std::fs::write(&file, content).unwrap();
            // The chart's defaultMode: readable by the owner and group only.
            let mode = std::os::unix::fs::PermissionsExt::from_mode(0o440);
            std::fs::set_permissions(&file, mode).unwrap();
        }
        let swap = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &swap).unwrap();
        std::fs::rename(&swap, self.dir.join("..data")).unwrap();
    }
}

impl Drop for SecretVolume {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tokens_file(tokens: &[&str]) -> Vec<u8> {
    tokens
        .iter()
        .map(|token| format!("{} storefront name={token}\n", hash_token(token)))
        .collect::<String>()
        .into_bytes()
}

/// A storefront call with `token`: OK, or the refusal's code.
async fn read_with(channel: &Channel, token: &str) -> Result<(), Code> {
    let request = pb::GetSalableQuantitiesRequest {
        scope: Some(stock(1)),
        skus: vec!["A".into()],
    };
    pb::availability_service_client::AvailabilityServiceClient::new(channel.clone())
        .get_salable_quantities(with_token(request, token))
        .await
        .map(drop)
        .map_err(|status| status.code())
}

/// Waits until `/metrics` counts `count` reloads of `what` with `outcome`.
async fn reloads_counted(metrics: SocketAddr, what: &str, outcome: &str, count: f64) {
    eventually(
        &format!("{count} {outcome} reloads of {what}"),
        || async move {
            let text = scrape(metrics).await;
            let seen = sample(
                &text,
                "stockd_config_reloads_total",
                &[("what", what), ("outcome", outcome)],
            );
            (seen == Some(count)).then_some(())
        },
    )
    .await;
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_rewritten_tokens_file_takes_effect_and_a_broken_one_is_refused(pool: PgPool) {
    // Arrange: a server reading its tokens from a Secret volume.
    let mut volume = SecretVolume::new("tokens", &[("tokens", &tokens_file(&["old-token"]))]);
    let metrics = bind().await;
    let metrics_addr = metrics.local_addr().unwrap();
    let app = Application::build(pool, bind().await, Duration::from_secs(5))
        .with_metrics_listener(metrics)
        .with_reload_interval(POLL)
        .with_tokens_file(volume.path("tokens"))
        .unwrap();
    let app = TestApp::spawn_app(app).await;
    assert_eq!(read_with(&app.channel, "old-token").await, Ok(()));
    assert_eq!(
        read_with(&app.channel, "new-token").await,
        Err(Code::Unauthenticated)
    );

    // Act 1: the Secret is rotated: the new token replaces the old one.
    volume.update(&[("tokens", &tokens_file(&["new-token"]))]);

    // Assert 1: the new token works and the old one is refused, without a restart.
    reloads_counted(metrics_addr, "tokens", "reloaded", 1.0).await;
    assert_eq!(read_with(&app.channel, "new-token").await, Ok(()));
    assert_eq!(
        read_with(&app.channel, "old-token").await,
        Err(Code::Unauthenticated)
    );

    // Act 2: a broken file, then an empty one.
    volume.update(&[("tokens", b"0123 storefront\n")]);
    reloads_counted(metrics_addr, "tokens", "refused", 1.0).await;
    let still = read_with(&app.channel, "new-token").await;
    volume.update(&[("tokens", b"# nobody\n")]);
    reloads_counted(metrics_addr, "tokens", "refused", 2.0).await;

    // Assert 2: each was refused and the tokens in force stayed.
    assert_eq!(still, Ok(()));
    assert_eq!(read_with(&app.channel, "new-token").await, Ok(()));
    app.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sighup_reloads_the_tokens_file(pool: PgPool) {
    // Arrange: no polling; only the signal can reload.
    let mut volume = SecretVolume::new("sighup", &[("tokens", &tokens_file(&["old-token"]))]);
    let app = Application::build(pool, bind().await, Duration::from_secs(5))
        .with_reload_interval(Duration::ZERO)
        .with_reload_trigger(stockd::reload::on_sighup().unwrap())
        .with_tokens_file(volume.path("tokens"))
        .unwrap();
    let app = TestApp::spawn_app(app).await;
    assert_eq!(read_with(&app.channel, "old-token").await, Ok(()));
    volume.update(&[("tokens", &tokens_file(&["new-token"]))]);

    // Act: SIGHUP to this very process, where the server runs.
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());

    // Assert
    eventually("the new token to work", || async {
        read_with(&app.channel, "new-token").await.ok()
    })
    .await;
    assert_eq!(
        read_with(&app.channel, "old-token").await,
        Err(Code::Unauthenticated)
    );
    app.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_pulled_trigger_reloads_a_file_the_poll_would_not_see_yet(pool: PgPool) {
    let mut volume = SecretVolume::new("trigger", &[("tokens", &tokens_file(&["old-token"]))]);
    let trigger = ReloadTrigger::new();
    let app = Application::build(pool, bind().await, Duration::from_secs(5))
        .with_reload_interval(Duration::from_secs(3600))
        .with_reload_trigger(trigger.clone())
        .with_tokens_file(volume.path("tokens"))
        .unwrap();
    let app = TestApp::spawn_app(app).await;
    volume.update(&[("tokens", &tokens_file(&["new-token"]))]);

    trigger.reload();

    eventually("the new token to work", || async {
        read_with(&app.channel, "new-token").await.ok()
    })
    .await;
    app.stop().await;
}

/// A self-signed certificate for `localhost` and its key, both PEM.
fn certificate() -> (String, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (cert.pem(), signing_key.serialize_pem())
}

/// The files of a `kubernetes.io/tls` Secret.
fn pair<'a>(cert: &'a str, key: &'a str) -> [(&'static str, &'a [u8]); 2] {
    [("tls.crt", cert.as_bytes()), ("tls.key", key.as_bytes())]
}

/// Whether a new connection that trusts only `ca` completes a call: the server presented `ca`.
async fn trusted_by(addr: SocketAddr, ca: &str) -> bool {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    let Ok(channel) = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
    else {
        return false;
    };
    pb::availability_service_client::AvailabilityServiceClient::new(channel)
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(stock(1)),
            skus: vec!["A".into()],
        })
        .await
        .is_ok()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_replaced_certificate_serves_new_connections_and_a_bad_key_is_refused(pool: PgPool) {
    // Arrange: TLS from a Secret volume holding certificate A.
    let (cert_a, key_a) = certificate();
    let (cert_b, key_b) = certificate();
    let (cert_c, _) = certificate();
    let mut volume = SecretVolume::new("tls", &pair(&cert_a, &key_a));
    let metrics = bind().await;
    let metrics_addr = metrics.local_addr().unwrap();
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let app = Application::build(pool, listener, Duration::from_secs(5))
        .with_metrics_listener(metrics)
        .with_reload_interval(POLL)
        .with_tls_files(volume.path("tls.crt"), volume.path("tls.key"), None)
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    assert!(trusted_by(addr, &cert_a).await);
    assert!(!trusted_by(addr, &cert_b).await);
    let before = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&cert_a))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();

    // Act 1: the certificate is renewed (cert-manager rewrites the Secret).
    volume.update(&pair(&cert_b, &key_b));
    reloads_counted(metrics_addr, "tls", "reloaded", 1.0).await;

    // Assert 1: new connections see B; a connection made before keeps working.
    assert!(trusted_by(addr, &cert_b).await);
    assert!(!trusted_by(addr, &cert_a).await);
    pb::availability_service_client::AvailabilityServiceClient::new(before)
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(stock(1)),
            skus: vec!["A".into()],
        })
        .await
        .expect("an open connection outlives the certificate it began with");

    // Act 2: a certificate with a key that is not PEM, then with another certificate's key.
    volume.update(&pair(&cert_c, "not a key"));
    reloads_counted(metrics_addr, "tls", "refused", 1.0).await;
    volume.update(&pair(&cert_c, &key_b));
    reloads_counted(metrics_addr, "tls", "refused", 2.0).await;

    // Assert 2: B is still served.
    assert!(trusted_by(addr, &cert_b).await);
    assert!(!trusted_by(addr, &cert_c).await);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_stockd_process_reloads_its_tokens_on_sighup_and_keeps_running(pool: PgPool) {
    // Arrange: a real `stockd serve`, polling off, so only the signal reloads.
    let mut volume = SecretVolume::new("process", &[("tokens", &tokens_file(&["old-token"]))]);
    let port = bind().await.local_addr().unwrap().port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stockd"))
        .arg("serve")
        .env("DATABASE_URL", crate::support::own_database_url(&pool))
        .env("STOCKD_GRPC_ADDR", format!("127.0.0.1:{port}"))
        .env("STOCKD_MIGRATE_ON_START", "false")
        .env("STOCKD_AUTH_TOKENS_FILE", volume.path("tokens"))
        .env("STOCKD_RELOAD_INTERVAL", "0")
        .env("STOCKD_SHUTDOWN_DELAY", "0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    let channel = eventually("stockd to serve", || {
        let endpoint = endpoint.clone();
        async move {
            let channel = endpoint.connect().await.ok()?;
            read_with(&channel, "old-token").await.ok()?;
            Some(channel)
        }
    })
    .await;
    volume.update(&[("tokens", &tokens_file(&["new-token"]))]);

    // Act
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());

    // Assert: the new token works, the old one is refused, and the process still runs.
    eventually("the new token to work", || async {
        read_with(&channel, "new-token").await.ok()
    })
    .await;
    assert_eq!(
        read_with(&channel, "old-token").await,
        Err(Code::Unauthenticated)
    );
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP stopped stockd");
    child.kill().unwrap();
    child.wait().unwrap();
}
