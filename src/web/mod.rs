//! The dashboard for people: server-rendered HTML (maud, escaped by
//! construction), readable with no script at all, on the same views and
//! records as the JSON API; one small embedded script only enhances it
//! (live updates over the SSE stream, and clicking the calendar to move
//! the as-of cursor). Every asset (style, script, fonts) is in the binary.
//!
//! | route | what |
//! |---|---|
//! | `GET /?as_of&at_seq&party` | the overview: head, counts, latest records, timeline, agreements calendar, projects, aid charts, visits |
//! | `GET /records/{id or seq}` | one record as a person reads it: fields, sources and quotes, retraction, chain fields, what else names its entities |
//! | `GET /streams/{kind:id}` (asking for HTML) | an entity's page: its current state and every record naming it |
//! | `GET /aid?year&donor&recipient&(currency or item&unit)&at_seq` | the records behind one aid bar |
//! | `GET /assets/{name}` | the script and the fonts |
//!
//! The controls are a plain GET form, so every state of the page is a
//! link. Must never: show a number that is not the views' own (the browser
//! test compares the page with the JSON views).

mod charts;

use crate::cli::views::money_text;
use crate::error::Error;
use crate::server::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use charts::{Axis, Group, Span};
use chrono::{Datelike, NaiveDate};
use events::data::MoneyData;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use projections::activities::ActivityRow;
use projections::agreements::{wire_name, AgreementsView, CalendarRow};
use projections::aid::{AidCell, AidOf, AidView, Year};
use projections::projects::ProjectsView;
use projections::visits::VisitsView;
use serde::Deserialize;

/// Latest records listed on the overview.
const LATEST_RECORDS: u64 = 10;

/// Rows one list of the overview shows at most (the latest, for lists in
/// time order); the page says how many more there are and where to read
/// them, so that a ledger of 100,000 records still gives a page a person
/// can read (it gave 54 MB of HTML before this limit).
const ROWS_MAX: usize = 100;

/// Keeps the first `ROWS_MAX` rows; returns how many it dropped.
fn keep_first<T>(rows: &mut Vec<T>) -> usize {
    let dropped = rows.len().saturating_sub(ROWS_MAX);
    rows.truncate(ROWS_MAX);
    dropped
}

/// Keeps the last `ROWS_MAX` rows; returns how many it dropped.
fn keep_last<T>(rows: &mut Vec<T>) -> usize {
    let dropped = rows.len().saturating_sub(ROWS_MAX);
    rows.drain(..dropped);
    dropped
}

/// The note under a list cut to `ROWS_MAX` rows.
fn more(dropped: usize, which: &str, whole: &str) -> Markup {
    html! {
        @if dropped > 0 {
            p.more { (dropped) " " (which) " not shown (" (ROWS_MAX) " are). Narrow the page with the party filter, or read them all from "
                a href=(whole) { (whole) } "." }
        }
    }
}

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("dashboard.js");

/// The embedded assets: (name, content type, bytes).
const ASSETS: [(&str, &str, &[u8]); 7] = [
    ("dashboard.js", "text/javascript; charset=utf-8", SCRIPT.as_bytes()),
    ("noto-sans-latin-400.woff2", "font/woff2", include_bytes!("../../assets/fonts/noto-sans-latin-400-normal.woff2")),
    ("noto-sans-latin-700.woff2", "font/woff2", include_bytes!("../../assets/fonts/noto-sans-latin-700-normal.woff2")),
    (
        "noto-sans-vietnamese-400.woff2",
        "font/woff2",
        include_bytes!("../../assets/fonts/noto-sans-vietnamese-400-normal.woff2"),
    ),
    (
        "noto-sans-vietnamese-700.woff2",
        "font/woff2",
        include_bytes!("../../assets/fonts/noto-sans-vietnamese-700-normal.woff2"),
    ),
    ("noto-sans-lao-400.woff2", "font/woff2", include_bytes!("../../assets/fonts/noto-sans-lao-lao-400-normal.woff2")),
    ("noto-sans-lao-700.woff2", "font/woff2", include_bytes!("../../assets/fonts/noto-sans-lao-lao-700-normal.woff2")),
];

/// `GET /assets/{name}`: an embedded asset, cached for a day.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, bytes)) => {
            ([(header::CONTENT_TYPE, *kind), (header::CACHE_CONTROL, "public, max-age=86400")], *bytes).into_response()
        }
        None => refused(StatusCode::NOT_FOUND, "No such asset."),
    }
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — amity" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#content" { "Skip to the content" }
                header { nav aria-label="Site" { a href="/" { "amity" } span.muted { " · Hà Nội – Viêng Chăn ledger" } } }
                main #content { (body) }
                footer.muted { p { "Every figure comes from the ledger's views; every record links to its sources. "
                    a href="/openapi.json" { "The API" } "." } }
                script src="/assets/dashboard.js" defer {}
            }
        }
    }
}

