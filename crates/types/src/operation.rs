//! Operations: the closed set of state changes a batch can carry, and the records they create.
//!
//! Semantics follow TigerBeetle's accounts and transfers (ids chosen by the client, `ledger` =
//! currency, `code` = reason, pending transfers, linked chains, balancing and closing
//! transfers), with Hansa's authorisation on top. The ledger crate is the specification of
//! what each operation does; this module fixes their shape and encoding.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::keys::{KeyRevocation, NewKey};
use crate::vocabulary::{Amount, OrgId};
use serde::{Deserialize, Serialize};

macro_rules! flags {
    ($(#[$doc:meta])* $name:ident { $($flag:ident = $bit:expr),* $(,)? }) => {
        $(#[$doc])*
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u16);

        impl $name {
            $(pub const $flag: u16 = $bit;)*
            /// Every bit that has a meaning; the others are reserved and rejected.
            pub const KNOWN: u16 = 0 $(| $bit)*;

            pub fn has(self, flag: u16) -> bool {
                self.0 & flag != 0
            }
        }

        impl Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                self.0.encode_to(out);
            }
        }

        impl Decode for $name {
            fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name(u16::decode_from(reader)?))
            }
        }
    };
}

flags!(
    /// An account's flags, a bit set: linked 1, debits_must_not_exceed_credits 2,
    /// credits_must_not_exceed_debits 4, history 8, closed 32, issuance 256. Other bits are
    /// reserved and refused.
    AccountFlags {
        LINKED = 1 << 0,
        DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1,
        CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2,
        HISTORY = 1 << 3,
        CLOSED = 1 << 5,
        // Hansa: the account through which a payment institution issues and redeems its currency.
        ISSUANCE = 1 << 8,
    }
);

flags!(
    /// A transfer's flags, a bit set: linked 1, pending 2, post_pending_transfer 4,
    /// void_pending_transfer 8, balancing_debit 16, balancing_credit 32, closing_debit 64,
    /// closing_credit 128. Other bits are reserved and refused.
    TransferFlags {
        LINKED = 1 << 0,
        PENDING = 1 << 1,
        POST_PENDING_TRANSFER = 1 << 2,
        VOID_PENDING_TRANSFER = 1 << 3,
        BALANCING_DEBIT = 1 << 4,
        BALANCING_CREDIT = 1 << 5,
        CLOSING_DEBIT = 1 << 6,
        CLOSING_CREDIT = 1 << 7,
    }
);

/// A request to create an account. The submitting organisation becomes its owner.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewAccount {
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub id: u128,
    #[serde(with = "crate::serde_u128", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub user_data_128: u128,
    #[serde(default)]
    pub user_data_64: u64,
    #[serde(default)]
    pub user_data_32: u32,
    pub ledger: u32,
    pub code: u16,
    #[serde(default)]
    pub flags: AccountFlags,
}

/// A request to move money between two accounts of one ledger.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewTransfer {
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub id: u128,
    #[serde(with = "crate::serde_u128", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub debit_account_id: u128,
    #[serde(with = "crate::serde_u128", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub credit_account_id: u128,
    #[serde(default)]
    pub amount: Amount,
    /// For a post or void: the id of the pending transfer it resolves.
    #[serde(with = "crate::serde_u128", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub pending_id: u128,
    #[serde(with = "crate::serde_u128", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub user_data_128: u128,
    #[serde(default)]
    pub user_data_64: u64,
    #[serde(default)]
    pub user_data_32: u32,
    /// For a pending transfer: seconds of consensus time after which it expires (0 = never).
    #[serde(default)]
    pub timeout_s: u32,
    #[serde(default)]
    pub ledger: u32,
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub flags: TransferFlags,
}

/// The closed set of state changes. Tags are part of the wire format: never reuse one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Operation {
    CreateAccount(NewAccount),
    CreateTransfer(NewTransfer),
    /// Registers a delegated key of the submitting organisation (root key only).
    RegisterKey(NewKey),
    /// Revokes one: from the next block on it signs nothing (root key only).
    RevokeKey(KeyRevocation),
}

