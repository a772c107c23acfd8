"""The soak test's world (tests/soak/soak_test.py): the zone both knotds serve,
the filter lists and their versions, Heimdall's production-shaped configuration
and the memory bound computed from it, the misbehaving upstream, and readers for
/metrics, /proc and the kernel's UDP counters."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from forwarding_test import Process, free_port, wait_until_answering  # noqa: E402
from operations_test import parse_exposition  # noqa: E402

ZONE = "example.test."
HOSTILE_ZONE = "hostile.test"
HIT_NAMES = 200      # h<i>: asked again and again (cache hits), TTL 1 h
DYN_NAMES = 200      # d<j>: blocked or not by the list version in force
MANY_NAMES = 20000   # n<i>: asked once each in turn (cache misses)
DYN_WINDOW = 40      # names of d<j> blocked by one version
DYN_STEP = 17        # how far the window moves from one version to the next
ALLOWED_EVERY = 10   # d<j> with j % 10 == 0 are on the allow list: never blocked

# Heimdall's configuration, and what the RSS bound is computed from.
RULES = int(os.environ.get("SOAK_RULES", "200000"))
WORKERS = 2
CACHE_ENTRIES = 50000
CACHE_BYTES = 64 << 20
TCP_MAX_CONNECTIONS = 64
TCP_FRAME = 65535 + 2
QUERY_LOG_RING = 16384
QUERY_LOG_ENTRY = 320  # sizeof(QueryLogEntry): 255-byte name, endpoint, time, fields
CLIENT_QPS = 500       # per /32: each well-behaved client stays under a third of it
RRL_RATE = 100         # identical answers a second per (client, name, type, RCODE)
UPSTREAM_TIMEOUT_MS = 1500
STALE_CLIENT_TIMEOUT_MS = 1800

# The RSS bound: a base (code and libraries, the EAL's heap as touched, thread
# stacks, the allocator, the control thread's buffers: 71 MiB measured at start
# with the filter's 12 MiB taken off), the cache (its entry memory is reserved up
# to max_bytes and touched as used; per entry the hash table's bucket share, key
# slot and free-slot ring besides), the filter twice (the snapshot in force and
# the one a reload builds, with the loader's parse buffers: the 200k list's
# snapshot is 62 bytes a rule, a reload's peak 12 MiB over the idle RSS; bounded
# at 100 a rule, twice), the query log's rings (one per worker and one for the
# control side) and a read and a write buffer of a whole frame per TCP
# connection. Under ASan (SOAK_ASAN=1) the heap costs more: redzones and the
# shadow (x3), plus the allocator's quarantine (256 MiB by default).
BASE_BYTES = 80 << 20
CACHE_ENTRY_OVERHEAD = 160
FILTER_BYTES_PER_RULE = 100
ASAN_FACTOR = 3
ASAN_QUARANTINE = 256 << 20


def rss_bound(asan):
    parts = {
        "base": BASE_BYTES,
        "cache": CACHE_BYTES + CACHE_ENTRIES * CACHE_ENTRY_OVERHEAD,
        "filter x2": 2 * RULES * FILTER_BYTES_PER_RULE,
        "query log": (WORKERS + 1) * QUERY_LOG_RING * QUERY_LOG_ENTRY,
        "tcp": TCP_MAX_CONNECTIONS * 2 * TCP_FRAME,
    }
    bound = sum(parts.values())
    if asan:
        bound = bound * ASAN_FACTOR + ASAN_QUARANTINE
    text = " + ".join(f"{k} {v / 2**20:.0f}" for k, v in parts.items())
    if asan:
        text = f"({text}) x {ASAN_FACTOR} + ASan quarantine {ASAN_QUARANTINE >> 20}"
    return bound, f"{text} = {bound / 2**20:.0f} MiB"


def hit_address(i):
    return f"10.1.{i // 256}.{i % 256}"


def dyn_address(j):
    return f"10.2.{j // 256}.{j % 256}"


def many_address(i):
    return f"10.3.{i // 256}.{i % 256}"


def write_zone(path):
    lines = [f"$ORIGIN {ZONE}", "$TTL 300",
             "@ 900 IN SOA ns1 hostmaster 1 3600 600 86400 120", "@ NS ns1", "ns1 A 127.0.0.1",
             "*.fresh 60 A 192.0.2.99", "*.marker 60 A 192.0.2.98", "*.sub A 192.0.2.97",
             "ok.sub A 192.0.2.96", "always A 192.0.2.94", "abuse A 192.0.2.95",
             # TTLs over 2^31 - 1 mean 0 (RFC 2181 §8); knotd serves them as written
             "huge 4294967295 A 192.0.2.51", "bigttl 2147483647 A 192.0.2.50"]
    lines += [f'big TXT "{i:02d}{"x" * 68}"' for i in range(40)]
    lines += [f"h{i} 3600 A {hit_address(i)}" for i in range(HIT_NAMES)]
    lines += [f"d{j} 3600 A {dyn_address(j)}" for j in range(DYN_NAMES)]
    lines += [f"n{i} A {many_address(i)}" for i in range(MANY_NAMES)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def dyn_blocked(version):
    """The d<j> names version `version` of the dynamic list blocks (before the
    allow list): a window that moves by DYN_STEP each version."""
    start = (version * DYN_STEP) % DYN_NAMES
    return {(start + k) % DYN_NAMES for k in range(DYN_WINDOW)}


def blocked_now(j, version):
    return j in dyn_blocked(version) and j % ALLOWED_EVERY != 0


def write_atomically(path, text):
    temporary = path + ".new"
    with open(temporary, "w") as f:
        f.write(text)
    os.rename(temporary, path)


def write_dyn_list(path, version):
    names = [f"d{j}.example.test" for j in sorted(dyn_blocked(version))]
    names += [f"v{version}.marker.example.test", "always.example.test"]
    write_atomically(path, f"# soak dynamic list, version {version}\n" + "\n".join(names) + "\n")


def write_static_lists(directory):
    with open(os.path.join(directory, "sub.txt"), "w") as f:
        f.write("sub.example.test\n")
    allowed = [f"d{j}.example.test" for j in range(0, DYN_NAMES, ALLOWED_EVERY)]
    with open(os.path.join(directory, "allow.txt"), "w") as f:
        f.write("\n".join(allowed + ["ok.sub.example.test"]) + "\n")


def generate_block_list(directory):
    """perf/gen_blocklist.py: RULES names shaped like public lists, and 2000 of
    them in a query file (all blocked)."""
    path = os.path.join(directory, "big.txt")
    queries = os.path.join(directory, "big-queries.txt")
    subprocess.run([sys.executable, os.path.join(ROOT, "perf", "gen_blocklist.py"),
                    "--count", str(RULES), "--format", "domains", "--output", path,
                    "--blocked-queries", queries, "--queries", "2000", "--quiet"],
                   check=True, timeout=120)
    with open(queries) as f:
        names = [line.split()[0] for line in f if line.strip()]
    return path, names


def heimdall_extra(directory, metrics_port, knot_ports, hostile_port):
    """(extra, upstreams_extra) for forwarding_test.Heimdall."""
    del knot_ports
    upstreams = f"""  max_failures: 3
  probe_interval_ms: 500
  forward_zones:
    - {{zone: {HOSTILE_ZONE}, servers: ["127.0.0.1:{hostile_port}"]}}"""
    extra = f"""cache:
  max_entries: {CACHE_ENTRIES}
  max_bytes: {CACHE_BYTES >> 20}m
  serve_stale: {{enabled: true, ttl: 30, max_stale: 1h, client_timeout_ms: {STALE_CLIENT_TIMEOUT_MS}}}
  prefetch: {{enabled: true, threshold: 0.1}}
