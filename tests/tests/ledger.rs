//! The ledger's storage guarantees: the authenticated map's version and pruning rules, and
//! `verify-chain` and `open` refusing damaged data with a message that says where.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use waybill_node::ledger::authenticated_map::{self, MapStorage, RecordChange, VersionedValue};
use waybill_node::ledger::memory::MemoryStore;
use waybill_node::ledger::{Ledger, LedgerError, LedgerOptions};
use waybill_protocol::event::EventKind;
use waybill_protocol::fixtures;
use waybill_protocol::index::{IndexKey, KeyRecord};
use waybill_tests::{EventFactory, commit_block, open_ledger, rules};

/// Blocks alternate between ones that change the map (new pick-ups, departures) and ones whose
/// only event is rejected (the map version changes nothing), so pruning meets both.
fn fill(ledger: &mut Ledger, blocks: u64) {
    let mut factory = EventFactory::new();
    for block in 1..=blocks {
        let time_ms = ledger.tip().time_ms.max(fixtures::NOW_MS) + 1_000;
        factory.time_ms = time_ms;
        let events = if block % 3 == 0 {
            vec![factory.event("carrier-b", "L-0", EventKind::Depart)]
        } else {
            (0..5)
                .map(|i| {
                    let kind = if block == 1 {
                        EventKind::PickUp
                    } else {
                        EventKind::Depart
                    };
                    factory.event("carrier-a", &format!("L-{i}"), kind)
                })
                .collect()
        };
        commit_block(ledger, events, time_ms).unwrap();
    }
}

#[test]
fn map_versions_must_be_consecutive() {
    let store = MemoryStore::new(&rules()).unwrap();
    let change = RecordChange {
        map_key: IndexKey::Shipment(fixtures::shipment("S")).map_key(),
        record: KeyRecord {
            count: 1,
            head: waybill_protocol::Hash([1; 32]),
            last_height: 2,
        },
        superseded_version: None,
    };
    let error = authenticated_map::update(&store, 0, 2, std::slice::from_ref(&change)).unwrap_err();
    assert!(
        matches!(
            error,
            LedgerError::MapVersion {
                expected: 1,
                found: 2
            }
        ),
        "{error}"
    );
    authenticated_map::update(&store, 0, 1, &[change]).unwrap();
}

/// A store that has lost every node: jmt must answer with an error, never a panic.
struct EmptyStorage;

impl MapStorage for EmptyStorage {
    fn node(&self, _: &jmt::storage::NodeKey) -> Result<Option<jmt::storage::Node>, LedgerError> {
        Ok(None)
    }

    fn value(&self, _: &[u8; 32], _: u64) -> Result<Option<VersionedValue>, LedgerError> {
        Err(LedgerError::Storage {
            operation: "read map value",
            reason: "disk unplugged".into(),
        })
    }
}

#[test]
fn map_storage_failures_become_errors_not_panics() {
    let key = IndexKey::Shipment(fixtures::shipment("S"));
    let error = authenticated_map::prove(&EmptyStorage, &key, 5).unwrap_err();
    assert!(
        matches!(
            error,
            LedgerError::Map {
                operation: "prove",
                ..
            }
        ),
        "{error}"
    );
    assert!(authenticated_map::root(&EmptyStorage, 5).is_err());
}

