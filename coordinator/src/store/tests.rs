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
