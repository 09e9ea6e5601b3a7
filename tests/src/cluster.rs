//! A local network of `waybill-node` processes for integration tests: a fresh testnet in a temp
//! dir (free loopback ports), one process per validator, a small blocking HTTP client, and
//! signed events from the testnet's organisation keys. Every process is killed when the
//! cluster is dropped, whatever the test did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use waybill_genesis::testnet::{self, Testnet, TestnetPlan};
use waybill_protocol::event::{EventKind, SignedEvent};
use waybill_protocol::files::KeyFile;
use waybill_protocol::{ChainId, EventBuilder, KeyId, Keypair, OrgId, ShipmentId, fixtures};

/// A binary of the workspace (`waybill-node`, `waybill`), built beside this executable
/// (`target/<profile>/`) by `cargo test --workspace`; test executables run from
/// `target/<profile>/deps/`.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the executable has a path");
    let here = exe.parent().expect("an executable lives in a directory");
    let binary = [Some(here), here.parent()]
        .into_iter()
        .flatten()
        .map(|dir: &Path| dir.join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| here.join(name));
    assert!(
        binary.exists(),
        "{} is missing: run the suite with `cargo test --workspace` (scripts/test.sh), which builds it",
        binary.display()
    );
    binary
}

pub fn node_binary() -> PathBuf {
    workspace_binary("waybill-node")
}

#[derive(Debug)]
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub testnet: Testnet,
    processes: Vec<Option<Child>>,
    pub api: Vec<String>,
    /// Event signing keys by organisation and key index.
    keys: BTreeMap<(String, u16), Keypair>,
    nonces: BTreeMap<String, u64>,
    /// The TLS client of every node, pinned to their API keys, presenting customs' key
    /// (customs reads everything); other callers through [`Cluster::agent_as`].
    agent: ureq::Agent,
}

/// The organisation the cluster's own requests are made as.
pub const CLUSTER_CALLER: &str = "customs";

/// One HTTP answer: status and JSON body (`Value::Null` if the body was not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

/// What a test cluster's testnet is made with.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    pub validators: usize,
    pub keys_per_organisation: usize,
    pub particulars_grants: Vec<waybill_protocol::genesis::ParticularsGrant>,
    pub block_events_max: Option<u32>,
}

impl ClusterPlan {
    pub fn new(validators: usize) -> ClusterPlan {
        ClusterPlan {
            validators,
            keys_per_organisation: 1,
            particulars_grants: Vec::new(),
            block_events_max: None,
        }
    }
}

impl Cluster {
    /// Creates a testnet of `validators` nodes and starts them all.
    pub fn start(validators: usize) -> Cluster {
        Cluster::start_with_keys(validators, 1)
    }

    /// As [`Cluster::start`], with `keys_per_organisation` event signing keys per organisation.
    pub fn start_with_keys(validators: usize, keys_per_organisation: usize) -> Cluster {
        Cluster::start_planned(ClusterPlan {
            keys_per_organisation,
            ..ClusterPlan::new(validators)
        })
    }

    /// As [`Cluster::start`], with the genesis granting parts of particulars.
    pub fn start_with_grants(
        validators: usize,
        particulars_grants: Vec<waybill_protocol::genesis::ParticularsGrant>,
    ) -> Cluster {
        Cluster::start_planned(ClusterPlan {
            particulars_grants,
            ..ClusterPlan::new(validators)
        })
    }

