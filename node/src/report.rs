//! Period reports: every indicator of the form computed in SQL, disclosure control, signing,
//! revision chains, and the preview of exactly what leaves the site.

use std::fmt::Write as _;

use quietcount_protocol::form::{Basis, Dimension, Field, Indicator, UNKNOWN, Unit};
use quietcount_protocol::{
    CountTable, DisclosurePolicy, EnvelopeHash, FORMAT_VERSION, Form, IndicatorTables, Period,
    Sha256Hash, SiteId, SiteReport, UnixTime, suppress,
};
use sqlx::Row;

use crate::dates::Date;
use crate::db::Db;
use crate::error::NodeError;

/// The true counts of one indicator, before disclosure control. Never leaves the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorCounts {
    /// Indicator id.
    pub indicator: String,
    /// Its tables, in form order.
    pub tables: Vec<CountTable>,
}

/// Computes every indicator of `form` for `period`, in one read transaction so that all
/// tables come from the same snapshot of the records.
pub async fn compute_counts(
    db: &Db,
    form: &Form,
    period: Period,
) -> Result<Vec<IndicatorCounts>, NodeError> {
    if period.period_type() != form.period {
        return Err(NodeError::WrongPeriodType {
            period,
            expected: form.period,
        });
    }
    let first = Date::from_civil(period.first_day());
    let last = Date::from_civil(period.last_day());
    // A deferred read transaction: in WAL mode it reads one snapshot and never blocks writers.
    let mut tx = db.begin("report_counts").await?;
    let mut out = Vec::with_capacity(form.indicators.len());
    for indicator in &form.indicators {
        let mut tables = Vec::with_capacity(indicator.tables.len());
        for dims in &indicator.tables {
            let dimensions: Vec<&Dimension> =
                dims.iter().filter_map(|d| form.dimension(d)).collect();
            let Some(shape) = form.shape_of(dims) else {
                return Err(NodeError::Uncategorised {
                    indicator: indicator.id.clone(),
                    dimension: dims.join(","),
                });
            };
            let (sql, binds) = table_query(indicator, &dimensions, first, last);
            let mut query = sqlx::query(&sql);
            for bind in &binds {
                query = query.bind(bind);
            }
            let rows = query.fetch_all(&mut *tx).await?;
            let mut interior = vec![0u64; shape.interior_len()];
            for row in rows {
                let mut coords = Vec::with_capacity(dimensions.len());
                for (i, dim) in dimensions.iter().enumerate() {
                    let value: Option<String> = row.try_get(i)?;
                    let index = category_index(dim, value.as_deref()).ok_or_else(|| {
                        NodeError::Uncategorised {
                            indicator: indicator.id.clone(),
                            dimension: dim.name.clone(),
                        }
                    })?;
                    coords.push(index);
                }
                let count: i64 = row.try_get(dimensions.len())?;
                let flat = coords
                    .iter()
                    .zip(shape.categories())
                    .fold(0usize, |acc, (c, n)| acc * n + c);
                interior[flat] += u64::try_from(count).unwrap_or(0);
            }
            tables.push(CountTable::from_interior(dims.clone(), shape, &interior));
        }
        out.push(IndicatorCounts {
            indicator: indicator.id.clone(),
            tables,
        });
    }
    tx.commit().await?;
    Ok(out)
}

/// The SQL expression classifying a counted unit by a dimension, as text (NULL = missing).
fn dimension_expression(field: Field) -> &'static str {
    match field {
        Field::Sex => "c.sex",
        // Whole years on the period's last day (?2); text comparison of MM-DD does the rest.
        Field::AgeBand => {
            "CASE WHEN c.date_of_birth IS NULL THEN NULL ELSE CAST( \
             CAST(substr(?2, 1, 4) AS INTEGER) - CAST(substr(c.date_of_birth, 1, 4) AS INTEGER) \
             - (substr(?2, 6, 5) < substr(c.date_of_birth, 6, 5)) AS TEXT) END"
        }
        Field::PrimarySubstance => "c.primary_substance",
        Field::ReferralSource => "c.referral_source",
        Field::Modality => "c.modality",
        Field::Service => "e.service",
        Field::Outcome => "NULLIF(e.outcome, '')",
    }
}

