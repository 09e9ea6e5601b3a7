//! The check of each standard field, and the rules that span fields (what each event type must
//! name).

use serde_json::{Map, Value};

use super::{Check, EpcisEventType, Field};
use crate::calendar::parse_offset;
use crate::epcis::cbv::Vocabulary;
use crate::epcis::gs1::{Gs1Key, KeyKind};

/// A field's value checked and in its kept form, or `None` with the problem recorded.
pub(super) fn check_field(
    check: &mut Check<'_>,
    at: &str,
    field: Field,
    value: &Value,
) -> Option<Value> {
    match field {
        Field::Context | Field::Type => Some(value.clone()),
        Field::Time => check.time(at, value),
        Field::ZoneOffset => zone_offset(check, at, value),
        Field::Uri => check.uri(at, value),
        Field::Epc => epc(check, at, value),
        Field::EpcList => check.list(at, value, 0, true, epc),
        Field::Quantities => check.list(at, value, 0, false, quantity),
        Field::Action => action(check, at, value),
        Field::Vocab(vocabulary) => check.vocab(at, value, vocabulary),
        Field::PersistentDisposition => persistent_disposition(check, at, value),
        Field::Place => check.members(at, value, &["id"], true, |check, at, name, value| {
            (name == "id").then(|| check.uri(at, value))
        }),
        Field::BizTransactions => check.list(at, value, 0, false, biz_transaction),
        Field::Parties(member) => check.list(at, value, 0, false, |check, at, value| {
            party(check, at, value, member)
        }),
        Field::Sensors => check.list(at, value, 0, false, sensor_element),
        Field::Ilmd => ilmd(check, at, value),
        Field::Certification => match value {
            Value::Array(_) => {
                check.list(at, value, 0, false, |check, at, value| check.uri(at, value))
            }
            _ => check.uri(at, value),
        },
        Field::ErrorDeclaration => error_declaration(check, at, value),
    }
}

fn zone_offset(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    let text = check.string(at, value)?;
    if text == "Z" || parse_offset(text).is_none() {
        check.fail(at, format!("{text:?} is not ±HH:MM within -14:00..+14:00"));
        return None;
    }
    Some(value.clone())
}

/// An instance identifier: a URI; an EPC or Digital Link one must be a valid GS1 key.
fn epc(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    let checked = check.uri(at, value)?;
    if let Some(text) = value.as_str()
        && let Ok(Some(key)) = Gs1Key::read(text)
        && matches!(key.kind, KeyKind::Lgtin | KeyKind::ProductClass)
    {
        check.fail(
            at,
            format!("{text:?} names a class, not an instance: it belongs in a quantity list"),
        );
        return None;
    }
    Some(checked)
}

fn action(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    let text = check.string(at, value)?;
    if !matches!(text, "ADD" | "OBSERVE" | "DELETE") {
        check.fail(at, format!("{text:?} is not ADD, OBSERVE or DELETE"));
        return None;
    }
    Some(value.clone())
}

fn quantity(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    check.members(at, value, &["epcClass"], false, |check, at, name, value| {
        Some(match name {
            "epcClass" => check.uri(at, value),
            "quantity" if value.as_f64().is_some_and(|q| q.is_finite() && q >= 0.0) => {
                Some(value.clone())
            }
            "quantity" => {
                check.fail(at, "expected a number of at least 0");
                None
            }
            "uom" => unit(check, at, value),
            _ => return None,
        })
    })
}

/// A UN/ECE Recommendation 20 unit code: 2 or 3 upper-case letters or digits.
fn unit(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    let text = check.string(at, value)?;
    let ok = (2..=3).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !ok {
        check.fail(at, format!("{text:?} is not a UN/ECE Rec. 20 unit code"));
        return None;
    }
    Some(value.clone())
}

fn persistent_disposition(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    let checked = check.members(at, value, &[], false, |check, at, name, value| {
        matches!(name, "set" | "unset").then(|| {
            check.list(at, value, 1, true, |check, at, value| {
                check.vocab(at, value, Vocabulary::Disposition)
            })
        })
    })?;
    if checked.get("set").is_none() && checked.get("unset").is_none() {
        check.fail(at, "needs set or unset");
        return None;
    }
    Some(checked)
}

fn biz_transaction(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    check.members(
        at,
        value,
        &["bizTransaction"],
        false,
        |check, at, name, value| {
            Some(match name {
                "type" => check.vocab(at, value, Vocabulary::BizTransactionType),
                "bizTransaction" => check.uri(at, value),
                _ => return None,
            })
        },
    )
}

fn party(check: &mut Check<'_>, at: &str, value: &Value, member: &'static str) -> Option<Value> {
    check.members(
        at,
        value,
        &["type", member],
        false,
        |check, at, name, value| {
            Some(match name {
                "type" => check.vocab(at, value, Vocabulary::SourceDestinationType),
                found if found == member => check.uri(at, value),
                _ => return None,
            })
        },
    )
}

