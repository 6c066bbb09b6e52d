//! Injected I/O errors (issue 13), with Debian's `fiu-utils`: `fiu-run -x`
//! preloads libfiu's POSIX wrappers, which make the named libc calls fail at
//! random with an error they can return (EIO, ENOSPC, EINTR…), seeded by
//! `FIU_PRNG_SEED`. Each round runs one command under faults, then, faults
//! off, checks what a user relies on: no exit 101, no hang, the ledger opens
//! and verifies, and every record the command acknowledged is there, byte
//! for byte where the command showed the bytes.
//!
//! Two sets of fault points. `posix/io/rw/*` (the issue's own example) fails
//! every `read`/`write` of the process, the input file and standard error
//! included: used for `import` and `rebuild`. A server's sockets and tokio's
//! wake-up eventfd use the same calls, and tokio panics when writing its
//! eventfd fails ("failed to wake I/O driver"), which no disk can cause; so
//! `serve` rounds fail the calls a disk sits behind: positioned reads and
//! writes (`posix/io/rw/p*`: sled's file I/O and the anchor) and the syncs
//! (`posix/io/sync/*`).

use crate::common::*;
use events::generate::History;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Every read and write of the process.
const ALL_READS_AND_WRITES: &[&str] = &["posix/io/rw/*"];
/// The calls a disk sits behind.
const DISK_CALLS: &[&str] = &["posix/io/rw/p*", "posix/io/sync/*"];
/// Fault probabilities per call, from rare to every few dozen calls.
const PROBABILITIES: [f64; 3] = [0.002, 0.01, 0.05];
/// For `rebuild`, which reads every record: rarer faults, so that some
/// rounds finish and some fail part-way.
const REBUILD_PROBABILITIES: [f64; 3] = [0.0005, 0.005, 0.05];
/// Longest a command under faults may take before it counts as hung: the
/// flush limit (a flush sled never finishes is given up after it) plus
/// ample time for the work itself on a slow machine.
const HANG_LIMIT_S: u64 = 90;

/// Whether fiu-run and fiu-ctrl are here (see [`required`]).
fn fiu() -> bool {
    required("fiu-run", on_path("fiu-run") && on_path("fiu-ctrl"), "apt-get install fiu-utils")
}

/// `amity ARGS` on the ledger `db` under `fiu-run` with `points` failing at
/// `probability`, seeded with `seed`.
fn under_faults(db: &Path, seed: u64, probability: f64, points: &[&str], args: &[&str]) -> Command {
    let mut command = Command::new("fiu-run");
    command.arg("-x");
    for point in points {
        command.args(["-c", &format!("enable_random name={point},probability={probability}")]);
    }
    command
        .arg(env!("CARGO_BIN_EXE_amity"))
        .args(args)
        .env("AMITY_DB", db)
        .env("FIU_PRNG_SEED", seed.to_string())
        .env_remove("RUST_LOG")
        .env_remove("AMITY_RESERVE_MIB");
    command
}

/// Runs `command` under coreutils' `timeout`: exit 124 means it hung.
fn run_bounded(command: Command) -> Output {
    let mut bounded = Command::new("timeout");
    bounded.args(["--kill-after=5", &HANG_LIMIT_S.to_string()]).arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => bounded.env(key, value),
            None => bounded.env_remove(key),
        };
    }
    bounded.stdin(Stdio::null()).output().expect("timeout and fiu-run (fiu-utils) are installed")
}

