//! Files a node reads: key files, the consortium description, genesis, and node configuration.

use anyhow::{Context, Result, bail};
use hansa_types::{Genesis, LedgerSpec, OrgId, PublicKey, Role, SecretKey, ValidatorSpec};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Writes a new random ed25519 key as a hex seed, readable by the owner only.
pub fn generate_key(path: &Path) -> Result<SecretKey> {
    if path.exists() {
        bail!("{} exists: refusing to overwrite a key", path.display());
    }
    let seed: [u8; 32] = rand::random();
    let key = SecretKey::from_seed(seed);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, format!("{}\n", hex::encode(seed)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

pub fn read_key(path: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    let bytes = hex::decode(text.trim()).with_context(|| format!("{}: not hex", path.display()))?;
    let seed: [u8; 32] =
        bytes.try_into().map_err(|_| anyhow::anyhow!("{}: a key is 32 bytes of hex", path.display()))?;
    Ok(SecretKey::from_seed(seed))
}

/// A consortium described for `hansa genesis`: like genesis, but keys may be given as files.
#[derive(Debug, Deserialize, Serialize)]
pub struct ConsortiumFile {
    pub chain_name: String,
    #[serde(default)]
    pub genesis_time_ms: Option<u64>,
    pub organisations: Vec<OrganisationEntry>,
    pub ledgers: Vec<LedgerSpec>,
    pub validators: Vec<ValidatorEntry>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct OrganisationEntry {
    pub id: OrgId,
    pub name: String,
    pub role: Role,
    pub public_key: Option<PublicKey>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ValidatorEntry {
    pub name: String,
    pub org: OrgId,
    pub public_key: Option<PublicKey>,
    pub key_file: Option<PathBuf>,
    pub p2p_address: String,
    pub api_address: String,
}

fn resolve_key(
    base: &Path,
    public_key: Option<PublicKey>,
    key_file: &Option<PathBuf>,
    what: &str,
) -> Result<PublicKey> {
    match (public_key, key_file) {
        (Some(key), None) => Ok(key),
        (None, Some(file)) => Ok(read_key(&base.join(file))?.public_key()),
        _ => bail!("{what}: give exactly one of public_key and key_file"),
    }
}

/// Builds and validates genesis from a consortium description.
pub fn build_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: ConsortiumFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut organisations = Vec::new();
    for org in &file.organisations {
        let public_key = resolve_key(base, org.public_key, &org.key_file, &org.name)?;
        organisations.push(hansa_types::OrganisationSpec {
            id: org.id,
            name: org.name.clone(),
            role: org.role,
            public_key,
        });
    }
    let mut validators = Vec::new();
    for validator in &file.validators {
        let public_key = resolve_key(base, validator.public_key, &validator.key_file, &validator.name)?;
        validators.push(ValidatorSpec {
            name: validator.name.clone(),
            org: validator.org,
            public_key,
            p2p_address: validator.p2p_address.clone(),
            api_address: validator.api_address.clone(),
        });
    }
    let genesis_time_ms = file.genesis_time_ms.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    });
    let genesis = Genesis {
        chain_name: file.chain_name,
        genesis_time_ms,
        organisations,
        ledgers: file.ledgers,
        validators,
    };
    genesis.validate()?;
    Ok(genesis)
}

pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading genesis {}", path.display()))?;
    let genesis: Genesis =
        toml::from_str(&text).with_context(|| format!("parsing genesis {}", path.display()))?;
    genesis.validate()?;
    Ok(genesis)
}

/// One validator's configuration (`node.toml`). Relative paths are relative to the file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub genesis: PathBuf,
    pub validator_key: PathBuf,
    pub data_dir: PathBuf,
    /// Defaults to this validator's `api_address` in genesis.
    pub api_listen: Option<SocketAddr>,
    /// Defaults to this validator's `p2p_address` in genesis.
    pub p2p_listen: Option<SocketAddr>,
    /// Serve the API over TLS with this certificate chain and key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Bounds of the validator's caches and queues; each defaults to the production value.
    #[serde(default)]
    pub bounds: BoundsFile,
    /// Joining from a state snapshot.
    #[serde(default)]
    pub sync: SyncFile,
    /// How much history the validator keeps.
    #[serde(default)]
    pub history: HistoryFile,
}

