#!/usr/bin/env python3
"""RSS of the server around `heimdallctl cache dump N` (issue 12, defect 2).

Starts knotd and heimdall (socket backend, 2 workers) on loopback with the
integration tests' helpers, fills the cache with NAMES wildcard names, then for
each N prints VmRSS before and after the dump, the VmHWM (peak) growth, the
dump's duration and the lines it printed.

  HEIMDALL_BIN=build/src/app/heimdall HEIMDALLCTL_BIN=build/src/app/heimdallctl \\
    python3 perf/cache_dump_rss.py [N ...]      (default N: 10000 1000000 10000000)
Environment: NAMES (default 20000)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import forwarding_test  # noqa: E402
from cache_dump_test import fill_cache, proc_status, with_wildcard  # noqa: E402
from forwarding_test import Heimdall, Knot  # noqa: E402

CTL = os.environ["HEIMDALLCTL_BIN"]


def main():
    counts = [int(n) for n in sys.argv[1:]] or [10_000, 1_000_000, 10_000_000]
    names = [f"n{i}.fill.example.test" for i in range(int(os.environ.get("NAMES", "20000")))]
    directory = tempfile.mkdtemp(prefix="heimdall-dump-rss-")
    original = forwarding_test.write_zone
    forwarding_test.write_zone = with_wildcard(original)
    knot = Knot(directory)
    forwarding_test.write_zone = original
    sock = os.path.join(directory, "control.sock")
    heimdall = Heimdall(directory, "rss", [knot.port],
                        extra=f"management:\n  control_socket: {sock}\n")
    pid = heimdall.process.proc.pid
    try:
        for _ in range(10):
            fill_cache(heimdall.port, names)
            time.sleep(0.2)
        stats = subprocess.run([CTL, "--socket", sock, "stats"], capture_output=True,
                               text=True).stdout
        entries = [line for line in stats.splitlines() if line.startswith("cache_entries")]
        print(f"{entries[0] if entries else 'cache_entries ?'}; binary {os.environ['HEIMDALL_BIN']}")
        print("N | VmRSS before MB | VmRSS after MB | VmHWM growth MB | seconds | lines | exit")
        for n in counts:
            rss0, hwm0 = proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM")
            start = time.time()
            out = subprocess.run([CTL, "--socket", sock, "cache", "dump", str(n)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
            took = time.time() - start
            rss1, hwm1 = proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM")
            lines = out.stdout.count(b"\n")
            print(f"{n} | {rss0 / 1024:.1f} | {rss1 / 1024:.1f} | {(hwm1 - hwm0) / 1024:.1f} | "
                  f"{took:.2f} | {lines} | {out.returncode}"
                  + (f" ({out.stderr.decode().strip()})" if out.returncode else ""))
    finally:
        heimdall.process.stop()
        knot.process.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