/// A path with its query, e.g. `/?as_of=2025-12-31&party=vn%2Fhanoi`.
fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A record's one-line summary: its title, name or leader, and its money.
fn summary(data: &serde_json::Value) -> String {
    let name = ["title", "name", "subject"]
        .iter()
        .find_map(|field| data[field].as_str())
        .or_else(|| data["led_by"]["name"].as_str())
        .or_else(|| data["target"].as_str());
    let money = data["amount"].as_object().and_then(|m| {
        Some(money_text(&MoneyData {
            amount: m.get("amount")?.as_str()?.into(),
            currency: m.get("currency")?.as_str()?.into(),
        }))
    });
    match (name, money) {
        (Some(name), Some(money)) => format!("{name} · {money}"),
        (Some(name), None) => name.to_string(),
        (None, Some(money)) => money,
        (None, None) => String::new(),
    }
}

/// One record as a line of a list, linked to its page.
fn record_line(record: &events::Record, retracted: bool) -> Markup {
    html! {
        li {
            a href=(format!("/records/{}", record.id)) { "#" (record.seq) " " (record.event_type) }
            " · " (human_date(&record.occurred))
            @let text = summary(&record.data);
            @if !text.is_empty() { " · " span lang="vi" { (text) } }
            @if retracted { " " span.retracted { "[retracted]" } }
        }
    }
}

/// A date at the precision it was recorded: `2022`, `Nov 2023`,
/// `22 Nov 2023`, `22–24 Nov 2023`, `2022 – 2025`, `1977 –`.
pub fn human_date(edtf: &str) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let one = |date: &str| -> String {
        let parts: Vec<&str> = date.split('-').collect();
        let month = |m: &str| m.parse::<usize>().ok().and_then(|m| MONTHS.get(m.wrapping_sub(1))).copied();
        match parts.as_slice() {
            [year] => year.to_string(),
            [year, m] => month(m).map_or_else(|| date.to_string(), |m| format!("{m} {year}")),
            [year, m, day] => match (month(m), day.parse::<u32>()) {
                (Some(m), Ok(day)) => format!("{day} {m} {year}"),
                _ => date.to_string(),
            },
            _ => date.to_string(),
        }
    };
    match edtf.split_once('/') {
        None => one(edtf),
        Some((start, "..")) => format!("{} –", one(start)),
        Some((start, end)) => {
            let (s, e): (Vec<&str>, Vec<&str>) = (start.split('-').collect(), end.split('-').collect());
            if s.len() == 3 && e.len() == 3 && s[0] == e[0] && s[1] == e[1] {
                let day = s[2].parse::<u32>().map_or_else(|_| s[2].to_string(), |d| d.to_string());
                format!("{day}–{}", one(end))
            } else {
                format!("{} – {}", one(start), one(end))
            }
        }
    }
}

/// The page's controls, as given in the URL.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverviewQuery {
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    at_seq: Option<String>,
    #[serde(default)]
    party: Option<String>,
}

/// The controls, checked: valid-time day, transaction-time cut, party.
#[derive(Debug, Clone)]
struct Controls {
    as_of: NaiveDate,
    /// Whether `as_of` was given (else it is today).
    dated: bool,
    at_seq: Option<u64>,
    party: Option<String>,
}

impl Controls {
    fn parse(query: &OverviewQuery) -> Result<Controls, String> {
        let as_of = match blank(&query.as_of).map(events::date::parse_day) {
            None => None,
            Some(Ok(day)) => Some(day),
            Some(Err(e)) => return Err(format!("as_of: {e}")),
        };
        let at_seq = match blank(&query.at_seq).map(str::parse::<u64>) {
            None => None,
            Some(Ok(seq)) => Some(seq),
            Some(Err(_)) => return Err("at_seq: must be a record number".into()),
        };
        Ok(Controls {
            as_of: as_of.unwrap_or_else(|| chrono::Utc::now().date_naive()),
            dated: as_of.is_some(),
            at_seq,
            party: blank(&query.party).map(str::to_string),
        })
    }

    /// A JSON route of the API with these controls (`as_of` only where the
    /// route takes it), where the rows a list leaves out can be read.
    fn api(&self, path: &str, dated: bool) -> String {
        let (day, seq) = (self.as_of.to_string(), self.at_seq.map(|s| s.to_string()));
        let mut pairs = Vec::new();
        pairs.extend(dated.then_some(("as_of", day.as_str())));
        pairs.extend(seq.as_deref().map(|s| ("at_seq", s)));
        pairs.extend(self.party.as_deref().map(|p| ("party", p)));
        link(path, &pairs)
    }

    /// `GET /events` of one type prefix, for this party if one is chosen.
    fn events(&self, type_prefix: &str) -> String {
        let mut pairs = vec![("type", type_prefix)];
        pairs.extend(self.party.as_deref().map(|p| ("party", p)));
        link("/events", &pairs)
    }

    /// The overview's URL with these controls and `as_of` set to `day`.
    fn on_day(&self, day: NaiveDate) -> String {
        let (day, seq) = (day.to_string(), self.at_seq.map(|s| s.to_string()));
        let mut pairs = vec![("as_of", day.as_str())];
        pairs.extend(seq.as_deref().map(|s| ("at_seq", s)));
        pairs.extend(self.party.as_deref().map(|p| ("party", p)));
        link("/", &pairs)
    }
}

/// An HTML refusal in the page's own style (the JSON API keeps its shape).
fn refused(status: StatusCode, message: &str) -> Response {
    (
        status,
        page("Not shown", html! { h1 { "Not shown" } p { (message) } p { a href="/" { "Back to the overview" } } }),
    )
        .into_response()
}

