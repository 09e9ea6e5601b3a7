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

echo "== cargo test"
cargo test --workspace --locked
