#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the store tests and print its URL on stdout.
#
#   export ASSAY_TEST_POSTGRES_URL="$(tests/store/start_postgres.sh)"
#   .venv/bin/python -m pytest tests/store
#   tests/store/start_postgres.sh stop
#
# Needs the server binaries (Debian: apt-get install -y postgresql) and, for the tests, the driver
# (pip install 'psycopg[binary]', the "postgres" extra). The cluster lives in $ASSAY_PG_DIR (default
# ${TMPDIR:-/tmp}/assay-pg), listens on 127.0.0.1 only, trusts local connections, and runs without
# fsync (test data only). Run as root, it initialises and runs the cluster as the "postgres" user.
# Starting twice reuses the running server. Everything but the URL goes to stderr.
set -euo pipefail

DIR="${ASSAY_PG_DIR:-${TMPDIR:-/tmp}/assay-pg}"
DB="assay_test"

log() { echo "start_postgres: $*" >&2; }

find_bin() {
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$found" ]]; then
    log "PostgreSQL server binaries not found (Debian: apt-get install -y postgresql)"
    exit 1
  fi
  echo "$found"
}

BIN="$(find_bin)"

# Run a command as the cluster owner: "postgres" when we are root (initdb refuses root), else ourselves.
as_owner() {
  if [[ "$(id -u)" == "0" ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [[ "${1:-}" == "stop" ]]; then
  if [[ -f "$DIR/data/postmaster.pid" ]]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$DIR"
  log "stopped and removed $DIR"
  exit 0
fi

if [[ -f "$DIR/port" ]] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  PORT="$(cat "$DIR/port")"
  log "reusing the server in $DIR"
else
  rm -rf "$DIR"
  mkdir -p "$DIR"
  PORT="${ASSAY_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
  echo "$PORT" >"$DIR/port"
  if [[ "$(id -u)" == "0" ]]; then
    chown -R postgres:postgres "$DIR"
  fi
  as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
    cat "$DIR/initdb.log" >&2
    exit 1
  }
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >&2 || {
    cat "$DIR/server.log" >&2
    exit 1
  }
  as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
  log "started PostgreSQL in $DIR on 127.0.0.1:$PORT (stop: $0 stop)"
fi

echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
