//! The QUIC server: moves request bytes from authenticated sites to [`Ingest`] and responses
//! back, with every resource bounded.
//!
//! Bounds: handshakes in progress, overall and per source address (the oldest dropped beyond
//! either cap; Retry address validation when more than a few are in progress); handshake
//! time; connections per site key (the oldest closed beyond it) and overall (refused beyond
//! `max_connections`), kept by [`crate::admission`]; bidirectional streams per connection (no
//! unidirectional ones), receive windows sized to one frame, request size
//! ([`MAX_FRAME_BYTES`]), the time a stream may take to deliver its request, idle time; no
//! connection migration. Shutdown stops accepting, lets in-flight requests finish (their
//! transactions commit and their responses are delivered), then closes the endpoint.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use quietcount_protocol::wire::{MAX_FRAME_BYTES, RefusalCode, Response};
use quietcount_protocol::{SiteId, fingerprint_of};
use quietcount_service::tls;
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};
use tokio::sync::{mpsc, oneshot, watch};

use crate::admin::Coordinator;
use crate::admission::{Admission, AdmissionId, ConnectionAdmission, HandshakeAdmission};
use crate::config::{Limits, files};
use crate::directory::EnrolledKeys;
use crate::error::{CoordinatorError, io};
use crate::ingest::Ingest;
use quietcount_service::clock::{Clock, SystemClock};

/// Application close codes.
mod close_code {
    /// Normal close.
    pub const DONE: u32 = 0;
    /// The peer's key is not (or no longer) enrolled.
    pub const NOT_ENROLLED: u32 = 1;
    /// The coordinator is shutting down.
    pub const SHUTDOWN: u32 = 2;
    /// Too many connections.
    pub const BUSY: u32 = 3;
    /// The same site opened a newer connection beyond its share.
    pub const REPLACED: u32 = 4;
}

/// Extra receive window beyond one frame, so that an oversize request is seen as such
/// (and refused) rather than stalled by flow control.
const WINDOW_SLACK: usize = 64 * 1024;

/// How long to wait for a response to be acknowledged before giving up on the stream.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound QUIC server, ready to serve.
#[derive(Debug)]
pub struct Server {
    endpoint: Endpoint,
    ingest: Ingest,
    directory: Arc<EnrolledKeys>,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

/// Runs the coordinator in `dir` until `shutdown` completes.
///
/// Once the endpoint is bound and `shutdown` has been polled once (so that signal handlers it
/// installs on first poll are in place), the bound address is written to
/// [`files::LISTEN_ADDRESS`] in `dir`: with `listen` on port 0, that is how tests and scripts
/// learn the port. The file is removed again when `run` returns.
pub async fn run(
    coordinator: &Coordinator,
    listen: Option<SocketAddr>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CoordinatorError> {
    let dir = coordinator.dir.as_path();
    let listen = listen.unwrap_or(coordinator.config.listen);
    let address_file = dir.join(files::LISTEN_ADDRESS);
    // A file left by a killed run would announce an address nobody listens on.
    remove_if_present(&address_file)?;
    let server = Server::bind(coordinator, listen, Arc::new(SystemClock)).await?;
    let mut shutdown = std::pin::pin!(shutdown);
    let stopped_already =
        std::future::poll_fn(|cx| Poll::Ready(shutdown.as_mut().poll(cx).is_ready())).await;
    if !stopped_already {
        write_atomically(&address_file, &format!("{}\n", server.local_addr()?))?;
    }
    let served = server.serve(shutdown).await;
    remove_if_present(&address_file)?;
    served
}

/// Writes `text` to `path` through a temporary file renamed into place, so that a reader sees
/// either no file or the whole text.
fn write_atomically(path: &Path, text: &str) -> Result<(), CoordinatorError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).map_err(io(&temporary))?;
    std::fs::rename(&temporary, path).map_err(io(path))
}

fn remove_if_present(path: &Path) -> Result<(), CoordinatorError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io(path)(error)),
        _ => Ok(()),
    }
}

