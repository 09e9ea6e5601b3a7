//! Ledger benchmark (issue 3): execution + RocksDB commit throughput for blocks of 5,000 events,
//! provenance proof build and verification latency for a 100-event shipment in a large store,
//! proof overhead, and bytes on disk per encoded event byte.
//!
//! Usage: waybill-ledger-bench [TOTAL_EVENTS] [DIR]   (default 1,000,000 events, a temp dir)
//! Signatures are checked before timing starts: the ledger never verifies them again.

use std::time::{Duration, Instant};

use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::{Epc, EventKind};
use waybill_protocol::index::IndexKey;
use waybill_protocol::{ValidatorIndex, fixtures};
use waybill_tests::{EventFactory, VALIDATORS, open_ledger, rules};

const BLOCK_EVENTS: usize = 5_000;
const STORY_EVENTS: usize = 100;
const PROOF_SAMPLES: usize = 500;

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = std::env::args()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let mut ledger = open_ledger(&dir).expect("open ledger");
    let rules = rules();
    let mut factory = EventFactory::new();

    println!(
        "ledger bench: {total} events in blocks of {BLOCK_EVENTS}, data in {}",
        dir.display()
    );
    let blocks = total.div_ceil(BLOCK_EVENTS);
    // Every event is signed and checked before timing starts, so the ledger phase runs alone.
    let prepare = Instant::now();
    let prepared: Vec<Vec<CheckedEvent>> = (0..blocks)
        .map(|block| block_events(&mut factory, block, &rules))
        .collect();
    let prepare_time = prepare.elapsed();
    let encoded_bytes: usize = prepared
        .iter()
        .flatten()
        .map(CheckedEvent::encoded_len)
        .sum();
    eprintln!(
        "prepared {} events in {:.1} s; ledger phase starts",
        blocks * BLOCK_EVENTS,
        prepare_time.as_secs_f64()
    );
    let (mut execute_time, mut commit_time) = (Duration::ZERO, Duration::ZERO);
    for (block, events) in prepared.into_iter().enumerate() {
        let time_ms = fixtures::NOW_MS + 1_000 * (block as u64 + 1);
        let proposal = ledger
            .proposal(time_ms, ValidatorIndex(0), events)
            .expect("proposal");
        let started = Instant::now();
        let executed = ledger.execute(proposal).expect("execute");
        execute_time += started.elapsed();
        let signers: Vec<usize> = (0..rules.quorum()).collect();
        let certificate = fixtures::certificate(&executed.header, VALIDATORS, &signers);
        let started = Instant::now();
        ledger.commit(executed, &certificate).expect("commit");
        commit_time += started.elapsed();
        if block % 20 == 19 {
            eprintln!("  {} / {blocks} blocks", block + 1);
        }
    }
    let events = (blocks * BLOCK_EVENTS) as f64;
    let total_time = execute_time + commit_time;
    println!("\n| step | time | events/s |");
    println!("|---|---|---|");
    println!(
        "| sign + verify_strict (setup, not ledger) | {:.1} s | {:.0} |",
        prepare_time.as_secs_f64(),
        events / prepare_time.as_secs_f64()
    );
    println!(
        "| execute (state, chains, map, roots) | {:.1} s | {:.0} |",
        execute_time.as_secs_f64(),
        events / execute_time.as_secs_f64()
    );
    println!(
        "| commit (one synced WriteBatch per block) | {:.1} s | {:.0} |",
        commit_time.as_secs_f64(),
        events / commit_time.as_secs_f64()
    );
    println!(
        "| **execute + commit** | {:.1} s | **{:.0}** |",
        total_time.as_secs_f64(),
        events / total_time.as_secs_f64()
    );

    // A 100-event shipment, then proofs for it in the full store.
    let story = story_events(&mut factory, &rules);
    let time_ms = fixtures::NOW_MS + 1_000 * (blocks as u64 + 1);
    let proposal = ledger
        .proposal(time_ms, ValidatorIndex(0), story)
        .expect("proposal");
    let executed = ledger.execute(proposal).expect("execute story");
    assert!(
        executed
            .outcomes
            .iter()
            .all(|o| *o == waybill_protocol::execution::EventOutcome::Applied)
    );
    let signers: Vec<usize> = (0..rules.quorum()).collect();
    let certificate = fixtures::certificate(&executed.header, VALIDATORS, &signers);
    ledger.commit(executed, &certificate).expect("commit story");
    // Proofs are as of the certified height: the next block certifies the story's.
    let proposal = ledger
        .proposal(time_ms + 1_000, ValidatorIndex(0), Vec::new())
        .expect("proposal");
    let executed = ledger.execute(proposal).expect("execute");
    let certificate = fixtures::certificate(&executed.header, VALIDATORS, &signers);
    ledger.commit(executed, &certificate).expect("commit");

    let key = IndexKey::Shipment(fixtures::shipment("BENCH-STORY"));
    let mut build = Vec::with_capacity(PROOF_SAMPLES);
    let mut proof = ledger.provenance(&key).expect("proof");
    for _ in 0..PROOF_SAMPLES {
        let started = Instant::now();
        proof = ledger.provenance(&key).expect("proof");
        build.push(started.elapsed());
    }

    ledger.flush().expect("flush");
    ledger.compact();
    let disk = ledger.disk_bytes();
    drop(ledger);
    let dir_bytes = directory_bytes(&dir);

    // The client verifies on its own machine: measured after the node is closed, so background
    // compaction does not share the cores.
    let mut verify = Vec::with_capacity(PROOF_SAMPLES);
    for _ in 0..PROOF_SAMPLES {
        let started = Instant::now();
        proof.verify(&rules).expect("verify");
        verify.push(started.elapsed());
    }
    let proof_bytes = proof.encode().len();
    let event_bytes: usize = proof
        .events
        .iter()
        .map(|e| e.event.encode().len() + 8)
        .sum();
    println!(
        "\n| provenance, {STORY_EVENTS}-event shipment, store of {} events | p50 | p99 |",
        blocks * BLOCK_EVENTS + STORY_EVENTS
    );
    println!("|---|---|---|");
    let (b50, b99) = percentiles(&mut build);
    let (v50, v99) = percentiles(&mut verify);
    println!("| build proof at the node | {b50:.2?} | {b99:.2?} |");
    println!("| verify in the client (signatures included) | {v50:.2?} | {v99:.2?} |");
    println!(
        "\nproof: {proof_bytes} bytes, of which events {event_bytes}: overhead {} bytes (map proof {} bytes, {} validators)",
        proof_bytes - event_bytes,
        proof.map_proof.len(),
        VALIDATORS
    );
    println!(
        "disk after compaction: {:.1} MB live SST+memtables, {:.1} MB directory, events encode to {:.1} MB: ratio {:.2} (live), {:.2} (directory)",
        disk as f64 / 1e6,
        dir_bytes as f64 / 1e6,
        encoded_bytes as f64 / 1e6,
        disk as f64 / encoded_bytes as f64,
        dir_bytes as f64 / encoded_bytes as f64
    );
}

