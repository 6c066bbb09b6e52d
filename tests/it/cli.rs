//! The `amity` binary as an auditor and a writer use it: import, export,
//! verify, exit codes, and what bad input and tampering look like.

use crate::common::*;
use events::generate::History;
use serde_json::{json, Value};
use std::path::Path;

/// A generated history in which every submission carries an id, so that
/// re-importing it is idempotent.
fn history_with_ids(seed: u64, len: usize) -> Vec<Value> {
    let mut history = History::generate(seed, len);
    for (i, submission) in history.iter_mut().enumerate() {
        if submission.get("id").is_none() {
            submission["id"] = json!(format!("anon-{i}"));
        }
    }
    history
}

fn import_file(dir: &Path, file: &Path) -> std::process::Output {
    amity(dir, &["import", file.to_str().unwrap()], b"")
}

#[test]
fn two_thousand_generated_submissions_import_export_and_verify_independently() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let file = work.path().join("history.ndjson");
    let history = history_with_ids(2026, 2000);
    let types: std::collections::BTreeSet<&str> = history.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 13, "the workload uses every event type: {types:?}");
    write_ndjson(&file, &history);

    let output = import_file(&db, &file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("2000 appended, 0 already present"), "{}", text(&output.stdout));

    let exported = export(&db);
    let lines: Vec<&[u8]> = exported.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2000);
    for (line, submission) in lines.iter().zip(&history) {
        let record: Value = serde_json::from_slice(line).unwrap();
        assert_eq!(record["data"], submission["data"], "data comes back identical");
        assert_eq!(record["id"], submission["id"]);
        assert_eq!(record["occurred"], submission["occurred"]);
        assert_eq!(record["sources"], submission.get("sources").cloned().unwrap_or(json!([])));
    }

    let checker = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/jcs_verify.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the independent checker");
    {
        use std::io::Write;
        checker.stdin.as_ref().unwrap().write_all(&exported).unwrap();
    }
    let verdict = checker.wait_with_output().unwrap();
    let verdict_text = text(&verdict.stdout);
    assert!(verdict.status.success() && verdict_text.starts_with("ok 2000 records"), "{verdict_text}");

    let ours = amity(&db, &["verify"], b"");
    assert!(ours.status.success());
    assert_eq!(text(&ours.stdout).trim(), verdict_text.trim(), "both checkers agree on the head");

    let again = import_file(&db, &file);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("0 appended, 2000 already present"), "{}", text(&again.stdout));
    assert_eq!(export(&db), exported, "re-import appended nothing");
    assert_no_import_left(&db);
}

/// A small valid ledger for the rejection tests to run against.
fn seeded_ledger(dir: &Path) -> Vec<u8> {
    let lines = [
        json!({"id": "p-vn", "type": "party.registered", "occurred": "1945", "data": {"party": "vn", "name": "Việt Nam", "kind": "country", "country": "VN"}}),
        json!({"id": "p-hn", "type": "party.registered", "occurred": "2022", "data": {"party": "vn/hanoi", "name": "Hà Nội", "kind": "city", "country": "VN", "within": "vn"}}),
        json!({"id": "p-vt", "type": "party.registered", "occurred": "2022", "data": {"party": "la/vientiane", "name": "ນະຄອນຫຼວງວຽງຈັນ", "kind": "city", "country": "LA"}}),
    ];
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let output = amity(dir, &["import", "-"], input.as_bytes());
    assert!(output.status.success(), "{}", text(&output.stderr));
    export(dir)
}

