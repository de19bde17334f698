//! The coordinator under attack, over real QUIC on 127.0.0.1: a flood of handshakes that never
//! present a certificate, and one site opening more connections than its share, while
//! enrolled sites deliver. Every loop is bounded in count and time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use quietcount_coordinator::Coordinator;
use quietcount_coordinator::testing::{
    RunningServer, SiteClient, TestSite, coordinator_in, enroll,
};
use quietcount_keys::Identity;
use quietcount_protocol::wire::Response;
use quietcount_protocol::{Period, Receipt, open};
use quietcount_service::tls;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

struct Setup {
    _dir: tempfile::TempDir,
    coordinator: Coordinator,
    period: Period,
    now: u64,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&dir.path().join("coord")).await.unwrap();
    let period = Period::parse("2026-10").unwrap();
    Setup {
        _dir: dir,
        coordinator,
        period,
        now: period.end() + 86_400,
    }
}

async fn site(setup: &Setup, id: &str) -> TestSite {
    let site = TestSite::new(id).unwrap();
    enroll(&setup.coordinator, &site, setup.period.start())
        .await
        .unwrap();
    site
}

fn assert_accepted(setup: &Setup, response: &Response) -> Receipt {
    match response {
        Response::Accepted { receipt, .. } => {
            open::<Receipt>(&receipt.0, &setup.coordinator.identity.verifying_key())
                .unwrap()
                .payload
        }
        other => panic!("expected acceptance, got {other:?}"),
    }
}

/// What the flood did, counted as it ran.
#[derive(Debug, Default)]
struct FloodCounts {
    /// Handshakes started (each from one of the flood's source ports).
    started: AtomicUsize,
    /// Handshakes the server took up (it sent its certificate) and the flood then left hanging.
    left_hanging: AtomicUsize,
    /// Datagrams sent.
    datagrams: AtomicUsize,
}

/// Half-open handshakes, driven with the QUIC state machine (`quinn-proto`) over `sockets`
/// plain UDP sockets (so from as many source ports): `per_second` new handshakes a second, each
/// answering a Retry like a real client would (so address validation alone does not stop it),
/// then falling silent as soon as the server has sent its certificate, never presenting its
/// own. Runs until `stop` is set or `limit` has passed.
async fn flood(
    server: SocketAddr,
    coordinator_key: quietcount_protocol::Fingerprint,
    sockets: usize,
    per_second: u32,
    limit: Duration,
    stop: Arc<AtomicBool>,
    counts: Arc<FloodCounts>,
) {
    /// A datagram whose first packet is a Retry (long header, type 3).
    fn is_retry(datagram: &[u8]) -> bool {
        datagram
            .first()
            .is_some_and(|&b| b & 0x80 != 0 && (b >> 4) & 0x03 == 0x03)
    }
    struct HalfOpen {
        connection: quinn_proto::Connection,
        socket: usize,
        started: Instant,
        silent: bool,
    }
    let mut endpoint = quinn_proto::Endpoint::new(
        Arc::new(quinn_proto::EndpointConfig::default()),
        None,
        false,
        None,
    );
    // The client key is never shown to the server: the flood falls silent before that.
    let client_config = tls::client_config(&Identity::generate(), &[coordinator_key]).unwrap();
    let (datagrams_tx, mut datagrams_rx) = mpsc::channel::<(Vec<u8>, SocketAddr)>(4096);
    let mut udp = Vec::new();
    for _ in 0..sockets {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let receiving = socket.clone();
        let forward = datagrams_tx.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 65_536];
            while let Ok((n, from)) = receiving.recv_from(&mut buffer).await {
                if forward.send((buffer[..n].to_vec(), from)).await.is_err() {
                    break;
                }
            }
        });
        udp.push(socket);
    }
    drop(datagrams_tx);
    let mut half_open: HashMap<quinn_proto::ConnectionHandle, HalfOpen> = HashMap::new();
    let mut out = Vec::new();
    let begun = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (per_second / 100).max(1);
    let mut next_socket = 0;
    while !stop.load(Ordering::Relaxed) && begun.elapsed() < limit {
        let now = Instant::now();
        let mut touched = Vec::new();
        tokio::select! {
            _ = tick.tick() => {
                for _ in 0..per_tick {
                    let Ok((handle, connection)) =
                        endpoint.connect(now, client_config.clone(), server, tls::SERVER_NAME)
                    else {
                        continue;
                    };
                    counts.started.fetch_add(1, Ordering::Relaxed);
                    half_open.insert(handle, HalfOpen { connection, socket: next_socket, started: now, silent: false });
                    next_socket = (next_socket + 1) % sockets;
                    touched.push(handle);
                }
                // Forget the flood's own state of old handshakes (the server's is its business).
                let old: Vec<_> = half_open
                    .iter()
                    .filter(|(_, h)| h.started.elapsed() > Duration::from_secs(8))
                    .map(|(handle, _)| *handle)
                    .collect();
                for handle in old {
                    half_open.remove(&handle);
                    endpoint.handle_event(handle, quinn_proto::EndpointEvent::drained());
                }
            }
            received = datagrams_rx.recv() => {
                let Some((datagram, from)) = received else { break };
                let retry = is_retry(&datagram);
                let mut response = Vec::new();
                if let Some(quinn_proto::DatagramEvent::ConnectionEvent(handle, event)) =
                    endpoint.handle(now, from, None, None, BytesMut::from(&datagram[..]), &mut response)
                {
                    if let Some(h) = half_open.get_mut(&handle) {
                        h.connection.handle_event(event);
                        if !retry && !h.silent {
                            h.silent = true;
                            counts.left_hanging.fetch_add(1, Ordering::Relaxed);
                        }
                        touched.push(handle);
                    }
                }
            }
        }
        for handle in touched {
            let Some(h) = half_open.get_mut(&handle) else {
                continue;
            };
            while let Some(event) = h.connection.poll_endpoint_events() {
                if let Some(event) = endpoint.handle_event(handle, event) {
                    h.connection.handle_event(event);
                }
            }
            while let Some(transmit) = h.connection.poll_transmit(now, 1, &mut out) {
                if !h.silent {
                    let _ = udp[h.socket]
                        .send_to(&out[..transmit.size], transmit.destination)
                        .await;
                    counts.datagrams.fetch_add(1, Ordering::Relaxed);
                }
                out.clear();
            }
        }
    }
}

