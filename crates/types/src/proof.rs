//! Proofs checkable offline: an operation against its block's header ([`OperationProof`]),
//! and, in [`v1`], the record proofs of the first state format (kept so that proofs issued then
//! still verify). Record proofs of the current state format live in the `hansa-state` crate,
//! which holds the storage layer whose proofs they are.

use crate::block::{Header, operation_leaf, result_leaf};
use crate::hash::Hash;
use crate::merkle::MerkleProof;
use crate::operation::Operation;
use crate::result::ResultCode;
use crate::vocabulary::{OrgId, PublicKey, Signature};
use serde::{Deserialize, Serialize};

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the state commitment does not hash to the header's state root")]
    StateRootMismatch,
    #[error("the record is not at the claimed position under the state root")]
    NotIncluded,
    #[error("the proof's tree size does not match the state commitment")]
    CountMismatch,
    #[error("the operation is not included in the block's operations root")]
    OperationNotIncluded,
    #[error("the result is not included in the block's results root")]
    ResultNotIncluded,
    #[error("the operation and result proofs point at different positions")]
    PositionMismatch,
    #[error("the batch signature does not verify under the organisation's key")]
    BadSignature,
}

/// The first state format: one Merkle tree over accounts and one over transfers, in creation
/// order, kept in memory by the first ledger.
///
/// Specification. The state root is
/// `hash("hansa/state/v1", accounts_root || accounts_count || transfers_root || transfers_count
/// || sequences_root || sequences_count)` with counts as u64 little-endian. Leaf `i` of the
/// accounts tree is `leaf_hash("hansa/account/v1" tag byte string || encode(account))` for the
/// i-th account ever created; the transfers tree likewise holds every transfer in creation order
/// (`hansa/transfer/v1`), and the sequences tree one leaf per organisation that has submitted,
/// in organisation order. A proof carries the other roots so the verifier can recompute the
/// state root from the one leaf it checks.
pub mod v1 {
    use super::ProofError;
    use crate::block::Header;
    use crate::codec::Encode;
    use crate::hash::{Hash, domain, hash_parts};
    use crate::merkle::{self, MerkleProof};
    use crate::operation::{Account, Transfer};
    use serde::{Deserialize, Serialize};

    /// The parts of the state root.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub struct StateCommitment {
        pub accounts_root: Hash,
        pub accounts_count: u64,
        pub transfers_root: Hash,
        pub transfers_count: u64,
        pub sequences_root: Hash,
        pub sequences_count: u64,
    }

    impl StateCommitment {
        pub fn root(&self) -> Hash {
            hash_parts(
                domain::STATE_ROOT,
                &[
                    &self.accounts_root.0,
                    &self.accounts_count.to_le_bytes(),
                    &self.transfers_root.0,
                    &self.transfers_count.to_le_bytes(),
                    &self.sequences_root.0,
                    &self.sequences_count.to_le_bytes(),
                ],
            )
        }
    }

    pub fn account_leaf(account: &Account) -> Hash {
        tagged_leaf(domain::ACCOUNT, &account.encode())
    }

    pub fn transfer_leaf(transfer: &Transfer) -> Hash {
        tagged_leaf(domain::TRANSFER, &transfer.encode())
    }

    fn tagged_leaf(tag: &str, body: &[u8]) -> Hash {
        let mut bytes = Vec::with_capacity(tag.len() + body.len());
        bytes.extend_from_slice(tag.as_bytes());
        bytes.extend_from_slice(body);
        merkle::leaf_hash(&bytes)
    }

    /// Proof of an account's state in the state after `header`'s block.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct AccountProof {
        pub header: Header,
        pub account: Account,
        pub state: StateCommitment,
        pub path: MerkleProof,
    }

    impl AccountProof {
        pub fn verify(&self) -> Result<(), ProofError> {
            if self.state.root() != self.header.state_root {
                return Err(ProofError::StateRootMismatch);
            }
            if self.path.leaf_count != self.state.accounts_count {
                return Err(ProofError::CountMismatch);
            }
            if !self.path.verify(&account_leaf(&self.account), &self.state.accounts_root) {
                return Err(ProofError::NotIncluded);
            }
            Ok(())
        }
    }

    /// Proof of a transfer record in the state after `header`'s block.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TransferProof {
        pub header: Header,
        pub transfer: Transfer,
        pub state: StateCommitment,
        pub path: MerkleProof,
    }

    impl TransferProof {
        pub fn verify(&self) -> Result<(), ProofError> {
            if self.state.root() != self.header.state_root {
                return Err(ProofError::StateRootMismatch);
            }
            if self.path.leaf_count != self.state.transfers_count {
                return Err(ProofError::CountMismatch);
            }
            if !self.path.verify(&transfer_leaf(&self.transfer), &self.state.transfers_root) {
                return Err(ProofError::NotIncluded);
            }
            Ok(())
        }
    }
}

/// Proof that an operation was in `header`'s block, submitted by `org`, with `result`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationProof {
    pub header: Header,
    pub org: OrgId,
    pub batch_digest: Hash,
    /// The organisation's signature over `batch_digest`.
    pub signature: Signature,
    pub operation: Operation,
    pub result: ResultCode,
    pub operation_path: MerkleProof,
    pub result_path: MerkleProof,
}

impl OperationProof {
    pub fn verify(&self) -> Result<(), ProofError> {
        if self.operation_path.index != self.result_path.index
            || self.operation_path.leaf_count != self.result_path.leaf_count
            || self.operation_path.leaf_count != u64::from(self.header.operations_count)
        {
            return Err(ProofError::PositionMismatch);
        }
        let leaf = operation_leaf(self.org, &self.batch_digest, &self.signature, &self.operation);
        if !self.operation_path.verify(&leaf, &self.header.operations_root) {
            return Err(ProofError::OperationNotIncluded);
        }
        let leaf = result_leaf(self.operation.id(), self.result);
        if !self.result_path.verify(&leaf, &self.header.results_root) {
            return Err(ProofError::ResultNotIncluded);
        }
        Ok(())
    }

    /// Checks that `key` (the organisation's key in genesis) signed the operation's batch.
    pub fn verify_signer(&self, key: &PublicKey) -> Result<(), ProofError> {
        if key.verify(&self.batch_digest.0, &self.signature) { Ok(()) } else { Err(ProofError::BadSignature) }
    }
}
