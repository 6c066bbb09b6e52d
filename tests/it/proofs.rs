//! The Merkle tree over the records (issue 14): proofs that Go's own
//! transparency-log package (`golang.org/x/mod/sumdb/tlog`, run offline from
//! Debian's `golang-golang-x-mod-dev`) accepts, and a tree that `verify`
//! checks and `rebuild` recomputes.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// Whether Go and its transparency-log packages are here (see [`required`]).
fn go() -> bool {
    let present = on_path("go") && Path::new("/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog").is_dir();
    required("go with golang.org/x/mod", present, "apt-get install golang-go golang-golang-x-mod-dev")
}

/// Runs `tests/tools/tlogcheck.go` on an export and a file of proofs.
fn go_check(work: &Path, export: &[u8], proofs: &[String]) -> std::process::Output {
    go_check_with(work, export, proofs, None)
}

/// [`go_check`], also checking a signed checkpoint against a verifier key.
fn go_check_with(
    work: &Path,
    export: &[u8],
    proofs: &[String],
    checkpoint: Option<(&str, &str)>,
) -> std::process::Output {
    let (export_file, proofs_file) = (work.join("export.ndjson"), work.join("proofs.ndjson"));
    std::fs::write(&export_file, export).unwrap();
    std::fs::write(&proofs_file, proofs.join("\n") + "\n").unwrap();
    let mut extra = Vec::new();
    if let Some((note, vkey)) = checkpoint {
        let (note_file, vkey_file) = (work.join("checkpoint.txt"), work.join("vkey.txt"));
        std::fs::write(&note_file, note).unwrap();
        std::fs::write(&vkey_file, vkey).unwrap();
        extra = vec![note_file, vkey_file];
    }
    Command::new("go")
        .args(["run", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/tlogcheck.go")])
        .arg(&export_file)
        .arg(&proofs_file)
        .args(&extra)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", work.join("gocache"))
        .output()
        .expect("go (golang-go) is installed")
}

fn prove(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["prove"];
    all.extend_from_slice(args);
    all.push("--json");
    let output = amity(dir, &all, b"");
    assert!(output.status.success(), "amity {all:?}: {}", text(&output.stderr));
    text(&output.stdout).trim().to_string()
}

#[test]
fn inclusion_and_consistency_proofs_are_accepted_by_gos_tlog_and_a_forged_one_is_not() {
    if !go() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = imported(work.path(), "ledger", 43, 300);
    let exported = export(&dir);
    let head = exported.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
    let mut proofs = Vec::new();
    for seq in [1, 2, 3, 64, 65, 128, 129, 257, head] {
        proofs.push(prove(&dir, &[&seq.to_string()]));
        for size in [seq, seq + 1, 200.max(seq), head] {
            if size <= head {
                proofs.push(prove(&dir, &[&seq.to_string(), "--size", &size.to_string()]));
            }
        }
    }
    for (from, to) in [(1, 1), (1, 2), (3, 7), (64, 65), (100, 256), (129, 300), (head, head)] {
        if to <= head {
            proofs.push(prove(&dir, &["--from", &from.to_string(), "--to", &to.to_string()]));
        }
    }
    let shape: serde_json::Value = serde_json::from_str(&proofs[1]).unwrap();
    assert!(shape["leaf_index"].is_u64() && shape["tree_size"].is_u64() && shape["audit_path"].is_array(), "{shape}");
    let checked = go_check(work.path(), &exported, &proofs);
    assert!(checked.status.success(), "Go's tlog refused a proof: {}", text(&checked.stderr));
    assert_eq!(text(&checked.stdout).trim(), format!("ok {} proofs", proofs.len()));

    // One hash of one audit path changed: Go refuses it.
    let mut forged: serde_json::Value = serde_json::from_str(&proofs[3]).unwrap();
    forged["audit_path"][0] = serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let refused = go_check(work.path(), &exported, &[forged.to_string()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    assert!(text(&refused.stderr).contains("proof 1"), "{}", text(&refused.stderr));
}

#[test]
fn verify_finds_a_damaged_merkle_tree_and_rebuild_recomputes_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = imported(work.path(), "ledger", 47, 500);
    let before = prove(&dir, &["--from", "100"]);
    {
        // The last stored hash (the root's top node) overwritten.
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new().write(true).open(dir.join(amity::store::MERKLE_FILE)).unwrap();
        let len = file.metadata().unwrap().len();
        file.write_all_at(&[7u8; 32], len - 32).unwrap();
    }
    let verified = amity(&dir, &["verify"], b"");
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified.stdout));
    assert!(text(&verified.stderr).contains("Merkle tree's stored root"), "{}", text(&verified.stderr));
    let rebuilt = amity(&dir, &["rebuild"], b"");
    assert!(rebuilt.status.success(), "{}", text(&rebuilt.stderr));
    let verified = amity(&dir, &["verify"], b"");
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert_eq!(prove(&dir, &["--from", "100"]), before, "the recomputed tree gives the same proofs");

    // A ledger whose tree is gone entirely (as one made before the tree
    // existed): the next open completes it from the log.
    std::fs::remove_file(dir.join(amity::store::MERKLE_FILE)).unwrap();
    let verified = amity(&dir, &["verify"], b"");
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(text(&verified.stderr).contains("completing the Merkle tree"), "{}", text(&verified.stderr));
    assert_eq!(prove(&dir, &["--from", "100"]), before);
}

#[test]
fn signed_checkpoints_from_the_cli_and_the_server_verify_with_gos_note_and_tlog() {
    if !go() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let dir = imported(work.path(), "ledger", 53, 200);

    let generated = amity(&dir, &["key", "generate", "--name", "example.org/amity-test"], b"");
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let vkey = text(&generated.stdout).trim().to_string();
    assert!(vkey.starts_with("example.org/amity-test+"), "{vkey}");
    let key_file = dir.join("signing.key");
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let private = std::fs::read_to_string(&key_file).unwrap();
    assert!(!text(&generated.stderr).contains(private.trim()) && !vkey.contains("PRIVATE"));
    let again = amity(&dir, &["key", "generate", "--name", "other"], b"");
    assert_eq!(again.status.code(), Some(2), "a key is never overwritten");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), private);

    let signed = amity(&dir, &["checkpoint"], b"");
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    let note = text(&signed.stdout);
    assert!(note.starts_with("example.org/amity-test\n200\n"), "{note}");
    let proofs = vec![prove(&dir, &["17", "--size", "200"]), prove(&dir, &["--from", "50", "--to", "200"])];
    let checked = go_check_with(work.path(), &export(&dir), &proofs, Some((&note, &vkey)));
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).contains("ok checkpoint 200"), "{}", text(&checked.stdout));
    // A checkpoint with a changed root no longer verifies.
    let forged = note.replacen("\n200\n", "\n199\n", 1);
    let refused = go_check_with(work.path(), &export(&dir), &proofs, Some((&forged, &vkey)));
    assert_eq!(refused.status.code(), Some(1));

    // The server finds the key in the ledger directory and signs as it grows.
    let served = serve_process(&dir, "t");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let get = |path: String| {
        runtime.block_on(async {
            let response = client.get(format!("{}{path}", served.url)).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    assert_eq!(get("/checkpoint/key".into()), (200, format!("{vkey}\n")));
    let posted = runtime.block_on(async {
        let body = party("p-after", "la/after", "LA");
        client.post(format!("{}/events", served.url)).bearer_auth("t").json(&body).send().await.unwrap().status()
    });
    assert_eq!(posted.as_u16(), 201);
    // Signed at most once a second: wait (bounded) for the one at 201.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let note = loop {
        let (status, body) = get("/checkpoint".into());
        if status == 200 && body.starts_with("example.org/amity-test\n201\n") {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint of 201 records: {status} {body}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (status, inclusion) = get("/proofs/inclusion?seq=201".into());
    assert_eq!(status, 200, "{inclusion}");
    let shape: serde_json::Value = serde_json::from_str(&inclusion).unwrap();
    assert_eq!(shape["tree_size"], 201, "the default size is the latest checkpoint's: {shape}");
    let (status, consistency) = get("/proofs/consistency?from=200".into());
    assert_eq!(status, 200, "{consistency}");
    let (status, bad) = get("/proofs/inclusion?seq=0".into());
    assert_eq!(status, 400, "{bad}");
    let (status, bad) = get("/proofs/inclusion?sequence=3".into());
    assert_eq!(status, 400, "{bad}");
    drop(served);
    let checked = go_check_with(work.path(), &export(&dir), &[inclusion, consistency], Some((&note, &vkey)));
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).contains("ok checkpoint 201"), "{}", text(&checked.stdout));
}

#[test]
fn an_audit_bundle_checks_offline_and_a_changed_record_or_another_key_fails() {
    let work = tempfile::tempdir().unwrap();
    let dir = imported(work.path(), "ledger", 59, 120);
    let generated = amity(&dir, &["key", "generate", "--name", "example.org/bundle-test"], b"");
    let vkey = text(&generated.stdout).trim().to_string();
    let bundle = work.path().join("bundle.json");
    let made = amity(&dir, &["bundle", "--seq", "10..40", "--out", bundle.to_str().unwrap()], b"");
    assert!(made.status.success(), "{}", text(&made.stderr));

    // No ledger needed: audit from an empty directory.
    let nowhere = work.path().join("no-ledger");
    let audited = amity(&nowhere, &["audit", bundle.to_str().unwrap(), "--key", &vkey], b"");
    assert!(audited.status.success(), "{}", text(&audited.stderr));
    assert!(text(&audited.stdout).starts_with("ok: records 10..40 (31 records)"), "{}", text(&audited.stdout));
    assert!(!nowhere.exists(), "audit touched no ledger");

    // One record changed by one character: refused, naming it.
    let mut parsed: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let record = parsed["records"][5]["record"].as_str().unwrap().to_string();
    let changed = record.replacen("\"occurred\":\"", "\"occurred\":\"1", 1);
    assert_ne!(changed, record);
    parsed["records"][5]["record"] = serde_json::json!(changed);
    let tampered = work.path().join("tampered.json");
    std::fs::write(&tampered, parsed.to_string()).unwrap();
    let refused = amity(&nowhere, &["audit", tampered.to_str().unwrap(), "--key", &vkey], b"");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    assert!(text(&refused.stderr).contains("seq 15"), "{}", text(&refused.stderr));

    // Another log's key: the checkpoint's signature does not verify.
    let other = amity(
        &nowhere,
        &[
            "key",
            "generate",
            "--name",
            "example.org/bundle-test",
            "--out",
            work.path().join("other.key").to_str().unwrap(),
        ],
        b"",
    );
    let other_vkey = text(&other.stdout).trim().to_string();
    let refused = amity(&nowhere, &["audit", bundle.to_str().unwrap(), "--key", &other_vkey], b"");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    assert!(text(&refused.stderr).contains("signature"), "{}", text(&refused.stderr));
}

/// A ledger of the two capitals and `count` activities, written with the
/// fixed clock (so two such ledgers are byte-identical where their
/// submissions are); activity `changed` (if any) gets another title.
fn activities_ledger(dir: &Path, count: usize, changed: Option<usize>) {
    let ledger = open(dir);
    let capitals = two_capitals();
    ledger.append_group(capitals.as_array().unwrap().iter().map(checked).collect()).unwrap();
    for i in 0..count {
        let title = if Some(i) == changed { format!("event {i}, rewritten") } else { format!("event {i}") };
        let activity = serde_json::json!({"id": format!("a-{i}"), "type": "activity.held", "occurred": "2023-11",
            "data": {"category": "exchange", "title": title, "parties": ["vn/hanoi", "la/vientiane"]}});
        ledger.append(checked(&activity)).unwrap();
    }
    ledger.close().unwrap();
}

#[test]
fn a_witness_cosigns_what_it_recomputed_and_refuses_a_fork_naming_where_it_differs_and_a_rollback() {
    let work = tempfile::tempdir().unwrap();
    let (original, forked, shorter) = (work.path().join("a"), work.path().join("b"), work.path().join("c"));
    activities_ledger(&original, 60, None);
    activities_ledger(&forked, 60, Some(27)); // record 30: the capitals are 1 and 2
    activities_ledger(&shorter, 40, None);
    let generated = amity(&original, &["key", "generate", "--name", "example.org/witnessed"], b"");
    let log_key = text(&generated.stdout).trim().to_string();
    for other in [&forked, &shorter] {
        std::fs::copy(original.join("signing.key"), other.join("signing.key")).unwrap();
    }
    let witness_key = work.path().join("witness.key");
    let made = amity(
        &original,
        &["key", "generate", "--name", "witness.example", "--out", witness_key.to_str().unwrap()],
        b"",
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    let state = work.path().join("witness-state");
    let witness = |url: &str| {
        let args = [
            "witness",
            "--url",
            url,
            "--log-key",
            &log_key,
            "--key",
            witness_key.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--once",
        ];
        amity(work.path(), &args, b"")
    };
    let checkpoint = |url: &str| {
        // Signed at most once a second after start: wait (bounded) for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let response = tokio::runtime::Runtime::new().unwrap().block_on(async {
                let response = reqwest::get(format!("{url}/checkpoint")).await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            });
            if response.0 == 200 {
                return response.1;
            }
            assert!(std::time::Instant::now() < deadline, "no checkpoint: {response:?}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };

    let served = serve_process(&original, "t");
    checkpoint(&served.url);
    let cosigned = witness(&served.url);
    assert!(cosigned.status.success(), "{}", text(&cosigned.stderr));
    assert!(text(&cosigned.stderr).contains("cosigned the checkpoint of 62 records"), "{}", text(&cosigned.stderr));
    let note = checkpoint(&served.url);
    assert!(note.contains("\n— example.org/witnessed ") && note.contains("\n— witness.example "), "{note}");
    drop(served);

    let served = serve_process(&forked, "t");
    checkpoint(&served.url);
    let refused = witness(&served.url);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let said = text(&refused.stderr);
    assert!(said.contains("fork") && said.contains("first at seq 30"), "{said}");
    assert!(!checkpoint(&served.url).contains("witness.example"), "nothing cosigned");
    drop(served);

    let served = serve_process(&shorter, "t");
    checkpoint(&served.url);
    let refused = witness(&served.url);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("rollback"), "{}", text(&refused.stderr));
}
