//! Wiring of one validator: simplex consensus wrapped by marshal, over any runtime and network.
//!
//! The same function runs in production (`runtime::tokio`, `p2p::authenticated::lookup`) and in
//! the simulator (`runtime::deterministic`, `p2p::simulated`). Components, in start order:
//!
//! 1. marshal's backfill resolver and the buffered broadcast engine that disseminates blocks;
//! 2. marshal's archives (`finalizations_by_height`, `finalized_blocks`; immutable and never
//!    pruned in archive mode, prunable with `Tuning::retention_blocks`) and its actor, anchored
//!    at the executor's genesis block (`Start::Genesis`) or at the snapshot it joined from;
//! 3. the delivery task (see `delivery`), which first redelivers stored finalized blocks to the
//!    executor;
//! 4. once that catch-up is done, the simplex engine, with marshal's deferred-verification
//!    wrapper around `App` as its automaton, relay and reporter.
//!
//! Hansa runs one epoch (the validator set is fixed at genesis), so the epocher makes epoch 0
//! cover every height.

use crate::{
    ChainError, Executor,
    application::{App, Concluded, Rebroadcast},
    block::{ChainBlock, ConsensusKey, Digest, EPOCH},
    certificate::{FinalityCertificate, Finalization, Scheme, namespace},
    delivery::{Delivering, FinalizedBlocks, Reports, Status},
};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self, Start,
        core::Actor,
        resolver::p2p as marshal_resolver,
        standard::{Deferred, Standard},
    },
    simplex::{self, ForwardPolicy, SkipBudget, SkipPolicy, elector::RoundRobin},
    types::{FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    Digestible as _, Sha256,
    certificate::{ConstantProvider, Verifier as _},
    ed25519,
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::{
    archive::{immutable, prunable},
    translator::EightCap,
};
use commonware_utils::{NonZeroDuration, ordered::Set};
use futures::channel::oneshot;
use hansa_types::Hash;
use std::{
    num::{NonZeroU16, NonZeroU64, NonZeroUsize},
    sync::Arc,
    time::Duration,
};
use tracing::{info, warn};

/// The runtime capabilities a validator needs; both `tokio::Context` and
/// `deterministic::Context` have them.
pub trait Runtime:
    Clock + Spawner + Storage + Metrics + rand_core::CryptoRng + Send + Sync + 'static
{
}

impl<T> Runtime for T where
    T: Clock + Spawner + Storage + Metrics + rand_core::CryptoRng + Send + Sync + 'static
{
}

/// p2p channel of individual votes.
pub const CHANNEL_VOTES: u64 = 0;
/// p2p channel of notarization, nullification and finalization certificates.
pub const CHANNEL_CERTIFICATES: u64 = 1;
/// p2p channel of simplex's certificate fetches.
pub const CHANNEL_CONSENSUS_RESOLVER: u64 = 2;
/// p2p channel of marshal's block and finalization backfill.
pub const CHANNEL_BACKFILL: u64 = 3;
/// p2p channel of block dissemination.
pub const CHANNEL_BLOCKS: u64 = 4;
/// p2p channel of batches forwarded from one validator's clients to the others (see
/// `Executor::next_gossip`).
pub const CHANNEL_BATCHES: u64 = 5;
/// Most bytes of one forwarded message (a list of batches); a batch is at most about 1.2 MB.
pub const GOSSIP_MESSAGE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Timeouts, buffer sizes and queue bounds of one validator.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Time to wait for the leader's proposal in a view.
    pub leader_timeout: Duration,
    /// Time to wait for a view to certify before voting to skip it (> `leader_timeout`).
    pub certification_timeout: Duration,
    /// Time between re-broadcasts of a nullify vote while stuck in a view (each with the
    /// certificate that entered the view, for peers that missed it).
    pub timeout_retry: Duration,
    /// Time after which an inactive leader may be skipped early (> both timeouts above).
    pub skip_timeout: Duration,
    /// Time to wait for a peer's answer to a fetch.
    pub fetch_timeout: Duration,
    /// Time after proposing a block at which the leader sends it again if its view has no
    /// certificate yet (zero: never; at most `certification_timeout - leader_timeout`, so the
    /// copy can still save the view). See `application::Rebroadcast`.
    pub rebroadcast_after: Duration,
    /// Delay before retrying an unanswered fetch.
    pub fetch_retry_delay: Duration,
    /// Capacity of each internal mailbox.
    pub mailbox_size_max: usize,
    /// Views kept behind the finalized tip for late votes and peers' fetches.
    pub view_retention: u64,
    /// Bytes buffered per journal blob before a write.
    pub write_buffer_bytes: usize,
    /// Bytes read at a time when replaying a journal.
    pub replay_buffer_bytes: usize,
    /// Page size of the shared page cache.
    pub page_bytes: u16,
    /// Pages in the shared page cache.
    pub page_cache_pages: usize,
    /// Archive items per section (fixed for the life of the data).
    pub items_per_section: u64,
    /// Views per section of marshal's cache of notarized and verified blocks (fixed for the
    /// life of the data). The cache drops whole sections once they fall `view_retention`
    /// views behind the finalized tip, so it holds at most `view_retention` plus this many
    /// views of blocks: with sections as large as the archives' (4,096 views) a validator
    /// kept a second copy of every block of its first hours.
    pub cache_views_per_section: u64,
    /// zstd level of the finalized blocks' values on disk (`None` stores them as they are).
    /// Fixed for the life of the data.
    pub block_compression: Option<u8>,
    /// Initial size of the archives' freezer tables.
    pub freezer_table_initial_size: u32,
    /// Target size of the archives' freezer value sections.
    pub freezer_value_target_bytes: u64,
    /// Finalized blocks marshal may hand out before one is acknowledged.
    pub pending_acknowledgements_max: usize,
    /// Missing finalized heights fetched from peers at a time.
    pub repairs_max: usize,
    /// Blocks cached per sender by the broadcast engine. Each can be 8 MiB; marshal fetches a
    /// block that fell out of the cache from its peers.
    pub broadcast_cache_per_peer: usize,
    /// Finalized blocks (and their finalizations) kept below the tip; `None` keeps every block
    /// (archive mode). Fixed for the life of a data folder.
    pub retention_blocks: Option<u64>,
}

