//! Record vocabularies and the labels site staff actually write, English or Vietnamese.
//!
//! Matching folds case, Vietnamese diacritics (`Nữ` = `nu`), and the separators `_`, `-`
//! and spaces, which is safe because no two codes of one vocabulary fold to the same text.

use crate::dates::Date;

/// A vocabulary: codes stored in the database, each with the labels accepted for it.
#[derive(Debug)]
pub struct Vocabulary {
    /// Column name, for messages.
    pub name: &'static str,
    /// `(code, labels)`: the code itself is always accepted too.
    pub entries: &'static [(&'static str, &'static [&'static str])],
}

impl Vocabulary {
    /// The code for a label, if known.
    pub fn code(&self, label: &str) -> Option<&'static str> {
        let folded = fold(label);
        self.entries.iter().find_map(|(code, labels)| {
            (fold(code) == folded || labels.iter().any(|l| fold(l) == folded)).then_some(*code)
        })
    }

    /// The codes, for messages.
    pub fn codes(&self) -> Vec<&'static str> {
        self.entries.iter().map(|(c, _)| *c).collect()
    }
}

/// `sex`.
pub const SEX: Vocabulary = Vocabulary {
    name: "sex",
    entries: &[
        ("male", &["Nam", "m"]),
        ("female", &["Nữ", "f"]),
        ("other", &["Khác"]),
    ],
};

/// `primary_substance` (empty means unknown, stored as NULL).
pub const SUBSTANCE: Vocabulary = Vocabulary {
    name: "primary_substance",
    entries: &[
        (
            "opioids",
            &[
                "opioid",
                "heroin",
                "Chất dạng thuốc phiện",
                "Thuốc phiện",
                "Chất dạng thuốc phiện / heroin",
                "Chất dạng thuốc phiện (heroin)",
            ],
        ),
        (
            "methamphetamine",
            &[
                "meth",
                "ATS",
                "Ma túy tổng hợp",
                "Ma túy tổng hợp (ATS)",
                "Ma túy đá",
                "Methamphetamine / ATS",
            ],
        ),
        ("cannabis", &["Cần sa", "marijuana"]),
        ("other", &["Khác"]),
    ],
};

/// Labels that mean "unknown" for `primary_substance`.
pub const UNKNOWN_LABELS: &[&str] = &["", "unknown", "Không rõ", "Không biết"];

/// `referral_source`.
pub const REFERRAL_SOURCE: Vocabulary = Vocabulary {
    name: "referral_source",
    entries: &[
        ("police", &["Công an"]),
        (
            "peer",
            &[
                "Đồng đẳng",
                "Nhóm tự lực",
                "Đồng đẳng / nhóm tự lực",
                "peer group",
            ],
        ),
        ("family", &["Gia đình"]),
        ("self", &["Tự đến", "Tự nguyện đến", "self-referral"]),
        ("health_facility", &["Cơ sở y tế", "Y tế"]),
        ("other", &["Khác"]),
    ],
};

/// `modality`.
pub const MODALITY: Vocabulary = Vocabulary {
    name: "modality",
    entries: &[("voluntary", &["Tự nguyện"]), ("compulsory", &["Bắt buộc"])],
};

/// `service`.
pub const SERVICE: Vocabulary = Vocabulary {
    name: "service",
    entries: &[
        (
            "counselling_individual",
            &["counseling_individual", "Tư vấn cá nhân"],
        ),
        ("counselling_group", &["counseling_group", "Tư vấn nhóm"]),
        (
            "counselling_family",
            &["counseling_family", "Tư vấn gia đình"],
        ),
        ("methadone", &["Điều trị methadone", "Methadone"]),
        ("detox", &["Cắt cơn", "Hỗ trợ cắt cơn", "withdrawal"]),
        ("psychosocial", &["Hỗ trợ tâm lý xã hội", "Tâm lý xã hội"]),
        ("vocational_training", &["Đào tạo nghề", "Học nghề"]),
        ("job_referral", &["Giới thiệu việc làm"]),
        ("loan_support", &["Hỗ trợ vay vốn", "Vay vốn"]),
        (
            "legal_aid",
            &[
                "Tư vấn pháp lý",
                "Trợ giúp pháp lý",
                "Tư vấn pháp lý, xã hội",
            ],
        ),
        ("urine_test", &["Xét nghiệm nước tiểu"]),
        ("referral_out_methadone", &["Chuyển gửi methadone"]),
        (
            "referral_out_voluntary_centre",
            &[
                "referral_out_voluntary_center",
                "Chuyển gửi cơ sở cai nghiện tự nguyện",
            ],
        ),
        (
            "referral_out_mental_health",
            &["Chuyển gửi bệnh viện tâm thần"],
        ),
        ("referral_out_other", &["Chuyển gửi khác"]),
        ("relapse", &["Tái sử dụng", "Tái nghiện"]),
        (
            "follow_up",
            &["followup", "Theo dõi", "Theo dõi sau hỗ trợ"],
        ),
    ],
};

/// `outcome` of `urine_test`.
pub const TEST_RESULT: Vocabulary = Vocabulary {
    name: "outcome",
    entries: &[
        ("negative", &["Âm tính", "neg", "-"]),
        ("positive", &["Dương tính", "pos", "+"]),
    ],
};

/// `outcome` of `follow_up`.
pub const EMPLOYMENT: Vocabulary = Vocabulary {
    name: "outcome",
    entries: &[
        ("employed", &["Có việc làm", "Có việc"]),
        (
            "unemployed",
            &["Không có việc làm", "Thất nghiệp", "Chưa có việc làm"],
        ),
    ],
};

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
            let mut seen = std::collections::HashMap::new();
            for (code, labels) in vocab.entries {
                for label in std::iter::once(code).chain(labels.iter()) {
                    if let Some(other) = seen.insert(fold(label), *code) {
                        assert_eq!(other, *code, "{} label {label} is ambiguous", vocab.name);
                    }
                }
            }
        }
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
