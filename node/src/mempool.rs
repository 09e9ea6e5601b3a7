//! Events waiting for a block. Admission happens before (`crate::admission`): what reaches the
//! mempool is signature-checked, permitted and not yet committed. The mempool adds what only it
//! can see: duplicates and nonce clashes among pending events, and its bounds.
//!
//! Bounded three ways: events, bytes, and events per signer, so one noisy carrier cannot crowd
//! out customs. A full mempool refuses (the API answers 503 with Retry-After); it never evicts
//! an event it accepted. Events leave only when a block commits them, so an accepted event
//! either commits (applied or with a recorded rejection) or is still pending.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::{Hash, KeyId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    pub events_max: usize,
    pub bytes_max: usize,
    pub per_signer_max: usize,
}

impl Default for MempoolLimits {
    fn default() -> MempoolLimits {
        MempoolLimits {
            events_max: 100_000,
            bytes_max: 256 * 1024 * 1024,
            per_signer_max: 20_000,
        }
    }
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
}

impl MempoolRefusal {
    /// A refusal that goes away by itself as blocks commit.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            MempoolRefusal::Full { .. } | MempoolRefusal::SignerQuota { .. }
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

    /// Takes a checked event in; the refusal says why not. `per_signer_quota` is off for events
    /// another node already accepted (see `admission::Origin`).
    pub fn insert(
        &mut self,
        event: CheckedEvent,
        per_signer_quota: bool,
    ) -> Result<Hash, MempoolRefusal> {
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
        let size = event.encoded_len();
        if self.by_id.len() >= self.limits.events_max || self.bytes + size > self.limits.bytes_max {
            return Err(MempoolRefusal::Full {
                events: self.by_id.len(),
                bytes: self.bytes,
            });
        }
        let pending = pending_of_signer.map_or(0, BTreeMap::len);
        if per_signer_quota && pending >= self.limits.per_signer_max {
            return Err(MempoolRefusal::SignerQuota {
                signer: body.signer.clone(),
                pending,
            });
        }
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

    fn events(count: u64) -> (ChainRules, Vec<CheckedEvent>) {
        let rules = ChainRules::new(fixtures::genesis(4)).expect("fixture genesis");
        let events = (1..=count)
            .map(|nonce| {
                let event = fixtures::signed_event(
                    fixtures::ORGANISATION_IDS[2],
                    nonce,
                    "SHIP-1",
                    EventKind::PickUp,
                );
                CheckedEvent::check(&rules, event).expect("fixture event checks")
            })
            .collect();
        (rules, events)
    }

    #[test]
    fn keeps_arrival_order_and_refuses_duplicates_and_nonce_clashes() {
        let (_, events) = events(3);
        let mut pool = Mempool::new(MempoolLimits::default());
        for event in &events {
            pool.insert(event.clone(), true).expect("room");
        }
        assert_eq!(
            pool.insert(events[1].clone(), true),
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
        let (_, events) = events(4);
        let mut pool = Mempool::new(MempoolLimits {
            events_max: 10,
            bytes_max: usize::MAX,
            per_signer_max: 2,
        });
        pool.insert(events[0].clone(), true).expect("room");
        pool.insert(events[1].clone(), true).expect("room");
        let refusal = pool.insert(events[2].clone(), true).expect_err("quota");
        assert!(matches!(refusal, MempoolRefusal::SignerQuota { .. }));
        assert!(refusal.is_temporary());
        assert!(pool.contains(&events[0].id()) && pool.contains(&events[1].id()));
        // A peer's gossip is not held to the quota (the accepting node applied it).
        pool.insert(events[2].clone(), false)
            .expect("no quota for peers' events");

        let mut pool = Mempool::new(MempoolLimits {
            events_max: 1,
            bytes_max: usize::MAX,
            per_signer_max: 10,
        });
        pool.insert(events[0].clone(), true).expect("room");
        let refusal = pool.insert(events[3].clone(), true).expect_err("full");
        assert!(matches!(refusal, MempoolRefusal::Full { events: 1, .. }));
        pool.remove_committed(&[events[0].id()]);
        pool.insert(events[3].clone(), true).expect("room again");
        assert_eq!(pool.bytes(), events[3].encoded_len());
    }
}
