//! Every execution rule, each with an accepted case and refused cases that assert the reason.
#![allow(clippy::unwrap_used)]

use waybill_node::ledger::{LedgerError, build_block};
use waybill_protocol::event::{Epc, EventKind, EventType, InspectionResult, RiskStatus, Sgtin};
use waybill_protocol::execution::{EventOutcome, Rejection};
use waybill_protocol::genesis::Role;
use waybill_protocol::ids::{Gs1CompanyPrefix, Gtin, Serial, Text};
use waybill_protocol::{ValidatorIndex, fixtures};
use waybill_tests::MemoryChain;

const APPLIED: EventOutcome = EventOutcome::Applied;

fn rejected(rejection: Rejection) -> EventOutcome {
    EventOutcome::Rejected { rejection }
}

fn org(id: &str) -> waybill_protocol::OrgId {
    fixtures::org(id)
}

fn text(value: &str) -> Text {
    Text::new(value).unwrap()
}

fn declare() -> EventKind {
    waybill_tests::declare_kind()
}

fn hand_over(to: &str) -> EventKind {
    EventKind::HandOver { to: org(to) }
}

fn accept(from: &str) -> EventKind {
    EventKind::Accept { from: org(from) }
}

fn risk(status: RiskStatus) -> EventKind {
    EventKind::RiskAssessed { status }
}

fn commission(chain: &mut MemoryChain, shipment: &str, serials: &[Sgtin]) -> EventOutcome {
    let builder = chain
        .events
        .builder("brand", shipment, EventKind::Commission);
    let event = builder
        .epcs(serials.iter().cloned().map(Epc::Sgtin))
        .sign(&fixtures::org_keypair("brand"));
    chain.block(vec![event]).remove(0)
}

/// A shipment declared, picked up by carrier-a, risk-approved.
fn declared_and_picked_up(chain: &mut MemoryChain, shipment: &str) {
    assert_eq!(chain.apply("platform", shipment, declare()), APPLIED);
    assert_eq!(
        chain.apply("carrier-a", shipment, EventKind::PickUp),
        APPLIED
    );
    assert_eq!(
        chain.apply("customs", shipment, risk(RiskStatus::Approved)),
        APPLIED
    );
}

#[test]
fn only_roles_in_the_permission_table_may_sign() {
    let mut chain = MemoryChain::new();
    assert_eq!(chain.apply("platform", "S1", declare()), APPLIED);
    assert_eq!(
        chain.apply("carrier-a", "S1", risk(RiskStatus::Approved)),
        rejected(Rejection::NotPermitted {
            org: org("carrier-a"),
            event_type: EventType::RiskAssessed
        })
    );
    assert_eq!(
        chain.apply("customs", "S1", EventKind::PickUp),
        rejected(Rejection::NotPermitted {
            org: org("customs"),
            event_type: EventType::PickUp
        })
    );
    assert_eq!(
        chain.apply("carrier-a", "S1", declare()),
        rejected(Rejection::NotPermitted {
            org: org("carrier-a"),
            event_type: EventType::Declare
        })
    );
    assert_eq!(
        chain.apply("customs", "S1", risk(RiskStatus::Approved)),
        APPLIED
    );
}

#[test]
fn brands_commission_only_their_own_serials_and_only_once() {
    let mut chain = MemoryChain::new();
    let own = fixtures::sgtin("A1");
    assert_eq!(
        commission(&mut chain, "LOT-1", std::slice::from_ref(&own)),
        APPLIED
    );
    assert_eq!(
        commission(&mut chain, "LOT-2", std::slice::from_ref(&own)),
        rejected(Rejection::AlreadyCommissioned {
            serial: own.clone(),
            by: org("brand")
        })
    );
    // 05012345000015 is under prefix 5012345, not the brand's 4012345.
    let foreign = Sgtin {
        gtin: Gtin::new("05012345000015").unwrap(),
        serial: Serial::new("F1").unwrap(),
    };
    assert_eq!(
        commission(
            &mut chain,
            "LOT-3",
            &[fixtures::sgtin("A2"), foreign.clone()]
        ),
        rejected(Rejection::NotPrefixOwner {
            org: org("brand"),
            gtin: foreign.gtin.clone()
        })
    );
    // The refused event commissioned nothing, not even its valid serial.
    assert_eq!(
        commission(&mut chain, "LOT-4", &[fixtures::sgtin("A2")]),
        APPLIED
    );
}

