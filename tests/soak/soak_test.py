#!/usr/bin/env python3
"""The soak test (issue 12): the real binary run as an operator runs it, for
SOAK_SECONDS (default 180), with everything at once:

  traffic   cache hits, misses of fresh names, blocked names, local records, TCP
            pipelined queries, garbage datagrams, slow TCP clients dribbling
            bytes, an abuser over its rate limits, CHAOS and odd opcodes;
  operator  reloads by SIGHUP (single and in bursts), by `heimdallctl reload` and
            by a changed list file (the dynamic list rewritten, the 200k list
            touched or rewritten), heimdallctl's commands, one knotd killed and
            restarted, a misbehaving upstream cycling through its modes; at the
            end SIGTERM.

Invariants, checked while it runs and at the end (each failure is printed with
the second it happened at):
  - the process lives, and exits 0 on SIGTERM with its "served N queries" line;
  - every well-formed query gets an answer or a counted drop (see check_losses);
  - every answer is right for the filter version in force: after reload k is
    reported done, the names version k blocks are blocked and the others answer
    from the zone, and names blocked in every version stay blocked throughout;
  - RSS stays under a bound computed from the configuration (soak_setup.rss_bound);
  - the metrics stay consistent (see check_scrape) and counters never go down;
  - no answer carries a TTL over cache.max_ttl; the misbehaving upstream gets at
    most 4 packets per client query; no reply to a response.

Environment: HEIMDALL_BIN, HEIMDALLCTL_BIN (set by meson), SOAK_SECONDS,
SOAK_ASAN=1 (widens the RSS bound and start-up waits), HOSTILE_UPSTREAM (the
misbehaving upstream's script; default tests/tools/hostile_upstream.py),
SOAK_SKIP (development only: a comma-separated list of faults to leave out:
sighup, dump, slowloris, hostile, second; the test says so when it does).
Exit status 0 when every invariant held."""

import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

from soak_setup import (HIT_NAMES, HOSTILE_ZONE, MANY_NAMES, ROOT, RULES,  # noqa: I100
                        UPSTREAM_TIMEOUT_MS, WORKERS, Hostile, SoakKnot, generate_block_list,
                        heimdall_extra, hit_address, kernel_udp_drops, many_address,
                        proc_cpu_seconds, proc_memory, rss_bound, scrape, write_dyn_list,
                        write_static_lists, write_zone)
from forwarding_test import Heimdall, Process, free_port  # noqa: E402 (path set by soak_setup)
from operations_test import total  # noqa: E402
from soak_operator import Operator  # noqa: E402
import soak_clients as sc  # noqa: E402

SECONDS = int(os.environ.get("SOAK_SECONDS", "180"))
ASAN = os.environ.get("SOAK_ASAN") == "1"
SKIP = {s for s in os.environ.get("SOAK_SKIP", "").split(",") if s}
CTL = os.environ.get("HEIMDALLCTL_BIN", "")
HOSTILE = os.environ.get("HOSTILE_UPSTREAM",
                         os.path.join(ROOT, "tests", "tools", "hostile_upstream.py"))
CLIENT_TIMEOUT = 4.0  # > the server's longest answer time: budget 1.5 s, stale after 1.8 s
SERVER = "127.0.0.1"


