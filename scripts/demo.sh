#!/usr/bin/env bash
# The demo: one shipment's story told with the `waybill` CLI on a local 4-validator network, then
# a counterfeit story, then a proof bundle checked offline and tampered with.
#   scripts/demo.sh      from a fresh clone: setup, build, `scripts/testnet.sh up`, the story
# Against a network that is already running (the integration test does this), set
#   WAYBILL_NODE, WAYBILL_GENESIS, WAYBILL_DEMO_KEYS (the organisations' key directory) and
#   WAYBILL_BIN (the `waybill` binary); nothing is built or started then.
# Every step is one line. Verdicts are checked: the script fails if one is not as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

started_here=""
if [[ -z "${WAYBILL_DEMO_KEYS:-}" ]]; then
  started_here=1
  bash scripts/setup.sh
  cargo build --locked -q -p waybill-client
  bash scripts/testnet.sh up >/dev/null
  # shellcheck disable=SC1091
  . .testnet/env
  WAYBILL_DEMO_KEYS=.testnet/keys
fi
waybill="${WAYBILL_BIN:-$target_dir/debug/waybill}"
keys="$WAYBILL_DEMO_KEYS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run=$(date +%s)                  # fresh ids on every run, so the demo can be repeated
gtin=04012345000016
declare_as="$work/declaration.json"
# A consignee of this run only: the release check sums a consignee's consignments over 30 days.
# Addresses, pieces and mass complete the ICS2 7+1 data set with the waybills the carriers name.
cat >"$declare_as" <<JSON
{
  "consignor": {"name": "Shenzhen Sneaker Co", "address": "8 Keji Road, Nanshan, Shenzhen", "country": "CN", "registration": null},
  "consignee": {"name": "J. Jansen $run", "address": "Damrak 1, Amsterdam", "country": "NL", "registration": null},
  "seller": null,
  "items": [{"description": "Running shoes", "hs6": "640411", "gtin": "04012345000016",
             "quantity": 1, "value_minor": 8990, "origin": "CN"}],
  "currency": "EUR", "pieces": 1, "gross_mass_g": 1200, "ioss": "IM1234567890"
}
JSON

# Trainers at EUR 3.00 a pair, to a consignee never seen before, filed by a platform without an
# accreditation and with no transport document: the red lane, with every reason listed.
undervalued="$work/undervalued.json"
sed -e 's/"value_minor": 8990/"value_minor": 300/' -e "s/J. Jansen $run/P. de Vries $run/" \
  -e 's/"address": "[^"]*"/"address": null/g' "$declare_as" >"$undervalued"

# step "what happens" ORG waybill-args… : signs as ORG, prints one line.
step() {
  local what=$1 org=$2
  shift 2
  printf '%-58s ' "$what"
  "$waybill" "$@" --key "$keys/$org.key" | tail -n 1
}
# expect VERDICT "what" waybill-args… : runs a check as $reader (default customs; the node
# answers only organisations of the genesis) and insists on its first word.
expect() {
  local verdict=$1 what=$2 out
  shift 2
  out=$("$waybill" "$@" --key "$keys/${reader:-customs}.key" || true)
  printf '%-58s %s\n' "$what" "$(head -n 1 <<<"$out")"
  # The reasons, indented (grep finds none when there are none: not an error).
  sed -n '2,$p' <<<"$out" | { grep -v '^  not checked' || true; } | sed 's/^/      /'
  local got
  got=$(head -n 1 <<<"$out" | cut -d' ' -f1)
  # A release may be picked by the random draw (about 1 in 200 for an AEO platform): that is
  # the policy working, so the demo says so rather than failing.
  if [[ $verdict == RELEASE && $got == REVIEW && $out == *"[random_selection]"* ]]; then
    echo "      (selected by the random draw this time: the policy at work)"
  elif [[ $got != "$verdict" ]]; then
    echo "demo: expected $verdict" >&2
    exit 1
  fi
  if [[ -n "${lane:-}" && $(head -n 1 <<<"$out") != *": $lane lane"* && $out != *"[random_selection]"* ]]; then
    echo "demo: expected the $lane lane" >&2
    exit 1
  fi
}

