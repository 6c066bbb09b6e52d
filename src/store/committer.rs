//! The write path, as two threads in a pipeline:
//!
//! - the **committer** owns the chain's write head ([`Sealer`]) and the
//!   ledger's [`Knowledge`]. It drains what writers queued (up to
//!   [`BATCH_SUBMISSIONS_MAX`] submissions), decides each group against the
//!   knowledge ([`events::decide`]), seals what is admitted, absorbs it into
//!   the knowledge, and passes the batch on;
//! - the **syncer** writes batches to sled (one `apply_batch` for all that
//!   arrived meanwhile, then one for those sealed while it wrote), makes
//!   them durable (sled flush, then `fdatasync` of sled's file, then the
//!   anchor), pushes their records to the [`Tail`], moves the durable head,
//!   and acknowledges their writers.
//!
//! So batch k+1 is decided and sealed while batch k is being synced, and one
//! sync covers every batch that arrived meanwhile. Nothing else happens on
//! the acknowledgement path: the views are folded by the projector, off it.
//! With a fixed flush latency, records per sync set the rate: so the syncer
//! takes late batches into the sync it is about to ask for
//! ([`LATE_WRITES_MAX`]), and writes a group only after the sync before it
//! (writing it while that sync's `fdatasync` runs was measured slower with
//! 64 writers: each sync covered fewer records; BENCHMARKS.md, sixteenth
//! pass).
//!
//! A writer that finds the path idle (nothing queued, nothing in flight)
//! does both halves' work on its own thread instead, holding both
//! ([`Direct`]): the same steps in the same order, without the three thread
//! hand-offs a lone writer would otherwise wait on (its flush still runs on
//! the flusher's thread, which it polls for the answer: [`Wait::Poll`]).
//! Writers that queue behind it are taken by the threads, which wait for it
//! to finish.
//!
//! Must never: acknowledge (or reject) a submission before everything it was
//! decided against is durable, let one rejected group affect another, or
//! accept anything more after a storage error.

use super::anchor::{Anchor, AnchorFile};
use super::flusher::{Flusher, Wait};
use super::import::{Job, Outcome, Step};
use super::projector::Command;
use super::tail::{Committed, Tail};
use super::{checkpoint, Appended, GroupError, Head, Request};
use crate::error::Error;
use events::knowledge::IdKey;
use events::known::Effects;
use events::merkle::{Frontier, Hash};
use events::{decide, Checked, Decision, Knowledge, Sealer, Validated};
use projections::Event;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use tokio::sync::{mpsc, oneshot, watch};

/// Most submissions in one batch: bounds the memory a batch holds and the
/// latency one sync adds to the writers waiting on it.
pub const BATCH_SUBMISSIONS_MAX: usize = 4096;
/// Batches sealed and handed to sled but not yet synced. The committer waits
/// when the syncer is this far behind, which bounds what a crash can lose
/// of unacknowledged work and the memory batches in flight hold.
pub const BATCHES_IN_FLIGHT_MAX: usize = 4;
/// Most times the syncer, having written a group, takes the batches sealed
/// meanwhile into the same sync: writers answered by the last sync come
/// back while it writes. The bound keeps a steady stream from putting the
/// sync off.
pub const LATE_WRITES_MAX: usize = 4;
/// Longest the syncer waits, each of those times, for a batch when more
/// requests were submitted than it holds (they are being sealed, or queued
/// for the committer). A request the committer answers itself (a refusal)
/// sends the syncer nothing: the wait ends at this bound. With 64 writers a
/// sync then covers nearly all of them (~62 records, against ~43 without
/// the wait and ~30 without the late writes), and they append 13–14% more
/// a second than without the wait (BENCHMARKS.md, sixteenth pass).
pub const LATE_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

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

/// Whether the write path has stopped after a storage error, and why. Once
/// set it stays set: the ledger must be reopened (after the fault is fixed).
#[derive(Default)]
pub struct Failure {
    reason: Mutex<Option<String>>,
}

impl Failure {
    pub fn get(&self) -> Option<String> {
        self.reason.lock().expect("not poisoned").clone()
    }

    fn set(&self, reason: String) {
        tracing::error!(%reason, "the ledger stopped accepting writes after a storage error");
        self.reason.lock().expect("not poisoned").get_or_insert(reason);
    }

    /// What a writer waiting on a stopped ledger is told.
    fn group_error(&self) -> GroupError {
        let reason = self.get().unwrap_or_default();
        let error = Error::Unavailable(format!("the ledger stopped after a storage error: {reason}"));
        GroupError::at(0, error)
    }
}

type Reply = oneshot::Sender<Result<Vec<Appended>, GroupError>>;

/// The syncer's answer to an import's commit or abort: the durable head.
type ImportReply = std::sync::mpsc::SyncSender<Result<Head, Error>>;

