//! Block headers, consensus votes and commit certificates: the types the ledger stores, the
//! consensus signs and the client verifies (DESIGN.md §4, §5).

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::{self, Hash, Keypair, Signature, tag};
use crate::ids::ChainId;

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
    /// The proposer's clock, Unix milliseconds; strictly increasing from block to block.
    pub time_ms: u64,
    pub prev_block_hash: Hash,
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
