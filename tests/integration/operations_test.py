#!/usr/bin/env python3
"""Operating the appliance, against the real binary and a real knotd: the metrics
endpoint scraped over HTTP while load runs, heimdallctl round trips and a bad
configuration refused on reload, the access list, per-client rate limiting, and
the query log."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forwarding_test import (Heimdall, Knot, build_query, free_port, rcode_of,  # noqa: E402
                             run, udp_exchange)

CTL = os.environ.get("HEIMDALLCTL_BIN", "")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (-?[0-9.e+]+|[+-]Inf|NaN)$')


def parse_exposition(text):
    """Checks the Prometheus text format line by line (HELP and TYPE before their
    samples, one TYPE per family, every sample well formed); returns
    {name: {labels text: value}}."""
    families, samples, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in families, f"family {name} twice"
            assert kind in ("counter", "gauge", "histogram"), line
            families[name] = kind
            current = name
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample: {line!r}"
        name = match.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert current in (name, base), f"{name} outside its family ({current})"
        samples.setdefault(name, {})[match.group(3) or ""] = float(match.group(7))
    return samples


def total(samples, name):
    return sum(samples.get(name, {}).values())


class OperationsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="heimdall-ops-")
        cls.knot = Knot(cls.dir)
        cls.metrics_port = free_port()
        cls.socket_path = os.path.join(cls.dir, "control.sock")
        cls.log_path = os.path.join(cls.dir, "queries.jsonl")
        cls.block_path = os.path.join(cls.dir, "block.txt")
        with open(cls.block_path, "w") as f:
            f.write("blocked.example.test\n")
        cls.heimdall = Heimdall(cls.dir, "ops", [cls.knot.port], extra=f"""management:
  metrics_listen: 127.0.0.1:{cls.metrics_port}
  control_socket: {cls.socket_path}
query_log: {{enabled: true, path: {cls.log_path}, ring: 65536}}
filter:
  lists: [{{name: ops-block, source: {cls.block_path}, format: domains, action: block}}]
acl:
  allow: [127.0.0.1/32, 127.0.0.3/32]
limits:
  client_qps: 50
  client_burst: 50
  client_ipv4_prefix: 32
