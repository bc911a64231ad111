//! Delegated keys: what a key may sign, how it numbers its batches, its limits, its expiry and
//! its revocation, and every registration the keys module refuses.

use hansa_ledger::testkit::*;
use hansa_ledger::{BlockError, Signatures, Signer};
use hansa_types::batch::BatchError;
use hansa_types::{
    AccountFlags, Amount, Batch, DELEGATED_KEY_ID_MAX, KeyAccounts, KeyPermissions, KeyRevocation, NewKey,
    Operation, PublicKey, ROOT_KEY, ResultCode, SealedBatch, SignedBatch, TransferFlags,
};

const TRANSFERS: u16 = KeyPermissions::CREATE_TRANSFER;
const DAY_MS: u64 = 86_400_000;

/// A checkout terminal's key: transfers from account 1 only, on CNY, at most `limit` a day.
fn terminal(id: u32, limit: u128) -> Operation {
    let Operation::RegisterKey(mut key) = register_key(PLATFORM, id, TRANSFERS | KeyPermissions::SPEND_LIMIT)
    else {
        unreachable!()
    };
    key.accounts = KeyAccounts::from_ids(&[1]).expect("one account");
    key.ledger = CNY;
    key.spend_limit = Amount(limit);
    key.period_s = 86_400;
    Operation::RegisterKey(key)
}

fn revoke(id: u32) -> Operation {
    Operation::RevokeKey(KeyRevocation { id })
}

/// Executes one block of `batches`, `advance_ms` after the last.
fn block(
    harness: &mut Harness,
    advance_ms: u64,
    batches: Vec<SignedBatch>,
) -> Result<Vec<ResultCode>, BatchError> {
    let sealed: Vec<SealedBatch> = batches.into_iter().map(SealedBatch::from).collect();
    match harness.try_block(advance_ms, &sealed) {
        Ok(outcome) => Ok(outcome.results),
        Err(BlockError::Batch { error, .. }) => Err(error),
        Err(other) => panic!("unexpected {other}"),
    }
}

#[test]
fn a_terminal_key_moves_money_only_from_its_account_within_its_daily_limit() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(PLATFORM, terminal(1, 100)), ResultCode::Ok);
    let pay = |id, debit, amount| transfer(id, debit, 3, amount);
    let batch = harness.delegated_batch(PLATFORM, 1, 1, vec![pay(1, 1, 50)]);
    assert_eq!(block(&mut harness, 1, vec![batch]), Ok(vec![ResultCode::Ok]));
    assert_eq!(harness.balance(3), 1_050);
    // Another account of the platform's: refused, and nothing moved or was counted.
    let batch = harness.delegated_batch(PLATFORM, 1, 2, vec![pay(2, 2, 10)]);
    assert_eq!(block(&mut harness, 1, vec![batch]), Ok(vec![ResultCode::KeyAccountNotAllowed]));
    assert_eq!(harness.balance(2), 1_000);
    // 50 + 60 is over the day's 100; 50 more is exactly the limit.
    let batch = harness.delegated_batch(PLATFORM, 1, 3, vec![pay(3, 1, 60), pay(4, 1, 50), pay(5, 1, 1)]);
    let results = block(&mut harness, 1, vec![batch]);
    assert_eq!(
        results,
        Ok(vec![ResultCode::KeySpendLimitExceeded, ResultCode::Ok, ResultCode::KeySpendLimitExceeded])
    );
    assert_eq!(harness.balance(1), 900);
    assert_eq!(harness.delegated(PLATFORM, 1).expect("registered").spent, Amount(100));
    // The root key has no limit.
    assert_eq!(harness.one(PLATFORM, pay(6, 1, 500)), ResultCode::Ok);
    // The next day the limit is whole again.
    let batch = harness.delegated_batch(PLATFORM, 1, 4, vec![pay(7, 1, 100)]);
    assert_eq!(block(&mut harness, DAY_MS, vec![batch]), Ok(vec![ResultCode::Ok]));
    harness.assert_balanced();
}

#[test]
fn a_key_limited_to_one_ledger_moves_nothing_on_another() {
    let mut harness = Harness::funded(1_000);
    let Operation::RegisterKey(mut new) = register_key(PLATFORM, 1, TRANSFERS) else { unreachable!() };
    new.ledger = USD;
    assert_eq!(harness.one(PLATFORM, Operation::RegisterKey(new)), ResultCode::Ok);
    let batch = harness.delegated_batch(PLATFORM, 1, 1, vec![transfer(1, 1, 3, 5)]);
    assert_eq!(block(&mut harness, 1, vec![batch]), Ok(vec![ResultCode::KeyLedgerNotAllowed]));
    assert_eq!(harness.balance(1), 1_000);
}

