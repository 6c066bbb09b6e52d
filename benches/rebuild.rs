//! Rebuild benchmark: records/s for a raw sled scan of the `log` tree, for
//! scan + JSON decode, and for the full fold of all four projections, each
//! measured in the same process over the same generated ledger, so the
//! ratios are what matter. Also peak RSS per phase.
//!
//! `cargo bench --bench rebuild -- [--records N] [--runs R]` (default 1,000,000
//! records, 5 runs; the ledger is built once under target/bench/ and reused).

use amity::{Ledger, Options};

/// The allocator the `amity` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use events::generate::History;
use events::{Checked, EventData, EventType, Record, RecordRef};
use projections::Views;
use std::path::PathBuf;
use support::{arg, median, peak_rss_mib, reset_peak_rss};

mod support;
use std::time::Instant;

fn ledger_with(records: u64) -> Ledger {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench/rebuild-{records}"));
    let cache_bytes = arg("--cache-mib", 64) * 1024 * 1024;
    let ledger = Ledger::open(&dir, Options { cache_bytes, ..Options::default() }).expect("the bench ledger opens");
    let have = ledger.head().seq;
    if have == records {
        return ledger;
    }
    assert_eq!(have, 0, "{} holds {have} records, not {records}: remove it", dir.display());
    let started = Instant::now();
    let mut history = History::new(2026);
    let mut left = records;
    while left > 0 {
        let n = left.min(4096);
        let group: Vec<Checked> = (0..n)
            .map(|_| {
                let submission = history.next_submission();
                Checked::parse(&serde_json::to_vec(&submission).unwrap()).expect("generated submissions are valid")
            })
            .collect();
        ledger.append_group(group).expect("generated submissions append");
        left -= n;
    }
    eprintln!("built {records} records in {:.1} s", started.elapsed().as_secs_f64());
    ledger
}

/// Runs `phase` `runs` times; returns (median seconds, peak RSS MiB).
fn measure(runs: u64, mut phase: impl FnMut() -> u64, expected: u64) -> (f64, f64) {
    let mut seconds = Vec::new();
    reset_peak_rss();
    for _ in 0..runs {
        let started = Instant::now();
        let count = phase();
        seconds.push(started.elapsed().as_secs_f64());
        assert_eq!(count, expected, "every record was visited");
    }
    (median(seconds), peak_rss_mib())
}

fn main() {
    amity::tune_allocator();
    let records = arg("--records", 1_000_000);
    let runs = arg("--runs", 5);
    let ledger = ledger_with(records);
    let log_bytes: u64 = ledger.range_bytes(1, u64::MAX).map(|e| e.unwrap().1.len() as u64).sum();
    println!(
        "rebuild benchmark: {records} records, {:.0} bytes/record on average, median of {runs} runs",
        log_bytes as f64 / records as f64
    );

    if support::flag("--fold-only") {
        let (seconds, _) = measure(runs, || ledger.refold(|_| {}).unwrap().seq, records);
        println!("decode ∥ fold: {:.0} records/s", records as f64 / seconds);
        return;
    }
    let scan = measure(
        runs,
        || ledger.range_bytes(1, u64::MAX).map(|e| std::hint::black_box(e.unwrap().1.len()).min(1) as u64).sum(),
        records,
    );
    // The decode the fold itself uses: the record's envelope borrowed, its
    // `data` straight into the typed payload.
    let decode = measure(
        runs,
        || {
            ledger
                .range_bytes(1, u64::MAX)
                .map(|e| {
                    let bytes = e.unwrap().1;
                    let record = RecordRef::decode(&bytes).unwrap();
                    let kind = record.event_type.parse::<EventType>().unwrap();
                    std::hint::black_box(EventData::decode_json(kind, record.data.get()).unwrap());
                    1
                })
                .sum()
        },
        records,
    );
    let generic = measure(
        runs,
        || {
            ledger
                .range_bytes(1, u64::MAX)
                .map(|e| std::hint::black_box(Record::decode(&e.unwrap().1).unwrap()).seq.min(1))
                .sum()
        },
        records,
    );
    let fold = measure(
        runs,
        || {
            let mut views = Views::default();
            for entry in ledger.range_bytes(1, u64::MAX) {
                views.apply_stored(&entry.unwrap().1).unwrap();
            }
            views.seq
        },
        records,
    );
    let pipelined = measure(runs, || ledger.refold(|_| {}).unwrap().seq, records);
    let full = measure(runs.min(3), || ledger.rebuild(|_| {}).unwrap(), records);

    let rate = |(seconds, _): (f64, f64)| records as f64 / seconds;
    println!("{:<48} {:>12} {:>10} {:>12}", "phase", "records/s", "vs decode", "peak RSS");
    for (name, phase) in [
        ("raw sled scan of `log`", scan),
        ("scan + JSON decode (typed, as the fold does)", decode),
        ("scan + JSON decode (generic serde_json::Value)", generic),
        ("full fold, one thread", fold),
        ("full fold, decode ∥ fold (as amity rebuilds)", pipelined),
        ("amity rebuild (that + checkpoint save)", full),
    ] {
        println!("{name:<48} {:>12.0} {:>9.0}% {:>9.0} MiB", rate(phase), 100.0 * rate(phase) / rate(decode), phase.1);
    }
    ledger.close().unwrap();
}
