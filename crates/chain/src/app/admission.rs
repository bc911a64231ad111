//! Admission: checking signed batches against the finalized state and queueing them, forwarding
//! what clients sent here to the other validators, and the clients waiting for finality.

use super::{App, BatchOutcome, FinalityReceiver, SubmitError, Waiters, lock};
use crate::mempool::MempoolError;
use commonware_runtime::Spawner;
use hansa_types::{BatchError, Hash, SealedBatch, SignedBatch};
use std::sync::Arc;
use tokio::sync::oneshot;

impl<E: commonware_storage::Context + Spawner> App<E> {
    /// Admits a signed batch: checks its chain, organisation, role, signing key, signature and
    /// sequence against the finalized state, then queues it. With `wait`, returns a receiver that
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
    /// forwarded again. Returns how many entered the mempool, or the first refusal that proves
    /// the forwarder misbehaved ([`BatchError::proves_misbehaviour`]: an honest validator
    /// never forwards such a batch); the valid batches are admitted either way.
    pub fn receive_forwarded(&self, batches: Vec<SealedBatch>) -> Result<usize, BatchError> {
        let (results, admitted) = self.admit(batches);
        let proof = results.into_iter().find_map(|result| match result {
            Err(SubmitError::Batch(error)) if error.proves_misbehaviour() => Some(error),
            _ => None,
        });
        match proof {
            Some(error) => Err(error),
            None => Ok(admitted.len()),
        }
    }

    /// Queues batches just admitted from clients for the other validators, so that whichever
    /// validator leads next can propose them (and they survive this validator's crash).
    fn forward(&self, batches: Vec<SealedBatch>) {
        if batches.is_empty() {
            return;
        }
        let mut queue = lock(&self.inner.gossip);
        let room = self.inner.config.forwarding_queue_max.saturating_sub(queue.len());
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
        let finalized = self.finalized();
        let outcomes: Vec<Result<Option<BatchOutcome>, SubmitError>> = sealed
            .iter()
            .map(|signed| {
                self.inner
                    .index
                    .batch(&signed.digest())
                    .map_err(|error| SubmitError::Storage(error.to_string()))
            })
            .collect();
        // A retry of a final batch answers with its outcome; only the others are checked.
        let fresh: Vec<SealedBatch> = sealed
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| matches!(outcome, Ok(None)))
            .map(|(signed, _)| signed.clone())
            .collect();
        let now_ms = finalized.header.timestamp_ms;
        let mut checks = self
            .inner
            .ledger
            .check_batches(&fresh, now_ms, |org, key| finalized.signer(org, key))
            .into_iter();
        let mut admitted = Vec::new();
        let mut already_final = Vec::new();
        let mut pool = lock(&self.inner.mempool);
        let results = sealed
            .into_iter()
            .zip(outcomes)
            .map(|(signed, outcome)| {
                let digest = signed.digest();
                if let Some(outcome) = outcome? {
                    already_final.push(Arc::new(outcome));
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
            let batches = std::mem::take(&mut *lock(&self.inner.gossip));
            if !batches.is_empty() {
                return batches;
            }
            ready.await;
        }
    }

    fn register_waiter(&self, digest: Hash) -> Result<oneshot::Receiver<Arc<BatchOutcome>>, SubmitError> {
        let mut waiters = lock(&self.inner.waiters);
        if waiters.count >= self.inner.config.waiters_max {
            return Err(SubmitError::TooManyWaiters);
        }
        waiters.count += 1;
        let (sender, receiver) = oneshot::channel();
        waiters.by_batch.entry(digest).or_default().push(sender);
        Ok(receiver)
    }

    pub(super) fn resolve_waiters(&self, outcome: &Arc<BatchOutcome>) {
        let mut waiters = lock(&self.inner.waiters);
        for sender in waiters.by_batch.remove(&outcome.batch_digest).unwrap_or_default() {
            waiters.count -= 1;
            let _ = sender.send(outcome.clone());
        }
    }

    /// Closes the waiters of batches that can never be final (dropped as stale).
    pub(super) fn close_waiters(&self, digests: &[Hash]) {
        let mut waiters = lock(&self.inner.waiters);
        for digest in digests {
            if let Some(senders) = waiters.by_batch.remove(digest) {
                waiters.count -= senders.len();
            }
        }
    }

    /// Forgets waiters whose clients gave up.
    pub fn forget_waiter(&self, digest: &Hash) {
        let mut waiters = lock(&self.inner.waiters);
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
}
