//! The auditor's check, fed one stored `(key, value)` at a time in key order:
//! every key is the next seq, every value is a canonical record whose `seq`
//! is its key, whose `hash` is right, whose `prev` is the previous `hash`, and
//! whose `recorded_at` never goes back. The first failure names its seq.

use crate::record::{Record, GENESIS_PREV};
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
        let (record, link) = match check_alone(value) {
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
/// too.
pub fn check_alone(value: &[u8]) -> Result<(Record, Link), String> {
    let link = check_stored(value)?;
    Ok((Record::decode(value)?, link))
}

/// The half of the check that needs no other record: the bytes are a
/// record (exactly its nine fields, `seq` an integer, the rest strings but
/// `data` and `sources`, no floats anywhere) in its canonical (JCS) form,
/// its `hash` is the SHA-256 of it without `hash`, and `recorded_at` is well
/// formed. One pass over the bytes that accepts only the canonical form (no
/// tree is built, nothing is re-emitted): keys sorted and never repeated, no
/// whitespace, integers without sign or leading zeros to spare, strings
/// escaped exactly as `JSON.stringify` escapes them. The span of
/// `,"hash":"…"` is noted on the way, and SHA-256 runs over the rest.
pub fn check_stored(value: &[u8]) -> Result<Link, String> {
    // One check of the whole record is much cheaper than one per string.
    if let Err(e) = std::str::from_utf8(value) {
        return Err(format!("not a record: not UTF-8 at byte {}", e.valid_up_to()));
    }
    let fields = Scan { bytes: value, at: 0 }.record()?;
    let mut hasher = Sha256::new();
    hasher.update(&value[..fields.hash_span.0]);
    hasher.update(&value[fields.hash_span.1..]);
    let mut hex_digest = [0u8; 64];
    hex::encode_to_slice(hasher.finalize(), &mut hex_digest).expect("64 hex digits for 32 bytes");
    if *fields.hash != hex_digest {
        let (stated, hash) = (String::from_utf8_lossy(&fields.hash), String::from_utf8_lossy(&hex_digest));
        return Err(format!("hash {stated} does not match the record's content (which hashes to {hash})"));
    }
    let link = Link {
        seq: fields.seq,
        prev: text(fields.prev),
        hash: text(fields.hash),
        recorded_at: text(fields.recorded_at),
    };
    if !is_recorded_at(&link.recorded_at) {
        return Err(format!("recorded_at `{}` is not RFC 3339 UTC with microseconds", link.recorded_at));
    }
    Ok(link)
}

/// A string of a record already checked to be UTF-8 (an escape stands for
/// one ASCII byte, so unescaping keeps it UTF-8: the lossy branch is never
/// taken).
fn text(bytes: Cow<[u8]>) -> String {
    String::from_utf8(bytes.into_owned()).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The record's keys, in canonical (sorted) order.
const RECORD_KEYS: [&str; 9] = ["data", "hash", "id", "occurred", "prev", "recorded_at", "seq", "sources", "type"];

/// Deepest nesting of arrays and objects read, the record itself counted
/// (serde_json's own limit: no record it could decode is refused for depth).
const DEPTH_MAX: usize = 128;

/// What [`check_stored`] keeps of a record's top level.
#[derive(Default)]
struct Fields<'a> {
    seq: u64,
    hash: Cow<'a, [u8]>,
    prev: Cow<'a, [u8]>,
    recorded_at: Cow<'a, [u8]>,
    /// Where `,"hash":"…"` starts and ends in the bytes.
    hash_span: (usize, usize),
}

/// A reader of UTF-8 bytes that accepts only their canonical (JCS) form.
/// Strings come back as their bytes (UTF-8, as the whole record is).
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn fail<T>(&self, what: impl fmt::Display) -> Result<T, String> {
        Err(format!("not a record in canonical (JCS) form: at byte {}, {what}", self.at))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Result<(), String> {
        match self.peek() {
            Some(found) if found == byte => {
                self.at += 1;
                Ok(())
            }
            Some(found) => self.fail(format_args!("`{}` where `{}` belongs", found.escape_ascii(), byte as char)),
            None => self.fail(format_args!("the end where `{}` belongs", byte as char)),
        }
    }

    /// The record's nine fields in order, then nothing.
    fn record(mut self) -> Result<Fields<'a>, String> {
        let mut fields = Fields::default();
        self.eat(b'{')?;
        for (i, expected) in RECORD_KEYS.iter().enumerate() {
            let start = self.at;
            if i > 0 {
                self.eat(b',')?;
            }
            let key = self.string()?;
            if *key != *expected.as_bytes() {
                let key = String::from_utf8_lossy(&key);
                return self.fail(format_args!("field `{key}` where `{expected}` belongs"));
            }
            self.eat(b':')?;
            match *expected {
                "data" | "sources" => self.value(1)?,
                "seq" => match self.integer()? {
                    Some(seq) => fields.seq = seq,
                    None => return self.fail("seq is negative"),
                },
                _ => {
                    let text = self.string()?;
                    match *expected {
                        "hash" => {
                            fields.hash = text;
                            fields.hash_span = (start, self.at);
                        }
                        "prev" => fields.prev = text,
                        "recorded_at" => fields.recorded_at = text,
                        _ => {}
                    }
                }
            }
        }
        if self.peek() == Some(b',') {
            self.at += 1;
            let key = self.string()?;
            return self.fail(format_args!("unknown field `{}`", String::from_utf8_lossy(&key)));
        }
        self.eat(b'}')?;
        if self.at != self.bytes.len() {
            return self.fail("bytes after the record");
        }
        Ok(fields)
    }

    /// Any JSON value without floats.
    fn value(&mut self, depth: usize) -> Result<(), String> {
        match self.peek() {
            Some(b'{' | b'[') if depth >= DEPTH_MAX => self.fail(format_args!("nested deeper than {DEPTH_MAX} levels")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.integer().map(drop),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(other) => self.fail(format_args!("`{}` where a value belongs", other.escape_ascii())),
            None => self.fail("the end where a value belongs"),
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        if !self.bytes[self.at..].starts_with(word.as_bytes()) {
            return self.fail(format_args!("not `{word}`"));
        }
        self.at += word.len();
        Ok(())
    }

    /// An object whose keys are in byte order, none repeated.
    fn object(&mut self, depth: usize) -> Result<(), String> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        let mut previous: Option<Cow<'a, [u8]>> = None;
        loop {
            let key = self.string()?;
            if previous.as_ref().is_some_and(|p| *p >= key) {
                let key = String::from_utf8_lossy(&key);
                return self.fail(format_args!("key `{key}` is out of order or repeated"));
            }
            self.eat(b':')?;
            self.value(depth)?;
            previous = Some(key);
            match self.peek() {
                Some(b',') => self.at += 1,
                _ => return self.eat(b'}'),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), String> {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value(depth)?;
            match self.peek() {
                Some(b',') => self.at += 1,
                _ => return self.eat(b']'),
            }
        }
    }

    /// An integer as serde_json reads and writes one: no `+`,
    /// no leading zero, no fraction or exponent, no `-0`, within 64 bits.
    /// `None` for a negative one.
    fn integer(&mut self) -> Result<Option<u64>, String> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let digits = self.bytes[self.at..].iter().take_while(|b| b.is_ascii_digit()).count();
        let text = &self.bytes[self.at..self.at + digits];
        if digits == 0 {
            return self.fail("no digits where an integer belongs");
        }
        if digits > 1 && text[0] == b'0' {
            return self.fail("an integer with a leading zero");
        }
        self.at += digits;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return self.fail("a float; records have none");
        }
        let magnitude = text.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
        match (negative, magnitude) {
            (_, None) => self.fail("an integer beyond 64 bits (a float to JSON readers)"),
            (false, Some(n)) => Ok(Some(n)),
            (true, Some(0)) => self.fail("`-0` (a float to JSON readers)"),
            (true, Some(n)) if n > 1 << 63 => self.fail("an integer below -2^63 (a float to JSON readers)"),
            (true, Some(_)) => Ok(None),
        }
    }

    /// A string escaped exactly as `JSON.stringify` escapes it: `\"`, `\\`,
    /// the five short escapes, `\u00xx` (lower-case) for the other control
    /// characters, every other character as itself. Its text's bytes,
    /// borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, [u8]>, String> {
        self.eat(b'"')?;
        let start = self.at;
        let mut unescaped: Option<Vec<u8>> = None;
        loop {
            let rest = &self.bytes[self.at..];
            let plain = crate::jcs::string_stop(rest).unwrap_or(rest.len());
            if let Some(text) = &mut unescaped {
                text.extend_from_slice(&rest[..plain]);
            }
            self.at += plain;
            match rest.get(plain) {
                Some(b'"') => break,
                Some(b'\\') => {
                    let (bytes, before) = (self.bytes, self.at);
                    let escaped = self.escape()?;
                    unescaped.get_or_insert_with(|| bytes[start..before].to_vec()).push(escaped);
                }
                Some(_) => return self.fail("a control character that is not escaped"),
                None => return self.fail("the end inside a string"),
            }
        }
        let text = match unescaped {
            None => Cow::Borrowed(&self.bytes[start..self.at]),
            Some(text) => Cow::Owned(text),
        };
        self.at += 1;
        Ok(text)
    }

    /// One escape, the byte it stands for. Leaves `at` after it (`\u00xx`
    /// is six bytes, the others two).
    fn escape(&mut self) -> Result<u8, String> {
        let short = match self.bytes.get(self.at + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(byte) = short {
            self.at += 2;
            return Ok(byte);
        }
        let unicode = self.bytes.get(self.at + 1..self.at + 6).and_then(|escape| {
            let hex = |d: u8| match d {
                b'0'..=b'9' => Some(d - b'0'),
                b'a'..=b'f' => Some(d - b'a' + 10),
                _ => None,
            };
            match escape {
                [b'u', b'0', b'0', high, low] => Some(hex(*high)? << 4 | hex(*low)?),
                _ => None,
            }
        });
        match unicode {
            Some(byte) if byte < 0x20 && !matches!(byte, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) => {
                self.at += 6;
                Ok(byte)
            }
            _ => self.fail("an escape `JSON.stringify` does not write"),
        }
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
        crate::Sealer::default().seal(&checked, "ev-1", "2026-11-22T10:45:50.123456Z").bytes().to_vec()
    }

    #[test]
    fn the_canonical_form_passes_and_every_other_form_fails() {
        let good = sealed();
        let link = check_stored(&good).unwrap();
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
            assert!(check_stored(bad.as_bytes()).is_err(), "{name} passed: {bad}");
        }
    }
}
