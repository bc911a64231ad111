//! The store: QMDB `current` for current records, QMDB `keyless` for log records, a redb index
//! of log records by key ([`LogIndex`]), and a metadata record of the last checkpoint.
//!
//! # Lifecycle
//! - [`Store::open`] reopens the databases at the last checkpoint (rewinding any that got
//!   ahead of it before a crash) or creates them empty, with a checkpoint at height 0.
//! - [`Store::speculate`] builds the state after an unfinalized block from its parent's
//!   ([`Speculation`], or the applied tip) and the block's write set: QMDB batches chained on
//!   the parent's, merkleized, so the block's state root is known and nothing touched disk.
//! - [`Store::apply`] applies a finalized block's speculation (in height order); the state
//!   changes in the databases, not yet durably.
//! - [`Store::checkpoint`] makes everything applied durable and records the height. A restart
//!   resumes from the last checkpoint; the chain replays the finalized blocks after it.
//!
//! # Crash safety
//! The checkpoint is written last, after the log index, the log and the records are durable.
//! On open, the log and the records are rewound to the sizes the checkpoint recorded, so they
//! agree with each other and with the recorded commitment (checked). Index entries a crashed
//! run wrote past the checkpoint point past the log's size and are ignored; the replayed blocks
//! write them again.
//!
//! # Snapshots
//! A checkpoint is also what peers sync from ([`Store::serve_sync`], [`Store::sync_from`]):
//! the records are pruned only to the sync boundary of a checkpoint [`SNAPSHOTS_KEPT`]
//! checkpoints back, so a peer syncing to a recent checkpoint finds every operation it needs.
//!
//! # Concurrency
//! QMDB's mutating calls take a database by value, so the databases sit in one async lock:
//! reads share it, applying and checkpointing take it alone. A mutation that fails leaves the
//! database unusable, so a failed mutation is fatal for the process (the validator restarts
//! from its last checkpoint), never silently continued.

use crate::log_index::{LogIndex, LogIndexError};
use crate::proof::RecordProof;
use crate::sync::{FETCH_OPS, FETCH_REQUESTS_OUTSTANDING, Part, Peers, Remote};
use commonware_cryptography::{Sha256, sha256::Digest};
use commonware_parallel::Sequential;
use commonware_runtime::{BLOB_PAGE_SIZE, Spawner, buffer::paged::CacheRef, buffer::paged::page_size};
use commonware_storage::{
    journal::contiguous::variable::Config as JournalConfig,
    merkle::{Location, full::Config as MerkleConfig, mmb},
    metadata::{self, Metadata},
    qmdb::{self, current, floor::Proportional, keyless},
    translator::{EightCap, Hashed},
};
use commonware_utils::{
    NZU64, NZUsize,
    sequence::{FixedBytes, U64},
};
use futures::StreamExt as _;
use hansa_types::{Decode, Encode, Hash, StateCommitment, StateKey, TableId, TableKind, WriteSet};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::sync::Arc;
use tokio::sync::RwLock;

/// The Merkle family of both databases: Commonware's MMB, which its QMDB benches use.
pub(crate) type Family = mmb::Family;
/// Bytes per chunk of the activity bitmap of the `current` database.
pub(crate) const CHUNK: usize = 32;
/// A record's key in storage: table id (u16 LE) then id (u128 LE).
pub type StorageKey = FixedBytes<18>;

type RecordsDb<E> = current::unordered::variable::Db<
    Family,
    E,
    StorageKey,
    Vec<u8>,
    Sha256,
    Hashed<EightCap>,
    CHUNK,
    Sequential,
>;
type RecordsBatch = Arc<
    current::batch::MerkleizedBatch<
        Family,
        Digest,
        qmdb::any::unordered::variable::Update<StorageKey, Vec<u8>>,
        CHUNK,
        Sequential,
    >,
>;
type LogDb<E> = keyless::variable::Db<Family, E, Vec<u8>, Sha256, Sequential>;
type LogBatch = Arc<
    keyless::batch::MerkleizedBatch<Family, Digest, qmdb::any::value::VariableEncoding<Vec<u8>>, Sequential>,
>;
type Meta<E> = Metadata<E, U64, Vec<u8>>;
/// An operation of the records database, as state sync carries it.
pub(crate) type RecordsOp = qmdb::any::unordered::variable::Operation<Family, StorageKey, Vec<u8>>;
/// An operation of the log, as state sync carries it.
pub(crate) type LogOp = keyless::variable::Operation<Family, Vec<u8>>;

/// How a records operation decodes (bounded: a peer's bytes are untrusted). Values are
/// stored packed, which can be a little longer than the record.
pub(crate) fn records_op_codec() -> <RecordsOp as commonware_codec::Read>::Cfg {
    ((), ((0..=crate::pack::packed_max(RECORD_BYTES_MAX)).into(), ()))
}

/// How a log operation decodes.
pub(crate) fn log_op_codec() -> <LogOp as commonware_codec::Read>::Cfg {
    ((0..=crate::pack::packed_max(RECORD_BYTES_MAX) + 18).into(), ())
}

/// Checkpoints whose state peers can still sync to: the records are pruned to the sync
/// boundary of the oldest of them.
pub const SNAPSHOTS_KEPT: usize = 8;
type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<ahash::AHasher>>;

/// The largest record or log entry stored, in bytes (a sequence window is about 8 KiB; an
/// expiry bucket holds at most two blocks' worth of holds).
pub const RECORD_BYTES_MAX: usize = 8 << 20;

/// Metadata key of the last checkpoint.
const CHECKPOINT_KEY: u64 = 1;
/// Metadata key of the genesis commitment (the empty state's).
const GENESIS_KEY: u64 = 2;
/// Metadata key present while a state sync is under way (its value: the target height). A
/// store that reopens with it holds a partial state: it syncs again before anything else.
const SYNCING_KEY: u64 = 3;
/// Metadata key of the storage format the databases were written in ([`STORAGE_FORMAT`]).
const FORMAT_KEY: u64 = 4;
/// The storage format: 2 stores every value packed ([`crate::pack`]). Data folders of the
/// earlier format (values as they are, no format key) are refused with a clear error.
pub const STORAGE_FORMAT: u64 = 2;

/// A stored value as the databases hold and hash it.
pub(crate) fn stored(value: &[u8]) -> Vec<u8> {
    crate::pack::pack(value)
}

