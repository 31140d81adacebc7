#!/usr/bin/env bash
# The riskgate GitHub Action's step: score the pull request of the event that started the
# workflow (or the commits a push added to a branch), in the git checkout of the current
# directory.
#
# Reads what GitHub Actions sets: GITHUB_EVENT_PATH (a pull_request, pull_request_target or
# push event), GITHUB_STEP_SUMMARY, GITHUB_OUTPUT. And its own settings:
#   INPUT_FAIL_ABOVE        fail (exit 1) when the probability is above it, 0 to 1; empty: never
#   INPUT_ARGS              more arguments for `riskgate score`, one per line
#   RISKGATE_BIN            the riskgate binary (default: `riskgate` on PATH)
#   RISKGATE_REMOTE         the remote to fetch missing history from (default: origin)
#   RISKGATE_DEEPEN_STEP    commits fetched by the first deepening of a shallow clone (default 50;
#                           each later round fetches twice as many as the one before)
#   RISKGATE_DEEPEN_ROUNDS  rounds of deepening before giving up (default 8)
#
# Everything read from the event is untrusted: the two commit ids are used only once they are
# 40 hex digits, after `--`, and no other field of the event reaches a command or the log.
# A pull request's are its base and head; a push's, the branch's tip before and after it.
#
# Exit status: 0 scored (at or below fail-above), 1 scored above fail-above, 2 not scored.
set -euo pipefail

say() { printf 'riskgate: %s\n' "$*" >&2; }
fail() {
    printf '::error title=riskgate::%s\n' "$*" >&2
    exit 2
}

command -v jq >/dev/null 2>&1 || fail "jq is needed to read the event (GitHub's runners have it; apt-get install jq)"
command -v git >/dev/null 2>&1 || fail "git is needed"
riskgate_bin=${RISKGATE_BIN:-riskgate}
command -v -- "$riskgate_bin" >/dev/null 2>&1 ||
    fail "riskgate is not installed (RISKGATE_BIN or riskgate on PATH)"

positive_int() { [[ $1 =~ ^[1-9][0-9]{0,5}$ ]]; }
remote=${RISKGATE_REMOTE:-origin}
[[ $remote =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || fail "RISKGATE_REMOTE is not a remote name"
step=${RISKGATE_DEEPEN_STEP:-50}
rounds=${RISKGATE_DEEPEN_ROUNDS:-8}
positive_int "$step" || fail "RISKGATE_DEEPEN_STEP must be a whole number of commits"
positive_int "$rounds" || fail "RISKGATE_DEEPEN_ROUNDS must be a whole number"

fail_above=${INPUT_FAIL_ABOVE:-}
if [[ -n $fail_above ]]; then
    [[ $fail_above =~ ^(0|1)?(\.[0-9]{1,12})?$ && $fail_above =~ [0-9] ]] ||
        fail "fail-above must be a probability between 0 and 1, like 0.5"
    [[ $fail_above == .* ]] && fail_above="0$fail_above"
    jq -en --argjson t "$fail_above" '$t >= 0 and $t <= 1' >/dev/null ||
        fail "fail-above must be a probability between 0 and 1, like 0.5"
fi

# ---- the change --------------------------------------------------------------------------------

event=${GITHUB_EVENT_PATH:-}
[[ -n $event && -f $event ]] || fail "GITHUB_EVENT_PATH does not name the event file: run this as a step of a GitHub Actions job"
# A string field of the event, or nothing when it is missing or not a string.
field() {
    jq -r "(try $1 catch null) | if type == \"string\" then . else \"\" end" -- "$event" ||
        fail "the event file is not JSON"
}
# A pull request's event carries the pull request; a push's, the ref and the tips around it.
kind=$(jq -r 'if (.pull_request? | type) == "object" then "pull request"
    elif (.ref? | type) == "string" and has("after") then "push" else "" end' -- "$event") ||
    fail "the event file is not JSON"
is_sha() { [[ $1 =~ ^[0-9a-f]{40}$ ]]; }
no_commit=0000000000000000000000000000000000000000
case $kind in
"pull request")
    base=$(field .pull_request.base.sha)
    head=$(field .pull_request.head.sha)
    is_sha "$base" || fail "the event's pull_request.base.sha is not a commit id (40 hex digits); refusing it"
    is_sha "$head" || fail "the event's pull_request.head.sha is not a commit id (40 hex digits); refusing it"
    ;;
push)
    base=$(field .before)
    head=$(field .after)
    is_sha "$head" || fail "the push event's after is not a commit id (40 hex digits); refusing it"
    [[ $head != "$no_commit" ]] || fail "the push deleted its branch: there is nothing to score"
    is_sha "$base" || fail "the push event's before is not a commit id (40 hex digits); refusing it"
    [[ $base != "$no_commit" ]] ||
        fail "the push created its branch, so there is no earlier tip to score it against"
    ;;
*)
    fail "the event carries no pull request and is no push: run riskgate on pull_request, pull_request_target or push"
    ;;
esac
say "$kind ${base:0:12}..${head:0:12}"

# ---- the history it needs ---------------------------------------------------------------------

[[ $(git rev-parse --is-inside-work-tree 2>/dev/null) == true ]] ||
    fail "$(pwd) is not a git checkout: run actions/checkout first (fetch-depth: 0 recommended)"
have() { git cat-file -e "$1^{commit}" 2>/dev/null; }
shallow=$(git rev-parse --is-shallow-repository)
missing=()
for sha in "$base" "$head"; do
    have "$sha" || missing+=("$sha")
