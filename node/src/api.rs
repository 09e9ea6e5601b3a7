//! The HTTP API (JSON). Every body is size-bounded before it is read; bad input gets a 4xx with
//! an `error` code and a `message` naming the field; nothing a client sends can panic the node.
//! The routes and their answers are listed in `openapi.json` (served at `/openapi.json`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, watch};
use tower_http::timeout::RequestBodyTimeoutLayer;
use waybill_protocol::api::{
    Accepted, BatchAnswer, BatchResult, BlockAnswer, BlockEntry, DiskStatus, Endpoint, ErrorAnswer,
    EventStatusAnswer, EvidenceAnswer, EvidenceEntry, FEED_NOTE, FeedAnswer, LISTING_NOTE,
    MemberStatus, MempoolStatus, Method, ROUTES, Route, SerialListing, ShipmentAnswer, Status,
    StatusValidator, StreamLagged, ValidatorEntry,
};
use waybill_protocol::event::{EventKind, Sgtin, SignedEvent};
use waybill_protocol::index::IndexKey;
use waybill_protocol::particulars::SealedParticulars;
use waybill_protocol::{Gtin, Hash, Serial, ShipmentId, json as protocol_json};

use crate::access::{self, Reader, Refusal};

mod particulars;
use crate::admission::{self, AdmissionRefusal, Origin, RefusalClass};
use crate::caller::Caller;
use crate::engine::now_ms;
use crate::host::DiskSpace;
use crate::ledger::{LedgerError, StateStore};
use crate::limits::{
    ADMISSION_WAIT_MAX, ADMISSIONS_CONCURRENT_MAX, API_BODY_READ_TIMEOUT, BATCH_BODY_BYTES_MAX,
    BATCH_EVENTS_MAX, CERTIFICATION_WAIT, ENTITLEMENT_EVENTS_MAX, EVENT_BODY_BYTES_MAX,
    LISTING_ENTRIES_MAX, RETRY_AFTER_SECONDS, STREAM_SUBSCRIBERS_MAX,
};
use crate::metrics::Gauges;
use crate::network::EventBatch;
use crate::node::Shared;

#[derive(Clone, Debug)]
pub struct ApiState {
    pub shared: Arc<Shared>,
    pub events_out: mpsc::Sender<EventBatch>,
    /// Turns true when the node stops: open event streams end, so shutdown is not held up.
    pub shutdown: watch::Receiver<bool>,
    /// Free space on the data directory, from the disk watcher (its only writer).
    disk: watch::Receiver<DiskSpace>,
    /// Turns for reading, parsing and admitting events: the work one burst can claim is bounded.
    admissions: Arc<Semaphore>,
    stream_subscribers: Arc<Semaphore>,
}

impl ApiState {
    pub fn new(
        shared: Arc<Shared>,
        events_out: mpsc::Sender<EventBatch>,
        shutdown: watch::Receiver<bool>,
        disk: watch::Receiver<DiskSpace>,
    ) -> ApiState {
        ApiState {
            shared,
            events_out,
            shutdown,
            disk,
            admissions: Arc::new(Semaphore::new(ADMISSIONS_CONCURRENT_MAX)),
            stream_subscribers: Arc::new(Semaphore::new(STREAM_SUBSCRIBERS_MAX)),
        }
    }
}

pub fn router(state: ApiState) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, handler(route))
        })
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .with_state(state)
        .layer(RequestBodyTimeoutLayer::new(API_BODY_READ_TIMEOUT))
        // Outermost: whatever answers with an error (axum's own rejections included) answers
        // in the one documented shape.
        .layer(axum::middleware::map_response(json_error_shape))
}

