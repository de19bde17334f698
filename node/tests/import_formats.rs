//! Import of the files Excel actually writes: `;` and tab separators, UTF-16 LE and BE,
//! Windows-1258, CRLF with a line break inside a cell, `.xlsx` with real dates, Vietnamese
//! headers with extra columns and without identity columns, slash dates whose order is open,
//! impossible and implausible dates; grouped problems in English and Vietnamese; the
//! template workbook read back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use calamine::Reader as _;
use common::{NOV_10_2026, fresh_node};
use quietcount_node::dates::Date;
use quietcount_node::import::{SourceFormat, TextEncoding, template};
use quietcount_node::vocab::Lang;
use quietcount_node::{
    DateOrder, ImportError, ImportOptions, ImportSummary, Imported, Node, NodeError, Problem,
    RecordKind, Warning,
};
use unicode_normalization::UnicodeNormalization as _;

const BINARY: &str = env!("CARGO_BIN_EXE_quietcount-node");

/// Clients in Vietnamese: a numbering column, a notes column, and no phone, national ID or
/// address columns (a site that keeps only codes and names).
const VIETNAMESE_CLIENTS: &[&[&str]] = &[
    &[
        "STT",
        "Mã khách hàng",
        "Họ và tên",
        "Ngày sinh",
        "Giới tính",
        "Chất sử dụng chính",
        "Nguồn giới thiệu",
        "Ngày tiếp nhận",
        "Hình thức",
        "Ghi chú",
    ],
    &[
        "1",
        "VN-01",
        "Nguyễn Thị Hữu",
        "22/05/1992",
        "Nữ giới",
        "Ma túy đá",
        "Đồng đẳng viên",
        "03/10/2026",
        "Tự nguyện",
        "",
    ],
    &[
        "2",
        "VN-02",
        "Trần Văn Ước",
        "1985-01-31 00:00:00",
        "Nam giới",
        "Chất dạng thuốc phiện",
        "Công an",
        "15.09.2026",
        "Bắt buộc",
        "đã chuyển",
    ],
];

fn options() -> ImportOptions {
    ImportOptions::at(NOV_10_2026)
}

fn delimited(rows: &[&[&str]], separator: &str, newline: &str) -> String {
    rows.iter()
        .map(|r| r.join(separator))
        .collect::<Vec<_>>()
        .join(newline)
        + newline
}

async fn import(node: &Node, name: &str, bytes: &[u8]) -> Result<Imported, NodeError> {
    node.import_bytes(bytes, Path::new(name), &options(), |_| {})
        .await
}

fn bad_rows(
    error: NodeError,
) -> (
    Vec<quietcount_node::RowProblem>,
    Vec<quietcount_node::ProblemGroup>,
) {
    match error {
        NodeError::Import(ImportError::BadRows {
            problems, groups, ..
        }) => (problems, groups),
        other => panic!("expected bad rows, got {other}"),
    }
}

/// Checks the two Vietnamese clients arrived as codes and dates, in NFC, with no identity
/// columns but the name.
async fn assert_vietnamese_clients(node: &Node, imported: &Imported) {
    assert_eq!(
        imported.summary,
        ImportSummary::Clients {
            rows: 2,
            inserted: 2,
            updated: 0,
            unchanged: 0
        }
    );
    assert_eq!(imported.ignored_columns, ["STT", "Ghi chú"]);
    let one = common::client(node, "VN-01").await.unwrap();
    assert_eq!(one.full_name, "Nguyễn Thị Hữu".nfc().collect::<String>());
    assert_eq!(
        (
            one.sex,
            one.primary_substance,
            one.referral_source,
            one.modality
        ),
        ("female", Some("methamphetamine"), "peer", "voluntary")
    );
    assert_eq!(one.date_of_birth, Date::new(1992, 5, 22));
    assert_eq!(one.enrolled_on, Date::new(2026, 10, 3).unwrap());
    assert_eq!(
        (
            one.phone.as_str(),
            one.national_id.as_str(),
            one.address.as_str()
        ),
        ("", "", "")
    );
    let two = common::client(node, "VN-02").await.unwrap();
    assert_eq!(
        (
            two.sex,
            two.primary_substance,
            two.referral_source,
            two.modality
        ),
        ("male", Some("opioids"), "police", "compulsory")
    );
    assert_eq!(two.date_of_birth, Date::new(1985, 1, 31));
    assert_eq!(two.enrolled_on, Date::new(2026, 9, 15).unwrap());
}

