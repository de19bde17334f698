//! CSV import: the shared samples, bad rows, idempotent re-import.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use quietcount_node::{ImportSummary, Node, NodeError, Problem};

async fn fresh_node(root: &std::path::Path) -> Node {
    let dir = common::init_node(
        root,
        "127.0.0.1:9".parse().unwrap(),
        &common::TestCoordinator::identity(),
    )
    .await;
    Node::open(&dir).await.unwrap()
}

async fn count(node: &Node, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(node.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn imports_the_samples_with_vietnamese_labels_and_dates() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let clients = node
        .import(&common::data("clients.csv"), false)
        .await
        .unwrap();
    assert_eq!(
        clients,
        ImportSummary::Clients {
            rows: 40,
            inserted: 40,
            updated: 0,
            unchanged: 0
        }
    );
    let events = node
        .import(&common::data("services.csv"), false)
        .await
        .unwrap();
    assert_eq!(
        events,
        ImportSummary::Events {
            rows: 225,
            inserted: 225,
            already_present: 0
        }
    );

    // BD-0002: "07/08/2001", "Nam", "Ma túy tổng hợp" became ISO and codes.
    let row: (String, String, Option<String>, String, String) = sqlx::query_as(
        "SELECT date_of_birth, sex, primary_substance, referral_source, modality FROM clients WHERE client_code = 'BD-0002'",
    )
    .fetch_one(node.db.pool())
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "2001-08-07".into(),
            "male".into(),
            Some("methamphetamine".into()),
            "family".into(),
            "voluntary".into()
        )
    );
    // BD-0008: "Nữ", "Chất dạng thuốc phiện".
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT sex, primary_substance FROM clients WHERE client_code = 'BD-0008'")
            .fetch_one(node.db.pool())
            .await
            .unwrap();
    assert_eq!(row, ("female".into(), Some("opioids".into())));
    // Empty substance is unknown (NULL): BD-0024 and BD-0028.
    assert_eq!(
        count(
            &node,
            "SELECT COUNT(*) FROM clients WHERE primary_substance IS NULL"
        )
        .await,
        2
    );
    assert_eq!(
        count(&node, "SELECT COUNT(*) FROM clients WHERE sex = 'female'").await,
        5
    );
    assert_eq!(
        count(
            &node,
            "SELECT COUNT(*) FROM events WHERE service = 'urine_test' AND outcome = 'positive'"
        )
        .await,
        13
    );
    assert_eq!(
        count(&node, "SELECT COUNT(*) FROM events WHERE outcome = ''").await,
        225 - 43
    );
}

#[tokio::test]
async fn reimporting_the_same_files_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    node.import(&common::data("clients.csv"), false)
        .await
        .unwrap();
    node.import(&common::data("services.csv"), false)
        .await
        .unwrap();
    let snapshot = |node: &Node| {
        let pool = node.db.pool().clone();
        async move {
            let clients: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT client_code, full_name, date_of_birth FROM clients ORDER BY client_code",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            let events: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(
                "SELECT id, client_code, date, service, outcome, ordinal FROM events ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            (clients, events)
        }
    };
    let before = snapshot(&node).await;
    let again = node
        .import(&common::data("clients.csv"), false)
        .await
        .unwrap();
    assert_eq!(
        again,
        ImportSummary::Clients {
            rows: 40,
            inserted: 0,
            updated: 0,
            unchanged: 40
        }
    );
    let again = node
        .import(&common::data("services.csv"), false)
        .await
        .unwrap();
    assert_eq!(
        again,
        ImportSummary::Events {
            rows: 225,
            inserted: 0,
            already_present: 225
        }
    );
    assert_eq!(snapshot(&node).await, before);
}

#[tokio::test]
async fn identical_events_on_one_day_count_separately_and_reimport_is_idempotent() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    node.import(&common::data("fixture_clients.csv"), false)
        .await
        .unwrap();
    node.import(&common::data("fixture_services.csv"), false)
        .await
        .unwrap();
    node.import(&common::data("fixture_services.csv"), false)
        .await
        .unwrap();
    assert_eq!(
        count(
            &node,
            "SELECT COUNT(*) FROM events WHERE client_code = 'C2' AND service = 'counselling_group'"
        )
        .await,
        2
    );
    assert_eq!(count(&node, "SELECT COUNT(*) FROM events").await, 17);
}

#[tokio::test]
async fn an_updated_client_row_is_upserted() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    node.import(&common::data("fixture_clients.csv"), false)
        .await
        .unwrap();
    let changed = root.path().join("changed.csv");
    let text = std::fs::read_to_string(common::data("fixture_clients.csv")).unwrap();
    std::fs::write(
        &changed,
        text.replace(
            "C5,Epsilon Five,1970-01-01,male",
            "C5,Epsilon Five,1970-01-01,female",
        ),
    )
    .unwrap();
    let summary = node.import(&changed, false).await.unwrap();
    assert_eq!(
        summary,
        ImportSummary::Clients {
            rows: 5,
            inserted: 0,
            updated: 1,
            unchanged: 4
        }
    );
}

