#!/usr/bin/env bash
# Misbehaving upstreams, side by side in one run (issue 12, item 3): how many
# upstream packets (UDP datagrams + TCP connections, as the upstream counts them)
# one client query costs through (a) heimdall (socket backend, 2 workers, one
# upstream, failover, 1500 ms budget: the shape of
# tests/integration/hostile_upstream_test.py), (b) dnsdist without a packet cache
# and (c) Unbound forwarding "." with the validator off, each in front of
# tests/tools/hostile_upstream.py in every mode below.
#
# For each mode and resolver: a fresh hostile_upstream.py (--stats-file), a fresh
# resolver, its counters zeroed once it listens, then N distinct fresh names asked
# one after the other with dig (+tries=1 +timeout=5; dig follows a TC answer over
# TCP, as a stub does, and that retry belongs to the same client query), then 1 s
# for late retries before the counts are read. Everything runs on 127.0.0.1 ports
# below the ephemeral range, each dig is bounded by timeout(1), and every process
# started here is stopped on exit (trap). tc_refuse counts SYNs with a packet
# socket: run as root. The output is two markdown tables for perf/RESULTS.md.
#
# usage: perf/hostile_upstream.sh [N queries per mode and resolver, default 20] [mode...]
#        modes default to: tc_reset tc_refuse servfail refused silent garbage slow correct
#        (slow runs with --delay-ms 2000)
#        HEIMDALL_BIN=path/to/heimdall perf/hostile_upstream.sh   (default build/src/app/heimdall)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
cd "$(dirname "$0")/.."

