//! Events waiting for a block. Admission happens before (`crate::admission`): what reaches the
//! mempool is signature-checked, permitted and not yet committed. The mempool adds what only it
//! can see: duplicates and nonce clashes among pending events, and its bounds.
//!
//! Bounded four ways: events, bytes, events per signing key and events per organisation, so no
//! member can fill it; and the last `customs_reserve_*` of it is room only customs' own events
//! may take, so a hold or a release never waits because a platform flooded. A peer's gossip is
//! held to a looser organisation bound (the accepting node applied the real one; a tighter one
//! here would leave holes in a signer's nonces), which still caps what a member relaying
//! through its own validator can make others hold. A full mempool refuses (the API answers
//! 503 with Retry-After); it never evicts an event it accepted. Events leave only when a block
//! commits them, so an accepted event either commits (applied or with a recorded rejection) or
//! is still pending.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::{Hash, KeyId, OrgId};

use crate::limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    pub events_max: usize,
    pub bytes_max: usize,
    pub per_signer_max: usize,
    pub per_organisation_max: usize,
    /// For events that arrived by gossip: every validator may have accepted its share.
    pub per_organisation_from_peers_max: usize,
    pub customs_reserve_events: usize,
    pub customs_reserve_bytes: usize,
}

impl MempoolLimits {
    /// The node's limits for a network of `validators`.
    pub fn for_validators(validators: usize) -> MempoolLimits {
        MempoolLimits {
            per_organisation_from_peers_max: limits::MEMPOOL_PER_ORGANISATION_MAX
                .saturating_mul(validators.max(1)),
            ..MempoolLimits::default()
        }
    }
}

impl Default for MempoolLimits {
    fn default() -> MempoolLimits {
        MempoolLimits {
            events_max: limits::MEMPOOL_EVENTS_MAX,
            bytes_max: limits::MEMPOOL_BYTES_MAX,
            per_signer_max: limits::MEMPOOL_PER_SIGNER_MAX,
            per_organisation_max: limits::MEMPOOL_PER_ORGANISATION_MAX,
            per_organisation_from_peers_max: limits::MEMPOOL_PER_ORGANISATION_MAX,
            customs_reserve_events: limits::MEMPOOL_CUSTOMS_RESERVE_EVENTS,
            customs_reserve_bytes: limits::MEMPOOL_CUSTOMS_RESERVE_BYTES,
        }
    }
}

/// Who handed the mempool an event, and whether customs signed it: which bounds apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// A client of this node (quotas per key and organisation apply), or a peer's gossip.
    pub from_client: bool,
    /// Signed by a customs organisation: may use the reserved room.
    pub customs: bool,
}

/// Why the mempool did not take an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolRefusal {
    #[error("event {id} is already pending")]
    Duplicate { id: Hash },
    #[error("signer {signer} already has a pending event with nonce {nonce}")]
    NonceInUse { signer: KeyId, nonce: u64 },
    #[error("the mempool is full ({events} events, {bytes} bytes pending); retry later")]
    Full { events: usize, bytes: usize },
    #[error("signer {signer} has {pending} events pending, its quota; retry later")]
    SignerQuota { signer: KeyId, pending: usize },
    #[error("organisation {org} has {pending} events pending, its quota; retry later")]
    OrganisationQuota { org: OrgId, pending: usize },
}

impl MempoolRefusal {
    /// A refusal that goes away by itself as blocks commit.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            MempoolRefusal::Full { .. }
                | MempoolRefusal::SignerQuota { .. }
                | MempoolRefusal::OrganisationQuota { .. }
        )
    }
}

#[derive(Debug)]
struct Pending {
    event: Arc<CheckedEvent>,
    arrival: u64,
    admitted: Instant,
}

