//! The read model of finalized history, on disk (redb): finalized blocks, batch outcomes,
//! where each operation landed, each account's transfers by time, balance histories, and each
//! ledger's totals. Queries read it; execution never does.
//!
//! Fed once per finalized block, in height order, in one transaction with the height it
//! reached. Feeding a height again (the chain replays the blocks after the state's last
//! checkpoint after a restart) writes the same entries again, so the index never needs to be
//! exactly as durable as the state: it is made durable at each state checkpoint, before it.

use crate::app::{BatchOutcome, BatchSummary, FinalizedBlock};
use hansa_ledger::AccountBalance;
use hansa_types::codec::{
    Decode, DecodeError, Encode, Reader, decode_bytes, decode_sequence, encode_bytes, encode_sequence,
};
use hansa_types::{Hash, Header, OPERATIONS_PER_BATCH_MAX, OrgId, ResultCode, StateCommitment, Transfer};
use redb::{
    Database, Durability, ReadableDatabase as _, ReadableTable as _, TableDefinition, TableHandle as _,
};
use std::path::Path;
use std::sync::Arc;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const BATCHES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("batches");
/// Where operations were submitted, in runs: (first operation id, height, its index in the
/// block) to the count of operations of one batch with consecutive ids at consecutive indexes
/// (ids that grow within a batch, as TigerBeetle recommends, make one entry per batch instead
/// of one per operation: an insert costs about 1 µs). A run never crosses its batch, so the
/// runs holding an id start at most [`OPERATIONS_PER_BATCH_MAX`] - 1 below it.
const OPERATION_RUNS: TableDefinition<(u128, u64, u32), u32> = TableDefinition::new("operation_runs");
/// The table of one entry per operation that indexes of an earlier format hold.
const OPERATIONS_BEFORE_RUNS: &str = "operations";
/// Each account's transfers, in buckets of accounts: (bucket of the account, timestamp of the
/// bucket's first transfer in a block) to the bucket's transfers in that block, as
/// (timestamp, id, account) entries in timestamp order, packed ([`EntryPacker`]). One entry
/// per bucket and block, not per transfer: a block writes at most [`ACCOUNT_BUCKETS`] entries
/// however many accounts it touches (random inserts into a B-tree cost a page each; this is
/// what keeps the index's cost per transfer small). A query reads its account's bucket and
/// keeps that account's entries.
const ACCOUNT_TRANSFERS: TableDefinition<(u16, u64), &[u8]> =
    TableDefinition::new("account_transfers_packed");
/// The table of unpacked 40-byte entries that indexes of an earlier format hold.
const ACCOUNT_TRANSFERS_BEFORE_PACKING: &str = "account_transfers_by_bucket";
/// Buckets of accounts in [`ACCOUNT_TRANSFERS`].
pub const ACCOUNT_BUCKETS: u16 = 256;

