//! Record vocabularies and the labels site staff actually write, English or Vietnamese.
//!
//! Every label lives in one data file, `node/vocabulary.toml`, embedded at build time: the
//! codes the database stores, the English and Vietnamese labels shown (template drop-down
//! lists, messages), the other spellings accepted, and the column headers. Matching folds
//! case, Vietnamese diacritics (`Nữ` = `nu`), and the separators `_`, `-` and spaces, which
//! is safe because no two codes of one vocabulary fold to the same text (tested below).

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::Deserialize;

use crate::dates::Date;

/// The embedded data file.
const VOCABULARY_TOML: &str = include_str!("../vocabulary.toml");

/// A language for labels and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// Vietnamese.
    Vi,
}

/// A vocabulary: codes stored in the database, each with the labels accepted for it.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Column name, for messages.
    pub name: &'static str,
    /// The codes with their labels, in display order.
    pub entries: Vec<Entry>,
    /// Every folded label with the index of its entry (looked up once per imported cell).
    folded: HashMap<String, usize>,
}

/// One code of a vocabulary and its labels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What the database stores.
    pub code: String,
    /// English label.
    pub en: String,
    /// Vietnamese label.
    pub vi: String,
    /// Other accepted spellings.
    #[serde(default)]
    pub also: Vec<String>,
}

impl Entry {
    /// The label shown in `lang`.
    pub fn label(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Vi => &self.vi,
        }
    }

    fn all_labels(&self) -> impl Iterator<Item = &str> {
        [self.code.as_str(), &self.en, &self.vi]
            .into_iter()
            .chain(self.also.iter().map(String::as_str))
    }
}

impl Vocabulary {
    /// A vocabulary of `entries`.
    pub fn new(name: &'static str, entries: Vec<Entry>) -> Self {
        let mut folded = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            for label in entry.all_labels() {
                // The first entry wins; a test checks that no label names two codes.
                folded.entry(fold(label)).or_insert(index);
            }
        }
        Self {
            name,
            entries,
            folded,
        }
    }

    /// The code for a label, if known.
    pub fn code(&'static self, label: &str) -> Option<&'static str> {
        self.folded
            .get(&fold(label))
            .map(|&index| self.entries[index].code.as_str())
    }

    /// The codes, for messages.
    pub fn codes(&'static self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.code.as_str()).collect()
    }

    /// The entry of `code`.
    pub fn entry(&'static self, code: &str) -> Option<&'static Entry> {
        self.entries.iter().find(|e| e.code == code)
    }

    /// The entry an unknown label most likely meant, if one is close enough to suggest
    /// ("did you mean ..."): a folded label at most a few edits away, or one that contains
    /// the whole folded text or is contained in it.
    pub fn suggest(&'static self, label: &str) -> Option<&'static Entry> {
        let folded = fold(label);
        if folded.chars().count() < 2 {
            return None;
        }
        let mut best: Option<(f64, &'static Entry)> = None;
        for entry in &self.entries {
            for candidate in entry.all_labels().map(fold) {
                let mut score = strsim::normalized_levenshtein(&folded, &candidate);
                if candidate.len() >= 3
                    && folded.len() >= 3
                    && (candidate.contains(&folded) || folded.contains(&candidate))
                {
                    score = score.max(0.7);
                }
                if score >= 0.6 && best.is_none_or(|(b, _)| score > b) {
                    best = Some((score, entry));
                }
            }
        }
        best.map(|(_, e)| e)
    }
}

/// One column a file may have, with the headers accepted for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnLabels {
    /// The column's name in messages and in the English template.
    pub id: String,
    /// English header.
    pub en: String,
    /// Vietnamese header.
    pub vi: String,
    /// Other accepted headers.
    #[serde(default)]
    pub also: Vec<String>,
    /// Whether the column holds identifying values (optional on import, never echoed).
    #[serde(default)]
    pub identity: bool,
}

impl ColumnLabels {
    /// The header shown in `lang`.
    pub fn label(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Vi => &self.vi,
        }
    }

    /// Whether `header` names this column.
    pub fn matches(&self, header: &str) -> bool {
        let folded = fold(header);
        [self.id.as_str(), &self.en, &self.vi]
            .into_iter()
            .chain(self.also.iter().map(String::as_str))
            .any(|l| fold(l) == folded)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    unknown_substance: Vec<String>,
    columns: Vec<ColumnLabels>,
    vocabularies: BTreeMap<String, VocabularyEntries>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyEntries {
    entries: Vec<Entry>,
}

static FILE: LazyLock<VocabularyFile> = LazyLock::new(|| {
    // The file is part of the source tree and parsed by a unit test below, so a build whose
    // data file does not parse never passes its tests.
    #[allow(clippy::expect_used)]
    toml::from_str(VOCABULARY_TOML).expect("node/vocabulary.toml parses (tested)")
});

fn vocabulary(name: &'static str, key: &str) -> Vocabulary {
    Vocabulary::new(
        name,
        FILE.vocabularies
            .get(key)
            .map(|v| v.entries.clone())
            .unwrap_or_default(),
    )
}

/// `sex`.
pub static SEX: LazyLock<Vocabulary> = LazyLock::new(|| vocabulary("sex", "sex"));

/// `primary_substance` (empty means unknown, stored as NULL).
pub static SUBSTANCE: LazyLock<Vocabulary> =
    LazyLock::new(|| vocabulary("primary_substance", "primary_substance"));

/// Labels that mean "unknown" for `primary_substance`.
pub static UNKNOWN_LABELS: LazyLock<Vec<String>> = LazyLock::new(|| FILE.unknown_substance.clone());

/// Whether `label` means "unknown" for `primary_substance` (empty included).
pub fn means_unknown(label: &str) -> bool {
    static FOLDED: LazyLock<Vec<String>> =
        LazyLock::new(|| UNKNOWN_LABELS.iter().map(|l| fold(l)).collect());
    FOLDED.contains(&fold(label))
}

/// `referral_source`.
pub static REFERRAL_SOURCE: LazyLock<Vocabulary> =
    LazyLock::new(|| vocabulary("referral_source", "referral_source"));

/// `modality`.
pub static MODALITY: LazyLock<Vocabulary> = LazyLock::new(|| vocabulary("modality", "modality"));

/// `service`.
pub static SERVICE: LazyLock<Vocabulary> = LazyLock::new(|| vocabulary("service", "service"));

/// `outcome` of `urine_test`.
pub static TEST_RESULT: LazyLock<Vocabulary> =
    LazyLock::new(|| vocabulary("outcome", "test_result"));

/// `outcome` of `follow_up`.
pub static EMPLOYMENT: LazyLock<Vocabulary> = LazyLock::new(|| vocabulary("outcome", "employment"));

/// Every column a clients or services file may have, with its accepted headers.
pub fn columns() -> &'static [ColumnLabels] {
    &FILE.columns
}

/// The labels of column `id`.
pub fn column(id: &str) -> Option<&'static ColumnLabels> {
    FILE.columns.iter().find(|c| c.id == id)
}

/// The outcome vocabulary a service requires, if any.
pub fn outcome_vocabulary(service: &str) -> Option<&'static Vocabulary> {
    match service {
        "urine_test" => Some(&TEST_RESULT),
        "follow_up" => Some(&EMPLOYMENT),
        _ => None,
    }
}

