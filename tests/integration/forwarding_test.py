#!/usr/bin/env python3
"""Integration tests: the real heimdall binary forwarding to a real knotd serving
a zone this test writes, both on loopback ports picked at run time, queried with
dig, kdig and the project's own heimdall-query.

Environment: HEIMDALL_BIN and HEIMDALL_QUERY_BIN (set by meson)."""
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

HEIMDALL = os.environ.get("HEIMDALL_BIN", "build/src/app/heimdall")
QUERY = os.environ.get("HEIMDALL_QUERY_BIN", "build/src/app/heimdall-query")
ZONE = "example.test."
BIG_TXT_RECORDS = 40  # 40 TXT strings of 70 bytes: ~3.2 KB, over 1232 and 512
SOA_TTL, SOA_MINIMUM = 900, 120


def ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low, high = (int(v) for v in f.read().split())
    return low, high


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 right now, outside the
    kernel's ephemeral range. Clients such as dig bind their source port with
    SO_REUSEPORT, as our listeners do: a client given our port as its ephemeral
    source would share it and receive its own query back."""
    low, high = ephemeral_range()
    candidates = [p for p in range(10000, 65536) if not low <= p <= high]
    while True:
        port = random.choice(candidates)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def build_query(name, qtype=1, qid=None, flags=0x0100, edns=None, qdcount=1):
    """A query as bytes; edns is None or (udp_size, do_bit, version)."""
    qid = random.randint(0, 65535) if qid is None else qid
    header = struct.pack(">HHHHHH", qid, flags, qdcount, 0, 0, 1 if edns else 0)
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
    question = wire + b"\0" + struct.pack(">HH", qtype, 1)
    opt = b""
    if edns:
        size, do_bit, version = edns
        opt = b"\0" + struct.pack(">HHIH", 41, size, (version << 16) | (0x8000 if do_bit else 0), 0)
    return header + question + opt


def udp_exchange(port, payload, timeout=2.0):
    """Sends one datagram; returns the reply bytes or None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, ("127.0.0.1", port))
        try:
            return sock.recv(65535)
        except socket.timeout:
            return None


def rcode_of(reply):
    return reply[3] & 0x0F


def run(args, timeout=15):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


class Process:
    """A child process whose stderr goes to a log file; stopped on teardown."""

    def __init__(self, args, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path) as log:
            return log.read()


def wait_until_answering(port, what, process):
    deadline = time.time() + 10
    probe = build_query(ZONE, qtype=6)
    while time.time() < deadline:
        if not process.alive():
            raise RuntimeError(f"{what} exited:\n{process.output()}")
        if udp_exchange(port, probe, timeout=0.2):
            return
    raise RuntimeError(f"{what} did not answer on port {port}:\n{process.output()}")


def write_zone(directory):
    txt = "\n".join(f'big TXT "{i:02d}{"x" * 68}"' for i in range(BIG_TXT_RECORDS))
    zone = f"""$ORIGIN {ZONE}
$TTL 300
@     {SOA_TTL} IN SOA ns1 hostmaster 1 3600 600 86400 {SOA_MINIMUM}
@     IN NS ns1
@     IN MX 10 mail
ns1   IN A 127.0.0.1
mail  IN A 192.0.2.25
www   IN A 192.0.2.1
www   IN AAAA 2001:db8::1
a     IN CNAME b
b     IN CNAME c
c     IN A 192.0.2.3
{txt}
"""
    path = os.path.join(directory, "example.test.zone")
    with open(path, "w") as f:
        f.write(zone)
    return path


