//! One result code per operation, from a stable enum.
//!
//! The numbers are part of the API and of the results root: never renumber or reuse one. A code
//! that falls out of use is left in place and documented as retired.

use crate::codec::{Decode, DecodeError, Encode, Reader};

macro_rules! result_codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr => $text:expr),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u32)]
        pub enum ResultCode {
            $($(#[$doc])* $name = $value),*
        }

        impl ResultCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [ResultCode] = &[$(ResultCode::$name),*];

            /// The stable snake_case name used in JSON.
            pub fn name(self) -> &'static str {
                match self { $(ResultCode::$name => $text),* }
            }

            pub fn from_u32(value: u32) -> Option<ResultCode> {
                match value { $($value => Some(ResultCode::$name),)* _ => None }
            }

            pub fn from_name(name: &str) -> Option<ResultCode> {
                match name { $($text => Some(ResultCode::$name),)* _ => None }
            }
        }
    };
}

result_codes! {
    Ok = 0 => "ok",
    /// Another operation of this linked chain failed, so this one was not applied.
    LinkedEventFailed = 1 => "linked_event_failed",
    /// The batch ends inside a linked chain.
    LinkedEventChainOpen = 2 => "linked_event_chain_open",

    /// The submitting organisation may not do this.
    Unauthorised = 10 => "unauthorised",

    IdMustNotBeZero = 20 => "id_must_not_be_zero",
    IdMustNotBeIntMax = 21 => "id_must_not_be_int_max",
    /// Already applied with exactly these fields: the idempotent success of a retry.
    Exists = 22 => "exists",
    ExistsWithDifferentFlags = 23 => "exists_with_different_flags",
    ExistsWithDifferentUserData128 = 24 => "exists_with_different_user_data_128",
    ExistsWithDifferentUserData64 = 25 => "exists_with_different_user_data_64",
    ExistsWithDifferentUserData32 = 26 => "exists_with_different_user_data_32",
    ExistsWithDifferentLedger = 27 => "exists_with_different_ledger",
    ExistsWithDifferentCode = 28 => "exists_with_different_code",
    ExistsWithDifferentDebitAccountId = 29 => "exists_with_different_debit_account_id",
    ExistsWithDifferentCreditAccountId = 30 => "exists_with_different_credit_account_id",
    ExistsWithDifferentAmount = 31 => "exists_with_different_amount",
    ExistsWithDifferentPendingId = 32 => "exists_with_different_pending_id",
    ExistsWithDifferentTimeout = 33 => "exists_with_different_timeout",

    FlagsAreMutuallyExclusive = 40 => "flags_are_mutually_exclusive",
    ReservedFlag = 41 => "reserved_flag",
    LedgerMustNotBeZero = 42 => "ledger_must_not_be_zero",
    CodeMustNotBeZero = 43 => "code_must_not_be_zero",
    /// The ledger is not declared in genesis.
    LedgerNotFound = 44 => "ledger_not_found",
    /// Only the payment institution that issues a ledger's currency may open an account on it
    /// without `debits_must_not_exceed_credits`: any other would let its owner create money.
    DebitLimitRequired = 45 => "debit_limit_required",
    /// Only the issuer of a ledger's currency may hold its issuance account.
    IssuanceRequiresIssuer = 46 => "issuance_requires_issuer",
    /// Accounts are created open.
    ClosedFlagOnCreate = 47 => "closed_flag_on_create",

    DebitAccountIdMustNotBeZero = 50 => "debit_account_id_must_not_be_zero",
    DebitAccountIdMustNotBeIntMax = 51 => "debit_account_id_must_not_be_int_max",
    CreditAccountIdMustNotBeZero = 52 => "credit_account_id_must_not_be_zero",
    CreditAccountIdMustNotBeIntMax = 53 => "credit_account_id_must_not_be_int_max",
    AccountsMustBeDifferent = 54 => "accounts_must_be_different",
    PendingIdMustBeZero = 55 => "pending_id_must_be_zero",
    PendingIdMustNotBeZero = 56 => "pending_id_must_not_be_zero",
    PendingIdMustNotBeIntMax = 57 => "pending_id_must_not_be_int_max",
    PendingIdMustBeDifferent = 58 => "pending_id_must_be_different",
    TimeoutReservedForPendingTransfer = 59 => "timeout_reserved_for_pending_transfer",
    ClosingTransferMustBePending = 60 => "closing_transfer_must_be_pending",
    DebitAccountNotFound = 61 => "debit_account_not_found",
    CreditAccountNotFound = 62 => "credit_account_not_found",
    AccountsMustHaveTheSameLedger = 63 => "accounts_must_have_the_same_ledger",
    TransferMustHaveTheSameLedgerAsAccounts = 64 => "transfer_must_have_the_same_ledger_as_accounts",
    PendingTransferNotFound = 65 => "pending_transfer_not_found",
    PendingTransferNotPending = 66 => "pending_transfer_not_pending",
    PendingTransferHasDifferentDebitAccountId = 67 => "pending_transfer_has_different_debit_account_id",
    PendingTransferHasDifferentCreditAccountId = 68 => "pending_transfer_has_different_credit_account_id",
    PendingTransferHasDifferentLedger = 69 => "pending_transfer_has_different_ledger",
    PendingTransferHasDifferentCode = 70 => "pending_transfer_has_different_code",
    ExceedsPendingTransferAmount = 71 => "exceeds_pending_transfer_amount",
    PendingTransferHasDifferentAmount = 72 => "pending_transfer_has_different_amount",
    PendingTransferAlreadyPosted = 73 => "pending_transfer_already_posted",
    PendingTransferAlreadyVoided = 74 => "pending_transfer_already_voided",
    PendingTransferExpired = 75 => "pending_transfer_expired",
    OverflowsDebitsPending = 76 => "overflows_debits_pending",
    OverflowsCreditsPending = 77 => "overflows_credits_pending",
    OverflowsDebitsPosted = 78 => "overflows_debits_posted",
    OverflowsCreditsPosted = 79 => "overflows_credits_posted",
    OverflowsDebits = 80 => "overflows_debits",
    OverflowsCredits = 81 => "overflows_credits",
    OverflowsTimeout = 82 => "overflows_timeout",
    ExceedsCredits = 83 => "exceeds_credits",
    ExceedsDebits = 84 => "exceeds_debits",
    DebitAccountAlreadyClosed = 85 => "debit_account_already_closed",
    CreditAccountAlreadyClosed = 86 => "credit_account_already_closed",
    /// A transfer that credits an issuance account redeems (burns) money: only the issuer may.
    RedemptionRequiresIssuer = 87 => "redemption_requires_issuer",
    /// An earlier attempt with this transfer id failed with a transient error (see
    /// [`ResultCode::is_transient`]): as in TigerBeetle the id is refused for good, so that a
    /// retry never moves money after its first attempt could not.
    IdAlreadyFailed = 88 => "id_already_failed",

    // The keys module (1000-1099): delegated keys.
    KeyIdMustNotBeZero = 1000 => "key_id_must_not_be_zero",
    /// The key number was registered before with other fields, or revoked: a number names one
    /// key for good.
    KeyIdAlreadyUsed = 1001 => "key_id_already_used",
    /// The public key is not an ed25519 point, or is the organisation's own genesis key.
    KeyPublicKeyInvalid = 1002 => "key_public_key_invalid",
    KeyPermissionsReserved = 1003 => "key_permissions_reserved",
    /// A spending limit counts in one currency: name the key's ledger.
    KeySpendLimitRequiresLedger = 1004 => "key_spend_limit_requires_ledger",
    KeyExpiryInThePast = 1005 => "key_expiry_in_the_past",
    KeyNotFound = 1006 => "key_not_found",
    KeyAlreadyRevoked = 1007 => "key_already_revoked",
    /// The batch's delegated key may not debit this account.
    KeyAccountNotAllowed = 1008 => "key_account_not_allowed",
    /// The batch's delegated key may not move money on this ledger.
    KeyLedgerNotAllowed = 1009 => "key_ledger_not_allowed",
    /// The transfer would take the batch's delegated key over its limit for the period.
    KeySpendLimitExceeded = 1010 => "key_spend_limit_exceeded",
    /// A spending limit or period was given without the `spend_limit` permission, which would
    /// leave the key without the limit its registration names.
    KeySpendLimitWithoutPermission = 1011 => "key_spend_limit_without_permission",
    /// The key number is above `DELEGATED_KEY_ID_MAX`: an organisation has at most that many
    /// delegated keys.
    KeyIdTooLarge = 1012 => "key_id_too_large",
}

