//! An import: one group, all or nothing, streamed in chunks so that it
//! needs no more memory than a few of them. Each submission is parsed once
//! (by the caller), decided once and sealed once (by the committer, against
//! the live knowledge, the same [`events::decide`] as every append), and its
//! record written to the log as it is sealed; nothing is acknowledged, told
//! to subscribers or shown in the views until the whole import is durable.
//! A bad submission anywhere refuses the import: what it wrote is taken
//! back out of the log and the knowledge and views are as before.
//!
//! While an import runs, the committer decides nothing else (other writers
//! wait in its queue) and the syncer writes its records without
//! `fdatasync` (sled's flush alone after each batch, for sled's space, not
//! for durability): one `fdatasync` makes the whole import durable at the
//! end. Before the first of them reaches the log, `DIR/import.pending` (the
//! seq the import starts at) is made durable; it is removed once the import
//! is durable or taken back. Opening a ledger that has it removes the log's records from
//! that seq on: an import that a crash interrupted was never acknowledged.
//! Must never: show, publish or acknowledge a record of an import before
//! all of it is durable, or leave any of a refused one behind.

use super::{Head, Ledger, Request};
use crate::error::{Error, Result};
use events::Checked;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use tokio::sync::oneshot;

/// The marker's file name, in the ledger directory.
pub const PENDING_FILE: &str = "import.pending";

/// Chunks handed to the committer before the importer waits: one is
/// decided while the next is parsed.
const CHUNKS_QUEUED_MAX: usize = 2;

/// Submissions in one chunk of an import: a quarter of a batch. The
/// committer still writes the log in full batches of
/// [`super::BATCH_SUBMISSIONS_MAX`], the same batches as any append; only
/// the hand-offs between the pipeline's stages (parse, decide and seal)
/// are smaller. Chunks of a whole batch (2.3 MiB of parsed submissions
/// each) cost a 1M import about 3% more CPU and 30 MiB more peak memory.
pub const IMPORT_CHUNK_SUBMISSIONS: usize = super::BATCH_SUBMISSIONS_MAX / 4;

/// What the importer sends the committer.
pub(super) enum Step {
    Chunk(Vec<Checked>),
    /// The importer found a bad line itself (one that did not parse): the
    /// import will be refused, so write nothing more, only decide.
    Refuse,
    /// Every chunk is sent and none was refused: make it durable.
    Commit,
}

/// The committer's side of an import.
pub(super) struct Job {
    pub steps: Receiver<Step>,
    /// Per chunk, in order: each submission's outcome. Unbounded, so the
    /// committer never waits on an importer that has not read them yet
    /// (the chunks it may queue are bounded instead).
    pub decided: Sender<Vec<Outcome>>,
    /// How the import ended: the durable head after it (the new one if it
    /// was committed, the old one if it was taken back), or the storage
    /// error that stopped it.
    pub finished: oneshot::Sender<Result<Head>>,
}

/// One submission of an import: whether it was already in the ledger, or
/// why it is refused.
pub type Outcome = Result<Existed>;

/// Whether a submission's id was already in the ledger with the same
/// content (nothing appended for it).
pub type Existed = bool;

/// An import in progress (see the module doc). Dropping it without
/// [`Import::commit`] takes back everything it wrote. It borrows the
/// ledger, which cannot be closed while the import is open (the committer
/// is busy with it).
pub struct Import<'a> {
    steps: Option<SyncSender<Step>>,
    decided: Receiver<Vec<Outcome>>,
    finished: Option<oneshot::Receiver<Result<Head>>>,
    ledger: PhantomData<&'a Ledger>,
}

impl Ledger {
    /// Starts an import once the committer has finished what was queued
    /// before it. Must not be called from inside an async runtime.
    pub fn begin_import(&self) -> Result<Import<'_>> {
        let (steps, steps_rx) = std::sync::mpsc::sync_channel(CHUNKS_QUEUED_MAX);
        let (decided_tx, decided) = std::sync::mpsc::channel();
        let (finished_tx, finished) = oneshot::channel();
        let job = Job { steps: steps_rx, decided: decided_tx, finished: finished_tx };
        let sender = self.sender()?;
        self.shared.pending.add(1);
        sender.blocking_send(Request::Import(job)).map_err(|_| {
            self.shared.pending.done(1);
            closed()
        })?;
        Ok(Import { steps: Some(steps), decided, finished: Some(finished), ledger: PhantomData })
    }
}

