//! EPCIS 2.0 through the ledger, with the `waybill` command line on a 4-node network: every one
//! of GS1's official examples imported (`import-epcis`), the register exported
//! (`export-epcis`), the export valid against GS1's JSON schema and each event in it meaning
//! what the original meant, field by field; a second capture of an event is a duplicate; and a
//! document that breaks the standard commits nothing and names the event and the field.
//!
//! GS1's examples and schema are read in place from `../shared/testdata/epcis` (third-party
//! files the project does not copy).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use waybill_protocol::epcis::{Context, read_document, semantic_form};
use waybill_tests::cluster::{Cluster, workspace_binary};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/epcis")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A document's events as written, each with the context it is read in.
fn written_events(document: &Value) -> Vec<(Value, Context)> {
    let mut context = Context::default();
    context.extend(&document["@context"]).unwrap();
    let list = document
        .pointer("/epcisBody/eventList")
        .or_else(|| document.pointer("/epcisBody/queryResults/resultsBody/eventList"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| vec![document.clone()]);
    list.into_iter()
        .map(|event| (event, context.clone()))
        .collect()
}

#[test]
fn gs1s_examples_go_through_the_ledger_unchanged_and_bad_documents_commit_nothing() {
    let cluster = Cluster::start(4);
    let genesis = cluster.testnet.genesis_path.to_str().unwrap().to_string();
    let key = cluster.testnet.dir.join("keys/carrier-a.key");
    let key = key.to_str().unwrap().to_string();
    let run = |node: usize, args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--node",
            &cluster.api[node],
            "--genesis",
            &genesis,
            "--key",
            &key,
        ]);
        Command::new(workspace_binary("waybill"))
            .args(&all)
            .env_remove("WAYBILL_NODE")
            .env_remove("WAYBILL_GENESIS")
            .output()
            .unwrap()
    };

    // A document with one impossible date among good events: nothing is signed or submitted.
    let mut broken = read_json(&testdata().join("examples/Example_9.6.1-ObjectEvent.jsonld"));
    broken["epcisBody"]["eventList"][1]["eventTime"] = "2005-02-30T20:33:31.116-06:00".into();
    let broken_path = cluster.dir.path().join("broken.jsonld");
    std::fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    let refused = run(0, &["import-epcis", broken_path.to_str().unwrap()]);
    let shown = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("event 1 at /epcisBody/eventList/1/eventTime")
            && shown.contains("nothing was signed"),
        "{shown}"
    );

    // Every example, imported as carrier-a's observations. An event already captured (the
    // same event in another example, in any spelling) is a duplicate and is not applied again.
    let mut examples: Vec<PathBuf> = std::fs::read_dir(testdata().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    examples.sort();
    let mut first_capture: BTreeMap<String, (Value, Context)> = BTreeMap::new();
    let (mut events_seen, mut duplicates_seen) = (0, 0);
    assert!(examples.len() >= 41, "{} examples", examples.len());
    for (number, path) in examples.iter().enumerate() {
        let document = read_json(path);
        let events = read_document(&document).unwrap();
        let mut expected_duplicates = 0;
        for (event, written) in events.iter().zip(written_events(&document)) {
            let hash = event.hash().ni();
            match first_capture.entry(hash) {
                std::collections::btree_map::Entry::Occupied(_) => expected_duplicates += 1,
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(written);
                }
            }
        }
        events_seen += events.len();
        duplicates_seen += expected_duplicates;
        let imported = run(number % 4, &["import-epcis", path.to_str().unwrap()]);
        let shown = text(&imported);
        let committed = events.len() - expected_duplicates;
        assert!(
            shown.contains(&format!(
                "imported and committed {committed} of {} event(s)",
                events.len()
            )),
            "{}: {shown}",
            path.display()
        );
        assert_eq!(
            shown.matches("is already on the ledger").count(),
            expected_duplicates,
            "{}: {shown}",
            path.display()
        );
        assert_eq!(
            imported.status.code(),
            Some(if expected_duplicates == 0 { 0 } else { 1 })
        );
    }

    // GS1's examples repeat some events (the same ObjectEvents with a comment, with pseudo
    // headers, with Digital Link identifiers): those are the duplicates.
    assert!(
        events_seen >= 50 && duplicates_seen > 0,
        "{events_seen} events, {duplicates_seen} duplicates"
    );

    // The register, exported: valid against GS1's schema, every event captured once, each the
    // same as its original field by field.
    let exported = run(2, &["export-epcis", "epcis:carrier-a"]);
    assert_eq!(exported.status.code(), Some(0), "{}", text(&exported));
    let exported: Value = serde_json::from_slice(&exported.stdout).unwrap();
    let schema = read_json(&testdata().join("schema/EPCIS-JSON-Schema.json"));
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    if let Err(error) = validator.validate(&exported) {
        panic!(
            "the export fails GS1's schema: {error} at {}",
            error.instance_path()
        );
    }
    let back = read_document(&exported).unwrap();
    assert_eq!(back.len(), first_capture.len(), "each distinct event once");
    for (event, (written, context)) in back.iter().zip(written_events(&exported)) {
        let (original, original_context) = &first_capture[&event.hash().ni()];
        assert_eq!(
            semantic_form(&written, &context),
            semantic_form(original, original_context),
            "{}",
            event.hash().ni()
        );
    }
}
