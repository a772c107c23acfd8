#!/usr/bin/env python3
"""Integration tests: the real heimdall binary against misbehaving upstreams
(tests/tools/hostile_upstream.py) on loopback. Whatever an upstream does, one
client query costs at most 4 upstream packets (UDP datagrams plus TCP
connections, as the upstream counts them) and gets a correct answer within the
budget (docs/architecture.md §7.4). Also: relayed TTLs are clamped (RFC 2181 §8) and CHAOS
questions never reach the upstream.

Environment: HEIMDALL_BIN (set by meson). Runs as root: tc_refuse counts the
refused connections' SYNs with a packet socket."""
import json
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forwarding_test import Heimdall, Process, build_query, free_port, rcode_of, run  # noqa: E402

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools",
                    "hostile_upstream.py")
NOERROR, SERVFAIL, NOTIMP, REFUSED = 0, 2, 4, 5
BUDGET_S = 1.5
QUERIES = 5
MAX_PACKETS_PER_QUERY = 4


class Hostile:
    """One hostile_upstream.py on a free loopback port."""

    def __init__(self, directory, mode, delay_ms=None, record=None):
        self.port = free_port()
        self.mode = mode
        self.stats_path = os.path.join(directory, f"hostile-{self.port}.json")
        args = [sys.executable, TOOL, "--port", str(self.port), "--mode", mode,
                "--stats-file", self.stats_path]
        if delay_ms is not None:
            args += ["--delay-ms", str(delay_ms)]
        if record is not None:
            args += ["--record", record]
        self.process = Process(args, os.path.join(directory, f"hostile-{self.port}.log"))
        deadline = time.time() + 10
        while not os.path.exists(self.stats_path):
            if not self.process.alive() or time.time() > deadline:
                raise RuntimeError(f"hostile upstream did not start:\n{self.process.output()}")
            time.sleep(0.02)

    def stats(self):
        with open(self.stats_path) as f:
            return json.load(f)

    def packets(self):
        return self.stats()["upstream_packets"]


