//! Totals: the provincial cells of a period, exact values as numbers and bounded ones as the
//! interval they are known to lie in (never a made-up number), and two charts drawn here as
//! SVG (no JavaScript): the 12-period trend of the form's first indicators (provincial totals;
//! a hollow point marks a bounded total drawn at its least value), and the first indicator's
//! total by site for the period.

use std::fmt::Write as _;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use quietcount_protocol::export::{PROVINCE_SCOPE, RowStatus};

use super::i18n::Tr;
use super::period::{PeriodQuery, chosen_period};
use super::{
    AppState, Chrome, User, bad_request, error_page, now, period_type, recent_periods, render, text,
};
use crate::error::CoordinatorError;
use crate::exports::ExportTable;

/// Indicators drawn in the trend chart.
pub const TREND_INDICATORS: usize = 3;
const COLOURS: [&str; TREND_INDICATORS] = ["#0b6e4f", "#1f5fa8", "#a15c00"];

/// The totals page.
#[derive(Debug, Template)]
#[template(path = "totals.html")]
pub struct TotalsPage {
    page: Chrome,
    period: String,
    periods: Vec<String>,
    cells: Vec<CellLine>,
    trend_svg: String,
    sites_svg: String,
    has_mapping: bool,
}

/// One provincial cell.
#[derive(Debug)]
pub struct CellLine {
    indicator: String,
    breakdown: String,
    shown: String,
    bounded: bool,
}

/// GET /totals?p=PERIOD.
pub async fn page(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<PeriodQuery>,
) -> Response {
    let chrome = user.chrome("totals", "totals-title");
    let Some(period) = chosen_period(&state, query.p.as_deref()) else {
        return bad_request(chrome, "/totals");
    };
    match totals(&state, &user, period).await {
        Ok(page) => render(&page),
        Err(error) => error_page(chrome, &error, "/"),
    }
}

/// A cell's value in words: the number, or its interval.
pub fn shown(t: Tr, value: Option<u64>, lower: u64, upper: Option<u64>) -> String {
    match (value, upper) {
        (Some(v), _) => t.num(v),
        (None, Some(u)) => format!("{}–{}", t.num(lower), t.num(u)),
        (None, None) => format!("≥ {}", t.num(lower)),
    }
}

async fn totals(
    state: &AppState,
    user: &User,
    period: quietcount_protocol::Period,
) -> Result<TotalsPage, CoordinatorError> {
    let t = user.t;
    let coordinator = state.coordinator();
    let form_id = coordinator.forms.first().map(|f| f.form.id.clone());
    let table = coordinator.export_table(period, form_id.as_deref()).await?;
    let title_of = |id: &str| {
        table
            .form
            .indicators
            .iter()
            .find(|i| i.id == id)
            .map_or_else(|| id.to_owned(), |i| text(t, &i.title))
    };
    let cells = table
        .rows
        .iter()
        .filter(|r| r.scope == PROVINCE_SCOPE)
        .map(|r| CellLine {
            indicator: title_of(&r.indicator),
            breakdown: if r.disaggregation == "total" {
                t.msg("totals-total")
            } else {
                r.disaggregation.replace(';', ", ")
            },
            shown: shown(t, r.value, r.lower, r.upper),
            bounded: r.status != RowStatus::Exact,
        })
        .collect();
    let periods = recent_periods(period_type(coordinator), now(), 12);
    let indicators: Vec<(String, String)> = table
        .form
        .indicators
        .iter()
        .take(TREND_INDICATORS)
        .map(|i| (i.id.clone(), text(t, &i.title)))
        .collect();
    let mut series: Vec<Vec<Option<(u64, bool)>>> = vec![Vec::new(); indicators.len()];
    for p in &periods {
        let table = coordinator.export_table(*p, form_id.as_deref()).await?;
        for (n, (id, _)) in indicators.iter().enumerate() {
            let point = province_total(&table, id);
            series[n].push(point);
        }
    }
    let labels: Vec<String> = periods.iter().map(ToString::to_string).collect();
    let trend_svg = trend_chart(t, &labels, &indicators, &series);
    let by_site: Vec<(String, u64, bool)> = match indicators.first() {
        Some((id, _)) => table
            .reporting_sites()
            .iter()
            .filter_map(|site| {
                table
                    .rows
                    .iter()
                    .find(|r| &r.scope == site && &r.indicator == id && r.disaggregation == "total")
                    .map(|r| {
                        (
                            table.scope_name(site),
                            r.value.unwrap_or(r.lower),
                            r.value.is_some(),
                        )
                    })
            })
            .collect(),
        None => Vec::new(),
    };
    let sites_title = indicators
        .first()
        .map_or_else(String::new, |(_, title)| title.clone());
    let sites_svg = bar_chart(t, &sites_title, &by_site);
    let mut period_list: Vec<String> = labels.iter().rev().cloned().collect();
    if !period_list.contains(&period.to_string()) {
        period_list.insert(0, period.to_string());
    }
    Ok(TotalsPage {
        page: user.chrome("totals", "totals-title"),
        period: period.to_string(),
        periods: period_list,
        cells,
        trend_svg,
        sites_svg,
        has_mapping: coordinator.config.dashboard.mapping.is_some(),
    })
}

