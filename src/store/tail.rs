//! The tail: the most recent durable records, in memory, shared. The syncer
//! pushes each batch here once it is durable, before it moves the durable
//! head; the projector and every subscriber take records from here, and read
//! the log only when they have fallen further behind than the tail reaches.
//! So a new record is read from sled by nobody, however many follow it.
//! An import's records are pushed as they are written, before they are
//! durable: the projector folds them (hidden until the import is durable),
//! and nobody else takes a record past the durable head.
//! Must never: give out a record past the durable head to anyone but the
//! projector, or grow past its bounds.

use crate::error::Result;
use events::merkle::Hash;
use events::{ChainError, EventType, RecordRef};
use projections::Event;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

/// Most records the tail keeps.
pub const TAIL_RECORDS_MAX: usize = 16_384;
/// Most stored bytes the tail keeps (the typed events beside them cost
/// about as much again).
pub const TAIL_BYTES_MAX: usize = 16 * 1024 * 1024;

/// One durable record as the committer sealed it: its stored bytes, where
/// in them the fields readers want are (so nobody parses the bytes, nor
/// copies those fields out of them), and its typed event for the projector
/// (`None` for records read back from the log, which readers other than
/// the projector never need typed). Shared by every reader.
#[derive(Debug)]
pub struct Committed {
    pub seq: u64,
    pub event_type: EventType,
    /// Private: the offsets below point into it.
    bytes: bytes::Bytes,
    pub event: Option<Event>,
    /// Where the hash's 64 hex digits start in `bytes`.
    hash_at: u32,
    /// Where the id starts and ends in `bytes`.
    id_at: (u32, u32),
    /// Its Merkle leaf, when the committer sealed it (hashed while the
    /// bytes were in cache); a record read back from the log has none.
    leaf: Option<Hash>,
    /// The record as one Server-Sent Events frame, rendered on first use
    /// and then shared by every subscriber.
    frame: OnceLock<bytes::Bytes>,
}

impl Committed {
    /// A record the committer sealed.
    pub fn sealed(sealed: events::Sealed, event: Option<Event>) -> Self {
        let (hash_at, id_at) = sealed.offsets();
        let offset = |at: usize| u32::try_from(at).expect("a record is far smaller than 4 GiB");
        Committed {
            seq: sealed.seq,
            event_type: sealed.event_type,
            leaf: Some(sealed.leaf()),
            hash_at: offset(hash_at),
            id_at: (offset(id_at.0), offset(id_at.1)),
            bytes: sealed.into_bytes(),
            event,
            frame: OnceLock::new(),
        }
    }

    /// A record read back from the log: where its fields are, found by
    /// reading the bytes. The id and hash of a stored record are never
    /// escaped (their alphabets need none); one that is is not a record.
    pub fn from_stored(seq: u64, bytes: Vec<u8>) -> Result<Committed> {
        let fail = |problem: String| ChainError { seq, problem };
        let record = RecordRef::decode(&bytes).map_err(fail)?;
        let event_type = record.event_type.parse().map_err(fail)?;
        let at = |field: &std::borrow::Cow<'_, str>, name: &str| match field {
            std::borrow::Cow::Borrowed(text) => {
                let start = text.as_ptr() as usize - bytes.as_ptr() as usize;
                u32::try_from(start)
                    .map(|start| (start, start + text.len() as u32))
                    .map_err(|_| fail(format!("{name} is past 4 GiB")))
            }
            std::borrow::Cow::Owned(_) => Err(fail(format!("{name} is escaped, which no canonical record's is"))),
        };
        if record.hash.len() != 64 {
            return Err(fail(format!("hash `{}` is not 64 hex digits", record.hash)).into());
        }
        let (hash_at, id_at) = (at(&record.hash, "hash")?.0, at(&record.id, "id")?);
        drop(record);
        Ok(Committed {
            seq,
            event_type,
            hash_at,
            id_at,
            leaf: None,
            bytes: bytes.into(),
            event: None,
            frame: OnceLock::new(),
        })
    }

    /// Its leaf hash in the Merkle tree.
    pub fn leaf(&self) -> Hash {
        self.leaf.unwrap_or_else(|| events::merkle::record_hash(&self.bytes))
    }

    /// The stored bytes, shared.
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.bytes
    }

    /// The record's hash, 64 lower-case hex digits.
    pub fn hash(&self) -> &str {
        let at = self.hash_at as usize;
        std::str::from_utf8(&self.bytes[at..at + 64]).expect("checked when it was made")
    }

    /// The record's id.
    pub fn id(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.id_at.0 as usize..self.id_at.1 as usize])
            .expect("checked when it was made")
    }

    /// `id: <seq>`, `event: <type>`, `data: <the stored bytes>`: one SSE
    /// frame. Stored bytes are one line (JCS escapes every newline).
    pub fn sse_frame(&self) -> bytes::Bytes {
        let frame = self.frame.get_or_init(|| {
            let mut frame = Vec::with_capacity(self.bytes.len() + 64);
            frame
                .extend_from_slice(format!("id: {}\nevent: {}\ndata: ", self.seq, self.event_type.as_str()).as_bytes());
            frame.extend_from_slice(&self.bytes);
            frame.extend_from_slice(b"\n\n");
            frame.into()
        });
        frame.clone()
    }
}

