#!/usr/bin/env bash
# One blocklist loaded by heimdall, Unbound and dnsdist, side by side in one run
# (issue "Trie blocking at ISP scale"): how long each takes from exec to answering
# a listed name with NXDOMAIN, and how much resident memory the list costs each,
# i.e. (VmRSS with the list - VmRSS with no list) / rules. Every entry blocks its
# name and everything below it in all three:
#   heimdall  the domains list with `match: subtree` (socket backend, 2 workers, cache off)
#   Unbound   `local-zone: "NAME." always_nxdomain` per entry (2 threads, forwarding)
#   dnsdist   a SuffixMatchNode filled from the file in the Lua config, then
#             addAction(SuffixMatchNodeRule(smn, true), RCodeAction(DNSRCode.NXDOMAIN))
# With the list loaded, dnsperf also measures each one answering listed names
# (unthrottled, -c 4 -l 5): on 2 cores shared with dnsperf, a rough ratio only.
# Each run starts every target twice (without, then with the list); runs interleave
# the targets so that drift on the machine hits all three alike. Medians at the end.
#
# Ports: 127.0.0.1 only, below the ephemeral range, picked at run time; every step
# is bounded; everything started here is stopped on exit.
#
# usage: perf/filter_peers.sh [--count RULES] [--runs N]   (defaults 1000000, 3)
#        HEIMDALL_BIN=path/to/heimdall (default build/src/app/heimdall)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$(dirname "$0")/lab.sh"
cd "$(dirname "$0")/.."

