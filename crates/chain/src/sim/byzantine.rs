//! Byzantine validators for the simulator.
//!
//! Two sorts. Commonware's own misbehaving simplex actors ([`Byzantine::engine`]) replace a
//! validator's consensus engine on the vote channel: the validator signs what the actor decides
//! with its real key and runs nothing else (its other channels are drained). Hansa's own run a
//! full validator whose executor lies ([`Lying`]): its proposals break the ledger's rules, or it
//! forwards batches no honest validator forwards, or floods its peers with copies of what it
//! hears.
//!
//! What the harness then checks, over the honest validators only: they never deliver two
//! blocks at one height nor any block a liar built, their state roots agree, they keep
//! finalizing, they block only Byzantine peers, and every honest validator that is up blocks a
//! peer whose misbehaviour is provable ([`Byzantine::provable`]).

use crate::block::BLOCK_BYTES_MAX;
use crate::{
    Executor, Verdict,
    block::{ConsensusKey, Digest, EPOCH},
    certificate::{Scheme, namespace},
    node::{self, Channels},
};
use commonware_actor::{Feedback, Unreliable};
use commonware_codec::{Copying, Decode as _, DecodeExt as _};
use commonware_consensus::{
    Viewable as _,
    simplex::{
        elector::RoundRobin,
        mocks::{conflicter, equivocator, impersonator, nuller, nullify_only, outdated, relay::Relay, twins},
        types::{Certificate, Proposal, Vote},
    },
    types::{TermLength, View, ViewDelta},
};
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::{Sha256, ed25519};
use commonware_p2p::{
    BlockedSubscription, Blocker, CheckedSender, LimitedSender, Message, Receiver, Recipients, Sender,
    simulated::{SplitForwarder, SplitOrigin, SplitRouter, SplitTarget},
};
use commonware_runtime::{IoBuf, IoBufs, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::ordered::Set;
use hansa_types::block::BATCHES_PER_BLOCK_MAX;
use hansa_types::{
    BatchList, Block, Decode as _, Encode as _, Hash, OPERATIONS_PER_BATCH_MAX, SealedBatch, SignedBatch,
};
use std::time::SystemTime;
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex},
};

/// How a Byzantine validator misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Byzantine {
    /// Commonware's `conflicter`: for every proposal it hears, votes for it and for a random
    /// digest in the same view (to notarize and to finalize).
    Conflicter,
    /// Commonware's `equivocator`: when it leads, proposes two different payloads, one to a
    /// single victim and one to the others.
    Equivocator,
    /// Commonware's `impersonator`: votes under another validator's index.
    Impersonator,
    /// Commonware's `nuller`: votes both to skip a view and to finalize its proposal.
    Nuller,
    /// Commonware's `nullify_only`: only ever votes to skip views.
    NullifyOnly,
    /// Commonware's `outdated`: repeats its votes of views long past.
    Outdated,
    /// A full validator whose proposals claim a wrong state root.
    WrongStateRoot,
    /// A full validator whose proposals carry a batch with a forged signature.
    ForgedBatch,
    /// A full validator whose proposals repeat a batch that is already final.
    ReplayedBatch,
    /// A full validator that forwards, with forged signatures, the batches other validators
    /// forward to it.
    Forger,
    /// A full validator that forwards every batch list it hears back to everyone, many times
    /// over: noise that proves nothing (duplicates), which must cost its peers bounded memory.
    Flooder,
    /// A full validator that broadcasts, in place of every block, bytes over a block's limits
    /// (too long, too many batches, a forged count, a batch of too many operations): its peers
    /// drop them undecoded (not provable: what failed to decode is not tied to a signed
    /// proposal) and fetch its proposals' blocks from it by digest instead.
    Oversized,
    /// A full validator that sends every vote, certificate and block broadcast 32 times:
    /// duplicates, which prove nothing, within the rate limit of each link.
    ChannelFlooder,
    /// Commonware's twins (the Twins method of its simplex tests): two full validators, each
    /// with its own storage and executor and each honest in itself, sign with this one key.
    /// For views 1 to `split_views`, a view's votes and certificates go between each twin and
    /// its own half of the validators (Commonware's `twins::view_partitions`: the sorted keys
    /// split at the view's number modulo their count), so that a view this key leads gets two
    /// proposals, one per half, and each half hears other votes from it; from the next view on,
    /// both twins talk to everyone. Every other channel carries both twins' messages to
    /// everyone and everyone's to both. Not provable as a kind: twins that never lead while
    /// split sign nothing that conflicts.
    Twins {
        /// The last view whose consensus messages are split between the twins.
        split_views: u64,
    },
}

