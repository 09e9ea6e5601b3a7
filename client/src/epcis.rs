//! EPCIS 2.0 JSON-LD, so existing EPCIS systems can feed the ledger and read it.
//!
//! Import reads a whole document with `waybill_protocol::epcis` (every problem named by event
//! and JSON pointer, nothing signed unless all of it reads) into bodies for the importer to sign.
//! Each EPCIS event becomes a capture (`EventKind::Epcis`) carrying it as captured. Given a
//! shipment (`--shipment`, or the event's `waybill:shipment`), an event takes the custody or
//! customs meaning its business step gives (`epcis::capture::MEANINGS`) where the signer's roles
//! may sign it and the event says all the meaning needs; otherwise, and always without a
//! shipment, it is an observation on the signer's register (`epcis:<org>`). Events Waybill
//! exported itself (`waybill:kind`) import back as the native events they were.
//!
//! Export: a capture is written as captured (so an import exports unchanged); a native event as
//! an `ObjectEvent` (or an `AggregationEvent` for pack / unpack) with CBV terms where one fits,
//! items as GS1 Digital Link URIs, and what EPCIS has no word for (the shipment, the customs
//! terms, the signer, nonce and signature) under our own namespace (`waybill:`).

use serde_json::{Map, Value, json};
use waybill_protocol::epcis::capture::{self, REGISTER_PREFIX};
use waybill_protocol::epcis::{EpcisEvent, read_document};
use waybill_protocol::event::{
    BizTransaction, BizTransactionKind, Epc, EpcisCapture, EpcisContent, EventBody, EventKind,
    EventType, GeoPoint, InspectionResult, Location, Sgtin, SignedEvent,
};
use waybill_protocol::{ChainId, KeyId, LocationId, ShipmentId, Sscc, Text};

pub use waybill_protocol::epcis::{EPCIS_CONTEXT, EpcisError};
pub const WAYBILL_NAMESPACE: &str = "https://waybill.dev/epcis/";
const DIGITAL_LINK: &str = "https://id.gs1.org";

fn error(
    event: Option<usize>,
    pointer: impl Into<String>,
    reason: impl Into<String>,
) -> EpcisError {
    EpcisError {
        event,
        pointer: pointer.into(),
        reason: reason.into(),
    }
}

/// The business step a native kind is exported with: the CBV's where the mapping table has
/// one, else ours.
fn biz_step(kind: &EventKind) -> String {
    match capture::biz_step_of(kind.event_type()) {
        Some(step) if !step.contains(':') => step.to_string(),
        _ => format!("waybill:{}", kind.event_type().name()),
    }
}

fn action(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Commission | EventKind::Pack { .. } => "ADD",
        EventKind::Decommission { .. } | EventKind::Unpack { .. } => "DELETE",
        _ => "OBSERVE",
    }
}

fn sgtin_uri(sgtin: &Sgtin) -> String {
    format!("{DIGITAL_LINK}/01/{}/21/{}", sgtin.gtin, sgtin.serial)
}

fn sscc_uri(sscc: &Sscc) -> String {
    format!("{DIGITAL_LINK}/00/{sscc}")
}

fn epc_uri(epc: &Epc) -> String {
    match epc {
        Epc::Sgtin(sgtin) => sgtin_uri(sgtin),
        Epc::Sscc(sscc) => sscc_uri(sscc),
    }
}

/// A GS1 key read back into a ledger EPC (serial or SSCC).
fn parse_epc(event: Option<usize>, at: &str, uri: &str) -> Result<Epc, EpcisError> {
    let fail = |reason: String| error(event, at, reason);
    let key = waybill_protocol::epcis::gs1::Gs1Key::read(uri)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail(format!("{uri:?} is not a GS1 key")))?;
    capture::epc_of(&key)
        .ok_or_else(|| fail(format!("{uri:?}: expected an item serial or an SSCC")))?
        .map_err(|reason| fail(format!("{uri:?}: {reason}")))
}

fn iso_time(ms: u64) -> String {
    crate::time::iso8601(ms)
}

