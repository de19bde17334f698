//! Dates as site staff and Excel write them: ISO `YYYY-MM-DD`, `DD/MM/YYYY`, `DD-MM-YYYY`,
//! `DD.MM.YYYY`, each with or without a time part, and Excel serial numbers (a date cell
//! saved as a plain number). Only slash dates can be month-first (Excel with US settings
//! writes `8/7/2001`): a file's slash dates decide the order between them, and when they
//! cannot, the import is refused until the user says which order the file uses.

use crate::dates::Date;

/// The order of day and month in slash dates (`07/08/2001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// Day first: `07/08/2001` is 7 August (the Vietnamese habit).
    DayMonthYear,
    /// Month first: `07/08/2001` is 8 July (Excel with US settings).
    MonthDayYear,
}

/// What a file's slash dates say about their order.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderEvidence {
    /// Rows with a slash date whose first number is over 12 (so day-first).
    pub(crate) day_first: Vec<u64>,
    /// Rows with a slash date whose second number is over 12 (so month-first).
    pub(crate) month_first: Vec<u64>,
    /// Rows with a slash date that reads as two different dates.
    pub(crate) ambiguous: Vec<u64>,
}

impl OrderEvidence {
    /// Notes one date cell of row `row`.
    pub(crate) fn observe(&mut self, row: u64, text: &str) {
        let Some(Shape::Slash { first, second, .. }) = shape(text) else {
            return;
        };
        if first > 12 && second <= 12 {
            self.day_first.push(row);
        } else if second > 12 && first <= 12 {
            self.month_first.push(row);
        } else if first != second && first <= 12 && second <= 12 {
            self.ambiguous.push(row);
        }
    }

    /// The order the file's slash dates show, or, when they show none or both, the rows that
    /// leave it open.
    pub(crate) fn order(&self) -> Result<DateOrder, Vec<u64>> {
        match (self.day_first.is_empty(), self.month_first.is_empty()) {
            (false, true) => Ok(DateOrder::DayMonthYear),
            (true, false) => Ok(DateOrder::MonthDayYear),
            (true, true) if self.ambiguous.is_empty() => Ok(DateOrder::DayMonthYear),
            (true, true) => Err(self.ambiguous.clone()),
            (false, false) => {
                let mut rows = self.day_first.clone();
                rows.extend(&self.month_first);
                rows.sort_unstable();
                Err(rows)
            }
        }
    }
}

enum Shape {
    Iso { year: i64, month: u32, day: u32 },
    DayFirst { day: u32, month: u32, year: i64 },
    Slash { first: u32, second: u32, year: i64 },
    Serial(i64),
}

/// Parses a date written as text, slash dates in `order`.
pub(crate) fn parse(text: &str, order: DateOrder) -> Option<Date> {
    match shape(text)? {
        Shape::Iso { year, month, day } | Shape::DayFirst { day, month, year } => {
            Date::new(year, month, day)
        }
        Shape::Slash {
            first,
            second,
            year,
        } => match order {
            DateOrder::DayMonthYear => Date::new(year, second, first),
            DateOrder::MonthDayYear => Date::new(year, first, second),
        },
        // Day 25569 of Excel's 1900 calendar is 1970-01-01 (true after 1900-02-28).
        Shape::Serial(serial) => {
            let date = Date::from_days(serial - 25_569);
            Date::new(date.year(), date.month(), date.day())
        }
    }
}

