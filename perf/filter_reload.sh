#!/usr/bin/env bash
# Memory and lost queries during a filter reload, through the real binary (issue
# "Trie blocking at ISP scale"). For each run:
#   1. heimdall starts with one generated blocklist (perf/gen_blocklist.py, hosts
#      format, --count rules) and is waited for ("ready");
#   2. quiet reload: VmRSS is read, the peak is reset (echo 5 > /proc/PID/clear_refs
#      resets VmHWM), SIGHUP, the second "filter: built" line is waited for, then
#      VmHWM (the peak during the reload) and VmRSS (after) are read;
#   3. traffic without reloads: dnsperf -l SECONDS -Q QPS over a query file that
#      alternates listed names (NXDOMAIN from heimdall) and unlisted ones (forwarded
#      to knotd, whose root-zone wildcard answers everything);
#   4. the same traffic with two SIGHUP reloads in the middle of it; the peak again.
# heimdall runs with its cache off, so the memory that moves is the filter's and
# every unlisted name really goes upstream. The output is markdown for
# perf/RESULTS.md: one row per run, then the medians.
#
# Ports: 127.0.0.1 only, below the ephemeral range (dnsperf's and dig's source ports
# cannot collide with them), picked at run time. Every step is bounded by a timeout
# and everything started here is stopped on exit.
#
# usage: perf/filter_reload.sh [--count RULES] [--runs N] [--seconds S] [--qps Q]
#        defaults: 1000000 rules, 3 runs, 10 s of traffic per phase, 20000 queries/s
#        HEIMDALL_BIN=path/to/heimdall (default build/src/app/heimdall)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
cd "$(dirname "$0")/.."

count=1000000 runs=3 seconds=10 qps=20000
while (($#)); do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --qps) qps="$2"; shift 2 ;;
    *) echo "usage: $0 [--count RULES] [--runs N] [--seconds S] [--qps Q]" >&2; exit 2 ;;
  esac
done
[[ "$count" =~ ^[0-9]+$ && "$count" -ge 1000 && "$count" -le 20000000 ]] || { echo "--count: 1000..20000000" >&2; exit 2; }
[[ "$runs" =~ ^[0-9]+$ && "$runs" -ge 1 && "$runs" -le 10 ]] || { echo "--runs: 1..10" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 4 && "$seconds" -le 120 ]] || { echo "--seconds: 4..120" >&2; exit 2; }
[[ "$qps" =~ ^[0-9]+$ && "$qps" -ge 100 && "$qps" -le 200000 ]] || { echo "--qps: 100..200000" >&2; exit 2; }

heimdall="${HEIMDALL_BIN:-build/src/app/heimdall}"
[[ -x "$heimdall" ]] || { echo "build heimdall first (ninja -C build), or set HEIMDALL_BIN" >&2; exit 1; }
for tool in knotd dnsperf dig python3 timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
# Generous bounds for the slow steps: start-up and each reload scale with the list.
load_timeout=$((30 + count / 50000))

lab_init heimdall-filter-reload 10  # each process: SIGTERM, up to 10 s, then SIGKILL
# Two ports below the ephemeral range, free for UDP and TCP on 127.0.0.1 right now.
read -r heimdall_port knot_port < <(lab_free_ports 2)

echo "generating $count rules ..." >&2
timeout $((60 + count / 10000)) python3 perf/gen_blocklist.py --count "$count" --format hosts \
  --output "$work/list.hosts" --blocked-queries "$work/blocked" \
  --unblocked-queries "$work/unblocked" --queries 100000 --quiet
paste -d '\n' "$work/blocked" "$work/unblocked" >"$work/queries"  # alternating
list_bytes=$(stat -c %s "$work/list.hosts")
first_blocked=$(head -1 "$work/blocked" | cut -d' ' -f1)
first_unblocked=$(head -1 "$work/unblocked" | cut -d' ' -f1)

# knotd: the root zone with a wildcard, so every unlisted name has an answer.
lab_start_root_knot "$knot_port"

cat >"$work/heimdall.yaml" <<YAML
dataplane: {backend: socket, workers: 2}
listen: {udp: ["127.0.0.1:$heimdall_port"], tcp: ["127.0.0.1:$heimdall_port"]}
upstreams: {strategy: fastest, timeout_ms: 1500, servers: [{address: "127.0.0.1:$knot_port"}]}
cache: {enabled: false}
logging: {level: info}
filter:
  response: nxdomain
  watch_files: false
  state_dir: $work/state
  lists:
    - {name: isp, source: list.hosts, format: hosts}
YAML

