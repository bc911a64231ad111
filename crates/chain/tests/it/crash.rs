//! A validator's application killed at any point while it finalizes a block or writes a
//! checkpoint, on the deterministic runtime, whose crash loses every write not yet synced: it
//! reopens at its last checkpoint, replays at most one checkpoint interval of finalized blocks
//! (as marshal redelivers them), and reaches the same state root at every height as a run that
//! never crashed, with every finalized batch's outcome in its index.

use commonware_runtime::{Runner as _, Spawner, Supervisor as _, deterministic};
use hansa_chain::app::{App, AppConfig, Index, OpenError};
use hansa_chain::sim::SplitMix64;
use hansa_chain::{Executor, Verdict};
use hansa_ledger::testkit::{self, BANK, CNY, Harness, ISSUANCE, MERCHANT, PLATFORM, account, transfer};
use hansa_state::LogIndex;
use hansa_types::{AccountFlags, Block, Hash, Operation, ResultCode, SignedBatch, TransferFlags};
use std::collections::BTreeMap;

/// Finalized blocks in each run.
const BLOCKS: usize = 14;
/// Limited accounts 1..=ACCOUNTS: the platform owns the first half, the merchant the rest.
const ACCOUNTS: u128 = 20;

/// The batches of each block: accounts, funding, then random transfers (some too large to
/// succeed, some holds that a later block posts or voids).
fn workload() -> Vec<Vec<SignedBatch>> {
    let mut harness = Harness::new();
    let mut rng = SplitMix64::new(7);
    let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    let owner = |id: u128| if id <= ACCOUNTS / 2 { PLATFORM } else { MERCHANT };
    let mut blocks = vec![vec![
        harness.batch(BANK, vec![account(ISSUANCE, CNY, AccountFlags::ISSUANCE)]),
        harness.batch(PLATFORM, (1..=ACCOUNTS / 2).map(|id| account(id, CNY, limited)).collect()),
        harness.batch(MERCHANT, (ACCOUNTS / 2 + 1..=ACCOUNTS).map(|id| account(id, CNY, limited)).collect()),
    ]];
    blocks.push(vec![
        harness.batch(BANK, (1..=ACCOUNTS).map(|id| transfer(1_000 + id, ISSUANCE, id, 1_000_000)).collect()),
    ]);
    let mut next_id = 10_000u128;
    let mut holds: Vec<(u128, u128)> = Vec::new();
    while blocks.len() < BLOCKS {
        let mut batches = Vec::new();
        for _ in 0..1 + rng.range(0, 3) {
            let debit = 1 + u128::from(rng.range(0, ACCOUNTS as u64));
            let org = owner(debit);
            let mut operations: Vec<Operation> = Vec::new();
            for _ in 0..1 + rng.range(0, 6) {
                next_id += 1;
                let credit = 1 + (debit + u128::from(rng.range(0, ACCOUNTS as u64 - 1))) % ACCOUNTS;
                let amount = if rng.range(0, 8) == 0 { 1 << 60 } else { u128::from(rng.range(1, 500)) };
                let mut operation = transfer(next_id, debit, credit, amount);
                if rng.range(0, 5) == 0 {
                    operation = testkit::with_flags(operation, TransferFlags::PENDING);
                    holds.push((next_id, debit));
                }
                operations.push(operation);
            }
            batches.push(harness.batch(org, operations));
        }
        if let Some((hold, debit)) = holds.pop()
            && rng.range(0, 2) == 0
        {
            next_id += 1;
            let flag = if rng.range(0, 2) == 0 {
                TransferFlags::POST_PENDING_TRANSFER
            } else {
                TransferFlags::VOID_PENDING_TRANSFER
            };
            batches.push(harness.batch(owner(debit), vec![testkit::resolve(next_id, hold, 0, flag)]));
        }
        blocks.push(batches);
    }
    blocks
}

type DeterministicApp = App<deterministic::Context>;

/// Opens the application over these indexes, its store's partitions named after `name`.
async fn try_open<E: commonware_storage::Context + Spawner>(
    context: E,
    index: &Index,
    log_index: &LogIndex,
    name: &str,
) -> Result<App<E>, OpenError> {
    App::open(context, testkit::consortium(), index.clone(), log_index.clone(), AppConfig::simulation(name))
        .await
}

async fn open(context: deterministic::Context, index: &Index, log_index: &LogIndex) -> DeterministicApp {
    try_open(context, index, log_index, "crash").await.expect("the app opens")
}

