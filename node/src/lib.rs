//! The Waybill validator node: consensus, execution, ledger, mempool, libp2p networking and the
//! HTTP API. `run` wires them together; ARCHITECTURE.md is the map.

/// Consensus lives in its own pure crate; the node runs its driver.
pub use waybill_consensus as consensus;

pub mod access;
pub mod admission;
pub mod api;
pub mod assembly;
pub mod caller;
pub mod engine;
pub mod host;
pub mod http_server;
pub mod ledger;
pub mod limits;
pub mod mempool;
pub mod metrics;
pub mod network;
pub mod node;
pub mod private;
pub mod run;
pub mod setup;
