#!/usr/bin/env bash
# RFC 5452 bits per upstream query on the DPDK backend, in the network-namespace
# lab (scripts/lab.sh: Heimdall on an af_packet port, knotd in hdlab-up): N
# distinct names (lower case) from the client namespace, every upstream query
# recorded as knotd's interface sees it (source port, ID, name with its case) by a
# packet socket in hdlab-up, then perf/rfc5452_bits.py. Only the lab's own
# namespaces carry traffic; bounded in time; the lab is taken down on exit.
#
# usage: perf/rfc5452_dpdk_bits.sh HEIMDALL_BIN [N, default 2000]
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:?usage: perf/rfc5452_dpdk_bits.sh HEIMDALL_BIN [N]}"
count="${2:-2000}"
work="$(mktemp -d /tmp/hdlab-bits.XXXXXX)"
capture_pid=""
cleanup() {
  [[ -n "$capture_pid" ]] && kill "$capture_pid" 2>/dev/null && wait "$capture_pid" 2>/dev/null
  HDLAB_ID=bits scripts/lab.sh down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/capture.py" <<'PY'
import signal, socket, struct, sys
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
sock.bind((sys.argv[1], 0))
sock.settimeout(0.2)
out = open(sys.argv[2], "w", buffering=1)
running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
while running:
    try:
        frame, (_, _, kind, _, _) = sock.recvfrom(65535)
    except socket.timeout:
        continue
    if kind == socket.PACKET_OUTGOING or len(frame) < 14 + 20 + 8 + 13:
        continue
    if struct.unpack(">H", frame[12:14])[0] != 0x0800 or frame[23] != 17:
        continue
    ip = 14
    udp = ip + (frame[ip] & 0x0F) * 4
    sport, dport = struct.unpack(">HH", frame[udp:udp + 4])
    dns = frame[udp + 8:]
    if dport != 53 or len(dns) < 13 or dns[2] & 0x80:
        continue
    offset, labels = 12, []
    while offset < len(dns) and 0 < dns[offset] < 64:
        labels.append(dns[offset + 1:offset + 1 + dns[offset]])
        offset += 1 + dns[offset]
    out.write(f"{sport} {struct.unpack('>H', dns[:2])[0]} {b'.'.join(labels).decode('ascii', 'replace')}\n")
PY

HDLAB_ID=bits HDLAB_BACKEND=dpdk HEIMDALL_BIN="$bin" scripts/lab.sh up >"$work/up.log" 2>&1 ||
  { cat "$work/up.log"; exit 1; }
ip netns exec hdlab-upbits python3 "$work/capture.py" eth0 "$work/dpdk.rec" &
capture_pid=$!
sleep 0.5
for i in $(seq 1 "$count"); do echo "b$i.bits.lab.example A"; done >"$work/queries"
timeout -k 5 300 ip netns exec hdlab-clientbits dnsperf -s 10.99.0.2 -d "$work/queries" -n 1 -q 8 \
  -t 5 >"$work/dnsperf.log" 2>&1 || true
sleep 0.5
kill "$capture_pid"
wait "$capture_pid" 2>/dev/null || true
capture_pid=""
workers=$(sed -n 's/^ *workers: *\([0-9]*\).*/\1/p' conf/lab.yaml | head -1)
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "command: perf/rfc5452_dpdk_bits.sh $bin $count  (conf/lab.yaml: af_packet, $workers worker, dataplane.upstream_ports default)"
echo
python3 perf/rfc5452_bits.py "heimdall DPDK backend (lab, defaults: 0x20 on)=$work/dpdk.rec"
