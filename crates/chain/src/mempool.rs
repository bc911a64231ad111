//! The mempool: signed batches waiting for a block, fair between organisations.
//!
//! Each organisation has its own FIFO queue; a proposal takes one batch from each organisation
//! in turn (round robin, starting after the organisation served first last time), so one busy
//! organisation cannot starve the others. Batches stay in the pool until a *finalized* block
//! includes them: a proposal that never finalizes loses nothing. Everything is bounded.

use hansa_types::{Hash, OrgId, SealedBatch, Signature};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Most batches waiting in one validator's pool, by default.
pub const BATCHES_MAX: usize = 65_536;
/// Most batches one organisation may have waiting, by default.
pub const BATCHES_PER_ORG_MAX: usize = 16_384;
/// Most operations waiting, over all batches, by default.
pub const OPERATIONS_MAX: usize = 1_048_576;

/// The mempool's bounds (the node configuration may set each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolBounds {
    /// Most batches waiting.
    pub batches_max: usize,
    /// Most batches one organisation may have waiting.
    pub batches_per_org_max: usize,
    /// Most operations waiting, over all batches.
    pub operations_max: usize,
}

impl Default for MempoolBounds {
    fn default() -> Self {
        MempoolBounds {
            batches_max: BATCHES_MAX,
            batches_per_org_max: BATCHES_PER_ORG_MAX,
            operations_max: OPERATIONS_MAX,
        }
    }
}

/// Why the mempool refused a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The same batch (by digest) is already waiting.
    #[error("the batch is already waiting")]
    Duplicate,
    /// A bound was hit (the text names it).
    #[error("the pool is full ({0}); retry later")]
    Full(&'static str),
}

/// Batches waiting for a block, one FIFO queue per organisation.
#[derive(Default)]
pub struct Mempool {
    /// Sealed batches: each digest was computed once, at admission.
    queues: BTreeMap<OrgId, VecDeque<SealedBatch>>,
    /// The digest and signature of every waiting batch.
    digests: HashMap<Hash, Signature>,
    operations: usize,
    batches: usize,
    /// The organisation after which the next proposal starts.
    last_first: Option<OrgId>,
    bounds: MempoolBounds,
}

impl Mempool {
    /// An empty pool with these bounds.
    pub fn new(bounds: MempoolBounds) -> Mempool {
        Mempool { bounds, ..Mempool::default() }
    }

    /// The pool's bounds.
    pub fn bounds(&self) -> MempoolBounds {
        self.bounds
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.batches
    }

    /// Whether no batch is waiting.
    pub fn is_empty(&self) -> bool {
        self.batches == 0
    }

    /// Operations waiting, over all batches.
    pub fn operations(&self) -> usize {
        self.operations
    }

    /// Queues a batch at the end of its organisation's queue. The caller has verified its
    /// signature (see [`Mempool::holds`]).
    pub fn insert(&mut self, batch: SealedBatch) -> Result<(), MempoolError> {
        let digest = batch.digest();
        if self.digests.contains_key(&digest) {
            return Err(MempoolError::Duplicate);
        }
        let count = batch.batch.operations.len();
        if self.batches >= self.bounds.batches_max {
            return Err(MempoolError::Full("batches"));
        }
        if self.operations + count > self.bounds.operations_max {
            return Err(MempoolError::Full("operations"));
        }
        let queue = self.queues.entry(batch.batch.org).or_default();
        if queue.len() >= self.bounds.batches_per_org_max {
            return Err(MempoolError::Full("batches of this organisation"));
        }
        self.digests.insert(digest, batch.signature);
        queue.push_back(batch);
        self.operations += count;
        self.batches += 1;
        Ok(())
    }

    /// Whether this very batch, with this very signature, is waiting here. Only batches whose
    /// signature was verified enter the pool, so a block's copy of such a batch needs no new
    /// check (the digest does not cover the signature, hence the comparison of both).
    pub fn holds(&self, batch: &SealedBatch) -> bool {
        self.digests.get(&batch.digest()) == Some(&batch.signature)
    }

    /// Picks batches for a block: round robin over organisations, each batch `eligible`, at
    /// most `operations_max` operations and `batches_max` batches. Nothing is removed.
    pub fn select(
        &mut self,
        operations_max: usize,
        batches_max: usize,
        mut eligible: impl FnMut(&SealedBatch) -> bool,
    ) -> Vec<SealedBatch> {
        let orgs: Vec<OrgId> = self.queues.keys().copied().collect();
        if orgs.is_empty() {
            return Vec::new();
        }
        let start = match self.last_first {
            Some(last) => orgs.iter().position(|org| *org > last).unwrap_or(0),
            None => 0,
        };
        let order: Vec<OrgId> = orgs[start..].iter().chain(&orgs[..start]).copied().collect();
        let mut cursors = vec![0usize; order.len()];
        let mut exhausted = vec![false; order.len()];
        let mut chosen = Vec::new();
        let mut operations = 0;
        let mut first = None;
        while chosen.len() < batches_max && exhausted.iter().any(|done| !done) {
            for (slot, org) in order.iter().enumerate() {
                if exhausted[slot] || chosen.len() >= batches_max {
                    continue;
                }
                let queue = &self.queues[org];
                loop {
                    let Some(batch) = queue.get(cursors[slot]) else {
                        exhausted[slot] = true;
                        break;
                    };
                    cursors[slot] += 1;
                    let count = batch.batch.operations.len();
                    if operations + count > operations_max {
                        exhausted[slot] = true;
                        break;
                    }
                    if eligible(batch) {
                        operations += count;
                        chosen.push(batch.clone());
                        first.get_or_insert(*org);
                        break;
                    }
                }
            }
        }
        if let Some(first) = first {
            self.last_first = Some(first);
        }
        chosen
    }

