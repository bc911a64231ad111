//! The modules: one folder each, holding its operations' apply functions, its tables, its
//! invariants and its tests. This file is the registry every module is added to: its tables,
//! the dispatch of its operations, and its invariants.

pub mod keys;
pub mod ledger;

use crate::Consortium;
use crate::sequences::{SEQUENCES, SequenceWindow};
use crate::working::{Prefetched, Working};
use hansa_types::codec::{Decode, DecodeError, Encode};
use hansa_types::{
    Account, DelegatedKey, Operation, OrgId, ResultCode, StateKey, Table, TableId, TableKind, Transfer,
    WriteSet,
};
use ledger::{ExpiryBucket, ExpiryDirectory, FailedTransfer, Hold, Resolution};
use std::collections::BTreeMap;

/// Every kind of record, one variant per record type: execution keeps records decoded, and
/// this enum is how one map holds them all. A module adds its record types here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Window(SequenceWindow),
    Account(Account),
    Transfer(Transfer),
    Hold(Hold),
    Resolution(Resolution),
    ExpiryBucket(ExpiryBucket),
    ExpiryDirectory(ExpiryDirectory),
    FailedTransfer(FailedTransfer),
    Key(DelegatedKey),
}

impl Record {
    /// Decodes a stored record of table `table`.
    pub fn decode(table: TableId, bytes: &[u8]) -> Result<Record, DecodeError> {
        Ok(match table {
            id if id == SEQUENCES.id => Record::Window(Decode::decode(bytes)?),
            id if id == ledger::ACCOUNTS.id => Record::Account(Decode::decode(bytes)?),
            id if id == ledger::TRANSFERS.id => Record::Transfer(Decode::decode(bytes)?),
            id if id == ledger::HOLDS.id => Record::Hold(Decode::decode(bytes)?),
            id if id == ledger::RESOLUTIONS.id => Record::Resolution(Decode::decode(bytes)?),
            id if id == ledger::EXPIRY_BUCKETS.id => Record::ExpiryBucket(Decode::decode(bytes)?),
            id if id == ledger::EXPIRY_DIRECTORY.id => Record::ExpiryDirectory(Decode::decode(bytes)?),
            id if id == ledger::FAILED_TRANSFERS.id => Record::FailedTransfer(Decode::decode(bytes)?),
            id if id == keys::KEYS.id => Record::Key(Decode::decode(bytes)?),
            other => return Err(DecodeError::InvalidValue { what: "table id", value: u64::from(other.0) }),
        })
    }

    /// The stored encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Record::Window(record) => record.encode(),
            Record::Account(record) => record.encode(),
            Record::Transfer(record) => record.encode(),
            Record::Hold(record) => record.encode(),
            Record::Resolution(record) => record.encode(),
            Record::ExpiryBucket(record) => record.encode(),
            Record::ExpiryDirectory(record) => record.encode(),
            Record::FailedTransfer(record) => record.encode(),
            Record::Key(record) => record.encode(),
        }
    }
}

/// A record type: how it goes into and out of [`Record`].
pub trait RecordType: Clone {
    fn into_record(self) -> Record;
    /// The value inside `record`; panics if `record` holds another type (a table holds one
    /// type, so that is a programmer error).
    fn from_record(record: &Record) -> &Self;
}

macro_rules! record_type {
    ($($variant:ident($type:ty)),* $(,)?) => {$(
        impl RecordType for $type {
            fn into_record(self) -> Record {
                Record::$variant(self)
            }
            fn from_record(record: &Record) -> &Self {
                match record {
                    Record::$variant(value) => value,
                    other => panic!("expected a {} record, found {other:?}", stringify!($variant)),
                }
            }
        }
    )*};
}

record_type!(
    Window(SequenceWindow),
    Account(Account),
    Transfer(Transfer),
    Hold(Hold),
    Resolution(Resolution),
    ExpiryBucket(ExpiryBucket),
    ExpiryDirectory(ExpiryDirectory),
    FailedTransfer(FailedTransfer),
    Key(DelegatedKey),
);