/// The GROUP BY query of one table, and its bound parameters (?1 first day, ?2 last day,
/// ?3 the enrolment cut-off if the indicator has one, then services and outcomes).
fn table_query(
    indicator: &Indicator,
    dimensions: &[&Dimension],
    first: Date,
    last: Date,
) -> (String, Vec<String>) {
    let mut binds = vec![first.to_string(), last.to_string()];
    let cutoff_filter = match indicator.min_months_enrolled {
        Some(months) => {
            binds.push(last.minus_months(months).to_string());
            " AND c.enrolled_on <= ?3"
        }
        None => "",
    };
    let mut list = |values: &[String]| -> String {
        let start = binds.len() + 1;
        binds.extend(values.iter().cloned());
        (start..start + values.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut event_filter = String::from("e.date BETWEEN ?1 AND ?2");
    if !indicator.services.is_empty() {
        let _ = write!(
            event_filter,
            " AND e.service IN ({})",
            list(&indicator.services)
        );
    }
    if !indicator.outcomes.is_empty() {
        let _ = write!(
            event_filter,
            " AND e.outcome IN ({})",
            list(&indicator.outcomes)
        );
    }
    let select: Vec<String> = dimensions
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{} AS d{i}", dimension_expression(d.field)))
        .collect();
    let group: Vec<String> = (0..dimensions.len()).map(|i| format!("d{i}")).collect();
    let mut sql = String::from("SELECT ");
    for s in &select {
        sql.push_str(s);
        sql.push_str(", ");
    }
    sql.push_str("COUNT(*) AS n ");
    match (indicator.basis, indicator.count) {
        (Basis::Events, Unit::Events) => {
            let _ = write!(
                sql,
                "FROM events e JOIN clients c ON c.client_code = e.client_code WHERE {event_filter}{cutoff_filter}"
            );
        }
        (Basis::Events, Unit::Clients) => {
            let _ = write!(
                sql,
                "FROM clients c WHERE c.client_code IN (SELECT e.client_code FROM events e WHERE {event_filter}){cutoff_filter}"
            );
        }
        (Basis::Enrolment, _) => {
            let _ = write!(
                sql,
                "FROM clients c WHERE c.enrolled_on BETWEEN ?1 AND ?2{cutoff_filter}"
            );
        }
    }
    if !group.is_empty() {
        let _ = write!(sql, " GROUP BY {}", group.join(", "));
    }
    (sql, binds)
}

/// The category of a value in a dimension: missing or out-of-range values go to `unknown`.
fn category_index(dimension: &Dimension, value: Option<&str>) -> Option<usize> {
    let unknown = || dimension.categories.iter().position(|c| c.code == UNKNOWN);
    let Some(value) = value else { return unknown() };
    if dimension.field == Field::AgeBand {
        let Ok(age) = value.parse::<i64>() else {
            return unknown();
        };
        if age < 0 {
            return unknown();
        }
        return dimension
            .categories
            .iter()
            .position(|c| {
                c.code != UNKNOWN
                    && c.min_age.is_some_and(|min| age >= i64::from(min))
                    && c.max_age.is_none_or(|max| age <= i64::from(max))
            })
            .or_else(unknown);
    }
    dimension
        .categories
        .iter()
        .position(|c| c.code == value)
        .or_else(unknown)
}

/// Applies disclosure control to every indicator and assembles the report.
#[allow(clippy::too_many_arguments)]
pub fn build_report(
    form: &Form,
    site: &SiteId,
    period: Period,
    counts: &[IndicatorCounts],
    policy: DisclosurePolicy,
    revision: u32,
    supersedes: Option<EnvelopeHash>,
    now: UnixTime,
) -> Result<SiteReport, NodeError> {
    let mut indicators = Vec::with_capacity(counts.len());
    for c in counts {
        let tables = suppress(&c.tables, &policy).map_err(|source| NodeError::Disclosure {
            indicator: c.indicator.clone(),
            source,
        })?;
        indicators.push(IndicatorTables {
            indicator: c.indicator.clone(),
            tables,
        });
    }
    Ok(SiteReport {
        format: FORMAT_VERSION,
        form: form.reference(),
        site: site.clone(),
        period,
        revision,
        supersedes,
        generated_at: now,
        policy,
        indicators,
    })
}

/// The hash of what a report publishes, leaving out when it was built and its place in the
/// revision chain: two reports with the same content hash say the same thing.
pub fn content_hash(report: &SiteReport) -> Result<Sha256Hash, NodeError> {
    let neutral = SiteReport {
        revision: 0,
        supersedes: None,
        generated_at: 0,
        ..report.clone()
    };
    Ok(Sha256Hash::of(&neutral.encode()?))
}

/// Renders a report's tables as they will leave the site: English and Vietnamese labels,
/// suppressed cells as `*`.
pub fn render_preview(form: &Form, report: &SiteReport) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_band_categories_follow_the_form() {
        let form = Form::default_monthly();
        let dim = form.dimension("age_band").unwrap();
        let code =
            |v: Option<&str>| category_index(dim, v).map(|i| dim.categories[i].code.as_str());
        assert_eq!(code(Some("17")), Some("lt18"));
        assert_eq!(code(Some("18")), Some("18-24"));
        assert_eq!(code(Some("49")), Some("35-49"));
        assert_eq!(code(Some("50")), Some("50plus"));
        assert_eq!(code(Some("125")), Some("50plus"));
        assert_eq!(code(Some("-1")), Some("unknown"));
        assert_eq!(code(None), Some("unknown"));
        let sex = form.dimension("sex").unwrap();
        assert_eq!(
            category_index(sex, None),
            None,
            "sex has no unknown category"
        );
    }
}
