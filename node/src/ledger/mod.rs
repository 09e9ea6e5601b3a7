//! The ledger: executes blocks on a final parent, commits each one (with its certificate) in one
//! synced RocksDB batch, and serves blocks, event receipts, shipment state and provenance proofs.
//!
//! One pipeline, [`build_block`], turns a proposal into an [`ExecutedBlock`] — header with every
//! root, outcomes, and the writes — over any [`StateStore`]. The RocksDB [`Ledger`] and the
//! in-memory [`memory::MemoryStore`] (used to re-execute a chain in `verify-chain`) both commit
//! what it produces, so they cannot drift apart.

pub mod authenticated_map;
pub mod memory;
pub mod rocks;
pub mod verify;
mod writes;

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::block::CertificateError;
use waybill_protocol::execution::{
    self, BlockContext, EventOutcome, SerialState, ShipmentState, StateKeys, StateSnapshot,
};
use waybill_protocol::index::{IndexKey, index_keys};
use waybill_protocol::merkle::{self, Frontier};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{BlockHeader, CommitCertificate, Hash, ValidatorIndex};

pub use authenticated_map::{MapStorage, MapWrite, RecordChange};
pub use rocks::{Ledger, LedgerOptions};

/// Why the ledger could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("storage: {operation} failed: {reason}")]
    Storage {
        operation: &'static str,
        reason: String,
    },
    #[error("stored data is corrupt: {what}")]
    Corrupt { what: String },
    #[error("the data directory belongs to genesis {stored}, not to the given genesis {given}")]
    WrongGenesis { stored: Hash, given: Hash },
    #[error("the data directory is inconsistent: {detail}")]
    Inconsistent { detail: String },
    #[error("authenticated map: {operation}: {reason}")]
    Map {
        operation: &'static str,
        reason: String,
    },
    #[error("authenticated map: version {found} does not follow the latest, {expected} expected")]
    MapVersion { expected: u64, found: u64 },
    #[error("block: height {found} does not follow the tip, {expected} expected")]
    HeightMismatch { expected: u64, found: u64 },
    #[error("block: parent {found} is not the tip {expected}")]
    ParentMismatch { expected: Hash, found: Hash },
    #[error("block: time {proposed} ms is not after the parent's {parent} ms")]
    TimeNotIncreasing { parent: u64, proposed: u64 },
    #[error(
        "block: event {id} is dated {event_time_ms} ms, after the block's time {block_time_ms} ms and its clock skew: a proposer leaves such events pending"
    )]
    EventAfterBlockTime {
        id: Hash,
        event_time_ms: u64,
        block_time_ms: u64,
    },
    #[error("block: {count} events, more than the limit of {max}")]
    TooManyEvents { count: usize, max: usize },
    #[error("block: {bytes} bytes of events, more than the limit of {max}")]
    TooManyBytes { bytes: usize, max: usize },
    #[error("block: event {id} appears twice or is already committed")]
    DuplicateEvent { id: Hash },
    #[error("block: proposer {proposer} is not a validator")]
    UnknownProposer { proposer: u16 },
    #[error("block: header field {field} is {proposed}, re-execution gives {computed}")]
    HeaderMismatch {
        field: &'static str,
        proposed: String,
        computed: String,
    },
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("block: last_commit: {detail}")]
    LastCommit { detail: String },
    #[error(
        "{key} has {count} events, more than the {max} one answer may carry: fetch it in pages (…/provenance/pages?from=1)"
    )]
    HistoryTooLong {
        key: IndexKey,
        count: u64,
        max: usize,
    },
    #[error("height: {height} is not provable here; heights {oldest} to {newest} are")]
    HeightNotProvable {
        height: u64,
        oldest: u64,
        newest: u64,
    },
    #[error("from: {first} is outside the history of {count} events (positions start at 1)")]
    PageOutOfRange { first: u64, count: u64 },
}

/// The last committed block, as the meta column stores it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Tip {
    pub genesis_hash: Hash,
    pub height: u64,
    /// At height 0, the genesis hash: block 1's parent.
    pub block_hash: Hash,
    pub time_ms: u64,
    /// The RFC 6962 frontier over every event leaf since genesis.
    pub log: Frontier,
}

