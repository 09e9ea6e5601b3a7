//! A verified provenance proof as a custody timeline people read: who did what, where, when.
//! Built only from a proof that verified against the genesis.

use serde::Serialize;
use waybill_protocol::event::EventKind;
use waybill_protocol::index::IndexKey;
use waybill_protocol::provenance::{ProvenanceError, ProvenanceProof, Question};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{EventType, Hash, OrgId};

/// One line of a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub height: u64,
    pub event_time_ms: u64,
    pub signer: OrgId,
    pub event_type: EventType,
    /// What else the event says that a reader needs (to whom, why, the result).
    pub detail: String,
    pub location: Option<String>,
    pub event_id: Hash,
}

/// A verified history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedHistory {
    pub key: IndexKey,
    /// The block the answer is as of.
    pub height: u64,
    pub block_hash: Hash,
    /// Whether anything was ever recorded for the key (false: proven absent).
    pub recorded: bool,
    pub entries: Vec<TimelineEntry>,
}

fn detail(kind: &EventKind) -> String {
    match kind {
        EventKind::Declare(summary) => format!(
            "{} goods line(s), {} piece(s), {} g; particulars committed as {}",
            summary.goods.len(),
            summary.pieces,
            summary.gross_mass_g,
            summary.particulars
        ),
        EventKind::Purge { particulars } => format!("private particulars {particulars} erased"),
        EventKind::HandOver { to } => format!("to {to}"),
        EventKind::Accept { from } => format!("from {from}"),
        EventKind::RiskAssessed { status } => format!("{status:?}"),
        EventKind::Inspect { result, note } => format!("{result:?}: {note}"),
        EventKind::Hold { reason }
        | EventKind::Seize { reason }
        | EventKind::Return { reason }
        | EventKind::Decommission { reason } => reason.to_string(),
        EventKind::Pack { parcel } | EventKind::Unpack { parcel } => format!("parcel {parcel}"),
        EventKind::Flag { serial, suspicion } => format!("{serial:?}: {suspicion}"),
        _ => String::new(),
    }
}

/// Checks that `proof` answers `question`, verifies it against the genesis rules, and lays its
/// events out in order.
pub fn verified_history(
    proof: &ProvenanceProof,
    rules: &ChainRules,
    question: &Question,
) -> Result<VerifiedHistory, ProvenanceError> {
    proof.verify_answer(rules, question)?;
    let entries = proof
        .events
        .iter()
        .map(|proven| {
            let body = &proven.event.body;
            TimelineEntry {
                height: proven.height,
                event_time_ms: body.event_time_ms,
                signer: body.signer.org.clone(),
                event_type: body.kind.event_type(),
                detail: detail(body.kind.effective()),
                location: body
                    .read_point
                    .as_ref()
                    .or(body.biz_location.as_ref())
                    .map(|l| l.id.to_string()),
                event_id: proven.event.body.id(),
            }
        })
        .collect();
    Ok(VerifiedHistory {
        key: proof.key.clone(),
        height: proof.header.height,
        block_hash: proof.header.hash(),
        recorded: proof.record.is_some(),
        entries,
    })
}