/// A group a writer queued.
struct Group {
    submissions: Vec<Checked>,
    reply: Reply,
}

/// What the committer hands the syncer, in order.
enum Work {
    /// Sealed groups: written, made durable, published, acknowledged.
    Batch(Batch),
    /// Records of an import in progress (the first of them starts it):
    /// written to the log (once the import's marker is durable) and to the
    /// tail for the projector, but not synced, published or acknowledged.
    Pending { records: Vec<Arc<Committed>>, hashes: Vec<(u64, Hash)> },
    /// The import is whole: make it durable and move the head to its end.
    Commit(ImportReply),
    /// The import is refused: take its records back out.
    Abort(ImportReply),
}

/// Moves the batches queued behind the ones taken into `group`; returns
/// the first other work met (an import's step), which waits for them.
fn take_queued(work: &Receiver<Work>, group: &mut Vec<Batch>) -> Option<Work> {
    for more in work.try_iter() {
        match more {
            Work::Batch(batch) => group.push(batch),
            other => return Some(other),
        }
    }
    None
}

/// The batches sealed since the syncer last took its queue, and the first
/// other work met. With none queued and `on_their_way` (more requests
/// submitted than the syncer holds: being sealed, or queued for the
/// committer), waits for one, at most [`LATE_WAIT`].
fn take_late(work: &Receiver<Work>, on_their_way: bool) -> (Vec<Batch>, Option<Work>) {
    let mut more = Vec::new();
    let next = take_queued(work, &mut more);
    if !more.is_empty() || next.is_some() || !on_their_way {
        return (more, next);
    }
    match work.recv_timeout(LATE_WAIT) {
        Ok(Work::Batch(batch)) => {
            more.push(batch);
            let next = take_queued(work, &mut more);
            (more, next)
        }
        Ok(other) => (more, Some(other)),
        Err(_) => (more, None),
    }
}

/// A batch sealed and given to sled, on its way to being synced.
struct Batch {
    records: Vec<Arc<Committed>>,
    /// The Merkle tree's stored hashes for those records.
    hashes: Vec<(u64, Hash)>,
    /// Every request of the batch with its outcome, sent once durable.
    replies: Vec<(Reply, Result<Vec<Appended>, GroupError>)>,
}

pub(super) struct Committer {
    pub log: sled::Tree,
    pub checkpoints: super::checkpoint::Checkpoints,
    pub knowledge: Arc<RwLock<Knowledge>>,
    /// The seq the stored knowledge checkpoint reflects.
    pub knowledge_saved: u64,
    pub sealer: Sealer,
    pub clock: Arc<dyn Clock>,
    pub failure: Arc<Failure>,
    /// The durable head, to know which sealed records sled already holds.
    pub head: watch::Receiver<Head>,
    /// Records sealed and handed on but not yet durable (at most
    /// [`BATCHES_IN_FLIGHT_MAX`] batches), for idempotent re-sends of them.
    pub unsynced: VecDeque<Arc<Committed>>,
    /// The Merkle tree's right edge, extended by every sealed record.
    pub frontier: Frontier,
    pub headroom: Headroom,
    /// Requests queued or in flight (see [`Pending`]).
    pub pending: Pending,
    /// Set when the committer's thread has stopped (the ledger closed):
    /// nothing may be written after its last knowledge checkpoint.
    pub stopped: bool,
}

/// Requests (groups and imports) queued for the write path and not yet
/// answered: counted before they are queued, uncounted just before their
/// answer is sent. A writer may do the path's work itself only when there
/// are none, so that it never overtakes a group queued before it.
#[derive(Clone, Default)]
pub(super) struct Pending(Arc<AtomicUsize>);

impl Pending {
    pub fn add(&self, requests: usize) {
        self.0.fetch_add(requests, Ordering::SeqCst);
    }

    pub fn done(&self, requests: usize) {
        self.0.fetch_sub(requests, Ordering::SeqCst);
    }

    fn none(&self) -> bool {
        self.0.load(Ordering::SeqCst) == 0
    }

