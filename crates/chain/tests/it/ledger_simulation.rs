//! Deterministic cluster simulations with the real ledger executor ([`App`]) under seeded load.
//!
//! A seeded client submits signed batches (account creations, issuance, random transfers, some
//! designed to fail with `exceeds_credits`, holds posted or voided later, linked pairs; half of
//! the platform's and the merchant's batches signed by a delegated key, each numbering its own)
//! round
//! robin to the validators that are up, waits for finality on the validator it submitted to,
//! and resubmits the same signed batch elsewhere when no answer came (a crashed validator's
//! waiters never resolve). The checks are BRIEF.md's invariants:
//! - every validator finalizes the same block digest and state root at every height (the
//!   harness checks digests; here state roots too, and the genesis block);
//! - money is conserved on every ledger (Σ debits = Σ credits, posted and pending) and no
//!   limited account is past its limit: checked on every block every validator executes
//!   (`hansa_ledger::check_block`, which stops a validator whose ledger breaks them);
//! - no acknowledged batch is lost: every batch whose finality the client saw is finalized at
//!   the same height, in the same block, with the same results, on every validator at the end,
//!   including validators that crashed and restarted (their state reopened at its last
//!   checkpoint on storage, the blocks after it redelivered);
//! - transfer and account counts and each ledger's totals agree between validators, and at the
//!   end each ledger's Σ posted and Σ pending equal what the transfers the client saw succeed
//!   add up to (recomputed from the operations and their results, not from balances).

use hansa_chain::app::{App as GenericApp, AppConfig, AppView, BatchOutcome, FinalityReceiver, Index};
use hansa_chain::sim::{self, Fault, LinkSpec, Scenario, SplitMix64};
use hansa_ledger::Consortium;
use hansa_ledger::testkit::{self, BANK, CNY, ISSUANCE, MERCHANT, PLATFORM, key, with_flags};
use hansa_state::LogIndex;
use hansa_types::{
    AccountFlags, Batch, Hash, KeyPermissions, Operation, OrgId, ROOT_KEY, ResultCode, SignedBatch,
    TransferFlags,
};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot::error::TryRecvError;

type App = GenericApp<sim::Disk>;

/// Limited accounts 1..=ACCOUNTS: the platform owns the first half, the merchant the rest.
const ACCOUNTS: u128 = 50;
/// Operations per account-creation or funding batch.
const SETUP_BATCH_OPERATIONS: usize = 10;
/// An amount no account ever holds: a transfer of it fails with `exceeds_credits`.
const AMOUNT_TOO_LARGE: u128 = 1_000_000_000;
/// The number of the delegated key the platform and the merchant each register.
const DELEGATED_KEY: u32 = 1;
/// How long the client waits for finality before resubmitting a batch to another validator.
const RETRY_AFTER: Duration = Duration::from_secs(3);

fn owner(account: u128) -> OrgId {
    if account <= ACCOUNTS / 2 { PLATFORM } else { MERCHANT }
}

/// The test kit's consortium, with the simulator's validator keys.
fn consortium(validators: usize) -> Arc<Consortium> {
    let genesis = testkit::genesis_with_validators("sim", &sim::validator_public_keys(validators));
    Arc::new(Consortium::new(genesis).expect("valid genesis"))
}

fn account(id: u128, flags: u16) -> Operation {
    testkit::account(id, CNY, flags)
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128, flags: u16) -> Operation {
    with_flags(testkit::transfer(id, debit, credit, amount), flags)
}

fn resolve(id: u128, pending_id: u128, flag: u16) -> Operation {
    testkit::resolve(id, pending_id, 0, flag)
}

/// A batch the client has submitted and not yet seen final.
struct InFlight {
    signed: SignedBatch,
    digest: Hash,
    receiver: Option<FinalityReceiver>,
    submitted_at: Duration,
}

/// What the client saw; shared with the test for the final checks.
#[derive(Default)]
struct Seen {
    /// Every batch whose finality a validator reported, with the reported outcome.
    acknowledged: BTreeMap<Hash, Arc<BatchOutcome>>,
    /// Every batch the client signed, by digest.
    signed: BTreeMap<Hash, SignedBatch>,
    submissions: u64,
    resubmissions: u64,
}

