//! Compact proposals made whole. A proposal names its events by id; the engine takes each from
//! the mempool (where gossip puts nearly all of them) and asks the proposer for the rest by
//! position. An event fetched is kept only if it has the id the compact block names at its
//! position; its signature is checked with the block's, before it is validated.
//!
//! A proposal often overtakes its own events: it is one small message, checked at once, while
//! the events' gossip waits for its signature checks. So a missing event is first waited for,
//! for [`PROPOSAL_EVENTS_GRACE`], the mempool looked at again as events arrive, and only then
//! fetched: fetching at once would have every event checked twice, once fetched and once as
//! gossip.

use std::collections::HashMap;
use std::time::Instant;

use waybill_protocol::event::SignedEvent;
use waybill_protocol::{Hash, ValidatorIndex};

use crate::limits::{PROPOSAL_EVENTS_GRACE, PROPOSAL_FETCHES_MAX};
use crate::mempool::Mempool;
use crate::network::wire::{
    BlockBody, CompactBody, ProposalEventsRequest, ProposalEventsResponse, ProposedBlock,
};

/// A compact proposal waiting for events the mempool did not have.
#[derive(Debug)]
struct Assembly {
    proposer: ValidatorIndex,
    compact: CompactBody,
    events: Vec<Option<SignedEvent>>,
    /// Until when the mempool is waited for; `None` once the proposer was asked.
    fetch_at: Option<Instant>,
}

impl Assembly {
    fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(&self.events)
            .filter(|(_, event)| event.is_none())
            .map(|(position, _)| position)
    }

    /// Takes what the mempool now holds; whether every event is here.
    fn fill_from(&mut self, mempool: &Mempool) -> bool {
        let mut whole = true;
        for (slot, id) in self.events.iter_mut().zip(&self.compact.event_ids) {
            if slot.is_none() {
                *slot = mempool.get(id).map(|pending| pending.event().clone());
                whole &= slot.is_some();
            }
        }
        whole
    }
}

/// A request for a proposal's missing events, to its proposer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub proposer: ValidatorIndex,
    pub request: ProposalEventsRequest,
}

/// The compact proposals waiting for events, at most [`PROPOSAL_FETCHES_MAX`].
#[derive(Debug, Default)]
pub struct Assemblies {
    waiting: HashMap<Hash, Assembly>,
}

impl Assemblies {
    /// Makes `compact` whole from `mempool`, or keeps it waiting for the rest (none if it waits
    /// already, or as many wait as may).
    pub fn start(
        &mut self,
        mempool: &Mempool,
        proposer: ValidatorIndex,
        compact: CompactBody,
        now: Instant,
    ) -> Option<ProposedBlock> {
        let hash = compact.header.hash();
        if self.waiting.contains_key(&hash) || self.waiting.len() >= PROPOSAL_FETCHES_MAX {
            return None;
        }
        let mut assembly = Assembly {
            proposer,
            events: vec![None; compact.event_ids.len()],
            compact,
            fetch_at: Some(now + PROPOSAL_EVENTS_GRACE),
        };
        if assembly.fill_from(mempool) {
            return Some(whole(assembly));
        }
        self.waiting.insert(hash, assembly);
        None
    }

    /// Looks at the mempool again for every waiting proposal: those now whole.
    pub fn refill(&mut self, mempool: &Mempool) -> Vec<(Hash, ProposedBlock)> {
        let ready: Vec<Hash> = self
            .waiting
            .iter_mut()
            .filter_map(|(hash, assembly)| assembly.fill_from(mempool).then_some(*hash))
            .collect();
        ready
            .into_iter()
            .filter_map(|hash| Some((hash, whole(self.waiting.remove(&hash)?))))
            .collect()
    }

    /// The requests due at `now`: proposals whose wait for the mempool is over, each asked of
    /// its proposer once.
    pub fn due(&mut self, now: Instant) -> Vec<Fetch> {
        let mut due = Vec::new();
        for (hash, assembly) in &mut self.waiting {
            if assembly.fetch_at.is_some_and(|at| at <= now) {
                assembly.fetch_at = None;
                due.push(Fetch {
                    proposer: assembly.proposer,
                    request: ProposalEventsRequest {
                        block_hash: *hash,
                        positions: assembly.missing().collect(),
                    },
                });
            }
        }
        due
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// When the next request falls due, if any is still to be sent.
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.values().filter_map(|a| a.fetch_at).min()
    }

