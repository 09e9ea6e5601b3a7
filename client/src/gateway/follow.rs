//! The gateway's follower: reads the node's feed block by block (the events of shipments this
//! organisation may read, by the node's read policy), and for each shipment with new events
//! fetches the proof of its history after what was verified before, verifies it against the
//! genesis (`ProvenanceProof::verify_after`) and records the new events. The feed is only
//! where to look: nothing is recorded that a proof did not show. A proof that fails stops the
//! follower at that block with the reason (shown by the gateway), never skips it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use waybill_protocol::ShipmentId;
use waybill_protocol::epcis::cbv::Term;
use waybill_protocol::epcis::read_document;
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::index::IndexKey;
use waybill_protocol::provenance::{ProvenEvent, ProvenanceProof};

use super::Gateway;
use super::query::identifier;
use super::store::{BlockWrites, Followed, Naming, Recorded};
use crate::limits::GATEWAY_BLOCKS_PER_ROUND_MAX;

/// Follows for ever; wakes every `pause` to look for new blocks.
pub fn run(gateway: &Gateway, pause: Duration) {
    loop {
        let trouble = round(gateway).err();
        gateway.set_trouble(trouble);
        std::thread::sleep(pause);
    }
}

/// Records the certified blocks after the last one recorded, at most a bounded number.
fn round(gateway: &Gateway) -> Result<(), String> {
    let tip = gateway.node.status().map_err(|e| e.to_string())?.height;
    for _ in 0..GATEWAY_BLOCKS_PER_ROUND_MAX {
        let height = gateway.store.next_height().map_err(|e| e.to_string())?;
        // A block is certified once the next one carries its certificate.
        if height >= tip {
            break;
        }
        record_height(gateway, height)?;
    }
    Ok(())
}

fn record_height(gateway: &Gateway, height: u64) -> Result<(), String> {
    let feed = gateway
        .node
        .feed(height)
        .map_err(|e| format!("block {height}: {e}"))?
        .ok_or_else(|| format!("block {height}: the node has not committed it"))?;
    let mut shipments: Vec<&ShipmentId> = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in &feed.events {
        let shipment = &entry.event.body.shipment;
        if matches!(entry.outcome, Some(EventOutcome::Applied)) && seen.insert(shipment) {
            shipments.push(shipment);
        }
    }
    let store = &gateway.store;
    let mut writes = BlockWrites {
        next_height: height.saturating_add(1),
        ..BlockWrites::default()
    };
    let mut seq = store.next_seq().map_err(|e| e.to_string())?;
    for shipment in shipments {
        let known = store
            .followed(shipment.as_str())
            .map_err(|e| e.to_string())?;
        if known.is_some_and(|known| known.as_of >= height) {
            continue;
        }
        // Block `height` is certified, so its proof is there; if not yet, the block waits.
        let proof = verified_after(gateway, shipment, known, height)?.ok_or_else(|| {
            format!("block {height}, shipment {shipment}: the node has no proof of it yet")
        })?;
        for proven in &proof.events {
            match recorded(seq, proven, proof.header.time_ms) {
                Some(event) => {
                    writes.events.push(event);
                    seq = seq.saturating_add(1);
                }
                None => eprintln!(
                    "block {height}: event {} does not read as EPCIS; not recorded",
                    proven.event.id()
                ),
            }
        }
        if let Some(record) = proof.record {
            let followed = Followed {
                record,
                as_of: proof.header.height,
            };
            writes
                .followed
                .push((shipment.as_str().to_string(), followed));
        }
    }
    store.record_block(&writes).map_err(|e| e.to_string())?;
    gateway.recorded(seq);
    Ok(())
}

/// The shipment's events after `known`, verified against the genesis; `None` if the node has
/// none certified yet.
fn verified_after(
    gateway: &Gateway,
    shipment: &ShipmentId,
    known: Option<Followed>,
    height: u64,
) -> Result<Option<ProvenanceProof>, String> {
    let known_record = known.map(|k| k.record);
    let count = known_record.map_or(0, |r| r.count);
    let what = format!("block {height}, shipment {shipment}");
    let Some(proof) = gateway
        .node
        .shipment_provenance_after(shipment, count)
        .map_err(|e| format!("{what}: {e}"))?
    else {
        return Ok(None);
    };
    // The proof must answer this question: this shipment, as of this block or later.
    if proof.key != IndexKey::Shipment(shipment.clone()) || proof.header.height < height {
        return Err(format!(
            "{what}: the node answered with the proof of {} as of block {}",
            proof.key, proof.header.height
        ));
    }
    proof
        .verify_after(&gateway.rules, known_record.as_ref())
        .map_err(|e| format!("{what}: NOT VERIFIED: {e}"))?;
    Ok(Some(proof))
}

/// A verified ledger event as the gateway keeps it: its EPCIS form, with this gateway's
/// record time and an `eventID` (the CBV event hash where it was captured without one).
/// `None` if it does not read as EPCIS (every ledger event does: captures were checked on the
/// way in, native events export by construction).
pub fn recorded(seq: u64, proven: &ProvenEvent, record_time_ms: u64) -> Option<Recorded> {
    let event = &proven.event;
    let ledger_id = event.id();
    let exported = crate::epcis::export(std::slice::from_ref(event), record_time_ms);
    let epcis = read_document(&exported).ok()?.into_iter().next()?;
    let text = |term: Option<Term>| term.map(|t| t.json().to_string());
    let place = |field: &str| epcis.place(field).map(indexed);
    let hash = epcis.hash().ni();
    let mut object = epcis.content().clone();
    let record_time = crate::time::iso8601(record_time_ms);
    object.insert("recordTime".into(), json!(record_time));
    object.entry("eventID").or_insert_with(|| json!(hash));
    object.insert("waybill:eventId".into(), json!(ledger_id));
    Some(Recorded {
        seq,
        ledger_id,
        height: proven.height,
        record_time_ms,
        event_type: epcis.event_type().name().to_string(),
        event_time: epcis
            .event_time()
            .map_or((0, 0), |time| (time.unix_seconds, time.nanos)),
        action: epcis.action().map(str::to_string),
        biz_step: text(epcis.biz_step()),
        disposition: text(epcis.disposition()),
        read_point: place("readPoint"),
        biz_location: place("bizLocation"),
        identifiers: epcis
            .identifiers()
            .into_iter()
            .filter_map(|(field, uri)| Some((Naming::of_field(field)?, indexed(uri))))
            .collect(),
        hash,
        event_id: epcis.text("eventID").map(str::to_string),
        event: Value::Object(object),
    })
}

/// An identifier as indexed (as written if it claims to be a GS1 key and is not one).
fn indexed(uri: &str) -> String {
    identifier(uri).unwrap_or_else(|_| uri.to_string())
}