#[test]
fn only_the_commissioner_decommissions_a_live_serial() {
    // A second brand, to show one brand cannot retire another's serial.
    let mut genesis = fixtures::genesis(4);
    let mut second = genesis.organisations[4].clone();
    second.id = org("brand-two");
    second.signing_keys = vec![fixtures::org_keypair("brand-two").public_key()];
    second.gs1_prefixes = vec![Gs1CompanyPrefix::new("5012345").unwrap()];
    genesis.organisations.push(second);
    let mut chain = MemoryChain::new();
    chain.rules = waybill_protocol::rules::ChainRules::new(genesis).unwrap();
    chain.store = waybill_node::ledger::memory::MemoryStore::new(&chain.rules).unwrap();

    let serial = fixtures::sgtin("D1");
    let decommission = |chain: &mut MemoryChain, by: &str, serial: &Sgtin| {
        let builder = chain.events.builder(
            by,
            "LOT-D",
            EventKind::Decommission {
                reason: text("destroyed"),
            },
        );
        let event = builder
            .epc(Epc::Sgtin(serial.clone()))
            .sign(&fixtures::org_keypair(by));
        chain.block(vec![event]).remove(0)
    };
    assert_eq!(
        decommission(&mut chain, "brand", &serial),
        rejected(Rejection::NotCommissioned {
            serial: serial.clone()
        })
    );
    assert_eq!(
        commission(&mut chain, "LOT-D", std::slice::from_ref(&serial)),
        APPLIED
    );
    assert_eq!(
        decommission(&mut chain, "brand-two", &serial),
        rejected(Rejection::NotCommissioner {
            serial: serial.clone(),
            by: org("brand")
        })
    );
    assert_eq!(decommission(&mut chain, "brand", &serial), APPLIED);
    assert_eq!(
        decommission(&mut chain, "brand", &serial),
        rejected(Rejection::AlreadyDecommissioned {
            serial: serial.clone()
        })
    );
}

#[test]
fn a_commission_refused_by_custody_commissions_nothing() {
    let mut chain = MemoryChain::new();
    let serial = fixtures::sgtin("LOT-SEIZED-1");
    assert_eq!(chain.apply("platform", "LOT-S", declare()), APPLIED);
    assert_eq!(
        chain.apply(
            "customs",
            "LOT-S",
            EventKind::Seize {
                reason: text("counterfeit ring")
            }
        ),
        APPLIED
    );
    assert_eq!(
        commission(&mut chain, "LOT-S", std::slice::from_ref(&serial)),
        rejected(Rejection::Seized)
    );
    // The serial is still free: the refused event left no trace but its nonce.
    assert_eq!(commission(&mut chain, "LOT-OK", &[serial]), APPLIED);
}

#[test]
fn a_shipment_is_declared_once() {
    let mut chain = MemoryChain::new();
    assert_eq!(chain.apply("platform", "S1", declare()), APPLIED);
    assert_eq!(
        chain.apply("platform", "S1", declare()),
        rejected(Rejection::AlreadyDeclared {
            by: org("platform")
        })
    );
}

#[test]
fn pick_up_starts_custody_once() {
    let mut chain = MemoryChain::new();
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::PickUp), APPLIED);
    assert_eq!(
        chain.apply("carrier-b", "S1", EventKind::PickUp),
        rejected(Rejection::CustodyAlreadyStarted {
            custodian: org("carrier-a")
        })
    );
}

#[test]
fn only_the_custodian_hands_over_to_a_carrier_one_offer_at_a_time() {
    let mut chain = MemoryChain::new();
    assert_eq!(
        chain.apply("carrier-a", "S1", hand_over("carrier-b")),
        rejected(Rejection::NoCustody)
    );
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::PickUp), APPLIED);
    assert_eq!(
        chain.apply("carrier-b", "S1", hand_over("carrier-a")),
        rejected(Rejection::NotCustodian {
            custodian: org("carrier-a"),
            signer: org("carrier-b")
        })
    );
    assert_eq!(
        chain.apply("carrier-a", "S1", hand_over("customs")),
        rejected(Rejection::NotACarrier {
            org: org("customs")
        })
    );
    assert_eq!(
        chain.apply("carrier-a", "S1", hand_over("carrier-b")),
        APPLIED
    );
    assert_eq!(
        chain.apply("carrier-a", "S1", hand_over("carrier-b")),
        rejected(Rejection::HandOverPending {
            offered_to: org("carrier-b")
        })
    );
}

