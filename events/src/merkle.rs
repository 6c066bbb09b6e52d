//! The Merkle tree over the records, as RFC 6962 / RFC 9162 define it: the
//! leaf hash of record `seq` is SHA-256(0x00 ‖ its stored bytes), an interior
//! node SHA-256(0x01 ‖ left ‖ right), and leaf index = seq − 1. The math is
//! the `tlog_tiles` crate (Cloudflare's port of Go's `sumdb/tlog`), so the
//! proofs are the ones Certificate Transparency and Go's checksum database
//! check.
//!
//! Layout (what the store keeps per record): Go's "stored hashes". Writing
//! leaf `n` (0-based) stores, at consecutive indexes from
//! `stored_hash_index(0, n)`, its leaf hash and the root of every complete
//! subtree that leaf completes: just under two 32-byte hashes per record on
//! average, `stored_hash_count(N)` for N records. Any tree size's root and
//! any inclusion or consistency proof then read O(log N) of them.
//!
//! [`Frontier`] is the write side: the roots of the complete subtrees that
//! make up the tree now (at most 64), which is all a new leaf needs. It is
//! pure: the store loads it, feeds it sealed records and writes what it
//! returns.

pub use tlog_tiles::{
    check_record, check_tree, node_hash, prove_record, prove_tree, record_hash, stored_hash_count, stored_hash_index,
    sub_tree_index, tree_hash, Error, Hash, HashReader, EMPTY_HASH,
};

/// Hashes as a proof lists them: base64.
pub fn encoded(path: &[Hash]) -> Vec<String> {
    path.iter().map(ToString::to_string).collect()
}

/// An inclusion proof of record `seq` in the tree of `size` records, in
/// Certificate Transparency's JSON shape (RFC 6962 §4.5).
pub fn inclusion_json(seq: u64, size: u64, path: &[Hash]) -> serde_json::Value {
    serde_json::json!({"leaf_index": seq - 1, "tree_size": size, "audit_path": encoded(path)})
}

/// A consistency proof from the tree of `from` records to the tree of `to`,
/// in Certificate Transparency's JSON shape (RFC 6962 §4.4).
pub fn consistency_json(from: u64, to: u64, path: &[Hash]) -> serde_json::Value {
    serde_json::json!({"first": from, "second": to, "consistency": encoded(path)})
}

/// The right edge of the tree: enough to extend it by one record at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frontier {
    size: u64,
    /// The roots of the complete subtrees that make up the tree, largest
    /// first: the stored hashes at [`Frontier::needed`]`(size)`.
    edge: CompactRange,
}

impl Frontier {
    /// The stored hash indexes a frontier of `size` records holds (the
    /// complete subtrees, largest first).
    pub fn needed(size: u64) -> Vec<u64> {
        sub_tree_index(0, size, Vec::new())
    }

    /// A frontier from the stored hashes at [`Frontier::needed`]`(size)`,
    /// in that order.
    pub fn from_stored(size: u64, hashes: Vec<Hash>) -> Result<Frontier, String> {
        // One complete subtree per bit set in `size`, the highest first.
        let heights: Vec<u32> = (0..64).rev().filter(|bit| size >> bit & 1 == 1).collect();
        if heights.len() != hashes.len() {
            return Err(format!(
                "a tree of {size} records needs {} stored hashes, not {}",
                heights.len(),
                hashes.len()
            ));
        }
        Ok(Frontier { size, edge: CompactRange { roots: heights.into_iter().zip(hashes).collect() } })
    }

    /// How many records the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds the record whose stored bytes are `bytes`; returns the stored
    /// hashes to write, with their indexes (consecutive, ascending).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(u64, Hash)> {
        self.push_leaf(record_hash(bytes))
    }

    /// [`Frontier::push`] with the leaf hash already computed.
    pub fn push_leaf(&mut self, leaf: Hash) -> Vec<(u64, Hash)> {
        let mut stored = Vec::with_capacity(2);
        self.push_leaf_into(leaf, &mut stored);
        stored
    }

    /// The leaf's hash, then the root of each complete subtree it
    /// completes, at consecutive indexes from `stored_hash_index(0, n)`
    /// (Go's `StoredHashesForRecordHash`, without reading anything back),
    /// appended to `stored` (so a batch of records takes one vector, not
    /// one each).
    pub fn push_leaf_into(&mut self, leaf: Hash, stored: &mut Vec<(u64, Hash)>) {
        let mut index = stored_hash_index(0, self.size);
        stored.push((index, leaf));
        self.edge.push(0, leaf, |hash| {
            index += 1;
            stored.push((index, hash));
        });
        self.size += 1;
    }

    /// The root hash of the tree (SHA-256 of nothing when empty).
    pub fn root(&self) -> Hash {
        self.edge.root()
    }
}

