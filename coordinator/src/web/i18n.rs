//! The dashboard's words: one Fluent catalogue per language (`coordinator/i18n/vi.ftl`,
//! `coordinator/i18n/en.ftl`, embedded in the binary), Vietnamese by default; and how numbers,
//! dates, times and rates are shown (`1.234`, `DD/MM/YYYY`, Vietnam's time zone, Asia/Ho_Chi_Minh
//! from the built-in time zone database). The catalogue machinery is
//! `quietcount_service::web::i18n`'s, shared with the site app.

use std::sync::LazyLock;

use quietcount_protocol::UnixTime;
use quietcount_service::web::i18n::{self as shared, Catalogue};

pub use quietcount_service::web::i18n::group_digits;

/// A language of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Vietnamese (the default).
    Vi,
    /// English.
    En,
}

/// The Vietnamese catalogue.
pub const VI_FTL: &str = include_str!("../../i18n/vi.ftl");
/// The English catalogue.
pub const EN_FTL: &str = include_str!("../../i18n/en.ftl");

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue::new(VI_FTL, EN_FTL));

/// Words in one language, handed to every template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    /// The language.
    pub lang: Lang,
}

impl Tr {
    /// The words of `lang`.
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The message `key` (its key itself when missing, which the tests forbid).
    pub fn msg(&self, key: &str) -> String {
        CATALOGUE.format(self.lang == Lang::Vi, key, &[])
    }

    /// The message `key` with one argument `name` = `value`.
    pub fn arg(&self, key: &str, name: &str, value: &str) -> String {
        CATALOGUE.format(self.lang == Lang::Vi, key, &[(name, value)])
    }

    /// The message `key` with two arguments.
    pub fn args2(&self, key: &str, a: (&str, &str), b: (&str, &str)) -> String {
        CATALOGUE.format(self.lang == Lang::Vi, key, &[a, b])
    }

    /// The message `key` with any number of arguments.
    pub fn args(&self, key: &str, values: &[(&str, &str)]) -> String {
        CATALOGUE.format(self.lang == Lang::Vi, key, values)
    }

    /// A count, grouped the language's way: `1.234` in Vietnamese, `1,234` in English.
    pub fn num(&self, n: u64) -> String {
        let separator = match self.lang {
            Lang::Vi => '.',
            Lang::En => ',',
        };
        group_digits(n, separator)
    }

    /// A percentage (0 to 100) with one decimal and the language's decimal mark (`87,5 %`).
    pub fn percent(&self, percent: f64) -> String {
        let text = format!("{percent:.1}");
        match self.lang {
            Lang::Vi => format!("{} %", text.replace('.', ",")),
            Lang::En => format!("{text}%"),
        }
    }

    /// A date, `DD/MM/YYYY`, in the province's time zone (Asia/Ho_Chi_Minh).
    pub fn date(&self, t: UnixTime) -> String {
        shared::date(shared::default_time_zone(), t)
    }

    /// A date and time, `DD/MM/YYYY HH:MM`, in the province's time zone (Asia/Ho_Chi_Minh).
    pub fn date_time(&self, t: UnixTime) -> String {
        shared::date_time(shared::default_time_zone(), t)
    }

    /// The other language's code and name, for the switch in the header.
    pub fn other(&self) -> (&'static str, &'static str) {
        match self.lang {
            Lang::Vi => ("en", "English"),
            Lang::En => ("vi", "Tiếng Việt"),
        }
    }

    /// `vi` or `en`.
    pub fn code(&self) -> &'static str {
        match self.lang {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use fluent_bundle::FluentResource;
    use quietcount_service::web::i18n::catalogue_keys as keys;

    #[test]
    fn every_key_is_in_both_catalogues_and_both_parse() {
        let vi = keys(VI_FTL);
        let en = keys(EN_FTL);
        assert!(vi.len() > 30, "{}", vi.len());
        for key in &vi {
            assert!(en.contains(key), "{key} is missing in en.ftl");
        }
        for key in &en {
            assert!(vi.contains(key), "{key} is missing in vi.ftl");
        }
        for (name, text) in [("vi", VI_FTL), ("en", EN_FTL)] {
            if let Err((_, errors)) = FluentResource::try_new(text.to_owned()) {
                panic!("{name}.ftl: {errors:?}");
            }
        }
        // Every key formats to itself in neither language (it was found).
        for key in &vi {
            assert_ne!(&Tr::new(Lang::Vi).msg(key), key);
            assert_ne!(&Tr::new(Lang::En).msg(key), key);
        }
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let vi = keys(VI_FTL);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Vec::new();
        for dir in ["templates", "src/web"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                sources.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
        }
        let mut used = 0;
        for text in &sources {
            for quote in ["msg(\"", "arg(\"", "args2(\""] {
                for piece in text.split(quote).skip(1) {
                    let key = piece.split('"').next().unwrap();
                    if key.is_empty() || key.contains('{') {
                        continue;
                    }
                    used += 1;
                    assert!(
                        vi.iter().any(|k| k == key),
                        "key {key} is used but not defined"
                    );
                }
            }
        }
        assert!(used > 30, "{used}");
    }

    #[test]
    fn numbers_and_dates_the_vietnamese_way() {
        let vi = Tr::new(Lang::Vi);
        let en = Tr::new(Lang::En);
        assert_eq!(vi.num(1234), "1.234");
        assert_eq!(vi.num(1_234_567), "1.234.567");
        assert_eq!(vi.num(12), "12");
        assert_eq!(en.num(1234), "1,234");
        // 2026-10-31 20:30 UTC is 1 November 03:30 in Hanoi.
        let t = 1_793_478_600;
        assert_eq!(
            quietcount_protocol::ids::format_utc(t),
            "2026-10-31 20:30:00 UTC"
        );
        assert_eq!(vi.date(t), "01/11/2026");
        assert_eq!(vi.date_time(t), "01/11/2026 03:30");
    }

    #[test]
    fn arguments_are_filled_in() {
        let vi = Tr::new(Lang::Vi);
        assert!(vi.arg("grid-remind-text", "site", "Lan").contains("Lan"));
        assert_eq!(vi.percent(87.5), "87,5 %");
        assert_eq!(Tr::new(Lang::En).percent(87.5), "87.5%");
    }
}
