//! House rules that a reader would otherwise have to check by hand.
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// The protocol crate is the pure core shared by node and client: no async runtime, no
/// networking, no database may enter its dependency tree.
#[test]
fn protocol_crate_pulls_no_runtime_network_or_database() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "waybill-protocol",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    assert!(tree.contains("waybill-protocol"), "{tree}");
    for forbidden in ["tokio", "libp2p", "rocksdb", "mio ", "hyper", "axum"] {
        assert!(
            !tree.lines().any(|line| line.starts_with(forbidden)),
            "waybill-protocol depends on {forbidden}:\n{tree}"
        );
    }
}
