//! A seeded fuzz of the ingest decoding path: random bytes, truncations and byte mutations of a
//! valid request frame and envelope. Nothing panics, every one is refused, and the store is
//! unchanged. (A stand-in for a cargo-fuzz target, runnable in CI without nightly.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use quietcount_coordinator::testing::{TestSite, coordinator_in, enroll};
use quietcount_protocol::Period;
use quietcount_protocol::wire::{Blob, Request, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[tokio::test]
async fn mutated_frames_and_envelopes_are_refused_without_changing_the_store() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    let period = Period::parse("2026-10").unwrap();
    let now = period.end() + 86_400;
    let site = TestSite::new("fuzzed").unwrap();
    enroll(&coordinator, &site, period.start()).await.unwrap();
    let ingest = coordinator.ingest();
    let envelope = site.signed_report(period, 1, None, 1).unwrap();
    let frame = Request::Submit {
        envelope: Blob(envelope.clone()),
    }
    .encode()
    .unwrap();
    let before = coordinator.store.digest().await.unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut cases: Vec<(bool, Vec<u8>)> = Vec::new();
    for _ in 0..150 {
        for (is_frame, original) in [(true, &frame), (false, &envelope)] {
            let mut bytes = original.clone();
            match rng.gen_range(0..4) {
                0 => {
                    let len = rng.gen_range(0..512);
                    bytes = (0..len).map(|_| rng.r#gen()).collect();
                }
                1 => bytes.truncate(rng.gen_range(0..bytes.len())),
                2 => {
                    for _ in 0..rng.gen_range(1..4) {
                        let at = rng.gen_range(0..bytes.len());
                        bytes[at] ^= 1 << rng.gen_range(0..8);
                    }
                }
                _ => {
                    let at = rng.gen_range(0..bytes.len());
                    bytes.insert(at, rng.r#gen());
                }
            }
            cases.push((is_frame, bytes));
        }
    }
    for (is_frame, bytes) in cases {
        let response = if is_frame {
            ingest.handle_frame(&site.id, &bytes, now).await
        } else {
            ingest.submit(&site.id, &bytes, now).await
        };
        assert!(
            matches!(response, Response::Refused { .. }),
            "a mutated input was accepted: {response:?}"
        );
    }
    assert_eq!(coordinator.store.digest().await.unwrap(), before);
    // The original still goes through.
    assert!(matches!(
        ingest.handle_frame(&site.id, &frame, now).await,
        Response::Accepted { .. }
    ));
}