/// Each endpoint's handler, under the method the contract gives its route: the router serves
/// [`ROUTES`] and nothing else.
fn handler(route: &Route) -> MethodRouter<ApiState> {
    fn on<H: Handler<T, ApiState>, T: 'static>(
        method: Method,
        handler: H,
    ) -> MethodRouter<ApiState> {
        match method {
            Method::Get => get(handler),
            Method::Post => post(handler),
        }
    }
    let method = route.method;
    match route.endpoint {
        Endpoint::SubmitEvent => on(method, submit_event),
        Endpoint::SubmitDeclaration => on(method, particulars::submit_declaration),
        Endpoint::SubmitBatch => on(method, submit_batch),
        Endpoint::EventStatus => on(method, event_status),
        Endpoint::ShipmentState => on(method, shipment_state),
        Endpoint::ShipmentProvenance => on(method, shipment_provenance),
        Endpoint::ShipmentProvenancePage => on(method, shipment_provenance_page),
        Endpoint::ShipmentParticulars => on(method, particulars::shipment_particulars),
        Endpoint::SerialProvenance => on(method, serial_provenance),
        Endpoint::SerialProvenancePage => on(method, serial_provenance_page),
        Endpoint::GtinSerials => on(method, serials_of_gtin),
        Endpoint::GtinProvenance => on(method, gtin_provenance),
        Endpoint::GtinProvenancePage => on(method, gtin_provenance_page),
        Endpoint::OperatorAccreditations => on(method, operator_accreditations),
        Endpoint::MemberAccreditations => on(method, member_accreditations),
        Endpoint::ConsigneeDeclarations => on(method, particulars::declarations_to),
        Endpoint::PartyAdverse => on(method, particulars::adverse_of),
        Endpoint::LatestBlock => on(method, latest_block),
        Endpoint::Block => on(method, block),
        Endpoint::Status => on(method, status),
        Endpoint::Evidence => on(method, evidence),
        Endpoint::Stream => on(method, stream),
        Endpoint::OpenApi => on(method, openapi),
        Endpoint::Feed => on(method, feed),
    }
}

/// A JSON error answer: `{"error": code, "message": text}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: bool,
}

/// Numbers internal failures so an operator can find the one a client reports in the log.
static INTERNAL_ERRORS: AtomicU64 = AtomicU64::new(0);

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

    fn retry_later(code: &'static str, message: impl Into<String>) -> ApiError {
        let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        error.retry_after = true;
        error
    }

    /// The full error goes to the node's log; the client gets a reference to it, never the
    /// storage engine's text or a path on the node's disk.
    fn internal(error: impl std::fmt::Display) -> ApiError {
        let reference = INTERNAL_ERRORS.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(%error, reference, "API request failed inside the node");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!(
                "the node could not complete this request (internal error {reference} in its log); retry, or ask another node"
            ),
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
        if let AdmissionRefusal::Storage(error) = refusal {
            return ApiError::internal(error);
        }
        let status = status_of(&refusal);
        let mut error = ApiError::new(status, refusal.code(), refusal.to_string());
        error.retry_after = status == StatusCode::SERVICE_UNAVAILABLE;
        error
    }
}

