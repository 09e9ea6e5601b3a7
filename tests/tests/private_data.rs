//! Issue 13: a declaration's private particulars reach only the nodes entitled to them, point
//! to point, and a purge leaves no byte of them on any disk, while every proof still verifies.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use waybill_client::disclosure::Disclosure;
use waybill_protocol::event::{Declaration, EventKind};
use waybill_protocol::{PartyName, fixtures};
use waybill_tests::cluster::Cluster;

const COMMIT_WAIT: Duration = Duration::from_secs(30);
/// A consignee name no other test, fixture or key contains.
const MARKER: &str = "Qwzx Marker-7f3a9c Privatperson";

/// Every way the node could have written the marker: UTF-8 (RocksDB, JSON, logs), UTF-16
/// either way round, and hex of its UTF-8.
fn encodings(marker: &str) -> Vec<Vec<u8>> {
    let utf16le: Vec<u8> = marker.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = marker.encode_utf16().flat_map(u16::to_be_bytes).collect();
    vec![
        marker.as_bytes().to_vec(),
        utf16le,
        utf16be,
        hex::encode(marker.as_bytes()).into_bytes(),
    ]
}

/// Files under `dir` (recursively) that hold any encoding of `marker`.
fn files_with(dir: &Path, marker: &str) -> Vec<String> {
    let needles = encodings(marker);
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if needles
                .iter()
                .any(|needle| bytes.windows(needle.len()).any(|w| w == needle.as_slice()))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn marked_declaration() -> Declaration {
    let mut declaration = fixtures::declaration();
    declaration.consignee.name = PartyName::new(MARKER).expect("marker name");
    declaration
}

fn id_of(answer: &waybill_tests::cluster::Answer) -> String {
    answer.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {:?}", answer.body))
        .to_string()
}

/// The particulars of `shipment` as `org` reads them at `node`, through the SDK.
fn disclosed(cluster: &Cluster, node: usize, org: &str, shipment: &str) -> Option<Disclosure> {
    let client = cluster.node_client(node, Some(org));
    let rules =
        waybill_protocol::rules::ChainRules::new(cluster.testnet.genesis.clone()).expect("rules");
    let reader = waybill_client::answer::ProvenanceReader::new(&client, &rules, None, 0);
    let answer = reader
        .shipment(&fixtures::shipment(shipment))
        .expect("provenance verifies");
    reader.particulars(&answer).expect("particulars answer")
}

#[test]
fn particulars_reach_only_entitled_nodes_and_a_purge_leaves_no_byte_of_them() {
    let mut cluster = Cluster::start(4);
    // Nodes 0 and 1 are run by customs and the platform; 2 and 3 by the carriers.
    let kind = waybill_tests::file_declaration(&marked_declaration());
    let declare = cluster.event("platform", "PRIV-1", kind);
    // Filed at a carrier's node: refused before anything is written, naming who may take it.
    let misdirected = cluster.submit(2, &declare);
    assert_eq!(misdirected.status, 421, "{:?}", misdirected.body);
    assert_eq!(misdirected.body["error"], "not_a_holder");
    let message = misdirected.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("customs-0") && message.contains("platform-1"),
        "{message}"
    );
    // Filed at the platform's own node: customs' node gets them point to point.
    let declared = id_of(&cluster.submit(1, &declare));
    // The brand's serial rides along, so the brand may read the shipment (not its particulars).
    let serial = waybill_protocol::event::Epc::Sgtin(fixtures::sgtin("PRIV-1"));
    let pick_up = cluster.event_with_epcs("carrier-a", "PRIV-1", EventKind::PickUp, vec![serial]);
    let picked = id_of(&cluster.submit(3, &pick_up));
    cluster.wait_until(COMMIT_WAIT, "the declaration committed everywhere", |c| {
        (0..4).all(|node| c.committed_on(node, &declared) && c.committed_on(node, &picked))
    });
    cluster.wait_until(COMMIT_WAIT, "customs' node received the particulars", |c| {
        c.get(0, "/v1/shipments/PRIV-1/particulars")
            .is_some_and(|a| a.body["state"] == "disclosed")
    });
    for (node, org) in [(0, "customs"), (1, "platform"), (0, "platform")] {
        let disclosure = disclosed(&cluster, node, org, "PRIV-1");
        let declaration = disclosure
            .as_ref()
            .and_then(Disclosure::declaration)
            .unwrap_or_else(|| panic!("{org} at node {node}: {disclosure:?}"));
        assert_eq!(declaration.consignee.name.as_str(), MARKER);
    }
    for (node, org) in [(0, "carrier-a"), (0, "brand"), (3, "customs")] {
        let disclosure = disclosed(&cluster, node, org, "PRIV-1");
        assert!(
            matches!(disclosure, Some(Disclosure::Withheld { .. })),
            "{org} at node {node}: {disclosure:?}"
        );
    }
    let carrier_reads = cluster
        .get_as(0, Some("carrier-a"), "/v1/shipments/PRIV-1/particulars")
        .expect("an answer");
    assert_eq!(carrier_reads.status, 403, "{:?}", carrier_reads.body);

    for node in [2, 3] {
        let found = files_with(&cluster.data_dir(node), MARKER);
        assert!(
            found.is_empty(),
            "carrier node {node} holds the marker in {found:?}"
        );
    }
    for node in [0, 1] {
        let found = files_with(&cluster.data_dir(node), MARKER);
        assert!(!found.is_empty(), "node {node} should hold the particulars");
    }

    // The platform answers an erasure request.
    let commitment = match &declare.body.kind {
        EventKind::Declare(summary) => summary.particulars,
        _ => unreachable!("a declaration"),
    };
    let purge = cluster.event(
        "platform",
        "PRIV-1",
        EventKind::Purge {
            particulars: commitment,
        },
    );
    let purged = id_of(&cluster.submit(0, &purge));
    cluster.wait_until(COMMIT_WAIT, "the purge committed everywhere", |c| {
        (0..4).all(|node| c.committed_on(node, &purged))
    });
    cluster.wait_until(COMMIT_WAIT, "no byte of the particulars on any disk", |c| {
        (0..4).all(|node| files_with(&c.data_dir(node), MARKER).is_empty())
    });
    for node in 0..4 {
        let disclosure = disclosed(&cluster, node, "customs", "PRIV-1");
        match disclosure {
            Some(Disclosure::Purged { detail }) => {
                assert!(
                    detail.contains("purged at height") && detail.contains("platform"),
                    "{detail}"
                )
            }
            other => panic!("node {node}: {other:?}"),
        }
    }
    cluster.stop_all_and_verify_chains();
    for node in 0..4 {
        let found = files_with(&cluster.data_dir(node), MARKER);
        assert!(found.is_empty(), "node {node} after stopping: {found:?}");
    }
}

