//! libp2p: TCP + Noise + Yamux, identify, gossipsub (events and consensus topics), and
//! request-response block sync. Permissioned: the node's libp2p identity is its genesis node
//! key, and only the other genesis validators' peer ids may connect (the allow list denies the
//! rest once Noise has authenticated them).
//!
//! Gossip is validated by the application before it is forwarded: an event batch goes through
//! admission (so a bad signature, an unknown signer or an oversize message is rejected and the
//! sending peer's score drops), a consensus message must be signed by the validator it names.

mod particulars;
mod proposal_events;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use futures::StreamExt;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, allow_block_list, identify, noise, tcp, yamux};
use tokio::sync::{mpsc, watch};
use waybill_protocol::codec;
use waybill_protocol::event::SignedEvent;
use waybill_protocol::{Hash, Keypair, NetworkAddress, PublicKey};

use crate::admission;
use crate::engine::{EngineInput, EngineOutput, now_ms};
use crate::limits::*;
use crate::node::{PeerInfo, Shared};
use wire::*;

/// Gossipsub's P4 weight (per topic, times the square of the invalid-message counter).
const INVALID_MESSAGE_WEIGHT: f64 = -1_000.0;
/// What is left of the invalid-message counter after each second.
const INVALID_MESSAGE_DECAY: f64 = 0.9;
/// The application's own account of invalid gossip, fed to gossipsub as P5 (weight 10): each
/// invalid message costs this much, decaying by `INVALID_GOSSIP_DECAY_PER_TICK` each tick.
const INVALID_GOSSIP_PENALTY: f64 = 100.0;
const INVALID_GOSSIP_DECAY_PER_TICK: f64 = 0.95;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network address {address}: {reason}")]
    Address { address: String, reason: String },
    #[error("libp2p: {0}")]
    Libp2p(String),
}

/// Turns a genesis address (`/ip4/…/tcp/…` or `host:port`) into a multiaddr.
pub fn multiaddr(address: &NetworkAddress) -> Result<Multiaddr, NetworkError> {
    let text = address.as_str();
    let bad = |reason: String| NetworkError::Address {
        address: text.to_string(),
        reason,
    };
    if text.starts_with('/') {
        return text
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| bad(e.to_string()));
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port".into()))?;
    let port: u16 = port.parse().map_err(|_| bad("bad port".into()))?;
    let mut addr = Multiaddr::empty();
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => addr.push(Protocol::Ip4(ip)),
        Ok(std::net::IpAddr::V6(ip)) => addr.push(Protocol::Ip6(ip)),
        Err(_) => addr.push(Protocol::Dns(host.to_string().into())),
    }
    addr.push(Protocol::Tcp(port));
    Ok(addr)
}

/// The libp2p peer id of a genesis node key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId, NetworkError> {
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|e| NetworkError::Libp2p(format!("node key: {e}")))?;
    Ok(libp2p::identity::PublicKey::from(public).to_peer_id())
}

/// The libp2p identity made from a node key.
pub fn identity(keypair: &Keypair) -> Result<libp2p::identity::Keypair, NetworkError> {
    let mut secret = keypair.secret_bytes();
    libp2p::identity::Keypair::ed25519_from_bytes(secret.as_mut())
        .map_err(|e| NetworkError::Libp2p(format!("node key: {e}")))
}

/// A request-response exchange between validators: its messages, their bounds and a name
/// for errors. [`FramedCodec`] carries any of them.
pub trait Exchange: Send + 'static {
    type Request: bincode::Encode + bincode::Decode<()> + Send + Sync;
    type Response: bincode::Encode + bincode::Decode<()> + Send + Sync;
    const REQUEST_BYTES_MAX: usize;
    const RESPONSE_BYTES_MAX: usize;
    const REQUEST: &'static str;
    const RESPONSE: &'static str;
}

/// Block sync (`wire::SyncRequest`, `wire::SyncResponse`).
#[derive(Debug)]
pub struct BlockSync;

impl Exchange for BlockSync {
    type Request = SyncRequest;
    type Response = SyncResponse;
    const REQUEST_BYTES_MAX: usize = SYNC_REQUEST_BYTES_MAX;
    const RESPONSE_BYTES_MAX: usize = SYNC_RESPONSE_BYTES_MAX;
    const REQUEST: &'static str = "sync request";
    const RESPONSE: &'static str = "sync response";
}

/// The request-response codec of every exchange: `u32` length prefix, then canonical bytes,
/// each direction bounded before anything is allocated.
pub struct FramedCodec<E>(std::marker::PhantomData<fn() -> E>);

impl<E> Default for FramedCodec<E> {
    fn default() -> Self {
        FramedCodec(std::marker::PhantomData)
    }
}

impl<E> std::fmt::Debug for FramedCodec<E> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("FramedCodec")
    }
}

impl<E> Clone for FramedCodec<E> {
    fn clone(&self) -> Self {
        FramedCodec::default()
    }
}

async fn read_framed<T, M>(io: &mut T, max: usize, what: &'static str) -> io::Result<M>
where
    T: futures::AsyncRead + Unpin + Send,
    M: bincode::Decode<()>,
{
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_le_bytes(length) as usize;
    if length > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what}: {length} bytes exceeds {max}"),
        ));
    }
    let mut bytes = vec![0u8; length];
    io.read_exact(&mut bytes).await?;
    codec::decode(what, &bytes, max).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_framed<T, M>(io: &mut T, message: &M) -> io::Result<()>
