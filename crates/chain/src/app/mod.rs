//! The application a validator runs under consensus: it admits signed batches into the
//! mempool, builds and verifies blocks on speculative states, applies finalized blocks to the
//! state on disk, and serves what the API reads (records, proofs, finalized blocks, results,
//! events).
//!
//! State flow. The state lives in a [`Store`] (`hansa-state`): the applied tip is the state
//! after the last finalized block. Every block this validator proposes or verifies gets a
//! speculative state built on its parent's (a [`hansa_state::Speculation`]: QMDB batches in
//! memory), kept by block digest until finalization applies it or prunes it as a dead fork.
//! Every `checkpoint_interval` finalized blocks the store (and the index of finalized history)
//! are made durable; after a restart the store resumes at its last checkpoint and the chain
//! crate redelivers the finalized blocks after it, so a restart replays at most one interval.
//!
//! The work is split by role: `admission.rs` (mempool, forwarding, waiters), `execution.rs`
//! (fetching a block's records, executing it, speculative states), `finalization.rs` (applying
//! finalized blocks, checkpoints, the index, events), `queries.rs` (what the API reads), and
//! `index.rs` (the on-disk read model of finalized history).

mod admission;
mod execution;
use execution::Running;
mod finalization;
pub mod index;
pub mod join;
mod queries;

pub use index::{Index, IndexError, LedgerTotals};
pub use join::{JoinError, Joined, Snapshot, Stored, complete_join, join, stored_state};
pub use queries::{Audit, LedgerAudit, QueryError, RecordProofEnvelope, TransferFilter};

use crate::mempool::{Mempool, MempoolError};
use crate::{Executor, Verdict};
use commonware_runtime::Spawner;
use hansa_ledger::{Consortium, Ledger, SequenceWindow};
use hansa_state::{Speculation, Store, StoreConfig, StoreError};
use hansa_types::batch::BatchError;
use hansa_types::block::HEADER_VERSION;
use hansa_types::{
    BatchList, Block, Decode as _, Hash, Header, OrgId, ResultCode, SealedBatch, SignedBatch, StateCommitment,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, oneshot};

/// Most unfinalized blocks (and their speculative states) kept; the lowest go first.
/// Finalization normally keeps a handful; this bound matters only while it stalls. Each holds
/// its block's writes and new Merkle nodes in memory (tens of MB for a full block).
pub const SPECULATIVE_BLOCKS_MAX: usize = 32;
/// How long a leader with nothing to propose waits for a batch before proposing an empty
/// block: an idle chain then makes a few blocks a second instead of hundreds. Well under the
/// consensus leader timeout (1 s).
pub const EMPTY_BLOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(300);
/// Most clients waiting at once for their batch to finalize, by default.
pub const WAITERS_MAX: usize = 65_536;
/// Finalized events buffered for slow event-stream readers before they lag.
pub const EVENTS_BUFFER_MAX: usize = 1_024;
/// Batches admitted here and not yet forwarded to the other validators. Past it, a batch is
/// not forwarded (it stays in this validator's mempool and is proposed when this one leads).
pub const GOSSIP_QUEUE_MAX: usize = 16_384;
/// Finalized blocks whose whole body stays in memory; older bodies are read from the chain's
/// archive when needed ([`crate::FinalizedBlocks`]).
pub const BLOCK_BODIES_KEPT: usize = 4;
/// Finalized blocks between two checkpoints of the state: the most a restart replays.
pub const CHECKPOINT_INTERVAL: u64 = 32;

/// Resolves with a batch's outcome once a finalized block includes it.
pub type FinalityReceiver = oneshot::Receiver<Arc<BatchOutcome>>;

/// One batch of a finalized block, without its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    /// The batch digest.
    pub digest: Hash,
    /// The submitting organisation.
    pub org: OrgId,
    /// Its sequence number.
    pub sequence: u64,
    /// How many operations it carries.
    pub operations: u32,
}

/// A finalized block as the index keeps it (its operations are in the chain's archive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedBlock {
    /// The block's header.
    pub header: Header,
    /// The block's digest.
    pub digest: Hash,
    /// Its batches, without their operations.
    pub batches: Vec<BatchSummary>,
    /// One result code per operation, in block order.
    pub results: Vec<ResultCode>,
    /// The state commitment after the block (its root is the header's `state_root`).
    pub state: StateCommitment,
    /// The encoded finality certificate (`FinalityCertificate`).
    pub certificate: Vec<u8>,
}

