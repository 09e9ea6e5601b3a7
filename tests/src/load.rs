//! Load for the benchmark and the soak: realistic shipment lifecycles pre-signed per submitter
//! ("lane"), batch submission over the HTTP API with back-off, commit tracking from the nodes'
//! event streams, and reading a whole chain back over the API.
//!
//! Each lane signs with its own key of every organisation (`keys/<org>-<lane>.key`) and sends
//! all its events to one node in order, so its nonces and each shipment's lifecycle reach the
//! proposer in the order they were signed: what a well-behaved integration does.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill_protocol::api::StreamItem;
use waybill_protocol::event::{EventKind, RiskStatus, SignedEvent};
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::{ChainId, EventBuilder, KeyId, Keypair, OrgId, ShipmentId};

use crate::cluster::Cluster;

/// Events in one [`Lane::lifecycle`].
pub const LIFECYCLE_EVENTS: usize = 9;

/// One submitter's signing keys and nonces.
#[derive(Debug)]
pub struct Lane {
    pub index: u16,
    chain_id: ChainId,
    keys: BTreeMap<&'static str, Keypair>,
    nonces: BTreeMap<&'static str, u64>,
}

const ORGANISATIONS: [&str; 5] = ["customs", "platform", "carrier-a", "carrier-b", "brand"];

impl Lane {
    /// Lane `index` of `cluster`, which must have been started with more than `index` keys per
    /// organisation. `first_nonce` lets a lane continue after events it signed before.
    pub fn new(cluster: &Cluster, index: u16, first_nonce: u64) -> Lane {
        Lane {
            index,
            chain_id: cluster.testnet.genesis.chain_id.clone(),
            keys: ORGANISATIONS
                .iter()
                .map(|org| (*org, cluster.keypair_at(org, index).clone()))
                .collect(),
            nonces: ORGANISATIONS
                .iter()
                .map(|org| (*org, first_nonce))
                .collect(),
        }
    }

    pub fn sign(&mut self, org: &'static str, shipment: &str, kind: EventKind) -> SignedEvent {
        let nonce = self
            .nonces
            .get_mut(org)
            .expect("a lane signs for known organisations");
        *nonce += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64;
        EventBuilder::new(
            self.chain_id.clone(),
            KeyId {
                org: OrgId::new(org).expect("organisation id"),
                index: self.index,
            },
            *nonce,
            ShipmentId::new(shipment).expect("shipment id"),
            kind,
            now - 1_000,
        )
        .sign(&self.keys[org])
    }

    /// A parcel's whole cross-border life: declared by the platform, picked up and flown by
    /// carrier A, handed to carrier B, cleared by customs, delivered.
    pub fn lifecycle(&mut self, shipment: &str) -> Vec<SignedEvent> {
        let declaration = crate::declare_kind();
        vec![
            self.sign("platform", shipment, declaration),
            self.sign("carrier-a", shipment, EventKind::PickUp),
            self.sign("carrier-a", shipment, EventKind::Depart),
            self.sign(
                "carrier-a",
                shipment,
                EventKind::HandOver {
                    to: OrgId::new("carrier-b").expect("org id"),
                },
            ),
            self.sign(
                "carrier-b",
                shipment,
                EventKind::Accept {
                    from: OrgId::new("carrier-a").expect("org id"),
                },
            ),
            self.sign("carrier-b", shipment, EventKind::Arrive),
            self.sign(
                "customs",
                shipment,
                EventKind::RiskAssessed {
                    status: RiskStatus::Approved,
                },
            ),
            self.sign("customs", shipment, EventKind::Release),
            self.sign("carrier-b", shipment, EventKind::Deliver),
        ]
    }

    /// A shipment with `count` (≥ 2) events: declared, picked up, then legs of departures and
    /// arrivals (a parcel that crosses many hubs).
    pub fn long_history(&mut self, shipment: &str, count: usize) -> Vec<SignedEvent> {
        let declaration = crate::declare_kind();
        let mut events = vec![
            self.sign("platform", shipment, declaration),
            self.sign("carrier-a", shipment, EventKind::PickUp),
        ];
        while events.len() < count {
            let kind = if events.len() % 2 == 0 {
                EventKind::Depart
            } else {
                EventKind::Arrive
            };
            events.push(self.sign("carrier-a", shipment, kind));
        }
        events
    }
}

