//! Byzantine validators (issue 7, item 4): f of 3f+1 validators misbehave, with Commonware's
//! simplex actors or as lying Hansa validators; the honest ones must stay safe and live, agree
//! on every state root, and block every peer whose misbehaviour they can prove.

use crate::ledger_simulation::{assert_all_acknowledged, batches, run_ledger};
use hansa_chain::sim::{self, Byzantine, Scenario, ToyExecutor};
use std::collections::BTreeMap;

/// A toy cluster of `validators` with `byzantine` among them, to `target` height.
fn toy(seed: u64, validators: usize, byzantine: &[(usize, Byzantine)], target: u64) -> sim::Outcome {
    let mut scenario = Scenario::new(seed, validators, target);
    scenario.byzantine = byzantine.iter().copied().collect::<BTreeMap<_, _>>();
    sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree)
}

/// The honest validators' delivered heights.
fn honest_heights(outcome: &sim::Outcome, byzantine: &[(usize, Byzantine)]) -> Vec<usize> {
    (0..outcome.finalized.len())
        .filter(|index| !byzantine.iter().any(|(bad, _)| bad == index))
        .map(|index| outcome.finalized[index].len())
        .collect()
}

/// Each of Commonware's actors in turn as one of four validators: the three honest ones
/// finalize, and block the actor exactly when its misbehaviour is provable.
#[test]
fn commonware_byzantine_actors_one_of_four() {
    for (seed, kind) in Byzantine::ALL.into_iter().filter(|kind| kind.engine()).enumerate() {
        let byzantine = [(1, kind)];
        let outcome = toy(100 + seed as u64, 4, &byzantine, 20);
        let heights = honest_heights(&outcome, &byzantine);
        eprintln!("{kind:?}: honest heights {heights:?}, blocked {:?}", outcome.blocked);
        assert!(heights.iter().all(|height| *height >= 20), "{kind:?}: {heights:?}");
        assert!(outcome.finalized[1].is_empty(), "{kind:?} runs no executor");
        if kind.provable() {
            let expected: Vec<(usize, usize)> = [0, 2, 3].into_iter().map(|by| (by, 1)).collect();
            assert_eq!(outcome.blocked.iter().copied().collect::<Vec<_>>(), expected, "{kind:?}");
        }
    }
}

/// Two Byzantine validators of seven (f = 2), of different kinds.
#[test]
fn two_byzantine_actors_of_seven() {
    for (seed, pair) in [
        [(0, Byzantine::Conflicter), (4, Byzantine::Nuller)],
        [(2, Byzantine::Equivocator), (5, Byzantine::Impersonator)],
        [(3, Byzantine::NullifyOnly), (6, Byzantine::Outdated)],
    ]
    .into_iter()
    .enumerate()
    {
        let outcome = toy(200 + seed as u64, 7, &pair, 15);
        let heights = honest_heights(&outcome, &pair);
        eprintln!("{pair:?}: honest heights {heights:?}, blocked {:?}", outcome.blocked);
        assert!(heights.iter().all(|height| *height >= 15), "{pair:?}: {heights:?}");
    }
}

/// Hansa's own liars, each as one of four validators running the real ledger under load: every
/// batch is still acknowledged, no lie is finalized (the harness checks each delivered digest
/// against the liars' proposals), and a forger of batches is blocked by every honest validator.
#[test]
fn lying_hansa_validators_one_of_four() {
    for (seed, kind) in Byzantine::ALL.into_iter().filter(|kind| !kind.engine()).enumerate() {
        let mut scenario = Scenario::new(300 + seed as u64, 4, 10);
        scenario.byzantine.insert(2, kind);
        let run = run_ledger(&format!("{kind:?}"), scenario, 8, 4);
        assert_all_acknowledged(&run, batches(8, 4));
        let (blocks, messages) = run.outcome.lies;
        eprintln!("{kind:?}: {blocks} lying blocks, {messages} messages, blocked {:?}", run.outcome.blocked);
        match kind {
            Byzantine::Forger | Byzantine::Flooder | Byzantine::Oversized | Byzantine::ChannelFlooder => {
                assert!(messages > 0, "{kind:?} sent nothing")
            }
            _ => assert!(blocks > 0, "{kind:?} proposed no lie"),
        }
        if kind.provable() {
            assert_eq!(run.outcome.blocked.iter().copied().collect::<Vec<_>>(), vec![(0, 2), (1, 2), (3, 2)]);
        } else {
            assert!(run.outcome.blocked.is_empty(), "{kind:?}: {:?}", run.outcome.blocked);
        }
    }
}

