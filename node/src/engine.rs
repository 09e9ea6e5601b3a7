//! The engine: one thread that drives the pure consensus state machine with the ledger, the
//! consensus WAL and the double-sign guard. It is the only writer of the ledger.
//!
//! Inputs come from the network task through a bounded queue; outputs go back to it through
//! another. Consensus is synchronous and so is RocksDB, so the engine is a plain thread with a
//! timer list rather than an async task: nothing here awaits, and a long block validation cannot
//! starve the tokio workers that serve the API and the swarm.
//!
//! Durability order for our own messages: sign, append to the WAL, fsync, and only then send.
//! Received inputs are appended without an fsync of their own (they ride on the next one): they
//! only speed up a restart, they are not needed for safety.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::Sender;
use waybill_protocol::admission::{AdmissionError, CheckedEvent};
use waybill_protocol::block::ConsensusMessage;
use waybill_protocol::event::SignedEvent;
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::limits::EVENT_TIME_FUTURE_SKEW_MS_MAX;

use crate::limits::BLOCK_TIME_LAG_MS_MAX;
use waybill_protocol::{CommitCertificate, Hash, Keypair, ValidatorIndex};

use crate::consensus::wal::{Replay, WalEntry};
use crate::consensus::{
    Consensus, Input, Output, SignatureCheck, SignedPosition, Signer, TimeoutStep,
    message_position, proposal_position, vote_position,
};
use crate::ledger::{BlockProposal, ExecutedBlock, LedgerError};
use crate::network::wire::{BlockBody, ConsensusGossip, SyncResponse};
use crate::node::{CommittedBlock, CommittedEvent, Shared};
use crate::wal::{WalFile, WalFileError};

/// What the network task hands the engine.
#[derive(Debug)]
pub enum EngineInput {
    /// A consensus message, with its share of the queue's byte budget (returned when the
    /// engine is done with it).
    Consensus(ConsensusGossip, tokio::sync::OwnedSemaphorePermit),
    Synced(SyncResponse),
    /// New events reached the mempool (wakes a proposer waiting for some).
    EventsArrived,
}

/// What the engine asks the network task to send.
#[derive(Debug)]
pub enum EngineOutput {
    Gossip(ConsensusGossip),
}

