//! `amity import FILE|-`: NDJSON submissions, all checked before any is
//! appended. Two passes over the input keep memory bounded by one chunk, not
//! the file: the first checks every line in a dry run (so later lines may
//! refer to entities earlier lines introduce), the second appends in chunks
//! of [`BATCH_SUBMISSIONS_MAX`]. Standard input is spooled to a file in the
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

/// The first pass. Returns how many submissions the file holds.
fn check(ledger: &Ledger, source: Source<'_>) -> Result<u64> {
    let bar = progress_bar(source.len()?, "checking");
    let mut dry_run = ledger.dry_run();
    let (mut total, mut bad, mut conflicts) = (0u64, 0u64, 0u64);
    let mut bytes_read = 0u64;
    for line in source.lines()? {
        let (number, line) = line?;
        bytes_read += line.as_ref().map_or_else(|len| *len, |b| b.len() as u64) + 1;
        if number % 1024 == 0 {
            bar.set_position(bytes_read);
        }
        let Some(parsed) = parse_line(line) else {
            continue;
        };
        total += 1;
        let outcome = parsed.and_then(|checked| dry_run.check(checked));
        match outcome {
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
    bar.finish_and_clear();
    let failed = bad + conflicts;
    if failed > ERRORS_PRINTED_MAX as u64 {
        eprintln!("… and {} more bad lines", failed - ERRORS_PRINTED_MAX as u64);
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
                eprintln!("line {line}: {e}");
            }
        }
        other => eprintln!("line {line}: {other}"),
    }
}

/// The second pass: appends in chunks, each durable before the next. A
/// second thread reads and parses the next chunk while the committer writes
/// this one, so parsing and writing overlap.
fn append(ledger: &Ledger, source: Source<'_>, total: u64) -> Result<Imported> {
    let bar = progress_bar(total, "appending");
    let (mut appended, mut existed) = (0u64, 0u64);
    let (chunks, parsed) = std::sync::mpsc::sync_channel::<Result<Vec<Checked>>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut chunk = Vec::with_capacity(BATCH_SUBMISSIONS_MAX);
            let lines = match source.lines() {
                Ok(lines) => lines,
                Err(e) => return drop(chunks.send(Err(e))),
            };
            for line in lines {
                let parsed = line.map_err(Error::from).and_then(|(_, line)| parse_line(line).transpose());
                match parsed {
                    Ok(None) => continue,
                    Ok(Some(checked)) => chunk.push(checked),
                    Err(e) => return drop(chunks.send(Err(e))),
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
        for chunk in parsed {
            let results = ledger.append_group(chunk?).map_err(|e| {
                // The dry run passed, so only a concurrent writer or the disk
                // can get here; earlier chunks stay appended (re-import is
                // idempotent). The error keeps its kind, so the exit code
                // says which it was.
                eprintln!("import stopped after {appended} appended");
                e.error
            })?;
            let fresh = results.iter().filter(|r| !r.existed).count() as u64;
            appended += fresh;
            existed += results.len() as u64 - fresh;
            bar.set_position(appended + existed);
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