/// How many copies of each batch list it hears a [`Byzantine::Flooder`] sends back.
const FLOOD_COPIES: usize = 32;
/// The most batch lists a liar keeps to echo or replay.
const KEPT_MAX: usize = 64;

impl Byzantine {
    /// Every kind but [`Byzantine::Twins`] (which has a family of its own), in declaration
    /// order: what the `byzantine` family draws from.
    pub const ALL: [Byzantine; 13] = [
        Byzantine::Conflicter,
        Byzantine::Equivocator,
        Byzantine::Impersonator,
        Byzantine::Nuller,
        Byzantine::NullifyOnly,
        Byzantine::Outdated,
        Byzantine::WrongStateRoot,
        Byzantine::ForgedBatch,
        Byzantine::ReplayedBatch,
        Byzantine::Forger,
        Byzantine::Flooder,
        Byzantine::Oversized,
        Byzantine::ChannelFlooder,
    ];

    /// Whether honest validators can prove the misbehaviour from what they receive, and so
    /// must block the validator: conflicting votes signed by one key, a vote whose signature is
    /// not its claimed signer's, a forwarded batch that no honest validator forwards, a
    /// proposal (signed by its leader) of a block that is invalid in itself.
    pub fn provable(self) -> bool {
        matches!(
            self,
            Byzantine::Conflicter
                | Byzantine::Impersonator
                | Byzantine::Nuller
                | Byzantine::Forger
                | Byzantine::WrongStateRoot
                | Byzantine::ForgedBatch
                | Byzantine::ReplayedBatch
        )
    }

    /// Whether one of Commonware's actors replaces the validator's consensus (its ledger and
    /// everything else do not run).
    pub fn engine(self) -> bool {
        matches!(
            self,
            Byzantine::Conflicter
                | Byzantine::Equivocator
                | Byzantine::Impersonator
                | Byzantine::Nuller
                | Byzantine::NullifyOnly
                | Byzantine::Outdated
        )
    }
}

/// Starts Commonware's actor for `kind` as children of `context`, on the validator's channels,
/// signing with `key`; the channels the actor does not use are drained.
pub(super) fn start_engine<S, R>(
    kind: Byzantine,
    context: deterministic::Context,
    chain_id: &Hash,
    participants: Set<ed25519::PublicKey>,
    key: ed25519::PrivateKey,
    channels: Channels<S, R>,
) where
    S: Sender<PublicKey = ConsensusKey>,
    R: Receiver<PublicKey = ConsensusKey>,
{
    let scheme = Scheme::signer(&namespace(chain_id), participants, key)
        .expect("a Byzantine validator is a participant");
    let engine = context.child("byzantine_engine");
    let mut unused = vec![channels.consensus_resolver, channels.backfill, channels.blocks, channels.batches];
    match kind {
        Byzantine::Conflicter => {
            conflicter::Conflicter::<_, _, Sha256>::new(engine, conflicter::Config { scheme })
                .start(channels.votes);
            unused.push(channels.certificates);
        }
        Byzantine::Equivocator => {
            let config = equivocator::Config {
                scheme,
                elector: RoundRobin::<Sha256>::default(),
                epoch: EPOCH,
                relay: Arc::new(Relay::new()),
            };
            equivocator::Equivocator::<_, _, _, Sha256>::new(engine, config)
                .start(channels.votes, channels.certificates);
        }
        Byzantine::Impersonator => {
            impersonator::Impersonator::<_, _, Sha256>::new(engine, impersonator::Config { scheme })
                .start(channels.votes);
            unused.push(channels.certificates);
        }
        Byzantine::Nuller => {
            nuller::Nuller::<_, _, Sha256>::new(engine, nuller::Config { scheme }).start(channels.votes);
            unused.push(channels.certificates);
        }
        Byzantine::NullifyOnly => {
            nullify_only::NullifyOnly::<_, _, Sha256>::new(engine, nullify_only::Config { scheme })
                .start(channels.votes);
            unused.push(channels.certificates);
        }
        Byzantine::Outdated => {
            let config = outdated::Config { scheme, view_delta: ViewDelta::new(10) };
            outdated::Outdated::<_, _, Sha256>::new(engine, config).start(channels.votes);
            unused.push(channels.certificates);
        }
        other => unreachable!("{other:?} runs a full validator"),
    }
    for (_, mut receiver) in unused {
        context.child("drain").spawn(move |_| async move { while receiver.recv().await.is_ok() {} });
    }
}

