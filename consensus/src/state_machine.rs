//! The pure Tendermint state machine. Each `upon` rule of Algorithm 1 is implemented once and
//! cites its line numbers (L22 … L67). Values are block hashes; whether a block is valid is the
//! application's verdict (`Input::BlockValidity`), asked for with `Output::ValidateBlock`.
//!
//! Votes and proposals the node casts go out unsigned (`Output::CastVote`, `CastProposal`): the
//! driver persists and signs them through the [`crate::Signer`], broadcasts them, and feeds them
//! back as `Input::Message` like any other.
//!
//! Signatures are checked before anything gets here: `Input::Message` holds a
//! [`VerifiedMessage`] and `Input::Commit` a [`VerifiedCertificate`], types only a check makes,
//! so each message is verified once, where it entered the node. The WAL logs the same inputs
//! unverified ([`LoggedInput`]); replay checks them again.
//!
//! Bounded: messages beyond `CONSENSUS_ROUNDS_AHEAD_MAX` rounds ahead, beyond the next height,
//! or from non-validators are rejected; at most `CONSENSUS_ROUNDS_KEPT_MAX` rounds are kept per
//! height and `CONSENSUS_FUTURE_MESSAGES_MAX` messages for the next height.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use waybill_protocol::block::{
    ConsensusMessage, MessageRef, MessageSignatureError, Proposal, SignedProposal,
    VerifiedCertificate, VerifiedMessage, VerifiedProposal, VerifiedVote,
};
use waybill_protocol::limits::{
    CONSENSUS_FUTURE_MESSAGES_MAX, CONSENSUS_ROUNDS_AHEAD_MAX, CONSENSUS_ROUNDS_KEPT_MAX,
    TIMEOUT_MS_MAX,
};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{CommitCertificate, Hash, SignedVote, ValidatorIndex, Vote, VoteStep};

/// Where a round is (the paper's `step_p`); ordered as the paper compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Propose,
    Prevote,
    Precommit,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode,
)]
pub enum TimeoutStep {
    Propose,
    Prevote,
    Precommit,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode,
)]
pub struct Timeout {
    pub height: u64,
    pub round: u32,
    pub step: TimeoutStep,
}

/// What the state machine takes: messages and synced certificates verified (`M`, `C` by
/// default), or as the WAL logs them ([`LoggedInput`]).
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Input<M = VerifiedMessage, C = VerifiedCertificate> {
    /// Begin at `height` (at boot: the ledger's tip + 1).
    Start {
        height: u64,
    },
    Message(M),
    Timeout(Timeout),
    /// The block this node proposes, answering `Output::RequestBlock`.
    BlockReady {
        height: u64,
        round: u32,
        block_hash: Hash,
    },
    /// The application's verdict on a proposed block, answering `Output::ValidateBlock`.
    BlockValidity {
        height: u64,
        block_hash: Hash,
        valid: bool,
    },
    /// A decision of the current height learned from a peer (block sync), its certificate's
    /// precommits verified.
    Commit {
        certificate: C,
    },
}

/// An input as the WAL holds it: the same bytes, with nothing verified.
pub type LoggedInput = Input<ConsensusMessage, CommitCertificate>;

/// Why a logged input no longer verifies (a WAL from another genesis, or damaged in a way its
/// checksums missed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("a logged message: {0}")]
    Message(#[from] MessageSignatureError),
    #[error("a logged commit: {0}")]
    Commit(#[from] waybill_protocol::block::CertificateError),
}

impl Input {
    /// The input as the WAL logs it.
    pub fn logged(&self) -> LoggedInput {
        match self {
            Input::Start { height } => Input::Start { height: *height },
            Input::Message(message) => Input::Message(message.message()),
            Input::Timeout(timeout) => Input::Timeout(*timeout),
            Input::BlockReady {
                height,
                round,
                block_hash,
            } => Input::BlockReady {
                height: *height,
                round: *round,
                block_hash: *block_hash,
            },
            Input::BlockValidity {
                height,
                block_hash,
                valid,
            } => Input::BlockValidity {
                height: *height,
                block_hash: *block_hash,
                valid: *valid,
            },
            Input::Commit { certificate } => Input::Commit {
                certificate: (**certificate).clone(),
            },
        }
    }
}

impl LoggedInput {
    /// Checks a logged input's signatures again (replay trusts no file).
    pub fn verify(self, rules: &ChainRules) -> Result<Input, ReplayError> {
        Ok(match self {
            Input::Start { height } => Input::Start { height },
            Input::Message(message) => Input::Message(message.verify(rules)?),
            Input::Timeout(timeout) => Input::Timeout(timeout),
            Input::BlockReady {
                height,
                round,
                block_hash,
            } => Input::BlockReady {
                height,
                round,
                block_hash,
            },
            Input::BlockValidity {
                height,
                block_hash,
                valid,
            } => Input::BlockValidity {
                height,
                block_hash,
                valid,
            },
            Input::Commit { certificate } => Input::Commit {
                certificate: certificate.into_verified(rules)?,
            },
        })
    }
}

/// Two conflicting signed messages from one validator.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Evidence {
    DoubleVote {
        first: SignedVote,
        second: SignedVote,
    },
    DoubleProposal {
        first: SignedProposal,
        second: SignedProposal,
    },
}

