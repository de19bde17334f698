//! Inspecting one signed object: verify its signature against trusted keys, recognise which of
//! the four kinds it is, and show its payload readably (text or JSON).
//!
//! Hashes are shown as hex, periods and times as text, and site report tables as aligned text
//! with suppressed cells as `*`. Category codes are shown where the form is known.

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::aggregate::TotalCell;
use quietcount_protocol::disclosure::NO_UPPER_BOUND;
use quietcount_protocol::export::disaggregation;
use quietcount_protocol::{
    Cell, EnvelopeError, EnvelopeHash, Fingerprint, Form, FormRef, ProvincialReport,
    ProvincialTotals, Receipt, SiteRegistry, SiteReport, UnixTime,
};
use serde_json::{Value, json};

use crate::identity::{open_trusted, short_fingerprint};
use crate::verify::format_time;

/// A verified signed object of one of the four kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedObject {
    /// A site's report.
    SiteReport(SiteReport),
    /// The coordinator's receipt for a site report.
    Receipt(Receipt),
    /// The coordinator's site registry.
    Registry(SiteRegistry),
    /// The coordinator's provincial report.
    ProvincialReport(ProvincialReport),
}

/// A verified signed object, with who signed it and its envelope hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The payload.
    pub object: SignedObject,
    /// Fingerprint of the signing key.
    pub signer: Fingerprint,
    /// SHA-256 of the envelope bytes.
    pub hash: EnvelopeHash,
}

/// Why a signed object could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The envelope is not a Quietcount object of any known kind.
    #[error("not a Quietcount signed object: {0}")]
    UnknownKind(EnvelopeError),
    /// The envelope is of a known kind but does not verify under the trusted keys.
    #[error("{kind}: {source}")]
    Envelope {
        /// The kind it claims to be.
        kind: &'static str,
        /// Why it was refused.
        source: EnvelopeError,
    },
}

/// Verifies `bytes` as a signed object by one of `trust`, detecting its kind from its content
/// type.
pub fn inspect(bytes: &[u8], trust: &[VerifyingKey]) -> Result<Inspected, InspectError> {
    macro_rules! attempt {
        ($ty:ty, $variant:ident, $kind:expr) => {
            match open_trusted::<$ty>(bytes, trust) {
                Ok(opened) => {
                    return Ok(Inspected {
                        object: SignedObject::$variant(opened.payload),
                        signer: opened.signer,
                        hash: opened.hash,
                    });
                }
                Err(e @ EnvelopeError::WrongContentType { .. }) => e,
                // Refused before its kind was read: the same for every kind.
                Err(
                    e @ (EnvelopeError::Malformed(_)
                    | EnvelopeError::TooLarge { .. }
                    | EnvelopeError::WrongAlgorithm
                    | EnvelopeError::UnprotectedAlgorithm),
                ) => return Err(InspectError::UnknownKind(e)),
                Err(source) => {
                    return Err(InspectError::Envelope {
                        kind: $kind,
                        source,
                    });
                }
            }
        };
    }
    attempt!(SiteReport, SiteReport, "site report");
    attempt!(Receipt, Receipt, "receipt");
    attempt!(SiteRegistry, Registry, "site registry");
    let last = attempt!(ProvincialReport, ProvincialReport, "provincial report");
    Err(InspectError::UnknownKind(last))
}

impl SignedObject {
    /// The kind, in words.
    pub fn kind(&self) -> &'static str {
        match self {
            SignedObject::SiteReport(_) => "site-report",
            SignedObject::Receipt(_) => "receipt",
            SignedObject::Registry(_) => "registry",
            SignedObject::ProvincialReport(_) => "provincial-report",
        }
    }
}

