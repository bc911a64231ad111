//! A small consortium to test against.

use hansa_ledger::{BlockOutcome, Consortium, History, Ledger, Signatures};
use hansa_types::{
    AccountFlags, Amount, Batch, Genesis, LedgerSpec, NewAccount, NewTransfer, Operation, OrgId,
    OrganisationSpec, ResultCode, Role, SealedBatch, SecretKey, SignedBatch, TransferFlags, ValidatorSpec,
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

pub fn key(org: OrgId) -> SecretKey {
    SecretKey::from_seed([org.0 as u8; 32])
}

pub fn genesis() -> Genesis {
    let org = |id: OrgId, name: &str, role| OrganisationSpec {
        id,
        name: name.into(),
        role,
        public_key: key(id).public_key(),
    };
    Genesis {
        chain_name: "test".into(),
        genesis_time_ms: 1_000,
        organisations: vec![
            org(PLATFORM, "Platform", Role::Platform),
            org(MERCHANT, "Merchant", Role::Merchant),
            org(BANK, "Bank", Role::PaymentInstitution),
            org(AUDITOR, "Auditor", Role::Auditor),
        ],
        ledgers: vec![
            LedgerSpec { id: CNY, currency: "CNY".into(), scale: 2, issuer: BANK },
            LedgerSpec { id: USD, currency: "USD".into(), scale: 2, issuer: BANK },
        ],
        validators: vec![ValidatorSpec {
            name: "v0".into(),
            org: PLATFORM,
            public_key: SecretKey::from_seed([99; 32]).public_key(),
            p2p_address: "127.0.0.1:7000".into(),
            api_address: "127.0.0.1:8000".into(),
        }],
    }
}

/// A ledger with a driver that signs batches and advances blocks.
pub struct Harness {
    pub ledger: Ledger,
    /// Query indexes, recorded after every block `block_after` executes.
    pub history: History,
    pub sequence: u64,
    pub time_ms: u64,
}

impl Harness {
    pub fn new() -> Harness {
        let consortium = Arc::new(Consortium::new(genesis()).expect("valid genesis"));
        Harness { ledger: Ledger::new(consortium), history: History::default(), sequence: 0, time_ms: 1_000 }
    }

    pub fn batch(&mut self, org: OrgId, operations: Vec<Operation>) -> SignedBatch {
        self.sequence += 1;
        Batch { chain_id: self.ledger.consortium().chain_id, org, sequence: self.sequence, operations }
            .sign(&key(org))
    }

    /// Executes one block of one batch, advancing time by `advance_ms`.
    pub fn block_after(&mut self, advance_ms: u64, batches: Vec<SignedBatch>) -> BlockOutcome {
        self.time_ms += advance_ms;
        let height = self.ledger.height() + 1;
        let batches: Vec<SealedBatch> = batches.into_iter().map(SealedBatch::from).collect();
        let outcome = self
            .ledger
            .execute_block(height, self.time_ms, &batches, Signatures::Verify)
            .expect("a valid block");
        self.history.record(&self.ledger);
        outcome
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

    pub fn balance(&self, id: u128) -> i128 {
        let account = self.ledger.account(id).expect("account exists");
        account.credits_posted.0 as i128 - account.debits_posted.0 as i128
    }
}

pub fn account(id: u128, ledger: u32, flags: u16) -> Operation {
    Operation::CreateAccount(NewAccount {
        id,
        ledger,
        code: 1,
        flags: AccountFlags(flags),
        ..Default::default()
    })
}

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
    }
}

pub fn resolve(id: u128, pending_id: u128, amount: u128, flag: u16) -> Operation {
    Operation::CreateTransfer(NewTransfer {
        id,
        pending_id,
        amount: Amount(amount),
        flags: TransferFlags(flag),
        ..Default::default()
    })
}

/// Σ debits = Σ credits on every ledger, posted and pending.
pub fn assert_balanced(ledger: &Ledger) {
    for (id, [debits_posted, credits_posted, debits_pending, credits_pending]) in ledger.totals() {
        assert_eq!(debits_posted, credits_posted, "ledger {id} posted");
        assert_eq!(debits_pending, credits_pending, "ledger {id} pending");
    }
}
