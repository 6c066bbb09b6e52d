//! The `index` tree: what validation asks of the ledger, kept on disk so that
//! reference checks, idempotency and `expect` hold after a restart without
//! replaying the log. It is derived from the log and nothing else: the
//! committer writes it right after each log batch, and on open any records
//! the index has not yet absorbed (a crash between the two writes) are
//! replayed through the same [`Overlay::absorb_record`].
//!
//! Keys (one tree, prefixed):
//! - `i<event id>` → seq (u64 big-endian): permanent idempotency index.
//! - `r<event id>` → seq of the retraction that retracted it.
//! - `s<stream>` → version (u64 big-endian).
//! - `e<kind>:<id>` → the entity's attributes, as JSON.
//! - `m:head` → the last seq the index has absorbed.

use super::be_u64;
use crate::error::Error;
use events::known::{self, Effects, EntityAttrs};
use events::{Checked, EntityKey, EventData, EventType, Known, KnownEvent, Record, Validated};
use std::cell::RefCell;
use std::collections::HashMap;

const HEAD_KEY: &[u8] = b"m:head";

fn key(prefix: u8, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + name.len());
    key.push(prefix);
    key.extend_from_slice(name.as_bytes());
    key
}

/// Reads the committed index (and the log, for events' content). A sled read
/// error cannot travel through [`Known`], so the first one is kept and the
/// caller must check [`IndexReader::take_error`] after validating.
pub struct IndexReader<'a> {
    index: &'a sled::Tree,
    log: &'a sled::Tree,
    error: RefCell<Option<sled::Error>>,
}

impl<'a> IndexReader<'a> {
    pub fn new(index: &'a sled::Tree, log: &'a sled::Tree) -> Self {
        IndexReader { index, log, error: RefCell::new(None) }
    }

    pub fn take_error(&self) -> Option<sled::Error> {
        self.error.borrow_mut().take()
    }

