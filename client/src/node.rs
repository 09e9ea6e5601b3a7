//! A blocking HTTP client for a node's API. Every failure says what to do about it: an
//! unreachable node names the URL and the setting that chose it; a refusal carries the node's
//! error code and message unchanged.

use std::time::{Duration, Instant};

use waybill_protocol::api::{
    self, Accepted, BatchAnswer, BatchFiling, DeclarationFiling, DeclarationListing, Endpoint,
    ErrorAnswer, EventStatusAnswer, HeldParticulars, SerialListing, Status, StreamItem,
    StreamLagged,
};
use waybill_protocol::event::{Sgtin, SignedEvent};
use waybill_protocol::provenance::{ProvenancePage, ProvenanceProof};
use waybill_protocol::{Gtin, Hash, ShipmentId};

/// The largest answer read from a node (a provenance proof of 10,000 events fits).
pub const ANSWER_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// The longest history read page by page (about 1 GiB of events at most in memory).
pub const PROVENANCE_JOINED_EVENTS_MAX: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {reason} (is it running? set --node or WAYBILL_NODE)")]
    Unreachable { url: String, reason: String },
    #[error("the node refused ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{url}: {reason}")]
    UnknownNode { url: String, reason: String },
    #[error("the node's answer to {what} is not what the API promises: {reason}")]
    Malformed { what: String, reason: String },
    #[error(
        "event {id} was not committed within {waited:?}; `waybill status` shows the node's progress"
    )]
    NotCommitted { id: Hash, waited: Duration },
}

/// Where an event stands, as the node reports it.
pub use waybill_protocol::api::EventStatus;

#[derive(Debug, Clone)]
pub struct NodeClient {
    base: String,
    agent: ureq::Agent,
    tls: crate::tls::PinnedTlsConnector,
}

impl NodeClient {
    /// A node whose API is plain HTTP (`insecure_http`, local debugging), e.g.
    /// `http://127.0.0.1:7001`. An `https` URL needs [`NodeClient::connect`].
    pub fn new(base: &str) -> NodeClient {
        let none =
            crate::tls::PinnedTlsConnector::new([], None).expect("no configuration to build");
        NodeClient::with_tls(base, none)
    }

    /// A validator's API over TLS: it must present the `api_key` the genesis gives it, and the
    /// caller presents `identity` (an organisation signing key) if given. The validator is
    /// `validator` by name, or else the one whose `api_address` the URL names. An `http` URL
    /// is spoken plainly, to a node that runs with `insecure_http`.
    pub fn connect(
        base: &str,
        genesis: &waybill_protocol::Genesis,
        validator: Option<&str>,
        identity: Option<&waybill_protocol::Keypair>,
    ) -> Result<NodeClient, ClientError> {
        let unknown = |reason: String| ClientError::UnknownNode {
            url: base.to_string(),
            reason,
        };
        let Some(authority) = base.strip_prefix("https://") else {
            if base.starts_with("http://") {
                return Ok(NodeClient::new(base));
            }
            return Err(unknown("the node's URL must start with https:// (or http:// for a node run with insecure_http)".into()));
        };
        let authority = authority.split('/').next().unwrap_or_default();
        let found = match validator {
            Some(name) => genesis.validators.iter().find(|v| v.name.as_str() == name),
            None => genesis
                .validators
                .iter()
                .find(|v| v.api_address.as_str() == authority),
        };
        let Some(found) = found else {
            return Err(unknown(match validator {
                Some(name) => format!("no validator named {name} in the genesis"),
                None => format!(
                    "no validator in the genesis has the api_address {authority}; name the one you mean with --validator (WAYBILL_VALIDATOR)"
                ),
            }));
        };
        let connector =
            crate::tls::PinnedTlsConnector::new([(authority.to_string(), found.api_key)], identity)
                .map_err(|error| unknown(error.to_string()))?;
        Ok(NodeClient::with_tls(base, connector))
    }