impl Tip {
    pub fn genesis(rules: &ChainRules) -> Tip {
        Tip {
            genesis_hash: rules.genesis_hash(),
            height: 0,
            block_hash: rules.genesis_hash(),
            time_ms: rules.genesis().genesis_time_ms,
            log: Frontier::new(),
        }
    }
}

/// Where an event sits in the log, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct EventLocation {
    pub height: u64,
    pub index: u32,
    pub outcome: EventOutcome,
}

/// What a proposer puts forward for the next height.
#[derive(Debug, Clone)]
pub struct BlockProposal {
    pub time_ms: u64,
    pub proposer: ValidatorIndex,
    pub events: Vec<CheckedEvent>,
    /// The parent's certificate (any quorum of its precommits the proposer holds); `None` for
    /// block 1. Committing the block makes it the parent's canonical certificate.
    pub last_commit: Option<CommitCertificate>,
}

/// A block executed on the tip: its header and everything committing it writes.
#[derive(Debug)]
pub struct ExecutedBlock {
    pub header: BlockHeader,
    pub last_commit: Option<CommitCertificate>,
    pub events: Vec<CheckedEvent>,
    pub outcomes: Vec<EventOutcome>,
    pub(crate) state: StateSnapshot,
    pub(crate) map: MapWrite,
    pub(crate) tip: Tip,
    /// (map key, position in the key's chain, index of the event in the block).
    pub(crate) key_positions: Vec<([u8; 32], u64, u32)>,
}

/// Reads a store offers the pipeline, besides the authenticated map's.
pub trait StateStore: MapStorage {
    fn shipment(
        &self,
        id: &waybill_protocol::ShipmentId,
    ) -> Result<Option<ShipmentState>, LedgerError>;
    fn serial(
        &self,
        serial: &waybill_protocol::event::Sgtin,
    ) -> Result<Option<SerialState>, LedgerError>;
    fn spent_nonces(
        &self,
        signer: &waybill_protocol::KeyId,
    ) -> Result<Option<waybill_protocol::execution::SpentNonces>, LedgerError>;
    /// Which of `ids` are already committed.
    fn committed_events(&self, ids: &[Hash]) -> Result<Vec<bool>, LedgerError>;
}

/// What the pipeline needs about each index key a block touches, computed once at load.
#[derive(Debug, Clone, Copy)]
struct LoadedKey {
    map_key: [u8; 32],
    /// The key's chain length before the block.
    count: u64,
    /// The version that wrote its current record, which this block's update supersedes.
    superseded_version: Option<u64>,
}

/// Loads what execution may read, and what the map update needs about each index key.
fn load_snapshot<S: StateStore>(
    store: &S,
    keys: StateKeys,
    version: u64,
) -> Result<(StateSnapshot, BTreeMap<IndexKey, LoadedKey>), LedgerError> {
    let mut snapshot = StateSnapshot::default();
    for id in keys.shipments {
        let state = store.shipment(&id)?;
        snapshot.shipments.insert(id, state);
    }
    for serial in keys.serials {
        let state = store.serial(&serial)?;
        snapshot.serials.insert(serial, state);
    }
    for signer in keys.signers {
        let spent = store.spent_nonces(&signer)?;
        snapshot.nonces.insert(signer, spent);
    }
    let index_keys: Vec<IndexKey> = keys.index_keys.into_iter().collect();
    let map_keys: Vec<[u8; 32]> = index_keys.iter().map(IndexKey::map_key).collect();
    let loaded = authenticated_map::records(store, &map_keys, version)?;
    let mut loaded_keys = BTreeMap::new();
    for ((key, map_key), record) in index_keys.into_iter().zip(map_keys).zip(loaded) {
        let info = LoadedKey {
            map_key,
            count: record.map_or(0, |r| r.record.count),
            superseded_version: record.map(|r| r.version),
        };
        loaded_keys.insert(key.clone(), info);
        snapshot.records.insert(key, record.map(|r| r.record));
    }
    Ok((snapshot, loaded_keys))
}

