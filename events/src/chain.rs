//! The auditor's check, fed one stored `(key, value)` at a time in key order:
//! every key is the next seq, every value is a canonical record whose `seq`
//! is its key, whose `hash` is right, whose `prev` is the previous `hash`, and
//! whose `recorded_at` never goes back. The first failure names its seq.

use crate::record::{Record, GENESIS_PREV};

/// Where the chain breaks and why. `amity verify` exits 1 and prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seq {seq}: {problem}")]
pub struct ChainError {
    pub seq: u64,
    pub problem: String,
}

/// Walks a log from seq 1.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: u64,
    head_hash: String,
    last_recorded_at: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { next_seq: 1, head_hash: GENESIS_PREV.to_string(), last_recorded_at: String::new() }
    }
}

/// `recorded_at` is RFC 3339 UTC with exactly six fraction digits, so
/// comparing the strings compares the instants.
pub fn is_recorded_at(text: &str) -> bool {
    text.len() == 27 && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6fZ").is_ok()
}

impl ChainVerifier {
    /// How many records have been checked so far.
    pub fn count(&self) -> u64 {
        self.next_seq - 1
    }

    /// The hash of the last record checked (64 zeros before any).
    pub fn head_hash(&self) -> &str {
        &self.head_hash
    }

    /// Checks the next stored entry. On success returns the decoded record.
    pub fn check(&mut self, key: &[u8], value: &[u8]) -> Result<Record, ChainError> {
        let seq = self.next_seq;
        let fail = |problem: String| ChainError { seq, problem };
        let key_seq = <[u8; 8]>::try_from(key).map(u64::from_be_bytes).map_err(|_| {
            fail(format!("a key of {} bytes is in the log; keys are 8-byte big-endian seqs", key.len()))
        })?;
        if key_seq != seq {
            return Err(fail(format!("missing: the log goes on at seq {key_seq}")));
        }
        let record = Record::decode(value).map_err(fail)?;
        if record.canonical_bytes() != value {
            return Err(fail("stored bytes are not the record's canonical (JCS) form".into()));
        }
        if record.seq != seq {
            return Err(fail(format!("the record stored here says seq {}", record.seq)));
        }
        if record.prev != self.head_hash {
            return Err(fail(format!("prev {} does not match the hash of seq {}", record.prev, seq - 1)));
        }
        let hash = record.compute_hash();
        if record.hash != hash {
            return Err(fail(format!(
                "hash {} does not match the record's content (which hashes to {hash})",
                record.hash
            )));
        }
        if !is_recorded_at(&record.recorded_at) {
            return Err(fail(format!("recorded_at `{}` is not RFC 3339 UTC with microseconds", record.recorded_at)));
        }
        if record.recorded_at < self.last_recorded_at {
            return Err(fail(format!("recorded_at {} goes back from {}", record.recorded_at, self.last_recorded_at)));
        }
        self.next_seq += 1;
        self.head_hash.clone_from(&record.hash);
        self.last_recorded_at.clone_from(&record.recorded_at);
        Ok(record)
    }
}
