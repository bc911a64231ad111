//! How fast a new store syncs a large state from a peer's store, in one process on real disk
//! (no network: the figure bounds what a validator syncing over its peers' API can reach).
//!
//! `cargo run --release -p hansa-state --example sync_speed -- [accounts] [transfers]`
//! (defaults 1,000,000 and 10,000,000). The state is built in blocks of 65,520 transfers, each
//! touching `accounts` records spread over the blocks; then reopens the synced store, as a
//! restart would; everything is deleted at the end.

use commonware_runtime::{Runner as _, Supervisor as _};
use hansa_ledger::modules::{
    self,
    ledger::{ACCOUNTS, TRANSFERS},
};
use hansa_state::{LogIndex, Part, Peers, Store, StoreConfig};
use hansa_types::{LogAppend, RecordWrite, WriteSet};
use std::time::Instant;

#[derive(Clone)]
struct Local(Store<commonware_runtime::tokio::Context>);

impl Peers for Local {
    async fn fetch(&self, part: Part, request: Vec<u8>) -> Result<Vec<u8>, String> {
        self.0.serve_sync(part, &request).await.map_err(|error| error.to_string())
    }
}

/// Opens (or creates) the store `name` in `folder`, with its log index beside it.
async fn open(
    context: commonware_runtime::tokio::Context,
    folder: &std::path::Path,
    name: &str,
) -> Store<commonware_runtime::tokio::Context> {
    let index = LogIndex::open(&folder.join(format!("{name}-log-index.redb")), 64 << 20).expect("index");
    Store::open(context, StoreConfig::new(name, modules::kind), index).await.expect("open")
}

fn main() {
    let arguments: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let accounts = arguments.first().copied().unwrap_or(1_000_000);
    let transfers = arguments.get(1).copied().unwrap_or(10_000_000);
    let folder = std::env::temp_dir().join(format!("hansa-sync-speed-{}", std::process::id()));
    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_storage_directory(folder.clone()),
    );
    let inside = folder.clone();
    runner.start(|context| async move {
        let folder = inside;
        let source = open(context.child("source"), &folder, "source").await;
        let started = Instant::now();
        let per_block = 65_520u64;
        let blocks = transfers.div_ceil(per_block).max(accounts.div_ceil(per_block));
        let (mut next_account, mut next_transfer) = (0u64, 0u64);
        for height in 1..=blocks {
            let mut records = Vec::new();
            for _ in 0..per_block.min(accounts.saturating_sub(next_account)) {
                next_account += 1;
                records.push(RecordWrite {
                    key: ACCOUNTS.key(u128::from(next_account)),
                    value: Some(vec![7; 128]),
                });
            }
            // Each block also changes 10,000 existing accounts (as transfers would).
            for offset in 0..10_000.min(next_account) {
                let id = 1 + (height * 7_919 + offset * 104_729) % next_account;
                records.push(RecordWrite {
                    key: ACCOUNTS.key(u128::from(id)),
                    value: Some(vec![height as u8; 128]),
                });
            }
            records.sort_by_key(|write| write.key);
            records.dedup_by_key(|write| write.key);
            let mut log = Vec::new();
            for _ in 0..per_block.min(transfers.saturating_sub(next_transfer)) {
                next_transfer += 1;
                log.push(LogAppend { key: TRANSFERS.key(u128::from(next_transfer)), value: vec![3; 128] });
            }
            let writes = WriteSet { records, log };
            let speculation = source.speculate(None, height, writes).await.expect("speculate");
            source.apply(&speculation).await.expect("apply");
            if height % 32 == 0 || height == blocks {
                source.checkpoint().await.expect("checkpoint");
            }
        }
        let target = source.durable().await;
        println!(
            "built {accounts} accounts and {transfers} transfers in {blocks} blocks in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let synced = open(context.child("synced"), &folder, "synced").await;
        let started = Instant::now();
        let report = synced
            .sync_from(context.child("sync"), target.height, target.commitment, Local(source.clone()))
            .await
            .expect("sync");
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(synced.applied().await, (target.height, target.commitment));
        let probe = [ACCOUNTS.key(1), TRANSFERS.key(u128::from(transfers))];
        assert_eq!(
            synced.read(None, &probe).await.expect("read"),
            source.read(None, &probe).await.expect("read")
        );
        println!(
            "synced height {} ({} records operations, {} log entries) in {seconds:.1} s: records {:.1} s, \
             log {:.1} s, log index {:.1} s",
            target.height,
            target.commitment.records_range.1,
            target.commitment.log_range.1,
            report.phases.records.as_secs_f64(),
            report.phases.log.as_secs_f64(),
            report.phases.reindex.as_secs_f64(),
        );
        // What a restart of the synced validator costs before it replays anything: reopening
        // its databases at their checkpoint.
        synced.close().await;
        drop(synced);
        let started = Instant::now();
        let reopened = open(context.child("reopened"), &folder, "synced").await;
        println!("reopened the synced store in {:.1} s", started.elapsed().as_secs_f64());
        assert_eq!(reopened.applied().await, (target.height, target.commitment));
    });
    let _ = std::fs::remove_dir_all(&folder);
}
