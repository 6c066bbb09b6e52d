//! The whole-ledger benchmark (issue 6): one command, one generated workload
//! (every event type, ~300–600-byte records), every rate printed beside its
//! baseline measured in the same process on the same bytes:
//!
//! 1. import of N NDJSON submissions (`amity import`'s code) against raw sled
//!    and SQLite writing the same record bytes in the same batches;
//! 2. the store's size on disk against the NDJSON;
//! 3. verify of the whole chain against SHA-256 of the same bytes alone;
//! 4. rebuild of the four views against scan + decode;
//! 5. durable appends onto that N-record ledger, 1 writer and 64 concurrent
//!    writers, through the real committer, against raw sled (`apply_batch` +
//!    `flush` + `fdatasync`) and SQLite (WAL, `synchronous=FULL`, one
//!    transaction per batch, an id index) with the committer's own batch
//!    sizes (the submissions' bytes are made before the clock starts, as
//!    the baselines' are; the 64 writers' strict parse of them is timed),
//!    and, for the 64 writers, raw sled behind the smallest group commit
//!    (64 writers queue the same records to one thread that writes, syncs
//!    and answers them: the writers' own waits and wake-ups, no ledger);
//!
//! with the peak RSS of each phase.
//!
//! `cargo bench --bench ledger -- [--records N] [--appends M] [--runs R] [--cache-mib C]`
//! (defaults 1,000,000, 20,000, 3, and sled's cache as the ledger's own,
//! `amity::store::CACHE_BYTES_DEFAULT`). The work directory is under
//! `target/bench/` and removed afterwards.

use amity::cli::import::{import, Source};
use amity::{Ledger, Options};
use events::generate::History;
use events::{Checked, EventData, EventType, RecordRef};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use support::{arg, disk_bytes, median, peak_rss_mib, reset_peak_rss};

mod support;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WRITERS: usize = 64;
/// sled's cache for every sled database here, set explicitly: amity's
/// default, or `--cache-mib N`.
fn cache_bytes() -> u64 {
    arg("--cache-mib", amity::store::CACHE_BYTES_DEFAULT >> 20) << 20
}

/// One printed row: a name, a rate, the baseline it is compared with.
struct Row {
    phase: &'static str,
    name: String,
    rate: f64,
    baseline: Option<f64>,
    rss: f64,
}

fn print(rows: &[Row]) {
    println!("{:<10} {:<58} {:>12} {:>9} {:>10}", "phase", "", "records/s", "ratio", "peak RSS");
    for row in rows {
        let ratio = row.baseline.map_or(String::new(), |b| format!("{:.0}%", 100.0 * row.rate / b));
        let rss = if row.rss > 0.0 { format!("{:.0} MiB", row.rss) } else { String::new() };
        println!("{:<10} {:<58} {:>12.0} {:>9} {:>10}", row.phase, row.name, row.rate, ratio, rss);
    }
}

/// A sled database opened as amity opens its own.
struct RawSled {
    db: sled::Db,
    log: sled::Tree,
    file: std::fs::File,
    next_seq: u64,
}

impl RawSled {
    fn open(dir: &Path) -> RawSled {
        let db = sled::Config::new().path(dir).cache_capacity(cache_bytes()).flush_every_ms(None).open().unwrap();
        let log = db.open_tree("log").unwrap();
        let file = std::fs::File::open(dir.join("db")).unwrap();
        let next_seq =
            log.last().unwrap().map_or(1, |(key, _)| u64::from_be_bytes(key.as_ref().try_into().unwrap()) + 1);
        RawSled { db, log, file, next_seq }
    }

    /// `apply_batch` + `flush` + `fdatasync`: one durable write of `records`.
    fn write(&mut self, records: &[Vec<u8>]) {
        self.write_unsynced(records);
        self.sync();
    }

