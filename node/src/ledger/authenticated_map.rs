//! The authenticated map behind `index_root`: jmt (Jellyfish Merkle Tree, SHA-256) from each
//! index key's map key to its encoded [`KeyRecord`], one version per block height.
//!
//! jmt is used through this module only, which adds what it leaves to its caller:
//! - versions strictly consecutive: a gap would make jmt start from an empty tree, silently;
//! - panics inside jmt (it `unwrap`s some storage reads) become errors where proofs are served;
//! - stale nodes and superseded values are pruned once they fall out of the retention window;
//! - the storage is abstract ([`MapStorage`]), so RocksDB and memory share this logic.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, Sha256Jmt, Version};
use waybill_protocol::Hash;
use waybill_protocol::codec;
use waybill_protocol::index::{IndexKey, KeyRecord};

use super::LedgerError;

/// A stored value and the version that wrote it.
pub type VersionedValue = (u64, Vec<u8>);

/// What the map needs from storage: committed nodes, and the newest value of a key at or below
/// a version.
pub trait MapStorage {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, LedgerError>;
    fn value(
        &self,
        key_hash: &[u8; 32],
        max_version: u64,
    ) -> Result<Option<VersionedValue>, LedgerError>;

    /// [`MapStorage::value`] for many keys (a store may share one cursor across them).
    fn values(
        &self,
        key_hashes: &[[u8; 32]],
        max_version: u64,
    ) -> Result<Vec<Option<VersionedValue>>, LedgerError> {
        key_hashes
            .iter()
            .map(|key| self.value(key, max_version))
            .collect()
    }
}

/// A key's record as loaded before a block, with the version that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionedRecord {
    pub record: KeyRecord,
    pub version: u64,
}

/// The writes one version makes: new nodes and values, and what they make stale.
#[derive(Debug, Default)]
pub struct MapWrite {
    pub version: u64,
    pub root: Hash,
    pub nodes: Vec<(NodeKey, Node)>,
    /// (key hash, value) written at `version`.
    pub values: Vec<([u8; 32], Vec<u8>)>,
    /// Nodes replaced at `version`: prunable once `version` leaves the retention window.
    pub stale_nodes: Vec<NodeKey>,
    /// (key hash, older version) whose value `version` supersedes.
    pub stale_values: Vec<([u8; 32], u64)>,
}

struct Reader<'a, S: MapStorage>(&'a S);

impl<S: MapStorage> TreeReader for Reader<'_, S> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.0.node(node_key)?)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .0
            .value(&key_hash.0, max_version)?
            .map(|(_, value)| value))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only jmt's restore uses this; we never restore a tree from chunks.
        anyhow::bail!("rightmost-leaf lookup is not supported by this store")
    }
}

/// Runs a jmt operation, turning its panics (storage-read unwraps) into errors.
fn guarded<T>(
    operation: &'static str,
    run: impl FnOnce() -> anyhow::Result<T>,
) -> Result<T, LedgerError> {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(LedgerError::Map {
            operation,
            reason: format!("{error:#}"),
        }),
        Err(_) => Err(LedgerError::Map {
            operation,
            reason: "the tree library panicked (a storage read failed)".into(),
        }),
    }
}

/// The tree at version 0: empty, before any block.
pub fn genesis_write<S: MapStorage>(storage: &S) -> Result<MapWrite, LedgerError> {
    write_version(storage, 0, BTreeMap::new(), Vec::new())
}

/// One key's new record, and the version of the value it supersedes (from the same load that
/// gave execution its previous record, so nothing is read twice).
#[derive(Debug, Clone)]
pub struct RecordChange {
    pub map_key: [u8; 32],
    pub record: KeyRecord,
    pub superseded_version: Option<u64>,
}

