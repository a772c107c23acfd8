#!/usr/bin/env bash
# DPDK lab over memif (docs/conventions.md §8; docs/architecture.md §14 item 11):
# perf/gen on core 0 drives a target on core 1 through a shared-memory link, first
# as fast as the link takes queries, then at fixed rates, and prints one markdown
# row per run for perf/RESULTS.md.
#
#   testpmd   dpdk-testpmd in macswap mode: every query comes straight back with its
#             MACs swapped. The I/O ceiling of gen + memif, and the link's own
#             latency: no target can do better than this.
#   heimdall  Heimdall's DPDK backend (one worker). gen answers its upstream
#             queries itself (--serve-upstream), so nothing else is needed.
#
# gen is the memif server (it creates the socket); the target connects as the
# client. Each run starts a fresh target and a fresh gen, is bounded in time, and
# every process started here is stopped on exit (trap in lab.sh). Needs no
# hugepages, no NIC and no root beyond what DPDK's --no-huge mode needs.
#
# usage: perf/dpdk_memif.sh [testpmd|heimdall] [seconds per run, default 10]
#   GEN_BIN=path        (default build/perf/gen/gen)
#   HEIMDALL_BIN=path   (default build/src/app/heimdall; heimdall target only)
#   RATES="100000 500000 1000000"   fixed rates (pps) run after the max-rate run
#   GEN_ARGS="--clients 1024 ..."   extra gen options for every run
#   JSON_OUT=file       append gen's JSON result lines there
#   HEIMDALL_EXTRA="acl: ..."  heimdall target: YAML appended to its configuration
#   HEIMDALL_MAC=mac|arp  heimdall target: the port MAC set in its config and used by
#                       gen (default 02:00:00:00:00:01); "arp": no MAC in the config,
#                       gen asks 198.18.0.1 for it by ARP
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
json_out="${JSON_OUT:+$(realpath -m "$JSON_OUT")}"
cd "$(dirname "$0")/.."

target="${1:-testpmd}"
seconds="${2:-10}"
[[ "$target" == testpmd || "$target" == heimdall ]] ||
  { echo "usage: $0 [testpmd|heimdall] [seconds]" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 300 ]] ||
  { echo "seconds must be 1..300" >&2; exit 2; }
rates="${RATES:-100000 500000 1000000}"
for rate in $rates; do
  [[ "$rate" =~ ^[0-9]+$ && "$rate" -ge 1 ]] || { echo "RATES: '$rate' is not a rate in pps" >&2; exit 2; }
done
gen="${GEN_BIN:-build/perf/gen/gen}"
[[ -x "$gen" ]] || { echo "build gen first (ninja -C build perf/gen/gen), or set GEN_BIN" >&2; exit 1; }
for tool in python3 timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

# Everything the runs share; no hugepages, no PCI, no shared config, no telemetry.
eal_common=(--no-huge --no-shconf --no-pci --no-telemetry -m 512)
# The addresses of conf/reference.yaml's example port, and the generator's defaults.
target_ip=198.18.0.1
upstream_ip=198.18.0.2
gateway_ip=198.18.0.254

# On exit: SIGTERM to everything at once, up to 5 s for a clean stop, then SIGKILL.
lab_init heimdall-memif 5 together
# DPDK runtime directories a process killed on the way out leaves behind.
trap 'lab_cleanup; rmdir "/var/run/dpdk/gen-$$" "/var/run/dpdk/testpmd-$$" 2>/dev/null || true' EXIT

# --- targets: start_<name> SOCKET RUN starts the target as the memif client of SOCKET
# in the background (log in $work/RUN-target.log), sets target_pid, appends it to
# $pids; stop_<name> stops it gracefully. gen_target_args holds the gen options the
# target needs. Order matters with DPDK 22.11's memif, which unmaps the shared rings
# under a side that is still polling when the other one leaves: gen reports and
# stops polling, then the target stops (its forwarding first, then its port), and
# gen, lingering until the link goes down, leaves last.

start_testpmd() {
  command -v dpdk-testpmd >/dev/null || { echo "missing dpdk-testpmd (apt-get install dpdk-dev)" >&2; exit 1; }
  # Without a terminal, testpmd forwards until its stdin says enter or ends: a FIFO
  # we hold open. Closing it is the clean stop (forwarding first, then the port).
  rm -f "$work/testpmd.in"
  mkfifo "$work/testpmd.in"
  # The main lcore (0, shared with gen) only waits on stdin; lcore 1 forwards.
  dpdk-testpmd "${eal_common[@]}" -l 0,1 --main-lcore 0 --file-prefix="testpmd-$$" \
    --vdev="net_memif0,role=client,socket=$1" -- \
    --forward-mode=macswap --port-topology=loop --auto-start --total-num-mbufs=32768 \
    <"$work/testpmd.in" >"$work/$2-target.log" 2>&1 &
  target_pid=$!
  pids+=("$target_pid")
  exec {testpmd_stdin}>"$work/testpmd.in"
}

stop_testpmd() {
  exec {testpmd_stdin}>&-
  for _ in $(seq 1 50); do kill -0 "$target_pid" 2>/dev/null || break; sleep 0.1; done
  lab_stop_pid "$target_pid"  # reaps it, or SIGTERM if it has not left in 5 s
  rmdir "/var/run/dpdk/testpmd-$$" 2>/dev/null || true  # testpmd leaves its runtime dir
}