fn blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Runs `build` on a blocking thread once the views reflect the head, and
/// answers with its page (or an HTML refusal).
async fn render(
    state: &AppState,
    build: impl FnOnce(crate::store::Ledger) -> crate::Result<Option<Markup>> + Send + 'static,
) -> Response {
    state.ledger.views_reflect(state.ledger.head().seq).await;
    let ledger = state.ledger.clone();
    match tokio::task::spawn_blocking(move || build(ledger)).await {
        Ok(Ok(Some(markup))) => markup.into_response(),
        Ok(Ok(None)) => refused(StatusCode::NOT_FOUND, "Nothing in the ledger has this name."),
        Ok(Err(e)) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Everything the overview shows, read at one moment.
struct Overview {
    status: crate::store::Status,
    latest: Vec<(events::Record, bool)>,
    agreements: AgreementsView,
    calendar: Vec<CalendarRow>,
    projects: ProjectsView,
    aid: AidView,
    visits: VisitsView,
    activities: Vec<ActivityRow>,
    /// Rows cut from each list by `ROWS_MAX`.
    hidden: Hidden,
}

#[derive(Default)]
struct Hidden {
    agreements: usize,
    calendar: usize,
    projects: usize,
    money: usize,
    items: usize,
    visits: usize,
    activities: usize,
}

impl Overview {
    /// Cuts every list to `ROWS_MAX` rows: the latest visits and
    /// activities, the first of the others (in the views' order).
    fn cut(mut self) -> Overview {
        self.hidden = Hidden {
            agreements: keep_first(&mut self.agreements.agreements),
            calendar: keep_first(&mut self.calendar),
            projects: keep_first(&mut self.projects.projects),
            money: keep_first(&mut self.aid.money),
            items: keep_first(&mut self.aid.items),
            visits: keep_last(&mut self.visits.visits),
            activities: keep_last(&mut self.activities),
        };
        self
    }
}

pub async fn overview(
    State(state): State<AppState>,
    query: Result<Query<OverviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return refused(
            StatusCode::BAD_REQUEST,
            "The page takes as_of (a day), at_seq (a record number) and party only.",
        );
    };
    let controls = match Controls::parse(&query) {
        Ok(controls) => controls,
        Err(message) => return refused(StatusCode::BAD_REQUEST, &message),
    };
    render(&state, move |ledger| {
        let status = ledger.status()?;
        let last = controls.at_seq.map_or(status.seq, |at| at.min(status.seq));
        let latest = ledger
            .range(last.saturating_sub(LATEST_RECORDS - 1).max(1), last)
            .map(|record| {
                record.map(|r| {
                    let retracted = ledger.is_retracted(r.seq);
                    (r, retracted)
                })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        // Every view cut at the head read above, so that the page shows one
        // moment even while records are appended.
        let (as_of, at_seq, party) = (controls.as_of, Some(last), controls.party.as_deref());
        let overview = ledger.read_views(|views| Overview {
            status,
            latest,
            agreements: views.agreements(as_of, at_seq).naming(party),
            calendar: views.agreements_calendar(as_of, at_seq, party),
            projects: views.projects(as_of, at_seq).naming(party),
            aid: views.aid(at_seq).naming(party),
            visits: views.visits(at_seq).naming(party),
            activities: views.activities(at_seq, party),
            hidden: Hidden::default(),
        });
        let overview = overview.cut();
        Ok(Some(overview_page(&overview, &controls)))
    })
    .await
}

fn overview_page(o: &Overview, controls: &Controls) -> Markup {
    let types: Vec<&str> = events::EventType::ALL.iter().map(|t| t.as_str()).collect();
    let shown = controls.at_seq.map_or(o.status.seq, |at| at.min(o.status.seq));
    let body = html! {
        h1 { "Hà Nội – Viêng Chăn: the relationship at a glance" }
        form.controls method="get" action="/" aria-label="What the page shows" {
            label { "As of (valid time)" input #as_of type="date" name="as_of" value=(controls.as_of.to_string()); }
            label { "After record (transaction time)" input #at_seq type="number" min="0" name="at_seq" value=[controls.at_seq] placeholder=(o.status.seq); }
            label { "Party" input #party type="text" name="party" placeholder="vn/hanoi" value=[controls.party.as_deref()]; }
            button type="submit" { "Show" }
            @if controls.dated || controls.at_seq.is_some() || controls.party.is_some() { a href="/" { "Today, whole ledger" } }
        }
        p #live-status.muted role="status" aria-live="polite" {}
        div #live data-head=(o.status.seq) data-types=(types.join(" ")) data-frozen=(controls.at_seq.is_some()) {
            p #head {
                "Ledger head: record " strong #head-seq { (o.status.seq) } " · hash " span.mono #head-hash { (o.status.head) }
                @if controls.at_seq.is_some() { br; "Shown as the ledger stood after record " strong #shown-seq { (shown) } "." }
                @if let Some(party) = &controls.party { br; "Only what names " strong { (party) } "." }
            }
            (timeline_section(&o.visits, &o.activities, controls, &o.hidden))
            (agreements_section(&o.agreements, &o.calendar, controls, &o.hidden))
            (projects_section(&o.projects, controls, &o.hidden))
            (aid_section(&o.aid, controls, &o.hidden))
            section aria-labelledby="latest-h" {
                h2 #latest-h { "Latest records" }
                ul.records #latest { @for (record, retracted) in o.latest.iter().rev() { (record_line(record, *retracted)) } }
                h3 { "Records by type (whole ledger)" }
                ul.counts { @for (kind, count) in &o.status.types { li { (kind) ": " span.num { (count) } } } }
            }
        }
    };
    page("Overview", body)
}

/// The valid-time span of a list of EDTF dates, as whole years.
fn year_span<'a>(dates: impl Iterator<Item = &'a str>, also: Option<NaiveDate>) -> Option<(i32, i32)> {
    let mut span: Option<(i32, i32)> = also.map(|d| (d.year(), d.year()));
    for (first, last) in dates.filter_map(Span::dates) {
        let last = last.unwrap_or(first).year();
        span = Some(span.map_or((first.year(), last), |(a, b)| (a.min(first.year()), b.max(last))));
    }
    span
}

/// At most `years` years ending with the latest, so that one span from
/// 1962 does not squeeze the last decade into a sliver (earlier starts are
/// drawn from the left edge with an arrow, their date in the label).
fn recent(span: (i32, i32), years: i32) -> Axis {
    Axis::years(span.0.max(span.1 - years + 1), span.1)
}

fn timeline_section(visits: &VisitsView, activities: &[ActivityRow], controls: &Controls, hidden: &Hidden) -> Markup {
    let mut rows: Vec<(NaiveDate, Span)> = Vec::new();
    for v in &visits.visits {
        let Some((first, last)) = Span::dates(&v.occurred) else { continue };
        rows.push((
            first,
            Span {
                label: match &v.level {
                    Some(level) => format!(
                        "Visit {} → {}, led by {} ({} level)",
                        v.delegation_of,
                        v.host,
                        v.led_by.name,
                        wire_name(level)
                    ),
                    None => format!("Visit {} → {}, led by {}", v.delegation_of, v.host, v.led_by.name),
                },
                when: human_date(&v.occurred),
                first,
                last,
                href: format!("/streams/visit:{}", v.visit),
                class: "visit",
                marks: Vec::new(),
                lang: None,
            },
        ));
    }
    for a in activities {
        let Some((first, last)) = Span::dates(&a.occurred) else { continue };
        rows.push((
            first,
            Span {
                label: a.title.clone(),
                when: human_date(&a.occurred),
                first,
                last,
                href: format!("/records/{}", a.id),
                class: "activity",
                marks: Vec::new(),
                lang: Some("vi"),
            },
        ));
    }
    rows.sort_by_key(|(first, _)| *first);
    let rows: Vec<Span> = rows.into_iter().map(|(_, span)| span).collect();
    let dates = visits.visits.iter().map(|v| v.occurred.as_str()).chain(activities.iter().map(|a| a.occurred.as_str()));
    html! {
        section aria-labelledby="timeline-h" {
            h2 #timeline-h { "Timeline: visits and activities (" (visits.visits.len() + hidden.visits) " visits, " (activities.len() + hidden.activities) " activities)" }
            p.legend { span.key.visit {} " visit " span.key.activity {} " activity · a bar covers the whole period a date allows (a year, a month, a range)" }
            @if let Some(span) = year_span(dates, None) {
                (charts::spans("Visits and activities by date", recent(span, 12), &rows, None))
            } @else { p.muted { "None." } }
            (more(hidden.activities, "earlier activities are", &controls.events("activity.held")))
            h3 { "Visits" }
            (visits_table(visits))
            (more(hidden.visits, "earlier visits are", &controls.api("/views/visits", false)))
        }
    }
}

fn agreements_section(view: &AgreementsView, calendar: &[CalendarRow], controls: &Controls, hidden: &Hidden) -> Markup {
    let rows: Vec<Span> = calendar
        .iter()
        .filter_map(|row| {
            let (first, last) = Span::dates(&row.effective)?;
            let mut marks: Vec<_> =
                row.amendments.iter().map(|m| (m.day, "amended", format!("amended, record #{}", m.seq))).collect();
            marks.extend(
                row.terminations.iter().map(|m| (m.day, "terminated", format!("terminated, record #{}", m.seq))),
            );
            Some(Span {
                label: row.title.clone(),
                when: {
                    let mut when =
                        format!("in force {} · signed {}", human_date(&row.effective), human_date(&row.signed));
                    for m in &row.amendments {
                        when.push_str(&format!(" · amended {}", human_date(&m.day.to_string())));
                    }
                    for m in &row.terminations {
                        when.push_str(&format!(" · terminated {}", human_date(&m.day.to_string())));
                    }
                    when
                },
                first,
                last,
                href: format!("/streams/agreement:{}", row.agreement),
                class: if row.in_force { "in-force" } else { "not-in-force" },
                marks,
                lang: Some("vi"),
            })
        })
        .collect();
    let span = year_span(calendar.iter().map(|r| r.effective.as_str()), Some(controls.as_of));
    html! {
        section aria-labelledby="agreements-h" {
            h2 #agreements-h { "Agreements: " span #agreements-count { (view.agreements.len() + hidden.agreements) } " in force on " (view.as_of) }
            p.legend { span.key.in-force {} " in force on the day " span.key.not-in-force {} " not in force " span.key.amended {} " amended " span.key.terminated {} " terminated · the red line is the as-of day; click the calendar, or a year, to move it" }
            @if let Some(span) = span {
                @let axis = recent(span, 14);
                nav.years aria-label="Move the as-of day to a year" {
                    @for year in axis.start.year()..axis.end.year() {
                        @let day = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(axis.start);
                        a href=(controls.on_day(day)) { (year) }
                    }
                }
                div #calendar data-start=(axis.start.to_string()) data-end=(axis.end.to_string()) {
                    (charts::spans("Agreements calendar", axis, &rows, Some((controls.as_of, format!("as of {}", human_date(&controls.as_of.to_string()))))))
                }
                (more(hidden.calendar, "more agreements are", &controls.events("agreement.")))
            }
            @if view.agreements.is_empty() { p.muted { "None in force on this day." } } @else {
                div.table-wrap { table.stack #agreements { thead { tr { th { "Agreement" } th { "Kind, level" } th { "Parties" } th { "Signed" } th { "Effective" } th { "Provisions" } } }
                    tbody { @for a in &view.agreements { tr {
                        td data-label="Agreement" { a href=(format!("/streams/agreement:{}", a.agreement)) lang="vi" { (a.title) } br; span.muted.mono { (a.agreement) } }
                        td data-label="Kind, level" { (wire_name(&a.kind)) ", " (wire_name(&a.level)) }
                        td data-label="Parties" { (a.parties.join(", ")) }
                        td data-label="Signed" { (human_date(&a.signed)) }
                        td data-label="Effective" { (human_date(&a.effective)) }
                        td data-label="Provisions" { @if a.provisions.is_empty() { "—" } @else { ul { @for p in &a.provisions { li lang="vi" { (p.subject) " " span.muted { "(" (p.parties.join(", ")) ")" } } } } } }
                    } } }
                } }
                (more(hidden.agreements, "more agreements in force are", &controls.api("/views/agreements", true)))
            }
        }
    }
}

fn amounts_text(amounts: &[projections::projects::Amount]) -> String {
    let texts: Vec<String> = amounts
        .iter()
        .map(|a| money_text(&MoneyData { amount: a.amount.as_str().into(), currency: a.currency.as_str().into() }))
        .collect();
    if texts.is_empty() {
        "—".into()
    } else {
        texts.join(", ")
    }
}

fn projects_section(view: &ProjectsView, controls: &Controls, hidden: &Hidden) -> Markup {
    html! {
        section aria-labelledby="projects-h" {
            h2 #projects-h { "Outstanding projects on " (view.as_of) " (" span #projects-count { (view.projects.len() + hidden.projects) } ")" }
            @if view.projects.is_empty() { p.muted { "None." } } @else {
                div.table-wrap { table.stack #projects { thead { tr { th { "Project" } th { "Beneficiary" } th.num { "Progress" } th { "Status" } th { "Last report" } th.num { "Pledged" } th.num { "Delivered" } } }
                    tbody { @for p in &view.projects { tr data-project=(p.project) {
                        td data-label="Project" { a href=(format!("/streams/project:{}", p.project)) lang="vi" { (p.name) } br; span.muted.mono { (p.project) } }
                        td data-label="Beneficiary" { (p.beneficiary) }
                        td.num.progress-cell data-label="Progress" {
                            @if let Some(percent) = p.percent { span.percent { (percent) "%" } (charts::progress(percent)) } @else { "—" }
                        }
                        td data-label="Status" { @if let Some(status) = &p.status { (wire_name(status)) } @else { "—" } }
                        td data-label="Last report" { @if let Some(last) = &p.last_report { (human_date(last)) } @else { "—" } }
                        td.num.pledged data-label="Pledged" { (amounts_text(&p.pledged)) }
                        td.num.delivered data-label="Delivered" { (amounts_text(&p.delivered)) }
                    } } }
                } }
                (more(hidden.projects, "more projects are", &controls.api("/views/projects", true)))
            }
        }
    }
}

fn year_text(year: Year) -> String {
    match year {
        Year::Year(year) => year.to_string(),
        Year::Undated => "undated".into(),
    }
}

/// The link to the records behind one cell of the aid view.
fn aid_link(cell: &AidCell<'_>, at_seq: Option<u64>) -> String {
    let year = year_text(cell.year);
    let seq = at_seq.map(|s| s.to_string());
    let mut pairs = vec![("year", year.as_str()), ("donor", cell.donor), ("recipient", cell.recipient)];
    match cell.of {
        AidOf::Money(currency) => pairs.push(("currency", currency)),
        AidOf::Item(item, unit) => pairs.extend([("item", item), ("unit", unit)]),
    }
    pairs.extend(seq.as_deref().map(|s| ("at_seq", s)));
    link("/aid", &pairs)
}

fn aid_section(view: &AidView, controls: &Controls, hidden: &Hidden) -> Markup {
    let text =
        |amount: &str, currency: &str| money_text(&MoneyData { amount: amount.into(), currency: currency.into() });
    let mut currencies: Vec<&str> = view.money.iter().map(|m| m.currency.as_str()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    let value = |amount: &str| amount.parse::<f64>().unwrap_or(0.0);
    let groups = |currency: &str, dated: bool| -> Vec<Group> {
        view.money
            .iter()
            .filter(|m| m.currency == currency && (m.year != Year::Undated) == dated)
            .map(|m| {
                let cell =
                    AidCell { year: m.year, donor: &m.donor, recipient: &m.recipient, of: AidOf::Money(&m.currency) };
                let href = aid_link(&cell, controls.at_seq);
                let label = format!("{} · {} → {}", year_text(m.year), m.donor, m.recipient);
                Group {
                    bars: vec![
                        (
                            value(&m.pledged),
                            format!("pledged {}", text(&m.pledged, &m.currency)),
                            "pledged",
                            href.clone(),
                            format!("{label}: pledged {}; the records", text(&m.pledged, &m.currency)),
                        ),
                        (
                            value(&m.delivered),
                            format!("delivered {}", text(&m.delivered, &m.currency)),
                            "delivered",
                            href,
                            format!("{label}: delivered {}; the records", text(&m.delivered, &m.currency)),
                        ),
                    ],
                    label,
                }
            })
            .collect()
    };
    html! {
        section aria-labelledby="aid-h" {
            h2 #aid-h { "Aid by year" }
            p.legend { span.key.pledged {} " pledged " span.key.delivered {} " delivered · one chart per currency, never converted; each bar leads to its records" }
            @for currency in &currencies {
                @let dated = groups(currency, true);
                @let undated = groups(currency, false);
                @let largest = dated.iter().chain(&undated).flat_map(|g| g.bars.iter().map(|b| b.0)).fold(0.0, f64::max);
                h3 { "In " (currency) }
                @if !dated.is_empty() { (charts::bars(&format!("Aid in {currency} by year"), &dated, largest)) }
                @if !undated.is_empty() {
                    h4 { "In " (currency) ", undated (spans years)" }
                    p.muted { "Given over several years at once, so not counted in any one year." }
                    (charts::bars(&format!("Aid in {currency}, undated"), &undated, largest))
                }
            }
            h3 { "Totals" }
            div.table-wrap { table.stack #aid-money { thead { tr { th { "Year" } th { "Donor → recipient" } th.num { "Pledged" } th.num { "Delivered" } } }
                tbody { @for m in &view.money { tr {
                    td data-label="Year" { @match m.year { Year::Year(year) => (year), Year::Undated => strong { "undated (spans years)" } } }
                    td data-label="Donor → recipient" { (m.donor) " → " (m.recipient) }
                    td.num.pledged data-label="Pledged" { (text(&m.pledged, &m.currency)) }
                    td.num.delivered data-label="Delivered" { (text(&m.delivered, &m.currency)) }
                } } }
            } }
            (more(hidden.money, "more rows of money are", &controls.api("/views/aid", false)))
            h3 { "In kind" }
            @if view.items.is_empty() { p.muted { "None." } } @else {
                div.table-wrap { table.stack #aid-items { thead { tr { th { "Year" } th { "Donor → recipient" } th { "Item" } th.num { "Pledged" } th.num { "Delivered" } } }
                    tbody { @for i in &view.items { tr {
                        td data-label="Year" { @match i.year { Year::Year(year) => (year), Year::Undated => strong { "undated (spans years)" } } }
                        td data-label="Donor → recipient" { (i.donor) " → " (i.recipient) }
                        td data-label="Item" {
                            a href=(aid_link(&AidCell { year: i.year, donor: &i.donor, recipient: &i.recipient, of: AidOf::Item(&i.item, &i.unit) }, controls.at_seq)) lang="vi" { (i.item) }
                        }
                        td.num.pledged data-label="Pledged" { (i.pledged) " " (i.unit) }
                        td.num.delivered data-label="Delivered" { (i.delivered) " " (i.unit) }
                    } } }
                } }
                (more(hidden.items, "more rows in kind are", &controls.api("/views/aid", false)))
            }
        }
    }
}