#[test]
fn invalid_submissions_exit_2_name_the_field_and_append_nothing() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let before = seeded_ledger(&db);
    let pledge = |amount: Value| {
        json!({"type": "aid.pledged", "occurred": "2022-08", "data": {"pledge": "p1", "donor": "vn/hanoi",
            "recipient": "la/vientiane", "purpose": "trụ sở", "amount": amount}})
    };
    let usd = |amount: &str| json!({"amount": amount, "currency": "USD"});
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (json!({"type": "party.registered", "occurred": "2023-02-30", "data": {"party": "vn/hue", "name": "Huế", "kind": "city", "country": "VN"}}), "occurred"),
        (json!({"type": "party.registered", "occurred": "2023-13", "data": {"party": "vn/hue", "name": "Huế", "kind": "city", "country": "VN"}}), "occurred"),
        (pledge(usd("-1")), "data.amount.amount"),
        (pledge(usd("1.001")), "data.amount.amount"),
        (pledge(usd("1e6")), "data.amount.amount"),
        (pledge(json!({"amount": "1", "currency": "XYZ"})), "data.amount.currency"),
        (pledge(json!({"amount": 5, "currency": "USD"})), "data.amount.amount"),
        (json!({"type": "aid.pledged", "occurred": "2022", "data": {"pledge": "p1", "donor": "vn/hcmc", "recipient": "la/vientiane", "purpose": "x", "amount": usd("1")}}), "data.donor"),
        (json!({"type": "aid.delivered", "occurred": "2022", "data": {"donor": "vn/hanoi", "recipient": "la/vientiane", "purpose": "x", "amount": usd("1"), "project": "bridge"}}), "data.project"),
        (json!({"type": "aid.delivered", "occurred": "2022", "data": {"donor": "vn/hanoi", "recipient": "la/vientiane", "purpose": "x", "amount": usd("1"), "pledge": "p404"}}), "data.pledge"),
        (json!({"type": "project.progress", "occurred": "2023", "data": {"project": "justice-hq", "status": "reviewed"}}), "data.project"),
        (json!({"type": "visit.held", "occurred": "2023", "data": {"visit": "v1", "delegation_of": "vn/hanoi", "host": "la/vientiane"}}), "data.led_by"),
        (json!({"type": "agreement.signed", "occurred": "2022", "data": {"agreement": "a1", "title": "t", "kind": "mou", "level": "city", "parties": ["vn/hanoi", "la/vientiane"]}}), "data.effective"),
        (json!({"type": "aid.pledged", "occurred": "2022", "data": {"pledge": "p1", "donor": "vn/hanoi", "recipient": "la/vientiane", "purpose": "x"}}), "data"),
        (json!({"id": "bad id!", "type": "party.registered", "occurred": "2022", "data": {"party": "vn/hue", "name": "Huế", "kind": "city", "country": "VN"}}), "id"),
        (json!({"id": "", "type": "party.registered", "occurred": "2022", "data": {"party": "vn/hue", "name": "Huế", "kind": "city", "country": "VN"}}), "id"),
        (json!({"type": "party.registered", "occurred": "2022", "data": {"party": "vn/hanoi", "name": "Hà Nội", "kind": "city", "country": "VN"}}), "data.party"),
        (json!({"type": "party.registered", "occurred": "2022", "data": {"party": "Vn Hue", "name": "Huế", "kind": "city", "country": "VN"}}), "data.party"),
        (json!({"type": "event.retracted", "occurred": "2024", "data": {"target": "ev-missing", "reason": "typo"}}), "data.target"),
        (json!({"type": "party.registered", "occurred": "2022", "seq": 9, "data": {"party": "vn/hue", "name": "Huế", "kind": "city", "country": "VN"}}), "seq"),
        (json!({"type": "party.registered", "occurred": "2022", "hash": "0", "data": {"party": "vn/hue", "name": "Huế", "kind": "city", "country": "VN"}}), "hash"),
        (json!({"type": "party.registered", "occurred": "2022", "data": {"party": "vn/hue", "name": "Huế", "kind": "city", "country": "VN", "mayor": "x"}}), "data.mayor"),
        (json!({"type": "party.founded", "occurred": "2022", "data": {}}), "type"),
        (json!({"type": "award.conferred", "occurred": "2023", "data": {"award": "Huân chương", "by": "vn/hanoi", "to": "vn/hanoi"}}), "data.to"),
        (json!({"type": "project.launched", "occurred": "2019", "data": {"project": "s", "name": "n", "beneficiary": "la/vientiane", "funders": ["vn/hanoi"], "planned_completion": "2026-02-29"}}), "data.planned_completion"),
    ]
    .into_iter()
    .map(|(value, field)| (serde_json::to_vec(&value).unwrap(), field))
    .collect();
    let valid = br#"{"type":"party.registered","occurred":"2022","data":{"party":"vn/hue","name":"Hue","kind":"city","country":"VN"}}"#;
    let mut invalid_utf8 = valid.to_vec();
    invalid_utf8[80] = 0xC3;
    cases.push((invalid_utf8, "submission"));
    cases.push((valid[..60].to_vec(), "data"));
    cases.push((valid[..valid.len() - 1].to_vec(), "submission"));
    cases.push((
        br#"{"type":"aid.pledged","occurred":"2022","data":{"amount":{"amount":1.5}}}"#.to_vec(),
        "data.amount.amount",
    ));
    let mut huge = br#"{"type":"activity.held","occurred":"2022","data":{"title":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    huge.extend(br#""}}"#);
    cases.push((huge, "submission"));

    for (bytes, field) in &cases {
        let output = amity(&db, &["append"], bytes);
        let stderr = text(&output.stderr);
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(160)]).to_string();
        assert_eq!(output.status.code(), Some(2), "{shown}\n{stderr}");
        assert!(stderr.contains(&format!("{field}: ")), "{shown}\nwanted the field `{field}` named in: {stderr}");
    }
    assert_eq!(export(&db), before, "no rejected submission appended anything");

    // The same lines in one import: every bad line is reported by number,
    // and the good line among them is not appended either.
    let mut file = valid.to_vec();
    file.push(b'\n');
    for (bytes, _) in &cases {
        file.extend_from_slice(bytes);
        file.push(b'\n');
    }
    let path = work.path().join("bad.ndjson");
    std::fs::write(&path, &file).unwrap();
    let output = import_file(&db, &path);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for line in 2..=cases.len() + 1 {
        assert!(stderr.contains(&format!("line {line}: ")), "line {line} not reported:\n{stderr}");
    }
    assert!(!stderr.contains("line 1: "), "{stderr}");
    assert!(stderr.contains(&format!("{} of {} submissions were refused", cases.len(), cases.len() + 1)), "{stderr}");
    assert_eq!(export(&db), before, "a bad import appended nothing");
    assert_no_import_left(&db);
}

