//! `waybill console`: the officer's and the analyst's workstation, served by the client on the
//! officer's own machine (never by the node), so that every line on a page comes from proofs
//! verified here against the genesis. What fails verification is shown as NOT VERIFIED with
//! the reason, and no action is offered on it; what the node refuses is shown as its refusal.
//!
//! Pages are server-rendered HTML with one small script (local times, live work list). Actions
//! are signed with the officer's key only after a confirmation page that shows the exact event
//! to be signed. The console listens on loopback only; every request must name it as its host
//! (against DNS rebinding), and every form carries this run's token (against cross-site posts).

mod actions;
pub mod html;
mod index;
pub mod progress;
mod shipment;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use waybill_protocol::ShipmentId;
use waybill_protocol::genesis::Role;
use waybill_protocol::rules::ChainRules;

use crate::answer::{AnswerError, ProvenanceReader};
use crate::casefile::{Case, CaseError};
use crate::customs::Policies;
use crate::keystore::SigningIdentity;
use crate::node::{ClientError, NodeClient};
use crate::release::ReleaseReport;
use html::Frame;
use index::{Index, WorkItem};
use progress::Progress;

/// What the console needs to start.
#[derive(Debug)]
pub struct ConsoleConfig {
    pub node: NodeClient,
    pub rules: ChainRules,
    pub identity: SigningIdentity,
    pub policies: Policies,
    pub listen: SocketAddr,
    /// The oldest proof accepted (`None`: any age).
    pub max_age: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(
        "--listen {0}: the console signs with your key, so it listens on loopback only (127.0.0.1 or [::1])"
    )]
    NotLoopback(SocketAddr),
    #[error("--listen {address}: {reason}")]
    Listen { address: SocketAddr, reason: String },
    #[error("the console's runtime: {0}")]
    Runtime(String),
    #[error("the console's token: {0}")]
    Randomness(String),
}

/// The running console: shared by the pages, the follower and the workers.
#[derive(Debug)]
pub struct Console {
    node: NodeClient,
    rules: ChainRules,
    identity: SigningIdentity,
    policies: Policies,
    max_age: Option<Duration>,
    index: Index,
    /// This run's form token: a page of another origin cannot read it, so cannot post.
    token: String,
    /// `127.0.0.1:PORT`: the only Host a request may name.
    authority: String,
    frame: Frame,
}

/// Why a shipment could not be shown as fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    NotVerified(String),
    Refused(String),
}

impl From<CaseError> for Trouble {
    fn from(error: CaseError) -> Trouble {
        match error {
            CaseError::Verification(reason) => Trouble::NotVerified(reason),
            CaseError::Node(error) => Trouble::from(error),
        }
    }
}

impl From<AnswerError> for Trouble {
    fn from(error: AnswerError) -> Trouble {
        match error {
            AnswerError::Proof { .. } => Trouble::NotVerified(error.to_string()),
            AnswerError::Node(error) => Trouble::from(error),
        }
    }
}

impl From<ClientError> for Trouble {
    fn from(error: ClientError) -> Trouble {
        Trouble::Refused(error.to_string())
    }
}

/// A shipment's line for the index.
#[derive(Debug)]
pub enum Lookup {
    Found(Box<WorkItem>),
    NotVerified(String),
    Refused(String),
}

/// Everything a shipment page shows, verified.
#[derive(Debug)]
pub struct CaseView {
    /// Customs' whole case file; a party's holds the history and particulars alone.
    pub case: Case,
    /// Customs' release check of the case file.
    pub report: Option<ReleaseReport>,
    pub progress: Progress,
}

impl Console {
    fn new(config: ConsoleConfig, address: SocketAddr) -> Result<Console, ConsoleError> {
        let mut token = [0u8; 16];
        getrandom::fill(&mut token).map_err(|e| ConsoleError::Randomness(e.to_string()))?;
        let frame = Frame {
            org: config.identity.key_id.org.to_string(),
            roles: config.identity.roles.iter().map(|r| r.name()).collect(),
            node: config.node.base().to_string(),
            chain: config.rules.genesis().chain_id.to_string(),
        };
        Ok(Console {
            node: config.node,
            rules: config.rules,
            identity: config.identity,
            policies: config.policies,
            max_age: config.max_age,
            index: Index::default(),
            token: token.iter().map(|b| format!("{b:02x}")).collect(),
            authority: address.to_string(),
            frame,
        })
    }

    fn reader(&self) -> ProvenanceReader<'_> {
        ProvenanceReader::new(&self.node, &self.rules, self.max_age, 0)
    }

    pub fn is(&self, role: Role) -> bool {
        self.identity.roles.contains(&role)
    }

    /// A shipment's verified view: customs gather the whole case file and check it.
    pub fn case_view(&self, shipment: &ShipmentId) -> Result<CaseView, Trouble> {
        let reader = self.reader();
        let (case, report) = if self.is(Role::Customs) {
            let case = crate::casefile::gather(&reader, &self.rules, shipment, &self.policies)?;
            let report = case.release_check(&self.policies);
            (case, Some(report))
        } else {
            let answer = reader.shipment(shipment)?;
            let particulars = reader.particulars(&answer)?;
            (Case::history_only(answer, particulars), None)
        };
        Ok(CaseView {
            progress: progress::progress(&case.events),
            case,
            report,
        })
    }

    fn lookup(&self, shipment: &ShipmentId) -> Lookup {
        match self.case_view(shipment) {
            Ok(view) => Lookup::Found(Box::new(views::work_item(shipment, &view))),
            Err(Trouble::NotVerified(reason)) => Lookup::NotVerified(reason),
            Err(Trouble::Refused(reason)) => Lookup::Refused(reason),
        }
    }
}

