//! Property tests: the ledger against a plain `BTreeMap` model of balances and holds.

use hansa_ledger::testkit::*;
use hansa_types::{AccountFlags, Amount, NewTransfer, Operation, OrgId, ResultCode, TransferFlags};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
enum Step {
    Move { id: u128, debit: u128, credit: u128, amount: u128, pending: bool, foreign: bool },
    Post { id: u128, pending_id: u128, amount: u128 },
    Void { id: u128, pending_id: u128 },
    Wait { ms: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1..60u128, 1..=4u128, 1..=4u128, 0..400u128, any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(id, debit, credit, amount, pending, foreign)| Step::Move { id, debit, credit, amount, pending, foreign }),
        2 => (1..60u128, 1..60u128, prop_oneof![0..400u128, Just(u128::MAX)])
            .prop_map(|(id, pending_id, amount)| Step::Post { id, pending_id, amount }),
        1 => (1..60u128, 1..60u128).prop_map(|(id, pending_id)| Step::Void { id, pending_id }),
        1 => (1..3_000u64).prop_map(|ms| Step::Wait { ms }),
    ]
}

#[derive(Debug, Clone, Copy, Default)]
struct Balance {
    debits_pending: u128,
    debits_posted: u128,
    credits_pending: u128,
    credits_posted: u128,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    Plain,
    Pending,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    debit: u128,
    credit: u128,
    amount: u128,
    status: Status,
}

struct Model {
    balances: BTreeMap<u128, Balance>,
    transfers: BTreeMap<u128, Record>,
    /// Ids whose attempt failed with a transient error (a limit exceeded, a hold not found):
    /// refused for good.
    failed: BTreeSet<u128>,
}

fn owner(account: u128) -> OrgId {
    if account <= 2 { PLATFORM } else { MERCHANT }
}

impl Model {
    fn new(funding: u128) -> Model {
        let balances =
            (1..=4).map(|id| (id, Balance { credits_posted: funding, ..Default::default() })).collect();
        Model { balances, transfers: BTreeMap::new(), failed: BTreeSet::new() }
    }

    /// Whether the step applies (`Ok`), updating the model if so.
    fn apply(&mut self, step: &Step, org: OrgId) -> bool {
        let id = match *step {
            Step::Move { id, .. } | Step::Post { id, .. } | Step::Void { id, .. } => id,
            Step::Wait { .. } => return true,
        };
        // An id that exists, or whose earlier attempt failed transiently, is answered first.
        if self.transfers.contains_key(&id) || self.failed.contains(&id) {
            return false;
        }
        match *step {
            Step::Move { id, debit, credit, amount, pending, .. } => {
                if debit == credit || org != owner(debit) {
                    return false;
                }
                let d = self.balances[&debit];
                if d.debits_pending + d.debits_posted + amount > d.credits_posted {
                    self.failed.insert(id);
                    return false;
                }
                let d = self.balances.get_mut(&debit).expect("exists");
                if pending {
                    d.debits_pending += amount
                } else {
                    d.debits_posted += amount
                }
                let c = self.balances.get_mut(&credit).expect("exists");
                if pending {
                    c.credits_pending += amount
                } else {
                    c.credits_posted += amount
                }
                let status = if pending { Status::Pending } else { Status::Plain };
                self.transfers.insert(id, Record { debit, credit, amount, status });
                true
            }
            Step::Post { .. } | Step::Void { .. } => {
                let (id, pending_id, amount, post) = match *step {
                    Step::Post { id, pending_id, amount } => (id, pending_id, amount, true),
                    Step::Void { id, pending_id } => (id, pending_id, 0, false),
                    _ => unreachable!("matched above"),
                };
                if id == pending_id {
                    return false;
                }
                let Some(hold) = self.transfers.get(&pending_id).copied() else {
                    self.failed.insert(id);
                    return false;
                };
                if hold.status == Status::Plain {
                    return false;
                }
                // A post of u128::MAX posts the whole hold, a void of 0 voids it.
                let amount = if (post && amount == u128::MAX) || (!post && amount == 0) {
                    hold.amount
                } else {
                    amount
                };
                if amount > hold.amount || (!post && amount != hold.amount) {
                    return false;
                }
                let authorised = if post {
                    org == owner(hold.debit)
                } else {
                    org == owner(hold.debit) || org == owner(hold.credit)
                };
                if !authorised || hold.status != Status::Pending {
                    return false;
                }
                let d = self.balances.get_mut(&hold.debit).expect("exists");
                d.debits_pending -= hold.amount;
                if post {
                    d.debits_posted += amount
                }
                let c = self.balances.get_mut(&hold.credit).expect("exists");
                c.credits_pending -= hold.amount;
                if post {
                    c.credits_posted += amount
                }
                self.transfers.get_mut(&pending_id).expect("exists").status = Status::Done;
                self.transfers.insert(
                    id,
                    Record { debit: hold.debit, credit: hold.credit, amount, status: Status::Plain },
                );
                true
            }
            Step::Wait { .. } => unreachable!("answered above"),
        }
    }
}

