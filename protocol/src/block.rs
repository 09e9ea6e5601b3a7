//! Block headers, consensus votes and commit certificates: the types the ledger stores, the
//! consensus signs and the client verifies (DESIGN.md §4, §5).

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::{self, Hash, Keypair, Signature, tag};
use crate::ids::ChainId;
use crate::rules_version::RulesVersion;

/// A validator's position in the genesis validator list.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(transparent)]
pub struct ValidatorIndex(pub u16);

/// Everything a block commits to. Its hash is what validators vote for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    pub chain_id: ChainId,
    pub height: u64,
    /// The execution rules this block was executed under: the genesis schedule's at `height`.
    pub rules_version: RulesVersion,
    /// The proposer's clock, Unix milliseconds; strictly increasing from block to block.
    pub time_ms: u64,
    pub prev_block_hash: Hash,
    /// [`BlockHeader::last_commit_hash`] of the parent's certificate this block carries: the
    /// parent's canonical certificate, the one every node stores and serves in its proofs.
    pub last_commit_hash: Hash,
    pub proposer: ValidatorIndex,
    /// RFC 6962 root of this block's event leaves.
    pub events_root: Hash,
    pub event_count: u32,
    /// Events since genesis, this block's included, and the RFC 6962 root over all of them.
    pub log_size: u64,
    pub log_root: Hash,
    /// Root of the authenticated map of per-key records after this block.
    pub index_root: Hash,
    pub validators_hash: Hash,
}

impl BlockHeader {
    /// `H("waybill/header/v1" ‖ encode(header))`.
    pub fn hash(&self) -> Hash {
        Hash::tagged(tag::HEADER, &codec::encode(self))
    }

    /// `H("waybill/last-commit/v1" ‖ encode(last_commit))`, `None` for block 1 (no parent).
    pub fn last_commit_hash(last_commit: Option<&CommitCertificate>) -> Hash {
        Hash::tagged(tag::LAST_COMMIT, &codec::encode(&last_commit))
    }
}

/// The two voting steps of Tendermint.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum VoteStep {
    Prevote,
    Precommit,
}

/// A vote for a block (or for nil) at one height, round and step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    pub height: u64,
    pub round: u32,
    pub step: VoteStep,
    /// The block hash voted for; `None` is a vote for nil.
    pub block: Option<Hash>,
    pub validator: ValidatorIndex,
}

impl Vote {
    /// `tag ‖ chain_id ‖ encode(vote)`: fixes chain, height, round, step and block (or nil).
    pub fn signing_bytes(&self, chain_id: &ChainId) -> Vec<u8> {
        crypto::signing_bytes(tag::VOTE, chain_id, self)
    }

    pub fn sign(self, chain_id: &ChainId, keypair: &Keypair) -> SignedVote {
        let signature = keypair.sign(&self.signing_bytes(chain_id));
        SignedVote {
            vote: self,
            signature,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct SignedVote {
    pub vote: Vote,
    pub signature: Signature,
}

/// Proof that more than two thirds of the validators precommitted a block: the signer bitmap
/// (bit i = validator i, least significant bit first) and their signatures in index order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct CommitCertificate {
    pub height: u64,
    pub round: u32,
    pub block_hash: Hash,
    pub signers: Vec<u8>,
    pub signatures: Vec<Signature>,
}

impl CommitCertificate {
    /// The validator indices whose bit is set, in ascending order.
    pub fn signer_indices(&self) -> impl Iterator<Item = ValidatorIndex> + '_ {
        self.signers
            .iter()
            .enumerate()
            .flat_map(|(byte_index, byte)| {
                (0..8u16)
                    .filter(move |bit| byte & (1 << bit) != 0)
                    .map(move |bit| ValidatorIndex(byte_index as u16 * 8 + bit))
            })
    }

    /// The precommit a signer made for this certificate's block.
    pub fn precommit(&self, validator: ValidatorIndex) -> Vote {
        Vote {
            height: self.height,
            round: self.round,
            step: VoteStep::Precommit,
            block: Some(self.block_hash),
            validator,
        }
    }
}

/// Why a commit certificate does not prove its block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("certificate: header is for chain {found}, the genesis is chain {expected}")]
    WrongChain { expected: String, found: String },
    #[error("certificate: header names validator set {found}, the genesis has {expected}")]
    WrongValidatorSet { expected: Hash, found: Hash },
    #[error(
        "certificate: it is for height {certificate} block {certificate_block}, the header is height {header} block {header_block}"
    )]
    BlockMismatch {
        certificate: u64,
        certificate_block: Hash,
        header: u64,
        header_block: Hash,
    },
    #[error(
        "certificate: signer bitmap is {found} bytes, {expected} expected for {validators} validators"
    )]
    BitmapLength {
        found: usize,
        expected: usize,
        validators: usize,
    },
    #[error("certificate: signer {validator} is not a genesis validator")]
    UnknownSigner { validator: u16 },
    #[error("certificate: {signers} signers but {signatures} signatures")]
    SignatureCount { signers: usize, signatures: usize },
    #[error("certificate: {found} signers, more than two thirds ({needed}) needed")]
    TooFewSigners { found: usize, needed: usize },
    #[error("certificate: signature of validator {validator} does not verify")]
    BadSignature { validator: u16 },
}

