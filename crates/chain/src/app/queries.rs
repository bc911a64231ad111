//! What the API reads: records of the finalized state (from the store), finalized history (from
//! the index), and proofs of records against finalized headers.

use super::{App, IndexError};
use commonware_runtime::Spawner;
use hansa_ledger::modules::ledger::{ACCOUNTS, HOLDS, RESOLUTIONS, TRANSFERS};
use hansa_ledger::{AccountBalance, Resolution};
use hansa_state::{StateProof, StoreError};
use hansa_types::{Account, Decode, PendingStatus, StateKey, Transfer, TransferFlags};
use serde::{Deserialize, Serialize};

/// The most records one query returns.
pub const QUERY_LIMIT_MAX: u32 = 8_190;

/// Why a query failed: storage.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Which of an account's transfers to list (TigerBeetle's `AccountFilter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferFilter {
    /// The account.
    #[serde(with = "hansa_types::serde_u128")]
    pub account_id: u128,
    /// Inclusive bounds on the transfer timestamp (ns); 0 means unbounded.
    #[serde(default)]
    pub timestamp_min: u64,
    /// See `timestamp_min`.
    #[serde(default)]
    pub timestamp_max: u64,
    /// Only transfers with this code (0 = any).
    #[serde(default)]
    pub code: u16,
    /// Only transfers on this ledger (0 = any). An account lives on one ledger, so this either
    /// keeps all of its transfers or none; it lets a client assert the currency it expects.
    #[serde(default)]
    pub ledger: u32,
    /// Include transfers that debit the account.
    #[serde(default = "yes")]
    pub debits: bool,
    /// Include transfers that credit the account.
    #[serde(default = "yes")]
    pub credits: bool,
    /// Newest first.
    #[serde(default)]
    pub reversed: bool,
    /// At most this many (and at most [`QUERY_LIMIT_MAX`]).
    pub limit: u32,
}

fn yes() -> bool {
    true
}

/// One ledger's audit: sums over its accounts as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LedgerAudit {
    /// Accounts read.
    pub accounts: u64,
    /// Σ debits posted (wrapping).
    pub debits_posted: u128,
    /// Σ credits posted (wrapping).
    pub credits_posted: u128,
    /// Σ debits pending (wrapping).
    pub debits_pending: u128,
    /// Σ credits pending (wrapping).
    pub credits_pending: u128,
    /// Accounts past their own balance limit.
    pub limit_violations: u64,
}

impl LedgerAudit {
    /// Σ debits = Σ credits, posted and pending.
    pub fn balanced(&self) -> bool {
        self.debits_posted == self.credits_posted && self.debits_pending == self.credits_pending
    }
}

/// An audit of every ledger at one height.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    /// The height of the state read.
    pub height: u64,
    /// Per ledger id.
    pub ledgers: std::collections::BTreeMap<u32, LedgerAudit>,
    /// Accounts the index lists that the state does not hold (always zero unless broken).
    pub accounts_missing: u64,
}

/// A record proof with the finality certificate of its header: everything `hansa verify`
/// needs besides the genesis file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProofEnvelope {
    /// The record and its proof against the header's state root.
    pub proof: StateProof,
    /// The encoded `FinalityCertificate` of `proof.header`.
    pub certificate: Vec<u8>,
}

impl<E: commonware_storage::Context + Spawner> App<E> {
    /// An account of the finalized state.
    pub async fn account(&self, id: u128) -> Result<Option<Account>, QueryError> {
        let values = self.inner.store.read(None, &[ACCOUNTS.key(id)]).await?;
        Ok(values.into_iter().next().flatten().map(|bytes| Account::decode(&bytes).expect("accounts decode")))
    }

    /// Transfers of the finalized state, with the current status of holds; `None` for ids
    /// that do not exist.
    pub async fn transfers(&self, ids: &[u128]) -> Result<Vec<Option<Transfer>>, QueryError> {
        let mut keys = Vec::with_capacity(ids.len() * 3);
        for id in ids {
            keys.extend([TRANSFERS.key(*id), HOLDS.key(*id), RESOLUTIONS.key(*id)]);
        }
        let values = self.inner.store.read(None, &keys).await?;
        Ok(values
            .chunks(3)
            .map(|chunk| {
                let mut transfer = Transfer::decode(chunk[0].as_ref()?).expect("transfers decode");
                if transfer.flags.has(TransferFlags::PENDING) && chunk[1].is_none() {
                    let resolution = chunk[2].as_ref().expect("a closed hold has a resolution");
                    transfer.status = Resolution::decode(resolution).expect("resolutions decode").status;
                }
                debug_assert!(
                    transfer.flags.has(TransferFlags::PENDING) || transfer.status == PendingStatus::None
                );
                Some(transfer)
            })
            .collect())
    }

