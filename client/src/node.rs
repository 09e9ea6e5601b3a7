//! A blocking HTTP client for a node's API. Every failure says what to do about it: an
//! unreachable node names the URL and the setting that chose it; a refusal carries the node's
//! error code and message unchanged.

use std::time::{Duration, Instant};

use serde_json::Value;
use waybill_protocol::event::{Sgtin, SignedEvent};
use waybill_protocol::provenance::{ProvenancePage, ProvenanceProof};
use waybill_protocol::{Hash, ShipmentId};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventState {
    Pending,
    Committed {
        height: u64,
        index: u32,
    },
    Rejected {
        height: u64,
        index: u32,
        reason: String,
    },
}

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
    ) -> Result<(u16, Value), ClientError> {
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
        let body: Value = serde_json::from_str(&text).map_err(|error| ClientError::Malformed {
            what: what.to_string(),
            reason: format!("not JSON: {error}"),
        })?;
        Ok((status, body))
    }

    fn get(&self, path: &str) -> Result<(u16, Value), ClientError> {
        let url = format!("{}{path}", self.base);
        self.answer(path, self.agent.get(&url).call())
    }

    fn refused(status: u16, body: &Value) -> ClientError {
        ClientError::Refused {
            status,
            code: body["error"].as_str().unwrap_or("unknown").to_string(),
            message: body["message"].as_str().unwrap_or("").to_string(),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<T, ClientError> {
        serde_json::from_value(value).map_err(|error| ClientError::Malformed {
            what: what.to_string(),
            reason: error.to_string(),
        })
    }

    /// `GET /v1/status`, as JSON.
    pub fn status(&self) -> Result<Value, ClientError> {
        match self.get("/v1/status")? {
            (200, body) => Ok(body),
            (status, body) => Err(Self::refused(status, &body)),
        }
    }

    /// POSTs `body` as JSON to `path`; the accepted event's id.
    fn post_for_id(&self, path: &str, body: &impl serde::Serialize) -> Result<Hash, ClientError> {
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
        match self.answer(&format!("POST {path}"), result)? {
            (202, body) => Self::parse("the accepted event's id", body["id"].clone()),
            (status, body) => Err(Self::refused(status, &body)),
        }
    }

    /// Submits one signed event; its id once the node accepted it.
    pub fn submit(&self, event: &SignedEvent) -> Result<Hash, ClientError> {
        self.post_for_id("/v1/events", event)
    }

    /// Files a declaration: its signed event with the particulars it commits to, at a node
    /// entitled to hold them (customs, or the declaring platform's); the event's id.
    pub fn submit_declaration(
        &self,
        event: &SignedEvent,
        particulars: &waybill_protocol::particulars::SealedParticulars,
    ) -> Result<Hash, ClientError> {
        self.post_for_id(
            "/v1/declarations",
            &serde_json::json!({"event": event, "particulars": particulars}),
        )
    }

    /// What the node gives this caller of a shipment's declaration particulars (unverified:
    /// `crate::disclosure::disclose` opens them against the proven commitment).
    pub fn particulars(
        &self,
        shipment: &ShipmentId,
    ) -> Result<crate::disclosure::ParticularsAnswer, ClientError> {
        use crate::disclosure::ParticularsAnswer;
        match self.get(&format!("/v1/shipments/{shipment}/particulars"))? {
            (200, body) => match body["state"].as_str() {
                Some("disclosed") => Ok(ParticularsAnswer::Disclosed(Box::new(Self::parse(
                    "the disclosed particulars",
                    body["sealed"].clone(),
                )?))),
                Some("disclosed_in_part") => Ok(ParticularsAnswer::DisclosedInPart {
                    parts: Box::new(Self::parse(
                        "the particulars disclosed in part",
                        body["parts"].clone(),
                    )?),
                    grant: body["grant"].as_str().unwrap_or("a grant").to_string(),
                }),
                Some("purged") => Ok(ParticularsAnswer::Purged),
                _ => Ok(ParticularsAnswer::NotGiven {
                    reason: body["message"]
                        .as_str()
                        .unwrap_or("the node holds no copy")
                        .to_string(),
                }),
            },
            (status @ (403 | 404 | 421), body) => Ok(ParticularsAnswer::NotGiven {
                reason: Self::refused(status, &body).to_string(),
            }),
            (status, body) => Err(Self::refused(status, &body)),
        }
    }

    /// Where event `id` is; `None` if the node does not know it.
    pub fn event_state(&self, id: &Hash) -> Result<Option<EventState>, ClientError> {
        let (status, body) = self.get(&format!("/v1/events/{id}"))?;
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(Self::refused(status, &body));
        }
        let state = &body["state"];
        let number = |field: &str| state[field].as_u64().unwrap_or(0);
        Ok(Some(match state["status"].as_str() {
            Some("pending") => EventState::Pending,
            Some("committed") => EventState::Committed {
                height: number("height"),
                index: number("index") as u32,
            },
            Some("rejected") => EventState::Rejected {
                height: number("height"),
                index: number("index") as u32,
                reason: state["reason"].as_str().unwrap_or("").to_string(),
            },
            _ => {
                return Err(ClientError::Malformed {
                    what: "an event's state".into(),
                    reason: format!("unknown status in {state}"),
                });
            }
        }))
    }

    /// Polls until event `id` is committed (applied or rejected) or `limit` passes.
    pub fn wait_committed(&self, id: &Hash, limit: Duration) -> Result<EventState, ClientError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(state @ (EventState::Committed { .. } | EventState::Rejected { .. })) =
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
        mut on_event: impl FnMut(Value) -> bool,
    ) -> Result<(), ClientError> {
        use std::io::BufRead;
        let url = match shipment {
            Some(id) => format!("{}/v1/stream?shipment={id}", self.base),
            None => format!("{}/v1/stream", self.base),
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
        let status = response.status().as_u16();
        if status != 200 {
            let (status, body) = self.answer("GET /v1/stream", Ok(response))?;
            return Err(Self::refused(status, &body));
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
                let mut value: Value =
                    serde_json::from_str(data.trim()).map_err(|error| ClientError::Malformed {
                        what: "a streamed event".into(),
                        reason: error.to_string(),
                    })?;
                if lagged {
                    value["lagged"] = Value::Bool(true);
                }
                if !on_event(value) {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Serials of `gtin` that applied events named: the node's word (verify each), and whether
    /// the node cut the list short.
    pub fn serials_of_gtin(
        &self,
        gtin: &waybill_protocol::Gtin,
    ) -> Result<(Vec<waybill_protocol::Serial>, bool), ClientError> {
        match self.get(&format!("/v1/gtins/{gtin}/serials"))? {
            (200, body) => Ok((
                Self::parse("the serial listing", body["serials"].clone())?,
                body["truncated"] == true,
            )),
            (status, body) => Err(Self::refused(status, &body)),
        }
    }

    /// Shipments declared to a consignee since `since_ms`, as (shipment, value, currency): the
    /// node's word (verify each).
    pub fn declarations_to(
        &self,
        name: &str,
        country: &str,
        since_ms: u64,
    ) -> Result<Vec<(ShipmentId, u64, String)>, ClientError> {
        let url = format!("{}/v1/consignees/declarations", self.base);
        let result = self
            .agent
            .get(&url)
            .query("name", name)
            .query("country", country)
            .query("since_ms", since_ms.to_string())
            .call();
        match self.answer("GET /v1/consignees/declarations", result)? {
            (200, body) => {
                let list = body["declarations"].as_array().cloned().unwrap_or_default();
                list.into_iter()
                    .map(|d| {
                        Ok((
                            Self::parse("a listed shipment", d["shipment"].clone())?,
                            d["value_minor"].as_u64().unwrap_or(u64::MAX),
                            d["currency"].as_str().unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            }
            (status, body) => Err(Self::refused(status, &body)),
        }
    }

    /// The whole history's proof: in one answer, or, for a history longer than one answer may
    /// carry, page by page as of one block, joined back into the one proof.
    fn provenance(&self, path: &str) -> Result<ProvenanceProof, ClientError> {
        match self.get(path)? {
            // 404 carries the proof that the key was never recorded.
            (200 | 404, body) if body.get("key").is_some() => {
                Self::parse("the provenance proof", body)
            }
            (422, body) if body["error"] == "history_too_long" => self.provenance_in_pages(path),
            (status, body) => Err(Self::refused(status, &body)),
        }
    }

    fn provenance_in_pages(&self, path: &str) -> Result<ProvenanceProof, ClientError> {
        let mut pages: Vec<ProvenancePage> = Vec::new();
        let mut next = 1u64;
        loop {
            let height = pages
                .first()
                .map(|p| format!("&height={}", p.proof.header.height));
            let page_path = format!("{path}/pages?from={next}{}", height.unwrap_or_default());
            let page: ProvenancePage = match self.get(&page_path)? {
                (200, body) => Self::parse("a provenance page", body)?,
                (status, body) => return Err(Self::refused(status, &body)),
            };
            let count = page.proof.record.map_or(0, |r| r.count);
            if count > PROVENANCE_JOINED_EVENTS_MAX || page.proof.events.is_empty() {
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
        ProvenancePage::join(pages).map_err(|error| ClientError::Malformed {
            what: format!("the pages of {path}"),
            reason: error.to_string(),
        })
    }

    /// The proof bundle for a shipment (unverified: check it with `ProvenanceProof::verify`).
    pub fn shipment_provenance(
        &self,
        shipment: &ShipmentId,
    ) -> Result<ProvenanceProof, ClientError> {
        self.provenance(&format!("/v1/shipments/{shipment}/provenance"))
    }

    /// The proof bundle of a GTIN: every event naming one of its serials.
    pub fn gtin_provenance(
        &self,
        gtin: &waybill_protocol::Gtin,
    ) -> Result<ProvenanceProof, ClientError> {
        self.provenance(&format!("/v1/gtins/{gtin}/provenance"))
    }

    /// The proof bundle for a serialised item.
    pub fn serial_provenance(&self, serial: &Sgtin) -> Result<ProvenanceProof, ClientError> {
        self.provenance(&format!(
            "/v1/serials/{}/{}/provenance",
            serial.gtin, serial.serial
        ))
    }
}
