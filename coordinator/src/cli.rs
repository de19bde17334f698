//! Terminal rendering for the `quietcount-coordinator` binary: what the library returns, as
//! text for people. Part of the binary, not the library, so a web layer renders the same
//! values its own way.

use std::fmt::Write;

use quietcount_coordinator::admin::{SiteStatus, StatusReport};
use quietcount_coordinator::exports::SendSummary;
use quietcount_protocol::ids::format_utc;

/// The status as text for people.
pub fn status(status: &StatusReport) -> String {
    let row = |s: &SiteStatus| -> [String; 6] {
        let timing = match s.on_time {
            Some(true) => "on time",
            Some(false) => "LATE",
            None => "-",
        };
        let reported = match s.revision {
            Some(r) => format!("yes (revision {r})"),
            None => "NOT REPORTED".into(),
        };
        let flag = match (s.equivocation, s.equivocation_resolved) {
            (true, true) => "EQUIVOCATION (resolved)",
            (true, false) => "EQUIVOCATION",
            _ => "",
        };
        [
            s.site.to_string(),
            s.name.clone(),
            reported,
            s.received_at.map(format_utc).unwrap_or_else(|| "-".into()),
            timing.to_owned(),
            flag.to_owned(),
        ]
    };
    let header = ["site", "name", "reported", "received", "timing", ""].map(str::to_owned);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Period {}, form {} v{} (on time: within {} days after the period ends)",
        status.period, status.form.id, status.form.version, status.on_time_days
    );
    let mut sections = vec![(
        format!(
            "Sites expected for {} ({}):",
            status.period, status.expected
        ),
        status.sites.iter().map(row).collect::<Vec<_>>(),
    )];
    if !status.not_expected.is_empty() {
        sections.push((
            format!(
                "Sites not expected for {} (enrolled after it, or ended before it):",
                status.period
            ),
            status.not_expected.iter().map(row).collect(),
        ));
    }
    // Column widths in characters over every row, so long Vietnamese names line up.
    let mut widths = header.clone().map(|h| h.chars().count());
    for (_, rows) in &sections {
        for r in rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |out: &mut String, cells: &[String; 6]| {
        let mut line = String::from("  ");
        for (cell, width) in cells.iter().zip(widths) {
            line.push_str(cell);
            line.push_str(&" ".repeat(width - cell.chars().count() + 2));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    };
    for (title, rows) in &sections {
        let _ = writeln!(out, "{title}");
        render(&mut out, &header);
        for r in rows {
            render(&mut out, r);
        }
    }
    let notes: Vec<&SiteStatus> = status
        .sites
        .iter()
        .chain(&status.not_expected)
        .filter(|s| s.key_note.is_some() || !s.not_counted.is_empty())
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "Keys and reports not counted:");
        for s in notes {
            if let Some(note) = &s.key_note {
                let _ = writeln!(out, "  {}: {note}", s.site);
            }
            for why in &s.not_counted {
                let _ = writeln!(out, "  {}: NOT COUNTED {why}", s.site);
            }
        }
    }
    let _ = writeln!(
        out,
        "Reporting rate: {}/{} = {:.1}%",
        status.reported, status.expected, status.reporting_rate
    );
    let _ = writeln!(
        out,
        "On-time rate:   {}/{} = {:.1}%",
        status.on_time, status.expected, status.on_time_rate
    );
    out
}

/// Contested slots as text for people: both envelopes side by side and the decision, if any.
pub fn conflicts(conflicts: &[quietcount_coordinator::store::Conflict]) -> String {
    let mut out = String::new();
    if conflicts.is_empty() {
        out.push_str("No conflicting reports.\n");
        return out;
    }
    for c in conflicts {
        let form = c.form.as_ref().map_or_else(
            || "(any form)".to_owned(),
            |f| format!("{} v{}", f.id, f.version),
        );
        let _ = writeln!(
            out,
            "{} {} revision {} ({form}):",
            c.period, c.site, c.revision
        );
        match &c.stored {
            Some((hash, at)) => {
                let _ = writeln!(
                    out,
                    "  stored    {}  received {}",
                    hash.to_hex(),
                    format_utc(*at)
                );
            }
            None => {
                let _ = writeln!(out, "  stored    (none under this form)");
            }
        }
        let _ = writeln!(
            out,
            "  conflict  {}  received {}{}",
            c.evidence.to_hex(),
            format_utc(c.evidence_received_at),
            if c.later_conflicts > 0 {
                format!(
                    " (and {} later conflicting deliveries, counted)",
                    c.later_conflicts
                )
            } else {
                String::new()
            }
        );
        match &c.resolution {
            Some(r) => {
                let which = if Some(r.accepted) == c.stored.map(|(h, _)| h) {
                    "the stored report"
                } else {
                    "the conflicting envelope"
                };
                let note = if r.note.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.note)
                };
                let _ = writeln!(
                    out,
                    "  resolved: the province accepts {which} ({}), decided by {} on {}{note}",
                    &r.accepted.to_hex()[..16],
                    r.decided_by,
                    format_utc(r.decided_at)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  UNRESOLVED: run `resolve --site {} --period {} --revision {} --accept HASH --by NAME`",
                    c.site, c.period, c.revision
                );
            }
        }
    }
    out
}

/// What a DHIS2 or ADX export sent, and each mapped cell it left out (not exact).
pub fn send_summary(summary: &SendSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} value(s) written; {} mapped cell(s) left out because they are not exact (DHIS2 has no ranges)",
        summary.values,
        summary.left_out.len()
    );
    for cell in &summary.left_out {
        let _ = writeln!(out, "  left out: {cell}");
    }
    out
}