#[tokio::test]
async fn semicolon_csv_with_bom_crlf_vietnamese_headers_and_extra_columns() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(delimited(VIETNAMESE_CLIENTS, ";", "\r\n").as_bytes());
    let imported = import(&node, "vn.csv", &bytes).await.unwrap();
    assert_eq!(
        imported.format,
        SourceFormat::Text {
            encoding: TextEncoding::Utf8,
            separator: ';'
        }
    );
    assert_vietnamese_clients(&node, &imported).await;
}

#[tokio::test]
async fn tab_separated_utf16_little_and_big_endian() {
    let text = delimited(VIETNAMESE_CLIENTS, "\t", "\r\n");
    for (bom, little_endian, encoding) in [
        ([0xff, 0xfe], true, TextEncoding::Utf16Le),
        ([0xfe, 0xff], false, TextEncoding::Utf16Be),
    ] {
        let root = tempfile::tempdir().unwrap();
        let node = fresh_node(root.path()).await;
        let mut bytes = bom.to_vec();
        for unit in text.encode_utf16() {
            bytes.extend(if little_endian {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        let imported = import(&node, "unicode.txt", &bytes).await.unwrap();
        assert_eq!(
            imported.format,
            SourceFormat::Text {
                encoding,
                separator: '\t'
            }
        );
        assert_vietnamese_clients(&node, &imported).await;
    }
}

#[tokio::test]
async fn windows_1258_is_the_fallback_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let bytes = common::windows_1258(&delimited(VIETNAMESE_CLIENTS, ",", "\r\n"));
    assert!(std::str::from_utf8(&bytes).is_err(), "not UTF-8");
    let imported = import(&node, "excel.csv", &bytes).await.unwrap();
    assert_eq!(
        imported.format,
        SourceFormat::Text {
            encoding: TextEncoding::Windows1258Assumed,
            separator: ','
        }
    );
    assert_vietnamese_clients(&node, &imported).await;
}

#[tokio::test]
async fn rows_are_numbered_as_excel_shows_them_in_crlf_files_with_line_breaks_in_cells() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let header = "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality";
    let text = [
        header,
        "C1,An,1990-01-01,male,,,\"Ngõ 5\r\nPhường Cầu Diễn\r\nHà Nội\",opioids,police,2026-01-01,voluntary",
        "",
        "C2,Bình,1990-01-01,mail,,,Hà Nội,opioids,police,2026-01-01,voluntary",
        ",,,,,,,,,,",
        "C3,Cúc,1990-01-01,female,,,Hà Nội,opioids,police,2026-01-01,sometimes",
    ]
    .join("\r\n");
    let (problems, _) = bad_rows(
        import(&node, "crlf.csv", text.as_bytes())
            .await
            .unwrap_err(),
    );
    // Excel shows: 1 header, 2 C1 (one row, three lines tall), 3 blank, 4 C2, 5 empty, 6 C3.
    let found: Vec<(u64, Option<usize>)> = problems
        .iter()
        .map(|p| (p.line, p.column.map(|c| c.0)))
        .collect();
    assert_eq!(found, [(4, Some(4)), (6, Some(11))]);
}

#[tokio::test]
async fn xlsx_with_real_dates_blank_rows_and_vietnamese_headers() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    for (column, header) in VIETNAMESE_CLIENTS[0].iter().enumerate() {
        sheet.write_string(0, column as u16, *header).unwrap();
    }
    // Row 2 of Excel is left blank; the clients are on rows 3 and 4.
    for (row, values) in VIETNAMESE_CLIENTS[1..].iter().enumerate() {
        let row = row as u32 + 2;
        for (column, value) in values.iter().enumerate() {
            let column = column as u16;
            match column {
                0 => {
                    sheet
                        .write_number(row, column, value.parse::<f64>().unwrap())
                        .unwrap();
                }
                3 | 7 => {
                    let (year, month, day) = match *value {
                        "22/05/1992" => (1992, 5, 22),
                        "1985-01-31 00:00:00" => (1985, 1, 31),
                        "03/10/2026" => (2026, 10, 3),
                        "15.09.2026" => (2026, 9, 15),
                        other => panic!("no date for {other}"),
                    };
                    let when = rust_xlsxwriter::ExcelDateTime::from_ymd(year, month, day).unwrap();
                    sheet
                        .write_datetime_with_format(row, column, &when, &date)
                        .unwrap();
                }
                _ => {
                    sheet.write_string(row, column, *value).unwrap();
                }
            }
        }
    }
    let bytes = workbook.save_to_buffer().unwrap();
    let imported = import(&node, "clients.xlsx", &bytes).await.unwrap();
    assert!(matches!(imported.format, SourceFormat::Workbook { .. }));
    assert_vietnamese_clients(&node, &imported).await;

    // A bad value in a workbook is named by the row Excel shows.
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (column, header) in ["Client Code", "Date", "Service", "Outcome"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, column as u16, *header).unwrap();
    }
    let when = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 10, 5).unwrap();
    for row in [1u32, 4] {
        sheet.write_string(row, 0, "VN-01").unwrap();
        sheet
            .write_datetime_with_format(row, 1, &when, &date)
            .unwrap();
        sheet
            .write_string(
                row,
                2,
                if row == 4 {
                    "Xet nghiem nuoc tieuu"
                } else {
                    "XN nước tiểu"
                },
            )
            .unwrap();
        sheet.write_string(row, 3, "Âm tính").unwrap();
    }
    let bytes = workbook.save_to_buffer().unwrap();
    let (problems, groups) = bad_rows(import(&node, "services.xlsx", &bytes).await.unwrap_err());
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0].line, problems[0].column),
        (5, Some((3, "service")))
    );
    assert_eq!(groups[0].suggestions, ["urine_test"]);
    assert_eq!(
        node.store().count_events().await.unwrap(),
        0,
        "nothing written"
    );
}

