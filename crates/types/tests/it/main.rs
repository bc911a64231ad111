//! Golden vectors: the exact bytes and hashes of every format. A change here changes every
//! signature and root on every chain, so it must be deliberate and reviewed.

use hansa_types::block::{operation_leaf, result_leaf};
use hansa_types::{
    Account, AccountFlags, Amount, Batch, BatchList, Block, Decode, Encode, Genesis, Hash, Header,
    KeyAccounts, KeyPermissions, KeyRevocation, LedgerSpec, NewAccount, NewKey, NewTransfer, Operation,
    OrgId, OrganisationSpec, PendingStatus, ResultCode, Role, SecretKey, SignedBatch, Transfer,
    TransferFlags, ValidatorSpec, merkle,
};

fn genesis() -> Genesis {
    Genesis {
        chain_name: "golden".into(),
        genesis_time_ms: 1_700_000_000_000,
        organisations: vec![OrganisationSpec {
            id: OrgId(1),
            name: "Bank".into(),
            role: Role::PaymentInstitution,
            public_key: SecretKey::from_seed([1; 32]).public_key(),
        }],
        ledgers: vec![LedgerSpec { id: 1, currency: "CNY".into(), scale: 2, issuer: OrgId(1) }],
        validators: vec![ValidatorSpec {
            name: "v0".into(),
            org: OrgId(1),
            public_key: SecretKey::from_seed([2; 32]).public_key(),
            p2p_address: "127.0.0.1:7000".into(),
            api_address: "127.0.0.1:8000".into(),
        }],
    }
}

fn transfer() -> NewTransfer {
    NewTransfer {
        id: 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
        debit_account_id: 1,
        credit_account_id: 2,
        amount: Amount(12_345),
        pending_id: 0,
        user_data_128: 7,
        user_data_64: 8,
        user_data_32: 9,
        timeout_s: 0,
        ledger: 1,
        code: 1,
        flags: TransferFlags(TransferFlags::LINKED),
    }
}

fn batch() -> SignedBatch {
    Batch {
        chain_id: genesis().chain_id(),
        org: OrgId(1),
        key: 0,
        sequence: 42,
        operations: vec![
            Operation::CreateAccount(NewAccount {
                id: 1,
                ledger: 1,
                code: 10,
                flags: AccountFlags(AccountFlags::ISSUANCE),
                ..Default::default()
            }),
            Operation::CreateTransfer(transfer()),
        ],
    }
    .sign(&SecretKey::from_seed([1; 32]))
}

