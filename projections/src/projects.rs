//! Outstanding projects: launched on or before `as_of` and not completed on
//! or before it, with the latest progress report's status, the latest
//! reported percentage, and the money pledged and delivered for the project
//! on or before `as_of`, per currency.

use crate::strings::{push, Strings, Sym};
use crate::{day, latest, rows_by_id, ById, Day, Event, Minor, Retractions};
use chrono::NaiveDate;
use compact_str::CompactString;
use events::data::{MoneyData, ProgressStatus};
use events::{Currency, EventData, Money};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Launch {
    seq: u64,
    first: Day,
    name: Sym,
    beneficiary: Sym,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Report {
    seq: u64,
    first: Day,
    occurred: Sym,
    status: ProgressStatus,
    percent: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MoneyFact {
    seq: u64,
    minor: Minor,
    first: Day,
    currency: Currency,
    pledged: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Facts {
    launches: Vec<Launch>,
    reports: Vec<Report>,
    completions: Vec<(u64, Day)>,
    money: Vec<MoneyFact>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projects {
    by_id: ById<Facts>,
}

/// An amount in the spec's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub currency: String,
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutstandingProject {
    pub project: String,
    pub name: String,
    pub beneficiary: String,
    pub percent: Option<i64>,
    pub status: Option<ProgressStatus>,
    pub last_report: Option<String>,
    pub pledged: Vec<Amount>,
    pub delivered: Vec<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectsView {
    pub as_of: String,
    pub at_seq: u64,
    pub projects: Vec<OutstandingProject>,
}

impl ProjectsView {
    /// Only the projects `party` is the beneficiary of (by its exact id); all of them for `None`.
    pub fn naming(mut self, party: Option<&str>) -> Self {
        let Some(party) = party else { return self };
        self.projects.retain(|p| p.beneficiary == party);
        self
    }
}

/// Parses money the ledger already validated; `None` never happens for a
/// stored record, and a fold skips rather than panics if it did.
pub(crate) fn money(data: &MoneyData) -> Option<Money> {
    let currency = Currency::from_code(&data.currency).ok()?;
    Money::parse(&data.amount, currency).ok()
}

/// Sums per currency, sorted by currency, in the spec's shape.
pub(crate) fn amounts<'a>(facts: impl Iterator<Item = (Currency, u128)> + 'a) -> Vec<Amount> {
    let mut sums: BTreeMap<Currency, u128> = BTreeMap::new();
    for (currency, minor) in facts {
        *sums.entry(currency).or_default() += minor;
    }
    let mut rows: Vec<Amount> = sums
        .into_iter()
        .map(|(currency, minor)| Amount { currency: currency.code().to_string(), amount: currency.format(minor) })
        .collect();
    rows.sort_by(|a, b| a.currency.cmp(&b.currency));
    rows
}

impl Projects {
    pub(crate) fn apply(&mut self, event: &Event, strings: &mut Strings) -> bool {
        let (seq, first) = (event.seq, event.first_day());
        let money_for = |projects: &mut Projects,
                         strings: &mut Strings,
                         project: &Option<CompactString>,
                         amount: &Option<MoneyData>,
                         pledged| {
            let (Some(project), Some(money)) = (project, amount.as_ref().and_then(money)) else {
                return false;
            };
            let fact = MoneyFact { seq, minor: money.minor.into(), first, currency: money.currency, pledged };
            push(&mut projects.facts_of(strings, project).money, fact);
            true
        };
        match &event.data {
            EventData::AidPledged(d) => return money_for(self, strings, &d.project, &d.amount, true),
            EventData::AidDelivered(d) => return money_for(self, strings, &d.project, &d.amount, false),
            EventData::ProjectLaunched(d) => {
                let launch =
                    Launch { seq, first, name: strings.intern(&d.name), beneficiary: strings.intern(&d.beneficiary) };
                push(&mut self.facts_of(strings, &d.project).launches, launch);
            }
            EventData::ProjectProgress(d) => {
                let report = Report {
                    seq,
                    first,
                    occurred: strings.intern(&event.occurred),
                    status: d.status,
                    percent: d.percent,
                };
                push(&mut self.facts_of(strings, &d.project).reports, report);
            }
            EventData::ProjectCompleted(d) => push(&mut self.facts_of(strings, &d.project).completions, (seq, first)),
            _ => return false,
        }
        true
    }

    fn facts_of(&mut self, strings: &mut Strings, project: &str) -> &mut Facts {
        self.by_id.entry(strings.intern(project)).or_default()
    }

    pub(crate) fn query(
        &self,
        as_of: NaiveDate,
        at_seq: u64,
        retractions: &Retractions,
        strings: &Strings,
    ) -> ProjectsView {
        let today = day(as_of);
        let projects =
            rows_by_id(&self.by_id, strings, |id, facts| outstanding(id, facts, today, at_seq, retractions, strings));
        ProjectsView { as_of: as_of.format("%Y-%m-%d").to_string(), at_seq, projects }
    }
}

fn outstanding(
    id: &str,
    facts: &Facts,
    today: Day,
    at_seq: u64,
    retractions: &Retractions,
    strings: &Strings,
) -> Option<OutstandingProject> {
    let seen = |seq: u64, first: Day| retractions.visible(seq, at_seq) && first <= today;
    let launch = latest(facts.launches.iter().filter(|l| seen(l.seq, l.first)), |l| (l.first, l.seq))?;
    if facts.completions.iter().any(|(seq, first)| seen(*seq, *first)) {
        return None;
    }
    let reports: Vec<&Report> = facts.reports.iter().filter(|r| seen(r.seq, r.first)).collect();
    let last = latest(reports.iter().copied(), |r| (r.first, r.seq));
    let percent =
        latest(reports.iter().copied().filter(|r| r.percent.is_some()), |r| (r.first, r.seq)).and_then(|r| r.percent);
    let money = |pledged: bool| {
        amounts(
            facts
                .money
                .iter()
                .filter(move |m| m.pledged == pledged && seen(m.seq, m.first))
                .map(|m| (m.currency, m.minor.get())),
        )
    };
    Some(OutstandingProject {
        project: id.to_string(),
        name: strings.get(launch.name).to_string(),
        beneficiary: strings.get(launch.beneficiary).to_string(),
        percent,
        status: last.map(|r| r.status),
        last_report: last.map(|r| strings.get(r.occurred).to_string()),
        pledged: money(true),
        delivered: money(false),
    })
}
