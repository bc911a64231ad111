//! The Hansa block as Commonware consensus and marshal see it.
//!
//! Specification. On the wire and in marshal's archives a block is `u32 length (big-endian) ||
//! hansa encoding of the block`, with `length <= BLOCK_BYTES_MAX`. Its digest is the Hansa block
//! digest (SHA-256 over the domain-tagged header), the same 32 bytes as a Commonware
//! `sha256::Digest`. Every block above height 0 carries, in `header.context`, the Commonware
//! encoding of the consensus context it was proposed in (round, leader, parent view and digest):
//! marshal's deferred verification compares it with the context consensus supplies, and uses it to
//! certify a block this validator never verified itself (after a restart, or when it missed the
//! proposal). Decoding rejects a block whose context does not decode canonically or whose
//! operations root and count do not match its batches, so a block's digest binds its operations.

use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, Encode as _, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};
use commonware_consensus::{
    BoundedBlock, CertifiableBlock, Heightable,
    simplex::types::Context,
    types::{Epoch, Height, Round, View},
};
use commonware_cryptography::{Digestible, Signer as _, ed25519, sha256};
use hansa_types::{Decode as _, Encode as _, Hash};
use std::{fmt, sync::Arc};

/// The digest consensus orders: the Hansa block digest as a Commonware SHA-256 digest.
pub type Digest = sha256::Digest;

/// A validator's consensus and p2p identity.
pub type ConsensusKey = ed25519::PublicKey;

/// The consensus context a block is proposed in.
pub type ConsensusContext = Context<Digest, ConsensusKey>;

/// Most bytes of one encoded block (its Hansa encoding, without the 4-byte length prefix).
pub const BLOCK_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Bytes of the length prefix in front of a block's Hansa encoding.
const LENGTH_PREFIX_BYTES: usize = 4;

/// Converts a Hansa hash into the Commonware digest with the same bytes.
pub fn to_digest(hash: &Hash) -> Digest {
    sha256::Digest(hash.0)
}

/// Converts a Commonware digest into the Hansa hash with the same bytes.
pub fn to_hash(digest: &Digest) -> Hash {
    Hash(digest.0)
}

/// Why a Hansa block cannot be used as a consensus block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The Hansa encoding is longer than [`BLOCK_BYTES_MAX`].
    #[error("block encoding is {length} bytes, over the maximum {maximum}")]
    TooLarge {
        /// Bytes of the encoding.
        length: usize,
        /// The bound.
        maximum: usize,
    },
    /// `header.context` is not one canonical consensus context.
    #[error("header context is not a canonical consensus context")]
    BadContext,
    /// The header's operations root or count does not match the batches.
    #[error("operations root or count does not match the batches")]
    OperationsMismatch,
    /// A genesis block above height 0.
    #[error("genesis block must have height 0, found {0}")]
    GenesisHeight(u64),
}

/// A Hansa block wrapped for Commonware: digest, decoded consensus context and canonical encoding
/// are computed once, and clones share them.
#[derive(Clone)]
pub struct ChainBlock {
    inner: Arc<Inner>,
}

struct Inner {
    block: hansa_types::Block,
    digest: Digest,
    context: ConsensusContext,
    encoded: Bytes,
}

impl ChainBlock {
    /// Wraps the height-0 block every validator starts from. Genesis has no consensus context;
    /// it gets a fixed placeholder (round zero) that marshal never compares.
    pub fn genesis(block: hansa_types::Block) -> Result<Self, BlockError> {
        if block.height() != 0 {
            return Err(BlockError::GenesisHeight(block.height()));
        }
        let context = ConsensusContext {
            round: Round::zero(),
            leader: ed25519::PrivateKey::from_seed(0).public_key(),
            parent: (View::zero(), to_digest(&block.parent())),
        };
        Self::assemble(block, context, None)
    }

    /// Wraps a block above genesis, decoding its header context and checking its operations.
    pub fn new(block: hansa_types::Block) -> Result<Self, BlockError> {
        Self::checked(block, None)
    }

