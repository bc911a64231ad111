//! The records a block executes against, and what it changes.
//!
//! Execution never reaches storage. The chain crate asks [`crate::Ledger::reads`] which records
//! a block needs, fetches them into a [`Prefetched`] set (asking again until nothing is
//! missing: some reads depend on records read before, such as the accounts of a hold), and
//! executes the block on a [`Working`] view of that set. Every write lands in the view; a
//! linked chain that fails rolls its writes back from an undo log; the block's
//! [`WriteSet`] is the view's changes, sorted. Reading a record that was not prefetched is a
//! programmer error and panics: the read set and the execution disagree.

use crate::modules::{Record, RecordType};
use hansa_types::{Decode, LogAppend, RecordWrite, StateKey, TableKind, WriteSet};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// A hash map with a fast, fixed (non-random) hasher. Lookups only: nothing iterates one in
/// an order that could reach the state.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<ahash::AHasher>>;
/// The set of [`FastMap`]'s keys, with its hasher.
pub(crate) type FastSet<K> = std::collections::HashSet<K, BuildHasherDefault<ahash::AHasher>>;

/// Encoded records fetched for a block: `None` means "fetched, and absent".
#[derive(Debug, Clone, Default)]
pub struct Prefetched {
    records: FastMap<StateKey, Option<Vec<u8>>>,
}

impl Prefetched {
    pub fn new() -> Prefetched {
        Prefetched::default()
    }

    /// Whether `key` was fetched (present or absent).
    pub fn contains(&self, key: &StateKey) -> bool {
        self.records.contains_key(key)
    }

    /// The fetched value of `key`: `None` if not fetched, `Some(None)` if fetched and absent.
    pub fn get(&self, key: &StateKey) -> Option<Option<&[u8]>> {
        self.records.get(key).map(|value| value.as_deref())
    }

    /// Records what storage holds for `key`.
    pub fn insert(&mut self, key: StateKey, value: Option<Vec<u8>>) {
        self.records.insert(key, value);
    }

    /// Records what storage holds for each of `keys` (a round of fetches, `values` in order),
    /// growing the map once.
    pub fn extend(&mut self, keys: Vec<StateKey>, values: Vec<Option<Vec<u8>>>) {
        assert_eq!(keys.len(), values.len(), "one value per key");
        self.records.reserve(keys.len());
        self.records.extend(keys.into_iter().zip(values));
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Decodes the fetched record `key`, if it was fetched and is present.
    pub fn decode<R: Decode>(&self, key: &StateKey) -> Option<R> {
        self.get(key).flatten().map(|bytes| R::decode(bytes).expect("stored records decode"))
    }
}

/// What the undo log remembers of one change: the entry the key had before.
struct Undo {
    key: StateKey,
    before: Option<Entry>,
}

/// A current record as execution sees it: decoded once, changed in place.
#[derive(Clone)]
struct Entry {
    value: Option<Record>,
    /// Whether the block wrote it (as opposed to only reading it).
    written: bool,
}

/// The state a block executes on: the prefetched records, decoded on first read, overlaid with
/// the block's writes.
pub struct Working<'p> {
    prefetched: &'p Prefetched,
    /// Every current record read or written so far, decoded.
    entries: FastMap<StateKey, Entry>,
    /// Log records in the order they were appended.
    log: Vec<(StateKey, Record)>,
    /// Where each log record this block appended sits in `log`. Log records stay out of
    /// `entries`: a block appends one per transfer, and a map of full records that large
    /// no longer fits the caches (a third of the ledger's time went to that map).
    appended: FastMap<StateKey, usize>,
    /// While a linked chain runs: what to restore if it fails.
    undo: Option<Vec<Undo>>,
    /// Where the log stood when the chain started.
    log_mark: usize,
    /// Balances after each change of an account with the `history` flag (for queries; not
    /// state), and where they stood when the chain started.
    balances: Vec<(u128, AccountBalance)>,
    balances_mark: usize,
}