fn shape(text: &str) -> Option<Shape> {
    let text = text.trim();
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, Some(time.trim())),
        None => (text, None),
    };
    if let Some(time) = time {
        let time_like = !time.is_empty()
            && time.starts_with(|c: char| c.is_ascii_digit())
            && time.chars().all(|c| {
                c.is_ascii_digit()
                    || matches!(c, ':' | '.' | ' ' | 'A' | 'P' | 'M' | 'a' | 'p' | 'm' | 'Z')
            });
        if !time_like {
            return None;
        }
    }
    let digits = |s: &str, min: usize, max: usize| {
        (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    if let Some(serial) = digits(date, 5, 5) {
        return (time.is_none()).then_some(Shape::Serial(serial));
    }
    // A serial with a time fraction, as a plain number.
    if let Some((whole, fraction)) = date.split_once('.') {
        if let (Some(serial), Some(_)) = (digits(whole, 5, 5), digits(fraction, 1, 15)) {
            return Some(Shape::Serial(serial));
        }
    }
    for separator in ['-', '/', '.'] {
        let parts: Vec<&str> = date.split(separator).collect();
        let [a, b, c] = parts[..] else { continue };
        if separator == '-' {
            if let (Some(year), Some(month), Some(day)) =
                (digits(a, 4, 4), digits(b, 2, 2), digits(c, 2, 2))
            {
                return Some(Shape::Iso {
                    year,
                    month: month as u32,
                    day: day as u32,
                });
            }
        }
        let (Some(first), Some(second), Some(year)) =
            (digits(a, 1, 2), digits(b, 1, 2), digits(c, 4, 4))
        else {
            return None;
        };
        let (first, second) = (first as u32, second as u32);
        return Some(if separator == '/' {
            Shape::Slash {
                first,
                second,
                year,
            }
        } else {
            Shape::DayFirst {
                day: first,
                month: second,
                year,
            }
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dmy(text: &str) -> Option<String> {
        parse(text, DateOrder::DayMonthYear).map(|d| d.to_string())
    }

    #[test]
    fn every_written_form_of_a_date() {
        for text in [
            "2001-08-07",
            "2001-08-07 00:00:00",
            "2001-08-07T00:00:00",
            "07/08/2001",
            "7/8/2001",
            "07/08/2001 0:00",
            "07-08-2001",
            "07.08.2001",
            "7.8.2001 12:30",
            "37110",
            "37110.5",
        ] {
            assert_eq!(dmy(text).as_deref(), Some("2001-08-07"), "{text}");
        }
        assert_eq!(
            parse("07/08/2001", DateOrder::MonthDayYear).map(|d| d.to_string()),
            Some("2001-07-08".into())
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-1-5",
            "29/02/2026",
            "1/1/26",
            "2026/10/05",
            "aa/bb/cccc",
            "2001",
            "07/08/2001 noon",
            "1234567",
        ] {
            assert_eq!(dmy(bad), None, "{bad}");
        }
    }

    #[test]
    fn arbitrary_text_parses_or_not_without_panicking() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let alphabet: Vec<char> = "0123456789/-. :TAPMé".chars().collect();
        let mut evidence = OrderEvidence::default();
        for row in 0..20_000 {
            let length = rng.gen_range(0..24);
            let text: String = (0..length)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            evidence.observe(row, &text);
            for order in [DateOrder::DayMonthYear, DateOrder::MonthDayYear] {
                if let Some(date) = parse(&text, order) {
                    assert!((1900..=2199).contains(&date.year()), "{text}");
                }
            }
        }
        let _ = evidence.order();
    }

    #[test]
    fn slash_dates_decide_their_order_or_leave_it_open() {
        let mut evidence = OrderEvidence::default();
        evidence.observe(2, "07/08/2001");
        evidence.observe(3, "2001-08-07");
        evidence.observe(4, "05/05/2001");
        assert_eq!(evidence.order(), Err(vec![2]));
        evidence.observe(5, "22/05/1992");
        assert_eq!(evidence.order(), Ok(DateOrder::DayMonthYear));
        evidence.observe(6, "05/22/1992");
        assert_eq!(evidence.order(), Err(vec![5, 6]));
        let mut us = OrderEvidence::default();
        us.observe(2, "12/31/2025");
        us.observe(3, "1/2/2026");
        assert_eq!(us.order(), Ok(DateOrder::MonthDayYear));
    }
}
