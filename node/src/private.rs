//! The private store (issue 13): declarations' particulars, at the nodes whose operator is
//! entitled to them (`Genesis::entitled_to_particulars`: customs, and the declaring platform).
//! It is its own RocksDB, apart from the ledger, so that erasing is a matter of this database
//! alone: a purge deletes, flushes every memtable (so no write-ahead log still holds the
//! record) and compacts the erased keys out of every SST file ([`PrivateStore::scrub`]).
//!
//! Particulars arrive with their declaration at this node's API ([`PrivateStore::deposit`],
//! synced before the event is accepted), or from an entitled peer after the declaration
//! committed ([`PrivateStore::receive`], asked for by the network task). The steward
//! ([`PrivateStore::follow`]) reads committed blocks in order and keeps the store in step:
//! a committed declaration is listed by consignee or noted as wanted, a failed inspection or a
//! seizure of a declared shipment is listed by its parties (the declaring platform, the
//! consignor's and the seller's registrations), a purge or the genesis retention period erases.
//!
//! | family | key | value |
//! |---|---|---|
//! | `particulars` | shipment ‖ 0 ‖ commitment | [`StoredParticulars`] |
//! | `wanted` | shipment ‖ 0 ‖ commitment | [`Wanted`] (committed here, particulars not yet received) |
//! | `by_time` | event time ‖ shipment ‖ 0 ‖ commitment | — (for the retention period) |
//! | `by_consignee` | consignee key ‖ event time ‖ shipment | [`DeclaredShipment`] |
//! | `adverse_by_party` | party key ‖ declaration time ‖ shipment | [`DeclaredShipment`] (a failed inspection or a seizure) |
//! | `meta` | `followed` | the last block height the steward processed |

use std::path::Path;

use bincode::{Decode, Encode};
use rocksdb::{
    BottommostLevelCompaction, ColumnFamily, ColumnFamilyDescriptor, CompactOptions, DB,
    DBCompressionType, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use waybill_protocol::codec;
use waybill_protocol::event::{EventKind, SignedEvent};
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::particulars::{DeclarationSummary, SealedParticulars};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, OrgId, ShipmentId};

use crate::ledger::{Ledger, LedgerError};
use crate::limits::PRIVATE_VALUE_BYTES_MAX;

const PARTICULARS: &str = "particulars";
const WANTED: &str = "wanted";
const BY_TIME: &str = "by_time";
const BY_CONSIGNEE: &str = "by_consignee";
const ADVERSE: &str = "adverse_by_party";
const META: &str = "meta";
const FAMILIES: [&str; 6] = [PARTICULARS, WANTED, BY_TIME, BY_CONSIGNEE, ADVERSE, META];
const FOLLOWED_KEY: &[u8] = b"followed";

/// Particulars as this node keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StoredParticulars {
    pub declared_by: OrgId,
    pub event_time_ms: u64,
    /// Whether the declaration committed: until then the record is only a deposit.
    pub committed: bool,
    pub sealed: SealedParticulars,
}

/// A committed declaration whose particulars this node holds no copy of yet.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Wanted {
    pub declared_by: OrgId,
    pub event_time_ms: u64,
}

pub use waybill_protocol::api::DeclaredShipment;

/// The listing key of a consignee: name (case and spacing folded) and country, hashed.
pub fn consignee_key(name: &str, country: &str) -> Hash {
    let folded = waybill_protocol::ids::fold_name(name);
    Hash::of_parts(&[
        b"waybill/consignee/v1",
        folded.as_bytes(),
        &[0],
        country.as_bytes(),
    ])
}

/// The listing key of an operator by its registration (EORI, VAT or tax number), whether it
/// appears as consignor or as seller.
pub fn registration_key(registration: &str) -> Hash {
    Hash::of_parts(&[b"waybill/party/registration/v1", registration.as_bytes()])
}

/// The listing key of a declaring member.
pub fn declarer_key(org: &OrgId) -> Hash {
    Hash::of_parts(&[b"waybill/party/declarer/v1", org.as_str().as_bytes()])
}

