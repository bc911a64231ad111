//! Hansa's vocabulary: ids, money, organisations, operations, batches, blocks, their canonical
//! encodings and hashes, signatures, and the verification of proofs. No I/O, no async, no clock.

pub mod batch;
pub mod block;
pub mod codec;
pub mod genesis;
pub mod hash;
pub mod keys;
pub mod merkle;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod operation;
pub mod proof;
pub mod result;
pub mod serde_hex_bytes;
pub mod serde_u128;
pub mod signature;
pub mod state;
pub mod token;
pub mod vocabulary;

pub use batch::{
    BATCHES_PER_SUBMISSION_MAX, Batch, BatchError, BatchList, OPERATIONS_PER_BATCH_MAX, SealedBatch,
    SignedBatch,
};
pub use block::{Block, Header};
pub use codec::{Decode, DecodeError, Encode};
pub use genesis::{Genesis, LedgerSpec, OrganisationSpec, ValidatorSpec};
pub use hash::Hash;
pub use keys::{
    DELEGATED_KEY_ID_MAX, DelegatedKey, KeyAccounts, KeyPermissions, KeyRefusal, KeyRevocation, NewKey,
    ROOT_KEY,
};
pub use operation::{
    Account, AccountFlags, NewAccount, NewTransfer, Operation, PendingStatus, Transfer, TransferFlags,
};
pub use proof::{OperationProof, ProofError};
pub use result::ResultCode;
pub use signature::{SignatureCheck, VerifyingKey, verify_all};
pub use state::StateCommitment;
pub use state::{LogAppend, RecordWrite, StateKey, Table, TableId, TableKind, WriteSet};
pub use token::{AccessToken, TokenClaims, TokenError, sign_token};
pub use vocabulary::{Amount, Currency, OrgId, PublicKey, Role, SecretKey, Signature};