fn sensor_element(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    check.members(
        at,
        value,
        &["sensorReport"],
        true,
        |check, at, name, value| {
            Some(match name {
                "sensorMetadata" => sensor_metadata(check, at, value),
                "sensorReport" => check.list(at, value, 1, false, sensor_report),
                _ => return None,
            })
        },
    )
}

fn sensor_metadata(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    check.members(at, value, &[], true, |check, at, name, value| {
        Some(match name {
            "time" | "startTime" | "endTime" => check.time(at, value),
            "deviceID" | "deviceMetadata" | "rawData" | "dataProcessingMethod" | "bizRules" => {
                check.uri(at, value)
            }
            _ => return None,
        })
    })
}

fn sensor_report(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    check.members(at, value, &["type"], true, |check, at, name, value| {
        Some(match name {
            "type" => check.vocab(at, value, Vocabulary::MeasurementType),
            "exception" => check.vocab(at, value, Vocabulary::SensorAlertType),
            "component" => check.vocab(at, value, Vocabulary::Component),
            "time" => check.time(at, value),
            "deviceID"
            | "deviceMetadata"
            | "rawData"
            | "dataProcessingMethod"
            | "bizRules"
            | "microorganism"
            | "chemicalSubstance"
            | "coordinateReferenceSystem"
            | "uriValue" => check.uri(at, value),
            "value" | "minValue" | "maxValue" | "meanValue" | "sDev" | "percRank" | "percValue" => {
                number(check, at, value)
            }
            "stringValue" | "uom" => check.string(at, value).map(|_| value.clone()),
            "booleanValue" if value.is_boolean() => Some(value.clone()),
            "booleanValue" => {
                check.fail(at, "expected a boolean");
                None
            }
            "hexBinaryValue" => hex_binary(check, at, value),
            _ => return None,
        })
    })
}

fn number(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    if value.as_f64().is_some_and(f64::is_finite) {
        return Some(value.clone());
    }
    check.fail(at, "expected a number");
    None
}

fn hex_binary(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    let text = check.string(at, value)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        check.fail(at, format!("{text:?} is not hexadecimal"));
        return None;
    }
    Some(value.clone())
}

fn ilmd(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    check.members(at, value, &[], true, |_, _, _, _| None)
}

fn error_declaration(check: &mut Check<'_>, at: &str, value: &Value) -> Option<Value> {
    check.members(
        at,
        value,
        &["declarationTime"],
        true,
        |check, at, name, value| {
            Some(match name {
                "declarationTime" => check.time(at, value),
                "reason" => check.vocab(at, value, Vocabulary::ErrorReason),
                "correctiveEventIDs" => {
                    check.list(at, value, 0, false, |check, at, value| check.uri(at, value))
                }
                _ => return None,
            })
        },
    )
}

fn non_empty(content: &Map<String, Value>, field: &str) -> bool {
    content
        .get(field)
        .and_then(Value::as_array)
        .is_some_and(|items| !items.is_empty())
}

/// The rules that span fields: what each type must name (EPCIS 2.0 §7.4 and the JSON
/// schema's `anyOf`s), and that a parent is an instance.
pub(super) fn check_whole(
    check: &mut Check<'_>,
    at: &str,
    event_type: EpcisEventType,
    content: &Map<String, Value>,
) -> bool {
    let deleting = content.get("action").and_then(Value::as_str) == Some("DELETE");
    let (ok, rule) = match event_type {
        EpcisEventType::Object => (
            content.contains_key("epcList")
                || non_empty(content, "quantityList")
                || (non_empty(content, "sensorElementList") && content.contains_key("readPoint")),
            "an ObjectEvent names epcList, quantityList, or sensorElementList with readPoint",
        ),
        EpcisEventType::Aggregation | EpcisEventType::Association => (
            non_empty(content, "childEPCs") || non_empty(content, "childQuantityList") || deleting,
            "childEPCs or childQuantityList is required unless action is DELETE",
        ),
        EpcisEventType::Transaction => (
            content.contains_key("epcList") || non_empty(content, "quantityList") || deleting,
            "epcList or quantityList is required unless action is DELETE",
        ),
        EpcisEventType::Transformation => (
            [
                "inputEPCList",
                "inputQuantityList",
                "outputEPCList",
                "outputQuantityList",
            ]
            .iter()
            .any(|field| non_empty(content, field)),
            "a TransformationEvent names at least one input or output",
        ),
    };
    if !ok {
        check.fail(at, rule);
    }
    let mut whole = ok;
    if event_type == EpcisEventType::Transaction && !non_empty(content, "bizTransactionList") {
        check.fail(
            &format!("{at}/bizTransactionList"),
            "a TransactionEvent names at least one business transaction",
        );
        whole = false;
    }
    if content.contains_key("ilmd")
        && event_type == EpcisEventType::Object
        && content.get("action").and_then(Value::as_str) != Some("ADD")
    {
        check.fail(
            &format!("{at}/ilmd"),
            "ilmd is allowed only with action ADD",
        );
        whole = false;
    }
    whole
}
