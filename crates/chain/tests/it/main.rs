//! Integration tests of hansa-chain: simulated clusters, certificates, and a real-socket smoke test.

mod certificates;
mod simulation;
mod socket;
