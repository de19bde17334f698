//! Calendar dates as the records hold them (ISO `YYYY-MM-DD` in the database).

use std::fmt;

use quietcount_protocol::ids::{civil_from_days, days_from_civil, days_in_month};

/// A valid calendar date between 1900 and 2199.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i64,
    month: u32,
    day: u32,
}

impl Date {
    /// A date, if it exists and falls in 1900..=2199.
    pub fn new(year: i64, month: u32, day: u32) -> Option<Self> {
        ((1900..=2199).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month))
        .then_some(Self { year, month, day })
    }

    /// From `(year, month, day)` as [`quietcount_protocol::Period`] gives them.
    pub fn from_civil((year, month, day): (i64, u32, u32)) -> Self {
        Self { year, month, day }
    }

    /// Days since 1970-01-01.
    pub fn days(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Self {
        Self::from_civil(civil_from_days(days))
    }

    /// Year.
    pub fn year(&self) -> i64 {
        self.year
    }
    /// Month, 1..=12.
    pub fn month(&self) -> u32 {
        self.month
    }
    /// Day of the month.
    pub fn day(&self) -> u32 {
        self.day
    }

    /// The same day `months` months earlier, clamped to the end of a shorter month.
    pub fn minus_months(&self, months: u32) -> Self {
        let total = self.year * 12 + i64::from(self.month - 1) - i64::from(months);
        let year = total.div_euclid(12);
        let month = (total.rem_euclid(12) + 1) as u32;
        let day = self.day.min(days_in_month(year, month));
        Self { year, month, day }
    }

    /// Whole years of age on `on` for someone born on `self`.
    pub fn age_on(&self, on: Date) -> i64 {
        let mut age = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            age -= 1;
        }
        age
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic_and_age() {
        let d = Date::new(2026, 5, 31).unwrap();
        assert_eq!(d.minus_months(3).to_string(), "2026-02-28");
        assert_eq!(
            Date::new(2026, 1, 15).unwrap().minus_months(1).to_string(),
            "2025-12-15"
        );
        let born = Date::new(2000, 11, 1).unwrap();
        assert_eq!(born.age_on(Date::new(2026, 10, 31).unwrap()), 25);
        assert_eq!(born.age_on(Date::new(2026, 11, 1).unwrap()), 26);
        assert_eq!(Date::from_days(d.days()), d);
    }
}
