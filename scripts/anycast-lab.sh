#!/usr/bin/env bash
# Anycast lab (docs/deployment.md, "Anycast with BIRD"): two Heimdall nodes
# announcing one service address over BGP to a router that spreads clients over
# them by ECMP, each node's announcement gated by its /health through
# packaging/bird/heimdall-health.sh. Everything lives in network namespaces this
# script creates and removes; no traffic leaves them.
#
#   netns hdany-cli  eth0 10.98.3.2 ─┐
#   netns hdany-a    eth0 10.98.1.2 ─┤            lo 192.0.2.53 (service), Heimdall,
#   netns hdany-b    eth0 10.98.2.2 ─┼─ hdany-rt   BIRD (AS 65001 / 65002), health check
#   netns hdany-up   eth0 10.98.4.2 ─┘  (BIRD AS 65000, ECMP, ip_forward) knotd upstream
#
# Usage: scripts/anycast-lab.sh up | test | down | status
#   up      build it, start knotd, both nodes (Heimdall, BIRD, health check) and the
#           router's BIRD; wait until both nodes are announced
#   test    up, the checks (PASS/FAIL lines with the figures), then down (always).
#           Exit status: 0 passed, 1 a check failed or a tool is missing, 77
#           skipped (not root, or no network namespaces)
#   down    stop everything, delete the namespaces and the work directory
#   status  what exists now
#
# Environment: HEIMDALL_BIN (default build/src/app/heimdall), HEIMDALLCTL_BIN
# (default beside it), HDANY_DIR (work directory, default /tmp/hdany),
# HDANY_KEEP=1 (test leaves the lab up).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${HDANY_DIR:-/tmp/hdany}
WORK=${WORK%/}
HEIMDALL_BIN=${HEIMDALL_BIN:-$ROOT/build/src/app/heimdall}
HEIMDALLCTL_BIN=${HEIMDALLCTL_BIN:-$(dirname "$HEIMDALL_BIN")/heimdallctl}
HEALTH=$ROOT/packaging/bird/heimdall-health.sh
SKIP=77

NS_RT=hdany-rt
NS_CLI=hdany-cli
NS_UP=hdany-up
NODES=(a b)
NAMESPACES=("$NS_RT" "$NS_CLI" "$NS_UP" hdany-a hdany-b)
SERVICE=192.0.2.53
UP4=10.98.4.2
HOLD_DOWN=2 # seconds of health before a node is announced (again)
BGP_HOLD=3  # the BGP hold time: how long a dead node's route outlives it

declare -A NODE_NET=([a]=1 [b]=2)
declare -A NODE_AS=([a]=65001 [b]=65002)

log() { printf 'anycast-lab: %s\n' "$*"; }
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}
node_ns() { echo "hdany-$1"; }
node_ip() { echo "10.98.${NODE_NET[$1]}.2"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.1
  done
}

