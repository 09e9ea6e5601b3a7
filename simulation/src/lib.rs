//! A deterministic simulation of N validators running the real consensus state machine, double-
//! sign guard and WAL records over a simulated network: a seeded scheduler delivers messages
//! with delays, drops, duplicates and reordering, in virtual time; nodes crash at chosen
//! durability points and restart from their WAL; links can be cut into partitions. The same
//! seed gives the same run, byte for byte ([`Simulation::digest`] hashes every delivery).
//!
//! Each node runs the node's own consensus driver (`waybill_consensus::Driver`): it logs inputs
//! to the WAL, signs a cast vote, makes it durable (sync) and only then sends it, re-sends its
//! own messages of the current height every gossip tick and rotates the WAL when a height is
//! committed. What is simulated is its host and storage: a WAL in memory whose crash keeps only
//! what was synced, a lossy network, block sync of certificates of heights a node is behind on,
//! and an application where a proposer's block is `H(height ‖ round ‖ proposer)` and every
//! block is valid. Byzantine behaviour is the host's: an equivocator's host signs a twin of
//! each message the driver sends, a spammer's adds noise.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

use waybill_consensus::wal::{WalEntry, encode_record, read_records};
use waybill_consensus::{
    Consensus, Driver, Evidence, Host, Input, LoggedInput, MemoryWal, MessageRejection,
    ReplayError, SignError, Signer, Timeout, WalStorage,
};
use waybill_protocol::block::{CertificateError, ConsensusMessage, VerifiedCertificate};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{CommitCertificate, Hash, ValidatorIndex, VoteStep, fixtures};

/// SplitMix64: small, fast and fully determined by its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next_u64() % 1_000 < per_mille
    }
}

/// How the simulated network misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct Links {
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
    pub drop_per_mille: u64,
    pub duplicate_per_mille: u64,
}

impl Links {
    pub const PERFECT: Links = Links {
        delay_min_ms: 1,
        delay_max_ms: 1,
        drop_per_mille: 0,
        duplicate_per_mille: 0,
    };

    /// 5–80 ms, 5 % dropped, 5 % duplicated: reordering follows from the spread of delays.
    pub const LOSSY: Links = Links {
        delay_min_ms: 5,
        delay_max_ms: 80,
        drop_per_mille: 50,
        duplicate_per_mille: 50,
    };
}

/// How often each node re-sends its own messages of its current height, as gossip does, so a
/// dropped message is not lost for good.
pub const GOSSIP_INTERVAL_MS: u64 = 100;
/// Certificates one block-sync answer carries: consecutive heights from the asker's.
pub const SYNC_BATCH: u64 = 128;

/// Where in casting a vote or proposal a node dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Signed and appended, not yet durable: a torn record is left behind.
    BeforeSync,
    /// Durable, not yet sent.
    AfterSync,
    /// Sent.
    AfterSend,
}

/// Crash `node` at `point` of its `cast`-th cast (1-based), and restart it `down_ms` later.
#[derive(Debug, Clone, Copy)]
pub struct CrashPlan {
    pub node: usize,
    pub point: CrashPoint,
    pub cast: u32,
    pub down_ms: u64,
}

/// How a node behaves. Byzantine nodes sign with their own key, bypassing the double-sign guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// As proposer, proposes two different blocks, one to each half of the network; votes for
    /// both too (a different block to each half).
    Equivocator,
    /// Honest votes, plus on every gossip tick: a vote with a bad signature in another
    /// validator's name, one signed by a key outside the genesis, messages for far-future
    /// heights and rounds, and replays of messages from heights already decided.
    Spammer,
}

#[derive(Debug, Clone)]
enum Event {
    /// What reaches the node from outside (a message, a synced commit) or from its own host
    /// (timeouts, verdicts), unverified: the node's boundary checks it, as the node's network
    /// does.
    Input(LoggedInput),
    /// The process starts from its WAL and ledger: at the beginning, or after a crash.
    Boot { restart: bool },
}

