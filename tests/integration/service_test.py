#!/usr/bin/env python3
"""Heimdall run as a service manager runs it: signals, readiness and reloads.

The real binary with a management section (metrics and control socket) and a
200k-rule block list, a real knotd upstream, and a datagram socket standing in for
systemd's $NOTIFY_SOCKET, which receives exactly what systemd would. Checks that a
storm of SIGHUPs during reloads neither kills the server nor runs two reloads at
once nor loses the last one, that SIGTERM and SIGINT drain and exit 0, that the
unit file's ExecReload is harmless, and that READY=1 comes only once the filter
is in force."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forwarding_test import (Heimdall, Knot, build_query, free_port,  # noqa: E402
                             rcode_of, udp_exchange)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = 200_000
NXDOMAIN = 3


class NotifySocket:
    """The receiving end of sd_notify(3): one datagram per notification, read as
    they come by a thread of its own, as systemd reads them. (Left unread, the
    socket's queue, net.unix.max_dgram_qlen = 10 datagrams, fills after five
    reloads and sd_notify then blocks the server's control thread.)"""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []  # every notification received so far, as dicts, in order
        self.arrived = threading.Condition()
        self.closing = threading.Event()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        while not self.closing.is_set():
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.arrived:
                self.messages.append(dict(line.split("=", 1) for line in data.splitlines()
                                          if "=" in line))
                self.arrived.notify_all()

    def wait_for(self, key, timeout=30.0, after=0):
        """The first message from index `after` on that carries `key`; its index."""
        deadline = time.time() + timeout
        with self.arrived:
            while True:
                for index in range(after, len(self.messages)):
                    if key in self.messages[index]:
                        return index
                remaining = deadline - time.time()
                if remaining <= 0:
                    raise AssertionError(f"no {key} within {timeout} s; got {self.messages}")
                self.arrived.wait(remaining)

    def close(self):
        self.closing.set()
        self.reader.join()
        self.sock.close()


def write_block_list(path, extra=()):
    subprocess.run([sys.executable, os.path.join(ROOT, "perf", "gen_blocklist.py"),
                    "--count", str(RULES), "--format", "domains", "--output", path,
                    "--quiet"], check=True)
    with open(path, "a") as f:
        f.write("always-blocked.example\n")
        for name in extra:
            f.write(name + "\n")


class Traffic(threading.Thread):
    """Queries one name in a loop until stopped; counts what went unanswered."""

    def __init__(self, port, name):
        super().__init__(daemon=True)
        self.port, self.name = port, name
        self.sent = self.unanswered = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            self.sent += 1
            if not udp_exchange(self.port, build_query(self.name), timeout=2.0):
                self.unanswered += 1
            time.sleep(0.005)

    def stop(self):
        self.stopping.set()
        self.join(10)


class ServiceTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="heimdall-service-")
        self.knot = Knot(self.dir)
        self.list_path = os.path.join(self.dir, "ads.txt")
        write_block_list(self.list_path)
        self.notify = NotifySocket(self.dir)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path)
        self.heimdall = Heimdall(self.dir, "service", [self.knot.port], env=env, extra=f"""
management:
  metrics_listen: 127.0.0.1:{free_port()}
  control_socket: {os.path.join(self.dir, "control.sock")}
filter:
  lists:
    - {{name: ads, source: {self.list_path}}}
""")
        self.pid = self.heimdall.process.proc.pid

    def tearDown(self):
        self.heimdall.process.stop(signal.SIGKILL)
        self.knot.process.stop()
        self.notify.close()
        shutil.rmtree(self.dir)

    def rcode(self, name):
        reply = udp_exchange(self.heimdall.port, build_query(name), timeout=2.0)
        self.assertIsNotNone(reply, f"{name}: no answer")
        return rcode_of(reply)

    def stop_and_check(self, sig):
        self.heimdall.process.proc.send_signal(sig)
        status = self.heimdall.process.proc.wait(30)
        output = self.heimdall.process.output()
        self.assertEqual(status, 0, output)
        self.assertRegex(output, r"served \d+ queries")
        self.notify.wait_for("STOPPING", timeout=5)
        return output

    def test_ready_only_once_the_filter_is_in_force(self):
        self.notify.wait_for("READY")
        self.assertEqual(self.rcode("always-blocked.example."), NXDOMAIN)
        self.assertEqual(self.rcode("www.example.test."), 0)
        self.assertIn("serving", self.notify.messages[self.notify.wait_for("READY")]["STATUS"])

    def test_a_sighup_storm_during_reloads_is_survived_and_none_is_lost(self):
        self.notify.wait_for("READY")
        traffic = Traffic(self.heimdall.port, "www.example.test.")
        traffic.start()
        hups = 30
        for i in range(hups):
            if i == hups - 1:
                # Rewritten before the last SIGHUP: only a reload that starts after
                # it can know this name.
                write_block_list(self.list_path, extra=["late-rule.example"])
            os.kill(self.pid, signal.SIGHUP)
            time.sleep(0.01)
        deadline = time.time() + 60
        while self.rcode("late-rule.example.") != NXDOMAIN:
            self.assertTrue(self.heimdall.process.alive(), self.heimdall.process.output())
            self.assertLess(time.time(), deadline, "the last SIGHUP's reload never came")
            time.sleep(0.2)
        time.sleep(1.0)  # a reload still queued would show in the log by now
        traffic.stop()
        self.assertTrue(self.heimdall.process.alive(), self.heimdall.process.output())

        reloads = len(re.findall(r"built \(SIGHUP\)", self.heimdall.process.output()))
        self.assertGreaterEqual(reloads, 2)
        self.assertLessEqual(reloads, hups)
        # One at a time: every RELOADING=1 is followed by its READY=1 before the next.
        states = [("RELOADING" in m, "READY" in m) for m in self.notify.messages[1:]]
        expected_reloading = True
        for reloading, ready in states:
            if reloading:
                self.assertTrue(expected_reloading, self.notify.messages)
                expected_reloading = False
            elif ready:
                self.assertFalse(expected_reloading, self.notify.messages)
                expected_reloading = True
        self.assertEqual(traffic.unanswered, 0, f"{traffic.unanswered} of {traffic.sent} lost")
        self.assertEqual(self.rcode("always-blocked.example."), NXDOMAIN)
        self.stop_and_check(signal.SIGTERM)

    def test_sigint_drains_and_exits_zero(self):
        self.notify.wait_for("READY")
        self.assertEqual(self.rcode("www.example.test."), 0)
        self.stop_and_check(signal.SIGINT)

    def test_the_units_exec_reload_reloads_without_harm(self):
        self.notify.wait_for("READY")
        with open(os.path.join(ROOT, "packaging", "heimdall.service")) as f:
            line = next(line for line in f if line.startswith("ExecReload="))
        command = line.split("=", 1)[1].strip().replace("$MAINPID", str(self.pid))
        before = len(self.notify.messages)
        subprocess.run(command.split(), check=True, timeout=10)
        reloading = self.notify.wait_for("RELOADING", after=before)
        self.notify.wait_for("READY", after=reloading + 1)
        self.assertTrue(self.heimdall.process.alive(), self.heimdall.process.output())
        self.assertEqual(self.rcode("always-blocked.example."), NXDOMAIN)
        self.stop_and_check(signal.SIGTERM)


