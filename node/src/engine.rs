//! The engine: one thread that drives the pure consensus state machine with the ledger, the
//! consensus WAL and the double-sign guard. It is the only writer of the ledger.
//!
//! Inputs come from the network task through a bounded queue; outputs go back to it through
//! another. Consensus is synchronous and so is RocksDB, so the engine is a plain thread with a
//! timer list rather than an async task: nothing here awaits, and a long block validation cannot
//! starve the tokio workers that serve the API and the swarm.
//!
//! The durable order for our own messages (sign, append to the WAL, fsync, and only then send),
//! re-sends, deferral while a decided block is missing and WAL rotation are the consensus
//! crate's [`Driver`], which the simulation runs too; the engine is its [`Host`] here: blocks
//! built, validated and committed against the ledger, messages handed to the network task,
//! timers on the wall clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::Sender;
use waybill_protocol::admission::{AdmissionError, CheckedEvent};
use waybill_protocol::block::{ConsensusMessage, VerifiedCertificate, VerifiedMessage};
use waybill_protocol::event::SignedEvent;
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::limits::EVENT_TIME_FUTURE_SKEW_MS_MAX;

use crate::limits::{BLOCK_TIME_LAG_MS_MAX, IDLE_BLOCK_INTERVAL, PROPOSER_POLL, RESEND_INTERVAL};
use waybill_protocol::{Hash, Keypair, ValidatorIndex};

use crate::admission;
use crate::assembly::{Assemblies, Fetch};
use crate::consensus::wal_file::{WalFile, WalFileError};
use crate::consensus::{
    Consensus, Driver, Evidence, Host, Input, MessageRejection, SignError, Signer, TimeoutStep,
};
use crate::ledger::{ExecutedBlock, LedgerError};
use crate::network::wire::{
    BlockBody, CompactBody, ConsensusGossip, ProposalEventsRequest, ProposalEventsResponse,
    ProposedBlock, SyncResponse, SyncedBlock, VerifiedGossip,
};
use crate::node::{CommittedBlock, CommittedEvent, Shared};
use waybill_protocol::block::CertificateError;

/// What the network task hands the engine.
#[derive(Debug)]
pub enum EngineInput {
    /// A consensus message, with its share of the queue's byte budget (returned when the
    /// engine is done with it).
    Consensus(VerifiedGossip, tokio::sync::OwnedSemaphorePermit),
    Synced(SyncResponse),
    /// A proposer's answer with events of its proposal this node lacked.
    ProposalEvents(ProposalEventsResponse),
    /// New events reached the mempool (wakes a proposer waiting for some).
    EventsArrived,
}

/// What the engine asks the network task to send.
#[derive(Debug)]
pub enum EngineOutput {
    Gossip(ConsensusGossip),
    /// Blocks are wanted that consensus cannot give: a decided block this node does not hold,
    /// or a peer's tip above ours. (The engine is the only one to say so; the network also
    /// asks on its own when commits stall.)
    SyncWanted,
    /// A compact proposal names events this node's mempool lacks: ask its proposer.
    FetchProposalEvents {
        proposer: ValidatorIndex,
        request: ProposalEventsRequest,
    },
}

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

/// A synced block whose certificate is checked, and its events' signatures unless this node
/// already executed the block (as a proposal) and checked them then.
#[derive(Debug)]
struct CheckedSynced {
    header: waybill_protocol::BlockHeader,
    hash: Hash,
    last_commit: Option<waybill_protocol::CommitCertificate>,
    events: SyncedEvents,
    certificate: VerifiedCertificate,
}

#[derive(Debug)]
enum SyncedEvents {
    Checked(Vec<CheckedEvent>),
    AlreadyExecuted(Vec<SignedEvent>),
}

/// Why a synced block was not taken: a certificate that does not verify is the peer's fault
/// (the sync stops there); a certified block whose events do not verify means the quorum that
/// signed it did not check them, which the engine reports as an inconsistency.
#[derive(Debug)]
enum SyncedRefusal {
    Certificate(String),
    Events { height: u64, reason: String },
}

