//! Dates: the EDTF level-0 subset of ISO 8601-2 that the spec allows
//! (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, and intervals `A/B` with `B` possibly
//! `..`). Parsing is strict, so display reproduces the input byte for byte.

use chrono::{Datelike, NaiveDate};
use std::fmt;
use std::str::FromStr;

/// A year, a month or a day: one point at the precision the source gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    Year(i32),
    Month(i32, u32),
    Day(NaiveDate),
}

impl Point {
    pub fn first_day(self) -> NaiveDate {
        match self {
            Point::Year(y) => ymd(y, 1, 1),
            Point::Month(y, m) => ymd(y, m, 1),
            Point::Day(d) => d,
        }
    }

    pub fn last_day(self) -> NaiveDate {
        match self {
            Point::Year(y) => ymd(y, 12, 31),
            Point::Month(y, m) => {
                let (next_y, next_m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                ymd(next_y, next_m, 1).pred_opt().expect("a month's last day exists")
            }
            Point::Day(d) => d,
        }
    }

    fn parse(text: &str) -> Result<Point, String> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().expect("checked digits");
        match bytes.len() {
            4 if digits(0..4) => Ok(Point::Year(number(0..4) as i32)),
            7 if digits(0..4) && bytes[4] == b'-' && digits(5..7) => {
                let month = number(5..7);
                if (1..=12).contains(&month) {
                    Ok(Point::Month(number(0..4) as i32, month))
                } else {
                    Err(format!("`{text}` has no month {month:02}"))
                }
            }
            10 if digits(0..4) && bytes[4] == b'-' && digits(5..7) && bytes[7] == b'-' && digits(8..10) => {
                NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10))
                    .map(Point::Day)
                    .ok_or_else(|| format!("`{text}` is not a day of the calendar"))
            }
            _ => Err(format!("`{text}` is not YYYY, YYYY-MM or YYYY-MM-DD")),
        }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Point::Year(y) => write!(f, "{y:04}"),
            Point::Month(y, m) => write!(f, "{y:04}-{m:02}"),
            Point::Day(d) => write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        }
    }
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("years 0000..=9999 have every month")
}

/// A date as the spec allows it: a point, or an interval whose end may be
/// open (`..`). `2022` spans 2022-01-01..=2022-12-31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edtf {
    Point(Point),
    Interval(Point, Option<Point>),
}

impl Edtf {
    /// The first day the date can mean. "X on or before D" compares this.
    pub fn first_day(self) -> NaiveDate {
        match self {
            Edtf::Point(p) | Edtf::Interval(p, _) => p.first_day(),
        }
    }

    /// The last day the date can mean; `None` for an open end (`A/..`).
    pub fn last_day(self) -> Option<NaiveDate> {
        match self {
            Edtf::Point(p) | Edtf::Interval(_, Some(p)) => Some(p.last_day()),
            Edtf::Interval(_, None) => None,
        }
    }

    /// Whether `day` lies within the date (inclusive at both ends).
    pub fn contains(self, day: NaiveDate) -> bool {
        self.first_day() <= day && self.last_day().is_none_or(|last| day <= last)
    }

    /// The calendar year when the whole date lies inside one year.
    pub fn single_year(self) -> Option<i32> {
        let first = self.first_day().year();
        (self.last_day()?.year() == first).then_some(first)
    }
}

impl FromStr for Edtf {
    type Err = String;

    fn from_str(text: &str) -> Result<Edtf, String> {
        let Some((start, end)) = text.split_once('/') else {
            return Point::parse(text).map(Edtf::Point);
        };
        let start = Point::parse(start).map_err(|e| format!("interval start: {e}"))?;
        if end == ".." {
            return Ok(Edtf::Interval(start, None));
        }
        let end = Point::parse(end).map_err(|e| format!("interval end: {e}"))?;
        if start.first_day() > end.last_day() {
            return Err(format!("interval `{text}` ends before it starts"));
        }
        Ok(Edtf::Interval(start, Some(end)))
    }
}

impl fmt::Display for Edtf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edtf::Point(p) => write!(f, "{p}"),
            Edtf::Interval(a, Some(b)) => write!(f, "{a}/{b}"),
            Edtf::Interval(a, None) => write!(f, "{a}/.."),
        }
    }
}

/// Parses a plain day (`YYYY-MM-DD`), as `as_of` takes.
pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    match Point::parse(text)? {
        Point::Day(day) => Ok(day),
        _ => Err(format!("`{text}` is not a day (YYYY-MM-DD)")),
    }
}

/// A moment for transaction-time queries (`--at`, `?at=`): RFC 3339 with a
/// zone (`2026-03-01T15:00:00+07:00`, `2026-03-01T08:00:00Z`), in UTC.
pub fn parse_moment(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|moment| moment.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{text}` is not a moment as RFC 3339 writes one, e.g. 2026-03-01T15:00:00+07:00 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<(&str, Option<&str>), &str>) {
        let parsed = text.parse::<Edtf>();
        match (parsed, expected) {
            (Ok(date), Ok((first, last))) => {
                assert_eq!(date.to_string(), text, "round trip");
                assert_eq!(date.first_day().to_string(), first, "{text} first day");
                assert_eq!(date.last_day().map(|d| d.to_string()).as_deref(), last, "{text} last day");
            }
            (Err(e), Err(fragment)) => {
                assert!(e.contains(fragment), "{text}: `{e}` lacks `{fragment}`")
            }
            (got, want) => panic!("{text}: got {got:?}, wanted {want:?}"),
        }
    }

    #[test]
    fn forms_and_spans() {
        check("2022", Ok(("2022-01-01", Some("2022-12-31"))));
        check("2022-02", Ok(("2022-02-01", Some("2022-02-28"))));
        check("2024-02", Ok(("2024-02-01", Some("2024-02-29"))));
        check("2022-12", Ok(("2022-12-01", Some("2022-12-31"))));
        check("2022-04-04", Ok(("2022-04-04", Some("2022-04-04"))));
        check("2020/2022-08", Ok(("2020-01-01", Some("2022-08-31"))));
        check("2022-08-15/2022-08", Ok(("2022-08-15", Some("2022-08-31"))));
        check("1998/..", Ok(("1998-01-01", None)));
        check("0000", Ok(("0000-01-01", Some("0000-12-31"))));
    }

    #[test]
    fn impossible_and_malformed_dates_are_rejected() {
        check("2023-02-30", Err("not a day of the calendar"));
        check("2023-13", Err("no month 13"));
        check("2023-00", Err("no month 00"));
        check("2022-4-4", Err("is not YYYY"));
        check("22", Err("is not YYYY"));
        check("+2022", Err("is not YYYY"));
        check("2022-08/2022", Ok(("2022-08-01", Some("2022-12-31"))));
        check("2023/2022", Err("ends before it starts"));
        check("../2022", Err("interval start"));
        check("2022/", Err("interval end"));
        check("2022/2023/2024", Err("interval end"));
        check("", Err("is not YYYY"));
        check("２０２２", Err("is not YYYY"));
    }

    #[test]
    fn single_year_only_when_inside_one_year() {
        let year = |t: &str| t.parse::<Edtf>().unwrap().single_year();
        assert_eq!(year("2022-04-04"), Some(2022));
        assert_eq!(year("2022-01/2022-08"), Some(2022));
        assert_eq!(year("2020/2022-08"), None);
        assert_eq!(year("2022/.."), None);
    }
}
