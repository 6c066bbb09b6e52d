//! Property tests of the Merkle tree (issue 14): for random logs and any
//! 1 ≤ m ≤ n, every inclusion and consistency proof verifies; a changed
//! record, a changed proof hash, or a forked log's tree fails.

use events::merkle::{
    check_record, check_tree, prove_record, prove_tree, record_hash, Error, Frontier, Hash, HashReader,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Every stored hash of a log, as the ledger keeps them, and each size's root.
struct Tree {
    stored: BTreeMap<u64, Hash>,
    roots: Vec<Hash>,
}

impl HashReader for Tree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
        indexes.iter().map(|i| self.stored.get(i).copied().ok_or(Error::IndexesNotInTree)).collect()
    }
}

fn tree(records: &[Vec<u8>]) -> Tree {
    let mut frontier = Frontier::default();
    let mut tree = Tree { stored: BTreeMap::new(), roots: vec![frontier.root()] };
    for record in records {
        tree.stored.extend(frontier.push(record));
        tree.roots.push(frontier.root());
    }
    tree
}

fn log() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..160)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_proof_verifies_and_a_changed_record_or_hash_does_not(
        records in log(), picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 8),
    ) {
        let tree = tree(&records);
        let n = records.len() as u64;
        for (a, b) in picks {
            let size = 1 + a.index(n as usize) as u64;
            let leaf = b.index(size as usize) as u64;
            let root = tree.roots[size as usize];
            let proof = prove_record(size, leaf, &tree).unwrap();
            prop_assert!(check_record(&proof, size, root, leaf, record_hash(&records[leaf as usize])).is_ok());
            let mut changed = records[leaf as usize].clone();
            changed.push(0);
            prop_assert!(check_record(&proof, size, root, leaf, record_hash(&changed)).is_err());
            if let Some(first) = proof.first() {
                let mut forged = proof.clone();
                forged[0] = Hash(first.0.map(|byte| byte ^ 1));
                prop_assert!(check_record(&forged, size, root, leaf, record_hash(&records[leaf as usize])).is_err());
            }
            let m = 1 + leaf; // any 1 ≤ m ≤ size
            let consistency = prove_tree(size, m, &tree).unwrap();
            prop_assert!(check_tree(&consistency, size, root, m, tree.roots[m as usize]).is_ok());
        }
    }

    #[test]
    fn a_forked_log_is_not_consistent_with_the_original(records in log(), at in any::<prop::sample::Index>()) {
        let original = tree(&records);
        let k = at.index(records.len());
        let mut forked_records = records.clone();
        forked_records[k].push(b'!');
        let forked = tree(&forked_records);
        let n = records.len() as u64;
        // Same size, one record changed: another root.
        prop_assert_ne!(forked.roots[n as usize], original.roots[n as usize]);
        // The fork's tree does not extend the original's at any size that
        // holds the changed record.
        for m in (k as u64 + 1)..=n {
            if m < n {
                let proof = prove_tree(n, m, &forked).unwrap();
                prop_assert!(check_tree(&proof, n, forked.roots[n as usize], m, original.roots[m as usize]).is_err());
            }
        }
    }
}