/// A value as the databases hold it, unpacked.
fn unstored(packed: &[u8]) -> Result<Vec<u8>, StoreError> {
    crate::pack::unpack(packed, RECORD_BYTES_MAX).map_err(|error| StoreError::Malformed(error.to_string()))
}

/// The storage key of a state key.
pub(crate) fn storage_key(key: &StateKey) -> StorageKey {
    let mut bytes = [0u8; 18];
    bytes[..2].copy_from_slice(&key.table.0.to_le_bytes());
    bytes[2..].copy_from_slice(&key.id.to_le_bytes());
    FixedBytes::new(bytes)
}

fn hash_of(digest: &Digest) -> Hash {
    Hash(digest.as_ref().try_into().expect("SHA-256 digests are 32 bytes"))
}

/// A log entry: the record's key, then its value (so the log alone can rebuild the index).
pub(crate) fn log_entry(key: &StateKey, value: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(18 + value.len());
    key.encode_to(&mut bytes);
    bytes.extend_from_slice(value);
    bytes
}

/// Splits a log entry into its key and value.
pub(crate) fn split_log_entry(entry: &[u8]) -> Option<(StateKey, &[u8])> {
    if entry.len() < 18 {
        return None;
    }
    let key = StateKey::decode(&entry[..18]).ok()?;
    Some((key, &entry[18..]))
}

/// Sizes and caches of the store; every bound is named.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Prefix of every storage partition (several validators may share a storage directory).
    pub partition_prefix: String,
    /// Pages (4 KiB) of the page cache shared by the databases' journals.
    pub page_cache_pages_max: NonZeroUsize,
    /// Bytes each journal buffers before writing.
    pub write_buffer_bytes: NonZeroUsize,
    /// How a key's table is kept (current or log); the ledger knows.
    pub kind: fn(&StateKey) -> TableKind,
}

impl StoreConfig {
    /// Production sizes: a 256 MiB page cache.
    pub fn new(partition_prefix: impl Into<String>, kind: fn(&StateKey) -> TableKind) -> StoreConfig {
        StoreConfig {
            partition_prefix: partition_prefix.into(),
            page_cache_pages_max: NZUsize!(65_536),
            write_buffer_bytes: NZUsize!(1 << 20),
            kind,
        }
    }

    /// Small sizes for tests and simulations.
    pub fn small(partition_prefix: impl Into<String>, kind: fn(&StateKey) -> TableKind) -> StoreConfig {
        StoreConfig {
            partition_prefix: partition_prefix.into(),
            page_cache_pages_max: NZUsize!(256),
            write_buffer_bytes: NZUsize!(1 << 14),
            kind,
        }
    }
}

/// Why the store failed. Any of these leaves the store unusable: the process stops and
/// restarts from its last checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database: {0}")]
    Qmdb(String),
    #[error("log index: {0}")]
    Index(String),
    #[error("metadata: {0}")]
    Metadata(String),
    #[error("the reopened state does not match the checkpoint: {0}")]
    Corrupt(String),
    #[error("a block at height {found} cannot be applied on height {applied}")]
    OutOfOrder { applied: u64, found: u64 },
    #[error("a stored record is malformed: {0}")]
    Malformed(String),
    #[error("the store is closed (the validator is stopping)")]
    Closed,
    #[error("a bad sync request: {0}")]
    BadRequest(String),
    #[error("state sync: {0}")]
    Sync(String),
    #[error("the snapshot does not match the target state: {0}")]
    SnapshotMismatch(String),
    #[error("the store already holds state (height {0}); state sync needs an empty store")]
    NotEmpty(u64),
    #[error("a state sync to height {0} did not finish: the state is incomplete until a sync succeeds")]
    Unsynced(u64),
    #[error(
        "the state was written in storage format {0}, and this build reads format {STORAGE_FORMAT}; its \
         state roots differ, so it cannot continue a chain begun in another format: start a new chain, or \
         run the build that wrote this one"
    )]
    OtherFormat(u64),
}

/// Refuses databases written in another storage format (those of format 1 carry no key).
fn check_format<E: commonware_storage::Context>(meta: &Meta<E>) -> Result<(), StoreError> {
    let format = match meta.get(&U64::new(FORMAT_KEY)) {
        None => 1,
        Some(bytes) => {
            u64::decode(bytes).map_err(|error| StoreError::Metadata(format!("storage format: {error}")))?
        }
    };
    if format == STORAGE_FORMAT { Ok(()) } else { Err(StoreError::OtherFormat(format)) }
}

fn qmdb_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Qmdb(error.to_string())
}

impl From<LogIndexError> for StoreError {
    fn from(error: LogIndexError) -> StoreError {
        StoreError::Index(error.to_string())
    }
}

/// What a checkpoint records: the height, the commitment after it, and the sizes the
/// databases had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub height: u64,
    pub commitment: StateCommitment,
    records_size: u64,
    log_size: u64,
}

impl Checkpoint {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.height.encode_to(&mut out);
        self.commitment.encode_to(&mut out);
        self.records_size.encode_to(&mut out);
        self.log_size.encode_to(&mut out);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Checkpoint, StoreError> {
        let malformed = |what: &str| StoreError::Metadata(format!("checkpoint record: {what}"));
        let mut reader = hansa_types::codec::Reader::new(bytes);
        let height = u64::decode_from(&mut reader).map_err(|_| malformed("height"))?;
        let commitment = StateCommitment::decode_from(&mut reader).map_err(|_| malformed("commitment"))?;
        let records_size = u64::decode_from(&mut reader).map_err(|_| malformed("records size"))?;
        let log_size = u64::decode_from(&mut reader).map_err(|_| malformed("log size"))?;
        reader.finish().map_err(|_| malformed("trailing bytes"))?;
        Ok(Checkpoint { height, commitment, records_size, log_size })
    }
}

/// The state after an unfinalized block, built on its parent's and never written to disk
/// until the block is finalized and applied.
pub struct Speculation {
    height: u64,
    /// The block's batches; `None` for a block that wrote nothing (its state is its parent's,
    /// and the databases log nothing for it, so an idle chain leaves its roots unchanged).
    batches: Option<(RecordsBatch, LogBatch)>,
    /// This block's log appends: key to value.
    appends: FastMap<StateKey, Vec<u8>>,
    /// Where each of them landed in the log, in order.
    locations: Vec<(StateKey, u64)>,
    /// The unapplied parent, if any: its batches must outlive this one's merkleization, and
    /// its appends are visible through this one until it is applied.
    parent: Option<Arc<Speculation>>,
    commitment: StateCommitment,
}

