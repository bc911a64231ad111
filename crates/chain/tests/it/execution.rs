//! One execution per block and validator: a block whose execution is running (its
//! verification, on one task) is waited for by whoever else needs its state (a proposal built
//! on it, or its finalization, on another task), never executed a second time beside it.
//!
//! The deterministic runtime's storage never makes an execution wait, so no other task can run
//! in the middle of one there; this test runs on the tokio runtime with storage on disk, and
//! starts the proposal or the finalization only once it has seen the verification executing.

use commonware_runtime::{Runner as _, Spawner, Supervisor as _, deterministic, tokio};
use hansa_chain::app::{App, AppConfig, Index};
use hansa_chain::{Executor, Verdict};
use hansa_ledger::testkit::{self, BANK, CNY, Harness, ISSUANCE, PLATFORM, account, transfer};
use hansa_state::LogIndex;
use hansa_types::{AccountFlags, Block};
use std::time::Duration;

/// Accounts, funding, then one block of this many transfers (long enough to execute that a
/// proposal can start beside its verification).
const TRANSFERS: u128 = 8_000;

fn workload() -> Vec<Vec<hansa_types::SignedBatch>> {
    let mut harness = Harness::new();
    let accounts: Vec<u128> = (1..=100).collect();
    vec![
        vec![
            harness.batch(BANK, vec![account(ISSUANCE, CNY, AccountFlags::ISSUANCE)]),
            harness.batch(PLATFORM, accounts.iter().map(|id| account(*id, CNY, 0)).collect()),
        ],
        vec![
            harness.batch(
                BANK,
                accounts.iter().map(|id| transfer(1_000 + id, ISSUANCE, *id, 1_000_000)).collect(),
            ),
        ],
        vec![harness.batch(
            PLATFORM,
            (0..TRANSFERS).map(|n| transfer(10_000 + n, 1 + n % 100, 1 + (n * 7 + 3) % 100, 1)).collect(),
        )],
    ]
}

/// An application on either runtime, with its indexes in memory.
async fn open<E: commonware_storage::Context + Spawner>(context: E, config: AppConfig) -> App<E> {
    let (index, log_index) = (Index::in_memory().expect("index"), LogIndex::in_memory().expect("log index"));
    App::open(context, testkit::consortium(), index, log_index, config).await.expect("the app opens")
}

/// Blocks 1 and 2 of the workload and an empty block 3, as `proposer` builds them.
async fn three_blocks(proposer: &App<deterministic::Context>) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut parent = proposer.genesis_block();
    for (offset, batches) in workload().into_iter().take(2).enumerate() {
        assert!(proposer.submit_many(batches).iter().all(Result::is_ok), "admitted");
        let timestamp = testkit::GENESIS_TIME_MS + 10 * (offset as u64 + 1);
        let block = proposer.propose(parent.clone(), timestamp, Vec::new()).await.expect("a proposal");
        parent = block.clone();
        blocks.push(block);
    }
    let timestamp = testkit::GENESIS_TIME_MS + 30;
    blocks.push(proposer.propose(parent, timestamp, Vec::new()).await.expect("an empty proposal"));
    blocks
}

#[test]
fn a_block_being_verified_is_not_executed_again_for_a_proposal_or_its_finalization() {
    let storage = std::env::temp_dir().join(format!("hansa-execution-{}", std::process::id()));
    let runner = tokio::Runner::new(tokio::Config::new().with_storage_directory(storage.clone()));
    let (overlapped, executions) = runner.start(|context| async move {
        // Attempts that saw the verification running: with a proposal, with finalization.
        let mut overlapped = [0; 2];
        let mut executions = Vec::new();
        for attempt in 0..4 {
            let proposer =
                open(context.child("proposer"), AppConfig::simulation(&format!("proposer{attempt}"))).await;
            let verifier =
                open(context.child("verifier"), AppConfig::simulation(&format!("verifier{attempt}"))).await;
            let mut blocks: Vec<Block> = Vec::new();
            let mut parent = proposer.genesis_block();
            for (offset, batches) in workload().into_iter().enumerate() {
                assert!(proposer.submit_many(batches).iter().all(Result::is_ok), "admitted");
                let timestamp = testkit::GENESIS_TIME_MS + 10 * (offset as u64 + 1);
                let block =
                    proposer.propose(parent.clone(), timestamp, Vec::new()).await.expect("a proposal");
                parent = block.clone();
                blocks.push(block);
            }
            assert_eq!(blocks[2].batches[0].batch.operations.len(), TRANSFERS as usize);
            let mut parent = verifier.genesis_block();
            for block in &blocks[..2] {
                assert_eq!(
                    verifier.verify(parent.clone(), block.clone()).await,
                    Verdict::Valid,
                    "blocks 1 and 2 verify"
                );
                parent = block.clone();
            }
            let verifying = {
                let (verifier, block) = (verifier.clone(), blocks[2].clone());
                context.child("verifying").spawn(move |_| async move { verifier.verify(parent, block).await })
            };
            // Wait (bounded) until the verification is executing block 3.
            let mut seen = false;
            for _ in 0..20_000 {
                if verifier.executing_now() > 0 {
                    seen = true;
                    break;
                }
                ::tokio::time::sleep(Duration::from_micros(50)).await;
            }
            if attempt % 2 == 0 {
                let timestamp = blocks[2].header.timestamp_ms + 10;
                let proposal = verifier.propose(blocks[2].clone(), timestamp, Vec::new()).await;
                assert!(proposal.is_some(), "a proposal on block 3");
            } else {
                for block in &blocks {
                    Executor::finalized(&verifier, block.clone(), Vec::new()).await;
                }
                assert_eq!(verifier.finalized().state.root(), blocks[2].header.state_root);
            }
            assert_eq!(verifying.await.expect("the verification ends"), Verdict::Valid, "block 3 verifies");
            overlapped[attempt % 2] += usize::from(seen);
            // Blocks 1, 2 and 3 once each, and the proposal on block 3 (a fourth block).
            let expected = if attempt % 2 == 0 { 4 } else { 3 };
            executions.push((verifier.executions(), expected));
        }
        (overlapped, executions)
    });
    let _ = std::fs::remove_dir_all(&storage);
    for (attempt, (executed, expected)) in executions.into_iter().enumerate() {
        assert_eq!(executed, expected, "attempt {attempt}: executions of the verifier");
    }
    assert!(overlapped[0] > 0, "no proposal started while block 3 was executing");
    assert!(overlapped[1] > 0, "no finalization started while block 3 was executing");
}

