//! [`Knowledge`]: what the ledger knows, as one in-memory fold of the log,
//! and the [`Known`] that [`crate::append::decide`] asks. Ids map to their
//! seq; each seq keeps its content digest, type and the streams it named;
//! streams keep their version; entities their attributes; retracted seqs are
//! a set. It is derived from the log alone, checkpointed with the views and
//! caught up from the log on open, exactly as they are.
//!
//! Memory per record, kept small on purpose: a 16-byte hash of the id and a
//! 4-byte slot in a hash table ([`IdIndex`], ~26 bytes with the table's
//! slack), a 16-byte content digest, a 1-byte type, a 4-byte end offset and
//! 4 bytes per stream named (usually 2–4). Each stream is held once
//! ([`Streams`]), so a party named by a million records costs its name once.
//! `cargo bench --bench memory` measures it: 110 bytes a record at 1M
//! generated records, entities and their attributes included.

use crate::data::{EventData, EventType};
use crate::huge::Huge;
use crate::known::{self, Effects, EntityAttrs, EntityKey, EntityKind, Known, KnownEvent, NO_ATTRS};
use crate::record::{ContentDigest, RecordRef};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::hash::BuildHasher;

/// An event id as the knowledge keys it: the first 16 bytes of its SHA-256.
/// Two ids with one key would take about 2^64 SHA-256 computations to find.
pub type IdKey = u128;

pub fn id_key(id: &str) -> IdKey {
    let digest = Sha256::digest(id.as_bytes());
    u128::from_le_bytes(digest[..16].try_into().expect("16 of 32 bytes"))
}

/// Event ids → seqs, for a log read in seq order: each seq's id key in a
/// vector (16 bytes a record) and a hash table of positions in it (4 bytes
/// a slot). A map from 128-bit key to seq took 32 bytes a slot (a `u128`
/// is 16-aligned), about 69 bytes a record at 1M records with the table's
/// slack; this takes about 26. Only the keys are serialized: the table is
/// rebuilt on load.
#[derive(Debug, Clone, Default)]
pub struct IdIndex {
    /// Index `seq - 1`; [`NO_ID`] for a seq that has no id here.
    keys: Vec<IdKey>,
    table: hashbrown::HashTable<u32, Huge>,
}

/// The key of a seq that names no id in an [`IdIndex`] (a real id has it
/// with probability 2^-128).
const NO_ID: IdKey = 0;

impl IdIndex {
    /// The last seq this index has a position for.
    pub fn seq(&self) -> u64 {
        self.keys.len() as u64
    }

    /// Records `key` at `seq`; seqs between the last one and `seq` get no
    /// id. `None` records `seq` without an id.
    pub fn push(&mut self, seq: u64, key: Option<IdKey>) {
        assert!(seq > self.seq(), "an id index grows in seq order");
        let position = u32::try_from(seq - 1).expect("fewer than 2^32 records");
        self.keys.resize((seq - 1) as usize, NO_ID);
        let key = key.unwrap_or(NO_ID);
        self.keys.push(key);
        if key != NO_ID {
            let keys = &self.keys;
            self.table.insert_unique(key as u64, position, |&p| keys[p as usize] as u64);
        }
    }

    /// The seq recorded for `key`.
    pub fn get(&self, key: IdKey) -> Option<u64> {
        if key == NO_ID {
            return None;
        }
        let found = self.table.find(key as u64, |&p| self.keys[p as usize] == key)?;
        Some(u64::from(*found) + 1)
    }

    /// Forgets the last seq (how a failed group is rolled back).
    pub fn pop(&mut self) {
        let Some(key) = self.keys.pop() else { return };
        let position = self.keys.len() as u32;
        if key != NO_ID {
            if let Ok(entry) = self.table.find_entry(key as u64, |&p| p == position) {
                entry.remove();
            }
        }
    }
}

impl PartialEq for IdIndex {
    fn eq(&self, other: &IdIndex) -> bool {
        self.keys == other.keys
    }
}

