#!/usr/bin/env python3
"""Generate a large, deterministic synthetic git history for benchmarking riskgate.

The repository is written by streaming a `git fast-import` stream, so even
100,000 commits take only a few minutes.

    python3 scripts/gen-history.py DIR [--commits 100000] [--files 5000]
        [--authors 40] [--change-files 1000] [--seed 1] [--merge-every 5000]
        [--repack]

creates a non-bare repository at DIR with:

  * `main`: exactly --commits non-merge commits, plus one merge of a short side
    branch every --merge-every commits; author/committer dates strictly
    increasing from 2019-01-01 over about six years;
  * `feature`: one commit on top of main, by an author absent from main, that
    modifies --change-files existing files across many directories;
  * the work tree checked out at `feature`.

    python3 scripts/gen-history.py DIR --append N [--seed S]

appends N more non-merge commits to `main` of a repository made by this script
(`feature` and the work tree are left alone).  The appended commits depend on
the seed and on main's current tip, so appending twice to the same tip yields
the same commits.

Standard library only (Python 3.11+).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

EPOCH_START = 1546300800  # 2019-01-01T00:00:00Z
SPAN = 6 * 365 * 24 * 3600  # about six years
APPEND_GAP = SPAN // 100_000  # mean seconds between appended commits

TOPS = ["api", "core", "web", "cli", "db", "auth", "billing", "infra", "docs", "tools"]
EXT = {"web": "ts", "infra": "go", "docs": "md", "tools": "py"}
SUBDIRS_PER_TOP = 19  # 10 top-level + 190 leaf directories = 200 directories
TZS = ["+0000", "+0100", "+0200", "-0500", "-0800", "+0530", "+0900", "-0300"]
TOUCH_WEIGHTS = [40, 25, 15, 10, 6, 4]  # how many files a commit modifies: 1..6
BINARY_EVERY = 250  # one file id in BINARY_EVERY is a binary blob

WORDS = [
    "count", "index", "value", "state", "token", "buffer", "config", "result",
    "offset", "limit", "cache", "entry", "handle", "retry", "timeout", "queue",
]
CALLS = ["load", "parse", "check", "apply", "merge", "flush", "build", "resolve"]
FIX_WHAT = [
    "off-by-one", "null handling", "race", "timeout handling", "overflow",
    "error propagation", "retry logic", "cache invalidation", "parsing",
]
VERBS = [
    "Add", "Update", "Refactor", "Improve", "Simplify", "Extend", "Clean up",
    "Rework", "Document", "Tune",
]
NOUNS = [
    "validation", "logging", "metrics", "configuration", "error messages",
    "tests", "API", "caching", "pagination", "serialization", "startup",
]


def die(msg: str) -> None:
    print(f"gen-history: {msg}", file=sys.stderr)
    sys.exit(2)


class Authors:
    """Author identities, Zipf-like commit shares and home directories.

    Derived from the seed alone, so generation and --append agree."""

    def __init__(self, n: int, seed: int) -> None:
        rng = random.Random(f"{seed}:authors")
        self.n = n
        self.ident = []
        self.homes = []
        width = max(2, len(str(n)))
        for i in range(n):
            tz = rng.choice(TZS)
            name = f"Developer {i:0{width}d} <dev{i:0{width}d}@example.com>"
            self.ident.append((name.encode(), tz.encode()))
            self.homes.append(rng.sample(TOPS, rng.randint(1, 3)))
        weights = [1.0 / (i + 1) ** 1.1 for i in range(n)]
        self.cum = []
        acc = 0.0
        for w in weights:
            acc += w
            self.cum.append(acc)
        self.new_ident = (
            f"Developer {n:0{width}d} <dev{n:0{width}d}@example.com>".encode(), b"+0100")

    def pick(self, rng: random.Random) -> int:
        return rng.choices(range(self.n), cum_weights=self.cum)[0]


class Tree:
    """In-memory file contents: text as a list of short lines, binary as bytes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.content: dict[str, list[str] | bytes] = {}
        self.by_top: dict[str, list[str]] = {t: [] for t in TOPS}
        self.pos: dict[str, int] = {}
        self.deleted: list[str] = []
        self.next_id = 0
        self.id_width = 4

    # -- live-file bookkeeping (O(1) add/remove, deterministic order) --
    def _add_live(self, path: str) -> None:
        top = path.split("/", 1)[0]
        lst = self.by_top.get(top)
        if lst is None:
            return  # root-level files are never picked
        self.pos[path] = len(lst)
        lst.append(path)

    def _remove_live(self, path: str) -> None:
        top = path.split("/", 1)[0]
        lst = self.by_top.get(top)
        if lst is None:
            return
        i = self.pos.pop(path)
        last = lst.pop()
        if last != path:
            lst[i] = last
            self.pos[last] = i

    def live_count(self) -> int:
        return len(self.pos)

    # -- content generation --
    def line(self) -> str:
        r = self.rng
        k = r.randrange(4)
        w = r.choice(WORDS)
        if k == 0:
            return f"    let {w}_{r.randrange(100)} = {r.choice(CALLS)}({r.randrange(1000)});"
        if k == 1:
            return f"    if {w} > {r.randrange(64)} {{ {r.choice(CALLS)}_{w}(); }}"
        if k == 2:
            return f"    // {r.choice(CALLS)} the {w} before use"
        return f"fn {r.choice(CALLS)}_{w}_{r.randrange(500)}() {{}}"

    def new_text(self) -> list[str]:
        return [self.line() for _ in range(self.rng.randint(20, 80))]

    def new_binary(self) -> bytes:
        return b"\x89BIN\x00\x01" + self.rng.randbytes(self.rng.randint(64, 512))

    def edit(self, lines: list[str], add_max: int = 4, del_max: int = 3) -> None:
        r = self.rng
        for _ in range(r.randint(0, 2)):  # replace
            lines[r.randrange(len(lines))] = self.line()
        for _ in range(r.randint(0, add_max)):  # add
            if len(lines) < 200:
                lines.insert(r.randrange(len(lines) + 1), self.line())
        for _ in range(r.randint(0, del_max)):  # delete
            if len(lines) > 20:
                del lines[r.randrange(len(lines))]

    def new_path(self, top: str) -> str:
        fid = self.next_id
        self.next_id += 1
        sub = f"pkg{self.rng.randrange(SUBDIRS_PER_TOP):02d}"
        if fid % BINARY_EVERY == 7:
            return f"{top}/{sub}/blob_{fid:0{self.id_width}d}.bin"
        return f"{top}/{sub}/file_{fid:0{self.id_width}d}.{EXT.get(top, 'rs')}"

    def create(self, path: str) -> None:
        self.content[path] = self.new_binary() if path.endswith(".bin") else self.new_text()
        self._add_live(path)

    def delete(self, path: str) -> None:
        del self.content[path]
        self._remove_live(path)
        self.deleted.append(path)

    def rename(self, old: str, new: str) -> None:
        self.content[new] = self.content.pop(old)
        self._remove_live(old)
        self._add_live(new)

    def modify(self, path: str) -> None:
        c = self.content[path]
        if isinstance(c, bytes):
            self.content[path] = self.new_binary()
        else:
            self.edit(c)

    def data(self, path: str) -> bytes:
        c = self.content[path]
        if isinstance(c, bytes):
            return c
        return ("\n".join(c) + "\n").encode()

    def pick(self, homes: list[str], exclude: set[str]) -> str | None:
        r = self.rng
        for _ in range(8):
            if r.random() < 0.8:
                top = r.choice(homes)
            else:
                top = r.choice(TOPS)
            lst = self.by_top[top]
            if not lst:
                continue
            # skew towards a subset of hot files within the directory
            p = lst[int(len(lst) * r.random() ** 2)]
            if p not in exclude:
                return p
        return None