    /// Fills a waiting proposal with what its proposer sent: the block once whole, else how
    /// many events are still missing (the proposal is then given up; its round times out, and
    /// the proposal sent again starts over).
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
        let missing = assembly.missing().count();
        if missing > 0 {
            return Some(Err(missing));
        }
        Some(Ok(whole(assembly)))
    }

    /// Forgets proposals at or below a committed height.
    pub fn forget(&mut self, committed: u64) {
        self.waiting
            .retain(|_, assembly| assembly.compact.header.height > committed);
    }
}

/// The block of a compact proposal whose every event is here.
fn whole(assembly: Assembly) -> ProposedBlock {
    let compact = assembly.compact;
    ProposedBlock {
        body: BlockBody {
            header: compact.header,
            last_commit: compact.last_commit,
            events: assembly.events.into_iter().flatten().collect(),
        },
        ids: compact.event_ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::{Entry, MempoolLimits};
    use waybill_protocol::admission::CheckedEvent;
    use waybill_protocol::event::EventKind;
    use waybill_protocol::fixtures;
    use waybill_protocol::rules::ChainRules;

    fn events(count: u64) -> Vec<CheckedEvent> {
        let rules = ChainRules::new(fixtures::genesis(4)).expect("fixture genesis");
        (1..=count)
            .map(|nonce| {
                let event = fixtures::signed_event("carrier-a", nonce, "A", EventKind::Depart);
                CheckedEvent::check(&rules, event).expect("valid")
            })
            .collect()
    }

    fn compact(events: &[CheckedEvent]) -> CompactBody {
        let header = fixtures::bare_header(1, ValidatorIndex(1), events.len() as u32);
        CompactBody {
            header,
            last_commit: None,
            event_ids: events.iter().map(CheckedEvent::id).collect(),
        }
    }

    fn pool(events: &[CheckedEvent]) -> Mempool {
        let mut mempool = Mempool::new(MempoolLimits::default());
        for event in events {
            let entry = Entry {
                from_client: false,
                customs: false,
            };
            mempool.insert(event.clone(), entry).expect("room");
        }
        mempool
    }

    /// Events that arrive by gossip during the wait make the proposal whole: nothing is asked.
    #[test]
    fn a_proposal_overtaking_its_events_waits_for_their_gossip_before_fetching() {
        let events = events(3);
        let mut assemblies = Assemblies::default();
        let start = Instant::now();
        let early = assemblies.start(
            &pool(&events[..1]),
            ValidatorIndex(1),
            compact(&events),
            start,
        );
        assert!(early.is_none());
        assert!(assemblies.due(start).is_empty());
        assert_eq!(assemblies.next_due(), Some(start + PROPOSAL_EVENTS_GRACE));
        let whole = assemblies.refill(&pool(&events));
        let [(_, block)] = whole.as_slice() else {
            panic!("one proposal made whole: {whole:?}");
        };
        let given: Vec<SignedEvent> = events.iter().map(|e| e.event().clone()).collect();
        assert_eq!(block.body.events, given);
        assert!(assemblies.due(start + PROPOSAL_EVENTS_GRACE).is_empty());
        assert_eq!(assemblies.next_due(), None);
    }

    /// Once the wait is over, what is still missing is asked of the proposer once, by position,
    /// and its answer completes the block in block order.
    #[test]
    fn what_the_mempool_still_lacks_after_the_wait_is_asked_of_the_proposer_once() {
        let events = events(4);
        let mut assemblies = Assemblies::default();
        let start = Instant::now();
        let mempool = pool(&[events[0].clone(), events[2].clone()]);
        assert!(
            assemblies
                .start(&mempool, ValidatorIndex(1), compact(&events), start)
                .is_none()
        );
        let due = assemblies.due(start + PROPOSAL_EVENTS_GRACE);
        let [Fetch { proposer, request }] = due.as_slice() else {
            panic!("one fetch: {due:?}");
        };
        assert_eq!(*proposer, ValidatorIndex(1));
        assert_eq!(request.positions, [1, 3]);
        assert!(assemblies.due(start + PROPOSAL_EVENTS_GRACE * 2).is_empty());
        let response = ProposalEventsResponse {
            block_hash: request.block_hash,
            events: vec![
                (3, events[3].event().clone()),
                (1, events[1].event().clone()),
            ],
        };
        let block = assemblies
            .receive(response)
            .expect("waiting")
            .expect("whole");
        let given: Vec<SignedEvent> = events.iter().map(|e| e.event().clone()).collect();
        assert_eq!(block.body.events, given);
        assert_eq!(block.ids, compact(&events).event_ids);
    }
}
