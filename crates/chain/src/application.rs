//! The Commonware `Application` over Hansa's `Executor`: block building and verification.
//!
//! Marshal's deferred-verification wrapper calls this with the consensus context and the block's
//! ancestry. Building sets the consensus timestamp and context; verification enforces the rules
//! the `Executor` contract promises (height, parent link, timestamp, context) before handing the
//! block to the executor. The executor runs on a blocking-friendly task because it executes the
//! block's batches.

use crate::delivery::Status;
use crate::{
    Executor, Verdict,
    block::{ChainBlock, ConsensusContext, ConsensusKey, Digest, encode_context, to_hash},
    certificate::Scheme,
};
use commonware_actor::Feedback;
use commonware_consensus::{
    Application, Relay, Reporter, Viewable as _,
    marshal::{ancestry::Ancestry, core::Mailbox, standard::Standard},
    simplex::{Plan, types::Activity},
    types::Round,
};
use commonware_cryptography::{Digested, Digestible as _};
use commonware_p2p::{Blocker, Recipients};
use commonware_runtime::{Clock, Metrics, Spawner};
use futures::StreamExt as _;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tracing::{debug, warn};

/// How far ahead of the local clock a block's timestamp may be.
pub const TIMESTAMP_AHEAD_MAX: Duration = Duration::from_secs(10);

/// Milliseconds since the Unix epoch on a clock `offset_ms` off the runtime's.
pub(crate) fn now_ms(clock: &impl Clock, offset_ms: i64) -> u64 {
    let since_epoch = clock.current().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX).saturating_add_signed(offset_ms)
}

/// Adapts an [`Executor`] to Commonware's marshal `Application`.
#[derive(Clone)]
pub(crate) struct App<X, B> {
    executor: X,
    /// How far this validator's clock is off the runtime's (see `NodeConfig::clock_offset_ms`).
    clock_offset_ms: i64,
    /// Blocks the leader of a block that is invalid in itself.
    blocker: B,
    /// Where the highest view with a proposal is recorded.
    status: Arc<Status>,
}

impl<X: Executor, B: Blocker<PublicKey = ConsensusKey>> App<X, B> {
    pub(crate) fn new(executor: X, clock_offset_ms: i64, blocker: B, status: Arc<Status>) -> Self {
        Self { executor, clock_offset_ms, blocker, status }
    }

    /// Blocks `leader`, which proposed an invalid block: the proposal it signed names the
    /// block, so its misbehaviour is provable (honest validators vote only for what the round's
    /// leader proposed).
    fn block_leader(&mut self, context: &ConsensusContext, fault: &str) {
        warn!(leader = ?context.leader, round = %context.round, fault, "blocking the leader of an invalid block");
        let _ = self.blocker.block(context.leader.clone());
    }
}

/// Why a block is not a valid child of its parent in its consensus context; every reason is
/// permanent (the block can never become valid).
fn structural_fault(
    parent: &ChainBlock,
    block: &ChainBlock,
    context: &ConsensusContext,
) -> Option<&'static str> {
    let header = &block.block().header;
    let parent_header = &parent.block().header;
    if header.height != parent_header.height + 1 {
        return Some("height is not the parent's plus one");
    }
    if header.parent != parent.hash() {
        return Some("parent digest does not match");
    }
    if header.timestamp_ms <= parent_header.timestamp_ms {
        return Some("timestamp is not after the parent's");
    }
    if header.context != encode_context(context) {
        return Some("header context is not the consensus context");
    }
    None
}

/// Offers `parent` and then its ancestors to the executor for as long as it asks for them.
async fn offer_ancestors<X: Executor>(
    executor: &X,
    parent: &ChainBlock,
    ancestry: &mut impl Ancestry<ChainBlock>,
) {
    let mut wants_more = executor.ancestor(parent.block());
    while wants_more {
        let Some(ancestor) = ancestry.next().await else { return };
        debug!(height = ancestor.inner().block().height(), "offering the executor an ancestor it asked for");
        wants_more = executor.ancestor(ancestor.inner().block());
    }
}

