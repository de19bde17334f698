//! The store's migrations, run against real SQLite databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

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

    let store = Store::open(&path).await.unwrap();
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
            .fetch_all(&store.pool)
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
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(next, 9);
    // The foreign keys point at the rebuilt table.
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&store.pool)
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
    let store = Store::create(&path).await.unwrap();
    let site = SiteId::new("site-a").unwrap();
    let identity = quietcount_keys::Identity::generate();
    store
        .enroll(&site, "A", &identity.verifying_key(), None, 0)
        .await
        .unwrap();
    let key_id = store.keys_of(&site).await.unwrap()[0].id;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    store.close().await;
    let capped = quietcount_service::sqlite::durable_options(&path, false)
        .pragma("max_page_count", (pages + 64).to_string());
    let store = Store::connect_with(&path, capped, false).await.unwrap();

    // Fill the "disk", to the last few bytes: blobs of 4000 bytes until one does not fit, then
    // smaller ones (at most 64 pages, so every loop is bounded).
    sqlx::query("CREATE TABLE filler (bytes BLOB)")
        .execute(&store.pool)
        .await
        .unwrap();
    let mut filled = false;
    for size in [4000, 400, 40, 4] {
        filled = false;
        for _ in 0..10_000 {
            let inserted = sqlx::query("INSERT INTO filler VALUES (randomblob(?))")
                .bind(size)
                .execute(&store.pool)
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
        .execute(&store.pool)
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
    let store = Store::create(&path).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(store.pool.acquire().await.unwrap());
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
