//! The stored record: its fields, its canonical bytes (RFC 8785 JCS) and its
//! SHA-256 hash. The struct's fields are declared in sorted order and `data`
//! and `sources` are `serde_json::Value`s whose maps are sorted (serde_json's
//! default `BTreeMap`; the `preserve_order` feature must never be enabled in
//! this workspace, and `canonical_form_sorts_keys` fails if it is). With no
//! floats anywhere, serde_json's compact output is then exactly JCS: keys
//! sorted, no whitespace, strings escaped as `JSON.stringify` does.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev` of the record at seq 1.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event as stored, exported and streamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    // Keep these fields in byte order of their names: serialization order is
    // declaration order, and JCS wants sorted keys.
    pub data: Value,
    pub hash: String,
    pub id: String,
    pub occurred: String,
    pub prev: String,
    pub recorded_at: String,
    pub seq: u64,
    pub sources: Value,
    #[serde(rename = "type")]
    pub event_type: String,
}

/// A stored record read without copying its payload: the fields a fold needs,
/// borrowed from the stored bytes, with `data` left as raw JSON so it can be
/// decoded once, straight into its typed payload.
#[derive(Debug, Deserialize)]
pub struct RecordRef<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub id: std::borrow::Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    pub event_type: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub occurred: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub data: &'a serde_json::value::RawValue,
}

impl<'a> RecordRef<'a> {
    /// Decodes stored bytes; other fields are skipped, not checked (that is
    /// `ChainVerifier`'s job).
    pub fn decode(bytes: &'a [u8]) -> Result<RecordRef<'a>, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a record: {e}"))
    }
}

/// What idempotency compares: a submission's type, occurred, data, sources.
#[derive(Serialize)]
struct Content<'a> {
    data: &'a Value,
    occurred: &'a str,
    sources: &'a Value,
    #[serde(rename = "type")]
    event_type: &'a str,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Record {
    /// Builds a record, computes its hash, and returns it with its canonical
    /// bytes, from one serialization: the bytes hashed are the canonical form
    /// without `,"hash":"…"`, which goes right after `data`, the first key.
    /// The caller (the store's committer) owns seq, prev and recorded_at.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        seq: u64,
        id: String,
        event_type: &str,
        occurred: String,
        recorded_at: String,
        data: Value,
        sources: Value,
        prev: String,
    ) -> (Record, Vec<u8>) {
        let mut record = Record {
            data,
            hash: String::new(),
            id,
            occurred,
            prev,
            recorded_at,
            seq,
            sources,
            event_type: event_type.to_string(),
        };
        let mut unsealed = Vec::with_capacity(512);
        let data_end = record.write_unsealed(&mut unsealed);
        record.hash = sha256_hex(&unsealed);
        let mut bytes = Vec::with_capacity(unsealed.len() + 80);
        bytes.extend_from_slice(&unsealed[..data_end]);
        bytes.extend_from_slice(b",\"hash\":\"");
        bytes.extend_from_slice(record.hash.as_bytes());
        bytes.push(b'"');
        bytes.extend_from_slice(&unsealed[data_end..]);
        (record, bytes)
    }

    /// Lower-case hex SHA-256 of the JCS form of the record without `hash`.
    pub fn compute_hash(&self) -> String {
        let mut unsealed = Vec::with_capacity(512);
        self.write_unsealed(&mut unsealed);
        sha256_hex(&unsealed)
    }

    /// Writes the JCS form of the record without `hash` (what `hash` is the
    /// SHA-256 of) into `buffer`, replacing what it held. Returns where
    /// `data`'s value ends: the canonical form has `,"hash":"…"` there.
    pub fn write_unsealed(&self, buffer: &mut Vec<u8>) -> usize {
        #[derive(Serialize)]
        struct Tail<'a> {
            id: &'a str,
            occurred: &'a str,
            prev: &'a str,
            recorded_at: &'a str,
            seq: u64,
            sources: &'a Value,
            #[serde(rename = "type")]
            event_type: &'a str,
        }
        buffer.clear();
        buffer.extend_from_slice(b"{\"data\":");
        serde_json::to_writer(&mut *buffer, &self.data).expect("a Value always serializes");
        let data_end = buffer.len();
        let tail = Tail {
            id: &self.id,
            occurred: &self.occurred,
            prev: &self.prev,
            recorded_at: &self.recorded_at,
            seq: self.seq,
            sources: &self.sources,
            event_type: &self.event_type,
        };
        serde_json::to_writer(&mut *buffer, &tail).expect("a Value always serializes");
        buffer[data_end] = b',';
        data_end
    }

    /// The exact bytes stored in the `log` tree and printed by `export`.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Value always serializes")
    }

    /// Decodes stored bytes. Says what is wrong when they are not a record.
    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a record: {e}"))
    }

    /// Digest of what idempotency compares.
    pub fn content_digest(&self) -> [u8; 32] {
        content_digest(&self.event_type, &self.occurred, &self.data, &self.sources)
    }
}

