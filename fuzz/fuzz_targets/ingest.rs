//! The coordinator's decision path for a submission: frame, claimed signer, envelope, then the
//! ingest rule itself (`protocol::ingest`, the very functions the coordinator calls) against an
//! empty chain and a chain whose head is this envelope. Must never panic.
#![no_main]

use std::sync::LazyLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use quietcount_protocol::ingest::{self, ChainState, IngestRules};
use quietcount_protocol::wire::Request;
use quietcount_protocol::{ChainHead, Form, SiteReport, envelope, open};

static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[0x11; 32]).verifying_key());
static FORMS: LazyLock<[Form; 1]> = LazyLock::new(|| [Form::default_monthly()]);

/// 2026-11-15: after October 2026, within a year of it.
const NOW: u64 = 1_794_700_800;

fuzz_target!(|data: &[u8]| {
    let Ok(Request::Submit { envelope: blob }) = Request::decode(data) else {
        return;
    };
    if envelope::claimed_signer(&blob.0).is_err() {
        return;
    }
    let Ok(opened) = open::<SiteReport>(&blob.0, &KEY) else {
        return;
    };
    let rules = IngestRules {
        forms: FORMS.as_slice(),
        min_k: 5,
        min_zeros: quietcount_protocol::ZeroPolicy::Published,
        max_period_age_days: 365,
    };
    let report = &opened.payload;
    let _ = ingest::check_report(&rules, report, NOW);
    let _ = ingest::check_chain(report, &opened.hash, &ChainState::default());
    // A slot filled by another envelope of the same content: the re-signed-duplicate path.
    let _ = ingest::check_chain(
        report,
        &opened.hash,
        &ChainState {
            head: None,
            in_slot: Some(quietcount_protocol::Sha256Hash([0; 32])),
            in_slot_content: quietcount_protocol::content_hash(report).ok(),
        },
    );
    let head = ChainHead {
        revision: report.revision,
        envelope_hash: opened.hash,
    };
    let _ = ingest::slot_may_be_filled(Some(&head), report.revision);
    let _ = ingest::check_chain(
        report,
        &opened.hash,
        &ChainState {
            head: Some(head),
            in_slot: Some(opened.hash),
            in_slot_content: quietcount_protocol::content_hash(report).ok(),
        },
    );
});
