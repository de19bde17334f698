//! What each revision of a site's report changed since the previous one, for the site page:
//! the number of client records the site says changed (`changed_records`, when stated) and
//! which published cells changed value, read from the two envelopes the store keeps. Pure:
//! the caller opens the envelopes.

use quietcount_protocol::form::Dimension;
use quietcount_protocol::report::Cell;
use quietcount_protocol::{Form, SiteReport};

use super::i18n::Tr;

/// At most this many changed cells are named; the rest are counted.
pub const NAMED_CELLS: usize = 5;

/// What a revision changed, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionChanges {
    /// The site's statement of changed records, or that it stated none.
    pub records: String,
    /// How many published cells changed value.
    pub cell_count: usize,
    /// The first [`NAMED_CELLS`] of them: `indicator — place: before → after`.
    pub cells: Vec<String>,
}

/// What `after` changed since `before` (the previous revision of the same site, form and
/// period); `form` names indicators and categories when the coordinator accepts it.
pub fn changes(
    t: Tr,
    form: Option<&Form>,
    before: &SiteReport,
    after: &SiteReport,
) -> RevisionChanges {
    let records = match after.changed_records {
        Some(n) => t.arg("site-changed-records", "count", &t.num(n)),
        None => t.msg("site-changed-records-unstated"),
    };
    let mut cell_count = 0;
    let mut cells = Vec::new();
    for (now, was) in after.indicators.iter().zip(&before.indicators) {
        let indicator = form
            .and_then(|f| f.indicator(&now.indicator))
            .map_or_else(|| now.indicator.clone(), |i| words(t, &i.title));
        for (table, old) in now.tables.iter().zip(&was.tables) {
            let dims: Option<Vec<&Dimension>> = form.map(|f| {
                table
                    .dimensions
                    .iter()
                    .filter_map(|d| f.dimension(d))
                    .collect()
            });
            for (index, (new_cell, old_cell)) in table.cells.iter().zip(&old.cells).enumerate() {
                if new_cell == old_cell {
                    continue;
                }
                cell_count += 1;
                if cells.len() < NAMED_CELLS {
                    let place = match &dims {
                        Some(dims) if dims.len() == table.dimensions.len() => place(t, dims, index),
                        _ => t.arg("site-cell-number", "number", &(index + 1).to_string()),
                    };
                    cells.push(format!(
                        "{indicator} — {place}: {} → {}",
                        cell_text(t, *old_cell),
                        cell_text(t, *new_cell)
                    ));
                }
            }
        }
    }
    RevisionChanges {
        records,
        cell_count,
        cells,
    }
}

fn words(t: Tr, text: &quietcount_protocol::form::Text) -> String {
    super::text(t, text)
}

fn cell_text(t: Tr, cell: Cell) -> String {
    match cell {
        Cell::Exact(n) => t.num(n),
        Cell::Suppressed => "▪".into(),
    }
}

/// Where cell `index` of a table over `dims` sits, in words (`Sex: Female × Age: 18-24`; an
/// index past a dimension's categories is its total).
fn place(t: Tr, dims: &[&Dimension], index: usize) -> String {
    if dims.is_empty() {
        return t.msg("site-cell-total");
    }
    let shape =
        quietcount_protocol::table::Shape::new(dims.iter().map(|d| d.categories.len()).collect());
    shape
        .coords(index)
        .iter()
        .zip(dims)
        .map(|(c, d)| {
            let label = d.categories.get(*c).map_or_else(
                || t.msg("site-cell-total"),
                |category| words(t, &category.title),
            );
            format!("{}: {label}", words(t, &d.title))
        })
        .collect::<Vec<_>>()
        .join(" × ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;
    use quietcount_protocol::testing::SyntheticReport;
    use quietcount_protocol::{Period, SiteId};

    #[test]
    fn a_revision_names_the_records_it_says_changed_and_the_cells_that_did() {
        let form = Form::default_monthly();
        let site = SiteId::new("hn-01").unwrap();
        let period = Period::parse("2026-10").unwrap();
        let first = SyntheticReport::new(&form, site, period)
            .seed(3)
            .build_unsuppressed();
        let vi = Tr::new(Lang::Vi);
        let en = Tr::new(Lang::En);
        // The same figures, no statement: nothing changed.
        let mut second = first.clone();
        second.revision = 2;
        let same = changes(vi, Some(&form), &first, &second);
        assert_eq!(same.cell_count, 0);
        assert!(same.cells.is_empty());
        assert_eq!(same.records, vi.msg("site-changed-records-unstated"));
        // One cell one higher, and its total; four records said to have changed.
        second.changed_records = Some(4);
        let table = &mut second.indicators[0].tables[0];
        let total = table.cells.len() - 1;
        for index in [0, total] {
            if let Cell::Exact(n) = table.cells[index] {
                table.cells[index] = Cell::Exact(n + 1);
            }
        }
        let Cell::Exact(before) = first.indicators[0].tables[0].cells[0] else {
            panic!("unsuppressed");
        };
        let changed = changes(vi, Some(&form), &first, &second);
        assert_eq!(changed.cell_count, 2);
        assert!(changed.records.contains('4'), "{}", changed.records);
        let title = &form.indicators[0].title;
        assert!(
            changed.cells[0].starts_with(&title.vi),
            "{:?}",
            changed.cells
        );
        assert!(
            changed.cells[0].ends_with(&format!("{} → {}", vi.num(before), vi.num(before + 1))),
            "{:?}",
            changed.cells
        );
        assert!(
            changed.cells[1].contains(&vi.msg("site-cell-total")),
            "{:?}",
            changed.cells
        );
        let english = changes(en, Some(&form), &first, &second);
        assert!(english.cells[0].starts_with(&title.en));
        assert!(
            english.records.contains("4 client record"),
            "{}",
            english.records
        );
        // Without the form (not accepted any more): the cell by its number.
        let bare = changes(en, None, &first, &second);
        assert!(
            bare.cells[0].contains(&form.indicators[0].id),
            "{:?}",
            bare.cells
        );
        assert!(bare.cells[0].contains("cell 1"), "{:?}", bare.cells);
        // Suppressed cells show as such; past NAMED_CELLS the rest are only counted.
        let mut many = first.clone();
        for indicator in &mut many.indicators {
            for table in &mut indicator.tables {
                for cell in &mut table.cells {
                    *cell = Cell::Suppressed;
                }
            }
        }
        let hidden = changes(vi, Some(&form), &first, &many);
        assert!(hidden.cell_count > NAMED_CELLS);
        assert_eq!(hidden.cells.len(), NAMED_CELLS);
        assert!(hidden.cells[0].ends_with("▪"), "{:?}", hidden.cells);
    }
}