impl Eq for IdIndex {}

impl Serialize for IdIndex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.keys.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IdIndex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<IdIndex, D::Error> {
        let keys = Vec::<IdKey>::deserialize(deserializer)?;
        let positions = u32::try_from(keys.len()).map_err(|_| serde::de::Error::custom("2^32 records or more"))?;
        let mut table = hashbrown::HashTable::with_capacity_in(keys.iter().filter(|k| **k != NO_ID).count(), Huge);
        for position in (0..positions).filter(|p| keys[*p as usize] != NO_ID) {
            table.insert_unique(keys[position as usize] as u64, position, |&p| keys[p as usize] as u64);
        }
        Ok(IdIndex { keys, table })
    }
}

/// Every stream named so far, each once, with what the knowledge keeps of
/// it: its version and, once its entity is introduced, the entity's
/// attributes. A stream's index here is how `stream_refs` names it.
///
/// Looked up by kind and id, never by a formatted `kind:id`: one probe of
/// `table` (4 bytes a slot), then the entry, which holds an id of up to 24
/// bytes inline (most are shorter), so a lookup touches two places in
/// memory. Hashed with foldhash, seeded per process (crafted ids cannot
/// force collisions); only the entries are serialized, and the table is
/// rebuilt on load.
#[derive(Debug, Clone, Default)]
struct Streams {
    entries: Vec<Stream>,
    table: hashbrown::HashTable<u32, Huge>,
    hasher: foldhash::fast::RandomState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stream {
    kind: EntityKind,
    id: CompactString,
    /// How many records have named it.
    version: u32,
    /// Whether its entity has been introduced (a stream is named only by
    /// records that introduce or refer to its entity, but a rolled-back
    /// introduction leaves the stream behind at version 0).
    introduced: bool,
    /// The entity's attributes, where it has some (a pledge or a project).
    attrs: Option<Box<EntityAttrs>>,
}

impl Streams {
    fn hash(&self, kind: EntityKind, id: &str) -> u64 {
        self.hasher.hash_one((kind, id))
    }

    fn get(&self, kind: EntityKind, id: &str) -> Option<&Stream> {
        let entries = &self.entries;
        let found = self.table.find(self.hash(kind, id), |&i| {
            let entry = &entries[i as usize];
            entry.kind == kind && entry.id == id
        })?;
        Some(&entries[*found as usize])
    }

    /// The index of the stream of `kind` `id`, added (at version 0) if new.
    fn intern(&mut self, kind: EntityKind, id: &str) -> u32 {
        let hash = self.hash(kind, id);
        let entries = &mut self.entries;
        let hasher = &self.hasher;
        let entry = self.table.entry(
            hash,
            |&i| {
                let entry = &entries[i as usize];
                entry.kind == kind && entry.id == id
            },
            |&i| {
                let entry = &entries[i as usize];
                hasher.hash_one((entry.kind, entry.id.as_str()))
            },
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(found) => *found.get(),
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                let index = u32::try_from(entries.len()).expect("fewer than 2^32 streams");
                entries.push(Stream { kind, id: id.into(), version: 0, introduced: false, attrs: None });
                vacant.insert(index);
                index
            }
        }
    }

    /// The stream of a name as written (`party:vn/hanoi`).
    fn named(&self, name: &str) -> Option<&Stream> {
        let (kind, id) = name.split_once(':')?;
        self.get(EntityKind::parse(kind)?, id)
    }

    fn key(&self, index: u32) -> EntityKey {
        let entry = &self.entries[index as usize];
        EntityKey::new(entry.kind, &entry.id)
    }
}

