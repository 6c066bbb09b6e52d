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
    #[serde(borrow)]
    pub sources: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    pub hash: std::borrow::Cow<'a, str>,
}

impl<'a> RecordRef<'a> {
    /// Decodes stored bytes; other fields are skipped, not checked (that is
    /// `ChainVerifier`'s job).
    pub fn decode(bytes: &'a [u8]) -> Result<RecordRef<'a>, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a record: {e}"))
    }
}

/// What idempotency compares of a submission and a stored record: the first
/// 16 bytes of a SHA-256 over its type, occurred, and the JCS bytes of its
/// data and sources (see [`content_digest`]). Sixteen bytes keep the ledger's
/// in-memory knowledge small; finding two contents with one digest takes
/// about 2^64 SHA-256 computations, and would only turn a conflict into an
/// idempotent no-op for the one who found it.
pub type ContentDigest = [u8; 16];

/// SHA-256 fed `{"data":` and `data`'s JCS bytes: how every stored record's
/// bytes begin. The record's hash and the content digest both continue
/// from it, so a submission's data is hashed once, where it is parsed, and
/// sealing hashes only the rest of the record.
pub fn data_prefix(data_jcs: &[u8]) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(b"{\"data\":");
    hasher.update(data_jcs);
    hasher
}

/// The [`ContentDigest`] of `type`, `occurred` and the JCS bytes of `data`
/// and `sources`: SHA-256 of [`data_prefix`] followed by type, occurred and
/// sources, each after a NUL byte, which none of them can contain (JSON
/// text escapes control characters), so the join is unambiguous. Internal
/// to the ledger (never stored or sent), so it may change with the
/// checkpoint format.
pub fn content_digest(event_type: &str, occurred: &str, data_jcs: &[u8], sources_jcs: &[u8]) -> ContentDigest {
    content_digest_after(data_prefix(data_jcs), event_type, occurred, sources_jcs)
}

/// [`content_digest`] continuing a [`data_prefix`] already computed.
pub fn content_digest_after(mut prefix: Sha256, event_type: &str, occurred: &str, sources_jcs: &[u8]) -> ContentDigest {
    for part in [event_type.as_bytes(), occurred.as_bytes(), sources_jcs] {
        prefix.update([0u8]);
        prefix.update(part);
    }
    let digest = prefix.finalize();
    digest[..16].try_into().expect("16 of 32 bytes")
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Record {
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
    pub fn content_digest(&self) -> ContentDigest {
        let data = serde_json::to_vec(&self.data).expect("a Value always serializes");
        let sources = serde_json::to_vec(&self.sources).expect("a Value always serializes");
        content_digest(&self.event_type, &self.occurred, &data, &sources)
    }
}

impl RecordRef<'_> {
    /// Digest of what idempotency compares, from the stored JCS bytes.
    pub fn content_digest(&self) -> ContentDigest {
        content_digest(&self.event_type, &self.occurred, self.data.get().as_bytes(), self.sources.get().as_bytes())
    }
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
        let submission = json!({"id": "ev-1", "type": "party.registered", "occurred": "2022",
            "data": {"party": "vn/hanoi", "name": "Hà Nội \"thủ đô\"\n", "kind": "city", "country": "VN"}});
        let checked = crate::Checked::parse(&serde_json::to_vec(&submission).unwrap()).unwrap();
        let sealed = crate::Sealer::default().seal(&checked, "ev-1", "2026-11-22T10:45:50.123456Z");
        Record::decode(sealed.bytes()).unwrap()
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