/// A node's crash plans and how many messages it has signed in its life (across restarts):
/// shared by its WAL, which crashes around a sync, and its host, which crashes after a send.
#[derive(Debug, Default)]
struct Faults {
    casts: u32,
    plans: Vec<CrashPlan>,
}

impl Faults {
    fn due(&mut self, point: CrashPoint) -> Option<CrashPlan> {
        let casts = self.casts;
        let index = self
            .plans
            .iter()
            .position(|p| p.point == point && p.cast == casts)?;
        Some(self.plans.remove(index))
    }
}

/// What stops a node's driver: its process dies at a planned point, or it decided against
/// another honest node.
#[derive(Debug)]
pub enum Stop {
    Crash(CrashPlan),
    Safety(SafetyViolation),
}

/// A node's WAL: in memory, dying around a sync as planned.
#[derive(Debug)]
pub struct SimWal {
    wal: MemoryWal,
    faults: Rc<RefCell<Faults>>,
}

impl WalStorage for SimWal {
    type Error = Stop;

    fn append(&mut self, entry: &WalEntry) {
        if matches!(entry, WalEntry::Signed(_)) {
            self.faults.borrow_mut().casts += 1;
        }
        self.wal.append(entry);
    }

    fn sync(&mut self) -> Result<(), Stop> {
        if let Some(plan) = self.faults.borrow_mut().due(CrashPoint::BeforeSync) {
            return Err(Stop::Crash(plan));
        }
        let Ok(()) = self.wal.sync();
        match self.faults.borrow_mut().due(CrashPoint::AfterSync) {
            Some(plan) => Err(Stop::Crash(plan)),
            None => Ok(()),
        }
    }

    fn start_height(&mut self, height: u64) -> Result<(), Stop> {
        let Ok(()) = self.wal.start_height(height);
        Ok(())
    }
}

#[derive(Debug)]
pub struct SimNode {
    /// The node's own consensus driver, over its simulated WAL.
    pub driver: Driver<SimWal>,
    /// The ledger: height → decided block. Survives crashes.
    pub decided: BTreeMap<u64, Hash>,
    pub crashed: bool,
    pub restarts: u32,
    pub behaviour: Behaviour,
    faults: Rc<RefCell<Faults>>,
    /// Everything this node received, for a spammer to replay later.
    heard: Vec<ConsensusMessage>,
    /// Messages seen at the current height (by hash), so each is relayed once.
    seen: BTreeSet<Hash>,
    seen_height: u64,
}

impl SimNode {
    pub fn consensus(&self) -> &Consensus {
        self.driver.consensus()
    }
}

/// A safety violation: two honest nodes decided different blocks at one height.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "safety violated at height {height}: node {first_node} decided {first}, node {second_node} decided {second}"
)]
pub struct SafetyViolation {
    pub height: u64,
    pub first_node: usize,
    pub first: Hash,
    pub second_node: usize,
    pub second: Hash,
}

/// Everything but the nodes' drivers: the network, the clock, what was decided.
#[derive(Debug)]
pub struct World {
    rules: Arc<ChainRules>,
    validators: usize,
    /// (delivery time, sequence) → (node, event): ordered, so ties go in sending order.
    queue: BTreeMap<(u64, u64), (usize, Event)>,
    sequence: u64,
    pub now_ms: u64,
    pub links: Links,
    rng: Rng,
    digest: Hash,
    /// height → (node, block) of the first decision seen.
    first_decisions: BTreeMap<u64, (usize, Hash)>,
    certificates: Vec<CommitCertificate>,
    certificates_by_height: BTreeMap<u64, CommitCertificate>,
    /// Each side of a partition: a message crosses only between nodes of one group.
    partition: Option<Vec<BTreeSet<usize>>>,
    pub messages_delivered: u64,
    pub rejected: u64,
    /// Why the last message any node did not take into account was refused.
    pub last_rejection: Option<MessageRejection>,
    /// Evidence raised by any node: an honest run raises none.
    pub evidence: u64,
}

impl World {
    fn connected(&self, from: usize, to: usize) -> bool {
        self.partition
            .as_ref()
            .is_none_or(|groups| groups.iter().any(|g| g.contains(&from) && g.contains(&to)))
    }

