//! `migrate-store` through the real binary: a province with several periods, a corrected
//! report, an equivocation with the province's decision, and a dashboard account, moved from
//! its SQLite file to PostgreSQL. Afterwards the coordinator serves from PostgreSQL, its store
//! digests as before, and the donor package of every period published after the move is
//! byte-identical to the one published before (same inputs, same time, deterministic Ed25519)
//! and passes the donor's verifier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use quietcount_coordinator::accounts::Role;
use quietcount_coordinator::config::{Config, files};
use quietcount_coordinator::testing::postgres::PostgresServer;
use quietcount_coordinator::testing::{TestSite, coordinator_in, enroll, run_cli};
use quietcount_coordinator::{Coordinator, conflicts::ResolveRequest};
use quietcount_protocol::wire::{RefusalCode, Response};
use quietcount_protocol::{Form, Period, Sha256Hash};

fn migrate(dir: &Path, from: &str, to: &str, password_file: &Path) -> (bool, String) {
    let args: [&std::ffi::OsStr; 9] = [
        "migrate-store".as_ref(),
        "--from".as_ref(),
        from.as_ref(),
        "--to".as_ref(),
        to.as_ref(),
        "--password-file".as_ref(),
        password_file.as_os_str(),
        "--dir".as_ref(),
        dir.as_os_str(),
    ];
    run_cli(
        Path::new(env!("CARGO_BIN_EXE_quietcount-coordinator")),
        &args,
    )
    .unwrap()
}

#[tokio::test]
async fn a_province_moved_to_postgresql_publishes_the_same_packages() {
    let Some(server) = PostgresServer::shared().unwrap() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    let coordinator = coordinator_in(&dir).await.unwrap();
    let periods: Vec<Period> = ["2026-08", "2026-09", "2026-10"]
        .iter()
        .map(|p| Period::parse(p).unwrap())
        .collect();
    let now = periods[2].end() + 3 * 86_400;
    let sites: Vec<TestSite> = (0..4)
        .map(|i| TestSite::new(&format!("site-{i}")).unwrap())
        .collect();
    for site in &sites {
        enroll(&coordinator, site, periods[0].start())
            .await
            .unwrap();
    }
    let ingest = coordinator.ingest();
    for (p, period) in periods.iter().enumerate() {
        for (i, site) in sites.iter().enumerate() {
            let envelope = site
                .signed_report(*period, 1, None, (p * 10 + i) as u64)
                .unwrap();
            let response = ingest.submit(&site.id, &envelope, now).await;
            assert!(
                matches!(response, Response::Accepted { .. }),
                "{response:?}"
            );
            if p == 2 && i == 0 {
                // A correction: revision 2 of site-0's October.
                let second = site
                    .signed_report(*period, 2, Some(Sha256Hash::of(&envelope)), 99)
                    .unwrap();
                let response = ingest.submit(&site.id, &second, now).await;
                assert!(
                    matches!(response, Response::Accepted { .. }),
                    "{response:?}"
                );
            }
            if p == 2 && i == 1 {
                // An equivocation, decided by the province.
                let conflicting = site.signed_report(*period, 1, None, 77).unwrap();
                match ingest.submit(&site.id, &conflicting, now).await {
                    Response::Refused { code, .. } => {
                        assert_eq!(code, RefusalCode::Equivocation)
                    }
                    other => panic!("{other:?}"),
                }
                let accept = Sha256Hash::of(&envelope).to_hex();
                coordinator
                    .resolve(
                        &ResolveRequest {
                            site: &site.id,
                            period: *period,
                            revision: Some(1),
                            accept: &accept,
                            decided_by: "Nguyễn Thị Lan",
                            note: "the first one is right",
                        },
                        now,
                    )
                    .await
                    .unwrap();
            }
        }
    }
    coordinator
        .add_user("lan", Role::Manager, "a long enough password", now)
        .await
        .unwrap();
    let mut before = Vec::new();
    for period in &periods {
        let assembled = coordinator
            .publish(*period, None, None, false, now)
            .await
            .unwrap();
        before.push(assembled.package);
    }
    let digest_before = coordinator.store.digest().await.unwrap();
    coordinator.store.close().await;

    // The move, through the binary.
    let url = server.new_database().await.unwrap();
    let (ok, shown) = migrate(&dir, "sqlite:coordinator.db", &url, server.password_file());
    assert!(ok, "{shown}");
    let rows_of = |table: &str| {
        shown.lines().find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words.len() == 3 && words[0] == table && words[2] == "rows")
                .then(|| words[1].to_owned())
        })
    };
    assert_eq!(rows_of("reports").as_deref(), Some("13"), "{shown}");
    assert_eq!(rows_of("equivocations").as_deref(), Some("1"), "{shown}");
    assert_eq!(
        rows_of("conflict_resolutions").as_deref(),
        Some("1"),
        "{shown}"
    );
    assert!(shown.contains("digest of every row"), "{shown}");
    assert!(!shown.contains(&server.password().unwrap()), "{shown}");
    // A second move into the same (now full) database is refused, changing nothing.
    let (ok, refused) = migrate(&dir, "sqlite:coordinator.db", &url, server.password_file());
    assert!(!ok, "{refused}");
    assert!(refused.contains("already holds tables"), "{refused}");

    // Point config.toml at PostgreSQL, as an operator would.
    let mut config = Config::load(&dir).unwrap();
    config.database = Some(url.clone());
    config.database_password_file = Some(server.password_file().to_owned());
    std::fs::write(dir.join(files::CONFIG), config.to_documented_toml()).unwrap();
    let moved = Coordinator::open(&dir).await.unwrap();
    assert_eq!(moved.store.backend(), "postgres");
    assert_eq!(moved.store.digest().await.unwrap(), digest_before);
    assert_eq!(moved.users().await.unwrap().len(), 1);
    let conflicts = moved.conflicts(Some(periods[2])).await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert!(conflicts[0].resolution.is_some());
    for (period, earlier) in periods.iter().zip(&before) {
        let out = root.path().join(format!("package-{period}"));
        let assembled = moved
            .publish(*period, None, Some(&out), false, now)
            .await
            .unwrap();
        assert_eq!(
            &assembled.package, earlier,
            "{period}: package differs after the move"
        );
        let verdict = quietcount_keys::verify::verify_package(
            &out,
            &[moved.identity.verifying_key()],
            &[Form::default_monthly()],
        );
        assert!(verdict.passed(), "{}", verdict.render_text());
    }
    // The backup command points to the server's tools instead of copying a file.
    let backup = moved
        .backup(&root.path().join("snapshot.db"))
        .await
        .unwrap_err();
    assert!(backup.to_string().contains("pg_dump"), "{backup}");
    moved.store.close().await;
}
