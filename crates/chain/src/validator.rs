//! A production validator: `runtime::tokio` and `p2p::authenticated::lookup`.
//!
//! # Running it
//!
//! ```text
//! let runner = commonware_runtime::tokio::Runner::new(hansa_chain::runtime_config(&config));
//! runner.start(|context| async move {
//!     let handle = hansa_chain::start_validator(context, config, executor).await?;
//!     // The Commonware tokio runtime is a real multi-threaded tokio runtime: inside
//!     // `Runner::start`, `tokio::spawn` (an axum server, for example) works as usual.
//!     tokio::spawn(serve_http(handle.status()));
//!     futures::future::pending::<()>().await;
//! });
//! ```
//!
//! Storage lives in the runner's storage directory (`runtime_config` sets it to
//! `ValidatorConfig::storage_dir`), in partitions prefixed by the validator's public key, so
//! several validators may share one directory (as the smoke test does).

use crate::{
    ChainError, Executor, Tuning,
    block::ConsensusKey,
    certificate::{consensus_keys, participants},
    delivery::{FinalizedBlocks, Status},
    node::{self, Channels, NodeConfig},
};
use commonware_codec::{Copying, DecodeExt as _};
use commonware_cryptography::{ChaCha20Poly1305, Signer as _, ed25519};
use commonware_p2p::{Address, AddressableManager as _, authenticated::lookup};
use commonware_runtime::{Handle, Quota, Spawner as _, Supervisor as _, tokio};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::ordered::Map;
use futures::channel::oneshot;
use hansa_types::{Hash, PublicKey};
use std::{
    net::SocketAddr,
    num::{NonZeroU32, NonZeroUsize},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

/// Domain of the p2p namespace; the chain id follows it.
const P2P_NAMESPACE_DOMAIN: &[u8] = b"hansa/p2p/v1/";

/// Messages per second each peer may send on the vote and certificate channels.
pub const CONSENSUS_MESSAGES_PER_SECOND: u32 = 10_000;
/// Messages per second each peer may send on simplex's fetch channel.
pub const CONSENSUS_FETCHES_PER_SECOND: u32 = 1_000;
/// Messages per second each peer may send on the block and backfill channels. Each message can
/// be a whole block (up to `BLOCK_BYTES_MAX`), so a channel's inbound queue can hold this many
/// blocks per peer.
pub const BLOCK_MESSAGES_PER_SECOND: u32 = 256;

/// Messages per second each peer may send on the batch-forwarding channel (each a list of
/// batches of up to `GOSSIP_MESSAGE_BYTES_MAX`).
pub const BATCH_MESSAGES_PER_SECOND: u32 = 1_024;

/// Time between two pings on a p2p connection (see `start_validator`).
pub const PING_PERIOD: Duration = Duration::from_secs(3_600);

/// Everything a validator needs to join its chain.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// The genesis hash; it namespaces consensus signatures and p2p handshakes.
    pub chain_id: Hash,
    /// Ed25519 seed of this validator (its public key must be in `validators`).
    pub signer_seed: [u8; 32],
    /// Every validator's ed25519 key and p2p address, in genesis order.
    pub validators: Vec<(PublicKey, SocketAddr)>,
    /// Address to listen on for peers.
    pub listen: SocketAddr,
    /// Directory of the validator's storage; pass it to the runner with [`runtime_config`].
    pub storage_dir: PathBuf,
    /// Accept peers with private (RFC 1918, loopback) addresses: consortium networks often are.
    pub allow_private_ips: bool,
    /// Time after which a peer that failed to connect is dialled again.
    pub redial_after: Duration,
    /// Consensus timeouts, buffers and queue bounds.
    pub tuning: Tuning,
}

impl ValidatorConfig {
    /// A configuration with production tuning that accepts private addresses.
    pub fn new(
        chain_id: Hash,
        signer_seed: [u8; 32],
        validators: Vec<(PublicKey, SocketAddr)>,
        listen: SocketAddr,
        storage_dir: PathBuf,
    ) -> Self {
        Self {
            chain_id,
            signer_seed,
            validators,
            listen,
            storage_dir,
            allow_private_ips: true,
            redial_after: Duration::from_secs(1),
            tuning: Tuning::production(),
        }
    }
}

/// The prefix of a validator's storage partitions (several validators may share a directory).
pub fn partition_prefix(public_key: &PublicKey) -> String {
    format!("hansa-{}", &public_key.to_hex()[..16])
}

/// The tokio runtime configuration for a validator: storage in `config.storage_dir`.
pub fn runtime_config(config: &ValidatorConfig) -> tokio::Config {
    tokio::Config::new().with_storage_directory(config.storage_dir.clone())
}

/// A running validator.
pub struct ValidatorHandle {
    public_key: PublicKey,
    status: Arc<Status>,
    blocks: FinalizedBlocks,
    task: Handle<()>,
}

impl ValidatorHandle {
    /// This validator's public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// A reader of this validator's finalized blocks.
    pub fn blocks(&self) -> FinalizedBlocks {
        self.blocks.clone()
    }

    /// Progress counters, cheap to read from any thread.
    pub fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// Highest finalized height this validator knows of.
    pub fn finalized_height(&self) -> u64 {
        self.status.finalized()
    }

    /// Highest height delivered to the executor.
    pub fn delivered_height(&self) -> u64 {
        self.status.delivered()
    }

