//! The views, as pure folds over stored records: active agreements,
//! outstanding projects, per-year aid, and the visit timeline (section 5 of
//! the spec). Nothing here touches sled, tokio, the clock or files: `as_of`
//! ("today") is always passed in.
//!
//! Bitemporal by construction: each projection keeps every fact it folded,
//! with the fact's seq and valid-time days, and each query filters by the
//! valid-time day `as_of` and the transaction-time cut-off `at_seq`. So one
//! fold answers every `(as_of, at_seq)`, and a retraction hides its target
//! only in views at or after the retraction's own seq.
//!
//! Module map: [`agreements`], [`projects`], [`aid`], [`visits`] (one view
//! each: its facts, its fold, its query, its output shape), [`activities`]
//! (the dashboard's timeline beside the visits; not a view of the spec,
//! like the agreements calendar and the aid sources); this file holds
//! the [`Fold`] trait, [`Views`] (all of them, fed once per record) and the
//! retraction bookkeeping they share.

pub mod activities;
pub mod agreements;
pub mod aid;
pub mod projects;
pub mod strings;
pub mod visits;

use chrono::{Datelike, NaiveDate};
use compact_str::CompactString;
use events::knowledge::{id_key, IdIndex, IdKey};
use events::{Edtf, EventData, EventType, Record, RecordRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strings::Strings;

/// How many events ahead of the one it folds a bulk fold asks for the
/// next one's memory ([`Views::prefetch`]): far enough for a miss (about
/// 100 ns) to arrive before the fold gets there, near enough that what
/// arrived is still in the cache. Eight lookups ahead was best in the
/// benchmark of the intern table; an event makes one to three.
pub const PREFETCH_AHEAD: usize = 4;

/// Facts per entity (an agreement, a project), under its interned id.
/// Hashed, not sorted: a `BTreeMap` of string ids made every fold step
/// compare a dozen heap strings, each a cache miss once the views outgrow
/// the cache; a query sorts the rows it returns instead. Syms are small
/// integers the ledger hands out, so a fixed hasher is safe.
pub(crate) type ById<T> = hashbrown::HashMap<strings::Sym, T, foldhash::fast::FixedState, events::huge::Huge>;

/// The rows `row` gives for the entities of `by_id`, in the order of their ids.
pub(crate) fn rows_by_id<'a, F, R>(
    by_id: &'a ById<F>,
    strings: &'a Strings,
    row: impl Fn(&'a str, &'a F) -> Option<R>,
) -> Vec<R> {
    let mut entities: Vec<(&str, &F)> = by_id.iter().map(|(id, facts)| (strings.get(*id), facts)).collect();
    entities.sort_unstable_by_key(|(id, _)| *id);
    entities.into_iter().filter_map(|(id, facts)| row(id, facts)).collect()
}

/// An amount in minor units as two 8-aligned halves: a `u128` field is
/// 16-aligned and would pad every money fact to a multiple of 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Minor([u64; 2]);

impl From<u128> for Minor {
    fn from(minor: u128) -> Minor {
        Minor([(minor >> 64) as u64, minor as u64])
    }
}

impl Minor {
    pub(crate) fn get(self) -> u128 {
        (u128::from(self.0[0]) << 64) | u128::from(self.0[1])
    }
}

/// A day as a compact integer (days from the common era), for facts.
pub type Day = i32;

pub fn day(date: NaiveDate) -> Day {
    date.num_days_from_ce()
}

/// A record decoded once for all projections. Owned, so that decoding can
/// run on another thread than folding.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    /// Inline up to 24 bytes (most ids and dates): no allocation of its own.
    pub id: CompactString,
    /// [`id_key`] of `id`: what the views' retractions index it by.
    pub key: IdKey,
    pub occurred: CompactString,
    pub when: Edtf,
    pub data: EventData,
}

impl Event {
    /// `None` for a record whose type, date or data do not decode: the
    /// ledger never stores one, and a fold never panics on one.
    pub fn decode(record: &Record) -> Option<Event> {
        let event_type = record.event_type.parse::<EventType>().ok()?;
        Some(Event {
            seq: record.seq,
            id: record.id.as_str().into(),
            key: id_key(&record.id),
            occurred: record.occurred.as_str().into(),
            when: record.occurred.parse().ok()?,
            data: EventData::decode(event_type, &record.data).ok()?,
        })
    }

    /// The fast path from stored bytes: one pass of JSON decoding, straight
    /// into the typed payload. Returns the record's seq and its event (`None`
    /// if its payload does not decode), or why the bytes are not a record.
    pub fn from_stored(bytes: &[u8]) -> Result<(u64, Option<Event>), String> {
        let record = RecordRef::decode(bytes)?;
        Ok((record.seq, Event::from_record(&record)))
    }

