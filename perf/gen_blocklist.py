#!/usr/bin/env python3
"""A synthetic blocklist shaped like real ones, for the filter's scale benchmarks.

Deterministic: the same seed and count always give the same bytes. The shape follows
public ad/tracker lists (hosts files, domain lists, adblock DNS lists):

- names of 2-4 labels mostly (2: 33 %, 3: 40 %, 4: 17 %, 5: 6 %, 6-8: 4 %), counting a
  two-label public suffix such as co.uk as two;
- a TLD mix led by com (about half), then net, org, ru, de, info, io, xyz, top, ... and
  a tail of ccTLDs and new gTLDs;
- the registered label 3-20 characters mostly (median about 9) with a long tail up to
  63; subdomain labels either familiar words (www, ads, track, cdn, metrics, ...),
  short tokens, or long generated tokens (a5f3c0d9e2b17.cloudfront-style, up to 63);
- subdomains cluster: a share of them sit under parents that already carry other
  listed names, the popular ones far more often (a power law), as trackers do;
- every name distinct; names valid hostnames (letters, digits, '-').

Besides the list it can write query files in dnsperf format ("name A" per line):
names on the list (blocked whatever the format's scope), and names that no rule of
the list matches, not even as a subdomain of a listed name (unblocked under every
format). Statistics of the generated names go to stderr.

usage: perf/gen_blocklist.py --count 1000000 --format hosts --output list.txt \
           [--seed 20261125] [--blocked-queries FILE] [--unblocked-queries FILE] \
           [--queries 100000]
"""
import argparse
import bisect
import itertools
import random
import string
import sys

# (suffix, weight): weights are percentages, roughly as in public blocklists.
TLDS = [
    ("com", 49.0), ("net", 8.0), ("org", 3.2), ("ru", 3.0), ("de", 2.0), ("info", 2.0),
    ("io", 1.8), ("xyz", 1.8), ("top", 1.7), ("cn", 1.3), ("online", 1.0), ("site", 1.0),
    ("co.uk", 0.9), ("fr", 0.8), ("jp", 0.7), ("pl", 0.7), ("com.br", 0.7), ("club", 0.7),
    ("icu", 0.7), ("tk", 0.7), ("co", 0.6), ("in", 0.5), ("us", 0.5), ("biz", 0.5),
    ("me", 0.5), ("it", 0.5), ("nl", 0.5), ("vip", 0.5), ("shop", 0.5), ("live", 0.5),
    ("app", 0.4), ("es", 0.4), ("eu", 0.4), ("tv", 0.4), ("cc", 0.4), ("ua", 0.3),
    ("pw", 0.3), ("ml", 0.3), ("ga", 0.3), ("cf", 0.3), ("gq", 0.3), ("com.au", 0.3),
    ("kr", 0.2), ("su", 0.2), ("ws", 0.2), ("ch", 0.2), ("se", 0.2), ("cz", 0.2),
    ("ro", 0.2), ("tr", 0.2), ("com.tr", 0.2), ("co.jp", 0.2), ("co.in", 0.2), ("vn", 0.2),
    ("ir", 0.2), ("gr", 0.2), ("be", 0.2), ("at", 0.2), ("ca", 0.2), ("mx", 0.2),
    ("com.cn", 0.2), ("id", 0.2), ("work", 0.2), ("click", 0.2), ("link", 0.2),
    ("space", 0.2), ("website", 0.2), ("store", 0.2), ("fun", 0.2), ("buzz", 0.2),
    ("ai", 0.1), ("dev", 0.1), ("cloud", 0.1), ("news", 0.1), ("tech", 0.1), ("pro", 0.1),
    ("mobi", 0.1), ("ly", 0.1), ("to", 0.1), ("gg", 0.1), ("hu", 0.1), ("sk", 0.1),
    ("pt", 0.1), ("dk", 0.1), ("no", 0.1), ("fi", 0.1), ("ar", 0.1), ("cl", 0.1),
    ("com.mx", 0.1), ("co.za", 0.1), ("net.cn", 0.1), ("org.uk", 0.1), ("kz", 0.1),
    ("by", 0.1), ("lt", 0.1), ("lv", 0.1), ("ee", 0.1), ("bg", 0.1), ("rs", 0.1),
]

