//! The store: the only module that imports sled. A ledger directory holds
//! `ledger/` (the sled database: trees `log` and `subscriptions`), `anchor`,
//! the Merkle tree's files and the checkpoints of the knowledge and views. Writers hand [`Checked`] submissions to the committer and
//! wait for the syncer's acknowledgement; the projector folds the views off
//! that path; readers take recent records from the tail and older ones from
//! the log. Must never: write to the `log` tree outside the committer (or a
//! restore into a new ledger, or an open taking back an unfinished import),
//! or store anything in `log` but records.
//!
//! The path of one record: a writer parses it (`Checked::parse`, on its own
//! thread) → the committer decides it against the in-memory knowledge,
//! seals it and hands it to sled → the syncer flushes and `fdatasync`s,
//! acknowledges the writer and publishes it to the tail and the durable head
//! → the projector, subscribers and the relay take it from the tail.

mod anchor;
mod checkpoint;
mod committer;
mod flusher;
pub mod holder;
pub mod import;
mod merkle;
mod projector;
mod tail;

pub use checkpoint::CHECKPOINT_INTERVAL_RECORDS;
pub use committer::{Clock, SystemClock, BATCH_SUBMISSIONS_MAX};
pub use flusher::FLUSH_LIMIT;
pub use import::IMPORT_CHUNK_SUBMISSIONS;
pub use merkle::{StoredHashes, MERKLE_FILE, MERKLE_SYNCED_FILE, MERKLE_SYNC_INTERVAL};
pub use tail::{Committed, TAIL_BYTES_MAX, TAIL_RECORDS_MAX};

use crate::error::{Error, Result, Source};
use anchor::{Anchor, AnchorFile};
use checkpoint::Checkpoints;
use committer::{Committer, Direct, Failure, Headroom, Pending, Syncer};
use events::merkle::CompactRange;
use events::{check_stored, ChainError, ChainVerifier, Checked, Knowledge, Link, Record, Sealer};
use flusher::Flusher;
use projections::Views;
use projector::{Command, Projector};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use tail::Tail;
use tokio::sync::{mpsc, oneshot, watch};

/// Most requests waiting for the committer; further writers wait to enqueue.
pub const QUEUE_REQUESTS_MAX: usize = 1024;
/// Threads that check records on their own while `verify` links them.
const VERIFY_WORKERS: usize = 2;
/// Records read from the log and handed to a verify worker at a time: a
/// power of two, so that each chunk but the last is a complete subtree of
/// the Merkle tree, aligned, whose root the worker computes.
const VERIFY_CHUNK_RECORDS: usize = 1024;
const _: () = assert!(VERIFY_CHUNK_RECORDS.is_power_of_two());
/// sled's page cache (`AMITY_CACHE_MIB` sets another). sled counts on-disk
/// bytes, not memory, so the process uses somewhat more than this; it is set
/// explicitly so RSS stays bounded. Appends touch only the log's right edge
/// and the knowledge in memory, so the cache serves reads of records older
/// than the in-memory tail. 32 MiB rather than 64 takes 12–75 MiB off each
/// phase's peak at 100k and 1M records, with no rate changed beyond noise
/// (BENCHMARKS.md, seventeenth pass).
pub const CACHE_BYTES_DEFAULT: u64 = 32 * 1024 * 1024;

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
        sled_error("sled", error)
    }
}

/// A sled error as a storage error, in words (see [`plain`]).
pub(crate) fn sled_error(context: impl Into<String>, error: sled::Error) -> Error {
    Error::Storage { context: context.into(), source: plain(error) }
}

/// The durable head: the last acknowledged seq and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// One acknowledged submission: the stored record's seq, id, hash and bytes
/// (exactly as stored, shared, never re-serialized), and whether it was
/// already there (an idempotent re-send appends nothing).
#[derive(Debug, Clone)]
pub struct Appended {
    pub seq: u64,
    pub id: String,
    pub hash: String,
    pub bytes: bytes::Bytes,
    pub existed: bool,
}

impl Appended {
    fn from_committed(record: &Committed, existed: bool) -> Appended {
        Appended {
            seq: record.seq,
            id: record.id().to_string(),
            hash: record.hash().to_string(),
            bytes: record.bytes().clone(),
            existed,
        }
    }

    /// The stored record, decoded (for callers that want its fields).
    pub fn record(&self) -> Record {
        Record::decode(&self.bytes).expect("the ledger stores only records")
    }
}

/// See [`Ledger::status`]; also the body of `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    pub dir: String,
    /// Durable records (seqs run 1..=seq) and the last one's hash.
    pub seq: u64,
    pub head: String,
    pub first_recorded_at: Option<String>,
    pub last_recorded_at: Option<String>,
    /// Records per event type (types with none are left out).
    pub types: std::collections::BTreeMap<String, u64>,
    /// The last seq folded into the live views.
    pub views_seq: u64,
    /// The seq of the views' stored checkpoint, if any (an open replays the
    /// log after it).
    pub views_checkpoint_seq: Option<u64>,
    pub disk_bytes: u64,
    /// Free space on the ledger's filesystem.
    pub free_bytes: Option<u64>,
    pub holder: Option<holder::Holder>,
}

/// Bytes of every file under `path`.
fn disk_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map(|entries| entries.flatten().map(|e| disk_bytes(&e.path())).sum()).unwrap_or(0)
}

/// A group that was not appended: which submission (0-based) and why.
#[derive(Debug, thiserror::Error)]
#[error("submission {}: {error}", .index + 1)]
pub struct GroupError {
    pub index: usize,
    pub error: Error,
    /// The group's later submissions that were refused too (rejections and
    /// conflicts, each decided as if the group's good submissions before it
    /// were appended), so a writer learns every bad index at once.
    pub also: Vec<(usize, Error)>,
}

