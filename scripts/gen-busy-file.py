#!/usr/bin/env python3
"""Generate a history in which every commit changes the same file: the shape of a repository
where a bot records a status or a version in one file, and the worst case for the history
signals, which read all of a file's earlier commits for each change to it.

    python3 scripts/gen-busy-file.py DIR [--commits 25000] [--authors 7] [--files 1]

creates a non-bare repository at DIR whose `main` has --commits linear commits, each replacing
the one line of `busy.txt` (and, with --files N, of `busy-2.txt` … `busy-N.txt` too: a bot
that writes a version and a changelog), authors taking turns, a minute apart. Standard library
only.
"""

import argparse
import sys

from fast_import import create_repository

START = 1600000000


def file_names(files: int) -> list:
    return ["busy.txt"] + [f"busy-{n}.txt" for n in range(2, files + 1)]


def stream(commits: int, authors: int, files: int):
    names = file_names(files)
    for i in range(commits):
        data = f"line {i}\n".encode()
        yield b"blob\nmark :%d\ndata %d\n%s\n" % (2 * i + 1, len(data), data)
        when = START + i * 60
        msg = b"change %d" % i
        yield (b"commit refs/heads/main\nmark :%d\nauthor a%d <a%d@example.com> %d +0000\n"
               b"committer a <a@example.com> %d +0000\ndata %d\n%s\n"
               % (2 * i + 2, i % authors, i % authors, when, when, len(msg), msg))
        if i:
            yield b"from :%d\n" % (2 * i)
        for name in names:
            yield b"M 100644 :%d %s\n" % (2 * i + 1, name.encode())
        yield b"\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--commits", type=int, default=25000)
    ap.add_argument("--authors", type=int, default=7)
    ap.add_argument("--files", type=int, default=1)
    args = ap.parse_args()
    if args.commits < 1 or args.authors < 1 or args.files < 1:
        sys.exit("gen-busy-file: --commits, --authors and --files must be positive")
    create_repository(args.dir, stream(args.commits, args.authors, args.files), "gen-busy-file")


if __name__ == "__main__":
    main()
