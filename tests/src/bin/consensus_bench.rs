//! Consensus benchmark (issue 4): decided heights per second of CPU spent inside the nodes'
//! consensus drivers (state machine, double-sign guard, WAL records, the simulated host's
//! bookkeeping, signing and the check of our own messages), n = 4, no faults; the signature
//! check of received messages at each node's boundary is outside that figure but in the wall
//! time; and the simulated message delays per height. Usage: waybill-consensus-bench [HEIGHTS]

use std::time::Instant;

use waybill_tests::simulation::{Links, Simulation};

fn main() {
    let heights: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut simulation = Simulation::new(4, 1, Links::PERFECT);
    let wall = Instant::now();
    let reached = simulation
        .run_until_height(heights, u64::MAX)
        .expect("no safety violation");
    assert!(reached, "did not reach height {heights}");
    let wall = wall.elapsed();
    let machines = simulation.apply_time;
    println!(
        "| n | heights | drivers (CPU) | heights/s (drivers) | whole simulation | virtual ms/height |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| 4 | {heights} | {:.3} s | {:.0} | {:.2} s (signing, network, digest included) | {:.1} |",
        machines.as_secs_f64(),
        heights as f64 / machines.as_secs_f64(),
        wall.as_secs_f64(),
        simulation.now_ms() as f64 / heights as f64
    );
}
