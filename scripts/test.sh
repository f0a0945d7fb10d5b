#!/usr/bin/env bash
# Runs the whole test suite: domain unit tests, repository tests on PostgreSQL and end-to-end
# gRPC tests. Each database test gets a fresh database of its own; when DATABASE_URL is not set a
# throwaway PostgreSQL cluster is started for the run and removed afterwards.
# Extra arguments go to `cargo nextest run` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_URL:-}" ]; then
  # shellcheck source=scripts/lib/throwaway-postgres.sh
  . scripts/lib/throwaway-postgres.sh
  STOCKD_PG_FAST=1 stockd_pg_start stockd_test
  echo "test database cluster: $DATABASE_URL" >&2
fi

cargo nextest run --all-targets --no-fail-fast "$@"
