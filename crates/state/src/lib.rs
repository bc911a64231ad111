//! Hansa's state on disk: authenticated storage of the ledger's records, their roots and proofs.
//!
//! The ledger executes blocks against records and returns write sets (`hansa-ledger`); this
//! crate keeps the records. Two Commonware QMDB databases hold them (see
//! `hansa_types::state` for the specification of the state root):
//! - current records (accounts, open holds, sequence windows, ...) in a `current` database,
//!   keyed by table and id, whose root proves that a value is the current one;
//! - log records (transfers, resolutions of holds, ...) appended to a `keyless` log, whose root
//!   proves that a record was written, and a disk-resident index (redb, [`LogIndex`]) from each
//!   log record's key to its position, so a lookup by id never holds every id in memory.
//!
//! [`Store`] opens them, reads records for a block (at the finalized tip or through the
//! speculative states of unfinalized blocks, [`Speculation`]), builds the speculative state of
//! a block from its write set (the state root a header carries), applies finalized blocks, and
//! makes the state durable at checkpoints: after a crash it reopens at the last checkpoint and
//! the chain replays the blocks after it. [`proof`] holds the record proofs and their offline
//! verification; [`sync`] the state sync by which a new validator fetches a peer's checkpoint,
//! verified against a finalized state root, instead of replaying history.
//!
//! What this crate never does: interpret records (they are bytes of a table), or decide what a
//! block means.

pub mod log_index;
pub mod pack;
pub mod proof;
mod store;
pub mod sync;

pub use log_index::{LogIndex, LogIndexError};
pub use proof::{RecordProof, StateProof, VerifyError};
pub use store::{
    Checkpoint, SNAPSHOTS_KEPT, Speculation, Store, StoreConfig, StoreError, StoreStatus, SyncPhases, Synced,
};
pub use sync::{Part, Peers};
