//! `hansa bench`: the workloads of BENCH.md against real validator processes on this machine,
//! validated before any figure is printed, with PostgreSQL measured in the same run.
//!
//! Each case starts a fresh consortium (1 or 4 validators, processes of this binary), creates
//! and funds the accounts, then drives load from client threads: batches are submitted without
//! waiting (round robin over the validators, within a bounded in-flight window) and their
//! finality is observed on the event stream, which gives submit-to-final latency per batch.

pub mod soak;

use crate::devnet::{self, DevnetOptions};
use anyhow::{Context, Result, bail};
use hansa_client::{Client, Credentials};
use hansa_ledger::testkit::transfer;
use hansa_types::{AccountFlags, Batch, Hash, NewAccount, Operation, OrgId, SecretKey, SignedBatch};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BANK: OrgId = OrgId(3);
const LEDGER: u32 = hansa_ledger::testkit::CNY;
const ISSUANCE: u128 = 1;
const ACCOUNT_BASE: u128 = 1_000_000;

pub struct BenchOptions {
    pub validators: Vec<usize>,
    pub workloads: Vec<String>,
    pub duration_s: u64,
    pub repeats: usize,
    pub accounts: u64,
    pub batch_sizes: Vec<usize>,
    pub postgres: bool,
    pub dir: PathBuf,
}

/// One measured load phase.
#[derive(Debug, Clone, Default)]
struct Phase {
    throughput: f64,
    latencies_ms: Vec<f64>,
    cpu_s: f64,
    ok: u64,
    failed: u64,
    designed_failures_failed: bool,
    /// Each final batch: seconds after the phase started, submit-to-final ms, operations.
    finals: Vec<(f64, f64, u64)>,
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn median_min_max(values: &[f64]) -> Value {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    json!({ "median": percentile(&sorted, 0.5), "min": sorted.first(), "max": sorted.last() })
}

pub fn print_machine(label: &str) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemAvailable"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let machine = json!({ "when": label, "nproc": cores, "cpu": cpu, "mem_available_kib": memory, "loadavg": load.trim() });
    println!("machine ({label}): {cores} cores, {cpu}, {memory} KiB available, load {}", load.trim());
    machine
}

/// A running consortium for one case.
struct Cluster {
    dir: PathBuf,
    endpoints: Vec<String>,
    children: Mutex<Vec<std::process::Child>>,
    chain_id: Hash,
    key: SecretKey,
    sequence: Arc<AtomicU64>,
}

impl Cluster {
    fn start(dir: &Path, validators: usize, port_base: u16) -> Result<Cluster> {
        let _ = std::fs::remove_dir_all(dir);
        let options = DevnetOptions {
            dir: dir.to_path_buf(),
            validators,
            api_port_base: port_base,
            p2p_port_base: port_base + 50,
            retention_blocks: None,
        };
        devnet::prepare(&options)?;
        let endpoints = devnet::endpoints(dir)?;
        let key = crate::config::read_key(&dir.join("keys/org-3.key"))?;
        let micros = SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros() as u64;
        // From here on the cluster owns its processes: a failure below stops them (Drop).
        let mut cluster = Cluster {
            dir: dir.to_path_buf(),
            endpoints,
            children: Mutex::new(Vec::new()),
            chain_id: Hash::ZERO,
            key,
            sequence: Arc::new(AtomicU64::new(micros)),
        };
        for index in 0..validators {
            let child = devnet::spawn_validator(dir, index)?;
            cluster.children.get_mut().expect("lock").push(child);
        }
        devnet::wait_healthy(&cluster.endpoints, Duration::from_secs(60))?;
        cluster.chain_id = Client::new(cluster.endpoints.clone()).chain_id()?;
        Ok(cluster)
    }

    /// The bank's credentials, for the routes that need them.
    fn credentials(&self) -> Credentials {
        Credentials::new(self.chain_id, BANK, self.key.clone())
    }

    fn sign(&self, operations: Vec<Operation>) -> SignedBatch {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        Batch { chain_id: self.chain_id, org: BANK, key: 0, sequence, operations }.sign(&self.key)
    }

    fn pids(&self) -> Vec<u32> {
        self.children.lock().expect("lock").iter().map(|child| child.id()).collect()
    }

