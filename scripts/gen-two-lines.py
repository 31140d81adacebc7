#!/usr/bin/env python3
"""Generate a history in which one author works on two long-lived lines at once: the shape
that makes an author's experience ask the ancestry of each of their earlier commits, since the
commits of the other line are not history of this one until it is merged.

    python3 scripts/gen-two-lines.py DIR [--commits 20000] [--merge-every 0]

creates a non-bare repository at DIR with --commits commits on `main` (touching `main.txt`)
and as many on `side` (touching `side.txt`), forked from main's first commit, the two lines
taking turns half a minute apart, all by one author. `side` is merged into `main` every
--merge-every commits (0: only at the end) and at the end. Standard library only.
"""

import argparse
import sys

from fast_import import create_repository

START = 1600000000


def commit(mark: int, branch: str, name: str, text: str, when: int, parents: list) -> bytes:
    """A blob (mark `mark`) holding `text` and a commit (mark `mark + 1`) on `branch` that
    writes it to `name`."""
    data = f"{text}\n".encode()
    msg = f"{branch}: {text}".encode()
    out = [b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data),
           b"commit refs/heads/%s\nmark :%d\n" % (branch.encode(), mark + 1),
           b"author a <a@example.com> %d +0000\ncommitter a <a@example.com> %d +0000\n"
           % (when, when),
           b"data %d\n%s\n" % (len(msg), msg)]
    for i, parent in enumerate(parents):
        out.append(b"%s :%d\n" % (b"from" if i == 0 else b"merge", parent))
    out.append(b"M 100644 :%d %s\n\n" % (mark, name.encode()))
    return b"".join(out)


def stream(commits: int, merge_every: int):
    mark = 1
    yield commit(mark, "main", "main.txt", "main 0", START, [])
    main_tip = side_tip = mark + 1
    for i in range(1, commits):
        when = START + i * 60
        mark += 2
        yield commit(mark, "main", "main.txt", f"main {i}", when, [main_tip])
        main_tip = mark + 1
        mark += 2
        yield commit(mark, "side", "side.txt", f"side {i}", when + 30, [side_tip])
        side_tip = mark + 1
        if merge_every and i % merge_every == 0:
            mark += 2
            yield commit(mark, "main", "main.txt", f"merge {i}", when + 40, [main_tip, side_tip])
            main_tip = mark + 1
    mark += 2
    yield commit(mark, "main", "main.txt", "merge", START + commits * 60, [main_tip, side_tip])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--commits", type=int, default=20000)
    ap.add_argument("--merge-every", type=int, default=0)
    args = ap.parse_args()
    if args.commits < 2 or args.merge_every < 0:
        sys.exit("gen-two-lines: --commits must be at least 2 and --merge-every not negative")
    create_repository(args.dir, stream(args.commits, args.merge_every), "gen-two-lines")


if __name__ == "__main__":
    main()
