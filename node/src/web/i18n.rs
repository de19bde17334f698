//! The web app's words: one Fluent catalogue per language (`node/i18n/vi.ftl`,
//! `node/i18n/en.ftl`, embedded in the binary), Vietnamese by default; and how numbers,
//! dates and times are shown (`1.234`, `DD/MM/YYYY`, in the site's time zone `time_zone`, from
//! the time zone database built into the program).

use jiff::tz::TimeZone;
use quietcount_protocol::UnixTime;
use quietcount_service::web::i18n::{self as shared, Catalogue};
use std::sync::LazyLock;

use crate::vocab::Lang;

pub use quietcount_service::web::i18n::{default_time_zone, group_digits, time_zone};

/// The Vietnamese catalogue.
pub const VI_FTL: &str = include_str!("../../i18n/vi.ftl");
/// The English catalogue.
pub const EN_FTL: &str = include_str!("../../i18n/en.ftl");

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue::new(VI_FTL, EN_FTL));

/// Words in one language, and the site's time zone, handed to every template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    /// The language.
    pub lang: Lang,
    /// The time zone dates and times are shown in.
    zone: &'static TimeZone,
}

impl Tr {
    /// The words of `lang`, times in the default time zone (Asia/Ho_Chi_Minh).
    pub fn new(lang: Lang) -> Self {
        Self {
            lang,
            zone: default_time_zone(),
        }
    }

    /// The same words, times shown in `zone`.
    pub fn in_zone(self, zone: &'static TimeZone) -> Self {
        Self { zone, ..self }
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

    /// A count, grouped the language's way: `1.234` in Vietnamese, `1,234` in English.
    pub fn num(&self, n: u64) -> String {
        let separator = match self.lang {
            Lang::Vi => '.',
            Lang::En => ',',
        };
        group_digits(n, separator)
    }

    /// A date, `DD/MM/YYYY`, in the site's time zone.
    pub fn date(&self, t: UnixTime) -> String {
        shared::date(self.zone, t)
    }

    /// A date and time, `DD/MM/YYYY HH:MM`, in the site's time zone.
    pub fn date_time(&self, t: UnixTime) -> String {
        shared::date_time(self.zone, t)
    }

    /// The local calendar day of `t` in the site's time zone, as days since 1970-01-01.
    pub fn local_days(&self, t: UnixTime) -> i64 {
        shared::local_days(self.zone, t)
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
        assert!(vi.len() > 50, "{}", vi.len());
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
        assert!(used > 50, "{used}");
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
    fn a_receipt_time_is_shown_in_the_configured_time_zone() {
        // A receipt at 2026-10-31 20:30 UTC.
        let receipt = 1_793_478_600;
        let hanoi = Tr::new(Lang::Vi);
        assert_eq!(hanoi.date_time(receipt), "01/11/2026 03:30");
        let paris = Tr::new(Lang::Vi).in_zone(time_zone("Europe/Paris").unwrap());
        // Paris is back on winter time (UTC+1) on 31 October 2026.
        assert_eq!(paris.date_time(receipt), "31/10/2026 21:30");
        assert_eq!(paris.date(receipt), "31/10/2026");
        // And on summer time (UTC+2) in July.
        let july = 1_783_013_400; // 2026-07-02 17:30 UTC
        assert_eq!(paris.date_time(july), "02/07/2026 19:30");
        let new_york = Tr::new(Lang::En).in_zone(time_zone("America/New_York").unwrap());
        assert_eq!(new_york.date_time(receipt), "31/10/2026 16:30");
        assert_eq!(new_york.local_days(receipt), hanoi.local_days(receipt) - 1);
        assert!(time_zone("Mars/Olympus_Mons").is_none());
        assert!(std::ptr::eq(
            time_zone("Europe/Paris").unwrap(),
            time_zone("Europe/Paris").unwrap()
        ));
    }

    #[test]
    fn arguments_are_filled_in() {
        let vi = Tr::new(Lang::Vi);
        assert!(vi.arg("login-welcome", "name", "Lan").contains("Lan"));
    }
}