/// What a liar keeps between calls.
#[derive(Default)]
struct Kept {
    /// Batches of recently finalized blocks (to replay or forge from).
    finalized: VecDeque<SealedBatch>,
    /// Batch lists heard from peers and not yet echoed.
    heard: VecDeque<Vec<u8>>,
}

/// What liars did, shared with the harness.
#[derive(Default)]
pub(super) struct Lies {
    /// Digests of the blocks lying proposers built: no honest validator may deliver one.
    pub(super) blocks: BTreeSet<Hash>,
    /// Messages forgers and flooders sent.
    pub(super) messages: usize,
    /// Their bytes (each message counted once, whatever its recipients).
    pub(super) bytes: u64,
    /// What [`Byzantine::Twins`] signed in each split view (both twins together).
    pub(super) twins_signed: BTreeMap<u64, TwinVotes>,
}

impl Lies {
    /// Counts `messages` of `bytes` in all that a forger or flooder sent.
    fn sent(&mut self, messages: usize, bytes: usize) {
        self.messages += messages;
        self.bytes += bytes as u64;
    }
}

/// The votes two twins sent in one view, together.
#[derive(Default)]
pub(super) struct TwinVotes {
    /// Proposals notarized or finalized.
    proposals: BTreeSet<Proposal<Digest>>,
    nullified: bool,
    finalized: bool,
}

impl TwinVotes {
    /// Whether one key signed votes no honest validator signs together in one view: two
    /// proposals, or a nullify and a finalize.
    pub(super) fn conflict(&self) -> bool {
        self.proposals.len() > 1 || (self.nullified && self.finalized)
    }
}

/// A full validator's executor that lies as its [`Byzantine`] kind says, and records what it
/// did in `lies`.
#[derive(Clone)]
pub(super) struct Lying<X> {
    inner: X,
    kind: Byzantine,
    lies: Arc<Mutex<Lies>>,
    kept: Arc<Mutex<Kept>>,
    heard: Arc<tokio::sync::Notify>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `signed` with one bit of its signature flipped.
fn forge(signed: &SignedBatch) -> SealedBatch {
    let mut forged = signed.clone();
    forged.signature.0[0] ^= 1;
    forged.seal()
}

impl<X: Executor> Lying<X> {
    pub(super) fn new(inner: X, kind: Byzantine, lies: Arc<Mutex<Lies>>) -> Self {
        assert!(!kind.engine(), "{kind:?} replaces consensus; it has no executor");
        Self { inner, kind, lies, kept: Arc::default(), heard: Arc::default() }
    }

