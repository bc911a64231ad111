//! Execution: fetching the records a block reads, running the ledger on them, and building the
//! block's speculative state on its parent's; proposing and verifying blocks with it.

use super::{App, Speculative, evict_lowest, lock};
use crate::Verdict;
use commonware_runtime::Spawner;
use hansa_ledger::modules::ledger::ACCOUNTS;
use hansa_ledger::{Prefetched, SequenceWindow, Signatures, Signer, key_record, sequence_key};
use hansa_state::{Speculation, StoreError};
use hansa_types::block::{BATCHES_PER_BLOCK_MAX, HEADER_VERSION, OPERATIONS_PER_BLOCK_MAX};
use hansa_types::{Account, Block, Decode, DelegatedKey, Hash, Header, OrgId, ROOT_KEY, SealedBatch, merkle};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The state a block executes on: the applied tip (`None`) or a speculative state.
type Parent = Option<Arc<Speculation>>;

/// Sequence windows and delegated keys' records, by (organisation, key number).
type SignerStates = (BTreeMap<(OrgId, u32), SequenceWindow>, BTreeMap<(OrgId, u32), DelegatedKey>);

/// Why a block could not be executed here.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExecuteError {
    #[error("the block is invalid: {0}")]
    Invalid(#[from] hansa_ledger::BlockError),
    #[error("storage: {0}")]
    Storage(#[from] hansa_state::StoreError),
}

impl<E: commonware_storage::Context + Spawner> App<E> {
    /// Fetches every record executing `batches` at `timestamp_ms` on `parent` reads.
    async fn prefetch(
        &self,
        parent: &Parent,
        timestamp_ms: u64,
        batches: &[SealedBatch],
    ) -> Result<Prefetched, hansa_state::StoreError> {
        let mut prefetched = Prefetched::new();
        let mut plan = self.inner.ledger.read_plan(timestamp_ms, batches);
        loop {
            let keys = plan.next(&prefetched);
            if keys.is_empty() {
                return Ok(prefetched);
            }
            let values = self.inner.store.read(parent.as_ref(), &keys).await?;
            prefetched.extend(keys, values);
        }
    }

    /// Executes `batches` as the block at `height` on `parent` and builds its speculative state.
    pub(super) async fn execute(
        &self,
        parent: &Parent,
        height: u64,
        timestamp_ms: u64,
        batches: &[SealedBatch],
        signatures: Signatures,
    ) -> Result<(Speculative, Hash), ExecuteError> {
        self.inner.executions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefetched = self.prefetch(parent, timestamp_ms, batches).await?;
        let outcome = self.inner.ledger.execute_block(timestamp_ms, batches, &prefetched, signatures)?;
        let deltas = match hansa_ledger::check_block(&prefetched, &outcome.writes) {
            Ok(deltas) => deltas,
            Err(violation) => panic!("the ledger broke an invariant at height {height}: {violation}"),
        };
        let accounts_created: Vec<(u32, u128)> = outcome
            .writes
            .records
            .iter()
            .filter(|write| write.key.table == ACCOUNTS.id && prefetched.get(&write.key) == Some(None))
            .map(|write| {
                let bytes = write.value.as_ref().expect("accounts are never deleted");
                (Account::decode(bytes).expect("the ledger writes decodable accounts").ledger, write.key.id)
            })
            .collect();
        let mut windows = Vec::new();
        let mut keys = Vec::new();
        for write in &outcome.writes.records {
            if write.key.table == hansa_ledger::SEQUENCES.id {
                let bytes = write.value.as_ref().expect("sequence windows are never deleted");
                let window = SequenceWindow::decode(bytes).expect("the ledger writes decodable windows");
                windows.push((hansa_ledger::signer_of(write.key.id), window));
            } else if write.key.table == hansa_ledger::KEYS.id {
                let bytes = write.value.as_ref().expect("keys are never deleted");
                keys.push(DelegatedKey::decode(bytes).expect("the ledger writes decodable keys"));
            }
        }
        let state = self.inner.store.speculate(parent.as_ref(), height, outcome.writes).await?;
        let placeholder = Block {
            header: Header {
                version: HEADER_VERSION,
                height,
                parent: Hash::ZERO,
                timestamp_ms,
                state_root: Hash::ZERO,
                operations_root: Hash::ZERO,
                operations_count: 0,
                results_root: Hash::ZERO,
                context: Vec::new(),
            },
            batches: Vec::new(),
        };
        let speculative = Speculative {
            block: placeholder,
            results: outcome.results,
            balances: outcome.balances,
            transfers: outcome.transfers,
            accounts_created,
            deltas,
            windows,
            keys,
            state,
        };
        Ok((speculative, outcome.results_root))
    }

    /// The state after `block`, executing it (and, recursively, unexecuted unfinalized
    /// ancestors this validator has seen) if needed. `None` if it cannot be known here: a block
    /// on an abandoned fork, or whose ancestry was never seen.
    async fn state_after(&self, block: &Block) -> Option<Parent> {
        let finalized = self.finalized();
        let digest = block.digest();
        if digest == finalized.digest {
            return Some(None);
        }
        if block.height() <= finalized.height {
            return None; // A block on a fork that finalization abandoned.
        }
        if let Some(entry) = self.known(&digest).await {
            return Some(Some(entry.state.clone()));
        }
        let _executing = Executing::start(self, digest);
        let parent = lock(&self.inner.seen).get(&block.parent()).cloned();
        let parent_state = if block.parent() == finalized.digest {
            None
        } else {
            // Recursion is bounded by the unfinalized depth: each step goes one height down.
            let parent = parent?;
            Box::pin(self.state_after(&parent)).await?
        };
        let executed = self
            .execute(
                &parent_state,
                block.height(),
                block.header.timestamp_ms,
                &block.batches,
                Signatures::Verify,
            )
            .await;
        let (mut speculative, results_root) = match executed {
            Ok(executed) => executed,
            // Finalization applied this block (or passed it) meanwhile: the finalized state is
            // the one after it if it is the tip; otherwise it is on an abandoned fork, or below.
            Err(ExecuteError::Storage(StoreError::OutOfOrder { .. })) => {
                return (digest == self.finalized().digest).then_some(None);
            }
            Err(ExecuteError::Storage(error)) => storage_failed(block.height(), &error),
            Err(ExecuteError::Invalid(_)) => return None,
        };
        if speculative.state.commitment().root() != block.header.state_root
            || results_root != block.header.results_root
        {
            return None;
        }
        speculative.block = block.clone();
        let state = speculative.state.clone();
        self.remember(speculative);
        Some(Some(state))
    }

    pub(super) fn see(&self, block: &Block) {
        if block.height() > 0 {
            let mut seen = lock(&self.inner.seen);
            let new = seen.insert(block.digest(), block.clone()).is_none();
            evict_lowest(&mut seen, self.inner.config.speculative_blocks_max, |entry| entry.height());
            drop(seen);
            if new {
                // A block seen may complete the ancestry a waiting verification needs.
                self.inner.progress.notify_waiters();
            }
        }
    }

    /// Whether executing `block` may need its parent delivered: its state is neither known
    /// nor being computed, and its parent is above the finalized tip, within the unfinalized
    /// blocks this executor keeps (`speculative_blocks_max`). A block further above the tip
    /// (this validator is catching up) asks for nothing: what it offered would be evicted at
    /// once, and each step would cost a fetch beside marshal's own backfill; it waits for
    /// finalization to come closer, as before.
    pub(super) fn wants_parent_of(&self, block: &Block) -> bool {
        let finalized = self.finalized().height;
        let kept = self.inner.config.speculative_blocks_max as u64;
        if block.height() <= finalized + 1 || block.height() > finalized + kept {
            return false;
        }
        let digest = block.digest();
        if lock(&self.inner.speculative).contains_key(&digest) {
            return false;
        }
        !lock(&self.inner.executing).contains_key(&digest)
    }

    /// In the state `parent`: the sequence windows of every organisation's root key and of
    /// the delegated keys `delegated`, and those keys' records (absent: never registered).
    async fn signers(
        &self,
        parent: &Parent,
        delegated: &BTreeSet<(OrgId, u32)>,
    ) -> Result<SignerStates, hansa_state::StoreError> {
        let signers: Vec<(OrgId, u32)> = self
            .inner
            .ledger
            .consortium()
            .genesis
            .organisations
            .iter()
            .map(|org| (org.id, ROOT_KEY))
            .chain(delegated.iter().copied())
            .collect();
        let mut keys: Vec<_> = signers.iter().map(|(org, key)| sequence_key(*org, *key)).collect();
        keys.extend(delegated.iter().map(|(org, key)| key_record(*org, *key)));
        let mut values = self.inner.store.read(parent.as_ref(), &keys).await?.into_iter();
        let windows = signers
            .into_iter()
            .zip(values.by_ref())
            .filter_map(|(signer, value)| {
                value.map(|bytes| (signer, SequenceWindow::decode(&bytes).expect("stored windows decode")))
            })
            .collect();
        let records = delegated
            .iter()
            .zip(values)
            .filter_map(|(signer, value)| {
                value.map(|bytes| (*signer, DelegatedKey::decode(&bytes).expect("stored keys decode")))
            })
            .collect();
        Ok((windows, records))
    }

    pub(super) async fn build(&self, parent: &Block, timestamp_ms: u64, context: Vec<u8>) -> Option<Block> {
        self.see(parent);
        let parent_state = self.state_after(parent).await?;
        let height = parent.height() + 1;
        let delegated = lock(&self.inner.mempool).delegated_signers();
        let (mut windows, keys) = match self.signers(&parent_state, &delegated).await {
            Ok(signers) => signers,
            Err(error) => {
                tracing::warn!(%error, height, "cannot read the parent's sequence windows; proposing nothing");
                return None;
            }
        };
        let batches: Vec<SealedBatch> = {
            let mut pool = lock(&self.inner.mempool);
            let wait = self.inner.config.empty_block_wait;
            if pool.is_empty() && !wait.is_zero() {
                pool = self
                    .inner
                    .arrivals
                    .wait_timeout_while(pool, wait, |pool| pool.is_empty())
                    .expect("mempool lock is never poisoned")
                    .0;
            }
            let mut taken = BTreeSet::new();
            let ledger = &self.inner.ledger;
            pool.select(OPERATIONS_PER_BLOCK_MAX, BATCHES_PER_BLOCK_MAX, |batch| {
                let signer = (batch.batch.org, batch.batch.key);
                // A delegated key's batch that arrived after the keys were read waits a block.
                if signer.1 != ROOT_KEY && !delegated.contains(&signer) {
                    return false;
                }
                let taken_key = (signer, batch.batch.sequence);
                let window = windows.entry(signer).or_default();
                let state = Signer { window: Some(window), key: keys.get(&signer) };
                let fresh = !taken.contains(&taken_key)
                    && ledger.check_batch(batch, state, timestamp_ms, Signatures::AlreadyVerified).is_ok();
                if fresh {
                    window.accept(batch.batch.sequence);
                    taken.insert(taken_key);
                }
                fresh
            })
        };
        let executed =
            self.execute(&parent_state, height, timestamp_ms, &batches, Signatures::AlreadyVerified).await;
        let (mut speculative, results_root) = match executed {
            Ok(executed) => executed,
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
                state_root: speculative.state.commitment().root(),
                operations_root: Hash::ZERO,
                operations_count: speculative.results.len() as u32,
                results_root,
                context,
            },
            batches,
        };
        block.header.operations_root = merkle::root(&block.operation_leaves());
        speculative.block = block.clone();
        self.remember(speculative);
        Some(block)
    }

    pub(super) async fn check(&self, parent: &Block, block: &Block) -> Verdict {
        self.see(parent);
        self.see(block);
        let digest = block.digest();
        if self.known(&digest).await.is_some() {
            return Verdict::Valid;
        }
        // Consensus treats `false` as "permanently invalid" (a validator that answers it for a
        // block others certified can no longer vote to finalize that view), so a parent whose
        // state is not known yet (its verification still running, or, after a restart or a
        // partition, its ancestors not yet delivered here) is waited for, not refused: until
        // its state is known, or finalization passes its height without it (a fork that was
        // abandoned, which no later block makes valid). Consensus drops the wait if the view
        // ends first.
        let parent_state = loop {
            let progress = self.inner.progress.notified();
            if let Some(state) = self.state_after(parent).await {
                break state;
            }
            if parent.height() <= self.finalized().height {
                tracing::warn!(
                    height = block.height(),
                    "rejecting a block whose parent is on an abandoned fork"
                );
                return Verdict::Refused;
            }
            tracing::debug!(height = block.height(), "waiting for the parent's state");
            progress.await;
        };
        let _executing = Executing::start(self, digest);
        // Signatures: those of batches waiting in this mempool (same digest, same signature)
        // were verified on admission; the rest are verified here, all at once.
        let unverified: Vec<SealedBatch> = {
            let pool = lock(&self.inner.mempool);
            block.batches.iter().filter(|signed| !pool.holds(signed)).cloned().collect()
        };
        if let Err(error) = self.inner.ledger.verify_signatures(&unverified) {
            tracing::warn!(%error, height = block.height(), "rejecting a block with a bad signature");
            return Verdict::Invalid;
        }
        // Delegated keys' signatures are checked in execution, against their records.
        let signatures = match unverified.iter().any(|signed| signed.batch.key != ROOT_KEY) {
            true => Signatures::VerifyDelegated,
            false => Signatures::AlreadyVerified,
        };
        // The chain crate checked height, parent, time and the operations root (`ChainBlock::new`),
        // so execution only has to agree with the state and results roots.
        let executed = self
            .execute(&parent_state, block.height(), block.header.timestamp_ms, &block.batches, signatures)
            .await;
        let (mut speculative, results_root) = match executed {
            Ok(executed) => executed,
            Err(ExecuteError::Storage(StoreError::OutOfOrder { applied, .. })) => {
                return self.overtaken(block, applied);
            }
            Err(ExecuteError::Storage(error)) => storage_failed(block.height(), &error),
            Err(error) => {
                tracing::warn!(%error, height = block.height(), "rejecting a block that does not execute");
                return Verdict::Invalid;
            }
        };
        if speculative.state.commitment().root() != block.header.state_root
            || results_root != block.header.results_root
        {
            tracing::warn!(
                height = block.height(),
                "rejecting a block whose roots do not match its execution"
            );
            return Verdict::Invalid;
        }
        speculative.block = block.clone();
        self.remember(speculative);
        Verdict::Valid
    }

    /// The verdict on `block` when finalization passed its parent while it was being executed on
    /// the parent's state (the store applied height `applied` meanwhile): valid if `block` is the
    /// block finalized at its height, else refused (a fork finalization abandoned). Neither is a
    /// storage failure: a verification once stopped a devnet validator this way, when the block
    /// it was verifying was finalized and applied before its execution ended.
    fn overtaken(&self, block: &Block, applied: u64) -> Verdict {
        let finalized = self.finalized();
        let digest = block.digest();
        let at_height = if block.height() == finalized.height {
            Some(finalized.digest)
        } else {
            self.inner.index.block(block.height()).ok().flatten().map(|indexed| indexed.digest)
        };
        tracing::debug!(
            height = block.height(),
            applied,
            "finalization passed the parent during a verification"
        );
        if at_height == Some(digest) { Verdict::Valid } else { Verdict::Refused }
    }

    /// The speculative state of the block `digest`, if known; if the block is being executed
    /// now (a verification, a proposal's parent rebuilt, on another task), after that execution
    /// ends. Executing it here meanwhile would repeat the same work: measured on 2026-12-01,
    /// about 6% of all executions under W1 at four validators were such repeats.
    pub(super) async fn known(&self, digest: &Hash) -> Option<Arc<Speculative>> {
        if let Some(entry) = lock(&self.inner.speculative).get(digest) {
            return Some(entry.clone());
        }
        let running = self.executing(digest)?;
        let _ = running.await;
        lock(&self.inner.speculative).get(digest).cloned()
    }

    /// If `digest` is being executed now: a receiver that completes when every execution of it
    /// has ended (its speculative state then remembered, unless the block proved invalid).
    pub(super) fn executing(&self, digest: &Hash) -> Option<oneshot::Receiver<()>> {
        let mut executing = lock(&self.inner.executing);
        let running = executing.get_mut(digest)?;
        let (done, receiver) = oneshot::channel();
        running.waiters.push(done);
        Some(receiver)
    }

    fn remember(&self, speculative: Speculative) {
        let digest = speculative.block.digest();
        let mut map = lock(&self.inner.speculative);
        map.insert(digest, Arc::new(speculative));
        evict_lowest(&mut map, self.inner.config.speculative_blocks_max, |entry| entry.block.height());
        drop(map);
        self.inner.progress.notify_waiters();
    }
}

