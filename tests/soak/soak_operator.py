"""The soak test's operator (tests/soak/soak_test.py): what an operator and a bad
day do to the server while the clients run. Four threads: filter reloads of
every kind with a check of the version in force after each, knotd killed and
restarted, the misbehaving upstream cycled through its modes, and heimdallctl's
commands (a huge cache dump among them)."""

import os
import re
import shutil
import signal
import threading
import time

from forwarding_test import run
from operations_test import total
import soak_clients as sc
from soak_setup import (DYN_NAMES, blocked_now, dyn_address, scrape, upstream_packets,
                        write_dyn_list)

RELOAD_EVERY = 4.0
KINDS = ("sighup", "ctl", "file", "sighup_burst", "file_big")
# Mode, delay: TC then a reset TCP connection, slow, garbage, SERVFAIL, TC then
# a refused TCP connection, REFUSED, silence, and a correct server again.
MODES = (("tc_reset", 0), ("slow", 400), ("garbage", 0), ("servfail", 0), ("tc_refuse", 0),
         ("refused", 0), ("silent", 0), ("correct", 0))
MAX_UPSTREAM_PER_QUERY = 4  # issue 12 defect 3: packets to a misbehaving upstream per query
BIG_DUMP = 2_000_000  # entries per shard asked of `cache dump` (issue 12 defect 2)
PRESENTATION = re.compile(r"\bIN\s+(A|AAAA|TXT|PTR|SOA|NS|CNAME|MX|ANY|HINFO)\b")


class Counts:
    def __init__(self):
        self.sent = self.answered = self.lost = 0


