//! Deterministic cluster simulations with the toy executor.

use hansa_chain::Executor as _;
use hansa_chain::sim::{self, Fault, LinkSpec, Scenario, SplitMix64, ToyExecutor};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

fn report(name: &str, outcome: &sim::Outcome) {
    let heights: Vec<usize> = outcome.finalized.iter().map(|delivered| delivered.len()).collect();
    eprintln!(
        "{name}: seed {} simulated {:?} delivered {heights:?}, {} certificates through descendants",
        outcome.seed, outcome.elapsed, outcome.linked_certificates
    );
}

/// Runs `scenario` with toy executors and returns, beside the outcome, every executor instance
/// started (restarts included), with its validator's index, in the order they started.
fn run_keeping_instances(scenario: Scenario) -> (sim::Outcome, Vec<(usize, ToyExecutor)>) {
    let instances: Arc<Mutex<Vec<(usize, ToyExecutor)>>> = Arc::default();
    let factory = {
        let instances = instances.clone();
        move |index, _| {
            let executor = ToyExecutor::new();
            instances.lock().expect("not poisoned").push((index, executor.clone()));
            async move { executor }
        }
    };
    let outcome = sim::run(scenario, factory, sim::toy_state_roots_agree);
    let instances = instances.lock().expect("not poisoned").clone();
    (outcome, instances)
}

