#!/usr/bin/env bash
# The hit and miss paths through the network-namespace lab (scripts/lab.sh): dnsperf
# in hdlab-client against Heimdall at 10.99.0.2, knotd in hdlab-up as the upstream,
# one after the other on the same veths: the DPDK backend on an af_packet port, then
# the socket backend with the address on that interface. Only the lab's own
# namespaces carry traffic; each run is bounded by SECONDS.
#
#   perf/dpdk_lab.sh HEIMDALL_BIN [SECONDS]
#
# hits:   the lab's 11 names over and over (cached after their first query);
# misses: names never asked before (u<N>.lab.example: NXDOMAIN from knotd), so
#         every query is forwarded.
# Prints one line per backend and path: queries/s, average latency, lost.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:?usage: perf/dpdk_lab.sh HEIMDALL_BIN [SECONDS]}"
seconds="${2:-10}"
work="$(mktemp -d /tmp/hdlab-perf.XXXXXX)"
trap 'HDLAB_ID=perf scripts/lab.sh down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

printf '%s\n' www.lab.example mail.lab.example a1.lab.example a2.lab.example a3.lab.example \
  ns.lab.example alias.lab.example | sed 's/$/ A/' >"$work/hits.txt"
printf 'www.lab.example AAAA\nlab.example MX\nlab.example SOA\ntxt.lab.example TXT\n' \
  >>"$work/hits.txt"
# Enough distinct names that none repeats within the run at the rates reached here.
seq 1 2000000 | sed 's/.*/u&.lab.example A/' >"$work/misses.txt"

run_dnsperf() {  # run_dnsperf BACKEND PATH FILE
  local out
  out=$(ip netns exec hdlab-clientperf dnsperf -s 10.99.0.2 -d "$3" -l "$seconds" -c 4 -q 256 \
    -t 2 2>&1 || true)
  local sent completed lost qps latency
  sent=$(sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' <<<"$out")
  completed=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' <<<"$out")
  lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' <<<"$out")
  qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' <<<"$out")
  latency=$(sed -n 's/^ *Average Latency (s): *\([0-9.]*\).*/\1/p' <<<"$out")
  printf '%-7s %-6s %10.0f q/s  avg latency %8.3f ms  sent %s completed %s lost %s\n' "$1" "$2" \
    "${qps:-0}" "$(awk -v l="${latency:-0}" 'BEGIN { print l * 1000 }')" "${sent:-?}" \
    "${completed:-?}" "${lost:-?}"
}

for backend in dpdk socket; do
  HDLAB_ID=perf HDLAB_BACKEND="$backend" HEIMDALL_BIN="$bin" scripts/lab.sh up >"$work/up.log" 2>&1 ||
    { cat "$work/up.log"; exit 1; }
  run_dnsperf "$backend" hits "$work/hits.txt"
  run_dnsperf "$backend" misses "$work/misses.txt"
  HDLAB_ID=perf scripts/lab.sh down >/dev/null 2>&1
done
