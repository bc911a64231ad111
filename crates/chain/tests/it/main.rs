//! Integration tests of hansa-chain: simulated clusters (toy and real ledger), certificates,
//! and a real-socket smoke test.

mod certificates;
mod ledger_simulation;
mod simulation;
mod socket;
