//! The `amity` command line: argument parsing (clap) and one function per
//! command. Commands print results to stdout and problems to stderr; the
//! caller maps the returned error to the exit code. Must never: write to the
//! ledger except through [`crate::Ledger`]'s committer.

mod bundle;
mod demo;
mod format;
pub(crate) mod history;
pub mod import;
mod nats;
mod prove;
mod read;
mod remote;
mod serve;
pub(crate) use serve::wait_for_signal;
pub(crate) mod views;

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
  4  storage error (disk, sled, or the ledger is in use by another process)
  5  network error (the server of --url, or NATS, could not be reached or failed)
130  interrupted (Ctrl-C); an import appends nothing, and says so";

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
    /// standard input, all or nothing: if any line is bad, every bad line is
    /// reported and nothing is appended (nor after Ctrl-C or a crash).
    Import {
        /// The NDJSON file, or `-` for standard input.
        file: PathBuf,
    },
    /// Print stored records exactly as stored, one per line.
    Export {
        /// The first seq printed.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// The last seq printed (default: the durable head).
        #[arg(long)]
        to: Option<u64>,
        /// Read through the server at URL instead of opening --db (found
        /// on its own when a running `amity serve` holds --db).
        #[arg(long)]
        url: Option<String>,
    },
    /// A readable table of records.
    Log {
        /// The first seq shown.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Most records shown (1 or more); stderr says when more follow.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        /// Only types starting with this (`aid.`, `agreement.signed`).
        #[arg(long = "type")]
        type_prefix: Option<String>,
        /// Only records naming this party (`vn/hanoi`); retractions always show.
        #[arg(long)]
        party: Option<String>,
        /// Full lines, however wide. Otherwise lines fit the terminal (its
        /// width, or `COLUMNS`); piped output is never cut.
        #[arg(long)]
        wide: bool,
        /// table, json (an array of the records), ndjson (as stored) or csv.
        #[arg(long, value_enum, default_value_t)]
        format: format::Format,
        /// Read through the server at URL instead of opening --db (found
        /// on its own when a running `amity serve` holds --db).
        #[arg(long)]
        url: Option<String>,
    },
    /// Where the ledger stands: head, records by type, first and last
    /// recorded_at, views and their checkpoint, size on disk, free space,
    /// and which process holds it.
    Status {
        /// The fields as JSON (the body of `GET /status`).
        #[arg(long)]
        json: bool,
        /// Read through the server at URL instead of opening --db (found
        /// on its own when a running `amity serve` holds --db).
        #[arg(long)]
        url: Option<String>,
    },
    /// Everything about one entity: every record that names it, in order
    /// (with their retractions), then its current state. KEY is the entity
    /// as kind:id (project:ID, agreement:ID, pledge:ID, party:vn/hanoi,
    /// visit:ID) or the id of the event that introduced it.
    History {
        /// The entity (kind:id) or the id of the event that introduced it.
        key: String,
        #[command(flatten)]
        when: When,
        /// table, json (records, retractions and state), ndjson (the records
        /// as stored) or csv.
        #[arg(long, value_enum, default_value_t)]
        format: format::Format,
        /// Read through the server at URL instead of opening --db (found
        /// on its own when a running `amity serve` holds --db).
        #[arg(long)]
        url: Option<String>,
    },
    /// One record, pretty-printed, by event id or seq (a bare number is a seq).
    Show {
        /// An event id, or a seq.
        key: String,
        /// Read through the server at URL instead of opening --db (found
        /// on its own when a running `amity serve` holds --db).
        #[arg(long)]
        url: Option<String>,
    },
    /// Recompute every canonical form, hash and link; check the anchor and
    /// the Merkle tree's root (through a server: its /verify).
    Verify {
        /// Read through the server at URL instead of opening --db (found
        /// on its own when a running `amity serve` holds --db).
        #[arg(long)]
        url: Option<String>,
    },
    /// A Merkle proof (RFC 6962): that a record (event id or seq) is in the
    /// tree of --size records (default: all durable records), or with --from
    /// M [--to N] that the tree of N records extends the tree of M. --json
    /// prints Certificate Transparency's shapes.
    Prove {
        /// The record: an event id, or a seq.
        #[arg(required_unless_present = "from", conflicts_with = "from")]
        key: Option<String>,
        /// The tree size the record is proved in.
        #[arg(long)]
        size: Option<u64>,
        /// Prove consistency from the tree of this many records …
        #[arg(long, conflicts_with = "size")]
        from: Option<u64>,
        /// … to the tree of this many (default: all durable records).
        #[arg(long, requires = "from")]
        to: Option<u64>,
        /// Print Certificate Transparency's JSON shape of the proof.
        #[arg(long)]
        json: bool,
    },
    /// One of the four views, as a table (or the spec's JSON with --json).
    View {
        /// Which view.
        #[arg(value_enum)]
        view: views::ViewKind,
        #[command(flatten)]
        query: ViewQuery,
    },
    /// Drop the projection checkpoint and refold the whole log; recompute
    /// the Merkle tree's stored hashes from the log.
    Rebuild,
    /// Copy the ledger, as of its durable head, into a new directory; the
    /// copy is verified and its head compared. Through a server (a hot
    /// backup while it runs): its records, streamed and checked link by link.
    Backup {
        /// The new ledger directory (must not exist).
        dir: PathBuf,
        /// Read through the server at URL instead of opening --db (found
        /// on its own when a running `amity serve` holds --db).
        #[arg(long)]
        url: Option<String>,
    },
    /// Create the ledger (--db, which must not exist) from an `amity export`
    /// (FILE or `-`), or from the JetStream stream a relay filled (--nats,
    /// --stream), byte for byte, checking the chain (and, from NATS, every
    /// message's headers as follow-nats does); prints the head.
    Restore {
        /// The export (one stored record a line), or `-` for standard input.
        #[arg(required_unless_present = "nats", conflicts_with = "nats")]
        file: Option<PathBuf>,
        /// NATS server URLs (comma-separated) holding the stream.
        #[arg(long, value_name = "URL", requires = "stream")]
        nats: Option<String>,
        /// The JetStream stream the relay filled.
        #[arg(long, value_name = "NAME", requires = "nats")]
        stream: Option<String>,
    },
    /// Serve the HTTP API and event streams until SIGINT or SIGTERM.
    Serve {
        /// The address to listen on (port 0: any free port, printed).
        #[arg(long, default_value = "127.0.0.1:7341")]
        addr: std::net::SocketAddr,
        /// A file whose first line is the write token (else `AMITY_TOKEN`).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Also relay the ledger into NATS JetStream at these URLs
        /// (comma-separated), as `amity relay` does.
        #[arg(long, value_name = "URL")]
        relay_nats: Option<String>,
        #[command(flatten)]
        stream: StreamArgs,
        /// The checkpoint signing key (default: DIR/signing.key, if there is
        /// one). With a key, the server signs a checkpoint as the tree grows
        /// (at most once a second) and serves /checkpoint.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Signing keys for checkpoints.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign and print a checkpoint of the durable head: a C2SP
    /// tlog-checkpoint (origin = the key's name, tree size, base64 root
    /// hash) in a signed note.
    Checkpoint {
        /// The signing key (default: DIR/signing.key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Write an offline audit bundle: the records A..B (stored bytes), a
    /// checkpoint of the durable head signed now, and each record's
    /// inclusion proof in it, as one JSON file.
    Bundle {
        /// The records, `A..B` (inclusive) or `A..` (to the durable head).
        #[arg(long)]
        seq: String,
        /// Where to write the bundle.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The signing key (default: DIR/signing.key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Check an audit bundle with no ledger and no network: the checkpoint's
    /// signature against KEY, each record's canonical form, hash and link,
    /// and its inclusion in the checkpoint's tree. Exit 1 if any fails.
    Audit {
        /// The bundle `amity bundle` wrote.
        file: PathBuf,
        /// The verifier key (NAME+hash+base64), or a file holding it.
        #[arg(long)]
        key: String,
    },
    /// Follow a ledger's signed checkpoints as a witness: recompute each
    /// one's root from the ledger's records (keeping every leaf hash in
    /// STATE), refuse a fork or a rollback (exit 1, naming where the logs
    /// differ), and cosign the rest, sending the cosignature to the server.
    Witness {
        /// The ledger's server.
        #[arg(long)]
        url: String,
        /// The ledger's verifier key (NAME+hash+base64), or a file holding it.
        #[arg(long, value_name = "VKEY")]
        log_key: String,
        /// The witness's own signing key (`amity key generate --out FILE`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where the witness keeps what it has seen.
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// One round, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Relay every record, unmodified and exactly once in seq order, into a
    /// NATS JetStream stream as `<prefix>.<type>`, following the ledger of a
    /// running server (--url) or the local one (--db) until SIGINT/SIGTERM.
    Relay {
        /// NATS server URLs, comma-separated (members of one cluster).
        #[arg(long, value_name = "URL")]
        nats: String,
        /// Follow a running `amity serve` (which owns the ledger) instead of
        /// opening --db; its write token is needed to store the position.
        #[arg(long)]
        url: Option<String>,
        /// A file whose first line is the server's write token (else `AMITY_TOKEN`).
        #[arg(long)]
        token_file: Option<PathBuf>,
        #[command(flatten)]
        stream: StreamArgs,
    },
    /// Rebuild the four views from a JetStream stream alone, verifying the
    /// hash chain and every message's headers on the way, and print them as
    /// `amity view` does (all four, or one).
    FollowNats {
        /// NATS server URLs (comma-separated) holding the stream.
        #[arg(long, value_name = "URL")]
        nats: String,
        /// The JetStream stream a relay filled.
        #[arg(long, default_value = "amity")]
        stream: String,
        /// Print only this view (default: all four).
        #[arg(value_enum)]
        view: Option<views::ViewKind>,
        #[command(flatten)]
        query: ViewQuery,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell), e.g. `amity completions bash > /etc/bash_completion.d/amity`.
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `amity man | man -l -`.
    Man,
    /// Print records after a position as NDJSON, from a server (`--url`) or
    /// the local ledger; with --follow, keep printing new ones.
    Subscribe {
        /// Read from the server at URL (found on its own when a running
        /// `amity serve` holds --db).
        #[arg(long)]
        url: Option<String>,
        /// Print records after this seq.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Keep printing new records as they are appended.
        #[arg(long)]
        follow: bool,
        /// Only types starting with this (`aid.`, `agreement.signed`).
        #[arg(long = "type")]
        type_prefix: Option<String>,
        /// Only records naming this party; retractions always pass.
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
        Command::Export { from, to, url } => match reader(&args.db, url)? {
            Reader::Local(ledger) => read::export(&ledger, from, to),
            Reader::Remote(remote) => remote.export(from, to),
        },
        Command::Log { from, limit, type_prefix, party, wide, format, url } => {
            views::set_wide(wide);
            let filter = crate::subscribe::Filter { type_prefix, party, stream: None };
            match reader(&args.db, url)? {
                Reader::Local(ledger) => read::log(&ledger, from, limit, &filter, format),
                Reader::Remote(remote) => remote.log(from, limit, &filter, format),
            }
        }
        Command::Status { json, url } => {
            let status = match reader(&args.db, url)? {
                Reader::Local(ledger) => {
                    let mut status = ledger.status()?;
                    // The holder is this command itself.
                    status.holder = status.holder.filter(|h| h.pid != std::process::id());
                    status
                }
                Reader::Remote(remote) => remote.status()?,
            };
            read::status(&status, json)
        }
        Command::History { key, when, format, url } => match reader(&args.db, url)? {
            Reader::Local(ledger) => history::history(&ledger, &key, when.local(&ledger)?, format),
            Reader::Remote(remote) => remote.history(&key, when.remote(), format),
        },
        Command::Show { key, url } => match reader(&args.db, url)? {
            Reader::Local(ledger) => read::show(&ledger, &key),
            Reader::Remote(remote) => remote.show(&key),
        },
        Command::Verify { url } => match reader(&args.db, url)? {
            Reader::Local(ledger) => read::verify(&ledger),
            Reader::Remote(remote) => remote.verify(),
        },
        Command::Prove { key, size, from, to, json } => {
            let proof = match (key, from) {
                (_, Some(from)) => prove::Proof::Consistency { from, to },
                (Some(key), None) => prove::Proof::Inclusion { key, size },
                (None, None) => return Err(usage("prove: give an id or seq, or --from M")),
            };
            prove::run(&open_existing(&args.db)?, proof, json)
        }
        Command::View { view, query } => {
            query.applies_to(view)?;
            views::set_wide(query.wide);
            match reader(&args.db, query.url.clone())? {
                Reader::Local(ledger) => {
                    views::view(&ledger, view, query.when.local(&ledger)?, query.party.as_deref(), query.format())
                }
                Reader::Remote(remote) => {
                    remote.view(view, query.when.remote(), query.party.as_deref(), query.format())
                }
            }
        }
        Command::Rebuild => {
            // The Merkle tree is recomputed from the log on this open.
            let options = Options { create: false, rebuild_merkle: true, ..Options::default() };
            views::rebuild(&Ledger::open(&args.db, options)?)
        }
        Command::Backup { dir, url } => {
            let ledger = match reader(&args.db, url)? {
                Reader::Local(ledger) => ledger,
                Reader::Remote(remote) => return remote.backup(&dir).map(|()| ExitCode::SUCCESS),
            };
            let verified = ledger.backup(&dir)?;
            read::print(&format!(
                "backed up to {}: ok {} records, head {}",
                dir.display(),
                verified.count,
                verified.head
            ))
        }
        Command::Restore { file, nats, stream } => match (file, nats, stream) {
            (_, Some(nats), Some(stream)) => nats::restore_nats(&args.db, &nats, &stream),
            (Some(file), _, _) => import::restore(&args.db, &file),
            _ => Err(usage("restore: give FILE, or --nats URL --stream NAME")),
        },
        Command::Serve { addr, token_file, relay_nats, stream, key } => {
            let relay = relay_nats.map(|nats| stream.config(&nats));
            serve::serve(&args.db, addr, token_file, relay, key)
        }
        Command::Key(KeyCommand::Generate { name, out }) => {
            let out = out.unwrap_or_else(|| args.db.join(crate::signing::KEY_FILE));
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
            }
            let verifier = crate::signing::Key::generate(&name, &out)?;
            crate::say!("amity: signing key written to {} (mode 0600); the verifier key follows", out.display());
            read::print(&verifier)
        }
        Command::Bundle { seq, out, key } => {
            let key = crate::signing::Key::load(&key.unwrap_or_else(|| args.db.join(crate::signing::KEY_FILE)))?;
            let ledger = open_existing(&args.db)?;
            bundle::bundle(&ledger, &key, &seq, &out)?;
            ledger.close()
        }
        Command::Audit { file, key } => bundle::audit(&file, &key),
        Command::Witness { url, log_key, key, state, once } => {
            let log_key = std::fs::read_to_string(&log_key).map(|k| k.trim().to_string()).unwrap_or(log_key);
            let witness = crate::witness::Witness::open(&url, &log_key, crate::signing::Key::load(&key)?, &state)?;
            serve::runtime()?.block_on(crate::witness::run(witness, once))
        }
        Command::Checkpoint { key } => {
            let key = crate::signing::Key::load(&key.unwrap_or_else(|| args.db.join(crate::signing::KEY_FILE)))?;
            let ledger = open_existing(&args.db)?;
            let size = ledger.head().seq;
            let note = key.sign(size, ledger.tree_hash(size)?)?;
            ledger.close()?;
            read::print(note.trim_end())
        }
        Command::Relay { nats, url, token_file, stream } => {
            nats::relay(&args.db, nats::RelayArgs { config: stream.config(&nats), url, token_file })
        }
        Command::FollowNats { nats, stream, view, query } => {
            if query.url.is_some() {
                return Err(usage("--url: does not apply to follow-nats, which reads the NATS stream (--nats)"));
            }
            if query.when.at.is_some() {
                return Err(usage(
                    "--at: does not apply to follow-nats (the stream's records carry their seq: use --at-seq)",
                ));
            }
            if let Some(view) = view {
                query.applies_to(view)?;
            }
            views::set_wide(query.wide);
            let as_of = query.when.as_of.unwrap_or_else(views::today);
            let (at_seq, format, party) = (query.when.at_seq, query.format(), query.party.clone());
            nats::follow_nats(nats::FollowArgs { nats, stream, view, as_of, at_seq, party, format })
        }
        Command::Completions { shell } => {
            let mut command = <Args as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "amity", &mut out);
            read::print(String::from_utf8_lossy(&out).trim_end())
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Args as clap::CommandFactory>::command())
                .render(&mut out)
                .map_err(|e| Error::io("rendering the manual page", e))?;
            read::print(String::from_utf8_lossy(&out).trim_end())
        }
        Command::Subscribe { url, after, follow, type_prefix, party } => {
            let url = url.or_else(|| served_at(&args.db));
            serve::subscribe(
                &args.db,
                url,
                after,
                follow,
                crate::subscribe::Filter { type_prefix, party, stream: None },
            )
        }
    }
    .map(|()| ExitCode::SUCCESS)
}