/// The outcome of one batch, once finalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Digest of the batch (what the client signed).
    pub batch_digest: Hash,
    /// The submitting organisation.
    pub org: OrgId,
    /// The batch's sequence number.
    pub sequence: u64,
    /// Height of the finalized block that holds it.
    pub height: u64,
    /// Digest of that block.
    pub block_digest: Hash,
    /// Index within the block of the batch's first operation.
    pub first_index: u32,
    /// Each operation's id and result code, in batch order.
    pub results: Vec<(u128, ResultCode)>,
}

/// Where an operation landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Height of the block.
    pub height: u64,
    /// Index of the operation within the block.
    pub index: u32,
}

/// What the event stream carries for each finalized block.
#[derive(Debug, Clone)]
pub struct FinalizedEvent {
    /// Height of the finalized block.
    pub height: u64,
    /// Its digest.
    pub digest: Hash,
    /// Its consensus timestamp.
    pub timestamp_ms: u64,
    /// The state root after it.
    pub state_root: Hash,
    /// The outcome of each of its batches, in block order.
    pub batches: Vec<Arc<BatchOutcome>>,
}

/// Why a batch was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The batch is invalid against the finalized state (chain, organisation, role,
    /// signature, sequence or size).
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The mempool refused it.
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    /// As many clients as the bound allows already wait for finality.
    #[error("too many clients are waiting for finality; retry without waiting")]
    TooManyWaiters,
    /// The validator's storage failed; it is stopping.
    #[error("storage: {0}")]
    Storage(String),
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The state store could not open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index could not open.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The validator joined from a snapshot at `anchor`, but its state is below it (lost or
    /// replaced): it cannot replay the blocks in between, which it never held.
    #[error("the state is at height {state}, below the snapshot this validator joined from ({anchor})")]
    BelowAnchor {
        /// The state's checkpoint height.
        state: u64,
        /// The snapshot's height.
        anchor: u64,
    },
    /// The state's root is not the one the finalized block at its height (in the index)
    /// commits to: the store or the index was changed after it was written (a disk that
    /// returned other bytes than it was given, or files of another chain).
    #[error(
        "the state at height {height} has root {found}, but the finalized block at that height commits to {expected}: this validator's state or index is corrupt; join again from a snapshot"
    )]
    Corrupt {
        /// The state's checkpoint height.
        height: u64,
        /// The root of the state as stored.
        found: Hash,
        /// The root in the finalized header at that height.
        expected: Hash,
    },
    /// The index holds less history than the state: it was lost or replaced.
    #[error("the index is at height {index}, below the state's checkpoint {state}: it was lost or replaced")]
    IndexBehind {
        /// The index's height.
        index: u64,
        /// The state's checkpoint height.
        state: u64,
    },
    /// The index reaches the state's checkpoint but holds no header at it (history below its
    /// height was pruned, or the index is damaged).
    #[error(
        "the index has no header at the state's checkpoint {height}, though it reaches height {index}: it was pruned below the checkpoint or is damaged; join again from a snapshot"
    )]
    MissingHeader {
        /// The state's checkpoint height.
        height: u64,
        /// The index's height.
        index: u64,
    },
}

/// Every signing key's sequence window and every delegated key, by (organisation, key number).
type FinalizedSigners =
    (BTreeMap<(OrgId, u32), Arc<SequenceWindow>>, BTreeMap<(OrgId, u32), Arc<hansa_types::DelegatedKey>>);

/// The finalized side, swapped whole once per finalized block: readers keep a consistent
/// view as long as they hold it.
#[derive(Clone)]
pub struct Finalized {
    /// Height of the last finalized block applied (0 at genesis).
    pub height: u64,
    /// Its header.
    pub header: Header,
    /// Its digest.
    pub digest: Hash,
    /// The state commitment after it.
    pub state: StateCommitment,
    /// Each signing key's sequence window, by (organisation, key number); admission checks
    /// against it.
    pub windows: BTreeMap<(OrgId, u32), Arc<SequenceWindow>>,
    /// Every delegated key registered, revoked ones included, by (organisation, key number).
    pub keys: BTreeMap<(OrgId, u32), Arc<hansa_types::DelegatedKey>>,
    /// The last few finalized blocks with their bodies, oldest first.
    pub recent: VecDeque<Arc<Block>>,
}

