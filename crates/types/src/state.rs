//! The shape of the state: tables of records, their keys, and what a block writes.
//!
//! Specification. The state is a set of records, each in one *table*. A table has a stable
//! 16-bit id (a range per module, never reused) and one of two kinds:
//! - [`TableKind::Current`]: mutable records; a record has at most one value at a time, can be
//!   changed or deleted, and a proof shows that a value is the *current* one.
//! - [`TableKind::Log`]: immutable records, written once and never changed or deleted
//!   (transfers, resolutions of holds); a proof shows that a record was written, at a position
//!   of the state's append-only log.
//!
//! A record is named by a [`StateKey`]: its table and a 128-bit id (a module whose natural key
//! is composite derives the id with [`derived_id`]). The ledger executes a block against the
//! records it asked for and returns a [`WriteSet`]; the storage layer persists it and commits
//! to it in the state root.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::hash::{Hash, hash_parts};
use std::fmt;

/// A table's stable id. Ranges: `0x0000..0x0100` the block envelope (sequence windows),
/// `0x0100..0x0200` the ledger module (accounts, transfers, holds); each later module takes
/// the next `0x100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId(pub u16);

/// Whether a table's records change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Mutable records with current-value proofs.
    Current,
    /// Immutable records appended to the state's log.
    Log,
}

/// A table: its id, its name (for errors, metrics and the API) and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub id: TableId,
    pub name: &'static str,
    pub kind: TableKind,
}

impl Table {
    pub const fn current(id: u16, name: &'static str) -> Table {
        Table { id: TableId(id), name, kind: TableKind::Current }
    }

    pub const fn log(id: u16, name: &'static str) -> Table {
        Table { id: TableId(id), name, kind: TableKind::Log }
    }

    /// The key of the record `id` in this table.
    pub const fn key(&self, id: u128) -> StateKey {
        StateKey { table: self.id, id }
    }
}

/// The name of one record: its table and its id within the table. Its encoding (table u16 LE,
/// then id u128 LE) is also the record's key in storage.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateKey {
    pub table: TableId,
    pub id: u128,
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}/{}", self.table.0, self.id)
    }
}

impl Encode for StateKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.table.0.encode_to(out);
        self.id.encode_to(out);
    }
}

impl Decode for StateKey {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StateKey { table: TableId(u16::decode_from(reader)?), id: u128::decode_from(reader)? })
    }
}

/// The 128-bit id of a record whose natural key is composite: the first 16 bytes of
/// `hash("hansa/derived-id/v1", table u16 LE || parts...)`. Two distinct keys collide with
/// probability about 2^-64 after 2^32 records of one table.
pub fn derived_id(table: TableId, parts: &[&[u8]]) -> u128 {
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    let table_bytes = table.0.to_le_bytes();
    all.push(&table_bytes);
    all.extend_from_slice(parts);
    let digest = hash_parts(crate::hash::domain::DERIVED_ID, &all);
    u128::from_le_bytes(digest.0[..16].try_into().expect("16 of 32 bytes"))
}

/// One record a block changed: its key and its new encoded value (`None`: deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite {
    pub key: StateKey,
    pub value: Option<Vec<u8>>,
}

/// One immutable record a block appended to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAppend {
    pub key: StateKey,
    pub value: Vec<u8>,
}

/// Everything a block changed. `records` holds each changed current record once, with its
/// final value, sorted by key; `log` holds the appended log records in execution order. Both
/// orders are deterministic, so every validator stores and commits the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSet {
    pub records: Vec<RecordWrite>,
    pub log: Vec<LogAppend>,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.log.is_empty()
    }
}

/// What a header's state root commits to: the roots of the two authenticated structures that
/// hold the state, and the ranges of their operation logs.
///
/// Specification (state format 2). Current records live in an authenticated key-value database
/// (Commonware QMDB `current`): `records_root` is its canonical root, which proves a value is
/// the current one; `records_ops_root` and `records_range` (`[sync boundary, size)` of its
/// operation log, the boundary being its inactivity floor rounded down to a bitmap chunk) are
/// what a new validator syncs that database against. Log records are
/// appended to an authenticated append-only log (QMDB `keyless`) with root `log_root` over the
/// operation range `log_range`. Both hold each value packed, with its zero bytes left out
/// (`hansa-state`'s `pack`). The state root is
/// `hash("hansa/state/v3", records_root || records_ops_root || records_range.0 ||
/// records_range.1 || log_root || log_range.0 || log_range.1)`, integers as u64 little-endian.
/// Chains of the earlier rule (values held as they are, proofs of format 2) hashed the same
/// parts under `"hansa/state/v2"` ([`StateCommitment::root_v2`]): the tag tells the two rules
/// apart, so neither's headers, snapshots or proofs pass for the other's.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateCommitment {
    pub records_root: Hash,
    pub records_ops_root: Hash,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<u64>, min_items = 2, max_items = 2))]
    pub records_range: (u64, u64),
    pub log_root: Hash,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<u64>, min_items = 2, max_items = 2))]
    pub log_range: (u64, u64),
}

impl StateCommitment {
    /// The state root a header carries.
    pub fn root(&self) -> Hash {
        self.root_under(crate::hash::domain::STATE_ROOT_V3)
    }

    /// The state root under the earlier rule (values stored unpacked; proofs of format 2).
    pub fn root_v2(&self) -> Hash {
        self.root_under(crate::hash::domain::STATE_ROOT_V2)
    }

    fn root_under(&self, domain: &str) -> Hash {
        hash_parts(
            domain,
            &[
                &self.records_root.0,
                &self.records_ops_root.0,
                &self.records_range.0.to_le_bytes(),
                &self.records_range.1.to_le_bytes(),
                &self.log_root.0,
                &self.log_range.0.to_le_bytes(),
                &self.log_range.1.to_le_bytes(),
            ],
        )
    }
}

impl Encode for StateCommitment {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.records_root.encode_to(out);
        self.records_ops_root.encode_to(out);
        self.records_range.encode_to(out);
        self.log_root.encode_to(out);
        self.log_range.encode_to(out);
    }
}

impl Decode for StateCommitment {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StateCommitment {
            records_root: Decode::decode_from(reader)?,
            records_ops_root: Decode::decode_from(reader)?,
            records_range: Decode::decode_from(reader)?,
            log_root: Decode::decode_from(reader)?,
            log_range: Decode::decode_from(reader)?,
        })
    }
}
