//! `create_account`: TigerBeetle's validation order (the id checks, then at once whether the
//! id exists, then the other fields; flags stored as given, `linked` included), then Hansa's
//! own rules (no `closed` flag at creation, a known ledger, issuance by its issuer, a debit
//! limit on every account but the issuer's), which come after the existence check so that a
//! retry of an existing account gets TigerBeetle's answer.

use super::Apply;
use hansa_types::{Account, AccountFlags, Amount, NewAccount, ResultCode};

impl Apply<'_, '_> {
    pub(crate) fn create_account(&mut self, new: &NewAccount) -> ResultCode {
        let (org, timestamp) = (self.org, self.timestamp);
        let flags = new.flags;
        if flags.0 & !AccountFlags::KNOWN != 0 {
            return ResultCode::ReservedFlag;
        }
        if new.id == 0 {
            return ResultCode::IdMustNotBeZero;
        }
        if new.id == u128::MAX {
            return ResultCode::IdMustNotBeIntMax;
        }
        if let Some(existing) = self.account(new.id) {
            return exists(new, &existing);
        }
        if flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        {
            return ResultCode::FlagsAreMutuallyExclusive;
        }
        if flags.has(AccountFlags::CLOSED) {
            return ResultCode::ClosedFlagOnCreate;
        }
        if new.ledger == 0 {
            return ResultCode::LedgerMustNotBeZero;
        }
        if new.code == 0 {
            return ResultCode::CodeMustNotBeZero;
        }
        let Some(issuer) = self.consortium.issuer(new.ledger) else {
            return ResultCode::LedgerNotFound;
        };
        if flags.has(AccountFlags::ISSUANCE) && org != issuer {
            return ResultCode::IssuanceRequiresIssuer;
        }
        if org != issuer && !flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) {
            return ResultCode::DebitLimitRequired;
        }
        let account = Account {
            id: new.id,
            debits_pending: Amount::ZERO,
            debits_posted: Amount::ZERO,
            credits_pending: Amount::ZERO,
            credits_posted: Amount::ZERO,
            user_data_128: new.user_data_128,
            user_data_64: new.user_data_64,
            user_data_32: new.user_data_32,
            ledger: new.ledger,
            code: new.code,
            flags,
            timestamp,
            owner: org,
        };
        super::put_account(self.state, &account, timestamp);
        ResultCode::Ok
    }
}

fn exists(new: &NewAccount, existing: &Account) -> ResultCode {
    // Flags as stored: `linked` as first given, and `closed` once a closing transfer closed it.
    if new.flags != existing.flags {
        return ResultCode::ExistsWithDifferentFlags;
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