#[tokio::test]
async fn bad_rows_are_all_listed_by_line_and_column_without_values_and_nothing_is_written() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let bad = root.path().join("bad.csv");
    std::fs::write(
        &bad,
        "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality\n\
         OK-1,Secretname Good,1990-01-01,male,0911111111,011111111111,Secretward,opioids,police,2026-01-01,voluntary\n\
         BAD-2,Secretname Two,31/02/1990,Secretsex,0922222222,022222222222,Secretward,opioids,police,2026-01-01,voluntary\n\
         BAD-3,Secretname Three,1990-01-01,male,0933333333,033333333333,Secretward,Secretdrug,police,2026-13-01,Secretmode\n\
         OK-1,Secretname Dup,1990-01-01,male,0944444444,044444444444,Secretward,opioids,police,2026-01-01,voluntary\n\
         BAD-5,Secretname Short,1990-01-01\n\
         ,,1990-01-01,male,0955555555,055555555555,Secretward,opioids,police,,voluntary\n",
    )
    .unwrap();
    let err = node.import(&bad, false).await.unwrap_err();
    let NodeError::Import(quietcount_node::ImportError::BadRows { problems, .. }) = &err else {
        panic!("unexpected error {err}");
    };
    let found: Vec<(u64, Option<usize>)> = problems
        .iter()
        .map(|p| (p.line, p.column.map(|c| c.0)))
        .collect();
    assert_eq!(
        found,
        vec![
            (3, Some(3)),  // impossible date
            (3, Some(4)),  // sex
            (4, Some(8)),  // substance
            (4, Some(10)), // enrolment date
            (4, Some(11)), // modality
            (5, Some(1)),  // repeated code
            (6, None),     // field count
            (7, Some(1)),  // missing code
            (7, Some(2)),  // missing name
            (7, Some(10)), // missing enrolment
        ]
    );
    assert!(matches!(
        problems[5].problem,
        Problem::RepeatedClientCode { first_line: 2 }
    ));
    let text = err.to_string();
    assert!(text.contains("line 3, column 4 (sex)"), "{text}");
    for secret in ["Secret", "09", "BAD-", "OK-1", "1990", "2026-13", "31/02"] {
        assert!(
            !text.contains(secret),
            "error message echoes {secret:?}: {text}"
        );
    }
    assert_eq!(
        count(&node, "SELECT COUNT(*) FROM clients").await,
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn events_for_unknown_clients_or_with_bad_outcomes_abort_the_whole_file() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    node.import(&common::data("fixture_clients.csv"), false)
        .await
        .unwrap();
    let bad = root.path().join("events.csv");
    std::fs::write(
        &bad,
        "client_code,date,service,outcome\n\
         C1,2026-10-01,methadone,\n\
         NOPE-9,2026-10-01,methadone,\n\
         C1,2026-10-02,urine_test,\n\
         C1,2026-10-02,methadone,positive\n\
         C1,2026-10-02,teleportation,\n",
    )
    .unwrap();
    let err = node.import(&bad, false).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("line 3, column 1 (client_code): no client"),
        "{text}"
    );
    assert!(text.contains("line 4, column 4 (outcome): empty"), "{text}");
    assert!(
        text.contains("line 5, column 4 (outcome): this service takes no outcome"),
        "{text}"
    );
    assert!(text.contains("line 6, column 3 (service)"), "{text}");
    assert!(
        !text.contains("NOPE") && !text.contains("teleport"),
        "{text}"
    );
    assert_eq!(
        count(&node, "SELECT COUNT(*) FROM events").await,
        0,
        "the good row was not written either"
    );
}

#[tokio::test]
async fn an_unknown_header_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let bad = root.path().join("other.csv");
    std::fs::write(&bad, "name,phone\nSecret,0900\n").unwrap();
    let err = node.import(&bad, false).await.unwrap_err();
    assert!(err.to_string().contains("header not recognised"), "{err}");
    assert!(!err.to_string().contains("Secret"));
}

#[tokio::test]
async fn backup_is_a_complete_private_data_directory_and_never_overwrites() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    node.import(&common::data("clients.csv"), false)
        .await
        .unwrap();
    node.import(&common::data("services.csv"), false)
        .await
        .unwrap();
    let out = root.path().join("backup");
    node.backup(&out).await.unwrap();

    // The copy opens as a data directory with the same records and the same identity.
    let copy = Node::open(&out).await.unwrap();
    for sql in [
        "SELECT count(*) FROM clients",
        "SELECT count(*) FROM events",
    ] {
        assert_eq!(count(&copy, sql).await, count(&node, sql).await, "{sql}");
    }
    assert_eq!(count(&copy, "SELECT count(*) FROM clients").await, 40);
    assert_eq!(copy.identity().fingerprint(), node.identity().fingerprint());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out), 0o700);
        for entry in std::fs::read_dir(&out).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                assert_eq!(
                    mode(&path) & 0o077,
                    0,
                    "{} is readable by others",
                    path.display()
                );
            }
        }
    }
    // A second backup into the same place is refused and leaves the first intact.
    assert!(node.backup(&out).await.is_err());
    assert_eq!(
        count(
            &Node::open(&out).await.unwrap(),
            "SELECT count(*) FROM clients"
        )
        .await,
        40
    );
}
