//! `amity import FILE|-`: NDJSON submissions, all checked before any is
//! appended. The input is read and parsed once: the check pass parses every
//! line (two worker threads, results kept in order), decides each in a dry
//! run (the committer's own [`events::decide`], so later lines may refer to
//! entities earlier lines introduce) and spools the checked submissions to
//! a temporary file in the ledger directory in a compact binary form; the
//! append pass reads that spool back (no JSON parse) and appends in chunks
//! of [`BATCH_SUBMISSIONS_MAX`], a couple in flight so the committer seals
//! one while the syncer writes another. Memory stays bounded by a few
//! chunks, not the input. Must never: append anything when a line is bad.

use super::read::{print, progress_bar};
use super::usage;
use crate::error::{Error, Result};
use crate::store::{Ledger, Options, BATCH_SUBMISSIONS_MAX};
use events::submission::SUBMISSION_BYTES_MAX;
use events::Checked;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Chunks queued to the committer before the import waits for the oldest:
/// enough that one is sealed while another is synced.
const CHUNKS_IN_FLIGHT_MAX: usize = 2;

/// The UTF-8 byte-order mark, accepted (and dropped) at the start of the input.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Most bad lines printed; the rest are counted.
const ERRORS_PRINTED_MAX: usize = 200;

/// Reads lines of at most `limit` bytes; a longer line is skipped (without
/// being held in memory) and reported by its length.
pub struct Lines<R> {
    reader: R,
    limit: usize,
    number: u64,
}

/// One line: its number, and its bytes or (if too long) its length.
pub type Line = (u64, Result<Vec<u8>, u64>);

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R, limit: usize) -> Self {
        Lines { reader, limit, number: 0 }
    }

    fn read_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut line = Vec::new();
        let read = (&mut self.reader).take(self.limit as u64 + 1).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.number == 1 && line.starts_with(UTF8_BOM) {
            // Editors on Windows start UTF-8 files with a byte-order mark;
            // it is not part of the first submission.
            line.drain(..UTF8_BOM.len());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some((self.number, Ok(line))));
        }
        if line.len() <= self.limit {
            return Ok(Some((self.number, Ok(line))));
        }
        let mut length = line.len() as u64;
        loop {
            line.clear();
            let read = (&mut self.reader).take(64 * 1024).read_until(b'\n', &mut line)?;
            length += read as u64;
            if read == 0 || line.last() == Some(&b'\n') {
                return Ok(Some((self.number, Err(length))));
            }
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = std::io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_line().transpose()
    }
}

/// Decodes one line; `None` for a blank line.
fn parse_line(line: Result<Vec<u8>, u64>) -> Option<Result<Checked>> {
    match line {
        Err(length) => Some(Err(usage(format!(
            "submission: {length} bytes is more than the {SUBMISSION_BYTES_MAX} a submission may have"
        )))),
        Ok(bytes) if bytes.trim_ascii().is_empty() => None,
        Ok(bytes) => Some(Checked::parse(&bytes).map_err(Error::from)),
    }
}

/// Where the submissions come from. Read once: the check pass spools what
/// it checked, and the append pass reads the spool.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
    Stdin,
}

impl Source<'_> {
    fn lines(&self) -> Result<Lines<Box<dyn BufRead + Send + '_>>> {
        let reader: Box<dyn BufRead + Send> = match self {
            Source::File(path) => {
                let file = File::open(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
                Box::new(BufReader::with_capacity(1 << 20, file))
            }
            Source::Bytes(bytes) => Box::new(*bytes),
            Source::Stdin => Box::new(BufReader::with_capacity(1 << 20, std::io::stdin())),
        };
        Ok(Lines::new(reader, SUBMISSION_BYTES_MAX))
    }

    /// Its length in bytes, if known before reading it.
    fn len(&self) -> Result<Option<u64>> {
        Ok(match self {
            Source::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Source::Bytes(bytes) => Some(bytes.len() as u64),
            Source::Stdin => None,
        })
    }
}

/// What an import did.
pub struct Imported {
    pub appended: u64,
    pub existed: u64,
}

/// Checks every submission from `source`, then appends them all, or reports
/// every bad line and appends nothing. What the check pass accepted is
/// spooled ([`Checked::to_spool`]) to a temporary file in the ledger's
/// directory, removed however the import ends, so each line is parsed once
/// and memory stays bounded by a few chunks, not the input.
pub fn import(ledger: &Ledger, source: Source<'_>) -> Result<Imported> {
    import_until(ledger, source, &AtomicBool::new(false))
}