def exchange(port, payload, timeout=3.0):
    """(reply or None, seconds it took)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        start = time.monotonic()
        sock.sendto(payload, ("127.0.0.1", port))
        try:
            reply = sock.recv(65535)
        except socket.timeout:
            reply = None
        return reply, time.monotonic() - start


def first_ttl(reply):
    """The TTL of the first answer record of a reply to a one-question query."""
    offset = 12
    while reply[offset] != 0:
        offset += 1 + reply[offset]
    offset += 5  # root, QTYPE, QCLASS
    offset += 2 if reply[offset] & 0xC0 == 0xC0 else 0  # the owner, compressed
    return struct.unpack(">I", reply[offset + 4:offset + 8])[0]


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    totals = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(\{[^}]*\})? ([0-9.e+]+)$", line)
        if match:
            totals[match.group(1)] = totals.get(match.group(1), 0) + float(match.group(3))
    return totals


class HostileCase(unittest.TestCase):
    """A test case with a directory of its own and the processes it started
    (hostile upstreams, heimdall servers), stopped in reverse at the end."""
    PREFIX = "heimdall-hostile-"

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix=self.PREFIX)
        self.children = []

    def tearDown(self):
        for child in reversed(self.children):
            child.process.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def hostile(self, mode, delay_ms=None):
        upstream = Hostile(self.directory, mode, delay_ms)
        self.children.append(upstream)
        return upstream


class HostileUpstreamTest(HostileCase):
    def heimdall(self, upstreams, name="heimdall", extra="", upstreams_extra="", workers=2):
        server = Heimdall(self.directory, name, [u.port for u in upstreams], strategy="failover",
                          timeout_ms=int(BUDGET_S * 1000), workers=workers, extra=extra,
                          upstreams_extra=upstreams_extra)
        self.children.append(server)
        return server

    def total_packets(self, upstreams):
        return sum(u.packets() for u in upstreams)

    def check_mode(self, mode, servers, expected_rcode, delay_ms=None, upstreams_extra=""):
        """QUERIES distinct queries one at a time: each answered `expected_rcode`
        within the budget for at most MAX_PACKETS_PER_QUERY upstream packets."""
        upstreams = [self.hostile(mode, delay_ms) for _ in range(servers)]
        metrics_port = free_port()
        server = self.heimdall(upstreams, name=f"{mode}-{servers}",
                               extra=f"management: {{metrics_listen: 127.0.0.1:{metrics_port}}}",
                               upstreams_extra=upstreams_extra)
        seen = 0
        for i in range(QUERIES):
            name = f"q{i}-{mode}-{servers}.example"
            reply, took = exchange(server.port, build_query(name, qtype=16))
            self.assertIsNotNone(reply, f"{name}: no answer ({mode}, {servers} servers)")
            self.assertEqual(rcode_of(reply), expected_rcode, f"{name} ({mode})")
            self.assertLessEqual(took, BUDGET_S + 0.3, f"{name}: answered after {took:.2f} s")
            time.sleep(0.15)  # a refused SYN is counted by the sniffer a moment later
            now = self.total_packets(upstreams)
            self.assertLessEqual(now - seen, MAX_PACKETS_PER_QUERY,
                                 f"{name}: {now - seen} upstream packets ({mode}, {servers} "
                                 f"servers): {[u.stats() for u in upstreams]}")
            self.assertGreaterEqual(now - seen, 1, f"{name} never reached an upstream")
            seen = now
        self.assertTrue(server.process.alive())
        return server, upstreams, scrape(metrics_port)

    def test_tc_then_reset_tcp(self):
        for servers in (1, 2):
            with self.subTest(servers=servers):
                _, upstreams, metrics = self.check_mode("tc_reset", servers, SERVFAIL)
                self.assertGreaterEqual(sum(u.stats()["tcp_connections"] for u in upstreams), 1)
                self.assertGreaterEqual(metrics["heimdall_upstream_server_tcp_failures_total"], 1)
                self.assertGreaterEqual(metrics["heimdall_upstream_tcp_backoff_total"], 1)

    def test_tc_then_refused_tcp(self):
        for servers in (1, 2):
            with self.subTest(servers=servers):
                _, upstreams, metrics = self.check_mode("tc_refuse", servers, SERVFAIL)
                self.assertGreaterEqual(sum(u.stats()["tcp_connections"] for u in upstreams), 1,
                                        "the refused SYNs are counted")
                self.assertGreaterEqual(metrics["heimdall_upstream_tcp_backoff_total"], 1)
        self.assertGreaterEqual(metrics["heimdall_upstream_attempts_exhausted_total"], 1,
                                "two servers: UDP, TCP, UDP, TCP is the limit")

    def test_servfail(self):
        for servers in (1, 2):
            with self.subTest(servers=servers):
                self.check_mode("servfail", servers, SERVFAIL)

    def test_refused(self):
        for servers in (1, 2):
            with self.subTest(servers=servers):
                self.check_mode("refused", servers, REFUSED)

    def test_silent(self):
        for servers in (1, 2):
            with self.subTest(servers=servers):
                self.check_mode("silent", servers, SERVFAIL)

    def test_garbage(self):
        for servers in (1, 2):
            with self.subTest(servers=servers):
                self.check_mode("garbage", servers, SERVFAIL)

    def test_slow_upstream_is_answered(self):
        self.check_mode("slow", 1, NOERROR, delay_ms=300)
        # Slower than half the budget: with one attempt allowed, it keeps the
        # whole budget, and the answer comes through.
        self.check_mode("slow", 1, NOERROR, delay_ms=1000, upstreams_extra="  max_attempts: 1")

    def test_relayed_ttls_are_clamped(self):
        upstream = self.hostile("correct")
        # One worker: the entry is in its own shard at once (no hand-over to wait for).
        server = self.heimdall([upstream], extra="cache: {max_ttl: 1h}", workers=1)
        reply, _ = exchange(server.port, build_query("ttl-2147483647.example"))
        self.assertEqual(rcode_of(reply), NOERROR)
        self.assertEqual(first_ttl(reply), 3600, "2^31 - 1 capped at max_ttl on the miss")
        reply, _ = exchange(server.port, build_query("ttl-2147483647.example"))
        self.assertLessEqual(first_ttl(reply), 3600, "and on the hit")
        self.assertEqual(upstream.packets(), 1)

        for attempt in range(2):
            reply, _ = exchange(server.port, build_query("ttl-4294967295.example"))
            self.assertEqual(rcode_of(reply), NOERROR)
            self.assertEqual(first_ttl(reply), 0, "RFC 2181 §8: top bit set is 0")
            self.assertEqual(upstream.packets(), 2 + attempt, "a TTL of 0 is not cached")

    def test_chaos_is_never_forwarded(self):
        upstream = self.hostile("correct")
        plain = self.heimdall([upstream], name="plain")
        for name in ("version.bind", "hostname.bind", "id.server", "version.server"):
            out = run(["dig", "@127.0.0.1", "-p", str(plain.port), "+time=2", "+tries=1",
                       "CH", "TXT", name]).stdout
            self.assertIn("status: REFUSED", out, name)
        configured = self.heimdall([upstream], name="configured",
                                   extra='chaos: {version: "hidden 1.0", hostname: "dns1"}')
        out = run(["dig", "@127.0.0.1", "-p", str(configured.port), "+time=2", "+tries=1",
                   "+short", "CH", "TXT", "version.bind"]).stdout
        self.assertEqual(out.strip(), '"hidden 1.0"')
        out = run(["dig", "@127.0.0.1", "-p", str(configured.port), "+time=2", "+tries=1",
                   "+short", "CH", "TXT", "id.server"]).stdout
        self.assertEqual(out.strip(), '"dns1"')
        self.assertEqual(upstream.packets(), 0, "no CHAOS question reached the upstream")

    def test_other_opcodes_get_notimp_without_query_flags(self):
        upstream = self.hostile("correct")
        server = self.heimdall([upstream])
        # Opcode 15 with RD and CD set.
        reply, _ = exchange(server.port,
                            build_query("example.com", flags=(15 << 11) | 0x0100 | 0x0010))
        flags = struct.unpack(">H", reply[2:4])[0]
        self.assertEqual(flags & 0x000F, NOTIMP)
        self.assertEqual(flags & 0x7800, 15 << 11)
        self.assertEqual(flags & 0x0080, 0, "no RA")
        self.assertEqual(flags & 0x0010, 0, "no CD")
        self.assertEqual(upstream.packets(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