impl Finalized {
    /// What this state says of key `key` of `org` (see [`hansa_ledger::Signer`]).
    pub fn signer(&self, org: OrgId, key: u32) -> hansa_ledger::Signer<'_> {
        hansa_ledger::Signer {
            window: self.windows.get(&(org, key)).map(|window| window.as_ref()),
            key: self.keys.get(&(org, key)).map(|key| key.as_ref()),
        }
    }

    /// A recent finalized block's body, if still kept.
    pub fn body(&self, height: u64) -> Option<&Arc<Block>> {
        self.recent.iter().find(|block| block.height() == height)
    }
}

/// How the application is sized and paced.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The state store's partitions and caches.
    pub store: StoreConfig,
    /// How long a leader waits for a batch before proposing an empty block (zero in
    /// simulations: no wall-clock waits there).
    pub empty_block_wait: std::time::Duration,
    /// Finalized blocks between two checkpoints.
    pub checkpoint_interval: u64,
    /// Unfinalized blocks whose speculative state is kept.
    pub speculative_blocks_max: usize,
    /// The mempool's bounds.
    pub mempool: crate::mempool::MempoolBounds,
    /// Most clients waiting at once for their batch to finalize.
    pub waiters_max: usize,
    /// Batches admitted here and waiting to be forwarded to the other validators.
    pub forwarding_queue_max: usize,
    /// Finalized events buffered for slow event-stream readers before they lag.
    pub events_buffer_max: usize,
    /// History (finalized blocks, batch outcomes, operation locations, account transfers) kept
    /// in the index below the tip; `None` keeps all of it (archive mode).
    pub retention_blocks: Option<u64>,
}

impl AppConfig {
    /// Production pacing and sizes, with storage partitions named after `prefix`.
    pub fn new(prefix: &str) -> AppConfig {
        AppConfig {
            store: StoreConfig::new(format!("{prefix}-state"), hansa_ledger::modules::kind),
            empty_block_wait: EMPTY_BLOCK_WAIT,
            checkpoint_interval: CHECKPOINT_INTERVAL,
            speculative_blocks_max: SPECULATIVE_BLOCKS_MAX,
            mempool: crate::mempool::MempoolBounds::default(),
            waiters_max: WAITERS_MAX,
            forwarding_queue_max: GOSSIP_QUEUE_MAX,
            events_buffer_max: EVENTS_BUFFER_MAX,
            retention_blocks: None,
        }
    }

    /// Simulation sizes: small caches, no wall-clock waits, frequent checkpoints.
    pub fn simulation(prefix: &str) -> AppConfig {
        AppConfig {
            store: StoreConfig::small(format!("{prefix}-state"), hansa_ledger::modules::kind),
            empty_block_wait: std::time::Duration::ZERO,
            checkpoint_interval: 4,
            speculative_blocks_max: SPECULATIVE_BLOCKS_MAX,
            mempool: crate::mempool::MempoolBounds::default(),
            waiters_max: WAITERS_MAX,
            forwarding_queue_max: GOSSIP_QUEUE_MAX,
            events_buffer_max: EVENTS_BUFFER_MAX,
            retention_blocks: None,
        }
    }
}

/// An unfinalized block with its execution and speculative state.
struct Speculative {
    block: Block,
    results: Vec<ResultCode>,
    balances: Vec<(u128, hansa_ledger::AccountBalance)>,
    /// The transfers it created (for the index), decoded once.
    transfers: Vec<hansa_types::Transfer>,
    /// The accounts it created, as (ledger, id).
    accounts_created: Vec<(u32, u128)>,
    deltas: hansa_ledger::BlockDeltas,
    /// The sequence windows it changed, by (organisation, key number).
    windows: Vec<((OrgId, u32), SequenceWindow)>,
    /// The delegated keys it registered or changed.
    keys: Vec<hansa_types::DelegatedKey>,
    state: Arc<Speculation>,
}

