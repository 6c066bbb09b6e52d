//! `amity import FILE|-`: NDJSON submissions, appended all or nothing, in
//! one pass. Each line is read and parsed once (two worker threads, results
//! kept in order) and handed, in chunks of [`IMPORT_CHUNK_SUBMISSIONS`], to
//! the ledger's import ([`crate::store::import`]): the committer decides
//! each (so later lines may refer to entities earlier lines introduce) and
//! seals it, and its record is written as it is sealed; one sync at the end
//! makes the whole import durable. A bad line anywhere, Ctrl-C, a full disk
//! or a crash leaves the ledger as it was. Memory stays bounded by a few
//! chunks, not the input. Must never: append anything when a line is bad.

use super::read::{print, progress_bar};
use super::usage;
use crate::error::{Error, Result};
use crate::store::import::Outcome;
use crate::store::{Ledger, Options, IMPORT_CHUNK_SUBMISSIONS};
use events::submission::SUBMISSION_BYTES_MAX;
use events::Checked;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Chunks handed to the committer before the import takes the outcomes of
/// the oldest: one is decided while the next is parsed.
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

/// Where the submissions come from. Read once.
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
    fn len(&self) -> Option<u64> {
        match self {
            Source::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Source::Bytes(bytes) => Some(bytes.len() as u64),
            Source::Stdin => None,
        }
    }
}

/// What an import did.
pub struct Imported {
    pub appended: u64,
    pub existed: u64,
}

/// Appends every submission from `source`, or reports every bad line and
/// appends nothing.
pub fn import(ledger: &Ledger, source: Source<'_>) -> Result<Imported> {
    import_until(ledger, source, &AtomicBool::new(false))
}

/// [`import`], stopping once `interrupted` is set; then nothing is
/// appended and the error says so.
pub fn import_until(ledger: &Ledger, source: Source<'_>, interrupted: &AtomicBool) -> Result<Imported> {
    let bar = match source.len() {
        Some(len) => progress_bar(len, "importing"),
        None => indicatif::ProgressBar::hidden(),
    };
    let mut import = ledger.begin_import()?;
    let mut tally = Tally::default();
    let mut bytes_read = 0u64;
    let lines = source.lines()?;
    let passed = std::thread::scope(|scope| -> Result<()> {
        let raw = chunks(lines.map(|line| line.map_err(|e| Error::io("reading the input", e))));
        let mut in_flight = std::collections::VecDeque::new();
        for chunk in in_order(scope, raw, parse_chunk) {
            if interrupted.load(Ordering::Relaxed) {
                return Err(Error::Interrupted(format!(
                    "stopped while importing (after {} submissions); nothing was appended",
                    tally.total
                )));
            }
            let ParsedChunk { submissions, slots, bytes } = chunk?;
            bytes_read += bytes;
            for error in slots.iter().filter_map(|(_, error)| error.as_ref()) {
                if tally.failed() == 0 {
                    import.refuse()?;
                }
                tally.refused(error);
            }
            import.submit(submissions)?;
            in_flight.push_back(slots);
            if in_flight.len() > CHUNKS_IN_FLIGHT_MAX {
                let slots = in_flight.pop_front().expect("not empty");
                tally.settle(slots, import.decided()?)?;
            }
            bar.set_position(bytes_read);
        }
        for slots in in_flight {
            tally.settle(slots, import.decided()?)?;
        }
        Ok(())
    });
    bar.finish_and_clear();
    // Dropping the import (on an error) or aborting it takes back what it wrote.
    let ended = match (passed, tally.failed()) {
        (Err(error), _) => Err(error),
        (Ok(()), 0) => import.commit().map(|_| ()),
        (Ok(()), _) => import.abort(),
    };
    if let Err(error) = ended {
        if !matches!(error, Error::Interrupted(_)) {
            // A storage error: what the import wrote is taken back now, or
            // when the ledger is next opened.
            crate::say!("import stopped: nothing was appended");
        }
        return Err(error);
    }
    let failed = tally.failed();
    if failed == 0 {
        return Ok(Imported { appended: tally.appended, existed: tally.existed });
    }
    if failed > ERRORS_PRINTED_MAX as u64 {
        crate::say!("… and {} more bad lines", failed - ERRORS_PRINTED_MAX as u64);
    }
    let summary = format!("{failed} of {} submissions were refused; nothing was appended", tally.total);
    match tally.bad {
        0 => Err(Error::Conflict(summary)),
        _ => Err(usage(summary)),
    }
}

