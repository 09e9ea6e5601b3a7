//! `waybill-epcis-bench`: the EPCIS gateway's capture throughput and its query latency.
//!
//! 1. On a 4-node cluster of this machine, `--documents` EPCIS documents of `--events` events
//!    (10 of 100) are captured through the gateway (`POST /capture`, until every job says
//!    committed, and until the gateway has verified and recorded them all), and as many
//!    events of the same shape are submitted straight to the node's batch API (signed by the
//!    same key, batches of the same size), in the same run. `GET /events?MATCH_epc=…` is then
//!    timed over HTTP on that store.
//! 2. `MATCH_epc` over a store of `--store-events` recorded events (1,000,000; each naming two
//!    of `--serials` serials), written straight into the gateway's store (the follower's
//!    verification is part 1's measure, not this one's): the latency of `--queries` lookups of
//!    random serials, and of a query no index serves (it stops at the scan bound).
//!
//! Prints a table and writes `summary.md` and `report.json` to `--out`. Nothing fails on a
//! slow figure; only on a gateway or cluster that does not work.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use serde_json::{Value, json};
use waybill_client::gateway::query::EventQuery;
use waybill_client::gateway::store::{BlockWrites, Naming, Recorded, Store};
use waybill_protocol::{Hash, SignedEvent};
use waybill_tests::cluster::Cluster;
use waybill_tests::gateway::GatewayProcess;

#[derive(Debug, Parser)]
#[command(about = "The EPCIS gateway's capture throughput and MATCH_epc latency")]
struct Args {
    /// Documents captured through the gateway (and as many batches straight to the node).
    #[arg(long, default_value_t = 10)]
    documents: usize,
    /// Events per document and per batch.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// Events in the store the MATCH_epc latency is measured over.
    #[arg(long, default_value_t = 1_000_000)]
    store_events: u64,
    /// Distinct serials those events name (two each).
    #[arg(long, default_value_t = 100_000)]
    serials: u64,
    /// Lookups timed.
    #[arg(long, default_value_t = 1_000)]
    queries: usize,
    #[arg(long, default_value = "target/bench-epcis")]
    out: PathBuf,
}

const GTIN: &str = "09506000134352";

fn serial_uri(serial: u64) -> String {
    format!("https://id.gs1.org/01/{GTIN}/21/{serial}")
}

