//! Throwaway PostgreSQL clusters on loopback, for tests that need servers of their own: a primary
//! and streaming standbys made from it with `pg_basebackup -R`. Each cluster lives in a temporary
//! directory and is stopped and removed when dropped. As root the clusters belong to the
//! `postgres` user, as in scripts/lib/throwaway-postgres.sh (PostgreSQL refuses to run as root).

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};

/// The database the clusters carry.
pub(crate) const DATABASE: &str = "stockd";

/// One running PostgreSQL server.
pub(crate) struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    /// A new primary with an empty `stockd` database, accepting replication from loopback.
    pub(crate) async fn primary() -> Cluster {
        let cluster = Cluster::empty();
        let data = cluster.data();
        let initdb = cluster.bin.join("initdb");
        blocking(
            move |c: &Cluster| {
                c.as_owner(
                    &initdb,
                    &[
                        "-D",
                        data.to_str().unwrap(),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                        "--no-sync",
                    ],
                );
                c.configure();
                c.start();
            },
            cluster,
        )
        .await
        .create_database()
        .await
    }

    /// A streaming standby of `primary`, started and replaying.
    pub(crate) async fn standby_of(primary: &Cluster) -> Cluster {
        let cluster = Cluster::empty();
        let data = cluster.data();
        let basebackup = cluster.bin.join("pg_basebackup");
        let port = primary.port.to_string();
        blocking(
            move |c: &Cluster| {
                c.as_owner(
                    &basebackup,
                    &[
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port,
                        "-U",
                        "postgres",
                        "-D",
                        data.to_str().unwrap(),
                        "-R",
                        "-X",
                        "stream",
                        "-c",
                        "fast",
                        "--no-sync",
                    ],
                );
                c.configure();
                c.start();
            },
            cluster,
        )
        .await
    }

    /// The URL of the `stockd` database on this server.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// A lazily connecting pool of a few connections to the `stockd` database, which gives up
    /// on a connection after a second, as stockd's pools of read replicas do.
    pub(crate) fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(1))
            .connect_lazy(&self.url())
            .unwrap()
    }

    /// Runs SQL on this server's `stockd` database over a connection of its own.
    pub(crate) async fn execute(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// Stops the server (a fast shutdown: sessions are ended, nothing is lost).
    pub(crate) async fn stop(self) -> Self {
        blocking(|c: &Cluster| c.pg_ctl(&["-m", "fast", "-w", "stop"]), self).await
    }

    fn empty() -> Cluster {
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "stockd-cluster-{}-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        run(Command::new("chmod").arg("755").arg(&dir));
        if is_root() {
            run(Command::new("chown").arg("postgres:").arg(&dir));
        }
        Cluster {
            dir,
            bin: pg_bin(),
            port: free_port(),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Appends this server's own settings; the last line wins over a copied primary's.
    fn configure(&self) {
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\nmax_connections = 50\n",
            self.port,
            self.dir.display()
        );
        let conf = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&settings);
        std::fs::write(&conf, text).unwrap();
    }

    fn start(&self) {
        let log = self.dir.join("server.log");
        self.pg_ctl(&["-l", log.to_str().unwrap(), "-w", "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data();
        let mut all = vec!["-D", data.to_str().unwrap()];
        all.extend_from_slice(args);
        self.as_owner(&self.bin.join("pg_ctl"), &all);
    }

    fn as_owner(&self, program: &Path, args: &[&str]) -> Output {
        run(owner_command(program).args(args).current_dir(&self.dir))
    }

    async fn create_database(self) -> Self {
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut conn = PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        self
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        if data.join("postmaster.pid").exists() {
            let _ = owner_command(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A command run as the clusters' owner: `postgres` when the tests run as root.
fn owner_command(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Runs `work` off the async runtime (it waits for processes), handing the cluster back.
async fn blocking(work: impl FnOnce(&Cluster) + Send + 'static, cluster: Cluster) -> Cluster {
    tokio::task::spawn_blocking(move || {
        work(&cluster);
        cluster
    })
    .await
    .unwrap()
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// The PostgreSQL binaries: PGBIN, else the newest /usr/lib/postgresql/*/bin.
fn pg_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("PGBIN") {
        return bin.into();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .map(|entry| entry.unwrap().path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("PostgreSQL binaries under /usr/lib/postgresql")
}

/// A port nothing listens on now (the operating system's choice for a moment).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}
