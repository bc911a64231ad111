//! Deterministic cluster simulation: N validators on `runtime::deterministic` and
//! `p2p::simulated`, with seeded scheduling, link latency, jitter and loss, partitions,
//! crashes followed by restarts from each validator's own storage, and power losses (every
//! validator stops at once and every write not yet synced is lost: the runtime ends, and the
//! next run resumes from its checkpoint).
//!
//! A [`Scenario`] fixes everything: the seed drives the runtime's task order and the network's
//! latency and loss, so the same scenario replays exactly (the returned
//! [`Outcome::auditor_state`] is equal). Executors come from an async factory
//! `Fn(validator index, runtime context) -> X`, called again whenever a validator restarts (its
//! executor reopens its storage, as in production). The second twin of a
//! [`Byzantine::Twins`] validator `index` of `n` gets its executor from index `n + index`.
//!
//! Every `check_every` of simulated time, and at the end, the harness checks:
//! - safety: all validators delivered the same block digest at every height, each executor
//!   instance received heights in order without gaps, and every certificate verifies with
//!   [`crate::verify_finalization`] for exactly the delivered block;
//! - the caller's invariant over the current executors;
//! - no validator blocked a peer, unless the peer is Byzantine ([`Scenario::byzantine`]);
//!
//! and, once every fault has healed, liveness: every validator that is up reaches
//! `target_height` before `time_limit`; and prompt recovery: [`RECOVERY_AFTER_HEAL`] after a
//! partition heals, if no other fault happened meanwhile, none is in force and no validator
//! started within [`RECOVERY_AFTER_HEAL`] before it, every honest validator that is up has
//! finalized a block above the highest one finalized when it healed; and
//! [`RECOVERY_AFTER_POWER_LOSS`] after the power comes back from a power loss of the whole
//! cluster, every honest validator that is up has finalized a block above the highest one
//! finalized before the loss (each such time is in [`Outcome::power_recoveries`]).
//! A failure panics with the seed, so it can be replayed.
//!
//! Byzantine validators ([`byzantine`]) are left out of every check but one: at the end, every
//! honest validator that is up must have blocked each one whose misbehaviour is provable. The
//! checks above then hold over the honest validators only, and no honest validator may deliver
//! a block that a lying proposer built.
//!
//! [`run_with_client`] adds a client that the harness steps before every check (on the
//! simulated clock), to drive load through the executors; the real ledger and storage
//! ([`crate::App`]) run here with `AppConfig::simulation`.

use crate::{
    Executor, Tuning, Verdict,
    block::ConsensusKey,
    certificate::{FinalityCertificate, participants},
    delivery::Status,
    node::{self, Channels, NodeConfig},
    verify_finalization,
};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{
    Clock, Handle, Quota, Spawner as _, Supervisor as _,
    deterministic::{self, FaultConfig, PartialWriteMode, WriteConfig},
};
use commonware_utils::probability::Probability;
use futures::FutureExt as _;
use hansa_types::{Block, Decode as _, Hash, Header, PublicKey};
use std::{
    any::Any,
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    num::{NonZeroU32, NonZeroUsize},
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Mutex, Once,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};
use tracing::info;

pub mod byzantine;
pub mod disk;
pub mod disorder;
pub use byzantine::Byzantine;
pub use disk::{Disk, DiskFault, DiskFaults, DiskParts, FaultyDisk};
pub use disorder::Disorder;

/// The chain id of simulated clusters unless a scenario sets another.
pub const SIM_CHAIN_ID: Hash = Hash([0x5a; 32]);

/// Messages per second each validator may send to each peer on each channel.
const SIM_MESSAGES_PER_SECOND: u32 = 4_096;

/// Simulated time within which, once a partition heals (and no other fault is in force), every
/// honest validator that is up finalizes a block above the highest one finalized before.
/// A heal that follows a validator's start more closely than this is not held to it: what the
/// cluster then waits for is the restart (see [`RECOVERY_AFTER_POWER_LOSS`]), not the partition.
pub const RECOVERY_AFTER_HEAL: Duration = Duration::from_secs(5);

/// Simulated time within which, once the power comes back after a power loss of the whole
/// cluster, every honest validator that is up finalizes a block above the highest one finalized
/// before the loss: every validator reopens its storage, replays its journal and rejoins
/// consensus, whose views timed out while the power was off.
pub const RECOVERY_AFTER_POWER_LOSS: Duration = Duration::from_secs(30);

/// How soon after a validator stopped on its failed disk its operator starts it again (once
/// the disk is repaired).
pub const RESTART_AFTER_DISK_HALT: Duration = Duration::from_secs(1);

/// A network link's behaviour.
#[derive(Debug, Clone, Copy)]
pub struct LinkSpec {
    /// Mean one-way latency.
    pub latency: Duration,
    /// Standard deviation of the latency.
    pub jitter: Duration,
    /// Probability that a message arrives (1.0: no loss).
    pub success_rate: f64,
}

impl LinkSpec {
    /// A fast, reliable link.
    pub const fn good() -> Self {
        Self { latency: Duration::from_millis(20), jitter: Duration::from_millis(5), success_rate: 1.0 }
    }

    fn link(&self) -> Link {
        Link {
            latency: self.latency,
            jitter: self.jitter,
            success_rate: Probability::from_f64(self.success_rate)
                .expect("link success rate must be within 0.0..=1.0"),
        }
    }
}

/// A fault injected at a simulated time.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The validator's tasks are aborted at `at` (an unclean stop: nothing is flushed); after
    /// `down_for` it restarts from its storage with a fresh executor; `None` keeps it down.
    Crash {
        /// Index of the validator.
        validator: usize,
        /// When it stops.
        at: Duration,
        /// How long it stays down (`None`: for good).
        down_for: Option<Duration>,
    },
    /// Links between `group` and every other validator are removed at `at` and restored after
    /// `duration`.
    Partition {
        /// Indices of the validators cut off from the others.
        group: Vec<usize>,
        /// When the partition starts.
        at: Duration,
        /// How long it lasts.
        duration: Duration,
    },
    /// Every validator stops at `at`, at once, and every write its storage had not synced is
    /// lost (the deterministic runtime ends and resumes from its checkpoint); after `down_for`
    /// every validator that was up starts again from its storage.
    PowerLoss {
        /// When the power goes.
        at: Duration,
        /// How long it stays off.
        down_for: Duration,
    },
    /// Validator `validator`'s disk fails as `fault` says from `at` for `duration`, then is
    /// repaired. A validator that stops on a failed read, write or sync (as a real one does)
    /// is started again by its operator once the disk is repaired, and no sooner than
    /// [`RESTART_AFTER_DISK_HALT`] after it stopped.
    Disk {
        /// Index of the validator.
        validator: usize,
        /// When the disk starts failing.
        at: Duration,
        /// How long it fails.
        duration: Duration,
        /// How it fails.
        fault: DiskFault,
    },
    /// Every link behaves as `link` from `at` for `duration`, then returns to the base link.
    Degrade {
        /// The degraded link.
        link: LinkSpec,
        /// When degradation starts.
        at: Duration,
        /// How long it lasts.
        duration: Duration,
    },
}

/// One simulation run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Seed of the runtime's scheduling, the network's sampling and [`SplitMix64`] users.
    pub seed: u64,
    /// Chain id (consensus signing namespace); [`SIM_CHAIN_ID`] by default.
    pub chain_id: Hash,
    /// Number of validators.
    pub validators: usize,
    /// Base behaviour of every link.
    pub link: LinkSpec,
    /// Faults, in any order.
    pub faults: Vec<Fault>,
    /// Height every validator that is up must reach once faults have healed.
    pub target_height: u64,
    /// Simulated time after which a run that has not reached the target fails.
    pub time_limit: Duration,
    /// Simulated time between checks.
    pub check_every: Duration,
    /// Validator settings.
    pub tuning: Tuning,
    /// Byzantine validators, by index, and how each misbehaves (at most f of 3f+1 for the
    /// checks to hold).
    pub byzantine: BTreeMap<usize, Byzantine>,
    /// Clock skew, by validator index: how many milliseconds its clock is ahead (negative:
    /// behind) of the others'. It moves the timestamps it proposes and its judgement of
    /// others' (a block more than `TIMESTAMP_AHEAD_MAX` ahead of its clock waits).
    pub clock_skew_ms: BTreeMap<usize, i64>,
    /// Messages duplicated and reordered on every link.
    pub disorder: Disorder,
    /// At a power loss, the bytes written and not yet synced that survive (the deterministic
    /// runtime's torn writes); `None`: all of them are lost.
    pub torn_writes: Option<TornWrites>,
    /// By validator: the peers that miss every block it sends the first time it sends it (an
    /// honest leader whose broadcasts are lost on some links); a second send of the same block
    /// reaches them.
    pub first_block_sends_missed: BTreeMap<usize, BTreeSet<usize>>,
}

