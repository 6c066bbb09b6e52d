//! Properties of encoding and the chain, over generated histories:
//! - every generated submission passes the stateless checks, and its record
//!   encodes to JCS bytes that decode to the same record, stably;
//! - any single-byte change, deletion, insertion or swap in a stored chain
//!   makes the auditor's check fail at exactly that seq;
//! - a record holding any JSON without floats (any string, any 64-bit
//!   integer) passes the auditor's check, and the same record written any
//!   other way JSON allows (whitespace, other escapes, unsorted keys, `1.0`
//!   for `1`), its hash recomputed to match, fails it.

use events::generate::History;
use events::{ChainVerifier, Record};
use proptest::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// A seeded history: shrinking shortens it.
fn arb_history(max_len: usize) -> impl Strategy<Value = Vec<serde_json::Value>> {
    (any::<u64>(), 1..max_len).prop_map(|(seed, len)| History::generate(seed, len))
}

fn seal_all(submissions: &[serde_json::Value]) -> Vec<Vec<u8>> {
    events::generate::seal(submissions).iter().map(Record::canonical_bytes).collect()
}

/// The first seq at which the chain check fails, if any.
fn first_failure(stored: &[(u64, Vec<u8>)]) -> Option<u64> {
    let mut verifier = ChainVerifier::default();
    for (key, value) in stored {
        if let Err(e) = verifier.check(&key.to_be_bytes(), value) {
            return Some(e.seq);
        }
    }
    None
}

