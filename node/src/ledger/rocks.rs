//! The ledger on RocksDB. One block is one synced `WriteBatch`: header, certificate, events,
//! receipts, per-key event lists, execution state, authenticated-map nodes and values, pruning,
//! and the tip — so a crash leaves the whole block or none of it.
//!
//! Column families and their keys (integers big-endian, so keys sort by height):
//!
//! | family | key | value |
//! |---|---|---|
//! | `meta` | `tip` | [`Tip`] |
//! | `headers`, `certificates` | height | header, commit certificate |
//! | `events` | height ‖ index (u32) | signed event |
//! | `event_locations` | event id | [`EventLocation`] |
//! | `key_events` | map key ‖ position | height ‖ index |
//! | `state` | `s`‖shipment, `c`‖serial, `n`‖signer | shipment state, serial state, spent nonces (`SpentNonces::to_bytes`) |
//! | `map_nodes` | jmt node key | jmt node |
//! | `map_values` | map key ‖ version | encoded key record |
//! | `map_stale` | version | what that version made stale: node keys, then map key ‖ older version ([`StaleList`]; pruned when the version leaves retention) |
//! | `evidence` | offender height ‖ hash of the evidence | consensus equivocation evidence |

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use jmt::storage::{Node, NodeKey};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions,
};
use waybill_protocol::block::VerifiedCertificate;
use waybill_protocol::codec;
use waybill_protocol::event::{Sgtin, SignedEvent};
use waybill_protocol::execution::{SerialState, ShipmentState, SpentNonces};
use waybill_protocol::index::IndexKey;
use waybill_protocol::limits::{
    EVIDENCE_KEPT_MAX, MESSAGE_ENCODED_BYTES_MAX, PROVENANCE_EVENTS_MAX, PROVENANCE_FILL_BYTES,
};
use waybill_protocol::provenance::{ProvenEvent, ProvenancePage, ProvenanceProof};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{BlockHeader, CommitCertificate, Hash, KeyId, ShipmentId};

use super::authenticated_map::{self, VersionedValue, decode_node, node_bytes, node_key_bytes};
use super::writes::SortedWrites;
use super::{
    BlockProposal, EventLocation, ExecutedBlock, LedgerError, MapStorage, StateStore, Tip,
    build_block, check_header,
};
use crate::limits::STORED_VALUE_BYTES_MAX;

const META: &str = "meta";
const HEADERS: &str = "headers";
const CERTIFICATES: &str = "certificates";
const EVENTS: &str = "events";
const EVENT_LOCATIONS: &str = "event_locations";
const KEY_EVENTS: &str = "key_events";
const STATE: &str = "state";
const MAP_NODES: &str = "map_nodes";
const MAP_VALUES: &str = "map_values";
/// One record per version rather than one key per stale entry: a block makes thousands of
/// nodes stale, and pruning reads them back all at once.
const MAP_STALE: &str = "map_stale";
const EVIDENCE: &str = "evidence";
/// Events this node accepted (answered 202 for) and has not yet seen committed: kept across a
/// crash, so an accepted event is never lost with the process.
const PENDING: &str = "pending";
/// A listing that is the node's word, not proven: which serials a GTIN's events named. Whoever
/// uses it verifies each member. (The consignee listing is personal data: it lives in the
/// private store, at nodes entitled to declarations' particulars.)
const SERIALS_BY_GTIN: &str = "serials_by_gtin";
const FAMILIES: [&str; 13] = [
    META,
    HEADERS,
    CERTIFICATES,
    EVENTS,
    EVENT_LOCATIONS,
    KEY_EVENTS,
    STATE,
    MAP_NODES,
    MAP_VALUES,
    MAP_STALE,
    EVIDENCE,
    PENDING,
    SERIALS_BY_GTIN,
];

const TIP_KEY: &[u8] = b"tip";

/// Tunables of a ledger.
#[derive(Debug, Clone, Copy)]
pub struct LedgerOptions {
    /// How many recent versions of the authenticated map stay provable; older nodes and values
    /// are pruned.
    pub retention_versions: u64,
    /// The block cache shared by all column families.
    pub block_cache_bytes: usize,
}

impl Default for LedgerOptions {
    fn default() -> LedgerOptions {
        LedgerOptions {
            retention_versions: 128,
            block_cache_bytes: 512 * 1024 * 1024,
        }
    }
}

/// The RocksDB ledger of one node.
pub struct Ledger {
    db: DB,
    rules: ChainRules,
    tip: Tip,
    options: LedgerOptions,
    /// What the `pending` column holds, kept in memory too.
    pending: Mutex<Pending>,
}

/// The `pending` column's next acceptance number (restored events go back into the mempool in
/// the order they were accepted, not in id order) and its ids: a committing block deletes only
/// the events that are there, most of a block's having come by gossip and never been kept.
#[derive(Debug, Default)]
struct Pending {
    next_seq: u64,
    ids: HashSet<Hash>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Ledger")
            .field("tip_height", &self.tip.height)
            .finish_non_exhaustive()
    }
}

fn storage(operation: &'static str) -> impl FnOnce(rocksdb::Error) -> LedgerError {
    move |error| LedgerError::Storage {
        operation,
        reason: error.to_string(),
    }
}

fn corrupt(what: &str) -> impl FnOnce(codec::CodecError) -> LedgerError + '_ {
    move |error| LedgerError::Corrupt {
        what: format!("{what}: {error}"),
    }
}

fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

