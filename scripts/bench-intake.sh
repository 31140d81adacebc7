#!/usr/bin/env bash
# Webhook intake under load: a no-op Probot 13 app beside `riskgate serve` (SQLite, and
# PostgreSQL when one is at hand), the same wrk load against each, in one run.
#
#   scripts/bench-intake.sh
#
# The load: wrk, 2 threads, 16 connections, 10 s, over loopback; each request a signed
# `pull_request.opened` delivery (fixtures/github/pull_request.opened.json, the real 28 KB
# body) with a fresh X-GitHub-Delivery id (scripts/bench-intake.lua). riskgate runs as
# deployed: 2 workers, every delivery recorded with its job before the answer; its GitHub is
# a closed port, so the workers' jobs fail and are retried later, as when GitHub is down.
#
# Environment:
#   BENCH_DURATION (10s), BENCH_THREADS (2), BENCH_CONNECTIONS (16), BENCH_WARMUP (3s)
#   RISKGATE_BIN                 a built riskgate (default: cargo build --release)
#   RISKGATE_BENCH_DATABASE_URL  a PostgreSQL database to benchmark on (deliveries and jobs
#                                are added to it); without it scripts/test-db.sh is tried,
#                                and a fresh database made beside its one, dropped at the end
#   BENCH_SKIP                   space-separated servers not to run: probot sqlite postgres
#   BENCH_PULL_REQUESTS          spread the deliveries over this many pull requests (1): the
#                                body is copied with pull request numbers 1..N, each signed
#   BENCH_FINISHED_JOBS          before the load, add this many finished jobs (over 50
#                                repositories and 10,000 pull requests), as a server that
#                                has run for a while has them, and on PostgreSQL ANALYZE, as
#                                autovacuum would (riskgate only)
#   BENCH_POLL                   a path (metrics, readyz) polled by a second wrk during the
#                                measured run, on BENCH_POLL_CONNECTIONS (40) connections of
#                                the same address; its rate is printed to stderr
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

DURATION="${BENCH_DURATION:-10s}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
WARMUP="${BENCH_WARMUP:-3s}"
SKIP=" ${BENCH_SKIP:-} "
SECRET="bench-intake-secret"
BODY="$ROOT/fixtures/github/pull_request.opened.json"
KEY="$ROOT/fixtures/github/test-app-key.pem"
PROBOT_PORT="${BENCH_PROBOT_PORT:-3901}"
RISKGATE_PORT="${BENCH_RISKGATE_PORT:-3902}"

WORK="$(mktemp -d)"
PIDS=()
PG_DROP=""
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$PG_DROP" ]; then
        psql "$PG_DROP" -q -c "DROP DATABASE IF EXISTS ${PG_NAME} WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { echo "bench-intake: $*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
    say "installing wrk"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
if [ -n "${BENCH_FINISHED_JOBS:-}" ] && ! command -v sqlite3 >/dev/null 2>&1; then
    say "installing sqlite3"
    apt-get install -y -qq sqlite3 >/dev/null
fi
command -v node >/dev/null || { say "node is needed for the Probot baseline"; exit 1; }

if [[ "$SKIP" != *" probot "* ]] && [ ! -d bench/probot/node_modules/probot ]; then
    say "installing Probot 13 into bench/probot"
    (cd bench/probot && npm install --no-audit --no-fund --silent)
fi

if [ -z "${RISKGATE_BIN:-}" ]; then
    say "building riskgate (release)"
    cargo build --release --quiet --bin riskgate
    RISKGATE_BIN="$ROOT/target/release/riskgate"
fi

sign() { echo "sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r "$1" | cut -d' ' -f1)"; }
SIGNATURE="$(sign "$BODY")"
export BENCH_BODY="$BODY" BENCH_SIGNATURE="$SIGNATURE" BENCH_EVENT="pull_request"
PULL_REQUESTS="${BENCH_PULL_REQUESTS:-1}"
if [ "$PULL_REQUESTS" -gt 1 ]; then
    # The same delivery for pull requests 1..N: only the two `number` fields differ.
    python3 - "$BODY" "$WORK/body.json" "$PULL_REQUESTS" <<'PY'