class Stream:
    """Buffered writer of a fast-import stream."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.buf: list[bytes] = []
        self.size = 0

    def w(self, b: bytes) -> None:
        self.buf.append(b)
        self.size += len(b)
        if self.size > 1 << 20:
            self.flush()

    def flush(self) -> None:
        self.proc.stdin.write(b"".join(self.buf))
        self.buf.clear()
        self.size = 0

    def data(self, payload: bytes) -> None:
        self.w(b"data %d\n" % len(payload))
        self.w(payload)
        self.w(b"\n")


class Generator:
    def __init__(self, args, tree: Tree, authors: Authors, out: Stream,
                 t0: int, gap: int, mark0: int, first_from: bytes | None) -> None:
        self.args = args
        self.rng = tree.rng
        self.tree = tree
        self.authors = authors
        self.out = out
        self.t = t0
        self.gap = max(2, gap)
        self.mark = mark0
        self.prev_from = first_from  # `from` operand of the next commit
        self.subjects: list[str] = []
        self.n_commits = 0
        self.n_merges = 0
        self.n_renames = 0
        self.n_deletes = 0
        self.n_recreates = 0

    def tick(self) -> int:
        self.t += self.rng.randint(1, 2 * self.gap - 1)
        return self.t

    def header(self, ref: bytes, ident: tuple[bytes, bytes], subject: str,
               parent: bytes | None, merge: bytes | None = None) -> bytes:
        self.mark += 1
        mark = b":%d" % self.mark
        when = b"%d %s" % (self.tick(), ident[1])
        o = self.out
        o.w(b"commit " + ref + b"\nmark " + mark + b"\n")
        o.w(b"author " + ident[0] + b" " + when + b"\n")
        o.w(b"committer " + ident[0] + b" " + when + b"\n")
        o.data(subject.encode() + b"\n")
        if parent is not None:
            o.w(b"from " + parent + b"\n")
        if merge is not None:
            o.w(b"merge " + merge + b"\n")
        return mark

    def emit_m(self, path: str) -> None:
        self.out.w(b"M 100644 inline " + path.encode() + b"\n")
        self.out.data(self.tree.data(path))

    def emit_d(self, path: str) -> None:
        self.out.w(b"D " + path.encode() + b"\n")

    def subject(self, path: str | None) -> str:
        r = self.rng
        comp = "/".join(path.split("/")[:2]) if path else "build"
        x = r.random()
        if x < 0.08:
            s = f"Fix {r.choice(FIX_WHAT)} in {comp}"
        elif x < 0.15:
            s = f"fix bug in {comp}"
        elif x < 0.16 and self.subjects:
            s = f'Revert "{r.choice(self.subjects)}"'
        else:
            s = f"{r.choice(VERBS)} {r.choice(NOUNS)} in {comp}"
        if not s.startswith("Revert"):
            self.subjects.append(s)
            if len(self.subjects) > 50:
                del self.subjects[0]
        return s

    def one_commit(self, ref: bytes, author: int, parent: bytes | None,
                   n_create: int = 0, touched: dict[str, bool] | None = None) -> bytes:
        """Plan, then emit one non-merge commit. `touched` collects path -> live."""
        r = self.rng
        tr = self.tree
        homes = self.authors.homes[author]
        ops: list[tuple[str, str, str]] = []  # (kind, path, extra)
        seen: set[str] = set()
        for _ in range(n_create):
            top = r.choice(homes) if r.random() < 0.7 else r.choice(TOPS)
            p = tr.new_path(top)
            tr.create(p)
            ops.append(("M", p, ""))
            seen.add(p)
        n_mod = r.choices(range(1, 7), weights=TOUCH_WEIGHTS)[0]
        if n_create:
            n_mod = r.randint(0, 2)
        for _ in range(n_mod):
            p = tr.pick(homes, seen)
            if p is None:
                continue
            seen.add(p)
            tr.modify(p)
            ops.append(("M", p, ""))
        if not n_create and tr.live_count() > 50:
            x = r.random()
            if x < 1 / 500:
                p = tr.pick(homes, seen)
                if p is not None:
                    # move to a different directory, keeping the file name
                    top = r.choice(TOPS)
                    new = f"{top}/pkg{r.randrange(SUBDIRS_PER_TOP):02d}/{p.rsplit('/', 1)[1]}"
                    if new not in tr.content and new != p:
                        tr.rename(p, new)
                        seen.update((p, new))
                        ops.append(("R", p, new))
                        self.n_renames += 1
                        if r.random() < 0.5:
                            tr.modify(new)
                            ops.append(("M", new, ""))
            elif x < 1 / 500 + 1 / 250:
                p = tr.pick(homes, seen)
                if p is not None:
                    tr.delete(p)
                    seen.add(p)
                    ops.append(("D", p, ""))
                    self.n_deletes += 1
            elif x < 1 / 500 + 2 / 250 and tr.deleted:
                p = tr.deleted.pop(r.randrange(len(tr.deleted)))
                if p not in tr.content and p not in seen:
                    tr.create(p)
                    seen.add(p)
                    ops.append(("M", p, ""))
                    self.n_recreates += 1
        if not ops:  # nothing pickable: touch a fresh file so the commit is non-empty
            p = tr.new_path(r.choice(homes))
            tr.create(p)
            ops.append(("M", p, ""))
        first = next((p for k, p, _ in ops if k != "D"), ops[0][1])
        mark = self.header(ref, self.authors.ident[author], self.subject(first), parent)
        # Emit final contents: a path may appear in several ops, emit each once.
        done: set[str] = set()
        for kind, p, extra in ops:
            if kind == "R":
                self.out.w(b"R " + p.encode() + b" " + extra.encode() + b"\n")
                if touched is not None:
                    touched[p] = False
                    touched[extra] = True
            elif kind == "D":
                self.emit_d(p)
                if touched is not None:
                    touched[p] = False
            elif p not in done:
                done.add(p)
        for p in done:
            if p in tr.content:
                self.emit_m(p)
                if touched is not None:
                    touched[p] = True
        self.out.w(b"\n")
        self.n_commits += 1
        return mark

    def run_main(self, n: int, create_phase: int, n_files: int) -> None:
        r = self.rng
        merge_every = self.args.merge_every
        i = 0
        while i < n:
            if (merge_every and i > 0 and i % merge_every == 0 and i >= create_phase
                    and i + 2 <= n):
                i += self.side_branch(min(r.randint(2, 4), n - i))
                continue
            n_create = 0
            if i < create_phase:
                n_create = n_files * (i + 1) // create_phase - n_files * i // create_phase
            author = self.authors.pick(r)
            self.prev_from = self.one_commit(b"refs/heads/main", author, self.prev_from, n_create)
            i += 1

    def side_branch(self, k: int) -> int:
        """k commits forked from main's tip, then a --no-ff merge into main."""
        fork = self.prev_from
        author = self.authors.pick(self.rng)
        touched: dict[str, bool] = {}
        tip = fork
        for _ in range(k):
            tip = self.one_commit(b"refs/heads/main", author, tip, touched=touched)
        self.n_merges += 1
        topic = f"topic/{self.authors.homes[author][0]}-{self.n_merges}"
        self.prev_from = self.header(b"refs/heads/main", self.authors.ident[0],
                                     f"Merge branch '{topic}'", fork, tip)
        for p, live in touched.items():
            if live:
                self.emit_m(p)
            else:
                self.emit_d(p)
        self.out.w(b"\n")
        return k

    def feature(self, n_change: int) -> int:
        tr = self.tree
        files = [p for top in TOPS for p in tr.by_top[top] if not p.endswith(".bin")]
        chosen = self.rng.sample(files, min(n_change, len(files)))
        self.header(b"refs/heads/feature", self.authors.new_ident,
                    "Refactor error reporting across services", self.prev_from)
        for p in chosen:
            tr.edit(tr.content[p], add_max=3, del_max=2)
            lines = tr.content[p]
            lines.insert(self.rng.randrange(len(lines) + 1), "    // reviewed: error path")
            self.emit_m(p)
        self.out.w(b"\n")
        return len(chosen)


