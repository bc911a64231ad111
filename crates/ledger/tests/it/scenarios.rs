//! The ledger's semantics, one scenario each.

use hansa_ledger::testkit::*;
use hansa_ledger::{BlockError, Signatures, Signer};
use hansa_types::batch::BatchError;
use hansa_types::{
    AccountFlags, Amount, Batch, Hash, NewTransfer, Operation, OrgId, PendingStatus, ROOT_KEY, ResultCode,
    SealedBatch, TransferFlags,
};

const LIMITED: u16 = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;

#[test]
fn a_transfer_moves_money_and_keeps_the_books_balanced() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(PLATFORM, transfer(1, 1, 3, 250)), ResultCode::Ok);
    assert_eq!(harness.balance(1), 750);
    assert_eq!(harness.balance(3), 1_250);
    assert_eq!(harness.balance(ISSUANCE), -4_000);
    harness.assert_balanced();
}

#[test]
fn a_retry_is_idempotent_and_a_conflicting_retry_is_refused() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(PLATFORM, transfer(1, 1, 3, 250)), ResultCode::Ok);
    let accounts: Vec<_> = harness.state.accounts().collect();
    let window = harness.window(PLATFORM, ROOT_KEY);
    assert_eq!(harness.one(PLATFORM, transfer(1, 1, 3, 250)), ResultCode::Exists);
    assert_eq!(harness.one(PLATFORM, transfer(1, 1, 3, 251)), ResultCode::ExistsWithDifferentAmount);
    assert_eq!(harness.one(PLATFORM, transfer(1, 1, 4, 250)), ResultCode::ExistsWithDifferentCreditAccountId);
    assert_eq!(harness.balance(1), 750, "applied once");
    assert_eq!(harness.state.accounts().collect::<Vec<_>>(), accounts, "no account changed");
    assert_ne!(harness.window(PLATFORM, ROOT_KEY), window, "the sequence window advanced");
    let account = account(1, CNY, LIMITED);
    assert_eq!(harness.one(PLATFORM, account), ResultCode::Exists);
    let different = with_flags(account, AccountFlags::HISTORY);
    assert_eq!(harness.one(PLATFORM, different), ResultCode::ExistsWithDifferentFlags);
}

#[test]
fn organisations_debit_only_their_own_accounts() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(MERCHANT, transfer(1, 1, 3, 10)), ResultCode::Unauthorised);
    assert_eq!(harness.balance(1), 1_000);
    assert_eq!(harness.one(MERCHANT, transfer(2, 3, 1, 10)), ResultCode::Ok);
}

#[test]
fn only_the_issuer_mints_and_redeems() {
    let mut harness = Harness::funded(1_000);
    let fake = account(7, CNY, AccountFlags::ISSUANCE);
    assert_eq!(harness.one(PLATFORM, fake), ResultCode::IssuanceRequiresIssuer);
    let unlimited = account(8, CNY, 0);
    assert_eq!(harness.one(PLATFORM, unlimited), ResultCode::DebitLimitRequired);
    assert_eq!(harness.one(PLATFORM, transfer(1, ISSUANCE, 1, 10)), ResultCode::Unauthorised);
    assert_eq!(harness.one(PLATFORM, transfer(2, 1, ISSUANCE, 10)), ResultCode::RedemptionRequiresIssuer);
    // The bank redeems from an account it owns.
    assert_eq!(harness.one(BANK, account(9, CNY, LIMITED)), ResultCode::Ok);
    assert_eq!(harness.one(PLATFORM, transfer(3, 1, 9, 100)), ResultCode::Ok);
    assert_eq!(harness.one(BANK, transfer(4, 9, ISSUANCE, 100)), ResultCode::Ok);
    assert_eq!(harness.balance(ISSUANCE), -3_900);
    harness.assert_balanced();
}