#[derive(Debug, Default)]
pub struct Mempool {
    limits: MempoolLimits,
    by_arrival: BTreeMap<u64, Hash>,
    by_id: HashMap<Hash, Pending>,
    /// Pending nonces per signer: how clashes and quotas are checked.
    by_signer: HashMap<KeyId, BTreeMap<u64, Hash>>,
    /// Pending events per organisation (all its keys).
    by_organisation: HashMap<OrgId, usize>,
    bytes: usize,
    next_arrival: u64,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Mempool {
        Mempool {
            limits,
            ..Mempool::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn get(&self, id: &Hash) -> Option<Arc<CheckedEvent>> {
        self.by_id.get(id).map(|p| p.event.clone())
    }

    /// Takes a checked event in; the refusal says why not.
    pub fn insert(&mut self, event: CheckedEvent, entry: Entry) -> Result<Hash, MempoolRefusal> {
        let id = event.id();
        if self.by_id.contains_key(&id) {
            return Err(MempoolRefusal::Duplicate { id });
        }
        let body = &event.event().body;
        let pending_of_signer = self.by_signer.get(&body.signer);
        if pending_of_signer.is_some_and(|nonces| nonces.contains_key(&body.nonce)) {
            return Err(MempoolRefusal::NonceInUse {
                signer: body.signer.clone(),
                nonce: body.nonce,
            });
        }
        self.check_room(event.encoded_len(), entry.customs)?;
        let pending = pending_of_signer.map_or(0, BTreeMap::len);
        if entry.from_client && pending >= self.limits.per_signer_max {
            return Err(MempoolRefusal::SignerQuota {
                signer: body.signer.clone(),
                pending,
            });
        }
        let org = &body.signer.org;
        let pending = self.by_organisation.get(org).copied().unwrap_or(0);
        let organisation_max = match entry.from_client {
            true => self.limits.per_organisation_max,
            false => self.limits.per_organisation_from_peers_max,
        };
        if pending >= organisation_max {
            return Err(MempoolRefusal::OrganisationQuota {
                org: org.clone(),
                pending,
            });
        }
        let size = event.encoded_len();
        *self.by_organisation.entry(org.clone()).or_default() += 1;
        self.by_signer
            .entry(body.signer.clone())
            .or_default()
            .insert(body.nonce, id);
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.by_arrival.insert(arrival, id);
        self.bytes += size;
        self.by_id.insert(
            id,
            Pending {
                event: Arc::new(event),
                arrival,
                admitted: Instant::now(),
            },
        );
        Ok(id)
    }

    /// Whether an event of `size` bytes fits: everyone but customs stops short of the reserve.
    fn check_room(&self, size: usize, customs: bool) -> Result<(), MempoolRefusal> {
        let (events_max, bytes_max) = match customs {
            true => (self.limits.events_max, self.limits.bytes_max),
            false => (
                self.limits
                    .events_max
                    .saturating_sub(self.limits.customs_reserve_events),
                self.limits
                    .bytes_max
                    .saturating_sub(self.limits.customs_reserve_bytes),
            ),
        };
        if self.by_id.len() >= events_max || self.bytes + size > bytes_max {
            return Err(MempoolRefusal::Full {
                events: self.by_id.len(),
                bytes: self.bytes,
            });
        }
        Ok(())
    }

    /// The oldest pending events that fit `events_max` and `bytes_max`, in arrival order; they
    /// stay pending until a block commits them.
    pub fn block_candidates(&self, events_max: usize, bytes_max: usize) -> Vec<Arc<CheckedEvent>> {
        let mut taken = Vec::new();
        let mut bytes = 0;
        for id in self.by_arrival.values() {
            if taken.len() == events_max {
                break;
            }
            let event = &self.by_id[id].event;
            if bytes + event.encoded_len() > bytes_max {
                break;
            }
            bytes += event.encoded_len();
            taken.push(event.clone());
        }
        taken
    }

    /// Drops events a committed block holds (applied or rejected: either way they are done);
    /// returns when each removed one was admitted (the commit latency metric).
    pub fn remove_committed<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a Hash>,
    ) -> Vec<Instant> {
        let mut admitted = Vec::new();
        for id in ids {
            let Some(pending) = self.by_id.remove(id) else {
                continue;
            };
            admitted.push(pending.admitted);
            self.by_arrival.remove(&pending.arrival);
            self.bytes -= pending.event.encoded_len();
            let body = &pending.event.event().body;
            if let Some(nonces) = self.by_signer.get_mut(&body.signer) {
                nonces.remove(&body.nonce);
                if nonces.is_empty() {
                    self.by_signer.remove(&body.signer);
                }
            }
            if let Some(pending) = self.by_organisation.get_mut(&body.signer.org) {
                *pending -= 1;
                if *pending == 0 {
                    self.by_organisation.remove(&body.signer.org);
                }
            }
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_protocol::event::EventKind;
    use waybill_protocol::fixtures;
    use waybill_protocol::rules::ChainRules;

    const CLIENT: Entry = Entry {
        from_client: true,
        customs: false,
    };
    const PEER: Entry = Entry {
        from_client: false,
        customs: false,
    };
    const CUSTOMS: Entry = Entry {
        from_client: true,
        customs: true,
    };

    fn events_of(org: &str, count: u64) -> Vec<CheckedEvent> {
        let rules = ChainRules::new(fixtures::genesis(4)).expect("fixture genesis");
        (1..=count)
            .map(|nonce| {
                let event = fixtures::signed_event(org, nonce, "SHIP-1", EventKind::PickUp);
                CheckedEvent::check(&rules, event).expect("fixture event checks")
            })
            .collect()
    }

    fn events(count: u64) -> Vec<CheckedEvent> {
        events_of(fixtures::ORGANISATION_IDS[2], count)
    }

    fn limits(events_max: usize, per_signer_max: usize) -> MempoolLimits {
        MempoolLimits {
            events_max,
            bytes_max: usize::MAX,
            per_signer_max,
            per_organisation_max: usize::MAX,
            per_organisation_from_peers_max: usize::MAX,
            customs_reserve_events: 0,
            customs_reserve_bytes: 0,
        }
    }

    #[test]
    fn keeps_arrival_order_and_refuses_duplicates_and_nonce_clashes() {
        let events = events(3);
        let mut pool = Mempool::new(MempoolLimits::default());
        for event in &events {
            pool.insert(event.clone(), CLIENT).expect("room");
        }
        assert_eq!(
            pool.insert(events[1].clone(), CLIENT),
            Err(MempoolRefusal::Duplicate { id: events[1].id() })
        );
        let taken = pool.block_candidates(2, usize::MAX);
        assert_eq!(
            taken.iter().map(|e| e.id()).collect::<Vec<_>>(),
            vec![events[0].id(), events[1].id()]
        );
        pool.remove_committed(&[events[0].id()]);
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.block_candidates(9, usize::MAX)[0].id(), events[1].id());
    }

    #[test]
    fn full_and_quota_refusals_are_temporary_and_nothing_is_evicted() {
        let events = events(4);
        let mut pool = Mempool::new(limits(10, 2));
        pool.insert(events[0].clone(), CLIENT).expect("room");
        pool.insert(events[1].clone(), CLIENT).expect("room");
        let refusal = pool.insert(events[2].clone(), CLIENT).expect_err("quota");
        assert!(matches!(refusal, MempoolRefusal::SignerQuota { .. }));
        assert!(refusal.is_temporary());
        assert!(pool.contains(&events[0].id()) && pool.contains(&events[1].id()));
        // A peer's gossip is not held to the key's quota (the accepting node applied it).
        pool.insert(events[2].clone(), PEER)
            .expect("no key quota for peers' events");

        let mut pool = Mempool::new(limits(1, 10));
        pool.insert(events[0].clone(), CLIENT).expect("room");
        let refusal = pool.insert(events[3].clone(), CLIENT).expect_err("full");
        assert!(matches!(refusal, MempoolRefusal::Full { events: 1, .. }));
        pool.remove_committed(&[events[0].id()]);
        pool.insert(events[3].clone(), CLIENT).expect("room again");
        assert_eq!(pool.bytes(), events[3].encoded_len());
    }

    #[test]
    fn one_organisation_cannot_take_more_than_its_quota_from_clients_or_peers() {
        let platform = events_of("platform", 5);
        let carrier = events_of("carrier-a", 1);
        let mut pool = Mempool::new(MempoolLimits {
            per_organisation_max: 2,
            per_organisation_from_peers_max: 3,
            ..limits(100, 100)
        });
        pool.insert(platform[0].clone(), CLIENT).expect("room");
        pool.insert(platform[1].clone(), CLIENT).expect("room");
        let refusal = pool.insert(platform[2].clone(), CLIENT).expect_err("quota");
        assert!(matches!(
            refusal,
            MempoolRefusal::OrganisationQuota { pending: 2, .. }
        ));
        assert!(refusal.is_temporary());
        // Gossip has the looser bound, but a bound.
        pool.insert(platform[2].clone(), PEER).expect("peer bound");
        let refusal = pool
            .insert(platform[3].clone(), PEER)
            .expect_err("peer quota");
        assert!(matches!(
            refusal,
            MempoolRefusal::OrganisationQuota { pending: 3, .. }
        ));
        // Another organisation is not affected; a commit frees the quota.
        pool.insert(carrier[0].clone(), CLIENT).expect("room");
        pool.remove_committed(&[platform[0].id(), platform[1].id()]);
        pool.insert(platform[3].clone(), CLIENT)
            .expect("quota freed");
    }

    #[test]
    fn the_customs_reserve_is_left_for_customs_events() {
        let platform = events_of("platform", 4);
        let customs = events_of(fixtures::ORGANISATION_IDS[0], 2);
        let mut pool = Mempool::new(MempoolLimits {
            customs_reserve_events: 2,
            ..limits(4, 100)
        });
        pool.insert(platform[0].clone(), CLIENT).expect("room");
        pool.insert(platform[1].clone(), CLIENT).expect("room");
        let refusal = pool
            .insert(platform[2].clone(), CLIENT)
            .expect_err("reserve");
        assert!(matches!(refusal, MempoolRefusal::Full { events: 2, .. }));
        pool.insert(customs[0].clone(), CUSTOMS)
            .expect("customs room");
        pool.insert(customs[1].clone(), CUSTOMS)
            .expect("customs room");
        assert!(matches!(
            pool.insert(platform[3].clone(), CUSTOMS),
            Err(MempoolRefusal::Full { events: 4, .. })
        ));
    }
}
