#!/usr/bin/env bash
# Builds waybill-node and one waybill-tests binary at opt-level 3 in the one dev profile
# (RocksDB's C++, optimised there already, is not built a second time for a release profile),
# then runs that binary with the remaining arguments. The next `scripts/test.sh` rebuilds our
# crates at the suite's level. Usage: scripts/run-optimised.sh BINARY [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$1"
shift
bash scripts/setup.sh
export CARGO_PROFILE_DEV_OPT_LEVEL=3
cargo build --locked -p waybill-node -p waybill-tests --bin waybill-node --bin "$binary"
exec "${CARGO_TARGET_DIR:-target}/debug/$binary" "$@"
