#!/usr/bin/env python3
"""Check `riskgate mine` and `riskgate score` against git and against each other on real
repositories given by path.

    python3 scripts/real-history-check.py [--bin target/release/riskgate] [--sample 60]
        [--history N] [--pulls N] [--blame N] REPO...

For each repository:
  1. `riskgate mine` writes the dataset (timed);
  2. la, ld and nf of every row are compared with `git log --no-merges -M -l7000 --numstat`
     (the limit on files compared for renames that riskgate gives git);
  3. a sample of commits is scored one by one (`riskgate score --base C^ --head C`), and every
     signal the score reports is compared with the commit's row: the two must agree. The sample
     takes commits spread over the history, commits whose parent is a merge, and commits that
     touch a file renamed somewhere in the history. Where score ran past its budget for line
     ownership (it warns so), `author_blame_share` covers only some files and is not compared;
     nor where C^'s .git-blame-ignore-revs lists other reformats than HEAD's (mine looks past
     HEAD's, score past those of its base); the table counts those commits;
  4. with --history N, the history signals of N rows spread over the history (every row when
     N is at least their number) are worked out again from `git log` and compared with the
     rows: ns, nd, entropy and lt from `git diff --numstat` and the blobs of the parent; ndev,
     nuc, age, author_commit_share and files_new_to_author from the earlier commits that touched
     each file, renames followed back (git's renames in commits, and at a merge the renames
     git finds from a parent into a file whose version no parent has); exp, rexp and sexp from
     the author's earlier commits, authors mapped by the .mailmap committed at HEAD. The
     ancestors of every commit are kept as bit sets, and every commit's files in memory:
     191 MB for vim's 24,000 commits, 1.1 GB for git.git's 82,000;
  5. with --pulls N, the N latest merges on HEAD's first-parent line are scored as the pull
     requests they merged (`riskgate score --base M^1 --head M^2`), as the App scores them,
     and la, ld, nf and the history signals are compared with git's for the change from
     the merge-base to M^2, seen from the merge-base, its author whoever made most of its
     commits (ties to M^2's author, then to whoever committed nearest it); with --blame,
     author_blame_share too, by git blame at the merge-base, looking past the reformats M^1's
     .git-blame-ignore-revs lists;
  6. with --blame N, for the first N sampled commits `author_blame_share` is also worked out
     from `git blame --line-porcelain C^` over the touched text files that existed at C^,
     looking past the reformats HEAD's .git-blame-ignore-revs lists (`--ignore-revs-file`)
     (lines whose author e-mail is the commit's, lowercased, over all their lines) and
     compared with the row, authors mapped by the .mailmap committed at HEAD (riskgate reads
     the default branch's, which is HEAD's in a clone). This one is reported, not failed on:
     git blame passes lines through a version with NUL bytes, which riskgate, like git diff,
     takes for binary and keeps no owners of; and git blame follows a file a commit adds into
     a file the commit deletes even when the commit's own renames pair that one with another
     file (git's follow mode), where riskgate keeps to the commit's renames.

Prints a markdown table on stdout and each disagreement on stderr; exits 1 if any.
"""

import argparse
import collections
import csv
import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import time

PARTIAL_ATTRIBUTION = "line ownership was worked out for"

# Rename detection as riskgate asks git for a commit's or a pull request's renames: up to
# 7,000 files compared for similarity, where `git diff` stops at 1,000 by default. A merge's
# renames against its parents are asked with git's default, as `git blame` finds them.
RENAMES = ("-M", "-l7000")

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
    """commit -> (la, ld, nf) from git log --numstat with rename detection, and the commits
    left out because their changes name a blob the clone lacks (git cannot count its lines)."""
    out, unread = log_past_absent_blobs(repo, ("-c", "diff.renames=true"), "--no-merges",
                                        (*RENAMES, "--numstat", "--format=@%H"))
    stats, current = {}, None
    for line in out.decode("utf-8", "replace").splitlines():
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
    return stats, unread


