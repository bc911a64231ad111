//! Hansa against a reference model of TigerBeetle 0.17's `create_accounts` and
//! `create_transfers`, written from TigerBeetle's documentation
//! (`docs/reference/requests/create_{accounts,transfers}.md`, `docs/reference/{account,transfer}.md`)
//! and its state machine (`src/state_machine.zig`: `execute_create`, `create_account`,
//! `create_transfer`, `create_transfer_exists`, `post_or_void_pending_transfer`,
//! `post_or_void_pending_transfer_exists`, `execute_expire_pending_transfers`), not from Hansa's
//! code.
//!
//! The model is plain Rust over `BTreeMap`s. What it adds to TigerBeetle is only how Hansa
//! clocks operations: an operation's timestamp is its block's time in nanoseconds plus its index
//! among all the block's operations, and at the start of every block every hold whose expiry
//! (creation timestamp + timeout in ns) is at or before the block's time expires. Hansa mixes
//! account and transfer creations in one batch; a linked chain spans both, with TigerBeetle's
//! chain rules.
//!
//! Hansa's own rules are kept out of the workload rather than modelled:
//! - every batch is the bank's, which owns every account and issues both demo ledgers (CNY and
//!   USD, `testkit::ledgers()`), so `unauthorised`, `debit_limit_required` (accounts without
//!   `debits_must_not_exceed_credits` are the issuer's privilege) and
//!   `redemption_requires_issuer` never apply;
//! - the `issuance` account flag is never set, nor `closed` at creation (Hansa:
//!   `closed_flag_on_create`; TigerBeetle allows it), nor `imported` (Hansa: `reserved_flag`);
//! - accounts are asked for only on ledgers genesis declares, or on ledger 0 (Hansa answers
//!   `ledger_not_found` for an unknown one). Transfers may name any ledger.
//!
//! The proptest prints, on the first difference, the operation, both codes and every block so
//! far; the run is reproducible with `TB_MODEL_SEED=<seed>` (printed too).

