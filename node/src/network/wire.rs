//! What nodes send each other, in the canonical encoding. Each message type has a size bound
//! checked before decoding.

use bincode::{Decode, Encode};
use waybill_protocol::block::SignedProposal;
use waybill_protocol::event::SignedEvent;
use waybill_protocol::limits::{BLOCK_ENCODED_BYTES_MAX, EVENT_ENCODED_BYTES_MAX};
use waybill_protocol::{BlockHeader, CommitCertificate, SignedVote};

/// A proposed block: the header the proposal's hash names, and its events.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct BlockBody {
    pub header: BlockHeader,
    pub events: Vec<SignedEvent>,
}

/// The consensus topic. A proposal travels with its block, so whoever can act on the proposal
/// has the block to validate; re-proposals in later rounds carry it again.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum ConsensusGossip {
    Proposal {
        proposal: SignedProposal,
        block: Box<BlockBody>,
    },
    Vote(SignedVote),
}

/// Block sync: "send me blocks from `from_height`", and, from a node that just started, "and
/// what you have pending" (up to `pending_max` events), so its mempool holds what was gossiped
/// while it was down before it proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct SyncRequest {
    pub from_height: u64,
    pub blocks_max: u32,
    pub pending_max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SyncedBlock {
    pub header: BlockHeader,
    pub events: Vec<SignedEvent>,
    pub certificate: CommitCertificate,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SyncResponse {
    /// The answering node's committed height, so the asker knows whether to ask again.
    pub tip_height: u64,
    pub blocks: Vec<SyncedBlock>,
    /// The answering node's pending events, oldest first, if they were asked for.
    pub pending: Vec<SignedEvent>,
}

/// An event on the events topic is one canonical `SignedEvent`.
pub const EVENT_GOSSIP_BYTES_MAX: usize = EVENT_ENCODED_BYTES_MAX;
/// A proposal with the largest block, plus the proposal and framing.
pub const CONSENSUS_GOSSIP_BYTES_MAX: usize = BLOCK_ENCODED_BYTES_MAX + 64 * 1024;
pub const SYNC_REQUEST_BYTES_MAX: usize = 64;
/// Pending events in one sync response at most, and the bytes they may fill.
pub const SYNC_PENDING_EVENTS_MAX: u32 = 20_000;
pub const SYNC_PENDING_FILL_BYTES: usize = 8 * 1024 * 1024;
/// A response stops adding blocks past this size (it always holds at least one).
pub const SYNC_RESPONSE_FILL_BYTES: usize = 16 * 1024 * 1024;
/// One block over the fill size at most.
pub const SYNC_RESPONSE_BYTES_MAX: usize = SYNC_RESPONSE_FILL_BYTES
    + CONSENSUS_GOSSIP_BYTES_MAX
    + SYNC_PENDING_FILL_BYTES
    + EVENT_ENCODED_BYTES_MAX;
pub const SYNC_BLOCKS_PER_REQUEST_MAX: u32 = 256;