impl PartialEq for Streams {
    fn eq(&self, other: &Streams) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Streams {}

impl Serialize for Streams {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Streams {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Streams, D::Error> {
        let entries = Vec::<Stream>::deserialize(deserializer)?;
        let mut streams = Streams {
            table: hashbrown::HashTable::with_capacity_in(entries.len(), Huge),
            entries: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
        };
        for entry in entries {
            let index = streams.intern(entry.kind, &entry.id);
            if index as usize != streams.entries.len() - 1 {
                return Err(serde::de::Error::custom(format!(
                    "stream {}:{} is listed twice",
                    entry.kind.as_str(),
                    entry.id
                )));
            }
            streams.entries[index as usize] = entry;
        }
        Ok(streams)
    }
}

/// The ledger's knowledge after seq [`Knowledge::seq`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Knowledge {
    seq: u64,
    ids: IdIndex,
    /// Per seq (index `seq - 1`): what idempotency compares.
    contents: Vec<ContentDigest>,
    /// Per seq: the event type's index in [`EventType::ALL`].
    types: Vec<u8>,
    /// Per seq: where its streams end in `stream_refs` (they start where the
    /// previous seq's end).
    stream_ends: Vec<u32>,
    stream_refs: Vec<u32>,
    /// Every stream named so far, its version and its entity.
    streams: Streams,
    /// Seqs of retracted records.
    retracted: BTreeSet<u64>,
}

impl Knowledge {
    /// The last seq absorbed.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The seq of the record with this id, if any.
    pub fn seq_of(&self, id: &str) -> Option<u64> {
        self.ids.get(id_key(id))
    }

    /// Records per event type among seqs 1..=`upto`, in [`EventType::ALL`]'s
    /// order, leaving out types with none.
    pub fn type_counts(&self, upto: u64) -> Vec<(EventType, u64)> {
        let mut counts = [0u64; EventType::ALL.len()];
        for &index in &self.types[..(upto as usize).min(self.types.len())] {
            counts[index as usize] += 1;
        }
        EventType::ALL.iter().zip(counts).filter(|(_, n)| *n > 0).map(|(t, n)| (*t, n)).collect()
    }

    /// Whether the record at `seq` has been retracted.
    pub fn is_retracted(&self, seq: u64) -> bool {
        self.retracted.contains(&seq)
    }

    /// How many records have named `stream` (written `kind:id`).
    pub fn version(&self, stream: &str) -> u64 {
        self.streams.named(stream).map_or(0, |s| u64::from(s.version))
    }

    fn streams_of(&self, seq: u64) -> Vec<EntityKey> {
        let at = (seq - 1) as usize;
        let start = if at == 0 { 0 } else { self.stream_ends[at - 1] as usize };
        let end = self.stream_ends[at] as usize;
        self.stream_refs[start..end].iter().map(|&i| self.streams.key(i)).collect()
    }

    /// Absorbs the next record, given its id's key ([`id_key`]) and the
    /// effects validation computed for it (the committer's path: nothing is
    /// decoded or hashed again).
    pub fn absorb(&mut self, seq: u64, key: IdKey, event_type: EventType, content: ContentDigest, effects: &Effects) {
        assert_eq!(seq, self.seq + 1, "knowledge absorbs records in seq order");
        self.seq = seq;
        self.ids.push(seq, Some(key));
        self.contents.push(content);
        let type_index = EventType::ALL.iter().position(|t| *t == event_type).expect("a known type");
        self.types.push(type_index as u8);
        for stream in &effects.streams {
            let index = self.streams.intern(stream.kind, &stream.id);
            self.streams.entries[index as usize].version += 1;
            // A retraction cannot be retracted, so its streams are never asked for.
            if event_type != EventType::EventRetracted {
                self.stream_refs.push(index);
            }
        }
        self.stream_ends.push(u32::try_from(self.stream_refs.len()).expect("fewer than 2^32 stream references"));
        if let Some((entity, attrs)) = &effects.introduces {
            let index = self.streams.intern(entity.kind, &entity.id);
            let stream = &mut self.streams.entries[index as usize];
            stream.introduced = true;
            stream.attrs = (*attrs != NO_ATTRS).then(|| Box::new(attrs.clone()));
        }
        if let Some(target) = &effects.retracts {
            if let Some(target_seq) = self.seq_of(target) {
                self.retracted.insert(target_seq);
            }
        }
    }

