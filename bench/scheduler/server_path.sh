#!/bin/sh
# Scheduling throughput through the real server path: N pods already
# pending (created while the scheduler was disabled), then `kedge server`
# restarted with its scheduler; counts bound pods once a second with
# kubectl until all are bound. Every pod costs a POST pods/binding and a
# Scheduled event, as upstream.
#   bench/scheduler/server_path.sh BUILD_DIR [PODS] [NODES]
set -eu
B=${1:?build dir}; PODS=${2:-5000}; NODES=${3:-100}
D=$(mktemp -d); PORT=16499; KC=$D/kc.yaml
server() { "$B/cmd/kedge" server --data-dir "$D/data" --https-listen-port $PORT --disable-agent --disable-proxy \
  --write-kubeconfig "$KC" --config /dev/null "$@" >>"$D/server.log" 2>&1 & echo $!; }
wait_ready() { until grep -q "is ready" "$D/server.log" 2>/dev/null; do sleep 0.2; done; }
bound() { kubectl --kubeconfig "$KC" get pods -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' 2>/dev/null | grep -c . || true; }
S1=$(server --disable-scheduler); wait_ready
"$B/bench/hollow/kedge-hollow" --kubeconfig "$KC" --nodes "$NODES" --max-pods 110 >"$D/hollow.log" 2>&1 & H=$!
sleep 5
kubectl --kubeconfig "$KC" create deployment bench --image=nginx --replicas="$PODS" >/dev/null
until [ "$(kubectl --kubeconfig "$KC" get rs -o jsonpath='{.items[0].status.replicas}')" = "$PODS" ]; do sleep 2; done
kill $S1; while kill -0 $S1 2>/dev/null; do sleep 0.2; done
: >"$D/server.log"; START=$(date +%s.%N); S2=$(server --leader-elect=false)
while :; do n=$(bound); echo "$(echo "$(date +%s.%N) - $START" | bc) s: $n bound"; [ "$n" -ge "$PODS" ] && break; sleep 1; done
echo "server RSS: $(ps -o rss= -p $S2) KiB"
kill $H $S2; wait 2>/dev/null || true; rm -rf "$D"
