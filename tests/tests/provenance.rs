//! Provenance proofs from a real RocksDB ledger: an untouched proof verifies against the genesis
//! alone; every tampering is rejected with the error naming what failed.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use waybill_node::ledger::Ledger;
use waybill_protocol::block::CertificateError;
use waybill_protocol::event::{EventKind, RiskStatus};
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::index::IndexKey;
use waybill_protocol::provenance::{ProvenanceError, ProvenanceProof};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{ChainId, fixtures};
use waybill_tests::{EventFactory, certify_tip, commit_block, open_ledger, rules};

const SHIPMENT: &str = "HAWB-PROOF";

/// A ledger holding one shipment's 11-event story spread over blocks, among other traffic.
fn ledger_with_story(dir: &std::path::Path) -> Ledger {
    let mut ledger = open_ledger(dir).unwrap();
    let mut factory = EventFactory::new();
    let org = fixtures::org;
    let text = |t: &str| waybill_protocol::Text::new(t).unwrap();
    let story: Vec<(&str, EventKind)> = vec![
        ("platform", waybill_tests::declare_kind()),
        ("carrier-a", EventKind::PickUp),
        ("carrier-a", EventKind::Depart),
        ("carrier-a", EventKind::Arrive),
        (
            "carrier-a",
            EventKind::HandOver {
                to: org("carrier-b"),
            },
        ),
        (
            "carrier-b",
            EventKind::Accept {
                from: org("carrier-a"),
            },
        ),
        (
            "customs",
            EventKind::RiskAssessed {
                status: RiskStatus::Approved,
            },
        ),
        (
            "customs",
            EventKind::Inspect {
                result: waybill_protocol::event::InspectionResult::Compliant,
                note: text("ok"),
            },
        ),
        ("customs", EventKind::Release),
        ("carrier-b", EventKind::Depart),
        ("carrier-b", EventKind::Deliver),
    ];
    let mut time_ms = fixtures::NOW_MS;
    for (block, chunk) in story.chunks(3).enumerate() {
        let mut events: Vec<_> = chunk
            .iter()
            .map(|(o, k)| factory.event(o, SHIPMENT, k.clone()))
            .collect();
        // Other shipments in the same blocks.
        events.push(factory.event("carrier-a", &format!("OTHER-{block}"), EventKind::PickUp));
        time_ms += 1_000;
        let outcomes = commit_block(&mut ledger, events, time_ms).unwrap();
        assert!(
            outcomes.iter().all(|o| *o == EventOutcome::Applied),
            "{outcomes:?}"
        );
    }
    certify_tip(&mut ledger).unwrap();
    ledger
}

fn story_proof() -> (ProvenanceProof, ChainRules) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_story(dir.path());
    let proof = ledger
        .provenance(&IndexKey::Shipment(fixtures::shipment(SHIPMENT)))
        .unwrap();
    (proof, rules())
}

#[test]
fn untouched_proof_verifies_and_carries_the_whole_story() {
    let (proof, rules) = story_proof();
    proof.verify(&rules).unwrap();
    assert_eq!(proof.events.len(), 11);
    assert_eq!(proof.record.unwrap().count, 11);
    assert_eq!(proof.events.last().unwrap().height, proof.header.height);
    // JSON round trip keeps it verifiable (what `waybill verify bundle.json` reads).
    let json = serde_json::to_string(&proof).unwrap();
    let back: ProvenanceProof = waybill_protocol::json::parse(json.as_bytes()).unwrap();
    back.verify(&rules).unwrap();
}

