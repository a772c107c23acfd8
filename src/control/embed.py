#!/usr/bin/env python3
"""Writes a file's bytes as a C++ raw string literal body, for #include."""
import sys

data = open(sys.argv[1], encoding="utf-8").read()
delimiter = "HEIMDALL_EMBED"
assert f"){delimiter}\"" not in data
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write(f'R"{delimiter}({data}){delimiter}"\n')
