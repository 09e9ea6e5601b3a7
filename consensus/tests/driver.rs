//! The driver's order of effects, on a single validator (which decides a height within one
//! input): a signed message is appended and synced before it is sent; a crash at each step
//! restarts without a double sign and without losing what was made durable; a decision whose
//! block is missing holds everything after it until the block arrives.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use waybill_consensus::wal::{WalEntry, read_records};
use waybill_consensus::*;
use waybill_protocol::block::{CertificateError, ConsensusMessage, VerifiedCertificate};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, ValidatorIndex, fixtures};

/// What happened, in order, across the WAL and the host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    AppendSigned(ConsensusMessage),
    Sync,
    StartHeight(u64),
    Send {
        message: ConsensusMessage,
        fresh: bool,
    },
    RequestBlock(u64),
    Decide(u64),
}

type Log = Rc<RefCell<Vec<Op>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// At the first sync, before anything is durable.
    BeforeSync,
    /// At the first sync, once it is durable.
    AfterSync,
}

#[derive(Debug)]
struct Died;

/// A memory WAL that records its operations and can die at its first sync.
#[derive(Debug)]
struct RecordingWal {
    wal: MemoryWal,
    log: Log,
    crash: Option<Crash>,
}

impl WalStorage for RecordingWal {
    type Error = Died;

    fn append(&mut self, entry: &WalEntry) {
        if let WalEntry::Signed(message) = entry {
            self.log
                .borrow_mut()
                .push(Op::AppendSigned(message.clone()));
        }
        self.wal.append(entry);
    }

    fn sync(&mut self) -> Result<(), Died> {
        let crash = self.crash.take();
        if crash == Some(Crash::BeforeSync) {
            return Err(Died);
        }
        let Ok(()) = self.wal.sync();
        self.log.borrow_mut().push(Op::Sync);
        if crash == Some(Crash::AfterSync) {
            return Err(Died);
        }
        Ok(())
    }

    fn start_height(&mut self, height: u64) -> Result<(), Died> {
        self.log.borrow_mut().push(Op::StartHeight(height));
        let Ok(()) = self.wal.start_height(height);
        Ok(())
    }
}

/// Judges every block valid, and holds a decided block only if told to.
#[derive(Debug)]
struct RecordingHost {
    log: Log,
    holds_blocks: bool,
}

impl Host for RecordingHost {
    type Error = Died;

    fn send(&mut self, message: &ConsensusMessage, fresh: bool) -> Result<(), Died> {
        self.log.borrow_mut().push(Op::Send {
            message: message.clone(),
            fresh,
        });
        Ok(())
    }

    fn schedule(&mut self, _timeout: Timeout, _duration_ms: u64) {}

    /// The block comes later, as the test's `Input::BlockReady`.
    fn request_block(&mut self, height: u64, _round: u32) -> Result<Option<Input>, Died> {
        self.log.borrow_mut().push(Op::RequestBlock(height));
        Ok(None)
    }

    fn validate_block(
        &mut self,
        height: u64,
        _round: u32,
        block_hash: Hash,
    ) -> Result<Option<Input>, Died> {
        Ok(Some(Input::BlockValidity {
            height,
            block_hash,
            valid: true,
        }))
    }

    fn decide(
        &mut self,
        height: u64,
        _block_hash: Hash,
        _certificate: &VerifiedCertificate,
    ) -> Result<bool, Died> {
        self.log.borrow_mut().push(Op::Decide(height));
        Ok(self.holds_blocks)
    }

    fn evidence(&mut self, _evidence: Evidence) -> Result<(), Died> {
        Ok(())
    }

    fn rejected(&mut self, _sender: u16, _reason: MessageRejection) {}

    fn commit_rejected(&mut self, _height: u64, _reason: CertificateError) {}

    fn sign_refused(&mut self, error: SignError) {
        panic!("the guard refused: {error}");
    }
}

