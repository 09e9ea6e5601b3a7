//! The CBV 2.0 event hash (CBV §8.9, "EPCIS Event Hash ID"): a pre-hash string built from the
//! event's content in a canonical order with canonical spellings (times in UTC to the
//! millisecond, EPC URIs as constrained GS1 Digital Link URIs, CBV terms as Web URIs, numbers
//! without trailing zeros, extensions as `{namespace}name`, lists sorted), hashed with SHA-256
//! and written `ni:///sha-256;…?ver=CBV2.0` (RFC 6920). Two captures of one event, from XML or
//! JSON, in any spelling, get one id.
//!
//! Where the standard's text leaves an order open, this follows GS1's reference implementation
//! (epcis-event-hash-generator), which other implementations test against: `certificationInfo`
//! after the offset, `parentID` before the EPC lists, and business transactions, sources,
//! destinations, ILMD and extensions after the ordered fields, sorted.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::EpcisEvent;
use super::cbv::{Term, Vocabulary};
use super::gs1::Gs1Key;
use super::uri::Context;
use crate::calendar::Timestamp;

/// A CBV 2.0 event hash: SHA-256 of the event's pre-hash string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventHash(pub [u8; 32]);

const NI_PREFIX: &str = "ni:///sha-256;";
const NI_SUFFIX: &str = "?ver=CBV2.0";

impl EventHash {
    /// `ni:///sha-256;<hex>?ver=CBV2.0`.
    pub fn ni(&self) -> String {
        format!("{NI_PREFIX}{}{NI_SUFFIX}", hex::encode(self.0))
    }

    /// Reads an `ni:///sha-256;…` URI (the version suffix optional, any hex case).
    pub fn parse(text: &str) -> Option<EventHash> {
        let digest = text.strip_prefix(NI_PREFIX)?;
        let digest =
            digest.split_once('?').map_or(
                digest,
                |(digest, query)| {
                    if query == "ver=CBV2.0" { digest } else { "" }
                },
            );
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digest, &mut bytes).ok()?;
        Some(EventHash(bytes))
    }
}

impl EpcisEvent {
    /// The event's CBV 2.0 event hash.
    pub fn hash(&self) -> EventHash {
        EventHash(Sha256::digest(pre_hash(self).as_bytes()).into())
    }
}

/// The ordered fields, in the reference implementation's order; the rest follow sorted.
const ORDER: [&str; 20] = [
    "eventTime",
    "eventTimeZoneOffset",
    "certificationInfo",
    "parentID",
    "epcList",
    "inputEPCList",
    "childEPCs",
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "action",
    "transformationID",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "readPoint",
    "bizLocation",
    "sensorElementList",
];

/// Not part of the hash: what may differ between captures of one event, and comments.
const IGNORED: [&str; 6] = [
    "@context",
    "type",
    "recordTime",
    "eventID",
    "errorDeclaration",
    "rdfs:comment",
];

const SENSOR_METADATA_ORDER: [&str; 8] = [
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
];

const SENSOR_REPORT_ORDER: [&str; 24] = [
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
    "bizRules",
];

/// The pre-hash string of an event.
pub fn pre_hash(event: &EpcisEvent) -> String {
    let writer = PreHash {
        context: event.context(),
    };
    let content = event.content();
    let mut out = format!("eventType={}", event.event_type().name());
    for name in ORDER {
        if let Some(value) = content.get(name) {
            out.push_str(&writer.field(name, value));
        }
    }
    let mut rest: Vec<String> = content
        .iter()
        .filter(|(name, _)| !ORDER.contains(&name.as_str()) && !IGNORED.contains(&name.as_str()))
        .flat_map(|(name, value)| writer.other(name, value))
        .collect();
    rest.sort();
    out.push_str(&rest.concat());
    out
}

struct PreHash<'a> {
    context: &'a Context,
}

