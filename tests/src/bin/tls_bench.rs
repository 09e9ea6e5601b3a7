//! What TLS and caller authentication cost the API: provenance of a 10-event shipment from one
//! node, asked over TLS 1.3 with a client certificate and over plain HTTP (`insecure_http`),
//! each on one reused connection and on a fresh connection per request, in one run. Prints a
//! table; timings are for comparison within the run only.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Parser;
use waybill_tests::cluster::{CLUSTER_CALLER, Cluster, node_binary};
use waybill_tests::load::Lane;

#[derive(Parser)]
struct Args {
    /// Requests per measurement.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
}

/// A node process started here (the plain-HTTP phase), killed when dropped.
struct Plain(Child);

impl Drop for Plain {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cluster = Cluster::start(1);
    let mut lane = Lane::new(&cluster, 0, 0);
    let events = lane.long_history("TLS-BENCH", 10);
    for event in &events {
        let answer = cluster.submit(0, event);
        ensure!(answer.status == 202, "submit: {:?}", answer.body);
    }
    let last = events.last().context("events")?.body.id().to_hex();
    cluster.wait_until(Duration::from_secs(60), "the shipment", |c| {
        c.committed_on(0, &last)
    });
    let path = "/v1/shipments/TLS-BENCH/provenance";
    let tls_url = format!("{}{path}", cluster.api[0]);
    // One client configuration (its certificate made once); the fresh case keeps no idle
    // connection, so every request pays a full handshake.
    let tls_agent = |pooled: bool| {
        let connector = waybill_client::tls::PinnedTlsConnector::for_network(
            &cluster.testnet.genesis,
            Some(cluster.keypair(CLUSTER_CALLER)),
        )
        .expect("client TLS configuration");
        waybill_client::tls::agent(agent_config(pooled), connector)
    };
    let (reused, fresh) = (tls_agent(true), tls_agent(false));
    let tls = (
        measure(args.requests, &reused, &tls_url)?,
        measure(args.requests, &fresh, &tls_url)?,
    );

    // The same node, its API as plain HTTP.
    cluster.stop(0);
    let config_path = cluster.testnet.config_paths[0].clone();
    let config = std::fs::read_to_string(&config_path)?;
    std::fs::write(&config_path, format!("{config}insecure_http = true\n"))?;
    let _node = Plain(
        Command::new(node_binary())
            .args(["run", "--config"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let plain_url = tls_url.replacen("https://", "http://", 1);
    let plain_agent = |pooled: bool| -> ureq::Agent { agent_config(pooled).into() };
    let started = Instant::now();
    let up = |url: &str| {
        plain_agent(true)
            .get(url)
            .call()
            .is_ok_and(|r| r.status() == 200)
    };
    while !up(&plain_url) {
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the plain node did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let plain = (
        measure(args.requests, &plain_agent(true), &plain_url)?,
        measure(args.requests, &plain_agent(false), &plain_url)?,
    );
    println!("| provenance, 10 events, one node | reused connection | fresh connection each |");
    println!("|---|---|---|");
    for (name, (reused, fresh)) in [("TLS 1.3 + client certificate", tls), ("plain HTTP", plain)] {
        println!(
            "| {name} | {:.0} req/s ({:.2} ms) | {:.0} req/s ({:.2} ms) |",
            reused.0, reused.1, fresh.0, fresh.1
        );
    }
    println!(
        "handshake (TLS fresh − TLS reused): {:.2} ms; TLS on a reused connection costs {:.0} % of plain's rate",
        tls.1.1 - tls.0.1,
        100.0 * (1.0 - tls.0.0 / plain.0.0)
    );
    Ok(())
}

/// An agent that keeps connections for reuse, or keeps none (a new connection per request).
fn agent_config(pooled: bool) -> ureq::config::Config {
    let builder = ureq::Agent::config_builder().http_status_as_error(false);
    match pooled {
        true => builder.build(),
        false => builder.max_idle_connections_per_host(0).build(),
    }
}

/// Requests per second and mean milliseconds per request.
fn measure(requests: usize, agent: &ureq::Agent, url: &str) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    for _ in 0..requests {
        let mut response = agent.get(url).call()?;
        ensure!(response.status() == 200, "{url}: {}", response.status());
        std::hint::black_box(response.body_mut().read_to_vec()?);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((
        requests as f64 / seconds,
        1_000.0 * seconds / requests as f64,
    ))
}