#[test]
fn public_key_from_seed() {
    assert_eq!(
        SecretKey::from_seed([1; 32]).public_key().to_hex(),
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
}

/// The access token's form, pinned against a token made independently by Python's
/// `cryptography` (Ed25519) and `base64`/`json`: any JWT library that does EdDSA reads it.
#[test]
fn access_token() {
    let key = hansa_types::SecretKey::from_seed([1; 32]);
    let token =
        hansa_types::sign_token(&hansa_types::Hash([2; 32]), hansa_types::OrgId(3), &key, 1_700_000_000, 600);
    assert_eq!(
        token,
        concat!(
            "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6IjhhODhlM2RkNzQwOWYxOTVmZDUyZGIyZDNj",
            "YmE1ZDcyY2E2NzA5YmYxZDk0MTIxYmYzNzQ4ODAxYjQwZjZmNWMifQ.",
            "eyJpc3MiOiIzIiwiYXVkIjoiMDIwMjAyMDIwMjAyMDIwMjAyMDIwMjAyMDIwMjAyMDIwMjAyMDIwMjAy",
            "MDIwMjAyMDIwMjAyMDIwMjAyMDIwMiIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAwNjAwfQ.",
            "ZxBFrTP2LgUWlUC06sbv6rSpgZ1DQzWEUjcIQYkaVlMUxJFptXf_3H3unUdP_pLaX4zyjAUZAE1E3Ja5",
            "ZEoYCQ",
        )
    );
    let parsed = hansa_types::AccessToken::parse(&token).expect("parses");
    assert_eq!(parsed.check(&hansa_types::Hash([2; 32]), 1_700_000_100), Ok(()));
}

#[test]
fn genesis_chain_id() {
    assert_eq!(
        genesis().chain_id().to_hex(),
        "a4aa8429060804055ecddb20dfa9d07182488812391286b5676f57eedf2b95d8"
    );
}

#[test]
fn transfer_encoding() {
    let bytes = Operation::CreateTransfer(transfer()).encode();
    assert_eq!(bytes.len(), 1 + 120);
    assert_eq!(
        hex::encode(&bytes),
        "01100f0e0d0c0b0a0908070605040302010100000000000000000000000000000002000000000000000000000000000000393000000000000000000000000000000000000000000000000000000000000007000000000000000000000000000000080000000000000009000000000000000100000001000100"
    );
    assert_eq!(Operation::decode(&bytes), Ok(Operation::CreateTransfer(transfer())));
}

/// The batch's `key` (a u32, little-endian) sits right after the organisation; the vectors below
/// were renewed when it was added (2026-12-06): the digest of these bytes without those four
/// zero bytes is the earlier vector, bb881e6d…a8f8, and the signature was recomputed with
/// Python's `cryptography` package (Ed25519 is deterministic).
#[test]
fn batch_names_its_key_after_the_organisation() {
    let mut delegated = batch().batch;
    delegated.key = 0x0a0b_0c0d;
    let bytes = delegated.encode();
    assert_eq!(&bytes[32..36], &1u32.to_le_bytes(), "the organisation");
    assert_eq!(&bytes[36..40], &[0x0d, 0x0c, 0x0b, 0x0a], "the key");
    assert_eq!(&bytes[40..48], &42u64.to_le_bytes(), "the sequence");
}

#[test]
fn key_operations_encoding() {
    let register = Operation::RegisterKey(NewKey {
        id: 7,
        public_key: SecretKey::from_seed([3; 32]).public_key(),
        permissions: KeyPermissions(KeyPermissions::CREATE_TRANSFER | KeyPermissions::SPEND_LIMIT),
        accounts: KeyAccounts::from_ids(&[2001]).expect("one account"),
        ledger: 1,
        spend_limit: Amount(50_000),
        period_s: 86_400,
        expires_at_ms: 1_700_000_000_000,
    });
    let bytes = register.encode();
    // Tag, id, public key, permissions, three account ids, ledger, limit, period, expiry.
    assert_eq!(bytes.len(), 1 + 4 + 32 + 2 + 3 * 16 + 4 + 16 + 4 + 8);
    assert_eq!(std::mem::size_of::<Operation>(), 144, "a key registration is no larger than a transfer");
    assert_eq!(
        hansa_types::hash::hash(hansa_types::hash::domain::BATCH, &bytes).to_hex(),
        KEY_REGISTRATION_VECTOR
    );
    assert_eq!(Operation::decode(&bytes), Ok(register));
    let revoke = Operation::RevokeKey(KeyRevocation { id: 7 });
    assert_eq!(hex::encode(revoke.encode()), "0307000000");
    assert_eq!(Operation::decode(&revoke.encode()), Ok(revoke));
}

/// Computed independently from the layout in Python (struct, hashlib, `cryptography` for the
/// public key of seed [3; 32]).
const KEY_REGISTRATION_VECTOR: &str = "66185666258fd31a38afe384fe4151c4a5d4e11c344ab472301dc8a34d77680f";

#[test]
fn batch_digest_and_signature() {
    let signed = batch();
    assert_eq!(
        signed.batch.digest().to_hex(),
        "2b260ed6a96c71743fbeef777e1f3e253c87bf0588e78450c0a7660f4a5ce503"
    );
    assert_eq!(
        hex::encode(signed.signature.0),
        "b94ecf09be781799d98d48b5783e05b2f09092f6c93871ce533c04e91ec325c69b71cfd31a861187f8250f6e6934e5cfc650f14b7dd0aeaea0e80e3620b4f80d"
    );
    let key = SecretKey::from_seed([1; 32]).public_key();
    assert_eq!(signed.verify(&genesis().chain_id(), &key), Ok(()));
    let bytes = signed.encode();
    assert_eq!(SignedBatch::decode(&bytes), Ok(signed));
}

#[test]
fn batch_list_encoding() {
    let signed = batch();
    let list = BatchList(vec![signed.clone(), signed.clone()]);
    let bytes = list.encode();
    // A little-endian count, then each batch's canonical bytes, nothing else.
    let mut expected = 2u32.to_le_bytes().to_vec();
    expected.extend(signed.encode());
    expected.extend(signed.encode());
    assert_eq!(bytes, expected);
    assert_eq!(BatchList::encode_slice(&list.0), bytes);
    assert_eq!(
        hansa_types::hash::hash(hansa_types::hash::domain::BATCH, &bytes).to_hex(),
        "27d3a68abe6ee91f8c47b41d8bdb6f8498e4fe8405dcca0d235ecfd7db3eff3d"
    );
    assert_eq!(BatchList::decode(&bytes), Ok(list));
    assert!(BatchList::decode(&0u32.to_le_bytes()).is_err(), "an empty list is malformed");
    let too_many = (hansa_types::BATCHES_PER_SUBMISSION_MAX as u32 + 1).to_le_bytes();
    assert!(matches!(BatchList::decode(&too_many), Err(hansa_types::DecodeError::TooLong { .. })));
}

#[test]
fn block_digest_and_roots() {
    let signed = batch();
    let mut block = Block {
        header: Header {
            version: 1,
            height: 1,
            parent: Hash([3; 32]),
            timestamp_ms: 1_700_000_000_001,
            state_root: Hash([4; 32]),
            operations_root: Hash::ZERO,
            operations_count: 2,
            results_root: Hash::ZERO,
            context: vec![1, 2, 3],
        },
        batches: vec![signed.clone().seal()],
    };
    block.header.operations_root = merkle::root(&block.operation_leaves());
    block.header.results_root = merkle::root(&[
        result_leaf(1, ResultCode::Ok),
        result_leaf(transfer().id, ResultCode::ExceedsCredits),
    ]);
    assert!(block.operations_match_header());
    assert_eq!(
        block.header.operations_root.to_hex(),
        "bdc7e59bea200924fae3633dc4b093e782da0c471ea7df3e694de1ef63bac233"
    );
    assert_eq!(
        block.header.results_root.to_hex(),
        "79451df9915f13049f1f56c6b0eb71345f4e77313e7cf7f7f514c46ab08fe68e"
    );
    assert_eq!(block.digest().to_hex(), "cc1b1e0b6f918808e6ef6119d91035dd36c56b0d98f1c919c7f6f35ddd0c2003");
    let bytes = block.encode();
    assert_eq!(Block::decode(&bytes), Ok(block.clone()));
    let leaf =
        operation_leaf(OrgId(1), &signed.batch.digest(), &signed.signature, &signed.batch.operations[1]);
    assert_eq!(leaf, block.operation_leaves()[1]);
}

#[test]
fn account_and_transfer_records() {
    let account = Account {
        id: 5,
        debits_pending: Amount(1),
        debits_posted: Amount(2),
        credits_pending: Amount(3),
        credits_posted: Amount(4),
        user_data_128: 6,
        user_data_64: 7,
        user_data_32: 8,
        ledger: 1,
        code: 9,
        flags: AccountFlags(AccountFlags::HISTORY),
        timestamp: 10,
        owner: OrgId(2),
    };
    assert_eq!(
        hansa_types::proof::v1::account_leaf(&account).to_hex(),
        "919fdc1c7da081b6fb54349c5c88083e8aa3c65cfeaa041fe8fa8f94b0f72c1d"
    );
    assert_eq!(Account::decode(&account.encode()), Ok(account));
    let record = Transfer {
        id: 1,
        debit_account_id: 2,
        credit_account_id: 3,
        amount: Amount(4),
        pending_id: 0,
        user_data_128: 0,
        user_data_64: 0,
        user_data_32: 0,
        timeout_s: 60,
        ledger: 1,
        code: 1,
        flags: TransferFlags(TransferFlags::PENDING),
        timestamp: 99,
        submitter: OrgId(1),
        status: PendingStatus::Pending,
    };
    assert_eq!(
        hansa_types::proof::v1::transfer_leaf(&record).to_hex(),
        "8c21ba9d20c4fd9b44606068207a1dde7e0878a702f5d0598c311466c59ec383"
    );
    assert_eq!(Transfer::decode(&record.encode()), Ok(record));
    // The length hints are the fixed lengths: an encoding reserves its buffer once.
    assert_eq!(record.encode().len(), record.encoded_len_hint());
    assert_eq!(account.encode().len(), account.encoded_len_hint());
}

#[test]
fn decoders_reject_malformed_input() {
    let bytes = batch().encode();
    for cut in [0, 1, 40, bytes.len() - 1] {
        assert!(SignedBatch::decode(&bytes[..cut]).is_err(), "truncated at {cut}");
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(SignedBatch::decode(&extra).is_err());
    // An operation tag that does not exist.
    let mut bad = batch().batch.encode();
    let tag_offset = 32 + 4 + 8 + 4;
    bad[tag_offset] = 9;
    assert!(Batch::decode(&bad).is_err());
}

#[test]
fn a_tampered_batch_does_not_verify() {
    let mut signed = batch();
    let key = SecretKey::from_seed([1; 32]).public_key();
    signed.batch.sequence += 1;
    assert!(signed.verify(&genesis().chain_id(), &key).is_err());
}

mod never_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// The fuzz targets' properties, on stable: arbitrary bytes never panic a decoder, and
        /// whatever decodes re-encodes to the same bytes (one encoding per value).
        #[test]
        fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2_048)) {
            if let Ok(batch) = SignedBatch::decode(&bytes) {
                prop_assert_eq!(batch.encode(), bytes.clone());
            }
            if let Ok(block) = Block::decode(&bytes) {
                prop_assert_eq!(block.encode(), bytes.clone());
            }
            if let Ok(list) = BatchList::decode(&bytes) {
                prop_assert_eq!(list.encode(), bytes.clone());
            }
            let _ = Header::decode(&bytes);
            let _ = hansa_types::merkle::MerkleProof::decode(&bytes);
            let _ = serde_json::from_slice::<SignedBatch>(&bytes);
        }

        /// Mutations of a valid batch: flipped bytes and truncations never panic and never
        /// decode to a batch that still verifies unless the bytes are unchanged.
        #[test]
        fn mutated_batches_are_rejected_or_fail_verification(position in 0usize..2_000, value in any::<u8>(), cut in 0usize..2_000) {
            let original = batch();
            let mut bytes = original.encode();
            let position = position % bytes.len();
            let changed = bytes[position] != value;
            bytes[position] = value;
            bytes.truncate(bytes.len() - cut % 8);
            if let Ok(decoded) = SignedBatch::decode(&bytes) {
                let key = SecretKey::from_seed([1; 32]).public_key();
                if changed {
                    prop_assert!(decoded.verify(&genesis().chain_id(), &key).is_err());
                }
            }
        }
    }
}

