//! Consensus: Tendermint, as in "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic
//! 2018), Algorithm 1. Pure: no runtime, network, database or clock (a tidy test checks the
//! dependency tree), so it builds and is tested without RocksDB's C++.
//!
//! - `state_machine`: the core (inputs in, outputs out: no clock, no I/O, no randomness);
//! - `signer`: the double-sign guard consulted before any vote or proposal leaves the node;
//! - `wal`: the write-ahead log's records and replay; `storage`: where they go (`WalStorage`,
//!   in memory for the simulation), `wal_file`: the file the node keeps them in;
//! - `driver`: the one sequence of effects (sign, WAL append, sync, then send), deferral while
//!   a decided block is missing, re-sends and WAL rotation, which the node's engine and the
//!   simulation both run.

pub mod driver;
pub mod signer;
pub mod state_machine;
pub mod storage;
pub mod wal;
pub mod wal_file;

pub use driver::{Driver, Host};
pub use signer::{
    SignError, SignedPosition, Signer, message_position, proposal_position, vote_position,
};
pub use state_machine::{
    Consensus, Evidence, EvidenceError, Input, LoggedInput, MessageRejection, Output, ReplayError,
    Timeout, TimeoutStep, proposer_of,
};
pub use storage::{MemoryWal, WalStorage};