/// An import marks the ledger directory while it runs (`import.pending`);
/// nothing of it may stay behind, whether the import succeeded or not.
fn assert_no_import_left(db: &Path) {
    let names = std::fs::read_dir(db).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    let left: Vec<String> = names.filter(|n| n.starts_with(".import") || n.starts_with("import.")).collect();
    assert!(left.is_empty(), "left in the ledger directory: {left:?}");
}

#[test]
fn conflicts_exit_3_and_append_nothing() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let before = seeded_ledger(&db);
    let changed = json!({"id": "p-hn", "type": "party.registered", "occurred": "2022", "data": {"party": "vn/hanoi", "name": "Ha Noi", "kind": "city", "country": "VN", "within": "vn"}});
    let output = amity(&db, &["append", &changed.to_string()], b"");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("p-hn"));
    let stale = json!({"type": "party.registered", "occurred": "2022", "expect": {"stream": "party:vn", "version": 0},
        "data": {"party": "vn/hue", "name": "Huế", "kind": "city", "country": "VN", "within": "vn"}});
    let output = amity(&db, &["append", &stale.to_string()], b"");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("party:vn` is at version 2"), "{}", text(&output.stderr));
    assert_eq!(export(&db), before);
    // The identical re-send is fine and says so.
    let same = json!({"id": "p-vt", "type": "party.registered", "occurred": "2022", "data": {"party": "la/vientiane", "name": "ນະຄອນຫຼວງວຽງຈັນ", "kind": "city", "country": "LA"}});
    let output = amity(&db, &["append", &same.to_string()], b"");
    assert!(output.status.success());
    assert!(text(&output.stderr).contains("already present as seq 3"));
    assert_eq!(export(&db), before);
}

/// Flips one byte of the stored value at `seq` with a plain sled client.
fn tamper(db: &Path, seq: u64, offset: usize) {
    let sled = raw_sled(db);
    let log = sled.open_tree("log").unwrap();
    let mut value = log.get(seq.to_be_bytes()).unwrap().unwrap().to_vec();
    value[offset] = if value[offset] == b'1' { b'2' } else { b'1' };
    log.insert(seq.to_be_bytes(), value).unwrap();
    sled.flush().unwrap();
}

#[test]
fn one_changed_byte_makes_verify_exit_1_naming_that_seq() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("history.ndjson");
    write_ndjson(&file, &history_with_ids(5, 60));
    for (seq, offset) in [(17u64, 30usize), (1, 12), (40, 100), (60, 15)] {
        let db = work.path().join(format!("db-{seq}"));
        assert!(import_file(&db, &file).status.success());
        assert!(amity(&db, &["verify"], b"").status.success());
        tamper(&db, seq, offset);
        let output = amity(&db, &["verify"], b"");
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "seq {seq}: {stderr}");
        assert!(stderr.contains(&format!("seq {seq}: ")), "wanted seq {seq} named: {stderr}");
    }
}

#[test]
fn read_commands_do_not_create_a_ledger() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("nothing-here");
    let output = amity(&db, &["verify"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no ledger at"));
    assert!(!db.exists());
}

#[test]
fn show_and_log_read_back_what_was_written() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    seeded_ledger(&db);
    let by_id = amity(&db, &["show", "p-vt"], b"");
    let by_seq = amity(&db, &["show", "3"], b"");
    assert!(by_id.status.success());
    assert_eq!(by_id.stdout, by_seq.stdout);
    assert!(text(&by_id.stdout).contains("ນະຄອນຫຼວງວຽງຈັນ"));
    assert_eq!(amity(&db, &["show", "p-missing"], b"").status.code(), Some(2));
    let log = text(&amity(&db, &["log", "--from", "2", "--limit", "1"], b"").stdout);
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.contains("vn/hanoi"), "{log}");
    let partial = amity(&db, &["export", "--from", "2", "--to", "2"], b"");
    assert_eq!(text(&partial.stdout).lines().count(), 1);
}

#[test]
fn backup_and_restore_give_the_same_chain_byte_for_byte() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let file = work.path().join("history.ndjson");
    write_ndjson(&file, &history_with_ids(12, 500));
    assert!(import_file(&db, &file).status.success());
    let original = export(&db);

    let copy = work.path().join("backup");
    let output = amity(&db, &["backup", copy.to_str().unwrap()], b"");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("ok 500 records"));
    assert_eq!(export(&copy), original, "the backup holds the same bytes");
    assert_eq!(
        amity(&db, &["backup", copy.to_str().unwrap()], b"").status.code(),
        Some(2),
        "never over an existing dir"
    );

    let restored = work.path().join("restored");
    let output = amity(&restored, &["restore", "-"], &original);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let head = text(&amity(&db, &["verify"], b"").stdout);
    assert_eq!(text(&amity(&restored, &["verify"], b"").stdout), head, "the restored head hash is the original's");
    assert_eq!(export(&restored), original);
    // The restored ledger is a working ledger: views and appends continue.
    let again = amity(&restored, &["import", file.to_str().unwrap()], b"");
    assert!(text(&again.stdout).contains("0 appended, 500 already present"), "{}", text(&again.stdout));

    // A tampered export is refused, naming the seq, and leaves nothing behind.
    let mut tampered = original.clone();
    let at = tampered.iter().position(|b| *b == b'\n').unwrap() + 40;
    tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
    let bad = work.path().join("bad");
    let output = amity(&bad, &["restore", "-"], &tampered);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("seq 2: "), "{}", text(&output.stderr));
    assert!(!bad.exists(), "a refused restore leaves no directory");
}