fn put_varint(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u128> {
    let mut value = 0u128;
    for shift in (0..128).step_by(7) {
        let (byte, rest) = bytes.split_first()?;
        *bytes = rest;
        if shift == 126 && byte & 0x7C != 0 {
            return None; // Past 128 bits.
        }
        value |= u128::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The entries of one bucket in one block, as LEB128 varints: the timestamp's increase over
/// the previous entry's (the first: over the table key's timestamp), the id's change from the
/// previous entry's (zigzag; the first: from 0), and the account. Timestamps are consecutive
/// and ids usually grow within a block, so an entry takes about 8 bytes instead of 40.
struct EntryPacker {
    out: Vec<u8>,
    /// The first entry's timestamp: the table key's.
    first: u64,
    timestamp: u64,
    id: u128,
}

impl EntryPacker {
    fn new(first_timestamp: u64) -> EntryPacker {
        EntryPacker { out: Vec::new(), first: first_timestamp, timestamp: first_timestamp, id: 0 }
    }

    fn push(&mut self, timestamp: u64, id: u128, account: u128) {
        put_varint(&mut self.out, u128::from(timestamp.wrapping_sub(self.timestamp)));
        let change = id.wrapping_sub(self.id) as i128;
        put_varint(&mut self.out, ((change << 1) ^ (change >> 127)) as u128);
        put_varint(&mut self.out, account);
        (self.timestamp, self.id) = (timestamp, id);
    }
}

/// The (timestamp, id, account) entries of a packed bucket whose key holds `first_timestamp`.
fn unpack_entries(first_timestamp: u64, mut bytes: &[u8]) -> Result<Vec<(u64, u128, u128)>, IndexError> {
    let malformed = || IndexError("a malformed entry of an account's transfers".into());
    let (mut timestamp, mut id) = (first_timestamp, 0u128);
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let increase =
            u64::try_from(take_varint(&mut bytes).ok_or_else(malformed)?).map_err(|_| malformed())?;
        let zigzag = take_varint(&mut bytes).ok_or_else(malformed)?;
        let account = take_varint(&mut bytes).ok_or_else(malformed)?;
        timestamp = timestamp.wrapping_add(increase);
        let change = ((zigzag >> 1) as i128) ^ -((zigzag & 1) as i128);
        id = id.wrapping_add(change as u128);
        entries.push((timestamp, id, account));
    }
    Ok(entries)
}

/// The bucket of an account (a multiplicative hash of both halves of the id, so that
/// sequential ids spread).
fn bucket(account: u128) -> u16 {
    let mixed = ((account as u64) ^ ((account >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 56) as u16 % ACCOUNT_BUCKETS
}
/// (account id, timestamp) to (height, encoded balance) for accounts with the history flag.
const BALANCES: TableDefinition<(u128, u64), (u64, &[u8])> = TableDefinition::new("balances");
/// The same entries by time, (timestamp, account id), so that pruning finds the expired ones
/// without scanning every account's history. An account's last entry before a pruning cutoff
/// stays in [`BALANCES`] (its balance at later heights) and leaves this table.
const BALANCE_TIMES: TableDefinition<(u64, u128), ()> = TableDefinition::new("balance_times");
/// (ledger id, account id) of every account, for audits.
const ACCOUNT_IDS: TableDefinition<(u32, u128), ()> = TableDefinition::new("account_ids");
/// Ledger id to (Σ debits posted, Σ debits pending, accounts), wrapping.
const TOTALS: TableDefinition<u32, (u128, u128, u64)> = TableDefinition::new("totals");

/// The block a validator that joined from a state snapshot started from: its encoded
/// [`FinalizedBlock`] (header, digest, state, certificate; no batches), under key 0.
const ANCHOR: TableDefinition<u8, &[u8]> = TableDefinition::new("anchor");

const INDEXED_HEIGHT: &str = "indexed_height";
/// History below this height was pruned (0: none).
const PRUNED_BELOW: &str = "pruned_below";
const TRANSFER_COUNT: &str = "transfers";
const ACCOUNT_COUNT: &str = "accounts";

/// Why the index failed: the disk, or a bug. Fatal for the process, like a storage failure.
#[derive(Debug, thiserror::Error)]
#[error("index: {0}")]
pub struct IndexError(pub(crate) String);

fn error(error: impl std::fmt::Display) -> IndexError {
    IndexError(error.to_string())
}

/// Totals of one ledger over all its accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LedgerTotals {
    /// Σ debits posted, which double entry keeps equal to Σ credits posted.
    pub posted: u128,
    /// Σ debits pending, equal to Σ credits pending.
    pub pending: u128,
    /// Accounts on the ledger.
    pub accounts: u64,
}

/// Everything one finalized block adds to the index.
pub struct BlockRecord<'a> {
    /// The block, without its operations.
    pub block: &'a FinalizedBlock,
    /// Its batches' outcomes.
    pub outcomes: &'a [Arc<BatchOutcome>],
    /// The transfers the block created.
    pub transfers: &'a [Transfer],
    /// Balances after each change of accounts with the history flag.
    pub balances: &'a [(u128, AccountBalance)],
    /// The accounts it created, as (ledger, id).
    pub accounts_created: &'a [(u32, u128)],
    /// How it moved each ledger's totals.
    pub deltas: &'a hansa_ledger::BlockDeltas,
}

/// The index, over one redb database.
#[derive(Clone)]
pub struct Index {
    db: Arc<Database>,
}

impl Index {
    /// Opens (or creates) the index at `path`, with a page cache of at most `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Index, IndexError> {
        let db = Database::builder().set_cache_size(cache_bytes).create(path).map_err(error)?;
        let read = db.begin_read().map_err(error)?;
        let tables: Vec<String> =
            read.list_tables().map_err(error)?.map(|table| table.name().to_string()).collect();
        drop(read);
        let has = |name: &str| tables.iter().any(|table| table == name);
        if has(OPERATIONS_BEFORE_RUNS) || has(ACCOUNT_TRANSFERS_BEFORE_PACKING) {
            return Err(IndexError(
                "this index has an earlier format (one entry per operation or unpacked account \
                 transfers), written by an earlier build whose chains this build cannot continue (their \
                 state roots differ): start a new chain, or run the build that wrote this one"
                    .into(),
            ));
        }
        if has(BALANCES.name()) && !has(BALANCE_TIMES.name()) {
            Self::backfill_balance_times(&db)?;
        }
        Ok(Index { db: Arc::new(db) })
    }

    /// Fills [`BALANCE_TIMES`] from [`BALANCES`] in an index written before it existed, so
    /// that pruning finds every entry.
    fn backfill_balance_times(db: &Database) -> Result<(), IndexError> {
        let mut write = db.begin_write().map_err(error)?;
        write.set_durability(Durability::Immediate).map_err(error)?;
        {
            let balances = write.open_table(BALANCES).map_err(error)?;
            let mut times = write.open_table(BALANCE_TIMES).map_err(error)?;
            for entry in balances.iter().map_err(error)? {
                let (id, timestamp) = entry.map_err(error)?.0.value();
                times.insert((timestamp, id), ()).map_err(error)?;
            }
        }
        write.commit().map_err(error)
    }

    /// An index in memory (simulations: it survives a simulated restart as long as the caller
    /// keeps it, like a disk).
    pub fn in_memory() -> Result<Index, IndexError> {
        let db =
            Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).map_err(error)?;
        Ok(Index { db: Arc::new(db) })
    }

    /// The height of the last block recorded (0 if none).
    pub fn indexed_height(&self) -> Result<u64, IndexError> {
        self.meta(INDEXED_HEIGHT)
    }

    fn meta(&self, key: &str) -> Result<u64, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let table = match read.open_table(META) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(other) => return Err(error(other)),
        };
        Ok(table.get(key).map_err(error)?.map_or(0, |value| value.value()))
    }

    /// Records one finalized block; `durable` makes it survive a crash before returning.
    pub fn record(&self, record: &BlockRecord<'_>, durable: bool) -> Result<(), IndexError> {
        let height = record.block.header.height;
        let mut write = self.db.begin_write().map_err(error)?;
        write
            .set_durability(if durable { Durability::Immediate } else { Durability::None })
            .map_err(error)?;
        {
            let mut meta = write.open_table(META).map_err(error)?;
            let indexed = meta.get(INDEXED_HEIGHT).map_err(error)?.map_or(0, |value| value.value());
            if height <= indexed {
                return Ok(()); // Replayed after a restart: recorded already.
            }
            assert_eq!(height, indexed + 1, "the index records blocks in height order");
            let transfers = meta.get(TRANSFER_COUNT).map_err(error)?.map_or(0, |value| value.value());
            let accounts = meta.get(ACCOUNT_COUNT).map_err(error)?.map_or(0, |value| value.value());
            let created: u64 = record.deltas.ledgers.values().map(|delta| delta.accounts_created).sum();
            meta.insert(INDEXED_HEIGHT, height).map_err(error)?;
            meta.insert(TRANSFER_COUNT, transfers + record.transfers.len() as u64).map_err(error)?;
            meta.insert(ACCOUNT_COUNT, accounts + created).map_err(error)?;

            let mut blocks = write.open_table(BLOCKS).map_err(error)?;
            blocks.insert(height, record.block.encode().as_slice()).map_err(error)?;
            let mut batches = write.open_table(BATCHES).map_err(error)?;
            let mut operations = write.open_table(OPERATION_RUNS).map_err(error)?;
            for outcome in record.outcomes {
                batches.insert(&outcome.batch_digest.0, outcome.encode().as_slice()).map_err(error)?;
                for (key, count) in operation_runs(outcome) {
                    operations.insert(key, count).map_err(error)?;
                }
            }
            // A block's transfers are in timestamp order, so each account's list is too; the
            // entries go in in key order.
            let mut by_bucket: Vec<Option<EntryPacker>> =
                std::iter::repeat_with(|| None).take(usize::from(ACCOUNT_BUCKETS)).collect();
            for transfer in record.transfers {
                for account in [transfer.debit_account_id, transfer.credit_account_id] {
                    by_bucket[usize::from(bucket(account))]
                        .get_or_insert_with(|| EntryPacker::new(transfer.timestamp))
                        .push(transfer.timestamp, transfer.id, account);
                }
            }
            let mut account_transfers = write.open_table(ACCOUNT_TRANSFERS).map_err(error)?;
            for (bucket, packer) in by_bucket.iter().enumerate() {
                let Some(packer) = packer else { continue };
                let bucket = u16::try_from(bucket).expect("fewer than 2^16 buckets");
                account_transfers.insert((bucket, packer.first), packer.out.as_slice()).map_err(error)?;
            }
            let mut balances = write.open_table(BALANCES).map_err(error)?;
            let mut balance_times = write.open_table(BALANCE_TIMES).map_err(error)?;
            for (id, balance) in record.balances {
                balances
                    .insert((*id, balance.timestamp), (height, encode_balance(balance).as_slice()))
                    .map_err(error)?;
                balance_times.insert((balance.timestamp, *id), ()).map_err(error)?;
            }
            let mut account_ids = write.open_table(ACCOUNT_IDS).map_err(error)?;
            for key in record.accounts_created {
                account_ids.insert(*key, ()).map_err(error)?;
            }
            let mut totals = write.open_table(TOTALS).map_err(error)?;
            for (ledger, delta) in &record.deltas.ledgers {
                let (posted, pending, count) =
                    totals.get(*ledger).map_err(error)?.map_or((0, 0, 0), |value| value.value());
                let updated = (
                    posted.wrapping_add(delta.posted),
                    pending.wrapping_add(delta.pending),
                    count + delta.accounts_created,
                );
                totals.insert(*ledger, updated).map_err(error)?;
            }
        }
        write.commit().map_err(error)
    }

    /// Records the block of the state snapshot an empty index is about to start from (its
    /// header, digest, state commitment and certificate; its batches and results are not known
    /// here), replacing one recorded by an earlier join that did not finish. Durable when it
    /// returns. [`Index::bootstrap`] completes the start once the state is synced.
    pub fn set_anchor(&self, anchor: &FinalizedBlock) -> Result<(), IndexError> {
        let mut write = self.db.begin_write().map_err(error)?;
        write.set_durability(Durability::Immediate).map_err(error)?;
        {
            let meta = write.open_table(META).map_err(error)?;
            let indexed = meta.get(INDEXED_HEIGHT).map_err(error)?.map_or(0, |value| value.value());
            if indexed != 0 {
                return Err(IndexError(format!(
                    "a snapshot for an index that holds history up to {indexed}"
                )));
            }
            write.open_table(ANCHOR).map_err(error)?.insert(0, anchor.encode().as_slice()).map_err(error)?;
        }
        write.commit().map_err(error)
    }

    /// Starts the index at its anchor's height with the running totals, account ids and counts
    /// of the state there (computed from the synced records). History (blocks, batches,
    /// account transfers, balance histories) begins at the next block. Durable when it returns.
    pub fn bootstrap(
        &self,
        totals: &[(u32, LedgerTotals)],
        account_ids: &[(u32, u128)],
        transfers: u64,
    ) -> Result<(), IndexError> {
        let anchor = self.anchor()?.ok_or_else(|| IndexError("a bootstrap without an anchor".into()))?;
        let mut write = self.db.begin_write().map_err(error)?;
        write.set_durability(Durability::Immediate).map_err(error)?;
        {
            let mut meta = write.open_table(META).map_err(error)?;
            let indexed = meta.get(INDEXED_HEIGHT).map_err(error)?.map_or(0, |value| value.value());
            if indexed != 0 {
                return Err(IndexError(format!("bootstrap of an index that holds history up to {indexed}")));
            }
            meta.insert(INDEXED_HEIGHT, anchor.header.height).map_err(error)?;
            meta.insert(TRANSFER_COUNT, transfers).map_err(error)?;
            meta.insert(ACCOUNT_COUNT, account_ids.len() as u64).map_err(error)?;
            let mut ids = write.open_table(ACCOUNT_IDS).map_err(error)?;
            for key in account_ids {
                ids.insert(*key, ()).map_err(error)?;
            }
            let mut table = write.open_table(TOTALS).map_err(error)?;
            for (ledger, total) in totals {
                table.insert(*ledger, (total.posted, total.pending, total.accounts)).map_err(error)?;
            }
        }
        write.commit().map_err(error)
    }

    /// The block this index started from if its validator joined from a state snapshot
    /// (see [`Index::bootstrap`]); history below and at its height is not held.
    pub fn anchor(&self) -> Result<Option<FinalizedBlock>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, ANCHOR)? else { return Ok(None) };
        let value = table.get(0).map_err(error)?;
        value.map(|bytes| FinalizedBlock::decode(bytes.value()).map_err(error)).transpose()
    }

    /// Makes everything recorded durable.
    pub fn sync(&self) -> Result<(), IndexError> {
        let mut write = self.db.begin_write().map_err(error)?;
        write.set_durability(Durability::Immediate).map_err(error)?;
        write.open_table(META).map_err(error)?;
        write.commit().map_err(error)
    }

    /// A finalized block (without its operations).
    pub fn block(&self, height: u64) -> Result<Option<FinalizedBlock>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, BLOCKS)? else { return Ok(None) };
        let value = table.get(height).map_err(error)?;
        value.map(|bytes| FinalizedBlock::decode(bytes.value()).map_err(error)).transpose()
    }

    /// Drops the history of the blocks below `below`: their records, their batches' outcomes,
    /// where their operations landed, and the account-transfer entries older than block
    /// `below`'s time. Running totals, account ids and balance histories stay. Durable when it
    /// returns. Pruning again below the same height does nothing.
    pub fn prune(&self, below: u64) -> Result<(), IndexError> {
        let pruned = self.meta(PRUNED_BELOW)?;
        if below <= pruned {
            return Ok(());
        }
        let Some(cutoff) = self.block(below)? else {
            return Err(IndexError(format!("pruning below {below}, a block this index does not hold")));
        };
        let cutoff_ns = cutoff.header.timestamp_ms.saturating_mul(hansa_ledger::NANOS_PER_MS);
        let mut write = self.db.begin_write().map_err(error)?;
        write.set_durability(Durability::Immediate).map_err(error)?;
        {
            let mut blocks = write.open_table(BLOCKS).map_err(error)?;
            let mut batches = write.open_table(BATCHES).map_err(error)?;
            let mut operations = write.open_table(OPERATION_RUNS).map_err(error)?;
            let heights: Vec<u64> = blocks
                .range(pruned..below)
                .map_err(error)?
                .map(|entry| entry.map(|(key, _)| key.value()).map_err(error))
                .collect::<Result<_, _>>()?;
            for height in heights {
                let Some(bytes) = blocks.remove(height).map_err(error)? else { continue };
                let block = FinalizedBlock::decode(bytes.value()).map_err(error)?;
                drop(bytes);
                for summary in &block.batches {
                    let removed = batches.remove(&summary.digest.0).map_err(error)?;
                    let Some(outcome) = removed.map(|bytes| BatchOutcome::decode(bytes.value())) else {
                        continue;
                    };
                    let outcome = outcome.map_err(error)?;
                    // A batch digest seen again later (a replayed batch) keeps its later outcome.
                    if outcome.height != height {
                        batches.insert(&summary.digest.0, outcome.encode().as_slice()).map_err(error)?;
                        continue;
                    }
                    for (key, _) in operation_runs(&outcome) {
                        operations.remove(key).map_err(error)?;
                    }
                }
            }
            let mut account_transfers = write.open_table(ACCOUNT_TRANSFERS).map_err(error)?;
            for bucket in 0..ACCOUNT_BUCKETS {
                account_transfers.retain_in((bucket, 0)..(bucket, cutoff_ns), |_, _| false).map_err(error)?;
            }
            // Balance histories: each account's entries before the cutoff go, but its last one
            // (its balance from then until its next change, inside the window).
            let mut balance_times = write.open_table(BALANCE_TIMES).map_err(error)?;
            let mut last_before: std::collections::BTreeMap<u128, u64> = std::collections::BTreeMap::new();
            for entry in balance_times.range((0, 0)..(cutoff_ns, 0)).map_err(error)? {
                let (timestamp, id) = entry.map_err(error)?.0.value();
                last_before.insert(id, timestamp); // In time order: the last one stays.
            }
            balance_times.retain_in((0, 0)..(cutoff_ns, 0), |_, _| false).map_err(error)?;
            let mut balances = write.open_table(BALANCES).map_err(error)?;
            for (id, last) in last_before {
                balances.retain_in((id, 0)..(id, last), |_, _| false).map_err(error)?;
            }
            write.open_table(META).map_err(error)?.insert(PRUNED_BELOW, below).map_err(error)?;
        }
        write.commit().map_err(error)
    }

    /// The lowest height whose history this index holds (1 unless pruned or started from a
    /// snapshot).
    pub fn history_from(&self) -> Result<u64, IndexError> {
        let anchored = self.anchor()?.map_or(1, |anchor| anchor.header.height + 1);
        Ok(anchored.max(self.meta(PRUNED_BELOW)?))
    }

    /// The header record at `height` for proofs: the indexed block, or the snapshot block this
    /// index started from when it is at that height (its batches are not known here).
    pub fn header_at(&self, height: u64) -> Result<Option<FinalizedBlock>, IndexError> {
        if let Some(block) = self.block(height)? {
            return Ok(Some(block));
        }
        Ok(self.anchor()?.filter(|anchor| anchor.header.height == height))
    }

    /// The outcome of a finalized batch.
    pub fn batch(&self, digest: &Hash) -> Result<Option<BatchOutcome>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, BATCHES)? else { return Ok(None) };
        let value = table.get(&digest.0).map_err(error)?;
        value.map(|bytes| BatchOutcome::decode(bytes.value()).map_err(error)).transpose()
    }

    /// Every place an operation id was submitted (retries land more than once), oldest first.
    pub fn locations(&self, id: u128) -> Result<Vec<(u64, u32)>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, OPERATION_RUNS)? else { return Ok(Vec::new()) };
        let lowest = id.saturating_sub(OPERATIONS_PER_BATCH_MAX as u128 - 1);
        let mut found = Vec::new();
        for entry in table.range((lowest, 0, 0)..=(id, u64::MAX, u32::MAX)).map_err(error)? {
            let (key, count) = entry.map_err(error)?;
            let (first, height, index) = key.value();
            if id - first < u128::from(count.value()) {
                found.push((height, index + (id - first) as u32));
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Ids of an account's transfers with a timestamp in `[from, to]`, oldest first (newest
    /// first if `reversed`), at most `limit`, among those `keep` accepts.
    pub fn account_transfers(
        &self,
        account: u128,
        from: u64,
        to: u64,
        reversed: bool,
        limit: usize,
        mut keep: impl FnMut(u128) -> bool,
    ) -> Result<Vec<u128>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, ACCOUNT_TRANSFERS)? else { return Ok(Vec::new()) };
        if from > to {
            return Ok(Vec::new());
        }
        let unpack = |first: u64, bytes: &[u8]| -> Result<Vec<(u64, u128)>, IndexError> {
            Ok(unpack_entries(first, bytes)?
                .into_iter()
                .filter(|entry| entry.2 == account)
                .map(|(timestamp, id, _)| (timestamp, id))
                .collect())
        };
        let account_bucket = bucket(account);
        let mut ids = Vec::new();
        let mut take = |pairs: &mut dyn Iterator<Item = (u64, u128)>, ids: &mut Vec<u128>| {
            for (timestamp, id) in pairs {
                if (from..=to).contains(&timestamp) && keep(id) {
                    ids.push(id);
                    if ids.len() >= limit {
                        return true;
                    }
                }
            }
            false
        };
        // Entries are keyed by their first timestamp: the one starting at or before `from`
        // may hold transfers inside the range too.
        if reversed {
            let range = table.range((account_bucket, 0)..=(account_bucket, to)).map_err(error)?;
            for entry in range.rev() {
                let (key, value) = entry.map_err(error)?;
                let first = key.value().1;
                if take(&mut unpack(first, value.value())?.into_iter().rev(), &mut ids) || first <= from {
                    break;
                }
            }
        } else {
            let start = table
                .range((account_bucket, 0)..=(account_bucket, from))
                .map_err(error)?
                .next_back()
                .transpose()
                .map_err(error)?
                .map_or(from, |(key, _)| key.value().1);
            for entry in table.range((account_bucket, start)..=(account_bucket, to)).map_err(error)? {
                let (key, value) = entry.map_err(error)?;
                if take(&mut unpack(key.value().1, value.value())?.into_iter(), &mut ids) {
                    break;
                }
            }
        }
        Ok(ids)
    }

    /// An account's balance history (accounts with the history flag), oldest first, with the
    /// height that produced each balance.
    pub fn balances(&self, account: u128, limit: usize) -> Result<Vec<(u64, AccountBalance)>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, BALANCES)? else { return Ok(Vec::new()) };
        let range = table.range((account, 0)..=(account, u64::MAX)).map_err(error)?;
        let mut out = Vec::new();
        for entry in range.take(limit) {
            let (_, value) = entry.map_err(error)?;
            let (height, bytes) = value.value();
            out.push((height, decode_balance(bytes).map_err(error)?));
        }
        Ok(out)
    }

    /// The last balance of an account at or before block `height`.
    pub fn balance_at(&self, account: u128, height: u64) -> Result<Option<AccountBalance>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, BALANCES)? else { return Ok(None) };
        let range = table.range((account, 0)..=(account, u64::MAX)).map_err(error)?;
        for entry in range.rev() {
            let (_, value) = entry.map_err(error)?;
            let (at, bytes) = value.value();
            if at <= height {
                return Ok(Some(decode_balance(bytes).map_err(error)?));
            }
        }
        Ok(None)
    }

    /// Each ledger's totals.
    pub fn totals(&self) -> Result<Vec<(u32, LedgerTotals)>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, TOTALS)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in table.iter().map_err(error)? {
            let (key, value) = entry.map_err(error)?;
            let (posted, pending, accounts) = value.value();
            out.push((key.value(), LedgerTotals { posted, pending, accounts }));
        }
        Ok(out)
    }

    /// The ids of every account of `ledger`.
    pub fn account_ids(&self, ledger: u32) -> Result<Vec<u128>, IndexError> {
        let read = self.db.begin_read().map_err(error)?;
        let Some(table) = open(&read, ACCOUNT_IDS)? else { return Ok(Vec::new()) };
        let range = table.range((ledger, 0)..=(ledger, u128::MAX)).map_err(error)?;
        range.map(|entry| entry.map(|(key, _)| key.value().1).map_err(error)).collect()
    }

    /// How many transfers and accounts the finalized blocks created.
    pub fn counts(&self) -> Result<(u64, u64), IndexError> {
        Ok((self.meta(TRANSFER_COUNT)?, self.meta(ACCOUNT_COUNT)?))
    }
}

fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &redb::ReadTransaction,
    definition: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, IndexError> {
    match read.open_table(definition) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(other) => Err(error(other)),
    }
}

fn encode_balance(balance: &AccountBalance) -> Vec<u8> {
    let mut out = Vec::with_capacity(72);
    balance.debits_pending.encode_to(&mut out);
    balance.debits_posted.encode_to(&mut out);
    balance.credits_pending.encode_to(&mut out);
    balance.credits_posted.encode_to(&mut out);
    balance.timestamp.encode_to(&mut out);
    out
}

fn decode_balance(bytes: &[u8]) -> Result<AccountBalance, DecodeError> {
    let mut reader = Reader::new(bytes);
    let balance = AccountBalance {
        debits_pending: Decode::decode_from(&mut reader)?,
        debits_posted: Decode::decode_from(&mut reader)?,
        credits_pending: Decode::decode_from(&mut reader)?,
        credits_posted: Decode::decode_from(&mut reader)?,
        timestamp: Decode::decode_from(&mut reader)?,
    };
    reader.finish()?;
    Ok(balance)
}

/// Most results one block can hold (its operations).
const RESULTS_MAX: usize = hansa_types::block::OPERATIONS_PER_BLOCK_MAX;

impl Encode for BatchSummary {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.digest.encode_to(out);
        self.org.encode_to(out);
        self.sequence.encode_to(out);
        self.operations.encode_to(out);
    }
}

