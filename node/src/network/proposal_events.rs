//! The events of a compact proposal a validator lacks, fetched from the proposer point to
//! point (`/waybill/{chain}/proposal-events/1`). The proposer answers from the blocks it holds
//! as proposed (`Shared::proposals`): its own, and any it assembled, so a re-proposal by
//! another validator is served too. The asker checks every event against the id the compact
//! block names at its position, then its signature, before the block is validated.

use super::wire::{ProposalEventsRequest, ProposalEventsResponse};
use crate::limits::{PROPOSAL_EVENTS_REQUEST_BYTES_MAX, PROPOSAL_EVENTS_RESPONSE_BYTES_MAX};
use crate::node::Shared;

/// The exchange, framed like block sync.
#[derive(Debug)]
pub struct ProposalEvents;

impl super::Exchange for ProposalEvents {
    type Request = ProposalEventsRequest;
    type Response = ProposalEventsResponse;
    const REQUEST_BYTES_MAX: usize = PROPOSAL_EVENTS_REQUEST_BYTES_MAX;
    const RESPONSE_BYTES_MAX: usize = PROPOSAL_EVENTS_RESPONSE_BYTES_MAX;
    const REQUEST: &'static str = "proposal events request";
    const RESPONSE: &'static str = "proposal events response";
}

/// What this node holds of the events asked for: none for a block it does not hold, and each
/// position once at most, in the order asked.
pub fn serve(shared: &Shared, request: &ProposalEventsRequest) -> ProposalEventsResponse {
    let events = match shared.proposal(&request.block_hash) {
        Some(block) => {
            let mut given = std::collections::HashSet::new();
            request
                .positions
                .iter()
                .filter(|position| given.insert(**position))
                .filter_map(|position| {
                    let event = block.body.events.get(*position as usize)?;
                    Some((*position, event.clone()))
                })
                .collect()
        }
        None => Vec::new(),
    };
    ProposalEventsResponse {
        block_hash: request.block_hash,
        events,
    }
}