answer_of() {  # answer_of PORT NAME: the rcode and first address, or "" on no answer
  dig +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" A 2>/dev/null |
    awk '/status:/ {sub(",", "", $6); s=$6} /^[^;].*\tA\t/ {a=$NF} END {print s, a}'
}
for _ in $(seq 1 50); do
  [[ "$(answer_of "$knot_port" "$first_unblocked")" == "NOERROR 192.0.2.1" ]] && break
  sleep 0.1
done
[[ "$(answer_of "$knot_port" "$first_unblocked")" == "NOERROR 192.0.2.1" ]] ||
  { echo "knotd is not answering; its log:" >&2; cat "$work/knot.log" >&2; exit 1; }

status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
built_lines() { grep -c 'filter: built' "$1" || true; }
wait_built() {  # wait_built LOG N: until the log has N "filter: built" lines
  for _ in $(seq 1 $((load_timeout * 20))); do
    (($(built_lines "$1") >= $2)) && return 0
    grep -q 'reload .* abandoned' "$1" && break
    sleep 0.05
  done
  echo "no 'filter: built' number $2 in time; log:" >&2; cat "$1" >&2; exit 1
}
built_ms() { grep 'filter: built' "$1" | sed -n "$2p" | sed -E 's/.* in ([0-9.]+) ms.*/\1/'; }
built_mib() { grep 'filter: built' "$1" | sed -n "$2p" | sed -E 's/.*, ([0-9.]+) MiB.*/\1/'; }
dnsperf_run() {  # dnsperf_run OUTFILE: bounded traffic at heimdall, in the background
  timeout -k 5 $((seconds + 30)) dnsperf -s 127.0.0.1 -p "$heimdall_port" -d "$work/queries" \
    -l "$seconds" -Q "$qps" -c 4 >"$1" 2>&1 &
  dnsperf_pid=$!
  pids+=("$dnsperf_pid")
}
dnsperf_field() {  # dnsperf_field FILE: "sent lost nxdomain_percent max_latency_ms"
  awk '/Queries sent:/ {s=$3} /Queries lost:/ {l=$3}
       /NXDOMAIN/ {for (i = 1; i <= NF; i++) if ($i == "NXDOMAIN") {p=$(i+2); gsub(/[(%),]/, "", p)}}
       /Average Latency/ {m=$NF; gsub(/\)/, "", m); m *= 1000}
       END {if (s == "") exit 1; printf "%s %s %s %.1f\n", s, l, p, m}' "$1" ||
    { echo "dnsperf failed:" >&2; cat "$1" >&2; exit 1; }
}

