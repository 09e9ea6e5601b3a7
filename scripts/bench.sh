#!/usr/bin/env bash
# The whole-system benchmark (issue 7, DESIGN.md §10): the machine's ceiling, then N validator
# processes loaded over HTTP, provenance queries and a catch-up, in one run. Prints a table and
# writes target/bench/report.json and target/bench/summary.md.
# Usage: scripts/bench.sh [waybill-bench options]   e.g. --events 200000 --validators 4 --submitters 4
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/run-optimised.sh waybill-bench --out target/bench "$@"
