#!/usr/bin/env bash
# `waybill release-check` end to end against the local network (scripts/testnet.sh up): a
# shipment of 20 events naming 5 serials is written once, then checked N times (default 50),
# each run a fresh process doing all of it: the shipment's proof, the five serials' proofs and
# audits, the particulars, the consignee's other consignments, the accreditations, the seed
# block of the draw, every proof verified against the genesis. Prints the median and p99.
# Usage: scripts/bench-release-check.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}
[[ -f .testnet/env ]] || { echo "no .testnet/: run scripts/testnet.sh up first" >&2; exit 2; }
# shellcheck disable=SC1091
. .testnet/env
waybill="${WAYBILL_BIN:-${CARGO_TARGET_DIR:-target}/debug/waybill}"
keys=.testnet/keys
run=$(date +%s)
gtin=04012345000016
ship="BENCH-$run"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/declaration.json" <<JSON
{
  "consignor": {"name": "Shenzhen Sneaker Co", "address": "8 Keji Road, Shenzhen", "country": "CN", "registration": null},
  "consignee": {"name": "Bench Consignee $run", "address": "Damrak 1, Amsterdam", "country": "NL", "registration": null},
  "seller": null,
  "items": [{"description": "Running shoes", "hs6": "640411", "gtin": "$gtin", "quantity": 5, "value_minor": 44950, "origin": "CN"}],
  "currency": "EUR", "pieces": 1, "gross_mass_g": 6000, "ioss": null
}
JSON
as() { local org=$1; shift; "$waybill" "$@" --key "$keys/$org.key" >/dev/null; }
epcs=()
for n in 1 2 3 4 5; do epcs+=(--epc "$gtin:SN-$run-$n"); done
as brand commission "STOCK-$run" "${epcs[@]}"
# 20 events: declare, pick-up naming the 5 serials, depart, 7 hand-overs and acceptances,
# arrive, risk, an inspection.
as platform declare "$ship" --declaration "$work/declaration.json"
as carrier-a pickup "$ship" --at CNSZX "${epcs[@]}" --document "house_air_waybill:$ship"
as carrier-a depart "$ship" --at CNSZX --document "air_waybill:784-$run"
holder=carrier-a
for _ in 1 2 3 4 5 6 7; do
  next=$([[ $holder == carrier-a ]] && echo carrier-b || echo carrier-a)
  as "$holder" handover "$ship" --to "$next"
  as "$next" accept "$ship" --from "$holder"
  holder=$next
done
as "$holder" arrive "$ship" --at NLAMS
as customs risk "$ship" --status approved
as customs inspect "$ship" --result compliant --note "bench"
times=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  "$waybill" release-check "$ship" --key "$keys/customs.key" >/dev/null || true
  times+=($(( ($(date +%s%N) - start) / 1000000 )))
done
"$waybill" release-check "$ship" --key "$keys/customs.key" | head -n 1 || true
printf '%s\n' "${times[@]}" | sort -n | awk -v runs="$runs" '
  { t[NR] = $1 }
  END {
    p50 = t[int((NR + 1) / 2)]; i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR
    printf "release-check, %d runs: median %d ms, p99 %d ms, min %d ms, max %d ms\n", runs, p50, t[i99], t[1], t[NR]
  }'
