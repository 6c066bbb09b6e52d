//! The auditor's check, fed one stored `(key, value)` at a time in key order:
//! every key is the next seq, every value is a canonical record whose `seq`
//! is its key, whose `hash` is right, whose `prev` is the previous `hash`, and
//! whose `recorded_at` never goes back. The first failure names its seq.

use crate::record::{Record, GENESIS_PREV};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;

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
    // The shape `YYYY-MM-DDTHH:MM:SS.ffffffZ` fixes the width; chrono's
    // RFC 3339 parser (much cheaper than a strftime pattern) the values.
    let b = text.as_bytes();
    b.len() == 27
        && b[10] == b'T'
        && b[19] == b'.'
        && b[26] == b'Z'
        && b[20..26].iter().all(u8::is_ascii_digit)
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
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
/// checked in parallel (see [`check_stored`]), returning the decoded record
/// too. `buffer` is scratch space, reused between calls.
pub fn check_alone(value: &[u8], buffer: &mut Vec<u8>) -> Result<(Record, Link), String> {
    let link = check_stored(value, buffer)?;
    Ok((Record::decode(value)?, link))
}

/// The half of the check that needs no other record: the bytes are a
/// record (exactly its nine fields, `seq` an integer, the rest strings but
/// `data` and `sources`, no floats anywhere) in its canonical (JCS) form,
/// its `hash` is the SHA-256 of it without `hash`, and `recorded_at` is well
/// formed. One pass: parsing re-emits each value in canonical form into
/// `buffer` (no tree is built), which must then equal the stored bytes; the
/// span of `,"hash":"…"` is noted on the way, and SHA-256 runs over the rest.
pub fn check_stored(value: &[u8], buffer: &mut Vec<u8>) -> Result<Link, String> {
    buffer.clear();
    let mut deserializer = serde_json::Deserializer::from_slice(value);
    let fields = TopLevel { out: buffer }
        .deserialize(&mut deserializer)
        .and_then(|fields| deserializer.end().map(|()| fields))
        .map_err(|e| format!("not a record: {e}"))?;
    if buffer.as_slice() != value {
        return Err("stored bytes are not the record's canonical (JCS) form".into());
    }
    let mut hasher = Sha256::new();
    hasher.update(&value[..fields.hash_span.0]);
    hasher.update(&value[fields.hash_span.1..]);
    let mut hex_digest = [0u8; 64];
    hex::encode_to_slice(hasher.finalize(), &mut hex_digest).expect("64 hex digits for 32 bytes");
    if fields.hash.as_bytes() != hex_digest {
        let hash = String::from_utf8_lossy(&hex_digest);
        return Err(format!("hash {} does not match the record's content (which hashes to {hash})", fields.hash));
    }
    if !is_recorded_at(&fields.recorded_at) {
        return Err(format!("recorded_at `{}` is not RFC 3339 UTC with microseconds", fields.recorded_at));
    }
    Ok(Link { seq: fields.seq, prev: fields.prev, hash: fields.hash, recorded_at: fields.recorded_at })
}

/// The record's keys, in canonical (sorted) order.
const RECORD_KEYS: [&str; 9] = ["data", "hash", "id", "occurred", "prev", "recorded_at", "seq", "sources", "type"];

/// What [`check_stored`] keeps of a record's top level.
struct Fields {
    seq: u64,
    hash: String,
    prev: String,
    recorded_at: String,
    /// Where `,"hash":"…"` starts and ends in the canonical bytes.
    hash_span: (usize, usize),
}

/// The record's top-level object, re-emitted canonically into `out`.
struct TopLevel<'a> {
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Fields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Fields, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let out = self.out;
        let mut fields =
            Fields { seq: 0, hash: String::new(), prev: String::new(), recorded_at: String::new(), hash_span: (0, 0) };
        out.push(b'{');
        for (i, expected) in RECORD_KEYS.iter().enumerate() {
            let key: Cow<'de, str> = map.next_key_seed(TextSeed)?.ok_or_else(|| de::Error::missing_field(expected))?;
            if key != *expected {
                return Err(de::Error::custom(format!("field `{key}` where `{expected}` belongs")));
            }
            let start = out.len();
            if i > 0 {
                out.push(b',');
            }
            write_string(out, expected);
            out.push(b':');
            match *expected {
                "data" | "sources" => map.next_value_seed(Canonical { out: &mut *out })?,
                "seq" => {
                    fields.seq = map.next_value()?;
                    write_integer(out, fields.seq);
                }
                _ => {
                    let text: Cow<'de, str> = map.next_value_seed(TextSeed)?;
                    write_string(out, &text);
                    match *expected {
                        "hash" => {
                            fields.hash = text.into_owned();
                            fields.hash_span = (start, out.len());
                        }
                        "prev" => fields.prev = text.into_owned(),
                        "recorded_at" => fields.recorded_at = text.into_owned(),
                        _ => {}
                    }
                }
            }
        }
        if let Some(key) = map.next_key_seed(TextSeed)? {
            return Err(de::Error::custom(format!("unknown field `{key}`")));
        }
        out.push(b'}');
        Ok(fields)
    }
}

