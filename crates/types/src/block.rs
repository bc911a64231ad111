//! Blocks and their headers.
//!
//! Specification. A header commits to its height, its parent's digest, the consensus timestamp
//! (milliseconds, strictly greater than the parent's), the state root after executing the
//! block, the root and count of the block's operations, the root of their results, and an
//! opaque consensus context (at most 512 bytes) that the chain crate fills. The block digest is
//! `hash("hansa/header/v1", encode(header))`, so it commits to the whole block through the
//! operations root.
//!
//! Operation leaves are numbered across the block in order (batch by batch). Leaf `i` of the
//! operations tree is `leaf_hash(org || batch digest || batch signature || encode(operation))`,
//! and leaf `i` of the results tree is `leaf_hash(encode(operation id) || encode(result code))`.
//! Because the leaf holds the signature, the block digest pins every batch signature (a peer
//! cannot serve a block with other signatures under the same digest), and an operation proof
//! shows, offline, that the organisation signed the operation.

use crate::batch::{OPERATIONS_PER_BATCH_MAX, SealedBatch};
use crate::codec::{
    Decode, DecodeError, Encode, Reader, decode_bytes, decode_sequence, encode_bytes, encode_sequence,
};
use crate::hash::{Hash, domain, hash};
use crate::merkle;
use crate::operation::Operation;
use crate::result::ResultCode;
use crate::vocabulary::{OrgId, Signature};
use serde::{Deserialize, Serialize};

pub const HEADER_VERSION: u16 = 1;
/// Most batches in one block.
pub const BATCHES_PER_BLOCK_MAX: usize = 4_096;
/// Most operations in one block, over all its batches.
pub const OPERATIONS_PER_BLOCK_MAX: usize = 8 * OPERATIONS_PER_BATCH_MAX;
/// Most bytes of opaque consensus context in a header.
pub const CONTEXT_BYTES_MAX: usize = 512;

/// A block's header: what the block digest hashes and finality certificates sign.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub version: u16,
    pub height: u64,
    pub parent: Hash,
    pub timestamp_ms: u64,
    pub state_root: Hash,
    pub operations_root: Hash,
    pub operations_count: u32,
    pub results_root: Hash,
    /// Opaque consensus context, at most 512 bytes.
    #[serde(with = "crate::serde_hex_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::HexBytes))]
    pub context: Vec<u8>,
}

impl Header {
    pub fn digest(&self) -> Hash {
        hash(domain::HEADER, &self.encode())
    }
}

impl Encode for Header {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.version.encode_to(out);
        self.height.encode_to(out);
        self.parent.encode_to(out);
        self.timestamp_ms.encode_to(out);
        self.state_root.encode_to(out);
        self.operations_root.encode_to(out);
        self.operations_count.encode_to(out);
        self.results_root.encode_to(out);
        encode_bytes(&self.context, out);
    }
}

impl Decode for Header {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = Header {
            version: Decode::decode_from(reader)?,
            height: Decode::decode_from(reader)?,
            parent: Decode::decode_from(reader)?,
            timestamp_ms: Decode::decode_from(reader)?,
            state_root: Decode::decode_from(reader)?,
            operations_root: Decode::decode_from(reader)?,
            operations_count: Decode::decode_from(reader)?,
            results_root: Decode::decode_from(reader)?,
            context: decode_bytes(reader, "header context", CONTEXT_BYTES_MAX)?,
        };
        if header.version != HEADER_VERSION {
            return Err(DecodeError::InvalidValue {
                what: "header version",
                value: u64::from(header.version),
            });
        }
        Ok(header)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub header: Header,
    /// Shared and sealed: cloning a block copies no operations and rehashes no batch.
    pub batches: Vec<SealedBatch>,
}

impl Block {
    pub fn digest(&self) -> Hash {
        self.header.digest()
    }

    pub fn height(&self) -> u64 {
        self.header.height
    }

    pub fn parent(&self) -> Hash {
        self.header.parent
    }

    /// The operations of the block in leaf order, each with its organisation, batch digest and
    /// batch signature.
    pub fn operations(&self) -> impl Iterator<Item = (OrgId, Hash, &Signature, &Operation)> + '_ {
        self.batches.iter().flat_map(|signed| {
            let digest = signed.digest();
            let org = signed.batch.org;
            let signature = &signed.signature;
            signed.batch.operations.iter().map(move |operation| (org, digest, signature, operation))
        })
    }

    pub fn operation_count(&self) -> usize {
        self.batches.iter().map(|signed| signed.batch.operations.len()).sum()
    }

    /// The operation leaf hashes, in order.
    pub fn operation_leaves(&self) -> Vec<Hash> {
        self.operations()
            .map(|(org, digest, signature, operation)| operation_leaf(org, &digest, signature, operation))
            .collect()
    }

    /// Whether the header's operations root and count match the batches.
    pub fn operations_match_header(&self) -> bool {
        let leaves = self.operation_leaves();
        leaves.len() == self.header.operations_count as usize
            && merkle::root(&leaves) == self.header.operations_root
    }
}

pub fn operation_leaf(org: OrgId, batch_digest: &Hash, signature: &Signature, operation: &Operation) -> Hash {
    let mut bytes = Vec::with_capacity(224);
    org.encode_to(&mut bytes);
    batch_digest.encode_to(&mut bytes);
    signature.encode_to(&mut bytes);
    operation.encode_to(&mut bytes);
    merkle::leaf_hash(&bytes)
}

pub fn result_leaf(operation_id: u128, code: ResultCode) -> Hash {
    let mut bytes = Vec::with_capacity(20);
    operation_id.encode_to(&mut bytes);
    code.encode_to(&mut bytes);
    merkle::leaf_hash(&bytes)
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        encode_sequence(&self.batches, out);
    }
}

impl Decode for Block {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let block = Block {
            header: Decode::decode_from(reader)?,
            batches: decode_sequence(reader, "batches", BATCHES_PER_BLOCK_MAX)?,
        };
        let count = block.operation_count();
        if count > OPERATIONS_PER_BLOCK_MAX {
            return Err(DecodeError::TooLong {
                what: "block operations",
                length: count,
                maximum: OPERATIONS_PER_BLOCK_MAX,
            });
        }
        Ok(block)
    }
}
