//! Active agreements. An agreement is listed on day D when it was signed on
//! or before D, D lies inside its `effective` (as last amended on or before
//! D), and it was not terminated on or before D. `title` and `effective` come
//! from the latest amendment on or before D that gives each; `kind`, `level`,
//! `parties` and `provisions` are as signed.

use crate::strings::{push, Strings, Sym};
use crate::{day, latest, rows_by_id, ById, Day, Event, Retractions};
use chrono::NaiveDate;
use events::data::{AgreementKind, AgreementLevel, Provision};
use events::{Edtf, EventData};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Signing {
    seq: u64,
    first: Day,
    signed: Sym,
    title: Sym,
    effective: Sym,
    kind: AgreementKind,
    level: AgreementLevel,
    parties: Box<[Sym]>,
    provisions: Box<[Clause]>,
}

/// A [`Provision`] with its text interned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Clause {
    subject: Sym,
    parties: Box<[Sym]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Amendment {
    seq: u64,
    first: Day,
    effective: Option<Sym>,
    title: Option<Sym>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Facts {
    signings: Vec<Signing>,
    amendments: Vec<Amendment>,
    /// (seq, first day) of each termination.
    terminations: Vec<(u64, Day)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreements {
    by_id: ById<Facts>,
}

/// One row of the view, in the spec's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveAgreement {
    pub agreement: String,
    pub title: String,
    pub kind: AgreementKind,
    pub level: AgreementLevel,
    pub parties: Vec<String>,
    pub signed: String,
    pub effective: String,
    /// The document's provisions as signed (`[]` when none).
    pub provisions: Vec<Provision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementsView {
    pub as_of: String,
    pub at_seq: u64,
    pub agreements: Vec<ActiveAgreement>,
}

impl AgreementsView {
    /// Only the agreements `party` is a party to (by its exact id); all of them for `None`.
    pub fn naming(mut self, party: Option<&str>) -> Self {
        let Some(party) = party else { return self };
        self.agreements.retain(|a| a.parties.iter().any(|p| p == party));
        self
    }
}

/// The snake_case wire name of a vocabulary enum, for display.
pub fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

impl Agreements {
    /// Folds one event; true if it produced a fact.
    pub(crate) fn apply(&mut self, event: &Event, strings: &mut Strings) -> bool {
        let first = event.first_day();
        match &event.data {
            EventData::AgreementSigned(d) => {
                let signing = Signing {
                    seq: event.seq,
                    first,
                    signed: strings.intern(&event.occurred),
                    title: strings.intern(&d.title),
                    effective: strings.intern(&d.effective),
                    kind: d.kind,
                    level: d.level,
                    parties: d.parties.iter().map(|p| strings.intern(p)).collect(),
                    provisions: d
                        .provisions
                        .iter()
                        .flatten()
                        .map(|p| Clause {
                            subject: strings.intern(&p.subject),
                            parties: p.parties.iter().map(|p| strings.intern(p)).collect(),
                        })
                        .collect(),
                };
                push(&mut self.facts_of(strings, &d.agreement).signings, signing);
            }
            EventData::AgreementAmended(d) => {
                let amendment = Amendment {
                    seq: event.seq,
                    first,
                    effective: d.effective.as_deref().map(|e| strings.intern(e)),
                    title: d.title.as_deref().map(|t| strings.intern(t)),
                };
                push(&mut self.facts_of(strings, &d.agreement).amendments, amendment);
            }
            EventData::AgreementTerminated(d) => {
                push(&mut self.facts_of(strings, &d.agreement).terminations, (event.seq, first))
            }
            _ => return false,
        }
        true
    }

    fn facts_of(&mut self, strings: &mut Strings, agreement: &str) -> &mut Facts {
        self.by_id.entry(strings.intern(agreement)).or_default()
    }

    pub(crate) fn query(
        &self,
        as_of: NaiveDate,
        at_seq: u64,
        retractions: &Retractions,
        strings: &Strings,
    ) -> AgreementsView {
        let today = day(as_of);
        let agreements =
            rows_by_id(&self.by_id, strings, |id, facts| active(id, facts, today, at_seq, retractions, strings));
        AgreementsView { as_of: as_of.format("%Y-%m-%d").to_string(), at_seq, agreements }
    }
}

/// `(effective, title)` as the latest of `amendments` that gives each left
/// them (by first day, then seq), else as signed.
fn as_amended(signing: &Signing, amendments: &[&Amendment]) -> (Sym, Sym) {
    let by_order = |a: &&Amendment| (a.first, a.seq);
    let effective = latest(amendments.iter().copied().filter(|a| a.effective.is_some()), |a| by_order(&a))
        .and_then(|a| a.effective)
        .unwrap_or(signing.effective);
    let title = latest(amendments.iter().copied().filter(|a| a.title.is_some()), |a| by_order(&a))
        .and_then(|a| a.title)
        .unwrap_or(signing.title);
    (effective, title)
}

fn texts<'a, T: From<&'a str>>(syms: &[Sym], strings: &'a Strings) -> Vec<T> {
    syms.iter().map(|s| T::from(strings.get(*s))).collect()
}

fn active(
    id: &str,
    facts: &Facts,
    today: Day,
    at_seq: u64,
    retractions: &Retractions,
    strings: &Strings,
) -> Option<ActiveAgreement> {
    let seen = |seq: u64, first: Day| retractions.visible(seq, at_seq) && first <= today;
    let signing = latest(facts.signings.iter().filter(|s| seen(s.seq, s.first)), |s| (s.first, s.seq))?;
    if facts.terminations.iter().any(|(seq, first)| seen(*seq, *first)) {
        return None;
    }
    let amendments: Vec<&Amendment> = facts.amendments.iter().filter(|a| seen(a.seq, a.first)).collect();
    let (effective, title) = as_amended(signing, &amendments);
    let span: Edtf = strings.get(effective).parse().ok()?;
    let inside = day(span.first_day()) <= today && span.last_day().is_none_or(|last| today <= day(last));
    inside.then(|| ActiveAgreement {
        agreement: id.to_string(),
        title: strings.get(title).to_string(),
        kind: signing.kind,
        level: signing.level,
        parties: texts(&signing.parties, strings),
        signed: strings.get(signing.signed).to_string(),
        effective: strings.get(effective).to_string(),
        provisions: signing
            .provisions
            .iter()
            .map(|c| Provision { subject: strings.get(c.subject).into(), parties: texts(&c.parties, strings) })
            .collect(),
    })
}

/// A dated fact on the agreements calendar: an amendment or a termination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub seq: u64,
    /// The first day of the fact's `occurred`.
    pub day: NaiveDate,
}

/// One agreement on the dashboard's calendar: every signed agreement the
/// ledger knew at `at_seq`, in force on `as_of` or not. Not one of the
/// spec's views: the dashboard draws it beside the agreements view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRow {
    pub agreement: String,
    /// As last amended (in valid time) of what was known at `at_seq`.
    pub title: String,
    pub signed: String,
    pub parties: Vec<String>,
    /// As last amended, like `title`.
    pub effective: String,
    pub amendments: Vec<Mark>,
    pub terminations: Vec<Mark>,
    /// Whether the agreements view lists it on `as_of`.
    pub in_force: bool,
}

