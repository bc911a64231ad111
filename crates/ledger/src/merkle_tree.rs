//! An append-and-update Merkle tree over persistent vectors.
//!
//! It computes the same roots and proofs as `hansa_types::merkle` (that module is the
//! specification), but incrementally: leaves are set or appended freely, and `commit` rehashes
//! only the paths above the leaves that changed since the last commit. Its levels are `imbl`
//! vectors, so a clone (a speculative state per unfinalized block) costs O(1).

use hansa_types::Hash;
use hansa_types::merkle::{MerkleProof, node_hash};
use imbl::Vector;

#[derive(Clone, Debug, Default)]
pub struct MerkleTree {
    /// `levels[0]` holds the leaf hashes; `levels[k][i]` is the node over
    /// `levels[k-1][2i]` and `levels[k-1][2i+1]`. Valid only after `commit`.
    levels: Vec<Vector<Hash>>,
    /// Leaf positions changed since the last commit (duplicates allowed).
    dirty: Vec<u64>,
}

impl MerkleTree {
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    pub fn push(&mut self, leaf: Hash) -> u64 {
        assert_ne!(leaf, Hash::ZERO, "a leaf hash is never zero");
        if self.levels.is_empty() {
            self.levels.push(Vector::new());
        }
        let position = self.len();
        self.levels[0].push_back(leaf);
        self.dirty.push(position);
        position
    }

    pub fn set(&mut self, position: u64, leaf: Hash) {
        assert_ne!(leaf, Hash::ZERO, "a leaf hash is never zero");
        assert!(position < self.len(), "set beyond the end of the tree");
        self.levels[0].set(position as usize, leaf);
        self.dirty.push(position);
    }

    /// Rehashes the paths above every leaf changed since the last commit.
    pub fn commit(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let mut positions = std::mem::take(&mut self.dirty);
        positions.sort_unstable();
        positions.dedup();
        let mut level = 0;
        while self.levels[level].len() > 1 {
            let width = self.levels[level].len().div_ceil(2);
            if self.levels.len() == level + 1 {
                self.levels.push(Vector::new());
            }
            let mut parents: Vec<u64> = positions.iter().map(|position| position / 2).collect();
            parents.dedup();
            for &parent in &parents {
                let left = self.levels[level][(parent * 2) as usize];
                let right = self.levels[level].get((parent * 2 + 1) as usize).copied().unwrap_or(Hash::ZERO);
                let hash = node_hash(&left, &right);
                let above = &mut self.levels[level + 1];
                if (parent as usize) < above.len() {
                    above.set(parent as usize, hash);
                } else {
                    assert_eq!(parent as usize, above.len(), "levels grow one node at a time");
                    above.push_back(hash);
                }
            }
            assert_eq!(self.levels[level + 1].len(), width, "level width after commit");
            positions = parents;
            level += 1;
        }
        self.levels.truncate(level + 1);
    }

    pub fn root(&self) -> Hash {
        assert!(self.dirty.is_empty(), "root read before commit");
        match self.levels.last() {
            Some(top) if !top.is_empty() => top[0],
            _ => Hash::ZERO,
        }
    }

    pub fn prove(&self, position: u64) -> Option<MerkleProof> {
        assert!(self.dirty.is_empty(), "proof read before commit");
        if position >= self.len() {
            return None;
        }
        let mut siblings = Vec::new();
        let mut index = position as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            siblings.push(level.get(index ^ 1).copied().unwrap_or(Hash::ZERO));
            index /= 2;
        }
        Some(MerkleProof { index: position, leaf_count: self.len(), siblings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hansa_types::merkle::{self, leaf_hash};

    #[test]
    fn matches_the_specification_under_appends_and_updates() {
        let mut tree = MerkleTree::default();
        let mut leaves = Vec::new();
        for step in 0u64..70 {
            let leaf = leaf_hash(&step.to_le_bytes());
            tree.push(leaf);
            leaves.push(leaf);
            if step % 3 == 0 {
                let position = step / 2;
                let leaf = leaf_hash(&(step + 1000).to_le_bytes());
                tree.set(position, leaf);
                leaves[position as usize] = leaf;
            }
            if step % 5 != 4 {
                tree.commit();
                assert_eq!(tree.root(), merkle::root(&leaves), "step {step}");
                let proof = tree.prove(step / 3).expect("position in range");
                assert!(proof.verify(&leaves[(step / 3) as usize], &tree.root()));
            }
        }
    }

    #[test]
    fn a_clone_is_independent() {
        let mut tree = MerkleTree::default();
        tree.push(leaf_hash(b"a"));
        tree.commit();
        let before = tree.root();
        let mut fork = tree.clone();
        fork.push(leaf_hash(b"b"));
        fork.commit();
        assert_eq!(tree.root(), before);
        assert_ne!(fork.root(), before);
    }
}