fn visits_table(view: &VisitsView) -> Markup {
    html! {
        div.table-wrap { table.stack #visits { thead { tr { th { "When" } th { "Who went where" } th { "Led by" } th { "Level" } } }
            tbody { @for v in &view.visits { tr {
                td data-label="When" { (human_date(&v.occurred)) }
                td data-label="Who went where" { a href=(format!("/streams/visit:{}", v.visit)) { (v.delegation_of) " → " (v.host) } }
                td data-label="Led by" lang="vi" { (v.led_by.name) @if let Some(title) = &v.led_by.title { br; span.muted { (title) } } }
                td data-label="Level" { @if let Some(level) = &v.level { (wire_name(level)) } @else { "—" } }
            } } }
        } }
    }
}

/// `GET /aid?…`: the records one aid bar sums.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AidQuery {
    year: String,
    donor: String,
    recipient: String,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    at_seq: Option<u64>,
}

pub async fn aid_records(
    State(state): State<AppState>,
    query: Result<Query<AidQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return refused(
            StatusCode::BAD_REQUEST,
            "The page takes year, donor, recipient, and currency or item and unit (and at_seq).",
        );
    };
    let year = match q.year.as_str() {
        "undated" => Year::Undated,
        year => match year.parse() {
            Ok(year) => Year::Year(year),
            Err(_) => return refused(StatusCode::BAD_REQUEST, "year: must be a year or \"undated\""),
        },
    };
    render(&state, move |ledger| {
        let of = match (&q.currency, &q.item, &q.unit) {
            (Some(currency), None, None) => AidOf::Money(currency),
            (None, Some(item), Some(unit)) => AidOf::Item(item, unit),
            _ => return Ok(None),
        };
        let cell = AidCell { year, donor: &q.donor, recipient: &q.recipient, of };
        let mut seqs = ledger.read_views(|views| views.aid_sources(q.at_seq, &cell));
        let total = seqs.len();
        let dropped = keep_last(&mut seqs);
        let records = seqs.iter().filter_map(|seq| ledger.get(*seq).transpose()).collect::<crate::Result<Vec<_>>>()?;
        let what = match of {
            AidOf::Money(currency) => format!("aid in {currency}"),
            AidOf::Item(item, unit) => format!("{item} ({unit})"),
        };
        let body = html! {
            h1 { (q.donor) " → " (q.recipient) ", " (year_text(year)) ": " span lang="vi" { (what) } }
            p { "The " (total) " records this figure sums, each with its source"
                @if dropped > 0 { " (the latest " (records.len()) " are listed)" } ":" }
            ul.records #aid-records { @for record in &records { (record_line(record, false)) } }
            p { a href="/#aid-h" { "Back to the overview" } }
        };
        Ok(Some(page("Aid records", body)))
    })
    .await
}