fn offset(minutes: i16) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let minutes = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A place as EPCIS names it: a GLN as a Digital Link URI, a UN/LOCODE under our namespace;
/// coordinates under ours too (EPCIS has no field for them).
fn location_json(location: &Location) -> Value {
    let id = location.id.as_str();
    let uri = if id.len() == 13 && id.bytes().all(|b| b.is_ascii_digit()) {
        format!("{DIGITAL_LINK}/414/{id}")
    } else {
        format!("waybill:locode-{id}")
    };
    let mut object = Map::new();
    object.insert("id".into(), json!(uri));
    if let Some(geo) = &location.geo {
        object.insert("waybill:geo".into(), json!(geo));
    }
    Value::Object(object)
}

fn location_from(event: Option<usize>, at: &str, value: &Value) -> Result<Location, EpcisError> {
    let id = value.get("id").and_then(Value::as_str).unwrap_or_default();
    let raw = id
        .strip_prefix("https://id.gs1.org/414/")
        .or_else(|| id.strip_prefix("waybill:locode-"))
        .unwrap_or(id);
    let geo = match value.get("waybill:geo") {
        Some(geo) => Some(
            serde_json::from_value::<GeoPoint>(geo.clone())
                .map_err(|e| error(event, format!("{at}/waybill:geo"), e.to_string()))?,
        ),
        None => None,
    };
    Ok(Location {
        id: LocationId::new(raw).map_err(|e| error(event, format!("{at}/id"), e.to_string()))?,
        geo,
    })
}

/// Business documents: the CBV's types where one fits, ours for the rest; the document number
/// as a URI under our namespace.
fn biz_transaction_json(transaction: &BizTransaction) -> Value {
    let kind = match transaction.kind {
        BizTransactionKind::PurchaseOrder => "po".to_string(),
        BizTransactionKind::Invoice => "inv".to_string(),
        BizTransactionKind::BillOfLading => "bol".to_string(),
        BizTransactionKind::DespatchAdvice => "desadv".to_string(),
        other => format!(
            "waybill:BTT-{}",
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
    };
    let id: String = transaction
        .id
        .as_str()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    json!({"type": kind, "bizTransaction": format!("waybill:document-{id}")})
}

fn biz_transaction_from(
    event: Option<usize>,
    at: &str,
    value: &Value,
) -> Result<BizTransaction, EpcisError> {
    let kind = match value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "po" => json!("purchase_order"),
        "inv" => json!("invoice"),
        "bol" => json!("bill_of_lading"),
        "desadv" => json!("despatch_advice"),
        other => json!(other.strip_prefix("waybill:BTT-").unwrap_or(other)),
    };
    let written = value
        .get("bizTransaction")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let encoded = written.strip_prefix("waybill:document-").unwrap_or(written);
    let id = waybill_protocol::epcis::gs1::percent_decode(encoded)
        .map_err(|reason| error(event, format!("{at}/bizTransaction"), reason))?;
    serde_json::from_value(json!({"kind": kind, "id": id}))
        .map_err(|e| error(event, at, e.to_string()))
}

/// One native event as an EPCIS 2.0 event object; a capture as captured.
pub fn event_to_epcis(event: &SignedEvent) -> Value {
    if let Some(capture) = event.body.kind.capture() {
        return serde_json::from_slice(&capture.content.0).unwrap_or(Value::Null);
    }
    let body = &event.body;
    let mut object = Map::new();
    let aggregation = matches!(body.kind, EventKind::Pack { .. } | EventKind::Unpack { .. });
    let event_type = if aggregation {
        "AggregationEvent"
    } else {
        "ObjectEvent"
    };
    object.insert("type".into(), json!(event_type));
    object.insert("eventTime".into(), json!(iso_time(body.event_time_ms)));
    object.insert(
        "eventTimeZoneOffset".into(),
        json!(offset(body.timezone_offset_minutes)),
    );
    let epcs: Vec<String> = body.epcs.iter().map(epc_uri).collect();
    match &body.kind {
        EventKind::Pack { parcel } | EventKind::Unpack { parcel } => {
            object.insert("parentID".into(), json!(sscc_uri(parcel)));
            object.insert("childEPCs".into(), json!(epcs));
        }
        _ => {
            object.insert("epcList".into(), json!(epcs));
        }
    }
    object.insert("action".into(), json!(action(&body.kind)));
    object.insert("bizStep".into(), json!(biz_step(&body.kind)));
    if let Some(point) = &body.read_point {
        object.insert("readPoint".into(), location_json(point));
    }
    if let Some(place) = &body.biz_location {
        object.insert("bizLocation".into(), location_json(place));
    }
    if !body.biz_transactions.is_empty() {
        let list: Vec<Value> = body
            .biz_transactions
            .iter()
            .map(biz_transaction_json)
            .collect();
        object.insert("bizTransactionList".into(), json!(list));
    }
    object.insert("waybill:shipment".into(), json!(body.shipment));
    object.insert(
        "waybill:kind".into(),
        serde_json::to_value(&body.kind).unwrap_or(Value::Null),
    );
    object.insert("waybill:signer".into(), json!(body.signer));
    object.insert("waybill:nonce".into(), json!(body.nonce));
    object.insert("waybill:eventId".into(), json!(body.id()));
    object.insert("waybill:signature".into(), json!(event.signature));
    Value::Object(object)
}