#[test]
fn a_missing_import_file_exits_2_naming_it_and_creates_no_ledger() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let output = import_file(&db, &work.path().join("no-such.ndjson"));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such.ndjson") && stderr.contains("No such file"), "{stderr}");
    assert!(!db.exists(), "a failed import created the ledger directory");
}

#[test]
fn an_import_file_starting_with_a_byte_order_mark_imports() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let mut input = b"\xEF\xBB\xBF".to_vec();
    for submission in history_with_ids(5, 20) {
        input.extend(serde_json::to_vec(&submission).unwrap());
        input.extend(b"\r\n");
    }
    let path = work.path().join("bom.ndjson");
    std::fs::write(&path, &input).unwrap();
    let output = import_file(&db, &path);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("20 appended"), "{}", text(&output.stdout));
}

/// Ctrl-C during an import: nothing is appended, the user is told so, and
/// the same command then imports everything. The input comes through a pipe
/// that stays open until after the signal, so the import cannot finish
/// first; the chunks it had read by then were already written to the log.
#[test]
fn ctrl_c_during_import_appends_nothing_and_the_same_command_then_imports_all() {
    use std::io::Write;
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let path = work.path().join("history.ndjson");
    let history = history_with_ids(11, 30_000);
    let lines: String = history.iter().map(|s| format!("{s}\n")).collect();
    std::fs::write(&path, &lines).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_amity"))
        .args(["--db", db.to_str().unwrap(), "import", "-"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let half = lines.match_indices('\n').nth(15_000).unwrap().0 + 1;
    stdin.write_all(&lines.as_bytes()[..half]).unwrap();
    stdin.flush().unwrap();
    // SAFETY: kill(2) on a child's pid has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    // The import may stop at its next chunk and close the pipe first.
    let _ = stdin.write_all(&lines.as_bytes()[half..]);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let said = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{said}");
    assert!(said.contains("nothing was appended"), "{said}");
    assert!(export(&db).is_empty(), "an interrupted import appended nothing");
    assert!(!db.join("import.pending").exists(), "the import's marker is gone");

    let again = import_file(&db, &path);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("30000 appended, 0 already present"), "{}", text(&again.stdout));
    assert!(amity(&db, &["verify"], b"").status.success());
    assert_no_import_left(&db);
}

/// The crash tests' writer appends thousands of synthetic records; it is not
/// a command of the user's binary, nor suggested as one.
#[test]
fn the_test_writer_is_not_a_command_of_amity() {
    let work = tempfile::tempdir().unwrap();
    for typo in ["stress", "stres"] {
        let output = amity(&work.path().join("db"), &[typo], b"");
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("unrecognized subcommand '{typo}'")), "{stderr}");
        assert!(!stderr.contains("exists: 'stress'"), "{stderr}");
    }
    let help = text(&amity(&work.path().join("db"), &["--help"], b"").stdout);
    assert!(!help.contains("stress"), "{help}");
}

