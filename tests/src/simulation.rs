//! A deterministic simulation of N validators running the real consensus state machine and
//! double-sign guard over a simulated network: a seeded scheduler delivers messages with delays,
//! drops, duplicates and reordering, in virtual time. The same seed gives the same run, byte for
//! byte ([`Simulation::digest`] hashes every delivery in order).
//!
//! The application is minimal: a proposer's block is `H(height ‖ round ‖ proposer)`, and every
//! block is valid. Decisions are checked for safety as they happen.

use std::collections::BTreeMap;
use std::sync::Arc;

use waybill_node::consensus::{Consensus, Input, Output, SignatureCheck, Signer, Timeout};
use waybill_protocol::block::ConsensusMessage;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, ValidatorIndex, fixtures};

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

#[derive(Debug)]
pub struct SimNode {
    pub consensus: Consensus,
    signer: Signer,
    /// Messages this node signed for its current height, re-sent on every gossip tick.
    own: Vec<ConsensusMessage>,
    /// height → decided block.
    pub decided: BTreeMap<u64, Hash>,
    pub crashed: bool,
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
    pub nodes: Vec<SimNode>,
    /// (delivery time, sequence) → (node, input): ordered, so ties go in sending order.
    queue: BTreeMap<(u64, u64), (usize, Input)>,
    sequence: u64,
    pub now_ms: u64,
    pub links: Links,
    rng: Rng,
    digest: sha2_digest::Digest,
    /// height → (node, block) of the first decision seen.
    first_decisions: BTreeMap<u64, (usize, Hash)>,
    pub messages_delivered: u64,
    pub rejected: u64,
    /// Time spent inside the state machines' `apply`, for the benchmark.
    pub apply_time: std::time::Duration,
    certificates: Vec<waybill_protocol::CommitCertificate>,
    /// The first certificate seen per height: what block sync serves to nodes behind.
    certificates_by_height: BTreeMap<u64, waybill_protocol::CommitCertificate>,
    /// Pending engine timers: (node, time) of each node's next gossip tick.
    gossip_due: Vec<u64>,
}

mod sha2_digest {
    /// A running hash of the whole run: every delivery folds its description in.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Digest(pub waybill_protocol::Hash);

