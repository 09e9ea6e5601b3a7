//! One EPCIS 2.0 event, read and checked whole against the standard's rules (the JSON schema's
//! and the CBV's), every problem reported with the JSON pointer of its field. What is kept is
//! the event as captured, with standard vocabulary in the JSON binding's bare spelling and the
//! namespace definitions its extensions use: nothing is dropped, so it exports unchanged.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::cbv::{Term, Vocabulary};
use super::gs1::Gs1Key;
use super::uri::{Context, is_uri};
use super::{EpcisError, pointer_push};
use crate::calendar::{Timestamp, parse_offset};
use crate::limits::{EPCIS_DEPTH_MAX, EPCIS_LIST_ITEMS_MAX, EPCIS_STRING_BYTES_MAX};

/// The five event types of EPCIS 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EpcisEventType {
    Object,
    Aggregation,
    Transaction,
    Transformation,
    Association,
}

impl EpcisEventType {
    pub const ALL: [EpcisEventType; 5] = [
        EpcisEventType::Object,
        EpcisEventType::Aggregation,
        EpcisEventType::Transaction,
        EpcisEventType::Transformation,
        EpcisEventType::Association,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EpcisEventType::Object => "ObjectEvent",
            EpcisEventType::Aggregation => "AggregationEvent",
            EpcisEventType::Transaction => "TransactionEvent",
            EpcisEventType::Transformation => "TransformationEvent",
            EpcisEventType::Association => "AssociationEvent",
        }
    }

    pub fn from_name(name: &str) -> Option<EpcisEventType> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// What a field holds, for its check.
#[derive(Debug, Clone, Copy)]
enum Field {
    Context,
    Type,
    Time,
    ZoneOffset,
    Uri,
    /// One instance identifier (a parent).
    Epc,
    EpcList,
    Quantities,
    Action,
    Vocab(Vocabulary),
    PersistentDisposition,
    Place,
    BizTransactions,
    Parties(&'static str),
    Sensors,
    Ilmd,
    Certification,
    ErrorDeclaration,
}

const COMMON: [(&str, Field); 8] = [
    ("@context", Field::Context),
    ("type", Field::Type),
    ("eventTime", Field::Time),
    ("recordTime", Field::Time),
    ("eventTimeZoneOffset", Field::ZoneOffset),
    ("eventID", Field::Uri),
    ("certificationInfo", Field::Certification),
    ("errorDeclaration", Field::ErrorDeclaration),
];

const WHAT_WHERE_WHY: [(&str, Field); 8] = [
    ("bizStep", Field::Vocab(Vocabulary::BizStep)),
    ("disposition", Field::Vocab(Vocabulary::Disposition)),
    ("readPoint", Field::Place),
    ("bizLocation", Field::Place),
    ("bizTransactionList", Field::BizTransactions),
    ("sourceList", Field::Parties("source")),
    ("destinationList", Field::Parties("destination")),
    ("sensorElementList", Field::Sensors),
];

/// The fields each type has besides `COMMON` and `WHAT_WHERE_WHY` (EPCIS 2.0 §7.4).
fn own_fields(event_type: EpcisEventType) -> &'static [(&'static str, Field)] {
    match event_type {
        EpcisEventType::Object => &[
            ("epcList", Field::EpcList),
            ("quantityList", Field::Quantities),
            ("action", Field::Action),
            ("persistentDisposition", Field::PersistentDisposition),
            ("ilmd", Field::Ilmd),
        ],
        EpcisEventType::Aggregation | EpcisEventType::Association => &[
            ("parentID", Field::Epc),
            ("childEPCs", Field::EpcList),
            ("childQuantityList", Field::Quantities),
            ("action", Field::Action),
        ],
        EpcisEventType::Transaction => &[
            ("parentID", Field::Epc),
            ("epcList", Field::EpcList),
            ("quantityList", Field::Quantities),
            ("action", Field::Action),
        ],
        EpcisEventType::Transformation => &[
            ("inputEPCList", Field::EpcList),
            ("inputQuantityList", Field::Quantities),
            ("outputEPCList", Field::EpcList),
            ("outputQuantityList", Field::Quantities),
            ("transformationID", Field::Uri),
            ("persistentDisposition", Field::PersistentDisposition),
            ("ilmd", Field::Ilmd),
        ],
    }
}

