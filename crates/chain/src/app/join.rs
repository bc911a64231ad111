//! Joining from a state snapshot: a validator with an empty data folder (or one whose earlier
//! join did not finish) takes the state at a peer's checkpoint instead of replaying every block
//! since genesis.
//!
//! Trust. The only anchor is the genesis file: a [`Snapshot`] is accepted when its header's
//! finality certificate is a quorum of the genesis validators' signatures over that very header
//! (no links), and the header's state root is the hash of the snapshot's commitment. The state
//! itself comes from untrusted peers through QMDB's sync engine and is checked against that
//! commitment ([`hansa_state::Store::sync_from`]); a mismatch is refused and nothing is kept.
//!
//! What the validator then holds: the state at the snapshot's height, an index that starts
//! there ([`Index::bootstrap`]: running totals, account ids and counts recomputed from the
//! synced records; no blocks, batches or account history below) and, for consensus, the
//! snapshot block's finalization ([`crate::Executor::anchor`]), from which marshal and simplex
//! start. Blocks after it are fetched and applied as usual.

use super::{AppConfig, FinalizedBlock, Index, IndexError, LedgerTotals};
use commonware_runtime::Spawner;
use hansa_ledger::{Consortium, modules::ledger::ACCOUNTS, modules::ledger::TRANSFERS};
use hansa_state::{LogIndex, Peers, Store, StoreError, SyncPhases};
use hansa_types::{Account, Decode as _, Header, StateCommitment};
use std::collections::BTreeMap;

/// What a peer offers to sync from (`GET /v1/state/snapshot`): the state commitment at one of
/// its checkpoints, and the finalized header whose state root commits to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The chain the snapshot belongs to.
    pub chain_id: hansa_types::Hash,
    /// The checkpoint's height.
    pub height: u64,
    /// The state commitment at that height.
    pub state: StateCommitment,
    /// The finalized block's header at that height.
    pub header: Header,
    /// The header's finality certificate ([`crate::FinalityCertificate`]): the block's own
    /// finalization, without links.
    #[serde(with = "hansa_types::serde_hex_bytes")]
    pub certificate: Vec<u8>,
}

/// Why a validator could not join from a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The snapshot is not proven by the genesis validators (the text says what is wrong).
    #[error("the snapshot is not acceptable: {0}")]
    Unverified(&'static str),
    /// The state could not be synced (peers, a mismatch, or storage).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index could not be started.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A synced record does not decode.
    #[error("a synced record is malformed: {0}")]
    Malformed(String),
}

impl Snapshot {
    /// Checks the snapshot against the genesis only: same chain, the header at the snapshot's
    /// height commits to its state, and a quorum of the genesis validators finalized exactly
    /// this header.
    pub fn verify(&self, consortium: &Consortium) -> Result<(), JoinError> {
        if self.chain_id != consortium.chain_id {
            return Err(JoinError::Unverified("it belongs to another chain"));
        }
        if self.height == 0 || self.header.height != self.height {
            return Err(JoinError::Unverified("its header is not at its height"));
        }
        if self.header.state_root != self.state.root() {
            return Err(JoinError::Unverified("its header's state root is not its commitment's"));
        }
        let certificate = crate::FinalityCertificate::decode(&self.certificate)
            .map_err(|_| JoinError::Unverified("its certificate does not decode"))?;
        if !certificate.links.is_empty() {
            return Err(JoinError::Unverified(
                "its certificate finalizes a descendant, not the block itself",
            ));
        }
        let validators: Vec<_> =
            consortium.genesis.validators.iter().map(|validator| validator.public_key).collect();
        if !crate::verify_finalization(
            &consortium.chain_id,
            &validators,
            &self.header.digest(),
            &self.certificate,
        ) {
            return Err(JoinError::Unverified("its certificate is not a quorum of the genesis validators"));
        }
        Ok(())
    }
}

/// Where a validator's storage stands before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// No state and no history: a new validator.
    Empty,
    /// A state with its index (the index's height: at or above the state's checkpoint).
    State(u64),
    /// A join did not finish: the state is partial (a sync did not complete) or synced but
    /// the index not started. [`join`] or [`complete_join`] must run before the validator
    /// can start.
    Joining {
        /// The height of the snapshot being joined.
        height: u64,
        /// Whether the state is synced (only the index remains to start).
        synced: bool,
    },
}