@functools.lru_cache(maxsize=None)
def absent_blobs(repo):
    """The blobs HEAD's history names that the clone lacks (a snapshot may leave out its
    largest files)."""
    return {line[1:] for line in git(repo, "rev-list", "--objects", "--missing=print",
                                     "HEAD").splitlines() if line.startswith("?")}


@functools.lru_cache(maxsize=None)
def absent_blob_commits(repo):
    """The commits of HEAD whose changes (a merge's against each parent) name a blob the
    clone lacks: git stops at them whenever it needs the blob's content."""
    absent = absent_blobs(repo)
    if not absent:
        return set()
    commits, current = set(), None
    with subprocess.Popen(["git", "-C", repo, "log", "-m", "--raw", "--no-renames",
                           "--no-abbrev", "--format=@%H", "HEAD"],
                          stdout=subprocess.PIPE) as log:
        for line in log.stdout:
            if line.startswith(b"@"):
                current = line[1:].strip().decode()
            elif line.startswith(b":") and current not in commits:
                blobs = line.split(b"\t", 1)[0].split()[2:4]
                if any(b.decode() in absent for b in blobs):
                    commits.add(current)
    return commits


def log_past_absent_blobs(repo, config, which, args, unread_args=None):
    """`git log <args> HEAD` over the commits `which` selects (`--merges`, `--no-merges`).
    Where the clone lacks a blob git needs, the commits whose changes name one are listed
    apart with `unread_args` added (left out when None), the others one by one as usual.
    Returns the output and the set of those commits."""
    try:
        return git_bytes(repo, *config, "log", which, *args, "HEAD"), set()
    except subprocess.CalledProcessError as e:
        if b"unable to read" not in e.stderr:
            raise
    commits = git(repo, "rev-list", which, "HEAD").split()
    unread = absent_blob_commits(repo) & set(commits)
    out = b""
    for listed, extra in (([c for c in commits if c not in unread], ()),
                          ([c for c in commits if c in unread], unread_args)):
        if listed and extra is not None:
            out += git_bytes(repo, *config, "log", "--stdin", "--no-walk=unsorted",
                             *args, *extra, stdin="".join(c + "\n" for c in listed).encode())
    return out, unread


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


# riskgate maps authors by a committed .mailmap (the default branch's), never the working tree's.
MAILMAP_AT_HEAD = ("-c", "mailmap.blob=HEAD:.mailmap", "-c", "mailmap.file=/dev/null")
# An author as git prints it with this format: "e-mail<US>name".
AUTHOR_FORMAT = "%aE%x1f%aN"


def author_key(email, name=""):
    """Who a commit's author is, as riskgate tells authors apart: the e-mail, lower-cased, or
    the name where the e-mail is empty (two authors without one are not the same person)."""
    email = email.strip().lower()
    return email if email else name.strip()


def author_of(printed):
    """author_key of an author printed with AUTHOR_FORMAT."""
    return author_key(*printed.split("\x1f", 1))


IGNORE_REVS = ".git-blame-ignore-revs"


@functools.lru_cache(maxsize=None)
def ignore_revs_at(repo, rev):
    """The full commit ids the .git-blame-ignore-revs committed at `rev` lists, as riskgate
    reads it (a `#` starts a comment; other lines are skipped), as a sorted tuple."""
    try:
        text = git(repo, "show", f"{rev}:{IGNORE_REVS}")
    except subprocess.CalledProcessError:
        return ()
    ids = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if len(line) == 40 and all(c in "0123456789abcdefABCDEF" for c in line):
            ids.add(line.lower())
    return tuple(sorted(ids))


