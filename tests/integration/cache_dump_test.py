#!/usr/bin/env python3
"""heimdallctl cache dump against the real binary and a real knotd: a cache of a
few thousand names listed in presentation format, whatever N is asked, without
the server's memory growing with N; the control thread serving /metrics and other
commands while a dump streams, and dropping a client that stops reading it."""

import os
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forwarding_test  # noqa: E402
from forwarding_test import Heimdall, Knot, build_query, free_port, run  # noqa: E402

CTL = os.environ.get("HEIMDALLCTL_BIN", "")
# 10000 a shard: three chunks each (cache::DumpWalk::kChunkEntries, 4096), 1.6 MB
# of text in all, far more than a socket buffer and one chunk's text hold, so that
# a dump nobody reads stays in progress.
NAMES = 20000
RSS_BOUND_KB = 50 * 1024
LINE = re.compile(r"^(n\d+\.fill\.example\.test)\. IN A positive ttl=\d+ flags=rd bytes=\d+ "
                  r"shard=[01]$")


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB
    raise KeyError(field)


def fill_cache(port, names, in_flight=100):
    """Asks each name once over UDP, `in_flight` at a time; the answers received."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    answered = 0
    try:
        for start in range(0, len(names), in_flight):
            batch = names[start:start + in_flight]
            for i, name in enumerate(batch):
                sock.sendto(build_query(name, qid=(start + i) & 0xFFFF), ("127.0.0.1", port))
            for _ in batch:
                try:
                    sock.recv(4096)
                    answered += 1
                except socket.timeout:
                    break
    finally:
        sock.close()
    return answered


def with_wildcard(write_zone):
    def write(directory):
        path = write_zone(directory)
        with open(path, "a") as f:
            f.write("*.fill IN A 192.0.2.7\n")
        return path
    return write


def wildcard_knot(directory):
    """knotd with the forwarding tests' zone plus *.fill, so that any number of
    names under fill.example.test are answered."""
    original = forwarding_test.write_zone
    forwarding_test.write_zone = with_wildcard(original)
    try:
        return Knot(directory)
    finally:
        forwarding_test.write_zone = original


class CacheDumpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="heimdall-dump-")
        cls.knot = wildcard_knot(cls.dir)
        cls.metrics_port = free_port()
        cls.socket_path = os.path.join(cls.dir, "control.sock")
        cls.heimdall = Heimdall(cls.dir, "dump", [cls.knot.port], extra=f"""management:
  metrics_listen: 127.0.0.1:{cls.metrics_port}
  control_socket: {cls.socket_path}
""")
        cls.pid = cls.heimdall.process.proc.pid
        cls.names = [f"n{i}.fill.example.test" for i in range(NAMES)]
        # An answer for another worker's shard is handed to its owner over a ring
        # that drops when full (counted): names missed are asked again, and are
        # hits the second time for those that were cached.
        for _ in range(10):
            fill_cache(cls.heimdall.port, cls.names)
            time.sleep(0.2)  # the owners insert the last handed-over answers
            if cls.cached() >= NAMES:
                break

    @classmethod
    def tearDownClass(cls):
        cls.heimdall.process.stop()
        cls.knot.process.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def ctl(cls, *args, timeout=60):
        return run([CTL, "--socket", cls.socket_path, *args], timeout=timeout)

    @classmethod
    def cached(cls):
        out = cls.ctl("stats").stdout
        match = re.search(r"^cache_entries (\d+)$", out, re.M)
        return int(match.group(1)) if match else 0

    @classmethod
    def stalled(cls):
        match = re.search(r"^control_stalled_clients (\d+)$", cls.ctl("stats", timeout=5).stdout,
                          re.M)
        return int(match.group(1)) if match else -1

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=2) as r:
            self.assertEqual(r.status, 200)
            return r.read().decode()

    def test_a_huge_n_lists_everything_in_presentation_format_in_bounded_memory(self):
        self.assertGreaterEqual(self.cached(), NAMES)
        rss_before = proc_status(self.pid, "VmRSS")
        peak_before = proc_status(self.pid, "VmHWM")
        result = self.ctl("cache", "dump", "10000000")
        rss_after = proc_status(self.pid, "VmRSS")
        peak_after = proc_status(self.pid, "VmHWM")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], "; 10000000 entries asked for: listing at most 1000000, "
                                   "the most one dump lists")
        fill_lines = [line for line in lines if ".fill.example.test." in line]
        self.assertEqual([line for line in fill_lines if not LINE.match(line)], [])
        listed_names = [LINE.match(line).group(1) for line in fill_lines]
        self.assertEqual(len(listed_names), len(set(listed_names)), "an entry listed twice")
        self.assertEqual(set(listed_names), set(self.names))
        total = sum(1 for line in lines if not line.startswith(";"))
        self.assertEqual(lines[-1], f"; {total} entries")
        # Memory does not follow N: one chunk per shard and a chunk of text.
        self.assertLess(rss_after - rss_before, RSS_BOUND_KB, (rss_before, rss_after))
        self.assertLess(peak_after - peak_before, RSS_BOUND_KB, (peak_before, peak_after))

    def test_metrics_and_commands_answer_while_a_dump_streams_and_a_stalled_reader_is_dropped(self):
        self.assertGreaterEqual(self.cached(), NAMES)
        stalled_before = self.stalled()
        # A client that asks for a dump and reads nothing of it: the answer stops
        # at what the socket holds and one chunk's text, the rest of the walk
        # waiting for it.
        reader = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        reader.connect(self.socket_path)
        reader.sendall(b"cache dump 10000000\n")
        try:
            time.sleep(0.5)
            started = time.time()
            for _ in range(5):
                self.assertIn("heimdall_queries_total", self.scrape())
            result = self.ctl("stats", timeout=5)
            self.assertEqual(result.returncode, 0, result.stderr)
            # The first dump is still in progress: a second is refused, not queued.
            result = self.ctl("cache", "dump", timeout=5)
            self.assertEqual(result.returncode, 1)
            self.assertIn("another cache dump is running", result.stderr)
            self.assertLess(time.time() - started, 2.0)
            # The idle timeout (5 s) drops the client that does not read.
            deadline = time.time() + 15
            while time.time() < deadline:
                stalled = self.stalled()
                if stalled > stalled_before:
                    break
                time.sleep(0.2)
            self.assertEqual(stalled, stalled_before + 1)
        finally:
            reader.close()
        self.assertIn("stopped reading its answer", self.heimdall.process.output())
        # The walk went with it: the next dump runs.
        result = self.ctl("cache", "dump", "5")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.endswith(
            "; 5 entries: the limit of this dump; the cache may hold more\n"), result.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
