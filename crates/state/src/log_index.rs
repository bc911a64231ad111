//! The index of the log: where each log record (by key) sits in the `keyless` log.
//!
//! A redb table of runs, `(table id, first record id) -> (first location, count)`: records
//! `first + i` sit at `location + i` for `i < count`. Records appended one after the other
//! with consecutive ids (the ids TigerBeetle recommends clients give: growing, and a batch's
//! transfers numbered in sequence) share one entry, so a block of 8,190 such transfers writes
//! one entry instead of 8,190 (an insert costs about 1 µs even at the end of the tree, the
//! largest cost of a finalized block before runs). Uniformly random ids make runs of one.
//! Written once per finalized block in one transaction, made durable at checkpoints before the
//! log is. It is derived data: a location past the applied log belongs to blocks a crash
//! undid, and is ignored until those blocks are replayed and write the same runs again. Runs
//! never overlap (a lookup reads only the run starting at or below the id): records are
//! indexed once per finalized block, a replay regroups them the same way, and a rebuild from
//! the whole log [`LogIndex::clear`]s the index first.
//!
//! Why redb and not Commonware's freezer, which would keep the index on the runtime's storage:
//! measured on this workload (docs/storage.md), a freezer insert costs about 90 µs on the tokio
//! runtime, 6 s per block of 65,520 transfers; redb costs about 1 µs per lookup and insert for
//! ids that grow over time (the pattern TigerBeetle recommends to its clients), about 16 µs for
//! uniformly random ids. A high-water mark per table spares the lookups of ids above every id
//! indexed so far: for growing ids, all of them.