impl Operation {
    pub fn id(&self) -> u128 {
        match self {
            Operation::CreateAccount(account) => account.id,
            Operation::CreateTransfer(transfer) => transfer.id,
            Operation::RegisterKey(key) => u128::from(key.id),
            Operation::RevokeKey(revocation) => u128::from(revocation.id),
        }
    }

    /// Whether this operation is linked to the next one in its batch.
    pub fn is_linked(&self) -> bool {
        match self {
            Operation::CreateAccount(account) => account.flags.has(AccountFlags::LINKED),
            Operation::CreateTransfer(transfer) => transfer.flags.has(TransferFlags::LINKED),
            Operation::RegisterKey(_) | Operation::RevokeKey(_) => false,
        }
    }
}

impl Encode for NewAccount {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.user_data_128.encode_to(out);
        self.user_data_64.encode_to(out);
        self.user_data_32.encode_to(out);
        self.ledger.encode_to(out);
        self.code.encode_to(out);
        self.flags.encode_to(out);
    }
}

impl Decode for NewAccount {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NewAccount {
            id: Decode::decode_from(reader)?,
            user_data_128: Decode::decode_from(reader)?,
            user_data_64: Decode::decode_from(reader)?,
            user_data_32: Decode::decode_from(reader)?,
            ledger: Decode::decode_from(reader)?,
            code: Decode::decode_from(reader)?,
            flags: Decode::decode_from(reader)?,
        })
    }
}

impl Encode for NewTransfer {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.debit_account_id.encode_to(out);
        self.credit_account_id.encode_to(out);
        self.amount.encode_to(out);
        self.pending_id.encode_to(out);
        self.user_data_128.encode_to(out);
        self.user_data_64.encode_to(out);
        self.user_data_32.encode_to(out);
        self.timeout_s.encode_to(out);
        self.ledger.encode_to(out);
        self.code.encode_to(out);
        self.flags.encode_to(out);
    }
}

impl Decode for NewTransfer {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NewTransfer {
            id: Decode::decode_from(reader)?,
            debit_account_id: Decode::decode_from(reader)?,
            credit_account_id: Decode::decode_from(reader)?,
            amount: Decode::decode_from(reader)?,
            pending_id: Decode::decode_from(reader)?,
            user_data_128: Decode::decode_from(reader)?,
            user_data_64: Decode::decode_from(reader)?,
            user_data_32: Decode::decode_from(reader)?,
            timeout_s: Decode::decode_from(reader)?,
            ledger: Decode::decode_from(reader)?,
            code: Decode::decode_from(reader)?,
            flags: Decode::decode_from(reader)?,
        })
    }
}

impl Encode for Operation {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Operation::CreateAccount(account) => {
                out.push(0);
                account.encode_to(out);
            }
            Operation::CreateTransfer(transfer) => {
                out.push(1);
                transfer.encode_to(out);
            }
            Operation::RegisterKey(key) => {
                out.push(2);
                key.encode_to(out);
            }
            Operation::RevokeKey(revocation) => {
                out.push(3);
                revocation.encode_to(out);
            }
        }
    }
}

impl Decode for Operation {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(reader)? {
            0 => Ok(Operation::CreateAccount(NewAccount::decode_from(reader)?)),
            1 => Ok(Operation::CreateTransfer(NewTransfer::decode_from(reader)?)),
            2 => Ok(Operation::RegisterKey(NewKey::decode_from(reader)?)),
            3 => Ok(Operation::RevokeKey(KeyRevocation::decode_from(reader)?)),
            tag => Err(DecodeError::InvalidValue { what: "operation tag", value: u64::from(tag) }),
        }
    }
}

/// An account as the ledger keeps it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub id: u128,
    pub debits_pending: Amount,
    pub debits_posted: Amount,
    pub credits_pending: Amount,
    pub credits_posted: Amount,
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: AccountFlags,
    /// Consensus time of creation, in nanoseconds, unique per operation.
    pub timestamp: u64,
    pub owner: OrgId,
}