/// One record as a person reads it.
pub async fn record(State(state): State<AppState>, Path(key): Path<String>) -> Response {
    render(&state, move |ledger| {
        let seq = match key.parse::<u64>() {
            Ok(seq) => Some(seq),
            Err(_) => ledger.seq_of(&key)?,
        };
        let Some(record) = seq.map(|seq| ledger.get(seq)).transpose()?.flatten() else { return Ok(None) };
        let data = record
            .event_type
            .parse::<events::EventType>()
            .ok()
            .and_then(|t| events::EventData::decode(t, &record.data).ok());
        let streams = data.as_ref().map(events::known::streams).unwrap_or_default();
        // One pass over the log: every other record naming one of its
        // streams, and the retraction of this one, if any.
        let mut related = Vec::new();
        let mut retraction = None;
        for entry in ledger.range_bytes(1, ledger.head().seq) {
            let (seq, bytes) = entry?;
            if seq == record.seq {
                continue;
            }
            let other =
                events::Record::decode(&bytes).map_err(|problem| Error::Chain(events::ChainError { seq, problem }))?;
            let data = other.event_type.parse().ok().and_then(|t| events::EventData::decode(t, &other.data).ok());
            match &data {
                Some(events::EventData::EventRetracted(d)) if d.target == record.id => {
                    retraction = Some((other.clone(), d.reason.to_string()));
                }
                Some(data) => {
                    let names: Vec<String> =
                        events::known::streams(data).into_iter().filter(|s| streams.contains(s)).collect();
                    if !names.is_empty() {
                        let retracted = ledger.is_retracted(other.seq);
                        related.push((other, retracted, names));
                    }
                }
                _ => {}
            }
        }
        Ok(Some(record_page(&record, retraction.as_ref(), &streams, &related)))
    })
    .await
}