use hansa_ledger::testkit::*;
use hansa_types::{
    Account, AccountFlags, Amount, NewAccount, NewTransfer, Operation, OrgId, PendingStatus, ResultCode,
    Transfer, TransferFlags,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// TigerBeetle's flag bits (`src/tigerbeetle.zig`), spelled out here so that the model does not
// lean on Hansa's constants.

const A_LINKED: u16 = 1 << 0;
const A_DEBITS_MUST_NOT_EXCEED_CREDITS: u16 = 1 << 1;
const A_CREDITS_MUST_NOT_EXCEED_DEBITS: u16 = 1 << 2;
const A_HISTORY: u16 = 1 << 3;
// Bit 4 is `imported` (not generated), bit 5 `closed`; bits 6..15 are padding.
const A_CLOSED: u16 = 1 << 5;
const A_PADDING: u16 = !0x3f;

const T_LINKED: u16 = 1 << 0;
const T_PENDING: u16 = 1 << 1;
const T_POST: u16 = 1 << 2;
const T_VOID: u16 = 1 << 3;
const T_BALANCING_DEBIT: u16 = 1 << 4;
const T_BALANCING_CREDIT: u16 = 1 << 5;
const T_CLOSING_DEBIT: u16 = 1 << 6;
const T_CLOSING_CREDIT: u16 = 1 << 7;
// Bit 8 is `imported` (not generated); bits 9..15 are padding.
const T_PADDING: u16 = !0x1ff;

const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;
/// TigerBeetle keeps timestamps in 63 bits (the top bit is a tombstone).
const U63_MAX: u128 = (1 << 63) - 1;

/// The one organisation every operation runs as: it owns every account and issues CNY and USD.
const ORG: OrgId = BANK;

// ---------------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, PartialEq, Eq)]
struct TbAccount {
    id: u128,
    debits_pending: u128,
    debits_posted: u128,
    credits_pending: u128,
    credits_posted: u128,
    user_data_128: u128,
    user_data_64: u64,
    user_data_32: u32,
    ledger: u32,
    code: u16,
    flags: u16,
    timestamp: u64,
}

impl TbAccount {
    fn closed(&self) -> bool {
        self.flags & A_CLOSED != 0
    }
}

/// `TransferPendingStatus`: `none` for a transfer that is not pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    None,
    Pending,
    Posted,
    Voided,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TbTransfer {
    id: u128,
    debit_account_id: u128,
    credit_account_id: u128,
    amount: u128,
    pending_id: u128,
    user_data_128: u128,
    user_data_64: u64,
    user_data_32: u32,
    timeout: u32,
    ledger: u32,
    code: u16,
    flags: u16,
    timestamp: u64,
    status: Status,
}

impl TbTransfer {
    fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// When a hold with a timeout expires (`timestamp + timeout_ns`).
    fn expires_at(&self) -> Option<u64> {
        (self.timeout > 0).then(|| self.timestamp + u64::from(self.timeout) * NS_PER_S)
    }
}

/// `CreateTransferStatus.transient()`: after these the id is orphaned (`id_already_failed`).
fn transient(code: ResultCode) -> bool {
    use ResultCode as R;
    matches!(
        code,
        R::DebitAccountNotFound
            | R::CreditAccountNotFound
            | R::PendingTransferNotFound
            | R::ExceedsCredits
            | R::ExceedsDebits
            | R::DebitAccountAlreadyClosed
            | R::CreditAccountAlreadyClosed
    )
}

#[derive(Debug, Clone, Default)]
struct Model {
    accounts: BTreeMap<u128, TbAccount>,
    transfers: BTreeMap<u128, TbTransfer>,
    /// Transfer ids whose attempt failed with a transient code (TigerBeetle's orphaned ids).
    failed: BTreeSet<u128>,
}

impl Model {
    /// The expiry pass at the start of a block at `now` (ns): every hold due by then expires
    /// (`execute_expire_pending_transfers`): its amounts leave the pending balances and a closing
    /// hold reopens the side(s) it closed. Closed accounts do not stop it.
    fn expire(&mut self, now: u64) {
        let due: Vec<u128> = self
            .transfers
            .values()
            .filter(|t| t.status == Status::Pending && t.expires_at().is_some_and(|at| at <= now))
            .map(|t| t.id)
            .collect();
        for id in due {
            let p = self.transfers.get_mut(&id).expect("due");
            p.status = Status::Expired;
            let p = p.clone();
            let dr = self.accounts.get_mut(&p.debit_account_id).expect("the hold's debit account");
            dr.debits_pending -= p.amount;
            if p.has(T_CLOSING_DEBIT) {
                assert!(dr.closed());
                dr.flags &= !A_CLOSED;
            }
            let cr = self.accounts.get_mut(&p.credit_account_id).expect("the hold's credit account");
            cr.credits_pending -= p.amount;
            if p.has(T_CLOSING_CREDIT) {
                assert!(cr.closed());
                cr.flags &= !A_CLOSED;
            }
        }
    }

    /// One batch, its first operation at `first_timestamp` (`execute_create`): linked chains
    /// all or nothing, `linked_event_chain_open` for a linked last event even in a chain already
    /// broken, earlier members `linked_event_failed`, ids orphaned after transient failures
    /// even when the chain is rolled back.
    fn execute(&mut self, operations: &[Operation], first_timestamp: u64) -> Vec<ResultCode> {
        let count = operations.len();
        let mut results = vec![ResultCode::Ok; count];
        // The chain's first index and the state before it.
        let mut chain: Option<(usize, Model)> = None;
        let mut chain_broken = false;
        for (index, operation) in operations.iter().enumerate() {
            let timestamp = first_timestamp + index as u64;
            let linked = operation.is_linked();
            let code = 'result: {
                if linked {
                    if chain.is_none() {
                        assert!(!chain_broken);
                        chain = Some((index, self.clone()));
                    }
                    if index == count - 1 {
                        break 'result ResultCode::LinkedEventChainOpen;
                    }
                }
                if chain_broken {
                    break 'result ResultCode::LinkedEventFailed;
                }
                match operation {
                    Operation::CreateAccount(account) => self.create_account(account, timestamp),
                    Operation::CreateTransfer(transfer) => self.create_transfer(transfer, timestamp),
                    Operation::RegisterKey(_) | Operation::RevokeKey(_) => {
                        unreachable!("TigerBeetle has no keys: the workloads never send them")
                    }
                }
            };
            if code != ResultCode::Ok {
                if let Some((start, before)) = &chain
                    && !chain_broken
                {
                    chain_broken = true;
                    // The scope is discarded before the orphan is recorded: it survives (the
                    // failed ids are not rolled back).
                    self.accounts.clone_from(&before.accounts);
                    self.transfers.clone_from(&before.transfers);
                    for result in &mut results[*start..index] {
                        *result = ResultCode::LinkedEventFailed;
                    }
                }
                if let Operation::CreateTransfer(transfer) = operation
                    && transient(code)
                {
                    self.failed.insert(transfer.id);
                }
            }
            results[index] = code;
            if chain.is_some() && (!linked || code == ResultCode::LinkedEventChainOpen) {
                chain = None;
                chain_broken = false;
            }
        }
        results
    }

    fn create_account(&mut self, a: &NewAccount, timestamp: u64) -> ResultCode {
        use ResultCode as R;
        let flags = a.flags.0;
        if flags & A_PADDING != 0 {
            return R::ReservedFlag;
        }
        if a.id == 0 {
            return R::IdMustNotBeZero;
        }
        if a.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(e) = self.accounts.get(&a.id) {
            // `create_account_exists`: raw flags (linked and closed included) first.
            return if flags != e.flags {
                R::ExistsWithDifferentFlags
            } else if a.user_data_128 != e.user_data_128 {
                R::ExistsWithDifferentUserData128
            } else if a.user_data_64 != e.user_data_64 {
                R::ExistsWithDifferentUserData64
            } else if a.user_data_32 != e.user_data_32 {
                R::ExistsWithDifferentUserData32
            } else if a.ledger != e.ledger {
                R::ExistsWithDifferentLedger
            } else if a.code != e.code {
                R::ExistsWithDifferentCode
            } else {
                R::Exists
            };
        }
        if flags & A_DEBITS_MUST_NOT_EXCEED_CREDITS != 0 && flags & A_CREDITS_MUST_NOT_EXCEED_DEBITS != 0 {
            return R::FlagsAreMutuallyExclusive;
        }
        if a.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if a.code == 0 {
            return R::CodeMustNotBeZero;
        }
        self.accounts.insert(
            a.id,
            TbAccount {
                id: a.id,
                debits_pending: 0,
                debits_posted: 0,
                credits_pending: 0,
                credits_posted: 0,
                user_data_128: a.user_data_128,
                user_data_64: a.user_data_64,
                user_data_32: a.user_data_32,
                ledger: a.ledger,
                code: a.code,
                flags,
                timestamp,
            },
        );
        R::Ok
    }

    fn create_transfer(&mut self, t: &NewTransfer, timestamp: u64) -> ResultCode {
        use ResultCode as R;
        let flags = t.flags.0;
        let amount = t.amount.0;
        if flags & T_PADDING != 0 {
            return R::ReservedFlag;
        }
        if t.id == 0 {
            return R::IdMustNotBeZero;
        }
        if t.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        // The id is looked up right after the id checks, before any other validation.
        if let Some(e) = self.transfers.get(&t.id) {
            return self.transfer_exists(t, e);
        }
        if self.failed.contains(&t.id) {
            return R::IdAlreadyFailed;
        }
        if flags & (T_POST | T_VOID) != 0 {
            return self.post_or_void(t, timestamp);
        }
        if t.debit_account_id == 0 {
            return R::DebitAccountIdMustNotBeZero;
        }
        if t.debit_account_id == u128::MAX {
            return R::DebitAccountIdMustNotBeIntMax;
        }
        if t.credit_account_id == 0 {
            return R::CreditAccountIdMustNotBeZero;
        }
        if t.credit_account_id == u128::MAX {
            return R::CreditAccountIdMustNotBeIntMax;
        }
        if t.credit_account_id == t.debit_account_id {
            return R::AccountsMustBeDifferent;
        }
        if t.pending_id != 0 {
            return R::PendingIdMustBeZero;
        }
        let pending = flags & T_PENDING != 0;
        if !pending {
            if t.timeout_s != 0 {
                return R::TimeoutReservedForPendingTransfer;
            }
            if flags & (T_CLOSING_DEBIT | T_CLOSING_CREDIT) != 0 {
                return R::ClosingTransferMustBePending;
            }
        }
        if t.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if t.code == 0 {
            return R::CodeMustNotBeZero;
        }
        let Some(mut dr) = self.accounts.get(&t.debit_account_id).cloned() else {
            return R::DebitAccountNotFound;
        };
        let Some(mut cr) = self.accounts.get(&t.credit_account_id).cloned() else {
            return R::CreditAccountNotFound;
        };
        if dr.ledger != cr.ledger {
            return R::AccountsMustHaveTheSameLedger;
        }
        if t.ledger != dr.ledger {
            return R::TransferMustHaveTheSameLedgerAsAccounts;
        }
        if dr.closed() {
            return R::DebitAccountAlreadyClosed;
        }
        if cr.closed() {
            return R::CreditAccountAlreadyClosed;
        }
        let mut actual = amount;
        if flags & T_BALANCING_DEBIT != 0 {
            let balance = dr.debits_posted + dr.debits_pending;
            actual = actual.min(dr.credits_posted.saturating_sub(balance));
        }
        if flags & T_BALANCING_CREDIT != 0 {
            let balance = cr.credits_posted + cr.credits_pending;
            actual = actual.min(cr.debits_posted.saturating_sub(balance));
        }
        let overflows = |a: u128, b: u128| a.checked_add(b).is_none();
        if pending {
            if overflows(actual, dr.debits_pending) {
                return R::OverflowsDebitsPending;
            }
            if overflows(actual, cr.credits_pending) {
                return R::OverflowsCreditsPending;
            }
        }
        if overflows(actual, dr.debits_posted) {
            return R::OverflowsDebitsPosted;
        }
        if overflows(actual, cr.credits_posted) {
            return R::OverflowsCreditsPosted;
        }
        if overflows(actual, dr.debits_pending + dr.debits_posted) {
            return R::OverflowsDebits;
        }
        if overflows(actual, cr.credits_pending + cr.credits_posted) {
            return R::OverflowsCredits;
        }
        if u128::from(timestamp) + u128::from(t.timeout_s) * u128::from(NS_PER_S) > U63_MAX {
            return R::OverflowsTimeout;
        }
        if dr.flags & A_DEBITS_MUST_NOT_EXCEED_CREDITS != 0
            && dr.debits_pending + dr.debits_posted + actual > dr.credits_posted
        {
            return R::ExceedsCredits;
        }
        if cr.flags & A_CREDITS_MUST_NOT_EXCEED_DEBITS != 0
            && cr.credits_pending + cr.credits_posted + actual > cr.debits_posted
        {
            return R::ExceedsDebits;
        }
        self.transfers.insert(
            t.id,
            TbTransfer {
                id: t.id,
                debit_account_id: t.debit_account_id,
                credit_account_id: t.credit_account_id,
                amount: actual,
                pending_id: t.pending_id,
                user_data_128: t.user_data_128,
                user_data_64: t.user_data_64,
                user_data_32: t.user_data_32,
                timeout: t.timeout_s,
                ledger: t.ledger,
                code: t.code,
                flags,
                timestamp,
                status: if pending { Status::Pending } else { Status::None },
            },
        );
        if pending {
            dr.debits_pending += actual;
            cr.credits_pending += actual;
        } else {
            dr.debits_posted += actual;
            cr.credits_posted += actual;
        }
        if flags & T_CLOSING_DEBIT != 0 {
            dr.flags |= A_CLOSED;
        }
        if flags & T_CLOSING_CREDIT != 0 {
            cr.flags |= A_CLOSED;
        }
        self.accounts.insert(dr.id, dr);
        self.accounts.insert(cr.id, cr);
        R::Ok
    }

    fn post_or_void(&mut self, t: &NewTransfer, timestamp: u64) -> ResultCode {
        use ResultCode as R;
        let flags = t.flags.0;
        let void = flags & T_VOID != 0;
        if flags & T_POST != 0 && void {
            return R::FlagsAreMutuallyExclusive;
        }
        if flags & (T_PENDING | T_BALANCING_DEBIT | T_BALANCING_CREDIT | T_CLOSING_DEBIT | T_CLOSING_CREDIT)
            != 0
        {
            return R::FlagsAreMutuallyExclusive;
        }
        if t.pending_id == 0 {
            return R::PendingIdMustNotBeZero;
        }
        if t.pending_id == u128::MAX {
            return R::PendingIdMustNotBeIntMax;
        }
        if t.pending_id == t.id {
            return R::PendingIdMustBeDifferent;
        }
        if t.timeout_s != 0 {
            return R::TimeoutReservedForPendingTransfer;
        }
        let Some(p) = self.transfers.get(&t.pending_id).cloned() else {
            return R::PendingTransferNotFound;
        };
        if !p.has(T_PENDING) {
            return R::PendingTransferNotPending;
        }
        if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
            return R::PendingTransferHasDifferentDebitAccountId;
        }
        if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
            return R::PendingTransferHasDifferentCreditAccountId;
        }
        if t.ledger != 0 && t.ledger != p.ledger {
            return R::PendingTransferHasDifferentLedger;
        }
        if t.code != 0 && t.code != p.code {
            return R::PendingTransferHasDifferentCode;
        }
        // Void: 0 is the whole hold; post: u128::MAX is. Anything else is literal.
        let actual = if void {
            if t.amount.0 == 0 { p.amount } else { t.amount.0 }
        } else if t.amount.0 == u128::MAX {
            p.amount
        } else {
            t.amount.0
        };
        if actual > p.amount {
            return R::ExceedsPendingTransferAmount;
        }
        if void && actual < p.amount {
            return R::PendingTransferHasDifferentAmount;
        }
        match p.status {
            Status::Pending => {}
            Status::Posted => return R::PendingTransferAlreadyPosted,
            Status::Voided => return R::PendingTransferAlreadyVoided,
            Status::Expired => return R::PendingTransferExpired,
            Status::None => unreachable!("a pending transfer has a pending status"),
        }
        // Due but not yet expired by the pass: expired all the same.
        if p.expires_at().is_some_and(|at| at <= timestamp) {
            return R::PendingTransferExpired;
        }
        let mut dr = self.accounts[&p.debit_account_id].clone();
        let mut cr = self.accounts[&p.credit_account_id].clone();
        // The only movement allowed in a closed account is a void.
        if dr.closed() && !void {
            return R::DebitAccountAlreadyClosed;
        }
        if cr.closed() && !void {
            return R::CreditAccountAlreadyClosed;
        }
        self.transfers.insert(
            t.id,
            TbTransfer {
                id: t.id,
                debit_account_id: p.debit_account_id,
                credit_account_id: p.credit_account_id,
                amount: actual,
                pending_id: t.pending_id,
                // A zero user datum is the hold's.
                user_data_128: if t.user_data_128 > 0 { t.user_data_128 } else { p.user_data_128 },
                user_data_64: if t.user_data_64 > 0 { t.user_data_64 } else { p.user_data_64 },
                user_data_32: if t.user_data_32 > 0 { t.user_data_32 } else { p.user_data_32 },
                timeout: 0,
                ledger: p.ledger,
                code: p.code,
                flags,
                timestamp,
                status: Status::None,
            },
        );
        self.transfers.get_mut(&p.id).expect("the hold").status =
            if void { Status::Voided } else { Status::Posted };
        dr.debits_pending -= p.amount;
        cr.credits_pending -= p.amount;
        if void {
            if p.has(T_CLOSING_DEBIT) {
                assert!(dr.closed());
                dr.flags &= !A_CLOSED;
            }
            if p.has(T_CLOSING_CREDIT) {
                assert!(cr.closed());
                cr.flags &= !A_CLOSED;
            }
        } else {
            assert!(!p.has(T_CLOSING_DEBIT) && !p.has(T_CLOSING_CREDIT), "a closing hold cannot be posted");
            dr.debits_posted += actual;
            cr.credits_posted += actual;
        }
        self.accounts.insert(dr.id, dr);
        self.accounts.insert(cr.id, cr);
        R::Ok
    }

    /// `create_transfer_exists`: flags (raw), pending_id, timeout, then for posts and voids
    /// `post_or_void_pending_transfer_exists`, else debit, credit, amount (a balancing transfer's
    /// request is a ceiling), user data 128/64/32, ledger, code.
    fn transfer_exists(&self, t: &NewTransfer, e: &TbTransfer) -> ResultCode {
        use ResultCode as R;
        let flags = t.flags.0;
        if flags != e.flags {
            return R::ExistsWithDifferentFlags;
        }
        if t.pending_id != e.pending_id {
            return R::ExistsWithDifferentPendingId;
        }
        if t.timeout_s != e.timeout {
            return R::ExistsWithDifferentTimeout;
        }
        if flags & (T_POST | T_VOID) != 0 {
            let p = &self.transfers[&t.pending_id];
            return post_or_void_exists(t, e, p);
        }
        if t.debit_account_id != e.debit_account_id {
            return R::ExistsWithDifferentDebitAccountId;
        }
        if t.credit_account_id != e.credit_account_id {
            return R::ExistsWithDifferentCreditAccountId;
        }
        if flags & (T_BALANCING_DEBIT | T_BALANCING_CREDIT) != 0 {
            if t.amount.0 < e.amount {
                return R::ExistsWithDifferentAmount;
            }
        } else if t.amount.0 != e.amount {
            return R::ExistsWithDifferentAmount;
        }
        if t.user_data_128 != e.user_data_128 {
            return R::ExistsWithDifferentUserData128;
        }
        if t.user_data_64 != e.user_data_64 {
            return R::ExistsWithDifferentUserData64;
        }
        if t.user_data_32 != e.user_data_32 {
            return R::ExistsWithDifferentUserData32;
        }
        if t.ledger != e.ledger {
            return R::ExistsWithDifferentLedger;
        }
        if t.code != e.code {
            return R::ExistsWithDifferentCode;
        }
        R::Exists
    }
}

