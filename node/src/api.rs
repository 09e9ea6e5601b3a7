//! The HTTP API (JSON). Every body is size-bounded before it is read; bad input gets a 4xx with
//! an `error` code and a `message` naming the field; nothing a client sends can panic the node.
//! The routes and their answers are listed in `openapi.json` (served at `/openapi.json`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use waybill_protocol::event::{Sgtin, SignedEvent};
use waybill_protocol::index::IndexKey;
use waybill_protocol::{Gtin, Hash, Serial, ShipmentId, json as protocol_json};

use crate::admission::{self, AdmissionRefusal, Origin, RefusalClass};
use crate::engine::now_ms;
use crate::ledger::{LedgerError, StateStore};
use crate::metrics::Gauges;
use crate::network::{EVENT_BATCH_MAX, EventBatch};
use crate::node::Shared;

/// One event as JSON: the binary limit, with room for JSON's hex and field names.
pub const EVENT_BODY_BYTES_MAX: usize = 256 * 1024;
pub const BATCH_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// What a client is told to wait when the mempool is full.
const RETRY_AFTER_SECONDS: u64 = 1;

#[derive(Clone, Debug)]
pub struct ApiState {
    pub shared: Arc<Shared>,
    pub events_out: mpsc::Sender<EventBatch>,
    /// Turns true when the node stops: open event streams end, so shutdown is not held up.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/v1/events",
            post(submit_event).layer(DefaultBodyLimit::max(EVENT_BODY_BYTES_MAX)),
        )
        .route(
            "/v1/events/batch",
            post(submit_batch).layer(DefaultBodyLimit::max(BATCH_BODY_BYTES_MAX)),
        )
        .route("/v1/events/{id}", get(event_status))
        .route("/v1/shipments/{id}", get(shipment_state))
        .route("/v1/shipments/{id}/provenance", get(shipment_provenance))
        .route(
            "/v1/serials/{gtin}/{serial}/provenance",
            get(serial_provenance),
        )
        .route("/v1/gtins/{gtin}/serials", get(serials_of_gtin))
        .route("/v1/consignees/declarations", get(declarations_to))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/status", get(status))
        .route("/v1/evidence", get(evidence))
        .route("/v1/stream", get(stream))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .with_state(state)
}

/// A JSON error answer: `{"error": code, "message": text}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: false,
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "API request failed inside the node");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> ApiError {
        ApiError::internal(error)
    }
}

impl From<AdmissionRefusal> for ApiError {
    fn from(refusal: AdmissionRefusal) -> ApiError {
        let status = status_of(&refusal);
        let mut error = ApiError::new(status, refusal.code(), refusal.to_string());
        error.retry_after = status == StatusCode::SERVICE_UNAVAILABLE;
        error
    }
}

fn status_of(refusal: &AdmissionRefusal) -> StatusCode {
    match refusal.class() {
        RefusalClass::BadRequest => StatusCode::BAD_REQUEST,
        RefusalClass::Forbidden => StatusCode::FORBIDDEN,
        RefusalClass::Conflict => StatusCode::CONFLICT,
        RefusalClass::RetryLater => StatusCode::SERVICE_UNAVAILABLE,
        RefusalClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response();
        if self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_route",
        "no such route; see /openapi.json",
    )
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    protocol_json::parse(body)
        .map_err(|error| ApiError::bad_request("malformed_json", error.to_string()))
}

/// Runs a blocking ledger read or signature check off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

fn refused(shared: &Shared, refusal: &AdmissionRefusal) {
    shared.metrics.admission_refused.add(refusal.code());
}

/// 503 until the node has its peers' pending events (a second or so after a start).
fn ready(shared: &Shared) -> ApiResult<()> {
    if shared.ready.load(std::sync::atomic::Ordering::Acquire) {
        return Ok(());
    }
    let mut error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "starting",
        "the node is starting and gathering its peers' pending events; retry in a second or send to another node",
    );
    error.retry_after = true;
    Err(error)
}

