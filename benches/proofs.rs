//! Merkle proof generation at scale, on the ledger's own stored-hash file
//! layout and reader (`amity::store::StoredHashes`), without building a
//! whole ledger: N leaves (SHA-256 of synthetic 400-byte records) are pushed
//! through `events::merkle::Frontier`, their stored hashes written to a file
//! as the syncer writes them, then inclusion and consistency proofs are
//! generated at random seqs and sizes, each timed. The baseline in the same
//! run: one `pread` of 32 bytes at a random offset of the same file.
//!
//! `cargo bench --bench proofs -- [--records N] [--proofs P]`

use amity::store::StoredHashes;
use events::merkle::{prove_record, prove_tree, Frontier};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::Instant;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentiles(mut micros: Vec<f64>) -> String {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
    format!("median {:.1} µs, p99 {:.1} µs, max {:.1} µs", at(0.5), at(0.99), at(1.0))
}

fn main() {
    let records = arg("--records", 10_000_000);
    let proofs = arg("--proofs", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merkle");
    let started = Instant::now();
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        let mut frontier = Frontier::default();
        let mut record = [0u8; 400];
        for n in 0..records {
            record[..8].copy_from_slice(&n.to_be_bytes());
            for (_, hash) in frontier.push(&record) {
                out.write_all(&hash.0).unwrap();
            }
        }
        out.flush().unwrap();
    }
    let file = std::fs::File::open(&path).unwrap();
    let bytes = file.metadata().unwrap().len();
    println!(
        "proofs bench: {records} records, stored hashes {:.0} MiB, built in {:.1} s",
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    let reader = StoredHashes(&file);
    // A fixed-seed linear congruential sequence: repeatable, no RNG crate.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |bound: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let (mut pread, mut inclusion, mut consistency) = (Vec::new(), Vec::new(), Vec::new());
    let mut buffer = [0u8; 32];
    for _ in 0..proofs {
        let offset = next(bytes / 32) * 32;
        let started = Instant::now();
        file.read_exact_at(&mut buffer, offset).unwrap();
        pread.push(started.elapsed().as_secs_f64() * 1e6);
        let size = 1 + next(records);
        let seq = 1 + next(size);
        let started = Instant::now();
        std::hint::black_box(prove_record(size, seq - 1, &reader).unwrap());
        inclusion.push(started.elapsed().as_secs_f64() * 1e6);
        let started = Instant::now();
        std::hint::black_box(prove_tree(size, seq, &reader).unwrap());
        consistency.push(started.elapsed().as_secs_f64() * 1e6);
    }
    println!("baseline   one 32-byte pread: {}", percentiles(pread));
    println!("inclusion  proof ({proofs}): {}", percentiles(inclusion));
    println!("consistency proof ({proofs}): {}", percentiles(consistency));
}