#[test]
fn four_validators_all_online_reach_height_20() {
    let outcome =
        sim::run(Scenario::new(1, 4, 20), |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    report("all online", &outcome);
    assert!(outcome.common_height() >= 20);
}

#[test]
fn four_validators_with_one_crashed_throughout_still_finalize() {
    let mut scenario = Scenario::new(2, 4, 20);
    scenario.faults = vec![Fault::Crash { validator: 3, at: Duration::ZERO, down_for: None }];
    let outcome = sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    report("one crashed", &outcome);
    assert!(outcome.finalized[3].is_empty());
    assert!(outcome.finalized[..3].iter().all(|delivered| delivered.len() >= 20));
}

#[test]
fn crashed_validator_restarts_and_catches_up() {
    let seed = 3;
    let mut rng = SplitMix64::new(seed);
    let victim = rng.range(0, 4) as usize;
    let at = Duration::from_millis(rng.range(1_000, 3_000));
    let down_for = Duration::from_millis(rng.range(3_000, 6_000));
    let mut scenario = Scenario::new(seed, 4, 40);
    scenario.faults = vec![Fault::Crash { validator: victim, at, down_for: Some(down_for) }];

    // Every executor instance is kept, so the restarted one can be inspected.
    let (outcome, instances) = run_keeping_instances(scenario);
    report("crash and restart", &outcome);

    let victim_instances: Vec<&ToyExecutor> =
        instances.iter().filter(|(index, _)| *index == victim).map(|(_, executor)| executor).collect();
    assert_eq!(victim_instances.len(), 3, "initial, started, restarted");
    let restarted = victim_instances[2].finalized_digests();
    // The restarted executor was redelivered everything from height 1, identical to a peer's.
    assert!(restarted.len() >= 40, "restarted executor reached {}", restarted.len());
    assert_eq!(
        restarted.keys().copied().collect::<Vec<_>>(),
        (1..=restarted.len() as u64).collect::<Vec<_>>()
    );
    let peer = &outcome.finalized[(victim + 1) % 4];
    for (height, digest) in &restarted {
        assert_eq!(peer.get(height), Some(digest), "height {height}");
    }
}

/// Seven validators: lossy links, a minority partitioned away for 6 s, then 5 s of bad links.
pub(crate) fn partition_and_loss_scenario() -> Scenario {
    let mut scenario = Scenario::new(4, 7, 25);
    scenario.link = LinkSpec {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(20),
        success_rate: 0.95,
    };
    scenario.faults = vec![
        Fault::Partition {
            group: vec![0, 1, 2],
            at: Duration::from_secs(2),
            duration: Duration::from_secs(6),
        },
        Fault::Degrade {
            link: LinkSpec {
                latency: Duration::from_millis(150),
                jitter: Duration::from_millis(50),
                success_rate: 0.7,
            },
            at: Duration::from_secs(10),
            duration: Duration::from_secs(5),
        },
    ];
    scenario.time_limit = Duration::from_secs(180);
    scenario
}

#[test]
fn seven_validators_heal_after_partition_and_loss() {
    let outcome = sim::run(
        partition_and_loss_scenario(),
        |_, _| async { ToyExecutor::new() },
        sim::toy_state_roots_agree,
    );
    report("partition and loss", &outcome);
    assert!(outcome.common_height() >= 25);
}

#[test]
fn finality_resumes_promptly_after_a_partition_that_stopped_it_heals() {
    // Two of four validators cut off for 40 s: neither side has a quorum, nothing finalizes.
    // The harness checks that within `RECOVERY_AFTER_HEAL` of the heal every validator has
    // finalized a block above the highest one before it (in simulated time).
    let mut scenario = Scenario::new(12, 4, 12);
    scenario.faults = vec![Fault::Partition {
        group: vec![0, 1],
        at: Duration::from_secs(3),
        duration: Duration::from_secs(40),
    }];
    let stalled = Arc::new(Mutex::new(Vec::new()));
    let heights = stalled.clone();
    // The client samples the highest height during the partition, to show that it stalled.
    let outcome = sim::run_with_client(
        scenario,
        |_, _| async { ToyExecutor::new() },
        sim::toy_state_roots_agree,
        move |elapsed, executors: &[ToyExecutor], _| {
            if (Duration::from_secs(10)..Duration::from_secs(43)).contains(&elapsed) {
                let tip = executors.iter().map(|executor| executor.applied_height()).max().unwrap_or(0);
                heights.lock().expect("heights lock").push(tip);
            }
            true
        },
    );
    report("partition of half, healed", &outcome);
    let stalled = stalled.lock().expect("heights lock");
    assert!(stalled.len() > 20 && stalled.iter().all(|height| *height == stalled[0]), "{stalled:?}");
    assert!(outcome.common_height() >= 12);
    assert!(outcome.elapsed >= Duration::from_secs(43) + sim::RECOVERY_AFTER_HEAL);
}

#[test]
#[should_panic(expected = "simulation failed (seed 13): recovery: a partition healed at 43s")]
fn a_slow_recovery_after_a_partition_heals_fails_the_run() {
    // Stuck validators say again that they skip their view only every 30 s: the cluster
    // recovers from the partition, but late.
    let mut scenario = Scenario::new(13, 4, 12);
    scenario.tuning.timeout_retry = Duration::from_secs(30);
    scenario.tuning.skip_timeout = Duration::from_secs(60);
    scenario.faults = vec![Fault::Partition {
        group: vec![0, 1],
        at: Duration::from_secs(3),
        duration: Duration::from_secs(40),
    }];
    sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
}

#[test]
fn same_seed_replays_identically() {
    let scenario = || {
        let mut scenario = Scenario::new(5, 4, 10);
        scenario.link = LinkSpec {
            latency: Duration::from_millis(30),
            jitter: Duration::from_millis(15),
            success_rate: 0.9,
        };
        scenario.faults = vec![Fault::Crash {
            validator: 1,
            at: Duration::from_secs(1),
            down_for: Some(Duration::from_secs(2)),
        }];
        scenario
    };
    let first = sim::run(scenario(), |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    let second = sim::run(scenario(), |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    assert_eq!(first.auditor_state, second.auditor_state);
    assert_eq!(first.finalized, second.finalized);
}

#[test]
fn whole_cluster_crashes_and_restarts_from_storage() {
    let mut scenario = Scenario::new(8, 4, 30);
    scenario.faults = (0..4)
        .map(|validator| Fault::Crash {
            validator,
            at: Duration::from_millis(2_000 + 10 * validator as u64),
            down_for: Some(Duration::from_secs(1)),
        })
        .collect();
    let outcome = sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    report("whole cluster restart", &outcome);
    assert!(outcome.common_height() >= 30);
}

/// Seven validators on good links, but every block validator 0 sends misses validators 1, 2
/// and 3 the first time: by what its broadcast reaches, each of its proposals has four votes of
/// the five a quorum needs. Returns how many of the finalized blocks (as validator 4 saw them)
/// validator 0 proposed, and how many blocks there were.
fn blocks_of_a_leader_whose_first_sends_are_lost(rebroadcast_after: Duration) -> (usize, usize) {
    let mut scenario = Scenario::new(16, 7, 30);
    scenario.first_block_sends_missed = [(0, [1, 2, 3].into_iter().collect())].into_iter().collect();
    scenario.tuning.rebroadcast_after = rebroadcast_after;
    let (outcome, instances) = run_keeping_instances(scenario);
    report("first block sends lost", &outcome);
    assert!(outcome.common_height() >= 30);
    let leader = sim::validator_consensus_keys(7).swap_remove(0);
    let (_, observer) = instances.iter().rev().find(|(index, _)| *index == 4).expect("validator 4 ran");
    let leaders = observer.finalized_leaders();
    (leaders.values().filter(|key| **key == leader).count(), leaders.len())
}

#[test]
fn a_leader_sends_its_block_again_when_its_view_stalls() {
    // The second send, 1 s after the first, reaches the three that missed it before the view's
    // 2 s certification timeout: validator 0's blocks are finalized like anyone's.
    let (led, total) = blocks_of_a_leader_whose_first_sends_are_lost(Duration::from_secs(1));
    println!("rebroadcast after 1 s: validator 0 proposed {led} of {total} finalized blocks");
    assert!(led >= 2, "validator 0 proposed {led} of {total} finalized blocks");
    // Without it, every view validator 0 leads times out: the chain goes on without its blocks.
    let (led, total) = blocks_of_a_leader_whose_first_sends_are_lost(Duration::ZERO);
    println!("no rebroadcast: validator 0 proposed {led} of {total} finalized blocks");
    assert_eq!(led, 0, "validator 0 proposed {led} of {total} finalized blocks without a second send");
}

#[test]
fn the_whole_cluster_loses_power_twice_and_finalizes_on() {
    // Every validator stops at once, twice, and every write not yet synced is lost: the chain
    // goes on from what marshal had made durable, and no validator finalizes another block at
    // a height it had delivered before (the harness checks every delivery against all others).
    let mut scenario = Scenario::new(14, 4, 40);
    scenario.faults = vec![
        Fault::PowerLoss { at: Duration::from_secs(2), down_for: Duration::from_secs(1) },
        Fault::PowerLoss { at: Duration::from_millis(5_500), down_for: Duration::ZERO },
    ];
    let outcome = sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    report("power loss", &outcome);
    assert!(outcome.common_height() >= 40);
    println!("power loss: finality back after {:?}", outcome.power_recoveries);
    assert!(!outcome.power_recoveries.is_empty());
    assert!(outcome.power_recoveries.iter().all(|took| *took <= sim::RECOVERY_AFTER_POWER_LOSS));
}

#[test]
#[should_panic(expected = "simulation failed (seed 15): recovery: the power came back at 3s")]
fn a_slow_recovery_after_a_power_loss_fails_the_run() {
    // Leaders are waited for 40 s: after the power comes back, the view every validator resumes
    // in is not finished before the bound.
    let mut scenario = Scenario::new(15, 4, 40);
    scenario.tuning.leader_timeout = Duration::from_secs(40);
    scenario.tuning.certification_timeout = Duration::from_secs(45);
    scenario.tuning.timeout_retry = Duration::from_secs(40);
    scenario.tuning.skip_timeout = Duration::from_secs(60);
    // A leader's second send of its block would rescue the view its block was lost in.
    scenario.tuning.rebroadcast_after = Duration::ZERO;
    scenario.faults = vec![Fault::PowerLoss { at: Duration::from_secs(2), down_for: Duration::from_secs(1) }];
    sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
}

#[test]
fn validators_with_skewed_clocks_keep_finalizing() {
    // Clocks 8 s ahead and 1.5 s behind (within the 10 s a timestamp may lead a clock), and one
    // 12 s ahead, whose blocks the others take only once their clocks are 10 s short of them.
    let mut scenario = Scenario::new(15, 4, 20);
    scenario.clock_skew_ms = [(0, 8_000), (1, -1_500), (2, 12_000)].into_iter().collect();
    scenario.time_limit = Duration::from_secs(300);
    let outcome = sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    report("clock skew", &outcome);
    assert!(outcome.common_height() >= 20);
}

#[test]
fn messages_duplicated_and_reordered_change_nothing() {
    let mut scenario = Scenario::new(16, 4, 30);
    scenario.disorder = sim::Disorder { duplicate: 0.2, reorder: 0.2 };
    let outcome = sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    report("duplicates and reordering", &outcome);
    assert!(outcome.common_height() >= 30);
    assert!(outcome.blocked.is_empty(), "an honest validator was blocked: {:?}", outcome.blocked);
}

#[test]
#[should_panic(expected = "simulation failed (seed 9): liveness")]
fn a_failing_run_names_its_seed() {
    // Two of four validators down for good: no quorum, so the target is never reached.
    let mut scenario = Scenario::new(9, 4, 5);
    scenario.faults = vec![
        Fault::Crash { validator: 0, at: Duration::ZERO, down_for: None },
        Fault::Crash { validator: 1, at: Duration::ZERO, down_for: None },
    ];
    scenario.time_limit = Duration::from_secs(5);
    sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
}

/// A scenario whose faults are all drawn from the seed: a crash and restart, a partition of a
/// minority, and a stretch of lossy links.
pub(crate) fn random_scenario(seed: u64) -> Scenario {
    let mut rng = SplitMix64::new(seed);
    let validators = if rng.range(0, 2) == 0 { 4 } else { 7 };
    let mut scenario = Scenario::new(seed, validators, 30);
    let minority = (validators - 1) / 3;
    scenario.link = LinkSpec {
        latency: Duration::from_millis(rng.range(10, 80)),
        jitter: Duration::from_millis(rng.range(0, 30)),
        success_rate: 1.0 - rng.range(0, 10) as f64 / 100.0,
    };
    let victim = rng.range(0, validators as u64) as usize;
    let mut group: Vec<usize> = Vec::new();
    while group.len() < minority {
        let member = rng.range(0, validators as u64) as usize;
        if !group.contains(&member) {
            group.push(member);
        }
    }
    scenario.faults = vec![
        Fault::Crash {
            validator: victim,
            at: Duration::from_millis(rng.range(500, 4_000)),
            down_for: Some(Duration::from_millis(rng.range(500, 5_000))),
        },
        Fault::Partition {
            group,
            at: Duration::from_millis(rng.range(500, 6_000)),
            duration: Duration::from_millis(rng.range(500, 5_000)),
        },
        Fault::Degrade {
            link: LinkSpec {
                latency: Duration::from_millis(rng.range(50, 300)),
                jitter: Duration::from_millis(rng.range(0, 100)),
                success_rate: 1.0 - rng.range(10, 40) as f64 / 100.0,
            },
            at: Duration::from_millis(rng.range(500, 6_000)),
            duration: Duration::from_millis(rng.range(500, 5_000)),
        },
    ];
    scenario.time_limit = Duration::from_secs(240);
    scenario
}

/// Seeds 100.. with random faults; `HANSA_SIM_SEEDS=n` widens the sweep to n seeds.
#[test]
fn random_faults_keep_safety_and_liveness() {
    let seeds: u64 = std::env::var("HANSA_SIM_SEEDS").ok().and_then(|text| text.parse().ok()).unwrap_or(4);
    for seed in 100..100 + seeds {
        let outcome =
            sim::run(random_scenario(seed), |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
        report("random faults", &outcome);
        assert!(outcome.common_height() >= 30);
    }
}

#[test]
fn validators_keeping_a_retention_window_prune_and_keep_finalizing() {
    // Prunable archives (64 blocks kept, pruned every 64 delivered blocks, in sections of 64):
    // several prunes happen on every validator and the chain keeps finalizing. (The toy
    // executor keeps nothing across a restart, so restarts with pruning are exercised by the
    // node tests, whose executor resumes from its checkpoint.)
    let mut scenario = Scenario::new(9, 4, 400);
    scenario.tuning.retention_blocks = Some(64);
    let outcome = sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    report("retention window", &outcome);
    assert!(outcome.common_height() >= 400);
}

/// The toy executor, except that validator `victim`'s panics when height `at` is finalized.
#[derive(Clone, Default)]
struct PanicsAt {
    inner: ToyExecutor,
    victim: bool,
    at: u64,
}

impl hansa_chain::Executor for PanicsAt {
    fn genesis_block(&self) -> hansa_types::Block {
        self.inner.genesis_block()
    }

    async fn propose(
        &self,
        parent: hansa_types::Block,
        timestamp_ms: u64,
        context: Vec<u8>,
    ) -> Option<hansa_types::Block> {
        self.inner.propose(parent, timestamp_ms, context).await
    }

    async fn verify(&self, parent: hansa_types::Block, block: hansa_types::Block) -> hansa_chain::Verdict {
        self.inner.verify(parent, block).await
    }

    fn ancestor(&self, block: &hansa_types::Block) -> bool {
        self.inner.ancestor(block)
    }

    async fn finalized(&self, block: hansa_types::Block, certificate: Vec<u8>) {
        assert!(!(self.victim && block.height() == self.at), "a bug at height {}", self.at);
        self.inner.finalized(block, certificate).await;
    }

    fn applied_height(&self) -> u64 {
        self.inner.applied_height()
    }
}

/// Panics are caught in a scenario whose disks fail (a validator stops on a failed read, write
/// or sync, and the harness starts it again): one that is not a validator stopping on its
/// failed disk still fails the run, naming it.
#[test]
fn a_panic_that_no_disk_fault_explains_fails_the_run() {
    let mut scenario = Scenario::new(11, 4, 10);
    scenario.faults = vec![Fault::Disk {
        validator: 2,
        at: Duration::from_millis(500),
        duration: Duration::from_secs(2),
        fault: sim::DiskFault { parts: sim::DiskParts::All, read: 0.5, write: 0.5, sync: 0.5 },
    }];
    let failed = std::panic::catch_unwind(|| {
        sim::run(
            scenario,
            |index, _| async move { PanicsAt { inner: ToyExecutor::new(), victim: index == 1, at: 3 } },
            |_: &[PanicsAt]| Ok(()),
        )
    })
    .expect_err("a validator panicked for no disk fault");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("validator 1 stopped") && message.contains("a bug at height 3"), "{message}");
}