    /// Undoes [`Knowledge::absorb`] of the last record, given the same
    /// arguments: how a group that fails part-way is rolled back. Exact,
    /// because validation admitted the record only if its id and entity were
    /// new and its target not yet retracted. Interned stream names stay (a
    /// stream at version 0 is one never named).
    pub fn unabsorb(&mut self, seq: u64, id: &str, effects: &Effects) {
        assert_eq!(seq, self.seq, "only the last record can be rolled back");
        debug_assert_eq!(self.ids.get(id_key(id)), Some(seq), "the last record's id");
        if let Some(target) = &effects.retracts {
            if let Some(target_seq) = self.seq_of(target) {
                self.retracted.remove(&target_seq);
            }
        }
        if let Some((entity, _)) = &effects.introduces {
            let index = self.streams.intern(entity.kind, &entity.id);
            let stream = &mut self.streams.entries[index as usize];
            (stream.introduced, stream.attrs) = (false, None);
        }
        for stream in &effects.streams {
            let index = self.streams.intern(stream.kind, &stream.id);
            self.streams.entries[index as usize].version -= 1;
        }
        self.stream_ends.pop();
        let start = self.stream_ends.last().copied().unwrap_or(0) as usize;
        self.stream_refs.truncate(start);
        self.types.pop();
        self.contents.pop();
        self.ids.pop();
        self.seq -= 1;
    }

    /// Absorbs a stored record (catching up from the log): derives its
    /// effects as validation did when it was appended. `data` is its typed
    /// payload, decoded once by the caller (who also folds it into views).
    pub fn absorb_stored(&mut self, record: &RecordRef<'_>, data: &EventData) -> Result<(), String> {
        let event_type = record.event_type.parse::<EventType>()?;
        self.absorb_data(record.seq, &record.id, event_type, record.content_digest(), data)
    }

    /// [`Knowledge::absorb_stored`] from the parts of a decoded record.
    pub fn absorb_data(
        &mut self,
        seq: u64,
        id: &str,
        event_type: EventType,
        content: ContentDigest,
        data: &EventData,
    ) -> Result<(), String> {
        if seq != self.seq + 1 {
            return Err(format!("knowledge is at seq {}, so it cannot absorb seq {seq}", self.seq));
        }
        let mut target_streams = Vec::new();
        let mut retracts = None;
        if let EventData::EventRetracted(d) = data {
            let target = self.event(&d.target).ok_or_else(|| format!("retracts unknown event `{}`", d.target))?;
            target_streams = target.streams;
            retracts = Some(d.target.clone());
        }
        let effects = Effects {
            introduces: known::introduction(data),
            streams: known::named_streams(data, target_streams),
            retracts,
        };
        self.absorb(seq, id_key(id), event_type, content, &effects);
        Ok(())
    }
}

impl Known for Knowledge {
    fn entity(&self, kind: EntityKind, id: &str) -> Option<&EntityAttrs> {
        let stream = self.streams.get(kind, id).filter(|s| s.introduced)?;
        Some(stream.attrs.as_deref().unwrap_or(&NO_ATTRS))
    }

    fn event(&self, id: &str) -> Option<KnownEvent> {
        self.event_keyed(id, id_key(id))
    }

    fn event_keyed(&self, _: &str, key: IdKey) -> Option<KnownEvent> {
        let seq = self.ids.get(key)?;
        let at = (seq - 1) as usize;
        Some(KnownEvent {
            seq,
            event_type: EventType::ALL[self.types[at] as usize],
            retracted: self.retracted.contains(&seq),
            streams: self.streams_of(seq),
            content: self.contents[at],
        })
    }

