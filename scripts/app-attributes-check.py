#!/usr/bin/env python3
"""Check the App's line counts in a bare mirror against git's, attributes read from the base.

    python3 scripts/app-attributes-check.py [--bin target/release/riskgate] [--commits 60]
        REPO [PATH...]

REPO is cloned bare into a temporary directory, as the App keeps its mirrors. Each commit C
chosen (the latest `--commits` non-merge commits that touch a file whose `diff` attribute is
set, unset or named at HEAD, or the given PATHs, or `.gitattributes` itself) is scored as the
App scores it (`riskgate score --base C^ --head C --attributes base-branch`), and its la and
ld compared with `git --attr-source=C^ diff --numstat C^ C` in the same bare clone: git
reading the attributes committed at the base, as riskgate does. The same la and ld from a
plain `score` (attributes as git reads them in a bare repository: none committed) are shown
for contrast.

Prints one markdown row; each disagreement on stderr; exits 1 if any.
"""

import argparse
import json
import subprocess
import sys
import tempfile


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True, errors="replace").stdout


def numstat(text):
    la = ld = 0
    for line in text.splitlines():
        added, deleted, _ = line.split("\t", 2)
        la += int(added) if added != "-" else 0
        ld += int(deleted) if deleted != "-" else 0
    return la, ld


def score(binary, repo, commit, attributes):
    out = subprocess.run([binary, "score", "--repo", repo, "--base", commit + "^", "--head",
                          commit, "--format", "json", "--attributes", attributes],
                         capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(f"score of {commit} failed: {out.stderr.strip()}")
    features = json.loads(out.stdout)["features"]
    return int(features["la"]), int(features["ld"])


def attributed_paths(repo):
    """Files whose `diff` attribute HEAD's .gitattributes set one way or another."""
    files = git(repo, "ls-tree", "-r", "--name-only", "-z", "HEAD").split("\0")
    files = [f for f in files if f]
    checked = subprocess.run(["git", "-C", repo, "check-attr", "--stdin", "-z", "diff"],
                             input="\0".join(files), capture_output=True, text=True,
                             check=True).stdout.split("\0")
    return [checked[i] for i in range(0, len(checked) - 2, 3)
            if checked[i + 2] != "unspecified"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/riskgate")
    parser.add_argument("--commits", type=int, default=60)
    parser.add_argument("repo")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    paths = args.paths or attributed_paths(args.repo)
    with tempfile.TemporaryDirectory() as tmp:
        bare = f"{tmp}/mirror.git"
        subprocess.run(["git", "clone", "-q", "--bare", args.repo, bare], check=True)
        commits = git(bare, "log", "--no-merges", "--format=%H", "-n", str(args.commits),
                      "--", ".gitattributes", *paths).split()
        commits = [c for c in commits if len(git(bare, "rev-list", "--parents", "-n1", c)
                                             .split()) == 2]
        differ = plain_differ = 0
        for c in commits:
            want = numstat(git(bare, f"--attr-source={c}^", "diff", "--numstat", c + "^", c))
            got = score(args.bin, bare, c, "base-branch")
            plain = score(args.bin, bare, c, "repository")
            if got != want:
                differ += 1
                print(f"{c}: riskgate {got}, git {want}", file=sys.stderr)
            plain_differ += plain != want
    name = args.repo.rstrip("/").rsplit("/", 1)[-1]
    print("| repository | commits | base-branch attributes against git | without them |")
    print("|---|---:|---|---|")
    print(f"| {name} | {len(commits)} | {differ} differ | {plain_differ} differ |")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
