//! A coordinator refuses to start on a database it cannot trust — missing, empty, damaged, or
//! another coordinator's — naming the file and the backup to restore, and creates nothing in
//! its place (a new store is only ever made by `init`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use quietcount_coordinator::config::files;
use quietcount_coordinator::testing::coordinator_in;
use quietcount_coordinator::{Coordinator, CoordinatorError};

/// A closed coordinator in `root/name`, and its database file (WAL folded into it).
async fn closed_coordinator(root: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = root.join(name);
    let coordinator = coordinator_in(&dir).await.unwrap();
    // Closing folds the WAL into the database file, so it is whole before a test damages it.
    coordinator.store.close().await;
    drop(coordinator);
    let database = dir.join(files::DATABASE);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{}{suffix}", files::DATABASE)));
    }
    (dir, database)
}

async fn refusal(dir: &Path) -> String {
    match Coordinator::open(dir).await {
        Ok(_) => panic!("{} was opened", dir.display()),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn an_empty_or_missing_database_is_refused_and_not_recreated() {
    let root = tempfile::tempdir().unwrap();
    let (dir, database) = closed_coordinator(root.path(), "coord").await;
    std::fs::write(&database, b"").unwrap();
    let message = refusal(&dir).await;
    assert!(
        message.contains(&database.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("is empty") && message.contains("backup"),
        "{message}"
    );
    assert_eq!(
        std::fs::metadata(&database).unwrap().len(),
        0,
        "nothing written"
    );

    std::fs::remove_file(&database).unwrap();
    let message = refusal(&dir).await;
    assert!(message.contains("cannot be read"), "{message}");
    assert!(!database.exists(), "no new store made outside init");
}

#[tokio::test]
async fn a_damaged_database_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (dir, database) = closed_coordinator(root.path(), "coord").await;
    let mut bytes = std::fs::read(&database).unwrap();
    // Keep SQLite's 100-byte file header, overwrite every page after it (the schema first).
    for (i, byte) in bytes[100..].iter_mut().enumerate() {
        *byte = (i * 31 % 251) as u8;
    }
    std::fs::write(&database, &bytes).unwrap();
    let message = refusal(&dir).await;
    assert!(
        message.contains("damaged") || message.contains("not a database"),
        "{message}"
    );
    assert!(message.contains("backup"), "{message}");

    std::fs::write(&database, b"this is not SQLite at all, just text").unwrap();
    let message = refusal(&dir).await;
    assert!(message.contains("not a database"), "{message}");
}

#[tokio::test]
async fn another_coordinators_database_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (ours, our_database) = closed_coordinator(root.path(), "ours").await;
    let (_theirs, their_database) = closed_coordinator(root.path(), "theirs").await;
    std::fs::copy(&their_database, &our_database).unwrap();
    match Coordinator::open(&ours).await {
        Err(CoordinatorError::Store(error)) => {
            let message = error.to_string();
            assert!(
                message.contains("belongs to another coordinator"),
                "{message}"
            );
        }
        Err(other) => panic!("another refusal: {other}"),
        Ok(_) => panic!("another coordinator's database was opened"),
    }
}

#[tokio::test]
async fn a_sqlite_file_that_is_not_a_coordinators_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (dir, database) = closed_coordinator(root.path(), "coord").await;
    std::fs::remove_file(&database).unwrap();
    // Some other program's SQLite file under the coordinator's database name.
    use sqlx::{ConnectOptions, Connection};
    let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&database)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE notes (text TEXT)")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    let message = refusal(&dir).await;
    assert!(
        message.contains("not a Quietcount coordinator database"),
        "{message}"
    );
}

#[test]
fn the_command_line_says_an_error_once_on_one_line() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("no-coordinator-here");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_quietcount-coordinator"))
        .args(["status", "--period", "2026-10", "--dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("Caused by"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}
