#!/usr/bin/env bash
# A local 4-validator network as background processes.
#   scripts/testnet.sh up       build, create .testnet/ (genesis, keys, configs), start 4 nodes,
#                               wait until they commit, print how to use them
#   scripts/testnet.sh down     stop exactly the processes `up` started (pid files), nothing else
#   scripts/testnet.sh status   each node's height, peers and mempool
#   scripts/testnet.sh logs [N] follow node N's log (default: all)
# `up` on an existing .testnet/ restarts its nodes on their data; `down && rm -rf .testnet` resets.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.testnet
target_dir="${CARGO_TARGET_DIR:-target}"
node_bin="$target_dir/debug/waybill-node"
genesis_bin="$target_dir/debug/waybill-genesis"

api_of() { # the API address of node directory $1
  sed -n 's/^api_listen = "\(.*\)"$/\1/p' "$1/config.toml"
}

running() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

up() {
  bash scripts/setup.sh
  cargo build --locked -p waybill-node -p waybill-genesis
  if [[ ! -f "$dir/genesis.json" ]]; then
    "$genesis_bin" testnet --validators 4 --out "$dir"
  fi
  for node in "$dir"/nodes/*/; do
    node=${node%/}
    name=$(basename "$node")
    if running "$node/node.pid"; then
      echo "$name already running (pid $(cat "$node/node.pid"))"
      continue
    fi
    RUST_LOG="${RUST_LOG:-info,libp2p=warn}" nohup "$node_bin" run --config "$node/config.toml" \
      >>"$dir/$name.log" 2>&1 &
    echo $! >"$node/node.pid"
    echo "started $name (pid $!, log $dir/$name.log)"
  done
  local first
  local first_node
  first_node=$(ls -d "$dir"/nodes/*/ | head -n 1)
  first=$(api_of "$first_node")
  echo "waiting for the first commit (an idle network makes a block every 10 s)…"
  for _ in $(seq 1 120); do
    if node_curl "${first_node%/}" "https://$first/v1/status" 2>/dev/null | grep -q '"height":[1-9]'; then
      status
      cat <<EOM

The network is up. Use it:
  . $dir/env                      # WAYBILL_NODE, WAYBILL_GENESIS and the organisations' key files
  waybill status --key \$WAYBILL_KEY_CUSTOMS   # TLS pinned by the genesis, as customs
  curl -k --pinnedpubkey "\$(cat $first_node/api.pin)" \\
       --cert $dir/keys/customs.crt --key $dir/keys/customs.pem \$WAYBILL_NODE/v1/status
  scripts/testnet.sh logs         # follow the logs
  scripts/testnet.sh down         # stop the nodes (data stays in $dir/nodes/*/data)
An idle network makes a block only every 10 s; events are committed within a block or two.
EOM
      return 0
    fi
    sleep 0.5
  done
  echo "the nodes did not come up; see $dir/*.log" >&2
  return 1
}

# node_curl NODE_DIR URL: curl as customs, accepting only the API key the genesis gives NODE
# (-k skips the CA check there is no CA for; --pinnedpubkey is the check).
node_curl() {
  curl -fsS -k --pinnedpubkey "$(cat "$1/api.pin")" \
    --cert "$dir/keys/customs.crt" --key "$dir/keys/customs.pem" "$2"
}

down() {
  local stopped=0
  for pidfile in "$dir"/nodes/*/node.pid; do
    [[ -f "$pidfile" ]] || continue
    if running "$pidfile"; then
      kill -TERM "$(cat "$pidfile")"
      stopped=$((stopped + 1))
    fi
  done
  for pidfile in "$dir"/nodes/*/node.pid; do
    [[ -f "$pidfile" ]] || continue
    for _ in $(seq 1 100); do
      running "$pidfile" || break
      sleep 0.1
    done
    rm -f "$pidfile"
  done
  echo "stopped $stopped node(s)"
}

status() {
  for node in "$dir"/nodes/*/; do
    node=${node%/}
    local name api state
    name=$(basename "$node")
    api=$(api_of "$node")
    if running "$node/node.pid"; then
      state=$(node_curl "$node" "https://$api/v1/status" 2>/dev/null |
        python3 -c '
import json, sys
s = json.load(sys.stdin)
sync = ", syncing" if s["syncing"] else ""
print("height %d, %d peers, %d pending%s" % (s["height"], len(s["peers"]), s["mempool"]["events"], sync))' ||
        echo "not answering")
      echo "$name  https://$api  $state"
    else
      echo "$name  stopped"
    fi
  done
}

logs() {
  if [[ $# -gt 0 ]]; then
    tail -F "$(ls "$dir"/*.log | sed -n "$(($1 + 1))p")"
  else
    tail -F "$dir"/*.log
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) shift; logs "$@" ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