    /// Creates the testnet `plan` describes and starts every node.
    pub fn start_planned(plan: ClusterPlan) -> Cluster {
        let ClusterPlan {
            validators,
            keys_per_organisation,
            particulars_grants,
            block_events_max,
        } = plan;
        let dir = tempfile::tempdir().expect("temp dir");
        let testnet = testnet::create(&TestnetPlan {
            chain_id: ChainId::new("waybill-it").expect("chain id"),
            validators,
            base_port: None,
            genesis_time_ms: fixtures::NOW_MS - 86_400_000,
            keys_per_organisation,
            particulars_grants,
            block_events_max,
            out: dir.path().join("net"),
        })
        .expect("testnet");
        let api = testnet
            .genesis
            .validators
            .iter()
            .map(|v| format!("https://{}", v.api_address))
            .collect();
        let keys = testnet
            .genesis
            .organisations
            .iter()
            .flat_map(|org| (0..keys_per_organisation).map(move |index| (org, index)))
            .map(|(org, index)| {
                let file = match index {
                    0 => format!("{}.key", org.id),
                    _ => format!("{}-{index}.key", org.id),
                };
                let key = KeyFile::read(&testnet.dir.join("keys").join(file), None)
                    .expect("organisation key");
                ((org.id.to_string(), index as u16), key.keypair)
            })
            .collect();
        let mut cluster = Cluster {
            dir,
            testnet,
            processes: (0..validators).map(|_| None).collect(),
            api,
            keys,
            nonces: BTreeMap::new(),
            agent: ureq::Agent::new_with_defaults(),
        };
        cluster.agent = cluster.agent_as(Some(CLUSTER_CALLER));
        for node in 0..validators {
            cluster.start_node(node);
        }
        cluster
    }

    pub fn start_node(&mut self, node: usize) {
        self.start_node_with_env(node, &[]);
    }

