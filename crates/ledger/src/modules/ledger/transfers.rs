//! `create_transfer` and the resolution of pending transfers (post, void, expiry).
//!
//! The checks run in TigerBeetle's order (0.17's `state_machine.zig`), so the same request gets
//! the same code as it would there: the id checks, then at once whether the id exists (the
//! `exists*` codes, compared field by field in TigerBeetle's order) or already failed
//! (`id_already_failed`: an earlier attempt failed with a transient error, see
//! `ResultCode::is_transient`; the id is recorded in `ledger.failed_transfers` after the
//! failure, outside the linked chain's rollback), then everything else. Flags are stored as
//! given, `linked` included. Hansa adds authorisation after the idempotency check (a retry of
//! an applied transfer answers `exists` to anyone, which reveals nothing the consortium's
//! members cannot read):
//! an organisation may debit only accounts it owns, close only accounts it owns, post only
//! holds on accounts it owns, void holds on either side, and only a currency's issuer may
//! credit its issuance account (redeem). A batch signed by a delegated key is held to that key's
//! accounts, ledger and spending limit (see the keys module): the accounts and ledger right
//! after the organisation's own authorisation, the limit last, counting the amount that moves
//! (a hold counts when it is placed; its post or void counts nothing, also when another key of
//! the organisation placed it: the money goes where that hold said). A closing transfer checks
//! the key against the account it closes too.

use super::{Apply, HOLDS, Hold, RESOLUTIONS, Resolution, TRANSFERS, expiry, hold_status, put_account};
use hansa_types::{
    Account, AccountFlags, Amount, NewTransfer, PendingStatus, ResultCode, Transfer, TransferFlags,
};