impl Encode for Account {
    /// Six u128s, a u64, two u32s, two u16s, the timestamp and the owner.
    fn encoded_len_hint(&self) -> usize {
        6 * 16 + 8 + 2 * 4 + 2 * 2 + 8 + 4
    }

    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.debits_pending.encode_to(out);
        self.debits_posted.encode_to(out);
        self.credits_pending.encode_to(out);
        self.credits_posted.encode_to(out);
        self.user_data_128.encode_to(out);
        self.user_data_64.encode_to(out);
        self.user_data_32.encode_to(out);
        self.ledger.encode_to(out);
        self.code.encode_to(out);
        self.flags.encode_to(out);
        self.timestamp.encode_to(out);
        self.owner.encode_to(out);
    }
}

impl Decode for Account {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Account {
            id: Decode::decode_from(reader)?,
            debits_pending: Decode::decode_from(reader)?,
            debits_posted: Decode::decode_from(reader)?,
            credits_pending: Decode::decode_from(reader)?,
            credits_posted: Decode::decode_from(reader)?,
            user_data_128: Decode::decode_from(reader)?,
            user_data_64: Decode::decode_from(reader)?,
            user_data_32: Decode::decode_from(reader)?,
            ledger: Decode::decode_from(reader)?,
            code: Decode::decode_from(reader)?,
            flags: Decode::decode_from(reader)?,
            timestamp: Decode::decode_from(reader)?,
            owner: Decode::decode_from(reader)?,
        })
    }
}

/// The state of a pending transfer (a hold).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum PendingStatus {
    /// Not a pending transfer.
    None = 0,
    Pending = 1,
    Posted = 2,
    Voided = 3,
    Expired = 4,
}

impl PendingStatus {
    pub fn from_u8(value: u8) -> Option<PendingStatus> {
        Some(match value {
            0 => PendingStatus::None,
            1 => PendingStatus::Pending,
            2 => PendingStatus::Posted,
            3 => PendingStatus::Voided,
            4 => PendingStatus::Expired,
            _ => return None,
        })
    }
}

/// A transfer as the ledger keeps it: immutable once created, except the status of a hold.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub id: u128,
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub debit_account_id: u128,
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub credit_account_id: u128,
    /// The amount actually moved (for balancing transfers, possibly less than requested).
    pub amount: Amount,
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub pending_id: u128,
    #[serde(with = "crate::serde_u128")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DecimalU128))]
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    pub timeout_s: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: TransferFlags,
    pub timestamp: u64,
    /// The organisation that submitted it.
    pub submitter: OrgId,
    pub status: PendingStatus,
}

impl Encode for Transfer {
    /// Six u128s, a u64 and three u32s, two u16s, the timestamp, the submitter and the status.
    fn encoded_len_hint(&self) -> usize {
        6 * 16 + 8 + 3 * 4 + 2 * 2 + 8 + 4 + 1
    }

    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.debit_account_id.encode_to(out);
        self.credit_account_id.encode_to(out);
        self.amount.encode_to(out);
        self.pending_id.encode_to(out);
        self.user_data_128.encode_to(out);
        self.user_data_64.encode_to(out);
        self.user_data_32.encode_to(out);
        self.timeout_s.encode_to(out);
        self.ledger.encode_to(out);
        self.code.encode_to(out);
        self.flags.encode_to(out);
        self.timestamp.encode_to(out);
        self.submitter.encode_to(out);
        (self.status as u8).encode_to(out);
    }
}

impl Decode for Transfer {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transfer {
            id: Decode::decode_from(reader)?,
            debit_account_id: Decode::decode_from(reader)?,
            credit_account_id: Decode::decode_from(reader)?,
            amount: Decode::decode_from(reader)?,
            pending_id: Decode::decode_from(reader)?,
            user_data_128: Decode::decode_from(reader)?,
            user_data_64: Decode::decode_from(reader)?,
            user_data_32: Decode::decode_from(reader)?,
            timeout_s: Decode::decode_from(reader)?,
            ledger: Decode::decode_from(reader)?,
            code: Decode::decode_from(reader)?,
            flags: Decode::decode_from(reader)?,
            timestamp: Decode::decode_from(reader)?,
            submitter: Decode::decode_from(reader)?,
            status: {
                let value = u8::decode_from(reader)?;
                PendingStatus::from_u8(value)
                    .ok_or(DecodeError::InvalidValue { what: "pending status", value: u64::from(value) })?
            },
        })
    }
}
