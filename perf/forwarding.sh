#!/usr/bin/env bash
# Forwarding throughput, side by side in one run (issue: foundation):
#   dnsperf -c 4 -l $SECONDS  (a) straight at knotd, (b) through heimdall,
#   (c) through dnsdist without a packet cache, all forwarding to the same knotd.
# The query list has 10,000 distinct names (a wildcard answers them), so
# heimdall's coalescing of identical in-flight queries does not flatter it.
# Everything runs on 127.0.0.1 and stops by itself; output is a markdown table.
#
# usage: perf/forwarding.sh [seconds per target, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
heimdall="${HEIMDALL_BIN:-build/src/app/heimdall}"
[[ -x "$heimdall" ]] || { echo "build heimdall first (ninja -C build)" >&2; exit 1; }
for tool in knotd dnsperf dnsdist; do
  command -v "$tool" >/dev/null || { echo "missing $tool: scripts/install-deps.sh test" >&2; exit 1; }
done

work="$(mktemp -d /tmp/heimdall-perf.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

knot_port=5400 heimdall_port=5401 dnsdist_port=5402
for port in $knot_port $heimdall_port $dnsdist_port; do
  if ss -Hlun "sport = :$port" | grep -q .; then
    echo "port $port is in use; stop what listens there first" >&2
    exit 1
  fi
done

cat > "$work/zone" <<ZONE
\$ORIGIN bench.test.
\$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
@ IN NS ns1
ns1 IN A 127.0.0.1
* IN A 192.0.2.1
ZONE
cat > "$work/knot.conf" <<KNOT
server:
  listen: 127.0.0.1@$knot_port
  rundir: $work
log:
  - target: stderr
    any: error
database:
  storage: $work
zone:
  - domain: bench.test.
    file: $work/zone
KNOT
knotd -c "$work/knot.conf" 2>"$work/knot.log" &
pids+=($!)

cat > "$work/heimdall.yaml" <<YAML
dataplane: {backend: socket, workers: 2}
listen: {udp: ["127.0.0.1:$heimdall_port"], tcp: ["127.0.0.1:$heimdall_port"]}
upstreams: {strategy: fastest, servers: [{address: "127.0.0.1:$knot_port"}]}
logging: {level: warn}
YAML
"$heimdall" --config "$work/heimdall.yaml" 2>"$work/heimdall.log" &
pids+=($!)

sed -e "s/@PORT@/$dnsdist_port/" -e "s/@UPSTREAM@/$knot_port/" perf/dnsdist-forward.conf \
  > "$work/dnsdist.conf"
dnsdist --supervised --disable-syslog -C "$work/dnsdist.conf" >"$work/dnsdist.log" 2>&1 &
pids+=($!)

for i in $(seq 1 10000); do echo "host$i.bench.test A"; done > "$work/queries"

wait_for() {
  for _ in $(seq 1 50); do
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" host1.bench.test A | grep -q 192.0.2.1; then
      return 0
    fi
    sleep 0.1
  done
  echo "port $1 is not answering" >&2
  exit 1
}
wait_for $knot_port
wait_for $heimdall_port
wait_for $dnsdist_port

measure() {  # measure PORT -> "qps lost avg_latency_ms"
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -c 4 -l "$seconds" 2>&1 |
    awk '/Queries per second/ {qps=$4}
         /Queries lost/ {lost=$3}
         /Average Latency/ {lat=$4 * 1000}
         END {printf "%.0f %s %.3f\n", qps, lost, lat}'
}

read -r direct_qps direct_lost direct_lat < <(measure $knot_port)
read -r heimdall_qps heimdall_lost heimdall_lat < <(measure $heimdall_port)
read -r dnsdist_qps dnsdist_lost dnsdist_lat < <(measure $dnsdist_port)

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "command: perf/forwarding.sh $seconds  (dnsperf -c 4 -l $seconds, 10,000 distinct names)"
echo
echo "| target | QPS | lost | avg latency (ms) | QPS vs heimdall |"
echo "| --- | ---: | ---: | ---: | ---: |"
for row in "knotd directly:$direct_qps:$direct_lost:$direct_lat" \
           "heimdall (socket, 2 workers) -> knotd:$heimdall_qps:$heimdall_lost:$heimdall_lat" \
           "dnsdist (no packet cache) -> knotd:$dnsdist_qps:$dnsdist_lost:$dnsdist_lat"; do
  IFS=: read -r name qps lost lat <<<"$row"
  ratio=$(awk -v a="$qps" -v b="$heimdall_qps" 'BEGIN {printf "%.2f", a / b}')
  echo "| $name | $qps | $lost | $lat | $ratio |"
done
