//! Checkpoints of derived state, each a file in the ledger directory: the
//! views (`views.checkpoint`, saved by the projector) and the ledger's
//! knowledge (`knowledge.checkpoint`, saved by the committer), each with the
//! seq (and hash) it reflects, so that opening a large ledger does not
//! replay it from the start. A checkpoint is a cache, never a source of
//! truth: one from another format, one whose hash does not match the log at
//! its seq, or one that does not decode is discarded and rebuilt.
//! [`catch_up`] brings both up to the log in one pass.
//!
//! File layout: format (u32 BE) ‖ seq (u64 BE) ‖ hash (64 hex bytes) ‖ the
//! state in postcard (a compact binary serde format: saving and loading the
//! whole state is several times faster than JSON, and smaller) ‖ SHA-256 of
//! everything before it (32 bytes). A binary format can decode damaged bytes
//! into a wrong state without complaint, hence the digest.
//!
//! Files, not sled values: a state is serialized straight into its file
//! through a buffer (a sled value had to be built whole in memory, copied
//! into sled and kept as a blob beside the previous one until sled reclaimed
//! it: at 1M records that was ~300 MB of peak memory per save and twice the
//! state on disk). A save writes `NAME.tmp` and renames it over the old
//! file; it is not synced: a crash may leave a torn file, which its digest
//! rejects, so the cost is a longer catch-up, never a wrong state.

use super::sled_error;
use crate::error::{Error, Result};
use events::{ChainError, ContentDigest, EventType, Knowledge, RecordRef};
use projections::{Event, Views};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const HEADER_BYTES: usize = 4 + 8 + 64;
const DIGEST_BYTES: usize = 32;

/// Derived state that is checkpointed.
pub trait State: Serialize + DeserializeOwned + Default {
    /// The file's name, before `.checkpoint`.
    const KEY: &'static str;
    /// Bumped whenever the serialized layout or the fold's meaning changes.
    const FORMAT: u32;
    fn seq(&self) -> u64;
}