/// The one check of a synced block: its certificate's signatures, that it is this header's,
/// and its events' signatures unless the block is one of `executed`. Pure apart from the
/// mempool look-up in [`check_events`].
fn check_synced(
    shared: &Shared,
    executed: &HashSet<Hash>,
    synced: SyncedBlock,
) -> Result<CheckedSynced, SyncedRefusal> {
    let height = synced.header.height;
    let hash = synced.header.hash();
    let certificate = synced
        .certificate
        .into_verified(&shared.rules)
        .and_then(|certificate| {
            certificate.certifies(&shared.rules, &synced.header)?;
            Ok(certificate)
        })
        .map_err(|reason| SyncedRefusal::Certificate(format!("block {height}: {reason}")))?;
    let events = if executed.contains(&hash) {
        SyncedEvents::AlreadyExecuted(synced.events)
    } else {
        let checked = checked_synced_events(shared, &synced.events)
            .map_err(|reason| SyncedRefusal::Events { height, reason })?;
        SyncedEvents::Checked(checked)
    };
    Ok(CheckedSynced {
        header: synced.header,
        hash,
        last_commit: synced.last_commit,
        events,
        certificate,
    })
}

/// A synced block's events checked, or the first that does not verify, in words.
fn checked_synced_events(
    shared: &Shared,
    events: &[SignedEvent],
) -> Result<Vec<CheckedEvent>, String> {
    let ids: Vec<Hash> = events.iter().map(|event| event.body.id()).collect();
    checked_in_words(shared, events, &ids)
}

/// [`check_events`], the first event that does not verify said in words.
fn checked_in_words(
    shared: &Shared,
    events: &[SignedEvent],
    ids: &[Hash],
) -> Result<Vec<CheckedEvent>, String> {
    check_events(shared, events, ids).map_err(|(index, error)| format!("event {index}: {error}"))
}

/// Checks the signatures of a block's events, whose ids the caller gives (a proposed block
/// holds them already), reusing the mempool's check for events it holds with the same
/// signature: each event is verified once per node.
pub fn check_events(
    shared: &Shared,
    events: &[SignedEvent],
    ids: &[Hash],
) -> Result<Vec<CheckedEvent>, (usize, AdmissionError)> {
    debug_assert_eq!(events.len(), ids.len());
    let mut checked: Vec<Option<CheckedEvent>> = Vec::with_capacity(events.len());
    let mut unchecked = Vec::new();
    {
        let mempool = shared.lock_mempool();
        for (index, (event, id)) in events.iter().zip(ids).enumerate() {
            let known = mempool
                .get(id)
                .filter(|pending| pending.event().signature == event.signature);
            match known {
                Some(pending) => checked.push(Some((*pending).clone())),
                None => {
                    checked.push(None);
                    unchecked.push((index, event.clone()));
                }
            }
        }
    }
    let verified = admission::check_on_cores(&shared.rules, unchecked)
        .into_iter()
        .map(|(index, result)| result.map(|c| (index, c)).map_err(|e| (index, e)))
        .collect::<Result<Vec<_>, _>>()?;
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
    driver: Driver<WalFile>,
    host: EngineHost,
    inputs: Receiver<EngineInput>,
}

