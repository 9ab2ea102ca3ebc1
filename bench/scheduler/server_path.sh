#!/bin/sh
# Scheduling throughput through the real server path (bench/README.md):
# `kedge server` runs with --disable-scheduler while bench_scheduler_server
# creates NODES nodes and PODS pending pods with mixed constraints and takes
# the controllers' leader-election Lease; then the server restarts with its
# scheduler (a standby until the Lease is gone), the tool's watch syncs, the
# tool deletes the Lease and watches until every pod is bound. Each pod
# costs a POST pods/binding and a Scheduled event, as upstream. The nodes are hollow (no kubelet), so node monitoring is given
# an hour of grace. Extra arguments go to the second server (for example
# --controllers-over-https to compare with loopback HTTPS).
#   bench/scheduler/server_path.sh BUILD_DIR [PODS] [NODES] [server flags...]
set -eu
B=${1:?build dir}; PODS=${2:-10000}; NODES=${3:-1000}
shift; [ $# -gt 0 ] && shift; [ $# -gt 0 ] && shift
D=$(mktemp -d); PORT=${PORT:-16499}; KC=$D/kc.yaml
server() { "$B/cmd/kedge" server --data-dir "$D/data" --https-listen-port $PORT --disable-agent --disable-proxy \
  --write-kubeconfig "$KC" --config /dev/null --node-monitor-grace-period 3600 "$@" >>"$D/server.log" 2>&1 & echo $!; }
wait_ready() { until grep -q "is ready" "$D/server.log" 2>/dev/null; do sleep 0.1; done; }
S1=$(server --disable-scheduler); wait_ready
"$B/bench/scheduler/bench_scheduler_server" --kubeconfig "$KC" setup --nodes "$NODES" --pods "$PODS"
kill $S1; while kill -0 $S1 2>/dev/null; do sleep 0.1; done
: >"$D/server.log"; S2=$(server "$@"); wait_ready
"$B/bench/scheduler/bench_scheduler_server" --kubeconfig "$KC" measure --pods "$PODS" || true
echo "server RSS after binding: $(ps -o rss= -p $S2) KiB (VmHWM $(grep VmHWM /proc/$S2/status | tr -s ' ' | cut -d' ' -f2) KiB)"
grep -i "dropped\|error" "$D/server.log" | head -5 || true
kill $S2; wait 2>/dev/null || true; rm -rf "$D"