impl Speculation {
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The batches of the nearest unapplied block of this chain that wrote something: what a
    /// child builds on and reads through (`None`: the applied tip).
    fn base(&self, applied: u64) -> Option<&(RecordsBatch, LogBatch)> {
        let mut next = Some(self);
        while let Some(speculation) = next {
            if speculation.height <= applied {
                return None;
            }
            if let Some(batches) = &speculation.batches {
                return Some(batches);
            }
            next = speculation.parent.as_deref();
        }
        None
    }

    /// The commitment of the state after the block; its `root()` is the header's state root.
    pub fn commitment(&self) -> &StateCommitment {
        &self.commitment
    }
}

impl std::fmt::Debug for Speculation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speculation")
            .field("height", &self.height)
            .field("appends", &self.appends.len())
            .field("root", &self.commitment.root())
            .finish()
    }
}

/// Counters a validator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreStatus {
    /// Height of the last applied (finalized) block.
    pub applied_height: u64,
    /// Height of the last checkpoint: a restart resumes here.
    pub durable_height: u64,
    /// Operations in the current-records database's log, and its inactivity floor.
    pub records_size: u64,
    pub records_floor: u64,
    /// Entries in the log.
    pub log_size: u64,
    /// Pages in the shared page cache (the bound; fill is not exposed by the cache).
    pub page_cache_pages_max: usize,
}

struct Databases<E: commonware_storage::Context + Spawner> {
    records: Option<RecordsDb<E>>,
    log: Option<LogDb<E>>,
    index: LogIndex,
    meta: Option<Meta<E>>,
    /// Set by [`Store::close`]: every later operation fails with [`StoreError::Closed`].
    closed: bool,
    /// The target height of a state sync that did not finish (the databases are partial and
    /// absent until a sync succeeds).
    unsynced: Option<u64>,
    applied_height: u64,
    applied: StateCommitment,
    durable: Checkpoint,
    /// The records' sync boundaries of the last checkpoints, oldest first (see
    /// [`SNAPSHOTS_KEPT`]).
    boundaries: std::collections::VecDeque<u64>,
}

impl<E: commonware_storage::Context + Spawner> Databases<E> {
    fn open(&self) -> Result<(), StoreError> {
        // A database is absent only between the steps of a mutation; if it is absent here, a
        // mutation was cancelled half way (its task dropped as the process stops), and the
        // store is as unusable as a closed one: the next start recovers from the checkpoint.
        if self.closed || (self.unsynced.is_none() && (self.records.is_none() || self.log.is_none())) {
            return Err(StoreError::Closed);
        }
        match self.unsynced {
            Some(height) => Err(StoreError::Unsynced(height)),
            None => Ok(()),
        }
    }

    fn records(&self) -> &RecordsDb<E> {
        self.records.as_ref().expect("the records database is present between mutations")
    }

    fn log(&self) -> &LogDb<E> {
        self.log.as_ref().expect("the log is present between mutations")
    }

    fn commitment(&self) -> StateCommitment {
        let records = self.records();
        let bounds = records.bounds();
        let log = self.log();
        let log_bounds = log.bounds();
        StateCommitment {
            records_root: hash_of(&records.root()),
            records_ops_root: hash_of(&records.ops_root()),
            records_range: (*records.sync_boundary(), *bounds.end),
            log_root: hash_of(&log.root()),
            log_range: (*log.inactivity_floor_loc(), *log_bounds.end),
        }
    }
}

/// Hansa's authenticated state store. Cheap to clone; clones share the databases.
pub struct Store<E: commonware_storage::Context + Spawner> {
    databases: Arc<RwLock<Databases<E>>>,
    genesis: StateCommitment,
    config: StoreConfig,
}

impl<E: commonware_storage::Context + Spawner> Clone for Store<E> {
    fn clone(&self) -> Self {
        Store { databases: self.databases.clone(), genesis: self.genesis, config: self.config.clone() }
    }
}

fn merkle_config(
    prefix: &str,
    name: &str,
    config: &StoreConfig,
    cache: &CacheRef,
) -> MerkleConfig<Sequential> {
    MerkleConfig {
        journal_partition: format!("{prefix}-{name}-merkle-journal"),
        metadata_partition: format!("{prefix}-{name}-merkle-metadata"),
        items_per_blob: NZU64!(1 << 20),
        write_buffer: config.write_buffer_bytes,
        replay_buffer: config.write_buffer_bytes,
        strategy: Sequential,
        page_cache: cache.clone(),
    }
}

fn journal_config<C>(
    prefix: &str,
    name: &str,
    config: &StoreConfig,
    cache: &CacheRef,
    codec: C,
) -> JournalConfig<C> {
    JournalConfig {
        partition: format!("{prefix}-{name}-log"),
        items_per_section: NZU64!(1 << 16),
        compression: None,
        codec_config: codec,
        page_cache: cache.clone(),
        write_buffer: config.write_buffer_bytes,
        replay_buffer: config.write_buffer_bytes,
    }
}

type RecordsConfig =
    current::VariableConfig<Hashed<EightCap>, <RecordsOp as commonware_codec::Read>::Cfg, Sequential>;
type LogConfig = keyless::variable::Config<<LogOp as commonware_codec::Read>::Cfg, Sequential>;

fn records_config(prefix: &str, config: &StoreConfig, cache: &CacheRef) -> RecordsConfig {
    current::VariableConfig {
        merkle_config: merkle_config(prefix, "records", config, cache),
        journal_config: journal_config(prefix, "records", config, cache, records_op_codec()),
        grafted_metadata_partition: format!("{prefix}-records-grafted-metadata"),
        translator: Hashed::new(EightCap),
        init_cache: None,
        init_buffer: NZUsize!(1 << 20),
        init_concurrency: (),
    }
}

fn log_config(prefix: &str, config: &StoreConfig, cache: &CacheRef) -> LogConfig {
    keyless::variable::Config {
        merkle: merkle_config(prefix, "log", config, cache),
        log: journal_config(prefix, "log", config, cache, log_op_codec()),
    }
}

