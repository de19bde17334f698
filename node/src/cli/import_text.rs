//! What `import` prints, in English or Vietnamese: how the file was read, the columns
//! ignored, the summary, the warnings, and a refusal's problems grouped by column and
//! problem with their rows ("`service` (column 3): 2 unknown labels on 28 rows: 9, 24, …;
//! did you mean `Xét nghiệm nước tiểu`?"). Only vocabulary labels from the data file and
//! column headers are ever shown, never a value read from the file.

use std::fmt::Write as _;

use quietcount_node::import::{SourceFormat, TextEncoding, template};
use quietcount_node::vocab::{self, Lang};
use quietcount_node::{
    ImportError, ImportSummary, Imported, Problem, ProblemGroup, RecordKind, Warning, WarningGroup,
};

/// Rows listed before "…".
const ROWS_SHOWN: usize = 10;
/// Vocabularies up to this size are listed in full after an unknown label.
const LISTED_VOCABULARY: usize = 6;

/// The language of the user's locale: Vietnamese when `LC_ALL`, `LC_MESSAGES` or `LANG`
/// (the first one set) starts with `vi`, else English.
pub fn locale_lang() -> Lang {
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    if locale.to_ascii_lowercase().starts_with("vi") {
        Lang::Vi
    } else {
        Lang::En
    }
}

/// What a successful import did: how the file was read, columns ignored, the summary, then
/// the warnings.
pub fn imported(imported: &Imported, lang: Lang) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", format_line(&imported.format, lang));
    if !imported.ignored_columns.is_empty() {
        let list = imported.ignored_columns.join(", ");
        let _ = match lang {
            Lang::En => writeln!(out, "columns ignored: {list}"),
            Lang::Vi => writeln!(out, "các cột bỏ qua: {list}"),
        };
    }
    out.push_str(&summary(&imported.summary, lang));
    for group in &imported.warnings {
        out.push('\n');
        out.push_str(&warning(group, lang));
    }
    out
}

/// How the file was read, with the encoding assumed when it was not UTF-8 or UTF-16.
pub fn format_line(format: &SourceFormat, lang: Lang) -> String {
    match format {
        SourceFormat::Workbook { sheet } => match lang {
            Lang::En => format!("read the workbook's first sheet ({sheet})"),
            Lang::Vi => format!("đã đọc trang đầu tiên của bảng tính ({sheet})"),
        },
        SourceFormat::Text {
            encoding,
            separator,
        } => {
            let separator = match separator {
                '\t' => match lang {
                    Lang::En => "tab".to_owned(),
                    Lang::Vi => "tab".to_owned(),
                },
                c => format!("`{c}`"),
            };
            let encoding = match (encoding, lang) {
                (TextEncoding::Utf8, _) => "UTF-8",
                (TextEncoding::Utf16Le, _) => "UTF-16 LE",
                (TextEncoding::Utf16Be, _) => "UTF-16 BE",
                (TextEncoding::Windows1258Assumed, Lang::En) => {
                    "Windows-1258 (not UTF-8, so assumed: Excel's plain CSV on Vietnamese Windows)"
                }
                (TextEncoding::Windows1258Assumed, Lang::Vi) => {
                    "Windows-1258 (không phải UTF-8 nên giả định là CSV thường của Excel trên Windows tiếng Việt)"
                }
            };
            match lang {
                Lang::En => format!("read as {encoding} text separated by {separator}"),
                Lang::Vi => format!("đã đọc dạng văn bản {encoding}, phân cách bằng {separator}"),
            }
        }
    }
}

/// What an import wrote.
pub fn summary(summary: &ImportSummary, lang: Lang) -> String {
    match (lang, summary) {
        (Lang::En, _) => crate::cli::render::import_summary(summary),
        (
            Lang::Vi,
            ImportSummary::Clients {
                rows,
                inserted,
                updated,
                unchanged,
            },
        ) => format!(
            "khách hàng: {rows} dòng; {inserted} mới, {updated} cập nhật, {unchanged} không đổi"
        ),
        (
            Lang::Vi,
            ImportSummary::Events {
                rows,
                inserted,
                already_present,
            },
        ) => format!("dịch vụ: {rows} dòng; {inserted} mới, {already_present} đã có"),
    }
}

