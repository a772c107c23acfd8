#!/usr/bin/env python3
"""The soak test's short form against the DPDK backend, in the network-namespace
lab of scripts/lab.sh (run it as `scripts/lab.sh soak`, which builds the lab,
starts knotd, writes Heimdall's configuration with a management section, runs
this, and takes the lab down). For SOAK_SECONDS (default 60):

  - dnsperf from the client namespace over UDP (the fast path) and over TCP (the
    exception path), on hits, blocked names and misses;
  - filter reloads every 5 s by SIGHUP, `heimdallctl reload` and a changed list
    file, each followed by a check from the client that the version in force
    blocks what it lists and nothing else;
  - knotd killed (SIGKILL) in the middle and restarted 5 s later;
  - SIGTERM at the end.

Invariants: Heimdall lives and exits 0 with its "served N queries" line; every
dnsperf query is answered or matched by a counted drop (see check_losses); the
answers follow the filter version in force; RSS stays under a bound computed
from the configuration; the metrics stay consistent. Exit status 0 when all
held, 1 otherwise."""

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from operations_test import parse_exposition, total  # noqa: E402

SECONDS = int(os.environ.get("SOAK_SECONDS", "60"))
WORK = os.environ["HDLAB_WORK"]
NS_APP, NS_CLI, NS_UP = (os.environ[k] for k in ("HDLAB_NS_APP", "HDLAB_NS_CLI", "HDLAB_NS_UP"))
APP4, UP4 = os.environ["HDLAB_APP4"], os.environ["HDLAB_UP4"]
HEIMDALL = os.environ["HEIMDALL_BIN"]
CTL = os.environ["HEIMDALLCTL_BIN"]
CONFIG = os.path.join(WORK, "heimdall.yaml")
BLOCK_LIST = os.path.join(WORK, "lab-block.txt")
SOCKET = os.path.join(WORK, "control.sock")
METRICS = "http://127.0.0.1:9153/metrics"
RELOAD_EVERY = 5.0
SKIP = set(os.environ.get("SOAK_SKIP", "").split(","))  # development only: sighup
KINDS = ("sighup", "ctl", "file")
# RSS bound: the EAL's memory (conf/lab.yaml: -m 256, --no-huge: anonymous
# memory, all of it may be touched), a base (code, libraries, threads, the
# exception path's tap and rings, the allocator) and the cache at its
# max_entries (10000) of at most 4 KiB each. The filter is one line.
EAL_MB, BASE_MB, CACHE_MB = 256, 96, 10000 * 4 // 1024
BOUND = (EAL_MB + BASE_MB + CACHE_MB) << 20


def ns(namespace, *args):
    return ["ip", "netns", "exec", namespace, *args]


def run(args, timeout=20):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def dig(name, *extra):
    """(status, answers) of a query from the client namespace."""
    out = run(ns(NS_CLI, "dig", f"@{APP4}", name, "A", "+time=2", "+tries=2", *extra)).stdout
    match = re.search(r"status: ([A-Z]+)", out)
    answers = [line.split()[-1] for line in out.splitlines()
               if line and not line.startswith(";") and "\tA\t" in line.replace(" ", "\t")]
    return (match.group(1) if match else None), answers