    /// [`ChainBlock::new`] for a block decoded from `encoded`: a block's encoding is canonical
    /// (one per block), so those bytes are kept instead of encoding it again.
    fn checked(block: hansa_types::Block, encoded: Option<Bytes>) -> Result<Self, BlockError> {
        if block.height() == 0 {
            return Self::genesis(block);
        }
        let context = decode_context(&block.header.context).ok_or(BlockError::BadContext)?;
        if !block.operations_match_header() {
            return Err(BlockError::OperationsMismatch);
        }
        Self::assemble(block, context, encoded)
    }

    fn assemble(
        block: hansa_types::Block,
        context: ConsensusContext,
        encoded: Option<Bytes>,
    ) -> Result<Self, BlockError> {
        let encoded = encoded.unwrap_or_else(|| Bytes::from(block.encode()));
        if encoded.len() > BLOCK_BYTES_MAX {
            return Err(BlockError::TooLarge { length: encoded.len(), maximum: BLOCK_BYTES_MAX });
        }
        let digest = to_digest(&block.digest());
        Ok(Self { inner: Arc::new(Inner { block, digest, context, encoded }) })
    }

    /// The Hansa block.
    pub fn block(&self) -> &hansa_types::Block {
        &self.inner.block
    }

    /// The Hansa block digest.
    pub fn hash(&self) -> Hash {
        to_hash(&self.inner.digest)
    }

    /// The Hansa encoding of the block (without the length prefix).
    pub fn encoded(&self) -> &Bytes {
        &self.inner.encoded
    }
}

/// The bytes a proposer puts into `header.context`.
pub fn encode_context(context: &ConsensusContext) -> Vec<u8> {
    context.encode().to_vec()
}

/// Decodes a header context; `None` unless it is exactly one canonical consensus context.
pub fn decode_context(bytes: &[u8]) -> Option<ConsensusContext> {
    let mut reader = commonware_codec::Copying(bytes);
    let context = ConsensusContext::read(&mut reader).ok()?;
    if bytes::Buf::remaining(&reader) != 0 || encode_context(&context) != bytes {
        return None;
    }
    Some(context)
}

impl fmt::Debug for ChainBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainBlock(height {}, digest {})", self.inner.block.height(), self.hash())
    }
}

impl PartialEq for ChainBlock {
    fn eq(&self, other: &Self) -> bool {
        self.inner.digest == other.inner.digest && self.inner.encoded == other.inner.encoded
    }
}

impl Eq for ChainBlock {}

impl Write for ChainBlock {
    fn write(&self, buf: &mut impl BufMut) {
        let length = u32::try_from(self.inner.encoded.len())
            .expect("a block is at most BLOCK_BYTES_MAX bytes, checked at construction");
        length.write(buf);
        buf.put_slice(&self.inner.encoded);
    }
}

impl EncodeSize for ChainBlock {
    fn encode_size(&self) -> usize {
        LENGTH_PREFIX_BYTES + self.inner.encoded.len()
    }
}

impl Read for ChainBlock {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let length = u32::read(buf)? as usize;
        if length > BLOCK_BYTES_MAX {
            return Err(CodecError::InvalidLength(length));
        }
        if buf.remaining() < length {
            return Err(CodecError::EndOfBuffer);
        }
        let bytes: Bytes = buf.take_owned(length);
        let block = hansa_types::Block::decode(&bytes)
            .map_err(|error| CodecError::Wrapped("hansa block", Box::new(error)))?;
        ChainBlock::checked(block, Some(bytes))
            .map_err(|error| CodecError::Wrapped("hansa block", Box::new(error)))
    }
}

impl Digestible for ChainBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.inner.digest
    }
}

impl Heightable for ChainBlock {
    fn height(&self) -> Height {
        Height::new(self.inner.block.height())
    }
}

impl commonware_consensus::Block for ChainBlock {
    fn parent(&self) -> Digest {
        to_digest(&self.inner.block.parent())
    }
}

impl CertifiableBlock for ChainBlock {
    type Context = ConsensusContext;

    fn context(&self) -> ConsensusContext {
        self.inner.context.clone()
    }
}

impl BoundedBlock for ChainBlock {
    fn max_encode_size(_: &()) -> usize {
        LENGTH_PREFIX_BYTES + BLOCK_BYTES_MAX
    }
}