class Knot:
    """knotd serving example.test. on a loopback port, with NSID set so tests can
    check the upstream's options are not passed through, and mod-stats counting
    the queries that reach it."""

    def __init__(self, directory):
        self.port = free_port()
        zone_path = write_zone(directory)
        self.conf = os.path.join(directory, "knot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""server:
  listen: 127.0.0.1@{self.port}
  rundir: {directory}
  nsid: upstream-nsid
log:
  - target: stderr
    any: warning
mod-stats:
  - id: counts
    request-protocol: on
template:
  - id: default
    global-module: mod-stats/counts
database:
  storage: {directory}
zone:
  - domain: {ZONE}
    file: {zone_path}
""")
        self.process = Process(["knotd", "-c", self.conf], os.path.join(directory, "knot.log"))
        wait_until_answering(self.port, "knotd", self.process)

    def queries(self):
        """Queries knotd has answered so far, over UDP and TCP."""
        out = run(["knotc", "-c", self.conf, "stats", "mod-stats.server-operation"]).stdout
        match = re.search(r"server-operation\[query\] = (\d+)", out)
        return int(match.group(1)) if match else 0


class Heimdall:
    def __init__(self, directory, name, upstreams, strategy="fastest", timeout_ms=1500,
                 workers=2, tcp_idle_timeout_ms=10000, tcp_max_connections=1024, extra="",
                 upstreams_extra="", listen_extra="", env=None, start_timeout=10):
        self.port = free_port()
        servers = "\n".join(f'    - address: "127.0.0.1:{port}"' for port in upstreams)
        self.config = os.path.join(directory, f"{name}.yaml")
        with open(self.config, "w") as f:
            f.write(f"""dataplane: {{backend: socket, workers: {workers}}}
edns: {{max_udp: 1232}}
listen:
  udp: ["127.0.0.1:{self.port}"]
  tcp: ["127.0.0.1:{self.port}"]
  tcp_idle_timeout_ms: {tcp_idle_timeout_ms}
  tcp_max_connections: {tcp_max_connections}
{listen_extra}
upstreams:
  strategy: {strategy}
  timeout_ms: {timeout_ms}
  servers:
{servers}
{upstreams_extra}
{extra}
logging: {{level: info}}
""")
        self.process = Process([HEIMDALL, "--config", self.config],
                               os.path.join(directory, f"{name}.log"), env=env)
        deadline = time.time() + start_timeout
        while "ready" not in self.process.output():
            if not self.process.alive() or time.time() > deadline:
                raise RuntimeError(f"heimdall did not start:\n{self.process.output()}")
            time.sleep(0.05)

    def dig(self, *args):
        return run(["dig", "@127.0.0.1", "-p", str(self.port), "+time=3", "+tries=1", *args]).stdout

    def kdig(self, *args):
        return run(["kdig", "@127.0.0.1", "-p", str(self.port), "+time=3", "+retry=0", *args]).stdout

    def query(self, *args):
        return run([QUERY, "@127.0.0.1", "-p", str(self.port), *args]).stdout


def dig_answers(output):
    """The answer section of dig/kdig output as (name, type, data) tuples."""
    answers = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 5 and not line.startswith(";") and fields[2] == "IN":
            answers.append((fields[0].lower(), fields[3], " ".join(fields[4:])))
    return answers


def reply_lines(output):
    return [dict(field.split("=", 1) for field in line.split()[1:] if "=" in field)
            for line in output.splitlines() if line.startswith("reply ")]


class ForwardingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="heimdall-it-")
        cls.knot = Knot(cls.directory)
        # The forwarding path itself: with the cache on, which path a test takes
        # would depend on what earlier tests cached. CacheTest covers the cache.
        cls.server = Heimdall(cls.directory, "main", [cls.knot.port],
                              extra="cache: {enabled: false}")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.process.stop()
        cls.knot.process.stop()
        log = cls.server.process.output()
        shutil.rmtree(cls.directory, ignore_errors=True)
        # A clean stop is part of the contract: SIGTERM drains and exits 0.
        if code != 0:
            raise AssertionError(f"heimdall exited {code} on SIGTERM:\n{log}")

    def test_a_aaaa_mx_through_dig(self):
        self.assertIn(("www.example.test.", "A", "192.0.2.1"), dig_answers(self.server.dig("www.example.test", "A")))
        self.assertIn(("www.example.test.", "AAAA", "2001:db8::1"),
                      dig_answers(self.server.dig("www.example.test", "AAAA")))
        self.assertIn(("example.test.", "MX", "10 mail.example.test."),
                      dig_answers(self.server.dig("example.test", "MX")))

    def test_cname_chain_through_kdig(self):
        answers = dig_answers(self.server.kdig("a.example.test", "A"))
        self.assertEqual(answers, [("a.example.test.", "CNAME", "b.example.test."),
                                   ("b.example.test.", "CNAME", "c.example.test."),
                                   ("c.example.test.", "A", "192.0.2.3")])

    def test_own_client_gets_the_same_answers(self):
        out = self.server.query("www.example.test", "AAAA")
        self.assertIn("rr answer www.example.test. 300 AAAA 2001:db8::1", out)
        out = self.server.query("a.example.test", "A", "+tcp")
        self.assertIn("rr answer c.example.test. 300 A 192.0.2.3", out)

    def test_nxdomain_and_nodata_carry_the_soa(self):
        for name, qtype, rcode in (("nothing.example.test", "A", "NXDOMAIN"),
                                   ("www.example.test", "MX", "NOERROR")):
            out = self.server.dig(name, qtype)
            self.assertIn(f"status: {rcode}", out)
            self.assertIn("ANSWER: 0, AUTHORITY: 1", out)
            # RFC 2308 §3: the authority serves the SOA at min(SOA TTL, MINIMUM).
            negative_ttl = min(SOA_TTL, SOA_MINIMUM)
            self.assertRegex(out, rf"example\.test\.\s+{negative_ttl}\s+IN\s+SOA\s+ns1\.example\.test\. "
                                  rf"hostmaster\.example\.test\. 1 3600 600 86400 {SOA_MINIMUM}")

    def test_opt_only_when_the_client_sent_one(self):
        with_edns = reply_lines(self.server.query("www.example.test", "+bufsize=4096", "+do"))[0]
        self.assertEqual(with_edns["edns"], "1232", "our size, not the client's or knot's")
        self.assertEqual(with_edns["do"], "1")
        without = reply_lines(self.server.query("www.example.test", "+noedns"))[0]
        self.assertEqual(without["edns"], "0")
        self.assertEqual(without["ar"], "0")

    def test_upstream_nsid_is_not_passed_through(self):
        direct = run(["dig", "@127.0.0.1", "-p", str(self.knot.port), "+nsid", "www.example.test"]).stdout
        self.assertIn("NSID", direct, "knotd must send NSID, or this test proves nothing")
        through = self.server.dig("+nsid", "www.example.test")
        self.assertIn("status: NOERROR", through)
        self.assertNotIn("NSID", through)

    def test_badvers_for_edns_version_1(self):
        out = self.server.dig("+edns=1", "+noednsnegotiation", "www.example.test")
        self.assertIn("status: BADVERS", out)

    def test_client_letter_case_is_echoed(self):
        out = self.server.query("WwW.ExAmPlE.tEsT", "A")
        self.assertIn("question=WwW.ExAmPlE.tEsT.", out)
        reply = udp_exchange(self.server.port, build_query("WWW.EXAMPLE.TEST", qid=0x1234))
        self.assertEqual(reply[:2], b"\x12\x34")
        self.assertIn(b"\x03WWW\x07EXAMPLE\x04TEST\x00", reply)

    def test_reply_flags_are_the_appliances(self):
        out = self.server.dig("+norecurse", "www.example.test")
        flags = re.search(r"flags: ([a-z ]+);", out).group(1).split()
        self.assertIn("ra", flags)
        self.assertNotIn("rd", flags, "RD copied from the client")
        self.assertNotIn("aa", flags, "knotd is authoritative; the appliance is not")

    def test_truncation_without_edns_then_tcp_gets_everything(self):
        udp = self.server.dig("+noedns", "+ignore", "big.example.test", "TXT")
        self.assertRegex(udp, r"flags: qr tc")
        self.assertLess(len(dig_answers(udp)), BIG_TXT_RECORDS)
        full = self.server.dig("+noedns", "big.example.test", "TXT")  # dig retries over TCP
        self.assertIn("(TCP)", full)
        self.assertEqual(len(dig_answers(full)), BIG_TXT_RECORDS)

    def test_upstream_truncation_is_retried_over_tcp(self):
        # Knot truncates the 3 KB answer to our 1232-byte query; only a TCP retry
        # upstream can give a TCP client all of it.
        out = self.server.query("big.example.test", "TXT", "+tcp")
        self.assertEqual(reply_lines(out)[0]["an"], str(BIG_TXT_RECORDS))
        self.assertEqual(reply_lines(out)[0]["tc"], "0")
        udp = reply_lines(self.server.query("big.example.test", "TXT", "+bufsize=4096"))[0]
        self.assertEqual(udp["tc"], "1", "UDP replies stop at edns.max_udp")
        self.assertLessEqual(int(udp["size"]), 1232)

    def test_pipelined_tcp_answers_every_query(self):
        # 150 frames in one write: more than one engine burst (64) per read.
        out = self.server.query("www.example.test", "+pipeline=150")
        replies = reply_lines(out)
        self.assertEqual(len(replies), 150)
        self.assertEqual(len({r["id"] for r in replies}), 150)
        self.assertTrue(all(r["rcode"] == "0" and r["an"] == "1" for r in replies))
        kdig = self.server.kdig("+tcp", "www.example.test", "+keepopen", "mail.example.test")
        self.assertIn(("mail.example.test.", "A", "192.0.2.25"), dig_answers(kdig))

    def test_responses_are_never_answered(self):
        packet = build_query("www.example.test", flags=0x8100)
        self.assertIsNone(udp_exchange(self.server.port, packet, timeout=0.5))

    def test_malformed_queries_get_formerr(self):
        for packet in (build_query("www.example.test") + b"\0\0",
                       build_query("www.example.test", qdcount=2),
                       build_query("www.example.test", qdcount=0)):
            reply = udp_exchange(self.server.port, packet)
            self.assertIsNotNone(reply)
            self.assertEqual(rcode_of(reply), 1, packet.hex())
            self.assertEqual(reply[:2], packet[:2])

    def test_other_opcodes_get_notimp(self):
        for opcode in (4, 5):  # NOTIFY, UPDATE
            reply = reply_lines(self.server.query("example.test", "SOA", f"+opcode={opcode}"))[0]
            self.assertEqual(reply["rcode"], "4")

    def test_random_and_mutated_packets_do_not_hurt_it(self):
        rng = random.Random(20261125)
        seeds = [build_query("www.example.test"), build_query("a.example.test", edns=(1232, True, 0)),
                 build_query("big.example.test", 16)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for i in range(10000):
                if i % 2:
                    packet = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 600)))
                else:
                    packet = bytearray(rng.choice(seeds))
                    for _ in range(rng.randint(1, 4)):
                        packet[rng.randrange(len(packet))] = rng.getrandbits(8)
                    packet = bytes(packet[:rng.randint(1, len(packet))] if rng.random() < 0.3 else packet)
                sock.sendto(packet, ("127.0.0.1", self.server.port))
                if i % 200 == 0:
                    time.sleep(0.005)  # stay under the socket buffers: this is not a load test
                    try:
                        while sock.recv(65535):
                            pass
                    except BlockingIOError:
                        pass
        self.assertTrue(self.server.process.alive())
        self.assertIn(("www.example.test.", "A", "192.0.2.1"),
                      dig_answers(self.server.dig("www.example.test", "A")))


def udp_ports_of(pid):
    """The local UDP ports the process has open, from ss."""
    out = run(["ss", "-Huanp"]).stdout
    return {int(line.split()[3].rsplit(":", 1)[1])
            for line in out.splitlines() if f"pid={pid}," in line}


class SourcePortTest(unittest.TestCase):
    def test_upstream_sockets_live_only_as_long_as_their_attempt(self):
        # RFC 5452: attempts leave from sockets connected to the upstream, each
        # taking new attempts for at most a second and closed once its last one
        # has ended (rfc5452_test.py scans and forges against them).
        directory = tempfile.mkdtemp(prefix="heimdall-it-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        knot = Knot(directory)
        self.addCleanup(knot.process.stop)
        server = Heimdall(directory, "ports", [knot.port], workers=1, timeout_ms=200)
        self.addCleanup(server.process.stop)
        self.assertEqual(udp_ports_of(server.process.proc.pid) - {server.port}, set(),
                         "no upstream socket before the first query")
        self.assertIn(("www.example.test.", "A", "192.0.2.1"),
                      dig_answers(server.dig("www.example.test", "A")))
        time.sleep(1.5)
        self.assertEqual(udp_ports_of(server.process.proc.pid) - {server.port}, set(),
                         "nor a second after it is answered")


class UpstreamFailureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="heimdall-it-")
        cls.knot = Knot(cls.directory)
        cls.dead_port = free_port()  # nothing listens there

    @classmethod
    def tearDownClass(cls):
        cls.knot.process.stop()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def test_servfail_within_the_budget_when_every_upstream_is_down(self):
        server = Heimdall(self.directory, "dead", [self.dead_port], timeout_ms=600)
        try:
            start = time.monotonic()
            reply = udp_exchange(server.port, build_query("www.example.test"), timeout=3)
            elapsed = time.monotonic() - start
            self.assertIsNotNone(reply)
            self.assertEqual(rcode_of(reply), 2, "SERVFAIL")
            self.assertGreaterEqual(elapsed, 0.5)
            self.assertLess(elapsed, 0.6 + 0.5)
            self.assertEqual(len(reply), len(build_query("www.example.test")),
                             "no OPT in the query: none, and no Extended DNS Error, in the reply")
            self.assertIn("; EDE: 22 (No Reachable Authority)", server.dig("www.example.test"))
        finally:
            self.assertEqual(server.process.stop(), 0)

    def test_failover_to_the_second_upstream(self):
        # One worker: health is per worker (no shared state), so with two the
        # kernel could spread these queries and no worker would see three failures.
        server = Heimdall(self.directory, "failover", [self.dead_port, self.knot.port],
                          strategy="failover", timeout_ms=1500, workers=1)
        try:
            # Three different cache keys (DO and CD are part of it), so that each
            # query goes upstream and meets the dead server first.
            for flags in ([], ["+cdflag"], ["+dnssec"]):
                out = server.dig("www.example.test", "A", *flags)
                self.assertIn(("www.example.test.", "A", "192.0.2.1"), dig_answers(out))
            # After max_failures timeouts the dead server is marked down and later
            # queries go straight to the live one.
            start = time.monotonic()
            out = server.dig("mail.example.test", "A")
            self.assertIn(("mail.example.test.", "A", "192.0.2.25"), dig_answers(out))
            self.assertLess(time.monotonic() - start, 0.5)
        finally:
            self.assertEqual(server.process.stop(), 0)


def answers_with_ttl(output):
    """The answer section of dig output as (name, ttl, type, data) tuples."""
    answers = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 5 and not line.startswith(";") and fields[2] == "IN":
            answers.append((fields[0], int(fields[1]), fields[3], " ".join(fields[4:])))
    return answers


class CacheTest(unittest.TestCase):
    """The cache through the real binary: knotd counts what reaches it."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="heimdall-cache-")
        self.knot = Knot(self.directory)

    def tearDown(self):
        self.knot.process.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def test_a_repeated_question_is_answered_from_the_cache_with_a_lower_ttl(self):
        server = Heimdall(self.directory, "cache", [self.knot.port])
        try:
            before = self.knot.queries()
            first = answers_with_ttl(server.dig("www.example.test", "A", "+noall", "+answer"))
            self.assertEqual(first, [("www.example.test.", 300, "A", "192.0.2.1")])
            self.assertEqual(self.knot.queries(), before + 1)
            time.sleep(2.2)
            for case in ("www.example.test", "WWW.Example.TEST"):
                second = answers_with_ttl(server.dig(case, "A", "+noall", "+answer"))
                self.assertEqual(len(second), 1, second)
                self.assertEqual(second[0][0], case + ".", "each client's own case")
                self.assertIn(second[0][1], (297, 298), "aged by the seconds in the cache")
            self.assertEqual(self.knot.queries(), before + 1, "answered without the upstream")
        finally:
            self.assertEqual(server.process.stop(), 0)
        self.assertRegex(server.process.output(), r"cache: [1-9]\d* hits")

    def test_expired_answers_are_served_stale_once_the_upstream_stops(self):
        stale = Heimdall(self.directory, "stale", [self.knot.port], timeout_ms=400,
                         extra="cache: {max_ttl: 1, serve_stale: {enabled: true, ttl: 30}}")
        plain = Heimdall(self.directory, "plain", [self.knot.port], timeout_ms=400,
                         extra="cache: {max_ttl: 1, serve_stale: {enabled: false}}")
        try:
            for server in (stale, plain):
                self.assertIn(("www.example.test.", "A", "192.0.2.1"),
                              dig_answers(server.dig("www.example.test", "A")))
            self.knot.process.stop()
            time.sleep(1.5)  # past the clamped TTL
            out = stale.dig("www.example.test", "A")
            self.assertIn("status: NOERROR", out)
            self.assertEqual(answers_with_ttl(out),
                             [("www.example.test.", 30, "A", "192.0.2.1")], "RFC 8767 stale TTL")
            self.assertIn("; EDE: 3 (Stale Answer)", out, "RFC 8914 says why")
            failed = plain.dig("www.example.test", "A")
            self.assertIn("status: SERVFAIL", failed)
            self.assertIn("; EDE: 22 (No Reachable Authority)", failed)
        finally:
            self.assertEqual(stale.process.stop(), 0)
            self.assertEqual(plain.process.stop(), 0)
        self.assertRegex(stale.process.output(), r"[1-9]\d* stale answers")


def tcp_query(sock, name, qid):
    query = build_query(name, qid=qid)
    sock.sendall(struct.pack(">H", len(query)) + query)
    length = struct.unpack(">H", recv_exact(sock, 2))[0]
    return recv_exact(sock, length)


def recv_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    return data


class TcpLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="heimdall-it-")
        cls.knot = Knot(cls.directory)
        cls.server = Heimdall(cls.directory, "tcp", [cls.knot.port], workers=1,
                              tcp_idle_timeout_ms=400, tcp_max_connections=2)

    @classmethod
    def tearDownClass(cls):
        cls.server.process.stop()
        cls.knot.process.stop()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=3)
        self.addCleanup(sock.close)
        return sock

    def test_connections_over_the_limit_are_closed(self):
        first, second = self.connect(), self.connect()
        self.assertEqual(tcp_query(first, "www.example.test", 1)[:2], b"\x00\x01")
        self.assertEqual(tcp_query(second, "www.example.test", 2)[:2], b"\x00\x02")
        # Both answered just now: neither has been quiet the 200 ms that would let
        # the newcomer evict it (tcp_limits_test.py covers eviction).
        third = self.connect()
        with self.assertRaises((ConnectionError, OSError)):
            tcp_query(third, "www.example.test", 3)
        self.assertEqual(tcp_query(first, "mail.example.test", 4)[:2], b"\x00\x04",
                         "the connections within the limit still work")

    def test_idle_connections_are_closed(self):
        time.sleep(0.6)  # let the previous test's connections expire
        sock = self.connect()
        self.assertEqual(tcp_query(sock, "www.example.test", 5)[:2], b"\x00\x05")
        start = time.monotonic()
        sock.settimeout(3)
        self.assertEqual(sock.recv(1), b"", "the server closes an idle connection")
        self.assertLess(time.monotonic() - start, 0.4 + 0.5)


