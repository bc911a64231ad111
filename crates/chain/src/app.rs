//! The application a validator runs under consensus: it admits signed batches into the
//! mempool, builds and verifies blocks on speculative post-states, applies finalized blocks,
//! and serves what the API reads (finalized state, blocks, results, proofs, events).
//!
//! State flow. The finalized [`Ledger`] is the state after the last finalized block. Every
//! block this validator proposes or verifies gets a speculative post-state (an O(1) clone of
//! its parent's, then executed), kept by block digest until finalization makes it the new
//! finalized state or prunes it as a dead fork. Nothing here touches the disk: the chain crate
//! persists finalized blocks and redelivers them after a restart, and the state is rebuilt by
//! executing them again.

use crate::Executor;
use hansa_ledger::{BlockOutcome, Consortium, History, Ledger, Signatures};
use hansa_types::batch::BatchError;
use hansa_types::block::{BATCHES_PER_BLOCK_MAX, HEADER_VERSION, OPERATIONS_PER_BLOCK_MAX, result_leaf};
use hansa_types::{
    BatchList, Block, Decode, Hash, Header, OrgId, ResultCode, SealedBatch, SignedBatch, StateCommitment,
    merkle,
};
use imbl::Vector;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use tokio::sync::{broadcast, oneshot};

use crate::mempool::{Mempool, MempoolError};

/// Most unfinalized blocks (and their post-states) kept; the lowest go first. Finalization
/// normally keeps a handful; this bound matters only while it stalls.
pub const UNFINALIZED_BLOCKS_MAX: usize = 256;
/// How long a leader with nothing to propose waits for a batch before proposing an empty
/// block: an idle chain then makes a few blocks a second instead of hundreds. Well under the
/// consensus leader timeout (1 s).
pub const EMPTY_BLOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(300);
/// How long `verify` waits for a parent's post-state, in multiples of the empty-block wait
/// (300 ms × 10 = 3 s in production; zero in simulations, which make no wall-clock waits).
pub const PARENT_WAIT_FACTOR: u32 = 10;
/// Most clients waiting at once for their batch to finalize.
pub const WAITERS_MAX: usize = 65_536;
/// Finalized events buffered for slow event-stream readers before they lag.
pub const EVENTS_BUFFER_MAX: usize = 1_024;
/// Batches admitted here and not yet forwarded to the other validators. Past it, a batch is
/// not forwarded (it stays in this validator's mempool and is proposed when this one leads).
pub const GOSSIP_QUEUE_MAX: usize = 16_384;

/// Resolves with a batch's outcome once a finalized block includes it.
pub type FinalityReceiver = oneshot::Receiver<Arc<BatchOutcome>>;

/// Finalized blocks whose whole body stays in memory; older bodies are read from the chain's
/// archive when needed ([`crate::FinalizedBlocks`]). Operations are most of a validator's
/// memory per transfer, and the archive holds them anyway.
pub const BLOCK_BODIES_KEPT: u64 = 4;

/// One batch of a finalized block, without its operations.
#[derive(Debug, Clone)]
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

/// A finalized block as the API serves it.
#[derive(Debug, Clone)]
pub struct FinalizedBlock {
    /// The block's header.
    pub header: Header,
    /// The block's digest.
    pub digest: Hash,
    /// Its batches, without their operations.
    pub batches: Vec<BatchSummary>,
    /// The whole block, for the last [`BLOCK_BODIES_KEPT`] heights only.
    pub body: Option<Block>,
    /// One result code per operation, in block order.
    pub results: Vec<ResultCode>,
    /// The state commitment after the block (its root is the header's `state_root`).
    pub state: StateCommitment,
    /// The encoded finality certificate (`FinalityCertificate`).
    pub certificate: Vec<u8>,
}

/// Where an operation landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Height of the block.
    pub height: u64,
    /// Index of the operation within the block.
    pub index: u32,
}

/// The outcome of one batch, once finalized.
#[derive(Debug, Clone)]
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
    /// [`WAITERS_MAX`] clients already wait for finality.
    #[error("too many clients are waiting for finality; retry without waiting")]
    TooManyWaiters,
}

/// A snapshot of the finalized side, swapped whole once per finalized block: readers keep a
/// consistent view as long as they hold it.
pub struct Finalized {
    /// The ledger after the last finalized block.
    pub ledger: Ledger,
    /// Finalized blocks by height (index 0 is height 1). Persistent collections: each
    /// finalized block makes a new snapshot in O(log n), not a copy.
    pub blocks: Vector<Arc<FinalizedBlock>>,
}

