//! The write side, pure: [`decide`] answers "may this submission be
//! appended?" against what the ledger knows, and [`Sealer`] turns an admitted
//! submission into the next record of the chain (seq, prev, recorded_at, JCS
//! bytes, hash): the write-side twin of [`crate::ChainVerifier`]. The store's
//! committer (for groups and imports alike) and the history generator
//! decide and seal with this code, so no two paths can disagree. Must
//! never: read a clock, a file or a random source (time and generated ids
//! come in as arguments).

use crate::error::Rejection;
use crate::known::Known;
use crate::limits::RECORD_BYTES_MAX;
use crate::record::GENESIS_PREV;
use crate::submission::{Checked, Validated, RECORD_FRAME_BYTES};
use crate::EventType;
use sha2::Digest;

/// What the ledger does with one submission.
#[derive(Debug)]
pub enum Decision {
    /// Its id is already at this seq with the same content: append nothing.
    Existing(u64),
    /// New, and every rule holds: seal it.
    New(Box<Validated>),
    /// Every broken rule (HTTP 400, exit 2).
    Rejected(Rejection),
    /// The id exists with other content, or an `expect` did not hold (HTTP
    /// 409, exit 3).
    Conflict(String),
}

/// Decides one submission against `known`: idempotency, then every rule
/// (references, duplicates, retraction targets, consistency, the record size
/// limit, all reported together), then `expect`.
pub fn decide(known: &impl Known, submission: Checked) -> Decision {
    if let (Some(id), Some(key)) = (submission.id(), submission.id_key()) {
        if let Some(existing) = known.event_keyed(id, key) {
            if existing.content != submission.content_digest() {
                return Decision::Conflict(format!(
                    "id `{id}` is already seq {} with other content; re-sending must repeat type, occurred, data and sources exactly",
                    existing.seq
                ));
            }
            return Decision::Existing(existing.seq);
        }
    }
    let record_bytes = submission.record_bytes_max();
    let size_rule = (record_bytes > RECORD_BYTES_MAX)
        .then(|| format!("the record would be up to {record_bytes} bytes, more than {RECORD_BYTES_MAX}"));
    let validated = match (submission.validate(known), size_rule) {
        (Err(mut rejection), Some(rule)) => {
            rejection.errors.push(crate::FieldError { field: "submission".into(), rule });
            return Decision::Rejected(rejection);
        }
        (Err(rejection), None) => return Decision::Rejected(rejection),
        (Ok(_), Some(rule)) => return Decision::Rejected(Rejection::one("submission", rule)),
        (Ok(validated), None) => validated,
    };
    if let Some(expect) = validated.checked().expect() {
        let version = known.stream_version(&expect.stream);
        if version != expect.version {
            return Decision::Conflict(format!(
                "stream `{}` is at version {version}, not the expected {}",
                expect.stream, expect.version
            ));
        }
    }
    Decision::New(Box::new(validated))
}

/// One sealed record: what is stored (`bytes`, the JCS form) and where in
/// it the fields the ledger set are, so nobody needs to parse the bytes
/// again, nor copy those fields out of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub seq: u64,
    pub event_type: EventType,
    /// Private: the offsets below point into it. Shares its allocation
    /// with the records sealed around it ([`Sealer`]'s arena).
    bytes: bytes::Bytes,
    /// Where the hash's 64 hex digits start in `bytes`.
    hash_at: usize,
    /// Where the id is in `bytes`.
    id_at: (usize, usize),
    /// The record's leaf in the Merkle tree (RFC 6962's hash of the
    /// bytes), hashed as it is sealed, while the bytes are in cache.
    leaf: crate::merkle::Hash,
}

impl Sealed {
    /// The stored bytes: the record in JCS form.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> bytes::Bytes {
        self.bytes
    }

    /// The record's hash, 64 lower-case hex digits.
    pub fn hash(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.hash_at..self.hash_at + 64]).expect("hex digits")
    }

    /// The record's id.
    pub fn id(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.id_at.0..self.id_at.1]).expect("an id is ASCII")
    }

    /// Where the hash's hex digits and the id are in the bytes.
    pub fn offsets(&self) -> (usize, (usize, usize)) {
        (self.hash_at, self.id_at)
    }

    /// The record's leaf hash in the Merkle tree.
    pub fn leaf(&self) -> crate::merkle::Hash {
        self.leaf
    }
}

