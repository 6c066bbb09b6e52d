//! `amity import FILE|-`: NDJSON submissions, appended all or nothing, in
//! one pass. The input is read in chunks of [`IMPORT_CHUNK_SUBMISSIONS`]
//! lines, each chunk's bytes into one buffer ([`LineChunks`]); each line is
//! parsed once (two worker threads, results kept in order) and handed on to
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
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Chunks handed to the committer before the import takes the outcomes of
/// the oldest: one is decided while the next is parsed.
const CHUNKS_IN_FLIGHT_MAX: usize = 2;

/// The UTF-8 byte-order mark, accepted (and dropped) at the start of the input.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Most bad lines printed; the rest are counted.
const ERRORS_PRINTED_MAX: usize = 200;

/// Bytes asked of the reader at a time: small beside a chunk, so that
/// what is read past a chunk's last line (and copied to the next) is too.
const READ_BYTES: usize = 64 * 1024;

/// A chunk's buffer to begin with: room for its lines (a generated
/// submission is about 280 bytes) without growing, in the usual case.
const CHUNK_BYTES: usize = 8 * READ_BYTES;

/// Reads lines in chunks of up to `lines_max`, each chunk's bytes read
/// straight into one buffer: no allocation or copy per line. A line longer
/// than `limit` bytes is skipped (without being held whole) and reported by
/// its length. A read error ends the chunks with it.
pub struct LineChunks<R> {
    reader: R,
    limit: usize,
    lines_max: usize,
    /// Bytes asked of the reader at a time ([`READ_BYTES`]).
    read_bytes: usize,
    /// The number of the last line read.
    number: u64,
    /// Bytes read after the last chunk's last line: the next chunk's start.
    carry: Vec<u8>,
    ended: bool,
}

/// A line's number, and where it lies in its chunk's bytes (its line end
/// excluded) or, if it was too long, its length.
type LineAt = (u64, Result<(usize, usize), u64>);

/// Lines read together, their bytes one after another in one buffer.
pub struct LineChunk {
    bytes: Vec<u8>,
    lines: Vec<LineAt>,
    /// Bytes of input the chunk covers, line ends and skipped lines included.
    covered: u64,
}

impl LineChunk {
    /// Each line's number, and its bytes or (if too long) its length.
    pub fn lines(&self) -> impl Iterator<Item = (u64, Result<&[u8], u64>)> {
        self.lines.iter().map(|&(number, at)| (number, at.map(|(start, end)| &self.bytes[start..end])))
    }
}

impl<R: Read> LineChunks<R> {
    pub fn new(reader: R, limit: usize, lines_max: usize) -> Self {
        LineChunks { reader, limit, lines_max, read_bytes: READ_BYTES, number: 0, carry: Vec::new(), ended: false }
    }

    /// Appends up to `read_bytes` to `bytes` (into its spare capacity,
    /// which is never zeroed first); 0 at the end of the input.
    fn read_more(&mut self, bytes: &mut Vec<u8>) -> std::io::Result<usize> {
        bytes.reserve(self.read_bytes);
        (&mut self.reader).take(self.read_bytes as u64).read_to_end(bytes)
    }

    /// Numbers the line at `start..end` of `bytes` (its `\n` excluded).
    fn line(&mut self, bytes: &[u8], mut start: usize, mut end: usize) -> LineAt {
        if end - start > self.limit {
            return self.too_long((end - start) as u64);
        }
        self.number += 1;
        if self.number == 1 && bytes[start..end].starts_with(UTF8_BOM) {
            // Editors on Windows start UTF-8 files with a byte-order mark;
            // it is not part of the first submission.
            start += UTF8_BOM.len();
        }
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        (self.number, Ok((start, end)))
    }

    /// Numbers a line too long to be a submission, `length` bytes long.
    fn too_long(&mut self, length: u64) -> LineAt {
        self.number += 1;
        (self.number, Err(length))
    }

