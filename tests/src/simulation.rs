//! A deterministic simulation of N validators running the real consensus state machine, double-
//! sign guard and WAL records over a simulated network: a seeded scheduler delivers messages
//! with delays, drops, duplicates and reordering, in virtual time; nodes crash at chosen
//! durability points and restart from their WAL; links can be cut into partitions. The same
//! seed gives the same run, byte for byte ([`Simulation::digest`] hashes every delivery).
//!
//! The engine around each state machine does what the node will: log each input to the WAL,
//! sign a cast vote, make it durable (sync) and only then send it; re-send its own messages of
//! the current height every gossip tick; fetch certificates of heights it is behind on (block
//! sync); rotate the WAL when a height is committed. The application is minimal: a proposer's
//! block is `H(height ‖ round ‖ proposer)`, and every block is valid.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use waybill_node::consensus::wal::{WalEntry, encode_record, read_records, replay};
use waybill_node::consensus::{
    Consensus, Input, Output, SignatureCheck, Signer, message_position, proposal_position,
    vote_position,
};
use waybill_protocol::block::ConsensusMessage;
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

/// A message the state machine asked to cast, not yet signed.
#[derive(Debug, Clone)]
enum Cast {
    Vote(waybill_protocol::Vote),
    Proposal(waybill_protocol::block::Proposal),
}

#[derive(Debug, Clone)]
enum Event {
    Input(Input),
    Restart,
}

#[derive(Debug)]
pub struct SimNode {
    pub consensus: Consensus,
    signer: Signer,
    /// Messages this node signed for its current height: re-sent on gossip, and after a restart
    /// re-sent instead of signed again.
    own: Vec<ConsensusMessage>,
    /// The node's WAL as its disk holds it, and how much of it is durable.
    wal: Vec<u8>,
    wal_durable: usize,
    /// The ledger: height → decided block. Survives crashes.
    pub decided: BTreeMap<u64, Hash>,
    pub crashed: bool,
    casts: u32,
    pub restarts: u32,
    pub behaviour: Behaviour,
    /// Everything this node received, for a spammer to replay later.
    heard: Vec<ConsensusMessage>,
    /// Messages seen at the current height (by hash), so each is relayed once.
    seen: BTreeSet<Hash>,
    seen_height: u64,
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

#[derive(Debug)]
pub struct Simulation {
    pub rules: Arc<ChainRules>,
    signatures: SignatureCheck,
    pub nodes: Vec<SimNode>,
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
    gossip_due: Vec<u64>,
    crash_plans: Vec<CrashPlan>,
    /// Each side of a partition: a message crosses only between nodes of one group.
    partition: Option<Vec<BTreeSet<usize>>>,
    pub messages_delivered: u64,
    pub rejected: u64,
    /// Evidence raised by any node: an honest run raises none.
    pub evidence: u64,
    /// Time spent inside the state machines' `apply`, for the benchmark.
    pub apply_time: std::time::Duration,
}

impl Simulation {
    /// `validators` nodes of the fixture genesis, all started at height 1.
    pub fn new(
        validators: usize,
        seed: u64,
        links: Links,
        signatures: SignatureCheck,
    ) -> Simulation {
        let rules = Arc::new(
            ChainRules::new(fixtures::genesis(validators)).expect("fixture genesis is valid"),
        );
        let nodes = (0..validators)
            .map(|index| {
                let wal = encode_record(&WalEntry::Height(1));
                SimNode {
                    consensus: Consensus::new(
                        rules.clone(),
                        Some(ValidatorIndex(index as u16)),
                        signatures,
                    ),
                    signer: Signer::new(rules.chain_id().clone(), fixtures::node_keypair(index)),
                    own: Vec::new(),
                    wal_durable: wal.len(),
                    wal,
                    decided: BTreeMap::new(),
                    crashed: false,
                    casts: 0,
                    restarts: 0,
                    behaviour: Behaviour::Honest,
                    heard: Vec::new(),
                    seen: BTreeSet::new(),
                    seen_height: 0,
                }
            })
            .collect();
        let mut simulation = Simulation {
            rules,
            signatures,
            nodes,
            queue: BTreeMap::new(),
            sequence: 0,
            now_ms: 0,
            links,
            rng: Rng::new(seed),
            digest: Hash::ZERO,
            first_decisions: BTreeMap::new(),
            certificates: Vec::new(),
            certificates_by_height: BTreeMap::new(),
            gossip_due: vec![GOSSIP_INTERVAL_MS; validators],
            crash_plans: Vec::new(),
            partition: None,
            messages_delivered: 0,
            rejected: 0,
            evidence: 0,
            apply_time: std::time::Duration::ZERO,
        };
        for node in 0..validators {
            simulation.enqueue(0, node, Event::Input(Input::Start { height: 1 }));
        }
        simulation
    }