#[test]
fn only_the_offered_carrier_accepts_from_the_custodian_and_custody_moves() {
    let mut chain = MemoryChain::new();
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::PickUp), APPLIED);
    assert_eq!(
        chain.apply("carrier-b", "S1", accept("carrier-a")),
        rejected(Rejection::NoHandOverOffered)
    );
    assert_eq!(
        chain.apply("carrier-a", "S1", hand_over("carrier-b")),
        APPLIED
    );
    assert_eq!(
        chain.apply("carrier-a", "S1", accept("carrier-b")),
        rejected(Rejection::OfferedToAnother {
            offered_to: org("carrier-b")
        })
    );
    assert_eq!(
        chain.apply("carrier-b", "S1", accept("platform")),
        rejected(Rejection::WrongHandOverSource {
            from: org("platform"),
            custodian: org("carrier-a")
        })
    );
    assert_eq!(chain.apply("carrier-b", "S1", accept("carrier-a")), APPLIED);
    // Custody moved: the old holder can no longer move the shipment, the new one can.
    assert_eq!(
        chain.apply("carrier-a", "S1", EventKind::Depart),
        rejected(Rejection::NotCustodian {
            custodian: org("carrier-b"),
            signer: org("carrier-a")
        })
    );
    assert_eq!(chain.apply("carrier-b", "S1", EventKind::Depart), APPLIED);
}

#[test]
fn depart_and_arrive_only_by_the_custodian() {
    let mut chain = MemoryChain::new();
    assert_eq!(
        chain.apply("carrier-a", "S1", EventKind::Depart),
        rejected(Rejection::NoCustody)
    );
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::PickUp), APPLIED);
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::Depart), APPLIED);
    assert_eq!(
        chain.apply("carrier-b", "S1", EventKind::Arrive),
        rejected(Rejection::NotCustodian {
            custodian: org("carrier-a"),
            signer: org("carrier-b")
        })
    );
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::Arrive), APPLIED);
}

#[test]
fn risk_assessment_needs_a_declaration() {
    let mut chain = MemoryChain::new();
    assert_eq!(
        chain.apply("customs", "S1", risk(RiskStatus::Approved)),
        rejected(Rejection::NotDeclared)
    );
    assert_eq!(chain.apply("platform", "S1", declare()), APPLIED);
    assert_eq!(
        chain.apply("customs", "S1", risk(RiskStatus::Approved)),
        APPLIED
    );
}

#[test]
fn release_needs_declaration_approval_and_no_open_hold() {
    let mut chain = MemoryChain::new();
    assert_eq!(
        chain.apply("customs", "S1", EventKind::Release),
        rejected(Rejection::NotDeclared)
    );
    assert_eq!(chain.apply("platform", "S1", declare()), APPLIED);
    assert_eq!(
        chain.apply("customs", "S1", EventKind::Release),
        rejected(Rejection::RiskNotApproved { status: None })
    );
    assert_eq!(
        chain.apply("customs", "S1", risk(RiskStatus::Screen)),
        APPLIED
    );
    assert_eq!(
        chain.apply("customs", "S1", EventKind::Release),
        rejected(Rejection::RiskNotApproved {
            status: Some(RiskStatus::Screen)
        })
    );
    assert_eq!(
        chain.apply("customs", "S1", risk(RiskStatus::Approved)),
        APPLIED
    );
    assert_eq!(
        chain.apply(
            "customs",
            "S1",
            EventKind::Hold {
                reason: text("undervaluation suspected")
            }
        ),
        APPLIED
    );
    assert_eq!(
        chain.apply("customs", "S1", EventKind::Release),
        rejected(Rejection::OpenHolds { count: 1 })
    );
    // A discrepancy keeps the hold; a compliant inspection lifts it.
    let discrepancy = EventKind::Inspect {
        result: InspectionResult::Discrepancy,
        note: text("invoice missing"),
    };
    assert_eq!(chain.apply("customs", "S1", discrepancy), APPLIED);
    assert_eq!(
        chain.apply("customs", "S1", EventKind::Release),
        rejected(Rejection::OpenHolds { count: 1 })
    );
    let compliant = EventKind::Inspect {
        result: InspectionResult::Compliant,
        note: text("matches invoice"),
    };
    assert_eq!(chain.apply("customs", "S1", compliant), APPLIED);
    assert_eq!(chain.apply("customs", "S1", EventKind::Release), APPLIED);
}

#[test]
fn delivery_needs_a_release_and_a_hold_suspends_it() {
    let mut chain = MemoryChain::new();
    declared_and_picked_up(&mut chain, "S1");
    assert_eq!(
        chain.apply("carrier-a", "S1", EventKind::Deliver),
        rejected(Rejection::NotReleased)
    );
    assert_eq!(chain.apply("customs", "S1", EventKind::Release), APPLIED);
    assert_eq!(
        chain.apply(
            "customs",
            "S1",
            EventKind::Hold {
                reason: text("new intelligence")
            }
        ),
        APPLIED
    );
    assert_eq!(
        chain.apply("carrier-a", "S1", EventKind::Deliver),
        rejected(Rejection::NotReleased)
    );
    let compliant = EventKind::Inspect {
        result: InspectionResult::Compliant,
        note: text("cleared"),
    };
    assert_eq!(chain.apply("customs", "S1", compliant), APPLIED);
    assert_eq!(chain.apply("customs", "S1", EventKind::Release), APPLIED);
    assert_eq!(
        chain.apply("carrier-b", "S1", EventKind::Deliver),
        rejected(Rejection::NotCustodian {
            custodian: org("carrier-a"),
            signer: org("carrier-b")
        })
    );
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::Deliver), APPLIED);
}

