#!/usr/bin/env bash
# Cache-miss forwarding throughput of heimdall binaries side by side in one run,
# for a change to the upstream path (issue 12 item 7: a connected socket per UDP
# attempt costs socket + bind + connect + epoll_ctl + close per query). Every
# query is a name never asked before, answered by knotd's wildcard, and the cache
# is off, so every query goes upstream. The binaries take turns ROUNDS times, so
# that drift on the shared machine hits them alike; the table has each run.
#
# usage: perf/miss_throughput.sh SECONDS ROUNDS LABEL=BINARY[:UPSTREAM_KEYS] ...
#   perf/miss_throughput.sh 10 2 before=/tmp/heimdall-main \
#       "after=build/src/app/heimdall:, case_randomisation: false" \
#       "after, 0x20=build/src/app/heimdall"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
cd "$(dirname "$0")/.."

seconds="${1:?usage: perf/miss_throughput.sh SECONDS ROUNDS LABEL=BINARY[:KEYS] ...}"
rounds="${2:?rounds}"
shift 2
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 120 ]] || { echo "SECONDS 1..120" >&2; exit 2; }
[[ "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 1 && "$rounds" -le 10 ]] || { echo "ROUNDS 1..10" >&2; exit 2; }
for tool in knotd dnsperf dig timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool: scripts/install-deps.sh test" >&2; exit 1; }
done

lab_init heimdall-miss 5 together
read -r knot_port < <(lab_free_ports 1)
lab_start_bench_knot "$knot_port"
seq 1 3000000 | sed 's/.*/m&.bench.test A/' >"$work/queries"

one_run() {  # one_run LABEL BINARY KEYS -> "qps lost latency_ms"
  local port
  read -r port < <(lab_free_ports 1)
  cat >"$work/h.yaml" <<YAML
dataplane: {backend: socket, workers: 2}
listen: {udp: ["127.0.0.1:$port"]}
cache: {enabled: false}
upstreams: {timeout_ms: 1500, servers: [{address: "127.0.0.1:$knot_port"}]$3}
logging: {level: warn}
YAML
  "$2" --config "$work/h.yaml" >"$work/h.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 50); do
    dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" ready.bench.test A 2>/dev/null |
      grep -qx 192.0.2.1 && break
    sleep 0.1
  done
  # 3,000,000 names: none repeats within a run (coalescing would flatter it); with
  # the cache off a name asked in an earlier run is forwarded all the same.
  timeout -k 5 $((seconds + 30)) dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" -c 4 -q 256 \
    -l "$seconds" -t 2 >"$work/dnsperf.log" 2>&1 || true
  lab_stop_pid "$pid"
  awk '/Queries per second/ {qps=$4} /Queries lost/ {lost=$3} /Average Latency/ {lat=$4 * 1000}
       END {printf "%.0f %s %.3f\n", qps, lost, lat}' "$work/dnsperf.log"
}

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "command: perf/miss_throughput.sh $seconds $rounds $*"
echo "(dnsperf -c 4 -q 256 -l $seconds, names never asked before, cache off, knotd upstream, 2 workers)"
echo
echo "| heimdall | round | QPS | lost | avg latency (ms) |"
echo "| --- | ---: | ---: | ---: | ---: |"
for round in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    label="${spec%%=*}"
    rest="${spec#*=}"
    binary="${rest%%:*}"
    keys=""
    [[ "$rest" == *:* ]] && keys="${rest#*:}"
    read -r qps lost lat < <(one_run "$label" "$binary" "$keys")
    echo "| $label | $round | $qps | $lost | $lat |"
  done
done