/// Starts the console and serves until the process ends; `ready` is told the address bound.
pub fn run(config: ConsoleConfig, ready: impl FnOnce(SocketAddr)) -> Result<(), ConsoleError> {
    let listen = config.listen;
    if !listen.ip().is_loopback() {
        return Err(ConsoleError::NotLoopback(listen));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ConsoleError::Runtime(e.to_string()))?;
    runtime.block_on(async move {
        let failed = |e: std::io::Error| ConsoleError::Listen {
            address: listen,
            reason: e.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(failed)?;
        let address = listener.local_addr().map_err(failed)?;
        let console = Arc::new(Console::new(config, address)?);
        let _ = console.index.watch();
        let follower = console.clone();
        std::thread::spawn(move || index::follow(follower));
        for _ in 0..crate::limits::CONSOLE_WORKERS {
            let worker = console.clone();
            std::thread::spawn(move || index::work(worker));
        }
        ready(address);
        axum::serve(listener, router(console))
            .await
            .map_err(|e| ConsoleError::Runtime(e.to_string()))
    })
}

fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/worklist/rows", get(views::worklist_rows))
        .route("/live", get(views::live))
        .route("/go", get(go))
        .route("/mine", get(views::mine))
        .route("/brand", get(views::brand))
        .route("/gtins/{gtin}", get(views::gtin))
        .route("/shipments/{id}", get(shipment::page))
        .route("/shipments/{id}/proof.json", get(shipment::proof))
        .route("/shipments/{id}/confirm", post(actions::confirm))
        .route("/shipments/{id}/sign", post(actions::sign))
        .route("/assets/{name}", get(asset))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::limits::CONSOLE_FORM_BYTES_MAX,
        ))
        .layer(axum::middleware::from_fn_with_state(console.clone(), guard))
        .with_state(console)
}

/// Refuses a request that does not name this console as its host (a rebinding DNS name), and
/// sets the headers every answer carries.
async fn guard(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let port = console.authority.rsplit(':').next().unwrap_or_default();
    let ours = host == console.authority || host == format!("localhost:{port}");
    if !ours {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            format!("this console answers only as {}", console.authority),
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// An HTML page answer.
fn html_page(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// The page of a request the console cannot serve, with its status.
fn problem(console: &Console, status: StatusCode, title: &str, detail: &str) -> Response {
    let body = html::page(&console.frame, title, html::element("p", "problem", detail));
    (status, html_page(body)).into_response()
}

/// Runs `work` off the async threads (node calls block).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(work).await.ok()
}

async fn home(State(console): State<Arc<Console>>, query: Query<views::WorkFilter>) -> Response {
    if console.is(Role::Customs) {
        return views::worklist(State(console), query).await;
    }
    if console.is(Role::Brand) {
        return Redirect::to("/brand").into_response();
    }
    Redirect::to("/mine").into_response()
}

#[derive(Debug, serde::Deserialize)]
struct GoTo {
    shipment: String,
}

async fn go(State(console): State<Arc<Console>>, Query(to): Query<GoTo>) -> Response {
    match ShipmentId::new(to.shipment.trim()) {
        Ok(id) => {
            Redirect::to(&format!("/shipments/{}", html::segment(id.as_str()))).into_response()
        }
        Err(error) => problem(
            &console,
            StatusCode::BAD_REQUEST,
            "Not a shipment id",
            &format!("shipment: {error}"),
        ),
    }
}

/// A shipment id from the path, or the page saying why not.
fn shipment_id(console: &Console, id: &str) -> Result<ShipmentId, Box<Response>> {
    ShipmentId::new(id).map_err(|error| {
        Box::new(problem(
            console,
            StatusCode::BAD_REQUEST,
            "Not a shipment id",
            &format!("shipment: {error}"),
        ))
    })
}

async fn asset(Path(name): Path<String>) -> Response {
    let (kind, body): (&str, &str) = match name.as_str() {
        "console.css" => (
            "text/css; charset=utf-8",
            include_str!("assets/console.css"),
        ),
        "console.js" => (
            "text/javascript; charset=utf-8",
            include_str!("assets/console.js"),
        ),
        "icon.svg" => ("image/svg+xml", include_str!("assets/icon.svg")),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

async fn not_found(State(console): State<Arc<Console>>) -> Response {
    problem(
        &console,
        StatusCode::NOT_FOUND,
        "No such page",
        "The console has no page at this address.",
    )
}