/// Why a piece of evidence does not prove an equivocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("the two messages are from different validators or positions")]
    NotTheSamePosition,
    #[error("the two messages are identical")]
    NotConflicting,
    #[error("a signature does not verify")]
    BadSignature,
}

impl Evidence {
    /// The validator caught, and the height.
    pub fn offender(&self) -> (ValidatorIndex, u64) {
        match self {
            Evidence::DoubleVote { first, .. } => (first.vote.validator, first.vote.height),
            Evidence::DoubleProposal { first, .. } => {
                (first.proposal.proposer, first.proposal.height)
            }
        }
    }

    /// Checks that both messages are validly signed by one validator for one (height, round,
    /// step) and differ: anyone can check it against the genesis.
    pub fn verify(&self, rules: &ChainRules) -> Result<(), EvidenceError> {
        let chain = rules.chain_id();
        let (validator, messages) = match self {
            Evidence::DoubleVote { first, second } => {
                let (a, b) = (&first.vote, &second.vote);
                if (a.validator, a.height, a.round, a.step)
                    != (b.validator, b.height, b.round, b.step)
                {
                    return Err(EvidenceError::NotTheSamePosition);
                }
                if first == second {
                    return Err(EvidenceError::NotConflicting);
                }
                (
                    a.validator,
                    [
                        (a.signing_bytes(chain), first.signature),
                        (b.signing_bytes(chain), second.signature),
                    ],
                )
            }
            Evidence::DoubleProposal { first, second } => {
                let (a, b) = (&first.proposal, &second.proposal);
                if (a.proposer, a.height, a.round) != (b.proposer, b.height, b.round) {
                    return Err(EvidenceError::NotTheSamePosition);
                }
                if first == second {
                    return Err(EvidenceError::NotConflicting);
                }
                (
                    a.proposer,
                    [
                        (a.signing_bytes(chain), first.signature),
                        (b.signing_bytes(chain), second.signature),
                    ],
                )
            }
        };
        for (bytes, signature) in &messages {
            rules
                .verify_validator(validator, bytes, signature)
                .map_err(|_| EvidenceError::BadSignature)?;
        }
        Ok(())
    }
}

/// The proposer of (height, round) among `validators`: validator `(height + round) mod n`.
pub fn proposer_of(validators: usize, height: u64, round: u32) -> ValidatorIndex {
    let n = validators.max(1) as u64;
    ValidatorIndex((height.wrapping_add(u64::from(round)) % n) as u16)
}

