#!/bin/bash
# Runs store_bench against a fresh `kedge store` and a fresh Debian etcd 3.4,
# one after the other on the same machine, both with fsync on every commit
# (kedge --durability=strict; etcd's default), and prints a markdown table.
#
#   bench/store/run.sh [BUILD_DIR] [extra store_bench flags...]
#
# BUILD_DIR (default build/release) must hold cmd/kedge and bench/store/store_bench.
set -euo pipefail
BUILD=${1:-build/release}
shift || true
KEDGE=$BUILD/cmd/kedge
BENCH=$BUILD/bench/store/store_bench
[ -x "$KEDGE" ] || { echo "no $KEDGE (build the kedge target)"; exit 2; }
[ -x "$BENCH" ] || { echo "no $BENCH (build the store_bench target)"; exit 2; }
command -v etcd >/dev/null || { echo "etcd is not installed"; exit 2; }

WORK=$(mktemp -d /tmp/kedge-store-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do ETCDCTL_API=3 etcdctl --endpoints="$1" get probe >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

run_one() {  # run_one <name> <endpoint> <pid>
  wait_up "$2" || { echo "$1 did not come up" >&2; exit 1; }
  "$BENCH" --endpoint "$2" --pid "$3" "${@:4}" > "$WORK/$1.txt"
  kill "$3"; wait "$3" 2>/dev/null || true
}

kport=$(free_port)
"$KEDGE" store --listen-client-urls "http://127.0.0.1:$kport" --data-dir "$WORK/kedge" \
  --durability strict --log-level warn > "$WORK/kedge.log" 2>&1 &
kpid=$!; PIDS+=("$kpid")
run_one kedge "http://127.0.0.1:$kport" "$kpid" "$@"

eport=$(free_port); pport=$(free_port)
etcd --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$eport" \
  --advertise-client-urls "http://127.0.0.1:$eport" --listen-peer-urls "http://127.0.0.1:$pport" \
  --initial-advertise-peer-urls "http://127.0.0.1:$pport" --initial-cluster "default=http://127.0.0.1:$pport" \
  --log-level error > "$WORK/etcd.log" 2>&1 &
epid=$!; PIDS+=("$epid")
run_one etcd "http://127.0.0.1:$eport" "$epid" "$@"

echo "| metric | kedge store | etcd $(etcd --version | head -1 | awk '{print $3}') | kedge/etcd |"
echo "|---|---:|---:|---:|"
while read -r metric kval; do
  eval_=$(awk -v m="$metric" '$1==m {print $2}' "$WORK/etcd.txt")
  ratio=$(awk -v k="$kval" -v e="$eval_" 'BEGIN { if (e+0 == 0) print "-"; else printf "%.2f", k/e }')
  echo "| $metric | $kval | $eval_ | $ratio |"
done < "$WORK/kedge.txt"