def start_with(directory, yaml_text, timeout=20):
    """Runs heimdall on `yaml_text` until it exits (or `timeout`); returns the result."""
    config = os.path.join(directory, "start.yaml")
    with open(config, "w") as f:
        f.write(yaml_text)
    return subprocess.run([os.environ.get("HEIMDALL_BIN", "build/src/app/heimdall"),
                           "--config", config], capture_output=True, text=True, timeout=timeout)


class StartupErrorTest(unittest.TestCase):
    """A host that cannot run the file gets one paragraph that says what is missing
    and what to change, not the EAL's page of usage text."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="heimdall-startup-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def dpdk_start(self, eal_args):
        result = start_with(self.dir, f"""dataplane:
  backend: dpdk
  workers: 1
  eal_args: {eal_args}
  ports:
    - {{device: net_null0, address: 198.18.0.1/24}}
upstreams: {{servers: ["198.18.0.2:53"]}}
""")
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 3, output)
        self.assertNotIn("Usage:", output)
        self.assertLess(len(output.splitlines()), 10, output)
        return output

    def test_lcores_the_host_lacks_are_named(self):
        cpus = len(os.sched_getaffinity(0))
        output = self.dpdk_start(f'["-l", "0-{cpus + 5}", "--no-huge", "--no-pci", "-m", "256", '
                                 '"--vdev=net_null0"]')
        self.assertIn(f"asks for CPU(s) {cpus}-{cpus + 5}", output)
        self.assertIn("dataplane.eal_args", output)

    def test_missing_hugepages_are_named_with_the_fix(self):
        with open("/proc/meminfo") as f:
            if re.search(r"HugePages_Free:\s+[1-9]", f.read()):
                self.skipTest("this host has free hugepages")  # CI's has none
        output = self.dpdk_start('["-l", "0", "--no-pci", "--vdev=net_null0"]')
        self.assertIn("hugepages", output)
        self.assertIn("--no-huge", output)

    def test_a_bad_eal_option_is_quoted_without_the_usage_text(self):
        output = self.dpdk_start('["-l", "0", "--no-huge", "--no-pci", "--bogus-option", '
                                 '"--vdev=net_null0"]')
        self.assertEqual(output.count("unrecognized option '--bogus-option'"), 1, output)

    def test_an_open_resolver_is_warned_about(self):
        port = free_port()
        config = os.path.join(self.dir, "open.yaml")
        for listen, acl, warned in (("0.0.0.0", "", True), ("0.0.0.0", "acl: {allow: [127.0.0.0/8]}", False),
                                    ("127.0.0.1", "", False)):
            with open(config, "w") as f:
                f.write(f'listen: {{udp: ["{listen}:{port}"]}}\n'
                        f'upstreams: {{servers: ["127.0.0.1:9"]}}\n{acl}\n')
            process = subprocess.Popen([os.environ.get("HEIMDALL_BIN", "build/src/app/heimdall"),
                                        "--config", config], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            try:
                deadline = time.time() + 10
                while udp_exchange(port, build_query("x.example."), timeout=0.2) is None:
                    self.assertLess(time.time(), deadline)
            finally:
                process.send_signal(signal.SIGTERM)
                output = process.communicate(timeout=10)[0]
            self.assertEqual(process.returncode, 0, output)
            self.assertEqual("open resolver" in output, warned, f"{listen} {acl}: {output}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