fn event_key(height: u64, index: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

fn versioned_key(map_key: &[u8; 32], version: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(map_key);
    key[32..].copy_from_slice(&version.to_be_bytes());
    key
}

fn state_key<T: bincode::Encode>(prefix: u8, value: &T) -> Vec<u8> {
    let mut key = vec![prefix];
    codec::encode_into(value, &mut key);
    key
}

/// Families execution reads by key, most often for a key that is not there (a new event, a new
/// shipment, a map node on a fresh path): their memtables get a whole-key bloom filter, so such
/// a miss no longer searches the skip list (the SST files have one already).
const POINT_READ_FAMILIES: [&str; 4] = [EVENT_LOCATIONS, STATE, MAP_NODES, PENDING];

/// A memtable bloom filter's size as a share of the memtable: about 10 bits a key for the
/// smallest entries these families hold.
const MEMTABLE_BLOOM_RATIO: f64 = 0.02;

/// Options for the database and each column family, sharing one block cache: execution reads
/// state, map nodes and values at random, and RocksDB's default cache is far smaller than the
/// working set of a busy ledger.
fn family_options(cache: &Cache, family: &str) -> Options {
    let mut options = db_options(cache);
    if POINT_READ_FAMILIES.contains(&family) {
        options.set_memtable_whole_key_filtering(true);
        options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
    }
    if PER_KEY_FAMILIES.contains(&family) {
        options.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(MAP_KEY_BYTES));
        options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
    }
    options
}

/// Families keyed by map key ‖ position or version, read only within one map key: a prefix
/// bloom filter on the map key lets a block's reads of keys never recorded (most of a busy
/// block's) skip every file, and each read stays within its key ([`per_key_reads`]).
const PER_KEY_FAMILIES: [&str; 2] = [KEY_EVENTS, MAP_VALUES];

const MAP_KEY_BYTES: usize = 32;

/// Read options for the per-key families: an iterator ends where its map key does.
fn per_key_reads() -> ReadOptions {
    let mut options = ReadOptions::default();
    options.set_prefix_same_as_start(true);
    options
}

fn db_options(cache: &Cache) -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    // Measured: LZ4 saves about a sixth of the disk even on the hash-heavy families.
    options.set_compression_type(DBCompressionType::Lz4);
    options.set_max_background_jobs(2);
    // A bounded number of open SST files: part of the descriptor budget in `limits`.
    options.set_max_open_files(crate::limits::ROCKSDB_OPEN_FILES_MAX as i32);
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_block_cache(cache);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    options.set_block_based_table_factory(&table);
    options
}