# Writes Heimdall's configuration for the memif lab to $2 (socket $1).
write_heimdall_config() {
  cat >"$2" <<YAML
dataplane:
  backend: dpdk
  workers: 1
  eal_args: ["-l", "0,1", "--no-huge", "--no-shconf", "--no-pci", "-m", "512",
             "--vdev=net_memif0,role=client,socket=$1"]
  exception: {enabled: false}   # no tap on the host: the bench needs none
  ports:
    - device: net_memif0
      address: $target_ip/24
      gateway: $gateway_ip      # gen answers ARP for it (and for every address but $target_ip)
$([[ "$heimdall_mac" == arp ]] || echo "      mac: $heimdall_mac")
upstreams: {servers: [{address: "$upstream_ip:53"}]}
logging: {level: warn}
${HEIMDALL_EXTRA:-}
YAML
}

# start_heimdall SOCKET RUN [CONFIG]: CONFIG defaults to one written for SOCKET.
start_heimdall() {
  local heimdall="${HEIMDALL_BIN:-build/src/app/heimdall}" config="${3:-$work/heimdall.yaml}"
  [[ -x "$heimdall" ]] || { echo "build heimdall first, or set HEIMDALL_BIN" >&2; exit 1; }
  [[ -n "${3:-}" ]] || write_heimdall_config "$1" "$config"
  "$heimdall" --config "$config" >"$work/$2-target.log" 2>&1 &
  target_pid=$!
  pids+=("$target_pid")
}

# On SIGTERM Heimdall stops its workers before its port (DpdkBackend: join, then
# release), the order the memif driver needs.
stop_heimdall() {
  lab_stop_pid "$target_pid"
}

heimdall_mac="${HEIMDALL_MAC:-02:00:00:00:00:01}"
case "$target" in
  testpmd) gen_target_args=(--dst-mac 02:00:00:00:00:01) ;;  # macswap: any MAC will do
  # Heimdall replies to the query's source MAC and resolves its upstream by ARP,
  # which gen answers; gen also plays that upstream.
  heimdall) gen_target_args=(--dst-mac "$heimdall_mac" --serve-upstream "$upstream_ip") ;;
esac

# Drops stopped processes from $pids, so that the exit trap never signals a pid
# the kernel may since have given to someone else.
forget_pids() {
  local kept=() pid gone
  for pid in "${pids[@]}"; do
    for gone in "$@"; do [[ "$pid" == "$gone" ]] && continue 2; done
    kept+=("$pid")
  done
  pids=("${kept[@]}")
}

# --- one run: run_gen NAME GEN_OPTIONS... -> $work/NAME.json (gen's JSON line) ---
run_gen() {
  local name="$1" sock="$work/$1.sock" gen_pid rc=0
  shift
  # Bounded by gen itself (link wait 10 s + warm-up + run + drain + linger 10 s);
  # timeout is the backstop.
  # shellcheck disable=SC2086  # GEN_ARGS is a list of options
  timeout -k 5 $((seconds + 60)) "$gen" "${eal_common[@]}" -l 0 --file-prefix="gen-$$" \
    --vdev="net_memif0,role=server,socket=$sock" -- \
    --dst "$target_ip" --duration "$seconds" --warmup 1 --linger 10 --json \
    "${gen_target_args[@]}" ${GEN_ARGS:-} "$@" \
    >"$work/$name-gen.out" 2>"$work/$name-gen.err" &
  gen_pid=$!
  pids+=("$gen_pid")
  # The memif socket is abstract (no file to wait for): wait for gen to listen.
  for _ in $(seq 1 100); do
    grep -qs "waiting for peer" "$work/$name-gen.err" && break
    kill -0 "$gen_pid" 2>/dev/null || break
    sleep 0.1
  done
  "start_$target" "$sock" "$name"
  # gen's results, then the target stops, then gen (lingering for that) leaves.
  while kill -0 "$gen_pid" 2>/dev/null && ! grep -qs '^{' "$work/$name-gen.out"; do
    sleep 0.1
  done
  "stop_$target"
  wait "$gen_pid" || rc=$?
  forget_pids "$gen_pid" "$target_pid"
  if ((rc != 0)) || ! grep -q '^{' "$work/$name-gen.out"; then
    echo "run $name failed (gen exit $rc); gen:" >&2
    cat "$work/$name-gen.err" "$work/$name-gen.out" >&2
    echo "--- $target:" >&2
    tail -n 30 "$work/$name-target.log" >&2
    exit 1
  fi
  grep '^{' "$work/$name-gen.out" >"$work/$name.json"
  [[ -z "$json_out" ]] || cat "$work/$name.json" >>"$json_out"
}

# Busy-polling needs its cores: on a loaded machine the figures show the
# scheduler's time slices (milliseconds) rather than the link.
load="$(cut -d' ' -f1 /proc/loadavg)"
if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.5 else 1)" "$load"; then
  echo "warning: load average $load: other processes share the 2 cores; latency tails will show it" >&2
fi

runs=(max)
run_gen max --rate 0
for rate in $rates; do
  run_gen "rate-$rate" --rate "$rate"
  runs+=("rate-$rate")
done

echo "DPDK memif lab, target $target, $seconds s per run, $(date -u +%Y-%m-%d), $(nproc) cores"
echo
echo "| run | sent pps | answered pps | loss % | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | tx ring full |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for run in "${runs[@]}"; do
  python3 - "$run" "$work/$run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
l = r["latency_us"]
print(f"| {sys.argv[1]} | {r['sent_pps']:,.0f} | {r['received_pps']:,.0f} | {r['loss_pct']:.3f} "
      f"| {l['p50']:.1f} | {l['p90']:.1f} | {l['p99']:.1f} | {l['p999']:.1f} | {l['max']:.1f} "
      f"| {r['tx_ring_full']:,} |")
PY
done