#[test]
fn nothing_but_return_follows_delivery() {
    let mut chain = MemoryChain::new();
    declared_and_picked_up(&mut chain, "S1");
    assert_eq!(chain.apply("customs", "S1", EventKind::Release), APPLIED);
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::Deliver), APPLIED);
    for (org_id, kind) in [
        ("carrier-a", EventKind::Depart),
        ("carrier-a", EventKind::Deliver),
        ("carrier-a", hand_over("carrier-b")),
        (
            "customs",
            EventKind::Hold {
                reason: text("late"),
            },
        ),
        ("platform", declare()),
    ] {
        assert_eq!(
            chain.apply(org_id, "S1", kind),
            rejected(Rejection::AlreadyDelivered)
        );
    }
    let flag = EventKind::Flag {
        serial: fixtures::sgtin("X"),
        suspicion: text("reported by consignee"),
    };
    assert_eq!(chain.apply("customs", "S1", flag), APPLIED);
    assert_eq!(
        chain.apply(
            "carrier-a",
            "S1",
            EventKind::Return {
                reason: text("refused by consignee")
            }
        ),
        APPLIED
    );
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::Depart), APPLIED);
}

#[test]
fn nothing_but_inspection_and_flags_follow_a_seizure() {
    let mut chain = MemoryChain::new();
    declared_and_picked_up(&mut chain, "S1");
    assert_eq!(
        chain.apply(
            "customs",
            "S1",
            EventKind::Seize {
                reason: text("counterfeit goods")
            }
        ),
        APPLIED
    );
    assert_eq!(
        chain.apply("carrier-a", "S1", EventKind::Depart),
        rejected(Rejection::Seized)
    );
    assert_eq!(
        chain.apply("customs", "S1", EventKind::Release),
        rejected(Rejection::Seized)
    );
    let inspect = EventKind::Inspect {
        result: InspectionResult::Prohibited,
        note: text("fake logos"),
    };
    assert_eq!(chain.apply("customs", "S1", inspect), APPLIED);
}

#[test]
fn a_nonce_is_spent_once_even_by_a_rejected_event() {
    let mut chain = MemoryChain::new();
    let first = chain.events.event("carrier-a", "S1", EventKind::PickUp);
    // Same signer and nonce, different content: a different event id, still a replay.
    let mut again = first.body.clone();
    again.shipment = fixtures::shipment("S2");
    let again = waybill_protocol::SignedEvent::sign(again, &fixtures::org_keypair("carrier-a"));
    let outcomes = chain.block(vec![first, again]);
    assert_eq!(outcomes[0], APPLIED);
    assert_eq!(
        outcomes[1],
        rejected(Rejection::Replay {
            nonce: 1,
            last_nonce: 1
        })
    );

    // A custody rejection still spends nonce 2; reusing it is a replay.
    let refused = chain.events.event("carrier-a", "S9", EventKind::Depart);
    assert_eq!(
        chain.block(vec![refused.clone()]).remove(0),
        rejected(Rejection::NoCustody)
    );
    let mut retry = refused.body.clone();
    retry.shipment = fixtures::shipment("S1");
    let retry = waybill_protocol::SignedEvent::sign(retry, &fixtures::org_keypair("carrier-a"));
    assert_eq!(
        chain.block(vec![retry]).remove(0),
        rejected(Rejection::Replay {
            nonce: 2,
            last_nonce: 2
        })
    );
}

/// A signer's events may reach the chain out of nonce order (a batch held by a node that was
/// down): each unspent nonce is applied once, within the window of the highest spent ones.
#[test]
fn nonces_may_arrive_out_of_order_within_the_window_and_never_twice() {
    use waybill_protocol::execution::NONCE_WINDOW;
    let mut chain = MemoryChain::new();
    let event = |nonce: u64, shipment: &str| {
        fixtures::signed_event("platform", nonce, shipment, waybill_tests::declare_kind())
    };
    assert_eq!(chain.block(vec![event(5, "LATE-5")]).remove(0), APPLIED);
    // 3 and 4 were signed first and arrive later: applied.
    assert_eq!(
        chain.block(vec![event(4, "LATE-4"), event(3, "LATE-3")]),
        vec![APPLIED, APPLIED]
    );
    assert_eq!(
        chain.block(vec![event(4, "LATE-4B")]).remove(0),
        rejected(Rejection::Replay {
            nonce: 4,
            last_nonce: 5
        })
    );
    // Past the window, the lowest remembered nonces fall to the floor: 1 and 2, never used,
    // are now spent too, and so are 3 to 5.
    let many: Vec<_> = (0..NONCE_WINDOW as u64)
        .map(|i| event(100 + i, &format!("MANY-{i}")))
        .collect();
    assert!(chain.block(many).iter().all(|o| *o == APPLIED));
    for nonce in [1, 2, 3, 5] {
        assert_eq!(
            chain
                .block(vec![event(nonce, &format!("OLD-{nonce}"))])
                .remove(0),
            rejected(Rejection::Replay {
                nonce,
                last_nonce: 100 + NONCE_WINDOW as u64 - 1
            }),
            "nonce {nonce}"
        );
    }
    // Above the floor, an unspent nonce still goes in, once.
    assert_eq!(chain.block(vec![event(99, "GAP-99")]).remove(0), APPLIED);
    assert!(matches!(
        chain.block(vec![event(99, "GAP-99B")]).remove(0),
        EventOutcome::Rejected {
            rejection: Rejection::Replay { nonce: 99, .. }
        }
    ));
}