/// `post_or_void_pending_transfer_exists`: zero ids, ledger and code match; a void's 0 and a
/// post's u128::MAX mean the whole hold; a zero user datum means the hold's.
fn post_or_void_exists(t: &NewTransfer, e: &TbTransfer, p: &TbTransfer) -> ResultCode {
    use ResultCode as R;
    if t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id {
        return R::ExistsWithDifferentDebitAccountId;
    }
    if t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id {
        return R::ExistsWithDifferentCreditAccountId;
    }
    let whole = if t.flags.0 & T_VOID != 0 { 0 } else { u128::MAX };
    if t.amount.0 == whole {
        if e.amount != p.amount {
            return R::ExistsWithDifferentAmount;
        }
    } else if t.amount.0 != e.amount {
        return R::ExistsWithDifferentAmount;
    }
    let differs = |request: u128, existing: u128, hold: u128| {
        if request == 0 { existing != hold } else { request != existing }
    };
    if differs(t.user_data_128, e.user_data_128, p.user_data_128) {
        return R::ExistsWithDifferentUserData128;
    }
    if differs(t.user_data_64.into(), e.user_data_64.into(), p.user_data_64.into()) {
        return R::ExistsWithDifferentUserData64;
    }
    if differs(t.user_data_32.into(), e.user_data_32.into(), p.user_data_32.into()) {
        return R::ExistsWithDifferentUserData32;
    }
    if t.ledger != 0 && t.ledger != e.ledger {
        return R::ExistsWithDifferentLedger;
    }
    if t.code != 0 && t.code != e.code {
        return R::ExistsWithDifferentCode;
    }
    R::Exists
}

// ---------------------------------------------------------------------------------------------
// Hansa's records in the model's terms.

fn from_hansa_account(a: &Account) -> TbAccount {
    TbAccount {
        id: a.id,
        debits_pending: a.debits_pending.0,
        debits_posted: a.debits_posted.0,
        credits_pending: a.credits_pending.0,
        credits_posted: a.credits_posted.0,
        user_data_128: a.user_data_128,
        user_data_64: a.user_data_64,
        user_data_32: a.user_data_32,
        ledger: a.ledger,
        code: a.code,
        flags: a.flags.0,
        timestamp: a.timestamp,
    }
}

