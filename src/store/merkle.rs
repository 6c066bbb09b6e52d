//! The Merkle tree's storage: `DIR/merkle`, a flat file of the tree's stored
//! hashes (layout: `events::merkle`), hash `i` at byte offset `32 × i`, and
//! `DIR/merkle.synced`, how many of them are known durable.
//!
//! The syncer appends each batch's hashes with one positioned write, and
//! makes them durable at most [`MERKLE_SYNC_INTERVAL`] apart (`fdatasync`,
//! then the count in `merkle.synced`), never on the acknowledgement path:
//! the tree is derived from the log, so a crash may cost the unsynced tail,
//! which the next open recomputes from the log. A sled tree with a key per
//! stored hash cost a third of append throughput (BENCHMARKS.md); a flat
//! file costs one `pwrite` per batch.
//! Must never: trust a hash past the synced count, or keep hashes for
//! records the log does not hold.

use super::{log_seq, sled_error};
use crate::error::{Error, Result};
use events::merkle::{stored_hash_count, Frontier, Hash, HashReader};
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest time appended hashes wait for their `fdatasync`.
pub const MERKLE_SYNC_INTERVAL: Duration = Duration::from_secs(1);

const HASH_BYTES: u64 = 32;

/// The file names, in the ledger directory.
pub const MERKLE_FILE: &str = "merkle";
pub const MERKLE_SYNCED_FILE: &str = "merkle.synced";

/// Reads stored hashes from the file (any handle to it).
pub struct StoredHashes<'a>(pub &'a File);

impl HashReader for StoredHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, events::merkle::Error> {
        indexes
            .iter()
            .map(|index| {
                let mut hash = [0u8; 32];
                self.0
                    .read_exact_at(&mut hash, index * HASH_BYTES)
                    .map(|()| Hash(hash))
                    .map_err(|e| events::merkle::Error::InvalidInput(format!("reading stored hash {index}: {e}")))
            })
            .collect()
    }
}

/// The writer's handle: the file, how many hashes it holds, how many are
/// known durable.
pub(super) struct HashFile {
    file: File,
    synced_path: PathBuf,
    len: u64,
    unsynced_since: Option<Instant>,
}

impl HashFile {
    /// Opens (or creates) the tree for a log of `last_seq` records: drops
    /// what is past the synced count or past the log, recomputes the rest
    /// from the log, and returns the file with the tree's frontier. With
    /// `rebuild`, starts from nothing.
    pub fn open(dir: &Path, log: &sled::Tree, last_seq: u64, rebuild: bool) -> Result<(HashFile, Frontier)> {
        let (path, synced_path) = (dir.join(MERKLE_FILE), dir.join(MERKLE_SYNCED_FILE));
        let io = |what: &str, e: std::io::Error| Error::storage(format!("{what} {}", path.display()), e);
        if rebuild {
            for file in [&synced_path, &path] {
                match std::fs::remove_file(file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("removing", e)),
                    _ => {}
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("opening", e))?;
        let stored = file.metadata().map_err(|e| io("reading", e))?.len() / HASH_BYTES;
        let synced = match std::fs::read(&synced_path) {
            Ok(bytes) => bytes.get(..8).map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8 bytes"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io("reading the synced count of", e)),
        };
        let trusted = stored.min(synced);
        // The most records whose stored hashes are all trusted.
        let (mut complete, mut hi) = (0u64, last_seq);
        while complete < hi {
            let mid = complete + (hi - complete).div_ceil(2);
            if stored_hash_count(mid) <= trusted {
                complete = mid;
            } else {
                hi = mid - 1;
            }
        }
        let mut hashes = HashFile { file, synced_path, len: stored_hash_count(complete), unsynced_since: None };
        hashes.file.set_len(hashes.len * HASH_BYTES).map_err(|e| io("truncating", e))?;
        let needed = Frontier::needed(complete);
        let frontier_hashes = StoredHashes(&hashes.file)
            .read_hashes(&needed)
            .map_err(|e| Error::storage("reading the Merkle tree's frontier", e.to_string()))?;
        let mut frontier =
            Frontier::from_stored(complete, frontier_hashes).map_err(|e| Error::storage("the Merkle tree", e))?;
        if complete < last_seq {
            if rebuild {
                tracing::info!(records = last_seq, "computing the Merkle tree from the log");
            } else {
                tracing::warn!(from = complete + 1, to = last_seq, "completing the Merkle tree from the log");
            }
            let mut pending: Vec<(u64, Hash)> = Vec::new();
            for entry in log.range((complete + 1).to_be_bytes()..=last_seq.to_be_bytes()) {
                let (key, value) = entry.map_err(|e| sled_error("reading the log", e))?;
                let seq = log_seq(&key)?;
                pending.extend(frontier.push(&value));
                if seq % super::BATCH_SUBMISSIONS_MAX as u64 == 0 {
                    hashes.append(&std::mem::take(&mut pending)).map_err(|e| io("writing", e))?;
                }
            }
            hashes.append(&pending).map_err(|e| io("writing", e))?;
        }
        if hashes.len != synced {
            hashes.sync().map_err(|e| io("syncing", e))?;
        }
        Ok((hashes, frontier))
    }

    /// A handle for readers.
    pub fn reader(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }

    /// Appends stored hashes (consecutive, starting at the file's end).
    pub fn append(&mut self, hashes: &[(u64, Hash)]) -> std::io::Result<()> {
        let Some((first, _)) = hashes.first() else { return Ok(()) };
        if *first != self.len {
            return Err(std::io::Error::other(format!(
                "stored hash {first} is not the next ({}) in the Merkle tree's file",
                self.len
            )));
        }
        let bytes: Vec<u8> = hashes.iter().flat_map(|(_, hash)| hash.0).collect();
        self.file.write_all_at(&bytes, self.len * HASH_BYTES)?;
        self.len += hashes.len() as u64;
        self.unsynced_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Keeps the stored hashes of the first `records` records only (a
    /// refused import's are dropped), durably.
    pub fn truncate(&mut self, records: u64) -> std::io::Result<()> {
        let len = stored_hash_count(records);
        if len >= self.len {
            return Ok(());
        }
        self.file.set_len(len * HASH_BYTES)?;
        self.len = len;
        self.sync()
    }

    /// Syncs if appended hashes have waited [`MERKLE_SYNC_INTERVAL`].
    pub fn sync_lazily(&mut self) -> std::io::Result<()> {
        match self.unsynced_since {
            Some(since) if since.elapsed() >= MERKLE_SYNC_INTERVAL => self.sync(),
            _ => Ok(()),
        }
    }

    /// Makes every appended hash durable, then records how many there are.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()?;
        let marker = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&self.synced_path)?;
        marker.write_all_at(&self.len.to_be_bytes(), 0)?;
        marker.sync_data()?;
        self.unsynced_since = None;
        Ok(())
    }
}