count=1000000 runs=3
while (($#)); do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    *) echo "usage: $0 [--count RULES] [--runs N]" >&2; exit 2 ;;
  esac
done
[[ "$count" =~ ^[0-9]+$ && "$count" -ge 1000 && "$count" -le 5000000 ]] || { echo "--count: 1000..5000000" >&2; exit 2; }
[[ "$runs" =~ ^[0-9]+$ && "$runs" -ge 1 && "$runs" -le 10 ]] || { echo "--runs: 1..10" >&2; exit 2; }
heimdall="${HEIMDALL_BIN:-build/src/app/heimdall}"
[[ -x "$heimdall" ]] || { echo "build heimdall first (ninja -C build), or set HEIMDALL_BIN" >&2; exit 1; }
for tool in knotd unbound dnsdist dnsperf python3 timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y unbound dnsdist knot dnsperf)" >&2; exit 1; }
done
ready_timeout=$((60 + count / 10000))  # Unbound needs far longer than the others

lab_init heimdall-filter-peers 20  # each process: SIGTERM, up to 20 s, then SIGKILL
read -r port knot_port < <(lab_free_ports 2)

echo "generating $count rules ..." >&2
timeout $((60 + count / 10000)) python3 perf/gen_blocklist.py --count "$count" --format domains \
  --output "$work/list.domains" --blocked-queries "$work/blocked" \
  --unblocked-queries "$work/unblocked" --queries 100000 --quiet
grep -v '^#' "$work/list.domains" | grep . >"$work/names"
rules=$(wc -l <"$work/names")
first_blocked=$(head -1 "$work/blocked" | cut -d' ' -f1)
first_unblocked=$(head -1 "$work/unblocked" | cut -d' ' -f1)
: >"$work/empty.domains"

# The upstream of all three: knotd with a root-zone wildcard.
lab_start_root_knot "$knot_port"

# heimdall: the same config with and without the list.
for variant in list empty; do
  cat >"$work/heimdall-$variant.yaml" <<YAML
dataplane: {backend: socket, workers: 2}
listen: {udp: ["127.0.0.1:$port"], tcp: ["127.0.0.1:$port"]}
upstreams: {strategy: fastest, timeout_ms: 1500, servers: [{address: "127.0.0.1:$knot_port"}]}
cache: {enabled: false}
logging: {level: info}
YAML
done
cat >>"$work/heimdall-list.yaml" <<YAML
filter:
  response: nxdomain
  watch_files: false
  state_dir: $work/state
  lists:
    - {name: isp, source: list.domains, format: domains, match: subtree}
YAML

# Unbound: one local-zone per entry, in an included file.
sed 's/.*/local-zone: "&." always_nxdomain/' "$work/names" >"$work/unbound-zones.conf"
for variant in list empty; do
  include="$work/unbound-zones.conf"
  [[ "$variant" == empty ]] && include="$work/empty.domains"
  cat >"$work/unbound-$variant.conf" <<UNBOUND
server:
  interface: 127.0.0.1@$port
  port: $port
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "$work"
  pidfile: ""
  logfile: ""
  use-syslog: no
  verbosity: 0
  num-threads: 2
  so-reuseport: yes
  do-ip6: no
  do-not-query-localhost: no
  module-config: "iterator"
  access-control: 127.0.0.0/8 allow
  include: "$include"
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$knot_port
remote-control:
  control-enable: no
UNBOUND
done

# dnsdist: two listeners like heimdall's two workers; the list read in Lua.
for variant in list empty; do
  file="$work/names"
  [[ "$variant" == empty ]] && file="$work/empty.domains"
  cat >"$work/dnsdist-$variant.conf" <<DNSDIST
setSecurityPollSuffix("")
setLocal("127.0.0.1:$port", {reusePort=true})
addLocal("127.0.0.1:$port", {reusePort=true})
newServer({address="127.0.0.1:$knot_port", healthCheckMode="lazy"})
local blocked = newSuffixMatchNode()
for name in io.lines("$file") do blocked:add(name) end
addAction(SuffixMatchNodeRule(blocked, true), RCodeAction(DNSRCode.NXDOMAIN))
DNSDIST
done

# Sends NAME A to the port every 20 ms until an answer with RCODE comes; prints the
# milliseconds since START_NS (the exec), or fails after the timeout or once the
# process PID (0: none) has exited.
cat >"$work/wait_answer.py" <<'PY'
import socket, struct, sys, time
port, name, rcode, start_ns, timeout, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
deadline = time.monotonic() + timeout
def alive():  # an exited child stays a zombie until the shell reaps it
    try:
        return pid == 0 or open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
qid = 0
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(0.02)
    while time.monotonic() < deadline and alive():
        qid = (qid + 1) & 0xffff
        try:
            s.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + b"\0\1\0\1", ("127.0.0.1", port))
        except OSError:
            time.sleep(0.02)
            continue
        # Every reply that is waiting: a server that bound its port before loading
        # answers the queries queued meanwhile all at once, and any of them will do.
        while True:
            try:
                reply = s.recv(4096)
            except OSError:  # refused (not bound yet) or nothing more within 20 ms
                break
            if len(reply) >= 12 and reply[2] & 0x80 and (reply[3] & 0xf) == rcode:
                print((time.time_ns() - start_ns) // 1_000_000)
                sys.exit(0)
sys.exit(1)
PY

python3 "$work/wait_answer.py" "$knot_port" "$first_unblocked" 0 "$(date +%s%N)" 10 0 >/dev/null ||
  { echo "knotd is not answering; its log:" >&2; cat "$work/knot.log" >&2; exit 1; }

start_target() {  # start_target TARGET VARIANT LOG: sets target_pid
  case "$1" in
    heimdall) "$heimdall" --config "$work/heimdall-$2.yaml" >"$3" 2>&1 & ;;
    unbound) unbound -d -c "$work/unbound-$2.conf" >"$3" 2>&1 & ;;
    dnsdist) dnsdist --supervised --disable-syslog -C "$work/dnsdist-$2.conf" >"$3" 2>&1 & ;;
  esac
  target_pid=$!
  pids+=("$target_pid")
}