    fn enqueue(&mut self, delay_ms: u64, to: usize, event: Event) {
        self.sequence += 1;
        self.queue
            .insert((self.now_ms + delay_ms, self.sequence), (to, event));
    }

    fn delay(&mut self) -> u64 {
        self.rng
            .range(self.links.delay_min_ms, self.links.delay_max_ms)
    }

    fn send_to_others(&mut self, from: usize, message: &ConsensusMessage) {
        for to in 0..self.validators {
            if to == from || !self.connected(from, to) || self.rng.chance(self.links.drop_per_mille)
            {
                continue;
            }
            let copies = if self.rng.chance(self.links.duplicate_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = self.delay();
                self.enqueue(delay, to, Event::Input(Input::Message(message.clone())));
            }
        }
    }

    /// Signs a conflicting twin of `message` (same position, another block) with the node's
    /// key, past any guard, and sends the message to the even nodes and the twin to the odd.
    fn equivocate(&mut self, node: usize, message: &ConsensusMessage) {
        let key = fixtures::node_keypair(node);
        let chain = self.rules.chain_id().clone();
        let twin_hash = Hash::of_parts(&[b"twin", &self.rng.next_u64().to_le_bytes()]);
        let twin = match message {
            ConsensusMessage::Vote(signed) => {
                let mut twin = signed.vote.clone();
                twin.block = Some(twin_hash);
                ConsensusMessage::Vote(twin.sign(&chain, &key))
            }
            ConsensusMessage::Proposal(signed) => {
                let mut twin = signed.proposal.clone();
                twin.block_hash = twin_hash;
                ConsensusMessage::Proposal(twin.sign(&chain, &key))
            }
        };
        for to in 0..self.validators {
            if to == node || !self.connected(node, to) {
                continue;
            }
            let sent = if to % 2 == 0 { message } else { &twin };
            let delay = self.delay();
            self.enqueue(delay, to, Event::Input(Input::Message(sent.clone())));
        }
    }

    /// Records a decision and checks it against the first one any honest node made there.
    fn decide(
        &mut self,
        node: usize,
        honest: bool,
        height: u64,
        block_hash: Hash,
        certificate: &CommitCertificate,
    ) -> Result<(), SafetyViolation> {
        assert_eq!(certificate.block_hash, block_hash);
        self.certificates_by_height
            .entry(height)
            .or_insert_with(|| certificate.clone());
        self.certificates.push(certificate.clone());
        if !honest {
            return Ok(());
        }
        match self.first_decisions.get(&height) {
            Some((first_node, first)) if *first != block_hash => Err(SafetyViolation {
                height,
                first_node: *first_node,
                first: *first,
                second_node: node,
                second: block_hash,
            }),
            Some(_) => Ok(()),
            None => {
                self.first_decisions.insert(height, (node, block_hash));
                Ok(())
            }
        }
    }
}

/// One node's host while its driver runs: the world it lives in and its ledger.
struct SimHost<'a> {
    world: &'a mut World,
    node: usize,
    behaviour: Behaviour,
    decided: &'a mut BTreeMap<u64, Hash>,
    faults: &'a RefCell<Faults>,
}

