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
import os
import subprocess
import sys

START = 1600000000


class Stream:
    def __init__(self, out):
        self.out = out
        self.mark = 0

    def commit(self, branch: str, name: str, text: str, when: int, parents: list) -> int:
        data = f"{text}\n".encode()
        self.mark += 1
        blob = self.mark
        self.out.write(b"blob\nmark :%d\ndata %d\n%s\n" % (blob, len(data), data))
        self.mark += 1
        msg = f"{branch}: {text}".encode()
        self.out.write(b"commit refs/heads/%s\nmark :%d\n" % (branch.encode(), self.mark))
        self.out.write(b"author a <a@example.com> %d +0000\ncommitter a <a@example.com> %d +0000\n"
                       % (when, when))
        self.out.write(b"data %d\n%s\n" % (len(msg), msg))
        for i, parent in enumerate(parents):
            self.out.write(b"%s :%d\n" % (b"from" if i == 0 else b"merge", parent))
        self.out.write(b"M 100644 :%d %s\n\n" % (blob, name.encode()))
        return self.mark


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--commits", type=int, default=20000)
    ap.add_argument("--merge-every", type=int, default=0)
    args = ap.parse_args()
    if args.commits < 2 or args.merge_every < 0:
        sys.exit("gen-two-lines: --commits must be at least 2 and --merge-every not negative")
    if os.path.exists(args.dir):
        sys.exit(f"gen-two-lines: {args.dir} exists")
    subprocess.run(["git", "init", "-q", "-b", "main", args.dir], check=True)
    fast_import = subprocess.Popen(["git", "-C", args.dir, "fast-import", "--quiet"],
                                   stdin=subprocess.PIPE)
    s = Stream(fast_import.stdin)
    main_tip = s.commit("main", "main.txt", "main 0", START, [])
    side_tip = main_tip
    for i in range(1, args.commits):
        when = START + i * 60
        main_tip = s.commit("main", "main.txt", f"main {i}", when, [main_tip])
        side_tip = s.commit("side", "side.txt", f"side {i}", when + 30, [side_tip])
        if args.merge_every and i % args.merge_every == 0:
            main_tip = s.commit("main", "main.txt", f"merge {i}", when + 40, [main_tip, side_tip])
    s.commit("main", "main.txt", "merge", START + args.commits * 60, [main_tip, side_tip])
    fast_import.stdin.close()
    if fast_import.wait() != 0:
        sys.exit("gen-two-lines: git fast-import failed")
    subprocess.run(["git", "-C", args.dir, "checkout", "-q", "main"], check=True)


if __name__ == "__main__":
    main()