    /// Kills validator `index` with SIGKILL (no clean stop) and starts it again from its folder.
    /// SIGKILLs validator `index` and starts it again; with `empty`, from an empty data folder
    /// (it then joins from its peers' snapshot).
    fn kill_and_restart(&self, index: usize, empty: bool) -> Result<()> {
        let mut children = self.children.lock().expect("lock");
        let child = &mut children[index];
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our own live child's.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
        }
        child.wait()?;
        if empty {
            std::fs::remove_dir_all(self.dir.join(format!("validator-{index}/data")))?;
        }
        children[index] = devnet::spawn_validator(&self.dir, index)?;
        Ok(())
    }

    /// Creates `count` accounts from `first` with `flags`, and funds each with `funding`.
    fn setup(&self, first: u128, count: u64, flags: u16, funding: u128) -> Result<()> {
        let client = Client::new(self.endpoints.clone());
        let issuance = Operation::CreateAccount(NewAccount {
            id: ISSUANCE,
            ledger: LEDGER,
            code: 1,
            flags: AccountFlags(AccountFlags::ISSUANCE),
            ..Default::default()
        });
        client.submit(&self.sign(vec![issuance]), true)?;
        let ids: Vec<u128> = (0..count as u128).map(|i| first + i).collect();
        for chunk in ids.chunks(hansa_types::OPERATIONS_PER_BATCH_MAX) {
            let accounts = chunk
                .iter()
                .map(|id| {
                    Operation::CreateAccount(NewAccount {
                        id: *id,
                        ledger: LEDGER,
                        code: 1,
                        flags: AccountFlags(flags),
                        ..Default::default()
                    })
                })
                .collect();
            check_all_ok(&client.submit(&self.sign(accounts), true)?, "creating accounts")?;
            let funds =
                chunk.iter().map(|id| transfer(id + (1u128 << 100), ISSUANCE, *id, funding)).collect();
            check_all_ok(&client.submit(&self.sign(funds), true)?, "funding accounts")?;
        }
        Ok(())
    }
}

/// Stopping a cluster, also when a case fails half way, stops its validators and deletes their
/// chain data (gigabytes per case; the bytes per operation were measured before), keeping their
/// logs and configuration.
impl Drop for Cluster {
    fn drop(&mut self) {
        devnet::stop_all(self.children.get_mut().expect("lock"));
        for index in 0..self.endpoints.len() {
            let data = self.dir.join(format!("validator-{index}/data"));
            if let Err(error) = std::fs::remove_dir_all(&data)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                eprintln!("hansa bench: could not delete {}: {error}", data.display());
            }
        }
    }
}

