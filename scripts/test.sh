#!/usr/bin/env bash
# THE test command: formatting, lints with warnings denied, and the whole test suite.
# Honours CARGO_TARGET_DIR, so a persistent target directory keeps RocksDB's C++ build warm.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo build (the binaries the multi-process tests run: waybill-node, waybill)"
# `cargo test` builds a package's binaries only for that package's own integration tests; the
# tests crate runs the node and the CLI as processes, so they are built here first.
cargo build --workspace --locked --bins
echo "== cargo test"
cargo test --workspace --locked