/// An EPCIS document of events (in order), valid against GS1's JSON schema.
pub fn export(events: &[SignedEvent], creation_time_ms: u64) -> Value {
    json!({
        "@context": [EPCIS_CONTEXT, {"waybill": WAYBILL_NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": iso_time(creation_time_ms),
        "epcisBody": {"eventList": events.iter().map(event_to_epcis).collect::<Vec<_>>()},
    })
}

/// What import needs besides the document: who will sign, from which nonce, when, and what
/// the signer's roles let it sign.
#[derive(Debug, Clone)]
pub struct ImportSigner {
    pub chain_id: ChainId,
    pub key_id: KeyId,
    pub first_nonce: u64,
    /// The shipment events take their custody meaning on, unless they name one
    /// (`waybill:shipment`). Without either an event is an observation on the signer's register.
    pub default_shipment: Option<ShipmentId>,
    /// When the events are captured (the ledger event's time; the EPCIS times stay as written).
    pub captured_at_ms: u64,
    /// The event types the signer's roles may sign: a meaning outside them is not claimed.
    pub may_sign: Vec<EventType>,
}

/// One imported event: the body to sign, and what it will be on the ledger.
#[derive(Debug, Clone)]
pub struct Imported {
    pub body: EventBody,
    /// "observation on epcis:carrier-a", "depart on HAWB-1", …
    pub meaning: String,
}

/// Reads a whole EPCIS document into unsigned bodies, in document order, with consecutive
/// nonces from `signer.first_nonce`. Nothing is returned unless every event reads and makes a
/// well-formed ledger event; otherwise every problem is, each with its event and field.
pub fn import(document: &Value, signer: &ImportSigner) -> Result<Vec<Imported>, Vec<EpcisError>> {
    let events = read_document(document)?;
    let written = written_events(document);
    let mut imported = Vec::with_capacity(events.len());
    let mut errors = Vec::new();
    for (index, event) in events.into_iter().enumerate() {
        let nonce = signer.first_nonce.saturating_add(index as u64);
        let original = written.get(index).copied().unwrap_or(&Value::Null);
        let read = if event.get("waybill:kind").is_some() {
            native(index, original, signer, nonce)
        } else {
            captured(index, &event, signer, nonce)
        };
        let checked = read.and_then(|one| {
            one.body
                .validate(&signer.chain_id, signer.captured_at_ms)
                .map_err(|e| error(Some(index), event_pointer(document, index), e.to_string()))?;
            Ok(one)
        });
        match checked {
            Ok(one) => imported.push(one),
            Err(problem) => errors.push(problem),
        }
    }
    if errors.is_empty() {
        Ok(imported)
    } else {
        Err(errors)
    }
}

fn written_events(document: &Value) -> Vec<&Value> {
    document
        .pointer("/epcisBody/eventList")
        .or_else(|| document.pointer("/epcisBody/queryResults/resultsBody/eventList"))
        .and_then(Value::as_array)
        .map(|list| list.iter().collect())
        .unwrap_or_else(|| vec![document])
}

fn event_pointer(document: &Value, index: usize) -> String {
    if document.pointer("/epcisBody/eventList").is_some() {
        format!("/epcisBody/eventList/{index}")
    } else if document.pointer("/epcisBody/queryResults").is_some() {
        format!("/epcisBody/queryResults/resultsBody/eventList/{index}")
    } else {
        String::new()
    }
}

/// An EPCIS event as a capture: with the meaning its step gives where it can take one.
fn captured(
    index: usize,
    event: &EpcisEvent,
    signer: &ImportSigner,
    nonce: u64,
) -> Result<Imported, EpcisError> {
    let fail = |reason: String| error(Some(index), "", reason);
    let named = event
        .text("waybill:shipment")
        .map(ShipmentId::new)
        .transpose()
        .map_err(|e| error(Some(index), "/waybill:shipment", e.to_string()))?;
    let shipment = named.or_else(|| signer.default_shipment.clone());
    let meaning = shipment.as_ref().and_then(|_| meaning(event, signer));
    let shipment = match (shipment, &meaning) {
        (Some(shipment), _) if !shipment.as_str().starts_with(REGISTER_PREFIX) => shipment,
        _ => capture::register_of(&signer.key_id.org)
            .ok_or_else(|| fail("the signer's register id is too long".into()))?,
    };
    let meaning = meaning.filter(|_| !shipment.as_str().starts_with(REGISTER_PREFIX));
    let epcs = capture::epcs_named(event).map_err(|e| fail(e.to_string()))?;
    let described = match &meaning {
        Some(kind) => format!("{} on {shipment}", kind.event_type()),
        None => format!("observation on {shipment}"),
    };
    let body = EventBody {
        chain_id: signer.chain_id.clone(),
        signer: signer.key_id.clone(),
        nonce,
        event_time_ms: signer.captured_at_ms,
        timezone_offset_minutes: event.zone_offset_minutes().unwrap_or(0),
        shipment,
        kind: EventKind::Epcis(Box::new(EpcisCapture {
            meaning,
            content: EpcisContent(event.canonical_bytes()),
        })),
        read_point: None,
        biz_location: None,
        epcs,
        biz_transactions: Vec::new(),
    };
    Ok(Imported {
        body,
        meaning: described,
    })
}

/// The meaning the event's step gives, if the signer may sign it and the event says everything
/// it needs (a parcel for pack and unpack, a result for an inspection).
fn meaning(event: &EpcisEvent, signer: &ImportSigner) -> Option<EventKind> {
    let text = |value: &str| Text::new(value).ok();
    let disposition = event
        .disposition()
        .map(|term| term.json().to_string())
        .unwrap_or_else(|| "recorded by EPCIS".to_string());
    let parcel = || {
        let parent = event.text("parentID")?;
        match parse_epc(None, "", parent).ok()? {
            Epc::Sscc(sscc) => Some(sscc),
            Epc::Sgtin(_) => None,
        }
    };
    capture::meanings_of(event)
        .into_iter()
        .filter(|kind| signer.may_sign.contains(kind))
        .find_map(|kind| {
            Some(match kind {
                EventType::Commission => EventKind::Commission,
                EventType::Decommission => EventKind::Decommission {
                    reason: text(&disposition)?,
                },
                EventType::Pack => EventKind::Pack { parcel: parcel()? },
                EventType::Unpack => EventKind::Unpack { parcel: parcel()? },
                EventType::PickUp => EventKind::PickUp,
                EventType::Depart => EventKind::Depart,
                EventType::Arrive => EventKind::Arrive,
                EventType::Deliver => EventKind::Deliver,
                EventType::Release => EventKind::Release,
                EventType::Hold => EventKind::Hold {
                    reason: text(&disposition)?,
                },
                EventType::Return => EventKind::Return {
                    reason: text(&disposition)?,
                },
                EventType::Seize => EventKind::Seize {
                    reason: text(&disposition)?,
                },
                EventType::Inspect => EventKind::Inspect {
                    result: match disposition.as_str() {
                        "conformant" => InspectionResult::Compliant,
                        "non_conformant" => InspectionResult::Discrepancy,
                        _ => return None,
                    },
                    note: text("recorded by EPCIS")?,
                },
                // Hand-overs and acceptances name the other carrier, which EPCIS does not.
                _ => return None,
            })
        })
        .filter(|kind| capture::fits(event, kind).is_ok())
}

/// An event Waybill exported itself, back to the native event it was.
fn native(
    index: usize,
    event: &Value,
    signer: &ImportSigner,
    nonce: u64,
) -> Result<Imported, EpcisError> {
    let at = |field: &str| format!("/{field}");
    let fail = |field: &str, reason: String| error(Some(index), at(field), reason);
    let kind: EventKind = serde_json::from_value(event["waybill:kind"].clone())
        .map_err(|e| fail("waybill:kind", e.to_string()))?;
    let shipment = event
        .get("waybill:shipment")
        .and_then(Value::as_str)
        .map(ShipmentId::new)
        .transpose()
        .map_err(|e| fail("waybill:shipment", e.to_string()))?
        .or_else(|| signer.default_shipment.clone())
        .ok_or_else(|| {
            fail(
                "waybill:shipment",
                "missing, and no --shipment was given".into(),
            )
        })?;
    let list = if event.get("childEPCs").is_some() {
        "childEPCs"
    } else {
        "epcList"
    };
    let epcs = event
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, uri)| {
            let uri = uri.as_str().unwrap_or_default();
            parse_epc(Some(index), &format!("/{list}/{i}"), uri)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let place = |field: &str| {
        event
            .get(field)
            .map(|value| location_from(Some(index), &at(field), value))
            .transpose()
    };
    let biz_transactions = event
        .get("bizTransactionList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, item)| {
            biz_transaction_from(Some(index), &format!("/bizTransactionList/{i}"), item)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let time = event
        .get("eventTime")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let event_time_ms = waybill_protocol::calendar::Timestamp::parse(time)
        .and_then(|t| t.unix_millis())
        .ok_or_else(|| fail("eventTime", format!("{time:?} is before 1970")))?;
    let zone = event
        .get("eventTimeZoneOffset")
        .and_then(Value::as_str)
        .unwrap_or("+00:00");
    let meaning = format!(
        "{} on {shipment} (as Waybill exported it)",
        kind.event_type()
    );
    Ok(Imported {
        body: EventBody {
            chain_id: signer.chain_id.clone(),
            signer: signer.key_id.clone(),
            nonce,
            event_time_ms,
            timezone_offset_minutes: waybill_protocol::calendar::parse_offset(zone).unwrap_or(0),
            shipment,
            kind,
            read_point: place("readPoint")?,
            biz_location: place("bizLocation")?,
            epcs,
            biz_transactions,
        },
        meaning,
    })
}

/// The parts of an exported event that EPCIS itself defines (no `waybill:` fields): what a
/// round trip must preserve.
pub fn epcis_fields(event: &Value) -> Value {
    match event {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !key.starts_with("waybill:"))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_protocol::event::EventKind as K;
    use waybill_protocol::fixtures;
    use waybill_protocol::genesis::default_permissions;

    fn signer(org: &str, shipment: Option<&str>) -> ImportSigner {
        let genesis = fixtures::genesis(4);
        let roles = genesis
            .organisation(&fixtures::org(org))
            .map(|o| o.roles.clone())
            .unwrap_or_default();
        let may_sign = EventType::ALL
            .into_iter()
            .filter(|kind| {
                default_permissions()
                    .iter()
                    .any(|p| roles.contains(&p.role) && p.event_types.contains(kind))
            })
            .collect();
        ImportSigner {
            chain_id: fixtures::chain_id(),
            key_id: fixtures::key_id(org),
            first_nonce: 1,
            default_shipment: shipment.map(fixtures::shipment),
            captured_at_ms: fixtures::NOW_MS,
            may_sign,
        }
    }

    /// An ObjectEvent commissioning two serials (EPC URIs, a read point, a purchase order) and
    /// an AggregationEvent packing one into an SSCC.
    fn standard_shapes() -> Value {
        json!({
            "@context": [EPCIS_CONTEXT],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00.000Z",
            "epcisBody": {"eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": "2025-12-31T23:00:00.123456+01:00",
                    "eventTimeZoneOffset": "+01:00",
                    "epcList": ["urn:epc:id:sgtin:4012345.000001.SN1", "https://id.gs1.org/01/04012345000016/21/SN2"],
                    "action": "ADD",
                    "bizStep": "urn:epcglobal:cbv:bizstep:commissioning",
                    "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
                    "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:4012345.11111.123"}]
                },
                {
                    "type": "AggregationEvent",
                    "eventTime": "2025-12-31T23:30:00.000Z",
                    "eventTimeZoneOffset": "+01:00",
                    "parentID": "urn:epc:id:sscc:4012345.0000000001",
                    "childEPCs": ["https://id.gs1.org/01/04012345000016/21/SN1"],
                    "action": "ADD",
                    "bizStep": "packing"
                }
            ]}
        })
    }

    fn signed(imported: Vec<Imported>, org: &str) -> Vec<SignedEvent> {
        imported
            .into_iter()
            .map(|one| SignedEvent::sign(one.body, &fixtures::org_keypair(org)))
            .collect()
    }

    #[test]
    fn without_a_shipment_events_are_observations_on_the_signers_register() {
        let imported = import(&standard_shapes(), &signer("carrier-a", None)).expect("imports");
        assert_eq!(imported.len(), 2);
        for one in &imported {
            assert_eq!(one.body.shipment.as_str(), "epcis:carrier-a");
            assert_eq!(one.body.kind.event_type(), EventType::Observe);
            assert_eq!(one.meaning, "observation on epcis:carrier-a");
        }
        // Indexed under the serials they name.
        assert_eq!(imported[0].body.epcs.len(), 2);
        // Exported as captured: the same EPCIS events, field by field.
        let events = signed(imported, "carrier-a");
        let exported = export(&events, fixtures::NOW_MS);
        let original = standard_shapes();
        let context = waybill_protocol::epcis::Context::default();
        for index in 0..2 {
            let before = &original["epcisBody"]["eventList"][index];
            let after = &exported["epcisBody"]["eventList"][index];
            assert_eq!(
                waybill_protocol::epcis::semantic_form(before, &context),
                waybill_protocol::epcis::semantic_form(after, &context)
            );
        }
    }

    #[test]
    fn with_a_shipment_events_take_the_meaning_their_step_gives_where_the_signer_may() {
        let brand = import(&standard_shapes(), &signer("brand", Some("STOCK-1"))).expect("imports");
        assert_eq!(brand[0].body.kind.effective(), &K::Commission);
        assert!(
            matches!(brand[1].body.kind.effective(), K::Pack { parcel } if parcel.as_str().starts_with("04012345000000001"))
        );
        assert_eq!(brand[0].meaning, "commission on STOCK-1");
        // A carrier may not commission: the same document is observations on the shipment.
        let carrier =
            import(&standard_shapes(), &signer("carrier-a", Some("HAWB-1"))).expect("imports");
        assert_eq!(carrier[0].body.kind.event_type(), EventType::Observe);
        assert_eq!(carrier[0].body.shipment.as_str(), "HAWB-1");
        assert!(matches!(carrier[1].body.kind.effective(), K::Pack { .. }));
    }

    #[test]
    fn every_native_kind_exports_and_imports_unchanged() {
        let text = |t: &str| waybill_protocol::Text::new(t).expect("text");
        let kinds = vec![
            fixtures::declare(),
            K::PickUp,
            K::HandOver {
                to: fixtures::org("carrier-b"),
            },
            K::Accept {
                from: fixtures::org("carrier-a"),
            },
            K::RiskAssessed {
                status: waybill_protocol::event::RiskStatus::Approved,
            },
            K::Hold {
                reason: text("x-ray"),
            },
            K::Release,
            K::Deliver,
            K::Decommission {
                reason: text("recalled"),
            },
        ];
        let events: Vec<SignedEvent> = kinds
            .into_iter()
            .enumerate()
            .map(|(n, kind)| {
                let mut builder = fixtures::event("brand", n as u64 + 1, "S-1", kind);
                builder = builder.epc(Epc::Sgtin(fixtures::sgtin("SN1")));
                builder.sign(&fixtures::org_keypair("brand"))
            })
            .collect();
        let document = export(&events, fixtures::NOW_MS);
        let bodies: Vec<EventBody> = import(&document, &signer("brand", None))
            .expect("imports")
            .into_iter()
            .map(|one| one.body)
            .collect();
        assert_eq!(
            bodies,
            events.iter().map(|e| e.body.clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_document_with_any_bad_event_imports_nothing_and_names_each_problem() {
        let mut document = standard_shapes();
        document["epcisBody"]["eventList"][0]["eventTime"] = json!("2025-02-29T10:00:00Z");
        document["epcisBody"]["eventList"][1]["action"] = json!("MOVE");
        let errors = import(&document, &signer("brand", None)).expect_err("refused");
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("event 0 at /epcisBody/eventList/0/eventTime"));
        assert!(errors[1].starts_with("event 1 at /epcisBody/eventList/1/action"));
    }

    mod random {
        use proptest::prelude::*;
        use serde_json::{Value, json};
        use waybill_protocol::epcis::cbv::{BIZ_STEPS, DISPOSITIONS};
        use waybill_protocol::epcis::gs1::check_digit;

        /// A serial or an SSCC, in either spelling.
        fn key() -> impl Strategy<Value = String> {
            let sgtin =
                ("[0-9]{6}", "[A-Za-z0-9]{1,12}", any::<bool>()).prop_map(|(item, serial, urn)| {
                    let body = format!("{}4012345{}", &item[..1], &item[1..]);
                    if urn {
                        format!("urn:epc:id:sgtin:4012345.{item}.{serial}")
                    } else {
                        format!(
                            "https://id.gs1.org/01/{body}{}/21/{serial}",
                            check_digit(&body)
                        )
                    }
                });
            let sscc = ("[0-9]{10}", any::<bool>()).prop_map(|(reference, urn)| {
                let body = format!("{}4012345{}", &reference[..1], &reference[1..]);
                if urn {
                    format!("urn:epc:id:sscc:4012345.{reference}")
                } else {
                    format!("https://id.gs1.org/00/{body}{}", check_digit(&body))
                }
            });
            prop_oneof![sgtin, sscc]
        }

        pub fn document() -> impl Strategy<Value = Value> {
            let event = (
                prop::collection::btree_set(key(), 1..4),
                0..BIZ_STEPS.len(),
                prop::option::of(0..DISPOSITIONS.len()),
                prop_oneof![Just("ADD"), Just("OBSERVE"), Just("DELETE")],
                (0u32..59, 0u32..1_000_000, -12i32..=14),
                prop::option::of("[a-zA-Z0-9 ]{0,16}"),
            )
                .prop_map(|(keys, step, disposition, action, (second, micros, hours), note)| {
                    let mut event = json!({
                        "type": "ObjectEvent",
                        "eventTime": format!("2026-03-01T10:00:{second:02}.{micros:06}{:+03}:00", hours),
                        "eventTimeZoneOffset": format!("{:+03}:00", hours),
                        "epcList": keys.into_iter().collect::<Vec<_>>(),
                        "action": action,
                        "bizStep": BIZ_STEPS[step],
                    });
                    if let Some(disposition) = disposition {
                        event["disposition"] = json!(format!("urn:epcglobal:cbv:disp:{}", DISPOSITIONS[disposition]));
                    }
                    if let Some(note) = note {
                        event["ex:note"] = json!({"ex:text": note, "ex:count": second});
                    }
                    event
                });
            prop::collection::vec(event, 1..5).prop_map(|events| {
                json!({
                    "@context": [super::EPCIS_CONTEXT, {"ex": "https://ns.example.com/ext/"}],
                    "type": "EPCISDocument",
                    "schemaVersion": "2.0",
                    "creationDate": "2026-03-01T12:00:00Z",
                    "epcisBody": {"eventList": events},
                })
            })
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Random well-formed documents: imported, signed, exported, and every event means what
        /// it meant, field by field.
        #[test]
        fn random_documents_round_trip_import_to_export(document in random::document()) {
            let imported = import(&document, &signer("carrier-a", None)).expect("well formed");
            let events = signed(imported, "carrier-a");
            let exported = export(&events, fixtures::NOW_MS);
            let mut context = waybill_protocol::epcis::Context::default();
            context.extend(&document["@context"]).expect("context");
            let plain = waybill_protocol::epcis::Context::default();
            let before = document["epcisBody"]["eventList"].as_array().expect("list");
            let after = exported["epcisBody"]["eventList"].as_array().expect("list");
            proptest::prop_assert_eq!(before.len(), after.len());
            for (before, after) in before.iter().zip(after) {
                proptest::prop_assert_eq!(
                    waybill_protocol::epcis::semantic_form(before, &context),
                    waybill_protocol::epcis::semantic_form(after, &plain)
                );
            }
        }
    }
}
