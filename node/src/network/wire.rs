//! What nodes send each other, in the canonical encoding. Each message type has a size bound
//! checked before decoding.

use bincode::{Decode, Encode};
use waybill_protocol::block::{ConsensusMessage, SignedProposal, VerifiedMessage};
use waybill_protocol::rules::ChainRules;

use crate::consensus::proposer_of;
use waybill_protocol::codec;
use waybill_protocol::event::SignedEvent;
use waybill_protocol::{BlockHeader, CommitCertificate, Hash, SignedVote};

pub use crate::limits::{
    CONSENSUS_GOSSIP_BYTES_MAX, EVENT_GOSSIP_BYTES_MAX, EVENT_GOSSIP_EVENTS_MAX,
    SYNC_BLOCKS_PER_REQUEST_MAX, SYNC_PENDING_EVENTS_MAX, SYNC_PENDING_FILL_BYTES,
    SYNC_REQUEST_BYTES_MAX, SYNC_RESPONSE_BYTES_MAX, SYNC_RESPONSE_FILL_BYTES,
};

/// A proposed block: the header the proposal's hash names, the parent's certificate its
/// `last_commit_hash` names, and its events.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct BlockBody {
    pub header: BlockHeader,
    pub last_commit: Option<CommitCertificate>,
    pub events: Vec<SignedEvent>,
}

/// A proposed block with its events' ids (in block order), as a node holds it: what it sends
/// is the compact form, and what a peer fetches of its events is asked for by position.
/// `ids[i]` is the id of `body.events[i]`: whoever builds one has checked it (the proposer
/// from its checked events, an assembly by mempool look-up or by hashing what was fetched),
/// so validation does not hash the events again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedBlock {
    pub body: BlockBody,
    pub ids: Vec<Hash>,
}

impl ProposedBlock {
    pub fn compact(&self) -> CompactBody {
        CompactBody {
            header: self.body.header.clone(),
            last_commit: self.body.last_commit.clone(),
            event_ids: self.ids.clone(),
        }
    }
}

/// A proposed block as it is gossiped: its events by id only. Every validator's mempool holds
/// nearly all of them already (they were gossiped when admitted); the rest are fetched from the
/// proposer ([`ProposalEventsRequest`]). A block of 5,000 events is 160 KB here instead of
/// about 1 MB.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct CompactBody {
    pub header: BlockHeader,
    pub last_commit: Option<CommitCertificate>,
    pub event_ids: Vec<Hash>,
}

/// The consensus topic. A proposal travels with its compact block, so whoever can act on the
/// proposal knows what to validate; re-proposals in later rounds carry it again.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum ConsensusGossip {
    Proposal {
        proposal: SignedProposal,
        block: Box<CompactBody>,
    },
    Vote(SignedVote),
}

/// A consensus message as the network hands it to the engine: its signature verified (the one
/// check it gets), a proposal with the compact block it names.
#[derive(Debug, Clone)]
pub struct VerifiedGossip {
    pub message: VerifiedMessage,
    pub block: Option<Box<CompactBody>>,
}

impl VerifiedGossip {
    /// The message verified, if it is signed by the validator it names (and a proposal is for
    /// its own round and carries the block it names); else what proves the sender faulty. This
    /// is the one signature check a consensus message gets.
    pub fn check(
        rules: &ChainRules,
        gossip: ConsensusGossip,
    ) -> Result<VerifiedGossip, &'static str> {
        let (message, block) = match gossip {
            ConsensusGossip::Proposal { proposal, block } => {
                let p = &proposal.proposal;
                // The header counts the events the ids must name, one each.
                if block.header.hash() != p.block_hash
                    || block.event_ids.len() != block.header.event_count as usize
                {
                    return Err("proposal_block_mismatch");
                }
                // Signed for a round that is not its own: provably faulty.
                if p.proposer != proposer_of(rules.validator_count(), p.height, p.round) {
                    return Err("not_the_rounds_proposer");
                }
                if block.event_ids.len() > rules.genesis().consensus.block_events_max as usize {
                    return Err("oversize_block");
                }
                (ConsensusMessage::Proposal(proposal), Some(block))
            }
            ConsensusGossip::Vote(vote) => (ConsensusMessage::Vote(vote), None),
        };
        let message = message
            .verify(rules)
            .map_err(|_| "bad_consensus_signature")?;
        Ok(VerifiedGossip { message, block })
    }
}

