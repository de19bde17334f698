//! Validated identifiers: site ids, reporting periods, fingerprints, hashes and times.
//!
//! Each type is parsed once at the edge (command line, file, wire) and trusted inside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::IdError;

/// Seconds since the Unix epoch, UTC. `protocol` never reads the clock: callers pass `now`.
pub type UnixTime = u64;

/// A site's identifier: 1 to 64 characters of `a-z`, `0-9` and `-`, starting with a letter or digit.
///
/// It names files in the donor package, so the alphabet is deliberately narrow.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SiteId(String);

impl SiteId {
    /// Maximum length of a site id, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Parses and validates a site id.
    pub fn new(text: &str) -> Result<Self, IdError> {
        let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if text.is_empty()
            || text.len() > Self::MAX_LEN
            || !text.chars().all(valid_char)
            || text.starts_with('-')
        {
            return Err(IdError::SiteId);
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment, so ids line up in tables.
        f.pad(&self.0)
    }
}

impl fmt::Debug for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SiteId({})", self.0)
    }
}

impl FromStr for SiteId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for SiteId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SiteId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

/// The kind of period a form reports over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodType {
    /// A calendar month, written `2026-10`.
    Month,
    /// A calendar quarter, written `2026-Q4`.
    Quarter,
    /// A calendar year, written `2026`.
    Year,
}

/// A reporting period in UTC calendar terms.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// A month: year and month 1..=12.
    Month {
        /// Calendar year.
        year: u16,
        /// Month, 1..=12.
        month: u8,
    },
    /// A quarter: year and quarter 1..=4.
    Quarter {
        /// Calendar year.
        year: u16,
        /// Quarter, 1..=4.
        quarter: u8,
    },
    /// A whole year.
    Year {
        /// Calendar year.
        year: u16,
    },
}

impl Period {
    /// Parses `2026-10`, `2026-Q4` or `2026` (years 1970..=9999).
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let year_of = |s: &str| -> Result<u16, IdError> {
            if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(IdError::Period);
            }
            let year: u16 = s.parse().map_err(|_| IdError::Period)?;
            if year < 1970 {
                return Err(IdError::Period);
            }
            Ok(year)
        };
        match text.split_once('-') {
            None => Ok(Period::Year {
                year: year_of(text)?,
            }),
            Some((y, rest)) => {
                let year = year_of(y)?;
                if let Some(q) = rest.strip_prefix('Q') {
                    let quarter = match q {
                        "1" => 1,
                        "2" => 2,
                        "3" => 3,
                        "4" => 4,
                        _ => return Err(IdError::Period),
                    };
                    Ok(Period::Quarter { year, quarter })
                } else {
                    if rest.len() != 2 || !rest.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(IdError::Period);
                    }
                    let month: u8 = rest.parse().map_err(|_| IdError::Period)?;
                    if !(1..=12).contains(&month) {
                        return Err(IdError::Period);
                    }
                    Ok(Period::Month { year, month })
                }
            }
        }
    }

    /// Which kind of period this is.
    pub fn period_type(&self) -> PeriodType {
        match self {
            Period::Month { .. } => PeriodType::Month,
            Period::Quarter { .. } => PeriodType::Quarter,
            Period::Year { .. } => PeriodType::Year,
        }
    }

    /// First day of the period as (year, month, day).
    pub fn first_day(&self) -> (i64, u32, u32) {
        match *self {
            Period::Month { year, month } => (i64::from(year), u32::from(month), 1),
            Period::Quarter { year, quarter } => (i64::from(year), u32::from(quarter) * 3 - 2, 1),
            Period::Year { year } => (i64::from(year), 1, 1),
        }
    }

    /// Last day of the period as (year, month, day).
    pub fn last_day(&self) -> (i64, u32, u32) {
        let (y, m) = match *self {
            Period::Month { year, month } => (i64::from(year), u32::from(month)),
            Period::Quarter { year, quarter } => (i64::from(year), u32::from(quarter) * 3),
            Period::Year { year } => (i64::from(year), 12),
        };
        (y, m, days_in_month(y, m))
    }

    /// The first second of the period (UTC).
    pub fn start(&self) -> UnixTime {
        let (y, m, d) = self.first_day();
        day_start(y, m, d)
    }

    /// The first second after the period (UTC): the period is `[start, end)`.
    pub fn end(&self) -> UnixTime {
        let (y, m, d) = self.last_day();
        day_start(y, m, d) + 86_400
    }

    /// Whether the period has ended at `now`.
    pub fn is_over(&self, now: UnixTime) -> bool {
        now >= self.end()
    }

    /// The period before this one, of the same type (`None` before 1970).
    pub fn previous(&self) -> Option<Period> {
        match *self {
            Period::Month { year, month: 1 } => (year > 1970).then(|| Period::Month {
                year: year - 1,
                month: 12,
            }),
            Period::Month { year, month } => Some(Period::Month {
                year,
                month: month - 1,
            }),
            Period::Quarter { year, quarter: 1 } => (year > 1970).then(|| Period::Quarter {
                year: year - 1,
                quarter: 4,
            }),
            Period::Quarter { year, quarter } => Some(Period::Quarter {
                year,
                quarter: quarter - 1,
            }),
            Period::Year { year } => (year > 1970).then(|| Period::Year { year: year - 1 }),
        }
    }

    /// The most recent period of `period_type` that is over at `now`.
    pub fn latest_closed(period_type: PeriodType, now: UnixTime) -> Option<Period> {
        let (y, m, _) = civil_from_days((now / 86_400) as i64);
        let year = u16::try_from(y).ok()?;
        let current = match period_type {
            PeriodType::Month => Period::Month {
                year,
                month: m as u8,
            },
            PeriodType::Quarter => Period::Quarter {
                year,
                quarter: ((m - 1) / 3 + 1) as u8,
            },
            PeriodType::Year => Period::Year { year },
        };
        current.previous()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Period::Month { year, month } => format!("{year:04}-{month:02}"),
            Period::Quarter { year, quarter } => format!("{year:04}-Q{quarter}"),
            Period::Year { year } => format!("{year:04}"),
        };
        // `pad` honours width and alignment, so periods line up in tables.
        f.pad(&text)
    }
}