#[test]
fn each_tampering_is_rejected_naming_what_failed() {
    let (proof, rules) = story_proof();
    let tampered = |change: &dyn Fn(&mut ProvenanceProof)| {
        let mut copy = proof.clone();
        change(&mut copy);
        copy.verify(&rules).unwrap_err()
    };

    assert_eq!(
        tampered(&|p| {
            p.events.remove(4);
        }),
        ProvenanceError::EventCount {
            recorded: 11,
            given: 10
        }
    );
    assert_eq!(
        tampered(&|p| {
            p.events.pop();
        }),
        ProvenanceError::EventCount {
            recorded: 11,
            given: 10
        }
    );
    // Events 0..3 share block 1: swapping inside a block breaks the head; across blocks, the
    // heights fall out of order first.
    assert_eq!(
        tampered(&|p| p.events.swap(0, 1)),
        ProvenanceError::ChainHead
    );
    assert!(matches!(
        tampered(&|p| p.events.swap(2, 3)),
        ProvenanceError::EventHeight { position: 3, .. }
    ));
    assert_eq!(
        tampered(&|p| p.events[5].event.body.timezone_offset_minutes += 1),
        ProvenanceError::ChainHead
    );
    assert_eq!(
        tampered(&|p| {
            let extra = p.events[0].clone();
            p.events.push(extra);
        }),
        ProvenanceError::EventCount {
            recorded: 11,
            given: 12
        }
    );
    // The chain commits to event ids, which exclude signatures; the signature check catches these.
    assert!(matches!(
        tampered(&|p| p.events[7].event.signature.0[10] ^= 1),
        ProvenanceError::EventSignature { position: 7, .. }
    ));

    assert!(matches!(
        tampered(&|p| p.certificate.signatures[0].0[0] ^= 1),
        ProvenanceError::Certificate(CertificateError::BadSignature { validator: 0 })
    ));
    let other_signature = fixtures::node_keypair(0).sign(b"some other message");
    assert!(matches!(
        tampered(&|p| p.certificate.signatures[1] = other_signature),
        ProvenanceError::Certificate(CertificateError::BadSignature { validator: 1 })
    ));
    assert_eq!(
        tampered(&|p| {
            // Quorum is 3 of 4; drop the last signer to fall to 2.
            p.certificate.signers[0] &= !0b100;
            p.certificate.signatures.pop();
        }),
        ProvenanceError::Certificate(CertificateError::TooFewSigners {
            found: 2,
            needed: 3
        })
    );
    assert!(matches!(
        tampered(&|p| p.header.index_root.0[0] ^= 1),
        ProvenanceError::Certificate(CertificateError::BlockMismatch { .. })
    ));
    assert!(matches!(
        tampered(&|p| p.header.chain_id = ChainId::new("another-chain").unwrap()),
        ProvenanceError::Certificate(CertificateError::WrongChain { .. })
    ));

    let absent = tampered(&|p| {
        p.record = None;
        p.events.clear();
    });
    assert!(
        matches!(&absent, ProvenanceError::MapProof { reason } if reason.contains("does not prove that shipment HAWB-PROOF is absent")),
        "{absent}"
    );
    let inflated = tampered(&|p| p.record.as_mut().unwrap().count += 1);
    assert!(
        matches!(inflated, ProvenanceError::MapProof { .. }),
        "{inflated}"
    );
}

#[test]
fn a_proof_from_another_chain_is_rejected() {
    let (proof, _) = story_proof();
    let mut genesis = fixtures::genesis(4);
    genesis.chain_id = ChainId::new("another-chain").unwrap();
    let other_rules = ChainRules::new(genesis).unwrap();
    assert!(matches!(
        proof.verify(&other_rules),
        Err(ProvenanceError::Certificate(
            CertificateError::WrongChain { .. }
        ))
    ));
}

#[test]
fn a_signer_without_the_role_under_the_verifiers_genesis_is_rejected() {
    let (proof, _) = story_proof();
    // Same chain and validators, but a constitution where platforms may not declare.
    let mut genesis = fixtures::genesis(4);
    for permission in &mut genesis.permissions {
        permission
            .event_types
            .retain(|t| *t != waybill_protocol::EventType::Declare);
    }
    let stricter = ChainRules::new(genesis).unwrap();
    assert!(matches!(
        proof.verify(&stricter),
        Err(ProvenanceError::Permission {
            position: 0,
            event_type: waybill_protocol::EventType::Declare,
            ..
        })
    ));
}

