//! EPCIS 2.0 (`waybill_protocol::epcis`) against GS1's own material: every official JSON example
//! of the gs1/EPCIS repository is read, exported again, validated against GS1's JSON schema and
//! compared with the original field by field; both spellings of every GS1 key; times with
//! offsets and below the millisecond; the CBV event hash against the standard's published
//! example; and documents that break the standard, refused with the event and the field.
//!
//! The examples and the schema are third-party files read in place from `../shared/testdata/epcis`
//! (see its SOURCES.md); the project does not copy them.

use std::path::PathBuf;

use serde_json::{Value, json};
use waybill_protocol::epcis::gs1::{Gs1Key, KeyKind};
use waybill_protocol::epcis::{
    Context, EPCIS_CONTEXT, EpcisEvent, EpcisEventType, EventHash, document, read_document,
    semantic_form,
};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/epcis")
}

fn read_json(path: &PathBuf) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn schema() -> jsonschema::Validator {
    let schema = read_json(&testdata().join("schema/EPCIS-JSON-Schema.json"));
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("GS1's schema compiles")
}

fn examples() -> Vec<(String, Value)> {
    let mut found: Vec<(String, Value)> = std::fs::read_dir(testdata().join("examples"))
        .expect("the examples directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonld"))
        .map(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), read_json(&path))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The events of a document as written, and the document's context.