fn status_of(refusal: &AdmissionRefusal) -> StatusCode {
    match refusal.class() {
        RefusalClass::BadRequest => StatusCode::BAD_REQUEST,
        RefusalClass::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
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
            Json(ErrorAnswer {
                error: self.code.to_string(),
                message: self.message,
            }),
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

/// The connection's caller, checked before any route runs ([`crate::access`]). A request
/// without one (a test calling the router directly) is anonymous.
async fn authenticate(
    State(state): State<ApiState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller::Anonymous);
    request.extensions_mut().insert(caller.clone());
    match access::admit(&caller, &state.shared.rules, request.uri().path()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => not_allowed(&state.shared, refusal).into_response(),
    }
}

/// The answer to a refused request (401 or 403), counted.
fn not_allowed(shared: &Shared, refusal: Refusal) -> ApiError {
    let counter = match refusal.status() {
        401 => &shared.metrics.api_unauthenticated,
        _ => &shared.metrics.api_forbidden,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    ApiError::new(status, refusal.code(), refusal.message())
}

/// What the connection's caller may read (its credentials were checked on the way in).
fn reader(shared: &Shared, caller: &Caller) -> ApiResult<Reader> {
    Reader::of(caller, &shared.rules).map_err(|refusal| not_allowed(shared, refusal))
}

/// Refuses `key`'s history to a member that has no part in it (read policy). Reads the
/// history's first events on the caller's blocking thread; whole-network readers read nothing.
fn check_history(shared: &Shared, reader: &Reader, key: &IndexKey) -> ApiResult<()> {
    may_read(shared, reader, key)?.map_err(|refusal| not_allowed(shared, refusal))
}

/// Whether `reader` may read `key`'s history, by its first events (the one entitlement read
/// of a provenance request and of the feed): the outer error is the ledger's.
fn may_read(
    shared: &Shared,
    reader: &Reader,
    key: &IndexKey,
) -> ApiResult<Result<(), crate::access::Refusal>> {
    if *reader == Reader::Everything {
        return Ok(Ok(()));
    }
    let (events, complete) = shared
        .read_ledger()
        .key_history(key, ENTITLEMENT_EVENTS_MAX)?;
    Ok(reader.history(&shared.rules, key, &events, complete))
}

/// Rewrites an error answer that is not JSON (axum's rejections of a path, a query, a method)
/// into `{"error", "message"}`, keeping its status and headers such as `Allow`.
async fn json_error_shape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let (code, fallback) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method; see /openapi.json",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("body_too_large", "the body is larger than this route takes")
        }
        StatusCode::REQUEST_TIMEOUT => ("body_timeout", "the body did not arrive in time"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send application/json"),
        StatusCode::NOT_FOUND => ("no_such_route", "no such route; see /openapi.json"),
        _ if status.is_server_error() => ("internal", "the node could not complete this request"),
        _ => ("malformed_request", "the request could not be read"),
    };
    let message = if text.is_empty() || status.is_server_error() {
        fallback.to_string()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = ErrorAnswer {
        error: code.to_string(),
        message,
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
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

/// Whether this node takes events now, and a turn to admit them: 503 while it is starting
/// (until it has its peers' pending events) or while every turn stays taken, 507 while its
/// disk is below the watermark.
async fn admission_turn(state: &ApiState) -> ApiResult<OwnedSemaphorePermit> {
    if !state.shared.ready.load(Ordering::Acquire) {
        return Err(ApiError::retry_later(
            "starting",
            "the node is starting and gathering its peers' pending events; retry in a second or send to another node",
        ));
    }
    let disk = *state.disk.borrow();
    if disk.is_low() {
        return Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "disk_full",
            format!(
                "this node has {} bytes of disk left, below its watermark of {} bytes; it takes no new events until space is freed: send to another node",
                disk.free_bytes, disk.min_bytes
            ),
        ));
    }
    let turn = state.admissions.clone().acquire_owned();
    match tokio::time::timeout(ADMISSION_WAIT_MAX, turn).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::retry_later(
            "busy",
            format!(
                "{ADMISSIONS_CONCURRENT_MAX} submissions are being admitted and none finished within {} s; retry later",
                ADMISSION_WAIT_MAX.as_secs()
            ),
        )),
    }
}

/// Reads a request body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let timed_out = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<tower_http::timeout::TimeoutError>());
        if timed_out {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "body: did not arrive within {} s",
                    API_BODY_READ_TIMEOUT.as_secs()
                ),
            )
        } else {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("body: more than {limit} bytes, the most this route takes"),
            )
        }
    })
}

async fn submit_event(State(state): State<ApiState>, body: Body) -> ApiResult<Response> {
    let turn = admission_turn(&state).await?;
    let body = read_body(body, EVENT_BODY_BYTES_MAX).await?;
    let event: SignedEvent = parse_json(&body)?;
    if matches!(event.body.kind, EventKind::Declare(_)) {
        return Err(particulars::particulars_missing("body.kind"));
    }
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
    drop(turn);
    publish(&state, vec![gossip]).await;
    let accepted = Accepted {
        id,
        particulars: None,
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// A batch as sent: `{"events": [...]}`, each event kept as its JSON text. The scan allocates
/// no value tree and stops at the first event past [`BATCH_EVENTS_MAX`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest<'a> {
    #[serde(borrow)]
    events: BatchEvents<'a>,
    /// The particulars of the batch's declarations, in any order.
    #[serde(default)]
    particulars: Vec<SealedParticulars>,
}

#[derive(Debug)]
struct BatchEvents<'a>(Vec<&'a RawValue>);

const BATCH_TOO_LARGE: &str = "more events than a batch may hold";

