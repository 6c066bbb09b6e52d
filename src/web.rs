//! The dashboard for people (issue 16, first part): server-rendered HTML
//! (maud, escaped by construction; no script needed to read it, no asset
//! from the network), on the same views and records as the JSON API.
//!
//! | route | what |
//! |---|---|
//! | `GET /?as_of&at_seq&party` | the overview: head, counts, latest records, the four views |
//! | `GET /records/{id or seq}` | one record as a person reads it, its sources and quotes, what else names its entities |
//!
//! The controls are a plain GET form, so every state of the page is a link.
//! Must never: show a number that is not the views' own (a test compares
//! the page with the JSON views).

use crate::cli::views::money_text;
use crate::error::Error;
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use events::data::MoneyData;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use projections::agreements::{wire_name, AgreementsView};
use projections::aid::{AidView, Year};
use projections::projects::ProjectsView;
use projections::visits::VisitsView;
use serde::Deserialize;

/// Latest records listed on the overview.
const LATEST_RECORDS: u64 = 10;

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1a1a1a; --muted: #555; --line: #d0d0d0; --accent: #0b5cad; --pledged: #8fb3d9; --delivered: #1f6f3f; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans", "Segoe UI", system-ui, sans-serif; color: var(--ink); margin: 0; line-height: 1.45; }
header, main, footer { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 1px solid var(--line); padding-top: .75rem; padding-bottom: .75rem; }
h1 { font-size: 1.4rem; margin: .2rem 0; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
a { color: var(--accent); } a:focus, input:focus, button:focus, select:focus { outline: 3px solid #ffbf47; outline-offset: 1px; }
.muted { color: var(--muted); } .mono { font-family: ui-monospace, monospace; word-break: break-all; }
form.controls { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin: 1rem 0; }
form.controls label { display: flex; flex-direction: column; font-size: .9rem; }
input, button { font: inherit; padding: .3rem .5rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { display: block; height: .6rem; margin-top: .2rem; }
.bar.pledged { background: var(--pledged); } .bar.delivered { background: var(--delivered); }
blockquote { margin: .5rem 0 1rem; padding: .5rem 1rem; border-left: 4px solid var(--accent); background: #f5f7fa; }
.retracted { color: #8a1c1c; font-weight: bold; }
ul.records li { margin: .2rem 0; }
@media (max-width: 40rem) {
  table.stack thead { position: absolute; left: -9999px; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack tr { border-bottom: 2px solid var(--line); padding: .4rem 0; }
  table.stack td { border: 0; padding: .15rem 0; text-align: left; white-space: normal; }
  table.stack td::before { content: attr(data-label) ": "; font-weight: bold; color: var(--muted); }
}
"#;

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — amity" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { a href="/" { "amity" } span.muted { " · Hà Nội – Viêng Chăn ledger" } }
                main { (body) }
                footer.muted { p { "Every figure comes from the ledger's views; every record links to its sources. "
                    a href="/openapi.json" { "The API" } "." } }
            }
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

pub async fn overview(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<OverviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(axum::extract::Query(query)) = query else {
        return refused(
            StatusCode::BAD_REQUEST,
            "The page takes as_of (a day), at_seq (a record number) and party only.",
        );
    };
    let as_of = match blank(&query.as_of).map(events::date::parse_day) {
        None => chrono::Utc::now().date_naive(),
        Some(Ok(day)) => day,
        Some(Err(e)) => return refused(StatusCode::BAD_REQUEST, &format!("as_of: {e}")),
    };
    let at_seq = match blank(&query.at_seq).map(str::parse::<u64>) {
        None => None,
        Some(Ok(seq)) => Some(seq),
        Some(Err(_)) => return refused(StatusCode::BAD_REQUEST, "at_seq: must be a record number"),
    };
    let party = blank(&query.party).map(str::to_string);
    state.ledger.views_reflect(state.ledger.head().seq).await;
    let ledger = state.ledger.clone();
    let built = tokio::task::spawn_blocking(move || -> crate::Result<Markup> {
        let status = ledger.status()?;
        let head = ledger.head().seq;
        let latest =
            ledger.range(head.saturating_sub(LATEST_RECORDS - 1).max(1), head).collect::<crate::Result<Vec<_>>>()?;
        let party = party.as_deref();
        let (agreements, projects, aid, visits) = ledger.read_views(|views| {
            (
                views.agreements(as_of, at_seq).naming(party),
                views.projects(as_of, at_seq).naming(party),
                views.aid(at_seq).naming(party),
                views.visits(at_seq).naming(party),
            )
        });
        Ok(overview_page(&status, &latest, (as_of, at_seq, party), (&agreements, &projects, &aid, &visits)))
    })
    .await;
    match built {
        Ok(Ok(markup)) => markup.into_response(),
        Ok(Err(e)) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

type Controls<'a> = (chrono::NaiveDate, Option<u64>, Option<&'a str>);

fn overview_page(
    status: &crate::store::Status,
    latest: &[events::Record],
    (as_of, at_seq, party): Controls<'_>,
    (agreements, projects, aid, visits): (&AgreementsView, &ProjectsView, &AidView, &VisitsView),
) -> Markup {
    let body = html! {
        h1 { "Hà Nội – Viêng Chăn: the relationship at a glance" }
        p.muted {
            "Ledger head: record " strong { (status.seq) } " · hash " span.mono { (status.head) }
            @if let Some(at) = at_seq { " · shown as the ledger stood after record " strong { (at) } }
        }
        form.controls method="get" action="/" {
            label { "As of (valid time)" input type="date" name="as_of" value=(as_of.to_string()); }
            label { "After record (transaction time)" input type="number" min="0" name="at_seq" value=[at_seq]; }
            label { "Party" input type="text" name="party" placeholder="vn/hanoi" value=[party]; }
            button type="submit" { "Show" }
        }
        h2 { "Records by type" }
        ul { @for (kind, count) in &status.types { li { (kind) ": " span.num { (count) } } } }
        h2 { "Latest records" }
        ul.records { @for record in latest.iter().rev() {
            li { a href=(format!("/records/{}", record.id)) { "#" (record.seq) " " (record.event_type) } " · " (human_date(&record.occurred)) }
        } }
        (agreements_section(agreements))
        (projects_section(projects))
        (aid_section(aid))
        (visits_section(visits))
    };
    page("Overview", body)
}

fn agreements_section(view: &AgreementsView) -> Markup {
    html! {
        h2 #agreements { "Agreements in force on " (view.as_of) " (" (view.agreements.len()) ")" }
        @if view.agreements.is_empty() { p.muted { "None." } } @else {
            div.table-wrap { table.stack { thead { tr { th { "Agreement" } th { "Kind, level" } th { "Parties" } th { "Signed" } th { "Effective" } th { "Provisions" } } }
                tbody { @for a in &view.agreements { tr {
                    td data-label="Agreement" { (a.title) br; span.muted.mono { (a.agreement) } }
                    td data-label="Kind, level" { (wire_name(&a.kind)) ", " (wire_name(&a.level)) }
                    td data-label="Parties" { (a.parties.join(", ")) }
                    td data-label="Signed" { (human_date(&a.signed)) }
                    td data-label="Effective" { (human_date(&a.effective)) }
                    td data-label="Provisions" { @if a.provisions.is_empty() { "—" } @else { ul { @for p in &a.provisions { li { (p.subject) " " span.muted { "(" (p.parties.join(", ")) ")" } } } } } }
                } } }
            } }
        }
    }
}

fn projects_section(view: &ProjectsView) -> Markup {
    let money = |amounts: &[projections::projects::Amount]| -> String {
        let texts: Vec<String> = amounts
            .iter()
            .map(|a| money_text(&MoneyData { amount: a.amount.clone(), currency: a.currency.clone() }))
            .collect();
        if texts.is_empty() {
            "—".into()
        } else {
            texts.join(", ")
        }
    };
    html! {
        h2 #projects { "Outstanding projects on " (view.as_of) " (" (view.projects.len()) ")" }
        @if view.projects.is_empty() { p.muted { "None." } } @else {
            div.table-wrap { table.stack { thead { tr { th { "Project" } th { "Beneficiary" } th.num { "Progress" } th { "Status" } th { "Last report" } th.num { "Pledged" } th.num { "Delivered" } } }
                tbody { @for p in &view.projects { tr {
                    td data-label="Project" { (p.name) br; span.muted.mono { (p.project) } }
                    td data-label="Beneficiary" { (p.beneficiary) }
                    td.num data-label="Progress" { @if let Some(percent) = p.percent { (percent) "%" } @else { "—" } }
                    td data-label="Status" { @if let Some(status) = &p.status { (wire_name(status)) } @else { "—" } }
                    td data-label="Last report" { @if let Some(last) = &p.last_report { (human_date(last)) } @else { "—" } }
                    td.num data-label="Pledged" { (money(&p.pledged)) }
                    td.num data-label="Delivered" { (money(&p.delivered)) }
                } } }
            } }
        }
    }
}

fn aid_section(view: &AidView) -> Markup {
    let text =
        |amount: &str, currency: &str| money_text(&MoneyData { amount: amount.into(), currency: currency.into() });
    let mut currencies: Vec<&str> = view.money.iter().map(|m| m.currency.as_str()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    let value = |amount: &str| amount.parse::<f64>().unwrap_or(0.0);
    html! {
        h2 #aid { "Aid by year" }
        @for currency in &currencies {
            @let rows: Vec<_> = view.money.iter().filter(|m| m.currency == *currency).collect();
            @let largest = rows.iter().map(|m| value(&m.pledged).max(value(&m.delivered))).fold(0.0, f64::max).max(1.0);
            h3 { "In " (currency) " (never converted)" }
            div.table-wrap { table.stack { thead { tr { th { "Year" } th { "Donor → recipient" } th.num { "Pledged" } th.num { "Delivered" } } }
                tbody { @for m in &rows { tr {
                    td data-label="Year" { @match m.year { Year::Year(year) => (year), Year::Undated => strong { "undated (spans years)" } } }
                    td data-label="Donor → recipient" { (m.donor) " → " (m.recipient) }
                    td.num data-label="Pledged" { (text(&m.pledged, &m.currency)) span.bar.pledged style=(format!("width:{:.1}%", 100.0 * value(&m.pledged) / largest)) {} }
                    td.num data-label="Delivered" { (text(&m.delivered, &m.currency)) span.bar.delivered style=(format!("width:{:.1}%", 100.0 * value(&m.delivered) / largest)) {} }
                } } }
            } }
        }
        h3 { "In kind" }
        @if view.items.is_empty() { p.muted { "None." } } @else {
            div.table-wrap { table.stack { thead { tr { th { "Year" } th { "Donor → recipient" } th { "Item" } th.num { "Pledged" } th.num { "Delivered" } } }
                tbody { @for i in &view.items { tr {
                    td data-label="Year" { @match i.year { Year::Year(year) => (year), Year::Undated => strong { "undated (spans years)" } } }
                    td data-label="Donor → recipient" { (i.donor) " → " (i.recipient) }
                    td data-label="Item" { (i.item) }
                    td.num data-label="Pledged" { (i.pledged) " " (i.unit) }
                    td.num data-label="Delivered" { (i.delivered) " " (i.unit) }
                } } }
            } }
        }
    }
}

fn visits_section(view: &VisitsView) -> Markup {
    html! {
        h2 #visits { "Visits (" (view.visits.len()) ")" }
        div.table-wrap { table.stack { thead { tr { th { "When" } th { "Who went where" } th { "Led by" } th { "Level" } } }
            tbody { @for v in &view.visits { tr {
                td data-label="When" { (human_date(&v.occurred)) }
                td data-label="Who went where" { (v.delegation_of) " → " (v.host) }
                td data-label="Led by" { (v.led_by.name) @if let Some(title) = &v.led_by.title { br; span.muted { (title) } } }
                td data-label="Level" { @if let Some(level) = &v.level { (wire_name(level)) } @else { "—" } }
            } } }
        } }
    }
}

/// One record as a person reads it.
pub async fn record(State(state): State<AppState>, Path(key): Path<String>) -> Response {
    let ledger = state.ledger.clone();
    let found = tokio::task::spawn_blocking(move || -> crate::Result<Option<Markup>> {
        let seq = match key.parse::<u64>() {
            Ok(seq) => Some(seq),
            Err(_) => ledger.seq_of(&key)?,
        };
        let Some(record) = seq.map(|seq| ledger.get(seq)).transpose()?.flatten() else { return Ok(None) };
        let retracted = ledger.is_retracted(record.seq);
        let data = record
            .event_type
            .parse::<events::EventType>()
            .ok()
            .and_then(|t| events::EventData::decode(t, &record.data).ok());
        let streams = data.as_ref().map(|d| events::known::streams(d, &[])).unwrap_or_default();
        // One pass over the log: every other record naming one of its
        // streams, and the retraction of this one, if any.
        let mut related = Vec::new();
        for entry in ledger.range_bytes(1, ledger.head().seq) {
            let (seq, bytes) = entry?;
            if seq == record.seq {
                continue;
            }
            let other =
                events::Record::decode(&bytes).map_err(|problem| Error::Chain(events::ChainError { seq, problem }))?;
            let data = other.event_type.parse().ok().and_then(|t| events::EventData::decode(t, &other.data).ok());
            let related_to = match &data {
                Some(events::EventData::EventRetracted(d)) => d.target == record.id,
                Some(data) => events::known::streams(data, &[]).iter().any(|s| streams.contains(s)),
                None => false,
            };
            if related_to {
                related.push((seq, other.id, other.event_type));
            }
        }
        Ok(Some(record_page(&record, retracted, &streams, &related)))
    })
    .await;
    match found {
        Ok(Ok(Some(markup))) => markup.into_response(),
        Ok(Ok(None)) => refused(StatusCode::NOT_FOUND, "No record has this id or seq."),
        Ok(Err(e)) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn field_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => items.iter().map(field_value).collect::<Vec<_>>().join("; "),
        serde_json::Value::Object(map) => match (map.get("amount"), map.get("currency")) {
            (Some(serde_json::Value::String(amount)), Some(serde_json::Value::String(currency))) => {
                money_text(&MoneyData { amount: amount.clone(), currency: currency.clone() })
            }
            _ => map.iter().map(|(k, v)| format!("{k}: {}", field_value(v))).collect::<Vec<_>>().join(", "),
        },
        other => other.to_string(),
    }
}

fn record_page(
    record: &events::Record,
    retracted: bool,
    streams: &[String],
    related: &[(u64, String, String)],
) -> Markup {
    let body = html! {
        h1 { (record.event_type) " · " (human_date(&record.occurred)) }
        @if retracted { p.retracted { "This record was retracted: an event.retracted record names it." } }
        table { tbody {
            @for (name, value) in record.data.as_object().into_iter().flatten() {
                tr { th { (name) } td { (field_value(value)) } }
            }
        } }
        h2 { "Sources" }
        @for source in record.sources.as_array().into_iter().flatten() {
            p { strong { (source["title"].as_str().unwrap_or("untitled")) }
                @if let Some(published) = source["published"].as_str() { span.muted { " · " (published) } }
                @if let Some(url) = source["url"].as_str() { " · " a href=(url) { "link" } } }
            @if let Some(quote) = source["quote"].as_str() { blockquote lang="vi" { (quote) } }
        }
        h2 { "In the chain" }
        table { tbody {
            tr { th { "seq" } td { (record.seq) } }
            tr { th { "id" } td.mono { (record.id) } }
            tr { th { "recorded at" } td { (record.recorded_at) } }
            tr { th { "prev" } td.mono { (record.prev) } }
            tr { th { "hash" } td.mono { (record.hash) } }
        } }
        h2 { "Also naming " (streams.join(", ")) }
        @if related.is_empty() { p.muted { "No other record." } } @else {
            ul.records { @for (seq, id, kind) in related { li { a href=(format!("/records/{id}")) { "#" (seq) " " (kind) } } } }
        }
    };
    page(&record.event_type, body)
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
