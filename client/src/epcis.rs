//! EPCIS 2.0 JSON-LD, so existing EPCIS systems can feed the ledger and read it.
//!
//! Export: each event becomes an `ObjectEvent` (or an `AggregationEvent` for pack / unpack) with
//! CBV `bizStep`s where one fits, items as GS1 Digital Link URIs, and what EPCIS has no word for
//! (the shipment, the customs terms, the signer, nonce and signature) under our own namespace
//! (`waybill:`). Import reads such documents back into event bodies for the importer to sign:
//! `waybill:kind` when present (full fidelity), else the CBV `bizStep` and `action` for the kinds
//! they name. `import(export(x))` gives back the same bodies.

use serde_json::{Map, Value, json};
use waybill_protocol::event::{
    BizTransaction, Epc, EventBody, EventKind, Location, Sgtin, SignedEvent,
};
use waybill_protocol::{ChainId, Gtin, KeyId, Serial, ShipmentId, Sscc};

pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
pub const WAYBILL_NAMESPACE: &str = "https://waybill.dev/epcis/";
const DIGITAL_LINK: &str = "https://id.gs1.org";

#[derive(Debug, thiserror::Error)]
#[error("EPCIS {at}: {reason}")]
pub struct EpcisError {
    /// Where in the document, e.g. `eventList[3].bizStep`.
    pub at: String,
    pub reason: String,
}

fn error(at: impl Into<String>, reason: impl Into<String>) -> EpcisError {
    EpcisError {
        at: at.into(),
        reason: reason.into(),
    }
}

/// The CBV business step for a kind, if EPCIS has one; else our own.
fn biz_step(kind: &EventKind) -> String {
    let cbv = match kind {
        EventKind::Commission => "commissioning",
        EventKind::Decommission { .. } => "decommissioning",
        EventKind::Pack { .. } => "packing",
        EventKind::Unpack { .. } => "unpacking",
        EventKind::HandOver { .. } => "shipping",
        EventKind::Accept { .. } => "accepting",
        EventKind::Depart => "departing",
        EventKind::Arrive => "arriving",
        EventKind::Inspect { .. } => "inspecting",
        EventKind::Hold { .. } => "holding",
        _ => return format!("waybill:{}", kind.event_type().name()),
    };
    cbv.to_string()
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

fn parse_epc(at: &str, uri: &str) -> Result<Epc, EpcisError> {
    let path = uri.strip_prefix(DIGITAL_LINK).ok_or_else(|| {
        error(
            at,
            format!("{uri:?} is not a GS1 Digital Link URI ({DIGITAL_LINK}/…)"),
        )
    })?;
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["01", gtin, "21", serial] => Ok(Epc::Sgtin(Sgtin {
            gtin: Gtin::new(*gtin).map_err(|e| error(at, e.to_string()))?,
            serial: Serial::new(*serial).map_err(|e| error(at, e.to_string()))?,
        })),
        ["00", sscc] => Ok(Epc::Sscc(
            Sscc::new(*sscc).map_err(|e| error(at, e.to_string()))?,
        )),
        _ => Err(error(
            at,
            format!("{uri:?}: expected /01/GTIN/21/SERIAL or /00/SSCC"),
        )),
    }
}

fn iso_time(ms: u64) -> String {
    crate::time::iso8601(ms)
}

fn parse_iso_time(at: &str, text: &str) -> Result<u64, EpcisError> {
    crate::time::parse_iso8601(text).ok_or_else(|| {
        error(
            at,
            format!("{text:?} is not a real time YYYY-MM-DDTHH:MM:SS[.fraction] with Z or ±HH:MM, from 1970"),
        )
    })
}

fn offset(minutes: i16) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let minutes = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_offset(at: &str, text: &str) -> Result<i16, EpcisError> {
    crate::time::parse_offset(text)
        .filter(|_| text != "Z")
        .ok_or_else(|| error(at, format!("{text:?} is not ±HH:MM within ±14:00")))
}

fn location_json(location: &Location) -> Value {
    serde_json::to_value(location).unwrap_or(Value::Null)
}