/// A block of a realistic mix: each shipment gets a declaration, a pick-up with its item serial,
/// departures and arrivals, across two carriers.
fn block_events(
    factory: &mut EventFactory,
    block: usize,
    rules: &waybill_protocol::rules::ChainRules,
) -> Vec<CheckedEvent> {
    let mut signed = Vec::with_capacity(BLOCK_EVENTS);
    let shipments = BLOCK_EVENTS / 5;
    for s in 0..shipments {
        let shipment = format!("B{block}-S{s}");
        let carrier = if s % 2 == 0 { "carrier-a" } else { "carrier-b" };
        let epc = Epc::Sgtin(fixtures::sgtin(&format!("{block}-{s}")));
        signed.push(factory.event("platform", &shipment, waybill_tests::declare_kind()));
        signed.push(
            factory
                .builder(carrier, &shipment, EventKind::PickUp)
                .epc(epc.clone())
                .sign(&fixtures::org_keypair(carrier)),
        );
        signed.push(
            factory
                .builder(carrier, &shipment, EventKind::Depart)
                .epc(epc.clone())
                .sign(&fixtures::org_keypair(carrier)),
        );
        signed.push(factory.event(carrier, &shipment, EventKind::Arrive));
        signed.push(factory.event(carrier, &shipment, EventKind::Depart));
    }
    check_in_parallel(signed, rules)
}

fn story_events(
    factory: &mut EventFactory,
    rules: &waybill_protocol::rules::ChainRules,
) -> Vec<CheckedEvent> {
    let mut signed = vec![factory.event("carrier-a", "BENCH-STORY", EventKind::PickUp)];
    for i in 1..STORY_EVENTS {
        let kind = if i % 2 == 1 {
            EventKind::Depart
        } else {
            EventKind::Arrive
        };
        signed.push(factory.event("carrier-a", "BENCH-STORY", kind));
    }
    check_in_parallel(signed, rules)
}

fn check_in_parallel(
    events: Vec<waybill_protocol::SignedEvent>,
    rules: &waybill_protocol::rules::ChainRules,
) -> Vec<CheckedEvent> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = events.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .cloned()
                        .map(|e| CheckedEvent::check(rules, e).expect("valid"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checker thread"))
            .collect()
    })
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99))
}

fn directory_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