class Soak:
    def __init__(self):
        self.t0 = time.monotonic()
        self.failures = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.dead = threading.Event()
        self.rss_samples = 0
        self.rss_high = 0
        self.scrapes = 0
        self.previous = None

    def elapsed(self):
        return time.monotonic() - self.t0

    def fail(self, text):
        line = f"[{self.elapsed():6.1f} s] {text}"
        with self.lock:
            self.failures.append(line)
        print("FAIL " + line, flush=True)

    def note(self, text):
        print(f"[{self.elapsed():6.1f} s] {text}", flush=True)

    # -----------------------------------------------------------------------------
    # Set-up

    def setup(self):
        self.dir = tempfile.mkdtemp(prefix="heimdall-soak-")
        self.note(f"work directory {self.dir}")
        self.big_path, self.big_names = generate_block_list(self.dir)
        write_static_lists(self.dir)
        self.dyn_path = os.path.join(self.dir, "dyn.txt")
        self.version = 1
        write_dyn_list(self.dyn_path, self.version)
        zone = os.path.join(self.dir, "example.test.zone")
        write_zone(zone)
        self.knots = []
        for name in ("knot1", "knot2"):
            self.knots.append(SoakKnot(self.dir, zone, name))
        self.hostile = Hostile(self.dir, HOSTILE)
        if "hostile" not in SKIP:
            if not os.path.exists(HOSTILE):
                raise RuntimeError(f"no misbehaving upstream at {HOSTILE} (set HOSTILE_UPSTREAM)")
            self.hostile.start("correct")
        self.metrics_port = free_port()
        extra, upstreams_extra = heimdall_extra(self.dir, self.metrics_port,
                                                [k.port for k in self.knots], self.hostile.port)
        started = time.monotonic()
        self.server = Heimdall(self.dir, "soak", [k.port for k in self.knots],
                               strategy="fastest", timeout_ms=UPSTREAM_TIMEOUT_MS, workers=WORKERS,
                               tcp_idle_timeout_ms=2000, tcp_max_connections=64, extra=extra,
                               upstreams_extra=upstreams_extra, start_timeout=120 if ASAN else 30)
        self.pid = self.server.process.proc.pid
        self.note(f"heimdall pid {self.pid} ready in {time.monotonic() - started:.1f} s on port "
                  f"{self.server.port}, {RULES} rules, upstreams knotd {self.knots[0].port} and "
                  f"{self.knots[1].port}, {HOSTILE_ZONE} -> {self.hostile.port}")
        self.address = (SERVER, self.server.port)
        self.bound, self.bound_text = rss_bound(ASAN)
        self.note(f"RSS bound: {self.bound_text}")
        if "second" not in SKIP:
            self.second_instance()

    def second_instance(self):
        """An operator starting a second instance on the same address: it must
        refuse (exit 3, README), not share the UDP port (issue 12 defect 9)."""
        config = os.path.join(self.dir, "second.yaml")
        with open(config, "w") as f:
            f.write(f"""dataplane: {{backend: socket, workers: 1}}
listen: {{udp: ["127.0.0.1:{self.server.port}"]}}
upstreams: {{servers: ["127.0.0.1:{self.knots[0].port}"]}}
""")
        second = Process([os.environ.get("HEIMDALL_BIN", "build/src/app/heimdall"),
                          "--config", config], os.path.join(self.dir, "second.log"))
        deadline = time.monotonic() + (60 if ASAN else 15)
        while second.alive() and "ready" not in second.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        served = "ready" in second.output()
        code = second.stop()
        if code != 3:
            self.fail(f"a second instance on UDP port {self.server.port} exited {code}, not 3 "
                      f"({'it served' if served else 'it did not say ready'})")

    # -----------------------------------------------------------------------------
    # Traffic

    def start_clients(self):
        a = self.address
        counter = iter(range(1 << 62))

        def hits():
            i = next(counter)
            if i % 50 == 0:
                return "huge.example.test", 1, 1, 0, 0x0100, sc.expect_addresses(["192.0.2.51"])
            k = i % HIT_NAMES
            return f"h{k}.example.test", 1, 1, 0, 0x0100, sc.expect_addresses([hit_address(k)])

        def misses():
            i = next(counter)
            if i % 2:
                k = (i // 2) % MANY_NAMES
                return f"n{k}.example.test", 1, 1, 0, 0x0100, sc.expect_addresses([many_address(k)])
            return (f"f{i}x{os.getpid()}.fresh.example.test", 1, 1, 0, 0x0100,
                    sc.expect_addresses(["192.0.2.99"]))

        def local():
            i = next(counter) % 3
            if i == 0:
                return "router.lan", 1, 1, 0, 0x0100, sc.expect_addresses(["192.168.1.1"])
            if i == 1:
                return "router.lan", 28, 1, 0, 0x0100, sc.expect_addresses(["2001:db8::1:1"], 28)
            return "1.1.168.192.in-addr.arpa", 12, 1, 0, 0x0100, sc.expect_rcode(0)

        def blocked():
            i = next(counter)
            if i % 10 == 0:
                return "always.example.test", 1, 1, 0, 0x0100, sc.expect_blocked
            if i % 10 == 1:
                return f"x{i}.sub.example.test", 1, 1, 0, 0x0100, sc.expect_blocked
            if i % 10 == 2:
                return "ok.sub.example.test", 1, 1, 0, 0x0100, sc.expect_addresses(["192.0.2.96"])
            return self.big_names[i % len(self.big_names)], 1, 1, 0, 0x0100, sc.expect_blocked

        def odd():
            i = next(counter) % 6
            if i < 3:
                name = ("version.bind", "hostname.bind", "id.server")[i]
                return name, 16, 3, 0, 0x0100, chaos_not_forwarded
            if i == 3:  # opcode 15 with CD: NOTIMP, and no QUERY-only flags
                return "www.example.test", 1, 1, 15, 0x0110, notimp_without_query_flags
            if i == 4:
                return "h1.example.test", 255, 1, 0, 0x0100, sc.expect_rcode(0)
            return "big.example.test", 16, 1, 0, 0x0100, sc.expect_rcode(0)

        def hostile():
            i = next(counter)
            # Its correct answers carry TTL 0xffffffff for a first label ttl-4294967295.
            prefix = "ttl-4294967295." if i % 10 == 0 else ""
            return f"{prefix}q{i}x{os.getpid()}.{HOSTILE_ZONE}", 1, 1, 0, 0x0100, sc.expect_any

        def refused():
            return "h2.example.test", 1, 1, 0, 0x0100, sc.expect_rcode(5)

        def tcp_query():
            i = next(counter) % 5
            if i == 0:
                k = i % HIT_NAMES
                return f"h{k}.example.test", 1, sc.expect_addresses([hit_address(k)])
            if i == 1:
                return f"t{next(counter)}.fresh.example.test", 1, sc.expect_addresses(["192.0.2.99"])
            if i == 2:
                return "always.example.test", 1, sc.expect_blocked
            if i == 3:
                return "router.lan", 1, sc.expect_addresses(["192.168.1.1"])
            return "big.example.test", 16, big_txt_whole

        self.udp = [sc.UdpStream("hits", "127.0.0.1", a, 100, hits, timeout=CLIENT_TIMEOUT),
                    sc.UdpStream("misses", "127.0.0.1", a, 20, misses, timeout=CLIENT_TIMEOUT),
                    sc.UdpStream("local", "127.0.0.1", a, 10, local, timeout=CLIENT_TIMEOUT),
                    sc.UdpStream("blocked", "127.0.0.2", a, 40, blocked, timeout=CLIENT_TIMEOUT),
                    sc.UdpStream("odd", "127.0.0.4", a, 3, odd, timeout=CLIENT_TIMEOUT),
                    sc.UdpStream("outside-acl", "127.0.0.12", a, 1, refused,
                                 timeout=CLIENT_TIMEOUT)]
        if "hostile" not in SKIP:
            self.hostile_client = sc.UdpStream("hostile-zone", "127.0.0.4", a, 4, hostile,
                                               window=16, timeout=CLIENT_TIMEOUT)
            self.udp.append(self.hostile_client)
        self.tcp = sc.TcpPipeliner("tcp-pipelined", "127.0.0.3", a, 1.0, 20, tcp_query)
        self.garbage = sc.Garbage("garbage", "127.0.0.5", a, 20)
        self.abuser = sc.Abuser("abuser", "127.0.2.9", a, 5.0, 1500, "abuse.example.test")
        self.clients = self.udp + [self.tcp, self.garbage, self.abuser]
        if "slowloris" not in SKIP:
            self.slow = sc.SlowTcp("slow-tcp", "127.0.1.7", a, 64)
            self.clients.append(self.slow)
        for client in self.clients:
            client.start()

    # -----------------------------------------------------------------------------
    # Monitors

    def watchdog(self):
        """Liveness and memory, every 0.2 s."""
        while not self.stop.is_set():
            code = self.server.process.proc.poll()
            if code is not None:
                self.fail(f"heimdall died: exit status {code}"
                          + (f" ({signal.Signals(-code).name})" if code < 0 else ""))
                self.dead.set()
                self.stop.set()
                return
            try:
                rss, hwm = proc_memory(self.pid)
            except OSError:
                continue
            self.rss_samples += 1
            if hwm > self.rss_high:
                if hwm > self.bound >= self.rss_high:
                    self.fail(f"RSS high-water mark {hwm / 2**20:.1f} MiB over the bound "
                              f"{self.bound / 2**20:.1f} MiB (RSS now {rss / 2**20:.1f} MiB)")
                self.rss_high = hwm
            time.sleep(0.2)

    def metrics_loop(self):
        while not self.stop.wait(2.0):
            self.scrape_and_check()

    def scrape_and_check(self, final=False):
        try:
            samples, types = scrape(self.metrics_port)
        except Exception as error:  # noqa: BLE001
            if not self.dead.is_set():
                self.fail(f"/metrics: {error!r}")
            return None
        self.scrapes += 1
        self.check_scrape(samples, types, final)
        self.previous = (samples, types)
        return samples

    def check_scrape(self, samples, types, final):
        """Counters (and histogram series) never go down between scrapes. The
        engine's counters are read one after another while workers run, so
        within one scrape they may disagree by the replies between two reads;
        across two scrapes seconds apart they must not:
          answers(s_i) + rrl_dropped(s_i) <= replies(s_i+1)   each reply that left, or
                                                              that RRL dropped, was counted
          answers(s_i) + rrl_dropped(s_i) >= replies(s_i-1)   each counted reply left, or
                                                              RRL dropped it
          replies(s_i) <= queries(s_i+1)
        where answers = sum of heimdall_answers_total over RCODEs ("replies that
        left, by the RCODE in their header (RRL's drops not included)", Counters
        in engine.hpp): a reply RRL slips leaves, truncated, with its RCODE. At the
        end, with no traffic, the same hold with equality: answers + rrl_dropped
        == replies, and queries >= replies."""
        now = {
            "queries": total(samples, "heimdall_queries_total"),
            "replies": total(samples, "heimdall_replies_total"),
            "answers": total(samples, "heimdall_answers_total"),
            "rrl_dropped": total(samples, "heimdall_rrl_dropped_total"),
        }
        parts = sum(total(samples, name) for name in (
            "heimdall_cache_answers_total", "heimdall_stale_answers_total",
            "heimdall_relayed_answers_total", "heimdall_blocked_total",
            "heimdall_local_answers_total", "heimdall_any_minimal_total"))
        if self.previous is not None:
            old_samples, _ = self.previous
            for family, kind in types.items():
                if kind == "gauge":
                    continue
                for name in (family, family + "_bucket", family + "_sum", family + "_count"):
                    for labels, value in samples.get(name, {}).items():
                        old = old_samples.get(name, {}).get(labels)
                        if old is not None and value < old:
                            self.fail(f"counter {name}{{{labels}}} went down: {old} -> {value}")
            before = self.previous_totals
            if before["answers"] + before["rrl_dropped"] > now["replies"]:
                self.fail(f"metrics: answers {before['answers']} + rrl_dropped "
                          f"{before['rrl_dropped']} at the previous scrape > replies "
                          f"{now['replies']} now")
            if now["answers"] + now["rrl_dropped"] < before["replies"]:
                self.fail(f"metrics: answers {now['answers']} + rrl_dropped {now['rrl_dropped']} "
                          f"< replies {before['replies']} at the previous scrape "
                          f"(replies that left uncounted by RCODE)")
            if before["replies"] > now["queries"]:
                self.fail(f"metrics: replies {before['replies']} > queries {now['queries']}")
        if final:
            if now["answers"] + now["rrl_dropped"] != now["replies"]:
                self.fail(f"metrics at rest: answers by RCODE {now['answers']} + rrl_dropped "
                          f"{now['rrl_dropped']} != replies {now['replies']} (rrl_slipped "
                          f"{total(samples, 'heimdall_rrl_slipped_total')})")
            if now["queries"] < now["replies"]:
                self.fail(f"metrics at rest: queries {now['queries']} < replies {now['replies']}")
            if parts > now["replies"]:
                self.fail(f"metrics at rest: answers by source {parts} > replies {now['replies']}")
        self.previous_totals = now

    # -----------------------------------------------------------------------------
    # The run

    def run(self):
        self.setup()
        self.samples0 = self.scrape_and_check()
        self.kernel0 = kernel_udp_drops()
        self.cpu0 = proc_cpu_seconds(self.pid)
        if SKIP:
            self.note(f"SOAK_SKIP={','.join(sorted(SKIP))}: those faults are left out "
                      "(development only; the suite runs them all)")
        self.start_clients()
        monitors = [threading.Thread(target=self.guarded(f), daemon=True, name=f.__name__)
                    for f in (self.watchdog, self.metrics_loop)]
        self.operator = Operator(self, SECONDS)
        operators = self.operator.threads()
        self.run_started = time.monotonic()
        for thread in monitors + operators:
            thread.start()
        self.stop.wait(SECONDS)
        self.stop.set()
        self.note("stopping: operators first, then clients")
        for thread in operators:
            thread.join(180)
            if thread.is_alive():
                self.fail(f"operator {thread.name} did not finish")
        for client in self.clients:
            client.stop()
        for client in self.clients:
            client.join(CLIENT_TIMEOUT + 10)
            if client.is_alive():
                self.fail(f"client {client.name} did not finish")
            if client.crash:
                self.fail(client.crash)
        for thread in monitors:
            thread.join(10)
        self.duration = time.monotonic() - self.run_started
        return self.finish()

    def guarded(self, function):
        def body():
            try:
                function()
            except Exception:  # noqa: BLE001
                self.fail(f"{function.__name__} crashed:\n{traceback.format_exc()}")
        body.__name__ = function.__name__
        return body

    # -----------------------------------------------------------------------------
    # The end

    def finish(self):
        alive = self.server.process.alive()
        final = self.scrape_and_check(final=True) if alive else None
        kernel = kernel_udp_drops() - self.kernel0
        if alive:
            _, hwm = proc_memory(self.pid)
            self.rss_high = max(self.rss_high, hwm)
            if hwm > self.bound:
                self.fail(f"RSS high-water mark {hwm / 2**20:.1f} MiB over the bound "
                          f"{self.bound / 2**20:.1f} MiB")
            cpu = proc_cpu_seconds(self.pid) - self.cpu0
        else:
            cpu = float("nan")
        if final is not None:
            self.check_losses(final, kernel)
            self.check_exercised(final)
        for client in self.clients:
            if client.stats.wrong:
                self.fail(f"{client.name}: {client.stats.wrong} wrong replies, first: "
                          + " | ".join(client.stats.errors[:5]))
        for kind in ("short", "qr_set"):
            if self.garbage.replies_kind[kind]:
                self.fail(f"garbage: {self.garbage.replies_kind[kind]} replies to {kind} datagrams")
        self.operator.check(self)
        code = self.server.process.stop(signal.SIGTERM, timeout=120 if ASAN else 30)
        log = self.server.process.output()
        if code != 0 and not self.dead.is_set():
            self.fail(f"exit status {code} on SIGTERM, expected 0")
        served = re.search(r"served (\d+) queries:", log)
        if not self.dead.is_set():
            if not served:
                self.fail("no stop summary ('served N queries') in the log")
            elif final is not None and int(served.group(1)) < total(final, "heimdall_queries_total"):
                self.fail(f"stop summary: {served.group(0)} below the last scrape's "
                          f"{total(final, 'heimdall_queries_total'):.0f} queries")
        self.check_query_log()
        self.figures(kernel, cpu)
        self.cleanup()
        if self.failures:
            print(f"\n{len(self.failures)} invariant failure(s):")
            for line in self.failures:
                print("  " + line)
            print("--- heimdall log (tail) ---")
            print("\n".join(log.splitlines()[-40:]))
            print(f"(work directory kept: {self.dir})")
            return 1
        shutil.rmtree(self.dir, ignore_errors=True)
        print("soak: every invariant held")
        return 0

    def cleanup(self):
        """Every process this test started, stopped (also after a failed set-up)."""
        server = getattr(self, "server", None)
        if server is not None and server.process.alive():
            server.process.stop(signal.SIGKILL)
        for knot in getattr(self, "knots", []):
            if knot.process.alive():
                knot.stop()
        hostile = getattr(self, "hostile", None)
        if hostile is not None and hostile.process is not None and hostile.process.alive():
            hostile.stop()

    def delta(self, samples, name):
        return total(samples, name) - total(self.samples0, name)

    def check_losses(self, final, kernel):
        """Every well-formed query gets an answer or a counted drop. The
        well-behaved UDP clients stay under their rate limit and RRL rate by
        construction (each from its own /32, at most a third of client_qps, no
        name asked more than a few times a second), and the access list passes
        them, so the server may drop none of their queries: what they lose can
        only be the kernel's doing, counted in /proc/net/snmp (a full socket
        buffer, theirs or the server's) or by the server when the kernel refused
        a send:   lost_good <= kernel drops + udp_send_dropped.
        All UDP clients together, the abuser included, lose no more than what
        the server counted as not answered plus the kernel's drops:
          lost_good + lost_abuser <= rate_limited + rrl_dropped + acl_dropped
                                     + udp_send_dropped + kernel drops.
        (pending_full is answered SERVFAIL: not a loss.) Kernel drops are counted
        in this network namespace by every socket, other tests' too: that can
        only loosen the bound, never fail it. TCP has no counted drop for a
        well-formed query from a client within its limits: none may be lost."""
        send_drops = self.delta(final, "heimdall_worker_udp_send_dropped_total")
        counted = sum(self.delta(final, name) for name in (
            "heimdall_rate_limited_total", "heimdall_rrl_dropped_total",
            "heimdall_acl_dropped_total")) + send_drops
        lost_good = sum(c.stats.lost for c in self.udp) + self.operator.checker.lost
        lost_abuse = self.abuser.stats.lost
        self.losses = (lost_good, lost_abuse, counted, kernel)
        if lost_good > kernel + send_drops:
            self.fail(f"well-behaved UDP clients lost {lost_good} queries; kernel drops {kernel}, "
                      f"server send drops {send_drops}: "
                      + "; ".join(repr(c.stats) for c in self.udp if c.stats.lost))
        if lost_good + lost_abuse > counted + kernel:
            self.fail(f"UDP clients lost {lost_good + lost_abuse} queries (abuser {lost_abuse}), "
                      f"counted drops {counted:.0f}, kernel drops {kernel}")
        if self.tcp.stats.lost:
            self.fail(f"TCP: {self.tcp.stats.lost} of {self.tcp.stats.sent} pipelined queries "
                      f"unanswered: " + " | ".join(self.tcp.stats.errors[:5]))
        family = "heimdall_dropped_queries_total"
        short = final[family]['reason="short"'] - self.samples0[family]['reason="short"']
        sent_short = self.garbage.sent_kind["short"]
        if not sent_short - kernel <= short <= sent_short:
            self.fail(f"garbage: {sent_short} short datagrams sent, {short} counted as dropped "
                      f"(reason short), kernel drops {kernel}")

    def check_exercised(self, final):
        """The configuration's limits acted: a test whose abuse is not limited
        would check nothing."""
        for name in ("heimdall_rate_limited_total", "heimdall_rrl_dropped_total",
                     "heimdall_rrl_slipped_total", "heimdall_acl_refused_total",
                     "heimdall_blocked_total", "heimdall_local_answers_total",
                     "heimdall_cache_answers_total", "heimdall_relayed_answers_total"):
            if self.delta(final, name) <= 0:
                self.fail(f"{name} did not move: that part of the configuration was not exercised")

    def check_query_log(self):
        path = os.path.join(self.dir, "queries.jsonl")
        files = [p for p in (path, path + ".1", path + ".2", path + ".3") if os.path.exists(p)]
        if not files:
            self.fail("no query log written")
        if os.path.exists(path + ".3"):
            self.fail("query log: more rotated files than keep: 2")

    def figures(self, kernel, cpu):
        udp_sent = sum(c.stats.sent for c in self.udp) + self.operator.checker.sent
        udp_answered = sum(c.stats.answered for c in self.udp) + self.operator.checker.answered
        lost_good, lost_abuse, counted, _ = getattr(self, "losses", (0, 0, 0, 0))
        o = self.operator
        reloads = ", ".join(f"{k} {v}" for k, v in o.reloads.items())
        print(f"soak figures: {self.duration:.0f} s, {WORKERS} workers, {RULES} rules; "
              f"queries sent {udp_sent + self.tcp.stats.sent + self.abuser.stats.sent} "
              f"(UDP {udp_sent}, TCP {self.tcp.stats.sent}, abuser {self.abuser.stats.sent}), "
              f"answered {udp_answered + self.tcp.stats.answered + self.abuser.stats.answered}, "
              f"lost {lost_good} well-behaved + {lost_abuse} abuser against {counted:.0f} counted "
              f"drops + {kernel} kernel drops; reloads {sum(o.reloads.values())} ({reloads}); "
              f"faults: knotd kills {o.knot_kills}, upstream modes {o.hostile_phases}, garbage "
              f"{self.garbage.stats.sent}, slow TCP connections "
              f"{self.slow.connections if 'slowloris' not in SKIP else 0}, big cache dumps "
              f"{o.big_dumps}; RSS high-water {self.rss_high / 2**20:.1f} MiB (bound "
              f"{self.bound / 2**20:.0f} MiB); heimdall CPU {cpu:.1f} s", flush=True)
        for client in self.clients:
            print(f"  {client.stats!r}, rcodes {dict(sorted(client.stats.rcodes.items()))}")
        print(f"  checker: {o.checker.sent} sent, {o.checker.answered} answered, "
              f"{o.checker.lost} lost, {o.versions_checked} versions checked")
        for mode, (queries, packets) in sorted(o.hostile_figures.items()):
            print(f"  upstream mode {mode}: {queries} client queries, {packets} upstream packets")


def chaos_not_forwarded(reply):
    """CHAOS names are answered locally (default REFUSED), never forwarded:
    knotd's own answer would name its software ("Knot DNS ...")."""
    for _, rtype, _, _, rdata in reply.answers:
        if b"Knot" in rdata or os.uname().nodename.encode() in rdata:
            return f"the upstream's CHAOS answer {rdata!r} came through"
    return None


def notimp_without_query_flags(reply):
    if reply.rcode != 4:
        return f"rcode {reply.rcode} for opcode 15, expected NOTIMP"
    flags = [name for bit, name in ((0x80, "RA"), (0x20, "AD"), (0x10, "CD")) if reply.flags & bit]
    return f"NOTIMP carries QUERY-only flags {flags}" if flags else None


def big_txt_whole(reply):
    count = sum(1 for r in reply.answers if r[1] == 16)
    return None if reply.rcode == 0 and count == 40 else f"{count} of 40 TXT records over TCP"


def main():
    if not CTL:
        sys.exit("HEIMDALLCTL_BIN is not set (meson test sets it)")
    print(f"soak: {SECONDS} s{' (ASan bound)' if ASAN else ''}", flush=True)
    soak = Soak()
    try:
        return soak.run()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        soak.stop.set()
        soak.cleanup()
        return 1


if __name__ == "__main__":
    sys.exit(main())
