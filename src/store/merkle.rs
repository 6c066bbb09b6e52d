//! The Merkle tree's storage: the sled tree `merkle`, key = stored hash index
//! (8 bytes big-endian), value = the 32-byte hash (layout: `events::merkle`).
//! Written by the syncer in the same durable batch as the records; derived
//! data, so an open finds it complete or completes it from the log.

use super::{be_u64, log_seq, sled_error};
use crate::error::{Error, Result};
use events::merkle::{stored_hash_count, Frontier, Hash, HashReader};

/// Reads stored hashes from the `merkle` tree.
pub(super) struct StoredHashes<'a>(pub &'a sled::Tree);

impl HashReader for StoredHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, events::merkle::Error> {
        indexes
            .iter()
            .map(|index| match self.0.get(index.to_be_bytes()) {
                Ok(Some(bytes)) if bytes.len() == 32 => Ok(Hash(bytes.as_ref().try_into().expect("32 bytes"))),
                Ok(_) => Err(events::merkle::Error::IndexesNotInTree),
                Err(e) => Err(events::merkle::Error::InvalidInput(format!("reading stored hash {index}: {e}"))),
            })
            .collect()
    }
}

/// The number of records whose stored hashes are all in `merkle`.
fn complete_records(merkle: &sled::Tree, last_seq: u64) -> Result<u64> {
    let stored = match merkle.last().map_err(|e| sled_error("reading the Merkle tree", e))? {
        None => 0,
        Some((key, _)) => be_u64(&key).map_or(0, |last| last + 1),
    };
    // The largest m <= last_seq with stored_hash_count(m) <= stored.
    let (mut lo, mut hi) = (0u64, last_seq);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if stored_hash_count(mid) <= stored {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

/// Loads the frontier for the log's `last_seq` records, first completing the
/// tree from the log where it lags (a ledger from before the tree, a crash
/// between the log's write and the tree's, or `rebuild`) and dropping stored
/// hashes beyond the log.
pub(super) fn open(merkle: &sled::Tree, log: &sled::Tree, last_seq: u64) -> Result<Frontier> {
    let complete = complete_records(merkle, last_seq)?;
    let keep = stored_hash_count(complete);
    let extra: Vec<sled::IVec> = merkle
        .range(keep.to_be_bytes()..)
        .keys()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| sled_error("reading the Merkle tree", e))?;
    for key in extra {
        merkle.remove(key).map_err(|e| sled_error("trimming the Merkle tree", e))?;
    }
    let indexes = Frontier::needed(complete);
    let hashes = events::merkle::HashReader::read_hashes(&StoredHashes(merkle), &indexes)
        .map_err(|e| Error::storage("reading the Merkle tree's frontier", e.to_string()))?;
    let mut frontier = Frontier::from_stored(complete, hashes).map_err(|e| Error::storage("the Merkle tree", e))?;
    if complete < last_seq {
        tracing::warn!(from = complete + 1, to = last_seq, "completing the Merkle tree from the log");
        let mut batch = sled::Batch::default();
        for entry in log.range((complete + 1).to_be_bytes()..=last_seq.to_be_bytes()) {
            let (key, value) = entry.map_err(|e| sled_error("reading the log", e))?;
            let seq = log_seq(&key)?;
            for (index, hash) in frontier.push(&value) {
                batch.insert(&index.to_be_bytes(), &hash.0);
            }
            if seq % super::BATCH_SUBMISSIONS_MAX as u64 == 0 {
                merkle.apply_batch(std::mem::take(&mut batch)).map_err(|e| sled_error("writing the Merkle tree", e))?;
            }
        }
        merkle.apply_batch(batch).map_err(|e| sled_error("writing the Merkle tree", e))?;
    }
    Ok(frontier)
}