impl CommitCertificate {
    /// Checks that more than two thirds of the genesis validators precommitted `header` on this
    /// chain, each signature valid under `verify_strict`.
    pub fn verify(
        &self,
        rules: &crate::rules::ChainRules,
        header: &BlockHeader,
    ) -> Result<(), CertificateError> {
        self.certifies(rules, header)?;
        self.verify_precommits(rules)
    }

    /// The checks of [`CommitCertificate::verify`] but the signatures: this chain, this
    /// validator set, this header's height and hash.
    fn certifies(
        &self,
        rules: &crate::rules::ChainRules,
        header: &BlockHeader,
    ) -> Result<(), CertificateError> {
        if &header.chain_id != rules.chain_id() {
            return Err(CertificateError::WrongChain {
                expected: rules.chain_id().to_string(),
                found: header.chain_id.to_string(),
            });
        }
        if header.validators_hash != rules.validators_hash() {
            return Err(CertificateError::WrongValidatorSet {
                expected: rules.validators_hash(),
                found: header.validators_hash,
            });
        }
        let header_block = header.hash();
        if self.height != header.height || self.block_hash != header_block {
            return Err(CertificateError::BlockMismatch {
                certificate: self.height,
                certificate_block: self.block_hash,
                header: header.height,
                header_block,
            });
        }
        Ok(())
    }

    /// Checks that the certificate holds precommits for its own (height, round, block) from more
    /// than two thirds of the genesis validators, each valid under `verify_strict`.
    pub fn verify_precommits(
        &self,
        rules: &crate::rules::ChainRules,
    ) -> Result<(), CertificateError> {
        let validators = rules.validator_count();
        let expected = validators.div_ceil(8);
        if self.signers.len() != expected {
            return Err(CertificateError::BitmapLength {
                found: self.signers.len(),
                expected,
                validators,
            });
        }
        let signers: Vec<ValidatorIndex> = self.signer_indices().collect();
        if let Some(unknown) = signers.iter().find(|v| usize::from(v.0) >= validators) {
            return Err(CertificateError::UnknownSigner {
                validator: unknown.0,
            });
        }
        if signers.len() != self.signatures.len() {
            return Err(CertificateError::SignatureCount {
                signers: signers.len(),
                signatures: self.signatures.len(),
            });
        }
        if signers.len() < rules.quorum() {
            return Err(CertificateError::TooFewSigners {
                found: signers.len(),
                needed: rules.quorum(),
            });
        }
        for (validator, signature) in signers.iter().zip(&self.signatures) {
            let message = self.precommit(*validator).signing_bytes(rules.chain_id());
            rules
                .verify_validator(*validator, &message, signature)
                .map_err(|_| CertificateError::BadSignature {
                    validator: validator.0,
                })?;
        }
        Ok(())
    }

    /// Assembles a certificate from precommits for one block, in any order; the caller has
    /// checked each precommit's signature.
    pub fn from_precommits(
        height: u64,
        round: u32,
        block_hash: Hash,
        validator_count: usize,
        precommits: &[SignedVote],
    ) -> CommitCertificate {
        let mut sorted: Vec<&SignedVote> = precommits.iter().collect();
        sorted.sort_by_key(|v| v.vote.validator);
        sorted.dedup_by_key(|v| v.vote.validator);
        let mut signers = vec![0u8; validator_count.div_ceil(8)];
        for vote in &sorted {
            let index = usize::from(vote.vote.validator.0);
            assert!(
                index < validator_count,
                "precommit from validator {index} of {validator_count}"
            );
            signers[index / 8] |= 1 << (index % 8);
        }
        CommitCertificate {
            height,
            round,
            block_hash,
            signers,
            signatures: sorted.iter().map(|v| v.signature).collect(),
        }
    }
}

