//! Views as the store keeps them: live on every append, checkpointed,
//! caught up, rebuilt, and as `amity view --json` prints them, compared with
//! the independent oracle of the spec's rules.

#[path = "../../projections/tests/support/oracle.rs"]
mod oracle;

use crate::common::*;
use amity::Ledger;
use chrono::NaiveDate;
use events::generate::History;
use events::Record;
use projections::{Fold, Views};
use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;

fn all_views(views: &Views, as_of: NaiveDate, at_seq: Option<u64>) -> [Value; 4] {
    [
        serde_json::to_value(views.agreements(as_of, at_seq)).unwrap(),
        serde_json::to_value(views.projects(as_of, at_seq)).unwrap(),
        serde_json::to_value(views.aid(at_seq)).unwrap(),
        serde_json::to_value(views.visits(at_seq)).unwrap(),
    ]
}

fn stored_records(ledger: &Ledger) -> Vec<Record> {
    ledger.range(1, u64::MAX).map(Result::unwrap).collect()
}

fn refold(ledger: &Ledger) -> Views {
    let mut views = Views::default();
    for record in stored_records(ledger) {
        views.apply(&record);
    }
    views
}

fn days() -> Vec<NaiveDate> {
    ["1999-06-01", "2021-01-01", "2022-04-04", "2023-11-22", "2026-01-27", "2028-12-31"]
        .iter()
        .map(|d| d.parse().unwrap())
        .collect()
}

/// Appends a history in groups from several threads, as writers would.
fn append_concurrently(ledger: &Ledger, history: &[Value]) {
    // Submissions depend on earlier ones, so groups go in order; the
    // committer still batches whatever is queued.
    for chunk in history.chunks(7) {
        ledger.append_group(chunk.iter().map(checked).collect()).unwrap();
    }
}

#[test]
fn live_views_equal_a_rebuild_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let history = History::generate(99, 1500);
    append_concurrently(&ledger, &history);
    let rebuilt = refold(&ledger);
    let head = ledger.head().seq;
    for as_of in days() {
        for at_seq in [Some(1), Some(head / 3), Some(head / 2), None] {
            let live = ledger.read_views(|views| all_views(views, as_of, at_seq));
            assert_eq!(live, all_views(&rebuilt, as_of, at_seq), "as of {as_of}, at seq {at_seq:?}");
        }
    }
    ledger.rebuild(|_| {}).unwrap();
    ledger.read_views(|views| assert_eq!(*views, rebuilt));
}

fn checkpoint_bytes(dir: &Path) -> Option<Vec<u8>> {
    std::fs::read(dir.join("views.checkpoint")).ok()
}

fn set_checkpoint(dir: &Path, bytes: &[u8]) {
    std::fs::write(dir.join("views.checkpoint"), bytes).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Close and reopen (from the checkpoint), or reopen with a checkpoint
    /// that is behind: the views are those of a full refold.
    #[test]
    fn reopened_and_caught_up_views_equal_the_full_fold(seed in any::<u64>(), len in 20usize..400, cut in 0.1f64..0.9) {
        let dir = tempfile::tempdir().unwrap();
        let history = History::generate(seed, len);
        let k = ((len as f64) * cut) as usize;
        let ledger = open(dir.path());
        append_concurrently(&ledger, &history[..k]);
        ledger.close().unwrap();
        let old_checkpoint = checkpoint_bytes(dir.path()).expect("close saves a checkpoint");

        let ledger = open(dir.path());
        append_concurrently(&ledger, &history[k..]);
        let before = ledger.read_views(|v| v.clone());
        ledger.close().unwrap();

        let ledger = open(dir.path());
        let reopened = ledger.read_views(|v| v.clone());
        prop_assert_eq!(&reopened, &before);
        prop_assert_eq!(&reopened, &refold(&ledger));
        ledger.close().unwrap();

        set_checkpoint(dir.path(), &old_checkpoint);
        let ledger = open(dir.path());
        prop_assert_eq!(ledger.read_views(|v| v.clone()), before);
    }
}

#[test]
fn a_damaged_or_foreign_checkpoint_is_discarded_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    append_concurrently(&ledger, &History::generate(4, 300));
    let expected = ledger.read_views(|v| v.clone());
    ledger.close().unwrap();
    let good = checkpoint_bytes(dir.path()).unwrap();

    let mut damaged = good.clone();
    let last = damaged.len() - 10;
    damaged[last] = b'#';
    let mut old_format = good.clone();
    old_format[..4].copy_from_slice(&(Views::FORMAT + 1).to_be_bytes());
    let mut wrong_hash = good.clone();
    wrong_hash[12] = if wrong_hash[12] == b'a' { b'b' } else { b'a' };
    for (name, bytes) in [
        ("damaged", damaged),
        ("old format", old_format),
        ("wrong hash", wrong_hash),
        ("truncated", good[..7].to_vec()),
    ] {
        set_checkpoint(dir.path(), &bytes);
        let ledger = open(dir.path());
        assert_eq!(ledger.read_views(|v| v.clone()), expected, "{name} checkpoint");
        ledger.close().unwrap();
        assert!(checkpoint_bytes(dir.path()).unwrap() == good, "{name}: a fresh checkpoint replaces it");
    }
}