    /// The event of a stored record already decoded by its caller (`None`
    /// if its type, date or payload do not decode).
    pub fn from_record(record: &RecordRef<'_>) -> Option<Event> {
        let event_type = record.event_type.parse::<EventType>().ok()?;
        Some(Event {
            seq: record.seq,
            id: record.id.as_ref().into(),
            key: id_key(&record.id),
            occurred: record.occurred.as_ref().into(),
            when: record.occurred.parse().ok()?,
            data: EventData::decode_json(event_type, record.data.get()).ok()?,
        })
    }

    pub fn first_day(&self) -> Day {
        day(self.when.first_day())
    }
}

/// A projection: folds records, one at a time, in seq order.
pub trait Fold {
    fn apply(&mut self, record: &Record);
}

/// Which facts a query may see: those recorded at or before `at_seq` and
/// not retracted at or before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retractions {
    /// Ids (as the ledger's 128-bit id keys) of records that produced
    /// facts → their seq.
    fact_seqs: IdIndex,
    /// Seq of a retracted fact → seq of its retraction.
    retracted_by: BTreeMap<u64, u64>,
}

impl Retractions {
    pub fn visible(&self, seq: u64, at_seq: u64) -> bool {
        seq <= at_seq && self.retracted_by.get(&seq).is_none_or(|by| *by > at_seq)
    }
}

/// The projections (the spec's four views and the activities), fed
/// together, over one arena of their text. Serializable, so the store can
/// checkpoint it; [`Views::FORMAT`] changes whenever its layout does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Views {
    /// The last seq folded.
    pub seq: u64,
    /// Queries see facts up to here only, when set: the store folds an
    /// import's records as they are written and shows them once the import
    /// is durable (see [`Views::show_up_to`]). Never serialized: a
    /// checkpoint is saved only with nothing hidden.
    #[serde(skip)]
    shown: Option<u64>,
    retractions: Retractions,
    /// Every text the facts below keep, interned (see [`strings`]).
    strings: Strings,
    agreements: agreements::Agreements,
    projects: projects::Projects,
    aid: aid::Aid,
    visits: visits::Visits,
    activities: activities::Activities,
}

impl Views {
    /// Bumped whenever the serialized layout or the fold's meaning changes,
    /// so that an older checkpoint is discarded and rebuilt, never trusted.
    pub const FORMAT: u32 = 9;

    /// `at_seq` as a query uses it: at most what has been folded and shown.
    fn cut(&self, at_seq: Option<u64>) -> u64 {
        let shown = self.shown();
        at_seq.map_or(shown, |at| at.min(shown))
    }

    /// The last seq queries see: [`Views::seq`] unless later ones are hidden.
    pub fn shown(&self) -> u64 {
        self.shown.map_or(self.seq, |shown| shown.min(self.seq))
    }

    /// Shows queries the facts of seqs up to `seq` only (all of them once
    /// `seq` reaches [`Views::seq`]). Every query is bitemporal, so hiding
    /// later facts is the same as asking each query `at_seq` this.
    pub fn show_up_to(&mut self, seq: u64) {
        self.shown = (seq < self.seq).then_some(seq);
    }

    pub fn agreements(&self, as_of: NaiveDate, at_seq: Option<u64>) -> agreements::AgreementsView {
        self.agreements.query(as_of, self.cut(at_seq), &self.retractions, &self.strings)
    }

    pub fn projects(&self, as_of: NaiveDate, at_seq: Option<u64>) -> projects::ProjectsView {
        self.projects.query(as_of, self.cut(at_seq), &self.retractions, &self.strings)
    }

    pub fn aid(&self, at_seq: Option<u64>) -> aid::AidView {
        self.aid.query(self.cut(at_seq), &self.retractions, &self.strings)
    }

    pub fn visits(&self, at_seq: Option<u64>) -> visits::VisitsView {
        self.visits.query(self.cut(at_seq), &self.retractions, &self.strings)
    }

    /// Every agreement known at `at_seq` (only those `party` is a party to,
    /// when given), for the dashboard's calendar.
    pub fn agreements_calendar(
        &self,
        as_of: NaiveDate,
        at_seq: Option<u64>,
        party: Option<&str>,
    ) -> Vec<agreements::CalendarRow> {
        self.agreements.calendar(as_of, self.cut(at_seq), &self.retractions, &self.strings, party)
    }

    /// The seqs of the records one cell of the aid view sums.
    pub fn aid_sources(&self, at_seq: Option<u64>, cell: &aid::AidCell<'_>) -> Vec<u64> {
        self.aid.sources(self.cut(at_seq), &self.retractions, &self.strings, cell)
    }