    /// The block `block` turned into this kind's lie, or `None` if it has nothing to lie with.
    fn lie(&self, mut block: Block) -> Option<Block> {
        let kept = lock(&self.kept);
        match self.kind {
            Byzantine::WrongStateRoot => block.header.state_root.0[0] ^= 1,
            Byzantine::ForgedBatch => match block.batches.first() {
                Some(first) => block.batches[0] = forge(first),
                None => block.batches.push(forge(kept.finalized.back()?)),
            },
            Byzantine::ReplayedBatch => block.batches.push(kept.finalized.back()?.clone()),
            _ => return None,
        }
        drop(kept);
        let leaves = block.operation_leaves();
        block.header.operations_count =
            u32::try_from(leaves.len()).expect("a block holds fewer than 2^32 operations");
        block.header.operations_root = hansa_types::merkle::root(&leaves);
        Some(block)
    }
}

impl<X: Executor> Executor for Lying<X> {
    fn genesis_block(&self) -> Block {
        self.inner.genesis_block()
    }

    async fn propose(&self, parent: Block, timestamp_ms: u64, context: Vec<u8>) -> Option<Block> {
        let block = self.inner.propose(parent, timestamp_ms, context).await?;
        match self.lie(block.clone()) {
            Some(lie) => {
                lock(&self.lies).blocks.insert(lie.digest());
                Some(lie)
            }
            None => Some(block),
        }
    }

    async fn verify(&self, parent: Block, block: Block) -> Verdict {
        self.inner.verify(parent, block).await
    }

    fn ancestor(&self, block: &Block) -> bool {
        self.inner.ancestor(block)
    }

    async fn finalized(&self, block: Block, certificate: Vec<u8>) {
        {
            let mut kept = lock(&self.kept);
            kept.finalized.extend(block.batches.iter().cloned());
            while kept.finalized.len() > KEPT_MAX {
                kept.finalized.pop_front();
            }
        }
        self.inner.finalized(block, certificate).await;
    }

    fn applied_height(&self) -> u64 {
        self.inner.applied_height()
    }

    fn anchor(&self) -> Option<(u64, Vec<u8>)> {
        self.inner.anchor()
    }

    async fn stopped(&self) {
        self.inner.stopped().await;
    }

    async fn next_gossip(&self, bytes_max: usize) -> Vec<Vec<u8>> {
        if !matches!(self.kind, Byzantine::Forger | Byzantine::Flooder) {
            return self.inner.next_gossip(bytes_max).await;
        }
        loop {
            let heard = self.heard.notified();
            let echoed: Vec<Vec<u8>> = lock(&self.kept).heard.drain(..).collect();
            if !echoed.is_empty() {
                let messages: Vec<Vec<u8>> = match self.kind {
                    Byzantine::Forger => echoed
                        .iter()
                        .filter_map(|message| BatchList::decode(message).ok())
                        .map(|list| {
                            let forged = list.0.iter().map(|signed| (*forge(signed)).clone()).collect();
                            BatchList(forged).encode()
                        })
                        .collect(),
                    _ => echoed
                        .iter()
                        .flat_map(|message| std::iter::repeat_n(message.clone(), FLOOD_COPIES))
                        .collect(),
                };
                lock(&self.lies).sent(messages.len(), messages.iter().map(Vec::len).sum());
                return messages;
            }
            heard.await;
        }
    }

    fn gossip_received(&self, message: &[u8]) -> Result<(), String> {
        if matches!(self.kind, Byzantine::Forger | Byzantine::Flooder) {
            let mut kept = lock(&self.kept);
            if kept.heard.len() < KEPT_MAX {
                kept.heard.push_back(message.to_vec());
            }
            drop(kept);
            self.heard.notify_one();
        }
        self.inner.gossip_received(message)
    }
}

/// What a [`Meddling`] sender does to what it is asked to send.
#[derive(Clone)]
enum Meddle {
    /// Sends it as it is.
    Nothing,
    /// Sends bytes over a block's limits instead ([`over_the_limits`]).
    Oversize(Arc<Mutex<Lies>>),
    /// Sends it [`FLOOD_COPIES`] times.
    Flood(Arc<Mutex<Lies>>),
    /// Sends it to everyone but these peers the first time it is asked to send it (the
    /// messages sent, by their hash), as it is after that. Not a lie: a lossy link.
    MissFirst(Vec<ConsensusKey>, Arc<Mutex<BTreeSet<u64>>>),
}

/// A validator's sender on one channel. Honest validators' send what they are asked to; an
/// [`Byzantine::Oversized`] validator's block channel replaces every block it broadcasts with
/// bytes over a block's limits, which its peers must drop undecoded, without allocating for
/// what the bytes claim; a [`Byzantine::ChannelFlooder`]'s consensus channels send everything
/// many times over.
#[derive(Clone)]
pub struct Meddling<S> {
    inner: S,
    meddle: Meddle,
}

impl<S> Meddling<S> {
    /// A sender that sends what it is asked to.
    pub(super) fn honest(inner: S) -> Self {
        Self { inner, meddle: Meddle::Nothing }
    }