impl Server {
    /// Binds the QUIC endpoint on `listen` (port 0 picks a free port).
    pub async fn bind(
        coordinator: &Coordinator,
        listen: SocketAddr,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CoordinatorError> {
        if let Some(warning) = coordinator.clock_warning(clock.now()).await? {
            tracing::error!("{warning}");
        }
        let limits = coordinator.config.limits;
        let directory = Arc::new(EnrolledKeys::default());
        directory.refresh(&coordinator.store).await?;
        let mut server_config = tls::server_config(&coordinator.identity, directory.clone())?;
        server_config.transport_config(Arc::new(transport_config(&limits)?));
        server_config.migration(false);
        // Incoming packets waiting for the accept loop's decision (it decides at once).
        server_config.max_incoming(limits.max_pending_handshakes.max(1).saturating_mul(4));
        let endpoint =
            Endpoint::server(server_config, listen).map_err(io(Path::new(&listen.to_string())))?;
        tracing::info!(
            address = %endpoint.local_addr().map_err(io(Path::new("endpoint")))?,
            province = %coordinator.config.province,
            "coordinator listening"
        );
        Ok(Self {
            endpoint,
            ingest: coordinator.ingest(),
            directory,
            clock,
            limits,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, CoordinatorError> {
        self.endpoint
            .local_addr()
            .map_err(io(Path::new("endpoint")))
    }

    /// Serves until `shutdown` completes, then stops accepting, finishes in-flight requests
    /// and closes the endpoint.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), CoordinatorError> {
        let refresher = self
            .directory
            .clone()
            .spawn_refresher(self.ingest.store().clone());
        let admission = Admitted::new(Admission::new(self.limits.admission()));
        // Every connection task holds a clone of `done_tx`; when all are dropped, all
        // in-flight work has finished.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            let incoming = tokio::select! {
                () = &mut shutdown => break,
                incoming = self.endpoint.accept() => incoming,
            };
            let Some(incoming) = incoming else { break };
            let remote = incoming.remote_address();
            let (full, pending) = {
                let admission = admission.lock();
                (
                    admission.ledger.connections_full(),
                    admission.ledger.pending_handshakes(),
                )
            };
            if full {
                tracing::warn!(%remote, "connection refused: at capacity");
                incoming.refuse();
                continue;
            }
            if !incoming.remote_address_validated()
                && incoming.may_retry()
                && pending >= self.limits.retry_above_pending_handshakes
            {
                // Under load, make the peer prove it owns its address before doing any work.
                if let Err(error) = incoming.retry() {
                    tracing::debug!(%error, "retry failed");
                }
                continue;
            }
            let Some((id, dropped)) = admission.start_handshake(remote) else {
                tracing::warn!(%remote, "connection refused: at capacity");
                incoming.refuse();
                continue;
            };
            let task = ConnectionTask {
                id,
                ingest: self.ingest.clone(),
                clock: self.clock.clone(),
                limits: self.limits,
                admission: admission.clone(),
                stop: stop_rx.clone(),
                _done: done_tx.clone(),
            };
            let admission = admission.clone();
            tokio::spawn(async move {
                let connection = task.handshake(incoming, dropped).await;
                if let Some((connection, site)) = connection {
                    task.serve(connection, site).await;
                }
                admission.forget(id);
            });
        }
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        self.endpoint.set_server_config(None);
        // Handshakes still in progress are abandoned rather than waited for.
        admission.abandon_handshakes();
        let _ = stop_tx.send(true);
        drop(done_tx);
        let _ = done_rx.recv().await;
        refresher.abort();
        self.endpoint
            .close(VarInt::from_u32(close_code::SHUTDOWN), b"shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        self.ingest.store().close().await;
        tracing::info!("coordinator stopped");
        Ok(())
    }
}

fn transport_config(limits: &Limits) -> Result<quinn::TransportConfig, CoordinatorError> {
    let streams = limits.max_streams_per_connection.max(1);
    let stream_window = u32::try_from(MAX_FRAME_BYTES + WINDOW_SLACK).unwrap_or(u32::MAX);
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(streams))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(stream_window))
        .receive_window(VarInt::from_u32(stream_window.saturating_mul(streams)))
        .send_window(u64::from(stream_window) * u64::from(streams))
        .datagram_receive_buffer_size(None)
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(limits.idle_timeout()).map_err(|_| {
                CoordinatorError::Config(crate::config::ConfigError::Invalid {
                    path: "config.toml".into(),
                    message: "idle_timeout_secs is too large".into(),
                })
            })?,
        ));
    Ok(transport)
}

