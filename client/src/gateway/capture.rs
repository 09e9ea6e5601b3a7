//! Capture: `POST /capture` (a document, as a job), `GET /capture[/{id}]`, and `POST /events`
//! (one event, answered when the ledger has it). A document is read whole before anything is
//! signed: any problem refuses it all (400, each problem with its event and JSON pointer).
//! Then every event is signed with the gateway's key and submitted in batches, and the job
//! records what the ledger did with each: committed at a height, rejected with the ledger's
//! reason, or refused by the node. The ledger is append-only, so the job runs as the
//! standard's `proceed` behaviour: a `rollback` request is refused up front, since an event
//! once committed cannot be taken back (the whole-document check happens before signing).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use waybill_protocol::api::{BatchAnswer, EventStatus};
use waybill_protocol::{Hash, SignedEvent};

use super::{Gateway, Problem, blocking, internal, located, now_ms, problem};
use crate::epcis::{EpcisError, ImportSigner, Imported, import};
use crate::limits::{
    GATEWAY_BATCH_EVENTS, GATEWAY_COMMIT_WAIT_SECONDS, GATEWAY_JOBS_LISTED_MAX,
    GATEWAY_JOBS_RUNNING_MAX,
};
use crate::node::ClientError;

/// A capture job, as GS1's `CaptureJob` schema has it, with each event's fate under ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureJob {
    #[serde(rename = "captureID")]
    pub capture_id: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub running: bool,
    pub success: bool,
    pub capture_error_behaviour: String,
    pub errors: Vec<Value>,
    #[serde(rename = "waybill:events")]
    pub events: Vec<CapturedEvent>,
}

/// What became of one event of a capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedEvent {
    pub index: usize,
    /// `committed`, `rejected` (by the ledger's rules), `refused` (by the node) or `pending`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// "observation on epcis:carrier-a", "depart on HAWB-1", …
    pub meaning: String,
}

fn validation(detail: &str) -> Problem {
    problem(StatusCode::BAD_REQUEST, "ValidationException", detail)
}

/// The document's problems, every one with its event and pointer.
fn refused_document(errors: &[EpcisError]) -> Problem {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    validation(&format!(
        "{} problem(s), nothing was signed or submitted: {}",
        errors.len(),
        lines.join("; ")
    ))
}

fn read_json(body: &Bytes) -> Result<Value, Problem> {
    waybill_protocol::json::parse(body).map_err(|error| validation(&format!("not JSON: {error}")))
}

/// Refuses `rollback`: what the ledger committed stays.
fn check_behaviour(headers: &HeaderMap) -> Result<(), Problem> {
    match headers
        .get("GS1-Capture-Error-Behaviour")
        .map(|value| value.to_str().unwrap_or_default())
    {
        None | Some("proceed") => Ok(()),
        Some(other) => Err(validation(&format!(
            "GS1-Capture-Error-Behaviour {other:?}: this gateway captures onto an append-only ledger, so only proceed is offered; the whole document is checked before any event is signed, and the job reports each event's fate"
        ))),
    }
}

/// Reads the document into the events to sign, or refuses it with every problem.
fn imported_events(gateway: &Gateway, document: &Value) -> Result<Vec<Imported>, Problem> {
    let genesis = gateway.rules.genesis();
    let identity = &gateway.identity;
    let signer = ImportSigner {
        chain_id: genesis.chain_id.clone(),
        key_id: identity.key_id.clone(),
        // Set when signed: nonces are taken in submission order.
        first_nonce: 0,
        default_shipment: None,
        captured_at_ms: now_ms(),
        may_sign: waybill_protocol::EventType::ALL
            .into_iter()
            .filter(|kind| genesis.may_sign(&identity.roles, *kind))
            .collect(),
    };
    import(document, &signer).map_err(|errors| refused_document(&errors))
}

