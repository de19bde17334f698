//! The machinery behind both web apps' words: a pair of Fluent catalogues (Vietnamese and
//! English, embedded by each app), numbers grouped the language's way, and dates and times in
//! a time zone from the time zone database built into the program (so Windows shows the same).
//! Each app keeps its own catalogue files and its own `Tr` handed to templates.

use std::sync::{LazyLock, Mutex};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use jiff::tz::TimeZone;
use quietcount_protocol::UnixTime;

/// The time zone the apps show times in unless configured otherwise.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Ho_Chi_Minh";

/// One app's two catalogues, parsed once.
pub struct Catalogue {
    vi: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue").finish_non_exhaustive()
    }
}

fn bundle(lang: &str, text: &str) -> FluentBundle<FluentResource> {
    let id: unic_langid::LanguageIdentifier = lang.parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: the pages are left-to-right only.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(text.to_owned()) {
        Ok(resource) => resource,
        // A syntax error in an embedded catalogue is caught by the unit tests; keep what parsed.
        Err((resource, errors)) => {
            tracing::error!(?errors, "message catalogue has errors");
            resource
        }
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(?errors, "message catalogue has repeated keys");
    }
    bundle
}

impl Catalogue {
    /// The catalogues `vi` and `en` (Fluent text).
    pub fn new(vi: &str, en: &str) -> Self {
        Self {
            vi: bundle("vi", vi),
            en: bundle("en", en),
        }
    }

    /// The message `key` in Vietnamese (`vietnamese`) or English, with `args` filled in; the
    /// key itself when the catalogue lacks it (which each app's tests forbid).
    pub fn format(&self, vietnamese: bool, key: &str, args: &[(&str, &str)]) -> String {
        let bundle = if vietnamese { &self.vi } else { &self.en };
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            return key.to_owned();
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set((*name).to_owned(), FluentValue::from((*value).to_owned()));
        }
        let mut errors = Vec::new();
        bundle
            .format_pattern(
                pattern,
                (!args.is_empty()).then_some(&fluent_args),
                &mut errors,
            )
            .into_owned()
    }
}

/// The keys a Fluent catalogue defines (for the apps' tests: every key in both languages).
pub fn catalogue_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && l.contains(" ="))
        .filter_map(|l| l.split(" =").next())
        .map(str::to_owned)
        .collect()
}

/// `n` with `separator` between groups of three digits.
pub fn group_digits(n: u64, separator: char) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// The time zone named `name` in the built-in database, kept for the life of the process (each
/// name is looked up once: an app has one time zone). `None`: no such time zone.
pub fn time_zone(name: &str) -> Option<&'static TimeZone> {
    static ZONES: Mutex<Vec<(String, &'static TimeZone)>> = Mutex::new(Vec::new());
    let mut zones = ZONES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, zone)) = zones.iter().find(|(n, _)| n == name) {
        return Some(zone);
    }
    let zone: &'static TimeZone = Box::leak(Box::new(jiff::tz::db().get(name).ok()?));
    zones.push((name.to_owned(), zone));
    Some(zone)
}

/// The default time zone, Asia/Ho_Chi_Minh (UTC if the database lacked it, which the tests
/// forbid).
pub fn default_time_zone() -> &'static TimeZone {
    static DEFAULT: LazyLock<&'static TimeZone> = LazyLock::new(|| {
        time_zone(DEFAULT_TIME_ZONE).unwrap_or_else(|| {
            tracing::error!("the built-in time zone database lacks the default time zone");
            Box::leak(Box::new(TimeZone::UTC))
        })
    });
    &DEFAULT
}

/// `t` shifted by `zone`'s offset from UTC at that instant (daylight saving included).
fn local_seconds(zone: &TimeZone, t: UnixTime) -> i64 {
    let t = i64::try_from(t).unwrap_or(i64::MAX);
    let offset = jiff::Timestamp::from_second(t)
        .map(|instant| i64::from(zone.to_offset(instant).seconds()))
        // Beyond the year 9999 (never a real time): no offset.
        .unwrap_or(0);
    t.saturating_add(offset)
}

/// The local calendar day of `t` in `zone`, as days since 1970-01-01.
pub fn local_days(zone: &TimeZone, t: UnixTime) -> i64 {
    local_seconds(zone, t).div_euclid(86_400)
}

/// Year, month, day, hour and minute of `t` in `zone`.
pub fn local_parts(zone: &TimeZone, t: UnixTime) -> (i64, u32, u32, u64, u64) {
    let local = local_seconds(zone, t);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400).unsigned_abs();
    let (y, m, d) = quietcount_protocol::ids::civil_from_days(days);
    (y, m, d, secs / 3600, secs % 3600 / 60)
}

/// `DD/MM/YYYY` of `t` in `zone`.
pub fn date(zone: &TimeZone, t: UnixTime) -> String {
    let (y, m, d, _, _) = local_parts(zone, t);
    format!("{d:02}/{m:02}/{y:04}")
}

/// `DD/MM/YYYY HH:MM` of `t` in `zone`.
pub fn date_time(zone: &TimeZone, t: UnixTime) -> String {
    let (y, m, d, hh, mm) = local_parts(zone, t);
    format!("{d:02}/{m:02}/{y:04} {hh:02}:{mm:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_format_with_arguments_and_fall_back_to_the_key() {
        let catalogue = Catalogue::new("hello = Xin chào { $name }\n", "hello = Hello { $name }\n");
        assert_eq!(
            catalogue.format(true, "hello", &[("name", "Lan")]),
            "Xin chào Lan"
        );
        assert_eq!(
            catalogue.format(false, "hello", &[("name", "Lan")]),
            "Hello Lan"
        );
        assert_eq!(catalogue.format(true, "missing", &[]), "missing");
        assert_eq!(
            catalogue_keys("# comment\nhello = x\n  continued\nbye = y\n"),
            ["hello", "bye"]
        );
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(1_234_567, '.'), "1.234.567");
        assert_eq!(group_digits(12, ','), "12");
        assert_eq!(group_digits(123_456, ','), "123,456");
    }

    #[test]
    fn times_follow_the_zone_and_its_daylight_saving() {
        let hanoi = default_time_zone();
        // 2026-10-31 20:30 UTC.
        let t = 1_793_478_600;
        assert_eq!(date_time(hanoi, t), "01/11/2026 03:30");
        assert_eq!(date(hanoi, t), "01/11/2026");
        let paris = time_zone("Europe/Paris").unwrap();
        assert_eq!(date_time(paris, t), "31/10/2026 21:30");
        assert_eq!(date_time(paris, 1_783_013_400), "02/07/2026 19:30");
        assert_eq!(local_days(hanoi, t), local_days(paris, t) + 1);
        assert!(time_zone("Mars/Olympus_Mons").is_none());
        assert!(std::ptr::eq(paris, time_zone("Europe/Paris").unwrap()));
    }
}
