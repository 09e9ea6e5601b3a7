//! A declaration's private particulars as a reader gets them (issue 13). The ledger carries a
//! commitment; an entitled reader gets the cleartext and salt from a node holding them, and the
//! SDK opens them against the commitment in the *verified* declaration ([`disclose`]), so a
//! node can withhold particulars but never alter them. Whether they were purged is read from
//! the verified history too (a purge event, or the genesis retention period), never taken on
//! the node's word.

use serde::Serialize;
use waybill_protocol::event::{Declaration, EventKind, Party, SignedEvent};
use waybill_protocol::particulars::{
    DeclarationSummary, DisclosedParts, PartValue, ParticularsPart, SealedParticulars,
};
use waybill_protocol::provenance::ProvenanceProof;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, OrgId};

/// What a node answered for a shipment's particulars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticularsAnswer {
    Disclosed(Box<SealedParticulars>),
    /// The parts a genesis grant gives this reader, and the grant the node names.
    DisclosedInPart {
        parts: Box<DisclosedParts>,
        grant: String,
    },
    /// The node says they were purged.
    Purged,
    /// The node holds no copy (not entitled to, not yet received), or refused this reader.
    NotGiven {
        reason: String,
    },
}

/// A verified history's declaration particulars, as this reader may know them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Disclosure {
    /// Opened against the declaration's commitment: the whole declaration as filed.
    Verified { declaration: Box<Declaration> },
    /// The parts a genesis grant gives this reader, opened against the commitment; the rest
    /// withheld.
    VerifiedInPart {
        parts: Vec<PartValue>,
        withheld: Vec<ParticularsPart>,
        grant: String,
    },
    /// Not given to this reader, or not held by the node asked.
    Withheld { reason: String },
    /// Erased: by a purge event in the verified history, or by the genesis retention period.
    Purged { detail: String },
    /// The node sent particulars that are not the ones committed to: it is lying or broken.
    Forged { reason: String },
}

impl Disclosure {
    /// The declaration, if its particulars verified.
    pub fn declaration(&self) -> Option<&Declaration> {
        match self {
            Disclosure::Verified { declaration } => Some(declaration),
            _ => None,
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Disclosure::Verified { declaration } => format!(
                "particulars verified against the commitment: consignee {} ({}), {} {}",
                declaration.consignee.name,
                declaration.consignee.country,
                declaration
                    .total_value_minor()
                    .map_or("?".into(), |v| v.to_string()),
                declaration.currency
            ),
            Disclosure::VerifiedInPart {
                parts,
                withheld,
                grant,
            } => {
                let opened: Vec<String> = parts.iter().map(describe_part).collect();
                let withheld: Vec<&str> = withheld.iter().map(|part| part.name()).collect();
                format!(
                    "particulars verified in part ({grant}): {}; withheld: {}",
                    opened.join("; "),
                    withheld.join(", ")
                )
            }
            Disclosure::Withheld { reason } => format!("particulars withheld: {reason}"),
            Disclosure::Purged { detail } => detail.clone(),
            Disclosure::Forged { reason } => format!("particulars NOT VERIFIED: {reason}"),
        }
    }
}

/// One opened part, for people.
fn describe_part(value: &PartValue) -> String {
    let party = |party: &Party| format!("{} ({})", party.name, party.country);
    match value {
        PartValue::Consignor(consignor) => format!("consignor {}", party(consignor)),
        PartValue::Delivery(delivery) => format!(
            "delivery to {}, {} ({})",
            delivery.name,
            delivery
                .address
                .as_ref()
                .map_or("no address", |a| a.as_str()),
            delivery.country
        ),
        PartValue::ConsigneeRegistration(registration) => format!(
            "consignee registration {}",
            registration.as_ref().map_or("none", |r| r.as_str())
        ),
        PartValue::Seller(seller) => {
            format!("seller {}", seller.as_ref().map_or("none".into(), party))
        }
        PartValue::Values(values) => format!(
            "{} values in {}",
            values.values_minor.len(),
            values.currency
        ),
        PartValue::Ioss(ioss) => {
            format!("IOSS {}", ioss.as_ref().map_or("none", |i| i.as_str()))
        }
    }
}

/// The declaration in a verified history: its summary and its event.
pub fn declaration_of(proof: &ProvenanceProof) -> Option<(&DeclarationSummary, &SignedEvent)> {
    proof
        .events
        .iter()
        .find_map(|proven| match proven.event.body.kind.effective() {
            EventKind::Declare(summary) => Some((&**summary, &proven.event)),
            _ => None,
        })
}

/// The purge of `commitment` in a verified history: at which height, by whom.
fn purge_of(proof: &ProvenanceProof, commitment: &Hash) -> Option<(u64, OrgId)> {
    proof
        .events
        .iter()
        .find_map(|proven| match proven.event.body.kind.effective() {
            EventKind::Purge { particulars } if particulars == commitment => {
                Some((proven.height, proven.event.body.signer.org.clone()))
            }
            _ => None,
        })
}

/// The particulars of `proof`'s declaration, from what a node answered. `proof` must have
/// verified (`ProvenanceReader` does this first); `None` if its history has no declaration.
/// Pure.
pub fn disclose(
    proof: &ProvenanceProof,
    rules: &ChainRules,
    answer: ParticularsAnswer,
) -> Option<Disclosure> {
    let (summary, declared) = declaration_of(proof)?;
    let declared_ms = declared.body.event_time_ms;
    if let Some((height, by)) = purge_of(proof, &summary.particulars) {
        return Some(Disclosure::Purged {
            detail: format!("private data purged at height {height} by {by}"),
        });
    }
    let genesis = rules.genesis();
    if let (Some(days), Some(retention_ms)) = (
        genesis.particulars_retention_days,
        genesis.particulars_retention_ms(),
    ) {
        if declared_ms.saturating_add(retention_ms) <= proof.header.time_ms {
            return Some(Disclosure::Purged {
                detail: format!(
                    "private data purged by the genesis retention period ({days} days after the declaration)"
                ),
            });
        }
    }
    Some(match answer {
        ParticularsAnswer::Disclosed(sealed) => match sealed.open(summary) {
            Ok(declaration) => Disclosure::Verified {
                declaration: Box::new(declaration),
            },
            Err(error) => Disclosure::Forged {
                reason: error.to_string(),
            },
        },
        ParticularsAnswer::DisclosedInPart { parts, grant } => match parts.open(summary) {
            Ok(opened) => Disclosure::VerifiedInPart {
                withheld: parts.sealed.iter().map(|sealed| sealed.part).collect(),
                parts: opened,
                grant,
            },
            Err(error) => Disclosure::Forged {
                reason: error.to_string(),
            },
        },
        ParticularsAnswer::Purged => Disclosure::Withheld {
            reason: "the node says they were purged, but no purge is in the verified history"
                .into(),
        },
        ParticularsAnswer::NotGiven { reason } => Disclosure::Withheld { reason },
    })
}
