//! The store: the only module that imports sled. A ledger directory holds
//! `ledger/` (the sled database: trees `log` and `index`) and `anchor`.
//! Writers hand [`Checked`] submissions to the committer thread and wait for
//! its acknowledgement; readers read sled directly. Must never: write to the
//! `log` tree outside the committer, or store anything in `log` but records.

mod anchor;
mod checkpoint;
mod committer;
mod index;

pub use checkpoint::CHECKPOINT_INTERVAL_RECORDS;
pub use committer::{Clock, SystemClock, BATCH_SUBMISSIONS_MAX};

use crate::error::{Error, Result};
use anchor::{Anchor, AnchorFile};
use committer::Committer;
use events::{check_alone, ChainError, ChainVerifier, Checked, Link, Record, GENESIS_PREV};
use index::{admit, Admission, IndexReader, Overlay};
use projections::Views;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot, watch};

/// Most requests waiting for the committer; further writers wait to enqueue.
pub const QUEUE_REQUESTS_MAX: usize = 1024;
/// Threads that check records on their own while `verify` links them.
const VERIFY_WORKERS: usize = 2;
/// Records read from the log and handed to a verify worker at a time.
const VERIFY_CHUNK_RECORDS: usize = 1024;
/// sled's page cache. sled counts on-disk bytes, not memory, so the process
/// uses somewhat more than this; it is set explicitly so RSS stays bounded.
pub const CACHE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// A `u64` stored big-endian (log keys, stream versions, positions); `None`
/// when the bytes are not eight long.
fn be_u64(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

/// The seq a `log` key stands for, or the chain error that it is no seq.
fn log_seq(key: &[u8]) -> Result<u64, ChainError> {
    be_u64(key)
        .ok_or_else(|| ChainError { seq: 0, problem: format!("a log key of {} bytes is not an 8-byte seq", key.len()) })
}

impl From<sled::Error> for Error {
    fn from(error: sled::Error) -> Self {
        Error::Storage(error.to_string())
    }
}

/// The durable head: the last acknowledged seq and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// One acknowledged submission: the stored record, and whether it was
/// already there (an idempotent re-send appends nothing).
#[derive(Debug, Clone)]
pub struct Appended {
    pub record: Record,
    pub existed: bool,
}

/// A group that was not appended: which submission (0-based) and why.
#[derive(Debug, thiserror::Error)]
#[error("submission {}: {error}", .index + 1)]
pub struct GroupError {
    pub index: usize,
    pub error: Error,
}

struct Request {
    submissions: Vec<Checked>,
    reply: oneshot::Sender<Result<Vec<Appended>, GroupError>>,
}

pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub cache_bytes: u64,
    /// Create the directory and an empty ledger if there is none.
    pub create: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { clock: Arc::new(SystemClock), cache_bytes: CACHE_BYTES_DEFAULT, create: true }
    }
}

/// Result of a full chain check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub count: u64,
    pub head: String,
}

/// An open ledger. Clones share one committer; the last one dropped stops
/// it after it has written everything queued.
#[derive(Clone)]
pub struct Ledger {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    db: sled::Db,
    log: sled::Tree,
    index: sled::Tree,
    checkpoints: sled::Tree,
    /// Named subscription positions: name → seq (u64 big-endian).
    subscriptions: sled::Tree,
    head: watch::Receiver<Head>,
    /// Durable batches written since open (for benchmarks: their sizes).
    batches: Arc<AtomicU64>,
    /// The live views, updated by the committer after each durable batch. A
    /// std lock, not tokio's: nothing async happens while it is held.
    views: Arc<RwLock<Views>>,
    sender: Mutex<Option<mpsc::Sender<Request>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.sender.lock().expect("not poisoned").take();
        if let Some(handle) = self.committer.lock().expect("not poisoned").take() {
            let _ = handle.join();
        }
        let _ = self.db.flush();
    }
}