#[test]
fn an_auditor_cannot_submit() {
    let mut harness = Harness::funded(1_000);
    let batch = harness.batch(AUDITOR, vec![transfer(1, 1, 3, 1)]);
    assert_eq!(
        harness.ledger.check_batch(
            &batch.clone().seal(),
            Signer { window: harness.window(AUDITOR, ROOT_KEY).as_ref(), key: None },
            harness.time_ms,
            Signatures::Verify
        ),
        Err(BatchError::Unauthorised(AUDITOR))
    );
}

#[test]
fn limits_hold_and_overdrafts_fail() {
    let mut harness = Harness::funded(100);
    assert_eq!(harness.one(PLATFORM, transfer(1, 1, 3, 101)), ResultCode::ExceedsCredits);
    assert_eq!(harness.one(PLATFORM, transfer(2, 1, 3, 100)), ResultCode::Ok);
    assert_eq!(harness.one(PLATFORM, transfer(3, 1, 3, 1)), ResultCode::ExceedsCredits);
    let mirror = account(50, CNY, LIMITED);
    assert_eq!(harness.one(PLATFORM, mirror), ResultCode::Ok);
    let both = with_flags(account(51, CNY, LIMITED), AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    assert_eq!(harness.one(PLATFORM, both), ResultCode::FlagsAreMutuallyExclusive);
    let capped = account(52, CNY, AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    assert_eq!(harness.one(BANK, capped), ResultCode::Ok);
    assert_eq!(harness.one(MERCHANT, transfer(4, 3, 52, 1)), ResultCode::ExceedsDebits);
}

#[test]
fn validation_codes_follow_tigerbeetle_order() {
    let mut harness = Harness::funded(100);
    // Each case has its own id: a transient failure (an account not found) refuses its id for
    // good (`id_already_failed`).
    let cases = [
        (transfer(0, 1, 3, 1), ResultCode::IdMustNotBeZero),
        (transfer(u128::MAX, 1, 3, 1), ResultCode::IdMustNotBeIntMax),
        (transfer(1, 0, 3, 1), ResultCode::DebitAccountIdMustNotBeZero),
        (transfer(1, 1, 0, 1), ResultCode::CreditAccountIdMustNotBeZero),
        (transfer(1, 1, 1, 1), ResultCode::AccountsMustBeDifferent),
        (transfer(2, 1, 77, 1), ResultCode::CreditAccountNotFound),
        (transfer(3, 77, 3, 1), ResultCode::DebitAccountNotFound),
        (with_flags(transfer(1, 1, 3, 1), 1 << 12), ResultCode::ReservedFlag),
        (
            with_flags(transfer(1, 1, 3, 1), TransferFlags::CLOSING_DEBIT),
            ResultCode::ClosingTransferMustBePending,
        ),
    ];
    for (operation, expected) in cases {
        assert_eq!(harness.one(PLATFORM, operation), expected, "{operation:?}");
    }
    let mut usd = transfer(1, 1, 3, 1);
    if let Operation::CreateTransfer(t) = &mut usd {
        t.ledger = USD;
    }
    assert_eq!(harness.one(PLATFORM, usd), ResultCode::TransferMustHaveTheSameLedgerAsAccounts);
    assert_eq!(harness.one(PLATFORM, account(60, USD, LIMITED)), ResultCode::Ok);
    assert_eq!(harness.one(PLATFORM, transfer(1, 1, 60, 1)), ResultCode::AccountsMustHaveTheSameLedger);
    assert_eq!(harness.one(PLATFORM, account(61, 9, LIMITED)), ResultCode::LedgerNotFound);
    assert_eq!(harness.balance(1), 100, "nothing moved");
}

#[test]
fn holds_post_partially_and_release_the_rest() {
    let mut harness = Harness::funded(1_000);
    let hold = with_flags(transfer(10, 1, 3, 300), TransferFlags::PENDING);
    assert_eq!(harness.one(PLATFORM, hold), ResultCode::Ok);
    let account = harness.account(1).expect("exists");
    assert_eq!(account.debits_pending, Amount(300));
    // 800 more would exceed the credits with the hold counted.
    assert_eq!(harness.one(PLATFORM, transfer(11, 1, 3, 701)), ResultCode::ExceedsCredits);
    assert_eq!(
        harness.one(MERCHANT, resolve(12, 10, 200, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::Unauthorised
    );
    assert_eq!(
        harness.one(PLATFORM, resolve(12, 10, 301, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::ExceedsPendingTransferAmount
    );
    assert_eq!(
        harness.one(PLATFORM, resolve(12, 10, 200, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::Ok
    );
    assert_eq!(harness.balance(1), 800);
    assert_eq!(harness.balance(3), 1_200);
    let account = harness.account(1).expect("exists");
    assert_eq!(account.debits_pending, Amount::ZERO);
    assert_eq!(harness.transfer(10).expect("exists").status, PendingStatus::Posted);
    assert_eq!(
        harness.one(PLATFORM, resolve(13, 10, 1, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::PendingTransferAlreadyPosted
    );
    assert_eq!(
        harness.one(PLATFORM, resolve(12, 10, 200, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::Exists
    );
    assert_eq!(
        harness.one(PLATFORM, resolve(14, 101, 0, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::PendingTransferNotPending
    );
    harness.assert_balanced();
}

#[test]
fn holds_void_by_either_side_and_expire_by_consensus_time() {
    let mut harness = Harness::funded(1_000);
    let hold = with_flags(transfer(10, 1, 3, 300), TransferFlags::PENDING);
    assert_eq!(harness.one(PLATFORM, hold), ResultCode::Ok);
    assert_eq!(
        harness.one(MERCHANT, resolve(11, 10, 0, TransferFlags::VOID_PENDING_TRANSFER)),
        ResultCode::Ok
    );
    assert_eq!(harness.account(1).expect("exists").debits_pending, Amount::ZERO);

    let mut timed = with_flags(transfer(20, 1, 3, 400), TransferFlags::PENDING);
    if let Operation::CreateTransfer(t) = &mut timed {
        t.timeout_s = 5;
    }
    assert_eq!(harness.one(PLATFORM, timed), ResultCode::Ok);
    harness.block_after(4_000, vec![]);
    assert_eq!(harness.transfer(20).expect("exists").status, PendingStatus::Pending);
    harness.block_after(1_000, vec![]);
    assert_eq!(harness.transfer(20).expect("exists").status, PendingStatus::Expired);
    assert_eq!(harness.account(1).expect("exists").debits_pending, Amount::ZERO);
    assert_eq!(
        harness.one(PLATFORM, resolve(21, 20, u128::MAX, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::PendingTransferExpired
    );
    assert_eq!(harness.balance(1), 1_000);
    harness.assert_balanced();
}

#[test]
fn a_linked_chain_applies_whole_or_not_at_all() {
    let mut harness = Harness::funded(100);
    let chain = vec![with_flags(transfer(1, 1, 3, 60), TransferFlags::LINKED), transfer(2, 1, 4, 60)];
    assert_eq!(
        harness.submit(PLATFORM, chain),
        vec![ResultCode::LinkedEventFailed, ResultCode::ExceedsCredits]
    );
    assert_eq!(harness.balance(1), 100);
    assert!(harness.transfer(1).is_none());
    // The member that failed (transiently) has its id refused for good; the others may be used.
    let chain = vec![with_flags(transfer(1, 1, 3, 60), TransferFlags::LINKED), transfer(2, 1, 4, 40)];
    assert_eq!(
        harness.submit(PLATFORM, chain),
        vec![ResultCode::LinkedEventFailed, ResultCode::IdAlreadyFailed]
    );
    let chain = vec![with_flags(transfer(1, 1, 3, 60), TransferFlags::LINKED), transfer(5, 1, 4, 40)];
    assert_eq!(harness.submit(PLATFORM, chain), vec![ResultCode::Ok, ResultCode::Ok]);
    assert_eq!(harness.balance(1), 0);
    let open = vec![transfer(3, 3, 1, 1), with_flags(transfer(4, 3, 1, 1), TransferFlags::LINKED)];
    assert_eq!(harness.submit(MERCHANT, open), vec![ResultCode::Ok, ResultCode::LinkedEventChainOpen]);
    // A chain left open ends with `linked_event_chain_open` even after an earlier member failed.
    let linked = |operation| with_flags(operation, TransferFlags::LINKED);
    let open = vec![linked(transfer(6, 3, 3, 1)), linked(transfer(7, 3, 1, 1)), linked(transfer(8, 3, 1, 1))];
    assert_eq!(
        harness.submit(MERCHANT, open),
        vec![
            ResultCode::AccountsMustBeDifferent,
            ResultCode::LinkedEventFailed,
            ResultCode::LinkedEventChainOpen
        ]
    );
    harness.assert_balanced();
}

#[test]
fn a_failed_chain_leaves_the_state_as_if_it_never_ran() {
    let mut with_failure = Harness::funded(100);
    let mut without = Harness::funded(100);
    let chain = vec![with_flags(transfer(1, 1, 3, 60), TransferFlags::LINKED), transfer(2, 1, 4, 60)];
    with_failure.submit(PLATFORM, chain);
    // Another failure (not a transient one: nothing of it is kept) in a block of its own.
    without.submit(PLATFORM, vec![transfer(9, 1, 1, 1)]);
    assert_eq!(with_failure.state.records, without.state.records);
    // Of the chain, only the refusal of its failed member's id is kept (outside the rollback).
    let failed = hansa_ledger::modules::ledger::FAILED_TRANSFERS;
    let mut log = with_failure.state.log.clone();
    let kept: Vec<_> = log.keys().filter(|key| key.table == failed.id).copied().collect();
    assert_eq!(kept, vec![failed.key(2)]);
    log.retain(|key, _| key.table != failed.id);
    assert_eq!(log, without.state.log);
}

#[test]
fn balancing_transfers_move_what_is_there() {
    let mut harness = Harness::funded(100);
    let sweep = with_flags(transfer(1, 1, 3, u128::MAX), TransferFlags::BALANCING_DEBIT);
    assert_eq!(harness.one(PLATFORM, sweep), ResultCode::Ok);
    assert_eq!(harness.transfer(1).expect("exists").amount, Amount(100));
    assert_eq!(harness.balance(1), 0);
    assert_eq!(harness.one(PLATFORM, sweep), ResultCode::Exists);
}

#[test]
fn closing_an_account_blocks_it_until_the_closing_hold_is_voided() {
    let mut harness = Harness::funded(100);
    let close = with_flags(transfer(1, 1, 3, 0), TransferFlags::PENDING | TransferFlags::CLOSING_DEBIT);
    assert_eq!(harness.one(PLATFORM, close), ResultCode::Ok);
    assert!(harness.account(1).expect("exists").flags.has(AccountFlags::CLOSED));
    assert_eq!(harness.one(PLATFORM, transfer(2, 1, 3, 1)), ResultCode::DebitAccountAlreadyClosed);
    assert_eq!(harness.one(MERCHANT, transfer(3, 3, 1, 1)), ResultCode::CreditAccountAlreadyClosed);
    let close_other =
        with_flags(transfer(4, 2, 3, 0), TransferFlags::PENDING | TransferFlags::CLOSING_CREDIT);
    assert_eq!(harness.one(PLATFORM, close_other), ResultCode::Unauthorised);
    assert_eq!(harness.one(PLATFORM, resolve(5, 1, 0, TransferFlags::VOID_PENDING_TRANSFER)), ResultCode::Ok);
    assert_eq!(harness.one(PLATFORM, transfer(6, 1, 3, 1)), ResultCode::Ok);
    // The attempt refused while the account was closed keeps its id refused.
    assert_eq!(harness.one(PLATFORM, transfer(2, 1, 3, 1)), ResultCode::IdAlreadyFailed);
}

#[test]
fn bad_envelopes_reject_the_whole_block_and_change_nothing() {
    let mut harness = Harness::funded(1_000);
    let before = harness.state.clone();
    let height = harness.height;
    let good = harness.batch(PLATFORM, vec![transfer(1, 1, 3, 5)]);
    // Replayed within one block.
    let result = harness.try_block(1, &[good.clone().seal(), good.clone().seal()]);
    assert!(matches!(result, Err(BlockError::Batch { index: 1, error: BatchError::Replayed { .. } })));
    // Wrongly signed: signed by the merchant's key in the platform's name.
    let forged = Batch {
        chain_id: harness.ledger.consortium().chain_id,
        org: PLATFORM,
        key: 0,
        sequence: 900,
        operations: vec![transfer(2, 1, 3, 5)],
    }
    .sign(&key(MERCHANT));
    let result = harness.try_block(1, &[forged.seal()]);
    assert!(matches!(result, Err(BlockError::Batch { error: BatchError::BadSignature(_), .. })));
    // For another chain.
    let other = Batch {
        chain_id: Hash([7; 32]),
        org: PLATFORM,
        key: 0,
        sequence: 901,
        operations: vec![transfer(3, 1, 3, 5)],
    }
    .sign(&key(PLATFORM));
    let result = harness.try_block(1, &[other.seal()]);
    assert!(matches!(result, Err(BlockError::Batch { error: BatchError::WrongChain { .. }, .. })));
    // Unknown organisation.
    let stranger = Batch {
        chain_id: harness.ledger.consortium().chain_id,
        org: OrgId(42),
        key: 0,
        sequence: 1,
        operations: vec![transfer(4, 1, 3, 5)],
    }
    .sign(&key(OrgId(42)));
    let result = harness.try_block(1, &[stranger.seal()]);
    assert!(matches!(result, Err(BlockError::Batch { error: BatchError::UnknownOrganisation(_), .. })));
    assert_eq!(harness.state.records, before.records, "nothing changed");
    assert_eq!(harness.state.log, before.log);
    assert_eq!(harness.height, height);
    // The good batch applies once; the same batch again is a replay.
    harness.block_after(1, vec![good.clone()]);
    let result = harness.try_block(1, &[good.seal()]);
    assert!(matches!(result, Err(BlockError::Batch { error: BatchError::Replayed { .. }, .. })));
}

#[test]
fn amount_max_posts_the_whole_hold() {
    let mut harness = Harness::funded(1_000);
    let hold = with_flags(transfer(10, 1, 3, 300), TransferFlags::PENDING);
    assert_eq!(harness.one(PLATFORM, hold), ResultCode::Ok);
    let post = Operation::CreateTransfer(NewTransfer {
        id: 11,
        pending_id: 10,
        amount: Amount::MAX,
        flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
        ..Default::default()
    });
    assert_eq!(harness.one(PLATFORM, post), ResultCode::Ok);
    assert_eq!(harness.transfer(11).expect("exists").amount, Amount(300));
}

#[test]
fn a_block_of_many_batches_names_the_forged_one_and_changes_nothing() {
    let mut harness = Harness::funded(1_000);
    let before = harness.state.clone();
    let mut batches: Vec<SealedBatch> = (0..40u128)
        .map(|offset| harness.batch(PLATFORM, vec![transfer(1_000 + offset, 1, 3, 1)]).seal())
        .collect();
    // Batch 23's signature is for other bytes: valid ed25519, wrong message.
    let mut forged = (*batches[23]).clone();
    forged.signature = key(PLATFORM).sign(b"something else");
    batches[23] = forged.seal();
    let result = harness.try_block(1, &batches);
    assert!(
        matches!(result, Err(BlockError::Batch { index: 23, error: BatchError::BadSignature(PLATFORM) })),
        "{result:?}"
    );
    assert_eq!(harness.state.records, before.records);
    // Without the forged batch, the same block applies.
    batches.remove(23);
    let outcome = harness.try_block(1, &batches).expect("valid block");
    assert!(outcome.results.iter().all(|code| *code == ResultCode::Ok), "{:?}", outcome.results);
}