impl Inspected {
    /// Readable text; `forms` label table cells where one matches the object's form.
    pub fn render_text(&self, forms: &[Form]) -> String {
        let mut out = Lines::default();
        out.field("kind", self.object.kind());
        out.field(
            "signed by",
            format!(
                "{} ({})",
                short_fingerprint(&self.signer),
                self.signer.to_hex()
            ),
        );
        out.field("envelope", self.hash.to_hex());
        match &self.object {
            SignedObject::SiteReport(r) => {
                out.field("site", r.site.as_str());
                form_fields(&mut out, &r.form);
                out.field("period", r.period.to_string());
                out.field("revision", r.revision.to_string());
                out.field(
                    "supersedes",
                    r.supersedes.map_or("-".to_owned(), |h| h.to_hex()),
                );
                out.field("generated", time_text(r.generated_at));
                out.field(
                    "policy",
                    format!("k = {}, zeros {}", r.policy.k, r.policy.zeros.name()),
                );
                let form = find_form(forms, &r.form);
                for indicator in &r.indicators {
                    out.blank();
                    out.line(&indicator.indicator);
                    for table in &indicator.tables {
                        let cells: Vec<String> = table
                            .cells
                            .iter()
                            .map(|c| match c {
                                Cell::Exact(n) => n.to_string(),
                                Cell::Suppressed => "*".to_owned(),
                            })
                            .collect();
                        render_table(&mut out, &table.dimensions, &cells, form);
                    }
                }
            }
            SignedObject::Receipt(r) => {
                out.field("report", r.report.to_hex());
                out.field("site", r.site.as_str());
                out.field("period", r.period.to_string());
                out.field("revision", r.revision.to_string());
                out.field("received", time_text(r.received_at));
                out.field("sequence", r.sequence.to_string());
            }
            SignedObject::Registry(r) => {
                out.field("province", &r.province);
                out.field("issued", time_text(r.issued_at));
                out.blank();
                for e in &r.entries {
                    let key = e
                        .fingerprint()
                        .map_or("(invalid key)".to_owned(), |f| short_fingerprint(&f));
                    out.line(&format!(
                        "  {}  {}  key {key}  {}",
                        e.site,
                        e.name,
                        crate::verify::key_window(e)
                    ));
                }
            }
            SignedObject::ProvincialReport(p) => {
                out.field("province", &p.province);
                form_fields(&mut out, &p.form);
                out.field("period", p.period.to_string());
                out.field("published", time_text(p.published_at));
                let c = p.completeness;
                out.field(
                    "completeness",
                    format!(
                        "{} expected, {} reported, {} on time (within {} days)",
                        c.expected, c.reported, c.on_time, c.on_time_days
                    ),
                );
                out.blank();
                out.line("inputs");
                for i in &p.inputs {
                    out.line(&format!(
                        "  {}  revision {}  received {}  envelope {}",
                        i.site,
                        i.revision,
                        format_time(i.received_at),
                        i.envelope.to_hex()
                    ));
                }
                let form = find_form(forms, &p.form);
                render_totals(&mut out, &p.totals, form);
            }
        }
        out.0
    }

