//! Ordered delivery of finalized blocks, with their certificates, to the executor.
//!
//! # Restart and redelivery
//!
//! Marshal (Commonware 2026.10.0) keeps a durable *processed height* in its
//! `{prefix}-application-metadata` partition: it advances when the application acknowledges an
//! `Update::Block`, and after a restart marshal dispatches only blocks above it (blocks it
//! archived but had not seen acknowledged are redelivered; nothing at or below is). Its finalized
//! blocks and finalizations stay in its `finalized_blocks` and `finalizations_by_height` archives
//! (Hansa never prunes them). The executor makes its state durable only at checkpoints, so
//! after a restart its applied height can be below the processed height.
//!
//! So at start this task first catches the executor up by itself (the blocks after its last
//! checkpoint): from
//! `executor.applied_height() + 1` to marshal's processed height it reads each block from
//! marshal's archive (`Mailbox::get_block(height)`), builds its certificate, and calls
//! `Executor::finalized`. Consensus starts only once this is done (see `node`), so the executor
//! never verifies blocks on a state it has not rebuilt. Then it serves marshal's updates in order,
//! skipping heights already delivered in this process and filling any gap from the archive, and
//! acknowledges each block only after `Executor::finalized` returned, so a crash never loses a
//! block: at worst it is delivered again, which the executor ignores.
//!
//! # Certificates
//!
//! The certificate of a block is its own finalization when marshal holds one, otherwise that of
//! the nearest finalized descendant plus the linking headers (see `certificate`). If neither is
//! available locally yet, the task asks peers for the block's finalization (`hint_finalized`) and
//! retries after `CERTIFICATE_RETRY`.

use crate::{
    Executor,
    block::{ChainBlock, ConsensusKey, Digest},
    certificate::{CERTIFICATE_LINKS_MAX, FinalityCertificate, Scheme},
};
use commonware_actor::Feedback;
use commonware_consensus::{
    Heightable as _, Reporter,
    marshal::{Update, core::Mailbox, standard::Standard},
    types::Height,
};
use commonware_cryptography::{Digested, Digestible as _};
use commonware_runtime::{Clock, Spawner};
use commonware_utils::{Acknowledgement as _, acknowledgement::Exact, vec::NonEmptyVec};
use futures::{
    StreamExt as _,
    channel::{mpsc, oneshot},
};
use hansa_types::Encode as _;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tracing::{debug, info, warn};

/// How long to wait before looking again for a certificate that is not available yet.
pub const CERTIFICATE_RETRY: Duration = Duration::from_secs(1);

/// Marshal's mailbox for Hansa blocks.
pub(crate) type MarshalMailbox = Mailbox<Scheme, Standard<ChainBlock>>;

/// Reads finalized blocks from the validator's archive (marshal's `finalized_blocks`), for
/// what the executor no longer keeps in memory. Cheap to clone.
#[derive(Clone)]
pub struct FinalizedBlocks(pub(crate) MarshalMailbox);

impl FinalizedBlocks {
    /// The finalized block at `height`, if this validator has it (`None` above its head).
    pub async fn get(&self, height: u64) -> Option<hansa_types::Block> {
        self.0.get_block(Height::new(height)).await.map(|block| block.inner().block().clone())
    }
}

/// Cheap counters a running validator exposes.
#[derive(Debug, Default)]
pub struct Status {
    /// Highest finalized height marshal has seen (possibly not yet delivered).
    pub finalized_height: AtomicU64,
    /// Highest height delivered to the executor in this process.
    pub delivered_height: AtomicU64,
    /// The first finalized tip marshal reported in this process (its stored tip after a
    /// restart, or the first finalization it saw), plus one; zero until then.
    first_tip_plus_one: AtomicU64,
    /// The highest consensus view in which this validator proposed or verified a proposal.
    highest_view: AtomicU64,
    /// The highest consensus view for which a notarization, nullification or finalization
    /// reached this validator.
    concluded_view: AtomicU64,
}

impl Status {
    /// Highest finalized height known.
    pub fn finalized(&self) -> u64 {
        self.finalized_height.load(Ordering::Relaxed)
    }