results="$work/results"
: >"$results"
for run in $(seq 1 "$runs"); do
  log="$work/heimdall-$run.log"
  started_ns=$(date +%s%N)
  "$heimdall" --config "$work/heimdall.yaml" 2>"$log" &
  hpid=$!
  pids+=("$hpid")
  for _ in $(seq 1 $((load_timeout * 20))); do
    grep -q ' ready: ' "$log" && break
    kill -0 "$hpid" 2>/dev/null || { echo "heimdall exited; log:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  grep -q ' ready: ' "$log" || { echo "heimdall not ready in ${load_timeout} s; log:" >&2; cat "$log" >&2; exit 1; }
  ready_ms=$((($(date +%s%N) - started_ns) / 1000000))
  [[ "$(answer_of "$heimdall_port" "$first_blocked")" == "NXDOMAIN " ]] ||
    { echo "a listed name is not NXDOMAIN through heimdall" >&2; exit 1; }
  [[ "$(answer_of "$heimdall_port" "$first_unblocked")" == "NOERROR 192.0.2.1" ]] ||
    { echo "an unlisted name is not forwarded by heimdall" >&2; exit 1; }
  sleep 1
  hwm_start=$(status_kb "$hpid" VmHWM)  # start-up's own peak (first build, nothing to free)

  # 2. A quiet reload.
  rss_before=$(status_kb "$hpid" VmRSS)
  echo 5 >"/proc/$hpid/clear_refs"
  kill -HUP "$hpid"
  wait_built "$log" 2
  sleep 1  # the old snapshot is freed once the grace period is over
  peak=$(status_kb "$hpid" VmHWM)
  rss_after=$(status_kb "$hpid" VmRSS)

  # 3. Traffic alone, then 4. traffic with two reloads.
  dnsperf_run "$work/dnsperf-plain-$run"
  wait "$dnsperf_pid" || true
  read -r plain_sent plain_lost plain_nx plain_max < <(dnsperf_field "$work/dnsperf-plain-$run")
  rss_load_before=$(status_kb "$hpid" VmRSS)
  echo 5 >"/proc/$hpid/clear_refs"
  dnsperf_run "$work/dnsperf-reload-$run"
  sleep $((seconds / 5))
  kill -HUP "$hpid"
  wait_built "$log" 3
  sleep 1
  kill -HUP "$hpid"
  wait_built "$log" 4
  wait "$dnsperf_pid" || true
  read -r load_sent load_lost load_nx load_max < <(dnsperf_field "$work/dnsperf-reload-$run")
  load_peak=$(status_kb "$hpid" VmHWM)
  lab_stop_pid "$hpid"

  echo "$run $ready_ms $(built_ms "$log" 1) $(built_ms "$log" 2) $(built_mib "$log" 2) $hwm_start" \
    "$rss_before $peak $rss_after $plain_sent $plain_lost $plain_nx $plain_max" \
    "$rss_load_before $load_peak $load_sent $load_lost $load_nx $load_max" \
    "$(built_ms "$log" 3) $(built_ms "$log" 4)" >>"$results"
  echo "run $run done" >&2
done

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
echo "versions: $("$heimdall" --version 2>/dev/null | head -1), knotd $(knotd --version | grep -m1 -o '[0-9][0-9.]*'), dnsperf $(dnsperf -h 2>&1 | grep -m1 -o 'Version [0-9.]*' | cut -d' ' -f2)"
echo "command: perf/filter_reload.sh --count $count --runs $runs --seconds $seconds --qps $qps"
echo "list: $count rules, hosts format, $((list_bytes / 1048576)) MiB of text"
echo
python3 - "$results" "$list_bytes" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
text_mib = int(sys.argv[2]) / 2**20
keys = ("run ready_ms start_ms reload_ms snap_mib hwm_start rss_before peak rss_after "
        "plain_sent plain_lost plain_nx plain_max load_before load_peak load_sent load_lost "
        "load_nx load_max reload2_ms reload3_ms").split()
runs = [dict(zip(keys, map(float, row))) for row in rows]
mib = lambda kb: kb / 1024
def line(cells): print("| " + " | ".join(cells) + " |")

print("Quiet reload (memory in MiB; peak = VmHWM from just before SIGHUP until after it):")
print()
line(["run", "start-up to ready (ms)", "build at start (ms)", "reload build (ms)",
      "snapshot (MiB)", "RSS before", "peak during reload", "RSS after", "peak - before",
      "new snapshot + list text", "peak within old + new + text?"])
line(["---"] + ["---:"] * 9 + ["---"])
def quiet(r):
    growth = mib(r["peak"] - r["rss_before"])
    bound = r["snap_mib"] + text_mib
    return [f'{r["ready_ms"]:.0f}', f'{r["start_ms"]:.0f}', f'{r["reload_ms"]:.0f}',
            f'{r["snap_mib"]:.1f}', f'{mib(r["rss_before"]):.1f}', f'{mib(r["peak"]):.1f}',
            f'{mib(r["rss_after"]):.1f}', f'{growth:.1f}', f'{bound:.1f}',
            "yes" if growth <= bound else f"no, +{growth - bound:.1f}"]
for r in runs:
    line([str(int(r["run"]))] + quiet(r))
med = {k: statistics.median(r[k] for r in runs) for k in keys}
line(["**median**"] + [f"**{c}**" if i < 9 else c for i, c in enumerate(quiet(med))])
print()
print("Traffic: dnsperf -Q at a fixed rate, half listed names, half forwarded; "
      "without reloads, then with two SIGHUP reloads during it:")
print()
line(["run", "sent (no reload)", "lost", "NXDOMAIN %", "max latency (ms)",
      "sent (2 reloads)", "lost", "NXDOMAIN %", "max latency (ms)", "reload builds (ms)",
      "peak - before, under load (MiB)"])
line(["---"] + ["---:"] * 10)
for r in runs + [med]:
    name = "**median**" if r is med else str(int(r["run"]))
    line([name, f'{r["plain_sent"]:.0f}', f'{r["plain_lost"]:.0f}', f'{r["plain_nx"]:.2f}',
          f'{r["plain_max"]:.1f}', f'{r["load_sent"]:.0f}', f'{r["load_lost"]:.0f}',
          f'{r["load_nx"]:.2f}', f'{r["load_max"]:.1f}',
          f'{r["reload2_ms"]:.0f}, {r["reload3_ms"]:.0f}',
          f'{mib(r["load_peak"] - r["load_before"]):.1f}'])
print()
print(f"Start-up peak (VmHWM at ready, first build, no old snapshot): median "
      f"{mib(med['hwm_start']):.1f} MiB; list text {text_mib:.1f} MiB.")
PY
