//! The signed batch: the unit a client submits.
//!
//! Specification. A batch names the chain (the genesis hash), the submitting organisation, the
//! key that signs it (0: the organisation's genesis key; else a delegated key it registered, see
//! [`crate::keys`]), a sequence number chosen by that key's holder, and 1..=8,190 operations.
//! Its digest is `hash("hansa/batch/v1", encode(batch))`, and the key signs those 32 bytes.
//! Because the digest covers the chain id, a batch signed for one chain is invalid on every
//! other; because it covers the sequence number, and the ledger accepts each (organisation,
//! key, sequence) once, a batch cannot be replayed on its own chain either.

use crate::codec::{Decode, DecodeError, Encode, Reader, decode_sequence, encode_sequence};
use crate::hash::{Hash, domain, hash};
use crate::operation::Operation;
use crate::vocabulary::{OrgId, PublicKey, SecretKey, Signature};

/// The most operations one batch may carry (TigerBeetle's batch size, less its two reserved).
pub const OPERATIONS_PER_BATCH_MAX: usize = 8_190;
/// The most signed batches one submission may carry (see [`BatchList`]).
pub const BATCHES_PER_SUBMISSION_MAX: usize = 4_096;

/// Operations an organisation submits together, for one chain, under one sequence number.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Batch {
    pub chain_id: Hash,
    pub org: OrgId,
    /// The organisation's key that signs it: 0 (`ROOT_KEY`) its genesis key, else a delegated
    /// key it registered. Each key numbers its own batches.
    #[serde(default)]
    pub key: u32,
    pub sequence: u64,
    /// 1 to 8,190 (`OPERATIONS_PER_BATCH_MAX`) operations.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 8190))]
    pub operations: Vec<Operation>,
}

impl Batch {
    pub fn digest(&self) -> Hash {
        hash(domain::BATCH, &self.encode())
    }

    pub fn sign(self, key: &SecretKey) -> SignedBatch {
        let signature = key.sign(&self.digest().0);
        SignedBatch { batch: self, signature }
    }
}

impl Encode for Batch {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.chain_id.encode_to(out);
        self.org.encode_to(out);
        self.key.encode_to(out);
        self.sequence.encode_to(out);
        encode_sequence(&self.operations, out);
    }
}

impl Decode for Batch {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let batch = Batch {
            chain_id: Decode::decode_from(reader)?,
            org: Decode::decode_from(reader)?,
            key: Decode::decode_from(reader)?,
            sequence: Decode::decode_from(reader)?,
            operations: decode_sequence(reader, "operations", OPERATIONS_PER_BATCH_MAX)?,
        };
        if batch.operations.is_empty() {
            return Err(DecodeError::InvalidValue { what: "operation count", value: 0 });
        }
        Ok(batch)
    }
}

/// A batch with its organisation's signature.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedBatch {
    pub batch: Batch,
    pub signature: Signature,
}

/// Why a signed batch is not acceptable, before any of its operations is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("the batch is for chain {found}, this chain is {expected}")]
    WrongChain { expected: Hash, found: Hash },
    #[error("organisation {0} is not a member of this consortium")]
    UnknownOrganisation(OrgId),
    #[error("the signature does not verify under the key of {0}")]
    BadSignature(OrgId),
    #[error("organisation {0} may not submit batches")]
    Unauthorised(OrgId),
    #[error("sequence {sequence} of {org} key {key} was already used or is too old")]
    Replayed { org: OrgId, key: u32, sequence: u64 },
    #[error("{org} has no key {key} registered")]
    UnknownKey { org: OrgId, key: u32 },
    #[error("key {key} of {org} was revoked")]
    KeyRevoked { org: OrgId, key: u32 },
    #[error("key {key} of {org} has expired")]
    KeyExpired { org: OrgId, key: u32 },
    #[error("key {key} of {org} may not submit {operation}")]
    KeyNotPermitted { org: OrgId, key: u32, operation: &'static str },
}

impl BatchError {
    /// Whether a validator that forwards a batch with this error provably misbehaved: an
    /// honest validator checks these before it forwards anything, and their answer never
    /// changes (the chain, the members, their roles, a key's public key and permissions are
    /// fixed). The others (a sequence already used, a key not yet seen, revoked or expired)
    /// can differ between honest validators at different heights.
    pub fn proves_misbehaviour(&self) -> bool {
        match self {
            BatchError::WrongChain { .. }
            | BatchError::UnknownOrganisation(_)
            | BatchError::BadSignature(_)
            | BatchError::Unauthorised(_)
            | BatchError::KeyNotPermitted { .. } => true,
            BatchError::Replayed { .. }
            | BatchError::UnknownKey { .. }
            | BatchError::KeyRevoked { .. }
            | BatchError::KeyExpired { .. } => false,
        }
    }
}