done
if ((${#missing[@]})); then
    say "fetching ${#missing[@]} commit(s) of the $kind missing from the checkout from $remote"
    depth=()
    [[ $shallow == true ]] && depth=(--depth="$step")
    git fetch --quiet --no-tags ${depth[@]+"${depth[@]}"} "$remote" -- "${missing[@]}" ||
        fail "could not fetch the $kind's commits from $remote"
    for sha in "${missing[@]}"; do
        have "$sha" || fail "commit $sha is not in $remote"
    done
fi
merge_base() { git merge-base -- "$base" "$head" 2>/dev/null; }
if ! merge_base >/dev/null; then
    [[ $shallow == true ]] ||
        fail "the $kind's base and head have no common ancestor"
    size=$step
    fetched=0
    for ((round = 1; ; round++)); do
        if ((round > rounds)); then
            fail "no common ancestor of base and head within $fetched more commits of this shallow clone; check out with fetch-depth: 0"
        fi
        say "the clone is shallow and holds no common ancestor of base and head: deepening it by $size commits (round $round of $rounds)"
        git fetch --quiet --no-tags --deepen="$size" "$remote" -- "$base" "$head" ||
            fail "could not deepen the clone from $remote"
        fetched=$((fetched + size))
        merge_base >/dev/null && break
        size=$((size * 2))
    done
    say "deepened the shallow clone by $fetched commits: base and head meet at $(merge_base | cut -c1-12)"
fi
if [[ $(git rev-parse --is-shallow-repository) == true ]]; then
    say "the clone is shallow: history signals count only the commits present (actions/checkout with fetch-depth: 0 gives them all)"
fi
# A partial checkout (actions/checkout's `filter`) has file contents only once git fetches
# them, and riskgate does not fetch: the change's are fetched here, in one batch. A treeless
# one also lacks the trees of past commits, which riskgate reads for every history signal.
filters=$(git config --get-regexp '^remote\..*\.partialclonefilter$' || true)
if [[ $filters == *tree:* ]]; then
    fail "the checkout is a treeless partial clone (filter: tree:0), which lacks the trees of past commits that riskgate reads: check out with filter: blob:none, or without a filter"
fi
if [[ -n $(git config --get-regexp '^remote\..*\.promisor$' || true) ]]; then
    say "the checkout is a partial clone: fetching the contents of the change from $remote"
    git diff --numstat "$(merge_base)" "$head" >/dev/null ||
        fail "could not fetch the contents of the change's files"
    # Authors are told apart by the .mailmap of the default branch (the first of these that
    # riskgate finds), which the checkout of the pull request may not hold.
    for rev in refs/remotes/origin/HEAD main master origin/main origin/master HEAD; do
        git rev-parse --verify --quiet "$rev^{commit}" >/dev/null || continue
        if mailmap=$(git rev-parse --verify --quiet "$rev:.mailmap"); then
            git cat-file blob "$mailmap" >/dev/null ||
                say "could not fetch the .mailmap of $rev: authors are told apart by e-mail alone"
        fi
        break
    done
    # The base's settings file, which riskgate refuses to score without once it is committed.
    if settings=$(git rev-parse --verify --quiet "$base:.github/riskgate.yml"); then
        git cat-file blob "$settings" >/dev/null ||
            fail "could not fetch the base's .github/riskgate.yml from $remote"
    fi
    # The base's .gitattributes files, which say what is binary (below): the first 200.
    mapfile -t attribute_blobs < <(git ls-tree -r "$base" |
        awk -F '\t' '$2 ~ /(^|\/)\.gitattributes$/ { split($1, f, " "); print f[3] }')
    for blob in ${attribute_blobs[@]+"${attribute_blobs[@]:0:200}"}; do
        git cat-file blob "$blob" >/dev/null ||
            fail "could not fetch the base's .gitattributes files from $remote"
    done
fi

# ---- the score --------------------------------------------------------------------------------

extra=()
while IFS= read -r arg || [[ -n $arg ]]; do
    arg=${arg%$'\r'}
    [[ -n $arg ]] && extra+=("$arg")
done <<<"${INPUT_ARGS:-}"
# What is binary (and so adds no lines) is read from the base's .gitattributes, as the App
# reads it: the checkout's are the change's own, and could hide its lines from the score.
attributes=(--attributes base-branch)
for arg in ${extra[@]+"${extra[@]}"}; do
    [[ $arg == --attributes || $arg == --attributes=* ]] && attributes=()
done

out=$(mktemp -d)
trap 'rm -rf -- "$out"' EXIT
# The report quotes paths and commit text of the pull request: workflow commands are off while
# it is printed, so nothing in it is taken for one.
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "::stop-commands::$token"
status=0
"$riskgate_bin" score --repo . --base "$base" --head "$head" --format text \
    --json-out "$out/report.json" --markdown-out "$out/report.md" \
    ${attributes[@]+"${attributes[@]}"} ${extra[@]+"${extra[@]}"} || status=$?
echo "::$token::"
((status == 0)) || fail "riskgate score failed (exit $status); its message is above"

probability=$(jq -r '.probability | numbers' -- "$out/report.json")
band=$(jq -r '.band | strings' -- "$out/report.json")
[[ -n $probability && $band =~ ^(low|elevated|high)$ ]] || fail "riskgate wrote no probability or band"

if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    cat -- "$out/report.md" >>"$GITHUB_STEP_SUMMARY"
fi
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
    printf 'probability=%s\nband=%s\n' "$probability" "$band" >>"$GITHUB_OUTPUT"
fi
say "probability $probability, band $band"

if [[ -n $fail_above ]] &&
    jq -en --argjson p "$probability" --argjson t "$fail_above" '$p > $t' >/dev/null; then
    printf '::error title=riskgate::the probability %s is above fail-above %s: this change is %s risk\n' \
        "$probability" "$fail_above" "$band" >&2
    exit 1
fi
