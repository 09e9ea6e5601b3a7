//! EPCIS 2.0, the GS1 standard's event model, as Waybill carries it (DESIGN.md §13).
//!
//! A document (JSON-LD: `EPCISDocument`, `EPCISQueryDocument`, or one event with its
//! `@context`) is read and checked whole before anything is signed: every event type and field
//! of the standard, every GS1 key in its EPC URI and Digital Link spellings (`gs1`), the CBV's
//! vocabularies in every spelling (`cbv`), times with any offset and to the nanosecond, and user
//! extensions under their namespaces. Every problem names the event's index and the JSON
//! pointer of its field. An event is kept as captured ([`EpcisEvent`]) and identified by the CBV
//! 2.0 event hash (`hash`), which is the same for every spelling of the same event.
//!
//! Pure and deterministic: the node reads ledger content with it during execution.

pub mod capture;
pub mod cbv;
mod event;
mod export;
pub mod gs1;
mod hash;
pub mod uri;

pub use event::{EpcisEvent, EpcisEventType};
pub use export::{document, semantic_form};
pub use hash::{EventHash, pre_hash};
pub use uri::{Context, EPCIS_CONTEXT};

use serde_json::Value;

use crate::limits::{EPCIS_DOCUMENT_EVENTS_MAX, EPCIS_EVENT_BYTES_MAX};

/// One problem in an EPCIS document: which event (by index in the event list), and where in
/// the document (a JSON pointer, RFC 6901).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{pointer}: {reason}", event.map(|index| format!("event {index} at ")).unwrap_or_default())]
pub struct EpcisError {
    pub event: Option<usize>,
    pub pointer: String,
    pub reason: String,
}

impl EpcisError {
    fn at(event: Option<usize>, pointer: &str, reason: impl Into<String>) -> EpcisError {
        EpcisError {
            event,
            pointer: pointer.to_string(),
            reason: reason.into(),
        }
    }
}

/// `pointer` with one more member, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`).
fn pointer_push(pointer: &str, member: &str) -> String {
    format!("{pointer}/{}", member.replace('~', "~0").replace('/', "~1"))
}

/// Reads a whole document. Either every event is well formed and they are returned in order,
/// or every problem found is (up to `EPCIS_ERRORS_MAX`).
pub fn read_document(document: &Value) -> Result<Vec<EpcisEvent>, Vec<EpcisError>> {
    let mut errors = Vec::new();
    let Some(object) = document.as_object() else {
        return Err(vec![EpcisError::at(
            None,
            "",
            "an EPCIS document is a JSON object",
        )]);
    };
    let context = document_context(object, &mut errors);
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if EpcisEventType::from_name(kind).is_some() {
        if !errors.is_empty() {
            return Err(errors);
        }
        return EpcisEvent::read(document, "", Some(0), &context).map(|event| vec![event]);
    }
    let Some((events, list_at)) = event_list(document, kind, &mut errors) else {
        return Err(errors);
    };
    let mut read = Vec::with_capacity(events.len());
    for (index, value) in events.iter().enumerate() {
        let at = format!("{list_at}/{index}");
        match EpcisEvent::read(value, &at, Some(index), &context) {
            Ok(event) if event.canonical_bytes().len() > EPCIS_EVENT_BYTES_MAX => {
                errors.push(EpcisError::at(
                    Some(index),
                    &at,
                    format!("larger than {EPCIS_EVENT_BYTES_MAX} bytes as captured"),
                ))
            }
            Ok(event) => read.push(event),
            Err(found) => errors.extend(found),
        }
        if errors.len() >= crate::limits::EPCIS_ERRORS_MAX {
            errors.truncate(crate::limits::EPCIS_ERRORS_MAX);
            break;
        }
    }
    if errors.is_empty() {
        Ok(read)
    } else {
        Err(errors)
    }
}

