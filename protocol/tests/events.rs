//! Stateless event validation: each rule accepts a good event and refuses a bad one with an
//! error naming the field.
#![allow(clippy::unwrap_used)]

use waybill_protocol::event::*;
use waybill_protocol::fixtures::{self, NOW_MS};
use waybill_protocol::ids::*;
use waybill_protocol::limits::*;
use waybill_protocol::particulars::DeclarationSummary;
use waybill_protocol::*;

fn valid(kind: EventKind) -> EventBody {
    let builder = fixtures::event("carrier-a", 1, "HAWB-1", kind);
    builder.epc(Epc::Sgtin(fixtures::sgtin("S1"))).build()
}

fn declare() -> EventBody {
    fixtures::event("platform", 1, "HAWB-1", fixtures::declare()).build()
}

/// Applies `change` to a valid event and returns the error message it gets.
fn refused(mut body: EventBody, change: impl FnOnce(&mut EventBody)) -> String {
    change(&mut body);
    body.validate(&fixtures::chain_id(), NOW_MS)
        .unwrap_err()
        .to_string()
}

fn declaration_of(body: &mut EventBody) -> &mut DeclarationSummary {
    match &mut body.kind {
        EventKind::Declare(declaration) => declaration,
        _ => unreachable!("the fixture is a declaration"),
    }
}

fn accreditation(valid_from_ms: u64, valid_until_ms: u64) -> EventKind {
    EventKind::Accredit(Box::new(Accreditation {
        operator: Reference::new("NL000000001").unwrap(),
        member: Some(fixtures::org("platform")),
        programme: Text::new("EU AEO").unwrap(),
        tier: Text::new("AEOF").unwrap(),
        valid_from_ms,
        valid_until_ms,
    }))
}

#[test]
fn an_accreditation_must_end_after_it_starts() {
    for (from, until) in [(NOW_MS, NOW_MS), (NOW_MS, NOW_MS - 1)] {
        let error = valid(accreditation(from, until))
            .validate(&fixtures::chain_id(), NOW_MS)
            .unwrap_err()
            .to_string();
        assert!(error.contains("kind.valid_until_ms"), "{error}");
    }
}

#[test]
fn well_formed_events_of_every_kind_pass() {
    let reason = || Text::new("damaged").unwrap();
    let kinds = [
        EventKind::Commission,
        EventKind::Decommission { reason: reason() },
        EventKind::Pack {
            parcel: Sscc::new("340123450000000017").unwrap(),
        },
        EventKind::Unpack {
            parcel: Sscc::new("340123450000000017").unwrap(),
        },
        EventKind::PickUp,
        EventKind::HandOver {
            to: fixtures::org("carrier-b"),
        },
        EventKind::Accept {
            from: fixtures::org("carrier-b"),
        },
        EventKind::Depart,
        EventKind::Arrive,
        EventKind::Deliver,
        EventKind::Return { reason: reason() },
        EventKind::RiskAssessed {
            status: RiskStatus::Approved,
        },
        EventKind::Inspect {
            result: InspectionResult::Compliant,
            note: reason(),
        },
        EventKind::Hold { reason: reason() },
        EventKind::Release,
        EventKind::Seize { reason: reason() },
        EventKind::Flag {
            serial: fixtures::sgtin("S1"),
            suspicion: reason(),
        },
        EventKind::Purge {
            particulars: Hash([1; 32]),
        },
        accreditation(NOW_MS - 1, NOW_MS),
        EventKind::RevokeAccreditation(Box::new(Revocation {
            operator: Reference::new("NL000000001").unwrap(),
            member: None,
            programme: Text::new("EU AEO").unwrap(),
            effective_ms: NOW_MS,
            reason: reason(),
        })),
        fixtures::epcis_observation(&[fixtures::sgtin("S1")]),
    ];
    let mut covered: Vec<EventType> = kinds.iter().map(EventKind::event_type).collect();
    for kind in kinds {
        valid(kind).validate(&fixtures::chain_id(), NOW_MS).unwrap();
    }
    declare().validate(&fixtures::chain_id(), NOW_MS).unwrap();
    covered.push(EventType::Declare);
    covered.sort();
    assert_eq!(
        covered,
        EventType::ALL.to_vec(),
        "every event type has a passing case"
    );
}

