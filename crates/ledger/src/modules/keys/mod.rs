//! The keys module: delegated keys an organisation registers on chain (see
//! `hansa_types::keys` for what a key may do).
//!
//! Operations: `RegisterKey`, `RevokeKey` (root key only: the block envelope refuses them from
//! a delegated key). Result codes: 1000–1099 of `ResultCode`. Tables (ids `0x0200..0x0300`):
//!
//! | table | kind | id | record |
//! |---|---|---|---|
//! | `keys.delegated` | current | `key << 32 \| organisation` | [`DelegatedKey`], revoked ones kept |
//!
//! The envelope (`lib.rs`) reads a batch's key record at the start of its block: the key must
//! exist, be neither revoked nor expired at the block's time, and permit every operation of the
//! batch; its signature is checked against the record's public key. So a revocation takes
//! effect at the next block. During the block, the ledger module asks [`Apply::key_refusal`]
//! before a delegated key debits an account and [`Apply::charge_key`] before it moves money,
//! which counts what the key spent in the current period.

use super::Apply;
use crate::working::Working;
use hansa_types::{
    Amount, DELEGATED_KEY_ID_MAX, DelegatedKey, KeyPermissions, NewKey, OrgId, ROOT_KEY, ResultCode,
    StateKey, Table, WriteSet,
};

pub const KEYS: Table = Table::current(0x0200, "keys.delegated");

/// Every table of this module.
pub const TABLES: &[Table] = &[KEYS];

/// The id of a key in `keys.delegated` and of its sequence window in `envelope.sequences`:
/// the key number above the organisation (so an organisation's root key keeps id = org).
pub fn signer_id(org: OrgId, key: u32) -> u128 {
    (u128::from(key) << 32) | u128::from(org.0)
}

/// The organisation and key number of a [`signer_id`].
pub fn signer_of(id: u128) -> (OrgId, u32) {
    (OrgId(id as u32), (id >> 32) as u32)
}

/// The state key of key `key` of `org`.
pub fn key_record(org: OrgId, key: u32) -> StateKey {
    KEYS.key(signer_id(org, key))
}

/// The records an operation of this module, submitted by `org`, reads.
pub(crate) fn reads(org: OrgId, operation: &hansa_types::Operation, out: &mut Vec<StateKey>) {
    match operation {
        hansa_types::Operation::RegisterKey(key) => out.push(key_record(org, key.id)),
        hansa_types::Operation::RevokeKey(revocation) => out.push(key_record(org, revocation.id)),
        _ => unreachable!("only key operations are dispatched here"),
    }
}

/// Applies one operation of this module.
pub(crate) fn apply(context: &mut Apply<'_, '_>, operation: &hansa_types::Operation) -> ResultCode {
    match operation {
        hansa_types::Operation::RegisterKey(key) => context.register_key(key),
        hansa_types::Operation::RevokeKey(revocation) => context.revoke_key(revocation.id),
        _ => unreachable!("only key operations are dispatched here"),
    }
}

/// Seconds of consensus time per nanosecond timestamp.
const NANOS_PER_S: u64 = 1_000_000_000;

impl Apply<'_, '_> {
    fn register_key(&mut self, new: &NewKey) -> ResultCode {
        if new.id == ROOT_KEY {
            return ResultCode::KeyIdMustNotBeZero;
        }
        if new.id > DELEGATED_KEY_ID_MAX {
            return ResultCode::KeyIdTooLarge;
        }
        let record = key_record(self.org, new.id);
        if let Some(existing) = self.state.get::<DelegatedKey>(record) {
            return if existing.key == *new && existing.revoked_at == 0 {
                ResultCode::Exists
            } else {
                ResultCode::KeyIdAlreadyUsed
            };
        }
        if new.permissions.0 & !KeyPermissions::KNOWN != 0 {
            return ResultCode::KeyPermissionsReserved;
        }
        let root = self.consortium.member(self.org).map(|(_, key, _)| *key);
        if new.public_key.prepare().is_none() || root == Some(new.public_key) {
            return ResultCode::KeyPublicKeyInvalid;
        }
        let limited = new.permissions.has(KeyPermissions::SPEND_LIMIT);
        if !limited && (new.spend_limit != Amount::ZERO || new.period_s != 0) {
            return ResultCode::KeySpendLimitWithoutPermission;
        }
        if limited && new.ledger == 0 {
            return ResultCode::KeySpendLimitRequiresLedger;
        }
        if new.ledger != 0 && self.consortium.issuer(new.ledger).is_none() {
            return ResultCode::LedgerNotFound;
        }
        if new.expires_at_ms != 0 && new.expires_at_ms.saturating_mul(crate::NANOS_PER_MS) <= self.timestamp {
            return ResultCode::KeyExpiryInThePast;
        }
        let key = DelegatedKey {
            org: self.org,
            key: *new,
            registered_at: self.timestamp,
            revoked_at: 0,
            period: 0,
            spent: Amount::ZERO,
        };
        self.state.put(record, key);
        ResultCode::Ok
    }

