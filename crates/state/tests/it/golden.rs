//! Golden vectors of consensus-relevant behaviour: a fixed reference sequence of blocks,
//! executed by the real ledger and stored by the real store, gives pinned result roots, a
//! pinned state root after every block, and a pinned record proof. A change that alters
//! execution results, record encodings, the storage's packing or commitments, or the proof
//! format fails here until the vectors are renewed on purpose (print the new ones with
//! `HANSA_PRINT_GOLDEN=1 cargo test -p hansa-state --test it golden -- --nocapture`, and say
//! why they changed in the commit).

use crate::config;
use commonware_runtime::{Runner as _, deterministic};
use hansa_ledger::modules::ledger::{ACCOUNTS, TRANSFERS};
use hansa_ledger::testkit::*;
use hansa_state::{LogIndex, Store};
use hansa_types::{Hash, NewTransfer, Operation, ResultCode, TransferFlags, WriteSet, hash::hash};

/// A batch of a reference block: its organisation and operations.
type Batch = (hansa_types::OrgId, Vec<Operation>);

/// The reference blocks, each with the milliseconds since the last: accounts, issuance, payments, a hold with a timeout that expires, a
/// post, a void, a balancing and a closing transfer, a failed linked chain, a transient failure
/// and its refused retry, retries answering `exists*`.
fn reference_blocks() -> Vec<(u64, Vec<Batch>)> {
    let limited = hansa_types::AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    let timed = |id, debit, credit, amount, timeout_s| {
        let Operation::CreateTransfer(mut transfer) =
            with_flags(transfer(id, debit, credit, amount), TransferFlags::PENDING)
        else {
            unreachable!("a transfer")
        };
        transfer.timeout_s = timeout_s;
        Operation::CreateTransfer(transfer)
    };
    let user_data = |operation: Operation| {
        let Operation::CreateTransfer(mut transfer) = operation else { unreachable!("a transfer") };
        transfer.user_data_128 = 0xfeed;
        Operation::CreateTransfer(NewTransfer { user_data_64: 7, ..transfer })
    };
    vec![
        (1, vec![(BANK, vec![account(ISSUANCE, CNY, hansa_types::AccountFlags::ISSUANCE)])]),
        (
            1,
            vec![
                (PLATFORM, vec![account(1, CNY, limited), account(2, CNY, limited)]),
                (
                    MERCHANT,
                    vec![
                        account(3, CNY, limited),
                        account(4, CNY, limited | hansa_types::AccountFlags::HISTORY),
                    ],
                ),
            ],
        ),
        (1, vec![(BANK, (1..=4).map(|id| transfer(100 + id, ISSUANCE, id, 1_000)).collect())]),
        (
            250,
            vec![
                (
                    PLATFORM,
                    vec![transfer(1, 1, 3, 250), user_data(timed(2, 1, 3, 300, 2)), timed(3, 2, 4, 50, 0)],
                ),
                (
                    MERCHANT,
                    vec![
                        with_flags(transfer(4, 3, 1, 10), TransferFlags::LINKED),
                        transfer(5, 3, 2, 1_000_000),
                        transfer(6, 4, 1, 5),
                    ],
                ),
            ],
        ),
        (
            1_000,
            vec![
                (
                    PLATFORM,
                    vec![resolve(7, 3, 0, TransferFlags::VOID_PENDING_TRANSFER), transfer(1, 1, 3, 251)],
                ),
                (
                    MERCHANT,
                    vec![
                        transfer(5, 3, 2, 1),
                        with_flags(transfer(8, 3, 1, u128::MAX), TransferFlags::BALANCING_DEBIT),
                    ],
                ),
            ],
        ),
        (
            2_500,
            vec![(
                PLATFORM,
                vec![resolve(9, 2, u128::MAX, TransferFlags::POST_PENDING_TRANSFER), transfer(1, 1, 3, 250)],
            )],
        ),
        (
            1,
            vec![(
                MERCHANT,
                vec![
                    with_flags(transfer(10, 4, 3, 0), TransferFlags::PENDING | TransferFlags::CLOSING_DEBIT),
                    transfer(11, 4, 3, 1),
                ],
            )],
        ),
    ]
}

/// Runs the reference blocks on the ledger, returning each block's results and write set.
fn execute() -> Vec<(Vec<ResultCode>, Hash, WriteSet)> {
    let mut harness = Harness::new();
    let mut outcomes = Vec::new();
    for (advance_ms, batches) in reference_blocks() {
        let batches = batches.into_iter().map(|(org, operations)| harness.batch(org, operations)).collect();
        let outcome = harness.block_after(advance_ms, batches);
        outcomes.push((outcome.results, outcome.results_root, outcome.writes));
    }
    harness.assert_balanced();
    outcomes
}

