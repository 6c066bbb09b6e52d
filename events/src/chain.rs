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
        let (record, link) = match check_alone(value, &mut Vec::new()) {
            Ok((record, link)) => (Some(record), Ok(link)),
            Err(problem) => (None, Err(problem)),
        };
        self.link(key, link)?;
        Ok(record.expect("linked, so it decoded"))
    }

    /// The in-order half of the check: `key` is the next seq, and the
    /// record (already checked on its own by [`check_alone`], whose problem
    /// is reported here, at its place in the chain) says that seq, points at
    /// the previous hash and does not go back in time.
    pub fn link(&mut self, key: &[u8], alone: Result<Link, String>) -> Result<(), ChainError> {
        let seq = self.next_seq;
        let fail = |problem: String| ChainError { seq, problem };
        let key_seq = <[u8; 8]>::try_from(key).map(u64::from_be_bytes).map_err(|_| {
            fail(format!("a key of {} bytes is in the log; keys are 8-byte big-endian seqs", key.len()))
        })?;
        if key_seq != seq {
            return Err(fail(format!("missing: the log goes on at seq {key_seq}")));
        }
        let link = alone.map_err(fail)?;
        if link.seq != seq {
            return Err(fail(format!("the record stored here says seq {}", link.seq)));
        }
        if link.prev != self.head_hash {
            return Err(fail(format!("prev {} does not match the hash of seq {}", link.prev, seq - 1)));
        }
        if link.recorded_at < self.last_recorded_at {
            return Err(fail(format!("recorded_at {} goes back from {}", link.recorded_at, self.last_recorded_at)));
        }
        self.next_seq += 1;
        self.head_hash = link.hash;
        self.last_recorded_at = link.recorded_at;
        Ok(())
    }
}

/// What one record says about its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    pub recorded_at: String,
}

/// The half of the check that needs no other record, so records can be
/// checked in parallel: the bytes decode as a record, are its canonical (JCS)
/// form, its `hash` is the SHA-256 of it without `hash`, and `recorded_at`
/// is well formed. `buffer` is scratch space, reused between calls.
pub fn check_alone(value: &[u8], buffer: &mut Vec<u8>) -> Result<(Record, Link), String> {
    let record = Record::decode(value)?;
    // One serialization gives both: the record without `hash` (what is
    // hashed) and, with `,"hash":"…"` put back after `data` (the first key),
    // the canonical form.
    let data_end = record.write_unsealed(buffer);
    let hash_field = format!(",\"hash\":\"{}\"", record.hash);
    let canonical = value.len() == buffer.len() + hash_field.len()
        && value[..data_end] == buffer[..data_end]
        && value[data_end..data_end + hash_field.len()] == *hash_field.as_bytes()
        && value[data_end + hash_field.len()..] == buffer[data_end..];
    if !canonical {
        return Err("stored bytes are not the record's canonical (JCS) form".into());
    }
    let hash = crate::record::sha256_hex(buffer);
    if record.hash != hash {
        return Err(format!("hash {} does not match the record's content (which hashes to {hash})", record.hash));
    }
    if !is_recorded_at(&record.recorded_at) {
        return Err(format!("recorded_at `{}` is not RFC 3339 UTC with microseconds", record.recorded_at));
    }
    let link = Link {
        seq: record.seq,
        prev: record.prev.clone(),
        hash: record.hash.clone(),
        recorded_at: record.recorded_at.clone(),
    };
    Ok((record, link))
}
