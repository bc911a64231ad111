//! Binary Merkle trees and their inclusion proofs.
//!
//! Specification. A tree over `n` leaf hashes has depth `d = ceil(log2(n))` (0 for n ≤ 1) and
//! `2^d` positions; positions `n..2^d` are empty. The hash of an empty subtree is
//! [`Hash::ZERO`]. An inner node over children `l` and `r` is `ZERO` when both are `ZERO` and
//! `hash(MERKLE_NODE, l || r)` otherwise. The root of the empty tree is `ZERO`; the root of a
//! one-leaf tree is that leaf's hash. Leaf hashes are `hash(MERKLE_LEAF, data)` and are never
//! `ZERO` (SHA-256 preimage resistance), so padding cannot be confused with a leaf. A root alone
//! does not commit to `n`: every structure that uses one commits to its count beside it.

use crate::codec::{Decode, DecodeError, Encode, Reader, decode_sequence, encode_sequence};
use crate::hash::{Hash, domain, hash, hash_parts};
use serde::{Deserialize, Serialize};

/// The deepest tree Hansa builds: 2^48 leaves.
pub const DEPTH_MAX: usize = 48;

pub fn leaf_hash(data: &[u8]) -> Hash {
    hash(domain::MERKLE_LEAF, data)
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    if *left == Hash::ZERO && *right == Hash::ZERO {
        return Hash::ZERO;
    }
    hash_parts(domain::MERKLE_NODE, &[&left.0, &right.0])
}

/// Depth of a tree with `leaf_count` leaves.
pub fn depth(leaf_count: u64) -> usize {
    if leaf_count <= 1 { 0 } else { (64 - (leaf_count - 1).leading_zeros()) as usize }
}

/// The root over `leaves` (already leaf hashes).
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|pair| node_hash(&pair[0], pair.get(1).unwrap_or(&Hash::ZERO))).collect();
    }
    level[0]
}

/// An inclusion proof of the leaf at `index` in a tree of `leaf_count` leaves.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    pub index: u64,
    pub leaf_count: u64,
    /// Sibling hashes from the leaf's level up to the level below the root.
    pub siblings: Vec<Hash>,
}

impl MerkleProof {
    /// Builds the proof of `index` over `leaves` (already leaf hashes).
    pub fn build(leaves: &[Hash], index: usize) -> Option<MerkleProof> {
        if index >= leaves.len() {
            return None;
        }
        let mut siblings = Vec::new();
        let mut level: Vec<Hash> = leaves.to_vec();
        let mut position = index;
        while level.len() > 1 {
            let sibling = level.get(position ^ 1).copied().unwrap_or(Hash::ZERO);
            siblings.push(sibling);
            level =
                level.chunks(2).map(|pair| node_hash(&pair[0], pair.get(1).unwrap_or(&Hash::ZERO))).collect();
            position /= 2;
        }
        Some(MerkleProof { index: index as u64, leaf_count: leaves.len() as u64, siblings })
    }

    /// The root this proof leads to from `leaf`, or `None` if the proof is malformed.
    pub fn root_from(&self, leaf: &Hash) -> Option<Hash> {
        if self.index >= self.leaf_count || self.siblings.len() != depth(self.leaf_count) {
            return None;
        }
        let mut current = *leaf;
        let mut position = self.index;
        for sibling in &self.siblings {
            current =
                if position & 1 == 0 { node_hash(&current, sibling) } else { node_hash(sibling, &current) };
            position >>= 1;
        }
        Some(current)
    }

    /// Checks that `leaf` sits at `self.index` under `root`.
    pub fn verify(&self, leaf: &Hash, root: &Hash) -> bool {
        *leaf != Hash::ZERO && self.root_from(leaf) == Some(*root)
    }
}

impl Encode for MerkleProof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.index.encode_to(out);
        self.leaf_count.encode_to(out);
        encode_sequence(&self.siblings, out);
    }
}

impl Decode for MerkleProof {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MerkleProof {
            index: u64::decode_from(reader)?,
            leaf_count: u64::decode_from(reader)?,
            siblings: decode_sequence(reader, "merkle siblings", DEPTH_MAX)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(count: usize) -> Vec<Hash> {
        (0..count).map(|i| leaf_hash(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn depth_matches_definition() {
        assert_eq!([0, 1, 2, 3, 4, 5, 8, 9].map(depth), [0, 0, 1, 2, 2, 3, 3, 4]);
    }

    #[test]
    fn every_leaf_proves_and_no_other_leaf_does() {
        for count in 1..20 {
            let leaves = leaves(count);
            let root = root(&leaves);
            for index in 0..count {
                let proof = MerkleProof::build(&leaves, index).expect("index in range");
                assert!(proof.verify(&leaves[index], &root), "count {count} index {index}");
                let other = leaves[(index + 1) % count];
                if count > 1 {
                    assert!(!proof.verify(&other, &root));
                }
            }
        }
    }

    #[test]
    fn malformed_proofs_are_rejected() {
        let leaves = leaves(5);
        let root = root(&leaves);
        let mut proof = MerkleProof::build(&leaves, 3).expect("index in range");
        proof.index = 5;
        assert!(!proof.verify(&leaves[3], &root));
        let mut proof = MerkleProof::build(&leaves, 3).expect("index in range");
        proof.siblings.pop();
        assert!(!proof.verify(&leaves[3], &root));
        assert!(!proof.verify(&Hash::ZERO, &root));
    }

    #[test]
    fn roots_differ_with_size() {
        assert_ne!(root(&leaves(2)), root(&leaves(3)));
        assert_eq!(root(&[]), Hash::ZERO);
        assert_eq!(root(&leaves(1)), leaves(1)[0]);
    }
}