    /// Requests queued or in flight.
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Locks one half of the write path. A half is poisoned only by a panic
/// that stopped the ledger ([`fail_stop`]), and a stopped ledger refuses
/// writes before it looks at the state, so the poison carries nothing.
fn lock<T>(half: &Mutex<T>) -> MutexGuard<'_, T> {
    half.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The free-space check made before each batch.
pub(super) struct Headroom {
    /// Where the ledger's files are (the filesystem asked about).
    pub dir: PathBuf,
    pub reserve_bytes: u64,
}

impl Headroom {
    /// `Err` if writing about `batch_bytes` of records (sled writes them
    /// about twice over, log and page) would leave less than the reserve.
    fn check(&self, batch_bytes: u64) -> Result<(), String> {
        let available = match fs2::available_space(&self.dir) {
            Ok(available) => available,
            Err(error) => {
                tracing::warn!(%error, dir = %self.dir.display(), "could not read the free space");
                return Ok(());
            }
        };
        let needed = self.reserve_bytes.saturating_add(batch_bytes.saturating_mul(2));
        if available >= needed {
            return Ok(());
        }
        let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
        Err(format!(
            "{:.1} MiB free on the ledger's filesystem ({}); appending would leave less than the reserve of {:.1} MiB that keeps the ledger able to open and be read (AMITY_RESERVE_MIB); free space and retry",
            mib(available),
            self.dir.display(),
            mib(self.reserve_bytes)
        ))
    }
}

impl Committer {
    fn run(this: &Mutex<Committer>, mut requests: mpsc::Receiver<Request>, syncer: SyncSender<Work>) {
        let mut next = None;
        while let Some(first) = next.take().or_else(|| requests.blocking_recv()) {
            let mut groups = Vec::new();
            let mut count = 0;
            let mut request = Some(first);
            while let Some(Request::Group { submissions, reply }) =
                request.take_if(|r| matches!(r, Request::Group { .. }))
            {
                count += submissions.len();
                groups.push(Group { submissions, reply });
                if count < BATCH_SUBMISSIONS_MAX {
                    request = requests.try_recv().ok();
                }
            }
            let mut committer = lock(this);
            if !groups.is_empty() && !committer.commit_groups(groups, |batch| syncer.send(Work::Batch(batch)).is_ok()) {
                break;
            }
            // An import waits for the groups queued before it, then runs alone.
            match request {
                Some(Request::Import(job)) => committer.import(job, &syncer),
                other => next = other,
            }
            committer.save_knowledge_if_due();
        }
        let mut committer = lock(this);
        committer.stopped = true;
        if committer.failure.get().is_none() && committer.sealer.next_seq() - 1 != committer.knowledge_saved {
            committer.save_knowledge();
        }
    }

    fn save_knowledge_if_due(&mut self) {
        if checkpoint::checkpoint_due(self.sealer.next_seq() - 1, self.knowledge_saved) {
            self.save_knowledge();
        }
    }

    /// Decides and seals `groups` as one batch and hands it on to be synced
    /// (`hand_on`: `false` once the syncer has stopped).
    fn commit_groups(&mut self, groups: Vec<Group>, hand_on: impl FnOnce(Batch) -> bool) -> bool {
        if self.failure.get().is_some() {
            self.pending.done(groups.len());
            for group in groups {
                let _ = group.reply.send(Err(self.failure.group_error()));
            }
            return true;
        }
        let bytes: usize = groups.iter().flat_map(|g| &g.submissions).map(Checked::record_bytes_max).sum();
        if let Err(refusal) = self.headroom.check(bytes as u64) {
            tracing::warn!(%refusal, "appends refused");
            self.pending.done(groups.len());
            for group in groups {
                let error = Error::NoSpace(refusal.clone());
                let _ = group.reply.send(Err(GroupError::at(0, error)));
            }
            return true;
        }
        hand_on(self.commit(groups))
    }

    /// Runs an import (see [`super::import`]) to its end: decides and
    /// seals each chunk against the live knowledge and hands its records
    /// to the syncer as pending; then has the syncer make them durable, or
    /// take them back and restores the write head and knowledge to what they
    /// were. Nothing else is decided meanwhile.
    fn import(&mut self, job: Job, syncer: &SyncSender<Work>) {
        let before = (self.sealer.clone(), self.frontier.clone(), self.knowledge.read().expect("not poisoned").clone());
        let (mut refused, mut written) = (false, false);
        // Sealed records not yet handed to the syncer: the importer's chunks
        // are smaller than a batch, and the log is written in full batches.
        let mut unsent: Vec<Arc<Committed>> = Vec::new();
        let ended: Result<(), Error> = loop {
            match job.steps.recv() {
                Ok(Step::Chunk(submissions)) => {
                    if let Some(reason) = self.failure.get() {
                        break Err(Error::Unavailable(format!("the ledger stopped after a storage error: {reason}")));
                    }
                    if !refused {
                        let bytes: usize = submissions.iter().map(Checked::record_bytes_max).sum();
                        if let Err(refusal) = self.headroom.check(bytes as u64) {
                            tracing::warn!(%refusal, "import refused");
                            break Err(Error::NoSpace(refusal));
                        }
                    }
                    let (outcomes, records) = self.import_chunk(submissions, &mut refused);
                    unsent.extend(records);
                    match self.write_import_batches(syncer, &mut unsent, false) {
                        Ok(wrote) => written |= wrote,
                        Err(closing) => break Err(closing),
                    }
                    if job.decided.send(outcomes).is_err() {
                        break Ok(());
                    }
                }
                Ok(Step::Refuse) => refused = true,
                Ok(Step::Commit) if !refused => {
                    match self.write_import_batches(syncer, &mut unsent, true) {
                        Ok(wrote) => written |= wrote,
                        Err(closing) => break Err(closing),
                    }
                    let committed =
                        if written { self.ask(syncer, Work::Commit) } else { Ok(self.head.borrow().clone()) };
                    if committed.is_ok() {
                        self.pending.done(1);
                        let _ = job.finished.send(committed);
                        return;
                    }
                    break committed.map(|_| ());
                }
                Ok(Step::Commit) => {
                    break Err(Error::Usage(
                        "the import refused some of its submissions, so nothing was appended".into(),
                    ))
                }
                // The importer is gone: take it all back.
                Err(_) => break Ok(()),
            }
        };
        (self.sealer, self.frontier) = (before.0, before.1);
        *self.knowledge.write().expect("not poisoned") = before.2;
        let taken_back = if written { self.ask(syncer, Work::Abort) } else { Ok(self.head.borrow().clone()) };
        self.pending.done(1);
        let _ = job.finished.send(ended.and(taken_back));
    }

