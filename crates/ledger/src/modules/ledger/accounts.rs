//! `create_account`: TigerBeetle's validation order, then Hansa's authorisation.

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
        if let Some(existing) = self.account(new.id) {
            return exists(new, &existing);
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
            flags: AccountFlags(flags.0 & !AccountFlags::LINKED),
            timestamp,
            owner: org,
        };
        super::put_account(self.state, &account, timestamp);
        ResultCode::Ok
    }
}

fn exists(new: &NewAccount, existing: &Account) -> ResultCode {
    // The linked flag describes the request, not the account, so it is not compared.
    if (new.flags.0 & !AccountFlags::LINKED) != (existing.flags.0 & !AccountFlags::CLOSED) {
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
