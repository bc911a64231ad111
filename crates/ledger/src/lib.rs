//! The deterministic state machine of Hansa: it executes a block's operations against the
//! records they name and returns what changed.
//!
//! [`Ledger`] holds only what genesis fixes (the [`Consortium`]); the state lives in storage,
//! outside this crate. Executing a block is two pure steps: [`Ledger::reads`] says which
//! records the block needs (the chain crate fetches them into a [`Prefetched`] set, asking
//! again until nothing is missing), and [`Ledger::execute_block`] runs the block on them and
//! returns one result code per operation and the block's [`WriteSet`]. No clock (time is the
//! block's consensus timestamp), no randomness, no floats, no I/O, and no hash-map iteration
//! that could reach a result.
//!
//! The operations are grouped in modules, one folder each under `modules/` (the ledger module:
//! accounts, transfers, holds; the keys module: delegated keys); `modules/mod.rs` registers
//! them. The block envelope (batch signatures, organisations, signing keys, sequence windows)
//! is checked here, in `lib.rs` and `sequences.rs`.

mod consortium;
pub mod memory;
pub mod modules;
mod sequences;
pub mod testkit;
mod working;

pub use consortium::Consortium;
pub use memory::MemoryState;
pub use modules::keys::{KEYS, key_record, signer_id, signer_of};
pub use modules::ledger::{ExpiryBucket, ExpiryDirectory, FailedTransfer, Hold, Resolution};
pub use modules::{BlockDeltas, InvariantViolation, check_block};
pub use sequences::{SEQUENCE_WINDOW, SEQUENCES, SequenceWindow, sequence_key};
pub use working::{AccountBalance, Changes, Prefetched, Working};

use hansa_types::batch::BatchError;
use hansa_types::block::{OPERATIONS_PER_BLOCK_MAX, result_leaf};
use hansa_types::{
    DelegatedKey, Hash, KeyRefusal, Operation, OrgId, PublicKey, ROOT_KEY, ResultCode, Role, SealedBatch,
    SignatureCheck, StateKey, Transfer, WriteSet, merkle, verify_all,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Nanoseconds per millisecond: operation timestamps are nanoseconds, block times milliseconds.
pub const NANOS_PER_MS: u64 = 1_000_000;

/// Why a block cannot be executed at all (as opposed to an operation failing with a code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("batch {index} is invalid: {error}")]
    Batch { index: usize, error: BatchError },
    #[error("the block has {count} operations, over the maximum {maximum}")]
    TooManyOperations { count: usize, maximum: usize },
}

/// What executing a block produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One result per operation, in block order.
    pub results: Vec<ResultCode>,
    pub results_root: Hash,
    /// Every record the block changed.
    pub writes: WriteSet,
    /// Balances after each change of an account with the `history` flag, in order (for
    /// queries: not part of the state).
    pub balances: Vec<(u128, AccountBalance)>,
    /// The transfers the block recorded, in order: `writes.log`'s transfers, decoded.
    pub transfers: Vec<Transfer>,
}

/// Which records a block reads, found in rounds (see [`Ledger::read_plan`]).
pub struct ReadPlan<'b> {
    batches: &'b [SealedBatch],
    now: u64,
    round: u32,
    /// Operations (batch, index in batch, timestamp) whose reads depend on records not yet known.
    dependent: Vec<(usize, usize, u64)>,
    /// Whether the holds due for expiry may still need records.
    expiry: bool,
}