import json, sys
source, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
payload = json.load(open(source))
for i in range(1, n + 1):
    payload["number"] = i
    payload["pull_request"]["number"] = i
    with open(f"{out}.{i}", "w") as f:
        json.dump(payload, f)
PY
    for i in $(seq 1 "$PULL_REQUESTS"); do sign "$WORK/body.json.$i" >"$WORK/body.json.$i.sig"; done
    export BENCH_BODY="$WORK/body.json" BENCH_VARIANTS="$PULL_REQUESTS"
fi

wait_port() {
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$1/"; then return 0; fi
        sleep 0.1
    done
    say "nothing listens on port $1"
    return 1
}

# Runs the load against a port: a warm-up, then the measured run; prints "rate p99".
load() {
    local port="$1" name="$2"
    BENCH_RUN="warm-$name-$$" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" \
        -s scripts/bench-intake.lua "http://127.0.0.1:$port" >/dev/null
    local out poll=""
    if [ -n "${BENCH_POLL:-}" ]; then
        wrk -t1 -c"${BENCH_POLL_CONNECTIONS:-40}" -d"$DURATION" \
            "http://127.0.0.1:$port/$BENCH_POLL" >"$WORK/poll-$name.txt" 2>&1 &
        poll=$!
    fi
    out="$(BENCH_RUN="run-$name-$$" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s scripts/bench-intake.lua "http://127.0.0.1:$port")"
    if [ -n "$poll" ]; then
        wait "$poll" || true
        say "$name: /$BENCH_POLL polled at $(awk '/Requests\/sec/ {print $2}' "$WORK/poll-$name.txt")/s"
    fi
    echo "$out" >"$WORK/wrk-$name.txt"
    local line
    line="$(grep '^BENCH_RESULT' <<<"$out" || true)"
    if [ -z "$line" ]; then
        say "$name: wrk printed no result; its output:"
        tail -n 20 <<<"$out" >&2
        echo "- - -"
        return
    fi
    local rate p99 errors
    rate="$(sed -E 's/.*rate=([0-9.]+).*/\1/' <<<"$line")"
    p99="$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")"
    errors="$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")"
    if [ "$errors" != "0" ]; then
        say "$name: $errors requests failed or were not answered 2xx"
        grep -E 'Non-2xx|Socket errors' <<<"$out" >&2 || true
    fi
    echo "$rate $p99 $errors"
}

# Stops a server, then lets the disk settle: the writeback of one run's files must not land
# in the next one's commits.
stop() {
    local pid="$1"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sync
    sleep 2
}

RESULTS=()

if [[ "$SKIP" != *" probot "* ]]; then
    say "Probot 13 (no-op app) on port $PROBOT_PORT"
    (cd bench/probot && exec env APP_ID=1 PRIVATE_KEY_PATH="$KEY" WEBHOOK_SECRET="$SECRET" \
        PORT="$PROBOT_PORT" HOST=127.0.0.1 NODE_ENV=production \
        node_modules/.bin/probot run ./app.js) >"$WORK/probot.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$PROBOT_PORT"
    read -r rate p99 errors < <(load "$PROBOT_PORT" probot)
    RESULTS+=("Probot 13, no-op app|$rate|$p99|$errors")
    stop "$pid"
fi

