//! The gateway's own store (RocksDB): the EPCIS events it verified against the genesis, in
//! the order it recorded them, with the indexes its queries use; where its follower stands
//! on each key's history; capture jobs, named queries and subscriptions with their cursors.
//! A block's events and the follower's position are written in one batch, so a restart
//! resumes exactly after the last block recorded, and a subscription after the last event
//! its receiver acknowledged.
//!
//! Keys: `m/…` positions, `k/<shipment>` verified records, `e/<seq>` events, `h/<hash>`,
//! `i/<eventID>`, `l/<ledger id>` lookups, `t/<record ms><seq>` record times, `p/<field><epc>\0<seq>`
//! identifier postings, `j/`, `q/`, `s/` jobs, queries and subscriptions, `r/<job>` jobs not
//! yet finished (followed up after a restart).

use std::path::Path;

use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use waybill_protocol::Hash;
use waybill_protocol::index::KeyRecord;

const NEXT_HEIGHT: &[u8] = b"m/next_height";
const NEXT_SEQ: &[u8] = b"m/next_seq";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the gateway's store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the gateway's store: {operation}: {reason}")]
    Storage {
        operation: &'static str,
        reason: String,
    },
    #[error("the gateway's store holds an unreadable {what}: {reason}")]
    Corrupt { what: &'static str, reason: String },
}

fn storage(operation: &'static str) -> impl FnOnce(rocksdb::Error) -> StoreError {
    move |error| StoreError::Storage {
        operation,
        reason: error.to_string(),
    }
}

/// Which field of an event names an identifier: what `MATCH_…` parameters look in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Naming {
    Epc,
    Child,
    Parent,
    Input,
    Output,
    /// `quantityList` / `childQuantityList`.
    Class,
    InputClass,
    OutputClass,
}

impl Naming {
    pub const ALL: [Naming; 8] = [
        Naming::Epc,
        Naming::Child,
        Naming::Parent,
        Naming::Input,
        Naming::Output,
        Naming::Class,
        Naming::InputClass,
        Naming::OutputClass,
    ];

    /// The field of an EPCIS event that names identifiers this way.
    pub fn of_field(field: &str) -> Option<Naming> {
        Some(match field {
            "epcList" => Naming::Epc,
            "childEPCs" => Naming::Child,
            "parentID" => Naming::Parent,
            "inputEPCList" => Naming::Input,
            "outputEPCList" => Naming::Output,
            "quantityList" | "childQuantityList" => Naming::Class,
            "inputQuantityList" => Naming::InputClass,
            "outputQuantityList" => Naming::OutputClass,
            _ => return None,
        })
    }

    fn tag(self) -> u8 {
        b"ecpiokmn"[self as usize]
    }
}

/// One EPCIS event the gateway verified, with the values its queries filter on (identifiers,
/// terms and places normalised: one spelling per meaning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub seq: u64,
    pub ledger_id: Hash,
    /// The height of the block that holds it.
    pub height: u64,
    /// The time of the certified block it was verified under: its record time here.
    pub record_time_ms: u64,
    pub event_type: String,
    /// Seconds and nanoseconds since 1970 (UTC).
    pub event_time: (i64, u32),
    pub action: Option<String>,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    pub read_point: Option<String>,
    pub biz_location: Option<String>,
    pub identifiers: Vec<(Naming, String)>,
    /// The CBV event hash, `ni:///sha-256;…?ver=CBV2.0`.
    pub hash: String,
    /// The `eventID` the event was captured with, if any.
    pub event_id: Option<String>,
    /// The event as returned: as captured (or as a native event is exported), with
    /// `recordTime` set to this gateway's.
    pub event: Value,
}

/// Where the follower stands on one shipment's history: the record it verified last, and the
/// height of the certified block that record was proven under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Followed {
    pub record: KeyRecord,
    pub as_of: u64,
}

#[derive(Debug)]
pub struct Store {
    db: DB,
}

fn seq_key(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + rest.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(rest);
    key
}

fn posting_prefix(naming: Naming, identifier: &str) -> Vec<u8> {
    let mut key = vec![b'p', b'/', naming.tag()];
    key.extend_from_slice(identifier.as_bytes());
    key.push(0);
    key
}

