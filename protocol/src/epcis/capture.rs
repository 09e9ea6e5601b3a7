//! An EPCIS event on the ledger (rules version 4): what it may mean, and what it must agree
//! with. The signer claims a meaning (or none: an observation); the node checks the claim
//! against the event's CBV terms by the table below, and that the ledger event names exactly
//! the items the EPCIS event names, so the per-key chains index it under them. The custody
//! rules then apply to the meaning as to any event.
//!
//! An observation (no meaning) changes no custody. It is filed either on the signer's own
//! register (`epcis:<org>`, which only that organisation may write) or on a shipment the
//! signer is a party to; it cannot make its signer a party to someone else's shipment.

use super::EpcisEvent;
use super::cbv::Term;
use crate::event::{Epc, EpcisCapture, EventBody, EventError, EventKind, EventType, Sgtin};
use crate::ids::{Gtin, OrgId, Serial, ShipmentId, Sscc};

/// Customs and custody steps the CBV has no word for, under our own namespace.
pub const WAYBILL_BIZ_STEP: &str = "https://waybill.dev/epcis/BizStep-";

/// Shipment ids under this prefix are organisations' registers of observations.
pub const REGISTER_PREFIX: &str = "epcis:";

/// The business step each ledger meaning is captured with (DESIGN.md §13, README's mapping
/// table). A step in bare spelling is a CBV 2.0 term; one with a `:` is ours.
pub const MEANINGS: [(EventType, &str); 16] = [
    (EventType::Commission, "commissioning"),
    (EventType::Decommission, "decommissioning"),
    (EventType::Pack, "packing"),
    (EventType::Unpack, "unpacking"),
    (EventType::PickUp, "loading"),
    (EventType::HandOver, "shipping"),
    (EventType::Accept, "accepting"),
    (EventType::Accept, "receiving"),
    (EventType::Depart, "departing"),
    (EventType::Arrive, "arriving"),
    (EventType::Inspect, "inspecting"),
    (EventType::Hold, "holding"),
    (
        EventType::Deliver,
        "https://waybill.dev/epcis/BizStep-delivering",
    ),
    (
        EventType::Return,
        "https://waybill.dev/epcis/BizStep-returning",
    ),
    (
        EventType::Release,
        "https://waybill.dev/epcis/BizStep-releasing",
    ),
    (
        EventType::Seize,
        "https://waybill.dev/epcis/BizStep-seizing",
    ),
];

/// The meanings an event's business step allows (none: it can only be an observation).
pub fn meanings_of(event: &EpcisEvent) -> Vec<EventType> {
    let step = match event.biz_step() {
        Some(Term::Standard(term)) => term.to_string(),
        Some(Term::Other(uri)) => uri,
        None => return Vec::new(),
    };
    MEANINGS
        .iter()
        .filter(|(_, written)| *written == step)
        .map(|(meaning, _)| *meaning)
        .collect()
}

/// The step a meaning is exported with.
pub fn biz_step_of(meaning: EventType) -> Option<&'static str> {
    MEANINGS
        .iter()
        .find(|(found, _)| *found == meaning)
        .map(|(_, step)| *step)
}

/// An organisation's register of observations.
pub fn register_of(org: &OrgId) -> Option<ShipmentId> {
    ShipmentId::new(format!("{REGISTER_PREFIX}{org}")).ok()
}

fn invalid(pointer: &str, reason: impl Into<String>) -> EventError {
    EventError::Epcis {
        pointer: pointer.to_string(),
        reason: reason.into(),
    }
}

/// Everything a capture must agree with, without the ledger: its content reads back as a
/// canonical EPCIS event, its meaning is one its business step allows and fits its shape, and
/// the body names exactly its items and nothing the content already says.
pub fn check(body: &EventBody, capture: &EpcisCapture) -> Result<EpcisEvent, EventError> {
    let event = EpcisEvent::from_canonical(&capture.content.0)
        .map_err(|error| invalid(&error.pointer, error.reason))?;
    if body.read_point.is_some() || body.biz_location.is_some() || !body.biz_transactions.is_empty()
    {
        return Err(invalid(
            "",
            "places and business transactions of a capture are in its content only",
        ));
    }
    let named = epcs_named(&event)?;
    if body.epcs != named {
        return Err(invalid(
            "",
            format!(
                "epcs must be the serials and SSCCs the EPCIS event names, in order ({} named)",
                named.len()
            ),
        ));
    }
    let register = body.shipment.as_str().starts_with(REGISTER_PREFIX);
    match &capture.meaning {
        None => Ok(event),
        Some(_) if register => Err(invalid(
            "",
            "a register (epcis:…) holds observations only: a capture with a meaning names its shipment",
        )),
        Some(EventKind::Epcis(_)) => Err(invalid("", "a meaning cannot itself be a capture")),
        Some(meaning) => {
            fits(&event, meaning)?;
            Ok(event)
        }
    }
}