    /// Starts `node` with extra environment variables (a faked clock, say).
    pub fn start_node_with_env(&mut self, node: usize, env: &[(&str, &str)]) {
        assert!(self.processes[node].is_none(), "node {node} is running");
        let config = &self.testnet.config_paths[node];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(node))
            .expect("log file");
        let child = Command::new(node_binary())
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,libp2p=warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start waybill-node");
        self.processes[node] = Some(child);
        // Ready: answering, and taking events (it has had a peer's pending events, or waited).
        self.wait_until(Duration::from_secs(60), "the API to take events", |c| {
            c.assert_alive(node);
            c.get(node, "/v1/status")
                .is_some_and(|a| a.status == 200 && a.body["ready"] == true)
        });
    }

    /// Panics at once with the node's log if its process has exited: a node that failed to
    /// start is reported as such, not after a minute of waiting for its API.
    fn assert_alive(&mut self, node: usize) {
        let exited = self.processes[node]
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten());
        if let Some(status) = exited {
            self.processes[node] = None;
            panic!(
                "node {node} exited ({status}) while starting\n{}",
                self.log_tail(node)
            );
        }
    }

    /// The TLS configuration of a client of `node` calling as `org` (`None`: no credentials).
    pub fn tls_config(&self, node: usize, org: Option<&str>) -> Arc<rustls::ClientConfig> {
        let server_key = self.testnet.genesis.validators[node].api_key;
        waybill_client::tls::client_config(server_key, org.map(|org| self.keypair(org)))
            .expect("client TLS configuration")
    }

    /// An HTTP client of every node, calling as `org` (`None`: no credentials).
    pub fn agent_as(&self, org: Option<&str>) -> ureq::Agent {
        self.agent_with_timeout(org, Some(Duration::from_secs(20)))
    }

    /// As [`Cluster::agent_as`], with another overall timeout (`None` for a stream).
    pub fn agent_with_timeout(&self, org: Option<&str>, timeout: Option<Duration>) -> ureq::Agent {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .build();
        let tls = waybill_client::tls::PinnedTlsConnector::for_network(
            &self.testnet.genesis,
            org.map(|org| self.keypair(org)),
        )
        .expect("client TLS configuration");
        waybill_client::tls::agent(config, tls)
    }

    /// `GET path` on `node` as `org` (`None`: no credentials).
    pub fn get_as(&self, node: usize, org: Option<&str>, path: &str) -> Option<Answer> {
        let url = format!("{}{}", self.api[node], path);
        let response = self.agent_as(org).get(&url).call();
        Self::read_answer(response)
    }

    /// The cluster's own HTTP client (as customs, every node).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// The SDK's client of `node`, calling as `org`.
    pub fn node_client(&self, node: usize, org: Option<&str>) -> waybill_client::node::NodeClient {
        waybill_client::node::NodeClient::connect(
            &self.api[node],
            &self.testnet.genesis,
            None,
            org.map(|org| self.keypair(org)),
        )
        .expect("node client")
    }

    pub fn log_path(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("node-{node}.log"))
    }

    pub fn data_dir(&self, node: usize) -> PathBuf {
        self.testnet.config_paths[node]
            .parent()
            .expect("config in node dir")
            .join("data")
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.processes[node].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit (status 0).
    pub fn stop(&mut self, node: usize) {
        if let Some(mut child) = self.processes[node].take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(
                        status.success(),
                        "node {node} exited with {status} on SIGTERM; log: {}",
                        self.log_tail(node)
                    );
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("node {node} did not stop within 30 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn is_running(&mut self, node: usize) -> bool {
        match &mut self.processes[node] {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn log_tail(&self, node: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(node)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn request(
        &self,
        node: usize,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Option<Answer> {
        let url = format!("{}{}", self.api[node], path);
        let agent = &self.agent;
        let result = match (method, body) {
            // A GET is idempotent: retried once on a transport error, as HTTP clients do when a
            // pooled keep-alive connection turns out closed by the server.
            ("GET", _) => agent.get(&url).call().or_else(|error| {
                eprintln!("GET {url}: {error}; retrying once");
                agent.get(&url).call()
            }),
            (_, Some(body)) => agent
                .post(&url)
                .header("content-type", "application/json")
                .send(&body[..]),
            (_, None) => agent.post(&url).send_empty(),
        };
        Self::read_answer(result)
    }

    fn read_answer(
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Option<Answer> {
        let mut response = result.ok()?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Some(Answer {
            status,
            body,
            retry_after,
        })
    }

    pub fn get(&self, node: usize, path: &str) -> Option<Answer> {
        self.request(node, "GET", path, None)
    }

    /// `node`'s metrics, from its metrics listener (plain HTTP on loopback, not the API).
    pub fn metrics(&self, node: usize) -> Option<String> {
        let config =
            waybill_protocol::files::NodeConfig::read(&self.testnet.config_paths[node]).ok()?;
        let address = config.metrics_listen?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let mut response = agent.get(format!("http://{address}/metrics")).call().ok()?;
        response.body_mut().read_to_string().ok()
    }

    pub fn get_text(&self, node: usize, path: &str) -> Option<String> {
        let url = format!("{}{}", self.api[node], path);
        let mut response = self.agent.get(&url).call().ok()?;
        response.body_mut().read_to_string().ok()
    }

    pub fn post_raw(&self, node: usize, path: &str, body: Vec<u8>) -> Option<Answer> {
        self.request(node, "POST", path, Some(body))
    }

    pub fn post(&self, node: usize, path: &str, body: &Value) -> Answer {
        self.post_raw(node, path, serde_json::to_vec(body).expect("json"))
            .unwrap_or_else(|| panic!("node {node} did not answer POST {path}"))
    }

    /// Submits `event` to `node`: a declaration with the particulars it was sealed with (at
    /// `/v1/declarations`), anything else at `/v1/events`.
    pub fn submit(&self, node: usize, event: &SignedEvent) -> Answer {
        match crate::filed_particulars(event) {
            Some(particulars) => {
                let filing = waybill_protocol::api::DeclarationFiling {
                    event: event.clone(),
                    particulars,
                };
                self.post(
                    node,
                    "/v1/declarations",
                    &serde_json::to_value(filing).expect("json"),
                )
            }
            None => self.post(
                node,
                "/v1/events",
                &serde_json::to_value(event).expect("json"),
            ),
        }
    }

    pub fn height(&self, node: usize) -> Option<u64> {
        self.get(node, "/v1/status")?.body["height"].as_u64()
    }

    pub fn keypair(&self, org: &str) -> &Keypair {
        self.keypair_at(org, 0)
    }

    /// `org`'s event signing key number `index`.
    pub fn keypair_at(&self, org: &str, index: u16) -> &Keypair {
        &self.keys[&(org.to_string(), index)]
    }

    /// The process id of a running node.
    pub fn pid(&self, node: usize) -> Option<u32> {
        self.processes[node].as_ref().map(Child::id)
    }

    /// An event signed by `org`'s key with its next nonce.
    pub fn event(&mut self, org: &str, shipment: &str, kind: EventKind) -> SignedEvent {
        self.event_with_epcs(org, shipment, kind, Vec::new())
    }

    /// An event naming items (`epcs`), signed with the organisation's next nonce.
    pub fn event_with_epcs(
        &mut self,
        org: &str,
        shipment: &str,
        kind: EventKind,
        epcs: Vec<waybill_protocol::event::Epc>,
    ) -> SignedEvent {
        let nonce = self.nonces.entry(org.to_string()).or_insert(0);
        *nonce += 1;
        let nonce = *nonce;
        self.builder(org, nonce, shipment, kind)
            .epcs(epcs)
            .sign(self.keypair(org))
    }

    pub fn event_with_nonce(
        &self,
        org: &str,
        nonce: u64,
        shipment: &str,
        kind: EventKind,
    ) -> SignedEvent {
        self.builder(org, nonce, shipment, kind)
            .sign(self.keypair(org))
    }

    /// An event by `org`'s first key, dated a second ago.
    fn builder(&self, org: &str, nonce: u64, shipment: &str, kind: EventKind) -> EventBuilder {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64;
        EventBuilder::new(
            self.testnet.genesis.chain_id.clone(),
            KeyId {
                org: OrgId::new(org).expect("org id"),
                index: 0,
            },
            nonce,
            ShipmentId::new(shipment).expect("shipment id"),
            kind,
            now - 1_000,
        )
    }

    /// Carrier A takes custody of a fresh `shipment`: an event every node takes, with no
    /// prerequisite (a declaration goes only to the nodes that may hold its particulars).
    pub fn pick_up(&mut self, shipment: &str) -> SignedEvent {
        self.event("carrier-a", shipment, EventKind::PickUp)
    }

    /// A declaration of `shipment` by the platform.
    pub fn declare(&mut self, shipment: &str) -> SignedEvent {
        self.event("platform", shipment, crate::declare_kind())
    }

    /// Polls `check` every 100 ms until it holds; panics with the nodes' log tails if it does
    /// not within `limit`.
    pub fn wait_until(
        &mut self,
        limit: Duration,
        what: &str,
        mut check: impl FnMut(&mut Cluster) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let logs: Vec<String> = (0..self.processes.len())
            .map(|n| format!("--- node {n}\n{}", self.log_tail(n)))
            .collect();
        panic!("waited {limit:?} for {what}\n{}", logs.join("\n"));
    }

    /// Whether `id` is committed (applied or rejected) on `node`.
    pub fn committed_on(&self, node: usize, id: &str) -> bool {
        self.get(node, &format!("/v1/events/{id}"))
            .is_some_and(|a| a.status == 200 && a.body["state"]["status"] != "pending")
    }

    /// Stops every node cleanly and asserts `verify-chain` passes on each.
    pub fn stop_all_and_verify_chains(&mut self) {
        for node in 0..self.processes.len() {
            self.stop(node);
            let output = self.verify_chain(node);
            assert!(
                output.status.success(),
                "verify-chain on node {node}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// `waybill-node verify-chain` on a stopped node's data directory.
    pub fn verify_chain(&self, node: usize) -> std::process::Output {
        Command::new(node_binary())
            .arg("verify-chain")
            .arg("--data")
            .arg(self.data_dir(node))
            .arg("--genesis")
            .arg(&self.testnet.genesis_path)
            .output()
            .expect("run verify-chain")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in 0..self.processes.len() {
            self.kill(node);
        }
    }
}
