//! Golden vectors of the ledger module's records and the sequence window: their bytes are the
//! values stored (and proven) in the state, so a change here changes every state root.

use hansa_ledger::{ExpiryBucket, ExpiryDirectory, FailedTransfer, Hold, Resolution, SequenceWindow};
use hansa_types::{Decode, Encode, PendingStatus, ResultCode, hash::hash};

fn digest(bytes: &[u8]) -> String {
    hash("hansa/test/golden", bytes).to_hex()
}

#[test]
fn hold_resolution_and_expiry_records() {
    let hold = Hold { expires_at: 0x0102_0304_0506_0708 };
    assert_eq!(hex::encode(hold.encode()), "0807060504030201");
    let resolution = Resolution { status: PendingStatus::Voided, transfer_id: 9, timestamp: 10 };
    assert_eq!(hex::encode(resolution.encode()), "03090000000000000000000000000000000a00000000000000");
    assert_eq!(Resolution::decode(&resolution.encode()), Ok(resolution));
    let mut bytes = resolution.encode();
    bytes[0] = PendingStatus::Pending as u8;
    assert!(Resolution::decode(&bytes).is_err(), "a resolution never says pending");
    let bucket = ExpiryBucket(vec![(5, 6, 7), (8, 9, 10)]);
    assert_eq!(digest(&bucket.encode()), "f839f290f60cdfab6e58f6e1754d1882df1cc689649d222a7737188cc7234208");
    assert_eq!(ExpiryBucket::decode(&bucket.encode()), Ok(bucket));
    let directory = ExpiryDirectory(vec![3, 4]);
    assert_eq!(hex::encode(directory.encode()), "0200000003000000000000000400000000000000");
    let failed = FailedTransfer { result: ResultCode::ExceedsCredits, timestamp: 10 };
    assert_eq!(hex::encode(failed.encode()), "530000000a00000000000000");
    assert_eq!(FailedTransfer::decode(&failed.encode()), Ok(failed));
    let mut bytes = failed.encode();
    bytes[0] = ResultCode::Ok as u8;
    assert!(FailedTransfer::decode(&bytes).is_err(), "only a transient failure refuses an id");
}

#[test]
fn sequence_window() {
    let mut window = SequenceWindow::default();
    assert_eq!(window.encode().len(), 1 + 8 + 8_192);
    for sequence in [1, 2, 70_000, 69_999] {
        window.accept(sequence);
    }
    assert_eq!(digest(&window.encode()), "d8fd09b7da0563ca594f05b9da6ef044d33472bff203c64576248a43473f72e9");
    assert_eq!(SequenceWindow::decode(&window.encode()), Ok(window));
}

/// A delegated key's record: its organisation, the registration as submitted, then registration
/// and revocation times, the period and what it spent in it. Its state key puts the key number
/// above the organisation, as the key's sequence window does.
#[test]
fn delegated_key_record_and_its_ids() {
    use hansa_types::{Amount, DelegatedKey, KeyAccounts, KeyPermissions, NewKey, OrgId, PublicKey};
    let key = DelegatedKey {
        org: OrgId(2),
        key: NewKey {
            id: 7,
            public_key: PublicKey([0xab; 32]),
            permissions: KeyPermissions(KeyPermissions::CREATE_TRANSFER | KeyPermissions::READ),
            accounts: KeyAccounts::from_ids(&[2_001, 2_002]).expect("two accounts"),
            ledger: 1,
            spend_limit: Amount(500),
            period_s: 86_400,
            expires_at_ms: 0,
        },
        registered_at: 11,
        revoked_at: 0,
        period: 3,
        spent: Amount(40),
    };
    let bytes = key.encode();
    assert_eq!(bytes.len(), 4 + (4 + 32 + 2 + 48 + 4 + 16 + 4 + 8) + 8 + 8 + 8 + 16);
    assert_eq!(&bytes[..8], &[2, 0, 0, 0, 7, 0, 0, 0], "the organisation, then the key number");
    assert_eq!(digest(&bytes), KEY_RECORD_VECTOR);
    assert_eq!(DelegatedKey::decode(&bytes), Ok(key));
    assert_eq!(hansa_ledger::signer_id(OrgId(2), 7), (7 << 32) | 2);
    assert_eq!(hansa_ledger::sequence_key(OrgId(2), 0).id, 2, "a root key's window keeps id = organisation");
    assert_eq!(hansa_ledger::signer_of((7 << 32) | 2), (OrgId(2), 7));
}

/// Computed independently from the layout in Python (struct, hashlib).
const KEY_RECORD_VECTOR: &str = "850e0ff17384e5c83e5cd1c222f568264ed75d119dfa828aab0900cd63e3f328";
