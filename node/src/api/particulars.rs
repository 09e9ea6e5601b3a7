//! Declarations' private particulars at the API (issue 13): filing a declaration with them,
//! disclosing them to entitled readers, and the consignee listing built from them. A node
//! whose operator may not hold a declaration's particulars never takes them, so they never
//! reach its disk; it says which nodes may ([`not_a_holder`]).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use waybill_protocol::api::{
    Accepted, DeclarationFiling, DeclarationListing, HeldParticulars, LISTING_NOTE,
    ParticularsAnswer,
};
use waybill_protocol::event::{EventKind, SignedEvent};
use waybill_protocol::index::IndexKey;
use waybill_protocol::particulars::SealedParticulars;
use waybill_protocol::{Hash, OrgId};

use super::{
    ApiError, ApiResult, ApiState, admission_turn, blocking, check_history, parse_json, publish,
    read_body, reader, refused, shipment_id,
};
use crate::access::{ParticularsRead, Reader};
use crate::admission::{self, AdmissionRefusal, Origin};
use crate::caller::Caller;
use crate::engine::now_ms;
use crate::ledger::{LedgerError, StateStore};
use crate::limits::{DECLARATION_BODY_BYTES_MAX, LISTING_ENTRIES_MAX};
use crate::node::Shared;
use crate::private::PrivateStore;

/// The refusal for a declaration sent where it must not be: at `/v1/events`, without its
/// particulars.
pub(super) fn particulars_missing(field: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "particulars_missing",
        format!(
            "{field}: a declaration is filed with its private particulars, at POST /v1/declarations or in a batch's \"particulars\"; its summary alone would commit to data no node holds"
        ),
    )
}

/// 421: this node may not hold what the declaration's particulars are; names who may.
fn not_a_holder(shared: &Shared, declared_by: &OrgId) -> ApiError {
    let genesis = shared.rules.genesis();
    let holders: Vec<&str> = genesis
        .validators
        .iter()
        .filter(|v| genesis.entitled_to_particulars(&v.operator, declared_by))
        .map(|v| v.name.as_str())
        .collect();
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "not_a_holder",
        format!(
            "this node (run by {}) may not hold the particulars of a declaration by {declared_by}; file it at a node that may: {}",
            shared.operator(),
            if holders.is_empty() {
                "none in this genesis".into()
            } else {
                holders.join(", ")
            }
        ),
    )
}

/// The checks a filed declaration passes before its event is admitted: a declaration, with
/// the particulars it commits to, from a caller who may file them, at a node that may hold
/// them. The store that will keep them, and their commitment.
fn check_filed<'s>(
    shared: &'s Shared,
    reader: &Reader,
    field: &str,
    event: &SignedEvent,
    sealed: &SealedParticulars,
) -> ApiResult<(&'s PrivateStore, Hash)> {
    let EventKind::Declare(summary) = &event.body.kind else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_a_declaration",
            format!(
                "{field}.body.kind: particulars come with a declare event, this is {}",
                event.body.kind.event_type()
            ),
        ));
    };
    sealed.check(summary).map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "particulars_mismatch",
            format!("{field}: {error}"),
        )
    })?;
    let declared_by = &event.body.signer.org;
    reader
        .particulars(&shared.rules, declared_by)
        .map_err(|refusal| super::not_allowed(shared, refusal))?;
    let store = shared
        .private
        .as_ref()
        .filter(|store| {
            shared
                .rules
                .genesis()
                .entitled_to_particulars(store.holder(), declared_by)
        })
        .ok_or_else(|| not_a_holder(shared, declared_by))?;
    Ok((store, summary.particulars))
}