/// Writes `changes` as version `version`, which must follow `latest`.
pub fn update<S: MapStorage>(
    storage: &S,
    latest: u64,
    version: u64,
    changes: &[RecordChange],
) -> Result<MapWrite, LedgerError> {
    if version != latest + 1 {
        return Err(LedgerError::MapVersion {
            expected: latest + 1,
            found: version,
        });
    }
    let values = changes
        .iter()
        .map(|change| (change.map_key, codec::encode(&change.record)))
        .collect();
    let stale_values = changes
        .iter()
        .filter_map(|change| change.superseded_version.map(|old| (change.map_key, old)))
        .collect();
    write_version(storage, version, values, stale_values)
}

fn write_version<S: MapStorage>(
    storage: &S,
    version: u64,
    values: BTreeMap<[u8; 32], Vec<u8>>,
    stale_values: Vec<([u8; 32], u64)>,
) -> Result<MapWrite, LedgerError> {
    let reader = Reader(storage);
    let unchanged = values.is_empty();
    let (root, batch): (jmt::RootHash, TreeUpdateBatch) = guarded("update", || {
        let tree = Sha256Jmt::new(&reader);
        if unchanged {
            return tree.put_value_set(Vec::new(), version);
        }
        // One pass over the sorted keys builds and hashes each new node once; inserting key by
        // key would rebuild and rehash the path above every key (the same tree and root).
        let value_set = values
            .iter()
            .map(|(key, value)| (KeyHash(*key), value.clone()))
            .collect();
        let (roots, batch) = tree.batch_put_value_sets(vec![value_set], None, version)?;
        let root = roots
            .first()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("no root for version {version}"))?;
        Ok((root, batch))
    })?;
    let mut stale_nodes: Vec<NodeKey> = batch
        .stale_node_index_batch
        .iter()
        .map(|stale| {
            debug_assert_eq!(stale.stale_since_version, version);
            stale.node_key.clone()
        })
        .collect();
    // For a version that changes nothing, jmt copies the previous root under the new version
    // without marking the old one stale; without this, every empty block would leak a node.
    if unchanged && version > 0 {
        let copied_root = batch
            .node_batch
            .nodes()
            .keys()
            .find(|key| key.nibble_path().is_empty());
        debug_assert!(copied_root.is_some(), "jmt writes a root for every version");
        if let Some(root) = copied_root {
            stale_nodes.push(NodeKey::new(version - 1, root.nibble_path().clone()));
        }
    }
    Ok(MapWrite {
        version,
        root: Hash(root.0),
        nodes: batch
            .node_batch
            .nodes()
            .iter()
            .map(|(k, n)| (k.clone(), n.clone()))
            .collect(),
        values: values.into_iter().collect(),
        stale_nodes,
        stale_values,
    })
}

/// The record of `key` at `version`, if any.
pub fn record<S: MapStorage>(
    storage: &S,
    key: &IndexKey,
    version: u64,
) -> Result<Option<KeyRecord>, LedgerError> {
    match storage.value(&key.map_key(), version)? {
        None => Ok(None),
        Some((_, bytes)) => decode_record(&bytes).map(Some),
    }
}

/// The records of many keys (by map key) at `version`, each with the version that wrote it.
pub fn records<S: MapStorage>(
    storage: &S,
    map_keys: &[[u8; 32]],
    version: u64,
) -> Result<Vec<Option<VersionedRecord>>, LedgerError> {
    storage
        .values(map_keys, version)?
        .into_iter()
        .map(|value| {
            value
                .map(|(version, bytes)| {
                    decode_record(&bytes).map(|record| VersionedRecord { record, version })
                })
                .transpose()
        })
        .collect()
}

fn decode_record(bytes: &[u8]) -> Result<KeyRecord, LedgerError> {
    codec::decode("key record", bytes, 128).map_err(|error| LedgerError::Corrupt {
        what: format!("key record: {error}"),
    })
}

