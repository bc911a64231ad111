//! Read-only queries of a ledger state, and the proofs of records against its state root.

use crate::Ledger;
use hansa_types::merkle::MerkleProof;
use hansa_types::{Account, AccountFlags, Amount, Transfer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// An account's balances at one moment (kept for accounts with the `history` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBalance {
    pub debits_pending: Amount,
    pub debits_posted: Amount,
    pub credits_pending: Amount,
    pub credits_posted: Amount,
    /// Timestamp of the operation that produced these balances.
    pub timestamp: u64,
    /// Height of the block that produced them.
    pub height: u64,
}

impl AccountBalance {
    pub(crate) fn of(account: &Account, timestamp: u64, height: u64) -> AccountBalance {
        AccountBalance {
            debits_pending: account.debits_pending,
            debits_posted: account.debits_posted,
            credits_pending: account.credits_pending,
            credits_posted: account.credits_posted,
            timestamp,
            height,
        }
    }
}

/// Which of an account's transfers to list (TigerBeetle's `AccountFilter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferFilter {
    #[serde(with = "hansa_types::serde_u128")]
    pub account_id: u128,
    /// Inclusive bounds on the transfer timestamp (ns); 0 means unbounded.
    #[serde(default)]
    pub timestamp_min: u64,
    #[serde(default)]
    pub timestamp_max: u64,
    /// Only transfers with this code (0 = any).
    #[serde(default)]
    pub code: u16,
    /// Only transfers on this ledger (0 = any). An account lives on one ledger, so this either
    /// keeps all of its transfers or none; it lets a client assert the currency it expects.
    #[serde(default)]
    pub ledger: u32,
    #[serde(default = "yes")]
    pub debits: bool,
    #[serde(default = "yes")]
    pub credits: bool,
    /// Newest first.
    #[serde(default)]
    pub reversed: bool,
    pub limit: u32,
}

fn yes() -> bool {
    true
}

/// What queries read and execution never does: every account's transfers by time, and the
/// balance history of accounts with the `history` flag.
///
/// Kept apart from [`Ledger`], outside the state each block clones, and fed once per block
/// (in practice, per *finalized* block) by [`History::record`]. Transfers are appended to the
/// ledger in timestamp order, so each account's list of transfer positions is sorted by
/// timestamp as it grows: recording a transfer is two appends (16 bytes), and a time range is
/// two binary searches. Lookups only: no query depends on the maps' iteration order.
#[derive(Debug, Default, Clone)]
pub struct History {
    height: u64,
    transfers_indexed: u64,
    /// Positions of the transfers touching each account, oldest first.
    account_transfers: HashMap<u128, Vec<u64>>,
    /// Balances after each change, by (account id, timestamp). Only accounts with the
    /// `history` flag have entries, and expiries may record a balance out of append order.
    balances: BTreeMap<(u128, u64), AccountBalance>,
}

impl History {
    /// The height of the last block recorded.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Records the block `ledger` executed last. Call once per block, in height order, with
    /// the ledger as `execute_block` left it.
    pub fn record(&mut self, ledger: &Ledger) {
        assert_eq!(ledger.height, self.height + 1, "history records blocks in height order");
        let first = self.transfers_indexed as usize;
        // `Vector::skip` splits the tree in O(log n); `iter().skip` would step over every
        // transfer ever recorded, once per block.
        for (offset, transfer) in ledger.transfers.skip(first).iter().enumerate() {
            let position = (first + offset) as u64;
            for account in [transfer.debit_account_id, transfer.credit_account_id] {
                let positions = self.account_transfers.entry(account).or_default();
                assert!(positions.last().is_none_or(|last| *last < position), "positions grow");
                positions.push(position);
            }
        }
        for (id, balance) in &ledger.block_balances {
            self.balances.insert((*id, balance.timestamp), *balance);
        }
        self.transfers_indexed = ledger.transfers.len() as u64;
        self.height = ledger.height;
    }

