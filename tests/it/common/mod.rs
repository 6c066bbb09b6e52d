//! Helpers shared by the integration tests: temporary ledgers, a fixed
//! clock, generated submissions, and running the real `amity` binary.

#![allow(dead_code)]

use amity::store::Clock;
use amity::{Ledger, Options};
use events::Checked;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

/// A clock stuck at one instant: `recorded_at` must still never decrease.
pub struct FixedClock(pub chrono::DateTime<chrono::Utc>);

impl Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

pub fn fixed_clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock("2026-11-22T10:00:00Z".parse().unwrap()))
}

pub fn open(dir: &Path) -> Ledger {
    Ledger::open(dir, Options { clock: fixed_clock(), ..Options::default() }).expect("the ledger opens")
}

pub fn checked(submission: &Value) -> Checked {
    Checked::parse(&serde_json::to_vec(submission).unwrap()).expect("the test's submission is valid")
}

pub fn party(id: &str, party: &str, country: &str) -> Value {
    serde_json::json!({"id": id, "type": "party.registered", "occurred": "2022",
        "data": {"party": party, "name": party, "kind": "city", "country": country}})
}

/// Runs `amity ARGS` against the ledger in `dir`, feeding `stdin`.
pub fn amity(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_amity"))
        .args(args)
        .env("AMITY_DB", dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the amity binary runs");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `amity export` of the ledger in `dir`.
pub fn export(dir: &Path) -> Vec<u8> {
    let output = amity(dir, &["export"], b"");
    assert!(output.status.success(), "export: {}", text(&output.stderr));
    output.stdout
}

/// Writes submissions as an NDJSON file.
pub fn write_ndjson(path: &Path, submissions: &[Value]) {
    let mut text = String::new();
    for submission in submissions {
        text.push_str(&serde_json::to_string(submission).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The ledger's sled database opened with a plain sled client, as an
/// auditor (or an attacker) would. sled releases its file lock from a
/// background thread after a handle is dropped (sled issue #1289), so this
/// waits for it, up to the same bound the ledger itself uses.
pub fn raw_sled(dir: &Path) -> sled::Db {
    let config = sled::Config::new().path(dir.join("ledger")).flush_every_ms(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(amity::store::LOCK_WAIT_MS);
    loop {
        match config.open() {
            Ok(db) => return db,
            Err(e) if amity::store::is_lock_held(&e) && std::time::Instant::now() < deadline => {
                std::thread::yield_now();
            }
            Err(e) => panic!("sled opens the ledger: {e}"),
        }
    }
}

/// A real `amity serve` process on a loopback port of its choosing. Killed
/// when dropped, if it has not exited already.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `amity serve` on the ledger in `dir` with `token`, and waits for
/// the line that says where it listens.
pub fn serve_process(dir: &Path, token: &str) -> ServeProcess {
    serve_process_with(dir, token, &[])
}

/// [`serve_process`] with more arguments for `amity serve`.
pub fn serve_process_with(dir: &Path, token: &str, args: &[&str]) -> ServeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amity"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env("AMITY_DB", dir)
        .env("AMITY_TOKEN", token)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the amity binary runs");
    let url = listening(&mut child).expect("the server says where it listens");
    ServeProcess { child, url }
}

/// The URL an `amity serve` child (stdout piped) says it listens on, or
/// `None` if it exited first.
pub fn listening(child: &mut std::process::Child) -> Option<String> {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take()?).read_line(&mut line).ok()?;
    line.trim().strip_prefix("amity: listening on ").map(str::to_string)
}

/// Resident memory of process `pid`, in MiB (Linux).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// The two capitals, as a batch a test posts before its activities.
pub fn two_capitals() -> Value {
    serde_json::json!([
        {"id": "p-hn", "type": "party.registered", "occurred": "2022", "data": {"party": "vn/hanoi", "name": "Hà Nội", "kind": "city", "country": "VN"}},
        {"id": "p-vt", "type": "party.registered", "occurred": "2022", "data": {"party": "la/vientiane", "name": "Viêng Chăn", "kind": "city", "country": "LA"}},
    ])
}

/// Whether a test's outside requirement (`what`: a tool, root) is met. In CI
/// it must be (`.ci/run` installs every tool and runs as root): a missing one
/// fails the test. Elsewhere the test is skipped with a notice saying how
/// to get it, as the README promises for a fresh machine.
pub fn required(what: &str, present: bool, how: &str) -> bool {
    if !present {
        assert!(std::env::var_os("CI").is_none(), "{what} is required in CI ({how}; .ci/run does it)");
        eprintln!("SKIPPED: {what} is missing ({how})");
    }
    present
}

/// Whether `program` is on the PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var("PATH").unwrap_or_default().split(':').any(|dir| Path::new(dir).join(program).is_file())
}

/// Whether this process runs as root (mounting a tmpfs needs it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `work/<name>`: a ledger into which `amity import` put the first `count`
/// submissions of the generated history for `seed`.
pub fn imported(work: &Path, name: &str, seed: u64, count: usize) -> std::path::PathBuf {
    let input = work.join(format!("{name}.ndjson"));
    write_ndjson(&input, &events::generate::History::generate(seed, count));
    let dir = work.join(name);
    let output = amity(&dir, &["import", input.to_str().unwrap()], b"");
    assert!(output.status.success(), "import: {}", text(&output.stderr));
    dir
}

/// Sends SIGTERM and waits, at most `limit`, for the exit code; on
/// timeout kills the process and returns `None`.
pub fn terminate_within(child: std::process::Child, limit: std::time::Duration) -> Option<Output> {
    let pid = child.id();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    // SAFETY: kill(2) on a child's pid has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    match exited.recv_timeout(limit) {
        Ok(output) => Some(output.unwrap()),
        Err(_) => {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            None
        }
    }
}

/// `3000000.00` → `3,000,000.00`, as the dashboard prints money.
pub fn grouped(amount: &str) -> String {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let mut out = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if fraction.is_empty() {
        out
    } else {
        format!("{out}.{fraction}")
    }
}
