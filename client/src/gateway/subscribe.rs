//! Subscriptions to named queries. By webhook (`POST /queries/{name}/subscriptions` with
//! `stream: true`): a deliverer per subscription posts each batch of new matching events as
//! an `EPCISQueryDocument`, signed (`GS1-Signature`: HMAC-SHA256 of the body with the
//! subscriber's `signatureToken`, hex) when a token was given; a failed delivery is retried
//! with growing pauses, and the subscription's cursor (the first event not yet acknowledged)
//! is stored, so after a restart delivery resumes exactly there: events recorded while the
//! receiver or the gateway was down arrive, once, in order. By WebSocket (`GET
//! /queries/{name}/events?stream=true` with an upgrade): the same batches as text messages
//! for as long as the socket is open. Scheduled subscriptions are not offered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::events::{answer_page, named, parameter_problem};
use super::query::{EventQuery, Page, query_document};
use super::{Gateway, GatewayError, Problem, blocking, internal, located, now_ms, problem};
use crate::limits::{
    GATEWAY_SUBSCRIPTIONS_MAX, GATEWAY_WEBHOOK_EVENTS_MAX, GATEWAY_WEBHOOK_RETRY_MAX_SECONDS,
    GATEWAY_WEBHOOK_TIMEOUT_SECONDS,
};

/// A subscription as stored (its token is never shown again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(rename = "subscriptionID")]
    pub id: String,
    pub query_name: String,
    pub dest: String,
    pub signature_token: Option<String>,
    pub created_at: String,
    pub initial_record_time: Option<String>,
    pub last_notified_at: Option<String>,
    /// The first event not yet delivered and acknowledged.
    pub cursor: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

impl Subscription {
    /// The subscription as the standard answers it (without the secret).
    fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "subscriptionID": self.id,
            "dest": self.dest,
            "stream": true,
            "createdAt": self.created_at,
            "lastNotifiedAt": self.last_notified_at,
            "initialRecordTime": self.initial_record_time,
            "waybill:failedDeliveries": self.failures,
            "waybill:lastError": self.last_error,
        })
    }
}

/// `POST /queries/{name}/subscriptions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionRequest {
    dest: String,
    signature_token: Option<String>,
    stream: Option<bool>,
    schedule: Option<serde_json::Value>,
    initial_record_time: Option<String>,
    report_if_empty: Option<bool>,
}

/// The running deliverers, by subscription, each with its stop flag.
#[derive(Debug, Default)]
pub struct Deliverers {
    running: Mutex<BTreeMap<String, Arc<AtomicBool>>>,
}

fn controls(detail: &str) -> Problem {
    problem(
        StatusCode::BAD_REQUEST,
        "SubscriptionControlsException",
        detail,
    )
}

fn check_request(request: &SubscriptionRequest) -> Result<(), Problem> {
    if request.schedule.is_some() || request.report_if_empty.is_some() {
        return Err(controls(
            "scheduled subscriptions are not offered: subscribe with \"stream\": true to get each new matching event",
        ));
    }
    if request.stream != Some(true) {
        return Err(controls(
            "stream: true is required (the only subscription this gateway offers)",
        ));
    }
    let scheme_ok = request.dest.starts_with("http://") || request.dest.starts_with("https://");
    if !scheme_ok || request.dest.len() > 2_048 {
        return Err(controls(
            "dest: an http:// or https:// URL of at most 2048 bytes",
        ));
    }
    if request
        .signature_token
        .as_ref()
        .is_some_and(|t| t.len() > 1_024)
    {
        return Err(controls("signatureToken: at most 1024 bytes"));
    }
    Ok(())
}

/// Where a new subscription starts: at `initialRecordTime`, else with the next event recorded.
fn first_cursor(gateway: &Gateway, initial: Option<&str>) -> Result<u64, Problem> {
    match initial {
        Some(text) => {
            let time = waybill_protocol::calendar::Timestamp::parse(text)
                .and_then(|t| t.unix_millis())
                .ok_or_else(|| controls("initialRecordTime: a date and time YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM) after 1970"))?;
            gateway.store.first_recorded_since(time).map_err(internal)
        }
        None => gateway.store.next_seq().map_err(internal),
    }
}

