//! Crash safety, proven by killing: a child process appends from many
//! writers through the real committer and prints every acknowledgement; the
//! parent SIGKILLs it at a random point, reopens, and checks that the log is
//! a gapless, verifying chain holding every acknowledged record, that the
//! views from checkpoints equal a refold, and that appends continue the
//! chain. The same for an import and a rebuild killed midway. Each round's
//! seed is printed; `AMITY_CRASH_SEED=N cargo test crash` replays a run.

use crate::common::*;
use amity::{Ledger, Options};
use events::generate::History;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const STRESS_ROUNDS: u64 = 30;
const IMPORT_ROUNDS: u64 = 5;
const REBUILD_ROUNDS: u64 = 5;

fn base_seed() -> u64 {
    std::env::var("AMITY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())
}

fn amity_child(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_amity"))
        .args(args)
        .env("AMITY_DB", dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The crash writer (`src/bin/amity-crash-writer.rs`): `writers` concurrent
/// appenders, one `SEQ ID HASH` line per acknowledgement.
fn crash_writer(dir: &Path, writers: usize, seed: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_amity-crash-writer"))
        .args([dir.to_str().unwrap(), &writers.to_string(), &seed.to_string()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Opens after a crash and checks what every round must hold.
fn check_after_crash(dir: &Path, acknowledged: &[(u64, String, String)], context: &str) -> Ledger {
    let ledger = Ledger::open(dir, Options::default()).unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    let verified = ledger.verify(|_| {}).unwrap_or_else(|e| panic!("{context}: {e}"));
    assert_eq!(verified.count, ledger.head().seq, "{context}: gapless prefix");
    for (seq, id, hash) in acknowledged {
        let record = ledger.get(*seq).unwrap().unwrap_or_else(|| panic!("{context}: acknowledged seq {seq} is lost"));
        assert_eq!((&record.id, &record.hash), (id, hash), "{context}: seq {seq} is not what was acknowledged");
    }
    let live = ledger.read_views(|views| views.clone());
    assert!(live == ledger.refold(|_| {}).unwrap(), "{context}: views from the checkpoint differ from a refold");
    ledger
}

#[test]
fn sigkill_under_concurrent_writers_loses_no_acknowledged_record() {
    let base = base_seed();
    eprintln!("crash test seed {base} (AMITY_CRASH_SEED={base} replays it)");
    let dir = tempfile::tempdir().unwrap();
    let mut all_acks: Vec<(u64, String, String)> = Vec::new();
    for round in 0..STRESS_ROUNDS {
        let seed = base.wrapping_add(round);
        let kill_after = SmallRng::seed_from_u64(seed).random_range(1..300);
        let mut child = crash_writer(dir.path(), 32, seed);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acks = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            acks.push(line);
            if acks.len() == kill_after {
                child.kill().unwrap();
                break;
            }
        }
        // Acknowledgements printed before the kill are still in the pipe.
        acks.extend(lines.map_while(Result::ok));
        child.wait().unwrap();
        for line in acks {
            let mut parts = line.split(' ');
            let seq = parts.next().unwrap().parse().unwrap();
            all_acks.push((seq, parts.next().unwrap().to_string(), parts.next().unwrap().to_string()));
        }
        let context = format!("round {round}, seed {seed}, killed after {kill_after} acks");
        check_after_crash(dir.path(), &all_acks, &context).close().unwrap();
    }
    // A new append continues the chain after all those crashes.
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    let head = ledger.head();
    let appended = ledger.append(checked(&party("after-crashes", "th/bangkok", "TH"))).unwrap();
    assert_eq!((appended.record().seq, appended.record().prev.as_str()), (head.seq + 1, head.hash.as_str()));
    ledger.verify(|_| {}).unwrap();
    assert!(all_acks.len() as u64 >= STRESS_ROUNDS, "every round acknowledged something");
}

#[test]
fn sigkill_during_import_leaves_all_or_nothing_and_reimport_completes() {
    let base = base_seed();
    eprintln!("import crash seed {base}");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("history.ndjson");
    let mut history = History::generate(base, 6000);
    for (i, submission) in history.iter_mut().enumerate() {
        if submission.get("id").is_none() {
            submission["id"] = serde_json::json!(format!("anon-{i}"));
        }
    }
    write_ndjson(&file, &history);
    let ids: Vec<String> = history.iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    for round in 0..IMPORT_ROUNDS {
        let seed = base.wrapping_add(round);
        let dir = work.path().join(format!("db-{round}"));
        let delay = SmallRng::seed_from_u64(seed).random_range(100..3000);
        let mut child = amity_child(&dir, &["import", file.to_str().unwrap()]);
        // The crash point: a random moment into the import, not a synchronisation.
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
        if !dir.join("ledger").exists() {
            continue;
        }
        let context = format!("import round {round}, seed {seed}, killed after {delay} ms");
        let ledger = check_after_crash(&dir, &[], &context);
        let stored: Vec<String> = ledger.range(1, u64::MAX).map(|r| r.unwrap().id).collect();
        // An import is acknowledged whole or not at all: a crash before the
        // end leaves none of it (the next open takes back what was written).
        assert!(stored.is_empty() || stored == ids, "{context}: {} of {} records kept", stored.len(), ids.len());
        assert!(!dir.join("import.pending").exists(), "{context}: the open took the import back");
        eprintln!("{context}: {} of {} records had been appended", stored.len(), ids.len());
        ledger.close().unwrap();
        let finish = amity(&dir, &["import", file.to_str().unwrap()], b"");
        assert!(finish.status.success(), "{context}: {}", text(&finish.stderr));
        let ledger = check_after_crash(&dir, &[], &context);
        assert_eq!(ledger.head().seq, ids.len() as u64, "{context}: re-import completed the file");
    }
}

#[test]
fn sigkill_during_rebuild_keeps_views_and_chain() {
    let base = base_seed();
    eprintln!("rebuild crash seed {base}");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("db");
    let file = work.path().join("history.ndjson");
    write_ndjson(&file, &History::generate(base, 4000));
    assert!(amity(&dir, &["import", file.to_str().unwrap()], b"").status.success());
    for round in 0..REBUILD_ROUNDS {
        let seed = base.wrapping_add(round);
        let delay = SmallRng::seed_from_u64(seed).random_range(1..800);
        let mut child = amity_child(&dir, &["rebuild"]);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
        let context = format!("rebuild round {round}, seed {seed}, killed after {delay} ms");
        check_after_crash(&dir, &[], &context).close().unwrap();
    }
}

/// Rust exits with 101 when a thread panics on its way out of `main`.
const PANIC_EXIT: i32 = 101;

#[test]
fn flipped_truncated_or_deleted_sled_files_never_panic() {
    let base = base_seed();
    eprintln!("damage seed {base}");
    let work = tempfile::tempdir().unwrap();
    let pristine = work.path().join("pristine");
    let file = work.path().join("history.ndjson");
    write_ndjson(&file, &History::generate(base, 300));
    assert!(amity(&pristine, &["import", file.to_str().unwrap()], b"").status.success());
    let mut rng = SmallRng::seed_from_u64(base);
    for round in 0..24u64 {
        let dir = work.path().join(format!("damaged-{round}"));
        copy_dir(&pristine, &dir);
        let files: Vec<_> = walk(&dir);
        let target = &files[rng.random_range(0..files.len())];
        let mut bytes = std::fs::read(target).unwrap();
        let damage = match rng.random_range(0..3) {
            0 if !bytes.is_empty() => {
                for _ in 0..rng.random_range(1..16) {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] ^= 1 << rng.random_range(0..8);
                }
                std::fs::write(target, &bytes).unwrap();
                "flipped bits in"
            }
            1 => {
                let keep = rng.random_range(0..=bytes.len());
                bytes.truncate(keep);
                std::fs::write(target, &bytes).unwrap();
                "truncated"
            }
            _ => {
                std::fs::remove_file(target).unwrap();
                "deleted"
            }
        };
        for command in [&["verify"][..], &["view", "aid", "--json"][..]] {
            let output = amity(&dir, command, b"");
            let context = format!("round {round}: {damage} {}; `amity {}`", target.display(), command.join(" "));
            assert_ne!(output.status.code(), Some(PANIC_EXIT), "{context} panicked: {}", text(&output.stderr));
            assert!(output.status.code().is_some(), "{context} died by a signal");
            if !output.status.success() {
                assert!(!text(&output.stderr).trim().is_empty(), "{context} failed without saying why");
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn sigkill_of_the_server_under_http_writers_loses_no_acknowledged_write() {
    const ROUNDS: u64 = 5;
    let base = base_seed();
    eprintln!("server crash seed {base}");
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut acknowledged: Vec<(u64, String, String)> = Vec::new();
    for round in 0..ROUNDS {
        let seed = base.wrapping_add(round);
        let kill_after = SmallRng::seed_from_u64(seed).random_range(1..200usize);
        let served = serve_process(dir.path(), "crash");
        let acks = runtime.block_on(http_writers_until(served.url.clone(), seed, kill_after));
        drop(served); // SIGKILL, with requests still in flight
        acknowledged.extend(acks);
        let context = format!("server round {round}, seed {seed}, killed after {kill_after} acks");
        check_after_crash(dir.path(), &acknowledged, &context).close().unwrap();
    }
}

/// Eight HTTP writers post until `kill_after` acknowledgements have arrived,
/// then return every acknowledgement received (the kill follows at once,
/// while other requests are still in flight).
async fn http_writers_until(url: String, seed: u64, kill_after: usize) -> Vec<(u64, String, String)> {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/events"))
        .bearer_auth("crash")
        .body(two_capitals().to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, url, sender) = (client.clone(), url.clone(), sender.clone());
            tokio::spawn(async move {
                for i in 0u64.. {
                    let id = format!("crash-{seed}-{w}-{i}");
                    let body = serde_json::json!({"id": id, "type": "activity.held", "occurred": "2023",
                        "data": {"category": "exchange", "title": "crash", "parties": ["vn/hanoi", "la/vientiane"]}});
                    let Ok(response) =
                        client.post(format!("{url}/events")).bearer_auth("crash").body(body.to_string()).send().await
                    else {
                        return;
                    };
                    let Ok(record) = response.json::<serde_json::Value>().await else { return };
                    let ack = (record["seq"].as_u64().unwrap(), id, record["hash"].as_str().unwrap().to_string());
                    if sender.send(ack).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(sender);
    let mut acks = Vec::new();
    while let Some(ack) = receiver.recv().await {
        acks.push(ack);
        if acks.len() == kill_after {
            break;
        }
    }
    for writer in writers {
        writer.abort();
    }
    acks
}
