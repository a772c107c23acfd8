#!/usr/bin/env python3
"""The filter through the real binary: lists of every format, local records,
client groups and conditional forwarding against a real knotd; reloads under
traffic; lists fetched over http:// from a server the test runs on loopback."""

import http.server
import os
import random
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forwarding_test import (Heimdall, Knot, build_query, dig_answers, free_port,  # noqa: E402
                             rcode_of)

NXDOMAIN, NOERROR, REFUSED = 3, 0, 5


def write(path, text):
    """Replaces the file at once (rename), as list updaters should."""
    temporary = path + ".new"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def answer_address(reply):
    """The IPv4 address of a reply holding one A record and no OPT, else None."""
    if reply is None or len(reply) < 16:
        return None
    ancount = struct.unpack(">H", reply[6:8])[0]
    if ancount != 1:
        return None
    return socket.inet_ntoa(reply[-4:])


def wait_for_log(process, text, count=1, timeout=15):
    deadline = time.time() + timeout
    while process.output().count(text) < count:
        if time.time() > deadline or not process.alive():
            raise AssertionError(f"no {count}x '{text}' in the log:\n{process.output()}")
        time.sleep(0.05)


def filter_section(lists, extra=""):
    entries = "\n".join(f"    - {entry}" for entry in lists)
    return f"""filter:
  response: nxdomain
  ttl: 120
  watch_files: true
  lists:
{entries}
{extra}"""


HOSTS = """\ufeff# a hosts file as lists ship them
127.0.0.1 localhost
0.0.0.0 ads.example.test tracker.example.test   # two names, inline comment
0.0.0.0 UPPER.Example.Test.\r
this line is not a hosts line at all
"""

ADBLOCK = """[Adblock Plus 2.0]
! comment
||adnet.example.test^
@@||good.adnet.example.test^
||opts.example.test^$third-party
/^track[0-9]+\\./
"""

DNSMASQ = """# a dnsmasq blocklist, as oisd and others ship one
address=/dm1.example.test/0.0.0.0
address=/dm2.example.test/dm3.example.test/
server=/dm4.example.test/
server=/corp.example.test/10.0.0.53
"""

RPZ = """$TTL 300
$ORIGIN rpz.local.
@ SOA ns.rpz.local. admin.rpz.local. ( 1 3600 600 86400 60 )
  NS ns.rpz.local.
nx.example.test CNAME .
nodata.example.test CNAME *.
walled.example.test A 192.0.2.99
walled.example.test TXT "blocked by policy"
*.wild.example.test CNAME .
ok.wild.example.test CNAME rpz-passthru.
drop.example.test CNAME rpz-drop.
"""


class FilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="heimdall-filter-")
        cls.knot = Knot(cls.directory)
        os.makedirs(os.path.join(cls.directory, "second"))
        cls.second_knot = Knot(os.path.join(cls.directory, "second"))
        for name, text in (("hosts.txt", HOSTS), ("adblock.txt", ADBLOCK), ("rpz.zone", RPZ),
                           ("null.txt", "nullme.example.test\n"), ("dnsmasq.conf", DNSMASQ),
                           ("misdeclared.txt", "one.example.test\ntwo.example.test\n")):
            write(os.path.join(cls.directory, name), text)
        lists = ["{name: hosts, source: hosts.txt}",
                 "{name: adblock, source: adblock.txt}",
                 "{name: policy, source: rpz.zone, format: rpz}",
                 "{name: nulls, source: null.txt, format: domains, response: null}",
                 "{name: dnsmasq, source: dnsmasq.conf}",
                 "{name: misdeclared, source: misdeclared.txt, format: hosts}"]
        extra = f"""  state_dir: {cls.directory}/state
  groups:
    - {{name: unfiltered, clients: [127.0.0.2/32], lists: []}}
local_records:
  - "router.lan. 300 IN A 192.168.1.1"
  - "router.lan. 300 IN AAAA fd00::1"
  - "alias.lan. 60 CNAME router.lan."
  - "*.bench.lan. 60 IN A 192.0.2.80"
  - "*.bench.lan. 60 IN AAAA 2001:db8::80"
  - "exact.bench.lan. 60 IN A 192.0.2.81"
  - '*.deep.bench.lan. 60 IN TXT "deep"'
"""
        zones = (f"  forward_zones:\n"
                 f"    - {{zone: mail.example.test, servers: [\"127.0.0.1:{cls.second_knot.port}\"]}}")
        try:
            cls.server = Heimdall(cls.directory, "filter", [cls.knot.port],
                                  extra=filter_section(lists, extra), upstreams_extra=zones)
        except Exception:
            cls.knot.process.stop()
            cls.second_knot.process.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        code = cls.server.process.stop()
        cls.knot.process.stop()
        cls.second_knot.process.stop()
        log = cls.server.process.output()
        shutil.rmtree(cls.directory, ignore_errors=True)
        if code != 0:
            raise AssertionError(f"heimdall exited {code} on SIGTERM:\n{log}")

    def status(self, out):
        for line in out.splitlines():
            if "status:" in line:
                return line.split("status:")[1].split(",")[0].strip()
        return None

    def test_hosts_entries_are_blocked_with_a_synthesized_soa(self):
        out = self.server.dig("ads.example.test", "A")
        self.assertEqual(self.status(out), "NXDOMAIN")
        self.assertRegex(out, r"ads\.example\.test\.\s+120\s+IN\s+SOA\s+ns\.heimdall\.invalid\.")
        self.assertEqual(self.status(self.server.dig("TRACKER.example.test")), "NXDOMAIN")
        self.assertEqual(self.status(self.server.dig("upper.example.test")), "NXDOMAIN")
        self.assertNotRegex(self.server.dig("sub.ads.example.test"), r"heimdall\.invalid",
                            "hosts entries are exact: knot answers for sub.ads")
        log = self.server.process.output()
        self.assertRegex(log, r"list 'hosts' \(hosts\): 3 rules, 0 regex rules, 1 lines rejected \(lines 5\)")

    def test_block_answers_say_why_with_an_extended_dns_error(self):
        self.assertIn("; EDE: 15 (Blocked): (hosts)", self.server.dig("ads.example.test"))
        self.assertIn("; EDE: 15 (Blocked): (adblock)", self.server.dig("x.adnet.example.test"))
        self.assertNotIn("EDE", self.server.dig("www.example.test"), "only Heimdall's own answers")
        self.assertNotIn("EDE", self.server.dig("router.lan"), "local data is not a block")
        plain = self.server.dig("+noedns", "ads.example.test")
        self.assertEqual(self.status(plain), "NXDOMAIN")
        self.assertNotIn("EDE", plain, "RFC 8914 needs EDNS")

    def test_names_that_are_not_blocked_reach_the_upstream(self):
        self.assertIn(("www.example.test.", "A", "192.0.2.1"),
                      dig_answers(self.server.dig("www.example.test", "A")))

    def test_adblock_subtree_allow_and_regex(self):
        self.assertEqual(self.status(self.server.dig("adnet.example.test")), "NXDOMAIN")
        self.assertEqual(self.status(self.server.dig("deep.x.adnet.example.test")), "NXDOMAIN")
        out = self.server.dig("good.adnet.example.test")
        self.assertNotIn("heimdall.invalid", out, "the allow rule lets it through to knot")
        self.assertRegex(self.server.dig("track42.example.test"), r"SOA\s+ns\.heimdall\.invalid")
        self.assertNotRegex(self.server.dig("tracking.example.test"), r"heimdall\.invalid")
        self.assertNotRegex(self.server.dig("notadnet.example.test"), r"heimdall\.invalid",
                            "a suffix of a rule is not a subdomain of it")

    def test_rpz_actions(self):
        self.assertEqual(self.status(self.server.dig("nx.example.test")), "NXDOMAIN")
        nodata = self.server.dig("nodata.example.test", "A")
        self.assertEqual(self.status(nodata), "NOERROR")
        self.assertIn("ANSWER: 0", nodata)
        self.assertIn(("walled.example.test.", "A", "192.0.2.99"),
                      dig_answers(self.server.dig("walled.example.test", "A")))
        self.assertIn(("walled.example.test.", "TXT", '"blocked by policy"'),
                      dig_answers(self.server.dig("walled.example.test", "TXT")))
        self.assertEqual(self.status(self.server.dig("x.wild.example.test")), "NXDOMAIN")
        self.assertNotRegex(self.server.dig("ok.wild.example.test"), r"heimdall\.invalid")
        self.assertRegex(self.server.process.output(),
                         r"list 'policy': 1 RPZ records with actions or triggers not supported")

    def test_dnsmasq_files_are_detected_and_block_each_name_and_below(self):
        for name in ("dm1.example.test", "x.dm1.example.test", "dm3.example.test",
                     "a.b.dm4.example.test"):
            self.assertRegex(self.server.dig(name), r"heimdall\.invalid", name)
        log = self.server.process.output()
        self.assertIn("filter: list 'dnsmasq' (dnsmasq): 4 rules, 0 regex rules, 1 lines rejected",
                      log, "server=/name/ADDRESS forwards: rejected, not blocked")

    def test_a_list_wholly_rejected_warns_about_its_format(self):
        self.assertIn("filter: list 'misdeclared': all 2 lines rejected as hosts: is its format "
                      "right?", self.server.process.output())

    def test_null_response_per_list(self):
        self.assertIn(("nullme.example.test.", "A", "0.0.0.0"),
                      dig_answers(self.server.dig("nullme.example.test", "A")))
        self.assertIn(("nullme.example.test.", "AAAA", "::"),
                      dig_answers(self.server.dig("nullme.example.test", "AAAA")))

    def test_local_records(self):
        self.assertIn(("router.lan.", "A", "192.168.1.1"),
                      dig_answers(self.server.dig("router.lan", "A")))
        self.assertIn(("router.lan.", "AAAA", "fd00::1"),
                      dig_answers(self.server.dig("ROUTER.LAN", "AAAA")))
        mx = self.server.dig("router.lan", "MX")
        self.assertEqual(self.status(mx), "NOERROR")
        self.assertIn("ANSWER: 0", mx)
        alias = dig_answers(self.server.dig("alias.lan", "A"))
        self.assertIn(("alias.lan.", "CNAME", "router.lan."), alias)
        self.assertIn(("router.lan.", "A", "192.168.1.1"), alias, "a local target is followed")

    def test_wildcard_local_records_answer_every_name_below_their_owner(self):
        for name in ("any.bench.lan", "A.B.C.Bench.Lan"):
            self.assertEqual(dig_answers(self.server.dig(name, "A")),
                             [(name.lower() + ".", "A", "192.0.2.80")], "the query's own name")
        self.assertIn(("x.bench.lan.", "AAAA", "2001:db8::80"),
                      dig_answers(self.server.dig("x.bench.lan", "AAAA")))
        self.assertEqual(dig_answers(self.server.dig("exact.bench.lan", "A")),
                         [("exact.bench.lan.", "A", "192.0.2.81")], "its own records win")
        self.assertEqual(dig_answers(self.server.dig("x.deep.bench.lan", "TXT")),
                         [("x.deep.bench.lan.", "TXT", '"deep"')], "the deepest wildcard")
        nodata = self.server.dig("x.bench.lan", "MX")
        self.assertEqual(self.status(nodata), "NOERROR")
        self.assertIn("ANSWER: 0", nodata)
        self.assertNotIn("192.0.2.80", self.server.dig("bench.lan", "A"),
                         "*.bench.lan does not answer bench.lan itself")

    def test_a_client_group_without_lists_is_not_filtered(self):
        blocked = self.server.dig("ads.example.test")
        self.assertRegex(blocked, r"heimdall\.invalid")
        unfiltered = run_dig_from("127.0.0.2", self.server.port, "ads.example.test")
        self.assertEqual(self.status(unfiltered), "NXDOMAIN")
        self.assertNotRegex(unfiltered, r"heimdall\.invalid", "knot's own NXDOMAIN")
        self.assertIn(("router.lan.", "A", "192.168.1.1"),
                      dig_answers(run_dig_from("127.0.0.2", self.server.port, "router.lan")),
                      "local records are for everyone")

    def test_conditional_forwarding_goes_to_the_zone_servers_only(self):
        default_before = self.knot.queries()
        zone_before = self.second_knot.queries()
        self.assertIn(("mail.example.test.", "A", "192.0.2.25"),
                      dig_answers(self.server.dig("+norecurse", "mail.example.test", "A")))
        self.assertEqual(self.second_knot.queries(), zone_before + 1)
        self.assertEqual(self.knot.queries(), default_before)
        self.assertIn(("ns1.example.test.", "A", "127.0.0.1"),
                      dig_answers(self.server.dig("+norecurse", "ns1.example.test", "A")))
        self.assertEqual(self.knot.queries(), default_before + 1)