struct Validator {
    driver: Driver<RecordingWal>,
    host: RecordingHost,
    log: Log,
}

/// Validator `index` of `validators`; validator 1 proposes at height 1, round 0.
fn validator_of(
    validators: usize,
    index: usize,
    bytes: Vec<u8>,
    crash: Option<Crash>,
    holds_blocks: bool,
) -> Validator {
    let rules = Arc::new(ChainRules::new(fixtures::genesis(validators)).unwrap());
    let consensus = Consensus::new(rules.clone(), Some(ValidatorIndex(index as u16)));
    let signer = Signer::new(rules.chain_id().clone(), fixtures::node_keypair(index));
    let log: Log = Rc::default();
    let wal = RecordingWal {
        wal: MemoryWal::from_bytes(bytes),
        log: log.clone(),
        crash,
    };
    Validator {
        driver: Driver::new(consensus, signer, wal, 1_000),
        host: RecordingHost {
            log: log.clone(),
            holds_blocks,
        },
        log,
    }
}

/// The only validator of its network: one block decides a height.
fn validator(bytes: Vec<u8>, crash: Option<Crash>, holds_blocks: bool) -> Validator {
    validator_of(1, 0, bytes, crash, holds_blocks)
}

impl Validator {
    /// Our block for height 1 is ready: what follows is live, not a replay.
    fn block_ready(&mut self) -> Result<(), Died> {
        let ready = Input::BlockReady {
            height: 1,
            round: 0,
            block_hash: Hash::of_parts(&[b"block 1"]),
        };
        self.driver.handle(&mut self.host, ready)
    }

    fn start(&mut self, ledger_height: u64) -> Result<(), Died> {
        let entries = read_records(self.driver.wal().wal.bytes()).unwrap().entries;
        self.driver
            .start(&mut self.host, &entries, ledger_height, 0)
            .map(|_| ())
    }

    fn ops(&self) -> Vec<Op> {
        self.log.borrow().clone()
    }

    fn sent(&self) -> Vec<(ConsensusMessage, bool)> {
        self.ops()
            .into_iter()
            .filter_map(|op| match op {
                Op::Send { message, fresh } => Some((message, fresh)),
                _ => None,
            })
            .collect()
    }

    /// The durable bytes a crash leaves.
    fn disk(&self) -> Vec<u8> {
        let disk = self.driver.wal().wal.crash(0).unwrap();
        disk.bytes().to_vec()
    }
}

#[test]
fn every_message_is_signed_appended_and_synced_before_it_is_sent() {
    let mut node = validator(Vec::new(), None, true);
    node.start(0).unwrap();
    node.block_ready().unwrap();
    let ops = node.ops();
    let sends: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i], Op::Send { .. }))
        .collect();
    // Proposal, prevote and precommit of height 1.
    assert_eq!(sends.len(), 3, "{ops:?}");
    for i in sends {
        let Op::Send { message, fresh } = &ops[i] else {
            unreachable!("a send")
        };
        assert!(fresh);
        assert_eq!(
            ops[i - 2..i],
            [Op::AppendSigned(message.clone()), Op::Sync],
            "before sending {message:?}"
        );
    }
    // The WAL starts height 2 once height 1 is committed, not before.
    let decided = ops.iter().position(|op| *op == Op::Decide(1)).unwrap();
    assert_eq!(ops[decided + 1], Op::StartHeight(2), "{ops:?}");
    assert_eq!(node.driver.consensus().height(), 2);
}