fn written_events(document: &Value) -> (Vec<Value>, Context) {
    let mut context = Context::default();
    if let Some(value) = document.get("@context") {
        context.extend(value).expect("a readable context");
    }
    let list = document
        .pointer("/epcisBody/eventList")
        .or_else(|| document.pointer("/epcisBody/queryResults/resultsBody/eventList"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| vec![document.clone()]);
    (list, context)
}

fn errors_of(
    result: Result<Vec<EpcisEvent>, Vec<waybill_protocol::epcis::EpcisError>>,
) -> Vec<String> {
    match result {
        Ok(events) => panic!("accepted {} events that should be refused", events.len()),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_official_example_is_read_exported_schema_valid_and_means_the_same() {
    let schema = schema();
    let examples = examples();
    assert!(examples.len() >= 41, "{} examples found", examples.len());
    let mut types_seen = std::collections::BTreeSet::new();
    for (name, original) in &examples {
        assert!(
            schema.is_valid(original),
            "{name}: GS1's example is itself valid"
        );
        let events = read_document(original).unwrap_or_else(|errors| {
            panic!(
                "{name}: refused: {:#?}",
                errors.iter().map(ToString::to_string).collect::<Vec<_>>()
            )
        });
        let (written, context) = written_events(original);
        assert_eq!(events.len(), written.len(), "{name}: every event is read");
        types_seen.extend(events.iter().map(EpcisEvent::event_type));

        let exported = document(&events, "2026-12-07T12:00:00.000Z");
        if let Err(error) = schema.validate(&exported) {
            panic!(
                "{name}: the export fails GS1's schema: {error} at {}",
                error.instance_path()
            );
        }
        let (exported_events, exported_context) = written_events(&exported);
        for (index, (before, after)) in written.iter().zip(&exported_events).enumerate() {
            assert_eq!(
                semantic_form(before, &context),
                semantic_form(after, &exported_context),
                "{name}: event {index} means the same after export"
            );
        }
        let again = read_document(&exported).expect("an export reads back");
        for (first, second) in events.iter().zip(&again) {
            assert_eq!(
                first.canonical_bytes(),
                second.canonical_bytes(),
                "{name}: stable"
            );
            assert_eq!(first.hash(), second.hash(), "{name}: one hash");
        }
    }
    assert_eq!(
        types_seen.len(),
        EpcisEventType::ALL.len(),
        "all five event types are covered"
    );
    // The validator does refuse what breaks the schema (so the checks above mean something).
    let (_, first) = &examples[0];
    let mut broken = document(
        &read_document(first).expect("reads"),
        "2026-12-07T12:00:00Z",
    );
    broken["epcisBody"]["eventList"][0]["action"] = json!("MOVE");
    assert!(!schema.is_valid(&broken));
    let mut broken = document(
        &read_document(first).expect("reads"),
        "2026-12-07T12:00:00Z",
    );
    broken.as_object_mut().map(|o| o.remove("@context"));
    assert!(!schema.is_valid(&broken));
}

#[test]
fn every_event_is_its_canonical_bytes_and_nothing_else() {
    for (name, original) in examples() {
        for event in read_document(&original).expect("reads") {
            let bytes = event.canonical_bytes();
            let back = EpcisEvent::from_canonical(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(back, event, "{name}");
            let pretty = serde_json::to_vec_pretty(event.content()).expect("json");
            if pretty != bytes {
                assert!(
                    EpcisEvent::from_canonical(&pretty).is_err(),
                    "{name}: whitespace refused"
                );
            }
        }
    }
}

/// The Tag Data Standard's own examples, in both spellings.
const KEYS: [(KeyKind, &str, &str); 14] = [
    (
        KeyKind::Sgtin,
        "urn:epc:id:sgtin:0614141.812345.6789",
        "https://id.gs1.org/01/80614141123458/21/6789",
    ),
    (
        KeyKind::Sscc,
        "urn:epc:id:sscc:0614141.1234567890",
        "https://id.gs1.org/00/106141412345678908",
    ),
    (
        KeyKind::Sgln,
        "urn:epc:id:sgln:0614141.12345.400",
        "https://id.gs1.org/414/0614141123452/254/400",
    ),
    (
        KeyKind::Sgln,
        "urn:epc:id:sgln:0614141.12345.0",
        "https://id.gs1.org/414/0614141123452",
    ),
    (
        KeyKind::Pgln,
        "urn:epc:id:pgln:0614141.12345",
        "https://id.gs1.org/417/0614141123452",
    ),
    (
        KeyKind::Grai,
        "urn:epc:id:grai:0614141.12345.400",
        "https://id.gs1.org/8003/00614141123452400",
    ),
    (
        KeyKind::Giai,
        "urn:epc:id:giai:0614141.12345400",
        "https://id.gs1.org/8004/061414112345400",
    ),
    (
        KeyKind::Gsrn,
        "urn:epc:id:gsrn:0614141.1234567890",
        "https://id.gs1.org/8018/061414112345678902",
    ),
    (
        KeyKind::Gsrnp,
        "urn:epc:id:gsrnp:0614141.1234567890",
        "https://id.gs1.org/8017/061414112345678902",
    ),
    (
        KeyKind::Gdti,
        "urn:epc:id:gdti:0614141.12345.400",
        "https://id.gs1.org/253/0614141123452400",
    ),
    (
        KeyKind::Sgcn,
        "urn:epc:id:sgcn:4012345.67890.04711",
        "https://id.gs1.org/255/401234567890104711",
    ),
    (
        KeyKind::Gsin,
        "urn:epc:id:gsin:0614141.123456789",
        "https://id.gs1.org/402/06141411234567890",
    ),
    (
        KeyKind::Lgtin,
        "urn:epc:class:lgtin:4012345.012345.998877",
        "https://id.gs1.org/01/04012345123456/10/998877",
    ),
    (
        KeyKind::ProductClass,
        "urn:epc:idpat:sgtin:4012345.012345.*",
        "https://id.gs1.org/01/04012345123456",
    ),
];

#[test]
fn every_key_type_reads_the_same_in_both_spellings() {
    for (kind, urn, link) in KEYS {
        let from_urn = Gs1Key::read(urn).expect(urn).expect(urn);
        let from_link = Gs1Key::read(link).expect(link).expect(link);
        assert_eq!(from_urn.kind, kind, "{urn}");
        assert_eq!(from_urn, from_link, "{urn} and {link} name one thing");
        assert_eq!(from_urn.digital_link(), link, "{urn}");
    }
    // Another domain, a path before the key, a query string and a GTIN-13: the same key.
    let custom =
        Gs1Key::read("https://example.com/products/01/0614141123452/21/A%2F1?linkType=all")
            .expect("valid")
            .expect("a key");
    assert_eq!(
        custom.digital_link(),
        "https://id.gs1.org/01/00614141123452/21/A%2F1"
    );
    assert_eq!(custom.value("21"), Some("A/1"));
    // A component or part, and a serialised item with a lot: the hash keeps the finest level.
    let cpi = Gs1Key::read("urn:epc:id:cpi:0614141.123ABC.123456789")
        .expect("valid")
        .expect("key");
    assert_eq!(
        cpi.digital_link(),
        "https://id.gs1.org/8010/0614141123ABC/8011/123456789"
    );
    let lot_and_serial = Gs1Key::read("https://id.gs1.org/01/09506000134352/10/L1/21/S1")
        .expect("valid")
        .expect("key");
    assert_eq!(lot_and_serial.kind, KeyKind::Sgtin);
    assert_eq!(
        lot_and_serial.constrained_digital_link(),
        "https://id.gs1.org/01/09506000134352/21/S1"
    );
    // Not a GS1 key at all: some other URI.
    assert_eq!(Gs1Key::read("https://example.com/about"), Ok(None));
    assert_eq!(
        Gs1Key::read("urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8"),
        Ok(None)
    );
}

#[test]
fn a_key_that_is_not_one_is_refused_with_the_reason() {
    for (bad, why) in [
        ("urn:epc:id:sgtin:0614141.112345", "parts"),
        ("urn:epc:id:sgtin:0614141.11234.400", "12 expected"),
        ("urn:epc:id:sgtin:06141X1.112345.400", "6 to 12 digits"),
        ("urn:epc:id:sgtin:0614141.112345.a b", "set 82"),
        ("urn:epc:id:sscc:0614141.123456789", "16 expected"),
        ("urn:epc:id:sscc:0614141.X234567890", "not a digit"),
        ("urn:epc:id:sgtin:0614141.X12345.1", "not a digit"),
        ("urn:epc:id:unknown:0614141.1", "not an EPC URI"),
        ("https://id.gs1.org/01/80614141123459/21/400", "check digit"),
        ("https://id.gs1.org/00/106141412345678909", "check digit"),
        (
            "https://id.gs1.org/01/80614141123458/99/1",
            "not a qualifier",
        ),
        ("https://id.gs1.org/01/80614141123458/21/%ZZ", "bad escape"),
    ] {
        let error = Gs1Key::read(bad).expect_err(bad).to_string();
        assert!(error.contains(why), "{bad}: {error}");
    }
}

fn one_event(event: Value) -> Value {
    json!({
        "@context": [EPCIS_CONTEXT, {"example": "https://ns.example.com/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-07T10:00:00Z",
        "epcisBody": {"eventList": [event]},
    })
}

fn read_one(event: Value) -> EpcisEvent {
    let mut events = read_document(&one_event(event)).unwrap_or_else(|errors| {
        panic!(
            "{:?}",
            errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    });
    events.remove(0)
}

/// The example the CBV 2.0 standard gives for the event hash (§8.9, example 1): three SSCCs
/// departing, with user extensions nested and repeated. Its published hash is below.
fn standard_example() -> Value {
    json!({
        "type": "ObjectEvent",
        "eventTime": "2020-03-04T11:00:30.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "recordTime": "2020-03-04T11:00:30.999+01:00",
        "epcList": [
            "urn:epc:id:sscc:4012345.0000000333",
            "urn:epc:id:sscc:4012345.0000000111",
            "urn:epc:id:sscc:4012345.0000000222"
        ],
        "action": "OBSERVE",
        "bizStep": "departing",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.987"},
        "example:myField1": {"example:mySubField1": "2", "example:mySubField2": "5"},
        "example:myField2": "0",
        "example:myField3": {"example:mySubField3": ["3", "1"]}
    })
}

const STANDARD_EXAMPLE_HASH: &str =
    "ni:///sha-256;6ae96341e0acc6d7a261364751f60e68278a81cdf51da0abb6b4e617014e39d7?ver=CBV2.0";

#[test]
fn the_event_hash_is_the_standards_and_ignores_spelling() {
    let event = read_one(standard_example());
    assert_eq!(
        waybill_protocol::epcis::pre_hash(&event),
        "eventType=ObjectEventeventTime=2020-03-04T10:00:30.000ZeventTimeZoneOffset=+01:00\
         epcListepc=https://id.gs1.org/00/040123450000001112epc=https://id.gs1.org/00/040123450000002225\
         epc=https://id.gs1.org/00/040123450000003338action=OBSERVE\
         bizStep=https://ref.gs1.org/cbv/BizStep-departing\
         readPointid=https://id.gs1.org/414/4012345000115/254/987\
         {https://ns.example.com/epcis/}myField1{https://ns.example.com/epcis/}mySubField1=2\
         {https://ns.example.com/epcis/}mySubField2=5{https://ns.example.com/epcis/}myField2=0\
         {https://ns.example.com/epcis/}myField3{https://ns.example.com/epcis/}mySubField3=1\
         {https://ns.example.com/epcis/}mySubField3=3"
    );
    assert_eq!(event.hash().ni(), STANDARD_EXAMPLE_HASH);
    assert_eq!(EventHash::parse(STANDARD_EXAMPLE_HASH), Some(event.hash()));

    // The same event respelled: Digital Link EPCs in another order, the URN bizStep, the time
    // in UTC, members reordered, an eventID and another recordTime (neither is hashed).
    let respelled = read_one(json!({
        "example:myField3": {"example:mySubField3": ["1", "3"]},
        "readPoint": {"id": "https://id.gs1.org/414/4012345000115/254/987"},
        "bizStep": "urn:epcglobal:cbv:bizstep:departing",
        "epcList": [
            "https://id.gs1.org/00/040123450000003338",
            "https://id.gs1.org/00/040123450000001112",
            "https://example.org/00/040123450000002225"
        ],
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2020-03-04T10:00:30Z",
        "eventTimeZoneOffset": "+01:00",
        "eventID": "urn:uuid:6ea1ec6c-34de-4e1a-9d1b-2e5f8bf8a1a5",
        "recordTime": "2021-01-01T00:00:00Z",
        "example:myField2": "0",
        "example:myField1": {"example:mySubField2": "5", "example:mySubField1": "2"}
    }));
    assert_eq!(respelled.hash(), event.hash());

    // Any change of meaning changes it.
    let mut moved = standard_example();
    moved["eventTime"] = json!("2020-03-04T11:00:30.001+01:00");
    assert_ne!(read_one(moved).hash(), event.hash());
}

/// The CBV event hash's two further published examples: sensor reports (sorted among
/// themselves, GS1 measurement types), and business transactions, sources and destinations with
/// their types first and an extension inside `readPoint`.
#[test]
fn the_event_hash_matches_the_further_published_examples() {
    let sensors = read_one(json!({
        "type": "ObjectEvent",
        "eventTime": "2020-04-01T15:00:00+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:4012345.011111.9876"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00005.0"},
        "sensorElementList": [{
            "sensorMetadata": {
                "deviceID": "urn:epc:id:giai:4000001.111",
                "deviceMetadata": "https://id.gs1.org/8004/4000001111"
            },
            "sensorReport": [
                {"type": "Temperature", "value": 26, "sDev": 0.1, "uom": "CEL"},
                {"type": "AbsoluteHumidity", "value": 12.1, "uom": "A93"},
                {"type": "Dimensionless", "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
                 "value": 0.05, "uom": "C35"},
                {"type": "Dimensionless",
                 "chemicalSubstance": "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
                 "value": 0.18, "uom": "C35"}
            ]
        }]
    }));
    assert_eq!(
        sensors.hash().ni(),
        "ni:///sha-256;49b13037c36e84ad9307c531671b00e901318c3957e4b1151f816ec49eb668da?ver=CBV2.0"
    );
    let parties = read_one(json!({
        "type": "ObjectEvent",
        "eventTime": "2020-03-04T11:00:30+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:0614141.011111.987"],
        "action": "OBSERVE",
        "bizStep": "departing",
        "disposition": "in_transit",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.0", "example:myField1": "AB-12"},
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:4012345.11111.123"}],
        "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00000"}],
        "destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00000"}],
        "example:userExt": "CD-34"
    }));
    assert_eq!(
        parties.hash().ni(),
        "ni:///sha-256;a13cbe6c8bb6df3710b3edaeff760a1365ec8fd69ca1f4d7e0c10eb5189a883a?ver=CBV2.0"
    );
}

#[test]
fn times_keep_their_offset_and_every_fraction_digit() {
    let mut event = standard_example();
    event["eventTime"] = json!("2020-03-04T16:45:30.1234567+05:45");
    event["eventTimeZoneOffset"] = json!("+05:45");
    let read = read_one(event.clone());
    let time = read.event_time().expect("a time");
    assert_eq!(time.nanos, 123_456_700);
    assert_eq!(time.offset_minutes, 345);
    assert_eq!(read.zone_offset_minutes(), Some(345));
    // Exported as written, so nothing below the millisecond is lost.
    assert_eq!(
        read.text("eventTime"),
        Some("2020-03-04T16:45:30.1234567+05:45")
    );
    let context = Context::default();
    assert_eq!(
        semantic_form(&event, &context)["eventTime"],
        json!("2020-03-04T11:00:30.1234567Z")
    );
    // The hash rounds to the millisecond (by the fourth digit).
    assert!(
        waybill_protocol::epcis::pre_hash(&read).contains("eventTime=2020-03-04T11:00:30.123Z")
    );
}

/// A change that breaks a well-formed event.
type Change = Box<dyn Fn(&mut Value)>;

fn refusal(event: Value) -> Vec<String> {
    errors_of(read_document(&one_event(event)))
}

#[test]
fn documents_that_break_the_standard_are_refused_with_the_event_and_the_field() {
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|e| e["action"] = json!("MOVE")),
            "event 0 at /epcisBody/eventList/0/action: \"MOVE\" is not ADD, OBSERVE or DELETE",
        ),
        (
            Box::new(|e| e["eventTime"] = json!("2021-02-30T10:00:00Z")),
            "/epcisBody/eventList/0/eventTime: \"2021-02-30T10:00:00Z\" is not a real date",
        ),
        (
            Box::new(|e| e["eventTime"] = json!("2021-02-28T24:00:00Z")),
            "/eventTime",
        ),
        (
            Box::new(|e| e["eventTimeZoneOffset"] = json!("+15:00")),
            "/eventTimeZoneOffset",
        ),
        (
            Box::new(|e| e["epcList"][1] = json!("urn:epc:id:sscc:4012345.000000011")),
            "/epcisBody/eventList/0/epcList/1: \"urn:epc:id:sscc:4012345.000000011\"",
        ),
        (
            Box::new(|e| e["epcList"][0] = json!("not a uri")),
            "/epcList/0: \"not a uri\" is not a URI",
        ),
        (
            Box::new(|e| e["epcList"][2] = e["epcList"][0].clone()),
            "/epcList/2: appears twice",
        ),
        (
            Box::new(|e| e["readPoint"]["id"] = json!("https://id.gs1.org/414/4012345000116")),
            "/readPoint/id",
        ),
        (
            Box::new(|e| e["bizStep"] = json!("shiping")),
            "/bizStep: \"shiping\" is neither a CBV business step nor a URI",
        ),
        (
            Box::new(|e| e["bizStep"] = json!("urn:epcglobal:cbv:bizstep:shiping")),
            "in the CBV business step namespace but is not one of its terms",
        ),
        (
            Box::new(|e| e["bizstep"] = json!("shipping")),
            "/bizstep: \"bizstep\" is not a field here",
        ),
        (
            Box::new(|e| e["undeclared:field"] = json!("x")),
            "/undeclared:field",
        ),
        (
            Box::new(|e| e["type"] = json!("MovementEvent")),
            "/type: \"MovementEvent\" is not an EPCIS 2.0 event type",
        ),
        (
            Box::new(|e| {
                e.as_object_mut().map(|o| o.remove("action"));
            }),
            "/epcisBody/eventList/0: action is required",
        ),
        (
            Box::new(|e| e["epcList"] = json!(["urn:epc:class:lgtin:4012345.012345.998877"])),
            "names a class, not an instance",
        ),
        (
            Box::new(|e| e["ilmd"] = json!({"example:lot": "1"})),
            "ilmd is allowed only with action ADD",
        ),
    ];
    for (change, expected) in cases {
        let mut event = standard_example();
        change(&mut event);
        let errors = refusal(event.clone());
        assert!(
            errors.iter().any(|error| error.contains(expected)),
            "{expected:?} not among {errors:#?}"
        );
    }
    // Document-level problems name the document's fields.
    let mut no_context = one_event(standard_example());
    no_context.as_object_mut().map(|o| o.remove("@context"));
    assert_eq!(
        errors_of(read_document(&no_context))[0],
        ": @context is required"
    );
    let mut old = one_event(standard_example());
    old["schemaVersion"] = json!("1.2");
    assert!(
        errors_of(read_document(&old)).contains(&"/schemaVersion: must be \"2.0\"".to_string())
    );
    // Every bad event is reported, not only the first.
    let mut two = one_event(standard_example());
    let mut second = standard_example();
    second["action"] = json!("MOVE");
    two["epcisBody"]["eventList"] = json!([second.clone(), standard_example(), second]);
    let errors = errors_of(read_document(&two));
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[1].starts_with("event 2 at /epcisBody/eventList/2/action"));
}