#[derive(Default)]
struct Records {
    records: VecDeque<Arc<Committed>>,
    bytes: usize,
}

/// See the module doc. A std mutex, not a tokio one: it is held only to copy
/// `Arc`s in or out, never across an await.
#[derive(Default)]
pub struct Tail {
    inner: Mutex<Records>,
}

impl Tail {
    /// Appends a batch (seqs following the last pushed), evicting the
    /// oldest records beyond the bounds.
    pub fn push(&self, batch: &[Arc<Committed>]) {
        let mut inner = self.inner.lock().expect("not poisoned");
        for record in batch {
            debug_assert!(inner.records.back().is_none_or(|last| last.seq + 1 == record.seq), "seqs follow");
            inner.bytes += record.bytes.len();
            inner.records.push_back(Arc::clone(record));
        }
        while inner.records.len() > TAIL_RECORDS_MAX || inner.bytes > TAIL_BYTES_MAX {
            let evicted = inner.records.pop_front().expect("over a bound, so not empty");
            inner.bytes -= evicted.bytes.len();
        }
    }

    /// Drops the records after seq `last` (a refused import's).
    pub fn truncate(&self, last: u64) {
        let mut inner = self.inner.lock().expect("not poisoned");
        while inner.records.back().is_some_and(|record| record.seq > last) {
            let dropped = inner.records.pop_back().expect("not empty");
            inner.bytes -= dropped.bytes.len();
        }
    }

    /// Records `from..=to`, if the tail still holds `from` (and so, being
    /// contiguous up to the durable head, all of them up to `to`); `None`
    /// when the caller must read the log instead.
    pub fn get(&self, from: u64, to: u64) -> Option<Vec<Arc<Committed>>> {
        let inner = self.inner.lock().expect("not poisoned");
        let first = inner.records.front()?.seq;
        if from < first {
            return None;
        }
        let start = (from - first) as usize;
        let end = ((to + 1).saturating_sub(first) as usize).min(inner.records.len());
        (start < end).then(|| inner.records.range(start..end).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record at `seq` of at least `bytes` bytes: a real one, padded
    /// with spaces after its end (only its size matters to the tail).
    fn committed(seq: u64, bytes: usize) -> Arc<Committed> {
        let mut record = stored(seq);
        record.resize(record.len().max(bytes), b' ');
        Arc::new(Committed::from_stored(seq, record).unwrap())
    }

    fn stored(seq: u64) -> Vec<u8> {
        let submission = r#"{"type":"activity.held","occurred":"2023","data":{"category":"forum","title":"T","parties":["vn/hanoi"]}}"#;
        let checked = events::Checked::parse(submission.as_bytes()).unwrap();
        let mut sealer = events::Sealer::after(seq - 1, events::GENESIS_PREV, "2026-11-22T10:45:50.123456Z");
        sealer.seal(&checked, &format!("ev-{seq}"), "2026-11-22T10:45:50.123456Z").bytes().to_vec()
    }

    #[test]
    fn a_record_read_back_names_its_id_and_hash_without_parsing_again() {
        let bytes = stored(3);
        let record = events::Record::decode(&bytes).unwrap();
        let committed = Committed::from_stored(3, bytes).unwrap();
        assert_eq!((committed.id(), committed.hash()), ("ev-3", record.hash.as_str()));
        assert_eq!(committed.event_type, EventType::ActivityHeld);
        let escaped = String::from_utf8(stored(1)).unwrap().replace(r#""id":"ev-1""#, r#""id":"ev\u002d1""#);
        let error = Committed::from_stored(1, escaped.into_bytes()).unwrap_err().to_string();
        assert!(error.contains("id is escaped"), "{error}");
    }

    #[test]
    fn keeps_the_newest_records_within_its_bounds() {
        let tail = Tail::default();
        assert!(tail.get(1, 1).is_none());
        let batch: Vec<_> = (1..=TAIL_RECORDS_MAX as u64 + 10).map(|seq| committed(seq, 10)).collect();
        tail.push(&batch);
        assert!(tail.get(10, 20).is_none(), "evicted");
        let got = tail.get(11, 13).unwrap();
        assert_eq!(got.iter().map(|c| c.seq).collect::<Vec<_>>(), [11, 12, 13]);
        let last = TAIL_RECORDS_MAX as u64 + 10;
        assert_eq!(tail.get(last, last + 100).unwrap().len(), 1, "only up to what it holds");
        assert!(tail.get(last + 1, last + 5).is_none(), "nothing beyond the head");
        tail.push(&[committed(last + 1, TAIL_BYTES_MAX)]);
        assert_eq!(tail.get(last + 1, last + 1).unwrap().len(), 1, "one huge record evicts all before it");
        assert!(tail.get(last, last).is_none());
    }
}
