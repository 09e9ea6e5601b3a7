//! Where a shipment stands, read from its verified history alone: who holds it, what customs
//! decided, and what is blocking it (for the carrier's and the platform's view). Pure: the
//! same events give the same answer.

use waybill_protocol::OrgId;
use waybill_protocol::event::{EventKind, InspectionResult, RiskStatus, SignedEvent};

/// One custodian's turn: from the event that gave it custody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custody {
    pub custodian: OrgId,
    pub since_ms: u64,
    /// `pick_up` or `accept`; `deliver` ends custody.
    pub how: &'static str,
}

/// What a history says of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    pub declared_ms: Option<u64>,
    pub declared_by: Option<OrgId>,
    pub arrived_ms: Option<u64>,
    pub custody: Vec<Custody>,
    pub delivered: bool,
    /// Released or seized: customs has decided.
    pub decided: Option<&'static str>,
    /// Holds not yet followed by a release, with their reasons.
    pub open_holds: Vec<String>,
    /// Inspections recorded, with their result.
    pub inspections: Vec<(InspectionResult, String)>,
    pub latest_risk: Option<RiskStatus>,
    /// What stops the shipment moving on, in words, first the most urgent.
    pub blockers: Vec<String>,
    /// The last event's type, as the shipment's state.
    pub state: &'static str,
}

impl Progress {
    pub fn custodian(&self) -> Option<&OrgId> {
        match self.delivered {
            true => None,
            false => self.custody.last().map(|c| &c.custodian),
        }
    }
}

/// Reads `events` (in ledger order).
pub fn progress(events: &[SignedEvent]) -> Progress {
    let mut found = Progress::default();
    let mut offered: Option<(OrgId, OrgId)> = None;
    for event in events {
        let body = &event.body;
        let by = &body.signer.org;
        found.state = body.kind.event_type().name();
        match body.kind.effective() {
            EventKind::Declare(_) => {
                found.declared_ms.get_or_insert(body.event_time_ms);
                found.declared_by.get_or_insert_with(|| by.clone());
            }
            EventKind::PickUp => found.custody.push(Custody {
                custodian: by.clone(),
                since_ms: body.event_time_ms,
                how: "pick_up",
            }),
            EventKind::HandOver { to } => offered = Some((by.clone(), to.clone())),
            EventKind::Accept { .. } => {
                offered = None;
                found.custody.push(Custody {
                    custodian: by.clone(),
                    since_ms: body.event_time_ms,
                    how: "accept",
                });
            }
            EventKind::Arrive => found.arrived_ms = Some(body.event_time_ms),
            EventKind::Deliver => found.delivered = true,
            EventKind::RiskAssessed { status } => found.latest_risk = Some(*status),
            EventKind::Inspect { result, note } => {
                found.inspections.push((*result, note.to_string()))
            }
            EventKind::Hold { reason } => found.open_holds.push(reason.to_string()),
            EventKind::Release => {
                found.open_holds.clear();
                found.decided = Some("released");
            }
            EventKind::Seize { .. } => found.decided = Some("seized"),
            _ => {}
        }
    }
    found.blockers = blockers(&found, offered.as_ref());
    found
}

fn blockers(found: &Progress, offered: Option<&(OrgId, OrgId)>) -> Vec<String> {
    let mut blockers = Vec::new();
    if found.decided == Some("seized") {
        blockers.push("seized by customs".to_string());
    }
    for reason in &found.open_holds {
        blockers.push(format!("on hold: {reason}"));
    }
    match found.latest_risk {
        Some(RiskStatus::RequestForInformation) => {
            blockers.push("customs asks for information (RFI): complete the declaration".into())
        }
        Some(RiskStatus::DoNotLoad) => blockers.push("do not load (customs)".into()),
        Some(RiskStatus::Screen) => blockers.push("screening required before loading".into()),
        _ => {}
    }
    if let Some((from, to)) = offered {
        blockers.push(format!("hand-over from {from} awaits acceptance by {to}"));
    }
    if found.declared_ms.is_none() {
        blockers.push("no pre-arrival declaration filed".into());
    } else if found.latest_risk.is_none() && found.decided.is_none() {
        blockers.push("awaiting the customs risk assessment".into());
    }
    blockers
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use waybill_protocol::ShipmentId;
    use waybill_protocol::Text;

    fn event(org: &str, kind: EventKind, nonce: u64) -> SignedEvent {
        let keypair = waybill_protocol::Keypair::from_secret_bytes(&[7; 32]);
        let key = waybill_protocol::KeyId {
            org: OrgId::new(org).unwrap(),
            index: 0,
        };
        waybill_protocol::EventBuilder::new(
            waybill_protocol::ChainId::new("test").unwrap(),
            key,
            nonce,
            ShipmentId::new("S-1").unwrap(),
            kind,
            1_000 * nonce,
        )
        .sign(&keypair)
    }

    fn text(value: &str) -> Text {
        Text::new(value).unwrap()
    }

    #[test]
    fn a_hand_over_not_yet_accepted_blocks_and_custody_stays() {
        let org = |o: &str| OrgId::new(o).unwrap();
        let events = [
            event("carrier-a", EventKind::PickUp, 1),
            event(
                "carrier-a",
                EventKind::HandOver {
                    to: org("carrier-b"),
                },
                2,
            ),
        ];
        let found = progress(&events);
        assert_eq!(found.custodian(), Some(&org("carrier-a")));
        assert!(
            found
                .blockers
                .iter()
                .any(|b| b.contains("awaits acceptance by carrier-b"))
        );
        assert!(
            found
                .blockers
                .iter()
                .any(|b| b.contains("no pre-arrival declaration"))
        );
    }

    #[test]
    fn a_release_clears_holds_and_decides() {
        let events = [
            event(
                "customs",
                EventKind::Hold {
                    reason: text("x-ray"),
                },
                1,
            ),
            event(
                "customs",
                EventKind::RiskAssessed {
                    status: RiskStatus::RequestForInformation,
                },
                2,
            ),
        ];
        let found = progress(&events);
        assert!(
            found.blockers.iter().any(|b| b == "on hold: x-ray"),
            "{:?}",
            found.blockers
        );
        assert!(found.blockers.iter().any(|b| b.contains("RFI")));
        let mut events = events.to_vec();
        events.push(event("customs", EventKind::Release, 3));
        let found = progress(&events);
        assert!(found.open_holds.is_empty());
        assert_eq!(found.decided, Some("released"));
        assert_eq!(found.state, "release");
    }
}