/// What the driver asks of the node: blocks built, validated and committed against the ledger,
/// messages handed to the network task, timers on the wall clock.
struct EngineHost {
    shared: Arc<Shared>,
    me: ValidatorIndex,
    outputs: Sender<EngineOutput>,
    timers: BTreeMap<(Instant, u64), crate::consensus::Timeout>,
    timer_seq: u64,
    /// Compact proposals waiting for events this node lacked. (Whole proposed blocks are
    /// held in `Shared`, where the network serves their events.)
    assemblies: Assemblies,
    /// Events reached the mempool since the waiting proposals last looked at it.
    events_arrived: bool,
    /// Blocks executed on the current tip (ours, validated, or synced), by block hash.
    executed: HashMap<Hash, ExecutedBlock>,
    /// `ValidateBlock` requests waiting for their block's body.
    awaiting_body: Vec<(u64, Hash)>,
    /// A `RequestBlock` deferred while the mempool is empty, and until when.
    proposing: Option<(u64, u32, Instant)>,
    height_started: Instant,
    /// Whether the tip block has events: then the next block follows at once, events or not,
    /// because only it makes the tip's certificate canonical, and proofs of those events are
    /// served as of the certified height.
    tip_has_events: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("height", &self.driver.consensus().height())
            .field("round", &self.driver.consensus().round())
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
        let (wal, contents) = WalFile::open(wal_path)?;
        if contents.torn_tail {
            tracing::warn!(
                valid_bytes = contents.valid_len,
                "consensus WAL ended in a torn record (crash while writing); it was cut off"
            );
        }
        let me = shared.validator;
        let signer = Signer::new(shared.rules.chain_id().clone(), keypair);
        let consensus = Consensus::new(shared.rules.clone(), Some(me));
        let resend_ms = RESEND_INTERVAL.as_millis() as u64;
        let mut driver = Driver::new(consensus, signer, wal, resend_ms);
        let mut host = EngineHost {
            shared: shared.clone(),
            me,
            outputs,
            timers: BTreeMap::new(),
            timer_seq: 0,
            assemblies: Assemblies::default(),
            events_arrived: false,
            executed: HashMap::new(),
            awaiting_body: Vec::new(),
            proposing: None,
            height_started: Instant::now(),
            tip_has_events: shared.read_ledger().tip_has_events()?,
        };
        let tip = shared.committed_height();
        let replayed = driver.start(&mut host, &contents.entries, tip, now_ms())?;
        tracing::info!(
            height = replayed.height,
            replayed_inputs = replayed.inputs,
            signed = replayed.signed,
            "consensus starting"
        );
        Ok(Engine {
            driver,
            host,
            inputs,
        })
    }

    /// Runs until the input queue closes (shutdown) or a storage error makes going on unsafe.
    pub fn run(mut self) -> Result<(), EngineError> {
        loop {
            let now = Instant::now();
            let mut deadline = now + RESEND_INTERVAL;
            if let Some(((at, _), _)) = self.host.timers.first_key_value() {
                deadline = deadline.min(*at);
            }
            if let Some(at) = self.host.assemblies.next_due() {
                deadline = deadline.min(at);
            }
            if let Some((_, _, until)) = self.host.proposing {
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
            if self.host.tend_assemblies() {
                self.validate_awaiting()?;
            }
            self.fire_timers()?;
            self.maybe_propose()?;
            self.driver.tick(&mut self.host, now_ms())?;
        }
        self.driver.sync_wal()?;
        Ok(())
    }

    fn handle(&mut self, input: EngineInput) -> Result<(), EngineError> {
        match input {
            EngineInput::Consensus(gossip, _budget) => self.receive_gossip(gossip),
            EngineInput::Synced(response) => self.apply_synced(response),
            EngineInput::ProposalEvents(response) => {
                self.host.receive_proposal_events(response);
                self.validate_awaiting()
            }
            EngineInput::EventsArrived => {
                self.host.events_arrived = true;
                Ok(())
            }
        }
    }

    /// Feeds one input to the driver.
    fn apply(&mut self, input: Input) -> Result<(), EngineError> {
        self.driver.handle(&mut self.host, input)?;
        self.host.shared.consensus_round.store(
            u64::from(self.driver.consensus().round()),
            Ordering::Relaxed,
        );
        Ok(())
    }

    fn receive_gossip(&mut self, gossip: VerifiedGossip) -> Result<(), EngineError> {
        if let (VerifiedMessage::Proposal(proposal), Some(block)) = (&gossip.message, gossip.block)
        {
            let p = &proposal.proposal;
            // Only the round's proposer's block is kept, and only for this height or the
            // next: a validator cannot make us hold bodies for rounds not its own.
            let consensus = self.driver.consensus();
            let height = consensus.height();
            let keep = block.header.hash() == p.block_hash
                && (height..=height + 1).contains(&p.height)
                && p.proposer == consensus.proposer(p.height, p.round);
            if keep {
                self.host.assemble(p.proposer, *block);
            }
        }
        self.apply(Input::Message(gossip.message))?;
        self.validate_awaiting()
    }

    fn fire_timers(&mut self) -> Result<(), EngineError> {
        let now = Instant::now();
        while let Some(entry) = self.host.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timeout = entry.remove();
            let idle = timeout.step == TimeoutStep::Propose
                && timeout.round == 0
                && !self.host.tip_has_events
                && self.host.height_started.elapsed() < IDLE_BLOCK_INTERVAL
                && self.host.shared.lock_mempool().is_empty();
            if idle {
                self.host.timer_seq += 1;
                self.host
                    .timers
                    .insert((now + PROPOSER_POLL * 10, self.host.timer_seq), timeout);
                continue;
            }
            self.apply(Input::Timeout(timeout))?;
        }
        Ok(())
    }

    fn maybe_propose(&mut self) -> Result<(), EngineError> {
        if self.host.proposing.is_some() {
            let consensus = self.driver.consensus();
            let now_at = (consensus.height(), consensus.round());
            if let Some(input) = self.host.try_propose(now_at, false)? {
                self.apply(input)?;
            }
        }
        Ok(())
    }

    fn validate_awaiting(&mut self) -> Result<(), EngineError> {
        if self.host.awaiting_body.is_empty() {
            return Ok(());
        }
        let host = &mut self.host;
        let ready: Vec<(u64, Hash)> = host
            .awaiting_body
            .iter()
            .filter(|(_, hash)| host.shared.holds_proposal(hash))
            .copied()
            .collect();
        let height = self.driver.consensus().height();
        host.awaiting_body
            .retain(|(h, hash)| *h == height && !host.shared.holds_proposal(hash));
        for (h, hash) in ready {
            if h != height {
                continue;
            }
            if let Some(input) = self.host.validate(h, hash)? {
                self.apply(input)?;
            }
        }
        Ok(())
    }

    /// Applies blocks a peer sent: each must follow our tip and carry a certificate that
    /// verifies against the genesis validators before it is executed and committed. The
    /// signatures of block k+1 are checked on a thread of their own while block k executes and
    /// commits here, one block ahead at most (catch-up is otherwise verify, then write).
    fn apply_synced(&mut self, response: SyncResponse) -> Result<(), EngineError> {
        let tip_height = response.tip_height;
        let shared = self.host.shared.clone();
        let from = shared.committed_height();
        // Only blocks on the current tip are ever executed ahead of their commit, so these
        // stay executed until the loop below takes the first block.
        let executed: HashSet<Hash> = self.host.executed.keys().copied().collect();
        let applied = std::thread::scope(|scope| {
            let (checked_out, checked) = std::sync::mpsc::sync_channel(1);
            scope.spawn(move || {
                let ahead = response.blocks.into_iter();
                for synced in ahead.skip_while(|b| b.header.height <= from) {
                    // A closed channel: the engine stopped taking these blocks.
                    if checked_out
                        .send(check_synced(&shared, &executed, synced))
                        .is_err()
                    {
                        break;
                    }
                }
            });
            self.apply_checked(checked)
        })?;
        let shared = &self.host.shared;
        if applied > 0 {
            shared
                .metrics
                .blocks_synced
                .fetch_add(applied, Ordering::Relaxed);
            tracing::info!(applied, peer_tip = tip_height, "applied synced blocks");
        }
        let behind = tip_height > shared.committed_height();
        shared.syncing.store(behind, Ordering::Release);
        if behind {
            self.host.output(EngineOutput::SyncWanted);
        }
        Ok(())
    }

    /// Executes and commits checked synced blocks in order while each follows the tip; the
    /// number applied.
    fn apply_checked(
        &mut self,
        checked: std::sync::mpsc::Receiver<Result<CheckedSynced, SyncedRefusal>>,
    ) -> Result<u64, EngineError> {
        let mut applied = 0u64;
        for synced in checked {
            let synced = match synced {
                Ok(synced) => synced,
                Err(SyncedRefusal::Certificate(reason)) => {
                    tracing::warn!(%reason, "synced block's certificate does not verify");
                    break;
                }
                Err(SyncedRefusal::Events { height, reason }) => {
                    return Err(not_reexecuted(height, reason));
                }
            };
            let tip = self.host.shared.committed_height();
            let height = synced.header.height;
            if height <= tip {
                continue;
            }
            if height != tip + 1 {
                break;
            }
            let hash = synced.hash;
            let block = match self.host.executed.remove(&hash) {
                Some(block) => block,
                None => {
                    let events = match synced.events {
                        SyncedEvents::Checked(events) => events,
                        // Not expected (see apply_synced), but then checked here after all.
                        SyncedEvents::AlreadyExecuted(events) => {
                            checked_synced_events(&self.host.shared, &events)
                                .map_err(|reason| not_reexecuted(height, reason))?
                        }
                    };
                    self.host
                        .execute_certified(synced.header, synced.last_commit, events)?
                }
            };
            applied += 1;
            let certificate = synced.certificate;
            let unblocks = self
                .driver
                .blocked_on()
                .is_some_and(|blocked| blocked.height == height && blocked.block_hash == hash);
            if unblocks {
                self.host.commit(block, &certificate)?;
                self.driver.unblock(&mut self.host)?;
                continue;
            }
            if self.driver.consensus().height() == height {
                self.host.executed.insert(hash, block);
                self.apply(Input::Commit { certificate })?;
            } else {
                // Consensus is elsewhere (it should not be): commit directly, keeping the
                // ledger and consensus from drifting further.
                self.host.commit(block, &certificate)?;
                self.driver.committed(height)?;
            }
        }
        Ok(applied)
    }
}