#[test]
fn a_never_recorded_key_gets_a_verifiable_absence_proof() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_story(dir.path());
    let rules = rules();
    let proof = ledger
        .provenance(&IndexKey::Shipment(fixtures::shipment("NEVER-SEEN")))
        .unwrap();
    assert_eq!(proof.record, None);
    assert!(proof.events.is_empty());
    proof.verify(&rules).unwrap();
    // Absence cannot be turned into presence by grafting another key's history onto it.
    let real = ledger
        .provenance(&IndexKey::Shipment(fixtures::shipment(SHIPMENT)))
        .unwrap();
    let mut forged = proof.clone();
    forged.record = real.record;
    forged.events = real.events.clone();
    assert!(matches!(
        forged.verify(&rules),
        Err(ProvenanceError::MapProof { .. })
    ));
}

#[test]
fn serial_provenance_follows_the_item_across_shipments() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = open_ledger(dir.path()).unwrap();
    let mut factory = EventFactory::new();
    let serial = fixtures::sgtin("SN-42");
    let epc = waybill_protocol::event::Epc::Sgtin(serial.clone());
    let commission = factory
        .builder("brand", "LOT-1", EventKind::Commission)
        .epc(epc.clone())
        .sign(&fixtures::org_keypair("brand"));
    let pick = factory
        .builder("carrier-a", "S-1", EventKind::PickUp)
        .epc(epc.clone())
        .sign(&fixtures::org_keypair("carrier-a"));
    let pick_other = factory
        .builder("carrier-b", "S-2", EventKind::PickUp)
        .epc(epc)
        .sign(&fixtures::org_keypair("carrier-b"));
    commit_block(&mut ledger, vec![commission], fixtures::NOW_MS + 1_000).unwrap();
    commit_block(
        &mut ledger,
        vec![pick, pick_other],
        fixtures::NOW_MS + 2_000,
    )
    .unwrap();
    certify_tip(&mut ledger).unwrap();
    let proof = ledger.provenance(&IndexKey::Serial(serial)).unwrap();
    proof.verify(&rules()).unwrap();
    let shipments: Vec<&str> = proof
        .events
        .iter()
        .map(|e| e.event.body.shipment.as_str())
        .collect();
    assert_eq!(shipments, ["LOT-1", "S-1", "S-2"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any single changed byte of an encoded proof is refused, by the decoder or the verifier.
    #[test]
    fn a_flipped_byte_is_always_rejected(position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        static PROOF: std::sync::OnceLock<(Vec<u8>, ChainRules)> = std::sync::OnceLock::new();
        let (bytes, rules) = PROOF.get_or_init(|| {
            let (proof, rules) = story_proof();
            (proof.encode(), rules)
        });
        let mut tampered = bytes.clone();
        let position = position.index(tampered.len());
        tampered[position] ^= flip;
        if let Ok(decoded) = ProvenanceProof::decode(&tampered) {
            prop_assert!(decoded.verify(rules).is_err(), "byte {} flipped by {:#x} still verifies", position, flip);
        }
    }
}

/// The provenance fuzz target starts from real proofs and checks every proof that verifies
/// against what this ledger holds: the real proofs and the keys present at the tip. Those
/// fixtures (and the seed copies of the proofs) must be what today's ledger makes. Run with
/// `WAYBILL_BLESS=1` to rewrite them after a deliberate format change.
#[test]
fn the_fuzz_fixtures_are_the_ones_a_ledger_makes_today() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_story(dir.path());
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/fuzz");
    let mut present: Vec<IndexKey> = Vec::new();
    for height in 1..=ledger.tip().height {
        for event in ledger.block_events(height).unwrap() {
            present.extend(waybill_protocol::index::index_keys(&event.body));
        }
    }
    present.sort_by_key(IndexKey::encode);
    present.dedup();
    let mut files = vec![(
        fuzz.join("fixtures/present-keys.bin"),
        waybill_protocol::codec::encode(&present),
    )];
    for (file, shipment) in [("story.proof", SHIPMENT), ("absence.proof", "NEVER-SEEN")] {
        let proof = ledger
            .provenance(&IndexKey::Shipment(fixtures::shipment(shipment)))
            .unwrap();
        proof.verify(&rules()).unwrap();
        files.push((fuzz.join("fixtures").join(file), proof.encode()));
        files.push((
            fuzz.join("seeds/provenance_verify").join(file),
            proof.encode(),
        ));
    }
    for (path, bytes) in files {
        if std::env::var_os("WAYBILL_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap();
        assert!(
            committed == bytes,
            "{} is stale: rerun this test with WAYBILL_BLESS=1",
            path.display()
        );
    }
}

/// What the fuzzer found: a sparse-Merkle absence proof also proves the absence of every other
/// key whose path ends at the same leaf or empty subtree. That is a true statement, so such a
/// proof verifies; moved onto a key that is present, it must not.
#[test]
fn an_absence_proof_covers_only_keys_that_are_really_absent() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_story(dir.path());
    let absence = ledger
        .provenance(&IndexKey::Shipment(fixtures::shipment("NEVER-SEEN")))
        .unwrap();
    // The fuzzer's input: the same proof for "NEVER-SMEN", which shares the path here.
    let mut neighbour = absence.clone();
    neighbour.key = IndexKey::Shipment(fixtures::shipment("NEVER-SMEN"));
    neighbour.verify(&rules()).unwrap();
    assert_eq!(
        ledger.provenance(&neighbour.key).unwrap().record,
        None,
        "the neighbour really is absent"
    );
    // Every present key, absence claimed with this proof: refused.
    for key in [
        IndexKey::Shipment(fixtures::shipment(SHIPMENT)),
        IndexKey::Shipment(fixtures::shipment("OTHER-0")),
        IndexKey::Shipment(fixtures::shipment("OTHER-3")),
    ] {
        let mut forged = absence.clone();
        forged.key = key.clone();
        assert!(
            matches!(
                forged.verify(&rules()),
                Err(ProvenanceError::MapProof { .. })
            ),
            "absence of {key:?} verified"
        );
    }
}