/// The seeded client: waves of batches; a wave is submitted once the previous one is final.
struct Client {
    rng: SplitMix64,
    chain_id: Hash,
    /// The next sequence number of each (organisation, key number).
    sequences: BTreeMap<(OrgId, u32), u64>,
    next_id: u128,
    next_validator: usize,
    /// Transfer waves still to generate.
    transfer_waves: usize,
    batches_per_wave: usize,
    setup: VecDeque<Vec<SignedBatch>>,
    /// Holds created and not yet resolved, with the organisation that owns the debit account.
    holds: Vec<(u128, OrgId)>,
    in_flight: Vec<InFlight>,
    seen: Arc<Mutex<Seen>>,
}

impl Client {
    fn new(seed: u64, chain_id: Hash, transfer_waves: usize, batches_per_wave: usize) -> Client {
        let mut client = Client {
            rng: SplitMix64::new(seed ^ 0x00C1_1E47),
            chain_id,
            sequences: BTreeMap::new(),
            next_id: 10_000,
            next_validator: 0,
            transfer_waves,
            batches_per_wave,
            setup: VecDeque::new(),
            holds: Vec::new(),
            in_flight: Vec::new(),
            seen: Arc::default(),
        };
        // Wave 1: the issuance account, the limited accounts, and a delegated key each for the
        // platform and the merchant, which sign half of their transfer batches.
        let mut accounts = vec![client.batch(BANK, vec![account(ISSUANCE, AccountFlags::ISSUANCE)])];
        for org in [PLATFORM, MERCHANT] {
            // A limit far above what the waves move, per second: every transfer the key signs
            // is counted (and checked against it on every block), and none is refused by it.
            let permissions = KeyPermissions::CREATE_TRANSFER | KeyPermissions::SPEND_LIMIT;
            let Operation::RegisterKey(mut register) = testkit::register_key(org, DELEGATED_KEY, permissions)
            else {
                unreachable!("register_key builds a registration")
            };
            register.ledger = CNY;
            register.spend_limit = hansa_types::Amount(u128::from(u64::MAX));
            register.period_s = 1;
            accounts.push(client.batch(org, vec![Operation::RegisterKey(register)]));
        }
        let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
        let ids: Vec<u128> = (1..=ACCOUNTS).collect();
        for chunk in ids.chunks(SETUP_BATCH_OPERATIONS) {
            let operations = chunk.iter().map(|id| account(*id, limited)).collect();
            accounts.push(client.batch(owner(chunk[0]), operations));
        }
        client.setup.push_back(accounts);
        // Wave 2: the bank funds every account.
        let mut funding = Vec::new();
        for chunk in ids.chunks(SETUP_BATCH_OPERATIONS) {
            let operations = chunk
                .iter()
                .map(|id| {
                    let amount = client.rng.range(1_000, 10_000) as u128;
                    let transfer_id = client.id();
                    transfer(transfer_id, ISSUANCE, *id, amount, 0)
                })
                .collect();
            funding.push(client.batch(BANK, operations));
        }
        client.setup.push_back(funding);
        client
    }

    fn id(&mut self) -> u128 {
        self.next_id += 1;
        self.next_id
    }

    fn batch(&mut self, org: OrgId, operations: Vec<Operation>) -> SignedBatch {
        self.batch_with(org, ROOT_KEY, operations)
    }

    /// A batch signed by key `key_id` of `org` (its genesis key, or [`DELEGATED_KEY`]).
    fn batch_with(&mut self, org: OrgId, key_id: u32, operations: Vec<Operation>) -> SignedBatch {
        let sequence = self.sequences.entry((org, key_id)).or_insert(0);
        *sequence += 1;
        let batch = Batch { chain_id: self.chain_id, org, key: key_id, sequence: *sequence, operations };
        match key_id {
            ROOT_KEY => batch.sign(&key(org)),
            _ => batch.sign(&testkit::delegated_key(org, key_id)),
        }
    }

    fn account_of(&mut self, org: OrgId) -> u128 {
        let half = (ACCOUNTS / 2) as u64;
        let offset = if org == PLATFORM { 1 } else { half + 1 };
        (offset + self.rng.range(0, half)) as u128
    }

