//! The canonical encoding is the contract: these byte vectors pin it. If one of these tests
//! fails, the wire and hash format changed — every signature and every stored block with it.
//! Change a vector only together with a new tag version (`/v2`).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use waybill_protocol::codec::{self, CodecError};
use waybill_protocol::event::*;
use waybill_protocol::fixtures;
use waybill_protocol::ids::*;
use waybill_protocol::limits::EVENT_ENCODED_BYTES_MAX;
use waybill_protocol::*;

/// A hand-over with a read point, one EPC of each kind and a document reference.
fn golden_event() -> SignedEvent {
    fixtures::event(
        "carrier-a",
        7,
        "HAWB-0001",
        EventKind::HandOver {
            to: fixtures::org("carrier-b"),
        },
    )
    .timezone_offset_minutes(480)
    .read_point(event::Location {
        id: LocationId::new("CNSZX").unwrap(),
        geo: Some(event::GeoPoint {
            latitude_e7: 225_430_960,
            longitude_e7: 1_140_578_650,
        }),
    })
    .epc(Epc::Sgtin(fixtures::sgtin("SN-1")))
    .epc(Epc::Sscc(Sscc::new("340123450000000017").unwrap()))
    .biz_transaction(
        BizTransactionKind::HouseAirWaybill,
        DocumentId::new("HAWB-0001").unwrap(),
    )
    .sign(&fixtures::org_keypair("carrier-a"))
}

fn golden_header() -> BlockHeader {
    BlockHeader {
        chain_id: fixtures::chain_id(),
        height: 42,
        rules_version: waybill_protocol::rules_version::RulesVersion(2),
        time_ms: fixtures::NOW_MS,
        prev_block_hash: Hash([0x11; 32]),
        last_commit_hash: Hash([0x77; 32]),
        proposer: ValidatorIndex(2),
        events_root: Hash([0x22; 32]),
        event_count: 3,
        log_size: 1_000,
        log_root: Hash([0x33; 32]),
        index_root: Hash([0x44; 32]),
        validators_hash: Hash([0x55; 32]),
    }
}

fn golden_vote() -> SignedVote {
    Vote {
        height: 42,
        round: 1,
        step: VoteStep::Precommit,
        block: Some(Hash([0x66; 32])),
        validator: ValidatorIndex(3),
    }
    .sign(&fixtures::chain_id(), &fixtures::node_keypair(3))
}

const GOLDEN_EVENT_HEX: &str = "0f0000000000000077617962696c6c2d666978747572650900000000000000636172726965722d6100000700000000000000a0bdd9769b010000e0010900000000000000484157422d30303031060000000900000000000000636172726965722d62010500000000000000434e535a5801b0cd6f0d5ad9fb43000200000000000000000000000e0000000000000030343031323334353030303031360400000000000000534e2d310100000012000000000000003334303132333435303030303030303031370100000000000000040000000900000000000000484157422d303030312bd46b77b30e09e659933b87b92b70b3632e232905b89eb619c8f44d1a8ed9f8223ca06f047450c55b84dae3e79f95e8639f2dc71efaaf3a514a2e0ce00b110d";
const GOLDEN_EVENT_ID: &str = "c06792d5c65dc3fcf131a91df1b8324b2416c48be47b07b0e7b33722893808e0";
const GOLDEN_HEADER_HEX: &str = "0f0000000000000077617962696c6c2d666978747572652a00000000000000020000a8da769b010000111111111111111111111111111111111111111111111111111111111111111177777777777777777777777777777777777777777777777777777777777777770200222222222222222222222222222222222222222222222222222222222222222203000000e803000000000000333333333333333333333333333333333333333333333333333333333333333344444444444444444444444444444444444444444444444444444444444444445555555555555555555555555555555555555555555555555555555555555555";
const GOLDEN_HEADER_HASH: &str = "c8d6a15cf34fd8073aa54709a8b50e5b2a278c265c360c08838e83af2602e183";
const GOLDEN_VOTE_HEX: &str = "2a00000000000000010000000100000001666666666666666666666666666666666666666666666666666666666666666603004250c942f1f2741b0dbe3f72cd2c6475b8a06debb1f707485d81aa3cb18f5e2251328e757425a1aa2a40e13598e4c62373b01eabfb1564d60bc0398c6b861e0d";

#[test]
fn signed_event_encoding_is_pinned() {
    let event = golden_event();
    assert_eq!(hex::encode(event.encode()), GOLDEN_EVENT_HEX);
    assert_eq!(event.id().to_hex(), GOLDEN_EVENT_ID);
    assert_eq!(
        SignedEvent::decode(&hex::decode(GOLDEN_EVENT_HEX).unwrap()).unwrap(),
        event
    );
}

/// Rules version 3's accreditation: appended variants leave every older encoding as it was.
#[test]
fn accreditation_encoding_is_pinned() {
    let event = fixtures::event(
        "customs",
        9,
        "register:aeo",
        EventKind::Accredit(Box::new(Accreditation {
            operator: Reference::new("NL000000001").unwrap(),
            member: Some(fixtures::org("platform")),
            programme: Text::new("EU AEO").unwrap(),
            tier: Text::new("AEOF").unwrap(),
            valid_from_ms: fixtures::NOW_MS,
            valid_until_ms: fixtures::NOW_MS + 86_400_000,
        })),
    )
    .sign(&fixtures::org_keypair("customs"));
    assert_eq!(hex::encode(event.encode()), GOLDEN_ACCREDITATION_HEX);
    assert_eq!(
        SignedEvent::decode(&hex::decode(GOLDEN_ACCREDITATION_HEX).unwrap()).unwrap(),
        event
    );
}

