//! `waybill-node verify-chain` as an operator runs it on a stopped node's data directory.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use waybill_node::ledger::{BlockProposal, Ledger, LedgerOptions};
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::EventKind;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{ValidatorIndex, fixtures};

/// Commits `blocks` blocks of five pick-ups each, certified by the fixture validators.
fn fill(path: &Path, blocks: u64) {
    let rules = ChainRules::new(fixtures::genesis(4)).unwrap();
    let mut ledger = Ledger::open(path, rules.clone(), LedgerOptions::default()).unwrap();
    for block in 1..=blocks {
        let events = (0..5)
            .map(|i| {
                let nonce = block * 10 + i;
                let event = fixtures::signed_event(
                    "carrier-a",
                    nonce,
                    &format!("V-{block}-{i}"),
                    EventKind::PickUp,
                );
                CheckedEvent::check(&rules, event).unwrap()
            })
            .collect();
        let proposal = BlockProposal {
            time_ms: fixtures::NOW_MS + block * 1_000,
            proposer: ValidatorIndex(0),
            events,
        };
        let executed = ledger.execute(proposal).unwrap();
        let certificate = fixtures::certificate(&executed.header, 4, &[0, 1, 2]);
        ledger.commit(executed, &certificate).unwrap();
    }
}

fn genesis_file(dir: &Path, genesis: &waybill_protocol::Genesis) -> PathBuf {
    let path = dir.join(format!("genesis-{}.json", genesis.genesis_time_ms));
    std::fs::write(&path, waybill_protocol::json::to_pretty(genesis)).unwrap();
    path
}

fn verify_chain(data: &Path, genesis: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_waybill-node"))
        .args(["verify-chain", "--data"])
        .arg(data)
        .arg("--genesis")
        .arg(genesis)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[test]
fn verify_chain_passes_a_whole_chain_and_names_the_first_damaged_block() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let genesis = genesis_file(temp.path(), &fixtures::genesis(4));
    fill(&data, 6);

    let (code, text) = verify_chain(&data, &genesis);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("OK: 6 blocks, 30 events (30 applied, 0 rejected)"),
        "{text}"
    );

    // Replace block 3's first event by block 5's: still a validly signed event.
    {
        let families = rocksdb::DB::list_cf(&rocksdb::Options::default(), &data).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &data, families).unwrap();
        let events = db.cf_handle("events").unwrap();
        let key = |height: u64| [height.to_be_bytes().as_slice(), &0u32.to_be_bytes()].concat();
        let other = db.get_cf(events, key(5)).unwrap().unwrap();
        db.put_cf(events, key(3), other).unwrap();
    }
    let (code, text) = verify_chain(&data, &genesis);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAILED at block 3:"), "{text}");
}

#[test]
fn verify_chain_on_a_missing_directory_or_genesis_is_an_io_error() {
    let temp = tempfile::tempdir().unwrap();
    let genesis = genesis_file(temp.path(), &fixtures::genesis(4));
    let (code, text) = verify_chain(&temp.path().join("nothing-here"), &genesis);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("holds no ledger"), "{text}");

    let data = temp.path().join("data");
    fill(&data, 1);
    let (code, text) = verify_chain(&data, &temp.path().join("missing.json"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("missing.json: no such file"), "{text}");
}

#[test]
fn verify_chain_on_a_running_nodes_directory_says_to_stop_it() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    fill(&data, 1);
    let genesis = genesis_file(temp.path(), &fixtures::genesis(4));
    let rules = ChainRules::new(fixtures::genesis(4)).unwrap();
    let _running = Ledger::open(&data, rules, LedgerOptions::default()).unwrap();
    let (code, text) = verify_chain(&data, &genesis);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("is it still running?"), "{text}");
}

#[test]
fn verify_chain_refuses_a_ledger_of_another_genesis() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    fill(&data, 2);
    let mut other = fixtures::genesis(4);
    other.genesis_time_ms += 1;
    let (code, text) = verify_chain(&data, &genesis_file(temp.path(), &other));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("belongs to genesis"), "{text}");
}