fn field_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => items.iter().map(field_value).collect::<Vec<_>>().join("; "),
        serde_json::Value::Object(map) => match (map.get("amount"), map.get("currency")) {
            (Some(serde_json::Value::String(amount)), Some(serde_json::Value::String(currency))) => {
                money_text(&MoneyData { amount: amount.as_str().into(), currency: currency.as_str().into() })
            }
            _ => map.iter().map(|(k, v)| format!("{k}: {}", field_value(v))).collect::<Vec<_>>().join(", "),
        },
        other => other.to_string(),
    }
}

/// A field's value, linked to the entity's page when it names one of the
/// record's entities (`project: justice-hq` → `/streams/project:justice-hq`).
fn linked_value(value: &serde_json::Value, streams: &[String]) -> Markup {
    let text = field_value(value);
    match streams.iter().find(|s| s.split_once(':').is_some_and(|(_, id)| id == text)) {
        Some(stream) => html! { a href=(format!("/streams/{stream}")) { (text) } },
        None => html! { (text) },
    }
}

/// A field's name as a person reads it: `led_by` → `led by`.
fn field_name(name: &str) -> String {
    name.replace('_', " ")
}

/// Another record naming some of a record's entities: it, whether it was
/// retracted, and which of those entities it names.
type Related = (events::Record, bool, Vec<String>);

