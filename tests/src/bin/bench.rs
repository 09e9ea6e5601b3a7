//! `waybill-bench`: the whole-system benchmark of DESIGN.md §10, in one run on this machine.
//!
//! 1. The machine's ceiling: one core's `verify_strict` and sign rates, SHA-256, RocksDB synced
//!    batch writes and lone synced puts; the signature ceiling cores × verify / validators.
//! 2. N validator processes on loopback with fresh data; M pre-signed events of realistic
//!    shipment lifecycles from K submitters (each with its own keys, each to its own node) over
//!    the HTTP batch API, as fast as the API takes them: committed events/s (whole run and
//!    sustained, between 10 % and 90 % of the commits), submission → commit latency on the node
//!    that took the event, node CPU and peak RSS, bytes on disk per event.
//! 3. The same at half the sustained rate: the latency a paced load sees.
//! 4. Provenance of 10- and 100-event shipments: node answer latency, client verification time,
//!    proof size and overhead over the events themselves.
//! 5. Catch-up: one validator wiped and restarted against the chain; events/s replayed.
//!
//! Prints a table and writes `report.json` and `summary.md` to `--out`. Every goal of the issue
//! is reported next to what was measured; nothing here fails on a missed goal (the machine is
//! shared and noisy), only on lost events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use serde_json::{Value, json};
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::SignedEvent;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, ShipmentId};
use waybill_tests::cluster::{CLUSTER_CALLER, Cluster, ClusterPlan};
use waybill_tests::load::{
    self, Commits, LIFECYCLE_EVENTS, Lane, Submitted, cpu_seconds, disk_bytes, peak_rss_bytes,
    percentile,
};

#[derive(Debug, Parser)]
#[command(
    about = "Waybill's whole-system benchmark: ceiling, throughput, latency, provenance, catch-up"
)]
struct Args {
    /// Validator processes.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Events submitted at full load (half as many again at half load).
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Concurrent submitters, each with its own keys and its own node.
    #[arg(long, default_value_t = 4)]
    submitters: usize,
    /// Events per HTTP batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Where report.json and summary.md go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Small samples for the ceiling and the queries (the test suite's run).
    #[arg(long)]
    quick: bool,
    /// The genesis cap on events per block (`consensus.block_events_max`; default 5,000).
    #[arg(long)]
    block_events_max: Option<u32>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Latency {
    p50: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        Latency {
            p50: percentile(&samples, 0.50),
            p95: percentile(&samples, 0.95),
            p99: percentile(&samples, 0.99),
            max: percentile(&samples, 1.0),
        }
    }

    fn json(&self) -> Value {
        json!({"p50_ms": ms(self.p50), "p95_ms": ms(self.p95), "p99_ms": ms(self.p99), "max_ms": ms(self.max)})
    }

    /// "p50 / p95 / p99 / max ms" with `decimals` places.
    fn text(&self, decimals: usize) -> String {
        let [p50, p95, p99, max] = [self.p50, self.p95, self.p99, self.max].map(ms);
        format!("{p50:.decimals$} / {p95:.decimals$} / {p99:.decimals$} / {max:.decimals$} ms")
    }
}

/// How full the chain's blocks with events were: what sets a block's size under load.
struct BlockFill {
    cap: u32,
    p50: usize,
    p90: usize,
    max: usize,
    blocks: usize,
    full: usize,
}

impl BlockFill {
    fn of(chain: &[(u64, String, Option<String>)], cap: u32) -> BlockFill {
        let mut by_height: HashMap<u64, usize> = HashMap::new();
        for (height, _, _) in chain {
            *by_height.entry(*height).or_default() += 1;
        }
        let mut counts: Vec<usize> = by_height.into_values().collect();
        counts.sort_unstable();
        let at = |q: f64| {
            let index = ((counts.len() as f64 * q) as usize).min(counts.len().saturating_sub(1));
            counts.get(index).copied().unwrap_or(0)
        };
        BlockFill {
            cap,
            p50: at(0.5),
            p90: at(0.9),
            max: counts.last().copied().unwrap_or(0),
            blocks: counts.len(),
            full: counts.iter().filter(|c| **c >= cap as usize).count(),
        }
    }

