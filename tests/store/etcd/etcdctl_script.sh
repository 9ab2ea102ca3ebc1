#!/bin/bash
# One etcdctl (ETCDCTL_API=3, -w json) session against the endpoint in $1.
# Run by etcdctl_diff_test against a fresh Debian etcd 3.4 and a fresh
# `kedge store`: the two transcripts must be identical once the test has
# masked cluster_id, member_id, raft_term and lease IDs.
#
# Each command prints "$ <args>", its stdout, the "Error: ..." lines of its
# stderr (etcdctl also logs retries with timestamps there) and "rc=<exit code>".
set -u
EP="$1"
export ETCDCTL_API=3
CTL=(etcdctl --endpoints="$EP" --command-timeout=10s)

hex=""
show() {  # the command line, with the lease ID (random per server) masked
  local line="$*"
  [ -n "$hex" ] && line="${line//$hex/<lease>}"
  echo "\$ $line"
}
emit() {  # emit <rc> <stdout> <stderr>
  [ -n "$2" ] && printf '%s\n' "$2"
  printf '%s\n' "$3" | grep -E '^Error' || true
  echo "rc=$1"
}
run() {
  show "$@"
  local out err rc
  out=$("${CTL[@]}" "$@" 2>/tmp/etcdctl_err.$$); rc=$?
  err=$(cat /tmp/etcdctl_err.$$)
  emit "$rc" "$out" "$err"
}
run_in() {  # run_in <stdin text> <args...>
  local input="$1"; shift
  show "$* <<< $(printf '%q' "$input")"
  local out err rc
  out=$(printf '%s' "$input" | "${CTL[@]}" "$@" 2>/tmp/etcdctl_err.$$); rc=$?
  err=$(cat /tmp/etcdctl_err.$$)
  emit "$rc" "$out" "$err"
}
watch_for() {  # watch_for <seconds> <args...>: a watch that ends by timeout
  local secs="$1"; shift
  show "watch $* (${secs}s)"
  local out err rc
  out=$(timeout "$secs" "${CTL[@]}" watch "$@" 2>/tmp/etcdctl_err.$$); rc=$?
  err=$(cat /tmp/etcdctl_err.$$)
  emit "$rc" "$out" "$err"
}
json_field() { sed -E "s/.*\"$1\":(-?[0-9]+).*/\\1/"; }

# --- put, every flag ---------------------------------------------------------
run put foo bar -w json
run put foo baz --prev-kv -w json
run put foo1 v1 -w json
run put foo2 v2 -w json
run put foo3 v3 -w json
run put a 1 -w json
run put b 2 -w json
run put c 3 -w json
run put z 26 -w json
run put foo2 v2b -w json
run put foo --ignore-value -w json
run put foo qux --ignore-value -w json
run put nokey --ignore-value -w json
run put foo --ignore-lease -w json
run put "" empty -w json
run put foo3 "" -w json

# --- get: single, prefix, range, from-key, limit, rev, sort, keys -----------
# (etcdctl 3.4 has no --count-only or --min/max-*-rev flags; count_only and
# the revision filters are covered by etcd_client_test against both servers.)
run get foo -w json
run get nothing -w json
run get foo --prefix -w json
run get a c -w json
run get b --from-key -w json
run get "" --from-key --limit=3 -w json
run get "" --prefix --limit=2 -w json
run get foo --rev=2 -w json
run get foo --rev=3 -w json
run get foo2 --rev=4 -w json
run get foo --prefix --sort-by=MODIFY --order=DESCEND -w json
run get foo --prefix --sort-by=CREATE --order=ASCEND -w json
run get foo --prefix --sort-by=VERSION --order=DESCEND -w json
run get foo --prefix --sort-by=VALUE --order=ASCEND -w json
run get foo --prefix --sort-by=KEY --order=DESCEND -w json
run get foo --prefix --order=DESCEND --limit=2 -w json
run get foo --prefix --keys-only -w json
run get "" --from-key --keys-only --limit=4 -w json
run get foo --consistency=s -w json
run get foo --prefix --print-value-only
run get foo --rev=1000 -w json
run get "" -w json
run get c a -w json