impl Apply<'_, '_> {
    pub(crate) fn create_transfer(&mut self, new: &NewTransfer) -> ResultCode {
        let (org, timestamp) = (self.org, self.timestamp);
        let flags = new.flags;
        if flags.0 & !TransferFlags::KNOWN != 0 {
            return ResultCode::ReservedFlag;
        }
        if new.id == 0 {
            return ResultCode::IdMustNotBeZero;
        }
        if new.id == u128::MAX {
            return ResultCode::IdMustNotBeIntMax;
        }
        if let Some(existing) = self.transfer(new.id) {
            return self.transfer_exists(new, &existing);
        }
        if self.failed(new.id) {
            return ResultCode::IdAlreadyFailed;
        }
        if flags.has(TransferFlags::POST_PENDING_TRANSFER) || flags.has(TransferFlags::VOID_PENDING_TRANSFER)
        {
            return self.resolve_pending(new);
        }
        if new.debit_account_id == 0 {
            return ResultCode::DebitAccountIdMustNotBeZero;
        }
        if new.debit_account_id == u128::MAX {
            return ResultCode::DebitAccountIdMustNotBeIntMax;
        }
        if new.credit_account_id == 0 {
            return ResultCode::CreditAccountIdMustNotBeZero;
        }
        if new.credit_account_id == u128::MAX {
            return ResultCode::CreditAccountIdMustNotBeIntMax;
        }
        if new.debit_account_id == new.credit_account_id {
            return ResultCode::AccountsMustBeDifferent;
        }
        if new.pending_id != 0 {
            return ResultCode::PendingIdMustBeZero;
        }
        let pending = flags.has(TransferFlags::PENDING);
        if !pending {
            if new.timeout_s != 0 {
                return ResultCode::TimeoutReservedForPendingTransfer;
            }
            if flags.has(TransferFlags::CLOSING_DEBIT) || flags.has(TransferFlags::CLOSING_CREDIT) {
                return ResultCode::ClosingTransferMustBePending;
            }
        }
        if new.ledger == 0 {
            return ResultCode::LedgerMustNotBeZero;
        }
        if new.code == 0 {
            return ResultCode::CodeMustNotBeZero;
        }
        let Some(mut debit) = self.account(new.debit_account_id) else {
            return ResultCode::DebitAccountNotFound;
        };
        let Some(mut credit) = self.account(new.credit_account_id) else {
            return ResultCode::CreditAccountNotFound;
        };
        if debit.ledger != credit.ledger {
            return ResultCode::AccountsMustHaveTheSameLedger;
        }
        if new.ledger != debit.ledger {
            return ResultCode::TransferMustHaveTheSameLedgerAsAccounts;
        }
        if debit.owner != org {
            return ResultCode::Unauthorised;
        }
        if flags.has(TransferFlags::CLOSING_CREDIT) && credit.owner != org {
            return ResultCode::Unauthorised;
        }
        if credit.flags.has(AccountFlags::ISSUANCE) && self.consortium.issuer(credit.ledger) != Some(org) {
            return ResultCode::RedemptionRequiresIssuer;
        }
        if let Some(code) = self.key_refusal(debit.id, debit.ledger) {
            return code;
        }
        // Closing the credit account is acting on it: a delegated key must be allowed it too.
        if flags.has(TransferFlags::CLOSING_CREDIT)
            && let Some(code) = self.key_refusal(credit.id, credit.ledger)
        {
            return code;
        }
        if debit.flags.has(AccountFlags::CLOSED) {
            return ResultCode::DebitAccountAlreadyClosed;
        }
        if credit.flags.has(AccountFlags::CLOSED) {
            return ResultCode::CreditAccountAlreadyClosed;
        }

        let mut amount = new.amount;
        if flags.has(TransferFlags::BALANCING_DEBIT) {
            let debits = debit.debits_pending.0.saturating_add(debit.debits_posted.0);
            amount = amount.min(Amount(debit.credits_posted.0.saturating_sub(debits)));
        }
        if flags.has(TransferFlags::BALANCING_CREDIT) {
            let credits = credit.credits_pending.0.saturating_add(credit.credits_posted.0);
            amount = amount.min(Amount(credit.debits_posted.0.saturating_sub(credits)));
        }

        if pending {
            if debit.debits_pending.checked_add(amount).is_none() {
                return ResultCode::OverflowsDebitsPending;
            }
            if credit.credits_pending.checked_add(amount).is_none() {
                return ResultCode::OverflowsCreditsPending;
            }
        }
        if debit.debits_posted.checked_add(amount).is_none() {
            return ResultCode::OverflowsDebitsPosted;
        }
        if credit.credits_posted.checked_add(amount).is_none() {
            return ResultCode::OverflowsCreditsPosted;
        }
        if debits_total(&debit).and_then(|total| total.checked_add(amount)).is_none() {
            return ResultCode::OverflowsDebits;
        }
        if credits_total(&credit).and_then(|total| total.checked_add(amount)).is_none() {
            return ResultCode::OverflowsCredits;
        }
        // As TigerBeetle, for every transfer: its expiry must fit in 63 bits of nanoseconds.
        let Some(expiry) = super::expiry_of(timestamp, new.timeout_s) else {
            return ResultCode::OverflowsTimeout;
        };
        let expires_at = (pending && new.timeout_s > 0).then_some(expiry);
        if debit.flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) {
            let total = debits_total(&debit).and_then(|total| total.checked_add(amount));
            if total.is_none_or(|total| total > debit.credits_posted) {
                return ResultCode::ExceedsCredits;
            }
        }
        if credit.flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) {
            let total = credits_total(&credit).and_then(|total| total.checked_add(amount));
            if total.is_none_or(|total| total > credit.debits_posted) {
                return ResultCode::ExceedsDebits;
            }
        }

        if let Err(code) = self.charge_key(amount) {
            return code;
        }
        // Every check passed (the key's limit, checked last, counts the amount): apply. The additions cannot overflow (checked above).
        if pending {
            debit.debits_pending = add(debit.debits_pending, amount);
            credit.credits_pending = add(credit.credits_pending, amount);
        } else {
            debit.debits_posted = add(debit.debits_posted, amount);
            credit.credits_posted = add(credit.credits_posted, amount);
        }
        if flags.has(TransferFlags::CLOSING_DEBIT) {
            debit.flags.0 |= AccountFlags::CLOSED;
        }
        if flags.has(TransferFlags::CLOSING_CREDIT) {
            credit.flags.0 |= AccountFlags::CLOSED;
        }
        self.put_accounts(&debit, &credit);
        let transfer = Transfer {
            id: new.id,
            debit_account_id: new.debit_account_id,
            credit_account_id: new.credit_account_id,
            amount,
            pending_id: 0,
            user_data_128: new.user_data_128,
            user_data_64: new.user_data_64,
            user_data_32: new.user_data_32,
            timeout_s: new.timeout_s,
            ledger: new.ledger,
            code: new.code,
            flags,
            timestamp,
            submitter: org,
            status: if pending { PendingStatus::Pending } else { PendingStatus::None },
        };
        self.state.append(TRANSFERS.key(transfer.id), transfer);
        if pending {
            let expires_at = expires_at.unwrap_or(0);
            self.state.put(HOLDS.key(transfer.id), Hold { expires_at });
            if expires_at != 0 {
                expiry::schedule(self.state, expires_at, timestamp, transfer.id);
            }
        }
        ResultCode::Ok
    }

    fn put_accounts(&mut self, debit: &Account, credit: &Account) {
        put_account(self.state, debit, self.timestamp);
        put_account(self.state, credit, self.timestamp);
    }

    /// Posts or voids a pending transfer.
    fn resolve_pending(&mut self, new: &NewTransfer) -> ResultCode {
        let (org, timestamp) = (self.org, self.timestamp);
        let flags = new.flags;
        let post = flags.has(TransferFlags::POST_PENDING_TRANSFER);
        let exclusive = TransferFlags::PENDING
            | TransferFlags::BALANCING_DEBIT
            | TransferFlags::BALANCING_CREDIT
            | TransferFlags::CLOSING_DEBIT
            | TransferFlags::CLOSING_CREDIT;
        if (post && flags.has(TransferFlags::VOID_PENDING_TRANSFER)) || flags.0 & exclusive != 0 {
            return ResultCode::FlagsAreMutuallyExclusive;
        }
        if new.pending_id == 0 {
            return ResultCode::PendingIdMustNotBeZero;
        }
        if new.pending_id == u128::MAX {
            return ResultCode::PendingIdMustNotBeIntMax;
        }
        if new.pending_id == new.id {
            return ResultCode::PendingIdMustBeDifferent;
        }
        if new.timeout_s != 0 {
            return ResultCode::TimeoutReservedForPendingTransfer;
        }
        let Some(hold) = self.transfer(new.pending_id) else {
            return ResultCode::PendingTransferNotFound;
        };
        if !hold.flags.has(TransferFlags::PENDING) {
            return ResultCode::PendingTransferNotPending;
        }
        if new.debit_account_id != 0 && new.debit_account_id != hold.debit_account_id {
            return ResultCode::PendingTransferHasDifferentDebitAccountId;
        }
        if new.credit_account_id != 0 && new.credit_account_id != hold.credit_account_id {
            return ResultCode::PendingTransferHasDifferentCreditAccountId;
        }
        if new.ledger != 0 && new.ledger != hold.ledger {
            return ResultCode::PendingTransferHasDifferentLedger;
        }
        if new.code != 0 && new.code != hold.code {
            return ResultCode::PendingTransferHasDifferentCode;
        }
        let amount = resolved_amount(post, new.amount, hold.amount);
        if amount > hold.amount {
            return ResultCode::ExceedsPendingTransferAmount;
        }
        if !post && amount < hold.amount {
            return ResultCode::PendingTransferHasDifferentAmount;
        }
        let mut debit = self.account(hold.debit_account_id).expect("a hold's accounts exist");
        let mut credit = self.account(hold.credit_account_id).expect("a hold's accounts exist");
        let authorised = if post { debit.owner == org } else { debit.owner == org || credit.owner == org };
        if !authorised {
            return ResultCode::Unauthorised;
        }
        // A delegated key resolves holds only on the accounts it may use (it spent when it held).
        let own = if debit.owner == org { &debit } else { &credit };
        if let Some(code) = self.key_refusal(own.id, own.ledger) {
            return code;
        }
        match hold_status(self.state, &hold) {
            PendingStatus::Pending => {}
            PendingStatus::Posted => return ResultCode::PendingTransferAlreadyPosted,
            PendingStatus::Voided => return ResultCode::PendingTransferAlreadyVoided,
            PendingStatus::Expired => return ResultCode::PendingTransferExpired,
            PendingStatus::None => unreachable!("a transfer with the pending flag has a pending status"),
        }
        // Expired by time, though the block's expiry (at its start) has not run for it yet: it
        // expires at or before this operation's timestamp, inside this block.
        if hold.timeout_s > 0
            && super::expiry_of(hold.timestamp, hold.timeout_s).expect("a hold's expiry was checked")
                <= timestamp
        {
            return ResultCode::PendingTransferExpired;
        }
        // A closed account refuses every post (the post of the hold that closed it too: only
        // its void or expiry reopens the account) and no void.
        if post && debit.flags.has(AccountFlags::CLOSED) {
            return ResultCode::DebitAccountAlreadyClosed;
        }
        if post && credit.flags.has(AccountFlags::CLOSED) {
            return ResultCode::CreditAccountAlreadyClosed;
        }
        if post {
            if debit.debits_posted.checked_add(amount).is_none() {
                return ResultCode::OverflowsDebitsPosted;
            }
            if credit.credits_posted.checked_add(amount).is_none() {
                return ResultCode::OverflowsCreditsPosted;
            }
        }

        debit.debits_pending = sub(debit.debits_pending, hold.amount);
        credit.credits_pending = sub(credit.credits_pending, hold.amount);
        if post {
            debit.debits_posted = add(debit.debits_posted, amount);
            credit.credits_posted = add(credit.credits_posted, amount);
        } else {
            reopen(&mut debit, &mut credit, &hold);
        }
        self.put_accounts(&debit, &credit);
        let status = if post { PendingStatus::Posted } else { PendingStatus::Voided };
        let (user_data_128, user_data_64, user_data_32) = resolution_user_data(new, &hold);
        self.state.delete(HOLDS.key(hold.id));
        self.state.append(RESOLUTIONS.key(hold.id), Resolution { status, transfer_id: new.id, timestamp });
        let transfer = Transfer {
            id: new.id,
            debit_account_id: hold.debit_account_id,
            credit_account_id: hold.credit_account_id,
            amount,
            pending_id: new.pending_id,
            user_data_128,
            user_data_64,
            user_data_32,
            timeout_s: 0,
            ledger: hold.ledger,
            code: hold.code,
            flags,
            timestamp,
            submitter: org,
            status: PendingStatus::None,
        };
        self.state.append(TRANSFERS.key(transfer.id), transfer);
        ResultCode::Ok
    }
}