/// `log` says when more records follow, filters by party, prints money as
/// the views do, and marks retracted records (as `show` does); options that
/// would be ignored are refused.
#[test]
fn log_and_show_say_what_a_reader_needs_and_ignore_nothing() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    seeded_ledger(&db);
    let pledge = json!({"id": "pl-1", "type": "aid.pledged", "occurred": "2022-08", "data": {"pledge": "p1",
        "donor": "vn/hanoi", "recipient": "la/vientiane", "purpose": "trụ sở", "amount": {"amount": "3000000", "currency": "USD"}}});
    let oops = json!({"id": "act-oops", "type": "activity.held", "occurred": "2023",
        "data": {"category": "exchange", "title": "entered twice", "parties": ["vn/hanoi"]}});
    let retraction =
        json!({"type": "event.retracted", "occurred": "2023", "data": {"target": "act-oops", "reason": "duplicate"}});
    for submission in [&pledge, &oops, &retraction] {
        let output = amity(&db, &["append", &submission.to_string()], b"");
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    let first_two = amity(&db, &["log", "--limit", "2"], b"");
    assert_eq!(text(&first_two.stdout).lines().count(), 3, "{}", text(&first_two.stdout));
    assert!(text(&first_two.stderr).contains("more records follow: amity log --from 3"), "{}", text(&first_two.stderr));
    let all = amity(&db, &["log"], b"");
    assert!(!text(&all.stderr).contains("more records follow"), "{}", text(&all.stderr));

    let lao = text(&amity(&db, &["log", "--party", "la/vientiane"], b"").stdout);
    let rows: Vec<Vec<&str>> = lao.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let ids: Vec<&str> = rows.iter().map(|row| row[3]).collect();
    assert_eq!(ids[..2], ["p-vt", "pl-1"], "{lao}");
    assert_eq!(rows.len(), 3, "and the retraction, which may concern any party: {lao}");
    assert_eq!(rows[2][2], "event.retracted", "{lao}");

    let log = text(&amity(&db, &["log"], b"").stdout);
    assert!(log.contains("3,000,000.00 USD"), "one money format, as the views print it: {log}");
    let oops_line = log.lines().find(|l| l.contains("act-oops")).unwrap();
    assert!(oops_line.contains("[RETRACTED]"), "{oops_line}");
    let pledge_line = log.lines().find(|l| l.contains("pl-1")).unwrap();
    assert!(!pledge_line.contains("RETRACTED"), "{pledge_line}");
    let shown = amity(&db, &["show", "act-oops"], b"");
    assert!(text(&shown.stderr).contains("RETRACTED"), "{}", text(&shown.stderr));

    for ignored in [
        &["view", "aid", "--as-of", "2023-01-01"][..],
        &["view", "visits", "--as-of", "2023-01-01"],
        &["log", "--limit", "0"],
    ] {
        let output = amity(&db, ignored, b"");
        assert_eq!(output.status.code(), Some(2), "{ignored:?}: {}", text(&output.stderr));
    }
}

/// Tables fit the terminal's width (`COLUMNS` here, as a terminal would
/// give it) by wrapping cells, log lines by being cut; `--wide` and piped
/// output keep everything.
#[test]
fn view_tables_fit_the_terminal_width_unless_wide() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["demo"], b"").status.success());
    let widest = |args: &[&str], columns: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_amity"));
        command.args(args).env("AMITY_DB", &db).env_remove("COLUMNS");
        if let Some(columns) = columns {
            command.env("COLUMNS", columns);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout).lines().map(|l| l.chars().count()).max().unwrap()
    };
    for view in ["agreements", "projects", "aid", "visits"] {
        assert!(widest(&["view", view, "--at-seq", "65"], Some("80")) <= 80, "{view}");
    }
    assert!(widest(&["view", "visits"], None) > 80, "piped output is not cut");
    assert!(widest(&["view", "visits", "--wide"], Some("80")) > 80, "--wide keeps full cells");
    assert!(widest(&["log"], Some("80")) <= 80, "log lines fit too");
    assert!(widest(&["log", "--wide"], Some("80")) > 80);
    assert!(widest(&["log"], None) > 80);
}

/// The README's tour, exactly as printed there, runs top to bottom on a
/// fresh ledger, and again on the same one (nothing in it breaks what
/// follows, and repeating it is safe).
#[test]
fn the_readme_tour_runs_top_to_bottom_twice() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let tour = readme.split("## A short tour\n").nth(1).expect("the README has a tour");
    let block = tour.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    assert!(block.lines().filter(|l| l.starts_with("amity ")).count() >= 10, "{block}");
    let work = tempfile::tempdir().unwrap();
    let script = format!("set -euo pipefail\namity() {{ \"{}\" \"$@\"; }}\n{block}", env!("CARGO_BIN_EXE_amity"));
    for round in 1..=2 {
        let output = std::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(root)
            .env("AMITY_DB", work.path().join("db"))
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "round {round}: {stderr}");
        assert!(!stderr.contains("WARN") && !stderr.contains("\u{1b}["), "round {round}: {stderr}");
        // The history's events and the tour's own party.
        let events = std::fs::read_to_string(root.join("data/hanoi-vientiane.ndjson")).unwrap().lines().count();
        let verified = format!("ok {} records", events + 1);
        assert!(text(&output.stdout).contains(&verified), "round {round}: {}", text(&output.stdout));
    }
}

