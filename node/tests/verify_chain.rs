//! `waybill-node verify-chain` as an operator runs it on a stopped node's data directory.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use waybill_node::ledger::{Ledger, LedgerOptions};
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::EventKind;
use waybill_protocol::execution::{EventOutcome, Rejection};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::rules_version::{RulesActivation, RulesVersion};
use waybill_protocol::{ValidatorIndex, fixtures};

/// Commits `blocks` blocks of five pick-ups each, certified by the fixture validators.
fn fill(path: &Path, blocks: u64) {
    fill_under(path, fixtures::genesis(4), blocks, |i| i);
}

/// As [`fill`] under `genesis`, the nonces of each block's five events in the order `order`
/// gives position `i` (0 to 4); every outcome is returned, block by block.
fn fill_under(
    path: &Path,
    genesis: waybill_protocol::Genesis,
    blocks: u64,
    order: impl Fn(u64) -> u64,
) -> Vec<Vec<EventOutcome>> {
    let rules = ChainRules::new(genesis).unwrap();
    let mut ledger = Ledger::open(path, rules.clone(), LedgerOptions::default()).unwrap();
    let mut outcomes = Vec::new();
    for block in 1..=blocks {
        let events = (0..5)
            .map(|i| {
                let nonce = block * 10 + order(i);
                let event = fixtures::signed_event(
                    "carrier-a",
                    nonce,
                    &format!("V-{block}-{i}"),
                    EventKind::PickUp,
                );
                CheckedEvent::check(&rules, event).unwrap()
            })
            .collect();
        let time_ms = fixtures::NOW_MS + block * 1_000;
        let proposal = ledger.proposal(time_ms, ValidatorIndex(0), events).unwrap();
        let executed = ledger.execute(proposal).unwrap();
        let certificate = fixtures::certificate(&executed.header, 4, &[0, 1, 2]);
        outcomes.push(executed.outcomes.clone());
        ledger.commit(executed, &certificate).unwrap();
    }
    outcomes
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

/// A genesis that runs rules version 1 (strictly increasing nonces) for blocks 1 to 3 and
/// version 2 (the nonce window) from block 4: the same out-of-order nonces are refused as
/// replays before the switch and applied after it, and the whole chain re-executes and
/// verifies, each block under its own rules.
#[test]
fn a_chain_written_under_rules_1_and_then_2_verifies_under_both() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut genesis = fixtures::genesis(4);
    genesis.rules = vec![
        RulesActivation {
            version: RulesVersion::STRICT_NONCES,
            from_height: 1,
        },
        RulesActivation {
            version: RulesVersion::NONCE_WINDOW,
            from_height: 4,
        },
    ];
    // Nonces 4, 3, 2, 1, 0 (plus the block's tens) in each block: all but the first overtaken.
    let outcomes = fill_under(&data, genesis.clone(), 6, |i| 4 - i);
    let applied = |block: &Vec<EventOutcome>| {
        block
            .iter()
            .filter(|o| **o == EventOutcome::Applied)
            .count()
    };
    for (height, block) in outcomes.iter().enumerate().map(|(i, b)| (i + 1, b)) {
        let expected = if height < 4 { 1 } else { 5 };
        assert_eq!(applied(block), expected, "block {height}: {block:?}");
        if height < 4 {
            assert!(
                matches!(
                    &block[1],
                    EventOutcome::Rejected {
                        rejection: Rejection::Replay { .. }
                    }
                ),
                "{block:?}"
            );
        }
    }
    let path = genesis_file(temp.path(), &genesis);
    let (code, text) = verify_chain(&data, &path);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("OK: 6 blocks, 30 events (18 applied, 12 rejected)"),
        "{text}"
    );
    assert!(
        text.contains("rules 1: 3 blocks; rules 2: 3 blocks"),
        "{text}"
    );
}

/// Every block below the tip keeps the certificate the next block carries: a node that stored
/// another valid quorum for block 3 (say, the precommits it heard itself) is caught.
#[test]
fn verify_chain_requires_the_certificate_the_next_block_carries() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let genesis = genesis_file(temp.path(), &fixtures::genesis(4));
    fill(&data, 5);
    let header = {
        let rules = ChainRules::new(fixtures::genesis(4)).unwrap();
        let ledger = Ledger::open(&data, rules, LedgerOptions::default()).unwrap();
        ledger.header(3).unwrap().unwrap()
    };
    {
        let families = rocksdb::DB::list_cf(&rocksdb::Options::default(), &data).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &data, families).unwrap();
        let certificates = db.cf_handle("certificates").unwrap();
        let other_quorum = fixtures::certificate(&header, 4, &[1, 2, 3]);
        db.put_cf(
            certificates,
            3u64.to_be_bytes(),
            waybill_protocol::codec::encode(&other_quorum),
        )
        .unwrap();
    }
    let (code, text) = verify_chain(&data, &genesis);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAILED at block 4:") && text.contains("last_commit_hash"),
        "{text}"
    );
}
