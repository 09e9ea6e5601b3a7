//! The foundation end to end: a testnet made by the ceremony tool is loadable by every node,
//! every organisation's key signs events that verify against the genesis alone, and the
//! permission table decides who may sign what.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use waybill_client::keystore::{self, KeystoreError};
use waybill_genesis::testnet::{self, Testnet, TestnetPlan};
use waybill_node::setup::{self, SetupError};
use waybill_protocol::event::{EventKind, RiskStatus};
use waybill_protocol::{EventBuilder, ShipmentId, fixtures};

fn make_testnet(dir: &Path, validators: usize) -> Testnet {
    testnet::create(&TestnetPlan {
        chain_id: "waybill-testnet".parse().unwrap(),
        validators,
        base_port: None,
        genesis_time_ms: fixtures::NOW_MS,
        keys_per_organisation: 1,
        particulars_grants: Vec::new(),
        block_events_max: None,
        out: dir.to_path_buf(),
    })
    .unwrap()
}

#[test]
fn every_node_of_a_testnet_loads_its_setup() {
    let temp = tempfile::tempdir().unwrap();
    let net = make_testnet(temp.path(), 4);
    for (index, config) in net.config_paths.iter().enumerate() {
        let setup = setup::load(config).unwrap();
        assert_eq!(usize::from(setup.validator_index.0), index);
        assert_eq!(setup.genesis, net.genesis);
        assert_eq!(
            setup.node_key.public_key(),
            net.genesis.validators[index].node_key
        );
    }
}

#[test]
fn node_setup_refuses_a_key_of_another_validator() {
    let temp = tempfile::tempdir().unwrap();
    let net = make_testnet(temp.path(), 2);
    let first = net.config_paths[0].parent().unwrap();
    let second = net.config_paths[1].parent().unwrap();
    fs::remove_file(first.join("node.key")).unwrap();
    fs::copy(second.join("node.key"), first.join("node.key")).unwrap();
    fs::set_permissions(first.join("node.key"), fs::Permissions::from_mode(0o600)).unwrap();
    let error = setup::load(&net.config_paths[0]).unwrap_err();
    assert!(matches!(error, SetupError::WrongNodeKey { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("the genesis gives validator customs-0 the node key")
    );
}

#[test]
fn organisation_keys_sign_events_that_verify_against_the_genesis_alone() {
    let temp = tempfile::tempdir().unwrap();
    let net = make_testnet(temp.path(), 4);
    let genesis = &net.genesis;
    let carrier = keystore::load_identity(&net.dir.join("keys/carrier-a.key"), genesis).unwrap();
    let customs = keystore::load_identity(&net.dir.join("keys/customs.key"), genesis).unwrap();
    assert_eq!(carrier.key_id.org.as_str(), "carrier-a");

    let shipment: ShipmentId = "HAWB-42".parse().unwrap();
    let pickup = EventBuilder::new(
        genesis.chain_id.clone(),
        carrier.key_id.clone(),
        1,
        shipment.clone(),
        EventKind::PickUp,
        fixtures::NOW_MS,
    )
    .sign(&carrier.keypair);
    pickup
        .body
        .validate(&genesis.chain_id, fixtures::NOW_MS)
        .unwrap();
    let signer_key = genesis.signing_key(&pickup.body.signer).unwrap();
    pickup.verify_signature(signer_key).unwrap();
    assert!(genesis.may_sign(&carrier.roles, pickup.body.kind.event_type()));

    // A carrier may not record a risk result; customs may.
    let risk = EventKind::RiskAssessed {
        status: RiskStatus::Approved,
    };
    assert!(!genesis.may_sign(&carrier.roles, risk.event_type()));
    assert!(genesis.may_sign(&customs.roles, risk.event_type()));

    // The same event under a key the genesis does not list for that signer does not verify.
    let forged = EventBuilder::new(
        genesis.chain_id.clone(),
        carrier.key_id.clone(),
        2,
        shipment,
        EventKind::Deliver,
        fixtures::NOW_MS,
    )
    .sign(&customs.keypair);
    assert!(forged.verify_signature(signer_key).is_err());
}

#[test]
fn a_key_outside_the_genesis_is_refused_by_the_keystore() {
    let temp = tempfile::tempdir().unwrap();
    let net = make_testnet(&temp.path().join("a"), 1);
    let other = make_testnet(&temp.path().join("b"), 1);
    let error =
        keystore::load_identity(&other.dir.join("keys/customs.key"), &net.genesis).unwrap_err();
    assert!(
        matches!(error, KeystoreError::NotInGenesis { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(
        "is not an event signing key of any organisation in genesis chain waybill-testnet"
    ));
}