/// An account's balances after one change (kept for accounts with the `history` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountBalance {
    pub debits_pending: hansa_types::Amount,
    pub debits_posted: hansa_types::Amount,
    pub credits_pending: hansa_types::Amount,
    pub credits_posted: hansa_types::Amount,
    /// Timestamp of the operation that produced these balances.
    pub timestamp: u64,
}

impl AccountBalance {
    pub fn of(account: &hansa_types::Account, timestamp: u64) -> AccountBalance {
        AccountBalance {
            debits_pending: account.debits_pending,
            debits_posted: account.debits_posted,
            credits_pending: account.credits_pending,
            credits_posted: account.credits_posted,
            timestamp,
        }
    }
}

impl<'p> Working<'p> {
    /// A view for a block of `operations` operations (room for as many log records is made at
    /// once: growing the log moves every record appended before, and a block appends one per
    /// transfer).
    pub fn new(prefetched: &'p Prefetched, operations: usize) -> Working<'p> {
        Working {
            prefetched,
            // Most prefetched records are read once and some are written: room for all at once
            // spares the map its rehashing as the block runs.
            entries: FastMap::with_capacity_and_hasher(prefetched.len() + 1024, Default::default()),
            log: Vec::with_capacity(operations),
            appended: FastMap::with_capacity_and_hasher(operations, Default::default()),
            undo: None,
            log_mark: 0,
            balances: Vec::new(),
            balances_mark: 0,
        }
    }

    /// The entry of the current record `key`, decoding the prefetched value on first use.
    fn entry(&mut self, key: StateKey) -> &mut Entry {
        let prefetched = self.prefetched;
        self.entries.entry(key).or_insert_with(|| {
            let value = Self::prefetched(prefetched, key)
                .map(|bytes| Record::decode(key.table, bytes).expect("stored records decode"));
            Entry { value, written: false }
        })
    }

    fn prefetched(prefetched: &Prefetched, key: StateKey) -> Option<&[u8]> {
        prefetched.get(&key).unwrap_or_else(|| panic!("record {key:?} was read but not in the read set"))
    }

    fn is_log(key: &StateKey) -> bool {
        crate::modules::kind(key) == TableKind::Log
    }

    /// The current value of a record.
    pub fn get<R: RecordType>(&mut self, key: StateKey) -> Option<R> {
        if Self::is_log(&key) {
            if let Some(position) = self.appended.get(&key) {
                return Some(R::from_record(&self.log[*position].1).clone());
            }
            let bytes = Self::prefetched(self.prefetched, key)?;
            let record = Record::decode(key.table, bytes).expect("stored records decode");
            return Some(R::from_record(&record).clone());
        }
        self.entry(key).value.as_ref().map(|record| R::from_record(record).clone())
    }

    /// Whether a record exists.
    pub fn exists(&mut self, key: StateKey) -> bool {
        if Self::is_log(&key) {
            return self.appended.contains_key(&key) || Self::prefetched(self.prefetched, key).is_some();
        }
        self.entry(key).value.is_some()
    }

    /// Sets a current record. A write needs no read first: a record's old value matters only
    /// to the operations that read it.
    fn set(&mut self, key: StateKey, value: Option<Record>) {
        assert!(!Self::is_log(&key), "{key:?} is a log record: it is appended, never written");
        let before = self.entries.insert(key, Entry { value, written: true });
        if let Some(undo) = &mut self.undo {
            undo.push(Undo { key, before });
        }
    }

    /// Writes a current record.
    pub fn put<R: RecordType>(&mut self, key: StateKey, record: R) {
        self.set(key, Some(record.into_record()));
    }

    /// Deletes a current record (it must exist).
    pub fn delete(&mut self, key: StateKey) {
        assert!(self.exists(key), "delete {key:?}: the record exists");
        self.set(key, None);
    }

    /// Appends an immutable record to the log; it can be read back at once.
    pub fn append<R: RecordType>(&mut self, key: StateKey, record: R) {
        assert!(Self::is_log(&key), "{key:?} appended to a current table");
        let written_before = self.appended.insert(key, self.log.len()).is_some()
            || Self::prefetched(self.prefetched, key).is_some();
        assert!(!written_before, "log record {key:?} is written once");
        self.log.push((key, record.into_record()));
    }

    /// Notes an account's balances after a change (accounts with the `history` flag).
    pub fn note_balance(&mut self, id: u128, balance: AccountBalance) {
        self.balances.push((id, balance));
    }

    /// Starts a linked chain: changes from here on can be rolled back together.
    pub fn begin(&mut self) {
        assert!(self.undo.is_none(), "linked chains do not nest");
        self.undo = Some(Vec::new());
        self.log_mark = self.log.len();
        self.balances_mark = self.balances.len();
    }

    /// Keeps the chain's changes.
    pub fn keep(&mut self) {
        assert!(self.undo.take().is_some(), "keep ends a chain");
    }

    /// Undoes every change since [`Working::begin`].
    pub fn roll_back(&mut self) {
        let undo = self.undo.take().expect("roll_back ends a chain");
        for Undo { key, before } in undo.into_iter().rev() {
            match before {
                Some(entry) => self.entries.insert(key, entry),
                None => self.entries.remove(&key),
            };
        }
        for (key, _) in &self.log[self.log_mark..] {
            self.appended.remove(key);
        }
        self.log.truncate(self.log_mark);
        self.balances.truncate(self.balances_mark);
    }

    /// The block's changes, in a deterministic order, and the balances noted. A current record
    /// written back with the value storage already holds is left out; `kind` tells log tables
    /// from current ones.
    pub fn into_write_set(self, kind: impl Fn(&StateKey) -> TableKind) -> Changes {
        assert!(self.undo.is_none(), "a block ends outside any linked chain");
        let log: Vec<LogAppend> = self
            .log
            .iter()
            .map(|(key, record)| {
                assert_eq!(kind(key), TableKind::Log, "{key:?} appended to a current table");
                LogAppend { key: *key, value: record.encode() }
            })
            .collect();
        let prefetched = self.prefetched;
        let mut records: Vec<RecordWrite> = self
            .entries
            .into_iter()
            .filter(|(_, entry)| entry.written)
            .filter_map(|(key, entry)| {
                assert_eq!(kind(&key), TableKind::Current, "{key:?} written to a log table");
                let value = entry.value.map(|record| record.encode());
                let unchanged = prefetched.get(&key) == Some(value.as_deref());
                (!unchanged).then_some(RecordWrite { key, value })
            })
            .collect();
        records.sort_unstable_by_key(|write| write.key);
        Changes { writes: WriteSet { records, log }, appended: self.log, balances: self.balances }
    }
}

/// A block's changes: encoded for storage, and the appended log records still decoded (so that
/// a caller wanting them need not decode what was just encoded).
pub struct Changes {
    pub writes: WriteSet,
    /// The log records appended, in order (the same as `writes.log`, decoded).
    pub appended: Vec<(StateKey, Record)>,
    /// Balances noted for accounts with the `history` flag.
    pub balances: Vec<(u128, AccountBalance)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::ledger::{HOLDS, RESOLUTIONS};
    use crate::{Hold, Resolution};
    use hansa_types::{Encode, PendingStatus};

