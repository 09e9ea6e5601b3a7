//! Admission of one event into the mempool, for the HTTP API and for gossip alike: stateless
//! validation, `verify_strict` once, the signer's role, then what the ledger and the mempool
//! know (duplicates, spent nonces). The refusal names the problem and maps to an HTTP status.

use waybill_protocol::Hash;
use waybill_protocol::admission::{AdmissionError, CheckedEvent};
use waybill_protocol::event::{EventError, EventType, SignedEvent};
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::genesis::Role;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{KeyId, OrgId};

use crate::ledger::{LedgerError, StateStore};
use crate::limits::PARALLEL_CHECK_MIN;
use crate::mempool::{Entry, MempoolRefusal};
use crate::node::Shared;

#[derive(Debug, thiserror::Error)]
pub enum AdmissionRefusal {
    #[error("{0}")]
    Malformed(EventError),
    #[error("signature: does not verify for signer {signer}")]
    BadSignature { signer: KeyId },
    #[error("signer: {signer} is not an event signing key in the genesis")]
    UnknownSigner { signer: KeyId },
    #[error("type: {org} has no role allowing {event_type} events")]
    NotPermitted { org: OrgId, event_type: EventType },
    #[error("event {id} is already committed at height {height}")]
    AlreadyCommitted { id: Hash, height: u64 },
    #[error(
        "nonce: {nonce} is already spent by this signer (its highest committed nonce is {last_nonce}) (replay)"
    )]
    Replay { nonce: u64, last_nonce: u64 },
    #[error(transparent)]
    Mempool(#[from] MempoolRefusal),
    #[error("the node could not read its ledger: {0}")]
    Storage(#[from] LedgerError),
}

/// How the API answers a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalClass {
    BadRequest,
    TooLarge,
    Forbidden,
    Conflict,
    RetryLater,
    Internal,
}

impl AdmissionRefusal {
    pub fn class(&self) -> RefusalClass {
        match self {
            AdmissionRefusal::Malformed(EventError::TooLarge { .. }) => RefusalClass::TooLarge,
            AdmissionRefusal::Malformed(_) | AdmissionRefusal::BadSignature { .. } => {
                RefusalClass::BadRequest
            }
            AdmissionRefusal::UnknownSigner { .. } | AdmissionRefusal::NotPermitted { .. } => {
                RefusalClass::Forbidden
            }
            AdmissionRefusal::AlreadyCommitted { .. } | AdmissionRefusal::Replay { .. } => {
                RefusalClass::Conflict
            }
            AdmissionRefusal::Mempool(refusal) if refusal.is_temporary() => {
                RefusalClass::RetryLater
            }
            AdmissionRefusal::Mempool(_) => RefusalClass::Conflict,
            AdmissionRefusal::Storage(_) => RefusalClass::Internal,
        }
    }

    /// A short machine-readable name for the refusal (API `error` field, metrics label).
    pub fn code(&self) -> &'static str {
        match self {
            AdmissionRefusal::Malformed(EventError::TooLarge { .. }) => "event_too_large",
            AdmissionRefusal::Malformed(_) => "malformed",
            AdmissionRefusal::BadSignature { .. } => "bad_signature",
            AdmissionRefusal::UnknownSigner { .. } => "unknown_signer",
            AdmissionRefusal::NotPermitted { .. } => "not_permitted",
            AdmissionRefusal::AlreadyCommitted { .. } => "already_committed",
            AdmissionRefusal::Replay { .. } => "replay",
            AdmissionRefusal::Mempool(MempoolRefusal::Duplicate { .. }) => "duplicate",
            AdmissionRefusal::Mempool(MempoolRefusal::NonceInUse { .. }) => "nonce_in_use",
            AdmissionRefusal::Mempool(MempoolRefusal::Full { .. }) => "mempool_full",
            AdmissionRefusal::Mempool(MempoolRefusal::SignerQuota { .. }) => "signer_quota",
            AdmissionRefusal::Mempool(MempoolRefusal::OrganisationQuota { .. }) => {
                "organisation_quota"
            }
            AdmissionRefusal::Storage(_) => "storage",
        }
    }
}