#[test]
fn a_block_with_a_repeated_or_committed_event_is_invalid() {
    let mut chain = MemoryChain::new();
    let event = chain.events.event("carrier-a", "S1", EventKind::PickUp);
    let error = build_block(
        &chain.store,
        &chain.rules,
        chain.store.tip(),
        chain.proposal(
            vec![event.clone(), event.clone()],
            fixtures::NOW_MS + 1_000,
            ValidatorIndex(0),
        ),
    )
    .unwrap_err();
    assert!(
        matches!(error, LedgerError::DuplicateEvent { id } if id == event.id()),
        "{error}"
    );
    assert_eq!(chain.block(vec![event.clone()]), vec![APPLIED]);
    let later = chain.store.tip().time_ms + 1_000;
    let error = build_block(
        &chain.store,
        &chain.rules,
        chain.store.tip(),
        chain.proposal(vec![event.clone()], later, ValidatorIndex(0)),
    )
    .unwrap_err();
    assert!(
        matches!(error, LedgerError::DuplicateEvent { .. }),
        "{error}"
    );
}

#[test]
fn rejected_events_do_not_extend_any_key_chain() {
    let mut chain = MemoryChain::new();
    assert_eq!(chain.apply("carrier-a", "S1", EventKind::PickUp), APPLIED);
    let before = waybill_node::ledger::authenticated_map::record(
        &chain.store,
        &waybill_protocol::index::IndexKey::Shipment(fixtures::shipment("S1")),
        chain.store.tip().height,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        chain.apply("carrier-b", "S1", EventKind::Depart),
        rejected(Rejection::NotCustodian {
            custodian: org("carrier-a"),
            signer: org("carrier-b")
        })
    );
    let after = waybill_node::ledger::authenticated_map::record(
        &chain.store,
        &waybill_protocol::index::IndexKey::Shipment(fixtures::shipment("S1")),
        chain.store.tip().height,
    )
    .unwrap()
    .unwrap();
    assert_eq!(before.count, 1);
    assert_eq!(after, before);
    assert!(chain.rules.has_role(&org("carrier-b"), Role::Carrier));
}

/// Packs (or unpacks) `serials` in a parcel of `shipment`, signed by `org`.
fn parcel(
    chain: &mut MemoryChain,
    org: &str,
    shipment: &str,
    serials: &[Sgtin],
    unpack: bool,
) -> EventOutcome {
    let parcel = waybill_protocol::ids::Sscc::new("000000000000000017").unwrap();
    let kind = match unpack {
        false => EventKind::Pack { parcel },
        true => EventKind::Unpack { parcel },
    };
    let event = chain
        .events
        .builder(org, shipment, kind)
        .epcs(serials.iter().cloned().map(Epc::Sgtin))
        .sign(&fixtures::org_keypair(org));
    chain.block(vec![event]).remove(0)
}