class CommandLineTest(unittest.TestCase):
    def check_config(self, text):
        """Runs --check-config on `text`; returns (result, path of the file)."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(text)
        self.addCleanup(os.unlink, f.name)
        return run([HEIMDALL, "--config", f.name, "--check-config"]), f.name

    def test_bad_config_is_refused_with_line_and_key(self):
        result, path = self.check_config('listen:\n  udp: ["127.0.0.1:5300"]\nupstreams:\n  timeout_ms: soon\n')
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"{path}:4: upstreams.timeout_ms", result.stderr)

    def test_dpdk_backend_needs_its_port(self):
        result, path = self.check_config('dataplane: {backend: dpdk}\nupstreams: {servers: ["127.0.0.1:53"]}\n')
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"{path}:1: dataplane.ports: the dpdk backend drives exactly one port", result.stderr)

    def test_dpdk_backend_names_a_port_the_eal_does_not_have(self):
        # The configuration is valid; start-up fails at the port, saying which and why.
        text = (
            "dataplane:\n  backend: dpdk\n  workers: 1\n"
            '  eal_args: ["-l", "0", "--no-huge", "--no-shconf", "--no-pci", "-m", "128"]\n'
            "  exception: {enabled: false}\n"
            "  ports: [{device: net_null9, address: 198.18.0.1/24}]\n"
            'upstreams: {servers: ["198.18.0.2:53"]}\n'
        )
        result, path = self.check_config(text)
        self.assertEqual(result.returncode, 0, result.stderr)
        result = run([HEIMDALL, "--config", path], timeout=30)
        self.assertEqual(result.returncode, 3, result.stderr)
        self.assertIn("DPDK port net_null9: no such device", result.stderr)

    def test_version_and_help(self):
        self.assertRegex(run([HEIMDALL, "--version"]).stdout, r"^heimdall \d+\.\d+\.\d+")
        self.assertIn("--check-config", run([HEIMDALL, "--help"]).stdout)
        self.assertEqual(run([HEIMDALL, "--no-such-flag"]).returncode, 2)

    def test_embedded_dev_config_checks(self):
        result = run([HEIMDALL, "--check-config", "--upstream", "127.0.0.1:53"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("embedded conf/dev.yaml", result.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