    fn with_tls(base: &str, tls: crate::tls::PinnedTlsConnector) -> NodeClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        NodeClient {
            base: base.trim_end_matches('/').to_string(),
            agent: crate::tls::agent(config, tls.clone()),
            tls,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn answer(
        &self,
        what: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, ClientError> {
        let mut response = result.map_err(|error| ClientError::Unreachable {
            url: self.base.clone(),
            reason: error.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(ANSWER_BYTES_MAX)
            .read_to_string()
            .map_err(|error| ClientError::Malformed {
                what: what.to_string(),
                reason: error.to_string(),
            })?;
        Ok(Reply {
            what: what.to_string(),
            status,
            text,
        })
    }

    fn get(&self, path: &str) -> Result<Reply, ClientError> {
        let url = format!("{}{path}", self.base);
        self.answer(&format!("GET {path}"), self.agent.get(&url).call())
    }

    /// `GET /v1/status`: liveness, and the member status if this caller may see it.
    pub fn status(&self) -> Result<Status, ClientError> {
        self.get(&Endpoint::Status.path(&[]))?.expect(200)
    }

    /// POSTs `body` as JSON to `endpoint`; the node's acceptance.
    fn post(
        &self,
        endpoint: Endpoint,
        body: &impl serde::Serialize,
    ) -> Result<Accepted, ClientError> {
        self.post_reply(endpoint, body)?.expect(202)
    }

    /// POSTs `body` as JSON to `endpoint`; the node's answer, whatever its status.
    fn post_reply(
        &self,
        endpoint: Endpoint,
        body: &impl serde::Serialize,
    ) -> Result<Reply, ClientError> {
        let path = endpoint.path(&[]);
        let url = format!("{}{path}", self.base);
        let bytes = serde_json::to_vec(body).map_err(|error| ClientError::Malformed {
            what: format!("the body for POST {path}"),
            reason: error.to_string(),
        })?;
        let result = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(&bytes[..]);
        self.answer(&format!("POST {path}"), result)
    }

    /// Submits signed events as one batch (`POST /v1/events/batch`): each is admitted on its
    /// own, and the answer has a result per event, in order.
    pub fn submit_batch(&self, events: &[SignedEvent]) -> Result<BatchAnswer, ClientError> {
        let filing = BatchFiling {
            events: events.to_vec(),
            particulars: Vec::new(),
        };
        let reply = self.post_reply(Endpoint::SubmitBatch, &filing)?;
        match reply.status {
            202 | 207 => reply.parse(),
            // Every event refused: the answer still says why, one by one.
            400..=599 if reply.text.contains("\"results\"") => reply.parse(),
            _ => Err(reply.refusal()),
        }
    }

    /// Submits one signed event; its id once the node accepted it.
    pub fn submit(&self, event: &SignedEvent) -> Result<Hash, ClientError> {
        Ok(self.post(Endpoint::SubmitEvent, event)?.id)
    }

    /// Files a declaration: its signed event with the particulars it commits to, at a node
    /// entitled to hold them (customs, or the declaring platform's); the event's id.
    pub fn submit_declaration(
        &self,
        event: &SignedEvent,
        particulars: &waybill_protocol::particulars::SealedParticulars,
    ) -> Result<Hash, ClientError> {
        let filing = DeclarationFiling {
            event: event.clone(),
            particulars: particulars.clone(),
        };
        Ok(self.post(Endpoint::SubmitDeclaration, &filing)?.id)
    }

    /// What the node gives this caller of a shipment's declaration particulars (unverified:
    /// `crate::disclosure::disclose` opens them against the proven commitment).
    pub fn particulars(
        &self,
        shipment: &ShipmentId,
    ) -> Result<crate::disclosure::ParticularsAnswer, ClientError> {
        use crate::disclosure::ParticularsAnswer;
        let reply = self.get(&Endpoint::ShipmentParticulars.path(&[shipment.as_str()]))?;
        let answer: api::ParticularsAnswer = match reply.status {
            200 => reply.parse()?,
            403 | 404 | 421 => {
                return Ok(ParticularsAnswer::NotGiven {
                    reason: reply.refusal().to_string(),
                });
            }
            _ => return Err(reply.refusal()),
        };
        Ok(match answer.held {
            HeldParticulars::Disclosed { sealed } => ParticularsAnswer::Disclosed(sealed),
            HeldParticulars::DisclosedInPart { parts, grant } => {
                ParticularsAnswer::DisclosedInPart { parts, grant }
            }
            HeldParticulars::Purged => ParticularsAnswer::Purged,
            HeldParticulars::NotHeld { message } => ParticularsAnswer::NotGiven { reason: message },
        })
    }

    /// `GET path`'s answer, or `None` where the node answers 404 (it has no such thing yet).
    fn get_found<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, ClientError> {
        let reply = self.get(path)?;
        if reply.status == 404 {
            return Ok(None);
        }
        reply.expect(200).map(Some)
    }

    /// Where event `id` is; `None` if the node does not know it.
    pub fn event_state(&self, id: &Hash) -> Result<Option<EventStatus>, ClientError> {
        let answer: Option<EventStatusAnswer> =
            self.get_found(&Endpoint::EventStatus.path(&[&id.to_string()]))?;
        Ok(answer.map(|answer| answer.state))
    }

    /// `GET /v1/blocks/{height}`, unverified (check its certificate against the genesis);
    /// `None` if the node has not committed that height.
    pub fn block(
        &self,
        height: u64,
    ) -> Result<Option<waybill_protocol::api::BlockAnswer>, ClientError> {
        self.get_found(&Endpoint::Block.path(&[&height.to_string()]))
    }

    /// `GET /v1/feed/{height}`: the block's events on shipments this caller may read, as the
    /// node's word of where to look (verify each shipment's provenance); `None` if the node has
    /// not committed that height.
    pub fn feed(
        &self,
        height: u64,
    ) -> Result<Option<waybill_protocol::api::FeedAnswer>, ClientError> {
        self.get_found(&Endpoint::Feed.path(&[&height.to_string()]))
    }

    /// Polls until event `id` is committed (applied or rejected) or `limit` passes.
    pub fn wait_committed(&self, id: &Hash, limit: Duration) -> Result<EventStatus, ClientError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(state @ (EventStatus::Committed { .. } | EventStatus::Rejected { .. })) =
                self.event_state(id)?
            {
                return Ok(state);
            }
            if Instant::now() >= deadline {
                return Err(ClientError::NotCommitted {
                    id: *id,
                    waited: limit,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Follows the node's stream of committed events (one shipment's, or all), calling
    /// `on_event` with each until it returns false or the node closes the stream. A lagged
    /// subscriber gets the node's `lagged` notice as an event with `"lagged": true`.
    pub fn follow(
        &self,
        shipment: Option<&ShipmentId>,
        mut on_item: impl FnMut(StreamItem) -> bool,
    ) -> Result<(), ClientError> {
        use std::io::BufRead;
        let path = Endpoint::Stream.path(&[]);
        let url = match shipment {
            Some(id) => format!("{}{path}?shipment={id}", self.base),
            None => format!("{}{path}", self.base),
        };
        // No overall timeout: a stream lasts as long as the caller wants it.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(None)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build();
        let agent = crate::tls::agent(config, self.tls.clone());
        let response = agent
            .get(&url)
            .call()
            .map_err(|error| ClientError::Unreachable {
                url: self.base.clone(),
                reason: error.to_string(),
            })?;
        if response.status().as_u16() != 200 {
            return Err(self.answer("GET /v1/stream", Ok(response))?.refusal());
        }
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        let mut lagged = false;
        for line in reader.lines() {
            let line = line.map_err(|error| ClientError::Unreachable {
                url: self.base.clone(),
                reason: format!("the stream broke: {error}"),
            })?;
            if line == "event: lagged" {
                lagged = true;
            } else if line.starts_with("event:") {
                lagged = false;
            } else if let Some(data) = line.strip_prefix("data:") {
                let item = streamed(data.trim(), lagged)?;
                if !on_item(item) {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Serials of `gtin` that applied events named: the node's word (verify each).
    pub fn serials_of_gtin(&self, gtin: &Gtin) -> Result<SerialListing, ClientError> {
        self.get(&Endpoint::GtinSerials.path(&[gtin.as_str()]))?
            .expect(200)
    }

    /// Shipments declared to a consignee since `since_ms`: the node's word (verify each).
    pub fn declarations_to(
        &self,
        name: &str,
        country: &str,
        since_ms: u64,
    ) -> Result<DeclarationListing, ClientError> {
        let path = Endpoint::ConsigneeDeclarations.path(&[]);
        let url = format!("{}{path}", self.base);
        let result = self
            .agent
            .get(&url)
            .query("name", name)
            .query("country", country)
            .query("since_ms", since_ms.to_string())
            .call();
        self.answer(&format!("GET {path}"), result)?.expect(200)
    }

    /// The declarations of a party customs found against since `since_ms`: by `("registration",
    /// R)` or `("member", ORG)`. The node's word: verify each shipment.
    pub fn adverse_of(
        &self,
        party: (&str, &str),
        since_ms: u64,
    ) -> Result<DeclarationListing, ClientError> {
        let path = Endpoint::PartyAdverse.path(&[]);
        let url = format!("{}{path}", self.base);
        let result = self
            .agent
            .get(&url)
            .query(party.0, party.1)
            .query("since_ms", since_ms.to_string())
            .call();
        self.answer(&format!("GET {path}"), result)?.expect(200)
    }

    /// The whole history's proof: in one answer, or, for a history longer than one answer may
    /// carry, page by page as of one block, joined back into the one proof.
    fn provenance(&self, path: &str) -> Result<ProvenanceProof, ClientError> {
        let reply = self.get(path)?;
        match reply.status {
            // 404 carries the proof that the key was never recorded, unless the route itself
            // was not found.
            200 => reply.parse(),
            404 if reply.error_code().is_none() => reply.parse(),
            422 if reply.error_code().as_deref() == Some("history_too_long") => {
                self.provenance_in_pages(path)
            }
            _ => Err(reply.refusal()),
        }
    }

    fn provenance_in_pages(&self, path: &str) -> Result<ProvenanceProof, ClientError> {
        self.pages_after(path, 0)
    }

    /// A shipment's events after the first `known`, with the proof of its whole history as of
    /// one block (unverified: check it with `ProvenanceProof::verify_after`); `None` if the
    /// node has certified nothing after them yet.
    pub fn shipment_provenance_after(
        &self,
        shipment: &ShipmentId,
        known: u64,
    ) -> Result<Option<ProvenanceProof>, ClientError> {
        let path = Endpoint::ShipmentProvenance.path(&[shipment.as_str()]);
        match self.pages_after(&path, known) {
            Err(ClientError::Refused { code, .. }) if code == "page_out_of_range" => Ok(None),
            other => other.map(Some),
        }
    }

    fn pages_after(&self, path: &str, known: u64) -> Result<ProvenanceProof, ClientError> {
        let mut pages: Vec<ProvenancePage> = Vec::new();
        let mut next = known.saturating_add(1);
        loop {
            let height = pages
                .first()
                .map(|p| format!("&height={}", p.proof.header.height));
            let page_path = format!("{path}/pages?from={next}{}", height.unwrap_or_default());
            let page: ProvenancePage = self.get(&page_path)?.expect(200)?;
            let count = page.proof.record.map_or(0, |r| r.count);
            let joined = count.saturating_sub(known);
            if joined > PROVENANCE_JOINED_EVENTS_MAX || page.proof.events.is_empty() {
                return Err(ClientError::Malformed {
                    what: page_path,
                    reason: format!(
                        "a page of {} events of a history of {count} (at most {PROVENANCE_JOINED_EVENTS_MAX} are read)",
                        page.proof.events.len()
                    ),
                });
            }
            next = page.first + page.proof.events.len() as u64;
            pages.push(page);
            if next > count {
                break;
            }
        }
        ProvenancePage::join_after(pages, known).map_err(|error| ClientError::Malformed {
            what: format!("the pages of {path}"),
            reason: error.to_string(),
        })
    }

    /// The proof bundle for a shipment (unverified: check it with `ProvenanceProof::verify`).
    pub fn shipment_provenance(
        &self,
        shipment: &ShipmentId,
    ) -> Result<ProvenanceProof, ClientError> {
        self.provenance(&Endpoint::ShipmentProvenance.path(&[shipment.as_str()]))
    }

    /// The proof bundle of a GTIN: every event naming one of its serials.
    pub fn gtin_provenance(&self, gtin: &Gtin) -> Result<ProvenanceProof, ClientError> {
        self.provenance(&Endpoint::GtinProvenance.path(&[gtin.as_str()]))
    }

    /// The proof bundle of an operator's accreditations, by registration.
    pub fn operator_provenance(
        &self,
        registration: &waybill_protocol::Reference,
    ) -> Result<ProvenanceProof, ClientError> {
        self.provenance(&Endpoint::OperatorAccreditations.path(&[registration.as_str()]))
    }

    /// The proof bundle of a member's accreditations.
    pub fn member_provenance(
        &self,
        org: &waybill_protocol::OrgId,
    ) -> Result<ProvenanceProof, ClientError> {
        self.provenance(&Endpoint::MemberAccreditations.path(&[org.as_str()]))
    }

    /// The proof bundle for a serialised item.
    pub fn serial_provenance(&self, serial: &Sgtin) -> Result<ProvenanceProof, ClientError> {
        self.provenance(
            &Endpoint::SerialProvenance.path(&[serial.gtin.as_str(), serial.serial.as_str()]),
        )
    }
}

/// A node's answer, read whole (bounded) and parsed into the type the contract names for it.
#[derive(Debug)]
struct Reply {
    what: String,
    status: u16,
    text: String,
}

impl Reply {
    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_str(&self.text).map_err(|error| ClientError::Malformed {
            what: self.what.clone(),
            reason: error.to_string(),
        })
    }

    /// The answer the contract promises for `status`, or the node's refusal.
    fn expect<T: serde::de::DeserializeOwned>(&self, status: u16) -> Result<T, ClientError> {
        if self.status == status {
            self.parse()
        } else {
            Err(self.refusal())
        }
    }

    /// The node's error code, if the answer is an error in the documented shape.
    fn error_code(&self) -> Option<String> {
        serde_json::from_str::<ErrorAnswer>(&self.text)
            .ok()
            .map(|e| e.error)
    }

    fn refusal(&self) -> ClientError {
        match serde_json::from_str::<ErrorAnswer>(&self.text) {
            Ok(answer) => ClientError::Refused {
                status: self.status,
                code: answer.error,
                message: answer.message,
            },
            Err(error) => ClientError::Malformed {
                what: self.what.clone(),
                reason: format!("status {} without an error answer: {error}", self.status),
            },
        }
    }
}

/// One `data:` line of the stream, of SSE event `lagged` or `committed`.
fn streamed(data: &str, lagged: bool) -> Result<StreamItem, ClientError> {
    let malformed = |error: serde_json::Error| ClientError::Malformed {
        what: "a streamed event".into(),
        reason: error.to_string(),
    };
    Ok(if lagged {
        StreamItem::Lagged(serde_json::from_str::<StreamLagged>(data).map_err(malformed)?)
    } else {
        StreamItem::Committed(Box::new(serde_json::from_str(data).map_err(malformed)?))
    })
}