filter:
  response: nxdomain
  watch_files: true
  lists:
    - {{name: big, source: {directory}/big.txt, format: domains, action: block}}
    - {{name: dyn, source: {directory}/dyn.txt, format: domains, action: block}}
    - {{name: sub, source: {directory}/sub.txt, format: domains, action: block, match: subtree}}
    - {{name: allow, source: {directory}/allow.txt, format: domains, action: allow}}
local_records:
  - "router.lan. 300 IN A 192.168.1.1"
  - "router.lan. 300 IN AAAA 2001:db8::1:1"
  - "1.1.168.192.in-addr.arpa. 300 IN PTR router.lan."
management:
  metrics_listen: 127.0.0.1:{metrics_port}
  control_socket: {directory}/control.sock
query_log: {{enabled: true, path: {directory}/queries.jsonl, ring: {QUERY_LOG_RING}, max_size: 4m, keep: 2}}
acl:
  allow: [127.0.0.0/29, 127.0.1.0/24, 127.0.2.0/24]
limits:
  client_qps: {CLIENT_QPS}
  client_burst: {CLIENT_QPS}
  client_ipv4_prefix: 32
  responses_per_second: {RRL_RATE}
  slip: 2
  any: minimal"""
    return extra, upstreams


class SoakKnot:
    """knotd serving the soak zone from its own directory, on a port that stays
    the same across kills and restarts."""

    def __init__(self, directory, zone_path, name):
        self.directory = os.path.join(directory, name)
        os.makedirs(self.directory)
        self.port = free_port()
        self.name = name
        self.starts = 0
        self.conf = os.path.join(self.directory, "knot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""server:
  listen: 127.0.0.1@{self.port}
  rundir: {self.directory}
log:
  - target: stderr
    any: warning
database:
  storage: {self.directory}
zone:
  - domain: {ZONE}
    file: {zone_path}
""")
        self.process = None
        self.start()

    def start(self):
        self.starts += 1
        self.process = Process(["knotd", "-c", self.conf],
                               os.path.join(self.directory, f"knot-{self.starts}.log"))
        wait_until_answering(self.port, f"knotd {self.name}", self.process)

    def stop(self, sig=signal.SIGTERM):
        return self.process.stop(sig)


