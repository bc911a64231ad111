//! Measures one validator's own work per block, without consensus or the network: build a
//! block from the mempool (prefetch from disk, execute, build the speculative state), then
//! apply it as finalized (index, state, checkpoints), on real storage in a temporary folder.
//! Every validator does this once per block (as leader or verifier), so CPU time per transfer
//! here bounds the throughput of a consortium whose validators share the machine's cores.
//! Run: `cargo run --release -p hansa-chain --example pipeline_speed [blocks] [batches per block]`

use commonware_runtime::{Runner as _, Supervisor as _};
use hansa_chain::Executor as _;
use hansa_chain::app::{App, AppConfig, Index};
use hansa_chain::sim::SplitMix64;
use hansa_ledger::testkit::{self, BANK, CNY, account, key, transfer};
use hansa_types::{Batch, ResultCode};
use std::time::{Duration, Instant};

/// The validator's allocator (crates/node/src/main.rs), so that allocation costs what it does
/// there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ACCOUNTS: u128 = 10_000;
const TRANSFERS_PER_BATCH: usize = 8_190;

/// CPU time this process used so far (user and system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th after it, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n).and_then(|field| field.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|arg| arg.parse::<usize>().expect("a number"));
    let blocks = args.next().unwrap_or(96);
    let batches_per_block = args.next().unwrap_or(2);
    let dir = std::env::temp_dir().join(format!("hansa-pipeline-speed-{}", std::process::id()));
    let runtime = commonware_runtime::tokio::Config::new().with_storage_directory(dir.join("chain"));
    let folder = dir.clone();
    commonware_runtime::tokio::Runner::new(runtime).start(|context| async move {
        let dir = folder;
        let consortium = testkit::consortium();
        let chain_id = consortium.chain_id;
        let index = Index::open(&dir.join("index.redb"), 128 << 20).expect("index");
        let log_index =
            hansa_state::LogIndex::open(&dir.join("log-index.redb"), 64 << 20).expect("log index");
        let app = App::open(context.child("app"), consortium, index, log_index, AppConfig::new("speed"))
            .await
            .expect("the app opens");
        let mut sequence = 0u64;
        let mut batch = |operations| {
            sequence += 1;
            Batch { chain_id, org: BANK, key: 0, sequence, operations }.sign(&key(BANK))
        };
        let mut parent = app.genesis_block();
        let mut timestamp = testkit::GENESIS_TIME_MS;
        // The bank owns every account, so each may go negative and no transfer fails.
        let setup: Vec<_> = (1..=ACCOUNTS)
            .collect::<Vec<_>>()
            .chunks(TRANSFERS_PER_BATCH)
            .map(|ids| batch(ids.iter().map(|id| account(*id, CNY, 0)).collect()))
            .collect();
        assert!(app.submit_many(setup).iter().all(Result::is_ok));
        timestamp += 10;
        let block = app.propose(parent, timestamp, Vec::new()).await.expect("a proposal");
        hansa_chain::Executor::finalized(&app, block.clone(), Vec::new()).await;
        parent = block;

        let mut random = SplitMix64::new(12345);
        let mut next = || random.next_u64();
        let mut id = 1u128 << 64;
        let (mut build, mut apply, mut transfers) = (Duration::ZERO, Duration::ZERO, 0usize);
        let (cpu_before, wall_before) = (cpu_time(), Instant::now());
        let mut report_at = 16;
        for height in 1..=blocks {
            let batches: Vec<_> = (0..batches_per_block)
                .map(|_| {
                    batch(
                        (0..TRANSFERS_PER_BATCH)
                            .map(|_| {
                                id += 1;
                                let debit = 1 + u128::from(next()) % ACCOUNTS;
                                let credit = 1 + (debit + u128::from(next()) % (ACCOUNTS - 1)) % ACCOUNTS;
                                transfer(id, debit, credit, 1 + u128::from(next() % 20_000))
                            })
                            .collect(),
                    )
                })
                .collect();
            assert!(app.submit_many(batches).iter().all(Result::is_ok));
            timestamp += 10;
            let started = Instant::now();
            let block = app.propose(parent, timestamp, Vec::new()).await.expect("a proposal");
            let built = Instant::now();
            hansa_chain::Executor::finalized(&app, block.clone(), Vec::new()).await;
            build += built - started;
            apply += built.elapsed();
            let outcome = app.index().batch(&block.batches[0].digest()).expect("index").expect("final");
            assert!(outcome.results.iter().all(|(_, code)| *code == ResultCode::Ok));
            transfers += block.batches.iter().map(|batch| batch.batch.operations.len()).sum::<usize>();
            parent = block;
            if height == report_at || height == blocks {
                let cpu = (cpu_time() - cpu_before).as_secs_f64();
                println!(
                    "{height} blocks, {transfers} transfers: build {:.1} µs, apply {:.1} µs per transfer; \
                     {:.0} transfers/s wall, {:.1} CPU-s per million transfers",
                    build.as_secs_f64() * 1e6 / transfers as f64,
                    apply.as_secs_f64() * 1e6 / transfers as f64,
                    transfers as f64 / wall_before.elapsed().as_secs_f64(),
                    cpu * 1e6 / transfers as f64,
                );
                report_at *= 2;
            }
        }
        let disk: u64 = walk(&dir);
        println!("disk {:.0} bytes per transfer ({} MiB)", disk as f64 / transfers as f64, disk >> 20);
        let mut parts: Vec<(u64, String)> = Vec::new();
        for folder in [dir.clone(), dir.join("chain")] {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                if entry.file_name() != "chain" {
                    parts.push((walk(&entry.path()), entry.file_name().to_string_lossy().into_owned()));
                }
            }
        }
        parts.sort_unstable_by(|a, b| b.cmp(a));
        for (bytes, name) in parts.iter().take(8) {
            println!("  {:>6.0} bytes per transfer  {name}", *bytes as f64 / transfers as f64);
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bytes of every file under `dir`.
fn walk(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return std::fs::metadata(dir).map_or(0, |metadata| metadata.len());
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => walk(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}