#[test]
fn cli_views_match_the_oracle_for_imported_random_histories() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let file = work.path().join("history.ndjson");
    write_ndjson(&file, &History::generate(31337, 3000));
    assert!(amity(&db, &["import", file.to_str().unwrap()], b"").status.success());
    let records: Vec<Record> =
        String::from_utf8(export(&db)).unwrap().lines().map(|line| Record::decode(line.as_bytes()).unwrap()).collect();
    let head = records.len() as u64;
    for at_seq in [1, 17, head / 4, head / 2, head - 1, head] {
        let seq = at_seq.to_string();
        let cli = |args: &[&str]| -> Value {
            let output = amity(&db, args, b"");
            assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
            serde_json::from_slice(&output.stdout).unwrap()
        };
        for as_of in days() {
            let day = as_of.to_string();
            let oracle = oracle::Ledger::new(&records, at_seq, as_of);
            let agreements = cli(&["view", "agreements", "--as-of", &day, "--at-seq", &seq, "--json"]);
            assert_eq!(agreements["agreements"], oracle.agreements(), "agreements as of {day} at {at_seq}");
            assert_eq!(agreements["as_of"], Value::String(day.clone()));
            assert_eq!(agreements["at_seq"], serde_json::json!(at_seq));
            let projects = cli(&["view", "projects", "--as-of", &day, "--at-seq", &seq, "--json"]);
            assert_eq!(projects["projects"], oracle.projects(), "projects as of {day} at {at_seq}");
        }
        let oracle = oracle::Ledger::new(&records, at_seq, days()[0]);
        let aid = cli(&["view", "aid", "--at-seq", &seq, "--json"]);
        let expected = oracle.aid();
        assert_eq!(aid["money"], expected["money"], "aid at {at_seq}");
        assert_eq!(aid["items"], expected["items"], "aid items at {at_seq}");
        let visits = cli(&["view", "visits", "--at-seq", &seq, "--json"]);
        assert_eq!(visits["visits"], oracle.visits(), "visits at {at_seq}");
    }
    let rebuild = amity(&db, &["rebuild"], b"");
    assert!(rebuild.status.success());
    assert!(text(&rebuild.stdout).contains(&format!("from {head} records")), "{}", text(&rebuild.stdout));
}

#[test]
fn at_seq_equals_a_ledger_that_only_received_that_prefix() {
    let work = tempfile::tempdir().unwrap();
    let history = History::generate(77, 600);
    let (full, part) = (work.path().join("full"), work.path().join("part"));
    let whole_file = work.path().join("whole.ndjson");
    let prefix_file = work.path().join("prefix.ndjson");
    write_ndjson(&whole_file, &history);
    write_ndjson(&prefix_file, &history[..250]);
    assert!(amity(&full, &["import", whole_file.to_str().unwrap()], b"").status.success());
    assert!(amity(&part, &["import", prefix_file.to_str().unwrap()], b"").status.success());
    for view in ["agreements", "projects", "aid", "visits"] {
        let at = amity(&full, &["view", view, "--as-of", "2024-06-30", "--at-seq", "250", "--json"], b"");
        let prefix = amity(&part, &["view", view, "--as-of", "2024-06-30", "--json"], b"");
        assert_eq!(text(&at.stdout), text(&prefix.stdout), "{view}");
    }
}

/// A rebuild while writers append folds every record into the new views
/// exactly once: a record folded twice would count its aid twice, list its
/// visit twice or add a second signing, and one missed would be absent.
#[test]
fn a_rebuild_with_writers_running_folds_every_record_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let history = History::generate(21, 3_000);
    let (first, rest) = history.split_at(1_000);
    append_concurrently(&ledger, first);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for chunk in rest.chunks(50) {
                ledger.append_group(chunk.iter().map(checked).collect()).unwrap();
            }
        });
        let mut rebuilt = Vec::new();
        while !writer.is_finished() {
            rebuilt.push(ledger.rebuild(|_| {}).unwrap());
        }
        writer.join().unwrap();
        assert!(rebuilt.iter().any(|&seq| seq > 1_000 && seq < 3_000), "rebuilt while writing: {rebuilt:?}");
    });
    assert_eq!(ledger.head().seq, 3_000);
    let live = ledger.read_views(|views| views.clone());
    assert_eq!(live.seq, 3_000);
    assert_eq!(live, refold(&ledger), "the live views are those of one fold of the log");
}
