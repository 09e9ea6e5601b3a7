//! A declaration's particulars are committed to part by part (issue 13), so a grant can open
//! one part (the delivery address) and the reader checks it against the ledger without
//! learning the others.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use waybill_protocol::fixtures;
use waybill_protocol::particulars::*;
use waybill_protocol::{Hash, PartyName};

fn sealed() -> (DeclarationSummary, SealedParticulars) {
    fixtures::declaration().seal(Salt([7; 32]))
}

/// Pins the commitment scheme: the same declaration and salt give these bytes on every node.
#[test]
fn the_commitment_of_the_fixture_declaration_is_pinned() {
    let (summary, sealed) = sealed();
    assert_eq!(summary.particulars, sealed.commitment());
    assert_eq!(
        summary.particulars.to_string(),
        "00b740fcd9a1b397dd1152cc508fef5d9a6989811fdc0527a27aa5c9d1a1151c",
        "the particulars commitment changed: a new scheme needs a new tag"
    );
}

#[test]
fn a_granted_part_opens_against_the_commitment_and_shows_nothing_else() {
    let (summary, sealed) = sealed();
    let disclosed = sealed.disclose(&[ParticularsPart::Delivery]);
    let opened = disclosed.open(&summary).unwrap();
    let [PartValue::Delivery(delivery)] = opened.as_slice() else {
        panic!("only the delivery part: {opened:?}");
    };
    assert_eq!(delivery.name.as_str(), "J. Jansen");
    assert_eq!(disclosed.sealed.len(), ParticularsPart::ALL.len() - 1);
    // Neither the declaration's salt, nor the consignor, the value or the IOSS number travel.
    let json = serde_json::to_string(&disclosed).unwrap();
    for secret in [
        hex::encode([7u8; 32]).as_str(),
        "Shenzhen Sneaker Co",
        "8990",
        "IM1234567890",
    ] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
}

#[test]
fn every_part_has_its_own_salt_and_none_is_the_declarations() {
    let (_, sealed) = sealed();
    let salts: BTreeSet<[u8; 32]> = ParticularsPart::ALL
        .iter()
        .map(|part| sealed.part_salt(*part).0)
        .collect();
    assert_eq!(salts.len(), ParticularsPart::ALL.len());
    assert!(!salts.contains(&sealed.salt.0));
}

#[test]
fn opening_all_parts_or_none_verifies_the_same_commitment() {
    let (summary, sealed) = sealed();
    let all = sealed.disclose(&ParticularsPart::ALL);
    assert_eq!(
        all.open(&summary).unwrap().len(),
        ParticularsPart::ALL.len()
    );
    let none = sealed.disclose(&[]);
    assert!(none.open(&summary).unwrap().is_empty());
}

#[test]
fn an_altered_relabelled_repeated_or_missing_part_is_refused_by_name() {
    let (summary, sealed) = sealed();
    let granted = sealed.disclose(&[ParticularsPart::Delivery]);

    let mut altered = granted.clone();
    let PartValue::Delivery(delivery) = &mut altered.opened[0].value else {
        panic!("delivery first");
    };
    delivery.name = PartyName::new("Someone Else").unwrap();
    assert!(matches!(
        altered.open(&summary),
        Err(ParticularsError::NotCommitted { .. })
    ));

    // The sealed parts may come in any order, but a part's commitment presented as another
    // part's does not add up.
    let mut relabelled = granted.clone();
    relabelled.sealed.reverse();
    assert!(relabelled.open(&summary).is_ok());
    let (first, second) = (relabelled.sealed[0].part, relabelled.sealed[1].part);
    relabelled.sealed[0].part = second;
    relabelled.sealed[1].part = first;
    assert!(matches!(
        relabelled.open(&summary),
        Err(ParticularsError::NotCommitted { .. })
    ));

    let mut repeated = granted.clone();
    repeated.sealed.push(SealedPart {
        part: ParticularsPart::Delivery,
        commitment: Hash::ZERO,
    });
    let error = repeated.open(&summary).unwrap_err();
    assert_eq!(error.to_string(), "parts: part delivery is given twice");

    let mut missing = granted;
    missing
        .sealed
        .retain(|sealed| sealed.part != ParticularsPart::Values);
    let error = missing.open(&summary).unwrap_err();
    assert_eq!(
        error.to_string(),
        "parts: part values is missing (neither opened nor sealed)"
    );
}

#[test]
fn opened_values_must_fit_the_goods_lines_they_commit_to() {
    let (mut summary, sealed) = sealed();
    summary.goods.clear();
    let values = sealed.disclose(&[ParticularsPart::Values]);
    assert!(matches!(
        values.open(&summary),
        Err(ParticularsError::ValueCount {
            values: 1,
            lines: 0
        })
    ));
}
