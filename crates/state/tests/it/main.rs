//! The store against a simple in-memory model, on Commonware's deterministic runtime: random
//! write sets applied in blocks, speculation on unapplied parents, checkpoints, clean reopens
//! and crashes that lose every write not made durable; proofs checked and tampered with; state
//! sync from a peer's checkpoint, honest and not; and the golden vectors of a reference
//! sequence of blocks (`golden.rs`).

mod golden;

use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
use hansa_ledger::modules::{
    self,
    ledger::{ACCOUNTS, HOLDS, RESOLUTIONS, TRANSFERS},
};
use hansa_state::proof::PROOF_FORMAT;
use hansa_state::{LogIndex, Part, Peers, RecordProof, StateProof, Store, StoreConfig, VerifyError};
use hansa_types::{Hash, Header, LogAppend, RecordWrite, StateCommitment, StateKey, WriteSet};
use std::collections::BTreeMap;

/// The model: current records and log records, as plain maps.
#[derive(Clone, Default, Debug, PartialEq)]
struct Model {
    current: BTreeMap<StateKey, Vec<u8>>,
    log: BTreeMap<StateKey, Vec<u8>>,
}

impl Model {
    fn apply(&mut self, writes: &WriteSet) {
        for write in &writes.records {
            match &write.value {
                Some(value) => self.current.insert(write.key, value.clone()),
                None => self.current.remove(&write.key),
            };
        }
        for append in &writes.log {
            assert!(self.log.insert(append.key, append.value.clone()).is_none());
        }
    }

    fn get(&self, key: &StateKey) -> Option<Vec<u8>> {
        self.current.get(key).or_else(|| self.log.get(key)).cloned()
    }
}

/// A seeded generator of write sets over a small key space (so keys are updated, deleted and
/// re-created often).
struct Generator {
    state: u64,
    next_log_id: u128,
}

impl Generator {
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.state >> 33
    }

    fn write_set(&mut self, model: &Model) -> WriteSet {
        let mut records: BTreeMap<StateKey, Option<Vec<u8>>> = BTreeMap::new();
        for _ in 0..self.next() % 40 {
            let table = if self.next().is_multiple_of(3) { HOLDS } else { ACCOUNTS };
            let key = table.key(u128::from(self.next() % 64));
            let delete = model.current.contains_key(&key) && self.next().is_multiple_of(4);
            let length = (self.next() % 300) as usize;
            let value = (!delete).then(|| (0..length).map(|_| self.next() as u8).collect());
            records.insert(key, value);
        }
        let mut log = Vec::new();
        for _ in 0..self.next() % 30 {
            self.next_log_id += 1 + u128::from(self.next() % 3);
            let table = if self.next().is_multiple_of(4) { RESOLUTIONS } else { TRANSFERS };
            let value = (0..(self.next() % 200) as usize).map(|_| self.next() as u8).collect();
            log.push(LogAppend { key: table.key(self.next_log_id), value });
        }
        WriteSet {
            records: records.into_iter().map(|(key, value)| RecordWrite { key, value }).collect(),
            log,
        }
    }
}

fn config() -> StoreConfig {
    StoreConfig::small("test", modules::kind)
}

/// Every key the generator can write, plus some it never does.
fn probe_keys(model: &Model) -> Vec<StateKey> {
    let mut keys: Vec<StateKey> = (0..70).flat_map(|id| [ACCOUNTS.key(id), HOLDS.key(id)]).collect();
    keys.extend(model.log.keys().copied());
    keys.push(TRANSFERS.key(u128::MAX - 1));
    keys
}

async fn assert_matches(store: &Store<deterministic::Context>, model: &Model) {
    let keys = probe_keys(model);
    let values = store.read(None, &keys).await.expect("read");
    for (key, value) in keys.iter().zip(values) {
        assert_eq!(value, model.get(key), "{key:?}");
    }
}

/// Runs `blocks` blocks of generated writes on `store`, checkpointing every `interval`; returns
/// the model after each block and each block's commitment.
async fn run_blocks(
    store: &Store<deterministic::Context>,
    generator: &mut Generator,
    model: &mut Model,
    blocks: u64,
    interval: u64,
) -> Vec<(Model, StateCommitment, WriteSet)> {
    let mut history = Vec::new();
    for _ in 0..blocks {
        let (height, _) = store.applied().await;
        let writes = generator.write_set(model);
        let speculation = store.speculate(None, height + 1, writes.clone()).await.expect("speculate");
        store.apply(&speculation).await.expect("apply");
        model.apply(&writes);
        assert_eq!(store.applied().await.1, *speculation.commitment());
        if (height + 1) % interval == 0 {
            store.checkpoint().await.expect("checkpoint");
        }
        history.push((model.clone(), *speculation.commitment(), writes));
    }
    history
}