    /// Hands the syncer every full batch of `unsent` (and, at the `end`,
    /// the rest) to write, with the Merkle tree's hashes they add; returns
    /// whether it handed any. What stays is less than a batch, whatever
    /// size of chunk the importer submits.
    fn write_import_batches(
        &mut self,
        syncer: &SyncSender<Work>,
        unsent: &mut Vec<Arc<Committed>>,
        end: bool,
    ) -> Result<bool, Error> {
        let mut wrote = false;
        while unsent.len() >= BATCH_SUBMISSIONS_MAX || (end && !unsent.is_empty()) {
            let records: Vec<_> = unsent.drain(..unsent.len().min(BATCH_SUBMISSIONS_MAX)).collect();
            let hashes = self.stored_hashes(&records);
            syncer
                .send(Work::Pending { records, hashes })
                .map_err(|_| Error::Unavailable("the ledger is closing".into()))?;
            wrote = true;
        }
        Ok(wrote)
    }

    /// Decides one chunk of an import, sealing what is admitted unless the
    /// import is already `refused` (then each good submission is only
    /// absorbed, so that later ones may refer to it and every bad one is
    /// reported). A bad submission refuses the import.
    fn import_chunk(&mut self, submissions: Vec<Checked>, refused: &mut bool) -> (Vec<Outcome>, Vec<Arc<Committed>>) {
        let now = events::append::recorded_at(self.clock.now());
        let (mut outcomes, mut records) = (Vec::with_capacity(submissions.len()), Vec::new());
        let lock = Arc::clone(&self.knowledge);
        let mut knowledge = lock.write().expect("not poisoned");
        for submission in submissions {
            let admitted = match decide(&*knowledge, submission) {
                Decision::New(admitted) => admitted,
                Decision::Existing(_) => {
                    outcomes.push(Ok(true));
                    continue;
                }
                Decision::Rejected(rejection) => {
                    *refused = true;
                    outcomes.push(Err(Error::Invalid(rejection)));
                    continue;
                }
                Decision::Conflict(message) => {
                    *refused = true;
                    outcomes.push(Err(Error::Conflict(message)));
                    continue;
                }
            };
            outcomes.push(Ok(false));
            if *refused {
                let (checked, effects) = (*admitted).into_parts();
                let mut generated = uuid::Uuid::encode_buffer();
                let (seq, (_, key)) = (knowledge.seq() + 1, record_id(&checked, &mut generated));
                knowledge.absorb(seq, key, checked.event_type(), checked.content_digest(), &effects);
                continue;
            }
            records.push(self.seal(&mut knowledge, *admitted, &now).0);
        }
        (outcomes, records)
    }

    /// Seals an admitted submission as the next record and absorbs it into
    /// the knowledge; returns the record and what it changed.
    fn seal(&mut self, knowledge: &mut Knowledge, admitted: Validated, now: &str) -> (Arc<Committed>, Effects) {
        let mut generated = uuid::Uuid::encode_buffer();
        let (id, key) = record_id(admitted.checked(), &mut generated);
        let sealed = self.sealer.seal(admitted.checked(), id, now);
        let (checked, effects) = admitted.into_parts();
        knowledge.absorb(sealed.seq, key, checked.event_type(), checked.content_digest(), &effects);
        (committed(sealed, key, checked), effects)
    }

    /// Hands the syncer a step of an import and waits for its answer.
    fn ask(&self, syncer: &SyncSender<Work>, work: fn(ImportReply) -> Work) -> Result<Head, Error> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let stopped = || Error::Unavailable("the ledger stopped while importing".into());
        syncer.send(work(reply)).map_err(|_| stopped())?;
        answer.recv().unwrap_or_else(|_| Err(stopped()))
    }