impl Tuning {
    /// Settings for real networks.
    pub fn production() -> Self {
        Self {
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            // A stalled view's nullify vote, with the certificate that entered the view, is sent
            // again every second: a validator that missed both (a partition healing, a lost
            // message) enters the view and completes its nullification a second later, not
            // five (simulation seed partition 9412).
            timeout_retry: Duration::from_secs(1),
            skip_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(2),
            rebroadcast_after: Duration::from_secs(1),
            fetch_retry_delay: Duration::from_millis(200),
            mailbox_size_max: 1_024,
            view_retention: 256,
            write_buffer_bytes: 1024 * 1024,
            replay_buffer_bytes: 1024 * 1024,
            page_bytes: 4_096,
            page_cache_pages: 1_024,
            items_per_section: 4_096,
            cache_views_per_section: 64,
            block_compression: Some(1),
            freezer_table_initial_size: 65_536,
            freezer_value_target_bytes: 256 * 1024 * 1024,
            pending_acknowledgements_max: 8,
            repairs_max: 16,
            broadcast_cache_per_peer: 4,
            retention_blocks: None,
        }
    }

    /// Small buffers for the simulator, where many validators share one process.
    pub fn simulation() -> Self {
        Self {
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(1),
            skip_timeout: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(1),
            rebroadcast_after: Duration::from_secs(1),
            fetch_retry_delay: Duration::from_millis(100),
            mailbox_size_max: 256,
            view_retention: 16,
            write_buffer_bytes: 4 * 1024,
            replay_buffer_bytes: 4 * 1024,
            page_bytes: 1_024,
            page_cache_pages: 16,
            items_per_section: 64,
            cache_views_per_section: 16,
            block_compression: Some(1),
            freezer_table_initial_size: 64,
            freezer_value_target_bytes: 64 * 1024,
            pending_acknowledgements_max: 4,
            repairs_max: 8,
            broadcast_cache_per_peer: 8,
            retention_blocks: None,
        }
    }
}