#[test]
fn a_hold_counts_when_placed_and_its_post_counts_nothing() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(PLATFORM, terminal(1, 100)), ResultCode::Ok);
    let hold = with_flags(transfer(1, 1, 3, 80), TransferFlags::PENDING);
    let post = resolve(2, 1, 80, TransferFlags::POST_PENDING_TRANSFER);
    let batch = harness.delegated_batch(PLATFORM, 1, 1, vec![hold, post]);
    assert_eq!(block(&mut harness, 1, vec![batch]), Ok(vec![ResultCode::Ok, ResultCode::Ok]));
    assert_eq!(harness.delegated(PLATFORM, 1).expect("registered").spent, Amount(80));
    // A closing hold from its account that would close account 2, which it may not use.
    let closing = with_flags(transfer(5, 1, 2, 1), TransferFlags::PENDING | TransferFlags::CLOSING_CREDIT);
    let batch = harness.delegated_batch(PLATFORM, 1, 3, vec![closing]);
    assert_eq!(block(&mut harness, 1, vec![batch]), Ok(vec![ResultCode::KeyAccountNotAllowed]));
    assert!(!harness.account(2).expect("exists").flags.has(AccountFlags::CLOSED));
    // A hold on account 2 placed by the root key: the terminal may not post it.
    let other = with_flags(transfer(3, 2, 3, 10), TransferFlags::PENDING);
    assert_eq!(harness.one(PLATFORM, other), ResultCode::Ok);
    let batch = harness.delegated_batch(
        PLATFORM,
        1,
        2,
        vec![resolve(4, 3, 10, TransferFlags::POST_PENDING_TRANSFER)],
    );
    assert_eq!(block(&mut harness, 1, vec![batch]), Ok(vec![ResultCode::KeyAccountNotAllowed]));
    harness.assert_balanced();
}

#[test]
fn a_key_submits_only_the_operations_it_may() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(PLATFORM, terminal(1, 100)), ResultCode::Ok);
    let before = harness.state.clone();
    let cases = [
        (account(30, CNY, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS), "create_account"),
        (register_key(PLATFORM, 2, TRANSFERS), "register_key"),
        (revoke(1), "revoke_key"),
    ];
    for (sequence, (operation, name)) in (1..).zip(cases) {
        let batch = harness.delegated_batch(PLATFORM, 1, sequence, vec![transfer(1, 1, 3, 1), operation]);
        let expected = BatchError::KeyNotPermitted { org: PLATFORM, key: 1, operation: name };
        assert_eq!(block(&mut harness, 1, vec![batch]), Err(expected));
    }
    assert_eq!(harness.state.records, before.records, "nothing changed");
}

#[test]
fn each_key_numbers_its_own_batches() {
    let mut harness = Harness::funded(1_000);
    let keys = vec![register_key(PLATFORM, 1, TRANSFERS), register_key(PLATFORM, 2, TRANSFERS)];
    assert_eq!(harness.submit(PLATFORM, keys), vec![ResultCode::Ok; 2]);
    let root_sequence = harness.sequence + 1;
    // The same number under three keys: three different batches, all fresh.
    let root = Batch {
        chain_id: harness.ledger.consortium().chain_id,
        org: PLATFORM,
        key: ROOT_KEY,
        sequence: root_sequence,
        operations: vec![transfer(1, 1, 3, 1)],
    }
    .sign(&key(PLATFORM));
    let one = harness.delegated_batch(PLATFORM, 1, root_sequence, vec![transfer(2, 1, 3, 1)]);
    let two = harness.delegated_batch(PLATFORM, 2, root_sequence, vec![transfer(3, 2, 3, 1)]);
    assert_eq!(block(&mut harness, 1, vec![root, one, two]), Ok(vec![ResultCode::Ok; 3]));
    // A second signer far ahead (a clock-based numbering started later) does not push the
    // first signer's numbers out of its window: the reported two-signer replay.
    let ahead = harness.delegated_batch(PLATFORM, 2, 1_000_000_000, vec![transfer(4, 2, 3, 1)]);
    let behind = harness.delegated_batch(PLATFORM, 1, root_sequence + 1, vec![transfer(5, 1, 3, 1)]);
    assert_eq!(block(&mut harness, 1, vec![ahead, behind]), Ok(vec![ResultCode::Ok; 2]));
    // Within one key, a number is still used once.
    let again = harness.delegated_batch(PLATFORM, 1, root_sequence + 1, vec![transfer(6, 1, 3, 1)]);
    let expected = BatchError::Replayed { org: PLATFORM, key: 1, sequence: root_sequence + 1 };
    assert_eq!(block(&mut harness, 1, vec![again]), Err(expected));
    assert!(harness.window(PLATFORM, 1).is_some() && harness.window(PLATFORM, 2).is_some());
}

