//! Projection checkpoints: the views' state and the seq (and hash) it
//! reflects, in the `checkpoints` tree, so that opening a large ledger does
//! not replay it from the start. A checkpoint is a cache, never a source of
//! truth: one from another format, one whose hash does not match the log at
//! its seq, or one that does not decode is discarded and rebuilt.
//!
//! Value layout: format (u32 BE) ‖ seq (u64 BE) ‖ hash (64 hex bytes) ‖
//! SHA-256 of the rest (32 bytes) ‖ the views in postcard (a compact binary
//! serde format: saving and loading the whole state is several times faster
//! than JSON, and smaller). A binary format can decode damaged bytes into a
//! wrong state without complaint, hence the digest.

use events::ChainError;
use projections::{Event, Views};
use sha2::{Digest, Sha256};

const KEY: &[u8] = b"views";
const HEADER_BYTES: usize = 4 + 8 + 64 + DIGEST_BYTES;
const DIGEST_BYTES: usize = 32;

/// Records folded since the last checkpoint before the committer writes a
/// new one (and always on close), at the least; see [`checkpoint_due`].
pub const CHECKPOINT_INTERVAL_RECORDS: u64 = 100_000;

/// Whether views at `seq` should be checkpointed when the last checkpoint is
/// at `checkpointed`. A checkpoint holds the whole state, which grows with
/// the ledger, so a fixed interval made saving quadratic in the ledger's
/// size (at 1M records, most of an import); waiting until the ledger has
/// also grown by half since the last one keeps the total linear, and bounds
/// the replay after a crash to a third of the ledger.
pub fn checkpoint_due(seq: u64, checkpointed: u64) -> bool {
    let since = seq.saturating_sub(checkpointed);
    since >= CHECKPOINT_INTERVAL_RECORDS && since >= checkpointed / 2
}

/// The stored checkpoint, if there is one. The error says why it cannot be
/// used; the caller logs it and rebuilds the views.
pub fn load(tree: &sled::Tree, log: &sled::Tree) -> Result<Option<Views>, String> {
    let Some(bytes) = tree.get(KEY).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    if bytes.len() < HEADER_BYTES {
        return Err("checkpoint is truncated".into());
    }
    let format = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
    if format != Views::FORMAT {
        return Err(format!("checkpoint format {format} is not the current {}", Views::FORMAT));
    }
    let seq = u64::from_be_bytes(bytes[4..12].try_into().expect("8 bytes"));
    let hash = std::str::from_utf8(&bytes[12..76]).map_err(|_| "checkpoint hash is not text")?;
    let stored = log.get(seq.to_be_bytes()).map_err(|e| e.to_string())?;
    let matches = match stored {
        Some(record) if seq > 0 => events::Record::decode(&record).is_ok_and(|r| r.hash == hash),
        None if seq == 0 => true,
        _ => false,
    };
    if !matches {
        return Err(format!("checkpoint at seq {seq} does not match the log"));
    }
    let state = &bytes[HEADER_BYTES..];
    if Sha256::digest(state).as_slice() != &bytes[HEADER_BYTES - DIGEST_BYTES..HEADER_BYTES] {
        return Err("checkpoint is damaged: its digest does not match".into());
    }
    let views: Views = postcard::from_bytes(state).map_err(|e| format!("checkpoint: {e}"))?;
    if views.seq != seq {
        return Err(format!("checkpoint says seq {seq} but its state is at {}", views.seq));
    }
    Ok(Some(views))
}

pub fn save(tree: &sled::Tree, views: &Views, hash: &str) -> sled::Result<()> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + 4096);
    bytes.extend_from_slice(&Views::FORMAT.to_be_bytes());
    bytes.extend_from_slice(&views.seq.to_be_bytes());
    bytes.extend_from_slice(hash.as_bytes());
    bytes.extend_from_slice(&[0; DIGEST_BYTES]);
    let mut bytes = postcard::to_extend(views, bytes).expect("views always serialize");
    let digest = Sha256::digest(&bytes[HEADER_BYTES..]);
    bytes[HEADER_BYTES - DIGEST_BYTES..HEADER_BYTES].copy_from_slice(&digest);
    tree.insert(KEY, bytes)?;
    Ok(())
}

pub fn drop_all(tree: &sled::Tree) -> sled::Result<()> {
    tree.clear()
}

/// Records per message between the decoding thread and the folding one.
const FOLD_BATCH_RECORDS: usize = 1024;
/// Batches in flight between the two: bounds the memory the pipeline holds.
const FOLD_BATCHES_IN_FLIGHT: usize = 4;

type Decoded = Result<Vec<(u64, Option<Event>)>, ChainError>;

/// Folds log records after `views.seq`, calling `progress` with each seq.
/// Decoding (the larger cost) runs on a second thread, a bounded pipeline
/// ahead of the fold, so a rebuild uses both cores.
pub fn catch_up(views: &mut Views, log: &sled::Tree, mut progress: impl FnMut(u64)) -> Result<(), ChainError> {
    let from = views.seq + 1;
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Decoded>(FOLD_BATCHES_IN_FLIGHT);
        scope.spawn(move || decode_log(log, from, sender));
        for batch in receiver {
            for (seq, event) in batch? {
                views.apply_decoded(seq, event.as_ref());
                progress(seq);
            }
        }
        Ok(())
    })
}

/// The decoding side of [`catch_up`]: stops at the first bad record, or when
/// the fold stops listening.
fn decode_log(log: &sled::Tree, from: u64, sender: std::sync::mpsc::SyncSender<Decoded>) {
    let mut batch = Vec::with_capacity(FOLD_BATCH_RECORDS);
    for entry in log.range(from.to_be_bytes()..) {
        let decoded = entry.map_err(|e| ChainError { seq: from, problem: e.to_string() }).and_then(|(key, value)| {
            let seq = super::log_seq(&key)?;
            Event::from_stored(&value).map_err(|problem| ChainError { seq, problem })
        });
        match decoded {
            Ok(item) => batch.push(item),
            Err(error) => {
                let _ = sender.send(Err(error));
                return;
            }
        }
        if batch.len() == FOLD_BATCH_RECORDS {
            if sender.send(Ok(std::mem::take(&mut batch))).is_err() {
                return;
            }
            batch.reserve(FOLD_BATCH_RECORDS);
        }
    }
    if !batch.is_empty() {
        let _ = sender.send(Ok(batch));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_come_at_least_an_interval_and_half_the_ledger_apart() {
        assert!(!checkpoint_due(99_999, 0));
        assert!(checkpoint_due(100_000, 0));
        assert!(checkpoint_due(200_000, 100_000));
        assert!(!checkpoint_due(1_000_000, 900_000), "only a ninth more");
        assert!(checkpoint_due(1_350_000, 900_000));
        // Saved at seqs 100k, 200k, 300k, 450k, 675k…: O(log n) saves, O(n) bytes in all.
        let (mut at, mut saves) = (0, 0);
        for seq in (0..=10_000_000u64).step_by(1_000) {
            if checkpoint_due(seq, at) {
                at = seq;
                saves += 1;
            }
        }
        assert!(saves <= 12, "{saves} saves for 10M records");
    }
}