    /// `apply_batch` alone (an import's writes before its one sync).
    fn write_unsynced(&mut self, records: &[Vec<u8>]) {
        let mut writes = sled::Batch::default();
        for bytes in records {
            writes.insert(&self.next_seq.to_be_bytes(), bytes.as_slice());
            self.next_seq += 1;
        }
        self.log.apply_batch(writes).unwrap();
    }

    fn sync(&mut self) {
        self.db.flush().unwrap();
        self.file.sync_data().unwrap();
    }
}

/// Raw sled behind the smallest group commit there is: one thread takes
/// every record the writers queued, writes them with one `apply_batch`,
/// flushes and `fdatasync`s, and answers each writer. No ledger work at all
/// (no parse, no decision, no seal, no views): what `records.len()`
/// writers, each waiting on its own durable write of its next record, get
/// from sled on these cores. Returns records/s, the mean records per
/// durable write, and `raw` again.
fn group_committed(raw: RawSled, runtime: &tokio::runtime::Runtime, records: Vec<Vec<Vec<u8>>>) -> (f64, f64, RawSled) {
    type Queued = (Vec<u8>, tokio::sync::oneshot::Sender<()>);
    let (queue, mut queued) = tokio::sync::mpsc::channel::<Queued>(records.len());
    let committer = std::thread::spawn(move || {
        let (mut raw, mut writes) = (raw, 0u64);
        while let Some(first) = queued.blocking_recv() {
            let mut group = vec![first];
            while let Ok(more) = queued.try_recv() {
                group.push(more);
            }
            let (records, replies): (Vec<Vec<u8>>, Vec<_>) = group.into_iter().unzip();
            raw.write(&records);
            writes += 1;
            replies.into_iter().for_each(|reply| reply.send(()).unwrap());
        }
        (raw, writes)
    });
    let count: usize = records.iter().map(Vec::len).sum();
    let seconds = writers_timed(runtime, records, move |record| {
        let queue = queue.clone();
        async move {
            let (reply, answer) = tokio::sync::oneshot::channel();
            queue.send((record, reply)).await.unwrap();
            answer.await.unwrap();
        }
    });
    let rate = count as f64 / seconds;
    let (raw, writes) = committer.join().unwrap();
    (rate, count as f64 / writes.max(1) as f64, raw)
}