/// What a validator that never crashes finalizes: the blocks, the state root after each, and
/// each batch's results.
type Reference = (Vec<Block>, Vec<Hash>, BTreeMap<Hash, Vec<(u128, ResultCode)>>);

fn reference(workload: &[Vec<SignedBatch>]) -> Reference {
    reference_shifted(workload, 0)
}

/// [`reference`] with every block's timestamp `shift_ms` later (other blocks, other states).
fn reference_shifted(workload: &[Vec<SignedBatch>], shift_ms: u64) -> Reference {
    let workload = workload.to_vec();
    deterministic::Runner::seeded(1).start(|context| async move {
        let (index, log_index) =
            (Index::in_memory().expect("index"), LogIndex::in_memory().expect("log index"));
        let app = open(context.child("app"), &index, &log_index).await;
        let mut parent = app.genesis_block();
        let mut blocks = Vec::new();
        let mut roots = Vec::new();
        for (offset, batches) in workload.into_iter().enumerate() {
            let count = batches.len();
            assert!(app.submit_many(batches).iter().all(Result::is_ok), "the batches are admitted");
            let timestamp = testkit::GENESIS_TIME_MS + 10 * (offset as u64 + 1) + shift_ms;
            let block = app.propose(parent.clone(), timestamp, Vec::new()).await.expect("a proposal");
            assert_eq!(block.batches.len(), count, "every batch is in its block");
            assert_eq!(app.verify(parent, block.clone()).await, Verdict::Valid, "the block verifies");
            Executor::finalized(&app, block.clone(), Vec::new()).await;
            roots.push(app.finalized().state.root());
            parent = block.clone();
            blocks.push(block);
        }
        let mut outcomes = BTreeMap::new();
        for signed in blocks.iter().flat_map(|block| block.batches.iter()) {
            let outcome = app.index().batch(&signed.digest()).expect("index").expect("final");
            outcomes.insert(signed.digest(), outcome.results);
        }
        (blocks, roots, outcomes)
    })
}

#[test]
fn a_crash_at_any_point_of_finalization_or_a_checkpoint_loses_nothing_final() {
    let workload = workload();
    let (blocks, roots, outcomes) = reference(&workload);
    assert!(
        outcomes.values().flatten().any(|(_, code)| *code != ResultCode::Ok),
        "the workload has failing operations too"
    );
    let interval = AppConfig::simulation("crash").checkpoint_interval;
    let mut crashes_mid_block = 0;
    for seed in 0..24u64 {
        // The block being finalized when the crash comes (checkpoint heights included), and how
        // far its finalization gets: the crash comes after that many scheduler turns.
        let crash_height = 3 + (seed as usize * 5) % (BLOCKS - 3);
        let turns = (seed * 7) % 40;
        let (index, log_index) =
            (Index::in_memory().expect("index"), LogIndex::in_memory().expect("log index"));
        let before = blocks[..crash_height].to_vec();
        let (reached, checkpoint) = {
            let (index, log_index) = (index.clone(), log_index.clone());
            deterministic::Runner::seeded(seed).start_and_recover(|context| async move {
                let app = open(context.child("app"), &index, &log_index).await;
                for block in &before[..crash_height - 1] {
                    Executor::finalized(&app, block.clone(), Vec::new()).await;
                }
                let last = before[crash_height - 1].clone();
                let finalizing = {
                    let app = app.clone();
                    context
                        .child("finalizing")
                        .spawn(move |_| async move { Executor::finalized(&app, last, Vec::new()).await })
                };
                for _ in 0..turns {
                    commonware_runtime::reschedule().await;
                }
                let reached = app.finalized().height;
                drop(finalizing); // The crash: every task and every unsynced write is lost.
                reached
            })
        };
        if reached < crash_height as u64 {
            crashes_mid_block += 1;
        }
        let (blocks, roots, outcomes) = (blocks.clone(), roots.clone(), outcomes.clone());
        deterministic::Runner::from(checkpoint).start(|context| async move {
            let app = open(context.child("reopened"), &index, &log_index).await;
            let resumed = app.finalized().height;
            assert!(resumed <= reached, "seed {seed}: resumed at {resumed}, past the {reached} it had applied");
            assert!(
                resumed + interval >= crash_height as u64 - 1,
                "seed {seed}: resumed at {resumed}, more than one checkpoint interval ({interval}) before {crash_height}"
            );
            if resumed > 0 {
                assert_eq!(app.finalized().state.root(), roots[resumed as usize - 1], "seed {seed}");
            }
            // Marshal redelivers every finalized block after the applied height.
            for (offset, block) in blocks.iter().enumerate().skip(resumed as usize) {
                Executor::finalized(&app, block.clone(), Vec::new()).await;
                assert_eq!(app.finalized().state.root(), roots[offset], "seed {seed}: root at {}", offset + 1);
            }
            // Every batch of every block is final with the outcome the reference run gave it.
            for block in &blocks {
                for signed in &block.batches {
                    let outcome = app.index().batch(&signed.digest()).expect("index").expect("a final batch");
                    assert_eq!(outcome.height, block.height(), "seed {seed}");
                    assert_eq!(outcome.results, outcomes[&signed.digest()], "seed {seed}");
                }
            }
            app.stopped().await;
        });
    }
    assert!(crashes_mid_block > 0, "some crashes came before the block's finalization completed");
}

