#!/usr/bin/env python3
"""Warm restarts against the real binary and a real knotd: a cache saved on a
clean stop (SIGTERM) and by `heimdallctl cache save`, read back by the next
start, which answers every name it had cached without one query reaching knotd
(its mod-stats counters say so) and with TTLs lowered by the time it was down;
a corrupt or foreign snapshot refused with a clear log line and a cold start."""

import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cache_dump_test import fill_cache, wildcard_knot  # noqa: E402
from forwarding_test import Heimdall, dig_answers, run  # noqa: E402

CTL = os.environ.get("HEIMDALLCTL_BIN", "")
NAMES = 2000
SAVED = re.compile(r"cache snapshot: saved (\d+) entries \((\d+) bytes\) to (\S+) in (\d+) ms")
RESTORED = re.compile(r"cache snapshot (\S+): restored (\d+) entries in (\d+) ms \(saved (\d+) s ago")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def answer_ttl(dig_output):
    return int(next(line.split()[1] for line in dig_output.splitlines()
                    if line.startswith("n7.fill.example.test.")))


class CacheSnapshotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="heimdall-snapshot-")
        cls.knot = wildcard_knot(cls.dir)
        cls.snapshot = os.path.join(cls.dir, "cache.snap")
        cls.socket_path = os.path.join(cls.dir, "control.sock")
        cls.names = [f"n{i}.fill.example.test" for i in range(NAMES)]

    @classmethod
    def tearDownClass(cls):
        cls.knot.process.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.servers = []
        if os.path.exists(self.snapshot):
            os.remove(self.snapshot)

    def tearDown(self):
        for server in self.servers:
            server.process.stop()

    def start(self, name, snapshot=None):
        server = Heimdall(self.dir, name, [self.knot.port], extra=f"""cache:
  snapshot: {snapshot or self.snapshot}
management:
  control_socket: {self.socket_path}
""")
        self.servers.append(server)
        return server

    def ctl(self, *args):
        return run([CTL, "--socket", self.socket_path, *args], timeout=60)

    def cached(self):
        match = re.search(r"^cache_entries (\d+)$", self.ctl("stats").stdout, re.M)
        return int(match.group(1)) if match else 0

    def fill(self, server):
        for _ in range(10):
            fill_cache(server.port, self.names)
            time.sleep(0.2)  # the owners insert the last handed-over answers
            if self.cached() >= NAMES:
                return
        self.fail(f"only {self.cached()} of {NAMES} names cached")

    def stop(self, server):
        self.assertEqual(server.process.stop(), 0, server.process.output())
        self.servers.remove(server)
        return server.process.output()

    def test_a_clean_stop_saves_the_cache_and_the_next_start_answers_it_without_the_upstream(self):
        first = self.start("first")
        self.fill(first)
        ttl_before = answer_ttl(first.dig("n7.fill.example.test", "A"))
        log = self.stop(first)
        saved = SAVED.search(log)
        self.assertIsNotNone(saved, log)
        self.assertGreaterEqual(int(saved.group(1)), NAMES)
        self.assertEqual(saved.group(3), self.snapshot)
        self.assertEqual(os.path.getsize(self.snapshot), int(saved.group(2)))
        self.assertFalse(os.path.exists(self.snapshot + ".tmp"))

        time.sleep(2)  # down for a while: the TTLs come back lower
        upstream_before = self.knot.queries()
        second = self.start("second")
        restored = RESTORED.search(second.process.output())
        self.assertIsNotNone(restored, second.process.output())
        self.assertGreaterEqual(int(restored.group(2)), NAMES)
        self.assertGreaterEqual(self.cached(), NAMES)
        answered = fill_cache(second.port, self.names)
        self.assertEqual(answered, NAMES)
        out = second.dig("n7.fill.example.test", "A")
        self.assertIn(("n7.fill.example.test.", "A", "192.0.2.7"), dig_answers(out))
        ttl = answer_ttl(out)
        self.assertLessEqual(ttl, ttl_before - 2, "aged by the time down")
        self.assertGreater(ttl, 200)
        self.assertEqual(self.knot.queries(), upstream_before,
                         "every restored name answered without asking knotd")

    def test_cache_save_while_serving_writes_a_snapshot_the_next_start_reads(self):
        server = self.start("saver", snapshot=os.path.join(self.dir, "unused.snap"))
        self.fill(server)
        result = self.ctl("cache", "save", self.snapshot)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        match = re.search(r"saved (\d+) entries \((\d+) bytes\) to (\S+) in (\d+) ms",
                          result.stdout)
        self.assertIsNotNone(match, result.stdout)
        self.assertGreaterEqual(int(match.group(1)), NAMES)
        self.assertEqual(os.path.getsize(self.snapshot), int(match.group(2)))
        self.assertIn("192.0.2.7", server.dig("n7.fill.example.test", "A"), "still serving")

        bad = self.ctl("cache", "save", "relative.snap")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("absolute path", bad.stdout + bad.stderr)
        missing_dir = self.ctl("cache", "save", os.path.join(self.dir, "no", "such", "x.snap"))
        self.assertNotEqual(missing_dir.returncode, 0)
        self.assertIn("cannot create", missing_dir.stdout + missing_dir.stderr)
        self.stop(server)

        upstream_before = self.knot.queries()
        self.start("reader")
        self.assertGreaterEqual(self.cached(), NAMES)
        self.assertEqual(fill_cache(self.servers[-1].port, self.names), NAMES)
        self.assertEqual(self.knot.queries(), upstream_before)

    def test_a_corrupt_or_foreign_snapshot_is_refused_and_the_start_is_cold(self):
        first = self.start("maker")
        self.fill(first)
        self.stop(first)
        with open(self.snapshot, "r+b") as f:
            f.seek(os.path.getsize(self.snapshot) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
        corrupt = self.start("corrupt")
        self.assertIn("cache snapshot refused, the cache starts empty", corrupt.process.output())
        self.assertIn("checksum does not match", corrupt.process.output())
        self.assertEqual(self.cached(), 0)
        upstream_before = self.knot.queries()
        self.assertIn("192.0.2.7", corrupt.dig("n7.fill.example.test", "A"), "serving, cold")
        self.assertGreater(self.knot.queries(), upstream_before)
        self.stop(corrupt)

        with open(self.snapshot, "w") as f:
            f.write("example.test. 300 IN A 192.0.2.1\n")
        foreign = self.start("foreign")
        self.assertIn("not a Heimdall cache snapshot", foreign.process.output())
        self.assertIn("192.0.2.7", foreign.dig("n7.fill.example.test", "A"))

    def test_a_missing_snapshot_is_a_cold_start_and_a_killed_server_leaves_the_old_one(self):
        server = self.start("fresh")
        self.assertIn("none yet; the cache starts empty", server.process.output())
        self.fill(server)
        self.assertEqual(self.ctl("cache", "save").returncode, 0)
        saved = read_bytes(self.snapshot)
        server.dig("late.fill.example.test", "A")
        server.process.stop(sig=9)
        self.servers.remove(server)
        self.assertEqual(read_bytes(self.snapshot), saved, "SIGKILL saves nothing")


if __name__ == "__main__":
    unittest.main(verbosity=2)