/// A proposer's proposal of a block for one height and round (Tendermint's PROPOSAL message).
/// The block itself travels beside it; consensus works on its hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    pub height: u64,
    pub round: u32,
    pub block_hash: Hash,
    /// The round in which the proposer saw this block gain a polka, if it re-proposes it.
    pub valid_round: Option<u32>,
    pub proposer: ValidatorIndex,
}

impl Proposal {
    /// `"waybill/proposal/v1" ‖ chain_id ‖ encode(proposal)`.
    pub fn signing_bytes(&self, chain_id: &ChainId) -> Vec<u8> {
        crypto::signing_bytes(tag::PROPOSAL, chain_id, self)
    }

    pub fn sign(self, chain_id: &ChainId, keypair: &Keypair) -> SignedProposal {
        let signature = keypair.sign(&self.signing_bytes(chain_id));
        SignedProposal {
            proposal: self,
            signature,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct SignedProposal {
    pub proposal: Proposal,
    pub signature: Signature,
}

/// What validators say to each other during a height.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum ConsensusMessage {
    Proposal(SignedProposal),
    Vote(SignedVote),
}

/// A consensus message borrowed, verified or not: what both kinds answer about themselves,
/// and how a held message is compared with one that arrives, without a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRef<'a> {
    Proposal(&'a SignedProposal),
    Vote(&'a SignedVote),
}

impl MessageRef<'_> {
    pub fn height(self) -> u64 {
        match self {
            MessageRef::Proposal(p) => p.proposal.height,
            MessageRef::Vote(v) => v.vote.height,
        }
    }

    pub fn round(self) -> u32 {
        match self {
            MessageRef::Proposal(p) => p.proposal.round,
            MessageRef::Vote(v) => v.vote.round,
        }
    }

    pub fn sender(self) -> ValidatorIndex {
        match self {
            MessageRef::Proposal(p) => p.proposal.proposer,
            MessageRef::Vote(v) => v.vote.validator,
        }
    }
}

impl ConsensusMessage {
    pub fn as_ref(&self) -> MessageRef<'_> {
        match self {
            ConsensusMessage::Proposal(p) => MessageRef::Proposal(p),
            ConsensusMessage::Vote(v) => MessageRef::Vote(v),
        }
    }

    pub fn height(&self) -> u64 {
        self.as_ref().height()
    }

    pub fn round(&self) -> u32 {
        self.as_ref().round()
    }

    pub fn sender(&self) -> ValidatorIndex {
        self.as_ref().sender()
    }
}

/// Why a consensus message does not verify: it names a validator the genesis does not have,
/// or its signature is not that validator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageSignatureError {
    #[error("from {sender}, which is not a validator")]
    UnknownSender { sender: u16 },
    #[error("bad signature from validator {sender}")]
    BadSignature { sender: u16 },
}

/// A vote whose signature verified under its validator's genesis key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode)]
pub struct VerifiedVote(SignedVote);

/// A proposal whose signature verified under its proposer's genesis key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode)]
pub struct VerifiedProposal(SignedProposal);

/// A consensus message verified once, where it entered the node (the network boundary, or the
/// driver for our own): made only by [`ConsensusMessage::verify`], so holding one proves the
/// check, and the state machine takes nothing else. It encodes as the [`ConsensusMessage`] it
/// wraps; it has no decoding, so bytes never become one unchecked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode)]
pub enum VerifiedMessage {
    Proposal(VerifiedProposal),
    Vote(VerifiedVote),
}