impl<'de: 'a, 'a> Deserialize<'de> for BatchEvents<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bounded;
        impl<'de> serde::de::Visitor<'de> for Bounded {
            type Value = Vec<&'de RawValue>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(formatter, "a list of at most {BATCH_EVENTS_MAX} events")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut events = Vec::new();
                while let Some(event) = seq.next_element::<&'de RawValue>()? {
                    if events.len() == BATCH_EVENTS_MAX {
                        return Err(serde::de::Error::custom(BATCH_TOO_LARGE));
                    }
                    events.push(event);
                }
                Ok(events)
            }
        }
        deserializer.deserialize_seq(Bounded).map(BatchEvents)
    }
}

fn batch_events(body: &[u8]) -> ApiResult<(Vec<&RawValue>, Vec<SealedParticulars>)> {
    let request: BatchRequest<'_> = serde_json::from_slice(body).map_err(|error| {
        if error.to_string().starts_with(BATCH_TOO_LARGE) {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch_too_large",
                format!("events: more than {BATCH_EVENTS_MAX} events, at most {BATCH_EVENTS_MAX} per batch"),
            )
        } else {
            ApiError::bad_request("malformed_json", format!("batch: {error}"))
        }
    })?;
    if request.events.0.is_empty() {
        return Err(ApiError::bad_request(
            "malformed_json",
            "events: must not be empty",
        ));
    }
    if request.particulars.len() > request.events.0.len() {
        return Err(ApiError::bad_request(
            "malformed_json",
            format!(
                "particulars: {} entries for {} events; a batch carries particulars for its declarations only",
                request.particulars.len(),
                request.events.0.len()
            ),
        ));
    }
    Ok((request.events.0, request.particulars))
}

fn accepted_at(index: usize, id: Hash) -> BatchResult {
    BatchResult {
        index,
        id: Some(id),
        status: None,
        error: None,
        message: None,
    }
}

fn refused_at(index: usize, error: ApiError) -> BatchResult {
    BatchResult {
        index,
        id: None,
        status: Some(error.status.as_u16()),
        error: Some(error.code.to_string()),
        message: Some(error.message),
    }
}

/// What a batch's admission came to: a result per event, and the accepted events to gossip.
struct BatchOutcome {
    items: Vec<BatchResult>,
    accepted: Vec<SignedEvent>,
}

/// Admits a batch's events in order. After a "come back later" the rest wait too (what was
/// accepted is then a prefix, and a retry of the tail keeps the batch's order: a declaration
/// cannot end up behind its pick-up); after a bad signature the rest are not tried (a batch of
/// forgeries costs one signature check, not a thousand).
fn admit_batch(shared: &Shared, reader: &Reader, body: &[u8]) -> ApiResult<BatchOutcome> {
    let (events, particulars) = batch_events(body)?;
    let particulars = particulars::BatchParticulars::new(particulars);
    let now = now_ms();
    let mut outcome = BatchOutcome {
        items: Vec::with_capacity(events.len()),
        accepted: Vec::new(),
    };
    let mut stopped: Option<ApiError> = None;
    for (index, raw) in events.into_iter().enumerate() {
        if let Some(stop) = &stopped {
            outcome.items.push(refused_at(index, stop.clone()));
            continue;
        }
        let admitted = protocol_json::parse::<SignedEvent>(raw.get().as_bytes())
            .map_err(|error| {
                ApiError::bad_request("malformed_json", format!("events[{index}]: {error}"))
            })
            .and_then(|event| {
                let copy = event.clone();
                particulars
                    .admit(shared, reader, index, event, now)
                    .map(|id| (id, copy))
                    .map_err(|(error, bad_signature)| {
                        stopped = stop_after(index, bad_signature, &error);
                        error
                    })
            });
        match admitted {
            Ok((id, event)) => {
                outcome.items.push(accepted_at(index, id));
                outcome.accepted.push(event);
            }
            Err(error) => outcome.items.push(refused_at(index, error)),
        }
    }
    let ids: Vec<Hash> = outcome.items.iter().filter_map(|item| item.id).collect();
    if !ids.is_empty() {
        admission::keep_accepted(shared, &ids)?;
    }
    Ok(outcome)
}

