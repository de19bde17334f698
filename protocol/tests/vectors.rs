//! COSE_Sign1 test vectors: a fixed key and a fixed site report must give exactly the committed
//! envelope bytes, which must verify. See `tests/vectors/README.md`.
//!
//! To regenerate after a deliberate change (a new form version, a new payload format), run
//! `QUIETCOUNT_WRITE_VECTORS=1 cargo test -p quietcount-protocol --test vectors` and review the
//! diff.

// A test crate: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use ed25519_dalek::SigningKey;
use quietcount_protocol::{
    Cell, CountTable, DisclosurePolicy, Form, IndicatorTables, Period, SiteId, SiteReport, Table,
    envelope, fingerprint_of, open, sign,
};

const SEED: [u8; 32] = [0x11; 32];

/// The fixed report: every indicator filled from a formula (counts 0, 5, 10 or 15, so nothing
/// needs suppression), except `clients_methadone` whose male and female cells (9 and 3) are
/// suppressed, so that `null` cells appear in the vector too.
fn fixed_report() -> SiteReport {
    let form = Form::default_monthly();
    let indicators = form
        .indicators
        .iter()
        .enumerate()
        .map(|(i, indicator)| {
            let tables = indicator
                .tables
                .iter()
                .enumerate()
                .map(|(t, dims)| {
                    let shape = form.shape_of(dims).unwrap();
                    let interior: Vec<u64> = (0..shape.interior_len())
                        .map(|c| ((i * 7 + t * 3 + c) % 4) as u64 * 5)
                        .collect();
                    let truth = CountTable::from_interior(dims.clone(), shape, &interior);
                    Table {
                        dimensions: dims.clone(),
                        cells: truth.cells.iter().map(|&n| Cell::Exact(n)).collect(),
                    }
                })
                .collect();
            IndicatorTables {
                indicator: indicator.id.clone(),
                tables,
            }
        })
        .collect::<Vec<_>>();
    let mut report = SiteReport {
        format: quietcount_protocol::FORMAT_VERSION,
        form: form.reference(),
        site: SiteId::new("vector-site-01").unwrap(),
        period: Period::parse("2026-10").unwrap(),
        revision: 1,
        supersedes: None,
        generated_at: 1_793_491_200,
        policy: DisclosurePolicy::DEFAULT,
        indicators,
        changed_records: None,
    };
    let methadone = report
        .indicators
        .iter_mut()
        .find(|i| i.indicator == "clients_methadone")
        .unwrap();
    methadone.tables[0].cells = vec![
        Cell::Suppressed,
        Cell::Suppressed,
        Cell::Exact(0),
        Cell::Exact(12),
    ];
    report
}

fn read_hex(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    hex::decode(text.trim()).unwrap()
}

#[test]
fn committed_vectors_match_and_verify() {
    let key = SigningKey::from_bytes(&SEED);
    let public = key.verifying_key();
    let report = fixed_report();
    let payload = report.encode().unwrap();
    let envelope_bytes = sign(&report, &key).unwrap();

    if std::env::var_os("QUIETCOUNT_WRITE_VECTORS").is_some() {
        let dir = format!("{}/tests/vectors", env!("CARGO_MANIFEST_DIR"));
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(format!("{dir}/{name}"), format!("{}\n", hex::encode(bytes))).unwrap()
        };
        write("site-report.seed.hex", &SEED);
        write("site-report.public-key.hex", public.as_bytes());
        write("site-report.kid.hex", &fingerprint_of(&public).0);
        write("site-report.payload.hex", &payload);
        write("site-report.cose.hex", &envelope_bytes);
    }

    assert_eq!(read_hex("site-report.seed.hex"), SEED);
    assert_eq!(read_hex("site-report.public-key.hex"), public.as_bytes());
    assert_eq!(read_hex("site-report.kid.hex"), fingerprint_of(&public).0);
    assert_eq!(read_hex("site-report.payload.hex"), payload);
    let committed = read_hex("site-report.cose.hex");
    assert_eq!(committed, envelope_bytes, "envelope bytes changed");

    let opened = open::<SiteReport>(&committed, &public).unwrap();
    assert_eq!(opened.payload, report);
    assert_eq!(opened.signer, fingerprint_of(&public));
    assert_eq!(envelope::claimed_signer(&committed).unwrap(), opened.signer);
    assert!(
        opened
            .payload
            .check_against(&Form::default_monthly())
            .is_ok()
    );
    // The suppressed table of the vector passes the disclosure check.
    let form = Form::default_monthly();
    let methadone = form.indicator("clients_methadone").unwrap();
    let position = form
        .indicators
        .iter()
        .position(|i| i.id == "clients_methadone")
        .unwrap();
    assert!(
        quietcount_protocol::disclosure::check(
            &form.shapes(methadone),
            &report.indicators[position].tables,
            &report.policy,
        )
        .is_ok()
    );

    // One flipped bit anywhere in the signature is refused.
    let mut tampered = committed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(open::<SiteReport>(&tampered, &public).is_err());
}
