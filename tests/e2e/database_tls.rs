//! TLS to PostgreSQL: a server that accepts TLS connections only, with a certificate for
//! `localhost` from a CA made here. stockd connects with `sslmode` and `sslrootcert` from
//! DATABASE_URL, or from PGSSLMODE and PGSSLROOTCERT, and names the problem when the
//! certificate does not check out.

use std::{path::PathBuf, process::Output};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use stockd::repo;

use crate::support_pg::{Cluster, stockd_database};

/// A certificate authority, its certificate in PEM.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for `host` and its key, both in PEM.
    fn issue(&self, host: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![host.to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A cluster that speaks TLS only (plaintext TCP is refused by pg_hba.conf), with a certificate
/// for `localhost` issued by `ca`.
fn tls_only_cluster(ca: &Ca) -> Cluster {
    let cluster = Cluster::init();
    let (cert, key) = ca.issue("localhost");
    cluster.write("server.crt", cert.as_bytes());
    cluster.write("server.key", key.as_bytes());
    cluster.write(
        "pg_hba.conf",
        b"local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    );
    cluster.configure(&["ssl = on".into()]);
    cluster.start();
    cluster
}

/// Writes a CA certificate where the test (not only the server) can read it.
fn ca_file(cluster: &Cluster, name: &str, ca: &Ca) -> PathBuf {
    let path = cluster.data().with_file_name(name);
    std::fs::write(&path, &ca.pem).unwrap();
    path
}

/// Whether the session behind `url` is encrypted, as the server sees it.
async fn session_is_encrypted(url: String) -> Result<bool, sqlx::Error> {
    let pool = repo::connect(&stockd_database(&url))?;
    let ssl = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await;
    pool.close().await;
    ssl
}

/// Runs `stockd migrate` with `env`, nothing inherited that could point it elsewhere.
fn migrate(env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stockd"))
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What `stockd migrate` against `url` logged, after checking that it failed.
fn migrate_fails(url: &str) -> String {
    let output = migrate(&[("DATABASE_URL", url)]);
    assert!(!output.status.success(), "{}", stderr(&output));
    stderr(&output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stockd_reaches_a_tls_only_postgresql_and_refuses_a_certificate_it_cannot_verify() {
    let ca = Ca::new("stockd test CA");
    let cluster = tls_only_cluster(&ca);
    cluster.psql("postgres", "CREATE DATABASE stockd");
    let trusted = ca_file(&cluster, "ca.crt", &ca);
    let stranger = ca_file(&cluster, "other-ca.crt", &Ca::new("another CA"));
    let at = |host: &str, query: String| format!("{}?{query}", cluster.url(host, "stockd"));

    // verify-full to the name on the certificate, trusting its CA: an encrypted session.
    let verified = at(
        "localhost",
        format!("sslmode=verify-full&sslrootcert={}", trusted.display()),
    );
    assert!(session_is_encrypted(verified.clone()).await.unwrap());
    // verify-ca checks the chain only, so the address will do; require checks nothing.
    let by_address = at(
        "127.0.0.1",
        format!("sslmode=verify-ca&sslrootcert={}", trusted.display()),
    );
    assert!(session_is_encrypted(by_address).await.unwrap());
    assert!(
        session_is_encrypted(at("127.0.0.1", "sslmode=require".into()))
            .await
            .unwrap()
    );

    // `stockd migrate` over verify-full succeeds; so does the same set by environment.
    let migrated = migrate(&[("DATABASE_URL", &verified)]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let by_env = migrate(&[
        ("DATABASE_URL", &cluster.url("localhost", "stockd")),
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", &trusted.display().to_string()),
    ]);
    assert!(by_env.status.success(), "{}", stderr(&by_env));

    // A CA that did not issue the server's certificate: refused, and the log says why.
    let said = migrate_fails(&at(
        "localhost",
        format!("sslmode=verify-full&sslrootcert={}", stranger.display()),
    ));
    assert!(
        said.contains("migrating the database at localhost:")
            && said.contains("(sslmode verify-full)")
            && said.contains("invalid peer certificate: UnknownIssuer"),
        "{said}"
    );

    // The right CA, but an address that is not the name on the certificate.
    let said = migrate_fails(&at(
        "127.0.0.1",
        format!("sslmode=verify-full&sslrootcert={}", trusted.display()),
    ));
    assert!(
        said.contains("invalid peer certificate") && said.contains("not valid for name"),
        "{said}"
    );

    // Without TLS the server turns stockd away.
    let said = migrate_fails(&at("localhost", "sslmode=disable".into()));
    assert!(said.contains("no encryption"), "{said}");
}
