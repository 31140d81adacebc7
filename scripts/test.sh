#!/usr/bin/env bash
# The test command: PostgreSQL up (scripts/test-db.sh), then every test on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${RISKGATE_TEST_DATABASE_URL:-}" ]; then
    eval "$(bash scripts/test-db.sh)"
fi
cargo test --locked