impl AdmissionRefusal {
    /// Whether relaying this event proves the relaying peer faulty: it fails a check every
    /// node makes the same way (signature, signer, role, a clock-free rule of the event). An
    /// event refused for this node's clock or state (from the future here, already known,
    /// committed, a full mempool) is ignored, never held against the peer.
    pub fn proves_sender_faulty(&self) -> bool {
        match self {
            AdmissionRefusal::Malformed(error) => !error.depends_on_clock(),
            AdmissionRefusal::BadSignature { .. }
            | AdmissionRefusal::UnknownSigner { .. }
            | AdmissionRefusal::NotPermitted { .. } => true,
            _ => false,
        }
    }
}

/// Who handed the node an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client, over the API (or this node's own store of accepted events at restart).
    Client,
    /// A peer's gossip. The per-signer quota is the accepting node's to apply: applying it again
    /// here would drop some of a signer's events at this node only.
    Peer,
}

/// Checks `event` and puts it in the mempool; its id on success.
pub fn admit(
    shared: &Shared,
    event: SignedEvent,
    now_ms: u64,
    origin: Origin,
) -> Result<Hash, AdmissionRefusal> {
    admit_with(shared, event, now_ms, origin, |_| Ok(()))
}

/// [`admit`], running `verified` once the event's signature and form are checked and before
/// it can reach the mempool (a declaration's particulars are made durable there).
pub fn admit_with(
    shared: &Shared,
    event: SignedEvent,
    now_ms: u64,
    origin: Origin,
    verified: impl FnOnce(&CheckedEvent) -> Result<(), AdmissionRefusal>,
) -> Result<Hash, AdmissionRefusal> {
    admit_identified(shared, event.body.id(), event, now_ms, origin, verified)
}

/// [`admit_with`] for an event whose id the caller has computed already (`event.body.id()`).
pub fn admit_identified(
    shared: &Shared,
    id: Hash,
    event: SignedEvent,
    now_ms: u64,
    origin: Origin,
    verified: impl FnOnce(&CheckedEvent) -> Result<(), AdmissionRefusal>,
) -> Result<Hash, AdmissionRefusal> {
    // The same event again (gossip from several peers, a peer's hand-over, a client's retry)
    // is recognised before its signature is checked a second time.
    let known = shared
        .lock_mempool()
        .get(&id)
        .is_some_and(|pending| pending.event().signature == event.signature);
    if known {
        return Err(AdmissionRefusal::Mempool(MempoolRefusal::Duplicate { id }));
    }
    // Gossip that arrives after its block committed: no need to check its signature to drop
    // it. (A client is told about a bad signature first, even on a committed body.)
    if origin == Origin::Peer {
        if let Some(location) = shared.read_ledger().event_location(&id)? {
            return Err(AdmissionRefusal::AlreadyCommitted {
                id,
                height: location.height,
            });
        }
    }
    let admitted = match shared.verified_before(&id, &event) {
        Some(checked) => CheckedEvent::admit_checked(&shared.rules, checked, now_ms),
        None => {
            let by = match origin {
                Origin::Client => "api",
                Origin::Peer => "gossip",
            };
            shared.metrics.signatures_checked.add(by);
            CheckedEvent::admit(&shared.rules, event, now_ms)
        }
    };
    let checked = admitted.map_err(|error| match error {
        AdmissionError::UnknownSigner { signer } => AdmissionRefusal::UnknownSigner { signer },
        AdmissionError::BadSignature { signer } => AdmissionRefusal::BadSignature { signer },
        AdmissionError::Malformed(error) => AdmissionRefusal::Malformed(error),
        AdmissionError::NotPermitted { org, event_type } => {
            AdmissionRefusal::NotPermitted { org, event_type }
        }
    })?;
    verified(&checked)?;
    let body = &checked.event().body;
    // The ledger stays read-locked until the event is in the mempool: a commit (which holds the
    // write lock while it clears committed events from the mempool) cannot slip in between.
    let ledger = shared.read_ledger();
    let id = checked.id();
    if let Some(location) = ledger.event_location(&id)? {
        return Err(AdmissionRefusal::AlreadyCommitted {
            id,
            height: location.height,
        });
    }
    if let Some(spent) = ledger.spent_nonces(&body.signer)? {
        if spent.is_spent(body.nonce) {
            return Err(AdmissionRefusal::Replay {
                nonce: body.nonce,
                last_nonce: spent.highest(),
            });
        }
    }
    let entry = mempool_entry(shared, &checked, origin == Origin::Client);
    let id = shared.lock_mempool().insert(checked, entry)?;
    drop(ledger);
    Ok(id)
}

