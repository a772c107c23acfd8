#!/usr/bin/env bash
# RFC 5452 guessing resistance, measured (issue 12 item 7): N distinct cache-miss
# queries (lower case) through each resolver to a recording upstream
# (tests/tools/hostile_upstream.py --record), then perf/rfc5452_bits.py estimates
# the bits per upstream query in the ID, the source port and the 0x20 case from
# what the upstream saw. Resolvers, one after the other, each with an upstream of
# its own: heimdall (socket backend, 2 workers) with a socket per attempt and no
# 0x20, and with its defaults (0x20, up to 16 attempts per socket), an older
# heimdall when OLD_HEIMDALL_BIN is set, Unbound (forwarding, defaults and with
# use-caps-for-id), dnsdist (defaults). Everything on 127.0.0.1, bounded by
# timeouts, every process stopped on exit.
#
# usage: perf/rfc5452_bits.sh [N queries, default 2000]
#        HEIMDALL_BIN=... OLD_HEIMDALL_BIN=... perf/rfc5452_bits.sh 2000
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
cd "$(dirname "$0")/.."

count="${1:-2000}"
[[ "$count" =~ ^[0-9]+$ && "$count" -ge 100 && "$count" -le 100000 ]] ||
  { echo "N must be 100..100000" >&2; exit 2; }
heimdall="${HEIMDALL_BIN:-build/src/app/heimdall}"
old_heimdall="${OLD_HEIMDALL_BIN:-}"
[[ -x "$heimdall" ]] || { echo "build heimdall first, or set HEIMDALL_BIN" >&2; exit 1; }
for tool in dnsperf unbound dnsdist python3 timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 1; }
done

lab_init heimdall-bits 5 together
tool=tests/tools/hostile_upstream.py
for i in $(seq 1 "$count"); do echo "b$i.bits.example A"; done >"$work/queries"

start_recorder() {  # start_recorder LABEL PORT
  python3 "$tool" --port "$2" --mode correct --record "$work/$1.rec" >"$work/$1-up.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q hostile_upstream "$work/$1-up.log" && return 0; sleep 0.1; done
  echo "the recording upstream for $1 did not start" >&2; cat "$work/$1-up.log" >&2; exit 1
}

ask_all() {  # ask_all LABEL PORT: the whole list once, 8 in flight
  for _ in $(seq 1 50); do
    dnsperf -s 127.0.0.1 -p "$2" -d <(echo "probe.bits.example A") -n 1 -t 1 2>/dev/null |
      grep -q 'Queries completed: *1 ' && break
    sleep 0.2
  done
  : >"$work/$1.rec"  # the probe (and any warm-up) is not measured
  timeout -k 5 300 dnsperf -s 127.0.0.1 -p "$2" -d "$work/queries" -n 1 -q 8 -t 5 \
    >"$work/$1-dnsperf.log" 2>&1 || true
  sleep 0.5
}

heimdall_run() {  # heimdall_run LABEL BINARY EXTRA_UPSTREAM_KEYS
  local up port
  read -r up port < <(lab_free_ports 2)
  start_recorder "$1" "$up"
  cat >"$work/$1.yaml" <<YAML
dataplane: {backend: socket, workers: 2}
listen: {udp: ["127.0.0.1:$port"]}
cache: {enabled: false}
upstreams: {timeout_ms: 1500, servers: [{address: "127.0.0.1:$up"}]$3}
logging: {level: warn}
YAML
  "$2" --config "$work/$1.yaml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  ask_all "$1" "$port"
}

unbound_run() {  # unbound_run LABEL CAPS(yes|no)
  local up port
  read -r up port < <(lab_free_ports 2)
  start_recorder "$1" "$up"
  cat >"$work/$1.conf" <<CONF
server:
  interface: 127.0.0.1@$port
  port: $port
  num-threads: 2
  username: ""
  chroot: ""
  directory: "$work"
  pidfile: ""
  use-syslog: no
  logfile: "$work/$1-unbound.log"
  do-not-query-localhost: no
  module-config: "iterator"
  qname-minimisation: no
  access-control: 127.0.0.0/8 allow
  use-caps-for-id: $2
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$up
CONF
  unbound -d -c "$work/$1.conf" >"$work/$1.log" 2>&1 &
  pids+=($!)
  ask_all "$1" "$port"
}

dnsdist_run() {  # dnsdist_run LABEL
  local up port
  read -r up port < <(lab_free_ports 2)
  start_recorder "$1" "$up"
  cat >"$work/$1.conf" <<CONF
setLocal("127.0.0.1:$port")
newServer({address="127.0.0.1:$up"})
setACL({"127.0.0.0/8"})
CONF
  dnsdist --supervised --disable-syslog -C "$work/$1.conf" >"$work/$1.log" 2>&1 &
  pids+=($!)
  ask_all "$1" "$port"
}

labels=()
heimdall_run heimdall "$heimdall" ", case_randomisation: false, attempts_per_udp_socket: 1"
labels+=("heimdall (socket, 0x20 off, a socket per attempt)=$work/heimdall.rec")
heimdall_run heimdalldefault "$heimdall" ""
labels+=("heimdall (socket, defaults: 0x20 on, 16 attempts per socket)=$work/heimdalldefault.rec=sockets")
if [[ -n "$old_heimdall" ]]; then
  heimdall_run heimdallold "$old_heimdall" ""
  # Not '=sockets': its 8 sockets per worker are unconnected, so a scan finds them
  # and the forger picks among those few, which is what H2 over the queries shows.
  labels+=("heimdall before (8 sockets per worker)=$work/heimdallold.rec")
fi
unbound_run unbound no
labels+=("Unbound $(unbound -V | sed -n 's/^Version //p') (defaults)=$work/unbound.rec")
unbound_run unboundcaps yes
labels+=("Unbound (use-caps-for-id: yes)=$work/unboundcaps.rec")
dnsdist_run dnsdist
# Not '=sockets' either: its socket to a backend is opened once and kept, so its
# port is a secret of the process, not of the query.
labels+=("dnsdist $(dnsdist --version | head -1 | cut -d' ' -f2) (defaults)=$work/dnsdist.rec")

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "command: perf/rfc5452_bits.sh $count  ($count distinct names, lower case, dnsperf -n 1 -q 8)"
echo
python3 perf/rfc5452_bits.py "${labels[@]}"