class LabSoak:
    def __init__(self):
        self.failures = []
        self.t0 = time.monotonic()
        self.stop = threading.Event()
        self.version = 0
        self.reloads = {kind: 0 for kind in KINDS}
        self.knot_kills = 0
        self.rss_high = 0
        self.previous = None

    def fail(self, text):
        line = f"[{time.monotonic() - self.t0:6.1f} s] {text}"
        self.failures.append(line)
        print("FAIL " + line, flush=True)

    def note(self, text):
        print(f"[{time.monotonic() - self.t0:6.1f} s] {text}", flush=True)

    # -----------------------------------------------------------------------------

    def write_list(self):
        """Version 0 blocks blocked.lab.example only; version k > 0 a<k % 3 + 1> too."""
        with open(BLOCK_LIST + ".new", "w") as f:
            f.write(f"# lab soak, version {self.version}\nblocked.lab.example\n")
            if self.version:
                f.write(f"a{self.version % 3 + 1}.lab.example\n")
        os.rename(BLOCK_LIST + ".new", BLOCK_LIST)

    def start_heimdall(self):
        self.write_list()
        self.log = open(os.path.join(WORK, "heimdall.log"), "w")
        # ip netns exec execs Heimdall in place: the child's exit status is its own.
        self.heimdall = subprocess.Popen(ns(NS_APP, HEIMDALL, "--config", CONFIG),
                                         stdout=self.log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        with open(os.path.join(WORK, "heimdall.pid"), "w") as f:
            f.write(f"{self.heimdall.pid}\n")
        deadline = time.monotonic() + 30
        while dig("www.lab.example", "+time=1", "+tries=1")[1] != ["192.0.2.80"]:
            if self.heimdall.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Heimdall (dpdk) did not answer within 30 s:\n" + self.log_text())
            time.sleep(0.3)
        self.note(f"Heimdall (dpdk) pid {self.heimdall.pid} answers at {APP4}")
        # a1-a3 cached (TTL 300) before any version blocks one: unblocked again
        # later, each is answered from the cache even while knotd is down.
        self.check_version("start-up")

    def log_text(self):
        with open(os.path.join(WORK, "heimdall.log")) as f:
            return f.read()

    def scrape(self):
        out = run(ns(NS_APP, "curl", "-sf", "--max-time", "20", METRICS), timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"curl {METRICS}: exit {out.returncode}")
        return parse_exposition(out.stdout)

    def reload_count(self):
        out = run([CTL, "--socket", SOCKET, "lists"]).stdout
        match = re.search(r"reloads (\d+)", out)
        return int(match.group(1)) if match else -1

    # -----------------------------------------------------------------------------

    def reloader(self):
        i = 0
        while not self.stop.wait(RELOAD_EVERY):
            kind = KINDS[i % len(KINDS)]
            i += 1
            if kind == "sighup" and "sighup" in SKIP:
                kind = "ctl"
            before = self.reload_count()
            self.version += 1
            self.write_list()
            if kind == "sighup":
                os.kill(self.heimdall.pid, signal.SIGHUP)
            elif kind == "ctl":
                result = run([CTL, "--socket", SOCKET, "reload"], timeout=60)
                if result.returncode != 0:
                    self.fail(f"heimdallctl reload: exit {result.returncode}: {result.stderr}")
            deadline = time.monotonic() + 20
            while self.reload_count() < before + 1:
                if time.monotonic() > deadline or self.heimdall.poll() is not None:
                    self.fail(f"reload by {kind} (version {self.version}) not reported done")
                    return
                time.sleep(0.1)
            self.reloads[kind] += 1
            self.check_version(kind)

    def check_version(self, kind):
        blocked = self.version % 3 + 1 if self.version else 0
        for j in (1, 2, 3):
            status, answers = dig(f"a{j}.lab.example")
            want = ("NXDOMAIN", []) if j == blocked else ("NOERROR", [f"192.0.2.{j}"])
            if (status, answers) != want:
                self.fail(f"version {self.version} (reload by {kind}): a{j}.lab.example gave "
                          f"{status} {answers}, expected {want[0]} {want[1]}")
        status, _ = dig("blocked.lab.example")
        if status != "NXDOMAIN":
            self.fail(f"version {self.version}: blocked.lab.example gave {status}")

    def knot_fault(self):
        if self.stop.wait(SECONDS / 2):
            return
        pid_file = os.path.join(WORK, "knotd.pid")
        with open(pid_file) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGKILL)
        self.knot_kills += 1
        self.note("knotd killed (SIGKILL)")
        time.sleep(5)
        for stale in ("knot.pid", "knot.sock"):
            try:
                os.unlink(os.path.join(WORK, "knot", stale))
            except FileNotFoundError:
                pass
        with open(os.path.join(WORK, "knotd.log"), "a") as log:
            knot = subprocess.Popen(["setsid", *ns(NS_UP, "knotd", "-c",
                                                   os.path.join(WORK, "knot.conf"))],
                                    stdout=log, stderr=subprocess.STDOUT)
        with open(pid_file, "w") as f:
            f.write(f"{knot.pid}\n")
        deadline = time.monotonic() + 15
        while not run(ns(NS_UP, "kdig", f"@{UP4}", "lab.example.", "SOA", "+time=1",
                         "+retry=0", "+short")).stdout.strip():
            if time.monotonic() > deadline:
                self.fail("knotd did not answer again within 15 s of its restart")
                return
            time.sleep(0.2)
        self.note("knotd restarted")

    def monitor(self):
        while not self.stop.wait(0.5):
            code = self.heimdall.poll()
            if code is not None:
                self.fail(f"Heimdall died: exit status {code}"
                          + (f" ({signal.Signals(-code).name})" if code < 0 else ""))
                self.stop.set()
                return
            try:
                with open(f"/proc/{self.heimdall.pid}/status") as f:
                    hwm = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) * 1024
            except (OSError, AttributeError):
                continue
            if hwm > BOUND >= self.rss_high:
                self.fail(f"RSS high-water mark {hwm / 2**20:.1f} MiB over the bound "
                          f"{BOUND / 2**20:.0f} MiB")
            self.rss_high = max(self.rss_high, hwm)

    def metrics_loop(self):
        while not self.stop.wait(3.0):
            try:
                self.check_metrics(self.scrape(), final=False)
            except Exception as error:  # noqa: BLE001
                if self.heimdall.poll() is None:
                    self.fail(f"metrics: {error}")

    def check_metrics(self, samples, final):
        """As the socket soak's check_scrape: counters never go down, and across
        scrapes answers + rrl_dropped <= the next replies, replies <= the next
        queries; at rest with equality (queries >= replies)."""
        now = {k: total(samples, f"heimdall_{k}_total")
               for k in ("queries", "replies", "answers", "rrl_dropped")}
        if self.previous is not None:
            old_samples, old = self.previous
            for name, values in samples.items():
                for labels, value in values.items():
                    previous = old_samples.get(name, {}).get(labels)
                    if (previous is not None and value < previous and name.endswith(
                            ("_total", "_bucket", "_count", "_sum"))):
                        self.fail(f"counter {name}{{{labels}}} went down: {previous} -> {value}")
            if old["answers"] + old["rrl_dropped"] > now["replies"]:
                self.fail(f"metrics: answers {old['answers']} then replies {now['replies']}")
            if old["replies"] > now["queries"]:
                self.fail(f"metrics: replies {old['replies']} then queries {now['queries']}")
        if final and (now["answers"] + now["rrl_dropped"] != now["replies"]
                      or now["queries"] < now["replies"]):
            self.fail(f"metrics at rest: {now}")
        self.previous = (samples, now)

    # -----------------------------------------------------------------------------

    def dnsperf(self, name, mode, rate, names):
        path = os.path.join(WORK, f"soak-{name}.txt")
        with open(path, "w") as f:
            f.write("\n".join(names) + "\n")
        args = ns(NS_CLI, "dnsperf", "-s", APP4, "-d", path, "-l", str(SECONDS), "-Q", str(rate),
                  "-t", "3", "-m", mode)
        log = open(os.path.join(WORK, f"dnsperf-{name}.log"), "w")
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT), log

    @staticmethod
    def dnsperf_figures(path):
        with open(path) as f:
            text = f.read()
        figures = {}
        for key in ("sent", "completed", "lost"):
            match = re.search(rf"Queries {key}:\s+(\d+)", text)
            figures[key] = int(match.group(1)) if match else None
        return figures

    def client_udp_drops(self):
        out = run(ns(NS_CLI, "cat", "/proc/net/snmp")).stdout
        rows = [line.split() for line in out.splitlines() if line.startswith("Udp:")]
        fields = dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))
        return fields["InErrors"] + fields.get("SndbufErrors", 0)

    def run(self):
        if SKIP - {""}:
            self.note(f"SOAK_SKIP={','.join(sorted(SKIP - {''}))}: left out (development only)")
        self.start_heimdall()
        samples0 = self.scrape()
        self.check_metrics(samples0, final=False)
        drops0 = self.client_udp_drops()
        hits = ["www.lab.example A", "www.lab.example AAAA", "mail.lab.example A",
                "lab.example MX", "alias.lab.example A", "txt.lab.example TXT"]
        misses = [f"m{random.randrange(1 << 40)}.lab.example A" for _ in range(20000)]
        udp_names = [hits[i % len(hits)] if i % 4 else misses[i // 4] for i in range(20000)]
        udp_names[::10] = ["blocked.lab.example A"] * len(udp_names[::10])
        udp, udp_log = self.dnsperf("udp", "udp", 400, udp_names)
        tcp, tcp_log = self.dnsperf("tcp", "tcp", 40, hits + ["blocked.lab.example A"])
        threads = [threading.Thread(target=f, daemon=True)
                   for f in (self.reloader, self.knot_fault, self.monitor, self.metrics_loop)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + SECONDS + 30
        while (udp.poll() is None or tcp.poll() is None) and not self.stop.is_set():
            if time.monotonic() > deadline:
                self.fail("dnsperf did not finish")
                break
            time.sleep(0.2)
        for process in (udp, tcp):  # still running: Heimdall died, or dnsperf hung
            if process.poll() is None:
                process.kill()
                process.wait()
        self.stop.set()
        for thread in threads:
            thread.join(60)
        udp_log.close()
        tcp_log.close()
        alive = self.heimdall.poll() is None
        if alive:
            final = self.scrape()
            self.check_metrics(final, final=True)
            self.check_losses(samples0, final, self.client_udp_drops() - drops0)
        self.heimdall.send_signal(signal.SIGTERM)
        try:
            code = self.heimdall.wait(30)
        except subprocess.TimeoutExpired:
            self.heimdall.kill()
            code = self.heimdall.wait()
            self.fail("Heimdall did not stop within 30 s of SIGTERM")
        self.log.close()
        if alive and code != 0:
            self.fail(f"exit status {code} on SIGTERM, expected 0")
        served = re.search(r"served \d+ queries", self.log_text())
        if alive and not served:
            self.fail("no stop summary ('served N queries') in the log")
        for kind, count in self.reloads.items():
            if count == 0 and not (kind == "sighup" and "sighup" in SKIP):
                self.fail(f"no reload by {kind}")
        u, t = self.udp_figures, self.tcp_figures
        print(f"lab soak figures: {SECONDS} s, DPDK af_packet, 1 worker; dnsperf UDP sent "
              f"{u['sent']} completed {u['completed']} lost {u['lost']}, TCP sent {t['sent']} "
              f"completed {t['completed']} lost {t['lost']}; reloads "
              f"{sum(self.reloads.values())} ({', '.join(f'{k} {v}' for k, v in self.reloads.items())})"
              f"; knotd kills {self.knot_kills}; RSS high-water {self.rss_high / 2**20:.1f} MiB "
              f"(bound {BOUND / 2**20:.0f} MiB); exit {code}", flush=True)
        if self.failures:
            print(f"\n{len(self.failures)} invariant failure(s):")
            for line in self.failures:
                print("  " + line)
            print("--- heimdall log (tail) ---\n" + "\n".join(self.log_text().splitlines()[-30:]))
            return 1
        print("lab soak (dpdk): every invariant held")
        return 0

    def check_losses(self, before, after, client_drops):
        """dnsperf's lost queries (no answer within 3 s, over a 1 s upstream
        budget) are at most what was counted as not answered: the engine's drops
        (rate limits, RRL, the access list: none configured here, so 0), the
        fast path's (TX queue full, no mbuf, handover ring full, the port's RX
        misses and errors) and the client namespace's kernel UDP drops. Over TCP
        nothing may be lost."""
        self.udp_figures = self.dnsperf_figures(os.path.join(WORK, "dnsperf-udp.log"))
        self.tcp_figures = self.dnsperf_figures(os.path.join(WORK, "dnsperf-tcp.log"))
        counted = sum(total(after, name) - total(before, name) for name in (
            "heimdall_rate_limited_total", "heimdall_rrl_dropped_total",
            "heimdall_acl_dropped_total", "heimdall_worker_tx_dropped_total",
            "heimdall_worker_no_mbuf_total", "heimdall_worker_handover_full_total",
            "heimdall_port_rx_missed_total", "heimdall_port_errors_total"))
        lost = self.udp_figures["lost"]
        if lost is None or self.udp_figures["sent"] in (None, 0):
            self.fail("dnsperf (UDP) printed no figures")
        elif lost > counted + client_drops:
            self.fail(f"dnsperf UDP: {lost} lost, counted drops {counted:.0f}, client kernel "
                      f"drops {client_drops}")
        if self.tcp_figures["lost"] is None or self.tcp_figures["sent"] in (None, 0):
            self.fail("dnsperf (TCP) printed no figures")
        elif self.tcp_figures["lost"]:
            self.fail(f"dnsperf TCP: {self.tcp_figures['lost']} of {self.tcp_figures['sent']} lost")


def main():
    soak = LabSoak()
    soak.udp_figures = soak.tcp_figures = {"sent": None, "completed": None, "lost": None}
    try:
        return soak.run()
    except Exception as error:  # noqa: BLE001
        print(f"lab soak: {error}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
