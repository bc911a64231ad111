//! The ledger module's invariants, checked on what one block changed: double entry holds for
//! every ledger, no account breaks its balance limit, no account disappears, no hold is open
//! without its transfer. The property tests, the simulator and the benchmark call
//! [`check_block`] on every block they execute.

use super::{ACCOUNTS, HOLDS, TRANSFERS};
use crate::working::Prefetched;
use hansa_types::{Account, AccountFlags, Decode, Transfer, TransferFlags, WriteSet};
use std::collections::BTreeMap;

/// How one block moved a ledger's totals: Σ debits equals Σ credits, posted and pending, so
/// one number of each is enough. Wrapping (mod 2^128): a sum over many accounts may pass u128.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerDelta {
    /// Change of Σ debits posted (= change of Σ credits posted).
    pub posted: u128,
    /// Change of Σ debits pending (= change of Σ credits pending).
    pub pending: u128,
    /// Accounts the block created on this ledger.
    pub accounts_created: u64,
}

/// A broken invariant: the ledger has a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    #[error("ledger {ledger}: the block moved debits and credits by different amounts")]
    Unbalanced { ledger: u32 },
    #[error("account {id} breaks its balance limit")]
    LimitBroken { id: u128 },
    #[error("account {id} was deleted")]
    AccountDeleted { id: u128 },
    #[error("account {id} changed its id, ledger or owner")]
    AccountChangedIdentity { id: u128 },
    #[error("hold {id} is open without a pending transfer")]
    HoldWithoutTransfer { id: u128 },
}

/// Whether an account's balances respect its own limit flags.
pub fn within_limits(account: &Account) -> bool {
    let debits = account.debits_pending.0.checked_add(account.debits_posted.0);
    let credits = account.credits_pending.0.checked_add(account.credits_posted.0);
    let debit_limit = !account.flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        || debits.is_some_and(|debits| debits <= account.credits_posted.0);
    let credit_limit = !account.flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        || credits.is_some_and(|credits| credits <= account.debits_posted.0);
    debit_limit && credit_limit
}

/// Checks the ledger module's invariants on a block's writes, against the records it read
/// before (`before`), and returns how each ledger's totals moved.
pub fn check_block(
    before: &Prefetched,
    writes: &WriteSet,
) -> Result<BTreeMap<u32, LedgerDelta>, InvariantViolation> {
    // Per ledger: (Σ new debits posted - Σ old, the same for credits, pending likewise).
    let mut sums: BTreeMap<u32, [u128; 4]> = BTreeMap::new();
    let mut deltas: BTreeMap<u32, LedgerDelta> = BTreeMap::new();
    // The transfers the block appended, by id: built only if the block opened a hold.
    let mut appended: Option<BTreeMap<u128, &[u8]>> = None;
    for write in &writes.records {
        if write.key.table == HOLDS.id && write.value.is_some() {
            let id = write.key.id;
            let transfer = appended
                .get_or_insert_with(|| {
                    writes
                        .log
                        .iter()
                        .filter(|append| append.key.table == TRANSFERS.id)
                        .map(|append| (append.key.id, append.value.as_slice()))
                        .collect()
                })
                .get(&id)
                .map(|bytes| Transfer::decode(bytes).expect("appended transfers decode"))
                .or_else(|| before.decode::<Transfer>(&TRANSFERS.key(id)));
            if !transfer.is_some_and(|transfer| transfer.flags.has(TransferFlags::PENDING)) {
                return Err(InvariantViolation::HoldWithoutTransfer { id });
            }
        }
        if write.key.table != ACCOUNTS.id {
            continue;
        }
        let id = write.key.id;
        let Some(bytes) = &write.value else {
            return Err(InvariantViolation::AccountDeleted { id });
        };
        let new = Account::decode(bytes).expect("written accounts decode");
        let old = before.decode::<Account>(&ACCOUNTS.key(id));
        if !within_limits(&new) {
            return Err(InvariantViolation::LimitBroken { id });
        }
        if new.id != id || old.is_some_and(|old| old.ledger != new.ledger || old.owner != new.owner) {
            return Err(InvariantViolation::AccountChangedIdentity { id });
        }
        let sum = sums.entry(new.ledger).or_default();
        let old_values = old.map_or([0; 4], |old| {
            [old.debits_posted.0, old.credits_posted.0, old.debits_pending.0, old.credits_pending.0]
        });
        let new_values =
            [new.debits_posted.0, new.credits_posted.0, new.debits_pending.0, new.credits_pending.0];
        for index in 0..4 {
            sum[index] = sum[index].wrapping_add(new_values[index]).wrapping_sub(old_values[index]);
        }
        if old.is_none() {
            deltas.entry(new.ledger).or_default().accounts_created += 1;
        }
    }
    for (ledger, [debits_posted, credits_posted, debits_pending, credits_pending]) in sums {
        if debits_posted != credits_posted || debits_pending != credits_pending {
            return Err(InvariantViolation::Unbalanced { ledger });
        }
        let delta = deltas.entry(ledger).or_default();
        delta.posted = debits_posted;
        delta.pending = debits_pending;
    }
    Ok(deltas)
}