#[test]
fn only_a_party_to_a_shipment_packs_unpacks_or_flags_it() {
    let mut chain = MemoryChain::new();
    let item = fixtures::sgtin("P1");
    let items = std::slice::from_ref(&item);
    assert_eq!(commission(&mut chain, "LOT-P", items), APPLIED);
    declared_and_picked_up(&mut chain, "S1");
    let no_part = |org_id: &str| rejected(Rejection::NoPartInShipment { org: org(org_id) });
    let foreign = Sgtin {
        gtin: Gtin::new("05012345000015").unwrap(),
        serial: Serial::new("F9").unwrap(),
    };
    // Not the custodian, not the declarant, not the brand of the items: refused.
    assert_eq!(
        parcel(&mut chain, "carrier-b", "S1", items, false),
        no_part("carrier-b")
    );
    assert_eq!(
        parcel(&mut chain, "carrier-b", "S1", items, true),
        no_part("carrier-b")
    );
    assert_eq!(
        parcel(
            &mut chain,
            "brand",
            "S1",
            &[item.clone(), foreign.clone()],
            false
        ),
        no_part("brand")
    );
    // The brand of every item named, the custodian and the declaring platform may.
    assert_eq!(parcel(&mut chain, "brand", "S1", items, false), APPLIED);
    assert_eq!(parcel(&mut chain, "carrier-a", "S1", items, true), APPLIED);
    assert_eq!(parcel(&mut chain, "platform", "S1", items, false), APPLIED);

    // A flag by customs, or by the brand of the serial; not by another brand.
    let flag = |serial: &Sgtin| EventKind::Flag {
        serial: serial.clone(),
        suspicion: text("seen twice"),
    };
    assert_eq!(chain.apply("brand", "S1", flag(&item)), APPLIED);
    assert_eq!(chain.apply("customs", "S1", flag(&foreign)), APPLIED);
    assert_eq!(chain.apply("brand", "S1", flag(&foreign)), no_part("brand"));
}

#[test]
fn a_block_dated_before_its_events_is_invalid_and_spends_no_nonce() {
    let mut chain = MemoryChain::new();
    let event = chain.events.event("carrier-a", "S1", EventKind::PickUp);
    let skew = waybill_protocol::limits::EVENT_TIME_FUTURE_SKEW_MS_MAX;
    // A proposer dates its block more than the clock skew before the event.
    let back_dated = chain.proposal(
        vec![event.clone()],
        event.body.event_time_ms - skew - 1,
        ValidatorIndex(0),
    );
    let tip = chain.store.tip().clone();
    let refused = build_block(&chain.store, &chain.rules, &tip, back_dated);
    assert!(
        matches!(refused, Err(LedgerError::EventAfterBlockTime { .. })),
        "{refused:?}"
    );
    // Nothing was spent: the same event goes into an honestly dated block.
    assert_eq!(chain.block(vec![event]), vec![APPLIED]);
    // An event an hour ahead of any honest block time is refused the same way: it stays
    // pending at the proposer instead of being rejected with its nonce spent.
    let mut body = chain
        .events
        .builder("carrier-a", "S2", EventKind::PickUp)
        .build();
    body.event_time_ms = fixtures::NOW_MS + 3_600_000;
    let ahead = waybill_protocol::SignedEvent::sign(body, &fixtures::org_keypair("carrier-a"));
    let tip = chain.store.tip().clone();
    let proposal = chain.proposal(vec![ahead], tip.time_ms + 1_000, ValidatorIndex(0));
    let refused = build_block(&chain.store, &chain.rules, &tip, proposal);
    assert!(
        matches!(refused, Err(LedgerError::EventAfterBlockTime { .. })),
        "{refused:?}"
    );
}

#[test]
fn a_shipments_history_cannot_be_written_backwards() {
    let mut chain = MemoryChain::new();
    declared_and_picked_up(&mut chain, "S1");
    let dated = |chain: &mut MemoryChain, org: &str, kind: EventKind, time_ms: u64| {
        let mut body = chain.events.builder(org, "S1", kind).build();
        body.event_time_ms = time_ms;
        let event = waybill_protocol::SignedEvent::sign(body, &fixtures::org_keypair(org));
        chain.block(vec![event]).remove(0)
    };
    // A Depart dated a day before the pick-up it follows.
    assert_eq!(
        dated(
            &mut chain,
            "carrier-a",
            EventKind::Depart,
            fixtures::NOW_MS - 86_400_000
        ),
        rejected(Rejection::DatedBeforePrevious {
            event_time_ms: fixtures::NOW_MS - 86_400_000,
            previous_ms: fixtures::NOW_MS,
        })
    );
    // A late report within clock skew of the latest event is fine.
    assert_eq!(
        dated(
            &mut chain,
            "carrier-a",
            EventKind::Depart,
            fixtures::NOW_MS - 60_000
        ),
        APPLIED
    );
    // Items are not custody: a brand back-fills a commission on a lot it already used.
    let item = fixtures::sgtin("OLD-1");
    let old = chain
        .events
        .builder("brand", "S1", EventKind::Commission)
        .epcs([Epc::Sgtin(item)])
        .build();
    let old = waybill_protocol::EventBody {
        event_time_ms: fixtures::NOW_MS - 86_400_000,
        ..old
    };
    let old = waybill_protocol::SignedEvent::sign(old, &fixtures::org_keypair("brand"));
    assert_eq!(chain.block(vec![old]).remove(0), APPLIED);
}

fn accredit(member: Option<&str>, from_ms: u64, until_ms: u64) -> EventKind {
    EventKind::Accredit(Box::new(waybill_protocol::event::Accreditation {
        operator: waybill_protocol::Reference::new("NL000000001").unwrap(),
        member: member.map(org),
        programme: text("EU AEO"),
        tier: text("AEOF"),
        valid_from_ms: from_ms,
        valid_until_ms: until_ms,
    }))
}