/// Where this validator's storage stands. Opens the store (and closes it again) only when the
/// index cannot tell: an index with history means a state beside it (opening it is for
/// `App::open`, once: reopening QMDB is not free).
pub async fn stored_state<E: commonware_storage::Context + Spawner>(
    context: E,
    index: &Index,
    config: &AppConfig,
    log_index: LogIndex,
) -> Result<Stored, JoinError> {
    let indexed = index.indexed_height()?;
    if indexed > 0 {
        // A join records its anchor before the sync and starts the index only after it.
        return Ok(Stored::State(indexed));
    }
    let store = Store::open(context, config.store.clone(), log_index).await?;
    let (height, unsynced) = (store.applied().await.0, store.unsynced().await);
    store.close().await;
    let anchor = index.anchor()?;
    Ok(match (unsynced, anchor) {
        (Some(target), _) => Stored::Joining { height: target, synced: false },
        (None, Some(anchor)) if height == anchor.header.height => Stored::Joining { height, synced: true },
        (None, Some(_)) => Stored::Joining { height, synced: false },
        (None, None) if height == 0 => Stored::Empty,
        (None, None) => Stored::State(height),
    })
}

/// What a join brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The snapshot's height.
    pub height: u64,
    /// Accounts in the synced state.
    pub accounts: u64,
    /// Transfers in the synced state.
    pub transfers: u64,
    /// How long the sync's parts took (zero when a restart found the state already synced).
    pub sync: SyncPhases,
    /// How long reading the synced accounts to start the index took.
    pub bootstrap: std::time::Duration,
}

/// Syncs the state at `snapshot` from `peers` into this validator's store (empty, or left
/// partial by a join that did not finish) and starts its index there. Verifies the snapshot
/// first (see [`Snapshot::verify`]). The store is closed again when it returns:
/// [`super::App::open`] opens it at the snapshot's height.
///
/// Crash safety: the snapshot's block is recorded in the index first, then the state synced
/// (a marker in the store says it is partial until the sync's checkpoint), then the index
/// started; [`stored_state`] tells after a restart which step remains.
pub async fn join<E: commonware_storage::Context + Spawner, P: Peers>(
    context: E,
    consortium: &Consortium,
    index: &Index,
    log_index: LogIndex,
    config: &AppConfig,
    snapshot: &Snapshot,
    peers: P,
) -> Result<Joined, JoinError> {
    snapshot.verify(consortium)?;
    index.set_anchor(&FinalizedBlock {
        header: snapshot.header.clone(),
        digest: snapshot.header.digest(),
        batches: Vec::new(),
        results: Vec::new(),
        state: snapshot.state,
        certificate: snapshot.certificate.clone(),
    })?;
    let store = Store::open(context.child("join_store"), config.store.clone(), log_index).await?;
    // The synced store starts the index too: one open of its databases, not two.
    let result = async {
        let synced = store.sync_from(context.child("sync"), snapshot.height, snapshot.state, peers).await?;
        let transfers = synced.log_entries.get(&TRANSFERS.id.0).copied().unwrap_or(0);
        let started = context.current();
        let mut joined = start_index(&store, index, transfers).await?;
        joined.sync = synced.phases;
        joined.bootstrap = context.current().duration_since(started).unwrap_or_default();
        Ok(joined)
    }
    .await;
    store.close().await;
    result
}

/// Starts the index of a validator whose state was synced to its anchor, after a restart
/// between the two (see [`Stored::Joining`]).
pub async fn complete_join<E: commonware_storage::Context + Spawner>(
    context: E,
    index: &Index,
    log_index: LogIndex,
    config: &AppConfig,
) -> Result<Joined, JoinError> {
    let transfers = log_index.count(TRANSFERS.id.0).map_err(StoreError::from)?;
    let store = Store::open(context.child("join_index"), config.store.clone(), log_index).await?;
    let result = start_index(&store, index, transfers).await;
    store.close().await;
    result
}

/// Starts the index at the synced state: the running totals, account ids and counts,
/// recomputed from the synced records (`transfers`: the log's transfer entries).
async fn start_index<E: commonware_storage::Context + Spawner>(
    store: &Store<E>,
    index: &Index,
    transfers: u64,
) -> Result<Joined, JoinError> {
    let (height, _) = store.applied().await;
    let keys = store.current_keys(ACCOUNTS.id).await?;
    let mut totals: BTreeMap<u32, LedgerTotals> = BTreeMap::new();
    let mut account_ids = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(4_096) {
        for value in store.read(None, chunk).await? {
            let Some(bytes) = value else { continue };
            let account = Account::decode(&bytes).map_err(|error| JoinError::Malformed(error.to_string()))?;
            let total = totals.entry(account.ledger).or_default();
            total.posted = total.posted.wrapping_add(account.debits_posted.0);
            total.pending = total.pending.wrapping_add(account.debits_pending.0);
            total.accounts += 1;
            account_ids.push((account.ledger, account.id));
        }
    }
    let totals: Vec<(u32, LedgerTotals)> = totals.into_iter().collect();
    index.bootstrap(&totals, &account_ids, transfers)?;
    Ok(Joined {
        height,
        accounts: account_ids.len() as u64,
        transfers,
        sync: SyncPhases::default(),
        bootstrap: std::time::Duration::ZERO,
    })
}
