//! The network benchmark: a 4-validator cluster of real `waybill-node` processes on this
//! machine, loaded over HTTP with batches of pre-signed events, measured against the signature
//! ceiling of DESIGN.md §10 taken in the same run.
//!
//! 1. Ceiling: `verify_strict` rate on one core × cores / validators.
//! 2. Saturation: every event submitted as fast as the API takes it (batches of 500 from two
//!    organisations to two nodes); committed events per second from first submission to last
//!    commit.
//! 3. Latency at half that rate: submission to commit as a third node's event stream reports it.
//!
//! Usage: waybill-network-bench [EVENTS] (default 60,000). Prints a table.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::{Epc, EventKind, SignedEvent};
use waybill_protocol::fixtures;
use waybill_protocol::rules::ChainRules;
use waybill_tests::cluster::Cluster;

const BATCH: usize = 500;

fn sign_events(
    cluster: &mut Cluster,
    count: usize,
    tag: &str,
) -> (Vec<SignedEvent>, Vec<SignedEvent>) {
    let half = count / 2;
    let declarations = (0..half)
        .map(|i| cluster.declare(&format!("{tag}-{i}")))
        .collect();
    let commissions = (0..count - half)
        .map(|i| {
            let mut builder_event = cluster.event(
                "brand",
                &format!("{tag}-STOCK-{}", i / 100),
                EventKind::Commission,
            );
            // Re-sign with one EPC: a commission names the serials it creates.
            builder_event.body.epcs = vec![Epc::Sgtin(fixtures::sgtin(&format!("{tag}{i}")))];
            SignedEvent::sign(builder_event.body, cluster.keypair("brand"))
        })
        .collect();
    (declarations, commissions)
}

