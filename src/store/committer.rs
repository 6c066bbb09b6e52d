//! The committer: the one thread that appends. It owns `next_seq`, the chain
//! head and the last `recorded_at`, so seqs are gapless and commit order is
//! seq order. It drains whatever writers have queued (up to
//! [`BATCH_SUBMISSIONS_MAX`]), validates each group against the index plus
//! what this batch already holds, writes the batch with one `apply_batch` on
//! `log` and one on `index`, flushes sled, `fdatasync`s its file, rewrites
//! the anchor (synced at most a second later), and only then acknowledges. Must never: acknowledge a record
//! before it is durable, or let one rejected group affect another.

use super::anchor::{Anchor, AnchorFile};
use super::index::{admit, Admission, IndexReader, Overlay};
use super::{Appended, GroupError, Head, Request};
use crate::error::Error;
use events::limits::RECORD_BYTES_MAX;
use events::{Checked, Known, Record};
use projections::{Event, Views};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, watch};

/// Most submissions in one batch: bounds the memory a batch holds and the
/// latency one fsync adds to the writers waiting on it.
pub const BATCH_SUBMISSIONS_MAX: usize = 4096;

/// Where the time comes from: the system clock, or a fixed one in tests.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

pub(super) struct Committer {
    pub db: sled::Db,
    pub log: sled::Tree,
    pub index: sled::Tree,
    /// The sled data file, opened once so each batch can `fdatasync` it:
    /// sled 0.34's flush uses `sync_file_range`, which survives `kill -9`
    /// but not a power cut.
    pub db_file: File,
    pub anchor: AnchorFile,
    pub clock: Arc<dyn Clock>,
    pub head: watch::Sender<Head>,
    pub views: Arc<RwLock<Views>>,
    pub checkpoints: sled::Tree,
    /// The seq the last checkpoint reflects.
    pub checkpointed_seq: u64,
    pub next_seq: u64,
    pub head_hash: String,
    pub last_recorded_at: String,
    pub batches: Arc<AtomicU64>,
}

struct Pending {
    reply: tokio::sync::oneshot::Sender<Result<Vec<Appended>, GroupError>>,
    appended: Vec<Appended>,
}