/// What one validator node needs besides its runtime, network and executor.
#[derive(Clone)]
pub(crate) struct NodeConfig {
    pub(crate) chain_id: Hash,
    pub(crate) signer: ed25519::PrivateKey,
    pub(crate) participants: Set<ConsensusKey>,
    /// Prefix of every storage partition of this validator (unique per validator and storage).
    pub(crate) partition_prefix: String,
    pub(crate) tuning: Tuning,
    /// How far this validator's clock is off the runtime's, in milliseconds: 0 in production
    /// (the host's clock is what it is); the simulator's clock skew.
    pub(crate) clock_offset_ms: i64,
}

/// The six p2p channels of a validator.
pub(crate) struct Channels<S, R> {
    pub(crate) votes: (S, R),
    pub(crate) certificates: (S, R),
    pub(crate) consensus_resolver: (S, R),
    pub(crate) backfill: (S, R),
    pub(crate) blocks: (S, R),
    pub(crate) batches: (S, R),
}

fn non_zero_usize(value: usize, what: &'static str) -> Result<NonZeroUsize, ChainError> {
    NonZeroUsize::new(value).ok_or(ChainError::Config(what))
}

fn non_zero_u64(value: u64, what: &'static str) -> Result<NonZeroU64, ChainError> {
    NonZeroU64::new(value).ok_or(ChainError::Config(what))
}

fn non_zero_duration(value: Duration, what: &'static str) -> Result<NonZeroDuration, ChainError> {
    NonZeroDuration::new(value).ok_or(ChainError::Config(what))
}

fn archive_config<C>(
    prefix: &str,
    name: &str,
    tuning: &Tuning,
    page_cache: &CacheRef,
    compression: Option<u8>,
    codec_config: C,
) -> Result<immutable::Config<C>, ChainError> {
    let buffer = non_zero_usize(tuning.write_buffer_bytes, "write_buffer_bytes")?;
    Ok(immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: tuning.freezer_table_initial_size,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 16 * 1024,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: tuning.freezer_value_target_bytes,
        freezer_value_compression: compression,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: non_zero_u64(tuning.items_per_section, "items_per_section")?,
        freezer_key_write_buffer: buffer,
        freezer_value_write_buffer: buffer,
        ordinal_write_buffer: buffer,
        replay_buffer: non_zero_usize(tuning.replay_buffer_bytes, "replay_buffer_bytes")?,
        codec_config,
    })
}

/// A prunable archive's configuration (pruned mode), in partitions of its own: a data folder
/// keeps the mode it was created with.
fn prunable_config<C>(
    prefix: &str,
    name: &str,
    tuning: &Tuning,
    page_cache: &CacheRef,
    compression: Option<u8>,
    codec_config: C,
) -> Result<prunable::Config<EightCap, C>, ChainError> {
    let buffer = non_zero_usize(tuning.write_buffer_bytes, "write_buffer_bytes")?;
    Ok(prunable::Config {
        translator: EightCap,
        metadata_partition: format!("{prefix}-{name}-pruned-metadata"),
        key_partition: format!("{prefix}-{name}-pruned-key"),
        key_page_cache: page_cache.clone(),
        value_partition: format!("{prefix}-{name}-pruned-value"),
        compression,
        codec_config,
        items_per_section: non_zero_u64(tuning.items_per_section, "items_per_section")?,
        key_write_buffer: buffer,
        value_write_buffer: buffer,
        replay_buffer: non_zero_usize(tuning.replay_buffer_bytes, "replay_buffer_bytes")?,
    })
}

/// The largest payload any component sends on the network for `participants` validators.
pub(crate) fn max_message_size(participants: usize) -> u32 {
    let participants = u32::try_from(participants).expect("validator count fits in u32");
    commonware_p2p::max_message_size(&[
        marshal::max_payload_size::<Standard<ChainBlock>, Scheme>(participants, &()),
        simplex::max_payload_size::<Scheme, Digest>(participants),
    ])
}

