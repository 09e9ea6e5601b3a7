//! The node's HTTP contract: every route with the statuses it may answer ([`ROUTES`]), and the
//! request and answer bodies, as types the node serialises and the SDK parses. Neither side
//! spells a field name or a path of its own; `openapi.json` documents the same table and a
//! contract test holds the three together (routes ⇄ OpenAPI ⇄ these types).
//!
//! Provenance answers are [`crate::provenance::ProvenanceProof`] and
//! [`crate::provenance::ProvenancePage`]; a block's header and certificate are the chain's own
//! types. Everything here is the node's word until a proof says otherwise.

use serde::{Deserialize, Serialize};

use crate::block::{BlockHeader, CommitCertificate};
use crate::execution::{EventOutcome, Rejection, ShipmentState};
use crate::particulars::{DisclosedParts, SealedParticulars};
use crate::{ChainId, CurrencyCode, Gtin, Hash, OrgId, PublicKey, Serial, ShipmentId, SignedEvent};

/// An HTTP method the API takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What a route is for; the node's router has one handler per endpoint, and only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    SubmitEvent,
    SubmitDeclaration,
    SubmitBatch,
    EventStatus,
    ShipmentState,
    ShipmentProvenance,
    ShipmentProvenancePage,
    ShipmentParticulars,
    SerialProvenance,
    SerialProvenancePage,
    GtinSerials,
    GtinProvenance,
    GtinProvenancePage,
    OperatorAccreditations,
    MemberAccreditations,
    ConsigneeDeclarations,
    PartyAdverse,
    LatestBlock,
    Block,
    Status,
    Evidence,
    Stream,
    OpenApi,
    Feed,
}

/// One route: its method and path (`{name}` for a path segment), every status it may answer,
/// and the OpenAPI schema of its success answer (`None` where it is not one of these types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub endpoint: Endpoint,
    pub method: Method,
    pub path: &'static str,
    pub statuses: &'static [u16],
    pub answer: Option<&'static str>,
}

// Every route but `/openapi.json` may answer 401 (no credentials where they are needed), 403
// (the caller's role reads nothing there), 405 (wrong method) and 500 (a failure inside the
// node).
const SUBMIT: &[u16] = &[202, 400, 401, 403, 405, 408, 409, 413, 422, 500, 503, 507];
const PROOF: &[u16] = &[200, 400, 401, 403, 404, 405, 422, 500, 503];
const PAGE: &[u16] = &[200, 400, 401, 403, 404, 405, 410, 500, 503];

/// Every route the node serves, at its endpoint's position.
pub const ROUTES: [Route; 24] = [
    route(
        Endpoint::SubmitEvent,
        Method::Post,
        "/v1/events",
        SUBMIT,
        Some("Accepted"),
    ),
    route(
        Endpoint::SubmitDeclaration,
        Method::Post,
        "/v1/declarations",
        &[
            202, 400, 401, 403, 405, 408, 409, 413, 421, 422, 500, 503, 507,
        ],
        Some("Accepted"),
    ),
    route(
        Endpoint::SubmitBatch,
        Method::Post,
        "/v1/events/batch",
        &[
            202, 207, 400, 401, 403, 405, 408, 409, 413, 421, 422, 500, 503, 507,
        ],
        Some("BatchAnswer"),
    ),
    route(
        Endpoint::EventStatus,
        Method::Get,
        "/v1/events/{id}",
        &[200, 400, 401, 403, 404, 405, 500],
        Some("EventStatusAnswer"),
    ),
    route(
        Endpoint::ShipmentState,
        Method::Get,
        "/v1/shipments/{id}",
        &[200, 400, 401, 403, 404, 405, 500],
        Some("ShipmentAnswer"),
    ),
    route(
        Endpoint::ShipmentProvenance,
        Method::Get,
        "/v1/shipments/{id}/provenance",
        PROOF,
        None,
    ),
    route(
        Endpoint::ShipmentProvenancePage,
        Method::Get,
        "/v1/shipments/{id}/provenance/pages",
        PAGE,
        None,
    ),
    route(
        Endpoint::ShipmentParticulars,
        Method::Get,
        "/v1/shipments/{id}/particulars",
        &[200, 400, 401, 403, 404, 405, 500],
        Some("ParticularsAnswer"),
    ),
    route(
        Endpoint::SerialProvenance,
        Method::Get,
        "/v1/serials/{gtin}/{serial}/provenance",
        PROOF,
        None,
    ),
    route(
        Endpoint::SerialProvenancePage,
        Method::Get,
        "/v1/serials/{gtin}/{serial}/provenance/pages",
        PAGE,
        None,
    ),
    route(
        Endpoint::GtinSerials,
        Method::Get,
        "/v1/gtins/{gtin}/serials",
        &[200, 400, 401, 403, 405, 500],
        Some("SerialListing"),
    ),
    route(
        Endpoint::GtinProvenance,
        Method::Get,
        "/v1/gtins/{gtin}/provenance",
        PROOF,
        None,
    ),
    route(
        Endpoint::GtinProvenancePage,
        Method::Get,
        "/v1/gtins/{gtin}/provenance/pages",
        PAGE,
        None,
    ),
    route(
        Endpoint::OperatorAccreditations,
        Method::Get,
        "/v1/operators/{registration}/accreditations",
        PROOF,
        None,
    ),
    route(
        Endpoint::MemberAccreditations,
        Method::Get,
        "/v1/members/{org}/accreditations",
        PROOF,
        None,
    ),
    route(
        Endpoint::ConsigneeDeclarations,
        Method::Get,
        "/v1/consignees/declarations",
        &[200, 400, 401, 403, 405, 421, 500],
        Some("DeclarationListing"),
    ),
    route(
        Endpoint::PartyAdverse,
        Method::Get,
        "/v1/parties/adverse",
        &[200, 400, 401, 403, 405, 421, 500],
        Some("DeclarationListing"),
    ),
    route(
        Endpoint::LatestBlock,
        Method::Get,
        "/v1/blocks/latest",
        &[200, 401, 403, 404, 405, 500],
        Some("BlockAnswer"),
    ),
    route(
        Endpoint::Block,
        Method::Get,
        "/v1/blocks/{height}",
        &[200, 400, 401, 403, 404, 405, 500],
        Some("BlockAnswer"),
    ),
    route(
        Endpoint::Status,
        Method::Get,
        "/v1/status",
        &[200, 401, 403, 405, 500],
        Some("Status"),
    ),
    route(
        Endpoint::Evidence,
        Method::Get,
        "/v1/evidence",
        &[200, 401, 403, 405, 500],
        Some("EvidenceAnswer"),
    ),
    route(
        Endpoint::Stream,
        Method::Get,
        "/v1/stream",
        &[200, 400, 401, 403, 405, 500, 503],
        None,
    ),
    route(
        Endpoint::OpenApi,
        Method::Get,
        "/openapi.json",
        &[200, 405],
        None,
    ),
    // Never 403: a member gets the part of the block it may read, perhaps none of it.
    route(
        Endpoint::Feed,
        Method::Get,
        "/v1/feed/{height}",
        &[200, 400, 401, 404, 405, 500],
        Some("FeedAnswer"),
    ),
];

