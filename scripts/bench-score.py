#!/usr/bin/env python3
"""Scoring latency on real merged pull requests.

    python3 scripts/bench-score.py [--bin target/release/riskgate] [--prs 50] REPO...

For each repository (a path; bare clones are fine), the newest `--prs` merge commits M with
two parents are taken as merged pull requests: base M^1, head M^2, as GitHub scores them.
The history index is warmed by one score first. Then each pull request is scored once
(`riskgate score --format json`) and its wall time recorded, three times over:

  cold   the stored line owners (<git-dir>/riskgate/owners-v<N>) removed before each score:
         every touched file's history is replayed in full;
  warm   the pull requests in the order they were merged, the store kept from one to the
         next, as a server scoring each pull request as it comes keeps it;
  again  the same order once more, on the store the warm pass left: each pull request
         scored a second time, as the App rescores one on a review or a rerun.

Prints a markdown table of p50, p90 and max per repository and pass, and the slowest pull
request with its size.
"""

import argparse
import glob
import json
import shutil
import os
import subprocess
import sys
import time


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout


def percentile(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


def bench(binary, repo, prs):
    # A mirror is kept as `<owner+name>/repo`; a clone is named by its own folder.
    path = repo.rstrip("/")
    name = os.path.basename(path)
    if name in ("repo", ".git"):
        name = os.path.basename(os.path.dirname(path))
    name = name or repo
    merges = [line.split() for line in
              git(repo, "rev-list", "--merges", "--parents", "-n", str(prs * 2), "HEAD")
              .splitlines()]
    merges = [m for m in merges if len(m) == 3][:prs]
    if not merges:
        print(f"{name}: no merge commits", file=sys.stderr)
        return None

    def score(base, head):
        t0 = time.monotonic()
        res = subprocess.run([binary, "score", "--repo", repo, "--base", base, "--head", head,
                              "--format", "json"], capture_output=True, text=True)
        took = time.monotonic() - t0
        if res.returncode != 0:
            raise SystemExit(f"{name} {base}..{head}: score failed: {res.stderr.strip()}")
        return took, json.loads(res.stdout)

    stored = os.path.join(git(repo, "rev-parse", "--absolute-git-dir").strip(), "riskgate")

    def forget_owners():
        # Whatever the store's version (`owners-v<N>`), so that "cold" is cold for any build.
        for folder in glob.glob(os.path.join(stored, "owners-v*")):
            shutil.rmtree(folder, ignore_errors=True)

    score(merges[0][1], merges[0][2])  # the history index, built or extended once
    for label in ("cold", "warm", "again"):
        if label != "again":
            forget_owners()
        order = merges if label == "cold" else list(reversed(merges))
        times = []
        for _, base, head in order:
            if label == "cold":
                forget_owners()
            took, report = score(base, head)
            f = report["features"]
            times.append((took, head, int(f.get("nf") or 0), int(f.get("la") or 0),
                          int(f.get("ld") or 0)))
        secs = [t[0] for t in times]
        slow = max(times)
        print(f"| {name} | {label} | {len(times)} | {ms(percentile(secs, 50))} | "
              f"{ms(percentile(secs, 90))} | {ms(max(secs))} | {slow[1][:10]}: {slow[2]} "
              f"files, +{slow[3]} −{slow[4]} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", nargs="+")
    ap.add_argument("--bin", default="target/release/riskgate")
    ap.add_argument("--prs", type=int, default=50)
    args = ap.parse_args()
    print("| repository | line owners stored | merged PRs | p50 | p90 | max | slowest |")
    print("|---|---|---:|---:|---:|---:|---|")
    for repo in args.repos:
        bench(os.path.abspath(args.bin), os.path.abspath(repo), args.prs)


if __name__ == "__main__":
    main()