/// A refused import, for the terminal; `None` for errors shown as they are.
pub fn refusal(error: &ImportError, lang: Lang) -> Option<String> {
    match error {
        ImportError::BadRows {
            file,
            problems,
            groups,
        } => {
            let rows = {
                let mut rows: Vec<u64> = problems.iter().map(|p| p.line).collect();
                rows.dedup();
                rows.len()
            };
            let mut out = match lang {
                Lang::En => format!(
                    "{}: {rows} bad row(s); nothing was imported:",
                    file.display()
                ),
                Lang::Vi => format!(
                    "{}: {rows} dòng có lỗi; chưa nhập dòng nào:",
                    file.display()
                ),
            };
            for group in groups {
                out.push_str("\n  ");
                out.push_str(&problem_group(group, lang));
            }
            Some(out)
        }
        ImportError::AmbiguousDateOrder {
            file,
            rows,
            conflicting,
        } => Some(match lang {
            Lang::En => format!(
                "{}: dates written with slashes (such as 07/08/2001) {} {}; say which order the file uses: --date-order dmy (day first, 07/08/2001 is 7 August) or --date-order mdy (month first, 8 July); nothing was imported",
                file.display(),
                if *conflicting {
                    "are day-first on some rows and month-first on others"
                } else {
                    "could be day-first or month-first"
                },
                row_phrase(rows, lang)
            ),
            Lang::Vi => format!(
                "{}: ngày viết có dấu gạch chéo (như 07/08/2001) {} {}; hãy cho biết thứ tự tệp dùng: --date-order dmy (ngày trước, 07/08/2001 là 7 tháng 8) hoặc --date-order mdy (tháng trước, 8 tháng 7); chưa nhập dòng nào",
                file.display(),
                if *conflicting {
                    "có dòng ngày trước, có dòng tháng trước"
                } else {
                    "có thể đọc ngày trước hoặc tháng trước"
                },
                row_phrase(rows, lang)
            ),
        }),
        ImportError::MissingColumns {
            file,
            kind,
            missing,
        } => {
            let names: Vec<String> = missing
                .iter()
                .map(|c| format!("`{}`", column_name(c, lang)))
                .collect();
            Some(match (lang, kind) {
                (Lang::En, RecordKind::Clients) => format!(
                    "{}: a clients file needs the column(s) {}",
                    file.display(),
                    names.join(", ")
                ),
                (Lang::En, RecordKind::Events) => format!(
                    "{}: a services file needs the column(s) {}",
                    file.display(),
                    names.join(", ")
                ),
                (Lang::Vi, RecordKind::Clients) => format!(
                    "{}: tệp khách hàng cần có cột {}",
                    file.display(),
                    names.join(", ")
                ),
                (Lang::Vi, RecordKind::Events) => format!(
                    "{}: tệp dịch vụ cần có cột {}",
                    file.display(),
                    names.join(", ")
                ),
            })
        }
        ImportError::UnknownHeader { file } => Some(match lang {
            Lang::En => format!(
                "{}: header not recognised; the first row must name the columns, e.g. `{}` for clients or `{}` for services (English or Vietnamese; `quietcount-node template` writes a workbook with the right headers)",
                file.display(),
                headers(RecordKind::Clients, Lang::En),
                headers(RecordKind::Events, Lang::En)
            ),
            Lang::Vi => format!(
                "{}: không nhận ra dòng tiêu đề; dòng đầu tiên phải ghi tên cột, ví dụ `{}` cho khách hàng hoặc `{}` cho dịch vụ (tiếng Việt hoặc tiếng Anh; lệnh `quietcount-node template` tạo bảng tính có sẵn tiêu đề đúng)",
                file.display(),
                headers(RecordKind::Clients, Lang::Vi),
                headers(RecordKind::Events, Lang::Vi)
            ),
        }),
        _ => None,
    }
}

