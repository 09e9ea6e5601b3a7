//! EPCIS 2.0 JSON-LD out: a document of events as kept, each carrying the namespace
//! definitions it uses, valid against GS1's JSON schema; and the semantic form two spellings of
//! one event share, for comparing an export with what was captured.

use serde_json::{Map, Value, json};

use super::EpcisEvent;
use super::cbv::{Term, Vocabulary};
use super::gs1::Gs1Key;
use super::uri::{Context, EPCIS_CONTEXT};
use crate::calendar::Timestamp;

/// An `EPCISDocument` holding `events` in order, created at `creation_date` (RFC 3339).
pub fn document(events: &[EpcisEvent], creation_date: &str) -> Value {
    let list: Vec<Value> = events
        .iter()
        .map(|event| Value::Object(event.content().clone()))
        .collect();
    json!({
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": creation_date,
        "epcisBody": {"eventList": list},
    })
}

/// The vocabulary a member of this name holds, where it holds one.
fn vocabulary_of(parent: &str, name: &str) -> Option<Vocabulary> {
    Some(match (parent, name) {
        (_, "bizStep") => Vocabulary::BizStep,
        (_, "disposition") | ("persistentDisposition", _) => Vocabulary::Disposition,
        ("bizTransactionList", "type") => Vocabulary::BizTransactionType,
        ("sourceList" | "destinationList", "type") => Vocabulary::SourceDestinationType,
        ("errorDeclaration", "reason") => Vocabulary::ErrorReason,
        ("sensorReport", "type") => Vocabulary::MeasurementType,
        ("sensorReport", "exception") => Vocabulary::SensorAlertType,
        ("sensorReport", "component") => Vocabulary::Component,
        _ => return None,
    })
}

/// An event's meaning with every spelling choice taken out: names expanded to their
/// namespaces, times as UTC instants with every digit, GS1 keys as Digital Link URIs, CBV
/// terms as Web URIs, numbers as numbers, sets sorted. Two captures of one event, in any
/// spelling, have equal semantic forms; `context` is the document's.
pub fn semantic_form(event: &Value, context: &Context) -> Value {
    let mut context = context.clone();
    if let Some(own) = event.get("@context") {
        // A malformed context is the reader's error to report; here it adds nothing.
        let _ = context.extend(own);
    }
    form(&context, "", "", event)
}

fn form(context: &Context, parent: &str, name: &str, value: &Value) -> Value {
    match value {
        Value::Object(members) => {
            let mut out = Map::new();
            for (member, inner) in members {
                if member == "@context" {
                    continue;
                }
                let key = if member.contains(':') {
                    context.expanded_name(member)
                } else {
                    member.clone()
                };
                out.insert(key, form(context, name, member, inner));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items
                .iter()
                .map(|item| form(context, parent, name, item))
                .collect();
            items.sort_by_key(|item| item.to_string());
            Value::Array(items)
        }
        Value::Number(number) => number
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::String(text) => Value::String(string_form(context, parent, name, text)),
        other => other.clone(),
    }
}

fn string_form(context: &Context, parent: &str, name: &str, text: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.contains("time")
        && !lower.contains("offset")
        && let Some(time) = Timestamp::parse(text)
    {
        return time.utc_exact_text();
    }
    let expanded = context.expanded_value(text);
    if let Some(vocabulary) = vocabulary_of(parent, name)
        && let Ok(term) = vocabulary.read(&expanded)
    {
        return match term {
            Term::Standard(term) => format!("{}{term}", vocabulary.web_prefix()),
            Term::Other(uri) => uri,
        };
    }
    match Gs1Key::read(text) {
        Ok(Some(key)) => key.digital_link(),
        _ => expanded,
    }
}
