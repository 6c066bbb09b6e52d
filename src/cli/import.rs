//! `amity import FILE|-`: NDJSON submissions, all checked before any is
//! appended. Two passes over the input keep memory bounded by a few chunks,
//! not the file: the first decides every line in a dry run (the committer's
//! own [`events::decide`], so later lines may refer to entities earlier
//! lines introduce), the second appends in chunks of
//! [`BATCH_SUBMISSIONS_MAX`], a couple in flight so the committer seals one
//! while the syncer writes another. In both passes a second thread reads and
//! parses ahead. Standard input is spooled to a file in the
//! ledger directory for the second pass, and removed afterwards.
//! Must never: append anything when a line is bad.

use super::read::{print, progress_bar};
use super::usage;
use crate::error::{Error, Result};
use crate::store::{Ledger, Options, BATCH_SUBMISSIONS_MAX};
use events::submission::SUBMISSION_BYTES_MAX;
use events::Checked;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Chunks queued to the committer before the import waits for the oldest:
/// enough that one is sealed while another is synced.
const CHUNKS_IN_FLIGHT_MAX: usize = 2;

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

/// Where the submissions come from: read twice, once per pass.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

impl Source<'_> {
    fn lines(&self) -> Result<Lines<Box<dyn BufRead + '_>>> {
        let reader: Box<dyn BufRead> = match self {
            Source::File(path) => {
                let file = File::open(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
                Box::new(BufReader::with_capacity(1 << 20, file))
            }
            Source::Bytes(bytes) => Box::new(*bytes),
        };
        Ok(Lines::new(reader, SUBMISSION_BYTES_MAX))
    }

    fn len(&self) -> Result<u64> {
        Ok(match self {
            Source::File(path) => std::fs::metadata(path)?.len(),
            Source::Bytes(bytes) => bytes.len() as u64,
        })
    }
}

/// What an import did.
pub struct Imported {
    pub appended: u64,
    pub existed: u64,
}

/// Checks every submission from `source`, then appends them all, or reports
/// every bad line and appends nothing.
pub fn import(ledger: &Ledger, source: Source<'_>) -> Result<Imported> {
    let total = check(ledger, source)?;
    append(ledger, source, total)
}

/// Copies standard input into `spool` so it can be read twice.
fn spool_stdin(spool: &Path) -> Result<()> {
    let mut file = File::create(spool)?;
    std::io::copy(&mut std::io::stdin().lock(), &mut file)?;
    file.flush()?;
    Ok(())
}

/// Removes the spool file however the import ends.
struct Spool(Option<PathBuf>);

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub fn run(dir: &Path, file: &Path) -> Result<()> {
    let ledger = Ledger::open(dir, Options::default())?;
    let spool = if file.as_os_str() == "-" {
        let path = dir.join(".import-stdin.ndjson");
        spool_stdin(&path)?;
        Spool(Some(path))
    } else {
        Spool(None)
    };
    let path = spool.0.as_deref().unwrap_or(file);
    let Imported { appended, existed } = import(&ledger, Source::File(path))?;
    let head = ledger.head();
    ledger.close()?;
    print(&format!(
        "imported {}: {appended} appended, {existed} already present\nhead seq {} hash {}",
        file.display(),
        head.seq,
        head.hash
    ))
}

/// One parsed line: its number, its bytes' length, and the submission (or
/// why it is not one).
type Parsed = (u64, u64, Result<Checked>);

/// Reads and parses `source` on its own thread, in chunks of up to
/// [`BATCH_SUBMISSIONS_MAX`] non-blank lines, so that parsing (the larger
/// cost of each pass) runs beside the deciding and writing. A failure to
/// read ends the chunks with that error.
fn parse_chunks<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    source: Source<'scope>,
) -> std::sync::mpsc::Receiver<Result<Vec<Parsed>>> {
    let (chunks, parsed) = std::sync::mpsc::sync_channel::<Result<Vec<Parsed>>>(2);
    scope.spawn(move || {
        let mut chunk = Vec::with_capacity(BATCH_SUBMISSIONS_MAX);
        let lines = match source.lines() {
            Ok(lines) => lines,
            Err(e) => return drop(chunks.send(Err(e))),
        };
        for line in lines {
            let (number, line) = match line {
                Ok(line) => line,
                Err(e) => return drop(chunks.send(Err(Error::io("reading the input", e)))),
            };
            let length = line.as_ref().map_or_else(|len| *len, |b| b.len() as u64) + 1;
            if let Some(submission) = parse_line(line) {
                chunk.push((number, length, submission));
            }
            if chunk.len() == BATCH_SUBMISSIONS_MAX {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(BATCH_SUBMISSIONS_MAX));
                if chunks.send(Ok(full)).is_err() {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = chunks.send(Ok(chunk));
        }
    });
    parsed
}

/// The first pass. Returns how many submissions the file holds.
fn check(ledger: &Ledger, source: Source<'_>) -> Result<u64> {
    let bar = progress_bar(source.len()?, "checking");
    let mut dry_run = ledger.dry_run();
    let (mut total, mut bad, mut conflicts) = (0u64, 0u64, 0u64);
    let mut bytes_read = 0u64;
    std::thread::scope(|scope| -> Result<()> {
        for chunk in parse_chunks(scope, source) {
            for (number, length, parsed) in chunk? {
                bytes_read += length;
                total += 1;
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
        (0, 0) => Ok(total),
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

/// The second pass: appends in chunks, each durable before the next. A
/// second thread reads and parses the next chunk while the committer writes
/// this one, so parsing and writing overlap.
fn append(ledger: &Ledger, source: Source<'_>, total: u64) -> Result<Imported> {
    let bar = progress_bar(total, "appending");
    let (mut appended, mut existed) = (0u64, 0u64);
    std::thread::scope(|scope| {
        let mut in_flight = std::collections::VecDeque::new();
        let mut settle = |submitted: crate::store::Submitted| -> Result<()> {
            let results = submitted.wait().map_err(|e| {
                // The dry run passed, so only the disk can get here; earlier
                // chunks stay appended (re-import is idempotent). The error
                // keeps its kind, so the exit code says which it was.
                crate::say!("import stopped after {appended} appended");
                e.error
            })?;
            let fresh = results.iter().filter(|r| !r.existed).count() as u64;
            appended += fresh;
            existed += results.len() as u64 - fresh;
            bar.set_position(appended + existed);
            Ok(())
        };
        for chunk in parse_chunks(scope, source) {
            // The check pass saw every line parse, so an error here is the
            // input changing under the import.
            let submissions = chunk?.into_iter().map(|(_, _, parsed)| parsed).collect::<Result<Vec<_>>>()?;
            in_flight.push_back(ledger.submit_group(submissions).map_err(|e| e.error)?);
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