/// Commonware's twins with the real ledger under load: a twin pair as one of four validators,
/// and two pairs of seven. For the first 30 views each twin talks to its own half of the
/// validators, and the twins sign conflicting votes in some of those views, which honest
/// validators see and block the key for; the honest validators still finalize one chain (the
/// harness checks every height), agree on every state root and acknowledge every batch.
#[test]
fn twins_one_of_four_and_two_of_seven() {
    for (seed, validators, twins) in [(400, 4, vec![1]), (401, 7, vec![2, 5])] {
        let mut scenario = Scenario::new(seed, validators, 10);
        for index in &twins {
            scenario.byzantine.insert(*index, Byzantine::Twins { split_views: 30 });
        }
        scenario.time_limit = std::time::Duration::from_secs(240);
        let run = run_ledger(&format!("twins {twins:?} of {validators}"), scenario, 8, 4);
        assert_all_acknowledged(&run, batches(8, 4));
        let conflicts = &run.outcome.twin_conflicts;
        let blocked = &run.outcome.blocked;
        eprintln!(
            "twins {twins:?} of {validators}: conflicting votes in views {conflicts:?}, blocked {blocked:?}"
        );
        assert!(
            !conflicts.is_empty(),
            "the twins never signed conflicting votes that reached anyone (seed {seed})"
        );
        // Honest validators saw both twins' votes and proved the key equivocated.
        for twin in &twins {
            assert!(
                blocked.iter().any(|(by, peer)| peer == twin && !twins.contains(by)),
                "{twin} blocked by no one"
            );
        }
    }
}

/// Bounded memory for whatever a peer sends: the real ledger's cluster of four, with one
/// validator flooding (every batch list it hears sent back 32 times; every vote, certificate
/// and block sent 32 times) or sending blocks whose lengths and counts claim gigabytes, holds
/// at its peak less than a tenth more heap than the same cluster with that validator honest,
/// and, for the floods, less than half of what the honest validators received of the flood
/// (what keeping it would cost). Measured: 37.7 MB honest; 0.62 MB more with 3.2 MB of batch
/// lists received, 1.15 MB more with 6.6 MB of consensus messages, 0.79 MB more for the
/// oversized blocks. The heap is counted per thread (`allocation-counter`), and the simulated
/// cluster runs on this one; a run is deterministic, so are its counts.
#[test]
fn a_flooding_peer_costs_its_peers_bounded_memory() {
    let peak = |kind: Option<Byzantine>| {
        let mut scenario = Scenario::new(500, 4, 10);
        scenario.byzantine.extend(kind.map(|kind| (2, kind)));
        let name = format!("{kind:?}");
        let (mut messages, mut bytes) = (0, 0);
        let info = allocation_counter::measure(|| {
            let run = run_ledger(&name, scenario, 8, 4);
            assert_all_acknowledged(&run, batches(8, 4));
            (messages, bytes) = (run.outcome.lies.1, run.outcome.lie_bytes);
        });
        eprintln!(
            "{name}: {messages} messages of {bytes} bytes flooded, heap at its peak {} bytes",
            info.bytes_max
        );
        (info.bytes_max, bytes)
    };
    let (honest, _) = peak(None);
    for kind in [Byzantine::Flooder, Byzantine::ChannelFlooder, Byzantine::Oversized] {
        let (flooded, bytes) = peak(Some(kind));
        assert!(
            flooded < honest + honest / 10,
            "{kind:?}: {flooded} bytes at the peak, against {honest} honest"
        );
        // What the three honest validators received of the flood: kept, it would add as much.
        let received = 3 * bytes;
        if kind != Byzantine::Oversized {
            assert!(
                flooded.saturating_sub(honest) < received / 2,
                "{kind:?}: {flooded} bytes at the peak, against {honest} honest, with {received} bytes flooded"
            );
        }
    }
}