use hansa_types::StateKey;
use redb::{Database, Durability, ReadableDatabase as _, TableDefinition, TableHandle as _};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const RUNS: TableDefinition<(u16, u128), (u64, u64)> = TableDefinition::new("location_runs");
/// The table of one entry per record that indexes of an earlier format hold.
const LOCATIONS_BEFORE_RUNS: &str = "locations";

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
    let table = match read.open_table(RUNS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(highest),
        Err(other) => return Err(error(other)),
    };
    // From one table's last run to the next table's first: one step per table in use.
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
        let (first, (_, count)) = (last.0.value().1, last.1.value());
        highest.insert(table_id, first + (u128::from(count) - 1));
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
        let read = db.begin_read().map_err(error)?;
        if read.list_tables().map_err(error)?.any(|table| table.name() == LOCATIONS_BEFORE_RUNS) {
            return Err(LogIndexError(
                "this log index has an earlier format (one entry per record), written by an earlier build \
                 whose chains this build cannot continue (their state roots differ): start a new chain, or \
                 run the build that wrote this one"
                    .into(),
            ));
        }
        drop(read);
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
        let table = match read.open_table(RUNS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
            Err(other) => return Err(error(other)),
        };
        // What the last query found: for ids of `table` from the one it was made for through
        // `last`, the run starting at or below them is `run` (first id, first location, count).
        // `wanted` is sorted, so every later id of the same table is at or above that first one.
        struct Known {
            table: u16,
            last: u128,
            run: Option<(u128, u64, u64)>,
        }
        let mut known: Option<Known> = None;
        for (at, &(position, (table_id, id))) in wanted.iter().enumerate() {
            let covered = known.as_ref().is_some_and(|known| known.table == table_id && id <= known.last);
            if !covered {
                let run = table.range((table_id, 0)..=(table_id, id)).map_err(error)?.next_back();
                let run = run.transpose().map_err(error)?.map(|(key, value)| {
                    let (location, count) = value.value();
                    (key.value().1, location, count)
                });
                // Runs never overlap: the ids this run reaches have it below them.
                let mut last = run.map_or(id, |(first, _, count)| id.max(first + (u128::from(count) - 1)));
                // When the next id wanted follows this one (a batch numbered in sequence) and
                // the run does not reach it, one more query finds where the next run starts:
                // every id before that start has this same run below it. A stretch of ids that
                // no run covers (a batch not indexed yet) then costs two queries, not one per id.
                let follows = wanted.get(at + 1).is_some_and(|(_, (next_table, next_id))| {
                    *next_table == table_id && last.checked_add(1) == Some(*next_id)
                });
                if follows {
                    let start =
                        table.range((table_id, last + 1)..=(table_id, u128::MAX)).map_err(error)?.next();
                    last = match start.transpose().map_err(error)? {
                        Some((key, _)) => key.value().1 - 1,
                        None => u128::MAX,
                    };
                }
                known = Some(Known { table: table_id, last, run });
            }
            let Some((first, location, count)) = known.as_ref().and_then(|known| known.run) else { continue };
            if id - first < u128::from(count) {
                out[position] = Some(location + (id - first) as u64);
            }
        }
        Ok(out)
    }

    /// Records where each of `entries` sits; `durable` makes them survive a crash before
    /// returning.
    pub fn insert(&self, entries: &[(StateKey, u64)], durable: bool) -> Result<(), LogIndexError> {
        let runs = runs(entries);
        let mut write = self.db.begin_write().map_err(error)?;
        write
            .set_durability(if durable { Durability::Immediate } else { Durability::None })
            .map_err(error)?;
        {
            let mut table = write.open_table(RUNS).map_err(error)?;
            for (key, run) in &runs {
                table.insert(*key, *run).map_err(error)?;
            }
        }
        write.commit().map_err(error)?;
        let mut highest = self.highest.lock().expect("never poisoned");
        for ((table, first), (_, count)) in runs {
            let last = first + (u128::from(count) - 1);
            let high = highest.entry(table).or_insert(last);
            *high = (*high).max(last);
        }
        Ok(())
    }

    /// How many records of `table` are indexed (a full pass over the table's runs; records
    /// that overlapping runs both cover count once).
    pub fn count(&self, table: u16) -> Result<u64, LogIndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let runs = match read.open_table(RUNS) {
            Ok(runs) => runs,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(other) => return Err(error(other)),
        };
        // `next`: the lowest id not counted yet (`None`: every id up to the largest counted).
        let (mut count, mut next) = (0u64, Some(0u128));
        for entry in runs.range((table, 0)..=(table, u128::MAX)).map_err(error)? {
            let (key, value) = entry.map_err(error)?;
            let first = key.value().1;
            let last = first + (u128::from(value.value().1) - 1);
            let Some(from) = next.map(|next| first.max(next)) else { break };
            if last >= from {
                count += (last - from + 1) as u64;
                next = last.checked_add(1);
            }
        }
        Ok(count)
    }

    /// Removes every entry (before rebuilding the index from the whole log).
    pub fn clear(&self) -> Result<(), LogIndexError> {
        let mut write = self.db.begin_write().map_err(error)?;
        write.set_durability(Durability::Immediate).map_err(error)?;
        write.delete_table(RUNS).map_err(error)?;
        write.commit().map_err(error)?;
        self.highest.lock().expect("never poisoned").clear();
        Ok(())
    }

    /// Makes every insert durable.
    pub fn sync(&self) -> Result<(), LogIndexError> {
        let mut write = self.db.begin_write().map_err(error)?;
        write.set_durability(Durability::Immediate).map_err(error)?;
        write.open_table(RUNS).map_err(error)?;
        write.commit().map_err(error)
    }
}