/// What a power loss leaves of the writes not yet synced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TornWrites {
    /// The share of unsynced bytes kept (`0.0..=1.0`).
    pub retention: f64,
    /// `true`: each write keeps a prefix (up to the first byte lost); `false`: any subset of
    /// its bytes.
    pub prefix: bool,
}

impl Scenario {
    /// Whether validator `index` is honest.
    pub fn honest(&self, index: usize) -> bool {
        !self.byzantine.contains_key(&index)
    }
}

impl Scenario {
    /// A fault-free scenario with good links and the simulation tuning.
    pub fn new(seed: u64, validators: usize, target_height: u64) -> Self {
        Self {
            seed,
            chain_id: SIM_CHAIN_ID,
            validators,
            link: LinkSpec::good(),
            faults: Vec::new(),
            target_height,
            time_limit: Duration::from_secs(120),
            check_every: Duration::from_secs(1),
            tuning: Tuning::simulation(),
            byzantine: BTreeMap::new(),
            clock_skew_ms: BTreeMap::new(),
            disorder: Disorder::default(),
            torn_writes: None,
            first_block_sends_missed: BTreeMap::new(),
        }
    }
}

/// What a successful run observed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario's seed.
    pub seed: u64,
    /// Per validator, the digest delivered at each height (over all its restarts).
    pub finalized: Vec<BTreeMap<u64, Hash>>,
    /// Per validator, the certificate delivered with each height.
    pub certificates: Vec<BTreeMap<u64, Vec<u8>>>,
    /// How many delivered certificates prove finality through a descendant (carry links).
    pub linked_certificates: usize,
    /// The deterministic runtime's audit hash: equal for two runs of the same scenario.
    pub auditor_state: String,
    /// Simulated time the run took.
    pub elapsed: Duration,
    /// Who blocked whom, by validator index (blocker, blocked), at the end.
    pub blocked: BTreeSet<(usize, usize)>,
    /// How many blocks lying Hansa validators proposed (none was delivered), and how many
    /// messages they forged or flooded.
    pub lies: (usize, usize),
    /// The bytes of those messages (each counted once, whatever its recipients).
    pub lie_bytes: u64,
    /// The views in which [`Byzantine::Twins`] signed conflicting votes (two proposals, or a
    /// nullify and a finalize), while their traffic was split.
    pub twin_conflicts: Vec<u64>,
    /// For each power loss of the whole cluster, the simulated time from the power coming back
    /// until every honest validator that was up had finalized a block above the highest one
    /// finalized before the loss.
    pub power_recoveries: Vec<Duration>,
    /// Each time a validator stopped because its disk failed (and was started again): which,
    /// and what its first panic said (its executor's store, or marshal's archives or
    /// simplex's journal failing).
    pub disk_halts: Vec<(usize, String)>,
    /// How many reads, writes and syncs failed on purpose.
    pub disk_faults: u64,
}

impl Outcome {
    /// The lowest height every validator delivered.
    pub fn common_height(&self) -> u64 {
        self.finalized.iter().map(|heights| heights.keys().last().copied().unwrap_or(0)).min().unwrap_or(0)
    }
}

/// A small seeded generator for choosing fault victims and times (the same seed, the same faults).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `low..high` (`high > low`).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        assert!(high > low, "empty range");
        low + self.next_u64() % (high - low)
    }
}

/// Everything delivered to the executors, kept by the harness across restarts.
#[derive(Default)]
struct Journal {
    /// Per validator: height -> (digest, certificate).
    delivered: Vec<BTreeMap<u64, (Hash, Vec<u8>)>>,
    /// Per validator: heights whose certificate was already checked.
    verified_up_to: Vec<u64>,
    violations: Vec<String>,
}

/// Wraps a validator's executor to record what it is given.
#[derive(Clone)]
struct Recording<X> {
    inner: X,
    validator: usize,
    /// Highest height this executor instance has received.
    instance_height: Arc<Mutex<u64>>,
    journal: Arc<Mutex<Journal>>,
    /// Set when this instance panicked. A real validator's process ends there (the runtime
    /// does not catch panics); here the harness stops the validator at its next step, and
    /// meanwhile nothing asked of this instance answers.
    halted: Arc<AtomicBool>,
}

impl<X: Executor> Recording<X> {
    /// Validator `validator`'s executor instance `inner`, which resumes after what it has
    /// durably applied (its last checkpoint), recording into `journal`.
    fn new(inner: X, validator: usize, journal: Arc<Mutex<Journal>>) -> Self {
        let resumed = inner.applied_height();
        Recording {
            inner,
            validator,
            instance_height: Arc::new(Mutex::new(resumed)),
            journal,
            halted: Arc::new(AtomicBool::new(false)),
        }
    }

    fn halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// This instance panicked: it answers nothing more. (The harness learns of the panic from
    /// the panic hook, as of any other in the validator.)
    fn halt(&self) {
        self.halted.store(true, Ordering::SeqCst);
    }

    /// Runs `work` unless this instance has halted; a panic halts it and goes on unwinding.
    async fn guarded<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        if self.halted() {
            return futures::future::pending().await;
        }
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(value) => value,
            Err(panic) => {
                self.halt();
                std::panic::resume_unwind(panic)
            }
        }
    }
}

/// What a panic said.
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_string()))
        .unwrap_or_else(|| "panic".to_string())
}

thread_local! {
    /// Every panic on this thread since the simulation started, when panics are counted (a
    /// simulation runs on one thread): the validator instance whose task panicked, if one's
    /// did, how many faults that validator's disk had injected by then, and what it said.
    static PANICS: RefCell<Vec<Panic>> = const { RefCell::new(Vec::new()) };
}

thread_local! {
    /// The clock and start of the simulation running on this thread, for [`simulated_now`].
    static CLOCK: RefCell<Option<(deterministic::Context, SystemTime)>> = const { RefCell::new(None) };
}

/// Holds the simulation's clock for [`simulated_now`] while a run's root future lives: the
/// runtime requires every context gone once the root is dropped (a panic included).
struct LogClock;

impl LogClock {
    fn set(context: deterministic::Context, started: SystemTime) -> Self {
        CLOCK.with(|clock| *clock.borrow_mut() = Some((context, started)));
        Self
    }
}

impl Drop for LogClock {
    fn drop(&mut self) {
        CLOCK.with(|clock| clock.borrow_mut().take());
    }
}

/// Simulated time since the start of the simulation running on this thread, if one is: what
/// a log line of a replayed seed is stamped with (`RUST_LOG=... seed_sweep`). It reads the
/// runtime's clock, which the runtime locks while it logs at `trace` as time advances: keep
/// `commonware_runtime` at `debug` or less in a filter that uses it.
pub fn simulated_now() -> Option<Duration> {
    CLOCK.with(|clock| {
        clock
            .borrow()
            .as_ref()
            .map(|(context, started)| context.current().duration_since(*started).unwrap_or_default())
    })
}

/// Counts every panic on this thread from now on, and forgets those counted so far.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let tag = disk::running();
            let injected = tag.map_or(0, |tag| disk::injected_now(tag.validator));
            PANICS
                .with(|panics| panics.borrow_mut().push(Panic { tag, injected, message: info.to_string() }));
            previous(info);
        }));
    });
    PANICS.with(|panics| panics.borrow_mut().clear());
    disk::forget_injected();
}

