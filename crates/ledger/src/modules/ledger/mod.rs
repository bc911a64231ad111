//! The ledger module: TigerBeetle's accounts, transfers and holds, with the consortium's
//! authorisation. The first module, and the one every other moves money through.
//!
//! Operations: `CreateAccount`, `CreateTransfer` (plain, pending, post, void, balancing,
//! closing). Result codes: 0–999 of `ResultCode`. Tables (ids `0x0100..0x0200`):
//!
//! | table | kind | id | record |
//! |---|---|---|---|
//! | `ledger.accounts` | current | account id | [`Account`] |
//! | `ledger.transfers` | log | transfer id | [`Transfer`] as created (a hold's status is `pending`) |
//! | `ledger.holds` | current | pending transfer id | [`Hold`] while the hold is open; deleted when it resolves |
//! | `ledger.resolutions` | log | pending transfer id | [`Resolution`]: how and when a hold ended |
//! | `ledger.expiry_buckets` | current | second of consensus time | [`ExpiryBucket`]: open holds expiring then |
//! | `ledger.expiry_directory` | current | 0 | [`ExpiryDirectory`]: the seconds that have a bucket |
//! | `ledger.failed_transfers` | log | transfer id | [`FailedTransfer`]: an id refused for good after a transient failure |
//!
//! A hold's status is derived: `pending` while `ledger.holds` has it, else its resolution's.

mod accounts;
mod expiry;
mod invariants;
mod records;
mod transfers;

pub use invariants::{InvariantViolation, LedgerDelta, check_block, within_limits};
pub use records::{ExpiryBucket, ExpiryDirectory, FailedTransfer, Hold, Resolution};

use super::Apply;
use crate::NANOS_PER_MS;
use crate::working::{Prefetched, Working};
use hansa_types::{
    Account, NewTransfer, PendingStatus, ResultCode, StateKey, Table, Transfer, TransferFlags,
};

pub const ACCOUNTS: Table = Table::current(0x0100, "ledger.accounts");
pub const TRANSFERS: Table = Table::log(0x0101, "ledger.transfers");
pub const HOLDS: Table = Table::current(0x0102, "ledger.holds");
pub const RESOLUTIONS: Table = Table::log(0x0103, "ledger.resolutions");
pub const EXPIRY_BUCKETS: Table = Table::current(0x0104, "ledger.expiry_buckets");
pub const EXPIRY_DIRECTORY: Table = Table::current(0x0105, "ledger.expiry_directory");
pub const FAILED_TRANSFERS: Table = Table::log(0x0106, "ledger.failed_transfers");

/// Every table of this module.
pub const TABLES: &[Table] =
    &[ACCOUNTS, TRANSFERS, HOLDS, RESOLUTIONS, EXPIRY_BUCKETS, EXPIRY_DIRECTORY, FAILED_TRANSFERS];

/// Nanoseconds per second of consensus time.
pub(crate) const NANOS_PER_S: u64 = 1_000 * NANOS_PER_MS;

/// When a transfer made at `timestamp` with `timeout_s` expires (its timestamp for a timeout of
/// zero), if that fits in 63 bits of nanoseconds as TigerBeetle requires (else
/// `overflows_timeout`).
pub(crate) fn expiry_of(timestamp: u64, timeout_s: u32) -> Option<u64> {
    u64::from(timeout_s)
        .checked_mul(NANOS_PER_S)
        .and_then(|span| timestamp.checked_add(span))
        .filter(|expiry| *expiry <= i64::MAX as u64)
}

impl Apply<'_, '_> {
    pub(crate) fn account(&mut self, id: u128) -> Option<Account> {
        self.state.get(ACCOUNTS.key(id))
    }

    pub(crate) fn transfer(&mut self, id: u128) -> Option<Transfer> {
        self.state.get(TRANSFERS.key(id))
    }

    /// Whether an earlier attempt with transfer id `id` failed with a transient error.
    pub(crate) fn failed(&mut self, id: u128) -> bool {
        self.state.exists(FAILED_TRANSFERS.key(id))
    }
}

