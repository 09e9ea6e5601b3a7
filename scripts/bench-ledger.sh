#!/usr/bin/env bash
# The ledger benchmark (execution + RocksDB commit throughput, provenance proof latency, proof
# size, disk per event). Usage: scripts/bench-ledger.sh [EVENTS]   (default 1,000,000)
# Our crates are built at opt-level 3 for the run; dependencies (RocksDB) are reused from the
# one dev build, so this does not rebuild RocksDB.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_PROFILE_DEV_OPT_LEVEL=3
cargo build --locked -p waybill-tests --bin waybill-ledger-bench
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/debug/waybill-ledger-bench" "${1:-1000000}"
