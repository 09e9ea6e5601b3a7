//! The double-sign guard (DESIGN.md §5, house rule 6): a validator never signs two different
//! messages for one (height, round, step), and never signs for a position before its last one.
//! The engine persists [`Signer::last_signed`] (in its WAL, fsynced) before any message signed
//! here leaves the node, and restores it on restart.

use waybill_protocol::block::{Proposal, SignedProposal};
use waybill_protocol::{ChainId, Keypair, SignedVote, Vote, VoteStep};

/// A position in consensus, ordered as time runs: (height, round, step), proposal first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode,
)]
pub struct SignedPosition {
    pub height: u64,
    pub round: u32,
    /// 0 proposal, 1 prevote, 2 precommit.
    pub step: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("refusing to sign at {attempted:?}: already signed a different message there")]
    Conflict { attempted: SignedPosition },
    #[error("refusing to sign at {attempted:?}: already signed at the later {last:?}")]
    Regression {
        attempted: SignedPosition,
        last: SignedPosition,
    },
}

/// What was last signed: enough to answer a repeat with the same signature and refuse conflicts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LastSigned {
    Proposal(SignedProposal),
    Vote(SignedVote),
}

#[derive(Debug)]
pub struct Signer {
    chain_id: ChainId,
    keypair: Keypair,
    last: Option<LastSigned>,
}

/// Where a vote sits: (height, round, step 1 = prevote, 2 = precommit).
pub fn vote_position(vote: &Vote) -> SignedPosition {
    SignedPosition {
        height: vote.height,
        round: vote.round,
        step: match vote.step {
            VoteStep::Prevote => 1,
            VoteStep::Precommit => 2,
        },
    }
}

/// Where a proposal sits: (height, round, step 0).
pub fn proposal_position(proposal: &Proposal) -> SignedPosition {
    SignedPosition {
        height: proposal.height,
        round: proposal.round,
        step: 0,
    }
}

/// Where a signed consensus message sits; two messages of one validator at one position conflict.
pub fn message_position(message: &waybill_protocol::block::ConsensusMessage) -> SignedPosition {
    use waybill_protocol::block::ConsensusMessage;
    match message {
        ConsensusMessage::Proposal(p) => proposal_position(&p.proposal),
        ConsensusMessage::Vote(v) => vote_position(&v.vote),
    }
}

impl Signer {
    pub fn new(chain_id: ChainId, keypair: Keypair) -> Signer {
        Signer {
            chain_id,
            keypair,
            last: None,
        }
    }

    /// After a restart: the last message this node signed, as its WAL holds it.
    pub fn restore(&mut self, last: &waybill_protocol::block::ConsensusMessage) {
        use waybill_protocol::block::ConsensusMessage;
        self.last = Some(match last {
            ConsensusMessage::Proposal(p) => LastSigned::Proposal(p.clone()),
            ConsensusMessage::Vote(v) => LastSigned::Vote(v.clone()),
        });
    }

    /// The last position signed: what the engine must have made durable before sending.
    pub fn last_signed(&self) -> Option<SignedPosition> {
        self.last.as_ref().map(|last| match last {
            LastSigned::Proposal(p) => proposal_position(&p.proposal),
            LastSigned::Vote(v) => vote_position(&v.vote),
        })
    }

    fn check(&self, attempted: SignedPosition) -> Result<(), SignError> {
        match self.last_signed() {
            Some(last) if attempted < last => Err(SignError::Regression { attempted, last }),
            Some(last) if attempted == last => Err(SignError::Conflict { attempted }),
            _ => Ok(()),
        }
    }

    /// Signs `vote`, or returns the earlier signature if exactly this vote was signed last.
    pub fn sign_vote(&mut self, vote: Vote) -> Result<SignedVote, SignError> {
        if let Some(LastSigned::Vote(last)) = &self.last {
            if last.vote == vote {
                return Ok(last.clone());
            }
        }
        self.check(vote_position(&vote))?;
        let signed = vote.sign(&self.chain_id, &self.keypair);
        self.last = Some(LastSigned::Vote(signed.clone()));
        Ok(signed)
    }

    pub fn sign_proposal(&mut self, proposal: Proposal) -> Result<SignedProposal, SignError> {
        if let Some(LastSigned::Proposal(last)) = &self.last {
            if last.proposal == proposal {
                return Ok(last.clone());
            }
        }
        self.check(proposal_position(&proposal))?;
        let signed = proposal.sign(&self.chain_id, &self.keypair);
        self.last = Some(LastSigned::Proposal(signed.clone()));
        Ok(signed)
    }
}