#[test]
fn storage_faults_stop_the_application_and_what_reopens_agrees_with_a_run_without_them() {
    // Reads, writes and syncs that fail, and at the crash that follows, writes not yet synced
    // kept in part (torn: a prefix of their bytes, or any subset). The application either
    // finalizes a block or says what failed and stops there; reopened without faults, it
    // resumes at a height it had reached, and from there every state root and every outcome is
    // the reference run's. Opening on a storage too damaged to open is an error, not a state.
    use commonware_runtime::deterministic::{FaultConfig, PartialWriteMode, WriteConfig};
    use commonware_utils::probability::Probability;
    use futures::FutureExt as _;
    use std::panic::AssertUnwindSafe;

    let workload = workload();
    let (blocks, roots, outcomes) = reference(&workload);
    let (mut stopped, mut refused_to_open, mut recovered) = (Vec::new(), 0, 0);
    for seed in 0..24u64 {
        let rate = |per_mille: u64| Probability::new(per_mille, 1_000).expect("a probability");
        let faults = FaultConfig {
            read_rate: Some(rate(5 + seed % 4 * 5)),
            write_rate: Some(WriteConfig {
                failure_rate: rate(5 + seed % 3 * 5),
                retention_rate: rate(500),
                mode: if seed % 2 == 0 { PartialWriteMode::Prefix } else { PartialWriteMode::Subset },
            }),
            sync_rate: Some(rate(5 + seed % 5 * 5)),
            ..FaultConfig::default()
        };
        let (index, log_index) =
            (Index::in_memory().expect("index"), LogIndex::in_memory().expect("log index"));
        let (reached, checkpoint) = {
            let (index, log_index, blocks) = (index.clone(), log_index.clone(), blocks.clone());
            deterministic::Runner::seeded(seed).start_and_recover(|context| async move {
                *context.storage_fault_config().write() = faults;
                let opened = try_open(context.child("app"), &index, &log_index, "crash").await;
                let app = match opened {
                    Ok(app) => app,
                    Err(error) => return (0, Some(format!("opening: {error}"))),
                };
                for block in &blocks {
                    let finalizing = AssertUnwindSafe(Executor::finalized(&app, block.clone(), Vec::new()));
                    if let Err(panic) = finalizing.catch_unwind().await {
                        return (app.finalized().height, Some(hansa_chain::sim::panic_message(&*panic)));
                    }
                }
                (app.finalized().height, None)
            })
        };
        let (reached, said) = reached;
        if let Some(said) = said {
            assert!(
                said.contains("storage")
                    || said.contains("applying finalized block")
                    || said.contains("opening"),
                "seed {seed}: the stop does not say what failed: {said}"
            );
            stopped.push(said);
        }
        let (blocks, roots, outcomes) = (blocks.clone(), roots.clone(), outcomes.clone());
        let reopened = deterministic::Runner::from(checkpoint).start(|context| async move {
            *context.storage_fault_config().write() = FaultConfig::default();
            let opened = try_open(context.child("reopened"), &index, &log_index, "crash").await;
            let Ok(app) = opened else { return false };
            let resumed = app.finalized().height;
            assert!(
                resumed <= reached + 1,
                "seed {seed}: resumed at {resumed}, more than a block past the {reached} it reached"
            );
            if resumed > 0 {
                assert_eq!(app.finalized().state.root(), roots[resumed as usize - 1], "seed {seed}");
            }
            for (offset, block) in blocks.iter().enumerate().skip(resumed as usize) {
                Executor::finalized(&app, block.clone(), Vec::new()).await;
                assert_eq!(
                    app.finalized().state.root(),
                    roots[offset],
                    "seed {seed}: root at {}",
                    offset + 1
                );
            }
            for block in &blocks {
                for signed in &block.batches {
                    let outcome = app.index().batch(&signed.digest()).expect("index").expect("a final batch");
                    assert_eq!(outcome.results, outcomes[&signed.digest()], "seed {seed}");
                }
            }
            app.stopped().await;
            true
        });
        if reopened {
            recovered += 1;
        } else {
            refused_to_open += 1;
        }
    }
    eprintln!(
        "storage faults: {} of 24 runs stopped on a fault, {recovered} reopened and agreed, {refused_to_open} refused to open",
        stopped.len()
    );
    assert!(!stopped.is_empty(), "no fault was met: the rates are too low to test anything");
    assert!(recovered > 0, "no run reopened");
    // What reopened at a height it had not reached had made that block durable before the
    // fault stopped it (its checkpoint), which the comparison with the reference covers.
}

