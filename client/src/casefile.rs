//! A shipment's case file gathered from one node, every part verified against the genesis:
//! its history, particulars, the audits of its serials, the consignee's other consignments,
//! the parties' prior findings and standings, and the draw. `release-check` and the console
//! take their decisions on it; the node's listings only say where to look.

use waybill_protocol::ShipmentId;
use waybill_protocol::event::{EventKind, SignedEvent};
use waybill_protocol::rules::ChainRules;

use crate::answer::{Answer, AnswerError, ProvenanceReader};
use crate::audit::AuditReport;
use crate::customs::Policies;
use crate::customs::risk::Draw;
use crate::customs::tiers::Standing;
use crate::disclosure::Disclosure;
use crate::node::{ClientError, NodeClient};
use crate::release::{CaseFile, PriorFinding, RelatedConsignment, ReleaseReport};

/// What gathering a case file failed on.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// An answer did not verify, or did not answer the question asked.
    #[error("{0}")]
    Verification(String),
    #[error(transparent)]
    Node(#[from] ClientError),
}

impl CaseError {
    /// `what` names the part of the case file (a related shipment, the accreditations).
    pub fn from_answer(what: &str, error: AnswerError) -> CaseError {
        match error {
            AnswerError::Proof { .. } if what.is_empty() => {
                CaseError::Verification(error.to_string())
            }
            AnswerError::Proof { .. } => CaseError::Verification(format!("{what}: {error}")),
            AnswerError::Node(e) => CaseError::Node(e),
        }
    }
}

/// A shipment's verified case file, owned.
#[derive(Debug, Clone)]
pub struct Case {
    pub answer: Answer,
    pub events: Vec<SignedEvent>,
    pub particulars: Option<Disclosure>,
    pub serial_audits: Vec<AuditReport>,
    pub related: Option<Vec<RelatedConsignment>>,
    pub prior: Option<Vec<PriorFinding>>,
    pub standings: Vec<Standing>,
    pub draw: Option<Draw>,
}

impl Case {
    /// The history and particulars alone, with none of customs' look-ups: a party's view.
    pub fn history_only(answer: Answer, particulars: Option<Disclosure>) -> Case {
        Case {
            events: answer.events(),
            answer,
            particulars,
            serial_audits: Vec::new(),
            related: None,
            prior: None,
            standings: Vec::new(),
            draw: None,
        }
    }

    /// The case file as the release check reads it.
    pub fn file(&self) -> CaseFile<'_> {
        CaseFile {
            events: &self.events,
            particulars: self.particulars.as_ref(),
            serial_audits: Some(&self.serial_audits),
            related: self.related.as_deref(),
            prior: self.prior.as_deref(),
            standings: Some(&self.standings),
            draw: self.draw,
        }
    }

    /// The release check under `policies`.
    pub fn release_check(&self, policies: &Policies) -> ReleaseReport {
        crate::release::release_check(self.file(), policies)
    }
}

/// Gathers `shipment`'s case file through `reader`, verifying every part.
pub fn gather(
    reader: &ProvenanceReader<'_>,
    rules: &ChainRules,
    shipment: &ShipmentId,
    policies: &Policies,
) -> Result<Case, CaseError> {
    let failed = |error| CaseError::from_answer("", error);
    let answer = reader.shipment(shipment).map_err(failed)?;
    let events = answer.events();
    // The serial rules: each item the shipment names, audited on its own verified history,
    // as of this block or later.
    let mut serial_audits = Vec::new();
    for serial in crate::release::named_serials(&events) {
        let serial_answer = reader.serial(&serial).map_err(failed)?;
        serial_audits.push(crate::audit::audit_serial(
            &serial,
            &serial_answer.events(),
            rules,
        ));
    }
    let particulars = reader.particulars(&answer).map_err(failed)?;
    let related = related_consignments(reader, &events, particulars.as_ref(), policies)?;
    let standings = standings_of(reader, &events, particulars.as_ref())?;
    let prior = prior_findings(reader, &events, particulars.as_ref(), policies)?;
    let draw = selection_draw(reader.node(), rules, &answer)?;
    Ok(Case {
        answer,
        events,
        particulars,
        serial_audits,
        related,
        prior,
        standings,
        draw,
    })
}

/// The declaration event, its verified particulars, and the start of a look-back of `days`
/// from its time; `None` without verified particulars.
fn declared_with_particulars<'a>(
    events: &'a [SignedEvent],
    particulars: Option<&'a Disclosure>,
    days: u32,
) -> Option<(
    &'a SignedEvent,
    &'a waybill_protocol::event::Declaration,
    u64,
)> {
    let declared = events
        .iter()
        .find(|e| matches!(e.body.kind.effective(), EventKind::Declare(_)))?;
    let declaration = particulars.and_then(Disclosure::declaration)?;
    let since = declared
        .body
        .event_time_ms
        .saturating_sub(u64::from(days) * 86_400_000);
    Some((declared, declaration, since))
}