/// `now` as `recorded_at` is written: RFC 3339 UTC with microseconds,
/// `2026-11-22T10:45:50.123456Z`. chrono's `to_rfc3339_opts` writes it
/// directly; a `format` string is parsed again on every call, which cost a
/// lone writer 3.5 µs of the 51 µs of CPU an append takes.
pub fn recorded_at(now: chrono::DateTime<chrono::Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The chain's write head: the next seq, the hash it links to, and the last
/// `recorded_at` (which never goes back). Cloning it is how a group that
/// fails is rolled back.
///
/// Records are written one after another into an arena ([`crate::arena`]),
/// so a batch's records also sit side by side in memory. The arena is not
/// part of the head: a clone starts its own, and equality ignores it.
#[derive(Debug)]
pub struct Sealer {
    next_seq: u64,
    prev: String,
    last_recorded_at: String,
    arena: bytes::BytesMut,
}

impl Default for Sealer {
    fn default() -> Self {
        Sealer::after(0, GENESIS_PREV, "")
    }
}

impl Clone for Sealer {
    fn clone(&self) -> Self {
        Sealer::after(self.next_seq - 1, &self.prev, &self.last_recorded_at)
    }
}

impl PartialEq for Sealer {
    fn eq(&self, other: &Sealer) -> bool {
        (self.next_seq, &self.prev, &self.last_recorded_at) == (other.next_seq, &other.prev, &other.last_recorded_at)
    }
}

impl Eq for Sealer {}

impl Sealer {
    /// The head after a stored record: its seq, hash and `recorded_at`.
    pub fn after(seq: u64, hash: &str, recorded_at: &str) -> Sealer {
        Sealer {
            next_seq: seq + 1,
            prev: hash.to_string(),
            last_recorded_at: recorded_at.to_string(),
            arena: bytes::BytesMut::new(),
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash the next record links to.
    pub fn prev(&self) -> &str {
        &self.prev
    }

    /// Seals `submission` as the next record. `id` is the submission's own
    /// or one the caller generated; `now` is the clock, already formatted as
    /// `recorded_at` is (RFC 3339 UTC, microseconds); an earlier `now` than
    /// the last record's is raised to it.
    ///
    /// One pass: the parts are copied once into the stored form, with room
    /// for `hash`, and SHA-256 runs over the stored form minus that room,
    /// which is exactly the record without `hash` in JCS form. The form
    /// opens with the data, which the parse hashed already
    /// ([`crate::record::data_prefix`]): the hash resumes after it.
    pub fn seal(&mut self, submission: &Checked, id: &str, now: &str) -> Sealed {
        // These go into the bytes unescaped: ids and EDTF dates never need
        // escaping (their alphabets are checked), nor do type names.
        debug_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b)), "{id}");
        debug_assert!(now.len() == 27, "{now}");
        if now > self.last_recorded_at.as_str() {
            self.last_recorded_at.clear();
            self.last_recorded_at.push_str(now);
        }
        let seq = self.next_seq;
        let event_type = submission.event_type();
        let mut seq_text = itoa::Buffer::new();
        let seq_text = seq_text.format(seq);
        let (data, sources, occurred) = (submission.data_jcs(), submission.sources_jcs(), submission.occurred_text());
        // The exact length, so that the record fits in the arena's room
        // unmoved.
        let hash_digits = 64;
        let length = RECORD_FRAME_BYTES
            + hash_digits
            + data.len()
            + id.len()
            + occurred.len()
            + self.prev.len()
            + self.last_recorded_at.len()
            + seq_text.len()
            + sources.len()
            + event_type.as_str().len();
        crate::arena::reserve(&mut self.arena, length);
        let bytes = &mut self.arena;
        debug_assert!(bytes.is_empty());
        bytes.extend_from_slice(b"{\"data\":");
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(b",\"hash\":\"");
        let hash_at = bytes.len();
        bytes.extend_from_slice(&[b'0'; 64]);
        bytes.extend_from_slice(b"\"");
        let rest_at = bytes.len();
        bytes.extend_from_slice(b",\"id\":\"");
        let id_at = (bytes.len(), bytes.len() + id.len());
        bytes.extend_from_slice(id.as_bytes());
        for (key, value) in [("occurred", occurred), ("prev", &self.prev)] {
            bytes.extend_from_slice(b"\",\"");
            bytes.extend_from_slice(key.as_bytes());
            bytes.extend_from_slice(b"\":\"");
            bytes.extend_from_slice(value.as_bytes());
        }
        bytes.extend_from_slice(b"\",\"recorded_at\":\"");
        bytes.extend_from_slice(self.last_recorded_at.as_bytes());
        bytes.extend_from_slice(b"\",\"seq\":");
        bytes.extend_from_slice(seq_text.as_bytes());
        bytes.extend_from_slice(b",\"sources\":");
        bytes.extend_from_slice(sources);
        bytes.extend_from_slice(b",\"type\":\"");
        bytes.extend_from_slice(event_type.as_str().as_bytes());
        bytes.extend_from_slice(b"\"}");
        debug_assert_eq!(bytes.len(), length);
        // What `bytes` holds before `hash`, `{"data":` and the data, is
        // hashed already; the rest follows `hash`.
        let mut hasher = submission.data_prefix().clone();
        hasher.update(&bytes[rest_at..]);
        let hex = &mut bytes[hash_at..hash_at + 64];
        hex::encode_to_slice(hasher.finalize(), hex).expect("64 hex digits for 32 bytes");
        debug_assert!(bytes.len() <= submission.record_bytes_max());
        let bytes = crate::arena::take(bytes);
        self.next_seq += 1;
        self.prev.clear();
        self.prev.push_str(std::str::from_utf8(&bytes[hash_at..hash_at + 64]).expect("hex digits"));
        let leaf = crate::merkle::record_hash(&bytes);
        Sealed { seq, event_type, bytes, hash_at, id_at, leaf }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use serde_json::json;

    fn checked(value: serde_json::Value) -> Checked {
        Checked::parse(&serde_json::to_vec(&value).unwrap()).unwrap()
    }

    #[test]
    fn recorded_at_is_rfc_3339_utc_with_six_fractional_digits() {
        use chrono::TimeZone;
        for (secs, nanos, text) in [
            (1_795_344_350, 123_456_789, "2026-11-22T10:45:50.123456Z"),
            (1_795_344_350, 0, "2026-11-22T10:45:50.000000Z"),
            (0, 1_000, "1970-01-01T00:00:00.000001Z"),
        ] {
            let now = chrono::Utc.timestamp_opt(secs, nanos).unwrap();
            assert_eq!(recorded_at(now), text);
            assert_eq!(recorded_at(now), now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        }
    }

    #[test]
    fn sealing_gives_the_canonical_bytes_and_a_hash_the_verifier_accepts() {
        let submission = checked(json!({"id": "ev-1", "type": "party.registered", "occurred": "2022-04",
            "data": {"party": "vn/hanoi", "name": "Hà Nội \"thủ đô\"\n\u{1}", "kind": "city", "country": "VN"},
            "sources": [{"title": "Báo", "quote": "Hà Nội – Viêng Chăn"}]}));
        let mut sealer = Sealer::default();
        let first = sealer.seal(&submission, "ev-1", "2026-11-22T10:45:50.123456Z");
        let second = sealer.seal(&submission, "ev-2", "2026-11-22T10:45:50.000001Z");
        let mut verifier = crate::ChainVerifier::default();
        for sealed in [&first, &second] {
            let record = verifier.check(&sealed.seq.to_be_bytes(), &sealed.bytes).unwrap();
            assert_eq!(record.canonical_bytes(), sealed.bytes, "stored bytes are the JCS form");
            assert_eq!((record.hash.as_str(), record.id.as_str()), (sealed.hash(), sealed.id()));
            assert!(sealed.leaf() == crate::merkle::record_hash(&sealed.bytes), "the leaf is of the stored bytes");
        }
        let second: Record = Record::decode(&second.bytes).unwrap();
        assert_eq!(second.recorded_at, "2026-11-22T10:45:50.123456Z", "recorded_at never goes back");
        assert_eq!(second.prev, first.hash());
        assert!(first.bytes.len() <= submission.record_bytes_max());
    }

    #[test]
    fn the_content_digest_of_a_submission_is_that_of_its_record() {
        let submission = checked(json!({"type": "activity.held", "occurred": "2023",
            "data": {"category": "forum", "title": "T", "parties": ["vn/hanoi"], "figures": {"b": 2, "a": 1}}}));
        let sealed = Sealer::default().seal(&submission, "x", "2026-11-22T10:45:50.123456Z");
        let record = Record::decode(&sealed.bytes).unwrap();
        assert_eq!(record.content_digest(), submission.content_digest());
        let stored = crate::RecordRef::decode(&sealed.bytes).unwrap();
        assert_eq!(stored.content_digest(), submission.content_digest());
    }
}
