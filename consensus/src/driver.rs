//! The driver: carries out what the state machine asks, in the order that keeps a validator
//! safe across crashes. Our own votes and proposals are signed through the double-sign guard,
//! appended to the WAL and synced, and only then sent; received inputs are logged without a
//! sync of their own (they only speed up a restart). A decision whose block the host does not
//! hold defers what consensus says next until the block arrives. Our messages of the current
//! height are sent again every resend interval, as gossip does not retransmit. The WAL starts
//! afresh at every height the host commits.
//!
//! The node's engine and the simulation both run this driver; what differs between them is
//! the [`Host`]: where messages go, how blocks are built, validated and committed, how timers
//! fire. Time is an input (`now_ms`), so the driver reads no clock.

use std::collections::VecDeque;

use waybill_protocol::Hash;
use waybill_protocol::block::{CertificateError, ConsensusMessage, VerifiedCertificate};

use crate::signer::{SignError, Signer, message_position, proposal_position, vote_position};
use crate::state_machine::{
    Consensus, Evidence, Input, LoggedInput, MessageRejection, Output, ReplayError, Timeout,
};
use crate::storage::WalStorage;
use crate::wal::{Replay, WalEntry};

/// What the driver needs from the process around it.
pub trait Host {
    /// What stops the driver: a storage failure, or (in the simulation) a crash.
    type Error;

    /// One of our messages, durable in the WAL: send it to every peer. `fresh` is false when
    /// it is sent again (a re-send, or a message the WAL held from before a restart).
    fn send(&mut self, message: &ConsensusMessage, fresh: bool) -> Result<(), Self::Error>;

    /// Feed `timeout` back to the driver `duration_ms` from now.
    fn schedule(&mut self, timeout: Timeout, duration_ms: u64);

    /// We propose at (height, round): the block's `Input::BlockReady` now, or later.
    fn request_block(&mut self, height: u64, round: u32) -> Result<Option<Input>, Self::Error>;

    /// A proposed block to judge: its `Input::BlockValidity` now, or once its body arrived.
    fn validate_block(
        &mut self,
        height: u64,
        round: u32,
        block_hash: Hash,
    ) -> Result<Option<Input>, Self::Error>;

    /// Commit the decided block. `false` if it is not held here: the driver then defers what
    /// consensus says next until the host fetched and committed it ([`Driver::unblock`]).
    fn decide(
        &mut self,
        height: u64,
        block_hash: Hash,
        certificate: &VerifiedCertificate,
    ) -> Result<bool, Self::Error>;

    fn evidence(&mut self, evidence: Evidence) -> Result<(), Self::Error>;

    /// A message consensus did not take into account.
    fn rejected(&mut self, sender: u16, reason: MessageRejection);

    /// A logged commit whose certificate no longer verifies at replay.
    fn commit_rejected(&mut self, height: u64, reason: CertificateError);

    /// The double-sign guard refused to sign what consensus asked (a bug, or a WAL that lost
    /// what we signed): nothing is sent.
    fn sign_refused(&mut self, error: SignError);
}

/// The consensus of one validator with its guard, its WAL and the order of effects.
#[derive(Debug)]
pub struct Driver<W> {
    consensus: Consensus,
    signer: Signer,
    wal: W,
    /// Our signed messages at the current height: re-sent, and after a restart sent again
    /// rather than signed again.
    own: Vec<ConsensusMessage>,
    /// A decision whose block the host does not hold, and what consensus said after it.
    blocked_on: Option<VerifiedCertificate>,
    deferred: VecDeque<Output>,
    replaying: bool,
    resend_interval_ms: u64,
    next_resend_ms: u64,
    /// Messages signed by this driver (not counting re-sends).
    signed: u64,
}

impl<W: WalStorage> Driver<W> {
    /// A driver for `consensus`, signing with `signer`, logging to `wal`, re-sending our
    /// messages every `resend_interval_ms`. Nothing runs until [`Driver::start`].
    pub fn new(consensus: Consensus, signer: Signer, wal: W, resend_interval_ms: u64) -> Driver<W> {
        Driver {
            consensus,
            signer,
            wal,
            own: Vec::new(),
            blocked_on: None,
            deferred: VecDeque::new(),
            replaying: false,
            resend_interval_ms,
            next_resend_ms: 0,
            signed: 0,
        }
    }

