//! CSV import: the shared samples, bad rows, idempotent re-import.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fresh_node, import};
use quietcount_node::dates::Date;
use quietcount_node::import::{ClientRecord, EventRecord};
use quietcount_node::{ImportSummary, Node, NodeError, Problem};

async fn stored_clients(node: &Node) -> Vec<ClientRecord> {
    common::clients(node).await
}

async fn stored_events(node: &Node) -> Vec<EventRecord> {
    node.store()
        .events()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

#[tokio::test]
async fn imports_the_samples_with_vietnamese_labels_and_dates() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let clients = import(&node, "clients.csv").await.unwrap();
    assert_eq!(
        clients,
        ImportSummary::Clients {
            rows: 40,
            inserted: 40,
            updated: 0,
            unchanged: 0
        }
    );
    let events = import(&node, "services.csv").await.unwrap();
    assert_eq!(
        events,
        ImportSummary::Events {
            rows: 225,
            inserted: 225,
            already_present: 0
        }
    );

    // BD-0002: "07/08/2001", "Nam", "Ma túy tổng hợp" became ISO and codes.
    let row = common::client(&node, "BD-0002").await.unwrap();
    assert_eq!(
        (
            row.date_of_birth.map(|d| d.to_string()),
            row.sex,
            row.primary_substance,
            row.referral_source,
            row.modality
        ),
        (
            Some("2001-08-07".into()),
            "male",
            Some("methamphetamine"),
            "family",
            "voluntary"
        )
    );
    assert_eq!(row.date_of_birth, Date::new(2001, 8, 7));
    // BD-0008: "Nữ", "Chất dạng thuốc phiện".
    let row = common::client(&node, "BD-0008").await.unwrap();
    assert_eq!(
        (row.sex, row.primary_substance),
        ("female", Some("opioids"))
    );
    // Empty substance is unknown (NULL): BD-0024 and BD-0028.
    let all = stored_clients(&node).await;
    assert_eq!(
        all.iter()
            .filter(|c| c.primary_substance.is_none())
            .map(|c| c.client_code.as_str())
            .collect::<Vec<_>>(),
        ["BD-0024", "BD-0028"]
    );
    assert_eq!(all.iter().filter(|c| c.sex == "female").count(), 5);
    let all = stored_events(&node).await;
    assert_eq!(
        all.iter()
            .filter(|e| e.service == "urine_test" && e.outcome == "positive")
            .count(),
        13
    );
    assert_eq!(
        all.iter().filter(|e| e.outcome.is_empty()).count(),
        225 - 43
    );
}

#[tokio::test]
async fn reimporting_the_same_files_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    import(&node, "clients.csv").await.unwrap();
    import(&node, "services.csv").await.unwrap();
    async fn snapshot(
        node: &Node,
    ) -> (Vec<ClientRecord>, Vec<quietcount_node::store::StoredEvent>) {
        (
            common::clients(node).await,
            node.store().events().await.unwrap(),
        )
    }
    let before = snapshot(&node).await;
    let again = import(&node, "clients.csv").await.unwrap();
    assert_eq!(
        again,
        ImportSummary::Clients {
            rows: 40,
            inserted: 0,
            updated: 0,
            unchanged: 40
        }
    );
    let again = import(&node, "services.csv").await.unwrap();
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
    import(&node, "fixture_clients.csv").await.unwrap();
    import(&node, "fixture_services.csv").await.unwrap();
    import(&node, "fixture_services.csv").await.unwrap();
    assert_eq!(
        stored_events(&node)
            .await
            .iter()
            .filter(|e| e.client_code == "C2" && e.service == "counselling_group")
            .count(),
        2
    );
    assert_eq!(node.store().count_events().await.unwrap(), 17);
}

#[tokio::test]
async fn an_updated_client_row_is_upserted() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    import(&node, "fixture_clients.csv").await.unwrap();
    let text = std::fs::read_to_string(common::data("fixture_clients.csv")).unwrap();
    let summary = common::import_text(
        &node,
        "changed.csv",
        &text.replace(
            "C5,Epsilon Five,1970-01-01,male",
            "C5,Epsilon Five,1970-01-01,female",
        ),
    )
    .await
    .unwrap();
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
    let err = common::import_text(
        &node,
        "bad.csv",
        "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality\n\
         OK-1,Secretname Good,1990-01-01,male,0911111111,011111111111,Secretward,opioids,police,2026-01-01,voluntary\n\
         BAD-2,Secretname Two,31/02/1990,Secretsex,0922222222,022222222222,Secretward,opioids,police,2026-01-01,voluntary\n\
         BAD-3,Secretname Three,1990-01-01,male,0933333333,033333333333,Secretward,Secretdrug,police,2026-13-01,Secretmode\n\
         OK-1,Secretname Dup,1990-01-01,male,0944444444,044444444444,Secretward,opioids,police,2026-01-01,voluntary\n\
         BAD-5,Secretname Short,1990-01-01\n\
         ,,1990-01-01,male,0955555555,055555555555,Secretward,opioids,police,,voluntary\n",
    )
    .await
    .unwrap_err();
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
        node.store().count_clients().await.unwrap(),
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn events_for_unknown_clients_or_with_bad_outcomes_abort_the_whole_file() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    import(&node, "fixture_clients.csv").await.unwrap();
    let err = common::import_text(
        &node,
        "events.csv",
        "client_code,date,service,outcome\n\
         C1,2026-10-01,methadone,\n\
         NOPE-9,2026-10-01,methadone,\n\
         C1,2026-10-02,urine_test,\n\
         C1,2026-10-02,methadone,positive\n\
         C1,2026-10-02,teleportation,\n",
    )
    .await
    .unwrap_err();
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
        node.store().count_events().await.unwrap(),
        0,
        "the good row was not written either"
    );
}

#[tokio::test]
async fn an_unknown_header_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let err = common::import_text(&node, "other.csv", "name,phone\nSecret,0900\n")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("header not recognised"), "{err}");
    assert!(!err.to_string().contains("Secret"));
}

#[tokio::test]
async fn backup_is_a_complete_private_data_directory_and_never_overwrites() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    import(&node, "clients.csv").await.unwrap();
    import(&node, "services.csv").await.unwrap();
    let out = root.path().join("backup");
    node.backup(&out).await.unwrap();

    // The copy opens as a data directory with the same records and the same identity.
    let copy = Node::open(&out).await.unwrap();
    assert_eq!(
        copy.store().count_clients().await.unwrap(),
        node.store().count_clients().await.unwrap()
    );
    assert_eq!(
        copy.store().count_events().await.unwrap(),
        node.store().count_events().await.unwrap()
    );
    assert_eq!(copy.store().count_clients().await.unwrap(), 40);
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
        Node::open(&out)
            .await
            .unwrap()
            .store()
            .count_clients()
            .await
            .unwrap(),
        40
    );
}