fn clients_with_dates(rows: &[(&str, &str, &str)]) -> String {
    let mut text = String::from(
        "client_code,date_of_birth,sex,primary_substance,referral_source,enrolled_on,modality\n",
    );
    for (code, born, enrolled) in rows {
        text.push_str(&format!(
            "{code},{born},male,opioids,police,{enrolled},voluntary\n"
        ));
    }
    text
}

#[tokio::test]
async fn slash_dates_of_open_order_are_refused_until_the_order_is_given() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let text = clients_with_dates(&[
        ("A", "07/08/2001", "2026-10-01"),
        ("B", "05/05/1990", "01/02/2026"),
    ]);
    let error = import(&node, "open.csv", text.as_bytes())
        .await
        .unwrap_err();
    let NodeError::Import(ImportError::AmbiguousDateOrder {
        rows, conflicting, ..
    }) = &error
    else {
        panic!("expected an ambiguous date order, got {error}");
    };
    assert_eq!((rows.as_slice(), *conflicting), (&[2u64, 3][..], false));
    assert_eq!(node.store().count_clients().await.unwrap(), 0);

    for (order, born, enrolled) in [
        (DateOrder::DayMonthYear, (2001, 8, 7), (2026, 2, 1)),
        (DateOrder::MonthDayYear, (2001, 7, 8), (2026, 1, 2)),
    ] {
        let options = ImportOptions {
            date_order: Some(order),
            ..options()
        };
        node.import_bytes(text.as_bytes(), Path::new("open.csv"), &options, |_| {})
            .await
            .unwrap();
        let a = common::client(&node, "A").await.unwrap();
        assert_eq!(a.date_of_birth, Date::new(born.0, born.1, born.2));
        let b = common::client(&node, "B").await.unwrap();
        assert_eq!(
            b.enrolled_on,
            Date::new(enrolled.0, enrolled.1, enrolled.2).unwrap()
        );
    }

    // A day over 12 settles the order; day-first and month-first in one file conflict.
    let settled = clients_with_dates(&[
        ("A", "07/08/2001", "2026-10-01"),
        ("B", "22/05/1990", "2026-10-01"),
    ]);
    import(&node, "settled.csv", settled.as_bytes())
        .await
        .unwrap();
    let a = common::client(&node, "A").await.unwrap();
    assert_eq!(a.date_of_birth, Date::new(2001, 8, 7));
    let mixed = clients_with_dates(&[
        ("A", "12/31/2001", "2026-10-01"),
        ("B", "22/05/1990", "2026-10-01"),
    ]);
    let error = import(&node, "mixed.csv", mixed.as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        NodeError::Import(ImportError::AmbiguousDateOrder {
            conflicting: true,
            ..
        })
    ));
}