/// One event as an EPCIS 2.0 event object.
pub fn event_to_epcis(event: &SignedEvent) -> Value {
    let body = &event.body;
    let mut object = Map::new();
    let aggregation = matches!(body.kind, EventKind::Pack { .. } | EventKind::Unpack { .. });
    object.insert(
        "type".into(),
        json!(if aggregation {
            "AggregationEvent"
        } else {
            "ObjectEvent"
        }),
    );
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
            .map(|t| json!({"type": t.kind, "bizTransaction": t.id}))
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

/// An EPCIS document of events (in order).
pub fn export(events: &[SignedEvent], creation_time_ms: u64) -> Value {
    json!({
        "@context": [EPCIS_CONTEXT, {"waybill": WAYBILL_NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": iso_time(creation_time_ms),
        "epcisBody": {"eventList": events.iter().map(event_to_epcis).collect::<Vec<_>>()},
    })
}

/// What import needs besides the document: who will sign, and from which nonce.
#[derive(Debug, Clone)]
pub struct ImportSigner {
    pub chain_id: ChainId,
    pub key_id: KeyId,
    pub first_nonce: u64,
    /// The shipment for events that do not name one (`waybill:shipment`).
    pub default_shipment: Option<ShipmentId>,
}

fn field<'a>(event: &'a Value, at: &str, name: &str) -> Result<&'a Value, EpcisError> {
    event
        .get(name)
        .ok_or_else(|| error(format!("{at}.{name}"), "missing"))
}

fn text<'a>(event: &'a Value, at: &str, name: &str) -> Result<&'a str, EpcisError> {
    field(event, at, name)?
        .as_str()
        .ok_or_else(|| error(format!("{at}.{name}"), "not a string"))
}

fn kind_from_cbv(at: &str, event: &Value, parcel: Option<Sscc>) -> Result<EventKind, EpcisError> {
    let step = text(event, at, "bizStep")?;
    let step = step.rsplit('/').next().unwrap_or(step);
    let action = text(event, at, "action")?;
    Ok(match (step, action, parcel) {
        ("commissioning", "ADD", _) => EventKind::Commission,
        ("packing", "ADD", Some(parcel)) => EventKind::Pack { parcel },
        ("unpacking", "DELETE", Some(parcel)) => EventKind::Unpack { parcel },
        ("departing", _, _) => EventKind::Depart,
        ("arriving", _, _) => EventKind::Arrive,
        (step, action, _) => {
            return Err(error(
                format!("{at}.bizStep"),
                format!(
                    "{step:?} with action {action:?} needs the details in waybill:kind (who to, why, which result)"
                ),
            ));
        }
    })
}