    fn json(&self) -> Value {
        json!({"cap": self.cap, "blocks_with_events": self.blocks, "p50": self.p50, "p90": self.p90, "max": self.max, "full_blocks": self.full})
    }

    fn text(&self) -> String {
        format!(
            "{} / {} / {} ({}), {} of {}",
            self.p50, self.p90, self.max, self.cap, self.full, self.blocks
        )
    }
}

struct Ceiling {
    cores: usize,
    verify_per_s: f64,
    verify_all_cores_per_s: f64,
    sign_per_s: f64,
    sha256_mb_per_s: f64,
    rocksdb_batched_puts_per_s: f64,
    rocksdb_lone_puts_per_s: f64,
    signature_ceiling: f64,
}

fn measure_ceiling(rules: &ChainRules, sample: &[SignedEvent], quick: bool) -> Result<Ceiling> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    for event in sample.iter().cloned() {
        CheckedEvent::check(rules, event).context("a benchmark event does not verify")?;
    }
    let verify_per_s = sample.len() as f64 / started.elapsed().as_secs_f64();
    // The same on every core at once: whether the cores really add up (they may share
    // execution units, as hyperthreads do).
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| {
                for event in sample.iter().cloned() {
                    std::hint::black_box(CheckedEvent::check(rules, event).is_ok());
                }
            });
        }
    });
    let verify_all_cores_per_s = (cores * sample.len()) as f64 / started.elapsed().as_secs_f64();

    let keypair = waybill_protocol::fixtures::org_keypair("carrier-a");
    let started = Instant::now();
    for event in sample {
        std::hint::black_box(SignedEvent::sign(event.body.clone(), &keypair));
    }
    let sign_per_s = sample.len() as f64 / started.elapsed().as_secs_f64();

    let chunk = vec![0x5au8; 1 << 20];
    let megabytes = if quick { 16 } else { 256 };
    let started = Instant::now();
    for _ in 0..megabytes {
        std::hint::black_box(Hash::of_parts(&[&chunk]));
    }
    let sha256_mb_per_s = megabytes as f64 / started.elapsed().as_secs_f64();

    let dir = tempfile::tempdir()?;
    let db = rocksdb::DB::open_default(dir.path())?;
    let mut synced = rocksdb::WriteOptions::default();
    synced.set_sync(true);
    let batches = if quick { 20 } else { 200 };
    let started = Instant::now();
    for b in 0..batches {
        let mut batch = rocksdb::WriteBatch::default();
        for i in 0..1_000u32 {
            batch.put(format!("{b:06}{i:06}-key-padding-to-32-b"), [7u8; 100]);
        }
        db.write_opt(batch, &synced)?;
    }
    let rocksdb_batched_puts_per_s = (batches * 1_000) as f64 / started.elapsed().as_secs_f64();
    let lone = if quick { 100 } else { 1_000 };
    let started = Instant::now();
    for i in 0..lone {
        db.put_opt(format!("lone-{i:08}"), [7u8; 100], &synced)?;
    }
    let rocksdb_lone_puts_per_s = lone as f64 / started.elapsed().as_secs_f64();

    Ok(Ceiling {
        cores,
        verify_per_s,
        verify_all_cores_per_s,
        sign_per_s,
        sha256_mb_per_s,
        rocksdb_batched_puts_per_s,
        rocksdb_lone_puts_per_s,
        signature_ceiling: cores as f64 * verify_per_s / rules.validator_count() as f64,
    })
}

/// One load phase: every lane submits its events to node `lane % validators`, paced or not.
struct Phase {
    accepted: HashMap<String, (Instant, usize)>,
    refused: HashMap<String, usize>,
    retries: usize,
    started: Instant,
    accepted_after: Duration,
}