echo "== a parcel from Shenzhen to Amsterdam (node $WAYBILL_NODE)"
hawb="HAWB-$run"
today=$(date -u +%F)
step "customs accredits the platform: EU AEO, AEOF" customs accredit "register:aeo" --operator NL000000001 --member platform --programme "EU AEO" --tier AEOF --from 2026-01-01 --until 2028-12-31
step "brand commissions SN-$run-1 and SN-$run-2" brand commission "STOCK-$run" --epc "$gtin:SN-$run-1" --epc "$gtin:SN-$run-2"
step "platform declares $hawb" platform declare "$hawb" --declaration "$declare_as"
step "carrier-a picks it up in Shenzhen" carrier-a pickup "$hawb" --at CNSZX --epc "$gtin:SN-$run-1" --document "house_air_waybill:$hawb"
step "carrier-a departs on the flight's master waybill" carrier-a depart "$hawb" --at CNSZX --document "air_waybill:784-$run"
step "carrier-a hands over to carrier-b" carrier-a handover "$hawb" --to carrier-b
step "carrier-b accepts" carrier-b accept "$hawb" --from carrier-a --at NLAMS
step "customs: risk assessment approved" customs risk "$hawb" --status approved
echo "   (EU law in force on $today: IOSS, and from 2026-07-01 EUR 3 per distinct sub-heading)"
lane=GREEN expect RELEASE "customs: release check" release-check "$hawb"
step "customs releases" customs release "$hawb"
step "carrier-b delivers" carrier-b deliver "$hawb" --at NLAMS

echo "== an undervalued parcel"
cheap="HAWB-$run-U"
step "platform-b declares $cheap at EUR 3.00" platform-b declare "$cheap" --declaration "$undervalued"
step "carrier-a picks it up" carrier-a pickup "$cheap" --at CNSZX
step "customs: risk assessment approved" customs risk "$cheap" --status approved
lane=RED expect REVIEW "customs: release check of $cheap" release-check "$cheap"

echo "== counterfeits"
fake="HAWB-$run-F"
step "platform declares $fake" platform declare "$fake" --declaration "$declare_as"
step "carrier-a picks it up with FAKE-$run (never commissioned)" carrier-a pickup "$fake" --epc "$gtin:FAKE-$run"
reader=brand expect SUSPECT "brand: audit of FAKE-$run" audit --serial "$gtin" "FAKE-$run"
expect HOLD "customs: release check of $fake" release-check "$fake"
live="HAWB-$run-L"
copy="HAWB-$run-C"
step "platform declares $live and $copy" platform declare "$live" --declaration "$declare_as"
step "" platform declare "$copy" --declaration "$declare_as" >/dev/null
step "carrier-a picks up $live with SN-$run-2" carrier-a pickup "$live" --epc "$gtin:SN-$run-2"
step "carrier-b picks up $copy, also with SN-$run-2" carrier-b pickup "$copy" --epc "$gtin:SN-$run-2"
reader=brand expect SUSPECT "brand: audit of SN-$run-2" audit --serial "$gtin" "SN-$run-2"
expect HOLD "customs: release check of $copy" release-check "$copy"

echo "== a proof anyone can check"
bundle="$work/$hawb.json"
printf '%-58s ' "save $hawb's proof bundle"
saved=$("$waybill" provenance "$hawb" --out "$bundle" --key "$keys/customs.key")
head -n 1 <<<"$saved"
expect VERIFIED "verify it offline (no node)" verify "$bundle" --node http://127.0.0.1:1
python3 - "$bundle" <<'PY'
import json, sys
path = sys.argv[1]
proof = json.load(open(path))
signature = proof["events"][2]["event"]["signature"]
proof["events"][2]["event"]["signature"] = ("1" if signature[0] != "1" else "2") + signature[1:]
json.dump(proof, open(path, "w"))
PY
expect NOT "change one byte of a signature and verify again" verify "$bundle" --node http://127.0.0.1:1
echo "done: every verdict as expected"
if [[ -n "$started_here" ]]; then
  echo "the network is still up: scripts/testnet.sh status | logs | down"
fi