/// A verification that cannot read its storage stops the validator. Answering `false` would
/// call a valid block invalid (a vote consensus treats as final, and a view this validator
/// could then no longer finalize); answering `true` would vouch for what it did not check. The
/// panic ends the process (the runtime does not catch task panics), saying what failed; the
/// operator repairs the disk or joins again from a snapshot.
fn storage_failed(height: u64, error: &hansa_state::StoreError) -> ! {
    panic!(
        "storage failed while executing block {height}: {error}; stopping rather than judging a block this validator cannot read"
    )
}

/// The executions of one block running now, and who waits for them all to end.
#[derive(Default)]
pub(super) struct Running {
    executions: usize,
    waiters: Vec<oneshot::Sender<()>>,
}

/// One execution of a block, from its start to its end (however it ends). When the last of a
/// block's executions ends, its entry goes and the waiters' senders drop with it, which wakes them.
struct Executing<'a, E: commonware_storage::Context + Spawner> {
    app: &'a App<E>,
    digest: Hash,
}

impl<'a, E: commonware_storage::Context + Spawner> Executing<'a, E> {
    fn start(app: &'a App<E>, digest: Hash) -> Executing<'a, E> {
        lock(&app.inner.executing).entry(digest).or_default().executions += 1;
        Executing { app, digest }
    }
}

impl<E: commonware_storage::Context + Spawner> Drop for Executing<'_, E> {
    fn drop(&mut self) {
        let mut executing = lock(&self.app.inner.executing);
        if let Some(running) = executing.get_mut(&self.digest) {
            running.executions -= 1;
            if running.executions == 0 {
                executing.remove(&self.digest);
            }
        }
    }
}