/// The runs of `entries`: per table, records with consecutive ids at consecutive locations
/// become one `((table, first id), (first location, count))`, in key order.
fn runs(entries: &[(StateKey, u64)]) -> Vec<((u16, u128), (u64, u64))> {
    let mut sorted: Vec<((u16, u128), u64)> =
        entries.iter().map(|(key, location)| ((key.table.0, key.id), *location)).collect();
    sorted.sort_unstable_by_key(|(key, _)| *key);
    let mut runs: Vec<((u16, u128), (u64, u64))> = Vec::new();
    for ((table, id), location) in sorted {
        if let Some(((run_table, first), (first_location, count))) = runs.last_mut()
            && *run_table == table
            && id.checked_sub(*first) == Some(u128::from(*count))
            && location.checked_sub(*first_location) == Some(*count)
        {
            *count += 1;
            continue;
        }
        runs.push(((table, id), (location, 1)));
    }
    runs
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

    /// The largest ids: a run that ends at the last id, ids in a gap below it, and a stretch
    /// past the last run of a table.
    #[test]
    fn the_largest_ids_are_found() {
        let index = LogIndex::in_memory().expect("index");
        index
            .insert(&[(A.key(u128::MAX - 1), 80), (A.key(u128::MAX), 81), (A.key(7), 1)], false)
            .expect("insert");
        let keys = [
            A.key(8),
            A.key(9),
            A.key(u128::MAX - 3),
            A.key(u128::MAX - 2),
            A.key(u128::MAX - 1),
            A.key(u128::MAX),
        ];
        assert_eq!(index.lookup(&keys).expect("lookup"), vec![None, None, None, None, Some(80), Some(81)]);
        assert_eq!(index.count(A.id.0).expect("count"), 3);
        assert_eq!(read_marks(&index.db).expect("marks"), BTreeMap::from([(A.id.0, u128::MAX)]));
        index.insert(&[(B.key(u128::MAX - 5), 90)], false).expect("insert");
        let keys = [B.key(u128::MAX - 6), B.key(u128::MAX - 5), B.key(u128::MAX - 4), B.key(u128::MAX - 3)];
        assert_eq!(index.lookup(&keys).expect("lookup"), vec![None, Some(90), None, None]);
    }

    /// Blocks of appends to a log, as finalization indexes them: stretches of consecutive ids,
    /// random ids, two tables interleaved. Every lookup agrees with a map of every record, and
    /// consecutive ids cost one entry per stretch.
    #[test]
    fn runs_answer_like_one_entry_per_record() {
        let index = LogIndex::in_memory().expect("index");
        let mut model: BTreeMap<(u16, u128), u64> = BTreeMap::new();
        let mut random = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random
        };
        let (mut location, mut sequential) = (0u64, 1_000u128);
        for _ in 0..60 {
            let mut block = Vec::new();
            for _ in 0..1 + next() % 4 {
                let table = if next() % 3 == 0 { B } else { A };
                if next() % 2 == 0 {
                    // A batch numbered in sequence (sometimes with a gap: a failed transfer).
                    for _ in 0..1 + next() % 50 {
                        sequential += 1 + u128::from(next() % 20 == 0);
                        block.push((table.key(sequential), location));
                        location += 1;
                    }
                } else {
                    let id = u128::from(next()) << 20;
                    block.push((table.key(id), location));
                    location += 1;
                }
            }
            index.insert(&block, false).expect("insert");
            model.extend(block.iter().map(|(key, location)| ((key.table.0, key.id), *location)));
        }
        let mut keys = Vec::new();
        for (table, id) in model.keys() {
            for probe in [id.saturating_sub(1), *id, id + 1] {
                keys.push(Table::log(*table, "probe").key(probe));
            }
        }
        let expected: Vec<Option<u64>> =
            keys.iter().map(|key| model.get(&(key.table.0, key.id)).copied()).collect();
        assert_eq!(index.lookup(&keys).expect("lookup"), expected);
        // Every id of the numbered stretch and around it, in both tables and in one lookup (as a
        // block of batches numbered in sequence asks): runs, gaps between them, ids past the last.
        let stretch: Vec<StateKey> = (990..=sequential + 30)
            .flat_map(|id| [A.key(id), B.key(id), Table::log(0x0102, "c").key(id)])
            .collect();
        let expected: Vec<Option<u64>> =
            stretch.iter().map(|key| model.get(&(key.table.0, key.id)).copied()).collect();
        assert!(expected.iter().filter(|found| found.is_some()).count() > 100, "the stretch meets runs");
        assert_eq!(index.lookup(&stretch).expect("lookup"), expected);
        for table in [A, B] {
            let records = model.keys().filter(|(owner, _)| *owner == table.id.0).count() as u64;
            assert_eq!(index.count(table.id.0).expect("count"), records);
        }
        let read = index.db.begin_read().expect("read");
        let entries = redb::ReadableTableMetadata::len(&read.open_table(RUNS).expect("table")).expect("len");
        assert!(entries * 3 < model.len() as u64, "{entries} entries for {} records", model.len());
        // A rebuild starts from nothing.
        index.clear().expect("clear");
        assert_eq!(index.lookup(&keys[..3]).expect("lookup"), vec![None; 3]);
        assert_eq!(index.count(A.id.0).expect("count"), 0);
    }
}
