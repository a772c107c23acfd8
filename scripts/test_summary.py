#!/usr/bin/env python3
"""Adds up the results of `meson test` in several build directories and prints
one closing line, "N passed, N failed", that CI reads."""
import json
import pathlib
import sys

passed = failed = skipped = 0
for build_dir in sys.argv[1:]:
    log = pathlib.Path(build_dir) / "meson-logs" / "testlog.json"
    if not log.exists():
        print(f"{build_dir}: no test log (the stage did not run)")
        failed += 1
        continue
    dir_passed = dir_failed = dir_skipped = 0
    for line in log.read_text().splitlines():
        result = json.loads(line)["result"]
        if result in ("OK", "EXPECTEDFAIL"):
            dir_passed += 1
        elif result == "SKIP":
            dir_skipped += 1
        else:
            dir_failed += 1
    print(f"{build_dir}: {dir_passed} passed, {dir_failed} failed, {dir_skipped} skipped")
    passed += dir_passed
    failed += dir_failed
    skipped += dir_skipped
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
