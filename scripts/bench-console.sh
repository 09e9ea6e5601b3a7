#!/usr/bin/env bash
# The console's time to first render, in the headless Chromium the browser tests use: a 4-node
# cluster of this machine with 1,000 consignments awaiting a decision and one shipment of 100
# events; the work list and that shipment's page each loaded 20 times (median and worst of first
# byte, first contentful paint, DOM ready, load). Writes target/bench-console/summary.md.
# Usage: scripts/bench-console.sh [waybill-console-bench options, see --help]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --locked -q --bins -p waybill-node -p waybill-client -p waybill-tests
exec "${CARGO_TARGET_DIR:-target}/debug/waybill-console-bench" "$@"
