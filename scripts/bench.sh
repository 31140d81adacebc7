#!/usr/bin/env bash
# Scoring benchmark for `riskgate score`.
#
#   scripts/bench.sh > bench.md           # markdown table on stdout, progress on stderr
#   scripts/bench.sh REPO... > bench.md   # real repositories given by path instead
#
# With repositories given, each one's newest 50 (BENCH_PRS) merged pull requests (merge
# commits: base M^1, head M^2) are scored one by one by scripts/bench-score.py, its line
# owner cache cold, warm, and again (each scored a second time), and p50/p90/max are
# reported; the synthetic cases below are skipped. Without:
#
# Cases:
#   cold         bench-data/large (100,000 commits), index removed before every run
#   warm         the same, index present
#   incremental  1,000 commits appended to main after the warm index was built, then
#                main~1..main scored (its base takes in the new commits);
#                every run starts from the pre-append index, so it measures
#                extending the index (main and the index are restored afterwards)
#   own cold/warm  this repository, HEAD~5..HEAD (fewer if the history is shorter)
#
# The history index lives in `<git-dir>/riskgate/`; "cold" deletes it.
#
# Environment:
#   RISKGATE_BIN=path   binary to benchmark instead of building target/release/riskgate
#                       (e.g. RISKGATE_BIN=/bin/true to check the script itself)
#   CARGO_TARGET_DIR    honoured when locating the built binary
#   BENCH_RUNS=N        runs per case (default 10)
#   BENCH_DATA=dir      large synthetic repository (default bench-data/large; generated
#                       with scripts/gen-history.py when missing)
#   BENCH_NO_HYPERFINE=1  use the plain bash loop even if hyperfine is installed
#
# Timing uses hyperfine when installed (apt-get install -y hyperfine), otherwise a bash
# loop. Peak RSS needs GNU time at /usr/bin/time (apt-get install -y time).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${BENCH_RUNS:-10}
DATA=${BENCH_DATA:-bench-data/large}
APPEND=1000
TMP=$(mktemp -d)

log() { printf 'bench: %s\n' "$*" >&2; }
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

# ---- binary ----------------------------------------------------------------
if [[ -n ${RISKGATE_BIN:-} ]]; then
    BIN=$RISKGATE_BIN
    log "using RISKGATE_BIN=$BIN (not building)"
else
    log "cargo build --release"
    cargo build --release >&2
    BIN=${CARGO_TARGET_DIR:-target}/release/riskgate