/// Signs `shipments` lifecycles on each lane, one thread per lane.
pub fn sign_lifecycles(lanes: &mut [Lane], tag: &str, shipments: usize) -> Vec<Vec<SignedEvent>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .iter_mut()
            .map(|lane| {
                scope.spawn(move || {
                    (0..shipments)
                        .flat_map(|i| lane.lifecycle(&format!("{tag}-{}-{i}", lane.index)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

/// What happened to one lane's submissions.
#[derive(Debug, Default)]
pub struct Submitted {
    /// Event id → when the API answered 202 for it, and which node took it.
    pub accepted: HashMap<String, (Instant, usize)>,
    /// Refusals other than "come back later", by error code.
    pub refused: BTreeMap<String, usize>,
    /// Batches or tails sent again after a 503 or an unreachable node.
    pub retries: usize,
}

/// The node a batch with declarations goes to instead of `node`: one entitled to hold their
/// particulars. In a testnet the first two validators are run by customs and the platform
/// (`TESTNET_ORGANISATIONS`); the carriers' nodes refuse particulars (421).
pub fn holder_of(node: usize) -> usize {
    node % 2
}

/// An HTTP agent for load, of every node of `cluster` as customs: no status-as-error, bounded
/// waits.
pub fn agent(cluster: &Cluster) -> ureq::Agent {
    cluster.agent().clone()
}

/// Sends `events` in batches of `batch`, paced to `rate` events/s if given, to the node
/// `pick_node` names (asked again after a transport failure, so a soak can move to a live
/// node). A 503 (mempool full, signer quota) or no answer sends the unanswered tail again after
/// a pause; events already accepted or committed come back as 409 and are not counted twice.
/// Gives up on a batch only when `stop` is set.
pub fn submit(
    agent: &ureq::Agent,
    api: &[String],
    events: &[SignedEvent],
    batch: usize,
    rate: Option<f64>,
    mut pick_node: impl FnMut(usize) -> usize,
    stop: &AtomicBool,
) -> Submitted {
    let mut out = Submitted::default();
    let start = Instant::now();
    let mut sent = 0usize;
    let mut node = pick_node(0);
    for chunk in events.chunks(batch) {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let mut pending: Vec<&SignedEvent> = chunk.iter().collect();
        let mut attempts = 0usize;
        while !pending.is_empty() && !stop.load(Ordering::Relaxed) {
            let particulars: Vec<_> = pending
                .iter()
                .filter_map(|event| crate::filed_particulars(event))
                .collect();
            if !particulars.is_empty() {
                node = holder_of(node);
            }
            let body =
                serde_json::to_vec(&json!({ "events": pending, "particulars": particulars }))
                    .expect("json");
            let answer = agent
                .post(format!("{}/v1/events/batch", api[node]))
                .header("content-type", "application/json")
                .send(&body[..])
                .ok()
                .and_then(|mut r| {
                    let status = r.status().as_u16();
                    let text = r.body_mut().read_to_string().ok()?;
                    Some((status, serde_json::from_str::<Value>(&text).ok()?))
                });
            let now = Instant::now();
            let mut retry = Vec::new();
            match answer {
                Some((_, body)) if body["results"].is_array() => {
                    for (item, event) in body["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .zip(&pending)
                    {
                        if let Some(id) = item["id"].as_str() {
                            out.accepted.insert(id.to_string(), (now, node));
                        } else if item["status"] == 503 {
                            retry.push(*event);
                        } else {
                            let code = item["error"].as_str().unwrap_or("unknown").to_string();
                            *out.refused.entry(code).or_default() += 1;
                        }
                    }
                }
                Some((503, _)) => retry = pending.clone(),
                // A whole batch refused with one error (every event had the same problem).
                Some((status, body)) if status != 503 => {
                    let code = body["error"].as_str().unwrap_or("unknown").to_string();
                    *out.refused.entry(code).or_default() += pending.len();
                }
                _ => {
                    retry = pending.clone();
                    attempts += 1;
                    node = pick_node(attempts);
                }
            }
            if !retry.is_empty() {
                out.retries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            pending = retry;
        }
        sent += chunk.len();
    }
    out
}

/// When each event id was committed on each node, from the nodes' event streams.
#[derive(Debug, Clone)]
pub struct Commits {
    /// Per node: event id → when its stream reported the commit.
    pub by_node: Arc<Vec<Mutex<HashMap<String, Instant>>>>,
    /// Event ids the chain rejected at execution (seen on any node), with the reason.
    pub rejected: Arc<Mutex<HashMap<String, String>>>,
    stop: Arc<AtomicBool>,
}

impl Commits {
    /// Follows every node's stream on a thread of its own, reconnecting after a lag notice or a
    /// broken stream, until [`Commits::stop`].
    pub fn follow(cluster: &Cluster) -> Commits {
        let api = &cluster.api;
        let commits = Commits {
            by_node: Arc::new(api.iter().map(|_| Mutex::new(HashMap::new())).collect()),
            rejected: Arc::new(Mutex::new(HashMap::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        for node in 0..api.len() {
            let client = cluster.node_client(node, Some(crate::cluster::CLUSTER_CALLER));
            let commits = commits.clone();
            std::thread::spawn(move || {
                while !commits.stop.load(Ordering::Relaxed) {
                    let _ = client.follow(None, |item| {
                        if let StreamItem::Committed(committed) = item {
                            let (id, now) = (committed.id.to_string(), Instant::now());
                            commits.by_node[node]
                                .lock()
                                .expect("commits lock")
                                .insert(id.clone(), now);
                            if let EventOutcome::Rejected { rejection } = &committed.outcome {
                                commits
                                    .rejected
                                    .lock()
                                    .expect("commits lock")
                                    .insert(id, rejection.code().into());
                            }
                        }
                        !commits.stop.load(Ordering::Relaxed)
                    });
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        commits
    }

    pub fn at(&self, node: usize, id: &str) -> Option<Instant> {
        self.by_node[node]
            .lock()
            .expect("commits lock")
            .get(id)
            .copied()
    }

    /// Waits until every id in `ids` is reported committed on the node that accepted it.
    pub fn wait_for(
        &self,
        ids: &HashMap<String, (Instant, usize)>,
        limit: Duration,
    ) -> Result<(), usize> {
        let deadline = Instant::now() + limit;
        loop {
            let missing = ids
                .iter()
                .filter(|(id, (_, node))| self.at(*node, id).is_none())
                .count();
            if missing == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(missing);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A node's chain as its API serves it.
#[derive(Debug, Default)]
pub struct ChainRead {
    /// Block hashes from height 1.
    pub hashes: Vec<String>,
    /// Every committed event: (height, id, the rejection's reason if execution rejected it).
    pub events: Vec<(u64, String, Option<String>)>,
}

/// Reads blocks `1..=tip` of a node's chain, block by block.
pub fn read_chain(agent: &ureq::Agent, api: &str, tip: u64) -> Result<ChainRead, String> {
    let mut chain = ChainRead::default();
    extend_chain(&mut chain, agent, api, tip)?;
    Ok(chain)
}

/// Reads the blocks after those `chain` holds, up to `tip`.
pub fn extend_chain(
    chain: &mut ChainRead,
    agent: &ureq::Agent,
    api: &str,
    tip: u64,
) -> Result<(), String> {
    for height in chain.hashes.len() as u64 + 1..=tip {
        let body: Value = agent
            .get(format!("{api}/v1/blocks/{height}"))
            .call()
            .map_err(|e| format!("block {height}: {e}"))?
            .body_mut()
            .read_json()
            .map_err(|e| format!("block {height}: {e}"))?;
        chain
            .hashes
            .push(body["hash"].as_str().unwrap_or_default().to_string());
        for item in body["events"].as_array().into_iter().flatten() {
            let id = item["id"]
                .as_str()
                .ok_or_else(|| format!("block {height}: an event without an id"))?;
            let rejection = item["outcome"]
                .get("rejection")
                .map(|r| r["reason"].as_str().unwrap_or("unknown").to_string());
            chain.events.push((height, id.to_string(), rejection));
        }
    }
    Ok(())
}

/// The `q`-quantile of sorted samples (nearest rank).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(") ")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux for every architecture we run on.
    Some(ticks / 100.0)
}

/// A process's peak resident set (VmHWM), in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes of every file under `dir`.
pub fn disk_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