impl fmt::Debug for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Period({self})")
    }
}

impl FromStr for Period {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Number of days in a month of the proleptic Gregorian calendar.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`: the one way every Quietcount tool shows a time
/// to people (pure formatting; the caller reads the clock).
pub fn format_utc(t: UnixTime) -> String {
    // Any u64 divided by 86 400 fits in an i64, so the fallback is never taken.
    let days = i64::try_from(t / 86_400).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil_from_days(days);
    let secs = t % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Reads a time as people write it on the command line: `YYYY-MM-DD` (midnight UTC) or
/// `YYYY-MM-DD HH:MM[:SS]` (UTC; a `T` may separate, and ` UTC` or `Z` may follow), the form
/// [`format_utc`] prints included. `None` for anything else, or a date that does not exist.
pub fn parse_utc(text: &str) -> Option<UnixTime> {
    let text = text.trim();
    let text = text
        .strip_suffix(" UTC")
        .or_else(|| text.strip_suffix('Z'))
        .unwrap_or(text);
    let (date, clock) = match text.split_once([' ', 'T']) {
        Some((date, clock)) => (date, Some(clock)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let days_in_month = (day_start(ny, nm, 1) - day_start(year, month, 1)) / 86_400;
    if u64::from(day) > days_in_month {
        return None;
    }
    let mut seconds = 0u64;
    if let Some(clock) = clock {
        let fields: Vec<&str> = clock.split(':').collect();
        if !(2..=3).contains(&fields.len()) {
            return None;
        }
        let field = |i: usize, max: u64| -> Option<u64> {
            let v: u64 = fields.get(i).map_or(Some(0), |f| f.parse().ok())?;
            (v < max).then_some(v)
        };
        seconds = field(0, 24)? * 3600 + field(1, 60)? * 60 + field(2, 60)?;
    }
    Some(day_start(year, month, day) + seconds)
}

fn day_start(year: i64, month: u32, day: u32) -> UnixTime {
    // Periods start in 1970 or later, so the day count is never negative.
    u64::try_from(days_from_civil(year, month, day)).unwrap_or(0) * 86_400
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Hash(pub [u8; 32]);

impl Sha256Hash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, IdError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| IdError::Hash)?;
        Ok(Self(out))
    }
}

impl fmt::Display for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl Serialize for Sha256Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sha256Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Sha256Hash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                let bytes: [u8; 32] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(Sha256Hash(bytes))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// The identity of a signed object: SHA-256 of its exact COSE_Sign1 bytes.
pub type EnvelopeHash = Sha256Hash;

/// A public key's fingerprint: SHA-256 of its SubjectPublicKeyInfo DER.
pub type Fingerprint = Sha256Hash;

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The SubjectPublicKeyInfo DER of an Ed25519 public key.
pub fn ed25519_spki_der(key: &ed25519_dalek::VerifyingKey) -> Vec<u8> {
    let mut der = Vec::with_capacity(44);
    der.extend_from_slice(&ED25519_SPKI_PREFIX);
    der.extend_from_slice(key.as_bytes());
    der
}

/// The fingerprint of an Ed25519 public key: SHA-256 of its SPKI DER.
pub fn fingerprint_of(key: &ed25519_dalek::VerifyingKey) -> Fingerprint {
    Sha256Hash::of(&ed25519_spki_der(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_people_write_them_and_round_trip_through_format_utc() {
        let oct1 = 1_790_812_800;
        assert_eq!(parse_utc("2026-10-01"), Some(oct1));
        assert_eq!(
            parse_utc("2026-10-01 08:30"),
            Some(oct1 + 8 * 3600 + 30 * 60)
        );
        assert_eq!(parse_utc("2026-10-01T08:30:15Z"), Some(oct1 + 30_615));
        assert_eq!(parse_utc(&format_utc(oct1 + 12_345)), Some(oct1 + 12_345));
        for bad in [
            "",
            "2026-13-01",
            "2026-02-29",
            "2026-10-01 24:00",
            "1.10.2026",
            "2026-10",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
        assert_eq!(parse_utc("2028-02-29"), Some(day_start(2028, 2, 29)));
    }

    #[test]
    fn periods_parse_display_and_bound() {
        let oct = Period::parse("2026-10").unwrap();
        assert_eq!(oct.to_string(), "2026-10");
        assert_eq!(oct.start(), 1_790_812_800); // 2026-10-01T00:00:00Z
        assert_eq!(oct.end(), 1_793_491_200); // 2026-11-01T00:00:00Z
        assert!(!oct.is_over(oct.end() - 1));
        assert!(oct.is_over(oct.end()));
        let q = Period::parse("2026-Q4").unwrap();
        assert_eq!(q.start(), oct.start());
        assert_eq!(
            Period::parse("2024").unwrap().end(),
            Period::parse("2025-01").unwrap().start()
        );
        for bad in [
            "2026-13", "2026-00", "2026-Q5", "26-10", "2026-1", "1969", "", "2026-10x",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            Period::parse("2026-01")
                .unwrap()
                .previous()
                .unwrap()
                .to_string(),
            "2025-12"
        );
        let now = Period::parse("2026-11").unwrap().start() + 5;
        assert_eq!(Period::latest_closed(PeriodType::Month, now), Some(oct));
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000i64, 0, 59, 60, 365, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn times_format_as_utc_date_and_clock() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_790_812_800 + 3661), "2026-10-01 01:01:01 UTC");
        assert_eq!(format_utc(951_782_399), "2000-02-28 23:59:59 UTC");
        assert_eq!(format_utc(951_782_400 + 86_399), "2000-02-29 23:59:59 UTC");
        // The largest time formats without panicking.
        assert!(format_utc(u64::MAX).ends_with(" UTC"));
    }

    #[test]
    fn display_honours_width() {
        assert_eq!(format!("{:<8}|", SiteId::new("hn-1").unwrap()), "hn-1    |");
        assert_eq!(
            format!("{:>9}|", Period::parse("2026-10").unwrap()),
            "  2026-10|"
        );
    }

    #[test]
    fn site_ids() {
        assert!(SiteId::new("hn-ba-dinh-01").is_ok());
        for bad in ["", "-a", "A", "a b", "a/b", "..", &"a".repeat(65)] {
            assert!(SiteId::new(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
