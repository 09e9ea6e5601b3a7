//! A lying node: genuine proofs, served for the wrong question or from the past, through a proxy
//! in front of an honest node. Every command that reads provenance (provenance, release-check,
//! audit, the serial and related-consignment look-ups inside them, export-epcis) must refuse,
//! naming the mismatch or the age; none may answer RELEASE or VERIFIED.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use waybill_tests::proxy::{Lie, saved_answer};
use waybill_tests::story::Story;

const GTIN: &str = "04012345000016";

fn refused(what: &str, (code, shown): &(Option<i32>, String), names: &[&str]) {
    assert_eq!(*code, Some(1), "{what}: {shown}");
    assert!(shown.contains("NOT VERIFIED"), "{what}: {shown}");
    assert!(!shown.contains("RELEASE "), "{what}: {shown}");
    for name in names {
        assert!(shown.contains(name), "{what} does not name {name}: {shown}");
    }
}

#[test]
fn a_proof_of_another_key_is_refused_by_every_command() {
    let s = Story::start();
    let honest = s.cluster.api[0].clone();
    let clean_serial = format!("{GTIN}:SN-CLEAN");
    s.step("brand", &["commission", "STOCK", "--epc", &clean_serial]);
    s.declare("CLEAN");
    s.step(
        "carrier-a",
        &["pickup", "CLEAN", "--at", "CNSZX", "--epc", &clean_serial],
    );
    s.step("carrier-a", &["handover", "CLEAN", "--to", "carrier-b"]);
    s.step("carrier-b", &["accept", "CLEAN", "--from", "carrier-a"]);
    s.step("customs", &["risk", "CLEAN", "--status", "approved"]);
    let (code, shown) = s.check(&honest, &["release-check", "CLEAN"]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.starts_with("RELEASE CLEAN"), "{shown}");
    // SUSPECT: declared, never risk-assessed; it carries a serial never commissioned.
    s.declare("SUSPECT");
    s.step(
        "carrier-a",
        &["pickup", "SUSPECT", "--epc", &format!("{GTIN}:SN-FAKE")],
    );
    let (code, shown) = s.check(&honest, &["release-check", "SUSPECT"]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.starts_with("HOLD SUSPECT"), "{shown}");

    let proxy = s.proxy();
    // The shipment's own look-up answered with the clean shipment's proof.
    proxy.lie(|path: &str| Lie::Forward(path.replace("/shipments/SUSPECT/", "/shipments/CLEAN/")));
    let names = ["shipment SUSPECT", "shipment CLEAN"];
    refused(
        "release-check",
        &s.check(&proxy.url, &["release-check", "SUSPECT"]),
        &names,
    );
    refused(
        "provenance",
        &s.check(&proxy.url, &["provenance", "SUSPECT"]),
        &names,
    );
    refused(
        "export-epcis",
        &s.check(&proxy.url, &["export-epcis", "SUSPECT"]),
        &names,
    );
    // A key never recorded, answered with a recorded one, and the other way round.
    proxy.lie(|path: &str| {
        Lie::Forward(path.replace("/shipments/NEVER-SEEN/", "/shipments/CLEAN/"))
    });
    refused(
        "provenance of an absent key",
        &s.check(&proxy.url, &["provenance", "NEVER-SEEN"]),
        &[],
    );
    proxy.lie(|path: &str| {
        Lie::Forward(path.replace("/shipments/CLEAN/", "/shipments/NEVER-SEEN/"))
    });
    refused(
        "an absence proof for a recorded key",
        &s.check(&proxy.url, &["provenance", "CLEAN"]),
        &["shipment CLEAN", "shipment NEVER-SEEN"],
    );

    // Serial look-ups: the fake serial answered with the clean one's history.
    proxy.lie(|path: &str| Lie::Forward(path.replace("/SN-FAKE/", "/SN-CLEAN/")));
    let names = ["SN-FAKE", "SN-CLEAN"];
    refused(
        "audit --serial",
        &s.check(&proxy.url, &["audit", "--serial", GTIN, "SN-FAKE"]),
        &names,
    );
    refused(
        "audit --gtin",
        &s.check(&proxy.url, &["audit", "--gtin", GTIN]),
        &names,
    );
    // The GTIN's listing itself answered with a shipment's history.
    proxy.lie(|path: &str| {
        Lie::Forward(path.replace(&format!("/gtins/{GTIN}/"), "/shipments/CLEAN/"))
    });
    refused(
        "the GTIN listing of audit --gtin",
        &s.check(&proxy.url, &["audit", "--gtin", GTIN]),
        &[&format!("GTIN {GTIN}"), "shipment CLEAN"],
    );
    proxy.lie(|path: &str| Lie::Forward(path.replace("/SN-FAKE/", "/SN-CLEAN/")));
    refused(
        "provenance --serial",
        &s.check(&proxy.url, &["provenance", "--serial", GTIN, "SN-FAKE"]),
        &names,
    );
    // Inside a release check: the shipment's own proof is honest, its item's is not.
    s.step("customs", &["risk", "SUSPECT", "--status", "approved"]);
    refused(
        "the serial inside release-check",
        &s.check(&proxy.url, &["release-check", "SUSPECT"]),
        &names,
    );

    // Related consignments: CLEAN and SUSPECT go to the same consignee, so the split rule reads
    // CLEAN's proof inside SUSPECT's check; answered with SUSPECT's own, it is refused.
    proxy.lie(|path: &str| Lie::Forward(path.replace("/shipments/CLEAN/", "/shipments/SUSPECT/")));
    refused(
        "the related consignment inside release-check",
        &s.check(&proxy.url, &["release-check", "SUSPECT"]),
        &["related shipment", "shipment CLEAN", "shipment SUSPECT"],
    );
}

