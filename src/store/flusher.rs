//! Making sled's writes durable without ever waiting forever for it.
//!
//! After an I/O error inside sled 0.34 (seen under a full disk and under
//! `fiu-run` injected faults), its flush can park forever on a buffer that
//! will never be written. A flush is therefore made on a thread of its own,
//! and whoever asked waits for it at most [`FLUSH_LIMIT`]: past that the
//! flush counts as failed, the ledger stops (fail-stop), and every later
//! flush fails at once with the same reason instead of waiting again.
//! Must never: report a flush as done that did not return `Ok`.

use std::fs::File;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for one flush (sled's flush and the `fdatasync` of its
/// file). A healthy flush of the largest batches takes well under a second;
/// one that takes this long is waiting on a write that failed.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// One flushing thread, shared by the syncer, subscription acks and close.
#[derive(Clone)]
pub(super) struct Flusher {
    inner: Arc<Mutex<Inner>>,
}

/// What the flushing thread is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// sled's flush, then `fdatasync` of its file.
    Durable,
    /// sled's flush alone.
    WriteOut,
}

/// How the caller waits for the flushing thread's answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// Asleep until it comes.
    Park,
    /// Polling for up to [`SPIN_LIMIT`], then asleep: for a caller with a
    /// core to spare (a lone writer on its own thread). Waking a sleeping
    /// thread costs tens of microseconds on this kind of machine, a tenth of
    /// a lone append; a thread that polls has the answer at once. Not for
    /// the syncer with many writers: its core is the one they and the
    /// committer need meanwhile (BENCHMARKS.md, eighteenth pass).
    Poll,
}

/// Longest a polling caller polls before it sleeps: a few flushes' worth
/// (one takes 0.15–0.3 ms), so a slow disk costs a core no longer than this.
const SPIN_LIMIT: Duration = Duration::from_millis(1);

struct Inner {
    requests: SyncSender<Ask>,
    results: Receiver<Result<(), String>>,
    /// Set once a flush failed to return within the limit: the thread is
    /// still parked in it, so nothing else may be asked of it.
    stuck: Option<String>,
    limit: Duration,
}

impl Flusher {
    /// Starts the thread that flushes `db` and then `fdatasync`s `file`
    /// (sled 0.34's flush uses `sync_file_range`, which survives `kill -9`
    /// but not a power cut).
    pub fn start(db: sled::Db, file: File, limit: Duration) -> std::io::Result<Flusher> {
        let (requests, asked) = sync_channel::<Ask>(0);
        let (answer, results) = sync_channel(1);
        std::thread::Builder::new().name("amity-flusher".into()).spawn(move || {
            for ask in asked {
                let flushed = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.flush())) {
                    Ok(Ok(_)) if ask == Ask::Durable => {
                        file.sync_data().map_err(|e| format!("syncing sled's file: {e}"))
                    }
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("flushing sled: {}", super::plain(e))),
                    Err(panic) => Err(format!("sled panicked while flushing: {}", super::panic_message(&panic))),
                };
                if answer.send(flushed).is_err() {
                    break;
                }
            }
        })?;
        Ok(Flusher { inner: Arc::new(Mutex::new(Inner { requests, results, stuck: None, limit })) })
    }

    /// Flushes and waits for it, at most the limit, asleep.
    pub fn flush(&self) -> Result<(), String> {
        self.flush_waiting(Wait::Park)
    }

    /// Flushes and waits for it as `wait` says, at most the limit.
    pub fn flush_waiting(&self, wait: Wait) -> Result<(), String> {
        self.ask(Ask::Durable, wait)
    }

    /// sled's flush alone, without the `fdatasync`: what is written reaches
    /// the file (it survives `kill -9`, not a power cut), and sled may reuse
    /// the space of the pages it replaced. An import does this after each
    /// batch: with one flush at its end instead, sled reused none of that
    /// space until then and its file grew by a fifth (BENCHMARKS.md,
    /// eighteenth pass). The records stay unacknowledged either way.
    pub fn write_out(&self) -> Result<(), String> {
        self.ask(Ask::WriteOut, Wait::Park)
    }

    fn ask(&self, ask: Ask, wait: Wait) -> Result<(), String> {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(stuck) = &inner.stuck {
            return Err(stuck.clone());
        }
        if inner.requests.send(ask).is_err() {
            return Err("the flushing thread has stopped".into());
        }
        let asked = Instant::now();
        if wait == Wait::Poll {
            while asked.elapsed() < SPIN_LIMIT {
                match inner.results.try_recv() {
                    Ok(flushed) => return flushed,
                    Err(TryRecvError::Empty) => std::hint::spin_loop(),
                    // The wait below says so at once.
                    Err(TryRecvError::Disconnected) => break,
                }
            }
        }
        match inner.results.recv_timeout(inner.limit.saturating_sub(asked.elapsed())) {
            Ok(flushed) => flushed,
            Err(RecvTimeoutError::Disconnected) => Err("the flushing thread has stopped".into()),
            Err(RecvTimeoutError::Timeout) => {
                let stuck = format!(
                    "sled's flush did not return within {} s (it waits on a write that failed underneath)",
                    inner.limit.as_secs_f64()
                );
                inner.stuck = Some(stuck.clone());
                Err(stuck)
            }
        }
    }
}
