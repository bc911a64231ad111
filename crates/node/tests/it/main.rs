//! End-to-end tests of the `hansa` binary: real validator processes over real sockets.

mod access;
mod api;
mod browser;
mod delegated_keys;
mod devnet;
mod openapi;
mod partition;
mod state_sync;
mod support;
mod tls;