fn from_hansa_transfer(t: &Transfer) -> TbTransfer {
    TbTransfer {
        id: t.id,
        debit_account_id: t.debit_account_id,
        credit_account_id: t.credit_account_id,
        amount: t.amount.0,
        pending_id: t.pending_id,
        user_data_128: t.user_data_128,
        user_data_64: t.user_data_64,
        user_data_32: t.user_data_32,
        timeout: t.timeout_s,
        ledger: t.ledger,
        code: t.code,
        flags: t.flags.0,
        timestamp: t.timestamp,
        status: match t.status {
            PendingStatus::None => Status::None,
            PendingStatus::Pending => Status::Pending,
            PendingStatus::Posted => Status::Posted,
            PendingStatus::Voided => Status::Voided,
            PendingStatus::Expired => Status::Expired,
        },
    }
}

fn id_text(id: u128) -> String {
    if id == u128::MAX { "MAX".into() } else { id.to_string() }
}

fn amount_text(amount: u128) -> String {
    match u128::MAX - amount {
        0 => "MAX".into(),
        gap if gap < 1_000 => format!("MAX-{gap}"),
        _ if amount > 1 << 100 => format!("{amount:#x}"),
        _ => amount.to_string(),
    }
}

/// One line per operation, enough to rebuild it.
fn describe(operation: &Operation) -> String {
    match operation {
        Operation::CreateAccount(a) => format!(
            "account id={} ledger={} code={} flags={:#x} ud=({},{},{})",
            id_text(a.id),
            a.ledger,
            a.code,
            a.flags.0,
            a.user_data_128,
            a.user_data_64,
            a.user_data_32
        ),
        Operation::CreateTransfer(t) => format!(
            "transfer id={} dr={} cr={} amount={} pending_id={} timeout={} ledger={} code={} flags={:#x} ud=({},{},{})",
            id_text(t.id),
            id_text(t.debit_account_id),
            id_text(t.credit_account_id),
            amount_text(t.amount.0),
            id_text(t.pending_id),
            t.timeout_s,
            t.ledger,
            t.code,
            t.flags.0,
            t.user_data_128,
            t.user_data_64,
            t.user_data_32
        ),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Hansa and the model side by side.

/// Account ids the workload uses (besides 0, u128::MAX and an unknown one).
const ACCOUNT_POOL: u64 = 24;
/// Transfer ids the workload uses (besides 0 and u128::MAX); they overlap the account ids on
/// purpose: the two are separate namespaces.
const TRANSFER_POOL: u64 = 64;
const UNKNOWN_ACCOUNT: u128 = 200;
/// Where the ids of new transfers that collide with nothing start.
const FRESH_TRANSFERS: u128 = 1_000;

struct Run {
    harness: Harness,
    model: Model,
    /// Every block so far, one line per operation.
    steps: String,
    blocks: usize,
    accounts_sent: Vec<NewAccount>,
    transfers_sent: Vec<NewTransfer>,
    /// Ids of the pending transfers asked for (whatever became of them).
    holds_sent: Vec<u128>,
    /// Every code Hansa answered.
    produced: BTreeSet<ResultCode>,
    /// The model's results for the last block.
    expected: Vec<ResultCode>,
}

impl Run {
    fn new() -> Run {
        Run {
            harness: Harness::new(),
            model: Model::default(),
            steps: String::new(),
            blocks: 0,
            accounts_sent: Vec::new(),
            transfers_sent: Vec::new(),
            holds_sent: Vec::new(),
            produced: BTreeSet::new(),
            expected: Vec::new(),
        }
    }

    fn note(&mut self, operation: &Operation) {
        match operation {
            Operation::CreateAccount(a) => self.accounts_sent.push(*a),
            Operation::CreateTransfer(t) => {
                if t.flags.0 & T_PENDING != 0 {
                    self.holds_sent.push(t.id);
                }
                self.transfers_sent.push(*t);
            }
            Operation::RegisterKey(_) | Operation::RevokeKey(_) => {}
        }
    }

    /// Executes one block `wait_ms` after the last, of `batches` (each the organisation's), in
    /// Hansa and in the model; the first difference in a result or in the state afterwards is
    /// the error.
    fn block(&mut self, wait_ms: u64, batches: Vec<Vec<Operation>>) -> Result<Vec<ResultCode>, String> {
        for operation in batches.iter().flatten() {
            self.note(operation);
        }
        self.run_block(wait_ms, batches)
    }

    /// [`Run::block`] for operations already noted.
    fn run_block(&mut self, wait_ms: u64, batches: Vec<Vec<Operation>>) -> Result<Vec<ResultCode>, String> {
        let time_ms = self.harness.time_ms + wait_ms;
        let now = time_ms * NS_PER_MS;
        self.blocks += 1;
        let _ = writeln!(self.steps, "block {} (+{wait_ms} ms, t={time_ms} ms):", self.blocks);
        let mut index = 0;
        for (batch, operations) in batches.iter().enumerate() {
            let _ = writeln!(self.steps, "  batch {batch}:");
            for operation in operations {
                let _ = writeln!(self.steps, "    #{index} {}", describe(operation));
                index += 1;
            }
        }
        self.model.expire(now);
        let mut expected = Vec::new();
        for operations in &batches {
            let first = now + expected.len() as u64;
            expected.extend(self.model.execute(operations, first));
        }
        let operations: Vec<Operation> = batches.iter().flatten().copied().collect();
        let signed = batches.into_iter().map(|operations| self.harness.batch(ORG, operations)).collect();
        let actual = self.harness.block_after(wait_ms, signed).results;
        assert_eq!(actual.len(), expected.len());
        self.expected.clone_from(&expected);
        self.produced.extend(actual.iter().copied());
        for (index, (hansa, model)) in actual.iter().zip(&expected).enumerate() {
            if hansa != model {
                return Err(format!(
                    "block {} operation #{index} ({}): Hansa answered {hansa}, TigerBeetle (model) answers {model}\n\
                     all results: Hansa {actual:?}\n              model {expected:?}\n{}",
                    self.blocks,
                    describe(&operations[index]),
                    self.steps
                ));
            }
        }
        self.compare_state()?;
        Ok(actual)
    }

    fn account_ids() -> impl Iterator<Item = u128> {
        (0..=u128::from(ACCOUNT_POOL)).chain([UNKNOWN_ACCOUNT, u128::MAX]).chain(30..=45)
    }

    fn transfer_ids(&self) -> BTreeSet<u128> {
        let mut ids: BTreeSet<u128> = (0..=u128::from(TRANSFER_POOL)).chain([u128::MAX]).collect();
        ids.extend(self.transfers_sent.iter().map(|t| t.id));
        ids.extend(self.model.transfers.keys().copied());
        ids
    }

    fn compare_state(&self) -> Result<(), String> {
        for id in Self::account_ids() {
            let hansa = self.harness.account(id);
            if let Some(account) = &hansa
                && account.owner != ORG
            {
                return Err(format!("account {id} is owned by {:?}\n{}", account.owner, self.steps));
            }
            let hansa = hansa.as_ref().map(from_hansa_account);
            let model = self.model.accounts.get(&id);
            if hansa.as_ref() != model {
                return Err(format!(
                    "after block {}, account {}:\n  Hansa {hansa:?}\n  model {model:?}\n{}",
                    self.blocks,
                    id_text(id),
                    self.steps
                ));
            }
        }
        for id in self.transfer_ids() {
            let hansa = self.harness.transfer(id);
            if let Some(transfer) = &hansa
                && transfer.submitter != ORG
            {
                return Err(format!(
                    "transfer {id} was submitted by {:?}\n{}",
                    transfer.submitter, self.steps
                ));
            }
            let hansa = hansa.as_ref().map(from_hansa_transfer);
            let model = self.model.transfers.get(&id);
            if hansa.as_ref() != model {
                return Err(format!(
                    "after block {}, transfer {}:\n  Hansa {hansa:?}\n  model {model:?}\n{}",
                    self.blocks,
                    id_text(id),
                    self.steps
                ));
            }
        }
        // Σ debits = Σ credits per ledger, posted and pending (modulo 2^128: amounts near
        // u128::MAX are part of the workload, so testkit's `assert_balanced` would overflow).
        let mut totals: BTreeMap<u32, [u128; 4]> = BTreeMap::new();
        for account in self.model.accounts.values() {
            let entry = totals.entry(account.ledger).or_default();
            entry[0] = entry[0].wrapping_add(account.debits_posted);
            entry[1] = entry[1].wrapping_add(account.credits_posted);
            entry[2] = entry[2].wrapping_add(account.debits_pending);
            entry[3] = entry[3].wrapping_add(account.credits_pending);
        }
        for (ledger, [debits_posted, credits_posted, debits_pending, credits_pending]) in totals {
            assert_eq!(debits_posted, credits_posted, "ledger {ledger} posted");
            assert_eq!(debits_pending, credits_pending, "ledger {ledger} pending");
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The random workload: proptest picks the shape (blocks, waits, batches, kinds of operation)
// and a seed per operation; the operation is then built from its seed against what was asked
// for so far, so that it names existing accounts, holds and ids most of the time.

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Mostly 0, else 1..=3.
    fn small(&mut self) -> u64 {
        if self.percent(60) { 0 } else { 1 + self.below(3) }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    NewAccount,
    AccountRetry,
    NewTransfer,
    PostOrVoid,
    TransferRetry,
}

#[derive(Debug, Clone)]
struct BlockSpec {
    wait_ms: u64,
    batches: Vec<Vec<(Kind, u64)>>,
}

fn op_spec() -> impl Strategy<Value = (Kind, u64)> {
    let kind = prop_oneof![
        3 => Just(Kind::NewAccount),
        1 => Just(Kind::AccountRetry),
        9 => Just(Kind::NewTransfer),
        5 => Just(Kind::PostOrVoid),
        3 => Just(Kind::TransferRetry),
    ];
    (kind, any::<u64>())
}

fn block_spec() -> impl Strategy<Value = BlockSpec> {
    let wait = prop_oneof![
        5 => Just(1u64),
        1 => Just(250),
        1 => Just(999),
        2 => Just(1_000),
        1 => Just(1_001),
        1 => Just(2_000),
        1 => Just(3_000),
        1 => Just(4_000),
    ];
    let batches = prop::collection::vec(prop::collection::vec(op_spec(), 1..=10), 0..=4);
    (wait, batches).prop_map(|(wait_ms, batches)| BlockSpec { wait_ms, batches })
}

impl Run {
    /// Accounts 1..=8 on both ledgers with each kind of limit, and some money on them.
    fn setup(&mut self) -> Result<(), String> {
        let accounts = vec![
            account(1, CNY, 0),
            account(2, CNY, 0),
            account(3, CNY, A_DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(4, CNY, A_CREDITS_MUST_NOT_EXCEED_DEBITS),
            account(5, USD, 0),
            account(6, USD, A_DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(7, CNY, A_HISTORY),
            account(8, USD, 0),
        ];
        let transfers = vec![
            new_transfer(1, 1, 3, 1_000, CNY, 0),
            new_transfer(2, 4, 2, 500, CNY, 0),
            new_transfer(3, 5, 6, 1_000, USD, 0),
        ];
        self.block(1, vec![accounts, transfers]).map(|_| ())
    }

    fn account_id(rng: &mut Rng) -> u128 {
        match rng.below(100) {
            0..=2 => 0,
            3..=5 => u128::MAX,
            _ => 1 + u128::from(rng.below(ACCOUNT_POOL)),
        }
    }

    /// A transfer id never asked for (70%), else one of the pool's, 0 or u128::MAX.
    fn new_transfer_id(&self, rng: &mut Rng) -> u128 {
        if rng.percent(70) {
            FRESH_TRANSFERS + self.transfers_sent.len() as u128
        } else {
            Self::transfer_id(rng)
        }
    }

    fn transfer_id(rng: &mut Rng) -> u128 {
        match rng.below(100) {
            0..=1 => 0,
            2..=3 => u128::MAX,
            _ => 1 + u128::from(rng.below(TRANSFER_POOL)),
        }
    }

    /// Mostly an account asked for already (on `ledger`, if given and there is one); sometimes
    /// 0, u128::MAX, an unknown id or any.
    fn some_account(&self, rng: &mut Rng, ledger: Option<u32>) -> u128 {
        match rng.below(100) {
            0..=1 => 0,
            2..=3 => u128::MAX,
            4..=6 => UNKNOWN_ACCOUNT,
            7..=12 => 1 + u128::from(rng.below(ACCOUNT_POOL)),
            _ => {
                let ids: Vec<u128> = self
                    .accounts_sent
                    .iter()
                    .filter(|a| a.id != 0 && a.id != u128::MAX)
                    .filter(|a| ledger.is_none_or(|ledger| self.ledger_of(a.id) == ledger))
                    .map(|a| a.id)
                    .collect();
                if ids.is_empty() { 1 + u128::from(rng.below(ACCOUNT_POOL)) } else { rng.pick(&ids) }
            }
        }
    }

    fn ledger_of(&self, account: u128) -> u32 {
        self.model
            .accounts
            .get(&account)
            .map(|a| a.ledger)
            .or_else(|| self.accounts_sent.iter().rev().find(|a| a.id == account).map(|a| a.ledger))
            .unwrap_or(CNY)
    }

    /// The hold as it stands in the model, else as last asked for.
    fn hold(&self, id: u128) -> Option<NewTransfer> {
        if let Some(p) = self.model.transfers.get(&id) {
            return Some(NewTransfer {
                id,
                debit_account_id: p.debit_account_id,
                credit_account_id: p.credit_account_id,
                amount: Amount(p.amount),
                ledger: p.ledger,
                code: p.code,
                ..Default::default()
            });
        }
        self.transfers_sent.iter().rev().find(|t| t.id == id).copied()
    }

    fn build(&self, kind: Kind, seed: u64) -> Operation {
        let mut rng = Rng(seed);
        match kind {
            Kind::NewAccount => Operation::CreateAccount(self.build_account(&mut rng)),
            Kind::AccountRetry => match self.accounts_sent.is_empty() {
                true => Operation::CreateAccount(self.build_account(&mut rng)),
                false => Operation::CreateAccount(self.build_account_retry(&mut rng)),
            },
            Kind::NewTransfer => Operation::CreateTransfer(self.build_transfer(&mut rng)),
            Kind::PostOrVoid => Operation::CreateTransfer(self.build_post_or_void(&mut rng)),
            Kind::TransferRetry => match self.transfers_sent.is_empty() {
                true => Operation::CreateTransfer(self.build_transfer(&mut rng)),
                false => Operation::CreateTransfer(self.build_transfer_retry(&mut rng)),
            },
        }
    }

    fn build_account(&self, rng: &mut Rng) -> NewAccount {
        let mut flags = 0;
        for (flag, p) in [
            (A_LINKED, 10),
            (A_DEBITS_MUST_NOT_EXCEED_CREDITS, 25),
            (A_CREDITS_MUST_NOT_EXCEED_DEBITS, 15),
            (A_HISTORY, 20),
        ] {
            if rng.percent(p) {
                flags |= flag;
            }
        }
        if rng.percent(3) {
            flags |= rng.pick(&[1 << 6, 1 << 9, 1 << 15]);
        }
        NewAccount {
            id: Self::account_id(rng),
            user_data_128: rng.small().into(),
            user_data_64: rng.small(),
            user_data_32: rng.small() as u32,
            ledger: match rng.below(100) {
                0..=81 => CNY,
                82..=96 => USD,
                _ => 0,
            },
            code: if rng.percent(8) { 0 } else { 1 + rng.below(3) as u16 },
            flags: AccountFlags(flags),
        }
    }

    fn build_account_retry(&self, rng: &mut Rng) -> NewAccount {
        let mut a = self.accounts_sent[rng.below(self.accounts_sent.len() as u64) as usize];
        match rng.below(10) {
            0..=3 => {}
            4 => a.flags.0 ^= A_LINKED,
            5 => a.flags.0 ^= A_HISTORY,
            6 => a.flags.0 ^= rng.pick(&[A_DEBITS_MUST_NOT_EXCEED_CREDITS, A_CREDITS_MUST_NOT_EXCEED_DEBITS]),
            7 => match rng.below(3) {
                0 => a.user_data_128 = rng.small().into(),
                1 => a.user_data_64 = rng.small(),
                _ => a.user_data_32 = rng.small() as u32,
            },
            8 => a.ledger = rng.pick(&[CNY, USD, 0]),
            _ => a.code = rng.below(4) as u16,
        }
        a
    }

    fn amount(rng: &mut Rng) -> u128 {
        match rng.below(100) {
            0..=4 => 0,
            5..=64 => 1 + u128::from(rng.below(100)),
            65..=91 => 100 + u128::from(rng.below(2_000)),
            92..=94 => u128::MAX - u128::from(rng.below(3)),
            95..=97 => u128::MAX / 2 + u128::from(rng.below(3)),
            _ => u128::MAX / 5 * 2,
        }
    }

    fn build_transfer(&self, rng: &mut Rng) -> NewTransfer {
        let pending = rng.percent(45);
        let mut flags = if pending { T_PENDING } else { 0 };
        for (flag, p) in [
            (T_BALANCING_DEBIT, 12),
            (T_BALANCING_CREDIT, 8),
            (T_CLOSING_DEBIT, 3),
            (T_CLOSING_CREDIT, 3),
            (T_LINKED, 10),
        ] {
            if rng.percent(p) {
                flags |= flag;
            }
        }
        if flags & (T_CLOSING_DEBIT | T_CLOSING_CREDIT) != 0 && rng.percent(80) {
            flags |= T_PENDING;
        }
        if rng.percent(2) {
            flags |= rng.pick(&[1 << 9, 1 << 12]);
        }
        let timeout_s = if flags & T_PENDING != 0 {
            rng.pick(&[0, 0, 0, 1, 2, 3])
        } else if rng.percent(4) {
            1
        } else {
            0
        };
        let debit = self.some_account(rng, None);
        let same_ledger = rng.percent(85).then(|| self.ledger_of(debit));
        let mut credit = self.some_account(rng, same_ledger);
        if credit == debit && rng.percent(80) {
            credit = self.some_account(rng, same_ledger);
        }
        NewTransfer {
            id: self.new_transfer_id(rng),
            debit_account_id: debit,
            credit_account_id: credit,
            amount: Amount(Self::amount(rng)),
            pending_id: if rng.percent(3) { Self::transfer_id(rng) } else { 0 },
            user_data_128: rng.small().into(),
            user_data_64: rng.small(),
            user_data_32: rng.small() as u32,
            timeout_s,
            ledger: match rng.below(100) {
                0..=84 => self.ledger_of(debit),
                85..=89 => 0,
                90..=94 => rng.pick(&[CNY, USD]),
                _ => 3,
            },
            code: if rng.percent(6) { 0 } else { 1 + rng.below(3) as u16 },
            flags: TransferFlags(flags),
        }
    }

    fn build_post_or_void(&self, rng: &mut Rng) -> NewTransfer {
        let void = rng.percent(45);
        let mut flags = if void { T_VOID } else { T_POST };
        if rng.percent(5) {
            flags |= rng.pick(&[
                T_POST | T_VOID,
                T_PENDING,
                T_BALANCING_DEBIT,
                T_BALANCING_CREDIT,
                T_CLOSING_DEBIT,
                T_CLOSING_CREDIT,
            ]);
        }
        if rng.percent(10) {
            flags |= T_LINKED;
        }
        let id = self.new_transfer_id(rng);
        let holds: Vec<u128> =
            self.model.transfers.values().filter(|t| t.has(T_PENDING)).map(|t| t.id).collect();
        let pending_id = match rng.below(100) {
            0..=69 if !holds.is_empty() => rng.pick(&holds),
            0..=84 if !self.holds_sent.is_empty() => rng.pick(&self.holds_sent),
            0..=87 => 1 + u128::from(rng.below(TRANSFER_POOL)),
            88..=91 => 0,
            92..=95 => u128::MAX,
            _ => id,
        };
        let hold = self.hold(pending_id);
        let held = hold.map_or(100, |h| h.amount.0);
        let amount = match rng.below(100) {
            0..=19 => 0,
            20..=39 => held,
            40..=49 => held.saturating_sub(1),
            50..=59 => held / 2,
            60..=71 => held.saturating_add(1),
            72..=96 => u128::MAX,
            _ => u128::from(rng.below(50)),
        };
        let side = |rng: &mut Rng, of_hold: Option<u128>| match rng.below(100) {
            0..=84 => 0,
            85..=92 => of_hold.unwrap_or(1),
            _ => self.some_account(rng, None),
        };
        let debit_account_id = side(rng, hold.map(|h| h.debit_account_id));
        let credit_account_id = side(rng, hold.map(|h| h.credit_account_id));
        NewTransfer {
            id,
            debit_account_id,
            credit_account_id,
            amount: Amount(amount),
            pending_id,
            user_data_128: rng.small().into(),
            user_data_64: rng.small(),
            user_data_32: rng.small() as u32,
            timeout_s: if rng.percent(4) { 1 } else { 0 },
            ledger: match rng.below(100) {
                0..=79 => 0,
                80..=89 => hold.map_or(CNY, |h| h.ledger),
                _ => rng.pick(&[CNY, USD, 3]),
            },
            code: match rng.below(100) {
                0..=79 => 0,
                80..=89 => hold.map_or(1, |h| h.code),
                _ => 1 + rng.below(3) as u16,
            },
            flags: TransferFlags(flags),
        }
    }

    fn build_transfer_retry(&self, rng: &mut Rng) -> NewTransfer {
        let count = self.transfers_sent.len() as u64;
        // Half the time one of the last few: duplicates within a batch or a block.
        let index = if rng.percent(50) { count - 1 - rng.below(count.min(4)) } else { rng.below(count) };
        let mut t = self.transfers_sent[index as usize];
        match rng.below(16) {
            0..=4 => {}
            5 => t.flags.0 ^= T_LINKED,
            6 => t.amount.0 = t.amount.0.wrapping_add(if rng.percent(50) { 1 } else { u128::MAX }),
            7 => t.amount.0 = rng.pick(&[0, u128::MAX]),
            8 => t.timeout_s ^= 1,
            9 => t.pending_id = Self::transfer_id(rng),
            10 => t.debit_account_id = self.some_account(rng, None),
            11 => t.credit_account_id = self.some_account(rng, None),
            12 => match rng.below(3) {
                0 => t.user_data_128 = rng.small().into(),
                1 => t.user_data_64 = rng.small(),
                _ => t.user_data_32 = rng.small() as u32,
            },
            13 => t.ledger = rng.pick(&[0, CNY, USD]),
            14 => t.code = rng.below(4) as u16,
            _ => t.flags.0 ^= T_PENDING,
        }
        t
    }

    /// Builds the block's operations (each against what was asked for before it) and runs it.
    fn random_block(&mut self, spec: &BlockSpec) -> Result<(), String> {
        let mut batches = Vec::new();
        for batch in &spec.batches {
            let mut operations = Vec::new();
            for (kind, seed) in batch {
                let operation = self.build(*kind, *seed);
                // Later operations of the block may refer to this one.
                self.note(&operation);
                operations.push(operation);
            }
            batches.push(operations);
        }
        self.run_block(spec.wait_ms, batches).map(|_| ())
    }
}

fn new_transfer(id: u128, debit: u128, credit: u128, amount: u128, ledger: u32, flags: u16) -> Operation {
    Operation::CreateTransfer(NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount: Amount(amount),
        ledger,
        code: 1,
        flags: TransferFlags(flags),
        ..Default::default()
    })
}

/// The proptest's seed: `TB_MODEL_SEED` if set, else fresh; printed with every failure.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var("TB_MODEL_SEED") {
        Ok(text) => text.trim().parse().expect("TB_MODEL_SEED is a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64),
    })
}

fn config() -> Config {
    Config {
        cases: 512,
        rng_seed: RngSeed::Fixed(seed()),
        // Nothing is written into the source tree; the seed reproduces a failure.
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hansa_answers_as_the_tigerbeetle_model(blocks in prop::collection::vec(block_spec(), 1..=40)) {
        let mut run = Run::new();
        let fail = |message: String| TestCaseError::fail(format!("TB_MODEL_SEED={}: {message}", seed()));
        run.setup().map_err(fail)?;
        for spec in &blocks {
            run.random_block(spec).map_err(fail)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Every code, at least once.

fn transfer_with(
    id: u128,
    debit: u128,
    credit: u128,
    amount: u128,
    change: impl FnOnce(&mut NewTransfer),
) -> Operation {
    let Operation::CreateTransfer(mut t) = new_transfer(id, debit, credit, amount, CNY, 0) else {
        unreachable!("a transfer")
    };
    change(&mut t);
    Operation::CreateTransfer(t)
}

fn account_with(id: u128, change: impl FnOnce(&mut NewAccount)) -> Operation {
    let Operation::CreateAccount(mut a) = account(id, CNY, 0) else { unreachable!("an account") };
    change(&mut a);
    Operation::CreateAccount(a)
}

fn post_or_void(id: u128, pending_id: u128, amount: u128, flags: u16) -> Operation {
    Operation::CreateTransfer(NewTransfer {
        id,
        pending_id,
        amount: Amount(amount),
        flags: TransferFlags(flags),
        ..Default::default()
    })
}

/// A fixed scenario, checked against the model operation by operation, then Hansa's own
/// refusals on the demo consortium, together producing every code the ledger has for accounts
/// and transfers. No code is left out as impossible: `overflows_timeout` needs
/// `timestamp + timeout·10^9 > 2^63 - 1` (TigerBeetle keeps timestamps in 63 bits), i.e. a
/// consensus time past ~4.9·10^18 ns (year ~2125) with a timeout of u32::MAX seconds, reached
/// here by one block that advances the clock by 5·10^12 ms. (Hansa checked the sum against
/// u64::MAX instead when this test was written, so it accepted that hold: the one difference
/// this test found.)
#[test]
fn every_result_code_is_produced() {
    use ResultCode as R;
    let mut run = Run::new();
    // The model must give the codes the scenario intends; Hansa must give the model's. A
    // difference between Hansa and the model is recorded and the scenario goes on, so that the
    // coverage below is still checked; the test fails at the end if there was any.
    let mut differences: Vec<String> = Vec::new();
    let mut expect = |run: &mut Run, wait_ms: u64, batches: Vec<Vec<Operation>>, intended: &[ResultCode]| {
        let outcome = run.block(wait_ms, batches);
        assert_eq!(
            run.expected, intended,
            "the model's codes are the scenario's intended ones\n{}",
            run.steps
        );
        if let Err(message) = outcome {
            differences.push(message.lines().take(3).collect::<Vec<_>>().join("\n"));
        }
    };
    const MAX: u128 = u128::MAX;
    let dmnec = A_DEBITS_MUST_NOT_EXCEED_CREDITS;
    let cmned = A_CREDITS_MUST_NOT_EXCEED_DEBITS;

    // Accounts.
    let mut accounts = vec![
        account(1, CNY, 0),
        account(2, CNY, 0),
        account(3, CNY, dmnec),
        account(4, CNY, cmned),
        account(5, USD, 0),
        account(6, CNY, A_HISTORY),
    ];
    accounts.extend((30..=45).map(|id| account(id, CNY, 0)));
    let mut codes = vec![R::Ok; accounts.len()];
    accounts.extend([
        account(0, CNY, 0),
        account(MAX, CNY, 0),
        account(20, CNY, 1 << 6),
        account(21, CNY, dmnec | cmned),
        account(22, 0, 0),
        account_with(23, |a| a.code = 0),
        account(1, CNY, 0),
        account(1, CNY, A_HISTORY),
        account_with(1, |a| a.user_data_128 = 1),
        account_with(1, |a| a.user_data_64 = 1),
        account_with(1, |a| a.user_data_32 = 1),
        account(1, USD, 0),
        account_with(1, |a| a.code = 2),
        // A chain broken by its second member, then a chain left open.
        account(24, CNY, A_LINKED),
        account(0, CNY, 0),
        account(25, CNY, A_LINKED),
    ]);
    codes.extend([
        R::IdMustNotBeZero,
        R::IdMustNotBeIntMax,
        R::ReservedFlag,
        R::FlagsAreMutuallyExclusive,
        R::LedgerMustNotBeZero,
        R::CodeMustNotBeZero,
        R::Exists,
        R::ExistsWithDifferentFlags,
        R::ExistsWithDifferentUserData128,
        R::ExistsWithDifferentUserData64,
        R::ExistsWithDifferentUserData32,
        R::ExistsWithDifferentLedger,
        R::ExistsWithDifferentCode,
        R::LinkedEventFailed,
        R::IdMustNotBeZero,
        R::LinkedEventChainOpen,
    ]);
    expect(&mut run, 1, vec![accounts], &codes);

    // Transfers: validation in TigerBeetle's order, transient failures, retries.
    let t = |id, debit, credit, amount| new_transfer(id, debit, credit, amount, CNY, 0);
    let batch = vec![
        t(100, 1, 2, 100),
        t(0, 1, 2, 1),
        t(MAX, 1, 2, 1),
        new_transfer(101, 1, 2, 1, CNY, 1 << 9),
        t(101, 0, 2, 1),
        t(101, MAX, 2, 1),
        t(101, 1, 0, 1),
        t(101, 1, MAX, 1),
        t(101, 1, 1, 1),
        transfer_with(101, 1, 2, 1, |t| t.pending_id = 7),
        transfer_with(101, 1, 2, 1, |t| t.timeout_s = 1),
        new_transfer(101, 1, 2, 1, CNY, T_CLOSING_DEBIT),
        new_transfer(101, 1, 2, 1, 0, 0),
        transfer_with(101, 1, 2, 1, |t| t.code = 0),
        t(110, 99, 2, 1),
        t(111, 1, 99, 1),
        t(112, 1, 5, 1),
        new_transfer(113, 1, 2, 1, USD, 0),
        t(114, 3, 1, 10),
        t(115, 1, 4, 10),
        t(110, 1, 2, 1),
        // Retries of 100, each differing in one field.
        new_transfer(100, 1, 2, 100, CNY, T_PENDING),
        transfer_with(100, 1, 2, 100, |t| t.pending_id = 7),
        transfer_with(100, 1, 2, 100, |t| t.timeout_s = 1),
        t(100, 2, 2, 100),
        t(100, 1, 3, 100),
        t(100, 1, 2, 99),
        transfer_with(100, 1, 2, 100, |t| t.user_data_128 = 1),
        transfer_with(100, 1, 2, 100, |t| t.user_data_64 = 1),
        transfer_with(100, 1, 2, 100, |t| t.user_data_32 = 1),
        new_transfer(100, 1, 2, 100, USD, 0),
        transfer_with(100, 1, 2, 100, |t| t.code = 2),
        t(100, 1, 2, 100),
        // A chain broken by a transient failure: its id stays refused.
        new_transfer(120, 1, 2, 1, CNY, T_LINKED),
        t(121, 3, 1, 1_000),
        t(121, 1, 2, 1),
        // Balancing: 3 has no credits left to balance... after funding it has 50.
        t(122, 1, 3, 50),
        new_transfer(123, 3, 2, 80, CNY, T_BALANCING_DEBIT),
        new_transfer(123, 3, 2, 60, CNY, T_BALANCING_DEBIT),
        new_transfer(123, 3, 2, 40, CNY, T_BALANCING_DEBIT),
    ];
    let codes = [
        R::Ok,
        R::IdMustNotBeZero,
        R::IdMustNotBeIntMax,
        R::ReservedFlag,
        R::DebitAccountIdMustNotBeZero,
        R::DebitAccountIdMustNotBeIntMax,
        R::CreditAccountIdMustNotBeZero,
        R::CreditAccountIdMustNotBeIntMax,
        R::AccountsMustBeDifferent,
        R::PendingIdMustBeZero,
        R::TimeoutReservedForPendingTransfer,
        R::ClosingTransferMustBePending,
        R::LedgerMustNotBeZero,
        R::CodeMustNotBeZero,
        R::DebitAccountNotFound,
        R::CreditAccountNotFound,
        R::AccountsMustHaveTheSameLedger,
        R::TransferMustHaveTheSameLedgerAsAccounts,
        R::ExceedsCredits,
        R::ExceedsDebits,
        R::IdAlreadyFailed,
        R::ExistsWithDifferentFlags,
        R::ExistsWithDifferentPendingId,
        R::ExistsWithDifferentTimeout,
        R::ExistsWithDifferentDebitAccountId,
        R::ExistsWithDifferentCreditAccountId,
        R::ExistsWithDifferentAmount,
        R::ExistsWithDifferentUserData128,
        R::ExistsWithDifferentUserData64,
        R::ExistsWithDifferentUserData32,
        R::ExistsWithDifferentLedger,
        R::ExistsWithDifferentCode,
        R::Exists,
        R::LinkedEventFailed,
        R::ExceedsCredits,
        R::IdAlreadyFailed,
        R::Ok,
        R::Ok,
        R::Exists,
        R::ExistsWithDifferentAmount,
    ];
    expect(&mut run, 1, vec![batch], &codes);
    assert_eq!(run.model.transfers[&123].amount, 50, "balanced down to 3's credits");

    // Holds, posts and voids.
    let pending = |id, amount, timeout_s| {
        transfer_with(id, 1, 2, amount, |t| {
            t.flags = TransferFlags(T_PENDING);
            t.timeout_s = timeout_s;
        })
    };
    let post = T_POST;
    let void = T_VOID;
    let batch = vec![
        pending(200, 50, 0),
        pending(201, 60, 1),
        post_or_void(202, 0, 1, post),
        post_or_void(202, MAX, 1, post),
        post_or_void(202, 202, 1, post),
        transfer_with(202, 0, 0, 1, |t| {
            t.pending_id = 200;
            t.flags = TransferFlags(post);
            t.timeout_s = 1;
        }),
        post_or_void(202, 200, 1, post | void),
        post_or_void(202, 200, 1, post | T_PENDING),
        post_or_void(203, 999, 1, post),
        post_or_void(204, 100, 1, post),
        transfer_with(205, 3, 0, 1, |t| {
            t.pending_id = 200;
            t.flags = TransferFlags(post);
            t.ledger = 0;
            t.code = 0;
        }),
        transfer_with(205, 0, 3, 1, |t| {
            t.pending_id = 200;
            t.flags = TransferFlags(post);
            t.ledger = 0;
            t.code = 0;
        }),
        transfer_with(205, 0, 0, 1, |t| {
            t.pending_id = 200;
            t.flags = TransferFlags(post);
            t.ledger = USD;
            t.code = 0;
        }),
        transfer_with(205, 0, 0, 1, |t| {
            t.pending_id = 200;
            t.flags = TransferFlags(post);
            t.ledger = 0;
            t.code = 2;
        }),
        post_or_void(205, 200, 51, post),
        post_or_void(205, 200, MAX, void),
        post_or_void(205, 200, 49, void),
        post_or_void(210, 200, 20, post),
        post_or_void(211, 200, 0, void),
        pending(206, 30, 0),
        post_or_void(212, 206, 0, void),
        post_or_void(213, 206, MAX, post),
        // Retries of the post 210: ids, amount, user data, ledger and code.
        transfer_with(210, 3, 0, 20, |t| {
            t.pending_id = 200;
            t.flags = TransferFlags(post);
            t.ledger = 0;
            t.code = 0;
        }),
        transfer_with(210, 0, 3, 20, |t| {
            t.pending_id = 200;
            t.flags = TransferFlags(post);
            t.ledger = 0;
            t.code = 0;
        }),
        post_or_void(210, 200, MAX, post),
        post_or_void(210, 200, 20, post),
    ];
    let codes = [
        R::Ok,
        R::Ok,
        R::PendingIdMustNotBeZero,
        R::PendingIdMustNotBeIntMax,
        R::PendingIdMustBeDifferent,
        R::TimeoutReservedForPendingTransfer,
        R::FlagsAreMutuallyExclusive,
        R::FlagsAreMutuallyExclusive,
        R::PendingTransferNotFound,
        R::PendingTransferNotPending,
        R::PendingTransferHasDifferentDebitAccountId,
        R::PendingTransferHasDifferentCreditAccountId,
        R::PendingTransferHasDifferentLedger,
        R::PendingTransferHasDifferentCode,
        R::ExceedsPendingTransferAmount,
        R::ExceedsPendingTransferAmount,
        R::PendingTransferHasDifferentAmount,
        R::Ok,
        R::PendingTransferAlreadyPosted,
        R::Ok,
        R::Ok,
        R::PendingTransferAlreadyVoided,
        R::ExistsWithDifferentDebitAccountId,
        R::ExistsWithDifferentCreditAccountId,
        R::ExistsWithDifferentAmount,
        R::Exists,
    ];
    expect(&mut run, 1, vec![batch], &codes);

    // 201 expires by the pass; a hold made at index 1 is due one second later at index 1.
    let batch = vec![t(300, 1, 2, 1), pending(301, 5, 1)];
    expect(&mut run, 2_000, vec![batch], &[R::Ok, R::Ok]);
    let batch = vec![post_or_void(302, 201, MAX, post), post_or_void(303, 301, 0, void)];
    expect(&mut run, 1_000, vec![batch], &[R::PendingTransferExpired, R::PendingTransferExpired]);

    // Closing: 6 closed by a closing hold; new transfers refused either side; voids pass.
    let batch = vec![
        transfer_with(400, 6, 2, 10, |t| t.flags = TransferFlags(T_PENDING)),
        transfer_with(401, 6, 2, 0, |t| t.flags = TransferFlags(T_PENDING | T_CLOSING_DEBIT)),
        t(402, 6, 2, 1),
        t(403, 2, 6, 1),
        post_or_void(404, 400, MAX, post),
        post_or_void(405, 401, MAX, post),
        post_or_void(406, 400, 0, void),
        account(6, CNY, A_HISTORY),
        account(6, CNY, A_HISTORY | A_CLOSED),
        post_or_void(407, 401, 0, void),
        t(408, 6, 2, 1),
    ];
    let codes = [
        R::Ok,
        R::Ok,
        R::DebitAccountAlreadyClosed,
        R::CreditAccountAlreadyClosed,
        R::DebitAccountAlreadyClosed,
        R::DebitAccountAlreadyClosed,
        R::Ok,
        R::ExistsWithDifferentFlags,
        R::Exists,
        R::Ok,
        R::Ok,
    ];
    expect(&mut run, 1, vec![batch], &codes);

    // Overflows, on unlimited accounts 30..=45.
    let q = MAX / 5 * 2;
    let pend = |id, debit, credit, amount| {
        transfer_with(id, debit, credit, amount, |t| t.flags = TransferFlags(T_PENDING))
    };
    let batch = vec![
        t(500, 30, 31, MAX),
        t(501, 30, 32, 1),
        t(502, 32, 31, 1),
        pend(503, 33, 34, MAX),
        pend(504, 33, 35, 1),
        pend(505, 35, 34, 1),
        t(506, 36, 37, q),
        pend(507, 36, 38, q),
        pend(508, 36, 39, q),
        t(509, 40, 41, q),
        pend(510, 42, 41, q),
        pend(511, 43, 41, q),
    ];
    let codes = [
        R::Ok,
        R::OverflowsDebitsPosted,
        R::OverflowsCreditsPosted,
        R::Ok,
        R::OverflowsDebitsPending,
        R::OverflowsCreditsPending,
        R::Ok,
        R::Ok,
        R::OverflowsDebits,
        R::Ok,
        R::Ok,
        R::OverflowsCredits,
    ];
    expect(&mut run, 1, vec![batch], &codes);

    // Timeout overflow: 5·10^12 ms later a hold of u32::MAX seconds would expire past 2^63 ns.
    let batch = vec![transfer_with(600, 1, 2, 1, |t| {
        t.flags = TransferFlags(T_PENDING);
        t.timeout_s = u32::MAX;
    })];
    expect(&mut run, 5_000_000_000_000, vec![batch], &[R::OverflowsTimeout]);

    // Hansa's own rules, on the demo consortium (other organisations, the issuance account).
    let mut harness = Harness::funded(1_000);
    let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    let own = [
        (MERCHANT, transfer(1, 1, 3, 10), R::Unauthorised),
        (PLATFORM, account(7, CNY, AccountFlags::ISSUANCE), R::IssuanceRequiresIssuer),
        (PLATFORM, account(8, CNY, 0), R::DebitLimitRequired),
        (PLATFORM, transfer(2, 1, ISSUANCE, 10), R::RedemptionRequiresIssuer),
        (PLATFORM, account(61, 9, limited), R::LedgerNotFound),
        (PLATFORM, account(62, CNY, limited | AccountFlags::CLOSED), R::ClosedFlagOnCreate),
    ];
    let mut produced = run.produced.clone();
    for (org, operation, code) in own {
        assert_eq!(harness.one(org, operation), code, "{operation:?}");
        produced.insert(code);
    }

    // The ledger module's codes (below 1,000); the keys module's are each asserted in keys.rs.
    let missing: Vec<&str> = ResultCode::ALL
        .iter()
        .filter(|code| (**code as u32) < 1_000 && !produced.contains(code))
        .map(|code| code.name())
        .collect();
    assert!(
        differences.is_empty() && missing.is_empty(),
        "Hansa differs from the TigerBeetle model:\n{}\nnever produced by Hansa: {missing:?}",
        differences.join("\n")
    );
}
