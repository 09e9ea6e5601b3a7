//! Bytes a declaration costs a node that is not entitled to its particulars (issue 13): commits
//! COUNT declarations, each on its own shipment, in blocks of 1,000 to a fresh ledger, then
//! flushes and compacts it and reports the encoded event and the disk per declaration. A
//! second ledger of as many pick-ups (the smallest custody event) gives the per-event floor.
//!
//! Usage: waybill-declaration-bytes [COUNT]   (default 20,000)

use waybill_protocol::event::EventKind;
use waybill_protocol::fixtures;
use waybill_tests::{EventFactory, commit_block, load::disk_bytes, open_ledger};

const BLOCK_EVENTS: usize = 1_000;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    println!("declaration bytes: {count} events a ledger, blocks of {BLOCK_EVENTS}\n");
    println!(
        "| ledger of | encoded event (avg) | disk per event (data dir) | live SST per event |"
    );
    println!("|---|---|---|---|");
    for (name, org) in [("declarations", "platform"), ("pick-ups", "carrier-a")] {
        let (encoded, disk, live) = measure(count, org);
        println!("| {name} | {encoded:.0} B | {disk:.0} B | {live:.0} B |");
    }
}

/// (encoded bytes, data-dir bytes, live SST bytes) per event.
fn measure(count: usize, org: &str) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut ledger = open_ledger(dir.path()).expect("open ledger");
    let mut factory = EventFactory::new();
    let mut encoded = 0usize;
    for block in 0..count.div_ceil(BLOCK_EVENTS) {
        let events: Vec<_> = (0..BLOCK_EVENTS)
            .map(|index| {
                let shipment = format!("D{block}-{index}");
                let event = factory.event(org, &shipment, kind(org));
                encoded += event.encode().len();
                event
            })
            .collect();
        let time_ms = fixtures::NOW_MS + 1_000 * (block as u64 + 1);
        commit_block(&mut ledger, events, time_ms).expect("commit");
    }
    ledger.flush().expect("flush");
    ledger.compact();
    let events = (count.div_ceil(BLOCK_EVENTS) * BLOCK_EVENTS) as f64;
    let live = ledger.disk_bytes() as f64;
    drop(ledger);
    (
        encoded as f64 / events,
        disk_bytes(dir.path()) as f64 / events,
        live / events,
    )
}

fn kind(org: &str) -> EventKind {
    match org {
        "platform" => waybill_tests::declare_kind(),
        _ => EventKind::PickUp,
    }
}