# BENCH_FINISHED_JOBS finished jobs in the database at `$1`; on PostgreSQL, then its
# statistics, as autovacuum would gather them (riskgate runs no ANALYZE on SQLite).
add_finished_jobs() {
    local url="$1" n="$BENCH_FINISHED_JOBS"
    say "adding $n finished jobs"
    local insert="INSERT INTO jobs (kind, repository, pr_number, head_sha, payload, status, \
        attempts, run_after, created_at, updated_at) SELECT 'score_pull_request', \
        'owner' || (g % 50) || '/repo', g % 10000"
    if [[ "$url" == sqlite://* ]]; then
        sqlite3 "${url#sqlite://}" "PRAGMA busy_timeout = 60000; WITH RECURSIVE n(g) AS \
            (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < $n) $insert, \
            printf('%040x', g), '{}', 'done', 1, 0, 0, 0 FROM n;" >/dev/null
    else
        psql "$url" -q -c "$insert, md5(g::text) || 'abcdefgh', '{}', 'done', 1, 0, 0, 0 \
            FROM generate_series(1, $n) AS g" -c "ANALYZE jobs"
    fi
}

# riskgate serve on `$1` (a database URL), named `$2`.
riskgate_run() {
    local url="$1" name="$2"
    say "riskgate serve, $name, on port $RISKGATE_PORT"
    mkdir -p "$WORK/data-$name"
    RISKGATE_LOG="${RISKGATE_LOG:-info}" "$RISKGATE_BIN" serve \
        --app-id=1 --private-key-path="$KEY" --webhook-secret="$SECRET" \
        --database-url="$url" --github-api-url=http://127.0.0.1:9 \
        --data-dir="$WORK/data-$name" --workers=2 --listen="127.0.0.1:$RISKGATE_PORT" \
        >"$WORK/riskgate-$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_port "$RISKGATE_PORT"
    if [ -n "${BENCH_FINISHED_JOBS:-}" ]; then
        add_finished_jobs "$url"
    fi
    read -r rate p99 errors < <(load "$RISKGATE_PORT" "$name")
    RESULTS+=("riskgate serve, $name, 2 workers|$rate|$p99|$errors")
    stop "$pid"
}

if [[ "$SKIP" != *" sqlite "* ]]; then
    riskgate_run "sqlite://$WORK/riskgate.db" SQLite
fi

if [[ "$SKIP" != *" postgres "* ]]; then
    PG_URL="${RISKGATE_BENCH_DATABASE_URL:-}"
    if [ -z "$PG_URL" ] && [ -x scripts/test-db.sh ] && command -v pg_ctlcluster >/dev/null; then
        if eval "$(scripts/test-db.sh 2>/dev/null)" && [ -n "${RISKGATE_TEST_DATABASE_URL:-}" ]; then
            PG_NAME="riskgate_bench_$$"
            PG_DROP="$RISKGATE_TEST_DATABASE_URL"
            psql "$PG_DROP" -q -c "CREATE DATABASE ${PG_NAME}" >/dev/null
            PG_URL="${RISKGATE_TEST_DATABASE_URL%/*}/${PG_NAME}"
        fi
    fi
    if [ -n "$PG_URL" ]; then
        riskgate_run "$PG_URL" PostgreSQL
    else
        say "no PostgreSQL (set RISKGATE_BENCH_DATABASE_URL): skipped"
    fi
fi

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, signed pull_request.opened ($(wc -c <"$BODY") bytes), fresh delivery id per request, $PULL_REQUESTS pull request(s)"
if [ -n "${BENCH_FINISHED_JOBS:-}" ]; then
    echo "beside ${BENCH_FINISHED_JOBS} finished jobs (analysed on PostgreSQL)"
fi
if [ -n "${BENCH_POLL:-}" ]; then
    echo "while /${BENCH_POLL} is polled on ${BENCH_POLL_CONNECTIONS:-40} connections"
fi

echo
echo "| server | deliveries/s | p99 | failed or non-2xx |"
echo "|---|---:|---:|---:|"
for r in "${RESULTS[@]}"; do
    IFS='|' read -r name rate p99 errors <<<"$r"
    printf '| %s | %s | %s ms | %s |\n' "$name" "$(printf "%'.0f" "$rate")" "$p99" "$errors"
done