impl Committer {
    pub fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut failed: Option<String> = None;
        while let Some(first) = requests.blocking_recv() {
            let mut batch = vec![first];
            let mut count = batch[0].submissions.len();
            while count < BATCH_SUBMISSIONS_MAX {
                match requests.try_recv() {
                    Ok(request) => {
                        count += request.submissions.len();
                        batch.push(request);
                    }
                    Err(_) => break,
                }
            }
            if let Some(reason) = &failed {
                for request in batch {
                    let error = Error::Storage(format!("the ledger stopped after a storage error: {reason}"));
                    let _ = request.reply.send(Err(GroupError { index: 0, error }));
                }
                continue;
            }
            if let Err(reason) = self.commit(batch) {
                tracing::error!(%reason, "committer stopped after a storage error");
                failed = Some(reason);
            }
        }
        if failed.is_none() {
            if let Err(e) = self.anchor.sync() {
                tracing::warn!(error = %e, "could not sync the anchor on close");
            }
            self.checkpoint();
        }
    }

    /// Saves the live views if they moved since the last checkpoint. A
    /// failure only costs a longer catch-up on the next open.
    fn checkpoint(&mut self) {
        let views = self.views.read().expect("not poisoned");
        if views.seq == self.checkpointed_seq {
            return;
        }
        match super::checkpoint::save(&self.checkpoints, &views, &self.head_hash) {
            Ok(()) => self.checkpointed_seq = views.seq,
            Err(e) => tracing::warn!(error = %e, "could not save the projection checkpoint"),
        }
    }

    /// Validates, writes and acknowledges one batch. Returns an error only
    /// for storage failures, after which the committer accepts nothing more.
    fn commit(&mut self, batch: Vec<Request>) -> Result<(), String> {
        let reader = IndexReader::new(&self.index, &self.log);
        let mut overlay = Overlay::new(&reader);
        // Each new record, its stored bytes, and its event for the views
        // (typed already by validation, so the fold need not decode it).
        let mut sealed: Vec<(Record, Vec<u8>, Event)> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let first_seq = self.next_seq;
        let (mut next_seq, mut head_hash, mut last_at) =
            (self.next_seq, self.head_hash.clone(), self.last_recorded_at.clone());
        for request in batch {
            let mut group = Overlay::new(&overlay);
            let mut group_records: Vec<(Record, Vec<u8>, Event)> = Vec::new();
            let mut appended = Vec::new();
            let mut outcome = Ok(());
            for (index, submission) in request.submissions.into_iter().enumerate() {
                let mut state = SealState {
                    next_seq: &mut next_seq,
                    head_hash: &mut head_hash,
                    last_at: &mut last_at,
                    clock: self.clock.as_ref(),
                };
                let lookup = |seq: u64| -> Option<Record> {
                    let local = sealed.iter().chain(group_records.iter()).find(|(r, _, _)| r.seq == seq);
                    match local {
                        Some((record, _, _)) => Some(record.clone()),
                        None => self.log.get(seq.to_be_bytes()).ok().flatten().and_then(|b| Record::decode(&b).ok()),
                    }
                };
                match append_one(&mut group, submission, &mut state, lookup) {
                    Ok((record, bytes, event)) => {
                        appended.push(Appended { record: record.clone(), existed: event.is_none() });
                        if let Some(event) = event {
                            group_records.push((record, bytes, event));
                        }
                    }
                    Err(error) => {
                        outcome = Err(GroupError { index, error });
                        break;
                    }
                }
                if let Some(e) = reader.take_error() {
                    return Err(self.fail_batch(pending, request.reply, format!("reading the index: {e}")));
                }
            }
            match outcome {
                Ok(()) => {
                    overlay.merge(group.into_changes());
                    sealed.extend(group_records);
                    pending.push(Pending { reply: request.reply, appended });
                }
                Err(error) => {
                    // Roll the group back: its seqs and chain head are reused.
                    drop(group);
                    next_seq = first_seq + sealed.len() as u64;
                    if let Some((last, _, _)) = sealed.last() {
                        head_hash.clone_from(&last.hash);
                        last_at.clone_from(&last.recorded_at);
                    } else {
                        head_hash.clone_from(&self.head_hash);
                        last_at.clone_from(&self.last_recorded_at);
                    }
                    let _ = request.reply.send(Err(error));
                }
            }
        }
        let changes = overlay.into_changes();
        if !sealed.is_empty() {
            let mut log_batch = sled::Batch::default();
            for (record, bytes, _) in &sealed {
                log_batch.insert(&record.seq.to_be_bytes(), bytes.as_slice());
            }
            let written = self
                .log
                .apply_batch(log_batch)
                .and_then(|_| self.index.apply_batch(changes.to_batch()))
                .and_then(|_| self.db.flush().map(|_| ()))
                .map_err(|e| e.to_string())
                .and_then(|_| self.db_file.sync_data().map_err(|e| e.to_string()));
            if let Err(reason) = written {
                return Err(self.fail_pending(pending, reason));
            }
            let (last, _, _) = sealed.last().expect("not empty");
            let anchor = Anchor { seq: last.seq, hash: last.hash.clone() };
            if let Err(e) = self.anchor.write_lazily(&anchor) {
                return Err(self.fail_pending(pending, format!("writing the anchor: {e}")));
            }
            self.next_seq = last.seq + 1;
            self.head_hash.clone_from(&last.hash);
            self.last_recorded_at.clone_from(&last.recorded_at);
            {
                let mut views = self.views.write().expect("not poisoned");
                for (_, _, event) in &sealed {
                    views.apply_event(event);
                }
            }
            self.batches.fetch_add(1, Ordering::Relaxed);
            self.head.send_replace(Head { seq: last.seq, hash: last.hash.clone() });
            tracing::debug!(records = sealed.len(), requests = pending.len(), head = last.seq, "batch committed");
        }
        for Pending { reply, appended } in pending {
            let _ = reply.send(Ok(appended));
        }
        if super::checkpoint::checkpoint_due(self.next_seq - 1, self.checkpointed_seq) {
            self.checkpoint();
        }
        Ok(())
    }

    fn fail_pending(&self, pending: Vec<Pending>, reason: String) -> String {
        for Pending { reply, .. } in pending {
            let error = Error::Storage(format!("the batch was not written: {reason}"));
            let _ = reply.send(Err(GroupError { index: 0, error }));
        }
        reason
    }

    fn fail_batch(
        &self,
        pending: Vec<Pending>,
        reply: tokio::sync::oneshot::Sender<Result<Vec<Appended>, GroupError>>,
        reason: String,
    ) -> String {
        let error = Error::Storage(format!("the batch was not written: {reason}"));
        let _ = reply.send(Err(GroupError { index: 0, error }));
        self.fail_pending(pending, reason)
    }
}

struct SealState<'a> {
    next_seq: &'a mut u64,
    head_hash: &'a mut String,
    last_at: &'a mut String,
    clock: &'a dyn Clock,
}

/// One submission: the idempotency check, validation, `expect`, sealing.
/// Returns the record, its stored bytes, and its event for the views (`None`
/// if it already existed, so nothing is appended or folded).
fn append_one(
    group: &mut Overlay<impl Known>,
    submission: Checked,
    state: &mut SealState<'_>,
    lookup: impl Fn(u64) -> Option<Record>,
) -> Result<(Record, Vec<u8>, Option<Event>), Error> {
    let validated = match admit(group, submission)? {
        Admission::Existing(seq) => {
            let record =
                lookup(seq).ok_or_else(|| Error::Storage(format!("seq {seq} is indexed but cannot be read")))?;
            let bytes = record.canonical_bytes();
            return Ok((record, bytes, None));
        }
        Admission::New(validated) => validated,
    };
    let (checked, effects) = (*validated).into_parts();
    let event_type = checked.event_type();
    let (when, typed) = (checked.occurred(), checked.typed().clone());
    let (id, _, occurred, data, sources) = checked.into_record_parts();
    let id = id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let now = state.clock.now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let recorded_at = if now > *state.last_at { now } else { state.last_at.clone() };
    let (record, bytes) = Record::seal(
        *state.next_seq,
        id,
        event_type.as_str(),
        occurred,
        recorded_at,
        data,
        sources,
        state.head_hash.clone(),
    );
    if bytes.len() > RECORD_BYTES_MAX {
        let rule = format!("the record would be {} bytes, more than {RECORD_BYTES_MAX}", bytes.len());
        return Err(Error::Invalid(events::Rejection::one("submission", rule)));
    }
    group.absorb(record.seq, Some(&record.id), event_type, record.content_digest(), &effects);
    *state.next_seq += 1;
    state.head_hash.clone_from(&record.hash);
    state.last_at.clone_from(&record.recorded_at);
    let event = Event { seq: record.seq, id: record.id.clone(), occurred: record.occurred.clone(), when, data: typed };
    Ok((record, bytes, Some(event)))
}
