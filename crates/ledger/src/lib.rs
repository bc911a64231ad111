//! The deterministic state machine of Hansa: accounts, transfers and holds with TigerBeetle's
//! semantics plus the consortium's authorisation, committed to a Merkle state root.
//!
//! [`Ledger`] is a pure value: `execute_block(state, block) -> (state', results)`. It has no
//! clock (time comes from the block's consensus timestamp), no randomness, no floats, no I/O
//! and no hash-map iteration. Its collections are persistent (`imbl`), so cloning a ledger is
//! O(1): the chain keeps one speculative post-state per unfinalized block.

mod accounts;
mod merkle_tree;
mod queries;
mod sequences;
mod transfers;

pub use queries::{AccountBalance, History, TransferFilter};
pub use sequences::SEQUENCE_WINDOW;

use hansa_types::batch::BatchError;
use hansa_types::block::{OPERATIONS_PER_BLOCK_MAX, result_leaf};
use hansa_types::genesis::GenesisError;
use hansa_types::proof::{account_leaf, transfer_leaf};
use hansa_types::{
    Account, Genesis, Hash, Operation, OrgId, PublicKey, ResultCode, Role, SealedBatch, SignatureCheck,
    StateCommitment, Transfer, VerifyingKey, merkle, verify_all,
};
use imbl::{OrdMap, Vector};
use merkle_tree::MerkleTree;
use sequences::SequenceWindow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Nanoseconds per millisecond: operation timestamps are nanoseconds, block times milliseconds.
pub const NANOS_PER_MS: u64 = 1_000_000;

/// What genesis fixes for the life of the chain.
#[derive(Debug)]
pub struct Consortium {
    pub chain_id: Hash,
    pub genesis: Genesis,
    /// Each organisation's role, key, and key decompressed for verification.
    organisations: BTreeMap<OrgId, (Role, PublicKey, VerifyingKey)>,
    /// Ledger id to its issuer.
    issuers: BTreeMap<u32, OrgId>,
}

impl Consortium {
    pub fn new(genesis: Genesis) -> Result<Consortium, GenesisError> {
        genesis.validate()?;
        let mut organisations = BTreeMap::new();
        for org in &genesis.organisations {
            let Some(verifying) = org.public_key.prepare() else {
                return Err(GenesisError::Invalid(format!(
                    "organisation {}: its public key is not an ed25519 point",
                    org.id.0
                )));
            };
            organisations.insert(org.id, (org.role, org.public_key, verifying));
        }
        let issuers = genesis.ledgers.iter().map(|ledger| (ledger.id, ledger.issuer)).collect();
        Ok(Consortium { chain_id: genesis.chain_id(), genesis, organisations, issuers })
    }

    pub fn role(&self, org: OrgId) -> Option<Role> {
        self.organisations.get(&org).map(|(role, _, _)| *role)
    }

    pub fn issuer(&self, ledger: u32) -> Option<OrgId> {
        self.issuers.get(&ledger).copied()
    }
}

/// Why a block cannot be executed at all (as opposed to an operation failing with a code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block height {found} does not follow {expected}")]
    Height { expected: u64, found: u64 },
    #[error("block time {found} ms is not after the previous block's {previous} ms")]
    Timestamp { previous: u64, found: u64 },
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
    pub state: StateCommitment,
    pub results_root: Hash,
}

/// Whether `execute_block` checks batch signatures: a proposer already checked them when the
/// batches entered its mempool; every other validator must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    Verify,
    AlreadyVerified,
}

/// Sets the leaf of every touched position (once each), appending positions past the end.
fn rehash(tree: &mut MerkleTree, mut touched: Vec<u64>, leaf: impl Fn(u64) -> Hash) {
    touched.sort_unstable();
    touched.dedup();
    for position in touched {
        if position < tree.len() {
            tree.set(position, leaf(position));
        } else {
            assert_eq!(position, tree.len(), "records are appended in order");
            tree.push(leaf(position));
        }
    }
}

/// The ledger state after some block.
#[derive(Clone, Debug)]
pub struct Ledger {
    consortium: Arc<Consortium>,
    height: u64,
    timestamp_ms: u64,
    accounts: Vector<Account>,
    account_positions: OrdMap<u128, u64>,
    transfers: Vector<Transfer>,
    transfer_positions: OrdMap<u128, u64>,
    /// Pending transfers with a timeout, by (expiry in ns, transfer position).
    expiries: OrdMap<(u64, u64), ()>,
    sequences: OrdMap<OrgId, SequenceWindow>,
    /// Balances after each change in the last executed block, for accounts with the `history`
    /// flag (`History::record` indexes them; execution never reads them).
    block_balances: Vec<(u128, AccountBalance)>,
    account_tree: MerkleTree,
    transfer_tree: MerkleTree,
    /// Account and transfer positions touched by the block being executed.
    touched_accounts: Vec<u64>,
    touched_transfers: Vec<u64>,
    state: StateCommitment,
}