/// 300 half-open handshakes a second from 64 source ports of 127.0.0.1 (the sites' own
/// address, so the per-address cap shelters nobody), each answering Retry and then stalling
/// with the server's certificate in hand, while 4 enrolled sites deliver 3 reports each. The
/// bound: every report delivered within 20 s of its first attempt and in at most 5 attempts
/// (measured: see README).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_flood_does_not_keep_enrolled_sites_out() {
    const BOUND: Duration = Duration::from_secs(20);
    const MAX_ATTEMPTS: u32 = 5;
    let s = setup().await;
    let limits = s.coordinator.config.limits;
    let mut sites = Vec::new();
    for i in 0..4 {
        sites.push(site(&s, &format!("site-{i}")).await);
    }
    let server = RunningServer::start(&s.coordinator, s.now).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(FloodCounts::default());
    let flooding = tokio::spawn(flood(
        server.addr,
        server.fingerprint,
        64,
        300,
        Duration::from_secs(90),
        stop.clone(),
        counts.clone(),
    ));
    // Let the flood fill every place for handshakes in progress first.
    let filled = Instant::now();
    while counts.left_hanging.load(Ordering::Relaxed) < 2 * limits.max_pending_handshakes {
        assert!(
            filled.elapsed() < Duration::from_secs(30),
            "the flood never got going: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // poll interval
    }

    let flood_began = Instant::now();
    let mut deliveries = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let site = site.clone();
        let period = s.period;
        let server = ServerAddress(server.addr, server.fingerprint);
        deliveries.push(tokio::spawn(async move {
            // Three revisions of one month, each superseding the one before.
            let mut times = Vec::new();
            let mut previous: Option<Vec<u8>> = None;
            for revision in 1..=3u32 {
                let supersedes = previous
                    .as_ref()
                    .map(|p| quietcount_protocol::Sha256Hash::of(p));
                let envelope = site
                    .signed_report(
                        period,
                        revision,
                        supersedes,
                        (i * 10) as u64 + u64::from(revision),
                    )
                    .unwrap();
                times.push(server.deliver(&site, &envelope, BOUND).await);
                previous = Some(envelope);
            }
            times
        }));
    }
    let mut slowest = Duration::ZERO;
    let mut most_attempts = 0;
    let mut attempts_total = 0;
    let mut accepted = 0;
    for delivery in deliveries {
        for (took, attempts, response) in delivery.await.unwrap() {
            assert_accepted(&s, &response);
            accepted += 1;
            slowest = slowest.max(took);
            attempts_total += attempts;
            most_attempts = most_attempts.max(attempts);
        }
    }
    let flood_time = flood_began.elapsed();
    stop.store(true, Ordering::Relaxed);
    flooding.await.unwrap();
    eprintln!(
        "flood: {} handshakes started, {} left hanging with the server's certificate, {} \
         datagrams in {:.1} s; {accepted} reports delivered in {attempts_total} attempts (at most \
         {most_attempts} for one), the slowest in {:.2} s",
        counts.started.load(Ordering::Relaxed),
        counts.left_hanging.load(Ordering::Relaxed),
        counts.datagrams.load(Ordering::Relaxed),
        flood_time.as_secs_f64(),
        slowest.as_secs_f64()
    );
    assert_eq!(accepted, 12);
    assert!(slowest < BOUND, "slowest delivery {slowest:?}");
    // A node does not retry at once but minutes later: a report must not need many attempts.
    assert!(
        most_attempts <= MAX_ATTEMPTS,
        "a report needed {most_attempts} attempts"
    );
    assert_eq!(s.coordinator.store.report_count().await.unwrap(), 12);
    server.stop().await.unwrap();
}