/// What the events after `index` get when it was refused this way, if they are not tried.
fn stop_after(index: usize, bad_signature: bool, error: &ApiError) -> Option<ApiError> {
    if bad_signature {
        return Some(ApiError::new(
            StatusCode::FAILED_DEPENDENCY,
            "not_tried",
            format!(
                "not tried: events[{index}] has a bad signature, and a batch stops at the first; fix it and send the rest again"
            ),
        ));
    }
    (error.status == StatusCode::SERVICE_UNAVAILABLE).then(|| error.clone())
}

/// Each event is admitted on its own. 202 if all were accepted; if none was, the first
/// refusal's status; if some were, 207 with a result per event (ids of the accepted ones).
async fn submit_batch(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    body: Body,
) -> ApiResult<Response> {
    let reader = reader(&state.shared, &caller)?;
    let turn = admission_turn(&state).await?;
    let body = read_body(body, BATCH_BODY_BYTES_MAX).await?;
    let shared = state.shared.clone();
    let BatchOutcome { items, accepted } =
        blocking(move || admit_batch(&shared, &reader, &body)).await?;
    drop(turn);
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
        Json(BatchAnswer {
            accepted: count,
            refused: total - count,
            results: items,
        }),
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
        Some(state) => Ok(Json(EventStatusAnswer { id, state }).into_response()),
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
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = shipment_id(id)?;
    let shared = state.shared.clone();
    let reader = reader(&shared, &caller)?;
    let (found, height) = blocking(move || {
        check_history(&shared, &reader, &IndexKey::Shipment(id.clone()))?;
        let ledger = shared.read_ledger();
        Ok((ledger.shipment(&id)?, ledger.tip().height))
    })
    .await?;
    match found {
        Some(state) => Ok(Json(ShipmentAnswer { height, state }).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_shipment",
            "no event for this shipment is committed; GET …/provenance for a proof of absence",
        )),
    }
}

