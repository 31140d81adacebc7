#!/usr/bin/env bash
# The riskgate GitHub Action's cache step: names the folder where riskgate keeps its history
# index and line-owner store for the git checkout of the current directory
# (`<git-dir>/riskgate`), so that actions/cache restores it before the score and saves it after.
# With it, a run walks only the commits no earlier run of the pull request (or of the default
# branch) has indexed, instead of the whole history.
#
# Writes `path=<folder>` to GITHUB_OUTPUT, or nothing when the folder is not worth keeping:
#   - the directory is not a git checkout (the score step says so);
#   - the clone is shallow: the index is rebuilt whenever the shallow boundary moves, and each
#     deepening moves it.
# Never fails the job: without the cache, riskgate only does more work.
set -euo pipefail

say() { printf 'riskgate: %s\n' "$*" >&2; }

git_dir=$(git rev-parse --absolute-git-dir 2>/dev/null) || {
    say "not a git checkout: nothing to cache"
    exit 0
}
if [[ $(git rev-parse --is-shallow-repository) == true ]]; then
    say "the clone is shallow, so the history index is rebuilt on every run and not cached (actions/checkout with fetch-depth: 0 lets it be kept)"
    exit 0
fi
# One line of GITHUB_OUTPUT per output: a path with a line break could write others.
if [[ $git_dir == *[$'\n\r']* ]]; then
    say "the git directory's path has a line break: not cached"
    exit 0
fi
folder="$git_dir/riskgate"
say "keeping the history index in $folder between runs"
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
    printf 'path=%s\n' "$folder" >>"$GITHUB_OUTPUT"
fi