fi
[[ $BIN == */* && $BIN != /* ]] && BIN=$ROOT/$BIN
command -v "$BIN" >/dev/null || { log "binary not found: $BIN"; exit 1; }

# ---- real repositories given by path -------------------------------------------
if (($# > 0)); then
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    echo "Machine: $(nproc) CPUs, ${cpu:-$(uname -m)}; riskgate $(git rev-parse --short HEAD); $(date -u +%F)"
    echo
    python3 scripts/bench-score.py --bin "$BIN" --prs "${BENCH_PRS:-50}" "$@"
    exit
fi

# ---- data ------------------------------------------------------------------
if [[ ! -d $DATA/.git ]]; then
    log "generating $DATA (100,000 commits, 1,000-file change)"
    mkdir -p "$(dirname "$DATA")"
    python3 scripts/gen-history.py "$DATA" --commits 100000 --change-files 1000 --repack >&2
fi

# ---- tools -----------------------------------------------------------------
HAVE_HYPERFINE=0
if [[ -z ${BENCH_NO_HYPERFINE:-} ]] && command -v hyperfine >/dev/null; then
    HAVE_HYPERFINE=1
fi
HAVE_GNU_TIME=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
    HAVE_GNU_TIME=1
fi
((HAVE_HYPERFINE)) || log "hyperfine not found: timing with a bash loop ($RUNS runs)"
((HAVE_GNU_TIME)) || log "GNU time not found: peak RSS not measured"

index_dir() { printf '%s/riskgate' "$(git -C "$1" rev-parse --absolute-git-dir)"; }

# q ARGS...: shell-quoted command line
q() { printf '%q ' "$@"; }

fmt_time() { # seconds -> "1.234 s" / "12.3 ms"
    awk -v t="$1" 'BEGIN { if (t >= 1) printf "%.3f s", t; else printf "%.1f ms", t * 1000 }'
}

# measure PREPARE CMD...: PREPARE is a shell snippet run before every run (may be empty).
# Sets RESULT_TIME ("mean ± sd") and RESULT_RSS.
measure() {
    local prep=$1; shift
    local -a cmd=("$@")
    local times=() rss_max=0 i start end rss
    if ((HAVE_HYPERFINE)); then
        local -a hf=(hyperfine --style basic --runs "$RUNS" --export-json "$TMP/hf.json")
        [[ -n $prep ]] && hf+=(--prepare "$prep")
        "${hf[@]}" "$(q "${cmd[@]}") > /dev/null" >&2
        read -r mean sd < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["mean"], r["stddev"] if r.get("stddev") is not None else 0)' "$TMP/hf.json")
        # one extra run for peak RSS
        if ((HAVE_GNU_TIME)); then
            [[ -n $prep ]] && bash -c "$prep"
            /usr/bin/time -f %M -o "$TMP/rss" "${cmd[@]}" > /dev/null
            rss_max=$(tail -n 1 "$TMP/rss")
        fi
    else
        for ((i = 0; i < RUNS; i++)); do
            [[ -n $prep ]] && bash -c "$prep"
            start=$EPOCHREALTIME
            if ((HAVE_GNU_TIME)); then
                /usr/bin/time -f '%e s %M KiB' -o "$TMP/time" "${cmd[@]}" > /dev/null
            else
                "${cmd[@]}" > /dev/null
            fi
            end=$EPOCHREALTIME
            times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", b - a }')")
            if ((HAVE_GNU_TIME)); then
                rss=$(tail -n 1 "$TMP/time" | awk '{ print $3 }')
                ((rss > rss_max)) && rss_max=$rss
            fi
        done
        read -r mean sd < <(printf '%s\n' "${times[@]}" | awk '
            { s += $1; ss += $1 * $1; n++ }
            END { m = s / n; v = n > 1 ? (ss - n * m * m) / (n - 1) : 0; if (v < 0) v = 0
                  printf "%.6f %.6f\n", m, sqrt(v) }')
        log "  $(fmt_time "$mean") ± $(fmt_time "$sd") over $RUNS runs"
    fi
    RESULT_TIME="$(fmt_time "$mean") ± $(fmt_time "$sd")"
    if ((HAVE_GNU_TIME)); then
        RESULT_RSS=$(awk -v k="$rss_max" 'BEGIN { printf "%.1f MiB", k / 1024 }')
    else
        RESULT_RSS="n/a"
    fi
}

ROWS=()
# row CASE REPO BASE HEAD PREPARE
row() {
    local name=$1 repo=$2 base=$3 head=$4 prep=$5 commits files
    commits=$(git -C "$repo" rev-list --count "$base")
    files=$(git -C "$repo" diff --name-only "$(git -C "$repo" merge-base "$base" "$head")" "$head" | wc -l)
    log "case: $name ($commits commits, $files files)"
    measure "$prep" "$BIN" score --repo "$repo" --base "$base" --head "$head" --format json
    ROWS+=("| $name | $commits | $files | $RESULT_TIME | $RESULT_RSS |")
}

# ---- large synthetic repository -------------------------------------------
IDX=$(index_dir "$DATA")
SNAP=$TMP/index-before-append
OLD_MAIN=$(git -C "$DATA" rev-parse refs/heads/main)
restore() {
    # undo the incremental case: main back to its original tip, pre-append index back
    git -C "$DATA" update-ref refs/heads/main "$OLD_MAIN"
    if [[ -d $SNAP ]]; then rm -rf "$IDX" && cp -a "$SNAP" "$IDX"; fi
    rm -rf "$TMP"
}
trap restore EXIT

row "cold" "$DATA" main feature "rm -rf $(q "$IDX")"

log "building the index once for the warm case"
"$BIN" score --repo "$DATA" --base main --head feature --format json > /dev/null
row "warm" "$DATA" main feature ""

[[ -d $IDX ]] && cp -a "$IDX" "$SNAP"
log "appending $APPEND commits to main"
python3 scripts/gen-history.py "$DATA" --append "$APPEND" >&2
# The base must take in the new commits for the index to grow: score the newest commit.
row "incremental (+$APPEND commits, main~1..main)" "$DATA" main~1 main \
    "rm -rf $(q "$IDX"); if [ -d $(q "$SNAP") ]; then cp -a $(q "$SNAP") $(q "$IDX"); fi"

# ---- this repository -------------------------------------------------------
n=$(git rev-list --count HEAD)
k=$((n - 1 < 5 ? n - 1 : 5))
if ((k > 0)); then
    OWN_IDX=$(index_dir .)
    row "own history cold (HEAD~$k..HEAD)" . "HEAD~$k" HEAD "rm -rf $(q "$OWN_IDX")"
    "$BIN" score --repo . --base "HEAD~$k" --head HEAD --format json > /dev/null
    row "own history warm (HEAD~$k..HEAD)" . "HEAD~$k" HEAD ""
else
    log "this repository has a single commit: skipping the own-history cases"
fi

# ---- report ----------------------------------------------------------------
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
if ((HAVE_HYPERFINE)); then
    tool="hyperfine $(hyperfine --version | awk '{ print $2 }'), $RUNS runs"
else
    tool="bash loop, $RUNS runs"
fi
echo "Machine: $(nproc) CPUs, ${cpu:-$(uname -m)}; riskgate $(git rev-parse --short HEAD); binary \`$(basename "$BIN")\`; $tool; $(date -u +%F)"
echo
echo "| case | commits in history | files in change | mean ± sd | peak RSS |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
