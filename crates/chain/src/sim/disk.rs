//! A validator's disk that fails on purpose: [`Disk`] is the context a simulated validator's
//! executor opens its storage with. While its [`DiskFaults`] are armed (a [`DiskFault`] of the
//! scenario), that one validator's reads (`read_at`, and the batched reads built on it), writes
//! (`write_at`, `resize`) and syncs (`sync`, `start_sync`, a write with `WriteOptions::SYNC`)
//! fail at seeded rates with an I/O error, as a failing device's do; every other validator's
//! storage is untouched. Opening, removing and listing blobs never fail, and bytes written
//! before a failed sync stay readable (a device that loses its cache is not modelled). The choice of
//! which operation fails comes from a generator seeded by the scenario, driven in the
//! deterministic runtime's task order, so a seed replays the same failures.
//!
//! A validator's consensus storage (marshal's archives, simplex's journal) and its executor's
//! store are on the same [`Disk`]: the node is started with it too. Every task spawned through
//! a [`FaultyDisk`] runs tagged with its validator and that validator's instance (a [`Tag`],
//! read by [`running`]), so that a panic anywhere in a validator (a component stopping on a
//! failed write, say) is told apart from one outside it, and one of an instance already gone
//! (before a power loss, say) from one of the instance running now.
//!
//! Torn writes come from the deterministic runtime itself: [`super::Scenario::torn_writes`]
//! keeps, at a power loss, a seeded part of the bytes written and not yet synced, instead of
//! losing them all.

use super::SplitMix64;
use commonware_runtime::{
    Blob, BlobVersion, Clock, Error, Handle, IoBufs, IoBufsMut, Metrics, Name, ReadOptions, Spawner, Storage,
    Supervisor, WriteOptions, deterministic,
    signal::Signal,
    telemetry::metrics::{Metric, Registered},
};
use std::{
    cell::{Cell, RefCell},
    collections::BTreeMap,
    convert::Infallible,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

/// What every injected failure's error says, so that a validator stopping on one is told
/// apart from any other panic.
pub const INJECTED: &str = "injected disk fault";

/// The context a simulated validator's executor runs with: the runtime's, behind its own
/// failing disk.
pub type Disk = FaultyDisk<deterministic::Context>;

/// How a validator's disk fails while a fault is in force: the share of reads, writes and
/// syncs that return an I/O error (each within `0.0..=1.0`), in which of its storage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskFault {
    /// Which storage fails.
    pub parts: DiskParts,
    /// Share of reads that fail.
    pub read: f64,
    /// Share of writes that fail (nothing of a failed write is stored).
    pub write: f64,
    /// Share of syncs that fail.
    pub sync: f64,
}

/// The storage of a validator that a [`DiskFault`] hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskParts {
    /// The executor's store and the node's consensus storage.
    All,
    /// The executor's store only.
    Executor,
    /// The node's consensus storage only (marshal's archives and cache, simplex's journal).
    Consensus,
}

impl DiskParts {
    fn covers(self, executor: bool) -> bool {
        match self {
            DiskParts::All => true,
            DiskParts::Executor => executor,
            DiskParts::Consensus => !executor,
        }
    }
}

/// One validator's disk faults: armed and disarmed by the harness, consulted by every blob of
/// the validator's [`FaultyDisk`].
#[derive(Clone)]
pub struct DiskFaults {
    /// The validator whose disk this is.
    validator: usize,
    state: Arc<Mutex<DiskState>>,
}

struct DiskState {
    /// Instances of the validator started on this disk so far.
    instances: u64,
    armed: Option<DiskFault>,
    /// Faults are held back while this is set (the validator is opening its storage).
    suspended: bool,
    rng: SplitMix64,
    injected: u64,
}

#[derive(Clone, Copy)]
enum Operation {
    Read,
    Write,
    Sync,
}

