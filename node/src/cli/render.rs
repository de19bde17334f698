//! Terminal text for the library's results. Every line that scripts or tests look for is
//! written here, and each renderer has a test below.

use std::fmt::Write as _;

use quietcount_node::{EntryState, ImportSummary, Outcome, QueueOutcome, Status, SubmitSummary};
use quietcount_protocol::form::Dimension;
use quietcount_protocol::{Form, SiteReport};

use quietcount_protocol::ids::format_utc as format_time;

/// What queueing one report did.
pub fn queue_outcome(outcome: &QueueOutcome) -> String {
    match outcome {
        QueueOutcome::Unchanged {
            form,
            period,
            revision,
        } => format!(
            "report for {period} ({form}) unchanged since revision {revision}; nothing to do"
        ),
        QueueOutcome::Held {
            form,
            period,
            changed,
        } => quietcount_node::NodeError::CorrectionHeld {
            form: form.clone(),
            period: *period,
            changed: *changed,
        }
        .to_string(),
        QueueOutcome::Queued {
            form,
            period,
            revision,
            envelope_hash,
        } => format!(
            "report for {period} ({form}) revision {revision} signed and queued in the outbox ({})",
            &envelope_hash.to_hex()[..16]
        ),
    }
}

/// What a delivery round did, one line per entry.
pub fn submit_summary(summary: &SubmitSummary) -> String {
    if summary.outcomes.is_empty() {
        return "nothing to deliver".to_owned();
    }
    let lines: Vec<String> = summary
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Delivered {
                form,
                period,
                revision,
                sequence,
                duplicate,
            } => format!(
                "{period} revision {revision} ({form}): delivered, receipt #{sequence}{}",
                if *duplicate {
                    " (coordinator already had it)"
                } else {
                    ""
                }
            ),
            Outcome::Refused {
                form,
                period,
                revision,
                code,
                message,
            } => format!(
                "{period} revision {revision} ({form}): REFUSED by the coordinator: {code}: {message}"
            ),
            Outcome::Retry {
                form,
                period,
                revision,
                error,
                next_attempt_at,
            } => format!(
                "{period} revision {revision} ({form}): not delivered ({error}); next attempt at {}",
                format_time(*next_attempt_at)
            ),
        })
        .collect();
    lines.join("\n")
}

/// The outbox and the last receipts.
pub fn status(status: &Status) -> String {
    let mut f = String::new();
    let _ = writeln!(f, "site {}  key {}", status.site, status.fingerprint);
    if let Some(warning) = status.clock.as_ref().and_then(|c| c.warning()) {
        let checked = status.clock.map_or(0, |c| c.checked_at);
        let _ = writeln!(
            f,
            "\nCLOCK WRONG (as of {}): {warning}",
            format_time(checked)
        );
    }
    let _ = writeln!(f, "\nReports (newest first):");
    if status.entries.is_empty() {
        let _ = writeln!(f, "  none built yet");
    }
    for e in &status.entries {
        let state = match e.state {
            EntryState::Delivered => "delivered".to_owned(),
            EntryState::Refused => {
                format!(
                    "REFUSED ({}){}",
                    e.refusal_code.as_deref().unwrap_or("?"),
                    e.last_error
                        .as_ref()
                        .map(|m| format!("; {m}"))
                        .unwrap_or_default()
                )
            }
            EntryState::Pending => format!(
                "pending, {} failed attempt(s), next at {}{}",
                e.attempts,
                format_time(e.next_attempt_at),
                e.last_error
                    .as_ref()
                    .map(|m| format!("; last error: {m}"))
                    .unwrap_or_default()
            ),
        };
        let _ = writeln!(
            f,
            "  {}  rev {}  {}  built {}  {}  {}",
            e.period,
            e.revision,
            e.form,
            format_time(e.built_at),
            &e.envelope_hash.to_hex()[..12],
            state
        );
    }
    let _ = writeln!(
        f,
        "\nPending: {}  Refused: {}",
        status.pending, status.refused
    );
    if let Some(held) = &status.held {
        let _ = writeln!(
            f,
            "\nDELIVERY HELD since {}: {}.\nThe service does not retry with this key. Once the \
             province has enrolled it, run `quietcount-node submit`.",
            format_time(held.refused_at),
            held.message
        );
    }
    let _ = writeln!(f, "\nLast receipts:");
    if status.receipts.is_empty() {
        let _ = writeln!(f, "  none yet");
    }
    for r in &status.receipts {
        let _ = writeln!(
            f,
            "  #{}  {} rev {}  {}  received {}  {}",
            r.sequence,
            r.period,
            r.revision,
            r.form,
            format_time(r.received_at),
            &r.envelope_hash.to_hex()[..12]
        );
    }
    f
}

/// What an import did.
pub fn import_summary(summary: &ImportSummary) -> String {
    match summary {
        ImportSummary::Clients {
            rows,
            inserted,
            updated,
            unchanged,
        } => format!(
            "clients: {rows} rows; {inserted} new, {updated} updated, {unchanged} unchanged"
        ),
        ImportSummary::Events {
            rows,
            inserted,
            already_present,
        } => format!(
            "service events: {rows} rows; {inserted} new, {already_present} already present"
        ),
    }
}