/// While `amity serve` holds a ledger, its read commands go through the
/// server (saying so) and print what they print locally; a writer is told
/// at once which process holds it. `--url` reads any server.
#[test]
fn read_commands_on_a_served_ledger_go_through_its_server() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["demo"], b"").status.success());
    let reads: [&[&str]; 6] = [
        &["verify"],
        &["log", "--limit", "5", "--party", "la/vientiane"],
        &["show", "ev-2022-04-04-minutes"],
        &["export", "--from", "3", "--to", "9"],
        &["view", "agreements", "--as-of", "2023-11-22"],
        &["view", "aid", "--json"],
    ];
    let local: Vec<String> = reads.iter().map(|args| text(&amity(&db, args, b"").stdout)).collect();

    let server = serve_process(&db, "token-3c9a");
    for (args, expected) in reads.iter().zip(&local) {
        let output = amity(&db, args, b"");
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("reading through it at {}", server.url)), "{args:?}: {stderr}");
        assert_eq!(&text(&output.stdout), expected, "{args:?} prints the same through the server");
    }
    let other = work.path().join("elsewhere");
    let through_url = amity(&other, &["log", "--limit", "5", "--party", "la/vientiane", "--url", &server.url], b"");
    assert_eq!(text(&through_url.stdout), local[1]);
    assert!(!other.exists(), "reading through --url creates no local ledger");

    let status: Value = serde_json::from_slice(&amity(&db, &["status", "--json"], b"").stdout).unwrap();
    assert_eq!(status["holder"]["pid"], server.child.id(), "{status}");
    assert_eq!(status["holder"]["url"], server.url.as_str(), "{status}");

    let copy = work.path().join("hot-backup");
    let backup = amity(&db, &["backup", copy.to_str().unwrap()], b"");
    assert!(backup.status.success(), "{}", text(&backup.stderr));
    let import = amity(&db, &["import", "data/hanoi-vientiane.ndjson"], b"");
    let stderr = text(&import.stderr);
    assert_eq!(import.status.code(), Some(4), "{stderr}");
    let pid = server.child.id();
    assert!(
        stderr.contains(&format!("in use by process {pid} (`amity serve")) && stderr.contains(&server.url),
        "{stderr}"
    );

    let mut server = server;
    // SAFETY: kill(2) on a child's pid has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert!(server.child.wait().unwrap().success(), "SIGTERM stops the server cleanly");
    assert_eq!(export(&copy), export(&db), "the hot backup holds every record, byte for byte");
    assert!(!db.join("holder").exists(), "the server's record of itself is gone once it stops");
}

/// `amity status` answers from the ledger: its head, its records by type
/// (as the export has them), where the views and their checkpoint stand.
#[test]
fn status_says_where_the_ledger_stands() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["demo"], b"").status.success());
    let exported = text(&export(&db));
    let records: Vec<Value> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let output = amity(&db, &["status", "--json"], b"");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    let last = records.last().unwrap();
    assert_eq!(status["seq"], last["seq"]);
    assert_eq!(status["head"], last["hash"]);
    assert_eq!(status["first_recorded_at"], records[0]["recorded_at"]);
    assert_eq!(status["last_recorded_at"], last["recorded_at"]);
    let mut by_type = std::collections::BTreeMap::<String, u64>::new();
    for record in &records {
        *by_type.entry(record["type"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(status["types"], serde_json::to_value(&by_type).unwrap());
    assert_eq!(status["views_seq"], last["seq"]);
    assert_eq!(status["views_checkpoint_seq"], last["seq"], "the demo closed the ledger, which saved the views");
    assert!(status["disk_bytes"].as_u64().unwrap() > exported.len() as u64);
    assert!(status["holder"].is_null(), "no other process holds it: {status}");
    let table = text(&amity(&db, &["status"], b"").stdout);
    assert!(table.contains(&format!("head      seq {}", last["seq"])), "{table}");
}

/// `amity history` gathers everything about one entity, by its stream or
/// the event that introduced it, as of any seq, locally and through a
/// server alike; its retractions show.
#[test]
fn history_tells_everything_about_one_entity() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["demo"], b"").status.success());
    let project = "project:vientiane-justice-prosecutors-hq";
    let retraction = json!({"type": "event.retracted", "occurred": "2024",
        "data": {"target": "progress-2023-11-justice-hq-review", "reason": "test: the review is disputed"}});
    let before = text(&amity(&db, &["history", project, "--as-of", "2024-01-01"], b"").stdout);
    assert!(amity(&db, &["append", &retraction.to_string()], b"").status.success());

    let history = amity(&db, &["history", project, "--as-of", "2024-01-01"], b"");
    assert!(history.status.success(), "{}", text(&history.stderr));
    let history = text(&history.stdout);
    for id in ["project-vientiane-justice-prosecutors-hq", "pledge-2022-04-04-usd-3m-justice-hq"] {
        assert!(history.contains(id), "{id} in {history}");
    }
    let review = history.lines().find(|l| l.contains("progress-2023-11-justice-hq-review")).unwrap();
    assert!(review.contains("[RETRACTED]"), "{review}");
    assert!(history.lines().any(|l| l.contains("event.retracted")), "its retraction is part of its history: {history}");
    assert!(history.contains("outstanding:") && history.contains("3,000,000.00 USD"), "{history}");
    assert!(before.contains("reviewed") && !before.contains("[RETRACTED]"), "{before}");

    let by_event = text(
        &amity(&db, &["history", "project-vientiane-justice-prosecutors-hq", "--as-of", "2024-01-01"], b"").stdout,
    );
    assert_eq!(by_event, history, "the introducing event's id names the same entity");
    // As the ledger stood right after the project's launch.
    let launched = amity(&db, &["show", "project-vientiane-justice-prosecutors-hq"], b"");
    let launched: Value = serde_json::from_slice(&launched.stdout).unwrap();
    let launched = launched["seq"].to_string();
    let then = text(&amity(&db, &["history", project, "--as-of", "2024-01-01", "--at-seq", &launched], b"").stdout);
    assert!(then.contains("1 records") && !then.contains("pledge-2022"), "{then}");
    let party = text(&amity(&db, &["history", "party:la/vientiane/youth-union"], b"").stdout);
    assert!(party.contains("Vientiane Youth Union"), "{party}");
    for unknown in ["nothing-by-this-id", "party:xx/none"] {
        assert_eq!(amity(&db, &["history", unknown], b"").status.code(), Some(2), "{unknown}");
    }

    let server = serve_process(&db, "token-77d1");
    let through = amity(&db, &["history", project, "--as-of", "2024-01-01"], b"");
    assert!(text(&through.stderr).contains("reading through it"), "{}", text(&through.stderr));
    assert_eq!(text(&through.stdout), history, "the same history through the server");
    let then_through = amity(&db, &["history", project, "--as-of", "2024-01-01", "--at-seq", &launched], b"");
    assert_eq!(text(&then_through.stdout), then);
    drop(server);
}

