//! Two coordinator processes on one PostgreSQL database, as a province running a stand-by
//! beside its main coordinator: 50 sites deliver concurrently, each report sent to both
//! processes at once, and some sites send two different envelopes for the same revision, one to
//! each. Nothing is duplicated or lost, no sequence number is issued twice, and of two
//! conflicting envelopes exactly one is stored while the other is kept as evidence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use quietcount_coordinator::config::files;
use quietcount_coordinator::store::FormKey;
use quietcount_coordinator::testing::postgres::PostgresServer;
use quietcount_coordinator::testing::{
    Backend, SiteClient, TestSite, coordinator_on, enroll, run_cli, spawn_run,
};
use quietcount_coordinator::{Clock, Coordinator, SystemClock};
use quietcount_protocol::wire::{RefusalCode, Response};
use quietcount_protocol::{Form, Period, PeriodType, Receipt, Sha256Hash, open};

const SITES: usize = 50;
const REVISIONS: u32 = 3;
/// Every fifth site also sends two conflicting envelopes for revision REVISIONS + 1.
const CONFLICTING_EVERY: usize = 5;

/// What the sites were told: (envelope hash, receipt bytes) for every acceptance, and the
/// refusals of conflicting envelopes.
#[derive(Default)]
struct Outcomes {
    accepted: Vec<(Sha256Hash, Vec<u8>)>,
    envelopes: BTreeMap<Sha256Hash, Vec<u8>>,
    equivocations_refused: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_coordinators_on_one_database_never_duplicate_lose_or_reuse_a_sequence() {
    if PostgresServer::shared().unwrap().is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let main_dir = root.path().join("main");
    let standby_dir = root.path().join("standby");
    let now = SystemClock.now();
    let period = Period::latest_closed(PeriodType::Month, now).unwrap();
    let coordinator = coordinator_on(&main_dir, Backend::Postgres)
        .await
        .unwrap()
        .unwrap();
    let fingerprint = coordinator.identity.fingerprint();
    let mut sites = Vec::new();
    for i in 0..SITES {
        let site = TestSite::new(&format!("site-{i:02}")).unwrap();
        enroll(&coordinator, &site, now - 60).await.unwrap();
        sites.push(site);
    }
    coordinator.store.close().await;
    // The stand-by is a copy of the coordinator's folder: its key and config.toml, which names
    // the same database.
    std::fs::create_dir(&standby_dir).unwrap();
    for file in [files::CONFIG, files::KEY, files::PUBLIC_KEY] {
        std::fs::copy(main_dir.join(file), standby_dir.join(file)).unwrap();
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_quietcount-coordinator"));
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let (mut main, main_addr) = spawn_run(binary, &main_dir, any).unwrap();
    let (mut standby, standby_addr) = spawn_run(binary, &standby_dir, any).unwrap();

    let outcomes: Arc<Mutex<Outcomes>> = Arc::default();
    let mut tasks = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let site = site.clone();
        let outcomes = outcomes.clone();
        tasks.push(tokio::spawn(async move {
            let to_main = SiteClient::connect(&site.identity, fingerprint, main_addr)
                .await
                .unwrap();
            let to_standby = SiteClient::connect(&site.identity, fingerprint, standby_addr)
                .await
                .unwrap();
            let mut previous = None;
            for revision in 1..=REVISIONS {
                let envelope = site
                    .signed_report(
                        period,
                        revision,
                        previous,
                        (i as u64) * 100 + u64::from(revision),
                    )
                    .unwrap();
                let hash = Sha256Hash::of(&envelope);
                // The same envelope to both at once.
                let (a, b) = tokio::join!(to_main.submit(&envelope), to_standby.submit(&envelope));
                let mut outcomes = outcomes.lock().unwrap();
                outcomes.envelopes.insert(hash, envelope.clone());
                for response in [a.unwrap(), b.unwrap()] {
                    match response {
                        Response::Accepted { receipt, .. } => {
                            outcomes.accepted.push((hash, receipt.0));
                        }
                        other => panic!("{} revision {revision}: {other:?}", site.id),
                    }
                }
                previous = Some(hash);
            }
            if i % CONFLICTING_EVERY == 0 {
                // Two different envelopes for the same revision, one to each process at once.
                let revision = REVISIONS + 1;
                let one = site
                    .signed_report(period, revision, previous, 7_000 + i as u64)
                    .unwrap();
                let two = site
                    .signed_report(period, revision, previous, 9_000 + i as u64)
                    .unwrap();
                let (a, b) = tokio::join!(to_main.submit(&one), to_standby.submit(&two));
                let mut outcomes = outcomes.lock().unwrap();
                let mut stored = 0;
                for (envelope, response) in [(&one, a.unwrap()), (&two, b.unwrap())] {
                    match response {
                        Response::Accepted { receipt, .. } => {
                            let hash = Sha256Hash::of(envelope);
                            outcomes.envelopes.insert(hash, envelope.clone());
                            outcomes.accepted.push((hash, receipt.0));
                            stored += 1;
                        }
                        Response::Refused {
                            code: RefusalCode::Equivocation,
                            ..
                        } => outcomes.equivocations_refused += 1,
                        other => panic!("{} conflicting revision: {other:?}", site.id),
                    }
                }
                assert_eq!(
                    stored, 1,
                    "{}: exactly one of two conflicting envelopes",
                    site.id
                );
            }
            to_main.close().await;
            to_standby.close().await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    main.kill().unwrap();
    main.wait().unwrap();
    standby.kill().unwrap();
    standby.wait().unwrap();

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let conflicting_sites = SITES.div_ceil(CONFLICTING_EVERY);
    let expected_reports = SITES * REVISIONS as usize + conflicting_sites;
    assert_eq!(outcomes.equivocations_refused, conflicting_sites);

    // Each envelope got one receipt, whichever process answered; receipts of different
    // envelopes carry different sequence numbers.
    let coordinator = Coordinator::open(&main_dir).await.unwrap();
    let key = coordinator.identity.verifying_key();
    let mut receipt_of: BTreeMap<Sha256Hash, Vec<u8>> = BTreeMap::new();
    for (hash, receipt) in &outcomes.accepted {
        if let Some(earlier) = receipt_of.insert(*hash, receipt.clone()) {
            assert_eq!(&earlier, receipt, "two receipts for one envelope");
        }
    }
    assert_eq!(receipt_of.len(), expected_reports);
    let sequences: BTreeSet<u64> = receipt_of
        .values()
        .map(|bytes| open::<Receipt>(bytes, &key).unwrap().payload.sequence)
        .collect();
    assert_eq!(
        sequences.len(),
        expected_reports,
        "a sequence number issued twice"
    );

    // Nothing lost, nothing duplicated: the store holds exactly the receipted envelopes, byte
    // for byte with their receipts.
    let store = &coordinator.store;
    assert_eq!(store.report_count().await.unwrap(), expected_reports as u64);
    for (hash, receipt) in &receipt_of {
        let stored = store.report_by_hash(hash).await.unwrap().expect("stored");
        assert_eq!(&stored.envelope, &outcomes.envelopes[hash]);
        assert_eq!(&stored.receipt, receipt);
    }
    let form = FormKey::of(&Form::default_monthly());
    assert_eq!(
        store.equivocations(&form, period).await.unwrap().len(),
        conflicting_sites,
        "the refused conflicting envelope of each slot is kept as evidence"
    );
    store.close().await;
}

fn coordinator_cli(args: &[&str]) -> (bool, String) {
    run_cli(
        Path::new(env!("CARGO_BIN_EXE_quietcount-coordinator")),
        args,
    )
    .unwrap()
}

/// `init --database`: a password in the URL is refused without being echoed, a database that
/// already holds a store is refused with what to do for a stand-by, and neither leaves a
/// half-made folder; `--database` on another command uses that database.
#[tokio::test]
async fn init_on_postgresql_refuses_passwords_in_urls_and_databases_in_use() {
    let Some(server) = PostgresServer::shared().unwrap() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    let dir_text = dir.to_str().unwrap();
    let url = server.new_database().await.unwrap();
    let secret = server.password().unwrap();
    let with_password = url.replacen("quietcount@", &format!("quietcount:{secret}@"), 1);
    let (ok, shown) = coordinator_cli(&[
        "init",
        "--dir",
        dir_text,
        "--province",
        "Hà Nội",
        "--database",
        &with_password,
    ]);
    assert!(!ok, "{shown}");
    assert!(shown.contains("database_password_file"), "{shown}");
    assert!(!shown.contains(&secret), "the password was echoed: {shown}");
    assert!(!dir.exists(), "a refused init left a folder");

    let password_file = server.password_file().to_str().unwrap();
    let (ok, shown) = coordinator_cli(&[
        "init",
        "--dir",
        dir_text,
        "--province",
        "Hà Nội",
        "--database",
        &url,
        "--database-password-file",
        password_file,
    ]);
    assert!(ok, "{shown}");
    let config = std::fs::read_to_string(dir.join(files::CONFIG)).unwrap();
    assert!(
        config.contains(&format!("database = \"{url}\"")),
        "{config}"
    );
    assert!(!config.contains(&secret));
    assert!(
        !dir.join(files::DATABASE).exists(),
        "no SQLite file beside PostgreSQL"
    );

    let second = root.path().join("second");
    let (ok, shown) = coordinator_cli(&[
        "init",
        "--dir",
        second.to_str().unwrap(),
        "--province",
        "Hà Nội",
        "--database",
        &url,
        "--database-password-file",
        password_file,
    ]);
    assert!(!ok, "{shown}");
    assert!(shown.contains("already holds tables"), "{shown}");
    assert!(
        shown.contains("copy of the coordinator's folder"),
        "{shown}"
    );
    assert!(!second.exists(), "a refused init left a folder");

    // The store is where config.toml says; `--database` names another one for one command.
    let (ok, shown) = coordinator_cli(&["sites", "--dir", dir_text]);
    assert!(ok, "{shown}");
    let other = server.new_database().await.unwrap();
    let (ok, shown) = coordinator_cli(&["sites", "--dir", dir_text, "--database", &other]);
    assert!(!ok, "{shown}");
    assert!(shown.contains("no migration history"), "{shown}");
}
