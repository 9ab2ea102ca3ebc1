#!/bin/bash
# RSS of a standalone `kedge proxy --manifests` programming N services with 5
# endpoints each (the proxy_bench shapes) in a private network namespace.
# Needs root.   bench/proxy/rss.sh build/release/cmd/kedge [services=10000] [api]
# With `api`, the objects go into a `kedge server` (no agent, no proxy) in
# the namespace through kubectl (~5 min for 10k) and the proxy watches it
# with --kubeconfig, as a deployed proxy does.
# `kedge proxy` execs the lean kedge-proxy when it sits next to kedge (the
# "exe" line says which ran); copy kedge alone elsewhere to measure the
# proxy inside the all-in-one binary.
set -eu
KEDGE=$(realpath "${1:?path to the kedge binary}")
N=${2:-10000}
MODE=${3:-manifests}
DIR=$(mktemp -d)
NS=kedge-rss-$$
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; wait 2>/dev/null; ip netns del $NS 2>/dev/null || true; rm -rf "$DIR"' EXIT
mkdir "$DIR/m"
python3 - "$N" "$DIR/m/all.json" <<'PY'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
items = []
for i in range(n):
    name = f"svc-{i}"
    ip = f"10.43.{i//250 + 1}.{i%250+1}"  # 10.43.0.x: the kubernetes Service and friends
    items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "bench"},
                  "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                           "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}})
    eps = [{"addresses": [f"10.{42+k//62500}.{(k//250)%250}.{k%250+1}"], "conditions": {"ready": True}}
           for k in range(i*8, i*8+5)]
    items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": name + "-1", "namespace": "bench", "labels": {"kubernetes.io/service-name": name}},
                  "addressType": "IPv4", "endpoints": eps,
                  "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]})
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(out, "w"))
PY
ip netns add $NS
ip netns exec $NS ip link set lo up
source=(--manifests "$DIR/m")
if [ "$MODE" = api ]; then
  ip netns exec $NS "$KEDGE" server --config /dev/null --data-dir "$DIR/server" --bind-address 127.0.0.1 \
    --https-listen-port 6443 --write-kubeconfig "$DIR/kube.yaml" --disable-agent --disable-proxy \
    >"$DIR/server.log" 2>&1 &
  SERVER=$!
  until grep -q "kedge server is ready" "$DIR/server.log"; do
    kill -0 $SERVER || { cat "$DIR/server.log"; exit 1; }
    sleep 0.5
  done
  t0=$(date +%s)
  ip netns exec $NS kubectl --kubeconfig "$DIR/kube.yaml" create namespace bench >/dev/null
  ip netns exec $NS kubectl --kubeconfig "$DIR/kube.yaml" create --validate=false -f "$DIR/m/all.json" >/dev/null
  echo "created $N Services and EndpointSlices through the API in $(( $(date +%s) - t0 )) s"
  source=(--kubeconfig "$DIR/kube.yaml")
fi
start=$(date +%s.%N)
ip netns exec $NS "$KEDGE" proxy "${source[@]}" --node-ip 192.168.1.10 --ipv6=false \
  --status-address 127.0.0.1:10249 --config /dev/null >"$DIR/proxy.log" 2>&1 &
pid=$!
until ip netns exec $NS /bin/busybox wget -q -O - http://127.0.0.1:10249/healthz 2>/dev/null | grep -q ok; do
  kill -0 $pid || { cat "$DIR/proxy.log"; exit 1; }
  sleep 0.5
done
echo "services $N ($MODE): healthy after $(echo "$(date +%s.%N) - $start" | bc) s (incl. reading the List)"
echo "exe: $(readlink /proc/$pid/exe)"
grep -E "VmRSS|VmHWM|RssAnon|RssFile" /proc/$pid/status
ip netns exec $NS /bin/busybox wget -q -O - http://127.0.0.1:10249/metrics |
  grep -E "^kedge_proxy_(rules|chains|elements|sync_duration_seconds_sum) "
sleep 5
echo "after 5 s idle: $(grep VmRSS /proc/$pid/status), cpu time $(ps -o time= -p $pid)"
kill -TERM $pid
wait $pid || true
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