where
    T: futures::AsyncWrite + Unpin + Send,
    M: bincode::Encode,
{
    let bytes = codec::encode(message);
    io.write_all(&(bytes.len() as u32).to_le_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

#[async_trait::async_trait]
impl<E: Exchange> request_response::Codec for FramedCodec<E> {
    type Protocol = StreamProtocol;
    type Request = E::Request;
    type Response = E::Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<E::Request>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_framed(io, E::REQUEST_BYTES_MAX, E::REQUEST).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<E::Response>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_framed(io, E::RESPONSE_BYTES_MAX, E::RESPONSE).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: E::Request,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_framed(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: E::Response,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_framed(io, &response).await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    sync: request_response::Behaviour<FramedCodec<BlockSync>>,
    particulars: request_response::Behaviour<FramedCodec<particulars::Particulars>>,
    proposal_events: request_response::Behaviour<FramedCodec<proposal_events::ProposalEvents>>,
}

/// A validator this node talks to.
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    /// The organisation that runs it: what it may be sent of declarations' particulars.
    pub operator: waybill_protocol::OrgId,
    pub peer_id: PeerId,
    pub address: Multiaddr,
}

/// What the network task needs to start.
#[derive(Debug)]
pub struct NetworkSetup {
    pub identity: libp2p::identity::Keypair,
    pub listen: Multiaddr,
    pub peers: Vec<Peer>,
}

impl NetworkSetup {
    /// From the genesis: our key and listen address, and every other validator.
    pub fn from_genesis(
        shared: &Shared,
        keypair: &Keypair,
        listen: &NetworkAddress,
    ) -> Result<NetworkSetup, NetworkError> {
        let me = shared.validator.0 as usize;
        let mut peers = Vec::new();
        for (index, validator) in shared.rules.genesis().validators.iter().enumerate() {
            if index == me {
                continue;
            }
            peers.push(Peer {
                name: validator.name.to_string(),
                operator: validator.operator.clone(),
                peer_id: peer_id(&validator.node_key)?,
                address: multiaddr(&validator.p2p_address)?,
            });
        }
        Ok(NetworkSetup {
            identity: identity(keypair)?,
            listen: multiaddr(listen)?,
            peers,
        })
    }
}

/// Gossip tuned for a small, fixed validator set: the defaults (mesh_n 6, mesh_n_low 5) never
/// form a mesh with three peers, so the mesh is sized to the set and publishing floods.
fn gossip_config(validators: usize) -> Result<gossipsub::Config, NetworkError> {
    let others = validators.saturating_sub(1).max(1);
    let mesh_n = others.min(6);
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .mesh_n(mesh_n)
        .mesh_n_low(1.max(mesh_n / 2))
        .mesh_n_high(others.min(12).max(mesh_n))
        .mesh_outbound_min(0)
        .gossip_lazy(others.min(6))
        .flood_publish(true)
        .heartbeat_interval(Duration::from_millis(500))
        .max_transmit_size(GOSSIP_TRANSMIT_BYTES_MAX)
        .duplicate_cache_time(Duration::from_secs(60))
        // libp2p abandons a queued message after 5 s (1 s when forwarding). An event batch that
        // never reaches the proposer lets its signer's later nonces commit first, and the batch
        // then commits as replays: under load, late is far better than never. The queues stay
        // bounded by the mempool's bounds at the sender.
        .publish_queue_duration(GOSSIP_QUEUE_PATIENCE)
        .forward_queue_duration(GOSSIP_QUEUE_PATIENCE)
        .build()
        .map_err(|e| NetworkError::Libp2p(format!("gossipsub config: {e}")))
}

fn topics(shared: &Shared) -> (IdentTopic, IdentTopic) {
    let chain = shared.rules.chain_id();
    (
        IdentTopic::new(format!("/waybill/{chain}/events/1")),
        IdentTopic::new(format!("/waybill/{chain}/consensus/1")),
    )
}

/// Events admitted through the API, to be gossiped.
pub type EventBatch = Vec<SignedEvent>;

/// The network task's channels.
#[derive(Debug)]
pub struct NetworkChannels {
    pub to_engine: SyncSender<EngineInput>,
    pub from_engine: mpsc::Receiver<EngineOutput>,
    pub events_out: mpsc::Receiver<EventBatch>,
    pub shutdown: watch::Receiver<bool>,
}

struct Network {
    shared: Arc<Shared>,
    swarm: libp2p::Swarm<Behaviour>,
    peers: HashMap<PeerId, Peer>,
    connected: HashSet<PeerId>,
    events_topic: IdentTopic,
    consensus_topic: IdentTopic,
    to_engine: SyncSender<EngineInput>,
    sync_in_flight: Option<(OutboundRequestId, tokio::time::Instant)>,
    /// The engine asked for blocks consensus cannot give it; cleared when a request goes out.
    sync_wanted: bool,
    sync_cursor: usize,
    /// The height range of the last sync response handed to the engine: requests continue
    /// after it instead of asking for blocks already on their way.
    sync_handed: Option<(u64, u64)>,
    /// Until a peer has answered with its pending events, sync requests ask for them.
    want_pending: bool,
    started: tokio::time::Instant,
    /// Invalid gossip per sending peer (genesis peers only, so bounded by the validator set).
    invalid_gossip: HashMap<PeerId, f64>,
    /// Faults found off the swarm task (in a hand-over), to be held against their peer.
    faults: mpsc::Sender<(PeerId, &'static str)>,
    /// Sync answers read off the swarm task, to be sent.
    served: mpsc::Sender<ServedSync>,
    /// Messages for the two gossip threads, one per topic.
    event_checks: std::sync::mpsc::SyncSender<GossipCheck>,
    consensus_checks: std::sync::mpsc::SyncSender<GossipCheck>,
    sync_serves: Arc<tokio::sync::Semaphore>,
    /// Requests for a proposal's events in flight, by the block they are for: a failed one
    /// tells the engine, which may then ask again when the proposal is re-sent.
    proposal_fetches: HashMap<OutboundRequestId, Hash>,
    /// The particulars request in flight, and when the last was sent.
    particulars_in_flight: Option<OutboundRequestId>,
    particulars_asked: tokio::time::Instant,
}

/// A sync answer ready to go back to the peer that asked.
type ServedSync = (
    PeerId,
    request_response::ResponseChannel<SyncResponse>,
    SyncResponse,
);

/// Runs the swarm until shutdown.
pub async fn run(
    setup: NetworkSetup,
    shared: Arc<Shared>,
    channels: NetworkChannels,
) -> Result<(), NetworkError> {
    let validators = shared.rules.validator_count();
    let gossip_config = gossip_config(validators)?;
    let sync_protocol =
        StreamProtocol::try_from_owned(format!("/waybill/{}/sync/2", shared.rules.chain_id()))
            .map_err(|e| NetworkError::Libp2p(e.to_string()))?;
    let particulars_protocol = StreamProtocol::try_from_owned(format!(
        "/waybill/{}/particulars/1",
        shared.rules.chain_id()
    ))
    .map_err(|e| NetworkError::Libp2p(e.to_string()))?;
    let proposal_events_protocol = StreamProtocol::try_from_owned(format!(
        "/waybill/{}/proposal-events/1",
        shared.rules.chain_id()
    ))
    .map_err(|e| NetworkError::Libp2p(e.to_string()))?;
    let protocol_version = format!("/waybill/{}/1", shared.rules.chain_id());
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(setup.identity.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Libp2p(e.to_string()))?
        .with_behaviour(|key| {
            let mut gossipsub = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_config,
            )?;
            // An invalid message costs far more than honest traffic earns (the positive
            // components are capped near 1,000), so a peer that sends them drops below the
            // gossip thresholds at once; the counter decays by a tenth a second, so a peer that
            // stops recovers within a minute.
            let mut score = gossipsub::PeerScoreParams::default();
            let (events, consensus) = topics(&shared);
            for topic in [events, consensus] {
                let params = gossipsub::TopicScoreParams {
                    invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
                    invalid_message_deliveries_decay: INVALID_MESSAGE_DECAY,
                    ..gossipsub::TopicScoreParams::default()
                };
                score.topics.insert(topic.hash(), params);
            }
            gossipsub.with_peer_score(score, gossipsub::PeerScoreThresholds::default())?;
            Ok(Behaviour {
                allowed: allow_block_list::Behaviour::default(),
                gossipsub,
                identify: identify::Behaviour::new(identify::Config::new(
                    protocol_version,
                    key.public(),
                )),
                sync: request_response::Behaviour::new(
                    [(sync_protocol, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                        .with_max_concurrent_streams(16),
                ),
                particulars: request_response::Behaviour::new(
                    [(particulars_protocol, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(PARTICULARS_REQUEST_TIMEOUT)
                        .with_max_concurrent_streams(4),
                ),
                proposal_events: request_response::Behaviour::new(
                    [(proposal_events_protocol, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(PROPOSAL_EVENTS_TIMEOUT)
                        .with_max_concurrent_streams(PROPOSAL_FETCHES_MAX),
                ),
            })
        })
        .map_err(|e| NetworkError::Libp2p(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();

    let (events_topic, consensus_topic) = topics(&shared);
    for topic in [&events_topic, &consensus_topic] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(topic)
            .map_err(|e| NetworkError::Libp2p(e.to_string()))?;
    }
    for peer in &setup.peers {
        swarm.behaviour_mut().allowed.allow_peer(peer.peer_id);
    }
    swarm
        .listen_on(setup.listen.clone())
        .map_err(|e| NetworkError::Libp2p(format!("listen on {}: {e}", setup.listen)))?;
    tracing::info!(peer_id = %swarm.local_peer_id(), listen = %setup.listen, "p2p up");

    // A few at a time: faults found in a hand-over (one per hand-over at most).
    let (faults_out, mut faults_in) = mpsc::channel(16);
    let (served_out, mut served_in) = mpsc::channel(SYNC_SERVES_CONCURRENT_MAX);
    let (verdicts_out, mut verdicts_in) = mpsc::channel(GOSSIP_CHECK_QUEUE_MAX);
    let event_checks = {
        let (shared, to_engine) = (shared.clone(), channels.to_engine.clone());
        spawn_gossip_checker("waybill-gossip-events", verdicts_out.clone(), move |data| {
            let (verdict, admitted) = check_event_gossip(&shared, data);
            if admitted > 0 {
                let _ = to_engine.try_send(EngineInput::EventsArrived);
            }
            (verdict, false)
        })?
    };
    let consensus_checks = {
        let (shared, to_engine) = (shared.clone(), channels.to_engine.clone());
        let engine_bytes = Arc::new(tokio::sync::Semaphore::new(ENGINE_QUEUE_BYTES_MAX / 1024));
        spawn_gossip_checker("waybill-gossip-consensus", verdicts_out, move |data| {
            check_consensus_gossip(&shared, &to_engine, &engine_bytes, data)
        })?
    };
    let mut network = Network {
        shared,
        swarm,
        peers: setup.peers.into_iter().map(|p| (p.peer_id, p)).collect(),
        connected: HashSet::new(),
        events_topic,
        consensus_topic,
        to_engine: channels.to_engine,
        sync_in_flight: None,
        sync_wanted: false,
        sync_cursor: 0,
        sync_handed: None,
        want_pending: true,
        started: tokio::time::Instant::now(),
        invalid_gossip: HashMap::new(),
        faults: faults_out,
        served: served_out,
        event_checks,
        consensus_checks,
        sync_serves: Arc::new(tokio::sync::Semaphore::new(SYNC_SERVES_CONCURRENT_MAX)),
        proposal_fetches: HashMap::new(),
        particulars_in_flight: None,
        particulars_asked: tokio::time::Instant::now(),
    };
    network.dial_missing();
    let NetworkChannels {
        mut from_engine,
        mut events_out,
        mut shutdown,
        ..
    } = channels;
    let mut tick = tokio::time::interval(NETWORK_TICK);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some((peer, reason)) = faults_in.recv() => network.penalise(peer, reason),
            Some((peer, channel, response)) = served_in.recv() => network.send_sync_response(peer, channel, response),
            Some(checked) = verdicts_in.recv() => network.on_gossip_checked(checked),
            event = network.swarm.select_next_some() => network.on_swarm_event(event),
            Some(output) = from_engine.recv() => network.on_engine_output(output),
            Some(batch) = events_out.recv() => network.publish_events(batch),
            _ = tick.tick() => network.on_tick(),
        }
    }
    Ok(())
}

impl Network {
    fn dial_missing(&mut self) {
        let missing: Vec<Peer> = self
            .peers
            .values()
            .filter(|p| !self.connected.contains(&p.peer_id))
            .cloned()
            .collect();
        for peer in missing {
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer.peer_id)
                .addresses(vec![peer.address.clone()])
                .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(error) = self.swarm.dial(opts) {
                tracing::trace!(peer = %peer.name, %error, "dial not started");
            }
        }
    }

    fn publish(&mut self, topic: TopicHash, bytes: Vec<u8>) {
        if let Err(error) = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            // No peers yet: consensus re-sends, and pending events are proposed from here.
            tracing::debug!(%error, "gossip publish failed");
        }
    }

    fn publish_events(&mut self, batch: EventBatch) {
        for message in event_gossip_messages(&batch) {
            self.publish(self.events_topic.hash(), message);
        }
    }

    fn on_engine_output(&mut self, output: EngineOutput) {
        match output {
            EngineOutput::Gossip(gossip) => {
                let topic = self.consensus_topic.hash();
                self.publish(topic, codec::encode(&gossip));
            }
            EngineOutput::SyncWanted => {
                self.sync_wanted = true;
                self.request_sync(None);
            }
            EngineOutput::FetchProposalEvents { proposer, request } => {
                self.fetch_proposal_events(proposer, request)
            }
        }
    }

    /// Asks a proposal's proposer for the events of it this node lacks.
    fn fetch_proposal_events(
        &mut self,
        proposer: waybill_protocol::ValidatorIndex,
        request: ProposalEventsRequest,
    ) {
        let validator = self
            .shared
            .rules
            .genesis()
            .validators
            .get(usize::from(proposer.0));
        let Some(peer) = validator.and_then(|v| peer_id(&v.node_key).ok()) else {
            return;
        };
        tracing::debug!(
            %peer,
            block = %request.block_hash,
            missing = request.positions.len(),
            "fetching a proposal's events"
        );
        let block_hash = request.block_hash;
        let id = self
            .swarm
            .behaviour_mut()
            .proposal_events
            .send_request(&peer, request);
        // The engine waits for at most this many; a stale entry goes with its answer.
        if self.proposal_fetches.len() < PROPOSAL_FETCHES_MAX * 2 {
            self.proposal_fetches.insert(id, block_hash);
        }
    }

    fn on_proposal_events_event(
        &mut self,
        event: request_response::Event<ProposalEventsRequest, ProposalEventsResponse>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let response = proposal_events::serve(&self.shared, &request);
                    let behaviour = &mut self.swarm.behaviour_mut().proposal_events;
                    if behaviour.send_response(channel, response).is_err() {
                        tracing::debug!(%peer, "proposal events not sent: the peer left");
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.proposal_fetches.remove(&request_id);
                    self.to_engine(EngineInput::ProposalEvents(response));
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "fetching a proposal's events failed");
                // Nothing came: the engine gives the proposal up until it is sent again.
                if let Some(block_hash) = self.proposal_fetches.remove(&request_id) {
                    self.to_engine(EngineInput::ProposalEvents(ProposalEventsResponse {
                        block_hash,
                        events: Vec::new(),
                    }));
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self) {
        self.dial_missing();
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        self.invalid_gossip.retain(|peer, count| {
            *count *= INVALID_GOSSIP_DECAY_PER_TICK;
            let forgiven = *count < 0.01;
            let score = if forgiven {
                0.0
            } else {
                -INVALID_GOSSIP_PENALTY * *count
            };
            gossipsub.set_application_score(peer, score);
            !forgiven
        });
        let peers: Vec<PeerInfo> = self
            .connected
            .iter()
            .map(|id| PeerInfo {
                peer_id: id.to_string(),
                validator: self.peers.get(id).map(|p| p.name.clone()),
                score: self.swarm.behaviour().gossipsub.peer_score(id),
            })
            .collect();
        *self
            .shared
            .peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = peers;
        if let Some((_, since)) = self.sync_in_flight {
            if since.elapsed() > SYNC_REQUEST_TIMEOUT {
                self.sync_in_flight = None;
            }
        }
        let stalled = self.shared.since_last_commit() > STALL_BEFORE_SYNC;
        if stalled {
            // Whatever was handed over did not apply (or was dropped): ask from our tip again.
            self.sync_handed = None;
        }
        // A node that just started asks a peer for its pending events even when its chain is
        // current (the answer's blocks are then none).
        let hand_over = self.want_pending && !self.connected.is_empty();
        if self.want_pending
            && (self.peers.is_empty() || self.started.elapsed() > HAND_OVER_WAIT_MAX)
        {
            // Alone in the genesis, or no peer answered: take events anyway.
            self.want_pending = false;
            self.shared.ready.store(true, Ordering::Release);
            tracing::info!("no pending events handed over; taking events");
        }
        let wanted = self.sync_wanted || stalled || hand_over;
        if wanted {
            self.request_sync(None);
        }
        self.ask_particulars();
    }

    /// Asks an entitled peer for particulars this node is owed, one request at a time.
    fn ask_particulars(&mut self) {
        let due = self.particulars_asked.elapsed() >= PARTICULARS_ASK_INTERVAL;
        if !due || self.particulars_in_flight.is_some() || self.shared.private.is_none() {
            return;
        }
        self.particulars_asked = tokio::time::Instant::now();
        let connected = self
            .connected
            .iter()
            .filter_map(|id| self.peers.get(id).map(|peer| (*id, &peer.operator)));
        if let Some((peer, request)) = particulars::next_ask(&self.shared, connected) {
            let asked = request.wanted.len();
            let id = self
                .swarm
                .behaviour_mut()
                .particulars
                .send_request(&peer, request);
            tracing::debug!(%peer, asked, "asking for particulars");
            self.particulars_in_flight = Some(id);
        }
    }

    fn on_particulars_event(
        &mut self,
        event: request_response::Event<
            particulars::ParticularsRequest,
            particulars::ParticularsResponse,
        >,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let Some(asker) = self.peers.get(&peer).map(|p| p.operator.clone()) else {
                        return;
                    };
                    let response = particulars::serve(&self.shared, &asker, &request);
                    let given = response.found.len();
                    if self
                        .swarm
                        .behaviour_mut()
                        .particulars
                        .send_response(channel, response)
                        .is_err()
                    {
                        tracing::debug!(%peer, "particulars response not sent: the peer left");
                    } else {
                        tracing::debug!(%peer, given, "particulars given");
                    }
                }
                request_response::Message::Response { response, .. } => {
                    self.particulars_in_flight = None;
                    let kept = particulars::keep(&self.shared, response);
                    if kept > 0 {
                        tracing::info!(%peer, kept, "particulars received");
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "particulars request failed");
                self.particulars_in_flight = None;
            }
            _ => {}
        }
    }

    /// Asks `peer` (or the next connected validator) for the blocks after our tip, or after
    /// the blocks last handed to the engine. Catching up, the next range is asked for as soon
    /// as a response arrives, while the engine applies the one before it; never while the
    /// engine has not started on the last one handed over, so at most two responses wait.
    fn request_sync(&mut self, peer: Option<PeerId>) {
        if self.sync_in_flight.is_some() || self.connected.is_empty() {
            return;
        }
        let next = self.shared.committed_height() + 1;
        let from_height = match self.sync_handed {
            Some((first, _)) if first > next => return,
            Some((_, last)) => next.max(last + 1),
            None => next,
        };
        let peer = peer.unwrap_or_else(|| {
            let mut connected: Vec<PeerId> = self.connected.iter().copied().collect();
            connected.sort();
            self.sync_cursor = (self.sync_cursor + 1) % connected.len();
            connected[self.sync_cursor]
        });
        self.sync_wanted = false;
        let request = SyncRequest {
            from_height,
            blocks_max: SYNC_BLOCKS_PER_REQUEST_MAX,
            pending_max: if self.want_pending {
                SYNC_PENDING_EVENTS_MAX
            } else {
                0
            },
        };
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.sync_in_flight = Some((id, tokio::time::Instant::now()));
    }

    /// Queues an input for the engine; false if it was dropped.
    fn to_engine(&self, input: EngineInput) -> bool {
        match self.to_engine.try_send(input) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                // Consensus messages are re-sent and sync asks again: dropping is safe, and
                // counted so a stall is visible.
                self.shared
                    .metrics
                    .engine_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                if !self.peers.contains_key(&peer_id) {
                    // The allow list refuses these first; this is the belt to its braces.
                    tracing::warn!(%peer_id, "closing a connection from a peer not in the genesis");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if self.connected.insert(peer_id) {
                    tracing::info!(peer = %self.peers[&peer_id].name, "peer connected");
                }
                self.shared
                    .peer_count
                    .store(self.connected.len(), Ordering::Release);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 && self.connected.remove(&peer_id) {
                    tracing::info!(%peer_id, "peer disconnected");
                }
                self.shared
                    .peer_count
                    .store(self.connected.len(), Ordering::Release);
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "incoming connection refused");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let checks = if message.topic == self.events_topic.hash() {
                    &self.event_checks
                } else if message.topic == self.consensus_topic.hash() {
                    &self.consensus_checks
                } else {
                    self.report_gossip(message_id, propagation_source, Err("unknown_topic"));
                    return;
                };
                // Checked on the topic's gossip thread, in arrival order; the verdict comes
                // back through `verdicts`.
                let check = GossipCheck {
                    message_id,
                    source: propagation_source,
                    data: message.data,
                };
                if let Err(TrySendError::Full(check) | TrySendError::Disconnected(check)) =
                    checks.try_send(check)
                {
                    self.shared.metrics.gossip_ignored.add("check_queue_full");
                    self.report_gossip(
                        check.message_id,
                        check.source,
                        Ok(MessageAcceptance::Ignore),
                    );
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            })) => {
                // Each dropped publish or forward counts once in `publish` or `forward`, whether
                // its queue was full or it timed out (the other fields overlap them).
                let dropped = failed_messages.publish + failed_messages.forward;
                tracing::warn!(peer = %peer_id, ?failed_messages, "gossip to a slow peer dropped");
                self.shared
                    .metrics
                    .gossip_dropped
                    .fetch_add(dropped as u64, std::sync::atomic::Ordering::Relaxed);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Particulars(event)) => {
                self.on_particulars_event(event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::ProposalEvents(event)) => {
                self.on_proposal_events_event(event)
            }
            _ => {}
        }
    }

    fn on_gossip_checked(&mut self, checked: GossipChecked) {
        if checked.ahead {
            self.request_sync(Some(checked.source));
        }
        self.report_gossip(checked.message_id, checked.source, checked.verdict);
    }

    /// Tells gossipsub whether to forward a message, and holds a fault against its source.
    fn report_gossip(
        &mut self,
        message_id: gossipsub::MessageId,
        source: PeerId,
        verdict: Result<MessageAcceptance, &'static str>,
    ) {
        let acceptance = match verdict {
            Ok(acceptance) => acceptance,
            Err(reason) => {
                self.penalise(source, reason);
                MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&message_id, &source, acceptance);
    }

    /// What a peer sent proves it faulty: counted, and its application score drops.
    fn penalise(&mut self, peer: PeerId, reason: &'static str) {
        tracing::debug!(%peer, reason, "peer sent what proves it faulty");
        self.shared.metrics.gossip_invalid.add(reason);
        let count = self.invalid_gossip.entry(peer).or_default();
        *count += 1.0;
        let score = -INVALID_GOSSIP_PENALTY * *count;
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, score);
    }

    fn on_sync_event(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.serve_sync_off_task(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if self.sync_in_flight.map(|(id, _)| id) == Some(request_id) {
                        self.sync_in_flight = None;
                    }
                    let range = response
                        .blocks
                        .first()
                        .zip(response.blocks.last())
                        .map(|(first, last)| (first.header.height, last.header.height));
                    let tip = response.tip_height;
                    let mut response = response;
                    let pending = std::mem::take(&mut response.pending);
                    if self.want_pending {
                        self.want_pending = false;
                        self.admit_handed_over(peer, pending);
                    }
                    if let Some(range) = range {
                        if self.to_engine(EngineInput::Synced(response)) {
                            self.sync_handed = Some(range);
                            if range.1 < tip {
                                self.request_sync(Some(peer));
                            }
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                if self.sync_in_flight.map(|(id, _)| id) == Some(request_id) {
                    self.sync_in_flight = None;
                }
            }
            _ => {}
        }
    }

    /// Reads a peer's blocks on a blocking thread, so RocksDB reads of up to a response's fill
    /// size never hold up the swarm; the answer comes back through `served`. At most
    /// `SYNC_SERVES_CONCURRENT_MAX` at once: a peer asking for more waits for its request to
    /// time out and asks again.
    fn serve_sync_off_task(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: request_response::ResponseChannel<SyncResponse>,
    ) {
        let Ok(slot) = self.sync_serves.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "sync request dropped: serving enough already");
            return;
        };
        let shared = self.shared.clone();
        let served = self.served.clone();
        tokio::task::spawn_blocking(move || {
            let response = serve_sync(&shared, request);
            drop(slot);
            let _ = served.blocking_send((peer, channel, response));
        });
    }

    fn send_sync_response(
        &mut self,
        peer: PeerId,
        channel: request_response::ResponseChannel<SyncResponse>,
        response: SyncResponse,
    ) {
        if self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response)
            .is_err()
        {
            tracing::debug!(%peer, "sync response not sent: the peer left");
        }
    }
}