impl Host for SimHost<'_> {
    type Error = Stop;

    fn send(&mut self, message: &ConsensusMessage, fresh: bool) -> Result<(), Stop> {
        if fresh && self.behaviour == Behaviour::Equivocator {
            self.world.equivocate(self.node, message);
        } else {
            self.world.send_to_others(self.node, message);
        }
        if !fresh {
            return Ok(());
        }
        match self.faults.borrow_mut().due(CrashPoint::AfterSend) {
            Some(plan) => Err(Stop::Crash(plan)),
            None => Ok(()),
        }
    }

    fn schedule(&mut self, timeout: Timeout, duration_ms: u64) {
        let input = Event::Input(Input::Timeout(timeout));
        self.world.enqueue(duration_ms, self.node, input);
    }

    fn request_block(&mut self, height: u64, round: u32) -> Result<Option<Input>, Stop> {
        let block_hash = Hash::of_parts(&[
            b"block",
            &height.to_le_bytes(),
            &round.to_le_bytes(),
            &(self.node as u64).to_le_bytes(),
        ]);
        let ready = Input::BlockReady {
            height,
            round,
            block_hash,
        };
        self.world.enqueue(1, self.node, Event::Input(ready));
        Ok(None)
    }

    fn validate_block(
        &mut self,
        height: u64,
        _round: u32,
        block_hash: Hash,
    ) -> Result<Option<Input>, Stop> {
        let verdict = Input::BlockValidity {
            height,
            block_hash,
            valid: true,
        };
        self.world.enqueue(1, self.node, Event::Input(verdict));
        Ok(None)
    }

    fn decide(
        &mut self,
        height: u64,
        block_hash: Hash,
        certificate: &VerifiedCertificate,
    ) -> Result<bool, Stop> {
        self.decided.insert(height, block_hash);
        let honest = self.behaviour == Behaviour::Honest;
        self.world
            .decide(self.node, honest, height, block_hash, certificate)
            .map_err(Stop::Safety)?;
        Ok(true)
    }

    fn evidence(&mut self, _evidence: Evidence) -> Result<(), Stop> {
        self.world.evidence += 1;
        Ok(())
    }

    fn rejected(&mut self, _sender: u16, reason: MessageRejection) {
        self.world.rejected += 1;
        self.world.last_rejection = Some(reason);
    }

    fn commit_rejected(&mut self, _height: u64, _reason: CertificateError) {
        self.world.rejected += 1;
    }

    fn sign_refused(&mut self, error: SignError) {
        panic!(
            "node {}: an honest node never double-signs: {error}",
            self.node
        );
    }
}

#[derive(Debug)]
pub struct Simulation {
    pub rules: Arc<ChainRules>,
    pub nodes: Vec<SimNode>,
    pub world: World,
    gossip_due: Vec<u64>,
    /// Time spent inside the nodes' drivers, for the benchmark.
    pub apply_time: std::time::Duration,
}

/// A driver for `node` that has not started: a fresh process over `wal`.
fn driver(
    rules: &Arc<ChainRules>,
    node: usize,
    wal: MemoryWal,
    faults: &Rc<RefCell<Faults>>,
) -> Driver<SimWal> {
    let consensus = Consensus::new(rules.clone(), Some(ValidatorIndex(node as u16)));
    let signer = Signer::new(rules.chain_id().clone(), fixtures::node_keypair(node));
    let wal = SimWal {
        wal,
        faults: faults.clone(),
    };
    Driver::new(consensus, signer, wal, GOSSIP_INTERVAL_MS)
}

impl Simulation {
    /// `validators` nodes of the fixture genesis, all started at height 1.
    pub fn new(validators: usize, seed: u64, links: Links) -> Simulation {
        let rules = Arc::new(
            ChainRules::new(fixtures::genesis(validators)).expect("fixture genesis is valid"),
        );
        let nodes = (0..validators)
            .map(|index| {
                let faults = Rc::new(RefCell::new(Faults::default()));
                let wal = MemoryWal::from_bytes(encode_record(&WalEntry::Height(1)));
                SimNode {
                    driver: driver(&rules, index, wal, &faults),
                    decided: BTreeMap::new(),
                    crashed: false,
                    restarts: 0,
                    behaviour: Behaviour::Honest,
                    faults,
                    heard: Vec::new(),
                    seen: BTreeSet::new(),
                    seen_height: 0,
                }
            })
            .collect();
        let world = World {
            rules: rules.clone(),
            validators,
            queue: BTreeMap::new(),
            sequence: 0,
            now_ms: 0,
            links,
            rng: Rng::new(seed),
            digest: Hash::ZERO,
            first_decisions: BTreeMap::new(),
            certificates: Vec::new(),
            certificates_by_height: BTreeMap::new(),
            partition: None,
            messages_delivered: 0,
            rejected: 0,
            last_rejection: None,
            evidence: 0,
        };
        let mut simulation = Simulation {
            rules,
            nodes,
            world,
            gossip_due: vec![GOSSIP_INTERVAL_MS; validators],
            apply_time: std::time::Duration::ZERO,
        };
        for node in 0..validators {
            simulation
                .world
                .enqueue(0, node, Event::Boot { restart: false });
        }
        simulation
    }