/// The record of `key` at `version` with jmt's proof of it (or of its absence), borsh-encoded.
pub fn prove<S: MapStorage>(
    storage: &S,
    key: &IndexKey,
    version: u64,
) -> Result<(Option<KeyRecord>, Vec<u8>), LedgerError> {
    let reader = Reader(storage);
    let (value, proof) = guarded("prove", || {
        Sha256Jmt::new(&reader).get_with_proof(KeyHash(key.map_key()), version)
    })?;
    let record = value.as_deref().map(decode_record).transpose()?;
    let proof = borsh::to_vec(&proof).map_err(|error| LedgerError::Map {
        operation: "encode proof",
        reason: error.to_string(),
    })?;
    Ok((record, proof))
}

/// The root at `version`.
pub fn root<S: MapStorage>(storage: &S, version: u64) -> Result<Hash, LedgerError> {
    let reader = Reader(storage);
    let root = guarded("root", || Sha256Jmt::new(&reader).get_root_hash(version))?;
    Ok(Hash(root.0))
}

/// Encodes a node key for storage (borsh: what jmt defines for it).
pub fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    borsh::to_vec(key).expect("node keys always encode")
}

pub fn node_bytes(node: &Node) -> Vec<u8> {
    borsh::to_vec(node).expect("nodes always encode")
}

pub fn decode_node(bytes: &[u8]) -> Result<Node, LedgerError> {
    borsh::from_slice(bytes).map_err(|error| LedgerError::Corrupt {
        what: format!("map node: {error}"),
    })
}

pub fn decode_node_key(bytes: &[u8]) -> Result<NodeKey, LedgerError> {
    borsh::from_slice(bytes).map_err(|error| LedgerError::Corrupt {
        what: format!("map node key: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::memory::MemoryStore;

    /// What jmt's key-by-key insert writes for one version, as `write_version` did before it
    /// inserted in one batched pass.
    fn key_by_key(
        storage: &MemoryStore,
        version: u64,
        values: &BTreeMap<[u8; 32], Vec<u8>>,
    ) -> (Hash, Vec<NodeKey>, Vec<NodeKey>) {
        let reader = Reader(storage);
        let value_set = values
            .iter()
            .map(|(key, value)| (KeyHash(*key), Some(value.clone())));
        let (root, batch) = Sha256Jmt::new(&reader)
            .put_value_set(value_set, version)
            .expect("key-by-key insert");
        let mut nodes: Vec<NodeKey> = batch.node_batch.nodes().keys().cloned().collect();
        let mut stale: Vec<NodeKey> = batch
            .stale_node_index_batch
            .iter()
            .map(|stale| stale.node_key.clone())
            .collect();
        nodes.sort();
        stale.sort();
        (Hash(root.0), nodes, stale)
    }

    /// The batched insert writes the tree jmt's key-by-key insert writes: the same root, the
    /// same new nodes and the same stale ones, version after version, with new keys and keys
    /// written again mixed.
    #[test]
    fn one_batched_pass_writes_the_tree_of_inserting_key_by_key() {
        let mut store = MemoryStore::default();
        let genesis = genesis_write(&store).expect("genesis");
        store.apply_map_write(&genesis);
        let mut draw = 0x2545_f491_4f6c_dd1d_u64;
        for version in 1..=16u64 {
            let values: BTreeMap<[u8; 32], Vec<u8>> = (0..1 + version * 23 % 97)
                .map(|_| {
                    draw = draw.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let key = Hash::of_parts(&[&(draw >> 56).to_be_bytes()]).0;
                    (key, draw.to_be_bytes().to_vec())
                })
                .collect();
            let (root, nodes, stale) = key_by_key(&store, version, &values);
            let write = write_version(&store, version, values, Vec::new()).expect("batched");
            let mut written: Vec<NodeKey> =
                write.nodes.iter().map(|(key, _)| key.clone()).collect();
            let mut made_stale = write.stale_nodes.clone();
            written.sort();
            made_stale.sort();
            assert_eq!(write.root, root, "root at version {version}");
            assert_eq!(written, nodes, "new nodes at version {version}");
            assert_eq!(made_stale, stale, "stale nodes at version {version}");
            store.apply_map_write(&write);
            assert_eq!(super::root(&store, version).expect("root"), root);
        }
    }
}