/// Why an incoming message was not taken into account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageRejection {
    /// Refused where it entered, before consensus (the network boundary, or WAL replay).
    #[error(transparent)]
    Signature(#[from] MessageSignatureError),
    #[error("for height {height}, already decided")]
    OldHeight { height: u64 },
    #[error("for height {height}, beyond the next one")]
    FarHeight { height: u64 },
    #[error("for round {round}, more than {max} rounds ahead of {current}")]
    FarRound { round: u32, current: u32, max: u32 },
    #[error("proposal for round {round} from {sender}, who is not its proposer")]
    NotProposer { round: u32, sender: u16 },
    #[error("the buffer for the next height is full")]
    FutureBufferFull,
    #[error("a further conflicting message from a validator already caught equivocating")]
    Equivocation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    CastProposal(Proposal),
    CastVote(Vote),
    ScheduleTimeout {
        timeout: Timeout,
        duration_ms: u64,
    },
    /// This node proposes at (height, round): build a block and answer `BlockReady`.
    RequestBlock {
        height: u64,
        round: u32,
    },
    /// Fetch and execute this proposed block and answer `BlockValidity`.
    ValidateBlock {
        height: u64,
        round: u32,
        block_hash: Hash,
    },
    Decide {
        height: u64,
        round: u32,
        block_hash: Hash,
        certificate: VerifiedCertificate,
    },
    Evidence(Evidence),
    Rejected {
        sender: u16,
        reason: MessageRejection,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    Pending,
    Valid,
    Invalid,
}

/// A validator's votes at one (round, step): the first, and at most one conflicting vote. Both
/// count towards their own value. Counting an equivocator for each value it voted for is safe
/// (two quorums share an honest validator, and honest validators vote once) and is needed for
/// liveness: otherwise nodes that heard different halves of an equivocation can never agree on
/// a polka they all saw, and a lock is never released. A third vote is refused, so memory stays
/// bounded.
#[derive(Debug, Clone)]
struct VoteSlot {
    first: VerifiedVote,
    conflicting: Option<VerifiedVote>,
}

impl VoteSlot {
    fn vote_for(&self, block: Option<Hash>) -> Option<&VerifiedVote> {
        std::iter::once(&self.first)
            .chain(self.conflicting.as_ref())
            .find(|v| v.vote.block == block)
    }
}

/// One round's message log and the "for the first time" flags of its rules.
#[derive(Debug, Default)]
struct RoundLog {
    proposal: Option<VerifiedProposal>,
    prevotes: BTreeMap<ValidatorIndex, VoteSlot>,
    precommits: BTreeMap<ValidatorIndex, VoteSlot>,
    senders: BTreeSet<ValidatorIndex>,
    prevote_timeout_scheduled: bool,
    polka_seen: bool,
    precommit_timeout_scheduled: bool,
}

/// Validators with a vote for `block` (nil for `None`).
fn count_for(votes: &BTreeMap<ValidatorIndex, VoteSlot>, block: Option<Hash>) -> usize {
    votes
        .values()
        .filter(|slot| slot.vote_for(block).is_some())
        .count()
}

/// The Tendermint state machine of one node.
#[derive(Debug)]
pub struct Consensus {
    rules: Arc<ChainRules>,
    me: Option<ValidatorIndex>,
    quorum: usize,
    /// f + 1: enough that at least one is honest.
    honest_minimum: usize,
    height: u64,
    round: u32,
    step: Step,
    started: bool,
    /// `lockedValue_p`, `lockedRound_p` (None = −1).
    locked: Option<(Hash, u32)>,
    /// `validValue_p`, `validRound_p` (None = −1).
    valid: Option<(Hash, u32)>,
    rounds: BTreeMap<u32, RoundLog>,
    values: BTreeMap<Hash, Validity>,
    future: VecDeque<VerifiedMessage>,
}

impl Consensus {
    /// A node of `rules`' validator set (`me`), or an observer (`None`) that follows but never
    /// votes.
    pub fn new(rules: Arc<ChainRules>, me: Option<ValidatorIndex>) -> Consensus {
        let quorum = rules.quorum();
        let honest_minimum = rules.validator_count() - quorum + 1;
        Consensus {
            rules,
            me,
            quorum,
            honest_minimum,
            height: 0,
            round: 0,
            step: Step::Propose,
            started: false,
            locked: None,
            valid: None,
            rounds: BTreeMap::new(),
            values: BTreeMap::new(),
            future: VecDeque::new(),
        }
    }

    pub fn height(&self) -> u64 {
        self.height
    }

    pub fn round(&self) -> u32 {
        self.round
    }

    pub fn step(&self) -> Step {
        self.step
    }

    /// (rounds in the message log, messages buffered for the next height): both bounded.
    pub fn log_sizes(&self) -> (usize, usize) {
        (self.rounds.len(), self.future.len())
    }

    /// Whether this exact signed message is already in the log (or buffered for the next
    /// height): taking it again would change nothing, so the engine neither logs nor applies it.
    /// It may be asked of a message not yet verified: the same bytes were verified when taken,
    /// so a boundary may drop such a duplicate before checking its signature again.
    pub fn holds(&self, message: MessageRef<'_>) -> bool {
        if self.future.iter().any(|held| held.as_ref() == message) {
            return true;
        }
        if message.height() != self.height {
            return false;
        }
        let Some(log) = self.rounds.get(&message.round()) else {
            return false;
        };
        match message {
            MessageRef::Proposal(p) => log.proposal.as_deref() == Some(p),
            MessageRef::Vote(v) => {
                let votes = match v.vote.step {
                    VoteStep::Prevote => &log.prevotes,
                    VoteStep::Precommit => &log.precommits,
                };
                votes
                    .get(&v.vote.validator)
                    .is_some_and(|slot| *slot.first == *v || slot.conflicting.as_deref() == Some(v))
            }
        }
    }

    pub fn rules(&self) -> &Arc<ChainRules> {
        &self.rules
    }

    /// The proposer of (height, round): round-robin over the genesis order.
    pub fn proposer(&self, height: u64, round: u32) -> ValidatorIndex {
        proposer_of(self.rules.validator_count(), height, round)
    }

    /// Round r waits `base + r × increase`, capped.
    pub fn timeout_ms(&self, step: TimeoutStep, round: u32) -> u64 {
        let c = &self.rules.genesis().consensus;
        let (base, increase) = match step {
            TimeoutStep::Propose => (c.timeout_propose_ms, c.timeout_propose_increase_ms),
            TimeoutStep::Prevote => (c.timeout_prevote_ms, c.timeout_prevote_increase_ms),
            TimeoutStep::Precommit => (c.timeout_precommit_ms, c.timeout_precommit_increase_ms),
        };
        base.saturating_add(increase.saturating_mul(u64::from(round)))
            .min(TIMEOUT_MS_MAX)
    }

    /// Applies one input; returns what the engine must do, in order.
    pub fn apply(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start { height } => {
                if !self.started {
                    self.started = true;
                    self.height = height;
                    // L10: upon start do StartRound(0)
                    self.start_round(0, &mut out);
                }
            }
            Input::Message(message) => self.receive(message, &mut out),
            Input::Timeout(timeout) => self.on_timeout(timeout, &mut out),
            Input::BlockReady {
                height,
                round,
                block_hash,
            } => {
                let proposing = self.started
                    && height == self.height
                    && round == self.round
                    && self.step == Step::Propose
                    && Some(self.proposer(height, round)) == self.me;
                if proposing {
                    self.values.insert(block_hash, Validity::Valid);
                    // L19: broadcast ⟨PROPOSAL, h_p, round_p, proposal, validRound_p⟩ (−1 here)
                    out.push(Output::CastProposal(Proposal {
                        height,
                        round,
                        block_hash,
                        valid_round: None,
                        proposer: self.proposer(height, round),
                    }));
                }
            }
            Input::BlockValidity {
                height,
                block_hash,
                valid,
            } => {
                if height == self.height {
                    let verdict = if valid {
                        Validity::Valid
                    } else {
                        Validity::Invalid
                    };
                    self.values.insert(block_hash, verdict);
                }
            }
            Input::Commit { certificate } => {
                if self.started && certificate.height == self.height {
                    self.decide(certificate, &mut out);
                }
            }
        }
        if self.started {
            self.apply_rules(&mut out);
        }
        out
    }

    /// L11–21: StartRound(round).
    fn start_round(&mut self, round: u32, out: &mut Vec<Output>) {
        self.round = round; // L12
        self.step = Step::Propose; // L13
        self.rounds.entry(round).or_default();
        while self.rounds.len() > CONSENSUS_ROUNDS_KEPT_MAX {
            self.rounds.pop_first();
        }
        let proposer = self.proposer(self.height, round);
        if Some(proposer) == self.me {
            // L14–19: re-propose the valid value if there is one, else ask for a block.
            match self.valid {
                Some((value, valid_round)) => out.push(Output::CastProposal(Proposal {
                    height: self.height,
                    round,
                    block_hash: value,
                    valid_round: Some(valid_round),
                    proposer,
                })),
                None => out.push(Output::RequestBlock {
                    height: self.height,
                    round,
                }),
            }
        } else {
            // L21: schedule OnTimeoutPropose(h_p, round_p)
            self.schedule(TimeoutStep::Propose, out);
        }
    }

    fn schedule(&self, step: TimeoutStep, out: &mut Vec<Output>) {
        out.push(Output::ScheduleTimeout {
            timeout: Timeout {
                height: self.height,
                round: self.round,
                step,
            },
            duration_ms: self.timeout_ms(step, self.round),
        });
    }

    fn cast_vote(&mut self, step: VoteStep, block: Option<Hash>, out: &mut Vec<Output>) {
        if let Some(me) = self.me {
            out.push(Output::CastVote(Vote {
                height: self.height,
                round: self.round,
                step,
                block,
                validator: me,
            }));
        }
    }

    /// Takes in a message, or says why not.
    fn receive(&mut self, message: VerifiedMessage, out: &mut Vec<Output>) {
        let sender = message.sender().0;
        if let Err(reason) = self.admit(message, out) {
            out.push(Output::Rejected { sender, reason });
        }
    }

    fn admit(
        &mut self,
        message: VerifiedMessage,
        out: &mut Vec<Output>,
    ) -> Result<(), MessageRejection> {
        let height = message.height();
        if self.started && height < self.height {
            return Err(MessageRejection::OldHeight { height });
        }
        if !self.started || height == self.height + 1 {
            if self.future.len() >= CONSENSUS_FUTURE_MESSAGES_MAX {
                return Err(MessageRejection::FutureBufferFull);
            }
            self.future.push_back(message);
            return Ok(());
        }
        if height > self.height + 1 {
            return Err(MessageRejection::FarHeight { height });
        }
        let round = message.round();
        if round > self.round.saturating_add(CONSENSUS_ROUNDS_AHEAD_MAX) {
            return Err(MessageRejection::FarRound {
                round,
                current: self.round,
                max: CONSENSUS_ROUNDS_AHEAD_MAX,
            });
        }
        match message {
            VerifiedMessage::Proposal(proposal) => self.record_proposal(proposal, out),
            VerifiedMessage::Vote(vote) => self.record_vote(vote, out),
        }
    }

    fn record_proposal(
        &mut self,
        signed: VerifiedProposal,
        out: &mut Vec<Output>,
    ) -> Result<(), MessageRejection> {
        let proposal = &signed.proposal;
        if proposal.proposer != self.proposer(proposal.height, proposal.round) {
            return Err(MessageRejection::NotProposer {
                round: proposal.round,
                sender: proposal.proposer.0,
            });
        }
        let log = self.rounds.entry(proposal.round).or_default();
        match &log.proposal {
            Some(first) if first == &signed => return Ok(()),
            Some(first) => {
                out.push(Output::Evidence(Evidence::DoubleProposal {
                    first: (**first).clone(),
                    second: signed.into_inner(),
                }));
                return Err(MessageRejection::Equivocation);
            }
            None => {}
        }
        log.senders.insert(proposal.proposer);
        let (height, round, block_hash) = (proposal.height, proposal.round, proposal.block_hash);
        log.proposal = Some(signed);
        if let std::collections::btree_map::Entry::Vacant(entry) = self.values.entry(block_hash) {
            entry.insert(Validity::Pending);
            out.push(Output::ValidateBlock {
                height,
                round,
                block_hash,
            });
        }
        Ok(())
    }

    fn record_vote(
        &mut self,
        signed: VerifiedVote,
        out: &mut Vec<Output>,
    ) -> Result<(), MessageRejection> {
        let vote = &signed.vote;
        let log = self.rounds.entry(vote.round).or_default();
        let votes = match vote.step {
            VoteStep::Prevote => &mut log.prevotes,
            VoteStep::Precommit => &mut log.precommits,
        };
        let validator = vote.validator;
        match votes.get_mut(&validator) {
            None => {
                votes.insert(
                    validator,
                    VoteSlot {
                        first: signed,
                        conflicting: None,
                    },
                );
            }
            Some(slot) if slot.first == signed || slot.conflicting.as_ref() == Some(&signed) => {
                return Ok(());
            }
            Some(slot) if slot.conflicting.is_none() => {
                out.push(Output::Evidence(Evidence::DoubleVote {
                    first: (*slot.first).clone(),
                    second: (*signed).clone(),
                }));
                slot.conflicting = Some(signed);
            }
            Some(_) => return Err(MessageRejection::Equivocation),
        }
        log.senders.insert(validator);
        Ok(())
    }

    fn validity(&self, value: &Hash) -> Option<bool> {
        match self.values.get(value) {
            Some(Validity::Valid) => Some(true),
            Some(Validity::Invalid) => Some(false),
            Some(Validity::Pending) | None => None,
        }
    }

    /// Fires every rule whose condition holds, until none does.
    fn apply_rules(&mut self, out: &mut Vec<Output>) {
        loop {
            if self.rule_round_skip(out) || self.rule_decide(out) {
                continue;
            }
            let progressed = self.rule_proposal(out)
                | self.rule_prevote_timeout(out)
                | self.rule_polka_for_value(out)
                | self.rule_polka_for_nil(out)
                | self.rule_precommit_timeout(out);
            if !progressed {
                return;
            }
        }
    }

    /// L55–56: upon f+1 ⟨∗, h_p, round, ∗, ∗⟩ with round > round_p do StartRound(round).
    fn rule_round_skip(&mut self, out: &mut Vec<Output>) -> bool {
        let ahead = self
            .rounds
            .range(self.round + 1..)
            .find(|(_, log)| log.senders.len() >= self.honest_minimum)
            .map(|(round, _)| *round);
        match ahead {
            Some(round) => {
                self.start_round(round, out);
                true
            }
            None => false,
        }
    }

    /// L49–54: upon ⟨PROPOSAL, h_p, r, v, ∗⟩ from proposer(h_p, r) AND 2f+1 ⟨PRECOMMIT, h_p, r,
    /// id(v)⟩ while decision_p[h_p] = nil: if valid(v), decide and move to the next height.
    fn rule_decide(&mut self, out: &mut Vec<Output>) -> bool {
        // Count first; the precommits are cloned only for the decision itself.
        let decided = self.rounds.iter().find_map(|(round, log)| {
            let value = log.proposal.as_ref()?.proposal.block_hash;
            let quorum = count_for(&log.precommits, Some(value)) >= self.quorum;
            (quorum && self.validity(&value) == Some(true)).then_some((*round, value))
        });
        let Some((round, block_hash)) = decided else {
            return false;
        };
        let precommits = self.rounds[&round]
            .precommits
            .values()
            .filter_map(|slot| slot.vote_for(Some(block_hash)));
        // A quorum was counted above, of verified precommits for this block.
        let Some(certificate) = VerifiedCertificate::from_precommits(
            &self.rules,
            self.height,
            round,
            block_hash,
            precommits,
        ) else {
            return false;
        };
        self.decide(certificate, out);
        true
    }

    /// L51–54: decision_p[h_p] = v, then the next height with locks and the message log reset,
    /// and StartRound(0); buffered messages for the new height are taken in.
    fn decide(&mut self, certificate: VerifiedCertificate, out: &mut Vec<Output>) {
        out.push(Output::Decide {
            height: self.height,
            round: certificate.round,
            block_hash: certificate.block_hash,
            certificate,
        });
        self.height += 1;
        self.locked = None;
        self.valid = None;
        self.rounds.clear();
        self.values.clear();
        self.start_round(0, out);
        let buffered: Vec<VerifiedMessage> = self.future.drain(..).collect();
        for message in buffered {
            self.receive(message, out);
        }
    }

    /// L22–33: a proposal for the current round while in the propose step.
    fn rule_proposal(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Propose {
            return false;
        }
        let Some(proposal) = self
            .rounds
            .get(&self.round)
            .and_then(|log| log.proposal.as_ref())
            .map(|p| p.proposal.clone())
        else {
            return false;
        };
        let value = proposal.block_hash;
        let vote_for = match proposal.valid_round {
            // L22–27: ⟨PROPOSAL, h_p, round_p, v, −1⟩
            None => {
                let Some(valid) = self.validity(&value) else {
                    return false;
                };
                // L23: valid(v) ∧ (lockedRound_p = −1 ∨ lockedValue_p = v)
                valid && self.locked.is_none_or(|(locked, _)| locked == value)
            }
            // L28–33: ⟨PROPOSAL, h_p, round_p, v, vr⟩ AND 2f+1 ⟨PREVOTE, h_p, vr, id(v)⟩,
            // vr ≥ 0 ∧ vr < round_p
            Some(valid_round) => {
                if valid_round >= self.round {
                    return false;
                }
                let polka = self
                    .rounds
                    .get(&valid_round)
                    .is_some_and(|log| count_for(&log.prevotes, Some(value)) >= self.quorum);
                if !polka {
                    return false;
                }
                let Some(valid) = self.validity(&value) else {
                    return false;
                };
                // L29: valid(v) ∧ (lockedRound_p ≤ vr ∨ lockedValue_p = v)
                valid
                    && self.locked.is_none_or(|(locked, locked_round)| {
                        locked_round <= valid_round || locked == value
                    })
            }
        };
        // L24 / L30: prevote id(v); L26 / L32: prevote nil; L27 / L33: step ← prevote
        self.cast_vote(VoteStep::Prevote, vote_for.then_some(value), out);
        self.step = Step::Prevote;
        true
    }

    /// L34–35: upon 2f+1 ⟨PREVOTE, h_p, round_p, ∗⟩ while step_p = prevote for the first time.
    fn rule_prevote_timeout(&mut self, out: &mut Vec<Output>) -> bool {
        let quorum = self.quorum;
        let step = self.step;
        let Some(log) = self.rounds.get_mut(&self.round) else {
            return false;
        };
        if step != Step::Prevote || log.prevote_timeout_scheduled || log.prevotes.len() < quorum {
            return false;
        }
        log.prevote_timeout_scheduled = true;
        self.schedule(TimeoutStep::Prevote, out);
        true
    }

    /// L36–43: upon ⟨PROPOSAL, h_p, round_p, v, ∗⟩ AND 2f+1 ⟨PREVOTE, h_p, round_p, id(v)⟩
    /// while valid(v) ∧ step_p ≥ prevote for the first time.
    fn rule_polka_for_value(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step < Step::Prevote {
            return false;
        }
        let round = self.round;
        let Some(log) = self.rounds.get(&round) else {
            return false;
        };
        let Some(value) = log.proposal.as_ref().map(|p| p.proposal.block_hash) else {
            return false;
        };
        if log.polka_seen
            || count_for(&log.prevotes, Some(value)) < self.quorum
            || self.validity(&value) != Some(true)
        {
            return false;
        }
        if let Some(log) = self.rounds.get_mut(&round) {
            log.polka_seen = true;
        }
        if self.step == Step::Prevote {
            self.locked = Some((value, round)); // L38–39
            self.cast_vote(VoteStep::Precommit, Some(value), out); // L40
            self.step = Step::Precommit; // L41
        }
        self.valid = Some((value, round)); // L42–43
        true
    }

    /// L44–46: upon 2f+1 ⟨PREVOTE, h_p, round_p, nil⟩ while step_p = prevote.
    fn rule_polka_for_nil(&mut self, out: &mut Vec<Output>) -> bool {
        let nil_polka = self
            .rounds
            .get(&self.round)
            .is_some_and(|log| count_for(&log.prevotes, None) >= self.quorum);
        if self.step != Step::Prevote || !nil_polka {
            return false;
        }
        self.cast_vote(VoteStep::Precommit, None, out);
        self.step = Step::Precommit;
        true
    }

    /// L47–48: upon 2f+1 ⟨PRECOMMIT, h_p, round_p, ∗⟩ for the first time.
    fn rule_precommit_timeout(&mut self, out: &mut Vec<Output>) -> bool {
        let quorum = self.quorum;
        let Some(log) = self.rounds.get_mut(&self.round) else {
            return false;
        };
        if log.precommit_timeout_scheduled || log.precommits.len() < quorum {
            return false;
        }
        log.precommit_timeout_scheduled = true;
        self.schedule(TimeoutStep::Precommit, out);
        true
    }

    /// L57–67: the three timeouts.
    fn on_timeout(&mut self, timeout: Timeout, out: &mut Vec<Output>) {
        if timeout.height != self.height || timeout.round != self.round {
            return;
        }
        match timeout.step {
            // L57–60: OnTimeoutPropose: prevote nil, step ← prevote
            TimeoutStep::Propose if self.step == Step::Propose => {
                self.cast_vote(VoteStep::Prevote, None, out);
                self.step = Step::Prevote;
            }
            // L61–64: OnTimeoutPrevote: precommit nil, step ← precommit
            TimeoutStep::Prevote if self.step == Step::Prevote => {
                self.cast_vote(VoteStep::Precommit, None, out);
                self.step = Step::Precommit;
            }
            // L65–67: OnTimeoutPrecommit: StartRound(round_p + 1)
            TimeoutStep::Precommit => self.start_round(self.round + 1, out),
            _ => {}
        }
    }
}