# Subdomain labels seen again and again on ad, tracking and telemetry lists.
WORDS = (
    "www ads ad adserver adservice adsrv banner banners track tracking tracker trk t "
    "metrics metric stats stat analytics analytic log logs logging telemetry pixel px "
    "click clicks cdn cdn1 cdn2 static img images media api api2 events event collect "
    "collector beacon tag tags tm gtm sync match rtb bid bidder prebid delivery serve "
    "srv s s1 s2 m mobile app apps data dc eu us us-east-1 eu-west-1 ap fr de uk "
    "affiliate aff partner partners promo promos offer offers popup pop popunder push "
    "notify notifications sdk config cfg update updates counter count hit hits js css "
    "go link links redirect r rd out mail email news widget widgets video vid player "
    "report reports survey feedback secure ssl login auth id ident cookie cookies "
    "sp sa se ss st as an ab ac mx ns ns1 ns2 smtp imap pop3 ftp vpn dns"
).split()

ALNUM = string.ascii_lowercase + string.digits
LOWER = string.ascii_lowercase
HEX = "0123456789abcdef"
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + list("aeiou")


def weighted(choices):
    """A picker over (value, weight) pairs drawing one uniform number."""
    values = [v for v, _ in choices]
    cumulative = list(itertools.accumulate(w for _, w in choices))
    total = cumulative[-1]

    def pick(rng):
        return values[bisect.bisect_right(cumulative, rng.random() * total)]

    return pick


pick_tld = weighted(TLDS)
# Labels in the whole name.
pick_labels = weighted([(2, 33), (3, 40), (4, 17), (5, 6), (6, 2.5), (7, 1), (8, 0.5)])


def registered_length(rng):
    """Length of the registrable label: lognormal around 9, 3..63."""
    return max(3, min(63, int(rng.lognormvariate(2.2, 0.45) + 0.5)))


def word_like(rng, length):
    """Pronounceable-ish letters, sometimes with digits or a hyphen, like brand names."""
    out = []
    while len(out) < length:
        out.extend(rng.choice(SYLLABLES))
    label = out[:length]
    roll = rng.random()
    if roll < 0.12 and length >= 4:  # brand-2, ad-server, ...
        at = rng.randrange(2, length - 1)
        label[at] = "-"
    elif roll < 0.30:  # trailing digits: site24, promo7
        for i in range(max(1, length - rng.randrange(1, 4)), length):
            label[i] = rng.choice(string.digits)
    return "".join(label)


def random_token(rng, length, alphabet=ALNUM):
    label = [rng.choice(alphabet) for _ in range(length)]
    if label[0] == "-":
        label[0] = "a"
    return "".join(label)


def registered_label(rng):
    length = registered_length(rng)
    if rng.random() < 0.8:
        return word_like(rng, length)
    return random_token(rng, length)  # e.g. generated tracker domains: x7k2p9q.com


def sub_label(rng):
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(WORDS)
    if roll < 0.80:  # short tokens and words: eu3, imgs, a1b2
        return word_like(rng, rng.randint(2, 10))
    if roll < 0.95:  # medium tokens: d3f8a9c2b1
        return random_token(rng, rng.randint(8, 20))
    # Long generated labels (hashes, base32 ids): the tail up to 63.
    return random_token(rng, min(63, int(rng.paretovariate(1.5) * 16)), HEX)


def generate(count, seed):
    """`count` distinct names, and the list of registered parents used."""
    rng = random.Random(seed)
    names = []
    seen = set()
    parents = []  # registered domains that already carry listed names, in order of birth
    while len(names) < count:
        labels = pick_labels(rng)
        tld = pick_tld(rng)
        tld_labels = tld.count(".") + 1
        if labels <= tld_labels:
            labels = tld_labels + 1
        subs = labels - tld_labels - 1
        if subs > 0 and parents and rng.random() < 0.55:
            # Under a parent already listed: a power law favours the oldest (popular) ones.
            parent = parents[int(len(parents) * rng.random() ** 3)]
        else:
            parent = registered_label(rng) + "." + tld
            parents.append(parent)
        name = ".".join([sub_label(rng) for _ in range(subs)] + [parent])
        if len(name) > 253 or name in seen:
            continue
        seen.add(name)
        names.append(name)
    return names, seen, rng