#[test]
fn pruning_drops_versions_beyond_retention_and_keeps_current_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let options = LedgerOptions {
        retention_versions: 4,
        ..LedgerOptions::default()
    };
    let mut ledger = Ledger::open(dir.path(), rules(), options).unwrap();
    fill(&mut ledger, 12);
    let tip = ledger.tip().height;
    // Old roots are gone; the retained window is still readable.
    for version in 1..tip - 4 {
        assert!(
            authenticated_map::root(&ledger, version).is_err(),
            "version {version} should be pruned"
        );
    }
    for version in tip - 3..=tip {
        let root = authenticated_map::root(&ledger, version).unwrap();
        assert_eq!(root, ledger.header(version).unwrap().unwrap().index_root);
    }
    for shipment in 0..5 {
        let key = IndexKey::Shipment(fixtures::shipment(&format!("L-{shipment}")));
        ledger
            .provenance(&key)
            .unwrap()
            .verify(ledger.rules())
            .unwrap();
    }
    drop(ledger);
    // What pruning deleted is gone from the store: each version's stale list once that version
    // left retention, and the values superseded then; every retained version keeps its list.
    {
        let db = raw_db(dir.path());
        let stale_versions: Vec<u64> = db
            .iterator_cf(
                db.cf_handle("map_stale").unwrap(),
                rocksdb::IteratorMode::Start,
            )
            .map(|entry| u64::from_be_bytes((*entry.unwrap().0).try_into().unwrap()))
            .collect();
        assert!(
            stale_versions.iter().all(|v| *v > tip - 4),
            "stale lists of pruned versions remain: {stale_versions:?}"
        );
        assert!(stale_versions.contains(&tip), "{stale_versions:?}");
        // L-0 changed at versions 1, 2, 4, 5, 7, 8, 10 and 11 (every third block's event is
        // rejected). A value superseded at version 8 or before is gone with that version's list;
        // 8 stays, as proofs as of version 9 need it.
        let key = IndexKey::Shipment(fixtures::shipment("L-0")).map_key();
        let value_versions: Vec<u64> = db
            .prefix_iterator_cf(db.cf_handle("map_values").unwrap(), key)
            .map(|entry| entry.unwrap().0)
            .take_while(|stored| stored.starts_with(&key))
            .map(|stored| u64::from_be_bytes(stored[32..].try_into().unwrap()))
            .collect();
        assert_eq!(tip, 12);
        assert_eq!(value_versions, [8, 10, 11]);
    }
    // Pruning is part of the block batches: the directory still verifies from genesis.
    let ledger = Ledger::open(dir.path(), rules(), options).unwrap();
    waybill_node::ledger::verify::verify_chain(&ledger, |_| {}).unwrap();
}

/// Opens the raw RocksDB of a ledger, to damage it.
fn raw_db(path: &std::path::Path) -> rocksdb::DB {
    let families = rocksdb::DB::list_cf(&rocksdb::Options::default(), path).unwrap();
    rocksdb::DB::open_cf(&rocksdb::Options::default(), path, families).unwrap()
}

#[test]
fn open_refuses_a_directory_whose_tip_block_is_missing() {
    let temp = tempfile::tempdir().unwrap();
    let tip = {
        let mut ledger = open_ledger(temp.path()).unwrap();
        fill(&mut ledger, 3);
        ledger.tip().height
    };
    {
        let db = raw_db(temp.path());
        let headers = db.cf_handle("headers").unwrap();
        db.delete_cf(headers, tip.to_be_bytes()).unwrap();
    }
    let error = open_ledger(temp.path()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the tip names height 3, which is not stored"),
        "{error}"
    );
}

#[test]
fn map_proof_bytes_are_pinned() {
    let store = MemoryStore::new(&rules()).unwrap();
    let mut records = BTreeMap::new();
    for i in 0..10u8 {
        let key = IndexKey::Shipment(fixtures::shipment(&format!("PIN-{i}")));
        records.insert(
            key.map_key(),
            KeyRecord {
                count: u64::from(i) + 1,
                head: waybill_protocol::Hash([i; 32]),
                last_height: 1,
            },
        );
    }
    let changes: Vec<RecordChange> = records
        .into_iter()
        .map(|(map_key, record)| RecordChange {
            map_key,
            record,
            superseded_version: None,
        })
        .collect();
    let write = authenticated_map::update(&store, 0, 1, &changes).unwrap();
    let mut store = store;
    store.apply_map_write(&write);
    let (_, proof) =
        authenticated_map::prove(&store, &IndexKey::Shipment(fixtures::shipment("PIN-3")), 1)
            .unwrap();
    assert_eq!(write.root.to_hex(), PINNED_ROOT);
    assert_eq!(
        waybill_protocol::Hash::of_parts(&[&proof]).to_hex(),
        PINNED_PROOF_HASH
    );
}

const PINNED_ROOT: &str = "990c463620c705dddab2d91340a998aafb67619790646c42df563c4e382587d5";
const PINNED_PROOF_HASH: &str = "5b1e0e99ff624a3f380ec7ef2b1f557008f0c6bd733e4280ec69d97a53f99b5a";

