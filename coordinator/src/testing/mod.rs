//! Helpers for tests and benchmarks (feature `test-util`): coordinators in temporary
//! directories, enrolled test sites, signed reports built by `protocol`'s synthetic report
//! builder ([`SyntheticReport`]), and the site client, a thin wrapper over the one site
//! transport of `quietcount-service`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use quietcount_keys::Identity;
use quietcount_protocol::testing::SyntheticReport;
use quietcount_protocol::wire::{Blob, Request, Response};
use quietcount_protocol::{
    DisclosurePolicy, EnvelopeHash, Fingerprint, Form, Period, SiteId, sign,
};
use quietcount_service::SiteConnection;
use quinn::{Connection, RecvStream, SendStream};

use crate::admin::Coordinator;
use crate::server::Server;
use quietcount_service::clock::FixedClock;

/// Long enough for any loopback handshake, even on a loaded machine; the connection attempt
/// fails on its own (refused handshake) long before.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A test site: its id and identity.
#[derive(Debug, Clone)]
pub struct TestSite {
    /// The site id.
    pub id: SiteId,
    /// Its identity key.
    pub identity: Identity,
}

impl TestSite {
    /// A new site with a fresh key.
    pub fn new(id: &str) -> Result<Self> {
        Ok(Self {
            id: SiteId::new(id).context("site id")?,
            identity: Identity::generate(),
        })
    }

    /// A signed report of the default form for `period`, its counts drawn from `seed` by
    /// [`SyntheticReport`] and suppressed under the default policy.
    pub fn signed_report(
        &self,
        period: Period,
        revision: u32,
        supersedes: Option<EnvelopeHash>,
        seed: u64,
    ) -> Result<Vec<u8>> {
        let form = Form::default_monthly();
        let report = SyntheticReport::new(&form, self.id.clone(), period)
            .revision(revision)
            .supersedes(supersedes)
            .policy(DisclosurePolicy::DEFAULT)
            .seed(seed)
            .build()?;
        Ok(sign(&report, self.identity.signing_key())?)
    }
}

pub mod postgres;

/// Runs `binary` with `args` to completion: whether it succeeded, and its standard output then
/// standard error as one text.
pub fn run_cli<S: AsRef<std::ffi::OsStr>>(binary: &Path, args: &[S]) -> Result<(bool, String)> {
    let output = std::process::Command::new(binary)
        .args(args)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

/// Starts `binary run` for the coordinator in `dir` on `listen` (port 0: any free port), its
/// dashboard on any free loopback port, and returns the child with the address it bound, read
/// back from the file `run` writes once bound. The child's log goes to `run.log` in `dir`
/// (appended to, so a restart keeps what the killed run wrote).
pub fn spawn_run(
    binary: &Path,
    dir: &Path,
    listen: SocketAddr,
) -> Result<(std::process::Child, SocketAddr)> {
    let address_file = dir.join(crate::config::files::LISTEN_ADDRESS);
    // A SIGKILLed run leaves its file behind; only a fresh one says the new run is bound.
    let _ = std::fs::remove_file(&address_file);
    let mut child = std::process::Command::new(binary)
        .arg("run")
        .arg("--dir")
        .arg(dir)
        .arg("--listen")
        .arg(listen.to_string())
        .arg("--dashboard-listen")
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "warn,quietcount_coordinator::server=info")
        .stdout(std::process::Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("run.log"))
                .context("opening run.log")?,
        )
        .spawn()
        .context("starting the coordinator")?;
    let started = std::time::Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&address_file) {
            if let Ok(addr) = text.trim().parse() {
                return Ok((child, addr));
            }
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("coordinator exited before listening: {status}");
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            anyhow::bail!("coordinator did not start listening within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Which store a test coordinator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// A fresh database on this test process's PostgreSQL server.
    Postgres,
}

/// Creates a coordinator in `dir` with its store on `backend` and opens it; `Ok(None)` when
/// `backend` is PostgreSQL and it is not installed (outside CI: see
/// [`postgres::PostgresServer::shared`]).
pub async fn coordinator_on(dir: &Path, backend: Backend) -> Result<Option<Coordinator>> {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let Some(server) = postgres::PostgresServer::shared()? else {
                return Ok(None);
            };
            Some((
                server.new_database().await?,
                Some(server.password_file().to_owned()),
            ))
        }
    };
    Coordinator::init_with(
        dir,
        "Test Province",
        Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        database,
    )
    .await?;
    Ok(Some(Coordinator::open(dir).await?))
}

