//! Helpers for tests and benchmarks (feature `test-util`): coordinators in temporary
//! directories, enrolled test sites, signed reports built by `protocol`'s synthetic report
//! builder ([`SyntheticReport`]), and a minimal QUIC site client using
//! `keys::tls::client_config`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use quietcount_keys::Identity;
use quietcount_keys::tls::{SERVER_NAME, client_config};
use quietcount_protocol::testing::SyntheticReport;
use quietcount_protocol::wire::{Blob, MAX_FRAME_BYTES, Request, Response};
use quietcount_protocol::{
    DisclosurePolicy, EnvelopeHash, Fingerprint, Form, Period, SiteId, sign,
};
use quinn::{Connection, Endpoint, RecvStream, SendStream};

use crate::admin::Coordinator;
use crate::clock::FixedClock;
use crate::server::Server;

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
        .enroll(&site.id, &format!("Site {}", site.id), &path, None, now)
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

/// A minimal site client: one connection, one bidirectional stream per request.
#[derive(Debug)]
pub struct SiteClient {
    endpoint: Endpoint,
    connection: Connection,
}

impl SiteClient {
    /// Connects to the coordinator at `addr`, pinned to `coordinator`.
    pub async fn connect(
        identity: &Identity,
        coordinator: Fingerprint,
        addr: SocketAddr,
    ) -> Result<Self> {
        let mut endpoint = Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        endpoint.set_default_client_config(client_config(identity, &[coordinator])?);
        let connection = endpoint.connect(addr, SERVER_NAME)?.await?;
        Ok(Self {
            endpoint,
            connection,
        })
    }

    /// Delivers an envelope and reads the response.
    pub async fn submit(&self, envelope: &[u8]) -> Result<Response> {
        let frame = Request::Submit {
            envelope: Blob(envelope.to_vec()),
        }
        .encode()?;
        self.send_frame(&frame).await
    }

    /// Sends raw request bytes on a new stream and reads the response.
    pub async fn send_frame(&self, frame: &[u8]) -> Result<Response> {
        let (mut send, mut recv) = self.connection.open_bi().await?;
        // The server may refuse before reading everything; a write error is then expected.
        let written = send.write_all(frame).await;
        let _ = send.finish();
        let bytes = recv.read_to_end(MAX_FRAME_BYTES).await;
        match (bytes, written) {
            (Ok(bytes), _) => Ok(Response::decode(&bytes)?),
            (Err(e), Err(w)) => bail!("stream failed: {e}; write: {w}"),
            (Err(e), Ok(())) => bail!("stream failed: {e}"),
        }
    }

    /// Opens a stream and sends a few bytes without finishing it (a slow or hostile site).
    pub async fn open_idle_stream(&self) -> Result<(SendStream, RecvStream)> {
        let (mut send, recv) = self.connection.open_bi().await?;
        send.write_all(&[0xa1]).await?;
        Ok((send, recv))
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Closes the connection and waits for the endpoint to be idle.
    pub async fn close(self) {
        self.connection.close(0u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }
}
