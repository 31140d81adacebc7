#!/usr/bin/env bash
# What a dashboard view and the incidents API cost on a large history, and whether the server
# keeps answering meanwhile:
#
#   bash scripts/bench-dashboard.sh [RISKGATE_BINARY]     (default: target/release/riskgate)
#
# Builds a history with scripts/gen-large-history.py (300,000 scores of big/repo, 100,000 pull
# requests, 30,000 deployments, and 200,000 incidents of another repository), starts `serve`
# on it and prints: three views of big/repo one after the other (time each, peak memory), one
# of small/repo, three views asked at once with the slowest of 20 /healthz taken meanwhile,
# and five incidents posted for big/repo, twice. Needs curl and python3; about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/riskgate}
[ -x "$BIN" ] || cargo build --release --quiet
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PID=
PORT=$((20000 + RANDOM % 20000))
DTOK=bench-dashboard-token-0123456789
ATOK=bench-incidents-token-0123456789
RISKGATE_DATA_DIR="$WORK" "$BIN" jobs > /dev/null
python3 scripts/gen-large-history.py "$WORK/riskgate.db"
openssl genrsa -out "$WORK/key.pem" 2048 2> /dev/null

serve() {
  RISKGATE_APP_ID=1 RISKGATE_PRIVATE_KEY_PATH="$WORK/key.pem" \
  RISKGATE_WEBHOOK_SECRET=bench-webhook-secret-0123456789 \
  RISKGATE_GITHUB_API_URL=http://127.0.0.1:9 RISKGATE_LISTEN=127.0.0.1:$PORT \
  RISKGATE_DATA_DIR="$WORK" RISKGATE_LOG=error RISKGATE_WORKERS=1 \
  RISKGATE_DASHBOARD_TOKEN=$DTOK RISKGATE_API_TOKEN=$ATOK "$BIN" serve > "$WORK/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$PORT/healthz" && return; sleep 0.1; done
  echo "serve did not start:"; cat "$WORK/serve.log"; exit 1
}
view() {
  curl -s -o /dev/null -w "%{http_code} %{time_total}s" -H "Authorization: Bearer $DTOK" \
    "127.0.0.1:$PORT/dashboard/$1/data.json"
}
peak_mb() { echo $(( $(awk '/VmHWM/ {print $2}' "/proc/$PID/status") / 1024 )); }

serve
echo "big/repo, one after the other: $(view big/repo); $(view big/repo); $(view big/repo)"
echo "peak memory: $(peak_mb) MB"
echo "small/repo: $(view small/repo)"
kill "$PID"; wait "$PID" 2> /dev/null || true

serve
for _ in 1 2 3; do (echo "at once: $(view big/repo)") & done
sleep 0.5
worst=0
for _ in $(seq 20); do
  t=$(curl -s -m 30 -o /dev/null -w "%{time_total}" "127.0.0.1:$PORT/healthz")
  worst=$(python3 -c "print(max($worst, $t))")
  sleep 0.25
done
wait $(jobs -p | grep -v "^$PID\$") 2> /dev/null || true
echo "slowest /healthz of 20 meanwhile: ${worst}s; peak memory: $(peak_mb) MB"

# The first post links the whole history for the first time (what each release shipped is
# not yet stored); the second is what every later one costs.
for batch in first second; do
  BODY=$(python3 -c 'import json, sys; print(json.dumps({"incidents": [{"id": f"bench-{sys.argv[1]}-{i}", "title": "t", "repository": "big/repo", "opened_at": "2026-11-20T00:00:00Z"} for i in range(5)]}))' "$batch")
  echo "five incidents for big/repo, $batch post: $(curl -s -o /dev/null -w "%{http_code} %{time_total}s" \
    -X POST -H "Authorization: Bearer $ATOK" -H 'content-type: application/json' -d "$BODY" \
    "127.0.0.1:$PORT/api/incidents")"
done