#[tokio::test]
async fn the_shared_samples_show_their_own_date_order() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    node.import_file(&common::data("clients.csv"), |_| {})
        .await
        .unwrap();
    let row = common::client(&node, "BD-0002").await.unwrap();
    assert_eq!(row.date_of_birth, Date::new(2001, 8, 7));
}

#[tokio::test]
async fn impossible_dates_are_errors_and_implausible_ones_warnings() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let text = clients_with_dates(&[
        ("FUTURE", "1990-01-01", "2026-12-01"),
        ("BEFORE", "2000-01-01", "1999-12-31"),
        ("UNBORN", "2027-01-01", "2026-10-01"),
    ]);
    let (problems, _) = bad_rows(
        import(&node, "dates.csv", text.as_bytes())
            .await
            .unwrap_err(),
    );
    let found: Vec<(u64, &str, &Problem)> = problems
        .iter()
        .map(|p| (p.line, p.column.unwrap().1, &p.problem))
        .collect();
    assert_eq!(
        found,
        [
            (2, "enrolled_on", &Problem::InFuture),
            (3, "enrolled_on", &Problem::EnrolledBeforeBirth),
            (4, "date_of_birth", &Problem::InFuture),
        ]
    );

    let text = clients_with_dates(&[
        ("CHILD", "2022-05-01", "2026-10-01"),
        ("ELDER", "1930-05-01", "2026-10-01"),
        ("ADULT", "1990-05-01", "2026-10-01"),
    ]);
    let imported = import(&node, "ages.csv", text.as_bytes()).await.unwrap();
    let warnings: Vec<(Warning, Vec<u64>)> = imported
        .warnings
        .iter()
        .map(|w| (w.warning, w.rows.clone()))
        .collect();
    assert_eq!(
        warnings,
        [
            (Warning::AgeUnder10, vec![2]),
            (Warning::AgeOver90, vec![3])
        ]
    );

    let events = "client_code,date,service,outcome\n\
                  ADULT,2026-11-11,methadone,\n\
                  ADULT,2024-10-01,methadone,\n\
                  ADULT,2026-09-24,methadone,\n";
    let (problems, _) = bad_rows(
        import(&node, "events.csv", events.as_bytes())
            .await
            .unwrap_err(),
    );
    let found: Vec<(u64, &Problem)> = problems.iter().map(|p| (p.line, &p.problem)).collect();
    assert_eq!(
        found,
        [
            (2, &Problem::InFuture),
            (3, &Problem::ServiceLongBeforeEnrolment)
        ]
    );
    let imported = import(
        &node,
        "events.csv",
        "client_code,date,service,outcome\nADULT,2026-09-24,methadone,\n".as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(imported.warnings.len(), 1);
    assert_eq!(
        imported.warnings[0].warning,
        Warning::ServiceBeforeEnrolment
    );
}

