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
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// What every injected failure's error says, so that a validator stopping on one is told
/// apart from any other panic.
pub const INJECTED: &str = "injected disk fault";

/// The context a simulated validator's executor runs with: the runtime's, behind its own
/// failing disk.
pub type Disk = FaultyDisk<deterministic::Context>;

/// How a validator's disk fails while a fault is in force: the share of reads, writes and
/// syncs that return an I/O error (each within `0.0..=1.0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskFault {
    /// Share of reads that fail.
    pub read: f64,
    /// Share of writes that fail (nothing of a failed write is stored).
    pub write: f64,
    /// Share of syncs that fail.
    pub sync: f64,
}

/// One validator's disk faults: armed and disarmed by the harness, consulted by every blob of
/// the validator's [`FaultyDisk`].
#[derive(Clone)]
pub struct DiskFaults {
    state: Arc<Mutex<DiskState>>,
}

struct DiskState {
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
    /// A healthy disk whose failures, once armed, are drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new(DiskState {
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

    fn check(&self, operation: Operation) -> Result<(), Error> {
        let mut state = self.state();
        let Some(fault) = state.armed.filter(|_| !state.suspended) else {
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
        Err(Error::Io(std::io::Error::other(format!("{INJECTED}: the {what} failed")).into()))
    }
}

/// A runtime context whose storage fails as its [`DiskFaults`] say; everything else is the
/// inner context's.
#[derive(Clone)]
pub struct FaultyDisk<E> {
    inner: E,
    faults: DiskFaults,
}

impl<E> FaultyDisk<E> {
    /// `inner`'s storage behind `faults`.
    pub fn new(inner: E, faults: DiskFaults) -> Self {
        Self { inner, faults }
    }
}

impl<E: Supervisor> Supervisor for FaultyDisk<E> {
    fn name(&self) -> Name {
        self.inner.name()
    }

    fn child(&self, label: &'static str) -> Self {
        Self { inner: self.inner.child(label), faults: self.faults.clone() }
    }

    fn with_attribute(self, key: &'static str, value: impl std::fmt::Display) -> Self {
        Self { inner: self.inner.with_attribute(key, value), faults: self.faults }
    }
}

impl<E: Spawner> Spawner for FaultyDisk<E> {
    fn shared(self, blocking: bool) -> Self {
        Self { inner: self.inner.shared(blocking), faults: self.faults }
    }

    fn dedicated(self) -> Self {
        Self { inner: self.inner.dedicated(), faults: self.faults }
    }

    fn spawn<F, Fut, T>(self, f: F) -> Handle<T>
    where
        F: FnOnce(Self) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let faults = self.faults;
        self.inner.spawn(move |inner| f(Self { inner, faults }))
    }

    async fn stop(self, value: i32, timeout: Option<Duration>) -> Result<(), Error> {
        self.inner.stop(value, timeout).await
    }

    fn stopped(&self) -> Signal {
        self.inner.stopped()
    }
}

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
        Ok((FaultyBlob { inner, faults: self.faults.clone() }, len, version))
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
}

impl<B: Blob> Blob for FaultyBlob<B> {
    async fn read_at_buf(
        &self,
        offset: u64,
        len: usize,
        bufs: impl Into<IoBufsMut> + Send,
        options: ReadOptions,
    ) -> Result<IoBufsMut, Error> {
        self.faults.check(Operation::Read)?;
        self.inner.read_at_buf(offset, len, bufs, options).await
    }

    async fn read_at(&self, offset: u64, len: usize, options: ReadOptions) -> Result<IoBufsMut, Error> {
        self.faults.check(Operation::Read)?;
        self.inner.read_at(offset, len, options).await
    }

    async fn write_at(
        &self,
        offset: u64,
        bufs: impl Into<IoBufs> + Send,
        options: WriteOptions,
    ) -> Result<(), Error> {
        self.faults.check(Operation::Write)?;
        // A write that is its own sync can fail as a sync does.
        if options.contains(WriteOptions::SYNC) {
            self.faults.check(Operation::Sync)?;
        }
        self.inner.write_at(offset, bufs, options).await
    }

    async fn resize(&self, len: u64) -> Result<(), Error> {
        self.faults.check(Operation::Write)?;
        self.inner.resize(len).await
    }

    async fn sync(&self) -> Result<(), Error> {
        self.faults.check(Operation::Sync)?;
        self.inner.sync().await
    }

    async fn start_sync(&self) -> Handle<()> {
        if let Err(error) = self.faults.check(Operation::Sync) {
            return Handle::ready(Err(error));
        }
        self.inner.start_sync().await
    }
}
