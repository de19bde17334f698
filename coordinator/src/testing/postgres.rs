//! A real PostgreSQL server for tests, started from the machine's PostgreSQL binaries (Debian's
//! `postgresql` package): `initdb` into a temporary folder with a password login, `postgres` on
//! a free loopback port, one fresh database per test. PostgreSQL refuses to run as root, so when
//! the tests run as root (CI, these machines) the server runs as the `postgres` user the
//! package creates.
//!
//! One server per test process, started on first use. A small watchdog shell stops it and
//! deletes its folder once the test process has exited, however it exits.
//!
//! When the binaries are absent, [`PostgresServer::shared`] gives `None` after printing why, so
//! that tests can skip, except under CI (the `CI` environment variable set), where it is an
//! error: CI installs the package and must run these tests.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// The login the tests use.
const USER: &str = "quietcount";

/// A running PostgreSQL server of this test process.
#[derive(Debug)]
pub struct PostgresServer {
    root: PathBuf,
    port: u16,
    password_file: PathBuf,
    next_database: AtomicU32,
}

static SHARED: OnceLock<std::result::Result<Option<PostgresServer>, String>> = OnceLock::new();

impl PostgresServer {
    /// This process's server, started on first call. `Ok(None)` (with the reason printed)
    /// when PostgreSQL is not installed and `CI` is unset; an error when it cannot start, or
    /// is missing under CI.
    pub fn shared() -> Result<Option<&'static Self>> {
        let started = SHARED.get_or_init(|| match find_binaries() {
            None if std::env::var_os("CI").is_some() => Err(
                "PostgreSQL binaries not found (initdb, postgres, pg_isready); CI must install \
                 Debian's postgresql package"
                    .to_owned(),
            ),
            None => {
                eprintln!(
                    "skipping the PostgreSQL part of this test: PostgreSQL binaries not found \
                     (install Debian's postgresql package)"
                );
                Ok(None)
            }
            Some(bin) => Self::start(&bin).map(Some).map_err(|e| format!("{e:#}")),
        });
        match started {
            Ok(server) => Ok(server.as_ref()),
            Err(e) => Err(anyhow!("{e}")),
        }
    }

    /// The file holding the password of the test login (what `database_password_file` names).
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// The password of the test login.
    pub fn password(&self) -> Result<String> {
        Ok(std::fs::read_to_string(&self.password_file)?
            .trim()
            .to_owned())
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a new empty database and returns its URL (without the password).
    pub async fn new_database(&self) -> Result<String> {
        use sqlx::{ConnectOptions, Connection, Executor};
        let name = format!(
            "qc_{}_{}",
            std::process::id(),
            self.next_database.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(USER)
            .password(&self.password()?)
            .database("postgres")
            .connect()
            .await
            .context("connecting to the test PostgreSQL server")?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .context("creating a test database")?;
        admin.close().await?;
        Ok(self.url(&name))
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    fn start(bin: &Path) -> Result<Self> {
        let owner = server_owner()?;
        let root = tempfile::Builder::new()
            .prefix("quietcount-pg-")
            .tempdir()
            .context("temporary folder for PostgreSQL")?
            .keep();
        let data = root.join("data");
        let password_file = root.join("password");
        let password = hex::encode(rand::random::<[u8; 16]>());
        std::fs::write(&password_file, format!("{password}\n"))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&password_file, Some(uid), Some(gid))?;
        }
        let as_owner = |program: &str| {
            let mut command = Command::new(bin.join(program));
            if let Some((uid, gid)) = owner {
                command.uid(uid).gid(gid);
            }
            command.current_dir(&root);
            command
        };
        let initdb = as_owner("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", password_file.display()))
            .arg("--no-sync")
            .output()
            .context("running initdb")?;
        if !initdb.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr).trim()
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(root.join("postgres.log"))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(root.join("postgres.log"), Some(uid), Some(gid))?;
        }
        let server = as_owner("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", root.display()))
            .args(["-c", "max_connections=300", "-c", "fsync=on"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        // The watchdog: once this test process is gone, stop the server and remove its files.
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -INT {pg} 2>/dev/null; \
             sleep 3; kill -KILL {pg} 2>/dev/null; rm -rf '{root}'",
            me = std::process::id(),
            pg = server.id(),
            root = root.display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the PostgreSQL watchdog")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .status()
                .context("running pg_isready")?;
            if ready.success() {
                break;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(root.join("postgres.log")).unwrap_or_default();
                bail!("PostgreSQL did not start within 60 s: {log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Self {
            root,
            port,
            password_file,
            next_database: AtomicU32::new(0),
        })
    }

    /// The server's folder (data, log, socket).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The folder holding `initdb`, `postgres` and `pg_isready`: `QUIETCOUNT_PG_BINDIR`, else the
/// newest `/usr/lib/postgresql/N/bin` (Debian), else the `PATH`.
fn find_binaries() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "postgres", "pg_isready"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os("QUIETCOUNT_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return complete(&dir).then_some(dir);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    debian.sort();
    if let Some((_, dir)) = debian.pop() {
        return Some(dir);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|dir| complete(dir))
}

/// The user and group the server runs as: `postgres` when this process runs as root (the
/// server refuses root), nobody else's otherwise.
fn server_owner() -> Result<Option<(u32, u32)>> {
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1);
    if me != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    let entry = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .ok_or_else(|| {
            anyhow!("running as root and there is no postgres user to run PostgreSQL as")
        })?;
    let uid = entry[2].parse().context("uid of postgres")?;
    let gid = entry[3].parse().context("gid of postgres")?;
    Ok(Some((uid, gid)))
}