/// Admits a filed declaration: checks, then (its signature verified) the particulars are
/// synced to the private store, then the event goes to the mempool. The event's id and the
/// particulars' commitment.
fn admit_filed(
    shared: &Shared,
    reader: &Reader,
    field: &str,
    event: SignedEvent,
    sealed: &SealedParticulars,
    now: u64,
) -> ApiResult<(Hash, Hash)> {
    let (store, commitment) = check_filed(shared, reader, field, &event, sealed)?;
    admission::admit_with(shared, event, now, Origin::Client, |checked| {
        Ok(store.deposit(checked.event(), &commitment, sealed)?)
    })
    .map(|id| (id, commitment))
    .map_err(|refusal| {
        refused(shared, &refusal);
        ApiError::from(refusal)
    })
}

pub(super) async fn submit_declaration(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    body: Body,
) -> ApiResult<Response> {
    let reader = reader(&state.shared, &caller)?;
    let turn = admission_turn(&state).await?;
    let body = read_body(body, DECLARATION_BODY_BYTES_MAX).await?;
    let filed: DeclarationFiling = parse_json(&body)?;
    let shared = state.shared.clone();
    let gossip = filed.event.clone();
    let (id, commitment) = blocking(move || {
        let (id, commitment) = admit_filed(
            &shared,
            &reader,
            "event",
            filed.event,
            &filed.particulars,
            now_ms(),
        )?;
        admission::keep_accepted(&shared, &[id])?;
        Ok((id, commitment))
    })
    .await?;
    drop(turn);
    publish(&state, vec![gossip]).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            id,
            particulars: Some(commitment),
        }),
    )
        .into_response())
}

/// A batch's particulars by commitment, for its declarations.
pub(super) struct BatchParticulars(HashMap<Hash, SealedParticulars>);

impl BatchParticulars {
    pub(super) fn new(list: Vec<SealedParticulars>) -> BatchParticulars {
        BatchParticulars(list.into_iter().map(|p| (p.commitment(), p)).collect())
    }

    /// Admits the batch's event `index`: a declaration with its particulars, anything else as
    /// `/v1/events` does.
    pub(super) fn admit(
        &self,
        shared: &Shared,
        reader: &Reader,
        index: usize,
        event: SignedEvent,
        now: u64,
    ) -> Result<Hash, (ApiError, bool)> {
        let field = format!("events[{index}]");
        let EventKind::Declare(summary) = &event.body.kind else {
            return admission::admit(shared, event, now, Origin::Client).map_err(|refusal| {
                refused(shared, &refusal);
                let bad_signature = matches!(refusal, AdmissionRefusal::BadSignature { .. });
                (ApiError::from(refusal), bad_signature)
            });
        };
        let sealed = self
            .0
            .get(&summary.particulars)
            .ok_or_else(|| (particulars_missing(&field), false))?;
        admit_filed(shared, reader, &field, event, sealed, now)
            .map(|(id, _)| id)
            .map_err(|error| {
                let bad_signature = error.code == "bad_signature";
                (error, bad_signature)
            })
    }
}

/// `GET /v1/shipments/{id}/particulars`: the declaration's particulars with their salt, to
/// customs and the declaring platform, from a node holding them; the parts a genesis grant
/// gives, with their salts and the other parts' commitments, to a reader it applies to. The
/// SDK checks either against the commitment in the proven declaration.
pub(super) async fn shipment_particulars(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let shipment = shipment_id(id)?;
    let reader = reader(&state.shared, &caller)?;
    let shared = state.shared.clone();
    blocking(move || {
        check_history(&shared, &reader, &IndexKey::Shipment(shipment.clone()))?;
        let state = shared.read_ledger().shipment(&shipment)?.unwrap_or_default();
        let (Some(declared_by), Some(commitment)) = (&state.declared_by, state.particulars) else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_declared",
                format!("shipment {shipment} has no committed declaration on this node"),
            ));
        };
        let read = reader
            .particulars_of(&shared.rules, declared_by, &state)
            .map_err(|refusal| super::not_allowed(&shared, refusal))?;
        let stored = match shared.private.as_ref() {
            // The ledger names this commitment as the declaration's: a record that opens it is
            // the one, even before the steward has followed its block.
            Some(store) if !state.particulars_purged => store.held(&shipment, &commitment)?,
            _ => None,
        };
        let held = match (state.particulars_purged, stored, read) {
            (true, _, _) => HeldParticulars::Purged,
            (false, Some(stored), ParticularsRead::Whole) => HeldParticulars::Disclosed {
                sealed: Box::new(stored.sealed),
            },
            (false, Some(stored), ParticularsRead::Parts(grant)) => {
                HeldParticulars::DisclosedInPart {
                    parts: Box::new(stored.sealed.disclose(&grant.parts)),
                    grant: format!("particulars_grants[{}]: {grant}", grant.role),
                }
            }
            (false, None, _) => HeldParticulars::NotHeld {
                message: format!(
                    "this node (run by {}) holds no copy of these particulars (not entitled, not yet received, or erased by the retention period)",
                    shared.operator()
                ),
            },
        };
        let answer = ParticularsAnswer {
            shipment,
            particulars: commitment,
            held,
        };
        Ok(Json(answer).into_response())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsigneeQuery {
    name: String,
    country: String,
    #[serde(default)]
    since_ms: u64,
}