#[test]
fn an_old_proof_is_refused_by_age_and_by_a_height_already_seen() {
    let s = Story::start();
    let honest = s.cluster.api[0].clone();
    let serial = format!("{GTIN}:SN-OLD");
    s.step("brand", &["commission", "STOCK", "--epc", &serial]);
    s.declare("OLD");
    s.step(
        "carrier-a",
        &["pickup", "OLD", "--at", "CNSZX", "--epc", &serial],
    );
    s.step("carrier-a", &["handover", "OLD", "--to", "carrier-b"]);
    s.step("carrier-b", &["accept", "OLD", "--from", "carrier-a"]);
    s.step("customs", &["risk", "OLD", "--status", "approved"]);
    let (code, shown) = s.check(&honest, &["release-check", "OLD", "--json"]);
    assert_eq!(code, Some(0), "{shown}");
    let seen: u64 = serde_json::from_str::<serde_json::Value>(&shown).unwrap()["height"]
        .as_u64()
        .unwrap();

    // Saved while clean; then the item turns up in a second live shipment and customs holds OLD.
    let old_serial = saved_answer(
        s.cluster.agent(),
        &honest,
        &format!("/v1/serials/{GTIN}/SN-OLD/provenance"),
    );
    let old_shipment = saved_answer(s.cluster.agent(), &honest, "/v1/shipments/OLD/provenance");
    s.declare("OTHER");
    s.step("carrier-a", &["pickup", "OTHER", "--epc", &serial]);
    let (code, shown) = s.check(&honest, &["release-check", "OLD"]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.starts_with("HOLD OLD") && shown.contains("two_live_shipments"),
        "{shown}"
    );

    let proxy = s.proxy();
    // The shipment's proof is current, its item's from before: below the height just seen.
    let replayed = old_serial.clone();
    proxy.lie(move |path: &str| {
        if path.contains("/serials/") {
            Lie::Serve(replayed.clone())
        } else {
            Lie::Forward(path.into())
        }
    });
    refused(
        "an old serial proof inside release-check",
        &s.check(&proxy.url, &["release-check", "OLD"]),
        &["SN-OLD", "below block"],
    );

    s.step("customs", &["hold", "OLD", "--reason", "second shipment"]);
    let replayed = old_shipment.clone();
    let serial_then = old_serial.clone();
    proxy.lie(move |path: &str| {
        if path.contains("/serials/") {
            Lie::Serve(serial_then.clone())
        } else {
            Lie::Serve(replayed.clone())
        }
    });
    // A caller who has seen a later block says so.
    let above = (seen + 1).to_string();
    refused(
        "an old shipment proof below --min-height",
        &s.check(
            &proxy.url,
            &["release-check", "OLD", "--min-height", &above],
        ),
        &["shipment OLD", "below block"],
    );
    refused(
        "provenance below --min-height",
        &s.check(&proxy.url, &["provenance", "OLD", "--min-height", &above]),
        &["below block"],
    );
    // Without it, age alone: the saved proof is seconds old, more than a 1 s --max-age.
    std::thread::sleep(Duration::from_millis(2_100));
    refused(
        "an old shipment proof past --max-age",
        &s.check(&proxy.url, &["release-check", "OLD", "--max-age", "1"]),
        &["shipment OLD", "ms old"],
    );
    refused(
        "an old serial proof past --max-age",
        &s.check(
            &proxy.url,
            &["audit", "--serial", GTIN, "SN-OLD", "--max-age", "1"],
        ),
        &["SN-OLD", "ms old"],
    );

    // A saved bundle is verified at any age, and its age is reported.
    let bundle = s.cluster.dir.path().join("old.json");
    std::fs::write(&bundle, &old_shipment).unwrap();
    let (code, shown) = s.check(&honest, &["verify", bundle.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("VERIFIED shipment OLD") && shown.contains(" ago"),
        "{shown}"
    );
}