#[test]
fn an_event_carries_the_namespaces_its_extensions_use_and_no_others() {
    let event = read_one(standard_example());
    let context = event.content().get("@context").expect("its own context");
    assert_eq!(
        context,
        &json!({"example": "https://ns.example.com/epcis/"})
    );
    let mut plain = standard_example();
    for field in ["example:myField1", "example:myField2", "example:myField3"] {
        plain.as_object_mut().map(|o| o.remove(field));
    }
    assert!(read_one(plain).content().get("@context").is_none());
}

mod random {
    //! Random well-formed events, each written in two spellings (EPC URI or Digital Link keys,
    //! bare or URN vocabulary, the time in its zone or in UTC, members in another order).

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};
    use waybill_protocol::epcis::cbv::{BIZ_STEPS, DISPOSITIONS};
    use waybill_protocol::epcis::gs1::check_digit;

    /// One serialised item or logistic unit, as (EPC URI, Digital Link URI).
    fn key() -> impl Strategy<Value = (String, String)> {
        let sgtin =
            ("[0-9]{7}", "[0-9]{6}", "[A-Za-z0-9]{1,10}").prop_map(|(prefix, item, serial)| {
                let body = format!("{}{prefix}{}", &item[..1], &item[1..]);
                (
                    format!("urn:epc:id:sgtin:{prefix}.{item}.{serial}"),
                    format!(
                        "https://id.gs1.org/01/{body}{}/21/{serial}",
                        check_digit(&body)
                    ),
                )
            });
        let sscc = ("[0-9]{9}", "[0-9]{8}").prop_map(|(prefix, reference)| {
            let body = format!("{}{prefix}{}", &reference[..1], &reference[1..]);
            (
                format!("urn:epc:id:sscc:{prefix}.{reference}"),
                format!("https://id.gs1.org/00/{body}{}", check_digit(&body)),
            )
        });
        prop_oneof![sgtin, sscc]
    }

    /// A time as (written in its zone, the same instant in UTC, the zone offset).
    fn time() -> impl Strategy<Value = (String, String, String)> {
        (
            0i64..4_000_000_000,
            0u32..1_000_000_000,
            1usize..=9,
            -14i64 * 4..=14 * 4,
        )
            .prop_map(|(seconds, nanos, digits, quarters)| {
                let fraction = format!("{nanos:09}")[..digits].to_string();
                let offset = quarters * 15;
                let stamp = |seconds: i64, zone: &str| {
                    let (days, clock) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
                    let (year, month, day) = waybill_protocol::calendar::civil_from_days(days);
                    format!(
                        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction}{zone}",
                        clock / 3600,
                        clock % 3600 / 60,
                        clock % 60
                    )
                };
                let sign = if offset < 0 { '-' } else { '+' };
                let zone = format!("{sign}{:02}:{:02}", offset.abs() / 60, offset.abs() % 60);
                (
                    stamp(seconds + offset * 60, &zone),
                    stamp(seconds, "Z"),
                    zone,
                )
            })
    }

    fn extension() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            "[a-zA-Z0-9 ]{0,12}".prop_map(Value::from),
            (0u32..100_000).prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Value::from),
                prop::collection::btree_map("ex:[a-z]{1,6}", inner, 1..4)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// The same event twice, in two spellings.
    pub fn event() -> impl Strategy<Value = (Value, Value)> {
        (
            prop::collection::vec(key(), 1..5),
            time(),
            0..BIZ_STEPS.len(),
            0..DISPOSITIONS.len(),
            prop_oneof![Just("ADD"), Just("OBSERVE"), Just("DELETE")],
            prop::collection::btree_map("ex:[a-z]{1,8}", extension(), 0..3),
        )
            .prop_map(
                |(keys, (local, utc, zone), step, disposition, action, extensions)| {
                    let mut keys = keys;
                    keys.sort();
                    keys.dedup_by(|a, b| a.1 == b.1);
                    let step = BIZ_STEPS[step];
                    let disposition = DISPOSITIONS[disposition];
                    let mut first = Map::new();
                    first.insert("type".into(), json!("ObjectEvent"));
                    first.insert("eventTime".into(), json!(local));
                    first.insert("eventTimeZoneOffset".into(), json!(zone));
                    first.insert(
                        "epcList".into(),
                        json!(keys.iter().map(|k| &k.0).collect::<Vec<_>>()),
                    );
                    first.insert("action".into(), json!(action));
                    first.insert("bizStep".into(), json!(step));
                    first.insert("disposition".into(), json!(disposition));
                    for (name, value) in &extensions {
                        first.insert(name.clone(), value.clone());
                    }
                    let mut second: Vec<(String, Value)> = vec![
                        (
                            "disposition".into(),
                            json!(format!("urn:epcglobal:cbv:disp:{disposition}")),
                        ),
                        (
                            "bizStep".into(),
                            json!(format!("urn:epcglobal:cbv:bizstep:{step}")),
                        ),
                        (
                            "epcList".into(),
                            json!(keys.iter().rev().map(|k| &k.1).collect::<Vec<_>>()),
                        ),
                        ("eventTime".into(), json!(utc)),
                        ("eventTimeZoneOffset".into(), json!(zone)),
                        ("action".into(), json!(action)),
                        ("type".into(), json!("ObjectEvent")),
                    ];
                    second.extend(extensions);
                    (
                        Value::Object(first),
                        Value::Object(second.into_iter().collect()),
                    )
                },
            )
    }
}

