//! A really full disk, over real QUIC on loopback: the coordinator's folder on a small tmpfs.
//! While the disk is full every report is refused, in words, with no receipt; once space is
//! freed the next report is stored, without a restart.
//!
//! Mounting needs root. Where `mount` fails the test says why and passes without running,
//! except under CI (`CI` set), where it fails; the same recovery with an injected full disk
//! (SQLite's page cap) runs everywhere as the store's unit test
//! `a_full_disk_is_reported_as_such_and_the_next_report_is_stored_once_space_returns`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use quietcount_coordinator::testing::{
    RunningServer, SiteClient, TestSite, coordinator_in, enroll,
};
use quietcount_protocol::wire::{RefusalCode, Response};
use quietcount_protocol::{Period, Sha256Hash};

/// A tmpfs of `size` mounted on a fresh temporary folder, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
        }
        Ok(Self { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Fills the file system holding `dir` with one file, to the last block (bounded: the file
/// system is a few MiB).
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in [64 * 1024, 4096, 512, 1] {
        let bytes = vec![0u8; chunk];
        for _ in 0..100_000 {
            if file
                .write_all(&bytes)
                .and_then(|()| file.sync_all())
                .is_err()
            {
                break;
            }
        }
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_full_disk_the_next_report_is_stored_without_a_restart() {
    let tmpfs = match Tmpfs::mount("4m") {
        Ok(tmpfs) => tmpfs,
        Err(reason) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: cannot mount a small tmpfs here ({reason})");
            return;
        }
        Err(reason) => panic!("cannot mount a small tmpfs under CI: {reason}"),
    };
    let coordinator = coordinator_in(&tmpfs.path.join("coord")).await.unwrap();
    let period = Period::parse("2026-10").unwrap();
    let now = period.end() + 86_400;
    let site = TestSite::new("site-a").unwrap();
    enroll(&coordinator, &site, period.start()).await.unwrap();
    let server = RunningServer::start(&coordinator, now).await.unwrap();
    let client = SiteClient::connect(&site.identity, server.fingerprint, server.addr)
        .await
        .unwrap();
    let envelope = site.signed_report(period, 1, None, 1).unwrap();
    assert!(matches!(
        client.submit(&envelope).await.unwrap(),
        Response::Accepted { .. }
    ));

    let filler = fill(&tmpfs.path);
    // Revisions are delivered until the disk refuses one (the room left in SQLite's log and
    // pages is used first; bounded at 500 revisions).
    let mut previous = envelope;
    let mut revision = 2;
    let (refused, message) = loop {
        assert!(revision < 500, "the full disk never refused a report");
        let next = site
            .signed_report(
                period,
                revision,
                Some(Sha256Hash::of(&previous)),
                revision.into(),
            )
            .unwrap();
        match client.submit(&next).await.unwrap() {
            Response::Accepted { .. } => {
                previous = next;
                revision += 1;
            }
            Response::Refused { code, message, .. } => {
                assert_eq!(code, RefusalCode::Internal, "{message}");
                break (next, message);
            }
            Response::Stored { .. } => panic!("a submission answered with a stored report"),
        }
    };
    assert!(message.contains("disk is full"), "{message}");
    let stored = coordinator.store.report_count().await.unwrap();
    assert_eq!(
        stored,
        u64::from(revision) - 1,
        "no receipt, nothing stored"
    );
    // Still full: refused again, for the same reason (not a leftover transaction).
    match client.submit(&refused).await.unwrap() {
        Response::Refused { message, .. } => assert!(message.contains("disk is full"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Space returns: the same report is stored now, by the same running coordinator.
    std::fs::remove_file(&filler).unwrap();
    match client.submit(&refused).await.unwrap() {
        Response::Accepted { duplicate, .. } => assert!(!duplicate),
        other => panic!("expected acceptance once space returned, got {other:?}"),
    }
    assert_eq!(coordinator.store.report_count().await.unwrap(), stored + 1);
    client.close().await;
    server.stop().await.unwrap();
    coordinator.store.close().await;
}
