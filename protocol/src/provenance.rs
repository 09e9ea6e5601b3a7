//! Verified provenance (DESIGN.md §7): a shipment's or serial's complete history, with the proof
//! that makes it checkable against the genesis alone.
//!
//! The verifier is pure: no clock, no I/O, no randomness. It checks, and reports the first
//! failure of, in this order: the commit certificate, the authenticated-map proof of the key's
//! record against the header's `index_root`, the rebuild of the key's hash chain from the events,
//! each event's signature, and each signer's permission for its event's kind.

use bincode::{Decode, Encode};
use jmt::proof::SparseMerkleProof;
use jmt::{KeyHash, RootHash};
use serde::{Deserialize, Serialize};

use crate::block::{BlockHeader, CertificateError, CommitCertificate};
use crate::codec::{self, CodecError};
use crate::crypto::{self, Hash};
use crate::event::{EventType, SignedEvent};
use crate::ids::KeyId;
use crate::index::{IndexKey, KeyRecord, index_keys};
use crate::limits::{MAP_PROOF_BYTES_MAX, MESSAGE_ENCODED_BYTES_MAX};
use crate::rules::ChainRules;

/// Below this many events, signatures are checked on the calling thread.
const PARALLEL_SIGNATURES_MIN: usize = 32;
/// At most this many threads check one proof's signatures.
const SIGNATURE_THREADS_MAX: usize = 8;

/// The authenticated map's proof type: jmt with SHA-256.
pub type MapProof = SparseMerkleProof<sha2::Sha256>;

/// One event of a key's history, with the height of the block that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct ProvenEvent {
    pub height: u64,
    pub event: SignedEvent,
}

/// A key's history as of one committed block, with everything needed to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceProof {
    pub key: IndexKey,
    /// The block the answer is as of, and the certificate that finalised it.
    pub header: BlockHeader,
    pub certificate: CommitCertificate,
    /// The key's record, or `None` for "never recorded".
    pub record: Option<KeyRecord>,
    /// jmt's proof of `record` (or of absence) under `header.index_root`, borsh-encoded.
    #[serde(with = "hex_bytes")]
    pub map_proof: Vec<u8>,
    /// Every event applied to the key, in order.
    pub events: Vec<ProvenEvent>,
}

/// One page of a history too long for one answer: the proof's header, certificate, record and
/// map proof, with the events from position `first` (1-based) on. Pages are joined back into
/// the one [`ProvenanceProof`] of the whole history ([`ProvenancePage::join`]) and verified as
/// such, so a paged history is exactly as complete as a short one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct ProvenancePage {
    pub first: u64,
    pub proof: ProvenanceProof,
}

impl ProvenancePage {
    /// Joins `pages`, in order, into one proof. They must all be as of the same block, for the
    /// same key and record, and follow each other without a gap or an overlap; the joined proof
    /// is then checked with [`ProvenanceProof::verify`] like any other.
    pub fn join(pages: Vec<ProvenancePage>) -> Result<ProvenanceProof, ProvenanceError> {
        ProvenancePage::join_after(pages, 0)
    }

    /// Joins `pages`, in order, into the proof of the events after the first `known` (the
    /// whole history for 0): the first page starts at event `known + 1`. Such a proof is checked
    /// with [`ProvenanceProof::verify_after`] against what the caller verified before.
    pub fn join_after(
        pages: Vec<ProvenancePage>,
        known: u64,
    ) -> Result<ProvenanceProof, ProvenanceError> {
        let mut pages = pages.into_iter();
        let Some(first) = pages.next() else {
            return Err(ProvenanceError::Pages {
                reason: "no page".into(),
            });
        };
        let start = known.saturating_add(1);
        if first.first != start {
            return Err(ProvenanceError::Pages {
                reason: format!(
                    "the first page starts at event {}, not {start}",
                    first.first
                ),
            });
        }
        let mut joined = first.proof;
        for (number, page) in pages.enumerate() {
            let expected = start.saturating_add(joined.events.len() as u64);
            let proof = &page.proof;
            let same = proof.key == joined.key
                && proof.header == joined.header
                && proof.certificate == joined.certificate
                && proof.record == joined.record
                && proof.map_proof == joined.map_proof;
            if !same {
                return Err(ProvenanceError::Pages {
                    reason: format!(
                        "page {} is not of the same key as of the same block",
                        number + 2
                    ),
                });
            }
            if page.first != expected || page.proof.events.is_empty() {
                return Err(ProvenanceError::Pages {
                    reason: format!(
                        "page {} starts at event {}, {expected} expected",
                        number + 2,
                        page.first
                    ),
                });
            }
            joined.events.extend(page.proof.events);
        }
        Ok(joined)
    }
}

