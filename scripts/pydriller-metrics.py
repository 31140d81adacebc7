#!/usr/bin/env python3
"""Size metrics of every non-merge commit with PyDriller, for comparison with `riskgate mine`.

    python3 scripts/pydriller-metrics.py REPO [--out FILE.csv]

Computes per commit what PyDriller gives without its DMM metrics: lines added (la), lines
deleted (ld), files (nf), subsystems (ns), directories (nd) and the normalised entropy of
modified lines over files, from `Repository(REPO).traverse_commits()` and each commit's
`modified_files`. Prints commits and seconds on stderr. Needs `pip install pydriller`.
"""

import argparse
import csv
import math
import sys
import time

from pydriller import Repository


def entropy(modified):
    total = sum(modified)
    if len(modified) < 2 or total == 0:
        return 0.0
    h = -sum(m / total * math.log2(m / total) for m in modified if m > 0)
    return h / math.log2(len(modified))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("--out", default="/dev/null")
    args = ap.parse_args()
    started = time.monotonic()
    n = 0
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["commit_id", "author_date", "ns", "nd", "nf", "entropy", "la", "ld"])
        for c in Repository(args.repo, only_no_merge=True, order="topo-order").traverse_commits():
            files = c.modified_files
            paths = [m.new_path or m.old_path for m in files]
            subsystems = {p.split("/", 1)[0] if "/" in p else "" for p in paths}
            dirs = {p.rsplit("/", 1)[0] if "/" in p else "" for p in paths}
            la = sum(m.added_lines for m in files)
            ld = sum(m.deleted_lines for m in files)
            mod = [m.added_lines + m.deleted_lines for m in files]
            w.writerow([c.hash, int(c.author_date.timestamp()), len(subsystems), len(dirs),
                        len(files), entropy(mod), la, ld])
            n += 1
    print(f"pydriller: {n} commits in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