/// The document's `@context`, which must name the EPCIS 2.0 context.
fn document_context(
    object: &serde_json::Map<String, Value>,
    errors: &mut Vec<EpcisError>,
) -> Context {
    let mut context = Context::default();
    match object.get("@context") {
        None => errors.push(EpcisError::at(None, "", "@context is required")),
        Some(value) if !names_epcis_context(value) => errors.push(EpcisError::at(
            None,
            "/@context",
            format!("must name the EPCIS 2.0 context {EPCIS_CONTEXT}"),
        )),
        Some(value) => {
            if let Err(reason) = context.extend(value) {
                errors.push(EpcisError::at(None, "/@context", reason));
            }
        }
    }
    context
}

/// The event list of a document of type `kind`, bounded, and its pointer.
fn event_list<'d>(
    document: &'d Value,
    kind: &str,
    errors: &mut Vec<EpcisError>,
) -> Option<(&'d Vec<Value>, &'static str)> {
    let list_at = match kind {
        "EPCISDocument" => {
            if let Some(object) = document.as_object() {
                check_header(errors, object);
            }
            "/epcisBody/eventList"
        }
        "EPCISQueryDocument" => "/epcisBody/queryResults/resultsBody/eventList",
        _ => {
            errors.push(EpcisError::at(
                None,
                "/type",
                format!("{kind:?} is not EPCISDocument, EPCISQueryDocument or an event type"),
            ));
            return None;
        }
    };
    match document.pointer(list_at).and_then(Value::as_array) {
        Some(events) if events.len() <= EPCIS_DOCUMENT_EVENTS_MAX => {
            errors.is_empty().then_some((events, list_at))
        }
        Some(events) => {
            errors.push(EpcisError::at(
                None,
                list_at,
                format!(
                    "{} events, at most {EPCIS_DOCUMENT_EVENTS_MAX}",
                    events.len()
                ),
            ));
            None
        }
        None => {
            errors.push(EpcisError::at(
                None,
                list_at,
                "an array of events is required",
            ));
            None
        }
    }
}

fn names_epcis_context(value: &Value) -> bool {
    match value {
        Value::String(uri) => uri == EPCIS_CONTEXT,
        Value::Array(items) => items
            .iter()
            .any(|item| item.as_str() == Some(EPCIS_CONTEXT)),
        _ => false,
    }
}

fn check_header(errors: &mut Vec<EpcisError>, object: &serde_json::Map<String, Value>) {
    match object.get("schemaVersion").and_then(Value::as_str) {
        Some("2.0") => {}
        _ => errors.push(EpcisError::at(None, "/schemaVersion", "must be \"2.0\"")),
    }
    match object.get("creationDate").and_then(Value::as_str) {
        Some(text) if crate::calendar::Timestamp::parse(text).is_some() => {}
        _ => errors.push(EpcisError::at(
            None,
            "/creationDate",
            "a real date and time YYYY-MM-DDTHH:MM:SS[.fraction] with Z or ±HH:MM is required",
        )),
    }
}

impl EpcisEvent {
    /// The canonical bytes the ledger carries: the event as kept, as JSON with members in
    /// byte order and no whitespace.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        canonical_json(&Value::Object(self.content().clone()), &mut out);
        out
    }

    /// Reads ledger content back: it must be an event that reads cleanly on its own and be
    /// exactly its own canonical bytes, so one event has one encoding.
    pub fn from_canonical(bytes: &[u8]) -> Result<EpcisEvent, EpcisError> {
        if bytes.len() > EPCIS_EVENT_BYTES_MAX {
            return Err(EpcisError::at(
                None,
                "",
                format!("larger than {EPCIS_EVENT_BYTES_MAX} bytes"),
            ));
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|error| EpcisError::at(None, "", format!("not JSON: {error}")))?;
        let event = EpcisEvent::read(&value, "", None, &Context::default()).map_err(|errors| {
            errors
                .into_iter()
                .next()
                .unwrap_or_else(|| EpcisError::at(None, "", "not an EPCIS 2.0 event"))
        })?;
        if event.canonical_bytes() != bytes {
            return Err(EpcisError::at(None, "", "not in canonical form"));
        }
        Ok(event)
    }
}

/// JSON with object members sorted by their bytes and no whitespace; strings and numbers as
/// serde_json writes them (numbers in their shortest exact form).
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (index, (name, member)) in sorted.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                canonical_json(&Value::String(name.clone()), out);
                out.push(b':');
                canonical_json(member, out);
            }
            out.push(b'}');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}