    /// The delegated keys (organisation, key number) that signed waiting batches.
    pub fn delegated_signers(&self) -> std::collections::BTreeSet<(OrgId, u32)> {
        self.queues
            .values()
            .flatten()
            .filter(|batch| batch.batch.key != hansa_types::ROOT_KEY)
            .map(|batch| (batch.batch.org, batch.batch.key))
            .collect()
    }

    /// Drops every batch for which `keep` is false (included in a finalized block, or stale).
    pub fn retain(&mut self, mut keep: impl FnMut(&SealedBatch) -> bool) {
        let mut removed_operations = 0;
        let mut removed_batches = 0;
        for queue in self.queues.values_mut() {
            queue.retain(|batch| {
                if keep(batch) {
                    true
                } else {
                    self.digests.remove(&batch.digest());
                    removed_operations += batch.batch.operations.len();
                    removed_batches += 1;
                    false
                }
            });
        }
        self.queues.retain(|_, queue| !queue.is_empty());
        self.operations -= removed_operations;
        self.batches -= removed_batches;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hansa_types::{Batch, NewAccount, Operation, SecretKey};

    fn batch(org: u32, sequence: u64) -> SealedBatch {
        let operations =
            vec![Operation::CreateAccount(NewAccount { id: 1, ledger: 1, code: 1, ..Default::default() })];
        Batch { chain_id: Hash::ZERO, org: OrgId(org), key: 0, sequence, operations }
            .sign(&SecretKey::from_seed([1; 32]))
            .seal()
    }

    #[test]
    fn a_busy_organisation_does_not_starve_the_others() {
        let mut pool = Mempool::default();
        for sequence in 0..100 {
            let b = batch(1, sequence);
            pool.insert(b).expect("room");
        }
        let b = batch(2, 0);
        pool.insert(b).expect("room");
        let chosen = pool.select(1_000, 2, |_| true);
        let orgs: Vec<u32> = chosen.iter().map(|b| b.batch.org.0).collect();
        assert_eq!(orgs, vec![1, 2]);
        // The next proposal starts with the other organisation.
        let chosen = pool.select(1_000, 1, |_| true);
        assert_eq!(chosen[0].batch.org.0, 2);
    }

    #[test]
    fn bounds_and_duplicates_are_refused() {
        let mut pool = Mempool::default();
        let b = batch(1, 0);
        pool.insert(b.clone()).expect("room");
        assert_eq!(pool.insert(b), Err(MempoolError::Duplicate));
        for sequence in 1..BATCHES_PER_ORG_MAX as u64 {
            let b = batch(1, sequence);
            pool.insert(b).expect("room");
        }
        let b = batch(1, 1 << 40);
        assert_eq!(pool.insert(b), Err(MempoolError::Full("batches of this organisation")));
    }

    #[test]
    fn configured_bounds_are_the_ones_enforced() {
        let bounds = MempoolBounds { batches_max: 3, batches_per_org_max: 2, operations_max: 100 };
        let mut pool = Mempool::new(bounds);
        pool.insert(batch(1, 0)).expect("room");
        pool.insert(batch(1, 1)).expect("room");
        assert_eq!(pool.insert(batch(1, 2)), Err(MempoolError::Full("batches of this organisation")));
        pool.insert(batch(2, 0)).expect("room");
        assert_eq!(pool.insert(batch(3, 0)), Err(MempoolError::Full("batches")));
        assert_eq!(pool.len(), 3);
        let mut pool = Mempool::new(MempoolBounds { operations_max: 1, ..bounds });
        pool.insert(batch(1, 0)).expect("room");
        assert_eq!(pool.insert(batch(2, 0)), Err(MempoolError::Full("operations")));
    }

    #[test]
    fn retain_removes_and_counts() {
        let mut pool = Mempool::default();
        for sequence in 0..10 {
            let b = batch(1, sequence);
            pool.insert(b).expect("room");
        }
        pool.retain(|batch| batch.batch.sequence % 2 == 0);
        assert_eq!(pool.len(), 5);
        assert_eq!(pool.operations(), 5);
        assert_eq!(pool.select(100, 100, |_| true).len(), 5);
    }
}