#[test]
fn only_customs_accredits_and_accreditations_are_keyed_by_operator_and_member() {
    use waybill_protocol::index::{IndexKey, index_keys};
    let mut chain = MemoryChain::new();
    let (from, until) = (fixtures::NOW_MS - 86_400_000, fixtures::NOW_MS + 86_400_000);
    // A forged accreditation: the platform accrediting itself is refused at execution.
    assert_eq!(
        chain.apply(
            "platform",
            "register:aeo",
            accredit(Some("platform"), from, until)
        ),
        rejected(Rejection::NotPermitted {
            org: org("platform"),
            event_type: EventType::Accredit,
        })
    );
    let event = chain.events.event(
        "customs",
        "register:aeo",
        accredit(Some("platform"), from, until),
    );
    let keys = index_keys(&event.body);
    assert!(keys.contains(&IndexKey::Operator(
        waybill_protocol::Reference::new("NL000000001").unwrap()
    )));
    assert!(keys.contains(&IndexKey::Member(org("platform"))));
    assert_eq!(chain.block(vec![event]).remove(0), APPLIED);
    let revoke = EventKind::RevokeAccreditation(Box::new(waybill_protocol::event::Revocation {
        operator: waybill_protocol::Reference::new("NL000000001").unwrap(),
        member: Some(org("platform")),
        programme: text("EU AEO"),
        effective_ms: fixtures::NOW_MS,
        reason: text("audit"),
    }));
    assert_eq!(
        chain.apply("carrier-a", "register:aeo", revoke.clone()),
        rejected(Rejection::NotPermitted {
            org: org("carrier-a"),
            event_type: EventType::RevokeAccreditation
        })
    );
    assert_eq!(chain.apply("customs", "register:aeo", revoke), APPLIED);
    // An accreditation that ends before it starts is malformed.
    assert!(matches!(
        chain.apply("customs", "register:aeo", accredit(None, until, from)),
        EventOutcome::Rejected { rejection: Rejection::Malformed { detail } } if detail.contains("kind.valid_until_ms")
    ));
}

#[test]
fn accreditations_do_not_exist_under_older_rules() {
    use waybill_protocol::rules_version::{RulesActivation, RulesVersion};
    let mut genesis = fixtures::genesis(4);
    genesis.rules = vec![RulesActivation {
        version: RulesVersion::NONCE_WINDOW,
        from_height: 1,
    }];
    let mut chain = MemoryChain::new();
    chain.rules = waybill_protocol::rules::ChainRules::new(genesis).unwrap();
    chain.store = waybill_node::ledger::memory::MemoryStore::new(&chain.rules).unwrap();
    let (from, until) = (fixtures::NOW_MS - 86_400_000, fixtures::NOW_MS + 86_400_000);
    assert_eq!(
        chain.apply("customs", "register:aeo", accredit(None, from, until)),
        rejected(Rejection::NotInRules {
            event_type: EventType::Accredit,
            rules: RulesVersion::NONCE_WINDOW,
        })
    );
}

/// An EPCIS capture by `org` on `shipment`, naming `serials`, in a block of its own.
fn capture(
    chain: &mut MemoryChain,
    org: &str,
    shipment: &str,
    kind: EventKind,
    serials: &[Sgtin],
) -> EventOutcome {
    let event = chain
        .events
        .builder(org, shipment, kind)
        .epcs(serials.iter().cloned().map(Epc::Sgtin))
        .sign(&fixtures::org_keypair(org));
    chain.block(vec![event]).remove(0)
}

fn captured(meaning: Option<EventKind>, event: serde_json::Value) -> EventKind {
    EventKind::Epcis(Box::new(waybill_protocol::event::EpcisCapture {
        meaning,
        content: fixtures::epcis_content(event),
    }))
}

fn epcis(kind: &str, action: &str, biz_step: &str, serials: &[Sgtin]) -> serde_json::Value {
    let epcs: Vec<String> = serials.iter().map(fixtures::sgtin_uri).collect();
    serde_json::json!({"type": kind, "epcList": epcs, "action": action, "bizStep": biz_step})
}