/// Creates a coordinator in `dir` (which must not exist or be empty) and opens it.
pub async fn coordinator_in(dir: &Path) -> Result<Coordinator> {
    Coordinator::init(
        dir,
        "Test Province",
        Some(SocketAddr::from(([127, 0, 0, 1], 0))),
    )
    .await?;
    Ok(Coordinator::open(dir).await?)
}

/// Enrolls `site` with `coordinator` at time `now`, writing its public key file in the
/// coordinator's directory.
pub async fn enroll(coordinator: &Coordinator, site: &TestSite, now: u64) -> Result<()> {
    let path = coordinator.dir.join(format!("{}.pub", site.id));
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    quietcount_keys::save_public_key(&path, &site.identity.verifying_key())?;
    coordinator
        .enroll(
            &site.id,
            &format!("Site {}", site.id),
            &path,
            None,
            None,
            now,
        )
        .await?;
    Ok(())
}

/// A coordinator server on 127.0.0.1 with a controllable clock, serving in the background.
#[derive(Debug)]
pub struct RunningServer {
    /// Its address.
    pub addr: SocketAddr,
    /// The coordinator's fingerprint, to pin.
    pub fingerprint: Fingerprint,
    /// The clock the server reads.
    pub clock: FixedClock,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), crate::CoordinatorError>>,
}

impl RunningServer {
    /// Binds 127.0.0.1:0 and serves `coordinator` with a clock showing `now`.
    pub async fn start(coordinator: &Coordinator, now: u64) -> Result<Self> {
        let clock = FixedClock::new(now);
        let server = Server::bind(
            coordinator,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Arc::new(clock.clone()),
        )
        .await?;
        let addr = server.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            fingerprint: coordinator.identity.fingerprint(),
            clock,
            shutdown: Some(tx),
            task,
        })
    }

    /// Shuts the server down and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

/// The site client of tests and benches: the one site transport
/// ([`quietcount_service::SiteConnection`]), with `anyhow` errors and no connect timeout to
/// speak of.
#[derive(Debug)]
pub struct SiteClient(SiteConnection);

impl SiteClient {
    /// Connects to the coordinator at `addr`, pinned to `coordinator`.
    pub async fn connect(
        identity: &Identity,
        coordinator: Fingerprint,
        addr: SocketAddr,
    ) -> Result<Self> {
        Ok(Self(
            SiteConnection::connect_addr(addr, identity, &[coordinator], CONNECT_TIMEOUT).await?,
        ))
    }

    /// Delivers an envelope and reads the response.
    pub async fn submit(&self, envelope: &[u8]) -> Result<Response> {
        let request = Request::Submit {
            envelope: Blob(envelope.to_vec()),
        };
        Ok(self.0.request(&request).await?)
    }

    /// Sends raw request bytes on a new stream and reads the response.
    pub async fn send_frame(&self, frame: &[u8]) -> Result<Response> {
        Ok(self.0.send_frame(frame).await?)
    }

    /// Opens a stream and sends a few bytes without finishing it (a slow or hostile site).
    pub async fn open_idle_stream(&self) -> Result<(SendStream, RecvStream)> {
        Ok(self.0.open_idle_stream().await?)
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        self.0.connection()
    }

    /// The shared transport underneath.
    pub fn transport(&self) -> &SiteConnection {
        &self.0
    }

    /// Closes the connection and waits for the endpoint to be idle.
    pub async fn close(self) {
        self.0.close().await;
    }
}