/// `POST /queries/{name}/subscriptions`: 201 with its location.
pub async fn create(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    axum::Json(request): axum::Json<SubscriptionRequest>,
) -> Response {
    if let Err(refused) = check_request(&request) {
        return refused.into_response();
    }
    let worker = gateway.clone();
    let created = blocking(move || {
        named(&worker, &name)?;
        let existing: Vec<Subscription> = worker
            .store
            .docs(b's', GATEWAY_SUBSCRIPTIONS_MAX)
            .map_err(internal)?;
        if existing.len() >= GATEWAY_SUBSCRIPTIONS_MAX {
            return Err(controls(&format!(
                "at most {GATEWAY_SUBSCRIPTIONS_MAX} subscriptions: delete one first"
            )));
        }
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(internal)?;
        let subscription = Subscription {
            id: random.iter().map(|b| format!("{b:02x}")).collect(),
            query_name: name,
            dest: request.dest,
            signature_token: request.signature_token,
            created_at: crate::time::iso8601(now_ms()),
            cursor: first_cursor(&worker, request.initial_record_time.as_deref())?,
            initial_record_time: request.initial_record_time,
            last_notified_at: None,
            failures: 0,
            last_error: None,
        };
        worker
            .store
            .put_doc(b's', &subscription.id, &subscription)
            .map_err(internal)?;
        start(&worker, &subscription.id);
        Ok(subscription)
    })
    .await;
    match created {
        Ok(subscription) => {
            let location = format!(
                "/queries/{}/subscriptions/{}",
                subscription.query_name, subscription.id
            );
            let response = (StatusCode::CREATED, axum::Json(subscription.view())).into_response();
            located(response, &location)
        }
        Err(problem) => problem.into_response(),
    }
}