    /// Adds `records` to the Merkle tree; returns the hashes to store.
    fn stored_hashes(&mut self, records: &[Arc<Committed>]) -> Vec<(u64, Hash)> {
        // Each record adds its leaf and, on average, one subtree's root.
        let mut hashes = Vec::with_capacity(records.len() * 2 + 64);
        records.iter().for_each(|record| self.frontier.push_leaf_into(record.leaf(), &mut hashes));
        hashes
    }

    /// A failed save only costs a longer catch-up on the next open.
    fn save_knowledge(&mut self) {
        let knowledge = self.knowledge.read().expect("not poisoned");
        match self.checkpoints.save(&*knowledge, self.sealer.prev()) {
            Ok(()) => self.knowledge_saved = knowledge.seq(),
            Err(e) => tracing::warn!(error = %e, "could not save the knowledge checkpoint"),
        }
    }

    /// Decides and seals every group of the batch. Rejected groups take
    /// nothing from the chain or the knowledge: their seqs are reused by the
    /// next group.
    fn commit(&mut self, groups: Vec<Group>) -> Batch {
        let durable = self.head.borrow().seq;
        while self.unsynced.front().is_some_and(|record| record.seq <= durable) {
            self.unsynced.pop_front();
        }
        let now = events::append::recorded_at(self.clock.now());
        let mut records: Vec<Arc<Committed>> = Vec::new();
        let mut replies = Vec::with_capacity(groups.len());
        let lock = Arc::clone(&self.knowledge);
        let mut knowledge = lock.write().expect("not poisoned");
        for Group { submissions, reply } in groups {
            let rollback = self.sealer.clone();
            let outcome = self.group(&mut knowledge, submissions, &mut records, &now);
            if outcome.is_err() {
                self.sealer = rollback;
            }
            replies.push((reply, outcome));
        }
        drop(knowledge);
        self.unsynced.extend(records.iter().cloned());
        let hashes = self.stored_hashes(&records);
        Batch { records, hashes, replies }
    }

    /// One group, all or nothing: each submission is decided against the
    /// knowledge, which absorbs it at once (so later ones in the group may
    /// refer to it); if one fails, what the group absorbed is undone and
    /// its records are taken back out of `records`.
    fn group(
        &mut self,
        knowledge: &mut Knowledge,
        submissions: Vec<Checked>,
        records: &mut Vec<Arc<Committed>>,
        now: &str,
    ) -> Result<Vec<Appended>, GroupError> {
        let first = records.len();
        let mut appended = Vec::with_capacity(submissions.len());
        let mut absorbed: Vec<Effects> = Vec::new();
        let mut failed: Option<GroupError> = None;
        let mut fail = |index, error| match &mut failed {
            None => failed = Some(GroupError::at(index, error)),
            Some(group) => group.also.push((index, error)),
        };
        for (index, submission) in submissions.into_iter().enumerate() {
            // After a failure the rest are still decided (and the good ones
            // absorbed, for later ones to refer to) so that every bad
            // submission is reported; none of it is kept.
            let admitted = match decide(&*knowledge, submission) {
                Decision::New(admitted) => admitted,
                Decision::Existing(seq) => match self.existing(seq, records) {
                    Ok(existing) => {
                        appended.push(existing);
                        continue;
                    }
                    Err(error) => {
                        // Reading the log failed: stop here.
                        fail(index, error);
                        break;
                    }
                },
                Decision::Rejected(rejection) => {
                    fail(index, Error::Invalid(rejection));
                    continue;
                }
                Decision::Conflict(message) => {
                    fail(index, Error::Conflict(message));
                    continue;
                }
            };
            let (committed, effects) = self.seal(knowledge, *admitted, now);
            absorbed.push(effects);
            appended.push(Appended::from_committed(&committed, false));
            records.push(committed);
        }
        let Some(error) = failed else {
            return Ok(appended);
        };
        for (record, effects) in records.drain(first..).rev().zip(absorbed.iter().rev()) {
            knowledge.unabsorb(record.seq, record.id(), effects);
        }
        Err(error)
    }

    /// The record an idempotent re-send names: in this batch, in one sealed
    /// but not yet synced, or in the log. The syncer makes every earlier
    /// batch durable before it acknowledges this one.
    fn existing(&self, seq: u64, batch: &[Arc<Committed>]) -> Result<Appended, Error> {
        if let Some(record) = batch.iter().chain(&self.unsynced).find(|r| r.seq == seq) {
            return Ok(Appended::from_committed(record, true));
        }
        let context = format!("reading seq {seq}");
        let bytes = super::guarded(&context, || {
            self.log.get(seq.to_be_bytes()).map_err(|e| super::sled_error(context.clone(), e))
        })?
        .ok_or_else(|| Error::Unavailable(format!("seq {seq} is known but not in the log")))?;
        Ok(Appended::from_committed(&Committed::from_stored(seq, bytes.to_vec())?, true))
    }
}