pub(super) fn reopen(debit: &mut Account, credit: &mut Account, hold: &Transfer) {
    if hold.flags.has(TransferFlags::CLOSING_DEBIT) {
        debit.flags.0 &= !AccountFlags::CLOSED;
    }
    if hold.flags.has(TransferFlags::CLOSING_CREDIT) {
        credit.flags.0 &= !AccountFlags::CLOSED;
    }
}

fn add(left: Amount, right: Amount) -> Amount {
    left.checked_add(right).expect("overflow was checked before applying")
}

pub(super) fn sub(left: Amount, right: Amount) -> Amount {
    left.checked_sub(right).expect("a pending balance always covers its holds")
}

fn debits_total(account: &Account) -> Option<Amount> {
    account.debits_pending.checked_add(account.debits_posted)
}

fn credits_total(account: &Account) -> Option<Amount> {
    account.credits_pending.checked_add(account.credits_posted)
}

/// The user data a post or void records: the hold's where the request leaves a field at zero,
/// as in TigerBeetle.
fn resolution_user_data(new: &NewTransfer, hold: &Transfer) -> (u128, u64, u32) {
    (
        if new.user_data_128 == 0 { hold.user_data_128 } else { new.user_data_128 },
        if new.user_data_64 == 0 { hold.user_data_64 } else { new.user_data_64 },
        if new.user_data_32 == 0 { hold.user_data_32 } else { new.user_data_32 },
    )
}