    /// A wave of random transfers from the platform and the merchant.
    fn transfer_wave(&mut self) -> Vec<SignedBatch> {
        let holds = std::mem::take(&mut self.holds);
        let mut batches = Vec::new();
        for index in 0..self.batches_per_wave {
            let org = if index % 2 == 0 { PLATFORM } else { MERCHANT };
            let mut operations = Vec::new();
            // Resolve the holds of the previous wave (post or void), by their owner.
            for (pending_id, _) in holds.iter().filter(|(_, owner)| *owner == org && index < 2) {
                let flag = if self.rng.range(0, 2) == 0 {
                    TransferFlags::POST_PENDING_TRANSFER
                } else {
                    TransferFlags::VOID_PENDING_TRANSFER
                };
                let id = self.id();
                operations.push(resolve(id, *pending_id, flag));
            }
            let count = self.rng.range(1, 8);
            for _ in 0..count {
                let debit = self.account_of(org);
                let mut credit = self.rng.range(1, ACCOUNTS as u64 + 1) as u128;
                if credit == debit {
                    credit = credit % ACCOUNTS + 1;
                }
                let id = self.id();
                match self.rng.range(0, 10) {
                    // Designed to fail: more than any account holds.
                    0 => operations.push(transfer(id, debit, credit, AMOUNT_TOO_LARGE, 0)),
                    1 => {
                        operations.push(transfer(
                            id,
                            debit,
                            credit,
                            self.rng.range(1, 200) as u128,
                            TransferFlags::PENDING,
                        ));
                        self.holds.push((id, org));
                    }
                    // A linked pair; one in three fails as a whole on its second transfer.
                    2 => {
                        let second = if self.rng.range(0, 3) == 0 { AMOUNT_TOO_LARGE } else { 10 };
                        operations.push(transfer(id, debit, credit, 10, TransferFlags::LINKED));
                        let id = self.id();
                        operations.push(transfer(id, debit, credit, second, 0));
                    }
                    _ => operations.push(transfer(id, debit, credit, self.rng.range(1, 500) as u128, 0)),
                }
            }
            let key_id = if index % 4 >= 2 { DELEGATED_KEY } else { ROOT_KEY };
            batches.push(self.batch_with(org, key_id, operations));
        }
        batches
    }

    /// Submits to the next validator that is up, waiting for finality there.
    fn submit(
        &mut self,
        elapsed: Duration,
        apps: &[App],
        up: &[bool],
        signed: SignedBatch,
        retry: bool,
    ) -> InFlight {
        let digest = signed.batch.digest();
        let count = apps.len();
        let mut receiver = None;
        for _ in 0..count {
            let index = self.next_validator % count;
            self.next_validator += 1;
            if !up[index] {
                continue;
            }
            let mut seen = self.seen.lock().expect("not poisoned");
            seen.submissions += 1;
            seen.resubmissions += u64::from(retry);
            drop(seen);
            // A refusal (a full pool, or a lagging validator that saw the sequence finalized
            // without this digest) leaves `receiver` empty: the batch is retried later.
            if let Ok((_, waiter)) = apps[index].submit(signed.clone(), true) {
                receiver = waiter;
            }
            break;
        }
        InFlight { signed, digest, receiver, submitted_at: elapsed }
    }

