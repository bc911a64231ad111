//! A whole state in memory: the simplest store the ledger can execute against.
//!
//! Tests, the ledger-alone speed example and the storage layer's model tests use it: it runs
//! the same read-fetch-execute loop the chain crate runs over real storage, and applies write
//! sets to ordered maps. It keeps everything, so it is not for a validator.

use crate::modules::ledger::{ACCOUNTS, HOLDS, RESOLUTIONS, TRANSFERS};
use crate::{BlockError, BlockOutcome, Ledger, Prefetched, Resolution, Signatures};
use hansa_types::{Account, Decode, PendingStatus, SealedBatch, StateKey, Transfer, TransferFlags, WriteSet};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// Current records by key.
    pub records: BTreeMap<StateKey, Vec<u8>>,
    /// Log records by key, and their order.
    pub log: BTreeMap<StateKey, Vec<u8>>,
    pub log_order: Vec<StateKey>,
}

impl MemoryState {
    pub fn new() -> MemoryState {
        MemoryState::default()
    }

    /// The stored value of `key`, current or log.
    pub fn get(&self, key: &StateKey) -> Option<&[u8]> {
        self.records.get(key).or_else(|| self.log.get(key)).map(Vec::as_slice)
    }

    /// Fetches everything `ledger` needs to execute `batches` at `timestamp_ms`.
    pub fn prefetch(&self, ledger: &Ledger, timestamp_ms: u64, batches: &[SealedBatch]) -> Prefetched {
        let mut prefetched = Prefetched::new();
        let mut plan = ledger.read_plan(timestamp_ms, batches);
        loop {
            let missing = plan.next(&prefetched);
            if missing.is_empty() {
                return prefetched;
            }
            for key in missing {
                prefetched.insert(key, self.get(&key).map(<[u8]>::to_vec));
            }
        }
    }

    /// Executes a block and applies its writes; also checks every module's invariants.
    pub fn execute(
        &mut self,
        ledger: &Ledger,
        timestamp_ms: u64,
        batches: &[SealedBatch],
        signatures: Signatures,
    ) -> Result<BlockOutcome, BlockError> {
        let prefetched = self.prefetch(ledger, timestamp_ms, batches);
        let outcome = ledger.execute_block(timestamp_ms, batches, &prefetched, signatures)?;
        if let Err(violation) = crate::check_block(&prefetched, &outcome.writes) {
            panic!("invariant broken by a block: {violation}");
        }
        self.apply(&outcome.writes);
        Ok(outcome)
    }

    /// Applies a block's writes.
    pub fn apply(&mut self, writes: &WriteSet) {
        for write in &writes.records {
            match &write.value {
                Some(value) => self.records.insert(write.key, value.clone()),
                None => self.records.remove(&write.key),
            };
        }
        for append in &writes.log {
            let previous = self.log.insert(append.key, append.value.clone());
            assert!(previous.is_none(), "log records are written once");
            self.log_order.push(append.key);
        }
    }

    pub fn account(&self, id: u128) -> Option<Account> {
        self.get(&ACCOUNTS.key(id)).map(|bytes| Account::decode(bytes).expect("accounts decode"))
    }

    /// A transfer with its current status (a hold's status is derived from the state).
    pub fn transfer(&self, id: u128) -> Option<Transfer> {
        let mut transfer = Transfer::decode(self.get(&TRANSFERS.key(id))?).expect("transfers decode");
        if transfer.flags.has(TransferFlags::PENDING) && self.get(&HOLDS.key(id)).is_none() {
            let bytes = self.get(&RESOLUTIONS.key(id)).expect("a closed hold has a resolution");
            transfer.status = Resolution::decode(bytes).expect("resolutions decode").status;
        }
        debug_assert!(transfer.flags.has(TransferFlags::PENDING) || transfer.status == PendingStatus::None);
        Some(transfer)
    }

    /// Every account, in key order.
    pub fn accounts(&self) -> impl Iterator<Item = Account> + '_ {
        self.records
            .range(ACCOUNTS.key(0)..=ACCOUNTS.key(u128::MAX))
            .map(|(_, bytes)| Account::decode(bytes).expect("accounts decode"))
    }

    /// Every transfer, in the order they were written.
    pub fn transfers(&self) -> impl Iterator<Item = Transfer> + '_ {
        self.log_order.iter().filter(|key| key.table == TRANSFERS.id).filter_map(|key| self.transfer(key.id))
    }

    /// Per ledger: (Σ debits posted, Σ credits posted, Σ debits pending, Σ credits pending),
    /// each modulo 2^128.
    pub fn totals(&self) -> BTreeMap<u32, [u128; 4]> {
        let mut totals: BTreeMap<u32, [u128; 4]> = BTreeMap::new();
        for account in self.accounts() {
            let entry = totals.entry(account.ledger).or_default();
            // Wrapping, as the API's audit sums: accounts near the u128 limit may together pass
            // it, and Σ debits = Σ credits holds modulo 2^128 as it does exactly.
            entry[0] = entry[0].wrapping_add(account.debits_posted.0);
            entry[1] = entry[1].wrapping_add(account.credits_posted.0);
            entry[2] = entry[2].wrapping_add(account.debits_pending.0);
            entry[3] = entry[3].wrapping_add(account.credits_pending.0);
        }
        totals
    }
}