/// Which state of the ledger a view or history describes.
#[derive(Debug, Clone, clap::Args)]
pub struct When {
    /// Valid time: the day described (default: today, UTC).
    #[arg(long, value_parser = views::parse_day)]
    as_of: Option<chrono::NaiveDate>,
    /// Transaction time: as the ledger stood after record N.
    #[arg(long, conflicts_with = "at")]
    at_seq: Option<u64>,
    /// Transaction time by the clock: as the ledger stood at this moment
    /// (RFC 3339, e.g. 2026-03-01T15:00:00+07:00): after the last record
    /// recorded by then.
    #[arg(long, value_parser = events::date::parse_moment)]
    at: Option<chrono::DateTime<chrono::Utc>>,
}

impl When {
    /// `(as_of, at_seq)` on a local ledger (a moment becomes its seq).
    fn local(&self, ledger: &Ledger) -> Result<views::At> {
        let at_seq = match self.at {
            Some(moment) => Some(ledger.seq_at(moment)?),
            None => self.at_seq,
        };
        Ok((self.as_of.unwrap_or_else(views::today), at_seq))
    }

    /// What a server is asked for.
    fn remote(&self) -> (Option<chrono::NaiveDate>, Option<u64>, Option<chrono::DateTime<chrono::Utc>>) {
        (self.as_of, self.at_seq, self.at)
    }
}