fn headers(kind: RecordKind, lang: Lang) -> String {
    let columns: &[&str] = match kind {
        RecordKind::Clients => &quietcount_node::import::CLIENT_COLUMNS,
        RecordKind::Events => &quietcount_node::import::EVENT_COLUMNS,
    };
    columns
        .iter()
        .map(|c| column_name(c, lang))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column as messages name it: its id in English (as in the English header), its
/// Vietnamese header in Vietnamese.
fn column_name(id: &str, lang: Lang) -> String {
    match lang {
        Lang::En => id.to_owned(),
        Lang::Vi => vocab::column(id).map_or_else(|| id.to_owned(), |c| c.vi.clone()),
    }
}

fn column_prefix(column: Option<(usize, &'static str)>, lang: Lang) -> String {
    match (column, lang) {
        (Some((number, name)), Lang::En) => {
            format!("`{}` (column {number}): ", column_name(name, lang))
        }
        (Some((number, name)), Lang::Vi) => {
            format!("`{}` (cột {number}): ", column_name(name, lang))
        }
        (None, _) => String::new(),
    }
}

/// "on 28 rows: 9, 24, … (18 more)".
fn row_phrase(rows: &[u64], lang: Lang) -> String {
    let mut list: Vec<String> = rows.iter().take(ROWS_SHOWN).map(u64::to_string).collect();
    if rows.len() > ROWS_SHOWN {
        list.push(match lang {
            Lang::En => format!("… ({} more)", rows.len() - ROWS_SHOWN),
            Lang::Vi => format!("… (thêm {})", rows.len() - ROWS_SHOWN),
        });
    }
    let list = list.join(", ");
    match (lang, rows.len()) {
        (Lang::En, 1) => format!("on row {list}"),
        (Lang::En, n) => format!("on {n} rows: {list}"),
        (Lang::Vi, 1) => format!("ở dòng {list}"),
        (Lang::Vi, n) => format!("ở {n} dòng: {list}"),
    }
}

/// One group of problems on one line.
pub fn problem_group(group: &ProblemGroup, lang: Lang) -> String {
    let column = group.column.map(|(_, name)| name);
    let what = match (&group.problem, lang) {
        (Problem::Missing, Lang::En) => "empty, but required".to_owned(),
        (Problem::Missing, Lang::Vi) => "để trống nhưng bắt buộc".to_owned(),
        (Problem::UnknownValue { .. }, Lang::En) => match group.distinct_labels {
            1 => "an unknown label".to_owned(),
            n => format!("{n} unknown labels"),
        },
        (Problem::UnknownValue { .. }, Lang::Vi) => match group.distinct_labels {
            1 => "một giá trị không nhận ra".to_owned(),
            n => format!("{n} giá trị không nhận ra"),
        },
        (Problem::BadDate, Lang::En) => {
            "not a date (write DD/MM/YYYY, YYYY-MM-DD, DD-MM-YYYY or DD.MM.YYYY)".to_owned()
        }
        (Problem::BadDate, Lang::Vi) => {
            "không phải ngày (viết DD/MM/YYYY, YYYY-MM-DD, DD-MM-YYYY hoặc DD.MM.YYYY)".to_owned()
        }
        (Problem::UnexpectedOutcome, Lang::En) => "this service takes no outcome".to_owned(),
        (Problem::UnexpectedOutcome, Lang::Vi) => "dịch vụ này không ghi kết quả".to_owned(),
        (Problem::UnknownClient, Lang::En) => {
            "no client with this code has been imported".to_owned()
        }
        (Problem::UnknownClient, Lang::Vi) => "chưa nhập khách hàng nào có mã này".to_owned(),
        (Problem::RepeatedClientCode { .. }, Lang::En) => {
            "client code repeated in the file".to_owned()
        }
        (Problem::RepeatedClientCode { .. }, Lang::Vi) => {
            "mã khách hàng bị trùng trong tệp".to_owned()
        }
        (Problem::FieldCount { expected, .. }, Lang::En) => {
            format!("wrong number of fields (the header has {expected})")
        }
        (Problem::FieldCount { expected, .. }, Lang::Vi) => {
            format!("sai số ô (dòng tiêu đề có {expected})")
        }
        (Problem::InFuture, Lang::En) => "a date after today".to_owned(),
        (Problem::InFuture, Lang::Vi) => "ngày sau hôm nay".to_owned(),
        (Problem::EnrolledBeforeBirth, Lang::En) => "enrolment before the date of birth".to_owned(),
        (Problem::EnrolledBeforeBirth, Lang::Vi) => "ngày tiếp nhận trước ngày sinh".to_owned(),
        (Problem::ServiceLongBeforeEnrolment, Lang::En) => {
            "more than a year before the client's enrolment (wrong year?)".to_owned()
        }
        (Problem::ServiceLongBeforeEnrolment, Lang::Vi) => {
            "sớm hơn ngày tiếp nhận của khách hàng hơn một năm (sai năm?)".to_owned()
        }
        (_, Lang::En) => "not readable (check the quotes on this row)".to_owned(),
        (_, Lang::Vi) => "không đọc được (kiểm tra dấu ngoặc kép ở dòng này)".to_owned(),
    };
    let mut line = format!(
        "{}{what} {}",
        column_prefix(group.column, lang),
        row_phrase(&group.rows, lang)
    );
    if let (Problem::UnknownValue { .. }, Some(column)) = (&group.problem, column) {
        line.push_str(&label_help(column, &group.suggestions, lang));
    }
    line
}

/// "; did you mean `X`?", or the accepted labels of a short vocabulary.
fn label_help(column: &str, suggestions: &[&'static str], lang: Lang) -> String {
    let Some(entries) = template::column_vocabulary(column) else {
        return String::new();
    };
    let label = |code: &str| {
        entries
            .iter()
            .find(|e| e.code == code)
            .map_or_else(|| code.to_owned(), |e| format!("`{}`", e.label(lang)))
    };
    if !suggestions.is_empty() {
        let names: Vec<String> = suggestions.iter().map(|c| label(c)).collect();
        return match lang {
            Lang::En => format!("; did you mean {}?", names.join(" or ")),
            Lang::Vi => format!("; có phải là {}?", names.join(" hoặc ")),
        };
    }
    if entries.len() <= LISTED_VOCABULARY {
        let names: Vec<String> = entries
            .iter()
            .map(|e| format!("`{}`", e.label(lang)))
            .collect();
        return match lang {
            Lang::En => format!("; expected one of {}", names.join(", ")),
            Lang::Vi => format!("; cần là một trong {}", names.join(", ")),
        };
    }
    match lang {
        Lang::En => {
            "; the Lists sheet of `quietcount-node template` shows every accepted label".to_owned()
        }
        Lang::Vi => {
            "; trang Danh mục của `quietcount-node template` liệt kê mọi giá trị".to_owned()
        }
    }
}

/// One group of warnings on one line.
pub fn warning(group: &WarningGroup, lang: Lang) -> String {
    let what = match (group.warning, lang) {
        (Warning::AgeUnder10, Lang::En) => "under 10 years old at enrolment".to_owned(),
        (Warning::AgeUnder10, Lang::Vi) => "dưới 10 tuổi khi tiếp nhận".to_owned(),
        (Warning::AgeOver90, Lang::En) => "over 90 years old at enrolment".to_owned(),
        (Warning::AgeOver90, Lang::Vi) => "trên 90 tuổi khi tiếp nhận".to_owned(),
        (Warning::ServiceBeforeEnrolment, Lang::En) => {
            "a service before the client's enrolment".to_owned()
        }
        (Warning::ServiceBeforeEnrolment, Lang::Vi) => {
            "dịch vụ trước ngày tiếp nhận khách hàng".to_owned()
        }
        (_, Lang::En) => "implausible".to_owned(),
        (_, Lang::Vi) => "bất thường".to_owned(),
    };
    let prefix = match lang {
        Lang::En => "warning (imported; check)",
        Lang::Vi => "cảnh báo (đã nhập; hãy kiểm tra)",
    };
    format!(
        "{prefix}: {}{what} {}",
        column_prefix(Some(group.column), lang),
        row_phrase(&group.rows, lang)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown_services(rows: Vec<u64>) -> ProblemGroup {
        ProblemGroup {
            column: Some((3, "service")),
            problem: Problem::UnknownValue {
                expected: vec![],
                suggestion: Some("urine_test"),
            },
            rows,
            distinct_labels: 2,
            suggestions: vec!["urine_test"],
        }
    }

    #[test]
    fn grouped_problems_read_in_both_languages() {
        let rows: Vec<u64> = (1..=28).map(|i| 8 + i).collect();
        let group = unknown_services(rows);
        assert_eq!(
            problem_group(&group, Lang::En),
            "`service` (column 3): 2 unknown labels on 28 rows: 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, … (18 more); did you mean `Urine test`?"
        );
        assert_eq!(
            problem_group(&group, Lang::Vi),
            "`Dịch vụ` (cột 3): 2 giá trị không nhận ra ở 28 dòng: 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, … (thêm 18); có phải là `Xét nghiệm nước tiểu`?"
        );
    }
}
