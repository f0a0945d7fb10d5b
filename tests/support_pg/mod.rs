//! PostgreSQL clusters of a test's own, for what the suite's shared server cannot show: TLS,
//! streaming standbys, failover. Each lives in a temporary directory on a free loopback port and
//! is stopped and removed when dropped. Like scripts/lib/throwaway-postgres.sh, it runs the
//! server binaries as `postgres` when the tests run as root (PostgreSQL refuses root).
//!
//! The operations block; call them from `tokio::task::block_in_place` in a multi-threaded test
//! when a server under test must keep running meanwhile.

#![allow(dead_code)]

use clap::Parser;
use stockd::config::{self, Cli, DatabaseConfig};

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

/// The database settings `stockd migrate --database-url URL` would run with.
pub(crate) fn stockd_database(url: &str) -> DatabaseConfig {
    let cli = Cli::try_parse_from(["stockd", "migrate", "--database-url", url]).unwrap();
    match cli.command {
        config::Command::Migrate(database) => database,
        other => panic!("not migrate: {other:?}"),
    }
}

/// A cluster: its directory, port and binaries.
pub(crate) struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

/// Settings every test cluster gets: loopback only, a private socket directory, and durability
/// traded for speed (the tests stop servers, they never crash the machine).
fn base_settings(dir: &Path, port: u16) -> Vec<String> {
    vec![
        "listen_addresses = '127.0.0.1'".into(),
        format!("port = {port}"),
        format!("unix_socket_directories = '{}'", dir.display()),
        "max_connections = 100".into(),
        "fsync = off".into(),
        "full_page_writes = off".into(),
        "wal_level = replica".into(),
        "max_wal_senders = 4".into(),
        "hot_standby = on".into(),
    ]
}

impl Cluster {
    /// Runs initdb (trust authentication, loopback replication allowed) without starting.
    pub(crate) fn init() -> Cluster {
        let cluster = Self::empty();
        run(cluster.as_owner(&cluster.bin.join("initdb")).args([
            "-D",
            &cluster.data().display().to_string(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]));
        cluster.configure(&base_settings(&cluster.dir, cluster.port));
        cluster.append(
            "pg_hba.conf",
            "host replication postgres 127.0.0.1/32 trust\n",
        );
        cluster
    }

    /// Runs initdb and starts the server.
    pub(crate) fn start_new() -> Cluster {
        let cluster = Self::init();
        cluster.start();
        cluster
    }

    /// A streaming standby of this running cluster (`pg_basebackup -R`), started.
    pub(crate) fn standby(&self) -> Cluster {
        let standby = Self::empty();
        run(standby
            .as_owner(&standby.bin.join("pg_basebackup"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args([
                "-D",
                &standby.data().display().to_string(),
                "-R",
                "-X",
                "stream",
                // Without it the backup waits for a spread checkpoint: a minute or more.
                "--checkpoint=fast",
                "--no-sync",
            ]));
        standby.configure(&base_settings(&standby.dir, standby.port));
        standby.start();
        standby
    }

    /// A directory and a port, nothing in them yet.
    fn empty() -> Cluster {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "stockd-test-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if running_as_root() {
            run(Command::new("chown").arg("postgres:").arg(&dir));
        }
        Cluster {
            dir,
            port: free_port(),
            bin: pg_bin(),
        }
    }

    /// The loopback port the server listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub(crate) fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A URL for `database` as `postgres` on `host` (e.g. `localhost` or `127.0.0.1`).
    pub(crate) fn url(&self, host: &str, database: &str) -> String {
        format!("postgres://postgres@{host}:{}/{database}", self.port)
    }

    /// Appends settings to postgresql.conf (the last occurrence of a setting wins).
    pub(crate) fn configure(&self, lines: &[String]) {
        self.append("postgresql.conf", &format!("{}\n", lines.join("\n")));
    }

    /// Replaces a file of the data directory, readable by the server only (keys need that).
    pub(crate) fn write(&self, name: &str, contents: &[u8]) {
        let path = self.data().join(name);
        std::fs::write(&path, contents).unwrap();
        run(Command::new("chmod").arg("600").arg(&path));
        if running_as_root() {
            run(Command::new("chown").arg("postgres:").arg(&path));
        }
    }

    fn append(&self, name: &str, text: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join(name))
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    /// Starts the server and waits until it accepts connections.
    pub(crate) fn start(&self) {
        let log = self.dir.join("server.log");
        let started = self
            .pg_ctl()
            .args(["-l", &log.display().to_string(), "-w", "start"])
            .status()
            .unwrap();
        assert!(
            started.success(),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once, as a crash would: no checkpoint, clients cut off.
    pub(crate) fn stop_immediately(&self) {
        run(self.pg_ctl().args(["-m", "immediate", "-w", "stop"]));
    }

    /// Makes a standby the primary, and waits until it is.
    pub(crate) fn promote(&self) {
        run(self.pg_ctl().args(["-w", "promote"]));
    }

    /// Runs SQL as `postgres` through the cluster's socket, and returns what psql printed.
    pub(crate) fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "postgres"])
            .args(["-h", &self.dir.display().to_string()])
            .args(["-p", &self.port.to_string(), "-d", database, "-c", sql])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// What the server logged so far, for failure messages.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn pg_ctl(&self) -> Command {
        let mut command = self.as_owner(&self.bin.join("pg_ctl"));
        command.arg("-D").arg(self.data());
        command
    }

    fn as_owner(&self, program: &Path) -> Command {
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self
                .pg_ctl()
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command to completion; a failure fails the test with what it printed.
fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}

/// PGBIN, else the newest installed PostgreSQL's binaries.
fn pg_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PGBIN") {
        return bin.into();
    }
    let mut installed: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.flatten().map(|d| d.path().join("bin")).collect())
        .unwrap_or_default();
    installed.retain(|bin| bin.join("initdb").exists());
    installed.sort();
    installed
        .pop()
        .expect("no PostgreSQL binaries: install postgresql-15 or set PGBIN")
}