impl ReadPlan<'_> {
    /// The records still to fetch, given those fetched so far: each once, in the order the
    /// operations name them (empty when done).
    pub fn next(&mut self, known: &Prefetched) -> Vec<StateKey> {
        let mut out = Vec::new();
        if self.round == 0 {
            for signed in self.batches {
                out.push(sequence_key(signed.batch.org, signed.batch.key));
                if signed.batch.key != ROOT_KEY {
                    out.push(key_record(signed.batch.org, signed.batch.key));
                }
            }
            let mut timestamp = self.now;
            for (batch, signed) in self.batches.iter().enumerate() {
                for (index, operation) in signed.batch.operations.iter().enumerate() {
                    if modules::reads(signed.batch.org, operation, timestamp, known, &mut out) {
                        self.dependent.push((batch, index, timestamp));
                    }
                    timestamp += 1;
                }
            }
        } else {
            let batches = self.batches;
            self.dependent.retain(|(batch, index, timestamp)| {
                let batch = &batches[*batch].batch;
                modules::reads(batch.org, &batch.operations[*index], *timestamp, known, &mut out)
            });
        }
        if self.expiry {
            self.expiry = modules::ledger::expiry_reads(self.now, known, &mut out);
        }
        self.round += 1;
        // Most keys repeat (a block's transfers name the same accounts again and again): drop
        // repeats with a set rather than sorting them all together.
        let mut named = working::FastSet::with_capacity_and_hasher(out.len(), Default::default());
        out.retain(|key| !known.contains(key) && named.insert(*key));
        out
    }
}

/// Whether `execute_block` checks batch signatures: a proposer already checked them when the
/// batches entered its mempool; every other validator must. A validator that checked the
/// root-key signatures at once with [`Ledger::verify_signatures`] (which cannot check a
/// delegated key's: its public key is in the state) passes `VerifyDelegated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    Verify,
    AlreadyVerified,
    VerifyDelegated,
}

/// What the state says of a batch's signing key: its sequence window (`None`: it never signed)
/// and, for a delegated key, its record (`None`: never registered).
#[derive(Debug, Clone, Copy, Default)]
pub struct Signer<'a> {
    pub window: Option<&'a SequenceWindow>,
    pub key: Option<&'a DelegatedKey>,
}

/// The state machine: genesis, and the functions that execute blocks against records.
#[derive(Clone, Debug)]
pub struct Ledger {
    consortium: Arc<Consortium>,
}

/// Consensus time of a block in nanoseconds.
fn block_time_ns(timestamp_ms: u64) -> u64 {
    timestamp_ms.checked_mul(NANOS_PER_MS).expect("consensus time fits in u64 nanoseconds until 2554")
}

impl Ledger {
    pub fn new(consortium: Arc<Consortium>) -> Ledger {
        Ledger { consortium }
    }

    pub fn consortium(&self) -> &Arc<Consortium> {
        &self.consortium
    }

    /// Checks everything about a batch but its operations' effects, for a block at consensus
    /// time `now_ms`: chain, organisation, role, signing key (known, live, permitting each
    /// operation), signature (if asked) and that its sequence number is fresh for its key.
    pub fn check_batch(
        &self,
        signed: &SealedBatch,
        signer: Signer<'_>,
        now_ms: u64,
        signatures: Signatures,
    ) -> Result<(), BatchError> {
        self.check_envelope(signed, signatures, signer, now_ms)
    }