async fn submit_event(State(state): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    ready(&state.shared)?;
    let event: SignedEvent = parse_json(&body)?;
    let shared = state.shared.clone();
    let gossip = event.clone();
    let id = blocking(move || {
        let id = admission::admit(&shared, event, now_ms(), Origin::Client).map_err(|refusal| {
            refused(&shared, &refusal);
            ApiError::from(refusal)
        })?;
        admission::keep_accepted(&shared, &[id])?;
        Ok(id)
    })
    .await?;
    publish(&state, vec![gossip]).await;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": id}))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    events: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct BatchItem {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Hash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// Each event is admitted on its own. 202 if all were accepted; if none was, the first
/// refusal's status; if some were, 207 with a result per event (ids of the accepted ones).
async fn submit_batch(State(state): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    ready(&state.shared)?;
    let request: BatchRequest = parse_json(&body)?;
    if request.events.is_empty() {
        return Err(ApiError::bad_request(
            "malformed_json",
            "events: must not be empty",
        ));
    }
    if request.events.len() > EVENT_BATCH_MAX {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "events: {} events, at most {EVENT_BATCH_MAX} per batch",
                request.events.len()
            ),
        ));
    }
    let shared = state.shared.clone();
    let (items, accepted) = blocking(move || {
        let now = now_ms();
        let mut items = Vec::with_capacity(request.events.len());
        let mut accepted = Vec::new();
        let mut retry_later: Option<ApiError> = None;
        for (index, value) in request.events.into_iter().enumerate() {
            let parsed: Result<SignedEvent, ApiError> = serde_path_to_error::deserialize(value)
                .map_err(|error| {
                    ApiError::bad_request(
                        "malformed_json",
                        format!("events[{index}].{}: {}", error.path(), error.inner()),
                    )
                });
            // After a "come back later", the rest of the batch waits too: what was accepted is
            // then a prefix, and a retry of the tail keeps the batch's order (a shipment's
            // declaration cannot end up behind its pick-up).
            let outcome = parsed.and_then(|event| {
                if let Some(full) = &retry_later {
                    return Err(full.clone());
                }
                let copy = event.clone();
                admission::admit(&shared, event, now, Origin::Client)
                    .map(|id| (id, copy))
                    .map_err(|refusal| {
                        refused(&shared, &refusal);
                        ApiError::from(refusal)
                    })
            });
            if let Err(error) = &outcome {
                if error.status == StatusCode::SERVICE_UNAVAILABLE && retry_later.is_none() {
                    retry_later = Some(error.clone());
                }
            }
            items.push(match outcome {
                Ok((id, event)) => {
                    accepted.push(event);
                    BatchItem {
                        index,
                        id: Some(id),
                        status: None,
                        error: None,
                        message: None,
                    }
                }
                Err(error) => BatchItem {
                    index,
                    id: None,
                    status: Some(error.status.as_u16()),
                    error: Some(error.code),
                    message: Some(error.message),
                },
            });
        }
        let ids: Vec<Hash> = items.iter().filter_map(|item| item.id).collect();
        if !ids.is_empty() {
            admission::keep_accepted(&shared, &ids)?;
        }
        Ok((items, accepted))
    })
    .await?;
    let total = items.len();
    let count = accepted.len();
    if count > 0 {
        publish(&state, accepted).await;
    }
    let status = if count == total {
        StatusCode::ACCEPTED
    } else if count == 0 {
        let first = &items[0];
        StatusCode::from_u16(first.status.unwrap_or(400)).unwrap_or(StatusCode::BAD_REQUEST)
    } else {
        StatusCode::MULTI_STATUS
    };
    let mut response = (
        status,
        Json(json!({"accepted": count, "refused": total - count, "results": items})),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    Ok(response)
}

async fn publish(state: &ApiState, events: Vec<SignedEvent>) {
    // Bounded wait: if the network task is that far behind, the events are still pending here
    // and will be proposed by this node.
    let sent = tokio::time::timeout(Duration::from_secs(1), state.events_out.send(events)).await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::warn!("events not gossiped (network task busy); they stay pending here");
    }
}

fn parse_hash(text: &str) -> ApiResult<Hash> {
    Hash::from_hex(text)
        .map_err(|error| ApiError::bad_request("malformed_id", format!("id: {error}")))
}

async fn event_status(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_hash(&id)?;
    let shared = state.shared.clone();
    let status = blocking(move || Ok(admission::event_status(&shared, &id)?)).await?;
    match status {
        Some(status) => Ok(Json(json!({"id": id, "state": status})).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_event",
            format!("event {id} is neither pending nor committed on this node"),
        )),
    }
}

fn shipment_id(text: String) -> ApiResult<ShipmentId> {
    ShipmentId::new(text)
        .map_err(|error| ApiError::bad_request("malformed_id", format!("shipment id: {error}")))
}