""")

    @classmethod
    def tearDownClass(cls):
        cls.heimdall.process.stop()
        cls.knot.process.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("text/plain; version=0.0.4", r.headers["Content-Type"])
            return parse_exposition(r.read().decode())

    def ctl(self, *args):
        return run([CTL, "--socket", self.socket_path, *args])

    def test_metrics_move_consistently_under_load(self):
        # Below the client rate: 40 queries a second from 127.0.0.1 for 3 s, while
        # scrapes run; every scrape must add up.
        stop = threading.Event()

        def load():
            i = 0
            while not stop.is_set():
                udp_exchange(self.heimdall.port, build_query(f"www{i % 5}.example.test" if i % 3
                                                             else "www.example.test"), timeout=1)
                i += 1
                time.sleep(0.025)

        worker = threading.Thread(target=load)
        worker.start()
        try:
            previous = 0
            for _ in range(6):
                samples = self.scrape()
                replies = total(samples, "heimdall_replies_total")
                parts = sum(total(samples, name) for name in (
                    "heimdall_cache_answers_total", "heimdall_stale_answers_total",
                    "heimdall_relayed_answers_total", "heimdall_blocked_total",
                    "heimdall_local_answers_total", "heimdall_any_minimal_total"))
                errors = total(samples, "heimdall_answers_total") - parts
                self.assertGreaterEqual(errors, 0)
                # Counters are read one after another while workers run: a reply
                # may land between two reads, never many.
                self.assertLessEqual(abs(replies - total(samples, "heimdall_answers_total")), 4)
                self.assertGreaterEqual(replies, previous)
                previous = replies
                time.sleep(0.5)
        finally:
            stop.set()
            worker.join()
        samples = self.scrape()
        self.assertGreater(total(samples, "heimdall_cache_hits_total"), 0)
        self.assertGreater(total(samples, "heimdall_upstream_queries_total"), 0)
        self.assertEqual(total(samples, "heimdall_replies_total"),
                         total(samples, "heimdall_answers_total"))
        self.assertIn('version="', next(iter(samples["heimdall_build_info"])))
        server = f'server="127.0.0.1:{self.knot.port}"'
        self.assertGreater(samples["heimdall_upstream_server_queries_total"][server], 0)
        answers = samples["heimdall_upstream_server_answers_total"][server]
        self.assertGreater(answers, 0)
        self.assertEqual(samples["heimdall_upstream_rtt_seconds_count"][server], answers)
        self.assertEqual(samples["heimdall_upstream_rtt_seconds_bucket"][server + ',le="+Inf"'], answers)
        self.assertEqual(samples["heimdall_upstream_server_down_workers"][server], 0)

    def test_every_counter_is_exported(self):
        """Every row of the counter tables the socket backend serves (engine, cache,
        sockets, upstream servers; read from their headers) is a family of /metrics, and so is every
        counter heimdallctl stats lists, with each of its labels: a counter that
        /metrics does not export fails here."""
        udp_exchange(self.heimdall.port, build_query("blocked.example.test"))
        samples = self.scrape()
        families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in samples}
        include = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include",
                               "heimdall")
        tables = 0
        for header in ("engine/engine.hpp", "cache/cache.hpp", "io/socket_backend.hpp",
                       "upstream/selector.hpp"):
            with open(os.path.join(include, header)) as f:
                text = f.read()
            for table in re.finditer(r"constexpr std::array k\w*CounterTable = \{(.*?)\n\};", text, re.S):
                tables += 1
                for metric in re.findall(r'"(heimdall_\w+)"', table.group(1)):
                    self.assertIn(metric, families, f"{header}: {metric} is not in /metrics")
        self.assertEqual(tables, 5, "the counter tables moved: update this test")
        self.assertIn('list="ops-block"', samples["heimdall_filter_blocked_total"])
        result = self.ctl("stats")
        self.assertEqual(result.returncode, 0, result.stderr)
        missing = []
        for line in result.stdout.splitlines():
            name = line.rsplit(" ", 1)[0]
            base, _, label = name.partition(".")
            family = next((f for f in (f"heimdall_{base}_total", f"heimdall_{base}")
                           if f in samples), None)
            if family is None or (label and not any(f'="{label}"' in labels
                                                    for labels in samples[family])):
                missing.append(name)
        self.assertEqual(missing, [], "in heimdallctl stats but not in /metrics")
        self.assertGreater(len(result.stdout.splitlines()), 80)

    def test_process_metrics_describe_this_process(self):
        samples = self.scrape()
        pid = self.heimdall.process.proc.pid
        with open(f"/proc/{pid}/status") as f:
            rss_kb = int(next(line.split()[1] for line in f if line.startswith("VmRSS:")))
        rss = total(samples, "process_resident_memory_bytes")
        self.assertLess(abs(rss - rss_kb * 1024), 0.2 * rss_kb * 1024 + (8 << 20))
        self.assertGreaterEqual(total(samples, "process_virtual_memory_bytes"), rss)
        fds = total(samples, "process_open_fds")
        self.assertLessEqual(abs(fds - len(os.listdir(f"/proc/{pid}/fd"))), 3)
        self.assertGreater(total(samples, "process_max_fds"), fds)
        started = total(samples, "process_start_time_seconds")
        self.assertLess(abs(started - os.stat(f"/proc/{pid}").st_ctime), 5)
        self.assertGreater(total(samples, "process_cpu_seconds_total"), 0)
        self.assertIn("heimdall_filter_last_reload_duration_seconds", samples)

    def test_dashboard_and_alert_rules_name_only_exported_metrics(self):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging")
        rules = os.path.join(root, "prometheus", "heimdall-alerts.yml")
        dashboard = os.path.join(root, "grafana", "heimdall-dashboard.json")
        checked = run(["promtool", "check", "rules", rules])
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        tested = subprocess.run(["promtool", "test", "rules", "heimdall-alerts.test.yml"],
                                cwd=os.path.dirname(rules), capture_output=True, text=True)
        self.assertEqual(tested.returncode, 0, tested.stdout + tested.stderr)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=5) as r:
            text = r.read()
        linted = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
        self.assertEqual(linted.returncode, 0, linted.stdout + linted.stderr)

        samples = parse_exposition(text.decode())
        with open(dashboard) as f:
            panels = json.load(f)["panels"]
        exprs = [target["expr"] for panel in panels for target in panel["targets"]]
        with open(rules) as f:
            exprs.append(f.read())
        named = set()
        for expr in exprs:
            named.update(re.findall(r"\b((?:heimdall|process)_[a-z0-9_]+)", expr))
        self.assertGreater(len(named), 20)
        self.assertEqual(sorted(name for name in named if name not in samples), [],
                         "named by the dashboard or the alert rules, not exported")

    def test_metrics_endpoint_refuses_other_paths(self):
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/other", timeout=5)
        self.assertEqual(caught.exception.code, 404)

    def page(self, path, port=None):
        """(status, body) of a management page."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{port or self.metrics_port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def test_health_and_ready_follow_drain_and_undrain(self):
        self.assertEqual(self.page("/health"), (200, "ok\n"))
        self.assertEqual(self.page("/ready"), (200, "ok\n"))
        try:
            result = self.ctl("drain")
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("queries are still answered", result.stdout)
            for path in ("/health", "/ready"):
                status, body = self.page(path)
                self.assertEqual(status, 503)
                self.assertIn("draining", body)
            self.assertEqual(rcode_of(udp_exchange(self.heimdall.port,
                                                   build_query("www.example.test"))), 0,
                             "a drained node still answers")
        finally:
            self.assertEqual(self.ctl("undrain").returncode, 0)
        self.assertEqual(self.page("/health"), (200, "ok\n"))

    def test_health_fails_when_upstream_queries_go_unanswered(self):
        dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
        dead.bind(("127.0.0.1", 0))
        port = free_port()
        server = Heimdall(self.dir, "unhealthy", [dead.getsockname()[1]], timeout_ms=300,
                          extra=f"management: {{metrics_listen: 127.0.0.1:{port}}}")
        try:
            self.assertEqual(self.page("/health", port), (200, "ok\n"), "idle: no evidence")
            deadline = time.time() + 15
            status, body = 200, ""
            while time.time() < deadline and status == 200:
                udp_exchange(server.port, build_query(f"n{int(time.time() * 10)}.example.test"),
                             timeout=0.5)
                status, body = self.page("/health", port)
            self.assertEqual(status, 503)
            self.assertRegex(body, r"no upstream answers: \d+ queries sent in the last 5 s, "
                                   r"none answered")
            self.assertEqual(self.page("/ready", port), (200, "ok\n"),
                             "ready: it still answers (SERVFAIL), a load balancer may keep it")
        finally:
            server.process.stop()
            dead.close()

    def test_control_commands_round_trip(self):
        result = self.ctl("stats")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"queries \d+")
        self.assertEqual(self.ctl("help").returncode, 0)
        self.assertRegex(self.ctl("upstreams").stdout,
                         rf"127\.0\.0\.1:{self.knot.port}: up, srtt \d+ us, queries \d+")
        self.assertIn("worker 1", self.ctl("workers").stdout)
        udp_exchange(self.heimdall.port, build_query("flushme.example.test"))
        result = self.ctl("cache", "dump")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"flushme\.example\.test\. IN A nxdomain ttl=\d+ flags=rd ")
        result = self.ctl("cache", "flush", "flushme.example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.ctl("cache", "flush").returncode, 0)
        result = self.ctl("no-such-command")
        self.assertEqual(result.returncode, 1)
        self.assertIn("stats", result.stderr)

    def test_bad_configuration_is_refused_on_reload_and_the_old_one_serves(self):
        with open(self.heimdall.config) as f:
            good = f.read()
        try:
            with open(self.heimdall.config, "w") as f:
                f.write(good + "upstreams: {timeout_ms: soon}\n")
            result = self.ctl("reload")
            self.assertEqual(result.returncode, 1)
            self.assertIn("configuration refused", result.stderr)
        finally:
            with open(self.heimdall.config, "w") as f:
                f.write(good)
        self.assertEqual(rcode_of(udp_exchange(self.heimdall.port, build_query("www.example.test"))), 0)
        result = self.ctl("reload")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("configuration OK", result.stdout)

    def test_client_outside_the_access_list_is_refused(self):
        out = run(["dig", "@127.0.0.1", "-p", str(self.heimdall.port), "-b", "127.0.0.2",
                   "+time=2", "+tries=1", "www.example.test"]).stdout
        self.assertIn("status: REFUSED", out)
        self.assertIn("; EDE: 18 (Prohibited)", out)
        out = run(["dig", "@127.0.0.1", "-p", str(self.heimdall.port), "-b", "127.0.0.3",
                   "+time=2", "+tries=1", "www.example.test"]).stdout
        self.assertIn("status: NOERROR", out)
        self.assertGreater(total(self.scrape(), "heimdall_acl_refused_total"), 0)

    def test_a_burst_beyond_its_budget_is_limited_while_another_client_is_served(self):
        # 200 queries at once from 127.0.0.3 (budget 50), then one from 127.0.0.1.
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.3", 0))
        sock.settimeout(1.0)
        for i in range(200):
            sock.sendto(build_query(f"burst{i}.example.test", qid=i), ("127.0.0.1", self.heimdall.port))
        answered = 0
        try:
            while True:
                sock.recv(4096)
                answered += 1
        except socket.timeout:
            pass
        sock.close()
        self.assertLessEqual(answered, 60)
        self.assertGreaterEqual(answered, 40)
        self.assertEqual(rcode_of(udp_exchange(self.heimdall.port, build_query("www.example.test"))), 0)
        self.assertGreaterEqual(total(self.scrape(), "heimdall_rate_limited_total"), 140)

    def test_query_log_records_replies(self):
        udp_exchange(self.heimdall.port, build_query("logged.example.test", qtype=28))
        deadline = time.time() + 5
        line = None
        while time.time() < deadline and line is None:
            if os.path.exists(self.log_path):
                with open(self.log_path) as f:
                    for text in f:
                        if "logged.example.test" in text:
                            line = json.loads(text)
            time.sleep(0.05)
        self.assertIsNotNone(line, "no log line for the query")
        self.assertEqual(line["type"], 28)
        self.assertEqual(line["transport"], "udp")
        self.assertTrue(line["client"].startswith("127.0.0.1:"))


if __name__ == "__main__":
    if not CTL:
        sys.exit("HEIMDALLCTL_BIN is not set (meson test sets it)")
    unittest.main(verbosity=2)