def blame_share(repo, sha, parent=None, author=None, ignore_revs=()):
    """author_blame_share by git blame: over the text files C changes that exist at C^ (or
    at `parent`), the lines of the commit's author (or of `author`, an author_key), looking
    past the commits `ignore_revs` (git blame --ignore-revs-file)."""
    parent = parent or f"{sha}^"
    ignoring = []
    if ignore_revs:
        listed = tempfile.NamedTemporaryFile("w", suffix=".revs", delete=False)
        listed.write("".join(f"{c}\n" for c in ignore_revs))
        listed.close()
        ignoring = ["--ignore-revs-file", listed.name]
    if author is None:
        author = author_of(git(repo, *MAILMAP_AT_HEAD, "log", "-1", f"--format={AUTHOR_FORMAT}",
                              sha).strip("\n"))
    binary = set()
    for line in git(repo, "diff", "--numstat", "-z", "--no-renames", parent, sha).split("\0"):
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] == "-":
            binary.add(parts[2])
    # The touched files that existed in the parent, under their names there.
    entries, _ = raw_entries(git_bytes(repo, "diff", "--raw", "-z", *RENAMES, "--no-abbrev",
                                       parent, sha).split(b"\0"), 0)
    paths = [e.old for e in entries if e.status in "RMDT"]
    # What is a submodule (gitlink) or a symlink in the parent has no lines to blame; a text
    # file the commit turns into one had its lines there.
    gitlinks = {entry.split("\t", 1)[1]
                for entry in git(repo, "ls-tree", "-r", "-z", parent).split("\0")
                if entry.startswith(("160000 ", "120000 "))}
    total = mine = 0
    for path in paths:
        if path in binary or path in gitlinks:
            continue
        out = git(repo, *MAILMAP_AT_HEAD, "blame", "--line-porcelain", *ignoring, parent, "--",
                  path)
        name = ""
        for line in out.splitlines():
            if line.startswith("author "):
                name = line[len("author "):]
            elif line.startswith("author-mail "):
                total += 1
                if author_key(line[len("author-mail "):].strip().strip("<>"), name) == author:
                    mine += 1
    if ignoring:
        os.unlink(ignoring[1])
    return None if total == 0 else mine / total


YEAR_SECONDS = 365.25 * 86400
REGULAR = ("100644", "100755", "100664")
HISTORY_SIGNALS = [
    "ns", "nd", "entropy", "lt", "ndev", "age", "nuc", "exp", "rexp", "sexp",
    "author_commit_share", "files_new_to_author",
]


def git_bytes(repo, *args, stdin=None):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          input=stdin).stdout


def path_of(raw):
    return raw.decode("utf-8", "surrogateescape")


RawEntry = collections.namedtuple(
    "RawEntry", "status old new old_blob new_blob new_mode old_mode")


def raw_entries(tokens, i):
    """The `--raw -z` entries from tokens[i] until the next commit header, as RawEntry (a
    file neither renamed nor copied has old == new), and where they end."""
    entries = []
    while i < len(tokens):
        t = tokens[i].lstrip(b"\n")
        if not t:
            i += 1
            continue
        if not t.startswith(b":"):
            break
        old_mode, new_mode, old_blob, new_blob, status = t.decode()[1:].split()
        if status[0] in "RC":
            old, new = path_of(tokens[i + 1]), path_of(tokens[i + 2])
            i += 3
        else:
            old = new = path_of(tokens[i + 1])
            i += 2
        entries.append(RawEntry(status[0], old, new, old_blob, new_blob, new_mode, old_mode))
    return entries, i


