//! Integration tests of hansa-chain: simulated clusters (toy and real ledger), crashes of the
//! application at any point of finalization, one execution per block, certificates, and a
//! real-socket smoke test.

mod byzantine;
mod certificates;
mod crash;
mod execution;
mod ledger_simulation;
mod seeds;
mod simulation;
mod socket;