    pub fn now_ms(&self) -> u64 {
        self.world.now_ms
    }

    pub fn evidence(&self) -> u64 {
        self.world.evidence
    }

    pub fn rejected(&self) -> u64 {
        self.world.rejected
    }

    pub fn plan_crash(&mut self, plan: CrashPlan) {
        self.nodes[plan.node].faults.borrow_mut().plans.push(plan);
    }

    pub fn set_behaviour(&mut self, node: usize, behaviour: Behaviour) {
        self.nodes[node].behaviour = behaviour;
    }

    /// Cuts the network into `groups`; `None` heals it.
    pub fn partition(&mut self, groups: Option<Vec<BTreeSet<usize>>>) {
        self.world.partition = groups;
    }

    /// Runs `node`'s driver on `run` with its host; a planned crash kills the node there.
    fn drive(
        &mut self,
        node: usize,
        run: impl FnOnce(&mut Driver<SimWal>, &mut SimHost<'_>) -> Result<(), Stop>,
    ) -> Result<(), SafetyViolation> {
        let state = &mut self.nodes[node];
        let mut host = SimHost {
            world: &mut self.world,
            node,
            behaviour: state.behaviour,
            decided: &mut state.decided,
            faults: &state.faults,
        };
        let started = std::time::Instant::now();
        let outcome = run(&mut state.driver, &mut host);
        self.apply_time += started.elapsed();
        match outcome {
            Ok(()) => Ok(()),
            Err(Stop::Crash(plan)) => {
                self.crash(plan);
                Ok(())
            }
            Err(Stop::Safety(violation)) => Err(violation),
        }
    }

    /// Kills a node: its disk keeps the durable part of the WAL (and, before a sync, half of
    /// the record being written: a torn tail, cut off as a restart would); it comes back after
    /// `down_ms` as a fresh process over that WAL.
    fn crash(&mut self, plan: CrashPlan) {
        let node = &mut self.nodes[plan.node];
        let wal = &node.driver.wal().wal;
        let torn = match plan.point {
            CrashPoint::BeforeSync => wal.pending() / 2,
            _ => 0,
        };
        let disk = wal
            .crash(torn)
            .expect("a simulated WAL is only ever torn at its end");
        node.driver = driver(&self.rules, plan.node, disk, &node.faults);
        node.crashed = true;
        self.world
            .enqueue(plan.down_ms, plan.node, Event::Boot { restart: true });
    }

    /// Starts a node's driver from its WAL and ledger, as a (re)started process does.
    fn boot(&mut self, node: usize, restart: bool) -> Result<(), SafetyViolation> {
        let state = &mut self.nodes[node];
        if restart {
            state.restarts += 1;
        }
        state.crashed = false;
        let entries = read_records(state.driver.wal().wal.bytes())
            .expect("a simulated WAL is whole after a crash")
            .entries;
        let ledger_height = state.decided.keys().next_back().copied().unwrap_or(0);
        let now = self.world.now_ms;
        self.drive(node, |driver, host| {
            driver.start(host, &entries, ledger_height, now).map(|_| ())
        })
    }

    /// Gossip ticks due no later than the next queued event run first: each live node re-sends
    /// its own messages of its height, and a node behind a connected peer fetches the
    /// certificates of the heights it misses (block sync, over the same lossy links).
    fn gossip(&mut self) -> Result<(), SafetyViolation> {
        loop {
            let Some((node, due)) = self
                .gossip_due
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|(_, due)| *due)
            else {
                return Ok(());
            };
            // Re-read each time: a tick may have queued something earlier than the next tick.
            let next_event = self
                .world
                .queue
                .first_key_value()
                .map(|((time, _), _)| *time);
            if next_event.is_some_and(|next| due > next) {
                return Ok(());
            }
            let quiet = self
                .nodes
                .iter()
                .all(|n| n.crashed || n.driver.own().is_empty());
            if next_event.is_none() && quiet {
                return Ok(());
            }
            self.world.now_ms = self.world.now_ms.max(due);
            self.gossip_due[node] = due + GOSSIP_INTERVAL_MS;
            if self.nodes[node].crashed {
                continue;
            }
            if self.nodes[node].behaviour == Behaviour::Spammer {
                self.spam(node);
            }
            self.drive(node, |driver, host| driver.tick(host, due))?;
            self.sync(node);
        }
    }

