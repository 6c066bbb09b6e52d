//! The store through its library API: idempotency, `expect`, groups,
//! restarts, many concurrent writers, and the anchor.

use crate::common::*;
use amity::{Error, Ledger, Options};
use events::generate::History;
use serde_json::json;
use std::sync::Arc;

#[test]
fn idempotent_resend_returns_the_existing_record_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let first = ledger.append(checked(&party("ev-hanoi", "vn/hanoi", "VN"))).unwrap();
    assert!(!first.existed);
    let again = ledger.append(checked(&party("ev-hanoi", "vn/hanoi", "VN"))).unwrap();
    assert!(again.existed);
    assert_eq!(again.record(), first.record());
    assert_eq!(ledger.head().seq, 1);
    let mut other = party("ev-hanoi", "vn/hanoi", "VN");
    other["data"]["name"] = json!("Thủ đô Hà Nội");
    match ledger.append(checked(&other)) {
        Err(Error::Conflict(message)) => assert!(message.contains("ev-hanoi"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(ledger.head().seq, 1);
}

#[test]
fn expect_guards_a_stream_version() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    ledger.append(checked(&party("p1", "vn/hanoi", "VN"))).unwrap();
    ledger.append(checked(&party("p2", "la/vientiane", "LA"))).unwrap();
    let visit = |id: &str, version: u64| {
        json!({"id": id, "type": "visit.held", "occurred": "2023-11",
            "expect": {"stream": "party:vn/hanoi", "version": version},
            "data": {"visit": id, "delegation_of": "vn/hanoi", "host": "la/vientiane", "led_by": {"name": "A"}}})
    };
    // party:vn/hanoi has been named once (its registration).
    match ledger.append(checked(&visit("v1", 0))) {
        Err(Error::Conflict(message)) => assert!(message.contains("at version 1, not the expected 0"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    ledger.append(checked(&visit("v1", 1))).unwrap();
    assert!(matches!(ledger.append(checked(&visit("v2", 1))), Err(Error::Conflict(_))));
    ledger.append(checked(&visit("v2", 2))).unwrap();
    assert_eq!(ledger.head().seq, 4);
}

#[test]
fn a_group_is_all_or_nothing_and_does_not_poison_others() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let bad_group = vec![checked(&party("a", "vn/a", "VN")), checked(&party("b", "vn/a", "VN"))];
    let error = ledger.append_group(bad_group).unwrap_err();
    assert_eq!(error.index, 1);
    assert!(error.error.to_string().contains("already exists"), "{error}");
    assert_eq!(ledger.head().seq, 0, "the group's first submission was not appended either");

    // Concurrent groups land in one batch; the bad one fails alone.
    let ledger = Arc::new(ledger);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || {
                let mut group = vec![checked(&party(&format!("g{i}"), &format!("vn/g{i}"), "VN"))];
                if i == 3 {
                    group.push(checked(&party("dup", &format!("vn/g{i}"), "VN")));
                }
                ledger.append_group(group).is_ok()
            })
        })
        .collect();
    let results: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|ok| **ok).count(), 7);
    assert!(!results[3]);
    assert_eq!(ledger.head().seq, 7);
    ledger.verify(|_| {}).unwrap();
}

#[test]
fn restart_keeps_everything_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::generate(7, 300);
    let ledger = open(dir.path());
    for submission in &history[..200] {
        ledger.append(checked(submission)).unwrap();
    }
    let head = ledger.head();
    let before: Vec<_> = ledger.range_bytes(1, u64::MAX).map(Result::unwrap).collect();
    ledger.close().unwrap();

    let ledger = open(dir.path());
    assert_eq!(ledger.head(), head);
    let after: Vec<_> = ledger.range_bytes(1, u64::MAX).map(Result::unwrap).collect();
    assert_eq!(before, after);
    // References, idempotency and stream versions survive without replay.
    let with_id = history.iter().find(|s| s.get("id").is_some()).unwrap();
    assert!(ledger.append(checked(with_id)).unwrap().existed);
    for submission in &history[200..] {
        ledger.append(checked(submission)).unwrap();
    }
    let next = ledger.get(head.seq + 1).unwrap().unwrap();
    assert_eq!(next.prev, head.hash, "the chain continues across the restart");
    let verified = ledger.verify(|_| {}).unwrap();
    assert_eq!(verified.count, ledger.head().seq);
}

