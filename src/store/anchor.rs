//! The anchor: the last acknowledged `(seq, hash)`, in a small file beside
//! the database, rewritten in place after every batch and `fdatasync`ed at
//! most [`ANCHOR_SYNC_INTERVAL`] apart (and on close). A rewrite reaches the
//! page cache at once, so it survives a killed process; after a power cut it
//! may lag the log by up to that interval, which open accepts (the anchor is
//! the floor of what was acknowledged, never more). Syncing it every batch
//! cost a second `fdatasync` per batch: half the rate of one writer. On
//! open, a log shorter than the anchor, or with another hash at the anchor's
//! seq, means acknowledged records were lost or altered (sled silently opens
//! an empty database when its `conf` file is damaged; this is how we notice).
//! The file has two checksummed slots, so a rewrite cut short by an I/O
//! error or a full disk damages only the slot being rewritten, never the
//! last durable anchor (found under `fiu-run`: an in-place rewrite that
//! failed left a ledger that refused to open).
//! Must never: be written before the batch it names is durable, or rewrite
//! the last durable slot before the other one is durable.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

const MAGIC_V1: &str = "amity-anchor-v1";
const MAGIC: &str = "amity-anchor-v2";
/// A version 1 anchor: `MAGIC_V1 seq(20 digits) hash(64 hex)\n` at offset 0
/// (still read, never written).
const V1_BYTES: usize = MAGIC_V1.len() + 1 + 20 + 1 + 64 + 1;
/// One slot: `MAGIC seq(20) hash(64) check(16 hex)\n`, where `check`
/// begins the SHA-256 of the rest of the line, so a torn write is seen.
const SLOT_TEXT_BYTES: usize = MAGIC.len() + 1 + 20 + 1 + 64 + 1 + 16 + 1;
/// Two slots, at offsets 0 and `SLOT_BYTES`.
const SLOT_BYTES: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

/// Longest time a rewritten anchor waits for its `fdatasync`.
pub const ANCHOR_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The open anchor file, owned by the syncer. Rewrites go to the slot that
/// is not the last durable one, and the slots trade places only once the
/// rewritten one is synced: a write cut short (an I/O error, a full disk, a
/// power cut) can only damage the newer slot, never the durable anchor.
pub struct AnchorFile {
    file: File,
    /// When the anchor was last made durable; `None` if it is.
    unsynced_since: Option<Instant>,
    /// The slot holding the last durable anchor (rewrites go to the other).
    durable: usize,
}

impl AnchorFile {
    /// Reads the anchor at `path`: the valid slot with the highest seq;
    /// `None` if there is no file or nothing was ever written to it.
    pub fn read(path: &Path) -> Result<Option<Anchor>> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::storage(format!("reading the anchor {}", path.display()), e)),
        };
        let mut bytes = Vec::with_capacity(2 * SLOT_BYTES);
        file.by_ref().take(2 * SLOT_BYTES as u64).read_to_end(&mut bytes)?;
        if bytes.iter().all(|b| *b == 0) {
            // Created, but its first write failed: nothing was acknowledged.
            return Ok(None);
        }
        newest(&bytes).map(|(anchor, _)| Some(anchor)).ok_or_else(|| {
            let problem = format!(
                "damaged (expected `{MAGIC} <seq> <hash> <check>`); the ledger will not open until it is restored"
            );
            Error::storage(format!("the anchor {}", path.display()), problem)
        })
    }

    /// Opens (creating if needed) the anchor file for rewriting.
    pub fn open(path: &Path) -> Result<AnchorFile> {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut bytes = Vec::with_capacity(2 * SLOT_BYTES);
        file.by_ref().take(2 * SLOT_BYTES as u64).read_to_end(&mut bytes)?;
        // A new file: the first rewrite goes to slot 0.
        let durable = newest(&bytes).map_or(1, |(_, slot)| slot);
        Ok(AnchorFile { file, unsynced_since: None, durable })
    }

    /// Replaces the anchor and makes it durable.
    pub fn write(&mut self, anchor: &Anchor) -> Result<()> {
        self.replace(anchor)?;
        self.sync()
    }

    /// Replaces the anchor; makes it durable only if the last durable one is
    /// older than [`ANCHOR_SYNC_INTERVAL`].
    pub fn write_lazily(&mut self, anchor: &Anchor) -> Result<()> {
        self.replace(anchor)?;
        let since = *self.unsynced_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= ANCHOR_SYNC_INTERVAL {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes the last rewrite durable; its slot becomes the durable one.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data()?;
        if self.unsynced_since.take().is_some() {
            self.durable = 1 - self.durable;
        }
        Ok(())
    }

    fn replace(&mut self, anchor: &Anchor) -> Result<()> {
        let body = format!("{MAGIC} {:020} {}", anchor.seq, anchor.hash);
        let text = format!("{body} {}\n", check(&body));
        assert_eq!(text.len(), SLOT_TEXT_BYTES, "an anchor is a head hash of 64 hex characters");
        let slot = 1 - self.durable;
        self.file.write_all_at(text.as_bytes(), (slot * SLOT_BYTES) as u64)?;
        self.unsynced_since.get_or_insert_with(Instant::now);
        Ok(())
    }
}

