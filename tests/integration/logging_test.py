#!/usr/bin/env python3
"""The process log as operators read it, from the real binary: logging.format json
gives one JSON object per line (time, level, message) whatever the message holds
(quotes, backslashes), and in both formats the levels are named as logging.level
names them ("warn", not "warning")."""

import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forwarding_test import HEIMDALL, Knot, Process, free_port, run  # noqa: E402

LEVELS = {"trace", "debug", "info", "warn", "error", "critical"}


class LoggingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="heimdall-logging-")
        cls.knot = Knot(cls.dir)
        with open(os.path.join(cls.dir, "domains.txt"), "w") as f:
            f.write("one.example.test\ntwo.example.test\n")

    @classmethod
    def tearDownClass(cls):
        cls.knot.process.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_server(self, log_format):
        """Starts heimdall, asks one name, stops it; its whole log."""
        port = free_port()
        config = os.path.join(self.dir, f"{log_format}.yaml")
        with open(config, "w") as f:
            f.write(f"""dataplane: {{backend: socket, workers: 1}}
listen: {{udp: ["127.0.0.1:{port}"]}}
upstreams: {{servers: ["127.0.0.1:{self.knot.port}"]}}
filter:
  lists:
    - {{name: misdeclared, source: domains.txt, format: hosts}}
    - {{name: missing, source: 'no"such\\list.txt'}}
logging: {{level: debug, format: {log_format}}}
""")
        server = Process([HEIMDALL, "--config", config], os.path.join(self.dir, f"{log_format}.log"))
        deadline = time.time() + 10
        while "ready" not in server.output():
            self.assertTrue(server.alive() and time.time() < deadline, server.output())
            time.sleep(0.05)
        run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1", "www.example.test"])
        self.assertEqual(server.stop(), 0)
        return server.output()

    def test_json_lines_parse_whatever_the_message_holds(self):
        lines = [line for line in self.run_server("json").splitlines() if line.strip()]
        self.assertGreater(len(lines), 5)
        entries = [json.loads(line) for line in lines]  # raises on any line that is not JSON
        for entry in entries:
            self.assertEqual(set(entry), {"time", "level", "message"})
            self.assertIn(entry["level"], LEVELS)
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
        by_level = {(entry["level"], entry["message"]) for entry in entries}
        self.assertTrue(any(level == "warn" and "all 2 lines rejected as hosts" in message
                            for level, message in by_level), by_level)
        self.assertTrue(any(level == "error" and 'no"such\\list.txt' in message
                            for level, message in by_level),
                        "quotes and backslashes come back as they were")
        self.assertTrue(any(level == "info" and "ready" in message for level, message in by_level))

    def test_text_lines_name_levels_as_the_configuration_does(self):
        log = self.run_server("text")
        self.assertRegex(log, r"(?m)^\S+ warn filter: list 'misdeclared': all 2 lines rejected")
        self.assertNotIn(" warning ", log)
        for line in log.splitlines():
            if line.strip():
                self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\S+ (" + "|".join(LEVELS) + r") ")


if __name__ == "__main__":
    unittest.main(verbosity=2)
