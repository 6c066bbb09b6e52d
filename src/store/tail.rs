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
use events::{ChainError, EventType, RecordRef};
use projections::Event;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

/// Most records the tail keeps.
pub const TAIL_RECORDS_MAX: usize = 16_384;
/// Most stored bytes the tail keeps (the typed events beside them cost
/// about as much again).
pub const TAIL_BYTES_MAX: usize = 16 * 1024 * 1024;

/// One durable record as the committer sealed it: its stored bytes, the
/// fields readers want without parsing them, and its typed event for the
/// projector (`None` for records read back from the log, which readers
/// other than the projector never need typed). Shared by every reader.
#[derive(Debug)]
pub struct Committed {
    pub seq: u64,
    pub id: String,
    pub event_type: EventType,
    pub hash: String,
    pub bytes: bytes::Bytes,
    pub event: Option<Event>,
    /// The record as one Server-Sent Events frame, rendered on first use
    /// and then shared by every subscriber.
    frame: OnceLock<bytes::Bytes>,
}

impl Committed {
    pub fn new(
        seq: u64,
        id: String,
        event_type: EventType,
        hash: String,
        bytes: bytes::Bytes,
        event: Option<Event>,
    ) -> Self {
        Committed { seq, id, event_type, hash, bytes, event, frame: OnceLock::new() }
    }

    /// A record read back from the log: its fields read from the bytes.
    pub fn from_stored(seq: u64, bytes: Vec<u8>) -> Result<Committed> {
        let record = RecordRef::decode(&bytes).map_err(|problem| ChainError { seq, problem })?;
        let event_type = record.event_type.parse().map_err(|problem| ChainError { seq, problem })?;
        let (id, hash) = (record.id.into_owned(), record.hash.into_owned());
        Ok(Committed::new(seq, id, event_type, hash, bytes.into(), None))
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

    fn committed(seq: u64, bytes: usize) -> Arc<Committed> {
        Arc::new(Committed::new(
            seq,
            format!("ev-{seq}"),
            EventType::ActivityHeld,
            String::new(),
            vec![b'x'; bytes].into(),
            None,
        ))
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