    /// A sender that replaces every message with bytes over a block's limits.
    pub(super) fn oversizing(inner: S, lies: Arc<Mutex<Lies>>) -> Self {
        Self { inner, meddle: Meddle::Oversize(lies) }
    }

    /// A sender that sends every message [`FLOOD_COPIES`] times.
    pub(super) fn flooding(inner: S, lies: Arc<Mutex<Lies>>) -> Self {
        Self { inner, meddle: Meddle::Flood(lies) }
    }

    /// A sender whose first send of each message misses `missed`.
    pub(super) fn missing_first_sends(inner: S, missed: Vec<ConsensusKey>) -> Self {
        Self { inner, meddle: Meddle::MissFirst(missed, Arc::default()) }
    }
}

impl<S: LimitedSender<PublicKey = ConsensusKey>> LimitedSender for Meddling<S> {
    type PublicKey = S::PublicKey;
    type Checked<'a>
        = MeddlingChecked<'a, S>
    where
        Self: 'a;

    fn check(&mut self, recipients: Recipients<Self::PublicKey>) -> Result<Self::Checked<'_>, SystemTime> {
        let meddle = self.meddle.clone();
        // A flood's copies are checked again, one by one, against the same rate limits.
        let again = matches!(meddle, Meddle::Flood(_) | Meddle::MissFirst(..))
            .then(|| (self.inner.clone(), recipients.clone()));
        self.inner.check(recipients).map(|inner| MeddlingChecked { inner, meddle, again })
    }
}

/// [`Meddling`] once its recipients are checked.
pub struct MeddlingChecked<'a, S: LimitedSender + 'a> {
    inner: S::Checked<'a>,
    meddle: Meddle,
    again: Option<(S, Recipients<S::PublicKey>)>,
}

impl<'a, S: LimitedSender<PublicKey = ConsensusKey> + 'a> CheckedSender for MeddlingChecked<'a, S> {
    type PublicKey = S::PublicKey;

    fn recipients(&self) -> Vec<Self::PublicKey> {
        self.inner.recipients()
    }

    fn send(self, message: impl Into<IoBufs> + Send, priority: bool) -> Unreliable<Feedback> {
        let lies = match &self.meddle {
            Meddle::Nothing => return self.inner.send(message, priority),
            Meddle::Oversize(lies) | Meddle::Flood(lies) => lies.clone(),
            Meddle::MissFirst(missed, sent) => {
                let bytes = contiguous(message);
                let mut hasher = std::hash::DefaultHasher::new();
                std::hash::Hash::hash(&bytes, &mut hasher);
                if !lock(sent).insert(std::hash::Hasher::finish(&hasher)) {
                    return self.inner.send(bytes, priority);
                }
                // The first send: to the same recipients less the missed ones.
                let Some((mut sender, _)) = self.again else { return self.inner.send(bytes, priority) };
                let reached: Vec<ConsensusKey> =
                    self.inner.recipients().into_iter().filter(|peer| !missed.contains(peer)).collect();
                drop(self.inner);
                return match sender.check(Recipients::Some(reached)) {
                    Ok(checked) => checked.send(bytes, priority),
                    Err(_) => Unreliable::Rejected,
                };
            }
        };
        let bytes = contiguous(message);
        let sent = {
            let mut lies = lock(&lies);
            lies.sent(1, bytes.len());
            lies.messages
        };
        if let Meddle::Oversize(_) = self.meddle {
            return self.inner.send(over_the_limits(bytes, sent), priority);
        }
        let feedback = self.inner.send(bytes.clone(), priority);
        if let Some((mut sender, recipients)) = self.again {
            for _ in 1..FLOOD_COPIES {
                if let Ok(checked) = sender.check(recipients.clone()) {
                    let _ = checked.send(bytes.clone(), priority);
                    lock(&lies).sent(1, bytes.len());
                }
            }
        }
        feedback
    }
}