impl State for Views {
    const KEY: &'static str = "views";
    const FORMAT: u32 = Views::FORMAT;
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl State for Knowledge {
    const KEY: &'static str = "knowledge";
    /// 3: streams held as kind and id, each with its version and entity.
    /// 4: content digests continue the data's SHA-256 prefix.
    const FORMAT: u32 = 4;
    fn seq(&self) -> u64 {
        Knowledge::seq(self)
    }
}

/// Records folded since the last checkpoint before the committer writes a
/// new one (and always on close), at the least; see [`checkpoint_due`].
pub const CHECKPOINT_INTERVAL_RECORDS: u64 = 100_000;

/// Whether views at `seq` should be checkpointed when the last checkpoint is
/// at `checkpointed`. A checkpoint holds the whole state, which grows with
/// the ledger, so a fixed interval made saving quadratic in the ledger's
/// size (at 1M records, most of an import); waiting until the ledger has
/// also grown by half since the last one keeps the total linear, and bounds
/// the replay after a crash to a third of the ledger.
pub fn checkpoint_due(seq: u64, checkpointed: u64) -> bool {
    let since = seq.saturating_sub(checkpointed);
    since >= CHECKPOINT_INTERVAL_RECORDS && since >= checkpointed / 2
}

/// Where a ledger keeps its checkpoint files.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    pub fn new(dir: &Path) -> Checkpoints {
        Checkpoints { dir: dir.to_path_buf() }
    }

    fn path<T: State>(&self) -> PathBuf {
        self.dir.join(format!("{}.checkpoint", T::KEY))
    }

    /// The stored checkpoint, if there is one. The error says why it cannot
    /// be used; the caller logs it and rebuilds the state.
    pub fn load<T: State>(&self, log: &sled::Tree) -> Result<Option<T>, String> {
        let bytes = match std::fs::read(self.path::<T>()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("reading it: {e}")),
        };
        if bytes.len() < HEADER_BYTES + DIGEST_BYTES {
            return Err("checkpoint is truncated".into());
        }
        let (content, digest) = bytes.split_at(bytes.len() - DIGEST_BYTES);
        if Sha256::digest(content).as_slice() != digest {
            return Err("checkpoint is damaged: its digest does not match".into());
        }
        let format = u32::from_be_bytes(content[..4].try_into().expect("4 bytes"));
        if format != T::FORMAT {
            return Err(format!("checkpoint format {format} is not the current {}", T::FORMAT));
        }
        let seq = u64::from_be_bytes(content[4..12].try_into().expect("8 bytes"));
        let hash = std::str::from_utf8(&content[12..76]).map_err(|_| "checkpoint hash is not text")?;
        let stored = log.get(seq.to_be_bytes()).map_err(|e| e.to_string())?;
        let matches = match stored {
            Some(record) if seq > 0 => RecordRef::decode(&record).is_ok_and(|r| r.hash == hash),
            None if seq == 0 => true,
            _ => false,
        };
        if !matches {
            return Err(format!("checkpoint at seq {seq} does not match the log"));
        }
        let loaded: T = postcard::from_bytes(&content[HEADER_BYTES..]).map_err(|e| format!("checkpoint: {e}"))?;
        drop(bytes);
        if loaded.seq() != seq {
            return Err(format!("checkpoint says seq {seq} but its state is at {}", loaded.seq()));
        }
        Ok(Some(loaded))
    }

    /// The seq the stored checkpoint of `T` says it reflects (its header
    /// only; not checked against the log).
    pub fn saved_seq<T: State>(&self) -> Result<Option<u64>> {
        let path = self.path::<T>();
        let mut header = [0u8; 12];
        match std::fs::File::open(&path).and_then(|mut file| file.read_exact(&mut header)) {
            Ok(()) => Ok(Some(u64::from_be_bytes(header[4..12].try_into().expect("8 bytes")))),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof) => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Saves `state`; `hash` is the hash of the record at `state.seq()`.
    /// The state is serialized straight into the file (no copy of it in
    /// memory); a failed save removes its temporary file.
    pub fn save<T: State>(&self, state: &T, hash: &str) -> Result<()> {
        let path = self.path::<T>();
        let temporary = path.with_extension("tmp");
        let written = (|| -> std::io::Result<()> {
            let file = std::fs::File::create(&temporary)?;
            // Buffered before it is hashed: the serializer writes a few
            // bytes at a time, and SHA-256 is fastest given a megabyte.
            let hashing = Hashing { inner: file, digest: Sha256::new() };
            let mut out = std::io::BufWriter::with_capacity(1 << 20, hashing);
            out.write_all(&T::FORMAT.to_be_bytes())?;
            out.write_all(&state.seq().to_be_bytes())?;
            out.write_all(hash.as_bytes())?;
            let out = postcard::to_io(state, out).map_err(std::io::Error::other)?;
            let Hashing { inner: mut file, digest } = out.into_inner().map_err(|e| e.into_error())?;
            file.write_all(&digest.finalize())?;
            drop(file);
            std::fs::rename(&temporary, &path)
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            Error::io(format!("saving {}", path.display()), e)
        })
    }

    pub fn remove<T: State>(&self) -> Result<()> {
        let path = self.path::<T>();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// The stored checkpoint, or a fresh state when there is none or it
    /// cannot be used (which is logged, and the bad checkpoint removed).
    pub fn load_or_default<T: State>(&self, log: &sled::Tree) -> Result<T> {
        match self.load::<T>(log) {
            Ok(Some(state)) => Ok(state),
            Ok(None) => Ok(T::default()),
            Err(reason) => {
                tracing::warn!(%reason, "discarding the {} checkpoint; rebuilding it from the log", T::KEY);
                self.remove::<T>()?;
                Ok(T::default())
            }
        }
    }
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    digest: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.digest.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Records per message between the scanning, decoding and folding threads.
const FOLD_BATCH_RECORDS: usize = 1024;
/// Chunks in flight to and from each decoder: bounds the memory the
/// pipeline holds.
const FOLD_BATCHES_IN_FLIGHT: usize = 2;
/// Threads that decode chunks while the caller folds them in seq order.
const DECODERS: usize = 2;

/// One stored record, decoded once for both folds.
struct Decoded {
    seq: u64,
    event_type: Option<EventType>,
    content: ContentDigest,
    event: Option<Event>,
}

type Raw = Result<Vec<(sled::IVec, sled::IVec)>>;
type Chunk = Result<Vec<Decoded>>;

/// Brings `views` and `knowledge` (either may be absent) up to seq `to`,
/// reading the log once from the first seq either lacks, and calling
/// `progress` with each seq. One thread scans the log in chunks, [`DECODERS`]
/// threads decode alternate chunks (decoding is the larger cost), and this
/// thread folds them in seq order, a chunk at a time: the knowledge, then
/// the views ([`Views::apply_all`]). A sled read failure is a storage error;
/// a gap, or a record that does not decode, is a chain error naming its seq.
pub fn catch_up(
    mut views: Option<&mut Views>,
    mut knowledge: Option<&mut Knowledge>,
    log: &sled::Tree,
    to: u64,
    mut progress: impl FnMut(u64),
) -> Result<()> {
    let views_seq = views.as_ref().map_or(u64::MAX, |v| v.seq);
    let knowledge_seq = knowledge.as_ref().map_or(u64::MAX, |k| k.seq());
    let from = views_seq.min(knowledge_seq).saturating_add(1);
    if from > to {
        return Ok(());
    }
    let mut expected = from;
    std::thread::scope(|scope| -> Result<()> {
        let (mut to_decoders, mut from_decoders) = (Vec::new(), Vec::new());
        for _ in 0..DECODERS {
            let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Raw>(FOLD_BATCHES_IN_FLIGHT);
            let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(FOLD_BATCHES_IN_FLIGHT);
            scope.spawn(move || {
                for raw in raw_rx {
                    let decoded =
                        raw.and_then(|entries| entries.iter().map(|(key, value)| decode_entry(key, value)).collect());
                    if chunk_tx.send(decoded).is_err() {
                        return;
                    }
                }
            });
            to_decoders.push(raw_tx);
            from_decoders.push(chunk_rx);
        }
        scope.spawn(move || {
            let mut entries = log.range(from.to_be_bytes()..=to.to_be_bytes());
            for decoder in (0..DECODERS).cycle() {
                let raw: Raw = entries
                    .by_ref()
                    .take(FOLD_BATCH_RECORDS)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| sled_error("reading the log", e));
                let last = matches!(&raw, Ok(entries) if entries.len() < FOLD_BATCH_RECORDS) || raw.is_err();
                if to_decoders[decoder].send(raw).is_err() || last {
                    return;
                }
            }
        });
        for decoder in (0..DECODERS).cycle() {
            let Ok(chunk) = from_decoders[decoder].recv() else {
                break;
            };
            let chunk = chunk?;
            let ended = chunk.len() < FOLD_BATCH_RECORDS;
            for decoded in &chunk {
                let seq = decoded.seq;
                if seq != expected {
                    return Err(ChainError {
                        seq: expected,
                        problem: format!("missing: the log goes on at seq {seq}"),
                    }
                    .into());
                }
                expected += 1;
                if let Some(knowledge) = knowledge.as_deref_mut().filter(|k| k.seq() < seq) {
                    let (Some(event_type), Some(event)) = (decoded.event_type, &decoded.event) else {
                        return Err(ChainError { seq, problem: "the record's payload does not decode".into() }.into());
                    };
                    knowledge
                        .absorb_data(seq, &event.id, event_type, decoded.content, &event.data)
                        .map_err(|problem| ChainError { seq, problem })?;
                }
            }
            if let Some(views) = views.as_deref_mut() {
                let folded = chunk.partition_point(|decoded| decoded.seq <= views.seq);
                views.apply_all(&chunk[folded..], |decoded| (decoded.seq, decoded.event.as_ref()));
            }
            chunk.iter().for_each(|decoded| progress(decoded.seq));
            if ended {
                break;
            }
        }
        Ok(())
    })?;
    if expected <= to {
        let problem = format!("missing: the log ends at seq {} but seq {to} was acknowledged", expected - 1);
        return Err(ChainError { seq: expected, problem }.into());
    }
    Ok(())
}

fn decode_entry(key: &[u8], value: &[u8]) -> Result<Decoded> {
    let seq = super::log_seq(key)?;
    decode(seq, value).map_err(|problem| ChainError { seq, problem }.into())
}

fn decode(seq: u64, bytes: &[u8]) -> std::result::Result<Decoded, String> {
    let record = RecordRef::decode(bytes)?;
    if record.seq != seq {
        return Err(format!("the record stored here says seq {}", record.seq));
    }
    let event = Event::from_record(&record);
    Ok(Decoded { seq, event_type: record.event_type.parse().ok(), content: record.content_digest(), event })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both states come back from their checkpoint exactly as saved (a
    /// binary format cannot skip fields, so a serde attribute that does
    /// makes a checkpoint that never loads and a full refold on every open).
    #[test]
    fn the_knowledge_and_the_views_round_trip_through_their_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path().join("ledger")).open().unwrap();
        let (log, checkpoints) = (db.open_tree("log").unwrap(), Checkpoints::new(dir.path()));
        let records = events::generate::seal(&events::generate::History::generate(9, 500));
        for record in &records {
            log.insert(record.seq.to_be_bytes(), record.canonical_bytes()).unwrap();
        }
        let (mut knowledge, mut views) = (Knowledge::default(), Views::default());
        catch_up(Some(&mut views), Some(&mut knowledge), &log, 500, |_| {}).unwrap();
        let hash = &records[499].hash;
        checkpoints.save(&knowledge, hash).unwrap();
        checkpoints.save(&views, hash).unwrap();
        assert_eq!(checkpoints.saved_seq::<Views>().unwrap(), Some(500));
        assert_eq!(checkpoints.load::<Knowledge>(&log), Ok(Some(knowledge)));
        assert_eq!(checkpoints.load::<Views>(&log), Ok(Some(views)));
    }

    #[test]
    fn checkpoints_come_at_least_an_interval_and_half_the_ledger_apart() {
        assert!(!checkpoint_due(99_999, 0));
        assert!(checkpoint_due(100_000, 0));
        assert!(checkpoint_due(200_000, 100_000));
        assert!(!checkpoint_due(1_000_000, 900_000), "only a ninth more");
        assert!(checkpoint_due(1_350_000, 900_000));
        // Saved at seqs 100k, 200k, 300k, 450k, 675k…: O(log n) saves, O(n) bytes in all.
        let (mut at, mut saves) = (0, 0);
        for seq in (0..=10_000_000u64).step_by(1_000) {
            if checkpoint_due(seq, at) {
                at = seq;
                saves += 1;
            }
        }
        assert!(saves <= 12, "{saves} saves for 10M records");
    }
}