/// The submission's own id, or a new one (a UUIDv7, written into
/// `generated`) if it names none, and its key
/// ([`events::knowledge::id_key`]: the parse computed a given one's).
fn record_id<'a>(checked: &'a Checked, generated: &'a mut [u8]) -> (&'a str, IdKey) {
    match (checked.id(), checked.id_key()) {
        (Some(id), Some(key)) => (id, key),
        _ => {
            let id = &*uuid::Uuid::now_v7().hyphenated().encode_lower(generated);
            (id, events::knowledge::id_key(id))
        }
    }
}

/// A sealed record as readers take it, its typed event for the projector.
fn committed(sealed: events::Sealed, key: IdKey, checked: Checked) -> Arc<Committed> {
    let event = Event {
        seq: sealed.seq,
        id: sealed.id().into(),
        key,
        occurred: checked.occurred_text().into(),
        when: checked.occurred(),
        data: checked.into_typed(),
    };
    Arc::new(Committed::sealed(sealed, Some(event)))
}

pub(super) struct Syncer {
    pub log: sled::Tree,
    /// The Merkle tree's file, appended with each batch.
    pub merkle: super::merkle::HashFile,
    /// sled's flush and `fdatasync` of its file, with a time limit.
    pub flusher: Flusher,
    pub anchor: AnchorFile,
    pub head: watch::Sender<Head>,
    pub tail: Arc<Tail>,
    pub failure: Arc<Failure>,
    /// Durable syncs since open (for benchmarks: batch sizes).
    pub batches: Arc<AtomicU64>,
    /// The ledger's directory (for an import's marker).
    pub dir: PathBuf,
    /// The last seq in the tail: the durable head, or past it while an
    /// import's records are written. The projector folds up to here.
    pub written: watch::Sender<u64>,
    /// The projector, told to drop what it folded of a refused import.
    pub projector: mpsc::UnboundedSender<Command>,
    /// The import being written: its first seq and its last record so far.
    pub importing: Option<(u64, Option<Arc<Committed>>)>,
    /// Requests queued or in flight (see [`Pending`]).
    pub pending: Pending,
}

impl Syncer {
    fn run(this: &Mutex<Syncer>, work: Receiver<Work>) {
        let pending = lock(this).pending.clone();
        let mut next = None;
        while let Some(first) = next.take().or_else(|| work.recv().ok()) {
            let Work::Batch(first) = first else {
                lock(this).import_step(first);
                continue;
            };
            let mut group = vec![first];
            next = take_queued(&work, &mut group);
            // Batches sealed while the group is written join it: the
            // writers answered by the last sync come back meanwhile.
            let mut held: usize = group.iter().map(|batch| batch.replies.len()).sum();
            let late = || {
                if next.is_some() {
                    return Vec::new();
                }
                let (more, after) = take_late(&work, pending.count() > held);
                next = after;
                held += more.iter().map(|batch| batch.replies.len()).sum::<usize>();
                more
            };
            lock(this).sync_with(group, late, Wait::Park);
        }
        let mut syncer = lock(this);
        if syncer.failure.get().is_none() {
            if let Err(e) = syncer.anchor.sync() {
                tracing::warn!(error = %e, "could not sync the anchor on close");
            }
            if let Err(e) = syncer.merkle.sync() {
                tracing::warn!(error = %e, "could not sync the Merkle tree on close; the next open recomputes its tail");
            }
        }
    }

    /// Writes every batch of `group` to sled and makes them durable with one
    /// flush and one `fdatasync`, then publishes and acknowledges them in
    /// order.
    fn sync(&mut self, group: Vec<Batch>) {
        self.sync_with(group, Vec::new, Wait::Poll);
    }

    /// [`Syncer::sync`], with the batches `late` gives after the group is
    /// written (those sealed meanwhile, asked up to [`LATE_WRITES_MAX`]
    /// times, until it gives none) written after it and covered by the same
    /// flush and `fdatasync`.
    fn sync_with(&mut self, mut group: Vec<Batch>, late: impl FnMut() -> Vec<Batch>, wait: Wait) {
        let writing = self.failure.get().is_none() && group.iter().any(|batch| !batch.records.is_empty());
        let written = if writing { self.write_late(&mut group, late) } else { Ok(()) };
        let last = group.iter().rev().find_map(|batch| batch.records.last().cloned());
        if let (true, Some(last)) = (writing, &last) {
            if let Err(reason) = written.and_then(|()| self.make_durable(last, wait)) {
                self.failure.set(reason);
            }
        }
        // Uncounted before the answers go out, so that a writer answered
        // finds the path idle for its next append.
        self.pending.done(group.iter().map(|batch| batch.replies.len()).sum());
        if self.failure.get().is_some() {
            for batch in group {
                for (reply, _) in batch.replies {
                    let _ = reply.send(Err(self.failure.group_error()));
                }
            }
            return;
        }
        // Publish before acknowledging, so that a writer who reads right
        // after its acknowledgement finds its record (read-your-writes).
        for batch in &group {
            self.tail.push(&batch.records);
        }
        if let Some(last) = last {
            self.written.send_replace(last.seq);
            self.batches.fetch_add(1, Ordering::Relaxed);
            self.head.send_replace(Head { seq: last.seq, hash: last.hash().to_string() });
            tracing::debug!(head = last.seq, "batches durable");
        }
        for batch in group {
            for (reply, outcome) in batch.replies {
                let _ = reply.send(outcome);
            }
        }
    }