impl Finalized {
    /// The finalized block at `height` (none at height 0 or above the head).
    pub fn block(&self, height: u64) -> Option<&Arc<FinalizedBlock>> {
        height.checked_sub(1).and_then(|index| self.blocks.get(index as usize))
    }
}

/// Indexes of finalized history, changed in place once per finalized block (no snapshot copies:
/// as persistent maps they cost a copy of every node a block touched).
#[derive(Default)]
pub struct Indexes {
    /// Every place an operation id was submitted (retries land more than once).
    operations: BTreeSet<(u128, u64, u32)>,
    /// The outcome of every finalized batch, by batch digest.
    batches: HashMap<Hash, Arc<BatchOutcome>>,
    /// Each account's transfers, and balance histories.
    pub history: History,
}

impl Indexes {
    /// Where an operation id was submitted, oldest first.
    pub fn locations(&self, id: u128) -> Vec<Location> {
        self.operations
            .range((id, 0, 0)..=(id, u64::MAX, u32::MAX))
            .map(|(_, height, index)| Location { height: *height, index: *index })
            .collect()
    }

    /// The outcome of a finalized batch.
    pub fn batch(&self, digest: &Hash) -> Option<&Arc<BatchOutcome>> {
        self.batches.get(digest)
    }
}

/// The finalized side, as one lock guards it: the snapshot and the indexes always describe the
/// same height.
pub struct FinalizedState {
    /// The current snapshot.
    pub snapshot: Arc<Finalized>,
    /// The indexes, at the snapshot's height.
    pub indexes: Indexes,
}

struct Speculative {
    block: Block,
    ledger: Ledger,
    outcome: BlockOutcome,
}

#[derive(Default)]
struct Waiters {
    by_batch: HashMap<Hash, Vec<oneshot::Sender<Arc<BatchOutcome>>>>,
    count: usize,
}

struct Inner {
    consortium: Arc<Consortium>,
    genesis_block: Block,
    genesis_ledger: Ledger,
    mempool: Mutex<Mempool>,
    /// Signalled whenever a batch enters the mempool.
    arrivals: std::sync::Condvar,
    speculative: Mutex<BTreeMap<Hash, Arc<Speculative>>>,
    /// Unfinalized blocks seen as a parent or a proposal, to rebuild a post-state that a
    /// concurrent or skipped verification did not leave behind.
    seen: Mutex<BTreeMap<Hash, Block>>,
    finalized: RwLock<FinalizedState>,
    /// Clients waiting for finality. One lock for the map and its count, so that no two
    /// paths can take them in opposite orders.
    waiters: Mutex<Waiters>,
    events: broadcast::Sender<Arc<FinalizedEvent>>,
    /// How long `build` waits for a batch when the mempool is empty (see [`EMPTY_BLOCK_WAIT`]).
    empty_block_wait: std::time::Duration,
    /// Batches admitted from clients, waiting to be forwarded to the other validators.
    gossip: Mutex<Vec<SealedBatch>>,
    /// Signalled when `gossip` gets a batch.
    gossip_ready: tokio::sync::Notify,
    /// Batches not forwarded because `gossip` was full.
    gossip_dropped: std::sync::atomic::AtomicU64,
}

/// A cheap handle to the application; clones share it.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

impl App {
    /// An application at genesis that paces empty blocks with [`EMPTY_BLOCK_WAIT`] (production).
    pub fn new(consortium: Arc<Consortium>) -> App {
        App::with_empty_block_wait(consortium, EMPTY_BLOCK_WAIT)
    }