    /// One step of the client; `true` once everything was submitted, acknowledged, and every
    /// validator that is up has finalized up to the highest acknowledged batch.
    fn step(&mut self, elapsed: Duration, apps: &[App], up: &[bool]) -> bool {
        // Collect finality reports.
        let mut pending = Vec::new();
        for mut flight in std::mem::take(&mut self.in_flight) {
            match flight.receiver.as_mut().map(|receiver| receiver.try_recv()) {
                Some(Ok(outcome)) => {
                    assert_eq!(outcome.batch_digest, flight.digest, "a waiter resolves with its own batch");
                    let mut seen = self.seen.lock().expect("not poisoned");
                    seen.signed.insert(flight.digest, flight.signed.clone());
                    if let Some(known) = seen.acknowledged.insert(flight.digest, outcome.clone()) {
                        assert_eq!(known.results, outcome.results, "one batch, two reported outcomes");
                    }
                }
                Some(Err(TryRecvError::Empty)) if elapsed < flight.submitted_at + RETRY_AFTER => {
                    pending.push(flight)
                }
                _ => {
                    // No answer (the validator crashed, or refused it): the same signed batch goes
                    // to another validator, which answers at once if it is already final.
                    pending.push(self.submit(elapsed, apps, up, flight.signed, true));
                }
            }
        }
        self.in_flight = pending;
        if !self.in_flight.is_empty() {
            return false;
        }
        let wave = match self.setup.pop_front() {
            Some(wave) => wave,
            None if self.transfer_waves > 0 => {
                self.transfer_waves -= 1;
                self.transfer_wave()
            }
            None => {
                let highest =
                    self.seen.lock().expect("not poisoned").acknowledged.values().map(|o| o.height).max();
                return apps
                    .iter()
                    .zip(up)
                    .filter(|(_, up)| **up)
                    .all(|(app, _)| app.finalized().height >= highest.unwrap_or(0));
            }
        };
        for signed in wave {
            let flight = self.submit(elapsed, apps, up, signed, false);
            self.in_flight.push(flight);
        }
        false
    }
}

/// A finalized block of validator `app`'s index.
fn block(app: &AppView, height: u64) -> Option<hansa_chain::app::FinalizedBlock> {
    app.index().block(height).expect("the index reads")
}

/// The periodic invariant: same genesis, and each validator's head state root equal to every
/// other's block at that height. (Money and limits are checked on every block every validator
/// executes: `hansa_ledger::check_block` stops a validator whose ledger breaks them.)
fn invariant(apps: &[App]) -> Result<(), String> {
    use hansa_chain::Executor as _;
    let genesis = apps[0].genesis_block().digest();
    let heads: Vec<_> = apps.iter().map(|app| app.finalized()).collect();
    let views: Vec<AppView> = apps.iter().map(App::view).collect();
    for (index, app) in apps.iter().enumerate() {
        if app.genesis_block().digest() != genesis {
            return Err(format!("validator {index} has another genesis block"));
        }
        let head = &heads[index];
        if head.height == 0 {
            continue;
        }
        for (other, other_app) in views.iter().enumerate() {
            if let Some(block) = block(other_app, head.height)
                && block.state.root() != head.state.root()
            {
                return Err(format!(
                    "state root of height {} differs between validators {index} and {other}",
                    head.height
                ));
            }
        }
    }
    Ok(())
}

/// Σ posted and Σ pending per ledger (each transfer debits one account and credits another by
/// the same amount, so one sum stands for both sides), replayed from the acknowledged batches
/// in the order they were finalized and their operations' results, with TigerBeetle's rules
/// for resolving a hold (a post moves the amount it names, `u128::MAX` for all of the hold,
/// out of pending into posted; a void releases the hold). The client's holds never expire.
fn totals_from_transfers(seen: &Seen) -> BTreeMap<u32, (u128, u128)> {
    let mut order: Vec<&Arc<BatchOutcome>> = seen.acknowledged.values().collect();
    order.sort_by_key(|outcome| (outcome.height, outcome.first_index));
    let mut holds: BTreeMap<u128, (u32, u128)> = BTreeMap::new();
    let mut totals: BTreeMap<u32, (u128, u128)> = BTreeMap::new();
    for outcome in order {
        let signed = &seen.signed[&outcome.batch_digest];
        for (operation, (_, code)) in signed.batch.operations.iter().zip(&outcome.results) {
            let Operation::CreateTransfer(transfer) = operation else { continue };
            if *code != ResultCode::Ok {
                continue;
            }
            let flags = transfer.flags;
            if flags.has(TransferFlags::POST_PENDING_TRANSFER)
                || flags.has(TransferFlags::VOID_PENDING_TRANSFER)
            {
                let (ledger, held) = holds.remove(&transfer.pending_id).expect("a resolved hold was made");
                let entry = totals.entry(ledger).or_default();
                entry.1 -= held;
                if flags.has(TransferFlags::POST_PENDING_TRANSFER) {
                    entry.0 += if transfer.amount.0 == u128::MAX { held } else { transfer.amount.0 };
                }
            } else if flags.has(TransferFlags::PENDING) {
                holds.insert(transfer.id, (transfer.ledger, transfer.amount.0));
                totals.entry(transfer.ledger).or_default().1 += transfer.amount.0;
            } else {
                totals.entry(transfer.ledger).or_default().0 += transfer.amount.0;
            }
        }
    }
    totals.retain(|_, amounts| *amounts != (0, 0));
    totals
}