/// Reads an EPCIS document into unsigned event bodies, in document order, with consecutive
/// nonces from `signer.first_nonce`.
pub fn import(document: &Value, signer: &ImportSigner) -> Result<Vec<EventBody>, EpcisError> {
    let list = document
        .pointer("/epcisBody/eventList")
        .and_then(Value::as_array)
        .ok_or_else(|| error("epcisBody.eventList", "missing or not a list"))?;
    let mut bodies = Vec::with_capacity(list.len());
    for (index, event) in list.iter().enumerate() {
        let at = format!("eventList[{index}]");
        let event_type = text(event, &at, "type")?;
        let (epc_field, parcel) = match event_type {
            "ObjectEvent" => ("epcList", None),
            "AggregationEvent" => {
                let parent = text(event, &at, "parentID")?;
                let parcel = match parse_epc(&format!("{at}.parentID"), parent)? {
                    Epc::Sscc(sscc) => sscc,
                    Epc::Sgtin(_) => {
                        return Err(error(format!("{at}.parentID"), "a parcel is an SSCC"));
                    }
                };
                ("childEPCs", Some(parcel))
            }
            other => {
                return Err(error(
                    format!("{at}.type"),
                    format!("{other:?}: only ObjectEvent and AggregationEvent are imported"),
                ));
            }
        };
        let epcs = match event.get(epc_field) {
            None => Vec::new(),
            Some(list) => list
                .as_array()
                .ok_or_else(|| error(format!("{at}.{epc_field}"), "not a list"))?
                .iter()
                .enumerate()
                .map(|(i, uri)| {
                    let at = format!("{at}.{epc_field}[{i}]");
                    let uri = uri.as_str().ok_or_else(|| error(&at, "not a string"))?;
                    parse_epc(&at, uri)
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let kind = match event.get("waybill:kind") {
            Some(kind) => serde_json::from_value(kind.clone())
                .map_err(|e| error(format!("{at}.waybill:kind"), e.to_string()))?,
            None => kind_from_cbv(&at, event, parcel)?,
        };
        let shipment = match event.get("waybill:shipment").and_then(Value::as_str) {
            Some(id) => ShipmentId::new(id)
                .map_err(|e| error(format!("{at}.waybill:shipment"), e.to_string()))?,
            None => signer.default_shipment.clone().ok_or_else(|| {
                error(
                    format!("{at}.waybill:shipment"),
                    "missing, and no default shipment was given",
                )
            })?,
        };
        let location = |name: &str| -> Result<Option<Location>, EpcisError> {
            event
                .get(name)
                .map(|v| {
                    serde_json::from_value(v.clone())
                        .map_err(|e| error(format!("{at}.{name}"), e.to_string()))
                })
                .transpose()
        };
        let biz_transactions: Vec<BizTransaction> = match event.get("bizTransactionList") {
            Some(list) => list
                .as_array()
                .ok_or_else(|| error(format!("{at}.bizTransactionList"), "not a list"))?
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let at = format!("{at}.bizTransactionList[{i}]");
                    let ours = json!({"kind": item.get("type"), "id": item.get("bizTransaction")});
                    serde_json::from_value(ours).map_err(|e| error(&at, e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        bodies.push(EventBody {
            chain_id: signer.chain_id.clone(),
            signer: signer.key_id.clone(),
            nonce: signer.first_nonce + index as u64,
            event_time_ms: parse_iso_time(
                &format!("{at}.eventTime"),
                text(event, &at, "eventTime")?,
            )?,
            timezone_offset_minutes: match event.get("eventTimeZoneOffset").and_then(Value::as_str)
            {
                Some(text) => parse_offset(&format!("{at}.eventTimeZoneOffset"), text)?,
                None => 0,
            },
            shipment,
            kind,
            read_point: location("readPoint")?,
            biz_location: location("bizLocation")?,
            epcs,
            biz_transactions,
        });
    }
    Ok(bodies)
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

    #[test]
    fn times_and_offsets_round_trip() {
        for ms in [0, 1_767_225_600_123, 951_782_400_000, fixtures::NOW_MS] {
            assert_eq!(parse_iso_time("t", &iso_time(ms)).expect("parses"), ms);
        }
        for minutes in [0, 60, -300, 345, -720, 840] {
            assert_eq!(
                parse_offset("o", &offset(minutes)).expect("parses"),
                minutes
            );
        }
        assert!(parse_iso_time("t", "yesterday").is_err());
    }

    fn signer() -> ImportSigner {
        ImportSigner {
            chain_id: fixtures::chain_id(),
            key_id: fixtures::key_id("brand"),
            first_nonce: 1,
            default_shipment: None,
        }
    }

    /// The shapes of the EPCIS 2.0 standard's examples: an ObjectEvent (commissioning, with a
    /// read point and a business transaction) and an AggregationEvent (packing into an SSCC).
    fn standard_shapes() -> Value {
        json!({
            "@context": [EPCIS_CONTEXT],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00.000Z",
            "epcisBody": {"eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": "2025-12-31T23:00:00.000Z",
                    "eventTimeZoneOffset": "+01:00",
                    "epcList": ["https://id.gs1.org/01/04012345000016/21/SN1", "https://id.gs1.org/01/04012345000016/21/SN2"],
                    "action": "ADD",
                    "bizStep": "commissioning",
                    "readPoint": {"id": "NLRTM", "geo": null},
                    "bizTransactionList": [{"type": "purchase_order", "bizTransaction": "PO-1"}],
                    "waybill:shipment": "STOCK-1"
                },
                {
                    "type": "AggregationEvent",
                    "eventTime": "2025-12-31T23:30:00.000Z",
                    "eventTimeZoneOffset": "+01:00",
                    "parentID": "https://id.gs1.org/00/000000000000000017",
                    "childEPCs": ["https://id.gs1.org/01/04012345000016/21/SN1"],
                    "action": "ADD",
                    "bizStep": "packing",
                    "waybill:shipment": "STOCK-1"
                }
            ]}
        })
    }

    #[test]
    fn import_then_export_gives_the_same_epcis_events() {
        let document = standard_shapes();
        let bodies = import(&document, &signer()).expect("imports");
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0].kind, K::Commission);
        assert!(matches!(bodies[1].kind, K::Pack { .. }));
        let signed: Vec<SignedEvent> = bodies
            .into_iter()
            .map(|b| SignedEvent::sign(b, &fixtures::org_keypair("brand")))
            .collect();
        let exported = export(&signed, fixtures::NOW_MS);
        let original = document["epcisBody"]["eventList"].as_array().expect("list");
        let back = exported["epcisBody"]["eventList"].as_array().expect("list");
        for (original, back) in original.iter().zip(back) {
            assert_eq!(epcis_fields(original), epcis_fields(back));
        }
        // And our own export imports back to the same bodies.
        let again = import(&exported, &signer()).expect("re-imports");
        assert_eq!(
            again,
            signed.iter().map(|e| e.body.clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_kind_exports_and_imports_unchanged() {
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
            .map(|(n, kind)| fixtures::signed_event("brand", n as u64 + 1, "S-1", kind))
            .collect();
        let document = export(&events, fixtures::NOW_MS);
        let bodies = import(&document, &signer()).expect("imports");
        assert_eq!(
            bodies,
            events.iter().map(|e| e.body.clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn import_errors_name_the_place() {
        let mut document = standard_shapes();
        document["epcisBody"]["eventList"][1]["parentID"] =
            json!("urn:epc:id:sscc:0614141.1234567890");
        let error = import(&document, &signer()).expect_err("not a digital link");
        assert!(
            error.to_string().contains("eventList[1].parentID"),
            "{error}"
        );
        let mut document = standard_shapes();
        document["epcisBody"]["eventList"][0]["bizStep"] = json!("shipping");
        document["epcisBody"]["eventList"][0]["action"] = json!("OBSERVE");
        let error = import(&document, &signer()).expect_err("needs details");
        assert!(error.to_string().contains("waybill:kind"), "{error}");
    }
}