/// A services file with two unknown service labels on 28 rows (9 to 36), naming a client
/// whose identity values must never appear.
fn services_with_unknown_labels(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("client_code,date,service,outcome\n");
    for row in 2..=36 {
        let service = if row < 9 {
            "methadone"
        } else if row % 2 == 0 {
            "Xét nghiệm nước tiể"
        } else {
            "ZQLABEL"
        };
        let outcome = if row < 9 { "" } else { "Âm tính" };
        text.push_str(&format!("ZQCODE-1,2026-10-05,{service},{outcome}\n"));
    }
    let path = dir.join("services.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_binary_groups_problems_in_english_and_vietnamese() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let clients = "client_code,sex,primary_substance,referral_source,enrolled_on,modality\nZQCODE-1,male,opioids,police,2026-01-01,voluntary\n";
    common::import_text(&node, "c.csv", clients).await.unwrap();
    let dir = node.dir().root.clone();
    node.close().await;
    let file = services_with_unknown_labels(root.path());
    let run = |lang: &str| {
        let output = Command::new(BINARY)
            .args([
                "import",
                "--lang",
                lang,
                "--dir",
                dir.to_str().unwrap(),
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let english = run("en");
    assert!(
        english.contains("`service` (column 3): 2 unknown labels on 28 rows: 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, … (18 more); did you mean `Urine test`?"),
        "{english}"
    );
    assert!(
        english.contains("28 bad row(s); nothing was imported"),
        "{english}"
    );
    let vietnamese = run("vi");
    assert!(
        vietnamese.contains("`Dịch vụ` (cột 3): 2 giá trị không nhận ra ở 28 dòng: 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, … (thêm 18); có phải là `Xét nghiệm nước tiểu`?"),
        "{vietnamese}"
    );
    assert!(
        vietnamese.contains("28 dòng có lỗi; chưa nhập dòng nào"),
        "{vietnamese}"
    );
    for text in [&english, &vietnamese] {
        assert!(text.lines().count() <= 3, "one line per group: {text}");
        assert!(!text.contains("ZQ"), "{text}");
    }
}

#[test]
fn the_binary_asks_for_the_date_order_and_takes_it() {
    let root = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = runtime.block_on(async {
        let node = fresh_node(root.path()).await;
        let dir = node.dir().root.clone();
        node.close().await;
        dir
    });
    let file = root.path().join("open.csv");
    std::fs::write(
        &file,
        clients_with_dates(&[("A", "06/09/2001", "2026-10-01")]),
    )
    .unwrap();
    let import = |extra: &[&str]| {
        Command::new(BINARY)
            .args([
                "import",
                "--lang",
                "en",
                "--dir",
                dir.to_str().unwrap(),
                file.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = import(&[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--date-order dmy") && stderr.contains("on row 2"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("06/09") && !stderr.contains("2001-"),
        "{stderr}"
    );
    let accepted = import(&["--date-order", "mdy"]);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let stdout = String::from_utf8_lossy(&accepted.stdout);
    assert!(
        stdout.contains("read as UTF-8 text separated by `,`"),
        "{stdout}"
    );
    assert!(stdout.contains("clients: 1 rows; 1 new"), "{stdout}");
}

fn sheet_xml(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut xml = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

#[tokio::test]
async fn the_template_has_the_headers_lists_date_columns_and_instructions() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("clients.xlsx");
    let output = Command::new(BINARY)
        .args(["template", "--lang", "vi", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let again = Command::new(BINARY)
        .args(["template", "--lang", "vi", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    let bytes = std::fs::read(&out).unwrap();

    let mut workbook =
        calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
    assert_eq!(workbook.sheet_names(), template::sheet_names(Lang::Vi));
    let data = workbook.worksheet_range("Dữ liệu").unwrap();
    let headers: Vec<String> = data
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        headers,
        [
            "Mã khách hàng",
            "Họ và tên",
            "Ngày sinh",
            "Giới tính",
            "Số điện thoại",
            "Số CCCD",
            "Địa chỉ",
            "Chất sử dụng chính",
            "Nguồn giới thiệu",
            "Ngày tiếp nhận",
            "Hình thức"
        ]
    );
    let lists = workbook.worksheet_range("Danh mục").unwrap();
    let sexes: Vec<String> = lists
        .rows()
        .skip(1)
        .map(|r| r[0].to_string())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(sexes, ["Nam", "Nữ", "Khác"]);
    let instructions = workbook.worksheet_range("Hướng dẫn").unwrap();
    assert!(instructions.rows().count() >= 4);

    // Drop-down lists on the four vocabulary columns, date checks on the two date columns,
    // and a date format on them.
    let xml = sheet_xml(&bytes, "xl/worksheets/sheet1.xml");
    assert_eq!(xml.matches("type=\"list\"").count(), 4, "{xml}");
    assert_eq!(xml.matches("type=\"date\"").count(), 2, "{xml}");
    for range in [
        "D2:D5001", "H2:H5001", "I2:I5001", "K2:K5001", "C2:C5001", "J2:J5001",
    ] {
        assert!(
            xml.contains(&format!("sqref=\"{range}\"")),
            "{range}: {xml}"
        );
    }
    let styles = sheet_xml(&bytes, "xl/styles.xml");
    assert!(styles.contains("dd/mm/yyyy"), "{styles}");

    // The empty template imports (its headers are recognised); the services one too.
    let node = fresh_node(root.path()).await;
    let imported = import(&node, "clients.xlsx", &bytes).await.unwrap();
    assert_eq!(
        imported.summary,
        ImportSummary::Clients {
            rows: 0,
            inserted: 0,
            updated: 0,
            unchanged: 0
        }
    );
    let services = template::template(RecordKind::Events, Lang::En).unwrap();
    let imported = import(&node, "services.xlsx", &services).await.unwrap();
    assert_eq!(
        imported.summary,
        ImportSummary::Events {
            rows: 0,
            inserted: 0,
            already_present: 0
        }
    );
    let xml = sheet_xml(&services, "xl/worksheets/sheet1.xml");
    assert_eq!(
        xml.matches("type=\"list\"").count(),
        2,
        "service and outcome"
    );
}

#[tokio::test]
async fn a_file_without_identity_columns_keeps_the_stored_identity_values() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    common::import(&node, "fixture_clients.csv").await.unwrap();
    let before = common::client(&node, "C5").await.unwrap();
    let codes_only = "Mã khách hàng,Giới tính,Chất sử dụng chính,Nguồn giới thiệu,Ngày tiếp nhận,Hình thức\n\
                      C5,Nữ,opioids,health_facility,2025-01-01,compulsory\n";
    let imported = import(&node, "codes.csv", codes_only.as_bytes())
        .await
        .unwrap();
    assert_eq!(
        imported.summary,
        ImportSummary::Clients {
            rows: 1,
            inserted: 0,
            updated: 1,
            unchanged: 0
        }
    );
    let after = common::client(&node, "C5").await.unwrap();
    assert_eq!(after.sex, "female");
    assert_eq!(
        (
            &after.full_name,
            after.date_of_birth,
            &after.phone,
            &after.national_id,
            &after.address
        ),
        (
            &before.full_name,
            before.date_of_birth,
            &before.phone,
            &before.national_id,
            &before.address
        )
    );
    assert!(!after.full_name.is_empty());
}

#[tokio::test]
async fn empty_cells_past_the_last_column_are_no_field_but_values_there_are() {
    let root = tempfile::tempdir().unwrap();
    let node = fresh_node(root.path()).await;
    let header = "client_code,sex,primary_substance,referral_source,enrolled_on,modality";
    let cleared = format!("{header}\nA,male,opioids,police,2026-01-01,voluntary,,\n");
    import(&node, "cleared.csv", cleared.as_bytes())
        .await
        .unwrap();
    let extra = format!("{header}\nB,male,opioids,police,2026-01-01,voluntary,,x\n");
    let (problems, _) = bad_rows(
        import(&node, "extra.csv", extra.as_bytes())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        problems[0].problem,
        Problem::FieldCount {
            found: 8,
            expected: 6
        }
    );
}
