//! The store's migrations, run against real SQLite databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use sqlx::Connection;
use sqlx::sqlite::SqlitePoolOptions;

/// A version-1 database (only the first migration) holding one report with its cells and
/// receipt, at sequence 7 with AUTOINCREMENT's mark at 9, and one equivocation.
async fn version_one_database(path: &Path) {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .foreign_keys(true),
        )
        .await
        .unwrap();
    let mut first = sqlx::migrate!("./migrations");
    first.migrations = first
        .migrations
        .iter()
        .filter(|m| m.version == 1)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    first.run(&pool).await.unwrap();
    let statements = [
        "INSERT INTO site_keys (id, site, name, public_key, fingerprint, enrolled_at) \
         VALUES (1, 'site-a', 'A', zeroblob(32), zeroblob(32), 0)",
        "INSERT INTO reports (sequence, envelope_hash, site, period, revision, key_id, \
         form_id, form_version, envelope, received_at) \
         VALUES (9, randomblob(32), 'site-a', '2026-09', 1, 1, 'f', 1, x'00', 5)",
        "DELETE FROM reports WHERE sequence = 9",
        "INSERT INTO reports (sequence, envelope_hash, site, period, revision, key_id, \
         form_id, form_version, envelope, received_at) \
         VALUES (7, zeroblob(32), 'site-a', '2026-10', 1, 1, \
         'vn-community-treatment-monthly', 1, x'a1', 10)",
        "INSERT INTO cells (sequence, indicator, table_index, cell_index, value) \
         VALUES (7, 'clients_active', 0, 0, 12), (7, 'clients_active', 0, 1, NULL)",
        "INSERT INTO receipts (sequence, receipt) VALUES (7, x'b2')",
        "INSERT INTO equivocations (envelope_hash, site, period, revision, envelope, \
         received_at) VALUES (randomblob(32), 'site-a', '2026-10', 1, x'c3', 11)",
        "INSERT INTO equivocations (envelope_hash, site, period, revision, envelope, \
         received_at) VALUES (randomblob(32), 'site-a', '2026-10', 1, x'c4', 12)",
    ];
    for statement in statements {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn migrating_to_form_identity_keeps_reports_receipts_and_the_sequence_mark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coordinator.db");
    version_one_database(&path).await;

    let store = Store::open(&Location::Sqlite(path.clone())).await.unwrap();
    let form = FormKey {
        id: "vn-community-treatment-monthly".into(),
        version: 1,
    };
    let period = Period::from_str("2026-10").unwrap();
    let reports = store.latest_reports(&form, period).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].sequence, reports[0].revision, &reports[0].form),
        (7, 1, &form)
    );
    assert_eq!(
        (
            reports[0].envelope.as_slice(),
            reports[0].receipt.as_slice()
        ),
        (&[0xa1][..], &[0xb2][..])
    );
    let cells: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT cell_index, value FROM cells WHERE sequence = 7 ORDER BY 1")
            .fetch_all(store.sqlite_pool())
            .await
            .unwrap();
    assert_eq!(cells, [(0, Some(12)), (1, None)]);
    // Evidence from version 1 does not know its form: it is shown with every form.
    let evidence = store.equivocations(&form, period).await.unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].form, None);
    // Two conflicting envelopes for one slot: the first kept, the second counted (migration 3).
    assert_eq!(
        (evidence[0].envelope.as_slice(), evidence[0].later_conflicts),
        (&[0xc3][..], 1)
    );
    // The next sequence number continues after the highest ever given (9), not after 7.
    let next: i64 = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'reports'")
        .fetch_one(store.sqlite_pool())
        .await
        .unwrap();
    assert_eq!(next, 9);
    // The foreign keys point at the rebuilt table.
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(store.sqlite_pool())
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    store.close().await;
}

