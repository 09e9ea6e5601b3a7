//! `waybill epcis-gateway`: the EPCIS 2.0 REST binding (GS1's OpenAPI document) in front of
//! the ledger, run by an organisation beside its own EPCIS systems and holding its key.
//!
//! - Capture (`POST /capture` as a job, `POST /events` for one event synchronously): a
//!   document is read whole and checked before anything is signed, then each event is signed
//!   with the gateway's key and submitted; the job says, event by event, what the ledger did.
//! - Query (`GET /events`, `GET /events/{eventID}`, named queries): answered from the
//!   gateway's store, which holds only events it verified against the genesis. Its follower
//!   reads the node's feed with the organisation's key, so the node's read policy decides
//!   what this organisation's gateway may hold.
//! - Subscriptions: by webhook (retried, resumed after a restart from the last event the
//!   receiver acknowledged) and by WebSocket.
//!
//! Callers present `Authorization: Bearer <token>` (the token file given at start): whoever
//! holds it signs as the organisation.

mod capture;
mod events;
pub mod follow;
pub mod query;
pub mod store;
mod subscribe;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use waybill_protocol::rules::ChainRules;

use crate::keystore::SigningIdentity;
use crate::node::NodeClient;
use store::Store;

/// What the gateway needs to start.
#[derive(Debug)]
pub struct GatewayConfig {
    pub node: NodeClient,
    pub rules: ChainRules,
    pub identity: SigningIdentity,
    pub listen: SocketAddr,
    /// The store's directory (created if missing).
    pub state: PathBuf,
    /// The bearer token callers present.
    pub token: String,
    /// How often the follower looks for new blocks.
    pub follow_pause: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("--listen {address}: {reason}")]
    Listen { address: SocketAddr, reason: String },
    #[error("the gateway's runtime: {0}")]
    Runtime(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("the token: {0}")]
    Token(String),
}

/// How far the store has recorded, for subscribers to wait on.
#[derive(Debug)]
struct Latest {
    next_seq: Mutex<u64>,
    changed: Condvar,
    watch: tokio::sync::watch::Sender<u64>,
}

/// The running gateway, shared by its handlers, its follower and its deliverers.
#[derive(Debug)]
pub struct Gateway {
    node: NodeClient,
    rules: ChainRules,
    identity: SigningIdentity,
    store: Store,
    token: String,
    trouble: Mutex<Option<String>>,
    latest: Latest,
    /// The last nonce signed with: nonces only grow, even across a clock step back.
    last_nonce: Mutex<u64>,
    /// Held while signing and submitting, so this key's nonces reach the node in order.
    submitting: Mutex<()>,
    /// Capture jobs running now (at most `GATEWAY_JOBS_RUNNING_MAX`).
    jobs_running: std::sync::atomic::AtomicUsize,
    subscribers: subscribe::Deliverers,
}

impl Gateway {
    fn new(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        if config.token.len() < 16 {
            return Err(GatewayError::Token(
                "at least 16 characters (a random one is written when the file is absent)".into(),
            ));
        }
        let store = Store::open(&config.state)?;
        let next_seq = store.next_seq()?;
        Ok(Gateway {
            node: config.node,
            rules: config.rules,
            identity: config.identity,
            store,
            token: config.token,
            trouble: Mutex::new(None),
            latest: Latest {
                next_seq: Mutex::new(next_seq),
                changed: Condvar::new(),
                watch: tokio::sync::watch::Sender::new(next_seq),
            },
            last_nonce: Mutex::new(0),
            submitting: Mutex::new(()),
            jobs_running: std::sync::atomic::AtomicUsize::new(0),
            subscribers: subscribe::Deliverers::default(),
        })
    }

    fn set_trouble(&self, trouble: Option<String>) {
        if let Ok(mut held) = self.trouble.lock() {
            *held = trouble;
        }
    }

    fn trouble(&self) -> Option<String> {
        self.trouble.lock().ok().and_then(|held| held.clone())
    }

    /// The follower recorded events up to (not including) `next_seq`.
    fn recorded(&self, next_seq: u64) {
        if let Ok(mut held) = self.latest.next_seq.lock() {
            *held = next_seq;
        }
        self.latest.changed.notify_all();
        self.latest.watch.send_replace(next_seq);
    }

    /// Waits (at most `limit`) until events at or after `seq` may have been recorded.
    fn wait_beyond(&self, seq: u64, limit: Duration) {
        let Ok(held) = self.latest.next_seq.lock() else {
            return;
        };
        let _ = self
            .latest
            .changed
            .wait_timeout_while(held, limit, |next| *next <= seq);
    }