#[test]
fn a_history_served_in_pages_joins_into_the_complete_proof() {
    use waybill_node::ledger::LedgerError;
    use waybill_protocol::provenance::ProvenancePage;
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_story(dir.path());
    let key = IndexKey::Shipment(fixtures::shipment(SHIPMENT));
    let whole = ledger.provenance(&key).unwrap();
    let height = whole.header.height;
    let page = |first, events_max| {
        ledger
            .provenance_page(&key, Some(height), first, events_max)
            .unwrap()
    };
    // Pages of 4: events 1-4, 5-8, 9-11.
    let pages = vec![page(1, 4), page(5, 4), page(9, 4)];
    assert_eq!(pages[2].proof.events.len(), 3);
    let joined = ProvenancePage::join(pages.clone()).unwrap();
    assert_eq!(joined, whole);
    joined.verify(&rules()).unwrap();

    let reason = |pages: Vec<ProvenancePage>| match ProvenancePage::join(pages) {
        Err(ProvenanceError::Pages { reason }) => reason,
        other => panic!("expected a pages error, got {other:?}"),
    };
    // A page left out, a page twice, a first page that is not the first.
    assert!(reason(vec![pages[0].clone(), pages[2].clone()]).contains("starts at event 9, 5"));
    assert!(reason(vec![pages[0].clone(), pages[0].clone()]).contains("starts at event 1, 5"));
    assert!(reason(vec![pages[1].clone()]).contains("starts at event 5, not 1"));
    assert!(reason(vec![]).contains("no page"));
    // A page as of another block cannot be joined in.
    let older = ledger
        .provenance_page(&key, Some(height - 1), 5, 4)
        .unwrap();
    assert!(reason(vec![pages[0].clone(), older]).contains("as of the same block"));
    // Leaving the last page out joins into a proof that does not verify: nothing is missing
    // unnoticed.
    let short = ProvenancePage::join(vec![pages[0].clone(), pages[1].clone()]).unwrap();
    assert!(matches!(
        short.verify(&rules()),
        Err(ProvenanceError::EventCount {
            recorded: 11,
            given: 8
        })
    ));
    // Out of range, and heights no longer (or not yet) provable.
    assert!(matches!(
        ledger.provenance_page(&key, Some(height), 12, 4),
        Err(LedgerError::PageOutOfRange {
            first: 12,
            count: 11
        })
    ));
    assert!(matches!(
        ledger.provenance_page(&key, Some(height), 0, 4),
        Err(LedgerError::PageOutOfRange { .. })
    ));
    assert!(matches!(
        ledger.provenance_page(&key, Some(height + 1), 1, 4),
        Err(LedgerError::HeightNotProvable { .. })
    ));
}