/// `[history]` of `node.toml`: archive mode (the default) keeps every finalized block and all
/// history; `retention_blocks = N` keeps the last N blocks' bodies, finalizations, batch
/// outcomes and account transfers (current state and its proofs are always kept and served).
/// Fixed for the life of a data folder.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryFile {
    pub retention_blocks: Option<u64>,
}

/// The smallest retention: two checkpoint intervals (a snapshot is offered from the last 64
/// blocks, and a restart replays up to one interval from marshal's archive).
pub const RETENTION_BLOCKS_MIN: u64 = 64;

/// `[sync]` of `node.toml`: when and from whom a validator with no state joins from a peer's
/// state snapshot instead of replaying every block since genesis.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncFile {
    /// Join from a snapshot when the data folder holds no state. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Join only from a snapshot at least this many blocks above genesis (a young chain is
    /// replayed instead). Default 256.
    #[serde(default = "default_blocks_min")]
    pub blocks_min: u64,
    /// Rejoin from a snapshot when the peers offer one at least this many blocks above this
    /// validator's own state (it was away for long, maybe longer than its peers keep blocks):
    /// its state, index and blocks are removed first. Default: never (it replays instead).
    #[serde(default)]
    pub rejoin_behind_blocks: Option<u64>,
    /// Base URLs of the peers' APIs to fetch snapshots and state from. Default: every other
    /// validator's `api_address` in genesis, over `http://` (give `https://` URLs here when the
    /// peers serve TLS).
    #[serde(default)]
    pub peers: Option<Vec<String>>,
}

fn default_true() -> bool {
    true
}

fn default_blocks_min() -> u64 {
    256
}

impl Default for SyncFile {
    fn default() -> Self {
        SyncFile { enabled: true, blocks_min: default_blocks_min(), rejoin_behind_blocks: None, peers: None }
    }
}

/// `[bounds]` of `node.toml`: every cache and queue whose size a validator's memory depends on.
/// Each is optional; `/v1/status` reports the value in force and, for queues, its fill.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BoundsFile {
    /// Batches waiting in the mempool.
    pub mempool_batches_max: Option<usize>,
    /// Batches one organisation may have waiting in the mempool.
    pub mempool_batches_per_org_max: Option<usize>,
    /// Operations waiting in the mempool, over all batches.
    pub mempool_operations_max: Option<usize>,
    /// Clients waiting at once for their batch to finalize.
    pub waiters_max: Option<usize>,
    /// Batches waiting to be forwarded to the other validators.
    pub forwarding_queue_max: Option<usize>,
    /// Finalized events buffered per event-stream reader.
    pub events_buffer_max: Option<usize>,
    /// Unfinalized blocks whose speculative state is kept.
    pub speculative_blocks_max: Option<usize>,
    /// 4 KiB pages of the state store's page cache.
    pub state_page_cache_pages_max: Option<usize>,
    /// Bytes of the state log index's cache.
    pub log_index_cache_bytes_max: Option<usize>,
    /// Bytes of the history index's cache.
    pub index_cache_bytes_max: Option<usize>,
    /// Capacity of each consensus mailbox.
    pub consensus_mailbox_size_max: Option<usize>,
    /// Pages of consensus storage's page cache.
    pub consensus_page_cache_pages_max: Option<usize>,
    /// Blocks cached per peer by block dissemination.
    pub broadcast_blocks_per_peer_max: Option<usize>,
    /// Finalized blocks handed to the application before one is acknowledged.
    pub pending_acknowledgements_max: Option<usize>,
    /// Missing finalized blocks fetched from peers at a time.
    pub repairs_max: Option<usize>,
    /// Bytes the data folder's disk must keep free; below it the validator accepts no new
    /// work (`storage_full`) until space is freed. Zero turns the check off.
    pub disk_free_bytes_min: Option<u64>,
}

/// The bounds in force, with defaults filled in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Bounds {
    pub mempool_batches_max: usize,
    pub mempool_batches_per_org_max: usize,
    pub mempool_operations_max: usize,
    pub waiters_max: usize,
    pub forwarding_queue_max: usize,
    pub events_buffer_max: usize,
    pub speculative_blocks_max: usize,
    pub state_page_cache_pages_max: usize,
    pub log_index_cache_bytes_max: usize,
    pub index_cache_bytes_max: usize,
    pub consensus_mailbox_size_max: usize,
    pub consensus_page_cache_pages_max: usize,
    pub broadcast_blocks_per_peer_max: usize,
    pub pending_acknowledgements_max: usize,
    pub repairs_max: usize,
    pub disk_free_bytes_min: u64,
}