fn digest_of(hash: &Hash) -> Digest {
    Digest(hash.0)
}

/// Log entries read at a time when the log index is rebuilt after a sync, and reads kept in
/// flight: a read waits on the disk for part of its time, which the others fill.
const REINDEX_CHUNK: u64 = 4_096;
const REINDEX_READS_IN_FLIGHT: usize = 4;
/// Records operations (and keys) read at a time by [`Store::current_keys`].
const SCAN_OPS: u64 = 4_096;

/// What a state sync brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Log entries per table id.
    pub log_entries: BTreeMap<u16, u64>,
    /// Where the time went, by the runtime's clock: fetching and verifying the records, the
    /// same for the log, and rebuilding the log's index.
    pub phases: SyncPhases,
}

/// How long each part of a state sync took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncPhases {
    /// Fetching, verifying and writing the current records (QMDB `current`).
    pub records: std::time::Duration,
    /// The same for the log, including the rebuild of its Merkle structure at the end.
    pub log: std::time::Duration,
    /// Rebuilding the log's index from the synced log.
    pub reindex: std::time::Duration,
}

impl<E: commonware_storage::Context + Spawner> Store<E> {
    /// Opens the store at its last checkpoint, or creates it empty, with the log's index
    /// (kept beside the databases; see `log_index`).
    pub async fn open(context: E, config: StoreConfig, index: LogIndex) -> Result<Store<E>, StoreError> {
        let prefix = config.partition_prefix.clone();
        let cache = CacheRef::new(page_size(BLOB_PAGE_SIZE), config.page_cache_pages_max);
        let meta: Meta<E> = Metadata::init(
            context.child("state_metadata"),
            metadata::Config {
                partition: format!("{prefix}-state-metadata"),
                codec_config: ((0..).into(), ()),
            },
        )
        .await
        .map_err(|error| StoreError::Metadata(error.to_string()))?;
        let checkpoint = match meta.get(&U64::new(CHECKPOINT_KEY)) {
            Some(bytes) => Some(Checkpoint::decode(bytes)?),
            None => None,
        };
        if checkpoint.is_some() || meta.get(&U64::new(SYNCING_KEY)).is_some() {
            check_format(&meta)?;
        }
        if let Some(bytes) = meta.get(&U64::new(SYNCING_KEY)) {
            // A sync did not finish: the partitions hold a partial state that only the sync
            // engine may reopen (it resumes from it).
            let height =
                u64::decode(bytes).map_err(|error| StoreError::Metadata(format!("sync marker: {error}")))?;
            let genesis = meta
                .get(&U64::new(GENESIS_KEY))
                .ok_or_else(|| StoreError::Metadata("a sync marker without the genesis state".into()))?;
            let genesis = StateCommitment::decode(genesis)
                .map_err(|error| StoreError::Metadata(format!("genesis state: {error}")))?;
            let durable = Checkpoint { height: 0, commitment: genesis, records_size: 0, log_size: 0 };
            let databases = Databases {
                records: None,
                log: None,
                index,
                meta: Some(meta),
                closed: false,
                unsynced: Some(height),
                applied_height: 0,
                applied: genesis,
                durable,
                boundaries: std::collections::VecDeque::new(),
            };
            return Ok(Store { databases: Arc::new(RwLock::new(databases)), genesis, config });
        }
        let records_config = records_config(&prefix, &config, &cache);
        let records_bound = checkpoint.as_ref().map(|checkpoint| Location::new(checkpoint.records_size));
        let records = RecordsDb::init(context.child("state_records"), records_config, records_bound)
            .await
            .map_err(qmdb_error)?;
        let log_config = log_config(&prefix, &config, &cache);
        let log_bound = checkpoint.as_ref().map(|checkpoint| Location::new(checkpoint.log_size));
        let log = LogDb::init(context.child("state_log"), log_config, log_bound).await.map_err(qmdb_error)?;
        let mut databases = Databases {
            records: Some(records),
            log: Some(log),
            index,
            meta: Some(meta),
            closed: false,
            unsynced: None,
            applied_height: 0,
            applied: StateCommitment {
                records_root: Hash::ZERO,
                records_ops_root: Hash::ZERO,
                records_range: (0, 0),
                log_root: Hash::ZERO,
                log_range: (0, 0),
            },
            durable: Checkpoint {
                height: 0,
                commitment: StateCommitment {
                    records_root: Hash::ZERO,
                    records_ops_root: Hash::ZERO,
                    records_range: (0, 0),
                    log_root: Hash::ZERO,
                    log_range: (0, 0),
                },
                records_size: 0,
                log_size: 0,
            },
            boundaries: std::collections::VecDeque::new(),
        };
        let reopened = databases.commitment();
        let genesis = match checkpoint {
            Some(checkpoint) => {
                if reopened != checkpoint.commitment {
                    return Err(StoreError::Corrupt(format!(
                        "checkpoint at height {} records {:?}, reopened {:?}",
                        checkpoint.height, checkpoint.commitment, reopened
                    )));
                }
                let genesis =
                    databases.meta.as_ref().expect("present").get(&U64::new(GENESIS_KEY)).ok_or_else(
                        || StoreError::Metadata("a checkpoint without the genesis state".into()),
                    )?;
                let genesis = StateCommitment::decode(genesis)
                    .map_err(|error| StoreError::Metadata(format!("genesis state: {error}")))?;
                databases.applied_height = checkpoint.height;
                databases.applied = reopened;
                databases.durable = checkpoint;
                genesis
            }
            None => {
                if reopened.records_range.1 > 1 || reopened.log_range.1 > 1 {
                    return Err(StoreError::Corrupt(
                        "state databases hold data but no checkpoint names it; delete the data folder to start over"
                            .into(),
                    ));
                }
                databases.applied = reopened;
                let mut meta = databases.meta.take().expect("present");
                meta.put(U64::new(GENESIS_KEY), reopened.encode());
                meta.put(U64::new(FORMAT_KEY), STORAGE_FORMAT.encode());
                databases.meta = Some(meta);
                Self::write_checkpoint(&mut databases).await?;
                reopened
            }
        };
        Ok(Store { databases: Arc::new(RwLock::new(databases)), genesis, config })
    }

    /// The commitment of the empty state every chain starts from.
    pub fn genesis(&self) -> StateCommitment {
        self.genesis
    }

