//! Criterion benchmarks of the protocol's hot paths, each beside a baseline measured in the
//! same run so that figures can be read as ratios:
//!
//! - `default_form`: `suppress` + `audit` of every indicator of the default form for one site of
//!   about 300 clients, against a plain sum over the same cells.
//! - `table_4d`: the same on one 4-dimensional table of 1,050 cells (4 x 4 x 6 x 5 categories,
//!   about 530 units: a sparse table where nearly half the cells are below k = 5).
//! - `*/audit`: the audit alone, per indicator.
//! - `default_form/report_*`: the same for the whole report with the relations between
//!   indicators (`suppress_report` + `audit_report`, and `audit_report` alone, what the node and
//!   the verifier run per site).
//! - `envelope`: encode + sign and decode + verify of one site report, against one raw Ed25519
//!   signature verification of the same payload.
//!
//! Run with `cargo bench -p quietcount-protocol -- --quick` (or `--measurement-time 5`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use quietcount_protocol::testing::{SyntheticReport, marginal, realistic_counts};
use quietcount_protocol::{
    CountTable, DisclosurePolicy, Form, IndicatorTables, Period, Shape, SiteId, SiteReport,
    SuppressionSecret, audit, audit_report, open, sign, suppress, suppress_report,
};

/// The secret every run here suppresses with.
const SECRET: [u8; 32] = [7; 32];

/// The synthetic report of one site of about 300 clients (seed 1), October 2026.
fn site_01(form: &Form) -> SyntheticReport<'_> {
    SyntheticReport::new(
        form,
        SiteId::new("site-01").expect("valid site id"),
        Period::parse("2026-10").expect("valid period"),
    )
    .seed(1)
    .policy(DisclosurePolicy::DEFAULT)
}

fn suppress_and_audit(indicators: &[Vec<CountTable>], policy: &DisclosurePolicy) -> usize {
    let mut suppressed = 0;
    for tables in indicators {
        let published =
            suppress(tables, policy, &SuppressionSecret::from_bytes(SECRET)).expect("suppress");
        let shapes: Vec<Shape> = tables.iter().map(|t| t.shape.clone()).collect();
        let audited = audit(&shapes, &published, policy).expect("audit");
        suppressed += audited.tables.iter().flatten().flatten().count();
    }
    suppressed
}

/// The published tables and shapes of every indicator, for audit-only runs (the verifier).
fn published(
    indicators: &[Vec<CountTable>],
    policy: &DisclosurePolicy,
) -> Vec<(Vec<Shape>, Vec<quietcount_protocol::Table>)> {
    indicators
        .iter()
        .map(|tables| {
            (
                tables.iter().map(|t| t.shape.clone()).collect(),
                suppress(tables, policy, &SuppressionSecret::from_bytes(SECRET)).expect("suppress"),
            )
        })
        .collect()
}

fn audit_only(
    published: &[(Vec<Shape>, Vec<quietcount_protocol::Table>)],
    policy: &DisclosurePolicy,
) -> usize {
    published
        .iter()
        .map(|(shapes, tables)| {
            audit(shapes, tables, policy)
                .expect("audit")
                .tables
                .iter()
                .flatten()
                .flatten()
                .count()
        })
        .sum()
}

/// The report's indicators suppressed together, with the form's relations.
fn whole_report(
    form: &Form,
    truth: &[Vec<CountTable>],
    policy: &DisclosurePolicy,
) -> Vec<IndicatorTables> {
    form.indicators
        .iter()
        .zip(
            suppress_report(form, truth, policy, &SuppressionSecret::from_bytes(SECRET))
                .expect("suppress"),
        )
        .map(|(indicator, tables)| IndicatorTables {
            indicator: indicator.id.clone(),
            tables,
        })
        .collect()
}

fn plain_sum(indicators: &[Vec<CountTable>]) -> u64 {
    indicators
        .iter()
        .flatten()
        .flat_map(|t| t.cells.iter())
        .sum()
}

fn four_dimensional_table() -> Vec<Vec<CountTable>> {
    let names: Vec<String> = ["sex", "age_band", "substance", "modality"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let shape = [4, 4, 6, 5];
    let joint = realistic_counts(7)(0, shape.iter().product());
    vec![vec![marginal(&names, &shape, &joint, &names)]]
}

fn disclosure(c: &mut Criterion) {
    let form = Form::default_monthly();
    let policy = DisclosurePolicy::DEFAULT;
    let site = site_01(&form).truth();
    let mut group = c.benchmark_group("default_form");
    group.bench_function("suppress_audit", |b| {
        b.iter(|| suppress_and_audit(black_box(&site), &policy))
    });
    let site_published = published(&site, &policy);
    group.bench_function("audit", |b| {
        b.iter(|| audit_only(black_box(&site_published), &policy))
    });
    group.bench_function("report_suppress_audit", |b| {
        b.iter(|| {
            let published = whole_report(&form, black_box(&site), &policy);
            audit_report(&form, &published, &policy)
                .expect("audit")
                .indicators
                .len()
        })
    });
    let report_published = whole_report(&form, &site, &policy);
    group.bench_function("report_audit", |b| {
        b.iter(|| {
            audit_report(&form, black_box(&report_published), &policy)
                .expect("audit")
                .indicators
                .len()
        })
    });
    group.bench_function("baseline_sum", |b| b.iter(|| plain_sum(black_box(&site))));
    group.finish();

    let big = four_dimensional_table();
    let mut group = c.benchmark_group("table_4d");
    group.sample_size(10);
    group.bench_function("suppress_audit", |b| {
        b.iter(|| suppress_and_audit(black_box(&big), &policy))
    });
    let big_published = published(&big, &policy);
    group.bench_function("audit", |b| {
        b.iter(|| audit_only(black_box(&big_published), &policy))
    });
    group.bench_function("baseline_sum", |b| b.iter(|| plain_sum(black_box(&big))));
    group.finish();
}

fn envelopes(c: &mut Criterion) {
    let form = Form::default_monthly();
    let report = site_01(&form).build().expect("suppress");
    let key = SigningKey::from_bytes(&[0x11; 32]);
    let verifying = key.verifying_key();
    let envelope = sign(&report, &key).expect("sign");
    let payload = report.encode().expect("encode");
    let signature = key.sign(&payload);

    let mut group = c.benchmark_group("envelope");
    group.bench_function("encode_sign", |b| {
        b.iter(|| sign(black_box(&report), &key).expect("sign"))
    });
    group.bench_function("decode_verify", |b| {
        b.iter(|| open::<SiteReport>(black_box(&envelope), &verifying).expect("open"))
    });
    group.bench_function("baseline_ed25519_verify", |b| {
        b.iter(|| {
            verifying
                .verify(black_box(&payload), &signature)
                .expect("verify")
        })
    });
    group.finish();
}

criterion_group!(benches, disclosure, envelopes);
criterion_main!(benches);