#[test]
fn a_verification_that_cannot_read_its_storage_stops_the_validator() {
    use commonware_utils::probability::Probability;
    use futures::FutureExt as _;
    use std::panic::AssertUnwindSafe;

    let blocks = reference(&workload()).0;
    let said = deterministic::Runner::seeded(1).start(|context| async move {
        let (index, log_index) =
            (Index::in_memory().expect("index"), LogIndex::in_memory().expect("log index"));
        // A page cache of one page: the accounts the block touches are read from the disk.
        let mut config = AppConfig::simulation("crash");
        config.store.page_cache_pages_max = std::num::NonZeroUsize::MIN;
        let app = App::open(context.child("app"), testkit::consortium(), index, log_index, config)
            .await
            .expect("the app opens");
        for block in &blocks[..12] {
            Executor::finalized(&app, block.clone(), Vec::new()).await;
        }
        // Every read fails from now on: the next block cannot be executed here.
        context.storage_fault_config().write().read_rate = Some(Probability::new(1, 1).expect("certain"));
        let verifying = AssertUnwindSafe(Executor::verify(&app, blocks[11].clone(), blocks[12].clone()));
        match verifying.catch_unwind().await {
            Ok(verdict) => panic!("a verification that could not read its storage answered {verdict:?}"),
            Err(panic) => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
        }
    });
    assert!(said.contains("storage failed while executing block 13") && said.contains("stopping"), "{said}");
}