    /// The last applied height and the commitment after it.
    pub async fn applied(&self) -> (u64, StateCommitment) {
        let databases = self.databases.read().await;
        (databases.applied_height, databases.applied)
    }

    /// The last checkpoint.
    pub async fn durable(&self) -> Checkpoint {
        self.databases.read().await.durable.clone()
    }

    pub async fn status(&self) -> StoreStatus {
        let databases = self.databases.read().await;
        StoreStatus {
            applied_height: databases.applied_height,
            durable_height: databases.durable.height,
            records_size: databases.applied.records_range.1,
            records_floor: databases.applied.records_range.0,
            log_size: databases.applied.log_range.1,
            page_cache_pages_max: self.config.page_cache_pages_max.get(),
        }
    }

    /// Reads records at the state after `at` (`None`: the applied tip). One value per key, in
    /// order: `None` for an absent record.
    pub async fn read(
        &self,
        at: Option<&Arc<Speculation>>,
        keys: &[StateKey],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let databases = self.databases.read().await;
        databases.open()?;
        self.read_locked(&databases, at, keys).await
    }

    async fn read_locked(
        &self,
        databases: &Databases<E>,
        at: Option<&Arc<Speculation>>,
        keys: &[StateKey],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let mut current_keys = Vec::new();
        let mut current_positions = Vec::new();
        let mut log_positions = Vec::new();
        for (position, key) in keys.iter().enumerate() {
            match (self.config.kind)(key) {
                TableKind::Current => {
                    current_keys.push(storage_key(key));
                    current_positions.push(position);
                }
                TableKind::Log => log_positions.push(position),
            }
        }
        let references: Vec<&StorageKey> = current_keys.iter().collect();
        let found = match at.and_then(|speculation| speculation.base(databases.applied_height)) {
            Some((records, _)) => records.get_many(&references, databases.records()).await,
            None => databases.records().get_many(&references).await,
        }
        .map_err(qmdb_error)?;
        for (position, value) in current_positions.into_iter().zip(found) {
            values[position] = value.map(|packed| unstored(&packed)).transpose()?;
        }
        let mut applied_keys = Vec::new();
        let mut applied_positions = Vec::new();
        for position in log_positions {
            let key = &keys[position];
            match Self::speculative_append(at, databases.applied_height, key) {
                Some(value) => values[position] = Some(value.to_vec()),
                None => {
                    applied_keys.push(*key);
                    applied_positions.push(position);
                }
            }
        }
        let found = Self::read_log(databases, &applied_keys).await?;
        for (position, value) in applied_positions.into_iter().zip(found) {
            values[position] = value;
        }
        Ok(values)
    }

    /// Reads records of the applied state under one lock, with the height of that state.
    pub async fn read_tip(&self, keys: &[StateKey]) -> Result<(u64, Vec<Option<Vec<u8>>>), StoreError> {
        let databases = self.databases.read().await;
        databases.open()?;
        let values = self.read_locked(&databases, None, keys).await?;
        Ok((databases.applied_height, values))
    }