async fn shipment_state(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = shipment_id(id)?;
    let shared = state.shared.clone();
    let (found, height) = blocking(move || {
        let ledger = shared.read_ledger();
        Ok((ledger.shipment(&id)?, ledger.tip().height))
    })
    .await?;
    match found {
        Some(shipment) => Ok(Json(json!({"height": height, "state": shipment})).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_shipment",
            "no event for this shipment is committed; GET …/provenance for a proof of absence",
        )),
    }
}

async fn provenance(state: ApiState, key: IndexKey) -> ApiResult<Response> {
    if state.shared.committed_height() == 0 {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_blocks_yet",
            "nothing is committed yet, so there is no certificate to prove against; retry after the first block",
        ));
    }
    let shared = state.shared.clone();
    let proof = blocking(move || match shared.read_ledger().provenance(&key) {
        Ok(proof) => Ok(proof),
        Err(error @ LedgerError::HistoryTooLong { .. }) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "history_too_long",
            error.to_string(),
        )),
        Err(error) => Err(ApiError::from(error)),
    })
    .await?;
    // Absent keys are answered with the proof that they are absent, under a 404.
    let status = if proof.record.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    Ok((status, Json(proof)).into_response())
}

async fn shipment_provenance(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = shipment_id(id)?;
    provenance(state, IndexKey::Shipment(id)).await
}

async fn serial_provenance(
    State(state): State<ApiState>,
    Path((gtin, serial)): Path<(String, String)>,
) -> ApiResult<Response> {
    let gtin =
        Gtin::new(gtin).map_err(|e| ApiError::bad_request("malformed_id", format!("gtin: {e}")))?;
    let serial = Serial::new(serial)
        .map_err(|e| ApiError::bad_request("malformed_id", format!("serial: {e}")))?;
    provenance(state, IndexKey::Serial(Sgtin { gtin, serial })).await
}

/// Entries one listing answer holds at most.
const LISTING_MAX: usize = 10_000;
const LISTING_NOTE: &str =
    "a listing is this node's word, not a proof: fetch and verify each member's provenance";

async fn serials_of_gtin(
    State(state): State<ApiState>,
    Path(gtin): Path<String>,
) -> ApiResult<Response> {
    let gtin =
        Gtin::new(gtin).map_err(|e| ApiError::bad_request("malformed_id", format!("gtin: {e}")))?;
    let shared = state.shared.clone();
    let query = gtin.clone();
    let (serials, truncated) =
        blocking(move || Ok(shared.read_ledger().serials_of_gtin(&query, LISTING_MAX)?)).await?;
    Ok(Json(
        json!({"gtin": gtin, "serials": serials, "truncated": truncated, "note": LISTING_NOTE}),
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsigneeQuery {
    name: String,
    country: String,
    #[serde(default)]
    since_ms: u64,
}

async fn declarations_to(
    State(state): State<ApiState>,
    Query(query): Query<ConsigneeQuery>,
) -> ApiResult<Response> {
    if query.name.trim().is_empty() || query.name.len() > 256 || query.country.len() != 2 {
        return Err(ApiError::bad_request(
            "malformed_query",
            "name: 1 to 256 characters and country: a 2-letter code are required",
        ));
    }
    let key = crate::ledger::rocks::consignee_key(&query.name, &query.country);
    let shared = state.shared.clone();
    let (declarations, truncated) = blocking(move || {
        Ok(shared
            .read_ledger()
            .declarations_to(&key, query.since_ms, LISTING_MAX)?)
    })
    .await?;
    Ok(
        Json(json!({"declarations": declarations, "truncated": truncated, "note": LISTING_NOTE}))
            .into_response(),
    )
}

fn block_json(shared: &Shared, height: u64) -> ApiResult<Option<serde_json::Value>> {
    let ledger = shared.read_ledger();
    let (Some(header), Some(certificate)) = (ledger.header(height)?, ledger.certificate(height)?)
    else {
        return Ok(None);
    };
    let events = ledger.block_events(height)?;
    let mut items = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let id = event.body.id();
        let outcome = ledger.event_location(&id)?.map(|l| l.outcome);
        items.push(json!({"index": index, "id": id, "event": event, "outcome": outcome}));
    }
    Ok(Some(json!({
        "hash": header.hash(),
        "header": header,
        "certificate": certificate,
        "events": items,
    })))
}

async fn block(State(state): State<ApiState>, Path(height): Path<String>) -> ApiResult<Response> {
    let height: u64 = height.parse().map_err(|_| {
        ApiError::bad_request(
            "malformed_height",
            format!("height: {height:?} is not a block height"),
        )
    })?;
    let shared = state.shared.clone();
    match blocking(move || block_json(&shared, height)).await? {
        Some(block) => Ok(Json(block).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_block",
            format!(
                "no block at height {height} (tip is {})",
                state.shared.committed_height()
            ),
        )),
    }
}

async fn latest_block(State(state): State<ApiState>) -> ApiResult<Response> {
    let shared = state.shared.clone();
    let height = shared.committed_height();
    if height == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_block",
            "no block committed yet",
        ));
    }
    match blocking(move || block_json(&shared, height)).await? {
        Some(block) => Ok(Json(block).into_response()),
        None => Err(ApiError::internal("the tip block is missing")),
    }
}

