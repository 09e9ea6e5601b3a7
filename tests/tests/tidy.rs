//! House rules that a reader would otherwise have to check by hand.
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// The dependency tree of `package`'s normal dependencies, one package per line.
fn dependency_tree(package: &str) -> String {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
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
    String::from_utf8(output.stdout).unwrap()
}

/// What neither pure crate may depend on: an async runtime, networking, a database, HTTP.
const IMPURE: [&str; 7] = [
    "tokio",
    "libp2p",
    "rocksdb",
    "librocksdb-sys",
    "mio ",
    "hyper",
    "axum",
];

/// The protocol crate is the pure core shared by node and client, and the consensus crate and
/// its simulation are pure too, so they build and are tested without RocksDB's C++: no async
/// runtime, networking, database or HTTP may enter their dependency trees.
#[test]
fn protocol_consensus_and_simulation_crates_pull_no_runtime_network_or_database() {
    for package in [
        "waybill-protocol",
        "waybill-consensus",
        "waybill-simulation",
    ] {
        let tree = dependency_tree(package);
        assert!(tree.contains("waybill-protocol"), "{tree}");
        for forbidden in IMPURE {
            assert!(
                !tree.lines().any(|line| line.starts_with(forbidden)),
                "{package} depends on {forbidden}:\n{tree}"
            );
        }
    }
}

/// The consensus core and its driver read no clock, file system, network or randomness: time
/// is an input and storage a trait. Only `wal_file.rs`, the WAL's file, touches the disk.
#[test]
fn consensus_core_names_no_runtime_io_clock_or_randomness() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../consensus/src");
    let forbidden = [
        "tokio",
        "libp2p",
        "rocksdb",
        "std::time",
        "Instant",
        "SystemTime",
        "std::fs",
        "std::net",
        "std::io",
        "std::thread",
        "rand::",
        "getrandom",
        "thread_rng",
    ];
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.extension().is_some_and(|e| e == "rs") && name != "wal_file.rs" {
            let source = std::fs::read_to_string(&path).unwrap();
            for word in forbidden {
                assert!(!source.contains(word), "{} names {word}", path.display());
            }
            checked.push(name);
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "driver.rs",
            "lib.rs",
            "signer.rs",
            "state_machine.rs",
            "storage.rs",
            "wal.rs"
        ],
        "the consensus crate's pure modules in {}",
        dir.display()
    );
}

/// The durable sequence (sign through the guard, append the signed message to the WAL) is
/// written once, in the consensus driver: neither the node's engine nor the simulation has a
/// copy of it. (Byzantine hosts in the simulation sign twins with `Vote::sign` on purpose.)
#[test]
fn the_driver_is_the_only_caller_of_sign_and_wal_append() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let durable_steps = [
        ".sign_vote(",
        ".sign_proposal(",
        ".append(&WalEntry::Signed(",
    ];
    let mut callers = Vec::new();
    let mut stack = vec![
        root.join("node/src"),
        root.join("tests/src"),
        root.join("simulation/src"),
        root.join("consensus/src"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                for step in durable_steps {
                    if source.contains(step) {
                        let file = path.strip_prefix(&root).unwrap().display().to_string();
                        callers.push((file, step));
                    }
                }
            }
        }
    }
    callers.sort();
    let expected: Vec<(String, &str)> = durable_steps
        .iter()
        .map(|step| ("consensus/src/driver.rs".to_string(), *step))
        .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(callers, expected);
}
