//! Record proofs: that a record is in the state after a block, checkable offline.
//!
//! Specification (proof format 3). A [`StateProof`] carries the header of a finalized block,
//! the [`StateCommitment`] whose root is the header's state root, and a [`RecordProof`]:
//! - for a current record, the record's table, id and encoded value, and a QMDB `current`
//!   key-value proof (Commonware codec, hex in JSON) that storage key `table u16 LE || id u128
//!   LE` has the packed value ([`crate::pack`]) *now*, against `records_root`;
//! - for a log record, its table, id, value, its location in the log, and a QMDB inclusion
//!   proof of the log entry `encode(table, id) || pack(value)` at that location, against
//!   `log_root`.
//!
//! Format 2 is the same with values stored unpacked (chains of storage format 1), whose headers
//! hash the commitment under the earlier tag ([`StateCommitment::root_v2`]). The format number
//! thus decides which root the header must carry: a format 3 proof relabelled as format 2 (or
//! the reverse) no longer matches its header.
//! Verification needs nothing but the proof (the header's finality is checked separately,
//! against the genesis validator keys). The format number is part of the proof: every later
//! verifier keeps accepting formats 2 and 3.

use crate::store::{CHUNK, Family, StorageKey, log_entry, storage_key, stored};
use commonware_codec::{Decode as _, Encode as _};
use commonware_cryptography::{Sha256, sha256::Digest};
use commonware_storage::merkle::{Location, MAX_PROOF_DIGESTS_PER_ELEMENT, Proof};
use commonware_storage::qmdb;
use commonware_storage::qmdb::current::unordered::proof::constant::KeyValueProof;
use hansa_types::{Hash, Header, StateCommitment, StateKey, TableId};
use serde::{Deserialize, Serialize};

/// The proof format this crate issues.
pub const PROOF_FORMAT: u16 = 3;
/// The earliest format this crate verifies (values unpacked).
pub const PROOF_FORMAT_MIN: u16 = 2;

/// A record and the proof that it is in the state after `header`'s block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    /// The proof format ([`PROOF_FORMAT`]).
    pub format: u16,
    pub header: Header,
    pub state: StateCommitment,
    pub record: RecordProof,
}

/// The proof of one record against a [`StateCommitment`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordProof {
    /// A current record's value is its current one.
    Current {
        table: u16,
        #[serde(with = "hansa_types::serde_u128")]
        id: u128,
        #[serde(with = "hansa_types::serde_hex_bytes")]
        value: Vec<u8>,
        #[serde(with = "hansa_types::serde_hex_bytes")]
        proof: Vec<u8>,
    },
    /// A log record was written at `location` of the log.
    Log {
        table: u16,
        #[serde(with = "hansa_types::serde_u128")]
        id: u128,
        location: u64,
        #[serde(with = "hansa_types::serde_hex_bytes")]
        value: Vec<u8>,
        #[serde(with = "hansa_types::serde_hex_bytes")]
        proof: Vec<u8>,
    },
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("proof format {0} is not known to this verifier (it knows {PROOF_FORMAT_MIN} to {PROOF_FORMAT})")]
    UnknownFormat(u16),
    #[error("the state commitment does not hash to the header's state root")]
    StateRootMismatch,
    #[error("the storage proof is malformed: {0}")]
    Malformed(String),
    #[error("the record is not the current value of its key under the records root")]
    NotCurrent,
    #[error("the record is not in the log at the claimed location under the log root")]
    NotInLog,
}

fn digest_of(hash: &Hash) -> Digest {
    Digest::from(hash.0)
}

impl RecordProof {
    /// The record's key.
    pub fn key(&self) -> StateKey {
        match self {
            RecordProof::Current { table, id, .. } | RecordProof::Log { table, id, .. } => {
                StateKey { table: TableId(*table), id: *id }
            }
        }
    }

    /// The record's encoded value.
    pub fn value(&self) -> &[u8] {
        match self {
            RecordProof::Current { value, .. } | RecordProof::Log { value, .. } => value,
        }
    }

    /// Checks the record against `state`, as a proof of `format` states it (see the module's
    /// specification).
    pub(crate) fn verify(&self, format: u16, state: &StateCommitment) -> Result<(), VerifyError> {
        if !(PROOF_FORMAT_MIN..=PROOF_FORMAT).contains(&format) {
            return Err(VerifyError::UnknownFormat(format));
        }
        let as_stored = |value: &[u8]| if format >= 3 { stored(value) } else { value.to_vec() };
        let key = self.key();
        match self {
            RecordProof::Current { value, proof, .. } => {
                let proof = KeyValueProof::<Family, Digest, CHUNK>::decode_cfg(
                    proof.clone(),
                    &MAX_PROOF_DIGESTS_PER_ELEMENT,
                )
                .map_err(|error| VerifyError::Malformed(error.to_string()))?;
                let operation =
                    qmdb::any::unordered::variable::Operation::<Family, StorageKey, Vec<u8>>::Update(
                        qmdb::any::unordered::Update(storage_key(&key), as_stored(value)),
                    );
                if !proof.verify::<Sha256, _>(operation, &digest_of(&state.records_root)) {
                    return Err(VerifyError::NotCurrent);
                }
            }
            RecordProof::Log { location, value, proof, .. } => {
                let proof =
                    Proof::<Family, Digest>::decode_cfg(proof.clone(), &MAX_PROOF_DIGESTS_PER_ELEMENT)
                        .map_err(|error| VerifyError::Malformed(error.to_string()))?;
                let operation = qmdb::keyless::variable::Operation::<Family, Vec<u8>>::Append(log_entry(
                    &key,
                    &as_stored(value),
                ));
                let root = digest_of(&state.log_root);
                if !qmdb::verify_proof::<Sha256, Family, _>(
                    &proof,
                    Location::new(*location),
                    &[operation],
                    &root,
                ) {
                    return Err(VerifyError::NotInLog);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn encode_current(
        key: &StateKey,
        value: Vec<u8>,
        proof: &KeyValueProof<Family, Digest, CHUNK>,
    ) -> RecordProof {
        RecordProof::Current { table: key.table.0, id: key.id, value, proof: proof.encode().to_vec() }
    }

    pub(crate) fn encode_log(
        key: &StateKey,
        location: u64,
        value: Vec<u8>,
        proof: &Proof<Family, Digest>,
    ) -> RecordProof {
        RecordProof::Log { table: key.table.0, id: key.id, location, value, proof: proof.encode().to_vec() }
    }
}

impl StateProof {
    /// Checks the record against the header's state root (not the header's finality).
    pub fn verify(&self) -> Result<(), VerifyError> {
        if !(PROOF_FORMAT_MIN..=PROOF_FORMAT).contains(&self.format) {
            return Err(VerifyError::UnknownFormat(self.format));
        }
        let root = if self.format >= 3 { self.state.root() } else { self.state.root_v2() };
        if root != self.header.state_root {
            return Err(VerifyError::StateRootMismatch);
        }
        self.record.verify(self.format, &self.state)
    }
}