// An endpoint's route is found by position.
const _: () = {
    let mut i = 0;
    while i < ROUTES.len() {
        assert!(ROUTES[i].endpoint as usize == i);
        i += 1;
    }
};

const fn route(
    endpoint: Endpoint,
    method: Method,
    path: &'static str,
    statuses: &'static [u16],
    answer: Option<&'static str>,
) -> Route {
    Route {
        endpoint,
        method,
        path,
        statuses,
        answer,
    }
}

impl Endpoint {
    pub fn route(self) -> &'static Route {
        &ROUTES[self as usize]
    }

    /// The path with its `{name}` segments filled, in order, by `segments` (each already a
    /// valid identifier: shipment ids, GTINs, serials and heights need no escaping).
    pub fn path(self, segments: &[&str]) -> String {
        let mut given = segments.iter();
        let filled: Vec<&str> = self
            .route()
            .path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    given.next().copied().unwrap_or(part)
                } else {
                    part
                }
            })
            .collect();
        filled.join("/")
    }
}

/// Every refusal: a stable code to act on and a message naming the field or the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: String,
    pub message: String,
}

/// `202` to an event or a declaration: its id, and the declaration's particulars commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub id: Hash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub particulars: Option<Hash>,
}

/// `POST /v1/declarations`: the signed declaration and the particulars it commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclarationFiling {
    pub event: SignedEvent,
    pub particulars: SealedParticulars,
}

/// `POST /v1/events/batch`, as a client sends it (the node scans it without building it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchFiling {
    pub events: Vec<SignedEvent>,
    /// The particulars of the batch's declarations, in any order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub particulars: Vec<SealedParticulars>,
}

/// A batch's answer: `202` if every event was accepted, `207` if some were not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub accepted: usize,
    pub refused: usize,
    pub results: Vec<BatchResult>,
}

/// One batch event's result: its id if accepted, else the status and error it would have had
/// alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    pub index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `GET /v1/events/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventStatusAnswer {
    pub id: Hash,
    pub state: EventStatus,
}

/// Where an event is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EventStatus {
    Pending,
    Committed {
        height: u64,
        index: u32,
    },
    Rejected {
        height: u64,
        index: u32,
        /// The rejection in words.
        reason: String,
        rejection: Rejection,
    },
}

/// `GET /v1/shipments/{id}`: the shipment's state as of `height` (the node's word; the
/// provenance proof is the evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentAnswer {
    pub height: u64,
    pub state: ShipmentState,
}