/// The first 16 hex digits of the SHA-256 of a slot's text.
fn check(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..8])
}

/// The valid slot with the highest seq, and which slot it is.
fn newest(bytes: &[u8]) -> Option<(Anchor, usize)> {
    (0..2)
        .filter_map(|slot| {
            let start = slot * SLOT_BYTES;
            let slot_bytes = bytes.get(start..(start + SLOT_BYTES).min(bytes.len()))?;
            parse_slot(slot_bytes).or_else(|| (slot == 0).then(|| parse_v1(slot_bytes)).flatten()).map(|a| (a, slot))
        })
        .max_by_key(|(anchor, _)| anchor.seq)
}

fn fields(text: &str, magic: &str, count: usize) -> Option<Vec<String>> {
    let parts: Vec<&str> = text.split(' ').collect();
    (parts.len() == count && parts[0] == magic).then(|| parts.iter().map(|p| p.to_string()).collect())
}

fn anchor(seq: &str, hash: &str) -> Option<Anchor> {
    let hash_ok = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let seq_ok = seq.len() == 20 && seq.bytes().all(|b| b.is_ascii_digit());
    (hash_ok && seq_ok).then(|| Some(Anchor { seq: seq.parse().ok()?, hash: hash.to_string() })).flatten()
}

fn parse_slot(bytes: &[u8]) -> Option<Anchor> {
    let text = std::str::from_utf8(bytes.get(..SLOT_TEXT_BYTES)?).ok()?.strip_suffix('\n')?;
    let parts = fields(text, MAGIC, 4)?;
    let body = format!("{} {} {}", parts[0], parts[1], parts[2]);
    (check(&body) == parts[3]).then(|| anchor(&parts[1], &parts[2])).flatten()
}

fn parse_v1(bytes: &[u8]) -> Option<Anchor> {
    let text = std::str::from_utf8(bytes.get(..V1_BYTES)?).ok()?.strip_suffix('\n')?;
    let parts = fields(text, MAGIC_V1, 3)?;
    anchor(&parts[1], &parts[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchor");
        assert_eq!(AnchorFile::read(&path).unwrap(), None);
        let anchor = Anchor { seq: 42, hash: "ab".repeat(32) };
        AnchorFile::open(&path).unwrap().write(&anchor).unwrap();
        assert_eq!(AnchorFile::read(&path).unwrap(), Some(anchor));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[30] = b'x';
        std::fs::write(&path, &bytes).unwrap();
        assert!(AnchorFile::read(&path).unwrap_err().to_string().contains("damaged"));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(AnchorFile::read(&path).unwrap_err().to_string().contains("damaged"));
        // Created but never written (its first write failed): no anchor.
        std::fs::write(&path, b"").unwrap();
        assert_eq!(AnchorFile::read(&path).unwrap(), None);
    }

    #[test]
    fn a_torn_rewrite_leaves_the_durable_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchor");
        let (a, b) = (Anchor { seq: 7, hash: "ab".repeat(32) }, Anchor { seq: 9, hash: "cd".repeat(32) });
        let mut file = AnchorFile::open(&path).unwrap();
        file.write(&a).unwrap();
        file.write(&b).unwrap();
        assert_eq!(AnchorFile::read(&path).unwrap(), Some(b.clone()));
        // A rewrite cut short: the first 40 bytes of the next anchor land in
        // the slot being rewritten, the rest is the old text.
        let c = Anchor { seq: 11, hash: "ef".repeat(32) };
        let mut reopened = AnchorFile::open(&path).unwrap();
        reopened.replace(&c).unwrap();
        let slot = 1 - reopened.durable;
        let mut bytes = std::fs::read(&path).unwrap();
        let start = slot * SLOT_BYTES;
        bytes[start + 40..start + SLOT_TEXT_BYTES].copy_from_slice(&[b'0'; SLOT_TEXT_BYTES - 40]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(AnchorFile::read(&path).unwrap(), Some(b), "the durable anchor survives");
    }

    #[test]
    fn a_version_1_anchor_is_read_and_then_rewritten_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchor");
        std::fs::write(&path, format!("{MAGIC_V1} {:020} {}\n", 5, "12".repeat(32))).unwrap();
        assert_eq!(AnchorFile::read(&path).unwrap(), Some(Anchor { seq: 5, hash: "12".repeat(32) }));
        let newer = Anchor { seq: 6, hash: "34".repeat(32) };
        AnchorFile::open(&path).unwrap().write(&newer).unwrap();
        assert_eq!(AnchorFile::read(&path).unwrap(), Some(newer));
    }
}
