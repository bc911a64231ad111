//! Finalization: applying finalized blocks to the state in height order, recording them in the
//! index, checkpointing, and telling waiters and event subscribers.

use super::index::BlockRecord;
use super::{
    App, BLOCK_BODIES_KEPT, BatchOutcome, BatchSummary, Finalized, FinalizedBlock, FinalizedEvent, lock,
};
use commonware_runtime::Spawner;
use hansa_ledger::Signatures;
use hansa_types::{Block, ResultCode};
use std::sync::Arc;

/// Why a finalized block could not be applied: storage failed. Fatal for the process.
#[derive(Debug, thiserror::Error)]
pub(super) enum FinalizeError {
    #[error("state: {0}")]
    Store(#[from] hansa_state::StoreError),
    #[error(transparent)]
    Index(#[from] super::IndexError),
    #[error("re-executing the block: {0}")]
    Execute(#[from] super::execution::ExecuteError),
}

impl<E: commonware_storage::Context + Spawner> App<E> {
    pub(super) async fn apply_finalized(
        &self,
        block: &Block,
        certificate: Vec<u8>,
    ) -> Result<(), FinalizeError> {
        let _applying = self.inner.applying.lock().await;
        let previous = self.finalized();
        let height = block.height();
        if height <= previous.height {
            return Ok(()); // Redelivered after a restart: already applied.
        }
        assert_eq!(height, previous.height + 1, "finalized blocks arrive in height order");
        assert_eq!(block.parent(), previous.digest, "a finalized block extends the finalized chain");
        let digest = block.digest();
        // A block being executed now (verified, or rebuilt as an unseen ancestor) is waited
        // for rather than executed a second time.
        let speculative = match self.known(&digest).await {
            Some(entry) => entry,
            None => {
                // Replay after a restart, or a block finalized without our vote: a quorum
                // verified its signatures, so only execution is repeated.
                let (mut speculative, _) = self
                    .execute(
                        &None,
                        height,
                        block.header.timestamp_ms,
                        &block.batches,
                        Signatures::AlreadyVerified,
                    )
                    .await?;
                speculative.block = block.clone();
                Arc::new(speculative)
            }
        };
        assert_eq!(
            speculative.state.commitment().root(),
            block.header.state_root,
            "local execution disagrees with a finalized state root: this validator's state is corrupt"
        );

        let mut outcomes = Vec::with_capacity(block.batches.len());
        let mut index = 0u32;
        for signed in &block.batches {
            let batch = &signed.batch;
            let results: Vec<(u128, ResultCode)> = batch
                .operations
                .iter()
                .zip(&speculative.results[index as usize..])
                .map(|(operation, code)| (operation.id(), *code))
                .collect();
            outcomes.push(Arc::new(BatchOutcome {
                batch_digest: signed.digest(),
                org: batch.org,
                sequence: batch.sequence,
                height,
                block_digest: digest,
                first_index: index,
                results,
            }));
            index += batch.operations.len() as u32;
        }
        let summary = FinalizedBlock {
            header: block.header.clone(),
            digest,
            batches: block
                .batches
                .iter()
                .map(|signed| BatchSummary {
                    digest: signed.digest(),
                    org: signed.batch.org,
                    sequence: signed.batch.sequence,
                    operations: signed.batch.operations.len() as u32,
                })
                .collect(),
            results: speculative.results.clone(),
            state: *speculative.state.commitment(),
            certificate,
        };
        // The index first (it may run ahead of the state: a replay records the same entries),
        // then the state; at a checkpoint the index is made durable before the state is.
        let record = BlockRecord {
            block: &summary,
            outcomes: &outcomes,
            transfers: &speculative.transfers,
            balances: &speculative.balances,
            accounts_created: &speculative.accounts_created,
            deltas: &speculative.deltas,
        };
        let started = std::time::Instant::now();
        self.inner.index.record(&record, false)?;
        let recorded = started.elapsed();
        self.inner.store.apply(&speculative.state).await?;
        let applied = started.elapsed();
        if height.is_multiple_of(self.inner.config.checkpoint_interval) {
            self.inner.index.sync()?;
            self.inner.store.checkpoint().await?;
            if let Some(retention) = self.inner.config.retention_blocks
                && height > retention
            {
                self.inner.index.prune(height - retention)?;
            }
        }
        tracing::debug!(
            height,
            operations = speculative.results.len(),
            index_ms = recorded.as_millis() as u64,
            apply_ms = (applied - recorded).as_millis() as u64,
            checkpoint_ms = (started.elapsed() - applied).as_millis() as u64,
            "finalized block applied"
        );

        let mut windows = previous.windows.clone();
        for (signer, window) in &speculative.windows {
            windows.insert(*signer, Arc::new(window.clone()));
        }
        let mut keys = previous.keys.clone();
        for key in &speculative.keys {
            keys.insert((key.org, key.key.id), Arc::new(*key));
        }
        let mut recent = previous.recent.clone();
        recent.push_back(Arc::new(block.clone()));
        while recent.len() > BLOCK_BODIES_KEPT {
            recent.pop_front();
        }
        let next = Finalized {
            height,
            header: block.header.clone(),
            digest,
            state: *speculative.state.commitment(),
            windows,
            keys,
            recent,
        };
        *self.inner.finalized.write().expect("finalized lock is never poisoned") = Arc::new(next.clone());

        lock(&self.inner.speculative).retain(|_, entry| entry.block.height() > height);
        lock(&self.inner.seen).retain(|_, seen| seen.height() > height);
        self.inner.progress.notify_waiters();
        let mut stale = Vec::new();
        let ledger = &self.inner.ledger;
        lock(&self.inner.mempool).retain(|batch| {
            let signer = next.signer(batch.batch.org, batch.batch.key);
            let now_ms = next.header.timestamp_ms;
            let keep = ledger.check_batch(batch, signer, now_ms, Signatures::AlreadyVerified).is_ok();
            if !keep {
                stale.push(batch.digest());
            }
            keep
        });
        for outcome in &outcomes {
            self.resolve_waiters(outcome);
        }
        // A batch dropped without being final (another batch of its organisation used its
        // sequence number) will never be: close its waiters so clients hear it now.
        self.close_waiters(&stale);
        let event = FinalizedEvent {
            height,
            digest,
            timestamp_ms: block.header.timestamp_ms,
            state_root: block.header.state_root,
            batches: outcomes,
        };
        let _ = self.inner.events.send(Arc::new(event));
        Ok(())
    }
}