    /// An account's transfers matching `filter`, at most `min(limit, QUERY_LIMIT_MAX)`, read
    /// from `ledger` (the state this history was recorded from, or a later one).
    pub fn account_transfers(&self, ledger: &Ledger, filter: &TransferFilter) -> Vec<Transfer> {
        let limit = filter.limit.min(QUERY_LIMIT_MAX) as usize;
        let timestamp_max = if filter.timestamp_max == 0 { u64::MAX } else { filter.timestamp_max };
        let Some(positions) = self.account_transfers.get(&filter.account_id) else {
            return Vec::new();
        };
        if filter.timestamp_min > timestamp_max {
            return Vec::new();
        }
        // Positions this history indexed exist in `ledger` (the same state or a later one).
        let timestamp = |position: &u64| ledger.transfers[*position as usize].timestamp;
        let low = positions.partition_point(|position| timestamp(position) < filter.timestamp_min);
        let high = positions.partition_point(|position| timestamp(position) <= timestamp_max);
        let range = positions[low..high.max(low)].iter();
        let matches = |position: &u64| {
            let transfer = ledger.transfers[*position as usize];
            let side = (filter.debits && transfer.debit_account_id == filter.account_id)
                || (filter.credits && transfer.credit_account_id == filter.account_id);
            let code = filter.code == 0 || transfer.code == filter.code;
            let ledger = filter.ledger == 0 || transfer.ledger == filter.ledger;
            (side && code && ledger).then_some(transfer)
        };
        if filter.reversed {
            range.rev().filter_map(matches).take(limit).collect()
        } else {
            range.filter_map(matches).take(limit).collect()
        }
    }

    /// The balances of an account with the `history` flag after block `height`, or `None` if it
    /// has no history or did not exist then.
    pub fn balance_at(&self, ledger: &Ledger, id: u128, height: u64) -> Option<AccountBalance> {
        let account = ledger.account(id)?;
        if !account.flags.has(AccountFlags::HISTORY) {
            return None;
        }
        self.balances
            .range((id, 0)..=(id, u64::MAX))
            .rev()
            .map(|(_, balance)| *balance)
            .find(|balance| balance.height <= height)
    }

    /// The recorded balance history of an account with the `history` flag, oldest first.
    pub fn balance_history(&self, id: u128, limit: u32) -> Vec<AccountBalance> {
        let limit = limit.min(QUERY_LIMIT_MAX) as usize;
        self.balances.range((id, 0)..=(id, u64::MAX)).map(|(_, balance)| *balance).take(limit).collect()
    }
}

/// The most records one query returns.
pub const QUERY_LIMIT_MAX: u32 = 8_190;

impl Ledger {
    pub fn account(&self, id: u128) -> Option<Account> {
        self.account_position(id).map(|position| self.account_at(position))
    }

    pub fn transfer(&self, id: u128) -> Option<Transfer> {
        self.transfer_positions.get(&id).map(|position| self.transfers[*position as usize])
    }

    pub fn account_count(&self) -> u64 {
        self.accounts.len() as u64
    }

    pub fn transfer_count(&self) -> u64 {
        self.transfers.len() as u64
    }

    /// Every account, in creation order.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> + '_ {
        self.accounts.iter()
    }

    pub fn account_proof(&self, id: u128) -> Option<(Account, MerkleProof)> {
        let position = self.account_position(id)?;
        Some((self.account_at(position), self.account_tree.prove(position)?))
    }

    pub fn transfer_proof(&self, id: u128) -> Option<(Transfer, MerkleProof)> {
        let position = *self.transfer_positions.get(&id)?;
        Some((self.transfers[position as usize], self.transfer_tree.prove(position)?))
    }

    /// Accounts whose balances break their own limit flag. Always zero unless the ledger
    /// is broken; reported so auditors and benchmarks can check it, not assume it.
    pub fn limit_violations(&self) -> u64 {
        self.accounts
            .iter()
            .filter(|account| {
                let debits = account.debits_pending.0 + account.debits_posted.0;
                let credits = account.credits_pending.0 + account.credits_posted.0;
                (account.flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
                    && debits > account.credits_posted.0)
                    || (account.flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
                        && credits > account.debits_posted.0)
            })
            .count() as u64
    }

    /// Per ledger: (Σ debits posted, Σ credits posted, Σ debits pending, Σ credits pending).
    /// Double entry makes debits equal credits, posted and pending alike.
    pub fn totals(&self) -> BTreeMap<u32, [u128; 4]> {
        let mut totals: BTreeMap<u32, [u128; 4]> = BTreeMap::new();
        for account in &self.accounts {
            let entry = totals.entry(account.ledger).or_default();
            entry[0] += account.debits_posted.0;
            entry[1] += account.credits_posted.0;
            entry[2] += account.debits_pending.0;
            entry[3] += account.credits_pending.0;
        }
        totals
    }
}
