//! Durability: the real binary is SIGKILLed while many sites deliver. After a restart, every
//! report for which a receipt was issued is stored byte for byte with that receipt, and
//! resubmitting them returns the same receipts (`duplicate: true`) and adds nothing.
//! Finally SIGTERM stops the coordinator cleanly (exit status 0). The same on both stores:
//! SQLite, and PostgreSQL (a real server started by the test harness).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quietcount_coordinator::config::files;
use quietcount_coordinator::testing::{
    Backend, SiteClient, TestSite, coordinator_on, enroll, spawn_run,
};
use quietcount_coordinator::{Clock, Coordinator, SystemClock};
use quietcount_protocol::wire::Response;
use quietcount_protocol::{Period, PeriodType, Sha256Hash};

/// An envelope and the receipt bytes its site holds for it.
type Receipted = (Vec<u8>, Vec<u8>);

const SITES: usize = 16;
const REVISIONS: u32 = 12;

/// Starts `run` on `listen` (port 0: any free port) and returns it with the address it bound.
fn start(dir: &Path, listen: SocketAddr) -> (Child, SocketAddr) {
    spawn_run(
        Path::new(env!("CARGO_BIN_EXE_quietcount-coordinator")),
        dir,
        listen,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipted_reports_survive_sigkill_and_resubmission_is_idempotent() {
    sigkill_durability(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipted_reports_survive_sigkill_on_postgresql() {
    sigkill_durability(Backend::Postgres).await;
}

async fn sigkill_durability(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    let now = SystemClock.now();
    let period = Period::latest_closed(PeriodType::Month, now).unwrap();
    let fingerprint;
    let mut sites = Vec::new();
    {
        let Some(coordinator) = coordinator_on(&dir, backend).await.unwrap() else {
            return; // PostgreSQL not installed (outside CI): the harness said so.
        };
        fingerprint = coordinator.identity.fingerprint();
        for i in 0..SITES {
            let site = TestSite::new(&format!("durable-{i:02}")).unwrap();
            enroll(&coordinator, &site, now - 60).await.unwrap();
            sites.push(site);
        }
        coordinator.store.close().await;
    }

    let (mut child, addr) = start(&dir, SocketAddr::from(([127, 0, 0, 1], 0)));
    // (envelope, receipt) pairs the sites hold.
    let receipted: Arc<Mutex<Vec<Receipted>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let site = site.clone();
        let receipted = receipted.clone();
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(client) = SiteClient::connect(&site.identity, fingerprint, addr).await else {
                return;
            };
            let mut previous: Option<Sha256Hash> = None;
            for revision in 1..=REVISIONS {
                let seed = (i as u64) * 1000 + u64::from(revision);
                let envelope = site
                    .signed_report(period, revision, previous, seed)
                    .unwrap();
                // A dead coordinator is noticed by timeout rather than the idle timeout.
                let submitted =
                    tokio::time::timeout(Duration::from_secs(5), client.submit(&envelope)).await;
                let Ok(submitted) = submitted else { return };
                match submitted {
                    Ok(Response::Accepted { receipt, .. }) => {
                        previous = Some(Sha256Hash::of(&envelope));
                        receipted.lock().unwrap().push((envelope, receipt.0));
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(other) => panic!("unexpected response {other:?}"),
                    Err(_) => return, // the coordinator died
                }
            }
        }));
    }
    // Kill mid-way: once a good number of receipts are out, but well before all.
    let started = Instant::now();
    while count.load(Ordering::SeqCst) < SITES * REVISIONS as usize / 4 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "deliveries too slow"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let receipted = std::mem::take(&mut *receipted.lock().unwrap());
    assert!(
        receipted.len() < SITES * REVISIONS as usize,
        "the kill came too late to prove anything"
    );
    // The restart listens where the sites know it is, as a restarted service would.
    let (mut child, restarted) = start(&dir, addr);
    assert_eq!(restarted, addr);
    let store = Coordinator::open(&dir).await.unwrap().store;
    assert_eq!(
        store.backend(),
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    for (envelope, receipt) in &receipted {
        let stored = store
            .report_by_hash(&Sha256Hash::of(envelope))
            .await
            .unwrap()
            .expect("a receipted report is stored");
        assert_eq!(&stored.envelope, envelope, "stored byte for byte");
        assert_eq!(&stored.receipt, receipt, "with the receipt that was issued");
    }
    let stored_before = store.report_count().await.unwrap();
    let digest_before = store.digest().await.unwrap();

    // Resubmissions after the restart: the same receipts, nothing added.
    for site in &sites {
        let client = SiteClient::connect(&site.identity, fingerprint, addr)
            .await
            .unwrap();
        for (envelope, receipt) in &receipted {
            let opened = quietcount_protocol::envelope::claimed_signer(envelope).unwrap();
            if opened != site.identity.fingerprint() {
                continue;
            }
            match client.submit(envelope).await.unwrap() {
                Response::Accepted {
                    receipt: again,
                    duplicate,
                    ..
                } => {
                    assert!(duplicate);
                    assert_eq!(&again.0, receipt);
                }
                other => panic!("resubmission refused: {other:?}"),
            }
        }
        client.close().await;
    }
    assert_eq!(store.report_count().await.unwrap(), stored_before);
    assert_eq!(store.digest().await.unwrap(), digest_before);
    store.close().await;
    // SIGTERM: clean shutdown, exit status 0.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?} after SIGTERM");
            assert!(
                !dir.join(files::LISTEN_ADDRESS).exists(),
                "a clean exit removes the listen-address file"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
