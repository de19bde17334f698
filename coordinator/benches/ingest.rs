//! Ingest throughput over loopback QUIC with 50 concurrent sites, on each store backend
//! (SQLite, then PostgreSQL on a server the test harness starts), against the raw Ed25519
//! verification rate of the same machine measured in the same run.
//!
//! Run with `cargo bench -p quietcount-coordinator --features test-util --bench ingest`.
//! Prints figures; no statistics framework, one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use quietcount_coordinator::testing::{
    Backend, RunningServer, SiteClient, TestSite, coordinator_on, enroll,
};
use quietcount_protocol::wire::Response;
use quietcount_protocol::{Period, Sha256Hash};

const SITES: usize = 50;
const REPORTS_PER_SITE: u32 = 20;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rates = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        match runtime.block_on(bench(backend)) {
            Some(rate) => rates.push((backend, rate)),
            None => println!("{backend:?}: skipped (PostgreSQL not installed)"),
        }
    }
    if let [(_, sqlite), (_, postgres)] = rates.as_slice() {
        println!("ratio PostgreSQL / SQLite:     {:.3}", postgres / sqlite);
    }
}

/// Runs the benchmark on `backend`; its ingest rate in reports per second.
async fn bench(backend: Backend) -> Option<f64> {
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_on(&root.path().join("coord"), backend)
        .await
        .unwrap()?;
    println!("--- store: {backend:?}");
    let period = Period::parse("2026-10").unwrap();
    let now = period.end() + 86_400;

    // Sites and their signed revision chains, prepared before timing.
    let mut sites = Vec::new();
    for i in 0..SITES {
        let site = TestSite::new(&format!("bench-{i:02}")).unwrap();
        enroll(&coordinator, &site, period.start()).await.unwrap();
        let mut chain = Vec::new();
        let mut previous = None;
        for revision in 1..=REPORTS_PER_SITE {
            let envelope = site
                .signed_report(
                    period,
                    revision,
                    previous,
                    (i as u64) << 32 | u64::from(revision),
                )
                .unwrap();
            previous = Some(Sha256Hash::of(&envelope));
            chain.push(envelope);
        }
        sites.push((site, chain));
    }
    let envelope_bytes = sites[0].1[0].len();
    let total = SITES * REPORTS_PER_SITE as usize;

    // Raw Ed25519 verification of a message the size of an envelope, one core.
    let raw_rate = raw_verify_rate(envelope_bytes, Duration::from_secs(2));

    let server = RunningServer::start(&coordinator, now).await.unwrap();
    // Connect every site first: the handshakes are not part of the ingest figure.
    let mut clients = Vec::new();
    for (site, chain) in sites {
        let client = SiteClient::connect(&site.identity, server.fingerprint, server.addr)
            .await
            .unwrap();
        clients.push((client, chain));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (client, chain) in clients {
        tasks.push(tokio::spawn(async move {
            for envelope in &chain {
                match client.submit(envelope).await.unwrap() {
                    Response::Accepted {
                        duplicate: false, ..
                    } => {}
                    other => panic!("{other:?}"),
                }
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    for client in clients {
        client.close().await;
    }
    // Counted before stopping: shutdown closes the store's pool.
    assert_eq!(
        coordinator.store.report_count().await.unwrap(),
        total as u64
    );
    server.stop().await.unwrap();

    let ingest_rate = total as f64 / elapsed.as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("envelope size:                 {envelope_bytes} bytes");
    println!(
        "reports ingested:              {total} ({SITES} concurrent sites x {REPORTS_PER_SITE} revisions)"
    );
    println!(
        "wall time:                     {:.3} s",
        elapsed.as_secs_f64()
    );
    println!("ingest (verified + stored):    {ingest_rate:.0} reports/s");
    println!("raw Ed25519 verify, 1 core:    {raw_rate:.0} verifications/s");
    println!("available cores:               {cores}");
    println!(
        "ratio ingest / raw verify:     {:.4} ({:.2}% of one core's raw verification rate)",
        ingest_rate / raw_rate,
        100.0 * ingest_rate / raw_rate
    );
    Some(ingest_rate)
}

/// Verifications per second of an Ed25519 signature over `size` bytes, on this thread.
fn raw_verify_rate(size: usize, budget: Duration) -> f64 {
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = key.verifying_key();
    let message = vec![0x5a; size];
    let signature = key.sign(&message);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < budget {
        for _ in 0..100 {
            public
                .verify_strict(std::hint::black_box(&message), &signature)
                .unwrap();
        }
        count += 100;
    }
    count as f64 / started.elapsed().as_secs_f64()
}