    fn read(&self, key: &[u8]) -> Option<sled::IVec> {
        match self.index.get(key) {
            Ok(value) => value,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    /// The last seq the index has absorbed (0 for a new ledger).
    pub fn head(&self) -> Option<u64> {
        self.read(HEAD_KEY).and_then(|v| be_u64(&v))
    }

    pub fn seq_of(&self, id: &str) -> Option<u64> {
        self.read(&key(b'i', id)).and_then(|v| be_u64(&v))
    }

    fn stored_record(&self, seq: u64) -> Option<Record> {
        match self.log.get(seq.to_be_bytes()) {
            Ok(Some(bytes)) => Record::decode(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }
}

/// What validation needs to know of a record already in the log.
pub fn known_event(record: &Record, retracted: bool) -> Option<KnownEvent> {
    let event_type = record.event_type.parse::<EventType>().ok()?;
    let typed = EventData::decode(event_type, &record.data).ok()?;
    Some(KnownEvent {
        seq: record.seq,
        event_type,
        retracted,
        streams: known::streams(&typed, &[]),
        content: record.content_digest(),
    })
}

impl Known for IndexReader<'_> {
    fn entity(&self, entity: &EntityKey) -> Option<EntityAttrs> {
        let bytes = self.read(&key(b'e', &entity.to_string()))?;
        serde_json::from_slice(&bytes).ok()
    }

    fn event(&self, id: &str) -> Option<KnownEvent> {
        let seq = self.seq_of(id)?;
        let retracted = self.read(&key(b'r', id)).is_some();
        known_event(&self.stored_record(seq)?, retracted)
    }

    fn stream_version(&self, stream: &str) -> u64 {
        self.read(&key(b's', stream)).and_then(|v| be_u64(&v)).unwrap_or(0)
    }
}

/// What a submission is, against the ledger as an overlay sees it.
pub enum Admission {
    /// Its id is already at this seq with the same content: append nothing.
    Existing(u64),
    /// New, and valid.
    New(Box<Validated>),
}

/// The idempotency check, validation and `expect`, in that order: what the
/// committer and a dry run both decide before anything is sealed.
pub fn admit(overlay: &impl Known, submission: Checked) -> Result<Admission, Error> {
    if let Some(id) = submission.id() {
        if let Some(existing) = overlay.event(id) {
            if existing.content != submission.content_digest() {
                return Err(Error::Conflict(format!(
                    "id `{id}` is already seq {} with other content; re-sending must repeat type, occurred, data and sources exactly",
                    existing.seq
                )));
            }
            return Ok(Admission::Existing(existing.seq));
        }
    }
    let validated = submission.validate(overlay)?;
    if let Some(expect) = validated.checked().expect() {
        let version = overlay.stream_version(&expect.stream);
        if version != expect.version {
            return Err(Error::Conflict(format!(
                "stream `{}` is at version {version}, not the expected {}",
                expect.stream, expect.version
            )));
        }
    }
    Ok(Admission::New(Box::new(validated)))
}

/// Changes to the index not yet written: a batch's, or a group's within it.
#[derive(Default)]
pub struct Changes {
    events: HashMap<String, KnownEvent>,
    retracted: HashMap<String, u64>,
    streams: HashMap<String, u64>,
    entities: HashMap<EntityKey, EntityAttrs>,
    head: Option<u64>,
}

impl Changes {
    /// The sled batch that writes these changes to the `index` tree.
    pub fn to_batch(&self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (id, event) in &self.events {
            batch.insert(key(b'i', id), &event.seq.to_be_bytes());
        }
        for (id, by_seq) in &self.retracted {
            batch.insert(key(b'r', id), &by_seq.to_be_bytes());
        }
        for (stream, version) in &self.streams {
            batch.insert(key(b's', stream), &version.to_be_bytes());
        }
        for (entity, attrs) in &self.entities {
            let json = serde_json::to_vec(attrs).expect("attributes always serialize");
            batch.insert(key(b'e', &entity.to_string()), json);
        }
        if let Some(head) = self.head {
            batch.insert(HEAD_KEY, &head.to_be_bytes());
        }
        batch
    }
}

/// The index as it will be once `changes` are written: `base` plus changes.
/// A group's overlay sits on its batch's, which sits on the index.
pub struct Overlay<B: Known> {
    base: B,
    changes: Changes,
}

impl<B: Known> Overlay<B> {
    pub fn new(base: B) -> Self {
        Overlay { base, changes: Changes::default() }
    }

    pub fn base(&self) -> &B {
        &self.base
    }

    pub fn into_changes(self) -> Changes {
        self.changes
    }

    /// Takes over the changes of an overlay that was layered on this one.
    pub fn merge(&mut self, changes: Changes) {
        self.changes.events.extend(changes.events);
        self.changes.retracted.extend(changes.retracted);
        self.changes.streams.extend(changes.streams);
        self.changes.entities.extend(changes.entities);
        if changes.head.is_some() {
            self.changes.head = changes.head;
        }
    }

    /// Records what appending a record (with these effects) changes. `id`
    /// is `None` only in a dry run of a submission that names none.
    pub fn absorb(&mut self, seq: u64, id: Option<&str>, event_type: EventType, content: [u8; 32], effects: &Effects) {
        for stream in &effects.streams {
            let version = self.stream_version(stream) + 1;
            self.changes.streams.insert(stream.clone(), version);
        }
        if let Some((entity, attrs)) = &effects.introduces {
            self.changes.entities.insert(entity.clone(), attrs.clone());
        }
        if let Some(target) = &effects.retracts {
            self.changes.retracted.insert(target.clone(), seq);
        }
        if let Some(id) = id {
            // A retraction cannot be retracted, so its streams are never asked for.
            let streams = if event_type == EventType::EventRetracted { Vec::new() } else { effects.streams.clone() };
            let event = KnownEvent { seq, event_type, retracted: false, streams, content };
            self.changes.events.insert(id.to_string(), event);
        }
        self.changes.head = Some(seq);
    }

    /// Replays a stored record (recovery): derives its effects as the
    /// committer did when it appended it.
    pub fn absorb_record(&mut self, record: &Record) -> Result<(), String> {
        let event_type = record.event_type.parse::<EventType>()?;
        let typed = EventData::decode(event_type, &record.data).map_err(|e| e.to_string())?;
        let mut target_streams = Vec::new();
        let mut retracts = None;
        if let EventData::EventRetracted(d) = &typed {
            let target = self.event(&d.target).ok_or_else(|| format!("retracts unknown event `{}`", d.target))?;
            target_streams = target.streams;
            retracts = Some(d.target.clone());
        }
        let effects = Effects {
            introduces: known::introduction(&typed),
            streams: known::streams(&typed, &target_streams),
            retracts,
        };
        self.absorb(record.seq, Some(&record.id), event_type, record.content_digest(), &effects);
        Ok(())
    }
}

impl<B: Known> Known for Overlay<B> {
    fn entity(&self, entity: &EntityKey) -> Option<EntityAttrs> {
        match self.changes.entities.get(entity) {
            Some(attrs) => Some(attrs.clone()),
            None => self.base.entity(entity),
        }
    }

    fn event(&self, id: &str) -> Option<KnownEvent> {
        let mut event = match self.changes.events.get(id) {
            Some(event) => event.clone(),
            None => self.base.event(id)?,
        };
        event.retracted |= self.changes.retracted.contains_key(id);
        Some(event)
    }

    fn stream_version(&self, stream: &str) -> u64 {
        match self.changes.streams.get(stream) {
            Some(version) => *version,
            None => self.base.stream_version(stream),
        }
    }
}