#[derive(Default)]
struct Waiters {
    by_batch: HashMap<Hash, Vec<oneshot::Sender<Arc<BatchOutcome>>>>,
    count: usize,
}

struct Inner<E: commonware_storage::Context + Spawner> {
    ledger: Ledger,
    store: Store<E>,
    index: Index,
    config: AppConfig,
    genesis_block: Block,
    mempool: Mutex<Mempool>,
    /// Signalled whenever a batch enters the mempool.
    arrivals: std::sync::Condvar,
    speculative: Mutex<BTreeMap<Hash, Arc<Speculative>>>,
    /// Unfinalized blocks seen as a parent or a proposal, to rebuild a speculative state that a
    /// concurrent or skipped verification did not leave behind.
    seen: Mutex<BTreeMap<Hash, Block>>,
    /// Blocks being executed now (by a verification, or to rebuild a speculative state), with
    /// whoever waits for the executions to end: finalization of the same block, which would
    /// otherwise execute it a second time meanwhile.
    executing: Mutex<HashMap<Hash, Running>>,
    finalized: Arc<RwLock<Arc<Finalized>>>,
    /// Serialises finalization (the delivery task calls it in order; this makes it explicit).
    applying: tokio::sync::Mutex<()>,
    /// Clients waiting for finality. One lock for the map and its count, so that no two
    /// paths can take them in opposite orders.
    waiters: Mutex<Waiters>,
    events: broadcast::Sender<Arc<FinalizedEvent>>,
    /// Batches admitted from clients, waiting to be forwarded to the other validators.
    gossip: Mutex<Vec<SealedBatch>>,
    /// Signalled when `gossip` gets a batch.
    gossip_ready: tokio::sync::Notify,
    /// Signalled when a block is seen or executed, or the finalized head moves: what a
    /// verification waiting for its parent's state waits for.
    progress: tokio::sync::Notify,
    /// Batches not forwarded because `gossip` was full.
    gossip_dropped: std::sync::atomic::AtomicU64,
    /// Blocks executed (proposals built, verifications, rebuilt ancestors, finalized blocks not
    /// known here) since the application opened.
    executions: std::sync::atomic::AtomicU64,
}

/// A cheap handle to the application; clones share it.
pub struct App<E: commonware_storage::Context + Spawner> {
    inner: Arc<Inner<E>>,
}

