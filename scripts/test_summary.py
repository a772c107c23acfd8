#!/usr/bin/env python3
"""Adds up the results of `meson test` in several build directories and prints
one closing line, "N passed, N failed, N skipped", that CI reads.

Counts test cases, not executables: GoogleTest's and unittest's own summaries are
read from each test's output; a test program without either counts as one case.
A program that failed without saying which case (a crash) counts one failure."""
import json
import pathlib
import re
import sys


def cases(entry):
    """(passed, failed, skipped) for one meson test entry."""
    output = (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")
    ok = entry["result"] in ("OK", "EXPECTEDFAIL")
    if entry["result"] == "SKIP":
        return 0, 0, 1
    gtest_passed = re.search(r"\[  PASSED  \] (\d+) test", output)
    gtest_failed = re.search(r"(\d+) FAILED TESTS?", output)
    gtest_skipped = re.search(r"\[  SKIPPED \] (\d+) test", output)
    if gtest_passed or gtest_failed:
        passed = int(gtest_passed.group(1)) if gtest_passed else 0
        failed = int(gtest_failed.group(1)) if gtest_failed else 0
        skipped = int(gtest_skipped.group(1)) if gtest_skipped else 0
        return passed, max(failed, 0 if ok else 1), skipped
    ran = re.search(r"^Ran (\d+) tests? in", output, re.M)
    if ran:
        total = int(ran.group(1))
        failures = sum(int(n) for n in re.findall(r"(?:failures|errors)=(\d+)", output))
        skipped = sum(int(n) for n in re.findall(r"skipped=(\d+)", output))
        failed = max(failures, 0 if ok else 1)
        return total - failed - skipped, failed, skipped
    return (1, 0, 0) if ok else (0, 1, 0)


totals = [0, 0, 0]
for build_dir in sys.argv[1:]:
    log = pathlib.Path(build_dir) / "meson-logs" / "testlog.json"
    if not log.exists():
        print(f"{build_dir}: no test log (the stage did not run)")
        totals[1] += 1
        continue
    counts = [0, 0, 0]
    for line in log.read_text().splitlines():
        for i, n in enumerate(cases(json.loads(line))):
            counts[i] += n
    print(f"{build_dir}: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped")
    totals = [a + b for a, b in zip(totals, counts)]
print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
sys.exit(1 if totals[1] else 0)