def unblocked(count, blocked, rng):
    """Names no rule matches: neither listed nor below a listed name."""
    out = []
    made = set()
    while len(out) < count:
        labels = pick_labels(rng)
        tld = pick_tld(rng)
        tld_labels = tld.count(".") + 1
        if labels <= tld_labels:
            labels = tld_labels + 1
        parts = [sub_label(rng) for _ in range(labels - tld_labels - 1)]
        name = ".".join(parts + [registered_label(rng), tld])
        if name in made:
            continue
        # Every suffix at a label boundary must be unlisted (adblock rules block subtrees).
        pieces = name.split(".")
        if any(".".join(pieces[i:]) in blocked for i in range(len(pieces))):
            continue
        made.add(name)
        out.append(name)
    return out


def write_list(path, names, fmt, seed):
    header = {
        "hosts": ["# Title: heimdall synthetic blocklist (hosts format)",
                  f"# Entries: {len(names)}, seed {seed}, perf/gen_blocklist.py", "#",
                  "127.0.0.1 localhost", "127.0.0.1 localhost.localdomain",
                  "255.255.255.255 broadcasthost", "::1 localhost", "0.0.0.0 0.0.0.0", ""],
        "domains": ["# Title: heimdall synthetic blocklist (domains)",
                    f"# Entries: {len(names)}, seed {seed}, perf/gen_blocklist.py", ""],
        "adblock": ["[Adblock Plus]", "! Title: heimdall synthetic blocklist (adblock DNS)",
                    f"! Entries: {len(names)}, seed {seed}, perf/gen_blocklist.py", ""],
    }[fmt]
    form = {"hosts": "0.0.0.0 {}\n", "domains": "{}\n", "adblock": "||{}^\n"}[fmt]
    with open(path, "w", encoding="ascii") as out:
        out.write("\n".join(header) + "\n")
        out.writelines(form.format(name) for name in names)


def write_queries(path, names):
    with open(path, "w", encoding="ascii") as out:
        out.writelines(f"{name} A\n" for name in names)


def report(names):
    count = len(names)
    labels = [name.count(".") + 1 for name in names]
    lengths = sorted(len(name) for name in names)
    label_lengths = sorted(len(label) for name in names for label in name.split("."))
    hist = {k: labels.count(k) for k in sorted(set(labels))}

    def pct(sorted_values, p):
        return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]

    print(f"names: {count}; text length mean {sum(lengths) / count:.1f}, median "
          f"{pct(lengths, 0.5)}, p99 {pct(lengths, 0.99)}, max {lengths[-1]} "
          f"(wire form: text + 2 bytes)", file=sys.stderr)
    print("labels per name: " + ", ".join(f"{k}: {100 * v / count:.1f} %" for k, v in hist.items()),
          file=sys.stderr)
    print(f"label length: median {pct(label_lengths, 0.5)}, p90 {pct(label_lengths, 0.9)}, "
          f"p99 {pct(label_lengths, 0.99)}, max {label_lengths[-1]}", file=sys.stderr)
    com = sum(1 for name in names if name.endswith(".com"))
    print(f"names under com: {100 * com / count:.1f} %", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="listed names (default 1M)")
    parser.add_argument("--format", choices=["hosts", "domains", "adblock"], default="hosts")
    parser.add_argument("--output", required=True, help="the list file to write")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--blocked-queries", help="write listed names here, dnsperf format")
    parser.add_argument("--unblocked-queries", help="write unlisted names here, dnsperf format")
    parser.add_argument("--queries", type=int, default=100_000,
                        help="names in each query file (default 100,000)")
    parser.add_argument("--quiet", action="store_true", help="no statistics on stderr")
    args = parser.parse_args()
    if not 1 <= args.count <= 50_000_000 or not 1 <= args.queries <= 10_000_000:
        parser.error("--count must be 1..50,000,000 and --queries 1..10,000,000")

    names, blocked, rng = generate(args.count, args.seed)
    write_list(args.output, names, args.format, args.seed)
    if args.blocked_queries:
        sample = random.Random(args.seed + 1)
        write_queries(args.blocked_queries,
                      [names[sample.randrange(len(names))] for _ in range(args.queries)])
    if args.unblocked_queries:
        write_queries(args.unblocked_queries, unblocked(args.queries, blocked, rng))
    if not args.quiet:
        report(names)


if __name__ == "__main__":
    main()