# Processes are started with their pid in WORK/NAME.pid; only ours are stopped.
start_bg() { # start_bg NAME NS COMMAND...: in the background, output to WORK/NAME.log
  local name=$1 ns=$2
  shift 2
  # ip itself, not a shell function: ip netns exec execs the command, so $! is its
  # pid and a signal reaches it, not a subshell.
  ip netns exec "$ns" "$@" >"$WORK/$name.log" 2>&1 &
  echo $! >"$WORK/$name.pid"
}
stop_bg() { # stop_bg NAME [SIGNAL]
  local file=$WORK/$1.pid pid
  [[ -f $file ]] || return 0
  pid=$(<"$file")
  rm -f "$file"
  if [[ -e /proc/$pid ]]; then
    kill "-${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      [[ -e /proc/$pid ]] || return 0
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

preflight() {
  local missing=() tool
  if ((EUID != 0)); then
    echo "skipped: the anycast lab needs root (network namespaces)"
    exit $SKIP
  fi
  for tool in ip bird birdc knotd knotc kdig curl python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  # Skipped only without root or namespaces: scripts/install-deps.sh installs the
  # tools, so one missing is a failure to see, not a reason to pass.
  if ((${#missing[@]})); then
    echo "FAIL  missing tools: ${missing[*]} (Debian: iproute2 bird2 knot knot-dnsutils curl;" \
      "scripts/install-deps.sh test installs them)"
    exit 1
  fi
  [[ -x $HEIMDALL_BIN ]] || { echo "anycast-lab: no heimdall at $HEIMDALL_BIN" >&2; exit 1; }
}

# ---------------------------------------------------------------------------------

link() { # link NS ADDRESS LAST_OCTET_NET: a veth from the router to NS
  local ns=$1 net=$2
  ip -n "$NS_RT" link add "rt$net" type veth peer name eth0 netns "$ns"
  ip -n "$NS_RT" addr add "10.98.$net.1/24" dev "rt$net"
  ip -n "$NS_RT" link set "rt$net" up
  ip -n "$ns" addr add "10.98.$net.2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "10.98.$net.1"
}

build_topology() {
  local ns node
  for ns in "${NAMESPACES[@]}"; do
    if ! ip netns add "$ns" 2>/dev/null; then
      echo "skipped: ip netns add $ns failed (no network namespaces here)"
      cleanup_topology
      exit $SKIP
    fi
    ip -n "$ns" link set lo up
  done
  in_ns "$NS_RT" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
  for node in "${NODES[@]}"; do
    link "$(node_ns "$node")" "${NODE_NET[$node]}"
    ip -n "$(node_ns "$node")" addr add "$SERVICE/32" dev lo
  done
  link "$NS_CLI" 3
  link "$NS_UP" 4
}

cleanup_topology() {
  local ns
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}

write_files() {
  mkdir -p "$WORK"
  cat >"$WORK/any.zone" <<'EOF'
$ORIGIN any.example.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
@ IN NS ns1
ns1 IN A 10.98.4.2
* IN A 192.0.2.7
EOF
  cat >"$WORK/knot.conf" <<EOF
server:
  listen: $UP4@53
  rundir: $WORK
log:
  - target: stderr
    any: warning
mod-stats:
  - id: counts
template:
  - id: default
    global-module: mod-stats/counts
database:
  storage: $WORK
zone:
  - domain: any.example.
    file: $WORK/any.zone
EOF
  cat >"$WORK/router-bird.conf" <<EOF
router id 10.98.0.1;
protocol device {}
protocol kernel { ipv4 { export all; }; merge paths yes; }
template bgp node {
  local as 65000;
  hold time $BGP_HOLD; keepalive time 1; connect retry time 1; error wait time 1, 10;
  ipv4 { import where net = $SERVICE/32; export none; };
}
protocol bgp node_a from node { neighbor $(node_ip a) as ${NODE_AS[a]}; }
protocol bgp node_b from node { neighbor $(node_ip b) as ${NODE_AS[b]}; }
EOF
  local node
  for node in "${NODES[@]}"; do
    mkdir -p "$WORK/$node"
    # The shipped node configuration with this node's addresses and AS.
    sed -e "s/10\.0\.1\.2/$(node_ip "$node")/g" -e "s/10\.0\.1\.1/10.98.${NODE_NET[$node]}.1/" \
      -e "s/as 65001/as ${NODE_AS[$node]}/" -e "s/^log syslog all;//" \
      "$ROOT/packaging/bird/bird.conf" >"$WORK/$node/bird.conf"
    cat >"$WORK/$node/heimdall.yaml" <<EOF
dataplane: {backend: socket, workers: 1}
listen: {udp: ["$SERVICE:53"], tcp: ["$SERVICE:53"]}
upstreams: {servers: ["$UP4:53"], timeout_ms: 800}
cache: {snapshot: $WORK/$node/cache.snap}
management: {metrics_listen: "127.0.0.1:9153", control_socket: $WORK/$node/control.sock}
logging: {level: info}
EOF
  done
  # The client: one query per fresh socket (a new source port, so ECMP spreads
  # them), every INTERVAL s for SECONDS s; prints "sent answered lost first_lost_ms
  # last_lost_ms" (times since its start; -1 without loss).
  cat >"$WORK/stream.py" <<'EOF'
import socket, struct, sys, time
seconds, interval = float(sys.argv[1]), float(sys.argv[2])
names = sys.argv[3] if len(sys.argv) > 3 else "s{}.any.example"
def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"
start = time.monotonic()
sent = answered = 0
lost = []
while time.monotonic() - start < seconds:
    at = time.monotonic() - start
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    qid = sent & 0xFFFF
    s.sendto(query(names.format(sent % 500), qid), ("192.0.2.53", 53))
    sent += 1
    try:
        reply = s.recv(4096)
        if reply[:2] == struct.pack(">H", qid):
            answered += 1
        else:
            lost.append(at)
    except socket.timeout:
        lost.append(at)
    s.close()
    time.sleep(interval)
print(sent, answered, len(lost), int(lost[0] * 1000) if lost else -1,
      int(lost[-1] * 1000) if lost else -1)
EOF
}

start_node() { # start_node NODE
  local node=$1 ns
  ns=$(node_ns "$node")
  start_bg "heimdall-$node" "$ns" "$HEIMDALL_BIN" --config "$WORK/$node/heimdall.yaml"
  start_bg "bird-$node" "$ns" bird -f -c "$WORK/$node/bird.conf" -s "$WORK/$node/bird.ctl"
  start_bg "health-$node" "$ns" "$HEALTH" --url http://127.0.0.1:9153/health \
    --socket "$WORK/$node/bird.ctl" --hold-down "$HOLD_DOWN" --interval 0.2
  wait_for 10 grep -q ready "$WORK/heimdall-$node.log"
}

stop_node() { # stop_node NODE [SIGNAL]
  stop_bg "health-$1" "${2:-TERM}"
  stop_bg "bird-$1" "${2:-TERM}"
  stop_bg "heimdall-$1" "${2:-TERM}"
}

route_via() { # the router's next hops for the service address, one per line
  in_ns "$NS_RT" ip -4 route show "$SERVICE/32" | grep -o 'via [0-9.]*' | cut -d' ' -f2 | sort
}
announced_by() { # announced_by NODE...: exactly these nodes
  local want
  want=$(for node in "$@"; do node_ip "$node"; done | sort)
  [[ "$(route_via)" == "$want" ]]
}

cmd_up() {
  preflight
  cmd_down >/dev/null 2>&1 || true
  write_files
  build_topology
  start_bg knotd "$NS_UP" knotd -c "$WORK/knot.conf"
  wait_for 10 in_ns "$NS_UP" kdig @"$UP4" any.example. SOA +short +time=1 +retry=0 ||
    { log "knotd did not start"; return 1; }
  start_bg bird-rt "$NS_RT" bird -f -c "$WORK/router-bird.conf" -s "$WORK/rt-bird.ctl"
  local node
  for node in "${NODES[@]}"; do start_node "$node" || { log "node $node did not start"; return 1; }; done
  if ! wait_for 30 announced_by a b; then
    log "the router has not learnt both nodes: $(route_via | tr '\n' ' ')"
    return 1
  fi
  log "up: $SERVICE announced by both nodes (work dir $WORK)"
}

cmd_down() {
  local node
  for node in "${NODES[@]}"; do stop_node "$node"; done
  stop_bg bird-rt
  stop_bg knotd
  cleanup_topology
  rm -rf "$WORK"
}

cmd_status() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    if [[ -e /run/netns/$ns ]]; then echo "netns $ns"; fi
  done
  if [[ -e /run/netns/$NS_RT ]]; then echo "routes to $SERVICE: $(route_via | tr '\n' ' ')"; fi
}

# ---------------------------------------------------------------------------------
FAILED=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$*"
  FAILED=$((FAILED + 1))
}
metric() { # metric NODE NAME: the sum of a metric's samples on a node
  in_ns "$(node_ns "$1")" curl -s --max-time 2 http://127.0.0.1:9153/metrics |
    awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}
ctl() { # ctl NODE COMMAND...
  local node=$1
  shift
  in_ns "$(node_ns "$node")" "$HEIMDALLCTL_BIN" --socket "$WORK/$node/control.sock" "$@"
}
stream() { in_ns "$NS_CLI" python3 "$WORK/stream.py" "$@"; }
# ms until COMMAND succeeds (polled every 0.1 s, at most SECONDS s), or -1.
ms_until() {
  local limit=$1 start
  shift
  start=$(now_ms)
  wait_for "$limit" "$@" && echo $(($(now_ms) - start)) || echo -1
}

run_checks() {
  local a_before b_before sent answered lost first last took

  # Both nodes take traffic: fresh source ports spread over the ECMP paths.
  a_before=$(metric a heimdall_queries_total)
  b_before=$(metric b heimdall_queries_total)
  read -r sent answered lost first last < <(stream 3 0.01)
  local a_got=$(($(metric a heimdall_queries_total) - a_before))
  local b_got=$(($(metric b heimdall_queries_total) - b_before))
  if ((answered == sent && a_got > sent / 10 && b_got > sent / 10)); then
    pass "ECMP spreads clients: $sent queries, all answered; node a $a_got, node b $b_got"
  else
    fail "ECMP spread: $answered of $sent answered; node a $a_got, node b $b_got"
  fi

  # Drain: /health goes 503, the route is withdrawn, nothing is lost.
  stream 6 0.005 >"$WORK/drain.out" &
  local streamer=$!
  sleep 1
  ctl a drain >/dev/null
  took=$(ms_until 5 announced_by b)
  wait "$streamer"
  read -r sent answered lost first last <"$WORK/drain.out"
  if ((took >= 0 && lost == 0)); then
    pass "drain: withdrawn in $took ms, $sent queries during it, 0 lost"
  else
    fail "drain: withdrawn in $took ms (-1: never), $lost of $sent lost"
  fi
  if in_ns hdany-a curl -s http://127.0.0.1:9153/health | grep -q draining; then
    pass "a drained node's /health says why"
  else
    fail "/health of the drained node: $(in_ns hdany-a curl -s http://127.0.0.1:9153/health)"
  fi
  ctl a undrain >/dev/null
  took=$(ms_until 15 announced_by a b)
  if ((took >= HOLD_DOWN * 1000)); then
    pass "undrained: announced again after $took ms (hold-down ${HOLD_DOWN} s)"
  else
    fail "undrained: not announced again: $(route_via | tr '\n' ' ')"
  fi

  # A node hangs (Heimdall, BIRD and the health check stopped, nothing closes the
  # BGP session): the session's hold time withdraws it, and the queries hashed to
  # it meanwhile are the loss: the detection window.
  stream 9 0.005 >"$WORK/hang.out" &
  streamer=$!
  sleep 1
  local name
  for name in heimdall-a bird-a health-a; do kill -STOP "$(<"$WORK/$name.pid")"; done
  took=$(ms_until 10 announced_by b)
  wait "$streamer"
  for name in heimdall-a bird-a health-a; do kill -CONT "$(<"$WORK/$name.pid")"; done
  read -r sent answered lost first last <"$WORK/hang.out"
  if ((took >= 0 && took <= (BGP_HOLD + 1) * 1000 && answered + lost == sent)); then
    pass "node a hung: withdrawn after $took ms (BGP hold ${BGP_HOLD} s); $lost of $sent queries lost, between $first and $last ms of the run"
  else
    fail "node a hung: withdrawn after $took ms; $lost of $sent lost"
  fi
  took=$(ms_until 20 announced_by a b)
  if ((took >= 0)); then
    pass "node a resumed: its session re-established and announced after $took ms"
  else
    fail "node a resumed: not announced again: $(route_via | tr '\n' ' ')"
  fi

  # A node crashes (Heimdall and BIRD killed): the kernel closes BIRD's session,
  # so the router withdraws at once.
  ctl b cache save >/dev/null
  stream 9 0.005 >"$WORK/kill.out" &
  streamer=$!
  sleep 1
  stop_node b KILL
  took=$(ms_until 10 announced_by a)
  wait "$streamer"
  read -r sent answered lost first last <"$WORK/kill.out"
  if ((took >= 0 && took <= (BGP_HOLD + 2) * 1000 && answered + lost == sent)); then
    pass "node b crashed: withdrawn after $took ms (its session closed); $lost of $sent queries lost"
  else
    fail "node b crashed: withdrawn after $took ms; $lost of $sent lost"
  fi
  read -r sent answered lost first last < <(stream 2 0.01)
  if ((lost == 0)); then
    pass "node a answers everything alone: $answered of $sent"
  else
    fail "node a alone: $lost of $sent lost"
  fi

  # Restarted with its snapshot: announced again, and what it had cached is
  # answered without asking the upstream.
  start_node b
  took=$(ms_until 20 announced_by a b)
  if ((took >= 0)) && grep -q "cache snapshot .*: restored [1-9]" "$WORK/heimdall-b.log"; then
    pass "node b restarted: $(grep -o 'restored [0-9]* entries' "$WORK/heimdall-b.log"), announced after $took ms"
  else
    fail "node b restart: announced after $took ms; $(grep -o 'cache snapshot.*' "$WORK/heimdall-b.log" | head -1)"
  fi
  local upstream_before
  upstream_before=$(metric b heimdall_upstream_queries_total)
  for i in 1 2 3 4 5; do
    in_ns hdany-b kdig @"$SERVICE" "s$i.any.example" A +short +time=1 +retry=0 >/dev/null || true
  done
  local upstream_after
  upstream_after=$(metric b heimdall_upstream_queries_total)
  if ((upstream_after == upstream_before && $(metric b heimdall_cache_answers_total) >= 5)); then
    pass "node b answers restored names from its cache (0 upstream queries)"
  else
    fail "node b after restart: $((upstream_after - upstream_before)) upstream queries for cached names"
  fi
}

cmd_test() {
  preflight
  trap 'rc=$?; if [[ ${HDANY_KEEP:-0} == 1 ]]; then log "HDANY_KEEP=1: lab left up"; else cmd_down >/dev/null 2>&1 || true; fi; exit $rc' EXIT
  set +e
  (
    set -e
    cmd_up
  )
  local rc=$?
  set -e
  if ((rc == SKIP)); then exit $SKIP; fi
  if ((rc != 0)); then
    echo "FAIL  anycast lab up"
    tail -n 5 "$WORK"/*.log 2>/dev/null || true
    exit 1
  fi
  run_checks
  if ((FAILED)); then
    tail -n 5 "$WORK"/*.log 2>/dev/null || true
    echo "anycast lab: $FAILED check(s) failed"
    exit 1
  fi
  echo "anycast lab: all checks passed"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  test) cmd_test ;;
  status) cmd_status ;;
  *)
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
