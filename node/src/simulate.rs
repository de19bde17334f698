//! Deterministic synthetic records: a plausible community treatment site, for demos,
//! training and benchmarks. The same seed and parameters always give the same records.
//!
//! Clients are mostly men aged 18 to 50, using opioids or methamphetamine, referred mostly
//! by police, family or themselves. Each stays a geometric number of months, with monthly
//! counselling, methadone for some opioid users, urine tests, occasional relapses, and
//! follow-ups recording employment after three months.

use std::collections::HashMap;

use quietcount_protocol::Period;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dates::Date;
use crate::error::NodeError;
use crate::import::{ClientRecord, EventRecord, Progress, RecordKind};
use crate::sealed::Sealer;
use crate::store::Store;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SimulateOptions {
    /// Number of clients.
    pub clients: u32,
    /// Months of service history, ending with `until`.
    pub months: u32,
    /// Seed of the ChaCha generator.
    pub seed: u64,
    /// The last month generated.
    pub until: Period,
}

/// What was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulateSummary {
    /// Clients written.
    pub clients: u64,
    /// Events generated.
    pub events: u64,
    /// Events new to the database.
    pub events_inserted: u64,
}

/// Clients generated and written per batch (bounds memory for large runs).
const CLIENTS_PER_BATCH: usize = 5_000;

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
];
const MIDDLE: &[&str] = &["Văn", "Thị", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Ngọc"];
const GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Hùng", "Hương", "Lan", "Long", "Nam", "Quân", "Tuấn", "Thủy",
    "Hiệp",
];
const WARDS: &[&str] = &[
    "Phường Cầu Diễn",
    "Phường Ngọc Lâm",
    "Phường Xuân Phương",
    "Phường Mỹ Đình 1",
    "Phường Ngọc Thụy",
    "Phường Bồ Đề",
];

fn pick<'a, T>(rng: &mut ChaCha8Rng, weighted: &'a [(T, u32)]) -> &'a T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (value, weight) in weighted {
        if roll < *weight {
            return value;
        }
        roll -= weight;
    }
    &weighted[weighted.len() - 1].0
}

