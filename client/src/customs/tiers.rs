//! Trusted-trader standing from verified accreditation histories: which programme and tier an
//! operator holds at an instant. Only applied events reach a key's history, and execution
//! lets only customs sign them (the permission table), so a forged accreditation never counts.

use serde::Serialize;
use waybill_protocol::Hash;
use waybill_protocol::event::{EventKind, SignedEvent};

/// One accreditation as its history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub operator: String,
    pub member: Option<String>,
    pub programme: String,
    pub tier: String,
    pub valid_from_ms: u64,
    pub valid_until_ms: u64,
    /// When a later revocation ended it, if one did.
    pub revoked_from_ms: Option<u64>,
    pub revocation_reason: Option<String>,
    /// The accreditation event, and the revocation if any.
    pub events: Vec<Hash>,
}

impl Standing {
    /// In force at `at_ms`: started, not ended by its term or by a revocation.
    pub fn counts_at(&self, at_ms: u64) -> bool {
        self.valid_from_ms <= at_ms
            && at_ms < self.valid_until_ms
            && self.revoked_from_ms.is_none_or(|from| at_ms < from)
    }
}

/// Every accreditation in `events` (an operator's or member's verified history, in order),
/// each with the first later revocation of the same programme applied.
pub fn standings(events: &[SignedEvent]) -> Vec<Standing> {
    let mut found: Vec<Standing> = Vec::new();
    for event in events {
        match event.body.kind.effective() {
            EventKind::Accredit(a) => found.push(Standing {
                operator: a.operator.to_string(),
                member: a.member.as_ref().map(ToString::to_string),
                programme: a.programme.to_string(),
                tier: a.tier.to_string(),
                valid_from_ms: a.valid_from_ms,
                valid_until_ms: a.valid_until_ms,
                revoked_from_ms: None,
                revocation_reason: None,
                events: vec![event.body.id()],
            }),
            EventKind::RevokeAccreditation(r) => {
                let open = found
                    .iter_mut()
                    .filter(|s| s.programme == r.programme.as_str() && s.revoked_from_ms.is_none());
                for standing in open {
                    standing.revoked_from_ms = Some(r.effective_ms);
                    standing.revocation_reason = Some(r.reason.to_string());
                    standing.events.push(event.body.id());
                }
            }
            _ => {}
        }
    }
    found
}
