//! Compact proposals made whole. A proposal names its events by id; the engine takes each from
//! the mempool (where gossip put nearly all of them) and asks the proposer for the rest by
//! position. An event fetched is kept only if it has the id the compact block names at its
//! position; its signature is checked with the block's, before it is validated.

use std::collections::HashMap;

use waybill_protocol::Hash;
use waybill_protocol::event::SignedEvent;

use crate::limits::PROPOSAL_FETCHES_MAX;
use crate::mempool::Mempool;
use crate::network::wire::{
    BlockBody, CompactBody, ProposalEventsRequest, ProposalEventsResponse, ProposedBlock,
};

/// A compact proposal waiting for events the mempool did not have.
#[derive(Debug)]
struct Assembly {
    compact: CompactBody,
    events: Vec<Option<SignedEvent>>,
}

/// What became of a compact proposal.
#[derive(Debug)]
pub enum Assembled {
    /// Every event was here, or has now arrived.
    Whole(Box<ProposedBlock>),
    /// Some are missing: ask the proposer for these.
    Fetch(ProposalEventsRequest),
    /// Already waiting for this block, or for as many as we wait for at once.
    Waiting,
}

/// The compact proposals waiting for events, at most [`PROPOSAL_FETCHES_MAX`].
#[derive(Debug, Default)]
pub struct Assemblies {
    waiting: HashMap<Hash, Assembly>,
}

impl Assemblies {
    /// Makes `compact` whole from `mempool`, or says what to fetch.
    pub fn start(&mut self, mempool: &Mempool, compact: CompactBody) -> Assembled {
        let hash = compact.header.hash();
        if self.waiting.contains_key(&hash) {
            return Assembled::Waiting;
        }
        let events: Vec<Option<SignedEvent>> = compact
            .event_ids
            .iter()
            .map(|id| mempool.get(id).map(|pending| pending.event().clone()))
            .collect();
        let positions: Vec<u32> = (0u32..)
            .zip(&events)
            .filter(|(_, event)| event.is_none())
            .map(|(position, _)| position)
            .collect();
        if positions.is_empty() {
            return Assembled::Whole(Box::new(whole(compact, events)));
        }
        if self.waiting.len() >= PROPOSAL_FETCHES_MAX {
            return Assembled::Waiting;
        }
        self.waiting.insert(hash, Assembly { compact, events });
        Assembled::Fetch(ProposalEventsRequest {
            block_hash: hash,
            positions,
        })
    }

    /// Fills a waiting proposal with what its proposer sent: the block once whole, else how
    /// many events are still missing (the proposal is then given up; its round times out).
    pub fn receive(
        &mut self,
        response: ProposalEventsResponse,
    ) -> Option<Result<ProposedBlock, usize>> {
        let mut assembly = self.waiting.remove(&response.block_hash)?;
        for (position, event) in response.events {
            let position = position as usize;
            let (Some(slot), Some(id)) = (
                assembly.events.get_mut(position),
                assembly.compact.event_ids.get(position),
            ) else {
                continue;
            };
            if slot.is_none() && event.body.id() == *id {
                *slot = Some(event);
            }
        }
        let missing = assembly.events.iter().filter(|e| e.is_none()).count();
        if missing > 0 {
            return Some(Err(missing));
        }
        Some(Ok(whole(assembly.compact, assembly.events)))
    }

    /// Forgets proposals at or below a committed height.
    pub fn forget(&mut self, committed: u64) {
        self.waiting
            .retain(|_, assembly| assembly.compact.header.height > committed);
    }
}

/// The block of a compact proposal whose every event is here.
fn whole(compact: CompactBody, events: Vec<Option<SignedEvent>>) -> ProposedBlock {
    ProposedBlock {
        body: BlockBody {
            header: compact.header,
            last_commit: compact.last_commit,
            events: events.into_iter().flatten().collect(),
        },
        ids: compact.event_ids,
    }
}