#[test]
fn revocation_takes_effect_at_the_next_block() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(PLATFORM, register_key(PLATFORM, 1, TRANSFERS)), ResultCode::Ok);
    // The revocation and a batch of the key in one block: the block's envelopes are checked at
    // its start, so the key's batch still applies.
    let revocation = harness.batch(PLATFORM, vec![revoke(1)]);
    let payment = harness.delegated_batch(PLATFORM, 1, 1, vec![transfer(1, 1, 3, 5)]);
    assert_eq!(block(&mut harness, 1, vec![revocation, payment]), Ok(vec![ResultCode::Ok; 2]));
    let late = harness.delegated_batch(PLATFORM, 1, 2, vec![transfer(2, 1, 3, 5)]);
    assert_eq!(
        block(&mut harness, 1, vec![late.clone()]),
        Err(BatchError::KeyRevoked { org: PLATFORM, key: 1 })
    );
    let signer = harness.delegated(PLATFORM, 1);
    let check = harness.ledger.check_batch(
        &late.seal(),
        Signer { window: None, key: signer.as_ref() },
        harness.time_ms,
        Signatures::Verify,
    );
    assert_eq!(check, Err(BatchError::KeyRevoked { org: PLATFORM, key: 1 }));
    // Revoked for good: not again, and its number is not reused.
    assert_eq!(harness.one(PLATFORM, revoke(1)), ResultCode::KeyAlreadyRevoked);
    assert_eq!(harness.one(PLATFORM, register_key(PLATFORM, 1, TRANSFERS)), ResultCode::KeyIdAlreadyUsed);
    assert_eq!(harness.balance(1), 995);
}

#[test]
fn a_key_expires_by_consensus_time() {
    let mut harness = Harness::funded(1_000);
    let Operation::RegisterKey(mut new) = register_key(PLATFORM, 1, TRANSFERS) else { unreachable!() };
    new.expires_at_ms = harness.time_ms + 10;
    assert_eq!(harness.one(PLATFORM, Operation::RegisterKey(new)), ResultCode::Ok);
    let early = harness.delegated_batch(PLATFORM, 1, 1, vec![transfer(1, 1, 3, 5)]);
    assert_eq!(block(&mut harness, 5, vec![early]), Ok(vec![ResultCode::Ok]));
    let late = harness.delegated_batch(PLATFORM, 1, 2, vec![transfer(2, 1, 3, 5)]);
    assert_eq!(block(&mut harness, 5, vec![late]), Err(BatchError::KeyExpired { org: PLATFORM, key: 1 }));
}

#[test]
fn a_batch_of_an_unknown_key_or_signed_by_another_key_is_refused() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(PLATFORM, register_key(PLATFORM, 1, TRANSFERS)), ResultCode::Ok);
    let unknown = harness.delegated_batch(PLATFORM, 9, 1, vec![transfer(1, 1, 3, 5)]);
    assert_eq!(block(&mut harness, 1, vec![unknown]), Err(BatchError::UnknownKey { org: PLATFORM, key: 9 }));
    // Key 1's number, signed by the merchant's key 1.
    let forged = Batch {
        chain_id: harness.ledger.consortium().chain_id,
        org: PLATFORM,
        key: 1,
        sequence: 1,
        operations: vec![transfer(2, 1, 3, 5)],
    }
    .sign(&delegated_key(MERCHANT, 1));
    assert_eq!(block(&mut harness, 1, vec![forged]), Err(BatchError::BadSignature(PLATFORM)));
    // Another organisation's key number is not this organisation's.
    assert_eq!(harness.one(MERCHANT, register_key(MERCHANT, 2, TRANSFERS)), ResultCode::Ok);
    let borrowed = Batch {
        chain_id: harness.ledger.consortium().chain_id,
        org: PLATFORM,
        key: 2,
        sequence: 1,
        operations: vec![transfer(3, 1, 3, 5)],
    }
    .sign(&delegated_key(MERCHANT, 2));
    assert_eq!(block(&mut harness, 1, vec![borrowed]), Err(BatchError::UnknownKey { org: PLATFORM, key: 2 }));
}