    fn next_chunk(&mut self) -> std::io::Result<Option<LineChunk>> {
        let mut bytes = Vec::with_capacity(self.carry.len() + CHUNK_BYTES);
        bytes.append(&mut self.carry);
        let mut lines = Vec::with_capacity(self.lines_max);
        // Where the line being read starts, how far it is searched for its
        // end, and (once it is too long to keep) how long it is so far.
        let (mut start, mut searched, mut skipped) = (0, 0, None::<u64>);
        let mut covered = 0u64;
        while lines.len() < self.lines_max {
            if let Some(at) = memchr::memchr(b'\n', &bytes[searched..]) {
                let end = searched + at;
                covered += (end + 1 - start) as u64;
                match skipped.take() {
                    None => lines.push(self.line(&bytes, start, end)),
                    Some(length) => {
                        lines.push(self.too_long(length + (end - start) as u64));
                        // Its bytes are not kept.
                        bytes.drain(start..=end);
                        searched = start;
                        continue;
                    }
                }
                (start, searched) = (end + 1, end + 1);
                continue;
            }
            searched = bytes.len();
            if bytes.len() - start > self.limit {
                // Too long to be a submission: count the rest of it, keep none.
                *skipped.get_or_insert(0) += (bytes.len() - start) as u64;
                covered += (bytes.len() - start) as u64;
                bytes.truncate(start);
                searched = start;
            }
            if self.ended || self.read_more(&mut bytes)? == 0 {
                self.ended = true;
                // The last line has no line end.
                if let Some(length) = skipped {
                    lines.push(self.too_long(length + (bytes.len() - start) as u64));
                } else if start < bytes.len() {
                    lines.push(self.line(&bytes, start, bytes.len()));
                }
                covered += (bytes.len() - start) as u64;
                start = bytes.len();
                break;
            }
        }
        self.carry = bytes.split_off(start);
        Ok((!lines.is_empty()).then_some(LineChunk { bytes, lines, covered }))
    }
}

impl<R: Read> Iterator for LineChunks<R> {
    type Item = std::io::Result<LineChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended && self.carry.is_empty() {
            return None;
        }
        let chunk = self.next_chunk().transpose();
        if matches!(chunk, Some(Err(_))) {
            (self.ended, self.carry) = (true, Vec::new());
        }
        chunk
    }
}