/// A running server's address and key, which a spawned delivery task can own.
#[derive(Debug, Clone, Copy)]
struct ServerAddress(SocketAddr, quietcount_protocol::Fingerprint);

impl ServerAddress {
    /// One delivery as a node makes it (connect, submit, close), tried again until accepted or
    /// `deadline`: how long it took, how many attempts, and the response.
    async fn deliver(
        &self,
        site: &TestSite,
        envelope: &[u8],
        deadline: Duration,
    ) -> (Duration, u32, Response) {
        let begun = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = async {
                let client = SiteClient::connect(&site.identity, self.1, self.0);
                let client = tokio::time::timeout(Duration::from_secs(5), client).await??;
                let response = client.submit(envelope).await?;
                client.close().await;
                anyhow::Ok(response)
            }
            .await;
            match attempt {
                Ok(response) => return (begun.elapsed(), attempts, response),
                Err(error) => assert!(
                    begun.elapsed() < deadline,
                    "{} not delivered within {deadline:?} ({attempts} attempts): {error}",
                    site.id
                ),
            }
        }
    }
}

/// One site opens 10 connections with its key; only its share (2) stays open, the older ones
/// closed by the server, and with the server's total cap at 4 another site still delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_opening_connections_beyond_its_share_cannot_keep_another_out() {
    let mut s = setup().await;
    s.coordinator.config.limits.max_connections = 4;
    let per_site = s.coordinator.config.limits.max_connections_per_site;
    assert_eq!(per_site, 2, "the default share");
    let greedy = site(&s, "greedy").await;
    let other = site(&s, "other").await;
    let server = RunningServer::start(&s.coordinator, s.now).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..10 {
        let client = SiteClient::connect(&greedy.identity, server.fingerprint, server.addr)
            .await
            .unwrap();
        // A request makes sure the server has taken (and counted) the connection.
        let response = client.send_frame(b"not a request").await;
        held.push((client, response.is_ok()));
    }
    // The server closes the older ones (at once; the close takes a moment to arrive).
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        let open = held
            .iter()
            .filter(|(client, _)| client.connection().close_reason().is_none())
            .count();
        if open <= per_site || Instant::now() > deadline {
            break open;
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // poll interval
    };
    assert_eq!(open, per_site, "connections left open to the greedy site");
    for (client, _) in &held[..held.len() - per_site] {
        let reason = client.connection().close_reason();
        assert!(
            matches!(&reason, Some(quinn_proto::ConnectionError::ApplicationClosed(close))
                if close.error_code == quinn_proto::VarInt::from_u32(4)),
            "{reason:?}"
        );
    }
    // The newest connection still serves the greedy site.
    let envelope = greedy.signed_report(s.period, 1, None, 1).unwrap();
    let newest = &held.last().unwrap().0;
    assert_accepted(&s, &newest.submit(&envelope).await.unwrap());
    // Another site gets in and delivers.
    let client = SiteClient::connect(&other.identity, server.fingerprint, server.addr)
        .await
        .unwrap();
    let envelope = other.signed_report(s.period, 1, None, 2).unwrap();
    assert_accepted(&s, &client.submit(&envelope).await.unwrap());
    client.close().await;
    for (client, _) in held {
        client.close().await;
    }
    server.stop().await.unwrap();
}