/// "Send me these events of the block you proposed", by their positions in it: a validator
/// whose mempool lacks some of a compact proposal's events asks its proposer.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ProposalEventsRequest {
    pub block_hash: Hash,
    pub positions: Vec<u32>,
}

/// The events asked for that the answering node holds, each with its position. The asker
/// checks each against the id the compact block names there, then its signature.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ProposalEventsResponse {
    pub block_hash: Hash,
    pub events: Vec<(u32, SignedEvent)>,
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
    pub last_commit: Option<CommitCertificate>,
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

/// The events topic's messages for `events`, in order: each a canonical `Vec<SignedEvent>` of
/// at most [`EVENT_GOSSIP_EVENTS_MAX`] events and [`EVENT_GOSSIP_BYTES_MAX`] bytes, so a batch a
/// client sent, however large, never makes an honest node send what its peers must refuse.
/// Every admitted event fits one message (`limits` asserts it).
pub fn event_gossip_messages(events: &[SignedEvent]) -> Vec<Vec<u8>> {
    // A sequence is its u64 length, then its items: the pinned canonical layout.
    const LENGTH_PREFIX_BYTES: usize = 8;
    let framed = |count: u64, items: &[u8]| {
        let mut message = codec::encode(&count);
        message.extend_from_slice(items);
        message
    };
    let mut messages = Vec::new();
    let mut items = Vec::new();
    let mut count = 0u64;
    let mut event_bytes = Vec::new();
    for event in events {
        event_bytes.clear();
        codec::encode_into(event, &mut event_bytes);
        let full = count as usize == EVENT_GOSSIP_EVENTS_MAX
            || LENGTH_PREFIX_BYTES + items.len() + event_bytes.len() > EVENT_GOSSIP_BYTES_MAX;
        if count > 0 && full {
            messages.push(framed(count, &items));
            items.clear();
            count = 0;
        }
        items.extend_from_slice(&event_bytes);
        count += 1;
    }
    if count > 0 {
        messages.push(framed(count, &items));
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_protocol::event::EventKind;
    use waybill_protocol::fixtures;

    fn decoded(message: &[u8]) -> Vec<SignedEvent> {
        codec::decode("event batch", message, EVENT_GOSSIP_BYTES_MAX).expect("a valid message")
    }

    #[test]
    fn a_large_batch_is_gossiped_in_messages_within_both_bounds_in_order() {
        // 120 declarations of about 56 KB each: 6.7 MB, more than one message may carry.
        let big = |nonce| {
            let kind = fixtures::declared(&fixtures::declaration_with_items(100, 500)).0;
            fixtures::signed_event("platform", nonce, "HAWB-1", kind)
        };
        let mut events: Vec<SignedEvent> = (1..=120).map(big).collect();
        let small = |nonce| fixtures::signed_event("carrier-a", nonce, "HAWB-2", EventKind::PickUp);
        events.extend((1..=2_500).map(small));
        let messages = event_gossip_messages(&events);
        assert!(messages.len() >= 4, "{} messages", messages.len());
        let mut back = Vec::new();
        for message in &messages {
            assert!(message.len() <= EVENT_GOSSIP_BYTES_MAX);
            let batch = decoded(message);
            assert!(batch.len() <= EVENT_GOSSIP_EVENTS_MAX);
            // The splitter's framing is exactly the canonical encoding of the sequence.
            assert_eq!(&codec::encode(&batch), message);
            back.extend(batch);
        }
        assert_eq!(back, events);
        assert!(event_gossip_messages(&[]).is_empty());
    }
}