impl<E, X, B> Application<E> for App<X, B>
where
    E: Clock + Spawner + Metrics,
    X: Executor,
    B: Blocker<PublicKey = ConsensusKey>,
{
    type SigningScheme = Scheme;
    type Context = ConsensusContext;
    type Block = ChainBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, context): (E, ConsensusContext),
        mut ancestry: impl Ancestry<ChainBlock>,
        _: (),
    ) -> Option<Digested<ChainBlock>> {
        self.status.saw_view(context.round.view().get());
        let parent = ancestry.next().await?;
        let parent = parent.inner().clone();
        offer_ancestors(&self.executor, &parent, &mut ancestry).await;
        let parent_timestamp_ms = parent.block().header.timestamp_ms;
        let timestamp_ms = now_ms(&runtime, self.clock_offset_ms).max(parent_timestamp_ms.saturating_add(1));
        let context_bytes = encode_context(&context);

        let executor = self.executor.clone();
        let expected_context = context_bytes.clone();
        let build = runtime.child("executor_propose").shared(true).spawn(move |_| async move {
            executor
                .propose(parent.block().clone(), timestamp_ms, expected_context)
                .await
                .map(|block| (parent, block))
        });
        let (parent, block) = match build.await {
            Ok(Some(built)) => built,
            Ok(None) => {
                debug!(round = %context.round, "executor skipped the proposal");
                return None;
            }
            Err(error) => {
                warn!(?error, "proposal task failed");
                return None;
            }
        };
        if block.header.timestamp_ms != timestamp_ms {
            warn!("executor changed the proposal timestamp; skipping the proposal");
            return None;
        }
        let block = match ChainBlock::new(block) {
            Ok(block) => block,
            Err(error) => {
                warn!(%error, "executor built an unusable block; skipping the proposal");
                return None;
            }
        };
        if let Some(fault) = structural_fault(&parent, &block, &context) {
            warn!(fault, "executor built an invalid block; skipping the proposal");
            return None;
        }
        let digest = block.digest();
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (runtime, context): (E, ConsensusContext),
        mut ancestry: impl Ancestry<ChainBlock>,
    ) -> bool {
        self.status.saw_view(context.round.view().get());
        // Marshal yields the block, then its parent.
        let (Some(block), Some(parent)) = (ancestry.next().await, ancestry.next().await) else {
            warn!("verification ancestry is missing the block or its parent");
            return false;
        };
        let block = block.inner().clone();
        let parent = parent.inner().clone();
        if let Some(fault) = structural_fault(&parent, &block, &context) {
            debug!(fault, height = block.block().height(), "rejecting block");
            self.block_leader(&context, fault);
            return false;
        }
        offer_ancestors(&self.executor, &parent, &mut ancestry).await;

        // A timestamp too far ahead may become acceptable as the local clock advances: wait
        // (consensus cancels this future if the view ends) rather than reject permanently.
        let timestamp_ms = block.block().header.timestamp_ms;
        let acceptable_at_ms = timestamp_ms.saturating_sub(TIMESTAMP_AHEAD_MAX.as_millis() as u64);
        let local_ms = now_ms(&runtime, self.clock_offset_ms);
        if acceptable_at_ms > local_ms {
            debug!(digest = %to_hash(&block.digest()), "block timestamp ahead of clock; waiting");
            runtime.sleep(Duration::from_millis(acceptable_at_ms - local_ms)).await;
        }

        let executor = self.executor.clone();
        let check = runtime.child("executor_verify").shared(true).spawn(move |_| async move {
            executor.verify(parent.block().clone(), block.block().clone()).await
        });
        match check.await {
            Ok(Verdict::Valid) => true,
            Ok(Verdict::Invalid) => {
                self.block_leader(&context, "its contents do not execute to its header");
                false
            }
            Ok(Verdict::Refused) => false,
            Err(error) => {
                // The task was aborted (shutdown): never conclude false for that.
                warn!(?error, "verification task failed");
                futures::future::pending::<bool>().await
            }
        }
    }
}