/// Which state of a view to print, and how.
#[derive(Debug, clap::Args)]
pub struct ViewQuery {
    #[command(flatten)]
    when: When,
    /// The spec's JSON shape instead of a table (same as --format json).
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// table, json (the spec's shape), ndjson (one row a line) or csv.
    #[arg(long, value_enum, default_value_t)]
    format: format::Format,
    /// Only the rows this party (exact id) is in: a party to the agreement,
    /// the project's beneficiary, the aid's donor or recipient, the visit's
    /// sender or host.
    #[arg(long)]
    party: Option<String>,
    /// Read through the server at URL instead of opening --db (found on its
    /// own when a running `amity serve` holds --db).
    #[arg(long)]
    url: Option<String>,
    /// Full cells, however wide. Otherwise tables fit the terminal (its
    /// width, or `COLUMNS`), wrapping long cells; piped output is never cut.
    #[arg(long)]
    wide: bool,
}

impl ViewQuery {
    fn format(&self) -> format::Format {
        if self.json {
            format::Format::Json
        } else {
            self.format
        }
    }

    /// `--as-of` filters agreements and projects by valid time; the aid and
    /// visits views list every dated fact, so there it would be ignored.
    fn applies_to(&self, view: views::ViewKind) -> Result<()> {
        match (view, self.when.as_of) {
            (views::ViewKind::Aid | views::ViewKind::Visits, Some(_)) => Err(usage(
                "--as-of: does not apply to the aid and visits views (they list every dated fact); use --at-seq",
            )),
            _ => Ok(()),
        }
    }
}

