//! Measures the ledger alone: executing blocks of random transfers between 10,000 accounts.
//! Run: `cargo run --release -p hansa-ledger --example execute_speed`

use hansa_ledger::{Consortium, Ledger, Signatures};
use hansa_types::{
    AccountFlags, Amount, Batch, Genesis, LedgerSpec, NewAccount, NewTransfer, Operation, OrgId,
    OrganisationSpec, Role, SecretKey, TransferFlags, ValidatorSpec,
};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let key = SecretKey::from_seed([3; 32]);
    let genesis = Genesis {
        chain_name: "speed".into(),
        genesis_time_ms: 1,
        organisations: vec![OrganisationSpec {
            id: OrgId(3),
            name: "Bank".into(),
            role: Role::PaymentInstitution,
            public_key: key.public_key(),
        }],
        ledgers: vec![LedgerSpec { id: 1, currency: "CNY".into(), scale: 2, issuer: OrgId(3) }],
        validators: vec![ValidatorSpec {
            name: "v".into(),
            org: OrgId(3),
            public_key: SecretKey::from_seed([9; 32]).public_key(),
            p2p_address: "127.0.0.1:1".into(),
            api_address: "127.0.0.1:2".into(),
        }],
    };
    let consortium = Arc::new(Consortium::new(genesis).expect("valid"));
    let chain_id = consortium.chain_id;
    let mut ledger = Ledger::new(consortium);
    let mut sequence = 0;
    let mut height = 0;
    let mut sign = |operations: Vec<Operation>| {
        sequence += 1;
        Batch { chain_id, org: OrgId(3), sequence, operations }.sign(&key).seal()
    };
    let accounts: Vec<Operation> = (1..=8_000u128)
        .map(|id| {
            Operation::CreateAccount(NewAccount {
                id,
                ledger: 1,
                code: 1,
                flags: AccountFlags(0),
                ..Default::default()
            })
        })
        .collect();
    height += 1;
    ledger.execute_block(height, height * 10, &[sign(accounts)], Signatures::Verify).expect("valid");
    let mut state = 12345u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut id = 1u128 << 64;
    let blocks = 40;
    let batches_per_block = 8;
    let mut prepared = Vec::new();
    for _ in 0..blocks {
        let mut batches = Vec::new();
        for _ in 0..batches_per_block {
            let transfers = (0..8_190)
                .map(|_| {
                    id += 1;
                    let debit = 1 + (next() % 8_000) as u128;
                    let credit = 1 + ((debit as u64 + 1 + next() % 7_998) % 8_000) as u128;
                    Operation::CreateTransfer(NewTransfer {
                        id,
                        debit_account_id: debit,
                        credit_account_id: credit,
                        amount: Amount(1 + u128::from(next() % 20_000)),
                        ledger: 1,
                        code: 1,
                        flags: TransferFlags(0),
                        ..Default::default()
                    })
                })
                .collect();
            batches.push(sign(transfers));
        }
        prepared.push(batches);
    }
    for signatures in [Signatures::AlreadyVerified, Signatures::Verify] {
        let mut fork = ledger.clone();
        let mut h = height;
        let start = Instant::now();
        let mut operations = 0;
        let mut block_ms = Vec::new();
        for batches in &prepared {
            h += 1;
            let block_start = Instant::now();
            let outcome = fork.execute_block(h, h * 10, batches, signatures).expect("valid");
            block_ms.push(block_start.elapsed().as_secs_f64() * 1e3);
            operations += outcome.results.len();
        }
        // Whether a block gets slower as the state grows.
        println!(
            "  ms per block of 65,520, first 3 {:.0?}, last 3 {:.0?}",
            &block_ms[..3],
            &block_ms[block_ms.len() - 3..]
        );
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "{signatures:?}: {operations} transfers in {elapsed:.3} s = {:.0} transfers/s ({:.2} µs each)",
            operations as f64 / elapsed,
            elapsed * 1e6 / operations as f64
        );
    }
}