/// Proposed blocks kept per height (all rounds, all proposers): a bound on what peers can make
/// us hold.
const PROPOSED_BLOCKS_MAX: usize = 16;
/// How often our own messages of the current round are sent again while the height stands
/// still: gossip does not retransmit, and a peer that restarted has missed them.
const RESEND_INTERVAL: Duration = Duration::from_millis(1_000);
/// An idle chain makes no empty blocks: round 0's proposer waits this long for events, and the
/// others hold round 0's propose timeout while their mempools are empty. Timeouts only serve
/// liveness, so this changes nothing about safety; under load nobody waits.
const IDLE_BLOCK_INTERVAL: Duration = Duration::from_secs(10);
/// How often a proposer waiting for events looks at the mempool.
const PROPOSER_POLL: Duration = Duration::from_millis(10);
/// Events at or above this count are signature-checked on two threads.
const PARALLEL_CHECK_MIN: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Wal(#[from] WalFileError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Checks the signatures of a block's events, reusing the mempool's check for events it holds
/// with the same signature: each event is verified once per node.
pub fn check_events(
    shared: &Shared,
    events: Vec<SignedEvent>,
) -> Result<Vec<CheckedEvent>, (usize, AdmissionError)> {
    let mut checked: Vec<Option<CheckedEvent>> = Vec::with_capacity(events.len());
    let mut unchecked = Vec::new();
    {
        let mempool = shared.lock_mempool();
        for (index, event) in events.into_iter().enumerate() {
            let known = mempool
                .get(&event.body.id())
                .filter(|pending| pending.event().signature == event.signature);
            match known {
                Some(pending) => checked.push(Some((*pending).clone())),
                None => {
                    checked.push(None);
                    unchecked.push((index, event));
                }
            }
        }
    }
    let rules = &shared.rules;
    let verify = |batch: Vec<(usize, SignedEvent)>| {
        batch
            .into_iter()
            .map(|(index, event)| {
                CheckedEvent::check(rules, event)
                    .map(|c| (index, c))
                    .map_err(|e| (index, e))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let verified = if unchecked.len() >= PARALLEL_CHECK_MIN {
        let second = unchecked.split_off(unchecked.len() / 2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| verify(second));
            let mine = verify(unchecked);
            let other = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let mut all = mine?;
            all.extend(other?);
            Ok(all)
        })?
    } else {
        verify(unchecked)?
    };
    shared
        .metrics
        .signatures_checked
        .add_many("block", verified.len() as u64);
    shared.remember_verified(verified.iter().map(|(_, event)| event.clone()));
    for (index, event) in verified {
        checked[index] = Some(event);
    }
    Ok(checked.into_iter().flatten().collect())
}

pub struct Engine {
    shared: Arc<Shared>,
    consensus: Consensus,
    signer: Signer,
    wal: WalFile,
    me: ValidatorIndex,
    inputs: Receiver<EngineInput>,
    outputs: Sender<EngineOutput>,
    timers: BTreeMap<(Instant, u64), crate::consensus::Timeout>,
    timer_seq: u64,
    /// Bodies of proposed blocks heard for the next heights, by block hash.
    proposed: HashMap<Hash, BlockBody>,
    /// Blocks executed on the current tip (ours, validated, or synced), by block hash.
    executed: HashMap<Hash, ExecutedBlock>,
    /// `ValidateBlock` requests waiting for their block's body.
    awaiting_body: Vec<(u64, Hash)>,
    /// A `RequestBlock` deferred while the mempool is empty, and until when.
    proposing: Option<(u64, u32, Instant)>,
    /// A decision whose block we do not have: consensus outputs wait until sync brings it.
    blocked_on: Option<CommitCertificate>,
    deferred: VecDeque<Output>,
    /// Our signed messages at the current height (for re-sending, and to re-send rather than
    /// re-sign after a restart).
    own: Vec<ConsensusMessage>,
    next_resend: Instant,
    height_started: Instant,
    replaying: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("height", &self.consensus.height())
            .field("round", &self.consensus.round())
            .finish()
    }
}

impl Engine {
    /// Opens the WAL, restores the double-sign guard from it and starts consensus at the
    /// ledger's tip + 1, replaying what the WAL holds for that height.
    pub fn start(
        shared: Arc<Shared>,
        keypair: Keypair,
        wal_path: &std::path::Path,
        inputs: Receiver<EngineInput>,
        outputs: Sender<EngineOutput>,
    ) -> Result<Engine, EngineError> {
        let (mut wal, contents) = WalFile::open(wal_path)?;
        if contents.torn_tail {
            tracing::warn!(
                valid_bytes = contents.valid_len,
                "consensus WAL ended in a torn record (crash while writing); it was cut off"
            );
        }
        let tip = shared.committed_height();
        let replay: Replay = crate::consensus::wal::replay(&contents.entries, tip);
        if !contents.entries.contains(&WalEntry::Height(replay.height)) {
            wal.start_height(replay.height)?;
        }
        let me = shared.validator;
        let mut signer = Signer::new(shared.rules.chain_id().clone(), keypair);
        if let Some(last) = replay.signed.last() {
            signer.restore(last);
        }
        let consensus = Consensus::new(shared.rules.clone(), Some(me), SignatureCheck::Verify);
        let own = replay.signed.clone();
        let mut engine = Engine {
            shared,
            consensus,
            signer,
            wal,
            me,
            inputs,
            outputs,
            timers: BTreeMap::new(),
            timer_seq: 0,
            proposed: HashMap::new(),
            executed: HashMap::new(),
            awaiting_body: Vec::new(),
            proposing: None,
            blocked_on: None,
            deferred: VecDeque::new(),
            own,
            next_resend: Instant::now() + RESEND_INTERVAL,
            height_started: Instant::now(),
            replaying: true,
        };
        tracing::info!(
            height = replay.height,
            replayed_inputs = replay.inputs.len(),
            signed = replay.signed.len(),
            "consensus starting"
        );
        engine.apply(Input::Start {
            height: replay.height,
        })?;
        for input in replay.inputs {
            engine.apply(input)?;
        }
        engine.replaying = false;
        Ok(engine)
    }

    /// Runs until the input queue closes (shutdown) or a storage error makes going on unsafe.
    pub fn run(mut self) -> Result<(), EngineError> {
        loop {
            let now = Instant::now();
            let mut deadline = self.next_resend;
            if let Some(((at, _), _)) = self.timers.first_key_value() {
                deadline = deadline.min(*at);
            }
            if let Some((_, _, until)) = self.proposing {
                // Polls the mempool while waiting to propose: events arriving end the wait.
                deadline = deadline.min(until).min(now + PROPOSER_POLL);
            }
            let wait = deadline.saturating_duration_since(now);
            match self.inputs.recv_timeout(wait) {
                Ok(input) => self.handle(input)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Drain what queued up, so timers are checked between bursts, not each message.
            while let Ok(input) = self.inputs.try_recv() {
                self.handle(input)?;
            }
            self.fire_timers()?;
            self.maybe_propose()?;
            if Instant::now() >= self.next_resend {
                self.resend();
            }
        }
        self.wal.sync()?;
        Ok(())
    }

    fn handle(&mut self, input: EngineInput) -> Result<(), EngineError> {
        match input {
            EngineInput::Consensus(gossip, _budget) => self.receive_gossip(gossip),
            EngineInput::Synced(response) => self.apply_synced(response),
            EngineInput::EventsArrived => Ok(()),
        }
    }

    fn receive_gossip(&mut self, gossip: ConsensusGossip) -> Result<(), EngineError> {
        let message = match gossip {
            ConsensusGossip::Proposal { proposal, block } => {
                let p = &proposal.proposal;
                // Only the round's proposer's block is kept, and only for this height or the
                // next: a validator cannot make us hold bodies for rounds not its own.
                let height = self.consensus.height();
                let keep = block.header.hash() == p.block_hash
                    && (height..=height + 1).contains(&p.height)
                    && p.proposer == self.consensus.proposer(p.height, p.round);
                if keep {
                    self.keep_proposed(p.block_hash, *block);
                }
                ConsensusMessage::Proposal(proposal)
            }
            ConsensusGossip::Vote(vote) => ConsensusMessage::Vote(vote),
        };
        self.apply(Input::Message(message))?;
        self.validate_awaiting()
    }

    fn keep_proposed(&mut self, hash: Hash, block: BlockBody) {
        if self.proposed.contains_key(&hash) {
            return;
        }
        if self.proposed.len() >= PROPOSED_BLOCKS_MAX {
            // Drop the block for the highest height first: ours is the one we need.
            if let Some(victim) = self
                .proposed
                .iter()
                .max_by_key(|(_, b)| b.header.height)
                .map(|(h, _)| *h)
            {
                self.proposed.remove(&victim);
            }
        }
        self.proposed.insert(hash, block);
    }

    fn fire_timers(&mut self) -> Result<(), EngineError> {
        let now = Instant::now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timeout = entry.remove();
            let idle = timeout.step == TimeoutStep::Propose
                && timeout.round == 0
                && self.height_started.elapsed() < IDLE_BLOCK_INTERVAL
                && self.shared.lock_mempool().is_empty();
            if idle {
                self.timer_seq += 1;
                self.timers
                    .insert((now + PROPOSER_POLL * 10, self.timer_seq), timeout);
                continue;
            }
            self.apply(Input::Timeout(timeout))?;
        }
        Ok(())
    }

    /// Feeds one input to consensus, logs it if consensus took it, and carries out what it
    /// asks. A message consensus already holds is skipped, and one it refused is not logged:
    /// the WAL of a height that stands still grows only by what consensus keeps, which its
    /// limits bound per validator, not by the re-sends that arrive every second.
    fn apply(&mut self, input: Input) -> Result<(), EngineError> {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            if let Input::Message(message) = &input {
                if self.consensus.holds(message) {
                    continue;
                }
            }
            let entry = (!self.replaying && !matches!(input, Input::Start { .. }))
                .then(|| WalEntry::Input(input.clone()));
            let outputs = self.consensus.apply(input);
            let refused = outputs
                .iter()
                .any(|output| matches!(output, Output::Rejected { .. }));
            if let Some(entry) = entry.filter(|_| !refused) {
                self.wal.append(&entry);
            }
            for output in outputs {
                if self.blocked_on.is_some() {
                    self.deferred.push_back(output);
                    continue;
                }
                self.perform(output, &mut queue)?;
            }
        }
        self.shared
            .consensus_round
            .store(u64::from(self.consensus.round()), Ordering::Relaxed);
        Ok(())
    }

    fn perform(&mut self, output: Output, queue: &mut VecDeque<Input>) -> Result<(), EngineError> {
        match output {
            Output::CastProposal(proposal) => {
                let at = proposal_position(&proposal);
                let signed = match self.own_at(at) {
                    Some(ConsensusMessage::Proposal(p)) => p,
                    _ => match self.signer.sign_proposal(proposal) {
                        Ok(signed) => {
                            self.wal
                                .append(&WalEntry::Signed(ConsensusMessage::Proposal(
                                    signed.clone(),
                                )));
                            self.wal.sync()?;
                            signed
                        }
                        Err(error) => {
                            tracing::error!(%error, "double-sign guard refused a proposal");
                            return Ok(());
                        }
                    },
                };
                let message = ConsensusMessage::Proposal(signed.clone());
                self.remember_own(message.clone());
                self.send_own(&message);
                queue.push_back(Input::Message(ConsensusMessage::Proposal(signed)));
            }
            Output::CastVote(vote) => {
                let at = vote_position(&vote);
                let signed = match self.own_at(at) {
                    Some(ConsensusMessage::Vote(v)) => v,
                    _ => match self.signer.sign_vote(vote) {
                        Ok(signed) => {
                            self.wal
                                .append(&WalEntry::Signed(ConsensusMessage::Vote(signed.clone())));
                            self.wal.sync()?;
                            signed
                        }
                        Err(error) => {
                            tracing::error!(%error, "double-sign guard refused a vote");
                            return Ok(());
                        }
                    },
                };
                let message = ConsensusMessage::Vote(signed.clone());
                self.remember_own(message.clone());
                self.send_own(&message);
                queue.push_back(Input::Message(ConsensusMessage::Vote(signed)));
            }
            Output::ScheduleTimeout {
                timeout,
                duration_ms,
            } => {
                self.timer_seq += 1;
                let at = Instant::now() + Duration::from_millis(duration_ms);
                self.timers.insert((at, self.timer_seq), timeout);
            }
            Output::RequestBlock { height, round } => {
                let wait = if round == 0 {
                    IDLE_BLOCK_INTERVAL.saturating_sub(self.height_started.elapsed())
                } else {
                    Duration::from_millis(self.consensus.timeout_ms(TimeoutStep::Propose, 0) / 2)
                };
                self.proposing = Some((height, round, Instant::now() + wait));
                // Built right away if events are pending, else when some arrive or the wait ends.
                if let Some(input) = self.try_propose(false)? {
                    queue.push_back(input);
                }
            }
            Output::ValidateBlock {
                height, block_hash, ..
            } => {
                if let Some(input) = self.validate(height, block_hash)? {
                    queue.push_back(input);
                }
            }
            Output::Decide {
                height,
                block_hash,
                certificate,
                ..
            } => {
                match self.executed.remove(&block_hash) {
                    Some(block) => self.commit(block, &certificate)?,
                    None => {
                        // Rare: decided (e.g. from replayed precommits) without the block.
                        tracing::warn!(
                            height,
                            block = %block_hash,
                            "decided a block we do not hold; fetching it by block sync"
                        );
                        self.blocked_on = Some(certificate);
                        self.shared.sync_wanted.store(true, Ordering::Release);
                    }
                }
            }
            Output::Evidence(evidence) => {
                let (offender, height) = evidence.offender();
                tracing::warn!(validator = offender.0, height, "equivocation evidence");
                self.shared.metrics.evidence.fetch_add(1, Ordering::Relaxed);
                if evidence.verify(&self.shared.rules).is_ok() {
                    self.shared.read_ledger().record_evidence(&evidence)?;
                }
            }
            Output::Rejected { sender, reason } => {
                tracing::debug!(sender, %reason, "consensus message not taken into account");
                self.shared
                    .metrics
                    .consensus_rejected
                    .fetch_add(1, Ordering::Relaxed);
            }
            Output::CommitRejected { height, reason } => {
                tracing::warn!(height, %reason, "synced commit refused");
            }
        }
        Ok(())
    }

    fn own_at(&self, at: SignedPosition) -> Option<ConsensusMessage> {
        self.own
            .iter()
            .find(|message| message_position(message) == at)
            .cloned()
    }

    fn remember_own(&mut self, message: ConsensusMessage) {
        let at = message_position(&message);
        self.own.retain(|existing| message_position(existing) != at);
        self.own.push(message);
    }

    /// Sends one of our messages; a proposal goes with its block, or not at all if we no longer
    /// hold the block (after a restart: the round then times out and moves on).
    fn send_own(&self, message: &ConsensusMessage) {
        let gossip = match message {
            ConsensusMessage::Vote(vote) => ConsensusGossip::Vote(vote.clone()),
            ConsensusMessage::Proposal(proposal) => {
                match self.proposed.get(&proposal.proposal.block_hash) {
                    Some(block) => ConsensusGossip::Proposal {
                        proposal: proposal.clone(),
                        block: Box::new(block.clone()),
                    },
                    None => {
                        tracing::warn!(
                            block = %proposal.proposal.block_hash,
                            "not sending a proposal whose block we no longer hold"
                        );
                        return;
                    }
                }
            }
        };
        self.send(gossip);
    }

    fn send(&self, gossip: ConsensusGossip) {
        if self.replaying {
            return;
        }
        // The network task drains this queue continuously; waiting here is back-pressure.
        if self
            .outputs
            .blocking_send(EngineOutput::Gossip(gossip))
            .is_err()
        {
            tracing::debug!("network task gone; not sending");
        }
    }

    /// Re-sends our messages of the current round with a proposal body, if the height has not
    /// moved for a while.
    fn resend(&mut self) {
        self.next_resend = Instant::now() + RESEND_INTERVAL;
        let round = self.consensus.round();
        let height = self.consensus.height();
        for message in &self.own {
            let at = message_position(message);
            if at.height == height && at.round == round {
                self.send_own(message);
            }
        }
    }

    fn maybe_propose(&mut self) -> Result<(), EngineError> {
        if self.proposing.is_some() {
            if let Some(input) = self.try_propose(false)? {
                self.apply(input)?;
            }
        }
        Ok(())
    }

    /// Builds our block if events are pending or the wait for them is over.
    fn try_propose(&mut self, force: bool) -> Result<Option<Input>, EngineError> {
        let Some((height, round, until)) = self.proposing else {
            return Ok(None);
        };
        if height != self.consensus.height() || round != self.consensus.round() {
            self.proposing = None;
            return Ok(None);
        }
        let params = &self.shared.rules.genesis().consensus;
        let candidates = {
            let mempool = self.shared.lock_mempool();
            if mempool.is_empty() && !force && Instant::now() < until {
                return Ok(None);
            }
            mempool.block_candidates(
                params.block_events_max as usize,
                params.block_bytes_max as usize,
            )
        };
        self.proposing = None;
        let built = {
            let ledger = self.shared.read_ledger();
            let time_ms = now_ms().max(ledger.tip().time_ms + 1);
            // Events dated after our time stay pending for a later block (see `build_block`).
            let events: Vec<CheckedEvent> = candidates
                .iter()
                .filter(|e| crate::ledger::fits_block_time(e, time_ms))
                .map(|e| (**e).clone())
                .collect();
            ledger.execute(BlockProposal {
                time_ms,
                proposer: self.me,
                events,
            })
        };
        let block = match built {
            Ok(block) => block,
            Err(LedgerError::DuplicateEvent { id }) => {
                // Cannot happen with the lock order of `node`; cleared so the next try works.
                tracing::error!(event = %id, "mempool held a committed event; dropped it");
                self.shared.lock_mempool().remove_committed([&id]);
                return Ok(None);
            }
            Err(error) => {
                tracing::error!(%error, "could not build a block; the round will time out");
                return Ok(None);
            }
        };
        let hash = block.header.hash();
        let body = BlockBody {
            header: block.header.clone(),
            events: block.events.iter().map(|e| e.event().clone()).collect(),
        };
        tracing::debug!(height, round, events = body.events.len(), "proposing");
        self.proposed.insert(hash, body);
        self.executed.insert(hash, block);
        Ok(Some(Input::BlockReady {
            height,
            round,
            block_hash: hash,
        }))
    }

    /// Executes a proposed block on the tip; `None` while its body has not arrived.
    fn validate(&mut self, height: u64, block_hash: Hash) -> Result<Option<Input>, EngineError> {
        if self.executed.contains_key(&block_hash) {
            return Ok(Some(Input::BlockValidity {
                height,
                block_hash,
                valid: true,
            }));
        }
        let Some(body) = self.proposed.get(&block_hash).cloned() else {
            if !self.awaiting_body.contains(&(height, block_hash)) {
                self.awaiting_body.push((height, block_hash));
            }
            return Ok(None);
        };
        let verdict = self.execute_proposal(body);
        let valid = match verdict {
            Ok(block) => {
                self.executed.insert(block_hash, block);
                true
            }
            Err(reason) => {
                tracing::warn!(height, block = %block_hash, %reason, "proposed block is invalid");
                false
            }
        };
        Ok(Some(Input::BlockValidity {
            height,
            block_hash,
            valid,
        }))
    }

    /// Judges a proposed block's time by this node's clock, then executes it. The time must be
    /// within the clock skew of now either way: a proposer cannot date a block into the future,
    /// nor far enough into the past to make honest events look future-dated. (A block whose
    /// height stood still longer than that is re-proposed with its old time; nodes that judged
    /// it when first proposed remember their verdict, so only one restarted since then may vote
    /// nil on it.)
    fn execute_proposal(&self, body: BlockBody) -> Result<ExecutedBlock, String> {
        let now = now_ms();
        let ahead = body.header.time_ms.saturating_sub(now);
        if ahead > EVENT_TIME_FUTURE_SKEW_MS_MAX {
            return Err(format!(
                "block time is {ahead} ms ahead of this node's clock"
            ));
        }
        let behind = now.saturating_sub(body.header.time_ms);
        if behind > BLOCK_TIME_LAG_MS_MAX {
            return Err(format!(
                "block time is {behind} ms behind this node's clock"
            ));
        }
        self.execute_body(body)
    }

    /// Executes a block on the tip. No clock is read: a certified block's time was judged by
    /// the quorum that signed it, and a node whose clock disagrees must still follow the chain.
    fn execute_body(&self, body: BlockBody) -> Result<ExecutedBlock, String> {
        let events = check_events(&self.shared, body.events)
            .map_err(|(index, error)| format!("event {index}: {error}"))?;
        self.shared
            .read_ledger()
            .validate(&body.header, events)
            .map_err(|error| error.to_string())
    }

    fn validate_awaiting(&mut self) -> Result<(), EngineError> {
        if self.awaiting_body.is_empty() {
            return Ok(());
        }
        let ready: Vec<(u64, Hash)> = self
            .awaiting_body
            .iter()
            .filter(|(_, hash)| self.proposed.contains_key(hash))
            .copied()
            .collect();
        let height = self.consensus.height();
        self.awaiting_body
            .retain(|(h, hash)| *h == height && !self.proposed.contains_key(hash));
        for (h, hash) in ready {
            if h != height {
                continue;
            }
            if let Some(input) = self.validate(h, hash)? {
                self.apply(input)?;
            }
        }
        Ok(())
    }

    /// Writes a decided block, clears what it made obsolete and tells everyone.
    fn commit(
        &mut self,
        block: ExecutedBlock,
        certificate: &CommitCertificate,
    ) -> Result<(), EngineError> {
        let height = block.header.height;
        let ids: Vec<Hash> = block.events.iter().map(CheckedEvent::id).collect();
        let rejected: Vec<&'static str> = block
            .outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                EventOutcome::Rejected { rejection } => Some(rejection.code()),
                EventOutcome::Applied => None,
            })
            .collect();
        // The stream's copy of the events is made only when someone is listening.
        let feed: Option<Vec<CommittedEvent>> =
            (self.shared.commits.receiver_count() > 0).then(|| {
                block
                    .events
                    .iter()
                    .zip(&block.outcomes)
                    .zip(&ids)
                    .enumerate()
                    .map(|(index, ((event, outcome), id))| CommittedEvent {
                        height,
                        index: index as u32,
                        id: *id,
                        event: event.event().clone(),
                        outcome: outcome.clone(),
                    })
                    .collect()
            });
        let admitted = {
            let mut ledger = self.shared.write_ledger();
            ledger.commit(block, certificate)?;
            self.shared.height.store(height, Ordering::Release);
            self.shared.lock_mempool().remove_committed(&ids)
        };
        self.wal.start_height(height + 1)?;
        let metrics = &self.shared.metrics;
        for at in admitted {
            metrics.commit_latency.observe(at.elapsed());
        }
        for code in rejected {
            metrics.events_rejected.add(code);
        }
        metrics.blocks_committed.fetch_add(1, Ordering::Relaxed);
        metrics
            .events_committed
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        metrics
            .block_interval
            .observe(self.height_started.elapsed());
        self.height_started = Instant::now();
        *self
            .shared
            .last_commit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        tracing::info!(height, events = ids.len(), "committed");
        if let Some(events) = feed {
            let _ = self
                .shared
                .commits
                .send(Arc::new(CommittedBlock { height, events }));
        }
        self.executed.clear();
        self.proposed.retain(|_, b| b.header.height > height);
        self.awaiting_body.clear();
        self.own.clear();
        self.proposing = None;
        self.timers.retain(|_, t| t.height > height);
        Ok(())
    }

    /// Applies blocks a peer sent: each must follow our tip and carry a certificate that
    /// verifies against the genesis validators before it is executed and committed.
    fn apply_synced(&mut self, response: SyncResponse) -> Result<(), EngineError> {
        let mut applied = 0u64;
        for synced in response.blocks {
            let tip = self.shared.committed_height();
            if synced.header.height <= tip {
                continue;
            }
            if synced.header.height != tip + 1 {
                break;
            }
            if let Err(reason) = synced
                .certificate
                .verify(&self.shared.rules, &synced.header)
            {
                tracing::warn!(height = synced.header.height, %reason, "synced block's certificate does not verify");
                break;
            }
            let hash = synced.header.hash();
            let block = match self.executed.remove(&hash) {
                Some(block) => block,
                None => match self.execute_body(BlockBody {
                    header: synced.header.clone(),
                    events: synced.events,
                }) {
                    Ok(block) => block,
                    Err(reason) => {
                        // A certified block that does not re-execute means this node's
                        // state differs from the quorum's: going on would fork it.
                        tracing::error!(height = synced.header.height, %reason, "a certified block does not re-execute here");
                        return Err(EngineError::Ledger(LedgerError::Inconsistent {
                            detail: format!(
                                "certified block {} does not re-execute: {reason}",
                                synced.header.height
                            ),
                        }));
                    }
                },
            };
            applied += 1;
            if let Some(blocked) = &self.blocked_on {
                if blocked.height == synced.header.height && blocked.block_hash == hash {
                    let certificate = self.blocked_on.take().expect("checked above");
                    self.commit(block, &certificate)?;
                    let deferred: Vec<Output> = self.deferred.drain(..).collect();
                    let mut queue = VecDeque::new();
                    for output in deferred {
                        self.perform(output, &mut queue)?;
                    }
                    while let Some(input) = queue.pop_front() {
                        self.apply(input)?;
                    }
                    continue;
                }
            }
            if self.consensus.height() == synced.header.height {
                self.executed.insert(hash, block);
                self.apply(Input::Commit {
                    certificate: synced.certificate,
                })?;
            } else {
                // Consensus is elsewhere (it should not be): commit directly, keeping the
                // ledger and consensus from drifting further.
                self.commit(block, &synced.certificate)?;
            }
        }
        if applied > 0 {
            self.shared
                .metrics
                .blocks_synced
                .fetch_add(applied, Ordering::Relaxed);
            tracing::info!(
                applied,
                peer_tip = response.tip_height,
                "applied synced blocks"
            );
        }
        let behind = response.tip_height > self.shared.committed_height();
        self.shared.syncing.store(behind, Ordering::Release);
        if behind {
            self.shared.sync_wanted.store(true, Ordering::Release);
        }
        Ok(())
    }
}