fn keyed(stored: Vec<Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
    stored.into_iter().enumerate().map(|(i, v)| (i as u64 + 1, v)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn records_round_trip_through_their_canonical_bytes(history in arb_history(80)) {
        let stored = seal_all(&history);
        for (bytes, submission) in stored.iter().zip(&history) {
            let record = Record::decode(bytes).unwrap();
            prop_assert_eq!(&record.canonical_bytes(), bytes, "stable encoding");
            prop_assert_eq!(&record.data, &submission["data"], "data comes back identical");
            prop_assert_eq!(record.compute_hash(), record.hash.clone());
            let reparsed: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            prop_assert_eq!(serde_json::to_vec(&reparsed).unwrap(), bytes.clone(), "sorted keys, no whitespace");
        }
        prop_assert_eq!(first_failure(&keyed(stored)), None);
    }

    #[test]
    fn any_single_byte_change_fails_at_that_seq(
        history in arb_history(20),
        pick in any::<prop::sample::Index>(),
        offset in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let mut stored = keyed(seal_all(&history));
        let target = pick.index(stored.len());
        let bytes = &mut stored[target].1;
        let at = offset.index(bytes.len());
        prop_assume!(bytes[at] != replacement);
        bytes[at] = replacement;
        prop_assert_eq!(first_failure(&stored), Some(target as u64 + 1));
    }

    #[test]
    fn deletion_insertion_and_swap_fail_at_that_seq(history in arb_history(20), pick in any::<prop::sample::Index>()) {
        let stored = keyed(seal_all(&history));
        prop_assume!(stored.len() >= 2);
        let target = pick.index(stored.len() - 1);
        let seq = target as u64 + 1;

        let mut deleted = stored.clone();
        deleted.remove(target);
        prop_assert_eq!(first_failure(&deleted), Some(seq), "deleted");

        let mut swapped = stored.clone();
        let (a, b) = (swapped[target].1.clone(), swapped[target + 1].1.clone());
        swapped[target].1 = b;
        swapped[target + 1].1 = a;
        prop_assert_eq!(first_failure(&swapped), Some(seq), "swapped");

        // An inserted record shifts everything after it to the next key.
        let mut inserted: Vec<(u64, Vec<u8>)> = stored[..target].to_vec();
        inserted.push((seq, stored[target + 1].1.clone()));
        inserted.extend(stored[target..].iter().map(|(k, v)| (k + 1, v.clone())));
        prop_assert_eq!(first_failure(&inserted), Some(seq), "inserted");
    }
}

/// Any JSON without floats, with strings of any characters (control
/// characters, quotes, backslashes, non-ASCII) and short keys from a small
/// alphabet, so that objects often have several to put in order.
fn arb_json() -> impl Strategy<Value = Value> {
    let text = prop::collection::vec(
        prop_oneof![any::<char>(), prop::char::range('\0', '\x7f'), Just('\u{2028}'), Just('/')],
        0..8,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>());
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-g]{1,3}", inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Ways to write the same JSON that are not its canonical form.
#[derive(Debug, Clone, Copy)]
enum Written {
    /// Spaces and newlines between tokens.
    Pretty,
    /// Every character of every string as a `\u` escape.
    AllEscaped,
    /// Control characters escaped with upper-case hex, and `\u0008` etc.
    /// where a short escape exists.
    LongEscapes,
    /// `/` escaped as `\/`.
    SlashEscaped,
    /// Object keys in reverse order.
    Unsorted,
    /// Integers written as floats with a zero fraction.
    Floats,
    /// Control characters written as themselves (not JSON at all).
    RawControls,
}

fn write_json(value: &Value, how: Written, out: &mut String) {
    match value {
        Value::String(text) => write_text(text, how, out),
        Value::Number(n) if matches!(how, Written::Floats) => write!(out, "{n}.0").unwrap(),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 {
                    ""
                } else if matches!(how, Written::Pretty) {
                    ", "
                } else {
                    ","
                });
                write_json(item, how, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            let mut entries: Vec<_> = map.iter().collect();
            if matches!(how, Written::Unsorted) {
                entries.reverse();
            }
            for (i, (key, item)) in entries.into_iter().enumerate() {
                out.push_str(if i == 0 {
                    ""
                } else if matches!(how, Written::Pretty) {
                    ",\n "
                } else {
                    ","
                });
                write_text(key, how, out);
                out.push_str(if matches!(how, Written::Pretty) { " : " } else { ":" });
                write_json(item, how, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn write_text(text: &str, how: Written, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match (how, c) {
            (Written::AllEscaped, c) => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(out, "\\u{unit:04x}").unwrap();
                }
            }
            (Written::LongEscapes, c) if (c as u32) < 0x20 => write!(out, "\\u{:04X}", c as u32).unwrap(),
            (Written::SlashEscaped, '/') => out.push_str("\\/"),
            (Written::RawControls, c) if (c as u32) < 0x20 => out.push(c),
            (_, c) => {
                let quoted = serde_json::to_string(&c.to_string()).unwrap();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
        }
    }
    out.push('"');
}

/// A sealed record around `data`, with `data` written as `data_text`
/// (its hash computed over what is written).
fn sealed_with(data: &Value, data_text: &str) -> Vec<u8> {
    let record = Record {
        data: data.clone(),
        hash: String::new(),
        id: "ev-1".into(),
        occurred: "2023".into(),
        prev: events::GENESIS_PREV.into(),
        recorded_at: "2026-11-23T06:19:12.123456Z".into(),
        seq: 1,
        sources: Value::Array(vec![]),
        event_type: "activity.held".into(),
    };
    let canonical = String::from_utf8(record.canonical_bytes()).unwrap();
    let data_end = "{\"data\":".len() + serde_json::to_string(data).unwrap().len();
    let after_hash = &canonical[data_end + ",\"hash\":\"\"".len()..];
    let unsealed = format!("{{\"data\":{data_text}{after_hash}");
    let hash = hex::encode(Sha256::digest(unsealed.as_bytes()));
    format!("{{\"data\":{data_text},\"hash\":\"{hash}\"{after_hash}").into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn only_the_canonical_form_passes_the_check(
        data in arb_json(),
        how in prop_oneof![
            Just(Written::Pretty), Just(Written::AllEscaped), Just(Written::LongEscapes),
            Just(Written::SlashEscaped), Just(Written::Unsorted), Just(Written::Floats),
            Just(Written::RawControls),
        ],
    ) {
        let canonical = serde_json::to_string(&data).unwrap();
        let stored = sealed_with(&data, &canonical);
        prop_assert!(events::check_stored(&stored).is_ok(), "{:?}", events::check_stored(&stored));
        prop_assert_eq!(&Record::decode(&stored).unwrap().canonical_bytes(), &stored);

        let mut other = String::new();
        write_json(&data, how, &mut other);
        prop_assume!(other != canonical);
        if !matches!(how, Written::Floats | Written::RawControls) {
            prop_assert_eq!(serde_json::from_str::<Value>(&other).unwrap(), data.clone(), "the same JSON");
        }
        let stored = sealed_with(&data, &other);
        prop_assert!(events::check_stored(&stored).is_err(), "{how:?} passed: {}", String::from_utf8_lossy(&stored));
    }
}
