#!/usr/bin/env bash
# The crash soak (issue 7): 4 validators under steady load while a chaos loop kill -9s random
# validators (sometimes two at once, losing quorum) and restarts them; at the end every event
# the API accepted must be on the chain exactly once (applied, or rejected with a reason), the
# chains identical and verify-chain clean on every node. Exit 0 only then.
# Usage: scripts/soak.sh [--minutes N] [--rate EVENTS_PER_S] [--seed S] (see waybill-soak --help)
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/run-optimised.sh waybill-soak "$@"
