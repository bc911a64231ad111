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