/// Whether `event` may go into a block with time `block_time_ms`: not dated after it by more
/// than the clock skew events are allowed.
pub fn fits_block_time(event: &CheckedEvent, block_time_ms: u64) -> bool {
    event.event().body.event_time_ms
        <= block_time_ms.saturating_add(waybill_protocol::limits::EVENT_TIME_FUTURE_SKEW_MS_MAX)
}

/// Executes `proposal` on `tip`: checks the block's shape, runs execution, updates the map and
/// the log, and computes the header.
pub fn build_block<S: StateStore>(
    store: &S,
    rules: &ChainRules,
    tip: &Tip,
    proposal: BlockProposal,
) -> Result<ExecutedBlock, LedgerError> {
    let height = tip.height + 1;
    if proposal.time_ms <= tip.time_ms {
        return Err(LedgerError::TimeNotIncreasing {
            parent: tip.time_ms,
            proposed: proposal.time_ms,
        });
    }
    if usize::from(proposal.proposer.0) >= rules.validator_count() {
        return Err(LedgerError::UnknownProposer {
            proposer: proposal.proposer.0,
        });
    }
    let consensus = &rules.genesis().consensus;
    let max_events = consensus.block_events_max as usize;
    if proposal.events.len() > max_events {
        return Err(LedgerError::TooManyEvents {
            count: proposal.events.len(),
            max: max_events,
        });
    }
    let bytes: usize = proposal.events.iter().map(CheckedEvent::encoded_len).sum();
    if bytes > consensus.block_bytes_max as usize {
        return Err(LedgerError::TooManyBytes {
            bytes,
            max: consensus.block_bytes_max as usize,
        });
    }
    // An event from after the block's time (beyond clock skew) makes the block invalid rather
    // than being rejected with its nonce spent: a proposer with a slow or lying clock can then
    // only leave honest events pending, never burn them.
    if let Some(late) = proposal
        .events
        .iter()
        .find(|event| !fits_block_time(event, proposal.time_ms))
    {
        return Err(LedgerError::EventAfterBlockTime {
            id: late.id(),
            event_time_ms: late.event().body.event_time_ms,
            block_time_ms: proposal.time_ms,
        });
    }
    check_last_commit(rules, tip, proposal.last_commit.as_ref())?;
    let ids: Vec<Hash> = proposal.events.iter().map(CheckedEvent::id).collect();
    let mut seen = BTreeSet::new();
    for (id, committed) in ids.iter().zip(store.committed_events(&ids)?) {
        if committed || !seen.insert(*id) {
            return Err(LedgerError::DuplicateEvent { id: *id });
        }
    }

    let (mut state, loaded_keys) =
        load_snapshot(store, execution::keys_read(&proposal.events), tip.height)?;
    let context = BlockContext {
        height,
        time_ms: proposal.time_ms,
        rules: rules.genesis().rules_version_at(height),
    };
    let outcomes = execution::execute_block(rules, context, &proposal.events, &mut state);

    let key_positions = chain_positions(&proposal.events, &outcomes, &loaded_keys);
    let changes: Vec<RecordChange> = state
        .changed
        .index_keys
        .iter()
        .map(|key| {
            let loaded = &loaded_keys[key];
            RecordChange {
                map_key: loaded.map_key,
                record: state.records[key].expect("a changed key has a record"),
                superseded_version: loaded.superseded_version,
            }
        })
        .collect();
    let map = authenticated_map::update(store, tip.height, height, &changes)?;

    let leaves = execution::event_leaves(&proposal.events);
    let mut log = tip.log.clone();
    for leaf in &leaves {
        log.push(*leaf);
    }
    let header = BlockHeader {
        chain_id: rules.chain_id().clone(),
        height,
        rules_version: context.rules,
        time_ms: proposal.time_ms,
        prev_block_hash: tip.block_hash,
        last_commit_hash: BlockHeader::last_commit_hash(proposal.last_commit.as_ref()),
        proposer: proposal.proposer,
        events_root: merkle::root(&leaves),
        event_count: proposal.events.len() as u32,
        log_size: log.size(),
        log_root: log.root(),
        index_root: map.root,
        validators_hash: rules.validators_hash(),
    };
    let new_tip = Tip {
        genesis_hash: tip.genesis_hash,
        height,
        block_hash: header.hash(),
        time_ms: proposal.time_ms,
        log,
    };
    Ok(ExecutedBlock {
        header,
        last_commit: proposal.last_commit,
        events: proposal.events,
        outcomes,
        state,
        map,
        tip: new_tip,
        key_positions,
    })
}