/// Block `height` as sync sends it, with the parent's certificate it carries and its own.
fn synced_block(
    ledger: &crate::ledger::Ledger,
    height: u64,
) -> Result<Option<SyncedBlock>, crate::ledger::LedgerError> {
    let last_commit = match height {
        0 | 1 => None,
        _ => match ledger.certificate(height - 1)? {
            Some(certificate) => Some(certificate),
            None => return Ok(None),
        },
    };
    let (Some(header), Some(certificate)) = (ledger.header(height)?, ledger.certificate(height)?)
    else {
        return Ok(None);
    };
    Ok(Some(SyncedBlock {
        header,
        last_commit,
        events: ledger.block_events(height)?,
        certificate,
    }))
}

/// Reads committed blocks for a peer, up to the response's fill size, and the pending events a
/// starting peer asked for.
fn serve_sync(shared: &Shared, request: SyncRequest) -> SyncResponse {
    let ledger = shared.read_ledger();
    let tip = ledger.tip().height;
    let mut blocks = Vec::new();
    let mut bytes = 0usize;
    let last = request
        .from_height
        .saturating_add(u64::from(
            request.blocks_max.min(SYNC_BLOCKS_PER_REQUEST_MAX),
        ))
        .min(tip + 1);
    for height in request.from_height.max(1)..last {
        match synced_block(&ledger, height) {
            Ok(Some(block)) => {
                // The whole block counts, certificates too, so the response bound holds.
                bytes += waybill_protocol::codec::encode(&block).len();
                blocks.push(block);
                if bytes >= SYNC_RESPONSE_FILL_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            Err(error) => {
                tracing::error!(height, %error, "cannot read a block for a peer");
                break;
            }
        }
    }
    drop(ledger);
    let pending = if request.pending_max == 0 {
        Vec::new()
    } else {
        let limit = request.pending_max.min(SYNC_PENDING_EVENTS_MAX) as usize;
        let candidates = shared
            .lock_mempool()
            .block_candidates(limit, SYNC_PENDING_FILL_BYTES);
        candidates.iter().map(|c| c.event().clone()).collect()
    };
    SyncResponse {
        tip_height: tip,
        blocks,
        pending,
    }
}

impl Network {
    /// Admits a peer's pending events (the hand-over a starting node asks for) off the swarm
    /// task: each is checked like gossip (and held to the same bounds), what is known already
    /// is skipped cheaply, and the first that proves the peer faulty ends the hand-over and
    /// costs the peer its score, as invalid gossip does.
    fn admit_handed_over(&self, peer: PeerId, events: Vec<SignedEvent>) {
        let shared = self.shared.clone();
        let to_engine = self.to_engine.clone();
        let faults = self.faults.clone();
        tokio::task::spawn_blocking(move || {
            let (admitted, fault) = admit_from_peer(&shared, events, now_ms());
            if let Some(reason) = fault {
                tracing::warn!(%peer, reason, "a peer handed over an invalid event; the rest of its hand-over is dropped");
                let _ = faults.try_send((peer, reason));
            }
            tracing::info!(
                admitted,
                "pending events handed over by a peer; taking events"
            );
            if admitted > 0 {
                let _ = to_engine.try_send(EngineInput::EventsArrived);
            }
            shared.ready.store(true, Ordering::Release);
        });
    }
}

/// A gossip message waiting for its check on its topic's gossip thread.
struct GossipCheck {
    message_id: gossipsub::MessageId,
    source: PeerId,
    data: Vec<u8>,
}

/// A gossip thread's conclusion: forward, ignore or the sender's fault; and whether the
/// message shows its sender decided a height this node has not (so sync asks it).
struct GossipChecked {
    message_id: gossipsub::MessageId,
    source: PeerId,
    verdict: Result<MessageAcceptance, &'static str>,
    ahead: bool,
}

/// A gossip thread: checks one topic's messages one after another, in the order they arrived
/// (a signer's declaration must not overtake its pick-up), so decoding and signature checks
/// never hold up the swarm. Ends when the swarm task drops its sender.
fn spawn_gossip_checker(
    name: &str,
    verdicts: mpsc::Sender<GossipChecked>,
    mut check: impl FnMut(&[u8]) -> (Result<MessageAcceptance, &'static str>, bool) + Send + 'static,
) -> Result<std::sync::mpsc::SyncSender<GossipCheck>, NetworkError> {
    let (checks, queue) = std::sync::mpsc::sync_channel::<GossipCheck>(GOSSIP_CHECK_QUEUE_MAX);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Ok(message) = queue.recv() {
                let (verdict, ahead) = check(&message.data);
                let checked = GossipChecked {
                    message_id: message.message_id,
                    source: message.source,
                    verdict,
                    ahead,
                };
                if verdicts.blocking_send(checked).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| NetworkError::Libp2p(format!("cannot start {name}: {e}")))?;
    Ok(checks)
}

/// A consensus message: forwarded if its validator signed it and, for a proposal, the block
/// matches and it is that validator's round; handed to the engine within the queue's byte
/// budget. Late ones are ignored (genuine, but of no use to anyone).
fn check_consensus_gossip(
    shared: &Shared,
    to_engine: &SyncSender<EngineInput>,
    engine_bytes: &Arc<tokio::sync::Semaphore>,
    data: &[u8],
) -> (Result<MessageAcceptance, &'static str>, bool) {
    let gossip: ConsensusGossip =
        match codec::decode("consensus message", data, CONSENSUS_GOSSIP_BYTES_MAX) {
            Ok(gossip) => gossip,
            Err(_) => return (Err("malformed_consensus_message"), false),
        };
    let verified = match VerifiedGossip::check(&shared.rules, gossip) {
        Ok(verified) => verified,
        Err(reason) => return (Err(reason), false),
    };
    let height = verified.message.height();
    let committed = shared.committed_height();
    if height <= committed {
        return (Ok(MessageAcceptance::Ignore), false);
    }
    // Someone decided a height we have not: sync asks whoever sent this.
    let ahead = height > committed + 1;
    // Bounded by bytes as well as by count: proposals carry their blocks.
    let kib = u32::try_from(data.len().div_ceil(1024)).unwrap_or(u32::MAX);
    let queued = engine_bytes
        .clone()
        .try_acquire_many_owned(kib)
        .ok()
        .is_some_and(|budget| {
            to_engine
                .try_send(EngineInput::Consensus(verified, budget))
                .is_ok()
        });
    if !queued {
        // Consensus messages are re-sent and sync asks again: dropping is safe, and counted.
        shared
            .metrics
            .engine_queue_full
            .fetch_add(1, Ordering::Relaxed);
        return (Ok(MessageAcceptance::Ignore), ahead);
    }
    (Ok(MessageAcceptance::Accept), ahead)
}

/// An event batch: forwarded only if no event proves its sender faulty (see
/// `AdmissionRefusal::proves_sender_faulty`); known, committed, future-dated by this node's
/// clock or refused by a full mempool are the receiver's business, not the sender's. Returns
/// the verdict and how many events reached the mempool.
fn check_event_gossip(
    shared: &Shared,
    data: &[u8],
) -> (Result<MessageAcceptance, &'static str>, usize) {
    let batch: EventBatch = match codec::decode("event batch", data, EVENT_GOSSIP_BYTES_MAX) {
        Ok(batch) => batch,
        Err(_) => return (Err("malformed_event_batch"), 0),
    };
    if batch.len() > EVENT_GOSSIP_EVENTS_MAX {
        return (Err("oversize_event_batch"), 0);
    }
    let (admitted, fault) = admit_from_peer(shared, batch, now_ms());
    match fault {
        Some(reason) => (Err(reason), admitted),
        None => (Ok(MessageAcceptance::Accept), admitted),
    }
}

/// Admits events a peer sent (gossip or a hand-over) in order, stopping at the first that
/// proves the peer faulty. Returns how many reached the mempool, and that fault.
fn admit_from_peer(
    shared: &Shared,
    events: Vec<SignedEvent>,
    now_ms: u64,
) -> (usize, Option<&'static str>) {
    let ids: Vec<Hash> = events.iter().map(|event| event.body.id()).collect();
    admission::check_ahead(shared, &events, &ids);
    let mut admitted = 0;
    for (event, id) in events.into_iter().zip(ids) {
        let origin = admission::Origin::Peer;
        match admission::admit_identified(shared, id, event, now_ms, origin, |_| Ok(())) {
            Ok(_) => admitted += 1,
            Err(refusal) if refusal.proves_sender_faulty() => {
                return (admitted, Some(refusal.code()));
            }
            Err(refusal) => shared.metrics.gossip_ignored.add(refusal.code()),
        }
    }
    (admitted, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Ledger, LedgerOptions};
    use crate::mempool::{Mempool, MempoolLimits};
    use waybill_protocol::block::Proposal;
    use waybill_protocol::event::EventKind;
    use waybill_protocol::rules::ChainRules;
    use waybill_protocol::{Hash, ValidatorIndex, fixtures};

    /// Validator 1's proposal for height 1, round 0 (its turn), of a compact block naming
    /// `events` events (5,000 ids are about 160 KB).
    fn proposal_of(events: usize) -> Vec<u8> {
        let event_ids: Vec<Hash> = (0..events as u64)
            .map(|n| Hash::of_parts(&[&n.to_be_bytes()]))
            .collect();
        let header = fixtures::bare_header(1, ValidatorIndex(1), events as u32);
        let proposal = Proposal {
            height: 1,
            round: 0,
            block_hash: header.hash(),
            valid_round: None,
            proposer: ValidatorIndex(1),
        }
        .sign(&fixtures::chain_id(), &fixtures::node_keypair(1));
        let block = Box::new(wire::CompactBody {
            header,
            last_commit: None,
            event_ids,
        });
        codec::encode(&ConsensusGossip::Proposal { proposal, block })
    }

    fn shared(dir: &std::path::Path, mempool: MempoolLimits) -> Shared {
        let rules = ChainRules::new(fixtures::genesis(4)).expect("fixture genesis");
        let ledger = Ledger::open(dir, rules.clone(), LedgerOptions::default()).expect("ledger");
        Shared::new(
            Arc::new(rules),
            ValidatorIndex(0),
            ledger,
            Mempool::new(mempool),
        )
    }

    #[test]
    fn a_peers_events_stop_at_the_first_that_proves_it_faulty_and_keep_their_bounds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shared = shared(
            dir.path(),
            MempoolLimits {
                per_organisation_from_peers_max: 3,
                ..MempoolLimits::default()
            },
        );
        let pick_up = |nonce| fixtures::signed_event("carrier-a", nonce, "S", EventKind::PickUp);
        let mut forged = pick_up(3);
        forged.signature.0[0] ^= 1;
        let handed_over = vec![pick_up(1), pick_up(2), forged, pick_up(4)];
        let (admitted, fault) = admit_from_peer(&shared, handed_over, fixtures::NOW_MS);
        assert_eq!((admitted, fault), (2, Some("bad_signature")));
        assert!(!shared.lock_mempool().contains(&pick_up(4).id()));
        // A peer's events are held to the organisation bound for gossip (not a fault).
        let more = vec![pick_up(5), pick_up(6), pick_up(7)];
        let (admitted, fault) = admit_from_peer(&shared, more, fixtures::NOW_MS);
        assert_eq!((admitted, fault), (1, None));
        assert_eq!(shared.lock_mempool().len(), 3);
    }

    #[test]
    fn consensus_messages_wait_for_the_engine_within_a_byte_budget() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shared = shared(dir.path(), MempoolLimits::default());
        let (to_engine, queue) = std::sync::mpsc::sync_channel(16);
        let message = proposal_of(5_000);
        let kib = message.len().div_ceil(1024);
        // Room for one such proposal, not two, however many the queue's count would take.
        let budget = Arc::new(tokio::sync::Semaphore::new(kib + kib / 2));
        let verdict = |data: &[u8]| check_consensus_gossip(&shared, &to_engine, &budget, data).0;
        assert!(matches!(verdict(&message), Ok(MessageAcceptance::Accept)));
        assert!(matches!(verdict(&message), Ok(MessageAcceptance::Ignore)));
        assert_eq!(shared.metrics.engine_queue_full.load(Ordering::Relaxed), 1);
        // The engine takes the first: its share comes back, and the next fits again.
        drop(queue.try_recv().expect("one queued"));
        assert!(matches!(verdict(&message), Ok(MessageAcceptance::Accept)));
        // Not its round (validator 3 signing for validator 1's): a fault, not a wait.
        let mut forged: ConsensusGossip =
            codec::decode("consensus message", &message, CONSENSUS_GOSSIP_BYTES_MAX)
                .expect("decodes");
        if let ConsensusGossip::Proposal { proposal, .. } = &mut forged {
            let mut p = proposal.proposal.clone();
            p.proposer = ValidatorIndex(3);
            *proposal = p.sign(&fixtures::chain_id(), &fixtures::node_keypair(3));
        }
        assert!(matches!(
            verdict(&codec::encode(&forged)),
            Err("not_the_rounds_proposer")
        ));
    }
}