/// Renders a report's tables as they will leave the site: English and Vietnamese labels,
/// suppressed cells as `*`.
pub fn preview(form: &Form, report: &SiteReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} / {}", form.title.en, form.title.vi);
    let _ = writeln!(
        out,
        "site {}  period {}  revision {}  form {}  k = {}",
        report.site, report.period, report.revision, report.form, report.policy.k
    );
    let _ = writeln!(out, "Suppressed cells are shown as * (ô bị ẩn: *).");
    for (indicator, published) in form.indicators.iter().zip(&report.indicators) {
        let _ = writeln!(
            out,
            "\n== {} / {} [{}]",
            indicator.title.en, indicator.title.vi, indicator.id
        );
        for table in &published.tables {
            let dims: Vec<&Dimension> = table
                .dimensions
                .iter()
                .filter_map(|d| form.dimension(d))
                .collect();
            out.push('\n');
            out.push_str(&render_table(&dims, &table.cells));
        }
    }
    out
}

fn cell_text(cell: &quietcount_protocol::Cell) -> String {
    match cell.exact() {
        Some(n) => n.to_string(),
        None => "*".to_owned(),
    }
}

fn labels(dim: &Dimension) -> Vec<String> {
    let mut labels: Vec<String> = dim
        .categories
        .iter()
        .map(|c| format!("{} / {}", c.title.en, c.title.vi))
        .collect();
    labels.push("Total / Tổng".to_owned());
    labels
}

fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}

fn pad_left(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{}{text}", " ".repeat(width.saturating_sub(len)))
}

fn render_table(dims: &[&Dimension], cells: &[quietcount_protocol::Cell]) -> String {
    let mut out = String::new();
    match dims {
        [] => {
            let _ = writeln!(
                out,
                "  Total / Tổng: {}",
                cells.first().map(cell_text).unwrap_or_default()
            );
        }
        [row] => {
            let rows = labels(row);
            let width = rows.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            let _ = writeln!(out, "  {} / {}", row.title.en, row.title.vi);
            for (label, cell) in rows.iter().zip(cells) {
                let _ = writeln!(out, "  {}  {:>8}", pad(label, width), cell_text(cell));
            }
        }
        [row, col] => {
            let rows = labels(row);
            let cols = labels(col);
            let row_width = rows
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(0)
                .max(row.title.en.len());
            let col_widths: Vec<usize> = cols.iter().map(|l| l.chars().count().max(5)).collect();
            let mut header = format!(
                "  {}",
                pad(&format!("{} \\ {}", row.title.en, col.title.en), row_width)
            );
            for (label, w) in cols.iter().zip(&col_widths) {
                let _ = write!(header, "  {}", pad_left(label, *w));
            }
            let _ = writeln!(out, "{}", header.trim_end());
            for (r, label) in rows.iter().enumerate() {
                let mut line = format!("  {}", pad(label, row_width));
                for (c, w) in col_widths.iter().enumerate() {
                    let cell = cells
                        .get(r * cols.len() + c)
                        .map(cell_text)
                        .unwrap_or_default();
                    let _ = write!(line, "  {}", pad_left(&cell, *w));
                }
                let _ = writeln!(out, "{line}");
            }
        }
        _ => {
            // Higher-rank tables: one line per cell.
            let shape = quietcount_protocol::table::Shape::new(
                dims.iter().map(|d| d.categories.len()).collect(),
            );
            let all: Vec<Vec<String>> = dims.iter().map(|d| labels(d)).collect();
            for (i, cell) in cells.iter().enumerate() {
                let coords = shape.coords(i);
                let names: Vec<&str> = coords
                    .iter()
                    .zip(&all)
                    .map(|(c, l)| l[*c].as_str())
                    .collect();
                let _ = writeln!(out, "  {}: {}", names.join(" | "), cell_text(cell));
            }
        }
    }
    out
}

/// One client's record, identifying fields included (`show`, after an unlock).
pub fn client(record: &quietcount_node::import::ClientRecord) -> String {
    let mut out = String::new();
    let unknown = |v: &str| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.to_owned()
        }
    };
    let lines = [
        ("Client code", record.client_code.clone()),
        ("Full name", unknown(&record.full_name)),
        (
            "Date of birth",
            record
                .date_of_birth
                .map_or_else(|| "-".to_owned(), |d| d.to_string()),
        ),
        ("Sex", record.sex.to_owned()),
        ("Phone", unknown(&record.phone)),
        ("National ID", unknown(&record.national_id)),
        ("Address", unknown(&record.address)),
        (
            "Primary substance",
            record.primary_substance.unwrap_or("-").to_owned(),
        ),
        ("Referral source", record.referral_source.to_owned()),
        ("Enrolled on", record.enrolled_on.to_string()),
        ("Modality", record.modality.to_owned()),
    ];
    for (label, value) in lines {
        out.push_str(&format!("{label:<18} {value}\n"));
    }
    out
}