impl PreHash<'_> {
    fn field(&self, name: &str, value: &Value) -> String {
        match name {
            "eventTime" => format!("eventTime={}", time(value)),
            "epcList" | "inputEPCList" | "childEPCs" | "outputEPCList" => {
                let items = strings(value).map(|epc| format!("epc={}", self.canonical(epc)));
                labelled(name, sorted(items))
            }
            "quantityList" | "childQuantityList" | "inputQuantityList" | "outputQuantityList" => {
                let items = array(value).map(|element| self.quantity(element));
                labelled(name, sorted(items))
            }
            "bizStep" => self.term(name, value, Vocabulary::BizStep),
            "disposition" => self.term(name, value, Vocabulary::Disposition),
            "persistentDisposition" => {
                let part = |which: &str| {
                    let terms = value.get(which).map(strings_of).unwrap_or_default();
                    sorted(terms.into_iter().map(|term| {
                        self.term(which, &Value::String(term), Vocabulary::Disposition)
                    }))
                };
                labelled(name, format!("{}{}", part("set"), part("unset")))
            }
            "readPoint" | "bizLocation" => {
                let mut out = format!("{name}id={}", self.canonical(text(value.get("id"))));
                out.push_str(&self.extensions(value.as_object(), &["id"]));
                out
            }
            "sensorElementList" => {
                let items = array(value).map(|element| self.sensor_element(element));
                labelled(name, sorted(items))
            }
            "certificationInfo" => sorted(
                strings_of(value)
                    .iter()
                    .map(|uri| format!("{name}={}", self.canonical(uri))),
            ),
            _ => format!("{name}={}", self.canonical(text(Some(value)))),
        }
    }

    /// What follows the ordered fields: business transactions, sources and destinations
    /// (type first), ILMD, and extensions. One string per value (a list is several).
    fn other(&self, name: &str, value: &Value) -> Vec<String> {
        match name {
            "bizTransactionList" | "sourceList" | "destinationList" => {
                let (member, vocabulary) = match name {
                    "bizTransactionList" => ("bizTransaction", Vocabulary::BizTransactionType),
                    "sourceList" => ("source", Vocabulary::SourceDestinationType),
                    _ => ("destination", Vocabulary::SourceDestinationType),
                };
                let items = array(value).map(|entry| {
                    let kind = entry
                        .get("type")
                        .map(|kind| self.term("type", kind, vocabulary))
                        .unwrap_or_default();
                    let id = self.canonical(text(entry.get(member)));
                    format!("{kind}{member}={id}")
                });
                vec![labelled(name, sorted(items))]
            }
            "ilmd" => vec![labelled(name, self.extensions(value.as_object(), &[]))],
            _ => self.extension(name, value),
        }
    }

    fn quantity(&self, element: &Value) -> String {
        let mut out = format!(
            "quantityElementepcClass={}",
            self.canonical(text(element.get("epcClass")))
        );
        if let Some(quantity) = element.get("quantity") {
            out.push_str(&format!("quantity={}", number_text(quantity)));
        }
        if let Some(unit) = element.get("uom").and_then(Value::as_str) {
            out.push_str(&format!("uom={}", unit.trim()));
        }
        out
    }

    fn sensor_element(&self, element: &Value) -> String {
        let mut out = String::from("sensorElement");
        if let Some(metadata) = element.get("sensorMetadata") {
            out.push_str("sensorMetadata");
            out.push_str(&self.ordered(metadata, &SENSOR_METADATA_ORDER));
        }
        let reports = array(element.get("sensorReport").unwrap_or(&Value::Null))
            .map(|report| format!("sensorReport{}", self.ordered(report, &SENSOR_REPORT_ORDER)));
        out.push_str(&sorted(reports));
        out.push_str(&self.extensions(element.as_object(), &["sensorMetadata", "sensorReport"]));
        out
    }

    /// A sensor part's fields in `order`, then its extensions.
    fn ordered(&self, value: &Value, order: &[&str]) -> String {
        let mut out = String::new();
        for name in order {
            let Some(field) = value.get(*name) else {
                continue;
            };
            let rendered = match *name {
                "type" | "exception" | "component" => {
                    let vocabulary = match *name {
                        "type" => Vocabulary::MeasurementType,
                        "exception" => Vocabulary::SensorAlertType,
                        _ => Vocabulary::Component,
                    };
                    self.term(name, field, vocabulary)
                }
                name if is_time_name(name) => format!("{name}={}", time(field)),
                _ => format!("{name}={}", self.scalar(field)),
            };
            out.push_str(&rendered);
        }
        out.push_str(&self.extensions(value.as_object(), order));
        out
    }

    /// The members of `object` not in `known`, as extensions, sorted.
    fn extensions(&self, object: Option<&Map<String, Value>>, known: &[&str]) -> String {
        let Some(object) = object else {
            return String::new();
        };
        sorted(
            object
                .iter()
                .filter(|(name, _)| {
                    !known.contains(&name.as_str())
                        && !name.starts_with('@')
                        && name.as_str() != "rdfs:comment"
                })
                .flat_map(|(name, value)| self.extension(name, value)),
        )
    }

    /// `{namespace}name=value`; an object's members follow its name, sorted; a list is one
    /// string per value.
    fn extension(&self, name: &str, value: &Value) -> Vec<String> {
        let key = self.context.expanded_name(name);
        match value {
            Value::Array(items) => items
                .iter()
                .flat_map(|item| self.extension(name, item))
                .collect(),
            Value::Object(members) => {
                if let Some(inner) = members.get("@value") {
                    return self.extension(name, inner);
                }
                vec![format!("{key}{}", self.extensions(Some(members), &[]))]
            }
            Value::Null => vec![key],
            scalar => {
                let text = self.scalar(scalar);
                if text.is_empty() {
                    vec![key]
                } else {
                    vec![format!("{key}={text}")]
                }
            }
        }
    }

    fn term(&self, name: &str, value: &Value, vocabulary: Vocabulary) -> String {
        let written = self.context.expanded_value(text(Some(value)).trim());
        let uri = match vocabulary.read(&written) {
            Ok(Term::Standard(term)) => format!("{}{term}", vocabulary.web_prefix()),
            _ => self.canonical(&written),
        };
        format!("{name}={uri}")
    }

    fn scalar(&self, value: &Value) -> String {
        match value {
            Value::String(text) => self.canonical(text),
            Value::Number(_) => number_text(value),
            // Python's spelling, as GS1's reference implementation writes booleans.
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            _ => String::new(),
        }
    }

    /// A value's canonical spelling: trimmed, CBV URNs as Web URIs, numbers without trailing
    /// zeros, GS1 keys as constrained Digital Link URIs.
    fn canonical(&self, text: &str) -> String {
        let text = text.trim();
        for (urn, web) in [
            ("urn:epcglobal:cbv:bizstep:", Vocabulary::BizStep),
            ("urn:epcglobal:cbv:disp:", Vocabulary::Disposition),
            ("urn:epcglobal:cbv:btt:", Vocabulary::BizTransactionType),
            ("urn:epcglobal:cbv:sdt:", Vocabulary::SourceDestinationType),
            ("urn:epcglobal:cbv:er:", Vocabulary::ErrorReason),
        ] {
            if let Some(term) = text.strip_prefix(urn) {
                return format!("{}{term}", web.web_prefix());
            }
        }
        if let Some(number) = numeric_string(text) {
            return number;
        }
        match Gs1Key::read(text) {
            Ok(Some(key)) => key.constrained_digital_link(),
            _ => self.context.expanded_value(text),
        }
    }
}