#[test]
fn bad_registrations_are_refused_and_change_nothing() {
    let mut harness = Harness::funded(1_000);
    let base = || {
        let Operation::RegisterKey(key) = register_key(PLATFORM, 1, TRANSFERS) else { unreachable!() };
        key
    };
    let not_a_point = (0..=255u8)
        .map(|byte| PublicKey([byte; 32]))
        .find(|key| key.prepare().is_none())
        .expect("some 32-byte strings are not ed25519 points");
    let cases: Vec<(NewKey, ResultCode)> = vec![
        (NewKey { id: 0, ..base() }, ResultCode::KeyIdMustNotBeZero),
        (NewKey { id: DELEGATED_KEY_ID_MAX + 1, ..base() }, ResultCode::KeyIdTooLarge),
        (NewKey { id: u32::MAX, ..base() }, ResultCode::KeyIdTooLarge),
        (NewKey { permissions: KeyPermissions(1 << 9), ..base() }, ResultCode::KeyPermissionsReserved),
        (NewKey { public_key: not_a_point, ..base() }, ResultCode::KeyPublicKeyInvalid),
        (NewKey { public_key: key(PLATFORM).public_key(), ..base() }, ResultCode::KeyPublicKeyInvalid),
        (
            NewKey { permissions: KeyPermissions(TRANSFERS | KeyPermissions::SPEND_LIMIT), ..base() },
            ResultCode::KeySpendLimitRequiresLedger,
        ),
        (NewKey { ledger: 77, ..base() }, ResultCode::LedgerNotFound),
        (
            NewKey { spend_limit: Amount(5), ledger: CNY, ..base() },
            ResultCode::KeySpendLimitWithoutPermission,
        ),
        (NewKey { period_s: 60, ..base() }, ResultCode::KeySpendLimitWithoutPermission),
        (NewKey { expires_at_ms: harness.time_ms, ..base() }, ResultCode::KeyExpiryInThePast),
    ];
    let before = harness.state.records.clone();
    for (new, code) in cases {
        assert_eq!(harness.one(PLATFORM, Operation::RegisterKey(new)), code, "{new:?}");
    }
    assert_eq!(harness.one(PLATFORM, revoke(5)), ResultCode::KeyNotFound);
    assert_eq!(harness.one(PLATFORM, revoke(0)), ResultCode::KeyIdMustNotBeZero);
    let changed: Vec<_> = harness
        .state
        .records
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(*value))
        .map(|(key, _)| *key)
        .collect();
    assert!(
        changed.iter().all(|key| key.table == hansa_ledger::SEQUENCES.id),
        "only the root key's window moved: {changed:?}"
    );
    // A retry of a registration is idempotent; other fields under its number are not.
    assert_eq!(harness.one(PLATFORM, Operation::RegisterKey(base())), ResultCode::Ok);
    assert_eq!(harness.one(PLATFORM, Operation::RegisterKey(base())), ResultCode::Exists);
    let wider = NewKey { permissions: KeyPermissions(TRANSFERS | KeyPermissions::READ), ..base() };
    assert_eq!(harness.one(PLATFORM, Operation::RegisterKey(wider)), ResultCode::KeyIdAlreadyUsed);
    // The highest key number is a key like any other.
    let last = NewKey { id: DELEGATED_KEY_ID_MAX, ..base() };
    assert_eq!(harness.one(PLATFORM, Operation::RegisterKey(last)), ResultCode::Ok);
    assert!(harness.delegated(PLATFORM, DELEGATED_KEY_ID_MAX).is_some(), "registered");
}

#[test]
fn an_auditor_registers_read_keys_and_submits_nothing_else() {
    let mut harness = Harness::funded(1_000);
    let read = register_key(AUDITOR, 1, KeyPermissions::READ);
    assert_eq!(harness.one(AUDITOR, read), ResultCode::Ok);
    let mixed =
        harness.batch(AUDITOR, vec![register_key(AUDITOR, 2, KeyPermissions::READ), transfer(1, 1, 3, 1)]);
    assert_eq!(block(&mut harness, 1, vec![mixed]), Err(BatchError::Unauthorised(AUDITOR)));
    let reads = harness.delegated(AUDITOR, 1).expect("registered");
    assert!(reads.reads(harness.time_ms));
}