impl Ledger {
    /// Opens the ledger in `dir`, checking the log against its anchor and
    /// bringing the index up to the log.
    pub fn open(dir: &Path, options: Options) -> Result<Ledger> {
        let sled_dir = dir.join("ledger");
        if !sled_dir.exists() {
            if !options.create {
                return Err(Error::Usage(format!("no ledger at {} (append or import creates one)", dir.display())));
            }
            std::fs::create_dir_all(dir)?;
        }
        let db = open_sled(&sled_dir, options.cache_bytes).map_err(|e| {
            if is_lock_held(&e) {
                Error::Storage(format!("{} is in use by another process ({e})", dir.display()))
            } else {
                Error::Storage(format!("cannot open {}: {e}", sled_dir.display()))
            }
        })?;
        let log = db.open_tree("log")?;
        let index = db.open_tree("index")?;
        let (last_seq, last_hash, last_at) = match log.last()? {
            None => (0, GENESIS_PREV.to_string(), String::new()),
            Some((key, value)) => {
                let seq = log_seq(&key)?;
                let record = Record::decode(&value).map_err(|problem| ChainError { seq, problem })?;
                (seq, record.hash, record.recorded_at)
            }
        };
        let anchor_path = dir.join("anchor");
        check_anchor(&log, &anchor_path, last_seq)?;
        reconcile_index(&log, &index, last_seq)?;
        let checkpoints = db.open_tree("checkpoints")?;
        let subscriptions = db.open_tree("subscriptions")?;
        let (views, checkpointed_seq) = load_views(&checkpoints, &log, &last_hash)?;
        let views = Arc::new(RwLock::new(views));
        let mut anchor = AnchorFile::open(&anchor_path)?;
        if last_seq == 0 {
            anchor.write(&Anchor { seq: 0, hash: GENESIS_PREV.to_string() })?;
        }
        let db_file = std::fs::File::open(sled_dir.join("db"))?;
        let head = Head { seq: last_seq, hash: last_hash.clone() };
        let (head_tx, head_rx) = watch::channel(head);
        let (sender, receiver) = mpsc::channel(QUEUE_REQUESTS_MAX);
        let batches = Arc::new(AtomicU64::new(0));
        let committer = Committer {
            db: db.clone(),
            log: log.clone(),
            index: index.clone(),
            db_file,
            anchor,
            clock: options.clock,
            head: head_tx,
            views: Arc::clone(&views),
            checkpoints: checkpoints.clone(),
            checkpointed_seq,
            next_seq: last_seq + 1,
            head_hash: last_hash,
            last_recorded_at: last_at,
            batches: Arc::clone(&batches),
        };
        let handle =
            std::thread::Builder::new().name("amity-committer".into()).spawn(move || committer.run(receiver))?;
        Ok(Ledger {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                db,
                log,
                index,
                checkpoints,
                subscriptions,
                batches,
                head: head_rx,
                views,
                sender: Mutex::new(Some(sender)),
                committer: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The durable head.
    pub fn head(&self) -> Head {
        self.shared.head.borrow().clone()
    }

    /// How many durable batches (one `fdatasync` each) the committer has
    /// written since this ledger was opened.
    pub fn batches_written(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }

    /// Follows the durable head (for subscriptions).
    pub fn watch_head(&self) -> watch::Receiver<Head> {
        self.shared.head.clone()
    }

    fn sender(&self) -> Result<mpsc::Sender<Request>> {
        self.shared
            .sender
            .lock()
            .expect("not poisoned")
            .clone()
            .ok_or_else(|| Error::Storage("the ledger is closed".into()))
    }

    /// Appends a group all-or-nothing and waits until it is durable. Must not
    /// be called from inside an async runtime (use [`Ledger::append_group_async`]).
    pub fn append_group(&self, submissions: Vec<Checked>) -> Result<Vec<Appended>, GroupError> {
        let (reply, response) = oneshot::channel();
        let closed = || GroupError { index: 0, error: Error::Storage("the committer has stopped".into()) };
        let sender = self.sender().map_err(|error| GroupError { index: 0, error })?;
        sender.blocking_send(Request { submissions, reply }).map_err(|_| closed())?;
        response.blocking_recv().map_err(|_| closed())?
    }

    /// The async form of [`Ledger::append_group`].
    pub async fn append_group_async(&self, submissions: Vec<Checked>) -> Result<Vec<Appended>, GroupError> {
        let (reply, response) = oneshot::channel();
        let closed = || GroupError { index: 0, error: Error::Storage("the committer has stopped".into()) };
        let sender = self.sender().map_err(|error| GroupError { index: 0, error })?;
        sender.send(Request { submissions, reply }).await.map_err(|_| closed())?;
        response.await.map_err(|_| closed())?
    }

    /// Appends one submission and waits until it is durable.
    pub fn append(&self, submission: Checked) -> Result<Appended> {
        self.append_group(vec![submission])
            .map(|mut appended| appended.pop().expect("one submission, one result"))
            .map_err(|e| e.error)
    }

    /// A dry run: checks submissions in order as if appended (later ones
    /// may refer to what earlier ones introduce), appending nothing.
    pub fn dry_run(&self) -> DryRun<'_> {
        let reader = IndexReader::new(&self.shared.index, &self.shared.log);
        DryRun { overlay: Overlay::new(reader), next_seq: self.head().seq + 1 }
    }

    /// The stored bytes at `seq`.
    pub fn get_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.shared.log.get(seq.to_be_bytes())?.map(|v| v.to_vec()))
    }

