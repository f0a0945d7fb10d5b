#!/usr/bin/env bash
# Benchmarks stockd against the raw-PostgreSQL baseline on the same server, in one invocation.
#
# Starts a durable throwaway PostgreSQL (fsync and synchronous_commit on), a release build of
# stockd on it, loads SKUS source items through the API, runs the availability scenario, then runs
# the pgbench baseline script read_batch50 (../shared/bench) against a copy of its schema on the
# same server, and prints both with their ratio.
#
# With LEDGER_ROWS=N (e.g. 1000000) it then appends N ledger rows of closed orders straight into
# the database and runs the availability scenario again, to show its cost does not grow with
# history (the sweeper is kept idle so the rows stay).
#
# With CONSISTENCY_ORDERS=N it adds N open orders (one line each, with their ledger rows and one
# deliberate inconsistency) and times the streaming consistency check over them, printing the
# service's peak memory before and after.
#
#   SKUS=100000 BATCH=50 CLIENTS=16 DURATION=20 LEDGER_ROWS=0 CONSISTENCY_ORDERS=0 scripts/bench.sh
#   BENCH_DIR=path/to/pgbench/scripts (default ../shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."

SKUS=${SKUS:-100000}
BATCH=${BATCH:-50}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20}
BENCH_DIR=${BENCH_DIR:-../shared/bench}
LEDGER_ROWS=${LEDGER_ROWS:-0}
CONSISTENCY_ORDERS=${CONSISTENCY_ORDERS:-0}

cargo build --release --quiet --bin stockd --bin stockd-bench
# shellcheck source=scripts/lib/throwaway-postgres.sh
. scripts/lib/throwaway-postgres.sh
stockd_pg_start stockd
addr="127.0.0.1:$(STOCKD_PG_PORT=50151 stockd_pg_free_port)"

STOCKD_GRPC_ADDR=$addr STOCKD_DB_MAX_CONNECTIONS=${POOL:-16} STOCKD_SWEEP_INTERVAL=86400 RUST_LOG=warn \
  target/release/stockd serve &
stockd_pid=$!
trap 'kill "$stockd_pid" 2>/dev/null || true; wait "$stockd_pid" 2>/dev/null || true; stockd_pg_stop' EXIT
for _ in $(seq 1 100); do
  target/release/stockd health-check --addr "http://$addr" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "# $(date -u +%FT%TZ) nproc=$(nproc) skus=$SKUS batch=$BATCH clients=$CLIENTS duration=${DURATION}s"
target/release/stockd-bench --addr "http://$addr" load --skus "$SKUS"
stockd_line=$(target/release/stockd-bench --addr "http://$addr" availability \
  --skus "$SKUS" --batch "$BATCH" --clients "$CLIENTS" --duration "$DURATION")
echo "$stockd_line"

# Baseline: the same server, a database of the pgbench schema, the same clients and duration.
pg_url_base=${DATABASE_URL%/*}
"$STOCKD_PG_BIN/psql" -X -q "$pg_url_base/postgres" -c "CREATE DATABASE baseline" >/dev/null
"$STOCKD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$pg_url_base/baseline" -f "$BENCH_DIR/setup.sql" >/dev/null
baseline=$("$STOCKD_PG_BIN/pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" \
  -f "$BENCH_DIR/read_batch50.sql" "$pg_url_base/baseline" 2>&1)
tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' <<<"$baseline")
lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$baseline")
echo "scenario=baseline_read_batch50 clients=$CLIENTS tps=$tps skus_per_s=$(awk -v t="$tps" 'BEGIN{printf "%.1f", t*50}') lat_avg_ms=$lat"
units=$(sed -n 's/.*units_per_s=\([0-9.]*\).*/\1/p' <<<"$stockd_line")
awk -v a="$units" -v b="$tps" 'BEGIN{printf "ratio skus_per_s stockd/raw = %.2f\n", a/(b*50)}'

if [ "$LEDGER_ROWS" -gt 0 ]; then
  half=$((LEDGER_ROWS / 2))
  "$STOCKD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
INSERT INTO stock_sku_reservation (stock_id, sku)
  SELECT 1, 'SKU' || g FROM generate_series(1, $SKUS) g ON CONFLICT DO NOTHING;
INSERT INTO sales_order (order_id, stock_id, channel_type, channel_code, fingerprint, status,
                         created_at, closed_at)
  SELECT 'history-' || g, 1, 'website', 'base', '', 'CLOSED', now(), now()
  FROM generate_series(1, $half) g;
INSERT INTO reservation (stock_id, sku, quantity, event, order_id, object_id, created_at)
  SELECT 1, 'SKU' || (1 + g % $SKUS), q, e, 'history-' || g, 'history-' || g, now()
  FROM generate_series(1, $half) g,
       (VALUES (-1, 'ORDER_PLACED'), (1, 'ORDER_CANCELED')) AS v(q, e);
ANALYZE;
SQL
  rows=$("$STOCKD_PG_BIN/psql" -X -qtA "$DATABASE_URL" -c "SELECT count(*) FROM reservation")
  grown=$(target/release/stockd-bench --addr "http://$addr" availability \
    --skus "$SKUS" --batch "$BATCH" --clients "$CLIENTS" --duration "$DURATION")
  echo "$grown ledger_rows=$rows"
  units_grown=$(sed -n 's/.*units_per_s=\([0-9.]*\).*/\1/p' <<<"$grown")
  awk -v a="$units_grown" -v b="$units" -v r="$rows" \
    'BEGIN{printf "ratio skus_per_s with %d ledger rows / empty ledger = %.2f\n", r, a/b}'
fi

if [ "$CONSISTENCY_ORDERS" -gt 0 ]; then
  "$STOCKD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
INSERT INTO sales_order (order_id, stock_id, channel_type, channel_code, fingerprint, created_at)
  SELECT 'open-' || g, 1, 'website', 'base', '', now() FROM generate_series(1, $CONSISTENCY_ORDERS) g;
INSERT INTO order_line (order_id, sku, position, ordered, reserved)
  SELECT 'open-' || g, 'SKU' || (1 + g % $SKUS), 0, 1, true
  FROM generate_series(1, $CONSISTENCY_ORDERS) g;
INSERT INTO reservation (stock_id, sku, quantity, event, order_id, object_id, created_at)
  SELECT 1, 'SKU' || (1 + g % $SKUS), -1, 'ORDER_PLACED', 'open-' || g, 'open-' || g, now()
  FROM generate_series(2, $CONSISTENCY_ORDERS) g;
INSERT INTO stock_sku_reservation (stock_id, sku, reserved)
  SELECT 1, sku, SUM(quantity) FROM reservation WHERE order_id LIKE 'open-%' GROUP BY sku
  ON CONFLICT (stock_id, sku) DO UPDATE SET reserved = stock_sku_reservation.reserved + EXCLUDED.reserved;
ANALYZE;
SQL
  echo "stockd peak RSS before: $(grep VmHWM /proc/$stockd_pid/status)"
  target/release/stockd-bench --addr "http://$addr" consistency
  echo "stockd peak RSS after:  $(grep VmHWM /proc/$stockd_pid/status)"
fi