fn one_event_in(event: Value) -> Value {
    json!({
        "@context": [EPCIS_CONTEXT, {"ex": "https://ns.example.com/ext/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-07T10:00:00Z",
        "epcisBody": {"eventList": [event]},
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    #[test]
    fn random_events_round_trip_and_two_spellings_hash_alike((first, second) in random::event()) {
        let schema = schema();
        let document_first = one_event_in(first.clone());
        let read = read_document(&document_first).map_err(|errors| {
            proptest::test_runner::TestCaseError::fail(format!("{errors:?}"))
        })?;
        let exported = document(&read, "2026-12-07T12:00:00Z");
        proptest::prop_assert!(schema.is_valid(&exported));
        let (written, context) = written_events(&document_first);
        let (out, out_context) = written_events(&exported);
        proptest::prop_assert_eq!(semantic_form(&written[0], &context), semantic_form(&out[0], &out_context));
        let again = read_document(&exported).expect("reads back");
        proptest::prop_assert_eq!(again[0].canonical_bytes(), read[0].canonical_bytes());
        let respelled = read_document(&one_event_in(second.clone())).expect("the other spelling reads");
        proptest::prop_assert_eq!(respelled[0].hash(), read[0].hash());
        proptest::prop_assert_eq!(
            semantic_form(&second, &context),
            semantic_form(&first, &context)
        );
    }
}

proptest::proptest! {
    /// Whatever a key or a time says, reading it answers (a key, another URI, or a reason) and
    /// never panics: these run on the node for every capture.
    #[test]
    fn no_key_or_time_panics_the_reader(
        prefix in proptest::sample::select(vec![
            "urn:epc:id:sgtin:", "urn:epc:id:sscc:", "urn:epc:id:sgln:", "urn:epc:id:grai:",
            "urn:epc:id:gdti:", "urn:epc:id:cpi:", "urn:epc:class:lgtin:", "urn:epc:idpat:sgtin:",
            "https://id.gs1.org/01/", "https://id.gs1.org/00/", "https://x.example/8003/", "",
        ]),
        rest in "[0-9A-Za-z.%*/:?#-]{0,40}",
    ) {
        let _ = Gs1Key::read(&format!("{prefix}{rest}"));
        let _ = waybill_protocol::calendar::Timestamp::parse(&rest);
        let mut event = standard_example();
        event["epcList"][0] = json!(format!("{prefix}{rest}"));
        event["eventTime"] = json!(rest.clone());
        let _ = read_document(&one_event(event));
    }
}
