//! Delegated keys: sub-keys an organisation registers on chain, each limited to what it may do.
//!
//! Specification. An organisation signs with its genesis key, key number [`ROOT_KEY`] (0), or
//! with a delegated key it registered (`RegisterKey`, numbers 1..=u32::MAX chosen by the
//! organisation). A batch names the key that signed it ([`crate::Batch::key`]); each key has its
//! own sequence window, so two signers never refuse each other's batches as replays. A
//! delegated key may submit only the operations its [`KeyPermissions`] allow, debit only the
//! accounts it lists (any of its organisation's accounts when it lists none), move money only on
//! its ledger when it names one, and move at most `spend_limit` per period of `period_s` seconds
//! of consensus time when it has `SPEND_LIMIT`. A key past its expiry, or revoked
//! (`RevokeKey`), signs nothing from the next block on. Only the root key registers and revokes
//! keys. A key with `READ` also signs access tokens, which read as its organisation.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::vocabulary::{Amount, OrgId, PublicKey};
use serde::{Deserialize, Serialize};

/// The number of an organisation's genesis key.
pub const ROOT_KEY: u32 = 0;
/// The most accounts a delegated key may be limited to. Three keep a `register_key` operation
/// within the 128 bytes of a transfer's, so `Operation` (160 bytes with four) stays 144.
pub const KEY_ACCOUNTS_MAX: usize = 3;

/// What a delegated key may do, a bit set: create_account 1, create_transfer 2, read 4 (sign
/// access tokens), spend_limit 8 (its `spend_limit` applies). Other bits are reserved and
/// refused. Registering and revoking keys is for the root key alone.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyPermissions(pub u16);

impl KeyPermissions {
    pub const CREATE_ACCOUNT: u16 = 1 << 0;
    pub const CREATE_TRANSFER: u16 = 1 << 1;
    pub const READ: u16 = 1 << 2;
    pub const SPEND_LIMIT: u16 = 1 << 3;
    /// Every bit that has a meaning.
    pub const KNOWN: u16 = Self::CREATE_ACCOUNT | Self::CREATE_TRANSFER | Self::READ | Self::SPEND_LIMIT;
    /// The permissions by their names (for the CLI and error messages).
    pub const NAMES: &'static [(&'static str, u16)] = &[
        ("create_account", Self::CREATE_ACCOUNT),
        ("create_transfer", Self::CREATE_TRANSFER),
        ("read", Self::READ),
        ("spend_limit", Self::SPEND_LIMIT),
    ];

    pub fn has(self, permission: u16) -> bool {
        self.0 & permission != 0
    }

    /// Parses a comma-separated list of names (`create_transfer,read`).
    pub fn parse(text: &str) -> Result<KeyPermissions, String> {
        let mut bits = 0;
        for name in text.split(',').map(str::trim).filter(|name| !name.is_empty()) {
            let Some((_, bit)) = Self::NAMES.iter().find(|(known, _)| *known == name) else {
                let known: Vec<&str> = Self::NAMES.iter().map(|(name, _)| *name).collect();
                return Err(format!("unknown permission `{name}` (known: {})", known.join(", ")));
            };
            bits |= bit;
        }
        Ok(KeyPermissions(bits))
    }
}

impl Encode for KeyPermissions {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
}

impl Decode for KeyPermissions {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(KeyPermissions(u16::decode_from(reader)?))
    }
}

/// Up to [`KEY_ACCOUNTS_MAX`] account ids, unused places zero. In JSON a list of decimal strings
/// without the zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeyAccounts(pub [u128; KEY_ACCOUNTS_MAX]);

impl KeyAccounts {
    /// The listed accounts (the non-zero places).
    pub fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.0.iter().copied().filter(|id| *id != 0)
    }

    /// Whether the key may debit account `id`: it lists it, or lists none.
    pub fn allows(&self, id: u128) -> bool {
        self.iter().next().is_none() || self.iter().any(|listed| listed == id)
    }

    /// The list of `ids` (at most [`KEY_ACCOUNTS_MAX`], none of them zero).
    pub fn from_ids(ids: &[u128]) -> Result<KeyAccounts, String> {
        if ids.len() > KEY_ACCOUNTS_MAX {
            return Err(format!("a key lists at most {KEY_ACCOUNTS_MAX} accounts, not {}", ids.len()));
        }
        if ids.contains(&0) {
            return Err("account id 0 is not an account".into());
        }
        let mut accounts = [0; KEY_ACCOUNTS_MAX];
        accounts[..ids.len()].copy_from_slice(ids);
        Ok(KeyAccounts(accounts))
    }
}

impl Serialize for KeyAccounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(|id| id.to_string()))
    }
}

impl<'de> Deserialize<'de> for KeyAccounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Id(#[serde(with = "crate::serde_u128")] u128);
        let ids: Vec<Id> = Vec::deserialize(deserializer)?;
        let ids: Vec<u128> = ids.into_iter().map(|id| id.0).collect();
        KeyAccounts::from_ids(&ids).map_err(serde::de::Error::custom)
    }
}

impl Encode for KeyAccounts {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.iter().for_each(|id| id.encode_to(out));
    }
}

impl Decode for KeyAccounts {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut accounts = [0; KEY_ACCOUNTS_MAX];
        for account in &mut accounts {
            *account = u128::decode_from(reader)?;
        }
        Ok(KeyAccounts(accounts))
    }
}

/// The highest delegated key number: an organisation registers at most this many keys over
/// its life (a number names one key for good, revoked ones included), since every validator
/// keeps every key's record and sequence window in memory.
pub const DELEGATED_KEY_ID_MAX: u32 = 4_096;