/// What failed, first, when checking a [`ProvenanceProof`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceError {
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("map proof: {reason}")]
    MapProof { reason: String },
    #[error(
        "chain rebuild: the record counts {recorded} events, the proof carries {given}: events are missing or extra"
    )]
    EventCount { recorded: u64, given: usize },
    #[error(
        "chain rebuild: the events do not rebuild the recorded head: an event is missing, reordered or altered"
    )]
    ChainHead,
    #[error(
        "chain rebuild: event {position} is at height {height}, after a later one or beyond the proof's block {block_height}"
    )]
    EventHeight {
        position: usize,
        height: u64,
        block_height: u64,
    },
    #[error("chain rebuild: the last event is at height {found}, the record says {recorded}")]
    LastHeight { recorded: u64, found: u64 },
    #[error("chain rebuild: event {position} ({event_id}) is not indexed under {key}")]
    UnrelatedEvent {
        position: usize,
        event_id: Hash,
        key: IndexKey,
    },
    #[error("event {position} ({event_id}): signer {signer} is not in the genesis")]
    UnknownSigner {
        position: usize,
        event_id: Hash,
        signer: KeyId,
    },
    #[error("event {position} ({event_id}): signature does not verify")]
    EventSignature { position: usize, event_id: Hash },
    #[error(
        "event {position} ({event_id}): signer {signer} has no role allowing {event_type} events"
    )]
    Permission {
        position: usize,
        event_id: Hash,
        signer: KeyId,
        event_type: EventType,
    },
    #[error("proof: {0}")]
    Encoding(#[from] CodecError),
    #[error("pages: {reason}")]
    Pages { reason: String },
    #[error(
        "the proof is about {answered}, not {asked} that was asked: the node answered another question"
    )]
    WrongKey { asked: IndexKey, answered: IndexKey },
    #[error(
        "the proof is as of block {height}, {age_ms} ms old, more than the {max_age_ms} ms allowed: the node is behind or withholding newer events (raise --max-age only for a network known to be idle)"
    )]
    TooOld {
        height: u64,
        age_ms: u64,
        max_age_ms: u64,
    },
    #[error(
        "the proof is as of block {height}, below block {seen} already seen: the node is behind or withholding newer events"
    )]
    BelowSeenHeight { height: u64, seen: u64 },
}

/// What a caller asked, and how fresh the answer must be: a proof is only an answer if it is
/// about this key and recent enough. The caller's clock comes in as `now_ms`, so the check
/// stays pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub key: IndexKey,
    pub freshness: Freshness,
}

/// How recent a proof must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// The caller's clock, Unix milliseconds.
    pub now_ms: u64,
    /// The oldest block time accepted, as an age against `now_ms`; `None` accepts any age
    /// (a saved bundle, verified later).
    pub max_age_ms: Option<u64>,
    /// The lowest block height accepted: one the caller has already seen.
    pub min_height: u64,
}

impl Freshness {
    /// The proof's age: how long before `now_ms` its block was made (0 for a block dated after).
    pub fn age_ms(&self, header: &BlockHeader) -> u64 {
        self.now_ms.saturating_sub(header.time_ms)
    }
}

impl ProvenanceProof {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<ProvenanceProof, ProvenanceError> {
        Ok(codec::decode(
            "provenance proof",
            bytes,
            MESSAGE_ENCODED_BYTES_MAX,
        )?)
    }

    /// Checks that the proof answers `question` (its key, its freshness), then the whole proof
    /// ([`ProvenanceProof::verify`]). Every answer a client acts on goes through here: a genuine
    /// proof of another shipment, or of this one before its last events, is not an answer.
    pub fn verify_answer(
        &self,
        rules: &ChainRules,
        question: &Question,
    ) -> Result<(), ProvenanceError> {
        if self.key != question.key {
            return Err(ProvenanceError::WrongKey {
                asked: question.key.clone(),
                answered: self.key.clone(),
            });
        }
        let freshness = &question.freshness;
        if self.header.height < freshness.min_height {
            return Err(ProvenanceError::BelowSeenHeight {
                height: self.header.height,
                seen: freshness.min_height,
            });
        }
        if let Some(max_age_ms) = freshness.max_age_ms {
            let age_ms = freshness.age_ms(&self.header);
            if age_ms > max_age_ms {
                return Err(ProvenanceError::TooOld {
                    height: self.header.height,
                    age_ms,
                    max_age_ms,
                });
            }
        }
        self.verify(rules)
    }

    /// Checks the whole proof against the chain's rules (its genesis). On success every event in
    /// `events` is authentic, permitted, in order, and none is missing. This says nothing about
    /// which question it answers: callers use [`ProvenanceProof::verify_answer`].
    pub fn verify(&self, rules: &ChainRules) -> Result<(), ProvenanceError> {
        self.verify_after(rules, None)
    }