fn gauges(shared: &Shared) -> Gauges {
    let (mempool_events, mempool_bytes) = {
        let mempool = shared.lock_mempool();
        (mempool.len(), mempool.bytes())
    };
    Gauges {
        height: shared.committed_height(),
        round: shared
            .consensus_round
            .load(std::sync::atomic::Ordering::Relaxed),
        mempool_events,
        mempool_bytes,
        peers: shared.peer_count.load(std::sync::atomic::Ordering::Relaxed),
        syncing: shared.syncing.load(std::sync::atomic::Ordering::Relaxed),
    }
}

async fn status(State(state): State<ApiState>) -> ApiResult<Response> {
    let shared = &state.shared;
    let gauges = gauges(shared);
    let genesis = shared.rules.genesis();
    let me = shared.validator.0 as usize;
    let peers = shared
        .peers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let validators: Vec<_> = genesis
        .validators
        .iter()
        .enumerate()
        .map(|(index, v)| json!({"index": index, "name": v.name, "operator": v.operator, "node_key": v.node_key}))
        .collect();
    Ok(Json(json!({
        "chain_id": genesis.chain_id,
        "genesis_hash": shared.rules.genesis_hash(),
        "validator": {"index": me, "name": genesis.validators[me].name},
        "height": gauges.height,
        "round": gauges.round,
        "syncing": gauges.syncing,
        "ready": shared.ready.load(std::sync::atomic::Ordering::Acquire),
        "mempool": {"events": gauges.mempool_events, "bytes": gauges.mempool_bytes},
        "peers": peers,
        "validators": validators,
    }))
    .into_response())
}

async fn evidence(State(state): State<ApiState>) -> ApiResult<Response> {
    let shared = state.shared.clone();
    let items = blocking(move || Ok(shared.read_ledger().evidence()?)).await?;
    let items: Vec<_> = items
        .iter()
        .map(|e| {
            let (validator, height) = e.offender();
            json!({"validator": validator.0, "height": height, "evidence": format!("{e:?}")})
        })
        .collect();
    Ok(Json(json!({"evidence": items})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    shipment: Option<String>,
}

/// Committed events as server-sent events, from now on; optionally one shipment's only. A
/// subscriber that falls more than `COMMIT_FEED_BLOCKS` blocks behind is told so and closed.
async fn stream(
    State(state): State<ApiState>,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let filter = query.shipment.map(shipment_id).transpose()?;
    let receiver = state.shared.commits.subscribe();
    let shutdown = state.shutdown.clone();
    let events = futures::stream::unfold(
        (
            receiver,
            std::collections::VecDeque::<SseEvent>::new(),
            false,
        ),
        move |(mut receiver, mut ready, done)| {
            let filter = filter.clone();
            let mut shutdown = shutdown.clone();
            async move {
                loop {
                    if let Some(event) = ready.pop_front() {
                        return Some((Ok(event), (receiver, ready, done)));
                    }
                    if done {
                        return None;
                    }
                    if *shutdown.borrow() {
                        return None;
                    }
                    let received = tokio::select! {
                        received = receiver.recv() => received,
                        _ = shutdown.changed() => return None,
                    };
                    match received {
                        Ok(block) => {
                            for committed in &block.events {
                                if filter
                                    .as_ref()
                                    .is_some_and(|id| *id != committed.event.body.shipment)
                                {
                                    continue;
                                }
                                let data = serde_json::to_string(committed).unwrap_or_default();
                                ready.push_back(
                                    SseEvent::default()
                                        .event("committed")
                                        .id(format!("{}:{}", committed.height, committed.index))
                                        .data(data),
                                );
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            ready.push_back(SseEvent::default().event("lagged").data(format!(
                                "{{\"missed_blocks\":{missed},\"message\":\"fell behind; resume from /v1/blocks\"}}"
                            )));
                            return ready
                                .pop_front()
                                .map(|event| (Ok(event), (receiver, ready, true)));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let text = state.shared.metrics.render(gauges(&state.shared));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
