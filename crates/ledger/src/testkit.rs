//! The one test kit: a demo consortium (organisations, keys derived from fixed seeds, ledgers,
//! validators), builders for operations, and a [`Harness`] that executes blocks on a
//! [`MemoryState`]. Every crate's tests use it, and the devnet seeds its demo data with its
//! builders, so there is one description of "a small consortium" in the repository.
//!
//! Keys from fixed seeds are for tests and demos only: anyone can derive them.

use crate::{BlockOutcome, Consortium, Ledger, MemoryState, SequenceWindow, Signatures, sequence_key};
use hansa_types::{
    Account, AccountFlags, Amount, Batch, Decode, Genesis, KeyPermissions, LedgerSpec, NewAccount, NewKey,
    NewTransfer, Operation, OrgId, OrganisationSpec, PublicKey, ROOT_KEY, ResultCode, Role, SealedBatch,
    SecretKey, SignedBatch, Transfer, TransferFlags, ValidatorSpec,
};
use std::sync::Arc;

pub const PLATFORM: OrgId = OrgId(1);
pub const MERCHANT: OrgId = OrgId(2);
pub const BANK: OrgId = OrgId(3);
pub const AUDITOR: OrgId = OrgId(4);
pub const CNY: u32 = 1;
pub const USD: u32 = 2;
/// The bank's issuance account for CNY.
pub const ISSUANCE: u128 = 1_000;
/// The demo consortium's genesis time (ms).
pub const GENESIS_TIME_MS: u64 = 1_000;

/// The key of a demo organisation (seed = its id, repeated).
pub fn key(org: OrgId) -> SecretKey {
    SecretKey::from_seed([org.0 as u8; 32])
}

/// Delegated key number `id` of a demo organisation (seed = its id, then the key number).
pub fn delegated_key(org: OrgId, id: u32) -> SecretKey {
    let mut seed = [org.0 as u8; 32];
    seed[..4].copy_from_slice(&id.to_le_bytes());
    seed[4] = 0xde;
    SecretKey::from_seed(seed)
}

/// `RegisterKey` of [`delegated_key`] `id` of `org` with `permissions` (a `KeyPermissions` bit
/// set), any account, any ledger, no limit, no expiry.
pub fn register_key(org: OrgId, id: u32, permissions: u16) -> Operation {
    Operation::RegisterKey(NewKey {
        id,
        public_key: delegated_key(org, id).public_key(),
        permissions: KeyPermissions(permissions),
        accounts: Default::default(),
        ledger: 0,
        spend_limit: Amount::ZERO,
        period_s: 0,
        expires_at_ms: 0,
    })
}

/// The demo organisations: a platform, a merchant, a bank issuing CNY and USD, an auditor.
pub fn organisations() -> Vec<OrganisationSpec> {
    let org = |id: OrgId, name: &str, role| OrganisationSpec {
        id,
        name: name.into(),
        role,
        public_key: key(id).public_key(),
    };
    vec![
        org(PLATFORM, "Platform", Role::Platform),
        org(MERCHANT, "Merchant", Role::Merchant),
        org(BANK, "Bank", Role::PaymentInstitution),
        org(AUDITOR, "Auditor", Role::Auditor),
    ]
}

/// The demo ledgers: CNY and USD, both issued by the bank.
pub fn ledgers() -> Vec<LedgerSpec> {
    vec![
        LedgerSpec { id: CNY, currency: "CNY".into(), scale: 2, issuer: BANK },
        LedgerSpec { id: USD, currency: "USD".into(), scale: 2, issuer: BANK },
    ]
}

/// The demo genesis with the given validator keys (127.0.0.1 addresses from ports 7000/8000).
pub fn genesis_with_validators(name: &str, validators: &[PublicKey]) -> Genesis {
    Genesis {
        chain_name: name.into(),
        genesis_time_ms: GENESIS_TIME_MS,
        organisations: organisations(),
        ledgers: ledgers(),
        validators: validators
            .iter()
            .enumerate()
            .map(|(index, public_key)| ValidatorSpec {
                name: format!("v{index}"),
                org: PLATFORM,
                public_key: *public_key,
                p2p_address: format!("127.0.0.1:{}", 7_000 + index),
                api_address: format!("127.0.0.1:{}", 8_000 + index),
            })
            .collect(),
    }
}

/// The demo genesis with one validator.
pub fn genesis() -> Genesis {
    genesis_with_validators("test", &[SecretKey::from_seed([99; 32]).public_key()])
}

/// The demo consortium with one validator.
pub fn consortium() -> Arc<Consortium> {
    Arc::new(Consortium::new(genesis()).expect("the demo genesis is valid"))
}

/// `CreateAccount` with code 1.
pub fn account(id: u128, ledger: u32, flags: u16) -> Operation {
    Operation::CreateAccount(NewAccount {
        id,
        ledger,
        code: 1,
        flags: AccountFlags(flags),
        ..Default::default()
    })
}

/// A CNY transfer with code 1.
pub fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> Operation {
    Operation::CreateTransfer(NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount: Amount(amount),
        ledger: CNY,
        code: 1,
        ..Default::default()
    })
}

/// The operation with `flags` added.
pub fn with_flags(operation: Operation, flags: u16) -> Operation {
    match operation {
        Operation::CreateTransfer(mut transfer) => {
            transfer.flags = TransferFlags(transfer.flags.0 | flags);
            Operation::CreateTransfer(transfer)
        }
        Operation::CreateAccount(mut account) => {
            account.flags = AccountFlags(account.flags.0 | flags);
            Operation::CreateAccount(account)
        }
        Operation::RegisterKey(_) | Operation::RevokeKey(_) => panic!("key operations have no flags"),
    }
}