/// Every file of a stopped validator's store, one byte changed at a time (corruption at rest:
/// a disk that returns other bytes than it was given, with no error). Reopened, the validator
/// refuses to open, or stops saying what failed, or resumes at a checkpoint whose root and
/// every account are the reference run's and from there finalizes exactly what it did: never
/// a state that differs without saying so.
#[test]
fn a_changed_byte_anywhere_in_the_store_is_refused_or_stops_or_changes_nothing() {
    use commonware_runtime::tokio;
    use futures::FutureExt as _;
    use std::panic::AssertUnwindSafe;
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a store folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                files(&path, found);
            } else if std::fs::metadata(&path).expect("metadata").len() > 0 {
                found.push(path);
            }
        }
    }
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("a copy");
        for entry in std::fs::read_dir(from).expect("a folder") {
            let path = entry.expect("an entry").path();
            let target = to.join(path.file_name().expect("a name"));
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).expect("a copied file");
            }
        }
    }
    enum Trial {
        Agreed,
        Refused(String),
        Stopped(String),
        Diverged(String),
    }
    const HEADER_PAGE: u64 = 4096;
    let ids: Vec<u128> = (1..=ACCOUNTS).chain([ISSUANCE]).collect();
    let (blocks, roots, outcomes) = reference(&workload());
    let base = std::env::temp_dir().join(format!("hansa-rot-{}", std::process::id()));
    let pristine = base.join("pristine");
    // A validator's data folder: the store's partitions, and its two indexes (redb), as
    // `hansa node` lays them out; each trial changes a copy of all of it.
    let indexes = |folder: &Path| -> Result<(Index, LogIndex), String> {
        let index =
            Index::open(&folder.join("index.redb"), 1 << 20).map_err(|error| format!("index: {error}"))?;
        let log_index = LogIndex::open(&folder.join("log-index.redb"), 1 << 20)
            .map_err(|error| format!("log index: {error}"))?;
        Ok((index, log_index))
    };
    std::fs::create_dir_all(&pristine).expect("a data folder");
    let accounts = {
        let (index, log_index) = indexes(&pristine).expect("new indexes open");
        let (blocks, ids) = (blocks.clone(), ids.clone());
        tokio::Runner::new(tokio::Config::new().with_storage_directory(pristine.join("store"))).start(
            |context| async move {
                let app =
                    try_open(context.child("app"), &index, &log_index, "rot").await.expect("the app opens");
                for block in &blocks {
                    Executor::finalized(&app, block.clone(), Vec::new()).await;
                }
                let mut accounts = Vec::new();
                for id in &ids {
                    accounts.push(app.account(*id).await.expect("a read"));
                }
                app.stopped().await;
                accounts
            },
        )
    };
    let mut found = Vec::new();
    files(&pristine, &mut found);
    found.sort();
    let (mut refused, mut stopped, mut diverged, mut agreed) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut rng = SplitMix64::new(11);
    for (number, file) in found.iter().enumerate() {
        let length = std::fs::metadata(file).expect("metadata").len();
        // A blob begins with a page of header (the runtime's layout), its data after it.
        let mut offsets = vec![rng.range(0, length.min(HEADER_PAGE))];
        if length > HEADER_PAGE {
            offsets.extend((0..6).map(|_| rng.range(HEADER_PAGE, length)));
        }
        for (attempt, offset) in offsets.into_iter().enumerate() {
            let trial = base.join(format!("trial-{number}-{attempt}"));
            copy(&pristine, &trial);
            let target = trial.join(file.strip_prefix(&pristine).expect("inside the store"));
            let mut bytes = std::fs::read(&target).expect("the file");
            bytes[offset as usize] ^= 1 << rng.range(0, 8);
            std::fs::write(&target, &bytes).expect("the changed file");
            let what = format!("{} at {offset} of {length}", file.strip_prefix(&pristine).unwrap().display());
            let (blocks, roots, outcomes, ids, accounts) =
                (blocks.clone(), roots.clone(), outcomes.clone(), ids.clone(), accounts.clone());
            let opened = AssertUnwindSafe(|| indexes(&trial));
            let opened = std::panic::catch_unwind(opened)
                .unwrap_or_else(|panic| Err(hansa_chain::sim::panic_message(&*panic)));
            let result = tokio::Runner::new(tokio::Config::new().with_storage_directory(trial.join("store")))
                .start(|context| async move {
                    let run = AssertUnwindSafe(async {
                        let (index, log_index) = match opened {
                            Ok(indexes) => indexes,
                            Err(error) => return Trial::Refused(error),
                        };
                        let app = match try_open(context.child("app"), &index, &log_index, "rot").await {
                            Ok(app) => app,
                            Err(error) => return Trial::Refused(error.to_string()),
                        };
                        let resumed = app.finalized().height;
                        if resumed > 0 && app.finalized().state.root() != roots[resumed as usize - 1] {
                            return Trial::Diverged(format!("resumed at {resumed} with another root"));
                        }
                        for (offset, block) in blocks.iter().enumerate().skip(resumed as usize) {
                            Executor::finalized(&app, block.clone(), Vec::new()).await;
                            if app.finalized().state.root() != roots[offset] {
                                return Trial::Diverged(format!("another root at {}", offset + 1));
                            }
                        }
                        for (id, expected) in ids.iter().zip(&accounts) {
                            match app.account(*id).await {
                                Ok(account) if &account == expected => {}
                                Ok(account) => {
                                    return Trial::Diverged(format!("account {id} reads {account:?}"));
                                }
                                Err(error) => {
                                    return Trial::Stopped(format!("reading account {id}: {error}"));
                                }
                            }
                        }
                        for signed in blocks.iter().flat_map(|block| block.batches.iter()) {
                            let outcome = match app.index().batch(&signed.digest()) {
                                Ok(Some(outcome)) => outcome,
                                Ok(None) => return Trial::Diverged("a final batch is missing".into()),
                                Err(error) => return Trial::Stopped(format!("reading the index: {error}")),
                            };
                            if outcome.results != outcomes[&signed.digest()] {
                                return Trial::Diverged(format!("another outcome at {}", outcome.height));
                            }
                        }
                        app.stopped().await;
                        Trial::Agreed
                    });
                    run.catch_unwind()
                        .await
                        .unwrap_or_else(|panic| Trial::Stopped(hansa_chain::sim::panic_message(&*panic)))
                });
            let _ = std::fs::remove_dir_all(&trial);
            match result {
                Trial::Agreed => {
                    eprintln!("{what}: changed nothing");
                    agreed += 1
                }
                Trial::Refused(error) => refused.push(format!("{what}: {error}")),
                Trial::Stopped(error) => stopped.push(format!("{what}: {error}")),
                Trial::Diverged(how) => diverged.push(format!("{what}: {how}")),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    for line in refused.iter().chain(&stopped) {
        eprintln!("{line}");
    }
    eprintln!(
        "a changed byte in {} files: {} refused, {} stopped, {agreed} changed nothing",
        found.len(),
        refused.len(),
        stopped.len()
    );
    assert!(diverged.is_empty(), "a changed byte went unnoticed and changed the state: {diverged:#?}");
    assert!(!refused.is_empty() || !stopped.is_empty(), "no changed byte was noticed");
}

/// A state whose root is not the one the index's finalized block at its height commits to
/// (here: the state of one chain beside the index of another) is refused at opening, never
/// served or built on.
#[test]
fn a_state_that_disagrees_with_its_finalized_block_refuses_to_open() {
    let workload = workload();
    let (blocks, _, _) = reference(&workload);
    // The same batches a few milliseconds later: blocks whose states differ.
    let later = reference_shifted(&workload[..6], 3).0;
    deterministic::Runner::seeded(3).start(|context| async move {
        let log_index = LogIndex::in_memory().expect("log index");
        let (ours, theirs) = (Index::in_memory().expect("index"), Index::in_memory().expect("index"));
        let mine = open(context.child("mine"), &ours, &log_index).await;
        for block in &blocks[..6] {
            Executor::finalized(&mine, block.clone(), Vec::new()).await;
        }
        mine.stopped().await;
        let their_log_index = LogIndex::in_memory().expect("log index");
        let other = try_open(context.child("other"), &theirs, &their_log_index, "other")
            .await
            .expect("the app opens");
        for block in &later {
            Executor::finalized(&other, block.clone(), Vec::new()).await;
        }
        assert_ne!(later[3].header.state_root, blocks[3].header.state_root, "the chains' states differ");
        other.stopped().await;
        let opened = try_open(context.child("mixed"), &theirs, &log_index, "crash").await;
        match opened {
            Err(error @ OpenError::Corrupt { height, found, expected }) => {
                assert_eq!(found, blocks[height as usize - 1].header.state_root);
                assert_eq!(expected, later[height as usize - 1].header.state_root);
                assert!(error.to_string().contains("state or index is corrupt"), "{error}");
            }
            Err(error) => panic!("refused for another reason: {error}"),
            Ok(app) => panic!("opened at {} on another chain's index", app.finalized().height),
        }
    });
}

/// An index that reaches past the state's checkpoint but no longer holds the finalized header
/// at it (pruned below it) is refused at opening with what is missing, not reported as an
/// index behind the state.
#[test]
fn an_index_without_the_checkpoint_header_refuses_to_open() {
    let workload = workload();
    let (blocks, _, _) = reference(&workload);
    deterministic::Runner::seeded(4).start(|context| async move {
        let (index, log_index) =
            (Index::in_memory().expect("index"), LogIndex::in_memory().expect("log index"));
        let app = open(context.child("first"), &index, &log_index).await;
        for block in &blocks[..6] {
            Executor::finalized(&app, block.clone(), Vec::new()).await;
        }
        app.stopped().await;
        let reopened = open(context.child("second"), &index, &log_index).await;
        let checkpoint = reopened.finalized().height;
        reopened.stopped().await;
        assert!((1..6).contains(&checkpoint), "the store reopens at a checkpoint below 6, not {checkpoint}");
        index.prune(checkpoint + 1).expect("prunes");
        match try_open(context.child("third"), &index, &log_index, "crash").await {
            Err(error @ OpenError::MissingHeader { height, index }) => {
                assert_eq!((height, index), (checkpoint, 6));
                assert!(error.to_string().contains("no header at the state's checkpoint"), "{error}");
            }
            Err(error) => panic!("refused for another reason: {error}"),
            Ok(app) => panic!("opened at {} without its checkpoint's header", app.finalized().height),
        }
    });
}