/// Whether `meaning` is one the event's business step allows and fits its shape.
pub fn fits(event: &EpcisEvent, meaning: &EventKind) -> Result<(), EventError> {
    let wanted = meaning.event_type();
    if !meanings_of(event).contains(&wanted) {
        let step = biz_step_of(wanted).map_or_else(
            || format!("{wanted} is not a meaning an EPCIS event can carry"),
            |step| format!("{wanted} is captured with bizStep {step}"),
        );
        return Err(invalid("/bizStep", step));
    }
    let shape = |event_type: super::EpcisEventType, action: &str| {
        event.event_type() == event_type && event.action() == Some(action)
    };
    use super::EpcisEventType::{Aggregation, Object};
    let fits = match meaning {
        EventKind::Commission => shape(Object, "ADD"),
        EventKind::Decommission { .. } => event.event_type() == Object,
        EventKind::Pack { parcel } => shape(Aggregation, "ADD") && names_parent(event, parcel),
        EventKind::Unpack { parcel } => shape(Aggregation, "DELETE") && names_parent(event, parcel),
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(invalid(
            "/type",
            format!(
                "a {wanted} is an ObjectEvent ADD (commission), an ObjectEvent (decommission), \
                 or an AggregationEvent ADD / DELETE whose parentID is the parcel (pack / unpack)"
            ),
        ))
    }
}

fn names_parent(event: &EpcisEvent, parcel: &Sscc) -> bool {
    let parent = event
        .text("parentID")
        .and_then(|id| super::gs1::Gs1Key::read(id).ok()?);
    parent.is_some_and(|key| {
        key.kind == super::gs1::KeyKind::Sscc && key.value("00") == Some(parcel.as_str())
    })
}

/// The serials (SGTIN) and logistic units (SSCC) the event names in its EPC lists, each once,
/// in order of first appearance: what the ledger indexes it under. A parent is not among them.
pub fn epcs_named(event: &EpcisEvent) -> Result<Vec<Epc>, EventError> {
    let mut named = Vec::new();
    for (field, id) in event.identifiers() {
        if field == "parentID" || field.ends_with("QuantityList") || field == "quantityList" {
            continue;
        }
        let Ok(Some(key)) = super::gs1::Gs1Key::read(id) else {
            continue;
        };
        let Some(epc) = epc_of(&key) else {
            continue;
        };
        let epc =
            epc.map_err(|reason| invalid(&format!("/{field}"), format!("{id:?}: {reason}")))?;
        if !named.contains(&epc) {
            named.push(epc);
        }
    }
    if named.len() > crate::limits::EPCS_PER_EVENT_MAX {
        return Err(invalid("", "names more items than one event may"));
    }
    Ok(named)
}

/// The ledger's EPC for a serial (SGTIN) or logistic unit (SSCC); `None` for other keys, an
/// error when the key's values do not fit the ledger's identifiers.
pub fn epc_of(key: &super::gs1::Gs1Key) -> Option<Result<Epc, String>> {
    use super::gs1::KeyKind;
    match key.kind {
        KeyKind::Sgtin => Some(
            match (key.gtin().map(Gtin::new), key.value("21").map(Serial::new)) {
                (Some(Ok(gtin)), Some(Ok(serial))) => Ok(Epc::Sgtin(Sgtin { gtin, serial })),
                _ => Err("not a serial this ledger can index".to_string()),
            },
        ),
        KeyKind::Sscc => Some(match key.value("00").map(Sscc::new) {
            Some(Ok(sscc)) => Ok(Epc::Sscc(sscc)),
            _ => Err("not an SSCC".to_string()),
        }),
        _ => None,
    }
}
