#!/usr/bin/env bash
# Heimdall network-namespace lab (docs/architecture.md §12.7): the appliance on a DPDK
# af_packet port, a client and an authoritative upstream (knotd), all on one bridge,
# all inside network namespaces this script creates and removes. No traffic leaves
# these namespaces and nothing is created in the caller's namespace.
#
#   netns hdlab-client  eth0 10.99.0.10/24 fd99::10/64 ─┐
#   netns hdlab-up      eth0 10.99.0.20/24 fd99::20/64 ─┼─ br0 (netns hdlab-sw, no address)
#   netns hdlab-app     port0 (no address, IPv6 off)   ─┘
#                         Heimdall: DPDK takes port0 (net_af_packet0); its exception
#                         path creates the tap hd-tap with 10.99.0.2/24, fd99::2/64
#
# Usage: scripts/lab.sh up | down | test | soak | status
#   up      build the lab, start knotd (zone lab.example.) and Heimdall, wait until a
#           query from the client is answered (each wait is bounded)
#   down    stop both servers, delete the namespaces (and with them every veth and
#           the bridge), remove the work directory. Safe to run any number of times.
#   test    up (unless already up), the checks below (PASS/FAIL lines), then down
#           (always). Exit status: 0 all passed, 1 a check failed, 77 skipped (no
#           root, no network namespaces, or a missing tool).
#   soak    the soak test's short form (tests/soak/lab_soak.py): the lab with knotd,
#           Heimdall started by the soak with a management section (metrics and
#           control socket), SOAK_SECONDS (default 60) of dnsperf over UDP and TCP,
#           filter reloads by SIGHUP, heimdallctl and a changed list, knotd killed
#           and restarted, SIGTERM at the end; then down (always). Exit status as
#           for test.
#   status  what exists now.
#
# Environment:
#   HEIMDALL_BIN   the binary (default: build/src/app/heimdall under the repository)
#   HEIMDALLCTL_BIN  heimdallctl, for soak (default: next to HEIMDALL_BIN)
#   SOAK_SECONDS   soak's length (default 60)
#   HDLAB_BACKEND  dpdk (default: conf/lab.yaml as is) or socket: a stand-in that gives
#                  port0 the appliance's addresses and runs the socket backend with the
#                  same upstream, cache and filter sections, to check the lab itself
#   HDLAB_ID       suffix (up to 5 letters or digits) for every name, so that two labs
#                  can coexist; interface names stay within 15 characters
#   HDLAB_DIR      work directory (default /tmp/hdlab$HDLAB_ID): zone, knot.conf,
#                  Heimdall's config and block list, logs, pid files
#   HDLAB_KEEP=1   test leaves the lab up afterwards (for a look; then run down)
#
# Not here: kxdpgun (knot-dnsutils) needs XDP on the sending interface; dnsperf over
# the veth is enough for the lab's "≥ 99 % answered" check, so it is left out.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ID=${HDLAB_ID:-}
if [[ ! $ID =~ ^[A-Za-z0-9]{0,5}$ ]]; then
  echo "lab.sh: HDLAB_ID must be at most 5 letters or digits, got '$ID'" >&2
  exit 2
fi
BACKEND=${HDLAB_BACKEND:-dpdk}
case $BACKEND in dpdk | socket) ;; *)
  echo "lab.sh: HDLAB_BACKEND must be dpdk or socket, got '$BACKEND'" >&2
  exit 2
  ;;
esac
WORK=${HDLAB_DIR:-/tmp/hdlab$ID}
WORK=${WORK%/}
HEIMDALL_BIN=${HEIMDALL_BIN:-$ROOT/build/src/app/heimdall}
HEIMDALLCTL_BIN=${HEIMDALLCTL_BIN:-$(dirname "$HEIMDALL_BIN")/heimdallctl}