fn is_time_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("time") && !lower.contains("offset")
}

fn time(value: &Value) -> String {
    let written = text(Some(value)).trim();
    Timestamp::parse(written).map_or_else(|| written.to_string(), |t| t.utc_millis_text())
}

fn text(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or_default()
}

fn array(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    array(value).filter_map(Value::as_str)
}

fn strings_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        other => strings(other).map(str::to_string).collect(),
    }
}

fn sorted(items: impl Iterator<Item = String>) -> String {
    let mut items: Vec<String> = items.collect();
    items.sort();
    items.concat()
}

/// A list's label and its contents, or nothing for an empty list.
fn labelled(name: &str, contents: String) -> String {
    if contents.is_empty() {
        String::new()
    } else {
        format!("{name}{contents}")
    }
}

/// A JSON number as the hash writes it: integral values without a fraction, others in their
/// shortest round-trip form (Python's `repr`, which the reference implementation uses).
fn number_text(value: &Value) -> String {
    match value {
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(integer), _, _) => integer.to_string(),
            (_, Some(integer), _) => integer.to_string(),
            (_, _, Some(float)) => float_text(float),
            _ => number.to_string(),
        },
        other => text(Some(other)).to_string(),
    }
}

fn float_text(float: f64) -> String {
    if float.fract() == 0.0 && float.abs() < 1e300 {
        return format!("{float:.0}");
    }
    let magnitude = float.abs();
    if (1e-4..1e16).contains(&magnitude) {
        return format!("{float}");
    }
    // Python writes these as d.ddde±XX.
    let scientific = format!("{float:e}");
    match scientific.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => scientific,
    }
}

/// A string that is a decimal number, written as the hash writes numbers.
fn numeric_string(text: &str) -> Option<String> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (body, None),
    };
    let digits_ok = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mantissa_ok =
        (!whole.is_empty() || !fraction.is_empty()) && digits_ok(whole) && digits_ok(fraction);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits_ok(e)
    });
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    let float: f64 = text.parse().ok()?;
    float.is_finite().then(|| float_text(float))
}