/// The round's outcome must be one a user can act on: 0, or 4 (storage).
fn assert_clean_exit(round: &str, output: &Output) {
    let code = output.status.code();
    assert_ne!(code, Some(124), "{round}: hung (killed after {HANG_LIMIT_S} s)");
    assert!(
        matches!(code, Some(0) | Some(4)),
        "{round}: exit {code:?} (only 0 or 4 are clean)\nstdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Faults off: the ledger opens and verifies; returns its export.
fn verified_export(round: &str, db: &Path) -> Vec<u8> {
    let verified = amity(db, &["verify"], b"");
    assert!(verified.status.success(), "{round}: verify after the faults: {}", text(&verified.stderr));
    export(db)
}

fn ids(export: &[u8]) -> Vec<Option<String>> {
    export
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice::<Value>(line).unwrap()["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn fiu_import_under_injected_io_errors_exits_cleanly_and_keeps_all_or_nothing() {
    if !fiu() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("input.ndjson");
    let submissions = History::generate(31, 6_000);
    write_ndjson(&input, &submissions);
    let input_ids: Vec<Option<String>> = submissions.iter().map(|s| s["id"].as_str().map(str::to_string)).collect();
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for seed in 1..=6u64 {
        for probability in PROBABILITIES {
            let round = format!("import seed {seed} p {probability}");
            let db = work.path().join(format!("db-{seed}-{probability}"));
            let args = ["import", input.to_str().unwrap()];
            let output = run_bounded(under_faults(&db, seed, probability, ALL_READS_AND_WRITES, &args));
            assert_clean_exit(&round, &output);
            *outcomes.entry(format!("exit {}", output.status.code().unwrap())).or_default() += 1;
            if !db.join("ledger").exists() {
                assert!(!output.status.success(), "{round}: imported but left no ledger");
                continue;
            }
            // An import is all or nothing: exit 0 keeps every line; a failure
            // keeps none (the next open takes back what it wrote), unless it
            // came after the import was durable (closing the ledger).
            let stored = ids(&verified_export(&round, &db));
            if output.status.success() || !stored.is_empty() {
                assert_eq!(stored.len(), input_ids.len(), "{round}: {} of {} kept", stored.len(), input_ids.len());
                for (index, (stored, given)) in stored.iter().zip(&input_ids).enumerate() {
                    if given.is_some() {
                        assert_eq!(
                            stored,
                            given,
                            "{round}: record {} is not the input's line {}",
                            index + 1,
                            index + 1
                        );
                    }
                }
            }
            // And the ledger takes appends again.
            let again = amity(&db, &["append"], party("after", "la/after-faults", "LA").to_string().as_bytes());
            assert!(again.status.success(), "{round}: append after the faults: {}", text(&again.stderr));
            std::fs::remove_dir_all(&db).unwrap();
        }
    }
    eprintln!("fiu import rounds: {outcomes:?}");
}

#[test]
fn fiu_rebuild_under_injected_io_errors_exits_cleanly_and_changes_nothing() {
    if !fiu() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let original = imported(work.path(), "original", 37, 20_000);
    let exported = export(&original);
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for seed in 1..=6u64 {
        for probability in REBUILD_PROBABILITIES {
            let round = format!("rebuild seed {seed} p {probability}");
            let db = work.path().join(format!("db-{seed}-{probability}"));
            let copied = Command::new("cp").arg("-a").arg(&original).arg(&db).status().unwrap();
            assert!(copied.success());
            let output = run_bounded(under_faults(&db, seed, probability, ALL_READS_AND_WRITES, &["rebuild"]));
            assert_clean_exit(&round, &output);
            *outcomes.entry(format!("exit {}", output.status.code().unwrap())).or_default() += 1;
            assert!(verified_export(&round, &db) == exported, "{round}: the export changed");
            let views = amity(&db, &["view", "aid", "--json"], b"");
            assert!(views.status.success(), "{round}: views after the faults: {}", text(&views.stderr));
            std::fs::remove_dir_all(&db).unwrap();
        }
    }
    eprintln!("fiu rebuild rounds: {outcomes:?}");
}

/// A writer's outcome: the stored bytes of each acknowledged record (201),
/// and the statuses of the rest.
#[derive(Default)]
struct Written {
    acknowledged: Vec<String>,
    statuses: std::collections::BTreeMap<u16, u32>,
}

async fn write_activities(url: String, writer: usize, count: usize) -> Written {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(HANG_LIMIT_S)).build().unwrap();
    let mut written = Written::default();
    for i in 0..count {
        let body = json!({"id": format!("w{writer}-{i}"), "type": "activity.held", "occurred": "2023-11",
            "data": {"category": "exchange", "title": format!("writer {writer} event {i}"), "parties": ["vn/hanoi", "la/vientiane"]}});
        let response = client.post(format!("{url}/events")).bearer_auth("t").json(&body).send().await;
        let response = response.unwrap_or_else(|e| panic!("writer {writer}: no answer within the bound: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        *written.statuses.entry(status).or_default() += 1;
        match status {
            201 => written.acknowledged.push(text),
            // A stopped ledger answers with a JSON body that says why.
            503 | 507 | 500 => {
                let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON error body: {text}"));
                assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
            }
            other => panic!("writer {writer}: unexpected status {other}: {text}"),
        }
    }
    written
}

/// Starts `amity serve` under `command` (fiu-run), returns it and its URL.
fn start_serve(mut command: Command) -> (std::process::Child, String) {
    let mut child = command
        .env("AMITY_TOKEN", "t")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("fiu-run (fiu-utils) is installed");
    let url = listening(&mut child);
    (child, url.unwrap_or_default())
}

#[test]
fn fiu_serve_under_injected_disk_errors_answers_every_writer_stops_on_sigterm_and_keeps_every_201() {
    if !fiu() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for seed in 1..=5u64 {
        for probability in PROBABILITIES {
            let round = format!("serve seed {seed} p {probability}");
            let db = work.path().join(format!("db-{seed}-{probability}"));
            // The two capitals first, without faults, so writers have parties.
            let capitals: Vec<u8> =
                two_capitals().as_array().unwrap().iter().flat_map(|s| format!("{s}\n").into_bytes()).collect();
            let seeded = amity(&db, &["import", "-"], &capitals);
            assert!(seeded.status.success(), "{}", text(&seeded.stderr));
            let serve = under_faults(&db, seed, probability, DISK_CALLS, &["serve", "--addr", "127.0.0.1:0"]);
            let (child, url) = start_serve(serve);
            let mut acknowledged = Vec::new();
            if url.is_empty() {
                // Opening failed under faults: it must have said so and exited 4.
                let output = child.wait_with_output().unwrap();
                assert_eq!(output.status.code(), Some(4), "{round}: {}", text(&output.stderr));
                *outcomes.entry("open failed, exit 4".into()).or_default() += 1;
            } else {
                let writers: Vec<_> = (0..4).map(|w| runtime.spawn(write_activities(url.clone(), w, 60))).collect();
                let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
                for writer in writers {
                    let written = runtime.block_on(writer).unwrap();
                    acknowledged.extend(written.acknowledged);
                    for (status, count) in written.statuses {
                        *statuses.entry(status).or_default() += count;
                    }
                }
                let health: Value = runtime
                    .block_on(async { reqwest::get(format!("{url}/health")).await.unwrap().json().await.unwrap() });
                if statuses.contains_key(&503) {
                    assert_eq!(health["ok"], false, "{round}: writers got 503 but /health says ok: {health}");
                    assert!(health["failure"].as_str().is_some_and(|f| !f.is_empty()), "{round}: {health}");
                }
                let output = terminate_within(child, Duration::from_secs(HANG_LIMIT_S))
                    .unwrap_or_else(|| panic!("{round}: SIGTERM not honoured within {HANG_LIMIT_S} s"));
                assert_clean_exit(&round, &output);
                let key = format!("exit {} after {statuses:?}", output.status.code().unwrap());
                *outcomes.entry(key).or_default() += 1;
            }
            let exported = verified_export(&round, &db);
            let lines: std::collections::HashSet<&[u8]> = exported.split(|b| *b == b'\n').collect();
            for record in &acknowledged {
                assert!(lines.contains(record.as_bytes()), "{round}: an acknowledged record is missing: {record}");
            }
            std::fs::remove_dir_all(&db).unwrap();
        }
    }
    eprintln!("fiu serve rounds: {outcomes:#?}");
}

#[test]
fn fiu_sigterm_with_the_disk_failing_under_a_running_server_exits_within_the_bound() {
    if !fiu() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let control = work.path().join("fiu-control");
    // No faults yet; `-f` opens libfiu's remote control, for `fiu-ctrl`.
    let mut serve = Command::new("fiu-run");
    serve.arg("-x").arg("-f").arg(&control).arg(env!("CARGO_BIN_EXE_amity")).args(["serve", "--addr", "127.0.0.1:0"]);
    serve.env("AMITY_DB", &db).env_remove("RUST_LOG");
    let (child, url) = start_serve(serve);
    assert!(!url.is_empty(), "the server started");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(HANG_LIMIT_S)).build().unwrap();
    let post = |id: &str| {
        let body = party(id, &format!("vn/{id}"), "VN");
        runtime.block_on(async {
            let request = client.post(format!("{url}/events")).bearer_auth("t").json(&body).send();
            let response = request.await.expect("an answer within the bound");
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    let (status, first) = post("before");
    assert_eq!(status, 201, "{first}");

    // Every sync and every positioned write fails from now on.
    let pid = child.id().to_string();
    for point in ["posix/io/sync/*", "posix/io/rw/pwrite", "linux/io/sync_file_range"] {
        let enabled = Command::new("fiu-ctrl")
            .arg("-f")
            .arg(&control)
            .args(["-c", &format!("enable name={point}"), &pid])
            .status()
            .unwrap();
        assert!(enabled.success(), "fiu-ctrl enables {point}");
    }
    let (status, refused) = post("during");
    assert_eq!(status, 503, "a write on a failing disk is refused: {refused}");
    let body: Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");
    let (status, again) = post("after");
    assert_eq!(status, 503, "and so is every later one: {again}");
    let health: Value =
        runtime.block_on(async { reqwest::get(format!("{url}/health")).await.unwrap().json().await.unwrap() });
    assert_eq!(health["ok"], false, "{health}");
    assert!(health["failure"].as_str().is_some_and(|f| !f.is_empty()), "/health says why: {health}");
    assert_eq!(health["seq"], 1, "{health}");
    // Reads keep working.
    let record = runtime.block_on(async { reqwest::get(format!("{url}/events")).await.unwrap().text().await.unwrap() });
    assert!(record.contains("\"id\":\"before\""), "{record}");

    let output = terminate_within(child, Duration::from_secs(HANG_LIMIT_S))
        .unwrap_or_else(|| panic!("SIGTERM not honoured within {HANG_LIMIT_S} s"));
    assert_eq!(output.status.code(), Some(4), "exit 4, the storage error: {}", text(&output.stderr));
    assert!(text(&output.stderr).contains("stopped after a storage error"), "{}", text(&output.stderr));
    let exported = verified_export("sigterm", &db);
    assert_eq!(text(&exported).trim_end(), first, "the acknowledged record, byte for byte, and nothing else");
}

#[test]
fn fiu_read_commands_under_injected_io_errors_exit_cleanly_and_change_nothing() {
    if !fiu() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let db = imported(work.path(), "db", 41, 5_000);
    let exported = export(&db);
    let backup = work.path().join("backup");
    let backup_arg = backup.to_str().unwrap();
    let commands: [&[&str]; 7] = [
        &["verify"],
        &["export"],
        &["log"],
        &["show", "5"],
        &["view", "aid", "--json"],
        &["subscribe", "--after", "4990"],
        &["backup", backup_arg],
    ];
    for seed in 1..=3u64 {
        for args in commands {
            let round = format!("{} seed {seed}", args[0]);
            let output = run_bounded(under_faults(&db, seed, 0.01, ALL_READS_AND_WRITES, args));
            assert_clean_exit(&round, &output);
            let _ = std::fs::remove_dir_all(&backup);
        }
    }
    assert!(verified_export("read commands", &db) == exported, "reads under faults changed the ledger");
}