    /// Stops every task of this validator (an unclean stop; storage recovers on the next start).
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Starts a validator: p2p, marshal, then (once the executor has been caught up with the
/// finalized blocks in storage) simplex consensus. Returns once everything is spawned.
///
/// Call it inside `commonware_runtime::tokio::Runner::start` (see the module documentation).
pub async fn start_validator<X: Executor>(
    context: tokio::Context,
    config: ValidatorConfig,
    executor: X,
) -> Result<ValidatorHandle, ChainError> {
    let signer = ed25519::PrivateKey::decode(Copying(&config.signer_seed[..]))
        .map_err(|_| ChainError::Config("signer_seed is not an ed25519 seed"))?;
    let public_key = signer.public_key();
    let hansa_keys: Vec<PublicKey> = config.validators.iter().map(|(key, _)| *key).collect();
    let keys = consensus_keys(&hansa_keys).ok_or(ChainError::BadValidatorSet)?;
    let participants = participants(&hansa_keys).ok_or(ChainError::BadValidatorSet)?;
    if participants.position(&public_key).is_none() {
        return Err(ChainError::NotAValidator);
    }
    let own_key = PublicKey(
        public_key.as_ref().try_into().map_err(|_| ChainError::Config("ed25519 keys are 32 bytes"))?,
    );
    let addresses: Vec<(ConsensusKey, Address)> = keys
        .into_iter()
        .zip(config.validators.iter())
        .map(|(key, (_, address))| (key, Address::Symmetric(*address)))
        .collect();
    let addresses = Map::try_from(addresses).map_err(|_| ChainError::BadValidatorSet)?;
    // The p2p listener binds in a task of its own, whose failure would leave this validator
    // running without its peers (in a devnet of four, one crash more then stopped finality):
    // an address that cannot be bound is an error here, before anything starts.
    std::net::TcpListener::bind(config.listen)
        .map_err(|error| ChainError::Listen(format!("{}: {error}", config.listen)))?;

    // p2p.
    let mut p2p_namespace = P2P_NAMESPACE_DOMAIN.to_vec();
    p2p_namespace.extend_from_slice(&config.chain_id.0);
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: signer.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let peer_count = NonZeroUsize::new(participants.len()).ok_or(ChainError::BadValidatorSet)?;
    let mailbox_size =
        NonZeroUsize::new(config.tuning.mailbox_size_max).ok_or(ChainError::Config("mailbox_size_max"))?;
    let mut p2p = lookup::Config::recommended(
        handshake,
        &p2p_namespace,
        config.listen,
        peer_count,
        node::max_message_size(participants.len()),
        mailbox_size,
    );
    p2p.allow_private_ips = config.allow_private_ips;
    p2p.peer_connection_cooldown = config.redial_after;
    p2p.tracked_peer_sets = NonZeroUsize::MIN;
    // A receiver admits one ping per half period and waits on that quota in the loop that also
    // reads votes: a validator paused for 40 s (a partition that stopped finality) found eight
    // of each peer's pings queued ahead of their votes and came back 20 to 56 s late
    // (COMMONWARE.md). Consensus keeps every link busy (votes, or nullify retries every few
    // seconds while stalled), so pings are not what keeps a connection alive, and a link silent
    // for the runtime's read timeout (60 s) drops and redials anyway. One ping an hour: no
    // pause short of that timeout queues two.
    p2p.ping_frequency = PING_PERIOD;
    // Peers are few and known (inbound connections from unknown IPs are refused anyway), and
    // several may share an address (devnets, NAT): the recommended one handshake per IP per
    // five seconds would delay startup by minutes.
    p2p.allowed_handshake_rate_per_ip = Quota::per_second(NonZeroU32::new(8).expect("non-zero"));
    p2p.allowed_handshake_rate_per_subnet = Quota::per_second(NonZeroU32::new(64).expect("non-zero"));
    p2p.block_duration = Duration::from_secs(3_600);
    // Every task of the validator, p2p included, descends from one task, so `stop` ends them all.
    let status = Arc::new(Status::default());
    let node_config = NodeConfig {
        chain_id: config.chain_id,
        signer,
        participants,
        partition_prefix: partition_prefix(&own_key),
        tuning: config.tuning,
        clock_offset_ms: 0,
    };
    let (started_sender, started) = oneshot::channel();
    let node_status = status.clone();
    let task = context.child("validator").spawn(move |context| async move {
        let (mut network, mut oracle) = lookup::Network::new(context.child("network"), p2p);
        let _ = oracle.track(0, addresses);
        let quota = |per_second: u32| {
            Quota::per_second(NonZeroU32::new(per_second).expect("rate constants are non-zero"))
        };
        let channels = Channels {
            votes: network.register(node::CHANNEL_VOTES, quota(CONSENSUS_MESSAGES_PER_SECOND)),
            certificates: network.register(node::CHANNEL_CERTIFICATES, quota(CONSENSUS_MESSAGES_PER_SECOND)),
            consensus_resolver: network
                .register(node::CHANNEL_CONSENSUS_RESOLVER, quota(CONSENSUS_FETCHES_PER_SECOND)),
            backfill: network.register(node::CHANNEL_BACKFILL, quota(BLOCK_MESSAGES_PER_SECOND)),
            blocks: network.register(node::CHANNEL_BLOCKS, quota(BLOCK_MESSAGES_PER_SECOND)),
            batches: network.register(node::CHANNEL_BATCHES, quota(BATCH_MESSAGES_PER_SECOND)),
        };
        network.start();
        let result =
            node::start(context, node_config, executor, channels, oracle.clone(), oracle, node_status).await;
        let failed = result.is_err();
        let _ = started_sender.send(result);
        if !failed {
            futures::future::pending::<()>().await;
        }
    });
    match started.await {
        Ok(Ok(blocks)) => Ok(ValidatorHandle { public_key: own_key, status, blocks, task }),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(ChainError::Config("validator task ended before starting")),
    }
}
