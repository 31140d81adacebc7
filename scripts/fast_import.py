"""Create a repository from a `git fast-import` stream: what the history generators share.
Standard library only."""

import os
import subprocess
import sys


def create_repository(directory: str, chunks, tool: str) -> None:
    """Create a non-bare repository at `directory`, which must not exist, from the stream
    `chunks` (an iterable of bytes), and check out `main`. Exits naming `tool` on failure."""
    if os.path.exists(directory):
        sys.exit(f"{tool}: {directory} exists")
    subprocess.run(["git", "init", "-q", "-b", "main", directory], check=True)
    fast_import = subprocess.Popen(["git", "-C", directory, "fast-import", "--quiet"],
                                   stdin=subprocess.PIPE)
    for chunk in chunks:
        fast_import.stdin.write(chunk)
    fast_import.stdin.close()
    if fast_import.wait() != 0:
        sys.exit(f"{tool}: git fast-import failed")
    subprocess.run(["git", "-C", directory, "checkout", "-q", "main"], check=True)