/// The admission ledger with what it takes to act on its decisions: a way to drop each
/// handshake in progress, and each established connection.
#[derive(Debug, Clone)]
struct Admitted(Arc<Mutex<AdmittedState>>);

#[derive(Debug)]
struct AdmittedState {
    ledger: Admission,
    /// Dropping a handshake in progress: its task gives up when this is sent or dropped.
    handshakes: HashMap<AdmissionId, oneshot::Sender<()>>,
    connections: HashMap<AdmissionId, Connection>,
}

impl Admitted {
    fn new(ledger: Admission) -> Self {
        Self(Arc::new(Mutex::new(AdmittedState {
            ledger,
            handshakes: HashMap::new(),
            connections: HashMap::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, AdmittedState> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent maps.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a handshake from `remote`, dropping the older ones the ledger names. Returns
    /// its id and the receiver that tells it to give up, or `None` when every slot is taken.
    fn start_handshake(&self, remote: SocketAddr) -> Option<(AdmissionId, oneshot::Receiver<()>)> {
        let mut state = self.lock();
        let HandshakeAdmission::Admitted { id, dropped } =
            state.ledger.handshake_started(remote.ip())
        else {
            return None;
        };
        for old in dropped {
            // Dropping the sender wakes the handshake task, which abandons its handshake.
            state.handshakes.remove(&old);
        }
        let (give_up, dropped) = oneshot::channel();
        state.handshakes.insert(id, give_up);
        Some((id, dropped))
    }

    /// Handshake `id` completed for `site`: records the connection, closing the site's older
    /// connections beyond its share. `false` if every slot is taken.
    fn establish(&self, id: AdmissionId, site: &SiteId, connection: &Connection) -> bool {
        let mut state = self.lock();
        state.handshakes.remove(&id);
        match state.ledger.connection_established(id, site) {
            ConnectionAdmission::Refused => false,
            ConnectionAdmission::Admitted { replaced } => {
                for old in replaced {
                    if let Some(old) = state.connections.remove(&old) {
                        tracing::info!(site = %site, "closing a site's oldest connection: it opened more than its share");
                        old.close(
                            VarInt::from_u32(close_code::REPLACED),
                            b"replaced by a newer connection of this site",
                        );
                    }
                }
                state.connections.insert(id, connection.clone());
                true
            }
        }
    }

    /// Tells every handshake in progress to give up (at shutdown).
    fn abandon_handshakes(&self) {
        self.lock().handshakes.clear();
    }

    /// Handshake or connection `id` is over.
    fn forget(&self, id: AdmissionId) {
        let mut state = self.lock();
        state.handshakes.remove(&id);
        state.connections.remove(&id);
        state.ledger.handshake_ended(id);
        state.ledger.connection_closed(id);
    }
}

struct ConnectionTask {
    id: AdmissionId,
    admission: Admitted,
    ingest: Ingest,
    clock: Arc<dyn Clock>,
    limits: Limits,
    stop: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
}

impl ConnectionTask {
    /// Completes the handshake within the time limit and checks the peer's key against the
    /// store (not only the snapshot the TLS verifier used).
    ///
    /// Gives up (dropping the handshake) when `dropped` fires: the admission ledger needed the
    /// place for a newer handshake.
    async fn handshake(
        &self,
        incoming: quinn::Incoming,
        dropped: oneshot::Receiver<()>,
    ) -> Option<(Connection, SiteId)> {
        let remote = incoming.remote_address();
        let connecting = match incoming.accept() {
            Ok(connecting) => connecting,
            Err(error) => {
                tracing::debug!(%remote, %error, "incoming connection failed");
                return None;
            }
        };
        let connection = tokio::select! {
            finished = tokio::time::timeout(self.limits.handshake_timeout(), connecting) => {
                match finished {
                    Ok(Ok(connection)) => connection,
                    Ok(Err(error)) => {
                        tracing::info!(%remote, %error, "handshake refused or failed");
                        return None;
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "handshake timed out");
                        return None;
                    }
                }
            }
            _ = dropped => {
                tracing::debug!(%remote, "handshake dropped to make room for newer ones");
                return None;
            }
        };
        let Some(key) = tls::peer_key(&connection) else {
            connection.close(VarInt::from_u32(close_code::NOT_ENROLLED), b"no client key");
            return None;
        };
        match self
            .ingest
            .store()
            .key_by_fingerprint(&fingerprint_of(&key))
            .await
        {
            Ok(Some(record)) if record.is_open() => {
                if !self.admission.establish(self.id, &record.site, &connection) {
                    tracing::warn!(%remote, site = %record.site, "connection refused: at capacity");
                    connection.close(VarInt::from_u32(close_code::BUSY), b"too many connections");
                    return None;
                }
                tracing::debug!(%remote, site = %record.site, "site connected");
                Some((connection, record.site))
            }
            Ok(_) => {
                tracing::info!(%remote, "key not enrolled, retired or revoked: connection closed");
                connection.close(VarInt::from_u32(close_code::NOT_ENROLLED), b"not enrolled");
                None
            }
            Err(error) => {
                tracing::error!(%error, "store failure checking a peer key");
                connection.close(VarInt::from_u32(close_code::BUSY), b"internal error");
                None
            }
        }
    }

    /// Serves streams of one connection until it closes or shutdown begins.
    async fn serve(mut self, connection: Connection, site: SiteId) {
        let mut streams = tokio::task::JoinSet::new();
        loop {
            let accepted = tokio::select! {
                accepted = connection.accept_bi() => accepted,
                _ = self.stop.wait_for(|stop| *stop) => break,
                Some(_) = streams.join_next(), if !streams.is_empty() => continue,
            };
            let (send, recv) = match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::debug!(site = %site, %error, "connection ended");
                    break;
                }
            };
            let ingest = self.ingest.clone();
            let clock = self.clock.clone();
            let site = site.clone();
            let timeout = self.limits.stream_timeout();
            streams.spawn(async move {
                serve_stream(&ingest, clock.as_ref(), &site, send, recv, timeout).await;
            });
        }
        // Let requests already received finish and their responses go out.
        while streams.join_next().await.is_some() {}
        if *self.stop.borrow() {
            connection.close(VarInt::from_u32(close_code::SHUTDOWN), b"shutting down");
        } else {
            connection.close(VarInt::from_u32(close_code::DONE), b"");
        }
    }
}

/// One request, one response.
async fn serve_stream(
    ingest: &Ingest,
    clock: &dyn Clock,
    site: &SiteId,
    mut send: SendStream,
    mut recv: RecvStream,
    timeout: Duration,
) {
    let response = match tokio::time::timeout(timeout, recv.read_to_end(MAX_FRAME_BYTES)).await {
        Err(_) => {
            tracing::info!(site = %site, "stream delivered no complete request in time: dropped");
            let _ = recv.stop(VarInt::from_u32(0));
            let _ = send.reset(VarInt::from_u32(0));
            return;
        }
        Ok(Err(quinn::ReadToEndError::TooLong)) => {
            let _ = recv.stop(VarInt::from_u32(0));
            tracing::warn!(site = %site, code = ?RefusalCode::TooLarge, "report refused: request too large");
            Response::Refused {
                code: RefusalCode::TooLarge,
                message: format!("request over the {MAX_FRAME_BYTES}-byte limit"),
                head: None,
                time: Some(clock.now()),
            }
        }
        Ok(Err(error)) => {
            tracing::debug!(site = %site, %error, "stream failed");
            return;
        }
        Ok(Ok(frame)) => ingest.handle_frame(site, &frame, clock.now()).await,
    };
    let bytes = match response.encode() {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "could not encode a response");
            return;
        }
    };
    if let Err(error) = send.write_all(&bytes).await {
        tracing::debug!(site = %site, %error, "could not send the response");
        return;
    }
    let _ = send.finish();
    // Wait (bounded) until the peer has the response, so a shutdown does not cut it off.
    let _ = tokio::time::timeout(DELIVERY_TIMEOUT, send.stopped()).await;
}