/// A message's bytes, in one piece.
fn contiguous(message: impl Into<IoBufs>) -> Vec<u8> {
    message.into().coalesce().as_ref().to_vec()
}

/// A broadcast block (`bytes`: a 4-byte big-endian length, then the Hansa block) made to break
/// one of a block's limits, by `variant`: its length over [`BLOCK_BYTES_MAX`]; more batches
/// than [`BATCHES_PER_BLOCK_MAX`]; a count of batches far past the bytes there are (a decoder
/// that trusted it would reserve gigabytes); or a first batch of more operations than
/// [`OPERATIONS_PER_BATCH_MAX`]. Bytes that are not a block are returned as they are.
pub(crate) fn over_the_limits(mut bytes: Vec<u8>, variant: usize) -> Vec<u8> {
    let Some(block) = bytes.get(4..).and_then(|body| Block::decode(body).ok()) else {
        return bytes;
    };
    // The batch count follows the header; a batch's operation count follows its chain id (32
    // bytes), organisation (4), key (4) and sequence (8).
    let batches_at = 4 + block.header.encode().len();
    let mut patch = |at: usize, count: u32| bytes[at..at + 4].copy_from_slice(&count.to_le_bytes());
    match (variant % 4, block.batches.is_empty()) {
        (0, _) => {
            let length = u32::try_from(BLOCK_BYTES_MAX + 1).expect("fits");
            bytes[..4].copy_from_slice(&length.to_be_bytes());
        }
        (2, _) => patch(batches_at, u32::MAX),
        (3, false) => patch(batches_at + 4 + 48, u32::try_from(OPERATIONS_PER_BATCH_MAX + 1).expect("fits")),
        _ => patch(batches_at, u32::try_from(BATCHES_PER_BLOCK_MAX + 1).expect("fits")),
    }
    bytes
}

/// How a [`Byzantine::Twins`] validator's traffic is split between its two halves (the first
/// twin is the simulator's validator, the second one more full validator with the same key),
/// and what the twins signed in the split views.
#[derive(Clone)]
pub(super) struct Twins {
    lies: Arc<Mutex<Lies>>,
    /// Every validator's key, sorted (the order `twins::view_partitions` splits).
    participants: Arc<[ConsensusKey]>,
    /// The twins' key.
    key: ConsensusKey,
    /// The last view whose consensus messages are split.
    split_views: u64,
}

impl Twins {
    pub(super) fn new(
        participants: &[ConsensusKey],
        key: ConsensusKey,
        split_views: u64,
        lies: Arc<Mutex<Lies>>,
    ) -> Self {
        let mut participants = participants.to_vec();
        participants.sort();
        Self { lies, participants: participants.into(), key, split_views }
    }

    /// Notes a vote a twin sends in a split view.
    fn signed(&self, vote: Vote<Scheme, Digest>) {
        let mut lies = lock(&self.lies);
        let votes = lies.twins_signed.entry(vote.view().get()).or_default();
        match vote {
            Vote::Notarize(notarize) => {
                votes.proposals.insert(notarize.proposal);
            }
            Vote::Nullify(_) => votes.nullified = true,
            Vote::Finalize(finalize) => {
                votes.proposals.insert(finalize.proposal);
                votes.finalized = true;
            }
        }
    }

