//! The engine as the node runs it, fed through its input queue: what it votes, and what
//! reaches its WAL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use waybill_node::consensus::Input;
use waybill_node::consensus::wal::WalEntry;
use waybill_node::consensus::wal_file::WalFile;
use waybill_node::engine::{Engine, EngineError, EngineInput, EngineOutput};
use waybill_node::ledger::{BlockProposal, Ledger, LedgerOptions};
use waybill_node::mempool::{Mempool, MempoolLimits};
use waybill_node::network::wire::{BlockBody, ConsensusGossip, VerifiedGossip};
use waybill_node::node::Shared;
use waybill_protocol::block::{ConsensusMessage, Proposal};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, ValidatorIndex, Vote, VoteStep, fixtures};

/// Validator 0's engine on a fresh ledger, running on its own thread.
struct Running {
    to_engine: Option<std::sync::mpsc::SyncSender<EngineInput>>,
    from_engine: tokio::sync::mpsc::Receiver<EngineOutput>,
    thread: Option<std::thread::JoinHandle<Result<(), EngineError>>>,
    wal_path: std::path::PathBuf,
    budget: Arc<tokio::sync::Semaphore>,
    _dir: tempfile::TempDir,
}

fn fixture_ledger(dir: &std::path::Path) -> Ledger {
    let rules = ChainRules::new(fixtures::genesis(4)).unwrap();
    Ledger::open(dir, rules, LedgerOptions::default()).unwrap()
}

impl Running {
    fn start() -> Running {
        let dir = tempfile::tempdir().unwrap();
        let ledger = fixture_ledger(&dir.path().join("ledger"));
        let shared = Arc::new(Shared::new(
            Arc::new(ledger.rules().clone()),
            ValidatorIndex(0),
            ledger,
            Mempool::new(MempoolLimits::default()),
        ));
        let wal_path = dir.path().join("consensus.wal");
        let (to_engine, inputs) = std::sync::mpsc::sync_channel(4_096);
        let (outputs, from_engine) = tokio::sync::mpsc::channel(4_096);
        let keypair = fixtures::node_keypair(0);
        let engine = Engine::start(shared, keypair, &wal_path, inputs, outputs).unwrap();
        Running {
            to_engine: Some(to_engine),
            from_engine,
            thread: Some(std::thread::spawn(move || engine.run())),
            wal_path,
            budget: Arc::new(tokio::sync::Semaphore::new(1 << 20)),
            _dir: dir,
        }
    }

    fn send(&self, gossip: ConsensusGossip) {
        let permit = self.budget.clone().try_acquire_owned().unwrap();
        let to_engine = self.to_engine.as_ref().unwrap();
        let rules = ChainRules::new(fixtures::genesis(4)).unwrap();
        let verified = VerifiedGossip::check(&rules, gossip).unwrap();
        to_engine
            .send(EngineInput::Consensus(verified, permit))
            .unwrap();
    }

    /// The engine's own first prevote.
    fn own_prevote(&mut self) -> Option<Hash> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.from_engine.try_recv() {
                Ok(EngineOutput::Gossip(ConsensusGossip::Vote(v)))
                    if v.vote.validator == ValidatorIndex(0)
                        && v.vote.step == VoteStep::Prevote =>
                {
                    return v.vote.block;
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        panic!("the engine cast no prevote within 20 s");
    }

    /// Closes the queue, waits for the engine to stop, and reads back its WAL.
    fn stop(mut self) -> Vec<WalEntry> {
        drop(self.to_engine.take());
        self.thread.take().unwrap().join().unwrap().unwrap();
        WalFile::open(&self.wal_path).unwrap().1.entries
    }
}

/// Validator 1's proposal for height 1, round 0 (its turn) of an empty block dated `time_ms`,
/// built on the same genesis the engine runs.
fn proposal_dated(time_ms: u64) -> (Hash, ConsensusGossip) {
    let dir = tempfile::tempdir().unwrap();
    let block = fixture_ledger(dir.path())
        .execute(BlockProposal {
            time_ms,
            proposer: ValidatorIndex(1),
            events: Vec::new(),
            last_commit: None,
        })
        .unwrap();
    let hash = block.header.hash();
    let proposal = Proposal {
        height: 1,
        round: 0,
        block_hash: hash,
        valid_round: None,
        proposer: ValidatorIndex(1),
    }
    .sign(&fixtures::chain_id(), &fixtures::node_keypair(1));
    let block = Box::new(BlockBody {
        header: block.header,
        last_commit: None,
        events: Vec::new(),
    });
    (hash, ConsensusGossip::Proposal { proposal, block })
}

/// A proposer cannot date its block far back to make honest events look future-dated: a
/// validator prevotes nil on a block dated more than the allowed lag behind its clock, and for
/// the same kind of block dated now.
#[test]
fn a_block_dated_far_behind_the_validators_clock_gets_a_nil_prevote() {
    let now = waybill_node::engine::now_ms();
    let lag = waybill_node::limits::BLOCK_TIME_LAG_MS_MAX;
    for (time_ms, valid) in [(now - lag - 60_000, false), (now, true)] {
        let mut engine = Running::start();
        let (hash, proposal) = proposal_dated(time_ms);
        engine.send(proposal);
        let prevote = engine.own_prevote();
        assert_eq!(
            prevote,
            valid.then_some(hash),
            "dated {} ms ago",
            now - time_ms
        );
        engine.stop();
    }
}

/// During a height that stands still every peer re-sends its messages each second. The WAL
/// must hold each message once, not once per re-send: it would otherwise grow without bound.
#[test]
fn a_message_sent_again_and_again_is_logged_once() {
    let engine = Running::start();
    // Validator 1's prevote for nil at height 1, round 0, received 1,000 times.
    let vote = Vote {
        height: 1,
        round: 0,
        step: VoteStep::Prevote,
        block: None,
        validator: ValidatorIndex(1),
    }
    .sign(&fixtures::chain_id(), &fixtures::node_keypair(1));
    for _ in 0..1_000 {
        engine.send(ConsensusGossip::Vote(vote.clone()));
    }
    let entries = engine.stop();
    let logged = entries
        .iter()
        .filter(|entry| {
            matches!(entry, WalEntry::Input(Input::Message(ConsensusMessage::Vote(v))) if *v == vote)
        })
        .count();
    assert_eq!(logged, 1, "{} entries in all", entries.len());
}