/// A panic on the simulation's thread (see [`PANICS`]).
#[derive(Clone)]
struct Panic {
    tag: Option<disk::Tag>,
    injected: u64,
    message: String,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<X: Executor> Executor for Recording<X> {
    fn genesis_block(&self) -> Block {
        self.inner.genesis_block()
    }

    async fn propose(&self, parent: Block, timestamp_ms: u64, context: Vec<u8>) -> Option<Block> {
        self.guarded(self.inner.propose(parent, timestamp_ms, context)).await
    }

    async fn verify(&self, parent: Block, block: Block) -> Verdict {
        self.guarded(self.inner.verify(parent, block)).await
    }

    fn ancestor(&self, block: &Block) -> bool {
        !self.halted() && self.inner.ancestor(block)
    }

    fn next_gossip(&self, bytes_max: usize) -> impl std::future::Future<Output = Vec<Vec<u8>>> + Send {
        let halted = self.halted();
        let next = self.inner.next_gossip(bytes_max);
        async move {
            if halted {
                return futures::future::pending().await;
            }
            next.await
        }
    }

    fn gossip_received(&self, message: &[u8]) -> Result<(), String> {
        if self.halted() {
            return Ok(());
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.gossip_received(message))) {
            Ok(verdict) => verdict,
            Err(panic) => {
                self.halt();
                std::panic::resume_unwind(panic)
            }
        }
    }

    async fn finalized(&self, block: Block, certificate: Vec<u8>) {
        if self.halted() {
            return futures::future::pending().await;
        }
        let height = block.height();
        let digest = block.digest();
        {
            let mut instance_height = lock(&self.instance_height);
            let mut journal = lock(&self.journal);
            if height > *instance_height + 1 {
                journal.violations.push(format!(
                    "validator {} received height {height} after {}",
                    self.validator, *instance_height
                ));
            }
            *instance_height = (*instance_height).max(height);
            match journal.delivered[self.validator].get(&height) {
                Some((known, _)) if *known != digest => {
                    let message = format!(
                        "validator {} received two blocks at height {height}: {known} and {digest}",
                        self.validator
                    );
                    journal.violations.push(message);
                }
                Some(_) => {}
                None => {
                    journal.delivered[self.validator].insert(height, (digest, certificate.clone()));
                }
            }
        }
        self.guarded(self.inner.finalized(block, certificate)).await;
    }

    fn applied_height(&self) -> u64 {
        self.inner.applied_height()
    }

    async fn stopped(&self) {
        self.inner.stopped().await;
    }
}

/// A running (or crashed) simulated validator.
struct Member<X> {
    key: ed25519::PrivateKey,
    handle: Option<Handle<()>>,
    status: Arc<Status>,
    executor: Recording<X>,
    /// Which instance of the validator this is.
    instance: u64,
    /// A [`Byzantine::Twins`] validator's second twin's executor.
    twin: Option<X>,
}

fn validator_keys(count: usize) -> Vec<ed25519::PrivateKey> {
    (0..count).map(|index| ed25519::PrivateKey::from_seed(index as u64)).collect()
}

/// The simulated validators' consensus keys, in index order.
pub fn validator_consensus_keys(count: usize) -> Vec<ConsensusKey> {
    validator_keys(count).iter().map(|key| key.public_key()).collect()
}

/// The Hansa form of the simulated validators' keys, in index order.
pub fn validator_public_keys(count: usize) -> Vec<PublicKey> {
    validator_consensus_keys(count)
        .iter()
        .map(|key| PublicKey(key.as_ref().try_into().expect("ed25519 keys are 32 bytes")))
        .collect()
}

/// A validator's channels, in the order [`into_channels`] takes them.
const CHANNELS: [u64; 6] = [
    node::CHANNEL_VOTES,
    node::CHANNEL_CERTIFICATES,
    node::CHANNEL_CONSENSUS_RESOLVER,
    node::CHANNEL_BACKFILL,
    node::CHANNEL_BLOCKS,
    node::CHANNEL_BATCHES,
];

/// The rate limit of each validator's sends to each peer on each channel.
fn sim_quota() -> Quota {
    Quota::per_second(NonZeroU32::new(SIM_MESSAGES_PER_SECOND).expect("non-zero"))
}

/// A node's channels from the pairs registered in [`CHANNELS`]' order.
fn into_channels<S, R>(pairs: Vec<(S, R)>) -> Channels<S, R> {
    let mut pairs = pairs.into_iter();
    let mut next = || pairs.next().expect("six channels registered");
    Channels {
        votes: next(),
        certificates: next(),
        consensus_resolver: next(),
        backfill: next(),
        blocks: next(),
        batches: next(),
    }
}

struct Cluster<X, F> {
    context: deterministic::Context,
    oracle: Oracle<ConsensusKey, deterministic::Context>,
    scenario: Scenario,
    members: Vec<Member<X>>,
    factory: F,
    journal: Arc<Mutex<Journal>>,
    hansa_keys: Vec<PublicKey>,
    /// What the liars did.
    lies: Arc<Mutex<byzantine::Lies>>,
    /// Validators started so far in this run (seeds each start's disorder).
    starts: u64,
    /// Each validator's disk.
    disks: Vec<DiskFaults>,
}

