//! Durable appends through the real committer against raw sled doing the
//! same durable writes (`apply_batch` + `flush` + `fdatasync`) of the same
//! record bytes in the same batch sizes: the limit for this engine. One
//! writer, then 64 concurrent writers, in one process.
//!
//! `cargo bench --bench append -- [--records N]`

use amity::{Ledger, Options};
use events::generate::{seal, History};
use events::Checked;
use std::path::Path;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WRITERS: usize = 64;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Raw sled: the same bytes, `batch` records per durable write.
fn raw_sled(dir: &Path, records: &[Vec<u8>], batch: usize) -> f64 {
    let db = sled::Config::new().path(dir).cache_capacity(64 << 20).flush_every_ms(None).open().unwrap();
    let log = db.open_tree("log").unwrap();
    let file = std::fs::File::open(dir.join("db")).unwrap();
    let started = Instant::now();
    for (chunk_index, chunk) in records.chunks(batch).enumerate() {
        let mut writes = sled::Batch::default();
        for (i, bytes) in chunk.iter().enumerate() {
            let seq = (chunk_index * batch + i + 1) as u64;
            writes.insert(&seq.to_be_bytes(), bytes.as_slice());
        }
        log.apply_batch(writes).unwrap();
        db.flush().unwrap();
        file.sync_data().unwrap();
    }
    records.len() as f64 / started.elapsed().as_secs_f64()
}

fn submissions(count: usize) -> Vec<Checked> {
    History::generate(7, count).iter().map(|s| Checked::parse(&serde_json::to_vec(s).unwrap()).unwrap()).collect()
}

/// The committer, one writer: each append waits for its own durable batch.
fn committer_one_writer(dir: &Path, count: usize) -> f64 {
    let ledger = Ledger::open(dir, Options::default()).unwrap();
    let all = submissions(count);
    let started = Instant::now();
    for submission in all {
        ledger.append(submission).unwrap();
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    ledger.close().unwrap();
    rate
}

/// The committer, 64 concurrent writers. The history's submissions depend on
/// earlier ones, so the first 5% go in first; the rest are activities that
/// depend only on parties, appended concurrently.
fn committer_concurrent(dir: &Path, count: usize) -> (f64, f64) {
    let ledger = Ledger::open(dir, Options::default()).unwrap();
    let parties = submissions(40).into_iter().filter(|s| s.event_type() == events::EventType::PartyRegistered);
    let parties: Vec<Checked> = parties.collect();
    let party_ids: Vec<String> = parties.iter().map(|s| s.data()["party"].as_str().unwrap().to_string()).collect();
    ledger.append_group(parties).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let head_before = ledger.head().seq;
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (ledger, party_ids) = (ledger.clone(), party_ids.clone());
                tokio::spawn(async move {
                    for i in (w..count).step_by(WRITERS) {
                        let submission = serde_json::json!({"type": "activity.held", "occurred": "2023",
                            "data": {"category": "exchange", "title": format!("concurrent append {i} with a title long enough to look like a real one"),
                                "parties": [party_ids[i % party_ids.len()], party_ids[(i + 1) % party_ids.len()]],
                                "note": "Một ghi chú tiếng Việt để bản ghi có kích thước thật."}});
                        let checked = Checked::parse(&serde_json::to_vec(&submission).unwrap()).unwrap();
                        ledger.append_group_async(vec![checked]).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let appended = ledger.head().seq - head_before;
    let bytes: u64 = ledger.range_bytes(head_before + 1, u64::MAX).map(|e| e.unwrap().1.len() as u64).sum();
    ledger.close().unwrap();
    (appended as f64 / seconds, bytes as f64 / appended as f64)
}

fn main() {
    let count = arg("--records", 20_000) as usize;
    let work = tempfile::tempdir().unwrap();
    if std::env::args().any(|a| a == "--concurrent-only") {
        let (many, _) = committer_concurrent(&work.path().join("many"), count);
        println!("committer, 64 concurrent writers: {many:.0} /s");
        return;
    }
    let sealed: Vec<Vec<u8>> = seal(&History::generate(7, count)).iter().map(events::Record::canonical_bytes).collect();
    let one = committer_one_writer(&work.path().join("one"), count.min(5_000));
    let raw_one = raw_sled(&work.path().join("raw-one"), &sealed[..count.min(5_000)], 1);
    let (many, record_bytes) = committer_concurrent(&work.path().join("many"), count);
    // With 64 writers the committer's batches hold up to 64 records.
    let raw_many = raw_sled(&work.path().join("raw-many"), &sealed, WRITERS);
    println!("durable appends, ~{record_bytes:.0}-byte records");
    println!("{:<52} {:>10.0} /s", "raw sled, 1 record per durable write", raw_one);
    println!("{:<52} {:>10.0} /s   {:.0}% of raw sled", "committer, 1 writer", one, 100.0 * one / raw_one);
    println!("{:<52} {:>10.0} /s", "raw sled, 64 records per durable write", raw_many);
    println!(
        "{:<52} {:>10.0} /s   {:.0}% of raw sled",
        "committer, 64 concurrent writers",
        many,
        100.0 * many / raw_many
    );
}