#[test]
fn each_malformed_event_is_refused_naming_the_field() {
    let cases: Vec<(&str, String)> = vec![
        (
            "chain_id",
            refused(valid(EventKind::PickUp), |b| {
                b.chain_id = ChainId::new("other-chain").unwrap()
            }),
        ),
        (
            "event_time_ms",
            refused(valid(EventKind::PickUp), |b| {
                b.event_time_ms = EVENT_TIME_MS_MIN - 1
            }),
        ),
        (
            "event_time_ms",
            refused(valid(EventKind::PickUp), |b| {
                b.event_time_ms = NOW_MS + EVENT_TIME_FUTURE_SKEW_MS_MAX + 1
            }),
        ),
        (
            "timezone_offset_minutes",
            refused(valid(EventKind::PickUp), |b| {
                b.timezone_offset_minutes = 15 * 60
            }),
        ),
        (
            "read_point.geo",
            refused(valid(EventKind::PickUp), |b| {
                b.read_point = Some(Location {
                    id: LocationId::new("NLRTM").unwrap(),
                    geo: Some(GeoPoint {
                        latitude_e7: 900_000_001,
                        longitude_e7: 0,
                    }),
                })
            }),
        ),
        (
            "epcs",
            refused(valid(EventKind::PickUp), |b| {
                b.epcs = (0..=EPCS_PER_EVENT_MAX)
                    .map(|i| Epc::Sgtin(fixtures::sgtin(&format!("S{i}"))))
                    .collect()
            }),
        ),
        (
            "epcs",
            refused(valid(EventKind::PickUp), |b| {
                b.epcs.push(Epc::Sgtin(fixtures::sgtin("S1")))
            }),
        ),
        (
            "biz_transactions",
            refused(valid(EventKind::PickUp), |b| {
                b.biz_transactions = (0..=BIZ_TRANSACTIONS_PER_EVENT_MAX)
                    .map(|i| BizTransaction {
                        kind: BizTransactionKind::Invoice,
                        id: DocumentId::new(format!("INV-{i}")).unwrap(),
                    })
                    .collect()
            }),
        ),
        (
            "epcs",
            refused(valid(EventKind::Commission), |b| b.epcs.clear()),
        ),
        (
            "epcs",
            refused(valid(EventKind::Commission), |b| {
                b.epcs = vec![Epc::Sscc(Sscc::new("340123450000000017").unwrap())]
            }),
        ),
        (
            "epcs",
            refused(
                valid(EventKind::Pack {
                    parcel: Sscc::new("340123450000000017").unwrap(),
                }),
                |b| {
                    b.epcs
                        .push(Epc::Sscc(Sscc::new("340123450000000017").unwrap()))
                },
            ),
        ),
        (
            "kind.to",
            refused(
                valid(EventKind::HandOver {
                    to: fixtures::org("carrier-a"),
                }),
                |_| {},
            ),
        ),
        (
            "kind.from",
            refused(
                valid(EventKind::Accept {
                    from: fixtures::org("carrier-a"),
                }),
                |_| {},
            ),
        ),
        (
            "kind.goods",
            refused(declare(), |b| declaration_of(b).goods.clear()),
        ),
        (
            "kind.pieces",
            refused(declare(), |b| declaration_of(b).pieces = 0),
        ),
        (
            "kind.gross_mass_g",
            refused(declare(), |b| declaration_of(b).gross_mass_g = 0),
        ),
        (
            "kind.goods.quantity",
            refused(declare(), |b| declaration_of(b).goods[0].quantity = 0),
        ),
    ];
    for (field, message) in cases {
        assert!(
            message.starts_with(field),
            "expected an error naming {field:?}, got {message:?}"
        );
    }
}

