//! `amity-crash-writer DIR WRITERS SEED`: the crash tests' writer, a binary of
//! its own so that it is not a command of `amity` (where it could append
//! thousands of synthetic records to a user's ledger). Many concurrent
//! writers append forever through the real committer and print one line per
//! acknowledgement, `SEQ ID HASH`, flushed before the next, so a parent that
//! kills this process knows exactly what was acknowledged. Must never: print
//! a line for a record before its append returned.

use amity::{Error, Ledger, Options, Result};
use events::Checked;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

fn checked(value: serde_json::Value) -> Checked {
    Checked::parse(&serde_json::to_vec(&value).expect("a Value serializes"))
        .expect("the harness's submissions are valid")
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, writers, seed] = args.as_slice() else {
        eprintln!("usage: amity-crash-writer DIR WRITERS SEED");
        return std::process::ExitCode::from(2);
    };
    let (Ok(writers), Ok(seed)) = (writers.parse(), seed.parse()) else {
        eprintln!("amity-crash-writer: WRITERS and SEED are numbers");
        return std::process::ExitCode::from(2);
    };
    match run(Path::new(dir), writers, seed) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("amity-crash-writer: {error}");
            std::process::ExitCode::from(error.exit_code())
        }
    }
}

fn run(dir: &Path, writers: usize, seed: u64) -> Result<()> {
    let ledger = Ledger::open(dir, Options::default())?;
    let parties = vec![
        checked(json!({"id": "stress-hanoi", "type": "party.registered", "occurred": "2022",
            "data": {"party": "vn/hanoi", "name": "Hà Nội", "kind": "city", "country": "VN"}})),
        checked(json!({"id": "stress-vientiane", "type": "party.registered", "occurred": "2022",
            "data": {"party": "la/vientiane", "name": "Viêng Chăn", "kind": "city", "country": "LA"}})),
    ];
    ledger.append_group(parties).map_err(|e| e.error)?;
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the runtime", e))?;
    runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (ledger, out) = (ledger.clone(), Arc::clone(&out));
                tokio::spawn(async move {
                    for i in 0u64.. {
                        let id = format!("stress-{seed}-w{w}-{i}");
                        let submission = checked(json!({"id": id, "type": "activity.held", "occurred": "2023",
                            "data": {"category": "exchange", "title": format!("stress {seed} writer {w} record {i}"),
                                "parties": ["vn/hanoi", "la/vientiane"]}}));
                        let appended = ledger.append_group_async(vec![submission]).await.map_err(|e| e.error)?;
                        let record = &appended[0];
                        let mut out = out.lock().expect("not poisoned");
                        writeln!(out, "{} {} {}", record.seq, record.id, record.hash)?;
                        out.flush()?;
                    }
                    Ok::<(), Error>(())
                })
            })
            .collect();
        for task in tasks {
            task.await.map_err(|e| Error::Unavailable(format!("a writer task failed: {e}")))??;
        }
        Ok(())
    })
}