def run_dig_from(source, port, *args):
    import subprocess
    return subprocess.run(["dig", "-b", source, "@127.0.0.1", "-p", str(port), "+time=3",
                           "+tries=1", *args], capture_output=True, text=True, timeout=15).stdout


class ReloadTest(unittest.TestCase):
    """Lists replaced under a stream of queries: every query gets an answer, and
    every answer is that of the old or the new list, never anything else."""

    RELOADS = 20
    FILLER = 50000  # enough rules that a build takes a while

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="heimdall-reload-")
        self.knot = Knot(self.directory)
        self.list_path = os.path.join(self.directory, "list.txt")
        self.filler = "".join(f"filler{i}.block.test\n" for i in range(self.FILLER))
        self.write_version(0)
        self.server = Heimdall(self.directory, "reload", [self.knot.port],
                               extra=filter_section(["{name: toggling, source: list.txt, "
                                                     "format: domains, response: null}"]))
        wait_for_log(self.server.process, "filter: built")

    def tearDown(self):
        code = self.server.process.stop()
        log = self.server.process.output()
        self.knot.process.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.assertEqual(code, 0, f"heimdall exited {code} on SIGTERM:\n{log}")

    def write_version(self, version):
        # Even versions block www, odd ones mail; ads and ns1 never change.
        toggled = "www.example.test" if version % 2 == 0 else "mail.example.test"
        write(self.list_path, f"# version {version}\nads.example.test\n{toggled}\n" + self.filler)

    def test_twenty_reloads_under_traffic(self):
        expected = {  # name: the addresses a correct answer may carry
            "ads.example.test": {"0.0.0.0"},
            "ns1.example.test": {"127.0.0.1"},
            "www.example.test": {"0.0.0.0", "192.0.2.1"},
            "mail.example.test": {"0.0.0.0", "192.0.2.25"},
        }
        results = []
        stop = threading.Event()

        def client():
            names = list(expected)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(2.0)
                qid = 0
                while not stop.is_set() and len(results) < 200000:
                    name = names[qid % len(names)]
                    qid += 1
                    sock.sendto(build_query(name, qid=qid & 0xFFFF), ("127.0.0.1", self.server.port))
                    try:
                        while True:
                            reply = sock.recv(4096)
                            if struct.unpack(">H", reply[:2])[0] == qid & 0xFFFF:
                                break
                    except socket.timeout:
                        reply = None
                    results.append((name, reply))

        thread = threading.Thread(target=client)
        thread.start()
        try:
            for version in range(1, self.RELOADS + 1):
                time.sleep(0.15)
                self.write_version(version)
                self.server.process.proc.send_signal(signal.SIGHUP)
                wait_for_log(self.server.process, "filter: built", count=version + 1)
            time.sleep(0.2)
        finally:
            stop.set()
            thread.join(30)
        self.assertGreater(len(results), 200, "the stream ran through the reloads")
        lost = [name for name, reply in results if reply is None]
        self.assertEqual(lost, [], "every query got an answer")
        wrong = [(name, rcode_of(reply), answer_address(reply)) for name, reply in results
                 if rcode_of(reply) != NOERROR or answer_address(reply) not in expected[name]]
        self.assertEqual(wrong, [], "every answer is the old list's or the new one's")
        # Version 20 is in force: www is blocked, mail passes.
        self.assertIn(("www.example.test.", "A", "0.0.0.0"),
                      dig_answers(self.server.dig("www.example.test")))
        self.assertIn(("mail.example.test.", "A", "192.0.2.25"),
                      dig_answers(self.server.dig("mail.example.test")))
        log = self.server.process.output()
        self.assertEqual(log.count("filter: built (SIGHUP)"), self.RELOADS)

    def test_a_changed_file_is_reloaded_without_a_signal(self):
        self.write_version(1)
        wait_for_log(self.server.process, "filter: built (a list file changed)")
        self.assertIn(("mail.example.test.", "A", "0.0.0.0"),
                      dig_answers(self.server.dig("mail.example.test")))

    def test_an_unreadable_list_keeps_the_previous_filter(self):
        os.unlink(self.list_path)
        self.server.process.proc.send_signal(signal.SIGHUP)
        wait_for_log(self.server.process, "the previous filter stays in force")
        self.assertIn(("www.example.test.", "A", "0.0.0.0"),
                      dig_answers(self.server.dig("www.example.test")), "version 0 still blocks")
        self.write_version(1)
        wait_for_log(self.server.process, "filter: built (a list file changed)")
        self.assertIn(("mail.example.test.", "A", "0.0.0.0"),
                      dig_answers(self.server.dig("mail.example.test")))