/// Checks events' form and signatures (each with its caller's index), on two threads once
/// there are [`PARALLEL_CHECK_MIN`] of them: a block's, or a peer's gossip message. The order
/// of the results is the order given.
pub fn check_on_cores(
    rules: &ChainRules,
    mut events: Vec<(usize, SignedEvent)>,
) -> Vec<(usize, Result<CheckedEvent, AdmissionError>)> {
    let check = |events: Vec<(usize, SignedEvent)>| {
        events
            .into_iter()
            .map(|(index, event)| (index, CheckedEvent::check(rules, event)))
            .collect::<Vec<_>>()
    };
    if events.len() < PARALLEL_CHECK_MIN {
        return check(events);
    }
    let second = events.split_off(events.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| check(second));
        let mut all = check(events);
        all.extend(
            other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        );
        all
    })
}

/// Checks the signatures of a peer's events this node does not hold yet, on both cores, and
/// remembers those that verify, so admitting them in order one by one (which must stay on one
/// thread: a signer's later event must not overtake an earlier one) checks none again. Below
/// [`PARALLEL_CHECK_MIN`] unknown events it leaves the checks to admission.
pub fn check_ahead(shared: &Shared, events: &[SignedEvent], ids: &[Hash]) {
    // Admission drops a committed copy before its check; so does this.
    let committed = match shared.read_ledger().committed_events(ids) {
        Ok(committed) => committed,
        Err(_) => return,
    };
    let unknown: Vec<(usize, SignedEvent)> = {
        let mempool = shared.lock_mempool();
        events
            .iter()
            .zip(ids.iter().zip(committed))
            .enumerate()
            .filter(|(_, (event, (id, committed)))| {
                !committed && !mempool.contains(id) && !shared.was_verified(id, event)
            })
            .map(|(index, (event, _))| (index, event.clone()))
            .collect()
    };
    if unknown.len() < PARALLEL_CHECK_MIN {
        return;
    }
    let checked = check_on_cores(&shared.rules, unknown);
    shared
        .metrics
        .signatures_checked
        .add_many("gossip", checked.len() as u64);
    shared.remember_verified(checked.into_iter().filter_map(|(_, result)| result.ok()));
}

/// Which mempool bounds apply to `checked`: customs' events may use the reserved room.
fn mempool_entry(shared: &Shared, checked: &CheckedEvent, from_client: bool) -> Entry {
    let customs = shared
        .rules
        .signer(&checked.event().body.signer)
        .is_some_and(|signer| signer.roles.contains(&Role::Customs));
    Entry {
        from_client,
        customs,
    }
}

/// Makes accepted events durable before the API answers 202 (one synced write for a batch).
/// If that fails they leave the mempool again and the caller answers an error: an event is
/// only ever promised once it would survive a crash.
pub fn keep_accepted(shared: &Shared, ids: &[Hash]) -> Result<(), AdmissionRefusal> {
    let events: Vec<_> = {
        let mempool = shared.lock_mempool();
        ids.iter().filter_map(|id| mempool.get(id)).collect()
    };
    let refs: Vec<&CheckedEvent> = events.iter().map(|e| e.as_ref()).collect();
    if let Err(error) = shared.read_ledger().keep_pending(&refs) {
        shared.lock_mempool().remove_committed(ids);
        return Err(AdmissionRefusal::Storage(error));
    }
    Ok(())
}