    /// Starts consensus at the height after `ledger_height`, with what the WAL (`entries`, as
    /// read when it was opened) holds of it: the guard restored to the last message signed and
    /// the inputs replayed in order, nothing sent meanwhile. The height's marker is written if
    /// the WAL lacks it.
    pub fn start<H>(
        &mut self,
        host: &mut H,
        entries: &[WalEntry],
        ledger_height: u64,
        now_ms: u64,
    ) -> Result<Replayed, H::Error>
    where
        H: Host,
        H::Error: From<W::Error>,
    {
        let replay: Replay = crate::wal::replay(entries, ledger_height);
        if !entries.contains(&WalEntry::Height(replay.height)) {
            self.wal.start_height(replay.height)?;
        }
        if let Some(last) = replay.signed.last() {
            self.signer.restore(last);
        }
        let replayed = Replayed {
            height: replay.height,
            inputs: replay.inputs.len(),
            signed: replay.signed.len(),
        };
        self.own = replay.signed;
        self.next_resend_ms = now_ms.saturating_add(self.resend_interval_ms);
        self.replaying = true;
        let started = self.handle(
            host,
            Input::Start {
                height: replay.height,
            },
        );
        let replayed_inputs = started.and_then(|()| {
            replay
                .inputs
                .into_iter()
                .try_for_each(|logged| match self.verified(host, logged) {
                    Some(input) => self.handle(host, input),
                    None => Ok(()),
                })
        });
        self.replaying = false;
        replayed_inputs.map(|()| replayed)
    }

    /// A logged input checked again; one that no longer verifies is reported and skipped.
    fn verified<H: Host>(&self, host: &mut H, logged: LoggedInput) -> Option<Input> {
        let commit_height = match &logged {
            Input::Commit { certificate } => Some(certificate.height),
            _ => None,
        };
        let sender = match &logged {
            Input::Message(message) => message.sender().0,
            _ => 0,
        };
        match logged.verify(self.consensus.rules()) {
            Ok(input) => Some(input),
            Err(ReplayError::Message(reason)) => {
                host.rejected(sender, reason.into());
                None
            }
            Err(ReplayError::Commit(reason)) => {
                host.commit_rejected(commit_height.unwrap_or_default(), reason);
                None
            }
        }
    }

    pub fn consensus(&self) -> &Consensus {
        &self.consensus
    }

    /// Our signed messages at the current height.
    pub fn own(&self) -> &[ConsensusMessage] {
        &self.own
    }

    pub fn wal(&self) -> &W {
        &self.wal
    }

    pub fn wal_mut(&mut self) -> &mut W {
        &mut self.wal
    }

    /// Messages signed by this driver since it was made.
    pub fn signed(&self) -> u64 {
        self.signed
    }

    /// The decision whose block the host is fetching, if consensus waits for one.
    pub fn blocked_on(&self) -> Option<&VerifiedCertificate> {
        self.blocked_on.as_ref()
    }