impl<X, F, Fut> Cluster<X, F>
where
    X: Executor,
    F: Fn(usize, Disk) -> Fut,
    Fut: std::future::Future<Output = X>,
{
    fn key(&self, index: usize) -> ConsensusKey {
        self.members[index].key.public_key()
    }

    /// Starts validator `index` from its storage with a fresh executor.
    async fn start(&mut self, index: usize) {
        if let Some(Byzantine::Twins { split_views }) = self.scenario.byzantine.get(&index).copied() {
            return self.start_twins(index, split_views).await;
        }
        let key = self.members[index].key.clone();
        let public_key = key.public_key();
        // Maps keys in log lines to indices (simplex's `leader=N` is the position in the sorted
        // key set, not this index).
        info!(index, key = %public_key, "validator starts");
        let control = self.oracle.control(public_key.clone());
        let mut channels = Vec::new();
        for (number, channel) in CHANNELS.into_iter().enumerate() {
            let (sender, receiver) =
                control.register(channel, sim_quota()).await.expect("simulated network is running");
            let sender = match self.scenario.byzantine.get(&index) {
                Some(Byzantine::Oversized) if channel == node::CHANNEL_BLOCKS => {
                    byzantine::Meddling::oversizing(sender, self.lies.clone())
                }
                Some(Byzantine::ChannelFlooder)
                    if [node::CHANNEL_VOTES, node::CHANNEL_CERTIFICATES, node::CHANNEL_BLOCKS]
                        .contains(&channel) =>
                {
                    byzantine::Meddling::flooding(sender, self.lies.clone())
                }
                _ => match self.scenario.first_block_sends_missed.get(&index) {
                    Some(missed) if channel == node::CHANNEL_BLOCKS => {
                        let missed = missed.iter().map(|peer| self.key(*peer)).collect();
                        byzantine::Meddling::missing_first_sends(sender, missed)
                    }
                    _ => byzantine::Meddling::honest(sender),
                },
            };
            channels.push((sender, self.disorderly(index, number, 0, receiver)));
        }
        self.starts += 1;
        let channels = into_channels(channels);

        let (executor, tag) = self.open(index).await;
        let status = Arc::new(Status::default());
        let participants = participants(&self.hansa_keys).expect("simulated keys are valid and distinct");
        let context = self.context.child("validator").with_attribute("index", index);
        let handle = match self.scenario.byzantine.get(&index).copied() {
            Some(kind) if kind.engine() => {
                let chain_id = self.scenario.chain_id;
                context.spawn(move |context| async move {
                    byzantine::start_engine(kind, context, &chain_id, participants, key, channels);
                    futures::future::pending::<()>().await;
                })
            }
            byzantine => {
                // Consensus storage is on the validator's disk too.
                let node_context = FaultyDisk::node(context, self.disks[index].clone(), tag);
                let config = self.node_config(index, key, format!("validator{index}"));
                let blocker = self.oracle.control(public_key);
                let peers = self.oracle.manager();
                let node_status = status.clone();
                match byzantine {
                    None => spawn_node(
                        node_context,
                        config,
                        executor.clone(),
                        channels,
                        blocker,
                        peers,
                        node_status,
                    ),
                    Some(kind) => {
                        let lying = byzantine::Lying::new(executor.clone(), kind, self.lies.clone());
                        spawn_node(node_context, config, lying, channels, blocker, peers, node_status)
                    }
                }
            }
        };
        let member = &mut self.members[index];
        member.handle = Some(handle);
        member.status = status;
        member.executor = executor;
        member.instance = tag.instance;
    }

    /// Starts [`Byzantine::Twins`] validator `index`: the first twin is the validator as the
    /// harness knows it (its executor is the one the client and the checks see); the second
    /// has its own executor (from `factory(validators + index, ..)`) and its own consensus
    /// storage (`twin{index}`). Both are children of one task, so the validator crashes and
    /// restarts as one.
    async fn start_twins(&mut self, index: usize, split_views: u64) {
        let key = self.members[index].key.clone();
        let public_key = key.public_key();
        info!(index, key = %public_key, split_views, "validator starts as twins");
        let keys: Vec<ConsensusKey> = (0..self.members.len()).map(|index| self.key(index)).collect();
        let twins = byzantine::Twins::new(&keys, public_key.clone(), split_views, self.lies.clone());
        let control = self.oracle.control(public_key.clone());
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for (number, channel) in CHANNELS.into_iter().enumerate() {
            let (sender, receiver) =
                control.register(channel, sim_quota()).await.expect("simulated network is running");
            let (first_sender, second_sender) = sender.split_with(twins.forwarder(channel));
            let (first_receiver, second_receiver) = receiver.split_with(
                self.context.child("twins_split").with_attribute("index", index),
                twins.router(channel),
            );
            first.push((
                byzantine::Meddling::honest(first_sender),
                self.disorderly(index, number, 0, first_receiver),
            ));
            second.push((
                byzantine::Meddling::honest(second_sender),
                self.disorderly(index, number, 1, second_receiver),
            ));
        }
        self.starts += 1;
        let (first, second) = (into_channels(first), into_channels(second));

        let (executor, tag) = self.open(index).await;
        if let Some(previous) = self.members[index].twin.take() {
            previous.stopped().await;
        }
        let twin_context = self.context.child("executor").with_attribute("index", index);
        let twin_executor =
            open_executor(&self.factory, self.members.len() + index, twin_context, &self.disks[index], tag)
                .await;
        let status = Arc::new(Status::default());
        let configs = (
            self.node_config(index, key.clone(), format!("validator{index}")),
            self.node_config(index, key, format!("twin{index}")),
        );
        let context = self.context.child("validator").with_attribute("index", index);
        let disk = self.disks[index].clone();
        // Neither twin blocks anyone: each also gets the answers to the other's requests,
        // which look wrong to it, and a block would cut both off from an honest peer.
        let blocker = byzantine::NoBlocks(self.oracle.control(public_key));
        let peers = self.oracle.manager();
        let (node_status, node_executor, kept_twin) =
            (status.clone(), executor.clone(), twin_executor.clone());
        let handle = context.spawn(move |context| async move {
            let node_context = FaultyDisk::node(context, disk, tag);
            let (first_config, second_config) = configs;
            spawn_node(
                node_context.child("twin"),
                first_config,
                node_executor,
                first,
                blocker.clone(),
                peers.clone(),
                node_status,
            );
            spawn_node(
                node_context.child("twin"),
                second_config,
                twin_executor,
                second,
                blocker,
                peers,
                Arc::new(Status::default()),
            );
            futures::future::pending::<()>().await;
        });
        let member = &mut self.members[index];
        member.handle = Some(handle);
        member.status = status;
        member.executor = executor;
        member.instance = tag.instance;
        member.twin = Some(kept_twin);
    }

    /// `receiver` of validator `index`'s channel `number` (of its `twin`, for twins), behind
    /// the scenario's disorder: seeded per validator, channel and start, so that a replay
    /// disorders the same way.
    fn disorderly<R: commonware_p2p::Receiver>(
        &self,
        index: usize,
        number: usize,
        twin: u64,
        receiver: R,
    ) -> disorder::Disorderly<R> {
        let seed = self.scenario.seed
            ^ ((index as u64) << 40)
            ^ ((number as u64) << 32)
            ^ (twin << 48)
            ^ self.starts;
        disorder::Disorderly::new(receiver, self.context.child("disorder"), self.scenario.disorder, seed)
    }

    /// Validator `index`'s executor, opened on its disk once its previous instance (crashed,
    /// or never started) has let go of the storage, with the new instance's tag.
    async fn open(&mut self, index: usize) -> (Recording<X>, disk::Tag) {
        self.members[index].executor.stopped().await;
        let tag = self.disks[index].start_instance();
        let executor_context = self.context.child("executor").with_attribute("index", index);
        let inner = open_executor(&self.factory, index, executor_context, &self.disks[index], tag).await;
        (Recording::new(inner, index, self.journal.clone()), tag)
    }

    /// Validator `index`'s node settings, with its consensus storage under `partition_prefix`.
    fn node_config(&self, index: usize, signer: ed25519::PrivateKey, partition_prefix: String) -> NodeConfig {
        NodeConfig {
            chain_id: self.scenario.chain_id,
            signer,
            participants: participants(&self.hansa_keys).expect("simulated keys are valid and distinct"),
            partition_prefix,
            tuning: self.scenario.tuning.clone(),
            clock_offset_ms: self.scenario.clock_skew_ms.get(&index).copied().unwrap_or(0),
        }
    }

    /// Aborts validator `index`'s tasks.
    async fn crash(&mut self, index: usize) {
        if let Some(handle) = self.members[index].handle.take() {
            handle.abort();
            let _ = handle.await;
            self.members[index].executor.stopped().await;
            if let Some(twin) = self.members[index].twin.take() {
                twin.stopped().await;
            }
        }
    }

    /// Sets every link to `link`, except between `partitioned` pairs, which get none.
    async fn apply_links(&self, link: &LinkSpec, partitioned: &BTreeSet<(usize, usize)>) {
        let count = self.members.len();
        for from in 0..count {
            for to in 0..count {
                if from == to {
                    continue;
                }
                let (sender, receiver) = (self.key(from), self.key(to));
                // A link cannot be overwritten: remove it (if any), then add the new one.
                let _ = self.oracle.remove_link(sender.clone(), receiver.clone()).await;
                if !partitioned.contains(&(from.min(to), from.max(to))) {
                    self.oracle.add_link(sender, receiver, link.link()).await.expect("link was removed");
                }
            }
        }
    }

    /// Agreement, ordering and certificate checks over everything delivered so far.
    fn check_deliveries(&self) -> Result<(), String> {
        let mut journal = lock(&self.journal);
        if let Some(violation) = journal.violations.first() {
            return Err(violation.clone());
        }
        // Agreement at every height, and no lie delivered (honest validators only).
        let guard = lock(&self.lies);
        let lies = &guard.blocks;
        let mut by_height: BTreeMap<u64, (usize, Hash)> = BTreeMap::new();
        for (validator, delivered) in journal.delivered.iter().enumerate() {
            if !self.scenario.honest(validator) {
                continue;
            }
            for (height, (digest, _)) in delivered {
                if lies.contains(digest) {
                    return Err(format!(
                        "validator {validator} delivered block {digest} at height {height}, built by a lying proposer"
                    ));
                }
                match by_height.get(height) {
                    Some((other, known)) if known != digest => {
                        return Err(format!(
                            "safety: height {height} is {known} at validator {other} but {digest} at validator {validator}"
                        ));
                    }
                    Some(_) => {}
                    None => {
                        by_height.insert(*height, (validator, *digest));
                    }
                }
            }
        }
        drop(guard);
        // Certificates verify for exactly the delivered block, and for no other.
        for validator in (0..journal.delivered.len()).filter(|index| self.scenario.honest(*index)) {
            let from = journal.verified_up_to[validator];
            let mut checked = from;
            for (height, (digest, certificate)) in journal.delivered[validator].range(from + 1..) {
                if !verify_finalization(&self.scenario.chain_id, &self.hansa_keys, digest, certificate) {
                    return Err(format!(
                        "certificate of height {height} at validator {validator} does not verify"
                    ));
                }
                if verify_finalization(&self.scenario.chain_id, &self.hansa_keys, &Hash([0; 32]), certificate)
                {
                    return Err(format!("certificate of height {height} verifies for another digest"));
                }
                checked = *height;
            }
            journal.verified_up_to[validator] = checked;
        }
        Ok(())
    }

    /// Safety and invariant checks; `Err` describes the first violation.
    async fn check<I>(&self, invariant: &I) -> Result<(), String>
    where
        I: Fn(&[X]) -> Result<(), String>,
    {
        self.check_deliveries()?;
        let executors: Vec<X> = self.members.iter().map(|member| member.executor.inner.clone()).collect();
        invariant(&executors)?;

        let blocked = self.blocked().await?;
        if let Some((by, peer)) = blocked.iter().find(|(_, peer)| self.scenario.honest(*peer)) {
            return Err(format!("validator {by} blocked validator {peer}, which is honest"));
        }
        Ok(())
    }

    /// The highest height an honest validator has finalized.
    fn honest_tip(&self) -> u64 {
        (0..self.members.len())
            .filter(|index| self.scenario.honest(*index))
            .map(|index| self.members[index].status.delivered())
            .max()
            .unwrap_or(0)
    }

    /// Who blocked whom, by index.
    async fn blocked(&self) -> Result<BTreeSet<(usize, usize)>, String> {
        let keys: Vec<ConsensusKey> = (0..self.members.len()).map(|index| self.key(index)).collect();
        let index = |key: &ConsensusKey| keys.iter().position(|known| known == key).expect("a member's key");
        let blocked = self.oracle.blocked().await.map_err(|error| format!("oracle: {error:?}"))?;
        Ok(blocked.iter().map(|(by, peer)| (index(by), index(peer))).collect())
    }

    /// Every honest validator that is up has blocked every Byzantine one whose misbehaviour
    /// is provable.
    async fn check_provable_blocked(&self) -> Result<(), String> {
        let blocked = self.blocked().await?;
        for (&peer, kind) in self.scenario.byzantine.iter().filter(|(_, kind)| kind.provable()) {
            for by in (0..self.members.len()).filter(|index| self.scenario.honest(*index)) {
                if self.members[by].handle.is_some() && !blocked.contains(&(by, peer)) {
                    return Err(format!(
                        "validator {by} did not block validator {peer}, whose misbehaviour ({kind:?}) is provable"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Commonware panics that drop the storage error they stop on, so that no cause can be read
/// from them: marshal's cache opening an archive (`failed to initialize {name} archive`).
const PANICS_WITHOUT_CAUSE: [&str; 1] = ["failed to initialize"];

/// Fails unless the validator instance of `panic` stopped on a fault injected into its own
/// disk: one its panic names, or, for a panic of [`PANICS_WITHOUT_CAUSE`], one injected after
/// the instance started and before it panicked.
fn explained_halt(tag: disk::Tag, panic: &Panic) -> Result<(), String> {
    let named = panic.injected > 0 && panic.message.contains(disk::INJECTED);
    let unnamed = panic.injected > tag.injected_at_start
        && PANICS_WITHOUT_CAUSE.iter().any(|text| panic.message.contains(text));
    if !(named || unnamed) {
        return Err(format!("validator {} stopped: {}", tag.validator, panic.message));
    }
    Ok(())
}

/// The validators that stopped on their failed disk since the last call, with what each said,
/// from the panics on this thread (when panics are counted). The first panic of a validator
/// instance is why it stops, and must be a fault injected into its own disk; its later ones
/// are its work in flight failing with it. Only the instance running now is stopped: a panic
/// of one already gone (crashed, or ended by a power loss, while its work was in flight) is
/// held to the same rule and stops nothing. A panic outside every validator fails the run.
fn new_halts<X, F, C>(
    carry: &mut Carry<C>,
    cluster: &mut Cluster<X, F>,
) -> Result<Vec<(usize, String)>, String> {
    if !carry.panics_counted {
        return Ok(Vec::new());
    }
    let panics: Vec<Panic> = PANICS.with(|panics| panics.borrow()[carry.panics_seen..].to_vec());
    carry.panics_seen += panics.len();
    let mut halts = Vec::new();
    for panic in panics {
        let Some(tag) = panic.tag else {
            return Err(format!("a task panicked outside every validator: {}", panic.message));
        };
        // Work in flight of an instance that already stopped on its disk.
        if !carry.stopped_instances.insert((tag.validator, tag.instance)) {
            continue;
        }
        explained_halt(tag, &panic)?;
        let member = &cluster.members[tag.validator];
        if tag.instance == member.instance && member.handle.is_some() {
            halts.push((tag.validator, panic.message));
        }
    }
    Ok(halts)
}

/// Opens validator `index`'s executor on its disk. Faults are held back while it opens: a
/// validator whose disk fails at its start would stop and be started again, which the harness
/// leaves out (it restarts a validator once its disk is repaired).
async fn open_executor<X, F, Fut>(
    factory: &F,
    index: usize,
    context: deterministic::Context,
    disk: &DiskFaults,
    tag: disk::Tag,
) -> X
where
    F: Fn(usize, Disk) -> Fut,
    Fut: std::future::Future<Output = X>,
{
    disk.suspend(true);
    let executor = factory(index, FaultyDisk::executor(context, disk.clone(), tag)).await;
    disk.suspend(false);
    executor
}

/// Spawns a validator's node as a child of `context`; it runs until the returned handle is
/// aborted.
fn spawn_node<Y, S, R, B>(
    context: Disk,
    config: NodeConfig,
    executor: Y,
    channels: Channels<S, R>,
    blocker: B,
    peers: simulated::Manager<ConsensusKey, deterministic::Context>,
    status: Arc<Status>,
) -> Handle<()>
where
    Y: Executor,
    B: commonware_p2p::Blocker<PublicKey = ConsensusKey>,
    S: commonware_p2p::Sender<PublicKey = ConsensusKey>,
    R: commonware_p2p::Receiver<PublicKey = ConsensusKey>,
{
    context.spawn(move |context| async move {
        node::start(context, config, executor, channels, blocker, peers, status)
            .await
            .expect("simulated validator starts");
        // The node's tasks are children of this one: keep it alive until aborted.
        futures::future::pending::<()>().await;
    })
}

/// An event of the fault timeline.
#[derive(Debug, Clone)]
enum Event {
    Crash(usize),
    Restart(usize),
    Partition(Vec<usize>),
    Heal(Vec<usize>),
    Degrade(LinkSpec),
    Restore,
    PowerLoss(Duration),
    DiskFails(usize, DiskFault),
    DiskRepaired(usize),
}

fn timeline(faults: &[Fault]) -> Vec<(Duration, Event)> {
    let mut events = Vec::new();
    for fault in faults {
        match fault {
            Fault::Crash { validator, at, down_for } => {
                events.push((*at, Event::Crash(*validator)));
                if let Some(down_for) = down_for {
                    events.push((*at + *down_for, Event::Restart(*validator)));
                }
            }
            Fault::Partition { group, at, duration } => {
                events.push((*at, Event::Partition(group.clone())));
                events.push((*at + *duration, Event::Heal(group.clone())));
            }
            Fault::PowerLoss { at, down_for } => events.push((*at, Event::PowerLoss(*down_for))),
            Fault::Disk { validator, at, duration, fault } => {
                events.push((*at, Event::DiskFails(*validator, *fault)));
                events.push((*at + *duration, Event::DiskRepaired(*validator)));
            }
            Fault::Degrade { link, at, duration } => {
                events.push((*at, Event::Degrade(*link)));
                events.push((*at + *duration, Event::Restore));
            }
        }
    }
    events.sort_by_key(|(at, _)| *at);
    events
}

fn pairs_across(group: &[usize], count: usize) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for &inside in group {
        for outside in (0..count).filter(|index| !group.contains(index)) {
            pairs.push((inside.min(outside), inside.max(outside)));
        }
    }
    pairs
}

/// Runs `scenario` with executors from `factory`, checking `invariant` over them at every check.
/// Panics, naming the seed, on any safety, invariant or liveness failure.
///
/// `factory(index, context)` is called once per validator when the cluster is built (the
/// instance the invariant sees until the validator first starts) and again at every start or
/// restart, with a context of the simulated runtime (whose storage survives a validator's
/// restart, as a disk does); the second twin of a [`Byzantine::Twins`] validator `index` of
/// `n` is opened with `factory(n + index, context)` at each of its starts.
/// Validator `index` signs with `ed25519::PrivateKey::from_seed(index)`; its Hansa key is
/// `validator_public_keys(n)[index]`, for building a matching genesis.
pub fn run<X, F, Fut, I>(scenario: Scenario, factory: F, invariant: I) -> Outcome
where
    X: Executor,
    F: Fn(usize, Disk) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = X> + Send,
    I: Fn(&[X]) -> Result<(), String> + Send + 'static,
{
    run_with_client(scenario, factory, invariant, |_: Duration, _: &[X], _: &[bool]| true)
}

/// [`run`] with a client: before every check, `client(elapsed, executors, up)` is called with the
/// simulated time since the start, the current executor of every validator and whether each is
/// up (a crashed validator's executor is the stopped instance). The client drives load through
/// the executors (it runs on the simulated clock, inside the deterministic runtime, so the same
/// seed replays it exactly) and returns `true` once it has nothing left to do; the run ends only
/// then, in addition to the conditions of [`run`]. Make `check_every` small to submit finely.
pub fn run_with_client<X, F, Fut, I, C>(scenario: Scenario, factory: F, invariant: I, client: C) -> Outcome
where
    X: Executor,
    F: Fn(usize, Disk) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = X> + Send,
    I: Fn(&[X]) -> Result<(), String> + Send + 'static,
    C: FnMut(Duration, &[X], &[bool]) -> bool + Send + 'static,
{
    let seed = scenario.seed;
    let result = catch_unwind(AssertUnwindSafe(|| simulate(scenario, factory, invariant, client)));
    match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(reason)) => panic!("simulation failed (seed {seed}): {reason}"),
        Err(panic) => panic!("simulation failed (seed {seed}): {}", panic_message(&*panic)),
    }
}

/// What carries over from one run of the simulated runtime to the next: a power loss ends a
/// run (every validator stops at once and every write not yet synced is lost) and the next
/// resumes from the runtime's checkpoint, its storage and clock.
struct Carry<C> {
    client: C,
    events: Vec<(Duration, Event)>,
    /// Index of the next event of `events` to apply.
    next_event: usize,
    /// When the first run started (simulated time goes on across runs).
    started: Option<std::time::SystemTime>,
    /// Validators down after a crash of their own, until their restart.
    down: BTreeSet<usize>,
    /// After a power loss: when the validators start again, and the highest height an honest
    /// validator had finalized when the power went.
    power_back_at: Option<(Duration, u64)>,
    /// When a validator last started again (a restart, or the power coming back).
    last_start: Option<Duration>,
    /// Power losses whose recovery is not yet seen: (power back at, highest height finalized
    /// by an honest validator before the loss, when the bound starts: the power coming back or
    /// a later heal of the network).
    power_pending: Vec<(Duration, u64, Duration)>,
    /// Seen recoveries from power losses ([`Outcome::power_recoveries`]).
    power_recoveries: Vec<Duration>,
    link: LinkSpec,
    degraded: bool,
    partitioned: BTreeSet<(usize, usize)>,
    /// When the last event was applied.
    last_applied: Duration,
    /// Partitions healed and not yet checked for prompt recovery: (healed at, highest height
    /// delivered by an honest validator then).
    recoveries: Vec<(Duration, u64)>,
    journal: Arc<Mutex<Journal>>,
    lies: Arc<Mutex<byzantine::Lies>>,
    /// Each validator's disk (it outlives power losses).
    disks: Vec<DiskFaults>,
    /// Panics of [`PANICS`] handled so far.
    panics_seen: usize,
    /// Validator instances (validator, instance) that panicked: stopped on their disk.
    stopped_instances: BTreeSet<(usize, u64)>,
    /// Each stop of a validator on its failed disk: which, and what it said.
    disk_halts: Vec<(usize, String)>,
    /// Validators stopped by their disk, and when their operator starts them again.
    restarts: Vec<(Duration, usize)>,
    /// Whether panics are counted (a scenario with disk faults).
    panics_counted: bool,
}

/// How one run of the simulated runtime ended.
enum RunEnd {
    Done(Box<Outcome>),
    PowerLoss,
}

fn simulate<X, F, Fut, I, C>(
    scenario: Scenario,
    factory: F,
    invariant: I,
    client: C,
) -> Result<Outcome, String>
where
    X: Executor,
    F: Fn(usize, Disk) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = X> + Send,
    I: Fn(&[X]) -> Result<(), String> + Send + 'static,
    C: FnMut(Duration, &[X], &[bool]) -> bool + Send + 'static,
{
    assert!(scenario.validators >= 1, "a cluster needs validators");
    let count = scenario.validators;
    for (&index, kind) in &scenario.byzantine {
        assert!(index < count, "Byzantine validator {index} ({kind:?}) is not one of the {count}");
    }
    for (&index, missed) in &scenario.first_block_sends_missed {
        let outside = missed.iter().find(|peer| **peer >= count || **peer == index);
        assert!(
            index < count && outside.is_none(),
            "first_block_sends_missed: {index} -> {missed:?} with {count}"
        );
    }
    let mut runtime = deterministic::Config::new()
        .with_seed(scenario.seed)
        .with_timeout(Some(scenario.time_limit + Duration::from_secs(60)));
    let panics_counted = scenario.faults.iter().any(|fault| matches!(fault, Fault::Disk { .. }));
    if panics_counted {
        // A validator whose disk fails panics (as it must: see `App`); the harness then stops
        // it, as its process would end. Every panic is counted, and one that is not a
        // validator stopping on its failed disk fails the run.
        runtime = runtime.with_catch_panics(true);
        count_panics();
    }
    if let Some(torn) = scenario.torn_writes {
        runtime = runtime.with_storage_fault_config(FaultConfig::default().write(WriteConfig {
            failure_rate: Probability::from_f64(0.0).expect("zero is a probability"),
            retention_rate:
                Probability::from_f64(torn.retention).expect("torn-write retention within 0.0..=1.0"),
            mode: if torn.prefix { PartialWriteMode::Prefix } else { PartialWriteMode::Subset },
        }));
    }
    let mut config = Some(runtime);
    let mut carry = Carry {
        client,
        events: timeline(&scenario.faults),
        next_event: 0,
        started: None,
        down: scenario
            .faults
            .iter()
            .filter_map(|fault| match fault {
                Fault::Crash { validator, at, .. } if at.is_zero() => Some(*validator),
                _ => None,
            })
            .collect(),
        power_back_at: None,
        last_start: None,
        power_pending: Vec::new(),
        power_recoveries: Vec::new(),
        link: scenario.link,
        degraded: false,
        partitioned: BTreeSet::new(),
        last_applied: Duration::ZERO,
        recoveries: Vec::new(),
        journal: Arc::new(Mutex::new(Journal {
            delivered: vec![BTreeMap::new(); count],
            verified_up_to: vec![0; count],
            violations: Vec::new(),
        })),
        lies: Arc::default(),
        disks: (0..count)
            .map(|index| DiskFaults::new(index, scenario.seed ^ 0xD15C ^ ((index as u64) << 48)))
            .collect(),
        panics_seen: 0,
        stopped_instances: BTreeSet::new(),
        disk_halts: Vec::new(),
        restarts: Vec::new(),
        panics_counted,
    };
    let mut checkpoint = None;
    loop {
        let (scenario, factory, invariant, carry) = (&scenario, &factory, &invariant, &mut carry);
        let run = move |context| {
            // Moved out, not reborrowed: the run's future holds it for the whole run.
            let carry = carry;
            simulate_run(context, scenario, factory, invariant, carry)
        };
        let (end, next) = match checkpoint.take() {
            None => deterministic::Runner::new(config.take().expect("one first run")).start_and_recover(run),
            Some(checkpoint) => deterministic::Runner::from(checkpoint).start_and_recover(run),
        };
        match end? {
            RunEnd::Done(outcome) => return Ok(*outcome),
            RunEnd::PowerLoss => checkpoint = Some(next),
        }
    }
}

/// One run of the simulated runtime: from the start, or from a power loss, to the end of the
/// scenario or the next power loss.
async fn simulate_run<X, F, Fut, I, C>(
    context: deterministic::Context,
    scenario: &Scenario,
    factory: &F,
    invariant: &I,
    carry: &mut Carry<C>,
) -> Result<RunEnd, String>
where
    X: Executor,
    F: Fn(usize, Disk) -> Fut,
    Fut: std::future::Future<Output = X>,
    I: Fn(&[X]) -> Result<(), String>,
    C: FnMut(Duration, &[X], &[bool]) -> bool,
{
    let count = scenario.validators;
    let started = *carry.started.get_or_insert_with(|| context.current());
    let _clock = LogClock::set(context.child("log_clock"), started);
    let elapsed_now =
        |context: &deterministic::Context| context.current().duration_since(started).unwrap_or_default();
    if let Some((back_at, tip)) = carry.power_back_at.take() {
        let wait = back_at.saturating_sub(elapsed_now(&context));
        context.sleep(wait).await;
        // The power coming back is an event too: a partition that healed while it was off is
        // not held to recovering within `RECOVERY_AFTER_HEAL` of the heal.
        carry.last_applied = carry.last_applied.max(back_at);
        carry.last_start = Some(back_at);
        carry.power_pending.push((back_at, tip, back_at));
    }
    let keys = validator_keys(count);
    let hansa_keys = validator_public_keys(count);
    let consensus_keys: Vec<ConsensusKey> = keys.iter().map(|key| key.public_key()).collect();
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: node::max_message_size(count),
            max_peers_per_set: NonZeroUsize::new(count).expect("at least one validator"),
            disconnect_on_block: true,
            tracked_peer_sets: NonZeroUsize::MIN,
        },
        consensus_keys,
    )
    .await;
    network.start();

    let mut members = Vec::with_capacity(count);
    for (index, key) in keys.into_iter().enumerate() {
        let executor_context = context.child("executor").with_attribute("index", index);
        let tag = carry.disks[index].start_instance();
        let inner = open_executor(factory, index, executor_context, &carry.disks[index], tag).await;
        members.push(Member {
            key,
            handle: None,
            status: Arc::new(Status::default()),
            executor: Recording::new(inner, index, carry.journal.clone()),
            instance: tag.instance,
            twin: None,
        });
    }
    let mut cluster = Cluster {
        context: context.child("cluster"),
        oracle,
        scenario: scenario.clone(),
        members,
        factory,
        journal: carry.journal.clone(),
        hansa_keys,
        lies: carry.lies.clone(),
        starts: 0,
        disks: carry.disks.clone(),
    };

    cluster.apply_links(&carry.link, &carry.partitioned).await;
    for index in 0..count {
        if !carry.down.contains(&index) {
            cluster.start(index).await;
        }
    }
    let last_event = carry.events.last().map_or(Duration::ZERO, |(at, _)| *at);

    loop {
        let elapsed = elapsed_now(&context);
        // Apply every fault that is due.
        while let Some((at, event)) = carry.events.get(carry.next_event).cloned() {
            if at > elapsed {
                break;
            }
            carry.next_event += 1;
            carry.last_applied = carry.last_applied.max(at);
            info!(?elapsed, ?event, "fault");
            // A fault after the power came back leaves out the recovery from that power loss;
            // a heal only moves the start of its bound, to the heal if it came later (a heal
            // due while the power was off is part of what the power came back to).
            if matches!(event, Event::Heal(_) | Event::Restore) {
                for (_, _, bound_from) in &mut carry.power_pending {
                    *bound_from = (*bound_from).max(at);
                }
            } else {
                // (An event due while the power was off is part of the state it came back to.)
                carry.power_pending.retain(|(back_at, _, _)| at <= *back_at);
            }
            match event {
                Event::Crash(index) => {
                    carry.down.insert(index);
                    cluster.crash(index).await;
                }
                Event::Restart(index) => {
                    carry.down.remove(&index);
                    carry.last_start = Some(at);
                    cluster.start(index).await;
                }
                Event::Partition(group) => {
                    carry.partitioned.extend(pairs_across(&group, count));
                    cluster.apply_links(&carry.link, &carry.partitioned).await;
                }
                Event::Heal(group) => {
                    // A heal soon after a start is not held to `RECOVERY_AFTER_HEAL`: the
                    // cluster is still waiting for the restart.
                    if carry.last_start.is_none_or(|started| started + RECOVERY_AFTER_HEAL <= at) {
                        carry.recoveries.push((at, cluster.honest_tip()));
                    }
                    for pair in pairs_across(&group, count) {
                        carry.partitioned.remove(&pair);
                    }
                    cluster.apply_links(&carry.link, &carry.partitioned).await;
                }
                Event::Degrade(worse) => {
                    carry.link = worse;
                    carry.degraded = true;
                    cluster.apply_links(&carry.link, &carry.partitioned).await;
                }
                Event::Restore => {
                    carry.link = scenario.link;
                    carry.degraded = false;
                    cluster.apply_links(&carry.link, &carry.partitioned).await;
                }
                Event::DiskFails(index, fault) => carry.disks[index].arm(fault),
                Event::DiskRepaired(index) => carry.disks[index].disarm(),
                Event::PowerLoss(down_for) => {
                    // Every validator stops at once; the run ends here, and with it every
                    // write not yet synced. A validator that stopped on its disk just before
                    // is held to the same rule, and then stops with the others (its panic
                    // would otherwise stop the instance started after the power is back).
                    let halts = new_halts(carry, &mut cluster)?;
                    carry.disk_halts.extend(halts);
                    let tip = cluster.honest_tip();
                    for index in 0..count {
                        cluster.crash(index).await;
                    }
                    carry.power_back_at = Some((at + down_for, tip));
                    return Ok(RunEnd::PowerLoss);
                }
            }
        }

        // A validator that stopped on its failed disk (its executor, or its consensus storage):
        // its process ends here; its operator starts it again once the disk is repaired. Any
        // other panic fails the run.
        for (index, message) in new_halts(carry, &mut cluster)? {
            carry.disk_halts.push((index, message.clone()));
            info!(index, %message, ?elapsed, "validator stopped by its disk");
            carry.down.insert(index);
            carry.last_applied = carry.last_applied.max(elapsed);
            carry.power_pending.retain(|(back_at, _, _)| elapsed <= *back_at);
            cluster.crash(index).await;
            let repaired = carry.events[carry.next_event..]
                .iter()
                .find(|(_, event)| matches!(event, Event::DiskRepaired(repaired) if *repaired == index))
                .map_or(elapsed, |(at, _)| *at);
            carry.restarts.push(((elapsed + RESTART_AFTER_DISK_HALT).max(repaired), index));
        }
        let mut due = Vec::new();
        carry.restarts.retain(|(at, index)| {
            if *at <= elapsed {
                due.push((*at, *index));
                return false;
            }
            true
        });
        for (at, index) in due {
            // (Unless something else started it meanwhile.)
            if !carry.down.remove(&index) {
                continue;
            }
            carry.last_start = Some(at);
            carry.last_applied = carry.last_applied.max(at);
            cluster.start(index).await;
        }

        let executors: Vec<X> = cluster.members.iter().map(|member| member.executor.inner.clone()).collect();
        // The client uses honest validators only.
        let running: Vec<bool> = (0..count)
            .map(|index| cluster.members[index].handle.is_some() && scenario.honest(index))
            .collect();
        let client_done = (carry.client)(elapsed, &executors, &running);
        drop(executors);

        cluster.check(invariant).await?;

        let healed =
            elapsed >= last_event && carry.next_event == carry.events.len() && carry.restarts.is_empty();
        let up: Vec<usize> = (0..count)
            .filter(|index| cluster.members[*index].handle.is_some() && scenario.honest(*index))
            .collect();
        // Prompt recovery: checked for a heal after which no other fault happened and none is
        // in force (no partition, the base link, a quorum of honest validators up).
        let quorum = count - (count - 1) / 3;
        let mut due = Vec::new();
        let clean = carry.partitioned.is_empty() && !carry.degraded && up.len() >= quorum;
        let last_applied = carry.last_applied;
        carry.recoveries.retain(|(at, tip)| {
            let is_due = elapsed >= *at + RECOVERY_AFTER_HEAL;
            if is_due && last_applied <= *at && clean {
                due.push((*at, *tip));
            }
            !is_due
        });
        for (at, tip) in due {
            let behind: Vec<(usize, u64)> = up
                .iter()
                .map(|index| (*index, cluster.members[*index].status.delivered()))
                .filter(|(_, height)| *height <= tip)
                .collect();
            if !behind.is_empty() {
                return Err(format!(
                    "recovery: a partition healed at {at:?}, when the highest finalized height was \
                     {tip}; at {elapsed:?} validators (index, height) {behind:?} had finalized nothing above it"
                ));
            }
        }
        let lowest = up.iter().map(|index| cluster.members[*index].status.delivered()).min();
        // Recovery from a power loss: every honest validator that is up above the tip before it.
        let mut recovered = Vec::new();
        carry.power_pending.retain(|(back_at, tip, _)| {
            if lowest.is_some_and(|height| height > *tip) {
                recovered.push(elapsed.saturating_sub(*back_at));
                return false;
            }
            true
        });
        carry.power_recoveries.extend(recovered);
        if let Some((back_at, tip, _)) = carry
            .power_pending
            .iter()
            .find(|(_, _, bound_from)| clean && elapsed > *bound_from + RECOVERY_AFTER_POWER_LOSS)
        {
            let heights: Vec<(usize, u64)> =
                up.iter().map(|index| (*index, cluster.members[*index].status.delivered())).collect();
            return Err(format!(
                "recovery: the power came back at {back_at:?}, when the highest finalized height was \
                 {tip}; at {elapsed:?} validators (index, height) {heights:?} had not all finalized above it"
            ));
        }
        if healed
            && client_done
            && carry.recoveries.is_empty()
            && carry.power_pending.is_empty()
            && lowest.is_some_and(|height| height >= scenario.target_height)
        {
            break;
        }
        if elapsed >= scenario.time_limit {
            let heights: Vec<u64> = cluster.members.iter().map(|member| member.status.delivered()).collect();
            return Err(format!(
                "liveness: after {elapsed:?} delivered heights are {heights:?} (up: {up:?}), target {}",
                scenario.target_height
            ));
        }
        // Wake exactly when a recovery falls due, so that it is checked at its bound.
        let next_due = carry
            .recoveries
            .iter()
            .map(|(at, _)| (*at + RECOVERY_AFTER_HEAL).saturating_sub(elapsed))
            .filter(|wait| !wait.is_zero())
            .min();
        context.sleep(next_due.map_or(scenario.check_every, |wait| wait.min(scenario.check_every))).await;
    }

    cluster.check_provable_blocked().await?;
    let blocked = cluster.blocked().await?;
    // Panics during the last step are held to the same rule.
    let halts = new_halts(carry, &mut cluster)?;
    carry.disk_halts.extend(halts);
    let (lies, lie_bytes, twin_conflicts) = {
        let lies = lock(&cluster.lies);
        let conflicts = lies.twins_signed.iter().filter(|(_, votes)| votes.conflict()).map(|(view, _)| *view);
        ((lies.blocks.len(), lies.messages), lies.bytes, conflicts.collect())
    };
    let elapsed = elapsed_now(&context);
    let journal = lock(&cluster.journal);
    let finalized = journal
        .delivered
        .iter()
        .map(|delivered| delivered.iter().map(|(height, (digest, _))| (*height, *digest)).collect())
        .collect();
    let certificates: Vec<BTreeMap<u64, Vec<u8>>> = journal
        .delivered
        .iter()
        .map(|delivered| {
            delivered.iter().map(|(height, (_, certificate))| (*height, certificate.clone())).collect()
        })
        .collect();
    drop(journal);
    let linked_certificates = certificates
        .iter()
        .flat_map(|certificates| certificates.values())
        .filter(|certificate| {
            FinalityCertificate::decode(certificate).is_ok_and(|decoded| !decoded.links.is_empty())
        })
        .count();
    for member in &mut cluster.members {
        if let Some(handle) = member.handle.take() {
            handle.abort();
        }
    }
    Ok(RunEnd::Done(Box::new(Outcome {
        seed: scenario.seed,
        finalized,
        certificates,
        linked_certificates,
        auditor_state: context.auditor().state(),
        elapsed,
        blocked,
        lies,
        lie_bytes,
        twin_conflicts,
        power_recoveries: carry.power_recoveries.clone(),
        disk_halts: carry.disk_halts.clone(),
        disk_faults: carry.disks.iter().map(DiskFaults::injected).sum(),
    })))
}

/// A toy executor: blocks carry no batches and `state_root = hash(parent state_root, height)`.
/// It records the finalized digest and state root of every height.
#[derive(Clone, Default)]
pub struct ToyExecutor {
    state: Arc<Mutex<ToyState>>,
}

#[derive(Default)]
struct ToyState {
    /// Height -> (block digest, state root), for finalized blocks.
    finalized: BTreeMap<u64, (Hash, Hash)>,
    /// Height -> the leader that proposed the finalized block (from its header's context).
    leaders: BTreeMap<u64, ConsensusKey>,
}

/// Domain tag of the toy state root.
const TOY_STATE_DOMAIN: &str = "hansa/sim/toy-state/v1";

impl ToyExecutor {
    /// A fresh executor (nothing applied).
    pub fn new() -> Self {
        Self::default()
    }

    /// The toy state root of a child of a block with `parent_state_root` at `height`.
    pub fn state_root(parent_state_root: &Hash, height: u64) -> Hash {
        hansa_types::hash::hash_parts(TOY_STATE_DOMAIN, &[&parent_state_root.0, &height.to_le_bytes()])
    }

    /// Finalized block digests by height.
    pub fn finalized_digests(&self) -> BTreeMap<u64, Hash> {
        lock(&self.state).finalized.iter().map(|(height, (digest, _))| (*height, *digest)).collect()
    }

    /// The leaders that proposed the finalized blocks, by height.
    pub fn finalized_leaders(&self) -> BTreeMap<u64, ConsensusKey> {
        lock(&self.state).leaders.clone()
    }

    /// Finalized state roots by height.
    pub fn finalized_state_roots(&self) -> BTreeMap<u64, Hash> {
        lock(&self.state).finalized.iter().map(|(height, (_, root))| (*height, *root)).collect()
    }
}

impl Executor for ToyExecutor {
    fn genesis_block(&self) -> Block {
        Block {
            header: Header {
                version: hansa_types::block::HEADER_VERSION,
                height: 0,
                parent: Hash::ZERO,
                timestamp_ms: 0,
                state_root: hansa_types::hash::hash(TOY_STATE_DOMAIN, b"genesis"),
                operations_root: hansa_types::merkle::root(&[]),
                operations_count: 0,
                results_root: hansa_types::merkle::root(&[]),
                context: Vec::new(),
            },
            batches: Vec::new(),
        }
    }

    async fn propose(&self, parent: Block, timestamp_ms: u64, context: Vec<u8>) -> Option<Block> {
        let height = parent.height() + 1;
        Some(Block {
            header: Header {
                version: hansa_types::block::HEADER_VERSION,
                height,
                parent: parent.digest(),
                timestamp_ms,
                state_root: Self::state_root(&parent.header.state_root, height),
                operations_root: hansa_types::merkle::root(&[]),
                operations_count: 0,
                results_root: hansa_types::merkle::root(&[]),
                context,
            },
            batches: Vec::new(),
        })
    }

    async fn verify(&self, parent: Block, block: Block) -> Verdict {
        let valid = block.batches.is_empty()
            && block.header.state_root == Self::state_root(&parent.header.state_root, block.height())
            && block.header.results_root == hansa_types::merkle::root(&[]);
        if valid { Verdict::Valid } else { Verdict::Invalid }
    }

    async fn finalized(&self, block: Block, _certificate: Vec<u8>) {
        let mut state = lock(&self.state);
        let height = block.height();
        if let Some((digest, _)) = state.finalized.get(&height) {
            assert_eq!(*digest, block.digest(), "a finalized height never changes its block");
            return;
        }
        let applied = state.finalized.keys().last().copied().unwrap_or(0);
        assert_eq!(height, applied + 1, "finalized blocks arrive in height order");
        if let Some((_, parent_root)) = state.finalized.get(&(height - 1)) {
            assert_eq!(
                block.header.state_root,
                Self::state_root(parent_root, height),
                "finalized block has the wrong state root"
            );
        }
        state.finalized.insert(height, (block.digest(), block.header.state_root));
        if let Some(context) = crate::block::decode_context(&block.header.context) {
            state.leaders.insert(height, context.leader);
        }
    }

    fn ancestor(&self, _block: &Block) -> bool {
        false // It keeps no unfinalized state.
    }

    fn applied_height(&self) -> u64 {
        lock(&self.state).finalized.keys().last().copied().unwrap_or(0)
    }
}

/// The common invariant of toy executors: identical state roots at every height they share.
pub fn toy_state_roots_agree(executors: &[ToyExecutor]) -> Result<(), String> {
    let mut roots: BTreeMap<u64, Hash> = BTreeMap::new();
    for (index, executor) in executors.iter().enumerate() {
        for (height, root) in executor.finalized_state_roots() {
            if let Some(known) = roots.insert(height, root)
                && known != root
            {
                return Err(format!("state root of height {height} differs at validator {index}"));
            }
        }
    }
    Ok(())
}