impl ResultCode {
    /// Whether the operation is in effect after this result (applied now, or earlier).
    pub fn is_success(self) -> bool {
        matches!(self, ResultCode::Ok | ResultCode::Exists)
    }

    /// Whether a transfer that failed with this code could succeed if tried again later, once
    /// the state changed (an account created, funds arrived, an account reopened): TigerBeetle's
    /// transient errors, after which the transfer's id answers [`ResultCode::IdAlreadyFailed`].
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ResultCode::DebitAccountNotFound
                | ResultCode::CreditAccountNotFound
                | ResultCode::PendingTransferNotFound
                | ResultCode::ExceedsCredits
                | ResultCode::ExceedsDebits
                | ResultCode::DebitAccountAlreadyClosed
                | ResultCode::CreditAccountAlreadyClosed
        )
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Encode for ResultCode {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (*self as u32).encode_to(out);
    }
}

impl Decode for ResultCode {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let value = u32::decode_from(reader)?;
        ResultCode::from_u32(value)
            .ok_or(DecodeError::InvalidValue { what: "result code", value: u64::from(value) })
    }
}

impl serde::Serialize for ResultCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ResultCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ResultCode::from_name(&name).ok_or_else(|| serde::de::Error::custom("unknown result code"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip() {
        for code in ResultCode::ALL {
            assert_eq!(ResultCode::from_u32(*code as u32), Some(*code));
            assert_eq!(ResultCode::from_name(code.name()), Some(*code));
        }
    }

    /// The numbers are a public contract: this list changes only by appending.
    #[test]
    fn numbers_are_stable() {
        assert_eq!(ResultCode::Ok as u32, 0);
        assert_eq!(ResultCode::Unauthorised as u32, 10);
        assert_eq!(ResultCode::Exists as u32, 22);
        assert_eq!(ResultCode::ExceedsCredits as u32, 83);
        assert_eq!(ResultCode::RedemptionRequiresIssuer as u32, 87);
        assert_eq!(ResultCode::IdAlreadyFailed as u32, 88);
        assert_eq!(ResultCode::IdAlreadyFailed as u32, 88);
        assert_eq!(ResultCode::KeySpendLimitExceeded as u32, 1010);
        assert_eq!(ResultCode::ALL.len(), 78);
    }
}