/// A document of `count` shipping events, each naming its own serial from `first` on.
fn document(first: u64, count: usize) -> Value {
    let events: Vec<Value> = (0..count as u64)
        .map(|i| {
            let n = first + i;
            json!({
                "type": "ObjectEvent",
                "eventTime": format!("2026-01-01T00:{:02}:{:02}.{:03}Z", (n / 60) % 60, n % 60, n % 1000),
                "eventTimeZoneOffset": "+00:00",
                "epcList": [serial_uri(n)],
                "action": "OBSERVE",
                "bizStep": "shipping",
                "disposition": "in_transit",
                "readPoint": {"id": "https://id.gs1.org/414/9506000134307"},
            })
        })
        .collect();
    json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": events},
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Captures the documents through the gateway: seconds until every job finished, and until
/// the gateway had recorded every event.
fn through_gateway(gateway: &GatewayProcess, args: &Args) -> Result<(f64, f64)> {
    let agent = agent();
    let bearer = format!("Bearer {}", gateway.token);
    let started = Instant::now();
    let mut jobs = Vec::new();
    for d in 0..args.documents {
        let body = document((d * args.events) as u64, args.events);
        let mut answer = agent
            .post(format!("{}/capture", gateway.url))
            .header("authorization", &bearer)
            .send_json(&body)?;
        // The gateway runs a bounded number of jobs at once: a 503 is sent again.
        while answer.status() == 503 {
            std::thread::sleep(Duration::from_millis(100));
            answer = agent
                .post(format!("{}/capture", gateway.url))
                .header("authorization", &bearer)
                .send_json(&body)?;
        }
        ensure!(
            answer.status() == 202,
            "capture: {}",
            answer.body_mut().read_to_string()?
        );
        let location = answer
            .headers()
            .get("location")
            .context("location")?
            .to_str()?
            .to_string();
        jobs.push(location);
    }
    for location in jobs {
        loop {
            let job: Value = agent
                .get(format!("{}{location}", gateway.url))
                .header("authorization", &bearer)
                .call()?
                .body_mut()
                .read_json()?;
            if job["running"] == json!(false) {
                ensure!(job["success"] == json!(true), "a job failed: {job}");
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let committed = started.elapsed().as_secs_f64();
    let total = (args.documents * args.events) as u64;
    loop {
        let status: Value = agent
            .get(format!("{}/status", gateway.url))
            .header("authorization", &bearer)
            .call()?
            .body_mut()
            .read_json()?;
        if status["events"].as_u64().unwrap_or(0) >= total {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "not recorded: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((committed, started.elapsed().as_secs_f64()))
}

/// The same number of events straight to the node's batch API, signed by the same key:
/// seconds until all are committed.
fn through_node(cluster: &mut Cluster, args: &Args) -> Result<f64> {
    let client = cluster.node_client(1, Some("carrier-a"));
    let genesis = cluster.testnet.genesis.clone();
    let keypair = cluster.keypair("carrier-a").clone();
    let key_id = waybill_protocol::ids::KeyId {
        org: waybill_protocol::OrgId::new("carrier-a")?,
        index: 0,
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let signer = waybill_client::epcis::ImportSigner {
        chain_id: genesis.chain_id.clone(),
        key_id,
        first_nonce: now.as_micros() as u64,
        default_shipment: None,
        captured_at_ms: now.as_millis() as u64,
        may_sign: vec![waybill_protocol::EventType::Observe],
    };
    // Other serials than the gateway's, so no event is a duplicate.
    let offset = (args.documents * args.events) as u64;
    let mut batches = Vec::new();
    for d in 0..args.documents {
        let mut signer = signer.clone();
        signer.first_nonce += (d * args.events) as u64;
        let body = document(offset + (d * args.events) as u64, args.events);
        let imported =
            waybill_client::epcis::import(&body, &signer).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let events: Vec<SignedEvent> = imported
            .into_iter()
            .map(|one| SignedEvent::sign(one.body, &keypair))
            .collect();
        batches.push(events);
    }
    let started = Instant::now();
    let mut ids: Vec<Hash> = Vec::new();
    for batch in &batches {
        let answer = client.submit_batch(batch)?;
        ensure!(answer.refused == 0, "refused: {:?}", answer.results);
        ids.extend(batch.iter().map(SignedEvent::id));
    }
    for id in &ids {
        client.wait_committed(id, Duration::from_secs(120))?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// `GET /events?MATCH_epc=…` over HTTP: milliseconds, sorted.
fn http_lookups(gateway: &GatewayProcess, args: &Args) -> Result<Vec<f64>> {
    let agent = agent();
    let bearer = format!("Bearer {}", gateway.token);
    let total = (args.documents * args.events) as u64;
    let mut times = Vec::new();
    for i in 0..args.queries.min(200) as u64 {
        let serial = (i * 7919) % total;
        let uri = serial_uri(serial).replace(':', "%3A").replace('/', "%2F");
        let started = Instant::now();
        let document: Value = agent
            .get(format!("{}/events?MATCH_epc={uri}", gateway.url))
            .header("authorization", &bearer)
            .call()?
            .body_mut()
            .read_json()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let found = document
            .pointer("/epcisBody/queryResults/resultsBody/eventList")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        ensure!(found == 1, "serial {serial}: {found} events");
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn recorded(seq: u64, serials: u64) -> Recorded {
    let first = (seq * 2_654_435_761) % serials;
    let second = (first + serials / 2) % serials;
    let identifiers = vec![
        (Naming::Epc, serial_uri(first)),
        (Naming::Epc, serial_uri(second)),
    ];
    Recorded {
        seq,
        ledger_id: Hash::of_parts(&[&seq.to_le_bytes()]),
        height: seq / 1_000 + 1,
        record_time_ms: 1_767_225_600_000 + seq,
        event_type: "ObjectEvent".into(),
        event_time: (1_767_225_600 + seq as i64, 0),
        action: Some("OBSERVE".into()),
        biz_step: Some("shipping".into()),
        disposition: Some("in_transit".into()),
        read_point: None,
        biz_location: None,
        event: json!({"type": "ObjectEvent", "epcList": [identifiers[0].1, identifiers[1].1], "bizStep": "shipping"}),
        identifiers,
        hash: format!("ni:///sha-256;{seq:064x}?ver=CBV2.0"),
        event_id: None,
    }
}

/// Fills a store with `--store-events` events; the seconds it took.
fn fill_store(store: &Store, args: &Args) -> Result<f64> {
    let started = Instant::now();
    let mut seq = 1;
    while seq <= args.store_events {
        let last = (seq + 9_999).min(args.store_events);
        let writes = BlockWrites {
            events: (seq..=last).map(|s| recorded(s, args.serials)).collect(),
            followed: Vec::new(),
            next_height: last / 1_000 + 2,
        };
        store.record_block(&writes)?;
        seq = last + 1;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Times `query` pages over the store: milliseconds, sorted, and the events found in all.
fn time_queries(store: &Store, queries: &[EventQuery]) -> Result<(Vec<f64>, usize)> {
    let mut times = Vec::new();
    let mut found = 0;
    for query in queries {
        let started = Instant::now();
        let page = query.page(store, 1)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        found += page.events.len();
    }
    times.sort_by(f64::total_cmp);
    Ok((times, found))
}

fn store_latency(args: &Args) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let filled = fill_store(&store, args)?;
    let lookups: Vec<EventQuery> = (0..args.queries as u64)
        .map(|i| {
            let serial = (i * 104_729) % args.serials;
            EventQuery::from_pairs(&[("MATCH_epc".into(), serial_uri(serial))])
        })
        .collect::<Result<_, _>>()?;
    let (times, found) = time_queries(&store, &lookups)?;
    let scan = vec![EventQuery::from_pairs(&[("EQ_bizStep".into(), "receiving".into())])?; 5];
    let (scan_times, _) = time_queries(&store, &scan)?;
    Ok(json!({
        "store_events": args.store_events,
        "serials": args.serials,
        "fill_seconds": filled,
        "match_epc_queries": args.queries,
        "match_epc_events_per_answer": found as f64 / args.queries.max(1) as f64,
        "match_epc_ms": {"p50": percentile(&times, 0.5), "p99": percentile(&times, 0.99), "max": percentile(&times, 1.0)},
        "unindexed_scan_ms": {"p50": percentile(&scan_times, 0.5), "max": percentile(&scan_times, 1.0)},
    }))
}

fn run(args: &Args) -> Result<Value> {
    std::fs::create_dir_all(&args.out)?;
    let mut cluster = Cluster::start(4);
    let dir = cluster.dir.path().join("gateway");
    let gateway = GatewayProcess::start(&cluster, "carrier-a", &cluster.api[0].clone(), &dir);
    let (committed_seconds, recorded_seconds) = through_gateway(&gateway, args)?;
    let http = http_lookups(&gateway, args)?;
    // Stopped first, so its follower does not share the machine with the node's run.
    drop(gateway);
    let node_seconds = through_node(&mut cluster, args)?;
    let total = (args.documents * args.events) as f64;
    Ok(json!({
        "documents": args.documents,
        "events_per_document": args.events,
        "node_batch_events_per_second": total / node_seconds,
        "gateway_committed_events_per_second": total / committed_seconds,
        "gateway_recorded_events_per_second": total / recorded_seconds,
        "http_match_epc_ms": {"p50": percentile(&http, 0.5), "p99": percentile(&http, 0.99)},
        "store": store_latency(args)?,
    }))
}

fn table(report: &Value) -> String {
    let f = |pointer: &str| {
        report
            .pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    format!(
        "| measure | value |\n|---|---|\n\
         | node batch API, events/s ({} batches of {}) | {:.0} |\n\
         | gateway POST /capture, events/s until every job committed | {:.0} |\n\
         | gateway, events/s until verified and recorded (queryable) | {:.0} |\n\
         | GET /events?MATCH_epc over HTTP, p50 / p99 ms ({} events) | {:.2} / {:.2} |\n\
         | store of {} events ({} serials): filled in s | {:.1} |\n\
         | MATCH_epc over it, p50 / p99 / max ms ({:.1} events per answer) | {:.3} / {:.3} / {:.3} |\n\
         | a query no index serves (stops at the scan bound), p50 ms | {:.1} |\n",
        report["documents"],
        report["events_per_document"],
        f("/node_batch_events_per_second"),
        f("/gateway_committed_events_per_second"),
        f("/gateway_recorded_events_per_second"),
        report["documents"].as_u64().unwrap_or(0)
            * report["events_per_document"].as_u64().unwrap_or(0),
        f("/http_match_epc_ms/p50"),
        f("/http_match_epc_ms/p99"),
        report["store"]["store_events"],
        report["store"]["serials"],
        f("/store/fill_seconds"),
        f("/store/match_epc_events_per_answer"),
        f("/store/match_epc_ms/p50"),
        f("/store/match_epc_ms/p99"),
        f("/store/match_epc_ms/max"),
        f("/store/unindexed_scan_ms/p50"),
    )
}

fn main() -> Result<()> {
    let args = Args::parse();
    let report = run(&args)?;
    let summary = table(&report);
    print!("{summary}");
    std::fs::write(args.out.join("summary.md"), &summary)?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    Ok(())
}
