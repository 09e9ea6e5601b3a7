use super::*;
use crate::customs::risk::Draw;
use waybill_protocol::event::{Accreditation, EventBuilder, EventKind as K, Revocation};
use waybill_protocol::{DocumentId, Reference, Text, fixtures};

thread_local! {
    /// The declarations the steps filed, as a platform would keep them.
    static FILED: std::cell::RefCell<Vec<Declaration>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn at(org: &str, nonce: u64, kind: K, time_ms: u64) -> EventBuilder {
    EventBuilder::new(
        fixtures::chain_id(),
        fixtures::key_id(org),
        nonce,
        fixtures::shipment("S"),
        kind,
        time_ms,
    )
}

fn story(steps: Vec<(&str, K)>) -> Vec<SignedEvent> {
    steps
        .into_iter()
        .enumerate()
        .map(|(n, (org, kind))| fixtures::signed_event(org, n as u64 + 1, "S", kind))
        .collect()
}

fn declare(edit: impl FnOnce(&mut Declaration)) -> (&'static str, K) {
    let mut declaration = fixtures::declaration();
    edit(&mut declaration);
    FILED.with(|filed| filed.borrow_mut().push(declaration.clone()));
    ("platform", fixtures::declared(&declaration).0)
}

/// The particulars of `events`' declaration, as an entitled reader verifies them.
fn verified(events: &[SignedEvent]) -> Option<Disclosure> {
    let summary = events.iter().find_map(|e| match e.body.kind.effective() {
        K::Declare(summary) => Some(summary.clone()),
        _ => None,
    })?;
    FILED.with(|filed| {
        filed.borrow().iter().find_map(|declaration| {
            let (_, sealed) = fixtures::declared(declaration);
            sealed
                .open(&summary)
                .ok()
                .map(|declaration| Disclosure::Verified {
                    declaration: Box::new(declaration),
                })
        })
    })
}

/// The bundled policies with random selection off, so lanes come from the score alone.
fn no_draws() -> Policies {
    let mut policies = Policies::bundled();
    policies.risk.selection.red_per_million = 0;
    policies.risk.selection.blue_per_million = 0;
    policies.risk.selection.minimum_red_per_million = 0;
    for tier in &mut policies.risk.tiers {
        tier.red_per_million = 0;
        tier.blue_per_million = 0;
    }
    policies
}

fn some_draw() -> Option<Draw> {
    Some(Draw::new(9, Hash([9; 32]), Hash([8; 32])))
}

fn decide(
    events: &[SignedEvent],
    related: Option<&[RelatedConsignment]>,
    standings: Option<&[Standing]>,
) -> ReleaseReport {
    let particulars = verified(events);
    let case = CaseFile {
        events,
        particulars: particulars.as_ref(),
        serial_audits: Some(&[]),
        related,
        prior: Some(&[]),
        standings,
        draw: some_draw(),
    };
    release_check(case, &no_draws())
}

fn clean() -> Vec<(&'static str, K)> {
    vec![
        declare(|_| {}),
        ("carrier-a", K::PickUp),
        (
            "customs",
            K::RiskAssessed {
                status: RiskStatus::Approved,
            },
        ),
    ]
}

fn rules_of(report: &ReleaseReport) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.rule).collect()
}

fn text(t: &str) -> Text {
    Text::new(t).expect("test text")
}

#[test]
fn a_clean_history_takes_the_green_lane_with_its_hits_listed() {
    let report = decide(&story(clean()), Some(&[]), Some(&[]));
    assert_eq!(
        (report.lane, report.verdict),
        (Lane::Green, Verdict::Release),
        "{report:#?}"
    );
    // Trainers are counterfeit-prone, the consignee is new, no transport document was named.
    assert_eq!(rules_of(&report), ["hs_risk", "new_consignee", "ics2"]);
    assert_eq!(report.score, 15 + 10 + 20);
    let assessment = report.assessment.expect("assessed");
    assert_eq!(assessment.jurisdiction, "EU");
    assert!(report.not_checked.is_empty(), "{:?}", report.not_checked);
}