    /// JSON, with hashes and keys as hex strings and periods as text.
    pub fn to_json(&self) -> Value {
        let payload = match &self.object {
            SignedObject::SiteReport(r) => json!({
                "format": r.format,
                "form": form_json(&r.form),
                "site": r.site.as_str(),
                "period": r.period.to_string(),
                "revision": r.revision,
                "supersedes": r.supersedes.map(|h| h.to_hex()),
                "generated_at": r.generated_at,
                "policy": { "k": r.policy.k, "zeros": r.policy.zeros.name() },
                "indicators": r.indicators.iter().map(|i| json!({
                    "indicator": i.indicator,
                    "tables": i.tables.iter().map(|t| json!({
                        "dimensions": t.dimensions,
                        "cells": t.cells.iter().map(|c| c.exact()).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
            SignedObject::Receipt(r) => json!({
                "format": r.format,
                "report": r.report.to_hex(),
                "site": r.site.as_str(),
                "period": r.period.to_string(),
                "revision": r.revision,
                "received_at": r.received_at,
                "sequence": r.sequence,
            }),
            SignedObject::Registry(r) => json!({
                "format": r.format,
                "province": r.province,
                "issued_at": r.issued_at,
                "entries": r.entries.iter().map(|e| json!({
                    "site": e.site.as_str(),
                    "name": e.name,
                    "public_key": hex::encode(e.public_key.0),
                    "fingerprint": e.fingerprint().map(|f| f.to_hex()),
                    "enrolled_at": e.enrolled_at,
                    "valid_until": e.valid_until,
                    "ended_because": e.ended.map(|end| end.reason.as_str()),
                    "ended_recorded_at": e.ended.map(|end| end.recorded_at),
                })).collect::<Vec<_>>(),
            }),
            SignedObject::ProvincialReport(p) => json!({
                "format": p.format,
                "province": p.province,
                "form": form_json(&p.form),
                "period": p.period.to_string(),
                "published_at": p.published_at,
                "inputs": p.inputs.iter().map(|i| json!({
                    "site": i.site.as_str(),
                    "revision": i.revision,
                    "envelope": i.envelope.to_hex(),
                    "received_at": i.received_at,
                })).collect::<Vec<_>>(),
                "completeness": {
                    "expected": p.completeness.expected,
                    "reported": p.completeness.reported,
                    "on_time": p.completeness.on_time,
                    "on_time_days": p.completeness.on_time_days,
                },
                "totals": {
                    "sites": p.totals.sites,
                    "indicators": p.totals.indicators.iter().map(|i| json!({
                        "indicator": i.indicator,
                        "tables": i.tables.iter().map(|t| json!({
                            "dimensions": t.dimensions,
                            "cells": t.cells.iter().map(|c| match *c {
                                TotalCell::Exact(n) => json!(n),
                                TotalCell::Bounded { lower, upper } => json!([lower, upper]),
                            }).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                },
            }),
        };
        json!({
            "kind": self.object.kind(),
            "signer": self.signer.to_hex(),
            "signer_short": short_fingerprint(&self.signer),
            "envelope_hash": self.hash.to_hex(),
            "payload": payload,
        })
    }
}

fn form_json(form: &FormRef) -> Value {
    json!({ "id": form.id, "version": form.version, "hash": form.hash.to_hex() })
}

fn form_fields(out: &mut Lines, form: &FormRef) {
    out.field("form", format!("{} version {}", form.id, form.version));
    out.field("form hash", form.hash.to_hex());
}

fn find_form<'a>(forms: &'a [Form], reference: &FormRef) -> Option<&'a Form> {
    forms.iter().find(|f| f.reference() == *reference)
}

fn time_text(t: UnixTime) -> String {
    format!("{} ({t})", format_time(t))
}

fn render_totals(out: &mut Lines, totals: &ProvincialTotals, form: Option<&Form>) {
    out.blank();
    out.line(&format!("totals over {} site(s)", totals.sites));
    for indicator in &totals.indicators {
        out.blank();
        out.line(&indicator.indicator);
        for table in &indicator.tables {
            let cells: Vec<String> = table
                .cells
                .iter()
                .map(|c| match *c {
                    TotalCell::Exact(n) => n.to_string(),
                    TotalCell::Bounded {
                        lower,
                        upper: Some(upper),
                    } => format!("{lower}..{upper}"),
                    TotalCell::Bounded { lower, upper: None } => {
                        format!("{lower}..({NO_UPPER_BOUND})")
                    }
                })
                .collect();
            render_table(out, &table.dimensions, &cells, form);
        }
    }
}

/// Renders one table: a grid for two dimensions, a column for one, labelled rows otherwise.
/// Category codes come from `form` if it is known; otherwise positions are shown.
fn render_table(out: &mut Lines, dims: &[String], cells: &[String], form: Option<&Form>) {
    out.line(&format!(
        "  by {}",
        if dims.is_empty() {
            "(total only)".to_owned()
        } else {
            dims.join(" x ")
        }
    ));
    let shape = form.and_then(|f| f.shape_of(dims));
    let shape = match shape {
        Some(shape) if shape.full_len() == cells.len() => shape,
        _ => {
            // Unknown form: list cells by position.
            for (i, cell) in cells.iter().enumerate() {
                out.line(&format!("    cell {i:>5}  {cell}"));
            }
            return;
        }
    };
    let Some(form) = form else {
        return;
    };
    let codes = |d: usize| -> Vec<String> {
        let mut codes: Vec<String> = form
            .dimension(&dims[d])
            .map(|dim| dim.categories.iter().map(|c| c.code.clone()).collect())
            .unwrap_or_default();
        codes.push("all".to_owned());
        codes
    };
    match dims.len() {
        1 => {
            let rows = codes(0);
            let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
            for (code, cell) in rows.iter().zip(cells) {
                out.line(&format!("    {code:<width$}  {cell:>8}"));
            }
        }
        2 => {
            let rows = codes(0);
            let cols = codes(1);
            let row_width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
            let col_width = cols
                .iter()
                .map(|c| c.len())
                .chain(cells.iter().map(|c| c.len()))
                .max()
                .unwrap_or(1);
            let mut header = format!("    {:<row_width$}", "");
            for col in &cols {
                header.push_str(&format!("  {col:>col_width$}"));
            }
            out.line(&header);
            for (r, row) in rows.iter().enumerate() {
                let mut line = format!("    {row:<row_width$}");
                for c in 0..cols.len() {
                    let cell = cells.get(shape.index(&[r, c])).map_or("?", |s| s.as_str());
                    line.push_str(&format!("  {cell:>col_width$}"));
                }
                out.line(&line);
            }
        }
        _ => {
            let labels: Vec<String> = (0..cells.len())
                .map(|i| disaggregation(form, dims, &shape, i))
                .collect();
            let width = labels.iter().map(|l| l.len()).max().unwrap_or(0);
            for (label, cell) in labels.iter().zip(cells) {
                out.line(&format!("    {label:<width$}  {cell:>8}"));
            }
        }
    }
}

/// Accumulated output lines.
#[derive(Debug, Default)]
struct Lines(String);

impl Lines {
    fn field(&mut self, name: &str, value: impl AsRef<str>) {
        self.0.push_str(&format!("{name:<13}{}\n", value.as_ref()));
    }

    fn line(&mut self, text: &str) {
        self.0.push_str(text);
        self.0.push('\n');
    }

    fn blank(&mut self) {
        self.0.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use quietcount_protocol::sign;

    #[test]
    fn recognises_and_verifies_each_kind() {
        let fixture = Fixture::two_sites();
        let package = fixture.package();
        let coordinator = [fixture.coordinator_key()];
        let site_key = [fixture.sites[1].identity.verifying_key()];

        let registry = inspect(&package.registry, &coordinator).unwrap();
        assert_eq!(registry.object.kind(), "registry");
        assert!(registry.render_text(&[]).contains("hn-02"));

        let provincial = inspect(&package.provincial, &coordinator).unwrap();
        assert_eq!(provincial.object.kind(), "provincial-report");
        let json = provincial.to_json();
        assert_eq!(json["payload"]["period"], "2026-10");
        assert_eq!(
            json["payload"]["form"]["hash"],
            fixture.form.reference().hash.to_hex()
        );

        let site = &package.sites[&fixture.sites[1].id];
        let report = inspect(site, &site_key).unwrap();
        assert_eq!(report.object.kind(), "site-report");
        let text = report.render_text(std::slice::from_ref(&fixture.form));
        // hn-02 has a suppressed cell, shown as `*`, and labelled categories.
        assert!(text.contains('*'), "{text}");
        assert!(text.contains("female"), "{text}");
        let json = report.to_json();
        assert_eq!(json["payload"]["site"], "hn-02");
        assert!(json["envelope_hash"].as_str().unwrap().len() == 64);

        let receipt = Receipt {
            format: quietcount_protocol::FORMAT_VERSION,
            report: report.hash,
            site: fixture.sites[1].id.clone(),
            period: fixture.period,
            revision: 1,
            received_at: 5,
            sequence: 9,
        };
        let bytes = sign(&receipt, fixture.coordinator.signing_key()).unwrap();
        let opened = inspect(&bytes, &coordinator).unwrap();
        assert_eq!(opened.object, SignedObject::Receipt(receipt));
        assert_eq!(opened.to_json()["payload"]["report"], report.hash.to_hex());
    }

    #[test]
    fn an_unbounded_total_shows_no_upper_bound_in_text_and_null_in_json() {
        let fixture = Fixture::two_sites();
        let package = fixture.package_with_small_total();
        let provincial = inspect(&package.provincial, &[fixture.coordinator_key()]).unwrap();
        for forms in [&[][..], std::slice::from_ref(&fixture.form)] {
            let text = provincial.render_text(forms);
            assert!(text.contains("..(no upper bound)"), "{text}");
            assert!(!text.contains("18446744073709551615"), "{text}");
        }
        let json = provincial.to_json();
        let methadone = json["payload"]["totals"]["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["indicator"] == "counselling_sessions")
            .unwrap();
        let grand = methadone["tables"][0]["cells"]
            .as_array()
            .unwrap()
            .last()
            .unwrap();
        assert!(grand[0].is_u64() && grand[1].is_null(), "{grand}");
        assert!(!json.to_string().contains("18446744073709551615"));
    }

    #[test]
    fn refuses_untrusted_signer_and_garbage() {
        let fixture = Fixture::two_sites();
        let package = fixture.package();
        let stranger = [crate::Identity::from_seed([9; 32]).verifying_key()];
        let err = inspect(&package.provincial, &stranger).unwrap_err();
        assert!(matches!(
            err,
            InspectError::Envelope {
                kind: "provincial report",
                source: EnvelopeError::UnknownKey { .. }
            }
        ));
        assert!(matches!(
            inspect(b"not cbor", &stranger),
            Err(InspectError::UnknownKind(EnvelopeError::Malformed(_)))
        ));
    }
}