/// A full disk, injected with SQLite's own size cap (`max_page_count` fails exactly as a full
/// disk does, with `SQLITE_FULL`) so that the test runs anywhere. The same over QUIC on a
/// really full file system is `coordinator/tests/full_disk.rs`.
#[tokio::test]
async fn a_full_disk_is_reported_as_such_and_the_next_report_is_stored_once_space_returns() {
    use quietcount_protocol::testing::SyntheticReport;
    use quietcount_protocol::{Form, sign};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coordinator.db");
    let store = Store::create(&Location::Sqlite(path.clone()))
        .await
        .unwrap();
    let site = SiteId::new("site-a").unwrap();
    let identity = quietcount_keys::Identity::generate();
    store
        .enroll(&site, "A", &identity.verifying_key(), None, 0)
        .await
        .unwrap();
    let key_id = store.keys_of(&site).await.unwrap()[0].id;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(store.sqlite_pool())
        .await
        .unwrap();
    store.close().await;
    let capped = quietcount_service::sqlite::durable_options(&path, false)
        .pragma("max_page_count", (pages + 64).to_string());
    let store = sqlite::connect_with(&path, capped, false).await.unwrap();

    // Fill the "disk", to the last few bytes: blobs of 4000 bytes until one does not fit, then
    // smaller ones (at most 64 pages, so every loop is bounded).
    sqlx::query("CREATE TABLE filler (bytes BLOB)")
        .execute(store.sqlite_pool())
        .await
        .unwrap();
    let mut filled = false;
    for size in [4000, 400, 40, 4] {
        filled = false;
        for _ in 0..10_000 {
            let inserted = sqlx::query("INSERT INTO filler VALUES (randomblob(?))")
                .bind(size)
                .execute(store.sqlite_pool())
                .await;
            if let Err(error) = inserted {
                assert!(is_disk_full(&error), "{error}");
                filled = true;
                break;
            }
        }
    }
    assert!(filled, "the size cap never filled");
    let receipt = || -> SignReceipt { Box::new(|sequence| Ok(sequence.to_be_bytes().to_vec())) };
    let signed = |period: Period| {
        let report = SyntheticReport::new(&Form::default_monthly(), site.clone(), period)
            .seed(1)
            .build()
            .unwrap();
        let envelope = sign(&report, identity.signing_key()).unwrap();
        (report, envelope)
    };
    fn new((report, envelope): &(SiteReport, Vec<u8>), key_id: i64) -> NewReport<'_> {
        NewReport {
            report,
            envelope,
            hash: Sha256Hash::of(envelope),
            key_id,
            received_at: 10,
        }
    }
    // Reports of successive months are stored until the little room left in the reports'
    // own pages is used up too (bounded: 120 months).
    let months = (2016..2026).flat_map(|year| (1..=12).map(move |month| (year, month)));
    let mut stored = 0;
    let mut refused = None;
    for (year, month) in months {
        let report = signed(Period::parse(&format!("{year}-{month:02}")).unwrap());
        match store.insert_report(new(&report, key_id), receipt()).await {
            Ok(_) => stored += 1,
            Err(error) => {
                refused = Some((report, error));
                break;
            }
        }
    }
    let (report, error) = refused.expect("the disk never filled up");
    // Refused in words, and again: no transaction was left open to fail the next `BEGIN`.
    assert!(matches!(error, StoreError::DiskFull), "{error}");
    assert!(error.to_string().contains("disk"), "{error}");
    let again = store
        .insert_report(new(&report, key_id), receipt())
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::DiskFull), "{again}");
    assert_eq!(store.report_count().await.unwrap(), stored);
    // Space returns: the next report is stored, without reopening the store.
    sqlx::query("DELETE FROM filler")
        .execute(store.sqlite_pool())
        .await
        .unwrap();
    store
        .insert_report(new(&report, key_id), receipt())
        .await
        .unwrap();
    assert_eq!(store.report_count().await.unwrap(), stored + 1);
    store.close().await;
}