/// The final checks over the current executors, given what the client saw acknowledged.
fn check_final(apps: &[AppView], seen: &Seen) {
    let heights: Vec<u64> = apps.iter().map(|app| app.finalized().height).collect();
    let highest_acknowledged = seen.acknowledged.values().map(|outcome| outcome.height).max().unwrap_or(0);
    let common = *heights.iter().min().expect("validators");
    assert!(
        common >= highest_acknowledged,
        "a validator is below the highest acknowledged height {highest_acknowledged}: {heights:?}"
    );
    // Same digest, state root and results at every height every validator has.
    for height in 1..=common {
        let reference = block(&apps[0], height).expect("below the common height");
        for (index, app) in apps.iter().enumerate().skip(1) {
            let block = block(app, height).expect("below the common height");
            assert_eq!(block.digest, reference.digest, "validator {index} height {height} digest");
            assert_eq!(
                block.state.root(),
                reference.state.root(),
                "validator {index} height {height} state root"
            );
            assert_eq!(block.results, reference.results, "validator {index} height {height} results");
        }
    }
    // No acknowledged batch lost.
    for (digest, outcome) in &seen.acknowledged {
        for (index, app) in apps.iter().enumerate() {
            let found = app.index().batch(digest).expect("the index reads").unwrap_or_else(|| {
                panic!("validator {index} lost acknowledged batch {digest} (height {})", outcome.height)
            });
            assert_eq!(found.height, outcome.height, "validator {index} batch {digest} height");
            assert_eq!(found.block_digest, outcome.block_digest, "validator {index} batch {digest} block");
            assert_eq!(found.first_index, outcome.first_index, "validator {index} batch {digest} index");
            assert_eq!(found.results, outcome.results, "validator {index} batch {digest} results");
        }
    }
    // Money, recomputed from the transfers the client saw succeed (not from the balances and
    // totals the ledger updates together): every validator's per-ledger totals at the end.
    let recomputed = totals_from_transfers(seen);
    for (index, app) in apps.iter().enumerate() {
        let totals: BTreeMap<u32, (u128, u128)> = app
            .index()
            .totals()
            .expect("the index reads")
            .into_iter()
            .map(|(ledger, totals)| (ledger, (totals.posted, totals.pending)))
            .filter(|(_, amounts)| *amounts != (0, 0))
            .collect();
        assert_eq!(
            totals, recomputed,
            "validator {index}: (posted, pending) per ledger against the transfers"
        );
    }
    // Counts and ledger totals: equal between validators at the same height.
    type Summary = ((u64, u64), Vec<(u32, hansa_chain::app::LedgerTotals)>);
    let mut by_height: BTreeMap<u64, Summary> = BTreeMap::new();
    for (index, app) in apps.iter().enumerate() {
        let counts = app.index().counts().expect("the index reads");
        let totals = app.index().totals().expect("the index reads");
        let known = by_height.entry(heights[index]).or_insert((counts, totals.clone()));
        assert_eq!(
            (counts, totals),
            known.clone(),
            "validator {index} counts and totals at height {}",
            heights[index]
        );
    }
}

/// What a real-ledger run observed.
pub(crate) struct LedgerRun {
    pub(crate) outcome: sim::Outcome,
    /// What every executor instance finalized, by validator, in creation order (the last one
    /// is current), with the height it resumed at when it opened. Views: the instances
    /// themselves ended with the simulated runtime.
    instances: Vec<Vec<(AppView, u64)>>,
    seen: Arc<Mutex<Seen>>,
    /// The honest validators' indices.
    honest: Vec<usize>,
}

impl LedgerRun {
    /// The current executors of the honest validators.
    fn honest_current(&self) -> Vec<AppView> {
        let current = self.current();
        self.honest.iter().map(|index| current[*index].clone()).collect()
    }

