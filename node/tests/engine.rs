//! The engine as the node runs it, fed through its input queue: what reaches its WAL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use waybill_node::consensus::Input;
use waybill_node::consensus::wal::WalEntry;
use waybill_node::engine::{Engine, EngineInput};
use waybill_node::ledger::{Ledger, LedgerOptions};
use waybill_node::mempool::{Mempool, MempoolLimits};
use waybill_node::network::wire::ConsensusGossip;
use waybill_node::node::Shared;
use waybill_node::wal::WalFile;
use waybill_protocol::block::ConsensusMessage;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{ValidatorIndex, Vote, VoteStep, fixtures};

/// During a height that stands still every peer re-sends its messages each second. The WAL
/// must hold each message once, not once per re-send: it would otherwise grow without bound.
#[test]
fn a_message_sent_again_and_again_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let rules = ChainRules::new(fixtures::genesis(4)).unwrap();
    let ledger = Ledger::open(
        &dir.path().join("ledger"),
        rules.clone(),
        LedgerOptions::default(),
    )
    .unwrap();
    let shared = Arc::new(Shared::new(
        Arc::new(rules),
        ValidatorIndex(0),
        ledger,
        Mempool::new(MempoolLimits::default()),
    ));
    let wal_path = dir.path().join("consensus.wal");
    let (to_engine, inputs) = std::sync::mpsc::sync_channel(4_096);
    let (outputs, _from_engine) = tokio::sync::mpsc::channel(4_096);
    let engine = Engine::start(
        shared,
        fixtures::node_keypair(0),
        &wal_path,
        inputs,
        outputs,
    )
    .unwrap();
    let running = std::thread::spawn(move || engine.run());
    // Validator 1's prevote for nil at height 1, round 0, received 1,000 times.
    let vote = Vote {
        height: 1,
        round: 0,
        step: VoteStep::Prevote,
        block: None,
        validator: ValidatorIndex(1),
    }
    .sign(&fixtures::chain_id(), &fixtures::node_keypair(1));
    let budget = Arc::new(tokio::sync::Semaphore::new(1_000));
    for _ in 0..1_000 {
        let permit = budget.clone().try_acquire_owned().unwrap();
        to_engine
            .send(EngineInput::Consensus(
                ConsensusGossip::Vote(vote.clone()),
                permit,
            ))
            .unwrap();
    }
    drop(to_engine);
    running.join().unwrap().unwrap();
    let (_, contents) = WalFile::open(&wal_path).unwrap();
    let logged = contents
        .entries
        .iter()
        .filter(|entry| {
            matches!(entry, WalEntry::Input(Input::Message(ConsensusMessage::Vote(v))) if *v == vote)
        })
        .count();
    assert_eq!(logged, 1, "{} entries in all", contents.entries.len());
}