impl<E: commonware_storage::Context + Spawner> Clone for App<E> {
    fn clone(&self) -> Self {
        App { inner: self.inner.clone() }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().expect("application locks are never poisoned")
}

impl<E: commonware_storage::Context + Spawner> App<E> {
    /// Opens the application: the state store at its last checkpoint (created empty on the
    /// first start) with the log's index, and the index of finalized history.
    pub async fn open(
        context: E,
        consortium: Arc<Consortium>,
        index: Index,
        log_index: hansa_state::LogIndex,
        config: AppConfig,
    ) -> Result<App<E>, OpenError> {
        let store = Store::open(context, config.store.clone(), log_index).await?;
        let (height, state) = store.applied().await;
        let indexed = index.indexed_height()?;
        if indexed < height {
            return Err(OpenError::IndexBehind { index: indexed, state: height });
        }
        let genesis_block = Block {
            header: Header {
                version: HEADER_VERSION,
                height: 0,
                parent: Hash::ZERO,
                timestamp_ms: consortium.genesis.genesis_time_ms,
                state_root: store.genesis().root(),
                operations_root: Hash::ZERO,
                operations_count: 0,
                results_root: Hash::ZERO,
                context: Vec::new(),
            },
            batches: Vec::new(),
        };
        if let Some(anchor) = index.anchor()?
            && height < anchor.header.height
        {
            return Err(OpenError::BelowAnchor { state: height, anchor: anchor.header.height });
        }
        let (header, digest) = if height == 0 {
            (genesis_block.header.clone(), genesis_block.digest())
        } else {
            let block =
                index.header_at(height)?.ok_or(OpenError::MissingHeader { height, index: indexed })?;
            (block.header, block.digest)
        };
        if state.root() != header.state_root {
            return Err(OpenError::Corrupt { height, found: state.root(), expected: header.state_root });
        }
        let ledger = Ledger::new(consortium);
        let (windows, keys) = Self::read_signers(&store, &ledger).await?;
        let finalized = Finalized { height, header, digest, state, windows, keys, recent: VecDeque::new() };
        let (events, _) = broadcast::channel(config.events_buffer_max.max(1));
        let mempool = Mutex::new(Mempool::new(config.mempool));
        Ok(App {
            inner: Arc::new(Inner {
                ledger,
                store,
                index,
                config,
                genesis_block,
                mempool,
                arrivals: std::sync::Condvar::new(),
                speculative: Mutex::new(BTreeMap::new()),
                seen: Mutex::new(BTreeMap::new()),
                executing: Mutex::new(HashMap::new()),
                finalized: Arc::new(RwLock::new(Arc::new(finalized))),
                applying: tokio::sync::Mutex::new(()),
                waiters: Mutex::new(Waiters::default()),
                events,
                gossip: Mutex::new(Vec::new()),
                gossip_ready: tokio::sync::Notify::new(),
                progress: tokio::sync::Notify::new(),
                gossip_dropped: std::sync::atomic::AtomicU64::new(0),
                executions: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// Every delegated key, and every signing key's sequence window, in the applied state.
    async fn read_signers(store: &Store<E>, ledger: &Ledger) -> Result<FinalizedSigners, StoreError> {
        let malformed = |what: String| StoreError::Malformed(what);
        let key_ids = store.current_keys(hansa_ledger::KEYS.id).await?;
        let records = store.read(None, &key_ids).await?;
        let mut keys = BTreeMap::new();
        for (id, value) in key_ids.iter().zip(records) {
            let bytes = value.ok_or_else(|| malformed(format!("key {:?} is listed but not stored", id)))?;
            let key = <hansa_types::DelegatedKey as hansa_types::Decode>::decode(&bytes)
                .map_err(|error| malformed(format!("key {id:?}: {error}")))?;
            keys.insert(hansa_ledger::signer_of(id.id), Arc::new(key));
        }
        let signers: Vec<(OrgId, u32)> = ledger
            .consortium()
            .genesis
            .organisations
            .iter()
            .map(|org| (org.id, hansa_types::ROOT_KEY))
            .chain(keys.keys().copied())
            .collect();
        let window_keys: Vec<_> =
            signers.iter().map(|(org, key)| hansa_ledger::sequence_key(*org, *key)).collect();
        let values = store.read(None, &window_keys).await?;
        let mut windows = BTreeMap::new();
        for (signer, value) in signers.into_iter().zip(values) {
            if let Some(bytes) = value {
                let window = <SequenceWindow as hansa_types::Decode>::decode(&bytes)
                    .map_err(|error| malformed(format!("sequence window of {signer:?}: {error}")))?;
                windows.insert(signer, Arc::new(window));
            }
        }
        Ok((windows, keys))
    }

    /// The consortium this application executes for.
    pub fn consortium(&self) -> &Arc<Consortium> {
        self.inner.ledger.consortium()
    }

    /// A consistent snapshot of the finalized side (cheap: one `Arc` clone).
    pub fn finalized(&self) -> Arc<Finalized> {
        self.inner.finalized.read().expect("finalized lock is never poisoned").clone()
    }

    /// A view of what this application finalized that holds no runtime resources (it outlives
    /// the runtime, for checks after a simulation).
    pub fn view(&self) -> AppView {
        AppView { index: self.inner.index.clone(), finalized: self.inner.finalized.clone() }
    }

    /// The index of finalized history.
    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    /// The state store.
    pub fn store(&self) -> &Store<E> {
        &self.inner.store
    }

    /// Batches and operations waiting in the mempool.
    pub fn mempool_size(&self) -> (usize, usize) {
        let pool = lock(&self.inner.mempool);
        (pool.len(), pool.operations())
    }

    /// How the application is sized.
    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    /// Unfinalized blocks whose speculative state is kept, and the bound.
    pub fn speculative_fill(&self) -> (usize, usize) {
        (lock(&self.inner.speculative).len(), self.inner.config.speculative_blocks_max)
    }

    /// Blocks being executed now.
    pub fn executing_now(&self) -> usize {
        lock(&self.inner.executing).len()
    }

    /// Blocks executed since the application opened (a block is executed once, unless its
    /// speculative state was evicted or it was never seen before it was finalized).
    pub fn executions(&self) -> u64 {
        self.inner.executions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Clients waiting for finality, and the bound.
    pub fn waiters_fill(&self) -> (usize, usize) {
        (lock(&self.inner.waiters).count, self.inner.config.waiters_max)
    }

    /// Batches waiting to be forwarded, and the bound.
    pub fn gossip_fill(&self) -> (usize, usize) {
        (lock(&self.inner.gossip).len(), self.inner.config.forwarding_queue_max)
    }

    /// Finalized blocks between two checkpoints.
    pub fn checkpoint_interval(&self) -> u64 {
        self.inner.config.checkpoint_interval
    }

    /// Event-stream subscribers connected now.
    pub fn subscribers(&self) -> usize {
        self.inner.events.receiver_count()
    }

    /// A stream of finalized blocks and their batch outcomes, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FinalizedEvent>> {
        self.inner.events.subscribe()
    }

    /// The result leaf hashes of a finalized block (for operation proofs), from its body.
    pub fn result_leaves(body: &Block, results: &[ResultCode]) -> Vec<Hash> {
        body.operations()
            .zip(results)
            .map(|((_, _, _, operation), code)| hansa_types::block::result_leaf(operation.id(), *code))
            .collect()
    }
}

/// What an [`App`] finalized, without its storage: the index and the finalized snapshot.
#[derive(Clone)]
pub struct AppView {
    index: Index,
    finalized: Arc<RwLock<Arc<Finalized>>>,
}

impl AppView {
    /// The index of finalized history.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The latest finalized snapshot.
    pub fn finalized(&self) -> Arc<Finalized> {
        self.finalized.read().expect("finalized lock is never poisoned").clone()
    }
}

/// Drops the lowest entries of a map past `max`.
fn evict_lowest<T>(map: &mut BTreeMap<Hash, T>, max: usize, height: impl Fn(&T) -> u64) {
    while map.len() > max {
        let lowest = map
            .iter()
            .min_by_key(|(_, entry)| height(entry))
            .map(|(digest, _)| *digest)
            .expect("a map over its bound is not empty");
        map.remove(&lowest);
    }
}

impl<E: commonware_storage::Context + Spawner> Executor for App<E> {
    fn genesis_block(&self) -> Block {
        self.inner.genesis_block.clone()
    }

    async fn propose(&self, parent: Block, timestamp_ms: u64, context: Vec<u8>) -> Option<Block> {
        self.build(&parent, timestamp_ms, context).await
    }

    async fn verify(&self, parent: Block, block: Block) -> Verdict {
        self.check(&parent, &block).await
    }

    fn ancestor(&self, block: &Block) -> bool {
        self.see(block);
        self.wants_parent_of(block)
    }

    async fn finalized(&self, block: Block, certificate: Vec<u8>) {
        if let Err(error) = self.apply_finalized(&block, certificate).await {
            // The state could not be stored: continuing would acknowledge blocks that are not
            // kept. Stop; a restart resumes from the last checkpoint.
            panic!("applying finalized block {}: {error}", block.height());
        }
    }

    fn applied_height(&self) -> u64 {
        self.finalized().height
    }

    fn anchor(&self) -> Option<(u64, Vec<u8>)> {
        // An index that cannot be read here fails the next query as loudly.
        let anchor = self.inner.index.anchor().ok().flatten()?;
        Some((anchor.header.height, anchor.certificate))
    }

    async fn stopped(&self) {
        self.inner.store.close().await;
    }

    async fn next_gossip(&self, bytes_max: usize) -> Vec<Vec<u8>> {
        BatchList::encode_chunked(&self.next_forward().await, bytes_max)
    }

    fn gossip_received(&self, message: &[u8]) -> Result<(), String> {
        let list =
            BatchList::decode(message).map_err(|error| format!("an undecodable batch list: {error}"))?;
        let batches = list.0.into_iter().map(SignedBatch::seal).collect();
        self.receive_forwarded(batches)
            .map(|_| ())
            .map_err(|error| format!("a batch no honest validator forwards: {error}"))
    }
}