    /// One step of an import (see [`super::import`]).
    fn import_step(&mut self, work: Work) {
        match work {
            Work::Batch(_) => unreachable!("batches are synced in groups"),
            Work::Pending { records, hashes } => {
                if self.failure.get().is_some() {
                    return;
                }
                if let Err(reason) = self.write_pending(&records, &hashes) {
                    self.failure.set(reason);
                    return;
                }
                self.tail.push(&records);
                let last = records.last().cloned();
                if let (Some((_, written)), Some(last)) = (&mut self.importing, last) {
                    self.written.send_replace(last.seq);
                    *written = Some(last);
                }
            }
            Work::Commit(reply) => {
                let _ = reply.send(self.commit_import());
            }
            Work::Abort(reply) => {
                let _ = reply.send(self.abort_import());
            }
        }
    }

    /// Writes an import's records: the marker first, with the import's
    /// first seq (durable before any of them can reach the disk), then the
    /// log and the tree's hashes.
    fn write_pending(&mut self, records: &[Arc<Committed>], hashes: &[(u64, Hash)]) -> Result<(), String> {
        if let (None, Some(first)) = (&self.importing, records.first()) {
            super::import::mark(&self.dir, first.seq).map_err(|e| format!("writing the import's marker: {e}"))?;
            self.importing = Some((first.seq, None));
        }
        self.write_records(records.iter(), hashes)?;
        // Not for durability (the marker covers a crash): so that sled can
        // reuse the space of the pages these writes replaced.
        self.flusher.write_out()
    }

    /// Makes the import durable (one flush and `fdatasync` for all of it),
    /// removes its marker, and moves the durable head to its last record.
    fn commit_import(&mut self) -> Result<Head, Error> {
        let failed = |failure: &Failure| Err(failure.group_error().error);
        if self.failure.get().is_some() {
            return failed(&self.failure);
        }
        let Some((_, Some(last))) = self.importing.take() else {
            return Ok(self.head.borrow().clone());
        };
        let durable = self
            .make_durable(&last, Wait::Park)
            .and_then(|()| super::import::unmark(&self.dir).map_err(|e| format!("removing the import's marker: {e}")));
        if let Err(reason) = durable {
            self.failure.set(reason);
            return failed(&self.failure);
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
        let head = Head { seq: last.seq, hash: last.hash().to_string() };
        self.head.send_replace(head.clone());
        tracing::info!(head = last.seq, "import durable");
        Ok(head)
    }

    /// Takes a refused import's records back out: out of the tail, then out
    /// of the views (the projector refolds them without), then out of the
    /// log and the tree; then removes the marker.
    fn abort_import(&mut self) -> Result<Head, Error> {
        let head = self.head.borrow().clone();
        let Some((start, last)) = self.importing.take() else {
            return Ok(head);
        };
        self.tail.truncate(start - 1);
        self.written.send_replace(head.seq);
        let (reply, answer) = oneshot::channel();
        if self.projector.send(Command::Discard { reply }).is_ok() {
            let _ = answer.blocking_recv();
        }
        let end = last.map_or(start - 1, |last| last.seq);
        let taken_back = (|| {
            super::import::remove_records(&self.log, start, end)
                .map_err(|e| format!("removing a refused import's records: {}", super::plain(e)))?;
            self.flusher.flush()?;
            self.merkle.truncate(start - 1).map_err(|e| format!("truncating the Merkle tree: {e}"))?;
            super::import::unmark(&self.dir).map_err(|e| format!("removing the import's marker: {e}"))
        })();
        match taken_back {
            Ok(()) => Ok(head),
            Err(reason) => {
                // The marker stays: the next open takes the records back out.
                self.failure.set(reason);
                Err(self.failure.group_error().error)
            }
        }
    }

    /// Writes `group`, then what `late` gives, into it, until it gives none
    /// or [`LATE_WRITES_MAX`] times; stops at the first failed write.
    fn write_late(&mut self, group: &mut Vec<Batch>, mut late: impl FnMut() -> Vec<Batch>) -> Result<(), String> {
        self.write(group)?;
        for _ in 0..LATE_WRITES_MAX {
            let more = late();
            if more.is_empty() {
                break;
            }
            let written = self.write(&more);
            group.extend(more);
            written?;
        }
        Ok(())
    }

    fn write(&mut self, group: &[Batch]) -> Result<(), String> {
        let hashes: Vec<(u64, Hash)> = group.iter().flat_map(|batch| batch.hashes.iter().copied()).collect();
        self.write_records(group.iter().flat_map(|batch| &batch.records), &hashes)
    }

    /// One `apply_batch` of `records` to the log, then their stored hashes
    /// to the Merkle tree's file.
    fn write_records<'a>(
        &mut self,
        records: impl Iterator<Item = &'a Arc<Committed>>,
        hashes: &[(u64, Hash)],
    ) -> Result<(), String> {
        let mut writes = sled::Batch::default();
        for record in records {
            writes.insert(&record.seq.to_be_bytes(), &**record.bytes());
        }
        self.log.apply_batch(writes).map_err(|e| format!("writing the log: {}", super::plain(e)))?;
        // The tree's hashes: derived, synced lazily (see `merkle`); a tree
        // ahead of the log after a crash is trimmed on open.
        self.merkle.append(hashes).map_err(|e| format!("writing the Merkle tree: {e}"))
    }