/// A follower that verified the first events of a history verifies only what came after
/// (`ProvenanceProof::verify_after`): the continuation from its record, as of a later block,
/// checks out; one that skips an event, starts from a head it does not continue, or is
/// joined from the wrong position, does not.
#[test]
fn a_history_continued_from_a_verified_record_verifies_only_what_follows_it() {
    use waybill_protocol::provenance::ProvenancePage;
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_story(dir.path());
    let key = IndexKey::Shipment(fixtures::shipment(SHIPMENT));
    let whole = ledger.provenance(&key).unwrap();
    let height = whole.header.height;
    let record = whole.record.unwrap();
    // What a follower verified earlier: the first 6 events, as of the block of the 6th.
    let known_height = whole.events[5].height;
    let earlier = ledger
        .provenance_page(&key, Some(known_height), 1, 100)
        .unwrap();
    let known = earlier.proof.record.unwrap();
    assert_eq!(known.count, 6);
    earlier.proof.verify(&rules()).unwrap();
    let after = |first, events_max| {
        ledger
            .provenance_page(&key, Some(height), first, events_max)
            .unwrap()
    };
    let rest = ProvenancePage::join_after(vec![after(7, 3), after(10, 3)], 6).unwrap();
    assert_eq!(rest.events.len() as u64, record.count - 6);
    rest.verify_after(&rules(), Some(&known)).unwrap();
    // Without the known part the same events are not the whole history.
    assert!(matches!(
        rest.verify(&rules()),
        Err(ProvenanceError::EventCount { .. })
    ));
    // A continuation that leaves out the first new event.
    let mut gap = rest.clone();
    gap.events.remove(0);
    assert!(gap.verify_after(&rules(), Some(&known)).is_err());
    // From a record whose head is not the one these events continue.
    let mut forged_head = known;
    forged_head.head = whole.events[0].event.id();
    assert!(matches!(
        rest.verify_after(&rules(), Some(&forged_head)),
        Err(ProvenanceError::ChainHead)
    ));
    // Joined from the wrong position: refused before anything is checked.
    assert!(ProvenancePage::join_after(vec![after(8, 3)], 6).is_err());
    // Nothing new: an empty continuation of the record itself verifies.
    let mut none = rest.clone();
    none.events.clear();
    none.verify_after(&rules(), Some(&record)).unwrap();
}