/// Folds a label for comparison: lower case, no Vietnamese diacritics, `đ` as `d`, and `_`,
/// `-`, `/`, `(`, `)`, `,` and runs of spaces all as one space.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        // Combining marks (decomposed input): drop.
        if ('\u{0300}'..='\u{036f}').contains(&c) {
            continue;
        }
        let base = strip_vietnamese(c);
        if base.is_whitespace()
            || matches!(base, '_' | '-' | '/' | '(' | ')' | ',') && text.len() > 1
        {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(base);
    }
    out
}

fn strip_vietnamese(c: char) -> char {
    const GROUPS: &[(char, &str)] = &[
        ('a', "àáảãạăằắẳẵặâầấẩẫậ"),
        ('e', "èéẻẽẹêềếểễệ"),
        ('i', "ìíỉĩị"),
        ('o', "òóỏõọôồốổỗộơờớởỡợ"),
        ('u', "ùúủũụưừứửữự"),
        ('y', "ỳýỷỹỵ"),
        ('d', "đ"),
    ];
    GROUPS
        .iter()
        .find(|(_, variants)| variants.contains(c))
        .map_or(c, |(base, _)| *base)
}

/// Parses `YYYY-MM-DD` or `DD/MM/YYYY` (the Vietnamese habit; `D/M/YYYY` too).
pub fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    let (year, month, day) = if let Some((y, rest)) = text.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        (y, m, d)
    } else {
        let mut parts = text.split('/');
        let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || y.len() != 4
            || d.is_empty()
            || d.len() > 2
            || m.is_empty()
            || m.len() > 2
        {
            return None;
        }
        (y, m, d)
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(year) || !all_digits(month) || !all_digits(day) {
        return None;
    }
    Date::new(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_and_english_labels_fold_to_codes() {
        assert_eq!(SEX.code("Nữ"), Some("female"));
        assert_eq!(SEX.code("NAM"), Some("male"));
        assert_eq!(SEX.code("Khac"), Some("other"));
        assert_eq!(SEX.code("nu\u{031b}\u{0303}"), Some("female")); // decomposed Nữ
        assert_eq!(SUBSTANCE.code("Chất dạng thuốc phiện"), Some("opioids"));
        assert_eq!(SUBSTANCE.code("heroin"), Some("opioids"));
        assert_eq!(SUBSTANCE.code("Ma túy tổng hợp"), Some("methamphetamine"));
        assert_eq!(SUBSTANCE.code("ma tuy tong hop"), Some("methamphetamine"));
        assert_eq!(SUBSTANCE.code("Cần sa"), Some("cannabis"));
        assert_eq!(REFERRAL_SOURCE.code("Công an"), Some("police"));
        assert_eq!(
            REFERRAL_SOURCE.code("health facility"),
            Some("health_facility")
        );
        assert_eq!(REFERRAL_SOURCE.code("Tự đến"), Some("self"));
        assert_eq!(MODALITY.code("Bắt buộc"), Some("compulsory"));
        assert_eq!(
            SERVICE.code("Counselling Individual"),
            Some("counselling_individual")
        );
        assert_eq!(SERVICE.code("Xét nghiệm nước tiểu"), Some("urine_test"));
        assert_eq!(TEST_RESULT.code("Dương tính"), Some("positive"));
        assert_eq!(EMPLOYMENT.code("Có việc làm"), Some("employed"));
        assert_eq!(SEX.code("mal"), None);
        assert_eq!(SERVICE.code(""), None);
    }

    #[test]
    fn no_two_codes_of_a_vocabulary_share_a_folded_label() {
        for vocab in [
            &SEX,
            &SUBSTANCE,
            &REFERRAL_SOURCE,
            &MODALITY,
            &SERVICE,
            &TEST_RESULT,
            &EMPLOYMENT,
        ] {
            let vocab: &'static Vocabulary = vocab;
            assert!(vocab.entries.len() >= 2, "{} has entries", vocab.name);
            let mut seen = std::collections::HashMap::new();
            for entry in &vocab.entries {
                for label in entry.all_labels() {
                    if let Some(other) = seen.insert(fold(label), entry.code.clone()) {
                        assert_eq!(
                            other, entry.code,
                            "{} label {label} is ambiguous",
                            vocab.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn no_two_columns_share_a_folded_header() {
        let mut seen = std::collections::HashMap::new();
        for column in columns() {
            for label in [&column.id, &column.en, &column.vi]
                .into_iter()
                .chain(column.also.iter())
            {
                if let Some(other) = seen.insert(fold(label), column.id.clone()) {
                    assert_eq!(other, column.id, "header {label} is ambiguous");
                }
            }
        }
        assert_eq!(columns().len(), 14);
    }

    #[test]
    fn the_labels_staff_write_are_accepted_and_near_misses_get_a_suggestion() {
        assert_eq!(SEX.code("Nam giới"), Some("male"));
        assert_eq!(SEX.code("Nữ giới"), Some("female"));
        assert_eq!(REFERRAL_SOURCE.code("Đồng đẳng viên"), Some("peer"));
        assert_eq!(SERVICE.code("Dạy nghề"), Some("vocational_training"));
        assert_eq!(SERVICE.code("XN nước tiểu"), Some("urine_test"));
        assert_eq!(
            SERVICE
                .suggest("Xet nghiem nuoc tieuu")
                .map(|e| e.code.as_str()),
            Some("urine_test")
        );
        assert_eq!(
            SERVICE.suggest("Tư vấn nhóm nhỏ").map(|e| e.code.as_str()),
            Some("counselling_group")
        );
        assert!(SERVICE.suggest("teleportation").is_none());
        assert!(SEX.suggest("Secretsex").is_none());
        assert_eq!(
            SERVICE.entry("urine_test").map(|e| e.label(Lang::Vi)),
            Some("Xét nghiệm nước tiểu")
        );
    }

    #[test]
    fn dates_in_both_habits() {
        assert_eq!(parse_date("2026-10-05").unwrap().to_string(), "2026-10-05");
        assert_eq!(parse_date("05/10/2026").unwrap().to_string(), "2026-10-05");
        assert_eq!(parse_date("5/1/2026").unwrap().to_string(), "2026-01-05");
        assert_eq!(parse_date("29/02/2024").unwrap().to_string(), "2024-02-29");
        for bad in [
            "29/02/2026",
            "2026-13-01",
            "2026-1-5",
            "10/2026",
            "",
            "2026/10/05",
            "1/1/26",
            "aa/bb/cccc",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }
}