/// The only epoch Hansa runs: the validator set is fixed at genesis.
pub const EPOCH: Epoch = Epoch::zero();

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::DecodeExt as _;
    use hansa_types::Header;

    fn header(height: u64, context: Vec<u8>) -> Header {
        Header {
            version: hansa_types::block::HEADER_VERSION,
            height,
            parent: Hash([7; 32]),
            timestamp_ms: 5,
            state_root: Hash([1; 32]),
            operations_root: hansa_types::merkle::root(&[]),
            operations_count: 0,
            results_root: Hash([2; 32]),
            context,
        }
    }

    fn context() -> ConsensusContext {
        ConsensusContext {
            round: Round::new(EPOCH, View::new(3)),
            leader: ed25519::PrivateKey::from_seed(1).public_key(),
            parent: (View::new(2), sha256::Digest([9; 32])),
        }
    }

    #[test]
    fn round_trips_and_keeps_the_hansa_digest() {
        let block = hansa_types::Block { header: header(4, encode_context(&context())), batches: vec![] };
        let wrapped = ChainBlock::new(block.clone()).expect("valid block");
        assert_eq!(wrapped.hash(), block.digest());
        assert_eq!(wrapped.context(), context());
        let bytes = wrapped.encode();
        assert_eq!(bytes.len(), wrapped.encode_size());
        let decoded = ChainBlock::decode(bytes).expect("decodes");
        assert_eq!(decoded, wrapped);
        assert_eq!(decoded.block(), &block);
    }

    #[test]
    fn rejects_bad_context_and_trailing_bytes() {
        let block = hansa_types::Block { header: header(4, vec![1, 2, 3]), batches: vec![] };
        assert_eq!(ChainBlock::new(block).err(), Some(BlockError::BadContext));

        let mut context_bytes = encode_context(&context());
        context_bytes.push(0);
        assert!(decode_context(&context_bytes).is_none());
    }

    #[test]
    fn rejects_operations_mismatch() {
        let mut header = header(4, encode_context(&context()));
        header.operations_count = 1;
        let block = hansa_types::Block { header, batches: vec![] };
        assert_eq!(ChainBlock::new(block).err(), Some(BlockError::OperationsMismatch));
    }

    #[test]
    fn genesis_needs_no_context() {
        let block = hansa_types::Block { header: header(0, vec![]), batches: vec![] };
        let wrapped = ChainBlock::new(block).expect("genesis");
        let decoded = ChainBlock::decode(wrapped.encode()).expect("decodes");
        assert_eq!(decoded.hash(), wrapped.hash());
    }

    #[test]
    fn a_block_made_to_break_each_limit_does_not_decode() {
        let batch = hansa_types::Batch {
            chain_id: Hash([7; 32]),
            org: hansa_types::OrgId(2),
            key: 0,
            sequence: 1,
            operations: vec![hansa_types::Operation::CreateAccount(Default::default())],
        }
        .sign(&hansa_types::SecretKey::from_seed([1; 32]));
        let mut header = header(4, encode_context(&context()));
        let batches = vec![hansa_types::SealedBatch::new(batch)];
        let leaves =
            hansa_types::Block { header: header.clone(), batches: batches.clone() }.operation_leaves();
        header.operations_count = 1;
        header.operations_root = hansa_types::merkle::root(&leaves);
        let honest = ChainBlock::new(hansa_types::Block { header, batches }).expect("a valid block").encode();
        assert!(ChainBlock::decode(honest.clone()).is_ok());
        let mut said = Vec::new();
        for variant in 0..4 {
            let broken = crate::sim::byzantine::over_the_limits(honest.to_vec(), variant);
            assert_ne!(broken, honest.to_vec(), "variant {variant} changed nothing");
            let error = ChainBlock::decode(Bytes::from(broken)).expect_err("a block over its limits decodes");
            said.push(format!("{error:?}"));
        }
        println!("{said:#?}");
        assert!(said[0].contains(&format!("{}", BLOCK_BYTES_MAX + 1)), "{}", said[0]);
        assert!(said[1].contains("batches"), "{}", said[1]);
        assert!(said[2].contains("batches"), "{}", said[2]);
        assert!(said[3].contains("operations"), "{}", said[3]);
    }

    #[test]
    fn rejects_oversized_length_prefix() {
        let mut bytes = Vec::new();
        u32::try_from(BLOCK_BYTES_MAX + 1).expect("fits").write(&mut bytes);
        assert!(ChainBlock::decode(Bytes::from(bytes)).is_err());
    }
}