/// The amount a post or void resolves: a post of `Amount::MAX` posts the whole hold, a void of
/// zero voids it; any other amount is taken as given (and checked against the hold).
fn resolved_amount(post: bool, requested: Amount, held: Amount) -> Amount {
    match (post, requested) {
        (true, Amount::MAX) | (false, Amount::ZERO) => held,
        _ => requested,
    }
}

impl Apply<'_, '_> {
    /// The answer to a transfer whose id exists: `exists` when the request is the one applied,
    /// or the first field that differs, in TigerBeetle's order.
    fn transfer_exists(&mut self, new: &NewTransfer, existing: &Transfer) -> ResultCode {
        if new.flags != existing.flags {
            return ResultCode::ExistsWithDifferentFlags;
        }
        if new.pending_id != existing.pending_id {
            return ResultCode::ExistsWithDifferentPendingId;
        }
        if new.timeout_s != existing.timeout_s {
            return ResultCode::ExistsWithDifferentTimeout;
        }
        if existing.pending_id != 0 {
            let hold = self.transfer(existing.pending_id).expect("a resolution's hold exists");
            return resolution_exists(new, existing, &hold);
        }
        if new.debit_account_id != existing.debit_account_id {
            return ResultCode::ExistsWithDifferentDebitAccountId;
        }
        if new.credit_account_id != existing.credit_account_id {
            return ResultCode::ExistsWithDifferentCreditAccountId;
        }
        let balancing =
            new.flags.has(TransferFlags::BALANCING_DEBIT) || new.flags.has(TransferFlags::BALANCING_CREDIT);
        // A balancing transfer may have moved less than it asked for.
        if (balancing && new.amount < existing.amount) || (!balancing && new.amount != existing.amount) {
            return ResultCode::ExistsWithDifferentAmount;
        }
        if new.user_data_128 != existing.user_data_128 {
            return ResultCode::ExistsWithDifferentUserData128;
        }
        if new.user_data_64 != existing.user_data_64 {
            return ResultCode::ExistsWithDifferentUserData64;
        }
        if new.user_data_32 != existing.user_data_32 {
            return ResultCode::ExistsWithDifferentUserData32;
        }
        if new.ledger != existing.ledger {
            return ResultCode::ExistsWithDifferentLedger;
        }
        if new.code != existing.code {
            return ResultCode::ExistsWithDifferentCode;
        }
        ResultCode::Exists
    }
}