    pub fn plan_crash(&mut self, plan: CrashPlan) {
        self.crash_plans.push(plan);
    }

    pub fn set_behaviour(&mut self, node: usize, behaviour: Behaviour) {
        self.nodes[node].behaviour = behaviour;
    }

    /// Cuts the network into `groups`; `None` heals it.
    pub fn partition(&mut self, groups: Option<Vec<BTreeSet<usize>>>) {
        self.partition = groups;
    }

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

    fn send_to_others(&mut self, from: usize, message: &ConsensusMessage) {
        for to in 0..self.nodes.len() {
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
                let delay = self
                    .rng
                    .range(self.links.delay_min_ms, self.links.delay_max_ms);
                self.enqueue(delay, to, Event::Input(Input::Message(message.clone())));
            }
        }
    }

    /// Gossip ticks due no later than the next queued event run first: each live node re-sends
    /// its own messages of its height, and a node behind a connected peer fetches the
    /// certificates of the heights it misses (block sync, over the same lossy links).
    fn gossip(&mut self) {
        loop {
            let Some((node, due)) = self
                .gossip_due
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|(_, due)| *due)
            else {
                return;
            };
            // Re-read each time: a tick may have queued something earlier than the next tick.
            let next_event = self.queue.first_key_value().map(|((time, _), _)| *time);
            if next_event.is_some_and(|next| due > next) {
                return;
            }
            if next_event.is_none() && self.nodes.iter().all(|n| n.crashed || n.own.is_empty()) {
                return;
            }
            self.now_ms = self.now_ms.max(due);
            self.gossip_due[node] = due + GOSSIP_INTERVAL_MS;
            if self.nodes[node].crashed {
                continue;
            }
            if self.nodes[node].behaviour == Behaviour::Spammer {
                self.spam(node);
            }
            let height = self.nodes[node].consensus.height();
            self.nodes[node].own.retain(|m| m.height() == height);
            for message in self.nodes[node].own.clone() {
                self.send_to_others(node, &message);
            }
            let peer_has_it = (0..self.nodes.len()).any(|peer| {
                !self.nodes[peer].crashed
                    && self.connected(peer, node)
                    && self.nodes[peer].decided.contains_key(&height)
            });
            if peer_has_it && !self.rng.chance(self.links.drop_per_mille) {
                let delay = 2 * self
                    .rng
                    .range(self.links.delay_min_ms, self.links.delay_max_ms);
                let batch: Vec<CommitCertificate> = self
                    .certificates_by_height
                    .range(height..height + SYNC_BATCH)
                    .map(|(_, c)| c.clone())
                    .collect();
                for certificate in batch {
                    self.enqueue(delay, node, Event::Input(Input::Commit { certificate }));
                }
            }
        }
    }

    /// Delivers the next event; false when nothing is left.
    pub fn step(&mut self) -> Result<bool, SafetyViolation> {
        self.gossip();
        let Some(((time, sequence), (to, event))) = self.queue.pop_first() else {
            return Ok(false);
        };
        self.now_ms = time;
        match event {
            Event::Restart => self.restart(to)?,
            Event::Input(input) => {
                if self.nodes[to].crashed {
                    return Ok(true);
                }
                self.digest = Hash::of_parts(&[
                    self.digest.as_bytes(),
                    format!("{time}/{sequence}/{to}/{input:?}").as_bytes(),
                ]);
                if let Input::Message(message) = &input {
                    self.messages_delivered += 1;
                    let receiver = &mut self.nodes[to];
                    if receiver.behaviour == Behaviour::Spammer && receiver.heard.len() < 10_000 {
                        receiver.heard.push(message.clone());
                    }
                    self.relay(to, message.clone());
                }
                if !matches!(input, Input::Start { .. }) {
                    let record = encode_record(&WalEntry::Input(input.clone()));
                    self.nodes[to].wal.extend_from_slice(&record);
                }
                self.deliver(to, input)?;
            }
        }
        Ok(true)
    }

    fn deliver(&mut self, node: usize, input: Input) -> Result<(), SafetyViolation> {
        let started = std::time::Instant::now();
        let outputs = self.nodes[node].consensus.apply(input);
        self.apply_time += started.elapsed();
        for output in outputs {
            if !self.perform(node, output)? {
                break; // the node crashed
            }
        }
        Ok(())
    }

    fn crash_due(&mut self, node: usize, point: CrashPoint) -> Option<CrashPlan> {
        let casts = self.nodes[node].casts;
        let index = self
            .crash_plans
            .iter()
            .position(|p| p.node == node && p.point == point && p.cast == casts)?;
        Some(self.crash_plans.remove(index))
    }

    /// Kills `node`: its disk keeps the durable part of the WAL (and, before a sync, half of the
    /// record being written: a torn tail); it comes back after `down_ms`.
    fn crash(&mut self, plan: CrashPlan) {
        let node = &mut self.nodes[plan.node];
        let torn = if plan.point == CrashPoint::BeforeSync {
            (node.wal.len() - node.wal_durable) / 2
        } else {
            0
        };
        node.wal.truncate(node.wal_durable + torn);
        node.crashed = true;
        self.enqueue(plan.down_ms, plan.node, Event::Restart);
    }

    /// Rebuilds a node from its WAL and ledger, as a restarted process would.
    fn restart(&mut self, index: usize) -> Result<(), SafetyViolation> {
        let contents = read_records(&self.nodes[index].wal)
            .expect("a simulated WAL is only ever torn at its end");
        let ledger_height = self.nodes[index]
            .decided
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0);
        let resume = replay(&contents.entries, ledger_height);
        let node = &mut self.nodes[index];
        node.wal.truncate(contents.valid_len);
        if !contents.entries.contains(&WalEntry::Height(resume.height)) {
            node.wal = encode_record(&WalEntry::Height(resume.height));
        }
        node.wal_durable = node.wal.len();
        node.consensus = Consensus::new(
            self.rules.clone(),
            Some(ValidatorIndex(index as u16)),
            self.signatures,
        );
        node.signer = Signer::new(self.rules.chain_id().clone(), fixtures::node_keypair(index));
        if let Some(last) = resume.signed.last() {
            node.signer.restore(last);
        }
        node.own = resume.signed;
        node.crashed = false;
        node.restarts += 1;
        self.deliver(
            index,
            Input::Start {
                height: resume.height,
            },
        )?;
        for input in resume.inputs {
            self.deliver(index, input)?;
        }
        Ok(())
    }

    /// Casts (signs, logs, syncs, sends) one of `node`'s own messages, or re-sends the one its
    /// WAL already holds at that position. False if the node crashed on the way.
    fn cast(&mut self, node: usize, unsigned: Cast) -> Result<bool, SafetyViolation> {
        let at = match &unsigned {
            Cast::Vote(vote) => vote_position(vote),
            Cast::Proposal(proposal) => proposal_position(proposal),
        };
        if self.nodes[node].behaviour == Behaviour::Equivocator {
            self.equivocate(node, unsigned);
            return Ok(true);
        }
        if let Some(logged) = self.nodes[node]
            .own
            .iter()
            .find(|m| message_position(m) == at)
            .cloned()
        {
            self.enqueue(0, node, Event::Input(Input::Message(logged.clone())));
            self.send_to_others(node, &logged);
            return Ok(true);
        }
        let signer = &mut self.nodes[node].signer;
        let message = match unsigned {
            Cast::Vote(vote) => ConsensusMessage::Vote(
                signer
                    .sign_vote(vote)
                    .expect("an honest node never double-signs"),
            ),
            Cast::Proposal(proposal) => ConsensusMessage::Proposal(
                signer
                    .sign_proposal(proposal)
                    .expect("an honest node never double-signs"),
            ),
        };
        self.nodes[node].casts += 1;
        let record = encode_record(&WalEntry::Signed(message.clone()));
        self.nodes[node].wal.extend_from_slice(&record);
        if let Some(plan) = self.crash_due(node, CrashPoint::BeforeSync) {
            self.crash(plan);
            return Ok(false);
        }
        self.nodes[node].wal_durable = self.nodes[node].wal.len();
        if let Some(plan) = self.crash_due(node, CrashPoint::AfterSync) {
            self.crash(plan);
            return Ok(false);
        }
        self.enqueue(0, node, Event::Input(Input::Message(message.clone())));
        self.send_to_others(node, &message);
        self.nodes[node].own.push(message);
        if let Some(plan) = self.crash_due(node, CrashPoint::AfterSend) {
            self.crash(plan);
            return Ok(false);
        }
        Ok(true)
    }

    /// Signs `unsigned` and a conflicting twin, sends one to the even nodes and the other to the
    /// odd ones.
    fn equivocate(&mut self, node: usize, unsigned: Cast) {
        let key = fixtures::node_keypair(node);
        let chain = self.rules.chain_id().clone();
        let twin_hash = Hash::of_parts(&[b"twin", &self.rng.next_u64().to_le_bytes()]);
        let (first, second) = match unsigned {
            Cast::Vote(vote) => {
                let mut twin = vote.clone();
                twin.block = Some(twin_hash);
                (
                    ConsensusMessage::Vote(vote.sign(&chain, &key)),
                    ConsensusMessage::Vote(twin.sign(&chain, &key)),
                )
            }
            Cast::Proposal(proposal) => {
                let mut twin = proposal.clone();
                twin.block_hash = twin_hash;
                (
                    ConsensusMessage::Proposal(proposal.sign(&chain, &key)),
                    ConsensusMessage::Proposal(twin.sign(&chain, &key)),
                )
            }
        };
        self.enqueue(0, node, Event::Input(Input::Message(first.clone())));
        for to in 0..self.nodes.len() {
            if to == node || !self.connected(node, to) {
                continue;
            }
            let message = if to % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let delay = self
                .rng
                .range(self.links.delay_min_ms, self.links.delay_max_ms);
            self.enqueue(delay, to, Event::Input(Input::Message(message)));
        }
        self.nodes[node].own.push(first);
    }

    /// Gossip relays what it hears: the first time a node sees a message of its height from
    /// another validator, it forwards it to one random peer. So conflicting messages an
    /// equivocator sent to different peers meet somewhere.
    fn relay(&mut self, node: usize, message: ConsensusMessage) {
        let height = self.nodes[node].consensus.height();
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
        let peer = self.rng.range(0, self.nodes.len() as u64 - 1) as usize;
        if peer == node
            || peer == sender
            || !self.connected(node, peer)
            || self.rng.chance(self.links.drop_per_mille)
        {
            return;
        }
        let delay = self
            .rng
            .range(self.links.delay_min_ms, self.links.delay_max_ms);
        self.enqueue(delay, peer, Event::Input(Input::Message(message)));
    }

    /// A spammer's noise for one gossip tick.
    fn spam(&mut self, node: usize) {
        let height = self.nodes[node].consensus.height();
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
            vote(height, 10_000 + self.rng.range(0, 1_000) as u32, own)
                .sign(&chain, &fixtures::node_keypair(node)),
        ));
        let heard = &self.nodes[node].heard;
        if !heard.is_empty() {
            let old = heard[self.rng.range(0, heard.len() as u64 - 1) as usize].clone();
            noise.push(old);
        }
        for message in noise {
            self.send_to_others(node, &message);
        }
    }

    fn perform(&mut self, node: usize, output: Output) -> Result<bool, SafetyViolation> {
        match output {
            Output::CastVote(vote) => return self.cast(node, Cast::Vote(vote)),
            Output::CastProposal(proposal) => return self.cast(node, Cast::Proposal(proposal)),
            Output::ScheduleTimeout {
                timeout,
                duration_ms,
            } => self.enqueue(duration_ms, node, Event::Input(Input::Timeout(timeout))),
            Output::RequestBlock { height, round } => {
                let block_hash = Hash::of_parts(&[
                    b"block",
                    &height.to_le_bytes(),
                    &round.to_le_bytes(),
                    &(node as u64).to_le_bytes(),
                ]);
                self.enqueue(
                    1,
                    node,
                    Event::Input(Input::BlockReady {
                        height,
                        round,
                        block_hash,
                    }),
                );
            }
            Output::ValidateBlock {
                height, block_hash, ..
            } => {
                self.enqueue(
                    1,
                    node,
                    Event::Input(Input::BlockValidity {
                        height,
                        block_hash,
                        valid: true,
                    }),
                );
            }
            Output::Decide {
                height,
                block_hash,
                certificate,
                ..
            } => {
                assert_eq!(certificate.block_hash, block_hash);
                let state = &mut self.nodes[node];
                state.decided.insert(height, block_hash);
                // The ledger holds the block now: the WAL starts the next height.
                state.wal = encode_record(&WalEntry::Height(height + 1));
                state.wal_durable = state.wal.len();
                state.own.clear();
                self.certificates_by_height
                    .entry(height)
                    .or_insert_with(|| certificate.clone());
                self.certificates.push(certificate);
                if self.nodes[node].behaviour != Behaviour::Honest {
                    return Ok(true);
                }
                match self.first_decisions.get(&height) {
                    Some((first_node, first)) if *first != block_hash => {
                        return Err(SafetyViolation {
                            height,
                            first_node: *first_node,
                            first: *first,
                            second_node: node,
                            second: block_hash,
                        });
                    }
                    Some(_) => {}
                    None => {
                        self.first_decisions.insert(height, (node, block_hash));
                    }
                }
            }
            Output::Evidence(_) => self.evidence += 1,
            Output::Rejected { .. } | Output::CommitRejected { .. } => self.rejected += 1,
        }
        Ok(true)
    }

    /// Runs until every live node has decided `height`, or `deadline_ms` of virtual time passes.
    pub fn run_until_height(
        &mut self,
        height: u64,
        deadline_ms: u64,
    ) -> Result<bool, SafetyViolation> {
        while !self.all_live_reached(height) {
            if self.now_ms > deadline_ms || !self.step()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs until `time_ms` of virtual time.
    pub fn run_until_time(&mut self, time_ms: u64) -> Result<(), SafetyViolation> {
        while self.now_ms < time_ms {
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
        self.enqueue(0, node, Event::Input(Input::Start { height: 1 }));
    }

    /// Every certificate any node decided with, in decision order.
    pub fn certificates(&self) -> &[CommitCertificate] {
        &self.certificates
    }

    pub fn digest(&self) -> Hash {
        self.digest
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