impl SignedBatch {
    /// Checks the chain id and the signature against `key`, the organisation's key.
    pub fn verify(&self, chain_id: &Hash, key: &PublicKey) -> Result<(), BatchError> {
        verify_digest(&self.batch, &self.batch.digest(), &self.signature, chain_id, key)
    }

    /// Computes the digest once and freezes the batch (see [`SealedBatch`]).
    pub fn seal(self) -> SealedBatch {
        SealedBatch::new(self)
    }
}

fn verify_digest(
    batch: &Batch,
    digest: &Hash,
    signature: &Signature,
    chain_id: &Hash,
    key: &PublicKey,
) -> Result<(), BatchError> {
    if batch.chain_id != *chain_id {
        return Err(BatchError::WrongChain { expected: *chain_id, found: batch.chain_id });
    }
    if !key.verify(&digest.0, signature) {
        return Err(BatchError::BadSignature(batch.org));
    }
    Ok(())
}

/// A signed batch frozen with its digest, which is computed once (a batch is up to 1 MB, and a
/// validator needs its digest to check the signature, to build operation leaves and to index
/// outcomes). Immutable, and cheap to clone (shared): blocks, the mempool and the finalized
/// history hold the same allocation. Reads go through `Deref` to the [`SignedBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBatch(std::sync::Arc<(SignedBatch, Hash)>);

impl SealedBatch {
    pub fn new(signed: SignedBatch) -> SealedBatch {
        let digest = signed.batch.digest();
        SealedBatch(std::sync::Arc::new((signed, digest)))
    }

    /// The batch digest (what the organisation signed).
    pub fn digest(&self) -> Hash {
        self.0.1
    }

    /// Checks the chain id and the signature against `key`, without rehashing.
    pub fn verify(&self, chain_id: &Hash, key: &PublicKey) -> Result<(), BatchError> {
        verify_digest(&self.0.0.batch, &self.0.1, &self.0.0.signature, chain_id, key)
    }
}

impl std::ops::Deref for SealedBatch {
    type Target = SignedBatch;

    fn deref(&self) -> &SignedBatch {
        &self.0.0
    }
}

impl From<SignedBatch> for SealedBatch {
    fn from(signed: SignedBatch) -> SealedBatch {
        SealedBatch::new(signed)
    }
}

impl Encode for SealedBatch {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.0.encode_to(out);
    }
}

impl Decode for SealedBatch {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SealedBatch::new(SignedBatch::decode_from(reader)?))
    }
}

impl Encode for SignedBatch {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.batch.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for SignedBatch {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedBatch { batch: Decode::decode_from(reader)?, signature: Decode::decode_from(reader)? })
    }
}

/// Several signed batches submitted together: `u32` count (1..=4,096) then each
/// [`SignedBatch`]. Each batch keeps its own signature, sequence number and outcome; the list is
/// only transport, so that a client sending many small batches (one operation each, say) pays
/// for one request and the validator can check their signatures at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchList(pub Vec<SignedBatch>);

impl BatchList {
    /// The encoding of a list of these batches, without copying them into a `BatchList`.
    pub fn encode_slice(batches: &[SignedBatch]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_sequence(batches, &mut out);
        out
    }

    /// Encodes `batches` as consecutive lists of at most `bytes_max` bytes each, in order (a
    /// batch whose own encoding is larger travels alone in its list).
    pub fn encode_chunked(batches: &[SealedBatch], bytes_max: usize) -> Vec<Vec<u8>> {
        const COUNT_BYTES: usize = 4;
        let mut lists = Vec::new();
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut size = COUNT_BYTES;
        let mut flush = |parts: &mut Vec<Vec<u8>>| {
            if !parts.is_empty() {
                let count = u32::try_from(parts.len()).expect("lists are bounded far below u32::MAX");
                let mut list = count.encode();
                parts.iter().for_each(|part| list.extend_from_slice(part));
                lists.push(list);
                parts.clear();
            }
        };
        for signed in batches {
            let part = signed.encode();
            if !parts.is_empty()
                && (size + part.len() > bytes_max || parts.len() == BATCHES_PER_SUBMISSION_MAX)
            {
                flush(&mut parts);
                size = COUNT_BYTES;
            }
            size += part.len();
            parts.push(part);
        }
        flush(&mut parts);
        lists
    }
}

impl Encode for BatchList {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_sequence(&self.0, out);
    }
}

impl Decode for BatchList {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let batches: Vec<SignedBatch> = decode_sequence(reader, "batches", BATCHES_PER_SUBMISSION_MAX)?;
        if batches.is_empty() {
            return Err(DecodeError::InvalidValue { what: "batch count", value: 0 });
        }
        Ok(BatchList(batches))
    }
}