#[test]
fn the_store_matches_the_model_across_reopens_and_crashes() {
    for seed in 0..4u64 {
        let interval = 3 + seed;
        let mut generator = Generator { state: seed + 1, next_log_id: 0 };
        // The log index survives the crash whole (in memory): it then holds entries of blocks
        // the crash undid, which must not show.
        let index = LogIndex::in_memory().expect("index");
        let first_index = index.clone();
        // First run: blocks past the last checkpoint, then a crash (unsynced writes are lost).
        let (state, checkpoint) =
            deterministic::Runner::seeded(seed).start_and_recover(|context| async move {
                let store = Store::open(context, config(), first_index).await.expect("open");
                let genesis = store.genesis();
                let mut model = Model::default();
                let history = run_blocks(&store, &mut generator, &mut model, 20, interval).await;
                assert_matches(&store, &model).await;
                (generator, genesis, history)
            });
        let (mut generator, genesis, history) = state;
        let durable = 20 / interval * interval;
        // Second run: the store reopens at the last checkpoint; replaying the blocks after it
        // gives the same commitments.
        deterministic::Runner::from(checkpoint).start(|context| async move {
            let store = Store::open(context, config(), index).await.expect("reopen");
            assert_eq!(store.genesis(), genesis);
            let (height, commitment) = store.applied().await;
            assert_eq!(height, durable, "resumes at the last checkpoint");
            let (model, expected, _) = &history[(durable - 1) as usize];
            assert_eq!(commitment, *expected);
            assert_matches(&store, model).await;
            let undone: Vec<StateKey> = history[durable as usize..]
                .iter()
                .flat_map(|(_, _, writes)| writes.log.iter().map(|append| append.key))
                .collect();
            let values = store.read(None, &undone).await.expect("read");
            assert!(values.iter().all(Option::is_none), "log records of undone blocks do not show");
            let mut model = model.clone();
            for (after, expected, writes) in &history[durable as usize..] {
                let speculation =
                    store.speculate(None, store.applied().await.0 + 1, writes.clone()).await.expect("spec");
                assert_eq!(speculation.commitment(), expected, "a replayed block gives the same state");
                store.apply(&speculation).await.expect("apply");
                model.apply(writes);
                assert_eq!(&model, after);
            }
            assert_matches(&store, &model).await;
            // And it goes on.
            run_blocks(&store, &mut generator, &mut model, 5, 2).await;
            assert_matches(&store, &model).await;
        });
    }
}

#[test]
fn a_clean_reopen_keeps_every_checkpointed_record() {
    deterministic::Runner::seeded(7).start(|context| async move {
        let mut generator = Generator { state: 99, next_log_id: 0 };
        let mut model = Model::default();
        let index = LogIndex::in_memory().expect("index");
        let store = Store::open(context.child("first"), config(), index.clone()).await.expect("open");
        run_blocks(&store, &mut generator, &mut model, 12, 4).await;
        let commitment = store.applied().await.1;
        drop(store);
        let store = Store::open(context.child("second"), config(), index).await.expect("reopen");
        assert_eq!(store.applied().await, (12, commitment));
        assert_matches(&store, &model).await;
    });
}

#[test]
fn speculation_reads_through_unapplied_parents_and_forks_do_not_interfere() {
    deterministic::Runner::seeded(3).start(|context| async move {
        let store =
            Store::open(context, config(), LogIndex::in_memory().expect("index")).await.expect("open");
        let account = ACCOUNTS.key(1);
        let transfer = TRANSFERS.key(10);
        let parent_writes = WriteSet {
            records: vec![RecordWrite { key: account, value: Some(vec![1]) }],
            log: vec![LogAppend { key: transfer, value: vec![9, 9] }],
        };
        let parent = store.speculate(None, 1, parent_writes).await.expect("parent");
        // The applied tip does not see the parent's writes; the parent does.
        assert_eq!(store.read(None, &[account, transfer]).await.expect("read"), vec![None, None]);
        let through = store.read(Some(&parent), &[account, transfer]).await.expect("read");
        assert_eq!(through, vec![Some(vec![1]), Some(vec![9, 9])]);
        // Two children of the parent: each sees its own write only.
        let child_a_writes =
            WriteSet { records: vec![RecordWrite { key: account, value: Some(vec![2]) }], log: vec![] };
        let child_b_writes =
            WriteSet { records: vec![RecordWrite { key: account, value: None }], log: vec![] };
        let child_a = store.speculate(Some(&parent), 2, child_a_writes).await.expect("a");
        let child_b = store.speculate(Some(&parent), 2, child_b_writes.clone()).await.expect("b");
        assert_ne!(child_a.commitment().root(), child_b.commitment().root());
        assert_eq!(store.read(Some(&child_a), &[account]).await.expect("read"), vec![Some(vec![2])]);
        assert_eq!(store.read(Some(&child_b), &[account]).await.expect("read"), vec![None]);
        assert_eq!(store.read(Some(&child_b), &[transfer]).await.expect("read"), vec![Some(vec![9, 9])]);
        // Finalize parent then child a: the applied state is child a's, with the parent's log.
        store.apply(&parent).await.expect("apply parent");
        store.apply(&child_a).await.expect("apply child");
        assert_eq!(store.applied().await.1, *child_a.commitment());
        assert_eq!(
            store.read(None, &[account, transfer]).await.expect("read"),
            vec![Some(vec![2]), Some(vec![9, 9])]
        );
        // Applying out of order is refused.
        assert!(store.apply(&child_b).await.is_err());
        // A block that writes nothing leaves every root as it was, and logs nothing.
        let before = store.applied().await.1;
        let empty = store.speculate(None, 3, WriteSet::default()).await.expect("empty");
        assert_eq!(*empty.commitment(), before);
        let after_empty =
            store.speculate(Some(&empty), 4, child_b_writes).await.expect("after an empty block");
        store.apply(&empty).await.expect("apply empty");
        assert_eq!(store.applied().await, (3, before));
        store.apply(&after_empty).await.expect("apply the next");
        assert_eq!(store.read(None, &[account]).await.expect("read"), vec![None]);
    });
}