/// Consensus's relay (marshal's deferred wrapper) with one more send of each block this
/// validator proposes, `after` it asked for the first, if by then no notarization,
/// nullification or finalization of that view or a later one has reached it (see
/// [`Concluded`]).
///
/// Before a block is notarized, a validator that lacks it only waits for the leader's broadcast
/// (marshal fetches a block from peers once it is notarized and consensus asks to certify it).
/// With seven validators on links that lose a few percent of messages, one broadcast lost to
/// three of them leaves the view one vote short of a quorum until it times out, and two such
/// views in a row kept a simulated cluster from finalizing for more than 5 s after a partition
/// healed (partition seeds 2652 and 3048). Peers that already hold the block drop the copy once
/// they have decoded it and found its digest known.
pub(crate) struct Rebroadcast<R, E> {
    relay: R,
    marshal: Mailbox<Scheme, Standard<ChainBlock>>,
    runtime: Arc<E>,
    status: Arc<Status>,
    after: Duration,
}

impl<R: Clone, E> Clone for Rebroadcast<R, E> {
    fn clone(&self) -> Self {
        Self {
            relay: self.relay.clone(),
            marshal: self.marshal.clone(),
            runtime: self.runtime.clone(),
            status: self.status.clone(),
            after: self.after,
        }
    }
}

impl<R, E> Rebroadcast<R, E> {
    pub(crate) fn new(
        relay: R,
        marshal: Mailbox<Scheme, Standard<ChainBlock>>,
        runtime: E,
        status: Arc<Status>,
        after: Duration,
    ) -> Self {
        Self { relay, marshal, runtime: Arc::new(runtime), status, after }
    }
}

impl<R, E> Relay for Rebroadcast<R, E>
where
    R: Relay<Digest = Digest, PublicKey = ConsensusKey, Plan = Plan<ConsensusKey>>,
    E: Clock + Spawner + Metrics + Sync,
{
    type Digest = Digest;
    type PublicKey = ConsensusKey;
    type Plan = Plan<ConsensusKey>;

    fn broadcast(&mut self, digest: Digest, plan: Plan<ConsensusKey>) -> Feedback {
        let round: Option<Round> = match &plan {
            Plan::Propose { round } => Some(*round),
            _ => None,
        };
        let feedback = self.relay.broadcast(digest, plan);
        if let Some(round) = round
            && !self.after.is_zero()
        {
            let (marshal, status, after) = (self.marshal.clone(), self.status.clone(), self.after);
            self.runtime.child("rebroadcast").spawn(move |runtime| async move {
                runtime.sleep(after).await;
                if status.concluded_view() < round.view().get() {
                    debug!(%round, "the view has no certificate yet; sending the proposed block again");
                    let _ = marshal.forward(round, digest, Recipients::All);
                }
            });
        }
        feedback
    }
}

/// Consensus's reporter (marshal's deferred wrapper), noting in [`Status::concluded_view`] each
/// view a notarization, nullification or finalization concludes.
#[derive(Clone)]
pub(crate) struct Concluded<R> {
    reporter: R,
    status: Arc<Status>,
}

impl<R> Concluded<R> {
    pub(crate) fn new(reporter: R, status: Arc<Status>) -> Self {
        Self { reporter, status }
    }
}

impl<R: Reporter<Activity = Activity<Scheme, Digest>>> Reporter for Concluded<R> {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match &activity {
            Activity::Notarization(certificate) | Activity::Certification(certificate) => {
                self.status.saw_concluded(certificate.view().get());
            }
            Activity::Nullification(certificate) => self.status.saw_concluded(certificate.view().get()),
            Activity::Finalization(certificate) => self.status.saw_concluded(certificate.view().get()),
            _ => {}
        }
        self.reporter.report(activity)
    }
}
