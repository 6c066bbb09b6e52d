//! Activities (`activity.held`): trade fairs, exhibitions, scholarships,
//! talks and the rest, for the dashboard's timeline beside the visits. Not
//! one of the spec's four views, and not served as one: the dashboard
//! draws it, and every row links to its record.

use crate::strings::{Strings, Sym};
use crate::{Day, Event, Retractions};
use events::data::ActivityCategory;
use events::EventData;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fact {
    seq: u64,
    first: Day,
    id: Sym,
    occurred: Sym,
    category: ActivityCategory,
    title: Sym,
    parties: Box<[Sym]>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activities {
    facts: Vec<Fact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRow {
    /// The `activity.held` record's id.
    pub id: String,
    pub seq: u64,
    pub occurred: String,
    pub category: ActivityCategory,
    pub title: String,
    pub parties: Vec<String>,
}

impl Activities {
    pub(crate) fn apply(&mut self, event: &Event, strings: &mut Strings) -> bool {
        let EventData::ActivityHeld(d) = &event.data else {
            return false;
        };
        self.facts.push(Fact {
            seq: event.seq,
            first: event.first_day(),
            id: strings.intern(&event.id),
            occurred: strings.intern(&event.occurred),
            category: d.category,
            title: strings.intern(&d.title),
            parties: d.parties.iter().map(|p| strings.intern(p)).collect(),
        });
        true
    }

    /// Every activity visible at `at_seq`, by first day then seq; only those
    /// `party` took part in, when given.
    pub(crate) fn query(
        &self,
        at_seq: u64,
        retractions: &Retractions,
        strings: &Strings,
        party: Option<&str>,
    ) -> Vec<ActivityRow> {
        let Some(party) = strings.filter(party) else { return Vec::new() };
        let mut facts: Vec<&Fact> = self
            .facts
            .iter()
            .filter(|f| retractions.visible(f.seq, at_seq))
            .filter(|f| party.is_none_or(|party| f.parties.contains(&party)))
            .collect();
        facts.sort_by_key(|f| (f.first, f.seq));
        facts
            .into_iter()
            .map(|f| ActivityRow {
                id: strings.get(f.id).to_string(),
                seq: f.seq,
                occurred: strings.get(f.occurred).to_string(),
                category: f.category,
                title: strings.get(f.title).to_string(),
                parties: f.parties.iter().map(|p| strings.get(*p).to_string()).collect(),
            })
            .collect()
    }
}