fn record_page(
    record: &events::Record,
    retraction: Option<&(events::Record, String)>,
    streams: &[String],
    related: &[Related],
) -> Markup {
    let body = html! {
        h1 { (record.event_type) " · " (human_date(&record.occurred)) }
        @if let Some((by, reason)) = retraction {
            p.retracted #retracted { "Retracted by " a href=(format!("/records/{}", by.id)) { "record #" (by.seq) } " (" (reason) ")." }
        }
        table.fields { tbody {
            tr { th scope="row" { "when" } td { (human_date(&record.occurred)) " " span.muted { "(" (record.occurred) ")" } } }
            @for (name, value) in record.data.as_object().into_iter().flatten() {
                tr { th scope="row" { (field_name(name)) } td lang="vi" { (linked_value(value, streams)) } }
            }
        } }
        h2 { "Sources" }
        @for source in record.sources.as_array().into_iter().flatten() {
            div.source {
                p { strong lang="vi" { (source["title"].as_str().unwrap_or("untitled")) }
                    @if let Some(published) = source["published"].as_str() { span.muted { " · published " (human_date(published)) } }
                    @if let Some(url) = source["url"].as_str() { " · " a href=(url) rel="noreferrer" { "the article" } } }
                @if let Some(quote) = source["quote"].as_str() { blockquote.quote lang=(source["lang"].as_str().unwrap_or("vi")) { (quote) } }
            }
        }
        h2 { "In the chain" }
        table.fields { tbody {
            tr { th scope="row" { "seq" } td { (record.seq) } }
            tr { th scope="row" { "id" } td.mono { (record.id) } }
            tr { th scope="row" { "recorded at" } td { (record.recorded_at) } }
            tr { th scope="row" { "prev" } td.mono { (record.prev) } }
            tr { th scope="row" { "hash" } td.mono { (record.hash) } }
        } }
        h2 { "Everything else naming its entities" }
        @for stream in streams {
            @let naming: Vec<&Related> = related.iter().filter(|(_, _, names)| names.contains(stream)).collect();
            h3 { a href=(format!("/streams/{stream}")) { (stream) } " " span.muted { "(" (naming.len()) " other records)" } }
            @if !stream.starts_with("party:") && !naming.is_empty() {
                ul.records { @for (other, retracted, _) in naming { (record_line(other, *retracted)) } }
            }
        }
        @if streams.iter().any(|s| s.starts_with("party:")) { p.muted { "A party's records are listed on its page." } }
    };
    page(&record.event_type, body)
}

