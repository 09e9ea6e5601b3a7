//! What Waybill's cross-crate tests share: an event factory that keeps each signer's nonces, an
//! in-memory chain for execution tables, and a RocksDB ledger that commits with fixture
//! certificates.
#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod cluster;
pub mod gateway;
pub mod load;
pub mod proxy;
pub mod story;
/// The consensus simulation is a crate of its own, so it builds without RocksDB.
pub use waybill_simulation as simulation;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use waybill_node::ledger::memory::MemoryStore;
use waybill_node::ledger::{
    BlockProposal, ExecutedBlock, Ledger, LedgerError, LedgerOptions, build_block,
};
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::{Declaration, EventKind, SignedEvent};
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::particulars::SealedParticulars;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{EventBuilder, Hash, ValidatorIndex, fixtures};

/// A copy of the bundled customs policy directory with random selection switched off, so that
/// a release check's lane comes from the score alone and a test's verdict does not depend on
/// a block hash (`WAYBILL_POLICIES` for the CLI). The draw itself is tested on its own.
pub fn policies_without_draws() -> &'static Path {
    static DIRECTORY: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIRECTORY
        .get_or_init(|| {
            let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/policies");
            let copy = tempfile::tempdir().unwrap();
            for entry in std::fs::read_dir(&bundled).unwrap() {
                let path = entry.unwrap().path();
                let Some(name) = path.file_name() else {
                    continue;
                };
                let mut text = std::fs::read_to_string(&path).unwrap();
                if name == "risk.toml" {
                    let mut zeroed = 0;
                    text = text
                        .lines()
                        .map(|line| match line.split_once(" = ") {
                            Some((key, _)) if key.ends_with("per_million") => {
                                zeroed += 1;
                                format!("{key} = 0")
                            }
                            _ => line.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    // The base rates, the floor and two per tier: if the file's layout changed,
                    // fail here rather than let a block hash decide lanes.
                    assert!(
                        zeroed >= 5,
                        "only {zeroed} selection rates found in risk.toml"
                    );
                }
                std::fs::write(copy.path().join(name), text).unwrap();
            }
            copy
        })
        .path()
}

/// The particulars of every declaration the tests sealed, by commitment: what a platform's
/// SDK keeps so as to file them with their declaration (`Cluster::submit`, `load::submit`).
static FILED: std::sync::LazyLock<std::sync::Mutex<HashMap<Hash, SealedParticulars>>> =
    std::sync::LazyLock::new(Default::default);

/// `declaration` as a `declare` event's kind, its particulars kept for filing.
pub fn file_declaration(declaration: &Declaration) -> EventKind {
    let (kind, sealed) = fixtures::declared(declaration);
    FILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(sealed.commitment(), sealed);
    kind
}

/// The fixture declaration as a `declare` kind, its particulars kept for filing.
pub fn declare_kind() -> EventKind {
    file_declaration(&fixtures::declaration())
}

/// The particulars a declaration event commits to, if a test sealed them.
pub fn filed_particulars(event: &SignedEvent) -> Option<SealedParticulars> {
    let EventKind::Declare(summary) = &event.body.kind else {
        return None;
    };
    FILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&summary.particulars)
        .cloned()
}

/// Validators in the fixture genesis the ledger tests use.
pub const VALIDATORS: usize = 4;

pub fn rules() -> ChainRules {
    ChainRules::new(fixtures::genesis(VALIDATORS)).unwrap()
}

/// Signs fixture events with increasing nonces per organisation.
#[derive(Debug, Default)]
pub struct EventFactory {
    nonces: BTreeMap<String, u64>,
    /// Event time; blocks are stamped after it.
    pub time_ms: u64,
}

impl EventFactory {
    pub fn new() -> EventFactory {
        EventFactory {
            nonces: BTreeMap::new(),
            time_ms: fixtures::NOW_MS,
        }
    }

    /// Continues nonces from `start` for every organisation (for a process resuming a chain).
    pub fn starting_at(start: u64, time_ms: u64) -> EventFactory {
        let nonces = fixtures::ORGANISATION_IDS
            .iter()
            .map(|org| (org.to_string(), start))
            .collect();
        EventFactory { nonces, time_ms }
    }