fn check_all_ok(outcome: &Value, what: &str) -> Result<()> {
    let results = outcome["results"].as_array().context("no results")?;
    if let Some(bad) = results.iter().find(|r| r["result"] != "ok" && r["result"] != "exists") {
        bail!("{what}: an operation failed: {bad}");
    }
    Ok(())
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let after = text.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A memory figure of a process from `/proc/PID/status` (`VmHWM`: peak resident, `VmRSS`:
/// resident now), in MiB; 0 if the process is gone.
fn status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn directory_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => directory_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// What a load phase submits.
#[derive(Clone, Copy)]
struct Load {
    batch_size: usize,
    first_account: u128,
    accounts: u64,
    /// Every n-th transfer asks for far more than any balance (0 = none).
    designed_failure_every: u64,
    in_flight_ops_max: u64,
    threads: usize,
    /// Signed batches per request: small batches travel together (`POST /v1/batch-lists`),
    /// each still signed, sequenced, verified and finalized on its own.
    batches_per_request: usize,
    /// A validator the load threads do not submit to (one the benchmark crashes on purpose:
    /// batches admitted only there and not yet forwarded would die with it).
    avoid: Option<usize>,
}

impl Load {
    /// Uniform transfers over `accounts` accounts in batches of `batch_size`, none designed to
    /// fail, submitted to every validator but `avoid`.
    fn new(batch_size: usize, accounts: u64, avoid: Option<usize>) -> Load {
        Load {
            batch_size,
            first_account: ACCOUNT_BASE,
            accounts,
            designed_failure_every: 0,
            in_flight_ops_max: (batch_size as u64 * 8).clamp(4_000, 40_000),
            threads: if batch_size >= 1_000 { 4 } else { 8 },
            batches_per_request: (OPERATIONS_PER_REQUEST / batch_size).max(1),
            avoid,
        }
    }
}

/// Operations a load thread puts in one request when batches are small.
const OPERATIONS_PER_REQUEST: usize = 256;

/// A batch on its way: when it was sent, its operation count, and its designed failures.
type Submitted = (Instant, u64, Vec<u128>);

struct Window {
    in_flight: Mutex<u64>,
    released: Condvar,
}

/// Runs one load phase of `duration` and returns its measurements.
fn load_phase(
    cluster: &Cluster,
    load: Load,
    duration: Duration,
    ids: &Arc<AtomicU64>,
    stop_early: Option<&AtomicBool>,
) -> Result<Phase> {
    let submitted: Arc<Mutex<HashMap<Hash, Submitted>>> = Arc::default();
    let window = Arc::new(Window { in_flight: Mutex::new(0), released: Condvar::new() });
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new((0u64, 0u64, Vec::<(Instant, f64, u64)>::new(), true)));
    // The event stream of validator 0: finality of every batch (the bank's, the only submitter).
    let events = {
        let endpoint = cluster.endpoints[0].clone();
        let authorization = cluster.credentials().authorization();
        let submitted = submitted.clone();
        let window = window.clone();
        let stats = stats.clone();
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<()> {
            let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(None).build().into();
            let response =
                agent.get(&format!("{endpoint}/v1/events")).header("authorization", authorization).call()?;
            let reader = BufReader::new(response.into_body().into_reader());
            let mut is_batch = false;
            for line in reader.lines() {
                let line = line?;
                if let Some(kind) = line.strip_prefix("event: ") {
                    is_batch = kind == "batch";
                } else if let Some(data) = line.strip_prefix("data: ")
                    && is_batch
                {
                    let event: Value = serde_json::from_str(data)?;
                    let Some(digest) = event["batch_digest"].as_str().and_then(Hash::from_hex) else {
                        continue;
                    };
                    let Some((sent, count, designed)) = submitted.lock().expect("lock").remove(&digest)
                    else {
                        continue;
                    };
                    let now = Instant::now();
                    let mut stats = stats.lock().expect("lock");
                    for result in event["results"].as_array().into_iter().flatten() {
                        let ok = result["result"] == "ok";
                        if ok {
                            stats.0 += 1
                        } else {
                            stats.1 += 1
                        }
                        let id: u128 = result["id"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
                        if ok && designed.contains(&id) {
                            stats.3 = false;
                        }
                    }
                    stats.2.push((now, now.duration_since(sent).as_secs_f64() * 1000.0, count));
                    drop(stats);
                    *window.in_flight.lock().expect("lock") -= count;
                    window.released.notify_all();
                }
                if stop.load(Ordering::Relaxed) && submitted.lock().expect("lock").is_empty() {
                    break;
                }
            }
            Ok(())
        })
    };
    std::thread::sleep(Duration::from_millis(300)); // let the event stream connect
    let pids = cluster.pids();
    let cpu_before: f64 = pids.iter().map(|pid| cpu_seconds(*pid)).sum();
    let start = Instant::now();
    let deadline = start + duration;
    let mut threads = Vec::new();
    let mut halts = Vec::new();
    let targets: Vec<String> = (0..cluster.endpoints.len())
        .filter(|index| Some(*index) != load.avoid)
        .map(|index| cluster.endpoints[index].clone())
        .collect();
    let stopped_early = || stop_early.is_some_and(|flag| flag.load(Ordering::Relaxed));
    for thread in 0..load.threads {
        let endpoint = targets[thread % targets.len()].clone();
        let submitted = submitted.clone();
        let window = window.clone();
        let sequence = cluster.sequence.clone();
        let (chain_id, key) = (cluster.chain_id, cluster.key.clone());
        let ids = ids.clone();
        let halt = Arc::new(AtomicBool::new(false));
        halts.push(halt.clone());
        threads.push(std::thread::spawn(move || -> Result<()> {
            let client = Client::new(vec![endpoint]);
            let mut rng = rand::rng();
            while Instant::now() < deadline && !halt.load(Ordering::Relaxed) {
                let request_ops = (load.batch_size * load.batches_per_request) as u64;
                {
                    let mut in_flight = window.in_flight.lock().expect("lock");
                    let halted = || Instant::now() >= deadline || halt.load(Ordering::Relaxed);
                    while *in_flight + request_ops > load.in_flight_ops_max && !halted() {
                        in_flight = window
                            .released
                            .wait_timeout(in_flight, Duration::from_millis(50))
                            .expect("lock")
                            .0;
                    }
                    if halted() {
                        break;
                    }
                    *in_flight += request_ops;
                }
                let mut batches = Vec::with_capacity(load.batches_per_request);
                let mut pending = Vec::with_capacity(load.batches_per_request);
                for _ in 0..load.batches_per_request {
                    let first = ids.fetch_add(load.batch_size as u64, Ordering::Relaxed) as u128;
                    let mut designed = Vec::new();
                    let operations: Vec<Operation> = (0..load.batch_size as u128)
                        .map(|offset| {
                            use rand::Rng;
                            let id = first + offset;
                            let debit = load.first_account + rng.random_range(0..load.accounts) as u128;
                            let mut credit = load.first_account + rng.random_range(0..load.accounts) as u128;
                            if credit == debit {
                                credit = load.first_account
                                    + ((credit - load.first_account + 1) % load.accounts as u128);
                            }
                            let uniform: f64 = rng.random_range(f64::EPSILON..1.0);
                            let mut amount = (-uniform.ln() * 10_000.0) as u128 + 1;
                            if load.designed_failure_every > 0
                                && (id as u64).is_multiple_of(load.designed_failure_every)
                            {
                                amount = 1u128 << 80;
                                designed.push(id);
                            }
                            transfer(id, debit, credit, amount)
                        })
                        .collect();
                    let sequence = sequence.fetch_add(1, Ordering::Relaxed);
                    let signed = Batch { chain_id, org: BANK, key: 0, sequence, operations }.sign(&key);
                    pending.push((signed.batch.digest(), designed));
                    batches.push(signed);
                }
                {
                    let mut submitted = submitted.lock().expect("lock");
                    let now = Instant::now();
                    for (digest, designed) in pending {
                        submitted.insert(digest, (now, load.batch_size as u64, designed));
                    }
                }
                submit_until_admitted(&client, batches)?;
            }
            Ok(())
        }));
    }
    while !stopped_early() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for halt in &halts {
        halt.store(true, Ordering::Relaxed);
    }
    for thread in threads {
        thread.join().map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
    }
    // Drain: wait until everything submitted is final (bounded).
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while !submitted.lock().expect("lock").is_empty() {
        if Instant::now() > drain_deadline {
            bail!(
                "{} acknowledged batches did not become final within 60 s of the load phase",
                submitted.lock().expect("lock").len()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu_after: f64 = pids.iter().map(|pid| cpu_seconds(*pid)).sum();
    stop.store(true, Ordering::Relaxed);
    drop(events); // the stream thread ends with the cluster
    let stats = stats.lock().expect("lock");
    let in_phase: u64 = stats.2.iter().filter(|(at, _, _)| *at <= deadline).map(|(_, _, count)| count).sum();
    let mut latencies: Vec<f64> = stats.2.iter().map(|(_, latency, _)| *latency).collect();
    latencies.sort_by(f64::total_cmp);
    let finals = stats
        .2
        .iter()
        .map(|(at, latency, count)| (at.duration_since(start).as_secs_f64(), *latency, *count))
        .collect();
    Ok(Phase {
        finals,
        throughput: in_phase as f64 / duration.as_secs_f64(),
        latencies_ms: latencies,
        cpu_s: cpu_after - cpu_before,
        ok: stats.0,
        failed: stats.1,
        designed_failures_failed: stats.3,
    })
}

/// Submits `batches` (one request when there is one batch, a batch list otherwise) and
/// resubmits whatever a validator refused only because it was busy. Any other refusal fails
/// the run: the benchmark's batches are all valid.
fn submit_until_admitted(client: &Client, mut batches: Vec<SignedBatch>) -> Result<()> {
    let busy = |code: &str| code == "overloaded" || code == "rate_limited";
    while !batches.is_empty() {
        let answer = if batches.len() == 1 {
            client.submit(&batches[0], false).map(|_| Vec::new())
        } else {
            client
                .submit_list(&batches)
                .map(|answer| answer["results"].as_array().cloned().unwrap_or_default())
        };
        match answer {
            Ok(results) => {
                let mut refused = Vec::new();
                for (signed, result) in
                    batches.into_iter().zip(results.iter().chain(std::iter::repeat(&Value::Null)))
                {
                    match result["error"]["code"].as_str() {
                        None => {}
                        Some(code) if busy(code) => refused.push(signed),
                        Some(code) => {
                            bail!("a valid batch was refused: {code}: {}", result["error"]["message"])
                        }
                    }
                }
                if !refused.is_empty() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                batches = refused;
            }
            Err(hansa_client::ClientError::Api { code, .. }) if busy(&code) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Checks the invariants on every validator before a figure may be printed.
fn validate(cluster: &Cluster, expected_transfers: u64) -> Result<()> {
    let mut heights = Vec::new();
    for endpoint in &cluster.endpoints {
        let client = Client::new(vec![endpoint.clone()]).with_credentials(cluster.credentials());
        // The audit reads every account from the state and sums it, independently of the
        // checks each validator runs on every block.
        let ledgers = client.get("/v1/ledgers?audit=true")?;
        for ledger in ledgers["ledgers"].as_array().into_iter().flatten() {
            let audit = &ledger["audit"];
            if audit["balanced"] != true || audit["matches_running_totals"] != true {
                bail!("validation failed at {endpoint}: ledger {} is not balanced: {ledger}", ledger["id"]);
            }
        }
        let audit = &ledgers["audit"];
        if audit["limit_violations"] != 0 || audit["accounts_missing"] != 0 {
            bail!("validation failed at {endpoint}: accounts past their limits or missing: {audit}");
        }
        heights.push(client.get("/v1/status")?["height"].as_u64().unwrap_or(0));
    }
    let common = heights.iter().copied().min().unwrap_or(0);
    let mut roots = Vec::new();
    for endpoint in &cluster.endpoints {
        let client = Client::new(vec![endpoint.clone()]);
        roots.push(client.get(&format!("/v1/blocks/{common}"))?["header"]["state_root"].clone());
    }
    if roots.windows(2).any(|pair| pair[0] != pair[1]) {
        bail!("validation failed: validators disagree on the state root at height {common}: {roots:?}");
    }
    // Every acknowledged transfer is in the state: the count matches the ok results seen.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = Client::new(vec![cluster.endpoints[0].clone()]).get("/v1/status")?;
        let transfers = status["transfers"].as_u64().unwrap_or(0);
        if transfers == expected_transfers {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("validation failed: {transfers} transfers in the state, {expected_transfers} acknowledged");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn emit(line: &Value, lines: &mut Vec<Value>) {
    println!("{}", serde_json::to_string(line).expect("json"));
    lines.push(line.clone());
}

pub fn run(options: BenchOptions) -> Result<()> {
    let mut lines = Vec::new();
    let machine_before = print_machine("before");
    let mut port = 9_100u16;
    for &validators in &options.validators {
        for workload in &options.workloads {
            let sizes: Vec<usize> = if workload == "w2" { options.batch_sizes.clone() } else { vec![8_190] };
            for batch_size in sizes {
                let dir = options.dir.join(format!("{workload}-{validators}-{batch_size}"));
                port += 100;
                let cluster = Cluster::start(&dir, validators, port)?;
                let limited = workload == "w5";
                let flags = if limited { AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS } else { 0 };
                cluster.setup(
                    ACCOUNT_BASE,
                    options.accounts,
                    flags,
                    if limited { 1_000_000 } else { 1_000_000_000_000 },
                )?;
                let setup_transfers = options.accounts;
                let load = Load {
                    designed_failure_every: if limited { 100 } else { 0 },
                    ..Load::new(batch_size, options.accounts, None)
                };
                let ids = Arc::new(AtomicU64::new(1 << 40));
                let mut phases = Vec::new();
                let mut ok_total = 0;
                for repeat in 0..options.repeats {
                    let phase =
                        load_phase(&cluster, load, Duration::from_secs(options.duration_s), &ids, None)
                            .with_context(|| {
                                format!("{workload} at {validators} validators, repeat {repeat}")
                            })?;
                    ok_total += phase.ok;
                    validate(&cluster, setup_transfers + ok_total)?;
                    if limited && (!phase.designed_failures_failed || phase.failed == 0) {
                        bail!("validation failed: W5's designed overdrafts did not all fail");
                    }
                    eprintln!(
                        "  {workload} validators={validators} batch={batch_size} repeat {repeat}: {:.0} ops/s, p99 {:.0} ms, {} ok, {} failed",
                        phase.throughput,
                        percentile(&phase.latencies_ms, 0.99),
                        phase.ok,
                        phase.failed
                    );
                    phases.push(phase);
                }
                let pids = cluster.pids();
                let rss = pids.iter().map(|pid| status_mib(*pid, "VmHWM")).fold(0.0, f64::max);
                let disk = directory_bytes(&cluster.dir.join("validator-0/data"));
                let ops_total: u64 =
                    phases.iter().map(|p| p.ok + p.failed).sum::<u64>() + 2 * options.accounts;
                let throughputs: Vec<f64> = phases.iter().map(|p| p.throughput).collect();
                let p50: Vec<f64> = phases.iter().map(|p| percentile(&p.latencies_ms, 0.5)).collect();
                let p99: Vec<f64> = phases.iter().map(|p| percentile(&p.latencies_ms, 0.99)).collect();
                let max: Vec<f64> =
                    phases.iter().map(|p| p.latencies_ms.last().copied().unwrap_or(0.0)).collect();
                let cpu: Vec<f64> =
                    phases.iter().map(|p| p.cpu_s / ((p.ok + p.failed).max(1) as f64) * 1e6).collect();
                emit(
                    &json!({
                        "system": "hansa", "case": workload.to_uppercase(), "validators": validators, "batch_size": batch_size,
                        "batches_per_request": load.batches_per_request,
                        "accounts": options.accounts, "repeats": options.repeats, "duration_s": options.duration_s,
                        "throughput_ops_s": median_min_max(&throughputs),
                        "latency_ms": { "p50": median_min_max(&p50), "p99": median_min_max(&p99), "max": median_min_max(&max) },
                        "cpu_s_per_million_ops": median_min_max(&cpu),
                        "peak_rss_mib_per_validator_max": rss,
                        "disk_bytes_per_op": disk as f64 / ops_total.max(1) as f64,
                        "validated": true,
                    }),
                    &mut lines,
                );
                drop(cluster);
            }
        }
    }
    if options.postgres {
        let script = std::env::current_dir()?.join("scripts/bench-postgres.sh");
        let output = std::process::Command::new("bash")
            .arg(&script)
            .arg(options.duration_s.to_string())
            .arg(options.accounts.to_string())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        if !output.status.success() {
            bail!("the PostgreSQL baseline failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        for line in String::from_utf8_lossy(&output.stdout).lines().filter(|l| l.starts_with('{')) {
            let value: Value = serde_json::from_str(line)?;
            emit(&value, &mut lines);
        }
        let pg = |case: &str, clients: u64| {
            lines
                .iter()
                .find(|l| l["system"] == "postgresql" && l["case"] == case && l["clients"] == clients)
                .and_then(|l| l["transfers_s"].as_f64())
        };
        let hansa_w1 = lines
            .iter()
            .filter(|l| l["system"] == "hansa" && l["case"] == "W1")
            .filter_map(|l| l["throughput_ops_s"]["median"].as_f64())
            .fold(0.0, f64::max);
        if let (Some(per_transaction), Some(batched)) = (pg("transaction", 16), pg("batched", 16)) {
            emit(
                &json!({ "system": "ratio", "hansa_w1_best_ops_s": hansa_w1,
                         "vs_postgresql_per_transaction_16_clients": hansa_w1 / per_transaction,
                         "vs_postgresql_batched_16_clients": hansa_w1 / batched }),
                &mut lines,
            );
        }
    }
    let machine_after = print_machine("after");
    emit(&json!({ "system": "machine", "before": machine_before, "after": machine_after }), &mut lines);
    Ok(())
}