impl Decode for BatchSummary {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BatchSummary {
            digest: Decode::decode_from(reader)?,
            org: OrgId::decode_from(reader)?,
            sequence: Decode::decode_from(reader)?,
            operations: Decode::decode_from(reader)?,
        })
    }
}

impl Encode for FinalizedBlock {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        self.digest.encode_to(out);
        encode_sequence(&self.batches, out);
        encode_sequence(&self.results, out);
        self.state.encode_to(out);
        encode_bytes(&self.certificate, out);
    }
}

impl Decode for FinalizedBlock {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FinalizedBlock {
            header: Header::decode_from(reader)?,
            digest: Decode::decode_from(reader)?,
            batches: decode_sequence(reader, "batches", hansa_types::block::BATCHES_PER_BLOCK_MAX)?,
            results: decode_sequence::<ResultCode>(reader, "results", RESULTS_MAX)?,
            state: StateCommitment::decode_from(reader)?,
            certificate: decode_bytes(reader, "certificate", 1 << 20)?,
        })
    }
}

impl Encode for BatchOutcome {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.batch_digest.encode_to(out);
        self.org.encode_to(out);
        self.sequence.encode_to(out);
        self.height.encode_to(out);
        self.block_digest.encode_to(out);
        self.first_index.encode_to(out);
        // In runs of consecutive ids with one result: one run for a batch numbered in sequence
        // whose operations all succeeded, instead of 20 bytes per operation.
        let runs = result_runs(&self.results);
        (runs.len() as u32).encode_to(out);
        for (first, count, code) in runs {
            first.encode_to(out);
            count.encode_to(out);
            code.encode_to(out);
        }
    }
}