impl Host for EngineHost {
    type Error = EngineError;

    /// A proposal goes with its block, or not at all if we no longer hold the block (after a
    /// restart: the round then times out and moves on).
    fn send(&mut self, message: &ConsensusMessage, _fresh: bool) -> Result<(), EngineError> {
        let gossip = match message {
            ConsensusMessage::Vote(vote) => ConsensusGossip::Vote(vote.clone()),
            ConsensusMessage::Proposal(proposal) => {
                match self.shared.proposal(&proposal.proposal.block_hash) {
                    Some(block) => ConsensusGossip::Proposal {
                        proposal: proposal.clone(),
                        block: Box::new(block.compact()),
                    },
                    None => {
                        tracing::warn!(
                            block = %proposal.proposal.block_hash,
                            "not sending a proposal whose block we no longer hold"
                        );
                        return Ok(());
                    }
                }
            }
        };
        self.output(EngineOutput::Gossip(gossip));
        Ok(())
    }

    fn schedule(&mut self, timeout: crate::consensus::Timeout, duration_ms: u64) {
        self.timer_seq += 1;
        let at = Instant::now() + Duration::from_millis(duration_ms);
        self.timers.insert((at, self.timer_seq), timeout);
    }

    fn request_block(&mut self, height: u64, round: u32) -> Result<Option<Input>, EngineError> {
        let wait = if round == 0 && self.tip_has_events {
            Duration::ZERO
        } else if round == 0 {
            IDLE_BLOCK_INTERVAL.saturating_sub(self.height_started.elapsed())
        } else {
            let propose_ms = self.shared.rules.genesis().consensus.timeout_propose_ms;
            Duration::from_millis(propose_ms / 2)
        };
        self.proposing = Some((height, round, Instant::now() + wait));
        // Built right away if events are pending, else when some arrive or the wait ends.
        self.try_propose((height, round), false)
    }

