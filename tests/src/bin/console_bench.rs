//! `waybill-console-bench`: how fast the console shows an officer what they asked for, measured
//! in the headless browser the tests use, on a 4-node cluster of this machine.
//!
//! 1. `--consignments` declarations (1,000), each to its own consignee, and one shipment of
//!    `--events` events (100), submitted over the batch API and committed.
//! 2. A customs console starts; the time until every line of its index is verified is reported.
//! 3. The work list and the long shipment's page are each loaded `--loads` times (20): the
//!    browser's navigation timing (first byte, DOM ready, load) and its first contentful paint,
//!    as medians and the worst.
//!
//! Prints a table and writes `summary.md` and `report.json` to `--out`. Nothing fails on a
//! slow figure; only on a console or cluster that does not work.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use serde_json::{Value, json};
use waybill_protocol::event::SignedEvent;
use waybill_tests::browser::{Browser, ConsoleProcess};
use waybill_tests::cluster::Cluster;
use waybill_tests::load::{self, Lane};

#[derive(Debug, Parser)]
#[command(about = "The console's time to first render, in headless Chromium")]
struct Args {
    /// Consignments awaiting a decision on the work list.
    #[arg(long, default_value_t = 1_000)]
    consignments: usize,
    /// Events of the one long shipment whose page is loaded.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// Loads of each page.
    #[arg(long, default_value_t = 20)]
    loads: usize,
    /// Where summary.md, report.json and the screenshots go.
    #[arg(long, default_value = "target/bench-console")]
    out: PathBuf,
}

/// What the browser measured of one page load, in milliseconds from navigation start.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Load {
    first_byte_ms: f64,
    first_paint_ms: f64,
    dom_ready_ms: f64,
    loaded_ms: f64,
}

/// The navigation timing and first contentful paint of the page just loaded.
const TIMING: &str = "const n = performance.getEntriesByType('navigation')[0];\
 const p = performance.getEntriesByName('first-contentful-paint')[0];\
 return { first_byte: n.responseStart, dom_ready: n.domContentLoadedEventEnd,\
 loaded: n.loadEventEnd, paint: p ? p.startTime : null };";

fn number(value: &Value, field: &str) -> Result<f64> {
    value[field]
        .as_f64()
        .with_context(|| format!("the browser gave no {field}: {value}"))
}

fn measure(browser: &Browser, path: &str, ready: &str, loads: usize) -> Result<Vec<Load>> {
    let mut samples = Vec::with_capacity(loads);
    for _ in 0..loads {
        browser.goto(path);
        browser.find(ready);
        // loadEventEnd is set once the load handlers returned.
        let mut timing = browser.script(TIMING);
        for _ in 0..50 {
            if timing["loaded"].as_f64().is_some_and(|ms| ms > 0.0) && timing["paint"].is_f64() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            timing = browser.script(TIMING);
        }
        samples.push(Load {
            first_byte_ms: number(&timing, "first_byte")?,
            first_paint_ms: number(&timing, "paint")?,
            dom_ready_ms: number(&timing, "dom_ready")?,
            loaded_ms: number(&timing, "loaded")?,
        });
    }
    Ok(samples)
}

fn median_and_max(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    };
    (median, values.last().copied().unwrap_or(0.0))
}

/// The consignments and the long shipment, signed by one submitter.
fn sign_load(cluster: &Cluster, args: &Args) -> Vec<SignedEvent> {
    let mut lane = Lane::new(cluster, 0, 0);
    let mut events: Vec<SignedEvent> = (0..args.consignments)
        .map(|i| {
            let mut declaration = waybill_protocol::fixtures::declaration();
            declaration.consignee.name =
                waybill_protocol::PartyName::new(format!("Consignee {i}")).expect("name");
            let kind = waybill_tests::file_declaration(&declaration);
            lane.sign("platform", &format!("CONS-{i:04}"), kind)
        })
        .collect();
    events.extend(lane.long_history("LONG-1", args.events));
    events
}

/// The console's own account of its index: (known, being verified).
fn index_state(console: &str) -> Option<(usize, usize)> {
    let page = ureq::get(format!("{console}/"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    let note = page.split("<p class=\"follow\">").nth(1)?;
    let known = note
        .split(" consignment(s) known, ")
        .next()?
        .rsplit(' ')
        .next()?;
    let pending = note
        .split(" consignment(s) known, ")
        .nth(1)?
        .split(' ')
        .next()?;
    Some((known.parse().ok()?, pending.parse().ok()?))
}

fn run(args: &Args) -> Result<Value> {
    std::fs::create_dir_all(&args.out)?;
    let cluster = Cluster::start(4);
    let events = sign_load(&cluster, args);
    let last = events.last().context("no events")?.body.id().to_string();
    let stop = AtomicBool::new(false);
    let submitted = load::submit(
        &load::agent(&cluster),
        &cluster.api,
        &events,
        250,
        None,
        |_| 0,
        &stop,
    );
    ensure!(
        submitted.refused.is_empty(),
        "refused: {:?}",
        submitted.refused
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while !cluster.committed_on(0, &last) {
        ensure!(
            Instant::now() < deadline,
            "the load did not commit in 300 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let started = Instant::now();
    let console = ConsoleProcess::start(&cluster, "customs", &cluster.api[0], &[]);
    let listed = args.consignments + 1;
    loop {
        if let Some((known, 0)) = index_state(&console.url)
            && known >= listed
        {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(1_800),
            "the console did not verify its index in 30 min: {:?}",
            index_state(&console.url)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let indexed = started.elapsed();

    let browser = Browser::start(&console.url, &args.out, "UTC");
    let worklist = measure(&browser, "/", "#work tbody tr", args.loads)?;
    let rows = browser.count("#work tbody tr");
    browser.screenshot("worklist");
    let shipment = measure(&browser, "/shipments/LONG-1", ".banner", args.loads)?;
    let timeline = browser.count("section[aria-labelledby=timeline] tbody tr");
    browser.screenshot("shipment");
    ensure!(
        rows == listed,
        "the work list shows {rows} of {listed} rows"
    );
    ensure!(
        timeline == args.events,
        "the page shows {timeline} of {} events",
        args.events
    );
    Ok(json!({
        "consignments": args.consignments,
        "events": args.events,
        "loads": args.loads,
        "index_verified_s": indexed.as_secs_f64(),
        "worklist": worklist,
        "shipment": shipment,
    }))
}

fn table(report: &Value) -> String {
    let mut out = format!(
        "console: {} consignments verified into the work list in {:.1} s (2 workers)\n\n\
| page | loads | first byte ms (median / max) | first contentful paint ms | DOM ready ms | load ms |\n|---|---|---|---|---|---|\n",
        report["consignments"],
        report["index_verified_s"].as_f64().unwrap_or(0.0)
    );
    let pages = [
        (
            "worklist",
            format!(
                "work list, {} rows",
                report["consignments"].as_u64().unwrap_or(0) + 1
            ),
        ),
        (
            "shipment",
            format!("shipment page, {} events", report["events"]),
        ),
    ];
    for (key, label) in pages {
        let column = |field: &str| {
            let values = report[key]
                .as_array()
                .map(|loads| loads.iter().filter_map(|l| l[field].as_f64()).collect())
                .unwrap_or_default();
            let (median, max) = median_and_max(values);
            format!("{median:.0} / {max:.0}")
        };
        out.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} |\n",
            report["loads"],
            column("first_byte_ms"),
            column("first_paint_ms"),
            column("dom_ready_ms"),
            column("loaded_ms"),
        ));
    }
    out
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