impl GroupError {
    pub fn at(index: usize, error: Error) -> GroupError {
        GroupError { index, error, also: Vec::new() }
    }
}

/// What writers queue for the committer.
enum Request {
    /// A group, appended all or nothing.
    Group { submissions: Vec<Checked>, reply: oneshot::Sender<Result<Vec<Appended>, GroupError>> },
    /// An import: one group streamed in chunks (see [`import`]).
    Import(import::Job),
}

pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub cache_bytes: u64,
    /// Free space appends never eat into (see [`RESERVE_BYTES_DEFAULT`]).
    pub reserve_bytes: u64,
    /// Create the directory and an empty ledger if there is none.
    pub create: bool,
    /// Drop the Merkle tree's stored hashes and recompute them from the log
    /// on open (`amity rebuild`; after `verify` found them damaged).
    pub rebuild_merkle: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            cache_bytes: mib_from_env("AMITY_CACHE_MIB", CACHE_BYTES_DEFAULT),
            reserve_bytes: mib_from_env("AMITY_RESERVE_MIB", RESERVE_BYTES_DEFAULT),
            create: true,
            rebuild_merkle: false,
        }
    }
}

/// Free space, on the ledger's filesystem, that appends never eat into:
/// enough for sled to open (it writes a snapshot), for both checkpoints to
/// be saved and for reads to work. An append that would leave less is
/// refused ([`Error::NoSpace`]: exit 4, HTTP 507) and appends resume once
/// space is freed. `AMITY_RESERVE_MIB` in the environment sets another.
pub const RESERVE_BYTES_DEFAULT: u64 = 64 << 20;

/// A size in MiB from the environment variable `name`, or `default` (with
/// a warning when it is set but not a whole number).
fn mib_from_env(name: &str, default: u64) -> u64 {
    mib_or(name, std::env::var(name).ok().as_deref(), default)
}

/// `text` (the value of `name`) as MiB in bytes; `default` when absent, not
/// a whole number, or more bytes than a `u64` holds.
fn mib_or(name: &str, text: Option<&str>, default: u64) -> u64 {
    let Some(text) = text else { return default };
    text.trim().parse::<u64>().ok().and_then(|mib| mib.checked_mul(1 << 20)).unwrap_or_else(|| {
        tracing::warn!(variable = name, value = %text, "not a whole number of MiB that fits; using the default");
        default
    })
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
    log: sled::Tree,
    /// The Merkle tree's stored hashes, for reading (see [`merkle`]).
    merkle: std::fs::File,
    /// Named subscription positions: name → seq (u64 big-endian).
    subscriptions: sled::Tree,
    /// The views' and knowledge's checkpoints (read by `status` only).
    checkpoints: Checkpoints,
    head: watch::Receiver<Head>,
    /// Durable syncs since open (for benchmarks: their sizes).
    batches: Arc<AtomicU64>,
    /// What the ledger knows: written by the committer only. A std lock, not
    /// tokio's: nothing async happens while it is held.
    knowledge: Arc<RwLock<Knowledge>>,
    /// The live views, written by the projector only (std lock, as above).
    views: Arc<RwLock<Views>>,
    /// The seq the live views reflect.
    views_seq: watch::Receiver<u64>,
    tail: Arc<Tail>,
    failure: Arc<Failure>,
    sender: Mutex<Option<mpsc::Sender<Request>>>,
    /// Requests queued on `sender` and not yet answered.
    pending: Pending,
    /// The write path, for a writer that finds it idle; taken on close, so
    /// that its halves (and the head they publish) end with their threads.
    direct: Mutex<Option<Arc<Direct>>>,
    commands: Mutex<Option<mpsc::UnboundedSender<Command>>>,
    /// The committer, the syncer and the projector, in the order they stop.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The outcome of the closing flush, made once (by `close` or on drop).
    closed: std::sync::OnceLock<std::result::Result<(), String>>,
    /// sled's flush with a time limit (see [`flusher`]).
    flusher: Flusher,
}

impl Shared {
    /// Stops the write path after it has written everything queued, then
    /// the projector after it has folded it; returns whether every thread
    /// ended without panicking.
    fn stop(&self) -> bool {
        self.direct.lock().expect("not poisoned").take();
        self.sender.lock().expect("not poisoned").take();
        self.commands.lock().expect("not poisoned").take();
        let threads = std::mem::take(&mut *self.threads.lock().expect("not poisoned"));
        // Join every thread, even after one has panicked.
        let joined: Vec<bool> = threads.into_iter().map(|handle| handle.join().is_ok()).collect();
        joined.into_iter().all(|ok| ok)
    }
}

impl Shared {
    /// Stops the write path and flushes sled, once: a flush that sled never
    /// finishes costs [`FLUSH_LIMIT`] at most once, not again on drop, and
    /// nothing after a flush that already failed to return.
    fn close(&self) -> std::result::Result<(), String> {
        self.closed
            .get_or_init(|| {
                if !self.stop() {
                    return Err("a thread of the ledger panicked".into());
                }
                holder::Holder::release(&self.dir);
                self.flusher.flush().map_err(|e| format!("{e}; acknowledged records were already durable"))
            })
            .clone()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.closed.get().is_none() {
            if let Err(error) = self.close() {
                tracing::warn!(%error, "closing the ledger");
            }
        }
    }
}