fn header_for(commitment: &StateCommitment, height: u64) -> Header {
    Header {
        version: 1,
        height,
        parent: Hash::ZERO,
        timestamp_ms: 1,
        state_root: commitment.root(),
        operations_root: Hash::ZERO,
        operations_count: 0,
        results_root: Hash::ZERO,
        context: vec![],
    }
}

#[test]
fn proofs_of_current_and_log_records_verify_and_tampering_fails() {
    deterministic::Runner::seeded(5).start(|context| async move {
        let store =
            Store::open(context, config(), LogIndex::in_memory().expect("index")).await.expect("open");
        let mut generator = Generator { state: 5, next_log_id: 0 };
        let mut model = Model::default();
        run_blocks(&store, &mut generator, &mut model, 8, 3).await;
        let current = *model.current.keys().next().expect("some current record");
        let logged = *model.log.keys().next().expect("some log record");
        for key in [current, logged] {
            let (height, commitment, record) = store.prove(&key).await.expect("prove").expect("present");
            assert_eq!(record.value(), model.get(&key).expect("in model").as_slice());
            let proof = StateProof {
                format: PROOF_FORMAT,
                header: header_for(&commitment, height),
                state: commitment,
                record,
            };
            assert_eq!(proof.verify(), Ok(()), "{key:?}");
            // Through JSON and back, as `hansa verify` reads it.
            let json = serde_json::to_string(&proof).expect("json");
            let back: StateProof = serde_json::from_str(&json).expect("parse");
            assert_eq!(back.verify(), Ok(()));
            let mut tampered = proof.clone();
            match &mut tampered.record {
                RecordProof::Current { value, .. } | RecordProof::Log { value, .. } => value.push(1),
            }
            assert!(tampered.verify().is_err(), "a changed value is refused");
            let mut tampered = proof.clone();
            match &mut tampered.record {
                RecordProof::Current { id, .. } | RecordProof::Log { id, .. } => *id += 1,
            }
            assert!(tampered.verify().is_err(), "another key is refused");
            let mut tampered = proof.clone();
            tampered.header.state_root = Hash([1; 32]);
            assert_eq!(tampered.verify(), Err(VerifyError::StateRootMismatch));
            let mut tampered = proof.clone();
            tampered.format = PROOF_FORMAT + 1;
            assert_eq!(tampered.verify(), Err(VerifyError::UnknownFormat(PROOF_FORMAT + 1)));
            // Read as format 2 (values unpacked), a format 3 proof does not hold, also with
            // its value replaced by the packed bytes the database hashed.
            let mut tampered = proof.clone();
            tampered.format = 2;
            assert_eq!(tampered.verify(), Err(VerifyError::StateRootMismatch));
            match &mut tampered.record {
                RecordProof::Current { value, .. } | RecordProof::Log { value, .. } => {
                    *value = hansa_state::pack::pack(value)
                }
            }
            assert_eq!(tampered.verify(), Err(VerifyError::StateRootMismatch), "relabelled as format 2");
        }
        // An absent record has no proof.
        assert!(store.prove(&ACCOUNTS.key(1_000_000)).await.expect("prove").is_none());
        assert!(store.prove(&TRANSFERS.key(u128::MAX - 1)).await.expect("prove").is_none());
    });
}

/// Peers that answer from another store in the same runtime; `tamper` flips a byte of every
/// answer, as a lying or broken peer would.
#[derive(Clone)]
struct InProcess {
    server: Store<deterministic::Context>,
    tamper: bool,
}