    fn current(&self) -> Vec<AppView> {
        self.instances
            .iter()
            .map(|instances| instances.last().expect("one instance per validator").0.clone())
            .collect()
    }

    fn state_roots(&self) -> Vec<Hash> {
        self.current().iter().map(|app| app.finalized().state.root()).collect()
    }
}

/// Runs `scenario` with the real ledger and a client of `transfer_waves` waves, then checks
/// everything; a failure names the seed.
pub(crate) fn run_ledger(
    name: &str,
    mut scenario: Scenario,
    transfer_waves: usize,
    batches_per_wave: usize,
) -> LedgerRun {
    let seed = scenario.seed;
    let honest: Vec<usize> = (0..scenario.validators).filter(|index| scenario.honest(*index)).collect();
    scenario.check_every = Duration::from_millis(100);
    let consortium = consortium(scenario.validators);
    type Instances = Vec<Vec<(AppView, u64)>>;
    let instances: Arc<Mutex<Instances>> = Arc::new(Mutex::new(vec![Vec::new(); scenario.validators]));
    // Each validator's index outlives its restarts, as its disk would; a twin's second
    // executor (factory index `validators + index`) has its own.
    let validators = scenario.validators;
    let indexes: Vec<(Index, LogIndex)> = (0..2 * validators)
        .map(|_| {
            let index = Index::in_memory().expect("an index in memory");
            (index, LogIndex::in_memory().expect("a log index in memory"))
        })
        .collect();
    let factory = {
        let instances = instances.clone();
        let consortium = consortium.clone();
        move |index: usize, context: sim::Disk| {
            let instances = instances.clone();
            let consortium = consortium.clone();
            let (validator_index, log_index) = indexes[index].clone();
            async move {
                let config = AppConfig::simulation(&format!("validator{index}"));
                let app = App::open(context, consortium, validator_index, log_index, config)
                    .await
                    .expect("the app opens");
                let resumed = app.finalized().height;
                if index < validators {
                    instances.lock().expect("not poisoned")[index].push((app.view(), resumed));
                }
                app
            }
        }
    };
    let mut client = Client::new(seed, consortium.chain_id, transfer_waves, batches_per_wave);
    let seen = client.seen.clone();
    let outcome =
        sim::run_with_client(scenario, factory, invariant, move |elapsed, apps: &[App], up: &[bool]| {
            client.step(elapsed, apps, up)
        });
    let run = LedgerRun {
        outcome,
        instances: std::mem::take(&mut *instances.lock().expect("not poisoned")),
        seen,
        honest,
    };
    // Byzantine validators are not held to anything.
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_final(&run.honest_current(), &run.seen.lock().expect("not poisoned"))
    }));
    if let Err(panic) = checked {
        eprintln!("{name}: final checks failed (seed {seed})");
        std::panic::resume_unwind(panic);
    }
    let seen = run.seen.lock().expect("not poisoned");
    let apps = run.honest_current();
    let (transfers, _) = apps[0].index().counts().expect("the index reads");
    eprintln!(
        "{name}: seed {seed} simulated {:?}, heights {:?}, {} batches acknowledged ({} submissions, {} resubmissions), {} transfers",
        run.outcome.elapsed,
        apps.iter().map(|app| app.finalized().height).collect::<Vec<_>>(),
        seen.acknowledged.len(),
        seen.submissions,
        seen.resubmissions,
        transfers,
    );
    drop(seen);
    run
}

pub(crate) fn assert_all_acknowledged(run: &LedgerRun, batches: usize) {
    let seen = run.seen.lock().expect("not poisoned");
    assert_eq!(seen.acknowledged.len(), batches, "every submitted batch was finally acknowledged");
    let codes: Vec<ResultCode> = seen
        .acknowledged
        .values()
        .flat_map(|outcome| outcome.results.iter().map(|(_, code)| *code))
        .collect();
    assert!(codes.contains(&ResultCode::Ok));
    assert!(codes.contains(&ResultCode::ExceedsCredits), "some transfers were designed to fail");
}