/// The JetStream stream a relay writes.
#[derive(Debug, clap::Args)]
pub struct StreamArgs {
    /// The stream's name (created if missing).
    #[arg(long = "stream", default_value = "amity")]
    name: String,
    /// Subjects are `<prefix>.<type>`, e.g. `amity.aid.pledged`.
    #[arg(long, default_value = "amity")]
    subject_prefix: String,
    /// Copies JetStream keeps of a stream it creates (3 for a 3-node cluster).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Seconds JetStream remembers a `Nats-Msg-Id` to drop a resent publish.
    /// Order and exactly-once rest on `Nats-Expected-Last-Sequence`, not on
    /// this window.
    #[arg(long, default_value_t = 120)]
    duplicate_window: u64,
    /// The named subscription that holds the relay's position (default
    /// `relay-<stream>`).
    #[arg(long)]
    subscription: Option<String>,
}

impl StreamArgs {
    fn config(&self, nats: &str) -> crate::relay::RelayConfig {
        let mut config = crate::relay::RelayConfig::new(nats, &self.name, &self.subject_prefix);
        config.replicas = self.replicas;
        config.duplicate_window = std::time::Duration::from_secs(self.duplicate_window);
        if let Some(name) = &self.subscription {
            config.subscription.clone_from(name);
        }
        config
    }
}