    /// Checks a proof whose `events` are those after `known`, the record of the key's history
    /// the caller verified before (`None`: the whole history): the same checks as
    /// [`ProvenanceProof::verify`], with the chain rebuilt from `known`'s head. On success the
    /// events continue the known history without a gap up to the proven record. How a follower
    /// (the EPCIS gateway) verifies a long history once, block by block.
    pub fn verify_after(
        &self,
        rules: &ChainRules,
        known: Option<&KeyRecord>,
    ) -> Result<(), ProvenanceError> {
        self.certificate.verify(rules, &self.header)?;
        self.verify_map_proof()?;
        let key_bytes = self.key.encode();
        self.verify_chain(&key_bytes, known)?;
        self.verify_signatures(rules)?;
        for (position, proven) in self.events.iter().enumerate() {
            let body = &proven.event.body;
            let event_type = body.kind.event_type();
            let permitted = rules
                .signer(&body.signer)
                .is_some_and(|signer| rules.may_sign(signer, event_type));
            if !permitted {
                return Err(ProvenanceError::Permission {
                    position,
                    event_id: proven.event.id(),
                    signer: body.signer.clone(),
                    event_type,
                });
            }
        }
        Ok(())
    }

    /// Every event signature with `verify_strict`. Long histories are split across the cores;
    /// the accepted set is the same, and the error is always the lowest failing position.
    fn verify_signatures(&self, rules: &ChainRules) -> Result<(), ProvenanceError> {
        let check = |position: usize, proven: &ProvenEvent| -> Result<(), ProvenanceError> {
            let event = &proven.event;
            let signer =
                rules
                    .signer(&event.body.signer)
                    .ok_or_else(|| ProvenanceError::UnknownSigner {
                        position,
                        event_id: event.id(),
                        signer: event.body.signer.clone(),
                    })?;
            crypto::verify_strict(&signer.key, &event.body.signing_bytes(), &event.signature)
                .map_err(|_| ProvenanceError::EventSignature {
                    position,
                    event_id: event.id(),
                })
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(SIGNATURE_THREADS_MAX);
        if threads == 1 || self.events.len() < PARALLEL_SIGNATURES_MIN {
            return self
                .events
                .iter()
                .enumerate()
                .try_for_each(|(position, proven)| check(position, proven));
        }
        let chunk = self.events.len().div_ceil(threads);
        let failures: Vec<ProvenanceError> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .events
                .chunks(chunk)
                .enumerate()
                .map(|(part, events)| {
                    scope.spawn(move || {
                        events
                            .iter()
                            .enumerate()
                            .try_for_each(|(offset, proven)| check(part * chunk + offset, proven))
                            .err()
                    })
                })
                .collect();
            // A checker thread only runs the closure above, which does not panic on any input.
            handles
                .into_iter()
                .filter_map(|h| h.join().expect("signature checker thread"))
                .collect()
        });
        // Chunks are in position order, so the first failure found is the lowest position.
        match failures.into_iter().next() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    fn verify_map_proof(&self) -> Result<(), ProvenanceError> {
        let map_error = |reason: String| ProvenanceError::MapProof { reason };
        if self.map_proof.len() > MAP_PROOF_BYTES_MAX {
            return Err(map_error(format!(
                "{} bytes, more than {MAP_PROOF_BYTES_MAX}",
                self.map_proof.len()
            )));
        }
        let proof: MapProof = borsh::from_slice(&self.map_proof)
            .map_err(|error| map_error(format!("malformed: {error}")))?;
        let root = RootHash(self.header.index_root.0);
        let key = KeyHash(self.key.map_key());
        match &self.record {
            Some(record) => proof
                .verify_existence(root, key, codec::encode(record))
                .map_err(|error| {
                    map_error(format!(
                        "does not prove the record of {}: {error}",
                        self.key
                    ))
                }),
            None => proof.verify_nonexistence(root, key).map_err(|error| {
                map_error(format!(
                    "does not prove that {} is absent: {error}",
                    self.key
                ))
            }),
        }
    }

    fn verify_chain(
        &self,
        key_bytes: &[u8],
        known: Option<&KeyRecord>,
    ) -> Result<(), ProvenanceError> {
        let recorded = self.record.map_or(0, |r| r.count);
        let (known_count, mut head, mut previous_height) =
            known.map_or((0, Hash::ZERO, 0), |k| (k.count, k.head, k.last_height));
        if recorded.checked_sub(known_count) != Some(self.events.len() as u64) {
            return Err(ProvenanceError::EventCount {
                recorded,
                given: self.events.len(),
            });
        }
        let Some(record) = &self.record else {
            return Ok(());
        };
        for (position, proven) in self.events.iter().enumerate() {
            if proven.height < previous_height || proven.height > self.header.height {
                return Err(ProvenanceError::EventHeight {
                    position,
                    height: proven.height,
                    block_height: self.header.height,
                });
            }
            previous_height = proven.height;
            let event_id = proven.event.id();
            if !index_keys(&proven.event.body).contains(&self.key) {
                return Err(ProvenanceError::UnrelatedEvent {
                    position,
                    event_id,
                    key: self.key.clone(),
                });
            }
            let number = known_count.saturating_add(position as u64 + 1);
            head = crate::index::chain_link(key_bytes, &head, number, &event_id);
        }
        if head != record.head {
            return Err(ProvenanceError::ChainHead);
        }
        if previous_height != record.last_height {
            return Err(ProvenanceError::LastHeight {
                recorded: record.last_height,
                found: previous_height,
            });
        }
        Ok(())
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}
