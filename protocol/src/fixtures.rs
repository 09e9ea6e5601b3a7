//! Deterministic keys, a sample genesis and sample events, for tests, examples and benchmarks
//! across the workspace. Nothing here is used by a running network: real keys come from
//! `Keypair::generate`.

use crate::crypto::{Hash, Keypair};
use crate::event::*;
use crate::genesis::*;
use crate::ids::*;
use crate::particulars::{Salt, SealedParticulars};

/// The chain id every fixture uses.
pub const CHAIN: &str = "waybill-fixture";
/// A fixed clock: 2026-01-01T00:00:00Z.
pub const NOW_MS: u64 = 1_767_225_600_000;
/// The fixture brand's GS1 company prefix.
pub const BRAND_PREFIX: &str = TESTNET_BRAND_GS1_PREFIX;

/// Every fixture organisation's id.
pub const ORGANISATION_IDS: [&str; 6] = [
    TESTNET_ORGANISATIONS[0].0,
    TESTNET_ORGANISATIONS[1].0,
    TESTNET_ORGANISATIONS[2].0,
    TESTNET_ORGANISATIONS[3].0,
    TESTNET_ORGANISATIONS[4].0,
    TESTNET_ORGANISATIONS[5].0,
];

pub fn chain_id() -> ChainId {
    ChainId::new(CHAIN).expect("fixture chain id is valid")
}

/// A key derived from a name, the same on every run.
pub fn keypair(name: &str) -> Keypair {
    Keypair::from_secret_bytes(&Hash::tagged(b"waybill/fixture-key/v1", name.as_bytes()).0)
}

pub fn org(id: &str) -> OrgId {
    OrgId::new(id).expect("fixture organisation id is valid")
}

/// The fixture key of an organisation's first signing key.
pub fn org_keypair(org_id: &str) -> Keypair {
    keypair(&format!("org/{org_id}"))
}

pub fn node_keypair(index: usize) -> Keypair {
    keypair(&format!("node/{index}"))
}

/// The fixture TLS key of validator `index`'s API.
pub fn api_keypair(index: usize) -> Keypair {
    keypair(&format!("api/{index}"))
}

pub fn key_id(org_id: &str) -> KeyId {
    KeyId {
        org: org(org_id),
        index: 0,
    }
}

/// A valid genesis with the testnet organisations and fixture keys; validators are run by the first four
/// organisations in turn, on loopback addresses from port 30000.
pub fn genesis(validator_count: usize) -> Genesis {
    let organisations = TESTNET_ORGANISATIONS
        .iter()
        .map(|(id, name, country, role)| Organisation {
            id: org(id),
            name: PartyName::new(*name).expect("fixture name is valid"),
            country: CountryCode::new(*country).expect("fixture country is valid"),
            roles: vec![*role],
            signing_keys: vec![org_keypair(id).public_key()],
            gs1_prefixes: if *role == Role::Brand {
                vec![Gs1CompanyPrefix::new(BRAND_PREFIX).expect("fixture prefix is valid")]
            } else {
                Vec::new()
            },
        })
        .collect();
    let validators = (0..validator_count)
        .map(|index| {
            let operator = TESTNET_ORGANISATIONS[index % TESTNET_VALIDATOR_OPERATORS].0;
            let port = 30_000 + 2 * index;
            Validator {
                name: org(&format!("{operator}-{index}")),
                operator: org(operator),
                node_key: node_keypair(index).public_key(),
                p2p_address: NetworkAddress::new(format!("/ip4/127.0.0.1/tcp/{port}"))
                    .expect("fixture address is valid"),
                api_address: NetworkAddress::new(format!("127.0.0.1:{}", port + 1))
                    .expect("fixture address is valid"),
                api_key: api_keypair(index).public_key(),
            }
        })
        .collect();
    Genesis {
        chain_id: chain_id(),
        genesis_time_ms: NOW_MS - 86_400_000,
        organisations,
        validators,
        consensus: ConsensusParameters::default(),
        permissions: default_permissions(),
        read_policy: default_read_policy(),
        particulars_retention_days: None,
        particulars_grants: Vec::new(),
        rules: crate::rules_version::default_schedule(),
    }
}

pub fn shipment(id: &str) -> ShipmentId {
    ShipmentId::new(id).expect("fixture shipment id is valid")
}

/// An item serial under the fixture brand's prefix.
pub fn sgtin(serial: &str) -> Sgtin {
    Sgtin {
        gtin: Gtin::new("04012345000016").expect("fixture GTIN is valid"),
        serial: Serial::new(serial).expect("fixture serial is valid"),
    }
}

pub fn party(name: &str, country: &str) -> Party {
    Party {
        name: PartyName::new(name).expect("fixture name is valid"),
        address: None,
        country: CountryCode::new(country).expect("fixture country is valid"),
        registration: None,
    }
}

/// A one-line declaration of sneakers worth €89.90, with an IOSS number.
pub fn declaration() -> Declaration {
    Declaration {
        consignor: party("Shenzhen Sneaker Co", "CN"),
        consignee: party("J. Jansen", "NL"),
        seller: None,
        items: vec![DeclaredItem {
            description: Text::new("Running shoes").expect("fixture text is valid"),
            hs6: HsCode::new("640411").expect("fixture HS code is valid"),
            gtin: Some(Gtin::new("04012345000016").expect("fixture GTIN is valid")),
            quantity: 1,
            value_minor: 8_990,
            origin: CountryCode::new("CN").expect("fixture country is valid"),
        }],
        currency: CurrencyCode::new("EUR").expect("fixture currency is valid"),
        pieces: 1,
        gross_mass_g: 1_200,
        ioss: Some(IossNumber::new("IM1234567890").expect("fixture IOSS is valid")),
    }
}

