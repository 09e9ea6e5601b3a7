//! `Genesis::validate` and the genesis JSON boundary: a valid genesis passes, and each refused
//! case names the problem.
#![allow(clippy::unwrap_used)]

use waybill_protocol::event::EventType;
use waybill_protocol::execution::ShipmentState;
use waybill_protocol::fixtures;
use waybill_protocol::genesis::*;
use waybill_protocol::particulars::ParticularsPart;
use waybill_protocol::*;

fn refused(change: impl FnOnce(&mut Genesis)) -> String {
    let mut genesis = fixtures::genesis(4);
    change(&mut genesis);
    genesis.validate().unwrap_err().to_string()
}

/// A grant of `parts` to carriers on the last mile.
fn grant(parts: &[ParticularsPart]) -> Vec<ParticularsGrant> {
    vec![ParticularsGrant {
        role: Role::Carrier,
        parts: parts.to_vec(),
        when: GrantCondition::LastMile,
    }]
}

fn small_order_key() -> PublicKey {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    PublicKey(identity)
}

#[test]
fn fixture_genesis_is_valid_for_1_to_31_validators() {
    for count in [1, 4, 7, 31] {
        let genesis = fixtures::genesis(count);
        genesis.validate().unwrap();
        assert_eq!(genesis.quorum(), count * 2 / 3 + 1);
    }
}

