//! Hostile input for the submission decoder and validator, as property tests
//! (cargo-fuzz needs a nightly toolchain this project's machines do not
//! have): arbitrary bytes, mutated valid submissions, and a committed corpus
//! of inputs that once seemed likely to break something. The property is the
//! same for all: no panic, and every rejection names at least one field.
//! CI runs the default case counts; by hand, `PROPTEST_CASES=200000 cargo
//! test -p amity-events --test fuzz --release` runs for longer.

use events::generate::History;
use events::known::{EntityAttrs, NO_ATTRS};
use events::{Checked, EntityKind, Known, KnownEvent};
use proptest::prelude::*;

/// A ledger that knows everything, so validation runs its deepest paths.
struct KnowsAll;

impl Known for KnowsAll {
    fn entity(&self, _: EntityKind, _: &str) -> Option<&EntityAttrs> {
        Some(&NO_ATTRS)
    }
    fn event(&self, _: &str) -> Option<KnownEvent> {
        None
    }
    fn stream_version(&self, _: &str) -> u64 {
        0
    }
}

fn decode_and_validate(bytes: &[u8]) {
    match Checked::parse(bytes) {
        Ok(checked) => {
            if let Err(rejection) = checked.validate(&KnowsAll) {
                assert!(!rejection.errors.is_empty());
            }
        }
        Err(rejection) => {
            assert!(!rejection.errors.is_empty());
            assert!(rejection.errors.iter().all(|e| !e.field.is_empty() && !e.rule.is_empty()));
        }
    }
    let _ = Checked::parse_many(bytes, 1 << 20, 64);
}

fn valid_submission() -> impl Strategy<Value = Vec<u8>> {
    (any::<u64>(), 1..40usize)
        .prop_map(|(seed, n)| serde_json::to_vec(History::generate(seed, n).last().unwrap()).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        decode_and_validate(&bytes);
    }

    #[test]
    fn mutated_valid_submissions_never_panic(
        original in valid_submission(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut bytes = original;
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
            match kind {
                0 if !bytes.is_empty() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if !bytes.is_empty() => { bytes.remove(i); }
                _ => {}
            }
        }
        decode_and_validate(&bytes);
    }

    #[test]
    fn json_shaped_noise_never_panics(text in r#"[\[\]{}":,0-9a-z.\-\\ ]{0,300}"#) {
        decode_and_validate(text.as_bytes());
    }
}

#[test]
fn the_committed_corpus_is_decided_without_panicking() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz-corpus");
    let mut count = 0;
    for entry in std::fs::read_dir(corpus).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        decode_and_validate(&bytes);
        count += 1;
    }
    assert!(count >= 10, "the corpus is there");
}
