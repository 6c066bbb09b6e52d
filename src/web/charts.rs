//! The dashboard's pictures as inline SVG, templated with maud like the
//! rest of the page (so every label is escaped and every bar can be a link
//! with a title, which the SVG chart crates we tried do not offer).
//!
//! Horizontal positions are percentages of the chart's width and text is
//! in CSS pixels, so one chart reads the same at 390 and 1440 px: bars
//! stretch, labels keep their size and sit on their own line above them.

use chrono::{Datelike, NaiveDate};
use events::Edtf;
use maud::{html, Markup};

/// Height of one bar's track, in CSS pixels.
const TRACK: u32 = 16;

/// A span of days drawn left to right (`end` exclusive).
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// How far across the chart a day lies, in percent, clamped to the chart.
impl Axis {
    /// From the first day of `first`'s year to the last day of `last`'s.
    pub fn years(first: i32, last: i32) -> Axis {
        let day = |year: i32, month, d| NaiveDate::from_ymd_opt(year, month, d).unwrap_or(NaiveDate::MIN);
        Axis { start: day(first, 1, 1), end: day(last.max(first) + 1, 1, 1) }
    }

    pub fn percent(&self, day: NaiveDate) -> f64 {
        let total = (self.end - self.start).num_days().max(1) as f64;
        (100.0 * (day - self.start).num_days() as f64 / total).clamp(0.0, 100.0)
    }

    fn ticks(&self) -> Vec<i32> {
        let (first, last) = (self.start.year(), self.end.year() - 1);
        let step = match last - first {
            0..=8 => 1,
            9..=16 => 2,
            17..=40 => 5,
            _ => 10,
        };
        (first..=last).filter(|year| (year - first) % step == 0).collect()
    }
}