class Hostile:
    """tests/tools/hostile_upstream.py (HOSTILE_UPSTREAM overrides the path) on
    one port, restarted in each mode. Its stats file, read when it stops, says
    what reached it."""

    def __init__(self, directory, path):
        self.directory, self.path = directory, path
        self.port = free_port()
        self.process = None
        self.instances = 0
        self.mode = None

    def start(self, mode, delay_ms=0):
        self.instances += 1
        self.mode = mode
        self.stats_file = os.path.join(self.directory, f"hostile-{self.instances}.json")
        self.process = Process([sys.executable, self.path, "--port", str(self.port), "--mode", mode,
                                "--delay-ms", str(delay_ms), "--stats-file", self.stats_file],
                               os.path.join(self.directory, f"hostile-{self.instances}.log"))
        deadline = time.monotonic() + 10
        while f"hostile_upstream: {mode} on" not in self.process.output():  # bound by then
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"hostile upstream ({mode}) did not start:\n"
                                   f"{self.process.output()}")
            time.sleep(0.05)

    def stop(self):
        """Stops it; returns its stats (a dict), {} if it wrote none."""
        self.process.stop()
        for _ in range(20):
            if os.path.exists(self.stats_file):
                break
            time.sleep(0.05)
        try:
            with open(self.stats_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}


def upstream_packets(stats):
    """Packets that reached the misbehaving upstream (its upstream_packets: UDP
    datagrams and TCP connections, or in tc_refuse mode the SYNs refused)."""
    packets = stats.get("upstream_packets")
    return packets if isinstance(packets, int) else None


COUNTER_LINE = re.compile(r"^# TYPE (\S+) (counter|gauge|histogram)$")


def scrape(port, timeout=60):
    """(samples, {family: type}) of /metrics. A reload runs on the thread that
    serves it, so a scrape may wait for one."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    types = {}
    for line in text.splitlines():
        match = COUNTER_LINE.match(line)
        if match:
            types[match.group(1)] = match.group(2)
    return parse_exposition(text), types


def kernel_udp_drops():
    """The kernel's UDP drops in this network namespace (every socket, ours and
    any other test's): receive errors (full buffers included) and send errors."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    fields = dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))
    return fields["InErrors"] + fields.get("SndbufErrors", 0)


def proc_memory(pid):
    """(VmRSS, VmHWM) in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