/// Batches the client submits: 6 setup batches (issuance account, 5 of accounts) + 5 of funding.
pub(crate) fn batches(transfer_waves: usize, batches_per_wave: usize) -> usize {
    // The issuance account, two key registrations, account creations, funding, then the waves.
    1 + 2 + 2 * (ACCOUNTS as usize).div_ceil(SETUP_BATCH_OPERATIONS) + transfer_waves * batches_per_wave
}

#[test]
fn real_ledger_four_validators_all_online() {
    let run = run_ledger("real ledger, all online", Scenario::new(21, 4, 10), 30, 6);
    assert_all_acknowledged(&run, batches(30, 6));
    assert!(run.instances.iter().all(|instances| instances.len() == 2), "no restarts");
}

#[test]
fn real_ledger_four_validators_one_crashes_and_restarts() {
    let mut scenario = Scenario::new(22, 4, 10);
    // Cut off first, so that batches validator 2 admits cannot be forwarded to the others: the
    // crash strands them in its mempool, and the client has to resubmit them elsewhere.
    scenario.faults = vec![
        Fault::Partition {
            group: vec![2],
            at: Duration::from_millis(2_800),
            duration: Duration::from_secs(1),
        },
        Fault::Crash {
            validator: 2,
            at: Duration::from_millis(3_400),
            down_for: Some(Duration::from_secs(4)),
        },
    ];
    let run = run_ledger("real ledger, crash and restart", scenario, 30, 6);
    assert_all_acknowledged(&run, batches(30, 6));
    assert_eq!(run.instances[2].len(), 3, "initial, started, restarted");
    assert!(run.seen.lock().expect("not poisoned").resubmissions > 0);
    // The restarted instance resumed from its last checkpoint: it replayed at most one
    // checkpoint interval of the blocks the crashed instance had applied.
    let (crashed, _) = &run.instances[2][1];
    let (restarted, resumed) = &run.instances[2][2];
    let interval = AppConfig::simulation("any").checkpoint_interval;
    let reached = crashed.finalized().height;
    assert!(reached > interval, "the crashed instance got past a checkpoint ({reached})");
    assert!(*resumed > 0 && reached - resumed < interval, "resumed at {resumed} after reaching {reached}");
    assert!(restarted.finalized().height > reached);
}

#[test]
fn real_ledger_four_validators_lose_power_at_once_and_lose_nothing_acknowledged() {
    // Twice, every validator stops at once and every write not yet synced is lost; each
    // reopens at its last durable checkpoint and replays from the finalized blocks marshal
    // kept. Every batch the client saw acknowledged is final at the end, with the outcome it
    // was acknowledged with, on every validator (`check_final`), and the invariants held at
    // every check in between.
    let mut scenario = Scenario::new(24, 4, 10);
    scenario.faults = vec![
        Fault::PowerLoss { at: Duration::from_millis(3_300), down_for: Duration::from_secs(2) },
        Fault::PowerLoss { at: Duration::from_millis(7_700), down_for: Duration::from_millis(500) },
    ];
    let run = run_ledger("real ledger, power loss", scenario, 30, 6);
    assert_all_acknowledged(&run, batches(30, 6));
    // Three runs of the runtime (before, between and after the power losses), each opening
    // every validator's storage twice: to build the cluster, then to start it.
    let opened: Vec<usize> = run.instances.iter().map(Vec::len).collect();
    assert_eq!(opened, vec![6; 4], "instances per validator");
    let interval = AppConfig::simulation("any").checkpoint_interval;
    let mut replayed = 0;
    for (index, instances) in run.instances.iter().enumerate() {
        for pair in instances[1..].windows(2) {
            let ((before, _), (_, resumed)) = (&pair[0], &pair[1]);
            let reached = before.finalized().height;
            replayed += usize::from(*resumed < reached);
            assert!(
                *resumed <= reached,
                "validator {index} resumed at {resumed}, past the {reached} it applied"
            );
            assert!(
                reached - resumed <= interval,
                "validator {index} resumed at {resumed} after reaching {reached}: more than a checkpoint interval lost"
            );
        }
    }
    // What was applied after the last durable checkpoint was lost with the power, and replayed.
    assert!(replayed > 0, "no validator lost anything to the power losses");
}