/// What a `COMMIT` failing on a full disk leaves behind, injected so that it runs anywhere:
/// SQLite has rolled the transaction back on its own, the driver still counts it open, and its
/// rollback then fails. Every connection of the pool is left that way; the next write must
/// still succeed (before the fix: "attempted to call begin_with at non-zero transaction
/// depth" until a restart).
#[tokio::test]
async fn connections_left_inside_a_failed_transaction_are_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coordinator.db");
    let store = Store::create(&Location::Sqlite(path.clone()))
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(store.sqlite_pool().acquire().await.unwrap());
    }
    for connection in &mut held {
        let mut tx = connection.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
        drop(tx);
    }
    drop(held);
    let site = SiteId::new("site-a").unwrap();
    let key = quietcount_keys::Identity::generate().verifying_key();
    for round in 0..16 {
        store
            .enroll(&site, &format!("A{round}"), &key, None, round)
            .await
            .unwrap();
    }
    store.close().await;
}

impl Store {
    /// The SQLite pool of a store known to be on SQLite.
    fn sqlite_pool(&self) -> &SqlitePool {
        match &self.pool {
            Pool::Sqlite(pool) => pool,
            Pool::Postgres(_) => panic!("not a SQLite store"),
        }
    }
}

/// The store's contract, run on both backends.
mod contract {
    use super::*;
    use crate::testing::postgres::PostgresServer;
    use quietcount_protocol::testing::SyntheticReport;
    use quietcount_protocol::{Form, sign};

    /// A fresh store on `backend`, or `None` when PostgreSQL is not installed (outside CI).
    pub(super) async fn fresh(backend: &str, dir: &Path) -> Option<(Store, Location)> {
        let location = match backend {
            "sqlite" => Location::Sqlite(dir.join(format!("{}.db", rand::random::<u32>()))),
            _ => {
                let server = PostgresServer::shared().unwrap()?;
                let url = server.new_database().await.unwrap();
                Location::parse(&url, Some(server.password().unwrap()), dir).unwrap()
            }
        };
        Some((Store::create(&location).await.unwrap(), location))
    }

    fn receipt() -> SignReceipt {
        Box::new(|sequence| Ok(sequence.to_be_bytes().to_vec()))
    }

    /// The same operations on any store; returns its digest.
    pub(super) async fn exercise(store: &Store) -> Sha256Hash {
        let a = SiteId::new("site-a").unwrap();
        let b = SiteId::new("site-b").unwrap();
        let key_a = quietcount_keys::Identity::from_seed([1; 32]);
        let key_b = quietcount_keys::Identity::from_seed([2; 32]);
        let key_b2 = quietcount_keys::Identity::from_seed([3; 32]);
        store
            .enroll(&a, "A", &key_a.verifying_key(), Some(0), 100)
            .await
            .unwrap();
        store
            .enroll(&b, "B", &key_b.verifying_key(), None, 100)
            .await
            .unwrap();
        // A second key for B retires the first.
        let replaced = store
            .enroll(&b, "B", &key_b2.verifying_key(), None, 200)
            .await
            .unwrap();
        assert_eq!(replaced, EnrollOutcome::Enrolled { replaced_keys: 1 });
        assert_eq!(
            store
                .enroll(&a, "A", &key_b.verifying_key(), None, 300)
                .await
                .unwrap(),
            EnrollOutcome::KeyUsedByOtherSite("site-b".into())
        );
        let keys = store.keys().await.unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[1].valid_until, Some(201));
        let key_a_id = store.keys_of(&a).await.unwrap()[0].id;

        // Reports: sequence numbers from the database, one report per slot.
        let form = Form::default_monthly();
        let period = Period::parse("2026-10").unwrap();
        let report = SyntheticReport::new(&form, a.clone(), period)
            .seed(7)
            .build()
            .unwrap();
        let envelope = sign(&report, key_a.signing_key()).unwrap();
        let new = NewReport {
            report: &report,
            envelope: &envelope,
            hash: Sha256Hash::of(&envelope),
            key_id: key_a_id,
            received_at: 400,
        };
        let (first, receipt_bytes) = store.insert_report(new, receipt()).await.unwrap();
        assert_eq!(receipt_bytes, first.to_be_bytes());
        assert!(matches!(
            store.insert_report(new, receipt()).await,
            Err(StoreError::SlotTaken)
        ));
        let stored = store.report_by_hash(&new.hash).await.unwrap().unwrap();
        assert_eq!(
            (stored.sequence, stored.envelope),
            (first, envelope.clone())
        );
        let form_key = FormKey::of(&form);
        let head = store
            .chain_head(&a, &form_key, period)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(head.revision, 1);
        assert!(
            store
                .report_in_slot(&a, &form_key, period, 2)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.latest_reports(&form_key, period).await.unwrap().len(),
            1
        );
        assert_eq!(store.newest_received_at().await.unwrap(), Some(400));