/// [`import`], stopping early once `interrupted` is set: during the check
/// pass with nothing appended, during the append pass after the chunks
/// already submitted are durable. Either way the error says how many were
/// appended and that running the same import again resumes.
pub fn import_until(ledger: &Ledger, source: Source<'_>, interrupted: &AtomicBool) -> Result<Imported> {
    let mut spool = tempfile::Builder::new()
        .prefix(".import-spool-")
        .tempfile_in(ledger.dir())
        .map_err(|e| Error::io("creating the import's spool file", e))?;
    let started = std::time::Instant::now();
    let summary = check(ledger, source, spool.as_file_mut(), interrupted)?;
    let seconds = started.elapsed().as_secs_f64();
    crate::say!("checked {} submissions in {seconds:.1} s; appending", summary.total);
    let reader = spool.reopen().map_err(|e| Error::io("reading the import's spool file", e))?;
    append(ledger, reader, &summary, interrupted)
}

pub fn run(dir: &Path, file: &Path) -> Result<()> {
    let source = if file.as_os_str() == "-" {
        Source::Stdin
    } else {
        // Refuse a missing file before the ledger directory is created.
        File::open(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
        Source::File(file)
    };
    // Ctrl-C stops the import cleanly (what is durable stays; the message
    // says so); a second Ctrl-C ends the process at once.
    let interrupted = std::sync::Arc::new(AtomicBool::new(false));
    let sigint = signal_hook::consts::SIGINT;
    signal_hook::flag::register_conditional_shutdown(sigint, 130, interrupted.clone())
        .and_then(|_| signal_hook::flag::register(sigint, interrupted.clone()))
        .map_err(|e| Error::io("handling Ctrl-C", e))?;
    let ledger = Ledger::open(dir, Options::default())?;
    let Imported { appended, existed } = import_until(&ledger, source, &interrupted)?;
    let head = ledger.head();
    ledger.close()?;
    print(&format!(
        "imported {}: {appended} appended, {existed} already present\nhead seq {} hash {}",
        file.display(),
        head.seq,
        head.hash
    ))
}

/// Threads that parse (check pass) or decode the spool (append pass).
const WORKERS: usize = 2;

/// Runs `work` on each of `items` on [`WORKERS`] threads, and yields the
/// results in the items' order: item k goes to worker k mod W, and the
/// results are taken from the workers in the same rotation. Each channel
/// holds one item, so at most a few chunks are in memory. The items are
/// produced on their own thread (they are read from a file).
fn in_order<'scope, I, O>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    items: impl Iterator<Item = I> + Send + 'scope,
    work: fn(I) -> O,
) -> impl Iterator<Item = O> + 'scope
where
    I: Send + 'scope,
    O: Send + 'scope,
{
    use std::sync::mpsc::sync_channel;
    let (inputs, outputs): (Vec<_>, Vec<_>) = (0..WORKERS)
        .map(|_| {
            let (to_worker, from_dealer) = sync_channel::<I>(1);
            let (to_caller, from_worker) = sync_channel::<O>(1);
            scope.spawn(move || {
                for item in from_dealer {
                    if to_caller.send(work(item)).is_err() {
                        return;
                    }
                }
            });
            (to_worker, from_worker)
        })
        .unzip();
    scope.spawn(move || {
        for (k, item) in items.enumerate() {
            if inputs[k % WORKERS].send(item).is_err() {
                return;
            }
        }
    });
    (0..).map_while(move |k| outputs[k % WORKERS].recv().ok())
}

/// Groups `items` in chunks of up to [`BATCH_SUBMISSIONS_MAX`]; an error ends
/// the chunks with it.
fn chunks<T>(mut items: impl Iterator<Item = Result<T>>) -> impl Iterator<Item = Result<Vec<T>>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let mut chunk = Vec::with_capacity(BATCH_SUBMISSIONS_MAX);
        for item in items.by_ref() {
            match item {
                Ok(item) => chunk.push(item),
                Err(e) => {
                    failed = true;
                    return Some(Err(e));
                }
            }
            if chunk.len() == BATCH_SUBMISSIONS_MAX {
                break;
            }
        }
        (!chunk.is_empty()).then_some(Ok(chunk))
    })
}

/// One parsed line: its number, its bytes' length, and the submission (or
/// why it is not one).
type Parsed = (u64, u64, Result<Checked>);

/// A chunk of the check pass: its lines, parsed, and the spool form of
/// every line that parsed.
struct CheckedChunk {
    lines: Vec<Parsed>,
    spool: Vec<u8>,
}