/// What an import's lines came to so far.
#[derive(Default)]
struct Tally {
    total: u64,
    appended: u64,
    existed: u64,
    /// Lines that broke a rule (exit 2).
    bad: u64,
    /// Lines whose id is taken by other content, or whose `expect` failed
    /// (exit 3 when they are the only problem).
    conflicts: u64,
    printed: usize,
}

impl Tally {
    fn failed(&self) -> u64 {
        self.bad + self.conflicts
    }

    fn refused(&mut self, error: &Error) {
        match error {
            Error::Conflict(_) => self.conflicts += 1,
            _ => self.bad += 1,
        }
    }

    /// Counts a chunk's lines in order: each one that parsed takes the next
    /// of the committer's `outcomes`; each bad one is reported by number.
    fn settle(&mut self, slots: Vec<(u64, Option<Error>)>, outcomes: Vec<Outcome>) -> Result<()> {
        let mut outcomes = outcomes.into_iter();
        for (number, unparsed) in slots {
            self.total += 1;
            let error = match unparsed {
                Some(error) => error,
                None => match outcomes.next().ok_or_else(|| Error::Unavailable("the import lost a chunk".into()))? {
                    Ok(true) => {
                        self.existed += 1;
                        continue;
                    }
                    Ok(false) => {
                        self.appended += 1;
                        continue;
                    }
                    Err(error @ (Error::Invalid(_) | Error::Conflict(_))) => {
                        self.refused(&error);
                        error
                    }
                    Err(other) => return Err(other),
                },
            };
            if self.printed < ERRORS_PRINTED_MAX {
                self.printed += 1;
                report(number, &error);
            }
        }
        Ok(())
    }
}

pub fn run(dir: &Path, file: &Path) -> Result<()> {
    let source = if file.as_os_str() == "-" {
        Source::Stdin
    } else {
        // Refuse a missing file before the ledger directory is created.
        File::open(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
        Source::File(file)
    };
    // Ctrl-C stops the import cleanly, appending nothing (the message says
    // so); a second Ctrl-C ends the process at once, and the next open
    // takes back what the import wrote.
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

/// Threads that parse.
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

/// Groups `items` in chunks of up to [`IMPORT_CHUNK_SUBMISSIONS`]; an error ends
/// the chunks with it.
fn chunks<T>(mut items: impl Iterator<Item = Result<T>>) -> impl Iterator<Item = Result<Vec<T>>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let mut chunk = Vec::with_capacity(IMPORT_CHUNK_SUBMISSIONS);
        for item in items.by_ref() {
            match item {
                Ok(item) => chunk.push(item),
                Err(e) => {
                    failed = true;
                    return Some(Err(e));
                }
            }
            if chunk.len() == IMPORT_CHUNK_SUBMISSIONS {
                break;
            }
        }
        (!chunk.is_empty()).then_some(Ok(chunk))
    })
}

/// A chunk of lines, parsed: the submissions, and each line's number with
/// why it is not one (`None` if it is the next of `submissions`).
struct ParsedChunk {
    submissions: Vec<Checked>,
    slots: Vec<(u64, Option<Error>)>,
    /// The lines' bytes, newlines included (for the progress bar).
    bytes: u64,
}

/// Parses a chunk of lines (on a worker thread). The submissions go
/// straight into the vector the committer takes: a chunk's submissions
/// are megabytes, and each vector of them sized or moved again faulted in
/// fresh pages.
fn parse_chunk(chunk: Result<Vec<Line>>) -> Result<ParsedChunk> {
    let chunk = chunk?;
    let mut parsed =
        ParsedChunk { submissions: Vec::with_capacity(chunk.len()), slots: Vec::with_capacity(chunk.len()), bytes: 0 };
    for (number, line) in chunk {
        parsed.bytes += line.as_ref().map_or_else(|len| *len, |b| b.len() as u64) + 1;
        match parse_line(line) {
            None => {}
            Some(Ok(checked)) => {
                parsed.submissions.push(checked);
                parsed.slots.push((number, None));
            }
            Some(Err(error)) => parsed.slots.push((number, Some(error))),
        }
    }
    Ok(parsed)
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