#[test]
fn identifier_formats_are_enforced_with_what_was_expected() {
    let cases: Vec<(Result<(), ids::FormatError>, &str)> = vec![
        (IossNumber::new("IM123456789").map(drop), "IOSS number"),
        (IossNumber::new("XX1234567890").map(drop), "IOSS number"),
        (HsCode::new("6404").map(drop), "HS code"),
        (HsCode::new("64041a").map(drop), "HS code"),
        (Gtin::new("04012345000010").map(drop), "GTIN"),
        (Gtin::new("4012345000016").map(drop), "GTIN"),
        (Sscc::new("340123450000000018").map(drop), "SSCC"),
        (CurrencyCode::new("eur").map(drop), "currency code"),
        (CountryCode::new("NLD").map(drop), "country code"),
        (ShipmentId::new("HAWB 1").map(drop), "shipment id"),
        (ShipmentId::new("").map(drop), "shipment id"),
        (OrgId::new("Carrier").map(drop), "organisation id"),
        (Serial::new("S".repeat(21)).map(drop), "serial"),
        (LocationId::new("NLRT1").map(drop), "location id"),
        (Text::new(" padded").map(drop), "text"),
        (Text::new("line\nbreak").map(drop), "text"),
        (
            NetworkAddress::new("localhost").map(drop),
            "network address",
        ),
    ];
    for (result, what) in cases {
        let error = result.unwrap_err();
        assert_eq!(error.what, what);
        assert!(error.to_string().contains("expected"), "{error}");
    }
    IossNumber::new("IM1234567890").unwrap();
    LocationId::new("NLRTM").unwrap();
    LocationId::new("8712345000004").unwrap();
    NetworkAddress::new("127.0.0.1:8080").unwrap();
}

#[test]
fn json_names_the_path_of_a_bad_field() {
    let event = fixtures::signed_event("platform", 1, "HAWB-1", fixtures::declare());
    let text = serde_json::to_string(&event)
        .unwrap()
        .replace("640411", "6404");
    let error = json::parse::<SignedEvent>(text.as_bytes()).unwrap_err();
    // Internally tagged enums buffer their content, so the path ends at the kind; the reason
    // names the field's type and echoes the value.
    assert_eq!(error.path, "body.kind");
    assert!(error.reason.contains("invalid HS code \"6404\""), "{error}");

    let text = serde_json::to_string(&event)
        .unwrap()
        .replace("\"nonce\":1", "\"nonce\":-1");
    let error = json::parse::<SignedEvent>(text.as_bytes()).unwrap_err();
    assert_eq!(error.path, "body.nonce");

    let text = serde_json::to_string(&event)
        .unwrap()
        .replace("\"declare\"", "\"teleport\"");
    let error = json::parse::<SignedEvent>(text.as_bytes()).unwrap_err();
    assert!(
        error.reason.contains("unknown variant `teleport`"),
        "{error}"
    );
}

#[test]
fn json_round_trip_preserves_the_event_and_its_id() {
    let event = fixtures::signed_event("platform", 3, "HAWB-1", fixtures::declare());
    let text = serde_json::to_string_pretty(&event).unwrap();
    let back: SignedEvent = json::parse(text.as_bytes()).unwrap();
    assert_eq!(back, event);
    assert_eq!(back.id(), event.id());
}

#[test]
fn an_event_over_the_encoded_bound_is_refused_at_admission_as_on_read() {
    let rules = waybill_protocol::rules::ChainRules::new(fixtures::genesis(4)).unwrap();
    let sign = |items, description_bytes| {
        let kind =
            fixtures::declared(&fixtures::declaration_with_items(items, description_bytes)).0;
        fixtures::signed_event("platform", 1, "HAWB-BIG", kind)
    };
    // 200 lines of 500-byte descriptions: valid field by field, over the event bound as a whole.
    let oversize = sign(200, 500);
    assert!(oversize.encode().len() > EVENT_ENCODED_BYTES_MAX);
    oversize
        .body
        .validate(&fixtures::chain_id(), NOW_MS)
        .unwrap();
    let error = waybill_protocol::admission::CheckedEvent::admit(&rules, oversize.clone(), NOW_MS)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "event: {} bytes in its canonical encoding, at most {EVENT_ENCODED_BYTES_MAX} allowed",
            oversize.encode().len()
        )
    );
    assert!(SignedEvent::decode(&oversize.encode()).is_err());
    // The largest that passes admission is one the ledger can read back.
    let largest = sign(100, 500);
    let checked =
        waybill_protocol::admission::CheckedEvent::admit(&rules, largest.clone(), NOW_MS).unwrap();
    assert_eq!(checked.encoded_len(), largest.encode().len());
    assert_eq!(SignedEvent::decode(&largest.encode()).unwrap(), largest);
}