    /// `check_batch` for many batches, each on its own, with the genesis keys' signatures
    /// verified at once: one result per batch, in order. `signer` gives each (organisation,
    /// key)'s state. A delegated key's signature is verified on its own, before the key's state
    /// is told (revoked, expired, not permitted), so an unsigned batch learns nothing of it.
    pub fn check_batches<'w>(
        &self,
        batches: &[SealedBatch],
        now_ms: u64,
        signer: impl Fn(OrgId, u32) -> Signer<'w>,
    ) -> Vec<Result<(), BatchError>> {
        let mut results: Vec<Result<(), BatchError>> = batches
            .iter()
            .map(|signed| {
                let state = signer(signed.batch.org, signed.batch.key);
                self.check_envelope(signed, Signatures::VerifyDelegated, state, now_ms)
            })
            .collect();
        let candidates: Vec<usize> = (0..batches.len())
            .filter(|index| results[*index].is_ok() && batches[*index].batch.key == ROOT_KEY)
            .collect();
        let checks: Vec<(&SealedBatch, PublicKey)> = candidates
            .iter()
            .map(|index| {
                let signed = &batches[*index];
                let key = self
                    .signing_key(signed, signer(signed.batch.org, signed.batch.key))
                    .expect("the envelope found the signing key");
                (signed, key)
            })
            .collect();
        for bad in self.bad_signatures(&checks) {
            let index = candidates[bad];
            results[index] = Err(BatchError::BadSignature(batches[index].batch.org));
        }
        results
    }

    /// The positions in `batches` whose signature under the given key is bad, in order: one
    /// batch verification, then one by one only if it failed.
    fn bad_signatures(&self, batches: &[(&SealedBatch, PublicKey)]) -> Vec<usize> {
        let digests: Vec<Hash> = batches.iter().map(|(signed, _)| signed.digest()).collect();
        let checks: Vec<SignatureCheck<'_>> = batches
            .iter()
            .zip(&digests)
            .map(|((signed, key), digest)| SignatureCheck {
                key,
                message: &digest.0,
                signature: &signed.signature,
            })
            .collect();
        if verify_all(&checks) {
            return Vec::new();
        }
        let bad: Vec<usize> = (0..batches.len())
            .filter(|index| {
                let (signed, key) = &batches[*index];
                !key.verify(&digests[*index].0, &signed.signature)
            })
            .collect();
        assert!(!bad.is_empty(), "under ZIP-215 a batch fails only when one of its signatures does");
        bad
    }

    /// The public key a batch must be signed with: its organisation's genesis key, or the
    /// delegated key's it names (`None`: unknown organisation, or a key it never registered).
    fn signing_key(&self, signed: &SealedBatch, signer: Signer<'_>) -> Option<PublicKey> {
        let (_, root, _) = self.consortium.member(signed.batch.org)?;
        if signed.batch.key == ROOT_KEY {
            return Some(*root);
        }
        signer
            .key
            .filter(|key| key.org == signed.batch.org && key.key.id == signed.batch.key)
            .map(|key| key.key.public_key)
    }

    fn check_envelope(
        &self,
        signed: &SealedBatch,
        signatures: Signatures,
        signer: Signer<'_>,
        now_ms: u64,
    ) -> Result<(), BatchError> {
        let batch = &signed.batch;
        let (org, key_id) = (batch.org, batch.key);
        let Some((role, _, root)) = self.consortium.member(org) else {
            return Err(BatchError::UnknownOrganisation(org));
        };
        if batch.chain_id != self.consortium.chain_id {
            return Err(BatchError::WrongChain { expected: self.consortium.chain_id, found: batch.chain_id });
        }
        let Some(public_key) = self.signing_key(signed, signer) else {
            return Err(BatchError::UnknownKey { org, key: key_id });
        };
        // The signature first: whatever else is wrong, an unsigned or forged batch is told so.
        let verify = match signatures {
            Signatures::Verify => true,
            Signatures::VerifyDelegated => key_id != ROOT_KEY,
            Signatures::AlreadyVerified => false,
        };
        if verify {
            let holds = match key_id {
                ROOT_KEY => root.verify(&signed.digest().0, &signed.signature),
                _ => public_key.verify(&signed.digest().0, &signed.signature),
            };
            if !holds {
                return Err(BatchError::BadSignature(org));
            }
        }
        // An auditor submits nothing but the management of its own (read-only) keys.
        let manages_keys =
            |operation: &Operation| matches!(operation, Operation::RegisterKey(_) | Operation::RevokeKey(_));
        if *role == Role::Auditor && !batch.operations.iter().all(manages_keys) {
            return Err(BatchError::Unauthorised(org));
        }
        if let Some(key) = signer.key.filter(|_| key_id != ROOT_KEY) {
            key.may_sign(now_ms, &batch.operations).map_err(|refusal| match refusal {
                KeyRefusal::Revoked => BatchError::KeyRevoked { org, key: key_id },
                KeyRefusal::Expired => BatchError::KeyExpired { org, key: key_id },
                KeyRefusal::NotPermitted(operation) => {
                    BatchError::KeyNotPermitted { org, key: key_id, operation }
                }
            })?;
        }
        if !signer.window.is_none_or(|window| window.is_fresh(batch.sequence)) {
            return Err(BatchError::Replayed { org, key: key_id, sequence: batch.sequence });
        }
        Ok(())
    }

    /// The plan of the records executing `batches` at `timestamp_ms` reads. Call
    /// [`ReadPlan::next`], fetch what it names, and call it again until it names nothing: some
    /// reads depend on records read before (the accounts of a hold).
    pub fn read_plan<'b>(&self, timestamp_ms: u64, batches: &'b [SealedBatch]) -> ReadPlan<'b> {
        ReadPlan { batches, now: block_time_ns(timestamp_ms), round: 0, dependent: Vec::new(), expiry: true }
    }

    /// Executes a block's batches at consensus time `timestamp_ms` against `prefetched`, which
    /// must hold every record [`Ledger::reads`] named.
    ///
    /// On `Err` the block is invalid (a batch's envelope fails, or it is too large). On `Ok`,
    /// every operation has a result code; failed operations changed nothing.
    pub fn execute_block(
        &self,
        timestamp_ms: u64,
        batches: &[SealedBatch],
        prefetched: &Prefetched,
        signatures: Signatures,
    ) -> Result<BlockOutcome, BlockError> {
        let count: usize = batches.iter().map(|signed| signed.batch.operations.len()).sum();
        if count > OPERATIONS_PER_BLOCK_MAX {
            return Err(BlockError::TooManyOperations { count, maximum: OPERATIONS_PER_BLOCK_MAX });
        }
        let mut state = Working::new(prefetched, count);
        // Check every envelope before changing anything, against the state at the block's start
        // (so a key revoked in this block still signs it) and the windows as the block's earlier
        // batches leave them, so that a block repeating one (organisation, key, sequence) is
        // rejected whole; delegated keys' signatures one by one, then the root keys' at once.
        let delegated = match signatures {
            Signatures::AlreadyVerified => Signatures::AlreadyVerified,
            Signatures::Verify | Signatures::VerifyDelegated => Signatures::VerifyDelegated,
        };
        let mut windows: BTreeMap<(OrgId, u32), SequenceWindow> = BTreeMap::new();
        for (index, signed) in batches.iter().enumerate() {
            let (org, key_id) = (signed.batch.org, signed.batch.key);
            let key = modules::keys::of_batch(&mut state, org, key_id);
            let window = windows.entry((org, key_id)).or_insert_with(|| {
                state.get::<SequenceWindow>(sequence_key(org, key_id)).unwrap_or_default()
            });
            let signer = Signer { window: Some(window), key: key.as_ref() };
            self.check_envelope(signed, delegated, signer, timestamp_ms)
                .map_err(|error| BlockError::Batch { index, error })?;
            window.accept(signed.batch.sequence);
        }
        if signatures == Signatures::Verify {
            self.verify_signatures(batches)?;
        }
        for ((org, key_id), window) in windows {
            state.put(sequence_key(org, key_id), window);
        }
        let now = block_time_ns(timestamp_ms);
        modules::ledger::expire_holds(&mut state, now);

        let mut results = Vec::with_capacity(count);
        let mut operation_index = 0u64;
        for signed in batches {
            let signer = (signed.batch.org, signed.batch.key);
            let operations = &signed.batch.operations;
            let mut chain_start = 0;
            while chain_start < operations.len() {
                let mut chain_end = chain_start;
                while operations[chain_end].is_linked() && chain_end + 1 < operations.len() {
                    chain_end += 1;
                }
                let chain = &operations[chain_start..=chain_end];
                self.execute_chain(&mut state, signer, chain, now + operation_index, &mut results);
                operation_index += chain.len() as u64;
                chain_start = chain_end + 1;
            }
        }
        assert_eq!(results.len(), count, "one result per operation");
        let leaves: Vec<Hash> = batches
            .iter()
            .flat_map(|signed| signed.batch.operations.iter())
            .zip(&results)
            .map(|(operation, code)| result_leaf(operation.id(), *code))
            .collect();
        let changes = state.into_write_set(modules::kind);
        let transfers = changes
            .appended
            .into_iter()
            .filter_map(|(_, record)| match record {
                modules::Record::Transfer(transfer) => Some(transfer),
                _ => None,
            })
            .collect();
        Ok(BlockOutcome {
            results,
            results_root: merkle::root(&leaves),
            writes: changes.writes,
            balances: changes.balances,
            transfers,
        })
    }

    /// Verifies the signatures of the batches signed by their organisations' genesis keys at
    /// once (ZIP-215), naming the first bad one by its index in `batches`; a batch of an unknown
    /// organisation is an error too. Batches of delegated keys are left to execution (their
    /// keys are in the state): a validator that already verified some of a block's batches (on
    /// admission) checks the rest with this, then executes the block with
    /// [`Signatures::VerifyDelegated`].
    pub fn verify_signatures(&self, batches: &[SealedBatch]) -> Result<(), BlockError> {
        let mut checks = Vec::new();
        let mut positions = Vec::new();
        for (index, signed) in batches.iter().enumerate() {
            let Some((_, root, _)) = self.consortium.member(signed.batch.org) else {
                let error = BatchError::UnknownOrganisation(signed.batch.org);
                return Err(BlockError::Batch { index, error });
            };
            if signed.batch.key == ROOT_KEY {
                checks.push((signed, *root));
                positions.push(index);
            }
        }
        match self.bad_signatures(&checks).first() {
            None => Ok(()),
            Some(&bad) => {
                let index = positions[bad];
                Err(BlockError::Batch { index, error: BatchError::BadSignature(batches[index].batch.org) })
            }
        }
    }

    /// Executes one linked chain (or a single unlinked operation): all or nothing.
    fn execute_chain(
        &self,
        state: &mut Working<'_>,
        (org, key): (OrgId, u32),
        chain: &[Operation],
        first_timestamp: u64,
        results: &mut Vec<ResultCode>,
    ) {
        let open = chain.last().is_some_and(Operation::is_linked);
        if chain.len() == 1 && !open {
            let mut context =
                modules::Apply { consortium: &self.consortium, state, org, key, timestamp: first_timestamp };
            let code = modules::apply(&mut context, &chain[0]);
            if code != ResultCode::Ok {
                modules::after_failure(state, &chain[0], code, first_timestamp);
            }
            results.push(code);
            return;
        }
        state.begin();
        let mut failure = None;
        for (offset, operation) in chain.iter().enumerate() {
            if open && offset + 1 == chain.len() {
                failure = Some((offset, ResultCode::LinkedEventChainOpen));
                break;
            }
            let timestamp = first_timestamp + offset as u64;
            let mut context = modules::Apply { consortium: &self.consortium, state, org, key, timestamp };
            let code = modules::apply(&mut context, operation);
            if code != ResultCode::Ok {
                // In a linked chain even `exists` fails the chain, as in TigerBeetle: the chain
                // must apply as a whole now, not partly from an earlier submission.
                failure = Some((offset, code));
                break;
            }
        }
        match failure {
            None => {
                state.keep();
                results.extend(std::iter::repeat_n(ResultCode::Ok, chain.len()));
            }
            Some((failed, code)) => {
                state.roll_back();
                if code != ResultCode::LinkedEventChainOpen {
                    modules::after_failure(state, &chain[failed], code, first_timestamp + failed as u64);
                }
                // As in TigerBeetle, a chain left open at the end of the batch ends with
                // `linked_event_chain_open` even when an earlier member failed first.
                let last = chain.len() - 1;
                for offset in 0..chain.len() {
                    results.push(match offset {
                        _ if offset == failed => code,
                        _ if open && offset == last => ResultCode::LinkedEventChainOpen,
                        _ => ResultCode::LinkedEventFailed,
                    });
                }
            }
        }
    }
}