/// Whether a request would rather have HTML than JSON: a browser's
/// navigation (`Accept: text/html,…`), not an API client's `*/*`.
pub fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|kind| kind.trim().starts_with("text/html")))
}

/// `GET /streams/{kind:id}` for a browser: the entity's current state and
/// every record naming it, oldest first.
pub async fn stream_page(state: AppState, stream: String) -> Response {
    if events::EntityKey::parse(&stream).is_none() {
        return refused(
            StatusCode::BAD_REQUEST,
            "stream: must be an entity as kind:id (party, visit, agreement, pledge, project)",
        );
    }
    render(&state, move |ledger| {
        let mut records = crate::cli::history::records_naming(&ledger, &stream, ledger.head().seq)?;
        if records.is_empty() {
            return Ok(None);
        }
        let total = records.len();
        let dropped = keep_last(&mut records);
        let today = chrono::Utc::now().date_naive();
        let (kind, id) = stream.split_once(':').unwrap_or((&stream, ""));
        let state = ledger.read_views(|views| -> Markup {
            match kind {
                "project" => {
                    let view = views.projects(today, None);
                    match view.projects.iter().find(|p| p.project == id) {
                        Some(p) => html! { p { "Outstanding today: " @if let Some(percent) = p.percent { (percent) "% done" } @else { "no progress reported" }
                            @if let Some(status) = &p.status { ", " (wire_name(status)) }
                            "; pledged " (amounts_text(&p.pledged)) ", delivered " (amounts_text(&p.delivered)) "." } },
                        None => html! { p { "Not outstanding today (completed, or not yet launched)." } },
                    }
                }
                "agreement" => match views.agreements_calendar(today, None, None).iter().find(|a| a.agreement == id) {
                    Some(a) => html! { p { span lang="vi" { (a.title) } ": effective " (human_date(&a.effective)) ", signed " (human_date(&a.signed)) "; "
                        @if a.in_force { "in force today." } @else { "not in force today." } } },
                    None => html! {},
                },
                _ => html! {},
            }
        });
        let body = html! {
            h1 { (stream) }
            (state)
            h2 { "Its history (" (total) " records)" }
            @if dropped > 0 { p.more { "The latest " (records.len()) " are listed; all of them, page by page, from "
                a href=(format!("/streams/{stream}?limit=1000")) { "/streams/" (stream) } " (JSON)." } }
            ul.records #stream-records { @for row in &records { (record_line(&row.record, row.retracted)) } }
        };
        Ok(Some(page(&stream, body)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::human_date;

    #[test]
    fn dates_read_at_the_precision_recorded() {
        assert_eq!(human_date("2022"), "2022");
        assert_eq!(human_date("2023-11"), "Nov 2023");
        assert_eq!(human_date("2022-04-04"), "4 Apr 2022");
        assert_eq!(human_date("2023-11-22/2023-11-24"), "22–24 Nov 2023");
        assert_eq!(human_date("2022/2025"), "2022 – 2025");
        assert_eq!(human_date("1977/.."), "1977 –");
        assert_eq!(human_date("1962/2022-08-17"), "1962 – 17 Aug 2022");
    }
}