    pub fn get(&self, seq: u64) -> Result<Option<Record>> {
        match self.shared.log.get(seq.to_be_bytes())? {
            None => Ok(None),
            Some(bytes) => {
                Record::decode(&bytes).map(Some).map_err(|problem| Error::Chain(ChainError { seq, problem }))
            }
        }
    }

    pub fn seq_of(&self, id: &str) -> Result<Option<u64>> {
        let reader = IndexReader::new(&self.shared.index, &self.shared.log);
        let seq = reader.seq_of(id);
        match reader.take_error() {
            Some(e) => Err(e.into()),
            None => Ok(seq),
        }
    }

    /// Stored `(seq, bytes)` from `from` to `to` inclusive, in seq order.
    pub fn range_bytes(&self, from: u64, to: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        self.shared.log.range(from.to_be_bytes()..=to.to_be_bytes()).map(|entry| {
            let (key, value) = entry?;
            Ok((log_seq(&key)?, value.to_vec()))
        })
    }

    /// Records from `from` to `to` inclusive, decoded.
    pub fn range(&self, from: u64, to: u64) -> impl Iterator<Item = Result<Record>> + '_ {
        self.range_bytes(from, to).map(|entry| {
            let (seq, bytes) = entry?;
            Record::decode(&bytes).map_err(|problem| Error::Chain(ChainError { seq, problem }))
        })
    }

    /// Recomputes every canonical form, hash and link, and checks the head
    /// against the anchor. `progress` is called with each checked seq.
    ///
    /// One thread reads the log in chunks; [`VERIFY_WORKERS`] threads check
    /// each record on its own (decode, canonical form, hash), alternating
    /// chunks; this thread links them in seq order, so the first failure
    /// reported is the first in the chain.
    pub fn verify(&self, mut progress: impl FnMut(u64)) -> Result<Verified> {
        // Check up to the durable head as it stood at the start, so that
        // appends made meanwhile by a live server do not count as damage.
        let head = self.head();
        let mut verifier = ChainVerifier::default();
        type Chunk = std::result::Result<Vec<(sled::IVec, sled::IVec)>, sled::Error>;
        type Linked = std::result::Result<Vec<(sled::IVec, std::result::Result<Link, String>)>, sled::Error>;
        std::thread::scope(|scope| -> Result<()> {
            let (mut to_workers, mut from_workers) = (Vec::new(), Vec::new());
            for _ in 0..VERIFY_WORKERS {
                let (chunks, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
                let (results_tx, results) = std::sync::mpsc::sync_channel::<Linked>(2);
                scope.spawn(move || {
                    let mut buffer = Vec::new();
                    for chunk in chunk_rx {
                        let checked = chunk.map(|entries| {
                            let check = |(key, value): (sled::IVec, sled::IVec)| {
                                let link = check_alone(&value, &mut buffer).map(|(_, link)| link);
                                (key, link)
                            };
                            entries.into_iter().map(check).collect()
                        });
                        if results_tx.send(checked).is_err() {
                            return;
                        }
                    }
                });
                to_workers.push(chunks);
                from_workers.push(results);
            }
            let log = &self.shared.log;
            scope.spawn(move || {
                let mut entries = log.range(..=head.seq.to_be_bytes());
                for worker in (0..VERIFY_WORKERS).cycle() {
                    let chunk: Chunk = entries.by_ref().take(VERIFY_CHUNK_RECORDS).collect();
                    if matches!(&chunk, Ok(entries) if entries.is_empty()) {
                        return;
                    }
                    let failed = chunk.is_err();
                    if to_workers[worker].send(chunk).is_err() || failed {
                        return;
                    }
                }
            });
            for worker in (0..VERIFY_WORKERS).cycle() {
                let Ok(chunk) = from_workers[worker].recv() else {
                    return Ok(());
                };
                for (key, link) in chunk? {
                    verifier.link(&key, link)?;
                    progress(verifier.count());
                }
            }
            Ok(())
        })?;
        if verifier.count() != head.seq {
            let seq = verifier.count() + 1;
            return Err(ChainError {
                seq,
                problem: format!("missing: the log was acknowledged up to seq {}", head.seq),
            }
            .into());
        }
        if verifier.head_hash() != head.hash {
            let problem = format!("hash {} differs from the acknowledged head {}", verifier.head_hash(), head.hash);
            return Err(ChainError { seq: head.seq, problem }.into());
        }
        let last_seq = match self.shared.log.last()? {
            Some((key, _)) => log_seq(&key)?,
            None => 0,
        };
        check_anchor(&self.shared.log, &self.shared.dir.join("anchor"), last_seq)?;
        Ok(Verified { count: verifier.count(), head: verifier.head_hash().to_string() })
    }

    /// Stores a named subscription's position durably: the consumer has
    /// handled every record up to and including `seq`.
    pub fn ack(&self, name: &str, seq: u64) -> Result<()> {
        check_subscription_name(name)?;
        let head = self.head().seq;
        if seq > head {
            return Err(Error::Usage(format!("seq: {seq} is beyond the durable head {head}")));
        }
        self.shared.subscriptions.insert(name.as_bytes(), &seq.to_be_bytes())?;
        self.shared.db.flush()?;
        Ok(())
    }

    /// A named subscription's stored position, if it has one.
    pub fn position(&self, name: &str) -> Result<Option<u64>> {
        check_subscription_name(name)?;
        let stored = self.shared.subscriptions.get(name.as_bytes())?;
        Ok(stored.and_then(|v| be_u64(&v)))
    }

    /// Reads the live views (as of the durable head).
    pub fn read_views<T>(&self, read: impl FnOnce(&Views) -> T) -> T {
        read(&self.shared.views.read().expect("not poisoned"))
    }

    /// Drops the checkpoint and refolds the whole log, calling `progress`
    /// with each seq; returns how many records were folded. Writers wait
    /// while it runs, so that no append is missed.
    pub fn rebuild(&self, progress: impl FnMut(u64)) -> Result<u64> {
        let mut live = self.shared.views.write().expect("not poisoned");
        checkpoint::drop_all(&self.shared.checkpoints)?;
        let views = self.refold(progress)?;
        let hash = self.get(views.seq)?.map(|r| r.hash).unwrap_or_else(|| GENESIS_PREV.to_string());
        checkpoint::save(&self.shared.checkpoints, &views, &hash)?;
        let count = views.seq;
        *live = views;
        Ok(count)
    }

    /// Folds the whole log into fresh views (decoding on a second thread),
    /// touching neither the live views nor the checkpoint.
    pub fn refold(&self, progress: impl FnMut(u64)) -> Result<Views> {
        let mut views = Views::default();
        checkpoint::catch_up(&mut views, &self.shared.log, progress)?;
        Ok(views)
    }

    /// A consistent copy of this ledger, as of its durable head now, into a
    /// new ledger at `dest` (which must not exist); the copy is verified and
    /// its head compared with this one's. Appends may continue meanwhile.
    pub fn backup(&self, dest: &Path) -> Result<Verified> {
        let head = self.head();
        let copied = Ledger::restore(dest, self.range_bytes(1, head.seq).map(|entry| entry.map(|(_, bytes)| bytes)))?;
        if copied.count != head.seq || copied.head != head.hash {
            return Err(Error::Storage(format!(
                "the backup ends at seq {} hash {}, not seq {} hash {}",
                copied.count, copied.head, head.seq, head.hash
            )));
        }
        Ok(copied)
    }

    /// Creates a ledger at `dir` (which must not exist) from stored records,
    /// byte for byte (an `amity export`, or another ledger's log), checking
    /// the chain as they come. This is the one writer of a `log` tree besides
    /// the committer: it runs before any committer exists for `dir`. The
    /// index and views are then derived on open, as after a crash.
    pub fn restore(dir: &Path, records: impl Iterator<Item = Result<Vec<u8>>>) -> Result<Verified> {
        if dir.exists() {
            return Err(Error::Usage(format!("{} already exists; restore only into a new directory", dir.display())));
        }
        std::fs::create_dir_all(dir)?;
        // Nothing half-written stays behind: a failed restore removes what it
        // made (and a crashed one leaves no anchor, so it cannot be opened).
        Ledger::restore_into(dir, records).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(dir);
        })
    }

    fn restore_into(dir: &Path, records: impl Iterator<Item = Result<Vec<u8>>>) -> Result<Verified> {
        let sled_dir = dir.join("ledger");
        let db = open_sled(&sled_dir, CACHE_BYTES_DEFAULT)?;
        let log = db.open_tree("log")?;
        let mut verifier = ChainVerifier::default();
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for bytes in records {
            let bytes = bytes?;
            let record = verifier.check(&(verifier.count() + 1).to_be_bytes(), &bytes)?;
            batch.insert(&record.seq.to_be_bytes(), bytes);
            in_batch += 1;
            if in_batch == BATCH_SUBMISSIONS_MAX {
                log.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        log.apply_batch(batch)?;
        db.flush()?;
        std::fs::File::open(sled_dir.join("db"))?.sync_data()?;
        let verified = Verified { count: verifier.count(), head: verifier.head_hash().to_string() };
        AnchorFile::open(&dir.join("anchor"))?.write(&Anchor { seq: verified.count, hash: verified.head.clone() })?;
        drop(log);
        drop(db);
        let restored = Ledger::open(dir, Options::default())?;
        let checked = restored.verify(|_| {})?;
        restored.close()?;
        Ok(checked)
    }

    /// Stops the committer after it has written everything queued, and
    /// flushes. Other clones of this ledger can no longer append.
    pub fn close(self) -> Result<()> {
        self.shared.sender.lock().expect("not poisoned").take();
        if let Some(handle) = self.shared.committer.lock().expect("not poisoned").take() {
            handle.join().map_err(|_| Error::Storage("the committer panicked".into()))?;
        }
        self.shared.db.flush()?;
        Ok(())
    }
}

/// Longest subscription name; names use the event-id alphabet.
pub const SUBSCRIPTION_NAME_CHARS_MAX: usize = 128;

fn check_subscription_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= SUBSCRIPTION_NAME_CHARS_MAX
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "name: `{name}` must be 1 to {SUBSCRIPTION_NAME_CHARS_MAX} characters of A-Z a-z 0-9 . _ : -"
        )))
    }
}