    /// A vote on `channel`, if it is the votes channel and `message` decodes.
    fn vote(channel: u64, message: &[u8]) -> Option<Vote<Scheme, Digest>> {
        (channel == node::CHANNEL_VOTES).then(|| Vote::decode(Copying(message)).ok()).flatten()
    }

    /// The view of a vote or certificate on `channel`; `None` for other channels and for bytes
    /// that do not decode (which both twins then get, and which their engines drop).
    fn view(channel: u64, message: &[u8]) -> Option<View> {
        match channel {
            node::CHANNEL_VOTES => Self::vote(channel, message).map(|vote| vote.view()),
            node::CHANNEL_CERTIFICATES => Certificate::<Scheme, Digest>::decode_cfg(
                Copying(message),
                &Scheme::certificate_codec_config_unbounded(),
            )
            .ok()
            .map(|certificate| certificate.view()),
            _ => None,
        }
    }

    /// The validators each twin talks to in `view` (the first twin's half, the second's), or
    /// `None` once the split is over.
    fn halves(&self, view: View) -> Option<(Vec<ConsensusKey>, Vec<ConsensusKey>)> {
        if view.get() > self.split_views {
            return None;
        }
        // Hansa's elector (`RoundRobin::default`) gives every view its own leader: terms of one.
        let (first, second) = twins::view_partitions(view, TermLength::ONE, &self.participants);
        let others = |half: Vec<ConsensusKey>| half.into_iter().filter(|key| *key != self.key).collect();
        Some((others(first), others(second)))
    }

    /// What the twins' senders on `channel` send to: a split view's consensus message goes to
    /// the sending twin's half (of the recipients it was meant for), anything else as asked.
    pub(super) fn forwarder(&self, channel: u64) -> impl SplitForwarder<ConsensusKey> {
        let twins = self.clone();
        move |origin: SplitOrigin, recipients: &Recipients<ConsensusKey>, message: &IoBuf| {
            // A vote is decoded once, for its view and for what it signs.
            let vote = Self::vote(channel, message.as_ref());
            let view = match channel {
                node::CHANNEL_VOTES => vote.as_ref().map(|vote| vote.view()),
                _ => Self::view(channel, message.as_ref()),
            };
            let Some((first, second)) = view.and_then(|view| twins.halves(view)) else {
                return Some(recipients.clone());
            };
            let half = match origin {
                SplitOrigin::Primary => first,
                SplitOrigin::Secondary => second,
            };
            let meant = |key: &ConsensusKey| match recipients {
                Recipients::All => true,
                Recipients::Some(keys) => keys.contains(key),
                Recipients::One(one) => one == key,
            };
            let reached: Vec<ConsensusKey> = half.into_iter().filter(meant).collect();
            // A vote that reaches no one (a twin whose half is empty) signs nothing anyone sees.
            if let Some(vote) = vote.filter(|_| !reached.is_empty()) {
                twins.signed(vote);
            }
            Some(Recipients::Some(reached))
        }
    }

    /// Which twin gets what arrives on `channel`: a split view's consensus message from a
    /// validator goes to the twin of its half, anything else to both.
    pub(super) fn router(&self, channel: u64) -> impl SplitRouter<ConsensusKey> {
        let twins = self.clone();
        move |(sender, message): &Message<ConsensusKey>| match Self::view(channel, message.as_ref())
            .and_then(|view| twins.halves(view))
        {
            None => SplitTarget::Both,
            Some((first, _)) if first.contains(sender) => SplitTarget::Primary,
            Some(_) => SplitTarget::Secondary,
        }
    }
}

/// A blocker that blocks no one (and reports what its validator's key blocks, which is then
/// nothing): the [`Byzantine::Twins`]' own.
#[derive(Clone)]
pub(super) struct NoBlocks<B>(pub(super) B);

impl<B: Blocker> Blocker for NoBlocks<B> {
    type PublicKey = B::PublicKey;

    fn block(&mut self, _peer: Self::PublicKey) -> Feedback {
        Feedback::Ok
    }

    fn blocked(&mut self) -> BlockedSubscription<Self::PublicKey> {
        self.0.blocked()
    }
}