fn read_u64(bytes: &[u8], what: &'static str) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what,
        reason: format!("{} bytes, not 8", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(array))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt {
        what,
        reason: error.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain types to JSON cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// One block's worth of writes: its events, the records they were verified under, and the
/// follower's next height, applied together.
#[derive(Debug, Default)]
pub struct BlockWrites {
    pub events: Vec<Recorded>,
    pub followed: Vec<(String, Followed)>,
    pub next_height: u64,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        let db = DB::open(&options, path).map_err(|error| StoreError::Open {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        Ok(Store { db })
    }

    fn get_u64(&self, key: &[u8], what: &'static str) -> Result<Option<u64>, StoreError> {
        match self.db.get(key).map_err(storage("read"))? {
            Some(bytes) => read_u64(&bytes, what).map(Some),
            None => Ok(None),
        }
    }

    /// The first block the follower has not recorded.
    pub fn next_height(&self) -> Result<u64, StoreError> {
        Ok(self.get_u64(NEXT_HEIGHT, "next height")?.unwrap_or(1))
    }

    /// The sequence number the next recorded event gets (events are numbered from 1).
    pub fn next_seq(&self) -> Result<u64, StoreError> {
        Ok(self.get_u64(NEXT_SEQ, "next sequence")?.unwrap_or(1))
    }

    pub fn followed(&self, shipment: &str) -> Result<Option<Followed>, StoreError> {
        let key = seq_key(b"k/", shipment.as_bytes());
        match self.db.get(key).map_err(storage("read"))? {
            Some(bytes) => decode(&bytes, "followed record").map(Some),
            None => Ok(None),
        }
    }

    /// Records a block's events (numbered from `next_seq` on, which the caller set) and the
    /// follower's position, atomically.
    pub fn record_block(&self, writes: &BlockWrites) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let mut next_seq = self.next_seq()?;
        for event in &writes.events {
            let seq = event.seq.to_be_bytes();
            batch.put(seq_key(b"e/", &seq), encode(event));
            batch.put(seq_key(b"h/", event.hash.as_bytes()), seq);
            if let Some(id) = &event.event_id {
                batch.put(seq_key(b"i/", id.as_bytes()), seq);
            }
            batch.put(seq_key(b"l/", event.ledger_id.as_bytes()), seq);
            let mut time = b"t/".to_vec();
            time.extend_from_slice(&event.record_time_ms.to_be_bytes());
            time.extend_from_slice(&seq);
            batch.put(time, []);
            for (naming, identifier) in &event.identifiers {
                batch.put(seq_key(&posting_prefix(*naming, identifier), &seq), []);
            }
            next_seq = next_seq.max(event.seq.saturating_add(1));
        }
        for (shipment, followed) in &writes.followed {
            batch.put(seq_key(b"k/", shipment.as_bytes()), encode(followed));
        }
        batch.put(NEXT_SEQ, next_seq.to_be_bytes());
        batch.put(NEXT_HEIGHT, writes.next_height.to_be_bytes());
        self.db.write(batch).map_err(storage("write a block"))
    }

    pub fn event(&self, seq: u64) -> Result<Option<Recorded>, StoreError> {
        match self
            .db
            .get(seq_key(b"e/", &seq.to_be_bytes()))
            .map_err(storage("read"))?
        {
            Some(bytes) => decode(&bytes, "event").map(Some),
            None => Ok(None),
        }
    }

    /// The event with this CBV hash, captured `eventID`, or ledger id.
    pub fn find(&self, id: &str) -> Result<Option<Recorded>, StoreError> {
        for prefix in [b"h/", b"i/"] {
            if let Some(seq) = self.get_u64(&seq_key(prefix, id.as_bytes()), "event lookup")? {
                return self.event(seq);
            }
        }
        Ok(None)
    }

    pub fn by_ledger_id(&self, id: &Hash) -> Result<Option<Recorded>, StoreError> {
        match self.get_u64(&seq_key(b"l/", id.as_bytes()), "ledger lookup")? {
            Some(seq) => self.event(seq),
            None => Ok(None),
        }
    }

    /// Events from `from` on, in order, at most `max`.
    pub fn events_from(&self, from: u64, max: usize) -> Result<Vec<Recorded>, StoreError> {
        let start = seq_key(b"e/", &from.to_be_bytes());
        let mut found = Vec::new();
        for entry in self
            .db
            .iterator(IteratorMode::From(&start, Direction::Forward))
        {
            let (key, value) = entry.map_err(storage("scan events"))?;
            if !key.starts_with(b"e/") || found.len() >= max {
                break;
            }
            found.push(decode(&value, "event")?);
        }
        Ok(found)
    }

    /// The first event recorded at or after `record_time_ms` (the next one to be recorded if
    /// none is).
    pub fn first_recorded_since(&self, record_time_ms: u64) -> Result<u64, StoreError> {
        let start = seq_key(b"t/", &record_time_ms.to_be_bytes());
        if let Some(entry) = self
            .db
            .iterator(IteratorMode::From(&start, Direction::Forward))
            .next()
        {
            let (key, _) = entry.map_err(storage("scan record times"))?;
            if let Some(seq) = key.strip_prefix(b"t/").and_then(|rest| rest.get(8..)) {
                return read_u64(seq, "record time index");
            }
        }
        self.next_seq()
    }

    /// The sequence numbers of events naming `identifier` in one of `namings`, from `from` on,
    /// ascending, at most `max`.
    pub fn naming(
        &self,
        namings: &[Naming],
        identifier: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let mut seqs = Vec::new();
        for naming in namings {
            let prefix = posting_prefix(*naming, identifier);
            let start = seq_key(&prefix, &from.to_be_bytes());
            let mut taken = 0usize;
            for entry in self
                .db
                .iterator(IteratorMode::From(&start, Direction::Forward))
            {
                let (key, _) = entry.map_err(storage("scan identifiers"))?;
                let Some(seq) = key.strip_prefix(prefix.as_slice()) else {
                    break;
                };
                seqs.push(read_u64(seq, "identifier index")?);
                taken += 1;
                if taken >= max {
                    break;
                }
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        seqs.truncate(max);
        Ok(seqs)
    }

    /// A stored document (job, query, subscription) under `kind` (`j`, `q`, `s`).
    pub fn put_doc<T: Serialize>(&self, kind: u8, name: &str, doc: &T) -> Result<(), StoreError> {
        let key = seq_key(&[kind, b'/'], name.as_bytes());
        self.db.put(key, encode(doc)).map_err(storage("write"))
    }

    pub fn doc<T: DeserializeOwned>(&self, kind: u8, name: &str) -> Result<Option<T>, StoreError> {
        let key = seq_key(&[kind, b'/'], name.as_bytes());
        match self.db.get(key).map_err(storage("read"))? {
            Some(bytes) => decode(&bytes, "stored document").map(Some),
            None => Ok(None),
        }
    }

    pub fn delete_doc(&self, kind: u8, name: &str) -> Result<(), StoreError> {
        let key = seq_key(&[kind, b'/'], name.as_bytes());
        self.db.delete(key).map_err(storage("delete"))
    }

    /// Every stored document of `kind`, at most `max`, in name order.
    pub fn docs<T: DeserializeOwned>(&self, kind: u8, max: usize) -> Result<Vec<T>, StoreError> {
        let prefix = [kind, b'/'];
        let mut found = Vec::new();
        for entry in self.db.prefix_iterator(prefix) {
            let (key, value) = entry.map_err(storage("scan"))?;
            if !key.starts_with(&prefix) || found.len() >= max {
                break;
            }
            found.push(decode(&value, "stored document")?);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(seq: u64, record_time_ms: u64, epc: &str) -> Recorded {
        Recorded {
            seq,
            ledger_id: Hash::of_parts(&[&seq.to_le_bytes()]),
            height: seq,
            record_time_ms,
            event_type: "ObjectEvent".into(),
            event_time: (0, 0),
            action: None,
            biz_step: None,
            disposition: None,
            read_point: None,
            biz_location: None,
            identifiers: vec![(Naming::Epc, epc.into())],
            hash: format!("ni:///sha-256;{seq}"),
            event_id: None,
            event: Value::Null,
        }
    }

    #[test]
    fn a_block_is_recorded_whole_and_found_by_every_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(
            (
                store.next_height().expect("h"),
                store.next_seq().expect("s")
            ),
            (1, 1)
        );
        let writes = BlockWrites {
            events: vec![
                recorded(1, 1_000, "a"),
                recorded(2, 2_000, "b"),
                recorded(3, 2_000, "a"),
            ],
            followed: Vec::new(),
            next_height: 8,
        };
        store.record_block(&writes).expect("record");
        assert_eq!(
            (
                store.next_height().expect("h"),
                store.next_seq().expect("s")
            ),
            (8, 4)
        );
        assert_eq!(
            store.naming(&[Naming::Epc], "a", 1, 10).expect("a"),
            vec![1, 3]
        );
        assert_eq!(
            store.naming(&[Naming::Epc], "a", 2, 10).expect("a"),
            vec![3]
        );
        assert!(
            store
                .naming(&[Naming::Child], "a", 1, 10)
                .expect("a")
                .is_empty()
        );
        assert_eq!(store.first_recorded_since(1_500).expect("t"), 2);
        assert_eq!(store.first_recorded_since(9_000).expect("t"), 4);
        assert_eq!(
            store.find("ni:///sha-256;2").expect("f").map(|e| e.seq),
            Some(2)
        );
        assert_eq!(store.events_from(2, 1).expect("e").len(), 1);
    }
}