/// Runs one task per writer on `runtime`, each doing `step` on its own
/// items in order; returns the seconds until all of them are done.
fn writers_timed<T, F, Fut>(runtime: &tokio::runtime::Runtime, writers: Vec<Vec<T>>, step: F) -> f64
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = writers
            .into_iter()
            .map(|own| {
                let step = step.clone();
                tokio::spawn(async move {
                    for item in own {
                        step(item).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    started.elapsed().as_secs_f64()
}

/// SQLite as a user would set it up for a durable log.
struct Sqlite {
    connection: rusqlite::Connection,
    next_seq: i64,
}

impl Sqlite {
    fn open(path: &Path) -> Sqlite {
        let connection = rusqlite::Connection::open(path).unwrap();
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, record BLOB NOT NULL);",
            )
            .unwrap();
        let last: i64 = connection.query_row("SELECT COALESCE(MAX(seq), 0) FROM log", [], |row| row.get(0)).unwrap();
        Sqlite { connection, next_seq: last + 1 }
    }

    /// One transaction of `records`, each with its id.
    fn write(&mut self, records: &[(String, Vec<u8>)]) {
        let transaction = self.connection.transaction().unwrap();
        {
            let mut insert =
                transaction.prepare_cached("INSERT INTO log (seq, id, record) VALUES (?1, ?2, ?3)").unwrap();
            for (id, bytes) in records {
                insert.execute(rusqlite::params![self.next_seq, id, bytes]).unwrap();
                self.next_seq += 1;
            }
        }
        transaction.commit().unwrap();
    }
}

fn with_id(bytes: Vec<u8>) -> (String, Vec<u8>) {
    (RecordRef::decode(&bytes).unwrap().id.to_string(), bytes)
}

/// Writes N generated submissions as NDJSON; returns the file's size.
fn write_ndjson(path: &Path, records: u64) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut history = History::new(2026);
    for _ in 0..records {
        serde_json::to_writer(&mut out, &history.next_submission()).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// Party ids the generated history registers first (seed 2026, as imported).
fn party_ids() -> Vec<String> {
    let mut history = History::new(2026);
    let submissions = (0..200).map(|_| history.next_submission());
    let parties = submissions.filter(|s| s["type"] == "party.registered").map(|s| s["data"]["party"].clone());
    parties.map(|p| p.as_str().unwrap().to_string()).take(16).collect()
}

/// An activity between two of the parties, as the bytes a writer would
/// hand the ledger: depends on nothing else, so any number of writers can
/// append them concurrently.
fn activity_bytes(parties: &[String], i: usize) -> Vec<u8> {
    let submission = serde_json::json!({"type": "activity.held", "occurred": "2023",
        "data": {"category": "exchange",
            "title": format!("concurrent append {i} with a title long enough to look like a real one"),
            "parties": [parties[i % parties.len()], parties[(i + 1) % parties.len()]],
            "note": "Một ghi chú tiếng Việt để bản ghi có kích thước thật."}});
    serde_json::to_vec(&submission).unwrap()
}

/// The same, parsed (strictly, as the ledger's writers parse).
fn activity(parties: &[String], i: usize) -> Checked {
    Checked::parse(&activity_bytes(parties, i)).unwrap()
}

/// Writes the stored bytes of seqs `from..=to` again, `batch` records per
/// `write`, through `prepare`. Each chunk is read from the ledger and
/// prepared untimed, then its write is timed; one chunk is in memory at a
/// time, so the baseline does not inflate the next phases' RSS. Returns
/// records/s over the write time alone, and the bytes written.
fn timed_writes<T>(
    ledger: &Ledger,
    (from, to): (u64, u64),
    batch: usize,
    prepare: impl Fn(Vec<u8>) -> T,
    mut write: impl FnMut(&[T]),
) -> (f64, u64) {
    let (mut count, mut bytes, mut writing) = (0usize, 0u64, std::time::Duration::ZERO);
    let mut chunk = Vec::with_capacity(batch);
    let mut entries = ledger.range_bytes(from, to).peekable();
    while let Some(entry) = entries.next() {
        let record = entry.unwrap().1;
        bytes += record.len() as u64;
        chunk.push(prepare(record));
        if chunk.len() == batch.max(1) || entries.peek().is_none() {
            let started = Instant::now();
            write(&chunk);
            writing += started.elapsed();
            count += chunk.len();
            chunk.clear();
        }
    }
    (count as f64 / writing.as_secs_f64(), bytes)
}

/// Merkle proofs timed, of each kind.
const PROOFS: u64 = 2_000;

fn main() {
    amity::tune_allocator();
    let records = arg("--records", 1_000_000);
    let appends = arg("--appends", 20_000) as usize;
    let runs = arg("--runs", 3);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&root).unwrap();
    let work = tempfile::tempdir_in(&root).unwrap();
    let (ledger_dir, ndjson) = (work.path().join("ledger"), work.path().join("input.ndjson"));
    let mut rows = Vec::new();

    let ndjson_bytes = write_ndjson(&ndjson, records);
    println!(
        "ledger benchmark: {records} generated submissions ({:.0} MiB of NDJSON), {appends} appends, median of {runs} runs",
        ndjson_bytes as f64 / (1 << 20) as f64
    );

    // 1. Import, as `amity import FILE` does it: one pass, one sync at the end.
    let ledger = Ledger::open(&ledger_dir, Options { cache_bytes: cache_bytes(), ..Options::default() }).unwrap();
    reset_peak_rss();
    let started = Instant::now();
    let imported = import(&ledger, Source::File(&ndjson)).unwrap();
    let import_rate = records as f64 / started.elapsed().as_secs_f64();
    let import_rss = peak_rss_mib();
    assert_eq!(imported.appended, records);
    // What the import leaves to run off its path (the views' fold, the
    // checkpoints) ends before any baseline is timed, so it slows none.
    ledger.wait_for_views(records);
    ledger.close().unwrap();
    let ledger = Ledger::open(&ledger_dir, Options { cache_bytes: cache_bytes(), ..Options::default() }).unwrap();
    let batch = amity::store::BATCH_SUBMISSIONS_MAX;
    let mut raw = RawSled::open(&work.path().join("raw-sled"));
    let (raw_import, record_bytes) = timed_writes(&ledger, (1, records), batch, |b| b, |c| raw.write(c));
    // The same writes synced once at the end, as an import syncs: sled's
    // flush is cheap beside its writes, so this is about the same rate.
    let raw_once = {
        let mut once = RawSled::open(&work.path().join("raw-sled-once"));
        let mut written = 0;
        let (rate, _) = timed_writes(
            &ledger,
            (1, records),
            batch,
            |b| b,
            |c| {
                once.write_unsynced(c);
                written += c.len() as u64;
                if written == records {
                    once.sync();
                }
            },
        );
        drop(once);
        std::fs::remove_dir_all(work.path().join("raw-sled-once")).unwrap();
        rate
    };
    let mut sqlite = Sqlite::open(&work.path().join("sqlite.db"));
    let (sqlite_import, _) = timed_writes(&ledger, (1, records), batch, with_id, |c| sqlite.write(c));
    rows.push(Row {
        phase: "import",
        name: format!("raw sled, same bytes, {batch} per write"),
        rate: raw_import,
        baseline: None,
        rss: 0.0,
    });
    rows.push(Row {
        phase: "import",
        name: format!("raw sled, same bytes, {batch} per write, one sync at the end"),
        rate: raw_once,
        baseline: Some(raw_import),
        rss: 0.0,
    });
    rows.push(Row {
        phase: "import",
        name: format!("SQLite, same bytes, {batch} per transaction"),
        rate: sqlite_import,
        baseline: Some(raw_import),
        rss: 0.0,
    });
    rows.push(Row {
        phase: "import",
        name: "amity import (one pass, one sync at the end)".into(),
        rate: import_rate,
        baseline: Some(raw_import),
        rss: import_rss,
    });

    // Closed until the append phase, so that the peak RSS of verify and
    // rebuild is amity's, not the baselines' caches.
    drop((raw, sqlite));

    // 2. Size on disk. sled's files include space it has not reclaimed yet.
    let (ledger_size, raw_size, sqlite_size) = (
        disk_bytes(&ledger_dir),
        disk_bytes(&work.path().join("raw-sled")),
        disk_bytes(&work.path().join("sqlite.db")) + disk_bytes(&work.path().join("sqlite.db-wal")),
    );

    // 3. Verify against SHA-256 of the same bytes.
    let (mut sha_rates, mut verify_rates) = (Vec::new(), Vec::new());
    reset_peak_rss();
    for _ in 0..runs {
        let started = Instant::now();
        let mut hashed = 0u64;
        for entry in ledger.range_bytes(1, records) {
            std::hint::black_box(Sha256::digest(entry.unwrap().1));
            hashed += 1;
        }
        sha_rates.push(hashed as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        let verified = ledger.verify(|_| {}).unwrap();
        verify_rates.push(verified.count as f64 / started.elapsed().as_secs_f64());
    }
    let verify_rss = peak_rss_mib();
    let sha = median(sha_rates);
    rows.push(Row {
        phase: "verify",
        name: "scan + SHA-256 of each record's bytes".into(),
        rate: sha,
        baseline: None,
        rss: 0.0,
    });
    rows.push(Row {
        phase: "verify",
        name: "amity verify (decode, JCS, hash, prev, order)".into(),
        rate: median(verify_rates),
        baseline: Some(sha),
        rss: verify_rss,
    });

    // 4. Rebuild against scan + the typed decode the fold uses.
    let (mut decode_rates, mut rebuild_rates) = (Vec::new(), Vec::new());
    reset_peak_rss();
    for _ in 0..runs {
        let started = Instant::now();
        let mut decoded = 0u64;
        for entry in ledger.range_bytes(1, records) {
            let bytes = entry.unwrap().1;
            let record = RecordRef::decode(&bytes).unwrap();
            let kind = record.event_type.parse::<EventType>().unwrap();
            std::hint::black_box(EventData::decode_json(kind, record.data.get()).unwrap());
            decoded += 1;
        }
        decode_rates.push(decoded as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        // As `amity rebuild` does: nobody reads the views meanwhile.
        let folded = ledger.rebuild_alone(|_| {}).unwrap();
        rebuild_rates.push(folded as f64 / started.elapsed().as_secs_f64());
    }
    let rebuild_rss = peak_rss_mib();
    let decode = median(decode_rates);
    rows.push(Row { phase: "rebuild", name: "scan + typed decode".into(), rate: decode, baseline: None, rss: 0.0 });
    rows.push(Row {
        phase: "rebuild",
        name: "amity rebuild (fold four views + checkpoint)".into(),
        rate: median(rebuild_rates),
        baseline: Some(decode),
        rss: rebuild_rss,
    });

    // 5. Durable appends onto the N-record ledger; the baselines continue
    // the raw sled and SQLite logs the import phase filled.
    let mut raw = RawSled::open(&work.path().join("raw-sled"));
    let mut sqlite = Sqlite::open(&work.path().join("sqlite.db"));
    let parties = party_ids();
    let one_count = appends.min(5_000);
    let (mut committer_one, mut raw_one, mut sqlite_one) = (Vec::new(), Vec::new(), Vec::new());
    let (mut committer_many, mut raw_many, mut sqlite_many, mut batch_sizes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut raw_group, mut raw_group_sizes) = (Vec::new(), Vec::new());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // The peak while amity appends (the baselines' runs in between are not
    // amity's; the process still holds their open databases).
    let mut append_rss: f64 = 0.0;
    for run in 0..runs as usize {
        let offset = run * (one_count + appends);
        let before = ledger.head().seq;
        let submissions: Vec<Checked> = (0..one_count).map(|i| activity(&parties, offset + i)).collect();
        reset_peak_rss();
        let started = Instant::now();
        for submission in submissions {
            ledger.append(submission).unwrap();
        }
        committer_one.push(one_count as f64 / started.elapsed().as_secs_f64());
        append_rss = append_rss.max(peak_rss_mib());
        let written = (before + 1, before + one_count as u64);
        raw_one.push(timed_writes(&ledger, written, 1, |b| b, |c| raw.write(c)).0);
        sqlite_one.push(timed_writes(&ledger, written, 1, with_id, |c| sqlite.write(c)).0);

        // Each writer's submissions as bytes, made before the clock starts
        // (as the baselines' bytes are); the strict parse is timed, on the
        // writers' side, as a service's handlers would run it.
        let texts: Vec<Vec<Vec<u8>>> = (0..WRITERS)
            .map(|w| (w..appends).step_by(WRITERS).map(|i| activity_bytes(&parties, offset + one_count + i)).collect())
            .collect();
        let (before, batches_before) = (ledger.head().seq, ledger.batches_written());
        reset_peak_rss();
        let writing = ledger.clone();
        let seconds = writers_timed(&runtime, texts, move |text| {
            let ledger = writing.clone();
            async move {
                let submission = Checked::parse(&text).unwrap();
                ledger.append_group_async(vec![submission]).await.unwrap();
            }
        });
        committer_many.push(appends as f64 / seconds);
        append_rss = append_rss.max(peak_rss_mib());
        let batches = (ledger.batches_written() - batches_before).max(1);
        let per_batch = appends.div_ceil(batches as usize);
        batch_sizes.push(per_batch as f64);
        let written = (before + 1, before + appends as u64);
        raw_many.push(timed_writes(&ledger, written, per_batch, |b| b, |c| raw.write(c)).0);
        sqlite_many.push(timed_writes(&ledger, written, per_batch, with_id, |c| sqlite.write(c)).0);
        // The same stored records again, from the same number of writers,
        // through raw sled's smallest group commit.
        let stored: Vec<Vec<u8>> = ledger.range_bytes(written.0, written.1).map(|entry| entry.unwrap().1).collect();
        let mut own: Vec<Vec<Vec<u8>>> = vec![Vec::new(); WRITERS];
        for (i, record) in stored.into_iter().enumerate() {
            own[i % WRITERS].push(record);
        }
        let (rate, size, back) = group_committed(raw, &runtime, own);
        raw = back;
        raw_group.push(rate);
        raw_group_sizes.push(size);
    }
    let (raw_one, raw_many) = (median(raw_one), median(raw_many));
    let per_batch = median(batch_sizes);
    rows.push(Row {
        phase: "append",
        name: "raw sled, 1 record per durable write".into(),
        rate: raw_one,
        baseline: None,
        rss: 0.0,
    });
    rows.push(Row {
        phase: "append",
        name: "SQLite, 1 record per transaction".into(),
        rate: median(sqlite_one),
        baseline: Some(raw_one),
        rss: 0.0,
    });
    rows.push(Row {
        phase: "append",
        name: "amity committer, 1 writer".into(),
        rate: median(committer_one),
        baseline: Some(raw_one),
        rss: 0.0,
    });
    rows.push(Row {
        phase: "append",
        name: format!("raw sled, {per_batch:.0} records per durable write"),
        rate: raw_many,
        baseline: None,
        rss: 0.0,
    });
    rows.push(Row {
        phase: "append",
        name: format!("SQLite, {per_batch:.0} records per transaction"),
        rate: median(sqlite_many),
        baseline: Some(raw_many),
        rss: 0.0,
    });
    let raw_group = median(raw_group);
    rows.push(Row {
        phase: "append",
        name: format!("raw sled, {WRITERS} writers, one thread group-commits (~{:.0})", median(raw_group_sizes)),
        rate: raw_group,
        baseline: Some(raw_many),
        rss: 0.0,
    });
    rows.push(Row {
        phase: "append",
        name: format!("amity committer, {WRITERS} writers (batches of {per_batch:.0})"),
        rate: median(committer_many),
        baseline: Some(raw_group),
        rss: append_rss,
    });
    // 6. Merkle proofs on the whole ledger: each reads O(log n) stored
    // hashes from sled. Sizes and seqs spread by a fixed stride, no RNG.
    let size = ledger.head().seq;
    let (mut inclusion, mut consistency) = (Vec::new(), Vec::new());
    for i in 0..PROOFS {
        let seq = 1 + (i * 7_919_993) % size;
        let started = Instant::now();
        std::hint::black_box(ledger.prove_inclusion(seq, size).unwrap());
        inclusion.push(started.elapsed().as_secs_f64() * 1e6);
        let started = Instant::now();
        std::hint::black_box(ledger.prove_consistency(seq, size).unwrap());
        consistency.push(started.elapsed().as_secs_f64() * 1e6);
    }
    ledger.close().unwrap();

    print(&rows);
    for (name, mut micros) in [("inclusion", inclusion), ("consistency", consistency)] {
        micros.sort_by(f64::total_cmp);
        let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
        println!(
            "proofs     {name} proof in a tree of {size} records: median {:.1} µs, p99 {:.1} µs, max {:.1} µs ({PROOFS} proofs)",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "on disk after import: NDJSON {:.0} MiB; records (JCS) {:.0} MiB; amity ledger {:.0} MiB = {:.2}× the NDJSON; raw sled {:.0} MiB; SQLite {:.0} MiB",
        mib(ndjson_bytes),
        mib(record_bytes),
        mib(ledger_size),
        ledger_size as f64 / ndjson_bytes as f64,
        mib(raw_size),
        mib(sqlite_size)
    );
    println!("sled cache {} MiB in every sled database", cache_bytes() >> 20);
}
