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
use waybill_node::network::wire::{
    CompactBody, ConsensusGossip, ProposalEventsRequest, ProposalEventsResponse, VerifiedGossip,
};
use waybill_node::node::Shared;
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::block::{ConsensusMessage, Proposal};
use waybill_protocol::event::{EventKind, SignedEvent};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, ValidatorIndex, Vote, VoteStep, fixtures};

/// Validator 0's engine on a fresh ledger, running on its own thread.
struct Running {
    shared: Arc<Shared>,
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
        let engine = Engine::start(shared.clone(), keypair, &wal_path, inputs, outputs).unwrap();
        Running {
            shared,
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
        self.until_own_prevote().1
    }

    /// What the engine asked of the network until its own first prevote, and that prevote.
    fn until_own_prevote(&mut self) -> (Vec<EngineOutput>, Option<Hash>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut before = Vec::new();
        while Instant::now() < deadline {
            match self.from_engine.try_recv() {
                Ok(EngineOutput::Gossip(ConsensusGossip::Vote(v)))
                    if v.vote.validator == ValidatorIndex(0)
                        && v.vote.step == VoteStep::Prevote =>
                {
                    return (before, v.vote.block);
                }
                Ok(output) => before.push(output),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        panic!("the engine cast no prevote within 20 s");
    }

    /// The engine's next request for a proposal's events.
    fn fetch_request(&mut self) -> (ValidatorIndex, ProposalEventsRequest) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.from_engine.try_recv() {
                Ok(EngineOutput::FetchProposalEvents { proposer, request }) => {
                    return (proposer, request);
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        panic!("the engine asked for no proposal events within 20 s");
    }

    fn answer(&self, response: ProposalEventsResponse) {
        let to_engine = self.to_engine.as_ref().unwrap();
        to_engine
            .send(EngineInput::ProposalEvents(response))
            .unwrap();
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
    proposal_of(time_ms, Vec::new())
}

/// Validator 1's proposal for height 1, round 0, of a block of `events` dated now, in compact
/// form: its events by id.
fn proposal_of(time_ms: u64, events: Vec<SignedEvent>) -> (Hash, ConsensusGossip) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = fixture_ledger(dir.path());
    let checked: Vec<CheckedEvent> = events
        .into_iter()
        .map(|event| CheckedEvent::check(ledger.rules(), event).unwrap())
        .collect();
    let event_ids: Vec<Hash> = checked.iter().map(CheckedEvent::id).collect();
    let block = ledger
        .execute(BlockProposal {
            time_ms,
            proposer: ValidatorIndex(1),
            events: checked,
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
    let block = Box::new(CompactBody {
        header: block.header,
        last_commit: None,
        event_ids,
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

fn pick_ups(count: u64) -> Vec<SignedEvent> {
    (1..=count)
        .map(|nonce| {
            fixtures::signed_event(
                "carrier-a",
                nonce,
                &format!("FETCH-{nonce}"),
                EventKind::PickUp,
            )
        })
        .collect()
}

/// A compact proposal whose events this validator never heard of is made whole from what its
/// proposer sends, asked by position, and gets this validator's prevote.
#[test]
fn the_events_a_compact_proposal_names_are_fetched_from_its_proposer() {
    let mut engine = Running::start();
    let events = pick_ups(3);
    let (hash, proposal) = proposal_of(waybill_node::engine::now_ms(), events.clone());
    engine.send(proposal);
    let (proposer, request) = engine.fetch_request();
    assert_eq!(proposer, ValidatorIndex(1));
    assert_eq!(request.block_hash, hash);
    assert_eq!(request.positions, [0, 1, 2]);
    engine.answer(ProposalEventsResponse {
        block_hash: hash,
        events: (0u32..).zip(events).collect(),
    });
    assert_eq!(engine.own_prevote(), Some(hash));
    assert_eq!(
        engine
            .shared
            .metrics
            .proposal_events_fetched
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    engine.stop();
}

/// Events the mempool holds are not asked for: a proposal of only those is validated at once.
#[test]
fn a_compact_proposal_of_events_in_the_mempool_needs_no_fetch() {
    let mut engine = Running::start();
    let events = pick_ups(2);
    for event in &events {
        let checked = CheckedEvent::check(&engine.shared.rules, event.clone()).unwrap();
        let entry = waybill_node::mempool::Entry {
            from_client: false,
            customs: false,
        };
        engine.shared.lock_mempool().insert(checked, entry).unwrap();
    }
    let (hash, proposal) = proposal_of(waybill_node::engine::now_ms(), events);
    engine.send(proposal);
    let (before, prevote) = engine.until_own_prevote();
    assert_eq!(prevote, Some(hash));
    assert!(
        !before
            .iter()
            .any(|output| matches!(output, EngineOutput::FetchProposalEvents { .. })),
        "{before:?}"
    );
    engine.stop();
}

/// A proposer that answers with another event at a position (or leaves one out) does not get
/// its block validated: the validator prevotes nil when the round's time is up. The proposal
/// is given up, not held: sent again, its events are asked for again.
#[test]
fn a_fetched_event_that_is_not_the_one_named_leaves_the_proposal_unvalidated() {
    for answer in ["another event", "one left out"] {
        let mut engine = Running::start();
        let events = pick_ups(2);
        let (hash, proposal) = proposal_of(waybill_node::engine::now_ms(), events.clone());
        engine.send(proposal.clone());
        let (_, request) = engine.fetch_request();
        assert_eq!(request.positions, [0, 1]);
        let mut given: Vec<(u32, SignedEvent)> = (0u32..).zip(events).collect();
        if answer == "another event" {
            given[1].1 = pick_ups(3).pop().unwrap();
        } else {
            given.pop();
        }
        engine.answer(ProposalEventsResponse {
            block_hash: hash,
            events: given,
        });
        assert_eq!(engine.own_prevote(), None, "{answer}");
        engine.send(proposal);
        let (_, again) = engine.fetch_request();
        assert_eq!(again.positions, [0, 1], "{answer}");
        engine.stop();
    }
}
