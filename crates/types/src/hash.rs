//! SHA-256 hashes with domain separation.
//!
//! Specification: `hash(domain, parts) = SHA-256(len(domain) as u8 || domain || parts...)`, where
//! `domain` is an ASCII tag such as `hansa/batch/v1`. Distinct tags keep a hash of one kind of
//! object from ever being taken for another.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use sha2::{Digest, Sha256};
use std::fmt;

/// A 32-byte SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0u8; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Hash> {
        let bytes = hex::decode(text).ok()?;
        Some(Hash(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl Encode for Hash {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Hash {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hash(reader.array()?))
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Hash::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// Hashes `parts` under a domain tag.
pub fn hash_parts(domain: &str, parts: &[&[u8]]) -> Hash {
    let tag = domain.as_bytes();
    let tag_length = u8::try_from(tag.len()).expect("domain tags are short ASCII constants");
    let mut hasher = Sha256::new();
    hasher.update([tag_length]);
    hasher.update(tag);
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

/// Hashes one byte string under a domain tag.
pub fn hash(domain: &str, bytes: &[u8]) -> Hash {
    hash_parts(domain, &[bytes])
}

/// Domain tags used across Hansa. Never change one: it would change every hash of its kind.
pub mod domain {
    pub const BATCH: &str = "hansa/batch/v1";
    pub const HEADER: &str = "hansa/header/v1";
    pub const GENESIS: &str = "hansa/genesis/v1";
    pub const MERKLE_LEAF: &str = "hansa/merkle/leaf/v1";
    pub const MERKLE_NODE: &str = "hansa/merkle/node/v1";
    pub const STATE_ROOT: &str = "hansa/state/v1";
    pub const STATE_ROOT_V2: &str = "hansa/state/v2";
    pub const STATE_ROOT_V3: &str = "hansa/state/v3";
    pub const ACCOUNT: &str = "hansa/account/v1";
    pub const TRANSFER: &str = "hansa/transfer/v1";
    pub const SEQUENCE: &str = "hansa/sequence/v1";
    pub const OPERATION: &str = "hansa/operation/v1";
    pub const RESULT: &str = "hansa/result/v1";
    pub const DERIVED_ID: &str = "hansa/derived-id/v1";
}