/// The root of a run of leaves without storing anything: the roots of the
/// complete subtrees that cover them, largest first (RFC 9162's compact
/// range). `verify` folds each chunk of leaves into one on its workers and
/// joins the chunks in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactRange {
    /// (height, root): a subtree of 2^height leaves.
    roots: Vec<(u32, Hash)>,
}

impl CompactRange {
    pub fn push_leaf(&mut self, leaf: Hash) {
        self.push(0, leaf, |_| {});
    }

    /// Appends a complete subtree of 2^`height` leaves, telling `merged`
    /// each larger subtree it completes. Only right where the leaves so far
    /// are a multiple of 2^`height` (as [`Self::extend`] by aligned chunks
    /// keeps them).
    fn push(&mut self, mut height: u32, mut hash: Hash, mut merged: impl FnMut(Hash)) {
        while let Some(&(top, left)) = self.roots.last() {
            if top != height {
                break;
            }
            self.roots.pop();
            hash = node_hash(left, hash);
            merged(hash);
            height += 1;
        }
        self.roots.push((height, hash));
    }

    /// Appends the leaves `next` covers, which follow these. Right when
    /// these leaves are a multiple of `next`'s largest subtree: chunks of
    /// 2^k leaves, aligned, the last of them possibly shorter.
    pub fn extend(&mut self, next: CompactRange) {
        for (height, hash) in next.roots {
            self.push(height, hash, |_| {});
        }
    }

    /// The tree's root hash (SHA-256 of nothing when empty).
    pub fn root(&self) -> Hash {
        let mut subtrees = self.roots.iter().rev().map(|&(_, hash)| hash);
        match subtrees.next() {
            None => EMPTY_HASH,
            Some(last) => subtrees.fold(last, |right, left| node_hash(left, right)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::collections::BTreeMap;

    /// The root of leaves `[lo, hi)` by RFC 6962's recursive definition,
    /// written out independently of `tlog_tiles`.
    fn reference_root(leaves: &[Vec<u8>]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest(b"").into(),
            1 => Sha256::new().chain_update([0u8]).chain_update(&leaves[0]).finalize().into(),
            n => {
                // The largest power of two smaller than n.
                let mut split = 1;
                while split * 2 < n {
                    split *= 2;
                }
                let (left, right) = (reference_root(&leaves[..split]), reference_root(&leaves[split..]));
                Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
            }
        }
    }

    /// A store of every stored hash, as the ledger keeps them.
    struct Stored(BTreeMap<u64, Hash>);

    impl HashReader for Stored {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
            indexes.iter().map(|i| self.0.get(i).copied().ok_or(Error::IndexesNotInTree)).collect()
        }
    }

    #[test]
    fn the_frontier_matches_rfc_6962_and_its_stored_hashes_give_checkable_proofs() {
        let leaves: Vec<Vec<u8>> = (0..70u32).map(|i| format!("{{\"seq\":{}}}", i + 1).into_bytes()).collect();
        let mut frontier = Frontier::default();
        let mut stored = Stored(BTreeMap::new());
        let mut roots = vec![frontier.root()];
        let (mut batched, mut batch) = (Frontier::default(), Vec::new());
        for (i, leaf) in leaves.iter().enumerate() {
            stored.0.extend(frontier.push(leaf));
            batched.push_leaf_into(record_hash(leaf), &mut batch);
            assert_eq!(
                batch,
                stored.0.iter().map(|(i, h)| (*i, *h)).collect::<Vec<_>>(),
                "one vector, the same hashes"
            );
            assert_eq!(stored.0.len() as u64, stored_hash_count(i as u64 + 1));
            assert_eq!(frontier.root().0, reference_root(&leaves[..=i]), "root of {} leaves", i + 1);
            assert_eq!(tree_hash(i as u64 + 1, &stored).unwrap(), frontier.root());
            roots.push(frontier.root());
        }
        for size in 1..=70u64 {
            for n in 0..size {
                let proof = prove_record(size, n, &stored).unwrap();
                let leaf = record_hash(&leaves[n as usize]);
                check_record(&proof, size, roots[size as usize], n, leaf).unwrap();
                assert!(check_record(&proof, size, roots[size as usize], n, record_hash(b"other")).is_err());
            }
            for old in 1..=size {
                let proof = prove_tree(size, old, &stored).unwrap();
                check_tree(&proof, size, roots[size as usize], old, roots[old as usize]).unwrap();
            }
        }
        for chunk in [1usize, 2, 4, 8, 16] {
            for size in 0..=70 {
                let mut whole = CompactRange::default();
                for piece in leaves[..size].chunks(chunk) {
                    let mut part = CompactRange::default();
                    piece.iter().for_each(|leaf| part.push_leaf(record_hash(leaf)));
                    whole.extend(part);
                }
                assert_eq!(whole.root(), roots[size], "{size} leaves in chunks of {chunk}");
            }
        }
        let reloaded: Vec<Hash> = Frontier::needed(70).iter().map(|i| stored.0[i]).collect();
        assert_eq!(Frontier::from_stored(70, reloaded).unwrap(), frontier);
    }
}