#[test]
fn a_crash_before_the_sync_sends_nothing_and_the_restart_signs_again() {
    let mut node = validator(Vec::new(), Some(Crash::BeforeSync), true);
    node.start(0).unwrap();
    assert!(node.block_ready().is_err(), "died at the first sync");
    assert!(node.sent().is_empty(), "nothing left before it was durable");
    let disk = node.disk();
    let entries = read_records(&disk).unwrap().entries;
    assert!(
        !entries.iter().any(|e| matches!(e, WalEntry::Signed(_))),
        "the unsynced proposal is not on disk: {entries:?}"
    );
    let mut restarted = validator(disk, None, true);
    restarted.start(0).unwrap();
    assert_eq!(
        restarted.driver.consensus().height(),
        1,
        "nothing to replay"
    );
    restarted.block_ready().unwrap();
    let (first, fresh) = restarted.sent()[0].clone();
    assert!(fresh, "never sent before: signed and sent as new");
    assert!(matches!(first, ConsensusMessage::Proposal(_)));
    assert_eq!(restarted.driver.consensus().height(), 2);
}

#[test]
fn a_crash_after_the_sync_sends_nothing_and_the_restart_replays_the_message_without_signing_it_again()
 {
    let mut node = validator(Vec::new(), Some(Crash::AfterSync), true);
    node.start(0).unwrap();
    assert!(
        node.block_ready().is_err(),
        "died right after the first sync"
    );
    assert!(node.sent().is_empty(), "durable, not yet sent");
    let disk = node.disk();
    let logged: Vec<ConsensusMessage> = read_records(&disk)
        .unwrap()
        .entries
        .into_iter()
        .filter_map(|e| match e {
            WalEntry::Signed(message) => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(logged.len(), 1, "the proposal is durable");

    let mut restarted = validator(disk, None, true);
    restarted.start(0).unwrap();
    // Replayed from the WAL (the block's readiness and the proposal), not signed anew, and
    // the height decided with it: nothing durable was lost.
    assert_eq!(restarted.driver.own().len(), 0, "height 1 is committed");
    let ops = restarted.ops();
    let appended_again = ops
        .iter()
        .any(|op| matches!(op, Op::AppendSigned(m) if *m == logged[0]));
    assert!(!appended_again, "{ops:?}");
    assert_eq!(restarted.driver.consensus().height(), 2);
    assert!(ops.contains(&Op::Decide(1)), "{ops:?}");
}

#[test]
fn a_decision_without_its_block_holds_what_follows_until_the_block_arrives() {
    let mut node = validator(Vec::new(), None, false);
    node.start(0).unwrap();
    node.block_ready().unwrap();
    let certificate = node
        .driver
        .blocked_on()
        .cloned()
        .expect("waiting for the block");
    assert_eq!(certificate.height, 1);
    let ops = node.ops();
    assert!(
        !ops.contains(&Op::StartHeight(2)) && !ops.contains(&Op::RequestBlock(2)),
        "nothing of height 2 before the block: {ops:?}"
    );
    // The host fetched and committed the block: the WAL moves on and height 2 begins.
    node.driver.unblock(&mut node.host).unwrap();
    let ops = node.ops();
    let moved = ops.iter().position(|op| *op == Op::StartHeight(2)).unwrap();
    let proposed = ops
        .iter()
        .position(|op| *op == Op::RequestBlock(2))
        .unwrap();
    assert!(moved < proposed, "{ops:?}");
    assert!(node.driver.blocked_on().is_none());
}

#[test]
fn re_sends_wait_for_the_interval_and_are_the_same_messages() {
    // One of four: it proposes and prevotes, then waits for the others.
    let mut node = validator_of(4, 1, Vec::new(), None, true);
    node.start(0).unwrap();
    node.block_ready().unwrap();
    let before = node.sent().len();
    assert_eq!(before, 2, "{:?}", node.ops());
    node.driver.tick(&mut node.host, 999).unwrap();
    assert_eq!(node.sent().len(), before, "not yet due");
    node.driver.tick(&mut node.host, 1_000).unwrap();
    let resent: Vec<(ConsensusMessage, bool)> = node.sent()[before..].to_vec();
    let first: Vec<ConsensusMessage> = node.sent()[..before].iter().map(|s| s.0.clone()).collect();
    assert_eq!(
        resent.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        first,
        "the same messages, not signed again"
    );
    assert!(resent.iter().all(|(_, fresh)| !fresh));
}