/// A ledger with the two parties the writers' activities name.
fn two_parties(dir: &std::path::Path) -> Ledger {
    let ledger = open(dir);
    ledger.append(checked(&party("p-a", "vn/a", "VN"))).unwrap();
    ledger.append(checked(&party("p-b", "la/b", "LA"))).unwrap();
    ledger
}

/// Writer `w`'s `i`-th activity between the two parties.
fn activity(w: &str, i: usize) -> events::Checked {
    checked(&json!({"id": format!("{w}-{i}"), "type": "activity.held", "occurred": "2023",
        "data": {"category": "exchange", "title": format!("writer {w} event {i}"), "parties": ["vn/a", "la/b"]}}))
}

/// The writers' acknowledgements (seq, stored bytes) cover seqs 3..=`total`
/// once each, with no gap, and each is stored byte for byte.
fn assert_gapless(ledger: &Ledger, acks: &[(u64, Vec<u8>)], total: u64) {
    assert_eq!(ledger.head().seq, total);
    let mut seqs: Vec<u64> = acks.iter().map(|(seq, _)| *seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (3..=total).collect::<Vec<_>>(), "every seq once, no gaps");
    for (seq, bytes) in acks {
        assert_eq!(
            &ledger.get_bytes(*seq).unwrap().unwrap(),
            bytes,
            "acknowledged record {seq} is stored byte for byte"
        );
    }
    assert_eq!(ledger.verify(|_| {}).unwrap().count, total);
}

