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
//! Must never: be written before the batch it names is durable.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

const MAGIC: &str = "amity-anchor-v1";
/// `MAGIC seq(20 digits) hash(64 hex)\n`: fixed length, so one in-place
/// write of fewer bytes than a disk sector replaces it whole.
const ANCHOR_BYTES: usize = MAGIC.len() + 1 + 20 + 1 + 64 + 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

/// Longest time a rewritten anchor waits for its `fdatasync`.
pub const ANCHOR_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The open anchor file, owned by the committer.
pub struct AnchorFile {
    file: File,
    /// When the anchor was last made durable; `None` if it is.
    unsynced_since: Option<Instant>,
}

impl AnchorFile {
    /// Reads the anchor at `path`; `None` if there is no file.
    pub fn read(path: &Path) -> Result<Option<Anchor>> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::storage(format!("reading the anchor {}", path.display()), e)),
        };
        let mut bytes = Vec::with_capacity(ANCHOR_BYTES);
        file.by_ref().take(ANCHOR_BYTES as u64 + 1).read_to_end(&mut bytes)?;
        parse(&bytes).map(Some).ok_or_else(|| {
            let problem =
                format!("damaged (expected `{MAGIC} <seq> <hash>`); the ledger will not open until it is restored");
            Error::storage(format!("the anchor {}", path.display()), problem)
        })
    }

    /// Opens (creating if needed) the anchor file for rewriting.
    pub fn open(path: &Path) -> Result<AnchorFile> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        Ok(AnchorFile { file, unsynced_since: None })
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

    /// Makes the last rewrite durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data()?;
        self.unsynced_since = None;
        Ok(())
    }

    fn replace(&self, anchor: &Anchor) -> Result<()> {
        let text = format!("{MAGIC} {:020} {}\n", anchor.seq, anchor.hash);
        assert_eq!(text.len(), ANCHOR_BYTES, "an anchor is a head hash of 64 hex characters");
        self.file.write_all_at(text.as_bytes(), 0)?;
        self.file.set_len(ANCHOR_BYTES as u64)?;
        Ok(())
    }
}

fn parse(bytes: &[u8]) -> Option<Anchor> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.len() != ANCHOR_BYTES || !text.ends_with('\n') {
        return None;
    }
    let mut parts = text.trim_end_matches('\n').split(' ');
    let (magic, seq, hash) = (parts.next()?, parts.next()?, parts.next()?);
    let hash_ok = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let seq_ok = seq.len() == 20 && seq.bytes().all(|b| b.is_ascii_digit());
    if magic != MAGIC || !hash_ok || !seq_ok || parts.next().is_some() {
        return None;
    }
    Some(Anchor { seq: seq.parse().ok()?, hash: hash.to_string() })
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
        std::fs::write(&path, b"").unwrap();
        assert!(AnchorFile::read(&path).unwrap_err().to_string().contains("damaged"));
    }
}