    /// An application at genesis whose leader waits up to `empty_block_wait` (wall clock) for a
    /// batch before proposing an empty block. The deterministic simulator passes
    /// `Duration::ZERO`: a wall-clock wait has no place on a simulated clock, and blocks the
    /// single-threaded runtime.
    pub fn with_empty_block_wait(consortium: Arc<Consortium>, empty_block_wait: std::time::Duration) -> App {
        let genesis_ledger = Ledger::new(consortium.clone());
        let genesis_block = Block {
            header: Header {
                version: HEADER_VERSION,
                height: 0,
                parent: Hash::ZERO,
                timestamp_ms: consortium.genesis.genesis_time_ms,
                state_root: genesis_ledger.state_root(),
                operations_root: Hash::ZERO,
                operations_count: 0,
                results_root: Hash::ZERO,
                context: Vec::new(),
            },
            batches: Vec::new(),
        };
        let finalized = FinalizedState {
            snapshot: Arc::new(Finalized { ledger: genesis_ledger.clone(), blocks: Vector::new() }),
            indexes: Indexes::default(),
        };
        let (events, _) = broadcast::channel(EVENTS_BUFFER_MAX);
        App {
            inner: Arc::new(Inner {
                consortium,
                genesis_block,
                genesis_ledger,
                mempool: Mutex::new(Mempool::default()),
                arrivals: std::sync::Condvar::new(),
                speculative: Mutex::new(BTreeMap::new()),
                seen: Mutex::new(BTreeMap::new()),
                finalized: RwLock::new(finalized),
                waiters: Mutex::new(Waiters::default()),
                events,
                empty_block_wait,
                gossip: Mutex::new(Vec::new()),
                gossip_ready: tokio::sync::Notify::new(),
                gossip_dropped: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// The consortium this application executes for.
    pub fn consortium(&self) -> &Arc<Consortium> {
        &self.inner.consortium
    }

    /// A consistent snapshot of the finalized side (cheap: one `Arc` clone).
    pub fn finalized(&self) -> Arc<Finalized> {
        self.read().snapshot.clone()
    }

    /// The finalized snapshot with its indexes, consistent with each other. Finalization
    /// waits while the guard is held: read, copy out, drop.
    pub fn read(&self) -> RwLockReadGuard<'_, FinalizedState> {
        self.inner.finalized.read().expect("finalized lock is never poisoned")
    }

    /// Batches and operations waiting in the mempool.
    pub fn mempool_size(&self) -> (usize, usize) {
        let pool = self.inner.mempool.lock().expect("mempool lock is never poisoned");
        (pool.len(), pool.operations())
    }

    /// A stream of finalized blocks and their batch outcomes, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FinalizedEvent>> {
        self.inner.events.subscribe()
    }

    /// Admits a signed batch: checks its chain, organisation, role, signature and sequence
    /// against the finalized state, then queues it. With `wait`, returns a receiver that
    /// resolves when a finalized block includes it.
    pub fn submit(
        &self,
        signed: SignedBatch,
        wait: bool,
    ) -> Result<(Hash, Option<FinalityReceiver>), SubmitError> {
        let signed = signed.seal();
        let digest = signed.digest();
        // Register before looking at the finalized state, so a finalization in between is
        // seen either by this look or by the waiter.
        let receiver = if wait { Some(self.register_waiter(digest)?) } else { None };
        let (mut results, admitted) = self.admit(vec![signed]);
        self.forward(admitted);
        match results.pop().expect("one result per batch") {
            Ok(_) => Ok((digest, receiver)),
            Err(error) => {
                drop(receiver);
                self.forget_waiter(&digest);
                Err(error)
            }
        }
    }

    /// Admits several signed batches, each on its own (one may fail while the others are
    /// queued), with their signatures checked at once. No waiters: clients learn finality from
    /// the event stream or by asking for each batch. One result per batch, in order.
    pub fn submit_many(&self, batches: Vec<SignedBatch>) -> Vec<Result<Hash, SubmitError>> {
        let sealed: Vec<SealedBatch> = batches.into_iter().map(SignedBatch::seal).collect();
        let (results, admitted) = self.admit(sealed);
        self.forward(admitted);
        results
    }

    /// Admits batches another validator forwarded (see [`App::forward`]); they are not
    /// forwarded again. Returns how many entered the mempool.
    pub fn receive_forwarded(&self, batches: Vec<SealedBatch>) -> usize {
        self.admit(batches).1.len()
    }

    /// Queues batches just admitted from clients for the other validators, so that whichever
    /// validator leads next can propose them (and they survive this validator's crash).
    fn forward(&self, batches: Vec<SealedBatch>) {
        if batches.is_empty() {
            return;
        }
        let mut queue = self.inner.gossip.lock().expect("gossip lock is never poisoned");
        let room = GOSSIP_QUEUE_MAX.saturating_sub(queue.len());
        let dropped = batches.len().saturating_sub(room);
        queue.extend(batches.into_iter().take(room));
        drop(queue);
        if dropped > 0 {
            self.inner.gossip_dropped.fetch_add(dropped as u64, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.gossip_ready.notify_one();
    }

    /// Batches not forwarded because the forwarding queue was full (they stay in this
    /// validator's mempool).
    pub fn gossip_dropped(&self) -> u64 {
        self.inner.gossip_dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks batches against the finalized state (signatures at once) and queues those that
    /// pass: one result per batch, and the batches that newly entered the mempool.
    fn admit(&self, sealed: Vec<SealedBatch>) -> (Vec<Result<Hash, SubmitError>>, Vec<SealedBatch>) {
        let (finalized, outcomes) = {
            let state = self.read();
            let outcomes: Vec<Option<Arc<BatchOutcome>>> =
                sealed.iter().map(|signed| state.indexes.batch(&signed.digest()).cloned()).collect();
            (state.snapshot.clone(), outcomes)
        };
        // A retry of a final batch answers with its outcome; only the others are checked.
        let fresh: Vec<SealedBatch> = sealed
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_none())
            .map(|(signed, _)| signed.clone())
            .collect();
        let mut checks = finalized.ledger.check_batches(&fresh).into_iter();
        let mut admitted = Vec::new();
        let mut already_final = Vec::new();
        let mut pool = self.inner.mempool.lock().expect("mempool lock is never poisoned");
        let results = sealed
            .into_iter()
            .zip(outcomes)
            .map(|(signed, outcome)| {
                let digest = signed.digest();
                if let Some(outcome) = outcome {
                    already_final.push(outcome);
                    return Ok(digest);
                }
                checks.next().expect("one check per fresh batch")?;
                match pool.insert(signed.clone()) {
                    Ok(()) => {
                        admitted.push(signed);
                        Ok(digest)
                    }
                    Err(MempoolError::Duplicate) => Ok(digest),
                    Err(error) => Err(error.into()),
                }
            })
            .collect();
        drop(pool);
        self.inner.arrivals.notify_all();
        // Registered before the look at the finalized state (see `submit`), a waiter for a
        // batch that was already final hears now.
        for outcome in &already_final {
            self.resolve_waiters(outcome);
        }
        (results, admitted)
    }

    /// Waits until batches wait to be forwarded, and takes them all.
    pub async fn next_forward(&self) -> Vec<SealedBatch> {
        loop {
            let ready = self.inner.gossip_ready.notified();
            let batches =
                std::mem::take(&mut *self.inner.gossip.lock().expect("gossip lock is never poisoned"));
            if !batches.is_empty() {
                return batches;
            }
            ready.await;
        }
    }

    fn register_waiter(&self, digest: Hash) -> Result<oneshot::Receiver<Arc<BatchOutcome>>, SubmitError> {
        let mut waiters = self.inner.waiters.lock().expect("waiter lock is never poisoned");
        if waiters.count >= WAITERS_MAX {
            return Err(SubmitError::TooManyWaiters);
        }
        waiters.count += 1;
        let (sender, receiver) = oneshot::channel();
        waiters.by_batch.entry(digest).or_default().push(sender);
        Ok(receiver)
    }

    /// The post-state of `block`, re-executing it on its parent's post-state when this
    /// validator has not executed it yet (a verification still running, or skipped).
    fn state_after(&self, block: &Block) -> Option<Ledger> {
        let finalized = self.finalized();
        let digest = block.digest();
        if digest == self.last_finalized_digest(&finalized) {
            return Some(finalized.ledger.clone());
        }
        if block.height() == 0 {
            return (digest == self.inner.genesis_block.digest()).then(|| self.inner.genesis_ledger.clone());
        }
        if block.height() <= finalized.ledger.height() {
            return None; // A block on a fork that finalization abandoned.
        }
        if let Some(entry) =
            self.inner.speculative.lock().expect("speculative lock is never poisoned").get(&digest)
        {
            return Some(entry.ledger.clone());
        }
        let parent =
            self.inner.seen.lock().expect("seen lock is never poisoned").get(&block.parent()).cloned();
        let parent = match parent {
            Some(parent) => parent,
            None if block.parent() == self.last_finalized_digest(&finalized) => match finalized.blocks.last()
            {
                Some(last) => last.body.clone().expect("the last finalized block keeps its body"),
                None => self.inner.genesis_block.clone(),
            },
            None => return None,
        };
        // Recursion is bounded by the unfinalized depth: each step goes one height down.
        // Its operations root was checked when it was decoded (`ChainBlock::new`).
        let mut ledger = self.state_after(&parent)?;
        let outcome = ledger
            .execute_block(block.height(), block.header.timestamp_ms, &block.batches, Signatures::Verify)
            .ok()?;
        if outcome.state.root() != block.header.state_root
            || outcome.results_root != block.header.results_root
        {
            return None;
        }
        self.remember(block.clone(), ledger.clone(), outcome);
        Some(ledger)
    }

    fn see(&self, block: &Block) {
        if block.height() > 0 {
            let mut seen = self.inner.seen.lock().expect("seen lock is never poisoned");
            seen.insert(block.digest(), block.clone());
            evict_lowest(&mut seen, |entry| entry.height());
        }
    }

    fn last_finalized_digest(&self, finalized: &Finalized) -> Hash {
        finalized.blocks.last().map_or_else(|| self.inner.genesis_block.digest(), |last| last.digest)
    }

    fn build(&self, parent: &Block, timestamp_ms: u64, context: Vec<u8>) -> Option<Block> {
        self.see(parent);
        let mut ledger = self.state_after(parent)?;
        let height = parent.height() + 1;
        let batches: Vec<SealedBatch> = {
            let mut pool = self.inner.mempool.lock().expect("mempool lock is never poisoned");
            if pool.is_empty() && !self.inner.empty_block_wait.is_zero() {
                pool = self
                    .inner
                    .arrivals
                    .wait_timeout_while(pool, self.inner.empty_block_wait, |pool| pool.is_empty())
                    .expect("mempool lock is never poisoned")
                    .0;
            }
            let mut taken = std::collections::BTreeSet::new();
            pool.select(OPERATIONS_PER_BLOCK_MAX, BATCHES_PER_BLOCK_MAX, |batch| {
                let key = (batch.batch.org, batch.batch.sequence);
                !taken.contains(&key)
                    && ledger.check_batch(batch, Signatures::AlreadyVerified).is_ok()
                    && taken.insert(key)
            })
        };
        let outcome = match ledger.execute_block(height, timestamp_ms, &batches, Signatures::AlreadyVerified)
        {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(%error, height, "a proposal failed to execute; proposing nothing");
                return None;
            }
        };
        let mut block = Block {
            header: Header {
                version: HEADER_VERSION,
                height,
                parent: parent.digest(),
                timestamp_ms,
                state_root: outcome.state.root(),
                operations_root: Hash::ZERO,
                operations_count: outcome.results.len() as u32,
                results_root: outcome.results_root,
                context,
            },
            batches,
        };
        block.header.operations_root = merkle::root(&block.operation_leaves());
        self.remember(block.clone(), ledger, outcome);
        Some(block)
    }

    fn check(&self, parent: &Block, block: &Block) -> bool {
        self.see(parent);
        self.see(block);
        let digest = block.digest();
        if self.inner.speculative.lock().expect("speculative lock is never poisoned").contains_key(&digest) {
            return true;
        }
        // The parent's verification may still be running on another task: consensus treats
        // `false` as "permanently invalid", so wait (bounded) for its state rather than reject
        // a valid block. Simulations (no wall-clock waits) skip the wait.
        let deadline = std::time::Instant::now() + self.inner.empty_block_wait * PARENT_WAIT_FACTOR;
        let mut ledger = loop {
            if let Some(ledger) = self.state_after(parent) {
                break ledger;
            }
            if std::time::Instant::now() >= deadline {
                tracing::warn!(height = block.height(), "cannot verify: the parent's state is unknown");
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        // Signatures: those of batches waiting in this mempool (same digest, same signature)
        // were verified on admission; the rest are verified here, all at once.
        let unverified: Vec<SealedBatch> = {
            let pool = self.inner.mempool.lock().expect("mempool lock is never poisoned");
            block.batches.iter().filter(|signed| !pool.holds(signed)).cloned().collect()
        };
        if let Err(error) = ledger.verify_signatures(&unverified) {
            tracing::warn!(%error, height = block.height(), "rejecting a block with a bad signature");
            return false;
        }
        // The chain crate checked the operations root and count against the batches
        // (`ChainBlock::new`), so execution only has to agree with the state and results roots.
        let outcome = match ledger.execute_block(
            block.height(),
            block.header.timestamp_ms,
            &block.batches,
            Signatures::AlreadyVerified,
        ) {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(%error, height = block.height(), "rejecting an invalid block");
                return false;
            }
        };
        if outcome.state.root() != block.header.state_root
            || outcome.results_root != block.header.results_root
        {
            tracing::warn!(
                height = block.height(),
                "rejecting a block whose roots do not match its execution"
            );
            return false;
        }
        self.remember(block.clone(), ledger, outcome);
        true
    }

    fn remember(&self, block: Block, ledger: Ledger, outcome: BlockOutcome) {
        let digest = block.digest();
        let entry = Arc::new(Speculative { block, ledger, outcome });
        let mut speculative = self.inner.speculative.lock().expect("speculative lock is never poisoned");
        speculative.insert(digest, entry);
        evict_lowest(&mut speculative, |entry| entry.block.height());
    }

    fn apply_finalized(&self, block: &Block, certificate: Vec<u8>) {
        let previous = self.finalized();
        let height = block.height();
        if height <= previous.ledger.height() {
            return; // Redelivered after a restart or a floor change: already applied.
        }
        assert_eq!(height, previous.ledger.height() + 1, "finalized blocks arrive in height order");
        assert_eq!(
            block.parent(),
            self.last_finalized_digest(&previous),
            "a finalized block extends the finalized chain"
        );
        let digest = block.digest();
        let known =
            self.inner.speculative.lock().expect("speculative lock is never poisoned").get(&digest).cloned();
        let (ledger, outcome) = match known {
            Some(entry) => (entry.ledger.clone(), entry.outcome.clone()),
            None => {
                // Replay after a restart, or a block finalized without our vote: a quorum
                // verified its signatures, so only execution is repeated.
                let mut ledger = previous.ledger.clone();
                let outcome = ledger
                    .execute_block(
                        height,
                        block.header.timestamp_ms,
                        &block.batches,
                        Signatures::AlreadyVerified,
                    )
                    .expect("a finalized block executes: a quorum of validators executed it");
                (ledger, outcome)
            }
        };
        assert_eq!(
            outcome.state.root(),
            block.header.state_root,
            "local execution disagrees with a finalized state root: this validator's state is corrupt"
        );

        let mut batch_outcomes = Vec::with_capacity(block.batches.len());
        let mut index = 0u32;
        for signed in &block.batches {
            let batch = &signed.batch;
            let results: Vec<(u128, ResultCode)> = batch
                .operations
                .iter()
                .zip(&outcome.results[index as usize..])
                .map(|(operation, code)| (operation.id(), *code))
                .collect();
            let batch_digest = signed.digest();
            let batch_outcome = Arc::new(BatchOutcome {
                batch_digest,
                org: batch.org,
                sequence: batch.sequence,
                height,
                block_digest: digest,
                first_index: index,
                results,
            });
            index += batch.operations.len() as u32;
            batch_outcomes.push(batch_outcome);
        }
        let mut blocks = previous.blocks.clone();
        let batches = block
            .batches
            .iter()
            .map(|signed| BatchSummary {
                digest: signed.digest(),
                org: signed.batch.org,
                sequence: signed.batch.sequence,
                operations: signed.batch.operations.len() as u32,
            })
            .collect();
        blocks.push_back(Arc::new(FinalizedBlock {
            header: block.header.clone(),
            digest,
            batches,
            body: Some(block.clone()),
            results: outcome.results.clone(),
            state: outcome.state,
            certificate,
        }));
        // Heights arrive one by one, so exactly one body falls out of the window per block.
        if height > BLOCK_BODIES_KEPT {
            let index = (height - BLOCK_BODIES_KEPT - 1) as usize;
            let summary = FinalizedBlock { body: None, ..(*blocks[index]).clone() };
            blocks.set(index, Arc::new(summary));
        }
        let next = Arc::new(Finalized { ledger: ledger.clone(), blocks });
        {
            let mut state = self.inner.finalized.write().expect("finalized lock is never poisoned");
            let indexes = &mut state.indexes;
            for outcome in &batch_outcomes {
                for (offset, (id, _)) in outcome.results.iter().enumerate() {
                    indexes.operations.insert((*id, height, outcome.first_index + offset as u32));
                }
                indexes.batches.insert(outcome.batch_digest, outcome.clone());
            }
            indexes.history.record(&ledger);
            state.snapshot = next;
        }

        self.inner
            .speculative
            .lock()
            .expect("speculative lock is never poisoned")
            .retain(|_, entry| entry.block.height() > height);
        self.inner.seen.lock().expect("seen lock is never poisoned").retain(|_, seen| seen.height() > height);
        let mut stale = Vec::new();
        self.inner.mempool.lock().expect("mempool lock is never poisoned").retain(|batch| {
            let keep = ledger.check_batch(batch, Signatures::AlreadyVerified).is_ok();
            if !keep {
                stale.push(batch.digest());
            }
            keep
        });
        for outcome in &batch_outcomes {
            self.resolve_waiters(outcome);
        }
        // A batch dropped without being final (another batch of its organisation used its
        // sequence number) will never be: close its waiters so clients hear it now.
        let mut waiters = self.inner.waiters.lock().expect("waiter lock is never poisoned");
        for digest in stale {
            if let Some(senders) = waiters.by_batch.remove(&digest) {
                waiters.count -= senders.len();
            }
        }
        drop(waiters);
        let event = FinalizedEvent {
            height,
            digest,
            timestamp_ms: block.header.timestamp_ms,
            state_root: block.header.state_root,
            batches: batch_outcomes,
        };
        let _ = self.inner.events.send(Arc::new(event));
    }

    fn resolve_waiters(&self, outcome: &Arc<BatchOutcome>) {
        let mut waiters = self.inner.waiters.lock().expect("waiter lock is never poisoned");
        for sender in waiters.by_batch.remove(&outcome.batch_digest).unwrap_or_default() {
            waiters.count -= 1;
            let _ = sender.send(outcome.clone());
        }
    }

    /// Forgets waiters whose clients gave up.
    pub fn forget_waiter(&self, digest: &Hash) {
        let mut waiters = self.inner.waiters.lock().expect("waiter lock is never poisoned");
        let Waiters { by_batch, count } = &mut *waiters;
        if let Some(list) = by_batch.get_mut(digest) {
            let before = list.len();
            list.retain(|sender| !sender.is_closed());
            *count -= before - list.len();
            if list.is_empty() {
                by_batch.remove(digest);
            }
        }
    }

    /// The result leaf hashes of a finalized block (for operation proofs), from its body.
    pub fn result_leaves(body: &Block, results: &[ResultCode]) -> Vec<Hash> {
        body.operations()
            .zip(results)
            .map(|((_, _, _, operation), code)| result_leaf(operation.id(), *code))
            .collect()
    }
}

/// Drops the lowest entries of a map past [`UNFINALIZED_BLOCKS_MAX`].
fn evict_lowest<T>(map: &mut BTreeMap<Hash, T>, height: impl Fn(&T) -> u64) {
    while map.len() > UNFINALIZED_BLOCKS_MAX {
        let lowest = map
            .iter()
            .min_by_key(|(_, entry)| height(entry))
            .map(|(digest, _)| *digest)
            .expect("a map over its bound is not empty");
        map.remove(&lowest);
    }
}

impl Executor for App {
    fn genesis_block(&self) -> Block {
        self.inner.genesis_block.clone()
    }

    fn propose(&self, parent: &Block, timestamp_ms: u64, context: Vec<u8>) -> Option<Block> {
        self.build(parent, timestamp_ms, context)
    }

    fn verify(&self, parent: &Block, block: &Block) -> bool {
        self.check(parent, block)
    }

    fn finalized(&self, block: &Block, certificate: Vec<u8>) {
        self.apply_finalized(block, certificate);
    }

    fn applied_height(&self) -> u64 {
        self.finalized().ledger.height()
    }

    async fn next_gossip(&self, bytes_max: usize) -> Vec<Vec<u8>> {
        BatchList::encode_chunked(&self.next_forward().await, bytes_max)
    }

    fn gossip_received(&self, message: &[u8]) {
        match BatchList::decode(message) {
            Ok(list) => {
                let batches = list.0.into_iter().map(SignedBatch::seal).collect();
                self.receive_forwarded(batches);
            }
            Err(error) => tracing::warn!(%error, "a peer forwarded an undecodable batch list"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hansa_types::{
        AccountFlags, Batch, Genesis, LedgerSpec, NewAccount, Operation, OrganisationSpec, Role, SecretKey,
        ValidatorSpec,
    };

    fn app() -> (App, SecretKey) {
        let key = SecretKey::from_seed([3; 32]);
        let genesis = Genesis {
            chain_name: "waiters".into(),
            genesis_time_ms: 1,
            organisations: vec![OrganisationSpec {
                id: OrgId(3),
                name: "Bank".into(),
                role: Role::PaymentInstitution,
                public_key: key.public_key(),
            }],
            ledgers: vec![LedgerSpec { id: 1, currency: "CNY".into(), scale: 2, issuer: OrgId(3) }],
            validators: vec![ValidatorSpec {
                name: "v".into(),
                org: OrgId(3),
                public_key: SecretKey::from_seed([9; 32]).public_key(),
                p2p_address: "127.0.0.1:1".into(),
                api_address: "127.0.0.1:2".into(),
            }],
        };
        let consortium = Arc::new(Consortium::new(genesis).expect("valid genesis"));
        (App::with_empty_block_wait(consortium, std::time::Duration::ZERO), key)
    }

    fn batch(app: &App, key: &SecretKey, sequence: u64, id: u128) -> SignedBatch {
        let account = NewAccount { id, ledger: 1, code: 1, flags: AccountFlags(0), ..Default::default() };
        let chain_id = app.consortium().chain_id;
        Batch { chain_id, org: OrgId(3), sequence, operations: vec![Operation::CreateAccount(account)] }
            .sign(key)
    }

    #[test]
    fn a_batch_admitted_here_is_forwarded_and_a_peer_admits_only_what_verifies() {
        let (here, key) = app();
        let peer = App::with_empty_block_wait(here.consortium().clone(), std::time::Duration::ZERO);
        let good = batch(&here, &key, 1, 10);
        here.submit(good.clone(), false).expect("admitted");
        let forwarded = futures::executor::block_on(here.next_forward());
        assert_eq!(forwarded.iter().map(SealedBatch::digest).collect::<Vec<_>>(), vec![good.batch.digest()]);
        // A forged batch slipped into the same message is refused; the good one is admitted.
        let mut forged = batch(&here, &key, 2, 11);
        forged.signature = key.sign(b"other bytes");
        let mut list = forwarded;
        list.push(forged.seal());
        for message in BatchList::encode_chunked(&list, crate::node::GOSSIP_MESSAGE_BYTES_MAX) {
            Executor::gossip_received(&peer, &message);
        }
        assert_eq!(peer.mempool_size(), (1, 1));
        Executor::gossip_received(&peer, &[1, 2, 3]);
        assert_eq!(peer.mempool_size(), (1, 1), "garbage changes nothing");
        // What a peer admitted from gossip is not forwarded again.
        assert!(peer.inner.gossip.lock().expect("gossip lock").is_empty());
    }

    #[test]
    fn a_held_batch_skips_verification_only_with_the_very_same_signature() {
        let (proposer, key) = app();
        let verifier = App::with_empty_block_wait(proposer.consortium().clone(), std::time::Duration::ZERO);
        let signed = batch(&proposer, &key, 1, 10);
        proposer.submit(signed.clone(), false).expect("admitted");
        verifier.submit(signed.clone(), false).expect("admitted");
        let genesis = proposer.genesis_block();
        let block = proposer.propose(&genesis, 10, Vec::new()).expect("a block");
        // The same batch with another signature: the digest matches what the verifier holds,
        // the signature does not, so it must be checked, and it fails.
        let mut tampered = block.clone();
        let mut forged = (*tampered.batches[0]).clone();
        forged.signature = key.sign(b"other bytes");
        tampered.batches[0] = forged.seal();
        assert!(!Executor::verify(&verifier, &genesis, &tampered));
        assert!(Executor::verify(&verifier, &genesis, &block));
    }

    #[test]
    fn a_waiter_hears_at_once_when_its_batch_can_never_be_final() {
        let (app, key) = app();
        // Two batches with the same sequence number: the first queued wins the block.
        let (_, none) = app.submit(batch(&app, &key, 5, 1), false).expect("admitted");
        assert!(none.is_none());
        let (_, waiter) = app.submit(batch(&app, &key, 5, 2), true).expect("admitted");
        let mut waiter = waiter.expect("a waiter");
        let (_, included) = app.submit(batch(&app, &key, 6, 3), true).expect("admitted");
        let mut included = included.expect("a waiter");
        let genesis = app.genesis_block();
        let block = app.propose(&genesis, 10, Vec::new()).expect("a block");
        assert_eq!(block.batches.len(), 2, "one batch per sequence number");
        Executor::finalized(&app, &block, Vec::new());
        assert!(
            matches!(waiter.try_recv(), Err(oneshot::error::TryRecvError::Closed)),
            "closed, not left hanging"
        );
        let outcome = included.try_recv().expect("the included batch is final");
        assert_eq!(outcome.results, vec![(3, ResultCode::Ok)]);
        assert_eq!(app.mempool_size(), (0, 0), "nothing stale is left waiting");
    }
}