#[test]
fn real_ledger_messages_duplicated_and_reordered() {
    // Every kind of message, forwarded batches included, sometimes arrives twice or after the
    // one sent after it: nothing is refused or executed twice, and no honest peer is blocked.
    let mut scenario = Scenario::new(25, 4, 10);
    scenario.disorder = sim::Disorder { duplicate: 0.15, reorder: 0.15 };
    let run = run_ledger("real ledger, duplicates and reordering", scenario, 25, 6);
    assert_all_acknowledged(&run, batches(25, 6));
    assert!(run.outcome.blocked.is_empty(), "{:?}", run.outcome.blocked);
}

#[test]
fn real_ledger_seven_validators_partition_and_loss() {
    let mut scenario = Scenario::new(23, 7, 10);
    scenario.link = LinkSpec {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(20),
        success_rate: 0.95,
    };
    scenario.faults = vec![
        Fault::Partition { group: vec![0, 1], at: Duration::from_secs(2), duration: Duration::from_secs(5) },
        Fault::Degrade {
            link: LinkSpec {
                latency: Duration::from_millis(150),
                jitter: Duration::from_millis(50),
                success_rate: 0.7,
            },
            at: Duration::from_secs(8),
            duration: Duration::from_secs(4),
        },
    ];
    scenario.time_limit = Duration::from_secs(180);
    let run = run_ledger("real ledger, partition and loss", scenario, 25, 6);
    assert_all_acknowledged(&run, batches(25, 6));
}

#[test]
fn real_ledger_same_seed_replays_identically() {
    let scenario = || {
        let mut scenario = Scenario::new(24, 4, 10);
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
    let first = run_ledger("real ledger, replay 1", scenario(), 10, 4);
    let second = run_ledger("real ledger, replay 2", scenario(), 10, 4);
    assert_eq!(first.outcome.auditor_state, second.outcome.auditor_state);
    assert_eq!(first.outcome.finalized, second.outcome.finalized);
    assert_eq!(first.state_roots(), second.state_roots());
    let acknowledged = |run: &LedgerRun| {
        run.seen.lock().expect("not poisoned").acknowledged.keys().copied().collect::<Vec<_>>()
    };
    assert_eq!(acknowledged(&first), acknowledged(&second));
}

#[test]
fn final_checks_catch_a_lost_or_altered_batch() {
    let run = run_ledger("real ledger, tampered", Scenario::new(25, 4, 5), 3, 2);
    let apps = run.current();
    let seen = run.seen.lock().expect("not poisoned");
    let (digest, outcome) = seen.acknowledged.iter().next_back().expect("acknowledged batches");

    // A batch reported final that no validator has.
    let mut lost = Seen::default();
    lost.acknowledged.insert(Hash([0xee; 32]), outcome.clone());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_final(&apps, &lost)));
    assert!(caught.is_err(), "a lost batch is caught");

    // A batch reported with other results than the validators hold.
    let mut altered = Seen::default();
    let mut wrong = (**outcome).clone();
    wrong.results[0].1 = ResultCode::ExceedsCredits;
    if outcome.results[0].1 == ResultCode::ExceedsCredits {
        wrong.results[0].1 = ResultCode::Ok;
    }
    altered.acknowledged.insert(*digest, Arc::new(wrong));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_final(&apps, &altered)));
    assert!(caught.is_err(), "altered results are caught");

    // Money the validators moved that no acknowledged transfer accounts for: a batch with a
    // successful plain transfer left out of what the client saw.
    let mut short = Seen { signed: seen.signed.clone(), ..Seen::default() };
    short.acknowledged = seen.acknowledged.clone();
    let moved = |digest: &Hash| {
        let outcome = &seen.acknowledged[digest];
        seen.signed[digest].batch.operations.iter().zip(&outcome.results).any(|(operation, (_, code))| {
            matches!(operation, Operation::CreateTransfer(t) if t.flags == TransferFlags(0))
                && *code == ResultCode::Ok
        })
    };
    let left_out =
        *seen.acknowledged.keys().rev().find(|digest| moved(digest)).expect("a batch that moved money");
    short.acknowledged.remove(&left_out);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_final(&apps, &short)));
    let said = caught.expect_err("money unaccounted for is caught");
    let said = said.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(said.contains("against the transfers"), "{said}");
}