/// The consignee's other consignments in the profile's window, each from its own verified
/// history and verified particulars (the node's listing only says where to look). `None`
/// without verified particulars of this shipment's own declaration.
fn related_consignments(
    reader: &ProvenanceReader<'_>,
    events: &[SignedEvent],
    particulars: Option<&Disclosure>,
    policies: &Policies,
) -> Result<Option<Vec<RelatedConsignment>>, CaseError> {
    let Some((event, declaration, since)) =
        declared_with_particulars(events, particulars, policies.risk.consignee_window_days)
    else {
        return Ok(None);
    };
    let consignee = &declaration.consignee;
    let listed = reader.node().declarations_to(
        consignee.name.as_str(),
        consignee.country.as_str(),
        since,
    )?;
    let mut related = Vec::new();
    for shipment in listed.declarations.into_iter().map(|d| d.shipment) {
        if shipment == event.body.shipment {
            continue;
        }
        let answer = reader.shipment(&shipment).map_err(failed_related)?;
        let Some(Disclosure::Verified { declaration: other }) =
            reader.particulars(&answer).map_err(failed_related)?
        else {
            continue; // Not verifiable here: the listing alone proves nothing.
        };
        let Some((_, declared)) = crate::disclosure::declaration_of(&answer.proof) else {
            continue;
        };
        // Only what the verified history says counts: same consignee, inside the window.
        let time = declared.body.event_time_ms;
        let same = other.consignee.country == consignee.country
            && waybill_protocol::ids::fold_name(other.consignee.name.as_str())
                == waybill_protocol::ids::fold_name(consignee.name.as_str());
        let window_ms = event.body.event_time_ms - since;
        let inside = time.saturating_add(window_ms) >= event.body.event_time_ms
            && time <= event.body.event_time_ms.saturating_add(window_ms);
        if same && inside {
            related.push(RelatedConsignment {
                shipment,
                value_minor: other.total_value_minor().unwrap_or(u64::MAX),
                currency: other.currency.clone(),
                declaration: declared.body.id(),
                adverse: adverse_events(&answer.events()),
            });
        }
    }
    Ok(Some(related))
}

/// Failed inspections and seizures in a verified history.
fn adverse_events(events: &[SignedEvent]) -> Vec<waybill_protocol::Hash> {
    use waybill_protocol::event::InspectionResult;
    events
        .iter()
        .filter(|e| match e.body.kind.effective() {
            EventKind::Seize { .. } => true,
            EventKind::Inspect { result, .. } => *result != InspectionResult::Compliant,
            _ => false,
        })
        .map(|e| e.body.id())
        .collect()
}

fn failed_related(error: AnswerError) -> CaseError {
    CaseError::from_answer("related shipment", error)
}

