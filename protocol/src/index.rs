//! The per-key index (DESIGN.md §3): for every shipment, every item serial and every GTIN, the
//! ledger keeps a hash chain over the events applied to it, and an authenticated map from the key
//! to its [`KeyRecord`]. A proof of the record plus the events that rebuild its chain shows that
//! no event was left out, reordered or altered. A GTIN's chain holds every event naming one of its
//! serials, so the serials a GTIN has are a proven listing, complete by proof. An operator's
//! accreditations are keyed by its registration, and a member's also by its member id.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::Hash;
use crate::event::{Epc, EventBody, EventKind, Sgtin};
use crate::ids::{Gtin, OrgId, Reference, ShipmentId};

/// What the index is keyed by.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum IndexKey {
    Shipment(ShipmentId),
    Serial(Sgtin),
    /// Every event naming a serial of this GTIN.
    Gtin(Gtin),
    /// An operator's accreditations, by its registration (EORI or equivalent).
    Operator(Reference),
    /// A member's accreditations, by its member id.
    Member(OrgId),
    /// A captured EPCIS event, by its CBV event hash: one applied event at most (rules version
    /// 4), so a second capture of the same event is a duplicate, and the event is found by id.
    EpcisEvent(Hash),
}

/// The head of a key's chain, as the authenticated map stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// Events applied to the key.
    pub count: u64,
    /// `link_count`: the chain over all of them.
    pub head: Hash,
    /// The height of the block holding the last of them.
    pub last_height: u64,
}

impl IndexKey {
    /// The canonical bytes the chain links and the map key hash commit to.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The key under which the authenticated map stores this key's record: `SHA-256(encode(key))`.
    pub fn map_key(&self) -> [u8; 32] {
        Hash::of_parts(&[&self.encode()]).0
    }
}

impl std::fmt::Display for IndexKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexKey::Shipment(id) => write!(formatter, "shipment {id}"),
            IndexKey::Serial(sgtin) => write!(formatter, "serial {sgtin}"),
            IndexKey::Gtin(gtin) => write!(formatter, "GTIN {gtin}"),
            IndexKey::Operator(registration) => write!(formatter, "operator {registration}"),
            IndexKey::Member(org) => write!(formatter, "member {org}"),
            IndexKey::EpcisEvent(hash) => {
                write!(
                    formatter,
                    "EPCIS event {}",
                    crate::epcis::EventHash(hash.0).ni()
                )
            }
        }
    }
}

/// `link_k = H(0x02 ‖ key ‖ link_{k-1} ‖ k ‖ event_id)`, with `link_0` all zeros and `k` the
/// 1-based position as a little-endian `u64`.
pub fn chain_link(key_bytes: &[u8], previous: &Hash, position: u64, event_id: &Hash) -> Hash {
    Hash::of_parts(&[
        &[0x02],
        key_bytes,
        previous.as_bytes(),
        &position.to_le_bytes(),
        event_id.as_bytes(),
    ])
}

impl KeyRecord {
    /// The record after appending `event_id` at `height`.
    pub fn append(
        previous: Option<&KeyRecord>,
        key_bytes: &[u8],
        event_id: &Hash,
        height: u64,
    ) -> KeyRecord {
        let (count, head) = previous.map_or((0, Hash::ZERO), |r| (r.count, r.head));
        let count = count + 1;
        KeyRecord {
            count,
            head: chain_link(key_bytes, &head, count, event_id),
            last_height: height,
        }
    }
}

/// The keys an event is indexed under: its shipment first, then each item serial it names
/// (EPCs, and a flag's serial), without repeats, in order of appearance.
pub fn index_keys(body: &EventBody) -> Vec<IndexKey> {
    let mut keys = vec![IndexKey::Shipment(body.shipment.clone())];
    let mut seen = std::collections::BTreeSet::new();
    let serials = body.epcs.iter().filter_map(|epc| match epc {
        Epc::Sgtin(sgtin) => Some(sgtin),
        Epc::Sscc(_) => None,
    });
    let flagged = match body.kind.effective() {
        EventKind::Flag { serial, .. } => Some(serial),
        _ => None,
    };
    let mut gtins = std::collections::BTreeSet::new();
    for sgtin in serials.chain(flagged) {
        if seen.insert(sgtin) {
            keys.push(IndexKey::Serial(sgtin.clone()));
            gtins.insert(&sgtin.gtin);
        }
    }
    keys.extend(gtins.into_iter().cloned().map(IndexKey::Gtin));
    let (operator, member) = match body.kind.effective() {
        EventKind::Accredit(a) => (Some(&a.operator), a.member.as_ref()),
        EventKind::RevokeAccreditation(r) => (Some(&r.operator), r.member.as_ref()),
        _ => (None, None),
    };
    keys.extend(operator.cloned().map(IndexKey::Operator));
    keys.extend(member.cloned().map(IndexKey::Member));
    keys.extend(capture_hash(body).map(IndexKey::EpcisEvent));
    keys
}

/// The CBV event hash of a captured EPCIS event (`None` if the event is not one, or its content
/// does not read, which validation refuses first).
pub fn capture_hash(body: &EventBody) -> Option<Hash> {
    let capture = body.kind.capture()?;
    let event = crate::epcis::EpcisEvent::from_canonical(&capture.content.0).ok()?;
    Some(Hash(event.hash().0))
}

/// The serials of `gtin` that `events` name, each once, in serial order: what a verified GTIN
/// history lists.
pub fn serials_named<'a>(
    gtin: &Gtin,
    events: impl IntoIterator<Item = &'a EventBody>,
) -> Vec<Sgtin> {
    let named: std::collections::BTreeSet<Sgtin> = events
        .into_iter()
        .flat_map(index_keys)
        .filter_map(|key| match key {
            IndexKey::Serial(sgtin) if sgtin.gtin == *gtin => Some(sgtin),
            _ => None,
        })
        .collect();
    named.into_iter().collect()
}
