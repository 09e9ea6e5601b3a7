//! The same blocks give the same bytes: two RocksDB ledgers and the in-memory replica compute
//! byte-identical headers, and serve byte-identical proofs. Reference roots are pinned, so a
//! change in the authenticated map library or our use of it fails here first.
#![allow(clippy::unwrap_used)]

use waybill_node::ledger::Ledger;
use waybill_protocol::codec;
use waybill_protocol::event::{Epc, EventKind};
use waybill_protocol::fixtures;
use waybill_protocol::index::IndexKey;
use waybill_tests::{EventFactory, MemoryChain, commit_block, open_ledger};

const BLOCKS: u64 = 20;

fn blocks() -> Vec<Vec<waybill_protocol::SignedEvent>> {
    let mut factory = EventFactory::new();
    (0..BLOCKS)
        .map(|block| {
            (0..25)
                .map(|i| {
                    let shipment = format!("DET-{}", (block * 7 + i) % 40);
                    let epc = Epc::Sgtin(fixtures::sgtin(&format!("SN-{}", i % 9)));
                    let kind = if i % 3 == 0 {
                        EventKind::PickUp
                    } else {
                        EventKind::Depart
                    };
                    factory
                        .builder("carrier-a", &shipment, kind)
                        .epc(epc)
                        .sign(&fixtures::org_keypair("carrier-a"))
                })
                .collect()
        })
        .collect()
}

fn fill(ledger: &mut Ledger) {
    for (height, events) in blocks().into_iter().enumerate() {
        commit_block(
            ledger,
            events,
            fixtures::NOW_MS + 1_000 * (height as u64 + 1),
        )
        .unwrap();
    }
}

/// Header hash and index root at the last height, pinned. (The header hash moved when the
/// genesis gained validators' `api_key`, a read policy and a second platform: the first block
/// chains to the genesis hash, and headers commit to the validator set. Both moved when GTINs
/// got chains of their own in the index, and again when the genesis gained
/// `particulars_grants` and declarations commit to their particulars part by part, and when
/// headers gained the rules version and the hash of the parent's certificate they carry, and
/// when a new chain's rules became version 3, accreditation, which its headers name; and when
/// they became version 4, EPCIS captures, with `observe` for every role in the genesis. With the
/// version 3 schedule and permission table the chain still gives the previous pins,
/// 31f3046f…b196 and 4382abfc…9d2d: checked when version 4 came.)
const PINNED_HEADER_HASH: &str = "7305c6826a30421e54bf101193b6abfc0ebb8ac7e9735dee81a8574adab65b86";
const PINNED_INDEX_ROOT: &str = "4382abfcb6d1592da9cf06869ab7c3f15d9541d923b90910df7c7b99c4a59d2d";

#[test]
fn two_ledgers_fed_the_same_blocks_agree_byte_for_byte() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = open_ledger(dir_a.path()).unwrap();
    let mut b = open_ledger(dir_b.path()).unwrap();
    fill(&mut a);
    fill(&mut b);
    let mut memory = MemoryChain::new();
    for (height, events) in blocks().into_iter().enumerate() {
        // The replica executes the same blocks at the same times.
        let time_ms = fixtures::NOW_MS + 1_000 * (height as u64 + 1);
        let proposer = waybill_protocol::ValidatorIndex((height % 4) as u16);
        let block = memory.execute(memory.proposal(events, time_ms, proposer));
        assert_eq!(
            codec::encode(&block.header),
            codec::encode(&a.header(height as u64 + 1).unwrap().unwrap())
        );
        memory.commit(&block);
    }
    for height in 1..=BLOCKS {
        let header_a = codec::encode(&a.header(height).unwrap().unwrap());
        let header_b = codec::encode(&b.header(height).unwrap().unwrap());
        assert_eq!(header_a, header_b, "height {height}");
    }
    for key in [
        IndexKey::Shipment(fixtures::shipment("DET-3")),
        IndexKey::Serial(fixtures::sgtin("SN-4")),
    ] {
        assert_eq!(
            a.provenance(&key).unwrap().encode(),
            b.provenance(&key).unwrap().encode(),
            "{key}"
        );
    }
    let tip = a.header(BLOCKS).unwrap().unwrap();
    assert_eq!(tip.hash().to_hex(), PINNED_HEADER_HASH);
    assert_eq!(tip.index_root.to_hex(), PINNED_INDEX_ROOT);
}

#[test]
fn reopening_keeps_the_tip_and_refuses_another_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let tip = {
        let mut ledger = open_ledger(dir.path()).unwrap();
        fill(&mut ledger);
        ledger.tip().clone()
    };
    let ledger = open_ledger(dir.path()).unwrap();
    assert_eq!(ledger.tip(), &tip);
    drop(ledger);
    let mut genesis = fixtures::genesis(4);
    genesis.genesis_time_ms += 1;
    let other = waybill_protocol::rules::ChainRules::new(genesis).unwrap();
    let error = Ledger::open(dir.path(), other, Default::default()).unwrap_err();
    assert!(error.to_string().contains("belongs to genesis"), "{error}");
}