class Operator:
    def __init__(self, soak, seconds):
        self.soak, self.seconds = soak, seconds
        self.asan = os.environ.get("SOAK_ASAN") == "1"
        self.reloads = {kind: 0 for kind in KINDS}
        self.knot_kills = 0
        self.hostile_phases = 0
        self.hostile_figures = {}
        self.hostile_stats_missing = []
        self.big_dumps = 0
        self.ctl_runs = 0
        self.checker = Counts()
        self.versions_checked = 0
        self.big_rewrites = 0
        self.dump_format_failed = False
        self.ctl = os.environ["HEIMDALLCTL_BIN"]
        self.skip = set(os.environ.get("SOAK_SKIP", "").split(","))

    def threads(self):
        return [threading.Thread(target=self.soak.guarded(f), name=f.__name__, daemon=True)
                for f in (self.reloader, self.knot_faults, self.hostile_cycle, self.ctl_loop)]

    def run_ctl(self, *args, timeout=60):
        return run([self.ctl, "--socket", os.path.join(self.soak.dir, "control.sock"), *args],
                   timeout=timeout)

    # -----------------------------------------------------------------------------
    # Reloads

    def reloads_total(self):
        samples, _ = scrape(self.soak.metrics_port)
        return total(samples, "heimdall_filter_reloads_total"), samples

    def wait_reloads(self, target, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self.soak.dead.is_set():
            count, _ = self.reloads_total()
            if count >= target:
                return True
            time.sleep(0.1)
        return False

    def settle(self, limit=60.0):
        """Until no reload has been published for 2 s (a burst of SIGHUPs may
        queue one more)."""
        deadline = time.monotonic() + limit
        last, _ = self.reloads_total()
        quiet = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            count, _ = self.reloads_total()
            if count != last:
                last, quiet = count, time.monotonic()
            elif time.monotonic() - quiet >= 2.0:
                return
        self.soak.fail(f"reloads did not settle within {limit:.0f} s")

    def reloader(self):
        soak = self.soak
        i = 0
        while not soak.stop.wait(RELOAD_EVERY):
            kind = KINDS[i % len(KINDS)]
            i += 1
            if kind.startswith("sighup") and "sighup" in self.skip:
                kind = "ctl"
            try:
                self.reload(kind)
            except OSError as error:  # /metrics or the control socket gone
                time.sleep(0.5)  # the watchdog reports a death
                if not soak.dead.is_set():
                    soak.fail(f"reload by {kind}: {error!r}")
                return

    def reload(self, kind):
        soak = self.soak
        before, _ = self.reloads_total()
        if kind == "file_big":
            self.big_rewrites += 1
            if self.big_rewrites % 2:
                os.utime(soak.big_path)  # touched
            else:  # rewritten, as a list updater would: a new file renamed into place
                shutil.copyfile(soak.big_path, soak.big_path + ".new")
                os.rename(soak.big_path + ".new", soak.big_path)
        else:
            soak.version += 1
            write_dyn_list(soak.dyn_path, soak.version)
        started = time.monotonic()
        if kind == "sighup":
            os.kill(soak.pid, signal.SIGHUP)
        elif kind == "sighup_burst":
            for _ in range(3):
                os.kill(soak.pid, signal.SIGHUP)
                time.sleep(0.05)
        elif kind == "ctl":
            result = self.run_ctl("reload", timeout=180)
            if result.returncode != 0 or "lists reloaded" not in result.stdout:
                soak.fail(f"heimdallctl reload: exit {result.returncode}: "
                          f"{result.stdout.strip()} {result.stderr.strip()}")
        limit = 120.0 if self.asan else 30.0
        if not self.wait_reloads(before + 1, limit):
            if not soak.dead.is_set():
                soak.fail(f"reload by {kind} (version {soak.version}) not reported done "
                          f"within {limit:.0f} s")
            return
        self.reloads[kind] += 1
        soak.note(f"reload by {kind}: version {soak.version} in force after "
                  f"{time.monotonic() - started:.2f} s")
        self.check_version(soak.version, kind)
        if kind == "sighup_burst":
            self.settle()

    def check_version(self, version, kind):
        """Right after reload `version` is reported done: every d<j> blocked by
        that version (and not on the allow list) is blocked, every other one
        answers from the zone; its marker is blocked, the previous one not."""
        queries = []
        for j in range(DYN_NAMES):
            check = sc.expect_blocked if blocked_now(j, version) else \
                sc.expect_addresses([dyn_address(j)])
            queries.append((f"d{j}.example.test", 1, check))
        queries.append((f"v{version}.marker.example.test", 1, sc.expect_blocked))
        queries.append((f"v{version - 1}.marker.example.test", 1,
                        sc.expect_addresses(["192.0.2.98"])))
        wrong = []
        for start in range(0, len(queries), 50):  # 50 at a time: no socket buffer overflows
            chunk = queries[start:start + 50]
            replies = sc.exchange_all("127.0.0.2", self.soak.address, chunk, timeout=4.0)
            self.checker.sent += len(chunk)
            for (name, _, check), reply in zip(chunk, replies):
                if reply is None:
                    self.checker.lost += 1
                    continue
                self.checker.answered += 1
                problem = check(reply) or sc.ttl_problem(reply)
                if problem:
                    wrong.append(f"{name}: {problem}")
        self.versions_checked += 1
        if wrong:
            self.soak.fail(f"filter version {version} (reload by {kind} reported done): "
                           f"{len(wrong)} wrong answers: " + "; ".join(wrong[:5]))

    # -----------------------------------------------------------------------------
    # Upstream faults

    def knot_faults(self):
        """One knotd at a time killed (SIGKILL, then SIGTERM the next time), down
        for 5 s, restarted on its port: once a minute, in the middle of each."""
        soak = self.soak
        count = max(1, self.seconds // 60)
        for i in range(count):
            at = self.seconds * (i + 0.5) / count
            if soak.stop.wait(max(0.0, at - (time.monotonic() - soak.run_started))):
                return
            knot = soak.knots[i % 2]
            sig = signal.SIGKILL if i % 2 == 0 else signal.SIGTERM
            knot.stop(sig)
            self.knot_kills += 1
            soak.note(f"{knot.name} stopped by {signal.Signals(sig).name}")
            soak.stop.wait(5.0)
            knot.start()
            soak.note(f"{knot.name} restarted on port {knot.port}")

    def hostile_cycle(self):
        soak = self.soak
        if "hostile" in self.skip:
            return
        phase = max(5.0, min(15.0, self.seconds / 12))
        i = 0
        while True:
            sent_before = soak.hostile_client.stats.sent
            stopping = soak.stop.wait(phase)
            mode = soak.hostile.mode
            stats = soak.hostile.stop()
            queries = soak.hostile_client.stats.sent - sent_before
            packets = upstream_packets(stats)
            if packets is None or not stats:
                self.hostile_stats_missing.append(f"{mode}: {stats!r}")
                packets = 0
            q, p = self.hostile_figures.get(mode, (0, 0))
            self.hostile_figures[mode] = (q + queries, p + packets)
            self.hostile_phases += 1
            if stopping:
                return
            mode, delay = MODES[i % len(MODES)]
            i += 1
            soak.hostile.start(mode, delay)
            soak.note(f"misbehaving upstream now {mode}")

    # -----------------------------------------------------------------------------
    # heimdallctl

    def ctl_loop(self):
        soak = self.soak
        commands = (["stats"], ["upstreams"], ["lists"], ["workers"], ["cache", "dump", "10"])
        big_dump_at = self.seconds * 0.4
        i = 0
        while not soak.stop.wait(3.0):
            if (self.big_dumps == 0 and "dump" not in self.skip
                    and time.monotonic() - soak.run_started >= big_dump_at):
                # The fixed server caps N and streams: either way RSS stays bounded.
                result = self.run_ctl("cache", "dump", str(BIG_DUMP), timeout=120)
                self.big_dumps += 1
                soak.note(f"heimdallctl cache dump {BIG_DUMP}: exit {result.returncode}, "
                          f"{len(result.stdout.splitlines())} lines")
                continue
            command = commands[i % len(commands)]
            i += 1
            result = self.run_ctl(*command)
            self.ctl_runs += 1
            if result.returncode != 0:
                soak.fail(f"heimdallctl {' '.join(command)}: exit {result.returncode}: "
                          f"{result.stderr.strip()}")
            elif command[0] == "cache":
                entries = [line for line in result.stdout.splitlines()
                           if line.strip() and not line.endswith(" entries")]
                if (entries and not any(PRESENTATION.search(line) for line in entries)
                        and not self.dump_format_failed):
                    self.dump_format_failed = True  # once is enough
                    soak.fail(f"heimdallctl cache dump: types and classes not in presentation "
                              f"format: {entries[0]!r}")

    # -----------------------------------------------------------------------------

    def check(self, soak):
        if soak.dead.is_set():
            return
        if self.versions_checked == 0:
            soak.fail("no filter version was checked")
        for kind, count in self.reloads.items():
            if count == 0 and not (kind.startswith("sighup") and "sighup" in self.skip):
                soak.fail(f"no reload by {kind} happened")
        _, samples = self.reloads_total()
        failed = total(samples, "heimdall_filter_failed_reloads_total")
        if failed:
            soak.fail(f"{failed:.0f} filter reloads failed")
        for entry in self.hostile_stats_missing:
            soak.fail(f"misbehaving upstream wrote no usable stats: {entry}")
        for mode, (queries, packets) in sorted(self.hostile_figures.items()):
            if queries >= 10 and packets > MAX_UPSTREAM_PER_QUERY * queries:
                soak.fail(f"upstream mode {mode}: {packets} upstream packets for {queries} client "
                          f"queries ({packets / queries:.1f} each, at most {MAX_UPSTREAM_PER_QUERY})")