    /// Block sync: a node behind a connected peer gets the certificates of the heights it
    /// misses, as decisions of its current height (`Input::Commit`).
    fn sync(&mut self, node: usize) {
        if self.nodes[node].crashed {
            return;
        }
        let height = self.nodes[node].consensus().height();
        let peer_has_it = (0..self.nodes.len()).any(|peer| {
            !self.nodes[peer].crashed
                && self.world.connected(peer, node)
                && self.nodes[peer].decided.contains_key(&height)
        });
        if !peer_has_it || self.world.rng.chance(self.world.links.drop_per_mille) {
            return;
        }
        let delay = 2 * self.world.delay();
        let batch: Vec<CommitCertificate> = self
            .world
            .certificates_by_height
            .range(height..height + SYNC_BATCH)
            .map(|(_, c)| c.clone())
            .collect();
        for certificate in batch {
            let commit = Event::Input(Input::Commit { certificate });
            self.world.enqueue(delay, node, commit);
        }
    }

    /// Delivers the next event; false when nothing is left.
    pub fn step(&mut self) -> Result<bool, SafetyViolation> {
        self.gossip()?;
        let Some(((time, sequence), (to, event))) = self.world.queue.pop_first() else {
            return Ok(false);
        };
        self.world.now_ms = time;
        match event {
            // A node set crashed before it ever started stays down until `bring_online`.
            Event::Boot { restart: false } if self.nodes[to].crashed => {}
            Event::Boot { restart } => self.boot(to, restart)?,
            Event::Input(input) => {
                if self.nodes[to].crashed {
                    return Ok(true);
                }
                self.world.digest = Hash::of_parts(&[
                    self.world.digest.as_bytes(),
                    format!("{time}/{sequence}/{to}/{input:?}").as_bytes(),
                ]);
                if let Input::Message(message) = &input {
                    self.world.messages_delivered += 1;
                    let receiver = &mut self.nodes[to];
                    if receiver.behaviour == Behaviour::Spammer && receiver.heard.len() < 10_000 {
                        receiver.heard.push(message.clone());
                    }
                }
                self.deliver(to, input)?;
            }
        }
        Ok(true)
    }

    /// Hands `input` to `node` now, outside the schedule, through its boundary: the one
    /// signature check, then (for a message) gossip's relay, then the driver. What does not
    /// verify is counted as rejected, and neither relayed nor seen by consensus.
    pub fn deliver(&mut self, node: usize, input: LoggedInput) -> Result<(), SafetyViolation> {
        // A copy of a message the node holds changes nothing: dropped before its signature is
        // checked again, as gossip drops what it has seen.
        if let Input::Message(message) = &input {
            if self.nodes[node].driver.consensus().holds(message.as_ref()) {
                return Ok(());
            }
        }
        let input = match input.verify(&self.rules) {
            Ok(input) => input,
            Err(ReplayError::Message(reason)) => {
                self.world.rejected += 1;
                self.world.last_rejection = Some(reason.into());
                return Ok(());
            }
            Err(ReplayError::Commit(_)) => {
                self.world.rejected += 1;
                return Ok(());
            }
        };
        if let Input::Message(message) = &input {
            self.relay(node, message.message());
        }
        self.drive(node, |driver, host| driver.handle(host, input))
    }