#[test]
fn names_fold_width_case_spacing_and_invisible_marks_into_one() {
    let same = [
        "J. Jansen",
        "j. jansen",
        "J.  Jansen",
        "Ｊ. Ｊａｎｓｅｎ",
        "J. Jan\u{AD}sen",
        "J. Jan\u{200D}sen",
        "J. JANSEN",
    ];
    for name in same {
        assert_eq!(ids::fold_name(name), "j. jansen", "{name:?}");
    }
    // Full case folding, not lower-casing: ß and SS are one.
    assert_eq!(ids::fold_name("Straße"), ids::fold_name("STRASSE"));
    assert_ne!(ids::fold_name("J. Jansen"), ids::fold_name("J. Janssen"));
}

#[test]
fn text_that_would_show_other_than_it_is_stored_is_refused_naming_the_field() {
    for deceptive in [
        "\u{202E}nesnaJ .J",
        "J.\u{200B}Jansen",
        "J. Jansen\u{2066}",
        "\u{FEFF}J. Jansen",
    ] {
        assert!(PartyName::new(deceptive).is_err(), "{deceptive:?}");
        assert!(Text::new(deceptive).is_err(), "{deceptive:?}");
        assert!(Address::new(deceptive).is_err(), "{deceptive:?}");
    }
    // Scripts that need joiners and marks keep them.
    for legitimate in ["می\u{200C}خواهم", "Zoë Ørsted", "محمد\u{200F} Ltd"] {
        PartyName::new(legitimate).unwrap();
    }
    // Names are in a declaration's particulars, checked as they are read.
    let (_, sealed) = fixtures::declared(&fixtures::declaration());
    let mut particulars = serde_json::to_value(sealed).unwrap();
    particulars["particulars"]["consignee"]["name"] = serde_json::json!("J. \u{202E}Jansen");
    let error = json::parse::<waybill_protocol::particulars::SealedParticulars>(
        &serde_json::to_vec(&particulars).unwrap(),
    )
    .unwrap_err();
    assert_eq!(error.path, "particulars.consignee.name", "{error}");
    assert!(error.reason.contains("party name"), "{error}");
    assert!(error.reason.contains("bidirectional-override"), "{error}");
}