/// A change to the clean story.
type Edit = Box<dyn Fn(&mut Vec<(&'static str, K)>)>;

#[test]
fn ledger_facts_hold_or_raise_the_lane() {
    let cases: Vec<(Edit, Lane, &str)> = vec![
        (Box::new(|s| drop(s.remove(0))), Lane::Hold, "declaration"),
        (Box::new(|s| drop(s.pop())), Lane::Hold, "risk"),
        (
            Box::new(|s| {
                s.push((
                    "customs",
                    K::RiskAssessed {
                        status: RiskStatus::DoNotLoad,
                    },
                ))
            }),
            Lane::Hold,
            "risk",
        ),
        (
            Box::new(|s| {
                s.push((
                    "customs",
                    K::RiskAssessed {
                        status: RiskStatus::RequestForInformation,
                    },
                ))
            }),
            Lane::Yellow,
            "risk",
        ),
        (
            Box::new(|s| {
                s.push((
                    "customs",
                    K::RiskAssessed {
                        status: RiskStatus::Screen,
                    },
                ))
            }),
            Lane::Red,
            "risk",
        ),
        (
            Box::new(|s| {
                s.push((
                    "customs",
                    K::Hold {
                        reason: text("x-ray"),
                    },
                ))
            }),
            Lane::Hold,
            "holds",
        ),
        (
            Box::new(|s| {
                s.push((
                    "customs",
                    K::Seize {
                        reason: text("fake"),
                    },
                ))
            }),
            Lane::Hold,
            "seizure",
        ),
        (
            Box::new(|s| {
                s.push((
                    "customs",
                    K::Inspect {
                        result: InspectionResult::Discrepancy,
                        note: text("count"),
                    },
                ))
            }),
            Lane::Hold,
            "inspection",
        ),
    ];
    for (edit, lane, rule) in cases {
        let mut steps = clean();
        edit(&mut steps);
        let report = decide(&story(steps), Some(&[]), Some(&[]));
        assert_eq!(report.lane, lane, "{rule}: {report:#?}");
        assert!(
            rules_of(&report).contains(&rule),
            "{rule}: {:?}",
            rules_of(&report)
        );
    }
    // A compliant inspection lifts the hold.
    let mut lifted = clean();
    lifted.push((
        "customs",
        K::Hold {
            reason: text("x-ray"),
        },
    ));
    lifted.push((
        "customs",
        K::Inspect {
            result: InspectionResult::Compliant,
            note: text("ok"),
        },
    ));
    assert_eq!(
        decide(&story(lifted), Some(&[]), Some(&[])).lane,
        Lane::Green
    );
}

#[test]
fn undervalued_counterfeit_prone_goods_to_a_new_consignee_go_red_with_reasons() {
    let mut steps = clean();
    steps[0] = declare(|d| d.items[0].value_minor = 300);
    let report = decide(&story(steps), Some(&[]), Some(&[]));
    assert_eq!(report.lane, Lane::Red, "{report:#?}");
    assert_eq!(
        rules_of(&report),
        ["hs_risk", "undervaluation", "new_consignee", "ics2"]
    );
    let undervalued = &report.findings[1];
    assert_eq!(undervalued.weight, 40);
    assert!(
        undervalued
            .detail
            .contains("3.00 EUR a unit, below the floor of 8.00 EUR"),
        "{}",
        undervalued.detail
    );
    assert_eq!(undervalued.events.len(), 1, "the declaration is behind it");
}

#[test]
fn custody_gaps_and_splits_add_to_the_score() {
    let mut not_picked_up = clean();
    not_picked_up.remove(1);
    let report = decide(&story(not_picked_up), Some(&[]), Some(&[]));
    assert!(rules_of(&report).contains(&"custody"));
    assert_eq!(report.lane, Lane::Yellow, "{report:#?}");
    let other = |value_minor, adverse: Vec<Hash>| RelatedConsignment {
        shipment: fixtures::shipment("OTHER"),
        value_minor,
        currency: CurrencyCode::new("EUR").expect("currency"),
        declaration: Hash([7; 32]),
        adverse,
    };
    // 89.90 + 70.00 > 150: possibly split.
    let split = decide(&story(clean()), Some(&[other(7_000, vec![])]), Some(&[]));
    assert_eq!(rules_of(&split), ["hs_risk", "split_consignment", "ics2"]);
    assert_eq!(split.lane, Lane::Yellow);
    let fine = decide(&story(clean()), Some(&[other(5_000, vec![])]), Some(&[]));
    assert_eq!(rules_of(&fine), ["hs_risk", "ics2"]);
    // A seizure in another consignment to the consignee counts against this one.
    let prior = decide(
        &story(clean()),
        Some(&[other(20_000, vec![Hash([5; 32])])]),
        Some(&[]),
    );
    assert!(
        rules_of(&prior).contains(&"prior_findings"),
        "{:?}",
        rules_of(&prior)
    );
    assert_eq!(prior.lane, Lane::Red);
}

#[test]
fn withheld_or_purged_particulars_are_a_data_gap_that_holds() {
    let events = story(clean());
    let cases = [
        Disclosure::Withheld {
            reason: "not entitled".into(),
        },
        Disclosure::Purged {
            detail: "private data purged at height 7 by platform".into(),
        },
        Disclosure::Forged {
            reason: "hash mismatch".into(),
        },
    ];
    for particulars in cases {
        let case = CaseFile {
            events: &events,
            particulars: Some(&particulars),
            serial_audits: None,
            related: None,
            prior: None,
            standings: None,
            draw: some_draw(),
        };
        let report = release_check(case, &no_draws());
        assert_eq!(report.lane, Lane::Hold, "{particulars:?}");
        assert_eq!(report.findings[0].rule, "particulars");
        assert!(report.findings[0].detail.contains("never a pass"));
        assert_eq!(report.not_checked.len(), 3, "{:?}", report.not_checked);
    }
}

#[test]
fn a_suspect_serial_holds_and_a_data_gap_adds_a_little() {
    use crate::audit::{AuditClass, AuditFinding, AuditReport};
    let audit = |class, rule| AuditReport {
        serial: fixtures::sgtin("S1"),
        class,
        findings: vec![AuditFinding {
            rule,
            class,
            detail: "test".into(),
            events: vec![],
        }],
    };
    let events = story(clean());
    let particulars = verified(&events);
    let with = |audits: &[AuditReport]| {
        let case = CaseFile {
            events: &events,
            particulars: particulars.as_ref(),
            serial_audits: Some(audits),
            related: Some(&[]),
            prior: Some(&[]),
            standings: Some(&[]),
            draw: some_draw(),
        };
        release_check(case, &no_draws())
    };
    let suspect = with(&[audit(AuditClass::Suspect, "never_commissioned")]);
    assert_eq!(suspect.lane, Lane::Hold);
    assert!(
        suspect
            .findings
            .iter()
            .any(|f| f.rule == "serial" && f.detail.contains("never_commissioned"))
    );
    let gap = with(&[audit(AuditClass::DataGap, "no_locations")]);
    assert_eq!((gap.lane, gap.score), (Lane::Green, 45 + 5));
}

fn accreditation(operator: &str, programme: &str, tier: &str, from_ms: u64, until_ms: u64) -> K {
    K::Accredit(Box::new(Accreditation {
        operator: Reference::new(operator).expect("registration"),
        member: Some(fixtures::org("platform")),
        programme: text(programme),
        tier: text(tier),
        valid_from_ms: from_ms,
        valid_until_ms: until_ms,
    }))
}

#[test]
fn tiers_count_while_in_force_and_stop_when_revoked_or_expired() {
    use crate::customs::tiers::standings;
    let day = 86_400_000;
    let now = fixtures::NOW_MS;
    let register = |kinds: Vec<K>| -> Vec<SignedEvent> {
        kinds
            .into_iter()
            .enumerate()
            .map(|(n, k)| {
                at("customs", n as u64 + 1, k, now - 30 * day)
                    .sign(&fixtures::org_keypair("customs"))
            })
            .collect()
    };
    let aeo = accreditation(
        "NL000000001",
        "EU AEO",
        "AEOF",
        now - 365 * day,
        now + 365 * day,
    );
    let accredited = standings(&register(vec![aeo.clone()]));
    let report = decide(&story(clean()), Some(&[]), Some(&accredited));
    assert!(
        rules_of(&report).contains(&"tier"),
        "{:?}",
        rules_of(&report)
    );
    assert_eq!(report.score, 45 - 25, "the AEOF credit is taken off");
    assert_eq!(report.selection.tier.as_deref(), Some("EU AEO AEOF"));
    // Revoked from 10 days ago: no longer counts at the declaration.
    let revoke = K::RevokeAccreditation(Box::new(Revocation {
        operator: Reference::new("NL000000001").expect("registration"),
        member: Some(fixtures::org("platform")),
        programme: text("EU AEO"),
        effective_ms: now - 10 * day,
        reason: text("audit found the security standard unmet"),
    }));
    let revoked = standings(&register(vec![aeo, revoke]));
    assert_eq!(revoked[0].events.len(), 2);
    let report = decide(&story(clean()), Some(&[]), Some(&revoked));
    assert!(!rules_of(&report).contains(&"tier"));
    // Expired yesterday: no longer counts either.
    let expired = standings(&register(vec![accreditation(
        "NL000000001",
        "EU AEO",
        "AEOF",
        now - 365 * day,
        now - day,
    )]));
    let report = decide(&story(clean()), Some(&[]), Some(&expired));
    assert_eq!(report.score, 45);
    // A tier the profile does not know gives nothing.
    let unknown = standings(&register(vec![accreditation(
        "NL000000001",
        "Other",
        "gold",
        now - day,
        now + day,
    )]));
    assert_eq!(decide(&story(clean()), Some(&[]), Some(&unknown)).score, 45);
}

#[test]
fn the_draw_selects_for_red_or_blue_at_the_tiers_rates() {
    let events = story(clean());
    let particulars = verified(&events);
    let mut policies = Policies::bundled();
    let case = |draw| CaseFile {
        events: &events,
        particulars: particulars.as_ref(),
        serial_audits: Some(&[]),
        related: Some(&[]),
        prior: Some(&[]),
        standings: Some(&[]),
        draw,
    };
    let draw_of = |value| {
        Some(Draw {
            seed_height: 9,
            seed_block: Hash([1; 32]),
            declaration: Hash([2; 32]),
            value,
        })
    };
    policies.risk.selection.red_per_million = 20_000;
    policies.risk.selection.blue_per_million = 30_000;
    let red = release_check(case(draw_of(19_999)), &policies);
    assert_eq!(
        (red.lane, red.selection.selected),
        (Lane::Red, Some(Lane::Red))
    );
    assert!(rules_of(&red).contains(&"random_selection"));
    let blue = release_check(case(draw_of(20_000)), &policies);
    assert_eq!((blue.lane, blue.verdict), (Lane::Blue, Verdict::Release));
    let green = release_check(case(draw_of(50_000)), &policies);
    assert_eq!((green.lane, green.selection.selected), (Lane::Green, None));
    // Not drawable yet: not released.
    let pending = release_check(case(None), &policies);
    assert_eq!(pending.lane, Lane::Yellow);
    assert!(
        pending
            .findings
            .iter()
            .any(|f| f.detail.contains("pending"))
    );
}

#[test]
fn the_law_of_the_arrival_day_applies_once_the_goods_arrived() {
    let july = Day::parse("2026-07-02").expect("day").start_ms();
    let june = Day::parse("2026-06-20").expect("day").start_ms();
    let (_, kind) = declare(|_| {});
    let declared = at("platform", 1, kind, june).sign(&fixtures::org_keypair("platform"));
    let arrived = at("carrier-a", 2, K::Arrive, july).sign(&fixtures::org_keypair("carrier-a"));
    let declaration = fixtures::declaration();
    let before = consignment(std::slice::from_ref(&declared), &declared, &declaration);
    assert_eq!(
        (before.day.to_string(), before.day_basis),
        ("2026-06-20".into(), DayBasis::Declaration)
    );
    let events = [declared.clone(), arrived];
    let after = consignment(&events, &declared, &declaration);
    assert_eq!(
        (after.day.to_string(), after.day_basis),
        ("2026-07-02".into(), DayBasis::Arrival)
    );
    let gift = at("platform", 3, K::Depart, july)
        .biz_transaction(
            BizTransactionKind::GiftDeclaration,
            DocumentId::new("CN23-1").expect("id"),
        )
        .sign(&fixtures::org_keypair("platform"));
    assert!(consignment(&[declared.clone(), gift], &declared, &declaration).gift);
}

#[test]
fn findings_against_the_platform_consignor_or_seller_count_once_per_party() {
    let prior = |party: &str, shipment: &str, event: u8| PriorFinding {
        party: party.into(),
        shipment: fixtures::shipment(shipment),
        events: vec![Hash([event; 32])],
    };
    let events = story(clean());
    let particulars = verified(&events);
    let found = [
        prior("consignor Shenzhen Sneaker Co (CN-1)", "OLD-1", 1),
        prior("consignor Shenzhen Sneaker Co (CN-1)", "OLD-2", 2),
        prior("the declaring platform platform", "OLD-1", 1),
    ];
    let case = CaseFile {
        events: &events,
        particulars: particulars.as_ref(),
        serial_audits: Some(&[]),
        related: Some(&[]),
        prior: Some(&found),
        standings: Some(&[]),
        draw: some_draw(),
    };
    let report = release_check(case, &no_draws());
    let hits: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule == "prior_findings")
        .collect();
    assert_eq!(hits.len(), 2, "{report:#?}");
    assert_eq!((hits[0].weight, hits[0].events.len()), (45, 2));
    assert!(
        hits[0].detail.contains("OLD-1, OLD-2"),
        "{}",
        hits[0].detail
    );
    assert_eq!(report.lane, Lane::Red, "45 + 45 + 45: red");
}
