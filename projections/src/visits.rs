//! The visit timeline: every visit, ordered by the first day of `occurred`,
//! then seq, over all of valid time.

use crate::{Day, Event, Retractions, Text};
use events::data::{Person, VisitLevel};
use events::EventData;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fact {
    seq: u64,
    first: Day,
    visit: Text,
    occurred: Text,
    delegation_of: Text,
    host: Text,
    led_by: Text,
    led_by_title: Option<Text>,
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
    pub(crate) fn apply(&mut self, event: &Event) -> bool {
        let EventData::VisitHeld(d) = &event.data else {
            return false;
        };
        self.facts.push(Fact {
            seq: event.seq,
            first: event.first_day(),
            visit: d.visit.as_str().into(),
            occurred: event.occurred.as_str().into(),
            delegation_of: d.delegation_of.as_str().into(),
            host: d.host.as_str().into(),
            led_by: d.led_by.name.as_str().into(),
            led_by_title: d.led_by.title.as_deref().map(Text::from),
            level: d.level,
        });
        true
    }

    pub(crate) fn query(&self, at_seq: u64, retractions: &Retractions) -> VisitsView {
        let mut facts: Vec<&Fact> = self.facts.iter().filter(|f| retractions.visible(f.seq, at_seq)).collect();
        facts.sort_by_key(|f| (f.first, f.seq));
        let row = |f: &Fact| VisitRow {
            visit: f.visit.to_string(),
            occurred: f.occurred.to_string(),
            delegation_of: f.delegation_of.to_string(),
            host: f.host.to_string(),
            led_by: Person { name: f.led_by.to_string(), title: f.led_by_title.as_ref().map(Text::to_string) },
            level: f.level,
        };
        VisitsView { at_seq, visits: facts.into_iter().map(row).collect() }
    }
}