/// `GET /v1/shipments/{id}/particulars`: what this node gives this caller of the declaration's
/// private particulars, to be opened against `particulars`, the proven commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticularsAnswer {
    pub shipment: ShipmentId,
    pub particulars: Hash,
    #[serde(flatten)]
    pub held: HeldParticulars,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HeldParticulars {
    Disclosed {
        sealed: Box<SealedParticulars>,
    },
    DisclosedInPart {
        parts: Box<DisclosedParts>,
        /// The genesis grant that gives these parts, in words.
        grant: String,
    },
    Purged,
    NotHeld {
        message: String,
    },
}

/// A listing is the node's word: `note` says to verify each member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialListing {
    pub gtin: Gtin,
    pub serials: Vec<Serial>,
    pub truncated: bool,
    pub note: String,
}

/// `GET /v1/consignees/declarations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationListing {
    pub declarations: Vec<DeclaredShipment>,
    pub truncated: bool,
    pub note: String,
}

/// One declaration in the consignee listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct DeclaredShipment {
    pub shipment: ShipmentId,
    pub event_time_ms: u64,
    pub value_minor: u64,
    pub currency: CurrencyCode,
}

/// The text of every listing's `note`.
pub const LISTING_NOTE: &str =
    "a listing is this node's word, not a proof: fetch and verify each member's provenance";

/// `GET /v1/blocks/{height}` and `/v1/blocks/latest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAnswer {
    pub hash: Hash,
    pub header: BlockHeader,
    pub certificate: CommitCertificate,
    pub events: Vec<BlockEntry>,
}

/// The text of every feed's `note`.
pub const FEED_NOTE: &str = "the events of this block on shipments you may read: where to look, not a proof; fetch and verify each shipment's provenance";

/// `GET /v1/feed/{height}`: a committed block's events on the shipments the caller may read
/// (every event for a whole-network reader), by the same entitlement check as a provenance
/// request, so it tells a member nothing it could not ask for shipment by shipment. How a
/// member's systems (the console) learn which of its shipments changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedAnswer {
    pub height: u64,
    pub block_hash: Hash,
    pub events: Vec<BlockEntry>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    pub index: u32,
    pub id: Hash,
    pub event: SignedEvent,
    pub outcome: Option<EventOutcome>,
}

/// A committed event, as `/v1/stream` sends it (SSE event `committed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedEvent {
    pub height: u64,
    pub index: u32,
    pub id: Hash,
    pub event: SignedEvent,
    #[serde(flatten)]
    pub outcome: EventOutcome,
}

/// The stream's last word to a subscriber that fell behind (SSE event `lagged`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamLagged {
    pub missed_blocks: u64,
    pub message: String,
}

/// One item of `/v1/stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    Committed(Box<CommittedEvent>),
    Lagged(StreamLagged),
}

/// `GET /v1/status`: liveness for anyone; `member` for callers who see the full status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub height: u64,
    pub ready: bool,
    pub syncing: bool,
    pub healthy: bool,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub chain_id: ChainId,
    pub genesis_hash: Hash,
    pub validator: StatusValidator,
    pub round: u64,
    pub disk: DiskStatus,
    pub mempool: MempoolStatus,
    pub peers: Vec<PeerInfo>,
    pub validators: Vec<ValidatorEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusValidator {
    pub index: usize,
    pub name: OrgId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskStatus {
    pub free_bytes: u64,
    pub min_bytes: u64,
    pub low: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MempoolStatus {
    pub events: usize,
    pub bytes: usize,
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub validator: Option<String>,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorEntry {
    pub index: usize,
    pub name: OrgId,
    pub operator: OrgId,
    pub node_key: PublicKey,
}

/// `GET /v1/evidence`: double signs this node has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceAnswer {
    pub evidence: Vec<EvidenceEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceEntry {
    pub validator: u16,
    pub height: u64,
    /// Both signed messages, in words.
    pub evidence: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_has_one_route_and_paths_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for route in &ROUTES {
            assert_eq!(route.endpoint.route(), route, "{:?}", route.endpoint);
            assert!(seen.insert((route.method, route.path)), "{}", route.path);
            assert!(route.statuses.contains(&405), "{}: 405", route.path);
            assert!(
                route.statuses.windows(2).all(|w| w[0] < w[1]),
                "{}",
                route.path
            );
        }
    }

    #[test]
    fn a_path_is_filled_segment_by_segment() {
        assert_eq!(
            Endpoint::SerialProvenancePage.path(&["04012345000016", "SN1"]),
            "/v1/serials/04012345000016/SN1/provenance/pages"
        );
        assert_eq!(Endpoint::Status.path(&[]), "/v1/status");
    }

    #[test]
    fn a_liveness_status_has_no_member_fields_and_reads_back() {
        let status = Status {
            height: 7,
            ready: true,
            syncing: false,
            healthy: true,
            member: None,
        };
        let text = serde_json::to_string(&status).expect("encodes");
        assert_eq!(
            text,
            r#"{"height":7,"ready":true,"syncing":false,"healthy":true}"#
        );
        assert_eq!(
            serde_json::from_str::<Status>(&text).expect("decodes"),
            status
        );
    }
}
