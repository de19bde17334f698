//! The Excel workbook site officers fill in: the right headers in their language, a drop-down
//! list on every vocabulary column (from the same data file the import reads), date-formatted
//! date columns, and an instructions sheet. The data sheet comes first, since the import
//! reads a workbook's first sheet.

use rust_xlsxwriter::{
    DataValidation, DataValidationErrorStyle, DataValidationRule, ExcelDateTime, Format, Formula,
    Workbook, XlsxError,
};

use crate::import::RecordKind;
use crate::import::headers::{CLIENT_COLUMNS, EVENT_COLUMNS};
use crate::vocab::{self, Lang, Vocabulary};

/// Data rows prepared with drop-down lists and date formats.
pub const TEMPLATE_ROWS: u32 = 5_000;

/// Why a template could not be made.
#[derive(Debug, thiserror::Error)]
#[error("the workbook could not be written: {0}")]
pub struct TemplateError(#[from] XlsxError);

/// Sheet names, per language.
pub fn sheet_names(lang: Lang) -> [&'static str; 3] {
    match lang {
        Lang::En => ["Data", "Lists", "Instructions"],
        Lang::Vi => ["Dữ liệu", "Danh mục", "Hướng dẫn"],
    }
}

/// The vocabulary a column's drop-down list offers, if any.
pub fn column_vocabulary(column: &str) -> Option<Vec<&'static vocab::Entry>> {
    let entries = |v: &'static Vocabulary| v.entries.iter().collect::<Vec<_>>();
    Some(match column {
        "sex" => entries(&vocab::SEX),
        "primary_substance" => entries(&vocab::SUBSTANCE),
        "referral_source" => entries(&vocab::REFERRAL_SOURCE),
        "modality" => entries(&vocab::MODALITY),
        "service" => entries(&vocab::SERVICE),
        "outcome" => {
            let mut all = entries(&vocab::TEST_RESULT);
            all.extend(entries(&vocab::EMPLOYMENT));
            all
        }
        _ => return None,
    })
}

/// Whether a column holds dates.
pub fn is_date_column(column: &str) -> bool {
    matches!(column, "date_of_birth" | "enrolled_on" | "date")
}