    /// Every activity known at `at_seq` (only `party`'s, when given), for
    /// the dashboard's timeline.
    pub fn activities(&self, at_seq: Option<u64>, party: Option<&str>) -> Vec<activities::ActivityRow> {
        self.activities.query(self.cut(at_seq), &self.retractions, &self.strings, party)
    }

    /// Asks the memory for what folding `event` will read at random: the
    /// intern table's slots of the ids and parties it names (the strings
    /// that are many; days, titles and units are few and stay cached).
    /// Changes nothing: a fold that calls this a few events ahead of
    /// [`Views::apply_event`] (see [`PREFETCH_AHEAD`]) only waits less,
    /// once the views outgrow the caches.
    pub fn prefetch(&self, event: &Event) {
        let strings = &self.strings;
        let each = |texts: &[CompactString]| texts.iter().for_each(|text| strings.prefetch(text));
        match &event.data {
            EventData::VisitHeld(d) => {
                [&d.visit, &d.delegation_of, &d.host].into_iter().for_each(|t| strings.prefetch(t))
            }
            EventData::AgreementSigned(d) => {
                strings.prefetch(&d.agreement);
                each(&d.parties);
            }
            EventData::AgreementAmended(d) => strings.prefetch(&d.agreement),
            EventData::AgreementTerminated(d) => strings.prefetch(&d.agreement),
            EventData::AidPledged(events::data::AidPledged { donor, recipient, project, .. })
            | EventData::AidDelivered(events::data::AidDelivered { donor, recipient, project, .. }) => {
                strings.prefetch(donor);
                strings.prefetch(recipient);
                project.iter().for_each(|project| strings.prefetch(project));
            }
            EventData::ProjectLaunched(d) => strings.prefetch(&d.project),
            EventData::ProjectProgress(d) => strings.prefetch(&d.project),
            EventData::ProjectCompleted(d) => strings.prefetch(&d.project),
            EventData::ActivityHeld(d) => {
                strings.prefetch(&event.id);
                each(&d.parties);
            }
            EventData::PartyRegistered(_) | EventData::AwardConferred(_) | EventData::EventRetracted(_) => {}
        }
    }

    /// Folds one decoded event.
    pub fn apply_event(&mut self, event: &Event) {
        debug_assert!(event.seq > self.seq, "records are folded in seq order");
        self.seq = event.seq;
        let produced = match &event.data {
            EventData::EventRetracted(d) => {
                if let Some(target) = self.retractions.fact_seqs.get(id_key(&d.target)) {
                    self.retractions.retracted_by.entry(target).or_insert(event.seq);
                }
                false
            }
            _ => {
                let strings = &mut self.strings;
                let a = self.agreements.apply(event, strings);
                let p = self.projects.apply(event, strings);
                let m = self.aid.apply(event, strings);
                let v = self.visits.apply(event, strings);
                let h = self.activities.apply(event, strings);
                a | p | m | v | h
            }
        };
        self.retractions.fact_seqs.push(event.seq, produced.then_some(event.key));
    }
}

impl Views {
    /// Folds one record from its stored bytes (the rebuild's fast path).
    /// Returns its seq, or why the bytes are not a record.
    pub fn apply_stored(&mut self, bytes: &[u8]) -> Result<u64, String> {
        let (seq, event) = Event::from_stored(bytes)?;
        self.apply_decoded(seq, event.as_ref());
        Ok(seq)
    }

    /// Folds `items` in order, each as the `(seq, event)` that `parts`
    /// gives (as [`Views::apply_decoded`]), asking for each event's memory
    /// [`PREFETCH_AHEAD`] events before folding it.
    pub fn apply_all<T>(&mut self, items: &[T], parts: impl Fn(&T) -> (u64, Option<&Event>)) {
        for (i, item) in items.iter().enumerate() {
            if let Some(ahead) = items.get(i + PREFETCH_AHEAD).and_then(|item| parts(item).1) {
                self.prefetch(ahead);
            }
            let (seq, event) = parts(item);
            self.apply_decoded(seq, event);
        }
    }

    /// Folds what [`Event::from_stored`] decoded.
    pub fn apply_decoded(&mut self, seq: u64, event: Option<&Event>) {
        match event {
            Some(event) => self.apply_event(event),
            None => self.seq = self.seq.max(seq),
        }
    }
}

impl Fold for Views {
    fn apply(&mut self, record: &Record) {
        match Event::decode(record) {
            Some(event) => self.apply_event(&event),
            None => self.seq = self.seq.max(record.seq),
        }
    }
}

/// The latest of competing facts: by first day of `occurred`, then seq.
fn latest<'a, T>(facts: impl Iterator<Item = &'a T>, key: impl Fn(&T) -> (Day, u64)) -> Option<&'a T>
where
    T: 'a,
{
    facts.max_by_key(|fact| key(fact))
}