/// Re-admits the events this node had accepted when it stopped; forgets those that committed
/// meanwhile or can no longer be admitted. Returns (re-admitted, forgotten).
pub fn restore_pending(
    shared: &Shared,
    max: usize,
    now_ms: u64,
) -> Result<(usize, usize), LedgerError> {
    let pending = shared.read_ledger().pending_events(max)?;
    let mut restored = 0;
    let mut forget = Vec::new();
    for event in pending {
        let id = event.body.id();
        match admit(shared, event.clone(), now_ms, Origin::Client) {
            Ok(_) => restored += 1,
            Err(AdmissionRefusal::Mempool(MempoolRefusal::Duplicate { .. })) => restored += 1,
            // A later nonce of its signer committed while this node was down. The API already
            // promised this event a place in the chain, so it goes in and execution rejects it
            // as a replay, on the record where its submitter can read why.
            Err(AdmissionRefusal::Replay { .. }) if readmit_replay(shared, event, now_ms) => {
                restored += 1
            }
            Err(refusal) => {
                tracing::info!(event = %id, %refusal, "pending event from before the restart dropped");
                forget.push(id);
            }
        }
    }
    shared.read_ledger().forget_pending(&forget)?;
    Ok((restored, forget.len()))
}

/// Puts a restored event whose nonce went stale into the mempool without the nonce check.
fn readmit_replay(shared: &Shared, event: SignedEvent, now_ms: u64) -> bool {
    let Ok(checked) = CheckedEvent::admit(&shared.rules, event, now_ms) else {
        return false;
    };
    // Lock order: ledger, then mempool (as in `admit`).
    let ledger = shared.read_ledger();
    if !matches!(ledger.event_location(&checked.id()), Ok(None)) {
        return false;
    }
    let entry = mempool_entry(shared, &checked, false);
    let inserted = shared.lock_mempool().insert(checked, entry).is_ok();
    drop(ledger);
    inserted
}

pub use waybill_protocol::api::EventStatus;

pub fn event_status(shared: &Shared, id: &Hash) -> Result<Option<EventStatus>, LedgerError> {
    if let Some(location) = shared.read_ledger().event_location(id)? {
        return Ok(Some(match location.outcome {
            EventOutcome::Applied => EventStatus::Committed {
                height: location.height,
                index: location.index,
            },
            EventOutcome::Rejected { rejection } => EventStatus::Rejected {
                height: location.height,
                index: location.index,
                reason: rejection.to_string(),
                rejection,
            },
        }));
    }
    Ok(shared
        .lock_mempool()
        .contains(id)
        .then_some(EventStatus::Pending))
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_protocol::fixtures;

    #[test]
    fn only_what_every_node_judges_alike_counts_against_the_relaying_peer() {
        let signer = fixtures::key_id("platform");
        let faulty = [
            AdmissionRefusal::BadSignature {
                signer: signer.clone(),
            },
            AdmissionRefusal::UnknownSigner {
                signer: signer.clone(),
            },
            AdmissionRefusal::Malformed(EventError::TooLarge {
                bytes: 70_000,
                max: 65_536,
            }),
            AdmissionRefusal::Malformed(EventError::TimeTooEarly {
                time_ms: 1,
                min_ms: 2,
            }),
        ];
        let not_faulty = [
            // By this node's clock only: another node's may be a little ahead.
            AdmissionRefusal::Malformed(EventError::TimeInFuture {
                time_ms: 10,
                ahead_ms: 6 * 60 * 1_000,
                max_ms: 5 * 60 * 1_000,
            }),
            AdmissionRefusal::Mempool(MempoolRefusal::Full {
                events: 1,
                bytes: 1,
            }),
            AdmissionRefusal::Mempool(MempoolRefusal::OrganisationQuota {
                org: signer.org.clone(),
                pending: 1,
            }),
            AdmissionRefusal::Replay {
                nonce: 1,
                last_nonce: 2,
            },
            AdmissionRefusal::AlreadyCommitted {
                id: Hash::of_parts(&[b"x"]),
                height: 1,
            },
        ];
        for refusal in &faulty {
            assert!(refusal.proves_sender_faulty(), "{refusal}");
        }
        for refusal in &not_faulty {
            assert!(!refusal.proves_sender_faulty(), "{refusal}");
        }
    }
}