/// A genuine proof is only an answer to the question it is about: another key (recorded or
/// absent), a block older than the caller allows, or one below a height already seen is
/// refused before anything else, naming both sides.
#[test]
fn a_genuine_proof_answers_only_its_own_question_and_only_while_fresh() {
    use waybill_protocol::provenance::{Freshness, Question};
    let (proof, rules) = story_proof();
    let block_time = proof.header.time_ms;
    let height = proof.header.height;
    let fresh = Freshness {
        now_ms: block_time + 5_000,
        max_age_ms: Some(120_000),
        min_height: 0,
    };
    let asked = |key: IndexKey, freshness: Freshness| Question { key, freshness };
    let own = IndexKey::Shipment(fixtures::shipment(SHIPMENT));
    proof
        .verify_answer(&rules, &asked(own.clone(), fresh))
        .unwrap();

    let suspect = IndexKey::Shipment(fixtures::shipment("HAWB-SUSPECT"));
    let error = proof
        .verify_answer(&rules, &asked(suspect.clone(), fresh))
        .unwrap_err();
    assert_eq!(
        error,
        ProvenanceError::WrongKey {
            asked: suspect,
            answered: own.clone()
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("HAWB-SUSPECT") && message.contains(SHIPMENT),
        "{message}"
    );

    // An absence proof of another key is no answer either.
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_story(dir.path());
    let absent = ledger
        .provenance(&IndexKey::Shipment(fixtures::shipment("NEVER-SEEN")))
        .unwrap();
    absent.verify(&rules).unwrap();
    assert!(matches!(
        absent.verify_answer(&rules, &asked(own.clone(), fresh)),
        Err(ProvenanceError::WrongKey { .. })
    ));

    let stale = Freshness {
        now_ms: block_time + 120_001,
        ..fresh
    };
    assert_eq!(
        proof.verify_answer(&rules, &asked(own.clone(), stale)),
        Err(ProvenanceError::TooOld {
            height,
            age_ms: 120_001,
            max_age_ms: 120_000
        })
    );
    let any_age = Freshness {
        max_age_ms: None,
        ..stale
    };
    proof
        .verify_answer(&rules, &asked(own.clone(), any_age))
        .unwrap();

    let seen_later = Freshness {
        min_height: height + 1,
        ..fresh
    };
    assert_eq!(
        proof.verify_answer(&rules, &asked(own.clone(), seen_later)),
        Err(ProvenanceError::BelowSeenHeight {
            height,
            seen: height + 1
        })
    );
    // The question is checked first, the proof itself still after: a tampered answer to the
    // right question fails as before.
    let mut forged = proof.clone();
    forged.events.pop();
    assert!(matches!(
        forged.verify_answer(&rules, &asked(own, fresh)),
        Err(ProvenanceError::EventCount { .. })
    ));
}

/// A GTIN's history holds every event naming one of its serials, so its serials are a listing
/// complete by proof: a node that leaves an event out fails verification.
#[test]
fn a_gtins_history_lists_its_serials_completely_by_proof() {
    use waybill_protocol::event::Epc;
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = open_ledger(dir.path()).unwrap();
    let mut factory = EventFactory::new();
    let serials = ["SN-G1", "SN-G2", "SN-G3"];
    let mut commission = factory.builder("brand", "STOCK-G", EventKind::Commission);
    commission = commission.epcs(serials.iter().map(|s| Epc::Sgtin(fixtures::sgtin(s))));
    let commission = commission.sign(&fixtures::org_keypair("brand"));
    let pick_up = factory
        .builder("carrier-a", "SHIP-G", EventKind::PickUp)
        .epcs(vec![Epc::Sgtin(fixtures::sgtin("SN-G2"))])
        .sign(&fixtures::org_keypair("carrier-a"));
    let unrelated = factory.event("carrier-a", "SHIP-H", EventKind::PickUp);
    commit_block(
        &mut ledger,
        vec![commission, unrelated],
        fixtures::NOW_MS + 1_000,
    )
    .unwrap();
    commit_block(&mut ledger, vec![pick_up], fixtures::NOW_MS + 2_000).unwrap();
    certify_tip(&mut ledger).unwrap();

    let gtin = fixtures::sgtin("SN-G1").gtin;
    let proof = ledger.provenance(&IndexKey::Gtin(gtin.clone())).unwrap();
    proof.verify(&rules()).unwrap();
    assert_eq!(proof.events.len(), 2, "the commission and the pick-up");
    let listed =
        waybill_protocol::index::serials_named(&gtin, proof.events.iter().map(|p| &p.event.body));
    let listed: Vec<&str> = listed.iter().map(|s| s.serial.as_str()).collect();
    assert_eq!(listed, serials);
    let mut hiding = proof.clone();
    hiding.events.remove(0);
    assert!(matches!(
        hiding.verify(&rules()),
        Err(ProvenanceError::EventCount { .. })
    ));
}