/// Every table of every module, the block envelope's included. Ids never repeat.
pub fn tables() -> impl Iterator<Item = &'static Table> {
    std::iter::once(&SEQUENCES).chain(ledger::TABLES.iter()).chain(keys::TABLES.iter())
}

/// The table with this id, if any.
pub fn table(id: TableId) -> Option<&'static Table> {
    tables().find(|table| table.id == id)
}

/// The kind of the table `key` belongs to (every key the ledger writes is of a known table).
pub fn kind(key: &StateKey) -> TableKind {
    table(key.table).unwrap_or_else(|| panic!("{key:?} is not in a registered table")).kind
}

/// One operation's context: the state, who submitted it with which key, and when.
pub(crate) struct Apply<'w, 'p> {
    pub consortium: &'w Consortium,
    pub state: &'w mut Working<'p>,
    pub org: OrgId,
    /// The key that signed the operation's batch (`ROOT_KEY` or a delegated key).
    pub key: u32,
    /// The operation's timestamp (ns): the block's time plus its index in the block.
    pub timestamp: u64,
}

/// The records `operation`, submitted by `org` and executing at `timestamp`, reads, given what
/// is known so far; true if some of its reads depend on records not known yet (ask again once
/// they are fetched).
pub(crate) fn reads(
    org: OrgId,
    operation: &Operation,
    timestamp: u64,
    known: &Prefetched,
    out: &mut Vec<StateKey>,
) -> bool {
    match operation {
        Operation::CreateAccount(_) | Operation::CreateTransfer(_) => {
            ledger::reads(operation, timestamp, known, out)
        }
        Operation::RegisterKey(_) | Operation::RevokeKey(_) => {
            keys::reads(org, operation, out);
            false
        }
    }
}

/// Applies one operation in its context.
pub(crate) fn apply(context: &mut Apply<'_, '_>, operation: &Operation) -> ResultCode {
    match operation {
        Operation::CreateAccount(_) | Operation::CreateTransfer(_) => ledger::apply(context, operation),
        Operation::RegisterKey(_) | Operation::RevokeKey(_) => keys::apply(context, operation),
    }
}

/// What follows a failed operation, once its linked chain (if any) is rolled back: records
/// that must outlive the rollback (a transfer id refused for good after a transient error).
pub(crate) fn after_failure(
    state: &mut Working<'_>,
    operation: &Operation,
    code: ResultCode,
    timestamp: u64,
) {
    match operation {
        Operation::CreateAccount(_) | Operation::CreateTransfer(_) => {
            ledger::record_failure(state, operation, code, timestamp)
        }
        Operation::RegisterKey(_) | Operation::RevokeKey(_) => {}
    }
}

/// What one block changed in every module's totals (today the ledger module's, per ledger).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockDeltas {
    pub ledgers: BTreeMap<u32, ledger::LedgerDelta>,
}

/// Checks every module's invariants on one block's writes against the records it read.
pub fn check_block(before: &Prefetched, writes: &WriteSet) -> Result<BlockDeltas, InvariantViolation> {
    keys::check_block(before, writes)?;
    Ok(BlockDeltas { ledgers: ledger::check_block(before, writes)? })
}

/// A broken invariant of some module: the ledger has a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    #[error(transparent)]
    Ledger(#[from] ledger::InvariantViolation),
    #[error(transparent)]
    Keys(#[from] keys::KeyViolation),
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_ids_are_unique_and_in_their_module_range() {
        let mut ids: Vec<u16> = super::tables().map(|table| table.id.0).collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "table ids repeat");
        assert!(super::ledger::TABLES.iter().all(|table| (0x0100..0x0200).contains(&table.id.0)));
        assert!(super::keys::TABLES.iter().all(|table| (0x0200..0x0300).contains(&table.id.0)));
    }
}