/// What a sled error says, in words: sled 0.34 wraps some I/O errors as a
/// custom error holding the `Debug` text of the original (`Os { code: 28,
/// kind: StorageFull, .. }`) and shows every I/O error with `{:?}`; this
/// gives back the operating system's error (`No space left on device (os
/// error 28)`) where there is one.
pub(crate) fn plain(error: sled::Error) -> Source {
    let sled::Error::Io(io) = error else {
        return Box::new(error);
    };
    if io.raw_os_error().is_some() {
        return Box::new(io);
    }
    let text = io.get_ref().map(ToString::to_string).unwrap_or_default();
    let code = text
        .split_once("code: ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse::<i32>().ok());
    match code {
        Some(code) => Box::new(std::io::Error::from_raw_os_error(code)),
        None => Box::new(io),
    }
}

/// The message a panic carried, if it was a string.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs `read` (a call into sled) so that a panic inside sled becomes a
/// storage error naming `what` instead of unwinding through the caller.
fn guarded<T>(what: &str, read: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        Err(Error::storage(what.to_string(), format!("sled panicked: {}", panic_message(&*panic))))
    })
}

impl Ledger {
    /// Opens the ledger in `dir`: checks the log against its anchor, loads
    /// the knowledge and views from their checkpoints and catches both up
    /// from the log in one pass, then starts the committer, the syncer and
    /// the projector.
    pub fn open(dir: &Path, options: Options) -> Result<Ledger> {
        guarded("opening the ledger", || Ledger::open_inner(dir, options))
    }