/// Default bytes of the state log index's cache.
pub const LOG_INDEX_CACHE_BYTES: usize = 64 << 20;
/// Default bytes of the history index's cache.
pub const INDEX_CACHE_BYTES: usize = 128 << 20;
/// Default bytes the data folder's disk keeps free (a few checkpoints' worth of writes at
/// full load).
pub const DISK_FREE_BYTES_MIN: u64 = 2 << 30;

impl BoundsFile {
    /// Fills in defaults (those of `app` and `tuning`) and refuses zeros.
    pub fn resolve(&self, app: &hansa_chain::app::AppConfig, tuning: &hansa_chain::Tuning) -> Result<Bounds> {
        let pick = |value: Option<usize>, default: usize, name: &str| -> Result<usize> {
            match value {
                Some(0) => bail!("[bounds] {name} must be at least 1"),
                Some(value) => Ok(value),
                None => Ok(default),
            }
        };
        Ok(Bounds {
            mempool_batches_max: pick(
                self.mempool_batches_max,
                app.mempool.batches_max,
                "mempool_batches_max",
            )?,
            mempool_batches_per_org_max: pick(
                self.mempool_batches_per_org_max,
                app.mempool.batches_per_org_max,
                "mempool_batches_per_org_max",
            )?,
            mempool_operations_max: pick(
                self.mempool_operations_max,
                app.mempool.operations_max,
                "mempool_operations_max",
            )?,
            waiters_max: pick(self.waiters_max, app.waiters_max, "waiters_max")?,
            forwarding_queue_max: pick(
                self.forwarding_queue_max,
                app.forwarding_queue_max,
                "forwarding_queue_max",
            )?,
            events_buffer_max: pick(self.events_buffer_max, app.events_buffer_max, "events_buffer_max")?,
            speculative_blocks_max: pick(
                self.speculative_blocks_max,
                app.speculative_blocks_max,
                "speculative_blocks_max",
            )?,
            state_page_cache_pages_max: pick(
                self.state_page_cache_pages_max,
                app.store.page_cache_pages_max.get(),
                "state_page_cache_pages_max",
            )?,
            log_index_cache_bytes_max: pick(
                self.log_index_cache_bytes_max,
                LOG_INDEX_CACHE_BYTES,
                "log_index_cache_bytes_max",
            )?,
            index_cache_bytes_max: pick(
                self.index_cache_bytes_max,
                INDEX_CACHE_BYTES,
                "index_cache_bytes_max",
            )?,
            consensus_mailbox_size_max: pick(
                self.consensus_mailbox_size_max,
                tuning.mailbox_size_max,
                "consensus_mailbox_size_max",
            )?,
            consensus_page_cache_pages_max: pick(
                self.consensus_page_cache_pages_max,
                tuning.page_cache_pages,
                "consensus_page_cache_pages_max",
            )?,
            broadcast_blocks_per_peer_max: pick(
                self.broadcast_blocks_per_peer_max,
                tuning.broadcast_cache_per_peer,
                "broadcast_blocks_per_peer_max",
            )?,
            pending_acknowledgements_max: pick(
                self.pending_acknowledgements_max,
                tuning.pending_acknowledgements_max,
                "pending_acknowledgements_max",
            )?,
            repairs_max: pick(self.repairs_max, tuning.repairs_max, "repairs_max")?,
            disk_free_bytes_min: self.disk_free_bytes_min.unwrap_or(DISK_FREE_BYTES_MIN),
        })
    }
}

impl Bounds {
    /// Applies the bounds to the application's and consensus's configurations.
    pub fn apply(&self, app: &mut hansa_chain::app::AppConfig, tuning: &mut hansa_chain::Tuning) {
        app.mempool.batches_max = self.mempool_batches_max;
        app.mempool.batches_per_org_max = self.mempool_batches_per_org_max;
        app.mempool.operations_max = self.mempool_operations_max;
        app.waiters_max = self.waiters_max;
        app.forwarding_queue_max = self.forwarding_queue_max;
        app.events_buffer_max = self.events_buffer_max;
        app.speculative_blocks_max = self.speculative_blocks_max;
        app.store.page_cache_pages_max =
            std::num::NonZeroUsize::new(self.state_page_cache_pages_max).expect("resolve refuses zeros");
        tuning.mailbox_size_max = self.consensus_mailbox_size_max;
        tuning.page_cache_pages = self.consensus_page_cache_pages_max;
        tuning.broadcast_cache_per_peer = self.broadcast_blocks_per_peer_max;
        tuning.pending_acknowledgements_max = self.pending_acknowledgements_max;
        tuning.repairs_max = self.repairs_max;
    }
}