fn run_phase(
    cluster: &Cluster,
    lanes: &[Vec<SignedEvent>],
    batch: usize,
    rate_per_lane: Option<f64>,
) -> Phase {
    let validators = cluster.api.len();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let results: Vec<Submitted> = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .iter()
            .enumerate()
            .map(|(lane, events)| {
                let stop = &stop;
                scope.spawn(move || {
                    load::submit(
                        cluster.agent(),
                        &cluster.api,
                        events,
                        batch,
                        rate_per_lane,
                        |_| lane % validators,
                        stop,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("submitter"))
            .collect()
    });
    let accepted_after = started.elapsed();
    let mut phase = Phase {
        accepted: HashMap::new(),
        refused: HashMap::new(),
        retries: 0,
        started,
        accepted_after,
    };
    for result in results {
        phase.accepted.extend(result.accepted);
        phase.retries += result.retries;
        for (code, count) in result.refused {
            *phase.refused.entry(code).or_default() += count;
        }
    }
    phase
}

struct Throughput {
    whole: f64,
    sustained: f64,
    latency: Latency,
}

fn throughput(commits: &Commits, phase: &Phase) -> Throughput {
    let mut committed: Vec<Instant> = Vec::with_capacity(phase.accepted.len());
    let mut latencies = Vec::with_capacity(phase.accepted.len());
    for (id, (at, node)) in &phase.accepted {
        if let Some(done) = commits.at(*node, id) {
            committed.push(done);
            latencies.push(done.saturating_duration_since(*at));
        }
    }
    committed.sort();
    let n = committed.len();
    let whole = match committed.last() {
        Some(last) => n as f64 / (*last - phase.started).as_secs_f64(),
        None => 0.0,
    };
    // From the first block's commit to the last: what the pipeline sustains once it is full.
    // Events are timed as their block commits, so the first block marks the start of the
    // window and its own events are left out of the count.
    let first = committed.first().copied();
    let after_first = first.map_or(0, |f| committed.iter().filter(|c| **c > f).count());
    let window = match (first, committed.last()) {
        (Some(first), Some(last)) => (*last - first).as_secs_f64(),
        _ => 0.0,
    };
    let sustained = if after_first > 0 && window > 0.0 {
        after_first as f64 / window
    } else {
        whole
    };
    Throughput {
        whole,
        sustained,
        latency: Latency::of(latencies),
    }
}

struct ProvenanceFigures {
    events: usize,
    node: Latency,
    verify: Latency,
    proof_bytes: usize,
    overhead_bytes: usize,
}

fn measure_provenance(
    cluster: &Cluster,
    rules: &ChainRules,
    commits: &Commits,
    lane: &mut Lane,
    events: usize,
    rounds: usize,
) -> Result<ProvenanceFigures> {
    let shipment = format!("PROV-{events}-{}", std::process::id());
    let history = lane.long_history(&shipment, events);
    let phase = run_phase(cluster, &[history], 100, None);
    ensure!(
        phase.accepted.len() == events,
        "the {events}-event shipment was not all accepted: {:?}",
        phase.refused
    );
    commits
        .wait_for(&phase.accepted, Duration::from_secs(120))
        .map_err(|missing| anyhow::anyhow!("{missing} provenance events never committed"))?;
    // Every node must hold the last block before its proof is asked for.
    std::thread::sleep(Duration::from_millis(300));
    let agent = load::agent(cluster);
    let url = format!("{}/v1/shipments/{shipment}/provenance", cluster.api[0]);
    let mut node_times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let mut response = agent.get(&url).call()?;
        ensure!(
            response.status() == 200,
            "provenance answered {}",
            response.status()
        );
        std::hint::black_box(response.body_mut().read_to_vec()?);
        node_times.push(started.elapsed());
    }
    let client = cluster.node_client(0, Some(CLUSTER_CALLER));
    let proof = client
        .shipment_provenance(&ShipmentId::new(&shipment)?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(proof.events.len() == events, "the proof misses events");
    let encoded = proof.encode();
    let mut verify_times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let decoded = waybill_protocol::provenance::ProvenanceProof::decode(&encoded)?;
        decoded.verify(rules)?;
        verify_times.push(started.elapsed());
    }
    let event_bytes: usize = proof.events.iter().map(|e| e.event.encode().len()).sum();
    Ok(ProvenanceFigures {
        events,
        node: Latency::of(node_times),
        verify: Latency::of(verify_times),
        proof_bytes: encoded.len(),
        overhead_bytes: encoded.len().saturating_sub(event_bytes),
    })
}

/// A counter from a node's `/metrics` (0 if absent).
fn metric(cluster: &Cluster, node: usize, name: &str) -> f64 {
    cluster
        .metrics(node)
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

struct NodeUse {
    cpu_seconds: Vec<f64>,
    peak_rss_bytes: Vec<u64>,
}

fn node_cpu(cluster: &Cluster) -> Vec<f64> {
    (0..cluster.api.len())
        .map(|n| cluster.pid(n).and_then(cpu_seconds).unwrap_or(0.0))
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.validators >= 1, "--validators must be at least 1");
    ensure!(
        (1..=16).contains(&args.submitters),
        "--submitters must be between 1 and 16 (keys per organisation)"
    );
    ensure!(
        args.events >= args.submitters * LIFECYCLE_EVENTS,
        "--events must be at least {} (one lifecycle per submitter)",
        args.submitters * LIFECYCLE_EVENTS
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    eprintln!("starting {} validators…", args.validators);
    let mut cluster = Cluster::start_planned(ClusterPlan {
        keys_per_organisation: args.submitters,
        block_events_max: args.block_events_max,
        ..ClusterPlan::new(args.validators)
    });
    let block_events_max = cluster.testnet.genesis.consensus.block_events_max;
    let rules = ChainRules::new(cluster.testnet.genesis.clone())?;
    let mut lanes: Vec<Lane> = (0..args.submitters)
        .map(|i| Lane::new(&cluster, i as u16, 0))
        .collect();
    let shipments_full = args.events.div_ceil(args.submitters * LIFECYCLE_EVENTS);
    let shipments_half = shipments_full.div_ceil(2);
    eprintln!(
        "signing {} events…",
        (shipments_full + shipments_half) * args.submitters * LIFECYCLE_EVENTS
    );
    let full = load::sign_lifecycles(&mut lanes, "FULL", shipments_full);
    let half = load::sign_lifecycles(&mut lanes, "HALF", shipments_half);
    let full_events: usize = full.iter().map(Vec::len).sum();
    let half_events: usize = half.iter().map(Vec::len).sum();

    eprintln!("measuring the ceiling…");
    let sample_size = if args.quick { 500 } else { 10_000 };
    let sample: Vec<SignedEvent> = full.iter().flatten().take(sample_size).cloned().collect();
    let ceiling = measure_ceiling(&rules, &sample, args.quick)?;

    let commits = Commits::follow(&cluster);
    eprintln!(
        "full load: {full_events} events from {} submitters…",
        args.submitters
    );
    let cpu_before = node_cpu(&cluster);
    let saturation = run_phase(&cluster, &full, args.batch, None);
    ensure!(
        saturation.accepted.len() == full_events,
        "the API refused events at full load: {:?}",
        saturation.refused
    );
    commits
        .wait_for(&saturation.accepted, Duration::from_secs(1_800))
        .map_err(|missing| anyhow::anyhow!("{missing} accepted events never committed"))?;
    let busy = saturation.started.elapsed().as_secs_f64();
    let cpu_after = node_cpu(&cluster);
    let full_load = throughput(&commits, &saturation);
    let node_use = NodeUse {
        cpu_seconds: cpu_after
            .iter()
            .zip(&cpu_before)
            .map(|(a, b)| a - b)
            .collect(),
        peak_rss_bytes: (0..args.validators)
            .map(|n| cluster.pid(n).and_then(peak_rss_bytes).unwrap_or(0))
            .collect(),
    };

    let gossip_dropped: f64 = (0..args.validators)
        .map(|n| metric(&cluster, n, "waybill_gossip_messages_dropped_total"))
        .sum();
    // Events of compact proposals that were not in a validator's mempool when due.
    let proposal_events_fetched: f64 = (0..args.validators)
        .map(|n| metric(&cluster, n, "waybill_proposal_events_fetched_total"))
        .sum();
    let half_rate = full_load.sustained / 2.0;
    eprintln!("half load: {half_events} events at {half_rate:.0} events/s…");
    let paced = run_phase(
        &cluster,
        &half,
        args.batch.min(100),
        Some(half_rate / args.submitters as f64),
    );
    ensure!(
        paced.accepted.len() == half_events,
        "the API refused events at half load: {:?}",
        paced.refused
    );
    commits
        .wait_for(&paced.accepted, Duration::from_secs(1_800))
        .map_err(|missing| anyhow::anyhow!("{missing} accepted events never committed"))?;
    let half_load = throughput(&commits, &paced);

    eprintln!("provenance…");
    let rounds = if args.quick { 20 } else { 200 };
    let mut query_lane = Lane::new(&cluster, 0, 1_000_000_000);
    let provenance = [
        measure_provenance(&cluster, &rules, &commits, &mut query_lane, 10, rounds)?,
        measure_provenance(&cluster, &rules, &commits, &mut query_lane, 100, rounds)?,
    ];
    commits.stop();

    // Everything the chain holds, and what it rejected at execution.
    let tip = cluster
        .height(0)
        .context("node 0 does not answer /v1/status")?;
    let chain = load::read_chain(&load::agent(&cluster), &cluster.api[0], tip)
        .map_err(|e| anyhow::anyhow!(e))?
        .events;
    let per_block = BlockFill::of(&chain, block_events_max);
    let mut rejected: HashMap<String, usize> = HashMap::new();
    for (_, _, rejection) in &chain {
        if let Some(reason) = rejection {
            *rejected.entry(reason.clone()).or_default() += 1;
        }
    }
    let disk: Vec<u64> = (0..args.validators)
        .map(|n| disk_bytes(&cluster.data_dir(n)))
        .collect();
    let disk_per_event = disk.iter().sum::<u64>() as f64 / disk.len() as f64 / chain.len() as f64;

    eprintln!(
        "catch-up of an empty validator over {} events…",
        chain.len()
    );
    let last = args.validators - 1;
    cluster.stop(last);
    std::fs::remove_dir_all(cluster.data_dir(last))?;
    let started = Instant::now();
    cluster.start_node(last);
    let target = cluster.height(0).unwrap_or(tip).max(tip);
    let deadline = Instant::now() + Duration::from_secs(1_800);
    while cluster.height(last).unwrap_or(0) < target {
        if Instant::now() > deadline {
            bail!("the wiped validator did not catch up within 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let catch_up = started.elapsed();
    let catch_up_rate = chain.len() as f64 / catch_up.as_secs_f64();
    for node in 0..args.validators {
        cluster.stop(node);
    }

    let ratio = full_load.sustained / ceiling.signature_ceiling;
    let p100 = &provenance[1];
    let goals = vec![
        (
            "committed throughput ≥ 70 % of the signature ceiling",
            format!("{:.0} %", ratio * 100.0),
            ratio >= 0.70,
        ),
        (
            "commit latency p99 < 1 s at 50 % load",
            format!("{:.0} ms", ms(half_load.latency.p99)),
            half_load.latency.p99 < Duration::from_secs(1),
        ),
        (
            "100-event provenance p99 < 5 ms at the node",
            format!("{:.2} ms", ms(p100.node.p99)),
            p100.node.p99 < Duration::from_millis(5),
        ),
        (
            "100-event client verification < 5 ms",
            format!("{:.2} ms (p50)", ms(p100.verify.p50)),
            p100.verify.p50 < Duration::from_millis(5),
        ),
        (
            "100-event proof overhead < 4 KiB",
            format!("{} B", p100.overhead_bytes),
            p100.overhead_bytes < 4_096,
        ),
        (
            "catch-up ≥ 20,000 events/s",
            format!("{catch_up_rate:.0} events/s"),
            catch_up_rate >= 20_000.0,
        ),
    ];

    let report = json!({
        "machine": {"cores": ceiling.cores, "validators": args.validators, "submitters": args.submitters, "batch": args.batch, "quick": args.quick},
        "ceiling": {
            "verify_strict_per_s_one_core": ceiling.verify_per_s,
            "verify_strict_per_s_all_cores_together": ceiling.verify_all_cores_per_s,
            "sign_per_s_one_core": ceiling.sign_per_s,
            "sha256_mb_per_s_one_core": ceiling.sha256_mb_per_s,
            "rocksdb_synced_batched_puts_per_s": ceiling.rocksdb_batched_puts_per_s,
            "rocksdb_synced_lone_puts_per_s": ceiling.rocksdb_lone_puts_per_s,
            "signature_ceiling_events_per_s": ceiling.signature_ceiling,
        },
        "full_load": {
            "events": full_events,
            "accepted_by_api_after_s": saturation.accepted_after.as_secs_f64(),
            "retries_after_503": saturation.retries,
            "committed_per_s_whole_run": full_load.whole,
            "committed_per_s_sustained": full_load.sustained,
            "ratio_to_ceiling": ratio,
            "latency": full_load.latency.json(),
            "node_cpu_seconds": node_use.cpu_seconds,
            "node_cpu_share_of_machine": node_use.cpu_seconds.iter().sum::<f64>() / (busy * ceiling.cores as f64),
            "node_peak_rss_bytes": node_use.peak_rss_bytes,
            "gossip_messages_dropped": gossip_dropped,
            "proposal_events_fetched": proposal_events_fetched,
        },
        "half_load": {
            "events": half_events,
            "offered_per_s": half_rate,
            "committed_per_s_sustained": half_load.sustained,
            "latency": half_load.latency.json(),
        },
        "chain": {
            "height": tip,
            "events": chain.len(),
            "rejected_at_execution": rejected,
            "events_per_block": per_block.json(),
            "disk_bytes_per_node": disk,
            "disk_bytes_per_event": disk_per_event,
        },
        "provenance": provenance.iter().map(|p| json!({
            "events": p.events,
            "node_latency": p.node.json(),
            "client_verify": p.verify.json(),
            "proof_bytes": p.proof_bytes,
            "proof_overhead_bytes": p.overhead_bytes,
        })).collect::<Vec<_>>(),
        "catch_up": {"events": chain.len(), "seconds": catch_up.as_secs_f64(), "events_per_s": catch_up_rate},
        "goals": goals.iter().map(|(goal, measured, met)| json!({"goal": goal, "measured": measured, "met": met})).collect::<Vec<_>>(),
    });

    let mut md = String::new();
    let mut row = |measure: &str, value: String| {
        md.push_str(&format!("| {measure} | {value} |\n"));
    };
    row(
        "cores, validators, submitters",
        format!(
            "{}, {}, {}",
            ceiling.cores, args.validators, args.submitters
        ),
    );
    row(
        "verify_strict, one core",
        format!("{:.0} /s", ceiling.verify_per_s),
    );
    row(
        "verify_strict, all cores at once",
        format!(
            "{:.0} /s ({:.2} × one core)",
            ceiling.verify_all_cores_per_s,
            ceiling.verify_all_cores_per_s / ceiling.verify_per_s
        ),
    );
    row("sign, one core", format!("{:.0} /s", ceiling.sign_per_s));
    row(
        "SHA-256, one core",
        format!("{:.0} MB/s", ceiling.sha256_mb_per_s),
    );
    row(
        "RocksDB synced batches of 1,000 puts",
        format!("{:.0} puts/s", ceiling.rocksdb_batched_puts_per_s),
    );
    row(
        "RocksDB lone synced puts",
        format!("{:.0} /s", ceiling.rocksdb_lone_puts_per_s),
    );
    row(
        "**signature ceiling** (cores × verify / validators)",
        format!("**{:.0} events/s**", ceiling.signature_ceiling),
    );
    row(
        "full load: events, accepted by the API after",
        format!(
            "{full_events}, {:.1} s ({} retries after 503)",
            saturation.accepted_after.as_secs_f64(),
            saturation.retries
        ),
    );
    row(
        "full load: committed, whole run",
        format!(
            "{:.0} events/s ({:.0} % of the ceiling)",
            full_load.whole,
            100.0 * full_load.whole / ceiling.signature_ceiling
        ),
    );
    row(
        "**full load: committed, sustained (first block to last)**",
        format!(
            "**{:.0} events/s ({:.0} % of the ceiling)**",
            full_load.sustained,
            ratio * 100.0
        ),
    );
    row(
        "full load: submit → commit p50 / p95 / p99 / max",
        full_load.latency.text(0),
    );
    row(
        "full load: node CPU seconds (share of the machine)",
        format!(
            "{} ({:.0} %)",
            node_use
                .cpu_seconds
                .iter()
                .map(|c| format!("{c:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            100.0 * node_use.cpu_seconds.iter().sum::<f64>() / (busy * ceiling.cores as f64)
        ),
    );
    row(
        "node peak RSS",
        node_use
            .peak_rss_bytes
            .iter()
            .map(|b| format!("{:.0} MiB", *b as f64 / 1048576.0))
            .collect::<Vec<_>>()
            .join(", "),
    );
    row(
        "full load: proposal events fetched from the proposer (all nodes)",
        format!("{proposal_events_fetched:.0}"),
    );
    row(
        "half load: offered",
        format!("{half_rate:.0} events/s, {half_events} events"),
    );
    row(
        "**half load: submit → commit p50 / p95 / p99 / max**",
        format!("**{}**", half_load.latency.text(0)),
    );
    row(
        "chain: height, events, rejected at execution",
        format!("{tip}, {}, {:?}", chain.len(), rejected),
    );
    row(
        "events per block with events: p50 / p90 / max (cap), full blocks",
        per_block.text(),
    );
    row(
        "disk per event (data dir / events, average node)",
        format!("{disk_per_event:.0} B"),
    );
    for p in &provenance {
        row(
            &format!(
                "provenance, {} events: node p50 / p95 / p99 / max",
                p.events
            ),
            p.node.text(2),
        );
        row(
            &format!("provenance, {} events: client verify p50 / p99", p.events),
            format!("{:.2} / {:.2} ms", ms(p.verify.p50), ms(p.verify.p99)),
        );
        row(
            &format!(
                "provenance, {} events: proof size, overhead over the events",
                p.events
            ),
            format!("{} B, {} B", p.proof_bytes, p.overhead_bytes),
        );
    }
    row(
        "**catch-up** of a wiped validator",
        format!(
            "**{catch_up_rate:.0} events/s** ({} events in {:.1} s, process start included)",
            chain.len(),
            catch_up.as_secs_f64()
        ),
    );
    let mut summary = String::from("# Waybill benchmark\n\n| measure | value |\n|---|---|\n");
    summary.push_str(&md);
    summary.push_str("\n| goal | measured | met |\n|---|---|---|\n");
    for (goal, measured, met) in &goals {
        summary.push_str(&format!(
            "| {goal} | {measured} | {} |\n",
            if *met { "yes" } else { "**no**" }
        ));
    }
    print!("{summary}");
    std::fs::write(args.out.join("summary.md"), &summary)?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    eprintln!(
        "wrote {} and {}",
        args.out.join("report.json").display(),
        args.out.join("summary.md").display()
    );
    Ok(())
}