async fn provenance(state: ApiState, reader: Reader, key: IndexKey) -> ApiResult<Response> {
    something_to_prove_against(&state).await?;
    let shared = state.shared.clone();
    let proof = blocking(move || match proof_of(&shared, &key) {
        // The proof carries the whole history: the party check reads it, not the ledger again.
        Ok(proof) => {
            let events = proof.events.iter().map(|p| &p.event);
            reader
                .history(&shared.rules, &key, events, true)
                .map_err(|refusal| not_allowed(&shared, refusal))?;
            Ok(proof)
        }
        // Too long for one answer: say so only to a caller who may read it.
        Err(error) => {
            check_history(&shared, &reader, &key)?;
            Err(error)
        }
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

fn proof_of(
    shared: &Shared,
    key: &IndexKey,
) -> ApiResult<waybill_protocol::provenance::ProvenanceProof> {
    match shared.read_ledger().provenance(key) {
        Ok(proof) => Ok(proof),
        Err(error @ LedgerError::HistoryTooLong { .. }) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "history_too_long",
            error.to_string(),
        )),
        Err(error) => Err(ApiError::from(error)),
    }
}

/// Proofs are as of the certified height, the tip's parent (see `Ledger::certified_height`).
/// A tip with events is certified by the block that follows it at once, so this waits for that
/// block (at most `CERTIFICATION_WAIT`) and an event reported committed is in the next proof
/// asked for. 503 while no block is certified: there is no certificate to prove against.
async fn something_to_prove_against(state: &ApiState) -> ApiResult<()> {
    let shared = state.shared.clone();
    let (tip, uncertified) = blocking(move || {
        let ledger = shared.read_ledger();
        Ok((ledger.tip().height, ledger.tip_has_events()?))
    })
    .await?;
    if uncertified {
        // Subscribed only while waiting (a subscriber makes every commit copy its events for
        // the feed); a commit before the subscription is seen in the height.
        let mut commits = state.shared.commits.subscribe();
        if state.shared.committed_height() == tip {
            let _ = tokio::time::timeout(CERTIFICATION_WAIT, commits.recv()).await;
        }
    }
    if state.shared.committed_height() < 2 {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_blocks_yet",
            "no block is certified yet (a block's certificate is final once the next block carries it), so there is nothing to prove against; retry in a moment",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// The first event's position (1-based).
    #[serde(default = "first_position")]
    from: u64,
    /// The block the pages are as of: the first page's, so all join (the tip if absent).
    height: Option<u64>,
}

fn first_position() -> u64 {
    1
}

/// One page of a key's history: up to `PROVENANCE_EVENTS_MAX` events from `from`, as of
/// `height`, with the proof of the whole history; the client joins the pages and verifies.
async fn provenance_page(
    state: ApiState,
    reader: Reader,
    key: IndexKey,
    query: PageQuery,
) -> ApiResult<Response> {
    something_to_prove_against(&state).await?;
    let shared = state.shared.clone();
    let page = blocking(move || {
        check_history(&shared, &reader, &key)?;
        let page = shared.read_ledger().provenance_page(
            &key,
            query.height,
            query.from,
            waybill_protocol::limits::PROVENANCE_EVENTS_MAX,
        );
        page.map_err(|error| match error {
            LedgerError::HeightNotProvable { .. } => {
                ApiError::new(StatusCode::GONE, "height_not_provable", error.to_string())
            }
            LedgerError::PageOutOfRange { .. } => {
                ApiError::bad_request("page_out_of_range", error.to_string())
            }
            error => ApiError::from(error),
        })
    })
    .await?;
    let status = if page.proof.record.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    Ok((status, Json(page)).into_response())
}

async fn shipment_provenance_page(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let id = shipment_id(id)?;
    let reader = reader(&state.shared, &caller)?;
    provenance_page(state, reader, IndexKey::Shipment(id), query).await
}

async fn serial_provenance_page(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path((gtin, serial)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let reader = reader(&state.shared, &caller)?;
    provenance_page(state, reader, serial_key(gtin, serial)?, query).await
}

fn parse_gtin(gtin: String) -> ApiResult<Gtin> {
    Gtin::new(gtin).map_err(|e| ApiError::bad_request("malformed_id", format!("gtin: {e}")))
}

fn serial_key(gtin: String, serial: String) -> ApiResult<IndexKey> {
    let gtin = parse_gtin(gtin)?;
    let serial = Serial::new(serial)
        .map_err(|e| ApiError::bad_request("malformed_id", format!("serial: {e}")))?;
    Ok(IndexKey::Serial(Sgtin { gtin, serial }))
}

async fn shipment_provenance(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = shipment_id(id)?;
    let reader = reader(&state.shared, &caller)?;
    provenance(state, reader, IndexKey::Shipment(id)).await
}

async fn serial_provenance(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path((gtin, serial)): Path<(String, String)>,
) -> ApiResult<Response> {
    let reader = reader(&state.shared, &caller)?;
    provenance(state, reader, serial_key(gtin, serial)?).await
}

/// An operator's accreditations and revocations, by its registration, with their proof.
async fn operator_accreditations(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(registration): Path<String>,
) -> ApiResult<Response> {
    let registration = waybill_protocol::Reference::new(registration)
        .map_err(|e| ApiError::bad_request("malformed_id", format!("registration: {e}")))?;
    let reader = reader(&state.shared, &caller)?;
    provenance(state, reader, IndexKey::Operator(registration)).await
}

/// A member's accreditations and revocations, by its member id, with their proof.
async fn member_accreditations(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let org = waybill_protocol::OrgId::new(org)
        .map_err(|e| ApiError::bad_request("malformed_id", format!("org: {e}")))?;
    let reader = reader(&state.shared, &caller)?;
    provenance(state, reader, IndexKey::Member(org)).await
}

fn gtin_key(gtin: String) -> ApiResult<IndexKey> {
    Ok(IndexKey::Gtin(parse_gtin(gtin)?))
}

/// Every event naming a serial of the GTIN, with its proof: the proven listing of its serials.
async fn gtin_provenance(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(gtin): Path<String>,
) -> ApiResult<Response> {
    let reader = reader(&state.shared, &caller)?;
    provenance(state, reader, gtin_key(gtin)?).await
}

async fn gtin_provenance_page(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(gtin): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let reader = reader(&state.shared, &caller)?;
    provenance_page(state, reader, gtin_key(gtin)?, query).await
}

async fn serials_of_gtin(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(gtin): Path<String>,
) -> ApiResult<Response> {
    let gtin = parse_gtin(gtin)?;
    reader(&state.shared, &caller)?
        .gtin(&state.shared.rules, &gtin)
        .map_err(|refusal| not_allowed(&state.shared, refusal))?;
    let shared = state.shared.clone();
    let query = gtin.clone();
    let (serials, truncated) = blocking(move || {
        Ok(shared
            .read_ledger()
            .serials_of_gtin(&query, LISTING_ENTRIES_MAX)?)
    })
    .await?;
    let listing = SerialListing {
        gtin,
        serials,
        truncated,
        note: LISTING_NOTE.to_string(),
    };
    Ok(Json(listing).into_response())
}

fn block_answer(shared: &Shared, height: u64) -> ApiResult<Option<BlockAnswer>> {
    let ledger = shared.read_ledger();
    let (Some(header), Some(certificate)) = (ledger.header(height)?, ledger.certificate(height)?)
    else {
        return Ok(None);
    };
    let events = ledger.block_events(height)?;
    let mut entries = Vec::with_capacity(events.len());
    for (index, event) in (0u32..).zip(events) {
        let id = event.body.id();
        let outcome = ledger.event_location(&id)?.map(|l| l.outcome);
        entries.push(BlockEntry {
            index,
            id,
            event,
            outcome,
        });
    }
    Ok(Some(BlockAnswer {
        hash: header.hash(),
        header,
        certificate,
        events: entries,
    }))
}

fn block_height(height: &str) -> ApiResult<u64> {
    height.parse().map_err(|_| {
        ApiError::bad_request(
            "malformed_height",
            format!("height: {height:?} is not a block height"),
        )
    })
}

fn unknown_block(shared: &Shared, height: u64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_block",
        format!(
            "no block at height {height} (tip is {})",
            shared.committed_height()
        ),
    )
}

async fn block(State(state): State<ApiState>, Path(height): Path<String>) -> ApiResult<Response> {
    let height = block_height(&height)?;
    let shared = state.shared.clone();
    match blocking(move || block_answer(&shared, height)).await? {
        Some(block) => Ok(Json(block).into_response()),
        None => Err(unknown_block(&state.shared, height)),
    }
}

/// The block's events on shipments `reader` may read: each shipment is checked once, as a
/// provenance request for it would be.
fn feed_answer(shared: &Shared, reader: &Reader, height: u64) -> ApiResult<Option<FeedAnswer>> {
    let Some(block) = block_answer(shared, height)? else {
        return Ok(None);
    };
    let mut readable: HashMap<ShipmentId, bool> = HashMap::new();
    let mut events = Vec::new();
    for entry in block.events {
        let shipment = &entry.event.body.shipment;
        let allowed = match readable.get(shipment) {
            Some(allowed) => *allowed,
            None => {
                let key = IndexKey::Shipment(shipment.clone());
                let allowed = may_read(shared, reader, &key)?.is_ok();
                readable.insert(shipment.clone(), allowed);
                allowed
            }
        };
        if allowed {
            events.push(entry);
        }
    }
    Ok(Some(FeedAnswer {
        height,
        block_hash: block.hash,
        events,
        note: FEED_NOTE.to_string(),
    }))
}

async fn feed(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(height): Path<String>,
) -> ApiResult<Response> {
    let height = block_height(&height)?;
    let reader = reader(&state.shared, &caller)?;
    let shared = state.shared.clone();
    match blocking(move || feed_answer(&shared, &reader, height)).await? {
        Some(feed) => Ok(Json(feed).into_response()),
        None => Err(unknown_block(&state.shared, height)),
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
    match blocking(move || block_answer(&shared, height)).await? {
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

async fn status(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> ApiResult<Response> {
    let disk = *state.disk.borrow();
    let shared = &state.shared;
    let gauges = gauges(shared);
    let ready = shared.ready.load(std::sync::atomic::Ordering::Acquire);
    let mut answer = Status {
        height: gauges.height,
        ready,
        syncing: gauges.syncing,
        healthy: ready && !disk.is_low(),
        member: None,
    };
    // Liveness only, unless the caller sees the full status: nothing about members, peers or
    // load.
    if access::sees_full_status(&caller) {
        answer.member = Some(member_status(shared, &gauges, &disk));
    }
    Ok(Json(answer).into_response())
}

fn member_status(shared: &Shared, gauges: &Gauges, disk: &DiskSpace) -> MemberStatus {
    let genesis = shared.rules.genesis();
    let me = shared.validator.0 as usize;
    let peers = shared
        .peers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let validators = genesis
        .validators
        .iter()
        .enumerate()
        .map(|(index, v)| ValidatorEntry {
            index,
            name: v.name.clone(),
            operator: v.operator.clone(),
            node_key: v.node_key,
        })
        .collect();
    MemberStatus {
        chain_id: genesis.chain_id.clone(),
        genesis_hash: shared.rules.genesis_hash(),
        validator: StatusValidator {
            index: me,
            name: genesis.validators[me].name.clone(),
        },
        round: gauges.round,
        disk: DiskStatus {
            free_bytes: disk.free_bytes,
            min_bytes: disk.min_bytes,
            low: disk.is_low(),
        },
        mempool: MempoolStatus {
            events: gauges.mempool_events,
            bytes: gauges.mempool_bytes,
        },
        peers,
        validators,
    }
}

async fn evidence(State(state): State<ApiState>) -> ApiResult<Response> {
    let shared = state.shared.clone();
    let found = blocking(move || Ok(shared.read_ledger().evidence()?)).await?;
    let evidence = found
        .iter()
        .map(|e| {
            let (validator, height) = e.offender();
            EvidenceEntry {
                validator: validator.0,
                height,
                evidence: format!("{e:?}"),
            }
        })
        .collect();
    Ok(Json(EvidenceAnswer { evidence }).into_response())
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
    axum::Extension(caller): axum::Extension<Caller>,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let filter = query.shipment.map(shipment_id).transpose()?;
    let reader = reader(&state.shared, &caller)?;
    match &filter {
        None => reader
            .everything("the stream of every shipment (name one: ?shipment=ID)")
            .map_err(|refusal| not_allowed(&state.shared, refusal))?,
        Some(shipment) => {
            let (shared, key) = (state.shared.clone(), IndexKey::Shipment(shipment.clone()));
            blocking(move || check_history(&shared, &reader, &key)).await?;
        }
    }
    let Ok(subscription) = state.stream_subscribers.clone().try_acquire_owned() else {
        return Err(ApiError::retry_later(
            "too_many_streams",
            format!(
                "this node serves at most {STREAM_SUBSCRIBERS_MAX} event streams at once; retry later or follow another node"
            ),
        ));
    };
    let receiver = state.shared.commits.subscribe();
    let shutdown = state.shutdown.clone();
    let events = futures::stream::unfold(
        (
            receiver,
            std::collections::VecDeque::<SseEvent>::new(),
            false,
            subscription,
        ),
        // The subscription's permit lives in the stream's state: it is returned when the
        // stream ends or its client goes away.
        move |(mut receiver, mut ready, done, subscription)| {
            let filter = filter.clone();
            let mut shutdown = shutdown.clone();
            async move {
                loop {
                    if let Some(event) = ready.pop_front() {
                        return Some((Ok(event), (receiver, ready, done, subscription)));
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
                            let lagged = StreamLagged {
                                missed_blocks: missed,
                                message: "fell behind; resume from /v1/blocks".into(),
                            };
                            let data = serde_json::to_string(&lagged).unwrap_or_default();
                            ready.push_back(SseEvent::default().event("lagged").data(data));
                            return ready
                                .pop_front()
                                .map(|event| (Ok(event), (receiver, ready, true, subscription)));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// The metrics listener's router: `/metrics` only, plain HTTP on its own address (loopback by
/// default), never on the API's port.
pub fn metrics_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(shared)
        .layer(axum::middleware::map_response(json_error_shape))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let text = shared.metrics.render(gauges(&shared));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