macro_rules! verified_wrapper {
    ($verified:ident, $inner:ty) => {
        impl std::ops::Deref for $verified {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl $verified {
            pub fn into_inner(self) -> $inner {
                self.0
            }
        }
    };
}
verified_wrapper!(VerifiedVote, SignedVote);
verified_wrapper!(VerifiedProposal, SignedProposal);

impl ConsensusMessage {
    /// Checks the signature under the genesis key of the validator the message names.
    pub fn verify(
        self,
        rules: &crate::rules::ChainRules,
    ) -> Result<VerifiedMessage, MessageSignatureError> {
        let sender = self.sender();
        if usize::from(sender.0) >= rules.validator_count() {
            return Err(MessageSignatureError::UnknownSender { sender: sender.0 });
        }
        let chain = rules.chain_id();
        let (bytes, signature) = match &self {
            ConsensusMessage::Proposal(p) => (p.proposal.signing_bytes(chain), &p.signature),
            ConsensusMessage::Vote(v) => (v.vote.signing_bytes(chain), &v.signature),
        };
        rules
            .verify_validator(sender, &bytes, signature)
            .map_err(|_| MessageSignatureError::BadSignature { sender: sender.0 })?;
        Ok(match self {
            ConsensusMessage::Proposal(p) => VerifiedMessage::Proposal(VerifiedProposal(p)),
            ConsensusMessage::Vote(v) => VerifiedMessage::Vote(VerifiedVote(v)),
        })
    }
}

impl VerifiedMessage {
    /// The message as it travels and as the WAL logs it.
    pub fn message(&self) -> ConsensusMessage {
        match self {
            VerifiedMessage::Proposal(p) => ConsensusMessage::Proposal(p.0.clone()),
            VerifiedMessage::Vote(v) => ConsensusMessage::Vote(v.0.clone()),
        }
    }

    pub fn into_message(self) -> ConsensusMessage {
        match self {
            VerifiedMessage::Proposal(p) => ConsensusMessage::Proposal(p.0),
            VerifiedMessage::Vote(v) => ConsensusMessage::Vote(v.0),
        }
    }

    pub fn as_ref(&self) -> MessageRef<'_> {
        match self {
            VerifiedMessage::Proposal(p) => MessageRef::Proposal(&p.0),
            VerifiedMessage::Vote(v) => MessageRef::Vote(&v.0),
        }
    }

    pub fn height(&self) -> u64 {
        self.as_ref().height()
    }

    pub fn round(&self) -> u32 {
        self.as_ref().round()
    }

    pub fn sender(&self) -> ValidatorIndex {
        self.as_ref().sender()
    }
}

/// A certificate whose precommits verified: more than two thirds of the genesis validators
/// signed its (height, round, block). Made only by [`CommitCertificate::into_verified`] or
/// assembled from verified precommits, so the ledger and consensus never check it again.
#[derive(Debug, Clone, PartialEq, Eq, Encode)]
pub struct VerifiedCertificate(CommitCertificate);
verified_wrapper!(VerifiedCertificate, CommitCertificate);

impl CommitCertificate {
    /// [`CommitCertificate::verify_precommits`], keeping the proof of it.
    pub fn into_verified(
        self,
        rules: &crate::rules::ChainRules,
    ) -> Result<VerifiedCertificate, CertificateError> {
        self.verify_precommits(rules)?;
        Ok(VerifiedCertificate(self))
    }
}

impl VerifiedCertificate {
    /// A certificate of verified precommits for one block, in any order (duplicates and votes
    /// for anything else left out); `None` without a quorum of them.
    pub fn from_precommits<'a>(
        rules: &crate::rules::ChainRules,
        height: u64,
        round: u32,
        block_hash: Hash,
        precommits: impl IntoIterator<Item = &'a VerifiedVote>,
    ) -> Option<VerifiedCertificate> {
        let wanted = |v: &Vote| {
            v.height == height
                && v.round == round
                && v.step == VoteStep::Precommit
                && v.block == Some(block_hash)
        };
        let votes: Vec<SignedVote> = precommits
            .into_iter()
            .filter(|v| wanted(&v.vote))
            .map(|v| v.0.clone())
            .collect();
        let certificate = CommitCertificate::from_precommits(
            height,
            round,
            block_hash,
            rules.validator_count(),
            &votes,
        );
        (certificate.signatures.len() >= rules.quorum()).then_some(VerifiedCertificate(certificate))
    }

    /// Checks that this certificate is for `header` on this chain and validator set (its
    /// signatures are known good).
    pub fn certifies(
        &self,
        rules: &crate::rules::ChainRules,
        header: &BlockHeader,
    ) -> Result<(), CertificateError> {
        self.0.certifies(rules, header)
    }
}
