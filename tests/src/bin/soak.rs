//! `waybill-soak`: a bounded crash soak. A 4-validator network runs under steady load while a
//! chaos loop `kill -9`s a random validator at random moments and restarts it, and now and then
//! kills two at once (the network loses quorum until one is back). Every event id the API
//! accepted (202, or its id in a 207) is tracked. At the end every node is up again and the
//! soak checks that each accepted event is on the chain exactly once, applied or rejected with
//! a reason; that all nodes hold identical chains; and that `verify-chain` passes on each
//! stopped node. Exit 0 only if all of that holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use waybill_tests::cluster::Cluster;
use waybill_tests::load::{self, LIFECYCLE_EVENTS, Lane};

#[derive(Debug, Parser)]
#[command(about = "Crash soak: steady load, random kill -9s and restarts, nothing accepted lost")]
struct Args {
    /// How long the load and the chaos run, in minutes.
    #[arg(long, default_value_t = 10, conflicts_with = "seconds")]
    minutes: u64,
    /// The same in seconds (the test suite's short run).
    #[arg(long)]
    seconds: Option<u64>,
    /// Offered load, events per second, over all submitters.
    #[arg(long, default_value_t = 400)]
    rate: u64,
    /// Concurrent submitters, each with its own keys and its own home node.
    #[arg(long, default_value_t = 2)]
    submitters: usize,
    /// Pause between chaos actions: at least this many milliseconds…
    #[arg(long, default_value_t = 2_000)]
    pause_min_ms: u64,
    /// …and at most this many.
    #[arg(long, default_value_t = 7_000)]
    pause_max_ms: u64,
    /// Seed of the chaos schedule (default: from the clock; printed so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
}

const VALIDATORS: usize = 4;

/// xorshift64*: the chaos schedule only needs to be varied and repeatable from its seed.
struct Schedule(u64);

impl Schedule {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1).max(1)
    }
}

#[derive(Debug, Default)]
struct Chaos {
    kills: usize,
    double_kills: usize,
    restarts: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let duration = Duration::from_secs(args.seconds.unwrap_or(args.minutes * 60));
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    if !(1..=16).contains(&args.submitters) {
        bail!("--submitters must be between 1 and 16");
    }
    if args.pause_min_ms > args.pause_max_ms {
        bail!("--pause-min-ms is above --pause-max-ms");
    }
    eprintln!(
        "soak: {VALIDATORS} validators, {} s, {} events/s from {} submitters, seed {seed}",
        duration.as_secs(),
        args.rate,
        args.submitters
    );
    let mut cluster = Cluster::start_with_keys(VALIDATORS, args.submitters);
    let api = cluster.api.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted: Arc<Mutex<HashMap<String, usize>>> = Arc::new(Mutex::new(HashMap::new()));
    let refused: Arc<Mutex<BTreeMap<String, usize>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let signed = Arc::new(AtomicUsize::new(0));