/// `--geo` and any other text reading of coordinates: exact decimal degrees, every mistake
/// named by its part.
#[test]
fn coordinates_are_read_exactly_or_refused_naming_the_part() {
    use waybill_protocol::event::GeoPoint;
    let read = |text: &str| {
        text.parse::<GeoPoint>()
            .map(|g| (g.latitude_e7, g.longitude_e7))
    };
    type Expected = Result<(i32, i32), &'static str>;
    let cases: [(&str, Expected); 14] = [
        ("52.3676,4.9041", Ok((523_676_000, 49_041_000))),
        ("22.5431, 114.0579", Ok((225_431_000, 1_140_579_000))),
        ("-33.8688,151.2093", Ok((-338_688_000, 1_512_093_000))),
        ("+0.0000001,-0.0000001", Ok((1, -1))),
        ("90,-180", Ok((900_000_000, -1_800_000_000))),
        ("0.1,0.2", Ok((1_000_000, 2_000_000))),
        (
            "90.0000001,0",
            Err("latitude \"90.0000001\": outside -90..=90 degrees"),
        ),
        (
            "0,180.5",
            Err("longitude \"180.5\": outside -180..=180 degrees"),
        ),
        (
            "1.12345678,0",
            Err("latitude \"1.12345678\": at most 7 decimal places"),
        ),
        ("52.3676", Err("expected LATITUDE,LONGITUDE")),
        ("52.,4", Err("expected LATITUDE,LONGITUDE")),
        ("1e3,4", Err("expected LATITUDE,LONGITUDE")),
        ("--1,4", Err("expected LATITUDE,LONGITUDE")),
        ("9999,4", Err("expected LATITUDE,LONGITUDE")),
    ];
    for (text, expected) in cases {
        match (read(text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
            (Err(error), Err(want)) => {
                assert!(error.to_string().contains(want), "{text}: {error}")
            }
            (got, want) => panic!("{text}: got {got:?}, expected {want:?}"),
        }
    }
}

fn capture(meaning: Option<EventKind>, event: serde_json::Value) -> EventKind {
    EventKind::Epcis(Box::new(EpcisCapture {
        meaning,
        content: fixtures::epcis_content(event),
    }))
}

fn departing(epcs: &[String]) -> serde_json::Value {
    serde_json::json!({
        "type": "ObjectEvent",
        "epcList": epcs,
        "action": "OBSERVE",
        "bizStep": "departing"
    })
}

#[test]
fn a_capture_must_agree_with_its_content() {
    let s1 = fixtures::sgtin_uri(&fixtures::sgtin("S1"));
    let validate = |body: EventBody| body.validate(&fixtures::chain_id(), NOW_MS);
    // A departure captured with its meaning, naming the event's serial: fine.
    validate(valid(capture(
        Some(EventKind::Depart),
        departing(std::slice::from_ref(&s1)),
    )))
    .unwrap();
    // The meaning must be one its business step allows.
    let error = validate(valid(capture(
        Some(EventKind::Arrive),
        departing(std::slice::from_ref(&s1)),
    )));
    assert!(
        error
            .unwrap_err()
            .to_string()
            .contains("kind.content/bizStep: arrive is captured with bizStep arriving")
    );
    // The body names exactly the items of the content.
    let other = fixtures::sgtin_uri(&fixtures::sgtin("S2"));
    let error = validate(valid(capture(None, departing(&[s1.clone(), other])))).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("epcs must be the serials and SSCCs"),
        "{error}"
    );
    // A pack is an AggregationEvent ADD whose parent is the parcel.
    let parcel = Sscc::new("340123450000000017").unwrap();
    let pack = |action: &str, parent: &str| {
        capture(
            Some(EventKind::Pack {
                parcel: parcel.clone(),
            }),
            serde_json::json!({
                "type": "AggregationEvent",
                "parentID": parent,
                "childEPCs": [s1.clone()],
                "action": action,
                "bizStep": "packing"
            }),
        )
    };
    validate(valid(pack(
        "ADD",
        "https://id.gs1.org/00/340123450000000017",
    )))
    .unwrap();
    for (action, parent) in [
        ("DELETE", "https://id.gs1.org/00/340123450000000017"),
        ("ADD", "https://id.gs1.org/00/340123450000000024"),
    ] {
        let error = validate(valid(pack(action, parent))).unwrap_err();
        assert!(
            error.to_string().starts_with("kind.content/type"),
            "{error}"
        );
    }
    // Content that is not canonical, or not EPCIS, is refused with its field.
    let mut body = valid(fixtures::epcis_observation(&[fixtures::sgtin("S1")]));
    if let EventKind::Epcis(capture) = &mut body.kind {
        capture.content.0.insert(0, b' ');
    }
    assert!(
        validate(body)
            .unwrap_err()
            .to_string()
            .contains("not in canonical form")
    );
    // A meaning never goes on a register, and places live in the content only.
    let mut register = valid(capture(
        Some(EventKind::Depart),
        departing(std::slice::from_ref(&s1)),
    ));
    register.shipment = fixtures::shipment("epcis:carrier-a");
    assert!(
        validate(register)
            .unwrap_err()
            .to_string()
            .contains("observations only")
    );
    let mut placed = valid(fixtures::epcis_observation(&[fixtures::sgtin("S1")]));
    placed.read_point = Some(Location {
        id: LocationId::new("4012345000009").unwrap(),
        geo: None,
    });
    assert!(
        validate(placed)
            .unwrap_err()
            .to_string()
            .contains("in its content only")
    );
}