/// A post (`TransferFlags::POST_PENDING_TRANSFER`) or void of hold `pending_id`.
pub fn resolve(id: u128, pending_id: u128, amount: u128, flag: u16) -> Operation {
    Operation::CreateTransfer(NewTransfer {
        id,
        pending_id,
        amount: Amount(amount),
        flags: TransferFlags(flag),
        ..Default::default()
    })
}

/// A ledger over a [`MemoryState`], with a driver that signs batches and advances blocks.
pub struct Harness {
    pub ledger: Ledger,
    pub state: MemoryState,
    pub sequence: u64,
    pub time_ms: u64,
    pub height: u64,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            ledger: Ledger::new(consortium()),
            state: MemoryState::new(),
            sequence: 0,
            time_ms: GENESIS_TIME_MS,
            height: 0,
        }
    }

    /// A batch of `org`'s, numbered with the harness's next sequence number and signed.
    pub fn batch(&mut self, org: OrgId, operations: Vec<Operation>) -> SignedBatch {
        self.sequence += 1;
        Batch {
            chain_id: self.ledger.consortium().chain_id,
            org,
            key: ROOT_KEY,
            sequence: self.sequence,
            operations,
        }
        .sign(&key(org))
    }

    /// A batch of `org`'s signed by its [`delegated_key`] `id`, numbered `sequence`.
    pub fn delegated_batch(
        &self,
        org: OrgId,
        id: u32,
        sequence: u64,
        operations: Vec<Operation>,
    ) -> SignedBatch {
        Batch { chain_id: self.ledger.consortium().chain_id, org, key: id, sequence, operations }
            .sign(&delegated_key(org, id))
    }

    /// Executes one block, `advance_ms` after the last; panics if the block is invalid.
    pub fn block_after(&mut self, advance_ms: u64, batches: Vec<SignedBatch>) -> BlockOutcome {
        let batches: Vec<SealedBatch> = batches.into_iter().map(SealedBatch::from).collect();
        self.try_block(advance_ms, &batches).expect("a valid block")
    }

    /// Executes one block if it is valid; an invalid block changes nothing.
    pub fn try_block(
        &mut self,
        advance_ms: u64,
        batches: &[SealedBatch],
    ) -> Result<BlockOutcome, crate::BlockError> {
        let time_ms = self.time_ms + advance_ms;
        let outcome = self.state.execute(&self.ledger, time_ms, batches, Signatures::Verify)?;
        // The decoded transfers the outcome carries are the write set's, in order.
        let logged: Vec<hansa_types::Transfer> = outcome
            .writes
            .log
            .iter()
            .filter(|append| append.key.table == crate::modules::ledger::TRANSFERS.id)
            .map(|append| hansa_types::Decode::decode(&append.value).expect("logged transfers decode"))
            .collect();
        assert_eq!(outcome.transfers, logged, "the outcome's transfers are the write set's");
        self.time_ms = time_ms;
        self.height += 1;
        Ok(outcome)
    }

    pub fn submit(&mut self, org: OrgId, operations: Vec<Operation>) -> Vec<ResultCode> {
        let batch = self.batch(org, operations);
        self.block_after(1, vec![batch]).results
    }

    pub fn one(&mut self, org: OrgId, operation: Operation) -> ResultCode {
        self.submit(org, vec![operation])[0]
    }

    /// The standard set-up: the bank's issuance account, and limited accounts 1..=4 (platform
    /// owns 1 and 2, merchant 3 and 4), each funded with `funding` by the bank.
    pub fn funded(funding: u128) -> Harness {
        let mut harness = Harness::new();
        let issuance = account(ISSUANCE, CNY, AccountFlags::ISSUANCE);
        assert_eq!(harness.one(BANK, issuance), ResultCode::Ok);
        let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
        let results = harness.submit(PLATFORM, vec![account(1, CNY, limited), account(2, CNY, limited)]);
        assert_eq!(results, vec![ResultCode::Ok; 2]);
        let results = harness.submit(MERCHANT, vec![account(3, CNY, limited), account(4, CNY, limited)]);
        assert_eq!(results, vec![ResultCode::Ok; 2]);
        let mints = (1..=4).map(|id| transfer(100 + id, ISSUANCE, id, funding)).collect();
        assert_eq!(harness.submit(BANK, mints), vec![ResultCode::Ok; 4]);
        harness
    }

    pub fn account(&self, id: u128) -> Option<Account> {
        self.state.account(id)
    }

    pub fn transfer(&self, id: u128) -> Option<Transfer> {
        self.state.transfer(id)
    }

    /// The sequence window of key `key` of `org` in the state.
    pub fn window(&self, org: OrgId, key: u32) -> Option<SequenceWindow> {
        self.state
            .get(&sequence_key(org, key))
            .map(|bytes| SequenceWindow::decode(bytes).expect("windows decode"))
    }

    /// Delegated key `id` of `org` in the state.
    pub fn delegated(&self, org: OrgId, id: u32) -> Option<hansa_types::DelegatedKey> {
        self.state.get(&crate::key_record(org, id)).map(|bytes| Decode::decode(bytes).expect("keys decode"))
    }

    /// Credits posted minus debits posted.
    pub fn balance(&self, id: u128) -> i128 {
        let account = self.account(id).expect("account exists");
        account.credits_posted.0 as i128 - account.debits_posted.0 as i128
    }

    /// Asserts Σ debits = Σ credits on every ledger, posted and pending.
    pub fn assert_balanced(&self) {
        for (id, [debits_posted, credits_posted, debits_pending, credits_pending]) in self.state.totals() {
            assert_eq!(debits_posted, credits_posted, "ledger {id} posted");
            assert_eq!(debits_pending, credits_pending, "ledger {id} pending");
        }
    }
}