#[test]
fn many_concurrent_writers_get_gapless_seqs_and_every_ack_is_stored() {
    const WRITERS: usize = 64;
    const EACH: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let ledger = two_parties(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let acks = runtime.block_on(async {
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let ledger = ledger.clone();
                tokio::spawn(async move {
                    let mut acks = Vec::with_capacity(EACH);
                    for i in 0..EACH {
                        let appended = ledger.append_group_async(vec![activity(&format!("w{w}"), i)]).await.unwrap();
                        let record = appended.into_iter().next().unwrap().record();
                        acks.push((record.seq, record.canonical_bytes()));
                    }
                    acks
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    assert_gapless(&ledger, &acks, (WRITERS * EACH) as u64 + 2);
}

/// Writers on their own threads: one that finds the write path idle does
/// its work itself, the others queue meanwhile; both kinds end in one
/// gapless chain.
#[test]
fn writers_that_lead_and_writers_that_queue_share_one_gapless_chain() {
    const WRITERS: usize = 8;
    const EACH: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let ledger = two_parties(dir.path());
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let record = ledger.append(activity(&format!("t{w}"), i)).unwrap().record();
                        (record.seq, record.canonical_bytes())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acks: Vec<(u64, Vec<u8>)> = threads.into_iter().flat_map(|thread| thread.join().unwrap()).collect();
    let total = (WRITERS * EACH) as u64 + 2;
    assert_gapless(&ledger, &acks, total);
    ledger.close().unwrap();
    assert_eq!(open(dir.path()).head().seq, total, "all of it survives a reopen");
}

/// A group queued without waiting is decided before anything the same
/// writer appends after it, even when that append finds the path free to
/// do itself.
#[test]
fn an_append_never_overtakes_a_group_queued_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    for i in 0..100 {
        let queued = ledger.submit_group(vec![checked(&party(&format!("q-{i}"), &format!("vn/q{i}"), "VN"))]).unwrap();
        let after = ledger.append(checked(&party(&format!("a-{i}"), &format!("la/a{i}"), "LA"))).unwrap();
        let queued = queued.wait().unwrap().remove(0);
        assert!(
            queued.seq < after.seq,
            "round {i}: queued group at seq {}, the append after it at {}",
            queued.seq,
            after.seq
        );
    }
    assert_eq!(ledger.head().seq, 200);
}

#[test]
fn recorded_at_never_decreases_even_when_the_clock_does() {
    struct Backwards(std::sync::atomic::AtomicI64);
    impl amity::store::Clock for Backwards {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            let step = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            chrono::DateTime::from_timestamp(1_800_000_000 - step * 60, 0).unwrap()
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let options = Options { clock: Arc::new(Backwards(0.into())), ..Options::default() };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    for (i, country) in ["VN", "LA", "TH"].iter().enumerate() {
        ledger.append(checked(&party(&format!("p{i}"), &format!("x/p{i}"), country))).unwrap();
    }
    let times: Vec<String> = ledger.range(1, 3).map(|r| r.unwrap().recorded_at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    ledger.verify(|_| {}).unwrap();
}

#[test]
fn a_log_shorter_than_its_anchor_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    for submission in History::generate(3, 20) {
        ledger.append(checked(&submission)).unwrap();
    }
    let anchor = std::fs::read(dir.path().join("anchor")).unwrap();
    ledger.close().unwrap();

    // Lose the last record behind the ledger's back.
    {
        let db = raw_sled(dir.path());
        let log = db.open_tree("log").unwrap();
        log.remove(20u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    match Ledger::open(dir.path(), Options::default()) {
        Err(Error::Chain(e)) => assert!(e.problem.contains("acknowledged"), "{e}"),
        Err(other) => panic!("expected a chain error, got {other}"),
        Ok(_) => panic!("a truncated ledger opened"),
    }
    // A damaged anchor (both of its slots) is named, never ignored.
    let mut damaged = anchor.clone();
    damaged[20] ^= 0x01;
    damaged[128 + 20] ^= 0x01;
    std::fs::write(dir.path().join("anchor"), damaged).unwrap();
    let error = Ledger::open(dir.path(), Options::default()).err().expect("refused");
    assert!(error.to_string().contains("anchor"), "{error}");
    std::fs::remove_file(dir.path().join("anchor")).unwrap();
    let error = Ledger::open(dir.path(), Options::default()).err().expect("refused");
    assert!(error.to_string().contains("anchor") && error.to_string().contains("missing"), "{error}");
}

#[test]
fn the_knowledge_is_caught_up_from_the_log_when_its_checkpoint_is_stale_or_lost() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::generate(11, 120);
    let ledger = open(dir.path());
    for submission in &history[..60] {
        ledger.append(checked(submission)).unwrap();
    }
    ledger.close().unwrap();
    let checkpoint = dir.path().join("knowledge.checkpoint");
    let stale = std::fs::read(&checkpoint).expect("saved on close");
    let ledger = open(dir.path());
    for submission in &history[60..100] {
        ledger.append(checked(submission)).unwrap();
    }
    ledger.close().unwrap();
    for damage in ["stale", "lost"] {
        match damage {
            "stale" => std::fs::write(&checkpoint, &stale).unwrap(),
            _ => std::fs::remove_file(&checkpoint).unwrap(),
        }
        let ledger = open(dir.path());
        // Re-sending an old id is still idempotent, and references still resolve.
        for submission in history[..100].iter().filter(|s| s.get("id").is_some()) {
            assert!(ledger.append(checked(submission)).unwrap().existed, "{damage}: {submission}");
        }
        assert_eq!(ledger.head().seq, 100, "{damage}");
        ledger.close().unwrap();
    }
    let ledger = open(dir.path());
    for submission in &history[100..] {
        ledger.append(checked(submission)).unwrap();
    }
    ledger.verify(|_| {}).unwrap();
}

#[test]
fn a_truncated_sled_file_is_caught_by_the_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    for submission in History::generate(9, 20) {
        ledger.append(checked(&submission)).unwrap();
    }
    ledger.close().unwrap();
    std::fs::write(dir.path().join("ledger/db"), b"").unwrap();
    for entry in std::fs::read_dir(dir.path().join("ledger")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("snap.") {
            std::fs::remove_file(path).unwrap();
        }
    }
    match Ledger::open(dir.path(), Options::default()) {
        Ok(ledger) => panic!("opened with head {:?} after its data file was emptied", ledger.head()),
        Err(Error::Chain(e)) => assert!(e.problem.contains("seq 20 was acknowledged"), "{e}"),
        Err(other) => panic!("expected the anchor to name the loss, got {other}"),
    }
}

#[test]
fn a_damaged_sled_conf_never_opens_as_an_empty_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    for submission in History::generate(8, 20) {
        ledger.append(checked(&submission)).unwrap();
    }
    ledger.close().unwrap();
    std::fs::write(dir.path().join("ledger/conf"), b"segment_size: banana\n").unwrap();
    match Ledger::open(dir.path(), Options::default()) {
        Ok(ledger) => panic!("opened with head {:?} after its conf was damaged", ledger.head()),
        Err(error) => {
            let message = error.to_string();
            assert!(
                message.contains("seq") || message.contains("conf") || message.contains("cannot open"),
                "{message}"
            );
        }
    }
}

#[test]
fn two_writers_racing_on_one_stream_with_expect_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    ledger.append(checked(&party("p1", "vn/hanoi", "VN"))).unwrap();
    ledger.append(checked(&party("p2", "la/vientiane", "LA"))).unwrap();
    for round in 0..50u64 {
        // party:vn/hanoi has been named by its registration and one visit per round.
        let version = round + 1;
        let racers: Vec<_> = (0..2)
            .map(|racer| {
                let ledger = ledger.clone();
                std::thread::spawn(move || {
                    let id = format!("visit-{round}-{racer}");
                    let submission = json!({"id": id, "type": "visit.held", "occurred": "2023",
                        "expect": {"stream": "party:vn/hanoi", "version": version},
                        "data": {"visit": id, "delegation_of": "vn/hanoi", "host": "la/vientiane", "led_by": {"name": "A"}}});
                    ledger.append(checked(&submission))
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results.iter().filter(|r| matches!(r, Err(Error::Conflict(_)))).count();
        assert_eq!((wins, conflicts), (1, 1), "round {round}: {results:?}");
    }
    assert_eq!(ledger.head().seq, 2 + 50, "nothing half-written: one visit per round");
    ledger.verify(|_| {}).unwrap();
}

/// A ledger of a generated history of `records`, appended in groups of a
/// thousand, then closed.
fn closed_ledger(seed: u64, records: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    for group in History::generate(seed, records).chunks(1_000) {
        ledger.append_group(group.iter().map(checked).collect()).unwrap();
    }
    ledger.close().unwrap();
    dir
}

/// `verify` checks records on several threads, chunk by chunk; the failure it
/// reports is still the first in the chain, whichever thread found it.
#[test]
fn verify_names_the_first_damaged_seq_whichever_thread_checks_it() {
    let dir = closed_ledger(5, 5_000);
    let damage = |seq: u64| {
        let db = raw_sled(dir.path());
        let log = db.open_tree("log").unwrap();
        let mut bytes = log.get(seq.to_be_bytes()).unwrap().unwrap().to_vec();
        let at = bytes.windows(8).position(|w| w == b"\"hash\":\"").unwrap() + 8;
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        log.insert(seq.to_be_bytes(), bytes).unwrap();
        db.flush().unwrap();
    };
    // Seqs in different chunks, so on different threads; the later one first.
    damage(4_500);
    damage(2_500);
    damage(1_500);
    let mut checked_up_to = 0;
    let error = open(dir.path()).verify(|seq| checked_up_to = seq).expect_err("damage is found");
    match error {
        Error::Chain(e) => assert_eq!(e.seq, 1_500, "{e}"),
        other => panic!("expected a chain error, got {other}"),
    }
    assert_eq!(checked_up_to, 1_499, "every record before the damage was checked, in order");
}

/// Each verify thread reads its own chunks of the log's key range: a record
/// missing where a chunk begins, or a stray key where two chunks meet, is
/// still found, at its place in the chain.
#[test]
fn verify_finds_a_missing_record_or_a_stray_key_at_a_chunk_boundary() {
    let dir = closed_ledger(6, 3_000);
    let chain_error = || match open(dir.path()).verify(|_| {}).expect_err("the damage is found") {
        Error::Chain(e) => e,
        other => panic!("expected a chain error, got {other}"),
    };
    let log = || raw_sled(dir.path()).open_tree("log").unwrap();

    // Chunks are 1,024 records: seq 2,049 begins the third.
    let removed = log().remove(2_049u64.to_be_bytes()).unwrap().unwrap();
    let error = chain_error();
    assert_eq!((error.seq, error.problem.as_str()), (2_049, "missing: the log goes on at seq 2050"), "{error}");
    log().insert(2_049u64.to_be_bytes(), removed).unwrap();
    open(dir.path()).verify(|_| {}).unwrap();

    // Nine bytes sort between seq 1,024's key and seq 1,025's.
    let stray = [&1_024u64.to_be_bytes()[..], &[0]].concat();
    log().insert(&stray, b"{}".as_slice()).unwrap();
    let error = chain_error();
    assert_eq!(error.seq, 1_025, "{error}");
    assert!(error.problem.contains("a key of 9 bytes"), "{error}");
}

#[test]
fn a_ledger_with_the_old_index_and_checkpoints_trees_opens_and_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::generate(5, 60);
    let ledger = open(dir.path());
    for submission in &history[..40] {
        ledger.append(checked(submission)).unwrap();
    }
    ledger.close().unwrap();
    {
        let db = raw_sled(dir.path());
        db.open_tree("index").unwrap().insert(b"m:head", &40u64.to_be_bytes()).unwrap();
        // Checkpoints were sled values before they were files.
        db.open_tree("checkpoints").unwrap().insert(b"views", vec![7u8; 4096]).unwrap();
        db.flush().unwrap();
    }
    for name in ["knowledge", "views"] {
        std::fs::remove_file(dir.path().join(format!("{name}.checkpoint"))).unwrap();
    }
    let ledger = open(dir.path());
    for submission in history[..40].iter().filter(|s| s.get("id").is_some()) {
        assert!(ledger.append(checked(submission)).unwrap().existed, "still idempotent: {submission}");
    }
    for submission in &history[40..] {
        ledger.append(checked(submission)).unwrap();
    }
    ledger.close().unwrap();
    let names = raw_sled(dir.path()).tree_names();
    assert!(!names.iter().any(|name| name.as_ref() == b"index"), "the index tree is gone");
    assert!(!names.iter().any(|name| name.as_ref() == b"checkpoints"), "the checkpoints tree is gone");
    assert!(dir.path().join("views.checkpoint").exists() && dir.path().join("knowledge.checkpoint").exists());
    open(dir.path()).verify(|_| {}).unwrap();
}

/// What a reader sees of the ledger: head, log (digested, so that a
/// failure prints little), views, the tree's root.
fn seen(ledger: &Ledger) -> (amity::store::Head, String, String, events::merkle::Hash) {
    use sha2::{Digest, Sha256};
    ledger.wait_for_views(ledger.head().seq);
    let head = ledger.head();
    let mut log = Sha256::new();
    let mut count = 0;
    for entry in ledger.range_bytes(1, u64::MAX) {
        log.update(entry.unwrap().1);
        count += 1;
    }
    let log = format!("{count} records, {}", hex::encode(log.finalize()));
    let views = ledger.read_views(|views| {
        let view = serde_json::to_vec(&(views.aid(None), views.visits(None))).unwrap();
        format!("views at {}: {}", views.shown(), hex::encode(Sha256::digest(view)))
    });
    let root = ledger.tree_hash(head.seq).unwrap();
    (head, log, views, root)
}

fn ledger_views(ledger: &Ledger) -> projections::Views {
    ledger.wait_for_views(ledger.head().seq);
    ledger.read_views(projections::Views::clone)
}

/// An import is one group streamed in chunks: while it runs nobody sees its
/// records; refused (a bad line in its last chunk) or dropped, it leaves the
/// ledger exactly as it was, marker gone, and the chain continues from the
/// old head; committed, it shows all of it at once. The log is written in
/// full batches of `BATCH_SUBMISSIONS_MAX`, so the refused import below has
/// one batch in the log and the rest still in the committer's hands.
#[test]
fn an_import_is_all_or_nothing_and_invisible_until_committed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let history = History::generate(17, 1_000 + amity::store::BATCH_SUBMISSIONS_MAX * 2 + 500);
    let parsed = |range: std::ops::Range<usize>| -> Vec<_> { history[range].iter().map(checked).collect() };
    let mut first = ledger.begin_import().unwrap();
    first.submit(parsed(0..1_000)).unwrap();
    assert!(first.decided().unwrap().iter().all(|o| matches!(o, Ok(false))));
    first.commit().unwrap();
    let before = seen(&ledger);
    assert_eq!(before.0.seq, 1_000);

    // Refused: a batch is written, and more sealed, before the third
    // chunk's bad line is found.
    let batch = amity::store::BATCH_SUBMISSIONS_MAX;
    let mut import = ledger.begin_import().unwrap();
    import.submit(parsed(1_000..2_000)).unwrap();
    import.submit(parsed(2_000..1_000 + batch + 500)).unwrap();
    let mut bad = parsed(1_000 + batch + 500..1_000 + batch + 600);
    bad.push(checked(&json!({"type": "visit.held", "occurred": "2023",
        "data": {"visit": "v-nowhere", "delegation_of": "xx/nobody", "host": "xx/nobody", "led_by": {"name": "A"}}})));
    import.submit(bad).unwrap();
    assert_eq!(import.decided().unwrap().len(), 1_000);
    assert_eq!(seen(&ledger), before, "an import in progress is invisible");
    assert_eq!(import.decided().unwrap().len(), batch - 500);
    let last = import.decided().unwrap();
    assert!(matches!(last.last(), Some(Err(Error::Invalid(_)))), "{:?}", last.last());
    import.abort().unwrap();
    assert_eq!(seen(&ledger), before, "a refused import left nothing");
    assert!(!dir.path().join("import.pending").exists());
    ledger.close().unwrap();
    let ledger = open(dir.path());
    assert_eq!(seen(&ledger), before, "a refused import left nothing, reopened");

    // Committed despite a refused submission: an error, and nothing kept.
    let mut forced = ledger.begin_import().unwrap();
    forced.submit(parsed(1_000..1_100)).unwrap();
    forced
        .submit(vec![checked(&json!({"type": "activity.held", "occurred": "2023",
        "data": {"category": "forum", "title": "T", "parties": ["xx/nobody"]}}))])
        .unwrap();
    match forced.commit() {
        Err(Error::Usage(message)) => assert!(message.contains("nothing was appended"), "{message}"),
        other => panic!("a commit after a refused submission must fail, got {other:?}"),
    }
    assert_eq!(seen(&ledger), before, "a refused import committed anyway left nothing");

    // Dropped part-way: the same.
    let mut dropped = ledger.begin_import().unwrap();
    dropped.submit(parsed(1_000..2_000)).unwrap();
    dropped.decided().unwrap();
    drop(dropped);
    assert_eq!(seen(&ledger), before, "a dropped import left nothing");

    // The chain goes on from the old head, and the rest imports whole: two
    // full batches and a part of one.
    let mut rest = ledger.begin_import().unwrap();
    rest.submit(parsed(1_000..2_000)).unwrap();
    rest.submit(parsed(2_000..history.len())).unwrap();
    for _ in 0..2 {
        assert!(rest.decided().unwrap().iter().all(|o| matches!(o, Ok(false))));
    }
    let head = rest.commit().unwrap();
    assert_eq!(head.seq, history.len() as u64);
    let record = ledger.get(1_001).unwrap().unwrap();
    assert_eq!(record.prev, before.0.hash, "seq 1,001 links to the head the refused imports left");
    ledger.verify(|_| {}).unwrap();
    let after = seen(&ledger);
    assert_eq!(
        ledger_views(&ledger),
        ledger.refold(|_| {}).unwrap(),
        "the views folded during the imports equal a refold"
    );
    ledger.close().unwrap();
    let reopened = open(dir.path());
    assert_eq!(seen(&reopened), after, "reopened: the same records, views and tree");
    let refold = reopened.refold(|_| {}).unwrap();
    let folded_during = ledger_views(&reopened);
    assert_eq!(folded_during, refold, "the views kept from the imports equal a refold");
}