/// Writes the template for `kind` with headers and lists in `lang`; returns the `.xlsx` bytes.
pub fn template(kind: RecordKind, lang: Lang) -> Result<Vec<u8>, TemplateError> {
    let columns: &[&str] = match kind {
        RecordKind::Clients => &CLIENT_COLUMNS,
        RecordKind::Events => &EVENT_COLUMNS,
    };
    let [data_name, lists_name, instructions_name] = sheet_names(lang);
    let header_format = Format::new().set_bold();
    let date_format = Format::new().set_num_format("dd/mm/yyyy");
    let mut workbook = Workbook::new();

    // The data sheet comes first (the import reads the first sheet); the lists sheet holds
    // each drop-down's labels, since a list typed into the validation itself may not exceed
    // 255 characters, which the Vietnamese service labels do.
    let listed: Vec<(&str, Vec<&'static vocab::Entry>)> = columns
        .iter()
        .filter_map(|c| column_vocabulary(c).map(|entries| (*c, entries)))
        .collect();
    let lists: Vec<(&str, String)> = listed
        .iter()
        .enumerate()
        .map(|(i, (column, entries))| {
            let letter = column_letter(i as u16);
            let formula = format!(
                "='{lists_name}'!${letter}$2:${letter}${}",
                entries.len() + 1
            );
            (*column, formula)
        })
        .collect();
    {
        let sheet = workbook.add_worksheet();
        sheet.set_name(data_name)?;
        sheet.set_freeze_panes(1, 0)?;
        for (i, column) in columns.iter().enumerate() {
            let at = i as u16;
            sheet.write_string_with_format(0, at, header_label(column, lang), &header_format)?;
            sheet.set_column_width(at, 22)?;
            if is_date_column(column) {
                sheet.set_column_format(at, &date_format)?;
                let validation = DataValidation::new()
                    .allow_date(DataValidationRule::Between(
                        ExcelDateTime::from_ymd(1900, 1, 1)?,
                        ExcelDateTime::from_ymd(2199, 12, 31)?,
                    ))
                    .set_error_style(DataValidationErrorStyle::Stop)
                    .set_error_message(match lang {
                        Lang::En => "Enter a date, e.g. 07/08/2001 (day/month/year).",
                        Lang::Vi => "Nhập ngày, ví dụ 07/08/2001 (ngày/tháng/năm).",
                    })?;
                sheet.add_data_validation(1, at, TEMPLATE_ROWS, at, &validation)?;
            }
            if let Some((_, formula)) = lists.iter().find(|(c, _)| c == column) {
                let validation = DataValidation::new()
                    .allow_list_formula(Formula::new(formula))
                    .set_error_style(DataValidationErrorStyle::Stop)
                    .set_error_message(match lang {
                        Lang::En => "Choose a value from the list.",
                        Lang::Vi => "Chọn một giá trị trong danh sách.",
                    })?;
                sheet.add_data_validation(1, at, TEMPLATE_ROWS, at, &validation)?;
            }
        }
        sheet.set_active(true);
    }
    {
        let sheet = workbook.add_worksheet();
        sheet.set_name(lists_name)?;
        for (i, (column, entries)) in listed.iter().enumerate() {
            let at = i as u16;
            sheet.write_string_with_format(0, at, header_label(column, lang), &header_format)?;
            for (row, entry) in entries.iter().enumerate() {
                sheet.write_string(row as u32 + 1, at, entry.label(lang))?;
            }
            sheet.set_column_width(at, 36)?;
        }
    }
    {
        let sheet = workbook.add_worksheet();
        sheet.set_name(instructions_name)?;
        sheet.set_column_width(0, 110)?;
        let wrap = Format::new().set_text_wrap();
        for (i, line) in instructions(kind, lang).iter().enumerate() {
            let format = if i == 0 { &header_format } else { &wrap };
            sheet.write_string_with_format(i as u32, 0, *line, format)?;
        }
    }
    Ok(workbook.save_to_buffer()?)
}

fn header_label(column: &str, lang: Lang) -> &'static str {
    vocab::column(column).map_or("", |c| c.label(lang))
}

fn column_letter(column: u16) -> String {
    let mut n = u32::from(column) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

fn instructions(kind: RecordKind, lang: Lang) -> Vec<&'static str> {
    match (lang, kind) {
        (Lang::En, _) => vec![
            "How to fill in this workbook",
            "Enter one row per record on the first sheet, from row 2. Keep the header row as it is; columns may be moved, and extra columns (No., Notes) are ignored.",
            "Choose values in the columns with a drop-down list from the list; the Lists sheet shows every value.",
            "Enter dates as dates (e.g. 07/08/2001 for 7 August 2001); dates after today are refused.",
            "Client codes must be unique. Name, date of birth, phone, national ID and address may be left out by sites that only use codes.",
            "Import with: quietcount-node import --dir <data directory> <this file>. A file with any error imports nothing; the errors list the rows to fix.",
        ],
        (Lang::Vi, _) => vec![
            "Cách điền bảng tính này",
            "Nhập mỗi hồ sơ một dòng ở trang đầu tiên, từ dòng 2. Giữ nguyên dòng tiêu đề; có thể đổi thứ tự cột, các cột thêm (STT, Ghi chú) sẽ được bỏ qua.",
            "Ở các cột có danh sách thả xuống, hãy chọn giá trị trong danh sách; trang Danh mục liệt kê mọi giá trị.",
            "Nhập ngày dưới dạng ngày (ví dụ 07/08/2001 là ngày 7 tháng 8 năm 2001); ngày sau hôm nay sẽ bị từ chối.",
            "Mã khách hàng không được trùng. Họ tên, ngày sinh, điện thoại, CCCD và địa chỉ có thể bỏ trống nếu cơ sở chỉ dùng mã.",
            "Nhập dữ liệu bằng lệnh: quietcount-node import --dir <thư mục dữ liệu> <tệp này>. Tệp có lỗi sẽ không được nhập dòng nào; danh sách lỗi cho biết các dòng cần sửa.",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
    }
}