    /// A log record appended by an unapplied block of the chain ending at `at`.
    fn speculative_append<'s>(
        at: Option<&'s Arc<Speculation>>,
        applied: u64,
        key: &StateKey,
    ) -> Option<&'s [u8]> {
        let mut next = at;
        while let Some(speculation) = next {
            if speculation.height <= applied {
                return None;
            }
            if let Some(value) = speculation.appends.get(key) {
                return Some(value);
            }
            next = speculation.parent.as_ref();
        }
        None
    }

    /// Log records of the applied state, through the index, in order.
    async fn read_log(
        databases: &Databases<E>,
        keys: &[StateKey],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let locations = Self::locate(databases, keys)?;
        // The log reads locations in ascending order.
        let mut wanted: Vec<(u64, usize)> = locations
            .iter()
            .enumerate()
            .filter_map(|(position, location)| location.map(|location| (location, position)))
            .collect();
        wanted.sort_unstable();
        let mut asked: Vec<Location<Family>> =
            wanted.iter().map(|(location, _)| Location::new(*location)).collect();
        asked.dedup();
        let fetched = databases.log().get_many(&asked).await.map_err(qmdb_error)?;
        let by_location: BTreeMap<u64, Option<Vec<u8>>> =
            asked.iter().map(|location| **location).zip(fetched).collect();
        let mut values = vec![None; keys.len()];
        for (location, position) in wanted {
            let entry = by_location.get(&location).cloned().flatten();
            let key = &keys[position];
            let entry = entry
                .ok_or_else(|| StoreError::Corrupt(format!("log entry {location} of {key:?} is missing")))?;
            let (stored_key, value) = split_log_entry(&entry)
                .ok_or_else(|| StoreError::Malformed(format!("log entry {location}")))?;
            if stored_key != *key {
                return Err(StoreError::Corrupt(format!(
                    "log entry {location} holds {stored_key:?}, not {key:?}"
                )));
            }
            values[position] = Some(unstored(value)?);
        }
        Ok(values)
    }

    /// Where the log holds each of `keys` in the applied state. An index entry past the applied
    /// log is a leftover of a run that crashed before its checkpoint: not part of this state.
    fn locate(databases: &Databases<E>, keys: &[StateKey]) -> Result<Vec<Option<u64>>, StoreError> {
        let size = databases.applied.log_range.1;
        Ok(databases
            .index
            .lookup(keys)?
            .into_iter()
            .map(|location| location.filter(|location| *location < size))
            .collect())
    }

    /// Proves the record `key` in the applied state: the applied height, the commitment after
    /// it, and the record's proof against it (`None` if the record is absent).
    pub async fn prove(
        &self,
        key: &StateKey,
    ) -> Result<Option<(u64, StateCommitment, RecordProof)>, StoreError> {
        let databases = self.databases.read().await;
        databases.open()?;
        let record = match (self.config.kind)(key) {
            TableKind::Current => {
                let storage = storage_key(key);
                let Some(value) = databases.records().get(&storage).await.map_err(qmdb_error)? else {
                    return Ok(None);
                };
                let proof = databases.records().key_value_proof(storage).await.map_err(qmdb_error)?;
                RecordProof::encode_current(key, unstored(&value)?, &proof)
            }
            TableKind::Log => {
                let Some(location) = Self::locate(&databases, std::slice::from_ref(key))?[0] else {
                    return Ok(None);
                };
                let (proof, operations) =
                    databases.log().proof(Location::new(location), NZU64!(1)).await.map_err(qmdb_error)?;
                let value = match operations.first() {
                    Some(keyless::variable::Operation::Append(entry)) => {
                        let (stored, value) = split_log_entry(entry)
                            .ok_or_else(|| StoreError::Malformed(format!("log entry {location}")))?;
                        if stored != *key {
                            return Err(StoreError::Corrupt(format!("log entry {location} is not {key:?}")));
                        }
                        unstored(value)?
                    }
                    _ => return Err(StoreError::Corrupt(format!("log entry {location} is not an append"))),
                };
                RecordProof::encode_log(key, location, value, &proof)
            }
        };
        Ok(Some((databases.applied_height, databases.applied, record)))
    }

    /// Builds the state after the block at `height` with `writes`, on `parent` (`None`: the
    /// applied tip, which must be at `height - 1`). The speculation keeps the log's values
    /// (taken, not copied) to answer reads until the block is applied.
    pub async fn speculate(
        &self,
        parent: Option<&Arc<Speculation>>,
        height: u64,
        writes: WriteSet,
    ) -> Result<Arc<Speculation>, StoreError> {
        let databases = self.databases.read().await;
        databases.open()?;
        let parent = parent.filter(|parent| parent.height > databases.applied_height);
        match parent {
            Some(parent) => assert_eq!(parent.height + 1, height, "a speculation extends its parent"),
            None if databases.applied_height + 1 != height => {
                // The tip moved past this block's parent: a fork that finalization abandoned.
                return Err(StoreError::OutOfOrder { applied: databases.applied_height, found: height });
            }
            None => {}
        }
        if writes.is_empty() {
            let commitment = parent.map_or(databases.applied, |parent| parent.commitment);
            return Ok(Arc::new(Speculation {
                height,
                batches: None,
                appends: FastMap::default(),
                locations: Vec::new(),
                parent: parent.cloned(),
                commitment,
            }));
        }
        let base = parent.and_then(|parent| parent.base(databases.applied_height));
        let mut records = match base {
            Some((records, _)) => records.new_batch::<Sha256>(),
            None => databases.records().new_batch(),
        };
        for write in &writes.records {
            records = records.write(storage_key(&write.key), write.value.as_deref().map(stored));
        }
        let records =
            records.merkleize(databases.records(), None, &mut Proportional).await.map_err(qmdb_error)?;
        let mut log = match base {
            Some((_, log)) => log.new_batch::<Sha256>(),
            None => databases.log().new_batch(),
        };
        let first = *log.size();
        let mut appends = FastMap::default();
        let mut locations = Vec::with_capacity(writes.log.len());
        appends.reserve(writes.log.len());
        for (offset, append) in writes.log.into_iter().enumerate() {
            let mut entry = Vec::with_capacity(18 + append.value.len() + append.value.len() / 8 + 8);
            append.key.encode_to(&mut entry);
            crate::pack::pack_into(&mut entry, &append.value);
            log = log.append(entry);
            locations.push((append.key, first + offset as u64));
            appends.insert(append.key, append.value);
        }
        let floor = databases.log().inactivity_floor_loc();
        let log = log.merkleize(databases.log(), None, floor).await.map_err(qmdb_error)?;
        let records_bounds = records.bounds();
        let commitment = StateCommitment {
            records_root: hash_of(&records.root()),
            records_ops_root: hash_of(&records.ops_root()),
            records_range: (*records.sync_boundary(), *records_bounds.tip.size),
            log_root: hash_of(&log.root()),
            log_range: (*log.bounds().inactivity_floor, *log.size()),
        };
        Ok(Arc::new(Speculation {
            height,
            batches: Some((records, log)),
            appends,
            locations,
            parent: parent.cloned(),
            commitment,
        }))
    }

    /// Applies the finalized block whose state `speculation` holds (the next height).
    pub async fn apply(&self, speculation: &Arc<Speculation>) -> Result<(), StoreError> {
        let mut databases = self.databases.write().await;
        databases.open()?;
        if speculation.height != databases.applied_height + 1 {
            return Err(StoreError::OutOfOrder {
                applied: databases.applied_height,
                found: speculation.height,
            });
        }
        let Some((records_batch, log_batch)) = &speculation.batches else {
            assert_eq!(
                databases.applied, speculation.commitment,
                "a block that wrote nothing changes no root"
            );
            databases.applied_height = speculation.height;
            return Ok(());
        };
        let records = databases.records.take().expect("present");
        databases.records = Some(records.apply_batch(records_batch.clone()).await.map_err(qmdb_error)?);
        let log = databases.log.take().expect("present");
        databases.log = Some(log.apply_batch(log_batch.clone()).await.map_err(qmdb_error)?);
        databases.index.insert(&speculation.locations, false)?;
        databases.applied_height = speculation.height;
        databases.applied = databases.commitment();
        assert_eq!(
            databases.applied, speculation.commitment,
            "an applied speculation leaves the databases at the state it computed"
        );
        Ok(())
    }

    /// Closes the store as a crash would: the databases are dropped without making anything
    /// more durable, and every later operation fails with [`StoreError::Closed`]. A process
    /// that stops (or a simulated validator that crashes) calls it so that its storage can be
    /// opened again.
    pub async fn close(&self) {
        let mut databases = self.databases.write().await;
        databases.closed = true;
        databases.records = None;
        databases.log = None;
        databases.meta = None;
    }

    /// Makes everything applied durable and records the checkpoint.
    pub async fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        let mut databases = self.databases.write().await;
        databases.open()?;
        if databases.durable.height == databases.applied_height {
            return Ok(databases.durable.clone());
        }
        Self::write_checkpoint(&mut databases).await?;
        Ok(databases.durable.clone())
    }

    /// Answers a peer's state-sync request for `part` (an encoded QMDB request; see
    /// [`crate::sync`]) from the applied state: proofs against the roots the databases had at
    /// the requested size. Requests for more than [`crate::sync::SERVE_OPS_MAX`] operations,
    /// or beyond the applied state, are refused.
    pub async fn serve_sync(&self, part: Part, request: &[u8]) -> Result<Vec<u8>, StoreError> {
        use commonware_codec::Encode as _;
        use qmdb::sync::Source as _;
        let request = crate::sync::decode_request(request)?;
        let databases = self.databases.read().await;
        databases.open()?;
        let size = match part {
            Part::Records => databases.applied.records_range.1,
            Part::Log => databases.applied.log_range.1,
        };
        if *request.size() > size {
            return Err(StoreError::BadRequest(format!(
                "the {} database has {size} operations here; {} asked for",
                part.name(),
                request.size()
            )));
        }
        Ok(match part {
            Part::Records => databases
                .records()
                .serve(request)
                .await
                .map_err(|error| StoreError::BadRequest(error.to_string()))?
                .0
                .encode()
                .to_vec(),
            Part::Log => databases
                .log()
                .serve(request)
                .await
                .map_err(|error| StoreError::BadRequest(error.to_string()))?
                .0
                .encode()
                .to_vec(),
        })
    }

    /// The target height of a state sync that has not finished, if one was started: the
    /// store then holds no usable state until [`Store::sync_from`] succeeds.
    pub async fn unsynced(&self) -> Option<u64> {
        self.databases.read().await.unsynced
    }

    /// Replaces the state of a store that holds none (no block applied) with the state at
    /// `height` whose commitment is `target`, fetched through `peers` and verified against
    /// `target`; then rebuilds the log index and records a checkpoint at `height`. The caller
    /// must trust `target` (a finalized header's state root hashes it). A snapshot that does
    /// not match is refused ([`StoreError::SnapshotMismatch`]); after any failure the store
    /// holds no usable state (every read answers [`StoreError::Unsynced`], also after a
    /// reopen) until a later sync succeeds, which resumes from what was fetched.
    pub async fn sync_from<P: Peers>(
        &self,
        context: E,
        height: u64,
        target: StateCommitment,
        peers: P,
    ) -> Result<Synced, StoreError> {
        use commonware_utils::range::NonEmptyRange;
        use qmdb::sync::{Target, engine};
        let mut databases = self.databases.write().await;
        if databases.closed {
            return Err(StoreError::Closed);
        }
        if databases.applied_height != 0 {
            return Err(StoreError::NotEmpty(databases.applied_height));
        }
        let prefix = self.config.partition_prefix.clone();
        let cache = CacheRef::new(page_size(BLOB_PAGE_SIZE), self.config.page_cache_pages_max);
        let range = |(start, end): (u64, u64)| {
            NonEmptyRange::new(Location::new(start)..Location::new(end))
                .map_err(|_| StoreError::Sync(format!("an empty target range {start}..{end}")))
        };
        let records_range = range(target.records_range)?;
        let log_range = range(target.log_range)?;
        // From here until the checkpoint at `height`, the partitions hold a partial state: a
        // marker says so, for a reopen after a crash.
        let mut meta = databases.meta.take().expect("present");
        meta.put(U64::new(SYNCING_KEY), height.encode());
        databases.meta = Some(meta.sync().await.map_err(|error| StoreError::Metadata(error.to_string()))?);
        databases.unsynced = Some(height);
        // Empty databases go: the sync engine builds them anew from the peers' operations (the
        // partial databases a failed attempt left, it resumes from).
        if let Some(records) = databases.records.take() {
            records.destroy().await.map_err(qmdb_error)?;
        }
        if let Some(log) = databases.log.take() {
            log.destroy().await.map_err(qmdb_error)?;
        }
        let mut phases = SyncPhases::default();
        let since =
            |start: std::time::SystemTime| context.current().duration_since(start).unwrap_or_default();
        let synced = async {
            let start = context.current();
            let records: RecordsDb<E> = qmdb::sync::sync(engine::Config {
                context: context.child("sync_records"),
                source: Remote { peers: peers.clone(), part: Part::Records, _op: PhantomData },
                target: Target::new(digest_of(&target.records_ops_root), records_range),
                max_outstanding_requests: NZUsize!(FETCH_REQUESTS_OUTSTANDING),
                fetch_batch_size: NZU64!(FETCH_OPS),
                apply_batch_size: NZU64!(FETCH_OPS),
                db_config: records_config(&prefix, &self.config, &cache),
                update_rx: None,
                finish_rx: None,
                reached_target_tx: None,
            })
            .await
            .map_err(|error| StoreError::Sync(format!("records: {error}")))?;
            phases.records = since(start);
            let start = context.current();
            let log: LogDb<E> = qmdb::sync::sync(engine::Config {
                context: context.child("sync_log"),
                source: Remote { peers, part: Part::Log, _op: PhantomData },
                target: Target::new(digest_of(&target.log_root), log_range),
                max_outstanding_requests: NZUsize!(FETCH_REQUESTS_OUTSTANDING),
                fetch_batch_size: NZU64!(FETCH_OPS),
                apply_batch_size: NZU64!(FETCH_OPS),
                db_config: log_config(&prefix, &self.config, &cache),
                update_rx: None,
                finish_rx: None,
                reached_target_tx: None,
            })
            .await
            .map_err(|error| StoreError::Sync(format!("log: {error}")))?;
            phases.log = since(start);
            Ok::<_, StoreError>((records, log))
        }
        .await;
        let failed = match synced {
            Ok((records, log)) => {
                databases.records = Some(records);
                databases.log = Some(log);
                let synced = databases.commitment();
                if synced == target {
                    None
                } else {
                    databases.records.take().expect("present").destroy().await.map_err(qmdb_error)?;
                    databases.log.take().expect("present").destroy().await.map_err(qmdb_error)?;
                    Some(StoreError::SnapshotMismatch(format!("synced {synced:?}, expected {target:?}")))
                }
            }
            Err(error) => Some(error),
        };
        if let Some(error) = failed {
            // The store stays unusable (its databases partial or absent) until a sync succeeds.
            return Err(error);
        }
        let synced = databases.commitment();
        let start = context.current();
        let log_entries = Self::reindex(&databases).await?;
        phases.reindex = since(start);
        databases.applied_height = height;
        databases.applied = synced;
        databases.unsynced = None;
        // The marker goes with the checkpoint's own metadata write: both or neither.
        databases.meta.as_mut().expect("present").remove(&U64::new(SYNCING_KEY));
        Self::write_checkpoint(&mut databases).await?;
        Ok(Synced { log_entries, phases })
    }

    /// The keys of `table` that hold a record in the applied state, in key order. Reads every
    /// operation of the records database above its sync boundary (a full pass: meant for a
    /// store that just synced, to rebuild what the chain derives from its records).
    pub async fn current_keys(&self, table: TableId) -> Result<Vec<StateKey>, StoreError> {
        let databases = self.databases.read().await;
        databases.open()?;
        let records = databases.records();
        let end = records.bounds().end;
        let mut next = records.sync_boundary();
        let mut keys = std::collections::BTreeSet::new();
        while next < end {
            let (_, operations) =
                records.ops_historical_proof(end, next, NZU64!(SCAN_OPS)).await.map_err(qmdb_error)?;
            if operations.is_empty() {
                break;
            }
            next = Location::new(*next + operations.len() as u64);
            for operation in operations {
                if let qmdb::any::operation::Operation::Update(update) = operation {
                    let bytes: &[u8] = update.0.as_ref();
                    if u16::from_le_bytes([bytes[0], bytes[1]]) == table.0 {
                        let id = u128::from_le_bytes(bytes[2..].try_into().expect("16 bytes"));
                        keys.insert(StateKey { table, id });
                    }
                }
            }
        }
        // A key updated and later deleted has no record now.
        let mut present = Vec::with_capacity(keys.len());
        let keys: Vec<StateKey> = keys.into_iter().collect();
        for chunk in keys.chunks(SCAN_OPS as usize) {
            let values = self.read_locked(&databases, None, chunk).await?;
            present
                .extend(chunk.iter().zip(values).filter(|(_, value)| value.is_some()).map(|(key, _)| *key));
        }
        Ok(present)
    }

    /// Rebuilds the log index from the whole log (after a sync); returns the entries per table.
    async fn reindex(databases: &Databases<E>) -> Result<BTreeMap<u16, u64>, StoreError> {
        let mut entries_per_table = BTreeMap::new();
        databases.index.clear()?;
        let log = databases.log();
        let bounds = log.bounds();
        let (first, last) = (*bounds.start, *bounds.end);
        let mut reads = futures::stream::iter((first..last).step_by(REINDEX_CHUNK as usize))
            .map(|next| async move {
                let end = (next + REINDEX_CHUNK).min(last);
                let locations: Vec<Location<Family>> = (next..end).map(Location::new).collect();
                log.get_many(&locations).await.map(|entries| (next, end, entries))
            })
            .buffered(REINDEX_READS_IN_FLIGHT);
        while let Some(read) = reads.next().await {
            let (next, end, entries) = read.map_err(qmdb_error)?;
            let mut located = Vec::with_capacity(entries.len());
            for (location, entry) in (next..end).zip(entries) {
                // Commits carry no value; every append is a key and a value.
                let Some(entry) = entry else { continue };
                let (key, _) = split_log_entry(&entry)
                    .ok_or_else(|| StoreError::Malformed(format!("log entry {location}")))?;
                *entries_per_table.entry(key.table.0).or_insert(0) += 1;
                located.push((key, location));
            }
            databases.index.insert(&located, false)?;
        }
        databases.index.sync()?;
        Ok(entries_per_table)
    }

    async fn write_checkpoint(databases: &mut Databases<E>) -> Result<(), StoreError> {
        // The index first: it may run ahead of the log, never behind it.
        databases.index.sync()?;
        // `sync`, not `commit`: after `commit` a reopen may rebuild Merkle structures from the
        // whole log (measured: growing with history); after `sync` it needs no recovery.
        let log = databases.log.take().expect("present");
        databases.log = Some(log.sync().await.map_err(qmdb_error)?);
        // Operations below the records' sync boundary are inactive (superseded values): drop
        // them, so the records' log grows with the records, not with every change ever made.
        // Pruning also persists the activity bitmap, which makes the next open cheaper.
        // The boundary of a checkpoint a few back, so that peers syncing to a recent
        // checkpoint still find its operations here.
        let records = databases.records.take().expect("present").sync().await.map_err(qmdb_error)?;
        databases.boundaries.push_back(*records.sync_boundary());
        while databases.boundaries.len() > SNAPSHOTS_KEPT {
            databases.boundaries.pop_front();
        }
        let boundary = Location::new(databases.boundaries[0]);
        databases.records = Some(records.prune(boundary).await.map_err(qmdb_error)?);
        let checkpoint = Checkpoint {
            height: databases.applied_height,
            commitment: databases.applied,
            records_size: databases.applied.records_range.1,
            log_size: databases.applied.log_range.1,
        };
        let mut meta = databases.meta.take().expect("present");
        meta.put(U64::new(CHECKPOINT_KEY), checkpoint.encode());
        databases.meta = Some(meta.sync().await.map_err(|error| StoreError::Metadata(error.to_string()))?);
        databases.durable = checkpoint;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

    /// A store whose metadata names another storage format (or none: format 1, values stored
    /// as they are) is refused with a clear error; the same store with its format back opens.
    #[test]
    fn a_store_of_another_format_is_refused() {
        deterministic::Runner::seeded(3).start(|context| async move {
            let config = StoreConfig::small("format", |_| TableKind::Current);
            let index = LogIndex::in_memory().expect("index");
            let store =
                Store::open(context.child("first"), config.clone(), index.clone()).await.expect("open");
            store.close().await;
            drop(store);
            let metadata = |label: &'static str| {
                Metadata::<_, U64, Vec<u8>>::init(
                    context.child(label),
                    metadata::Config {
                        partition: "format-state-metadata".into(),
                        codec_config: ((0..).into(), ()),
                    },
                )
            };
            for (label, format) in [("without", None), ("other", Some(7u64))] {
                let mut meta = metadata(label).await.expect("metadata");
                match format {
                    None => {
                        meta.remove(&U64::new(FORMAT_KEY));
                    }
                    Some(format) => {
                        meta.put(U64::new(FORMAT_KEY), format.encode());
                    }
                }
                drop(meta.sync().await.expect("sync"));
                let refused = Store::open(context.child(label), config.clone(), index.clone()).await;
                let expected = format.unwrap_or(1);
                assert!(
                    matches!(refused, Err(StoreError::OtherFormat(found)) if found == expected),
                    "{label}: {:?}",
                    refused.err()
                );
            }
            let mut meta = metadata("restored").await.expect("metadata");
            meta.put(U64::new(FORMAT_KEY), STORAGE_FORMAT.encode());
            drop(meta.sync().await.expect("sync"));
            Store::open(context.child("again"), config, index).await.expect("the store of this format opens");
        });
    }
}