    /// Highest height delivered to the executor.
    pub fn delivered(&self) -> u64 {
        self.delivered_height.load(Ordering::Relaxed)
    }

    /// The first finalized tip reported in this process. A tip above it is a finalization the
    /// network made since this validator started (not one it had stored before a restart).
    pub fn first_tip(&self) -> Option<u64> {
        self.first_tip_plus_one.load(Ordering::Relaxed).checked_sub(1)
    }

    /// The highest consensus view in which this validator proposed or verified a proposal
    /// (in this process). A validator that lost its consensus journal may have proposed in any
    /// view up to the highest its peers saw one in, so it must not join consensus below it
    /// (see the node's `join.rs`).
    pub fn highest_view(&self) -> u64 {
        self.highest_view.load(Ordering::Relaxed)
    }

    pub(crate) fn saw_view(&self, view: u64) {
        self.highest_view.fetch_max(view, Ordering::Relaxed);
    }

    /// The highest consensus view for which a notarization, nullification or finalization
    /// reached this validator.
    pub fn concluded_view(&self) -> u64 {
        self.concluded_view.load(Ordering::Relaxed)
    }

    pub(crate) fn saw_concluded(&self, view: u64) {
        self.concluded_view.fetch_max(view, Ordering::Relaxed);
    }
}

/// A finalized block and the acknowledgement marshal waits for.
type Delivery = (Digested<ChainBlock>, Exact);

/// Marshal's reporter: forwards finalized blocks to the delivery task, records the tip.
#[derive(Clone)]
pub(crate) struct Reports {
    sender: mpsc::Sender<Delivery>,
    status: Arc<Status>,
}

impl Reports {
    /// A reporter and the receiving end for the delivery task. Marshal never has more than
    /// `max_pending_acks` blocks unacknowledged, so a channel of that capacity never fills.
    pub(crate) fn new(max_pending_acks: usize, status: Arc<Status>) -> (Self, mpsc::Receiver<Delivery>) {
        let (sender, receiver) = mpsc::channel(max_pending_acks);
        (Self { sender, status }, receiver)
    }
}

impl Reporter for Reports {
    type Activity = Update<ChainBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Tip(_, height, _) => {
                let _ = self.status.first_tip_plus_one.compare_exchange(
                    0,
                    height.get() + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                self.status.finalized_height.fetch_max(height.get(), Ordering::Relaxed);
                Feedback::Ok
            }
            Update::Block(block, acknowledgement) => match self.sender.try_send((block, acknowledgement)) {
                Ok(()) => Feedback::Ok,
                Err(error) if error.is_disconnected() => Feedback::Closed,
                Err(_) => {
                    panic!("delivery channel full: marshal exceeded max_pending_acks unacknowledged blocks")
                }
            },
        }
    }
}

/// Finds the certificate of the finalized block `digest` at `height` in marshal's storage.
/// `None` when marshal does not (yet) hold a finalization of it or of a linked descendant.
async fn local_certificate(marshal: &MarshalMailbox, height: u64, digest: Digest) -> Option<Vec<u8>> {
    let mut links = Vec::new();
    let mut current_height = height;
    let mut current_digest = digest;
    loop {
        if let Some(finalization) = marshal.get_finalization(Height::new(current_height)).await {
            if finalization.proposal.payload != current_digest {
                warn!(height = current_height, "stored finalization is for another block");
                return None;
            }
            links.reverse();
            return Some(FinalityCertificate::new(&finalization, links).encode());
        }
        if links.len() == CERTIFICATE_LINKS_MAX {
            return None;
        }
        let child = marshal.get_block(Height::new(current_height + 1)).await?;
        if child.inner().block().parent() != crate::block::to_hash(&current_digest) {
            warn!(height = current_height + 1, "stored child does not link to its parent");
            return None;
        }
        links.push(child.inner().block().header.clone());
        current_height += 1;
        current_digest = child.digest();
    }
}