/// The pinned vectors: per block, the results root and the state root after it.
const RESULT_ROOTS: [&str; 7] = [
    "926495fc311f0808b9d4e6ee90cced3be83bd9b34f71aee82f0957bcd0a9d2f3",
    "621e99b625cf85ca6dc643d584d60a0060d1cfa0de4008b1aa3eedc8873fd606",
    "d4ab88160dd14b523d04e5f9c3578845e08bef08ce4eb29e1c714bb7e191c008",
    "aceda85397b333deb99948a966ffae051ad0e016e5c83524496956f6dbfde070",
    "36fa7a2cb4e1c85f09d4d95e931d8a9b55b3ad1ae74f1625f3953b487af452e9",
    "16fa2c48eb08bd8fb85f4781b63a1303bc2d2ded946662b65b0ed7eeea4404c1",
    "ff17078d08add01cf52ca3d19fa8c51ac909b0b82c00b36d83a924ee7610dbf1",
];
const STATE_ROOTS: [&str; 7] = [
    "b5c2c68eec50155a6e51893e09e2a60763be0cb8fad6ab55f9ee9a24ea6e4039",
    "52ff1c9c29d8a7b25e9e427e29d927fd56ae728c3c83ce9c6c4ac6dcab8cbedf",
    "075649c974ea36350815147f8b22947e1cc68d79f2bdc8a01c047b8a69796f0e",
    "6532eb04884575ab51bbf76858cf5da64072d50eb83038ed52740f065b968fac",
    "f94db0afaccadb87572a3a013068e98880e246715164a4cb431bb1bdd27c05ae",
    "fc63a8a638d405bf2e5691d8e57cf9e85575a9c952ba62e08ab840780abee2e2",
    "a26e33737ed1f50b890d457814299f713ab6f0c00b1dbd21ceef1753461b2c12",
];
/// The hash of the JSON proof of account 3 and of transfer 1 after the last block.
const PROOFS: [&str; 2] = [
    "5700c36438c8398a34ad5571ff01b00efd3a49898531afe3be014c93e03f275f",
    "283d30dc4ab94537c546b56d9c8a1806b15ed53e5f61dcfe6c3ac42d5c33c624",
];

#[test]
fn the_reference_blocks_give_the_pinned_results_state_roots_and_proofs() {
    let outcomes = execute();
    let results: Vec<Vec<&str>> =
        outcomes.iter().map(|(results, _, _)| results.iter().map(|code| code.name()).collect()).collect();
    // What the blocks did, in words (so that a renewal shows what changed).
    assert_eq!(
        results,
        vec![
            vec!["ok"],
            vec!["ok", "ok", "ok", "ok"],
            vec!["ok", "ok", "ok", "ok"],
            vec!["ok", "ok", "ok", "linked_event_failed", "exceeds_credits", "ok"],
            vec!["ok", "exists_with_different_amount", "id_already_failed", "ok"],
            vec!["pending_transfer_expired", "exists"],
            vec!["ok", "debit_account_already_closed"],
        ]
    );
    let result_roots: Vec<String> = outcomes.iter().map(|(_, root, _)| root.to_hex()).collect();
    let (state_roots, proofs) = deterministic::Runner::seeded(7).start(|context| async move {
        let store =
            Store::open(context, config(), LogIndex::in_memory().expect("index")).await.expect("open");
        let mut roots = Vec::new();
        for (height, (_, _, writes)) in outcomes.into_iter().enumerate() {
            let speculation = store.speculate(None, height as u64 + 1, writes).await.expect("speculate");
            store.apply(&speculation).await.expect("apply");
            roots.push(speculation.commitment().root().to_hex());
        }
        let mut proofs = Vec::new();
        for key in [ACCOUNTS.key(3), TRANSFERS.key(1)] {
            let (height, commitment, record) = store.prove(&key).await.expect("prove").expect("present");
            let json = serde_json::to_vec(&(height, commitment, record)).expect("json");
            proofs.push(hash("hansa/test/golden", &json).to_hex());
        }
        (roots, proofs)
    });
    if std::env::var_os("HANSA_PRINT_GOLDEN").is_some() {
        println!("RESULT_ROOTS: {result_roots:#?}\nSTATE_ROOTS: {state_roots:#?}\nPROOFS: {proofs:#?}");
    }
    assert_eq!(result_roots, RESULT_ROOTS, "the results roots of the reference blocks");
    assert_eq!(state_roots, STATE_ROOTS, "the state roots after the reference blocks");
    assert_eq!(proofs, PROOFS, "the proofs of account 3 and transfer 1");
}