/// Generates and writes synthetic clients and events in one transaction.
pub async fn simulate(
    store: &Store,
    sealer: &Sealer,
    options: SimulateOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<SimulateSummary, NodeError> {
    if options.months == 0 || options.months > 240 {
        return Err(NodeError::Simulate(
            "months must be between 1 and 240".into(),
        ));
    }
    let Period::Month { .. } = options.until else {
        return Err(NodeError::Simulate(
            "the last simulated period must be a month, e.g. 2026-10".into(),
        ));
    };
    let last = Date::from_civil(options.until.last_day());
    let window_start = Date::from_civil(options.until.first_day()).minus_months(options.months - 1);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut summary = SimulateSummary {
        clients: 0,
        events: 0,
        events_inserted: 0,
    };
    let mut tx = store.begin_records("simulate").await?;
    let mut next = 0u32;
    while next < options.clients {
        let batch_end = (next as usize + CLIENTS_PER_BATCH).min(options.clients as usize) as u32;
        let mut clients = Vec::with_capacity(CLIENTS_PER_BATCH);
        let mut events = Vec::new();
        for number in next..batch_end {
            let client = make_client(&mut rng, number, window_start, last);
            make_events(&mut rng, &client, window_start, last, &mut events);
            clients.push(client);
        }
        tx.upsert_clients(&clients, &[], sealer, &mut |_| {})
            .await?;
        summary.events_inserted += tx.insert_events(&events, &mut |_| {}).await?;
        summary.clients += clients.len() as u64;
        summary.events += events.len() as u64;
        next = batch_end;
        progress(Progress {
            records: RecordKind::Clients,
            done: u64::from(next),
            total: u64::from(options.clients),
        });
    }
    tx.commit().await?;
    tracing::info!(
        clients = summary.clients,
        events = summary.events,
        "synthetic records written"
    );
    Ok(summary)
}

fn random_date(rng: &mut ChaCha8Rng, from: Date, to: Date) -> Date {
    Date::from_days(rng.gen_range(from.days()..=to.days()))
}

fn make_client(rng: &mut ChaCha8Rng, number: u32, window_start: Date, last: Date) -> ClientRecord {
    // A quarter were enrolled in the year before the window; the rest during it.
    let enrolled_on = if rng.gen_bool(0.25) {
        random_date(
            rng,
            window_start.minus_months(12),
            Date::from_days(window_start.days() - 1),
        )
    } else {
        random_date(rng, window_start, last)
    };
    let age: u32 = match *pick(rng, &[(0u8, 4), (1, 86), (2, 10)]) {
        0 => rng.gen_range(16..18),
        1 => rng.gen_range(18..=50),
        _ => rng.gen_range(51..=66),
    };
    let date_of_birth = if rng.gen_bool(0.03) {
        None
    } else {
        let birthday = Date::from_days(last.days() - i64::from(age) * 365 - rng.gen_range(0..365));
        Some(birthday)
    };
    let sex = *pick(rng, &[("male", 880), ("female", 110), ("other", 10)]);
    let primary_substance = *pick(
        rng,
        &[
            (Some("opioids"), 45),
            (Some("methamphetamine"), 40),
            (Some("cannabis"), 7),
            (Some("other"), 3),
            (None, 5),
        ],
    );
    let referral_source = *pick(
        rng,
        &[
            ("police", 35),
            ("family", 25),
            ("self", 18),
            ("peer", 10),
            ("health_facility", 8),
            ("other", 4),
        ],
    );
    let modality = *pick(rng, &[("voluntary", 80), ("compulsory", 20)]);
    let full_name = format!(
        "{} {} {}",
        FAMILY[rng.gen_range(0..FAMILY.len())],
        MIDDLE[rng.gen_range(0..MIDDLE.len())],
        GIVEN[rng.gen_range(0..GIVEN.len())]
    );
    ClientRecord {
        client_code: format!("SIM-{number:06}"),
        full_name,
        date_of_birth,
        sex,
        phone: format!("09{:08}", rng.gen_range(0..100_000_000u32)),
        national_id: format!("{:012}", rng.gen_range(0..1_000_000_000_000u64)),
        address: format!("{}, Hà Nội", WARDS[rng.gen_range(0..WARDS.len())]),
        primary_substance,
        referral_source,
        enrolled_on,
        modality,
    }
}

fn make_events(
    rng: &mut ChaCha8Rng,
    client: &ClientRecord,
    window_start: Date,
    last: Date,
    out: &mut Vec<EventRecord>,
) {
    let on_methadone = client.primary_substance == Some("opioids") && rng.gen_bool(0.6);
    let mut ordinals: HashMap<(Date, &'static str, &'static str), u32> = HashMap::new();
    let mut push =
        |out: &mut Vec<EventRecord>, date: Date, service: &'static str, outcome: &'static str| {
            let counter = ordinals.entry((date, service, outcome)).or_insert(0);
            out.push(EventRecord {
                client_code: client.client_code.clone(),
                date,
                service,
                outcome,
                ordinal: *counter,
            });
            *counter += 1;
        };
    // Month by month from enrolment, until the client leaves or the window ends.
    let mut month_start = Date::new(client.enrolled_on.year(), client.enrolled_on.month(), 1)
        .unwrap_or(client.enrolled_on);
    let mut months_in = 0u32;
    loop {
        let month_end = Date::from_civil(
            Period::Month {
                year: u16::try_from(month_start.year()).unwrap_or(2026),
                month: month_start.month() as u8,
            }
            .last_day(),
        );
        let from = if months_in == 0 {
            client.enrolled_on
        } else {
            month_start
        };
        let to = month_end.min(last);
        if from > last {
            break;
        }
        if to >= window_start {
            let from = from.max(window_start);
            let day = |rng: &mut ChaCha8Rng| random_date(rng, from, to);
            for _ in 0..rng.gen_range(1..=3) {
                let kind = *pick(
                    rng,
                    &[
                        ("counselling_individual", 55),
                        ("counselling_group", 30),
                        ("counselling_family", 15),
                    ],
                );
                let d = day(rng);
                push(out, d, kind, "");
            }
            if on_methadone {
                for _ in 0..rng.gen_range(2..=4) {
                    let d = day(rng);
                    push(out, d, "methadone", "");
                }
            }
            if rng.gen_bool(0.75) {
                let positive = rng.gen_bool(if months_in < 2 { 0.35 } else { 0.2 });
                let d = day(rng);
                push(
                    out,
                    d,
                    "urine_test",
                    if positive { "positive" } else { "negative" },
                );
            }
            if months_in == 0 && rng.gen_bool(0.4) {
                let d = day(rng);
                push(out, d, "detox", "");
            }
            for (service, p) in [
                ("psychosocial", 0.25),
                ("vocational_training", 0.08),
                ("job_referral", 0.06),
                ("loan_support", 0.03),
                ("legal_aid", 0.10),
                ("relapse", 0.07),
            ] {
                if rng.gen_bool(p) {
                    let d = day(rng);
                    push(out, d, service, "");
                }
            }
            if rng.gen_bool(0.03) {
                let service = *pick(
                    rng,
                    &[
                        ("referral_out_methadone", 40),
                        ("referral_out_voluntary_centre", 25),
                        ("referral_out_mental_health", 20),
                        ("referral_out_other", 15),
                    ],
                );
                let d = day(rng);
                push(out, d, service, "");
            }
            if months_in >= 3 && rng.gen_bool(0.25) {
                let d = day(rng);
                push(
                    out,
                    d,
                    "follow_up",
                    if rng.gen_bool(0.55) {
                        "employed"
                    } else {
                        "unemployed"
                    },
                );
            }
        }
        months_in += 1;
        // About one client in ten leaves each month.
        if to >= last || rng.gen_bool(0.10) {
            break;
        }
        month_start = Date::from_days(month_end.days() + 1);
    }
}