# --- txn: success and failure branches ---------------------------------------
run_in $'value("foo") = "baz"\nmod("a") > "1"\n\nput t1 success\nget foo\ndel c\n\nput t1 failure\n\n' txn -w json
run_in $'value("foo") = "nope"\n\nput t2 success\n\nput t2 failure\nget --prefix foo\n\n' txn -w json
run_in $'version("foo2") = "2"\ncreate("a") < "100"\nvalue("z") != "1"\n\nget foo2\n\n\n' txn -w json
run_in $'version("missing") = "0"\n\nput missing now\n\n\n' txn -w json
run_in $'\nput d1 x\nput d1 y\n\n\n' txn -w json
run_in $'\nput e1 x\ndel --prefix e\n\n\n' txn -w json
run_in $'value("foo") = "baz"\n\n\n\n' txn -w json

# --- del ---------------------------------------------------------------------
run del foo1 --prev-kv -w json
run del nothing -w json
run del a c --prev-kv -w json
run del foo --prefix -w json
run get "" --from-key -w json

# --- watch: history, prev-kv, ranges, filters --------------------------------
watch_for 2 --rev=1 foo -w json
watch_for 2 --rev=1 --prefix foo --prev-kv -w json
watch_for 2 --rev=5 b z -w json
watch_for 2 --rev=12 z -w json

# --- leases ------------------------------------------------------------------
echo '$ lease grant 100 -w json'
grant=$("${CTL[@]}" lease grant 100 -w json 2>&1); echo "$grant"
id=$(echo "$grant" | json_field ID)
hex=$(printf '%x' "$id")
run put lk1 v1 --lease="$hex" -w json
run put lk2 v2 --lease="$hex" -w json
run put lk3 v3 --lease="$hex" -w json
run put lk3 v3b --ignore-lease -w json
run get lk --prefix -w json
run lease timetolive "$hex" --keys -w json
run lease timetolive "$hex" -w json
run lease keep-alive --once "$hex" -w json
run lease list -w json
run lease revoke "$hex" -w json
run get lk --prefix -w json
run lease timetolive "$hex" -w json
run lease revoke "$hex" -w json
run lease keep-alive --once "$hex"
run put lk4 v --lease=1234abcd -w json
run lease timetolive 1234abcd -w json
run lease grant 1 -w json
run lease grant 9000000001 -w json
watch_for 2 --rev=1 lk --prefix --prev-kv -w json

# --- compaction, then reads and watches at compacted revisions ---------------
run put cmp v1 -w json
run put cmp v2 -w json
rev=$("${CTL[@]}" put cmp v3 -w json | json_field revision)
run compact $((rev - 1))
run compact $((rev - 1))
run compact $((rev - 2))
run compact 100000
run get cmp --rev=$((rev - 2)) -w json
run get cmp --rev=$((rev - 1)) -w json
run get cmp --rev=$rev -w json
watch_for 2 --rev=$((rev - 2)) cmp -w json
watch_for 2 --rev=$((rev - 1)) cmp -w json
run_in $'mod("cmp") > "0"\n\nget cmp --rev=1\n\n\n' txn -w json

# --- bad input ---------------------------------------------------------------
# Values and keys over --max-request-bytes (1.5 MiB) go in through stdin (argv is too small).
big=$(head -c 1700000 /dev/zero | tr '\0' 'v')
echo '$ put bigvalue <1.7 MB value on stdin> -w json'
out=$(printf '%s' "$big" | "${CTL[@]}" put bigvalue -w json 2>/tmp/etcdctl_err.$$); emit $? "$out" "$(cat /tmp/etcdctl_err.$$)"
echo '$ txn <put of a 1.7 MB key> -w json'
out=$(printf '\nput %s x\n\n\n' "$big" | "${CTL[@]}" txn -w json 2>/tmp/etcdctl_err.$$); emit $? "$out" "$(cat /tmp/etcdctl_err.$$)"
run get bigvalue -w json
ops=$(for i in $(seq 1 129); do echo "put many$i x"; done)
run_in $'\n'"$ops"$'\n\n\n' txn -w json
run get z a -w json
run del z a -w json
run get "" --prefix --keys-only -w json
rm -f /tmp/etcdctl_err.$$
