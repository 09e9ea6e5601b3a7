//! Crash atomicity: a writer process is killed with SIGKILL at random moments, 50 times, on the
//! same data directory. After each kill the ledger opens at a block boundary, holds every block
//! whose commit had returned, and `verify-chain` passes.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use waybill_node::ledger::verify::verify_chain;
use waybill_tests::open_ledger;

const KILLS: u64 = 50;

#[test]
fn kill_9_at_random_points_leaves_whole_blocks_and_loses_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed-seed generator: the same kill schedule on every run.
    let mut seed: u64 = 0x5eed_cafe;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let mut heights_seen = Vec::new();
    for kill in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_waybill-ledger-writer"))
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| line.trim().parse::<u64>().ok())
                .last()
        });
        std::thread::sleep(Duration::from_millis(30 + next() % 200));
        child.kill().unwrap();
        child.wait().unwrap();
        let last_reported = reader.join().unwrap();

        let ledger =
            open_ledger(dir.path()).unwrap_or_else(|e| panic!("kill {kill}: reopen failed: {e}"));
        let height = ledger.tip().height;
        if let Some(reported) = last_reported {
            assert!(
                height >= reported,
                "kill {kill}: committed height {reported} was reported but the ledger is at {height}"
            );
        }
        let report =
            verify_chain(&ledger, |_| {}).unwrap_or_else(|fault| panic!("kill {kill}: {fault}"));
        assert_eq!(report.blocks, height);
        heights_seen.push(height);
    }
    // The writer made progress across the kills (the test exercised real commits).
    assert!(heights_seen.last().unwrap() > &KILLS, "{heights_seen:?}");
}