# Namespaces, and the switch-side veth ends (in hdlab-sw; ≤ 15 characters).
NS_SW=hdlab-sw$ID
NS_APP=hdlab-app$ID
NS_CLI=hdlab-client$ID
NS_UP=hdlab-up$ID
NAMESPACES=("$NS_APP" "$NS_CLI" "$NS_UP" "$NS_SW")
SW_APP=hdlab-app$ID
SW_CLI=hdlab-cli$ID
SW_UP=hdlab-up$ID

APP4=10.99.0.2
APP6=fd99::2
CLI4=10.99.0.10
CLI6=fd99::10
UP4=10.99.0.20
UP6=fd99::20
BIG_TXT_RECORDS=8 # big.lab.example: 8 TXT records of ~200 bytes, > 1232 bytes in all

SKIP=77
SKIP_MSG="skipped: needs root and network namespaces"

log() { printf 'lab: %s\n' "$*"; }
die() {
  printf 'lab: error: %s\n' "$*" >&2
  exit 1
}
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}
ns_exists() { [[ -e /run/netns/$1 ]]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_for SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds; fail after
# SECONDS.
wait_for() {
  local limit=$1
  shift
  local deadline=$(($(now_ms) + limit * 1000))
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.2
  done
}

# A pid file's process, only if it is still ours: its command line names the work dir.
pid_alive() {
  local file=$1 pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$WORK/"
}

# stop_pids PID...: SIGTERM, up to 5 s grace, then SIGKILL.
stop_pids() {
  local pid left
  (($# > 0)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 50); do
    left=0
    for pid in "$@"; do [[ -e /proc/$pid ]] && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  sleep 0.2
}

stop_pidfile() {
  local file=$1
  if pid_alive "$file"; then stop_pids "$(<"$file")"; fi
  rm -f "$file"
}

# ---------------------------------------------------------------------------------
# Files in the work directory.

write_zone() {
  local i filler
  filler=$(printf '%0190d' 0 | tr 0 x)
  {
    cat <<'EOF'
$ORIGIN lab.example.
$TTL 300
@        SOA   ns.lab.example. hostmaster.lab.example. 1 3600 600 86400 60
@        NS    ns
@        MX    10 mail
ns       A     10.99.0.20
ns       AAAA  fd99::20
www      A     192.0.2.80
www      AAAA  2001:db8::80
blocked  A     192.0.2.66
mail     A     192.0.2.25
alias    CNAME www
txt      TXT   "hello from the heimdall lab"
a1       A     192.0.2.1
a2       A     192.0.2.2
a3       A     192.0.2.3
EOF
    # Distinct rdata (identical records would collapse into one).
    for i in $(seq "$BIG_TXT_RECORDS"); do
      printf 'big      TXT   "record-%02d-%s"\n' "$i" "$filler"
    done
  } >"$WORK/lab.example.zone"
}

write_knot_conf() {
  mkdir -p "$WORK/knot"
  cat >"$WORK/knot.conf" <<EOF
# Written by scripts/lab.sh: knotd for the Heimdall lab, in netns $NS_UP.
server:
    identity: hdlab
    user: root:root
    rundir: "$WORK/knot"
    pidfile: "$WORK/knot/knot.pid"
    listen: [ $UP4@53, $UP6@53 ]
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

database:
    storage: "$WORK/knot"

log:
  - target: stderr
    any: info

template:
  - id: default
    storage: "$WORK/knot"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none

zone:
  - domain: lab.example.
    file: "$WORK/lab.example.zone"
EOF
}

# Heimdall's config. List paths are relative to the config file, hence the copy next
# to lab-block.txt. socket: drop the dataplane and listen sections of conf/lab.yaml and
# put a socket dataplane listening on port0's addresses in their place.
write_heimdall_conf() {
  printf '# Written by scripts/lab.sh\nblocked.lab.example\n' >"$WORK/lab-block.txt"
  if [[ $BACKEND == dpdk ]]; then
    cp "$ROOT/conf/lab.yaml" "$WORK/heimdall.yaml"
    return
  fi
  {
    echo "# Written by scripts/lab.sh (HDLAB_BACKEND=socket) from conf/lab.yaml:"
    echo "# the socket backend on port0's kernel addresses stands in for DPDK."
    echo "dataplane:"
    echo "  backend: socket"
    echo "  workers: 1"
    echo "listen:"
    echo "  udp: [\"$APP4:53\", \"[$APP6]:53\"]"
    echo "  tcp: [\"$APP4:53\", \"[$APP6]:53\"]"
    awk '
      /^[A-Za-z_][A-Za-z0-9_]*:/ { skip = ($1 == "dataplane:" || $1 == "listen:") }
      /^[^ #]/ && !/^[A-Za-z_][A-Za-z0-9_]*:/ { skip = 0 }
      !skip
    ' "$ROOT/conf/lab.yaml"
  } >"$WORK/heimdall.yaml"
}

write_queries() {
  cat >"$WORK/queries.txt" <<'EOF'
www.lab.example A
www.lab.example AAAA
mail.lab.example A
lab.example MX
lab.example SOA
alias.lab.example A
txt.lab.example TXT
ns.lab.example A
a1.lab.example A
a2.lab.example A
a3.lab.example A
EOF
}

# ---------------------------------------------------------------------------------
# Topology.

# veth offloads off on both ends (docs/architecture.md §12.7: veth leaves UDP checksums partial,
# GRO makes frames larger than af_packet's buffers).
offloads_off() {
  local ns=$1 dev=$2
  in_ns "$ns" ethtool -K "$dev" tx off gro off tso off >/dev/null 2>&1 ||
    in_ns "$ns" ethtool -K "$dev" tx off gro off tso off
}

set_sysctl() { # NS KEY VALUE (/proc/sys/net is per namespace)
  in_ns "$1" sh -c "echo $3 > /proc/sys/${2//.//}"
}

# add_port NS SW_NAME NS_NAME: a veth pair, SW_NAME on br0 in hdlab-sw, NS_NAME in NS.
add_port() {
  local ns=$1 sw_name=$2 name=$3
  ip -n "$NS_SW" link add "$sw_name" type veth peer name "$name" netns "$ns" || return 1
  ip -n "$NS_SW" link set "$sw_name" master br0 up
  offloads_off "$NS_SW" "$sw_name"
  offloads_off "$ns" "$name"
}

skip_env() {
  echo "$SKIP_MSG ($*)"
  cleanup_topology
  exit "$SKIP"
}

build_topology() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    ip netns add "$ns" 2>/dev/null || skip_env "ip netns add $ns failed"
    ip -n "$ns" link set lo up
  done
  # The switch namespace stays silent: no IPv6 (no router/neighbour solicitations).
  set_sysctl "$NS_SW" net.ipv6.conf.all.disable_ipv6 1
  set_sysctl "$NS_SW" net.ipv6.conf.default.disable_ipv6 1
  # No STP delay, no multicast snooping (NDP's solicited-node multicast is flooded).
  ip -n "$NS_SW" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0 \
    2>/dev/null || skip_env "no bridge support"
  ip -n "$NS_SW" link set br0 up

  add_port "$NS_APP" "$SW_APP" port0 2>/dev/null || skip_env "no veth support"
  add_port "$NS_CLI" "$SW_CLI" eth0
  add_port "$NS_UP" "$SW_UP" eth0

  # Heimdall's port: with DPDK no kernel address and IPv6 off (docs/architecture.md §12.7); the
  # addresses live on the exception path's tap. The socket stand-in puts them here.
  if [[ $BACKEND == dpdk ]]; then
    set_sysctl "$NS_APP" net.ipv6.conf.port0.disable_ipv6 1
    # af_packet only taps port0: the kernel still sees every frame, and being a
    # weak host it would take those for 10.99.0.2 (an address of the tap) as its
    # own, answering the fast path's UDP with ICMP port unreachable and ARP with
    # its own reply. Strict reverse-path filtering drops them (port0 routes
    # nothing), and arp_ignore=8 keeps it from answering ARP on port0.
    set_sysctl "$NS_APP" net.ipv4.conf.port0.rp_filter 1
    set_sysctl "$NS_APP" net.ipv4.conf.port0.arp_ignore 8
  else
    ip -n "$NS_APP" addr add "$APP4/24" dev port0
    ip -n "$NS_APP" addr add "$APP6/64" dev port0 nodad
  fi
  ip -n "$NS_APP" link set port0 up

  ip -n "$NS_CLI" addr add "$CLI4/24" dev eth0
  ip -n "$NS_CLI" addr add "$CLI6/64" dev eth0 nodad
  ip -n "$NS_CLI" link set eth0 up
  ip -n "$NS_UP" addr add "$UP4/24" dev eth0
  ip -n "$NS_UP" addr add "$UP6/64" dev eth0 nodad
  ip -n "$NS_UP" link set eth0 up
}

cleanup_topology() {
  local ns pids
  for ns in "${NAMESPACES[@]}"; do
    ns_exists "$ns" || continue
    # Anything still running inside our own namespace was started by this lab.
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086 # a list of pids
    [[ -z $pids ]] || stop_pids $pids
    ip netns del "$ns" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------------------------
# Servers.

start_knotd() {
  write_zone
  write_knot_conf
  in_ns "$NS_UP" knotc -c "$WORK/knot.conf" conf-check >/dev/null ||
    die "knot.conf does not check: $(in_ns "$NS_UP" knotc -c "$WORK/knot.conf" conf-check 2>&1)"
  # Foreground under setsid: `ip netns exec` execs in place, so $! is knotd itself.
  setsid ip netns exec "$NS_UP" knotd -c "$WORK/knot.conf" \
    >"$WORK/knotd.log" 2>&1 </dev/null &
  echo $! >"$WORK/knotd.pid"
  if ! wait_for 10 in_ns "$NS_UP" kdig @"$UP4" lab.example. SOA +time=1 +retry=0 +short; then
    tail -n 20 "$WORK/knotd.log" >&2 || true
    die "knotd did not answer on $UP4 within 10 s"
  fi
  wait_for 5 in_ns "$NS_UP" kdig @"$UP6" lab.example. SOA +time=1 +retry=0 +short ||
    die "knotd did not answer on $UP6 within 5 s"
  # Reachability across the bridge, before Heimdall is in the way.
  wait_for 5 client_dig_is "192.0.2.80" @"$UP4" www.lab.example A ||
    die "the client cannot reach knotd at $UP4 across the bridge"
  log "knotd answers for lab.example. on $UP4 and $UP6"
}

start_heimdall() {
  [[ -x $HEIMDALL_BIN ]] ||
    die "no Heimdall binary at $HEIMDALL_BIN (build it: ninja -C build src/app/heimdall, or set HEIMDALL_BIN)"
  write_heimdall_conf
  # Metrics in the appliance's namespace, for the checks that read counters.
  printf '\n# Added by scripts/lab.sh up.\nmanagement: {metrics_listen: "127.0.0.1:9153"}\n' \
    >>"$WORK/heimdall.yaml"
  setsid ip netns exec "$NS_APP" "$HEIMDALL_BIN" --config "$WORK/heimdall.yaml" \
    >"$WORK/heimdall.log" 2>&1 </dev/null &
  echo $! >"$WORK/heimdall.pid"
  local deadline=$(($(now_ms) + 20000))
  until client_dig_is "192.0.2.80" @"$APP4" www.lab.example A; do
    if ! pid_alive "$WORK/heimdall.pid"; then
      echo "--- $WORK/heimdall.log (tail) ---" >&2
      tail -n 30 "$WORK/heimdall.log" >&2 || true
      die "Heimdall ($BACKEND) exited during start-up"
    fi
    if (($(now_ms) >= deadline)); then
      echo "--- $WORK/heimdall.log (tail) ---" >&2
      tail -n 30 "$WORK/heimdall.log" >&2 || true
      die "Heimdall ($BACKEND) did not answer www.lab.example A at $APP4 within 20 s"
    fi
    sleep 0.3
  done
  log "Heimdall ($BACKEND) answers at $APP4 (log: $WORK/heimdall.log)"
}

# ---------------------------------------------------------------------------------
# Queries from the client namespace. Every call is bounded by timeout(1) as well.

client() { timeout 20 ip netns exec "$NS_CLI" "$@"; }
# client_dig_is EXPECTED DIG-ARGS...: +short output contains the line EXPECTED.
client_dig_is() {
  local expected=$1
  shift
  client dig "$@" +time=1 +tries=1 +short 2>/dev/null | grep -qxF -- "$expected"
}

# ---------------------------------------------------------------------------------
# Subcommands.

preflight() {
  local missing=() tool
  if ((EUID != 0)); then
    echo "$SKIP_MSG (not root)"
    exit "$SKIP"
  fi
  for tool in ip ethtool knotd knotc kdig dig "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    echo "skipped: missing tools: ${missing[*]} (Debian: iproute2 ethtool knot knot-dnsutils bind9-dnsutils dnsperf iputils-ping)"
    exit "$SKIP"
  fi
}

is_up() {
  ns_exists "$NS_APP" && pid_alive "$WORK/heimdall.pid" && pid_alive "$WORK/knotd.pid"
}

cmd_up() {
  preflight
  if is_up; then
    log "already up (work dir $WORK)"
    return 0
  fi
  # Leftovers of a half-built or crashed lab go first.
  cmd_down >/dev/null
  if [[ -e $WORK ]]; then
    die "$WORK exists and is not a lab work directory; set HDLAB_DIR or remove it"
  fi
  mkdir -p "$WORK"
  : >"$WORK/.hdlab"
  build_topology
  log "namespaces ${NAMESPACES[*]} built (backend $BACKEND)"
  start_knotd
  start_heimdall
  log "up: try  ip netns exec $NS_CLI dig @$APP4 www.lab.example"
}

cmd_down() {
  local pids
  if [[ -f $WORK/.hdlab ]]; then
    stop_pidfile "$WORK/heimdall.pid"
    stop_pidfile "$WORK/knotd.pid"
    # Fallback: processes whose command line names this work directory.
    pids=$(pgrep -f -- "$WORK/" | grep -vx "$$" || true)
    # shellcheck disable=SC2086 # a list of pids
    [[ -z $pids ]] || stop_pids $pids
  fi
  cleanup_topology
  if [[ -f $WORK/.hdlab ]]; then rm -rf -- "$WORK"; fi
  log "down"
}

cmd_status() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    if ns_exists "$ns"; then echo "netns $ns: present"; else echo "netns $ns: absent"; fi
  done
  if pid_alive "$WORK/knotd.pid"; then echo "knotd: running (pid $(<"$WORK/knotd.pid"))"; else echo "knotd: not running"; fi
  if pid_alive "$WORK/heimdall.pid"; then echo "heimdall: running (pid $(<"$WORK/heimdall.pid"))"; else echo "heimdall: not running"; fi
}

FAILED=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$*"
  FAILED=$((FAILED + 1))
}

# expect_answer NAME EXPECTED DIG-ARGS...
expect_answer() {
  local name=$1 expected=$2 out
  shift 2
  out=$(client dig "$@" +time=2 +tries=2 +short 2>&1 || true)
  if grep -qxF -- "$expected" <<<"$out"; then
    pass "$name: $expected"
  else
    fail "$name: expected $expected, got: $(tr '\n' ' ' <<<"$out")"
  fi
}

# metric NAME: the value of the unlabelled sample NAME in Heimdall's /metrics; empty
# when it cannot be read.
metric() {
  { timeout 5 ip netns exec "$NS_APP" curl -s --max-time 2 http://127.0.0.1:9153/metrics || true; } |
    awk -v name="$1" '$1 == name && value == "" { value = $2 } END { print value }'
}

dig_status() { sed -n '/status: /{s/.*status: \([A-Z]*\),.*/\1/p;q}'; }
knotd_silent() { [[ -z $(in_ns "$NS_UP" kdig @"$UP4" lab.example. SOA +time=1 +retry=0 +short 2>/dev/null || true) ]]; }

# SIGTERM: Heimdall drains, logs its counters and exits, with no sanitizer report
# on the way (the test suite runs this lab under ASan and TSan too).
check_clean_stop() {
  stop_pidfile "$WORK/heimdall.pid"
  if grep -qE 'ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error' "$WORK/heimdall.log"; then
    fail "sanitizer report in $WORK/heimdall.log:"
    grep -m 3 -A 12 -E 'ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error' "$WORK/heimdall.log" |
      sed 's/^/  /'
  elif grep -q 'served [0-9]* queries' "$WORK/heimdall.log"; then
    pass "clean stop: $(grep -o 'served [0-9]* queries: [0-9]* replies' "$WORK/heimdall.log")"
  else
    fail "Heimdall did not stop cleanly on SIGTERM (no exit summary in its log)"
  fi
}

run_checks() {
  local out status flags count sent completed pct elapsed start hits misses hits_after misses_after
  local missing

  expect_answer "UDP/IPv4 A www.lab.example" 192.0.2.80 @"$APP4" www.lab.example A
  expect_answer "UDP/IPv4 AAAA www.lab.example" 2001:db8::80 @"$APP4" www.lab.example AAAA
  expect_answer "UDP/IPv6 AAAA www.lab.example" 2001:db8::80 @"$APP6" www.lab.example AAAA
  expect_answer "TCP/IPv4 A www.lab.example (exception path)" 192.0.2.80 @"$APP4" +tcp www.lab.example A
  out=$(client kdig @"$APP6" +tcp +time=2 +retry=1 +short www.lab.example A 2>&1 || true)
  if grep -qxF 192.0.2.80 <<<"$out"; then
    pass "TCP/IPv6 A www.lab.example (kdig): 192.0.2.80"
  else
    fail "TCP/IPv6 A www.lab.example (kdig): got: $(tr '\n' ' ' <<<"$out")"
  fi

  # Every row of the DPDK workers' and the exception path's counter tables is a
  # family of /metrics (the socket backend's tables: tests/integration/operations).
  out=$({ timeout 5 ip netns exec "$NS_APP" curl -s --max-time 2 http://127.0.0.1:9153/metrics || true; })
  missing=$(grep -o '"heimdall_[a-z_]*"' "$ROOT/include/heimdall/io/dpdk_backend.hpp" | tr -d '"' |
    sort -u | while read -r name; do grep -q "^# TYPE $name " <<<"$out" || echo "$name"; done)
  count=$(grep -o '"heimdall_[a-z_]*"' "$ROOT/include/heimdall/io/dpdk_backend.hpp" | sort -u | wc -l)
  if [[ $BACKEND != dpdk ]]; then
    pass "DPDK counter tables: not served by the $BACKEND backend"
  elif [[ -z $missing && $count -gt 20 ]]; then
    pass "/metrics has all $count families of the DPDK and exception-path counter tables"
  else
    fail "/metrics lacks, of the DPDK counter tables ($count families): ${missing//$'\n'/ }"
  fi

  # The exception path's TCP worker reads the cache as a reader of its own, after
  # the workers': its lookups must count in /metrics like theirs. a1 is asked
  # nowhere before dnsperf: over TCP a miss, then (once inserted) a hit.
  hits=$(metric heimdall_cache_hits_total)
  misses=$(metric heimdall_cache_misses_total)
  client kdig @"$APP4" +tcp +time=2 +retry=1 +short a1.lab.example A >/dev/null 2>&1 || true
  sleep 0.3
  client kdig @"$APP4" +tcp +time=2 +retry=1 +short a1.lab.example A >/dev/null 2>&1 || true
  hits_after=$(metric heimdall_cache_hits_total)
  misses_after=$(metric heimdall_cache_misses_total)
  if [[ -n $hits && -n $misses && -n $hits_after && -n $misses_after ]] &&
    ((hits_after > hits && misses_after > misses)); then
    pass "TCP lookups in /metrics: cache hits $hits -> $hits_after, misses $misses -> $misses_after"
  else
    fail "TCP lookups not in /metrics: cache hits '$hits' -> '$hits_after', misses '$misses' -> '$misses_after'"
  fi

  out=$(client dig @"$APP4" blocked.lab.example A +time=2 +tries=2 2>&1 || true)
  status=$(dig_status <<<"$out")
  if [[ $status == NXDOMAIN ]]; then
    pass "blocked.lab.example: NXDOMAIN (upstream has 192.0.2.66)"
  else
    fail "blocked.lab.example: expected NXDOMAIN, got '${status:-no answer}'"
  fi

  # big TXT: more than 1232 bytes. Over UDP alone: TC (or, if it fits, everything).
  out=$(client dig @"$APP4" big.lab.example TXT +ignore +time=3 +tries=2 2>&1 || true)
  flags=$(sed -n '/;; flags: /{s/.*;; flags: \([a-z ]*\);.*/\1/p;q}' <<<"$out")
  count=$(grep -c '^big\.lab\.example\..*IN[[:space:]]*TXT' <<<"$out" || true)
  if [[ " $flags " == *" tc "* || $count -eq $BIG_TXT_RECORDS ]]; then
    pass "big.lab.example TXT over UDP: flags [$flags], $count of $BIG_TXT_RECORDS records"
  else
    fail "big.lab.example TXT over UDP: no TC and $count of $BIG_TXT_RECORDS records (flags [$flags])"
  fi
  # dig's default: retry over TCP on TC. The final answer must be complete.
  out=$(client dig @"$APP4" big.lab.example TXT +time=3 +tries=2 2>&1 || true)
  count=$(grep -c '^big\.lab\.example\..*IN[[:space:]]*TXT' <<<"$out" || true)
  if [[ $count -eq $BIG_TXT_RECORDS ]]; then
    pass "big.lab.example TXT after dig's TCP retry: $count records, $(sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p' <<<"$out") bytes"
  else
    fail "big.lab.example TXT after dig's TCP retry: $count of $BIG_TXT_RECORDS records"
  fi

  if client ping -c 3 -i 0.2 -W 1 "$APP4" >"$WORK/ping4.log" 2>&1; then
    pass "ping $APP4: $(grep -o '[0-9]* received' "$WORK/ping4.log")"
  else
    fail "ping $APP4: $(grep -E 'received|unreachable' "$WORK/ping4.log" | head -n 1)"
  fi
  if client ping -6 -c 3 -i 0.2 -W 1 "$APP6" >"$WORK/ping6.log" 2>&1; then
    pass "ping -6 $APP6: $(grep -o '[0-9]* received' "$WORK/ping6.log")"
  else
    fail "ping -6 $APP6: $(grep -E 'received|unreachable' "$WORK/ping6.log" | head -n 1)"
  fi

  # dnsperf: 3 s at up to 2000 q/s over the lab's names; at least 99 % answered.
  write_queries
  client dnsperf -s "$APP4" -d "$WORK/queries.txt" -l 3 -Q 2000 -t 2 >"$WORK/dnsperf.log" 2>&1 || true
  sent=$(sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$WORK/dnsperf.log")
  completed=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$WORK/dnsperf.log")
  if [[ -n $sent && -n $completed ]] && ((sent > 0 && completed * 100 >= sent * 99)); then
    pct=$(awk -v c="$completed" -v s="$sent" 'BEGIN { printf "%.2f", 100 * c / s }')
    pass "dnsperf 3 s at ≤ 2000 q/s: $completed of $sent answered ($pct %), $(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$WORK/dnsperf.log") q/s"
  else
    fail "dnsperf: sent '${sent:-?}', completed '${completed:-?}' (need ≥ 99 %); see below"
    sed 's/^/  dnsperf: /' "$WORK/dnsperf.log" | tail -n 15
  fi

  # Upstream gone: a name never asked before gets SERVFAIL within the client budget
  # (upstreams.timeout_ms 1000), well inside 3 s.
  stop_pidfile "$WORK/knotd.pid"
  if wait_for 5 knotd_silent; then
    start=$(now_ms)
    out=$(client dig @"$APP4" "uncached-$$.lab.example" A +time=5 +tries=1 2>&1 || true)
    elapsed=$(($(now_ms) - start))
    status=$(dig_status <<<"$out")
    if [[ $status == SERVFAIL ]] && ((elapsed <= 3000)); then
      pass "upstream stopped: SERVFAIL in $elapsed ms"
    else
      fail "upstream stopped: expected SERVFAIL within 3000 ms, got '${status:-no answer}' after $elapsed ms"
    fi
  else
    fail "knotd still answers after being stopped"
  fi
}

cmd_test() {
  preflight dnsperf ping
  trap 'rc=$?; if [[ ${HDLAB_KEEP:-0} == 1 ]]; then log "HDLAB_KEEP=1: lab left up"; else cmd_down >/dev/null 2>&1 || true; fi; exit $rc' EXIT
  if ! is_up; then
    # A subshell with errexit of its own: `(cmd_up) || ...` would switch it off inside.
    set +e
    (
      set -e
      cmd_up
    )
    rc=$?
    set -e
    ((rc == 0)) || {
      ((rc == SKIP)) && exit "$SKIP"
      echo "FAIL  lab up ($BACKEND)"
      exit 1
    }
  fi
  run_checks
  check_clean_stop
  if ((FAILED)); then
    echo "--- $WORK/heimdall.log (tail) ---"
    tail -n 20 "$WORK/heimdall.log" 2>/dev/null || true
    echo "lab test ($BACKEND): $FAILED check(s) failed"
    exit 1
  fi
  echo "lab test ($BACKEND): all checks passed"
  exit 0
}

# The soak: the lab without Heimdall (lab_soak.py starts it, so that its exit
# status is seen), a management section added to its configuration.
# Skipped only without root or network namespaces: a missing tool fails it.
cmd_soak() {
  local tool
  if ((EUID != 0)); then
    echo "$SKIP_MSG (not root)"
    exit "$SKIP"
  fi
  for tool in ip ethtool knotd knotc kdig dig dnsperf curl python3; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "missing tool: $tool (Debian: iproute2 ethtool knot knot-dnsutils bind9-dnsutils dnsperf curl python3)"
  done
  [[ -x $HEIMDALLCTL_BIN ]] || die "no heimdallctl at $HEIMDALLCTL_BIN (set HEIMDALLCTL_BIN)"
  trap 'rc=$?; if [[ ${HDLAB_KEEP:-0} == 1 ]]; then log "HDLAB_KEEP=1: lab left up"; else cmd_down >/dev/null 2>&1 || true; fi; exit $rc' EXIT
  cmd_down >/dev/null
  if [[ -e $WORK ]]; then
    die "$WORK exists and is not a lab work directory; set HDLAB_DIR or remove it"
  fi
  mkdir -p "$WORK"
  : >"$WORK/.hdlab"
  build_topology
  log "namespaces ${NAMESPACES[*]} built (backend $BACKEND)"
  start_knotd
  write_heimdall_conf
  cat >>"$WORK/heimdall.yaml" <<EOF

# Added by scripts/lab.sh soak: operated as in production.
management:
  metrics_listen: 127.0.0.1:9153
  control_socket: $WORK/control.sock
EOF
  HDLAB_WORK=$WORK HDLAB_NS_APP=$NS_APP HDLAB_NS_CLI=$NS_CLI HDLAB_NS_UP=$NS_UP \
    HDLAB_APP4=$APP4 HDLAB_UP4=$UP4 HEIMDALL_BIN=$HEIMDALL_BIN HEIMDALLCTL_BIN=$HEIMDALLCTL_BIN \
    timeout $((${SOAK_SECONDS:-60} + 240)) python3 "$ROOT/tests/soak/lab_soak.py"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  test) cmd_test ;;
  soak) cmd_soak ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|test|soak|status   (env: HEIMDALL_BIN HEIMDALLCTL_BIN HDLAB_BACKEND HDLAB_ID HDLAB_DIR HDLAB_KEEP SOAK_SECONDS)" >&2
    exit 2
    ;;
esac