/// `--at TIME`: the views and histories as the ledger stood at a moment by
/// the clock (the last record recorded by then), locally and through a
/// server; a moment in another zone means the same instant.
#[test]
fn at_a_moment_is_the_ledger_as_it_stood_then() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["demo"], b"").status.success());
    let late = json!({"id": "late-agreement", "type": "agreement.signed", "occurred": "2023-01-01",
        "data": {"agreement": "late", "title": "Signed after the import", "kind": "agreement", "level": "city",
            "parties": ["vn/hanoi", "la/vientiane"], "effective": "2023-01-01/.."}});
    assert!(amity(&db, &["append", &late.to_string()], b"").status.success());
    let records: Vec<Value> = text(&export(&db)).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (imported, appended) = (&records[records.len() - 2], &records[records.len() - 1]);
    assert!(imported["recorded_at"].as_str() < appended["recorded_at"].as_str());
    let seq = |record: &Value| record["seq"].to_string();
    let view = |extra: &[&str]| {
        let output = amity(&db, &[&["view", "agreements", "--as-of", "2023-06-01"][..], extra].concat(), b"");
        assert!(output.status.success(), "{extra:?}: {}", text(&output.stderr));
        text(&output.stdout)
    };
    let at_import = imported["recorded_at"].as_str().unwrap();
    assert_eq!(view(&["--at", at_import]), view(&["--at-seq", &seq(imported)]));
    assert!(!view(&["--at", at_import]).contains("Signed after the import"));
    assert_eq!(view(&["--at", appended["recorded_at"].as_str().unwrap()]), view(&["--at-seq", &seq(appended)]));
    assert_eq!(view(&["--at", "2000-01-01T07:00:00+07:00"]), view(&["--at-seq", "0"]));
    // The same instant written in Indochina Time.
    let utc = chrono::DateTime::parse_from_rfc3339(at_import).unwrap();
    let ict = utc.with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap()).to_rfc3339();
    assert_eq!(view(&["--at", &ict]), view(&["--at", at_import]));
    let history = amity(&db, &["history", "party:vn/hanoi", "--at", at_import], b"");
    assert!(!text(&history.stdout).contains("late-agreement"), "{}", text(&history.stdout));
    for bad in [&["view", "aid", "--at", "yesterday"][..], &["view", "aid", "--at", at_import, "--at-seq", "3"]] {
        assert_eq!(amity(&db, bad, b"").status.code(), Some(2), "{bad:?}");
    }

    let local = view(&["--at", at_import]);
    let _server = serve_process(&db, "token-5be0");
    assert_eq!(view(&["--at", at_import]), local, "?at= through the server");
}

/// Shell completions and the man page come from the same definitions as
/// `--help`: every command is in them, and the bash script is valid bash.
#[test]
fn completions_and_the_man_page_cover_every_command() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let bash = amity(&db, &["completions", "bash"], b"");
    assert!(bash.status.success(), "{}", text(&bash.stderr));
    let script = work.path().join("amity.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let syntax = std::process::Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    let man = amity(&db, &["man"], b"");
    assert!(text(&man.stdout).starts_with(".ie") && text(&man.stdout).contains(".TH amity 1"), "{}", text(&man.stdout));
    for command in ["import", "history", "status", "verify", "view", "serve", "witness"] {
        assert!(text(&bash.stdout).contains(command), "{command} in the completions");
        assert!(text(&man.stdout).contains(command), "{command} in the man page");
    }
    for shell in ["zsh", "fish"] {
        assert!(amity(&db, &["completions", shell], b"").status.success(), "{shell}");
    }
    assert_eq!(amity(&db, &["completions", "cmd.exe"], b"").status.code(), Some(2));
    assert!(!db.exists(), "none of these touches a ledger");
}