    /// Feeds one input to consensus, logs it if consensus took it, and carries out what it
    /// asks. A message consensus already holds is skipped, and one it refused is not logged:
    /// the WAL of a height that stands still grows only by what consensus keeps, which its
    /// limits bound per validator, not by the re-sends that arrive every second.
    pub fn handle<H>(&mut self, host: &mut H, input: Input) -> Result<(), H::Error>
    where
        H: Host,
        H::Error: From<W::Error>,
    {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            if let Input::Message(message) = &input {
                if self.consensus.holds(message.as_ref()) {
                    continue;
                }
            }
            let entry = (!self.replaying && !matches!(input, Input::Start { .. }))
                .then(|| WalEntry::Input(input.logged()));
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
                self.perform(host, output, &mut queue)?;
            }
        }
        Ok(())
    }

    /// Re-sends our messages of the current height once the resend interval has passed.
    pub fn tick<H: Host>(&mut self, host: &mut H, now_ms: u64) -> Result<(), H::Error> {
        if now_ms < self.next_resend_ms {
            return Ok(());
        }
        self.next_resend_ms = now_ms.saturating_add(self.resend_interval_ms);
        let height = self.consensus.height();
        self.own.retain(|message| message.height() == height);
        for message in &self.own {
            host.send(message, false)?;
        }
        Ok(())
    }

    /// The host committed the block consensus was blocked on (fetched by block sync): the WAL
    /// moves to the next height and what consensus said after the decision is carried out.
    pub fn unblock<H>(&mut self, host: &mut H) -> Result<(), H::Error>
    where
        H: Host,
        H::Error: From<W::Error>,
    {
        let Some(certificate) = self.blocked_on.take() else {
            return Ok(());
        };
        self.committed(certificate.height)?;
        let mut queue = VecDeque::new();
        while let Some(output) = self.deferred.pop_front() {
            if self.blocked_on.is_some() {
                self.deferred.push_front(output);
                break;
            }
            self.perform(host, output, &mut queue)?;
        }
        while let Some(input) = queue.pop_front() {
            self.handle(host, input)?;
        }
        Ok(())
    }

    /// Makes the inputs logged since the last sync durable (at shutdown: they speed up the
    /// restart).
    pub fn sync_wal(&mut self) -> Result<(), W::Error> {
        self.wal.sync()
    }

    /// The host committed block `height` without consensus deciding it here (a synced block
    /// for a height consensus is not at): the WAL moves on with the ledger.
    pub fn committed(&mut self, height: u64) -> Result<(), W::Error> {
        self.own.clear();
        self.wal.start_height(height.saturating_add(1))
    }

    fn perform<H>(
        &mut self,
        host: &mut H,
        output: Output,
        queue: &mut VecDeque<Input>,
    ) -> Result<(), H::Error>
    where
        H: Host,
        H::Error: From<W::Error>,
    {
        let answer = match output {
            Output::CastProposal(proposal) => self.cast(host, Unsigned::Proposal(proposal))?,
            Output::CastVote(vote) => self.cast(host, Unsigned::Vote(vote))?,
            Output::ScheduleTimeout {
                timeout,
                duration_ms,
            } => {
                host.schedule(timeout, duration_ms);
                None
            }
            Output::RequestBlock { height, round } => host.request_block(height, round)?,
            Output::ValidateBlock {
                height,
                round,
                block_hash,
            } => host.validate_block(height, round, block_hash)?,
            Output::Decide {
                height,
                block_hash,
                certificate,
                ..
            } => {
                if host.decide(height, block_hash, &certificate)? {
                    self.committed(height)?;
                } else {
                    self.blocked_on = Some(certificate);
                }
                None
            }
            Output::Evidence(evidence) => {
                host.evidence(evidence)?;
                None
            }
            Output::Rejected { sender, reason } => {
                host.rejected(sender, reason);
                None
            }
        };
        queue.extend(answer);
        Ok(())
    }

    /// Our vote or proposal: the one the WAL already holds at its position (after a restart),
    /// or signed, appended and synced; then sent, and fed back to consensus like any other.
    fn cast<H>(&mut self, host: &mut H, unsigned: Unsigned) -> Result<Option<Input>, H::Error>
    where
        H: Host,
        H::Error: From<W::Error>,
    {
        let at = unsigned.position();
        if let Some(logged) = self.own.iter().find(|m| message_position(m) == at).cloned() {
            if !self.replaying {
                host.send(&logged, false)?;
            }
            return Ok(self.own_input(host, logged));
        }
        let signed = match unsigned {
            Unsigned::Vote(vote) => self.signer.sign_vote(vote).map(ConsensusMessage::Vote),
            Unsigned::Proposal(proposal) => self
                .signer
                .sign_proposal(proposal)
                .map(ConsensusMessage::Proposal),
        };
        let message = match signed {
            Ok(message) => message,
            Err(error) => {
                host.sign_refused(error);
                return Ok(None);
            }
        };
        self.wal.append(&WalEntry::Signed(message.clone()));
        self.wal.sync()?;
        self.signed += 1;
        self.own.push(message.clone());
        if !self.replaying {
            host.send(&message, true)?;
        }
        Ok(self.own_input(host, message))
    }

    /// Our message fed back to consensus, verified like any other: a node key that is not its
    /// genesis validator's shows here, and consensus never counts what peers would refuse.
    fn own_input<H: Host>(&self, host: &mut H, message: ConsensusMessage) -> Option<Input> {
        let sender = message.sender().0;
        match message.verify(self.consensus.rules()) {
            Ok(verified) => Some(Input::Message(verified)),
            Err(reason) => {
                host.rejected(sender, reason.into());
                None
            }
        }
    }
}

/// What [`Driver::start`] resumed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub height: u64,
    pub inputs: usize,
    pub signed: usize,
}

/// A vote or proposal consensus asked for, before it is signed.
#[derive(Debug)]
enum Unsigned {
    Vote(waybill_protocol::Vote),
    Proposal(waybill_protocol::block::Proposal),
}

impl Unsigned {
    fn position(&self) -> crate::SignedPosition {
        match self {
            Unsigned::Vote(vote) => vote_position(vote),
            Unsigned::Proposal(proposal) => proposal_position(proposal),
        }
    }
}