    /// Gossip relays what it hears: the first time a node sees a message of its height from
    /// another validator, it forwards it to one random peer. So conflicting messages an
    /// equivocator sent to different peers meet somewhere.
    fn relay(&mut self, node: usize, message: ConsensusMessage) {
        let height = self.nodes[node].consensus().height();
        let receiver = &mut self.nodes[node];
        if receiver.seen_height != height {
            receiver.seen.clear();
            receiver.seen_height = height;
        }
        let sender = usize::from(message.sender().0);
        if sender == node || message.height() != height {
            return;
        }
        let id = Hash::of_parts(&[&waybill_protocol::codec::encode(&message)]);
        if !receiver.seen.insert(id) {
            return;
        }
        let world = &mut self.world;
        let peer = world.rng.range(0, self.nodes.len() as u64 - 1) as usize;
        if peer == node
            || peer == sender
            || !world.connected(node, peer)
            || world.rng.chance(world.links.drop_per_mille)
        {
            return;
        }
        let delay = world.delay();
        world.enqueue(delay, peer, Event::Input(Input::Message(message)));
    }

    /// A spammer's noise for one gossip tick.
    fn spam(&mut self, node: usize) {
        let height = self.nodes[node].consensus().height();
        let chain = self.rules.chain_id().clone();
        let victim = ValidatorIndex(((node + 1) % self.nodes.len()) as u16);
        let vote = |height, round, validator| waybill_protocol::Vote {
            height,
            round,
            step: VoteStep::Prevote,
            block: Some(Hash([9; 32])),
            validator,
        };
        let mut noise = Vec::new();
        let mut forged = vote(height, 0, victim).sign(&chain, &fixtures::node_keypair(node));
        forged.signature.0[0] ^= 1;
        noise.push(ConsensusMessage::Vote(forged));
        noise.push(ConsensusMessage::Vote(
            vote(height, 0, victim).sign(&chain, &fixtures::keypair("outsider")),
        ));
        let own = ValidatorIndex(node as u16);
        noise.push(ConsensusMessage::Vote(
            vote(height + 1_000, 0, own).sign(&chain, &fixtures::node_keypair(node)),
        ));
        noise.push(ConsensusMessage::Vote(
            vote(height, 10_000 + self.world.rng.range(0, 1_000) as u32, own)
                .sign(&chain, &fixtures::node_keypair(node)),
        ));
        let heard = &self.nodes[node].heard;
        if !heard.is_empty() {
            let old = heard[self.world.rng.range(0, heard.len() as u64 - 1) as usize].clone();
            noise.push(old);
        }
        for message in noise {
            self.world.send_to_others(node, &message);
        }
    }

    /// Runs until every live node has decided `height`, or `deadline_ms` of virtual time passes.
    pub fn run_until_height(
        &mut self,
        height: u64,
        deadline_ms: u64,
    ) -> Result<bool, SafetyViolation> {
        while !self.all_live_reached(height) {
            if self.world.now_ms > deadline_ms || !self.step()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs until `time_ms` of virtual time.
    pub fn run_until_time(&mut self, time_ms: u64) -> Result<(), SafetyViolation> {
        while self.world.now_ms < time_ms {
            if !self.step()? {
                break;
            }
        }
        Ok(())
    }

    fn all_live_reached(&self, height: u64) -> bool {
        self.nodes
            .iter()
            .filter(|n| !n.crashed)
            .all(|n| n.decided.contains_key(&height))
    }

    /// Brings a node that was offline from the start back: it starts at height 1 and must catch
    /// up by sync.
    pub fn bring_online(&mut self, node: usize) {
        self.nodes[node].crashed = false;
        self.world.enqueue(0, node, Event::Boot { restart: false });
    }

    /// Every certificate any node decided with, in decision order.
    pub fn certificates(&self) -> &[CommitCertificate] {
        &self.world.certificates
    }

    pub fn digest(&self) -> Hash {
        self.world.digest
    }

    /// The highest height every node has decided.
    pub fn common_height(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.decided.keys().next_back().copied().unwrap_or(0))
            .min()
            .unwrap_or(0)
    }
}