impl Peers for InProcess {
    async fn fetch(&self, part: Part, request: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut answer = self.server.serve_sync(part, &request).await.map_err(|error| error.to_string())?;
        if self.tamper
            && let Some(last) = answer.last_mut()
        {
            *last ^= 1;
        }
        Ok(answer)
    }
}

#[test]
fn a_new_store_syncs_to_a_peers_checkpoint_and_refuses_a_snapshot_that_does_not_match() {
    deterministic::Runner::seeded(11).start(|context| async move {
        let server = Store::open(
            context.child("server"),
            StoreConfig::small("server", modules::kind),
            LogIndex::in_memory().expect("index"),
        )
        .await
        .expect("open");
        let mut generator = Generator { state: 11, next_log_id: 0 };
        let mut model = Model::default();
        run_blocks(&server, &mut generator, &mut model, 24, 4).await;
        let target = server.durable().await;
        assert_eq!(target.height, 24);
        let at_target = model.clone();
        // The server goes on (more checkpoints, fewer than it keeps snapshots of), and the
        // blocks after the target are kept to replay on the synced store.
        let after = run_blocks(&server, &mut generator, &mut model, 12, 4).await;

        // A peer that tampers with its answers: the sync fails and the store stays empty.
        let client_config = StoreConfig::small("client", modules::kind);
        let client_index = LogIndex::in_memory().expect("index");
        let client = Store::open(context.child("client"), client_config.clone(), client_index.clone())
            .await
            .expect("open");
        let liar = InProcess { server: server.clone(), tamper: true };
        let refused =
            client.sync_from(context.child("sync_liar"), target.height, target.commitment, liar).await;
        assert!(refused.is_err(), "a tampered snapshot was accepted");
        assert_eq!(client.applied().await.0, 0);
        assert_eq!(client.unsynced().await, Some(target.height), "no usable state until a sync succeeds");
        assert!(client.read(None, &[ACCOUNTS.key(1)]).await.is_err(), "reads of a partial state are refused");
        // A reopen (as after a crash in the middle of a sync) knows the state is partial.
        drop(client);
        let client =
            Store::open(context.child("client_reopened"), client_config.clone(), client_index.clone())
                .await
                .expect("reopen a partial store");
        assert_eq!(client.unsynced().await, Some(target.height));

        // An honest peer, but a target that is not the state it serves (another records
        // root): refused as a mismatch, nothing kept.
        let honest = InProcess { server: server.clone(), tamper: false };
        let mut wrong = target.commitment;
        wrong.records_root = Hash([7; 32]);
        let refused =
            client.sync_from(context.child("sync_wrong"), target.height, wrong, honest.clone()).await;
        assert!(
            matches!(refused, Err(hansa_state::StoreError::SnapshotMismatch(_))),
            "a snapshot that does not match the target root was not refused: {refused:?}"
        );
        assert_eq!(client.unsynced().await, Some(target.height));

        // The honest peer and the true target: the synced store holds exactly the state at the
        // target, proves its records, and replays the later blocks to the server's roots.
        client
            .sync_from(context.child("sync"), target.height, target.commitment, honest)
            .await
            .expect("sync");
        assert_eq!(client.applied().await, (target.height, target.commitment));
        assert_eq!(client.unsynced().await, None);
        assert_matches(&client, &at_target).await;
        let logged = *at_target.log.keys().next().expect("a log record");
        let (height, commitment, record) = client.prove(&logged).await.expect("prove").expect("present");
        let proof = StateProof {
            format: PROOF_FORMAT,
            header: header_for(&commitment, height),
            state: commitment,
            record,
        };
        assert_eq!(proof.verify(), Ok(()));
        let mut replayed = at_target;
        for (expected_model, expected, writes) in &after {
            let height = client.applied().await.0 + 1;
            let speculation = client.speculate(None, height, writes.clone()).await.expect("speculate");
            assert_eq!(speculation.commitment(), expected, "block {height} after the sync");
            client.apply(&speculation).await.expect("apply");
            replayed.apply(writes);
            assert_eq!(&replayed, expected_model);
        }
        client.checkpoint().await.expect("checkpoint");
        assert_matches(&client, &model).await;
        // A store that holds state does not sync.
        let again = client
            .sync_from(
                context.child("again"),
                target.height,
                target.commitment,
                InProcess { server, tamper: false },
            )
            .await;
        assert!(matches!(again, Err(hansa_state::StoreError::NotEmpty(_))), "{again:?}");
        // And it reopens from its own checkpoint.
        let expected = client.applied().await;
        drop(client);
        let reopened =
            Store::open(context.child("client_again"), client_config, client_index).await.expect("reopen");
        assert_eq!(reopened.applied().await, expected);
        assert_matches(&reopened, &model).await;
    });
}