    fn revoke_key(&mut self, id: u32) -> ResultCode {
        if id == ROOT_KEY {
            return ResultCode::KeyIdMustNotBeZero;
        }
        let record = key_record(self.org, id);
        let Some(mut key) = self.state.get::<DelegatedKey>(record) else {
            return ResultCode::KeyNotFound;
        };
        if key.revoked_at != 0 {
            return ResultCode::KeyAlreadyRevoked;
        }
        key.revoked_at = self.timestamp;
        self.state.put(record, key);
        ResultCode::Ok
    }

    /// The signing key's record, if the batch is signed by a delegated key.
    fn delegated(&mut self) -> Option<DelegatedKey> {
        if self.key == ROOT_KEY {
            return None;
        }
        let key = self.state.get::<DelegatedKey>(key_record(self.org, self.key));
        Some(key.expect("the envelope found the key of every delegated batch"))
    }

    /// Why the batch's key may not debit `account` on `ledger`, if it may not.
    pub(crate) fn key_refusal(&mut self, account: u128, ledger: u32) -> Option<ResultCode> {
        let key = self.delegated()?;
        if !key.key.accounts.allows(account) {
            return Some(ResultCode::KeyAccountNotAllowed);
        }
        if key.key.ledger != 0 && key.key.ledger != ledger {
            return Some(ResultCode::KeyLedgerNotAllowed);
        }
        None
    }

    /// Counts `amount` against the batch's key's limit for the current period; refuses (and
    /// counts nothing) if that would pass the limit. The last check before a transfer applies.
    pub(crate) fn charge_key(&mut self, amount: Amount) -> Result<(), ResultCode> {
        let Some(mut key) = self.delegated() else {
            return Ok(());
        };
        if !key.key.permissions.has(KeyPermissions::SPEND_LIMIT) {
            return Ok(());
        }
        let period = match key.key.period_s {
            0 => 0,
            period_s => self.timestamp / NANOS_PER_S / u64::from(period_s),
        };
        if key.period != period {
            key.period = period;
            key.spent = Amount::ZERO;
        }
        let spent = key.spent.checked_add(amount).filter(|spent| *spent <= key.key.spend_limit);
        let Some(spent) = spent else {
            return Err(ResultCode::KeySpendLimitExceeded);
        };
        key.spent = spent;
        self.state.put(key_record(self.org, self.key), key);
        Ok(())
    }
}

/// A broken invariant of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyViolation {
    #[error("key {key} of {org} was deleted")]
    Deleted { org: OrgId, key: u32 },
    #[error("key {key} of {org} changed what it may do, or was un-revoked")]
    Changed { org: OrgId, key: u32 },
    #[error("key {key} of {org} spent past its limit")]
    OverLimit { org: OrgId, key: u32 },
}

/// Checks this module's invariants on a block's writes: a key is never deleted, never changes
/// its fields or comes back from revocation, and never spends past its limit.
pub fn check_block(before: &crate::Prefetched, writes: &WriteSet) -> Result<(), KeyViolation> {
    for write in writes.records.iter().filter(|write| write.key.table == KEYS.id) {
        let (org, key) = signer_of(write.key.id);
        let Some(bytes) = &write.value else {
            return Err(KeyViolation::Deleted { org, key });
        };
        let new: DelegatedKey = hansa_types::Decode::decode(bytes).expect("written keys decode");
        if let Some(old) = before.decode::<DelegatedKey>(&write.key)
            && (old.key != new.key
                || old.org != new.org
                || (old.revoked_at != 0 && new.revoked_at != old.revoked_at))
        {
            return Err(KeyViolation::Changed { org, key });
        }
        if new.key.permissions.has(KeyPermissions::SPEND_LIMIT) && new.spent > new.key.spend_limit {
            return Err(KeyViolation::OverLimit { org, key });
        }
    }
    Ok(())
}

/// The delegated key of a batch from the records of `state` (`None` for the root key or a key
/// never registered).
pub(crate) fn of_batch(state: &mut Working<'_>, org: OrgId, key: u32) -> Option<DelegatedKey> {
    (key != ROOT_KEY).then(|| state.get::<DelegatedKey>(key_record(org, key))).flatten()
}
