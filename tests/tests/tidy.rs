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

/// The consensus core lives in `node` (which links RocksDB, and will link tokio and libp2p), so
/// its purity is checked on its sources: no runtime, network, database, clock, file system or
/// randomness may be named there.
#[test]
fn consensus_core_names_no_runtime_io_clock_or_randomness() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/src/consensus");
    let forbidden = [
        "tokio",
        "libp2p",
        "rocksdb",
        "std::time",
        "Instant",
        "SystemTime",
        "std::fs",
        "std::net",
        "rand::",
        "getrandom",
        "thread_rng",
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            for word in forbidden {
                assert!(!source.contains(word), "{} names {word}", path.display());
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected the consensus module's files in {}",
        dir.display()
    );
}