#[test]
fn an_operation_proof_shows_inclusion_result_and_signer() {
    let signed = batch();
    let mut block = Block {
        header: Header {
            version: 1,
            height: 5,
            parent: Hash([3; 32]),
            timestamp_ms: 1,
            state_root: Hash([4; 32]),
            operations_root: Hash::ZERO,
            operations_count: 2,
            results_root: Hash::ZERO,
            context: vec![],
        },
        batches: vec![signed.clone().seal()],
    };
    let results = [ResultCode::Ok, ResultCode::ExceedsCredits];
    let result_leaves: Vec<Hash> =
        signed.batch.operations.iter().zip(results).map(|(op, code)| result_leaf(op.id(), code)).collect();
    block.header.operations_root = merkle::root(&block.operation_leaves());
    block.header.results_root = merkle::root(&result_leaves);
    let proof = hansa_types::OperationProof {
        header: block.header.clone(),
        org: OrgId(1),
        batch_digest: signed.batch.digest(),
        signature: signed.signature,
        operation: signed.batch.operations[1],
        result: ResultCode::ExceedsCredits,
        operation_path: merkle::MerkleProof::build(&block.operation_leaves(), 1).expect("in range"),
        result_path: merkle::MerkleProof::build(&result_leaves, 1).expect("in range"),
    };
    assert_eq!(proof.verify(), Ok(()));
    assert_eq!(proof.verify_signer(&SecretKey::from_seed([1; 32]).public_key()), Ok(()));
    assert!(proof.verify_signer(&SecretKey::from_seed([2; 32]).public_key()).is_err());
    let mut other_result = proof.clone();
    other_result.result = ResultCode::Ok;
    assert!(other_result.verify().is_err(), "a different result is not in the results root");
    let mut swapped = proof.clone();
    swapped.signature = SecretKey::from_seed([1; 32]).sign(b"something else");
    assert!(swapped.verify().is_err(), "the signature is committed by the operations root");
}

#[test]
fn state_keys_derived_ids_and_the_state_root() {
    use hansa_types::{StateCommitment, Table, state::derived_id};
    const ACCOUNTS: Table = Table::current(0x0100, "ledger.accounts");
    let key = ACCOUNTS.key(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
    // The state key's encoding is also its key in storage: table u16 LE, then id u128 LE.
    assert_eq!(hex::encode(key.encode()), "0001100f0e0d0c0b0a090807060504030201");
    assert_eq!(derived_id(ACCOUNTS.id, &[b"merchant", b"order-7"]), 101832454753775671868112798731920809806);
    let commitment = StateCommitment {
        records_root: Hash([1; 32]),
        records_ops_root: Hash([2; 32]),
        records_range: (3, 4),
        log_root: Hash([5; 32]),
        log_range: (6, 7),
    };
    // The root under the earlier rule (format 2 proofs) never changes.
    assert_eq!(
        commitment.root_v2().to_hex(),
        "30a5d87c9f73ea7968193fda506ae514ddd3ff7ae87d173e0249c806e8d270c2"
    );
    assert_ne!(commitment.root(), commitment.root_v2());
    assert_eq!(StateCommitment::decode(&commitment.encode()), Ok(commitment));
}