class ListServer:
    """An HTTP server on loopback whose answer the test chooses: the list, a 404,
    or silence (a request held until the client gives up, at most 5 s)."""

    def __init__(self, body):
        self.body = body.encode()
        self.mode = "ok"
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if owner.mode == "hang":
                    owner.released.wait(5)
                    return
                if owner.mode == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args):
                pass

        self.released = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class HttpListTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="heimdall-http-")
        self.knot = Knot(self.directory)
        self.http = ListServer("0.0.0.0 ads.example.test\n")
        self.state = os.path.join(self.directory, "state")
        self.servers = []

    def tearDown(self):
        codes = [(server.process.stop(), server.process.output()) for server in self.servers]
        self.http.stop()
        self.knot.process.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        for code, log in codes:
            self.assertEqual(code, 0, f"heimdall exited {code} on SIGTERM:\n{log}")

    def start(self, name):
        url = f"http://127.0.0.1:{self.http.port}/ads.txt"
        server = Heimdall(self.directory, name, [self.knot.port],
                          extra=filter_section([f"{{name: remote, source: \"{url}\"}}"],
                                               f"  state_dir: {self.state}\n"
                                               f"  download_timeout: 1s\n"))
        self.servers.append(server)
        return server

    def blocked(self, server):
        return "heimdall.invalid" in server.dig("ads.example.test")

    def test_a_url_list_loads_and_survives_404_and_timeouts(self):
        server = self.start("first")
        self.assertTrue(self.blocked(server))
        self.assertTrue(os.path.exists(os.path.join(self.state, "remote.list")),
                        "the last good copy is kept")

        self.http.mode = "404"
        server.process.proc.send_signal(signal.SIGHUP)
        wait_for_log(server.process, "HTTP 404; using its last good copy")
        self.assertTrue(self.blocked(server))

        self.http.mode = "hang"
        server.process.proc.send_signal(signal.SIGHUP)
        wait_for_log(server.process, "timed out")
        self.assertTrue(self.blocked(server), "the last good copy again")

    def test_start_up_uses_the_last_good_copy_when_the_url_fails(self):
        self.start("seed").process.stop()
        self.http.mode = "404"
        server = self.start("second")
        self.assertIn("HTTP 404; using its last good copy", server.process.output())
        self.assertTrue(self.blocked(server))

    def test_a_dead_url_does_not_hold_start_up_forever(self):
        self.http.mode = "hang"
        started = time.time()
        server = self.start("dead")  # waits for "ready"
        self.assertLess(time.time() - started, 9, "start-up waited for the 1 s download timeout only")
        self.assertRegex(server.process.output(), r"list 'remote': .*timed out")
        self.assertFalse(self.blocked(server), "no copy: the list is not in force")


if __name__ == "__main__":
    unittest.main(verbosity=2)