fn field(event_type: EpcisEventType, name: &str) -> Option<Field> {
    COMMON
        .iter()
        .chain(WHAT_WHERE_WHY.iter())
        .chain(own_fields(event_type))
        .find(|(known, _)| *known == name)
        .map(|(_, field)| *field)
}

/// Where the checks of one event write their findings.
pub(super) struct Check<'a> {
    pub event: Option<usize>,
    pub errors: &'a mut Vec<EpcisError>,
    pub context: &'a Context,
}

impl Check<'_> {
    pub fn fail(&mut self, pointer: &str, reason: impl Into<String>) {
        if self.errors.len() < crate::limits::EPCIS_ERRORS_MAX {
            self.errors.push(EpcisError {
                event: self.event,
                pointer: pointer.to_string(),
                reason: reason.into(),
            });
        }
    }

    fn string<'v>(&mut self, at: &str, value: &'v Value) -> Option<&'v str> {
        let text = value.as_str();
        if text.is_none() {
            self.fail(at, format!("expected a string, found {}", kind_of(value)));
        }
        text
    }

    fn uri(&mut self, at: &str, value: &Value) -> Option<Value> {
        let text = self.string(at, value)?;
        if !is_uri(text) {
            self.fail(at, format!("{text:?} is not a URI"));
            return None;
        }
        // A URI that claims to be a GS1 key must be a valid one.
        if let Err(error) = Gs1Key::read(text) {
            self.fail(at, error.to_string());
            return None;
        }
        Some(value.clone())
    }

    fn time(&mut self, at: &str, value: &Value) -> Option<Value> {
        let text = self.string(at, value)?;
        if Timestamp::parse(text).is_none() {
            self.fail(
                at,
                format!(
                    "{text:?} is not a real date and time YYYY-MM-DDTHH:MM:SS[.fraction] with Z \
                     or ±HH:MM"
                ),
            );
            return None;
        }
        Some(value.clone())
    }

    fn vocab(&mut self, at: &str, value: &Value, vocabulary: Vocabulary) -> Option<Value> {
        let text = self.string(at, value)?;
        match vocabulary.read(&self.context.expanded_value(text)) {
            Ok(Term::Standard(term)) => Some(Value::String(term.to_string())),
            // A private term keeps its spelling (a CURIE stays a CURIE).
            Ok(Term::Other(_)) => Some(value.clone()),
            Err(reason) => {
                self.fail(at, reason);
                None
            }
        }
    }

    fn array<'v>(&mut self, at: &str, value: &'v Value, min: usize) -> Option<&'v Vec<Value>> {
        match value {
            Value::Array(items) if items.len() >= min => Some(items),
            Value::Array(_) => {
                self.fail(at, format!("needs at least {min} entries"));
                None
            }
            other => {
                self.fail(at, format!("expected an array, found {}", kind_of(other)));
                None
            }
        }
    }

    fn object<'v>(&mut self, at: &str, value: &'v Value) -> Option<&'v Map<String, Value>> {
        let object = value.as_object();
        if object.is_none() {
            self.fail(at, format!("expected an object, found {}", kind_of(value)));
        }
        object
    }

    /// Each entry through `check`, refusing repeats where the standard says a set.
    fn list(
        &mut self,
        at: &str,
        value: &Value,
        min: usize,
        unique: bool,
        mut check: impl FnMut(&mut Self, &str, &Value) -> Option<Value>,
    ) -> Option<Value> {
        let items = self.array(at, value, min)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (index, item) in items.iter().enumerate() {
            let item_at = format!("{at}/{index}");
            if unique && items[..index].contains(item) {
                self.fail(&item_at, "appears twice in a list that is a set");
                ok = false;
            }
            match check(self, &item_at, item) {
                Some(item) => out.push(item),
                None => ok = false,
            }
        }
        ok.then_some(Value::Array(out))
    }

    /// An object whose standard members `check` knows, plus extension members.
    fn members(
        &mut self,
        at: &str,
        value: &Value,
        required: &[&str],
        extensible: bool,
        mut check: impl FnMut(&mut Self, &str, &str, &Value) -> Option<Option<Value>>,
    ) -> Option<Value> {
        let object = self.object(at, value)?;
        let mut out = Map::new();
        let mut ok = true;
        for name in required {
            if !object.contains_key(*name) {
                self.fail(at, format!("{name} is required"));
                ok = false;
            }
        }
        for (name, member) in object {
            let member_at = pointer_push(at, name);
            match check(self, &member_at, name, member) {
                Some(Some(normal)) => {
                    out.insert(name.clone(), normal);
                }
                Some(None) => ok = false,
                None if extensible && self.context.is_extension_name(name) => {
                    out.insert(name.clone(), member.clone());
                }
                None => {
                    let hint = if extensible {
                        " (an extension needs a namespace prefix defined in @context)"
                    } else {
                        ""
                    };
                    self.fail(&member_at, format!("{name:?} is not a field here{hint}"));
                    ok = false;
                }
            }
        }
        ok.then_some(Value::Object(out))
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Bounds on everything from outside: depth, string and list sizes.
pub(super) fn check_bounds(check: &mut Check<'_>, at: &str, value: &Value, depth: usize) -> bool {
    if depth > EPCIS_DEPTH_MAX {
        check.fail(at, format!("nested deeper than {EPCIS_DEPTH_MAX} levels"));
        return false;
    }
    match value {
        Value::String(text) if text.len() > EPCIS_STRING_BYTES_MAX => {
            check.fail(at, format!("longer than {EPCIS_STRING_BYTES_MAX} bytes"));
            false
        }
        Value::Array(items) if items.len() > EPCIS_LIST_ITEMS_MAX => {
            check.fail(at, format!("more than {EPCIS_LIST_ITEMS_MAX} entries"));
            false
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .all(|(index, item)| check_bounds(check, &format!("{at}/{index}"), item, depth + 1)),
        Value::Object(members) => members.iter().all(|(name, member)| {
            name.len() <= EPCIS_STRING_BYTES_MAX
                && check_bounds(check, &pointer_push(at, name), member, depth + 1)
        }),
        _ => true,
    }
}

mod fields;
use fields::check_field;

/// An EPCIS event as the ledger keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct EpcisEvent {
    event_type: EpcisEventType,
    /// The event as captured, vocabulary in bare spelling, with the `@context` definitions its
    /// names use.
    content: Map<String, Value>,
    context: Context,
}

impl EpcisEvent {
    /// Reads one event object (`at` is its pointer in the document), in the document's
    /// context. Every problem is reported, not only the first.
    pub(super) fn read(
        value: &Value,
        at: &str,
        event: Option<usize>,
        document: &Context,
    ) -> Result<EpcisEvent, Vec<EpcisError>> {
        let mut errors = Vec::new();
        let mut context = document.clone();
        if let Some(own) = value.get("@context")
            && let Err(reason) = context.extend(own)
        {
            errors.push(EpcisError::at(event, &pointer_push(at, "@context"), reason));
        }
        let mut check = Check {
            event,
            errors: &mut errors,
            context: &context,
        };
        let event_type = read_type(&mut check, at, value);
        let content = match (check_bounds(&mut check, at, value, 0), event_type) {
            (true, Some(event_type)) => read_fields(&mut check, at, value, event_type),
            _ => None,
        };
        match (content, event_type) {
            (Some(mut content), Some(event_type)) if errors.is_empty() => {
                let used = names_used(&Value::Object(content.clone()));
                let own = context.restricted_to(&used);
                content.remove("@context");
                if !own.terms.is_empty() {
                    let terms = own.terms.clone().into_iter().collect();
                    content.insert("@context".into(), Value::Object(terms));
                }
                Ok(EpcisEvent {
                    event_type,
                    content,
                    context: own,
                })
            }
            _ => Err(errors),
        }
    }

    pub fn event_type(&self) -> EpcisEventType {
        self.event_type
    }

    /// The event object, as exported.
    pub fn content(&self) -> &Map<String, Value> {
        &self.content
    }

    /// The namespace definitions the event carries.
    pub fn context(&self) -> &Context {
        &self.context
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.content.get(field)
    }

    pub fn text(&self, field: &str) -> Option<&str> {
        self.content.get(field).and_then(Value::as_str)
    }

    /// When it happened (checked on read, so present and valid).
    pub fn event_time(&self) -> Option<Timestamp> {
        self.text("eventTime").and_then(Timestamp::parse)
    }

    pub fn record_time(&self) -> Option<Timestamp> {
        self.text("recordTime").and_then(Timestamp::parse)
    }

    /// `eventTimeZoneOffset` in minutes east of UTC.
    pub fn zone_offset_minutes(&self) -> Option<i16> {
        self.text("eventTimeZoneOffset").and_then(parse_offset)
    }

    pub fn action(&self) -> Option<&str> {
        self.text("action")
    }

    /// A vocabulary field read back as a term (`bizStep`, `disposition`).
    pub fn term(&self, field: &str, vocabulary: Vocabulary) -> Option<Term> {
        self.text(field)
            .and_then(|text| vocabulary.read(&self.context.expanded_value(text)).ok())
    }

    pub fn biz_step(&self) -> Option<Term> {
        self.term("bizStep", Vocabulary::BizStep)
    }

    pub fn disposition(&self) -> Option<Term> {
        self.term("disposition", Vocabulary::Disposition)
    }

    /// `readPoint.id` / `bizLocation.id`.
    pub fn place(&self, field: &str) -> Option<&str> {
        self.content.get(field)?.get("id")?.as_str()
    }

    /// Every instance or class identifier the event names, with the field naming it:
    /// `epcList`, `parentID`, `childEPCs`, `inputEPCList`, `outputEPCList` and the quantity
    /// lists' `epcClass`.
    pub fn identifiers(&self) -> Vec<(&'static str, &str)> {
        let mut found = Vec::new();
        for field in [
            "parentID",
            "epcList",
            "childEPCs",
            "inputEPCList",
            "outputEPCList",
        ] {
            match self.content.get(field) {
                Some(Value::String(one)) => found.push((field, one.as_str())),
                Some(Value::Array(many)) => found.extend(
                    many.iter()
                        .filter_map(Value::as_str)
                        .map(|epc| (field, epc)),
                ),
                _ => {}
            }
        }
        for field in [
            "quantityList",
            "childQuantityList",
            "inputQuantityList",
            "outputQuantityList",
        ] {
            if let Some(Value::Array(elements)) = self.content.get(field) {
                found.extend(
                    elements
                        .iter()
                        .filter_map(|element| element.get("epcClass")?.as_str())
                        .map(|class| (field, class)),
                );
            }
        }
        found
    }
}

fn read_type(check: &mut Check<'_>, at: &str, value: &Value) -> Option<EpcisEventType> {
    let type_at = pointer_push(at, "type");
    match value.get("type").map(|found| (found, found.as_str())) {
        None => {
            check.fail(at, "type is required");
            None
        }
        Some((_, Some(name))) => {
            let found = EpcisEventType::from_name(name);
            if found.is_none() {
                check.fail(
                    &type_at,
                    format!(
                        "{name:?} is not an EPCIS 2.0 event type (ObjectEvent, AggregationEvent, \
                         TransactionEvent, TransformationEvent, AssociationEvent)"
                    ),
                );
            }
            found
        }
        Some((other, None)) => {
            check.fail(
                &type_at,
                format!("expected a string, found {}", kind_of(other)),
            );
            None
        }
    }
}

fn read_fields(
    check: &mut Check<'_>,
    at: &str,
    value: &Value,
    event_type: EpcisEventType,
) -> Option<Map<String, Value>> {
    let required: &[&str] = match event_type {
        EpcisEventType::Object | EpcisEventType::Aggregation => {
            &["eventTime", "eventTimeZoneOffset", "action"]
        }
        EpcisEventType::Transaction => &[
            "eventTime",
            "eventTimeZoneOffset",
            "action",
            "bizTransactionList",
        ],
        EpcisEventType::Association => &["eventTime", "eventTimeZoneOffset", "action", "parentID"],
        EpcisEventType::Transformation => &["eventTime", "eventTimeZoneOffset"],
    };
    let content = check.members(
        at,
        value,
        required,
        true,
        |check, member_at, name, member| {
            field(event_type, name).map(|kind| check_field(check, member_at, kind, member))
        },
    )?;
    let Value::Object(content) = content else {
        return None;
    };
    fields::check_whole(check, at, event_type, &content).then_some(content)
}

/// Every prefix or term a name or value in the event uses.
fn names_used(value: &Value) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut note = |text: &str| {
        used.insert(text.to_string());
        if let Some((prefix, _)) = text.split_once(':') {
            used.insert(prefix.to_string());
        }
    };
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(text) => note(text),
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => {
                for (name, member) in members {
                    note(name);
                    stack.push(member);
                }
            }
            _ => {}
        }
    }
    used
}