    fn validate_block(
        &mut self,
        height: u64,
        _round: u32,
        block_hash: Hash,
    ) -> Result<Option<Input>, EngineError> {
        self.validate(height, block_hash)
    }

    fn decide(
        &mut self,
        height: u64,
        block_hash: Hash,
        certificate: &VerifiedCertificate,
    ) -> Result<bool, EngineError> {
        match self.executed.remove(&block_hash) {
            Some(block) => {
                self.commit(block, certificate)?;
                Ok(true)
            }
            None => {
                // Rare: decided (e.g. from replayed precommits) without the block.
                tracing::warn!(
                    height,
                    block = %block_hash,
                    "decided a block we do not hold; fetching it by block sync"
                );
                self.output(EngineOutput::SyncWanted);
                Ok(false)
            }
        }
    }

    fn evidence(&mut self, evidence: Evidence) -> Result<(), EngineError> {
        let (offender, height) = evidence.offender();
        tracing::warn!(validator = offender.0, height, "equivocation evidence");
        self.shared.metrics.evidence.fetch_add(1, Ordering::Relaxed);
        if evidence.verify(&self.shared.rules).is_ok() {
            self.shared.read_ledger().record_evidence(&evidence)?;
        }
        Ok(())
    }

    fn rejected(&mut self, sender: u16, reason: MessageRejection) {
        tracing::debug!(sender, %reason, "consensus message not taken into account");
        self.shared
            .metrics
            .consensus_rejected
            .fetch_add(1, Ordering::Relaxed);
    }

    fn commit_rejected(&mut self, height: u64, reason: CertificateError) {
        tracing::warn!(height, %reason, "synced commit refused");
    }

    fn sign_refused(&mut self, error: SignError) {
        tracing::error!(%error, "double-sign guard refused to sign");
    }
}

impl EngineHost {
    /// The network task drains this queue continuously; waiting here is back-pressure.
    fn output(&self, output: EngineOutput) {
        if self.outputs.blocking_send(output).is_err() {
            tracing::debug!("network task gone; not sending");
        }
    }

    /// Makes a compact proposal whole from the mempool, or keeps it waiting for the rest.
    fn assemble(&mut self, proposer: ValidatorIndex, compact: CompactBody) {
        let hash = compact.header.hash();
        if self.shared.holds_proposal(&hash) {
            return;
        }
        let whole = {
            let mempool = self.shared.lock_mempool();
            self.assemblies
                .start(&mempool, proposer, compact, Instant::now())
        };
        if let Some(block) = whole {
            self.shared.keep_proposal(hash, block);
        }
    }

