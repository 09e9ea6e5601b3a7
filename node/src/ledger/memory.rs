//! The ledger state in memory, with the same pipeline as RocksDB: for re-executing a chain
//! (`verify-chain`) and for tests and simulations that need many ledgers quickly. Keeps only the
//! latest version of the authenticated map (stale nodes are dropped on commit).

use std::collections::{BTreeMap, HashMap, HashSet};

use jmt::storage::{Node, NodeKey};
use waybill_protocol::event::Sgtin;
use waybill_protocol::execution::{SerialState, ShipmentState, SpentNonces};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, KeyId, ShipmentId};

use super::authenticated_map::{self, VersionedValue};
use super::{ExecutedBlock, LedgerError, MapStorage, MapWrite, StateStore, Tip};

#[derive(Debug, Default)]
pub struct MemoryStore {
    shipments: HashMap<ShipmentId, ShipmentState>,
    serials: HashMap<Sgtin, SerialState>,
    nonces: HashMap<KeyId, SpentNonces>,
    events: HashSet<Hash>,
    nodes: HashMap<NodeKey, Node>,
    /// key hash → (version → value); only the latest value of each key is kept.
    values: HashMap<[u8; 32], BTreeMap<u64, Vec<u8>>>,
    pub tip: Option<Tip>,
}

impl MemoryStore {
    /// A store at height 0 for `rules`' genesis.
    pub fn new(rules: &ChainRules) -> Result<MemoryStore, LedgerError> {
        let mut store = MemoryStore::default();
        let write = authenticated_map::genesis_write(&store)?;
        store.apply_map_write(&write);
        store.tip = Some(Tip::genesis(rules));
        Ok(store)
    }

    pub fn tip(&self) -> &Tip {
        self.tip
            .as_ref()
            .expect("a memory store is created with a tip")
    }

    /// Applies an executed block's writes (the caller checked its certificate, if it matters).
    pub fn commit(&mut self, block: &ExecutedBlock) {
        for id in &block.state.changed.shipments {
            if let Some(Some(state)) = block.state.shipments.get(id) {
                self.shipments.insert(id.clone(), state.clone());
            }
        }
        for serial in &block.state.changed.serials {
            if let Some(Some(state)) = block.state.serials.get(serial) {
                self.serials.insert(serial.clone(), state.clone());
            }
        }
        for signer in &block.state.changed.signers {
            if let Some(Some(spent)) = block.state.nonces.get(signer) {
                self.nonces.insert(signer.clone(), spent.clone());
            }
        }
        self.events.extend(block.events.iter().map(|e| e.id()));
        self.apply_map_write(&block.map);
        self.tip = Some(block.tip.clone());
    }
}

impl MemoryStore {
    /// Applies one version of the authenticated map, dropping what it makes stale.
    pub fn apply_map_write(&mut self, write: &MapWrite) {
        for key in &write.stale_nodes {
            self.nodes.remove(key);
        }
        for (key, node) in &write.nodes {
            self.nodes.insert(key.clone(), node.clone());
        }
        for (key_hash, value) in &write.values {
            let versions = self.values.entry(*key_hash).or_default();
            versions.clear();
            versions.insert(write.version, value.clone());
        }
    }
}

impl MapStorage for MemoryStore {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, LedgerError> {
        Ok(self.nodes.get(key).cloned())
    }

    fn value(
        &self,
        key_hash: &[u8; 32],
        max_version: u64,
    ) -> Result<Option<VersionedValue>, LedgerError> {
        Ok(self
            .values
            .get(key_hash)
            .and_then(|versions| versions.range(..=max_version).next_back())
            .map(|(version, value)| (*version, value.clone())))
    }
}

impl StateStore for MemoryStore {
    fn shipment(&self, id: &ShipmentId) -> Result<Option<ShipmentState>, LedgerError> {
        Ok(self.shipments.get(id).cloned())
    }

    fn serial(&self, serial: &Sgtin) -> Result<Option<SerialState>, LedgerError> {
        Ok(self.serials.get(serial).cloned())
    }

    fn spent_nonces(&self, signer: &KeyId) -> Result<Option<SpentNonces>, LedgerError> {
        Ok(self.nonces.get(signer).cloned())
    }

    fn committed_events(&self, ids: &[Hash]) -> Result<Vec<bool>, LedgerError> {
        Ok(ids.iter().map(|id| self.events.contains(id)).collect())
    }
}
