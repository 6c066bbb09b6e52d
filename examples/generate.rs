//! Prints a seeded random valid history as NDJSON submissions:
//! `cargo run --release --example generate -- SEED COUNT > history.ndjson`.

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let count: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut history = events::generate::History::new(seed);
    for _ in 0..count {
        let line = serde_json::to_string(&history.next_submission()).expect("a Value always serializes");
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}