/// `GET /queries/{name}/subscriptions`.
pub async fn list(State(gateway): State<Arc<Gateway>>, Path(name): Path<String>) -> Response {
    let found = blocking(move || {
        named(&gateway, &name)?;
        let all: Vec<Subscription> = gateway
            .store
            .docs(b's', GATEWAY_SUBSCRIPTIONS_MAX)
            .map_err(internal)?;
        Ok(all
            .into_iter()
            .filter(|s| s.query_name == name)
            .map(|s| s.view())
            .collect::<Vec<_>>())
    })
    .await;
    match found {
        Ok(list) => axum::Json(list).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// `DELETE /queries/{name}/subscriptions/{id}`.
pub async fn remove(
    State(gateway): State<Arc<Gateway>>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let removed = blocking(move || {
        let found: Option<Subscription> = gateway.store.doc(b's', &id).map_err(internal)?;
        match found {
            Some(subscription) if subscription.query_name == name => {
                stop(&gateway, &id);
                gateway.store.delete_doc(b's', &id).map_err(internal)
            }
            _ => Err(problem(
                StatusCode::NOT_FOUND,
                "NoSuchSubscriptionException",
                "no such subscription to this query",
            )),
        }
    })
    .await;
    match removed {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// Stops and deletes every subscription to `name`.
pub fn remove_all(gateway: &Gateway, name: &str) -> Result<(), Problem> {
    let all: Vec<Subscription> = gateway
        .store
        .docs(b's', GATEWAY_SUBSCRIPTIONS_MAX)
        .map_err(internal)?;
    for subscription in all.into_iter().filter(|s| s.query_name == name) {
        stop(gateway, &subscription.id);
        gateway
            .store
            .delete_doc(b's', &subscription.id)
            .map_err(internal)?;
    }
    Ok(())
}

fn stop(gateway: &Gateway, id: &str) {
    if let Ok(mut running) = gateway.subscribers.running.lock()
        && let Some(flag) = running.remove(id)
    {
        flag.store(true, Ordering::Relaxed);
    }
}

fn start(gateway: &Arc<Gateway>, id: &str) {
    let flag = Arc::new(AtomicBool::new(false));
    if let Ok(mut running) = gateway.subscribers.running.lock() {
        running.insert(id.to_string(), flag.clone());
    }
    let deliverer = gateway.clone();
    let id = id.to_string();
    std::thread::spawn(move || deliver(&deliverer, &id, &flag));
}

/// Starts a deliverer for every stored subscription (after a restart: from its cursor).
pub fn resume(gateway: &Arc<Gateway>) -> Result<(), GatewayError> {
    let all: Vec<Subscription> = gateway.store.docs(b's', GATEWAY_SUBSCRIPTIONS_MAX)?;
    for subscription in all {
        start(gateway, &subscription.id);
    }
    Ok(())
}

/// Sleeps `pause`, waking early if the subscription is stopped.
fn pause_unless_stopped(pause: Duration, stopped: &AtomicBool) {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < pause && !stopped.load(Ordering::Relaxed) {
        std::thread::sleep(step);
        slept += step;
    }
}

/// Delivers for ever, until stopped.
fn deliver(gateway: &Gateway, id: &str, stopped: &AtomicBool) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(GATEWAY_WEBHOOK_TIMEOUT_SECONDS)))
        .build()
        .into();
    let mut retry = Duration::from_secs(1);
    while !stopped.load(Ordering::Relaxed) {
        match deliver_once(gateway, id, &agent) {
            Ok(Delivery::Delivered) => retry = Duration::from_secs(1),
            Ok(Delivery::UpToDate(end)) => gateway.wait_beyond(end, Duration::from_secs(1)),
            Ok(Delivery::Gone) => return,
            Err(()) => {
                pause_unless_stopped(retry, stopped);
                retry = (retry * 2).min(Duration::from_secs(GATEWAY_WEBHOOK_RETRY_MAX_SECONDS));
            }
        }
    }
}

enum Delivery {
    Delivered,
    /// Nothing new up to this event.
    UpToDate(u64),
    Gone,
}

/// One round: the next batch of matching events, posted; the cursor moves on only when the
/// receiver acknowledged it (2xx). `Err` after a failed delivery (recorded on the
/// subscription).
fn deliver_once(gateway: &Gateway, id: &str, agent: &ureq::Agent) -> Result<Delivery, ()> {
    let store = &gateway.store;
    let Ok(Some(mut subscription)) = store.doc::<Subscription>(b's', id) else {
        return Ok(Delivery::Gone);
    };
    let Ok((_, mut query)) = named(gateway, &subscription.query_name) else {
        return Ok(Delivery::Gone);
    };
    query.per_page = GATEWAY_WEBHOOK_EVENTS_MAX;
    let page = query.page(store, subscription.cursor).map_err(|_| ())?;
    if page.events.is_empty() {
        if page.scanned_to > subscription.cursor {
            subscription.cursor = page.scanned_to;
            store.put_doc(b's', id, &subscription).map_err(|_| ())?;
        }
        return Ok(Delivery::UpToDate(page.scanned_to));
    }
    let posted = post(agent, &subscription, &page);
    match posted {
        Ok(()) => {
            subscription.cursor = page.scanned_to;
            subscription.last_notified_at = Some(crate::time::iso8601(now_ms()));
            subscription.last_error = None;
        }
        Err(reason) => {
            subscription.failures = subscription.failures.saturating_add(1);
            subscription.last_error = Some(reason);
        }
    }
    store.put_doc(b's', id, &subscription).map_err(|_| ())?;
    match subscription.last_error {
        None => Ok(Delivery::Delivered),
        Some(_) => Err(()),
    }
}

/// HMAC-SHA256 of `body` under `token`, in hex.
pub fn signature(token: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn post(agent: &ureq::Agent, subscription: &Subscription, page: &Page) -> Result<(), String> {
    let document = query_document(
        &page.events,
        &subscription.query_name,
        Some(&subscription.id),
        now_ms(),
    );
    let body = serde_json::to_vec(&document).map_err(|e| e.to_string())?;
    let mut request = agent
        .post(&subscription.dest)
        .header("content-type", "application/json");
    if let Some(token) = &subscription.signature_token {
        request = request.header("GS1-Signature", signature(token, &body));
    }
    match request.send(&body[..]) {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!(
            "{} answered {}",
            subscription.dest,
            response.status()
        )),
        Err(error) => Err(format!("{}: {error}", subscription.dest)),
    }
}

/// `GET /queries/{name}/events`: a page of the named query's results; with a WebSocket
/// upgrade and `stream=true`, every new matching event for as long as the socket is open.
pub async fn named_events(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let worker = gateway.clone();
    let lookup = name.clone();
    let (_, mut query) = match blocking(move || named(&worker, &lookup)).await {
        Ok(found) => found,
        Err(problem) => return problem.into_response(),
    };
    let given = |wanted: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == wanted)
            .map(|(_, v)| v.as_str())
    };
    if let Ok(upgrade) = upgrade {
        if given("stream") != Some("true") {
            return controls(
                "a WebSocket subscription needs stream=true (scheduled ones are not offered)",
            )
            .into_response();
        }
        let cursor = match first_cursor(&gateway, given("initialRecordTime")) {
            Ok(cursor) => cursor,
            Err(problem) => return problem.into_response(),
        };
        query.per_page = GATEWAY_WEBHOOK_EVENTS_MAX;
        return upgrade.on_upgrade(move |socket| stream(gateway, socket, query, name, cursor));
    }
    for (parameter, value) in &pairs {
        match parameter.as_str() {
            "nextPageToken" => {}
            "perPage" => match EventQuery::from_pairs(&[(parameter.clone(), value.clone())]) {
                Ok(paged) => query.per_page = paged.per_page,
                Err(error) => return parameter_problem(&error).into_response(),
            },
            _ => {
                return controls(&format!(
                    "{parameter}: a named query's results take perPage and nextPageToken; stream and initialRecordTime go with a WebSocket upgrade"
                ))
                .into_response();
            }
        }
    }
    let path = format!("/queries/{name}/events");
    answer_page(gateway, query, name, path, pairs).await
}

/// Sends each new batch of matching events until the socket closes.
async fn stream(
    gateway: Arc<Gateway>,
    mut socket: WebSocket,
    query: EventQuery,
    name: String,
    mut cursor: u64,
) {
    let mut recorded = gateway.latest.watch.subscribe();
    loop {
        let worker = gateway.clone();
        let asked = query.clone();
        let page = tokio::task::spawn_blocking(move || asked.page(&worker.store, cursor)).await;
        let Ok(Ok(page)) = page else {
            return;
        };
        if !page.events.is_empty() {
            let document = query_document(&page.events, &name, None, now_ms());
            let text = document.to_string();
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        cursor = page.scanned_to;
        if page.next.is_some() {
            continue;
        }
        tokio::select! {
            changed = recorded.changed() => if changed.is_err() { return },
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