fn write_integer(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("writing to a Vec cannot fail");
}

/// A string (a map key or a value), borrowed from the input when it has no
/// escapes.
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// Any JSON value without floats, re-emitted canonically into `out`: keys
/// in byte order (as the ledger writes them; an unsorted or repeated key is
/// an error), no whitespace, strings escaped as `JSON.stringify` does.
struct Canonical<'a> {
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Canonical<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canonical<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value without floats")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        write_integer(self.out, v);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        write_integer(self.out, v);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        Err(E::custom(format!("{v} is a float; records have none")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        write_string(self.out, v);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.out;
        out.push(b'[');
        let mut first = true;
        loop {
            let at = out.len();
            if !first {
                out.push(b',');
            }
            if seq.next_element_seed(Canonical { out: &mut *out })?.is_none() {
                out.truncate(at);
                break;
            }
            first = false;
        }
        out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.out;
        out.push(b'{');
        let mut previous: Option<Cow<'de, str>> = None;
        while let Some(key) = map.next_key_seed(TextSeed)? {
            if previous.as_ref().is_some_and(|p| p.as_bytes() >= key.as_bytes()) {
                return Err(de::Error::custom(format!("key `{key}` is out of order or repeated")));
            }
            if previous.is_some() {
                out.push(b',');
            }
            write_string(out, &key);
            out.push(b':');
            map.next_value_seed(Canonical { out: &mut *out })?;
            previous = Some(key);
        }
        out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_at_is_utc_with_exactly_six_fraction_digits() {
        assert!(is_recorded_at("2026-11-23T06:19:12.123456Z"));
        for bad in [
            "2026-11-23T06:19:12.12345Z",
            "2026-11-23T06:19:12.1234567Z",
            "2026-11-23t06:19:12.123456Z",
            "2026-11-23T06:19:12.123456z",
            "2026-11-23T06:19:12,123456Z",
            "2026-02-30T06:19:12.123456Z",
            "2026-11-23T24:19:12.123456Z",
            "2026-11-23T06:19:12.12345aZ",
            "2026-11-23 06:19:12.123456Z",
            "2026-11-23T06:19:12.123+00:00",
            "",
        ] {
            assert!(!is_recorded_at(bad), "{bad}");
        }
    }

    fn sealed() -> Vec<u8> {
        let submission = serde_json::json!({"id": "ev-1", "type": "activity.held", "occurred": "2023",
            "data": {"category": "forum", "title": "Hà Nội é \"q\"\n", "parties": ["vn/hanoi"], "figures": {"a": 1, "b": 2}},
            "sources": [{"title": "t", "quote": "Viêng Chăn"}]});
        let checked = crate::Checked::parse(&serde_json::to_vec(&submission).unwrap()).unwrap();
        crate::Sealer::default().seal(&checked, "ev-1", "2026-11-22T10:45:50.123456Z").bytes
    }

    #[test]
    fn the_canonical_form_passes_and_every_other_form_fails() {
        let good = sealed();
        let link = check_stored(&good, &mut Vec::new()).unwrap();
        assert_eq!((link.seq, link.prev.as_str()), (1, GENESIS_PREV));
        let text = String::from_utf8(good.clone()).unwrap();
        let variants = [
            ("whitespace", text.replacen(",\"id\"", ", \"id\"", 1)),
            ("unsorted keys in data", text.replacen("{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}", 1)),
            ("a repeated key", text.replacen("{\"a\":1,\"b\":2}", "{\"a\":1,\"a\":2}", 1)),
            ("a float", text.replacen("{\"a\":1,", "{\"a\":1.0,", 1)),
            ("a needless escape", text.replacen("é", "\\u00e9", 1)),
            ("an extra field", text.replacen("\"type\":", "\"x\":1,\"type\":", 1)),
            ("a missing field", text.replacen(",\"occurred\":\"2023\"", "", 1)),
            ("seq as a string", text.replacen("\"seq\":1", "\"seq\":\"1\"", 1)),
            ("trailing bytes", format!("{text} ")),
        ];
        for (name, bad) in variants {
            assert_ne!(bad, text, "{name}: the variant must differ");
            assert!(check_stored(bad.as_bytes(), &mut Vec::new()).is_err(), "{name} passed: {bad}");
        }
    }
}