/// `results` as (first id, count, result) runs of consecutive ids with the same result.
fn result_runs(results: &[(u128, ResultCode)]) -> Vec<(u128, u32, ResultCode)> {
    let mut runs: Vec<(u128, u32, ResultCode)> = Vec::new();
    for (id, code) in results {
        if let Some((first, count, run_code)) = runs.last_mut()
            && run_code == code
            && id.checked_sub(*first) == Some(u128::from(*count))
        {
            *count += 1;
            continue;
        }
        runs.push((*id, 1, *code));
    }
    runs
}

/// The [`OPERATION_RUNS`] entries of a batch's operations.
fn operation_runs(outcome: &BatchOutcome) -> Vec<((u128, u64, u32), u32)> {
    let mut runs: Vec<((u128, u64, u32), u32)> = Vec::new();
    for (offset, (id, _)) in outcome.results.iter().enumerate() {
        if let Some(((first, _, _), count)) = runs.last_mut()
            && id.checked_sub(*first) == Some(u128::from(*count))
        {
            *count += 1;
            continue;
        }
        runs.push(((*id, outcome.height, outcome.first_index + offset as u32), 1));
    }
    runs
}

impl Decode for BatchOutcome {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BatchOutcome {
            batch_digest: Decode::decode_from(reader)?,
            org: OrgId::decode_from(reader)?,
            sequence: Decode::decode_from(reader)?,
            height: Decode::decode_from(reader)?,
            block_digest: Decode::decode_from(reader)?,
            first_index: Decode::decode_from(reader)?,
            results: decode_result_runs(reader)?,
        })
    }
}