/// `declaration` sealed as a `declare` event's kind, with a salt drawn from its content so that
/// tests can seal the same declaration twice and get the same commitment; a platform draws a
/// random one ([`Salt::generate`]).
pub fn declared(declaration: &Declaration) -> (EventKind, SealedParticulars) {
    let salt = Hash::tagged(b"waybill/fixture-salt", &crate::codec::encode(declaration));
    let (summary, sealed) = declaration.seal(Salt(salt.0));
    (EventKind::Declare(Box::new(summary)), sealed)
}

/// The `declare` kind of [`declaration`].
pub fn declare() -> EventKind {
    declared(&declaration()).0
}

/// [`declaration`] with `items` lines whose descriptions are `description_bytes` long: how
/// tests make events near and over the encoded size bound.
pub fn declaration_with_items(items: usize, description_bytes: usize) -> Declaration {
    let mut declaration = declaration();
    let line = declaration.items[0].clone();
    declaration.items = (0..items)
        .map(|index| {
            let mut item = line.clone();
            let text = format!(
                "{index:04} {}",
                "x".repeat(description_bytes.saturating_sub(5))
            );
            item.description = Text::new(text).expect("fixture text is valid");
            item
        })
        .collect();
    declaration
}

/// An event by `org_id`'s fixture key, at [`NOW_MS`] − 1 minute.
pub fn event(org_id: &str, nonce: u64, shipment_id: &str, kind: EventKind) -> EventBuilder {
    EventBuilder::new(
        chain_id(),
        key_id(org_id),
        nonce,
        shipment(shipment_id),
        kind,
        NOW_MS - 60_000,
    )
}

/// [`event`], signed with the organisation's fixture key.
pub fn signed_event(org_id: &str, nonce: u64, shipment_id: &str, kind: EventKind) -> SignedEvent {
    event(org_id, nonce, shipment_id, kind).sign(&org_keypair(org_id))
}

/// The header of a block at `height` on no parent, proposed by `proposer` and naming
/// `event_count` events, with zero roots: a message's shape, for tests that never execute it.
pub fn bare_header(
    height: u64,
    proposer: crate::ValidatorIndex,
    event_count: u32,
) -> crate::BlockHeader {
    crate::BlockHeader {
        chain_id: chain_id(),
        height,
        rules_version: crate::rules_version::RulesVersion::LATEST,
        time_ms: NOW_MS,
        prev_block_hash: Hash::ZERO,
        last_commit_hash: crate::BlockHeader::last_commit_hash(None),
        proposer,
        events_root: Hash::ZERO,
        event_count,
        log_size: 0,
        log_root: Hash::ZERO,
        index_root: Hash::ZERO,
        validators_hash: Hash::ZERO,
    }
}

/// A commit certificate for `header` signed by the fixture node keys of `signers`.
pub fn certificate(
    header: &crate::BlockHeader,
    validator_count: usize,
    signers: &[usize],
) -> crate::CommitCertificate {
    let block_hash = header.hash();
    let precommits: Vec<crate::SignedVote> = signers
        .iter()
        .map(|&index| {
            crate::Vote {
                height: header.height,
                round: 0,
                step: crate::VoteStep::Precommit,
                block: Some(block_hash),
                validator: crate::ValidatorIndex(index as u16),
            }
            .sign(&header.chain_id, &node_keypair(index))
        })
        .collect();
    crate::CommitCertificate::from_precommits(
        header.height,
        0,
        block_hash,
        validator_count,
        &precommits,
    )
}

/// An item serial as a GS1 Digital Link URI, as EPCIS names it.
pub fn sgtin_uri(sgtin: &Sgtin) -> String {
    format!("https://id.gs1.org/01/{}/21/{}", sgtin.gtin, sgtin.serial)
}

/// One EPCIS event object (with `eventTimeZoneOffset` and `eventTime` filled in if absent) as
/// the canonical content of a capture.
///
/// # Panics
/// If `event` is not a well-formed EPCIS 2.0 event: fixtures are written by tests.
pub fn epcis_content(mut event: serde_json::Value) -> crate::event::EpcisContent {
    if let Some(object) = event.as_object_mut() {
        object
            .entry("eventTime")
            .or_insert_with(|| "2026-03-01T10:00:00.000Z".into());
        object
            .entry("eventTimeZoneOffset")
            .or_insert_with(|| "+00:00".into());
    }
    let document = serde_json::json!({
        "@context": [crate::epcis::EPCIS_CONTEXT, {"example": "https://ns.example.com/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T10:00:00Z",
        "epcisBody": {"eventList": [event]},
    });
    let events = crate::epcis::read_document(&document)
        .unwrap_or_else(|errors| panic!("fixture event refused: {errors:?}"));
    crate::event::EpcisContent(events[0].canonical_bytes())
}

/// An observation of `serials` (an ObjectEvent OBSERVE with a sensor reading).
pub fn epcis_observation(serials: &[Sgtin]) -> EventKind {
    let epcs: Vec<String> = serials.iter().map(sgtin_uri).collect();
    let content = epcis_content(serde_json::json!({
        "type": "ObjectEvent",
        "epcList": epcs,
        "action": "OBSERVE",
        "bizStep": "sensor_reporting",
        "example:temperature": "4.5"
    }));
    EventKind::Epcis(Box::new(crate::event::EpcisCapture {
        meaning: None,
        content,
    }))
}