/// The genesis retention period erases particulars at every holder as block time passes it,
/// with no purge event; the SDK then reports them purged by retention, from the proof alone.
/// Before that, particulars that are not the committed ones are reported as forged.
#[test]
fn the_retention_period_erases_particulars_without_a_purge_event() {
    use waybill_client::disclosure::{ParticularsAnswer, disclose};
    use waybill_node::ledger::{Ledger, LedgerOptions};
    use waybill_node::private::PrivateStore;
    use waybill_protocol::index::IndexKey;

    let dir = tempfile::tempdir().unwrap();
    let mut genesis = fixtures::genesis(4);
    genesis.particulars_retention_days = Some(1);
    let rules = waybill_protocol::rules::ChainRules::new(genesis).unwrap();
    let mut ledger = Ledger::open(
        &dir.path().join("ledger"),
        rules.clone(),
        LedgerOptions::default(),
    )
    .unwrap();
    let store = PrivateStore::open(&dir.path().join("private"), fixtures::org("customs")).unwrap();
    let (kind, sealed) = fixtures::declared(&marked_declaration());
    let mut factory = waybill_tests::EventFactory::new();
    let event = factory.event("platform", "RET-1", kind);
    store
        .deposit(&event, &sealed.commitment(), &sealed)
        .unwrap();
    let declared_at = fixtures::NOW_MS + 1_000;
    waybill_tests::commit_block(&mut ledger, vec![event], declared_at).unwrap();
    waybill_tests::certify_tip(&mut ledger).unwrap();
    while store.follow_next(&ledger).unwrap().is_some() {}
    let shipment = fixtures::shipment("RET-1");
    let key = IndexKey::Shipment(shipment.clone());
    let held = store.committed(&shipment, &sealed.commitment()).unwrap();
    assert!(held.is_some(), "deposited and committed: held");

    let proof = ledger.provenance(&key).unwrap();
    let opened = disclose(
        &proof,
        &rules,
        ParticularsAnswer::Disclosed(Box::new(sealed.clone())),
    );
    assert!(
        matches!(opened, Some(Disclosure::Verified { .. })),
        "{opened:?}"
    );
    let mut altered = sealed.clone();
    altered.particulars.consignee.name = PartyName::new("Someone Else").unwrap();
    let forged = disclose(
        &proof,
        &rules,
        ParticularsAnswer::Disclosed(Box::new(altered)),
    );
    assert!(
        matches!(forged, Some(Disclosure::Forged { .. })),
        "{forged:?}"
    );
    let claimed = disclose(&proof, &rules, ParticularsAnswer::Purged);
    assert!(
        matches!(claimed, Some(Disclosure::Withheld { .. })),
        "a node's word that they were purged is not a proof: {claimed:?}"
    );

    // A day after the declaration, the next block passes the retention period.
    let later = fixtures::NOW_MS + 1_000 + 86_400_000 + 1;
    waybill_tests::commit_block(&mut ledger, vec![], later).unwrap();
    let followed = store.follow_next(&ledger).unwrap().unwrap();
    assert_eq!(followed.erased, 1);
    store.scrub().unwrap();
    assert!(
        store
            .committed(&shipment, &sealed.commitment())
            .unwrap()
            .is_none()
    );
    drop(store);
    let found = files_with(&dir.path().join("private"), MARKER);
    assert!(found.is_empty(), "after the retention period: {found:?}");
    waybill_tests::certify_tip(&mut ledger).unwrap();
    let proof = ledger.provenance(&key).unwrap();
    match disclose(
        &proof,
        &rules,
        ParticularsAnswer::NotGiven {
            reason: "gone".into(),
        },
    ) {
        Some(Disclosure::Purged { detail }) => assert!(detail.contains("retention"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

/// A genesis grant gives the carrier on the last mile the delivery address, opened against the
/// ledger's commitment by the SDK, and nothing else of the particulars; before customs released
/// the shipment, to another carrier and after delivery, the route refuses.
#[test]
fn a_granted_carrier_reads_only_the_delivery_address_and_only_on_the_last_mile() {
    use waybill_protocol::event::RiskStatus;
    use waybill_protocol::particulars::{PartValue, ParticularsPart};

    // One validator, run by customs: it holds the particulars and answers every reader.
    let mut cluster =
        Cluster::start_with_grants(1, waybill_genesis::testnet::last_mile_delivery_grant());
    let path = "/v1/shipments/MILE-1/particulars";
    let kind = waybill_tests::file_declaration(&marked_declaration());
    let declare = cluster.event("platform", "MILE-1", kind);
    let pick_up = cluster.pick_up("MILE-1");
    let submitted = [
        id_of(&cluster.submit(0, &declare)),
        id_of(&cluster.submit(0, &pick_up)),
    ];
    let committed = |cluster: &mut Cluster, ids: &[String]| {
        cluster.wait_until(COMMIT_WAIT, "the events committed", |c| {
            ids.iter().all(|id| c.committed_on(0, id))
        })
    };
    committed(&mut cluster, &submitted);
    let refused = |cluster: &Cluster, org: &str| {
        let answer = cluster.get_as(0, Some(org), path).expect("an answer");
        assert_eq!(answer.status, 403, "{org}: {:?}", answer.body);
        answer.body["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before_release = refused(&cluster, "carrier-a");
    assert!(
        before_release.contains("particulars_grants"),
        "{before_release}"
    );

    let approve = cluster.event(
        "customs",
        "MILE-1",
        EventKind::RiskAssessed {
            status: RiskStatus::Approved,
        },
    );
    let release = cluster.event("customs", "MILE-1", EventKind::Release);
    let released = [
        id_of(&cluster.submit(0, &approve)),
        id_of(&cluster.submit(0, &release)),
    ];
    committed(&mut cluster, &released);

    let answer = cluster
        .get_as(0, Some("carrier-a"), path)
        .expect("an answer");
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["state"], "disclosed_in_part");
    assert!(answer.body.get("sealed").is_none(), "{:?}", answer.body);
    let text = answer.body.to_string();
    let salt = waybill_tests::filed_particulars(&declare)
        .expect("filed")
        .salt;
    let salt = serde_json::to_value(salt).unwrap();
    let salt = salt.as_str().unwrap();
    for absent in [salt, "values_minor", "Shenzhen Sneaker Co", "IM1234567890"] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    match disclosed(&cluster, 0, "carrier-a", "MILE-1") {
        Some(Disclosure::VerifiedInPart {
            parts, withheld, ..
        }) => {
            let [PartValue::Delivery(delivery)] = parts.as_slice() else {
                panic!("the delivery part only: {parts:?}");
            };
            assert_eq!(delivery.name.as_str(), MARKER);
            assert!(withheld.contains(&ParticularsPart::Values), "{withheld:?}");
        }
        other => panic!("carrier-a on the last mile: {other:?}"),
    }
    // The whole particulars still go to customs; another carrier gets none.
    let customs = disclosed(&cluster, 0, "customs", "MILE-1");
    assert!(
        customs.as_ref().and_then(Disclosure::declaration).is_some(),
        "{customs:?}"
    );
    refused(&cluster, "carrier-b");

    let deliver = cluster.event("carrier-a", "MILE-1", EventKind::Deliver);
    let delivered = [id_of(&cluster.submit(0, &deliver))];
    committed(&mut cluster, &delivered);
    refused(&cluster, "carrier-a");
    cluster.stop_all_and_verify_chains();
}