#[test]
fn each_broken_genesis_is_refused_naming_the_problem() {
    let cases: Vec<(String, &str)> = vec![
        (
            refused(|g| g.organisations.clear()),
            "organisations: the list is empty",
        ),
        (
            refused(|g| g.validators.clear()),
            "validators: the list is empty",
        ),
        (
            refused(|g| g.organisations[1].id = fixtures::org("customs")),
            "organisations[].id: customs appears more than once",
        ),
        (
            refused(|g| g.organisations[1].signing_keys = g.organisations[0].signing_keys.clone()),
            "is used both as signing key customs#0 and as signing key platform#0",
        ),
        (
            refused(|g| {
                let key = g.organisations[2].signing_keys[0];
                g.organisations[2].signing_keys.push(key)
            }),
            "is used both as signing key carrier-a#0 and as signing key carrier-a#1",
        ),
        (
            refused(|g| g.validators[1].node_key = g.validators[0].node_key),
            "is used both as node key of validator customs-0 and as node key of validator platform-1",
        ),
        (
            refused(|g| g.validators[0].node_key = g.organisations[0].signing_keys[0]),
            "is used both as signing key customs#0 and as node key of validator customs-0",
        ),
        (
            refused(|g| g.validators[2].api_key = g.validators[2].node_key),
            "is used both as node key of validator carrier-a-2 and as API key of validator carrier-a-2",
        ),
        (refused(|g| g.read_policy.swap(0, 1)), "read_policy[].role"),
        (
            refused(|g| {
                g.read_policy[3].scopes.reverse();
            }),
            "read_policy[brand].scopes",
        ),
        (
            refused(|g| g.validators[1].name = g.validators[0].name.clone()),
            "validators[].name: customs-0 appears more than once",
        ),
        (
            refused(|g| g.validators[1].p2p_address = g.validators[0].p2p_address.clone()),
            "validators[].p2p_address",
        ),
        (
            refused(|g| g.validators[1].api_address = g.validators[0].api_address.clone()),
            "validators[].api_address",
        ),
        (
            refused(|g| g.validators[0].operator = fixtures::org("nobody")),
            "validators[0] (customs-0).operator: organisation nobody is not in the genesis",
        ),
        (
            refused(|g| g.organisations[0].signing_keys[0] = small_order_key()),
            "organisations[0] (customs).signing_keys[0]: public key 0100000000000000000000000000000000000000000000000000000000000000 is weak",
        ),
        (
            refused(|g| g.validators[2].node_key = small_order_key()),
            "validators[2] (carrier-a-2).node_key: public key",
        ),
        (
            refused(|g| {
                g.validators[2].node_key =
                    PublicKey::from_hex(&format!("02{}", "00".repeat(31))).unwrap()
            }),
            "is not a valid ed25519 curve point",
        ),
        (
            refused(|g| g.organisations[0].roles.clear()),
            "organisations[0] (customs).roles: must not be empty",
        ),
        (
            refused(|g| g.organisations[0].roles = vec![Role::Customs, Role::Customs]),
            "organisations[0] (customs).roles: Customs appears more than once",
        ),
        (
            refused(|g| g.organisations[0].roles = vec![Role::Carrier, Role::Customs]),
            "organisations[0] (customs).roles: entries must be in ascending order",
        ),
        (
            refused(|g| g.organisations[0].signing_keys.clear()),
            "organisations[0] (customs).signing_keys: must not be empty",
        ),
        (
            refused(|g| g.organisations[0].gs1_prefixes = g.organisations[4].gs1_prefixes.clone()),
            "only a brand owns GS1 company prefixes",
        ),
        (
            refused(|g| {
                g.organisations[4]
                    .gs1_prefixes
                    .push(Gs1CompanyPrefix::new("40123456").unwrap())
            }),
            "prefix 40123456 overlaps a prefix of brand",
        ),
        (
            refused(|g| g.consensus.timeout_propose_ms = 0),
            "consensus.timeout_propose_ms: 0 is outside",
        ),
        (
            refused(|g| g.consensus.block_events_max = 0),
            "consensus.block_events_max",
        ),
        (
            refused(|g| g.consensus.block_bytes_max = 1),
            "consensus.block_bytes_max",
        ),
        (
            refused(|g| g.permissions.retain(|p| p.role != Role::Brand)),
            "role brand is held by an organisation but has no permission entry",
        ),
        (
            refused(|g| g.permissions[0].event_types.push(EventType::Commission)),
            "permissions[customs].event_types: entries must be in ascending order",
        ),
        (
            refused(|g| g.particulars_grants = grant(&[ParticularsPart::Values])),
            "particulars_grants[carrier].parts: the values are never granted",
        ),
        (
            refused(|g| g.particulars_grants = grant(&[])),
            "particulars_grants[carrier].parts: must not be empty",
        ),
        (
            refused(|g| {
                g.particulars_grants =
                    grant(&[ParticularsPart::Delivery, ParticularsPart::Consignor])
            }),
            "particulars_grants[carrier].parts: entries must be in ascending order",
        ),
        (
            refused(|g| {
                g.particulars_grants = grant(&[ParticularsPart::Delivery]);
                g.particulars_grants
                    .extend(grant(&[ParticularsPart::Consignor]));
            }),
            "particulars_grants[].role: Carrier appears more than once",
        ),
    ];
    for (message, expected) in cases {
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
}

#[test]
fn unknown_role_in_json_is_refused_with_its_location() {
    let text = json::to_pretty(&fixtures::genesis(4)).replacen("\"carrier\"", "\"shipper\"", 1);
    let error = json::parse::<Genesis>(text.as_bytes()).unwrap_err();
    assert_eq!(error.path, "organisations[2].roles[0]");
    assert!(
        error.reason.contains("unknown variant `shipper`"),
        "{error}"
    );
    assert!(error.line > 1);
}

#[test]
fn unknown_field_in_json_is_refused() {
    let text = json::to_pretty(&fixtures::genesis(4)).replacen("\"chain_id\"", "\"chain\"", 1);
    let error = json::parse::<Genesis>(text.as_bytes()).unwrap_err();
    assert!(error.reason.contains("unknown field `chain`"), "{error}");
}

#[test]
fn genesis_hash_is_stable_and_changes_with_any_field() {
    let genesis = fixtures::genesis(4);
    let copy: Genesis = json::parse(json::to_pretty(&genesis).as_bytes()).unwrap();
    assert_eq!(copy.hash(), genesis.hash());
    let mut changed = genesis.clone();
    changed.consensus.timeout_prevote_ms += 1;
    assert_ne!(changed.hash(), genesis.hash());
    assert_ne!(genesis.validators_hash(), genesis.hash());
}

#[test]
fn permission_table_matches_the_design() {
    let genesis = fixtures::genesis(4);
    use EventType::*;
    let expect = |role: Role, allowed: &[EventType]| {
        for event_type in EventType::ALL {
            assert_eq!(
                genesis.may_sign(&[role], event_type),
                allowed.contains(&event_type),
                "{role} / {event_type}"
            );
        }
    };
    // Every role records EPCIS observations (issue 17): no custody effect, and only on its own
    // register or a shipment it is a party to (execution's rule, tests/custody.rs).
    expect(
        Role::Brand,
        &[Commission, Decommission, Pack, Unpack, Flag, Observe],
    );
    expect(Role::Platform, &[Declare, Pack, Unpack, Purge, Observe]);
    expect(
        Role::Carrier,
        &[
            Pack, Unpack, PickUp, HandOver, Accept, Depart, Arrive, Deliver, Return, Observe,
        ],
    );
    // Trusted-trader accreditation (issue 15) is customs' alone, like every control.
    expect(
        Role::Customs,
        &[
            RiskAssessed,
            Inspect,
            Hold,
            Release,
            Seize,
            Flag,
            Purge,
            Accredit,
            RevokeAccreditation,
            Observe,
        ],
    );
}

/// A grant applies to the organisation holding custody, while it does (and, on the last mile,
/// once customs released the shipment); never to anyone else or after delivery.
#[test]
fn a_particulars_grant_applies_only_while_its_condition_holds() {
    let mut genesis = fixtures::genesis(4);
    genesis.particulars_grants = grant(&[ParticularsPart::Delivery]);
    genesis.validate().unwrap();
    let carrier = fixtures::org("carrier-a");
    let held = ShipmentState {
        custodian: Some(carrier.clone()),
        ..ShipmentState::default()
    };
    let released = ShipmentState {
        released: true,
        ..held.clone()
    };
    let delivered = ShipmentState {
        delivered: true,
        ..released.clone()
    };
    let granted = |org: &OrgId, state: &ShipmentState, when: GrantCondition| {
        let mut genesis = genesis.clone();
        genesis.particulars_grants[0].when = when;
        genesis
            .particulars_grant(org, state)
            .map(|grant| grant.parts.clone())
    };
    let delivery = Some(vec![ParticularsPart::Delivery]);
    let cases = [
        (&carrier, &held, GrantCondition::LastMile, None),
        (
            &carrier,
            &released,
            GrantCondition::LastMile,
            delivery.clone(),
        ),
        (&carrier, &delivered, GrantCondition::LastMile, None),
        (
            &carrier,
            &held,
            GrantCondition::HoldsCustody,
            delivery.clone(),
        ),
        (&carrier, &delivered, GrantCondition::HoldsCustody, None),
        (
            &fixtures::org("carrier-b"),
            &released,
            GrantCondition::LastMile,
            None,
        ),
        // The grant is to carriers: a brand holding nothing gets nothing either way.
        (
            &fixtures::org("brand"),
            &released,
            GrantCondition::LastMile,
            None,
        ),
    ];
    for (org, state, when, expected) in cases {
        assert_eq!(
            granted(org, state, when),
            expected,
            "{org} {when} {state:?}"
        );
    }
    let custodian_brand = ShipmentState {
        custodian: Some(fixtures::org("brand")),
        released: true,
        ..ShipmentState::default()
    };
    assert_eq!(
        granted(
            &fixtures::org("brand"),
            &custodian_brand,
            GrantCondition::LastMile
        ),
        None,
        "the grant names a role, and the brand is not a carrier"
    );
}