/// SHA-256 of the JCS form of `{data, occurred, sources, type}`.
pub fn content_digest(event_type: &str, occurred: &str, data: &Value, sources: &Value) -> [u8; 32] {
    let content = Content { data, occurred, sources, event_type };
    Sha256::digest(serde_json::to_vec(&content).expect("a Value always serializes")).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The record without `hash`, serialized the plain way: the reference
    /// for `write_unsealed`.
    #[derive(Serialize)]
    struct Unsealed<'a> {
        data: &'a Value,
        id: &'a str,
        occurred: &'a str,
        prev: &'a str,
        recorded_at: &'a str,
        seq: u64,
        sources: &'a Value,
        #[serde(rename = "type")]
        event_type: &'a str,
    }

    fn sample() -> Record {
        Record::seal(
            1,
            "ev-1".into(),
            "party.registered",
            "2022".into(),
            "2026-11-22T10:45:50.123456Z".into(),
            json!({"party": "vn/hanoi", "name": "Hà Nội \"thủ đô\"\n", "kind": "city", "country": "VN"}),
            json!([]),
            GENESIS_PREV.into(),
        )
        .0
    }

    #[test]
    fn unsealed_form_is_the_canonical_form_without_hash() {
        let record = sample();
        let mut buffer = vec![b'x'; 3];
        let data_end = record.write_unsealed(&mut buffer);
        let unsealed = Unsealed {
            data: &record.data,
            id: &record.id,
            occurred: &record.occurred,
            prev: &record.prev,
            recorded_at: &record.recorded_at,
            seq: record.seq,
            sources: &record.sources,
            event_type: &record.event_type,
        };
        assert_eq!(String::from_utf8(buffer.clone()).unwrap(), serde_json::to_string(&unsealed).unwrap());
        let mut spliced = buffer[..data_end].to_vec();
        spliced.extend_from_slice(format!(",\"hash\":\"{}\"", record.hash).as_bytes());
        spliced.extend_from_slice(&buffer[data_end..]);
        assert_eq!(spliced, record.canonical_bytes());
    }

    #[test]
    fn sealing_gives_the_canonical_bytes_and_the_hash_of_the_rest() {
        let record = sample();
        let (again, bytes) = Record::seal(
            record.seq,
            record.id.clone(),
            &record.event_type,
            record.occurred.clone(),
            record.recorded_at.clone(),
            record.data.clone(),
            record.sources.clone(),
            record.prev.clone(),
        );
        assert_eq!(bytes, record.canonical_bytes());
        assert_eq!(again.hash, again.compute_hash());
        assert_eq!(again, record);
    }

    #[test]
    fn canonical_form_sorts_keys() {
        let record = sample();
        let bytes = record.canonical_bytes();
        // The same record through a generic Value (sorted maps) must give the
        // same bytes; with serde_json's preserve_order on, this fails.
        let value: Value = serde_json::from_str(r#"{"type":"party.registered","seq":1,"a":{"z":1,"b":2}}"#).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"a":{"b":2,"z":1},"seq":1,"type":"party.registered"}"#);
        assert_eq!(bytes, serde_json::to_vec(&serde_json::to_value(&record).unwrap()).unwrap());
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with(
                r#"{"data":{"country":"VN","kind":"city","name":"Hà Nội \"thủ đô\"\n","party":"vn/hanoi"},"hash":""#
            ),
            "{text}"
        );
    }

    #[test]
    fn hash_covers_everything_but_itself() {
        let record = sample();
        assert_eq!(record.hash.len(), 64);
        let mut changed = record.clone();
        changed.recorded_at = "2026-11-22T10:45:50.123457Z".into();
        assert_ne!(changed.compute_hash(), record.hash);
        let mut rehashed = record.clone();
        rehashed.hash = "x".into();
        assert_eq!(rehashed.compute_hash(), record.hash);
    }

    #[test]
    fn decode_round_trips_and_rejects_extra_fields() {
        let record = sample();
        assert_eq!(Record::decode(&record.canonical_bytes()).unwrap(), record);
        let mut value = serde_json::to_value(&record).unwrap();
        value["extra"] = json!(1);
        assert!(Record::decode(&serde_json::to_vec(&value).unwrap()).unwrap_err().contains("unknown field"));
    }
}