/// Accepted events kept for a restart come back in the order they were accepted (a shipment's
/// declaration before its pick-up), not in id order; numbering goes on after a reopen, and a
/// value from before the numbering still reads.
#[test]
fn pending_events_come_back_in_acceptance_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut factory = EventFactory::new();
    let events: Vec<_> = (0..12)
        .map(|i| factory.event("carrier-a", &format!("PENDING-{i}"), EventKind::PickUp))
        .collect();
    let checked = waybill_tests::check(&rules(), events.clone());
    {
        let ledger = open_ledger(dir.path()).unwrap();
        let first: Vec<_> = checked[..8].iter().collect();
        ledger.keep_pending(&first).unwrap();
    }
    let ledger = open_ledger(dir.path()).unwrap();
    let rest: Vec<_> = checked[8..].iter().collect();
    ledger.keep_pending(&rest).unwrap();
    let mut ids: Vec<_> = events.iter().map(|e| e.body.id()).collect();
    assert_eq!(
        ledger
            .pending_events(usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.body.id())
            .collect::<Vec<_>>(),
        ids,
        "acceptance order"
    );
    ids.sort();
    assert_ne!(
        ids,
        events.iter().map(|e| e.body.id()).collect::<Vec<_>>(),
        "the test needs an id order unlike the acceptance order"
    );
    drop(ledger);
    // A value written before acceptance numbers existed: the bare event. It sorts first.
    let old = factory.event("carrier-a", "PENDING-OLD", EventKind::PickUp);
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("pending").unwrap();
        db.put_cf(cf, old.body.id().as_bytes(), old.encode())
            .unwrap();
    }
    let ledger = open_ledger(dir.path()).unwrap();
    let pending = ledger.pending_events(usize::MAX).unwrap();
    assert_eq!(pending.len(), 13);
    assert_eq!(pending[0], old);
}

/// A ledger whose layout is another version's (here a column family this build does not
/// write) is refused with a message that says so and what to do, not RocksDB's own.
#[test]
fn open_refuses_a_ledger_written_by_another_version() {
    let temp = tempfile::tempdir().unwrap();
    drop(open_ledger(temp.path()).unwrap());
    {
        let mut db = raw_db(temp.path());
        db.create_cf("map_stale_nodes", &rocksdb::Options::default())
            .unwrap();
    }
    let error = open_ledger(temp.path()).unwrap_err().to_string();
    assert!(error.contains("column family map_stale_nodes"), "{error}");
    assert!(error.contains("another version"), "{error}");
}

/// A committing block deletes the pending record of each of its events this node kept, also
/// of events kept before the ledger was last opened; what is not committed stays pending.
#[test]
fn a_commit_clears_the_pending_events_it_holds_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut factory = EventFactory::new();
    let events: Vec<_> = (0..6)
        .map(|i| factory.event("carrier-a", &format!("KEPT-{i}"), EventKind::PickUp))
        .collect();
    {
        let ledger = open_ledger(dir.path()).unwrap();
        let checked = waybill_tests::check(&rules(), events.clone());
        ledger
            .keep_pending(&checked.iter().collect::<Vec<_>>())
            .unwrap();
    }
    let mut ledger = open_ledger(dir.path()).unwrap();
    // Three of the kept events, and one this node never kept (as by gossip).
    let mut block = events[..3].to_vec();
    block.push(factory.event("carrier-a", "GOSSIPED", EventKind::PickUp));
    let time_ms = fixtures::NOW_MS + 1_000;
    commit_block(&mut ledger, block, time_ms).unwrap();
    let still: Vec<_> = ledger
        .pending_events(usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.body.id())
        .collect();
    let expected: Vec<_> = events[3..].iter().map(|e| e.body.id()).collect();
    assert_eq!(still, expected);
    drop(ledger);
    let ledger = open_ledger(dir.path()).unwrap();
    assert_eq!(ledger.pending_events(usize::MAX).unwrap().len(), 3);
}

/// Evidence of an equivocation is stored once, in the ledger's evidence family, and read back.
#[test]
fn evidence_is_stored_once_and_retrievable() {
    use waybill_consensus::Evidence;
    use waybill_protocol::{Hash, ValidatorIndex, Vote, VoteStep};

    let precommit = |block: u8| {
        Vote {
            height: 1,
            round: 0,
            step: VoteStep::Precommit,
            block: Some(Hash([block; 32])),
            validator: ValidatorIndex(2),
        }
        .sign(&fixtures::chain_id(), &fixtures::node_keypair(2))
    };
    let evidence = Evidence::DoubleVote {
        first: precommit(1),
        second: precommit(2),
    };
    evidence.verify(&rules()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_ledger(dir.path()).unwrap();
    assert!(ledger.record_evidence(&evidence).unwrap());
    assert!(!ledger.record_evidence(&evidence).unwrap(), "stored once");
    assert_eq!(ledger.evidence().unwrap(), vec![evidence]);
}
