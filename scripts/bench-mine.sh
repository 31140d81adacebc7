#!/usr/bin/env bash
# Mining benchmark: `riskgate mine` beside `git log --no-merges --numstat` (and PyDriller)
# on the same repositories, in one run.
#
#   scripts/bench-mine.sh [REPO...] > mine.md   # markdown table on stdout, progress on stderr
#
# Repositories:
#   own      a clone of this repository (its whole history)
#   REPO...  each repository given by path (real clones, bare or not), named by its folder
#            (by its parent folder for a folder called `repo` or `.git`)
#   gen-20k  scripts/gen-history.py --commits 20000 (generated into $TMP when BENCH_GEN20K
#            is not given; skipped when repositories are given and BENCH_GEN20K is not)
#   large    BENCH_LARGE (default bench-data/large, 100,000 commits), only read; skipped
#            when missing
#
# Environment:
#   RISKGATE_BIN=path   binary to use instead of building the release binary
#   BENCH_RUNS=N        hyperfine runs per command (default 3)
#   BENCH_GEN20K=dir    an existing 20,000-commit repository made by gen-history.py
#   BENCH_LARGE=dir     the 100,000-commit repository (read only)
#   BENCH_PYDRILLER=0   skip PyDriller; =all also runs it on the large repository (slow)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${BENCH_RUNS:-3}
LARGE=${BENCH_LARGE:-bench-data/large}
PYD=${BENCH_PYDRILLER:-1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
log() { printf 'bench-mine: %s\n' "$*" >&2; }

command -v hyperfine >/dev/null || { log "hyperfine is required (apt-get install -y hyperfine)"; exit 1; }
if [[ -n ${RISKGATE_BIN:-} ]]; then
    BIN=$RISKGATE_BIN
else
    log "cargo build --release"
    cargo build --release >&2
    # A private copy: a shared target directory may be rebuilt under us.
    cp "${CARGO_TARGET_DIR:-target}/release/riskgate" "$TMP/riskgate"
    BIN=$TMP/riskgate
fi
HAVE_PYD=0
if [[ $PYD != 0 ]] && python3 -c 'import pydriller' 2>/dev/null; then HAVE_PYD=1; fi
((HAVE_PYD)) || [[ $PYD == 0 ]] || log "PyDriller not installed (pip install pydriller): skipped"

# seconds CMD: mean seconds over $RUNS runs (hyperfine)
seconds() {
    local runs=$1; shift
    hyperfine --style none --runs "$runs" --export-json "$TMP/hf.json" "$*" >&2
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$TMP/hf.json"
}
fmt() { awk -v t="$1" 'BEGIN { if (t >= 1) printf "%.2f s", t; else printf "%.0f ms", t * 1000 }'; }
rss() { # peak RSS of one run, MiB
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f %M -o "$TMP/rss" "$@" >/dev/null 2>&1
        awk '{ printf "%.0f MiB", $1 / 1024 }' "$TMP/rss"
    else
        echo n/a
    fi
}

ROWS=()
bench() { # NAME REPO
    local name=$1 repo=$2 commits git mine ratio pyd="—" mem
    commits=$(git -C "$repo" rev-list --no-merges --count HEAD)
    log "$name: $commits non-merge commits"
    git=$(seconds "$RUNS" "git -C '$repo' log --no-merges --numstat HEAD > /dev/null")
    mine=$(seconds "$RUNS" "'$BIN' mine --repo '$repo' --out '$TMP/out.csv'")
    mem=$(rss "$BIN" mine --repo "$repo" --out "$TMP/out.csv")
    ratio=$(awk -v a="$mine" -v b="$git" 'BEGIN { printf "%.2f×", a / b }')
    if ((HAVE_PYD)) && { [[ $name != large* ]] || [[ $PYD == all ]]; }; then
        local pyd_repo=$repo
        if [[ $(git -C "$repo" rev-parse --is-bare-repository) == true ]]; then
            # PyDriller needs a work tree's .git; a local clone shares the objects.
            pyd_repo=$TMP/pydriller-$name
            git clone -q --no-checkout "$repo" "$pyd_repo"
        fi
        pyd=$(fmt "$(seconds 1 "python3 '$ROOT/scripts/pydriller-metrics.py' '$pyd_repo'")")
    fi
    ROWS+=("| $name | $commits | $(fmt "$git") | $(fmt "$mine") | $ratio | $mem | $pyd |")
}

git clone -q --no-local "$ROOT" "$TMP/own"
bench "own (riskgate)" "$TMP/own"

for repo in "$@"; do
    repo=$(cd "$repo" && pwd)
    name=$(basename "$repo")
    if [[ $name == repo || $name == .git ]]; then name=$(basename "$(dirname "$repo")"); fi
    bench "$name" "$repo"
done

GEN=${BENCH_GEN20K:-}
if [[ -z $GEN && $# -gt 0 ]]; then
    log "repositories given and no BENCH_GEN20K: skipping the generated 20,000 commits"
elif [[ -z $GEN ]]; then
    GEN=$TMP/gen20k
    log "generating $GEN (20,000 commits)"
    python3 scripts/gen-history.py "$GEN" --commits 20000 --repack >&2
fi
[[ -z $GEN ]] || bench "gen-20k" "$GEN"

if [[ -d $LARGE/.git ]]; then
    bench "large (100k)" "$LARGE"
else
    log "no $LARGE: skipping the 100,000-commit case"
fi

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "Machine: $(nproc) CPUs, ${cpu:-$(uname -m)}; riskgate $(git rev-parse --short HEAD); $(git --version); hyperfine $(hyperfine --version | awk '{ print $2 }'), $RUNS runs (PyDriller 1 run); $(date -u +%F)"
echo
echo "| repository | non-merge commits | git log --no-merges --numstat | riskgate mine | ratio | mine peak RSS | PyDriller |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
