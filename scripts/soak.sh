#!/usr/bin/env bash
# The crash soak (issue 7): 4 validators under steady load while a chaos loop kill -9s random
# validators (sometimes two at once, losing quorum) and restarts them; at the end every event
# the API accepted must be on the chain exactly once (applied, or rejected with a reason), the
# chains identical and verify-chain clean on every node. Exit 0 only then.
# Usage: scripts/soak.sh [--minutes N] [--rate EVENTS_PER_S] [--seed S] (see waybill-soak --help)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_PROFILE_DEV_OPT_LEVEL=3
cargo build --locked -p waybill-node -p waybill-tests --bin waybill-node --bin waybill-soak
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/debug/waybill-soak" "$@"