/// Starts every component of one validator as children of `context` and returns once they are
/// spawned, with a reader of its finalized blocks. Consensus itself starts after the executor
/// has been caught up (see `delivery`).
pub(crate) async fn start<E, X, S, R, B, P>(
    context: E,
    config: NodeConfig,
    executor: X,
    channels: Channels<S, R>,
    blocker: B,
    peer_provider: P,
    status: Arc<Status>,
) -> Result<FinalizedBlocks, ChainError>
where
    E: Runtime,
    X: Executor,
    S: Sender<PublicKey = ConsensusKey>,
    R: Receiver<PublicKey = ConsensusKey>,
    B: Blocker<PublicKey = ConsensusKey>,
    P: Provider<PublicKey = ConsensusKey>,
{
    let tuning = config.tuning.clone();
    if !(tuning.leader_timeout < tuning.certification_timeout
        && tuning.certification_timeout < tuning.skip_timeout
        && tuning.timeout_retry < tuning.skip_timeout)
    {
        return Err(ChainError::Config(
            "timeouts must satisfy leader < certification < skip and retry < skip",
        ));
    }
    // A leader may propose as late as `leader_timeout` into its view and still be voted for; its
    // second send must leave the view time to certify.
    if tuning.rebroadcast_after > tuning.certification_timeout.saturating_sub(tuning.leader_timeout) {
        return Err(ChainError::Config(
            "rebroadcast_after must be at most certification_timeout - leader_timeout",
        ));
    }
    let prefix = config.partition_prefix.clone();
    let public_key = ed25519::PublicKey::from(config.signer.clone());
    let scheme = Scheme::signer(&namespace(&config.chain_id), config.participants.clone(), config.signer)
        .ok_or(ChainError::NotAValidator)?;
    let genesis = ChainBlock::genesis(executor.genesis_block()).map_err(ChainError::Genesis)?;
    let genesis_digest = genesis.digest();

    let mailbox_size = non_zero_usize(tuning.mailbox_size_max, "mailbox_size_max")?;
    let page_bytes = NonZeroU16::new(tuning.page_bytes).ok_or(ChainError::Config("page_bytes"))?;
    let page_cache = CacheRef::new(page_bytes, non_zero_usize(tuning.page_cache_pages, "page_cache_pages")?);
    let participant_count = config.participants.len();

    // A validator that joined from a state snapshot starts consensus from the finalization of
    // the snapshot's block: marshal fetches that block from peers (only on the first start;
    // afterwards its archive holds it) and delivers from there, and simplex never looks below.
    let anchor = match executor.anchor() {
        None => None,
        Some((height, certificate)) => Some((height, anchor_finalization(&certificate, participant_count)?)),
    };
    let start = match &anchor {
        Some((height, finalization)) if executor.applied_height() == *height => {
            Start::Floor(finalization.clone())
        }
        _ => Start::Genesis(commonware_cryptography::Digested::precomputed(genesis.clone(), genesis_digest)),
    };
    let simplex_floor = match anchor {
        Some((_, finalization)) => simplex::Floor::Finalized(finalization),
        None => simplex::Floor::Genesis(genesis_digest),
    };
    let pending_acknowledgements =
        non_zero_usize(tuning.pending_acknowledgements_max, "pending_acknowledgements_max")?;
    let marshal_config = marshal::Config {
        provider: ConstantProvider::new(scheme.clone()),
        epocher: epocher(),
        start,
        partition_prefix: format!("{prefix}-marshal"),
        mailbox_size,
        view_retention: ViewDelta::new(tuning.view_retention),
        prunable_items_per_section: non_zero_u64(tuning.cache_views_per_section, "cache_views_per_section")?,
        page_cache: page_cache.clone(),
        replay_buffer: non_zero_usize(tuning.replay_buffer_bytes, "replay_buffer_bytes")?,
        key_write_buffer: non_zero_usize(tuning.write_buffer_bytes, "write_buffer_bytes")?,
        value_write_buffer: non_zero_usize(tuning.write_buffer_bytes, "write_buffer_bytes")?,
        block_codec_config: (),
        max_repair: non_zero_usize(tuning.repairs_max, "repairs_max")?,
        max_pending_acks: pending_acknowledgements,
        strategy: Sequential,
    };
    // Backfill resolver and block broadcast.
    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peer_provider.clone(),
            blocker: blocker.clone(),
            mailbox_size,
            fetch_timeout: non_zero_duration(tuning.fetch_timeout, "fetch_timeout")?,
            fetch_retry_delay: tuning.fetch_retry_delay,
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: public_key.clone(),
            mailbox_size,
            deque_size: tuning.broadcast_cache_per_peer,
            priority: false,
            codec_config: (),
            peer_provider,
            strategy: Sequential,
        },
    );
    broadcast_engine.start(channels.blocks);

    // Marshal, over its archives of finalized blocks and their finalizations: immutable ones
    // (never pruned, memory independent of their size) in archive mode, prunable ones (their
    // in-memory index covers only the retained window) when history is kept for a window.
    let (reports, updates) = Reports::new(pending_acknowledgements.get(), status.clone());
    macro_rules! start_marshal {
        ($finalizations:expr, $blocks:expr) => {{
            let finalizations_by_height =
                $finalizations.await.map_err(|error| ChainError::Storage(error.to_string()))?;
            let finalized_blocks = $blocks.await.map_err(|error| ChainError::Storage(error.to_string()))?;
            let (actor, mailbox, floor) = Actor::init(
                context.child("marshal"),
                finalizations_by_height,
                finalized_blocks,
                marshal_config,
            )
            .await;
            actor.start(reports, buffer, resolver);
            (mailbox, floor)
        }};
    }
    let certificate_codec = Scheme::certificate_codec_config_unbounded;
    let (marshal_mailbox, floor) = match tuning.retention_blocks {
        None => start_marshal!(
            immutable::Archive::init(
                context.child("finalizations_by_height"),
                archive_config(&prefix, "finalizations", &tuning, &page_cache, None, certificate_codec())?,
            ),
            immutable::Archive::init(
                context.child("finalized_blocks"),
                archive_config(&prefix, "blocks", &tuning, &page_cache, tuning.block_compression, ())?,
            )
        ),
        Some(_) => start_marshal!(
            prunable::Archive::init(
                context.child("finalizations_by_height"),
                prunable_config(&prefix, "finalizations", &tuning, &page_cache, None, certificate_codec())?,
            ),
            prunable::Archive::init(
                context.child("finalized_blocks"),
                prunable_config(&prefix, "blocks", &tuning, &page_cache, tuning.block_compression, ())?,
            )
        ),
    };
    info!(processed = ?floor.processed(), "marshal restored");

    // Ordered delivery to the executor.
    let (ready_sender, ready) = oneshot::channel();
    let delivering = Delivering {
        runtime: context.child("delivery_runtime"),
        executor: executor.clone(),
        marshal: marshal_mailbox.clone(),
        peers: config.participants.iter().filter(|key| **key != public_key).cloned().collect(),
        status: status.clone(),
        delivered: executor.applied_height(),
        retention: tuning.retention_blocks,
    };
    context.child("delivery").spawn(move |_| delivering.run(updates, ready_sender));

    // Batch forwarding: what clients submit here goes to every other validator, so whichever
    // leads next can propose it. Best effort: a batch that does not get through stays in this
    // validator's mempool.
    let (mut gossip_sender, mut gossip_receiver) = channels.batches;
    let gossip_executor = executor.clone();
    context.child("gossip_out").spawn(move |_| async move {
        loop {
            for message in gossip_executor.next_gossip(GOSSIP_MESSAGE_BYTES_MAX).await {
                gossip_sender.send(commonware_p2p::Recipients::All, message, false);
            }
        }
    });
    let gossip_executor = executor.clone();
    let mut gossip_blocker = blocker.clone();
    context.child("gossip_in").spawn(move |context| async move {
        while let Ok((peer, message)) = gossip_receiver.recv().await {
            // Admission verifies signatures (milliseconds for a large list): off the async threads.
            let executor = gossip_executor.clone();
            let admit = context
                .child("gossip_admit")
                .shared(true)
                .spawn(move |_| async move { executor.gossip_received(message.as_ref()) });
            match admit.await {
                Ok(Ok(())) => {}
                Ok(Err(misbehaviour)) => {
                    warn!(?peer, %misbehaviour, "blocking a peer that forwarded what no honest validator sends");
                    let _ = gossip_blocker.block(peer);
                }
                Err(_) => return,
            }
        }
    });

    // Consensus, once the executor has caught up.
    let reader = marshal_mailbox.clone();
    let rebroadcast_marshal = marshal_mailbox.clone();
    let application = Deferred::new(
        context.child("application"),
        App::new(executor, config.clock_offset_ms, blocker.clone(), status.clone()),
        marshal_mailbox,
        epocher(),
    );
    let engine_config = simplex::Config {
        scheme,
        elector: RoundRobin::<Sha256>::default(),
        blocker,
        automaton: application.clone(),
        relay: Rebroadcast::new(
            application.clone(),
            rebroadcast_marshal,
            context.child("relay"),
            status.clone(),
            tuning.rebroadcast_after,
        ),
        reporter: Concluded::new(application, status.clone()),
        track_historical_votes: false,
        strategy: Sequential,
        partition: format!("{prefix}-simplex"),
        mailbox_size,
        epoch: EPOCH,
        floor: simplex_floor,
        replay_buffer: non_zero_usize(tuning.replay_buffer_bytes, "replay_buffer_bytes")?,
        write_buffer: non_zero_usize(tuning.write_buffer_bytes, "write_buffer_bytes")?,
        page_cache,
        leader_timeout: tuning.leader_timeout,
        certification_timeout: tuning.certification_timeout,
        timeout_retry: tuning.timeout_retry,
        view_retention: ViewDelta::new(tuning.view_retention),
        skip: SkipPolicy::Enabled { timeout: tuning.skip_timeout, budget: SkipBudget::Participants },
        fetch_timeout: non_zero_duration(tuning.fetch_timeout, "fetch_timeout")?,
        fetch_retry_delay: tuning.fetch_retry_delay,
        forward: ForwardPolicy::SilentVoters,
    };
    let votes = channels.votes;
    let certificates = channels.certificates;
    let consensus_resolver = channels.consensus_resolver;
    context.child("consensus").spawn(move |context| async move {
        if ready.await.is_err() {
            warn!("delivery stopped before catching up; consensus not started");
            return;
        }
        info!(participants = participant_count, "starting consensus");
        let engine = simplex::Engine::new(context.child("engine"), engine_config);
        let _ = engine.start(votes, certificates, consensus_resolver).await;
    });
    Ok(FinalizedBlocks(reader))
}

/// The finalization in a snapshot anchor's certificate: it must finalize the anchor block
/// itself (no links), since consensus starts from it.
fn anchor_finalization(certificate: &[u8], participants: usize) -> Result<Finalization, ChainError> {
    use commonware_codec::{Copying, Decode as _};
    use hansa_types::Decode as _;
    let certificate = FinalityCertificate::decode(certificate)
        .map_err(|_| ChainError::Config("the snapshot anchor's certificate does not decode"))?;
    if !certificate.links.is_empty() {
        return Err(ChainError::Config("the snapshot anchor's certificate is not its own finalization"));
    }
    Finalization::decode_cfg(Copying(&certificate.finalization), &participants)
        .map_err(|_| ChainError::Config("the snapshot anchor's finalization does not decode"))
}

/// Epoch 0 covers every height Hansa will reach (the validator set is fixed at genesis).
fn epocher() -> FixedEpocher {
    FixedEpocher::new(NonZeroU64::MAX)
}