/// Parses a chunk of lines (on a worker thread) and writes the spool form
/// of each good one, each framed by its length.
fn parse_chunk(chunk: Result<Vec<Line>>) -> Result<CheckedChunk> {
    let mut spool = Vec::new();
    let mut lines = Vec::with_capacity(BATCH_SUBMISSIONS_MAX);
    for (number, line) in chunk? {
        let length = line.as_ref().map_or_else(|len| *len, |b| b.len() as u64) + 1;
        if let Some(parsed) = parse_line(line) {
            if let Ok(checked) = &parsed {
                // A frame: the submission's length, its line, the submission.
                let start = spool.len();
                spool.extend_from_slice(&[0; 4]);
                spool.extend_from_slice(&number.to_le_bytes());
                checked.to_spool(&mut spool);
                let framed = (spool.len() - start - 12) as u32;
                spool[start..start + 4].copy_from_slice(&framed.to_le_bytes());
            }
            lines.push((number, length, parsed));
        }
    }
    Ok(CheckedChunk { lines, spool })
}

/// The first pass: parses every line (on [`WORKERS`] threads), decides each
/// in a dry run, and spools the good ones. Returns how many submissions the
/// input holds.
fn check(ledger: &Ledger, source: Source<'_>, spool: &mut File, interrupted: &AtomicBool) -> Result<Summary> {
    let bar = match source.len()? {
        Some(len) => progress_bar(len, "checking"),
        None => indicatif::ProgressBar::hidden(),
    };
    let mut dry_run = ledger.dry_run();
    let (mut total, mut bad, mut conflicts, mut without_id) = (0u64, 0u64, 0u64, 0u64);
    let mut bytes_read = 0u64;
    let mut spool = std::io::BufWriter::with_capacity(1 << 20, spool);
    let lines = source.lines()?;
    std::thread::scope(|scope| -> Result<()> {
        let raw = chunks(lines.map(|line| line.map_err(|e| Error::io("reading the input", e))));
        for chunk in in_order(scope, raw, parse_chunk) {
            if interrupted.load(Ordering::Relaxed) {
                return Err(Error::Interrupted(format!(
                    "stopped while checking (after {total} submissions); nothing was appended"
                )));
            }
            let CheckedChunk { lines, spool: spooled } = chunk?;
            if bad + conflicts == 0 {
                spool.write_all(&spooled).map_err(|e| Error::io("writing the import's spool file", e))?;
            }
            for (number, length, parsed) in lines {
                bytes_read += length;
                total += 1;
                if parsed.as_ref().is_ok_and(|checked| checked.id().is_none()) {
                    without_id += 1;
                }
                match parsed.and_then(|checked| dry_run.check(checked)) {
                    Ok(_) => {}
                    Err(error @ (Error::Invalid(_) | Error::Usage(_) | Error::Conflict(_))) => {
                        if matches!(error, Error::Conflict(_)) {
                            conflicts += 1;
                        } else {
                            bad += 1;
                        }
                        if bad + conflicts <= ERRORS_PRINTED_MAX as u64 {
                            report(number, &error);
                        }
                    }
                    Err(error) => return Err(error),
                }
            }
            bar.set_position(bytes_read);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let failed = bad + conflicts;
    if failed > ERRORS_PRINTED_MAX as u64 {
        crate::say!("… and {} more bad lines", failed - ERRORS_PRINTED_MAX as u64);
    }
    let summary = format!("{failed} of {total} submissions were refused; nothing was appended");
    match (bad, conflicts) {
        (0, 0) => {
            spool.flush().map_err(|e| Error::io("writing the import's spool file", e))?;
            Ok(Summary { total, without_id })
        }
        (0, _) => Err(Error::Conflict(summary)),
        _ => Err(usage(summary)),
    }
}

fn report(line: u64, error: &Error) {
    match error {
        Error::Invalid(rejection) => {
            for e in &rejection.errors {
                crate::say!("line {line}: {e}");
            }
        }
        other => crate::say!("line {line}: {other}"),
    }
}

/// Reads the spool's frames back, in order.
fn spooled(spool: File) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + Send {
    let mut reader = BufReader::with_capacity(1 << 20, spool);
    let mut read = move || -> std::io::Result<Option<(u64, Vec<u8>)>> {
        let mut length = [0u8; 4];
        match reader.read_exact(&mut length) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other?,
        }
        let mut line = [0u8; 8];
        reader.read_exact(&mut line)?;
        let mut frame = vec![0; u32::from_le_bytes(length) as usize];
        reader.read_exact(&mut frame)?;
        Ok(Some((u64::from_le_bytes(line), frame)))
    };
    std::iter::from_fn(move || read().map_err(|e| Error::io("reading the import's spool file", e)).transpose())
}

/// A chunk of spooled submissions, decoded, and the input line of its last.
struct Decoded {
    submissions: Vec<Checked>,
    last_line: u64,
}

/// Decodes a chunk of spooled submissions (on a worker thread).
fn decode_chunk(chunk: Result<Vec<(u64, Vec<u8>)>>) -> Result<Decoded> {
    let chunk = chunk?;
    let last_line = chunk.last().map_or(0, |(line, _)| *line);
    let submissions = chunk.iter().map(|(_, frame)| Checked::from_spool(frame).map_err(Error::from));
    Ok(Decoded { submissions: submissions.collect::<Result<_>>()?, last_line })
}

/// What the check pass found in a good input.
struct Summary {
    total: u64,
    /// Submissions without an `id`: the ledger gives each a new one, so
    /// importing them twice appends them twice.
    without_id: u64,
}

/// How far an import that stopped part-way got, and how to finish it.
fn stopped_at(appended: u64, existed: u64, total: u64, through_line: u64, without_id: u64) -> String {
    let kept = format!(
        "{appended} of {total} submissions appended ({existed} were already present), every line through {through_line}; the rest were not."
    );
    if without_id == 0 {
        format!("{kept} Run the same import again to finish: what is already in the ledger is skipped")
    } else {
        format!(
            "{kept} {without_id} submissions have no `id`, so importing the whole file again would append those already appended a second time: import only the lines after {through_line} (e.g. `tail -n +{} FILE | amity import -`)",
            through_line + 1
        )
    }
}

/// The second pass: appends what the first pass spooled, in chunks, a few
/// in flight so the committer seals one while the syncer writes another.
fn append(ledger: &Ledger, spool: File, summary: &Summary, interrupted: &AtomicBool) -> Result<Imported> {
    let bar = progress_bar(summary.total, "appending");
    let (mut appended, mut existed, mut through_line) = (0u64, 0u64, 0u64);
    std::thread::scope(|scope| {
        let mut in_flight = std::collections::VecDeque::new();
        let mut settle = |(submitted, last_line): (crate::store::Submitted, u64)| -> Result<()> {
            let results = submitted.wait().map_err(|e| {
                // The dry run passed, so only the disk can get here; earlier
                // chunks stay appended. The error keeps its kind, so the
                // exit code says which it was.
                let (total, without_id) = (summary.total, summary.without_id);
                crate::say!("import stopped: {}", stopped_at(appended, existed, total, through_line, without_id));
                e.error
            })?;
            let fresh = results.iter().filter(|r| !r.existed).count() as u64;
            appended += fresh;
            existed += results.len() as u64 - fresh;
            through_line = last_line;
            bar.set_position(appended + existed);
            Ok(())
        };
        for decoded in in_order(scope, chunks(spooled(spool)), decode_chunk) {
            if interrupted.load(Ordering::Relaxed) {
                for submitted in in_flight.drain(..) {
                    settle(submitted)?;
                }
                bar.finish_and_clear();
                let (total, without_id) = (summary.total, summary.without_id);
                return Err(Error::Interrupted(stopped_at(appended, existed, total, through_line, without_id)));
            }
            let Decoded { submissions, last_line } = decoded?;
            in_flight.push_back((ledger.submit_group(submissions).map_err(|e| e.error)?, last_line));
            if in_flight.len() > CHUNKS_IN_FLIGHT_MAX {
                settle(in_flight.pop_front().expect("not empty"))?;
            }
        }
        for submitted in in_flight {
            settle(submitted)?;
        }
        bar.finish_and_clear();
        Ok(Imported { appended, existed })
    })
}

/// `amity restore FILE|-`: stored records (an export) into a new ledger.
pub fn restore(dir: &Path, file: &Path) -> Result<()> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = File::open(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
        Box::new(BufReader::with_capacity(1 << 20, opened))
    };
    let limit = events::limits::RECORD_BYTES_MAX;
    let records = Lines::new(reader, limit).filter_map(|line| match line {
        Err(e) => Some(Err(Error::from(e))),
        Ok((_, Ok(bytes))) if bytes.trim_ascii().is_empty() => None,
        Ok((_, Ok(bytes))) => Some(Ok(bytes)),
        Ok((number, Err(length))) => {
            Some(Err(usage(format!("line {number}: {length} bytes is more than a record may have"))))
        }
    });
    let verified = Ledger::restore(dir, records)?;
    print(&format!("restored into {}: ok {} records, head {}", dir.display(), verified.count, verified.head))
}
