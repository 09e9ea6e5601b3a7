#!/usr/bin/env bash
# The whole-system benchmark (issue 7, DESIGN.md §10): the machine's ceiling, then N validator
# processes loaded over HTTP, provenance queries and a catch-up, in one run. Prints a table and
# writes target/bench/report.json and target/bench/summary.md.
# Usage: scripts/bench.sh [waybill-bench options]   e.g. --events 200000 --validators 4 --submitters 4
# Built at opt-level 3 in the one dev profile: RocksDB's C++ (already optimised there) is not
# built a second time for a release profile. The next `scripts/test.sh` rebuilds our crates at
# the suite's level.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_PROFILE_DEV_OPT_LEVEL=3
cargo build --locked -p waybill-node -p waybill-tests --bin waybill-node --bin waybill-bench
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/debug/waybill-bench" --out target/bench "$@"
