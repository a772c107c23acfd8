# shellcheck shell=bash
# The lab shared by the perf/*.sh benchmark scripts: a work directory, the list of
# processes they start and an EXIT trap that stops them, free loopback ports, and
# knotd as the upstream. Sourced, not run: source "$(dirname "$0")/lab.sh" (before
# any cd). Every function keeps to 127.0.0.1 and is bounded in time.
#
#   lab_init NAME STOP_SECONDS [together]
#       Makes the work directory $work (/tmp/NAME.XXXXXX) and the empty pid list
#       $pids (append every background process: pids+=($!)), and installs the traps:
#       on EXIT every pid in $pids is stopped (lab_stop_pid, STOP_SECONDS) and $work
#       removed; INT and TERM exit with 130, so the EXIT trap runs then too. By
#       default the pids are stopped one after the other (up to STOP_SECONDS each);
#       with "together" they get SIGTERM at once and share one STOP_SECONDS.
#   lab_stop_pid PID...
#       SIGTERM to each PID, up to STOP_SECONDS (from lab_init) for all of them to
#       exit, then SIGKILL to any left, and reaps them. A PID already gone is fine.
#   lab_free_ports N
#       Prints N distinct ports, each free on 127.0.0.1 for both UDP and TCP right
#       now, picked at random from 10000 up to the start of the kernel's ephemeral
#       range (net.ipv4.ip_local_port_range). Why below that range: clients such as
#       dig bind their source ports with SO_REUSEPORT, like heimdall's listeners, so
#       a client whose kernel-chosen source port happened to equal a listener's port
#       would share it with the listener instead of failing, and queries or answers
#       would go to the wrong socket. The kernel never hands out a source port below
#       the range, so there no client can collide with a listener.
#   lab_start_knot PORT DOMAIN ZONE_FILE
#       Writes $work/knot.conf (one zone DOMAIN from ZONE_FILE, listening on
#       127.0.0.1@PORT, state in $work, errors only, to $work/knot.log) and starts
#       knotd in the background, its pid appended to $pids. It does not wait for
#       knotd to answer: each script checks that in its own way.
#   lab_start_root_knot PORT
#       lab_start_knot with the root zone: $work/root.zone holds a wildcard
#       (* IN A 192.0.2.1), so every name has an answer: the upstream for names
#       a filter lets through.

lab_init() {
  work="$(mktemp -d "/tmp/$1.XXXXXX")"
  pids=()
  lab_stop_seconds="$2"
  lab_stop_together="${3:-}"
  trap lab_cleanup EXIT
  trap 'exit 130' INT TERM
}

lab_stop_pid() {
  local pid running
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 $((lab_stop_seconds * 10))); do
    running=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && running=1; done
    ((running)) || break
    sleep 0.1
  done
  for pid in "$@"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

lab_cleanup() {
  local pid
  if [[ "$lab_stop_together" == together ]]; then
    lab_stop_pid "${pids[@]}"
  else
    for pid in "${pids[@]}"; do lab_stop_pid "$pid"; done
  fi
  rm -rf "$work"
}

lab_free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
count = int(sys.argv[1])
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
ports = []
while len(ports) < count:
    port = random.randrange(10000, low)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
             socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            u.bind(("127.0.0.1", port))
            t.bind(("127.0.0.1", port))
    except OSError:
        continue
    if port not in ports:
        ports.append(port)
print(*ports)
PY
}

lab_start_knot() {
  cat >"$work/knot.conf" <<KNOT
server:
  listen: 127.0.0.1@$1
  rundir: $work
log:
  - target: stderr
    any: error
database:
  storage: $work
zone:
  - domain: $2
    file: $3
KNOT
  knotd -c "$work/knot.conf" 2>"$work/knot.log" &
  pids+=($!)
}

# knotd on port $1 serving bench.test., where every name has A 192.0.2.1: each
# query for a fresh name is a cache miss that the upstream answers at once.
lab_start_bench_knot() {
  cat >"$work/zone" <<'ZONE'
$ORIGIN bench.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
@ IN NS ns1
ns1 IN A 127.0.0.1
* IN A 192.0.2.1
ZONE
  lab_start_knot "$1" bench.test. "$work/zone"
}

lab_start_root_knot() {
  cat >"$work/root.zone" <<'ZONE'
$ORIGIN .
$TTL 300
@ IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60
@ IN NS ns.invalid.
* IN A 192.0.2.1
ZONE
  lab_start_knot "$1" . "$work/root.zone"
}
