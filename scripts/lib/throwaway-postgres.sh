# shellcheck shell=bash
# Sourced by scripts/run.sh, scripts/test.sh and the benchmark: starts a private PostgreSQL
# cluster in a temporary directory, exports DATABASE_URL for it, and removes it on exit.
# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
#
#   PGBIN           PostgreSQL binaries (default: pg_config --bindir, then /usr/lib/postgresql/15/bin)
#   STOCKD_PG_PORT  first port to try (default 55433; the next free one is used)
#   STOCKD_PG_FAST  1 = fsync off, for test clusters whose durability does not matter
#   STOCKD_PG_SHARED_BUFFERS  PostgreSQL's buffer cache (default 256MB; a 1M-SKU catalogue
#                   needs about 1GB to stay in it)

stockd_pg_bin() {
  if [ -n "${PGBIN:-}" ]; then echo "$PGBIN"; return; fi
  local dir
  dir=$(pg_config --bindir 2>/dev/null || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  done
  echo "no PostgreSQL binaries found: install postgresql-15 or set PGBIN" >&2
  return 1
}

stockd_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stockd_pg_free_port() {
  local port=${STOCKD_PG_PORT:-55433}
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

stockd_pg_stop() {
  if [ -n "${STOCKD_PG_DIR:-}" ] && [ -d "$STOCKD_PG_DIR" ]; then
    if [ -f "$STOCKD_PG_DIR/data/postmaster.pid" ]; then
      stockd_pg_as_owner "$STOCKD_PG_BIN/pg_ctl" -D "$STOCKD_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$STOCKD_PG_DIR"
  fi
}

# Starts the cluster, creates database $1 (default "stockd") and exports DATABASE_URL.
stockd_pg_start() {
  local db=${1:-stockd}
  STOCKD_PG_BIN=$(stockd_pg_bin)
  STOCKD_PG_DIR=$(mktemp -d -t stockd-pg.XXXXXX)
  chmod 755 "$STOCKD_PG_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$STOCKD_PG_DIR"; fi
  trap stockd_pg_stop EXIT
  local port
  port=$(stockd_pg_free_port)
  stockd_pg_as_owner "$STOCKD_PG_BIN/initdb" -D "$STOCKD_PG_DIR/data" -U postgres \
    --auth=trust -E UTF8 --locale=C.UTF-8 >"$STOCKD_PG_DIR/initdb.log" 2>&1 \
    || { cat "$STOCKD_PG_DIR/initdb.log" >&2; return 1; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$STOCKD_PG_DIR'"
    echo "max_connections = 300"
    echo "shared_buffers = ${STOCKD_PG_SHARED_BUFFERS:-256MB}"
    if [ "${STOCKD_PG_FAST:-0}" = 1 ]; then
      echo "fsync = off"
      echo "full_page_writes = off"
    fi
  } | stockd_pg_as_owner tee -a "$STOCKD_PG_DIR/data/postgresql.conf" >/dev/null
  stockd_pg_as_owner "$STOCKD_PG_BIN/pg_ctl" -D "$STOCKD_PG_DIR/data" \
    -l "$STOCKD_PG_DIR/server.log" -w start >/dev/null \
    || { cat "$STOCKD_PG_DIR/server.log" >&2; return 1; }
  "$STOCKD_PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "CREATE DATABASE \"$db\"" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/$db"
  export STOCKD_PG_DIR STOCKD_PG_BIN
}