/// The provincial total of `indicator`: its value (or least value) and whether it is exact.
fn province_total(table: &ExportTable, indicator: &str) -> Option<(u64, bool)> {
    table
        .rows
        .iter()
        .find(|r| {
            r.scope == PROVINCE_SCOPE && r.indicator == indicator && r.disaggregation == "total"
        })
        .map(|r| (r.value.unwrap_or(r.lower), r.value.is_some()))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart: one line per indicator over the periods; hollow points are bounded totals
/// drawn at their least value; gaps where nothing was reported.
pub fn trend_chart(
    t: Tr,
    labels: &[String],
    indicators: &[(String, String)],
    series: &[Vec<Option<(u64, bool)>>],
) -> String {
    let (width, height, left, top, bottom) = (720.0_f64, 300.0_f64, 50.0_f64, 20.0_f64, 90.0_f64);
    let plot_h = height - top - bottom;
    let plot_w = width - left - 20.0;
    let max = series
        .iter()
        .flatten()
        .flatten()
        .map(|(v, _)| *v)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = if labels.len() > 1 {
        plot_w / (labels.len() - 1) as f64
    } else {
        0.0
    };
    let x = |i: usize| left + step * i as f64;
    let y = |v: u64| top + plot_h - plot_h * v as f64 / max;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="trend-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(&t.msg("totals-trend"))
    );
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#aeb8c3"/>"##,
        top + plot_h,
        left + plot_w,
        top + plot_h
    );
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="end">0</text>"#,
        left - 6.0,
        top + 4.0,
        escape(&t.num(max as u64)),
        left - 6.0,
        top + plot_h + 4.0
    );
    for (i, label) in labels.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" transform="rotate(-45 {:.1} {:.1})">{}</text>"#,
            x(i),
            top + plot_h + 16.0,
            x(i),
            top + plot_h + 16.0,
            escape(label)
        );
    }
    for (n, points) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let mut path = String::new();
        for (i, point) in points.iter().enumerate() {
            if let Some((v, _)) = point {
                // A new stroke after a gap (a period nobody reported).
                let gap = path.is_empty() || i.checked_sub(1).is_some_and(|j| points[j].is_none());
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if gap { "M" } else { "L" },
                    x(i),
                    y(*v)
                );
            }
        }
        if !path.is_empty() {
            let _ = write!(
                svg,
                r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                path.trim()
            );
        }
        for (i, point) in points.iter().enumerate() {
            if let Some((v, exact)) = point {
                let fill = if *exact { colour } else { "#fff" };
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{fill}" stroke="{colour}" stroke-width="2"/>"#,
                    x(i),
                    y(*v)
                );
            }
        }
    }
    for (n, (_, title)) in indicators.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let ly = height - 12.0 - 16.0 * (indicators.len() - 1 - n) as f64;
        let _ = write!(
            svg,
            r#"<rect x="{left}" y="{:.1}" width="12" height="4" fill="{colour}"/><text x="{}" y="{:.1}">{}</text>"#,
            ly - 4.0,
            left + 18.0,
            ly,
            escape(title)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal bar chart of one indicator's total by site; a bar drawn hollow is a least
/// value (the site's cell was suppressed).
pub fn bar_chart(t: Tr, title: &str, bars: &[(String, u64, bool)]) -> String {
    let row = 26.0_f64;
    let (width, left, top) = (720.0_f64, 220.0_f64, 24.0_f64);
    let height = top + row * bars.len().max(1) as f64 + 10.0;
    let max = bars.iter().map(|(_, v, _)| *v).max().unwrap_or(0).max(1) as f64;
    let plot_w = width - left - 70.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="sites-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" font-weight="bold">{}</text>"#,
        escape(&t.msg("totals-by-site")),
        escape(title)
    );
    for (i, (name, value, exact)) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let w = (plot_w * *value as f64 / max).max(1.0);
        let (fill, label) = if *exact {
            ("#0b6e4f", t.num(*value))
        } else {
            ("#fff", format!("≥ {}", t.num(*value)))
        };
        let short: String = name.chars().take(30).collect();
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{left}" y="{:.1}" width="{w:.1}" height="16" fill="{fill}" stroke="#0b6e4f"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            left - 6.0,
            y + 12.0,
            escape(&short),
            y,
            left + w + 6.0,
            y + 12.0,
            escape(&label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;

    #[test]
    fn charts_are_svg_with_escaped_labels_and_hollow_bounds() {
        let t = Tr::new(Lang::Vi);
        let svg = trend_chart(
            t,
            &["2026-09".into(), "2026-10".into()],
            &[("a".into(), "Người <mới>".into())],
            &[vec![Some((12, true)), Some((7, false))]],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Người &lt;mới&gt;"));
        assert!(
            svg.contains(r##"fill="#fff""##),
            "a bounded point is hollow"
        );
        let bars = bar_chart(
            t,
            "x",
            &[("Trạm Y tế".into(), 1234, true), ("B".into(), 5, false)],
        );
        assert!(bars.contains("1.234"));
        assert!(bars.contains("≥ 5"));
        assert_eq!(shown(t, None, 5, Some(9)), "5–9");
        assert_eq!(shown(t, Some(1500), 1500, Some(1500)), "1.500");
    }
}
