#!/usr/bin/env bash
# Runs the protocol's fuzz targets (protocol/fuzz) one after another, each for MINUTES (default
# 10), with libFuzzer through cargo fuzz. Usage: scripts/fuzz.sh [MINUTES] [TARGET...]
# Targets: canonical_decode event_admission provenance_verify event_json.
# Needs `cargo install cargo-fuzz`; RUSTC_BOOTSTRAP=1 lets the stable toolchain take the
# sanitizer flags. The working corpus and crashes stay outside the clone (WAYBILL_FUZZ_DIR);
# the committed seeds in protocol/fuzz/seeds are only read. A crash leaves its input in
# $WAYBILL_FUZZ_DIR/artifacts/<target>/ and this script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
shift || true
if ! [[ "$minutes" =~ ^[1-9][0-9]*$ ]]; then
    echo "MINUTES must be a whole number of minutes, at least 1 (got '$minutes')" >&2
    exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(canonical_decode event_admission provenance_verify event_json)
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
work="${WAYBILL_FUZZ_DIR:-$HOME/.cache/waybill-fuzz}"
export CARGO_TARGET_DIR="$work/target"
export RUSTC_BOOTSTRAP=1
cd protocol
cargo fuzz build
for target in "${targets[@]}"; do
    mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
    echo "== $target for $minutes min"
    cargo fuzz run "$target" "$work/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time=$((minutes * 60)) -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$target/" 2>&1 |
        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|SUMMARY|thread .* panicked)|Done [0-9]+ runs' || true
    if compgen -G "$work/artifacts/$target/crash-*" >/dev/null; then
        echo "!! $target found a crash: $(ls "$work"/artifacts/"$target"/crash-*)" >&2
        exit 1
    fi
done