/// Submits `events` to `node` in batches, optionally paced to `rate` events/s; records when
/// each event was accepted.
fn submit(
    cluster: &Cluster,
    node: usize,
    events: &[SignedEvent],
    rate: Option<f64>,
    submitted: &Mutex<HashMap<String, Instant>>,
) {
    let start = Instant::now();
    let mut sent = 0usize;
    for chunk in events.chunks(BATCH) {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        // A full mempool or a signer's quota refuses the tail of a batch with 503: back off and
        // send that tail again, in order (the accepted part is always a prefix).
        let mut pending: Vec<&SignedEvent> = chunk.iter().collect();
        while !pending.is_empty() {
            let answer = cluster.post(node, "/v1/events/batch", &json!({"events": pending}));
            let results = answer.body["results"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                matches!(answer.status, 202 | 207 | 503),
                "batch refused: {}",
                answer.body
            );
            let now = Instant::now();
            let mut retry = Vec::new();
            let mut map = submitted.lock().unwrap();
            for (item, event) in results.iter().zip(&pending) {
                match item["id"].as_str() {
                    Some(id) => {
                        map.insert(id.to_string(), now);
                    }
                    None => {
                        assert_eq!(item["status"], 503, "event refused: {item}");
                        retry.push(*event);
                    }
                }
            }
            drop(map);
            if results.is_empty() {
                retry = pending.clone();
            }
            if !retry.is_empty() {
                std::thread::sleep(Duration::from_millis(200));
            }
            pending = retry;
        }
        sent += chunk.len();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Follows node `node`'s stream and records when each event id was committed.
fn follow(cluster: &Cluster, node: usize, committed: Arc<Mutex<HashMap<String, Instant>>>) {
    let client = waybill_client::node::NodeClient::new(&cluster.api[node]);
    std::thread::spawn(move || {
        let _ = client.follow(None, |event| {
            if let Some(id) = event["id"].as_str() {
                committed
                    .lock()
                    .unwrap()
                    .insert(id.to_string(), Instant::now());
            }
            true
        });
    });
}

fn wait_committed(
    committed: &Mutex<HashMap<String, Instant>>,
    ids: usize,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if committed.lock().unwrap().len() >= ids {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("EVENTS is a number"))
        .unwrap_or(60_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cluster = Cluster::start(4);
    let rules = ChainRules::new(cluster.testnet.genesis.clone()).unwrap();

    eprintln!("signing {} events…", events + events / 2);
    let (saturation_a, saturation_b) = sign_events(&mut cluster, events, "SAT");
    let (half_a, half_b) = sign_events(&mut cluster, events / 2, "HALF");

    // 1. The ceiling, measured on this machine now.
    let sample: Vec<SignedEvent> = saturation_a.iter().take(5_000).cloned().collect();
    let started = Instant::now();
    for event in sample.iter().cloned() {
        CheckedEvent::check(&rules, event).unwrap();
    }
    let verify_rate = sample.len() as f64 / started.elapsed().as_secs_f64();
    let validators = rules.validator_count();
    let ceiling = cores as f64 * verify_rate / validators as f64;

    // 2. Saturation.
    let committed = Arc::new(Mutex::new(HashMap::new()));
    follow(&cluster, 2, committed.clone());
    std::thread::sleep(Duration::from_millis(500));
    let submitted = Mutex::new(HashMap::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| submit(&cluster, 0, &saturation_a, None, &submitted));
        scope.spawn(|| submit(&cluster, 1, &saturation_b, None, &submitted));
    });
    let accepted_in = started.elapsed();
    let done = wait_committed(&committed, events, Duration::from_secs(600));
    let elapsed = committed
        .lock()
        .unwrap()
        .values()
        .max()
        .map_or(Duration::ZERO, |last| *last - started);
    let throughput = events as f64 / elapsed.as_secs_f64();
    assert!(done, "not every event committed within 10 minutes");

    // 3. Latency at half the measured throughput.
    committed.lock().unwrap().clear();
    let half_rate = throughput / 2.0;
    let submitted_half = Mutex::new(HashMap::new());
    let half_events = half_a.len() + half_b.len();
    std::thread::scope(|scope| {
        scope.spawn(|| submit(&cluster, 0, &half_a, Some(half_rate / 2.0), &submitted_half));
        scope.spawn(|| submit(&cluster, 1, &half_b, Some(half_rate / 2.0), &submitted_half));
    });
    assert!(wait_committed(
        &committed,
        half_events,
        Duration::from_secs(600)
    ));
    let committed = committed.lock().unwrap();
    let submitted_half = submitted_half.lock().unwrap();
    let mut latencies: Vec<Duration> = submitted_half
        .iter()
        .filter_map(|(id, at)| committed.get(id).map(|c| c.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    let metrics = cluster.get_text(0, "/metrics").unwrap_or_default();
    let rejected: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("waybill_events_rejected_total{"))
        .collect();

    println!("| measure | value |");
    println!("|---|---|");
    println!("| cores, validators | {cores}, {validators} |");
    println!("| verify_strict, one core | {verify_rate:.0} /s |");
    println!("| signature ceiling (cores × verify / validators) | {ceiling:.0} events/s |");
    println!("| saturation: events | {events} (batches of {BATCH}, two submitters) |");
    println!(
        "| saturation: all accepted by the API after | {:.2} s |",
        accepted_in.as_secs_f64()
    );
    println!(
        "| saturation: committed throughput | {throughput:.0} events/s ({:.0} % of the ceiling) |",
        100.0 * throughput / ceiling
    );
    println!("| half load: offered | {half_rate:.0} events/s, {half_events} events |");
    println!(
        "| half load: submission → commit p50 / p90 / p99 / max | {:.0} / {:.0} / {:.0} / {:.0} ms |",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 1.0).as_secs_f64() * 1e3
    );
    println!(
        "| rejected at execution (node 0) | {} |",
        if rejected.is_empty() {
            "none".to_string()
        } else {
            rejected.join(", ")
        }
    );
    for node in 0..4 {
        cluster.stop(node);
    }
}
