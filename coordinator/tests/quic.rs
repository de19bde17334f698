//! Over real QUIC on loopback: concurrent sites, handshake refusal of unknown and revoked keys,
//! refusals carried back to the site, and a stalled stream that cannot block others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use quietcount_coordinator::Coordinator;
use quietcount_coordinator::testing::{
    RunningServer, SiteClient, TestSite, coordinator_in, enroll,
};
use quietcount_protocol::wire::{MAX_FRAME_BYTES, RefusalCode, Response};
use quietcount_protocol::{Period, Receipt, open};

struct Setup {
    _dir: tempfile::TempDir,
    coordinator: Coordinator,
    period: Period,
    now: u64,
}

async fn setup(stream_timeout_secs: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut coordinator = coordinator_in(&dir.path().join("coord")).await.unwrap();
    coordinator.config.limits.stream_timeout_secs = stream_timeout_secs;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sites_deliver_concurrently() {
    let s = setup(10).await;
    let mut sites = Vec::new();
    for i in 0..6 {
        sites.push(site(&s, &format!("site-{i}")).await);
    }
    let server = RunningServer::start(&s.coordinator, s.now).await.unwrap();
    let mut tasks = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let site = site.clone();
        let (fingerprint, addr, period) = (server.fingerprint, server.addr, s.period);
        tasks.push(tokio::spawn(async move {
            let client = SiteClient::connect(&site.identity, fingerprint, addr)
                .await
                .unwrap();
            let envelope = site.signed_report(period, 1, None, i as u64).unwrap();
            let response = client.submit(&envelope).await.unwrap();
            client.close().await;
            (site.id, response)
        }));
    }
    let mut sequences = Vec::new();
    for task in tasks {
        let (id, response) = task.await.unwrap();
        let receipt = assert_accepted(&s, &response);
        assert_eq!(receipt.site, id);
        sequences.push(receipt.sequence);
    }
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(sequences.len(), 6, "distinct sequence numbers");
    assert_eq!(s.coordinator.store.report_count().await.unwrap(), 6);
    let status = s.coordinator.status(s.period, None).await.unwrap();
    assert_eq!(
        (status.expected, status.reported, status.on_time),
        (6, 6, 6)
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_revoked_keys_are_refused_at_the_handshake() {
    let s = setup(10).await;
    let good = site(&s, "good").await;
    let revoked = site(&s, "revoked").await;
    s.coordinator
        .revoke(
            &revoked.id,
            quietcount_protocol::KeyEndReason::Compromised,
            None,
            s.period.start() + 1,
        )
        .await
        .unwrap();
    let stranger = TestSite::new("stranger").unwrap();
    let server = RunningServer::start(&s.coordinator, s.now).await.unwrap();
    let before = s.coordinator.store.digest().await.unwrap();
    for refused in [&stranger, &revoked] {
        // In TLS 1.3 the client may think it is connected; no receipt ever comes back.
        let outcome = async {
            let client =
                SiteClient::connect(&refused.identity, server.fingerprint, server.addr).await?;
            let envelope = refused.signed_report(s.period, 1, None, 1)?;
            client.submit(&envelope).await
        }
        .await;
        assert!(
            outcome.is_err(),
            "{} should be refused at the handshake, got {outcome:?}",
            refused.id
        );
    }
    assert_eq!(s.coordinator.store.digest().await.unwrap(), before);

    // A key revoked while its site is connected is refused at the next report.
    let client = SiteClient::connect(&good.identity, server.fingerprint, server.addr)
        .await
        .unwrap();
    let envelope = good.signed_report(s.period, 1, None, 1).unwrap();
    s.coordinator
        .revoke(
            &good.id,
            quietcount_protocol::KeyEndReason::Compromised,
            None,
            s.now - 1,
        )
        .await
        .unwrap();
    let before = s.coordinator.store.digest().await.unwrap();
    match client.submit(&envelope).await.unwrap() {
        Response::Refused { code, .. } => assert_eq!(code, RefusalCode::Revoked),
        other => panic!("expected revoked, got {other:?}"),
    }
    assert_eq!(s.coordinator.store.digest().await.unwrap(), before);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_travel_back_and_the_server_keeps_serving() {
    let s = setup(10).await;
    let a = site(&s, "site-a").await;
    let b = site(&s, "site-b").await;
    let server = RunningServer::start(&s.coordinator, s.now).await.unwrap();
    let client = SiteClient::connect(&a.identity, server.fingerprint, server.addr)
        .await
        .unwrap();
    let before = s.coordinator.store.digest().await.unwrap();
    let refused = |response: Response| match response {
        Response::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        refused(client.send_frame(b"garbage").await.unwrap()),
        RefusalCode::Malformed
    );
    assert_eq!(
        refused(
            client
                .send_frame(&vec![7u8; MAX_FRAME_BYTES + 10])
                .await
                .unwrap()
        ),
        RefusalCode::TooLarge
    );
    let by_b = b.signed_report(s.period, 1, None, 1).unwrap();
    assert_eq!(
        refused(client.submit(&by_b).await.unwrap()),
        RefusalCode::BadSignature
    );
    let future = a
        .signed_report(Period::parse("2026-11").unwrap(), 1, None, 1)
        .unwrap();
    assert_eq!(
        refused(client.submit(&future).await.unwrap()),
        RefusalCode::PeriodNotOver
    );
    assert_eq!(s.coordinator.store.digest().await.unwrap(), before);
    // Same connection, a good report.
    let good = a.signed_report(s.period, 1, None, 1).unwrap();
    assert_accepted(&s, &client.submit(&good).await.unwrap());
    // And a duplicate returns the same receipt.
    let first = client.submit(&good).await.unwrap();
    let again = client.submit(&good).await.unwrap();
    assert_eq!(first, again);
    assert!(matches!(
        again,
        Response::Accepted {
            duplicate: true,
            ..
        }
    ));
    client.close().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_times_out_without_blocking_a_good_site() {
    let s = setup(1).await;
    let slow = site(&s, "slow").await;
    let good = site(&s, "good").await;
    let server = RunningServer::start(&s.coordinator, s.now).await.unwrap();
    let hostile = SiteClient::connect(&slow.identity, server.fingerprint, server.addr)
        .await
        .unwrap();
    // Fill every stream the connection may open with a request that never finishes.
    let limit = s.coordinator.config.limits.max_streams_per_connection;
    let mut stalled = Vec::new();
    for _ in 0..limit {
        stalled.push(hostile.open_idle_stream().await.unwrap());
    }
    // A good site is served meanwhile, well before the stalled streams time out.
    let started = Instant::now();
    let client = SiteClient::connect(&good.identity, server.fingerprint, server.addr)
        .await
        .unwrap();
    let envelope = good.signed_report(s.period, 1, None, 1).unwrap();
    assert_accepted(&s, &client.submit(&envelope).await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(5));

    // The stalled streams are dropped by the server after the stream timeout.
    for (_send, mut recv) in stalled {
        let outcome = tokio::time::timeout(Duration::from_secs(10), recv.read_to_end(1024))
            .await
            .expect("the server must end a stalled stream");
        assert!(outcome.is_err(), "a stalled stream gets no response");
    }
    // Its streams freed, the slow site can still deliver on the same connection.
    let envelope = slow.signed_report(s.period, 1, None, 2).unwrap();
    assert_accepted(&s, &hostile.submit(&envelope).await.unwrap());
    assert_eq!(s.coordinator.store.report_count().await.unwrap(), 2);
    client.close().await;
    hostile.close().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused() {
    let mut s = setup(10).await;
    s.coordinator.config.limits.max_connections = 1;
    let first = site(&s, "first").await;
    let second = site(&s, "second").await;
    let server = RunningServer::start(&s.coordinator, s.now).await.unwrap();
    let held = SiteClient::connect(&first.identity, server.fingerprint, server.addr)
        .await
        .unwrap();
    // Make sure the server has taken the first connection before trying the second.
    let envelope = first.signed_report(s.period, 1, None, 1).unwrap();
    assert_accepted(&s, &held.submit(&envelope).await.unwrap());
    let refused = async {
        let client = SiteClient::connect(&second.identity, server.fingerprint, server.addr).await?;
        let envelope = second.signed_report(s.period, 1, None, 2)?;
        client.submit(&envelope).await
    }
    .await;
    assert!(refused.is_err(), "over the cap: {refused:?}");
    // Once the first site leaves, the second gets in: as soon as the server has seen the close
    // and freed the slot, so the second site tries until then (a few seconds at most).
    held.close().await;
    let envelope = second.signed_report(s.period, 1, None, 2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = loop {
        let attempt = async {
            let client =
                SiteClient::connect(&second.identity, server.fingerprint, server.addr).await?;
            let response = client.submit(&envelope).await?;
            anyhow::Ok((client, response))
        }
        .await;
        match attempt {
            Ok((client, response)) => {
                assert_accepted(&s, &response);
                break client;
            }
            Err(error) => assert!(
                Instant::now() < deadline,
                "the freed slot was never given to the second site: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // poll interval, not a wait for time
    };
    client.close().await;
    server.stop().await.unwrap();
}