impl Ledger {
    /// The state at height 0.
    pub fn new(consortium: Arc<Consortium>) -> Ledger {
        let timestamp_ms = consortium.genesis.genesis_time_ms;
        let mut ledger = Ledger {
            consortium,
            height: 0,
            timestamp_ms,
            accounts: Vector::new(),
            account_positions: OrdMap::new(),
            transfers: Vector::new(),
            transfer_positions: OrdMap::new(),
            expiries: OrdMap::new(),
            sequences: OrdMap::new(),
            block_balances: Vec::new(),
            account_tree: MerkleTree::default(),
            transfer_tree: MerkleTree::default(),
            touched_accounts: Vec::new(),
            touched_transfers: Vec::new(),
            state: StateCommitment {
                accounts_root: Hash::ZERO,
                accounts_count: 0,
                transfers_root: Hash::ZERO,
                transfers_count: 0,
                sequences_root: Hash::ZERO,
                sequences_count: 0,
            },
        };
        ledger.commit();
        ledger
    }

    pub fn consortium(&self) -> &Arc<Consortium> {
        &self.consortium
    }

    pub fn height(&self) -> u64 {
        self.height
    }

    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    pub fn state_commitment(&self) -> StateCommitment {
        self.state
    }

    pub fn state_root(&self) -> Hash {
        self.state.root()
    }

    /// Checks everything about a batch but its operations: chain, organisation, role,
    /// signature (if asked) and that its sequence number is fresh.
    pub fn check_batch(&self, signed: &SealedBatch, signatures: Signatures) -> Result<(), BatchError> {
        self.check_envelope(signed, signatures, &self.sequences)
    }

    /// `check_batch` for many batches, each on its own against this state, with their
    /// signatures verified at once: one result per batch, in order.
    pub fn check_batches(&self, batches: &[SealedBatch]) -> Vec<Result<(), BatchError>> {
        let mut results: Vec<Result<(), BatchError>> = batches
            .iter()
            .map(|signed| self.check_envelope(signed, Signatures::AlreadyVerified, &self.sequences))
            .collect();
        let candidates: Vec<usize> = (0..batches.len()).filter(|index| results[*index].is_ok()).collect();
        let signed: Vec<&SealedBatch> = candidates.iter().map(|index| &batches[*index]).collect();
        for bad in self.bad_signatures(&signed) {
            let index = candidates[bad];
            results[index] = Err(BatchError::BadSignature(batches[index].batch.org));
        }
        results
    }

    /// The positions in `batches` (all of known organisations) whose signature is bad, in
    /// order: one batch verification, then one by one only if it failed.
    fn bad_signatures(&self, batches: &[&SealedBatch]) -> Vec<usize> {
        let digests: Vec<Hash> = batches.iter().map(|signed| signed.digest()).collect();
        let checks: Vec<SignatureCheck<'_>> = batches
            .iter()
            .zip(&digests)
            .map(|(signed, digest)| SignatureCheck {
                key: &self.member(signed).1,
                message: &digest.0,
                signature: &signed.signature,
            })
            .collect();
        if verify_all(&checks) {
            return Vec::new();
        }
        let bad: Vec<usize> = (0..batches.len())
            .filter(|index| {
                !self.member(batches[*index]).2.verify(&digests[*index].0, &batches[*index].signature)
            })
            .collect();
        assert!(!bad.is_empty(), "under ZIP-215 a batch fails only when one of its signatures does");
        bad
    }

    /// The genesis entry of a batch's organisation, known to exist.
    fn member(&self, signed: &SealedBatch) -> &(Role, PublicKey, VerifyingKey) {
        self.consortium
            .organisations
            .get(&signed.batch.org)
            .expect("callers look up only batches of known organisations")
    }

    /// `check_batch` against the given sequence windows (a block checks against the windows
    /// as its earlier batches leave them).
    fn check_envelope(
        &self,
        signed: &SealedBatch,
        signatures: Signatures,
        sequences: &OrdMap<OrgId, SequenceWindow>,
    ) -> Result<(), BatchError> {
        let batch = &signed.batch;
        let Some((role, _, key)) = self.consortium.organisations.get(&batch.org) else {
            return Err(BatchError::UnknownOrganisation(batch.org));
        };
        if batch.chain_id != self.consortium.chain_id {
            return Err(BatchError::WrongChain { expected: self.consortium.chain_id, found: batch.chain_id });
        }
        // The signature first: whatever else is wrong, an unsigned or forged batch is told so.
        if signatures == Signatures::Verify && !key.verify(&signed.digest().0, &signed.signature) {
            return Err(BatchError::BadSignature(batch.org));
        }
        if *role == Role::Auditor {
            return Err(BatchError::Unauthorised(batch.org));
        }
        let fresh = sequences.get(&batch.org).is_none_or(|window| window.is_fresh(batch.sequence));
        if !fresh {
            return Err(BatchError::Replayed { org: batch.org, sequence: batch.sequence });
        }
        Ok(())
    }