/// One bar of a span chart.
pub struct Span {
    /// Read on the label line, before the date.
    pub label: String,
    /// The date as recorded, read after the label.
    pub when: String,
    pub first: NaiveDate,
    /// `None` for a span still open ("1977/..").
    pub last: Option<NaiveDate>,
    pub href: String,
    /// A CSS class for the bar's colour.
    pub class: &'static str,
    /// Dated marks on the bar (amendments, terminations): (day, class, title).
    pub marks: Vec<(NaiveDate, &'static str, String)>,
    /// `lang` of the label (the ledger's titles are Vietnamese).
    pub lang: Option<&'static str>,
}

impl Span {
    /// A span from an EDTF date, or `None` if it does not parse.
    pub fn dates(edtf: &str) -> Option<(NaiveDate, Option<NaiveDate>)> {
        let when: Edtf = edtf.parse().ok()?;
        Some((when.first_day(), when.last_day()))
    }
}

/// Rows of spans over `axis`: each row a label (HTML, so it wraps at any
/// width) over its bar (SVG), with the year grid behind and, when given, a
/// cursor (the as-of day) across every row. Spans starting before the axis
/// are drawn from its left edge with an arrow; open ones run to its right
/// edge with one.
pub fn spans(label: &str, axis: Axis, rows: &[Span], cursor: Option<(NaiveDate, String)>) -> Markup {
    let x = |day: NaiveDate| format!("{:.3}%", axis.percent(day));
    let ticks: Vec<(i32, String)> = axis
        .ticks()
        .into_iter()
        .map(|year| (year, x(NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(axis.start))))
        .collect();
    html! {
        div.spans role="list" aria-label=(label) {
            @if let Some((day, text)) = &cursor {
                div.cursor-row aria-hidden="true" {
                    span.cursor-label style=(format!("left:{}", x(*day))) data-right=(axis.percent(*day) > 60.0) { (text) }
                }
            }
            div.axis aria-hidden="true" {
                @for (year, at) in &ticks { span.tick style=(format!("left:{at}")) { (year) } }
            }
            @for row in rows {
                @let first = row.first.max(axis.start);
                @let end = row.last.map_or(axis.end, |last| last.succ_opt().unwrap_or(last));
                @let width = (axis.percent(end) - axis.percent(first)).max(0.8);
                div.span-row role="listitem" {
                    a.label href=(row.href) lang=[row.lang] { (row.label) }
                    " " span.when { (row.when) }
                    svg.track width="100%" height=(TRACK) aria-hidden="true" focusable="false" {
                        @for (_, at) in &ticks { line.grid x1=(at) x2=(at) y1="0" y2=(TRACK) {} }
                        rect class=(format!("bar {}", row.class)) x=(x(first)) y="3" width=(format!("{width:.3}%")) height="10" rx="2" {}
                        @if row.first < axis.start { text.edge x="0" y="12" { "◀" } }
                        @if row.last.is_none() { text.edge x="100%" y="12" text-anchor="end" { "▶" } }
                        @for (day, class, title) in &row.marks {
                            rect class=(format!("mark {class}")) x=(x(*day)) y="0" width="4" height=(TRACK) { title { (title) } }
                        }
                    }
                }
            }
            @if let Some((day, _)) = &cursor {
                div.cursor style=(format!("left:{}", x(*day))) aria-hidden="true" {}
            }
        }
    }
}

/// One group of a bar chart: a label line and bars under it, each a link.
pub struct Group {
    pub label: String,
    /// (value, value as read, CSS class, link, title)
    pub bars: Vec<(f64, String, &'static str, String, String)>,
}

/// Horizontal bars, a bar of `largest` spanning the track (so that charts
/// of one currency share a scale), each bar a link to the records behind
/// it, its value read beside it.
pub fn bars(label: &str, groups: &[Group], largest: f64) -> Markup {
    let largest = largest.max(f64::MIN_POSITIVE);
    html! {
        div.bars role="list" aria-label=(label) {
            @for group in groups {
                div.bar-group role="listitem" {
                    div.label { (group.label) }
                    @for (value, read, class, href, title) in &group.bars {
                        a.bar-link href=(href) title=(title) {
                            svg.track width="100%" height="12" aria-hidden="true" focusable="false" {
                                rect class=(format!("bar {class}")) x="0" y="0" width=(format!("{:.3}%", (100.0 * value / largest).max(0.5))) height="12" rx="2" {}
                            }
                            span.value { (read) }
                        }
                    }
                }
            }
        }
    }
}

/// A small progress bar for a table cell.
pub fn progress(percent: i64) -> Markup {
    let percent = percent.clamp(0, 100);
    html! {
        svg.progress width="100%" height="10" role="img" aria-label=(format!("{percent}% done")) {
            rect.track x="0" y="0" width="100%" height="10" rx="2" {}
            rect.done x="0" y="0" width=(format!("{percent}%")) height="10" rx="2" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_axis_places_days_and_clamps_outside_ones() {
        let axis = Axis::years(2020, 2021);
        assert_eq!(axis.percent(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()), 0.0);
        assert_eq!(axis.percent(NaiveDate::from_ymd_opt(2022, 1, 1).unwrap()), 100.0);
        assert_eq!(axis.percent(NaiveDate::from_ymd_opt(1990, 1, 1).unwrap()), 0.0);
        let middle = axis.percent(NaiveDate::from_ymd_opt(2021, 1, 1).unwrap());
        assert!((middle - 50.07).abs() < 0.1, "{middle}");
        assert_eq!(Axis::years(2019, 2027).ticks(), (2019..=2027).collect::<Vec<_>>());
        assert_eq!(Axis::years(2015, 2026).ticks(), vec![2015, 2017, 2019, 2021, 2023, 2025]);
        assert_eq!(Axis::years(1962, 2027).ticks().len(), 7, "every ten years over decades");
        assert_eq!(Axis::years(2020, 2023).ticks(), vec![2020, 2021, 2022, 2023]);
    }
}
