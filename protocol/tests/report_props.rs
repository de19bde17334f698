//! Property tests of the site report's canonical encoding: round trips, byte-for-byte
//! canonical output, and refusal of perturbed input.

use proptest::prelude::*;
use quietcount_protocol::testing::SyntheticReport;
use quietcount_protocol::{
    Cell, DecodeError, DisclosurePolicy, Form, IndicatorTables, Period, Sha256Hash, SiteId,
    SiteReport, Table,
};

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        2 => Just(Cell::Suppressed),
        3 => (0u64..100).prop_map(Cell::Exact),
        1 => any::<u64>().prop_map(Cell::Exact),
    ]
}

/// Any report for the default form (cells need not make sense: encoding does not care).
fn report() -> impl Strategy<Value = SiteReport> {
    let form = Form::default_monthly();
    let lengths: Vec<Vec<usize>> = form
        .indicators
        .iter()
        .map(|i| form.shapes(i).iter().map(|s| s.full_len()).collect())
        .collect();
    let cells = lengths
        .iter()
        .map(|tables| {
            tables
                .iter()
                .map(|&n| prop::collection::vec(cell(), n))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    (
        cells,
        "[a-z0-9][a-z0-9-]{0,20}",
        (1970i32..2100, 1u32..=12),
        1u32..6,
        any::<[u8; 32]>(),
        any::<u64>(),
        2u32..=11,
    )
        .prop_map(
            move |(cells, site, (year, month), revision, hash, generated_at, k)| SiteReport {
                format: quietcount_protocol::FORMAT_VERSION,
                form: form.reference(),
                site: SiteId::new(&site).expect("generated site ids are valid"),
                period: Period::parse(&format!("{year:04}-{month:02}")).expect("valid month"),
                revision,
                supersedes: (revision > 1).then_some(Sha256Hash(hash)),
                generated_at,
                policy: DisclosurePolicy::new(k).expect("k >= 2"),
                changed_records: (revision > 1).then_some(u64::from(revision) * 3),
                indicators: form
                    .indicators
                    .iter()
                    .zip(cells)
                    .map(|(indicator, tables)| IndicatorTables {
                        indicator: indicator.id.clone(),
                        tables: indicator
                            .tables
                            .iter()
                            .zip(tables)
                            .map(|(dims, cells)| Table {
                                dimensions: dims.clone(),
                                cells,
                            })
                            .collect(),
                    })
                    .collect(),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_is_exact_and_canonical(r in report(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        let bytes = r.encode().unwrap();
        let decoded = SiteReport::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &r);
        prop_assert_eq!(decoded.encode().unwrap(), bytes.clone());
        prop_assert!(decoded.check_against(&Form::default_monthly()).is_ok());

        // Trailing bytes and truncation are refused.
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(SiteReport::decode(&longer).is_err());
        prop_assert!(SiteReport::decode(&bytes[..bytes.len() - 1]).is_err());

        // A flipped bit is refused, or gives a report whose encoding is exactly those bytes:
        // no two byte strings decode to the same report.
        let mut flipped = bytes.clone();
        let at = flip.index(flipped.len());
        flipped[at] ^= 1 << bit;
        if let Ok(other) = SiteReport::decode(&flipped) {
            prop_assert_ne!(&other, &r);
            prop_assert_eq!(other.encode().unwrap(), flipped);
        }
    }
}

#[test]
fn non_canonical_forms_of_a_valid_report_are_refused() {
    let form = Form::default_monthly();
    let r = SyntheticReport::new(
        &form,
        SiteId::new("site-01").unwrap(),
        Period::parse("2026-10").unwrap(),
    )
    .seed(3)
    .policy(DisclosurePolicy::DEFAULT)
    .build()
    .unwrap();
    let bytes = r.encode().unwrap();
    // The top-level map of nine fields has the one-byte header 0xa9.
    assert_eq!(bytes[0], 0xa9);

    // Same map, length in a needless extra byte.
    let mut wide = vec![0xb8, 0x09];
    wide.extend_from_slice(&bytes[1..]);
    assert!(matches!(
        SiteReport::decode(&wide),
        Err(DecodeError::NonCanonical)
    ));

    // Same map, indefinite length.
    let mut indefinite = vec![0xbf];
    indefinite.extend_from_slice(&bytes[1..]);
    indefinite.push(0xff);
    assert!(SiteReport::decode(&indefinite).is_err());

    // Another format version.
    let mut other = r.clone();
    other.format = 2;
    assert!(matches!(
        SiteReport::decode(&other.encode().unwrap()),
        Err(DecodeError::UnknownFormatVersion { found: 2, .. })
    ));
}