    /// `count` fresh nonces; the first of them.
    fn nonces(&self, count: u64) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let Ok(mut last) = self.last_nonce.lock() else {
            return now;
        };
        let first = now.max(last.saturating_add(1));
        *last = first.saturating_add(count);
        first
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the gateway until the process ends; `ready` is told the address it listens on.
pub fn run(config: GatewayConfig, ready: impl FnOnce(SocketAddr)) -> Result<(), GatewayError> {
    let listen = config.listen;
    let pause = config.follow_pause;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| GatewayError::Runtime(e.to_string()))?;
    let gateway = Arc::new(Gateway::new(config)?);
    let follower = gateway.clone();
    std::thread::spawn(move || follow::run(&follower, pause));
    subscribe::resume(&gateway)?;
    capture::recover(&gateway)?;
    runtime.block_on(async move {
        let failed = |e: std::io::Error| GatewayError::Listen {
            address: listen,
            reason: e.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(failed)?;
        let address = listener.local_addr().map_err(failed)?;
        ready(address);
        axum::serve(listener, router(gateway))
            .await
            .map_err(|e| GatewayError::Runtime(e.to_string()))
    })
}

fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route(
            "/capture",
            post(capture::submit)
                .get(capture::list)
                .options(capture::discover),
        )
        .route("/capture/{id}", get(capture::job))
        .route("/events", get(events::query).post(capture::one_event))
        .route("/events/{id}", get(events::one))
        .route(
            "/queries",
            get(events::list_queries).post(events::create_query),
        )
        .route(
            "/queries/{name}",
            get(events::named_query).delete(events::delete_query),
        )
        .route("/queries/{name}/events", get(subscribe::named_events))
        .route(
            "/queries/{name}/subscriptions",
            get(subscribe::list).post(subscribe::create),
        )
        .route(
            "/queries/{name}/subscriptions/{id}",
            axum::routing::delete(subscribe::remove),
        )
        .route("/status", get(status))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            waybill_protocol::limits::EPCIS_DOCUMENT_BYTES_MAX,
        ))
        .layer(axum::middleware::from_fn_with_state(gateway.clone(), guard))
        .with_state(gateway)
}

/// Constant-time comparison, so the token is not guessed byte by byte from timings.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Refuses a caller without the token; every answer names the EPCIS and CBV versions.
async fn guard(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    let mut response = if same_secret(given.as_bytes(), gateway.token.as_bytes()) {
        next.run(request).await
    } else {
        let mut refused = problem(
            StatusCode::UNAUTHORIZED,
            "SecurityException",
            "present the gateway's token: Authorization: Bearer <token> (the file given with --token-file)",
        )
        .into_response();
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"epcis\""),
        );
        refused
    };
    let headers = response.headers_mut();
    headers.insert("GS1-EPCIS-Version", HeaderValue::from_static("2.0.0"));
    headers.insert("GS1-CBV-Version", HeaderValue::from_static("2.0.0"));
    response
}

/// An RFC 7807 problem with the standard's exception name: every refusal the gateway gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    exception: &'static str,
    detail: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": format!("epcisException:{}", self.exception),
            "title": self.exception,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

fn problem(status: StatusCode, exception: &'static str, detail: impl Into<String>) -> Problem {
    Problem {
        status,
        exception,
        detail: detail.into(),
    }
}

fn internal(error: impl std::fmt::Display) -> Problem {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ImplementationException",
        error.to_string(),
    )
}

/// `response` with a `Location` header naming `path` (a path this gateway made, always a
/// valid header value).
fn located(mut response: Response, path: &str) -> Response {
    if let Ok(location) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A handler's answer: its response, or the problem.
fn answer<T: IntoResponse>(result: Result<T, Problem>) -> Response {
    match result {
        Ok(found) => found.into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn not_found() -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "NoSuchResourceException",
        "no such resource: this gateway serves /capture, /events, /queries and /status",
    )
}

/// Runs blocking work (RocksDB, the node's HTTP) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work).await.map_err(internal)?
}

/// `GET /status`: how far the gateway has recorded, and what stops its follower if anything.
async fn status(State(gateway): State<Arc<Gateway>>) -> Response {
    let store = gateway.clone();
    let positions = blocking(move || {
        let height = store.store.next_height().map_err(internal)?;
        let seq = store.store.next_seq().map_err(internal)?;
        Ok((height, seq))
    })
    .await;
    match positions {
        Ok((next_height, next_seq)) => axum::Json(json!({
            "recordedThroughHeight": next_height.saturating_sub(1),
            "events": next_seq.saturating_sub(1),
            "organisation": gateway.identity.key_id.org,
            "trouble": gateway.trouble(),
        }))
        .into_response(),
        Err(problem) => problem.into_response(),
    }
}