    /// Flushes (waiting for it as `wait` says: a lone writer polls, the
    /// syncer sleeps), then records the anchor and the tree's sync.
    fn make_durable(&mut self, last: &Committed, wait: Wait) -> Result<(), String> {
        self.flusher.flush_waiting(wait)?;
        let anchor = Anchor { seq: last.seq, hash: last.hash().to_string() };
        self.anchor.write_lazily(&anchor).map_err(|e| format!("writing the anchor: {e}"))?;
        self.merkle.sync_lazily().map_err(|e| format!("syncing the Merkle tree: {e}"))
    }
}

/// The write path's two halves, shared by their threads and by writers
/// that find it idle.
pub(super) struct Direct {
    committer: Arc<Mutex<Committer>>,
    syncer: Arc<Mutex<Syncer>>,
}

impl Direct {
    /// Appends `submissions` as one group on the caller's thread if nothing
    /// is queued or in flight: decided, sealed, written and made durable
    /// exactly as the committer and the syncer would (one batch, one sync),
    /// while holding both halves. Gives the submissions back otherwise, to
    /// be queued. Must not be called from inside an async runtime: it waits
    /// for the sync.
    pub fn append(&self, submissions: Vec<Checked>) -> Result<Result<Vec<Appended>, GroupError>, Vec<Checked>> {
        let Ok(mut committer) = self.committer.try_lock() else {
            return Err(submissions);
        };
        if !committer.pending.none() || committer.stopped {
            return Err(submissions);
        }
        committer.pending.add(1);
        let mut syncer = lock(&self.syncer);
        let (reply, mut answer) = oneshot::channel();
        let failure = Arc::clone(&committer.failure);
        fail_stop(&failure, "a writer leading the write path", || {
            let mut sealed = None;
            committer.commit_groups(vec![Group { submissions, reply }], |batch| {
                sealed = Some(batch);
                true
            });
            if let Some(batch) = sealed {
                syncer.sync(vec![batch]);
            }
            committer.save_knowledge_if_due();
        });
        Ok(answer.try_recv().unwrap_or_else(|_| Err(failure.group_error())))
    }
}

/// Starts the committer and the syncer; returns the channel writers queue
/// on and the path's halves for writers that find it idle.
pub(super) fn start(
    committer: Committer,
    syncer: Syncer,
    queue_requests_max: usize,
) -> std::io::Result<(mpsc::Sender<Request>, Direct, Vec<std::thread::JoinHandle<()>>)> {
    let (sender, requests) = mpsc::channel(queue_requests_max);
    let (to_syncer, work) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT_MAX);
    let failure = Arc::clone(&committer.failure);
    let direct = Direct { committer: Arc::new(Mutex::new(committer)), syncer: Arc::new(Mutex::new(syncer)) };
    let (half, stop) = (Arc::clone(&direct.committer), Arc::clone(&failure));
    let committer = std::thread::Builder::new()
        .name("amity-committer".into())
        .spawn(move || fail_stop(&stop, "the committer", || Committer::run(&half, requests, to_syncer)))?;
    let (half, stop) = (Arc::clone(&direct.syncer), failure);
    let syncer = std::thread::Builder::new()
        .name("amity-syncer".into())
        .spawn(move || fail_stop(&stop, "the syncer", || Syncer::run(&half, work)))?;
    Ok((sender, direct, vec![committer, syncer]))
}

/// Runs a thread of the write path so that a panic in it (inside sled, most
/// likely) stops the ledger like a storage error: writers waiting on it are
/// answered (their replies are dropped) and later ones are refused.
fn fail_stop(failure: &Failure, thread: &str, run: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        failure.set(format!("{thread} panicked: {}", super::panic_message(&*panic)));
    }
}