class History:
    """Every commit of HEAD as git sees it, for working the history signals out again."""

    def __init__(self, repo):
        self.repo = repo
        self.order, self.parents = [], {}
        for line in git(repo, "rev-list", "--topo-order", "--reverse", "--parents",
                        "HEAD").splitlines():
            ids = line.split()
            self.parents[ids[0]] = ids[1:]
            self.order.append(ids[0])
        self.pos = {c: i for i, c in enumerate(self.order)}
        # Ancestors of each commit, itself included, as a bit set by position.
        self.ancestors = []
        for c in self.order:
            bits = 1 << self.pos[c]
            for p in self.parents[c]:
                bits |= self.ancestors[self.pos[p]]
            self.ancestors.append(bits)
        self.commits = {}
        self.touches = {}        # path -> bit set of the commits that touched it
        self.renamed_into = {}   # path -> [(commit position, old path)]
        self.by_author = {}      # author -> bit set of their commits
        # A commit whose blob the clone lacks is listed without renames: riskgate pairs its
        # files by libgit2's measure then, and the rows that depend on it are not compared.
        out, self.unread = log_past_absent_blobs(
            repo, MAILMAP_AT_HEAD + ("-c", "diff.renames=true"), "--no-merges",
            ("--use-mailmap", *RENAMES, "--raw", "-z", "--no-abbrev", f"--format=@%H %at {AUTHOR_FORMAT}"),
            unread_args=("--no-renames",))
        out = out.split(b"\0")
        i = 0
        while i < len(out):
            header = out[i].lstrip(b"\n")
            i += 1
            if not header.startswith(b"@"):
                continue
            sha, at, printed = path_of(header[1:]).split(" ", 2)
            files, i = raw_entries(out, i)
            author = author_of(printed)
            self.commits[sha] = (int(at), author, files)
            at_bit = 1 << self.pos[sha]
            self.by_author[author] = self.by_author.get(author, 0) | at_bit
            for f in files:
                self.touches[f.new] = self.touches.get(f.new, 0) | at_bit
                if f.status == "R":
                    self.renamed_into.setdefault(f.new, []).append((self.pos[sha], f.old))
        self._merge_renames()
        self.unread_bits = 0
        for c in self.unread:
            self.unread_bits |= 1 << self.pos[c]

    def _merge_renames(self):
        """At a merge, the renames from a parent that lacks a resolved file (one whose
        version no parent has at its path) into it, as git finds them.

        Only the (merge, parent) pairs that can have such a rename are diffed: git's combined
        listing, a tree diff that reads no blob, names the resolved files and the parents that
        lack each. Diffing every merge against every parent with rename detection instead
        takes hours where release lines are merged upward (spring-boot: 20,659 merges, each
        differing from its second parent by thousands of files)."""
        lacking = {}  # (merge, parent) -> the resolved paths that parent lacks
        out = git_bytes(self.repo, "log", "--merges", "-c", "--raw", "-z", "--no-renames",
                        "--no-abbrev", "--format=@%H", "HEAD").split(b"\0")
        merge = None
        for i, token in enumerate(out):
            token = token.lstrip(b"\n")
            if token.startswith(b"@"):
                merge = token[1:].decode()
            elif token.startswith(b"::") and i + 1 < len(out):
                # ::<mode per parent> <mode> <blob per parent> <blob> <status per parent>
                fields = token.decode().split()
                n = len(fields) // 2 - 1
                new_mode, new_blob, statuses = fields[n], fields[-2], fields[-1]
                path = path_of(out[i + 1])
                # Listed also when only its mode changed: a version some parent has is not
                # resolved.
                if (new_mode not in REGULAR + ("120000",) or "\n" in path
                        or new_blob in fields[n + 1:-2]):
                    continue
                for parent, status in zip(self.parents[merge], statuses):
                    if status == "A":
                        lacking.setdefault((merge, parent), set()).add(path)
        # A merge git cannot diff (a blob the clone lacks) gives no renames, so a file it
        # brings in from a parent under another name may have history git cannot follow: the
        # paths it adds to its first parent's are listed (a tree diff reads no blob).
        # Such a merge is every one whose changes name an absent blob, whether or not git
        # would need the blob's content to find its renames: rows through it are left out.
        self.added_by_unread_merge = {}  # path -> bit set of such merges
        unread = {m for m in absent_blob_commits(self.repo) if len(self.parents.get(m, ())) > 1}
        for (merge, parent), paths in sorted(lacking.items()):
            if merge in unread:
                continue
            diff = git_bytes(self.repo, "-c", "diff.renames=true", "diff-tree", "-r", "-M",
                             "--diff-filter=R", "--raw", "-z", "--no-abbrev", parent, merge)
            entries, _ = raw_entries(diff.split(b"\0"), 0)
            for e in entries:
                if e.new in paths:
                    self.renamed_into.setdefault(e.new, []).append((self.pos[merge], e.old))
        for merge in unread:
            added = git_bytes(self.repo, "diff-tree", "-r", "-z", "--no-renames", "--name-only",
                              "--diff-filter=A", self.parents[merge][0], merge)
            for path in filter(None, added.split(b"\0")):
                name = path_of(path)
                self.added_by_unread_merge[name] = (self.added_by_unread_merge.get(name, 0)
                                                    | 1 << self.pos[merge])
        self.unread |= unread

    def names(self, path, visible):
        """The names the file called `path` had, renames followed back, each with the commits
        (a bit set within `visible`) in which it had that name: an earlier name's commits must
        come before the rename out of it."""
        seen, pending = set(), [(path, None)]
        while pending:
            name, bound = pending.pop()
            if (name, bound) in seen:
                continue
            seen.add((name, bound))
            within = visible if bound is None else self.ancestors[bound] & ~(1 << bound)
            yield name, within
            for at, old in self.renamed_into.get(name, []):
                if (within >> at) & 1:
                    pending.append((old, at))

    def file_history(self, path, visible):
        """Bit set of the commits in `visible` that touched the file called `path`, renames
        followed back."""
        found = 0
        for name, within in self.names(path, visible):
            found |= self.touches.get(name, 0) & within
        return found

    def added_by_a_merge_git_cannot_diff(self, path, visible):
        """Whether a name of the file was added by a merge in `visible` that git cannot diff
        (see `_merge_renames`): its history before that merge is unknown to git."""
        return any(self.added_by_unread_merge.get(name, 0) & within
                   for name, within in self.names(path, visible))

    def signals(self, sha):
        """The history signals of the non-merge commit `sha`, by git."""
        time_, author, files = self.commits[sha]
        return self.signals_of(self.parents[sha][0], sha, files, time_, author)

    def signals_of(self, base, head, files, time_, author):
        """The signals of the change base..head (`files` its `--raw` entries), made at
        `time_` by `author`, seen from `base`."""
        visible = self.ancestors[self.pos[base]]
        devs, earlier, ages, new_to_author = set(), 0, [], 0
        for f in files:
            history = self.file_history(f.old, visible)
            if not history:
                continue
            earlier |= history
            touched_by = [self.commits[self.order[k]] for k in bit_positions(history)]
            authors = {a for _, a, _ in touched_by}
            devs |= authors
            ages.append(max(0, time_ - max(t for t, _, _ in touched_by)))
            new_to_author += author not in authors
        nuc = bin(earlier).count("1")
        subsystems = {subsystem(f.new) for f in files}
        rexp, sexp = 0.0, 0
        theirs = self.by_author.get(author, 0) & visible
        for k in sorted(bit_positions(theirs)):
            t, _, their_files = self.commits[self.order[k]]
            rexp += 1 / ((max(0, time_ - t) // YEAR_SECONDS) + 1)
            sexp += bool({subsystem(f.new) for f in their_files} & subsystems)
        entropy, lt, la, ld = self.size_signals(base, head, files)
        own = bin(earlier & self.by_author.get(author, 0)).count("1")
        return {
            # Listed without renames here, an unread commit can end a file's history early.
            "through_unread": bool(earlier & self.unread_bits) or any(
                self.added_by_a_merge_git_cannot_diff(f.old, visible) for f in files),
            "la": la, "ld": ld, "nf": len(files), "ns": len(subsystems),
            "nd": len({directory(f.new) for f in files}),
            "entropy": entropy, "lt": lt, "ndev": len(devs), "nuc": nuc,
            "age": sum(ages) / len(ages) if ages else 0.0,
            "exp": bin(theirs).count("1"), "rexp": rexp, "sexp": sexp,
            "author_commit_share": own / nuc if nuc else None,
            "files_new_to_author": new_to_author,
        }

    def size_signals(self, parent, sha, files):
        """Entropy of the lines modified per file, the lines the text files had in the
        parent (a file git diffs as binary has none), and the lines added and deleted;
        `files` are the change's `--raw` entries."""
        modified, binary, la, ld = [], set(), 0, 0
        tokens = git_bytes(self.repo, "-c", "diff.renames=true", "diff", "--numstat", "-z",
                           *RENAMES, parent, sha).split(b"\0")
        i = 0
        while i < len(tokens):
            if not tokens[i]:
                i += 1
                continue
            added, deleted, path = tokens[i].split(b"\t", 2)
            if path:
                i += 1
            else:  # a rename: the old and the new path follow
                path = tokens[i + 2]
                i += 3
            if added == b"-":
                binary.add(path_of(path))
                modified.append(0)
            else:
                la, ld = la + int(added), ld + int(deleted)
                modified.append(int(added) + int(deleted))
        total = sum(modified)
        entropy = 0.0
        if len(modified) > 1 and total:
            entropy = -sum(m / total * math.log2(m / total) for m in modified if m) \
                / math.log2(len(modified))
        before = [f.old_blob for f in files
                  if f.old_mode in REGULAR and set(f.old_blob) != {"0"} and f.new not in binary]
        lt = 0
        if before:
            out = git_bytes(self.repo, "cat-file", "--batch",
                            stdin=("\n".join(before) + "\n").encode())
            at = 0
            for _ in before:
                end = out.index(b"\n", at)
                size = int(out[at:end].split()[2])
                body = out[end + 1:end + 1 + size]
                lt += body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
                at = end + 1 + size + 1
        return entropy, lt, la, ld


def bit_positions(bits):
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


def subsystem(path):
    return path.split("/", 1)[0] if "/" in path else ""


def directory(path):
    return path.rsplit("/", 1)[0] if "/" in path else ""


PULL_SIGNALS = ["la", "ld", "nf"] + HISTORY_SIGNALS


def pull_author(repo, base, head):
    """Who made most of base..head's non-merge commits, ties going to head's author, then to
    whoever committed nearest head; and head's author time."""
    at, head_key = git(repo, *MAILMAP_AT_HEAD, "log", "-1", "--use-mailmap",
                       f"--format=%at {AUTHOR_FORMAT}", head).strip("\n").split(" ", 1)
    head_key = author_of(head_key)
    made = {}
    for i, printed in enumerate(git(repo, *MAILMAP_AT_HEAD, "log", "--use-mailmap", "--no-merges",
                                    f"--format={AUTHOR_FORMAT}", head, f"^{base}").split("\n")):
        if printed:
            key = author_of(printed)
            n, first = made.get(key, (0, i))
            made[key] = (n + 1, first)
    author = max(made, key=lambda k: (made[k][0], k == head_key, -made[k][1]),
                 default=head_key)
    return author, int(at)


def check_pulls(binary, repo, name, history, n, blame_n):
    """Score the n latest merges of HEAD's first-parent line as the pull requests they
    merged (base M^1, head M^2) and compare with git: the change is the diff from the
    merge-base, seen from the merge-base. Returns (compared, differ, blame results)."""
    merges = git(repo, "rev-list", "--first-parent", "--merges", f"--max-count={n}",
                 "HEAD").split()
    compared = differ = 0
    blamed = []
    for merge in merges:
        if len(history.parents[merge]) != 2:
            continue
        base, head = history.parents[merge]
        try:
            fork = git(repo, "merge-base", base, head).strip()
        except subprocess.CalledProcessError:
            continue  # no common history
        scored = score(binary, repo, base, head, f"{name} pull {merge}")
        if scored is None:
            differ += 1
            continue
        features, partial = scored
        author, at = pull_author(repo, fork, head)
        try:
            files, _ = raw_entries(git_bytes(repo, "-c", "diff.renames=true", "diff", "--raw",
                                             "-z", *RENAMES, "--no-abbrev", fork, head).split(b"\0"), 0)
            want = history.signals_of(fork, head, files, at, author)
        except subprocess.CalledProcessError:
            print(f"{name} pull {merge}: git cannot diff it (a blob the clone lacks)",
                  file=sys.stderr)
            continue
        if want["through_unread"]:
            print(f"{name} pull {merge}: its files' history passes a commit naming a blob the "
                  f"clone lacks", file=sys.stderr)
            continue
        compared += 1
        for s in PULL_SIGNALS:
            if not close(want[s], features.get(s)):
                print(f"{name} pull {merge} {s}: score {features.get(s)}, git {want[s]}",
                      file=sys.stderr)
                differ += 1
        if len(blamed) < blame_n and not partial:
            got = features.get("author_blame_share")
            want = blame_share(repo, head, parent=fork, author=author,
                               ignore_revs=ignore_revs_at(repo, base))
            blamed.append((merge, want, got))
    return compared, differ, blamed


def check_history(history, name, rows, n):
    """Compare the history signals of up to n rows with git's; returns (compared, differ,
    left out). A commit naming a blob the clone lacks is left out (git cannot count its
    lines), and so is one whose files' history passes through such a commit (git cannot pair
    its renames, and riskgate pairs them by libgit2's measure)."""
    rows = [r for r in rows if r["commit_id"] in history.commits
            and history.parents.get(r["commit_id"]) and r["commit_id"] not in history.unread]
    rows = rows[::-(-len(rows) // n)]  # every row, or about n spread evenly
    compared = differ = left_out = 0
    for r in rows:
        try:
            want = history.signals(r["commit_id"])
        except subprocess.CalledProcessError:
            # git read the commit for its log but cannot diff it: a blob it compares for
            # renames is one the clone lacks.
            print(f"{name} {r['commit_id']}: git cannot diff it (a blob the clone lacks)",
                  file=sys.stderr)
            left_out += 1
            continue
        if want["through_unread"]:
            left_out += 1
            continue
        compared += 1
        for s in HISTORY_SIGNALS:
            if not close(want[s], cell(r[s])):
                print(f"{name} {r['commit_id']} {s}: mine {cell(r[s])}, git {want[s]}",
                      file=sys.stderr)
                differ += 1
    return compared, differ, left_out


def score(binary, repo, base, head, label):
    """`riskgate score` of base..head: its signals, and whether it ran past its budget for line
    ownership (it warns so: `author_blame_share` then covers only some files, and mine, which
    has no budget, is not compared on it). None when it failed, which is reported."""
    res = subprocess.run([binary, "score", "--repo", repo, "--base", base, "--head", head,
                          "--format", "json"], capture_output=True, text=True)
    if res.returncode != 0:
        print(f"{label}: score failed: {res.stderr.strip()}", file=sys.stderr)
        return None
    report = json.loads(res.stdout)
    partial = any(w.startswith(PARTIAL_ATTRIBUTION) for w in report.get("warnings", []))
    return report["features"], partial


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
        renames = git(repo, "log", *RENAMES, "--diff-filter=R", "--name-status", "--format=", "HEAD")
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


def check(binary, repo, n, blame_n=0, history_n=0, pulls_n=0):
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

    git_stats, numstat_unread = numstat(repo)
    numstat_bad = 0
    for sha, (la, ld, nf) in git_stats.items():
        r = by_id.get(sha)
        if r is None:
            print(f"{name} {sha}: in git log, not mined", file=sys.stderr)
            numstat_bad += 1
            continue
        got = (float(r["la"]), float(r["ld"]), float(r["nf"]))
        if got != (la, ld, nf):
            print(f"{name} {sha}: la/ld/nf {got} but git numstat {(la, ld, nf)}", file=sys.stderr)
            numstat_bad += 1
    if len(git_stats) + len(numstat_unread) != len(rows):
        print(f"{name}: {len(rows)} rows but {len(git_stats)} commits in git log and "
              f"{len(numstat_unread)} it cannot read", file=sys.stderr)
        numstat_bad += 1

    picked = sample(repo, rows, n)
    score_bad, compared, budgeted, lists_differed = 0, 0, 0, 0
    for sha in picked:
        scored = score(binary, repo, f"{sha}^", sha, f"{name} {sha}")
        if scored is None:
            score_bad += 1
            continue
        features, partial = scored
        budgeted += partial
        row = by_id[sha]
        # mine looks past the reformats HEAD's list names, score past those of C^'s.
        lists_differ = ignore_revs_at(repo, f"{sha}^") != ignore_revs_at(repo, "HEAD")
        lists_differed += lists_differ
        for s in SIGNALS:
            if (partial or lists_differ) and s == "author_blame_share":
                continue
            compared += 1
            want, got = cell(row[s]), features.get(s)
            if not close(want, got):
                print(f"{name} {sha} {s}: mine {want}, score {got}", file=sys.stderr)
                score_bad += 1
    blamed = []
    for sha in picked[:blame_n]:
        try:
            want = blame_share(repo, sha, ignore_revs=ignore_revs_at(repo, "HEAD"))
        except subprocess.CalledProcessError:
            print(f"{name} {sha}: git cannot blame it (an absent blob?)", file=sys.stderr)
            continue
        got = cell(by_id[sha]["author_blame_share"])
        blamed.append((sha, want, got))
        if not close(want, got):
            print(f"{name} {sha} author_blame_share: git blame {want}, mine {got}",
                  file=sys.stderr)
    history_compared = history_differ = history_left_out = pulls_compared = pulls_differ = 0
    pulls_blamed = []
    if history_n or pulls_n:
        history = History(repo)
    if history_n:
        history_compared, history_differ, history_left_out = check_history(
            history, name, rows, history_n)
    if pulls_n:
        pulls_compared, pulls_differ, pulls_blamed = check_pulls(
            binary, repo, name, history, pulls_n, blame_n)
        for merge, want, got in pulls_blamed:
            if not close(want, got):
                print(f"{name} pull {merge} author_blame_share: git blame {want}, score {got}",
                      file=sys.stderr)
    bad = numstat_bad + score_bad + history_differ + pulls_differ
    merges = int(git(repo, "rev-list", "--merges", "--count", "HEAD"))
    print(f"| {name} | {len(rows) + merges:,} | {merges:,} | {mine_s:.1f} s | "
          f"{numstat_cell(git_stats, numstat_unread, numstat_bad)} | "
          f"{len(picked)} commits × {len(SIGNALS)} signals, {score_bad} differ"
          f"{f' ({budgeted} past the attribution budget)' if budgeted else ''}"
          f"{f' ({lists_differed} whose parent lists other reformats than HEAD: author_blame_share not compared)' if lists_differed else ''} |"
          + (f" {history_compared:,} commits × {len(HISTORY_SIGNALS)} signals, "
             f"{history_differ} differ"
             + (f" ({history_left_out} whose files' history passes a commit naming a blob the "
                f"clone lacks, left out)" if history_left_out else "")
             + " |" if history_n else "")
          + (f" {pulls_compared} × {len(PULL_SIGNALS)} signals, {pulls_differ} differ |"
             if pulls_n else ""))
    blame_rows = [(name, blamed)]
    if pulls_n:
        blame_rows.append((f"{name}, pull requests", pulls_blamed))
    return bad, blame_rows


def numstat_cell(git_stats, unread, differ):
    cell = f"{len(git_stats):,} commits, {differ} differ"
    if unread:
        cell += f" ({len(unread)} naming a blob the clone lacks, left out)"
    return cell


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
    ap.add_argument("--history", type=int, default=0,
                    help="compare the history signals of this many rows with git log")
    ap.add_argument("--pulls", type=int, default=0,
                    help="score this many merged pull requests (the latest merges on HEAD's "
                         "first-parent line) and compare with git")
    ap.add_argument("--blame", type=int, default=0,
                    help="compare author_blame_share with git blame on this many sampled commits")
    args = ap.parse_args()
    print("| repository | commits | merges | mine | la/ld/nf against git numstat "
          "| score against mine |" + (" history signals against git log |" if args.history else "")
          + (" pull requests against git |" if args.pulls else ""))
    print("|---|---:|---:|---:|---|---|" + ("---|" if args.history else "")
          + ("---|" if args.pulls else ""))
    results = [check(os.path.abspath(args.bin), r, args.sample, args.blame, args.history,
                     args.pulls)
               for r in args.repos]
    if args.blame:
        blame_table([row for _, rows in results for row in rows])
    sys.exit(1 if sum(bad for bad, _ in results) else 0)


if __name__ == "__main__":
    main()
