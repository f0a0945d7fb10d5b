#!/usr/bin/env bash
# Writes docs/schema.sql: today's tables, functions and triggers, as PostgreSQL itself prints them
# after every migration has run. `--check` compares instead of writing (CI), so the file cannot
# drift from the migrations. Starts a throwaway PostgreSQL of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-write}
out=docs/schema.sql

# shellcheck source=scripts/lib/throwaway-postgres.sh
. scripts/lib/throwaway-postgres.sh
STOCKD_PG_FAST=1 stockd_pg_start stockd_schema >/dev/null

# Each migration in one transaction, as the service applies them.
for file in migrations/*.sql; do
  "$STOCKD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -1 -d "$DATABASE_URL" -f "$file" >/dev/null
done

dump() {
  {
    echo "-- The schema after every migration in migrations/, as pg_dump prints it."
    echo "-- Written by scripts/schema.sh; CI fails when it differs from the migrations."
    "$STOCKD_PG_BIN/pg_dump" --schema-only --no-owner --no-privileges --no-comments \
      -d "$DATABASE_URL" \
      | grep -vE '^(--|SET |SELECT pg_catalog\.set_config|\\(un)?restrict )' \
      | cat -s
  }
}

case "$mode" in
  write) dump >"$out"; echo "wrote $out" ;;
  --check)
    if ! diff -u "$out" <(dump); then
      echo "docs/schema.sql differs from the migrations: run scripts/schema.sh" >&2
      exit 1
    fi
    echo "docs/schema.sql matches the migrations"
    ;;
  *) echo "usage: scripts/schema.sh [--check]" >&2; exit 64 ;;
esac