/// `--format json|ndjson|csv` gives programs the same rows as the tables:
/// NDJSON records exactly as stored, CSV one row per record or view row.
#[test]
fn formats_for_programs_hold_the_same_rows() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["demo"], b"").status.success());
    let out = |args: &[&str]| {
        let output = amity(&db, args, b"");
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
        text(&output.stdout)
    };
    let csv_records = |text: &str| {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        (header, reader.records().map(|r| r.unwrap()).collect::<Vec<_>>())
    };

    let exported = out(&["export", "--from", "1", "--to", "20"]);
    assert_eq!(out(&["log", "--limit", "20", "--format", "ndjson"]), exported, "NDJSON is the records as stored");
    let json: Vec<Value> = serde_json::from_str(&out(&["log", "--limit", "20", "--format", "json"])).unwrap();
    assert_eq!(json.len(), 20);
    assert_eq!(json[4], serde_json::from_str::<Value>(exported.lines().nth(4).unwrap()).unwrap());
    let (header, rows) = csv_records(&out(&["log", "--limit", "20", "--format", "csv"]));
    assert_eq!(header, ["seq", "occurred", "type", "id", "retracted", "summary"]);
    assert_eq!(rows.len(), 20);
    assert_eq!(&rows[4][3], json[4]["id"].as_str().unwrap());

    for view in ["agreements", "projects", "aid", "visits"] {
        let spec: Value = serde_json::from_str(&out(&["view", view, "--json", "--at-seq", "65"])).unwrap();
        let listed: usize = spec.as_object().unwrap().values().filter_map(Value::as_array).map(Vec::len).sum();
        let (_, rows) = csv_records(&out(&["view", view, "--format", "csv", "--at-seq", "65"]));
        assert_eq!(rows.len(), listed, "{view}: a CSV row per listed item");
        let ndjson = out(&["view", view, "--format", "ndjson", "--at-seq", "65"]);
        assert_eq!(ndjson.lines().filter(|l| !l.is_empty()).count(), listed, "{view}");
        assert_eq!(
            out(&["view", view, "--format", "json", "--at-seq", "65"]),
            out(&["view", view, "--json", "--at-seq", "65"])
        );
    }
    let (header, aid) = csv_records(&out(&["view", "aid", "--format", "csv"]));
    assert_eq!(header[0], "list", "aid lists money and items: a column says which");
    assert!(aid.iter().any(|row| row.iter().any(|cell| cell == "3000000.00")), "{aid:?}");

    let history: Value =
        serde_json::from_str(&out(&["history", "project:vientiane-justice-prosecutors-hq", "--format", "json"]))
            .unwrap();
    assert_eq!(history["entity"], "project:vientiane-justice-prosecutors-hq");
    assert_eq!(history["records"].as_array().unwrap().len(), 3, "{history}");
    assert!(history["state"][0].as_str().unwrap().starts_with("introduced by seq"), "{history}");
}

/// `view --party` (and `?party=`) keeps the rows that party is in, and
/// only those, in every view.
#[test]
fn views_filter_by_party() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    assert!(amity(&db, &["demo"], b"").status.success());
    let view = |args: &[&str]| -> Value {
        let valid_time: &[&str] = if matches!(args[0], "aid" | "visits") { &[] } else { &["--as-of", "2023-06-01"] };
        let output = amity(&db, &[&["view"][..], args, &["--json"], valid_time].concat(), b"");
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let party = "la/northern-provinces";
    let mut kept = 0;
    for (name, list) in [("agreements", "agreements"), ("projects", "projects"), ("aid", "money"), ("visits", "visits")]
    {
        let (all, only) = (view(&[name]), view(&[name, "--party", party]));
        let rows = only[list].as_array().unwrap();
        assert!(rows.len() <= all[list].as_array().unwrap().len());
        for row in rows {
            assert!(row.to_string().contains(&format!("\"{party}\"")), "{name}: {row}");
        }
        kept += rows.len();
    }
    assert!(kept > 0, "the history has aid for the northern provinces");
    let hanoi = view(&["agreements", "--party", "vn/hanoi"]);
    let everything = view(&["agreements"]);
    assert!(hanoi["agreements"].as_array().unwrap().len() < everything["agreements"].as_array().unwrap().len());
    let local = text(&amity(&db, &["view", "aid", "--party", party], b"").stdout);
    let _server = serve_process(&db, "token-1f2e");
    assert_eq!(text(&amity(&db, &["view", "aid", "--party", party], b"").stdout), local, "?party= through the server");
}

/// A server that cannot be reached is a network error (exit 5) naming it; a
/// URL that is not one is a bad argument (exit 2); neither creates a ledger.
#[test]
fn an_unreachable_server_is_exit_5_and_a_bad_url_exit_2() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    // Port 9 (discard) on loopback: nothing listens there in a test machine.
    for args in [
        &["verify", "--url", "http://127.0.0.1:9"][..],
        &["log", "--url", "http://127.0.0.1:9"],
        &["status", "--url", "http://127.0.0.1:9"],
    ] {
        let output = amity(&db, args, b"");
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(5), "{args:?}: {stderr}");
        assert!(stderr.contains("network error") && stderr.contains("http://127.0.0.1:9"), "{stderr}");
    }
    let output = amity(&db, &["verify", "--url", "not a url"], b"");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("--url"), "{}", text(&output.stderr));
    assert!(!db.exists());
}
