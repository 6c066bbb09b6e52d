//! `amity view …` and `amity rebuild`: the four views as readable tables (or
//! the spec's JSON), and the full refold of the log. Must never: compute a
//! view itself; the projections crate does.

use super::format::{Format, Row};
use super::read::progress_bar;
use crate::error::Result;
use crate::store::Ledger;
use chrono::NaiveDate;
use comfy_table::{presets, CellAlignment, ContentArrangement, Table};
use projections::agreements::{wire_name, AgreementsView};
use projections::aid::{AidView, Year};
use projections::projects::{Amount, ProjectsView};
use projections::visits::VisitsView;
use projections::Views;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewKind {
    Agreements,
    Projects,
    Aid,
    Visits,
}

impl ViewKind {
    /// The view's name in routes and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Agreements => "agreements",
            ViewKind::Projects => "projects",
            ViewKind::Aid => "aid",
            ViewKind::Visits => "visits",
        }
    }
}

/// One view, typed: what a query of this ledger, a server's answer and a
/// stream's fold are all turned into before printing, and what the server
/// sends. No JSON tree is built on the way: at 1M records the aid view as a
/// `serde_json::Value` took ~600 MB more than the view itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Shown {
    Agreements(AgreementsView),
    Projects(ProjectsView),
    Aid(AidView),
    Visits(VisitsView),
}

impl Shown {
    /// One view of `views`; with `party`, only the rows that party is in
    /// (agreements: a party to it; projects: its beneficiary; aid: donor or
    /// recipient; visits: sender or host).
    pub fn of(views: &Views, kind: ViewKind, (as_of, at_seq): At, party: Option<&str>) -> Shown {
        match kind {
            ViewKind::Agreements => Shown::Agreements(views.agreements(as_of, at_seq).naming(party)),
            ViewKind::Projects => Shown::Projects(views.projects(as_of, at_seq).naming(party)),
            ViewKind::Aid => Shown::Aid(views.aid(at_seq).naming(party)),
            ViewKind::Visits => Shown::Visits(views.visits(at_seq).naming(party)),
        }
    }

    /// A view a server sent, in the spec's JSON shape.
    pub fn from_json(kind: ViewKind, value: serde_json::Value) -> Result<Shown> {
        let shape =
            |e: serde_json::Error| crate::Error::network("the server's view", format!("not the view's shape: {e}"));
        Ok(match kind {
            ViewKind::Agreements => Shown::Agreements(serde_json::from_value(value).map_err(shape)?),
            ViewKind::Projects => Shown::Projects(serde_json::from_value(value).map_err(shape)?),
            ViewKind::Aid => Shown::Aid(serde_json::from_value(value).map_err(shape)?),
            ViewKind::Visits => Shown::Visits(serde_json::from_value(value).map_err(shape)?),
        })
    }

    fn table(&self) -> String {
        match self {
            Shown::Agreements(view) => agreements_table(view),
            Shown::Projects(view) => projects_table(view),
            Shown::Aid(view) => aid_tables(view),
            Shown::Visits(view) => visits_table(view),
        }
    }

    /// Every row of each of the view's lists in the spec's shape, made one
    /// at a time, with a `list` column naming the list when the view has
    /// more than one (aid: `items`, then `money`).
    fn rows(&self) -> Box<dyn Iterator<Item = Row> + '_> {
        fn each<'a, T: Serialize>(list: Option<&'static str>, items: &'a [T]) -> impl Iterator<Item = Row> + 'a {
            items.iter().map(move |item| {
                let mut row = Row::new();
                if let Some(list) = list {
                    row.push(("list".into(), list.into()));
                }
                if let Ok(serde_json::Value::Object(object)) = serde_json::to_value(item) {
                    row.extend(object);
                }
                row
            })
        }
        match self {
            Shown::Agreements(view) => Box::new(each(None, &view.agreements)),
            Shown::Projects(view) => Box::new(each(None, &view.projects)),
            Shown::Aid(view) => Box::new(each(Some("items"), &view.items).chain(each(Some("money"), &view.money))),
            Shown::Visits(view) => Box::new(each(None, &view.visits)),
        }
    }

    /// The view as `format` asks: the same text whichever ledger, server or
    /// stream it came from.
    pub fn formatted(&self, format: Format) -> Result<String> {
        match format {
            Format::Table => Ok(self.table()),
            Format::Json => Ok(serde_json::to_string_pretty(self).expect("views serialize")),
            Format::Ndjson => Ok(super::format::ndjson(self.rows())),
            Format::Csv => super::format::csv_of(|| self.rows()),
        }
    }
}