    pub fn builder(&mut self, org: &str, shipment: &str, kind: EventKind) -> EventBuilder {
        let nonce = self.nonces.entry(org.to_string()).or_insert(0);
        *nonce += 1;
        EventBuilder::new(
            fixtures::chain_id(),
            fixtures::key_id(org),
            *nonce,
            fixtures::shipment(shipment),
            kind,
            self.time_ms,
        )
    }

    pub fn event(&mut self, org: &str, shipment: &str, kind: EventKind) -> SignedEvent {
        let builder = self.builder(org, shipment, kind);
        builder.sign(&fixtures::org_keypair(org))
    }
}

pub fn check(rules: &ChainRules, events: Vec<SignedEvent>) -> Vec<CheckedEvent> {
    events
        .into_iter()
        .map(|e| CheckedEvent::check(rules, e).unwrap())
        .collect()
}

/// Execution on an in-memory store: one block per call.
#[derive(Debug)]
pub struct MemoryChain {
    pub rules: ChainRules,
    pub store: MemoryStore,
    pub events: EventFactory,
    /// The certificate of the last block, which the next one carries.
    last_commit: Option<waybill_protocol::CommitCertificate>,
}

impl Default for MemoryChain {
    fn default() -> MemoryChain {
        MemoryChain::new()
    }
}

impl MemoryChain {
    pub fn new() -> MemoryChain {
        let rules = rules();
        let store = MemoryStore::new(&rules).unwrap();
        MemoryChain {
            rules,
            store,
            events: EventFactory::new(),
            last_commit: None,
        }
    }

    /// Executes `events` as the next block and commits it.
    pub fn block(&mut self, events: Vec<SignedEvent>) -> Vec<EventOutcome> {
        let time_ms = self.store.tip().time_ms.max(self.events.time_ms) + 1_000;
        let proposal = self.proposal(events, time_ms, ValidatorIndex(0));
        let block = self.execute(proposal);
        self.commit(&block);
        block.outcomes
    }

    /// Executes `proposal` on the tip.
    pub fn execute(&self, proposal: BlockProposal) -> ExecutedBlock {
        build_block(&self.store, &self.rules, self.store.tip(), proposal).unwrap()
    }

    /// Commits `block`, certified by the first quorum of fixture validators (as
    /// [`commit_block`] certifies a ledger's blocks).
    pub fn commit(&mut self, block: &ExecutedBlock) {
        self.store.commit(block);
        let signers: Vec<usize> = (0..self.rules.quorum()).collect();
        self.last_commit = Some(fixtures::certificate(&block.header, VALIDATORS, &signers));
    }

    /// A proposal of `events` on the tip, carrying the tip's certificate.
    pub fn proposal(
        &self,
        events: Vec<SignedEvent>,
        time_ms: u64,
        proposer: ValidatorIndex,
    ) -> BlockProposal {
        BlockProposal {
            time_ms,
            proposer,
            events: check(&self.rules, events),
            last_commit: self.last_commit.clone(),
        }
    }

    /// One event, in a block of its own.
    pub fn apply(&mut self, org: &str, shipment: &str, kind: EventKind) -> EventOutcome {
        let event = self.events.event(org, shipment, kind);
        self.block(vec![event]).remove(0)
    }
}

/// Executes and commits `events` as the next block of `ledger`, certified by the first
/// `quorum` fixture validators.
pub fn commit_block(
    ledger: &mut Ledger,
    events: Vec<SignedEvent>,
    time_ms: u64,
) -> Result<Vec<EventOutcome>, LedgerError> {
    let proposer = ValidatorIndex((ledger.tip().height % VALIDATORS as u64) as u16);
    let proposal = ledger.proposal(time_ms, proposer, check(ledger.rules(), events))?;
    let block = ledger.execute(proposal)?;
    let signers: Vec<usize> = (0..ledger.rules().quorum()).collect();
    let certificate = fixtures::certificate(&block.header, VALIDATORS, &signers);
    let outcomes = block.outcomes.clone();
    ledger.commit(block, &certificate)?;
    Ok(outcomes)
}

/// Commits an empty block a second after the tip, carrying the tip's certificate: proofs are as
/// of the certified height, so this makes the last block's events provable.
pub fn certify_tip(ledger: &mut Ledger) -> Result<(), LedgerError> {
    let time_ms = ledger.tip().time_ms + 1_000;
    commit_block(ledger, Vec::new(), time_ms).map(drop)
}

pub fn open_ledger(path: &Path) -> Result<Ledger, LedgerError> {
    Ledger::open(path, rules(), LedgerOptions::default())
}
