#!/usr/bin/env bash
# The network benchmark: 4 validators as real processes on this machine, loaded over HTTP with
# batches; committed throughput against the signature ceiling measured in the same run, and
# submission-to-commit latency at half that load. Usage: scripts/bench-network.sh [EVENTS]
# Our crates are built at opt-level 3 for the run; dependencies (RocksDB) are reused from the
# one dev build. The next `scripts/test.sh` rebuilds our crates at the usual level.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_PROFILE_DEV_OPT_LEVEL=3
cargo build --locked -p waybill-node -p waybill-tests --bin waybill-node --bin waybill-network-bench
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/debug/waybill-network-bench" "${1:-60000}"