/// `GET /v1/consignees/declarations`: personal data, so built and served only where the
/// particulars are held (a customs node, by default), and read by customs only.
pub(super) async fn declarations_to(
    State(state): State<ApiState>,
    Query(query): Query<ConsigneeQuery>,
) -> ApiResult<Response> {
    if query.name.trim().is_empty() || query.name.len() > 256 || query.country.len() != 2 {
        return Err(ApiError::bad_request(
            "malformed_query",
            "name: 1 to 256 characters and country: a 2-letter code are required",
        ));
    }
    let key = crate::private::consignee_key(&query.name, &query.country);
    let since_ms = query.since_ms;
    listing(state, move |store| {
        store.declarations_to(&key, since_ms, LISTING_ENTRIES_MAX)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PartyQuery {
    registration: Option<String>,
    member: Option<String>,
    #[serde(default)]
    since_ms: u64,
}

/// `GET /v1/parties/adverse?registration=R | member=ORG`: the declarations of a party that
/// customs found against (a failed inspection, a seizure), where the particulars are held.
pub(super) async fn adverse_of(
    State(state): State<ApiState>,
    Query(query): Query<PartyQuery>,
) -> ApiResult<Response> {
    let key = match (&query.registration, &query.member) {
        (Some(registration), None) => {
            let registration =
                waybill_protocol::Reference::new(registration.as_str()).map_err(|e| {
                    ApiError::bad_request("malformed_query", format!("registration: {e}"))
                })?;
            crate::private::registration_key(registration.as_str())
        }
        (None, Some(member)) => {
            let org = waybill_protocol::OrgId::new(member.as_str())
                .map_err(|e| ApiError::bad_request("malformed_query", format!("member: {e}")))?;
            crate::private::declarer_key(&org)
        }
        _ => {
            return Err(ApiError::bad_request(
                "malformed_query",
                "exactly one of registration (an EORI, VAT or tax number) and member (a member id) is required",
            ));
        }
    };
    let since_ms = query.since_ms;
    listing(state, move |store| {
        store.adverse_for(&key, since_ms, LISTING_ENTRIES_MAX)
    })
    .await
}

/// A listing from the private store, served where it is kept (421 elsewhere).
async fn listing(
    state: ApiState,
    read: impl FnOnce(
        &PrivateStore,
    ) -> Result<(Vec<crate::private::DeclaredShipment>, bool), LedgerError>
    + Send
    + 'static,
) -> ApiResult<Response> {
    let shared = state.shared.clone();
    let (declarations, truncated) = blocking(move || {
        let store: &PrivateStore = shared.private.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "not_a_holder",
                format!(
                    "this node (run by {}) holds no declarations' particulars, so it keeps no listing by consignee or party; ask a customs node",
                    shared.operator()
                ),
            )
        })?;
        Ok(read(store)?)
    })
    .await?;
    Ok(Json(DeclarationListing {
        declarations,
        truncated,
        note: LISTING_NOTE.to_string(),
    })
    .into_response())
}
