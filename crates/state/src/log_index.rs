//! The index of the log: where each log record (by key) sits in the `keyless` log.
//!
//! A redb table `(table id, record id) -> location`, written once per finalized block in one
//! transaction (keys sorted), made durable at checkpoints before the log is. It is derived data:
//! an entry whose location is past the applied log belongs to blocks a crash undid, and is
//! ignored until those blocks are replayed and write the same entry again.
//!
//! Why redb and not Commonware's freezer, which would keep the index on the runtime's storage:
//! measured on this workload (docs/storage.md), a freezer insert costs about 90 µs on the tokio
//! runtime, 6 s per block of 65,520 transfers; redb costs about 1 µs per lookup and insert for
//! ids that grow over time (the pattern TigerBeetle recommends to its clients), about 16 µs for
//! uniformly random ids. A high-water mark per table spares the lookups of ids above every id
//! indexed so far: for growing ids, all of them.

use hansa_types::StateKey;
use redb::{Database, Durability, ReadableDatabase as _, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const LOCATIONS: TableDefinition<(u16, u128), u64> = TableDefinition::new("locations");

/// Why the log index failed.
#[derive(Debug, thiserror::Error)]
#[error("log index: {0}")]
pub struct LogIndexError(String);

fn error(error: impl std::fmt::Display) -> LogIndexError {
    LogIndexError(error.to_string())
}

/// Per table, the highest id in the index.
fn read_marks(db: &Database) -> Result<BTreeMap<u16, u128>, LogIndexError> {
    let mut highest = BTreeMap::new();
    let read = db.begin_read().map_err(error)?;
    let table = match read.open_table(LOCATIONS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(highest),
        Err(other) => return Err(error(other)),
    };
    // From one table's last key to the next table's first: one step per table in use.
    let mut from = 0u16;
    loop {
        let first = table.range((from, 0)..).map_err(error)?.next().transpose().map_err(error)?;
        let Some((key, _)) = first else { break };
        let table_id = key.value().0;
        let last = table
            .range((table_id, 0)..=(table_id, u128::MAX))
            .map_err(error)?
            .next_back()
            .transpose()
            .map_err(error)?
            .expect("the table has the key just read");
        highest.insert(table_id, last.0.value().1);
        match table_id.checked_add(1) {
            Some(next) => from = next,
            None => break,
        }
    }
    Ok(highest)
}

/// The log index. Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct LogIndex {
    db: Arc<Database>,
    /// Per table, the highest id indexed (entries of undone blocks included): a higher id is
    /// certainly not indexed.
    highest: Arc<Mutex<BTreeMap<u16, u128>>>,
}

impl LogIndex {
    /// Opens (or creates) the index in a file, with a bounded cache.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<LogIndex, LogIndexError> {
        let db = Database::builder().set_cache_size(cache_bytes).create(path).map_err(error)?;
        LogIndex::with(db)
    }

    /// An index in memory (tests and simulations: it survives a simulated restart as long as
    /// the caller keeps it, as a disk would).
    pub fn in_memory() -> Result<LogIndex, LogIndexError> {
        let db =
            Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).map_err(error)?;
        LogIndex::with(db)
    }

    fn with(db: Database) -> Result<LogIndex, LogIndexError> {
        let highest = read_marks(&db)?;
        Ok(LogIndex { db: Arc::new(db), highest: Arc::new(Mutex::new(highest)) })
    }

    /// The locations of `keys` (`None`: not indexed), in order.
    pub fn lookup(&self, keys: &[StateKey]) -> Result<Vec<Option<u64>>, LogIndexError> {
        let highest = self.highest.lock().expect("never poisoned").clone();
        let mut out = vec![None; keys.len()];
        let mut wanted: Vec<(usize, (u16, u128))> = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| highest.get(&key.table.0).is_some_and(|high| key.id <= *high))
            .map(|(position, key)| (position, (key.table.0, key.id)))
            .collect();
        if wanted.is_empty() {
            return Ok(out);
        }
        // In key order: neighbouring lookups touch the same pages.
        wanted.sort_unstable_by_key(|(_, key)| *key);
        let read = self.db.begin_read().map_err(error)?;
        let table = match read.open_table(LOCATIONS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
            Err(other) => return Err(error(other)),
        };
        for (position, key) in wanted {
            out[position] = table.get(key).map_err(error)?.map(|value| value.value());
        }
        Ok(out)
    }

    /// Records where each of `entries` sits; `durable` makes them survive a crash before
    /// returning.
    pub fn insert(&self, entries: &[(StateKey, u64)], durable: bool) -> Result<(), LogIndexError> {
        let mut sorted: Vec<((u16, u128), u64)> =
            entries.iter().map(|(key, location)| ((key.table.0, key.id), *location)).collect();
        sorted.sort_unstable_by_key(|(key, _)| *key);
        let mut write = self.db.begin_write().map_err(error)?;
        write
            .set_durability(if durable { Durability::Immediate } else { Durability::None })
            .map_err(error)?;
        {
            let mut table = write.open_table(LOCATIONS).map_err(error)?;
            for (key, location) in &sorted {
                table.insert(*key, *location).map_err(error)?;
            }
        }
        write.commit().map_err(error)?;
        let mut highest = self.highest.lock().expect("never poisoned");
        for ((table, id), _) in sorted {
            let high = highest.entry(table).or_insert(id);
            *high = (*high).max(id);
        }
        Ok(())
    }

    /// How many entries of `table` are indexed (a full pass over the table's keys).
    pub fn count(&self, table: u16) -> Result<u64, LogIndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let locations = match read.open_table(LOCATIONS) {
            Ok(locations) => locations,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(other) => return Err(error(other)),
        };
        let mut count = 0;
        for entry in locations.range((table, 0)..=(table, u128::MAX)).map_err(error)? {
            entry.map_err(error)?;
            count += 1;
        }
        Ok(count)
    }

    /// Makes every insert durable.
    pub fn sync(&self) -> Result<(), LogIndexError> {
        let mut write = self.db.begin_write().map_err(error)?;
        write.set_durability(Durability::Immediate).map_err(error)?;
        write.open_table(LOCATIONS).map_err(error)?;
        write.commit().map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hansa_types::Table;

    const A: Table = Table::log(0x0101, "a");
    const B: Table = Table::log(0x0103, "b");

    #[test]
    fn lookups_find_what_was_inserted_and_only_that() {
        let index = LogIndex::in_memory().expect("index");
        assert_eq!(index.lookup(&[A.key(1)]).expect("lookup"), vec![None]);
        index.insert(&[(A.key(5), 50), (A.key(1), 10), (B.key(7), 70)], false).expect("insert");
        let keys = [A.key(1), A.key(2), A.key(5), A.key(6), B.key(7), B.key(1), A.key(u128::MAX)];
        let expected = vec![Some(10), None, Some(50), None, Some(70), None, None];
        assert_eq!(index.lookup(&keys).expect("lookup"), expected);
        // The high-water marks, as a reopen reads them back from the table.
        assert_eq!(read_marks(&index.db).expect("marks"), BTreeMap::from([(A.id.0, 5), (B.id.0, 7)]));
        assert_eq!(
            *index.highest.lock().expect("never poisoned"),
            BTreeMap::from([(A.id.0, 5), (B.id.0, 7)])
        );
    }
}