    fn stream_version(&self, stream: &str) -> u64 {
        self.version(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::append::{decide, Decision, Sealer};
    use crate::generate::History;
    use crate::Checked;

    /// Knowledge absorbed from validation's effects equals knowledge caught
    /// up from the stored bytes.
    #[test]
    fn absorbing_effects_and_catching_up_from_stored_bytes_agree() {
        let mut history = History::new(7);
        let (mut live, mut caught_up, mut sealer) = (Knowledge::default(), Knowledge::default(), Sealer::default());
        for _ in 0..2_000 {
            let submission = history.next_submission();
            let checked = Checked::parse(&serde_json::to_vec(&submission).unwrap()).unwrap();
            let Decision::New(admitted) = decide(&live, checked) else { panic!("generated submissions are new") };
            let id = admitted.checked().id().map_or_else(|| format!("gen-{}", sealer.next_seq()), str::to_string);
            let sealed = sealer.seal(admitted.checked(), &id, "2026-11-22T10:45:50.123456Z");
            let (checked, effects) = (*admitted).into_parts();
            live.absorb(sealed.seq, id_key(&id), checked.event_type(), checked.content_digest(), &effects);
            let stored = RecordRef::decode(sealed.bytes()).unwrap();
            let data = EventData::decode_json(checked.event_type(), stored.data.get()).unwrap();
            caught_up.absorb_stored(&stored, &data).unwrap();
        }
        assert_eq!(live, caught_up);
        assert_eq!(live.seq(), 2_000);
        let round_trip: Knowledge = postcard_like_round_trip(&live);
        assert_eq!(round_trip, live);
    }

    /// Absorbing a group and rolling it back leaves the knowledge as it was
    /// (up to interned names, which do not change what it answers).
    #[test]
    fn rolling_a_group_back_restores_every_answer() {
        let submissions = History::generate(3, 400);
        let (before, rest) = submissions.split_at(300);
        let records = crate::generate::seal(&submissions);
        let mut knowledge = Knowledge::default();
        let absorb_all = |knowledge: &mut Knowledge, records: &[crate::Record]| {
            for record in records {
                let bytes = record.canonical_bytes();
                let stored = RecordRef::decode(&bytes).unwrap();
                let kind: EventType = stored.event_type.parse().unwrap();
                knowledge.absorb_stored(&stored, &EventData::decode_json(kind, stored.data.get()).unwrap()).unwrap();
            }
        };
        absorb_all(&mut knowledge, &records[..before.len()]);
        let snapshot = knowledge.clone();
        let mut undo = Vec::new();
        for (submission, record) in rest.iter().zip(&records[before.len()..]) {
            let checked = Checked::parse(&serde_json::to_vec(submission).unwrap()).unwrap();
            let Decision::New(admitted) = decide(&knowledge, checked) else { panic!("valid") };
            let (checked, effects) = (*admitted).into_parts();
            knowledge.absorb(record.seq, id_key(&record.id), checked.event_type(), checked.content_digest(), &effects);
            undo.push((record.seq, record.id.clone(), effects));
        }
        for (seq, id, effects) in undo.iter().rev() {
            knowledge.unabsorb(*seq, id, effects);
        }
        assert_eq!(knowledge.seq(), snapshot.seq());
        for record in &records {
            assert_eq!(knowledge.event(&record.id), snapshot.event(&record.id), "{}", record.id);
        }
        for stream in snapshot.streams.entries.iter().chain(&knowledge.streams.entries) {
            let name = format!("{}:{}", stream.kind.as_str(), stream.id);
            assert_eq!(knowledge.version(&name), snapshot.version(&name), "{name}");
            assert_eq!(knowledge.entity(stream.kind, &stream.id), snapshot.entity(stream.kind, &stream.id), "{name}");
        }
        // And the rest can be absorbed again, to the same end.
        absorb_all(&mut knowledge, &records[before.len()..]);
        let mut fresh = Knowledge::default();
        absorb_all(&mut fresh, &records);
        assert_eq!(knowledge.event(&records[399].id), fresh.event(&records[399].id));
    }

    /// The index answers each id's seq, nothing for an id it never saw or
    /// a seq recorded without one, forgets the last seq on `pop`, and comes
    /// back from its serialized keys answering the same.
    #[test]
    fn the_id_index_finds_every_seq_and_survives_a_round_trip() {
        let mut index = IdIndex::default();
        for seq in (1..=5_000u64).filter(|seq| seq % 7 != 0) {
            index.push(seq, (seq % 5 != 0).then(|| id_key(&format!("id-{seq}"))));
        }
        let answers = |index: &IdIndex| -> Vec<Option<u64>> {
            (0..=5_001u64).map(|seq| index.get(id_key(&format!("id-{seq}")))).collect()
        };
        let expected: Vec<Option<u64>> = (0..=5_001u64)
            .map(|seq| ((1..=5_000).contains(&seq) && seq % 7 != 0 && seq % 5 != 0).then_some(seq))
            .collect();
        assert_eq!(answers(&index), expected);
        assert_eq!(index.seq(), 5_000, "seq 5,000 is recorded, without an id");
        let back: IdIndex = serde_json::from_slice(&serde_json::to_vec(&index).unwrap()).unwrap();
        assert_eq!(answers(&back), expected);
        assert_eq!(back, index);
        index.pop();
        assert_eq!(index.get(id_key("id-4999")), Some(4_999));
        index.pop();
        assert_eq!(index.get(id_key("id-4999")), None);
        assert_eq!(index.get(id_key("id-4997")), Some(4_997));
        index.push(4_999, Some(id_key("again")));
        assert_eq!(index.get(id_key("again")), Some(4_999));
    }

    /// Streams are told apart by kind and id together, found by name
    /// (`kind:id`) for `expect`, and a serialized list that names one
    /// stream twice is refused rather than loaded with one of them lost.
    #[test]
    fn streams_are_kind_and_id_together() {
        let mut knowledge = Knowledge::default();
        let key = |kind, id: &str| EntityKey::new(kind, id);
        let effects = |introduces: Option<EntityKey>, streams: Vec<EntityKey>| Effects {
            introduces: introduces.map(|key| (key, EntityAttrs::default())),
            streams,
            retracts: None,
        };
        let party = key(EntityKind::Party, "x");
        let project = key(EntityKind::Project, "x");
        let content = [0; 16];
        knowledge.absorb(
            1,
            id_key("a"),
            EventType::PartyRegistered,
            content,
            &effects(Some(party.clone()), vec![party.clone()]),
        );
        knowledge.absorb(
            2,
            id_key("b"),
            EventType::VisitHeld,
            content,
            &effects(None, vec![party.clone(), project.clone()]),
        );
        knowledge.absorb(3, id_key("c"), EventType::VisitHeld, content, &effects(None, vec![party.clone()]));
        assert_eq!(knowledge.version("party:x"), 3);
        assert_eq!(knowledge.version("project:x"), 1);
        assert_eq!((knowledge.version("visit:x"), knowledge.version("x"), knowledge.version("planet:x")), (0, 0, 0));
        assert_eq!(knowledge.entity(EntityKind::Party, "x"), Some(&NO_ATTRS));
        assert_eq!(knowledge.entity(EntityKind::Project, "x"), None, "named, never introduced");
        assert_eq!(knowledge.event("b").unwrap().streams, vec![party.clone(), project]);

        let mut json = serde_json::to_value(&knowledge.streams).unwrap();
        let entries = json.as_array_mut().unwrap();
        let first = entries[0].clone();
        entries.push(first);
        let error = serde_json::from_value::<Streams>(json).unwrap_err().to_string();
        assert!(error.contains("party:x is listed twice"), "{error}");
    }

    fn postcard_like_round_trip(knowledge: &Knowledge) -> Knowledge {
        serde_json::from_slice(&serde_json::to_vec(knowledge).unwrap()).unwrap()
    }
}