    /// Waiting proposals made whole by events that arrived since, and the proposers asked
    /// for what is still missing once the wait is over. Whether any became whole.
    fn tend_assemblies(&mut self) -> bool {
        // Called on every turn of the engine's loop: the mempool is looked at again only if
        // events reached it since, or once more before a fetch falls due.
        let arrived = std::mem::take(&mut self.events_arrived);
        let now = Instant::now();
        let due = self.assemblies.next_due().is_some_and(|at| at <= now);
        if self.assemblies.is_empty() || !(arrived || due) {
            return false;
        }
        let whole = {
            let mempool = self.shared.lock_mempool();
            self.assemblies.refill(&mempool)
        };
        let any = !whole.is_empty();
        for (hash, block) in whole {
            self.shared.keep_proposal(hash, block);
        }
        for Fetch { proposer, request } in self.assemblies.due(now) {
            self.shared
                .metrics
                .proposal_events_fetched
                .fetch_add(request.positions.len() as u64, Ordering::Relaxed);
            self.output(EngineOutput::FetchProposalEvents { proposer, request });
        }
        any
    }

    /// Completes a waiting proposal with the events its proposer sent.
    fn receive_proposal_events(&mut self, response: ProposalEventsResponse) {
        let hash = response.block_hash;
        match self.assemblies.receive(response) {
            Some(Ok(block)) => self.shared.keep_proposal(hash, block),
            Some(Err(missing)) => {
                tracing::warn!(block = %hash, missing, "the proposer did not give all its events");
            }
            None => {}
        }
    }

    /// Builds our block if events are pending or the wait for them is over.
    /// `now_at` is where consensus is: a request for another height or round is stale.
    fn try_propose(
        &mut self,
        now_at: (u64, u32),
        force: bool,
    ) -> Result<Option<Input>, EngineError> {
        let Some((height, round, until)) = self.proposing else {
            return Ok(None);
        };
        if (height, round) != now_at {
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
            ledger
                .proposal(time_ms, self.me, events)
                .and_then(|proposal| ledger.execute(proposal))
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
            last_commit: block.last_commit.clone(),
            events: block.events.iter().map(|e| e.event().clone()).collect(),
        };
        tracing::debug!(height, round, events = body.events.len(), "proposing");
        let ids = block.events.iter().map(CheckedEvent::id).collect();
        self.shared.keep_proposal(hash, ProposedBlock { body, ids });
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
        let Some(block) = self.shared.proposal(&block_hash) else {
            if !self.awaiting_body.contains(&(height, block_hash)) {
                self.awaiting_body.push((height, block_hash));
            }
            return Ok(None);
        };
        let verdict = self.execute_proposal(&block);
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
    fn execute_proposal(&self, block: &ProposedBlock) -> Result<ExecutedBlock, String> {
        let body = &block.body;
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
        let events = checked_in_words(&self.shared, &body.events, &block.ids)?;
        self.shared
            .read_ledger()
            .validate(&body.header, body.last_commit.clone(), events)
            .map_err(|error| error.to_string())
    }

    /// Writes a decided block, clears what it made obsolete and tells everyone.
    fn commit(
        &mut self,
        block: ExecutedBlock,
        certificate: &VerifiedCertificate,
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
            ledger.commit_verified(block, certificate)?;
            self.shared.height.store(height, Ordering::Release);
            self.shared.lock_mempool().remove_committed(&ids)
        };
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
        self.tip_has_events = !ids.is_empty();
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
        self.shared.forget_proposals(height);
        self.assemblies.forget(height);
        self.awaiting_body.clear();
        self.proposing = None;
        self.timers.retain(|_, t| t.height > height);
        Ok(())
    }

    /// Executes a block a quorum certified. A certified block that does not re-execute means
    /// this node's state differs from the quorum's: going on would fork it.
    fn execute_certified(
        &self,
        header: waybill_protocol::BlockHeader,
        last_commit: Option<waybill_protocol::CommitCertificate>,
        events: Vec<CheckedEvent>,
    ) -> Result<ExecutedBlock, EngineError> {
        let height = header.height;
        let executed = self
            .shared
            .read_ledger()
            .validate(&header, last_commit, events);
        executed.map_err(|reason| not_reexecuted(height, reason.to_string()))
    }
}

/// A certified block that does not re-execute here: our ledger and the quorum disagree.
fn not_reexecuted(height: u64, reason: String) -> EngineError {
    tracing::error!(height, %reason, "a certified block does not re-execute here");
    EngineError::Ledger(LedgerError::Inconsistent {
        detail: format!("certified block {height} does not re-execute: {reason}"),
    })
}
