//! Ledger integration tests: semantics scenario by scenario, then properties against a model.

mod golden;
mod keys;
mod model;
mod scenarios;
mod tb_model;
mod tigerbeetle;
