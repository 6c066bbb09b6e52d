//! The `amity` command line: argument parsing (clap) and one function per
//! command. Commands print results to stdout and problems to stderr; the
//! caller maps the returned error to the exit code. Must never: write to the
//! ledger except through [`crate::Ledger`]'s committer.

mod demo;
pub mod import;
mod read;
mod serve;
mod stress;
mod views;

use crate::error::{Error, Result};
use crate::store::{Ledger, Options};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  verification failed (the chain or the anchor is broken)
  2  bad input (a submission broke a rule, a bad argument); nothing appended
  3  conflict (an id exists with other content, or `expect` failed); nothing appended
  4  storage error (disk, sled, or the ledger is in use by another process)";

#[derive(Debug, Parser)]
#[command(name = "amity", version, about = "An event-sourced, hash-chained ledger of diplomatic activity", after_help = EXIT_CODES)]
pub struct Args {
    /// The ledger directory (created on first write).
    #[arg(long, global = true, env = "AMITY_DB", default_value = "./amity-data")]
    pub db: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import the Hanoi–Vientiane history (idempotently), verify the chain,
    /// and print the four views.
    Demo,
    /// Append one submission (JSON) from the argument or standard input;
    /// prints the stored record.
    Append {
        /// The submission; read from standard input when absent.
        json: Option<String>,
    },
    /// Import NDJSON submissions (one per line) from FILE, or `-` for
    /// standard input. Every line is checked first; if any is bad, all bad
    /// lines are reported and nothing is appended.
    Import { file: PathBuf },
    /// Print stored records exactly as stored, one per line.
    Export {
        #[arg(long, default_value_t = 1)]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
    },
    /// A readable table of records.
    Log {
        #[arg(long, default_value_t = 1)]
        from: u64,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Only types starting with this (`aid.`, `agreement.signed`).
        #[arg(long = "type")]
        type_prefix: Option<String>,
    },
    /// One record, pretty-printed, by event id or seq (a bare number is a seq).
    Show { key: String },
    /// Recompute every canonical form, hash and link; check the anchor.
    Verify,
    /// One of the four views, as a table (or the spec's JSON with --json).
    View {
        #[arg(value_enum)]
        view: views::ViewKind,
        /// Valid time: the day the view describes (default: today, UTC).
        #[arg(long, value_parser = views::parse_day)]
        as_of: Option<chrono::NaiveDate>,
        /// Transaction time: the view as the ledger stood after record N.
        #[arg(long)]
        at_seq: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Drop the projection checkpoint and refold the whole log.
    Rebuild,
    /// Copy the ledger, as of its durable head, into a new directory; the
    /// copy is verified and its head compared.
    Backup { dir: PathBuf },
    /// Create the ledger (--db, which must not exist) from an `amity export`
    /// (FILE or `-`), byte for byte, checking the chain; prints the head.
    Restore { file: PathBuf },
    /// Serve the HTTP API and event streams until SIGINT or SIGTERM.
    Serve {
        #[arg(long, default_value = "127.0.0.1:7341")]
        addr: std::net::SocketAddr,
        /// A file whose first line is the write token (else `AMITY_TOKEN`).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// The crash harness's writer: append forever from many writers, printing
    /// `SEQ ID HASH` per acknowledgement.
    #[command(hide = true)]
    Stress {
        #[arg(long, default_value_t = 16)]
        writers: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Print records after a position as NDJSON, from a server (`--url`) or
    /// the local ledger; with --follow, keep printing new ones.
    Subscribe {
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long)]
        follow: bool,
        #[arg(long = "type")]
        type_prefix: Option<String>,
        #[arg(long)]
        party: Option<String>,
    },
}

/// Runs the command line and returns the exit code for success.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<ExitCode> {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS });
        }
    };
    match args.command {
        Command::Demo => demo::run(&args.db),
        Command::Append { json } => append(&args.db, json),
        Command::Import { file } => import::run(&args.db, &file),
        Command::Export { from, to } => read::export(&open_existing(&args.db)?, from, to),
        Command::Log { from, limit, type_prefix } => {
            read::log(&open_existing(&args.db)?, from, limit, type_prefix.as_deref())
        }
        Command::Show { key } => read::show(&open_existing(&args.db)?, &key),
        Command::Verify => read::verify(&open_existing(&args.db)?),
        Command::View { view, as_of, at_seq, json } => {
            let as_of = as_of.unwrap_or_else(views::today);
            views::view(&open_existing(&args.db)?, view, as_of, at_seq, json)
        }
        Command::Rebuild => views::rebuild(&open_existing(&args.db)?),
        Command::Backup { dir } => {
            let verified = open_existing(&args.db)?.backup(&dir)?;
            read::print(&format!(
                "backed up to {}: ok {} records, head {}",
                dir.display(),
                verified.count,
                verified.head
            ))
        }
        Command::Restore { file } => import::restore(&args.db, &file),
        Command::Stress { writers, seed } => stress::run(&args.db, writers, seed),
        Command::Serve { addr, token_file } => serve::serve(&args.db, addr, token_file),
        Command::Subscribe { url, after, follow, type_prefix, party } => {
            serve::subscribe(&args.db, url, after, follow, crate::subscribe::Filter { type_prefix, party })
        }
    }
    .map(|()| ExitCode::SUCCESS)
}

/// Opens a ledger that must already exist (read-only commands).
pub fn open_existing(dir: &Path) -> Result<Ledger> {
    Ledger::open(dir, Options { create: false, ..Options::default() })
}

fn append(dir: &Path, json: Option<String>) -> Result<()> {
    let bytes = match json {
        Some(json) => json.into_bytes(),
        None => {
            let mut bytes = Vec::new();
            let limit = events::submission::SUBMISSION_BYTES_MAX as u64 + 1;
            std::io::stdin().take(limit).read_to_end(&mut bytes)?;
            bytes
        }
    };
    let checked = events::Checked::parse(bytes.trim_ascii())?;
    let ledger = Ledger::open(dir, Options::default())?;
    let appended = ledger.append(checked)?;
    ledger.close()?;
    if appended.existed {
        eprintln!("already present as seq {}; nothing appended", appended.record.seq);
    }
    read::print(&String::from_utf8_lossy(&appended.record.canonical_bytes()))
}

/// Turns a usage problem into the error the CLI reports (exit 2).
fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}