/// How long opening waits for sled's file lock. sled releases it from a
/// background thread some time after the last handle is dropped (sled issue
/// #1289), so a ledger closed and reopened in one process can find it still
/// held for a moment; another process holding it is reported after this.
pub const LOCK_WAIT_MS: u64 = 5_000;

/// sled reports a held lock as an `Other` I/O error with this message.
pub fn is_lock_held(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

fn open_sled(path: &Path, cache_bytes: u64) -> sled::Result<sled::Db> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        // No background flusher: the committer flushes every batch itself.
        .flush_every_ms(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(LOCK_WAIT_MS);
    loop {
        match config.open() {
            Err(e) if is_lock_held(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// See [`Ledger::dry_run`].
pub struct DryRun<'a> {
    overlay: Overlay<IndexReader<'a>>,
    next_seq: u64,
}

impl DryRun<'_> {
    /// Decides one submission as the committer would: `Ok(true)` if it is
    /// already in the ledger (or earlier in this run) with the same content.
    pub fn check(&mut self, submission: Checked) -> Result<bool> {
        let admitted = admit(&self.overlay, submission);
        if let Some(e) = self.overlay.base().take_error() {
            return Err(e.into());
        }
        match admitted? {
            Admission::Existing(_) => Ok(true),
            Admission::New(validated) => {
                let (checked, effects) = (*validated).into_parts();
                let content = checked.content_digest();
                self.overlay.absorb(self.next_seq, checked.id(), checked.event_type(), content, &effects);
                self.next_seq += 1;
                Ok(false)
            }
        }
    }
}

/// The views from the checkpoint, caught up from the log; rebuilt from the
/// start when the checkpoint is missing, stale in format, or damaged. Also
/// returns the seq the stored checkpoint now reflects (0 for none).
fn load_views(checkpoints: &sled::Tree, log: &sled::Tree, head_hash: &str) -> Result<(Views, u64)> {
    let mut views = match checkpoint::load(checkpoints, log) {
        Ok(Some(views)) => views,
        Ok(None) => Views::default(),
        Err(reason) => {
            tracing::warn!(%reason, "discarding the projection checkpoint; rebuilding");
            checkpoint::drop_all(checkpoints)?;
            Views::default()
        }
    };
    let from = views.seq;
    checkpoint::catch_up(&mut views, log, |_| {})?;
    if checkpoint::checkpoint_due(views.seq, from) {
        checkpoint::save(checkpoints, &views, head_hash)?;
        let seq = views.seq;
        return Ok((views, seq));
    }
    Ok((views, from))
}

/// Refuses a log that lost or altered acknowledged records.
fn check_anchor(log: &sled::Tree, path: &Path, last_seq: u64) -> Result<()> {
    let Some(anchor) = AnchorFile::read(path)? else {
        if last_seq == 0 {
            return Ok(());
        }
        return Err(Error::Storage(format!(
            "the anchor {} is missing for a ledger of {last_seq} records; restore it from a backup",
            path.display()
        )));
    };
    if anchor.seq > last_seq {
        return Err(Error::Chain(ChainError {
            seq: last_seq + 1,
            problem: format!(
                "missing: the log ends at seq {last_seq} but seq {} was acknowledged (anchor)",
                anchor.seq
            ),
        }));
    }
    if anchor.seq == 0 {
        return Ok(());
    }
    let seq = anchor.seq;
    let stored = log.get(seq.to_be_bytes())?.ok_or_else(|| ChainError { seq, problem: "missing".into() })?;
    let record = Record::decode(&stored).map_err(|problem| ChainError { seq, problem })?;
    if record.hash != anchor.hash {
        return Err(Error::Chain(ChainError {
            seq,
            problem: format!("hash {} differs from the anchor's {}", record.hash, anchor.hash),
        }));
    }
    Ok(())
}

/// Brings the index up to the log: replays records it has not absorbed, or
/// rebuilds it whole if it is ahead of the log (which a prefix-preserving
/// crash cannot cause, so it means damage).
fn reconcile_index(log: &sled::Tree, index: &sled::Tree, last_seq: u64) -> Result<()> {
    let reader = IndexReader::new(index, log);
    let indexed = reader.head().unwrap_or(0);
    if let Some(e) = reader.take_error() {
        return Err(e.into());
    }
    if indexed == last_seq {
        return Ok(());
    }
    let from = if indexed > last_seq {
        index.clear()?;
        1
    } else {
        indexed + 1
    };
    let reader = IndexReader::new(index, log);
    let mut overlay = Overlay::new(&reader);
    for entry in log.range(from.to_be_bytes()..) {
        let (key, value) = entry?;
        let seq = log_seq(&key)?;
        let record = Record::decode(&value).map_err(|problem| ChainError { seq, problem })?;
        overlay.absorb_record(&record).map_err(|problem| ChainError { seq, problem })?;
    }
    let changes = overlay.into_changes();
    if let Some(e) = reader.take_error() {
        return Err(e.into());
    }
    index.apply_batch(changes.to_batch())?;
    index.flush()?;
    Ok(())
}