impl DiskFaults {
    /// Validator `validator`'s healthy disk, whose failures, once armed, are drawn from `seed`.
    pub fn new(validator: usize, seed: u64) -> Self {
        Self {
            validator,
            state: Arc::new(Mutex::new(DiskState {
                instances: 0,
                armed: None,
                suspended: false,
                rng: SplitMix64::new(seed),
                injected: 0,
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DiskState> {
        self.state.lock().expect("disk fault lock is never poisoned")
    }

    /// The disk starts failing as `fault` says.
    pub fn arm(&self, fault: DiskFault) {
        self.state().armed = Some(fault);
    }

    /// The disk is repaired.
    pub fn disarm(&self) {
        self.state().armed = None;
    }

    /// Holds faults back (`true`) or lets them through again (`false`).
    pub fn suspend(&self, suspended: bool) {
        self.state().suspended = suspended;
    }

    /// How many operations have failed on purpose so far.
    pub fn injected(&self) -> u64 {
        self.state().injected
    }

    /// The tag of a new instance of the validator on this disk, which starts now.
    pub fn start_instance(&self) -> Tag {
        let mut state = self.state();
        state.instances += 1;
        Tag { validator: self.validator, instance: state.instances, injected_at_start: state.injected }
    }

    /// Whether `operation`, by the executor (`executor`) or the node, fails now.
    fn check(&self, operation: Operation, executor: bool) -> Result<(), Error> {
        let mut state = self.state();
        let Some(fault) = state.armed.filter(|fault| !state.suspended && fault.parts.covers(executor)) else {
            return Ok(());
        };
        let (rate, what) = match operation {
            Operation::Read => (fault.read, "read"),
            Operation::Write => (fault.write, "write"),
            Operation::Sync => (fault.sync, "sync"),
        };
        if rate <= 0.0 {
            return Ok(());
        }
        // 2^53 steps: exact for the rates a scenario draws.
        let draw = (state.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if draw >= rate {
            return Ok(());
        }
        state.injected += 1;
        let injected = state.injected;
        INJECTED_COUNTS.with(|counts| counts.borrow_mut().insert(self.validator, injected));
        Err(Error::Io(std::io::Error::other(format!("{INJECTED}: the {what} failed")).into()))
    }
}

/// A runtime context whose storage fails as its [`DiskFaults`] say; everything else is the
/// inner context's.
#[derive(Clone)]
pub struct FaultyDisk<E> {
    inner: E,
    faults: DiskFaults,
    /// Whether this is the executor's context (else the node's).
    executor: bool,
    /// What the tasks spawned through it are tagged with.
    tag: Tag,
}

impl<E> FaultyDisk<E> {
    /// `inner`'s storage behind `faults`, for the executor of the validator's instance `tag`.
    pub fn executor(inner: E, faults: DiskFaults, tag: Tag) -> Self {
        Self { inner, faults, executor: true, tag }
    }

    /// `inner`'s storage behind `faults`, for the node of the validator's instance `tag` (its
    /// consensus storage).
    pub fn node(inner: E, faults: DiskFaults, tag: Tag) -> Self {
        Self { inner, faults, executor: false, tag }
    }
}

impl<E: Supervisor> Supervisor for FaultyDisk<E> {
    fn name(&self) -> Name {
        self.inner.name()
    }

    fn child(&self, label: &'static str) -> Self {
        Self { inner: self.inner.child(label), faults: self.faults.clone(), ..*self }
    }

    fn with_attribute(self, key: &'static str, value: impl std::fmt::Display) -> Self {
        Self { inner: self.inner.with_attribute(key, value), ..self }
    }
}

impl<E: Spawner> Spawner for FaultyDisk<E> {
    fn shared(self, blocking: bool) -> Self {
        Self { inner: self.inner.shared(blocking), ..self }
    }

    fn dedicated(self) -> Self {
        Self { inner: self.inner.dedicated(), ..self }
    }

    fn spawn<F, Fut, T>(self, f: F) -> Handle<T>
    where
        F: FnOnce(Self) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (faults, executor, tag) = (self.faults, self.executor, self.tag);
        self.inner
            .spawn(move |inner| Tagged { tag, task: Box::pin(f(Self { inner, faults, executor, tag })) })
    }

    async fn stop(self, value: i32, timeout: Option<Duration>) -> Result<(), Error> {
        self.inner.stop(value, timeout).await
    }

    fn stopped(&self) -> Signal {
        self.inner.stopped()
    }
}

/// One instance of a validator (from its start to its stop), as its tasks are tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// The validator.
    pub validator: usize,
    /// Its instance: 1 for the first started on its disk, then one more for each start.
    pub instance: u64,
    /// How many faults its disk had injected when the instance started.
    pub injected_at_start: u64,
}

thread_local! {
    /// The instance whose task is being polled on this thread, if one is.
    static RUNNING: Cell<Option<Tag>> = const { Cell::new(None) };
    /// Per validator, how many faults its disk has injected (a simulation runs on one thread).
    static INJECTED_COUNTS: RefCell<BTreeMap<usize, u64>> = const { RefCell::new(BTreeMap::new()) };
}

/// The validator instance whose task is running on this thread, if one's is: what a panic
/// hook attributes a panic to (a simulation runs on one thread).
pub fn running() -> Option<Tag> {
    RUNNING.with(Cell::get)
}

/// How many faults validator `validator`'s disk has injected, as of now, in the simulation
/// running on this thread (for a panic hook, which has no other way to its disk).
pub fn injected_now(validator: usize) -> u64 {
    INJECTED_COUNTS.with(|counts| counts.borrow().get(&validator).copied().unwrap_or(0))
}

/// Forgets the counts of [`injected_now`]: a new simulation starts on this thread.
pub fn forget_injected() {
    INJECTED_COUNTS.with(|counts| counts.borrow_mut().clear());
}

/// A task spawned through a [`FaultyDisk`]: tagged while it is polled.
struct Tagged<F> {
    tag: Tag,
    task: Pin<Box<F>>,
}

/// Puts back the tag that was in force before a poll, when the poll ends (or unwinds, after
/// the panic hook has run).
struct Untag(Option<Tag>);

impl Drop for Untag {
    fn drop(&mut self) {
        RUNNING.with(|running| running.set(self.0));
    }
}

impl<F: Future> Future for Tagged<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _untag = Untag(RUNNING.with(|running| running.replace(Some(self.tag))));
        self.task.as_mut().poll(cx)
    }
}

impl<E: rand_core::TryRng<Error = Infallible>> rand_core::TryRng for FaultyDisk<E> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.inner.try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.inner.try_next_u64()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.try_fill_bytes(dst)
    }
}