/// A request to register a delegated key (operation `register_key`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    /// The key's number within its organisation, 1 to 4,096 (`DELEGATED_KEY_ID_MAX`).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4096))]
    pub id: u32,
    pub public_key: PublicKey,
    #[serde(default)]
    pub permissions: KeyPermissions,
    /// The accounts it may debit (none: any of its organisation's).
    #[serde(default)]
    pub accounts: KeyAccounts,
    /// The only ledger it may move money on (0: any; required with `spend_limit`).
    #[serde(default)]
    pub ledger: u32,
    /// With the `spend_limit` permission: the most it may move per period, in the ledger's
    /// minor units.
    #[serde(default)]
    pub spend_limit: Amount,
    /// The period of the limit in seconds of consensus time, periods counted from time 0
    /// (86,400: a day, UTC); 0: one period for the key's whole life.
    #[serde(default)]
    pub period_s: u32,
    /// Consensus time in milliseconds from which it signs nothing (0: never expires).
    #[serde(default)]
    pub expires_at_ms: u64,
}

/// A request to revoke a delegated key (operation `revoke_key`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRevocation {
    pub id: u32,
}

/// A delegated key as the chain keeps it (table `keys.delegated`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegatedKey {
    pub org: OrgId,
    #[serde(flatten)]
    pub key: NewKey,
    /// Consensus time of registration, in nanoseconds.
    pub registered_at: u64,
    /// Consensus time of revocation in nanoseconds (0: not revoked).
    pub revoked_at: u64,
    /// The period `spent` counts in (consensus seconds / `period_s`).
    pub period: u64,
    /// Moved so far in `period`.
    pub spent: Amount,
}

/// Why a delegated key may not sign a batch now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Revoked,
    Expired,
    /// The batch carries an operation the key may not submit (its name).
    NotPermitted(&'static str),
}

impl DelegatedKey {
    /// Whether the key signs nothing from consensus time `now_ms` on.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.key.expires_at_ms != 0 && now_ms >= self.key.expires_at_ms
    }

    /// Whether the key may sign a batch of `operations` in a block at `now_ms`.
    pub fn may_sign(&self, now_ms: u64, operations: &[crate::Operation]) -> Result<(), KeyRefusal> {
        if self.revoked_at != 0 {
            return Err(KeyRefusal::Revoked);
        }
        if self.expired(now_ms) {
            return Err(KeyRefusal::Expired);
        }
        for operation in operations {
            let (name, needed) = match operation {
                crate::Operation::CreateAccount(_) => ("create_account", KeyPermissions::CREATE_ACCOUNT),
                crate::Operation::CreateTransfer(_) => ("create_transfer", KeyPermissions::CREATE_TRANSFER),
                crate::Operation::RegisterKey(_) => return Err(KeyRefusal::NotPermitted("register_key")),
                crate::Operation::RevokeKey(_) => return Err(KeyRefusal::NotPermitted("revoke_key")),
            };
            if !self.key.permissions.has(needed) {
                return Err(KeyRefusal::NotPermitted(name));
            }
        }
        Ok(())
    }

    /// Whether the key reads (signs access tokens) at `now_ms`.
    pub fn reads(&self, now_ms: u64) -> bool {
        self.revoked_at == 0 && !self.expired(now_ms) && self.key.permissions.has(KeyPermissions::READ)
    }
}

impl Encode for NewKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.public_key.encode_to(out);
        self.permissions.encode_to(out);
        self.accounts.encode_to(out);
        self.ledger.encode_to(out);
        self.spend_limit.encode_to(out);
        self.period_s.encode_to(out);
        self.expires_at_ms.encode_to(out);
    }
}

impl Decode for NewKey {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NewKey {
            id: Decode::decode_from(reader)?,
            public_key: Decode::decode_from(reader)?,
            permissions: Decode::decode_from(reader)?,
            accounts: Decode::decode_from(reader)?,
            ledger: Decode::decode_from(reader)?,
            spend_limit: Decode::decode_from(reader)?,
            period_s: Decode::decode_from(reader)?,
            expires_at_ms: Decode::decode_from(reader)?,
        })
    }
}

impl Encode for KeyRevocation {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
    }
}

impl Decode for KeyRevocation {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(KeyRevocation { id: Decode::decode_from(reader)? })
    }
}

impl Encode for DelegatedKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.key.encode_to(out);
        self.registered_at.encode_to(out);
        self.revoked_at.encode_to(out);
        self.period.encode_to(out);
        self.spent.encode_to(out);
    }
}

impl Decode for DelegatedKey {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DelegatedKey {
            org: Decode::decode_from(reader)?,
            key: Decode::decode_from(reader)?,
            registered_at: Decode::decode_from(reader)?,
            revoked_at: Decode::decode_from(reader)?,
            period: Decode::decode_from(reader)?,
            spent: Decode::decode_from(reader)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_read_as_a_list_without_zeros_and_refuse_more_than_three() {
        let accounts: KeyAccounts = serde_json::from_str(r#"["2001","7"]"#).expect("two ids");
        assert_eq!(accounts.0, [2001, 7, 0]);
        assert_eq!(serde_json::to_string(&accounts).expect("json"), r#"["2001","7"]"#);
        assert!(accounts.allows(7) && !accounts.allows(8));
        assert!(KeyAccounts::default().allows(8), "none listed: any");
        assert!(serde_json::from_str::<KeyAccounts>(r#"["1","2","3","4"]"#).is_err());
        assert!(serde_json::from_str::<KeyAccounts>(r#"["0"]"#).is_err());
    }

    #[test]
    fn permissions_parse_by_name() {
        let parsed = KeyPermissions::parse("create_transfer, read").expect("known names");
        assert_eq!(parsed.0, KeyPermissions::CREATE_TRANSFER | KeyPermissions::READ);
        assert!(KeyPermissions::parse("create_transfer,fly").unwrap_err().contains("fly"));
    }
}
