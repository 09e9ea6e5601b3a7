//! The Waybill validator node: it reads its configuration and genesis, and (as the ledger,
//! consensus and node issues land) orders, executes and stores events and serves them.

pub mod setup;