results="$work/results"
: >"$results"
for run in $(seq 1 "$runs"); do
  for target in heimdall unbound dnsdist; do
    row="$run $target"
    for variant in empty list; do
      log="$work/$target-$variant-$run.log"
      started=$(date +%s%N)
      start_target "$target" "$variant" "$log"
      if [[ "$variant" == list ]]; then name="$first_blocked" rcode=3; else name="$first_unblocked" rcode=0; fi
      if ! ready_ms=$(python3 "$work/wait_answer.py" "$port" "$name" "$rcode" "$started" "$ready_timeout" "$target_pid"); then
        echo "$target ($variant) did not answer $name in ${ready_timeout} s; log:" >&2
        tail -20 "$log" >&2
        exit 1
      fi
      # The other kind of name must get the other answer.
      if [[ "$variant" == list ]]; then
        python3 "$work/wait_answer.py" "$port" "www.$first_blocked" 3 "$started" 5 "$target_pid" >/dev/null ||
          { echo "$target: a name below a listed one is not NXDOMAIN" >&2; exit 1; }
        python3 "$work/wait_answer.py" "$port" "$first_unblocked" 0 "$started" 5 "$target_pid" >/dev/null ||
          { echo "$target: an unlisted name is not forwarded" >&2; exit 1; }
      fi
      sleep 2
      rss_kb=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$target_pid/status")
      qps=0
      if [[ "$variant" == list ]]; then
        timeout -k 5 40 dnsperf -s 127.0.0.1 -p "$port" -d "$work/blocked" -c 4 -l 5 \
          >"$work/dnsperf-$target-$run" 2>&1 || true
        qps=$(awk '/Queries per second/ {print $4}' "$work/dnsperf-$target-$run")
        [[ -n "$qps" ]] || { echo "dnsperf against $target failed:" >&2; cat "$work/dnsperf-$target-$run" >&2; exit 1; }
      fi
      lab_stop_pid "$target_pid"
      row="$row $ready_ms $rss_kb $qps"
    done
    echo "$row" >>"$results"
    echo "run $run: $target done" >&2
  done
done

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
echo "versions: $("$heimdall" --version 2>/dev/null | head -1), unbound $(unbound -V | head -1 | grep -o "[0-9][0-9.]*"), $(dnsdist --version | head -1 | cut -d' ' -f1-2), knotd $(knotd --version | grep -m1 -o '[0-9][0-9.]*'), dnsperf $(dnsperf -h 2>&1 | grep -m1 -o 'Version [0-9.]*' | cut -d' ' -f2)"
echo "command: perf/filter_peers.sh --count $count --runs $runs   ($rules entries, every one a subtree block)"
echo
python3 - "$results" "$rules" <<'PY'
import statistics, sys
rules = int(sys.argv[2])
rows = [line.split() for line in open(sys.argv[1])]
def line(cells): print("| " + " | ".join(cells) + " |")
line(["run", "target", "ready, no list (ms)", "ready, with list (ms)", "load (ms)",
      "RSS no list (MiB)", "RSS with list (MiB)", "RSS per rule (B)", "listed names answered (QPS)"])
line(["---", "---"] + ["---:"] * 7)
per = {}
for run, target, ready0, rss0, _, ready1, rss1, qps in rows:
    ready0, rss0, ready1, rss1, qps = int(ready0), int(rss0), int(ready1), int(rss1), float(qps)
    values = [ready0, ready1, ready1 - ready0, rss0 / 1024, rss1 / 1024, (rss1 - rss0) * 1024 / rules, qps]
    per.setdefault(target, []).append(values)
    line([run, target, f"{ready0}", f"{ready1}", f"{ready1 - ready0}", f"{rss0 / 1024:.1f}",
          f"{rss1 / 1024:.1f}", f"{(rss1 - rss0) * 1024 / rules:.0f}", f"{qps:,.0f}"])
medians = {}
for target, runs in per.items():
    m = [statistics.median(v[i] for v in runs) for i in range(7)]
    medians[target] = m
    line(["**median**", target, f"{m[0]:.0f}", f"{m[1]:.0f}", f"**{m[2]:.0f}**", f"{m[3]:.1f}",
          f"{m[4]:.1f}", f"**{m[5]:.0f}**", f"{m[6]:,.0f}"])
if "heimdall" in medians:
    h = medians["heimdall"]
    print()
    for target, m in medians.items():
        if target != "heimdall":
            print(f"{target} / heimdall (medians): load time {m[2] / max(h[2], 1):.1f}x, "
                  f"RSS per rule {m[5] / max(h[5], 1):.1f}x, listed-name QPS {m[6] / max(h[6], 1):.2f}x")
PY