/// The staff who can unlock the records (`staff list`).
pub fn staff_list(staff: &[quietcount_node::sealed::StaffEntry]) -> String {
    if staff.is_empty() {
        return "No staff member can unlock the records yet (only the recovery key can): add one with `quietcount-node staff add`.\n".to_owned();
    }
    let mut out = format!(
        "{:<24} {:<28} {}\n",
        "Staff", "Argon2id (KiB, passes, lanes)", "Changed"
    );
    for entry in staff {
        let changed =
            time::OffsetDateTime::from_unix_timestamp(i64::try_from(entry.changed_at).unwrap_or(0))
                .map_or_else(|_| "-".to_owned(), |t| t.date().to_string());
        out.push_str(&format!(
            "{:<24} {:<28} {}\n",
            entry.name,
            format!(
                "{}, {}, {}",
                entry.kdf.m_cost_kib, entry.kdf.t_cost, entry.kdf.p_cost
            ),
            changed
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use quietcount_node::FormKey;
    use quietcount_protocol::wire::RefusalCode;
    use quietcount_protocol::{Period, Sha256Hash, SiteId};

    use super::*;

    fn form() -> FormKey {
        FormKey::of(&Form::default_monthly())
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_794_268_800 + 3661), "2026-11-10 01:01:01 UTC");
    }

    #[test]
    fn every_outcome_names_its_period_revision_and_form() {
        let october = Period::parse("2026-10").unwrap();
        assert_eq!(
            submit_summary(&SubmitSummary::default()),
            "nothing to deliver"
        );
        let summary = SubmitSummary {
            outcomes: vec![
                Outcome::Delivered {
                    form: form(),
                    period: october,
                    revision: 1,
                    sequence: 7,
                    duplicate: true,
                },
                Outcome::Refused {
                    form: form(),
                    period: october,
                    revision: 2,
                    code: RefusalCode::StaleRevision,
                    message: "revision 2 for 2026-10: the next revision expected is 3".into(),
                },
            ],
        };
        let text = submit_summary(&summary);
        assert!(
            text.contains("2026-10 revision 1 (vn-community-treatment-monthly v2): delivered, receipt #7 (coordinator already had it)"),
            "{text}"
        );
        assert!(text.contains("REFUSED by the coordinator"), "{text}");
        assert!(text.contains("the next revision expected is 3"), "{text}");
        let queued = queue_outcome(&QueueOutcome::Queued {
            form: form(),
            period: october,
            revision: 3,
            envelope_hash: Sha256Hash([0xab; 32]),
        });
        assert!(
            queued.starts_with("report for 2026-10 (vn-community-treatment-monthly v2) revision 3 signed and queued in the outbox (abababab"),
            "{queued}"
        );
    }

    #[test]
    fn status_lists_entries_counts_and_receipts() {
        let empty = status(&Status {
            site: SiteId::new("hn-test-01").unwrap(),
            fingerprint: "K7QX-M2PA-9HZC-4TRE".into(),
            entries: Vec::new(),
            pending: 0,
            refused: 0,
            receipts: Vec::new(),
            held: None,
            clock: None,
        });
        assert!(!empty.contains("CLOCK"), "{empty}");
        for line in [
            "site hn-test-01  key K7QX-M2PA-9HZC-4TRE",
            "  none built yet",
            "Pending: 0  Refused: 0",
            "Last receipts:",
            "  none yet",
        ] {
            assert!(empty.contains(line), "{line:?} in {empty}");
        }
    }

    #[test]
    fn a_client_is_shown_with_every_field_and_dashes_for_unknown_ones() {
        let record = quietcount_node::import::ClientRecord {
            client_code: "BD-0002".into(),
            full_name: "Nguyễn Văn A".into(),
            date_of_birth: quietcount_node::dates::Date::new(2001, 8, 7),
            sex: "male",
            phone: String::new(),
            national_id: "079309156112".into(),
            address: "Hà Nội".into(),
            primary_substance: None,
            referral_source: "family",
            enrolled_on: quietcount_node::dates::Date::new(2026, 1, 15).unwrap(),
            modality: "voluntary",
        };
        let text = client(&record);
        for line in [
            "Client code        BD-0002",
            "Full name          Nguyễn Văn A",
            "Date of birth      2001-08-07",
            "Phone              -",
            "National ID        079309156112",
            "Primary substance  -",
            "Enrolled on        2026-01-15",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
    }

    #[test]
    fn staff_are_listed_with_their_argon2_parameters() {
        use quietcount_node::{KdfParams, Keyring, Unlock};
        let (mut keyring, recovery) = Keyring::generate();
        assert!(staff_list(keyring.staff()).contains("only the recovery key can"));
        let key = keyring.unlock(&Unlock::Recovery(recovery)).unwrap();
        keyring
            .add_staff(&key, "Lan", "a long passphrase", KdfParams::for_tests())
            .unwrap();
        let text = staff_list(keyring.staff());
        assert!(text.contains("Lan"), "{text}");
        assert!(text.contains("64, 1, 1"), "{text}");
    }
}
