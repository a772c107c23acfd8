#!/usr/bin/env python3
"""Estimates the bits an off-path forger must guess per upstream query (RFC 5452)
from what a recording upstream saw: one line per UDP query, 'source-port id name'
(tests/tools/hostile_upstream.py --record). The client asked every name in lower
case, so an upper-case letter at the upstream is the resolver's 0x20.

Per field (source port, ID):
  range    log2(max - min + 1) of the values seen: what the resolver draws from,
           if it draws uniformly
  H2       collision entropy from the birthday count: -log2(colliding pairs /
           all pairs). Unlike counting distinct values it is not capped at
           log2(N): with N = 2000 it resolves up to ~21 bits; no collision at all
           prints '>' that bound.
  bits     min(range, H2) (the range when nothing collided), or 0 when the values
           are predictable: a fixed value, or one step repeated between consecutive
           queries (a counter)
Case: letters per name x the binary entropy of the share of letters sent upper case.

A resolver that sends several queries from one socket (heimdall's
attempts_per_udp_socket, dnsdist's fixed sockets) draws a port per socket, not per
query: with LABEL=RECORD_FILE=sockets the port is judged over the distinct ports
in the order first seen (each a draw), and its H2 is then only a lower bound check.

usage: rfc5452_bits.py LABEL=RECORD_FILE[=sockets] ...
Prints a markdown table."""
import math
import sys
from collections import Counter


def field_bits(values):
    n = len(values)
    low, high = min(values), max(values)
    range_bits = math.log2(high - low + 1)
    counts = Counter(values)
    pairs = sum(c * (c - 1) // 2 for c in counts.values())
    all_pairs = n * (n - 1) // 2
    if pairs == 0:
        h2, h2_text = math.log2(all_pairs), f"> {math.log2(all_pairs):.1f}"
    else:
        h2 = -math.log2(pairs / all_pairs)
        h2_text = f"{h2:.2f}"
    steps = Counter((b - a) % 65536 for a, b in zip(values, values[1:]))
    step, repeats = steps.most_common(1)[0]
    predictable = len(counts) == 1 or repeats > 0.5 * (n - 1)
    # No collision at all: H2 is only a lower bound, and the range is the estimate.
    bits = 0.0 if predictable else (range_bits if pairs == 0 else min(range_bits, h2))
    note = ("fixed" if len(counts) == 1 else
            "mostly one value" if predictable and step == 0 else
            f"counter (+{step})" if predictable else "")
    return {"low": low, "high": high, "distinct": len(counts), "range": range_bits,
            "h2": h2_text, "bits": bits, "note": note}


def binary_entropy(p):
    if p <= 0 or p >= 1:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def case_bits(names):
    letters = upper = 0
    for name in names:
        for ch in name:
            if ch.isalpha():
                letters += 1
                upper += ch.isupper()
    if letters == 0:
        return 0.0, 0.0, 0.0
    share = upper / letters
    per_name = letters / len(names)
    return per_name * binary_entropy(share), per_name, share


def main():
    rows = []
    for argument in sys.argv[1:]:
        label, path, *mode = argument.split("=")
        ports, ids, names = [], [], []
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) != 3:
                    continue
                ports.append(int(fields[0]))
                ids.append(int(fields[1]))
                names.append(fields[2])
        if len(ports) < 2:
            rows.append(f"| {label} | {len(ports)} | no queries recorded | | | | |")
            continue
        drawn_ports = ports
        if mode == ["sockets"]:
            drawn_ports = list(dict.fromkeys(ports))  # one draw per socket opened
        port, qid = field_bits(drawn_ports), field_bits(ids)
        case, letters, share = case_bits(names)
        total = port["bits"] + qid["bits"] + case
        rows.append(
            f"| {label} | {len(ports)} "
            f"| {qid['distinct']} of {qid['low']}-{qid['high']}: range {qid['range']:.2f}, "
            f"H2 {qid['h2']} {qid['note']} → **{qid['bits']:.1f}** "
            f"| {port['distinct']} of {port['low']}-{port['high']}"
            f"{' (' + str(len(drawn_ports)) + ' sockets)' if mode else ''}: range {port['range']:.2f}, "
            f"H2 {port['h2']} {port['note']} → **{port['bits']:.1f}** "
            f"| {letters:.1f} letters, {share:.0%} upper → **{case:.1f}** "
            f"| **{total:.1f}** |")
    print("| resolver | upstream queries | ID (bits) | source port (bits) | 0x20 case (bits) "
          "| total bits |")
    print("| --- | ---: | --- | --- | --- | ---: |")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
