//! `amity bundle` and `amity audit`: an offline audit bundle. One JSON file
//! holds a signed checkpoint, a contiguous run of records (their stored
//! bytes, as exact text) and each record's inclusion proof in the
//! checkpoint's tree; `audit` checks it with the verifier key alone, with no
//! ledger and no network.
//!
//! `{"format": "amity-bundle-v1", "checkpoint": "<signed note>",
//!   "records": [{"seq": S, "record": "<stored bytes>", "audit_path": [base64…]}, …]}`

use super::read::print;
use super::usage;
use crate::error::{Error, Result};
use crate::signing::Key;
use crate::store::Ledger;
use events::merkle::{check_record, record_hash, Hash};
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT: &str = "amity-bundle-v1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bundle {
    format: String,
    checkpoint: String,
    records: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    seq: u64,
    record: String,
    audit_path: Vec<String>,
}

/// Parses `A..B` (inclusive; `A..` to the durable head).
fn parse_range(range: &str, head: u64) -> Result<(u64, u64)> {
    let bad = || usage(format!("seq: `{range}` is not a range A..B (1 ≤ A ≤ B ≤ {head})"));
    let (from, to) = range.split_once("..").ok_or_else(bad)?;
    let from: u64 = from.parse().map_err(|_| bad())?;
    let to: u64 = if to.is_empty() { head } else { to.parse().map_err(|_| bad())? };
    if from == 0 || from > to || to > head {
        return Err(bad());
    }
    Ok((from, to))
}

pub fn bundle(ledger: &Ledger, key: &Key, range: &str, out: &Path) -> Result<()> {
    let size = ledger.head().seq;
    let (from, to) = parse_range(range, size)?;
    let checkpoint = key.sign(size, ledger.tree_hash(size)?)?;
    let mut records = Vec::with_capacity((to - from + 1) as usize);
    for entry in ledger.range_bytes(from, to) {
        let (seq, bytes) = entry?;
        let audit_path = events::merkle::encoded(&ledger.prove_inclusion(seq, size)?);
        let record =
            String::from_utf8(bytes).map_err(|e| Error::Chain(events::ChainError { seq, problem: e.to_string() }))?;
        records.push(Entry { seq, record, audit_path });
    }
    let bundle = Bundle { format: FORMAT.into(), checkpoint, records };
    let text = serde_json::to_string(&bundle).expect("a bundle serializes");
    std::fs::write(out, text + "\n").map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
    print(&format!(
        "bundled records {from}..{to} with their proofs in the tree of {size} records, signed by {}, into {}",
        key.origin(),
        out.display()
    ))
}

/// Checks a bundle against `key`: a verifier key, or a file holding one.
pub fn audit(file: &Path, key: &str) -> Result<()> {
    let vkey = match std::fs::read_to_string(key) {
        Ok(text) => text.trim().to_string(),
        Err(_) => key.trim().to_string(),
    };
    let verifier = signed_note::StandardVerifier::new(&vkey)
        .map_err(|e| usage(format!("key: not a note verifier key (NAME+hash+base64): {e:?}")))?;
    let name = signed_note::Verifier::name(&verifier).to_string();
    let text = std::fs::read(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
    let bundle: Bundle =
        serde_json::from_slice(&text).map_err(|e| usage(format!("{}: not a bundle: {e}", file.display())))?;
    if bundle.format != FORMAT {
        return Err(usage(format!("format: `{}` is not {FORMAT}", bundle.format)));
    }
    let failed = |seq: u64, problem: String| Error::Chain(events::ChainError { seq, problem });
    // The checkpoint: signed by this key, and naming this key's log.
    let note = signed_note::Note::from_bytes(bundle.checkpoint.as_bytes())
        .map_err(|e| failed(0, format!("the checkpoint is not a signed note: {e:?}")))?;
    let known = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    note.verify(&known)
        .map_err(|e| failed(0, format!("the checkpoint's signature does not verify with {name}: {e:?}")))?;
    let checkpoint = tlog_tiles::Checkpoint::from_bytes(note.text())
        .map_err(|_| failed(0, "the signed text is not a tlog checkpoint".into()))?;
    if checkpoint.origin() != name {
        return Err(failed(0, format!("the checkpoint's origin `{}` is not the key's `{name}`", checkpoint.origin())));
    }
    let (size, root) = (checkpoint.size(), *checkpoint.hash());
    // Each record: canonical, its own hash right, linked to the one before,
    // and included in the checkpoint's tree.
    let mut previous: Option<(u64, String)> = None;
    for entry in &bundle.records {
        let seq = entry.seq;
        let link = events::check_stored(entry.record.as_bytes()).map_err(|p| failed(seq, p))?;
        if link.seq != seq {
            return Err(failed(seq, format!("the record says seq {}", link.seq)));
        }
        if let Some((before, hash)) = &previous {
            if seq != before + 1 || link.prev != *hash {
                return Err(failed(seq, format!("does not follow seq {before} (prev {}, expected {hash})", link.prev)));
            }
        }
        let path = entry
            .audit_path
            .iter()
            .map(|h| Hash::parse_hash(h).map_err(|_| failed(seq, format!("audit path: `{h}` is not a base64 hash"))))
            .collect::<Result<Vec<_>>>()?;
        if seq == 0 || seq > size {
            return Err(failed(seq, format!("not in a tree of {size} records")));
        }
        check_record(&path, size, root, seq - 1, record_hash(entry.record.as_bytes()))
            .map_err(|_| failed(seq, format!("its inclusion proof does not lead to the checkpoint's root {root}")))?;
        previous = Some((seq, link.hash));
    }
    let (first, last) = match (bundle.records.first(), bundle.records.last()) {
        (Some(first), Some(last)) => (first.seq, last.seq),
        _ => return Err(usage("the bundle holds no records")),
    };
    print(&format!(
        "ok: records {first}..{last} ({} records) are in the ledger {name} of {size} records, root {root}, as its signed checkpoint says",
        bundle.records.len()
    ))
}