    /// One transfer of the finalized state.
    pub async fn transfer(&self, id: u128) -> Result<Option<Transfer>, QueryError> {
        Ok(self.transfers(&[id]).await?.into_iter().next().flatten())
    }

    /// An account's transfers matching `filter`, at most `min(limit, QUERY_LIMIT_MAX)`.
    pub async fn account_transfers(&self, filter: &TransferFilter) -> Result<Vec<Transfer>, QueryError> {
        let limit = filter.limit.min(QUERY_LIMIT_MAX) as usize;
        let timestamp_max = if filter.timestamp_max == 0 { u64::MAX } else { filter.timestamp_max };
        let mut out = Vec::new();
        let mut from = filter.timestamp_min;
        let mut to = timestamp_max;
        // Ids come from the index in pages; the side, code and ledger filters need the records.
        loop {
            let ids = self.inner.index.account_transfers(
                filter.account_id,
                from,
                to,
                filter.reversed,
                limit,
                |_| true,
            )?;
            let exhausted = ids.len() < limit;
            let transfers = self.transfers(&ids).await?;
            let mut last_timestamp = None;
            for transfer in transfers.into_iter().flatten() {
                last_timestamp = Some(transfer.timestamp);
                let side = (filter.debits && transfer.debit_account_id == filter.account_id)
                    || (filter.credits && transfer.credit_account_id == filter.account_id);
                let code = filter.code == 0 || transfer.code == filter.code;
                let ledger = filter.ledger == 0 || transfer.ledger == filter.ledger;
                if side && code && ledger && out.len() < limit {
                    out.push(transfer);
                }
            }
            match last_timestamp {
                Some(timestamp) if !exhausted && out.len() < limit => {
                    // Timestamps are unique per operation, so the next page starts past it.
                    if filter.reversed {
                        let Some(next) = timestamp.checked_sub(1) else { break };
                        to = next;
                    } else {
                        let Some(next) = timestamp.checked_add(1) else { break };
                        from = next;
                    }
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// The balances of an account with the `history` flag after block `height`.
    pub fn balance_at(&self, id: u128, height: u64) -> Result<Option<AccountBalance>, QueryError> {
        Ok(self.inner.index.balance_at(id, height)?)
    }

    /// The recorded balance history of an account with the `history` flag, oldest first.
    pub fn balance_history(&self, id: u128, limit: u32) -> Result<Vec<AccountBalance>, QueryError> {
        let limit = limit.min(QUERY_LIMIT_MAX) as usize;
        Ok(self.inner.index.balances(id, limit)?.into_iter().map(|(_, balance)| balance).collect())
    }

    /// An audit of every ledger: every account read from the applied state (one consistent
    /// state), summed, and checked against its limits. Independent of the per-block checks and
    /// of the index's running totals, which it also compares.
    pub async fn audit(&self) -> Result<Audit, QueryError> {
        let mut ids = Vec::new();
        for spec in &self.consortium().genesis.ledgers {
            ids.extend(self.inner.index.account_ids(spec.id)?);
        }
        let keys: Vec<StateKey> = ids.iter().map(|id| ACCOUNTS.key(*id)).collect();
        let (height, values) = self.inner.store.read_tip(&keys).await?;
        let mut ledgers: std::collections::BTreeMap<u32, LedgerAudit> = std::collections::BTreeMap::new();
        let mut missing = 0;
        for value in values {
            let Some(bytes) = value else {
                missing += 1;
                continue;
            };
            let account = Account::decode(&bytes).expect("accounts decode");
            let audit = ledgers.entry(account.ledger).or_default();
            audit.accounts += 1;
            for (sum, amount) in [
                (&mut audit.debits_posted, account.debits_posted),
                (&mut audit.credits_posted, account.credits_posted),
                (&mut audit.debits_pending, account.debits_pending),
                (&mut audit.credits_pending, account.credits_pending),
            ] {
                *sum = sum.wrapping_add(amount.0);
            }
            if !hansa_ledger::modules::ledger::within_limits(&account) {
                audit.limit_violations += 1;
            }
        }
        Ok(Audit { height, ledgers, accounts_missing: missing })
    }

    /// A proof of the record `key` against the latest finalized header it can be proven
    /// against (the applied state's), with that header's certificate. `None` if absent.
    pub async fn prove(&self, key: &StateKey) -> Result<Option<RecordProofEnvelope>, QueryError> {
        let Some((height, state, record)) = self.inner.store.prove(key).await? else {
            return Ok(None);
        };
        let block = self.inner.index.header_at(height)?;
        let Some(block) = block else {
            // Height 0 (genesis) holds no record; a record exists only after some block.
            return Ok(None);
        };
        debug_assert_eq!(block.state, state);
        let proof =
            StateProof { format: hansa_state::proof::PROOF_FORMAT, header: block.header, state, record };
        Ok(Some(RecordProofEnvelope { proof, certificate: block.certificate }))
    }
}