def git(cwd: str, *a: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", cwd, *a], check=True, **kw)


def start_fast_import(repo: str) -> tuple[subprocess.Popen, Stream]:
    proc = subprocess.Popen(["git", "-C", repo, "fast-import", "--quiet"],
                            stdin=subprocess.PIPE)
    return proc, Stream(proc)


def finish_fast_import(proc: subprocess.Popen, out: Stream) -> None:
    out.w(b"done\n")
    out.flush()
    proc.stdin.close()
    if proc.wait() != 0:
        die(f"git fast-import failed with exit code {proc.returncode}")


def load_tree(repo: str, tree: Tree) -> None:
    """Read main's tip into `tree` (for --append)."""
    ls = git(repo, "ls-tree", "-r", "-z", "refs/heads/main", capture_output=True).stdout
    entries = []
    for rec in ls.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        _mode, typ, oid = meta.split()
        if typ == b"blob":
            entries.append((oid, path.decode()))
    cat = subprocess.run(["git", "-C", repo, "cat-file", "--batch"], check=True,
                         input=b"".join(oid + b"\n" for oid, _ in entries),
                         capture_output=True).stdout
    pos = 0
    max_id = -1
    for _, path in entries:
        nl = cat.index(b"\n", pos)
        size = int(cat[pos:nl].split()[2])
        body = cat[nl + 1:nl + 1 + size]
        pos = nl + 1 + size + 1
        if b"\0" in body:
            tree.content[path] = body
        else:
            tree.content[path] = body.decode().splitlines()
        tree._add_live(path)
        name = path.rsplit("/", 1)[-1]
        if "_" in name:
            try:
                max_id = max(max_id, int(name.split("_", 1)[1].split(".")[0]))
            except ValueError:
                pass
    tree.next_id = max_id + 1


def do_generate(args) -> None:
    d = args.dir
    if os.path.exists(d) and (not os.path.isdir(d) or os.listdir(d)):
        die(f"{d} exists and is not an empty directory; refusing to overwrite it")
    if args.commits < 1 or args.files < 1 or args.authors < 1:
        die("--commits, --files and --authors must be positive")
    t_start = time.monotonic()
    os.makedirs(d, exist_ok=True)
    git(d, "init", "-q", "-b", "main")
    git(d, "config", "gc.auto", "0")

    rng = random.Random(args.seed)
    tree = Tree(rng)
    tree.id_width = max(4, len(str(args.files + args.commits // 100)))
    authors = Authors(args.authors, args.seed)
    create_phase = max(1, min(args.commits // 10, args.files // 3))
    n_merge_est = args.commits // args.merge_every if args.merge_every else 0
    gap = SPAN // (args.commits + n_merge_est + 1)

    proc, out = start_fast_import(d)
    gen = Generator(args, tree, authors, out, EPOCH_START, gap, 0, None)
    # README at the root, in the first commit's tree via its own commit
    gen.prev_from = gen.header(b"refs/heads/main", authors.ident[0], "Initial commit", None)
    out.w(b"M 100644 inline README.md\n")
    out.data(b"# synthetic benchmark repository\n")
    out.w(b"\n")
    gen.n_commits += 1
    gen.run_main(args.commits - 1, create_phase, args.files)
    n_change = gen.feature(args.change_files)
    finish_fast_import(proc, out)
    t_import = time.monotonic()

    t_repack = t_import
    if args.repack:
        # fast-import deltas each blob only against the previous one in the stream;
        # a full repack finds real deltas (about 2x smaller, like a gc'd repository)
        git(d, "repack", "-a", "-d", "-f", "-q", "--window=10", "--depth=50")
        t_repack = time.monotonic()
    git(d, "checkout", "-q", "feature")
    elapsed = time.monotonic() - t_start
    print(f"gen-history: {d}: main has {gen.n_commits} non-merge commits + {gen.n_merges} merges "
          f"({gen.n_renames} renames, {gen.n_deletes} deletions, {gen.n_recreates} re-creations), "
          f"{tree.live_count()} files at main's tip; feature changes {n_change} files")
    print(f"gen-history: elapsed {elapsed:.1f} s (fast-import {t_import - t_start:.1f} s, "
          f"repack {t_repack - t_import:.1f} s, checkout {time.monotonic() - t_repack:.1f} s)")


def do_append(args) -> None:
    d = args.dir
    t_start = time.monotonic()
    try:
        tip = git(d, "rev-parse", "--verify", "-q", "refs/heads/main^{commit}",
                  capture_output=True).stdout.decode().strip()
    except subprocess.CalledProcessError:
        die(f"{d} is not a git repository with a `main` branch")
    t_tip = int(git(d, "log", "-1", "--format=%ct", tip, capture_output=True).stdout)
    rng = random.Random(f"{args.seed}:append:{tip}")
    tree = Tree(rng)
    load_tree(d, tree)
    tree.id_width = max(4, len(str(tree.next_id)))
    authors = Authors(args.authors, args.seed)
    args.merge_every = 0
    proc, out = start_fast_import(d)
    gen = Generator(args, tree, authors, out, t_tip, APPEND_GAP, 0, b"refs/heads/main^0")
    gen.run_main(args.append, 0, 0)
    finish_fast_import(proc, out)
    print(f"gen-history: {d}: appended {gen.n_commits} commits to main "
          f"in {time.monotonic() - t_start:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--commits", type=int, default=100_000,
                    help="non-merge commits on main (default 100000)")
    ap.add_argument("--files", type=int, default=5000, help="files in the tree (default 5000)")
    ap.add_argument("--authors", type=int, default=40, help="authors on main (default 40)")
    ap.add_argument("--change-files", type=int, default=1000,
                    help="files modified by the feature commit (default 1000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--merge-every", type=int, default=5000,
                    help="merge a short side branch every N commits (0: none; default 5000)")
    ap.add_argument("--repack", action="store_true",
                    help="git repack -adf after the import (slower, repository about 2x smaller)")
    ap.add_argument("--append", type=int, metavar="N",
                    help="append N commits to main of an existing generated repository")
    args = ap.parse_args()
    if args.append is not None:
        do_append(args)
    else:
        do_generate(args)


if __name__ == "__main__":
    main()
