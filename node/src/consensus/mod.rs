//! Consensus: Tendermint, as in "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic
//! 2018), Algorithm 1. `state_machine` is the pure core (inputs in, outputs out: no clock, no
//! I/O, no randomness); `signer` is the double-sign guard the engine consults before any vote or
//! proposal leaves the node; `wal` is the write-ahead log's records and replay.

pub mod signer;
pub mod state_machine;
pub mod wal;

pub use signer::{
    SignError, SignedPosition, Signer, message_position, proposal_position, vote_position,
};
pub use state_machine::{
    Consensus, Evidence, EvidenceError, Input, MessageRejection, Output, SignatureCheck, Timeout,
    TimeoutStep, proposer_of,
};