#[test]
fn observations_go_on_own_registers_or_shipments_the_signer_is_party_to() {
    let mut chain = MemoryChain::new();
    let item = [fixtures::sgtin("OBS-1")];
    let seen = fixtures::epcis_observation(&item);
    // Its own register: any member, observations only.
    assert_eq!(
        capture(
            &mut chain,
            "carrier-a",
            "epcis:carrier-a",
            seen.clone(),
            &item
        ),
        APPLIED
    );
    let another = fixtures::epcis_observation(&[fixtures::sgtin("OBS-2")]);
    assert_eq!(
        capture(
            &mut chain,
            "carrier-b",
            "epcis:carrier-a",
            another.clone(),
            &[fixtures::sgtin("OBS-2")]
        ),
        rejected(Rejection::NoPartInShipment {
            org: org("carrier-b")
        })
    );
    // A shipment: only a party may observe on it, and the observation moves no custody.
    declared_and_picked_up(&mut chain, "OBS-SHIP");
    assert_eq!(
        capture(
            &mut chain,
            "carrier-b",
            "OBS-SHIP",
            another.clone(),
            &[fixtures::sgtin("OBS-2")]
        ),
        rejected(Rejection::NoPartInShipment {
            org: org("carrier-b")
        })
    );
    assert_eq!(
        capture(
            &mut chain,
            "carrier-a",
            "OBS-SHIP",
            another,
            &[fixtures::sgtin("OBS-2")]
        ),
        APPLIED
    );
    assert_eq!(
        chain.apply("carrier-a", "OBS-SHIP", hand_over("carrier-b")),
        APPLIED
    );
    assert_eq!(
        chain.apply("carrier-b", "OBS-SHIP", accept("carrier-a")),
        APPLIED
    );
}

#[test]
fn an_epcis_event_is_applied_once_whoever_captures_it() {
    let mut chain = MemoryChain::new();
    let item = [fixtures::sgtin("DUP-1")];
    let seen = fixtures::epcis_observation(&item);
    assert_eq!(
        capture(&mut chain, "brand", "epcis:brand", seen.clone(), &item),
        APPLIED
    );
    let hash = match &seen {
        EventKind::Epcis(capture) => {
            waybill_protocol::epcis::EpcisEvent::from_canonical(&capture.content.0)
                .unwrap()
                .hash()
                .ni()
        }
        _ => unreachable!(),
    };
    assert_eq!(
        capture(&mut chain, "brand", "epcis:brand", seen.clone(), &item),
        rejected(Rejection::DuplicateCapture {
            event_hash: hash.clone()
        })
    );
    assert_eq!(
        capture(&mut chain, "carrier-a", "epcis:carrier-a", seen, &item),
        rejected(Rejection::DuplicateCapture { event_hash: hash })
    );
}

#[test]
fn a_capture_with_a_meaning_follows_the_custody_rules() {
    let mut chain = MemoryChain::new();
    let item = [fixtures::sgtin("CAP-1")];
    // A brand commissions by EPCIS: the serial is then commissioned on the ledger.
    let commissioning = captured(
        Some(EventKind::Commission),
        epcis("ObjectEvent", "ADD", "commissioning", &item),
    );
    assert_eq!(
        capture(&mut chain, "brand", "CAP-STOCK", commissioning, &item),
        APPLIED
    );
    assert!(matches!(
        commission(&mut chain, "CAP-STOCK", &item),
        EventOutcome::Rejected {
            rejection: Rejection::AlreadyCommissioned { .. }
        }
    ));
    // A departure by EPCIS: only the custodian may depart.
    declared_and_picked_up(&mut chain, "CAP-SHIP");
    let departing = || {
        captured(
            Some(EventKind::Depart),
            epcis("ObjectEvent", "OBSERVE", "departing", &item),
        )
    };
    assert_eq!(
        capture(&mut chain, "carrier-b", "CAP-SHIP", departing(), &item),
        rejected(Rejection::NotCustodian {
            custodian: org("carrier-a"),
            signer: org("carrier-b")
        })
    );
    // (The same EPCIS event, refused above, was not applied: the custodian may capture it.)
    assert_eq!(
        capture(&mut chain, "carrier-a", "CAP-SHIP", departing(), &item),
        APPLIED
    );
}

#[test]
fn captures_do_not_exist_under_older_rules() {
    use waybill_protocol::rules_version::{RulesActivation, RulesVersion};
    let mut genesis = fixtures::genesis(4);
    genesis.rules = vec![RulesActivation {
        version: RulesVersion::ACCREDITATION,
        from_height: 1,
    }];
    let mut chain = MemoryChain::new();
    chain.rules = waybill_protocol::rules::ChainRules::new(genesis).unwrap();
    chain.store = waybill_node::ledger::memory::MemoryStore::new(&chain.rules).unwrap();
    let item = [fixtures::sgtin("OLD-1")];
    let departing = captured(
        Some(EventKind::Depart),
        epcis("ObjectEvent", "OBSERVE", "departing", &item),
    );
    assert_eq!(
        capture(&mut chain, "carrier-a", "OLD-SHIP", departing, &item),
        rejected(Rejection::NotInRules {
            event_type: EventType::Depart,
            rules: RulesVersion::ACCREDITATION,
        })
    );
}
