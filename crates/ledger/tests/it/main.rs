//! Ledger integration tests: semantics scenario by scenario, then properties against a model.

mod model;
mod scenarios;
mod support;
