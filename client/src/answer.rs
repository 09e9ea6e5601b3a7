//! The one way the SDK reads provenance from a node: fetch, then check that the proof answers
//! the question asked (the same key, a recent enough block) before verifying it against the
//! genesis. A node, or anything between it and the caller, that serves a genuine proof of
//! another key or an old one is refused here, with an error naming the mismatch.

use std::cell::Cell;
use std::time::Duration;

use waybill_protocol::ShipmentId;
use waybill_protocol::event::Sgtin;
use waybill_protocol::index::IndexKey;
use waybill_protocol::provenance::{Freshness, ProvenanceError, ProvenanceProof, Question};
use waybill_protocol::rules::ChainRules;

use crate::disclosure::{Disclosure, declaration_of, disclose};
use crate::node::{ClientError, NodeClient};
use crate::timeline::{VerifiedHistory, verified_history};

/// The default oldest proof accepted: an idle network still makes a block every 10 s, so a
/// live node's answer is seldom more than a few seconds old.
pub const MAX_AGE_DEFAULT: Duration =
    Duration::from_secs(waybill_protocol::limits::PROOF_AGE_DEFAULT_SECONDS);

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Node(#[from] ClientError),
    /// The node answered, but not with a verified answer to the question.
    #[error("{key}: {error}")]
    Proof {
        key: IndexKey,
        error: Box<ProvenanceError>,
    },
}

/// A proof that answered the question, and its history laid out.
#[derive(Debug, Clone)]
pub struct Answer {
    pub proof: ProvenanceProof,
    pub history: VerifiedHistory,
}

impl Answer {
    pub fn events(&self) -> Vec<waybill_protocol::SignedEvent> {
        self.proof.events.iter().map(|p| p.event.clone()).collect()
    }
}

/// Reads verified answers from one node. Heights only go up: each answer raises the lowest
/// height the next one may be as of, so a node cannot answer a later look-up (a serial inside
/// a release check) from before an earlier one.
#[derive(Debug)]
pub struct ProvenanceReader<'a> {
    node: &'a NodeClient,
    rules: &'a ChainRules,
    max_age: Option<Duration>,
    seen_height: Cell<u64>,
}

impl<'a> ProvenanceReader<'a> {
    /// `max_age` `None` accepts a proof of any age; `min_height` is a height already seen.
    pub fn new(
        node: &'a NodeClient,
        rules: &'a ChainRules,
        max_age: Option<Duration>,
        min_height: u64,
    ) -> ProvenanceReader<'a> {
        ProvenanceReader {
            node,
            rules,
            max_age,
            seen_height: Cell::new(min_height),
        }
    }

    pub fn node(&self) -> &NodeClient {
        self.node
    }

    pub fn shipment(&self, shipment: &ShipmentId) -> Result<Answer, AnswerError> {
        let proof = self.node.shipment_provenance(shipment)?;
        self.check(IndexKey::Shipment(shipment.clone()), proof)
    }

    pub fn serial(&self, serial: &Sgtin) -> Result<Answer, AnswerError> {
        let proof = self.node.serial_provenance(serial)?;
        self.check(IndexKey::Serial(serial.clone()), proof)
    }

    /// A GTIN's history: the proven listing of its serials
    /// ([`waybill_protocol::index::serials_named`]).
    pub fn gtin(&self, gtin: &waybill_protocol::Gtin) -> Result<Answer, AnswerError> {
        let proof = self.node.gtin_provenance(gtin)?;
        self.check(IndexKey::Gtin(gtin.clone()), proof)
    }

    /// An operator's accreditations, by its registration.
    pub fn operator(
        &self,
        registration: &waybill_protocol::Reference,
    ) -> Result<Answer, AnswerError> {
        let proof = self.node.operator_provenance(registration)?;
        self.check(IndexKey::Operator(registration.clone()), proof)
    }

    /// A member's accreditations.
    pub fn member(&self, org: &waybill_protocol::OrgId) -> Result<Answer, AnswerError> {
        let proof = self.node.member_provenance(org)?;
        self.check(IndexKey::Member(org.clone()), proof)
    }

    /// The particulars of the declaration in a verified shipment answer, opened against its
    /// commitment; `None` if the history has no declaration (the node is not asked).
    pub fn particulars(&self, answer: &Answer) -> Result<Option<Disclosure>, AnswerError> {
        let IndexKey::Shipment(shipment) = &answer.proof.key else {
            return Ok(None);
        };
        if declaration_of(&answer.proof).is_none() {
            return Ok(None);
        }
        let given = self.node.particulars(shipment)?;
        Ok(disclose(&answer.proof, self.rules, given))
    }

    fn check(&self, key: IndexKey, proof: ProvenanceProof) -> Result<Answer, AnswerError> {
        let question = Question {
            key: key.clone(),
            freshness: Freshness {
                now_ms: now_ms(),
                max_age_ms: self
                    .max_age
                    .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
                min_height: self.seen_height.get(),
            },
        };
        let history = verified_history(&proof, self.rules, &question).map_err(|error| {
            AnswerError::Proof {
                key,
                error: Box::new(error),
            }
        })?;
        self.seen_height
            .set(self.seen_height.get().max(proof.header.height));
        Ok(Answer { proof, history })
    }
}

/// The caller's clock, Unix milliseconds (0 before 1970, which only makes proofs look new).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