    /// Executes a block's batches at `height` and consensus time `timestamp_ms`.
    ///
    /// On `Err` the ledger is unchanged and the block is invalid. On `Ok`, every operation has
    /// a result code; failed operations changed nothing.
    pub fn execute_block(
        &mut self,
        height: u64,
        timestamp_ms: u64,
        batches: &[SealedBatch],
        signatures: Signatures,
    ) -> Result<BlockOutcome, BlockError> {
        if height != self.height + 1 {
            return Err(BlockError::Height { expected: self.height + 1, found: height });
        }
        if timestamp_ms <= self.timestamp_ms {
            return Err(BlockError::Timestamp { previous: self.timestamp_ms, found: timestamp_ms });
        }
        let count: usize = batches.iter().map(|signed| signed.batch.operations.len()).sum();
        if count > OPERATIONS_PER_BLOCK_MAX {
            return Err(BlockError::TooManyOperations { count, maximum: OPERATIONS_PER_BLOCK_MAX });
        }
        // Check every envelope before changing anything, on a scratch copy of the sequence
        // windows so that a block repeating one (organisation, sequence) is rejected whole;
        // then every signature at once (one batch verification is several times cheaper than
        // one verification per batch, and gives the same answer).
        let mut sequences = self.sequences.clone();
        for (index, signed) in batches.iter().enumerate() {
            self.check_envelope(signed, Signatures::AlreadyVerified, &sequences)
                .map_err(|error| BlockError::Batch { index, error })?;
            sequences.entry(signed.batch.org).or_default().accept(signed.batch.sequence);
        }
        if signatures == Signatures::Verify {
            self.verify_signatures(batches)?;
        }
        self.sequences = sequences;
        self.block_balances.clear();
        self.height = height;
        self.timestamp_ms = timestamp_ms;
        let block_time_ns = timestamp_ms
            .checked_mul(NANOS_PER_MS)
            .expect("consensus time fits in u64 nanoseconds until 2554");
        self.expire_pending(block_time_ns);

        let mut results = Vec::with_capacity(count);
        let mut operation_index = 0u64;
        for signed in batches {
            let org = signed.batch.org;
            let operations = &signed.batch.operations;
            let mut chain_start = 0;
            while chain_start < operations.len() {
                let mut chain_end = chain_start;
                while operations[chain_end].is_linked() && chain_end + 1 < operations.len() {
                    chain_end += 1;
                }
                let chain = &operations[chain_start..=chain_end];
                let first_timestamp = block_time_ns + operation_index;
                operation_index += chain.len() as u64;
                self.execute_chain(org, chain, first_timestamp, &mut results);
                chain_start = chain_end + 1;
            }
        }
        assert_eq!(results.len(), count, "one result per operation");
        self.commit();
        let leaves: Vec<Hash> = batches
            .iter()
            .flat_map(|signed| signed.batch.operations.iter())
            .zip(&results)
            .map(|(operation, code)| result_leaf(operation.id(), *code))
            .collect();
        Ok(BlockOutcome { results, state: self.state, results_root: merkle::root(&leaves) })
    }

    /// Verifies the signatures of `batches` at once (ZIP-215), naming the first bad one by its
    /// index in `batches`; a batch of an unknown organisation is an error too. A validator that
    /// already verified some of a block's batches (on admission) checks the rest with this,
    /// then executes the block with [`Signatures::AlreadyVerified`].
    pub fn verify_signatures(&self, batches: &[SealedBatch]) -> Result<(), BlockError> {
        if let Some(index) =
            batches.iter().position(|signed| !self.consortium.organisations.contains_key(&signed.batch.org))
        {
            let error = BatchError::UnknownOrganisation(batches[index].batch.org);
            return Err(BlockError::Batch { index, error });
        }
        let all: Vec<&SealedBatch> = batches.iter().collect();
        match self.bad_signatures(&all).first() {
            None => Ok(()),
            Some(&index) => {
                Err(BlockError::Batch { index, error: BatchError::BadSignature(batches[index].batch.org) })
            }
        }
    }

