//! TigerBeetle 0.17's semantics where Hansa differed from it when both were run side by side
//! (shared/design/FINDINGS.md §1): transfer ids refused for good after a transient failure,
//! retries answered before any other check, whole-hold amounts, closed accounts on posts and
//! voids, holds expired within a block, stored flags and the user data of posts and voids.

use hansa_ledger::testkit::*;
use hansa_types::{AccountFlags, Amount, NewTransfer, Operation, PendingStatus, ResultCode, TransferFlags};

const LIMITED: u16 = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;

fn edit(operation: Operation, change: impl FnOnce(&mut NewTransfer)) -> Operation {
    let Operation::CreateTransfer(mut transfer) = operation else { panic!("a transfer") };
    change(&mut transfer);
    Operation::CreateTransfer(transfer)
}

fn pending(operation: Operation) -> Operation {
    with_flags(operation, TransferFlags::PENDING)
}

#[test]
fn every_transient_failure_refuses_its_id_for_good() {
    let mut harness = Harness::funded(100);
    let capped = account(52, CNY, AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    assert_eq!(harness.one(BANK, capped), ResultCode::Ok);
    let close = with_flags(transfer(90, 2, 4, 0), TransferFlags::PENDING | TransferFlags::CLOSING_DEBIT);
    assert_eq!(harness.one(PLATFORM, close), ResultCode::Ok);
    let cases = [
        (PLATFORM, transfer(1, 77, 3, 1), ResultCode::DebitAccountNotFound),
        (PLATFORM, transfer(2, 1, 77, 1), ResultCode::CreditAccountNotFound),
        (
            PLATFORM,
            resolve(3, 77, u128::MAX, TransferFlags::POST_PENDING_TRANSFER),
            ResultCode::PendingTransferNotFound,
        ),
        (PLATFORM, transfer(4, 1, 3, 101), ResultCode::ExceedsCredits),
        (MERCHANT, transfer(5, 3, 52, 1), ResultCode::ExceedsDebits),
        (PLATFORM, transfer(6, 2, 3, 1), ResultCode::DebitAccountAlreadyClosed),
        (MERCHANT, transfer(7, 3, 2, 1), ResultCode::CreditAccountAlreadyClosed),
    ];
    for (org, operation, code) in &cases {
        assert!(code.is_transient());
        assert_eq!(harness.one(*org, *operation), *code, "{operation:?}");
    }
    // Make every one of them possible: the accounts exist, funds and a hold arrive, the
    // account reopens. Each id is still refused, whatever the retry carries.
    for id in [77, 78] {
        assert_eq!(harness.one(PLATFORM, account(id, CNY, LIMITED)), ResultCode::Ok);
    }
    assert_eq!(
        harness.one(PLATFORM, resolve(91, 90, 0, TransferFlags::VOID_PENDING_TRANSFER)),
        ResultCode::Ok
    );
    assert_eq!(harness.one(BANK, transfer(92, ISSUANCE, 1, 1_000)), ResultCode::Ok);
    let before = harness.balance(1);
    for (org, operation, _) in &cases {
        assert_eq!(harness.one(*org, *operation), ResultCode::IdAlreadyFailed, "{operation:?}");
    }
    assert_eq!(harness.one(PLATFORM, transfer(4, 1, 3, 1)), ResultCode::IdAlreadyFailed, "other fields");
    assert_eq!(harness.balance(1), before, "nothing moved");
    // A failure that is not transient keeps nothing: the id may be used again.
    assert_eq!(harness.one(PLATFORM, transfer(8, 1, 1, 1)), ResultCode::AccountsMustBeDifferent);
    assert_eq!(harness.one(MERCHANT, transfer(9, 1, 3, 1)), ResultCode::Unauthorised);
    assert_eq!(harness.one(PLATFORM, transfer(8, 1, 3, 1)), ResultCode::Ok);
    assert_eq!(harness.one(PLATFORM, transfer(9, 1, 3, 1)), ResultCode::Ok);
    // Within one batch, the second use of an id that just failed.
    let batch = vec![transfer(10, 1, 3, 1_000_000), transfer(10, 1, 3, 1)];
    assert_eq!(
        harness.submit(PLATFORM, batch),
        vec![ResultCode::ExceedsCredits, ResultCode::IdAlreadyFailed]
    );
    harness.assert_balanced();
}

#[test]
fn a_retry_is_answered_before_any_other_check() {
    let mut harness = Harness::funded(100);
    assert_eq!(harness.one(PLATFORM, transfer(1, 1, 3, 10)), ResultCode::Ok);
    // Each retry differs in a field whose own check would refuse it as a new transfer: the
    // answer is the existing transfer's, in TigerBeetle's order of fields.
    let cases = [
        (edit(transfer(1, 1, 3, 10), |t| t.timeout_s = 5), ResultCode::ExistsWithDifferentTimeout),
        (edit(transfer(1, 1, 3, 10), |t| t.pending_id = 7), ResultCode::ExistsWithDifferentPendingId),
        (
            with_flags(transfer(1, 1, 3, 10), TransferFlags::CLOSING_DEBIT),
            ResultCode::ExistsWithDifferentFlags,
        ),
        (transfer(1, 0, 3, 10), ResultCode::ExistsWithDifferentDebitAccountId),
        (transfer(1, 77, 3, 10), ResultCode::ExistsWithDifferentDebitAccountId),
        (transfer(1, 1, 1, 10), ResultCode::ExistsWithDifferentCreditAccountId),
        (transfer(1, 1, 3, 11), ResultCode::ExistsWithDifferentAmount),
        (edit(transfer(1, 1, 3, 10), |t| t.user_data_128 = 1), ResultCode::ExistsWithDifferentUserData128),
        (edit(transfer(1, 1, 3, 10), |t| t.user_data_64 = 1), ResultCode::ExistsWithDifferentUserData64),
        (edit(transfer(1, 1, 3, 10), |t| t.user_data_32 = 1), ResultCode::ExistsWithDifferentUserData32),
        (edit(transfer(1, 1, 3, 10), |t| t.ledger = 0), ResultCode::ExistsWithDifferentLedger),
        (edit(transfer(1, 1, 3, 10), |t| t.code = 0), ResultCode::ExistsWithDifferentCode),
        (
            edit(transfer(1, 1, 3, 10), |t| {
                t.timeout_s = 5;
                t.amount = Amount(11);
            }),
            ResultCode::ExistsWithDifferentTimeout,
        ),
        (transfer(1, 1, 3, 10), ResultCode::Exists),
    ];
    for (operation, expected) in cases {
        assert_eq!(harness.one(PLATFORM, operation), expected, "{operation:?}");
    }
    // The linked flag is kept as given: a chain's member retried alone differs in its flags.
    let chain = vec![with_flags(transfer(2, 1, 3, 1), TransferFlags::LINKED), transfer(3, 1, 3, 1)];
    assert_eq!(harness.submit(PLATFORM, chain), vec![ResultCode::Ok, ResultCode::Ok]);
    assert!(harness.transfer(2).expect("exists").flags.has(TransferFlags::LINKED));
    assert_eq!(harness.one(PLATFORM, transfer(2, 1, 3, 1)), ResultCode::ExistsWithDifferentFlags);
    // Accounts likewise: retried with a zero code, the existing account's difference answers.
    assert_eq!(
        harness.one(PLATFORM, edit_account(account(1, CNY, LIMITED), 0)),
        ResultCode::ExistsWithDifferentCode
    );
    let both = with_flags(account(1, CNY, LIMITED), AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    assert_eq!(harness.one(PLATFORM, both), ResultCode::ExistsWithDifferentFlags);
    assert_eq!(harness.one(PLATFORM, account(1, 0, LIMITED)), ResultCode::ExistsWithDifferentLedger);
    // An account a closing transfer closed differs in its flags from its creation.
    let close = with_flags(transfer(4, 2, 3, 0), TransferFlags::PENDING | TransferFlags::CLOSING_DEBIT);
    assert_eq!(harness.one(PLATFORM, close), ResultCode::Ok);
    assert_eq!(harness.one(PLATFORM, account(2, CNY, LIMITED)), ResultCode::ExistsWithDifferentFlags);
    let closed = with_flags(account(2, CNY, LIMITED), AccountFlags::CLOSED);
    assert_eq!(harness.one(PLATFORM, closed), ResultCode::Exists);
}

fn edit_account(operation: Operation, code: u16) -> Operation {
    let Operation::CreateAccount(mut account) = operation else { panic!("an account") };
    account.code = code;
    Operation::CreateAccount(account)
}

#[test]
fn a_post_takes_the_whole_hold_only_with_int_max_and_a_void_only_with_zero() {
    let mut harness = Harness::funded(1_000);
    assert_eq!(harness.one(PLATFORM, pending(transfer(1, 1, 3, 300))), ResultCode::Ok);
    // A void of u128::MAX exceeds the hold: refused, and the hold stays (TigerBeetle 0.17.8).
    let void_max = resolve(2, 1, u128::MAX, TransferFlags::VOID_PENDING_TRANSFER);
    assert_eq!(harness.one(PLATFORM, void_max), ResultCode::ExceedsPendingTransferAmount);
    assert_eq!(harness.transfer(1).expect("exists").status, PendingStatus::Pending);
    assert_eq!(harness.account(1).expect("exists").debits_pending, Amount(300));
    let void_less = resolve(3, 1, 299, TransferFlags::VOID_PENDING_TRANSFER);
    assert_eq!(harness.one(PLATFORM, void_less), ResultCode::PendingTransferHasDifferentAmount);
    let void_exact = resolve(4, 1, 300, TransferFlags::VOID_PENDING_TRANSFER);
    assert_eq!(harness.one(PLATFORM, void_exact), ResultCode::Ok);
    // A retry of the void: with 0 (the whole hold) it is the same void; with 299 it differs.
    assert_eq!(
        harness.one(PLATFORM, resolve(4, 1, 0, TransferFlags::VOID_PENDING_TRANSFER)),
        ResultCode::Exists
    );
    assert_eq!(
        harness.one(PLATFORM, resolve(4, 1, 299, TransferFlags::VOID_PENDING_TRANSFER)),
        ResultCode::ExistsWithDifferentAmount
    );
    // A post of 0 posts nothing and releases the hold.
    assert_eq!(harness.one(PLATFORM, pending(transfer(5, 1, 3, 200))), ResultCode::Ok);
    assert_eq!(harness.one(PLATFORM, resolve(6, 5, 0, TransferFlags::POST_PENDING_TRANSFER)), ResultCode::Ok);
    assert_eq!(harness.transfer(6).expect("exists").amount, Amount::ZERO);
    assert_eq!(harness.balance(1), 1_000);
    assert_eq!(
        harness.one(PLATFORM, resolve(6, 5, u128::MAX, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::ExistsWithDifferentAmount,
        "the whole hold (200) is not what was posted (0)"
    );
    harness.assert_balanced();
}

#[test]
fn a_closed_account_refuses_every_post_and_no_void() {
    let mut harness = Harness::funded(1_000);
    // A hold on account 3, then a closing hold that closes account 3 (credit side).
    assert_eq!(harness.one(MERCHANT, pending(transfer(1, 3, 4, 100))), ResultCode::Ok);
    let close = with_flags(transfer(2, 4, 3, 0), TransferFlags::PENDING | TransferFlags::CLOSING_CREDIT);
    assert_eq!(harness.one(MERCHANT, close), ResultCode::Ok);
    assert!(harness.account(3).expect("exists").flags.has(AccountFlags::CLOSED));
    // Posting the closing hold itself is refused: only its void or expiry reopens the account.
    let post_close = resolve(3, 2, u128::MAX, TransferFlags::POST_PENDING_TRANSFER);
    assert_eq!(harness.one(MERCHANT, post_close), ResultCode::CreditAccountAlreadyClosed);
    assert_eq!(harness.transfer(2).expect("exists").status, PendingStatus::Pending);
    // Posting the other hold is refused too; voiding it is not.
    let post_other = resolve(4, 1, u128::MAX, TransferFlags::POST_PENDING_TRANSFER);
    assert_eq!(harness.one(MERCHANT, post_other), ResultCode::DebitAccountAlreadyClosed);
    assert_eq!(harness.one(MERCHANT, resolve(5, 1, 0, TransferFlags::VOID_PENDING_TRANSFER)), ResultCode::Ok);
    assert_eq!(harness.transfer(1).expect("exists").status, PendingStatus::Voided);
    assert!(harness.account(3).expect("exists").flags.has(AccountFlags::CLOSED), "still closed");
    assert_eq!(harness.account(3).expect("exists").debits_pending, Amount::ZERO);
    // Voiding the closing hold reopens it.
    assert_eq!(harness.one(MERCHANT, resolve(6, 2, 0, TransferFlags::VOID_PENDING_TRANSFER)), ResultCode::Ok);
    assert!(!harness.account(3).expect("exists").flags.has(AccountFlags::CLOSED));
    assert_eq!(harness.balance(3), 1_000);
    harness.assert_balanced();
}

#[test]
fn a_hold_that_expires_within_the_block_is_expired_for_its_later_operations() {
    let mut harness = Harness::funded(1_000);
    let timed = edit(pending(transfer(1, 1, 3, 100)), |t| t.timeout_s = 1);
    // The hold is the second operation of its block, so it expires 1 ns after the start of the
    // block one second later: that block's expiry pass (at its start) leaves it open, and its
    // second operation, at the hold's expiry exactly, finds it expired by time.
    assert_eq!(
        harness.submit(PLATFORM, vec![transfer(5, 1, 3, 1), timed]),
        vec![ResultCode::Ok, ResultCode::Ok]
    );
    let expires_at = harness.transfer(1).expect("exists").timestamp + 1_000_000_000;
    let post = resolve(3, 1, u128::MAX, TransferFlags::POST_PENDING_TRANSFER);
    let batch = harness.batch(PLATFORM, vec![transfer(2, 1, 3, 1), post]);
    let outcome = harness.block_after(1_000, vec![batch]);
    assert_eq!(outcome.results, vec![ResultCode::Ok, ResultCode::PendingTransferExpired]);
    assert_eq!(harness.transfer(2).expect("exists").timestamp + 1, expires_at, "the post ran at the expiry");
    assert_eq!(
        harness.transfer(1).expect("exists").status,
        PendingStatus::Pending,
        "not expired by the pass"
    );
    assert_eq!(harness.balance(1), 998, "the hold was not posted");
    harness.block_after(1, vec![]);
    assert_eq!(harness.transfer(1).expect("exists").status, PendingStatus::Expired);
    harness.assert_balanced();
}

#[test]
fn a_post_or_void_keeps_the_holds_user_data_unless_it_gives_its_own() {
    let mut harness = Harness::funded(1_000);
    let hold = edit(pending(transfer(1, 1, 3, 100)), |t| {
        t.user_data_128 = 11;
        t.user_data_64 = 12;
        t.user_data_32 = 13;
    });
    assert_eq!(harness.one(PLATFORM, hold), ResultCode::Ok);
    let post = edit(resolve(2, 1, 40, TransferFlags::POST_PENDING_TRANSFER), |t| t.user_data_64 = 99);
    assert_eq!(harness.one(PLATFORM, post), ResultCode::Ok);
    let posted = harness.transfer(2).expect("exists");
    assert_eq!((posted.user_data_128, posted.user_data_64, posted.user_data_32), (11, 99, 13));
    // A retry naming the hold's user data, or leaving it at zero, is the same post.
    let same = edit(resolve(2, 1, 40, TransferFlags::POST_PENDING_TRANSFER), |t| {
        t.user_data_128 = 11;
        t.user_data_64 = 99;
    });
    assert_eq!(harness.one(PLATFORM, same), ResultCode::Exists);
    let other = edit(resolve(2, 1, 40, TransferFlags::POST_PENDING_TRANSFER), |t| {
        t.user_data_64 = 99;
        t.user_data_32 = 7;
    });
    assert_eq!(harness.one(PLATFORM, other), ResultCode::ExistsWithDifferentUserData32);
    assert_eq!(
        harness.one(PLATFORM, resolve(2, 1, 40, TransferFlags::POST_PENDING_TRANSFER)),
        ResultCode::ExistsWithDifferentUserData64
    );
}
