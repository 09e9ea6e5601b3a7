//! The Waybill validator node: reads its configuration and genesis, executes and stores blocks,
//! and serves provenance. Consensus, networking and the HTTP API arrive with their issues.

pub mod consensus;
pub mod ledger;
pub mod setup;
pub mod wal;