/// A verification whose parent's state is not known yet (a restarted or partitioned validator
/// that has not been delivered the ancestors) waits for it instead of refusing the block, which
/// consensus would take as final (seed 4835 of the `random` family: two validators refused a
/// block the other two had certified, and the view could neither finalize nor be skipped). A
/// block whose parent lies on a fork that finalization abandoned is still refused.
#[test]
fn a_verification_waits_for_its_parents_state_and_refuses_an_abandoned_fork() {
    use commonware_runtime::Clock as _;
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };
    deterministic::Runner::default().start(|context| async move {
        let proposer = open(context.child("proposer"), AppConfig::simulation("proposer")).await;
        let verifier = open(context.child("verifier"), AppConfig::simulation("verifier")).await;
        let blocks = three_blocks(&proposer).await;
        // Another child of genesis, and a child of it: a fork that finalizing block 1 abandons.
        let fork = proposer.propose(proposer.genesis_block(), testkit::GENESIS_TIME_MS + 5, Vec::new()).await;
        let fork = fork.expect("a proposal");
        let fork_child = proposer.propose(fork.clone(), testkit::GENESIS_TIME_MS + 6, Vec::new()).await;
        let fork_child = fork_child.expect("a proposal");
        assert_ne!(fork.digest(), blocks[0].digest());

        // The verifier has seen neither block 1 nor block 2: block 3's verification waits.
        let done = Arc::new(AtomicBool::new(false));
        let verifying = {
            let (verifier, parent, block, done) =
                (verifier.clone(), blocks[1].clone(), blocks[2].clone(), done.clone());
            context.child("verifying").spawn(move |_| async move {
                let valid = verifier.verify(parent, block).await;
                done.store(true, Ordering::SeqCst);
                valid
            })
        };
        context.sleep(Duration::from_secs(5)).await;
        assert!(
            !done.load(Ordering::SeqCst),
            "the verification gave up on a parent whose state is not known yet"
        );
        Executor::finalized(&verifier, blocks[0].clone(), Vec::new()).await;
        assert_eq!(
            verifying.await.expect("the verification ends"),
            Verdict::Valid,
            "block 3 verifies once block 1 is final"
        );
        assert_eq!(
            verifier.verify(fork, fork_child).await,
            Verdict::Refused,
            "a child of an abandoned fork is refused, without blaming its proposer"
        );
    });
}

/// After every validator restarted at once (a power loss), none knows the notarized blocks
/// between the finalized tip and a new block's parent, and no peer sends them: consensus holds
/// them, and offers them through `Executor::ancestor` for as long as the executor asks. Seeds
/// 3228, 3326, 3763, 3875 and 4388 of the `chaos` family stopped finalizing for good when this
/// was missing: every verification waited for a parent's state, and every proposal was skipped.
#[test]
fn an_executor_asks_for_the_unfinalized_ancestors_it_never_saw_and_then_builds_and_verifies() {
    deterministic::Runner::default().start(|context| async move {
        let proposer = open(context.child("proposer"), AppConfig::simulation("proposer")).await;
        let blocks = three_blocks(&proposer).await;

        // A validator that knows none of blocks 1 and 2 cannot build on block 2...
        let builder = open(context.child("builder"), AppConfig::simulation("builder")).await;
        let timestamp = testkit::GENESIS_TIME_MS + 40;
        assert!(builder.propose(blocks[1].clone(), timestamp, Vec::new()).await.is_none());
        // ...asks for block 2's parent, then for nothing below block 1 (its parent is final)...
        assert!(builder.ancestor(&blocks[1]), "block 2's parent is wanted");
        assert!(!builder.ancestor(&blocks[0]), "block 1's parent is the finalized genesis");
        // ...and then builds on block 2.
        let built = builder.propose(blocks[1].clone(), timestamp, Vec::new()).await;
        assert_eq!(built.expect("a proposal on block 2").header.height, 3);
        assert!(!builder.ancestor(&blocks[1]), "block 2's state is known now");

        // A verifier offered block 2 and then block 1 verifies block 3.
        let verifier = open(context.child("verifier"), AppConfig::simulation("verifier")).await;
        assert!(verifier.ancestor(&blocks[1]));
        assert!(!verifier.ancestor(&blocks[0]));
        assert_eq!(verifier.verify(blocks[1].clone(), blocks[2].clone()).await, Verdict::Valid);
        assert!(!verifier.ancestor(&blocks[2]), "block 3's state is known now");

        // An executor that keeps two unfinalized blocks asks nothing for a block three above its
        // tip (it is catching up: what it was offered would be evicted at once).
        let mut config = AppConfig::simulation("near");
        config.speculative_blocks_max = 2;
        let near = open(context.child("near"), config).await;
        assert!(!near.ancestor(&blocks[2]), "block 3 is beyond the two kept above the tip");
        assert!(near.ancestor(&blocks[1]), "block 2 is within them");
    });
}