    impl Digest {
        pub fn fold(&mut self, item: &[u8]) {
            self.0 = waybill_protocol::Hash::of_parts(&[self.0.as_bytes(), item]);
        }
    }
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
            .map(|index| SimNode {
                consensus: Consensus::new(
                    rules.clone(),
                    Some(ValidatorIndex(index as u16)),
                    signatures,
                ),
                signer: Signer::new(rules.chain_id().clone(), fixtures::node_keypair(index)),
                own: Vec::new(),
                decided: BTreeMap::new(),
                crashed: false,
            })
            .collect();
        let mut simulation = Simulation {
            rules,
            nodes,
            queue: BTreeMap::new(),
            sequence: 0,
            now_ms: 0,
            links,
            rng: Rng::new(seed),
            digest: sha2_digest::Digest::default(),
            first_decisions: BTreeMap::new(),
            messages_delivered: 0,
            rejected: 0,
            apply_time: std::time::Duration::ZERO,
            certificates: Vec::new(),
            certificates_by_height: BTreeMap::new(),
            gossip_due: vec![GOSSIP_INTERVAL_MS; validators],
        };
        for node in 0..validators {
            simulation.enqueue(0, node, Input::Start { height: 1 });
        }
        simulation
    }

    fn enqueue(&mut self, delay_ms: u64, to: usize, input: Input) {
        self.sequence += 1;
        self.queue
            .insert((self.now_ms + delay_ms, self.sequence), (to, input));
    }

    /// Sends `message` from `from` to every other node over the links, and to itself at once.
    fn broadcast(&mut self, from: usize, message: ConsensusMessage) {
        self.enqueue(0, from, Input::Message(message.clone()));
        self.send_to_others(from, &message);
        self.nodes[from].own.push(message);
    }

    fn send_to_others(&mut self, from: usize, message: &ConsensusMessage) {
        for to in 0..self.nodes.len() {
            if to == from || self.rng.chance(self.links.drop_per_mille) {
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
                self.enqueue(delay, to, Input::Message(message.clone()));
            }
        }
    }

    /// Gossip ticks due no later than the next queued input run first: each live node re-sends
    /// its own messages of its height, and a node behind asks a peer for the certificate of its
    /// height (block sync, over the same lossy links).
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
            let next_input = self.queue.first_key_value().map(|((time, _), _)| *time);
            if next_input.is_some_and(|next| due > next) {
                return;
            }
            if next_input.is_none() && self.nodes.iter().all(|n| n.crashed || n.own.is_empty()) {
                // Nothing queued and nothing anyone could re-send: the run is over.
                return;
            }
            self.now_ms = self.now_ms.max(due);
            self.gossip_due[node] = due + GOSSIP_INTERVAL_MS;
            if self.nodes[node].crashed {
                continue;
            }
            let height = self.nodes[node].consensus.height();
            self.nodes[node].own.retain(|m| m.height() == height);
            for message in self.nodes[node].own.clone() {
                self.send_to_others(node, &message);
            }
            let peer_has_it = self
                .nodes
                .iter()
                .any(|n| !n.crashed && n.decided.contains_key(&height));
            if peer_has_it && !self.rng.chance(self.links.drop_per_mille) {
                let delay = 2 * self
                    .rng
                    .range(self.links.delay_min_ms, self.links.delay_max_ms);
                let batch: Vec<_> = self
                    .certificates_by_height
                    .range(height..height + SYNC_BATCH)
                    .map(|(_, certificate)| certificate.clone())
                    .collect();
                for certificate in batch {
                    self.enqueue(delay, node, Input::Commit { certificate });
                }
            }
        }
    }

    /// Delivers the next input; false when nothing is left.
    pub fn step(&mut self) -> Result<bool, SafetyViolation> {
        self.gossip();
        let Some(((time, sequence), (to, input))) = self.queue.pop_first() else {
            return Ok(false);
        };
        self.now_ms = time;
        if self.nodes[to].crashed {
            return Ok(true);
        }
        self.digest
            .fold(format!("{time}/{sequence}/{to}/{input:?}").as_bytes());
        if matches!(input, Input::Message(_)) {
            self.messages_delivered += 1;
        }
        let started = std::time::Instant::now();
        let outputs = self.nodes[to].consensus.apply(input);
        self.apply_time += started.elapsed();
        for output in outputs {
            self.perform(to, output)?;
        }
        Ok(true)
    }

    fn perform(&mut self, node: usize, output: Output) -> Result<(), SafetyViolation> {
        match output {
            Output::CastVote(vote) => {
                let signed = self.nodes[node]
                    .signer
                    .sign_vote(vote)
                    .expect("an honest node never double-signs");
                self.broadcast(node, ConsensusMessage::Vote(signed));
            }
            Output::CastProposal(proposal) => {
                let signed = self.nodes[node]
                    .signer
                    .sign_proposal(proposal)
                    .expect("an honest node never double-signs");
                self.broadcast(node, ConsensusMessage::Proposal(signed));
            }
            Output::ScheduleTimeout {
                timeout,
                duration_ms,
            } => self.enqueue(duration_ms, node, Input::Timeout(timeout)),
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
                    Input::BlockReady {
                        height,
                        round,
                        block_hash,
                    },
                );
            }
            Output::ValidateBlock {
                height, block_hash, ..
            } => {
                self.enqueue(
                    1,
                    node,
                    Input::BlockValidity {
                        height,
                        block_hash,
                        valid: true,
                    },
                );
            }
            Output::Decide {
                height,
                block_hash,
                certificate,
                ..
            } => {
                assert_eq!(certificate.block_hash, block_hash);
                self.nodes[node].decided.insert(height, block_hash);
                self.certificates_by_height
                    .entry(height)
                    .or_insert_with(|| certificate.clone());
                self.certificates.push(certificate);
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
            Output::Evidence(_) => {}
            Output::Rejected { .. } | Output::CommitRejected { .. } => self.rejected += 1,
        }
        Ok(())
    }

    /// Runs until every live node has decided `height`, or `deadline_ms` of virtual time passes.
    /// Returns whether the height was reached.
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
        self.enqueue(0, node, Input::Start { height: 1 });
    }

    /// Every certificate any node decided with, in decision order.
    pub fn certificates(&self) -> &[waybill_protocol::CommitCertificate] {
        &self.certificates
    }

    pub fn digest(&self) -> Hash {
        self.digest.0
    }

    /// A timeout as the state machine would schedule it, for tests that drive nodes by hand.
    pub fn timeout(height: u64, round: u32, step: waybill_node::consensus::TimeoutStep) -> Timeout {
        Timeout {
            height,
            round,
            step,
        }
    }
}