    // Steady load: each submitter signs lifecycles as it goes and sends them in batches of five
    // shipments to its home node, or the next live one when that does not answer.
    let per_lane = args.rate as f64 / args.submitters as f64;
    let submitters: Vec<_> = (0..args.submitters)
        .map(|index| {
            let mut lane = Lane::new(&cluster, index as u16, 0);
            let agent = load::agent(&cluster);
            let (api, stop, accepted, refused, signed) = (
                api.clone(),
                stop.clone(),
                accepted.clone(),
                refused.clone(),
                signed.clone(),
            );
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut sent = 0usize;
                let mut shipment = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let due = started + Duration::from_secs_f64(sent as f64 / per_lane);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let mut batch = Vec::with_capacity(5 * LIFECYCLE_EVENTS);
                    for _ in 0..5 {
                        batch.extend(lane.lifecycle(&format!("SOAK-{index}-{shipment}")));
                        shipment += 1;
                    }
                    signed.fetch_add(batch.len(), Ordering::Relaxed);
                    let result = load::submit(
                        &agent,
                        &api,
                        &batch,
                        batch.len(),
                        None,
                        |attempt| (index + attempt) % VALIDATORS,
                        &stop,
                    );
                    let mut map = accepted.lock().expect("accepted lock");
                    for (id, (_, node)) in result.accepted {
                        map.insert(id, node);
                    }
                    let mut refusals = refused.lock().expect("refused lock");
                    for (code, count) in result.refused {
                        *refusals.entry(code).or_default() += count;
                    }
                    sent += batch.len();
                }
            })
        })
        .collect();

    // Chaos.
    let mut schedule = Schedule(seed);
    let mut chaos = Chaos::default();
    let started = Instant::now();
    while started.elapsed() < duration {
        let pause = schedule.between(args.pause_min_ms, args.pause_max_ms);
        std::thread::sleep(Duration::from_millis(pause));
        let first = schedule.between(0, VALIDATORS as u64 - 1) as usize;
        let mut victims = vec![first];
        if schedule.between(0, 4) == 0 {
            victims.push((first + 1 + schedule.between(0, 2) as usize) % VALIDATORS);
            chaos.double_kills += 1;
        }
        for &node in &victims {
            cluster.kill(node);
            chaos.kills += 1;
        }
        eprintln!(
            "[{:>5.1} s] kill -9 {victims:?} (kills {}, accepted {})",
            started.elapsed().as_secs_f64(),
            chaos.kills,
            accepted.lock().expect("accepted lock").len()
        );
        std::thread::sleep(Duration::from_millis(schedule.between(300, 4_000)));
        for &node in &victims {
            cluster.start_node(node);
            chaos.restarts += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for submitter in submitters {
        let _ = submitter.join();
    }
    let accepted = accepted.lock().expect("accepted lock").clone();
    eprintln!(
        "load stopped after {:.0} s: {} accepted; waiting for every one to commit…",
        started.elapsed().as_secs_f64(),
        accepted.len()
    );

    // Every accepted event on node 0's chain, read as it grows.
    let agent = load::agent(&cluster);
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut chain = load::ChainRead::default();
    loop {
        let tip = cluster.height(0).unwrap_or(0);
        load::extend_chain(&mut chain, &agent, &api[0], tip).map_err(|e| anyhow::anyhow!(e))?;
        let on_chain: std::collections::HashSet<&str> =
            chain.events.iter().map(|(_, id, _)| id.as_str()).collect();
        let missing = accepted
            .keys()
            .filter(|id| !on_chain.contains(id.as_str()))
            .count();
        if missing == 0 || Instant::now() > deadline {
            break;
        }
        eprintln!("{missing} accepted events not yet on the chain at height {tip}");
        std::thread::sleep(Duration::from_secs(3));
    }

    // Exactly once, applied or rejected with a reason.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (_, id, rejection) in &chain.events {
        *seen.entry(id.as_str()).or_default() += 1;
        if let Some(reason) = rejection {
            if accepted.contains_key(id) {
                *reasons.entry(reason.clone()).or_default() += 1;
            }
        }
    }
    let lost: Vec<&String> = accepted
        .keys()
        .filter(|id| !seen.contains_key(id.as_str()))
        .collect();
    let duplicated = seen.values().filter(|count| **count > 1).count();
    let applied = accepted.len() - lost.len() - reasons.values().sum::<usize>();

    // Identical chains up to the lowest tip (node 0's chain as read above may be shorter).
    let tips: Vec<u64> = (0..VALIDATORS)
        .map(|n| cluster.height(n).unwrap_or(0))
        .collect();
    let common = tips
        .iter()
        .copied()
        .min()
        .unwrap_or(0)
        .min(chain.hashes.len() as u64);
    let reference = &chain.hashes[..common as usize];
    let mut identical = true;
    for (node, url) in api.iter().enumerate().skip(1) {
        let other = load::read_chain(&agent, url, common).map_err(|e| anyhow::anyhow!(e))?;
        if let Some(height) =
            (0..reference.len()).find(|&i| other.hashes.get(i) != Some(&reference[i]))
        {
            eprintln!("node {node}'s block {} differs from node 0's", height + 1);
            identical = false;
        }
    }
    let mut verified = 0;
    for node in 0..VALIDATORS {
        cluster.stop(node);
        let output = cluster.verify_chain(node);
        if output.status.success() {
            verified += 1;
        } else {
            eprintln!(
                "verify-chain on node {node}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    let refused = refused.lock().expect("refused lock").clone();
    println!("| soak | value |");
    println!("|---|---|");
    println!("| seed | {seed} |");
    println!("| duration under chaos | {:.0} s |", duration.as_secs_f64());
    println!(
        "| kills (kill -9), of which two at once | {}, {} |",
        chaos.kills, chaos.double_kills
    );
    println!("| restarts | {} |", chaos.restarts);
    println!(
        "| events signed, accepted by the API | {}, {} |",
        signed.load(Ordering::Relaxed),
        accepted.len()
    );
    println!("| refused by the API (not accepted) | {refused:?} |");
    println!("| accepted and applied | {applied} |");
    println!("| accepted and rejected at execution, by reason | {reasons:?} |");
    println!(
        "| **lost** (accepted, not on the chain) | **{}** |",
        lost.len()
    );
    println!("| **duplicated** (on the chain twice) | **{duplicated}** |");
    println!("| chain height, tips | {}, {tips:?} |", chain.hashes.len());
    println!(
        "| identical chains up to {common} | {} |",
        if identical { "yes" } else { "**no**" }
    );
    println!("| verify-chain passed | {verified} of {VALIDATORS} |");
    if !lost.is_empty() || duplicated > 0 || !identical || verified != VALIDATORS {
        for id in lost.iter().take(10) {
            eprintln!("lost: {id}");
        }
        bail!("the soak failed: see the table");
    }
    Ok(())
}
