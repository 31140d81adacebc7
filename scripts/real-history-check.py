#!/usr/bin/env python3
"""Check `riskgate mine` and `riskgate score` against git and against each other on real
repositories given by path.

    python3 scripts/real-history-check.py [--bin target/release/riskgate] [--sample 60]
        [--blame N] REPO...

For each repository:
  1. `riskgate mine` writes the dataset (timed);
  2. la, ld and nf of every row are compared with `git log --no-merges -M --numstat`;
  3. a sample of commits is scored one by one (`riskgate score --base C^ --head C`), and every
     signal the score reports is compared with the commit's row: the two must agree. The sample
     takes commits spread over the history, commits whose parent is a merge, and commits that
     touch a file renamed somewhere in the history. Where score ran past its budget for line
     ownership (it warns so), `author_blame_share` covers only some files and is not compared;
     the table counts those commits;
  4. with --blame N, for the first N sampled commits `author_blame_share` is also worked out
     from `git blame --line-porcelain C^` over the touched text files that existed at C^
     (lines whose author e-mail is the commit's, lowercased, over all their lines) and
     compared with the row, authors mapped by the .mailmap committed at HEAD (riskgate reads
     the default branch's, which is HEAD's in a clone). This one is
     reported, not failed on: at a merge git blame follows a file into a parent that has it
     under another name (a subtree merge), which riskgate's history index does not; and git
     blame passes lines through a version with NUL bytes, which riskgate, like git diff, takes
     for binary and keeps no owners of.

Prints a markdown table on stdout and each disagreement on stderr; exits 1 if any.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

PARTIAL_ATTRIBUTION = "line ownership was worked out for"

SIGNALS = [
    "ns", "nd", "nf", "entropy", "la", "ld", "lt", "fix", "ndev", "age", "nuc", "exp", "rexp",
    "sexp", "author_commit_share", "author_blame_share", "files_new_to_author", "sensitive_files",
]


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", repo, *args], check=True, capture_output=True, text=True,
        errors="replace",
    ).stdout


def numstat(repo):
    """commit -> (la, ld, nf) from git log --numstat with rename detection."""
    out = git(repo, "-c", "diff.renames=true", "log", "--no-merges", "-M", "--numstat",
              "--format=@%H", "HEAD")
    stats, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = line[1:]
            stats[current] = [0, 0, 0]
        elif line.strip():
            added, deleted, _ = line.split("\t", 2)
            s = stats[current]
            s[2] += 1
            if added != "-":
                s[0] += int(added)
                s[1] += int(deleted)
    return stats


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


# riskgate maps authors by a committed .mailmap (the default branch's), never the working tree's.
MAILMAP_AT_HEAD = ("-c", "mailmap.blob=HEAD:.mailmap", "-c", "mailmap.file=/dev/null")


def blame_share(repo, sha):
    """author_blame_share by git blame: over the text files C changes that exist at C^."""
    parent = f"{sha}^"
    email = git(repo, *MAILMAP_AT_HEAD, "log", "-1", "--format=%aE", sha).strip().lower()
    binary = set()
    for line in git(repo, "diff", "--numstat", "-z", "--no-renames", parent, sha).split("\0"):
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] == "-":
            binary.add(parts[2])
    fields = git(repo, "diff", "--name-status", "-z", "-M", parent, sha).split("\0")
    paths, i = [], 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        if status[0] in "RC":
            old = fields[i + 1]
            if status[0] == "R":
                paths.append(old)
            i += 3
        else:
            if status[0] in "MDT":
                paths.append(fields[i + 1])
            i += 2
    # Submodules (gitlinks) have no lines to blame, and riskgate blames no symlink, nor a
    # file that the commit turns into one (it counts a file as the kind it becomes).
    def links(rev):
        return {entry.split("\t", 1)[1]
                for entry in git(repo, "ls-tree", "-r", "-z", rev).split("\0")
                if entry.startswith(("160000 ", "120000 "))}
    gitlinks = links(parent) | links(sha)
    total = mine = 0
    for path in paths:
        if path in binary or path in gitlinks:
            continue
        out = git(repo, *MAILMAP_AT_HEAD, "blame", "--line-porcelain", parent, "--", path)
        for line in out.splitlines():
            if line.startswith("author-mail "):
                total += 1
                if line[len("author-mail "):].strip().strip("<>").lower() == email:
                    mine += 1
    return None if total == 0 else mine / total


def cell(v):
    return None if v == "" else float(v)


def sample(repo, rows, n):
    """Up to n commits with a parent: spread evenly, after merges, touching renamed files."""
    order = [r["commit_id"] for r in rows]
    with_parent = set(git(repo, "rev-list", "--no-merges", "--min-parents=1", "HEAD").split())
    merges = set(git(repo, "rev-list", "--merges", "HEAD").split())
    after_merge = [
        line.split()[0]
        for line in git(repo, "rev-list", "--no-merges", "--parents", "HEAD").splitlines()
        if len(line.split()) > 1 and line.split()[1] in merges
    ]
    renamed = set()
    try:
        renames = git(repo, "log", "-M", "--diff-filter=R", "--name-status", "--format=", "HEAD")
    except subprocess.CalledProcessError:
        renames = ""  # a partial clone: git cannot pair renames without the absent blobs
    for line in renames.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            renamed.update(parts[1:])
    touching = []
    if renamed:
        touching = git(repo, "log", "--no-merges", "--format=%H", "HEAD", "--",
                       *sorted(renamed)[:200]).split()
    picked = []
    third = max(1, n // 3)
    for group in (after_merge[:third], touching[:third]):
        picked.extend(c for c in group if c in with_parent)
    eligible = [c for c in order if c in with_parent]
    step = max(1, len(eligible) // max(1, n - len(set(picked))))
    picked.extend(eligible[::step])
    seen, out = set(), []
    for c in picked:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out[:n]


def check(binary, repo, n, blame_n=0):
    # A mirror is kept as <owner+name>/repo: name it by its folder, any other by its own name.
    path = repo.rstrip("/")
    name = os.path.basename(path)
    if name in ("repo", ".git"):
        name = os.path.basename(os.path.dirname(path))
    name = name or repo
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.csv")
        t0 = time.monotonic()
        subprocess.run([binary, "mine", "--repo", repo, "--out", out], check=True,
                       capture_output=True)
        mine_s = time.monotonic() - t0
        # A commit many fixes lead back to lists them all in `label_source`: on vim, one
        # such cell is 134 KB, past the csv module's default limit of 128 KiB.
        csv.field_size_limit(1 << 30)
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
    by_id = {r["commit_id"]: r for r in rows}

    try:
        git_stats = numstat(repo)
    except subprocess.CalledProcessError as e:
        # A partial clone (blobs filtered out by size): git stops at the first absent blob.
        unread = e.stderr.strip().splitlines()[0] if e.stderr.strip() else str(e)
        print(f"{name}: git numstat cannot read the history: {unread}", file=sys.stderr)
        git_stats = None
    numstat_bad = 0
    for sha, (la, ld, nf) in (git_stats or {}).items():
        r = by_id.get(sha)
        if r is None:
            print(f"{name} {sha}: in git log, not mined", file=sys.stderr)
            numstat_bad += 1
            continue
        got = (float(r["la"]), float(r["ld"]), float(r["nf"]))
        if got != (la, ld, nf):
            print(f"{name} {sha}: la/ld/nf {got} but git numstat {(la, ld, nf)}", file=sys.stderr)
            numstat_bad += 1
    if git_stats is not None and len(git_stats) != len(rows):
        print(f"{name}: {len(rows)} rows but {len(git_stats)} commits in git log",
              file=sys.stderr)
        numstat_bad += 1

    picked = sample(repo, rows, n)
    score_bad, compared, budgeted = 0, 0, 0
    for sha in picked:
        res = subprocess.run(
            [binary, "score", "--repo", repo, "--base", f"{sha}^", "--head", sha,
             "--format", "json"], capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{name} {sha}: score failed: {res.stderr.strip()}", file=sys.stderr)
            score_bad += 1
            continue
        report = json.loads(res.stdout)
        features = report["features"]
        # Past its line-diff budget, score works out author_blame_share over some of the
        # touched files and says so; mine has no budget. That signal is not compared then.
        partial = any(w.startswith(PARTIAL_ATTRIBUTION) for w in report.get("warnings", []))
        budgeted += partial
        row = by_id[sha]
        for s in SIGNALS:
            if partial and s == "author_blame_share":
                continue
            compared += 1
            want, got = cell(row[s]), features.get(s)
            if not close(want, got):
                print(f"{name} {sha} {s}: mine {want}, score {got}", file=sys.stderr)
                score_bad += 1
    blamed = []
    for sha in picked[:blame_n]:
        try:
            want = blame_share(repo, sha)
        except subprocess.CalledProcessError:
            print(f"{name} {sha}: git cannot blame it (an absent blob?)", file=sys.stderr)
            continue
        got = cell(by_id[sha]["author_blame_share"])
        blamed.append((sha, want, got))
        if not close(want, got):
            print(f"{name} {sha} author_blame_share: git blame {want}, mine {got}",
                  file=sys.stderr)
    bad = numstat_bad + score_bad
    merges = int(git(repo, "rev-list", "--merges", "--count", "HEAD"))
    print(f"| {name} | {len(rows) + merges:,} | {merges:,} | {mine_s:.1f} s | "
          f"{numstat_cell(git_stats, numstat_bad)} | "
          f"{len(picked)} commits × {len(SIGNALS)} signals, {score_bad} differ"
          f"{f' ({budgeted} past the attribution budget)' if budgeted else ''} |")
    return bad, (name, blamed)


def numstat_cell(git_stats, differ):
    if git_stats is None:
        return "git cannot read it (absent blobs)"
    return f"{len(git_stats):,} commits, {differ} differ"


def blame_table(results):
    print()
    print("| repository | author_blame_share against git blame | differ | largest difference |")
    print("|---|---:|---:|---:|")
    for name, blamed in results:
        differ = [(w, g) for _, w, g in blamed if not close(w, g)]
        largest = max((abs((w or 0) - (g or 0)) for w, g in differ), default=0.0)
        print(f"| {name} | {len(blamed)} commits | {len(differ)} | {largest:.4f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", nargs="+")
    ap.add_argument("--bin", default="target/release/riskgate")
    ap.add_argument("--sample", type=int, default=60)
    ap.add_argument("--blame", type=int, default=0,
                    help="compare author_blame_share with git blame on this many sampled commits")
    args = ap.parse_args()
    print("| repository | commits | merges | mine | la/ld/nf against git numstat "
          "| score against mine |")
    print("|---|---:|---:|---:|---|---|")
    results = [check(os.path.abspath(args.bin), r, args.sample, args.blame) for r in args.repos]
    if args.blame:
        blame_table([blamed for _, blamed in results])
    sys.exit(1 if sum(bad for bad, _ in results) else 0)


if __name__ == "__main__":
    main()