/// A post or void whose id exists (flags, pending id and timeout already equal): the fields a
/// post or void may leave at zero (accounts, ledger, code: the hold's; user data: the hold's)
/// are compared only when given, and the whole-hold amounts against the hold.
fn resolution_exists(new: &NewTransfer, existing: &Transfer, hold: &Transfer) -> ResultCode {
    if new.debit_account_id != 0 && new.debit_account_id != existing.debit_account_id {
        return ResultCode::ExistsWithDifferentDebitAccountId;
    }
    if new.credit_account_id != 0 && new.credit_account_id != existing.credit_account_id {
        return ResultCode::ExistsWithDifferentCreditAccountId;
    }
    let post = new.flags.has(TransferFlags::POST_PENDING_TRANSFER);
    if resolved_amount(post, new.amount, hold.amount) != existing.amount {
        return ResultCode::ExistsWithDifferentAmount;
    }
    let (user_data_128, user_data_64, user_data_32) = resolution_user_data(new, hold);
    if user_data_128 != existing.user_data_128 {
        return ResultCode::ExistsWithDifferentUserData128;
    }
    if user_data_64 != existing.user_data_64 {
        return ResultCode::ExistsWithDifferentUserData64;
    }
    if user_data_32 != existing.user_data_32 {
        return ResultCode::ExistsWithDifferentUserData32;
    }
    if new.ledger != 0 && new.ledger != existing.ledger {
        return ResultCode::ExistsWithDifferentLedger;
    }
    if new.code != 0 && new.code != existing.code {
        return ResultCode::ExistsWithDifferentCode;
    }
    ResultCode::Exists
}