impl Import<'_> {
    /// Hands the committer the next chunk; waits while it has
    /// [`CHUNKS_QUEUED_MAX`] undecided.
    pub fn submit(&mut self, chunk: Vec<Checked>) -> Result<()> {
        self.send(Step::Chunk(chunk))
    }

    /// The outcomes of the oldest chunk submitted and not yet taken, one per
    /// submission, in order; waits for the committer to decide it.
    pub fn decided(&mut self) -> Result<Vec<Outcome>> {
        match self.decided.recv() {
            Ok(outcomes) => Ok(outcomes),
            Err(_) => Err(self.end()),
        }
    }

    /// The import will be refused (a line did not even parse): the
    /// committer writes nothing more and only decides the rest, so that
    /// every bad line can still be reported.
    pub fn refuse(&mut self) -> Result<()> {
        self.send(Step::Refuse)
    }

    /// Makes the whole import durable and shows it to everyone; returns the
    /// new durable head. Call it once every chunk's outcomes are taken; if
    /// any was refused, nothing is appended and this is an error.
    pub fn commit(mut self) -> Result<Head> {
        self.send(Step::Commit)?;
        self.steps.take();
        self.wait()
    }

    /// Takes back whatever the import wrote; returns once it is gone.
    pub fn abort(mut self) -> Result<()> {
        self.steps.take();
        self.wait().map(|_| ())
    }

    fn send(&mut self, step: Step) -> Result<()> {
        let sent = self.steps.as_ref().map(|steps| steps.send(step));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.end()),
        }
    }

    fn wait(&mut self) -> Result<Head> {
        let finished = self.finished.take().ok_or_else(closed)?;
        finished.blocking_recv().unwrap_or_else(|_| Err(closed()))
    }

    /// Why the committer stopped listening: how the import ended.
    fn end(&mut self) -> Error {
        self.steps.take();
        match self.wait() {
            Err(error) => error,
            Ok(_) => Error::Unavailable("the import ended early".into()),
        }
    }
}

impl Drop for Import<'_> {
    fn drop(&mut self) {
        if self.finished.is_some() {
            self.steps.take();
            let _ = self.wait();
        }
    }
}

fn closed() -> Error {
    Error::Unavailable("the ledger is closed".into())
}

/// Removes the log's records `from..=to`, the last first (so the log stays
/// gapless if this is cut short), [`REMOVALS_PER_BATCH`] at a time: sled
/// holds what each removal frees until its batch ends, so one batch of a
/// million removals peaked at 8.7 GB (39 s), batches of 4,096 at 2.5 GB,
/// batches of 64 stay within the import's own peak (~570 MB, 6 s, at 1M).
/// Returns how many there were.
pub(super) fn remove_records(log: &sled::Tree, from: u64, to: u64) -> sled::Result<u64> {
    let mut removed = 0;
    let mut last = to;
    while last >= from && last > 0 {
        let first = last.saturating_sub(REMOVALS_PER_BATCH - 1).max(from);
        let mut removals = sled::Batch::default();
        for seq in (first..=last).rev() {
            removals.remove(&seq.to_be_bytes());
            removed += 1;
        }
        log.apply_batch(removals)?;
        last = first - 1;
    }
    Ok(removed)
}

/// Removals in one sled batch when an import is taken back (see above).
const REMOVALS_PER_BATCH: u64 = 64;

/// `DIR/import.pending`.
pub(super) fn pending_path(dir: &Path) -> PathBuf {
    dir.join(PENDING_FILE)
}

/// Makes the marker durable: the import's records start at `start`. It is
/// written whole to a temporary file, synced, and renamed into place, so a
/// write that fails part-way (a full disk, an I/O error) leaves no marker
/// rather than a damaged one that every later open would refuse.
pub(super) fn mark(dir: &Path, start: u64) -> std::io::Result<()> {
    let written = dir.join(format!("{PENDING_FILE}.tmp"));
    let mut file = std::fs::File::create(&written)?;
    std::io::Write::write_all(&mut file, format!("{start}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&written, pending_path(dir))?;
    sync_dir(dir)
}

/// Removes the marker durably (the import is durable, or taken back).
pub(super) fn unmark(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(pending_path(dir)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The seq an unfinished import started at, if the marker is there.
///
/// An empty marker is no marker: ledgers before [`mark`] renamed it into
/// place could be left one by a write that failed, and that write came
/// before any of its import's records reached the log.
pub(super) fn pending(dir: &Path) -> Result<Option<u64>> {
    let path = pending_path(dir);
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::storage(format!("reading {}", path.display()), e)),
        Ok(text) if text.is_empty() => Ok(None),
        Ok(text) => text.trim().parse::<u64>().ok().filter(|seq| *seq >= 1).map(Some).ok_or_else(|| {
            Error::storage(format!("reading {}", path.display()), format!("`{}` is not a seq", text.trim()))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_reads_back_and_an_empty_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(pending(dir.path()).unwrap(), None);
        mark(dir.path(), 42).unwrap();
        assert_eq!(pending(dir.path()).unwrap(), Some(42));
        assert!(!dir.path().join(format!("{PENDING_FILE}.tmp")).exists(), "renamed into place");
        unmark(dir.path()).unwrap();
        assert_eq!(pending(dir.path()).unwrap(), None);
        // What a write that failed part-way left before the marker was
        // renamed into place: no import's record had reached the log.
        std::fs::write(pending_path(dir.path()), b"").unwrap();
        assert_eq!(pending(dir.path()).unwrap(), None);
        std::fs::write(pending_path(dir.path()), b"x\n").unwrap();
        assert!(pending(dir.path()).unwrap_err().to_string().contains("is not a seq"));
    }
}