impl Agreements {
    pub(crate) fn calendar(
        &self,
        as_of: NaiveDate,
        at_seq: u64,
        retractions: &Retractions,
        strings: &Strings,
        party: Option<&str>,
    ) -> Vec<CalendarRow> {
        let Some(party) = strings.filter(party) else { return Vec::new() };
        let mark = |seq: u64, first: Day| NaiveDate::from_num_days_from_ce_opt(first).map(|day| Mark { seq, day });
        let mut rows: Vec<CalendarRow> = self
            .by_id
            .iter()
            .filter_map(|(id, facts)| {
                let id = strings.get(*id);
                let seen = |seq: u64| retractions.visible(seq, at_seq);
                let signing = latest(facts.signings.iter().filter(|s| seen(s.seq)), |s| (s.first, s.seq))?;
                if party.is_some_and(|party| !signing.parties.contains(&party)) {
                    return None;
                }
                let amendments: Vec<&Amendment> = facts.amendments.iter().filter(|a| seen(a.seq)).collect();
                let (effective, title) = as_amended(signing, &amendments);
                Some(CalendarRow {
                    agreement: id.to_string(),
                    title: strings.get(title).to_string(),
                    signed: strings.get(signing.signed).to_string(),
                    parties: texts(&signing.parties, strings),
                    effective: strings.get(effective).to_string(),
                    amendments: amendments.iter().filter_map(|a| mark(a.seq, a.first)).collect(),
                    terminations: facts
                        .terminations
                        .iter()
                        .filter(|(seq, _)| seen(*seq))
                        .filter_map(|(seq, first)| mark(*seq, *first))
                        .collect(),
                    in_force: active(id, facts, day(as_of), at_seq, retractions, strings).is_some(),
                })
            })
            .collect();
        rows.sort_by(|a, b| a.effective.cmp(&b.effective).then(a.agreement.cmp(&b.agreement)));
        rows
    }
}