/// Where a read command reads.
enum Reader {
    Local(Ledger),
    Remote(remote::Remote),
}

/// The server at `url`; without one, the ledger at `db`, or, when a running
/// `amity serve` holds it, that server (said on stderr). A ledger held by
/// another kind of process is an immediate error naming it.
fn reader(db: &Path, url: Option<String>) -> Result<Reader> {
    if let Some(url) = url {
        return Ok(Reader::Remote(remote::Remote::new(&url)?));
    }
    match open_existing(db) {
        Ok(ledger) => Ok(Reader::Local(ledger)),
        Err(Error::InUse { url: Some(url), .. }) => {
            crate::say!("amity: {} is held by a running server; reading through it at {url}", db.display());
            Ok(Reader::Remote(remote::Remote::new(&url)?))
        }
        Err(error) => Err(error),
    }
}

/// The URL of the running server that holds the ledger at `db`, if one
/// does (said on stderr).
fn served_at(db: &Path) -> Option<String> {
    let holder = crate::store::holder::Holder::read(db).filter(|h| h.is_other_and_alive())?;
    let url = holder.url?;
    crate::say!("amity: {} is held by a running server; reading through it at {url}", db.display());
    Some(url)
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
        crate::say!("already present as seq {}; nothing appended", appended.seq);
    }
    read::print(&String::from_utf8_lossy(&appended.bytes))
}

/// Turns a usage problem into the error the CLI reports (exit 2).
/// `amity key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make an Ed25519 key pair for signing checkpoints: writes the signing
    /// key (mode 0600, never overwritten; default DIR/signing.key) and prints
    /// the verifier key in the note format (NAME+hash+base64).
    Generate {
        /// The key's name, which is also the checkpoints' origin line, e.g.
        /// example.org/hanoi-vientiane.
        #[arg(long)]
        name: String,
        /// Where to write the signing key.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

#[cfg(test)]
mod help_tests {
    use super::Args;
    use clap::CommandFactory;

    /// Every command and every option says what it is for in `--help` (and
    /// so in the man page and the completions).
    #[test]
    fn every_command_and_option_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if command.get_about().is_none() && !path.is_empty() {
                missing.push(format!("{path} (command)"));
            }
            for arg in command.get_arguments() {
                let name = arg.get_id().as_str();
                if !matches!(name, "help" | "version") && arg.get_help().is_none() {
                    missing.push(format!("{path} {name}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, format!("{path} {}", sub.get_name()).trim(), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Args::command(), "", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }
}