    fn hold(expires_at: u64) -> Hold {
        Hold { expires_at }
    }

    fn resolution() -> Resolution {
        Resolution { status: PendingStatus::Voided, transfer_id: 7, timestamp: 3 }
    }

    #[test]
    fn a_rolled_back_chain_leaves_no_trace() {
        let mut prefetched = Prefetched::new();
        prefetched.insert(HOLDS.key(1), Some(hold(5).encode()));
        prefetched.insert(HOLDS.key(2), None);
        prefetched.insert(RESOLUTIONS.key(9), None);
        let mut working = Working::new(&prefetched, 4);
        working.put(HOLDS.key(1), hold(6));
        working.begin();
        working.put(HOLDS.key(1), hold(7));
        working.put(HOLDS.key(2), hold(1));
        working.append(RESOLUTIONS.key(9), resolution());
        assert_eq!(working.get::<Resolution>(RESOLUTIONS.key(9)), Some(resolution()));
        working.roll_back();
        assert_eq!(working.get::<Hold>(HOLDS.key(1)), Some(hold(6)));
        assert_eq!(working.get::<Hold>(HOLDS.key(2)), None);
        assert!(!working.exists(RESOLUTIONS.key(9)));
        let writes = working.into_write_set(crate::modules::kind).writes;
        assert_eq!(writes.records, vec![RecordWrite { key: HOLDS.key(1), value: Some(hold(6).encode()) }]);
        assert!(writes.log.is_empty());
    }

