//! The benchmark and the crash soak at CI size (seconds, not minutes), so neither can rot. The
//! full runs are `scripts/bench.sh` and `scripts/soak.sh`; figures are never asserted here.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;
use waybill_tests::cluster::workspace_binary;

#[test]
fn the_benchmark_runs_every_phase_and_writes_its_report() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(workspace_binary("waybill-bench"))
        .args(["--events", "900", "--submitters", "2", "--quick", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "waybill-bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert!(
        report["ceiling"]["signature_ceiling_events_per_s"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(report["full_load"]["events"], 900, "{report}");
    assert!(
        report["full_load"]["committed_per_s_sustained"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(report["half_load"]["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    let provenance = report["provenance"].as_array().unwrap();
    assert_eq!(provenance.len(), 2);
    assert_eq!(provenance[1]["events"], 100);
    assert!(report["catch_up"]["events_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(report["goals"].as_array().unwrap().len(), 6);
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary.contains("signature ceiling") && summary.contains("| goal |"));
    assert!(stdout.contains("catch-up"));
}

#[test]
fn the_crash_soak_loses_nothing_in_a_short_run() {
    let run = Command::new(workspace_binary("waybill-soak"))
        .args(["--seconds", "15", "--rate", "200", "--pause-min-ms", "1000"])
        .args(["--pause-max-ms", "3000", "--seed", "7"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "waybill-soak failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("| **lost** (accepted, not on the chain) | **0** |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| **duplicated** (on the chain twice) | **0** |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| verify-chain passed | 4 of 4 |"),
        "{stdout}"
    );
    let kills = stdout
        .lines()
        .find_map(|l| l.strip_prefix("| kills (kill -9), of which two at once | "))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap();
    assert!(kills >= 3, "{stdout}");
}
