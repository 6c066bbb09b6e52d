//! The visit timeline: every visit, ordered by the first day of `occurred`,
//! then seq, over all of valid time.

use crate::{Day, Event, Retractions};
use events::data::{Person, VisitLevel};
use events::EventData;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fact {
    seq: u64,
    first: Day,
    row: VisitRow,
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

impl Visits {
    pub(crate) fn apply(&mut self, event: &Event) -> bool {
        let EventData::VisitHeld(d) = &event.data else {
            return false;
        };
        self.facts.push(Fact {
            seq: event.seq,
            first: event.first_day(),
            row: VisitRow {
                visit: d.visit.clone(),
                occurred: event.occurred.to_string(),
                delegation_of: d.delegation_of.clone(),
                host: d.host.clone(),
                led_by: d.led_by.clone(),
                level: d.level,
            },
        });
        true
    }

    pub(crate) fn query(&self, at_seq: u64, retractions: &Retractions) -> VisitsView {
        let mut facts: Vec<&Fact> = self.facts.iter().filter(|f| retractions.visible(f.seq, at_seq)).collect();
        facts.sort_by_key(|f| (f.first, f.seq));
        VisitsView { at_seq, visits: facts.into_iter().map(|f| f.row.clone()).collect() }
    }
}