/// Signs `events` with fresh nonces. The caller holds `gateway.submitting` until the node has
/// them, so the node sees this key's nonces in the order they were taken.
fn sign(gateway: &Gateway, events: &[Imported]) -> Vec<SignedEvent> {
    let first = gateway.nonces(events.len() as u64);
    events
        .iter()
        .enumerate()
        .map(|(offset, imported)| {
            let mut body = imported.body.clone();
            body.nonce = first.saturating_add(offset as u64);
            SignedEvent::sign(body, &gateway.identity.keypair)
        })
        .collect()
}

/// One of the bounded number of jobs that may run at once; given back when dropped.
struct JobSlot(Arc<Gateway>);

impl JobSlot {
    fn take(gateway: &Arc<Gateway>) -> Result<JobSlot, Problem> {
        let running = gateway.jobs_running.fetch_add(1, Ordering::SeqCst);
        if running >= GATEWAY_JOBS_RUNNING_MAX {
            gateway.jobs_running.fetch_sub(1, Ordering::SeqCst);
            return Err(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "ImplementationException",
                format!(
                    "{GATEWAY_JOBS_RUNNING_MAX} capture jobs are running; send this document again when one has finished"
                ),
            ));
        }
        Ok(JobSlot(gateway.clone()))
    }
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        self.0.jobs_running.fetch_sub(1, Ordering::SeqCst);
    }
}