const GOLDEN_ACCREDITATION_HEX: &str = "0f0000000000000077617962696c6c2d666978747572650700000000000000637573746f6d7300000900000000000000a0bdd9769b01000000000c0000000000000072656769737465723a61656f130000000b000000000000004e4c303030303030303031010800000000000000706c6174666f726d060000000000000045552041454f040000000000000041454f4600a8da769b0100000004017c9b010000000000000000000000000000000000000000bd740f2d2091c75ee04231d3c3532b33daff17bb64ba2a93fded11399e2034016d9313e8fd2120e206f9a7f9349fca37efdbc44ddb801ee65b2e2fb29b3fe200";

#[test]
fn block_header_encoding_is_pinned() {
    let header = golden_header();
    assert_eq!(hex::encode(codec::encode(&header)), GOLDEN_HEADER_HEX);
    assert_eq!(header.hash().to_hex(), GOLDEN_HEADER_HASH);
}

#[test]
fn vote_encoding_is_pinned() {
    let vote = golden_vote();
    assert_eq!(hex::encode(codec::encode(&vote)), GOLDEN_VOTE_HEX);
    let decoded: SignedVote =
        codec::decode("vote", &hex::decode(GOLDEN_VOTE_HEX).unwrap(), 1024).unwrap();
    assert_eq!(decoded, vote);
}

#[test]
fn event_id_does_not_depend_on_signature_bytes() {
    let mut event = golden_event();
    let id = event.id();
    event.signature.0[0] ^= 1;
    assert_eq!(event.id(), id);
}

#[test]
fn decode_rejects_trailing_bytes() {
    let mut bytes = golden_event().encode();
    bytes.push(0);
    assert_eq!(
        SignedEvent::decode(&bytes),
        Err(EventError::Encoding(CodecError::TrailingBytes {
            what: "signed event",
            trailing: 1
        }))
    );
}

#[test]
fn decode_rejects_input_over_the_limit_before_reading_it() {
    let bytes = vec![0u8; EVENT_ENCODED_BYTES_MAX + 1];
    assert!(matches!(
        SignedEvent::decode(&bytes),
        Err(EventError::Encoding(CodecError::TooLong { .. }))
    ));
}

#[test]
fn decode_refuses_a_huge_length_prefix_without_allocating_it() {
    // A Vec<String> claiming 2^60 elements: must fail on the allocation bound, not abort.
    let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0; 16]);
    let result: Result<Vec<String>, _> = codec::decode("list", &bytes, 1024);
    assert!(
        matches!(result, Err(CodecError::Malformed { .. })),
        "{result:?}"
    );
}

#[test]
fn decode_refuses_invalid_identifiers_inside_valid_framing() {
    // Re-encode the golden event with its shipment id replaced by a string with a space.
    let event = golden_event();
    let bytes = event.encode();
    let good = codec::encode(&event.body.shipment);
    let bad = codec::encode(&"HAWB 0001".to_string());
    let position = bytes.windows(good.len()).position(|w| w == good).unwrap();
    let mut tampered = bytes.clone();
    tampered[position..position + good.len()].copy_from_slice(&bad);
    let error = SignedEvent::decode(&tampered).unwrap_err().to_string();
    assert!(error.contains("invalid shipment id"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Canonical: any byte change either fails to decode or decodes to a value whose encoding is
    /// exactly the changed bytes (so no two encodings of one value exist).
    #[test]
    fn flipped_byte_fails_or_reencodes_identically(position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut bytes = golden_event().encode();
        let position = position.index(bytes.len());
        bytes[position] ^= flip;
        if let Ok(decoded) = SignedEvent::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(decoded) = SignedEvent::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }
}

/// The WAL logs verified inputs as the messages they wrap and replays them as such: the two
/// encodings are one.
#[test]
fn a_verified_message_encodes_as_the_message_it_wraps() {
    let rules = waybill_protocol::rules::ChainRules::new(fixtures::genesis(4)).unwrap();
    let message = waybill_protocol::block::ConsensusMessage::Vote(golden_vote());
    let verified = message.clone().verify(&rules).unwrap();
    assert_eq!(codec::encode(&verified), codec::encode(&message));
}

/// An EPCIS capture (rules version 4): its content's canonical JSON and the event's encoding.
#[test]
fn epcis_capture_encoding_is_pinned() {
    let kind = fixtures::epcis_observation(&[fixtures::sgtin("S1")]);
    let EventKind::Epcis(capture) = &kind else {
        unreachable!("the fixture is a capture")
    };
    assert_eq!(
        String::from_utf8(capture.content.0.clone()).unwrap(),
        GOLDEN_CAPTURE_CONTENT
    );
    let event = fixtures::event("carrier-a", 9, "epcis:carrier-a", kind)
        .epc(Epc::Sgtin(fixtures::sgtin("S1")))
        .sign(&fixtures::org_keypair("carrier-a"));
    let bytes = event.encode();
    assert_eq!(
        Hash::of_parts(&[&bytes]).to_hex(),
        GOLDEN_CAPTURE_ENCODING_SHA256
    );
    assert_eq!(SignedEvent::decode(&bytes).unwrap(), event);
}

const GOLDEN_CAPTURE_CONTENT: &str = r#"{"@context":{"example":"https://ns.example.com/epcis/"},"action":"OBSERVE","bizStep":"sensor_reporting","epcList":["https://id.gs1.org/01/04012345000016/21/S1"],"eventTime":"2026-03-01T10:00:00.000Z","eventTimeZoneOffset":"+00:00","example:temperature":"4.5","type":"ObjectEvent"}"#;
const GOLDEN_CAPTURE_ENCODING_SHA256: &str =
    "824548f9c4227b32b6f8f60830952c415d48c45d74f06517e129f811f6eda5fc";