/// The delivery task's state.
pub(crate) struct Delivering<X, C> {
    /// Runtime handle for sleeping and for running the executor off the async workers.
    pub(crate) runtime: C,
    pub(crate) executor: X,
    pub(crate) marshal: MarshalMailbox,
    pub(crate) peers: Vec<ConsensusKey>,
    pub(crate) status: Arc<Status>,
    /// Highest height handed to the executor.
    pub(crate) delivered: u64,
    /// Finalized blocks kept below the tip in marshal's archives (`None`: all of them).
    pub(crate) retention: Option<u64>,
}

/// Marshal's archives are pruned once per this many delivered blocks (when a retention is set).
const PRUNE_EVERY_BLOCKS: u64 = 64;

impl<X: Executor, C: Clock + Spawner> Delivering<X, C> {
    /// The certificate of a finalized block, waiting until one is available.
    async fn certificate(&self, block: &ChainBlock) -> Vec<u8> {
        let height = block.block().height();
        loop {
            if let Some(certificate) = local_certificate(&self.marshal, height, block.digest()).await {
                return certificate;
            }
            debug!(height, "no certificate stored yet; asking peers");
            if let Ok(targets) = NonEmptyVec::try_from(self.peers.clone()) {
                self.marshal.hint_finalized(Height::new(height), targets);
            }
            self.runtime.sleep(CERTIFICATE_RETRY).await;
        }
    }

    /// Hands one finalized block to the executor.
    async fn deliver(&mut self, block: &ChainBlock) {
        let height = block.block().height();
        assert_eq!(height, self.delivered + 1, "finalized blocks are delivered in height order");
        let certificate = self.certificate(block).await;
        // Applying a block executes its batches: keep it off the async workers.
        let executor = self.executor.clone();
        let applied = block.clone();
        let applying =
            self.runtime.child("executor_finalized").shared(true).spawn(move |_| async move {
                executor.finalized(applied.block().clone(), certificate).await
            });
        match applying.await {
            Ok(()) => {}
            // The runtime is stopping (the validator was stopped): its tasks are being aborted,
            // this one too once it yields. The block is not acknowledged, so a restart
            // delivers it again.
            Err(commonware_runtime::Error::Closed) => futures::future::pending::<()>().await,
            // The executor panicked (its storage failed). The runtime ends the process there;
            // one that catches panics (the simulator's) leaves this validator stopped: nothing
            // more is delivered, and a restart delivers this block again.
            Err(error) => {
                tracing::error!(height, ?error, "applying a finalized block failed; delivering nothing more");
                futures::future::pending::<()>().await
            }
        }
        self.delivered = height;
        self.status.delivered_height.store(height, Ordering::Relaxed);
        if let Some(retention) = self.retention
            && height.is_multiple_of(PRUNE_EVERY_BLOCKS)
            && height > retention
        {
            self.marshal.prune(Height::new(height - retention));
        }
    }

    /// Delivers every stored finalized block up to `target` that the executor lacks.
    async fn catch_up(&mut self, target: u64) {
        while self.delivered < target {
            let height = self.delivered + 1;
            let Some(block) = self.marshal.get_block(Height::new(height)).await else {
                panic!("marshal processed height {target} but has no finalized block at {height}");
            };
            self.deliver(block.inner()).await;
        }
    }

    /// Runs the task: catch up to marshal's processed height, signal `ready`, then deliver
    /// marshal's updates until marshal stops.
    pub(crate) async fn run(mut self, mut updates: mpsc::Receiver<Delivery>, ready: oneshot::Sender<()>) {
        let processed = self.marshal.get_processed().await.map_or(0, |p| p.height().get());
        let start = self.delivered;
        self.catch_up(processed).await;
        if self.delivered > start {
            info!(from = start + 1, to = self.delivered, "redelivered stored finalized blocks");
        }
        let _ = ready.send(());

        while let Some((block, acknowledgement)) = updates.next().await {
            let height = block.height().get();
            if height > self.delivered {
                self.catch_up(height - 1).await;
                self.deliver(block.inner()).await;
            }
            acknowledgement.acknowledge();
        }
        debug!("marshal closed the delivery channel");
    }
}
