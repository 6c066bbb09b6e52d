//! `amity prove`: Merkle inclusion and consistency proofs (RFC 6962), printed
//! for people or, with `--json`, in Certificate Transparency's JSON shapes
//! (`get-proof-by-hash` and `get-sth-consistency`), so existing tools read
//! them.

use super::read::print;
use super::usage;
use crate::error::Result;
use crate::store::Ledger;

/// What to prove.
pub enum Proof {
    /// The record (id or seq) is in the tree of `size` records.
    Inclusion { key: String, size: Option<u64> },
    /// The tree of `to` records extends the tree of `from`.
    Consistency { from: u64, to: Option<u64> },
}

pub fn run(ledger: &Ledger, proof: Proof, as_json: bool) -> Result<()> {
    let head = ledger.head().seq;
    match proof {
        Proof::Inclusion { key, size } => {
            let seq = match key.parse::<u64>() {
                Ok(seq) => seq,
                Err(_) => ledger.seq_of(&key)?.ok_or_else(|| usage(format!("no event with id `{key}`")))?,
            };
            let size = size.unwrap_or(head);
            let path = ledger.prove_inclusion(seq, size)?;
            if as_json {
                return print(&events::merkle::inclusion_json(seq, size, &path).to_string());
            }
            let audit_path = events::merkle::encoded(&path);
            let bytes = ledger.get_bytes(seq)?.ok_or_else(|| usage(format!("no record at seq {seq}")))?;
            print(&format!(
                "seq {seq} (leaf index {}) is in the tree of {size} records\nleaf hash  {}\nroot hash  {}\naudit path ({} hashes):\n{}",
                seq - 1,
                events::merkle::record_hash(&bytes),
                ledger.tree_hash(size)?,
                audit_path.len(),
                audit_path.iter().map(|h| format!("  {h}")).collect::<Vec<_>>().join("\n")
            ))
        }
        Proof::Consistency { from, to } => {
            let to = to.unwrap_or(head);
            let path = ledger.prove_consistency(from, to)?;
            if as_json {
                return print(&events::merkle::consistency_json(from, to, &path).to_string());
            }
            let consistency = events::merkle::encoded(&path);
            print(&format!(
                "the tree of {to} records extends the tree of {from}\nroot of {from}  {}\nroot of {to}  {}\nproof ({} hashes):\n{}",
                ledger.tree_hash(from)?,
                ledger.tree_hash(to)?,
                consistency.len(),
                consistency.iter().map(|h| format!("  {h}")).collect::<Vec<_>>().join("\n")
            ))
        }
    }
}
