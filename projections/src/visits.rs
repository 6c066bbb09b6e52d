//! The visit timeline: every visit, ordered by the first day of `occurred`,
//! then seq, over all of valid time.

use crate::strings::{Strings, Sym};
use crate::{Day, Event, Retractions};
use events::data::{Person, VisitLevel};
use events::EventData;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fact {
    seq: u64,
    first: Day,
    visit: Sym,
    occurred: Sym,
    delegation_of: Sym,
    host: Sym,
    led_by: Sym,
    led_by_title: Option<Sym>,
    level: Option<VisitLevel>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visits {
    facts: Vec<Fact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRow {
    pub visit: String,
    pub occurred: String,
    pub delegation_of: String,
    pub host: String,
    pub led_by: Person,
    pub level: Option<VisitLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitsView {
    pub at_seq: u64,
    pub visits: Vec<VisitRow>,
}

impl VisitsView {
    /// Only the visits `party` sent or hosted (by its exact id); all of them for `None`.
    pub fn naming(mut self, party: Option<&str>) -> Self {
        let Some(party) = party else { return self };
        self.visits.retain(|v| v.delegation_of == party || v.host == party);
        self
    }
}

impl Visits {
    pub(crate) fn apply(&mut self, event: &Event, strings: &mut Strings) -> bool {
        let EventData::VisitHeld(d) = &event.data else {
            return false;
        };
        self.facts.push(Fact {
            seq: event.seq,
            first: event.first_day(),
            visit: strings.intern(&d.visit),
            occurred: strings.intern(&event.occurred),
            delegation_of: strings.intern(&d.delegation_of),
            host: strings.intern(&d.host),
            led_by: strings.intern(&d.led_by.name),
            led_by_title: d.led_by.title.as_deref().map(|t| strings.intern(t)),
            level: d.level,
        });
        true
    }

    pub(crate) fn query(&self, at_seq: u64, retractions: &Retractions, strings: &Strings) -> VisitsView {
        let mut facts: Vec<&Fact> = self.facts.iter().filter(|f| retractions.visible(f.seq, at_seq)).collect();
        facts.sort_by_key(|f| (f.first, f.seq));
        let text = |sym: Sym| strings.get(sym).to_string();
        let row = |f: &Fact| VisitRow {
            visit: text(f.visit),
            occurred: text(f.occurred),
            delegation_of: text(f.delegation_of),
            host: text(f.host),
            led_by: Person { name: strings.get(f.led_by).into(), title: f.led_by_title.map(|t| strings.get(t).into()) },
            level: f.level,
        };
        VisitsView { at_seq, visits: facts.into_iter().map(row).collect() }
    }
}
