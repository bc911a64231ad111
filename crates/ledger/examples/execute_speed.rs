//! Measures the ledger alone: executing blocks of random transfers between 8,000 accounts on
//! prefetched records (what a validator does between fetching a block's records and storing
//! its writes). Prefetching from, and applying writes to, an in-memory state are timed apart.
//! Run: `cargo run --release -p hansa-ledger --example execute_speed`

use hansa_ledger::testkit::{BANK, CNY, Harness, account, key, transfer};
use hansa_ledger::{Prefetched, Signatures};
use hansa_types::{Batch, Operation, SealedBatch};
use std::time::Instant;

const ACCOUNTS: u128 = 8_000;
const BLOCKS: usize = 40;
const BATCHES_PER_BLOCK: usize = 8;
const TRANSFERS_PER_BATCH: usize = 8_190;

fn main() {
    let mut harness = Harness::new();
    // The bank owns every account, so every account may go negative: no transfer fails.
    let accounts: Vec<Operation> = (1..=ACCOUNTS).map(|id| account(id, CNY, 0)).collect();
    let results = harness.submit(BANK, accounts);
    assert!(results.iter().all(|code| *code == hansa_types::ResultCode::Ok));
    let chain_id = harness.ledger.consortium().chain_id;
    let mut sequence = harness.sequence;
    let mut random = 12345u64;
    let mut next = || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let mut id = 1u128 << 64;
    let mut prepared: Vec<Vec<SealedBatch>> = Vec::new();
    for _ in 0..BLOCKS {
        let mut batches = Vec::new();
        for _ in 0..BATCHES_PER_BLOCK {
            let transfers = (0..TRANSFERS_PER_BATCH)
                .map(|_| {
                    id += 1;
                    let debit = 1 + u128::from(next()) % ACCOUNTS;
                    let credit = 1 + (debit + u128::from(next()) % (ACCOUNTS - 1)) % ACCOUNTS;
                    transfer(id, debit, credit, 1 + u128::from(next() % 20_000))
                })
                .collect();
            sequence += 1;
            batches.push(
                Batch { chain_id, org: BANK, key: 0, sequence, operations: transfers }
                    .sign(&key(BANK))
                    .seal(),
            );
        }
        prepared.push(batches);
    }
    for signatures in [Signatures::AlreadyVerified, Signatures::Verify] {
        let mut state = harness.state.clone();
        let mut time_ms = harness.time_ms;
        let (mut prefetch_s, mut execute_s, mut apply_s) = (0.0, 0.0, 0.0);
        let mut operations = 0;
        let mut block_ms = Vec::new();
        for batches in &prepared {
            time_ms += 10;
            let start = Instant::now();
            let prefetched: Prefetched = state.prefetch(&harness.ledger, time_ms, batches);
            let fetched = Instant::now();
            let outcome =
                harness.ledger.execute_block(time_ms, batches, &prefetched, signatures).expect("valid block");
            let executed = Instant::now();
            state.apply(&outcome.writes);
            let applied = Instant::now();
            prefetch_s += (fetched - start).as_secs_f64();
            execute_s += (executed - fetched).as_secs_f64();
            apply_s += (applied - executed).as_secs_f64();
            block_ms.push((executed - fetched).as_secs_f64() * 1e3);
            operations += outcome.results.len();
            assert!(outcome.results.iter().all(|code| *code == hansa_types::ResultCode::Ok));
        }
        // Whether a block gets slower as the state grows.
        println!(
            "  execute ms per block of 65,520, first 3 {:.0?}, last 3 {:.0?}",
            &block_ms[..3],
            &block_ms[block_ms.len() - 3..]
        );
        println!(
            "{signatures:?}: {operations} transfers executed in {execute_s:.3} s = {:.0} transfers/s ({:.2} µs \
             each); prefetch from memory {prefetch_s:.3} s, apply to memory {apply_s:.3} s",
            operations as f64 / execute_s,
            execute_s * 1e6 / operations as f64
        );
    }
}