/// The parties a declaration's adverse outcomes are listed under: its declarer, and the
/// consignor's and the seller's registrations, without repeats.
fn party_keys(stored: &StoredParticulars) -> Vec<Hash> {
    let particulars = &stored.sealed.particulars;
    let mut keys = vec![declarer_key(&stored.declared_by)];
    let registrations = [Some(&particulars.consignor), particulars.seller.as_ref()];
    for registration in registrations
        .into_iter()
        .flatten()
        .filter_map(|p| p.registration.as_ref())
    {
        let key = registration_key(registration.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

fn adverse_key(party: &Hash, event_time_ms: u64, shipment: &ShipmentId) -> Vec<u8> {
    let mut key = party.0.to_vec();
    key.extend_from_slice(&event_time_ms.to_be_bytes());
    key.extend_from_slice(shipment.as_str().as_bytes());
    key
}

/// A failed inspection or a seizure: what the adverse listing records.
fn is_adverse(kind: &EventKind) -> bool {
    match kind {
        EventKind::Seize { .. } => true,
        EventKind::Inspect { result, .. } => {
            *result != waybill_protocol::event::InspectionResult::Compliant
        }
        _ => false,
    }
}

/// What one followed block changed, for the log and the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    pub listed: usize,
    pub wanted: usize,
    pub erased: usize,
}

#[derive(Debug)]
pub struct PrivateStore {
    db: DB,
    /// The organisation that runs this node: what it may hold is what it may read.
    holder: OrgId,
    /// Serialises the steward's blocks with what peers send: a record received is kept only
    /// while it is still wanted, and a purge removes the want in the same turn, so nothing
    /// erased comes back.
    writes: std::sync::Mutex<()>,
}

fn storage(operation: &'static str) -> impl FnOnce(rocksdb::Error) -> LedgerError {
    move |error| LedgerError::Storage {
        operation,
        reason: error.to_string(),
    }
}

fn corrupt(what: &'static str) -> impl FnOnce(codec::CodecError) -> LedgerError {
    move |error| LedgerError::Corrupt {
        what: format!("private store, {what}: {error}"),
    }
}

fn record_key(shipment: &ShipmentId, commitment: &Hash) -> Vec<u8> {
    let mut key = shipment.as_str().as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(commitment.as_bytes());
    key
}

fn shipment_prefix(shipment: &ShipmentId) -> Vec<u8> {
    let mut key = shipment.as_str().as_bytes().to_vec();
    key.push(0);
    key
}

fn time_key(event_time_ms: u64, shipment: &ShipmentId, commitment: &Hash) -> Vec<u8> {
    let mut key = event_time_ms.to_be_bytes().to_vec();
    key.extend_from_slice(&record_key(shipment, commitment));
    key
}

fn listing_key(sealed: &SealedParticulars, event_time_ms: u64, shipment: &ShipmentId) -> Vec<u8> {
    let consignee = &sealed.particulars.consignee;
    let mut key = consignee_key(consignee.name.as_str(), consignee.country.as_str())
        .0
        .to_vec();
    key.extend_from_slice(&event_time_ms.to_be_bytes());
    key.extend_from_slice(shipment.as_str().as_bytes());
    key
}

fn options() -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    // Uncompressed, so that what a scrub leaves can be checked byte for byte; the store is
    // small beside the ledger.
    options.set_compression_type(DBCompressionType::None);
    options.set_max_open_files(crate::limits::PRIVATE_OPEN_FILES_MAX as i32);
    // A recycled log file would keep an erased record's bytes past its flush.
    options.set_recycle_log_file_num(0);
    options
}

impl PrivateStore {
    pub fn open(path: &Path, holder: OrgId) -> Result<PrivateStore, LedgerError> {
        let families = FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, options()));
        let db =
            DB::open_cf_descriptors(&options(), path, families).map_err(storage("open private"))?;
        Ok(PrivateStore {
            db,
            holder,
            writes: std::sync::Mutex::new(()),
        })
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is created when the private store opens")
    }

    fn write_synced(&self, batch: WriteBatch, operation: &'static str) -> Result<(), LedgerError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .write_opt(batch, &options)
            .map_err(storage(operation))
    }

    fn get<T: Decode<()>>(
        &self,
        family: &str,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, LedgerError> {
        self.db
            .get_cf(self.cf(family), key)
            .map_err(storage("private read"))?
            .map(|bytes| {
                codec::decode(what, &bytes, PRIVATE_VALUE_BYTES_MAX).map_err(corrupt(what))
            })
            .transpose()
    }

    pub fn holder(&self) -> &OrgId {
        &self.holder
    }

    /// Keeps the particulars a client filed with `declaration` (checked by the caller against
    /// its summary), synced, before the event is accepted.
    pub fn deposit(
        &self,
        declaration: &SignedEvent,
        commitment: &Hash,
        sealed: &SealedParticulars,
    ) -> Result<(), LedgerError> {
        let body = &declaration.body;
        let key = record_key(&body.shipment, commitment);
        if self
            .get::<StoredParticulars>(PARTICULARS, &key, "particulars")?
            .is_some()
        {
            return Ok(());
        }
        let stored = StoredParticulars {
            declared_by: body.signer.org.clone(),
            event_time_ms: body.event_time_ms,
            committed: false,
            sealed: sealed.clone(),
        };
        // Listed at once, so a look-up right after the commit finds it; a deposit that never
        // commits lists a shipment whose proof shows no such declaration, which readers skip.
        let mut batch = WriteBatch::default();
        self.list(&mut batch, &body.shipment, commitment, &stored);
        self.write_synced(batch, "deposit particulars")
    }

    /// The particulars of `shipment` that open `commitment`, if held here, whether or not the
    /// steward has followed their block yet: for a caller that read from the ledger that this
    /// is the committed declaration's commitment.
    pub fn held(
        &self,
        shipment: &ShipmentId,
        commitment: &Hash,
    ) -> Result<Option<StoredParticulars>, LedgerError> {
        self.get::<StoredParticulars>(
            PARTICULARS,
            &record_key(shipment, commitment),
            "particulars",
        )
    }

    /// The particulars of `shipment`'s committed declaration `commitment`, if held here.
    pub fn committed(
        &self,
        shipment: &ShipmentId,
        commitment: &Hash,
    ) -> Result<Option<StoredParticulars>, LedgerError> {
        Ok(self
            .get::<StoredParticulars>(
                PARTICULARS,
                &record_key(shipment, commitment),
                "particulars",
            )?
            .filter(|stored| stored.committed))
    }

    /// What a peer run by `asker` may have of `shipment`'s committed particulars.
    pub fn serve(
        &self,
        rules: &ChainRules,
        asker: &OrgId,
        shipment: &ShipmentId,
        commitment: &Hash,
    ) -> Result<Option<SealedParticulars>, LedgerError> {
        Ok(self
            .committed(shipment, commitment)?
            .filter(|stored| {
                rules
                    .genesis()
                    .entitled_to_particulars(asker, &stored.declared_by)
            })
            .map(|stored| stored.sealed))
    }

    /// Committed declarations whose particulars are still to be fetched, at most `max`.
    pub fn wanted(&self, max: usize) -> Result<Vec<(ShipmentId, Hash, Wanted)>, LedgerError> {
        let mut found = Vec::new();
        for entry in self.db.iterator_cf(self.cf(WANTED), IteratorMode::Start) {
            if found.len() == max {
                break;
            }
            let (key, value) = entry.map_err(storage("read wanted"))?;
            let (shipment, commitment) = split_record_key(&key)?;
            let wanted = codec::decode("wanted", &value, PRIVATE_VALUE_BYTES_MAX)
                .map_err(corrupt("wanted"))?;
            found.push((shipment, commitment, wanted));
        }
        Ok(found)
    }

    /// Keeps particulars a peer sent for a wanted declaration; anything not wanted (never
    /// asked, or purged since) or not matching its commitment is dropped. Returns whether kept.
    pub fn receive(
        &self,
        shipment: &ShipmentId,
        sealed: &SealedParticulars,
    ) -> Result<bool, LedgerError> {
        let commitment = sealed.commitment();
        let key = record_key(shipment, &commitment);
        let _turn = self.turn();
        let Some(wanted) = self.get::<Wanted>(WANTED, &key, "wanted")? else {
            return Ok(false);
        };
        let stored = StoredParticulars {
            declared_by: wanted.declared_by,
            event_time_ms: wanted.event_time_ms,
            committed: true,
            sealed: sealed.clone(),
        };
        let mut batch = WriteBatch::default();
        self.list(&mut batch, shipment, &commitment, &stored);
        batch.delete_cf(self.cf(WANTED), &key);
        self.write_synced(batch, "receive particulars")?;
        Ok(true)
    }

    /// Writes a record with its consignee listing and retention entries.
    fn list(
        &self,
        batch: &mut WriteBatch,
        shipment: &ShipmentId,
        commitment: &Hash,
        stored: &StoredParticulars,
    ) {
        let sealed = &stored.sealed;
        let listed = DeclaredShipment {
            shipment: shipment.clone(),
            event_time_ms: stored.event_time_ms,
            value_minor: sealed.particulars.total_value_minor().unwrap_or(u64::MAX),
            currency: sealed.particulars.currency.clone(),
        };
        batch.put_cf(
            self.cf(PARTICULARS),
            record_key(shipment, commitment),
            codec::encode(stored),
        );
        batch.put_cf(
            self.cf(BY_CONSIGNEE),
            listing_key(sealed, stored.event_time_ms, shipment),
            codec::encode(&listed),
        );
        batch.put_cf(
            self.cf(BY_TIME),
            time_key(stored.event_time_ms, shipment, commitment),
            [],
        );
    }

    /// The last block height [`PrivateStore::follow_next`] processed.
    pub fn followed(&self) -> Result<u64, LedgerError> {
        Ok(self
            .db
            .get_cf(self.cf(META), FOLLOWED_KEY)
            .map_err(storage("private read"))?
            .and_then(|bytes| bytes.as_slice().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }
}

impl PrivateStore {
    /// Brings the store in step with the next committed block it has not followed, if any:
    /// what the steward runs, one block per call so it holds the ledger only briefly. After a
    /// block that erased something, the caller scrubs ([`PrivateStore::scrub`]).
    pub fn follow_next(&self, ledger: &Ledger) -> Result<Option<Followed>, LedgerError> {
        let followed = self.followed()?;
        if followed >= ledger.tip().height {
            return Ok(None);
        }
        self.follow_block(ledger, followed + 1).map(Some)
    }

    fn turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn follow_block(&self, ledger: &Ledger, height: u64) -> Result<Followed, LedgerError> {
        let _turn = self.turn();
        let header = ledger
            .header(height)?
            .ok_or_else(|| LedgerError::Inconsistent {
                detail: format!("private store: block {height} has no header"),
            })?;
        let mut batch = WriteBatch::default();
        let mut followed = Followed::default();
        for event in ledger.block_events(height)? {
            let body = &event.body;
            let interesting = matches!(
                body.kind.effective(),
                EventKind::Declare(_) | EventKind::Purge { .. }
            ) || is_adverse(body.kind.effective());
            if !interesting || !applied(ledger, &event)? {
                continue;
            }
            if is_adverse(body.kind.effective()) {
                self.follow_adverse(ledger, &mut batch, &body.shipment)?;
                continue;
            }
            match body.kind.effective() {
                EventKind::Declare(summary) => self.follow_declaration(
                    ledger.rules(),
                    &mut batch,
                    &event,
                    summary,
                    &mut followed,
                )?,
                EventKind::Purge { particulars } => {
                    followed.erased += self.erase(&mut batch, &body.shipment, particulars)?;
                }
                _ => {}
            }
        }
        if let Some(retention_ms) = ledger.rules().genesis().particulars_retention_ms() {
            let cutoff = header.time_ms.saturating_sub(retention_ms);
            followed.erased += self.erase_declared_before(&mut batch, cutoff)?;
        }
        batch.put_cf(self.cf(META), FOLLOWED_KEY, height.to_be_bytes());
        self.write_synced(batch, "follow block")?;
        Ok(followed)
    }

    /// A failed inspection or a seizure of a shipment whose particulars this node holds: the
    /// shipment is listed under each of its parties (a seizure before the particulars arrived
    /// here is not listed).
    fn follow_adverse(
        &self,
        ledger: &Ledger,
        batch: &mut WriteBatch,
        shipment: &ShipmentId,
    ) -> Result<(), LedgerError> {
        use crate::ledger::StateStore;
        let Some(commitment) = ledger
            .shipment(shipment)?
            .and_then(|state| state.particulars)
        else {
            return Ok(());
        };
        let Some(stored) = self.committed(shipment, &commitment)? else {
            return Ok(());
        };
        let listed = DeclaredShipment {
            shipment: shipment.clone(),
            event_time_ms: stored.event_time_ms,
            value_minor: stored
                .sealed
                .particulars
                .total_value_minor()
                .unwrap_or(u64::MAX),
            currency: stored.sealed.particulars.currency.clone(),
        };
        for party in party_keys(&stored) {
            batch.put_cf(
                self.cf(ADVERSE),
                adverse_key(&party, stored.event_time_ms, shipment),
                codec::encode(&listed),
            );
        }
        Ok(())
    }

    /// A committed declaration: its deposit (if this node took it) becomes listed, any other
    /// deposit for the shipment is dropped, and an entitled node without a copy wants one.
    fn follow_declaration(
        &self,
        rules: &ChainRules,
        batch: &mut WriteBatch,
        event: &SignedEvent,
        summary: &DeclarationSummary,
        followed: &mut Followed,
    ) -> Result<(), LedgerError> {
        let body = &event.body;
        let declared_by = &body.signer.org;
        if !rules
            .genesis()
            .entitled_to_particulars(&self.holder, declared_by)
        {
            return Ok(());
        }
        let key = record_key(&body.shipment, &summary.particulars);
        for entry in prefix(
            &self.db,
            self.cf(PARTICULARS),
            &shipment_prefix(&body.shipment),
        ) {
            let (other, _) = entry.map_err(storage("read particulars"))?;
            if *other != *key {
                batch.delete_cf(self.cf(PARTICULARS), other);
            }
        }
        match self.get::<StoredParticulars>(PARTICULARS, &key, "particulars")? {
            Some(mut stored) => {
                stored.committed = true;
                self.list(batch, &body.shipment, &summary.particulars, &stored);
                followed.listed += 1;
            }
            None => {
                let wanted = Wanted {
                    declared_by: declared_by.clone(),
                    event_time_ms: body.event_time_ms,
                };
                batch.put_cf(self.cf(WANTED), &key, codec::encode(&wanted));
                followed.wanted += 1;
            }
        }
        Ok(())
    }

    /// Deletes a declaration's particulars and every entry naming them; 1 if any was held.
    fn erase(
        &self,
        batch: &mut WriteBatch,
        shipment: &ShipmentId,
        commitment: &Hash,
    ) -> Result<usize, LedgerError> {
        let key = record_key(shipment, commitment);
        batch.delete_cf(self.cf(WANTED), &key);
        let Some(stored) = self.get::<StoredParticulars>(PARTICULARS, &key, "particulars")? else {
            return Ok(0);
        };
        batch.delete_cf(self.cf(PARTICULARS), &key);
        batch.delete_cf(
            self.cf(BY_CONSIGNEE),
            listing_key(&stored.sealed, stored.event_time_ms, shipment),
        );
        for party in party_keys(&stored) {
            batch.delete_cf(
                self.cf(ADVERSE),
                adverse_key(&party, stored.event_time_ms, shipment),
            );
        }
        batch.delete_cf(
            self.cf(BY_TIME),
            time_key(stored.event_time_ms, shipment, commitment),
        );
        Ok(1)
    }

    /// Erases every declaration dated before `cutoff_ms` (the retention period).
    fn erase_declared_before(
        &self,
        batch: &mut WriteBatch,
        cutoff_ms: u64,
    ) -> Result<usize, LedgerError> {
        let mut erased = 0;
        for entry in self.db.iterator_cf(self.cf(BY_TIME), IteratorMode::Start) {
            let (key, _) = entry.map_err(storage("read retention index"))?;
            let dated = key
                .get(..8)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| LedgerError::Corrupt {
                    what: "private store retention key".into(),
                })?;
            if dated >= cutoff_ms {
                break;
            }
            let (shipment, commitment) = split_record_key(&key[8..])?;
            erased += self.erase(batch, &shipment, &commitment)?;
        }
        Ok(erased)
    }

    /// Makes erased records physically gone: every memtable is flushed, so the write-ahead
    /// log that held them is retired and deleted, and every family is compacted to its last
    /// level with the deletions applied, so no SST file keeps an older copy.
    pub fn scrub(&self) -> Result<(), LedgerError> {
        let families: Vec<&ColumnFamily> = FAMILIES.iter().map(|name| self.cf(name)).collect();
        self.db
            .flush_cfs_opt(&families, &rocksdb::FlushOptions::default())
            .map_err(storage("flush private store"))?;
        let mut compact = CompactOptions::default();
        compact.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
        compact.set_exclusive_manual_compaction(true);
        for family in families {
            self.db
                .compact_range_cf_opt::<&[u8], &[u8]>(family, None, None, &compact);
        }
        Ok(())
    }

    /// Declarations to the consignee (`consignee_key`) with event time at or after `since_ms`,
    /// oldest first, at most `max` (and whether there were more). This node's word: verify each
    /// shipment's provenance and particulars.
    pub fn declarations_to(
        &self,
        consignee: &Hash,
        since_ms: u64,
        max: usize,
    ) -> Result<(Vec<DeclaredShipment>, bool), LedgerError> {
        self.listing(BY_CONSIGNEE, consignee, since_ms, max)
    }

    /// Declarations of the party (`registration_key`, `declarer_key`) declared at or after
    /// `since_ms` that customs found against (a failed inspection, a seizure), oldest first, at
    /// most `max`. This node's word, like the consignee listing: verify each history.
    pub fn adverse_for(
        &self,
        party: &Hash,
        since_ms: u64,
        max: usize,
    ) -> Result<(Vec<DeclaredShipment>, bool), LedgerError> {
        self.listing(ADVERSE, party, since_ms, max)
    }

    fn listing(
        &self,
        family: &str,
        prefix: &Hash,
        since_ms: u64,
        max: usize,
    ) -> Result<(Vec<DeclaredShipment>, bool), LedgerError> {
        let mut start = prefix.0.to_vec();
        start.extend_from_slice(&since_ms.to_be_bytes());
        let mut found = Vec::new();
        let iterator = self.db.iterator_cf(
            self.cf(family),
            IteratorMode::From(&start, Direction::Forward),
        );
        for entry in iterator {
            let (key, value) = entry.map_err(storage("read declaration listing"))?;
            if !key.starts_with(&prefix.0) {
                break;
            }
            if found.len() == max {
                return Ok((found, true));
            }
            found.push(
                codec::decode("declaration listing", &value, PRIVATE_VALUE_BYTES_MAX)
                    .map_err(corrupt("declaration listing"))?,
            );
        }
        Ok((found, false))
    }
}

/// Follows the ledger until shutdown (a thread of its own: RocksDB calls block). A stopped
/// node resumes from the last block it followed.
pub fn spawn_steward(
    shared: std::sync::Arc<crate::node::Shared>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("waybill-private".into())
        .spawn(move || {
            let Some(store) = shared.private.as_ref() else {
                return;
            };
            while !*shutdown.borrow() {
                let step = store.follow_next(&shared.read_ledger());
                match step {
                    Ok(Some(followed)) => {
                        if followed.erased > 0 {
                            if let Err(error) = store.scrub() {
                                tracing::error!(%error, "private store: scrub after erasing");
                            }
                            tracing::info!(erased = followed.erased, "private particulars erased");
                        }
                    }
                    Ok(None) => std::thread::sleep(crate::limits::PRIVATE_FOLLOW_INTERVAL),
                    Err(error) => {
                        tracing::error!(%error, "private store: following the ledger");
                        std::thread::sleep(crate::limits::PRIVATE_FOLLOW_INTERVAL);
                    }
                }
            }
        })
}

fn applied(ledger: &Ledger, event: &SignedEvent) -> Result<bool, LedgerError> {
    Ok(ledger
        .event_location(&event.id())?
        .is_some_and(|location| location.outcome == EventOutcome::Applied))
}

type Entry = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>;

fn prefix<'a>(db: &'a DB, cf: &ColumnFamily, prefix: &'a [u8]) -> impl Iterator<Item = Entry> + 'a {
    db.iterator_cf(cf, IteratorMode::From(prefix, Direction::Forward))
        .take_while(move |entry| match entry {
            Ok((key, _)) => key.starts_with(prefix),
            Err(_) => true,
        })
}

fn split_record_key(key: &[u8]) -> Result<(ShipmentId, Hash), LedgerError> {
    let bad = || LedgerError::Corrupt {
        what: "private store key".into(),
    };
    let split = key.len().checked_sub(33).ok_or_else(bad)?;
    if key[split] != 0 {
        return Err(bad());
    }
    let shipment = std::str::from_utf8(&key[..split])
        .ok()
        .and_then(|text| ShipmentId::new(text).ok())
        .ok_or_else(bad)?;
    let commitment: [u8; 32] = key[split + 1..].try_into().map_err(|_| bad())?;
    Ok((shipment, Hash(commitment)))
}