/// After `operation` failed with `code` (and its linked chain, if any, was rolled back):
/// a transfer that failed with a transient error has its id refused for good.
pub(crate) fn record_failure(
    state: &mut Working<'_>,
    operation: &hansa_types::Operation,
    code: ResultCode,
    timestamp: u64,
) {
    if let hansa_types::Operation::CreateTransfer(transfer) = operation
        && code.is_transient()
    {
        let key = FAILED_TRANSFERS.key(transfer.id);
        assert!(!state.exists(key), "an id already failed is refused before any transient check");
        assert!(
            !state.exists(TRANSFERS.key(transfer.id)),
            "an existing id is answered before any transient check"
        );
        state.append(key, FailedTransfer { result: code, timestamp });
    }
}

/// Writes an account, noting its balances if it keeps a history.
pub(crate) fn put_account(state: &mut Working<'_>, account: &Account, timestamp: u64) {
    state.put(ACCOUNTS.key(account.id), *account);
    if account.flags.has(hansa_types::AccountFlags::HISTORY) {
        state.note_balance(account.id, crate::AccountBalance::of(account, timestamp));
    }
}

/// The status of the hold `transfer` (a pending transfer) in `state`.
pub(crate) fn hold_status(state: &mut Working<'_>, transfer: &Transfer) -> PendingStatus {
    debug_assert!(transfer.flags.has(TransferFlags::PENDING));
    if state.exists(HOLDS.key(transfer.id)) {
        return PendingStatus::Pending;
    }
    let resolution: Resolution =
        state.get(RESOLUTIONS.key(transfer.id)).expect("a hold that is not open has a resolution");
    resolution.status
}

/// The records a transfer reads: its accounts and its own id; for a hold with a timeout, its
/// expiry bucket; for a post or void the hold, its state, and (once the hold is known) the
/// hold's accounts. `timestamp` is the operation's.
fn transfer_reads(
    transfer: &NewTransfer,
    timestamp: u64,
    known: &Prefetched,
    out: &mut Vec<StateKey>,
) -> bool {
    out.push(TRANSFERS.key(transfer.id));
    out.push(FAILED_TRANSFERS.key(transfer.id));
    if transfer.flags.has(TransferFlags::PENDING)
        && transfer.timeout_s > 0
        && let Some(expires_at) = expiry_of(timestamp, transfer.timeout_s)
    {
        expiry::schedule_reads(expires_at, out);
    }
    if transfer.debit_account_id != 0 {
        out.push(ACCOUNTS.key(transfer.debit_account_id));
    }
    if transfer.credit_account_id != 0 {
        out.push(ACCOUNTS.key(transfer.credit_account_id));
    }
    if transfer.pending_id != 0 {
        out.push(TRANSFERS.key(transfer.pending_id));
        out.push(HOLDS.key(transfer.pending_id));
        out.push(RESOLUTIONS.key(transfer.pending_id));
        if !known.contains(&TRANSFERS.key(transfer.pending_id)) {
            return true;
        }
        if let Some(hold) = known.decode::<Transfer>(&TRANSFERS.key(transfer.pending_id)) {
            out.push(ACCOUNTS.key(hold.debit_account_id));
            out.push(ACCOUNTS.key(hold.credit_account_id));
        }
    }
    false
}

/// The records operation `operation` of this module reads, given what is known so far; true
/// if some depend on records not known yet.
pub(crate) fn reads(
    operation: &hansa_types::Operation,
    timestamp: u64,
    known: &Prefetched,
    out: &mut Vec<StateKey>,
) -> bool {
    match operation {
        hansa_types::Operation::CreateAccount(account) => {
            out.push(ACCOUNTS.key(account.id));
            false
        }
        hansa_types::Operation::CreateTransfer(transfer) => transfer_reads(transfer, timestamp, known, out),
        _ => unreachable!("only ledger operations are dispatched here"),
    }
}

/// Applies one operation of this module.
pub(crate) fn apply(context: &mut Apply<'_, '_>, operation: &hansa_types::Operation) -> ResultCode {
    match operation {
        hansa_types::Operation::CreateAccount(account) => context.create_account(account),
        hansa_types::Operation::CreateTransfer(transfer) => context.create_transfer(transfer),
        _ => unreachable!("only ledger operations are dispatched here"),
    }
}

pub(crate) use expiry::{expire_holds, expiry_reads};