/// Decodes one line; `None` for a blank line.
fn parse_line(line: Result<&[u8], u64>) -> Option<Result<Checked>> {
    match line {
        Err(length) => Some(Err(usage(format!(
            "submission: {length} bytes is more than the {SUBMISSION_BYTES_MAX} a submission may have"
        )))),
        Ok(bytes) if bytes.trim_ascii().is_empty() => None,
        Ok(bytes) => Some(Checked::parse(bytes).map_err(Error::from)),
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
    /// Its lines, in chunks of [`IMPORT_CHUNK_SUBMISSIONS`].
    fn chunks(&self) -> Result<LineChunks<Box<dyn Read + Send + '_>>> {
        let reader: Box<dyn Read + Send> = match self {
            Source::File(path) => {
                Box::new(File::open(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?)
            }
            Source::Bytes(bytes) => Box::new(*bytes),
            Source::Stdin => Box::new(std::io::stdin()),
        };
        Ok(LineChunks::new(reader, SUBMISSION_BYTES_MAX, IMPORT_CHUNK_SUBMISSIONS))
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
    let chunks = source.chunks()?;
    let passed = std::thread::scope(|scope| -> Result<()> {
        let raw = chunks.map(|chunk| chunk.map_err(|e| Error::io("reading the input", e)));
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
fn parse_chunk(chunk: Result<LineChunk>) -> Result<ParsedChunk> {
    let chunk = chunk?;
    let lines = chunk.lines.len();
    let mut parsed =
        ParsedChunk { submissions: Vec::with_capacity(lines), slots: Vec::with_capacity(lines), bytes: chunk.covered };
    for (number, line) in chunk.lines() {
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
    let reader: Box<dyn Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?)
    };
    let limit = events::limits::RECORD_BYTES_MAX;
    let records = LineChunks::new(reader, limit, IMPORT_CHUNK_SUBMISSIONS).flat_map(|chunk| {
        let lines: Vec<Result<Vec<u8>>> = match chunk {
            Err(e) => vec![Err(Error::from(e))],
            Ok(chunk) => chunk
                .lines()
                .filter_map(|line| match line {
                    (_, Ok(bytes)) if bytes.trim_ascii().is_empty() => None,
                    (_, Ok(bytes)) => Some(Ok(bytes.to_vec())),
                    (number, Err(length)) => {
                        Some(Err(usage(format!("line {number}: {length} bytes is more than a record may have"))))
                    }
                })
                .collect(),
        };
        lines
    });
    let verified = Ledger::restore(dir, records)?;
    print(&format!("restored into {}: ok {} records, head {}", dir.display(), verified.count, verified.head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hands out at most `step` bytes a read, as a pipe may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// A line's number, and its bytes or length.
    type Line = (u64, Result<Vec<u8>, u64>);

    /// What the chunks must come to: split at `\n`, the last line kept if
    /// it has bytes, `\r` dropped before `\n` and a byte-order mark at the
    /// start, and a line longer than `limit` as its length.
    fn expected(input: &[u8], limit: usize) -> Vec<Line> {
        let mut parts: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
        if parts.last().is_some_and(|last| last.is_empty()) {
            parts.pop();
        }
        parts
            .into_iter()
            .enumerate()
            .map(|(i, mut line)| {
                let number = i as u64 + 1;
                if line.len() > limit {
                    return (number, Err(line.len() as u64));
                }
                if number == 1 {
                    line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
                }
                (number, Ok(line.strip_suffix(b"\r").unwrap_or(line).to_vec()))
            })
            .collect()
    }

    fn read_all(input: &[u8], step: usize, limit: usize, lines_max: usize) -> (Vec<Line>, u64) {
        let (mut lines, mut covered) = (Vec::new(), 0);
        let mut chunks = LineChunks::new(Trickle { bytes: input, step }, limit, lines_max);
        // Reads of `step` bytes, so that lines (and long ones) span reads.
        chunks.read_bytes = step;
        for chunk in chunks {
            let chunk = chunk.unwrap();
            assert!(chunk.lines.len() <= lines_max && !chunk.lines.is_empty());
            covered += chunk.covered;
            lines.extend(chunk.lines().map(|(n, line)| (n, line.map(<[u8]>::to_vec))));
        }
        (lines, covered)
    }

    #[test]
    fn chunks_split_lines_drop_line_ends_and_the_mark_and_measure_long_lines() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\n0123456789abcdef\r\nshort\nlast";
        let (lines, covered) = read_all(input, 3, 12, 2);
        assert_eq!(lines, expected(input, 12));
        assert_eq!(lines[2], (3, Err(17)), "a long line is reported by its length, its \\r included");
        assert_eq!(lines[0], (1, Ok(b"{\"a\":1}".to_vec())));
        assert_eq!(covered, input.len() as u64, "the progress bar reaches the input's end");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any input, read in any sizes, in chunks of any number of lines,
        /// gives the lines a plain split gives.
        #[test]
        fn chunks_give_the_lines_of_a_plain_split(
            lines in proptest::collection::vec("(\r?\n)?[a-c\r]{0,30}", 0..40),
            end in "(\r?\n)?",
            step in 1usize..64,
            limit in 1usize..24,
            lines_max in 1usize..6,
        ) {
            let input = format!("{}{end}", lines.concat()).into_bytes();
            let (got, covered) = read_all(&input, step, limit, lines_max);
            prop_assert_eq!(got, expected(&input, limit));
            prop_assert_eq!(covered, input.len() as u64);
        }
    }
}