    fn open_inner(dir: &Path, options: Options) -> Result<Ledger> {
        let sled_dir = dir.join("ledger");
        if !sled_dir.exists() {
            if !options.create {
                return Err(Error::Usage(format!("no ledger at {} (append or import creates one)", dir.display())));
            }
            std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        // Another live process that holds the ledger is reported at once;
        // only this process's own handle, still being released, is waited for.
        let held_by_other = || holder::Holder::read(dir).is_some_and(|h| h.is_other_and_alive());
        let db = open_sled(&sled_dir, options.cache_bytes, &held_by_other).map_err(|e| {
            if is_lock_held(&e) {
                match holder::Holder::read(dir).filter(holder::Holder::is_other_and_alive) {
                    Some(holder) => Error::InUse {
                        message: format!(
                            "{} is in use by {}: stop it, or read through its server with --url",
                            dir.display(),
                            holder.describe()
                        ),
                        url: holder.url,
                    },
                    None => {
                        Error::InUse { message: format!("{} is in use by another process", dir.display()), url: None }
                    }
                }
            } else if matches!(e, sled::Error::Corruption { .. }) {
                // open_sled already set damaged snapshots aside and retried.
                sled_error(
                    format!(
                        "cannot open {}: sled's files are damaged beyond what opening repairs ({WAY_BACK})",
                        sled_dir.display()
                    ),
                    e,
                )
            } else {
                sled_error(format!("cannot open {}", sled_dir.display()), e)
            }
        })?;
        // Ledgers from before the knowledge lived in memory had an index tree.
        if db.tree_names().iter().any(|name| name.as_ref() == b"index") {
            db.drop_tree("index")?;
        }
        let log = db.open_tree("log")?;
        if let Some(start) = import::pending(dir)? {
            take_back_import(&db, &log, dir, start)?;
        }
        let (last_seq, last_hash, last_at) = match log.last()? {
            None => (0, events::GENESIS_PREV.to_string(), String::new()),
            Some((key, value)) => {
                let seq = log_seq(&key)?;
                let record = Record::decode(&value).map_err(|problem| ChainError { seq, problem })?;
                (seq, record.hash, record.recorded_at)
            }
        };
        let anchor_path = dir.join("anchor");
        check_anchor(&log, &anchor_path, last_seq)?;
        // Checkpoints were sled values before they were files.
        if db.tree_names().iter().any(|name| name.as_ref() == b"checkpoints") {
            db.drop_tree("checkpoints")?;
        }
        let checkpoints = Checkpoints::new(dir);
        let subscriptions = db.open_tree("subscriptions")?;
        // A first version kept the tree's hashes in a sled tree.
        if db.tree_names().iter().any(|name| name.as_ref() == b"merkle") {
            db.drop_tree("merkle")?;
        }
        let (hash_file, frontier) = merkle::HashFile::open(dir, &log, last_seq, options.rebuild_merkle)?;
        let merkle_reader =
            hash_file.reader().map_err(|e| Error::storage("opening the Merkle tree's file for reading", e))?;
        let mut knowledge: Knowledge = checkpoints.load_or_default(&log)?;
        let mut views: Views = checkpoints.load_or_default(&log)?;
        let (mut knowledge_saved, mut views_saved) = (knowledge.seq(), views.seq);
        checkpoint::catch_up(Some(&mut views), Some(&mut knowledge), &log, last_seq, |_| {})?;
        if checkpoint::checkpoint_due(last_seq, knowledge_saved.min(views_saved)) {
            // Checkpoints are derived: failing to save them (a full disk)
            // must not stop a read, only make the next open slower.
            let saved = checkpoints.save(&knowledge, &last_hash).and_then(|()| checkpoints.save(&views, &last_hash));
            match saved {
                Ok(()) => (knowledge_saved, views_saved) = (last_seq, last_seq),
                Err(error) => {
                    tracing::warn!(%error, "could not save the checkpoints on open; the next open catches up again")
                }
            }
        }
        let mut anchor = AnchorFile::open(&anchor_path)?;
        if last_seq == 0 {
            anchor.write(&Anchor { seq: 0, hash: last_hash.clone() })?;
        }
        let db_file = std::fs::File::open(sled_dir.join("db"))
            .map_err(|e| Error::storage(format!("opening {}", sled_dir.join("db").display()), e))?;
        let flusher =
            Flusher::start(db.clone(), db_file, FLUSH_LIMIT).map_err(|e| Error::io("starting the flusher", e))?;
        let knowledge = Arc::new(RwLock::new(knowledge));
        let (views, views_seq) = (Arc::new(RwLock::new(views)), watch::channel(last_seq));
        let (head_tx, head_rx) = watch::channel(Head { seq: last_seq, hash: last_hash.clone() });
        let (written_tx, written_rx) = watch::channel(last_seq);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (batches, tail, failure) = (Arc::new(AtomicU64::new(0)), Arc::new(Tail::default()), Arc::default());
        let committer = Committer {
            log: log.clone(),
            checkpoints: checkpoints.clone(),
            knowledge: Arc::clone(&knowledge),
            knowledge_saved,
            sealer: Sealer::after(last_seq, &last_hash, &last_at),
            clock: options.clock,
            failure: Arc::clone(&failure),
            head: head_rx.clone(),
            unsynced: Default::default(),
            frontier,
            headroom: Headroom { dir: sled_dir.clone(), reserve_bytes: options.reserve_bytes },
            pending: Pending::default(),
            stopped: false,
        };
        let syncer = Syncer {
            log: log.clone(),
            merkle: hash_file,
            flusher: flusher.clone(),
            anchor,
            head: head_tx,
            tail: Arc::clone(&tail),
            failure: Arc::clone(&failure),
            batches: Arc::clone(&batches),
            dir: dir.to_path_buf(),
            written: written_tx,
            projector: commands.clone(),
            importing: None,
            pending: committer.pending.clone(),
        };
        let projector = Projector {
            log: log.clone(),
            checkpoints: checkpoints.clone(),
            views: Arc::clone(&views),
            views_seq: views_seq.0,
            head: head_rx.clone(),
            written: written_rx,
            tail: Arc::clone(&tail),
            folded: last_seq,
            saved: views_saved,
        };
        let pending = committer.pending.clone();
        let (sender, direct, mut threads) = committer::start(committer, syncer, QUEUE_REQUESTS_MAX)
            .map_err(|e| Error::io("starting the committer", e))?;
        let spawned =
            std::thread::Builder::new().name("amity-projector".into()).spawn(move || projector.run(command_rx));
        threads.push(spawned.map_err(|e| Error::io("starting the projector", e))?);
        if let Err(error) = holder::Holder::me().write(dir) {
            tracing::warn!(%error, "could not record this process as the ledger's holder");
        }
        Ok(Ledger {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                log,
                merkle: merkle_reader,
                subscriptions,
                checkpoints,
                batches,
                head: head_rx,
                knowledge,
                views,
                views_seq: views_seq.1,
                tail,
                failure,
                sender: Mutex::new(Some(sender)),
                pending,
                direct: Mutex::new(Some(Arc::new(direct))),
                commands: Mutex::new(Some(commands)),
                threads: Mutex::new(threads),
                closed: Default::default(),
                flusher,
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
            .ok_or_else(|| Error::Unavailable("the ledger is closed".into()))
    }

    /// Why the ledger stopped accepting writes, if it did (a storage error).
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.get()
    }

    /// Appends a group all-or-nothing and waits until it is durable. Must not
    /// be called from inside an async runtime (use [`Ledger::append_group_async`]).
    /// A writer that finds the write path idle does its work on this thread
    /// (see [`committer`]); otherwise the group is queued.
    pub fn append_group(&self, submissions: Vec<Checked>) -> Result<Vec<Appended>, GroupError> {
        let direct = self.shared.direct.lock().expect("not poisoned").clone();
        // Closed (no `direct`): queuing says so.
        let submissions = match direct {
            Some(direct) => match direct.append(submissions) {
                Ok(outcome) => return outcome,
                Err(submissions) => submissions,
            },
            None => submissions,
        };
        self.submit_group(submissions)?.wait()
    }

    /// Queues a group for appending without waiting for it: groups queued
    /// one after another are decided and written in that order, and the
    /// pipeline seals the next while the last is being synced. Must not be
    /// called from inside an async runtime.
    pub fn submit_group(&self, submissions: Vec<Checked>) -> Result<Submitted, GroupError> {
        let (reply, response) = oneshot::channel();
        let sender = self.sender().map_err(|error| GroupError::at(0, error))?;
        self.shared.pending.add(1);
        sender.blocking_send(Request::Group { submissions, reply }).map_err(|_| self.unqueued())?;
        Ok(Submitted(response))
    }

    /// The async form of [`Ledger::append_group`]. It always queues: the
    /// write path's own threads wait for the sync, not a runtime's worker.
    pub async fn append_group_async(&self, submissions: Vec<Checked>) -> Result<Vec<Appended>, GroupError> {
        let (reply, response) = oneshot::channel();
        let sender = self.sender().map_err(|error| GroupError::at(0, error))?;
        self.shared.pending.add(1);
        sender.send(Request::Group { submissions, reply }).await.map_err(|_| self.unqueued())?;
        response.await.map_err(|_| stopped())?
    }

    /// A request that could not be queued (the committer has stopped) is
    /// not pending.
    fn unqueued(&self) -> GroupError {
        self.shared.pending.done(1);
        stopped()
    }

    /// Appends one submission and waits until it is durable.
    pub fn append(&self, submission: Checked) -> Result<Appended> {
        self.append_group(vec![submission])
            .map(|mut appended| appended.pop().expect("one submission, one result"))
            .map_err(|e| e.error)
    }

    /// Whether the record at `seq` has been retracted (an `event.retracted`
    /// record names it).
    pub fn is_retracted(&self, seq: u64) -> bool {
        self.shared.knowledge.read().expect("not poisoned").is_retracted(seq)
    }

    /// Records, for other commands, that this process serves the ledger at
    /// `url` (see [`holder`]).
    pub fn announce(&self, url: &str) {
        let holder = holder::Holder { url: Some(url.to_string()), ..holder::Holder::me() };
        if let Err(error) = holder.write(&self.shared.dir) {
            tracing::warn!(%error, "could not record the server's address in the ledger directory");
        }
    }

    /// What `amity status` reports: the head, the records by type, the
    /// first and last `recorded_at`, where the views and their checkpoint
    /// stand, the ledger's size on disk, free space, and who holds it.
    pub fn status(&self) -> Result<Status> {
        let head = self.head();
        let recorded_at = |seq: u64| -> Result<Option<String>> {
            let Some(bytes) = self.get_bytes(seq)? else { return Ok(None) };
            let record = Record::decode(&bytes).map_err(|problem| ChainError { seq, problem })?;
            Ok(Some(record.recorded_at.to_string()))
        };
        let types = self.shared.knowledge.read().expect("not poisoned").type_counts(head.seq);
        let checkpoint = self.shared.checkpoints.saved_seq::<Views>()?;
        Ok(Status {
            dir: self.shared.dir.display().to_string(),
            seq: head.seq,
            head: head.hash,
            first_recorded_at: if head.seq == 0 { None } else { recorded_at(1)? },
            last_recorded_at: if head.seq == 0 { None } else { recorded_at(head.seq)? },
            types: types.into_iter().map(|(t, n)| (t.as_str().to_string(), n)).collect(),
            views_seq: self.views_seq(),
            views_checkpoint_seq: checkpoint,
            disk_bytes: disk_bytes(&self.shared.dir),
            free_bytes: fs2::available_space(&self.shared.dir).ok(),
            holder: holder::Holder::read(&self.shared.dir),
        })
    }

    /// Transaction time by the clock: the last seq recorded at or before
    /// `at` (0 if none was). `recorded_at` never goes back along the chain,
    /// so this is a binary search of O(log n) reads.
    pub fn seq_at(&self, at: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let at = events::append::recorded_at(at);
        let recorded_at = |seq: u64| -> Result<String> {
            let bytes = self.get_bytes(seq)?.ok_or_else(|| Error::Unavailable(format!("seq {seq} is not durable")))?;
            Ok(Record::decode(&bytes).map_err(|problem| ChainError { seq, problem })?.recorded_at)
        };
        let (mut known, mut after) = (0, self.head().seq + 1);
        while after - known > 1 {
            let mid = known + (after - known) / 2;
            if recorded_at(mid)? <= at {
                known = mid;
            } else {
                after = mid;
            }
        }
        Ok(known)
    }

    /// The ledger's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The stored bytes at `seq`, if it is durable.
    pub fn get_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        if seq > self.head().seq {
            return Ok(None);
        }
        let what = format!("reading seq {seq}");
        let stored = guarded(&what, || {
            self.shared
                .log
                .get(seq.to_be_bytes())
                .map_err(|e| Error::Storage { context: what.clone(), source: plain(e) })
        })?;
        Ok(stored.map(|v| v.to_vec()))
    }

    pub fn get(&self, seq: u64) -> Result<Option<Record>> {
        match self.get_bytes(seq)? {
            None => Ok(None),
            Some(bytes) => {
                Record::decode(&bytes).map(Some).map_err(|problem| Error::Chain(ChainError { seq, problem }))
            }
        }
    }

    /// The seq of the durable record with this id.
    pub fn seq_of(&self, id: &str) -> Result<Option<u64>> {
        let seq = self.shared.knowledge.read().expect("not poisoned").seq_of(id);
        Ok(seq.filter(|seq| *seq <= self.head().seq))
    }

    /// Durable records from `from` to `to` inclusive, from the in-memory
    /// tail when it still holds them (`None` when the log must be read).
    pub fn recent(&self, from: u64, to: u64) -> Option<Vec<Arc<Committed>>> {
        self.shared.tail.get(from, to.min(self.head().seq))
    }

    /// Stored `(seq, bytes)` of durable records from `from` to `to`
    /// inclusive, in seq order.
    pub fn range_bytes(&self, from: u64, to: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        let to = to.min(self.head().seq);
        let mut entries = self.shared.log.range(from.to_be_bytes()..=to.to_be_bytes());
        let mut failed = from > to;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let next = guarded("reading the log", || {
                let Some(entry) = entries.next() else { return Ok(None) };
                let (key, value) = entry?;
                Ok(Some((log_seq(&key)?, value.to_vec())))
            });
            failed = next.is_err();
            next.transpose()
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
    /// [`VERIFY_WORKERS`] threads take turns at chunks of the log's key
    /// range, each reading its chunk from sled itself and checking each
    /// record on its own (canonical form, hash, leaf hash, the chunk's
    /// Merkle root); this thread links the records in seq order, so the
    /// first failure reported is the first in the chain.
    pub fn verify(&self, progress: impl FnMut(u64)) -> Result<Verified> {
        guarded("verifying the log", || self.verify_inner(progress))
    }

    fn verify_inner(&self, mut progress: impl FnMut(u64)) -> Result<Verified> {
        // Check up to the durable head as it stood at the start, so that
        // appends made meanwhile by a live server do not count as damage.
        let head = self.head();
        let mut verifier = ChainVerifier::default();
        /// Each record's key and link, and the Merkle root of the chunk's
        /// leaves (a chunk is a complete, aligned subtree but the last).
        type CheckedChunk =
            std::result::Result<(Vec<(sled::IVec, std::result::Result<Link, String>)>, CompactRange), sled::Error>;
        let chunk_len = VERIFY_CHUNK_RECORDS as u64;
        let chunks = head.seq.div_ceil(chunk_len);
        let mut tree = CompactRange::default();
        std::thread::scope(|scope| -> Result<()> {
            let mut from_workers = Vec::new();
            for worker in 0..VERIFY_WORKERS {
                let (results_tx, results) = std::sync::mpsc::sync_channel::<CheckedChunk>(2);
                let log = &self.shared.log;
                scope.spawn(move || {
                    for index in (worker as u64..chunks).step_by(VERIFY_WORKERS) {
                        // Together the chunks' key ranges are the log's up
                        // to the head, `..=head`: a key of another length
                        // or out of place lands in one of them.
                        let first = index * chunk_len + 1;
                        let from = match index {
                            0 => Bound::Unbounded,
                            _ => Bound::Included(first.to_be_bytes()),
                        };
                        let to = match first + chunk_len {
                            next if next > head.seq => Bound::Included(head.seq.to_be_bytes()),
                            next => Bound::Excluded(next.to_be_bytes()),
                        };
                        let checked = log.range((from, to)).try_fold(
                            (Vec::with_capacity(VERIFY_CHUNK_RECORDS), CompactRange::default()),
                            |(mut links, mut tree), entry| {
                                let (key, value) = entry?;
                                tree.push_leaf(events::merkle::record_hash(&value));
                                links.push((key, check_stored(&value)));
                                Ok((links, tree))
                            },
                        );
                        let failed = checked.is_err();
                        if results_tx.send(checked).is_err() || failed {
                            return;
                        }
                    }
                });
                from_workers.push(results);
            }
            for index in 0..chunks {
                let Ok(checked) = from_workers[index as usize % VERIFY_WORKERS].recv() else {
                    break;
                };
                let (links, chunk_tree) = checked?;
                for (key, link) in links {
                    verifier.link(&key, link)?;
                    progress(verifier.count());
                }
                tree.extend(chunk_tree);
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
        // The Merkle tree is derived: its stored root must be the records'.
        let stored = self.tree_hash(head.seq)?;
        if stored != tree.root() {
            return Err(ChainError {
                seq: head.seq,
                problem: format!(
                    "the Merkle tree's stored root {stored} differs from the records' {}: its stored hashes are damaged; `amity rebuild` recomputes them from the log",
                    tree.root()
                ),
            }
            .into());
        }
        Ok(Verified { count: verifier.count(), head: verifier.head_hash().to_string() })
    }

    /// The root hash of the Merkle tree of the first `size` records
    /// (`size` at most the durable head).
    pub fn tree_hash(&self, size: u64) -> Result<events::merkle::Hash> {
        self.check_tree_size(size)?;
        guarded("reading the Merkle tree", || {
            events::merkle::tree_hash(size, &merkle::StoredHashes(&self.shared.merkle))
                .map_err(|e| Error::storage(format!("the Merkle tree at size {size}"), e.to_string()))
        })
    }

    /// The inclusion proof (RFC 6962 audit path) of record `seq` in the tree
    /// of the first `size` records.
    pub fn prove_inclusion(&self, seq: u64, size: u64) -> Result<Vec<events::merkle::Hash>> {
        self.check_tree_size(size)?;
        if seq == 0 || seq > size {
            return Err(Error::Usage(format!("seq: {seq} is not in a tree of {size} records (1..={size})")));
        }
        guarded("reading the Merkle tree", || {
            events::merkle::prove_record(size, seq - 1, &merkle::StoredHashes(&self.shared.merkle))
                .map_err(|e| Error::storage(format!("proving seq {seq} in size {size}"), e.to_string()))
        })
    }

    /// The consistency proof that the tree of the first `to` records extends
    /// the tree of the first `from`.
    pub fn prove_consistency(&self, from: u64, to: u64) -> Result<Vec<events::merkle::Hash>> {
        self.check_tree_size(to)?;
        if from == 0 || from > to {
            return Err(Error::Usage(format!("from: {from} must be at least 1 and at most to ({to})")));
        }
        guarded("reading the Merkle tree", || {
            events::merkle::prove_tree(to, from, &merkle::StoredHashes(&self.shared.merkle))
                .map_err(|e| Error::storage(format!("proving {from} → {to}"), e.to_string()))
        })
    }

    fn check_tree_size(&self, size: u64) -> Result<()> {
        let head = self.head().seq;
        if size > head {
            return Err(Error::Usage(format!("size: {size} is beyond the durable head {head}")));
        }
        Ok(())
    }

    /// Stores a named subscription's position durably: the consumer has
    /// handled every record up to and including `seq`.
    pub fn ack(&self, name: &str, seq: u64) -> Result<()> {
        check_subscription_name(name)?;
        let head = self.head().seq;
        if seq > head {
            return Err(Error::Usage(format!("seq: {seq} is beyond the durable head {head}")));
        }
        if let Some(reason) = self.failure() {
            return Err(Error::Unavailable(format!("the ledger stopped after a storage error: {reason}")));
        }
        guarded("storing a subscription position", || {
            Ok(self.shared.subscriptions.insert(name.as_bytes(), &seq.to_be_bytes())?)
        })?;
        self.shared.flusher.flush().map_err(|e| Error::storage(format!("storing the position of `{name}`"), e))
    }

    /// A named subscription's stored position, if it has one.
    pub fn position(&self, name: &str) -> Result<Option<u64>> {
        check_subscription_name(name)?;
        let stored = self.shared.subscriptions.get(name.as_bytes())?;
        Ok(stored.and_then(|v| be_u64(&v)))
    }

    /// Reads the live views once they reflect every record durable when
    /// called (read-your-writes: an append acknowledged before this call is
    /// in what `read` sees).
    pub fn read_views<T>(&self, read: impl FnOnce(&Views) -> T) -> T {
        self.wait_for_views(self.head().seq);
        read(&self.shared.views.read().expect("not poisoned"))
    }

    /// The seq the live views reflect now.
    pub fn views_seq(&self) -> u64 {
        *self.shared.views_seq.borrow()
    }

    /// Waits until the views reflect `seq` (or the projector has stopped).
    pub fn wait_for_views(&self, seq: u64) {
        let mut views_seq = self.shared.views_seq.clone();
        let _ = futures::executor::block_on(views_seq.wait_for(|folded| *folded >= seq));
    }

    /// The async form of [`Ledger::wait_for_views`].
    pub async fn views_reflect(&self, seq: u64) {
        let mut views_seq = self.shared.views_seq.clone();
        let _ = views_seq.wait_for(|folded| *folded >= seq).await;
    }

    /// Drops the views and their checkpoint and refolds the log up to the
    /// durable head, calling `progress` with each seq; returns how many
    /// records were folded. The projector does it between two folds, so
    /// appends go on meanwhile and every record is folded exactly once.
    pub fn rebuild(&self, progress: impl FnMut(u64) + Send + 'static) -> Result<u64> {
        self.send_rebuild(Box::new(progress), false)
    }

    /// [`Ledger::rebuild`] for a ledger whose views nobody reads until it
    /// returns (`amity rebuild`): the old views are dropped before the
    /// refold instead of serving readers meanwhile, so memory holds one set
    /// of views rather than two (at 1M records, ~300 MB less at the peak).
    pub fn rebuild_alone(&self, progress: impl FnMut(u64) + Send + 'static) -> Result<u64> {
        self.send_rebuild(Box::new(progress), true)
    }

    fn send_rebuild(&self, progress: Box<dyn FnMut(u64) + Send>, alone: bool) -> Result<u64> {
        let (reply, response) = oneshot::channel();
        let command = Command::Rebuild { progress, alone, reply };
        let commands = self.shared.commands.lock().expect("not poisoned").clone();
        let sent = commands.is_some_and(|commands| commands.send(command).is_ok());
        if !sent {
            return Err(Error::Unavailable("the ledger is closed".into()));
        }
        response.blocking_recv().map_err(|_| Error::Unavailable("the projector has stopped".into()))?
    }

    /// Folds the log up to the durable head into fresh views (decoding on a
    /// second thread), touching neither the live views nor the checkpoint.
    pub fn refold(&self, progress: impl FnMut(u64)) -> Result<Views> {
        let mut views = Views::default();
        checkpoint::catch_up(Some(&mut views), None, &self.shared.log, self.head().seq, progress)?;
        Ok(views)
    }

    /// A consistent copy of this ledger, as of its durable head now, into a
    /// new ledger at `dest` (which must not exist); the copy is verified and
    /// its head compared with this one's. Appends may continue meanwhile.
    pub fn backup(&self, dest: &Path) -> Result<Verified> {
        let head = self.head();
        let copied = Ledger::restore(dest, self.range_bytes(1, head.seq).map(|entry| entry.map(|(_, bytes)| bytes)))?;
        if copied.count != head.seq || copied.head != head.hash {
            return Err(ChainError {
                seq: copied.count,
                problem: format!("the backup ends at hash {}, not seq {} hash {}", copied.head, head.seq, head.hash),
            }
            .into());
        }
        Ok(copied)
    }

    /// Creates a ledger at `dir` (which must not exist) from stored records,
    /// byte for byte (an `amity export`, or another ledger's log), checking
    /// the chain as they come. This is the one writer of a `log` tree besides
    /// the committer: it runs before any committer exists for `dir`. The
    /// knowledge and views are then derived on open, as after a crash.
    pub fn restore(dir: &Path, records: impl Iterator<Item = Result<Vec<u8>>>) -> Result<Verified> {
        if dir.exists() {
            return Err(Error::Usage(format!("{} already exists; restore only into a new directory", dir.display())));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        // Nothing half-written stays behind: a failed restore removes what it
        // made (and a crashed one leaves no anchor, so it cannot be opened).
        Ledger::restore_into(dir, records).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(dir);
        })
    }

    fn restore_into(dir: &Path, records: impl Iterator<Item = Result<Vec<u8>>>) -> Result<Verified> {
        let sled_dir = dir.join("ledger");
        let db = open_sled(&sled_dir, Options::default().cache_bytes, &|| false)?;
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
        std::fs::File::open(sled_dir.join("db"))
            .and_then(|file| file.sync_data())
            .map_err(|e| Error::storage("syncing the restored ledger", e))?;
        let verified = Verified { count: verifier.count(), head: verifier.head_hash().to_string() };
        // The Merkle tree of what was restored, computed here (not left for
        // the next open to complete, as a repair).
        merkle::HashFile::open(dir, &log, verified.count, true)?;
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
        let closed = self.shared.close();
        if let Some(reason) = self.shared.failure.get() {
            return Err(Error::Unavailable(format!("the ledger stopped after a storage error: {reason}")));
        }
        closed.map_err(|message| Error::storage("closing the ledger", message))
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

/// Opens sled at `path`, first setting aside what a cut-short write of
/// sled's own left behind (see [`remove_unfinished_snapshots`]); if sled
/// still finds its newest snapshot damaged, moves the snapshots aside and
/// opens again, so that sled rebuilds its page table from its log. Each
/// step is logged as a warning; the caller then checks the log against the
/// anchor.
fn open_sled(path: &Path, cache_bytes: u64, held_by_other: &dyn Fn() -> bool) -> sled::Result<sled::Db> {
    for removed in remove_unfinished_snapshots(path)? {
        tracing::warn!(file = %removed.display(), "removed an unfinished sled snapshot (a write cut short by a full disk or a crash)");
    }
    match open_sled_once(path, cache_bytes, held_by_other) {
        Err(damaged @ sled::Error::Corruption { .. }) => {
            let snapshots = snapshot_files(path)?;
            if snapshots.is_empty() {
                return Err(damaged);
            }
            let aside = path.join(DAMAGED_SNAPSHOTS_DIR);
            std::fs::create_dir_all(&aside)?;
            for snapshot in snapshots {
                let to = aside.join(snapshot.file_name().unwrap_or_default());
                std::fs::rename(&snapshot, &to)?;
                tracing::warn!(from = %snapshot.display(), to = %to.display(), "sled's snapshot is damaged: moved it aside; sled rebuilds it from its log");
            }
            open_sled_once(path, cache_bytes, held_by_other)
        }
        result => result,
    }
}

/// Where damaged sled snapshots are moved (inside the sled directory), kept
/// for inspection; nothing reads them.
pub const DAMAGED_SNAPSHOTS_DIR: &str = "damaged-snapshots";

/// sled's snapshot files (`snap.*`) in `path`, finished or not.
fn snapshot_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        entries => entries?,
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("snap.") && entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    Ok(files)
}

/// sled 0.34 writes a snapshot to `snap.<lsn>.generating` and renames it
/// once complete and synced, but on open reads the newest `snap.*` file,
/// `.generating` included: a snapshot write cut short by a full disk (which
/// sled attempts on every open, so even a read-only command) leaves an empty
/// file that made every later open fail with "Read corrupted data". Such a
/// file is unfinished by definition; this removes it and returns its path.
fn remove_unfinished_snapshots(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for file in snapshot_files(path)? {
        if file.extension().is_some_and(|extension| extension == "generating") {
            std::fs::remove_file(&file)?;
            removed.push(file);
        }
    }
    Ok(removed)
}

fn open_sled_once(path: &Path, cache_bytes: u64, held_by_other: &dyn Fn() -> bool) -> sled::Result<sled::Db> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        // No background flusher: the committer flushes every batch itself.
        .flush_every_ms(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(LOCK_WAIT_MS);
    loop {
        match config.open() {
            Err(e) if is_lock_held(&e) && std::time::Instant::now() < deadline && !held_by_other() => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// A group queued by [`Ledger::submit_group`].
pub struct Submitted(oneshot::Receiver<Result<Vec<Appended>, GroupError>>);

impl Submitted {
    /// Waits until the group is durable (or refused).
    pub fn wait(self) -> Result<Vec<Appended>, GroupError> {
        self.0.blocking_recv().map_err(|_| stopped())?
    }
}

fn stopped() -> GroupError {
    GroupError::at(0, Error::Unavailable("the committer has stopped".into()))
}

/// What an error about a ledger beyond repair tells the user to do.
pub const WAY_BACK: &str = "the way back is a new ledger from a copy: `amity --db NEW restore EXPORT` from an `amity export` or the export of an `amity backup`, or `amity --db NEW restore --nats URL --stream NAME` from the stream `amity relay` filled";

/// Removes the records of an import that never became durable (a crash or
/// a storage error ended it; see [`import`]): every record from `start` on.
fn take_back_import(db: &sled::Db, log: &sled::Tree, dir: &Path, start: u64) -> Result<()> {
    let end = match log.last()? {
        Some((key, _)) => log_seq(&key)?,
        None => 0,
    };
    let count = import::remove_records(log, start, end)?;
    db.flush()?;
    import::unmark(dir).map_err(|e| Error::storage("removing the import's marker", e))?;
    tracing::warn!(start, records = count, "took back an import that did not finish (it was never acknowledged)");
    Ok(())
}

/// Refuses a log that lost or altered acknowledged records.
fn check_anchor(log: &sled::Tree, path: &Path, last_seq: u64) -> Result<()> {
    let Some(anchor) = AnchorFile::read(path)? else {
        if last_seq == 0 {
            return Ok(());
        }
        let problem = format!("missing for a ledger of {last_seq} records; {WAY_BACK}");
        return Err(Error::storage(format!("the anchor {}", path.display()), problem));
    };
    if anchor.seq > last_seq {
        return Err(Error::Chain(ChainError {
            seq: last_seq + 1,
            problem: format!(
                "missing: the log ends at seq {last_seq} but seq {} was acknowledged (anchor); {WAY_BACK}",
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

#[cfg(test)]
mod sizes_from_env {
    use super::mib_or;

    #[test]
    fn a_whole_number_is_mib_and_anything_else_the_default() {
        assert_eq!(mib_or("AMITY_CACHE_MIB", Some("48"), 7), 48 << 20);
        assert_eq!(mib_or("AMITY_CACHE_MIB", Some(" 16\n"), 7), 16 << 20);
        assert_eq!(mib_or("AMITY_CACHE_MIB", Some("16MiB"), 7), 7);
        assert_eq!(mib_or("AMITY_CACHE_MIB", Some("-1"), 7), 7);
        assert_eq!(mib_or("AMITY_CACHE_MIB", Some("18446744073709551615"), 7), 7);
        assert_eq!(mib_or("AMITY_CACHE_MIB", None, 7), 7);
    }
}