/// Today, in UTC: the default `as_of`.
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    events::date::parse_day(text)
}

pub fn view(ledger: &Ledger, kind: ViewKind, at: At, party: Option<&str>, format: Format) -> Result<()> {
    let shown = ledger.read_views(|views| Shown::of(views, kind, at, party));
    super::read::print(&shown.formatted(format)?)
}

/// Which state of a view: valid time (`as_of`) and transaction time.
pub type At = (NaiveDate, Option<u64>);

/// `--wide`: print full cells however wide the table gets.
static WIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_wide(wide: bool) {
    WIDE.store(wide, std::sync::atomic::Ordering::Relaxed);
}

/// The width tables must fit: `COLUMNS` if set, else the terminal's (none
/// when stdout is not a terminal, so piped output keeps every character).
pub fn width() -> Option<u16> {
    if WIDE.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse::<u16>().ok());
    columns.or_else(|| {
        let probe = Table::new();
        std::io::IsTerminal::is_terminal(&std::io::stdout()).then(|| probe.width()).flatten()
    })
}

fn table(header: &[&str], right_aligned: &[usize]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    match width() {
        Some(width) => table.set_content_arrangement(ContentArrangement::Dynamic).set_width(width),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    table.set_header(header.to_vec());
    for index in right_aligned {
        if let Some(column) = table.column_mut(*index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// A table, or a line saying there is nothing to show.
fn table_or_none(table: Table, rows: usize) -> String {
    if rows == 0 {
        "  (none)".to_string()
    } else {
        table.to_string()
    }
}

pub fn agreements_table(view: &AgreementsView) -> String {
    let mut table =
        table(&["AGREEMENT", "TITLE", "KIND", "LEVEL", "PARTIES", "SIGNED", "EFFECTIVE", "PROVISIONS"], &[]);
    for a in &view.agreements {
        let provisions: Vec<String> =
            a.provisions.iter().map(|p| format!("{} ({})", p.subject, p.parties.join(", "))).collect();
        table.add_row(vec![
            a.agreement.clone(),
            a.title.clone(),
            wire_name(&a.kind),
            wire_name(&a.level),
            a.parties.join("\n"),
            a.signed.clone(),
            a.effective.clone(),
            if provisions.is_empty() { "—".to_string() } else { provisions.join("\n") },
        ]);
    }
    format!(
        "Active agreements as of {} (ledger at seq {}): {}\n{}",
        view.as_of,
        view.at_seq,
        view.agreements.len(),
        table_or_none(table, view.agreements.len())
    )
}

/// Money as a diplomat reads it: amount then currency, one per line.
fn money_lines(amounts: &[Amount]) -> String {
    if amounts.is_empty() {
        return "—".into();
    }
    amounts.iter().map(|a| format!("{} {}", group_digits(&a.amount), a.currency)).collect::<Vec<_>>().join("\n")
}

/// Money as everything the CLI prints it: `3,000,000.00 USD` (the amount
/// with the currency's minor digits, grouped, then the code).
pub fn money_text(money: &events::data::MoneyData) -> String {
    let amount = events::Currency::from_code(&money.currency)
        .and_then(|currency| events::Money::parse(&money.amount, currency))
        .map_or_else(|_| money.amount.to_string(), |m| m.amount_string());
    format!("{} {}", group_digits(&amount), money.currency)
}

/// `3000000.00` → `3,000,000.00`.
fn group_digits(amount: &str) -> String {
    let (whole, fraction) = amount.split_once('.').map_or((amount, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{grouped}.{fraction}"),
        None => grouped,
    }
}

pub fn projects_table(view: &ProjectsView) -> String {
    let header = ["PROJECT", "NAME", "BENEFICIARY", "%", "STATUS", "LAST REPORT", "PLEDGED", "DELIVERED"];
    let mut table = table(&header, &[3, 6, 7]);
    for p in &view.projects {
        table.add_row(vec![
            p.project.clone(),
            p.name.clone(),
            p.beneficiary.clone(),
            p.percent.map_or("—".into(), |v| v.to_string()),
            p.status.as_ref().map_or_else(|| "no report".into(), wire_name),
            p.last_report.clone().unwrap_or_else(|| "—".into()),
            money_lines(&p.pledged),
            money_lines(&p.delivered),
        ]);
    }
    format!(
        "Outstanding projects as of {} (ledger at seq {}): {}\n{}",
        view.as_of,
        view.at_seq,
        view.projects.len(),
        table_or_none(table, view.projects.len())
    )
}

fn year_label(year: Year) -> String {
    match year {
        Year::Year(year) => year.to_string(),
        Year::Undated => "undated (spans years)".into(),
    }
}

pub fn aid_tables(view: &AidView) -> String {
    let mut money = table(&["YEAR", "DONOR", "RECIPIENT", "PLEDGED", "DELIVERED"], &[3, 4]);
    for row in &view.money {
        money.add_row(vec![
            year_label(row.year),
            row.donor.clone(),
            row.recipient.clone(),
            format!("{} {}", group_digits(&row.pledged), row.currency),
            format!("{} {}", group_digits(&row.delivered), row.currency),
        ]);
    }
    let mut items = table(&["YEAR", "DONOR", "RECIPIENT", "ITEM", "PLEDGED", "DELIVERED"], &[4, 5]);
    for row in &view.items {
        items.add_row(vec![
            year_label(row.year),
            row.donor.clone(),
            row.recipient.clone(),
            row.item.clone(),
            format!("{} {}", group_digits(&row.pledged.to_string()), row.unit),
            format!("{} {}", group_digits(&row.delivered.to_string()), row.unit),
        ]);
    }
    format!(
        "Aid in money, by year (ledger at seq {}): {} rows\n{}\n\nAid in kind, by year: {} rows\n{}",
        view.at_seq,
        view.money.len(),
        table_or_none(money, view.money.len()),
        view.items.len(),
        table_or_none(items, view.items.len())
    )
}

pub fn visits_table(view: &VisitsView) -> String {
    let mut table = table(&["OCCURRED", "VISIT", "DELEGATION OF", "HOST", "LED BY", "LEVEL"], &[]);
    for v in &view.visits {
        let led_by = match &v.led_by.title {
            Some(title) => format!("{}\n{title}", v.led_by.name),
            None => v.led_by.name.to_string(),
        };
        table.add_row(vec![
            v.occurred.clone(),
            v.visit.clone(),
            v.delegation_of.clone(),
            v.host.clone(),
            led_by,
            v.level.as_ref().map_or_else(|| "—".into(), wire_name),
        ]);
    }
    format!(
        "Visits (ledger at seq {}): {}\n{}",
        view.at_seq,
        view.visits.len(),
        table_or_none(table, view.visits.len())
    )
}

pub fn rebuild(ledger: &Ledger) -> Result<()> {
    let bar = progress_bar(ledger.head().seq, "rebuilding");
    let started = Instant::now();
    let progress = bar.clone();
    let count = ledger.rebuild_alone(move |seq| {
        if seq % 4096 == 0 {
            progress.set_position(seq);
        }
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let rate = if seconds > 0.0 { count as f64 / seconds } else { 0.0 };
    super::read::print(&format!(
        "rebuilt 4 views from {count} records in {seconds:.3} s ({rate:.0} records/s); checkpoint saved; Merkle tree recomputed"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn digits_are_grouped_by_thousands() {
        for (plain, grouped) in [
            ("3000000.00", "3,000,000.00"),
            ("0.50", "0.50"),
            ("100", "100"),
            ("1000", "1,000"),
            ("123456789", "123,456,789"),
        ] {
            assert_eq!(super::group_digits(plain), grouped);
        }
    }
}
