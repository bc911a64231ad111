//! Hansa's consensus integration: BFT ordering of blocks with Commonware `simplex` (ed25519
//! certificates) wrapped by `marshal` (block dissemination, backfill, ordered durable delivery).
//!
//! The ledger side plugs in through one trait, [`Executor`]: it builds and checks blocks and
//! receives finalized blocks in height order with their finality certificates. Production runs
//! on `runtime::tokio` and `p2p::authenticated::lookup` ([`start_validator`]); the [`sim`]
//! module runs the same wiring on `runtime::deterministic` and `p2p::simulated` with seeded
//! faults. [`verify_finalization`] checks a certificate offline.
//!
//! The real executor, [`App`] (mempool, state on disk through `hansa-state`, speculative
//! states, waiters, events, the index of finalized history), lives here too, so the simulator
//! can run the real ledger and the real storage.
//!
//! What this crate never does: interpret batches or state outside [`app`] (consensus only
//! moves opaque blocks), read the wall clock outside the runtime's `Clock` (except `App`'s
//! optional empty-block wait, zero in simulations), or prune finalized history.

#![warn(missing_docs)]

pub mod app;
pub mod application;
pub mod block;
pub mod certificate;
pub mod delivery;
pub mod mempool;
pub mod node;
pub mod sim;
pub mod validator;

pub use app::App;
pub use block::{BLOCK_BYTES_MAX, ChainBlock};
pub use certificate::{FinalityCertificate, verify_finalization};
pub use delivery::{FinalizedBlocks, Status};
pub use node::Tuning;
pub use validator::{ValidatorConfig, ValidatorHandle, partition_prefix, runtime_config, start_validator};

/// What [`Executor::verify`] concludes about a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A valid child of its parent.
    Valid,
    /// Invalid in itself: anyone who executes it on its parent finds the same fault (a wrong
    /// root, a bad signature, a batch that cannot be in a block). Its proposer signed a
    /// proposal naming it (honest validators vote only for what the round's leader proposed),
    /// so it provably misbehaved, and the validator blocks it.
    Invalid,
    /// Refused without blaming the proposer: its parent is on a fork that finalization has
    /// abandoned (an honest leader may have built on it before it was).
    Refused,
}

impl Verdict {
    /// Whether consensus may vote for the block.
    pub fn is_valid(self) -> bool {
        self == Verdict::Valid
    }
}

/// What the ledger side provides. Implemented by [`App`] (mempool, state on disk, speculative
/// states); the simulator also has a toy one ([`sim::ToyExecutor`]). Building, verifying and
/// applying blocks are asynchronous (they read and write storage); the chain crate runs them
/// on blocking-friendly tasks because they also execute batches.
pub trait Executor: Clone + Send + Sync + 'static {
    /// Height-0 block every validator starts from (same on all validators; from genesis).
    fn genesis_block(&self) -> hansa_types::Block;

    /// Builds a block on `parent` with this timestamp and `header.context = context`, taking
    /// batches from the mempool. Returns `None` to skip the proposal.
    fn propose(
        &self,
        parent: hansa_types::Block,
        timestamp_ms: u64,
        context: Vec<u8>,
    ) -> impl std::future::Future<Output = Option<hansa_types::Block>> + Send;

    /// Checks the block's contents (re-executes it on the parent's state). `parent` is already
    /// verified. The chain crate has already checked: `height == parent.height + 1`,
    /// `header.parent == parent.digest()`, `timestamp_ms > parent.timestamp_ms` and not more than
    /// 10 s ahead of the local clock, `header.context`, and that the operations root and count
    /// match the batches. The proposer of a block found [`Verdict::Invalid`] is blocked.
    fn verify(
        &self,
        parent: hansa_types::Block,
        block: hansa_types::Block,
    ) -> impl std::future::Future<Output = Verdict> + Send;

    /// An ancestor of a block about to be built on or verified: first the parent, then, while
    /// this answers `true`, the parent's parent, and so on down. The executor keeps what it may
    /// need to execute the descendant and answers whether it needs the next block down too:
    /// after a restart it knows no unfinalized block, and when every validator restarted at
    /// once (a power loss), no peer sends the notarized blocks between the finalized tip and the
    /// parent, which consensus already holds. No default: a wrapper that did not forward it
    /// would silently ask for nothing (the simulator's wrappers once did).
    fn ancestor(&self, block: &hansa_types::Block) -> bool;

    /// A finalized block, delivered in height order, with the encoded finalization certificate
    /// ([`FinalityCertificate`]). May be called again for a height already applied (after a
    /// restart): the executor ignores duplicates.
    fn finalized(
        &self,
        block: hansa_types::Block,
        certificate: Vec<u8>,
    ) -> impl std::future::Future<Output = ()> + Send;

    /// The highest height the executor has applied (0 at first start). At start, the chain
    /// crate delivers (via `finalized`) every finalized block above this height that it has
    /// stored or can fetch, in order: after a restart, the blocks after the last durable state.
    fn applied_height(&self) -> u64;

    /// If this executor's state began at a snapshot rather than at genesis: the snapshot's
    /// height and the encoded certificate of its block (a finalization of that very block,
    /// without links). Consensus then starts from that finalization instead of genesis and
    /// never asks for the blocks below it. The default: `None` (started at genesis).
    fn anchor(&self) -> Option<(u64, Vec<u8>)> {
        None
    }

    /// The validator stopped (its tasks were aborted): release storage without making anything
    /// more durable, as a crash would, so that a restarted executor can open it again. The
    /// default does nothing.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send {
        futures::future::ready(())
    }

    /// Waits for batches admitted here from clients and returns them encoded for the other
    /// validators, in messages of at most `bytes_max` bytes. The default never returns (an
    /// executor without a mempool forwards nothing).
    fn next_gossip(&self, bytes_max: usize) -> impl std::future::Future<Output = Vec<Vec<u8>>> + Send {
        let _ = bytes_max;
        futures::future::pending()
    }

    /// A message another validator sent from its `next_gossip`. It is untrusted: the executor
    /// checks everything in it. `Err` says why the message proves that its sender misbehaved
    /// (no honest validator sends it, whatever its height): the node then blocks that peer.
    /// The default ignores the message.
    fn gossip_received(&self, message: &[u8]) -> Result<(), String> {
        let _ = message;
        Ok(())
    }
}

/// Why a validator could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The signer's public key is not among the validators.
    #[error("this validator's key is not in the validator set")]
    NotAValidator,
    /// The validator list is empty, repeats a key, or holds an invalid key.
    #[error("a validator key is not a valid ed25519 key, or keys repeat")]
    BadValidatorSet,
    /// `Executor::genesis_block` returned a block that cannot anchor the chain.
    #[error("the executor's genesis block is unusable: {0}")]
    Genesis(block::BlockError),
    /// A configuration value is out of range (the text names it).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// Opening marshal's archives failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The address to listen on for peers cannot be bound (the text names it and why).
    #[error("cannot listen for peers on {0}")]
    Listen(String),
}