    /// Executes one linked chain (or a single unlinked operation): all or nothing.
    fn execute_chain(
        &mut self,
        org: OrgId,
        chain: &[Operation],
        first_timestamp: u64,
        results: &mut Vec<ResultCode>,
    ) {
        let open = chain.last().is_some_and(Operation::is_linked);
        if chain.len() == 1 && !open {
            let code = self.apply(org, &chain[0], first_timestamp);
            results.push(code);
            return;
        }
        // A linked chain: apply on this state, and roll back to the snapshot on failure. The
        // snapshot is O(1) because every collection is persistent.
        let touched_accounts = std::mem::take(&mut self.touched_accounts);
        let touched_transfers = std::mem::take(&mut self.touched_transfers);
        let block_balances = std::mem::take(&mut self.block_balances);
        let balances_before = block_balances.len();
        let snapshot = self.clone();
        self.touched_accounts = touched_accounts;
        self.touched_transfers = touched_transfers;
        self.block_balances = block_balances;
        let mut failure = None;
        for (offset, operation) in chain.iter().enumerate() {
            if open && offset + 1 == chain.len() {
                failure = Some((offset, ResultCode::LinkedEventChainOpen));
                break;
            }
            let code = self.apply(org, operation, first_timestamp + offset as u64);
            if code != ResultCode::Ok {
                // In a linked chain even `exists` fails the chain, as in TigerBeetle: the chain
                // must apply as a whole now, not partly from an earlier submission.
                failure = Some((offset, code));
                break;
            }
        }
        match failure {
            None => results.extend(std::iter::repeat_n(ResultCode::Ok, chain.len())),
            Some((failed, code)) => {
                let touched_accounts = std::mem::take(&mut self.touched_accounts);
                let touched_transfers = std::mem::take(&mut self.touched_transfers);
                let mut block_balances = std::mem::take(&mut self.block_balances);
                *self = snapshot;
                block_balances.truncate(balances_before);
                self.block_balances = block_balances;
                // Rehashing an unchanged leaf is harmless; forgetting a touched one is not, so
                // keep the longer lists (they extend the snapshot's).
                self.touched_accounts = touched_accounts;
                self.touched_transfers = touched_transfers;
                // Records appended by the chain are gone: forget their positions.
                let (accounts, transfers) = (self.accounts.len() as u64, self.transfers.len() as u64);
                self.touched_accounts.retain(|position| *position < accounts);
                self.touched_transfers.retain(|position| *position < transfers);
                for offset in 0..chain.len() {
                    results.push(if offset == failed { code } else { ResultCode::LinkedEventFailed });
                }
            }
        }
    }

    fn apply(&mut self, org: OrgId, operation: &Operation, timestamp: u64) -> ResultCode {
        match operation {
            Operation::CreateAccount(account) => self.create_account(org, account, timestamp),
            Operation::CreateTransfer(transfer) => self.create_transfer(org, transfer, timestamp),
        }
    }

    /// Rehashes touched leaves and recomputes the state commitment.
    fn commit(&mut self) {
        let touched = std::mem::take(&mut self.touched_accounts);
        rehash(&mut self.account_tree, touched, |position| account_leaf(&self.accounts[position as usize]));
        let touched = std::mem::take(&mut self.touched_transfers);
        rehash(&mut self.transfer_tree, touched, |position| {
            transfer_leaf(&self.transfers[position as usize])
        });
        self.account_tree.commit();
        self.transfer_tree.commit();
        assert_eq!(self.account_tree.len(), self.accounts.len() as u64);
        assert_eq!(self.transfer_tree.len(), self.transfers.len() as u64);
        let sequence_leaves: Vec<Hash> =
            self.sequences.iter().map(|(org, window)| window.leaf(*org)).collect();
        self.state = StateCommitment {
            accounts_root: self.account_tree.root(),
            accounts_count: self.account_tree.len(),
            transfers_root: self.transfer_tree.root(),
            transfers_count: self.transfer_tree.len(),
            sequences_root: merkle::root(&sequence_leaves),
            sequences_count: sequence_leaves.len() as u64,
        };
    }

    fn account_position(&self, id: u128) -> Option<u64> {
        self.account_positions.get(&id).copied()
    }

    fn account_at(&self, position: u64) -> Account {
        self.accounts[position as usize]
    }

    fn set_account(&mut self, position: u64, account: Account, timestamp: u64) {
        if account.flags.has(hansa_types::AccountFlags::HISTORY) {
            self.block_balances.push((account.id, AccountBalance::of(&account, timestamp, self.height)));
        }
        self.accounts.set(position as usize, account);
        self.touched_accounts.push(position);
    }
}