queries="${1:-20}"
[[ "$queries" =~ ^[0-9]+$ && "$queries" -ge 1 && "$queries" -le 500 ]] ||
  { echo "N must be 1..500" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
modes=("$@")
((${#modes[@]})) || modes=(tc_reset tc_refuse servfail refused silent garbage slow correct)
resolvers=(heimdall dnsdist unbound)
heimdall="${HEIMDALL_BIN:-build/src/app/heimdall}"
tool=tests/tools/hostile_upstream.py
[[ -x "$heimdall" ]] || { echo "build heimdall first (ninja -C build), or set HEIMDALL_BIN" >&2; exit 1; }
for program in dnsdist unbound dig python3 timeout ss; do
  command -v "$program" >/dev/null || { echo "missing $program: scripts/install-deps.sh test" >&2; exit 1; }
done
if [[ " ${modes[*]} " == *" tc_refuse "* && "$(id -u)" -ne 0 ]]; then
  echo "tc_refuse counts SYNs with a packet socket: run as root" >&2
  exit 1
fi

# On exit: SIGTERM to everything at once, up to 5 s for a clean stop, then SIGKILL.
lab_init heimdall-hostile 5 together

# Waits up to 10 s until something listens on 127.0.0.1:$1 over UDP.
wait_udp_listener() {
  local _
  for _ in $(seq 1 100); do
    [[ -n "$(ss -Hlun "sport = :$1")" ]] && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1 (UDP)" >&2
  return 1
}

# Starts hostile_upstream.py in mode $1 on port $2, its counts in $work/stats.json.
start_upstream() {
  local delay=()
  [[ "$1" == slow ]] && delay=(--delay-ms 2000)
  rm -f "$work/stats.json"
  python3 "$tool" --port "$2" --mode "$1" "${delay[@]}" --stats-file "$work/stats.json" \
    >"$work/upstream.log" 2>&1 &
  upstream_pid=$!
  pids+=("$upstream_pid")
  for _ in $(seq 1 100); do
    [[ -s "$work/stats.json" ]] && return 0
    kill -0 "$upstream_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "hostile_upstream.py did not start:" >&2
  cat "$work/upstream.log" >&2
  return 1
}

# Starts resolver $1 on port $2, forwarding to 127.0.0.1:$3, and waits until it listens.
start_resolver() {
  local name="$1" port="$2" upstream="$3"
  case "$name" in
    heimdall)
      cat >"$work/heimdall.yaml" <<YAML
dataplane: {backend: socket, workers: 2}
edns: {max_udp: 1232}
listen: {udp: ["127.0.0.1:$port"], tcp: ["127.0.0.1:$port"]}
upstreams: {strategy: failover, timeout_ms: 1500, servers: [{address: "127.0.0.1:$upstream"}]}
logging: {level: warn}
YAML
      "$heimdall" --config "$work/heimdall.yaml" >"$work/resolver.log" 2>&1 &
      ;;
    dnsdist)
      cat >"$work/dnsdist.conf" <<LUA
setSecurityPollSuffix("")  -- never poll the internet for security status
setLocal("127.0.0.1:$port")
newServer({address="127.0.0.1:$upstream", healthCheckMode="lazy"})
LUA
      dnsdist --supervised --disable-syslog -C "$work/dnsdist.conf" >"$work/resolver.log" 2>&1 &
      ;;
    unbound)
      cat >"$work/unbound.conf" <<CONF
server:
  interface: 127.0.0.1
  port: $port
  do-ip6: no
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "$work"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$upstream
CONF
      unbound -d -c "$work/unbound.conf" >"$work/resolver.log" 2>&1 &
      ;;
  esac
  resolver_pid=$!
  pids+=("$resolver_pid")
  wait_udp_listener "$port" || { cat "$work/resolver.log" >&2; return 1; }
}

# One client query for a fresh name to port $1: prints what the client got
# (the RCODE, "timeout" or "error") and how long it took in ms.
ask() {
  local start output outcome
  start=$(date +%s%N)
  output=$(timeout 12 dig @127.0.0.1 -p "$1" +tries=1 +timeout=5 "$2" A 2>&1) || true
  if [[ "$output" =~ status:\ ([A-Z]+) ]]; then
    outcome="${BASH_REMATCH[1]}"
  elif [[ "$output" == *"timed out"* ]]; then
    outcome=timeout
  else
    outcome=error
  fi
  echo "$outcome $((($(date +%s%N) - start) / 1000000))"
}

# "12 SERVFAIL, 8 timeout" from a list of outcomes on stdin.
summarise() {
  sort | uniq -c | sort -rn | awk '{printf "%s%d %s", (NR > 1 ? ", " : ""), $1, $2} END {print ""}'
}

declare -A packets outcomes totals times
for mode in "${modes[@]}"; do
  for name in "${resolvers[@]}"; do
    read -r upstream_port resolver_port < <(lab_free_ports 2)
    start_upstream "$mode" "$upstream_port"
    start_resolver "$name" "$resolver_port" "$upstream_port"
    sleep 0.3
    kill -USR2 "$upstream_pid"  # whatever the resolver sent at start-up is not a client's
    sleep 0.2
    : >"$work/answers"
    for i in $(seq 1 "$queries"); do
      ask "$resolver_port" "q$i-$RANDOM$RANDOM-$mode-$name.example" >>"$work/answers"
    done
    sleep 1  # retries still under way
    read -r total udp tcp < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["upstream_packets"], s["udp_datagrams"], s["tcp_connections"])' "$work/stats.json")
    lab_stop_pid "$resolver_pid" "$upstream_pid"
    pids=()
    packets[$mode,$name]=$(awk -v t="$total" -v n="$queries" 'BEGIN {printf "%.2f", t / n}')
    outcomes[$mode,$name]="$(cut -d' ' -f1 "$work/answers" | summarise)"
    totals[$mode,$name]="$total ($udp UDP + $tcp TCP)"
    times[$mode,$name]="$(awk '{s += $2} END {printf "%.0f", s / NR}' "$work/answers")"
    echo "$mode $name: ${packets[$mode,$name]} per query, ${totals[$mode,$name]}," \
      "${times[$mode,$name]} ms, ${outcomes[$mode,$name]}" >&2
  done
done

echo "Upstream packets per client query ($queries fresh names per cell, one after the other):"
echo
echo "| mode | Heimdall | dnsdist | Unbound |"
echo "|---|---:|---:|---:|"
for mode in "${modes[@]}"; do
  echo "| $mode | ${packets[$mode,heimdall]} | ${packets[$mode,dnsdist]} | ${packets[$mode,unbound]} |"
done
echo
echo "What the client got; upstream packets in all (UDP datagrams + TCP connections); mean time per query:"
echo
echo "| mode | resolver | client got | upstream packets | mean time |"
echo "|---|---|---|---:|---:|"
for mode in "${modes[@]}"; do
  for name in "${resolvers[@]}"; do
    echo "| $mode | $name | ${outcomes[$mode,$name]} | ${totals[$mode,$name]} | ${times[$mode,$name]} ms |"
  done
done