        // Evidence: the first conflicting envelope kept, the same again adds nothing, another
        // one is counted.
        for (seed, at) in [(8, 500), (8, 501), (9, 502)] {
            let other = SyntheticReport::new(&form, a.clone(), period)
                .seed(seed)
                .build()
                .unwrap();
            let evidence = Equivocation {
                site: a.clone(),
                form: Some(form_key.clone()),
                period,
                revision: 1,
                envelope: sign(&other, key_a.signing_key()).unwrap(),
                received_at: at,
                later_conflicts: 0,
            };
            store.record_equivocation(&evidence).await.unwrap();
        }
        let kept = store.equivocations(&form_key, period).await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].received_at, kept[0].later_conflicts), (500, 1));
        let conflicts = store.conflicts(Some(period)).await.unwrap();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].stored, Some((new.hash, 400)));
        store
            .record_resolution(
                &conflicts[0],
                &Resolution {
                    accepted: new.hash,
                    decided_by: "manager".into(),
                    decided_at: 600,
                    note: "kept the first".into(),
                },
            )
            .await
            .unwrap();
        let resolved = store.conflicts(None).await.unwrap();
        assert_eq!(
            resolved[0].resolution.as_ref().map(|r| r.accepted),
            Some(new.hash)
        );

        // Accounts and the audit trail.
        let user = UserRecord {
            name: "lan".into(),
            role: "manager".into(),
            password_hash: "$argon2id$x".into(),
            created_at: 700,
        };
        assert!(store.add_user(&user).await.unwrap());
        assert!(!store.add_user(&user).await.unwrap());
        assert!(store.set_password("lan", "$argon2id$y").await.unwrap());
        assert_eq!(
            store.user("lan").await.unwrap().map(|u| u.password_hash),
            Some("$argon2id$y".into())
        );
        store
            .audit(&AuditEntry {
                at: 800,
                who: "lan".into(),
                action: "publish".into(),
                detail: "2026-10".into(),
            })
            .await
            .unwrap();
        assert_eq!(store.audit_log(10).await.unwrap().len(), 1);

        // A locked period takes no new report; unlocked, it does. Contacts are replaced.
        let october = form_key.clone();
        assert!(
            store
                .lock_period(period, &october, "lan", 850)
                .await
                .unwrap()
        );
        assert!(
            !store
                .lock_period(period, &october, "minh", 851)
                .await
                .unwrap()
        );
        let locks = store.period_locks().await.unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!(
            (locks[0].locked_by.as_str(), locks[0].locked_at),
            ("lan", 850)
        );
        let key_b2_id = store.keys_of(&b).await.unwrap()[1].id;
        let late = SyntheticReport::new(&form, b.clone(), period)
            .seed(11)
            .build()
            .unwrap();
        let late_envelope = sign(&late, key_b2.signing_key()).unwrap();
        let late_new = NewReport {
            report: &late,
            envelope: &late_envelope,
            hash: Sha256Hash::of(&late_envelope),
            key_id: key_b2_id,
            received_at: 860,
        };
        match store.insert_report(late_new, receipt()).await {
            Err(StoreError::PeriodLocked { locked_by, .. }) => assert_eq!(locked_by, "lan"),
            other => panic!("stored into a locked period: {other:?}"),
        }
        assert_eq!(store.report_count().await.unwrap(), 1);
        assert!(store.unlock_period(period, &october).await.unwrap());
        assert!(!store.unlock_period(period, &october).await.unwrap());
        store.insert_report(late_new, receipt()).await.unwrap();
        assert!(
            store
                .lock_period(period, &october, "lan", 870)
                .await
                .unwrap()
        );
        store
            .set_site_contact(&a, "Chị Lan 0912 000 000", 880)
            .await
            .unwrap();
        store
            .set_site_contact(&a, "Anh Minh 0913 000 000", 881)
            .await
            .unwrap();
        assert_eq!(
            store
                .site_contacts()
                .await
                .unwrap()
                .get(&a)
                .map(String::as_str),
            Some("Anh Minh 0913 000 000")
        );

        // Revocation from a time on.
        let revoked = store
            .revoke(&a, 450, KeyEndReason::Compromised, 900)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.valid_until, Some(450));
        assert_eq!(store.report_count().await.unwrap(), 2);
        store.digest().await.unwrap()
    }

    #[tokio::test]
    async fn both_backends_keep_the_same_rows_for_the_same_operations() {
        let dir = tempfile::tempdir().unwrap();
        let (sqlite, _) = fresh("sqlite", dir.path()).await.unwrap();
        let on_sqlite = exercise(&sqlite).await;
        sqlite.close().await;
        let Some((postgres, _)) = fresh("postgres", dir.path()).await else {
            return;
        };
        assert_eq!(postgres.backend(), "postgres");
        let on_postgres = exercise(&postgres).await;
        postgres.close().await;
        assert_eq!(on_sqlite, on_postgres);
    }

    #[tokio::test]
    async fn a_store_copied_to_the_other_backend_and_back_is_the_same_store() {
        let dir = tempfile::tempdir().unwrap();
        let (sqlite, _) = fresh("sqlite", dir.path()).await.unwrap();
        exercise(&sqlite).await;
        // A sequence number used by a failed report and never stored stays used.
        sqlx::query("UPDATE sqlite_sequence SET seq = 41 WHERE name = 'reports'")
            .execute(match &sqlite.pool {
                Pool::Sqlite(pool) => pool,
                Pool::Postgres(_) => unreachable!(),
            })
            .await
            .unwrap();
        let Some((postgres, _)) = fresh("postgres", dir.path()).await else {
            return;
        };
        let there = sqlite.copy_into(&postgres).await.unwrap();
        assert_eq!(there.sequence_mark, 41);
        let rows_of = |table: &str| there.rows.iter().find(|(t, _)| *t == table).map(|r| r.1);
        assert_eq!(rows_of("reports"), Some(2));
        assert_eq!(rows_of("period_locks"), Some(1));
        assert_eq!(rows_of("site_contacts"), Some(1));
        // The copy refuses to be filled twice.
        assert!(sqlite.copy_into(&postgres).await.is_err());
        let (back, _) = fresh("sqlite", dir.path()).await.unwrap();
        let again = postgres.copy_into(&back).await.unwrap();
        assert_eq!((again.digest, again.sequence_mark), (there.digest, 41));
        assert_eq!(sqlite.digest().await.unwrap(), back.digest().await.unwrap());
        // The next report on the copy gets a number after the mark, never a used one.
        let site = SiteId::new("site-b").unwrap();
        let key_id = postgres.keys_of(&site).await.unwrap()[1].id;
        let key = quietcount_keys::Identity::from_seed([3; 32]);
        let report = SyntheticReport::new(
            &Form::default_monthly(),
            site,
            Period::parse("2026-09").unwrap(),
        )
        .seed(1)
        .build()
        .unwrap();
        let envelope = sign(&report, key.signing_key()).unwrap();
        let new = NewReport {
            report: &report,
            envelope: &envelope,
            hash: Sha256Hash::of(&envelope),
            key_id,
            received_at: 1000,
        };
        let (sequence, _) = postgres.insert_report(new, receipt()).await.unwrap();
        assert_eq!(sequence, 42);
        for store in [sqlite, postgres, back] {
            store.close().await;
        }
    }
}
