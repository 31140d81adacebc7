#!/usr/bin/env bash
# Make the local PostgreSQL 15 cluster ready for the store tests and print the
# URL they read. Idempotent: starts the cluster only if it is down, creates the
# role and database only if they are missing, installs nothing.
#
#   eval "$(scripts/test-db.sh)"
#   cargo test --test it store::
#
# Must run as root or as the postgres user (it uses `su postgres` when root).
set -euo pipefail

CLUSTER_VERSION="${PG_CLUSTER_VERSION:-15}"
CLUSTER_NAME="${PG_CLUSTER_NAME:-main}"
DB_USER="${RISKGATE_TEST_DB_USER:-riskgate}"
DB_PASSWORD="${RISKGATE_TEST_DB_PASSWORD:-riskgate}"
DB_NAME="${RISKGATE_TEST_DB_NAME:-riskgate_test}"
DB_HOST="${RISKGATE_TEST_DB_HOST:-127.0.0.1}"

as_postgres() {
    if [ "$(id -un)" = "postgres" ]; then
        "$@"
    else
        su postgres -c "$(printf '%q ' "$@")"
    fi
}

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "test-db: pg_ctlcluster not found; PostgreSQL ${CLUSTER_VERSION} is not installed" >&2
    exit 1
fi

status=0
pg_lsclusters --no-header "${CLUSTER_VERSION}" "${CLUSTER_NAME}" 2>/dev/null | grep -qw online || status=1
if [ "$status" -ne 0 ]; then
    pg_ctlcluster "${CLUSTER_VERSION}" "${CLUSTER_NAME}" start >&2
fi

port="$(pg_lsclusters --no-header "${CLUSTER_VERSION}" "${CLUSTER_NAME}" | awk '{print $3}')"
port="${port:-5432}"

# Wait until the server accepts connections (start returns early on some systems).
for _ in $(seq 1 30); do
    if as_postgres psql -p "$port" -Atqc 'SELECT 1' >/dev/null 2>&1; then
        break
    fi
    sleep 1
done

role_exists="$(as_postgres psql -p "$port" -Atqc "SELECT 1 FROM pg_roles WHERE rolname = '${DB_USER}'")"
if [ "$role_exists" != "1" ]; then
    as_postgres psql -p "$port" -q -c "CREATE ROLE ${DB_USER} LOGIN PASSWORD '${DB_PASSWORD}' CREATEDB" >&2
fi

db_exists="$(as_postgres psql -p "$port" -Atqc "SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'")"
if [ "$db_exists" != "1" ]; then
    as_postgres createdb -p "$port" -O "${DB_USER}" "${DB_NAME}" >&2
fi

echo "export RISKGATE_TEST_DATABASE_URL=postgres://${DB_USER}:${DB_PASSWORD}@${DB_HOST}:${port}/${DB_NAME}"