impl Ledger {
    /// Opens (or creates) the ledger in `path` for `rules`' chain, and checks that what is stored
    /// is whole: the tip names a stored block with its certificate, the log frontier and map root
    /// agree with that block's header, and nothing lies beyond it.
    pub fn open(
        path: &Path,
        rules: ChainRules,
        options: LedgerOptions,
    ) -> Result<Ledger, LedgerError> {
        check_families(path)?;
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let families = FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, family_options(&cache, name)));
        let db = DB::open_cf_descriptors(&db_options(&cache), path, families)
            .map_err(storage("open"))?;
        let mut ledger = Ledger {
            db,
            tip: Tip::genesis(&rules),
            rules,
            options,
            pending: Mutex::default(),
        };
        let pending = ledger.read_pending()?;
        *ledger.pending_mut() = pending;
        match ledger.read_tip()? {
            Some(tip) => {
                ledger.check_stored_tip(&tip)?;
                ledger.tip = tip;
            }
            None => ledger.initialise()?,
        }
        Ok(ledger)
    }

    fn initialise(&mut self) -> Result<(), LedgerError> {
        if self
            .db
            .iterator_cf(self.cf(HEADERS), IteratorMode::Start)
            .next()
            .is_some()
        {
            return Err(LedgerError::Inconsistent {
                detail: "blocks are stored but the tip record is missing".into(),
            });
        }
        let write = authenticated_map::genesis_write(&*self)?;
        let mut batch = WriteBatch::default();
        for (key, node) in &write.nodes {
            batch.put_cf(self.cf(MAP_NODES), node_key_bytes(key), node_bytes(node));
        }
        let tip = Tip::genesis(&self.rules);
        batch.put_cf(self.cf(META), TIP_KEY, codec::encode(&tip));
        self.write_synced(batch)?;
        self.tip = tip;
        Ok(())
    }

    fn check_stored_tip(&self, tip: &Tip) -> Result<(), LedgerError> {
        if tip.genesis_hash != self.rules.genesis_hash() {
            return Err(LedgerError::WrongGenesis {
                stored: tip.genesis_hash,
                given: self.rules.genesis_hash(),
            });
        }
        let inconsistent = |detail: String| Err(LedgerError::Inconsistent { detail });
        if self.header(tip.height + 1)?.is_some() {
            return inconsistent(format!(
                "a block is stored above the tip height {}",
                tip.height
            ));
        }
        if tip.height == 0 {
            return Ok(());
        }
        let Some(header) = self.header(tip.height)? else {
            return inconsistent(format!(
                "the tip names height {}, which is not stored",
                tip.height
            ));
        };
        if header.hash() != tip.block_hash {
            return inconsistent(format!(
                "the tip names block {} at height {}, the stored header hashes to {}",
                tip.block_hash,
                tip.height,
                header.hash()
            ));
        }
        if self.certificate(tip.height)?.is_none() {
            return inconsistent(format!(
                "no commit certificate for the tip height {}",
                tip.height
            ));
        }
        if header.log_size != tip.log.size() || header.log_root != tip.log.root() {
            return inconsistent(format!(
                "the log frontier ({} events) disagrees with header {} ({} events)",
                tip.log.size(),
                tip.height,
                header.log_size
            ));
        }
        let root = authenticated_map::root(self, tip.height)?;
        if root != header.index_root {
            return inconsistent(format!(
                "the authenticated map root {root} disagrees with header {}'s index root {}",
                tip.height, header.index_root
            ));
        }
        Ok(())
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is created when the ledger opens")
    }

    fn read_tip(&self) -> Result<Option<Tip>, LedgerError> {
        self.get_decoded(META, TIP_KEY, "tip")
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), LedgerError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .write_opt(batch, &options)
            .map_err(storage("synced block write"))
    }

    pub fn rules(&self) -> &ChainRules {
        &self.rules
    }

    pub fn tip(&self) -> &Tip {
        &self.tip
    }

    /// The highest block whose certificate is canonical: the one the next block carries. Every
    /// node stores and serves the same certificate for it, so proofs are as of this height and
    /// byte-identical from every node. The tip's own certificate is only the quorum this node
    /// heard until the next block commits.
    pub fn certified_height(&self) -> u64 {
        self.tip.height.saturating_sub(1)
    }

    /// Whether the tip block has events: then the next block, which certifies it, is due at
    /// once (the engine proposes it without waiting; a proof request waits for it).
    pub fn tip_has_events(&self) -> Result<bool, LedgerError> {
        let height = self.tip.height;
        Ok(height > 0 && self.header(height)?.is_some_and(|h| h.event_count > 0))
    }

    /// The certificate this node holds for the tip: what its next proposal carries.
    pub fn last_commit(&self) -> Result<Option<CommitCertificate>, LedgerError> {
        if self.tip.height == 0 {
            return Ok(None);
        }
        self.certificate(self.tip.height)?
            .map(Some)
            .ok_or_else(|| LedgerError::Inconsistent {
                detail: format!(
                    "no commit certificate for the tip height {}",
                    self.tip.height
                ),
            })
    }

    /// A proposal on the tip that carries this node's certificate of it.
    pub fn proposal(
        &self,
        time_ms: u64,
        proposer: waybill_protocol::ValidatorIndex,
        events: Vec<waybill_protocol::admission::CheckedEvent>,
    ) -> Result<BlockProposal, LedgerError> {
        Ok(BlockProposal {
            time_ms,
            proposer,
            events,
            last_commit: self.last_commit()?,
        })
    }

    /// Executes a proposal on the tip (the proposer's side).
    pub fn execute(&self, proposal: BlockProposal) -> Result<ExecutedBlock, LedgerError> {
        build_block(self, &self.rules, &self.tip, proposal)
    }

    /// Re-executes a proposed block and checks its header field by field (a validator's side,
    /// and block sync's).
    pub fn validate(
        &self,
        header: &BlockHeader,
        last_commit: Option<CommitCertificate>,
        events: Vec<waybill_protocol::admission::CheckedEvent>,
    ) -> Result<ExecutedBlock, LedgerError> {
        if header.height != self.tip.height + 1 {
            return Err(LedgerError::HeightMismatch {
                expected: self.tip.height + 1,
                found: header.height,
            });
        }
        let proposal = BlockProposal {
            time_ms: header.time_ms,
            proposer: header.proposer,
            events,
            last_commit,
        };
        let block = self.execute(proposal)?;
        check_header(header, &block.header)?;
        Ok(block)
    }

    /// Commits an executed block with the certificate that finalised it, whose signatures are
    /// checked here (tools and tests; the engine holds verified certificates already).
    pub fn commit(
        &mut self,
        block: ExecutedBlock,
        certificate: &CommitCertificate,
    ) -> Result<(), LedgerError> {
        let verified = certificate.clone().into_verified(&self.rules)?;
        self.commit_verified(block, &verified)
    }

    /// Commits an executed block with the certificate that finalised it, in one synced batch.
    /// A storage error here leaves the ledger as it was; the node must stop rather than go on.
    pub fn commit_verified(
        &mut self,
        block: ExecutedBlock,
        certificate: &VerifiedCertificate,
    ) -> Result<(), LedgerError> {
        let header = &block.header;
        if header.height != self.tip.height + 1 {
            return Err(LedgerError::HeightMismatch {
                expected: self.tip.height + 1,
                found: header.height,
            });
        }
        if header.prev_block_hash != self.tip.block_hash {
            return Err(LedgerError::ParentMismatch {
                expected: self.tip.block_hash,
                found: header.prev_block_hash,
            });
        }
        certificate.certifies(&self.rules, header)?;
        let batch = self.block_batch(&block, certificate)?;
        self.write_synced(batch)?;
        let pending = &mut self.pending_mut().ids;
        for checked in &block.events {
            pending.remove(&checked.id());
        }
        self.tip = block.tip;
        Ok(())
    }

    fn block_batch(
        &self,
        block: &ExecutedBlock,
        certificate: &CommitCertificate,
    ) -> Result<WriteBatch, LedgerError> {
        let height = block.header.height;
        let pending = &self.pending_lock().ids;
        let mut writes = SortedWrites::default();
        writes.put(HEADERS, height_key(height), codec::encode(&block.header));
        writes.put(CERTIFICATES, height_key(height), codec::encode(certificate));
        // The parent's certificate as this block carries it replaces the one this node heard.
        if let Some(last_commit) = &block.last_commit {
            writes.put(
                CERTIFICATES,
                height_key(height - 1),
                codec::encode(last_commit),
            );
        }
        for (index, (checked, outcome)) in block.events.iter().zip(&block.outcomes).enumerate() {
            let index = index as u32;
            if pending.contains(&checked.id()) {
                writes.delete(PENDING, checked.id().as_bytes());
            }
            writes.put(EVENTS, event_key(height, index), checked.event().encode());
            if *outcome == waybill_protocol::execution::EventOutcome::Applied {
                list_event(&mut writes, checked.event());
            }
            let location = EventLocation {
                height,
                index,
                outcome: outcome.clone(),
            };
            writes.put(EVENT_LOCATIONS, checked.id().0, codec::encode(&location));
        }
        for (map_key, position, index) in &block.key_positions {
            writes.put(
                KEY_EVENTS,
                versioned_key(map_key, *position),
                event_key(height, *index).to_vec(),
            );
        }
        state_writes(&mut writes, &block.state);
        self.map_writes(&mut writes, block)?;
        writes.put(META, TIP_KEY, codec::encode(&block.tip));
        Ok(writes.into_batch(|family| self.cf(family)))
    }

    /// The map's writes for this version, and pruning of the version leaving retention.
    fn map_writes(
        &self,
        writes: &mut SortedWrites,
        block: &ExecutedBlock,
    ) -> Result<(), LedgerError> {
        let map = &block.map;
        let version = map.version.to_be_bytes();
        for (key, node) in &map.nodes {
            writes.put(MAP_NODES, node_key_bytes(key), node_bytes(node));
        }
        for (map_key, value) in &map.values {
            writes.put(
                MAP_VALUES,
                versioned_key(map_key, map.version),
                value.clone(),
            );
        }
        let stale = StaleList::encode(map);
        if !stale.is_empty() {
            writes.put(MAP_STALE, version, stale);
        }
        let Some(expired) = map.version.checked_sub(self.options.retention_versions) else {
            return Ok(());
        };
        let expired = expired.to_be_bytes();
        let Some(list) = self
            .db
            .get_pinned_cf(self.cf(MAP_STALE), expired)
            .map_err(storage("read stale entries"))?
        else {
            return Ok(());
        };
        let list = StaleList::decode(&list)?;
        for node_key in list.nodes {
            writes.delete(MAP_NODES, node_key);
        }
        for value_key in list.values {
            writes.delete(MAP_VALUES, value_key);
        }
        writes.delete(MAP_STALE, expired);
        Ok(())
    }

    /// Reads `key` from `family` and decodes it as a `T` (bounded), naming `what` on failure.
    fn get_decoded<T: bincode::Decode<()>>(
        &self,
        family: &str,
        key: impl AsRef<[u8]>,
        what: &'static str,
    ) -> Result<Option<T>, LedgerError> {
        self.db
            .get_cf(self.cf(family), key)
            .map_err(|error| LedgerError::Storage {
                operation: what,
                reason: error.to_string(),
            })?
            .map(|bytes| codec::decode(what, &bytes, STORED_VALUE_BYTES_MAX).map_err(corrupt(what)))
            .transpose()
    }

    pub fn header(&self, height: u64) -> Result<Option<BlockHeader>, LedgerError> {
        self.get_decoded(HEADERS, height_key(height), "header")
    }

    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, LedgerError> {
        self.get_decoded(CERTIFICATES, height_key(height), "certificate")
    }

    /// The events of the block at `height`, in order.
    pub fn block_events(&self, height: u64) -> Result<Vec<SignedEvent>, LedgerError> {
        prefix_entries(&self.db, self.cf(EVENTS), &height_key(height))
            .map(|entry| {
                let (_, bytes) = entry.map_err(storage("read events"))?;
                SignedEvent::decode(&bytes).map_err(|error| LedgerError::Corrupt {
                    what: format!("event at height {height}: {error}"),
                })
            })
            .collect()
    }

    pub fn event_at(&self, height: u64, index: u32) -> Result<Option<SignedEvent>, LedgerError> {
        Ok(self
            .event_and_size_at(height, index)?
            .map(|(event, _)| event))
    }

    /// The event at (height, index), and the length of its stored encoding.
    fn event_and_size_at(
        &self,
        height: u64,
        index: u32,
    ) -> Result<Option<(SignedEvent, usize)>, LedgerError> {
        self.db
            .get_cf(self.cf(EVENTS), event_key(height, index))
            .map_err(storage("read event"))?
            .map(|bytes| {
                SignedEvent::decode(&bytes)
                    .map(|event| (event, bytes.len()))
                    .map_err(|error| LedgerError::Corrupt {
                        what: format!("event {height}/{index}: {error}"),
                    })
            })
            .transpose()
    }

    /// The (height, index) of the event at `position` (1-based) in a key's chain.
    pub fn key_event(
        &self,
        map_key: &[u8; 32],
        position: u64,
    ) -> Result<Option<(u64, u32)>, LedgerError> {
        let location = self
            .db
            .get_cf(self.cf(KEY_EVENTS), versioned_key(map_key, position))
            .map_err(storage("read key event"))?;
        match location {
            None => Ok(None),
            Some(bytes) if bytes.len() == 12 => Ok(Some((
                u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
                u32::from_be_bytes(bytes[8..].try_into().expect("4 bytes")),
            ))),
            Some(bytes) => Err(LedgerError::Corrupt {
                what: format!("key event entry of {} bytes", bytes.len()),
            }),
        }
    }

    /// Where a committed event is, and whether it was applied or rejected (and why).
    pub fn event_location(&self, id: &Hash) -> Result<Option<EventLocation>, LedgerError> {
        self.get_decoded(EVENT_LOCATIONS, id.0, "event location")
    }

    /// A key's history as of the certified height, with the proof a client checks against the
    /// genesis. A key never recorded gets a proof of absence. A history longer than one answer
    /// may carry is refused here and served by [`Ledger::provenance_page`].
    pub fn provenance(&self, key: &IndexKey) -> Result<ProvenanceProof, LedgerError> {
        let (mut proof, count) = self.proof_without_events(key, self.certified_height())?;
        if count > PROVENANCE_EVENTS_MAX as u64 {
            return Err(LedgerError::HistoryTooLong {
                key: key.clone(),
                count,
                max: PROVENANCE_EVENTS_MAX,
            });
        }
        let (events, complete) = self.key_events(key, 1, count)?;
        if !complete {
            return Err(LedgerError::HistoryTooLong {
                key: key.clone(),
                count,
                max: PROVENANCE_EVENTS_MAX,
            });
        }
        proof.events = events;
        Ok(proof)
    }

    /// Events `first..` (at most `events_max`) of a key's history as of block `height` (the
    /// certified height if `None`; any certified one of the last `retention_versions` blocks),
    /// with the same proof as the whole history: pages of one height join into the complete
    /// proof.
    pub fn provenance_page(
        &self,
        key: &IndexKey,
        height: Option<u64>,
        first: u64,
        events_max: usize,
    ) -> Result<ProvenancePage, LedgerError> {
        let newest = self.certified_height();
        let height = height.unwrap_or(newest);
        let oldest = self
            .tip
            .height
            .saturating_sub(self.options.retention_versions.saturating_sub(1))
            .max(1);
        if !(oldest..=newest).contains(&height) {
            return Err(LedgerError::HeightNotProvable {
                height,
                oldest,
                newest,
            });
        }
        let (mut proof, count) = self.proof_without_events(key, height)?;
        if first == 0 || first > count.max(1) {
            return Err(LedgerError::PageOutOfRange { first, count });
        }
        let last = count.min(first.saturating_add(events_max as u64).saturating_sub(1));
        proof.events = self.key_events(key, first, last)?.0;
        Ok(ProvenancePage { first, proof })
    }

    /// The header, certificate, record and map proof of `key` as of `height`, and the record's
    /// event count; the events are the caller's to add.
    fn proof_without_events(
        &self,
        key: &IndexKey,
        height: u64,
    ) -> Result<(ProvenanceProof, u64), LedgerError> {
        let missing = |what: &str| LedgerError::Inconsistent {
            detail: format!("{what} at height {height} is missing"),
        };
        if height == 0 {
            return Err(LedgerError::Inconsistent {
                detail: "no block is certified yet; there is no certificate to prove against"
                    .into(),
            });
        }
        let header = self.header(height)?.ok_or_else(|| missing("the header"))?;
        let certificate = self
            .certificate(height)?
            .ok_or_else(|| missing("the certificate"))?;
        let (record, map_proof) = authenticated_map::prove(self, key, height)?;
        let count = record.map_or(0, |r| r.count);
        let proof = ProvenanceProof {
            key: key.clone(),
            header,
            certificate,
            record,
            map_proof,
            events: Vec::new(),
        };
        Ok((proof, count))
    }

    /// Events `first..=last` (1-based positions) of `key`'s list, stopping early (after at
    /// least one) once they fill `PROVENANCE_FILL_BYTES`; whether all were read.
    fn key_events(
        &self,
        key: &IndexKey,
        first: u64,
        last: u64,
    ) -> Result<(Vec<ProvenEvent>, bool), LedgerError> {
        let wanted = last.saturating_add(1).saturating_sub(first);
        let map_key = key.map_key();
        let start = versioned_key(&map_key, first);
        let mut events = Vec::with_capacity(wanted as usize);
        let mut bytes = 0;
        let iterator = self.db.iterator_cf_opt(
            self.cf(KEY_EVENTS),
            per_key_reads(),
            IteratorMode::From(&start, Direction::Forward),
        );
        for entry in iterator.take(wanted as usize) {
            let (entry_key, location) = entry.map_err(storage("read key events"))?;
            if entry_key[..32] != map_key || location.len() != 12 {
                return Err(LedgerError::Corrupt {
                    what: format!("the event list of {key} is shorter than its record ({last})"),
                });
            }
            let event_height = u64::from_be_bytes(location[..8].try_into().expect("8 bytes"));
            let index = u32::from_be_bytes(location[8..].try_into().expect("4 bytes"));
            let (event, size) = self
                .event_and_size_at(event_height, index)?
                .ok_or_else(|| LedgerError::Corrupt {
                    what: format!("event {event_height}/{index} of {key} is missing"),
                })?;
            bytes += size;
            events.push(ProvenEvent {
                height: event_height,
                event,
            });
            if bytes >= PROVENANCE_FILL_BYTES && (events.len() as u64) < wanted {
                return Ok((events, false));
            }
        }
        if events.len() as u64 != wanted {
            return Err(LedgerError::Corrupt {
                what: format!(
                    "the event list of {key} has {} entries from {first}, its record ends at {last}",
                    events.len()
                ),
            });
        }
        Ok((events, true))
    }

    /// The first `events_max` events of a key's history as of the tip, and whether that is the
    /// whole history: what a read-policy check reads to find the caller's part in it.
    pub fn key_history(
        &self,
        key: &IndexKey,
        events_max: usize,
    ) -> Result<(Vec<SignedEvent>, bool), LedgerError> {
        let map_key = key.map_key();
        let start = versioned_key(&map_key, 1);
        let iterator = self.db.iterator_cf_opt(
            self.cf(KEY_EVENTS),
            per_key_reads(),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut events = Vec::new();
        for entry in iterator {
            let (entry_key, location) = entry.map_err(storage("read key events"))?;
            if entry_key.get(..32) != Some(&map_key[..]) {
                break;
            }
            if events.len() == events_max {
                return Ok((events, false));
            }
            let (Some(height), Some(index)) = (location.get(..8), location.get(8..12)) else {
                return Err(LedgerError::Corrupt {
                    what: format!("a key event entry of {key} of {} bytes", location.len()),
                });
            };
            let height = u64::from_be_bytes(height.try_into().expect("8 bytes"));
            let index = u32::from_be_bytes(index.try_into().expect("4 bytes"));
            let (event, _) =
                self.event_and_size_at(height, index)?
                    .ok_or_else(|| LedgerError::Corrupt {
                        what: format!("event {height}/{index} of {key} is missing"),
                    })?;
            events.push(event);
        }
        Ok((events, true))
    }

    /// Keeps verified equivocation evidence (once per distinct item; at most
    /// `EVIDENCE_KEPT_MAX` items). Returns whether it was new.
    pub fn record_evidence(
        &self,
        evidence: &crate::consensus::Evidence,
    ) -> Result<bool, LedgerError> {
        let bytes = codec::encode(evidence);
        let (_, height) = evidence.offender();
        let mut key = height.to_be_bytes().to_vec();
        key.extend_from_slice(Hash::of_parts(&[&bytes]).as_bytes());
        let cf = self.cf(EVIDENCE);
        if self
            .db
            .get_cf(cf, &key)
            .map_err(storage("read evidence"))?
            .is_some()
        {
            return Ok(false);
        }
        let stored = self
            .db
            .iterator_cf(cf, IteratorMode::Start)
            .take(EVIDENCE_KEPT_MAX)
            .count();
        if stored >= EVIDENCE_KEPT_MAX {
            return Ok(false);
        }
        self.db
            .put_cf(cf, key, bytes)
            .map_err(storage("write evidence"))?;
        Ok(true)
    }

    /// Serials of `gtin` that applied events named, in serial order, at most `max` (and whether
    /// there were more). The node's word: verify each serial's provenance.
    pub fn serials_of_gtin(
        &self,
        gtin: &waybill_protocol::Gtin,
        max: usize,
    ) -> Result<(Vec<waybill_protocol::Serial>, bool), LedgerError> {
        let prefix = gtin.as_str().as_bytes().to_vec();
        let mut serials = Vec::new();
        let iterator = self.db.iterator_cf(
            self.cf(SERIALS_BY_GTIN),
            IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        );
        for entry in iterator {
            let (key, _) = entry.map_err(storage("read serial listing"))?;
            if !key.starts_with(&prefix) {
                break;
            }
            if serials.len() == max {
                return Ok((serials, true));
            }
            let text =
                std::str::from_utf8(&key[prefix.len()..]).map_err(|_| LedgerError::Corrupt {
                    what: "serial listing key".into(),
                })?;
            serials.push(waybill_protocol::Serial::new(text).map_err(|e| {
                LedgerError::Corrupt {
                    what: format!("serial listing: {e}"),
                }
            })?);
        }
        Ok((serials, false))
    }

    /// Makes accepted events durable (one synced batch) before the node promises to keep them.
    /// The block that commits an event deletes it here in the same batch.
    pub fn keep_pending(
        &self,
        events: &[&waybill_protocol::admission::CheckedEvent],
    ) -> Result<(), LedgerError> {
        let first = {
            let mut pending = self.pending_lock();
            pending.ids.extend(events.iter().map(|event| event.id()));
            let first = pending.next_seq;
            pending.next_seq += events.len() as u64;
            first
        };
        let mut batch = WriteBatch::default();
        for (offset, event) in events.iter().enumerate() {
            let mut value = (first + offset as u64).to_be_bytes().to_vec();
            value.extend_from_slice(&event.event().encode());
            batch.put_cf(self.cf(PENDING), event.id().as_bytes(), value);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .write_opt(batch, &options)
            .map_err(storage("synced pending-event write"))
    }

    /// Accepted events not yet committed (to re-admit at start), at most `max`, in the order
    /// they were accepted.
    pub fn pending_events(&self, max: usize) -> Result<Vec<SignedEvent>, LedgerError> {
        Ok(self
            .pending_in_order(max)?
            .into_iter()
            .map(|(_, event)| event)
            .collect())
    }

    /// The `pending` column by acceptance number. A value is that number (8 bytes, big-endian,
    /// from 1) then the event; one without the number (written before it existed) counts as 0
    /// and sorts first.
    fn pending_in_order(&self, max: usize) -> Result<Vec<(u64, SignedEvent)>, LedgerError> {
        let mut pending = self
            .db
            .iterator_cf(self.cf(PENDING), IteratorMode::Start)
            .map(|entry| {
                let (_, bytes) = entry.map_err(storage("read pending events"))?;
                let numbered = bytes.split_at_checked(8).and_then(|(seq, event)| {
                    let seq = u64::from_be_bytes(seq.try_into().ok()?);
                    Some((seq, SignedEvent::decode(event).ok()?))
                });
                match numbered {
                    Some(found) => Ok(found),
                    None => SignedEvent::decode(&bytes)
                        .map(|event| (0, event))
                        .map_err(|error| LedgerError::Corrupt {
                            what: format!("pending event: {error}"),
                        }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        pending.sort_by_key(|(seq, _)| *seq);
        pending.truncate(max);
        Ok(pending)
    }

    /// Forgets pending events that will never commit (e.g. refused on re-admission).
    pub fn forget_pending(&self, ids: &[Hash]) -> Result<(), LedgerError> {
        let mut batch = WriteBatch::default();
        for id in ids {
            batch.delete_cf(self.cf(PENDING), id.as_bytes());
        }
        self.db
            .write(batch)
            .map_err(storage("forget pending events"))?;
        let mut pending = self.pending_lock();
        for id in ids {
            pending.ids.remove(id);
        }
        Ok(())
    }

    /// The `pending` column's ids and next acceptance number, read once at open.
    fn read_pending(&self) -> Result<Pending, LedgerError> {
        let mut pending = Pending {
            next_seq: 1,
            ids: HashSet::new(),
        };
        for entry in self.db.iterator_cf(self.cf(PENDING), IteratorMode::Start) {
            let (key, value) = entry.map_err(storage("read pending events"))?;
            let id: [u8; 32] = (*key).try_into().map_err(|_| LedgerError::Corrupt {
                what: format!("pending event key of {} bytes", key.len()),
            })?;
            pending.ids.insert(Hash(id));
            if let Some(seq) = value.first_chunk::<8>() {
                pending.next_seq = pending.next_seq.max(u64::from_be_bytes(*seq) + 1);
            }
        }
        Ok(pending)
    }

    fn pending_lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // The set is only ever extended or shrunk whole; a panic elsewhere leaves it usable.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pending_mut(&mut self) -> &mut Pending {
        self.pending
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stored evidence, oldest height first.
    pub fn evidence(&self) -> Result<Vec<crate::consensus::Evidence>, LedgerError> {
        self.db
            .iterator_cf(self.cf(EVIDENCE), IteratorMode::Start)
            .take(EVIDENCE_KEPT_MAX)
            .map(|entry| {
                let (_, bytes) = entry.map_err(storage("read evidence"))?;
                codec::decode("evidence", &bytes, MESSAGE_ENCODED_BYTES_MAX)
                    .map_err(corrupt("evidence"))
            })
            .collect()
    }

    /// Approximate bytes on disk (live SST files and memtables) across all column families.
    pub fn disk_bytes(&self) -> u64 {
        FAMILIES
            .iter()
            .filter_map(|name| {
                let cf = self.cf(name);
                let sst = self
                    .db
                    .property_int_value_cf(cf, "rocksdb.live-sst-files-size")
                    .ok()
                    .flatten()?;
                let memtables = self
                    .db
                    .property_int_value_cf(cf, "rocksdb.cur-size-all-mem-tables")
                    .ok()
                    .flatten()?;
                Some(sst + memtables)
            })
            .sum()
    }

    /// Compacts every column family, reclaiming what pruning deleted (for disk measurements).
    pub fn compact(&self) {
        for name in FAMILIES {
            self.db
                .compact_range_cf::<&[u8], &[u8]>(self.cf(name), None, None);
        }
    }

    /// Flushes memtables to SST files (for disk measurements).
    pub fn flush(&self) -> Result<(), LedgerError> {
        for name in FAMILIES {
            self.db.flush_cf(self.cf(name)).map_err(storage("flush"))?;
        }
        Ok(())
    }
}

/// Refuses a ledger with a column family this build does not write (RocksDB would only say
/// it was not opened): one written by another version of the node, whose layout differs.
fn check_families(path: &Path) -> Result<(), LedgerError> {
    // No database there yet: `open` creates one.
    let Ok(existing) = DB::list_cf(&Options::default(), path) else {
        return Ok(());
    };
    let unknown = existing
        .iter()
        .find(|name| *name != "default" && !FAMILIES.contains(&name.as_str()));
    match unknown {
        Some(name) => Err(LedgerError::Inconsistent {
            detail: format!(
                "column family {name} is not one this build writes: the ledger was written by another version of waybill-node; wipe the data directory to sync the chain again from peers"
            ),
        }),
        None => Ok(()),
    }
}

/// Adds an applied event to the unproven listings.
fn list_event(writes: &mut SortedWrites, event: &SignedEvent) {
    for epc in &event.body.epcs {
        if let waybill_protocol::event::Epc::Sgtin(sgtin) = epc {
            let mut key = sgtin.gtin.as_str().as_bytes().to_vec();
            key.extend_from_slice(sgtin.serial.as_str().as_bytes());
            writes.put(SERIALS_BY_GTIN, key, Vec::new());
        }
    }
}

/// The execution state the block changed.
fn state_writes(writes: &mut SortedWrites, state: &super::StateSnapshot) {
    for id in &state.changed.shipments {
        if let Some(Some(shipment)) = state.shipments.get(id) {
            writes.put(STATE, state_key(b's', id), codec::encode(shipment));
        }
    }
    for serial in &state.changed.serials {
        if let Some(Some(serial_state)) = state.serials.get(serial) {
            writes.put(STATE, state_key(b'c', serial), codec::encode(serial_state));
        }
    }
    for signer in &state.changed.signers {
        if let Some(Some(spent)) = state.nonces.get(signer) {
            writes.put(STATE, state_key(b'n', signer), spent.to_bytes());
        }
    }
}

/// What one version of the map made stale, stored as one value: a count (u32), each node key
/// (u16 length, then its bytes), then each superseded value's key (map key ‖ older version,
/// 40 bytes) to the end. Integers big-endian.
struct StaleList<'a> {
    nodes: Vec<&'a [u8]>,
    values: Vec<&'a [u8]>,
}

const STALE_VALUE_KEY_BYTES: usize = 40;

impl<'a> StaleList<'a> {
    fn encode(map: &super::authenticated_map::MapWrite) -> Vec<u8> {
        if map.stale_nodes.is_empty() && map.stale_values.is_empty() {
            return Vec::new();
        }
        let mut bytes = Vec::with_capacity(4 + 48 * map.stale_nodes.len());
        bytes.extend_from_slice(&(map.stale_nodes.len() as u32).to_be_bytes());
        for key in &map.stale_nodes {
            let key = node_key_bytes(key);
            bytes.extend_from_slice(&(key.len() as u16).to_be_bytes());
            bytes.extend_from_slice(&key);
        }
        for (map_key, old_version) in &map.stale_values {
            bytes.extend_from_slice(&versioned_key(map_key, *old_version));
        }
        bytes
    }

    fn decode(bytes: &'a [u8]) -> Result<StaleList<'a>, LedgerError> {
        let corrupt = || LedgerError::Corrupt {
            what: format!("stale list of {} bytes", bytes.len()),
        };
        let (count, mut rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let count = u32::from_be_bytes(*count) as usize;
        // Each node key takes at least its two length bytes: a count beyond that is corrupt.
        if count > rest.len() / 2 {
            return Err(corrupt());
        }
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            let (length, after) = rest.split_first_chunk::<2>().ok_or_else(corrupt)?;
            let (key, after) = after
                .split_at_checked(u16::from_be_bytes(*length) as usize)
                .ok_or_else(corrupt)?;
            nodes.push(key);
            rest = after;
        }
        if rest.len() % STALE_VALUE_KEY_BYTES != 0 {
            return Err(corrupt());
        }
        let values = rest.chunks_exact(STALE_VALUE_KEY_BYTES).collect();
        Ok(StaleList { nodes, values })
    }
}

type Entry = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>;

/// Entries of `cf` whose key starts with `prefix`, in order.
fn prefix_entries<'a>(
    db: &'a DB,
    cf: &ColumnFamily,
    prefix: &'a [u8],
) -> impl Iterator<Item = Entry> + 'a {
    db.iterator_cf(cf, IteratorMode::From(prefix, Direction::Forward))
        .take_while(move |entry| match entry {
            Ok((key, _)) => key.starts_with(prefix),
            Err(_) => true,
        })
}

/// The newest value of `key_hash` at or below `max_version`: values are keyed by
/// key hash ‖ version, so it is the entry at or before (key hash, max_version).
fn seek_value(
    iterator: &mut rocksdb::DBRawIteratorWithThreadMode<'_, DB>,
    key_hash: &[u8; 32],
    max_version: u64,
) -> Result<Option<VersionedValue>, LedgerError> {
    iterator.seek_for_prev(versioned_key(key_hash, max_version));
    if !iterator.valid() {
        iterator.status().map_err(storage("read map value"))?;
        return Ok(None);
    }
    match (iterator.key(), iterator.value()) {
        (Some(key), Some(value)) if key.len() == 40 && &key[..32] == key_hash => {
            let version = u64::from_be_bytes(key[32..].try_into().expect("8 bytes"));
            Ok(Some((version, value.to_vec())))
        }
        _ => Ok(None),
    }
}

impl MapStorage for Ledger {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, LedgerError> {
        self.db
            .get_cf(self.cf(MAP_NODES), node_key_bytes(key))
            .map_err(storage("read map node"))?
            .map(|bytes| decode_node(&bytes))
            .transpose()
    }

    fn value(
        &self,
        key_hash: &[u8; 32],
        max_version: u64,
    ) -> Result<Option<VersionedValue>, LedgerError> {
        let mut iterator = self
            .db
            .raw_iterator_cf_opt(self.cf(MAP_VALUES), per_key_reads());
        seek_value(&mut iterator, key_hash, max_version)
    }

    fn values(
        &self,
        key_hashes: &[[u8; 32]],
        max_version: u64,
    ) -> Result<Vec<Option<VersionedValue>>, LedgerError> {
        let mut iterator = self
            .db
            .raw_iterator_cf_opt(self.cf(MAP_VALUES), per_key_reads());
        key_hashes
            .iter()
            .map(|key_hash| seek_value(&mut iterator, key_hash, max_version))
            .collect()
    }
}

impl StateStore for Ledger {
    fn shipment(&self, id: &ShipmentId) -> Result<Option<ShipmentState>, LedgerError> {
        self.get_decoded(STATE, state_key(b's', id), "shipment state")
    }

    fn serial(&self, serial: &Sgtin) -> Result<Option<SerialState>, LedgerError> {
        self.get_decoded(STATE, state_key(b'c', serial), "serial state")
    }

    fn spent_nonces(&self, signer: &KeyId) -> Result<Option<SpentNonces>, LedgerError> {
        let bytes = self
            .db
            .get_cf(self.cf(STATE), state_key(b'n', signer))
            .map_err(storage("read nonces"))?;
        match bytes {
            None => Ok(None),
            Some(bytes) => {
                SpentNonces::from_bytes(&bytes)
                    .map(Some)
                    .ok_or_else(|| LedgerError::Corrupt {
                        what: format!("spent nonces of {signer}: {} bytes", bytes.len()),
                    })
            }
        }
    }

    fn committed_events(&self, ids: &[Hash]) -> Result<Vec<bool>, LedgerError> {
        let cf = self.cf(EVENT_LOCATIONS);
        self.db
            .multi_get_cf(ids.iter().map(|id| (cf, id.0)))
            .into_iter()
            .map(|result| {
                result
                    .map(|value| value.is_some())
                    .map_err(storage("read event locations"))
            })
            .collect()
    }
}
