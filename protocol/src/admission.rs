//! The one place an event's signature is checked. A [`CheckedEvent`] can only be made by
//! verifying it (`verify_strict`, against the signer's genesis key), so every later stage —
//! block building, validation, execution — takes it as proof and never verifies again.

use crate::crypto::{self, Hash};
use crate::event::{EventError, EventType, SignedEvent};
use crate::ids::{KeyId, OrgId};
use crate::limits::EVENT_ENCODED_BYTES_MAX;
use crate::rules::ChainRules;

/// A signed event whose signer is a genesis key and whose signature verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEvent {
    event: SignedEvent,
    id: Hash,
    encoded_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    #[error("signer: {signer} is not an event signing key in the genesis")]
    UnknownSigner { signer: KeyId },
    #[error("signature: does not verify for signer {signer}")]
    BadSignature { signer: KeyId },
    #[error(transparent)]
    Malformed(#[from] EventError),
    #[error("type: {org} has no role allowing {event_type} events")]
    NotPermitted { org: OrgId, event_type: EventType },
}

impl CheckedEvent {
    pub fn check(rules: &ChainRules, event: SignedEvent) -> Result<CheckedEvent, AdmissionError> {
        let signer =
            rules
                .signer(&event.body.signer)
                .ok_or_else(|| AdmissionError::UnknownSigner {
                    signer: event.body.signer.clone(),
                })?;
        let signing_bytes = event.body.signing_bytes();
        // Signing bytes are tag ‖ chain id (u64 length + bytes) ‖ body; the event is body ‖ signature.
        let prefix = crate::crypto::tag::EVENT.len() + 8 + event.body.chain_id.as_str().len();
        let encoded_len = signing_bytes.len() - prefix + event.signature.0.len();
        // The one size rule, the same as the ledger's when it reads an event back: an event it
        // could not decode must never be admitted, proposed or validated.
        if encoded_len > EVENT_ENCODED_BYTES_MAX {
            return Err(AdmissionError::Malformed(EventError::TooLarge {
                bytes: encoded_len,
                max: EVENT_ENCODED_BYTES_MAX,
            }));
        }
        crypto::verify_strict(&signer.key, &signing_bytes, &event.signature).map_err(|_| {
            AdmissionError::BadSignature {
                signer: event.body.signer.clone(),
            }
        })?;
        let id = Hash::of_parts(&[&signing_bytes]);
        Ok(CheckedEvent {
            event,
            id,
            encoded_len,
        })
    }

    /// Everything a node checks about a submitted event before it looks at its ledger, in the
    /// order the API reports: the body's own rules against `now_ms` (the node's clock, passed
    /// in so this stays pure), the signature, then the signer's role for the event's kind.
    pub fn admit(
        rules: &ChainRules,
        event: SignedEvent,
        now_ms: u64,
    ) -> Result<CheckedEvent, AdmissionError> {
        event.body.validate(rules.chain_id(), now_ms)?;
        let checked = CheckedEvent::check(rules, event)?;
        CheckedEvent::admit_checked(rules, checked, now_ms)
    }

    /// [`CheckedEvent::admit`] for an event whose signature was checked before (a node's
    /// recent block validation): the body's rules and the role, again, against `now_ms`.
    pub fn admit_checked(
        rules: &ChainRules,
        checked: CheckedEvent,
        now_ms: u64,
    ) -> Result<CheckedEvent, AdmissionError> {
        checked.event.body.validate(rules.chain_id(), now_ms)?;
        let body = &checked.event.body;
        let event_type = body.kind.event_type();
        let permitted = rules
            .signer(&body.signer)
            .is_some_and(|signer| rules.may_sign(signer, event_type));
        if !permitted {
            return Err(AdmissionError::NotPermitted {
                org: body.signer.org.clone(),
                event_type,
            });
        }
        Ok(checked)
    }

    /// Decodes (bounded) and checks.
    pub fn decode_and_check(
        rules: &ChainRules,
        bytes: &[u8],
    ) -> Result<CheckedEvent, AdmissionError> {
        CheckedEvent::check(rules, SignedEvent::decode(bytes)?)
    }

    pub fn event(&self) -> &SignedEvent {
        &self.event
    }

    pub fn id(&self) -> Hash {
        self.id
    }

    /// The length of the event's canonical encoding.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// The event's Merkle leaf: `leaf_hash(id ‖ signature)`, committing to the whole signed
    /// event (the id to the body, then the signature bytes).
    pub fn leaf(&self) -> Hash {
        event_leaf(&self.id, &self.event)
    }

    pub fn into_event(self) -> SignedEvent {
        self.event
    }
}

/// `leaf_hash(id ‖ signature)` for an event whose id is already known.
fn event_leaf(id: &Hash, event: &SignedEvent) -> Hash {
    Hash::of_parts(&[&[0x00], id.as_bytes(), &event.signature.0])
}