impl Step {
    fn operation(&self) -> Option<(Operation, OrgId)> {
        Some(match *self {
            Step::Move { id, debit, credit, amount, pending, foreign } => {
                let flags = if pending { TransferFlags::PENDING } else { 0 };
                let org = if foreign {
                    if owner(debit) == PLATFORM { MERCHANT } else { PLATFORM }
                } else {
                    owner(debit)
                };
                (with_flags(transfer(id, debit, credit, amount), flags), org)
            }
            Step::Post { id, pending_id, amount } => {
                let org = owner((pending_id % 4) + 1);
                (resolve(id, pending_id, amount, TransferFlags::POST_PENDING_TRANSFER), org)
            }
            Step::Void { id, pending_id } => {
                let org = owner((id % 4) + 1);
                (resolve(id, pending_id, 0, TransferFlags::VOID_PENDING_TRANSFER), org)
            }
            Step::Wait { .. } => return None,
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_the_model(steps in prop::collection::vec(step(), 1..80)) {
        let mut harness = Harness::funded(1_000);
        // Offset ids so they do not collide with the funding transfers (101..=104).
        let mut model = Model::new(1_000);
        for step in &steps {
            let step = offset(step);
            match step.operation() {
                None => { if let Step::Wait { ms } = step { harness.block_after(ms, vec![]); } }
                Some((operation, org)) => {
                    let code = harness.one(org, operation);
                    let expected = model.apply(&step, org);
                    prop_assert_eq!(code == ResultCode::Ok, expected, "{:?} as {:?} gave {:?}", step, org, code);
                }
            }
            for id in 1..=4u128 {
                let account = harness.account(id).expect("exists");
                let balance = model.balances[&id];
                prop_assert_eq!(account.debits_posted, Amount(balance.debits_posted));
                prop_assert_eq!(account.credits_posted, Amount(balance.credits_posted));
                prop_assert_eq!(account.debits_pending, Amount(balance.debits_pending));
                prop_assert_eq!(account.credits_pending, Amount(balance.credits_pending));
                prop_assert!(account.debits_posted.0 + account.debits_pending.0 <= account.credits_posted.0, "limit kept");
                prop_assert!(account.flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS));
            }
            harness.assert_balanced();
        }
    }

    #[test]
    fn replaying_the_same_blocks_gives_the_same_state(steps in prop::collection::vec(step(), 1..40)) {
        let run = || {
            let mut harness = Harness::funded(500);
            for step in &steps {
                match offset(step).operation() {
                    Some((operation, org)) => { harness.one(org, operation); }
                    None => { harness.block_after(10, vec![]); }
                }
            }
            (harness.state.records, harness.state.log, harness.state.log_order)
        };
        prop_assert_eq!(run(), run());
    }
}

fn offset(step: &Step) -> Step {
    const OFFSET: u128 = 1_000;
    match *step {
        Step::Move { id, debit, credit, amount, pending, foreign } => {
            Step::Move { id: id + OFFSET, debit, credit, amount, pending, foreign }
        }
        Step::Post { id, pending_id, amount } => {
            Step::Post { id: id + OFFSET, pending_id: pending_id + OFFSET, amount }
        }
        Step::Void { id, pending_id } => Step::Void { id: id + OFFSET, pending_id: pending_id + OFFSET },
        Step::Wait { ms } => Step::Wait { ms },
    }
}

#[test]
fn ledger_results_are_stable_for_an_unused_struct() {
    // NewTransfer's default is the all-zero request, which must be refused, not applied.
    let mut harness = Harness::funded(10);
    let code = harness.one(PLATFORM, Operation::CreateTransfer(NewTransfer::default()));
    assert_eq!(code, ResultCode::IdMustNotBeZero);
}