fn new_job(count: usize) -> CaptureJob {
    let mut random = [0u8; 4];
    let _ = getrandom::fill(&mut random);
    let created = now_ms();
    CaptureJob {
        capture_id: format!("c{created:013}{}", hex_of(&random)),
        created_at: crate::time::iso8601(created),
        finished_at: None,
        running: true,
        success: true,
        capture_error_behaviour: "proceed".into(),
        errors: Vec::new(),
        events: (0..count)
            .map(|index| CapturedEvent {
                index,
                status: "pending".into(),
                id: None,
                height: None,
                meaning: String::new(),
            })
            .collect(),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /capture`: 202 with the job's location once the document reads cleanly.
pub async fn submit(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = check_behaviour(&headers) {
        return refused.into_response();
    }
    let worker = gateway.clone();
    let started = blocking(move || {
        let document = read_json(&body)?;
        let events = imported_events(&worker, &document)?;
        let slot = JobSlot::take(&worker)?;
        let job = new_job(events.len());
        let store = &worker.store;
        store
            .put_doc(b'j', &job.capture_id, &job)
            .map_err(internal)?;
        store
            .put_doc(b'r', &job.capture_id, &job.capture_id)
            .map_err(internal)?;
        let id = job.capture_id.clone();
        let runner = worker.clone();
        std::thread::spawn(move || {
            run_job(&runner, job, events);
            drop(slot);
        });
        Ok(id)
    })
    .await;
    match started {
        Ok(id) => located(
            StatusCode::ACCEPTED.into_response(),
            &format!("/capture/{id}"),
        ),
        Err(refused) => refused.into_response(),
    }
}

fn event_problem(index: usize, status: u16, code: &str, message: &str) -> Value {
    json!({
        "type": "epcisException:ValidationException",
        "title": code,
        "status": status,
        "detail": format!("event {index}: {message}"),
        "instance": format!("/epcisBody/eventList/{index}"),
    })
}

/// What the node said of one event of a batch: accepted, or refused with a status and why.
fn batch_result(
    answer: &Result<BatchAnswer, ClientError>,
    offset: usize,
) -> Result<(), (u16, String, String)> {
    match answer {
        Ok(answer) => match answer.results.get(offset) {
            Some(result) if result.id.is_some() => Ok(()),
            Some(result) => Err((
                result.status.unwrap_or(400),
                result.error.clone().unwrap_or_default(),
                result.message.clone().unwrap_or_default(),
            )),
            None => Err((
                502,
                "no_result".into(),
                "the node's answer has no result for it".into(),
            )),
        },
        Err(error) => Err((503, "unreachable".into(), error.to_string())),
    }
}

/// Submits the events, follows each to its block, and keeps the job up to date. Each event's
/// id is stored before it is submitted, so a job the gateway stopped in can be followed up.
fn run_job(gateway: &Gateway, mut job: CaptureJob, events: Vec<Imported>) {
    for (chunk_number, chunk) in events.chunks(GATEWAY_BATCH_EVENTS).enumerate() {
        let first = chunk_number * GATEWAY_BATCH_EVENTS;
        let turn = gateway.submitting.lock();
        let signed = sign(gateway, chunk);
        for (offset, event) in signed.iter().enumerate() {
            job.events[first + offset].meaning = chunk[offset].meaning.clone();
            job.events[first + offset].id = Some(event.id());
        }
        let _ = gateway.store.put_doc(b'j', &job.capture_id, &job);
        let answer = gateway.node.submit_batch(&signed);
        drop(turn);
        for offset in 0..signed.len() {
            if let Err((status, code, message)) = batch_result(&answer, offset) {
                let index = first + offset;
                job.events[index].status = "refused".into();
                job.errors
                    .push(event_problem(index, status, &code, &message));
            }
        }
    }
    let _ = gateway.store.put_doc(b'j', &job.capture_id, &job);
    follow_job(gateway, job);
}

/// Waits for each submitted event's block and finishes the job.
fn follow_job(gateway: &Gateway, mut job: CaptureJob) {
    let wait = Duration::from_secs(GATEWAY_COMMIT_WAIT_SECONDS);
    for index in 0..job.events.len() {
        let outcome = &mut job.events[index];
        let (Some(id), "pending") = (outcome.id, outcome.status.as_str()) else {
            continue;
        };
        match gateway.node.wait_committed(&id, wait) {
            Ok(EventStatus::Committed { height, .. }) => {
                outcome.status = "committed".into();
                outcome.height = Some(height);
            }
            Ok(EventStatus::Rejected { height, reason, .. }) => {
                outcome.status = "rejected".into();
                outcome.height = Some(height);
                job.errors
                    .push(event_problem(index, 409, "rejected", &reason));
            }
            Ok(EventStatus::Pending) | Err(_) => {
                let message = format!(
                    "not committed within {GATEWAY_COMMIT_WAIT_SECONDS} s; it may still be"
                );
                job.errors
                    .push(event_problem(index, 504, "pending", &message));
            }
        }
    }
    job.running = false;
    job.success = job.errors.is_empty();
    job.finished_at = Some(crate::time::iso8601(now_ms()));
    let _ = gateway.store.put_doc(b'j', &job.capture_id, &job);
    let _ = gateway.store.delete_doc(b'r', &job.capture_id);
}

/// Finishes the jobs a stopped gateway left running: events it had signed are followed to
/// their blocks; events it had not reached are reported as not submitted.
pub fn recover(gateway: &Arc<Gateway>) -> Result<(), super::GatewayError> {
    // Only jobs that started and did not finish are marked (at most the running bound).
    let running: Vec<String> = gateway.store.docs(b'r', GATEWAY_JOBS_RUNNING_MAX)?;
    for id in running {
        let Some(mut job) = gateway.store.doc::<CaptureJob>(b'j', &id)? else {
            gateway.store.delete_doc(b'r', &id)?;
            continue;
        };
        for index in 0..job.events.len() {
            if job.events[index].id.is_none() {
                job.events[index].status = "refused".into();
                let message = "the gateway stopped before it was submitted; capture it again";
                job.errors
                    .push(event_problem(index, 503, "not_submitted", message));
            }
        }
        let worker = gateway.clone();
        std::thread::spawn(move || follow_job(&worker, job));
    }
    Ok(())
}

/// `GET /capture/{id}`.
pub async fn job(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let found =
        blocking(move || gateway.store.doc::<CaptureJob>(b'j', &id).map_err(internal)).await;
    match found {
        Ok(Some(job)) => axum::Json(job).into_response(),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "NoSuchResourceException",
            "no capture job with this id",
        )
        .into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// `GET /capture`: the jobs, oldest first (at most a bounded number).
pub async fn list(State(gateway): State<Arc<Gateway>>) -> Response {
    let jobs = blocking(move || {
        gateway
            .store
            .docs::<CaptureJob>(b'j', GATEWAY_JOBS_LISTED_MAX)
            .map_err(internal)
    })
    .await;
    match jobs {
        Ok(jobs) => axum::Json(jobs).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// `OPTIONS /capture`: what this capture interface takes.
pub async fn discover() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    let limits = [
        (
            "GS1-EPCIS-Capture-Limit",
            waybill_protocol::limits::EPCIS_DOCUMENT_EVENTS_MAX,
        ),
        (
            "GS1-EPCIS-Capture-File-Size-Limit",
            waybill_protocol::limits::EPCIS_DOCUMENT_BYTES_MAX,
        ),
    ];
    for (name, value) in limits {
        headers.insert(name, HeaderValue::from(value));
    }
    headers.insert(
        "GS1-Capture-Error-Behaviour",
        HeaderValue::from_static("proceed"),
    );
    headers.insert(
        header::ALLOW,
        HeaderValue::from_static("OPTIONS, GET, POST"),
    );
    response
}

/// Percent-encodes a path segment (event ids hold `:`, `/`, `;`, `?`).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `POST /events`: one event, captured synchronously: 201 once it is on the ledger, with its
/// location here; 409 if the ledger already holds it.
pub async fn one_event(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = check_behaviour(&headers) {
        return refused.into_response();
    }
    let worker = gateway.clone();
    let captured = blocking(move || {
        let event = read_json(&body)?;
        let document = json!({
            "@context": [crate::epcis::EPCIS_CONTEXT],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": crate::time::iso8601(now_ms()),
            "epcisBody": {"eventList": [event]},
        });
        let events = imported_events(&worker, &document)?;
        capture_one(&worker, &events)
    })
    .await;
    super::answer(captured)
}

fn capture_one(gateway: &Gateway, events: &[Imported]) -> Result<Response, Problem> {
    let turn = gateway.submitting.lock();
    let signed = sign(gateway, events);
    let answer = gateway.node.submit_batch(&signed);
    drop(turn);
    let Some(event) = signed.first() else {
        return Err(validation("the body is not one EPCIS event"));
    };
    if let Err((status, _, message)) = batch_result(&answer, 0) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(problem(status, "ValidationException", &message));
    }
    let id = event.id();
    let wait = Duration::from_secs(GATEWAY_COMMIT_WAIT_SECONDS);
    match gateway.node.wait_committed(&id, wait) {
        Ok(EventStatus::Committed { .. }) => {}
        Ok(EventStatus::Rejected {
            reason, rejection, ..
        }) => {
            let duplicate = matches!(
                rejection,
                waybill_protocol::execution::Rejection::DuplicateCapture { .. }
            );
            let (status, exception) = if duplicate {
                (StatusCode::CONFLICT, "ResourceAlreadyExistsException")
            } else {
                (StatusCode::UNPROCESSABLE_ENTITY, "ValidationException")
            };
            return Err(problem(
                status,
                exception,
                format!("the ledger rejected it: {reason}"),
            ));
        }
        Ok(EventStatus::Pending) | Err(_) => {
            return Err(problem(
                StatusCode::GATEWAY_TIMEOUT,
                "ImplementationException",
                format!(
                    "event {id} was accepted but not committed within {wait:?}; GET /events/{{eventID}} will find it once it is"
                ),
            ));
        }
    }
    Ok(created(gateway, &id, wait))
}

/// 201 with the event as this gateway returns it, once its follower has recorded it.
fn created(gateway: &Gateway, id: &Hash, wait: Duration) -> Response {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let next = gateway.store.next_seq().unwrap_or(0);
        if let Ok(Some(recorded)) = gateway.store.by_ledger_id(id) {
            let event_id = recorded.event_id.clone().unwrap_or(recorded.hash.clone());
            let response = (StatusCode::CREATED, axum::Json(recorded.event)).into_response();
            return located(response, &format!("/events/{}", path_segment(&event_id)));
        }
        if std::time::Instant::now() >= deadline {
            return (
                StatusCode::CREATED,
                axum::Json(json!({"waybill:eventId": id, "note": "committed; not yet recorded by this gateway's follower"})),
            )
                .into_response();
        }
        gateway.wait_beyond(next, Duration::from_millis(500));
    }
}
