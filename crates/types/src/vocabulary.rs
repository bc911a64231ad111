//! Organisations, roles, keys, currencies and money.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An organisation of the consortium, numbered in genesis.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgId(pub u32);

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "org-{}", self.0)
    }
}

impl Encode for OrgId {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
}

impl Decode for OrgId {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OrgId(u32::decode_from(reader)?))
    }
}

/// What an organisation is in the consortium; decides what it may do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Role {
    Platform = 0,
    Merchant = 1,
    PaymentInstitution = 2,
    ServiceProvider = 3,
    /// Reads everything, changes nothing.
    Auditor = 4,
}

impl Role {
    pub fn from_u8(value: u8) -> Option<Role> {
        Some(match value {
            0 => Role::Platform,
            1 => Role::Merchant,
            2 => Role::PaymentInstitution,
            3 => Role::ServiceProvider,
            4 => Role::Auditor,
            _ => return None,
        })
    }
}

/// An ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

/// An ed25519 signing key. Its `Debug` never prints the secret.
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// A key from 32 secret bytes (a seed).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public_key())
    }
}

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<PublicKey> {
        Some(PublicKey(hex::decode(text).ok()?.try_into().ok()?))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

macro_rules! hex_serde {
    ($t:ident, $n:expr) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&hex::encode(self.0))
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
                let array: [u8; $n] = bytes
                    .try_into()
                    .map_err(|_| serde::de::Error::custom(concat!("expected ", $n, " bytes of hex")))?;
                Ok($t(array))
            }
        }
        impl Encode for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
        }
        impl Decode for $t {
            fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($t(reader.array()?))
            }
        }
    };
}
hex_serde!(PublicKey, 32);
hex_serde!(Signature, 64);

/// An amount of money in a ledger's minor units (fen, cents). Arithmetic is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub u128);

impl Amount {
    pub const ZERO: Amount = Amount(0);
    pub const MAX: Amount = Amount(u128::MAX);

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    pub fn min(self, other: Amount) -> Amount {
        Amount(self.0.min(other.0))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Encode for Amount {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
}

impl Decode for Amount {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Amount(u128::decode_from(reader)?))
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::serde_u128::deserialize(deserializer).map(Amount)
    }
}

/// A currency by its ISO 4217 code and the number of minor-unit digits (its scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    pub code: [u8; 3],
    pub scale: u8,
}

impl Currency {
    pub const CNY: Currency = Currency { code: *b"CNY", scale: 2 };
    pub const USD: Currency = Currency { code: *b"USD", scale: 2 };
    pub const HKD: Currency = Currency { code: *b"HKD", scale: 2 };

    /// Parses an ISO 4217 code of three upper-case letters.
    pub fn parse(code: &str, scale: u8) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        if !bytes.iter().all(u8::is_ascii_uppercase) || scale > 18 {
            return None;
        }
        Some(Currency { code: bytes, scale })
    }

    pub fn code_str(&self) -> &str {
        std::str::from_utf8(&self.code).expect("currency codes are ASCII by construction")
    }

    /// Formats minor units as a decimal with this currency's scale: `12345` CNY is `123.45`.
    pub fn format(&self, amount: Amount) -> String {
        let scale = u32::from(self.scale);
        if scale == 0 {
            return amount.0.to_string();
        }
        let divisor = 10u128.pow(scale);
        format!("{}.{:0width$}", amount.0 / divisor, amount.0 % divisor, width = scale as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let key = SecretKey::from_seed([7u8; 32]);
        let other = SecretKey::from_seed([8u8; 32]);
        let signature = key.sign(b"pay 10");
        assert!(key.public_key().verify(b"pay 10", &signature));
        assert!(!key.public_key().verify(b"pay 11", &signature));
        assert!(!other.public_key().verify(b"pay 10", &signature));
    }

    #[test]
    fn currencies_format_with_their_scale() {
        assert_eq!(Currency::CNY.format(Amount(12345)), "123.45");
        assert_eq!(Currency::parse("JPY", 0).expect("valid").format(Amount(7)), "7");
        assert!(Currency::parse("usd", 2).is_none());
    }

    #[test]
    fn amounts_are_checked() {
        assert_eq!(Amount::MAX.checked_add(Amount(1)), None);
        assert_eq!(Amount(1).checked_sub(Amount(2)), None);
    }

    #[test]
    fn secret_debug_hides_the_seed() {
        let key = SecretKey::from_seed([9u8; 32]);
        assert!(!format!("{key:?}").contains(&hex::encode([9u8; 32])));
    }
}