/// Block 1 carries no last commit; every later block a valid certificate of the tip.
fn check_last_commit(
    rules: &ChainRules,
    tip: &Tip,
    last_commit: Option<&CommitCertificate>,
) -> Result<(), LedgerError> {
    let refuse = |detail: String| Err(LedgerError::LastCommit { detail });
    match last_commit {
        None if tip.height == 0 => Ok(()),
        None => refuse(format!(
            "missing; block {} carries the parent's certificate",
            tip.height + 1
        )),
        Some(_) if tip.height == 0 => refuse("block 1 has no parent to certify".into()),
        Some(certificate) => {
            if certificate.height != tip.height || certificate.block_hash != tip.block_hash {
                return refuse(format!(
                    "it certifies height {} block {}, the parent is height {} block {}",
                    certificate.height, certificate.block_hash, tip.height, tip.block_hash
                ));
            }
            certificate
                .verify_precommits(rules)
                .or_else(|error| refuse(error.to_string()))
        }
    }
}

/// For each applied event and each key it is indexed under, the event's position in that key's
/// chain (continuing from the counts before the block).
fn chain_positions(
    events: &[CheckedEvent],
    outcomes: &[EventOutcome],
    loaded_keys: &BTreeMap<IndexKey, LoadedKey>,
) -> Vec<([u8; 32], u64, u32)> {
    let mut counts: BTreeMap<&IndexKey, u64> = BTreeMap::new();
    let mut positions = Vec::new();
    for (index, (checked, outcome)) in events.iter().zip(outcomes).enumerate() {
        if *outcome != EventOutcome::Applied {
            continue;
        }
        for key in index_keys(&checked.event().body) {
            // Every key of every event was loaded (`keys_read`).
            let (stored, loaded) = loaded_keys
                .get_key_value(&key)
                .expect("index keys are loaded");
            let count = counts.entry(stored).or_insert(loaded.count);
            *count += 1;
            positions.push((loaded.map_key, *count, index as u32));
        }
    }
    positions
}

/// Checks that `proposed` is exactly the header re-execution computed.
pub fn check_header(proposed: &BlockHeader, computed: &BlockHeader) -> Result<(), LedgerError> {
    let fields: [(&'static str, String, String); 13] = [
        (
            "chain_id",
            proposed.chain_id.to_string(),
            computed.chain_id.to_string(),
        ),
        (
            "height",
            proposed.height.to_string(),
            computed.height.to_string(),
        ),
        (
            "rules_version",
            proposed.rules_version.to_string(),
            computed.rules_version.to_string(),
        ),
        (
            "time_ms",
            proposed.time_ms.to_string(),
            computed.time_ms.to_string(),
        ),
        (
            "prev_block_hash",
            proposed.prev_block_hash.to_hex(),
            computed.prev_block_hash.to_hex(),
        ),
        (
            "last_commit_hash",
            proposed.last_commit_hash.to_hex(),
            computed.last_commit_hash.to_hex(),
        ),
        (
            "proposer",
            proposed.proposer.0.to_string(),
            computed.proposer.0.to_string(),
        ),
        (
            "events_root",
            proposed.events_root.to_hex(),
            computed.events_root.to_hex(),
        ),
        (
            "event_count",
            proposed.event_count.to_string(),
            computed.event_count.to_string(),
        ),
        (
            "log_size",
            proposed.log_size.to_string(),
            computed.log_size.to_string(),
        ),
        (
            "log_root",
            proposed.log_root.to_hex(),
            computed.log_root.to_hex(),
        ),
        (
            "index_root",
            proposed.index_root.to_hex(),
            computed.index_root.to_hex(),
        ),
        (
            "validators_hash",
            proposed.validators_hash.to_hex(),
            computed.validators_hash.to_hex(),
        ),
    ];
    for (field, proposed, computed) in fields {
        if proposed != computed {
            return Err(LedgerError::HeaderMismatch {
                field,
                proposed,
                computed,
            });
        }
    }
    debug_assert_eq!(proposed, computed);
    Ok(())
}