impl<E: rand_core::TryCryptoRng<Error = Infallible>> rand_core::TryCryptoRng for FaultyDisk<E> {}

impl<E: Metrics> Metrics for FaultyDisk<E> {
    fn register<N: Into<String>, H: Into<String>, M: Metric>(
        &self,
        name: N,
        help: H,
        metric: M,
    ) -> Registered<M> {
        self.inner.register(name, help, metric)
    }

    fn encode(&self) -> String {
        self.inner.encode()
    }
}

impl<E: Clock> governor::clock::Clock for FaultyDisk<E> {
    type Instant = SystemTime;

    fn now(&self) -> SystemTime {
        self.inner.current()
    }
}

impl<E: Clock> governor::clock::ReasonablyRealtime for FaultyDisk<E> {}

impl<E: Clock> Clock for FaultyDisk<E> {
    fn current(&self) -> SystemTime {
        self.inner.current()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static + use<E> {
        self.inner.sleep(duration)
    }

    fn sleep_until(&self, deadline: SystemTime) -> impl Future<Output = ()> + Send + 'static + use<E> {
        self.inner.sleep_until(deadline)
    }
}

impl<E: Storage> Storage for FaultyDisk<E> {
    type Blob = FaultyBlob<E::Blob>;

    async fn open_versioned(
        &self,
        partition: &str,
        name: &[u8],
        versions: std::ops::RangeInclusive<BlobVersion>,
    ) -> Result<(Self::Blob, u64, BlobVersion), Error> {
        let (inner, len, version) = self.inner.open_versioned(partition, name, versions).await?;
        Ok((FaultyBlob { inner, faults: self.faults.clone(), executor: self.executor }, len, version))
    }

    async fn remove(&self, partition: &str, name: Option<&[u8]>) -> Result<(), Error> {
        self.inner.remove(partition, name).await
    }

    async fn scan(&self, partition: &str) -> Result<Vec<Vec<u8>>, Error> {
        self.inner.scan(partition).await
    }
}

/// A blob of a [`FaultyDisk`].
pub struct FaultyBlob<B> {
    inner: B,
    faults: DiskFaults,
    executor: bool,
}

impl<B: Blob> Blob for FaultyBlob<B> {
    async fn read_at_buf(
        &self,
        offset: u64,
        len: usize,
        bufs: impl Into<IoBufsMut> + Send,
        options: ReadOptions,
    ) -> Result<IoBufsMut, Error> {
        self.faults.check(Operation::Read, self.executor)?;
        self.inner.read_at_buf(offset, len, bufs, options).await
    }

    async fn read_at(&self, offset: u64, len: usize, options: ReadOptions) -> Result<IoBufsMut, Error> {
        self.faults.check(Operation::Read, self.executor)?;
        self.inner.read_at(offset, len, options).await
    }

    async fn write_at(
        &self,
        offset: u64,
        bufs: impl Into<IoBufs> + Send,
        options: WriteOptions,
    ) -> Result<(), Error> {
        self.faults.check(Operation::Write, self.executor)?;
        // A write that is its own sync can fail as a sync does.
        if options.contains(WriteOptions::SYNC) {
            self.faults.check(Operation::Sync, self.executor)?;
        }
        self.inner.write_at(offset, bufs, options).await
    }

    async fn resize(&self, len: u64) -> Result<(), Error> {
        self.faults.check(Operation::Write, self.executor)?;
        self.inner.resize(len).await
    }

    async fn sync(&self) -> Result<(), Error> {
        self.faults.check(Operation::Sync, self.executor)?;
        self.inner.sync().await
    }

    async fn start_sync(&self) -> Handle<()> {
        if let Err(error) = self.faults.check(Operation::Sync, self.executor) {
            return Handle::ready(Err(error));
        }
        self.inner.start_sync().await
    }
}
