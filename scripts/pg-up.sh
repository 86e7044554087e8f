#!/usr/bin/env bash
# Start Debian's PostgreSQL on loopback and create the test role and databases.
# Idempotent: safe to run again when the server is already up.
set -euo pipefail

PG_PORT="${PG_PORT:-5432}"

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql postgresql-contrib >/dev/null
  else
    echo "pg-up: PostgreSQL server is not installed and we are not root" >&2
    exit 1
  fi
fi

ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$ver main$"; then
  pg_createcluster "$ver" main >/dev/null
fi
conf="/etc/postgresql/$ver/main/postgresql.conf"
# Hatchet's engine wants many connections; fsync off is fine for a throwaway test server.
if ! grep -q '^# owlmigrate test settings' "$conf"; then
  cat >>"$conf" <<CONF
# owlmigrate test settings
max_connections = 250
listen_addresses = '127.0.0.1'
port = $PG_PORT
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi
pg_ctlcluster "$ver" main start 2>/dev/null || pg_ctlcluster "$ver" main status >/dev/null

for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p "$PG_PORT" -q && break
  sleep 1
done

psql_su() { su postgres -c "psql -p $PG_PORT -qtAX $*"; }
psql_su "-c \"SELECT 1 FROM pg_roles WHERE rolname='owlmigrate'\"" | grep -q 1 ||
  psql_su "-c \"CREATE ROLE owlmigrate LOGIN SUPERUSER PASSWORD 'owlmigrate'\""
# CI starts from an empty test database: a schema left by an earlier run on the same machine (a
# newer ledger version from another branch, say) must not decide the outcome.
if [ "${PG_FRESH_TEST_DB:-0}" = 1 ]; then
  psql_su "-c \"DROP DATABASE IF EXISTS owlmigrate_test WITH (FORCE)\""
fi
for db in owlmigrate_test; do
  psql_su "-c \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1 ||
    psql_su "-c \"CREATE DATABASE $db OWNER owlmigrate\""
done
echo "postgresql+psycopg://owlmigrate:owlmigrate@127.0.0.1:$PG_PORT/owlmigrate_test"