/// Who a prior-findings look-up is about: the listing's query and a name for people.
struct Party {
    query: (&'static str, String),
    label: String,
}

/// The declaring platform (by member id), and the consignor and the seller by registration.
fn parties_of(
    declared: &SignedEvent,
    declaration: &waybill_protocol::event::Declaration,
) -> Vec<Party> {
    let org = &declared.body.signer.org;
    let mut parties = vec![Party {
        query: ("member", org.to_string()),
        label: format!("the declaring platform {org}"),
    }];
    let named = [
        ("consignor", Some(&declaration.consignor)),
        ("seller", declaration.seller.as_ref()),
    ];
    for (role, party) in named {
        let Some((party, registration)) =
            party.and_then(|p| p.registration.as_ref().map(|r| (p, r)))
        else {
            continue;
        };
        if !parties.iter().any(|p| p.query.1 == registration.as_str()) {
            parties.push(Party {
                query: ("registration", registration.to_string()),
                label: format!("{role} {} ({registration})", party.name),
            });
        }
    }
    parties
}

/// Whether a verified declaration is this party's: declared by the member, or naming the
/// registration as consignor or seller.
fn is_party_of(
    party: &Party,
    declared: &SignedEvent,
    declaration: Option<&waybill_protocol::event::Declaration>,
) -> bool {
    match party.query.0 {
        "member" => declared.body.signer.org.as_str() == party.query.1,
        _ => declaration.is_some_and(|d| {
            [Some(&d.consignor), d.seller.as_ref()]
                .into_iter()
                .flatten()
                .any(|p| {
                    p.registration
                        .as_ref()
                        .is_some_and(|r| r.as_str() == party.query.1)
                })
        }),
    }
}

/// Other consignments of this one's parties that customs found against within the profile's
/// window: the node lists them, each is taken only from its verified history (its failed
/// inspections and seizures) and its verified declaration (that it is the party's). `None`
/// without verified particulars of this shipment's declaration.
fn prior_findings(
    reader: &ProvenanceReader<'_>,
    events: &[SignedEvent],
    particulars: Option<&Disclosure>,
    policies: &Policies,
) -> Result<Option<Vec<PriorFinding>>, CaseError> {
    let Some((declared, declaration, since)) =
        declared_with_particulars(events, particulars, policies.risk.prior_window_days)
    else {
        return Ok(None);
    };
    let mut found = Vec::new();
    for party in parties_of(declared, declaration) {
        let listed = reader
            .node()
            .adverse_of((party.query.0, &party.query.1), since)?;
        for shipment in listed.declarations.into_iter().map(|d| d.shipment) {
            if shipment == declared.body.shipment {
                continue;
            }
            let answer = reader.shipment(&shipment).map_err(failed_related)?;
            let adverse = adverse_events(&answer.events());
            let Some((_, other)) = crate::disclosure::declaration_of(&answer.proof) else {
                continue;
            };
            let disclosed = match party.query.0 {
                "member" => None,
                _ => reader.particulars(&answer).map_err(failed_related)?,
            };
            let theirs = is_party_of(
                &party,
                other,
                disclosed.as_ref().and_then(Disclosure::declaration),
            );
            if theirs && !adverse.is_empty() {
                found.push(PriorFinding {
                    party: party.label.clone(),
                    shipment,
                    events: adverse,
                });
            }
        }
    }
    Ok(Some(found))
}

/// The accreditations of the declaring platform (by member id) and of the consignor and the
/// seller (by registration), each from its verified history.
fn standings_of(
    reader: &ProvenanceReader<'_>,
    events: &[SignedEvent],
    particulars: Option<&Disclosure>,
) -> Result<Vec<Standing>, CaseError> {
    use crate::customs::tiers::standings;
    let failed_tier = |error| CaseError::from_answer("accreditations", error);
    let mut found = Vec::new();
    if let Some(declared) = events
        .iter()
        .find(|e| matches!(e.body.kind.effective(), EventKind::Declare(_)))
    {
        let answer = reader
            .member(&declared.body.signer.org)
            .map_err(failed_tier)?;
        found.extend(standings(&answer.events()));
    }
    let declaration = particulars.and_then(Disclosure::declaration);
    let parties = declaration
        .into_iter()
        .flat_map(|d| [Some(&d.consignor), d.seller.as_ref()]);
    let mut asked = Vec::new();
    for registration in parties.flatten().filter_map(|p| p.registration.as_ref()) {
        if asked.contains(registration) {
            continue;
        }
        asked.push(registration.clone());
        let answer = reader.operator(registration).map_err(failed_tier)?;
        found.extend(standings(&answer.events()));
    }
    Ok(found)
}

/// The random draw, seeded by the first certified block after the declaration's that a
/// validator of another organisation than the declarer proposed (`Draw::seed_height`); `None`
/// until that block is committed. Each block is verified against the genesis like every proof.
fn selection_draw(
    node: &NodeClient,
    rules: &ChainRules,
    answer: &Answer,
) -> Result<Option<Draw>, CaseError> {
    let declared = answer
        .proof
        .events
        .iter()
        .find(|p| matches!(p.event.body.kind.effective(), EventKind::Declare(_)));
    let Some(declared) = declared else {
        return Ok(None);
    };
    let declarer = &declared.event.body.signer.org;
    let validators = &rules.genesis().validators;
    // Within one rotation some validator of another organisation proposes.
    for height in (declared.height + 1..).take(validators.len().max(1)) {
        let Some(block) = node.block(height)? else {
            return Ok(None);
        };
        let bad = |detail: String| {
            CaseError::Verification(format!(
                "block {height}, a candidate seed of the random draw: {detail}"
            ))
        };
        block
            .certificate
            .verify(rules, &block.header)
            .map_err(|e| bad(e.to_string()))?;
        if block.header.height != height {
            return Err(bad(format!(
                "the node answered block {}",
                block.header.height
            )));
        }
        let proposer = validators
            .get(usize::from(block.header.proposer.0))
            .map(|v| &v.operator);
        if proposer.is_some_and(|operator| operator != declarer) {
            return Ok(Some(Draw::new(
                height,
                block.header.hash(),
                declared.event.body.id(),
            )));
        }
    }
    Ok(None)
}
