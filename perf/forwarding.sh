#!/usr/bin/env bash
# Forwarding throughput, side by side in one run (issue: foundation):
#   dnsperf -c 4 -l $SECONDS  (a) straight at knotd, (b) through heimdall (socket
#   backend, 2 workers), (c) through dnsdist without a packet cache, (b) and (c)
#   forwarding to the same knotd.
# The query list has 10,000 distinct names (a wildcard answers them), so
# heimdall's coalescing of identical in-flight queries does not flatter it.
# Everything runs on 127.0.0.1 ports picked at run time, every step is bounded by
# a timeout, and every process started here is stopped on exit (trap). The output
# is a markdown table ready for perf/RESULTS.md.
#
# usage: perf/forwarding.sh [seconds per target, default 10]
#        HEIMDALL_BIN=path/to/heimdall perf/forwarding.sh   (default build/src/app/heimdall)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
cd "$(dirname "$0")/.."

seconds="${1:-10}"
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 300 ]] ||
  { echo "seconds must be 1..300" >&2; exit 2; }
heimdall="${HEIMDALL_BIN:-build/src/app/heimdall}"
[[ -x "$heimdall" ]] || { echo "build heimdall first (ninja -C build), or set HEIMDALL_BIN" >&2; exit 1; }
for tool in knotd dnsperf dnsdist dig python3 timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool: scripts/install-deps.sh test" >&2; exit 1; }
done

# On exit: SIGTERM to everything at once, up to 5 s for a clean stop, then SIGKILL.
lab_init heimdall-perf 5 together

# Three ports free for UDP and TCP on 127.0.0.1, below the ephemeral range.
read -r knot_port heimdall_port dnsdist_port < <(lab_free_ports 3)

lab_start_bench_knot "$knot_port"

cat > "$work/heimdall.yaml" <<YAML
dataplane: {backend: socket, workers: 2}
edns: {max_udp: 1232}
listen: {udp: ["127.0.0.1:$heimdall_port"], tcp: ["127.0.0.1:$heimdall_port"]}
upstreams: {strategy: fastest, timeout_ms: 1500, servers: [{address: "127.0.0.1:$knot_port"}]}
logging: {level: warn}
YAML
"$heimdall" --config "$work/heimdall.yaml" 2>"$work/heimdall.log" &
pids+=($!)

sed -e "s/@PORT@/$dnsdist_port/g" -e "s/@UPSTREAM@/$knot_port/g" perf/dnsdist-forward.conf \
  > "$work/dnsdist.conf"
dnsdist --supervised --disable-syslog -C "$work/dnsdist.conf" >"$work/dnsdist.log" 2>&1 &
pids+=($!)

for i in $(seq 1 10000); do echo "host$i.bench.test A"; done > "$work/queries"

wait_for() {  # wait_for NAME PORT LOG: up to 5 s for a correct answer
  for _ in $(seq 1 50); do
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$2" host1.bench.test A 2>/dev/null | grep -qx 192.0.2.1; then
      return 0
    fi
    sleep 0.1
  done
  echo "$1 is not answering on 127.0.0.1:$2; its log:" >&2
  cat "$3" >&2
  exit 1
}
wait_for knotd "$knot_port" "$work/knot.log"
wait_for heimdall "$heimdall_port" "$work/heimdall.log"
wait_for dnsdist "$dnsdist_port" "$work/dnsdist.log"

measure() {  # measure PORT -> prints "qps lost avg_latency_ms" into $work/result-PORT
  # dnsperf runs as a background job so that `wait` (unlike a pipeline) is
  # interrupted by the INT/TERM trap and the cleanup stops it at once.
  timeout -k 5 $((seconds + 30)) \
    dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -c 4 -l "$seconds" >"$work/dnsperf-$1.log" 2>&1 &
  pids+=($!)
  wait $! || true
  awk '/Queries per second/ {qps=$4}
       /Queries lost/ {lost=$3}
       /Average Latency/ {lat=$4 * 1000}
       END {if (qps == "") exit 1; printf "%.0f %s %.3f\n", qps, lost, lat}' "$work/dnsperf-$1.log" \
    >"$work/result-$1" || { echo "dnsperf against port $1 failed:" >&2; cat "$work/dnsperf-$1.log" >&2; exit 1; }
}

measure "$knot_port"
measure "$heimdall_port"
measure "$dnsdist_port"
read -r direct_qps direct_lost direct_lat <"$work/result-$knot_port"
read -r heimdall_qps heimdall_lost heimdall_lat <"$work/result-$heimdall_port"
read -r dnsdist_qps dnsdist_lost dnsdist_lat <"$work/result-$dnsdist_port"
for value in "$direct_qps" "$heimdall_qps" "$dnsdist_qps"; do
  [[ -n "$value" && "$value" != 0 ]] || { echo "a dnsperf run measured nothing:" >&2; cat "$work"/dnsperf-*.log >&2; exit 1; }
done

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "versions: $("$heimdall" --version 2>/dev/null | head -1), knotd $(knotd --version | grep -m1 -o '[0-9][0-9.]*'), $(dnsdist --version | head -1 | cut -d' ' -f1-2), dnsperf $(dnsperf -h 2>&1 | grep -m1 -o 'Version [0-9.]*' | cut -d' ' -f2)"
echo "command: perf/forwarding.sh $seconds  (dnsperf -c 4 -l $seconds, 10,000 distinct names, no cache anywhere)"
echo
echo "| target | QPS | lost | avg latency (ms) | QPS / heimdall | QPS / knotd direct |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for row in "knotd directly:$direct_qps:$direct_lost:$direct_lat" \
           "heimdall (socket, 2 workers) -> knotd:$heimdall_qps:$heimdall_lost:$heimdall_lat" \
           "dnsdist (no packet cache) -> knotd:$dnsdist_qps:$dnsdist_lost:$dnsdist_lat"; do
  IFS=: read -r name qps lost lat <<<"$row"
  vs_heimdall=$(awk -v a="$qps" -v b="$heimdall_qps" 'BEGIN {printf "%.2f", a / b}')
  vs_direct=$(awk -v a="$qps" -v b="$direct_qps" 'BEGIN {printf "%.2f", a / b}')
  echo "| $name | $qps | $lost | $lat | $vs_heimdall | $vs_direct |"
done