/// A node configuration with every path resolved and checked against genesis.
pub struct NodeConfig {
    pub genesis: Genesis,
    pub key: SecretKey,
    pub index: usize,
    pub data_dir: PathBuf,
    pub api_listen: SocketAddr,
    pub p2p_listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub bounds: BoundsFile,
    pub sync: SyncFile,
    /// Blocks of history kept (`None`: archive mode).
    pub retention_blocks: Option<u64>,
    /// Base URLs of the peers' APIs for state sync (from `[sync] peers` or genesis).
    pub sync_peers: Vec<String>,
}

pub fn read_node_config(path: &Path) -> Result<NodeConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: NodeFile = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let genesis = read_genesis(&base.join(&file.genesis))?;
    let key = read_key(&base.join(&file.validator_key))?;
    let public_key = key.public_key();
    let index = genesis
        .validators
        .iter()
        .position(|validator| validator.public_key == public_key)
        .ok_or_else(|| anyhow::anyhow!("the validator key {public_key} is not a validator in genesis"))?;
    let spec = &genesis.validators[index];
    let api_listen = match file.api_listen {
        Some(address) => address,
        None => spec.api_address.parse().with_context(|| format!("api_address of {}", spec.name))?,
    };
    let p2p_listen = match file.p2p_listen {
        Some(address) => address,
        None => spec.p2p_address.parse().with_context(|| format!("p2p_address of {}", spec.name))?,
    };
    let tls = match (file.tls_cert, file.tls_key) {
        (Some(cert), Some(key)) => Some((base.join(cert), base.join(key))),
        (None, None) => None,
        _ => bail!("give both tls_cert and tls_key, or neither"),
    };
    let sync_peers = match &file.sync.peers {
        Some(peers) => peers.iter().map(|peer| peer.trim_end_matches('/').to_string()).collect(),
        None => genesis
            .validators
            .iter()
            .enumerate()
            .filter(|(position, _)| *position != index)
            .map(|(_, validator)| format!("http://{}", validator.api_address))
            .collect(),
    };
    if let Some(retention) = file.history.retention_blocks
        && retention < RETENTION_BLOCKS_MIN
    {
        bail!("[history] retention_blocks must be at least {RETENTION_BLOCKS_MIN} (or absent: archive mode)");
    }
    Ok(NodeConfig {
        retention_blocks: file.history.retention_blocks,
        genesis,
        key,
        index,
        data_dir: base.join(file.data_dir),
        api_listen,
        p2p_listen,
        tls,
        bounds: file.bounds,
        sync: file.sync,
        sync_peers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_come_from_node_toml_with_defaults_and_zeros_refused() {
        let app = hansa_chain::app::AppConfig::new("test");
        let tuning = hansa_chain::Tuning::production();
        let file: BoundsFile =
            toml::from_str("mempool_operations_max = 5000\nwaiters_max = 7").expect("parses");
        let bounds = file.resolve(&app, &tuning).expect("valid");
        assert_eq!(bounds.mempool_operations_max, 5_000);
        assert_eq!(bounds.waiters_max, 7);
        assert_eq!(bounds.speculative_blocks_max, app.speculative_blocks_max, "a default");
        let (mut app, mut tuning) = (app, tuning);
        bounds.apply(&mut app, &mut tuning);
        assert_eq!(app.mempool.operations_max, 5_000);
        assert_eq!(app.waiters_max, 7);

        let zero: BoundsFile = toml::from_str("repairs_max = 0").expect("parses");
        let error = zero.resolve(&app, &tuning).expect_err("zero refused").to_string();
        assert!(error.contains("repairs_max"), "{error}");
        assert!(toml::from_str::<BoundsFile>("mempool_max = 1").is_err(), "an unknown bound is an error");
    }
}