    /// A log record is read back from the block's appends or from storage, a rolled-back
    /// append can be made again, and the write set holds each append once, in order.
    #[test]
    fn log_records_read_back_and_roll_back() {
        let mut prefetched = Prefetched::new();
        prefetched.insert(RESOLUTIONS.key(1), Some(resolution().encode()));
        prefetched.insert(RESOLUTIONS.key(2), None);
        prefetched.insert(RESOLUTIONS.key(3), None);
        let mut working = Working::new(&prefetched, 4);
        assert!(working.exists(RESOLUTIONS.key(1)), "stored before the block");
        assert_eq!(working.get::<Resolution>(RESOLUTIONS.key(1)), Some(resolution()));
        assert!(!working.exists(RESOLUTIONS.key(2)));
        working.append(RESOLUTIONS.key(3), Resolution { timestamp: 30, ..resolution() });
        working.begin();
        working.append(RESOLUTIONS.key(2), resolution());
        assert!(working.exists(RESOLUTIONS.key(2)));
        working.roll_back();
        assert!(!working.exists(RESOLUTIONS.key(2)), "rolled back");
        working.append(RESOLUTIONS.key(2), Resolution { timestamp: 20, ..resolution() });
        assert_eq!(working.get::<Resolution>(RESOLUTIONS.key(2)).map(|r| r.timestamp), Some(20));
        let writes = working.into_write_set(crate::modules::kind).writes;
        let keys: Vec<u128> = writes.log.iter().map(|append| append.key.id).collect();
        assert_eq!(keys, vec![3, 2]);
        assert!(writes.records.is_empty());
    }

    #[test]
    #[should_panic(expected = "written once")]
    fn a_log_record_is_appended_once() {
        let mut prefetched = Prefetched::new();
        prefetched.insert(RESOLUTIONS.key(1), Some(resolution().encode()));
        let mut working = Working::new(&prefetched, 4);
        working.append(RESOLUTIONS.key(1), resolution());
    }

    #[test]
    fn unchanged_and_only_read_records_are_not_written_and_order_is_by_key() {
        let mut prefetched = Prefetched::new();
        for id in 0..6u64 {
            prefetched.insert(HOLDS.key(u128::from(id)), Some(hold(id).encode()));
        }
        let mut working = Working::new(&prefetched, 4);
        for id in (0..5u64).rev() {
            working.put(HOLDS.key(u128::from(id)), hold(if id % 2 == 0 { id } else { id + 10 }));
        }
        working.delete(HOLDS.key(4));
        assert_eq!(working.get::<Hold>(HOLDS.key(5)), Some(hold(5)), "read only");
        let writes = working.into_write_set(crate::modules::kind).writes;
        let keys: Vec<u128> = writes.records.iter().map(|write| write.key.id).collect();
        assert_eq!(keys, vec![1, 3, 4]);
        assert_eq!(writes.records[2].value, None);
    }

    #[test]
    #[should_panic(expected = "not in the read set")]
    fn reading_outside_the_read_set_panics() {
        let prefetched = Prefetched::new();
        let mut working = Working::new(&prefetched, 4);
        working.get::<Hold>(HOLDS.key(1));
    }
}