fn decode_result_runs(reader: &mut Reader<'_>) -> Result<Vec<(u128, ResultCode)>, DecodeError> {
    let runs = u32::decode_from(reader)?;
    let mut results = Vec::new();
    for _ in 0..runs {
        let first = u128::decode_from(reader)?;
        let count = u32::decode_from(reader)?;
        let code = ResultCode::decode_from(reader)?;
        let length = results.len() + count as usize;
        if length > OPERATIONS_PER_BATCH_MAX {
            return Err(DecodeError::TooLong { what: "results", length, maximum: OPERATIONS_PER_BATCH_MAX });
        }
        if count == 0 || first.checked_add(u128::from(count)).is_none() {
            return Err(DecodeError::InvalidValue { what: "a run of results", value: u64::from(count) });
        }
        results.extend((0..u128::from(count)).map(|offset| (first + offset, code)));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hansa_types::{Amount, Hash, Header, OrgId, PendingStatus, StateCommitment, TransferFlags};

    fn transfer(id: u128, debit: u128, credit: u128, timestamp: u64) -> Transfer {
        Transfer {
            id,
            debit_account_id: debit,
            credit_account_id: credit,
            amount: Amount(1),
            pending_id: 0,
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            timeout_s: 0,
            ledger: 1,
            code: 1,
            flags: TransferFlags(0),
            timestamp,
            submitter: OrgId(1),
            status: PendingStatus::None,
        }
    }

    /// Packed entries read back as they went in: ids that grow, fall, jump across the whole
    /// range, repeat; extreme accounts; equal timestamps (both sides of one transfer).
    #[test]
    fn packed_account_entries_read_back() {
        let mut random = crate::sim::SplitMix64::new(11);
        let first = 1_796_055_042_979_000_000u64;
        let mut entries = Vec::new();
        let mut timestamp = first;
        for n in 0..2_000u128 {
            let id = match n % 5 {
                0 => 1_000 + n,
                1 => u128::MAX - n,
                2 => u128::from(random.next_u64()) << 64 | u128::from(random.next_u64()),
                3 => 0,
                _ => entries.last().map_or(5, |(_, id, _)| *id),
            };
            let account = if n % 3 == 0 { u128::MAX } else { u128::from(random.next_u64() % 10_000) };
            entries.push((timestamp, id, account));
            timestamp += random.next_u64() % 3; // sometimes the same timestamp
        }
        let mut packer = EntryPacker::new(first);
        for (timestamp, id, account) in &entries {
            packer.push(*timestamp, *id, *account);
        }
        assert_eq!(unpack_entries(first, &packer.out).expect("unpacks"), entries);
        // Sequential ids and small accounts, as a block of W1 writes them: about 8 bytes each.
        let mut packer = EntryPacker::new(first);
        for n in 0..1_000u64 {
            packer.push(first + n, u128::from(1_000_000 + n), u128::from(10_000 + n % 97));
        }
        assert!(packer.out.len() <= 1_000 * 8, "{} bytes", packer.out.len());
        // A varint cut short, or one past 128 bits, is refused, not misread.
        assert!(unpack_entries(first, &packer.out[..packer.out.len() - 1]).is_err());
        let mut past = vec![0xFF; 18];
        past.push(0x04);
        assert_eq!(take_varint(&mut past.as_slice()), None);
        let mut most = vec![0xFF; 18];
        most.push(0x03);
        assert_eq!(take_varint(&mut most.as_slice()), Some(u128::MAX));
    }

    /// An index written before the account lists were packed is refused with a clear error,
    /// not misread.
    #[test]
    fn an_index_of_the_unpacked_format_is_refused() {
        let path = std::env::temp_dir().join(format!("hansa-index-old-{}.redb", std::process::id()));
        {
            let db = Database::create(&path).expect("create");
            let write = db.begin_write().expect("write");
            let old: TableDefinition<(u16, u64), &[u8]> =
                TableDefinition::new(ACCOUNT_TRANSFERS_BEFORE_PACKING);
            write.open_table(old).expect("table").insert((1, 2), [0u8; 40].as_slice()).expect("insert");
            write.commit().expect("commit");
        }
        let refused = Index::open(&path, 1 << 20).err().expect("refused");
        assert!(refused.0.contains("earlier format"), "{refused:?}");
        std::fs::remove_file(&path).expect("remove");
    }

    /// Pruning drops each account's balance entries from before the cutoff but its last one,
    /// so its balance at every height from the cutoff on is what it was before; an index
    /// written before the table by time existed is filled in when opened and prunes the same
    /// way.
    #[test]
    fn pruning_keeps_each_accounts_last_balance_before_the_cutoff() {
        let path = std::env::temp_dir().join(format!("hansa-index-balances-{}.redb", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let index = Index::open(&path, 1 << 20).expect("open");
        // Account 11 changes at every height, 12 at heights 2 and 5, 13 at heights 9 and 20.
        let changes = |height: u64| -> Vec<u128> {
            let mut ids = vec![11];
            if height == 2 || height == 5 {
                ids.push(12);
            }
            if height == 9 || height == 20 {
                ids.push(13);
            }
            ids
        };
        for height in 1..=24u64 {
            let balances: Vec<(u128, AccountBalance)> = changes(height)
                .into_iter()
                .enumerate()
                .map(|(k, id)| {
                    let balance = AccountBalance {
                        debits_pending: hansa_types::Amount(0),
                        debits_posted: hansa_types::Amount(u128::from(height)),
                        credits_pending: hansa_types::Amount(0),
                        credits_posted: hansa_types::Amount(id),
                        timestamp: height * 1_000_000 + k as u64,
                    };
                    (id, balance)
                })
                .collect();
            let summary = block(height);
            let deltas = hansa_ledger::BlockDeltas::default();
            let record = BlockRecord {
                block: &summary,
                outcomes: &[],
                transfers: &[],
                balances: &balances,
                accounts_created: &[],
                deltas: &deltas,
            };
            index.record(&record, false).expect("record");
        }
        let accounts = [11u128, 12, 13];
        let before: Vec<Vec<Option<AccountBalance>>> = accounts
            .iter()
            .map(|id| (0..=24).map(|height| index.balance_at(*id, height).expect("balance")).collect())
            .collect();
        let heights = |index: &Index, id: u128| -> Vec<u64> {
            index.balances(id, 100).expect("balances").into_iter().map(|(height, _)| height).collect()
        };
        let prune = |index: &Index, below: u64| {
            index.prune(below).expect("prune");
            for (position, id) in accounts.iter().enumerate() {
                for height in below..=24 {
                    let balance = index.balance_at(*id, height).expect("balance");
                    assert_eq!(balance, before[position][height as usize], "account {id} at {height}");
                }
            }
            let read = index.db.begin_read().expect("read");
            let times = read.open_table(BALANCE_TIMES).expect("times");
            let cutoff_ns = below * 1_000_000;
            assert_eq!(times.range((0, 0)..(cutoff_ns, 0)).expect("range").count(), 0, "expired rows stay");
        };
        prune(&index, 6);
        assert_eq!(heights(&index, 11), (5..=24).collect::<Vec<u64>>());
        assert_eq!(heights(&index, 12), vec![5]);
        assert_eq!(heights(&index, 13), vec![9, 20]);

        // As an index of the earlier format: no table by time. Reopened, it is filled in.
        let write = index.db.begin_write().expect("write");
        write.delete_table(BALANCE_TIMES).expect("delete");
        write.commit().expect("commit");
        drop(index);
        let index = Index::open(&path, 1 << 20).expect("reopen");
        prune(&index, 15);
        assert_eq!(heights(&index, 11), (14..=24).collect::<Vec<u64>>());
        assert_eq!(heights(&index, 12), vec![5], "its last balance answers for every later height");
        assert_eq!(heights(&index, 13), vec![9, 20]);
        drop(index);
        std::fs::remove_file(&path).expect("remove");
    }

    /// A distinct digest per (height, batch).
    fn digest(height: u64, batch: u64) -> Hash {
        let mut bytes = [7u8; 32];
        bytes[..8].copy_from_slice(&height.to_le_bytes());
        bytes[8..16].copy_from_slice(&batch.to_le_bytes());
        Hash(bytes)
    }

    fn block(height: u64) -> FinalizedBlock {
        let zero = Hash::ZERO;
        FinalizedBlock {
            header: Header {
                version: 1,
                height,
                parent: zero,
                timestamp_ms: height,
                state_root: zero,
                operations_root: zero,
                operations_count: 0,
                results_root: zero,
                context: vec![],
            },
            digest: Hash([height as u8; 32]),
            batches: vec![],
            results: vec![],
            state: StateCommitment {
                records_root: zero,
                records_ops_root: zero,
                records_range: (0, 0),
                log_root: zero,
                log_range: (0, 0),
            },
            certificate: vec![],
        }
    }

    /// Runs of operations and of results answer exactly as one entry per operation would:
    /// batches numbered in sequence, with gaps, random ids, ids submitted again in later
    /// batches and blocks, and mixed results; after pruning, only the kept blocks' entries.
    #[test]
    fn operation_and_result_runs_answer_like_one_entry_per_operation() {
        let index = Index::in_memory().expect("index");
        let mut state = 5u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        let codes = [ResultCode::Ok, ResultCode::Ok, ResultCode::Exists, ResultCode::ExceedsCredits];
        let mut model: std::collections::BTreeMap<u128, Vec<(u64, u32)>> = Default::default();
        let mut outcomes_by_height: Vec<Vec<BatchOutcome>> = Vec::new();
        let mut sequential = 1_000u128;
        for height in 1..=24u64 {
            let mut outcomes = Vec::new();
            let mut summary = block(height);
            let mut first_index = 0u32;
            for batch in 0..1 + next() % 3 {
                let mut results = Vec::new();
                for _ in 0..1 + next() % 40 {
                    let id = match next() % 6 {
                        0 => u128::from(next()) << 40,
                        // Again: an id submitted before.
                        1 if !model.is_empty() => {
                            *model.keys().nth(next() as usize % model.len()).expect("an id")
                        }
                        _ => {
                            sequential += 1 + u128::from(next() % 9 == 0);
                            sequential
                        }
                    };
                    results.push((id, codes[next() as usize % codes.len()]));
                }
                for (offset, (id, _)) in results.iter().enumerate() {
                    model.entry(*id).or_default().push((height, first_index + offset as u32));
                }
                let outcome = BatchOutcome {
                    batch_digest: digest(height, batch),
                    org: OrgId(1),
                    sequence: height * 10 + batch,
                    height,
                    block_digest: summary.digest,
                    first_index,
                    results,
                };
                summary.batches.push(BatchSummary {
                    digest: outcome.batch_digest,
                    org: outcome.org,
                    sequence: outcome.sequence,
                    operations: outcome.results.len() as u32,
                });
                first_index += outcome.results.len() as u32;
                outcomes.push(outcome);
            }
            let outcomes: Vec<Arc<BatchOutcome>> = outcomes.into_iter().map(Arc::new).collect();
            let deltas = hansa_ledger::BlockDeltas::default();
            let record = BlockRecord {
                block: &summary,
                outcomes: &outcomes,
                transfers: &[],
                balances: &[],
                accounts_created: &[],
                deltas: &deltas,
            };
            index.record(&record, false).expect("record");
            outcomes_by_height.push(outcomes.iter().map(|outcome| (**outcome).clone()).collect());
        }
        let check = |index: &Index, from: u64| {
            for (id, places) in &model {
                for probe in [id.saturating_sub(1), *id, id + 1] {
                    let mut expected: Vec<(u64, u32)> = model.get(&probe).cloned().unwrap_or_default();
                    expected.retain(|(height, _)| *height >= from);
                    expected.sort_unstable();
                    assert_eq!(index.locations(probe).expect("locations"), expected, "id {probe}");
                }
                assert!(!places.is_empty());
            }
            for outcome in outcomes_by_height.iter().flatten() {
                let stored = index.batch(&outcome.batch_digest).expect("batch");
                if outcome.height >= from {
                    assert_eq!(stored.as_ref(), Some(outcome));
                } else {
                    assert_eq!(stored, None);
                }
            }
        };
        check(&index, 1);
        index.prune(10).expect("prune");
        check(&index, 10);
    }

    /// Each account's transfers from the bucketed table are exactly those a plain scan of
    /// every transfer finds, for any time window, direction and limit, also for accounts that
    /// share a bucket and for accounts with no transfer.
    #[test]
    fn account_transfers_match_a_plain_scan() {
        let index = Index::in_memory().expect("index");
        // Accounts that share a bucket with the first are among them.
        let sharing: Vec<u128> = (1_001..).filter(|a| bucket(*a) == bucket(1_000)).take(3).collect();
        let accounts: Vec<u128> =
            (0..40u128).map(|i| 1_000 + i * 7).chain(sharing).chain([u128::MAX - 3, 1 << 100]).collect();
        let mut all = Vec::new();
        let mut state = 17u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        for height in 1..=30u64 {
            let mut transfers = Vec::new();
            for offset in 0..(next() % 12) {
                let debit = accounts[(next() % accounts.len() as u64) as usize];
                let mut credit = accounts[(next() % accounts.len() as u64) as usize];
                if credit == debit {
                    credit = accounts[0] + 1;
                }
                let id = u128::from(height) * 1_000 + u128::from(offset);
                transfers.push(transfer(id, debit, credit, height * 1_000_000 + offset));
            }
            let deltas = hansa_ledger::BlockDeltas::default();
            let summary = block(height);
            let record = BlockRecord {
                block: &summary,
                outcomes: &[],
                transfers: &transfers,
                balances: &[],
                accounts_created: &[],
                deltas: &deltas,
            };
            index.record(&record, false).expect("record");
            all.extend(transfers);
        }
        let mut queried = accounts.clone();
        queried.push(999_999); // no transfers
        for account in queried {
            for (from, to) in
                [(0, u64::MAX), (5_000_000, 20_000_003), (12_000_004, 12_000_004), (31_000_000, u64::MAX)]
            {
                for reversed in [false, true] {
                    for limit in [1, 3, 1_000] {
                        let mut expected: Vec<u128> = all
                            .iter()
                            .filter(|t| t.debit_account_id == account || t.credit_account_id == account)
                            .filter(|t| (from..=to).contains(&t.timestamp))
                            .map(|t| t.id)
                            .collect();
                        if reversed {
                            expected.reverse();
                        }
                        expected.truncate(limit);
                        let got = index
                            .account_transfers(account, from, to, reversed, limit, |_| true)
                            .expect("query");
                        assert_eq!(
                            got, expected,
                            "account {account} {from}..={to} reversed {reversed} limit {limit}"
                        );
                    }
                }
            }
        }
    }
}
